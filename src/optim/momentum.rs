//! SGD with heavy-ball momentum, as a type of its own: `torch.optim.SGD(momentum=μ)`.

use crate::builder::config;
use crate::check;
use crate::driver::{Hyperparameters, momentum_is, lr_and_weight_decay, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use crate::lowbit::Quantization;
use crate::optim::SgdConfig;

config! {
    /// Hyperparameters of [`Momentum`]: PyTorch's `torch.optim.SGD` with momentum on and
    /// `nesterov` off.
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `lr` | `1e-3` | `≥ 0` |
    /// | `momentum` | `0.9` (PyTorch's SGD has `0`, i.e. no momentum; `0.9` is the usual choice) | `> 0` |
    /// | `dampening` | `0` | `[0, 1]` |
    /// | `weight_decay` | `0` (coupled L2) | `≥ 0` |
    /// | `maximize` | `false` | |
    /// | `quantized_state` | `None` (buffer in `A`) | [`Quantization::int8`] or [`Quantization::fp8`]: an 8-bit buffer (see [`Momentum`]) |
    ///
    /// `momentum > 0` holds on every path: building, [`set_momentum`](crate::Optimizer::set_momentum)
    /// (a momentum schedule must stay above 0; use [`Sgd`](crate::Sgd) for one that reaches it)
    /// and loading a saved state.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{MomentumConfig, Optimizer};
    ///
    /// let mut opt = MomentumConfig::default().lr(0.1).dampening(0.1).build::<f32>()?;
    /// assert_eq!(opt.momentum(), Some(0.9));
    /// assert!(opt.set_momentum(0.0).is_err()); // Momentum keeps its momentum
    /// assert!(MomentumConfig::default().momentum(0.0).build::<f32>().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub struct MomentumConfig {
        /// Learning rate `γ`.
        lr: f64 = 1e-3,
        /// Momentum factor `μ`.
        momentum: f64 = 0.9,
        /// Dampening `τ` of the momentum.
        dampening: f64 = 0.0,
        /// Coupled (L2) weight decay `λ`.
        weight_decay: f64 = 0.0,
        /// Maximise the objective instead of minimising it.
        maximize: bool = false,
        /// A block-wise quantised 8-bit momentum buffer (see [`Momentum`]).
        quantized_state: impl Into<Option<Quantization>> = None,
    }
}

impl Hyperparameters for MomentumConfig {
    type Kernel = SgdConfig;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::positive("momentum", self.momentum)?;
        check::unit("dampening", self.dampening)?;
        check::non_negative("weight_decay", self.weight_decay)?;
        if let Some(q) = self.quantized_state {
            q.check(&[8])?;
        }
        Ok(())
    }
    fn kernel(&self) -> SgdConfig {
        SgdConfig {
            lr: self.lr,
            momentum: self.momentum,
            dampening: self.dampening,
            weight_decay: self.weight_decay,
            nesterov: false,
            maximize: self.maximize,
            quantized_state: self.quantized_state,
        }
    }
    lr_and_weight_decay!();
    momentum_is!(momentum);
}

optimizer_type! {
    /// SGD with heavy-ball momentum: PyTorch's `torch.optim.SGD(momentum=μ)`.
    ///
    /// Averaging past gradients cancels the components that flip sign from step to step (the
    /// zig-zag across a ravine) and accumulates the ones that persist (the direction along it).
    /// Per element, with buffer `b`:
    ///
    /// ```text
    /// g ← −g                      if maximize
    /// g ← g + λ·p                 if λ ≠ 0
    /// b ← g                       on the first step
    /// b ← μ·b + (1 − τ)·g         afterwards
    /// p ← p − γ·b
    /// ```
    ///
    /// It runs [`Sgd`](crate::Sgd)'s kernel, so its numbers are PyTorch's `SGD(momentum=μ)`;
    /// `momentum` is always positive (see [`MomentumConfig`]). Its saved state is a `Momentum`
    /// state: it loads into a `Momentum`, not into an `Sgd`.
    ///
    /// With `quantized_state` ([`Quantization::int8`], or [`Quantization::fp8`] for float8
    /// codes) the buffer of a tensor of at least 4,096
    /// elements (a multiple of 256) is kept as bitsandbytes' and torchao's 8-bit state: one
    /// code of the signed dynamic map per element and one `f32` scale per block of 256, about
    /// 1.02 bytes per parameter. Each block is dequantised (`b = map[code]·scale`), updated
    /// with the arithmetic above (the first step's `b ← g` included), `p` updated from the new
    /// `b`, and `b` quantised again (scale = the block's largest `|b|`, at least 10⁻¹², the
    /// nearest code by torchao's search); see [`Adam`](crate::Adam), "8-bit and 4-bit state".
    /// Smaller tensors keep their buffer in full precision, with PyTorch's numbers.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Momentum, Optimizer};
    ///
    /// let mut w = array![0.0_f64];
    /// let mut opt = Momentum::new(0.1, 0.9)?;
    /// opt.step(&mut w, &array![1.0])?; // b = 1
    /// opt.step(&mut w, &array![1.0])?; // b = 0.9·1 + 1 = 1.9
    /// assert!((w[0] - (-0.1 - 0.19)).abs() < 1e-12);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Momentum, MomentumConfig, "Momentum::<f32>::new(0.1, 0.9)?"
}

impl<A: Float> Momentum<A> {
    /// SGD with learning rate `lr` and momentum factor `momentum` (PyTorch's usual choice is
    /// `0.9`), no dampening, no weight decay.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative, `momentum` is not positive, or either
    /// is not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Momentum, Optimizer};
    /// let opt = Momentum::<f32>::new(0.01, 0.9)?;
    /// assert_eq!(opt.momentum(), Some(0.9));
    /// assert!(Momentum::<f32>::new(0.01, 0.0).is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64, momentum: f64) -> Result<Self, Error> {
        MomentumConfig::default().lr(lr).momentum(momentum).build()
    }
}
