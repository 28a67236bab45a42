//! NAdam: Adam with Nesterov momentum and a warming momentum schedule, `torch.optim.NAdam`.

use crate::builder::config;
use crate::check;
use crate::driver::buffers::state;
use crate::driver::{Hyperparameters, momentum_is, Kernel, lr_and_weight_decay, optimizer_type, largest_step_is_adams};
use crate::error::Error;
use crate::float::Float;
use num_traits::Float as _;
use crate::ops::{Decay, LerpWeight, WeightDecay, addcdiv, addcmul, decayed};
use crate::pass::{Pass, unswitch};

config! {
    /// Hyperparameters of [`NAdam`]: those of PyTorch's `torch.optim.NAdam`, with its defaults.
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `lr` | `2e-3` | `≥ 0` |
    /// | `betas` | `(0.9, 0.999)` | each in `[0, 1)` |
    /// | `eps` | `1e-8` | `> 0` (PyTorch: `≥ 0`; with 0 a zero gradient gives 0/0 = NaN) |
    /// | `weight_decay` | `0` | `≥ 0` |
    /// | `momentum_decay` | `4e-3` (`ψ`) | `≥ 0` |
    /// | `decoupled_weight_decay` | `false` (L2 into the gradient) | (`true`: `p ← p·(1 − γλ)`, "NAdamW") |
    /// | `maximize` | `false` | |
    ///
    /// Every value must also be finite. Note that optax's `nadam` (`adam(nesterov=True)`) is a
    /// different algorithm: it has no momentum schedule (`ψ`) and bias-corrects `m` with `1 − β₁ᵗ`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{NAdam, NAdamConfig};
    ///
    /// let opt: NAdam<f32> = NAdamConfig::default()
    ///     .lr(1e-3)
    ///     .weight_decay(1e-2)
    ///     .decoupled_weight_decay(true)
    ///     .build()?;
    /// assert_eq!(opt.config().momentum_decay, 4e-3);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub struct NAdamConfig {
        /// Learning rate `γ`.
        lr: f64 = 2e-3,
        /// Decay rates `(β₁, β₂)` of the first and second moment estimates.
        betas: (f64, f64) = (0.9, 0.999),
        /// Term `ε` added to the denominator, after the square root of the bias-corrected `v`.
        eps: f64 = 1e-8,
        /// Weight decay `λ`: coupled (L2) or decoupled, see `decoupled_weight_decay`.
        weight_decay: f64 = 0.0,
        /// Momentum decay `ψ` of the momentum schedule `μₜ = β₁·(1 − ½·0.96^(tψ))`.
        momentum_decay: f64 = 4e-3,
        /// Decoupled weight decay: `p ← p·(1 − γλ)` instead of `g ← g + λp`.
        decoupled_weight_decay: bool = false,
        /// Maximise the objective instead of minimising it.
        maximize: bool = false,
    }
}

/// `μₜ = β₁·(1 − ½·0.96^(tψ))`, in `f64` as PyTorch computes it.
fn momentum_at(beta1: f64, momentum_decay: f64, t: f64) -> f64 {
    beta1 * (1.0 - 0.5 * 0.96_f64.powf(t * momentum_decay))
}

#[derive(Clone, Copy)]
pub(crate) struct NAdamScalars<A> {
    exp_avg_weight: LerpWeight<A>,
    beta2: A,
    one_minus_beta2: A,
    bias_correction2: A,
    eps: A,
    decay: WeightDecay<A>,
    /// The group's learning rate, for the step sizes that depend on the tensor's `mu_product`.
    lr: f64,
    mu: f64,
    mu_next: f64,
}

state! {
    /// Per-tensor state of NAdam.
    pub(crate) struct NAdamState for NAdamConfig {
        /// The first moment `m`.
        exp_avg: zeros(),
        /// The second moment `v`.
        exp_avg_sq: zeros(),
        /// The product of the momentum coefficients `μ₁⋯μₜ`, in `f32` as PyTorch keeps it.
        mu_product: scalar(|_| 1.0, 0.0..=1.0),
    }
}

impl Hyperparameters for NAdamConfig {
    largest_step_is_adams!();
    type Kernel = NAdamConfig;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::beta("betas[0]", self.betas.0)?;
        check::beta("betas[1]", self.betas.1)?;
        check::positive("eps", self.eps)?;
        check::non_negative("weight_decay", self.weight_decay)?;
        check::non_negative("momentum_decay", self.momentum_decay)
    }
    fn kernel(&self) -> NAdamConfig {
        self.clone()
    }
    lr_and_weight_decay!();
    momentum_is!(betas.0);
}

impl<A: Float> Kernel<A> for NAdamConfig {
    type State = NAdamState<A>;
    type Scalars = NAdamScalars<A::Compute>;

    fn scalars(&self, step: u64, _sum: f64) -> Self::Scalars {
        let (beta1, beta2) = self.betas;
        let t = step as f64;
        NAdamScalars {
            exp_avg_weight: LerpWeight::new(1.0 - beta1),
            beta2: A::Compute::from_f64(beta2),
            one_minus_beta2: A::Compute::from_f64(1.0 - beta2),
            bias_correction2: A::Compute::from_f64(1.0 - beta2.powf(t)),
            eps: A::Compute::from_f64(self.eps),
            decay: WeightDecay::new(
                self.maximize,
                self.weight_decay,
                self.decoupled_weight_decay,
                self.lr,
            ),
            lr: self.lr,
            mu: momentum_at(beta1, self.momentum_decay, t),
            mu_next: momentum_at(beta1, self.momentum_decay, t + 1.0),
        }
    }

    fn update(&self, sc: &Self::Scalars, pass: &mut Pass<'_, A>, state: &mut NAdamState<A>) {
        // `mu_product *= mu` on an f32 tensor: μ rounded to f32, the product rounded to f32.
        let mu_product = state.mu_product * sc.mu as f32;
        state.mu_product = mu_product;
        let mu_product = f64::from(mu_product);
        let grad_weight = A::Compute::from_f64((-sc.lr * (1.0 - sc.mu)) / (1.0 - mu_product));
        let exp_avg_weight = A::Compute::from_f64((-sc.lr * sc.mu_next) / (1.0 - mu_product * sc.mu_next));
        let NAdamScalars {
            exp_avg_weight: lerp_weight,
            beta2,
            one_minus_beta2,
            bias_correction2,
            eps,
            decay,
            ..
        } = *sc;
        unswitch! {
            const MAXIMIZE: bool = decay.maximize();
            const DECAY: Decay = decay.form() => [Decay::None, Decay::Coupled, Decay::Decoupled];
            pass.zip2(
                &mut state.exp_avg,
                &mut state.exp_avg_sq,
                #[inline(always)]
                move |p, g, m, v| {
                    let g = decay.apply(p, g, MAXIMIZE, DECAY);
                    *m = lerp_weight.lerp(*m, g);
                    *v = addcmul(decayed(*v, beta2), one_minus_beta2, g, g);
                    // √(v / bc₂): the division comes before the square root, unlike Adam.
                    let denom = (*v / bias_correction2).sqrt() + eps;
                    *p = addcdiv(*p, grad_weight, g, denom);
                    *p = addcdiv(*p, exp_avg_weight, *m, denom);
                },
            )
        }
    }
}

optimizer_type! {
    /// NAdam (Dozat, 2016): Adam with Nesterov momentum, PyTorch's `torch.optim.NAdam`.
    ///
    /// The step looks ahead: it mixes the current gradient with the *next* step's momentum, and
    /// the momentum coefficient `μₜ` warms up from `β₁/2` towards `β₁` (Dozat's schedule), which
    /// tempers the first steps. Per element, at step `t`:
    ///
    /// ```text
    /// g ← −g                                   if maximize
    /// p ← p·(1 − γλ)                           if λ ≠ 0, decoupled
    /// g ← g + λ·p                              if λ ≠ 0, coupled (L2, the default)
    /// μₜ = β₁·(1 − ½·0.96^(tψ)) ;  μₜ₊₁ = β₁·(1 − ½·0.96^((t+1)ψ))
    /// Πₜ = Πₜ₋₁·μₜ                             (mu_product, Π₀ = 1)
    /// m ← β₁·m + (1 − β₁)·g                    (computed as m + (1 − β₁)(g − m), PyTorch's lerp)
    /// v ← β₂·v + (1 − β₂)·g²
    /// d = √(v / (1 − β₂ᵗ)) + ε
    /// p ← p − γ(1 − μₜ)/(1 − Πₜ) · g / d
    /// p ← p − γμₜ₊₁/(1 − Πₜ·μₜ₊₁) · m / d
    /// ```
    ///
    /// `m` has no bias correction of its own: `Π` plays that role. Defaults are PyTorch's: see
    /// [`NAdamConfig`].
    ///
    /// # State
    ///
    /// The buffers are PyTorch's `exp_avg` and `exp_avg_sq`. PyTorch also keeps `mu_product`
    /// per tensor: a scalar tensor of the *default* dtype (`f32` unless
    /// `torch.set_default_dtype(torch.float64)`, so `f32` for `f64` parameters too), updated with
    /// `mu_product *= mu`, which rounds `μₜ` and the product to `f32`. This crate keeps it the
    /// same way, in `f32` for both element types, so a running optimizer follows PyTorch step for
    /// step, also after [`set_momentum`](crate::Optimizer::set_momentum) changes `β₁`. (An `f64`
    /// product, what PyTorch computes under an `f64` default dtype, puts `f64` parameters up to
    /// 6.5e-10 away from the recorded PyTorch trajectories after the first step.)
    ///
    /// The saved form ([`OptimizerState`](crate::OptimizerState)) carries `mu_product` per tensor
    /// among its scalars, exactly, so a resumed run continues bit for bit, also after a momentum
    /// schedule changed `β₁`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{NAdam, Optimizer};
    ///
    /// let mut w = array![1.0_f64, 1.0];
    /// let mut opt = NAdam::new(0.01)?;
    /// opt.step(&mut w, &array![100.0, -0.01])?;
    /// // The first step moves every element by about γ, whatever its gradient's size.
    /// assert!((w[0] - 0.99).abs() < 1e-3 && (w[1] - 1.01).abs() < 1e-3);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    NAdam, NAdamConfig, "NAdam::<f32>::new(0.1)?"
}

impl<A: Float> NAdam<A> {
    /// NAdam with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{NAdam, Optimizer};
    /// let opt = NAdam::<f32>::new(2e-3)?;
    /// assert_eq!((opt.name(), opt.momentum()), ("NAdam", Some(0.9)));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        NAdamConfig::default().lr(lr).build()
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // bit-exact on purpose
mod tests {
    /// `Π μₖ` for `k = 1..=steps`, accumulated as PyTorch does: an `f32` tensor multiplied in place
    /// by each `μₖ` (`mu_product *= mu`, which rounds `μₖ` to `f32` and the product to `f32`).
    ///
    /// The factors grow with `k` towards `β₁ < 1` (`ψ ≥ 0`), so once a product stops changing
    /// (underflowed to 0, or a subnormal that rounds back to itself) it never changes again: the loop
    /// stops there. With the default `ψ` that is after about 150 factors whatever `β₁`; with a fast
    /// schedule (`ψ = 0.5`) after about `70 / (1 − β₁)`.
    fn mu_product_after(steps: u64, beta1: f64, momentum_decay: f64) -> f32 {
        let mut product = 1.0_f32;
        for k in 1..=steps {
            let next = product * momentum_at(beta1, momentum_decay, k as f64) as f32;
            if next.to_bits() == product.to_bits() {
                break;
            }
            product = next;
        }
        product
    }

    use super::*;
    use crate::Optimizer;
    use ndarray::{Array1, array};

    /// `mu_product` as PyTorch 2.15 holds it after 1, 2, 3, 10 and 100 steps with the defaults
    /// (`torch.optim.NAdam(foreach=False)`, `state["mu_product"]`, as `f32` bits).
    #[test]
    fn mu_product_is_accumulated_in_f32_as_pytorch_does() {
        let pytorch = [
            (1, 0x3ee6_7008_u32),
            (2, 0x3e4f_762a),
            (3, 0x3dba_ce8e),
            (10, 0x39b4_21cd),
            (100, 0x067b_dc7e),
        ];
        let mut product = 1.0_f32;
        for k in 1..=3000_u64 {
            product *= momentum_at(0.9, 4e-3, k as f64) as f32;
            // Rebuilding from the step count gives the same bits at every step.
            assert_eq!(mu_product_after(k, 0.9, 4e-3).to_bits(), product.to_bits());
            if let Some(&(_, want)) = pytorch.iter().find(|(step, _)| *step == k) {
                assert_eq!(product.to_bits(), want, "step {k}");
            }
        }
        assert_eq!(product, 0.0);
        // β₁ close to 1 and a fast schedule end on a subnormal that rounds back to itself.
        let slow = (1..=3000_u64).fold(1.0_f32, |p, k| p * momentum_at(0.95, 0.1, k as f64) as f32);
        assert!(slow > 0.0);
        assert_eq!(mu_product_after(3000, 0.95, 0.1).to_bits(), slow.to_bits());
        assert_eq!(mu_product_after(0, 0.9, 4e-3), 1.0);
    }

    #[test]
    fn a_loaded_state_continues_bit_for_bit() {
        let grads = |k: usize| Array1::from_shape_fn(5, |i| ((i * 7 + k * 3) as f64 * 0.31).sin());
        let mut reference = NAdam::<f32>::new(0.01).unwrap();
        let mut w_ref = Array1::<f32>::ones(5);
        for k in 0..40 {
            reference
                .step(&mut w_ref, &grads(k).mapv(|x| x as f32))
                .unwrap();
        }
        let mut first = NAdam::<f32>::new(0.01).unwrap();
        let mut w = Array1::<f32>::ones(5);
        for k in 0..23 {
            first.step(&mut w, &grads(k).mapv(|x| x as f32)).unwrap();
        }
        let mut resumed = NAdam::<f32>::new(0.5).unwrap();
        resumed.load_state(first.save_state()).unwrap();
        for k in 23..40 {
            resumed.step(&mut w, &grads(k).mapv(|x| x as f32)).unwrap();
        }
        assert_eq!(w, w_ref);
    }

    #[test]
    fn the_first_step_uses_the_momentum_schedule() {
        // Step 1 from m = v = 0: m = (1 − β₁)g, √(v/bc₂) = |g|, so
        // p = −γ(1 − μ₁)/(1 − μ₁)·sign(g) − γμ₂/(1 − μ₁μ₂)·(1 − β₁)·sign(g) (ε aside).
        let mut w = array![0.0_f64];
        let mut opt = NAdam::new(1.0).unwrap();
        opt.step(&mut w, &array![3.0]).unwrap();
        let (mu1, mu2) = (momentum_at(0.9, 4e-3, 1.0), momentum_at(0.9, 4e-3, 2.0));
        let mu1_f32 = f64::from(mu1 as f32);
        let expected = -(1.0 - mu1) / (1.0 - mu1_f32) - mu2 / (1.0 - mu1_f32 * mu2) * 0.1;
        assert!((w[0] - expected).abs() < 1e-8, "{} vs {expected}", w[0]);
    }

    #[test]
    fn invalid_hyperparameters_are_rejected_by_name() {
        let name = |config: NAdamConfig| match config.build::<f32>() {
            Err(Error::InvalidHyperparameter { name, .. }) => name,
            other => panic!("expected an invalid hyperparameter, got {other:?}"),
        };
        assert_eq!(name(NAdamConfig::default().lr(-1.0)), "lr");
        assert_eq!(name(NAdamConfig::default().betas((1.0, 0.999))), "betas[0]");
        assert_eq!(name(NAdamConfig::default().betas((0.9, 1.0))), "betas[1]");
        assert_eq!(name(NAdamConfig::default().eps(-1e-8)), "eps");
        assert_eq!(
            name(NAdamConfig::default().weight_decay(-0.1)),
            "weight_decay"
        );
        assert_eq!(
            name(NAdamConfig::default().momentum_decay(-4e-3)),
            "momentum_decay"
        );
        assert_eq!(
            name(NAdamConfig::default().momentum_decay(f64::NAN)),
            "momentum_decay"
        );
        assert!(
            NAdamConfig::default()
                .momentum_decay(0.0)
                .build::<f32>()
                .is_ok()
        );
    }
}
