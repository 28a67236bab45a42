//! Stochastic gradient descent, with heavy-ball or Nesterov momentum: `torch.optim.SGD`. Its
//! kernel also runs [`Momentum`](crate::Momentum) and [`Nesterov`](crate::Nesterov).

use crate::builder::config;
use crate::check;
use crate::driver::buffers::state;
use crate::driver::{Hyperparameters, momentum_is, Kernel, lr_and_weight_decay, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use num_traits::Float as _;
use crate::lowbit::{Moment, Quantization};
use crate::ops::{Decay, WeightDecay, descend};
use crate::pass::{Pass, unswitch};

config! {
    /// Hyperparameters of [`Sgd`]: those of PyTorch's `torch.optim.SGD`, with its defaults.
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `lr` | `1e-3` | `≥ 0` |
    /// | `momentum` | `0` | `≥ 0` |
    /// | `dampening` | `0` | `[0, 1]` |
    /// | `weight_decay` | `0` (coupled L2) | `≥ 0` |
    /// | `nesterov` | `false` | needs `momentum > 0` and `dampening = 0` |
    /// | `maximize` | `false` | |
    /// | `quantized_state` | `None` | [`Quantization::int8`] or [`Quantization::fp8`]: an 8-bit momentum buffer (see [`Momentum`](crate::Momentum)) |
    ///
    /// Every value must also be finite. PyTorch leaves `dampening` unchecked; here it must lie in
    /// `[0, 1]`. The rules hold on every path: building, [`set_momentum`](crate::Optimizer::set_momentum)
    /// (a Nesterov SGD refuses momentum 0) and loading a saved state.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Optimizer, SgdConfig};
    ///
    /// let mut opt = SgdConfig::default().lr(0.1).momentum(0.9).weight_decay(0.5).build()?;
    /// assert_eq!((opt.name(), opt.config().momentum), ("SGD", 0.9));
    /// let mut w = array![2.0_f64];
    /// opt.step(&mut w, &array![0.0])?; // g + λ·p = 1 is the first momentum buffer
    /// assert!((w[0] - 1.9).abs() < 1e-12);
    /// assert!(SgdConfig::default().nesterov(true).build::<f32>().is_err()); // needs momentum
    /// assert!(SgdConfig::default().dampening(1.5).build::<f32>().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub struct SgdConfig {
        /// Learning rate `γ`.
        lr: f64 = 1e-3,
        /// Momentum factor `μ`.
        momentum: f64 = 0.0,
        /// Dampening `τ` of the momentum.
        dampening: f64 = 0.0,
        /// Coupled (L2) weight decay `λ`.
        weight_decay: f64 = 0.0,
        /// Nesterov momentum.
        nesterov: bool = false,
        /// Maximise the objective instead of minimising it.
        maximize: bool = false,
        /// A block-wise quantised 8-bit momentum buffer (see [`Momentum`](crate::Momentum)).
        quantized_state: impl Into<Option<Quantization>> = None,
    }
}

impl Hyperparameters for SgdConfig {
    type Kernel = SgdConfig;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::non_negative("momentum", self.momentum)?;
        check::unit("dampening", self.dampening)?;
        check::non_negative("weight_decay", self.weight_decay)?;
        if let Some(q) = self.quantized_state {
            q.check(&[8])?;
            // The buffer exists from the first step: with momentum 0 first, PyTorch's buffer
            // would start later, as that step's gradient.
            check::require(
                self.momentum > 0.0,
                "momentum",
                self.momentum,
                "must be > 0 with quantized_state",
            )?;
        }
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
    fn kernel(&self) -> SgdConfig {
        self.clone()
    }
    lr_and_weight_decay!();
    momentum_is!(momentum);
}

/// The scalars of one SGD step.
#[derive(Clone, Copy)]
pub(crate) struct SgdScalars<A> {
    neg_lr: A,
    decay: WeightDecay<A>,
    momentum: Option<Momentums<A>>,
    /// Whether this is the tensor's first step: a quantised buffer then starts as the gradient.
    first: bool,
}

#[derive(Clone, Copy)]
struct Momentums<A> {
    momentum: A,
    one_minus_dampening: A,
    nesterov: bool,
}

state! {
    /// Per-tensor state of SGD, Momentum and Nesterov.
    pub(crate) struct SgdState for SgdConfig {
        /// The momentum buffer `b`, created on the first step that uses momentum (it starts as
        /// that step's gradient, not as zeros).
        momentum_buffer: lazy_moment(true, |k| k.quantized_state),
    }
}

impl<A: Float> Kernel<A> for SgdConfig {
    type State = SgdState<A>;
    type Scalars = SgdScalars<A::Compute>;

    fn scalars(&self, step: u64, _sum: f64) -> Self::Scalars {
        SgdScalars {
            first: step == 1,
            neg_lr: A::Compute::from_f64(-self.lr),
            decay: WeightDecay::coupled(self.maximize, self.weight_decay),
            momentum: (self.momentum != 0.0).then(|| Momentums {
                momentum: A::Compute::from_f64(self.momentum),
                one_minus_dampening: A::Compute::from_f64(1.0 - self.dampening),
                nesterov: self.nesterov,
            }),
        }
    }

    fn update(&self, sc: &Self::Scalars, pass: &mut Pass<'_, A>, state: &mut SgdState<A>) {
        let SgdScalars {
            neg_lr,
            decay,
            momentum,
            first,
        } = *sc;
        let Some(Momentums {
            momentum,
            one_minus_dampening,
            nesterov,
        }) = momentum
        else {
            return unswitch! {
                const MAXIMIZE: bool = decay.maximize();
                const DECAY: Decay = decay.form() => [Decay::None, Decay::Coupled];
                pass.zip(
                    #[inline(always)]
                    move |p, g| {
                        let g = decay.apply(p, g, MAXIMIZE, DECAY);
                        *p = descend(*p, g, neg_lr);
                    },
                )
            };
        };
        unswitch! {
            const MAXIMIZE: bool = decay.maximize();
            const DECAY: Decay = decay.form() => [Decay::None, Decay::Coupled];
            const NESTEROV: bool = nesterov;
            match &mut state.momentum_buffer {
                Some(Moment::Full(buf)) => pass.zip1(
                    buf,
                    #[inline(always)]
                    move |p, g, buf| {
                        let g = decay.apply(p, g, MAXIMIZE, DECAY);
                        *buf = g.mul_add(one_minus_dampening, *buf * momentum);
                        *p = descend(*p, direction(g, *buf, momentum, NESTEROV), neg_lr);
                    },
                ),
                // The buffer dequantised block by block; on the tensor's first step it starts
                // as the gradient, as PyTorch's.
                Some(Moment::Quantized(buf)) => unswitch! {
                    const FIRST: bool = first;
                    pass.zip1_quantized(
                        buf,
                        #[inline(always)]
                        move |p, g, buf| {
                            let g = decay.apply(p, g, MAXIMIZE, DECAY);
                            *buf = if FIRST {
                                g
                            } else {
                                g.mul_add(one_minus_dampening, *buf * momentum)
                            };
                            *p = descend(*p, direction(g, *buf, momentum, NESTEROV), neg_lr);
                        },
                    )
                },
                None => {
                    // First step with momentum: the buffer starts as the gradient itself,
                    // without dampening (PyTorch's `torch.clone(g)`), not as zeros.
                    let mut buf = vec![A::zero(); pass.len()];
                    pass.zip1(
                        &mut buf,
                        #[inline(always)]
                        move |p, g, buf| {
                            let g = decay.apply(p, g, MAXIMIZE, DECAY);
                            *buf = g;
                            *p = descend(*p, direction(g, g, momentum, NESTEROV), neg_lr);
                        },
                    );
                    state.momentum_buffer = Some(Moment::Full(buf));
                }
            }
        }
    }
}

/// The direction of a momentum step: the buffer itself, or for Nesterov `g + μ·b`.
#[inline(always)]
fn direction<A: Float>(g: A, buf: A, momentum: A, nesterov: bool) -> A {
    if nesterov { buf.mul_add(momentum, g) } else { buf }
}

optimizer_type! {
    /// Plain stochastic gradient descent, PyTorch's `torch.optim.SGD`, with every option of it.
    ///
    /// With `g` the gradient, `γ` the learning rate, `λ` the weight decay, `μ` the momentum and
    /// `τ` the dampening, each step computes, per element:
    ///
    /// ```text
    /// g ← −g                      if maximize
    /// g ← g + λ·p                 if λ ≠ 0
    /// if μ ≠ 0:
    ///     b ← g                   on the first step
    ///     b ← μ·b + (1 − τ)·g     afterwards
    ///     g ← g + μ·b             if nesterov, else g ← b
    /// p ← p − γ·g
    /// ```
    ///
    /// Note PyTorch's form of momentum: the learning rate multiplies the buffer, it is not
    /// inside it (as in Sutskever et al. or Keras), so changing `γ` rescales the whole step at
    /// once. [`Momentum`](crate::Momentum) and [`Nesterov`](crate::Nesterov) are this optimizer
    /// with momentum on, as types of their own.
    ///
    /// Defaults are PyTorch's: see [`SgdConfig`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Optimizer, Sgd};
    ///
    /// let mut w = array![1.0_f64, -1.0];
    /// let mut opt = Sgd::new(0.1)?;
    /// opt.step(&mut w, &array![1.0, 1.0])?;
    /// assert_eq!(w, array![0.9, -1.1]);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Sgd, SgdConfig, "Sgd::<f32>::new(0.1)?"
}

impl<A: Float> Sgd<A> {
    /// Plain SGD with learning rate `lr` and PyTorch's other defaults (no momentum).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Optimizer, Sgd};
    /// let opt = Sgd::<f32>::new(0.01)?;
    /// assert_eq!(opt.learning_rate(), 0.01);
    /// assert!(Sgd::<f32>::new(-1.0).is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        SgdConfig::default().lr(lr).build()
    }
}
