//! Adam and AMSGrad: `torch.optim.Adam`. Its kernel also runs [`AdamW`](crate::AdamW).

use crate::builder::config;
use crate::check;
use crate::driver::buffers::state;
use crate::driver::{Hyperparameters, momentum_is, Kernel, lr_and_weight_decay, optimizer_type, largest_step_is_adams};
use crate::error::Error;
use crate::float::Float;
use crate::ops::{
    Decay, LerpWeight, WeightDecay, addcdiv, addcmul, agrees, caution_scale, cautious, decayed,
    maximum, saturate,
};
use crate::lowbit::{Moment, Quantization};
use crate::pass::{Pass, unswitch};

config! {
    /// Hyperparameters of [`Adam`]: those of PyTorch's `torch.optim.Adam`, with its defaults.
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `lr` | `1e-3` | `≥ 0` |
    /// | `betas` | `(0.9, 0.999)` | each in `[0, 1)` |
    /// | `eps` | `1e-8` | `> 0` (PyTorch: `≥ 0`; with 0 a zero gradient gives 0/0 = NaN) |
    /// | `weight_decay` | `0` | `≥ 0` |
    /// | `decoupled_weight_decay` | `false` (L2 into the gradient) | `true`: `p ← p·(1 − γλ)`, AdamW's form |
    /// | `amsgrad` | `false` | |
    /// | `maximize` | `false` | |
    /// | `caution` | `false` | `true`: cautious masking, timm's `cadamw` (see [`Adam`]) |
    /// | `quantized_state` | `None` (`f32`/`f64` state) | [`Quantization::int8`], [`Quantization::fp8`] or [`Quantization::int4`]: torchao's `Adam8bit`/`AdamFp8`/`Adam4bit` (see [`Adam`]); not with `amsgrad` or `caution` |
    ///
    /// Note the divergent defaults of other libraries: Keras `eps = 1e-7`, burn `eps = 1e-5`,
    /// optax AdamW `weight_decay = 1e-4`. PyTorch's `AdamW` is [`AdamW`](crate::AdamW) with
    /// [`AdamWConfig`](crate::AdamWConfig).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Adam, AdamConfig, Optimizer};
    ///
    /// let mut adam: Adam<f32> =
    ///     AdamConfig::default().lr(3e-4).betas((0.9, 0.98)).amsgrad(true).build()?;
    /// adam.step(&mut array![1.0_f32], &array![1.0])?;
    /// // AMSGrad's running maximum of v is one more state buffer.
    /// assert!(adam.save_state().tensors[0].buffers.contains_key("max_exp_avg_sq"));
    /// assert!(AdamConfig::default().betas((0.9, 1.0)).build::<f32>().is_err()); // each in [0, 1)
    ///
    /// // Decoupled decay with no gradient: only p ← p·(1 − γλ) acts.
    /// let config = AdamConfig::default().lr(0.1).weight_decay(0.01).decoupled_weight_decay(true);
    /// let mut w = array![1.0_f64];
    /// config.build()?.step(&mut w, &array![0.0])?;
    /// assert!((w[0] - 0.999).abs() < 1e-12);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub struct AdamConfig {
        /// Learning rate `γ`.
        lr: f64 = 1e-3,
        /// Decay rates `(β₁, β₂)` of the first and second moment estimates.
        betas: (f64, f64) = (0.9, 0.999),
        /// Term `ε` added to the denominator, after bias-correcting `√v`.
        eps: f64 = 1e-8,
        /// Weight decay `λ`: coupled (L2) or decoupled, see `decoupled_weight_decay`.
        weight_decay: f64 = 0.0,
        /// Decoupled weight decay (AdamW's form): `p ← p·(1 − γλ)` instead of `g ← g + λp`.
        decoupled_weight_decay: bool = false,
        /// AMSGrad: divide by the running maximum of `v`.
        amsgrad: bool = false,
        /// Maximise the objective instead of minimising it.
        maximize: bool = false,
        /// Cautious masking of the first moment in the step (see [`Adam`]).
        caution: bool = false,
        /// Block-wise quantised moments, torchao's 8-bit or 4-bit state (see [`Adam`]).
        quantized_state: impl Into<Option<Quantization>> = None,
    }
}

impl AdamConfig {
    /// The checks Adam and AdamW share.
    pub(crate) fn check_ranges(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::beta("betas[0]", self.betas.0)?;
        check::beta("betas[1]", self.betas.1)?;
        check::positive("eps", self.eps)?;
        check::non_negative("weight_decay", self.weight_decay)?;
        if let Some(q) = self.quantized_state {
            q.check(&[8, 4])?;
            // Named by the flag, whose value the message can show.
            let quantized = "must be false with quantized_state (which has no form for it)";
            check::require(!self.amsgrad, "amsgrad", 1.0, quantized)?;
            check::require(!self.caution, "caution", 1.0, quantized)?;
        }
        Ok(())
    }
}

impl Hyperparameters for AdamConfig {
    largest_step_is_adams!();
    type Kernel = AdamConfig;

    fn validate(&self) -> Result<(), Error> {
        self.check_ranges()
    }
    fn kernel(&self) -> AdamConfig {
        self.clone()
    }
    lr_and_weight_decay!();
    momentum_is!(betas.0);
}

#[derive(Clone, Copy)]
pub(crate) struct AdamScalars<A> {
    exp_avg_weight: LerpWeight<A>,
    beta2: A,
    one_minus_beta2: A,
    neg_step_size: A,
    bias_correction2_sqrt: A,
    eps: A,
    decay: WeightDecay<A>,
    caution: bool,
    /// torchao's scalars, for quantised state (see [`AdamScalars::torchao`]).
    torchao: TorchaoScalars<A>,
}

/// The scalars of torchao's `single_param_adam`, each as torchao computes it in the type of the
/// arithmetic: `lr` (a tensor there), the bias corrections `1 − βᵗ` from a power in that type.
#[derive(Clone, Copy)]
pub(crate) struct TorchaoScalars<A> {
    exp_avg_sq_weight: LerpWeight<A>,
    lr: A,
    weight_decay: A,
    lr_weight_decay: A,
    bias_correction1: A,
    bias_correction2_sqrt: A,
}

state! {
    /// Per-tensor state of Adam and AdamW.
    pub(crate) struct AdamState for AdamConfig {
        /// The first moment `m`.
        exp_avg: moment(true, |k| k.quantized_state),
        /// The second moment `v`.
        exp_avg_sq: moment(false, |k| k.quantized_state),
        /// The running maximum of `v` (AMSGrad).
        max_exp_avg_sq: when(|k| k.amsgrad),
    }
}

impl<A: Float> AdamScalars<A> {
    /// Weight decay and both moment updates; the moments are updated in place. `maximize` and
    /// `decay` are this step's decisions, as constants. Returns the gradient the moments saw
    /// (after `maximize` and coupled decay).
    #[inline(always)]
    fn moments(&self, p: &mut A, g: A, m: &mut A, v: &mut A, maximize: bool, decay: Decay) -> A {
        let g = self.decay.apply(p, g, maximize, decay);
        *m = self.exp_avg_weight.lerp(*m, g);
        *v = addcmul(decayed(*v, self.beta2), self.one_minus_beta2, g, g);
        g
    }

    /// torchao's `single_param_adam`, its operations in its order, each rounded: the decay,
    /// `m ← m.lerp(g, 1 − β₁)`, `v ← v.lerp(g², 1 − β₂)`, `p ← p − γ·(m/bc₁) / (√v/√bc₂ + ε)`.
    #[inline(always)]
    fn torchao(&self, p: &mut A, g: A, m: &mut A, v: &mut A, maximize: bool, decay: Decay) {
        let ao = &self.torchao;
        let mut g = if maximize { -g } else { g };
        match decay {
            Decay::None => {}
            Decay::Coupled => g = g + ao.weight_decay * *p,
            Decay::Decoupled => *p = *p - ao.lr_weight_decay * *p,
        }
        // Held within the finite range (identical for every moment that did not overflow): an
        // overflowed `g²` would make `∞ − ∞` of the next lerp, and NaN codes of its block; and
        // `g²` itself, before the lerp, whose `end − (end − start)·(1 − w)` form turns an
        // infinite `end` into `∞ − ∞` (where torchao writes a NaN from a finite gradient).
        *m = saturate(self.exp_avg_weight.lerp(*m, g));
        *v = saturate(ao.exp_avg_sq_weight.lerp(*v, saturate(g * g)));
        let denom = v.sqrt() / ao.bias_correction2_sqrt + self.eps;
        *p = *p - ao.lr * (*m / ao.bias_correction1) / denom;
    }

    /// `p ← p − (γ/bc₁)·m / (√v/√bc₂ + ε)` for the given second moment.
    #[inline(always)]
    fn apply(&self, p: &mut A, m: A, v: A) {
        let denom = v.sqrt() / self.bias_correction2_sqrt + self.eps;
        *p = addcdiv(*p, self.neg_step_size, m, denom);
    }
}

impl<A: Float> Kernel<A> for AdamConfig {
    type State = AdamState<A>;
    type Scalars = AdamScalars<A::Compute>;

    fn scalars(&self, step: u64, _sum: f64) -> Self::Scalars {
        let (beta1, beta2) = self.betas;
        let t = step as f64;
        let bias_correction1 = 1.0 - beta1.powf(t);
        let bias_correction2 = 1.0 - beta2.powf(t);
        AdamScalars {
            exp_avg_weight: LerpWeight::new(1.0 - beta1),
            beta2: A::Compute::from_f64(beta2),
            one_minus_beta2: A::Compute::from_f64(1.0 - beta2),
            neg_step_size: A::Compute::from_f64(-(self.lr / bias_correction1)),
            bias_correction2_sqrt: A::Compute::from_f64(bias_correction2.sqrt()),
            eps: A::Compute::from_f64(self.eps),
            decay: WeightDecay::new(
                self.maximize,
                self.weight_decay,
                self.decoupled_weight_decay,
                self.lr,
            ),
            caution: self.caution,
            torchao: {
                type C<A> = <A as Float>::Compute;
                let t = C::<A>::from_f64(step as f64);
                let power = |beta: f64| num_traits::Float::powf(C::<A>::from_f64(beta), t);
                let lr = C::<A>::from_f64(self.lr);
                let weight_decay = C::<A>::from_f64(self.weight_decay);
                TorchaoScalars {
                    exp_avg_sq_weight: LerpWeight::new(1.0 - beta2),
                    lr,
                    weight_decay,
                    lr_weight_decay: lr * weight_decay,
                    bias_correction1: C::<A>::from_f64(1.0) - power(beta1),
                    bias_correction2_sqrt: num_traits::Float::sqrt(C::<A>::from_f64(1.0) - power(beta2)),
                }
            },
        }
    }

    fn update(&self, sc: &Self::Scalars, pass: &mut Pass<'_, A>, state: &mut AdamState<A>) {
        let sc = *sc;
        let AdamState {
            exp_avg,
            exp_avg_sq,
            max_exp_avg_sq,
        } = state;
        // torchao's arithmetic for every tensor whose moments are quantised, and for the others
        // with `quantized_state` (smaller tensors). Validation keeps AMSGrad and caution out of
        // such a configuration; the state decides the storage (a group's configuration changed
        // since the state was made does not change it).
        let (exp_avg, exp_avg_sq) = match (exp_avg, exp_avg_sq) {
            (Moment::Quantized(m), Moment::Quantized(v)) => {
                return unswitch! {
                    const MAXIMIZE: bool = sc.decay.maximize();
                    const DECAY: Decay = sc.decay.form() => [Decay::None, Decay::Coupled, Decay::Decoupled];
                    pass.zip2_quantized(
                        m,
                        v,
                        #[inline(always)]
                        move |p, g, m, v| sc.torchao(p, g, m, v, MAXIMIZE, DECAY),
                    )
                };
            }
            (Moment::Full(m), Moment::Full(v)) => (m, v),
            _ => unreachable!("a tensor's moments are made and loaded together"),
        };
        if self.quantized_state.is_some() {
            return unswitch! {
                const MAXIMIZE: bool = sc.decay.maximize();
                const DECAY: Decay = sc.decay.form() => [Decay::None, Decay::Coupled, Decay::Decoupled];
                pass.zip2(
                    exp_avg,
                    exp_avg_sq,
                    #[inline(always)]
                    move |p, g, m, v| sc.torchao(p, g, m, v, MAXIMIZE, DECAY),
                )
            };
        }
        unswitch! {
            const MAXIMIZE: bool = sc.decay.maximize();
            const DECAY: Decay = sc.decay.form() => [Decay::None, Decay::Coupled, Decay::Decoupled];
            if sc.caution {
                // The mask's mean needs every element's new moment first: a read-only pass
                // that computes each element's `m` and counts, then the step, which computes
                // the moments again and steps from them as they are in `A::Compute`, not as
                // the first pass would have stored them (rounded, for 16-bit types). The
                // counting pass decays a copy of the parameter, so that it is stored, and
                // rounded, once.
                let agreeing = pass.zip1_count(
                    exp_avg,
                    #[inline(always)]
                    move |mut p, g, m| {
                        let g = sc.decay.apply(&mut p, g, MAXIMIZE, DECAY);
                        agrees(sc.exp_avg_weight.lerp(*m, g), g)
                    },
                );
                let scale = caution_scale::<A::Compute>(agreeing, pass.len());
                match max_exp_avg_sq {
                    None => pass.zip2(
                        exp_avg,
                        exp_avg_sq,
                        #[inline(always)]
                        move |p, g, m, v| {
                            let g = sc.moments(p, g, m, v, MAXIMIZE, DECAY);
                            sc.apply(p, cautious(*m, g, scale), *v);
                        },
                    ),
                    Some(v_max) => pass.zip3(
                        exp_avg,
                        exp_avg_sq,
                        v_max,
                        #[inline(always)]
                        move |p, g, m, v, v_max| {
                            let g = sc.moments(p, g, m, v, MAXIMIZE, DECAY);
                            *v_max = maximum(*v_max, *v);
                            sc.apply(p, cautious(*m, g, scale), *v_max);
                        },
                    ),
                }
            } else {
                match max_exp_avg_sq {
                    None => pass.zip2(
                        exp_avg,
                        exp_avg_sq,
                        #[inline(always)]
                        move |p, g, m, v| {
                            sc.moments(p, g, m, v, MAXIMIZE, DECAY);
                            sc.apply(p, *m, *v);
                        },
                    ),
                    Some(v_max) => pass.zip3(
                        exp_avg,
                        exp_avg_sq,
                        v_max,
                        #[inline(always)]
                        move |p, g, m, v, v_max| {
                            sc.moments(p, g, m, v, MAXIMIZE, DECAY);
                            // The maximum of the raw v, bias-corrected with this step's bc₂.
                            *v_max = maximum(*v_max, *v);
                            sc.apply(p, *m, *v_max);
                        },
                    ),
                }
            }
        }
    }
}

optimizer_type! {
    /// Adam (Kingma & Ba, 2015) and AMSGrad (Reddi et al., 2018): PyTorch's `torch.optim.Adam`.
    ///
    /// Momentum and per-parameter step sizes together: a running mean `m` of the gradients gives
    /// the direction, a running mean `v` of their squares scales each parameter's step, both
    /// corrected for starting at zero. Per element, at step `t`:
    ///
    /// ```text
    /// g ← −g                                   if maximize
    /// p ← p·(1 − γλ)                           if λ ≠ 0, decoupled (AdamW)
    /// g ← g + λ·p                              if λ ≠ 0, coupled (L2, the default)
    /// m ← β₁·m + (1 − β₁)·g                    (computed as m + (1 − β₁)(g − m), PyTorch's lerp)
    /// v ← β₂·v + (1 − β₂)·g²
    /// v̂ ← max(v̂, v)                            if amsgrad (else v̂ = v)
    /// m̃ = m · mask / max(mean(mask), 10⁻³),  mask = (m·g > 0)     if caution (else m̃ = m)
    /// p ← p − γ/(1 − β₁ᵗ) · m̃ / (√v̂ / √(1 − β₂ᵗ) + ε)
    /// ```
    ///
    /// `caution` is cautious masking (Liang et al., 2024, "Cautious Optimizers"), as timm's
    /// `AdamW(caution=True)` computes it: the components of the step whose sign disagrees with
    /// the gradient's (the gradient the moments saw, after `maximize` and coupled decay) are
    /// dropped, the others scaled up by the inverse of the fraction kept, per tensor. It needs
    /// the count of agreeing elements before the step: two passes over the tensor instead of
    /// one. `m` itself is stored unmasked.
    ///
    /// # 8-bit, float8 and 4-bit state
    ///
    /// With `quantized_state` ([`Quantization::int8`], [`Quantization::fp8`],
    /// [`Quantization::int4`]) this is torchao's `Adam8bit`/`AdamFp8`/`Adam4bit`
    /// (`AdamW8bit`/`AdamWFp8`/`AdamW4bit` with decoupled decay), bit for bit: `m` and `v` of every tensor of at least 4,096 elements (a multiple of the block
    /// size) are kept as one code per element, 8 or 4 bits, and one `f32` scale per block of 256
    /// (8 bits) or 128 (4 bits) elements: about 2.03 or 1.06 bytes per parameter instead of 8
    /// ([`Optimizer::state_bytes`](crate::Optimizer::state_bytes)). A block is updated as
    /// torchao does, in its operations and order:
    ///
    /// ```text
    /// m, v ← map₁[code]·scale, map₂[code]·scale             (dequantise the block)
    /// p ← p − (γλ)·p                                     if decoupled;  g ← g + λ·p  if coupled
    /// m ← m.lerp(g, 1 − β₁) ;  v ← v.lerp(g², 1 − β₂)
    /// p ← p − γ·(m / bc₁) / (√v / √bc₂ + ε)              (the new m and v, before quantising)
    /// scale ← max(max |x| over the block, 10⁻¹²) ;  code ← nearest(map, x / scale)   for m, v
    /// ```
    ///
    /// with `bc = 1 − βᵗ` computed in the arithmetic's type (`f32` for `f32` parameters), as
    /// torchao's tensors do. `map₁` is the signed dynamic map (bitsandbytes'
    /// `create_dynamic_map`) for `m`, `map₂` the unsigned one for `v` (8 bits), or with 4 bits
    /// torchao's signed dynamic map of 16 entries and the linear map `k/16, k = 1…16`; `nearest`
    /// is torchao's binary search with ties up. With float8 codes both maps are the
    /// `float8_e4m3fn` numbers, the scale is `max(max |x|, 10⁻¹²) / 448` and `nearest` is
    /// PyTorch's conversion to `float8_e4m3fn` (to nearest even, saturating at ±448), which is
    /// arithmetic: no search, a faster step. The other tensors (under 4,096 elements, or not a
    /// multiple of the block) keep `m` and `v` in full precision, with the same arithmetic:
    /// torchao's order of operations, so their last bits can differ from Adam's without
    /// `quantized_state`. Before the first step every code and scale is 0.
    /// AMSGrad and caution are not available with quantised state. See `docs/numerics.md`
    /// for how bitsandbytes' 8-bit Adam differs.
    ///
    /// `ε` is added after bias-correcting `√v` (PyTorch's form; TF1's "ε̂" form differs). With
    /// `decoupled_weight_decay` this computes PyTorch's `AdamW`, which is also a type of its
    /// own, [`AdamW`](crate::AdamW), with AdamW's defaults. Defaults are PyTorch's: see
    /// [`AdamConfig`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Adam, Optimizer};
    ///
    /// let mut w = array![1.0_f64, 1.0];
    /// let mut opt = Adam::new(0.01)?;
    /// opt.step(&mut w, &array![100.0, -0.01])?;
    /// // The first step moves every element by about γ, whatever its gradient's size.
    /// assert!((w[0] - 0.99).abs() < 1e-6 && (w[1] - 1.01).abs() < 1e-6);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Adam, AdamConfig, "Adam::<f32>::new(0.1)?"
}

impl<A: Float> Adam<A> {
    /// Adam with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adam, Optimizer};
    /// let opt = Adam::<f32>::new(1e-3)?;
    /// assert_eq!(opt.config().betas, (0.9, 0.999));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        AdamConfig::default().lr(lr).build()
    }
}
