//! Schedule-Free AdamW: `schedulefree.AdamWScheduleFree`.

use ndarray::{ArrayViewD, IxDyn, ShapeBuilder, Zip};

use crate::builder::config;
use crate::check;
use crate::driver::buffers::state;
use crate::driver::{Hyperparameters, Kernel, lr_and_weight_decay, momentum_is, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use num_traits::Float as _;
use crate::ops::{addcmul, decayed};
use crate::optim::schedule_free::{
    ACCUMULATORS, Averaging, Interpolation, check_averaging, check_open_unit,
    schedule_free_methods,
};
use crate::pass::{Pass, unswitch};
use crate::tensor::{TensorList, TensorListMut};

config! {
    /// Hyperparameters of [`ScheduleFreeAdamW`]: those of `schedulefree.AdamWScheduleFree`
    /// (version 1.4), with its defaults.
    ///
    /// | field | default | valid | others |
    /// |---|---|---|---|
    /// | `lr` | `0.0025` | `≥ 0` | optax `schedule_free_adamw`: `0.0025` |
    /// | `betas` | `(0.9, 0.999)` | `β₁` in `(0, 1)`, `β₂` in `[0, 1)` | |
    /// | `eps` | `1e-8` | `> 0` | |
    /// | `weight_decay` | `0` (at `y`, into the normalised gradient) | `≥ 0` | |
    /// | `warmup_steps` | `0` | | the README advises a warmup |
    /// | `r` | `0` | `≥ 0` | the averaging weight's power of the step |
    /// | `weight_lr_power` | `2` | `≥ 0` | the averaging weight's power of the largest learning rate |
    ///
    /// No learning-rate schedule is needed (nor wanted): the averaging replaces it. The
    /// package's README advises a learning rate 1–10× AdamW's and a warmup.
    pub struct ScheduleFreeAdamWConfig {
        /// Learning rate `γ` (after warmup).
        lr: f64 = 0.0025,
        /// `β₁`, the interpolation between `z` and `x` where the gradient is taken, and `β₂`,
        /// the decay rate of the second moment.
        betas: (f64, f64) = (0.9, 0.999),
        /// Term `ε` added to the denominator, after bias-correcting `v`.
        eps: f64 = 1e-8,
        /// Weight decay `λ`, evaluated at `y` and added to the normalised gradient.
        weight_decay: f64 = 0.0,
        /// Steps of linear warmup of the learning rate, `γ·(k + 1)/warmup_steps`.
        warmup_steps: u64 = 0,
        /// The averaging weight's power of the step number, `(k + 1)^r`.
        r: f64 = 0.0,
        /// The averaging weight's power of the largest learning rate so far.
        weight_lr_power: f64 = 2.0,
    }
}

impl ScheduleFreeAdamWConfig {
    fn averaging(&self) -> Averaging {
        Averaging {
            lr: self.lr,
            warmup_steps: self.warmup_steps,
            r: self.r,
            weight_lr_power: self.weight_lr_power,
        }
    }
}

impl Hyperparameters for ScheduleFreeAdamWConfig {
    type Kernel = ScheduleFreeAdamWConfig;

    fn validate(&self) -> Result<(), Error> {
        check_averaging(&self.averaging())?;
        check_open_unit("betas[0]", self.betas.0)?;
        check::beta("betas[1]", self.betas.1)?;
        check::positive("eps", self.eps)?;
        check::non_negative("weight_decay", self.weight_decay)
    }
    fn kernel(&self) -> ScheduleFreeAdamWConfig {
        self.clone()
    }
    lr_and_weight_decay!();
    momentum_is!(betas.0);
}

#[derive(Clone, Copy)]
pub(crate) struct AdamWScalars<A> {
    step: Interpolation<A>,
    beta2: A,
    one_minus_beta2: A,
    bias_correction2: A,
    eps: A,
}

state! {
    /// Per-tensor state of Schedule-Free AdamW, under the package's names.
    pub(crate) struct ScheduleFreeAdamWState for ScheduleFreeAdamWConfig {
        /// The iterate `z`, made on the tensor's first step as a copy of the parameter.
        z: lazy(),
        /// The second moment `v`.
        exp_avg_sq: zeros(),
    }
}

impl<A: Float> Kernel<A> for ScheduleFreeAdamWConfig {
    type State = ScheduleFreeAdamWState<A>;
    type Scalars = AdamWScalars<A::Compute>;

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
        // Only through `scalars_with`: the step needs the group's running values.
        <Self as Kernel<A>>::scalars_with(self, 1, 0.0, &[1.0, 0.0, self.lr])
    }
    fn scalars_with(&self, _step: u64, _sum: f64, values: &[f64]) -> Self::Scalars {
        let (k, lr, c) = self.averaging().step(values);
        let (beta1, beta2) = self.betas;
        AdamWScalars {
            step: Interpolation::new(lr, beta1, c, self.weight_decay),
            beta2: A::Compute::from_f64(beta2),
            one_minus_beta2: A::Compute::from_f64(1.0 - beta2),
            bias_correction2: A::Compute::from_f64(1.0 - beta2.powf(k + 1.0)),
            eps: A::Compute::from_f64(self.eps),
        }
    }

    fn update(
        &self,
        sc: &Self::Scalars,
        pass: &mut Pass<'_, A>,
        state: &mut ScheduleFreeAdamWState<A>,
    ) {
        let sc = *sc;
        let ScheduleFreeAdamWState { z, exp_avg_sq } = state;
        let first = z.is_none();
        let z = z.get_or_insert_with(|| vec![A::zero(); pass.len()]);
        unswitch! {
            const FIRST: bool = first;
            const DECAYS: bool = sc.step.decays;
            pass.zip2(
                z,
                exp_avg_sq,
                #[inline(always)]
                move |y, g, z, v| {
                    if FIRST {
                        *z = *y; // torch.clone(p)
                    }
                    *v = addcmul(decayed(*v, sc.beta2), sc.one_minus_beta2, g, g);
                    let denom = (*v / sc.bias_correction2).sqrt() + sc.eps;
                    sc.step.apply(y, z, g / denom, DECAYS);
                },
            )
        }
    }
}

optimizer_type! {
    /// Schedule-Free AdamW (Defazio et al., 2024, "The Road Less Scheduled"), as
    /// `schedulefree.AdamWScheduleFree` computes it: AdamW without a learning-rate schedule.
    ///
    /// Instead of decaying the learning rate, the method averages its iterates, and takes the
    /// gradient at an interpolation between the average and the current iterate. Three points:
    /// `z` (the plain iterate, in the state), `x` (the weighted average of the `z`s, the point
    /// to evaluate), and `y = (1 − β₁)z + β₁x`, where gradients are taken. The parameters hold
    /// `y`. Per step of a group (`k` its steps so far, `γ₀` its learning rate):
    ///
    /// ```text
    /// γ = γ₀·min(1, (k + 1)/warmup_steps)                 (linear warmup)
    /// γ_max ← max(γ_max, γ)
    /// w = (k + 1)^r · γ_max^weight_lr_power,  W ← W + w,  c = w / W
    /// ```
    ///
    /// then per element:
    ///
    /// ```text
    /// v ← β₂·v + (1 − β₂)·g²
    /// u = g / (√(v / (1 − β₂^(k+1))) + ε)  + λ·y
    /// y ← y + c·(z − y)                        (PyTorch's lerp: x moves towards z by c)
    /// y ← y + γ·(β₁(1 − c) − 1)·u
    /// z ← z − γ·u
    /// ```
    ///
    /// The point to evaluate is `x = y + (1 − 1/β₁)(z − y)`:
    /// [`eval_params`](ScheduleFreeAdamW::eval_params) writes it into arrays of yours, or
    /// [`to_x`](ScheduleFreeAdamW::to_x) and [`to_y`](ScheduleFreeAdamW::to_y) swap the
    /// parameters in place (PyTorch's `optimizer.eval()` and `optimizer.train()`; there is no
    /// mode: stepping after `to_x` without `to_y` steps from `x`).
    ///
    /// `k`, `weight_sum` and `lr_max` are kept per group, as the package keeps them (a group
    /// added later starts at `k = 0`), and saved with the state. Every operation is the
    /// package's single-tensor (`foreach=False`) one, rounded as PyTorch rounds it.
    ///
    /// No schedule is needed: the averaging does what the decay of a schedule does.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Optimizer, ScheduleFreeAdamW};
    ///
    /// let mut y = array![1.0_f64, -1.0];
    /// let mut opt = ScheduleFreeAdamW::new(0.1)?;
    /// for _ in 0..20 {
    ///     let g = y.mapv(|w| 2.0 * w); // ∇ of ‖w‖²
    ///     opt.step(&mut y, &g)?;
    /// }
    /// let mut x = y.clone();
    /// opt.eval_params(&y, &mut x)?; // the average, to evaluate
    /// assert!(x[0].abs() < 1.0 && x[1].abs() < 1.0);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    ScheduleFreeAdamW, ScheduleFreeAdamWConfig, "ScheduleFreeAdamW::<f32>::new(0.1)?"
}

schedule_free_methods!(ScheduleFreeAdamW, |k: &ScheduleFreeAdamWConfig| k.betas.0);

impl<A: Float> ScheduleFreeAdamW<A> {
    /// Schedule-Free AdamW with learning rate `lr` and the package's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    pub fn new(lr: f64) -> Result<Self, Error> {
        ScheduleFreeAdamWConfig::default().lr(lr).build()
    }
}

