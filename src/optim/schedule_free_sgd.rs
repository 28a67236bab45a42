//! Schedule-Free SGD: `schedulefree.SGDScheduleFree`.

use ndarray::{ArrayViewD, IxDyn, ShapeBuilder, Zip};

use crate::builder::config;
use crate::check;
use crate::driver::buffers::state;
use crate::driver::{Hyperparameters, Kernel, lr_and_weight_decay, momentum_is, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use crate::optim::schedule_free::{
    ACCUMULATORS, Averaging, Interpolation, check_averaging, check_open_unit,
    schedule_free_methods,
};
use crate::pass::{Pass, unswitch};
use crate::tensor::{TensorList, TensorListMut};

config! {
    /// Hyperparameters of [`ScheduleFreeSgd`]: those of `schedulefree.SGDScheduleFree`
    /// (version 1.4), with its defaults.
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `lr` | `1.0` | `≥ 0` |
    /// | `momentum` | `0.9` (`β`) | `(0, 1)` |
    /// | `weight_decay` | `0` (at `y`, into the gradient) | `≥ 0` |
    /// | `warmup_steps` | `0` | |
    /// | `r` | `0` | `≥ 0` |
    /// | `weight_lr_power` | `2` | `≥ 0` |
    ///
    /// The package's README advises a learning rate 10–50× SGD's.
    pub struct ScheduleFreeSgdConfig {
        /// Learning rate `γ` (after warmup).
        lr: f64 = 1.0,
        /// `β`, the interpolation between `z` and `x` where the gradient is taken.
        momentum: f64 = 0.9,
        /// Weight decay `λ`, evaluated at `y` and added to the gradient.
        weight_decay: f64 = 0.0,
        /// Steps of linear warmup of the learning rate.
        warmup_steps: u64 = 0,
        /// The averaging weight's power of the step number, `(k + 1)^r`.
        r: f64 = 0.0,
        /// The averaging weight's power of the largest learning rate so far.
        weight_lr_power: f64 = 2.0,
    }
}

impl ScheduleFreeSgdConfig {
    fn averaging(&self) -> Averaging {
        Averaging {
            lr: self.lr,
            warmup_steps: self.warmup_steps,
            r: self.r,
            weight_lr_power: self.weight_lr_power,
        }
    }
}

impl Hyperparameters for ScheduleFreeSgdConfig {
    type Kernel = ScheduleFreeSgdConfig;

    fn validate(&self) -> Result<(), Error> {
        check_averaging(&self.averaging())?;
        check_open_unit("momentum", self.momentum)?;
        check::non_negative("weight_decay", self.weight_decay)
    }
    fn kernel(&self) -> ScheduleFreeSgdConfig {
        self.clone()
    }
    lr_and_weight_decay!();
    momentum_is!(momentum);
}

state! {
    /// Per-tensor state of Schedule-Free SGD.
    pub(crate) struct ScheduleFreeSgdState for ScheduleFreeSgdConfig {
        /// The iterate `z`, made on the tensor's first step as a copy of the parameter.
        z: lazy(),
    }
}

impl<A: Float> Kernel<A> for ScheduleFreeSgdConfig {
    type State = ScheduleFreeSgdState<A>;
    type Scalars = Interpolation<A::Compute>;

    fn steps_per_tensor(&self) -> bool {
        false
    }
    fn accumulators(&self, each: &mut dyn FnMut(&'static str, f64)) {
        ACCUMULATORS.iter().for_each(|&(name, start)| each(name, start));
    }
    fn accumulate(&self, _step: u64, values: &mut [f64]) {
        self.averaging().accumulate(values);
    }
    fn scalars(&self, _step: u64, _sum: f64) -> Self::Scalars {
        <Self as Kernel<A>>::scalars_with(self, 1, 0.0, &[1.0, 0.0, self.lr])
    }
    fn scalars_with(&self, _step: u64, _sum: f64, values: &[f64]) -> Self::Scalars {
        let (_, lr, c) = self.averaging().step(values);
        Interpolation::new(lr, self.momentum, c, self.weight_decay)
    }

    fn update(
        &self,
        sc: &Self::Scalars,
        pass: &mut Pass<'_, A>,
        state: &mut ScheduleFreeSgdState<A>,
    ) {
        let sc = *sc;
        let first = state.z.is_none();
        let z = state.z.get_or_insert_with(|| vec![A::zero(); pass.len()]);
        unswitch! {
            const FIRST: bool = first;
            const DECAYS: bool = sc.decays;
            pass.zip1(
                z,
                #[inline(always)]
                move |y, g, z| {
                    if FIRST {
                        *z = *y;
                    }
                    sc.apply(y, z, g, DECAYS);
                },
            )
        }
    }
}

optimizer_type! {
    /// Schedule-Free SGD (Defazio et al., 2024), as `schedulefree.SGDScheduleFree` computes
    /// it: [`ScheduleFreeAdamW`](crate::ScheduleFreeAdamW)'s averaging with the plain gradient
    /// as the direction, `u = g + λ·y`, and `momentum` as its `β₁`. See
    /// [`ScheduleFreeAdamW`](crate::ScheduleFreeAdamW) for the equations and for
    /// [`eval_params`](ScheduleFreeSgd::eval_params), [`to_x`](ScheduleFreeSgd::to_x) and
    /// [`to_y`](ScheduleFreeSgd::to_y).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Optimizer, ScheduleFreeSgd};
    ///
    /// let mut y = array![1.0_f64];
    /// let mut opt = ScheduleFreeSgd::new(0.1)?;
    /// for _ in 0..50 {
    ///     let g = y.mapv(|w| 2.0 * w);
    ///     opt.step(&mut y, &g)?;
    /// }
    /// opt.to_x(&mut y)?; // evaluate at x
    /// assert!(y[0].abs() < 0.1);
    /// opt.to_y(&mut y)?; // back to y before the next step
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    ScheduleFreeSgd, ScheduleFreeSgdConfig, "ScheduleFreeSgd::<f32>::new(0.1)?"
}

schedule_free_methods!(ScheduleFreeSgd, |k: &ScheduleFreeSgdConfig| k.momentum);

impl<A: Float> ScheduleFreeSgd<A> {
    /// Schedule-Free SGD with learning rate `lr` and the package's other defaults
    /// (`momentum = 0.9`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    pub fn new(lr: f64) -> Result<Self, Error> {
        ScheduleFreeSgdConfig::default().lr(lr).build()
    }
}
