//! Adan: adaptive Nesterov momentum from three moments and the previous gradient, as timm's
//! `Adan` computes it.

use crate::builder::config;
use crate::check;
use crate::driver::buffers::state;
use crate::driver::{Hyperparameters, Kernel, lr_and_weight_decay, momentum_is, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use crate::ops::{LerpWeight, addcdiv, addcmul, agrees, caution_scale, cautious, decayed};
use crate::pass::{Pass, unswitch};

config! {
    /// Hyperparameters of [`Adan`]: those of timm's `Adan` (the authors' `sail-sg/Adan`), with
    /// its defaults.
    ///
    /// | field | default | valid | others |
    /// |---|---|---|---|
    /// | `lr` | `1e-3` | `≥ 0` | |
    /// | `betas` | `(0.98, 0.92, 0.99)` | each in `[0, 1)` | optax `b1, b2, b3`: the same |
    /// | `eps` | `1e-8` | `> 0` (timm: `≥ 0`; with 0 a zero gradient gives 0/0 = NaN) | |
    /// | `weight_decay` | `0` | `≥ 0` | optax `0`, the paper's runs `0.02` |
    /// | `no_prox` | `false`: the proximal decay `p ← p / (1 + γλ)` after the step | | `true`: AdamW's `p ← p·(1 − γλ)` before it (timm's `adanw`) |
    /// | `caution` | `false` | | `true`: timm's `cadan` / `cadanw` (see [`Adan`]) |
    ///
    /// Note that timm's `betas` are the three decay rates, each the weight of the old value:
    /// `β₁` of the gradient's mean, `β₂` of the gradient difference's mean, `β₃` of the second
    /// moment. (The Adan paper writes `1 − β` for them.)
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adan, AdanConfig, Optimizer};
    ///
    /// let opt: Adan<f32> = AdanConfig::default().lr(1e-3).weight_decay(0.02).no_prox(true).build()?;
    /// assert_eq!((opt.name(), opt.config().betas), ("Adan", (0.98, 0.92, 0.99)));
    /// assert!(AdanConfig::default().betas((0.98, 1.0, 0.99)).build::<f32>().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub struct AdanConfig {
        /// Learning rate `γ`.
        lr: f64 = 1e-3,
        /// Decay rates `(β₁, β₂, β₃)` of the gradient's mean `m`, of the mean `d` of the
        /// difference of successive gradients, and of the second moment `n`.
        betas: (f64, f64, f64) = (0.98, 0.92, 0.99),
        /// Term `ε` added to the denominator, after bias-correcting `√n`.
        eps: f64 = 1e-8,
        /// Weight decay `λ`, proximal (after the step) or, with `no_prox`, decoupled (before it).
        weight_decay: f64 = 0.0,
        /// Decay the parameter before the step, `p ← p·(1 − γλ)`, instead of the proximal
        /// `p ← p / (1 + γλ)` after it.
        no_prox: bool = false,
        /// Cautious masking of the first moment's part of the step (see [`Adan`]).
        caution: bool = false,
    }
}

impl Hyperparameters for AdanConfig {
    type Kernel = AdanConfig;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::beta("betas[0]", self.betas.0)?;
        check::beta("betas[1]", self.betas.1)?;
        check::beta("betas[2]", self.betas.2)?;
        check::positive("eps", self.eps)?;
        check::non_negative("weight_decay", self.weight_decay)
    }
    fn kernel(&self) -> AdanConfig {
        self.clone()
    }
    lr_and_weight_decay!();
    momentum_is!(betas.0);
}

/// Where Adan's weight decay acts, a decision of the element loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AdanDecay {
    /// `λ = 0`.
    None,
    /// `p ← p·(1 − γλ)` before the step (`no_prox`).
    Before,
    /// `p ← p / (1 + γλ)` after it (the proximal form, timm's default).
    Proximal,
}

#[derive(Clone, Copy)]
pub(crate) struct AdanScalars<A> {
    exp_avg_weight: LerpWeight<A>,
    beta2: A,
    one_minus_beta2: A,
    beta3: A,
    one_minus_beta3: A,
    bias_correction3_sqrt: A,
    eps: A,
    /// `−γ / (1 − β₁ᵗ)`.
    neg_step_size: A,
    /// `−γβ₂ / (1 − β₂ᵗ)`.
    neg_step_size_diff: A,
    decay: AdanDecay,
    /// `1 − γλ` (before) or `1 + γλ` (proximal).
    decay_factor: A,
    caution: bool,
}

state! {
    /// Per-tensor state of Adan, under timm's names.
    pub(crate) struct AdanState for AdanConfig {
        /// The gradient's mean `m`.
        exp_avg: zeros(),
        /// The second moment `n` of `g + β₂(g − g_prev)`.
        exp_avg_sq: zeros(),
        /// The mean `d` of the gradient differences `g − g_prev`.
        exp_avg_diff: zeros(),
        /// `−g_prev`, the negated gradient of the tensor's last step (timm keeps it negated);
        /// made on its first step, as `−g`, so that the first difference is 0.
        neg_pre_grad: lazy(),
    }
}

impl<A: Float> AdanScalars<A> {
    /// The three moments, in timm's operations; `neg` holds `−g_prev` before and `−g` after.
    /// `first`: the tensor's first step, where `−g_prev` is `−g`.
    #[inline(always)]
    fn moments(&self, g: A, m: &mut A, n: &mut A, d: &mut A, neg: &mut A, first: bool) {
        if first {
            *neg = -g; // timm's `-p.grad.clone()`
        }
        let diff = *neg + g; // g − g_prev
        *m = self.exp_avg_weight.lerp(*m, g);
        *d = diff.mul_add(self.one_minus_beta2, decayed(*d, self.beta2));
        let nesterov = diff * self.beta2 + g; // g + β₂(g − g_prev)
        *n = addcmul(decayed(*n, self.beta3), self.one_minus_beta3, nesterov, nesterov);
        *neg = A::zero() - g; // timm's `zero_().add_(grad, alpha=-1.0)`: +0 for a zero g
    }

    /// The step from the updated moments, `m` already masked when cautious.
    #[inline(always)]
    fn apply(&self, p: &mut A, m: A, n: A, d: A, decay: AdanDecay) {
        let denom = n.sqrt() / self.bias_correction3_sqrt + self.eps;
        if decay == AdanDecay::Before {
            *p = *p * self.decay_factor;
        }
        *p = addcdiv(*p, self.neg_step_size, m, denom);
        *p = addcdiv(*p, self.neg_step_size_diff, d, denom);
        if decay == AdanDecay::Proximal {
            *p = *p / self.decay_factor;
        }
    }
}

impl<A: Float> Kernel<A> for AdanConfig {
    type State = AdanState<A>;
    type Scalars = AdanScalars<A::Compute>;

    /// timm counts steps per group, every group every step, gradient or not.
    fn steps_per_tensor(&self) -> bool {
        false
    }

    fn scalars(&self, step: u64, _sum: f64) -> Self::Scalars {
        let (beta1, beta2, beta3) = self.betas;
        let t = step as f64;
        let bias_correction1 = 1.0 - beta1.powf(t);
        let bias_correction2 = 1.0 - beta2.powf(t);
        let bias_correction3 = 1.0 - beta3.powf(t);
        let (decay, decay_factor) = match (self.weight_decay != 0.0, self.no_prox) {
            (false, _) => (AdanDecay::None, 1.0),
            (true, true) => (AdanDecay::Before, 1.0 - self.lr * self.weight_decay),
            (true, false) => (AdanDecay::Proximal, 1.0 + self.lr * self.weight_decay),
        };
        AdanScalars {
            exp_avg_weight: LerpWeight::new(1.0 - beta1),
            beta2: A::Compute::from_f64(beta2),
            one_minus_beta2: A::Compute::from_f64(1.0 - beta2),
            beta3: A::Compute::from_f64(beta3),
            one_minus_beta3: A::Compute::from_f64(1.0 - beta3),
            bias_correction3_sqrt: A::Compute::from_f64(bias_correction3.sqrt()),
            eps: A::Compute::from_f64(self.eps),
            neg_step_size: A::Compute::from_f64(-(self.lr / bias_correction1)),
            neg_step_size_diff: A::Compute::from_f64(-(self.lr * beta2 / bias_correction2)),
            decay,
            decay_factor: A::Compute::from_f64(decay_factor),
            caution: self.caution,
        }
    }

    fn update(&self, sc: &Self::Scalars, pass: &mut Pass<'_, A>, state: &mut AdanState<A>) {
        let sc = *sc;
        let AdanState {
            exp_avg,
            exp_avg_sq,
            exp_avg_diff,
            neg_pre_grad,
        } = state;
        // The tensor's first step: −g_prev starts as −g (a new buffer, the only allocation).
        let first = neg_pre_grad.is_none();
        let neg = neg_pre_grad.get_or_insert_with(|| vec![A::zero(); pass.len()]);
        unswitch! {
            const FIRST: bool = first;
            const DECAY: AdanDecay = sc.decay =>
                [AdanDecay::None, AdanDecay::Before, AdanDecay::Proximal];
            if sc.caution {
                // The mask needs the count of agreeing elements first: a read-only pass that
                // computes each element's new `m` and counts, then the step, which computes
                // the moments again and steps from them as they are in `A::Compute`, not as
                // the first pass would have stored them (rounded, for 16-bit types).
                let agreeing = pass.zip1_count(
                    exp_avg,
                    #[inline(always)]
                    move |_p, g, m| agrees(sc.exp_avg_weight.lerp(*m, g), g),
                );
                let scale = caution_scale::<A::Compute>(agreeing, pass.len());
                pass.zip4(
                    exp_avg,
                    exp_avg_sq,
                    exp_avg_diff,
                    neg,
                    #[inline(always)]
                    move |p, g, m, n, d, neg| {
                        sc.moments(g, m, n, d, neg, FIRST);
                        sc.apply(p, cautious(*m, g, scale), *n, *d, DECAY);
                    },
                );
            } else {
                pass.zip4(
                    exp_avg,
                    exp_avg_sq,
                    exp_avg_diff,
                    neg,
                    #[inline(always)]
                    move |p, g, m, n, d, neg| {
                        sc.moments(g, m, n, d, neg, FIRST);
                        sc.apply(p, *m, *n, *d, DECAY);
                    },
                );
            }
        }
    }
}

optimizer_type! {
    /// Adan (Xie et al., 2022, "Adan: Adaptive Nesterov Momentum Algorithm for Faster
    /// Optimizing Deep Models"), as timm's `Adan` computes it (timm's `adan`, `adanw` and, with
    /// `caution`, `cadan`, `cadanw`).
    ///
    /// Nesterov momentum without evaluating the gradient at an extrapolated point: the change
    /// of the gradient between steps stands in for the look-ahead. Three running means are kept
    /// (of the gradient, of its change, and of the square of the extrapolated gradient), and the
    /// previous gradient. Per element, at step `t`, `g'` the previous gradient (`g' = g` on a
    /// tensor's first step, so the first difference is 0):
    ///
    /// ```text
    /// m ← β₁·m + (1 − β₁)·g                    (PyTorch's lerp)
    /// d ← β₂·d + (1 − β₂)·(g − g')
    /// n ← β₃·n + (1 − β₃)·(g + β₂(g − g'))²
    /// m̃ = m · mask / max(mean(mask), 10⁻³),  mask = (m·g > 0)     if caution (else m̃ = m)
    /// η = √n / √(1 − β₃ᵗ) + ε
    /// p ← p·(1 − γλ)                           if no_prox
    /// p ← p − γ/(1 − β₁ᵗ) · m̃/η − γβ₂/(1 − β₂ᵗ) · d/η
    /// p ← p / (1 + γλ)                         unless no_prox
    /// ```
    ///
    /// The step `t` counts the optimizer's steps, as timm counts them per group (a tensor
    /// without a gradient at some step is left alone, but its bias corrections move on).
    /// Defaults are timm's: see [`AdanConfig`]. The state keeps timm's names, `exp_avg`,
    /// `exp_avg_sq`, `exp_avg_diff` and `neg_pre_grad` (`−g'`). Cautious masking needs the count
    /// of agreeing elements before the step: two passes over the tensor instead of one.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Adan, Optimizer};
    ///
    /// let mut w = array![1.0_f64, 1.0];
    /// let mut opt = Adan::new(0.01)?;
    /// opt.step(&mut w, &array![100.0, -0.01])?;
    /// // The first step moves every element by about γ, whatever its gradient's size.
    /// assert!((w[0] - 0.99).abs() < 1e-6 && (w[1] - 1.01).abs() < 1e-6);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Adan, AdanConfig, "Adan::<f32>::new(0.1)?"
}

impl<A: Float> Adan<A> {
    /// Adan with learning rate `lr` and timm's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adan, Optimizer};
    /// let opt = Adan::<f32>::new(1e-3)?;
    /// assert_eq!(opt.momentum(), Some(0.98)); // β₁
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        AdanConfig::default().lr(lr).build()
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // bit-exact on purpose
mod tests {
    use super::*;
    use crate::Optimizer;
    use ndarray::array;

    #[test]
    fn the_first_difference_is_zero_and_the_previous_gradient_is_kept_negated() {
        let mut w = array![1.0_f64, 2.0];
        let mut opt = AdanConfig::default().lr(0.1).build::<f64>().unwrap();
        opt.step(&mut w, &array![0.5, 0.0]).unwrap();
        let saved = opt.save_state();
        let state = &saved.tensors[0].buffers;
        assert_eq!(state["exp_avg_diff"], array![0.0, 0.0].into_dyn());
        // −g, with timm's +0 for a zero gradient.
        assert_eq!(state["neg_pre_grad"][[0]], -0.5);
        assert_eq!(state["neg_pre_grad"][[1]].to_bits(), 0.0_f64.to_bits());
        opt.step(&mut w, &array![1.5, 0.0]).unwrap();
        let state = opt.save_state().tensors[0].buffers.clone();
        assert_eq!(state["exp_avg_diff"][[0]], (1.0 - 0.92) * 1.0);
    }

    #[test]
    fn the_proximal_decay_divides_after_the_step() {
        let run = |no_prox: bool| {
            let mut w = array![2.0_f64];
            let config = AdanConfig::default().lr(0.1).weight_decay(0.5).no_prox(no_prox);
            config.build().unwrap().step(&mut w, &array![0.0]).unwrap();
            w[0]
        };
        assert_eq!(run(false), 2.0 / (1.0 + 0.1 * 0.5));
        assert_eq!(run(true), 2.0 * (1.0 - 0.1 * 0.5));
    }
}
