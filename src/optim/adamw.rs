//! AdamW: `torch.optim.AdamW`, Adam's kernel with decoupled weight decay.

use crate::builder::config;
use crate::driver::{Hyperparameters, momentum_is, lr_and_weight_decay, optimizer_type, largest_step_is_adams};
use crate::error::Error;
use crate::float::Float;
use crate::lowbit::Quantization;
use crate::optim::AdamConfig;

config! {
    /// Hyperparameters of [`AdamW`]: those of PyTorch's `torch.optim.AdamW`, with its defaults.
    /// The decay is always decoupled, so unlike [`AdamConfig`] there is no field to choose.
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `lr` | `1e-3` | `≥ 0` |
    /// | `betas` | `(0.9, 0.999)` | each in `[0, 1)` |
    /// | `eps` | `1e-8` | `> 0` |
    /// | `weight_decay` | `1e-2` (optax: `1e-4`) | `≥ 0` |
    /// | `amsgrad` | `false` | |
    /// | `maximize` | `false` | |
    /// | `caution` | `false` | `true`: timm's `cadamw` (see [`Adam`](crate::Adam)) |
    /// | `quantized_state` | `None` | [`Quantization::int8`], [`Quantization::fp8`] or [`Quantization::int4`]: torchao's `AdamW8bit`/`AdamWFp8`/`AdamW4bit` (see [`Adam`](crate::Adam)); not with `amsgrad` or `caution` |
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{AdamW, AdamWConfig, Optimizer};
    ///
    /// let opt: AdamW<f32> = AdamWConfig::default().lr(3e-4).weight_decay(0.05).build()?;
    /// assert_eq!((opt.name(), opt.config().weight_decay), ("AdamW", 0.05));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub struct AdamWConfig {
        /// Learning rate `γ`.
        lr: f64 = 1e-3,
        /// Decay rates `(β₁, β₂)` of the first and second moment estimates.
        betas: (f64, f64) = (0.9, 0.999),
        /// Term `ε` added to the denominator, after bias-correcting `√v`.
        eps: f64 = 1e-8,
        /// Decoupled weight decay `λ`: `p ← p·(1 − γλ)` before the moments.
        weight_decay: f64 = 1e-2,
        /// AMSGrad: divide by the running maximum of `v`.
        amsgrad: bool = false,
        /// Maximise the objective instead of minimising it.
        maximize: bool = false,
        /// Cautious masking of the first moment in the step (see [`Adam`](crate::Adam)).
        caution: bool = false,
        /// Block-wise quantised moments, torchao's 8-bit or 4-bit state (see
        /// [`Adam`](crate::Adam)).
        quantized_state: impl Into<Option<Quantization>> = None,
    }
}

impl Hyperparameters for AdamWConfig {
    largest_step_is_adams!();
    type Kernel = AdamConfig;

    fn validate(&self) -> Result<(), Error> {
        self.kernel().check_ranges()
    }
    fn kernel(&self) -> AdamConfig {
        AdamConfig {
            lr: self.lr,
            betas: self.betas,
            eps: self.eps,
            weight_decay: self.weight_decay,
            decoupled_weight_decay: true,
            amsgrad: self.amsgrad,
            maximize: self.maximize,
            caution: self.caution,
            quantized_state: self.quantized_state,
        }
    }
    lr_and_weight_decay!();
    momentum_is!(betas.0);
}

optimizer_type! {
    /// AdamW (Loshchilov & Hutter, 2019): PyTorch's `torch.optim.AdamW`, which is
    /// [`Adam`](crate::Adam) with decoupled weight decay and `weight_decay = 1e-2` by default.
    ///
    /// The decay shrinks the parameter directly, `p ← p·(1 − γλ)` before the moment updates,
    /// instead of entering the gradient (where Adam's scaling would weaken it for parameters with
    /// large gradients). Note that `λ` is multiplied by the *current* learning rate, as in
    /// PyTorch. Otherwise the update is Adam's, AMSGrad included:
    ///
    /// ```text
    /// p ← p·(1 − γλ)
    /// m ← β₁·m + (1 − β₁)·g ;  v ← β₂·v + (1 − β₂)·g²
    /// p ← p − γ/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
    /// ```
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{AdamW, Optimizer};
    ///
    /// let mut w = array![1.0_f64];
    /// let mut opt = AdamW::new(0.1)?; // weight_decay 0.01
    /// opt.step(&mut w, &array![0.0])?; // no gradient: only the decay acts
    /// assert!((w[0] - 0.999).abs() < 1e-12);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    AdamW, AdamWConfig, "AdamW::<f32>::new(0.1)?"
}

impl<A: Float> AdamW<A> {
    /// AdamW with learning rate `lr` and PyTorch's other AdamW defaults (`weight_decay = 1e-2`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{AdamW, Optimizer};
    /// let opt = AdamW::<f32>::new(1e-3)?;
    /// assert_eq!(opt.config().weight_decay, 1e-2);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        AdamWConfig::default().lr(lr).build()
    }
}
