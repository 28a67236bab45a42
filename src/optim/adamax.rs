//! Adamax: Adam with the infinity norm in place of the second moment, `torch.optim.Adamax`.

use crate::builder::config;
use crate::check;
use crate::driver::buffers::state;
use crate::driver::{Hyperparameters, momentum_is, Kernel, lr_and_weight_decay, optimizer_type, largest_step_is_adams};
use crate::error::Error;
use crate::float::Float;
use num_traits::Float as _;
use crate::ops::{Decay, LerpWeight, WeightDecay, decayed, maximum};
use crate::pass::{Pass, unswitch};

config! {
    /// Hyperparameters of [`Adamax`]: those of PyTorch's `torch.optim.Adamax`, with its defaults.
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `lr` | `2e-3` | `≥ 0` |
    /// | `betas` | `(0.9, 0.999)` | each in `[0, 1)` |
    /// | `eps` | `1e-8` | `> 0` (PyTorch: `≥ 0`; with 0 a zero gradient on the first step gives 0/0 = NaN) |
    /// | `weight_decay` | `0` (coupled L2) | `≥ 0` |
    /// | `maximize` | `false` | |
    ///
    /// The learning rate and betas are the paper's (Kingma & Ba, 2015, Algorithm 2); optax's
    /// `adamax` also has `eps = 1e-8` (Keras `1e-7`).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adamax, AdamaxConfig};
    ///
    /// let opt: Adamax<f32> = AdamaxConfig::default().lr(1e-2).betas((0.9, 0.99)).build()?;
    /// assert_eq!(opt.config().eps, 1e-8);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub struct AdamaxConfig {
        /// Learning rate `γ`.
        lr: f64 = 2e-3,
        /// Decay rates `(β₁, β₂)` of the first moment and of the infinity norm.
        betas: (f64, f64) = (0.9, 0.999),
        /// Term `ε` added to `|g|` inside the maximum (nothing is added to the denominator).
        eps: f64 = 1e-8,
        /// Coupled (L2) weight decay `λ`.
        weight_decay: f64 = 0.0,
        /// Maximise the objective instead of minimising it.
        maximize: bool = false,
    }
}

#[derive(Clone, Copy)]
pub(crate) struct AdamaxScalars<A> {
    exp_avg_weight: LerpWeight<A>,
    beta2: A,
    eps: A,
    neg_clr: A,
    decay: WeightDecay<A>,
}

state! {
    /// Per-tensor state of Adamax.
    pub(crate) struct AdamaxState for AdamaxConfig {
        /// The first moment `m`.
        exp_avg: zeros(),
        /// The exponentially weighted infinity norm `u`.
        exp_inf: zeros(),
    }
}

impl Hyperparameters for AdamaxConfig {
    largest_step_is_adams!();
    type Kernel = AdamaxConfig;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::beta("betas[0]", self.betas.0)?;
        check::beta("betas[1]", self.betas.1)?;
        check::positive("eps", self.eps)?;
        check::non_negative("weight_decay", self.weight_decay)
    }
    fn kernel(&self) -> AdamaxConfig {
        self.clone()
    }
    lr_and_weight_decay!();
    momentum_is!(betas.0);
}

impl<A: Float> Kernel<A> for AdamaxConfig {
    type State = AdamaxState<A>;
    type Scalars = AdamaxScalars<A::Compute>;

    fn scalars(&self, step: u64, _sum: f64) -> Self::Scalars {
        let (beta1, beta2) = self.betas;
        let clr = self.lr / (1.0 - beta1.powf(step as f64));
        AdamaxScalars {
            exp_avg_weight: LerpWeight::new(1.0 - beta1),
            beta2: A::Compute::from_f64(beta2),
            eps: A::Compute::from_f64(self.eps),
            neg_clr: A::Compute::from_f64(-clr),
            decay: WeightDecay::coupled(self.maximize, self.weight_decay),
        }
    }

    fn update(&self, sc: &Self::Scalars, pass: &mut Pass<'_, A>, state: &mut AdamaxState<A>) {
        let sc = *sc;
        unswitch! {
            const MAXIMIZE: bool = sc.decay.maximize();
            const DECAY: Decay = sc.decay.form() => [Decay::None, Decay::Coupled];
            pass.zip2(
                &mut state.exp_avg,
                &mut state.exp_inf,
                #[inline(always)]
                move |p, g, m, u| {
                    let g = sc.decay.apply(p, g, MAXIMIZE, DECAY);
                    *m = sc.exp_avg_weight.lerp(*m, g);
                    // ε inside the maximum, so u ≥ ε > 0: nothing is added to the denominator.
                    *u = maximum(decayed(*u, sc.beta2), g.abs() + sc.eps);
                    // `addcdiv` without its guard for `u = ∞`: `u ≤ max(|g|) + ε` is finite
                    // for finite gradients, so no `∞/∞` can arise.
                    *p = *p + (sc.neg_clr * *m) / *u;
                },
            )
        }
    }
}

optimizer_type! {
    /// Adamax (Kingma & Ba, 2015, §7.1), PyTorch's `torch.optim.Adamax`.
    ///
    /// Adam with the second moment replaced by an exponentially weighted infinity norm: each
    /// parameter's step is divided by (a decaying maximum of) its largest recent gradient, which
    /// needs no square root and no bias correction. Per element, at step `t`:
    ///
    /// ```text
    /// g ← −g                                   if maximize
    /// g ← g + λ·p                              if λ ≠ 0
    /// m ← β₁·m + (1 − β₁)·g                    (computed as m + (1 − β₁)(g − m), PyTorch's lerp)
    /// u ← max(β₂·u, |g| + ε)                   (ε inside the maximum; NaN propagates)
    /// p ← p − γ/(1 − β₁ᵗ) · m / u
    /// ```
    ///
    /// Defaults are PyTorch's: see [`AdamaxConfig`]. The state buffers are PyTorch's `exp_avg`
    /// and `exp_inf`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Adamax, Optimizer};
    ///
    /// let mut w = array![1.0_f64, 1.0];
    /// let mut opt = Adamax::new(0.01)?;
    /// opt.step(&mut w, &array![100.0, -0.01])?;
    /// // The first step moves every element by about γ, whatever its gradient's size.
    /// assert!((w[0] - 0.99).abs() < 1e-6 && (w[1] - 1.01).abs() < 1e-6);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Adamax, AdamaxConfig, "Adamax::<f32>::new(0.1)?"
}

impl<A: Float> Adamax<A> {
    /// Adamax with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adamax, Optimizer};
    /// let opt = Adamax::<f32>::new(2e-3)?;
    /// assert_eq!(opt.momentum(), Some(0.9));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        AdamaxConfig::default().lr(lr).build()
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // bit-exact on purpose
mod tests {
    use super::*;
    use crate::Optimizer;
    use ndarray::array;

    #[test]
    fn first_step_is_lr_times_the_sign_and_eps_sits_inside_the_maximum() {
        // Step 1: m = 0.1·g, u = |g| + ε, bc₁ = 0.1, so p moves by γ·g/(|g| + ε).
        let mut w = array![0.0_f64, 0.0];
        let mut opt = Adamax::new(0.5).unwrap();
        opt.step(&mut w, &array![2.0, 0.0]).unwrap();
        let step = 0.5 / (1.0 - 0.9) * (0.1 * 2.0) / (2.0 + 1e-8);
        assert!((w[0] + step).abs() < 1e-15, "{}", w[0]);
        assert_eq!(w[1], 0.0); // a zero gradient: 0 / ε, no NaN
    }

    #[test]
    fn the_infinity_norm_decays_and_keeps_the_largest_gradient() {
        let mut w = array![0.0_f32];
        let mut opt = AdamaxConfig::default().betas((0.9, 0.5)).build().unwrap();
        opt.step(&mut w, &array![4.0]).unwrap();
        opt.step(&mut w, &array![1.0]).unwrap();
        let state = opt.save_state();
        let u = state.tensors[0].buffers["exp_inf"][[0]];
        assert_eq!(u, 4.0 * 0.5); // max(0.5·(4 + ε), 1 + ε) in f32
    }

    #[test]
    fn invalid_hyperparameters_are_rejected_by_name() {
        let name = |config: AdamaxConfig| match config.build::<f32>() {
            Err(Error::InvalidHyperparameter { name, .. }) => name,
            other => panic!("expected an invalid hyperparameter, got {other:?}"),
        };
        assert_eq!(name(AdamaxConfig::default().lr(-1.0)), "lr");
        assert_eq!(name(AdamaxConfig::default().lr(f64::INFINITY)), "lr");
        assert_eq!(name(AdamaxConfig::default().betas((1.0, 0.999))), "betas[0]");
        assert_eq!(name(AdamaxConfig::default().betas((0.9, -0.1))), "betas[1]");
        assert_eq!(name(AdamaxConfig::default().eps(0.0)), "eps");
        assert_eq!(
            name(AdamaxConfig::default().weight_decay(f64::NAN)),
            "weight_decay"
        );
        assert!(
            AdamaxConfig::default()
                .betas((0.0, 0.0))
                .build::<f32>()
                .is_ok()
        );
    }
}
