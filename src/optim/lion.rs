//! Lion: the sign of an interpolated momentum, as optax's `lion` computes it.

use crate::builder::config;
use crate::check;
use crate::driver::buffers::state;
use crate::driver::{Hyperparameters, momentum_is, Kernel, lr_and_weight_decay, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use crate::ops::{agrees, caution_scale, cautious, descend};
use num_traits::One as _;
use crate::lowbit::{Moment, Quantization};
use crate::pass::{Pass, unswitch};

config! {
    /// Hyperparameters of [`Lion`]: those of optax's `lion` (`b1`, `b2`, `weight_decay`), with its
    /// defaults.
    ///
    /// | field | default | valid | others |
    /// |---|---|---|---|
    /// | `lr` (optax: `learning_rate`) | `1e-4` (optax has no default) | `≥ 0` | lion-pytorch `1e-4` |
    /// | `b1` | `0.9` (interpolation of the update) | `[0, 1]` | |
    /// | `b2` | `0.99` (decay of the momentum) | `[0, 1]` | |
    /// | `weight_decay` | `1e-3` (decoupled, multiplied by `lr`) | `≥ 0` | lion-pytorch, the paper's code: `0` |
    /// | `maximize` | `false` (not in optax: the update of `−g`) | | |
    /// | `caution` | `false` | | `true`: cautious masking, timm's `clion` (see [`Lion`]) |
    /// | `quantized_state` | `None` | [`Quantization::int8`] or [`Quantization::fp8`], not with `caution` | an 8-bit momentum (see [`Lion`]); bitsandbytes' `Lion8bit` |
    ///
    /// Every value must also be finite (optax checks nothing). The paper suggests a learning rate
    /// 3–10× smaller than AdamW's and a weight decay 3–10× larger, so that `lr·weight_decay` stays
    /// similar. Per-tensor weight decay (optax's `mask`) is a [`ParamGroup`](crate::ParamGroup)
    /// with `weight_decay(0.0)`. The momentum has the parameters' type (optax's default
    /// `mu_dtype=None`).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Lion, LionConfig};
    ///
    /// let opt: Lion<f32> = LionConfig::default().lr(3e-4).weight_decay(0.1).build()?;
    /// assert_eq!((opt.config().b1, opt.config().b2), (0.9, 0.99));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub struct LionConfig {
        /// Learning rate `γ` (optax's `learning_rate`).
        lr: f64 = 1e-4,
        /// Interpolation `β₁` between the momentum and the gradient in the update's sign.
        b1: f64 = 0.9,
        /// Decay rate `β₂` of the momentum.
        b2: f64 = 0.99,
        /// Decoupled weight decay `λ`: the update is `γ·(sign(c) + λp)`.
        weight_decay: f64 = 1e-3,
        /// Maximise the objective instead of minimising it (the update of the negated gradient).
        maximize: bool = false,
        /// Cautious masking of the sign update (see [`Lion`]).
        caution: bool = false,
        /// A block-wise quantised 8-bit momentum (see [`Lion`]).
        quantized_state: impl Into<Option<Quantization>> = None,
    }
}

#[derive(Clone, Copy)]
pub(crate) struct LionScalars<A> {
    b1: A,
    one_minus_b1: A,
    b2: A,
    one_minus_b2: A,
    /// Whether `λ ≠ 0`.
    decays: bool,
    weight_decay: A,
    neg_lr: A,
    maximize: bool,
    caution: bool,
}

state! {
    /// Per-tensor state of Lion.
    pub(crate) struct LionState for LionConfig {
        /// The momentum `m`.
        exp_avg: moment(true, |k| k.quantized_state),
    }
}

/// `jnp.sign`: `±1`, and `±0` or NaN unchanged (`f32::signum` would turn `+0` into `1`).
#[inline(always)]
fn sign<A: Float>(x: A) -> A {
    if x > A::zero() {
        A::one()
    } else if x < A::zero() {
        -A::one()
    } else {
        x
    }
}

impl Hyperparameters for LionConfig {
    type Kernel = LionConfig;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::unit("b1", self.b1)?;
        check::unit("b2", self.b2)?;
        check::non_negative("weight_decay", self.weight_decay)?;
        if let Some(q) = self.quantized_state {
            q.check(&[8])?;
            check::require(
                !self.caution,
                "caution",
                1.0,
                "must be false with quantized_state (which has no form for it)",
            )?;
        }
        Ok(())
    }
    fn kernel(&self) -> LionConfig {
        self.clone()
    }
    lr_and_weight_decay!();
    momentum_is!(b1);
}

impl<A: Float> Kernel<A> for LionConfig {
    type State = LionState<A>;
    type Scalars = LionScalars<A::Compute>;

    fn scalars(&self, _step: u64, _sum: f64) -> Self::Scalars {
        LionScalars {
            b1: A::Compute::from_f64(self.b1),
            one_minus_b1: A::Compute::from_f64(1.0 - self.b1),
            b2: A::Compute::from_f64(self.b2),
            one_minus_b2: A::Compute::from_f64(1.0 - self.b2),
            decays: self.weight_decay != 0.0,
            weight_decay: A::Compute::from_f64(self.weight_decay),
            neg_lr: A::Compute::from_f64(-self.lr),
            maximize: self.maximize,
            caution: self.caution,
        }
    }

    fn update(&self, sc: &Self::Scalars, pass: &mut Pass<'_, A>, state: &mut LionState<A>) {
        let sc = *sc;
        unswitch! {
            const MAXIMIZE: bool = sc.maximize;
            const DECAYS: bool = sc.decays;
            const CAUTION: bool = sc.caution;
            {
                // Cautious masking needs the count of signs that agree with the gradient first:
                // a read-only pass. Validation keeps it away from quantised state (a group's
                // configuration changed since then steps it without the mask).
                let scale = match &mut state.exp_avg {
                    Moment::Full(m) if CAUTION => {
                        let agreeing = pass.zip1_count(
                            m,
                            #[inline(always)]
                            move |_p, g, m| {
                                let g = if MAXIMIZE { -g } else { g };
                                agrees(sign(sc.interpolation(*m, g)), g)
                            },
                        );
                        caution_scale::<A::Compute>(agreeing, pass.len())
                    }
                    _ => A::Compute::one(),
                };
                match &mut state.exp_avg {
                    Moment::Full(m) => pass.zip1(
                        m,
                        #[inline(always)]
                        move |p, g, m| sc.step(p, g, m, scale, MAXIMIZE, CAUTION, DECAYS),
                    ),
                    Moment::Quantized(m) => pass.zip1_quantized(
                        m,
                        #[inline(always)]
                        move |p, g, m| sc.step(p, g, m, scale, MAXIMIZE, false, DECAYS),
                    ),
                }
            }
        }
    }
}

impl<A: Float> LionScalars<A> {
    /// One element's step; `maximize`, `caution` and `decays` are this step's decisions, as
    /// constants.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn step(
        &self,
        p: &mut A,
        g: A,
        m: &mut A,
        scale: A,
        maximize: bool,
        caution: bool,
        decays: bool,
    ) {
        let g = if maximize { -g } else { g };
        // XLA fuses `(1 − b)·g + b·m` into fma(1 − b, g, b·m), `u + λ·p` into fma(λ, p, u) and
        // `p + (−γ)·u` into fma(−γ, u, p) (see `Lion`, "Numerics").
        let c = self.interpolation(*m, g);
        *m = self.one_minus_b2.mul_add(g, self.b2 * *m);
        let mut u = sign(c);
        if caution {
            u = cautious(u, g, scale);
        }
        if decays {
            u = self.weight_decay.mul_add(*p, u);
        }
        *p = descend(*p, u, self.neg_lr);
    }

    /// `c = β₁·m + (1 − β₁)·g`, the value whose sign is the update.
    #[inline(always)]
    fn interpolation(&self, m: A, g: A) -> A {
        self.one_minus_b1.mul_add(g, self.b1 * m)
    }
}

optimizer_type! {
    /// Lion (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms"), as optax's
    /// `lion` computes it.
    ///
    /// Every element moves by exactly `γ` per step (plus weight decay): the update is the *sign*
    /// of an interpolation between the momentum and the gradient, so its size does not depend
    /// on the gradient's scale, and only one buffer is kept (half of Adam's memory). Per element:
    ///
    /// ```text
    /// g ← −g                                   if maximize
    /// c = β₁·m + (1 − β₁)·g
    /// m ← β₂·m + (1 − β₂)·g                    (the momentum decays with β₂, not β₁)
    /// u = sign(c)                              (sign(±0) = ±0: a zero c gives no step)
    /// u ← u · mask / max(mean(mask), 10⁻³),  mask = (u·g > 0)     if caution
    /// p ← p − γ·(u + λ·p)                      (decoupled decay on the old p; none if λ = 0)
    /// ```
    ///
    /// This is optax's chain `scale_by_lion(b1, b2)`, `add_decayed_weights(weight_decay)`,
    /// `scale_by_learning_rate(learning_rate)`, then `apply_updates`. Defaults are optax's: see
    /// [`LionConfig`]. `caution` is cautious masking (Liang et al., 2024), as timm's
    /// `Lion(caution=True)` computes it (timm's `clion`): the signs that disagree with the
    /// gradient's are dropped and the others scaled by the inverse of the fraction kept, per
    /// tensor; it counts them in a read-only pass before the step. The state buffer is called `exp_avg` (optax's `mu`, the paper's `m`).
    ///
    /// # Numerics
    ///
    /// optax is used under `jax.jit`, where XLA (CPU, with FMA) fuses each `a·x + b·y` of the
    /// chain: `c = fma(1 − β₁, g, β₁·m)`, `m = fma(1 − β₂, g, β₂·m)`, `u = fma(λ, p, sign(c))`,
    /// `p = fma(−γ, u, p)`. This kernel does the same, with every scalar rounded once from `f64`
    /// to the element type as jax does, so it reproduces jitted optax 0.2.8 (jax 0.10) on CPU
    /// bit for bit in `f32` and `f64`. Without `jax.jit` every operation is rounded on its own
    /// and results differ in the last bit (at most 4e-7 in `f32` over the 50 steps of the test
    /// fixtures). The paper's reference PyTorch code (and lion-pytorch) decays first,
    /// `p ← p·(1 − γλ)`, then `p ← p − γ·sign(c)`: the same algorithm with other roundings, and
    /// `weight_decay = 0` by default. There is no square root, so the comparison with optax in the
    /// test suite is exact.
    ///
    /// # 8-bit state
    ///
    /// With `quantized_state` ([`Quantization::int8`], or [`Quantization::fp8`] for float8
    /// codes) the momentum of a tensor of at least
    /// 4,096 elements (a multiple of 256) is kept as one code of the signed dynamic map per
    /// element and one `f32` scale per block of 256 (about 1.02 bytes per parameter, as
    /// bitsandbytes' `Lion8bit`): each block is dequantised (`m = map[code]·scale`), updated as
    /// above, and quantised again with torchao's arithmetic (see [`Adam`](crate::Adam), "8-bit
    /// and 4-bit state"). Smaller tensors keep `m` in full precision.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{LionConfig, Optimizer};
    ///
    /// let mut w = array![1.0_f64, 1.0, 1.0];
    /// let mut opt = LionConfig::default().lr(0.1).weight_decay(0.0).build()?;
    /// opt.step(&mut w, &array![100.0, -1e-6, 0.0])?;
    /// // ±γ whatever the gradient's size; nothing where it is zero.
    /// assert_eq!(w, array![0.9, 1.1, 1.0]);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Lion, LionConfig, "Lion::<f32>::new(0.1)?"
}

impl<A: Float> Lion<A> {
    /// Lion with learning rate `lr` and optax's other defaults (`b1 = 0.9`, `b2 = 0.99`,
    /// `weight_decay = 1e-3`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Lion, Optimizer};
    /// let opt = Lion::<f32>::new(1e-4)?;
    /// assert_eq!((opt.name(), opt.momentum()), ("Lion", Some(0.9)));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        LionConfig::default().lr(lr).build()
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // bit-exact on purpose
mod tests {
    use super::*;
    use crate::Optimizer;
    use ndarray::array;

    #[test]
    fn sign_keeps_signed_zeros_and_nan() {
        assert_eq!(sign(3.0_f32), 1.0);
        assert_eq!(sign(-1e-30_f64), -1.0);
        assert_eq!(sign(0.0_f32).to_bits(), 0.0_f32.to_bits());
        assert_eq!(sign(-0.0_f64).to_bits(), (-0.0_f64).to_bits());
        assert!(sign(f32::NAN).is_nan());
    }

    #[test]
    fn the_update_uses_b1_and_the_momentum_uses_b2() {
        // g₁ = 1, then g₂ = −0.5: c₂ = 0.9·m₁ − 0.05 = 0.9·0.01 − 0.05 < 0 with b2 = 0.99 …
        let run = |b2: f64| {
            let mut w = array![0.0_f64];
            let config = LionConfig::default().lr(1.0).b2(b2).weight_decay(0.0);
            let mut opt = config.build().unwrap();
            opt.step(&mut w, &array![1.0]).unwrap();
            opt.step(&mut w, &array![-0.5]).unwrap();
            w[0]
        };
        assert_eq!(run(0.99), 0.0); // −1, then +1
        // … but with b2 = 0.5 the momentum is 0.5 and c₂ = 0.45 − 0.05 > 0.
        assert_eq!(run(0.5), -2.0);
    }

    #[test]
    fn weight_decay_is_decoupled_and_scaled_by_lr() {
        let mut w = array![2.0_f64];
        let mut opt = LionConfig::default().lr(0.1).weight_decay(0.5).build().unwrap();
        opt.step(&mut w, &array![0.0]).unwrap(); // sign(0) = 0: only the decay acts
        assert_eq!(w[0], 2.0 - 0.1 * (0.5 * 2.0));
    }

    #[test]
    fn invalid_hyperparameters_are_rejected_by_name() {
        let name = |config: LionConfig| match config.build::<f32>() {
            Err(Error::InvalidHyperparameter { name, .. }) => name,
            other => panic!("expected an invalid hyperparameter, got {other:?}"),
        };
        assert_eq!(name(LionConfig::default().lr(-1e-4)), "lr");
        assert_eq!(name(LionConfig::default().b1(1.01)), "b1");
        assert_eq!(name(LionConfig::default().b2(f64::NAN)), "b2");
        assert_eq!(
            name(LionConfig::default().weight_decay(f64::INFINITY)),
            "weight_decay"
        );
        // Unlike Adam's β, the ends of [0, 1] are valid: no division by 1 − β.
        assert!(LionConfig::default().b1(1.0).b2(0.0).build::<f32>().is_ok());
        let mut lion = Lion::<f32>::new(1e-4).unwrap();
        assert!(lion.set_momentum(1.5).is_err());
        assert_eq!(lion.momentum(), Some(0.9));
    }
}
