//! Stochastic gradient descent, with heavy-ball or Nesterov momentum: `torch.optim.SGD`.

use super::ops::{descend, effective_grad};
use super::pass::Pass;
use super::saved::StateBuffers;
use super::{Driver, GroupHyper, Kernel, check, config_accessors, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use crate::tensor::TensorList;

/// Hyperparameters of [`Sgd`], [`Momentum`] and [`Nesterov`]: those of PyTorch's
/// `torch.optim.SGD`, with its defaults.
///
/// | field | default | valid |
/// |---|---|---|
/// | `lr` | `1e-3` | `≥ 0` |
/// | `momentum` | `0` | `≥ 0` |
/// | `dampening` | `0` | `[0, 1]` |
/// | `weight_decay` | `0` (coupled L2) | `≥ 0` |
/// | `nesterov` | `false` | needs `momentum > 0` and `dampening = 0` |
/// | `maximize` | `false` | |
///
/// Every value must also be finite. PyTorch leaves `dampening` unchecked; here it must lie in
/// `[0, 1]`.
///
/// # Example
///
/// ```
/// use ndarray_optim::{Optimizer, Sgd, SgdConfig};
///
/// let opt = SgdConfig::default().lr(0.1).momentum(0.9).weight_decay(5e-4).build::<f32>()?;
/// assert_eq!(opt.name(), "SGD");
/// assert_eq!(opt.config().momentum, 0.9);
/// assert!(SgdConfig::default().nesterov(true).build::<f32>().is_err()); // needs momentum
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct SgdConfig {
    /// Learning rate `γ`.
    pub lr: f64,
    /// Momentum factor `μ`.
    pub momentum: f64,
    /// Dampening `τ` of the momentum.
    pub dampening: f64,
    /// Coupled (L2) weight decay `λ`.
    pub weight_decay: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Maximise the objective instead of minimising it.
    pub maximize: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            maximize: false,
        }
    }
}

impl SgdConfig {
    /// Sets the learning rate `lr`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::SgdConfig;
    /// assert_eq!(SgdConfig::default().lr(0.1).lr, 0.1);
    /// assert!(SgdConfig::default().lr(-0.1).build::<f32>().is_err()); // checked when building
    /// ```
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }
    /// Sets the momentum factor `momentum`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Optimizer, SgdConfig};
    /// let opt = SgdConfig::default().momentum(0.9).build::<f32>()?;
    /// assert_eq!(opt.momentum(), Some(0.9));
    /// assert!(SgdConfig::default().momentum(-0.9).build::<f32>().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
    /// Sets the momentum `dampening`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::SgdConfig;
    /// let config = SgdConfig::default().momentum(0.9).dampening(0.1);
    /// assert_eq!(config.dampening, 0.1);
    /// assert!(config.dampening(1.5).build::<f32>().is_err()); // must lie in [0, 1]
    /// ```
    pub fn dampening(mut self, dampening: f64) -> Self {
        self.dampening = dampening;
        self
    }
    /// Sets the coupled (L2) `weight_decay`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Optimizer, SgdConfig};
    ///
    /// let mut opt = SgdConfig::default().lr(0.1).weight_decay(0.5).build()?;
    /// let mut w = array![2.0_f64];
    /// opt.step(&mut w, &array![0.0])?; // g + λ·p = 1
    /// assert!((w[0] - 1.9).abs() < 1e-12);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
    /// Switches Nesterov momentum on or off.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::SgdConfig;
    /// assert!(SgdConfig::default().momentum(0.9).nesterov(true).build::<f32>()?.config().nesterov);
    /// // Nesterov momentum needs momentum > 0 and no dampening, as in PyTorch.
    /// assert!(SgdConfig::default().nesterov(true).build::<f32>().is_err());
    /// let dampened = SgdConfig::default().momentum(0.9).dampening(0.1);
    /// assert!(dampened.nesterov(true).build::<f32>().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }
    /// Maximises the objective instead of minimising it.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Optimizer, SgdConfig};
    ///
    /// let mut opt = SgdConfig::default().lr(0.1).maximize(true).build()?;
    /// let mut w = array![0.0_f64];
    /// opt.step(&mut w, &array![1.0])?; // gradient ascent
    /// assert_eq!(w[0], 0.1);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn maximize(mut self, maximize: bool) -> Self {
        self.maximize = maximize;
        self
    }
    /// Builds an [`Sgd`] optimizer.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if a value is outside the range in the table above.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Optimizer, Sgd, SgdConfig};
    ///
    /// let opt: Sgd<f64> = SgdConfig::default().lr(0.1).momentum(0.9).build()?;
    /// assert_eq!((opt.name(), opt.learning_rate()), ("SGD", 0.1));
    /// assert!(SgdConfig::default().lr(f64::INFINITY).build::<f64>().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn build<A: Float>(self) -> Result<Sgd<A>, Error> {
        Sgd::with_config(self)
    }
}

/// The scalars of one SGD step.
pub(crate) struct SgdScalars<A> {
    neg_lr: A,
    decay: Option<A>,
    maximize: bool,
    momentum: Option<Momentums<A>>,
}

#[derive(Clone, Copy)]
struct Momentums<A> {
    momentum: A,
    one_minus_dampening: A,
    nesterov: bool,
}

/// Per-tensor state: the momentum buffer, created on the first step that uses momentum.
#[derive(Clone, Debug)]
pub(crate) struct SgdState<A> {
    momentum_buffer: Option<Vec<A>>,
}

impl<A: Float> StateBuffers<A> for SgdState<A> {
    fn buffers(&self) -> Vec<(&'static str, &Vec<A>)> {
        self.momentum_buffer
            .iter()
            .map(|b| ("momentum_buffer", b))
            .collect()
    }
    fn buffers_mut(&mut self) -> Vec<&mut Vec<A>> {
        self.momentum_buffer.iter_mut().collect()
    }
    fn from_buffers(take: &mut dyn FnMut(&'static str) -> Option<Vec<A>>) -> Result<Self, String> {
        Ok(SgdState {
            momentum_buffer: take("momentum_buffer"),
        })
    }
}

impl<A: Float> Kernel<A> for SgdConfig {
    type State = SgdState<A>;
    type Global = ();
    type Scalars = SgdScalars<A>;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::non_negative("momentum", self.momentum)?;
        check::unit("dampening", self.dampening)?;
        check::non_negative("weight_decay", self.weight_decay)?;
        if self.nesterov && self.momentum <= 0.0 {
            return Err(Error::InvalidHyperparameter {
                name: "momentum",
                value: self.momentum,
                requirement: "must be > 0 for Nesterov momentum",
            });
        }
        if self.nesterov && self.dampening != 0.0 {
            return Err(Error::InvalidHyperparameter {
                name: "dampening",
                value: self.dampening,
                requirement: "must be 0 for Nesterov momentum",
            });
        }
        Ok(())
    }
    config_accessors!(Sgd);
    fn momentum(&self) -> Option<f64> {
        Some(self.momentum)
    }
    fn set_momentum(&mut self, momentum: f64) {
        self.momentum = momentum;
    }
    fn new_state(&self, _len: usize) -> SgdState<A> {
        SgdState {
            momentum_buffer: None,
        }
    }

    fn global(&self, _grads: &dyn TensorList<A>) {}

    fn scalars(&self, _step: u64, _global: &(), group: GroupHyper) -> SgdScalars<A> {
        SgdScalars {
            neg_lr: A::from_f64(-group.lr),
            decay: (group.weight_decay != 0.0).then(|| A::from_f64(group.weight_decay)),
            maximize: self.maximize,
            momentum: (self.momentum != 0.0).then(|| Momentums {
                momentum: A::from_f64(self.momentum),
                one_minus_dampening: A::from_f64(1.0 - self.dampening),
                nesterov: self.nesterov,
            }),
        }
    }

    fn update(&self, sc: &SgdScalars<A>, pass: &mut Pass<'_, A>, state: &mut SgdState<A>) {
        let SgdScalars {
            neg_lr,
            decay,
            maximize,
            momentum,
        } = *sc;
        let Some(Momentums {
            momentum,
            one_minus_dampening,
            nesterov,
        }) = momentum
        else {
            pass.zip(
                #[inline(always)]
                |p, g| {
                    let g = effective_grad(*p, g, maximize, decay);
                    *p = descend(*p, g, neg_lr);
                },
            );
            return;
        };
        // The direction: the buffer itself, or for Nesterov `g + μ·buf`.
        let direction = move |g: A, buf: A| {
            if nesterov {
                buf.mul_add(momentum, g)
            } else {
                buf
            }
        };
        match &mut state.momentum_buffer {
            Some(buf) => pass.zip1(
                buf,
                #[inline(always)]
                |p, g, buf| {
                    let g = effective_grad(*p, g, maximize, decay);
                    *buf = g.mul_add(one_minus_dampening, *buf * momentum);
                    *p = descend(*p, direction(g, *buf), neg_lr);
                },
            ),
            None => {
                // First step with momentum: the buffer starts as the gradient itself, without
                // dampening (PyTorch's `torch.clone(g)`), not as zeros.
                let mut buf = vec![A::zero(); pass.len()];
                pass.zip1(
                    &mut buf,
                    #[inline(always)]
                    |p, g, buf| {
                        let g = effective_grad(*p, g, maximize, decay);
                        *buf = g;
                        *p = descend(*p, direction(g, g), neg_lr);
                    },
                );
                state.momentum_buffer = Some(buf);
            }
        }
    }
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
    /// once. [`Momentum`] and [`Nesterov`] are this optimizer with momentum on.
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
    Sgd, SgdConfig, "SGD"
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
        Self::with_config(SgdConfig::default().lr(lr))
    }

    /// SGD with every hyperparameter given, exactly as PyTorch's `SGD(**config)`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if a value is out of range (see [`SgdConfig`]).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Optimizer, Sgd, SgdConfig};
    /// let opt = Sgd::<f32>::with_config(SgdConfig::default().lr(0.1).momentum(0.9))?;
    /// assert_eq!(opt.momentum(), Some(0.9));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_config(config: SgdConfig) -> Result<Self, Error> {
        Ok(Sgd {
            driver: Driver::new(config)?,
        })
    }
}

optimizer_type! {
    /// SGD with heavy-ball momentum: PyTorch's `torch.optim.SGD(momentum=μ)`.
    ///
    /// Averaging past gradients cancels the components that flip sign from step to step (the
    /// zig-zag across a ravine) and accumulates the ones that persist (the direction along it).
    /// Per element, with buffer `b`:
    ///
    /// ```text
    /// g ← −g                      if maximize
    /// g ← g + λ·p                 if λ ≠ 0
    /// b ← g                       on the first step
    /// b ← μ·b + (1 − τ)·g         afterwards
    /// p ← p − γ·b
    /// ```
    ///
    /// It shares [`SgdConfig`] with [`Sgd`]; `momentum` must be positive when it is built and
    /// `nesterov` is off. Later, [`set_momentum`](crate::Optimizer::set_momentum) accepts any
    /// momentum SGD accepts, 0 included (a momentum schedule may pass through 0; the optimizer is
    /// then plain SGD until the momentum returns, as PyTorch's SGD would be).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Momentum, Optimizer};
    ///
    /// let mut w = array![0.0_f64];
    /// let mut opt = Momentum::new(0.1, 0.9)?;
    /// opt.step(&mut w, &array![1.0])?; // b = 1
    /// opt.step(&mut w, &array![1.0])?; // b = 0.9·1 + 1 = 1.9
    /// assert!((w[0] - (-0.1 - 0.19)).abs() < 1e-12);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Momentum, SgdConfig, "Momentum"
}

impl<A: Float> Momentum<A> {
    /// SGD with learning rate `lr` and momentum factor `momentum` (PyTorch's usual choice is
    /// `0.9`), no dampening, no weight decay.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative, `momentum` is not positive, or either
    /// is not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Momentum, Optimizer};
    /// let opt = Momentum::<f32>::new(0.01, 0.9)?;
    /// assert_eq!(opt.momentum(), Some(0.9));
    /// assert!(Momentum::<f32>::new(0.01, 0.0).is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64, momentum: f64) -> Result<Self, Error> {
        Self::with_config(SgdConfig::default().lr(lr).momentum(momentum))
    }

    /// Momentum SGD with every hyperparameter given; `nesterov` is switched off.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if a value is out of range (see [`SgdConfig`]) or
    /// `momentum` is not positive.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Momentum, SgdConfig};
    /// let cfg = SgdConfig::default().lr(0.1).momentum(0.9).dampening(0.1).weight_decay(1e-4);
    /// let opt = Momentum::<f64>::with_config(cfg)?;
    /// assert_eq!(opt.config().dampening, 0.1);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_config(config: SgdConfig) -> Result<Self, Error> {
        check::positive("momentum", config.momentum)?;
        Ok(Momentum {
            driver: Driver::new(config.nesterov(false))?,
        })
    }
}

optimizer_type! {
    /// SGD with Nesterov momentum: PyTorch's `torch.optim.SGD(momentum=μ, nesterov=True)`.
    ///
    /// The step looks ahead along the momentum: per element, with buffer `b`,
    ///
    /// ```text
    /// g ← −g                      if maximize
    /// g ← g + λ·p                 if λ ≠ 0
    /// b ← g                       on the first step
    /// b ← μ·b + g                 afterwards
    /// p ← p − γ·(g + μ·b)
    /// ```
    ///
    /// It shares [`SgdConfig`] with [`Sgd`]; `momentum` must be positive and `dampening` zero,
    /// as PyTorch requires.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Nesterov, Optimizer};
    ///
    /// let mut w = array![0.0_f64];
    /// let mut opt = Nesterov::new(0.1, 0.9)?;
    /// opt.step(&mut w, &array![1.0])?; // b = 1, step 0.1·(1 + 0.9)
    /// assert!((w[0] + 0.19).abs() < 1e-12);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Nesterov, SgdConfig, "Nesterov"
}

impl<A: Float> Nesterov<A> {
    /// Nesterov SGD with learning rate `lr` and momentum factor `momentum`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative, `momentum` is not positive, or either
    /// is not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Nesterov, Optimizer};
    /// let opt = Nesterov::<f32>::new(0.01, 0.9)?;
    /// assert_eq!(opt.name(), "Nesterov");
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64, momentum: f64) -> Result<Self, Error> {
        Self::with_config(SgdConfig::default().lr(lr).momentum(momentum))
    }

    /// Nesterov SGD with every hyperparameter given; `nesterov` is switched on.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if a value is out of range (see [`SgdConfig`]),
    /// `momentum` is not positive or `dampening` is not zero.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Nesterov, SgdConfig};
    /// let cfg = SgdConfig::default().lr(0.1).momentum(0.9).dampening(0.5);
    /// assert!(Nesterov::<f32>::with_config(cfg).is_err());
    /// ```
    pub fn with_config(config: SgdConfig) -> Result<Self, Error> {
        Ok(Nesterov {
            driver: Driver::new(config.nesterov(true))?,
        })
    }
}
