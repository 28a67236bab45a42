//! Prodigy: learning-rate-free Adam (Mishchenko & Defazio, 2024), as the `prodigyopt` package
//! computes it.

use crate::builder::config;
use crate::check;
use crate::driver::buffers::state;
use crate::driver::{Hyperparameters, Kernel, lr_and_weight_decay, momentum_is, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use crate::ops::{addcdiv, addcmul, decayed, saturate};
use crate::pass::{Pass, unswitch};
use num_traits::{Float as _, Zero as _};

config! {
    /// Hyperparameters of [`Prodigy`]: those of `prodigyopt.Prodigy` (version 1.1.2), with its
    /// defaults.
    ///
    /// | field | default | valid | notes |
    /// |---|---|---|---|
    /// | `lr` | `1.0` | `≥ 0` (`> 0` to build) | a multiplier of the estimated step size `d`: leave it at 1 |
    /// | `betas` | `(0.9, 0.999)` | each in `[0, 1)` | `β₁ = 0`: no first moment (one buffer less) |
    /// | `beta3` | `None` = `√β₂` | in `[0, 1]` | decay of `s` and of the numerator of `d` |
    /// | `eps` | `1e-8` | `> 0` | multiplied by `d` in the denominator |
    /// | `weight_decay` | `0` | `≥ 0` | |
    /// | `decouple` | `true` (AdamW's form, `p ← p − d̃λp`) | | `false`: `g ← g + λp` |
    /// | `use_bias_correction` | `false` | | Adam's `√(1 − β₂ᵏ⁺¹)/(1 − β₁ᵏ⁺¹)` in the step |
    /// | `safeguard_warmup` | `false` | | `s` accumulated with `d`, not with the scheduled `d̃` |
    /// | `d0` | `1e-6` | `> 0` | the starting estimate of `d` |
    /// | `d_coef` | `1.0` | `> 0` | multiplies the estimate: the preferred knob (0.5, 2) |
    /// | `growth_rate` | `∞` | `> 0` | `d` grows at most by this factor per step (1.02: a warmup) |
    /// | `slice_p` | `1` | `1` only | the reference's estimate from every `p`-th element is not supported |
    ///
    /// The reference's `fsdp_in_use` (its two sums all-reduced across processes) has no field:
    /// every tensor of the step is here, and the sums are over all of them.
    ///
    /// **Parameter groups** share one estimate of `d` (the reference keeps it in every group's
    /// dictionary, and reads group 0's): a group may set its own `weight_decay`, `eps` and
    /// `safeguard_warmup`, and its learning rate must be 0 or the largest of all groups' (the
    /// reference's rule). Other per-group values (`betas`, `beta3`, `d0`, `d_coef`,
    /// `growth_rate`, `use_bias_correction`, `decouple`), which the reference would ignore, are
    /// refused by `step` with [`Error::Unsupported`], as is a learning rate that breaks the rule.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Prodigy, ProdigyConfig};
    ///
    /// let opt: Prodigy<f32> =
    ///     ProdigyConfig::default().weight_decay(0.01).safeguard_warmup(true).build()?;
    /// assert_eq!(opt.config().lr, 1.0);
    /// assert!(ProdigyConfig::default().slice_p(11).build::<f32>().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub struct ProdigyConfig {
        /// Learning-rate multiplier `γ` of the estimated step size (leave it at 1).
        lr: f64 = 1.0,
        /// Decay rates `(β₁, β₂)` of the moment estimates.
        betas: (f64, f64) = (0.9, 0.999),
        /// Decay rate `β₃` of `s` and of the numerator of the estimate; `None` is `√β₂`.
        beta3: Option<f64> = None,
        /// Term `ε` (times `d`) added to the denominator.
        eps: f64 = 1e-8,
        /// Weight decay `λ`: decoupled or coupled, see `decouple`.
        weight_decay: f64 = 0.0,
        /// Decoupled weight decay (AdamW's form, `p ← p − d̃λp`) instead of `g ← g + λp`.
        decouple: bool = true,
        /// Adam's bias correction in the step size.
        use_bias_correction: bool = false,
        /// Accumulate `s` with `d` rather than with the step size `d̃` (which a warmup schedule
        /// makes small).
        safeguard_warmup: bool = false,
        /// The starting estimate `d₀` of `d`.
        d0: f64 = 1e-6,
        /// Coefficient of the estimate of `d`.
        d_coef: f64 = 1.0,
        /// Largest factor by which `d` grows in one step (`∞`: unbounded).
        growth_rate: f64 = f64::INFINITY,
        /// Statistics from every `slice_p`-th element; only 1 (every element) is supported.
        slice_p: usize = 1,
    }
}

impl ProdigyConfig {
    /// `β₃`: as set, else `√β₂`.
    fn beta3_or_default(&self) -> f64 {
        self.beta3.unwrap_or_else(|| self.betas.1.sqrt())
    }

    /// Whether two groups' configurations agree on what the one estimate of `d` is made of.
    #[allow(clippy::float_cmp)] // the same values, exactly
    fn same_estimate(&self, other: &Self) -> bool {
        self.betas == other.betas
            && self.beta3 == other.beta3
            && self.d0 == other.d0
            && self.d_coef == other.d_coef
            && self.growth_rate == other.growth_rate
            && self.use_bias_correction == other.use_bias_correction
            && self.decouple == other.decouple
    }

    /// The scalars of one step's first pass for this group: `lr` the largest learning rate of
    /// all groups, `d` and `k` the shared estimate and step count, before the step.
    fn first_pass<A: Float>(&self, lr: f64, d: f64, k: f64) -> ProdigyScalars<A> {
        let (beta1, beta2) = self.betas;
        let bias_correction = if self.use_bias_correction {
            (1.0 - beta2.powf(k + 1.0)).powf(0.5) / (1.0 - beta1.powf(k + 1.0))
        } else {
            1.0
        };
        let dlr = d * lr * bias_correction;
        let decays = self.weight_decay != 0.0;
        ProdigyScalars {
            active: self.lr > 0.0,
            coupled: decays && !self.decouple,
            decoupled: decays && self.decouple,
            weight_decay: A::from_f64(self.weight_decay),
            beta1: A::from_f64(beta1),
            beta2: A::from_f64(beta2),
            beta3: A::from_f64(self.beta3_or_default()),
            exp_avg_weight: A::from_f64(d * (1.0 - beta1)),
            exp_avg_sq_weight: A::from_f64(d * d * (1.0 - beta2)),
            s_weight: A::from_f64(if self.safeguard_warmup {
                (d / self.d0) * d
            } else {
                (d / self.d0) * dlr
            }),
            numerator_weight: (d / self.d0) * dlr,
            dlr,
            neg_dlr: A::from_f64(-dlr),
            neg_decay: A::from_f64(-self.weight_decay * dlr),
            // Set between the passes, from the new `d`.
            eps_d: A::from_f64(d * self.eps),
            neg_dlr_d: A::from_f64(-dlr * d),
            moves: true,
        }
    }
}

/// The largest learning rate of the groups (Python's `max` over them).
fn largest_lr(kernels: &[ProdigyConfig]) -> f64 {
    kernels
        .iter()
        .map(|k| k.lr)
        .fold(kernels[0].lr, |max, lr| if lr > max { lr } else { max })
}

/// Python's `max(a, b)`: `a` unless `b > a` (so a NaN `b` leaves `a`).
fn py_max(a: f64, b: f64) -> f64 {
    if b > a { b } else { a }
}

/// Python's `min(a, b)`: `a` unless `b < a`.
fn py_min(a: f64, b: f64) -> f64 {
    if b < a { b } else { a }
}

/// The running values every group holds, as the reference's group dictionaries do (all
/// groups are given group 0's `d`, `d_max` and `d_numerator` after each step; each counts its
/// own `k`), and their starting values.
const D: usize = 0;
const D_MAX: usize = 1;
const D_NUMERATOR: usize = 2;
const K: usize = 3;

impl Hyperparameters for ProdigyConfig {
    type Kernel = ProdigyConfig;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::beta("betas[0]", self.betas.0)?;
        check::beta("betas[1]", self.betas.1)?;
        if let Some(beta3) = self.beta3 {
            check::unit("beta3", beta3)?;
        }
        check::positive("eps", self.eps)?;
        check::non_negative("weight_decay", self.weight_decay)?;
        check::positive("d0", self.d0)?;
        check::positive("d_coef", self.d_coef)?;
        check::require(
            self.growth_rate > 0.0,
            "growth_rate",
            self.growth_rate,
            "must be > 0 (∞: unbounded)",
        )?;
        check::require(
            self.slice_p == 1,
            "slice_p",
            self.slice_p as f64,
            "must be 1: the estimate from every p-th element is not supported",
        )
    }
    /// The reference's constructor refuses `lr = 0`; a schedule may reach it.
    fn validate_new(&self) -> Result<(), Error> {
        check::positive("lr", self.lr)
    }
    fn kernel(&self) -> ProdigyConfig {
        self.clone()
    }
    lr_and_weight_decay!();
    momentum_is!(betas.0);
}

#[derive(Clone, Copy)]
pub(crate) struct ProdigyScalars<A> {
    /// The group's learning rate is not 0: its tensors enter the estimate (the first pass).
    active: bool,
    /// `g ← g + λp` (the first pass, and the second when `β₁ = 0`).
    coupled: bool,
    /// `p ← p − d̃λp` (the second pass).
    decoupled: bool,
    weight_decay: A,
    beta1: A,
    beta2: A,
    beta3: A,
    /// `d(1 − β₁)`.
    exp_avg_weight: A,
    /// `d²(1 − β₂)`.
    exp_avg_sq_weight: A,
    /// `(d/d₀)·d` with `safeguard_warmup`, else `(d/d₀)·d̃`.
    s_weight: A,
    /// `(d/d₀)·d̃`, the weight of this step's `⟨g, x₀ − x⟩` in the numerator.
    numerator_weight: f64,
    /// `d̃ = d·γ·bias correction`, with the `d` before the step.
    dlr: f64,
    neg_dlr: A,
    /// `−λ·d̃`.
    neg_decay: A,
    /// `d′·ε`, with the new `d′`.
    eps_d: A,
    /// `−d̃·d′`, the step size when `β₁ = 0`.
    neg_dlr_d: A,
    /// The second pass moves the parameters (set between the passes: not when there was no
    /// progress, where the reference ends the step with the moments and `s` updated).
    moves: bool,
}

impl<A: Float> ProdigyScalars<A> {
    /// The gradient with coupled decay, `g + λp` (held finite, as every coupled decay).
    #[inline(always)]
    fn grad(&self, p: A, g: A, coupled: bool) -> A {
        if coupled {
            saturate(p.mul_add(self.weight_decay, g))
        } else {
            g
        }
    }

    /// The new `s` of one element and its gradient (with coupled decay), for the terms of the
    /// two sums (the first pass) and the update (the second).
    #[inline(always)]
    fn s_and_grad(&self, p: A, g: A, s: A, coupled: bool) -> (A, A) {
        let g = self.grad(p, g, coupled);
        (g.mul_add(self.s_weight, decayed(s, self.beta3)), g)
    }

    /// The terms of one element in the two sums: `⟨g, x₀ − x⟩` and `|s|` of the new `s`.
    #[inline(always)]
    fn terms(&self, p: A, g: A, x0: A, s: A, coupled: bool) -> [f64; 2] {
        let (s, g) = self.s_and_grad(p, g, s, coupled);
        [g.widen() * (x0 - p).widen(), s.widen().abs()]
    }

    /// The second moment and `s` of one element, updated; returns the gradient.
    #[inline(always)]
    fn moments(&self, p: A, g: A, s: &mut A, v: &mut A, coupled: bool) -> A {
        let (new_s, g) = self.s_and_grad(p, g, *s, coupled);
        *s = new_s;
        *v = addcmul(decayed(*v, self.beta2), self.exp_avg_sq_weight, g, g);
        g
    }
}

state! {
    /// Per-tensor state of Prodigy, under the reference's names.
    pub(crate) struct ProdigyState for ProdigyConfig {
        /// The running sum `s` of weighted gradients, whose L1 norm is the estimate's
        /// denominator.
        s: zeros(),
        /// The starting point `x₀`, copied from the parameter on the tensor's first step.
        p0: lazy(),
        /// The first moment `m` (when `β₁ > 0`).
        exp_avg: when(|k| k.betas.0 > 0.0),
        /// The second moment `v`.
        exp_avg_sq: zeros(),
    }
}

impl<A: Float> Kernel<A> for ProdigyConfig {
    type State = ProdigyState<A>;
    type Scalars = ProdigyScalars<A::Compute>;

    fn steps_per_tensor(&self) -> bool {
        false
    }
    fn accumulators(&self, each: &mut dyn FnMut(&'static str, f64)) {
        each("d", self.d0);
        each("d_max", self.d0);
        each("d_numerator", 0.0);
        each("k", 0.0);
    }
    fn scalars(&self, _step: u64, _sum: f64) -> Self::Scalars {
        // Only through `group_scalars`: the step needs the shared estimate.
        self.first_pass(self.lr, self.d0, 0.0)
    }
    /// Every group's first pass with group 0's `d` and `k` and the largest learning rate.
    fn group_scalars(
        kernels: &[Self],
        _step: u64,
        _sum: f64,
        values: &mut [Vec<f64>],
        out: &mut Vec<Self::Scalars>,
    ) {
        out.clear();
        let lr = largest_lr(kernels);
        let (d, k) = (values[0][D], values[0][K]);
        out.extend(kernels.iter().map(|kernel| kernel.first_pass(lr, d, k)));
    }
    #[allow(clippy::float_cmp)] // the reference's rule: `group_lr not in [lr, 0.0]`, exactly
    fn check_groups(kernels: &[Self]) -> Result<(), Error> {
        let lr = largest_lr(kernels);
        for kernel in kernels {
            if kernel.lr != lr && kernel.lr != 0.0 {
                return Err(Error::Unsupported {
                    optimizer: "Prodigy",
                    what: "group learning rate other than 0 or the largest of the groups' \
                           (the step size is d times the largest)",
                });
            }
            if !kernel.same_estimate(&kernels[0]) {
                return Err(Error::Unsupported {
                    optimizer: "Prodigy",
                    what: "per-group betas, beta3, d0, d_coef, growth_rate, \
                           use_bias_correction or decouple (one estimate of d serves every \
                           group)",
                });
            }
        }
        Ok(())
    }

    fn two_pass(&self) -> bool {
        true
    }

    /// `x₀` on the first step, and `(d/d₀)·d̃·⟨g, x₀ − x⟩` and `‖s‖₁` of the new `s`, which
    /// the first pass computes without storing it: the second pass computes the moments and
    /// `s` again from the stored ones, in the type of the arithmetic, and steps from them as
    /// computed (as the reference, in one step, steps from its `f32` moments: a 16-bit moment
    /// stored and read back would be rounded, or in `f16` underflow to 0).
    fn gather(
        &self,
        sc: &Self::Scalars,
        pass: &mut Pass<'_, A>,
        state: &mut ProdigyState<A>,
    ) -> [f64; 2] {
        let sc = *sc;
        let ProdigyState { s, p0, exp_avg, .. } = state;
        let first = p0.is_none();
        let p0 = p0.get_or_insert_with(|| vec![A::zero(); pass.len()]);
        if !sc.active {
            // A group at learning rate 0 only records its starting point.
            if first {
                pass.update_and_sum(
                    [p0],
                    #[inline(always)]
                    move |p, _, [x0]| {
                        *x0 = p;
                        [0.0; 2]
                    },
                );
            }
            return [0.0; 2];
        }
        // `β₁` may have been scheduled across 0 since the state was made.
        if sc.beta1 > A::Compute::zero() {
            exp_avg.get_or_insert_with(|| vec![A::zero(); pass.len()]);
        } else {
            *exp_avg = None;
        }
        let [dot, l1] = unswitch! {
            const FIRST: bool = first;
            const COUPLED: bool = sc.coupled;
            pass.update_and_sum(
                [p0, s],
                #[inline(always)]
                move |p, g, [x0, s]| {
                    if FIRST {
                        *x0 = p;
                    }
                    sc.terms(p, g, *x0, *s, COUPLED)
                },
            )
        };
        [sc.numerator_weight * dot, l1]
    }

    /// `d` from the sums, as the reference computes it after its first loop.
    #[allow(clippy::float_cmp)] // the reference's `d == d0`: still at its start, exactly
    fn settle(
        kernels: &[Self],
        [delta_numerator, d_denom]: [f64; 2],
        values: &mut [Vec<f64>],
        scalars: &mut [Self::Scalars],
    ) -> bool {
        // No progress (every gradient zero): the reference returns before its second loop,
        // with the moments and `s` updated and `d` and `k` as they were.
        if d_denom == 0.0 {
            // The second pass updates the moments and `s` only.
            for sc in scalars.iter_mut() {
                sc.moves = false;
            }
            return true;
        }
        let first = &kernels[0];
        let (d, d_max) = (values[0][D], values[0][D_MAX]);
        let numerator = values[0][D_NUMERATOR] * first.beta3_or_default() + delta_numerator;
        let (mut new_d, mut new_d_max) = (d, d_max);
        if largest_lr(kernels) > 0.0 {
            let d_hat = first.d_coef * numerator / d_denom;
            if d == first.d0 {
                new_d = py_max(d, d_hat);
            }
            new_d_max = py_max(d_max, d_hat);
            new_d = py_min(new_d_max, new_d * first.growth_rate);
        }
        for values in values.iter_mut() {
            values[D] = new_d;
            values[D_MAX] = new_d_max;
            values[D_NUMERATOR] = numerator;
            values[K] += 1.0;
        }
        for (kernel, sc) in kernels.iter().zip(scalars) {
            sc.eps_d = A::Compute::from_f64(new_d * kernel.eps);
            sc.neg_dlr_d = A::Compute::from_f64(-sc.dlr * new_d);
        }
        true
    }

    /// The moments and `s` (with the `d` before the step), then the step from them with the
    /// new `d` in the denominator and the old one in `d̃`.
    fn update(&self, sc: &Self::Scalars, pass: &mut Pass<'_, A>, state: &mut ProdigyState<A>) {
        let sc = *sc;
        let ProdigyState {
            s,
            exp_avg,
            exp_avg_sq,
            ..
        } = state;
        if !sc.active {
            // A group at learning rate 0 (`d̃ = 0`): its moments and `s` stay as they are, and
            // the step adds `0·m/denom` (and decays by `0·p`), as the reference's loop does.
            match exp_avg {
                Some(m) => unswitch! {
                    const DECOUPLED: bool = sc.decoupled;
                    pass.zip2(
                        m,
                        exp_avg_sq,
                        #[inline(always)]
                        move |p, _, m, v| {
                            let denom = v.sqrt() + sc.eps_d;
                            if DECOUPLED {
                                *p = p.mul_add(sc.neg_decay, *p);
                            }
                            *p = addcdiv(*p, sc.neg_dlr, *m, denom);
                        },
                    )
                },
                None => unswitch! {
                    const DECOUPLED: bool = sc.decoupled;
                    const COUPLED: bool = sc.coupled;
                    pass.zip1(
                        exp_avg_sq,
                        #[inline(always)]
                        move |p, g, v| {
                            let g = sc.grad(*p, g, COUPLED);
                            let denom = v.sqrt() + sc.eps_d;
                            if DECOUPLED {
                                *p = p.mul_add(sc.neg_decay, *p);
                            }
                            *p = addcdiv(*p, sc.neg_dlr_d, g, denom);
                        },
                    )
                },
            }
            return;
        }
        match exp_avg {
            Some(m) => unswitch! {
                const MOVES: bool = sc.moves;
                const COUPLED: bool = sc.coupled;
                const DECOUPLED: bool = sc.decoupled;
                pass.zip3(
                    s,
                    m,
                    exp_avg_sq,
                    #[inline(always)]
                    move |p, g, s, m, v| {
                        let g = sc.moments(*p, g, s, v, COUPLED);
                        *m = g.mul_add(sc.exp_avg_weight, *m * sc.beta1);
                        if MOVES {
                            let denom = v.sqrt() + sc.eps_d;
                            if DECOUPLED {
                                *p = p.mul_add(sc.neg_decay, *p);
                            }
                            *p = addcdiv(*p, sc.neg_dlr, *m, denom);
                        }
                    },
                )
            },
            None => unswitch! {
                const MOVES: bool = sc.moves;
                const COUPLED: bool = sc.coupled;
                const DECOUPLED: bool = sc.decoupled;
                pass.zip2(
                    s,
                    exp_avg_sq,
                    #[inline(always)]
                    move |p, g, s, v| {
                        // The gradient with coupled decay (the reference decays it in place).
                        let g = sc.moments(*p, g, s, v, COUPLED);
                        if MOVES {
                            let denom = v.sqrt() + sc.eps_d;
                            if DECOUPLED {
                                *p = p.mul_add(sc.neg_decay, *p);
                            }
                            *p = addcdiv(*p, sc.neg_dlr_d, g, denom);
                        }
                    },
                )
            },
        }
    }
}

optimizer_type! {
    /// Prodigy (Mishchenko & Defazio, 2024, "Prodigy: An Expeditiously Adaptive
    /// Parameter-Free Learner"), as `prodigyopt.Prodigy` 1.1.2 computes it: Adam whose step
    /// size `d` is estimated from the distance travelled, so that no learning rate needs tuning
    /// (`lr` stays 1; a schedule, if any, multiplies it).
    ///
    /// Two passes per step, with two sums over **all** tensors of all groups between them.
    /// With `d`, `d_max`, the numerator `r` and the step count `k` before the step (`d₀` at
    /// first, `r` at 0), `γ` the largest learning rate of the groups, and `x₀` each tensor's
    /// value at its first step:
    ///
    /// ```text
    /// d̃ = d·γ·√(1 − β₂ᵏ⁺¹)/(1 − β₁ᵏ⁺¹)            (d·γ without use_bias_correction)
    /// first pass, per tensor of a group with lr > 0:
    ///   g ← g + λ·x                                 if λ ≠ 0 and not decouple
    ///   m ← β₁·m + d(1 − β₁)·g
    ///   v ← β₂·v + d²(1 − β₂)·g²
    ///   s ← β₃·s + (d/d₀)·d̃·g                       ((d/d₀)·d·g with safeguard_warmup)
    /// over all tensors (each in logical order, then in list order):
    ///   r ← β₃·r + (d/d₀)·d̃·Σ⟨g, x₀ − x⟩,   S = Σ‖s‖₁
    ///   (S = 0: stop here, as the reference does: no step, d and k unchanged)
    ///   d̂ = d_coef·r/S
    ///   d ← max(d, d̂) if d = d₀;   d_max ← max(d_max, d̂);   d′ = min(d_max, d·growth_rate)
    /// second pass, per tensor (every group):
    ///   x ← x − d̃·λ·x                               if λ ≠ 0 and decouple
    ///   x ← x − d̃·m / (√v + d′·ε)                   (x − d̃·d′·g / (√v + d′·ε) if β₁ = 0)
    ///   k ← k + 1
    /// ```
    ///
    /// The first pass here computes only the terms of the sums (the new `s` without storing
    /// it) and records `x₀`; the second computes `m`, `v` and `s` from the stored ones and
    /// steps from them as computed: the same numbers, and for 16-bit parameters the step from
    /// the `f32` moments, as the reference's within one step.
    ///
    /// `β₃` is `√β₂` unless set. The moments carry `d` inside them, so `m/√v` is scale-free
    /// and `d̃` alone sets the step. The two sums are taken in `f64` in a fixed order (each
    /// tensor's in its logical order with a fixed blocking, then the tensors in list order),
    /// so the result does not depend on the memory layout or the thread count. `d`, `d_max`,
    /// the numerator and `k` are saved with the state (`group<g>.d`, …, as the reference keeps
    /// them in every group). See [`ProdigyConfig`] for the options and the rules of parameter
    /// groups.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Optimizer, Prodigy};
    ///
    /// let mut w = array![3.0_f64, -2.0];
    /// let mut opt = Prodigy::new(1.0)?; // the learning rate is a multiplier: leave it at 1
    /// for _ in 0..200 {
    ///     let g = w.mapv(|x| 2.0 * x); // ∇ of ‖w‖²
    ///     opt.step(&mut w, &g)?;
    /// }
    /// assert!(w[0].abs() < 0.5 && w[1].abs() < 0.5);
    /// let d = f64::from_bits(opt.save_state().extra["group0.d"]);
    /// assert!(d > 1e-6); // the estimate grew from d₀
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Prodigy, ProdigyConfig, "Prodigy::<f32>::new(0.1)?"
}

impl<A: Float> Prodigy<A> {
    /// Prodigy with learning-rate multiplier `lr` (the reference's default is 1) and the
    /// reference's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is not positive and finite.
    pub fn new(lr: f64) -> Result<Self, Error> {
        ProdigyConfig::default().lr(lr).build()
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // bit-exact on purpose
mod tests {
    use super::*;
    use crate::{Optimizer, ParamGroup, ParamGroups, StepOutcome};
    use ndarray::{Array1, array};

    fn d_of(opt: &Prodigy<f64>) -> (f64, f64) {
        let extra = opt.save_state().extra;
        let get = |name: &str| f64::from_bits(extra[&format!("group0.{name}")]);
        (get("d"), get("k"))
    }

    /// An error (here a non-finite gradient) changes nothing: not the parameters, not a buffer,
    /// not `d` or `k`.
    #[test]
    fn a_refused_step_leaves_d_and_everything_else_alone() {
        let mut w = array![1.0_f64, -2.0, 0.5];
        let mut opt = Prodigy::<f64>::new(1.0).unwrap();
        for _ in 0..5 {
            let g = w.mapv(|x| x + 0.3);
            opt.step(&mut w, &g).unwrap();
        }
        let (before, state) = (w.clone(), opt.save_state());
        let err = opt.step(&mut w, &array![0.1, f64::NAN, 0.2]).unwrap_err();
        assert!(matches!(err, Error::NonFiniteGradient { .. }), "{err:?}");
        assert_eq!(w, before);
        assert_eq!(opt.save_state(), state);
    }

    /// With every gradient zero, `‖s‖₁ = 0` and the reference returns between its passes: the
    /// moments have decayed, the parameters, `d` and `k` are as they were.
    #[test]
    fn no_progress_returns_between_the_passes() {
        let mut w = array![1.0_f64, -2.0];
        let mut opt = Prodigy::<f64>::new(1.0).unwrap();
        opt.step(&mut w, &Array1::zeros(2)).unwrap();
        assert_eq!(w, array![1.0, -2.0]);
        assert_eq!(d_of(&opt), (1e-6, 0.0));
        assert_eq!(opt.last_step(), &StepOutcome::Applied);
        opt.step(&mut w, &array![1.0, 1.0]).unwrap();
        assert!(w[0] < 1.0);
        assert_eq!(d_of(&opt).1, 1.0);
    }

    /// The estimate is shared: a group's learning rate is 0 or the largest, and what the
    /// estimate is made of is the same in every group; anything else is refused by the step,
    /// before anything changes.
    #[test]
    fn groups_share_one_estimate() {
        let mut w = array![1.0_f64, -2.0];
        let mut b = array![0.5_f64];
        let g = (array![1.0, 1.0], array![1.0]);
        let groups = |second: ParamGroup| {
            ParamGroups::new(vec![ParamGroup::default(), second], vec![0, 1]).unwrap()
        };
        let mut opt = Prodigy::<f64>::new(1.0).unwrap();
        opt.set_param_groups(Some(groups(ParamGroup::default().lr_scale(0.5))))
            .unwrap();
        let err = opt.step(&mut (&mut w, &mut b), &(&g.0, &g.1)).unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
        assert_eq!((opt.step_count(), b[0]), (0, 0.5));
        let other = ProdigyConfig::default().betas((0.8, 0.999));
        opt.set_param_groups(Some(groups(ParamGroup::default().hyperparameters(other))))
            .unwrap();
        assert!(opt.step(&mut (&mut w, &mut b), &(&g.0, &g.1)).is_err());
        // A frozen group (lr 0) and one of its own weight decay are fine.
        opt.set_param_groups(Some(groups(ParamGroup::default().lr(0.0))))
            .unwrap();
        opt.step(&mut (&mut w, &mut b), &(&g.0, &g.1)).unwrap();
        assert_eq!(b[0], 0.5); // β₁ > 0 and no decay: its moments never fill
        assert!(w[0] < 1.0);
    }

    #[test]
    fn slice_p_other_than_1_is_refused() {
        let err = ProdigyConfig::default().slice_p(11).build::<f32>().unwrap_err();
        assert!(
            matches!(err, Error::InvalidHyperparameter { name: "slice_p", .. }),
            "{err:?}"
        );
        assert!(ProdigyConfig::default().lr(0.0).build::<f32>().is_err());
        assert!(ProdigyConfig::default().growth_rate(0.0).build::<f32>().is_err());
    }
}
