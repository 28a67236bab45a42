//! SGD with Nesterov momentum, as a type of its own: `torch.optim.SGD(momentum=μ, nesterov=True)`.

use crate::builder::config;
use crate::check;
use crate::driver::{Hyperparameters, momentum_is, lr_and_weight_decay, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use crate::optim::SgdConfig;

config! {
    /// Hyperparameters of [`Nesterov`]: PyTorch's `torch.optim.SGD` with `nesterov=True`, which
    /// requires momentum `> 0` and no dampening (so there is no `dampening` field).
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `lr` | `1e-3` | `≥ 0` |
    /// | `momentum` | `0.9` (PyTorch's SGD has `0`, which Nesterov momentum does not allow) | `> 0` |
    /// | `weight_decay` | `0` (coupled L2) | `≥ 0` |
    /// | `maximize` | `false` | |
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{NesterovConfig, Optimizer};
    ///
    /// let mut opt = NesterovConfig::default().lr(0.1).weight_decay(1e-4).build::<f64>()?;
    /// assert_eq!(opt.name(), "Nesterov");
    /// assert!(opt.set_momentum(0.0).is_err()); // momentum > 0 on every path
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub struct NesterovConfig {
        /// Learning rate `γ`.
        lr: f64 = 1e-3,
        /// Momentum factor `μ`.
        momentum: f64 = 0.9,
        /// Coupled (L2) weight decay `λ`.
        weight_decay: f64 = 0.0,
        /// Maximise the objective instead of minimising it.
        maximize: bool = false,
    }
}

impl Hyperparameters for NesterovConfig {
    type Kernel = SgdConfig;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::positive("momentum", self.momentum)?;
        check::non_negative("weight_decay", self.weight_decay)
    }
    fn kernel(&self) -> SgdConfig {
        SgdConfig {
            lr: self.lr,
            momentum: self.momentum,
            dampening: 0.0,
            weight_decay: self.weight_decay,
            nesterov: true,
            maximize: self.maximize,
            quantized_state: None,
        }
    }
    lr_and_weight_decay!();
    momentum_is!(momentum);
}

optimizer_type! {
    /// SGD with Nesterov momentum: PyTorch's `torch.optim.SGD(momentum=μ, nesterov=True)`.
    ///
    /// The step looks ahead along the momentum: per element, with buffer `b`,
    ///
    /// ```text
    /// g ← −g                      if maximize
    /// g ← g + λ·p                 if λ ≠ 0
    /// b ← g                       on the first step
    /// b ← μ·b + g                 afterwards
    /// p ← p − γ·(g + μ·b)
    /// ```
    ///
    /// It runs [`Sgd`](crate::Sgd)'s kernel, so its numbers are PyTorch's
    /// `SGD(momentum=μ, nesterov=True)`; `momentum` is always positive and there is no dampening,
    /// as PyTorch requires (see [`NesterovConfig`]).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Nesterov, Optimizer};
    ///
    /// let mut w = array![0.0_f64];
    /// let mut opt = Nesterov::new(0.1, 0.9)?;
    /// opt.step(&mut w, &array![1.0])?; // b = 1, step 0.1·(1 + 0.9)
    /// assert!((w[0] + 0.19).abs() < 1e-12);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Nesterov, NesterovConfig, "Nesterov::<f32>::new(0.1, 0.9)?"
}

impl<A: Float> Nesterov<A> {
    /// Nesterov SGD with learning rate `lr` and momentum factor `momentum`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative, `momentum` is not positive, or either
    /// is not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Nesterov, Optimizer};
    /// let opt = Nesterov::<f32>::new(0.01, 0.9)?;
    /// assert_eq!(opt.name(), "Nesterov");
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64, momentum: f64) -> Result<Self, Error> {
        NesterovConfig::default().lr(lr).momentum(momentum).build()
    }
}
