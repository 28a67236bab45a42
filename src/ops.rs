//! PyTorch's element-wise tensor operations, rounding for rounding.
//!
//! Each function reproduces what one `torch` CPU kernel computes for one element (see
//! `docs/numerics.md`): where PyTorch fuses a multiply and an add into one FMA, so do we
//! (`mul_add`), and where it rounds twice, so do we. Scalars arrive already rounded to `A` from
//! `f64`.

use crate::float::Float;

/// The form of weight decay, one of the variant decisions a kernel makes once per step (see
/// [`unswitch!`](crate::pass::unswitch)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decay {
    /// No weight decay (`λ = 0`).
    None,
    /// L2 decay into the gradient, `g ← g + λ·p` (PyTorch's default).
    Coupled,
    /// AdamW's decay of the parameter itself, `p ← p·(1 − γλ)`.
    Decoupled,
}

/// What PyTorch's optimizers do to the gradient and the parameter before anything else, decided
/// once per step: `g ← −g` under `maximize`, then either L2 decay into the gradient,
/// `g ← g + λ·p` as `fma(p, λ, g)` (coupled, PyTorch's default; held within the type's finite
/// range where huge `p` and `g` would overflow it), or AdamW's decoupled decay of
/// the parameter itself, `p ← p·(1 − γλ)` on the old parameter (Adam, NAdam and RAdam with
/// `decoupled_weight_decay`, and AdamW).
///
/// The two decisions, [`maximize`](Self::maximize) and [`form`](Self::form), are constants of
/// the element loop: a kernel turns them into constants with
/// [`unswitch!`](crate::pass::unswitch) and passes them to [`apply`](Self::apply), so that
/// each variant's loop is straight-line arithmetic.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WeightDecay<A> {
    maximize: bool,
    form: Decay,
    /// `λ`, for the coupled form.
    weight_decay: A,
    /// `1 − γλ`, for the decoupled form.
    factor: A,
}

impl<A: Float> WeightDecay<A> {
    /// `maximize`, and weight decay `weight_decay` in the given form; `lr` is the learning rate
    /// the decoupled form multiplies it by.
    pub(crate) fn new(maximize: bool, weight_decay: f64, decoupled: bool, lr: f64) -> Self {
        let form = match (weight_decay != 0.0, decoupled) {
            (false, _) => Decay::None,
            (true, false) => Decay::Coupled,
            (true, true) => Decay::Decoupled,
        };
        WeightDecay {
            maximize,
            form,
            weight_decay: A::from_f64(weight_decay),
            factor: A::from_f64(1.0 - lr * weight_decay),
        }
    }

    /// `maximize` and coupled (L2) decay only: SGD, Adagrad, RMSProp, Adadelta, Adamax.
    pub(crate) fn coupled(maximize: bool, weight_decay: f64) -> Self {
        Self::new(maximize, weight_decay, false, 0.0)
    }

    /// Whether the gradient is negated.
    pub(crate) fn maximize(self) -> bool {
        self.maximize
    }

    /// Which form of decay applies.
    pub(crate) fn form(self) -> Decay {
        self.form
    }

    /// The gradient the update sees; decays `p` itself in the decoupled form. `maximize` and
    /// `form` must be [`maximize`](Self::maximize) and [`form`](Self::form), as constants.
    #[inline(always)]
    pub(crate) fn apply(self, p: &mut A, g: A, maximize: bool, form: Decay) -> A {
        debug_assert!(maximize == self.maximize && form == self.form);
        let g = if maximize { -g } else { g };
        match form {
            Decay::None => g,
            // Held at the largest finite value: a gradient that overflowed here would make
            // NaN of the averages it enters (`0·∞` with a dampening or `ρ` of 1, `∞ − ∞`).
            Decay::Coupled => saturate(p.mul_add(self.weight_decay, g)),
            Decay::Decoupled => {
                *p = *p * self.factor; // on the old parameter, before the moments
                g
            }
        }
    }
}

/// `self.addcmul_(t1, t2, value=v)`: `fma(v·t1, t2, self)`, the product `v·t1` rounded first.
#[inline(always)]
pub(crate) fn addcmul<A: Float>(s: A, v: A, t1: A, t2: A) -> A {
    (v * t1).mul_add(t2, s)
}

/// `self.addcdiv_(t1, t2, value=v)`: `self + (v·t1) / t2`, three roundings, no FMA, except
/// that a denominator `t2 = +∞` gives a zero quotient (see [`quotient`]).
#[inline(always)]
pub(crate) fn addcdiv<A: Float>(s: A, v: A, t1: A, t2: A) -> A {
    s + quotient(v * t1, t2)
}

/// `n / d` for a denominator `d ≥ 0`, except that `d = +∞` gives `±0` (the sign of `n`) also
/// where `n` is infinite.
///
/// Identical wherever PyTorch's quotient is not NaN. The denominators are `√v + ε` of a second
/// moment `v`: `∞` only after a squared gradient overflowed, and then the numerator, the same
/// huge gradient times a step size, often has too, where PyTorch's `∞/∞` writes NaN into the
/// parameter. The quotient of the finite values it stands for is 0. (A NaN numerator over an
/// infinite denominator would also give 0; it cannot arise from one step's gradient, which makes
/// the denominator NaN too.) One comparison and one select per element, on the vector path.
#[inline(always)]
pub(crate) fn quotient<A: Float>(n: A, d: A) -> A {
    if d == A::infinity() {
        A::zero().copysign(n)
    } else {
        n / d
    }
}

/// The weight of `torch.lerp_`, with the branch PyTorch takes for it decided once per step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LerpWeight<A> {
    weight: A,
    /// `1 - weight`, computed in `A` as PyTorch does.
    complement: A,
    small: bool,
}

impl<A: Float> LerpWeight<A> {
    pub(crate) fn new(weight: f64) -> Self {
        let weight = A::from_f64(weight);
        LerpWeight {
            weight,
            complement: A::one() - weight,
            small: weight.abs() < A::from_f64(0.5),
        }
    }

    /// `start.lerp_(end, weight)`: `fma(w, end - start, start)` for `|w| < 0.5`, else
    /// `fma(-(end - start), 1 - w, end)`, each with one rounding.
    ///
    /// As in PyTorch, two finite values of opposite signs whose difference is beyond the type's
    /// range (each above half its maximum) average to `±∞`, or NaN with a weight of 1 (see
    /// `docs/numerics.md`: guarding it would cost every step).
    #[inline(always)]
    pub(crate) fn lerp(self, start: A, end: A) -> A {
        let diff = end - start;
        if self.small {
            self.weight.mul_add(diff, start)
        } else {
            (-diff).mul_add(self.complement, end)
        }
    }
}

/// `p.add_(u, alpha=−γ)`: `fma(u, −γ, p)`, except that a zero learning rate leaves `p` as it is.
///
/// Identical for every finite `u`; the difference is an update that overflowed to `∞`, where
/// PyTorch's `∞·0` writes NaN into the parameter although the learning rate is zero.
#[inline(always)]
pub(crate) fn descend<A: Float>(p: A, u: A, neg_lr: A) -> A {
    if neg_lr == A::zero() {
        p
    } else {
        u.mul_add(neg_lr, p)
    }
}

/// `x·β` for a decay factor `β` of a running average, except that `β = 0` forgets `x` entirely.
///
/// Identical to `x·β` for every finite `x`; the difference is an `x` that overflowed to `∞` (a
/// squared gradient beyond the type's range), where PyTorch's `∞·0` gives NaN and poisons the
/// parameter for good.
#[inline(always)]
pub(crate) fn decayed<A: Float>(x: A, beta: A) -> A {
    if beta == A::zero() {
        A::zero()
    } else {
        x * beta
    }
}

/// `x` limited to the largest finite values of its type; NaN passes through.
///
/// Identical for every finite `x`. Used where an overflowed `±∞` would otherwise meet a zero
/// (LAMB's trust ratio becomes 0 when ‖u‖ = ∞, and `∞·0` is NaN).
#[inline(always)]
pub(crate) fn saturate<A: Float>(x: A) -> A {
    // In this form (the limit first, `x` last) each select is one `minps`/`maxps`, which
    // returns its second operand, `x`, when it is NaN.
    let max = A::max_value();
    let x = if max < x { max } else { x };
    if -max > x { -max } else { x }
}

/// Cautious masking (Liang et al., 2024, "Cautious Optimizers"), as timm computes it: the
/// update components whose sign disagrees with the gradient's are dropped, and the others scaled
/// by the inverse of the fraction kept, so the update keeps its size on average:
///
/// ```text
/// mask = (u·g > 0)                         (as 0 or 1, from the rounded product)
/// u ← u · mask / max(mean(mask), 10⁻³)
/// ```
///
/// A kernel counts the agreeing elements of a tensor ([`agrees`]) in its first pass and applies
/// [`cautious`] with this scale in the next one.
///
/// The mean is the exact count divided by the tensor's size in the element type (one rounding,
/// as PyTorch's CPU `mean`, which sums the 0/1 mask exactly below 2²⁴ elements, then divides),
/// the floor is `f32(1e-3)` or `f64(1e-3)`, and the scale `1 / max(mean, floor)` is rounded once,
/// as timm's `mask.div_(mask.mean().clamp_(min=1e-3))` computes each element of the mask.
pub(crate) fn caution_scale<A: Float>(count: usize, len: usize) -> A {
    let mean = A::from_f64(count as f64) / A::from_f64(len as f64);
    let floor = A::from_f64(1e-3);
    A::one() / if mean > floor { mean } else { floor }
}

/// Whether an update component `u` agrees in sign with the gradient `g`: `u·g > 0`, the
/// product rounded (an underflow to 0 does not agree), as timm's `(u * grad > 0)`.
#[inline(always)]
pub(crate) fn agrees<A: Float>(u: A, g: A) -> bool {
    u * g > A::zero()
}

/// `u · mask`, where the mask is [`caution_scale`]'s `scale` where `u` [`agrees`] with `g` and 0
/// elsewhere: timm's `exp_avg * mask` (a dropped component is `u·0`, a signed zero).
#[inline(always)]
pub(crate) fn cautious<A: Float>(u: A, g: A, scale: A) -> A {
    u * if agrees(u, g) { scale } else { A::zero() }
}

/// `torch.maximum(a, b)`: like `max`, but a NaN in either operand propagates.
#[inline(always)]
pub(crate) fn maximum<A: Float>(a: A, b: A) -> A {
    if a.is_nan() || a > b { a } else { b }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // bit-exact on purpose
mod tests {
    use super::*;

    #[test]
    fn lerp_takes_pytorchs_branches() {
        let small = LerpWeight::<f32>::new(0.1);
        assert_eq!(small.lerp(1.0, 3.0), 0.1f32.mul_add(2.0, 1.0));
        let large = LerpWeight::<f32>::new(0.7);
        assert_eq!(large.lerp(1.0, 3.0), (-2.0f32).mul_add(1.0 - 0.7f32, 3.0));
        assert_eq!(LerpWeight::<f64>::new(1.0).lerp(5.0, 7.0), 7.0);
        assert_eq!(LerpWeight::<f64>::new(0.0).lerp(5.0, 7.0), 5.0);
    }

    #[test]
    fn maximum_propagates_nan() {
        assert!(maximum(f32::NAN, 1.0).is_nan());
        assert!(maximum(1.0, f32::NAN).is_nan());
        assert_eq!(maximum(1.0, 2.0), 2.0);
    }

    #[test]
    fn weight_decay_negates_before_decaying() {
        let mut p = 2.0;
        let apply = |decay: WeightDecay<f64>, p: &mut f64, g| {
            decay.apply(p, g, decay.maximize(), decay.form())
        };
        assert_eq!(apply(WeightDecay::coupled(true, 0.5), &mut p, 1.0), 0.0);
        assert_eq!(apply(WeightDecay::coupled(false, 0.0), &mut p, 1.0), 1.0);
        assert_eq!(p, 2.0);
        let decoupled = WeightDecay::new(false, 0.5, true, 0.1);
        assert_eq!(decoupled.form(), Decay::Decoupled);
        assert_eq!(apply(decoupled, &mut p, 1.0), 1.0);
        assert_eq!(p, 2.0 * (1.0 - 0.1 * 0.5));
    }
}
