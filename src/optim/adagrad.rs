//! Adagrad: per-parameter step sizes from the sum of all squared gradients, `torch.optim.Adagrad`.

use super::ops::{addcdiv, effective_grad};
use super::pass::Pass;
use super::saved::StateBuffers;
use super::{Driver, GroupHyper, Kernel, check, config_accessors, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use crate::tensor::TensorList;

/// Hyperparameters of [`Adagrad`]: those of PyTorch's `torch.optim.Adagrad`, with its defaults.
///
/// | field | default | valid |
/// |---|---|---|
/// | `lr` | `1e-2` | `≥ 0` |
/// | `lr_decay` | `0` | `≥ 0` |
/// | `weight_decay` | `0` (coupled L2) | `≥ 0` |
/// | `initial_accumulator_value` | `0` | `≥ 0` |
/// | `eps` | `1e-10` | `> 0` (PyTorch: `≥ 0`; with 0 a zero gradient gives 0/0 = NaN) |
/// | `maximize` | `false` | |
///
/// Note the defaults differ from optax and Keras (`eps = 1e-7`, initial accumulator `0.1`).
///
/// # Example
///
/// ```
/// use ndarray_optim::{Adagrad, AdagradConfig};
///
/// let opt: Adagrad<f32> = AdagradConfig::default().lr(0.1).initial_accumulator_value(0.1).build()?;
/// assert_eq!(opt.config().eps, 1e-10);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct AdagradConfig {
    /// Learning rate `γ`.
    pub lr: f64,
    /// Learning-rate decay `η`: step `t` uses `γ / (1 + (t − 1)·η)`.
    pub lr_decay: f64,
    /// Coupled (L2) weight decay `λ`.
    pub weight_decay: f64,
    /// Starting value of the sum of squared gradients.
    pub initial_accumulator_value: f64,
    /// Term `ε` added to the denominator, outside the square root.
    pub eps: f64,
    /// Maximise the objective instead of minimising it.
    pub maximize: bool,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        AdagradConfig {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            maximize: false,
        }
    }
}

impl AdagradConfig {
    /// Sets the learning rate `lr`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::AdagradConfig;
    /// assert_eq!(AdagradConfig::default().lr(0.1).lr, 0.1);
    /// assert!(AdagradConfig::default().lr(-0.1).build::<f32>().is_err()); // checked when building
    /// ```
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }
    /// Sets the learning-rate decay `lr_decay`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{AdagradConfig, Optimizer};
    ///
    /// let mut opt = AdagradConfig::default().lr(0.1).lr_decay(1.0).build()?;
    /// let mut w = array![0.0_f64];
    /// opt.step(&mut w, &array![1.0])?; // γ₁ = 0.1: a step of about 0.1
    /// opt.step(&mut w, &array![1.0])?; // γ₂ = 0.1 / 2, divided by √2
    /// assert!((w[0] - (-0.1 - 0.05 / 2f64.sqrt())).abs() < 1e-9);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn lr_decay(mut self, lr_decay: f64) -> Self {
        self.lr_decay = lr_decay;
        self
    }
    /// Sets the coupled (L2) `weight_decay`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::AdagradConfig;
    /// assert_eq!(AdagradConfig::default().weight_decay(1e-4).weight_decay, 1e-4);
    /// assert!(AdagradConfig::default().weight_decay(-1e-4).build::<f32>().is_err());
    /// ```
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
    /// Sets the starting value of the accumulator.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{AdagradConfig, Optimizer};
    ///
    /// // The sum starts at 3: the first step divides by √(3 + 1) = 2.
    /// let mut opt = AdagradConfig::default().lr(0.1).initial_accumulator_value(3.0).build()?;
    /// let mut w = array![0.0_f64];
    /// opt.step(&mut w, &array![1.0])?;
    /// assert!((w[0] + 0.05).abs() < 1e-9);
    /// assert!(AdagradConfig::default().initial_accumulator_value(-1.0).build::<f64>().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn initial_accumulator_value(mut self, value: f64) -> Self {
        self.initial_accumulator_value = value;
        self
    }
    /// Sets `eps`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::AdagradConfig;
    /// assert_eq!(AdagradConfig::default().eps(1e-7).eps, 1e-7);
    /// assert!(AdagradConfig::default().eps(0.0).build::<f32>().is_err()); // must be > 0
    /// ```
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Maximises the objective instead of minimising it.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{AdagradConfig, Optimizer};
    ///
    /// let mut opt = AdagradConfig::default().lr(0.1).maximize(true).build()?;
    /// let mut w = array![0.0_f64];
    /// opt.step(&mut w, &array![1.0])?;
    /// assert!((w[0] - 0.1).abs() < 1e-9); // uphill
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn maximize(mut self, maximize: bool) -> Self {
        self.maximize = maximize;
        self
    }
    /// Builds an [`Adagrad`] optimizer.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if a value is outside the range in the table above.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adagrad, AdagradConfig, Optimizer};
    ///
    /// let opt: Adagrad<f32> = AdagradConfig::default().lr(0.1).build()?;
    /// assert_eq!((opt.name(), opt.learning_rate()), ("Adagrad", 0.1));
    /// assert!(AdagradConfig::default().lr_decay(f64::NAN).build::<f32>().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn build<A: Float>(self) -> Result<Adagrad<A>, Error> {
        Adagrad::with_config(self)
    }
}

pub(crate) struct AdagradScalars<A> {
    neg_clr: A,
    eps: A,
    decay: Option<A>,
    maximize: bool,
}

/// Per-tensor state: the running sum of squared gradients.
#[derive(Clone, Debug)]
pub(crate) struct AdagradState<A> {
    sum: Vec<A>,
}

impl<A: Float> StateBuffers<A> for AdagradState<A> {
    fn buffers(&self) -> Vec<(&'static str, &Vec<A>)> {
        vec![("sum", &self.sum)]
    }
    fn buffers_mut(&mut self) -> Vec<&mut Vec<A>> {
        vec![&mut self.sum]
    }
    fn from_buffers(take: &mut dyn FnMut(&'static str) -> Option<Vec<A>>) -> Result<Self, String> {
        Ok(AdagradState {
            sum: take("sum").ok_or("buffer `sum` is missing")?,
        })
    }
}

impl<A: Float> Kernel<A> for AdagradConfig {
    type State = AdagradState<A>;
    type Global = ();
    type Scalars = AdagradScalars<A>;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::non_negative("lr_decay", self.lr_decay)?;
        check::non_negative("weight_decay", self.weight_decay)?;
        check::non_negative("initial_accumulator_value", self.initial_accumulator_value)?;
        check::positive("eps", self.eps)
    }
    config_accessors!(Adagrad);
    fn momentum(&self) -> Option<f64> {
        None
    }
    fn set_momentum(&mut self, _momentum: f64) {}
    fn new_state(&self, len: usize) -> AdagradState<A> {
        AdagradState {
            sum: vec![A::from_f64(self.initial_accumulator_value); len],
        }
    }

    fn global(&self, _grads: &dyn TensorList<A>) {}

    fn scalars(&self, step: u64, _global: &(), group: GroupHyper) -> AdagradScalars<A> {
        // The decay starts on the second step: step 1 uses the full learning rate.
        let clr = group.lr / (1.0 + (step as f64 - 1.0) * self.lr_decay);
        AdagradScalars {
            neg_clr: A::from_f64(-clr),
            eps: A::from_f64(self.eps),
            decay: (group.weight_decay != 0.0).then(|| A::from_f64(group.weight_decay)),
            maximize: self.maximize,
        }
    }

    fn update(&self, sc: &AdagradScalars<A>, pass: &mut Pass<'_, A>, state: &mut AdagradState<A>) {
        let AdagradScalars {
            neg_clr,
            eps,
            decay,
            maximize,
        } = *sc;
        pass.zip1(
            &mut state.sum,
            #[inline(always)]
            |p, g, sum| {
                let g = effective_grad(*p, g, maximize, decay);
                *sum = g.mul_add(g, *sum);
                let std = sum.sqrt() + eps;
                *p = addcdiv(*p, neg_clr, g, std);
            },
        );
    }
}

optimizer_type! {
    /// Adagrad (Duchi et al., 2011), PyTorch's `torch.optim.Adagrad`.
    ///
    /// Each parameter's step is divided by the root of the sum of all its squared gradients so
    /// far: parameters with rare or small gradients keep large steps, frequent ones slow down.
    /// The step size only ever shrinks. Per element, at step `t`:
    ///
    /// ```text
    /// g ← −g                                   if maximize
    /// g ← g + λ·p                              if λ ≠ 0
    /// γₜ = γ / (1 + (t − 1)·η)
    /// s ← s + g²                               (s starts at initial_accumulator_value)
    /// p ← p − γₜ·g / (√s + ε)
    /// ```
    ///
    /// Defaults are PyTorch's: see [`AdagradConfig`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Adagrad, Optimizer};
    ///
    /// let mut w = array![1.0_f64, 1.0];
    /// let mut opt = Adagrad::new(0.1)?;
    /// opt.step(&mut w, &array![2.0, -0.5])?;
    /// // The first step moves every element by about γ, whatever its gradient's size.
    /// assert!((w[0] - 0.9).abs() < 1e-9 && (w[1] - 1.1).abs() < 1e-9);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Adagrad, AdagradConfig, "Adagrad"
}

impl<A: Float> Adagrad<A> {
    /// Adagrad with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adagrad, Optimizer};
    /// assert_eq!(Adagrad::<f32>::new(0.01)?.name(), "Adagrad");
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        Self::with_config(AdagradConfig::default().lr(lr))
    }

    /// Adagrad with every hyperparameter given.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if a value is out of range (see [`AdagradConfig`]).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adagrad, AdagradConfig};
    /// assert!(Adagrad::<f32>::with_config(AdagradConfig::default().lr_decay(-1.0)).is_err());
    /// ```
    pub fn with_config(config: AdagradConfig) -> Result<Self, Error> {
        Ok(Adagrad {
            driver: Driver::new(config)?,
        })
    }
}
