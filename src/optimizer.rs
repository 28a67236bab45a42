//! The [`Optimizer`] trait every optimizer and wrapper implements, and what a step can report.

use std::fmt::Debug;

use crate::distributed::Reduce;
use crate::error::Error;
use crate::float::Float;
use crate::groups::{ParamGroup, ParamGroups};
use crate::state::OptimizerState;
use crate::tensor::{TensorList, TensorListMut};

/// An optimizer: updates parameter tensors in place from their gradients.
///
/// The trait is object safe, so a program can choose optimizers at run time
/// (`Vec<Box<dyn Optimizer<f32>>>`). `A` is the element type: `f32` or `f64`, or with the
/// `half` feature `bf16` and `f16`.
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

    /// [`step`](Optimizer::step) for an optimizer given part of a model (one rank's share of a
    /// sharded step): whatever the step computes over every tensor (whether every rank's inputs
    /// are valid, the first non-finite gradient, LAMB's gradient norm, the norm
    /// [`MultiSteps`](crate::MultiSteps) clips with) comes from rounds through `reduce`, each
    /// rank contributing its part (see [`distributed::Reduce`](crate::distributed::Reduce)).
    /// Through [`distributed::Local`](crate::distributed::Local) it is exactly `step`, which is
    /// how `step` runs. [`Sharded`](crate::distributed::Sharded) calls it on the optimizer it
    /// wraps.
    ///
    /// Every optimizer and wrapper of the crate implements it. The default runs
    /// [`step`](Optimizer::step) when the rounds are local
    /// ([`Reduce::is_local`](crate::distributed::Reduce::is_local), e.g. inside
    /// [`MultiSteps`](crate::MultiSteps) in one process) and otherwise refuses, without a round
    /// (an optimizer of your own steps part of a model by following the rules of
    /// [`distributed::Reduce`](crate::distributed::Reduce)).
    ///
    /// # Errors
    ///
    /// The errors of [`step`](Optimizer::step), those of the rounds
    /// ([`Reduce::exchange`](crate::distributed::Reduce::exchange)), and
    /// [`Unsupported`](Error::Unsupported) from the default. On `Err` nothing has changed, as
    /// for `step`, unless a round's communication failed after the step began to change the
    /// state (which [`Sharded`](crate::distributed::Sharded) undoes).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::distributed::Local;
    /// use ndarray_optim::{Adam, Optimizer};
    ///
    /// let mut w = array![1.0_f64, 2.0];
    /// let mut opt = Adam::new(0.1)?;
    /// opt.step_reduced(&mut w, &array![0.5, -0.5], &mut Local)?; // one process: `step`
    /// assert_eq!(opt.step_count(), 1);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn step_reduced(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
        reduce: &mut dyn Reduce,
    ) -> Result<(), Error> {
        if reduce.is_local() {
            return self.step(params, grads);
        }
        Err(Error::Unsupported {
            optimizer: self.name(),
            what: "steps over part of a model (step_reduced)",
        })
    }

    /// The optimizer's learning rate: the one the next step uses without parameter groups.
    /// With [`ParamGroups`](crate::ParamGroups) each group uses its own,
    /// [`group_learning_rate`](Optimizer::group_learning_rate): this one times its
    /// [`lr_scale`](crate::ParamGroup::lr_scale), or a rate of its own (a
    /// [`ParamGroup::lr`](crate::ParamGroup::lr), or what a scheduler writes into every group).
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

    /// Sets the learning rate for the following steps (what a scheduler does without
    /// parameter groups). Groups that scale the optimizer's rate
    /// ([`lr_scale`](crate::ParamGroup::lr_scale)) follow it; groups with a rate of their own
    /// keep it ([`set_group_learning_rate`](Optimizer::set_group_learning_rate) sets that).
    ///
    /// # Errors
    ///
    /// [`InvalidHyperparameter`](Error::InvalidHyperparameter) if `lr` is negative or not
    /// finite, or if every parameter group has a rate of its own (as after a scheduler was
    /// attached to the groups), so that the change would reach no step; the learning rate is
    /// then unchanged.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Error, Optimizer, ParamGroup, ParamGroups, Sgd};
    ///
    /// let mut opt = Sgd::<f32>::new(0.1)?;
    /// opt.set_learning_rate(0.01)?;
    /// assert_eq!(opt.learning_rate(), 0.01);
    /// assert!(matches!(
    ///     opt.set_learning_rate(f64::NAN),
    ///     Err(Error::InvalidHyperparameter { name: "lr", .. })
    /// ));
    /// assert_eq!(opt.learning_rate(), 0.01); // unchanged
    ///
    /// // One group with a rate of its own: the optimizer's would reach no step.
    /// let own = ParamGroups::new(vec![ParamGroup::default().lr(0.5)], vec![0])?;
    /// opt.set_param_groups(Some(own))?;
    /// assert!(opt.set_learning_rate(0.2).is_err());
    /// opt.set_group_learning_rate(0, 0.2)?;
    /// assert_eq!(opt.group_learning_rate(0), Some(0.2));
    /// # Ok::<(), Error>(())
    /// ```
    fn set_learning_rate(&mut self, lr: f64) -> Result<(), Error>;

    /// The momentum-like hyperparameter that cyclic schedules vary: `momentum` for SGD (and
    /// [`Momentum`](crate::Momentum), [`Nesterov`](crate::Nesterov)) and RMSProp, `β₁` for Adam, AdamW, Adamax, NAdam, RAdam and
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

    /// The number of parameter groups: 1 without [`ParamGroups`] (all tensors share the
    /// optimizer's hyperparameters).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Optimizer, ParamGroup, ParamGroups, Sgd};
    ///
    /// let mut opt = Sgd::<f32>::new(0.1)?;
    /// assert_eq!(opt.group_count(), 1);
    /// let two = vec![ParamGroup::default(), ParamGroup::default().lr(0.01)];
    /// opt.set_param_groups(Some(ParamGroups::new(two, vec![0, 1])?))?;
    /// assert_eq!(opt.group_count(), 2);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn group_count(&self) -> usize {
        self.param_groups()
            .map_or(1, |groups| groups.groups().len())
    }

    /// The learning rate group `group` uses, absolute: PyTorch's `param_groups[group]["lr"]`.
    /// `None` for a group that does not exist.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Optimizer, ParamGroup, ParamGroups, Sgd};
    ///
    /// let mut opt = Sgd::<f32>::new(0.1)?;
    /// assert_eq!(opt.group_learning_rate(0), Some(0.1));
    /// let groups = vec![ParamGroup::default().lr_scale(0.5), ParamGroup::default().lr(1e-3)];
    /// opt.set_param_groups(Some(ParamGroups::new(groups, vec![0, 1])?))?;
    /// assert_eq!(opt.group_learning_rate(0), Some(0.05));
    /// assert_eq!(opt.group_learning_rate(1), Some(1e-3));
    /// assert_eq!(opt.group_learning_rate(2), None);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn group_learning_rate(&self, group: usize) -> Option<f64> {
        (group == 0 && self.param_groups().is_none()).then(|| self.learning_rate())
    }

    /// Sets group `group`'s learning rate, absolute (what a scheduler does for each group):
    /// PyTorch's `param_groups[group]["lr"] = lr`. Without groups, group 0 is the optimizer.
    ///
    /// # Errors
    ///
    /// [`UnknownGroup`](Error::UnknownGroup), or
    /// [`InvalidHyperparameter`](Error::InvalidHyperparameter); nothing changes then.
    fn set_group_learning_rate(&mut self, group: usize, lr: f64) -> Result<(), Error> {
        if group == 0 && self.param_groups().is_none() {
            return self.set_learning_rate(lr);
        }
        Err(Error::UnknownGroup {
            tensor: None,
            group,
            groups: self.group_count(),
        })
    }

    /// The momentum-like hyperparameter group `group` uses (see
    /// [`momentum`](Optimizer::momentum)); `None` for a group that does not exist or an
    /// optimizer without one.
    fn group_momentum(&self, group: usize) -> Option<f64> {
        if group == 0 && self.param_groups().is_none() {
            self.momentum()
        } else {
            None
        }
    }

    /// Sets group `group`'s momentum-like hyperparameter (what a momentum-cycling scheduler
    /// does for each group).
    ///
    /// # Errors
    ///
    /// [`UnknownGroup`](Error::UnknownGroup), [`Unsupported`](Error::Unsupported) or
    /// [`InvalidHyperparameter`](Error::InvalidHyperparameter); nothing changes then.
    fn set_group_momentum(&mut self, group: usize, momentum: f64) -> Result<(), Error> {
        if group == 0 && self.param_groups().is_none() {
            return self.set_momentum(momentum);
        }
        Err(Error::UnknownGroup {
            tensor: None,
            group,
            groups: self.group_count(),
        })
    }

    /// Adds a group for `tensors` new tensors, which come after the current ones in the lists
    /// `step` is given from now on (PyTorch's `add_param_group`, to unfreeze a backbone after
    /// some epochs, say). Their state is created on their first step. Returns the new group's
    /// index. Without groups, the current tensors become group 0 with the optimizer's
    /// hyperparameters; the optimizer must then have taken a step (so it knows how many tensors
    /// there are) or have groups.
    ///
    /// # Errors
    ///
    /// [`Unsupported`](Error::Unsupported) before the first step without groups, or for an
    /// optimizer that cannot add tensors; the errors of
    /// [`set_param_groups`](Optimizer::set_param_groups) for the group. Nothing changes then.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Adam, Optimizer, ParamGroup};
    ///
    /// let (mut head, mut backbone) = (array![1.0_f32, 2.0], array![3.0_f32]);
    /// let mut opt = Adam::new(1e-3)?;
    /// opt.step(&mut head, &array![0.1, 0.1])?; // the backbone is frozen
    /// let group = opt.add_param_group(ParamGroup::default().lr(1e-5), 1)?;
    /// assert_eq!((group, opt.group_count()), (1, 2));
    /// opt.step(&mut (&mut head, &mut backbone), &(&array![0.1, 0.1], &array![0.1]))?;
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn add_param_group(&mut self, group: ParamGroup, tensors: usize) -> Result<usize, Error> {
        let _ = (group, tensors);
        Err(Error::Unsupported {
            optimizer: self.name(),
            what: "adding parameter groups",
        })
    }

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
    /// let mut opt = Adam::new(0.1)?;
    /// opt.set_non_finite_policy(NonFinitePolicy::SkipStep);
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

    /// The seed of stochastic rounding of the parameters, if it is on (see
    /// [`set_stochastic_rounding`](Optimizer::set_stochastic_rounding)).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Optimizer, Sgd};
    ///
    /// assert_eq!(Sgd::<f32>::new(0.1)?.stochastic_rounding(), None); // to nearest
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn stochastic_rounding(&self) -> Option<u64> {
        None
    }

    /// Rounds the new values of `bf16` parameters stochastically (`Some(seed)`) instead of to
    /// nearest (`None`, the default), as torchao's `bf16_stochastic_round`: a value between two
    /// `bf16` neighbours becomes the one farther from zero with probability (distance from the
    /// nearer toward zero) / ulp, so that updates smaller than half an ulp still move the
    /// parameter on average. The state is still rounded to nearest.
    ///
    /// The random bits come from a counter-based generator keyed by the seed, the step, the
    /// tensor's position and the element's (in the parameter's memory order; in logical order
    /// for the optimizers that walk a tensor so: Muon, Adafactor's factored matrices and
    /// SparseAdam), so a run gives the same bits whatever the thread count, and a resumed run
    /// (the seed is saved with the state) the same as an uninterrupted one. Every optimizer of
    /// the crate has it, SparseAdam's [`step_sparse`](crate::SparseAdam::step_sparse) too.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] for parameters of another type than `bf16` (`f16` has no
    /// stochastic rounding here, as in torchao). Nothing changes on error.
    ///
    /// # Example
    ///
    /// ```
    /// # #[cfg(feature = "half")] {
    /// use half::bf16;
    /// use ndarray::Array1;
    /// use ndarray_optim::{Optimizer, Sgd};
    ///
    /// // 100 steps of 1e-4 on 1.0: each under half a bf16 ulp (2⁻⁸).
    /// let g = Array1::from_elem(1000, bf16::from_f32(1e-4));
    /// let mut nearest = Array1::from_elem(1000, bf16::ONE);
    /// let mut stochastic = nearest.clone();
    /// let mut sgd = Sgd::<bf16>::new(1.0)?;
    /// let mut sr = Sgd::<bf16>::new(1.0)?;
    /// sr.set_stochastic_rounding(Some(7))?;
    /// for _ in 0..100 {
    ///     sgd.step(&mut nearest, &g)?;
    ///     sr.step(&mut stochastic, &g)?;
    /// }
    /// assert!(nearest.iter().all(|&x| x == bf16::ONE)); // stuck
    /// let mean = stochastic.iter().map(|x| x.to_f64()).sum::<f64>() / 1000.0;
    /// assert!((mean - 0.99).abs() < 1e-3); // f32 gives 0.99
    /// # }
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn set_stochastic_rounding(&mut self, seed: Option<u64>) -> Result<(), Error> {
        match seed {
            None => Ok(()),
            Some(_) => Err(Error::Unsupported {
                optimizer: self.name(),
                what: "stochastic rounding",
            }),
        }
    }

    /// The optimizer's name, as PyTorch's class would print it (`"Adam"`, `"SGD"`, …;
    /// [`Momentum`](crate::Momentum) and [`Nesterov`](crate::Nesterov), which PyTorch spells
    /// `SGD(momentum=…)`, are `"Momentum"` and `"Nesterov"`): the
    /// [`OptimizerKind::name`](crate::OptimizerKind::name) of its kind, which a saved state
    /// records ([`OptimizerState::kind`]). A wrapper gives the name of the optimizer inside.
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
    /// use ndarray_optim::{Momentum, Optimizer, OptimizerKind};
    ///
    /// let mut w = array![1.0_f64, 2.0];
    /// let mut opt = Momentum::new(0.1, 0.9)?;
    /// opt.step(&mut w, &array![1.0, -1.0])?;
    /// let saved = opt.save_state();
    /// assert_eq!((saved.kind(), saved.step), (OptimizerKind::Momentum, 1));
    /// // PyTorch's buffer name; after one step the buffer is the gradient itself.
    /// assert_eq!(saved.tensors[0].buffers["momentum_buffer"], array![1.0, -1.0].into_dyn());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn save_state(&self) -> OptimizerState<A>;

    /// The bytes of per-element state the optimizer keeps: its buffers (`A` per element),
    /// the codes and scales of block-wise quantised ones
    /// ([`Quantization`](crate::Quantization)), and the `f32` copies of master weights;
    /// not per-tensor scalars, counters or working space. Zero before the first step.
    /// The same number as [`OptimizerState::state_bytes`] of [`save_state`](Self::save_state),
    /// which the provided method counts; the crate's optimizers count without copying.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::Array1;
    /// use ndarray_optim::{Adam, AdamConfig, Optimizer, Quantization};
    ///
    /// let n = 1 << 20;
    /// let (mut w, g) = (Array1::<f32>::zeros(n), Array1::<f32>::ones(n));
    /// let mut adam = Adam::<f32>::new(1e-3)?;
    /// adam.step(&mut w, &g)?;
    /// assert_eq!(adam.state_bytes() as f64 / n as f64, 8.0); // m and v in f32
    /// let mut adam8 = AdamConfig::default().quantized_state(Quantization::int8()).build::<f32>()?;
    /// adam8.step(&mut w, &g)?;
    /// assert_eq!(adam8.state_bytes() as f64 / n as f64, 2.03125); // + one f32 per 256
    /// let mut adam4 = AdamConfig::default().quantized_state(Quantization::int4()).build::<f32>()?;
    /// adam4.step(&mut w, &g)?;
    /// assert_eq!(adam4.state_bytes() as f64 / n as f64, 1.0625); // + one f32 per 128
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn state_bytes(&self) -> usize {
        self.save_state().state_bytes()
    }

    /// Replaces this optimizer's hyperparameters, counters and state with a saved state, so
    /// that the next step continues exactly where the saved optimizer was. The parameter groups
    /// are the saved ones too (none, if it was saved without): where PyTorch's
    /// `load_state_dict` refuses a state for other groups, this takes them on, so a plain
    /// optimizer resumes any checkpoint of its kind. Everything is checked first; on `Err`
    /// nothing changes. The tensors are checked against the saved shapes at the
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
    fn step_reduced(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
        reduce: &mut dyn Reduce,
    ) -> Result<(), Error> {
        (**self).step_reduced(params, grads, reduce)
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
    fn group_count(&self) -> usize {
        (**self).group_count()
    }
    fn group_learning_rate(&self, group: usize) -> Option<f64> {
        (**self).group_learning_rate(group)
    }
    fn set_group_learning_rate(&mut self, group: usize, lr: f64) -> Result<(), Error> {
        (**self).set_group_learning_rate(group, lr)
    }
    fn group_momentum(&self, group: usize) -> Option<f64> {
        (**self).group_momentum(group)
    }
    fn set_group_momentum(&mut self, group: usize, momentum: f64) -> Result<(), Error> {
        (**self).set_group_momentum(group, momentum)
    }
    fn add_param_group(&mut self, group: ParamGroup, tensors: usize) -> Result<usize, Error> {
        (**self).add_param_group(group, tensors)
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
    fn stochastic_rounding(&self) -> Option<u64> {
        (**self).stochastic_rounding()
    }
    fn set_stochastic_rounding(&mut self, seed: Option<u64>) -> Result<(), Error> {
        (**self).set_stochastic_rounding(seed)
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn save_state(&self) -> OptimizerState<A> {
        (**self).save_state()
    }
    fn state_bytes(&self) -> usize {
        (**self).state_bytes()
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
/// let mut unchecked = Sgd::new(0.1)?;
/// unchecked.set_non_finite_policy(NonFinitePolicy::Unchecked);
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
    /// gradients per step (a vectorised scan, on several threads with the `rayon` feature),
    /// except for LAMB with `max_grad_norm`, whose global gradient norm doubles as the check.
    #[default]
    Error,
    /// Check every gradient first; on a NaN or infinity change nothing, return `Ok`, and record
    /// the skip: [`Optimizer::last_step`] says [`StepOutcome::Skipped`] (which tensor, which
    /// element), [`Optimizer::skipped_steps`] counts it, and the step counter does not advance,
    /// so bias corrections carry on as if the batch had never come. The moments are never
    /// poisoned. (The loss-scaling skip of mixed-precision training, done inside the optimizer.)
    SkipStep,
    /// No check: non-finite values flow into the state and the parameters, as in PyTorch. The
    /// results are not always PyTorch's: the guards that keep finite inputs from making NaN
    /// (the crate documentation's list) apply to them too, so an infinite gradient can leave a
    /// parameter as it was where PyTorch writes NaN, and quantised state, whose block scales
    /// hold the largest finite value, can send it to `±∞`.
    Unchecked,
}

impl NonFinitePolicy {
    /// What a non-finite gradient element found by the check means under this policy: a step
    /// to skip (`Ok(Some(..))`) or the error.
    pub(crate) fn on_non_finite(
        self,
        index: usize,
        element: Vec<usize>,
        value: f64,
    ) -> Result<Option<StepOutcome>, Error> {
        match self {
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
        }
    }
}

/// What the last successful call to [`Optimizer::step`] did.
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::{Adam, NonFinitePolicy, Optimizer, StepOutcome};
///
/// let mut opt = Adam::new(0.1)?;
/// opt.set_non_finite_policy(NonFinitePolicy::SkipStep);
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
    /// ([`MultiSteps`](crate::MultiSteps)): call `micro_step` of `every_k`.
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
