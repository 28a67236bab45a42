//! LARS: SGD with a per-tensor ("layer-wise") trust ratio for large-batch training, as timm's
//! `Lars` computes it (with NVIDIA apex's LARC clipping as an option).

use crate::builder::config;
use crate::check;
use crate::driver::buffers::state;
use crate::driver::{Hyperparameters, Kernel, lr_and_weight_decay, momentum_is, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use num_traits::{Float as _, One as _};
use crate::groups::ParamGroup;
use crate::ops::descend;
use crate::pass::{Pass, unswitch};

config! {
    /// Hyperparameters of [`Lars`]: those of timm's `Lars`, with its defaults.
    ///
    /// | field | default | valid | others |
    /// |---|---|---|---|
    /// | `lr` | `1.0` | `≥ 0` | optax: no default |
    /// | `momentum` | `0` | `≥ 0` | optax `0.9`; the paper's ResNet runs `0.9` |
    /// | `dampening` | `0` | `[0, 1]` | |
    /// | `weight_decay` | `0` (into the gradient, inside the ratio) | `≥ 0` | |
    /// | `nesterov` | `false` | needs `momentum > 0` and `dampening = 0` | |
    /// | `trust_coeff` | `0.001` (the paper's `η`) | `≥ 0` | optax's `trust_coefficient` |
    /// | `eps` | `1e-8` | `≥ 0` | optax `0` |
    /// | `trust_clip` | `false` | | `true`: LARC's clipping, `min(r/γ, 1)` |
    /// | `always_adapt` | `false`: the ratio only where `weight_decay ≠ 0` | | `true`: every tensor |
    ///
    /// Every value must also be finite. Tensors that LARS should leave unadapted (biases and
    /// normalisation parameters, as the paper and MLPerf's ResNet recipe do) go into a
    /// [`ParamGroup`] without weight decay (`ParamGroups::no_decay_for_vectors`): with the
    /// default `always_adapt = false` such a group is plain SGD. A group can also decide for
    /// itself with [`ParamGroup::layer_adaptation`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Lars, LarsConfig};
    ///
    /// // The large-batch ResNet recipe: momentum 0.9, decay 5e-5 on the weights.
    /// let opt: Lars<f32> = LarsConfig::default().lr(9.0).momentum(0.9).weight_decay(5e-5).build()?;
    /// assert_eq!(opt.config().trust_coeff, 0.001);
    /// assert!(LarsConfig::default().nesterov(true).build::<f32>().is_err()); // needs momentum
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub struct LarsConfig {
        /// Learning rate `γ`.
        lr: f64 = 1.0,
        /// Momentum factor `μ`.
        momentum: f64 = 0.0,
        /// Dampening `τ` of the momentum.
        dampening: f64 = 0.0,
        /// Weight decay `λ`, added to the gradient before the trust ratio scales it.
        weight_decay: f64 = 0.0,
        /// Nesterov momentum.
        nesterov: bool = false,
        /// The trust coefficient `η` of the ratio `η‖p‖ / (‖g‖ + λ‖p‖ + ε)`.
        trust_coeff: f64 = 0.001,
        /// Term `ε` added to the ratio's denominator.
        eps: f64 = 1e-8,
        /// LARC's clipping: the ratio becomes `min(r/γ, 1)`, so the effective step `γ·r` never
        /// exceeds `γ`.
        trust_clip: bool = false,
        /// Apply the trust ratio to tensors without weight decay too.
        always_adapt: bool = false,
    }
}

/// What LARS runs for one parameter group: its hyperparameters, and the group's choice of
/// layer adaptation when it makes one ([`ParamGroup::layer_adaptation`]).
#[derive(Clone, Debug)]
pub(crate) struct LarsKernel {
    config: LarsConfig,
    layer_adaptation: Option<bool>,
}

#[derive(Clone, Copy)]
pub(crate) struct LarsScalars<A> {
    /// Whether the trust ratio applies to this group's tensors.
    adapt: bool,
    /// Whether `λ ≠ 0`.
    decays: bool,
    weight_decay: A,
    neg_lr: A,
    /// `μ`, when the momentum is on.
    momentum: Option<A>,
    one_minus_dampening: A,
    nesterov: bool,
    /// For the ratio, computed in `f64` from the tensor's norms.
    trust_coeff: f64,
    weight_decay_f64: f64,
    eps: f64,
    lr: f64,
    trust_clip: bool,
}

state! {
    /// Per-tensor state of LARS.
    pub(crate) struct LarsState for LarsKernel {
        /// The momentum buffer `b`, created on the first step that uses momentum (it starts as
        /// that step's scaled gradient, not as zeros).
        momentum_buffer: lazy(),
    }
}

impl Hyperparameters for LarsConfig {
    type Kernel = LarsKernel;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::non_negative("momentum", self.momentum)?;
        check::unit("dampening", self.dampening)?;
        check::non_negative("weight_decay", self.weight_decay)?;
        check::non_negative("trust_coeff", self.trust_coeff)?;
        check::non_negative("eps", self.eps)?;
        if self.nesterov {
            check::require(
                self.momentum > 0.0,
                "momentum",
                self.momentum,
                "must be > 0 for Nesterov momentum",
            )?;
            check::require(
                self.dampening == 0.0,
                "dampening",
                self.dampening,
                "must be 0 for Nesterov momentum",
            )?;
        }
        Ok(())
    }
    fn kernel(&self) -> LarsKernel {
        LarsKernel {
            config: self.clone(),
            layer_adaptation: None,
        }
    }
    fn group_kernel(&self, group: &ParamGroup) -> Result<LarsKernel, Error> {
        Ok(LarsKernel {
            config: self.for_group(group)?,
            layer_adaptation: group.layer_adaptation,
        })
    }
    lr_and_weight_decay!();
    momentum_is!(momentum);
}

impl<A: Float> LarsScalars<A> {
    /// The trust ratio of a tensor from `‖p‖²` and `‖g‖²`, as timm's `_lars_trust_ratio`
    /// computes it (here in `f64`): `η‖p‖ / (‖g‖ + λ‖p‖ + ε)`, 1 if either norm is 0, and
    /// with LARC's clipping `min(r/γ, 1)`.
    fn ratio(&self, p_squares: f64, g_squares: f64) -> A {
        let (w, g) = (p_squares.sqrt(), g_squares.sqrt());
        let ratio = if w > 0.0 && g > 0.0 {
            self.trust_coeff * w / (g + w * self.weight_decay_f64 + self.eps)
        } else {
            1.0
        };
        A::from_f64(if self.trust_clip {
            (ratio / self.lr).min(1.0)
        } else {
            ratio
        })
    }
}

impl<A: Float> Kernel<A> for LarsKernel {
    type State = LarsState<A>;
    type Scalars = LarsScalars<A::Compute>;

    fn scalars(&self, _step: u64, _sum: f64) -> Self::Scalars {
        let c = &self.config;
        let decays = c.weight_decay != 0.0;
        LarsScalars {
            adapt: self.layer_adaptation.unwrap_or(decays || c.always_adapt),
            decays,
            weight_decay: A::Compute::from_f64(c.weight_decay),
            neg_lr: A::Compute::from_f64(-c.lr),
            momentum: (c.momentum != 0.0).then(|| A::Compute::from_f64(c.momentum)),
            one_minus_dampening: A::Compute::from_f64(1.0 - c.dampening),
            nesterov: c.nesterov,
            trust_coeff: c.trust_coeff,
            weight_decay_f64: c.weight_decay,
            eps: c.eps,
            lr: c.lr,
            trust_clip: c.trust_clip,
        }
    }

    fn update(&self, sc: &Self::Scalars, pass: &mut Pass<'_, A>, state: &mut LarsState<A>) {
        let sc = *sc;
        // The ratio of this tensor ("layer"), from its norms before the step.
        let ratio = if sc.adapt {
            let (p_squares, g_squares) = pass.sum_squares_param_grad();
            sc.ratio(p_squares, g_squares)
        } else {
            A::Compute::one()
        };
        let (wd, neg_lr) = (sc.weight_decay, sc.neg_lr);
        let Some(momentum) = sc.momentum else {
            return unswitch! {
                const ADAPT: bool = sc.adapt;
                const DECAYS: bool = sc.decays;
                pass.zip(
                    #[inline(always)]
                    move |p, g| {
                        let g = scaled(*p, g, wd, ratio, DECAYS, ADAPT);
                        *p = descend(*p, g, neg_lr);
                    },
                )
            };
        };
        let one_minus_dampening = sc.one_minus_dampening;
        unswitch! {
            const ADAPT: bool = sc.adapt;
            const DECAYS: bool = sc.decays;
            const NESTEROV: bool = sc.nesterov;
            match &mut state.momentum_buffer {
                Some(buf) => pass.zip1(
                    buf,
                    #[inline(always)]
                    move |p, g, buf| {
                        let g = scaled(*p, g, wd, ratio, DECAYS, ADAPT);
                        *buf = g.mul_add(one_minus_dampening, *buf * momentum);
                        let d = if NESTEROV { buf.mul_add(momentum, g) } else { *buf };
                        *p = descend(*p, d, neg_lr);
                    },
                ),
                None => {
                    // First step with momentum: the buffer starts as the scaled gradient itself
                    // (timm's `torch.clone(grad)`), not as zeros.
                    let mut buf = vec![A::zero(); pass.len()];
                    pass.zip1(
                        &mut buf,
                        #[inline(always)]
                        move |p, g, buf| {
                            let g = scaled(*p, g, wd, ratio, DECAYS, ADAPT);
                            *buf = g;
                            let d = if NESTEROV { g.mul_add(momentum, g) } else { g };
                            *p = descend(*p, d, neg_lr);
                        },
                    );
                    state.momentum_buffer = Some(buf);
                }
            }
        }
    }
}

/// The gradient LARS's momentum sees: `(g + λp)·r` when adapting (timm's
/// `grad.add(p, alpha=λ).mul_(r)`, the decay added even when `λ = 0`), else `g + λp`.
#[inline(always)]
fn scaled<A: Float>(p: A, g: A, wd: A, ratio: A, decays: bool, adapt: bool) -> A {
    if adapt {
        p.mul_add(wd, g) * ratio
    } else if decays {
        p.mul_add(wd, g)
    } else {
        g
    }
}

optimizer_type! {
    /// LARS (You et al., 2017, "Large Batch Training of Convolutional Networks"), as timm's
    /// `Lars` computes it, with NVIDIA apex's LARC clipping as an option (`trust_clip`; timm's
    /// `larc`).
    ///
    /// SGD whose step is rescaled per tensor ("layer") so that every layer moves by about the
    /// same fraction `η` of its own size: the learning rate that large batches need would make
    /// some layers diverge and leave others stuck, and the trust ratio evens them out. Per
    /// tensor, with `‖·‖` its L2 norm before the step:
    ///
    /// ```text
    /// r = η‖p‖ / (‖g‖ + λ‖p‖ + ε)              (1 if ‖p‖ = 0 or ‖g‖ = 0)
    /// r ← min(r/γ, 1)                          if trust_clip (LARC)
    /// ```
    ///
    /// then, per element, when the ratio applies (`λ ≠ 0` or `always_adapt`; else `r = 1`):
    ///
    /// ```text
    /// g ← (g + λ·p)·r
    /// if μ ≠ 0:
    ///     b ← g                   on the first step
    ///     b ← μ·b + (1 − τ)·g     afterwards
    ///     g ← g + μ·b             if nesterov, else g ← b
    /// p ← p − γ·g
    /// ```
    ///
    /// PyTorch's form of momentum, as in [`Sgd`](crate::Sgd): the learning rate multiplies the
    /// buffer. The norms are summed in `f64` in each tensor's logical order (the same for every
    /// memory layout) and the ratio is computed in `f64` and rounded once; timm computes them
    /// in the tensors' type. optax's `lars` is another algorithm with the same name: its ratio
    /// is `η‖p‖ / (‖g + λp‖ + ε)` and its momentum accumulates the learning-rate-scaled steps.
    /// Defaults are timm's: see [`LarsConfig`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{LarsConfig, Optimizer};
    ///
    /// let mut w = array![3.0_f64, 4.0]; // ‖w‖ = 5
    /// let mut opt = LarsConfig::default().lr(1.0).always_adapt(true).eps(0.0).build()?;
    /// opt.step(&mut w, &array![600.0, 800.0])?; // ‖g‖ = 1000: r = 0.001·5/1000
    /// // The step is η‖w‖ = 0.005 long whatever the gradient's size.
    /// assert!((w[0] - (3.0 - 0.003)).abs() < 1e-12 && (w[1] - (4.0 - 0.004)).abs() < 1e-12);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Lars, LarsConfig, "Lars::<f32>::new(0.1)?"
}

impl<A: Float> Lars<A> {
    /// LARS with learning rate `lr` and timm's other defaults (no momentum, no weight decay:
    /// with them the ratio does not apply; set `momentum`, `weight_decay` or `always_adapt`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Lars, Optimizer};
    /// let opt = Lars::<f32>::new(1.0)?;
    /// assert_eq!((opt.name(), opt.momentum()), ("Lars", Some(0.0)));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        LarsConfig::default().lr(lr).build()
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // bit-exact on purpose
mod tests {
    use super::*;
    use crate::{Optimizer, ParamGroups};
    use ndarray::array;

    #[test]
    fn larc_clips_the_effective_rate_at_the_learning_rate() {
        // ‖w‖ = 5, ‖g‖ = 1: r = 0.5·5/(1 + 0) = 2.5 > γ = 1, clipped to min(2.5/1, 1) = 1.
        let config = LarsConfig::default()
            .lr(1.0)
            .always_adapt(true)
            .trust_coeff(0.5)
            .eps(0.0);
        let mut w = array![3.0_f64, 4.0];
        let g = array![0.0, 1.0];
        config.clone().build().unwrap().step(&mut w, &g).unwrap();
        assert_eq!(w, array![3.0, 4.0 - 2.5]);
        let mut w = array![3.0_f64, 4.0];
        config.trust_clip(true).build().unwrap().step(&mut w, &g).unwrap();
        assert_eq!(w, array![3.0, 3.0]);
    }

    #[test]
    fn a_group_without_decay_is_plain_sgd_and_can_be_adapted_on_its_own() {
        let (mut w, mut b) = (array![[3.0_f64]], array![3.0_f64, 4.0]);
        let g = array![0.0, 2.0];
        let mut opt = LarsConfig::default().lr(0.1).weight_decay(0.1).build().unwrap();
        let groups = ParamGroups::no_decay_for_vectors(&(&w, &b));
        opt.set_param_groups(Some(groups)).unwrap();
        opt.step(&mut (&mut w, &mut b), &(&array![[1.0]], &g)).unwrap();
        assert_eq!(b, array![3.0, 4.0 - 0.1 * 2.0]); // no ratio, no decay
        // The same vector adapted on its own: ‖b‖ = 5, ‖g‖ = 2, r = 0.001·5/2.
        let mut b = array![3.0_f64, 4.0];
        let adapted = crate::ParamGroup::default()
            .weight_decay(0.0)
            .layer_adaptation(true);
        let mut opt = LarsConfig::default().lr(1.0).eps(0.0).build().unwrap();
        opt.set_param_groups(Some(ParamGroups::new(vec![adapted], vec![0]).unwrap()))
            .unwrap();
        opt.step(&mut b, &g).unwrap();
        assert_eq!(b, array![3.0, 4.0 - 2.0 * 0.0025]);
    }
}
