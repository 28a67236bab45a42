//! Adam, AMSGrad and AdamW: `torch.optim.Adam` and `torch.optim.AdamW`.

use super::ops::{LerpWeight, addcdiv, addcmul, decayed, maximum};
use super::pass::Pass;
use super::saved::StateBuffers;
use super::{Driver, GroupHyper, Kernel, check, config_accessors, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use crate::tensor::TensorList;

/// Hyperparameters of [`Adam`] and [`AdamW`]: those of PyTorch's `torch.optim.Adam`, with its
/// defaults.
///
/// | field | default ([`Adam`]) | default ([`AdamW`], [`AdamConfig::adamw`]) | valid |
/// |---|---|---|---|
/// | `lr` | `1e-3` | `1e-3` | `≥ 0` |
/// | `betas` | `(0.9, 0.999)` | `(0.9, 0.999)` | each in `[0, 1)` |
/// | `eps` | `1e-8` | `1e-8` | `> 0` (PyTorch: `≥ 0`; with 0 a zero gradient gives 0/0 = NaN) |
/// | `weight_decay` | `0` | `1e-2` | `≥ 0` |
/// | `decoupled_weight_decay` | `false` (L2 into the gradient) | `true` (`p ← p·(1 − γλ)`) | |
/// | `amsgrad` | `false` | `false` | |
/// | `maximize` | `false` | `false` | |
///
/// Note the divergent defaults of other libraries: Keras `eps = 1e-7`, burn `eps = 1e-5`, optax
/// AdamW `weight_decay = 1e-4`.
///
/// # Example
///
/// ```
/// use ndarray_optim::{Adam, AdamConfig, AdamW, Optimizer};
///
/// let adam: Adam<f32> = AdamConfig::default().lr(3e-4).betas(0.9, 0.98).amsgrad(true).build()?;
/// assert_eq!(adam.name(), "Adam");
/// let adamw = AdamW::<f32>::with_config(AdamConfig::adamw().lr(3e-4).weight_decay(0.05))?;
/// assert!(adamw.config().decoupled_weight_decay);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct AdamConfig {
    /// Learning rate `γ`.
    pub lr: f64,
    /// Decay rates `(β₁, β₂)` of the first and second moment estimates.
    pub betas: (f64, f64),
    /// Term `ε` added to the denominator, after bias-correcting `√v`.
    pub eps: f64,
    /// Weight decay `λ`: coupled (L2) or decoupled, see `decoupled_weight_decay`.
    pub weight_decay: f64,
    /// Decoupled weight decay (AdamW): `p ← p·(1 − γλ)` instead of `g ← g + λp`.
    pub decoupled_weight_decay: bool,
    /// AMSGrad: divide by the running maximum of `v`.
    pub amsgrad: bool,
    /// Maximise the objective instead of minimising it.
    pub maximize: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            amsgrad: false,
            maximize: false,
        }
    }
}

impl AdamConfig {
    /// PyTorch's `AdamW` defaults: decoupled weight decay `1e-2`, the rest as [`Adam`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::AdamConfig;
    ///
    /// let config = AdamConfig::adamw();
    /// assert_eq!((config.weight_decay, config.decoupled_weight_decay), (1e-2, true));
    /// assert_eq!(config, AdamConfig::default().weight_decay(1e-2).decoupled_weight_decay(true));
    /// ```
    pub fn adamw() -> Self {
        AdamConfig {
            weight_decay: 1e-2,
            decoupled_weight_decay: true,
            ..AdamConfig::default()
        }
    }
    /// Sets the learning rate `lr`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::AdamConfig;
    /// assert_eq!(AdamConfig::default().lr(3e-4).lr, 3e-4);
    /// assert!(AdamConfig::default().lr(-3e-4).build::<f32>().is_err()); // checked when building
    /// ```
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }
    /// Sets `betas = (beta1, beta2)`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::AdamConfig;
    /// assert_eq!(AdamConfig::default().betas(0.9, 0.98).betas, (0.9, 0.98));
    /// assert!(AdamConfig::default().betas(0.9, 1.0).build::<f32>().is_err()); // each in [0, 1)
    /// ```
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.betas = (beta1, beta2);
        self
    }
    /// Sets `eps`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::AdamConfig;
    /// assert_eq!(AdamConfig::default().eps(1e-6).eps, 1e-6);
    /// assert!(AdamConfig::default().eps(0.0).build::<f32>().is_err()); // must be > 0
    /// ```
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Sets `weight_decay`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::AdamConfig;
    /// let config = AdamConfig::default().weight_decay(1e-4);
    /// assert_eq!((config.weight_decay, config.decoupled_weight_decay), (1e-4, false)); // L2
    /// assert!(AdamConfig::default().weight_decay(-1e-4).build::<f32>().is_err());
    /// ```
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
    /// Chooses decoupled (AdamW) or coupled (L2) weight decay.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{AdamConfig, Optimizer};
    ///
    /// let config = AdamConfig::default().lr(0.1).weight_decay(0.01).decoupled_weight_decay(true);
    /// let mut opt = config.build()?;
    /// let mut w = array![1.0_f64];
    /// opt.step(&mut w, &array![0.0])?; // no gradient: only p ← p·(1 − γλ) acts
    /// assert!((w[0] - 0.999).abs() < 1e-12);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn decoupled_weight_decay(mut self, decoupled: bool) -> Self {
        self.decoupled_weight_decay = decoupled;
        self
    }
    /// Switches AMSGrad on or off.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{AdamConfig, Optimizer};
    ///
    /// let mut opt = AdamConfig::default().amsgrad(true).build::<f32>()?;
    /// let mut w = array![1.0_f32];
    /// opt.step(&mut w, &array![1.0])?;
    /// // The running maximum of v is one more state buffer.
    /// assert!(opt.save_state().tensors[0].buffers.contains_key("max_exp_avg_sq"));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn amsgrad(mut self, amsgrad: bool) -> Self {
        self.amsgrad = amsgrad;
        self
    }
    /// Maximises the objective instead of minimising it.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{AdamConfig, Optimizer};
    ///
    /// let mut opt = AdamConfig::default().lr(0.1).maximize(true).build()?;
    /// let mut w = array![0.0_f64];
    /// opt.step(&mut w, &array![1.0])?;
    /// assert!((w[0] - 0.1).abs() < 1e-6); // uphill
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn maximize(mut self, maximize: bool) -> Self {
        self.maximize = maximize;
        self
    }
    /// Builds an [`Adam`] optimizer (with decoupled weight decay if the configuration says so).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if a value is outside the range in the table above.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adam, AdamConfig, Optimizer};
    ///
    /// let opt: Adam<f32> = AdamConfig::adamw().lr(3e-4).build()?;
    /// // An `Adam` with AdamW's decay; `AdamW::with_config` gives the type and name "AdamW".
    /// assert_eq!(opt.name(), "Adam");
    /// assert!(opt.config().decoupled_weight_decay);
    /// assert!(AdamConfig::default().betas(-0.1, 0.999).build::<f32>().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn build<A: Float>(self) -> Result<Adam<A>, Error> {
        Adam::with_config(self)
    }
}

#[derive(Clone, Copy)]
pub(crate) struct AdamScalars<A> {
    exp_avg_weight: LerpWeight<A>,
    beta2: A,
    one_minus_beta2: A,
    neg_step_size: A,
    bias_correction2_sqrt: A,
    eps: A,
    coupled_decay: Option<A>,
    decoupled_factor: Option<A>,
    maximize: bool,
}

/// Per-tensor state: the moment estimates, and the running maximum of `v` under AMSGrad.
#[derive(Clone, Debug)]
pub(crate) struct AdamState<A> {
    exp_avg: Vec<A>,
    exp_avg_sq: Vec<A>,
    max_exp_avg_sq: Option<Vec<A>>,
}

impl<A: Float> StateBuffers<A> for AdamState<A> {
    fn buffers(&self) -> Vec<(&'static str, &Vec<A>)> {
        let mut out = vec![("exp_avg", &self.exp_avg), ("exp_avg_sq", &self.exp_avg_sq)];
        out.extend(self.max_exp_avg_sq.iter().map(|b| ("max_exp_avg_sq", b)));
        out
    }
    fn buffers_mut(&mut self) -> Vec<&mut Vec<A>> {
        let mut out = vec![&mut self.exp_avg, &mut self.exp_avg_sq];
        out.extend(self.max_exp_avg_sq.iter_mut());
        out
    }
    fn from_buffers(take: &mut dyn FnMut(&'static str) -> Option<Vec<A>>) -> Result<Self, String> {
        Ok(AdamState {
            exp_avg: take("exp_avg").ok_or("buffer `exp_avg` is missing")?,
            exp_avg_sq: take("exp_avg_sq").ok_or("buffer `exp_avg_sq` is missing")?,
            max_exp_avg_sq: take("max_exp_avg_sq"),
        })
    }
}

impl<A: Float> AdamScalars<A> {
    /// Weight decay and both moment updates; returns nothing, the moments are updated in place.
    #[inline(always)]
    fn moments(&self, p: &mut A, g: A, m: &mut A, v: &mut A) {
        let mut g = if self.maximize { -g } else { g };
        if let Some(factor) = self.decoupled_factor {
            *p = *p * factor; // AdamW: on the old parameter, before the moments
        }
        if let Some(wd) = self.coupled_decay {
            g = p.mul_add(wd, g);
        }
        *m = self.exp_avg_weight.lerp(*m, g);
        *v = addcmul(decayed(*v, self.beta2), self.one_minus_beta2, g, g);
    }

    /// `p ← p − (γ/bc₁)·m / (√v/√bc₂ + ε)` for the given second moment.
    #[inline(always)]
    fn apply(&self, p: &mut A, m: A, v: A) {
        let denom = v.sqrt() / self.bias_correction2_sqrt + self.eps;
        *p = addcdiv(*p, self.neg_step_size, m, denom);
    }
}

impl<A: Float> Kernel<A> for AdamConfig {
    type State = AdamState<A>;
    type Global = ();
    type Scalars = AdamScalars<A>;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::beta("betas[0]", self.betas.0)?;
        check::beta("betas[1]", self.betas.1)?;
        check::positive("eps", self.eps)?;
        check::non_negative("weight_decay", self.weight_decay)
    }
    config_accessors!(Adam);
    fn momentum(&self) -> Option<f64> {
        Some(self.betas.0)
    }
    fn set_momentum(&mut self, momentum: f64) {
        self.betas.0 = momentum;
    }
    fn new_state(&self, len: usize) -> AdamState<A> {
        AdamState {
            exp_avg: vec![A::zero(); len],
            exp_avg_sq: vec![A::zero(); len],
            max_exp_avg_sq: self.amsgrad.then(|| vec![A::zero(); len]),
        }
    }

    fn global(&self, _grads: &dyn TensorList<A>) {}

    fn scalars(&self, step: u64, _global: &(), group: GroupHyper) -> AdamScalars<A> {
        let (beta1, beta2) = self.betas;
        let t = step as f64;
        let bias_correction1 = 1.0 - beta1.powf(t);
        let bias_correction2 = 1.0 - beta2.powf(t);
        let decay = group.weight_decay != 0.0;
        AdamScalars {
            exp_avg_weight: LerpWeight::new(1.0 - beta1),
            beta2: A::from_f64(beta2),
            one_minus_beta2: A::from_f64(1.0 - beta2),
            neg_step_size: A::from_f64(-(group.lr / bias_correction1)),
            bias_correction2_sqrt: A::from_f64(bias_correction2.sqrt()),
            eps: A::from_f64(self.eps),
            coupled_decay: (decay && !self.decoupled_weight_decay)
                .then(|| A::from_f64(group.weight_decay)),
            decoupled_factor: (decay && self.decoupled_weight_decay)
                .then(|| A::from_f64(1.0 - group.lr * group.weight_decay)),
            maximize: self.maximize,
        }
    }

    fn update(&self, sc: &AdamScalars<A>, pass: &mut Pass<'_, A>, state: &mut AdamState<A>) {
        let sc = *sc;
        let AdamState {
            exp_avg,
            exp_avg_sq,
            max_exp_avg_sq,
        } = state;
        match max_exp_avg_sq {
            None => pass.zip2(
                exp_avg,
                exp_avg_sq,
                #[inline(always)]
                |p, g, m, v| {
                    sc.moments(p, g, m, v);
                    sc.apply(p, *m, *v);
                },
            ),
            Some(v_max) => pass.zip3(
                exp_avg,
                exp_avg_sq,
                v_max,
                #[inline(always)]
                |p, g, m, v, v_max| {
                    sc.moments(p, g, m, v);
                    // The maximum of the raw v, bias-corrected with this step's bc₂.
                    *v_max = maximum(*v_max, *v);
                    sc.apply(p, *m, *v_max);
                },
            ),
        }
    }
}

optimizer_type! {
    /// Adam (Kingma & Ba, 2015) and AMSGrad (Reddi et al., 2018): PyTorch's `torch.optim.Adam`.
    ///
    /// Momentum and per-parameter step sizes together: a running mean `m` of the gradients gives
    /// the direction, a running mean `v` of their squares scales each parameter's step, both
    /// corrected for starting at zero. Per element, at step `t`:
    ///
    /// ```text
    /// g ← −g                                   if maximize
    /// p ← p·(1 − γλ)                           if λ ≠ 0, decoupled (AdamW)
    /// g ← g + λ·p                              if λ ≠ 0, coupled (L2, the default)
    /// m ← β₁·m + (1 − β₁)·g                    (computed as m + (1 − β₁)(g − m), PyTorch's lerp)
    /// v ← β₂·v + (1 − β₂)·g²
    /// v̂ ← max(v̂, v)                            if amsgrad (else v̂ = v)
    /// p ← p − γ/(1 − β₁ᵗ) · m / (√v̂ / √(1 − β₂ᵗ) + ε)
    /// ```
    ///
    /// `ε` is added after bias-correcting `√v` (PyTorch's form; TF1's "ε̂" form differs). With
    /// `decoupled_weight_decay` this is PyTorch's `AdamW`, also available as [`AdamW`] with
    /// AdamW's defaults. Defaults are PyTorch's: see [`AdamConfig`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Adam, Optimizer};
    ///
    /// let mut w = array![1.0_f64, 1.0];
    /// let mut opt = Adam::new(0.01)?;
    /// opt.step(&mut w, &array![100.0, -0.01])?;
    /// // The first step moves every element by about γ, whatever its gradient's size.
    /// assert!((w[0] - 0.99).abs() < 1e-6 && (w[1] - 1.01).abs() < 1e-6);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Adam, AdamConfig, "Adam"
}

impl<A: Float> Adam<A> {
    /// Adam with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adam, Optimizer};
    /// let opt = Adam::<f32>::new(1e-3)?;
    /// assert_eq!(opt.config().betas, (0.9, 0.999));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        Self::with_config(AdamConfig::default().lr(lr))
    }

    /// Adam with every hyperparameter given, exactly as PyTorch's `Adam(**config)`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if a value is out of range (see [`AdamConfig`]).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adam, AdamConfig};
    /// assert!(Adam::<f32>::with_config(AdamConfig::default().betas(1.0, 0.999)).is_err());
    /// ```
    pub fn with_config(config: AdamConfig) -> Result<Self, Error> {
        Ok(Adam {
            driver: Driver::new(config)?,
        })
    }
}

optimizer_type! {
    /// AdamW (Loshchilov & Hutter, 2019): PyTorch's `torch.optim.AdamW`, which is [`Adam`] with
    /// decoupled weight decay and `weight_decay = 1e-2` by default.
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
    AdamW, AdamConfig, "AdamW"
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
        Self::with_config(AdamConfig::adamw().lr(lr))
    }

    /// AdamW with every hyperparameter given; the weight decay is always decoupled, as PyTorch's
    /// `AdamW` forces.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if a value is out of range (see [`AdamConfig`]).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{AdamConfig, AdamW};
    /// let opt = AdamW::<f32>::with_config(AdamConfig::default().weight_decay(0.1))?;
    /// assert!(opt.config().decoupled_weight_decay);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_config(config: AdamConfig) -> Result<Self, Error> {
        Ok(AdamW {
            driver: Driver::new(config.decoupled_weight_decay(true))?,
        })
    }
}
