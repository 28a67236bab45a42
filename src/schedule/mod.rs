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
//!   `scheduler.step()` does in PyTorch: into each parameter group, from the group's own base
//!   learning rate (see [Parameter groups](#parameter-groups)).
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
//! The arguments PyTorch takes as "a float or a list, one per parameter group" are a
//! [`PerGroup`], which a number or a list converts into: `OneCycleLr::new([0.1, 0.01], 1000)`,
//! `.min_lr(1e-6)`.
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
//! `B` is the base learning rate (the learning rate of the parameter group when attached; each
//! group has its own), `k` the epoch.
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
//! ([`Schedule::next_lr`]), reading each group's learning rate: the stateful numbers are
//! bit-identical to PyTorch's in every recorded sequence, every group of the recorded
//! multi-group runs included (on Linux, where Rust and Python call the same `cos` and `pow`),
//! and a change made to the learning rate from outside carries on as in PyTorch. The closed
//! forms ([`Schedule::lr`]) agree with the recursion to within `1e-13` relative (`2e-14` in the
//! recorded sequences). [`ChainedScheduler`] and [`MultiplicativeLr`] have no closed form in
//! PyTorch: their pure form replays the recursion from epoch 0, in `O(k)` time.
//!
//! # Parameter groups
//!
//! On an optimizer with [`ParamGroups`](crate::ParamGroups), a scheduler works as PyTorch's
//! does on `param_groups`: **each group is scheduled from its own base learning rate**. When
//! attaching, `B_g` is group `g`'s learning rate ([`Optimizer::group_learning_rate`], PyTorch's
//! `initial_lr`), and each step writes `f(B_g, k)` into group `g`
//! ([`Optimizer::set_group_learning_rate`]), with its momentum for the cycling schedules
//! ([`Optimizer::set_group_momentum`]). Without groups there is one group, the optimizer. From
//! then on every group has a learning rate of its own, as every PyTorch group has: a group that
//! was a multiple ([`lr_scale`](crate::ParamGroup::lr_scale)) of the optimizer's learning rate
//! no longer follows [`Optimizer::set_learning_rate`], which then refuses a change that no
//! group would see (set a group's rate with [`Optimizer::set_group_learning_rate`]).
//!
//! * **Absolute values** stay absolute: `eta_min` of [`CosineAnnealingLr`] and
//!   [`CosineAnnealingWarmRestarts`] is the same floor for every group, as in PyTorch.
//! * **Per-group arguments**: what PyTorch accepts as "a float or a list", a [`PerGroup`]
//!   here: `max_lr`, `base_momentum` and `max_momentum` of [`OneCycleLr`]; `base_lr`, `max_lr`,
//!   `base_momentum` and `max_momentum` of [`CyclicLr`]; `min_lr` of [`ReduceLrOnPlateau`]. A
//!   list must have one value per group: another length is an [`Error::GroupCountMismatch`]
//!   when attaching (for [`ReduceLrOnPlateau`], at its step), and nothing changes.
//!   [`Schedule::for_group`] gives the schedule a group follows.
//! * **Reading them**: [`Scheduler::last_lrs`] (PyTorch's `get_last_lr()`),
//!   [`last_momentums`](Scheduler::last_momentums), [`base_lrs`](Scheduler::base_lrs), the pure
//!   forms [`group_lr`](Scheduler::group_lr) and [`group_momentum`](Scheduler::group_momentum);
//!   [`last_lr`](Scheduler::last_lr), [`lr`](Scheduler::lr), … give group 0's.
//! * **All or nothing**: every group's values are computed and checked before any is written;
//!   if the optimizer refuses one for a later group, the earlier groups are put back. A step
//!   allocates nothing (its working space is made when attaching).
//! * **Adding a group** ([`Optimizer::add_param_group`]): the scheduler's next step refuses an
//!   optimizer whose number of groups changed ([`Error::GroupCountMismatch`]) until
//!   [`Scheduler::add_groups`] takes the new groups on, each from its learning rate then.
//!   [`ReduceLrOnPlateau`] takes them on by itself when its `min_lr` is one value.
//!
//! ```
//! use ndarray_optim::schedule::{CosineAnnealingLr, Schedule};
//! use ndarray_optim::{AdamWConfig, Optimizer, ParamGroup, ParamGroups};
//!
//! // PyTorch: AdamW([{'params': backbone, 'lr': 1e-5}, {'params': head}], lr=1e-3);
//! //          CosineAnnealingLR(opt, T_max=10, eta_min=1e-6)
//! let mut opt = AdamWConfig::default().lr(1e-3).build::<f32>()?;
//! let groups = vec![ParamGroup::default().lr(1e-5), ParamGroup::default()];
//! opt.set_param_groups(Some(ParamGroups::new(groups, vec![0, 0, 1])?))?;
//! let mut sched = CosineAnnealingLr::new(10).eta_min(1e-6).attach(&mut opt)?;
//! assert_eq!(sched.base_lrs(), [1e-5, 1e-3]);
//! for _epoch in 0..10 {
//!     // … train an epoch, then:
//!     sched.step(&mut opt)?;
//! }
//! // Both groups end at eta_min, which is absolute.
//! assert!(sched.last_lrs().iter().all(|lr| (lr - 1e-6).abs() < 1e-18));
//! assert_eq!(opt.group_learning_rate(0), Some(sched.last_lrs()[0]));
//! # Ok::<(), ndarray_optim::Error>(())
//! ```
//!
//! # When the optimizer did not step
//!
//! A per-update schedule (one-cycle, cyclic, a warmup) steps once per optimizer update. Behind
//! [`MultiSteps`](crate::MultiSteps), which updates once per `k` micro-batches, or under
//! [`NonFinitePolicy::SkipStep`](crate::NonFinitePolicy::SkipStep), whose skipped steps change
//! nothing, not every call to `Optimizer::step` is an update: call
//! [`Scheduler::step_if_stepped`] after each of them, which steps only when the optimizer applied
//! an update since the scheduler last stepped ([`Optimizer::last_step`] is
//! [`StepOutcome::Applied`] and [`Optimizer::step_count`] moved). PyTorch's loops do the same by
//! hand, on the accumulation counter or on `GradScaler`'s scale.
//!
//! # Momentum
//!
//! [`CyclicLr`] and [`OneCycleLr`] cycle the momentum inversely to the learning rate, as PyTorch
//! does, in each group through [`Optimizer::set_group_momentum`] (without groups,
//! [`Optimizer::set_momentum`]): the momentum of SGD, Momentum, Nesterov and
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
//! [`ReduceLrOnPlateau`]): the epoch and, for each parameter group, the base learning rate and
//! the last learning rate (and momentum). [`Scheduler::restore`] puts it back into a freshly
//! attached scheduler *and* writes the saved learning rates (and momenta) into the optimizer's
//! groups, so the next `step` continues exactly where the saved scheduler was, whatever the
//! optimizer held in between; a state for another number of groups, or of another schedule, is
//! refused. The pure form needs nothing but the epoch:
//! `opt.set_group_learning_rate(g, sched.group_lr(g, epoch)?)`.
//!
//! # Errors
//!
//! Invalid arguments are rejected by [`Schedule::validate`] ([`Error::InvalidHyperparameter`],
//! [`Error::MilestonesOutOfOrder`], [`Error::MilestoneCountMismatch`], [`Error::NoSchedules`]),
//! which attaching and restoring run before they change anything and every pure form runs
//! before it computes; a per-group list of another length than the optimizer's groups is an
//! [`Error::GroupCountMismatch`], a group that does not exist an [`Error::UnknownGroup`]. A step
//! is checked before anything changes: a [`OneCycleLr`] stepped past its total steps
//! ([`Error::ScheduleExhausted`]), a learning rate or momentum that is not a finite number `≥ 0`
//! (a closure returning NaN, an overflowing growth: [`Error::InvalidScheduledValue`]), an
//! optimizer whose groups changed since attaching, or an optimizer refusing the new momentum of
//! some group. On `Err`, neither the scheduler nor the optimizer has changed, in any group; the
//! optimizer never holds a NaN or negative learning rate.
//!
//! # Differences from PyTorch
//!
//! * A group added to the optimizer after attaching is scheduled once [`Scheduler::add_groups`]
//!   takes it on, from its learning rate then. PyTorch 2.15 steps such a group in the schedulers
//!   whose step reads only the groups' current learning rates (StepLR, ExponentialLR, LinearLR,
//!   CosineAnnealingLR within its period, …: the same numbers as here, in the fixtures) and
//!   raises in the others (LambdaLR, CyclicLR, OneCycleLR, …, whose `base_lrs` it does not
//!   extend); here they give the new group `B_g·f(k)`. A `ReduceLROnPlateau` list of `min_lr`
//!   of the wrong length is reported at its step (PyTorch: in its constructor; there is no
//!   optimizer when a [`ReduceLrOnPlateauConfig`] is built).
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
use crate::optimizer::{Optimizer, StepOutcome};

mod compose;
mod cosine;
mod cyclic;
mod per_group;
mod plateau;
mod step;
mod swa;
mod warmup;

pub use compose::{ChainedScheduler, SequentialLr};
pub use cosine::{CosineAnnealingLr, CosineAnnealingWarmRestarts};
pub use cyclic::{AnnealStrategy, CyclicLr, CyclicMode, OneCycleLr, ScaleFn, ScaleMode};
pub use per_group::PerGroup;
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

    /// The base learning rate `B` (PyTorch's `initial_lr`) when attached to a parameter group
    /// whose learning rate is `optimizer_lr` (the optimizer's, without groups): that learning
    /// rate, except for the schedules that set their own bounds ([`CyclicLr`]: its `base_lr`;
    /// [`OneCycleLr`]: `max_lr / div_factor`; group 0's for a per-group bound, the group's own
    /// in the schedule [`for_group`](Schedule::for_group) gives). Called after
    /// [`validate`](Schedule::validate).
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

    /// The schedule parameter group `group` (of `groups`) follows: this schedule with the
    /// group's own values where an argument is given per group ([`PerGroup`]: the bounds and
    /// momenta of [`CyclicLr`] and [`OneCycleLr`], also inside a composition), a copy of itself
    /// otherwise (the default). [`Scheduler::new`] calls it for every group of the optimizer
    /// when attaching, as PyTorch's constructors read a list argument per group; each group is
    /// then scheduled from its own base learning rate with the schedule returned.
    ///
    /// A schedule of your own whose arguments differ per group overrides it.
    ///
    /// # Errors
    ///
    /// As [`validate`](Schedule::validate); [`Error::GroupCountMismatch`] if a per-group
    /// argument has another number of values than `groups`; [`Error::UnknownGroup`] if
    /// `group ≥ groups`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{OneCycleLr, Schedule, StepLr};
    /// use ndarray_optim::Error;
    ///
    /// // OneCycleLR(opt, max_lr=[0.1, 0.01], total_steps=100): group 1 peaks at 0.01.
    /// let one_cycle = OneCycleLr::new([0.1, 0.01], 100);
    /// assert_eq!(one_cycle.for_group(1, 2)?.lr(0.0, 29)?, 0.01);
    /// assert_eq!(one_cycle.lr(0.0, 29)?, 0.1); // the pure form: group 0's
    /// assert!(matches!(
    ///     one_cycle.for_group(0, 3),
    ///     Err(Error::GroupCountMismatch { what: "max_lr", groups: 3, found: 2 })
    /// ));
    /// // A schedule without per-group arguments is the same for every group.
    /// assert_eq!(StepLr::new(3).for_group(2, 3)?.lr(1.0, 3)?, 0.1);
    /// # Ok::<(), Error>(())
    /// ```
    fn for_group(&self, group: usize, groups: usize) -> Result<Box<dyn Schedule>, Error> {
        self.validate()?;
        per_group::check_group(group, groups)?;
        Ok(self.clone_box())
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
    fn for_group(&self, group: usize, groups: usize) -> Result<Box<dyn Schedule>, Error> {
        (**self).for_group(group, groups)
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        (**self).clone_box()
    }
}

/// A [`Schedule`] attached to an optimizer: PyTorch's scheduler object, minus the reference to
/// the optimizer (which each call takes instead, as `&mut dyn Optimizer<A>`, so a concrete
/// optimizer and a `Box<dyn Optimizer<A>>` both work).
///
/// It schedules **each parameter group's own learning rate**, as PyTorch does: it holds each
/// group's base learning rate `B_g` (PyTorch's `base_lrs`), the epoch `k` and the learning rates
/// (and momenta) written last; see [Epoch 0](self#epoch-0) for the counting and
/// [Parameter groups](self#parameter-groups) for the groups. `S` defaults to
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
    /// The schedule each group follows ([`Schedule::for_group`]), made when attaching.
    groups: Vec<Box<dyn Schedule>>,
    base_lrs: Vec<f64>,
    last_epoch: u64,
    last_lrs: Vec<f64>,
    /// Each group's last momentum; meaningful when `cycles_momentum`.
    last_momentums: Vec<f64>,
    cycles_momentum: bool,
    /// The optimizer's step count when this scheduler last stepped (or was attached, restored):
    /// what [`Scheduler::step_if_stepped`] compares with.
    seen_step: u64,
    work: Work,
}

/// The state of a [`Scheduler`]: plain data, to save with a checkpoint and give back to
/// [`Scheduler::restore`]. One value per parameter group, in group order (PyTorch's
/// `base_lrs` and `_last_lr`).
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
/// assert_eq!(state.last_epoch, 2);
/// assert_eq!((state.base_lrs, state.last_lrs), (vec![0.1], vec![0.05]));
/// assert_eq!(state.last_momentums, None);
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
    /// Each group's base learning rate `B_g` (PyTorch's `base_lrs`).
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub base_lrs: Vec<f64>,
    /// Each group's learning rate written by the last step (PyTorch's `get_last_lr()`).
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub last_lrs: Vec<f64>,
    /// Each group's momentum written by the last step, for the schedules that cycle it.
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub last_momentums: Option<Vec<f64>>,
}

impl<S: Schedule> Scheduler<S> {
    /// Attaches `schedule` to `optimizer`, as PyTorch's scheduler constructors do: checks the
    /// schedule ([`Schedule::validate`]) and, for each parameter group `g`, makes the schedule
    /// the group follows ([`Schedule::for_group`]), records its base learning rate `B_g` (the
    /// group's learning rate, see [`Schedule::initial_lr`]) and writes `f(0)` into the group,
    /// with the momentum for the schedules that cycle it.
    ///
    /// # Errors
    ///
    /// As [`Schedule::validate`];
    /// [`Error::GroupCountMismatch`] if a per-group argument ([`PerGroup`]) has another number
    /// of values than the optimizer has groups;
    /// [`Error::Unsupported`] if the schedule cycles momentum and the optimizer has none;
    /// [`Error::InvalidHyperparameter`] if the optimizer refuses the momentum (Adam's `β₁ ≥ 1`);
    /// [`Error::InvalidScheduledValue`] if `f(0)` is not a finite number `≥ 0`. The optimizer is
    /// then unchanged, every group included.
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
        let count = optimizer.group_count();
        if count == 0 {
            // An optimizer without groups has one; `ParamGroups` can hold none.
            return Err(Error::UnknownGroup {
                tensor: None,
                group: 0,
                groups: 0,
            });
        }
        let groups = (0..count)
            .map(|g| schedule.for_group(g, count))
            .collect::<Result<Vec<_>, _>>()?;
        let mut base_lrs = Vec::with_capacity(count);
        let mut work = Work::with_capacity(count);
        for (g, group_schedule) in groups.iter().enumerate() {
            let current = group_lr(optimizer, g)?;
            let base_lr = group_schedule.initial_lr(current);
            let lr = group_schedule.next_lr(base_lr, current, 0)?;
            let momentum = checked_momentum(&**group_schedule, 0)?;
            base_lrs.push(base_lr);
            work.next.push(GroupValues {
                lr: Some(lr),
                momentum,
            });
        }
        let cycles_momentum = momentum_in_every_group(&work.next)?;
        work.write(optimizer)?;
        let last_lrs = work.next.iter().map(|v| v.lr.unwrap_or(0.0)).collect();
        let last_momentums = work
            .next
            .iter()
            .map(|v| v.momentum.unwrap_or(0.0))
            .collect();
        Ok(Scheduler {
            schedule,
            groups,
            base_lrs,
            last_epoch: 0,
            last_lrs,
            last_momentums,
            cycles_momentum,
            seen_step: optimizer.step_count(),
            work,
        })
    }

    /// Advances one epoch (or batch): for each parameter group, computes the next learning
    /// rate from the one the group holds (PyTorch's recursive `step()`) and writes it, with the
    /// momentum for the schedules that cycle it. Returns group 0's learning rate (all of them:
    /// [`last_lrs`](Scheduler::last_lrs)).
    ///
    /// Every group's values are computed and checked before any is written; if the optimizer
    /// refuses a value for a later group, the earlier ones are put back. Allocates nothing.
    ///
    /// # Errors
    ///
    /// [`Error::ScheduleExhausted`] past the end of a [`OneCycleLr`];
    /// [`Error::InvalidScheduledValue`] if a learning rate or momentum is not a finite number
    /// `≥ 0`; [`Error::GroupCountMismatch`] if the optimizer's number of groups changed since
    /// attaching (see [`add_groups`](Scheduler::add_groups)); the optimizer's own error if it
    /// refuses a value. The scheduler and the optimizer are then unchanged.
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
        self.check_group_count(&*optimizer)?;
        let next = &mut self.work.next;
        next.clear();
        for (g, group_schedule) in self.groups.iter().enumerate() {
            let current = group_lr(&*optimizer, g)?;
            let lr = group_schedule.next_lr(self.base_lrs[g], current, epoch)?;
            let momentum = checked_momentum(&**group_schedule, epoch)?;
            next.push(GroupValues {
                lr: Some(lr),
                momentum,
            });
        }
        let cycles_momentum = momentum_in_every_group(next)?;
        self.work.write(optimizer)?;
        self.last_epoch = epoch;
        self.cycles_momentum = cycles_momentum;
        for (g, values) in self.work.next.iter().enumerate() {
            self.last_lrs[g] = values.lr.unwrap_or(0.0);
            self.last_momentums[g] = values.momentum.unwrap_or(0.0);
        }
        self.seen_step = optimizer.step_count();
        Ok(self.last_lrs[0])
    }

    /// [`step`](Scheduler::step)s only if the optimizer really stepped since this scheduler
    /// last did (or was attached or restored): its last call to `step` applied an update
    /// ([`Optimizer::last_step`] is [`StepOutcome::Applied`]) and its
    /// [`step_count`](Optimizer::step_count) has moved. Returns `Ok(None)` without stepping
    /// otherwise, and group 0's new learning rate when it steps.
    ///
    /// This is the loop of a per-update schedule around an optimizer that does not update on
    /// every call: [`MultiSteps`](crate::MultiSteps), which updates once per `k` micro-batches,
    /// and [`NonFinitePolicy::SkipStep`](crate::NonFinitePolicy::SkipStep), whose skipped steps
    /// change nothing (PyTorch's loops gate `scheduler.step()` by hand on both: on the
    /// accumulation counter, on `GradScaler`'s scale). Calling it twice after one update steps
    /// once.
    ///
    /// # Errors
    ///
    /// As [`step`](Scheduler::step).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::schedule::{LinearLr, Schedule};
    /// use ndarray_optim::{MultiSteps, Optimizer, Sgd};
    ///
    /// let mut w = array![1.0_f32];
    /// let mut opt = MultiSteps::new(Sgd::new(0.1)?, 4)?; // one update per 4 micro-batches
    /// let warmup = LinearLr::default().start_factor(0.5).total_iters(2);
    /// let mut sched = warmup.attach(&mut opt)?;
    /// for _micro_batch in 0..8 {
    ///     opt.step(&mut w, &array![1.0])?;
    ///     sched.step_if_stepped(&mut opt)?; // steps after micro-batches 4 and 8 only
    /// }
    /// assert_eq!((opt.step_count(), sched.last_epoch()), (2, 2));
    /// assert!(sched.step_if_stepped(&mut opt)?.is_none()); // no new update: no step
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn step_if_stepped<A: Float>(
        &mut self,
        optimizer: &mut dyn Optimizer<A>,
    ) -> Result<Option<f64>, Error> {
        let stepped = *optimizer.last_step() == StepOutcome::Applied
            && optimizer.step_count() != self.seen_step;
        if stepped {
            self.step(optimizer).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Takes on the parameter groups added to the optimizer since attaching
    /// ([`Optimizer::add_param_group`], to unfreeze a backbone after some epochs, say), so that
    /// the next [`step`](Scheduler::step) schedules them too; returns how many were added.
    ///
    /// A new group `g` starts from its learning rate now, which becomes its base learning rate
    /// `B_g` ([`Schedule::initial_lr`]: a [`CyclicLr`] or [`OneCycleLr`] uses its own bounds), as
    /// if the scheduler had been attached with it; nothing is written now. The next step then
    /// continues the recursion from it, as PyTorch's recursive `get_lr` does for a group added
    /// to the optimizer (a cosine anneals it from there down to `eta_min`), and a schedule of the
    /// closed form (a [`LambdaLr`], a [`Warmup`]) gives it `B_g·f(k)`.
    ///
    /// # Errors
    ///
    /// [`Error::GroupCountMismatch`] if the optimizer has fewer groups than the scheduler (they
    /// were replaced), or if the schedule has a per-group argument ([`PerGroup::Each`]), whose
    /// values are for the groups it was attached to; [`Error::Unsupported`] if the schedule
    /// cycles momentum and a new group has none. Nothing changes then.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::schedule::{CosineAnnealingLr, Schedule};
    /// use ndarray_optim::{Optimizer, ParamGroup, Sgd};
    ///
    /// let (mut head, mut backbone) = (array![1.0_f64], array![1.0_f64]);
    /// let mut opt = Sgd::new(0.1)?;
    /// let mut sched = CosineAnnealingLr::new(10).eta_min(1e-4).attach(&mut opt)?;
    /// for _epoch in 0..4 {
    ///     opt.step(&mut head, &array![1.0])?; // the backbone is frozen
    ///     sched.step(&mut opt)?;
    /// }
    /// opt.add_param_group(ParamGroup::default().lr(1e-3), 1)?; // unfreeze it
    /// assert_eq!(sched.add_groups(&opt)?, 1);
    /// for _epoch in 4..10 {
    ///     opt.step(&mut (&mut head, &mut backbone), &(&array![1.0], &array![1.0]))?;
    ///     sched.step(&mut opt)?;
    /// }
    /// // Both groups end at eta_min, the backbone annealed from 1e-3 over the last 6 epochs.
    /// assert!(sched.last_lrs().iter().all(|lr| (lr - 1e-4).abs() < 1e-15));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn add_groups<A: Float>(&mut self, optimizer: &dyn Optimizer<A>) -> Result<usize, Error> {
        let (count, known) = (optimizer.group_count(), self.groups.len());
        if count < known {
            return Err(Error::GroupCountMismatch {
                what: "base_lrs",
                groups: count,
                found: known,
            });
        }
        let mut added = Vec::with_capacity(count - known);
        for g in known..count {
            let group_schedule = self.schedule.for_group(g, count)?;
            let current = group_lr(optimizer, g)?;
            let momentum = match (self.cycles_momentum, optimizer.group_momentum(g)) {
                (false, _) => 0.0,
                (true, Some(momentum)) => momentum,
                (true, None) => {
                    return Err(Error::Unsupported {
                        optimizer: optimizer.name(),
                        what: "a momentum hyperparameter",
                    });
                }
            };
            let base_lr = group_schedule.initial_lr(current);
            added.push((group_schedule, base_lr, current, momentum));
        }
        self.work.reserve(count);
        for (group_schedule, base_lr, lr, momentum) in added {
            self.groups.push(group_schedule);
            self.base_lrs.push(base_lr);
            self.last_lrs.push(lr);
            self.last_momentums.push(momentum);
        }
        Ok(count - known)
    }

    /// The pure form: group 0's learning rate at `epoch`, from its recorded base learning rate
    /// ([`Schedule::lr`]). `opt.set_learning_rate(sched.lr(epoch)?)` sets any epoch directly;
    /// [`group_lr`](Scheduler::group_lr) gives another group's.
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
        self.group_lr(0, epoch)
    }

    /// The pure form for group `group`: its learning rate at `epoch`, from its base learning
    /// rate, as the schedule it follows computes it.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownGroup`] if there is no such group; as [`Schedule::lr`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{CosineAnnealingLr, Schedule};
    /// use ndarray_optim::{Error, Optimizer, ParamGroup, ParamGroups, Sgd};
    ///
    /// let mut opt = Sgd::<f64>::new(0.1)?;
    /// let groups = vec![ParamGroup::default(), ParamGroup::default().lr(0.01)];
    /// opt.set_param_groups(Some(ParamGroups::new(groups, vec![0, 1])?))?;
    /// let sched = CosineAnnealingLr::new(10).eta_min(1e-3).attach(&mut opt)?;
    /// assert!((sched.group_lr(1, 10)? - 1e-3).abs() < 1e-15); // eta_min is absolute
    /// assert!((sched.group_lr(1, 5)? - (1e-3 + 0.01) / 2.0).abs() < 1e-15);
    /// assert!(matches!(sched.group_lr(2, 5), Err(Error::UnknownGroup { group: 2, .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn group_lr(&self, group: usize, epoch: u64) -> Result<f64, Error> {
        self.group_schedule(group)?.lr(self.base_lrs[group], epoch)
    }

    /// Group 0's momentum at `epoch` for the schedules that cycle it ([`Schedule::momentum`]).
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
        self.group_momentum(0, epoch)
    }

    /// Group `group`'s momentum at `epoch`, for the schedules that cycle it.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownGroup`] if there is no such group; as [`Schedule::momentum`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{CyclicLr, Schedule};
    /// use ndarray_optim::{Momentum, Optimizer, ParamGroup, ParamGroups};
    ///
    /// let mut opt = Momentum::<f32>::new(0.1, 0.9)?;
    /// let groups = vec![ParamGroup::default(), ParamGroup::default()];
    /// opt.set_param_groups(Some(ParamGroups::new(groups, vec![0, 1])?))?;
    /// let cyclic = CyclicLr::new(0.01, 0.1).step_size_up(4).base_momentum([0.8, 0.5]);
    /// let sched = cyclic.attach(&mut opt)?;
    /// assert_eq!(sched.group_momentum(1, 4)?, Some(0.5)); // group 1's, at the peak
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn group_momentum(&self, group: usize, epoch: u64) -> Result<Option<f64>, Error> {
        self.group_schedule(group)?.momentum(epoch)
    }

    /// Group 0's learning rate written by the last step (or by attaching): PyTorch's
    /// `get_last_lr()[0]`.
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
        self.last_lrs[0]
    }

    /// Each group's learning rate written by the last step (or by attaching), in group order:
    /// PyTorch's `get_last_lr()`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{Schedule, StepLr};
    /// use ndarray_optim::{Optimizer, ParamGroup, ParamGroups, Sgd};
    ///
    /// let mut opt = Sgd::<f64>::new(1.0)?;
    /// let groups = vec![ParamGroup::default(), ParamGroup::default().lr(0.1)];
    /// opt.set_param_groups(Some(ParamGroups::new(groups, vec![0, 1])?))?;
    /// let mut sched = StepLr::new(1).gamma(0.5).attach(&mut opt)?;
    /// sched.step(&mut opt)?;
    /// assert_eq!(sched.last_lrs(), [0.5, 0.05]);
    /// assert_eq!(opt.group_learning_rate(1), Some(0.05));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn last_lrs(&self) -> &[f64] {
        &self.last_lrs
    }

    /// Group 0's momentum written by the last step, for the schedules that cycle it.
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
        self.cycles_momentum.then(|| self.last_momentums[0])
    }

    /// Each group's momentum written by the last step, for the schedules that cycle it.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{OneCycleLr, Schedule};
    /// use ndarray_optim::{Optimizer, ParamGroup, ParamGroups, Sgd};
    ///
    /// let mut opt = Sgd::<f64>::new(0.1)?;
    /// let groups = vec![ParamGroup::default(), ParamGroup::default()];
    /// opt.set_param_groups(Some(ParamGroups::new(groups, vec![0, 1])?))?;
    /// let sched = OneCycleLr::new(1.0, 100).max_momentum([0.95, 0.9]).attach(&mut opt)?;
    /// assert_eq!(sched.last_momentums(), Some(&[0.95, 0.9][..]));
    /// assert_eq!(opt.group_momentum(1), Some(0.9));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn last_momentums(&self) -> Option<&[f64]> {
        self.cycles_momentum.then_some(&self.last_momentums[..])
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

    /// Group 0's base learning rate `B` recorded when attaching (PyTorch's `base_lrs[0]`).
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
        self.base_lrs[0]
    }

    /// Each group's base learning rate `B_g` (PyTorch's `base_lrs`).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{CyclicLr, Schedule};
    /// use ndarray_optim::{Optimizer, ParamGroup, ParamGroups, Sgd};
    ///
    /// let mut opt = Sgd::<f32>::new(0.1)?;
    /// let groups = vec![ParamGroup::default(), ParamGroup::default()];
    /// opt.set_param_groups(Some(ParamGroups::new(groups, vec![0, 1])?))?;
    /// // CyclicLR(opt, base_lr=[1e-3, 1e-4], max_lr=0.1): its own bounds, one per group.
    /// let sched = CyclicLr::new([1e-3, 1e-4], 0.1).attach(&mut opt)?;
    /// assert_eq!(sched.base_lrs(), [1e-3, 1e-4]);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn base_lrs(&self) -> &[f64] {
        &self.base_lrs
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

    /// The schedule group `group` follows ([`Schedule::for_group`]).
    fn group_schedule(&self, group: usize) -> Result<&dyn Schedule, Error> {
        per_group::check_group(group, self.groups.len())?;
        Ok(&*self.groups[group])
    }

    /// The optimizer has the groups this scheduler knows.
    fn check_group_count<A: Float>(&self, optimizer: &dyn Optimizer<A>) -> Result<(), Error> {
        let groups = optimizer.group_count();
        if groups == self.groups.len() {
            Ok(())
        } else {
            Err(Error::GroupCountMismatch {
                what: "base_lrs",
                groups,
                found: self.groups.len(),
            })
        }
    }

    /// The state to save: the epoch, and each group's base learning rate, last learning rate
    /// and momentum.
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
    /// assert_eq!((state.last_epoch, state.base_lrs, state.last_lrs), (1, vec![1.0], vec![0.5]));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn state(&self) -> SchedulerState {
        SchedulerState {
            schedule: self.schedule.name().to_string(),
            last_epoch: self.last_epoch,
            base_lrs: self.base_lrs.clone(),
            last_lrs: self.last_lrs.clone(),
            last_momentums: self.cycles_momentum.then(|| self.last_momentums.clone()),
        }
    }

    /// Puts a saved state back, and writes each group's learning rate (and momentum) into the
    /// optimizer, so the next [`step`](Scheduler::step) continues exactly where the saved
    /// scheduler was.
    ///
    /// # Errors
    ///
    /// As [`Schedule::validate`];
    /// [`Error::WrongSchedule`] if the state was saved by another schedule;
    /// [`Error::GroupCountMismatch`] if the state is not for as many parameter groups as the
    /// optimizer has (the scheduler takes on the optimizer's groups if it was attached before
    /// they were set or loaded, as in PyTorch's order of resuming: build the optimizer and the
    /// scheduler, load the optimizer's state, then the scheduler's);
    /// [`Error::InvalidHyperparameter`] if a learning rate or a momentum in the state is not a
    /// finite number `≥ 0`, or if the state has momenta and the schedule cycles none (or the
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
        // The state goes with the optimizer's groups. A scheduler attached before they were
        // loaded (PyTorch's order: optimizer, scheduler, then both states) takes them on.
        let groups = optimizer.group_count();
        let taken_on = if groups == self.groups.len() {
            None
        } else {
            let schedules: Result<Vec<_>, _> = (0..groups)
                .map(|g| self.schedule.for_group(g, groups))
                .collect();
            Some(schedules?)
        };
        let lengths = [
            ("base_lrs", state.base_lrs.len()),
            ("last_lrs", state.last_lrs.len()),
            (
                "last_momentums",
                state.last_momentums.as_ref().map_or(groups, Vec::len),
            ),
        ];
        for (what, found) in lengths {
            if found != groups {
                return Err(Error::GroupCountMismatch {
                    what,
                    groups,
                    found,
                });
            }
        }
        for (&base_lr, &last_lr) in state.base_lrs.iter().zip(&state.last_lrs) {
            check_state_value("base_lrs", base_lr)?;
            check_state_value("last_lrs", last_lr)?;
        }
        // Fails for an epoch past the end of the schedule (a OneCycleLr has one), in O(1) per
        // group where the pure learning rate of some schedules takes O(epoch).
        let group_schedules = taken_on.as_ref().unwrap_or(&self.groups);
        for (g, group_schedule) in group_schedules.iter().enumerate() {
            let expected = group_schedule.momentum(state.last_epoch)?;
            let saved = state.last_momentums.as_ref().map(|m| m[g]);
            match (expected, saved) {
                (Some(_), Some(m)) => check_state_value("last_momentums", m)?,
                (None, None) => {}
                (_, m) => {
                    return Err(Error::InvalidHyperparameter {
                        name: "last_momentums",
                        value: m.unwrap_or(f64::NAN),
                        requirement: "must be given exactly when the schedule cycles momentum",
                    });
                }
            }
        }
        self.work.reserve(groups);
        self.work.next.clear();
        for (g, &lr) in state.last_lrs.iter().enumerate() {
            self.work.next.push(GroupValues {
                lr: Some(lr),
                momentum: state.last_momentums.as_ref().map(|m| m[g]),
            });
        }
        self.work.write(optimizer)?;
        if let Some(group_schedules) = taken_on {
            self.groups = group_schedules;
        }
        self.base_lrs = state.base_lrs;
        self.last_epoch = state.last_epoch;
        self.last_lrs = state.last_lrs;
        self.cycles_momentum = state.last_momentums.is_some();
        match state.last_momentums {
            Some(momentums) => self.last_momentums = momentums,
            None => self.last_momentums = vec![0.0; groups],
        }
        self.seen_step = optimizer.step_count();
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

/// Whether the schedules of the groups cycle momentum: all of them or none.
fn momentum_in_every_group(values: &[GroupValues]) -> Result<bool, Error> {
    let cycles = values.first().is_some_and(|v| v.momentum.is_some());
    if values.iter().all(|v| v.momentum.is_some() == cycles) {
        Ok(cycles)
    } else {
        Err(Error::InvalidHyperparameter {
            name: "momentum",
            value: f64::NAN,
            requirement: "a schedule must cycle the momentum of every parameter group or of none",
        })
    }
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

/// Group `group`'s learning rate, which exists (the callers checked the count).
fn group_lr<A: Float>(optimizer: &dyn Optimizer<A>, group: usize) -> Result<f64, Error> {
    optimizer
        .group_learning_rate(group)
        .ok_or(Error::UnknownGroup {
            tensor: None,
            group,
            groups: optimizer.group_count(),
        })
}

/// What a scheduler writes into one group: a learning rate (`None`: leave it) and a momentum
/// (`None`: leave it).
#[derive(Clone, Copy, Debug)]
pub(crate) struct GroupValues {
    pub(crate) lr: Option<f64>,
    pub(crate) momentum: Option<f64>,
}

/// What a group held before a write, to put it back.
#[derive(Clone, Copy, Debug)]
struct Undo {
    lr: Option<f64>,
    momentum: Option<f64>,
    /// The group's own `lr` and `momentum` fields, when the optimizer has [`ParamGroups`]
    /// (a group whose learning rate is a multiple of the optimizer's has no `lr` of its own,
    /// and must not get one from being put back).
    ///
    /// [`ParamGroups`]: crate::ParamGroups
    fields: Option<(Option<f64>, Option<f64>)>,
}

/// The working space of a scheduler's step, reused so that a step allocates nothing: the values
/// to write into each group, and what the groups held. Not part of a scheduler's value: a clone
/// starts empty (with the same capacity), and any two are equal.
#[derive(Debug, Default)]
pub(crate) struct Work {
    pub(crate) next: Vec<GroupValues>,
    undo: Vec<Undo>,
}

impl Clone for Work {
    fn clone(&self) -> Self {
        Work::with_capacity(self.next.capacity())
    }
}

impl PartialEq for Work {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Work {
    pub(crate) fn with_capacity(groups: usize) -> Self {
        Work {
            next: Vec::with_capacity(groups),
            undo: Vec::with_capacity(groups),
        }
    }

    /// Room for `groups` groups (allocates only when there are more than before).
    pub(crate) fn reserve(&mut self, groups: usize) {
        self.next.reserve(groups.saturating_sub(self.next.len()));
        self.undo.reserve(groups.saturating_sub(self.undo.len()));
    }

    /// Writes `next[g]` into group `g` of the optimizer, for every group, all or nothing: each
    /// group's momentum first (the optimizer may refuse it), then its learning rate; if the
    /// optimizer refuses a value, every group already written is put back as it was.
    pub(crate) fn write<A: Float>(
        &mut self,
        optimizer: &mut dyn Optimizer<A>,
    ) -> Result<(), Error> {
        self.undo.clear();
        for g in 0..self.next.len() {
            let fields = optimizer
                .param_groups()
                .and_then(|groups| groups.groups().get(g))
                .map(|group| (group.lr, group.momentum));
            self.undo.push(Undo {
                lr: optimizer.group_learning_rate(g),
                momentum: optimizer.group_momentum(g),
                fields,
            });
        }
        for (g, values) in self.next.iter().enumerate() {
            let written = values
                .momentum
                .map_or(Ok(()), |m| optimizer.set_group_momentum(g, m))
                .and_then(|()| {
                    values
                        .lr
                        .map_or(Ok(()), |lr| optimizer.set_group_learning_rate(g, lr))
                });
            if let Err(e) = written {
                put_back(optimizer, &self.undo[..=g]);
                return Err(e);
            }
        }
        Ok(())
    }
}

/// Puts groups `0..undo.len()` back as they were (an error path: may allocate).
fn put_back<A: Float>(optimizer: &mut dyn Optimizer<A>, undo: &[Undo]) {
    // With parameter groups, the groups' own fields go back exactly.
    if let Some(groups) = optimizer.param_groups() {
        let mut restored = groups.clone();
        for (group, undo) in restored.groups_mut().iter_mut().zip(undo) {
            if let Some((lr, momentum)) = undo.fields {
                group.lr = lr;
                group.momentum = momentum;
            }
        }
        if optimizer.set_param_groups(Some(restored)).is_ok() {
            return;
        }
    }
    // The values held before were accepted then, so putting them back cannot fail.
    for (g, undo) in undo.iter().enumerate() {
        if let Some(momentum) = undo.momentum {
            let _ = optimizer.set_group_momentum(g, momentum);
        }
        if let Some(lr) = undo.lr {
            let _ = optimizer.set_group_learning_rate(g, lr);
        }
    }
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
