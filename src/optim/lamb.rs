//! LAMB: Adam with a per-tensor trust ratio for large-batch training, as NVIDIA apex's
//! `FusedLAMB` and timm's `Lamb` compute it.

use super::ops::{LerpWeight, addcmul, decayed, descend, saturate};
use super::pass::{self, Pass};
use super::saved::StateBuffers;
use super::{Driver, GroupHyper, Kernel, check, config_accessors, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use crate::tensor::TensorList;

/// Hyperparameters of [`Lamb`]: those of timm's `Lamb` (= NVIDIA apex `FusedLAMB`, the variant
/// used for BERT pre-training), with its defaults.
///
/// | field | default | valid | other variants |
/// |---|---|---|---|
/// | `lr` | `1e-3` | `≥ 0` | |
/// | `betas` | `(0.9, 0.999)` | each in `[0, 1)` | |
/// | `eps` | `1e-6` | `> 0` (PyTorch: `≥ 0`; with 0 a zero gradient gives 0/0 = NaN) | Keras `1e-7` |
/// | `weight_decay` | `0.01` | `≥ 0` | TF-Addons, optax: `0` |
/// | `bias_correction` | `true` | | torch-optimizer, gluon-nlp: `false` |
/// | `grad_averaging` | `true` (`m ← β₁m + (1 − β₁)g`) | | `false`: `m ← β₁m + g` |
/// | `max_grad_norm` | `Some(1.0)`: divide all gradients by `max(‖G‖/1.0, 1)` | `> 0` | TF-Addons, optax, the paper: `None` |
/// | `trust_clip` | `false` | | LAMBC: `true` caps the ratio at 1 |
/// | `always_adapt` | `false`: the ratio applies only where `weight_decay ≠ 0` | | the paper, TF-Addons: `true` |
/// | `decoupled_decay` | `false`: `λp` added to the update, inside the ratio | | `true`: `p ← p − γλp` outside it |
///
/// # Example
///
/// ```
/// use ndarray_optim::{Lamb, LambConfig};
///
/// // The paper's / TF-Addons' variant: no gradient pre-normalisation, adapt every tensor.
/// let opt: Lamb<f32> = LambConfig::default().lr(2e-3).max_grad_norm(None).always_adapt(true).build()?;
/// assert_eq!(opt.config().eps, 1e-6);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct LambConfig {
    /// Learning rate `γ`.
    pub lr: f64,
    /// Decay rates `(β₁, β₂)` of the moment estimates.
    pub betas: (f64, f64),
    /// Term `ε` added to the denominator, after bias-correcting `√v`.
    pub eps: f64,
    /// Weight decay `λ`.
    pub weight_decay: f64,
    /// Divide the moments by `1 − βᵗ`.
    pub bias_correction: bool,
    /// Average the gradient into `m` with weight `1 − β₁` (else weight 1).
    pub grad_averaging: bool,
    /// Global gradient-norm pre-normalisation: when the L2 norm of all gradients together exceeds
    /// this, every gradient is divided by `norm / max_grad_norm`. `None` turns it off.
    pub max_grad_norm: Option<f64>,
    /// Cap the trust ratio at 1 (LAMBC).
    pub trust_clip: bool,
    /// Apply the trust ratio to tensors without weight decay too.
    pub always_adapt: bool,
    /// Apply weight decay to the parameter directly, outside the trust ratio.
    pub decoupled_decay: bool,
}

impl Default for LambConfig {
    fn default() -> Self {
        LambConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-6,
            weight_decay: 0.01,
            bias_correction: true,
            grad_averaging: true,
            max_grad_norm: Some(1.0),
            trust_clip: false,
            always_adapt: false,
            decoupled_decay: false,
        }
    }
}

impl LambConfig {
    /// Sets the learning rate `lr`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::LambConfig;
    /// assert_eq!(LambConfig::default().lr(2e-3).lr, 2e-3);
    /// assert!(LambConfig::default().lr(-2e-3).build::<f32>().is_err()); // checked when building
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
    /// use ndarray_optim::LambConfig;
    /// assert_eq!(LambConfig::default().betas(0.9, 0.98).betas, (0.9, 0.98));
    /// assert!(LambConfig::default().betas(1.0, 0.999).build::<f32>().is_err()); // each in [0, 1)
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
    /// use ndarray_optim::LambConfig;
    /// assert_eq!(LambConfig::default().eps(1e-8).eps, 1e-8);
    /// assert!(LambConfig::default().eps(0.0).build::<f32>().is_err()); // must be > 0
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
    /// use ndarray_optim::LambConfig;
    /// assert_eq!(LambConfig::default().weight_decay(0.0).weight_decay, 0.0); // default 0.01
    /// assert!(LambConfig::default().weight_decay(-0.01).build::<f32>().is_err());
    /// ```
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
    /// Switches bias correction on or off.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::LambConfig;
    /// // torch-optimizer's and gluon-nlp's variant.
    /// assert!(!LambConfig::default().bias_correction(false).bias_correction);
    /// ```
    pub fn bias_correction(mut self, bias_correction: bool) -> Self {
        self.bias_correction = bias_correction;
        self
    }
    /// Switches gradient averaging on or off.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::LambConfig;
    /// // m ← β₁·m + g instead of β₁·m + (1 − β₁)·g.
    /// assert!(!LambConfig::default().grad_averaging(false).grad_averaging);
    /// ```
    pub fn grad_averaging(mut self, grad_averaging: bool) -> Self {
        self.grad_averaging = grad_averaging;
        self
    }
    /// Sets the global gradient-norm bound, or turns pre-normalisation off with `None`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::LambConfig;
    /// assert_eq!(LambConfig::default().max_grad_norm, Some(1.0)); // timm's default
    /// assert_eq!(LambConfig::default().max_grad_norm(None).max_grad_norm, None); // the paper's
    /// assert!(LambConfig::default().max_grad_norm(Some(0.0)).build::<f32>().is_err()); // must be > 0
    /// ```
    pub fn max_grad_norm(mut self, max_grad_norm: Option<f64>) -> Self {
        self.max_grad_norm = max_grad_norm;
        self
    }
    /// Switches trust-ratio clipping (LAMBC) on or off.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::LambConfig;
    /// // LAMBC: the trust ratio never exceeds 1.
    /// assert!(LambConfig::default().trust_clip(true).trust_clip);
    /// ```
    pub fn trust_clip(mut self, trust_clip: bool) -> Self {
        self.trust_clip = trust_clip;
        self
    }
    /// Applies the trust ratio to tensors without weight decay too.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{LambConfig, Optimizer};
    ///
    /// // No weight decay: timm applies no trust ratio unless `always_adapt`.
    /// let config = LambConfig::default().lr(0.01).weight_decay(0.0).max_grad_norm(None);
    /// let (mut plain, mut adapted) = (array![3.0_f64, 4.0], array![3.0_f64, 4.0]);
    /// let g = array![1.0, 1.0];
    /// config.clone().build()?.step(&mut plain, &g)?;
    /// config.always_adapt(true).build()?.step(&mut adapted, &g)?;
    /// // ‖p‖/‖u‖ = 5/√2: the adapted step is 3.5 times longer.
    /// assert!((3.0 - plain[0] - 0.01).abs() < 1e-6);
    /// assert!((3.0 - adapted[0] - 0.01 * 5.0 / 2f64.sqrt()).abs() < 1e-6);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn always_adapt(mut self, always_adapt: bool) -> Self {
        self.always_adapt = always_adapt;
        self
    }
    /// Chooses decoupled weight decay (outside the trust ratio).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::LambConfig;
    /// // p ← p − γλp outside the trust ratio instead of λp inside the update.
    /// assert!(LambConfig::default().decoupled_decay(true).decoupled_decay);
    /// ```
    pub fn decoupled_decay(mut self, decoupled_decay: bool) -> Self {
        self.decoupled_decay = decoupled_decay;
        self
    }
    /// Builds a [`Lamb`] optimizer.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if a value is outside the range in the table above.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Lamb, LambConfig, Optimizer};
    ///
    /// let opt: Lamb<f32> = LambConfig::default().lr(2e-3).build()?;
    /// assert_eq!((opt.name(), opt.learning_rate()), ("Lamb", 2e-3));
    /// assert!(LambConfig::default().max_grad_norm(Some(-1.0)).build::<f32>().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn build<A: Float>(self) -> Result<Lamb<A>, Error> {
        Lamb::with_config(self)
    }
}

#[derive(Clone, Copy)]
pub(crate) struct LambScalars<A> {
    /// `max(‖G‖ / max_grad_norm, 1)`, when pre-normalisation is on.
    clip: Option<A>,
    /// `m ← lerp(m, g, 1 − β₁)` with grad averaging, else `m ← β₁m + 1·g`.
    exp_avg_weight: Option<LerpWeight<A>>,
    beta1: A,
    beta2: A,
    one_minus_beta2: A,
    bias_correction1: A,
    bias_correction2_sqrt: A,
    eps: A,
    /// `λ` when it enters the update (coupled).
    update_decay: Option<A>,
    /// `−γλ` when it is applied to the parameter directly (decoupled).
    neg_decoupled_decay: Option<A>,
    adapt: bool,
    trust_clip: bool,
    neg_lr: A,
}

/// Per-tensor state: the moment estimates.
#[derive(Clone, Debug)]
pub(crate) struct LambState<A> {
    exp_avg: Vec<A>,
    exp_avg_sq: Vec<A>,
}

impl<A: Float> StateBuffers<A> for LambState<A> {
    fn buffers(&self) -> Vec<(&'static str, &Vec<A>)> {
        vec![("exp_avg", &self.exp_avg), ("exp_avg_sq", &self.exp_avg_sq)]
    }
    fn buffers_mut(&mut self) -> Vec<&mut Vec<A>> {
        vec![&mut self.exp_avg, &mut self.exp_avg_sq]
    }
    fn from_buffers(take: &mut dyn FnMut(&'static str) -> Option<Vec<A>>) -> Result<Self, String> {
        Ok(LambState {
            exp_avg: take("exp_avg").ok_or("buffer `exp_avg` is missing")?,
            exp_avg_sq: take("exp_avg_sq").ok_or("buffer `exp_avg_sq` is missing")?,
        })
    }
}

impl<A: Float> LambScalars<A> {
    /// Gradient normalisation, both moments, and decoupled decay on the parameter.
    #[inline(always)]
    fn moments(&self, p: &mut A, g: A, m: &mut A, v: &mut A) {
        let g = match self.clip {
            Some(clip) => g / clip,
            None => g,
        };
        *m = match self.exp_avg_weight {
            Some(weight) => weight.lerp(*m, g),
            None => g.mul_add(A::one(), *m * self.beta1),
        };
        *v = addcmul(decayed(*v, self.beta2), self.one_minus_beta2, g, g);
        if let Some(neg_decay) = self.neg_decoupled_decay {
            *p = p.mul_add(neg_decay, *p);
        }
    }

    /// The Adam-style update direction `u = (m/bc₁) / (√v/√bc₂ + ε) [+ λp]`. An element that
    /// overflows (a tiny `ε` under a vanishing `v`) is held at the type's largest finite value,
    /// so that the trust ratio scales it instead of turning it into NaN (`∞·0`).
    #[inline(always)]
    fn direction(&self, p: A, m: A, v: A) -> A {
        let denom = v.sqrt() / self.bias_correction2_sqrt + self.eps;
        let u = saturate((m / self.bias_correction1) / denom);
        match self.update_decay {
            Some(wd) => p.mul_add(wd, u),
            None => u,
        }
    }
}

impl<A: Float> Kernel<A> for LambConfig {
    type State = LambState<A>;
    type Global = Option<A>;
    type Scalars = LambScalars<A>;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::beta("betas[0]", self.betas.0)?;
        check::beta("betas[1]", self.betas.1)?;
        check::positive("eps", self.eps)?;
        check::non_negative("weight_decay", self.weight_decay)?;
        if let Some(max) = self.max_grad_norm {
            check::positive("max_grad_norm", max)?;
        }
        Ok(())
    }
    config_accessors!(Lamb);
    fn momentum(&self) -> Option<f64> {
        Some(self.betas.0)
    }
    fn set_momentum(&mut self, momentum: f64) {
        self.betas.0 = momentum;
    }
    fn new_state(&self, len: usize) -> LambState<A> {
        LambState {
            exp_avg: vec![A::zero(); len],
            exp_avg_sq: vec![A::zero(); len],
        }
    }

    fn has_layer_adaptation(&self) -> bool {
        true
    }

    /// `max(‖G‖ / max_grad_norm, 1)` over all gradients, when pre-normalisation is on.
    fn global(&self, grads: &dyn TensorList<A>) -> Option<A> {
        self.max_grad_norm.map(|max| {
            let squares: f64 = (0..grads.len())
                .filter_map(|i| grads.tensor(i))
                .map(pass::sum_of_squares)
                .sum();
            A::from_f64((squares.sqrt() / max).max(1.0))
        })
    }

    fn scalars(&self, step: u64, clip: &Option<A>, group: GroupHyper) -> LambScalars<A> {
        let (beta1, beta2) = self.betas;
        let (bias_correction1, bias_correction2) = if self.bias_correction {
            let t = step as f64;
            (1.0 - beta1.powf(t), 1.0 - beta2.powf(t))
        } else {
            (1.0, 1.0)
        };
        let decay = group.weight_decay != 0.0;
        LambScalars {
            clip: *clip,
            exp_avg_weight: self.grad_averaging.then(|| LerpWeight::new(1.0 - beta1)),
            beta1: A::from_f64(beta1),
            beta2: A::from_f64(beta2),
            one_minus_beta2: A::from_f64(1.0 - beta2),
            bias_correction1: A::from_f64(bias_correction1),
            bias_correction2_sqrt: A::from_f64(bias_correction2.sqrt()),
            eps: A::from_f64(self.eps),
            update_decay: (decay && !self.decoupled_decay).then(|| A::from_f64(group.weight_decay)),
            neg_decoupled_decay: (decay && self.decoupled_decay)
                .then(|| A::from_f64(-group.lr * group.weight_decay)),
            adapt: group.layer_adaptation.unwrap_or(decay || self.always_adapt),
            trust_clip: self.trust_clip,
            neg_lr: A::from_f64(-group.lr),
        }
    }

    fn update(&self, sc: &LambScalars<A>, pass: &mut Pass<'_, A>, state: &mut LambState<A>) {
        let sc = *sc;
        let LambState {
            exp_avg,
            exp_avg_sq,
        } = state;
        // 1. Moments (and decoupled decay, which the trust ratio then sees); 2. the trust ratio
        // ‖p‖ / ‖u‖ of this tensor ("layer"), 1 when either norm is zero. One pass when it can.
        let ratio = if sc.adapt {
            let (p_squares, u_squares) = pass.zip2_then_sum_squares(
                exp_avg,
                exp_avg_sq,
                #[inline(always)]
                |p, g, m, v| sc.moments(p, g, m, v),
                #[inline(always)]
                |p, _g, m, v| (p, sc.direction(p, m, v)),
            );
            let (p_norm, u_norm) = (p_squares.sqrt(), u_squares.sqrt());
            let ratio = if p_norm > 0.0 && u_norm > 0.0 {
                p_norm / u_norm
            } else {
                1.0
            };
            A::from_f64(if sc.trust_clip { ratio.min(1.0) } else { ratio })
        } else {
            pass.zip2(
                exp_avg,
                exp_avg_sq,
                #[inline(always)]
                |p, g, m, v| sc.moments(p, g, m, v),
            );
            A::one()
        };
        // 3. The step.
        pass.zip2(
            exp_avg,
            exp_avg_sq,
            #[inline(always)]
            |p, _g, m, v| {
                let u = sc.direction(*p, *m, *v) * ratio;
                *p = descend(*p, u, sc.neg_lr);
            },
        );
    }
}

optimizer_type! {
    /// LAMB (You et al., 2020), as NVIDIA apex's `FusedLAMB` and timm's `Lamb` compute it: the
    /// variant used for BERT pre-training, with options for the other published variants.
    ///
    /// Adam's update, rescaled per tensor ("layer") by the trust ratio `‖p‖ / ‖u‖`, so every
    /// layer moves by a fixed fraction of its own size: stable with very large batches and
    /// learning rates. Per step `t`, over all tensors:
    ///
    /// ```text
    /// c = max(‖G‖ / max_grad_norm, 1)          ‖G‖ the L2 norm of all gradients (if set)
    /// ```
    ///
    /// then per tensor, element-wise except for the norms:
    ///
    /// ```text
    /// g ← g / c
    /// m ← β₁·m + (1 − β₁)·g                    (β₁·m + g without grad_averaging)
    /// v ← β₂·v + (1 − β₂)·g²
    /// u = (m / (1 − β₁ᵗ)) / (√v / √(1 − β₂ᵗ) + ε)        (no 1 − βᵗ without bias_correction)
    /// u ← u + λ·p                              if λ ≠ 0 (p ← p − γλp instead if decoupled_decay)
    /// r = ‖p‖ / ‖u‖  (1 if either is 0; min(r, 1) if trust_clip)   if λ ≠ 0 or always_adapt
    /// p ← p − γ·r·u
    /// ```
    ///
    /// Norms are summed in `f64` in each tensor's logical order with a fixed blocking, so the
    /// result does not depend on the memory layout. Defaults are timm's: see [`LambConfig`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{array, Array1, Array2};
    /// use ndarray_optim::{Lamb, Optimizer};
    ///
    /// let mut w = Array2::<f32>::ones((4, 4));
    /// let mut b = Array1::<f32>::zeros(4);
    /// let mut opt = Lamb::new(0.01)?;
    /// opt.step(&mut (&mut w, &mut b), &(&Array2::ones((4, 4)), &Array1::ones(4)))?;
    /// assert!(w[[0, 0]] < 1.0 && b[0] < 0.0);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Lamb, LambConfig, "Lamb"
}

impl<A: Float> Lamb<A> {
    /// LAMB with learning rate `lr` and timm's / apex's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Lamb, Optimizer};
    /// let opt = Lamb::<f32>::new(1e-3)?;
    /// assert_eq!(opt.config().max_grad_norm, Some(1.0));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        Self::with_config(LambConfig::default().lr(lr))
    }

    /// LAMB with every hyperparameter given.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if a value is out of range (see [`LambConfig`]).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Lamb, LambConfig};
    /// assert!(Lamb::<f32>::with_config(LambConfig::default().max_grad_norm(Some(0.0))).is_err());
    /// ```
    pub fn with_config(config: LambConfig) -> Result<Self, Error> {
        Ok(Lamb {
            driver: Driver::new(config)?,
        })
    }
}
