//! RMSProp: steps divided by a running root-mean-square of the gradients, `torch.optim.RMSprop`.

use super::ops::{LerpWeight, addcdiv, addcmul, decayed, descend, effective_grad};
use super::pass::Pass;
use super::saved::StateBuffers;
use super::{Driver, GroupHyper, Kernel, check, config_accessors, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use crate::tensor::TensorList;

/// Hyperparameters of [`RmsProp`]: those of PyTorch's `torch.optim.RMSprop`, with its defaults.
///
/// | field | default | valid |
/// |---|---|---|
/// | `lr` | `1e-2` | `≥ 0` |
/// | `alpha` | `0.99` | `[0, 1]` |
/// | `eps` | `1e-8` | `> 0` (PyTorch: `≥ 0`; with 0 a zero gradient gives 0/0 = NaN) |
/// | `weight_decay` | `0` (coupled L2) | `≥ 0` |
/// | `momentum` | `0` | `≥ 0` |
/// | `centered` | `false` | |
/// | `maximize` | `false` | |
///
/// PyTorch only requires `alpha ≥ 0`; here it must also be at most 1. Note the defaults differ
/// from Keras and optax (`alpha`/`rho` = 0.9) and that PyTorch adds `eps` outside the square
/// root (TensorFlow inside).
///
/// # Example
///
/// ```
/// use ndarray_optim::{RmsProp, RmsPropConfig};
///
/// let opt: RmsProp<f32> = RmsPropConfig::default().lr(1e-3).momentum(0.9).centered(true).build()?;
/// assert!(opt.config().centered);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct RmsPropConfig {
    /// Learning rate `γ`.
    pub lr: f64,
    /// Smoothing constant `α` of the running average of squared gradients.
    pub alpha: f64,
    /// Term `ε` added to the denominator, outside the square root.
    pub eps: f64,
    /// Coupled (L2) weight decay `λ`.
    pub weight_decay: f64,
    /// Momentum factor `μ`.
    pub momentum: f64,
    /// Divide by an estimate of the gradient's variance rather than its second moment.
    pub centered: bool,
    /// Maximise the objective instead of minimising it.
    pub maximize: bool,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            maximize: false,
        }
    }
}

impl RmsPropConfig {
    /// Sets the learning rate `lr`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::RmsPropConfig;
    /// assert_eq!(RmsPropConfig::default().lr(1e-3).lr, 1e-3);
    /// assert!(RmsPropConfig::default().lr(-1e-3).build::<f32>().is_err()); // checked when building
    /// ```
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }
    /// Sets the smoothing constant `alpha`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::RmsPropConfig;
    /// assert_eq!(RmsPropConfig::default().alpha(0.9).alpha, 0.9);
    /// assert!(RmsPropConfig::default().alpha(1.5).build::<f32>().is_err()); // must lie in [0, 1]
    /// ```
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }
    /// Sets `eps`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::RmsPropConfig;
    /// assert_eq!(RmsPropConfig::default().eps(1e-6).eps, 1e-6);
    /// assert!(RmsPropConfig::default().eps(0.0).build::<f32>().is_err()); // must be > 0
    /// ```
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Sets the coupled (L2) `weight_decay`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::RmsPropConfig;
    /// assert_eq!(RmsPropConfig::default().weight_decay(1e-4).weight_decay, 1e-4);
    /// assert!(RmsPropConfig::default().weight_decay(-1e-4).build::<f32>().is_err());
    /// ```
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
    /// Sets the momentum factor `momentum`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Optimizer, RmsPropConfig};
    /// assert_eq!(RmsPropConfig::default().momentum(0.9).build::<f32>()?.momentum(), Some(0.9));
    /// assert!(RmsPropConfig::default().momentum(-0.9).build::<f32>().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
    /// Switches the centered variant on or off.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Optimizer, RmsPropConfig};
    ///
    /// let mut opt = RmsPropConfig::default().centered(true).build::<f32>()?;
    /// let mut w = array![1.0_f32];
    /// opt.step(&mut w, &array![1.0])?;
    /// // The running mean of the gradients is one more state buffer.
    /// assert!(opt.save_state().tensors[0].buffers.contains_key("grad_avg"));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn centered(mut self, centered: bool) -> Self {
        self.centered = centered;
        self
    }
    /// Maximises the objective instead of minimising it.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Optimizer, RmsPropConfig};
    ///
    /// let mut opt = RmsPropConfig::default().maximize(true).build()?;
    /// let mut w = array![0.0_f64];
    /// opt.step(&mut w, &array![1.0])?;
    /// assert!(w[0] > 0.0); // uphill
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn maximize(mut self, maximize: bool) -> Self {
        self.maximize = maximize;
        self
    }
    /// Builds an [`RmsProp`] optimizer.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if a value is outside the range in the table above.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Optimizer, RmsProp, RmsPropConfig};
    ///
    /// let opt: RmsProp<f32> = RmsPropConfig::default().lr(1e-3).build()?;
    /// assert_eq!((opt.name(), opt.learning_rate()), ("RMSprop", 1e-3));
    /// assert!(RmsPropConfig::default().alpha(-0.1).build::<f32>().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn build<A: Float>(self) -> Result<RmsProp<A>, Error> {
        RmsProp::with_config(self)
    }
}

#[derive(Clone, Copy)]
pub(crate) struct RmsPropScalars<A> {
    neg_lr: A,
    alpha: A,
    one_minus_alpha: A,
    grad_avg_weight: LerpWeight<A>,
    eps: A,
    momentum: A,
    decay: Option<A>,
    maximize: bool,
}

/// Per-tensor state: the running average of squared gradients, of gradients (centered only)
/// and the momentum buffer (created when momentum is first non-zero, as zeros).
#[derive(Clone, Debug)]
pub(crate) struct RmsPropState<A> {
    square_avg: Vec<A>,
    grad_avg: Option<Vec<A>>,
    momentum_buffer: Option<Vec<A>>,
}

impl<A: Float> StateBuffers<A> for RmsPropState<A> {
    fn buffers(&self) -> Vec<(&'static str, &Vec<A>)> {
        let mut out = vec![("square_avg", &self.square_avg)];
        out.extend(self.grad_avg.iter().map(|b| ("grad_avg", b)));
        out.extend(self.momentum_buffer.iter().map(|b| ("momentum_buffer", b)));
        out
    }
    fn buffers_mut(&mut self) -> Vec<&mut Vec<A>> {
        let mut out = vec![&mut self.square_avg];
        out.extend(self.grad_avg.iter_mut());
        out.extend(self.momentum_buffer.iter_mut());
        out
    }
    fn from_buffers(take: &mut dyn FnMut(&'static str) -> Option<Vec<A>>) -> Result<Self, String> {
        Ok(RmsPropState {
            square_avg: take("square_avg").ok_or("buffer `square_avg` is missing")?,
            grad_avg: take("grad_avg"),
            momentum_buffer: take("momentum_buffer"),
        })
    }
}

impl<A: Float> RmsPropScalars<A> {
    #[inline(always)]
    fn grad_and_square_avg(&self, p: A, g: A, v: &mut A) -> A {
        let g = effective_grad(p, g, self.maximize, self.decay);
        *v = addcmul(decayed(*v, self.alpha), self.one_minus_alpha, g, g);
        g
    }

    /// The centered denominator `√(v − ḡ²) + ε`. The variance is clamped at zero: rounding can
    /// make `v − ḡ²` slightly negative when the gradient is nearly constant, where PyTorch's
    /// square root gives NaN.
    #[inline(always)]
    fn centered_denominator(&self, g: A, v: A, grad_avg: &mut A) -> A {
        *grad_avg = self.grad_avg_weight.lerp(*grad_avg, g);
        let variance = addcmul(v, -A::one(), *grad_avg, *grad_avg);
        let variance = if variance < A::zero() {
            A::zero()
        } else {
            variance
        };
        variance.sqrt() + self.eps
    }

    #[inline(always)]
    fn apply(&self, p: &mut A, g: A, avg: A) {
        *p = addcdiv(*p, self.neg_lr, g, avg);
    }

    #[inline(always)]
    fn apply_with_momentum(&self, p: &mut A, g: A, avg: A, buf: &mut A) {
        *buf = addcdiv(*buf * self.momentum, A::one(), g, avg);
        *p = descend(*p, *buf, self.neg_lr);
    }
}

impl<A: Float> Kernel<A> for RmsPropConfig {
    type State = RmsPropState<A>;
    type Global = ();
    type Scalars = RmsPropScalars<A>;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::unit("alpha", self.alpha)?;
        check::positive("eps", self.eps)?;
        check::non_negative("weight_decay", self.weight_decay)?;
        check::non_negative("momentum", self.momentum)
    }
    config_accessors!(RmsProp);
    fn momentum(&self) -> Option<f64> {
        Some(self.momentum)
    }
    fn set_momentum(&mut self, momentum: f64) {
        self.momentum = momentum;
    }
    fn new_state(&self, len: usize) -> RmsPropState<A> {
        RmsPropState {
            square_avg: vec![A::zero(); len],
            grad_avg: self.centered.then(|| vec![A::zero(); len]),
            momentum_buffer: (self.momentum > 0.0).then(|| vec![A::zero(); len]),
        }
    }

    fn global(&self, _grads: &dyn TensorList<A>) {}

    fn scalars(&self, _step: u64, _global: &(), group: GroupHyper) -> RmsPropScalars<A> {
        RmsPropScalars {
            neg_lr: A::from_f64(-group.lr),
            alpha: A::from_f64(self.alpha),
            one_minus_alpha: A::from_f64(1.0 - self.alpha),
            grad_avg_weight: LerpWeight::new(1.0 - self.alpha),
            eps: A::from_f64(self.eps),
            momentum: A::from_f64(self.momentum),
            decay: (group.weight_decay != 0.0).then(|| A::from_f64(group.weight_decay)),
            maximize: self.maximize,
        }
    }

    fn update(&self, sc: &RmsPropScalars<A>, pass: &mut Pass<'_, A>, state: &mut RmsPropState<A>) {
        let sc = *sc;
        let RmsPropState {
            square_avg,
            grad_avg,
            momentum_buffer,
        } = state;
        if self.momentum > 0.0 && momentum_buffer.is_none() {
            // Momentum switched on after the first step (by a cyclic schedule): start at zero.
            *momentum_buffer = Some(vec![A::zero(); square_avg.len()]);
        }
        let momentum_buffer = momentum_buffer.as_mut().filter(|_| self.momentum > 0.0);
        match (grad_avg.as_mut(), momentum_buffer) {
            (None, None) => pass.zip1(
                square_avg,
                #[inline(always)]
                |p, g, v| {
                    let g = sc.grad_and_square_avg(*p, g, v);
                    sc.apply(p, g, v.sqrt() + sc.eps);
                },
            ),
            (None, Some(buf)) => pass.zip2(
                square_avg,
                buf,
                #[inline(always)]
                |p, g, v, buf| {
                    let g = sc.grad_and_square_avg(*p, g, v);
                    sc.apply_with_momentum(p, g, v.sqrt() + sc.eps, buf);
                },
            ),
            (Some(grad_avg), None) => pass.zip2(
                square_avg,
                grad_avg,
                #[inline(always)]
                |p, g, v, ga| {
                    let g = sc.grad_and_square_avg(*p, g, v);
                    let avg = sc.centered_denominator(g, *v, ga);
                    sc.apply(p, g, avg);
                },
            ),
            (Some(grad_avg), Some(buf)) => pass.zip3(
                square_avg,
                grad_avg,
                buf,
                #[inline(always)]
                |p, g, v, ga, buf| {
                    let g = sc.grad_and_square_avg(*p, g, v);
                    let avg = sc.centered_denominator(g, *v, ga);
                    sc.apply_with_momentum(p, g, avg, buf);
                },
            ),
        }
    }
}

optimizer_type! {
    /// RMSProp (Hinton, 2012), PyTorch's `torch.optim.RMSprop`.
    ///
    /// Divides each parameter's step by a running root-mean-square of its recent gradients, so
    /// steep directions take small steps and flat ones large steps; unlike Adagrad the average
    /// forgets, so steps do not shrink forever. Per element:
    ///
    /// ```text
    /// g ← −g                                   if maximize
    /// g ← g + λ·p                              if λ ≠ 0
    /// v ← α·v + (1 − α)·g²
    /// if centered:  ḡ ← α·ḡ + (1 − α)·g ;  d = √max(v − ḡ², 0) + ε
    /// else:         d = √v + ε
    /// if μ > 0:     b ← μ·b + g/d ;  p ← p − γ·b
    /// else:         p ← p − γ·g/d
    /// ```
    ///
    /// There is no bias correction (`v` starts at 0, so early steps are large) and `ε` is outside
    /// the square root, as in PyTorch. The clamp at 0 in the centered variance only matters where
    /// rounding makes it negative, where PyTorch would give NaN. Defaults are PyTorch's: see
    /// [`RmsPropConfig`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Optimizer, RmsProp};
    ///
    /// let mut w = array![1.0_f64];
    /// let mut opt = RmsProp::new(0.01)?;
    /// opt.step(&mut w, &array![3.0])?;
    /// // v = 0.01·9, so the step is 0.01·3/√0.09 = 0.1 (up to ε).
    /// assert!((w[0] - 0.9).abs() < 1e-6);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    RmsProp, RmsPropConfig, "RMSprop"
}

impl<A: Float> RmsProp<A> {
    /// RMSProp with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Optimizer, RmsProp};
    /// assert_eq!(RmsProp::<f32>::new(0.01)?.name(), "RMSprop");
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        Self::with_config(RmsPropConfig::default().lr(lr))
    }

    /// RMSProp with every hyperparameter given.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if a value is out of range (see [`RmsPropConfig`]).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{RmsProp, RmsPropConfig};
    /// assert!(RmsProp::<f32>::with_config(RmsPropConfig::default().alpha(f64::NAN)).is_err());
    /// ```
    pub fn with_config(config: RmsPropConfig) -> Result<Self, Error> {
        Ok(RmsProp {
            driver: Driver::new(config)?,
        })
    }
}
