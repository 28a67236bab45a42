//! RAdam: Adam with the variance of its adaptive step rectified, `torch.optim.RAdam`.

use crate::builder::config;
use crate::check;
use crate::driver::buffers::state;
use crate::driver::{Hyperparameters, momentum_is, Kernel, lr_and_weight_decay, optimizer_type, largest_step_is_adams};
use crate::error::Error;
use crate::float::Float;
use num_traits::{Float as _, One as _, Zero as _};
use crate::ops::{Decay, LerpWeight, WeightDecay, addcmul, decayed};
use crate::pass::{Pass, unswitch};

config! {
    /// Hyperparameters of [`RAdam`]: those of PyTorch's `torch.optim.RAdam`, with its defaults.
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `lr` | `1e-3` | `≥ 0` |
    /// | `betas` | `(0.9, 0.999)` | each in `[0, 1)` |
    /// | `eps` | `1e-8` | `> 0` (PyTorch: `≥ 0`; with 0 a zero gradient gives 1/0 · 0 = NaN) |
    /// | `weight_decay` | `0` | `≥ 0` |
    /// | `decoupled_weight_decay` | `false` (L2 into the gradient) | (`true`: `p ← p·(1 − γλ)`, "RAdamW") |
    /// | `maximize` | `false` | |
    ///
    /// Every value must also be finite. The rectification threshold is PyTorch's `ρₜ > 5` (the
    /// paper's Algorithm 2 says 4; optax's `radam` has `threshold = 5` too).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{RAdam, RAdamConfig};
    ///
    /// let opt: RAdam<f32> = RAdamConfig::default().lr(1e-3).weight_decay(1e-2).build()?;
    /// assert!(!opt.config().decoupled_weight_decay);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub struct RAdamConfig {
        /// Learning rate `γ`.
        lr: f64 = 1e-3,
        /// Decay rates `(β₁, β₂)` of the first and second moment estimates.
        betas: (f64, f64) = (0.9, 0.999),
        /// Term `ε` added to `√v` before bias correction.
        eps: f64 = 1e-8,
        /// Weight decay `λ`: coupled (L2) or decoupled, see `decoupled_weight_decay`.
        weight_decay: f64 = 0.0,
        /// Decoupled weight decay: `p ← p·(1 − γλ)` instead of `g ← g + λp`.
        decoupled_weight_decay: bool = false,
        /// Maximise the objective instead of minimising it.
        maximize: bool = false,
    }
}

/// What the rectified (adaptive) step needs; unused while `ρₜ ≤ 5`.
#[derive(Clone, Copy)]
struct Rectified<A> {
    /// `√(1 − β₂ᵗ)`.
    bias_correction2_sqrt: A,
    /// The rectification term `r = √((ρₜ − 4)(ρₜ − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρₜ))`.
    rect: A,
    eps: A,
}

#[derive(Clone, Copy)]
pub(crate) struct RAdamScalars<A> {
    exp_avg_weight: LerpWeight<A>,
    beta2: A,
    one_minus_beta2: A,
    bias_correction1: A,
    lr: A,
    /// Whether `ρₜ > 5`: the step is adapted and rectified.
    rectified: bool,
    rectification: Rectified<A>,
    decay: WeightDecay<A>,
}

state! {
    /// Per-tensor state of RAdam.
    pub(crate) struct RAdamState for RAdamConfig {
        /// The first moment `m`.
        exp_avg: zeros(),
        /// The second moment `v`.
        exp_avg_sq: zeros(),
    }
}

impl RAdamConfig {
    /// `(ρ∞, ρₜ)`: the maximum length of the approximated simple moving average and its length
    /// at step `t`, in `f64` in PyTorch's order of operations.
    fn sma_lengths(&self, t: f64) -> (f64, f64) {
        let beta2 = self.betas.1;
        let rho_inf = 2.0 / (1.0 - beta2) - 1.0;
        let rho_t = rho_inf - 2.0 * t * beta2.powf(t) / (1.0 - beta2.powf(t));
        (rho_inf, rho_t)
    }
}

impl Hyperparameters for RAdamConfig {
    largest_step_is_adams!();
    type Kernel = RAdamConfig;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::beta("betas[0]", self.betas.0)?;
        check::beta("betas[1]", self.betas.1)?;
        check::positive("eps", self.eps)?;
        check::non_negative("weight_decay", self.weight_decay)
    }
    fn kernel(&self) -> RAdamConfig {
        self.clone()
    }
    lr_and_weight_decay!();
    momentum_is!(betas.0);
}

impl<A: Float> Kernel<A> for RAdamConfig {
    type State = RAdamState<A>;
    type Scalars = RAdamScalars<A::Compute>;

    fn scalars(&self, step: u64, _sum: f64) -> Self::Scalars {
        let (beta1, beta2) = self.betas;
        let t = step as f64;
        let bias_correction2 = 1.0 - beta2.powf(t);
        let (rho_inf, rho_t) = self.sma_lengths(t);
        let rectified = rho_t > 5.0;
        // Computed either way (a NaN while ρₜ ≤ 4 is never used).
        let rect = ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
            / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
            .powf(0.5);
        let rectification = Rectified {
            bias_correction2_sqrt: A::Compute::from_f64(bias_correction2.powf(0.5)),
            rect: A::Compute::from_f64(rect),
            eps: A::Compute::from_f64(self.eps),
        };
        RAdamScalars {
            exp_avg_weight: LerpWeight::new(1.0 - beta1),
            beta2: A::Compute::from_f64(beta2),
            one_minus_beta2: A::Compute::from_f64(1.0 - beta2),
            bias_correction1: A::Compute::from_f64(1.0 - beta1.powf(t)),
            lr: A::Compute::from_f64(self.lr),
            rectified,
            rectification,
            decay: WeightDecay::new(
                self.maximize,
                self.weight_decay,
                self.decoupled_weight_decay,
                self.lr,
            ),
        }
    }

    fn update(&self, sc: &Self::Scalars, pass: &mut Pass<'_, A>, state: &mut RAdamState<A>) {
        let sc = *sc;
        let r = sc.rectification;
        unswitch! {
            const MAXIMIZE: bool = sc.decay.maximize();
            const DECAY: Decay = sc.decay.form() => [Decay::None, Decay::Coupled, Decay::Decoupled];
            const RECTIFIED: bool = sc.rectified;
            pass.zip2(
                &mut state.exp_avg,
                &mut state.exp_avg_sq,
                #[inline(always)]
                move |p, g, m, v| {
                    let g = sc.decay.apply(p, g, MAXIMIZE, DECAY);
                    *m = sc.exp_avg_weight.lerp(*m, g);
                    *v = addcmul(decayed(*v, sc.beta2), sc.one_minus_beta2, g, g);
                    let m_hat = *m / sc.bias_correction1;
                    let update = if RECTIFIED {
                        // PyTorch's `bc2**0.5 / (sqrt(v) + eps)` is `reciprocal() * scalar`, and
                        // the product is evaluated left to right.
                        let adaptive = (A::Compute::one() / (v.sqrt() + r.eps)) * r.bias_correction2_sqrt;
                        // A zero factor from an overflowed `v` makes the step 0, also where
                        // `m̂·γ` overflowed (PyTorch: `∞·0 = NaN`).
                        if adaptive == A::Compute::zero() {
                            A::Compute::zero()
                        } else {
                            ((m_hat * sc.lr) * adaptive) * r.rect
                        }
                    } else {
                        m_hat * sc.lr // un-adapted momentum SGD while ρₜ ≤ 5
                    };
                    // A zero learning rate leaves `p` alone, also where `m̂` overflowed
                    // (PyTorch: `∞·0 = NaN`).
                    if sc.lr != A::Compute::zero() {
                        *p = *p - update;
                    }
                },
            )
        }
    }
}

optimizer_type! {
    /// RAdam (Liu et al., 2020), PyTorch's `torch.optim.RAdam`.
    ///
    /// Adam's adaptive step has a large variance in the first steps, when `v` averages few
    /// gradients; RAdam uses plain momentum SGD until the approximated moving average is long
    /// enough (`ρₜ > 5`), then Adam's step scaled by a rectification term `r ≤ 1` that tends to 1.
    /// A warm-up without a warm-up schedule. Per element, at step `t`:
    ///
    /// ```text
    /// g ← −g                                   if maximize
    /// p ← p·(1 − γλ)                           if λ ≠ 0, decoupled
    /// g ← g + λ·p                              if λ ≠ 0, coupled (L2, the default)
    /// m ← β₁·m + (1 − β₁)·g                    (computed as m + (1 − β₁)(g − m), PyTorch's lerp)
    /// v ← β₂·v + (1 − β₂)·g²
    /// m̂ = m / (1 − β₁ᵗ)
    /// ρ∞ = 2/(1 − β₂) − 1 ;  ρₜ = ρ∞ − 2tβ₂ᵗ/(1 − β₂ᵗ)
    /// if ρₜ > 5:  r = √((ρₜ − 4)(ρₜ − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρₜ))
    ///             p ← p − γ·m̂ · √(1 − β₂ᵗ)/(√v + ε) · r
    /// else:       p ← p − γ·m̂
    /// ```
    ///
    /// `ε` is added to `√v` before the bias correction. With the default `β₂ = 0.999`,
    /// rectification starts at step 6. Defaults are PyTorch's: see [`RAdamConfig`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Optimizer, RAdam};
    ///
    /// let mut w = array![1.0_f64];
    /// let mut opt = RAdam::new(0.01)?;
    /// opt.step(&mut w, &array![100.0])?;
    /// // Step 1 is not adapted: p ← p − γ·m̂ = p − γ·g.
    /// assert!((w[0] - 0.0).abs() < 1e-12);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    RAdam, RAdamConfig, "RAdam::<f32>::new(0.1)?"
}

impl<A: Float> RAdam<A> {
    /// RAdam with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Optimizer, RAdam};
    /// let opt = RAdam::<f32>::new(1e-3)?;
    /// assert_eq!((opt.name(), opt.momentum()), ("RAdam", Some(0.9)));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        RAdamConfig::default().lr(lr).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Optimizer;
    use ndarray::array;

    #[test]
    fn rectification_starts_at_step_6_with_the_default_beta2() {
        let config = RAdamConfig::default();
        let rho: Vec<f64> = (1..=7).map(|t| config.sma_lengths(t as f64).1).collect();
        assert!((rho[0] - 1.0).abs() < 1e-9, "{rho:?}");
        assert!(rho[..5].iter().all(|&r| r <= 5.0), "{rho:?}");
        assert!(rho[5] > 5.0 && rho[6] > rho[5], "{rho:?}");
    }

    #[test]
    fn unrectified_steps_are_momentum_sgd() {
        // For t ≤ 5 the step is γ·m/(1 − β₁ᵗ): with a constant gradient, exactly γ·g.
        let mut w = array![0.0_f64];
        let mut opt = RAdam::new(0.1).unwrap();
        for t in 1..=5 {
            opt.step(&mut w, &array![2.0]).unwrap();
            assert!((w[0] + 0.2 * t as f64).abs() < 1e-12, "step {t}: {}", w[0]);
        }
        // Step 6 is rectified: Adam's step (about γ for a constant gradient) times r < 1.
        opt.step(&mut w, &array![2.0]).unwrap();
        let sixth = -w[0] - 1.0;
        assert!(sixth > 0.0 && sixth < 0.1, "{sixth}");
    }

    #[test]
    fn invalid_hyperparameters_are_rejected_by_name() {
        let name = |config: RAdamConfig| match config.build::<f32>() {
            Err(Error::InvalidHyperparameter { name, .. }) => name,
            other => panic!("expected an invalid hyperparameter, got {other:?}"),
        };
        assert_eq!(name(RAdamConfig::default().lr(f64::NAN)), "lr");
        assert_eq!(name(RAdamConfig::default().betas((-0.1, 0.999))), "betas[0]");
        assert_eq!(name(RAdamConfig::default().betas((0.9, 1.0))), "betas[1]");
        assert_eq!(name(RAdamConfig::default().eps(0.0)), "eps");
        assert_eq!(
            name(RAdamConfig::default().weight_decay(-1.0)),
            "weight_decay"
        );
        assert!(
            RAdamConfig::default()
                .betas((0.0, 0.0))
                .build::<f64>()
                .is_ok()
        );
    }
}
