//! RMSProp: steps divided by a running root-mean-square of the gradients, `torch.optim.RMSprop`.

use crate::builder::config;
use crate::check;
use crate::driver::buffers::state;
use crate::driver::{Hyperparameters, momentum_is, Kernel, lr_and_weight_decay, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use num_traits::Float as _;
use crate::ops::{Decay, LerpWeight, WeightDecay, addcdiv, addcmul, decayed, descend};
use crate::pass::{Pass, unswitch};

config! {
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
    pub struct RmsPropConfig {
        /// Learning rate `γ`.
        lr: f64 = 1e-2,
        /// Smoothing constant `α` of the running average of squared gradients.
        alpha: f64 = 0.99,
        /// Term `ε` added to the denominator, outside the square root.
        eps: f64 = 1e-8,
        /// Coupled (L2) weight decay `λ`.
        weight_decay: f64 = 0.0,
        /// Momentum factor `μ`.
        momentum: f64 = 0.0,
        /// Divide by an estimate of the gradient's variance rather than its second moment.
        centered: bool = false,
        /// Maximise the objective instead of minimising it.
        maximize: bool = false,
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
    decay: WeightDecay<A>,
}

state! {
    /// Per-tensor state of RMSProp.
    pub(crate) struct RmsPropState for RmsPropConfig {
        /// The running average of squared gradients `v`.
        square_avg: zeros(),
        /// The running average of gradients (centered RMSProp).
        grad_avg: when(|k| k.centered),
        /// The momentum buffer, created when momentum is first positive.
        momentum_buffer: lazy(),
    }
}

impl<A: Float> RmsPropScalars<A> {
    /// The decayed gradient, and `v` updated with it; `maximize` and `decay` are this step's
    /// decisions, as constants.
    #[inline(always)]
    fn grad_and_square_avg(&self, p: &mut A, g: A, v: &mut A, maximize: bool, decay: Decay) -> A {
        let g = self.decay.apply(p, g, maximize, decay);
        *v = addcmul(decayed(*v, self.alpha), self.one_minus_alpha, g, g);
        g
    }

    /// The centered denominator `√(v − ḡ²) + ε`. The variance is clamped at zero: rounding can
    /// make `v − ḡ²` slightly negative when the gradient is nearly constant, where PyTorch's
    /// square root gives NaN; and it is `∞` where `v` is.
    #[inline(always)]
    fn centered_denominator(&self, g: A, v: A, grad_avg: &mut A) -> A {
        *grad_avg = self.grad_avg_weight.lerp(*grad_avg, g);
        // A second moment that overflowed to `∞` keeps the variance `∞` (PyTorch: `∞ − ∞`
        // = NaN where the average's square overflowed too), so the quotient is 0.
        let variance = if v == A::infinity() {
            v
        } else {
            addcmul(v, -A::one(), *grad_avg, *grad_avg)
        };
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

impl Hyperparameters for RmsPropConfig {
    type Kernel = RmsPropConfig;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::unit("alpha", self.alpha)?;
        check::positive("eps", self.eps)?;
        check::non_negative("weight_decay", self.weight_decay)?;
        check::non_negative("momentum", self.momentum)
    }
    fn kernel(&self) -> RmsPropConfig {
        self.clone()
    }
    lr_and_weight_decay!();
    momentum_is!(momentum);
}

impl<A: Float> Kernel<A> for RmsPropConfig {
    type State = RmsPropState<A>;
    type Scalars = RmsPropScalars<A::Compute>;

    fn scalars(&self, _step: u64, _sum: f64) -> Self::Scalars {
        RmsPropScalars {
            neg_lr: A::Compute::from_f64(-self.lr),
            alpha: A::Compute::from_f64(self.alpha),
            one_minus_alpha: A::Compute::from_f64(1.0 - self.alpha),
            grad_avg_weight: LerpWeight::new(1.0 - self.alpha),
            eps: A::Compute::from_f64(self.eps),
            momentum: A::Compute::from_f64(self.momentum),
            decay: WeightDecay::coupled(self.maximize, self.weight_decay),
        }
    }

    fn update(&self, sc: &Self::Scalars, pass: &mut Pass<'_, A>, state: &mut RmsPropState<A>) {
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
        unswitch! {
            const MAXIMIZE: bool = sc.decay.maximize();
            const DECAY: Decay = sc.decay.form() => [Decay::None, Decay::Coupled];
            match (grad_avg.as_mut(), momentum_buffer) {
                (None, None) => pass.zip1(
                    square_avg,
                    #[inline(always)]
                    move |p, g, v| {
                        let g = sc.grad_and_square_avg(p, g, v, MAXIMIZE, DECAY);
                        sc.apply(p, g, v.sqrt() + sc.eps);
                    },
                ),
                (None, Some(buf)) => pass.zip2(
                    square_avg,
                    buf,
                    #[inline(always)]
                    move |p, g, v, buf| {
                        let g = sc.grad_and_square_avg(p, g, v, MAXIMIZE, DECAY);
                        sc.apply_with_momentum(p, g, v.sqrt() + sc.eps, buf);
                    },
                ),
                (Some(grad_avg), None) => pass.zip2(
                    square_avg,
                    grad_avg,
                    #[inline(always)]
                    move |p, g, v, ga| {
                        let g = sc.grad_and_square_avg(p, g, v, MAXIMIZE, DECAY);
                        let avg = sc.centered_denominator(g, *v, ga);
                        sc.apply(p, g, avg);
                    },
                ),
                (Some(grad_avg), Some(buf)) => pass.zip3(
                    square_avg,
                    grad_avg,
                    buf,
                    #[inline(always)]
                    move |p, g, v, ga, buf| {
                        let g = sc.grad_and_square_avg(p, g, v, MAXIMIZE, DECAY);
                        let avg = sc.centered_denominator(g, *v, ga);
                        sc.apply_with_momentum(p, g, avg, buf);
                    },
                ),
            }
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
    RmsProp, RmsPropConfig, "RmsProp::<f32>::new(0.1)?"
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
        RmsPropConfig::default().lr(lr).build()
    }
}
