//! Adadelta: step sizes from the ratio of running averages of updates and gradients,
//! `torch.optim.Adadelta`.

use super::ops::{addcmul, decayed, descend, effective_grad};
use super::pass::Pass;
use super::saved::StateBuffers;
use super::{Driver, GroupHyper, Kernel, check, config_accessors, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use crate::tensor::TensorList;

/// Hyperparameters of [`Adadelta`]: those of PyTorch's `torch.optim.Adadelta`, with its
/// defaults.
///
/// | field | default | valid |
/// |---|---|---|
/// | `lr` | `1.0` | `≥ 0` |
/// | `rho` | `0.9` | `[0, 1]` |
/// | `eps` | `1e-6` | `> 0` (PyTorch: `≥ 0`; with 0 a zero gradient gives 0/0 = NaN) |
/// | `weight_decay` | `0` (coupled L2) | `≥ 0` |
/// | `maximize` | `false` | |
///
/// `lr = 1.0` is Zeiler's original method; Keras's defaults differ (`1e-3`, `0.95`, `1e-7`).
///
/// # Example
///
/// ```
/// use ndarray_optim::{Adadelta, AdadeltaConfig};
///
/// let opt: Adadelta<f64> = AdadeltaConfig::default().rho(0.95).build()?;
/// assert_eq!(opt.config().lr, 1.0);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct AdadeltaConfig {
    /// Learning rate `γ`, a multiplier of the computed update.
    pub lr: f64,
    /// Decay `ρ` of both running averages.
    pub rho: f64,
    /// Term `ε` added inside both square roots.
    pub eps: f64,
    /// Coupled (L2) weight decay `λ`.
    pub weight_decay: f64,
    /// Maximise the objective instead of minimising it.
    pub maximize: bool,
}

impl Default for AdadeltaConfig {
    fn default() -> Self {
        AdadeltaConfig {
            lr: 1.0,
            rho: 0.9,
            eps: 1e-6,
            weight_decay: 0.0,
            maximize: false,
        }
    }
}

impl AdadeltaConfig {
    /// Sets the learning rate `lr`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::AdadeltaConfig;
    /// assert_eq!(AdadeltaConfig::default().lr(0.5).lr, 0.5);
    /// assert!(AdadeltaConfig::default().lr(-0.5).build::<f32>().is_err()); // checked when building
    /// ```
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }
    /// Sets the decay `rho`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::AdadeltaConfig;
    /// assert_eq!(AdadeltaConfig::default().rho(0.95).rho, 0.95);
    /// assert!(AdadeltaConfig::default().rho(1.5).build::<f32>().is_err()); // must lie in [0, 1]
    /// ```
    pub fn rho(mut self, rho: f64) -> Self {
        self.rho = rho;
        self
    }
    /// Sets `eps`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::AdadeltaConfig;
    /// assert_eq!(AdadeltaConfig::default().eps(1e-7).eps, 1e-7);
    /// assert!(AdadeltaConfig::default().eps(0.0).build::<f32>().is_err()); // must be > 0
    /// ```
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Sets the coupled (L2) `weight_decay`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::AdadeltaConfig;
    /// assert_eq!(AdadeltaConfig::default().weight_decay(1e-4).weight_decay, 1e-4);
    /// assert!(AdadeltaConfig::default().weight_decay(-1e-4).build::<f32>().is_err());
    /// ```
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
    /// Maximises the objective instead of minimising it.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{AdadeltaConfig, Optimizer};
    ///
    /// let mut opt = AdadeltaConfig::default().maximize(true).build()?;
    /// let mut w = array![0.0_f64];
    /// opt.step(&mut w, &array![1.0])?;
    /// assert!(w[0] > 0.0); // uphill
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn maximize(mut self, maximize: bool) -> Self {
        self.maximize = maximize;
        self
    }
    /// Builds an [`Adadelta`] optimizer.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if a value is outside the range in the table above.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adadelta, AdadeltaConfig, Optimizer};
    ///
    /// let opt: Adadelta<f32> = AdadeltaConfig::default().rho(0.95).build()?;
    /// assert_eq!((opt.name(), opt.learning_rate()), ("Adadelta", 1.0));
    /// assert!(AdadeltaConfig::default().rho(f64::NAN).build::<f32>().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn build<A: Float>(self) -> Result<Adadelta<A>, Error> {
        Adadelta::with_config(self)
    }
}

pub(crate) struct AdadeltaScalars<A> {
    neg_lr: A,
    rho: A,
    one_minus_rho: A,
    eps: A,
    decay: Option<A>,
    maximize: bool,
}

/// Per-tensor state: running averages of squared gradients and of squared updates.
#[derive(Clone, Debug)]
pub(crate) struct AdadeltaState<A> {
    square_avg: Vec<A>,
    acc_delta: Vec<A>,
}

impl<A: Float> StateBuffers<A> for AdadeltaState<A> {
    fn buffers(&self) -> Vec<(&'static str, &Vec<A>)> {
        vec![
            ("square_avg", &self.square_avg),
            ("acc_delta", &self.acc_delta),
        ]
    }
    fn buffers_mut(&mut self) -> Vec<&mut Vec<A>> {
        vec![&mut self.square_avg, &mut self.acc_delta]
    }
    fn from_buffers(take: &mut dyn FnMut(&'static str) -> Option<Vec<A>>) -> Result<Self, String> {
        Ok(AdadeltaState {
            square_avg: take("square_avg").ok_or("buffer `square_avg` is missing")?,
            acc_delta: take("acc_delta").ok_or("buffer `acc_delta` is missing")?,
        })
    }
}

impl<A: Float> Kernel<A> for AdadeltaConfig {
    type State = AdadeltaState<A>;
    type Global = ();
    type Scalars = AdadeltaScalars<A>;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::unit("rho", self.rho)?;
        check::positive("eps", self.eps)?;
        check::non_negative("weight_decay", self.weight_decay)
    }
    config_accessors!(Adadelta);
    fn momentum(&self) -> Option<f64> {
        None
    }
    fn set_momentum(&mut self, _momentum: f64) {}
    fn new_state(&self, len: usize) -> AdadeltaState<A> {
        AdadeltaState {
            square_avg: vec![A::zero(); len],
            acc_delta: vec![A::zero(); len],
        }
    }

    fn global(&self, _grads: &dyn TensorList<A>) {}

    fn scalars(&self, _step: u64, _global: &(), group: GroupHyper) -> AdadeltaScalars<A> {
        AdadeltaScalars {
            neg_lr: A::from_f64(-group.lr),
            rho: A::from_f64(self.rho),
            one_minus_rho: A::from_f64(1.0 - self.rho),
            eps: A::from_f64(self.eps),
            decay: (group.weight_decay != 0.0).then(|| A::from_f64(group.weight_decay)),
            maximize: self.maximize,
        }
    }

    fn update(
        &self,
        sc: &AdadeltaScalars<A>,
        pass: &mut Pass<'_, A>,
        state: &mut AdadeltaState<A>,
    ) {
        let AdadeltaScalars {
            neg_lr,
            rho,
            one_minus_rho,
            eps,
            decay,
            maximize,
        } = *sc;
        pass.zip2(
            &mut state.square_avg,
            &mut state.acc_delta,
            #[inline(always)]
            |p, g, v, u| {
                let g = effective_grad(*p, g, maximize, decay);
                *v = addcmul(decayed(*v, rho), one_minus_rho, g, g);
                let std = (*v + eps).sqrt();
                let delta = (*u + eps).sqrt() / std * g; // the old u: delta uses the previous updates
                *u = addcmul(decayed(*u, rho), one_minus_rho, delta, delta);
                *p = descend(*p, delta, neg_lr);
            },
        );
    }
}

optimizer_type! {
    /// Adadelta (Zeiler, 2012), PyTorch's `torch.optim.Adadelta`.
    ///
    /// Like RMSProp it divides by a running root-mean-square of the gradients, and it multiplies
    /// by the running root-mean-square of its own past updates, so the step has the units of the
    /// parameter and needs no tuned learning rate. Per element:
    ///
    /// ```text
    /// g ← −g                                   if maximize
    /// g ← g + λ·p                              if λ ≠ 0
    /// v ← ρ·v + (1 − ρ)·g²
    /// Δ ← √(u + ε) / √(v + ε) · g              (u from the previous step)
    /// u ← ρ·u + (1 − ρ)·Δ²
    /// p ← p − γ·Δ
    /// ```
    ///
    /// `ε` sits inside both square roots. Defaults are PyTorch's: see [`AdadeltaConfig`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Adadelta, Optimizer};
    ///
    /// let mut w = array![1.0_f32];
    /// let mut opt = Adadelta::new(1.0)?;
    /// opt.step(&mut w, &array![1.0])?;
    /// assert!(w[0] < 1.0);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Adadelta, AdadeltaConfig, "Adadelta"
}

impl<A: Float> Adadelta<A> {
    /// Adadelta with learning rate `lr` (PyTorch's default is `1.0`) and PyTorch's other
    /// defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adadelta, Optimizer};
    /// assert_eq!(Adadelta::<f32>::new(1.0)?.name(), "Adadelta");
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        Self::with_config(AdadeltaConfig::default().lr(lr))
    }

    /// Adadelta with every hyperparameter given.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if a value is out of range (see [`AdadeltaConfig`]).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adadelta, AdadeltaConfig};
    /// assert!(Adadelta::<f32>::with_config(AdadeltaConfig::default().rho(1.5)).is_err());
    /// ```
    pub fn with_config(config: AdadeltaConfig) -> Result<Self, Error> {
        Ok(Adadelta {
            driver: Driver::new(config)?,
        })
    }
}
