//! LAMB: Adam with a per-tensor trust ratio for large-batch training, as NVIDIA apex's
//! `FusedLAMB` and timm's `Lamb` compute it.

use crate::builder::config;
use crate::check;
use crate::driver::buffers::state;
use crate::driver::{Hyperparameters, momentum_is, Kernel, lr_and_weight_decay, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use crate::ops::{
    Decay, LerpWeight, addcmul, agrees, caution_scale, cautious, decayed, descend, quotient,
    saturate,
};
use num_traits::One as _;
use crate::groups::ParamGroup;
use crate::pass::{self, Pass, unswitch};
use crate::tensor::Tensor;

config! {
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
    /// | `caution` | `false` | | `true`: cautious masking, timm's `clamb` (see [`Lamb`]) |
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
    pub struct LambConfig {
        /// Learning rate `γ`.
        lr: f64 = 1e-3,
        /// Decay rates `(β₁, β₂)` of the moment estimates.
        betas: (f64, f64) = (0.9, 0.999),
        /// Term `ε` added to the denominator, after bias-correcting `√v`.
        eps: f64 = 1e-6,
        /// Weight decay `λ`.
        weight_decay: f64 = 0.01,
        /// Divide the moments by `1 − βᵗ`.
        bias_correction: bool = true,
        /// Average the gradient into `m` with weight `1 − β₁` (else weight 1).
        grad_averaging: bool = true,
        /// Global gradient-norm pre-normalisation: when the L2 norm of all gradients together exceeds
        /// this, every gradient is divided by `norm / max_grad_norm`. `None` turns it off.
        max_grad_norm: Option<f64> = Some(1.0),
        /// Cap the trust ratio at 1 (LAMBC).
        trust_clip: bool = false,
        /// Apply the trust ratio to tensors without weight decay too.
        always_adapt: bool = false,
        /// Apply weight decay to the parameter directly, outside the trust ratio.
        decoupled_decay: bool = false,
        /// Cautious masking of Adam's direction, before the decay and the trust ratio (see
        /// [`Lamb`]).
        caution: bool = false,
    }
}

/// What LAMB runs for one parameter group: its hyperparameters, and the group's choice of
/// layer adaptation when it makes one ([`ParamGroup::layer_adaptation`]).
#[derive(Clone, Debug)]
pub(crate) struct LambKernel {
    config: LambConfig,
    layer_adaptation: Option<bool>,
}

#[derive(Clone, Copy)]
pub(crate) struct LambScalars<A> {
    /// Whether pre-normalisation is on: `g ← g / c`.
    clips: bool,
    /// `c = max(‖G‖ / max_grad_norm, 1)`.
    clip: A,
    /// Whether `m ← lerp(m, g, 1 − β₁)` (grad averaging), else `m ← β₁m + 1·g`.
    averages: bool,
    exp_avg_weight: LerpWeight<A>,
    beta1: A,
    beta2: A,
    one_minus_beta2: A,
    bias_correction1: A,
    bias_correction2_sqrt: A,
    eps: A,
    /// Coupled: `λ` enters the update; decoupled: `p ← p − γλp` before it.
    decay: Decay,
    /// `λ`, when it enters the update (coupled).
    weight_decay: A,
    /// `−γλ`, when it is applied to the parameter directly (decoupled).
    neg_decoupled_decay: A,
    adapt: bool,
    trust_clip: bool,
    neg_lr: A,
    caution: bool,
}

state! {
    /// Per-tensor state of LAMB.
    pub(crate) struct LambState for LambKernel {
        /// The first moment `m`.
        exp_avg: zeros(),
        /// The second moment `v`.
        exp_avg_sq: zeros(),
    }
}

/// The variant decisions of one LAMB step, as constants of the element loops (see
/// [`unswitch!`]).
#[derive(Clone, Copy)]
struct Variant {
    clips: bool,
    averages: bool,
    decay: Decay,
}

impl<A: Float> LambScalars<A> {
    /// The gradient after pre-normalisation, `g / c`.
    #[inline(always)]
    fn normalised(&self, g: A, variant: Variant) -> A {
        if variant.clips { g / self.clip } else { g }
    }

    /// Gradient normalisation, both moments, and decoupled decay on the parameter.
    #[inline(always)]
    fn moments(&self, p: &mut A, g: A, m: &mut A, v: &mut A, variant: Variant) {
        let g = self.normalised(g, variant);
        *m = if variant.averages {
            self.exp_avg_weight.lerp(*m, g)
        } else {
            g.mul_add(A::one(), *m * self.beta1)
        };
        *v = addcmul(decayed(*v, self.beta2), self.one_minus_beta2, g, g);
        if variant.decay == Decay::Decoupled {
            *p = p.mul_add(self.neg_decoupled_decay, *p);
        }
    }

    /// The parameter after decoupled decay, `p − γλp` (unchanged in the other variants), as
    /// [`moments`](Self::moments) decays it.
    #[inline(always)]
    fn decoupled(&self, p: A, variant: Variant) -> A {
        if variant.decay == Decay::Decoupled {
            p.mul_add(self.neg_decoupled_decay, p)
        } else {
            p
        }
    }

    /// Adam's direction `(m/bc₁) / (√v/√bc₂ + ε)`. An element that overflows (a tiny `ε` under
    /// a vanishing `v`) is held at the type's largest finite value, so that the trust ratio
    /// scales it instead of turning it into NaN (`∞·0`).
    #[inline(always)]
    fn adam_direction(&self, m: A, v: A) -> A {
        let denom = v.sqrt() / self.bias_correction2_sqrt + self.eps;
        saturate(quotient(m / self.bias_correction1, denom))
    }

    /// The update direction `u = m̃ [+ λp]`, from Adam's direction `m̃` (masked when cautious).
    #[inline(always)]
    fn with_decay(&self, p: A, u: A, variant: Variant) -> A {
        if variant.decay == Decay::Coupled {
            p.mul_add(self.weight_decay, u)
        } else {
            u
        }
    }
}

impl Hyperparameters for LambConfig {
    type Kernel = LambKernel;

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
    fn kernel(&self) -> LambKernel {
        LambKernel {
            config: self.clone(),
            layer_adaptation: None,
        }
    }
    fn group_kernel(&self, group: &ParamGroup) -> Result<LambKernel, Error> {
        Ok(LambKernel {
            config: self.for_group(group)?,
            layer_adaptation: group.layer_adaptation,
        })
    }
    lr_and_weight_decay!();
    momentum_is!(betas.0);
}

impl<A: Float> Kernel<A> for LambKernel {
    type State = LambState<A>;
    type Scalars = LambScalars<A::Compute>;

    /// Pre-normalisation needs the global gradient norm: `Σ g²` of every tensor.
    fn reduces(&self) -> bool {
        self.config.max_grad_norm.is_some()
    }
    fn reduce(&self, grad: &dyn Tensor<A>) -> f64 {
        pass::sum_of_squares(grad)
    }

    /// timm counts steps per group, every group every step, gradient or not.
    fn steps_per_tensor(&self) -> bool {
        false
    }

    fn scalars(&self, step: u64, squares: f64) -> Self::Scalars {
        let LambKernel {
            config: c,
            layer_adaptation,
        } = self;
        // `max(‖G‖ / max_grad_norm, 1)` over all gradients, when pre-normalisation is on.
        let clip = c.max_grad_norm.map(|max| (squares.sqrt() / max).max(1.0));
        let (beta1, beta2) = c.betas;
        let (bias_correction1, bias_correction2) = if c.bias_correction {
            let t = step as f64;
            (1.0 - beta1.powf(t), 1.0 - beta2.powf(t))
        } else {
            (1.0, 1.0)
        };
        let decays = c.weight_decay != 0.0;
        LambScalars {
            clips: clip.is_some(),
            clip: A::Compute::from_f64(clip.unwrap_or(1.0)),
            averages: c.grad_averaging,
            exp_avg_weight: LerpWeight::new(1.0 - beta1),
            beta1: A::Compute::from_f64(beta1),
            beta2: A::Compute::from_f64(beta2),
            one_minus_beta2: A::Compute::from_f64(1.0 - beta2),
            bias_correction1: A::Compute::from_f64(bias_correction1),
            bias_correction2_sqrt: A::Compute::from_f64(bias_correction2.sqrt()),
            eps: A::Compute::from_f64(c.eps),
            decay: match (decays, c.decoupled_decay) {
                (false, _) => Decay::None,
                (true, false) => Decay::Coupled,
                (true, true) => Decay::Decoupled,
            },
            weight_decay: A::Compute::from_f64(c.weight_decay),
            neg_decoupled_decay: A::Compute::from_f64(-c.lr * c.weight_decay),
            adapt: layer_adaptation.unwrap_or(decays || c.always_adapt),
            trust_clip: c.trust_clip,
            neg_lr: A::Compute::from_f64(-c.lr),
            caution: c.caution,
        }
    }

    fn update(&self, sc: &Self::Scalars, pass: &mut Pass<'_, A>, state: &mut LambState<A>) {
        let sc = *sc;
        let LambState {
            exp_avg,
            exp_avg_sq,
        } = state;
        unswitch! {
            const CLIPS: bool = sc.clips;
            const AVERAGES: bool = sc.averages;
            const DECAY: Decay = sc.decay => [Decay::None, Decay::Coupled, Decay::Decoupled];
            const CAUTION: bool = sc.caution;
            {
                // A constant, not a captured value: each copy of the loops has its own.
                const V: Variant = Variant {
                    clips: CLIPS,
                    averages: AVERAGES,
                    decay: DECAY,
                };
                // 0. Cautious masking needs the count of agreeing elements of Adam's direction
                // first: the moments and the count in one pass (which leaves the parameter as
                // it was: the later passes decay it, so that it is stored and rounded once).
                let scale = if CAUTION {
                    let agreeing = pass.zip2_count(
                        exp_avg,
                        exp_avg_sq,
                        #[inline(always)]
                        move |mut p, g, m, v| {
                            sc.moments(&mut p, g, m, v, V);
                            agrees(sc.adam_direction(*m, *v), sc.normalised(g, V))
                        },
                    );
                    caution_scale::<A::Compute>(agreeing, pass.len())
                } else {
                    A::Compute::one()
                };
                // The parameter after decoupled decay: stored by pass 1 unless cautious, else
                // decayed where it is read.
                let decayed = move |p: A::Compute| {
                    if CAUTION { sc.decoupled(p, V) } else { p }
                };
                // The direction `u` from the updated moments and the parameter after decay.
                let direction = move |p: A::Compute, g: A::Compute, m: A::Compute, v: A::Compute| {
                    let u = sc.adam_direction(m, v);
                    let u = if CAUTION {
                        cautious(u, sc.normalised(g, V), scale)
                    } else {
                        u
                    };
                    sc.with_decay(p, u, V)
                };
                // 1. Moments (and decoupled decay, which the trust ratio then sees), unless the
                // cautious count did them; 2. the trust ratio ‖p‖ / ‖u‖ of this tensor
                // ("layer"), 1 when either norm is zero. One pass when it can.
                let ratio = if sc.adapt {
                    let (p_squares, u_squares) = if CAUTION {
                        pass.sum_squares_logical(
                            exp_avg,
                            exp_avg_sq,
                            #[inline(always)]
                            move |p, g, m, v| {
                                let p = decayed(p);
                                (p, direction(p, g, m, v))
                            },
                        )
                    } else {
                        pass.zip2_then_sum_squares(
                            exp_avg,
                            exp_avg_sq,
                            #[inline(always)]
                            move |p, g, m, v| sc.moments(p, g, m, v, V),
                            #[inline(always)]
                            move |p, g, m, v| (p, direction(p, g, m, v)),
                        )
                    };
                    let (mut p_norm, mut u_norm) = (Norm::of(p_squares), Norm::of(u_squares));
                    if !(p_squares.is_finite() && u_squares.is_finite()) {
                        // Only `f64` elements can overflow an `f64` sum of squares: sum again,
                        // scaled by a power of two (exact), the norm that overflowed.
                        let s = A::Compute::from_f64(Norm::SCALE);
                        let (ps, us) = pass.sum_squares_logical(
                            exp_avg,
                            exp_avg_sq,
                            #[inline(always)]
                            move |p, g, m, v| {
                                let p = decayed(p);
                                (p * s, direction(p, g, m, v) * s)
                            },
                        );
                        if !p_squares.is_finite() {
                            p_norm = Norm::scaled(ps);
                        }
                        if !u_squares.is_finite() {
                            u_norm = Norm::scaled(us);
                        }
                    }
                    let ratio = p_norm.ratio(u_norm);
                    // A ratio beyond `A`'s range is held at its largest value: `∞·0` is NaN.
                    saturate(A::Compute::from_f64(if sc.trust_clip { ratio.min(1.0) } else { ratio }))
                } else {
                    if !CAUTION {
                        pass.zip2(
                            exp_avg,
                            exp_avg_sq,
                            #[inline(always)]
                            move |p, g, m, v| sc.moments(p, g, m, v, V),
                        );
                    }
                    A::Compute::one()
                };
                // 3. The step.
                pass.zip2(
                    exp_avg,
                    exp_avg_sq,
                    #[inline(always)]
                    move |p, g, m, v| {
                        let q = decayed(*p);
                        let u = direction(q, g, *m, *v) * ratio;
                        *p = descend(q, u, sc.neg_lr);
                    },
                );
            }
        }
    }
}

/// An L2 norm `√(Σx²)·2^exponent`, so that a norm whose plain sum of squares overflows `f64`
/// (huge `f64` parameters) is still exact enough for the trust ratio.
#[derive(Clone, Copy, Debug)]
struct Norm {
    root: f64,
    exponent: i32,
}

impl Norm {
    /// The scale of the second sum: `(x·2⁻⁶⁰⁰)²` is below `2⁸⁴⁸` for every finite `f64` `x`,
    /// so the sum cannot overflow.
    const SCALE: f64 = 2.409919865102884e-181; // 2⁻⁶⁰⁰

    fn of(squares: f64) -> Self {
        Norm {
            root: squares.sqrt(),
            exponent: 0,
        }
    }

    fn scaled(squares: f64) -> Self {
        Norm {
            root: squares.sqrt(),
            exponent: 600,
        }
    }

    /// `self / other`, 1 when either norm is zero (or, after an overflow, not finite).
    fn ratio(self, other: Norm) -> f64 {
        let usable = |n: Norm| n.root > 0.0 && n.root.is_finite();
        if usable(self) && usable(other) {
            (self.root / other.root) * 2f64.powi(self.exponent - other.exponent)
        } else {
            1.0
        }
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
    /// u ← u · mask / max(mean(mask), 10⁻³),  mask = (u·g > 0)     if caution
    /// u ← u + λ·p                              if λ ≠ 0 (p ← p − γλp instead if decoupled_decay)
    /// r = ‖p‖ / ‖u‖  (1 if either is 0; min(r, 1) if trust_clip)   if λ ≠ 0 or always_adapt
    /// p ← p − γ·r·u
    /// ```
    ///
    /// Norms are summed in `f64` in each tensor's logical order with a fixed blocking, so the
    /// result does not depend on the memory layout. Defaults are timm's: see [`LambConfig`].
    /// `caution` is cautious masking (Liang et al., 2024) as timm's `Lamb(caution=True)`
    /// computes it (timm's `clamb`): Adam's direction is masked where its sign disagrees with
    /// the (normalised) gradient's, before the decay and the trust ratio; the count of agreeing
    /// elements takes a pass of its own.
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
    Lamb, LambConfig, "Lamb::<f32>::new(0.1)?"
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
        LambConfig::default().lr(lr).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NonFinitePolicy, Optimizer, StepOutcome};
    use ndarray::array;

    /// The global norm's sum doubles as the non-finite check; a sum that overflows from finite
    /// `f64` gradients must not be taken for a non-finite gradient.
    #[test]
    fn the_gradient_norm_is_the_non_finite_check() {
        let mut w = array![1.0_f64, 2.0];
        let mut lamb = Lamb::<f64>::new(0.01).unwrap();
        lamb.step(&mut w, &array![1e200, -1e200]).unwrap(); // Σg² = ∞, every g finite
        assert_eq!(lamb.step_count(), 1);
        let before = w.clone();
        let err = lamb.step(&mut w, &array![0.5, f64::NAN]).unwrap_err();
        assert!(matches!(err, Error::NonFiniteGradient { index: 0, .. }), "{err:?}");
        assert_eq!(w, before);
        lamb.set_non_finite_policy(NonFinitePolicy::SkipStep);
        lamb.step(&mut w, &array![f64::INFINITY, 0.0]).unwrap();
        assert!(matches!(lamb.last_step(), StepOutcome::Skipped { .. }));
        assert_eq!((lamb.step_count(), lamb.skipped_steps()), (1, 1));
        assert_eq!(w, before);
    }
}
