//! Learning-rate schedules: every scheduler of PyTorch's `torch.optim.lr_scheduler`, with its
//! numbers.
//!
//! A schedule changes an optimizer's learning rate as training progresses, once per epoch or once
//! per batch. Each one comes in two forms:
//!
//! * a **pure function** `epoch → learning rate`, [`Schedule::lr`] (or [`Scheduler::lr`]): exact
//!   on resume, since only the epoch is needed;
//! * a **stateful scheduler**, [`Scheduler`], made by [`attach`](Schedule::attach)ing a schedule
//!   to an optimizer; each [`step`](Scheduler::step) writes the next learning rate into it, as
//!   `scheduler.step()` does in PyTorch.
//!
//! ```
//! use ndarray::array;
//! use ndarray_optim::schedule::{CosineAnnealingLr, Schedule};
//! use ndarray_optim::{Optimizer, Sgd};
//!
//! let mut w = array![1.0_f32, -1.0];
//! let mut opt = Sgd::new(0.1)?;
//! let mut sched = CosineAnnealingLr::new(50).eta_min(1e-4).attach(&mut opt)?;
//! for epoch in 0..50 {
//!     // The lr this epoch trains with: the pure form agrees with the steps to rounding.
//!     assert!((opt.learning_rate() - sched.lr(epoch)?).abs() < 1e-15);
//!     for _batch in 0..3 {
//!         let grad = w.mapv(|x| 2.0 * x);
//!         opt.step(&mut w, &grad)?;
//!     }
//!     sched.step(&mut opt)?; // after the epoch, as in PyTorch
//! }
//! assert!((opt.learning_rate() - 1e-4).abs() < 1e-15); // eta_min at epoch T_max
//! # Ok::<(), ndarray_optim::Error>(())
//! ```
//!
//! # Configuring a schedule
//!
//! A schedule is a plain configuration, as an optimizer's is: public fields with PyTorch's
//! argument names, the arguments PyTorch requires given to `new` (`StepLr::new(step_size)`,
//! `CosineAnnealingLr::new(t_max)`, `CyclicLr::new(base_lr, max_lr)`, …; `Default` when there
//! are none, as for [`ConstantLr`], [`LinearLr`] and [`PolynomialLr`]), PyTorch's defaults for
//! the rest, and one chained setter per field, named as the field:
//! `OneCycleLr::new(0.1, 1000).pct_start(0.25).three_phase(true)`. Neither `new` nor the
//! setters fail; [`Schedule::validate`] checks the values, and runs before anything changes.
//! [`ReduceLrOnPlateau`], which is driven by a metric and holds its own state, is made from a
//! [`ReduceLrOnPlateauConfig`] by its `build`.
//!
//! # Epoch 0
//!
//! `epoch` (PyTorch's `last_epoch`) counts the scheduler steps taken so far. **Epoch 0 is the
//! learning rate before the first `step`**: attaching a schedule to an optimizer records the
//! optimizer's learning rate as the *base* learning rate `B` (PyTorch's `initial_lr`) and writes
//! `f(0)` into the optimizer right away, as PyTorch's constructors do (so a linear warmup lowers
//! the learning rate before the first optimizer step). After `k` calls to
//! [`step`](Scheduler::step), the optimizer holds `f(k)` and [`last_epoch`](Scheduler::last_epoch)
//! is `k`. In the usual loop (optimizer steps, then the scheduler steps) the `n`-th epoch,
//! counting from 0, trains with `f(n)`. A per-batch schedule (one-cycle, cyclic, warmup) is the
//! same with "batch" for "epoch".
//!
//! The learning rate a schedule computes is always a finite number `≥ 0` (or an error), and
//! [`CyclicLr`]/[`OneCycleLr`] rewrite the momentum as well (see [Momentum](#momentum)).
//!
//! # The schedules
//!
//! `B` is the base learning rate (the optimizer's learning rate when attached), `k` the epoch.
//!
//! | Rust | PyTorch | `f(k)` | defaults of the other arguments |
//! |---|---|---|---|
//! | [`StepLr`]`::new(step_size)` | `StepLR` | `B·γ^⌊k/step_size⌋` | `γ = 0.1` |
//! | [`MultiStepLr`]`::new(milestones)` | `MultiStepLR` | `B·γ^(number of milestones ≤ k)` | `γ = 0.1` |
//! | [`ConstantLr`]`::default()` | `ConstantLR` | `B·factor` for `k < total_iters`, then `B` | `factor = 1/3`, `total_iters = 5` |
//! | [`LinearLr`]`::default()` | `LinearLR` | `B·(s + (e − s)·min(k, n)/n)` | `s = 1/3`, `e = 1`, `n = 5` |
//! | [`ExponentialLr`]`::new(gamma)` | `ExponentialLR` | `B·γ^k` | none |
//! | [`PolynomialLr`]`::default()` | `PolynomialLR` | `B·(1 − min(k, n)/n)^power` | `n = 5`, `power = 1` |
//! | [`CosineAnnealingLr`]`::new(t_max)` | `CosineAnnealingLR` | `η_min + (B − η_min)·(1 + cos(πk/T_max))/2`, periodic past `T_max` | `η_min = 0` |
//! | [`CosineAnnealingWarmRestarts`]`::new(t_0)` | `CosineAnnealingWarmRestarts` | the same within each cycle `T_i = T_0·T_mult^i` | `T_mult = 1`, `η_min = 0` |
//! | [`CyclicLr`]`::new(base_lr, max_lr)` | `CyclicLR` | triangle between `base_lr` and `max_lr`, scaled | `step_size_up = 2000`, triangular, momentum `0.8 ↔ 0.9` |
//! | [`OneCycleLr`]`::new(max_lr, total_steps)` | `OneCycleLR` | `max_lr/div` → `max_lr` → `max_lr/(div·final_div)`, cosine or linear | `pct_start = 0.3`, cos, `div = 25`, `final_div = 1e4`, momentum `0.85 ↔ 0.95` |
//! | [`ReduceLrOnPlateauConfig`]`::default().build()` | `ReduceLROnPlateau` | `max(lr·factor, min_lr)` after more than `patience` epochs without improvement | min, `factor = 0.1`, `patience = 10`, `threshold = 1e-4` rel, `cooldown = 0`, `min_lr = 0`, `eps = 1e-8` |
//! | [`LambdaLr`]`::new(lr_lambda)` | `LambdaLR` | `B·λ(k)` | none |
//! | [`MultiplicativeLr`]`::new(lr_lambda)` | `MultiplicativeLR` | `B·∏_{j=1..k} λ(j)` | none |
//! | [`SequentialLr`]`::new(schedules, milestones)` | `SequentialLR` | schedule `i` from milestone `i − 1` on, restarted at its epoch 0 | none |
//! | [`ChainedScheduler`]`::new(schedules)` | `ChainedScheduler` | every schedule's step applied in turn | none |
//! | [`SwaLr`]`::new(swa_lr)` | `swa_utils.SWALR` | `swa_lr·α + B·(1 − α)`, `α` from 0 to 1 over `anneal_epochs` (cos or linear), then `swa_lr`; its steps anneal from the learning rate the optimizer holds | `anneal_epochs = 10`, cos |
//! | [`Warmup`]`::cosine(W, T)`, `::linear(W, T)` | (optax `warmup_cosine_decay_schedule`, HF `get_{cosine,linear}_schedule_with_warmup`) | `B·(s + (1 − s)·k/W)`, then cosine or linear from `B` to `B·e` at `T` | `s = 0`, `e = 0` |
//!
//! # The recursive form PyTorch runs
//!
//! PyTorch's `scheduler.step()` does not evaluate the closed form: most schedulers multiply the
//! optimizer's *current* learning rate by a factor (`StepLR` by `γ` at each multiple of
//! `step_size`, `CosineAnnealingLR` by the ratio of two consecutive cosines, …). That is what
//! lets two schedulers act on one optimizer, and it is what [`Scheduler::step`] runs too
//! ([`Schedule::next_lr`]), reading the optimizer's learning rate: the stateful numbers are
//! bit-identical to PyTorch's in every recorded sequence (on Linux, where Rust and Python call
//! the same `cos` and `pow`), and a change made to the learning rate from outside carries on as
//! in PyTorch. The closed forms ([`Schedule::lr`]) agree with the
//! recursion to within `1e-14` relative. [`ChainedScheduler`] and [`MultiplicativeLr`] have no closed form in PyTorch: their
//! pure form replays the recursion from epoch 0, in `O(k)` time.
//!
//! # Momentum
//!
//! [`CyclicLr`] and [`OneCycleLr`] cycle the momentum inversely to the learning rate, as PyTorch
//! does, through [`Optimizer::set_momentum`]: the momentum of SGD, Momentum, Nesterov and
//! RMSProp, `β₁` of Adam, AdamW, NAdam, RAdam, Adamax and LAMB, and Lion's `b1` (the
//! interpolation in its update's sign, the closest analogue; its momentum's own decay `b2` stays
//! fixed). With `cycle_momentum` on (the default, as in PyTorch), attaching one to an optimizer
//! without momentum (Adagrad, Adadelta) is an [`Error::Unsupported`], as PyTorch raises a
//! `ValueError`; and, as in PyTorch, it switches momentum on for an [`Sgd`](crate::Sgd) built
//! without it. [`Momentum`](crate::Momentum) and [`Nesterov`](crate::Nesterov) keep their
//! momentum above 0: a schedule that would set it to 0 is refused at that step (use `Sgd`, whose
//! momentum may reach 0).
//!
//! # Saving and resuming
//!
//! [`Scheduler::state`] returns plain data ([`SchedulerState`]; [`PlateauState`] for
//! [`ReduceLrOnPlateau`]): the epoch, the base learning rate and the last learning rate (and
//! momentum). [`Scheduler::restore`] puts it back into a freshly attached scheduler *and* writes
//! the saved learning rate (and momentum) into the optimizer, so the next `step` continues
//! exactly where the saved scheduler was, whatever the optimizer held in between. The pure form
//! needs nothing but the epoch: `opt.set_learning_rate(schedule.lr(base_lr, epoch)?)`.
//!
//! # Errors
//!
//! Invalid arguments are rejected by [`Schedule::validate`] ([`Error::InvalidHyperparameter`],
//! [`Error::MilestonesOutOfOrder`], [`Error::MilestoneCountMismatch`], [`Error::NoSchedules`]),
//! which attaching and restoring run before they change anything and every pure form runs
//! before it computes. A step is checked before anything changes: a [`OneCycleLr`] stepped past
//! its total steps ([`Error::ScheduleExhausted`]), a learning rate or momentum that is not a
//! finite number `≥ 0` (a closure returning NaN, an overflowing growth:
//! [`Error::InvalidScheduledValue`]), or an optimizer refusing the new momentum. On `Err`, neither the scheduler nor the optimizer has
//! changed; the optimizer never holds a NaN or negative learning rate.
//!
//! # Differences from PyTorch
//!
//! * One learning rate per optimizer: the per-group learning rates of PyTorch are the
//!   optimizer's learning rate times each [`ParamGroup`](crate::ParamGroup)'s `lr_scale`, so a
//!   schedule scales every group alike (an absolute `eta_min` or `min_lr` is then scaled too).
//! * `OneCycleLR` with linear annealing extrapolates to a negative learning rate at its last
//!   allowed step (`k = total_steps`, after the last optimizer step of the usual loop): here it
//!   is 0.
//! * Some arguments PyTorch accepts are errors here, those with which it divides by
//!   zero, never restores the learning rate, or makes it negative: `ConstantLR` with
//!   `factor = 0`, `total_iters = 0` in `ConstantLR`, `LinearLR` and `PolynomialLR`,
//!   `T_max = 0`, `step_size = 0`, `step_size_up = 0`, `γ ≤ 0`, a negative `power`, `eta_min`
//!   or `factor`, a [`SequentialLr`] milestone at 0; and milestones out of order (PyTorch's
//!   documentation asks for increasing ones).
//! * Inside [`SequentialLr`] and [`ChainedScheduler`], a [`CyclicLr`] or [`OneCycleLr`] uses its
//!   own bounds; PyTorch's constructors of these two also overwrite the optimizer's
//!   `initial_lr`, which changes the base of the schedules built after them. A [`SequentialLr`]
//!   or [`ChainedScheduler`] inside a [`SequentialLr`] (which PyTorch cannot step past its
//!   milestone) restarts from its own epoch 0.
//! * No `step(epoch)`: PyTorch deprecates it. The pure form covers it, and
//!   [`CosineAnnealingWarmRestarts::lr_at`] takes PyTorch's fractional epochs.
//!
//! [`Optimizer::set_momentum`]: crate::Optimizer::set_momentum

use std::fmt::Debug;

use crate::error::Error;
use crate::float::Float;
use crate::optimizer::Optimizer;

mod compose;
mod cosine;
mod cyclic;
mod plateau;
mod step;
mod swa;
mod warmup;

pub use compose::{ChainedScheduler, SequentialLr};
pub use cosine::{CosineAnnealingLr, CosineAnnealingWarmRestarts};
pub use cyclic::{AnnealStrategy, CyclicLr, CyclicMode, OneCycleLr, ScaleFn, ScaleMode};
pub use plateau::{
    PlateauMode, PlateauState, ReduceLrOnPlateau, ReduceLrOnPlateauConfig, ThresholdMode,
};
pub use step::{
    ConstantLr, ExponentialLr, LambdaLr, LinearLr, LrLambda, MultiStepLr, MultiplicativeLr,
    PolynomialLr, StepLr,
};
pub use swa::SwaLr;
pub use warmup::{Warmup, WarmupDecay};

/// A learning-rate schedule: the rule alone, without an optimizer or a position.
///
/// Every epoch- or batch-driven schedule of this module implements it (the metric-driven
/// [`ReduceLrOnPlateau`] is separate). The trait is object safe, so [`SequentialLr`] and
/// [`ChainedScheduler`] hold `Box<dyn Schedule>`, and `Box<dyn Schedule>` is a `Schedule`
/// itself. `B` below is the base learning rate, `k` the epoch (see [Epoch 0](self#epoch-0)).
///
/// Implement it for a schedule of your own, or use [`LambdaLr`] with a closure.
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{Schedule, StepLr};
/// use ndarray_optim::{Optimizer, Sgd};
///
/// let schedule = StepLr::new(10).gamma(0.5);
/// // The pure form: epoch → learning rate, from a base learning rate.
/// assert_eq!(schedule.lr(0.1, 9)?, 0.1);
/// assert_eq!(schedule.lr(0.1, 10)?, 0.05);
///
/// // The stateful form: attach to an optimizer (writes f(0)), then step.
/// let mut opt = Sgd::<f32>::new(0.1)?;
/// let mut sched = schedule.attach(&mut opt)?;
/// for _ in 0..10 {
///     sched.step(&mut opt)?;
/// }
/// assert_eq!(opt.learning_rate(), 0.05);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
pub trait Schedule: Debug + Send + Sync {
    /// The name of the PyTorch class this schedule reproduces (`"StepLR"`, …; `"Warmup"` for
    /// [`Warmup`]), used in errors.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{CosineAnnealingLr, Schedule, Warmup};
    ///
    /// assert_eq!(CosineAnnealingLr::new(10).name(), "CosineAnnealingLR");
    /// assert_eq!(Warmup::cosine(10, 100).name(), "Warmup");
    /// ```
    fn name(&self) -> &'static str;

    /// Checks every argument of the schedule (the table in each schedule's docs; for
    /// [`SequentialLr`] and [`ChainedScheduler`], the schedules inside too). A schedule's setters
    /// never fail: this is where a value out of range is reported, before anything else
    /// happens. [`Scheduler::new`] ([`attach`](Schedule::attach)) and [`Scheduler::restore`] run
    /// it before they change anything, and each pure form ([`lr`](Schedule::lr),
    /// [`next_lr`](Schedule::next_lr), [`momentum`](Schedule::momentum), …) before it computes.
    ///
    /// A schedule of your own with nothing to check returns `Ok(())`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] naming the first argument out of range (PyTorch's name:
    /// `"step_size"`, `"T_max"`, …); [`Error::MilestonesOutOfOrder`],
    /// [`Error::MilestoneCountMismatch`] and [`Error::NoSchedules`] for milestones and
    /// compositions.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{CosineAnnealingLr, Schedule};
    /// use ndarray_optim::{Error, Optimizer, Sgd};
    ///
    /// let schedule = CosineAnnealingLr::new(10).eta_min(-1e-3); // the setter accepts it…
    /// assert!(matches!(
    ///     schedule.validate(),
    ///     Err(Error::InvalidHyperparameter { name: "eta_min", .. })
    /// ));
    /// let mut opt = Sgd::<f32>::new(0.1)?;
    /// assert!(schedule.attach(&mut opt).is_err()); // …attaching refuses it
    /// assert_eq!(opt.learning_rate(), 0.1); // and changes nothing
    /// assert!(schedule.lr(0.1, 3).is_err()); // so does the pure form
    /// # Ok::<(), Error>(())
    /// ```
    fn validate(&self) -> Result<(), Error>;

    /// The base learning rate `B` (PyTorch's `initial_lr`) when attached to an optimizer whose
    /// learning rate is `optimizer_lr`: that learning rate, except for the schedules that set
    /// their own bounds ([`CyclicLr`]: its `base_lr`; [`OneCycleLr`]: `max_lr / div_factor`).
    /// Called after [`validate`](Schedule::validate).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{CyclicLr, OneCycleLr, Schedule, StepLr};
    ///
    /// assert_eq!(StepLr::new(10).initial_lr(0.3), 0.3); // the optimizer's
    /// assert_eq!(CyclicLr::new(0.01, 0.1).initial_lr(0.3), 0.01); // its own base_lr
    /// assert_eq!(OneCycleLr::new(0.5, 100).initial_lr(0.3), 0.5 / 25.0); // max_lr / div_factor
    /// ```
    fn initial_lr(&self, optimizer_lr: f64) -> f64 {
        optimizer_lr
    }

    /// The pure form: the learning rate at `epoch` (after `epoch` steps), from the base
    /// learning rate, without outside changes. PyTorch's closed form where it has one; otherwise
    /// the recursion replayed from epoch 0.
    ///
    /// # Errors
    ///
    /// As [`validate`](Schedule::validate); [`Error::InvalidScheduledValue`] if the value is not
    /// a finite number `≥ 0`; [`Error::ScheduleExhausted`] past the end of a finite schedule.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{ExponentialLr, OneCycleLr, Schedule};
    /// use ndarray_optim::Error;
    ///
    /// let schedule = ExponentialLr::new(0.5);
    /// assert_eq!(schedule.lr(0.1, 0)?, 0.1);
    /// assert_eq!(schedule.lr(0.1, 3)?, 0.1 * 0.125);
    /// assert!(matches!(OneCycleLr::new(0.1, 10).lr(0.0, 11), Err(Error::ScheduleExhausted { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error>;

    /// The recursive form that PyTorch's `step()` runs (its `get_lr()`): the learning rate at
    /// `epoch` given `lr`, the learning rate the optimizer holds now (normally the value at
    /// `epoch − 1`). At `epoch = 0`, the attaching step: `lr` is the optimizer's learning rate
    /// when attached.
    ///
    /// # Errors
    ///
    /// As [`lr`](Schedule::lr).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{Schedule, StepLr};
    ///
    /// let schedule = StepLr::new(10);
    /// // Epoch 10 multiplies whatever the optimizer holds by γ…
    /// assert_eq!(schedule.next_lr(1.0, 1.0, 10)?, 0.1);
    /// assert_eq!(schedule.next_lr(1.0, 0.5, 10)?, 0.05); // …changed from outside, say
    /// assert_eq!(schedule.next_lr(1.0, 0.5, 11)?, 0.5); // and leaves it alone in between
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn next_lr(&self, base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error>;

    /// The momentum (or `β₁`) at `epoch`, for the schedules that cycle it; `None` for the others.
    ///
    /// # Errors
    ///
    /// As [`validate`](Schedule::validate); [`Error::ScheduleExhausted`] past the end of a
    /// finite schedule, whether or not it cycles momentum ([`Scheduler::restore`] checks a saved
    /// epoch with it).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{CyclicLr, Schedule, StepLr};
    ///
    /// // Momentum 0.9 at the bottom, 0.8 at the peak.
    /// let cyclic = CyclicLr::new(0.01, 0.1).step_size_up(4);
    /// assert_eq!(cyclic.momentum(0)?, Some(0.9));
    /// assert_eq!(cyclic.momentum(4)?, Some(0.8));
    /// assert_eq!(cyclic.cycle_momentum(false).momentum(4)?, None);
    /// assert_eq!(StepLr::new(10).momentum(4)?, None);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn momentum(&self, epoch: u64) -> Result<Option<f64>, Error> {
        let _ = epoch;
        self.validate().map(|()| None)
    }

    /// The learning rate when a [`SequentialLr`] makes this schedule current at one of its
    /// milestones (PyTorch's `_update_lr(0)`), given the learning rate `lr` the optimizer holds
    /// then: the closed form at epoch 0, except for [`MultiplicativeLr`], which multiplies `lr`
    /// by `λ(0)` as PyTorch does.
    ///
    /// # Errors
    ///
    /// As [`lr`](Schedule::lr).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{LinearLr, MultiplicativeLr, Schedule};
    ///
    /// // Most schedules restart from the base learning rate, whatever the optimizer holds…
    /// let warmup = LinearLr::default().start_factor(0.5).total_iters(10);
    /// assert_eq!(warmup.restart_lr(1.0, 0.2)?, 0.5);
    /// // …a MultiplicativeLr carries on from it.
    /// assert_eq!(MultiplicativeLr::new(|_| 0.5).restart_lr(1.0, 0.2)?, 0.1);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn restart_lr(&self, base_lr: f64, lr: f64) -> Result<f64, Error> {
        let _ = lr;
        self.lr(base_lr, 0)
    }

    /// The pure form of a schedule restarted by a [`SequentialLr`]: the learning rate `epoch`
    /// steps after [`restart_lr`](Schedule::restart_lr), where `lr_before` gives the learning
    /// rate just before the restart (called only by the schedules that need it). The closed
    /// form [`lr`](Schedule::lr) by default.
    ///
    /// # Errors
    ///
    /// As [`lr`](Schedule::lr), and whatever `lr_before` returns.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{ExponentialLr, MultiplicativeLr, Schedule};
    ///
    /// let lr_before = || Ok(0.2); // the learning rate just before the milestone
    /// // The closed form ignores it…
    /// assert_eq!(ExponentialLr::new(0.5).lr_after_restart(1.0, &lr_before, 2)?, 0.25);
    /// // …a MultiplicativeLr multiplies it by λ(0)·λ(1)·λ(2).
    /// let halving = MultiplicativeLr::new(|_| 0.5);
    /// assert_eq!(halving.lr_after_restart(1.0, &lr_before, 2)?, 0.2 * 0.125);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn lr_after_restart(
        &self,
        base_lr: f64,
        lr_before: &dyn Fn() -> Result<f64, Error>,
        epoch: u64,
    ) -> Result<f64, Error> {
        let _ = lr_before;
        self.lr(base_lr, epoch)
    }

    /// A boxed clone, so that `Box<dyn Schedule>` is `Clone`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{Schedule, StepLr};
    ///
    /// let schedule: Box<dyn Schedule> = Box::new(StepLr::new(10));
    /// let copy = schedule.clone(); // calls clone_box
    /// assert_eq!(copy.lr(1.0, 10)?, schedule.lr(1.0, 10)?);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn clone_box(&self) -> Box<dyn Schedule>;

    /// Attaches the schedule to an optimizer: records the base learning rate and writes `f(0)`
    /// (and the momentum, for the cyclic schedules) into the optimizer. The same as
    /// [`Scheduler::new`].
    ///
    /// # Errors
    ///
    /// As [`Scheduler::new`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{LinearLr, Schedule};
    /// use ndarray_optim::{Adam, Optimizer};
    ///
    /// let mut opt = Adam::<f32>::new(1e-3)?;
    /// let warmup = LinearLr::default().start_factor(0.1).total_iters(10);
    /// let sched = warmup.attach(&mut opt)?; // lowers the lr before the first optimizer step
    /// assert_eq!(opt.learning_rate(), 1e-3 * 0.1);
    /// assert_eq!((sched.base_lr(), sched.last_epoch()), (1e-3, 0));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    fn attach<A: Float>(self, optimizer: &mut dyn Optimizer<A>) -> Result<Scheduler<Self>, Error>
    where
        Self: Sized,
    {
        Scheduler::new(self, optimizer)
    }
}

impl Clone for Box<dyn Schedule> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// A boxed schedule is a schedule, so a schedule chosen at run time can be attached and
/// composed.
impl Schedule for Box<dyn Schedule> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn validate(&self) -> Result<(), Error> {
        (**self).validate()
    }
    fn initial_lr(&self, optimizer_lr: f64) -> f64 {
        (**self).initial_lr(optimizer_lr)
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        (**self).lr(base_lr, epoch)
    }
    fn next_lr(&self, base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        (**self).next_lr(base_lr, lr, epoch)
    }
    fn momentum(&self, epoch: u64) -> Result<Option<f64>, Error> {
        (**self).momentum(epoch)
    }
    fn restart_lr(&self, base_lr: f64, lr: f64) -> Result<f64, Error> {
        (**self).restart_lr(base_lr, lr)
    }
    fn lr_after_restart(
        &self,
        base_lr: f64,
        lr_before: &dyn Fn() -> Result<f64, Error>,
        epoch: u64,
    ) -> Result<f64, Error> {
        (**self).lr_after_restart(base_lr, lr_before, epoch)
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        (**self).clone_box()
    }
}

/// A [`Schedule`] attached to an optimizer: PyTorch's scheduler object, minus the reference to
/// the optimizer (which each call takes instead, as `&mut dyn Optimizer<A>`, so a concrete
/// optimizer and a `Box<dyn Optimizer<A>>` both work).
///
/// It holds the base learning rate `B`, the epoch `k` and the last learning rate (and
/// momentum) written; see [Epoch 0](self#epoch-0) for the counting. `S` defaults to
/// `Box<dyn Schedule>`, for schedules chosen at run time.
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{ExponentialLr, Schedule, Scheduler};
/// use ndarray_optim::{Optimizer, Sgd};
///
/// let mut opt: Box<dyn Optimizer<f32>> = Box::new(Sgd::new(1.0)?);
/// let schedule: Box<dyn Schedule> = Box::new(ExponentialLr::new(0.5)); // chosen at run time
/// let mut sched: Scheduler = Scheduler::new(schedule, &mut opt)?;
/// assert_eq!(sched.step(&mut opt)?, 0.5);
/// assert_eq!(sched.step(&mut opt)?, 0.25);
/// assert_eq!((sched.last_epoch(), opt.learning_rate()), (2, 0.25));
/// assert_eq!(sched.lr(10)?, 1.0 / 1024.0); // the pure form, from the recorded base
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Scheduler<S = Box<dyn Schedule>> {
    schedule: S,
    base_lr: f64,
    last_epoch: u64,
    last_lr: f64,
    last_momentum: Option<f64>,
}

/// The state of a [`Scheduler`]: plain data, to save with a checkpoint and give back to
/// [`Scheduler::restore`].
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{Schedule, StepLr};
/// use ndarray_optim::{Optimizer, Sgd};
///
/// let mut opt = Sgd::<f32>::new(0.1)?;
/// let mut sched = StepLr::new(2).gamma(0.5).attach(&mut opt)?;
/// sched.step(&mut opt)?;
/// sched.step(&mut opt)?;
/// let state = sched.state();
/// assert_eq!((state.last_epoch, state.base_lr, state.last_lr), (2, 0.1, 0.05));
/// assert_eq!(state.last_momentum, None);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SchedulerState {
    /// The schedule's [`name`](Schedule::name) (`"StepLR"`, …): a state is restored only into
    /// a scheduler of the same schedule.
    pub schedule: String,
    /// The number of steps taken since attaching (PyTorch's `last_epoch`).
    pub last_epoch: u64,
    /// The base learning rate `B` (PyTorch's `base_lrs[0]`).
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub base_lr: f64,
    /// The learning rate written by the last step (PyTorch's `get_last_lr()[0]`).
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub last_lr: f64,
    /// The momentum written by the last step, for the schedules that cycle it.
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub last_momentum: Option<f64>,
}

impl<S: Schedule> Scheduler<S> {
    /// Attaches `schedule` to `optimizer`, as PyTorch's scheduler constructors do: checks the
    /// schedule ([`Schedule::validate`]), records the base learning rate (the optimizer's, see
    /// [`Schedule::initial_lr`]) and writes `f(0)` into the optimizer, together with the
    /// momentum for the schedules that cycle it.
    ///
    /// # Errors
    ///
    /// As [`Schedule::validate`];
    /// [`Error::Unsupported`] if the schedule cycles momentum and the optimizer has none;
    /// [`Error::InvalidHyperparameter`] if the optimizer refuses the momentum (Adam's `β₁ ≥ 1`);
    /// [`Error::InvalidScheduledValue`] if `f(0)` is not a finite number `≥ 0`. The optimizer is
    /// then unchanged.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{ConstantLr, Scheduler};
    /// use ndarray_optim::{Optimizer, Sgd};
    ///
    /// let mut opt = Sgd::<f64>::new(0.3)?;
    /// let sched = Scheduler::new(ConstantLr::default().factor(0.5), &mut opt)?;
    /// assert_eq!((opt.learning_rate(), sched.last_lr()), (0.15, 0.15));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new<A: Float>(schedule: S, optimizer: &mut dyn Optimizer<A>) -> Result<Self, Error> {
        schedule.validate()?;
        let current = optimizer.learning_rate();
        let base_lr = schedule.initial_lr(current);
        let lr = schedule.next_lr(base_lr, current, 0)?;
        let momentum = checked_momentum(&schedule, 0)?;
        apply(optimizer, lr, momentum)?;
        Ok(Scheduler {
            schedule,
            base_lr,
            last_epoch: 0,
            last_lr: lr,
            last_momentum: momentum,
        })
    }

    /// Advances one epoch (or batch): computes the next learning rate from the one the
    /// optimizer holds (PyTorch's recursive `step()`), writes it, with the momentum for the
    /// schedules that cycle it, and returns it.
    ///
    /// # Errors
    ///
    /// [`Error::ScheduleExhausted`] past the end of a [`OneCycleLr`];
    /// [`Error::InvalidScheduledValue`] if the learning rate or momentum is not a finite number
    /// `≥ 0`; the optimizer's own error if it refuses the values. The scheduler and the optimizer
    /// are then unchanged.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{MultiStepLr, Schedule};
    /// use ndarray_optim::{Optimizer, Sgd};
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut sched = MultiStepLr::new(vec![2, 4]).attach(&mut opt)?;
    /// let lrs: Vec<f64> = (0..5).map(|_| sched.step(&mut opt)).collect::<Result<_, _>>()?;
    /// assert_eq!(lrs, [1.0, 0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1]);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn step<A: Float>(&mut self, optimizer: &mut dyn Optimizer<A>) -> Result<f64, Error> {
        let epoch = self
            .last_epoch
            .checked_add(1)
            .ok_or(Error::ScheduleExhausted {
                schedule: self.schedule.name(),
                step: self.last_epoch,
                total_steps: self.last_epoch,
            })?;
        let lr = self
            .schedule
            .next_lr(self.base_lr, optimizer.learning_rate(), epoch)?;
        let momentum = checked_momentum(&self.schedule, epoch)?;
        apply(optimizer, lr, momentum)?;
        self.last_epoch = epoch;
        self.last_lr = lr;
        self.last_momentum = momentum;
        Ok(lr)
    }

    /// The pure form: the learning rate at `epoch` from the recorded base learning rate
    /// ([`Schedule::lr`]). `opt.set_learning_rate(sched.lr(epoch)?)` sets any epoch directly.
    ///
    /// # Errors
    ///
    /// As [`Schedule::lr`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{PolynomialLr, Schedule};
    /// use ndarray_optim::{Optimizer, Sgd};
    ///
    /// let mut opt = Sgd::<f32>::new(0.1)?;
    /// let sched = PolynomialLr::default().total_iters(4).attach(&mut opt)?;
    /// opt.set_learning_rate(sched.lr(2)?)?; // resume at epoch 2: only the epoch is needed
    /// assert_eq!(opt.learning_rate(), 0.05);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn lr(&self, epoch: u64) -> Result<f64, Error> {
        self.schedule.lr(self.base_lr, epoch)
    }

    /// The momentum at `epoch` for the schedules that cycle it ([`Schedule::momentum`]).
    ///
    /// # Errors
    ///
    /// As [`Schedule::momentum`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{OneCycleLr, Schedule};
    /// use ndarray_optim::Sgd;
    ///
    /// let mut opt = Sgd::<f32>::new(0.1)?;
    /// let sched = OneCycleLr::new(1.0, 100).attach(&mut opt)?;
    /// assert_eq!(sched.momentum(0)?, Some(0.95)); // max_momentum at the start
    /// assert!((sched.momentum(29)?.unwrap() - 0.85).abs() < 1e-12); // base_momentum at the peak
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn momentum(&self, epoch: u64) -> Result<Option<f64>, Error> {
        self.schedule.momentum(epoch)
    }

    /// The learning rate written by the last step (or by attaching): PyTorch's `get_last_lr()`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{Schedule, StepLr};
    /// use ndarray_optim::Sgd;
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut sched = StepLr::new(1).gamma(0.5).attach(&mut opt)?;
    /// assert_eq!(sched.last_lr(), 1.0); // written by attaching
    /// sched.step(&mut opt)?;
    /// assert_eq!(sched.last_lr(), 0.5);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn last_lr(&self) -> f64 {
        self.last_lr
    }

    /// The momentum written by the last step, for the schedules that cycle it.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{CyclicLr, Schedule, StepLr};
    /// use ndarray_optim::{Adam, Optimizer};
    ///
    /// let mut opt = Adam::<f32>::new(1e-3)?;
    /// let mut cyclic = CyclicLr::new(1e-4, 1e-3).step_size_up(2).attach(&mut opt)?;
    /// cyclic.step(&mut opt)?;
    /// assert_eq!(cyclic.last_momentum(), opt.momentum()); // half-way: β₁ = 0.85
    /// assert_eq!(StepLr::new(10).attach(&mut opt)?.last_momentum(), None);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn last_momentum(&self) -> Option<f64> {
        self.last_momentum
    }

    /// The number of steps since attaching: PyTorch's `last_epoch`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{ExponentialLr, Schedule};
    /// use ndarray_optim::Sgd;
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut sched = ExponentialLr::new(0.9).attach(&mut opt)?;
    /// assert_eq!(sched.last_epoch(), 0);
    /// for _ in 0..3 {
    ///     sched.step(&mut opt)?;
    /// }
    /// assert_eq!(sched.last_epoch(), 3);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn last_epoch(&self) -> u64 {
        self.last_epoch
    }

    /// The base learning rate `B` recorded when attaching (PyTorch's `base_lrs[0]`).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{LinearLr, Schedule};
    /// use ndarray_optim::{Optimizer, Sgd};
    ///
    /// let mut opt = Sgd::<f32>::new(0.1)?;
    /// let sched = LinearLr::default().start_factor(0.5).attach(&mut opt)?;
    /// assert_eq!(opt.learning_rate(), 0.05); // f(0) = B·0.5 …
    /// assert_eq!(sched.base_lr(), 0.1); // … of the learning rate the optimizer had
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn base_lr(&self) -> f64 {
        self.base_lr
    }

    /// The schedule.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{OneCycleLr, Schedule};
    /// use ndarray_optim::Sgd;
    ///
    /// let mut opt = Sgd::<f32>::new(0.1)?;
    /// let sched = OneCycleLr::from_epochs(1.0, 10, 50).attach(&mut opt)?;
    /// assert_eq!(sched.schedule().total()?, 500);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn schedule(&self) -> &S {
        &self.schedule
    }

    /// The state to save: epoch, base learning rate, last learning rate and momentum.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{ExponentialLr, Schedule, SchedulerState};
    /// use ndarray_optim::Sgd;
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut sched = ExponentialLr::new(0.5).attach(&mut opt)?;
    /// sched.step(&mut opt)?;
    /// let state: SchedulerState = sched.state(); // save it with the checkpoint (serde feature)
    /// assert_eq!((state.last_epoch, state.base_lr, state.last_lr), (1, 1.0, 0.5));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn state(&self) -> SchedulerState {
        SchedulerState {
            schedule: self.schedule.name().to_string(),
            last_epoch: self.last_epoch,
            base_lr: self.base_lr,
            last_lr: self.last_lr,
            last_momentum: self.last_momentum,
        }
    }

    /// Puts a saved state back, and writes its learning rate (and momentum) into the optimizer,
    /// so the next [`step`](Scheduler::step) continues exactly where the saved scheduler was.
    ///
    /// # Errors
    ///
    /// As [`Schedule::validate`];
    /// [`Error::InvalidHyperparameter`] if a learning rate or the momentum in the state is not a
    /// finite number `≥ 0`, or if the state has a momentum and the schedule cycles none (or the
    /// other way round); [`Error::ScheduleExhausted`] if the epoch is past the end of the
    /// schedule; the optimizer's error if it refuses the values. Nothing is changed then.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{CosineAnnealingLr, Schedule};
    /// use ndarray_optim::{Optimizer, Sgd};
    ///
    /// let schedule = CosineAnnealingLr::new(20);
    /// let mut opt = Sgd::<f32>::new(0.1)?;
    /// let mut sched = schedule.clone().attach(&mut opt)?;
    /// for _ in 0..7 {
    ///     sched.step(&mut opt)?;
    /// }
    /// let saved = sched.state();
    ///
    /// // Later, in another process: a new optimizer and a new scheduler.
    /// let mut opt2 = Sgd::<f32>::new(0.1)?;
    /// let mut resumed = schedule.attach(&mut opt2)?;
    /// resumed.restore(saved, &mut opt2)?;
    /// assert_eq!(resumed.step(&mut opt2)?, sched.step(&mut opt)?);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn restore<A: Float>(
        &mut self,
        state: SchedulerState,
        optimizer: &mut dyn Optimizer<A>,
    ) -> Result<(), Error> {
        self.schedule.validate()?;
        if state.schedule != self.schedule.name() {
            return Err(Error::WrongSchedule {
                expected: self.schedule.name(),
                found: state.schedule,
            });
        }
        check_state_value("base_lr", state.base_lr)?;
        check_state_value("last_lr", state.last_lr)?;
        // Fails for an epoch past the end of the schedule (a OneCycleLr has one), in O(1) where
        // the pure learning rate of some schedules takes O(epoch).
        let expected = self.schedule.momentum(state.last_epoch)?;
        match (expected, state.last_momentum) {
            (Some(_), Some(m)) => check_state_value("last_momentum", m)?,
            (None, None) => {}
            (_, m) => {
                return Err(Error::InvalidHyperparameter {
                    name: "last_momentum",
                    value: m.unwrap_or(f64::NAN),
                    requirement: "must be given exactly when the schedule cycles momentum",
                });
            }
        }
        apply(optimizer, state.last_lr, state.last_momentum)?;
        self.base_lr = state.base_lr;
        self.last_epoch = state.last_epoch;
        self.last_lr = state.last_lr;
        self.last_momentum = state.last_momentum;
        Ok(())
    }
}

/// `value` if it is a learning rate an optimizer can hold (finite, `≥ 0`).
pub(crate) fn checked(
    schedule: &'static str,
    epoch: u64,
    what: &'static str,
    value: f64,
) -> Result<f64, Error> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(Error::InvalidScheduledValue {
            schedule,
            epoch,
            what,
            value,
        })
    }
}

/// The schedule's momentum at `epoch`, checked like a learning rate.
fn checked_momentum<S: Schedule + ?Sized>(schedule: &S, epoch: u64) -> Result<Option<f64>, Error> {
    schedule
        .momentum(epoch)?
        .map(|m| checked(schedule.name(), epoch, "momentum", m))
        .transpose()
}

fn check_state_value(name: &'static str, value: f64) -> Result<(), Error> {
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

/// Writes a learning rate and an optional momentum into the optimizer, both or neither: the
/// momentum first (the optimizer may refuse it), then the learning rate, undoing the momentum
/// if the learning rate is refused.
fn apply<A: Float>(
    optimizer: &mut dyn Optimizer<A>,
    lr: f64,
    momentum: Option<f64>,
) -> Result<(), Error> {
    let Some(momentum) = momentum else {
        return optimizer.set_learning_rate(lr);
    };
    let previous = optimizer.momentum();
    optimizer.set_momentum(momentum)?;
    if let Err(e) = optimizer.set_learning_rate(lr) {
        if let Some(previous) = previous {
            // The old value was accepted before, so putting it back cannot fail.
            let _ = optimizer.set_momentum(previous);
        }
        return Err(e);
    }
    Ok(())
}

/// An integer argument that must be at least 1 (a period, a number of steps).
pub(crate) fn at_least_one(name: &'static str, value: u64) -> Result<(), Error> {
    if value >= 1 {
        Ok(())
    } else {
        Err(Error::InvalidHyperparameter {
            name,
            value: value as f64,
            requirement: "must be >= 1",
        })
    }
}

/// Milestones must not decrease.
pub(crate) fn check_milestones(schedule: &'static str, milestones: &[u64]) -> Result<(), Error> {
    for (index, pair) in milestones.windows(2).enumerate() {
        if pair[1] < pair[0] {
            return Err(Error::MilestonesOutOfOrder {
                schedule,
                index: index + 1,
                milestone: pair[1],
                previous: pair[0],
            });
        }
    }
    Ok(())
}
