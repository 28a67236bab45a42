//! Rprop: per-element step sizes adapted from the signs of successive gradients,
//! `torch.optim.Rprop`.

use crate::builder::config;
use crate::check;
use crate::driver::buffers::state;
use crate::driver::{Hyperparameters, Kernel, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use num_traits::{One as _, Zero as _};
use crate::pass::{Pass, unswitch};

config! {
    /// Hyperparameters of [`Rprop`]: those of PyTorch's `torch.optim.Rprop`, with its defaults.
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `lr` | `1e-2` | `≥ 0`: every element's first step size |
    /// | `etas` | `(0.5, 1.2)` | `0 < etaminus < 1 < etaplus` |
    /// | `step_sizes` | `(1e-6, 50)` | `0 ≤ min ≤ max` |
    /// | `maximize` | `false` | |
    ///
    /// There is no weight decay, as in PyTorch. Rprop uses the learning rate only to start each
    /// element's step size, when a tensor's state is created on its first step: as in PyTorch,
    /// [`set_learning_rate`](crate::Optimizer::set_learning_rate) (and so any schedule) changes
    /// the reported rate but not the steps of tensors that already have state.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Optimizer, RpropConfig};
    ///
    /// let opt = RpropConfig::default().lr(0.1).etas((0.3, 1.5)).build::<f32>()?;
    /// assert_eq!(opt.name(), "Rprop");
    /// assert!(RpropConfig::default().etas((0.5, 1.0)).build::<f32>().is_err()); // etaplus > 1
    /// assert!(RpropConfig::default().step_sizes((1.0, 0.1)).build::<f32>().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub struct RpropConfig {
        /// Learning rate `γ`: the initial step size of every element.
        lr: f64 = 1e-2,
        /// `(η₋, η₊)`: the step size is multiplied by `η₋` when the gradient's sign flips and by
        /// `η₊` when it stays.
        etas: (f64, f64) = (0.5, 1.2),
        /// `(Δmin, Δmax)`: the step sizes are kept within these bounds.
        step_sizes: (f64, f64) = (1e-6, 50.0),
        /// Maximise the objective instead of minimising it.
        maximize: bool = false,
    }
}

impl Hyperparameters for RpropConfig {
    type Kernel = RpropConfig;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        let (minus, plus) = self.etas;
        check::require(
            minus > 0.0 && minus < 1.0,
            "etas[0]",
            minus,
            "must be in (0, 1)",
        )?;
        check::require(
            plus > 1.0 && plus.is_finite(),
            "etas[1]",
            plus,
            "must be finite and > 1",
        )?;
        let (min, max) = self.step_sizes;
        check::non_negative("step_sizes[0]", min)?;
        check::non_negative("step_sizes[1]", max)?;
        check::require(min <= max, "step_sizes[1]", max, "must be >= step_sizes[0]")
    }
    fn kernel(&self) -> RpropConfig {
        self.clone()
    }
    fn learning_rate(&self) -> f64 {
        self.lr
    }
    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn weight_decay(&self) -> Option<f64> {
        None
    }
    fn set_weight_decay(&mut self, _weight_decay: f64) {}
}

#[derive(Clone, Copy)]
pub(crate) struct RpropScalars<A> {
    eta_minus: A,
    eta_plus: A,
    min_step: A,
    max_step: A,
    maximize: bool,
}

state! {
    /// Per-tensor state of Rprop.
    pub(crate) struct RpropState for RpropConfig {
        /// The previous step's gradient (0 where its sign flipped).
        prev: zeros(),
        /// Each element's step size, starting at the learning rate of the first step.
        step_size: fill(|k| k.lr),
    }
}

/// PyTorch's `sign`: `−1`, `0` or `1`, and `0` for NaN (Rust's `signum` gives NaN there, and
/// `±1` for `±0`).
#[inline(always)]
fn sign<A: Float>(x: A) -> A {
    if x > A::zero() {
        A::one()
    } else if x < A::zero() {
        -A::one()
    } else {
        A::zero()
    }
}

impl<A: Float> Kernel<A> for RpropConfig {
    type State = RpropState<A>;
    type Scalars = RpropScalars<A::Compute>;

    fn scalars(&self, _step: u64, _sum: f64) -> Self::Scalars {
        RpropScalars {
            eta_minus: A::Compute::from_f64(self.etas.0),
            eta_plus: A::Compute::from_f64(self.etas.1),
            min_step: A::Compute::from_f64(self.step_sizes.0),
            max_step: A::Compute::from_f64(self.step_sizes.1),
            maximize: self.maximize,
        }
    }

    fn update(&self, sc: &Self::Scalars, pass: &mut Pass<'_, A>, state: &mut RpropState<A>) {
        let sc = *sc;
        unswitch! {
            const MAXIMIZE: bool = sc.maximize;
            pass.zip2(
                &mut state.prev,
                &mut state.step_size,
                #[inline(always)]
                move |p, g, prev, step_size| {
                    let g = if MAXIMIZE { -g } else { g };
                    // The sign of the product, not of each factor: a product that underflows to 0
                    // (or is NaN) counts as no sign, as in PyTorch.
                    let s = sign(g * *prev);
                    let factor = if s > A::Compute::zero() {
                        sc.eta_plus
                    } else if s < A::Compute::zero() {
                        sc.eta_minus
                    } else {
                        A::Compute::one()
                    };
                    // `clamp(min, max)`: two selects, a NaN stays NaN.
                    let scaled = *step_size * factor;
                    let scaled = if scaled < sc.min_step {
                        sc.min_step
                    } else {
                        scaled
                    };
                    *step_size = if scaled > sc.max_step {
                        sc.max_step
                    } else {
                        scaled
                    };
                    // Where the sign flipped, the gradient is forgotten: no step, and no flip next time.
                    let g = if s < A::Compute::zero() { A::Compute::zero() } else { g };
                    // `addcmul_(sign(g), step_size, value=-1)`: the product is exact (±step or 0).
                    *p = (-sign(g) * *step_size) + *p;
                    *prev = g;
                },
            )
        }
    }
}

optimizer_type! {
    /// Rprop (Riedmiller & Braun, 1993): PyTorch's `torch.optim.Rprop`.
    ///
    /// Resilient backpropagation ignores the size of the gradient and keeps a step size per
    /// element, grown while the gradient keeps its sign and shrunk when it flips (the last step
    /// overshot a minimum). It suits full-batch problems, where gradient signs are reliable; with
    /// noisy mini-batch gradients the signs flip by chance. Per element, with `g₋` the previous
    /// gradient and `Δ` the step size (`Δ` starts at `γ`, `g₋` at 0):
    ///
    /// ```text
    /// g ← −g                                      if maximize
    /// s = sign(g·g₋)
    /// Δ ← clamp(Δ·η₊, Δmin, Δmax)                 if s > 0
    /// Δ ← clamp(Δ·η₋, Δmin, Δmax);  g ← 0         if s < 0
    /// p ← p − sign(g)·Δ
    /// g₋ ← g
    /// ```
    ///
    /// `sign(NaN) = 0`, as in PyTorch: a NaN gradient element (under
    /// [`NonFinitePolicy::Unchecked`](crate::NonFinitePolicy::Unchecked)) leaves its parameter
    /// and step size as they are. Defaults are PyTorch's: see [`RpropConfig`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Optimizer, Rprop};
    ///
    /// let mut w = array![1.0_f64, 1.0];
    /// let mut opt = Rprop::new(0.1)?;
    /// opt.step(&mut w, &array![3.0, -1e-6])?; // first step: ±γ whatever the gradient's size
    /// assert_eq!(w, array![0.9, 1.1]);
    /// opt.step(&mut w, &array![3.0, 1.0])?; // same sign: Δ·1.2; flipped: Δ·0.5 and no step
    /// assert!((w[0] - (0.9 - 0.12)).abs() < 1e-12 && w[1] == 1.1);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Rprop, RpropConfig, "Rprop::<f32>::new(0.1)?"
}

impl<A: Float> Rprop<A> {
    /// Rprop with learning rate (initial step size) `lr` and PyTorch's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Optimizer, Rprop};
    /// assert_eq!(Rprop::<f32>::new(0.01)?.config().etas, (0.5, 1.2));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        RpropConfig::default().lr(lr).build()
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // bit-exact on purpose
mod tests {
    use super::*;
    use crate::{NonFinitePolicy, Optimizer};
    use ndarray::array;

    #[test]
    fn sign_of_nan_is_zero_as_in_pytorch() {
        assert_eq!(sign(f32::NAN), 0.0);
        assert_eq!(sign(-0.0_f64), 0.0);
        assert_eq!(sign(-3.0_f32), -1.0);
    }

    #[test]
    fn the_learning_rate_only_starts_the_step_sizes() {
        let mut w = array![0.0_f64];
        let mut opt = Rprop::new(0.1).unwrap();
        opt.step(&mut w, &array![1.0]).unwrap();
        opt.set_learning_rate(100.0).unwrap(); // no effect on an existing state
        opt.step(&mut w, &array![1.0]).unwrap();
        assert!((w[0] + 0.1 + 0.12).abs() < 1e-12, "{}", w[0]);
    }

    #[test]
    fn a_nan_gradient_leaves_the_element_alone_when_unchecked() {
        let mut w = array![1.0_f32, 1.0];
        let mut opt = Rprop::new(0.1).unwrap();
        opt.set_non_finite_policy(NonFinitePolicy::Unchecked);
        opt.step(&mut w, &array![f32::NAN, 1.0]).unwrap();
        assert_eq!(w[0], 1.0);
        assert_eq!(w[1], 0.9);
    }

    #[test]
    fn step_sizes_stay_within_bounds() {
        let config = RpropConfig::default().lr(1.0).step_sizes((0.5, 1.5));
        let mut opt = config.build::<f64>().unwrap();
        let mut w = array![0.0_f64];
        for _ in 0..5 {
            opt.step(&mut w, &array![1.0]).unwrap();
        }
        let state = opt.save_state();
        assert_eq!(state.tensors[0].buffers["step_size"][[0]], 1.5);
        assert!(matches!(
            RpropConfig::default().etas((0.0, 1.2)).build::<f32>(),
            Err(Error::InvalidHyperparameter { name: "etas[0]", .. })
        ));
    }
}
