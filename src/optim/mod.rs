//! The [`Optimizer`] trait and the bookkeeping every optimizer shares.
//!
//! Each optimizer file holds its configuration (PyTorch's hyperparameters, validated) and its
//! fused element update, the *kernel*. Everything else is here, written once: checking the
//! inputs, creating per-tensor state on the first step, counting steps, and choosing how each
//! tensor is walked ([`pass`]).

use std::fmt::Debug;

use crate::error::Error;
use crate::float::Float;
use crate::tensor::{TensorList, TensorListMut};

mod ops;
pub(crate) mod pass;

mod accumulate;
mod adadelta;
mod adagrad;
mod adam;
mod adamax;
mod groups;
mod lamb;
mod lion;
mod nadam;
mod radam;
mod rmsprop;
mod saved;
mod sgd;

pub use accumulate::{AccumulationMode, MultiSteps};
pub use adadelta::{Adadelta, AdadeltaConfig};
pub use adagrad::{Adagrad, AdagradConfig};
pub use adam::{Adam, AdamConfig, AdamW};
pub use adamax::{Adamax, AdamaxConfig};
pub use groups::{ParamGroup, ParamGroups};
pub use lamb::{Lamb, LambConfig};
pub use lion::{Lion, LionConfig};
pub use nadam::{NAdam, NAdamConfig};
pub use radam::{RAdam, RAdamConfig};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use saved::{OptimizerConfig, OptimizerState, STATE_FORMAT_VERSION, TensorState};
pub use sgd::{Momentum, Nesterov, Sgd, SgdConfig};

use pass::Pass;
use saved::StateBuffers;

/// An optimizer: updates parameter tensors in place from their gradients.
///
/// The trait is object safe, so a program can choose optimizers at run time
/// (`Vec<Box<dyn Optimizer<f32>>>`). `A` is the element type, `f32` or `f64`.
///
/// # The training loop
///
/// ```
/// use ndarray::{array, Array1};
/// use ndarray_optim::{Adam, Optimizer};
///
/// // Fit w to minimise |w - target|².
/// let target = array![1.0_f32, -2.0, 0.5];
/// let mut w = Array1::<f32>::zeros(3);
/// let mut opt = Adam::new(0.1)?;
/// for _ in 0..300 {
///     let grad = (&w - &target) * 2.0; // ∂/∂w |w - target|²
///     opt.step(&mut w, &grad)?;
/// }
/// assert!((&w - &target).iter().all(|d| d.abs() < 1e-2));
/// assert_eq!(opt.step_count(), 300);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
///
/// # Choosing at run time
///
/// ```
/// use ndarray::Array1;
/// use ndarray_optim::{Adam, Optimizer, RmsProp, Sgd};
///
/// let mut candidates: Vec<Box<dyn Optimizer<f32>>> = vec![
///     Box::new(Sgd::new(0.1)?),
///     Box::new(RmsProp::new(0.01)?),
///     Box::new(Adam::new(0.01)?),
/// ];
/// for opt in &mut candidates {
///     let mut w = Array1::<f32>::ones(4);
///     let g = Array1::<f32>::ones(4);
///     opt.step(&mut w, &g)?;
///     println!("{}: {}", opt.name(), w[0]);
/// }
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
pub trait Optimizer<A: Float>: Debug + Send + Sync {
    /// Updates every parameter tensor in place from the gradient at the same position.
    ///
    /// `params` and `grads` may be one array or view of any dimension, a `Vec`, array or slice
    /// of them, or a tuple of tensors of different ranks (see [`TensorListMut`]). State is kept
    /// per position, created on the first step for the shapes seen then.
    ///
    /// # Errors
    ///
    /// Checked before anything is changed, so on `Err` every parameter and every piece of state
    /// is exactly as it was:
    /// [`LengthMismatch`](Error::LengthMismatch) (counts differ),
    /// [`ShapeMismatch`](Error::ShapeMismatch) (a gradient's shape differs from its parameter's),
    /// [`StateLengthMismatch`](Error::StateLengthMismatch) and
    /// [`StateShapeMismatch`](Error::StateShapeMismatch) (the tensors differ from those the state
    /// was created for), [`GroupLengthMismatch`](Error::GroupLengthMismatch) (the
    /// [`ParamGroups`] assign another number of tensors),
    /// [`NonFiniteGradient`](Error::NonFiniteGradient) (NaN or ±inf in a gradient, under the
    /// default [`NonFinitePolicy::Error`]).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{array, Array1, Array2};
    /// use ndarray_optim::{Error, Optimizer, Sgd};
    ///
    /// let mut opt = Sgd::new(0.5)?;
    /// // One tensor…
    /// let mut v = array![1.0_f64, 2.0];
    /// opt.step(&mut v, &array![1.0, -1.0])?;
    /// assert_eq!(v, array![0.5, 2.5]);
    ///
    /// // …or several of different ranks, in one call (another optimizer: the state is per list).
    /// let mut opt = Sgd::new(0.5)?;
    /// let (mut w, mut b) = (Array2::<f64>::ones((2, 2)), Array1::<f64>::zeros(2));
    /// opt.step(&mut (&mut w, &mut b), &(&Array2::ones((2, 2)), &Array1::ones(2)))?;
    /// assert_eq!((w[[1, 1]], b[0]), (0.5, -0.5));
    ///
    /// // A mismatch is an error, and nothing changes.
    /// let err = opt.step(&mut (&mut w, &mut b), &(&Array2::ones((2, 2)), &Array1::ones(3)));
    /// assert!(matches!(err, Err(Error::ShapeMismatch { index: 1, .. })));
    /// assert_eq!((w[[1, 1]], b[0]), (0.5, -0.5));
    /// # Ok::<(), Error>(())
    /// ```
    fn step(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<(), Error>;

    /// Every check [`step`](Optimizer::step) would make, without stepping: `Ok` if `step` would
    /// accept these tensors (a non-finite gradient under [`NonFinitePolicy::SkipStep`] is
    /// accepted: it would be skipped). Nothing changes either way.
    ///
    /// # Errors
    ///
    /// The errors of [`step`](Optimizer::step).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Adam, Error, Optimizer};
    ///
    /// let mut opt = Adam::<f64>::new(0.1)?;
    /// let w = array![1.0, 2.0];
    /// assert!(opt.check_step(&w, &array![0.5, 0.5]).is_ok());
    /// assert!(matches!(opt.check_step(&w, &array![0.5]), Err(Error::ShapeMismatch { .. })));
    /// assert_eq!(opt.step_count(), 0);
    /// # Ok::<(), Error>(())
    /// ```
    fn check_step(
        &self,
        params: &dyn TensorList<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<(), Error>;

    /// The learning rate the next step will use.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adam, Optimizer};
    ///
    /// let opt = Adam::<f32>::new(3e-4)?;
    /// assert_eq!(opt.learning_rate(), 3e-4);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn learning_rate(&self) -> f64;

    /// Sets the learning rate for the following steps (what a scheduler does).
    ///
    /// # Errors
    ///
    /// [`InvalidHyperparameter`](Error::InvalidHyperparameter) if `lr` is negative or not
    /// finite; the learning rate is then unchanged.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Error, Optimizer, Sgd};
    ///
    /// let mut opt = Sgd::<f32>::new(0.1)?;
    /// opt.set_learning_rate(0.01)?;
    /// assert_eq!(opt.learning_rate(), 0.01);
    /// assert!(matches!(
    ///     opt.set_learning_rate(f64::NAN),
    ///     Err(Error::InvalidHyperparameter { name: "lr", .. })
    /// ));
    /// assert_eq!(opt.learning_rate(), 0.01); // unchanged
    /// # Ok::<(), Error>(())
    /// ```
    fn set_learning_rate(&mut self, lr: f64) -> Result<(), Error>;

    /// The momentum-like hyperparameter that cyclic schedules vary: `momentum` for SGD (and
    /// [`Momentum`], [`Nesterov`]) and RMSProp, `β₁` for Adam, AdamW, Adamax, NAdam, RAdam and
    /// LAMB, `b1` for Lion; `None` for optimizers without one (Adagrad, Adadelta).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adagrad, Adam, Optimizer, SgdConfig};
    ///
    /// assert_eq!(SgdConfig::default().momentum(0.9).build::<f32>()?.momentum(), Some(0.9));
    /// assert_eq!(Adam::<f32>::new(1e-3)?.momentum(), Some(0.9)); // β₁
    /// assert_eq!(Adagrad::<f32>::new(1e-2)?.momentum(), None);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn momentum(&self) -> Option<f64>;

    /// Sets the hyperparameter returned by [`momentum`](Optimizer::momentum).
    ///
    /// # Errors
    ///
    /// [`InvalidHyperparameter`](Error::InvalidHyperparameter) if the value is out of range,
    /// [`Unsupported`](Error::Unsupported) if the optimizer has no momentum. The value is then
    /// unchanged.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adagrad, Adam, Error, Optimizer};
    ///
    /// let mut adam = Adam::<f32>::new(1e-3)?;
    /// adam.set_momentum(0.95)?;
    /// assert_eq!(adam.config().betas, (0.95, 0.999));
    /// assert!(adam.set_momentum(1.0).is_err()); // β₁ must be below 1
    /// assert_eq!(adam.momentum(), Some(0.95));
    ///
    /// let mut adagrad = Adagrad::<f32>::new(1e-2)?;
    /// assert!(matches!(adagrad.set_momentum(0.9), Err(Error::Unsupported { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    fn set_momentum(&mut self, momentum: f64) -> Result<(), Error>;

    /// The parameter groups, if any were set.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Optimizer, ParamGroup, ParamGroups, Sgd};
    ///
    /// let mut opt = Sgd::<f32>::new(0.1)?;
    /// assert!(opt.param_groups().is_none());
    /// opt.set_param_groups(Some(ParamGroups::new(vec![ParamGroup::default()], vec![0, 0])?))?;
    /// assert_eq!(opt.param_groups().map(|g| g.assignment().len()), Some(2));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn param_groups(&self) -> Option<&ParamGroups>;

    /// Sets (or with `None` removes) [`ParamGroups`]: per-tensor learning-rate multipliers and
    /// weight decay, as PyTorch's parameter groups. State is kept; the groups apply from the
    /// next step on.
    ///
    /// # Errors
    ///
    /// [`GroupLengthMismatch`](Error::GroupLengthMismatch) if state exists for a different
    /// number of tensors than the groups assign; [`Unsupported`](Error::Unsupported) if a group
    /// overrides something this optimizer does not have (layer adaptation outside LAMB).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Error, Optimizer, ParamGroup, ParamGroups, Sgd};
    ///
    /// let (mut w, mut b) = (array![1.0_f64], array![1.0_f64]);
    /// let mut opt = Sgd::new(0.1)?;
    /// // b learns ten times slower than w.
    /// let slow = ParamGroup::default().lr_scale(0.1);
    /// opt.set_param_groups(Some(ParamGroups::new(vec![ParamGroup::default(), slow], vec![0, 1])?))?;
    /// opt.step(&mut (&mut w, &mut b), &(&array![1.0], &array![1.0]))?;
    /// assert!((w[0] - 0.9).abs() < 1e-12 && (b[0] - 0.99).abs() < 1e-12);
    ///
    /// // Layer adaptation is a LAMB option.
    /// let no_adaptation = ParamGroup::default().layer_adaptation(false);
    /// let lamb_only = ParamGroups::new(vec![no_adaptation], vec![0, 0])?;
    /// assert!(matches!(opt.set_param_groups(Some(lamb_only)), Err(Error::Unsupported { .. })));
    /// opt.set_param_groups(None)?; // back to one learning rate for all
    /// assert!(opt.param_groups().is_none());
    /// # Ok::<(), Error>(())
    /// ```
    fn set_param_groups(&mut self, groups: Option<ParamGroups>) -> Result<(), Error>;

    /// The number of steps taken since the optimizer was built or its state was reset (steps
    /// skipped under [`NonFinitePolicy::SkipStep`] do not count).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Adam, Optimizer};
    ///
    /// let mut w = array![1.0_f32];
    /// let mut opt = Adam::new(0.1)?;
    /// assert_eq!(opt.step_count(), 0);
    /// for _ in 0..3 {
    ///     opt.step(&mut w, &array![1.0])?;
    /// }
    /// assert_eq!(opt.step_count(), 3); // the `t` of Adam's bias corrections
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn step_count(&self) -> u64;

    /// What the last successful call to `step` did: applied the update, or skipped it.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Optimizer, Sgd, StepOutcome};
    ///
    /// let mut w = array![1.0_f32];
    /// let mut opt = Sgd::new(0.1)?;
    /// assert_eq!(opt.last_step(), &StepOutcome::NotStarted);
    /// opt.step(&mut w, &array![1.0])?;
    /// assert_eq!(opt.last_step(), &StepOutcome::Applied);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn last_step(&self) -> &StepOutcome;

    /// How many calls to `step` were skipped under [`NonFinitePolicy::SkipStep`] since the
    /// optimizer was built or its state was reset.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Adam, NonFinitePolicy, Optimizer};
    ///
    /// let mut w = array![1.0_f32];
    /// let mut opt = Adam::new(0.1)?.with_non_finite_policy(NonFinitePolicy::SkipStep);
    /// opt.step(&mut w, &array![f32::INFINITY])?;
    /// opt.step(&mut w, &array![1.0])?;
    /// opt.step(&mut w, &array![f32::NAN])?;
    /// assert_eq!((opt.skipped_steps(), opt.step_count()), (2, 1));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn skipped_steps(&self) -> u64;

    /// Drops all per-tensor state and the step counter: the next step starts afresh, as on a
    /// newly built optimizer with the current hyperparameters.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{array, Array1};
    /// use ndarray_optim::{Error, Optimizer, Sgd};
    ///
    /// let mut opt = Sgd::new(0.1)?;
    /// opt.step(&mut array![1.0_f32, 2.0], &array![1.0, 1.0])?;
    /// // The state belongs to a tensor of 2 elements: another shape is refused…
    /// let mut bigger = Array1::<f32>::zeros(3);
    /// let g = Array1::<f32>::ones(3);
    /// assert!(matches!(opt.step(&mut bigger, &g), Err(Error::StateShapeMismatch { .. })));
    /// // …until the state is dropped on purpose.
    /// opt.reset_state();
    /// assert_eq!(opt.step_count(), 0);
    /// opt.step(&mut bigger, &g)?;
    /// # Ok::<(), Error>(())
    /// ```
    fn reset_state(&mut self);

    /// What `step` does with NaN or infinite gradients.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adam, NonFinitePolicy, Optimizer};
    ///
    /// let opt = Adam::<f32>::new(1e-3)?;
    /// assert_eq!(opt.non_finite_policy(), NonFinitePolicy::Error); // the default
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn non_finite_policy(&self) -> NonFinitePolicy;

    /// Sets what `step` does with NaN or infinite gradients.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{NonFinitePolicy, Optimizer, Sgd};
    ///
    /// let mut opt: Box<dyn Optimizer<f32>> = Box::new(Sgd::new(0.1)?);
    /// opt.set_non_finite_policy(NonFinitePolicy::SkipStep);
    /// let mut w = array![1.0_f32];
    /// opt.step(&mut w, &array![f32::NAN])?; // skipped instead of an error
    /// assert_eq!((w[0], opt.skipped_steps()), (1.0, 1));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn set_non_finite_policy(&mut self, policy: NonFinitePolicy);

    /// The optimizer's name, as PyTorch's class would print it (`"Adam"`, `"SGD"`, …;
    /// [`Momentum`] and [`Nesterov`], which PyTorch spells `SGD(momentum=…)`, are `"Momentum"`
    /// and `"Nesterov"`). It is recorded in [`OptimizerState::optimizer`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Momentum, Optimizer, RmsProp, Sgd};
    ///
    /// assert_eq!(Sgd::<f32>::new(0.1)?.name(), "SGD");
    /// assert_eq!(Momentum::<f32>::new(0.1, 0.9)?.name(), "Momentum");
    /// assert_eq!(RmsProp::<f32>::new(0.01)?.name(), "RMSprop");
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn name(&self) -> &'static str;

    /// Everything needed to resume: kind, hyperparameters, step counters, parameter groups and
    /// every state buffer (see [`OptimizerState`]; serialisable with the `serde` feature).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Momentum, Optimizer};
    ///
    /// let mut w = array![1.0_f64, 2.0];
    /// let mut opt = Momentum::new(0.1, 0.9)?;
    /// opt.step(&mut w, &array![1.0, -1.0])?;
    /// let saved = opt.save_state();
    /// assert_eq!((saved.optimizer.as_str(), saved.step), ("Momentum", 1));
    /// // PyTorch's buffer name; after one step the buffer is the gradient itself.
    /// assert_eq!(saved.tensors[0].buffers["momentum_buffer"], array![1.0, -1.0].into_dyn());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn save_state(&self) -> OptimizerState<A>;

    /// Replaces this optimizer's hyperparameters, counters and state with a saved state, so
    /// that the next step continues exactly where the saved optimizer was. Everything is checked
    /// first; on `Err` nothing changes. The tensors are checked against the saved shapes at the
    /// next `step` (or now, with [`OptimizerState::verify`]).
    ///
    /// # Errors
    ///
    /// [`WrongOptimizer`](Error::WrongOptimizer) (saved from another kind of optimizer),
    /// [`UnsupportedStateFormat`](Error::UnsupportedStateFormat),
    /// [`InvalidState`](Error::InvalidState) (missing, misshapen or unknown buffers),
    /// [`InvalidHyperparameter`](Error::InvalidHyperparameter) and the parameter-group errors
    /// for a configuration that does not validate.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Adam, Error, Optimizer, Sgd};
    ///
    /// let g = array![0.5_f32, -0.5];
    /// let mut w = array![1.0_f32, 2.0];
    /// let mut opt = Adam::new(0.1)?;
    /// opt.step(&mut w, &g)?;
    /// let saved = opt.save_state();
    ///
    /// let mut resumed = Adam::new(0.5)?; // the saved hyperparameters replace these
    /// resumed.load_state(saved.clone())?;
    /// assert_eq!((resumed.learning_rate(), resumed.step_count()), (0.1, 1));
    /// let mut w2 = w.clone();
    /// opt.step(&mut w, &g)?;
    /// resumed.step(&mut w2, &g)?;
    /// assert_eq!(w, w2); // bit for bit
    ///
    /// let mut sgd = Sgd::<f32>::new(0.1)?;
    /// assert!(matches!(sgd.load_state(saved), Err(Error::WrongOptimizer { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    fn load_state(&mut self, state: OptimizerState<A>) -> Result<(), Error>;

    /// A boxed clone, so that `Box<dyn Optimizer<A>>` is `Clone`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Adam, Optimizer};
    ///
    /// let mut opt: Box<dyn Optimizer<f64>> = Box::new(Adam::new(0.1)?);
    /// let mut w = array![1.0_f64];
    /// opt.step(&mut w, &array![1.0])?;
    /// let mut copy = opt.clone(); // calls clone_box: state and counters included
    /// let mut w2 = w.clone();
    /// opt.step(&mut w, &array![1.0])?;
    /// copy.step(&mut w2, &array![1.0])?;
    /// assert_eq!((w, copy.step_count()), (w2, 2));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn clone_box(&self) -> Box<dyn Optimizer<A>>;
}

impl<A: Float> Clone for Box<dyn Optimizer<A>> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// A boxed optimizer is an optimizer, so `Vec<Box<dyn Optimizer<A>>>` elements can be passed
/// wherever an optimizer is expected (to a scheduler, say).
impl<A: Float, O: Optimizer<A> + ?Sized> Optimizer<A> for Box<O> {
    fn step(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<(), Error> {
        (**self).step(params, grads)
    }
    fn check_step(
        &self,
        params: &dyn TensorList<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<(), Error> {
        (**self).check_step(params, grads)
    }
    fn learning_rate(&self) -> f64 {
        (**self).learning_rate()
    }
    fn set_learning_rate(&mut self, lr: f64) -> Result<(), Error> {
        (**self).set_learning_rate(lr)
    }
    fn momentum(&self) -> Option<f64> {
        (**self).momentum()
    }
    fn set_momentum(&mut self, momentum: f64) -> Result<(), Error> {
        (**self).set_momentum(momentum)
    }
    fn param_groups(&self) -> Option<&ParamGroups> {
        (**self).param_groups()
    }
    fn set_param_groups(&mut self, groups: Option<ParamGroups>) -> Result<(), Error> {
        (**self).set_param_groups(groups)
    }
    fn step_count(&self) -> u64 {
        (**self).step_count()
    }
    fn last_step(&self) -> &StepOutcome {
        (**self).last_step()
    }
    fn skipped_steps(&self) -> u64 {
        (**self).skipped_steps()
    }
    fn reset_state(&mut self) {
        (**self).reset_state()
    }
    fn non_finite_policy(&self) -> NonFinitePolicy {
        (**self).non_finite_policy()
    }
    fn set_non_finite_policy(&mut self, policy: NonFinitePolicy) {
        (**self).set_non_finite_policy(policy)
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn save_state(&self) -> OptimizerState<A> {
        (**self).save_state()
    }
    fn load_state(&mut self, state: OptimizerState<A>) -> Result<(), Error> {
        (**self).load_state(state)
    }
    fn clone_box(&self) -> Box<dyn Optimizer<A>> {
        (**self).clone_box()
    }
}

/// What [`Optimizer::step`] does when a gradient holds NaN or ±infinity.
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::{Error, NonFinitePolicy, Optimizer, Sgd};
///
/// let mut w = array![1.0_f32, 2.0];
/// let bad = array![0.5_f32, f32::NAN];
///
/// let mut checked = Sgd::new(0.1)?;
/// assert!(matches!(checked.step(&mut w, &bad), Err(Error::NonFiniteGradient { .. })));
/// assert_eq!(w, array![1.0, 2.0]);
///
/// let mut unchecked = Sgd::new(0.1)?.with_non_finite_policy(NonFinitePolicy::Unchecked);
/// unchecked.step(&mut w, &bad)?; // as PyTorch: the NaN reaches the parameter
/// assert!(w[1].is_nan());
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum NonFinitePolicy {
    /// Check every gradient first; on a NaN or infinity return
    /// [`Error::NonFiniteGradient`] and change nothing. The default. Costs one read of the
    /// gradients per step.
    #[default]
    Error,
    /// Check every gradient first; on a NaN or infinity change nothing, return `Ok`, and record
    /// the skip: [`Optimizer::last_step`] says [`StepOutcome::Skipped`] (which tensor, which
    /// element), [`Optimizer::skipped_steps`] counts it, and the step counter does not advance,
    /// so bias corrections carry on as if the batch had never come. The moments are never
    /// poisoned. (The loss-scaling skip of mixed-precision training, done inside the optimizer.)
    SkipStep,
    /// No check: non-finite values flow into the state and the parameters, as in PyTorch.
    Unchecked,
}

/// What the last successful call to [`Optimizer::step`] did.
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::{Adam, NonFinitePolicy, Optimizer, StepOutcome};
///
/// let mut opt = Adam::new(0.1)?.with_non_finite_policy(NonFinitePolicy::SkipStep);
/// let mut w = array![1.0_f32, 2.0];
/// assert_eq!(opt.last_step(), &StepOutcome::NotStarted);
/// opt.step(&mut w, &array![0.5, f32::INFINITY])?; // skipped: nothing changes
/// assert_eq!(w, array![1.0, 2.0]);
/// assert!(matches!(opt.last_step(), StepOutcome::Skipped { index: 0, .. }));
/// assert_eq!((opt.step_count(), opt.skipped_steps()), (0, 1));
/// opt.step(&mut w, &array![0.5, 0.5])?;
/// assert_eq!(opt.last_step(), &StepOutcome::Applied);
/// assert_eq!(opt.step_count(), 1);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum StepOutcome {
    /// No step yet since the optimizer was built or reset.
    #[default]
    NotStarted,
    /// The parameters and state were updated.
    Applied,
    /// The gradients were added to an accumulation window and nothing else changed
    /// ([`MultiSteps`]): call `micro_step` of `every_k`.
    Accumulated {
        /// Calls in the current window so far (1 to `every_k − 1`).
        micro_step: usize,
        /// Calls per inner step.
        every_k: usize,
    },
    /// Nothing was changed: a gradient held a non-finite value
    /// ([`NonFinitePolicy::SkipStep`]).
    Skipped {
        /// Position of the tensor in the list.
        index: usize,
        /// Index of the first non-finite element (row-major) within the tensor.
        element: Vec<usize>,
        /// The offending value, widened to `f64`.
        value: f64,
    },
}

/// The hyperparameters a parameter group can change, resolved for one group: what a kernel
/// reads instead of its configuration's own `lr` and `weight_decay`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GroupHyper {
    /// The optimizer's learning rate times the group's `lr_scale`.
    pub(crate) lr: f64,
    /// The group's weight decay, or the configuration's.
    pub(crate) weight_decay: f64,
    /// LAMB's layer adaptation override.
    pub(crate) layer_adaptation: Option<bool>,
}

/// An optimizer's configuration together with its fused update: what each optimizer file
/// provides to the shared [`Driver`].
pub(crate) trait Kernel<A: Float>: Clone + Debug + Send + Sync + 'static {
    /// Per-tensor state (moment buffers), each buffer in the tensor's memory order.
    type State: Clone + Debug + Send + Sync + saved::StateBuffers<A>;
    /// Computed once per step from all gradients (LAMB's global norm); `()` for most.
    type Global;
    /// The scalars of one step for one group, computed once in `f64` and rounded once to `A`.
    type Scalars: Send + Sync;

    fn validate(&self) -> Result<(), Error>;
    /// This configuration as the tagged enum of the saved form.
    fn to_config(&self) -> OptimizerConfig;
    /// The configuration back from the saved form, if it is of this kind.
    fn from_config(config: OptimizerConfig) -> Option<Self>;
    fn learning_rate(&self) -> f64;
    fn set_learning_rate(&mut self, lr: f64);
    fn weight_decay(&self) -> f64;
    /// Whether [`ParamGroup::layer_adaptation`] means anything to this optimizer.
    fn has_layer_adaptation(&self) -> bool {
        false
    }
    /// `None` when the optimizer has no momentum-like hyperparameter.
    fn momentum(&self) -> Option<f64>;
    /// Sets the momentum-like hyperparameter; only called when `momentum()` is `Some`.
    fn set_momentum(&mut self, momentum: f64);
    /// Fresh state for a tensor of `len` elements.
    fn new_state(&self, len: usize) -> Self::State;
    /// What the step needs from all gradients together.
    fn global(&self, grads: &dyn TensorList<A>) -> Self::Global;
    /// The scalars of step number `step` (1 on the first step) for one group.
    fn scalars(&self, step: u64, global: &Self::Global, group: GroupHyper) -> Self::Scalars;
    /// Updates one tensor and its state.
    fn update(&self, scalars: &Self::Scalars, pass: &mut Pass<'_, A>, state: &mut Self::State);
}

/// Updates the tensor at an index with its gradient and state slot.
#[cfg(feature = "rayon")]
type UpdateOne<'a, A, S> =
    dyn Fn(usize, &mut dyn crate::TensorMut<A>, &dyn crate::Tensor<A>, &mut Slot<S>) + Sync + 'a;

/// The per-tensor state of one parameter and the layout it was created with.
#[derive(Clone, Debug)]
pub(crate) struct Slot<S> {
    shape: Vec<usize>,
    strides: Vec<usize>,
    state: S,
}

/// The bookkeeping shared by every optimizer: validation, lazy per-tensor state, the step count.
pub(crate) struct Driver<A: Float, K: Kernel<A>> {
    pub(crate) config: K,
    step: u64,
    slots: Vec<Slot<K::State>>,
    non_finite: NonFinitePolicy,
    last: StepOutcome,
    skipped: u64,
    groups: Option<ParamGroups>,
    /// One entry per group, refilled every step.
    scalars: Scratch<K::Scalars>,
    _element: std::marker::PhantomData<A>,
}

// Written out because a derive would demand `Clone`/`Debug` of the per-step scalars too.
impl<A: Float, K: Kernel<A>> Clone for Driver<A, K> {
    fn clone(&self) -> Self {
        Driver {
            config: self.config.clone(),
            step: self.step,
            slots: self.slots.clone(),
            non_finite: self.non_finite,
            last: self.last.clone(),
            skipped: self.skipped,
            groups: self.groups.clone(),
            scalars: self.scalars.clone(),
            _element: std::marker::PhantomData,
        }
    }
}

impl<A: Float, K: Kernel<A>> Debug for Driver<A, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("config", &self.config)
            .field("step", &self.step)
            .field("slots", &self.slots)
            .field("non_finite", &self.non_finite)
            .field("last", &self.last)
            .field("skipped", &self.skipped)
            .field("groups", &self.groups)
            .finish()
    }
}

impl<A: Float, K: Kernel<A>> Driver<A, K> {
    pub(crate) fn new(config: K) -> Result<Self, Error> {
        config.validate()?;
        Ok(Driver {
            config,
            step: 0,
            slots: Vec::new(),
            non_finite: NonFinitePolicy::default(),
            last: StepOutcome::NotStarted,
            skipped: 0,
            groups: None,
            scalars: Scratch(Vec::new()),
            _element: std::marker::PhantomData,
        })
    }

    /// Every check `step` makes, before anything changes. `Ok(Some(outcome))` means: skip.
    pub(crate) fn validate(
        &self,
        params: &dyn TensorList<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<Option<StepOutcome>, Error> {
        let n = params.len();
        if grads.len() != n {
            return Err(Error::LengthMismatch {
                params: n,
                grads: grads.len(),
            });
        }
        if let Some(groups) = &self.groups
            && groups.assignment().len() != n
        {
            return Err(Error::GroupLengthMismatch {
                assigned: groups.assignment().len(),
                found: n,
            });
        }
        if !self.slots.is_empty() && self.slots.len() != n {
            return Err(Error::StateLengthMismatch {
                expected: self.slots.len(),
                found: n,
            });
        }
        for index in 0..n {
            let (Some(p), Some(g)) = (params.tensor(index), grads.tensor(index)) else {
                return Err(Error::LengthMismatch {
                    params: n,
                    grads: grads.len(),
                });
            };
            if p.shape() != g.shape() {
                return Err(Error::ShapeMismatch {
                    index,
                    param: p.shape().to_vec(),
                    grad: g.shape().to_vec(),
                });
            }
            if let Some(slot) = self.slots.get(index)
                && slot.shape != p.shape()
            {
                return Err(Error::StateShapeMismatch {
                    index,
                    expected: slot.shape.clone(),
                    found: p.shape().to_vec(),
                });
            }
        }
        if self.non_finite != NonFinitePolicy::Unchecked {
            for index in 0..n {
                let g = grads.tensor(index).ok_or(Error::LengthMismatch {
                    params: n,
                    grads: index,
                })?;
                if let Some((element, value)) = pass::first_non_finite(g) {
                    let value = value.widen();
                    return match self.non_finite {
                        NonFinitePolicy::SkipStep => Ok(Some(StepOutcome::Skipped {
                            index,
                            element,
                            value,
                        })),
                        _ => Err(Error::NonFiniteGradient {
                            index,
                            element,
                            value,
                        }),
                    };
                }
            }
        }
        Ok(None)
    }

    pub(crate) fn step(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<(), Error> {
        if let Some(skipped) = self.validate(&*params, grads)? {
            self.last = skipped;
            self.skipped += 1;
            return Ok(());
        }
        let n = params.len();
        // A list must lend every tensor it reported as writable too; checked before any change.
        for index in 0..n {
            tensor_pair(params, grads, index)?;
        }
        if self.slots.is_empty() {
            self.slots.reserve_exact(n);
            for index in 0..n {
                let (p, _) = tensor_pair(params, grads, index)?;
                let len = p.shape().iter().product();
                self.slots.push(Slot {
                    shape: p.shape().to_vec(),
                    strides: pass::state_strides(p.shape(), p.strides()),
                    state: self.config.new_state(len),
                });
            }
        }
        // A state loaded from a file is in row-major order; the first time a contiguous
        // parameter in another order arrives, its state moves to that order (once).
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let (p, _) = tensor_pair(params, grads, index)?;
            if !pass::same_order(&slot.shape, p.strides(), &slot.strides)
                && p.strides().iter().all(|&s| s >= 0)
                && p.as_slice_memory_order().is_some()
            {
                let strides = pass::state_strides(p.shape(), p.strides());
                for buffer in slot.state.buffers_mut() {
                    saved::relayout(&slot.shape, &slot.strides, &strides, buffer);
                }
                slot.strides = strides;
            }
        }
        self.step += 1;
        let global = self.config.global(grads);
        let scalars = &mut self.scalars.0;
        scalars.clear();
        let lr = self.config.learning_rate();
        let weight_decay = self.config.weight_decay();
        match &self.groups {
            None => scalars.push(self.config.scalars(
                self.step,
                &global,
                GroupHyper {
                    lr,
                    weight_decay,
                    layer_adaptation: None,
                },
            )),
            Some(groups) => {
                for group in groups.groups() {
                    let hyper = GroupHyper {
                        lr: lr * group.lr_scale,
                        weight_decay: group.weight_decay.unwrap_or(weight_decay),
                        layer_adaptation: group.layer_adaptation,
                    };
                    scalars.push(self.config.scalars(self.step, &global, hyper));
                }
            }
        }
        let (config, groups) = (&self.config, self.groups.as_ref());
        let update = |index: usize,
                      p: &mut dyn crate::TensorMut<A>,
                      g: &dyn crate::Tensor<A>,
                      slot: &mut Slot<K::State>| {
            if slot.shape.contains(&0) {
                return; // no elements, nothing to update
            }
            let group = groups.map_or(0, |groups| groups.assignment()[index]);
            let mut pass = Pass::new(p, g, &slot.strides);
            config.update(&scalars[group], &mut pass, &mut slot.state);
        };
        #[cfg(feature = "rayon")]
        if Self::parallel_over_tensors(&mut self.slots, params, grads, &update) {
            self.last = StepOutcome::Applied;
            return Ok(());
        }
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let (p, g) = tensor_pair(params, grads, index)?;
            update(index, p, g, slot);
        }
        self.last = StepOutcome::Applied;
        Ok(())
    }

    /// With the `rayon` feature: updates the tensors on several threads when there are at least
    /// two and enough elements in all, and the list can lend all its tensors at once. Returns
    /// whether it did; if not, nothing was touched.
    #[cfg(feature = "rayon")]
    fn parallel_over_tensors(
        slots: &mut [Slot<K::State>],
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
        update: &UpdateOne<'_, A, K::State>,
    ) -> bool {
        use rayon::prelude::*;
        let total: usize = slots
            .iter()
            .map(|s| s.shape.iter().product::<usize>())
            .sum();
        if slots.len() < 2 || !pass::parallel::split(total) {
            return false;
        }
        let mut ps = Vec::with_capacity(slots.len());
        let gs: Option<Vec<&dyn crate::Tensor<A>>> =
            (0..slots.len()).map(|i| grads.tensor(i)).collect();
        let (true, Some(gs)) = (params.tensors_mut(&mut ps), gs) else {
            return false;
        };
        if ps.len() != slots.len() {
            return false;
        }
        ps.into_par_iter()
            .zip(gs)
            .zip(slots.par_iter_mut())
            .enumerate()
            .for_each(|(index, ((p, g), slot))| update(index, p, g, slot));
        true
    }

    pub(crate) fn set_learning_rate(&mut self, lr: f64) -> Result<(), Error> {
        check::non_negative("lr", lr)?;
        self.config.set_learning_rate(lr);
        Ok(())
    }

    pub(crate) fn set_momentum(
        &mut self,
        momentum: f64,
        optimizer: &'static str,
    ) -> Result<(), Error> {
        if self.config.momentum().is_none() {
            return Err(Error::Unsupported {
                optimizer,
                what: "a momentum hyperparameter",
            });
        }
        let mut candidate = self.config.clone();
        candidate.set_momentum(momentum);
        candidate.validate()?;
        self.config = candidate;
        Ok(())
    }

    pub(crate) fn param_groups(&self) -> Option<&ParamGroups> {
        self.groups.as_ref()
    }

    pub(crate) fn set_param_groups(
        &mut self,
        groups: Option<ParamGroups>,
        optimizer: &'static str,
    ) -> Result<(), Error> {
        if let Some(groups) = &groups {
            groups.validate()?;
            if !self.slots.is_empty() && groups.assignment().len() != self.slots.len() {
                return Err(Error::GroupLengthMismatch {
                    assigned: groups.assignment().len(),
                    found: self.slots.len(),
                });
            }
            if !self.config.has_layer_adaptation()
                && groups.groups().iter().any(|g| g.layer_adaptation.is_some())
            {
                return Err(Error::Unsupported {
                    optimizer,
                    what: "layer adaptation (a LAMB option)",
                });
            }
        }
        self.groups = groups;
        Ok(())
    }

    pub(crate) fn step_count(&self) -> u64 {
        self.step
    }

    pub(crate) fn save_state(&self, optimizer: &'static str) -> OptimizerState<A> {
        OptimizerState {
            format_version: STATE_FORMAT_VERSION,
            optimizer: optimizer.to_string(),
            config: self.config.to_config(),
            step: self.step,
            skipped_steps: self.skipped,
            non_finite_policy: self.non_finite,
            param_groups: self.groups.clone(),
            tensors: self
                .slots
                .iter()
                .map(|slot| TensorState {
                    name: None,
                    shape: slot.shape.clone(),
                    buffers: slot
                        .state
                        .buffers()
                        .into_iter()
                        .map(|(name, buffer)| {
                            (
                                name.to_string(),
                                saved::to_logical(&slot.shape, &slot.strides, buffer),
                            )
                        })
                        .collect(),
                    scalars: slot
                        .state
                        .scalars()
                        .into_iter()
                        .map(|(name, value)| (name.to_string(), value))
                        .collect(),
                })
                .collect(),
            extra: Default::default(),
        }
    }

    pub(crate) fn load_state(
        &mut self,
        state: OptimizerState<A>,
        optimizer: &'static str,
    ) -> Result<(), Error> {
        if state.format_version != STATE_FORMAT_VERSION {
            return Err(Error::UnsupportedStateFormat {
                version: state.format_version,
                supported: STATE_FORMAT_VERSION,
            });
        }
        if state.optimizer != optimizer {
            return Err(Error::WrongOptimizer {
                expected: optimizer,
                found: state.optimizer,
            });
        }
        let config = K::from_config(state.config).ok_or_else(|| Error::WrongOptimizer {
            expected: optimizer,
            found: format!("{} (with another configuration type)", state.optimizer),
        })?;
        config.validate()?;
        if let Some(groups) = &state.param_groups {
            groups.validate()?;
            if !state.tensors.is_empty() && groups.assignment().len() != state.tensors.len() {
                return Err(Error::GroupLengthMismatch {
                    assigned: groups.assignment().len(),
                    found: state.tensors.len(),
                });
            }
        }
        if !state.extra.is_empty() {
            return Err(Error::InvalidState {
                tensor: None,
                reason: format!(
                    "unexpected counters {:?}",
                    state.extra.keys().collect::<Vec<_>>()
                ),
            });
        }
        let mut slots = Vec::with_capacity(state.tensors.len());
        for (index, saved) in state.tensors.into_iter().enumerate() {
            let shape = saved.shape.clone();
            let mut scalars = saved.scalars.clone();
            if shape
                .iter()
                .try_fold(1usize, |n, &d| n.checked_mul(d))
                .is_none()
            {
                return Err(Error::InvalidState {
                    tensor: Some(index),
                    reason: format!("shape {shape:?} has too many elements"),
                });
            }
            let mut buffers = saved::take_buffers(index, saved)?;
            let restored =
                K::State::from_buffers(&mut |name| buffers.remove(name)).map_err(|reason| {
                    Error::InvalidState {
                        tensor: Some(index),
                        reason,
                    }
                })?;
            let mut restored = restored;
            restored
                .restore_scalars(&mut |name| scalars.remove(name))
                .map_err(|reason| Error::InvalidState {
                    tensor: Some(index),
                    reason,
                })?;
            if let Some(name) = scalars.keys().next() {
                return Err(Error::InvalidState {
                    tensor: Some(index),
                    reason: format!("unknown scalar `{name}` for {optimizer}"),
                });
            }
            if let Some(name) = buffers.keys().next() {
                return Err(Error::InvalidState {
                    tensor: Some(index),
                    reason: format!("unknown buffer `{name}` for {optimizer}"),
                });
            }
            let c_order = vec![0; shape.len()];
            let strides = pass::state_strides(&shape, &c_order);
            slots.push(Slot {
                shape,
                strides,
                state: restored,
            });
        }
        self.config = config;
        self.step = state.step;
        self.skipped = state.skipped_steps;
        self.non_finite = state.non_finite_policy;
        self.groups = state.param_groups;
        self.slots = slots;
        self.last = StepOutcome::NotStarted;
        Ok(())
    }

    pub(crate) fn last_step(&self) -> &StepOutcome {
        &self.last
    }

    pub(crate) fn skipped_steps(&self) -> u64 {
        self.skipped
    }

    pub(crate) fn reset_state(&mut self) {
        self.slots.clear();
        self.step = 0;
        self.last = StepOutcome::NotStarted;
        self.skipped = 0;
    }

    pub(crate) fn non_finite_policy(&self) -> NonFinitePolicy {
        self.non_finite
    }

    pub(crate) fn set_non_finite_policy(&mut self, policy: NonFinitePolicy) {
        self.non_finite = policy;
    }
}

/// Working space reused from step to step so that `step` does not allocate; not state, so a
/// clone starts with an empty one.
pub(crate) struct Scratch<T>(Vec<T>);

impl<T> Clone for Scratch<T> {
    fn clone(&self) -> Self {
        Scratch(Vec::new())
    }
}

impl<T> Debug for Scratch<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scratch")
    }
}

/// The parameter and gradient at `index`; a list that claims more tensors than it yields is an
/// error rather than a panic.
fn tensor_pair<'a, A>(
    params: &'a mut dyn TensorListMut<A>,
    grads: &'a dyn TensorList<A>,
    index: usize,
) -> Result<(&'a mut dyn crate::TensorMut<A>, &'a dyn crate::Tensor<A>), Error> {
    let (n_params, n_grads) = (params.len(), grads.len());
    match (params.tensor_mut(index), grads.tensor(index)) {
        (Some(p), Some(g)) => Ok((p, g)),
        _ => Err(Error::LengthMismatch {
            params: n_params,
            grads: n_grads,
        }),
    }
}

/// Hyperparameter checks shared by the configurations.
pub(crate) mod check {
    use crate::error::Error;

    /// `value ≥ 0` and finite.
    pub(crate) fn non_negative(name: &'static str, value: f64) -> Result<(), Error> {
        if value.is_finite() && value >= 0.0 {
            Ok(())
        } else {
            Err(Error::InvalidHyperparameter {
                name,
                value,
                requirement: "must be finite and >= 0",
            })
        }
    }

    /// `value > 0` and finite.
    pub(crate) fn positive(name: &'static str, value: f64) -> Result<(), Error> {
        if value.is_finite() && value > 0.0 {
            Ok(())
        } else {
            Err(Error::InvalidHyperparameter {
                name,
                value,
                requirement: "must be finite and > 0",
            })
        }
    }

    /// `0 ≤ value < 1`.
    pub(crate) fn beta(name: &'static str, value: f64) -> Result<(), Error> {
        if (0.0..1.0).contains(&value) {
            Ok(())
        } else {
            Err(Error::InvalidHyperparameter {
                name,
                value,
                requirement: "must be in [0, 1)",
            })
        }
    }

    /// `0 ≤ value ≤ 1`.
    pub(crate) fn unit(name: &'static str, value: f64) -> Result<(), Error> {
        if (0.0..=1.0).contains(&value) {
            Ok(())
        } else {
            Err(Error::InvalidHyperparameter {
                name,
                value,
                requirement: "must be in [0, 1]",
            })
        }
    }
}

/// The constructor call in the generated examples of [`optimizer_type!`]: learning rate 0.1,
/// and momentum 0.9 for the two optimizers that need one.
macro_rules! doc_constructor {
    (Momentum) => {
        "Momentum::<f32>::new(0.1, 0.9)?"
    };
    (Nesterov) => {
        "Nesterov::<f32>::new(0.1, 0.9)?"
    };
    ($name:ident) => {
        concat!(stringify!($name), "::<f32>::new(0.1)?")
    };
}
pub(crate) use doc_constructor;

/// The [`Kernel`] methods every configuration implements the same way: the saved-form
/// conversion for its [`OptimizerConfig`] variant, and its `lr` and `weight_decay` fields.
macro_rules! config_accessors {
    ($variant:ident) => {
        fn to_config(&self) -> $crate::OptimizerConfig {
            $crate::OptimizerConfig::$variant(self.clone())
        }
        fn from_config(config: $crate::OptimizerConfig) -> Option<Self> {
            match config {
                $crate::OptimizerConfig::$variant(config) => Some(config),
                _ => None,
            }
        }
        fn learning_rate(&self) -> f64 {
            self.lr
        }
        fn weight_decay(&self) -> f64 {
            self.weight_decay
        }
        fn set_learning_rate(&mut self, lr: f64) {
            self.lr = lr;
        }
    };
}
pub(crate) use config_accessors;

/// Defines a public optimizer type around a [`Driver`] and implements [`Optimizer`] for it.
macro_rules! optimizer_type {
    (
        $(#[$meta:meta])*
        $name:ident, $config:ty, $display:literal
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug)]
        pub struct $name<A: $crate::Float = f32> {
            driver: $crate::optim::Driver<A, $config>,
        }

        impl<A: $crate::Float> $name<A> {
            /// The hyperparameters in use (the learning rate and momentum as last set).
            ///
            /// # Example
            ///
            /// ```
            #[doc = concat!("use ndarray_optim::{", stringify!($name), ", ", stringify!($config), ", Optimizer};")]
            ///
            #[doc = concat!("let mut opt = ", $crate::optim::doc_constructor!($name), ";")]
            #[doc = concat!("let config: &", stringify!($config), " = opt.config();")]
            /// assert_eq!(config.lr, 0.1);
            /// opt.set_learning_rate(0.05)?; // as a scheduler does
            /// assert_eq!(opt.config().lr, 0.05);
            /// # Ok::<(), ndarray_optim::Error>(())
            /// ```
            pub fn config(&self) -> &$config {
                &self.driver.config
            }

            /// Sets the [`NonFinitePolicy`](crate::NonFinitePolicy), builder style.
            ///
            /// # Example
            ///
            /// ```
            /// use ndarray::array;
            #[doc = concat!("use ndarray_optim::{", stringify!($name), ", NonFinitePolicy, Optimizer};")]
            ///
            #[doc = concat!("let mut opt = ", $crate::optim::doc_constructor!($name), ".with_non_finite_policy(NonFinitePolicy::SkipStep);")]
            /// assert_eq!(opt.non_finite_policy(), NonFinitePolicy::SkipStep);
            /// let mut w = array![1.0_f32, 2.0];
            /// opt.step(&mut w, &array![f32::NAN, 0.5])?; // skipped, not an error
            /// assert_eq!(w, array![1.0, 2.0]);
            /// assert_eq!((opt.step_count(), opt.skipped_steps()), (0, 1));
            /// # Ok::<(), ndarray_optim::Error>(())
            /// ```
            pub fn with_non_finite_policy(mut self, policy: $crate::NonFinitePolicy) -> Self {
                self.driver.set_non_finite_policy(policy);
                self
            }
        }

        impl<A: $crate::Float> $crate::Optimizer<A> for $name<A> {
            fn step(
                &mut self,
                params: &mut dyn $crate::TensorListMut<A>,
                grads: &dyn $crate::TensorList<A>,
            ) -> Result<(), $crate::Error> {
                self.driver.step(params, grads)
            }
            fn check_step(
                &self,
                params: &dyn $crate::TensorList<A>,
                grads: &dyn $crate::TensorList<A>,
            ) -> Result<(), $crate::Error> {
                self.driver.validate(params, grads).map(|_| ())
            }
            fn learning_rate(&self) -> f64 {
                $crate::optim::Kernel::<A>::learning_rate(&self.driver.config)
            }
            fn set_learning_rate(&mut self, lr: f64) -> Result<(), $crate::Error> {
                self.driver.set_learning_rate(lr)
            }
            fn momentum(&self) -> Option<f64> {
                $crate::optim::Kernel::<A>::momentum(&self.driver.config)
            }
            fn set_momentum(&mut self, momentum: f64) -> Result<(), $crate::Error> {
                self.driver.set_momentum(momentum, $display)
            }
            fn param_groups(&self) -> Option<&$crate::ParamGroups> {
                self.driver.param_groups()
            }
            fn set_param_groups(
                &mut self,
                groups: Option<$crate::ParamGroups>,
            ) -> Result<(), $crate::Error> {
                self.driver.set_param_groups(groups, $display)
            }
            fn step_count(&self) -> u64 {
                self.driver.step_count()
            }
            fn last_step(&self) -> &$crate::StepOutcome {
                self.driver.last_step()
            }
            fn skipped_steps(&self) -> u64 {
                self.driver.skipped_steps()
            }
            fn reset_state(&mut self) {
                self.driver.reset_state()
            }
            fn non_finite_policy(&self) -> $crate::NonFinitePolicy {
                self.driver.non_finite_policy()
            }
            fn set_non_finite_policy(&mut self, policy: $crate::NonFinitePolicy) {
                self.driver.set_non_finite_policy(policy)
            }
            fn name(&self) -> &'static str {
                $display
            }
            fn save_state(&self) -> $crate::OptimizerState<A> {
                self.driver.save_state($display)
            }
            fn load_state(
                &mut self,
                state: $crate::OptimizerState<A>,
            ) -> Result<(), $crate::Error> {
                self.driver.load_state(state, $display)
            }
            fn clone_box(&self) -> Box<dyn $crate::Optimizer<A>> {
                Box::new(self.clone())
            }
        }
    };
}
pub(crate) use optimizer_type;
