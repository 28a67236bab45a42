//! The per-batch cyclical schedules: cyclic learning rates and the one-cycle policy. Both cycle
//! the momentum too.

use std::f64::consts::PI;
use std::fmt;
use std::sync::Arc;

use super::{PerGroup, Schedule, at_least_one, checked};
use crate::builder::config;
use crate::check;
use crate::error::Error;

/// The amplitude policy of a [`CyclicLr`] (PyTorch's `mode`).
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{CyclicLr, CyclicMode, Schedule};
///
/// let halving = CyclicLr::new(0.0, 1.0).step_size_up(2).mode(CyclicMode::Triangular2);
/// assert_eq!(halving.lr(0.0, 2)?, 1.0); // peak of cycle 1
/// assert_eq!(halving.lr(0.0, 6)?, 0.5); // peak of cycle 2: half the amplitude
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum CyclicMode {
    /// A triangle without amplitude scaling (PyTorch's default, `"triangular"`).
    #[default]
    Triangular,
    /// The amplitude halves every cycle: `scale = 1 / 2^(cycle − 1)` (`"triangular2"`).
    Triangular2,
    /// The amplitude decays by [`gamma`](CyclicLr::gamma) every iteration: `scale = γ^k`
    /// (`"exp_range"`).
    ExpRange,
}

/// What a custom scale function of a [`CyclicLr`] is given (PyTorch's `scale_mode`).
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{CyclicLr, ScaleMode, Schedule};
///
/// // The amplitude halves every 10 iterations.
/// let schedule = CyclicLr::new(0.0, 1.0)
///     .step_size_up(5)
///     .scale_fn(|k| 0.5f64.powf(k / 10.0))
///     .scale_mode(ScaleMode::Iterations);
/// assert_eq!(schedule.lr(0.0, 5)?, 0.5f64.powf(0.5));
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ScaleMode {
    /// The cycle number, from 1 (PyTorch's default, `"cycle"`).
    #[default]
    Cycle,
    /// The iteration `k` (`"iterations"`).
    Iterations,
}

/// A custom amplitude scale of a [`CyclicLr`] (PyTorch's `scale_fn`), called with the cycle
/// number or the iteration.
pub type ScaleFn = Arc<dyn Fn(f64) -> f64 + Send + Sync>;

/// Cyclical learning rates (Smith, 2017): the learning rate goes up and down between
/// `base_lr` and `max_lr`, once per batch; PyTorch's `torch.optim.lr_scheduler.CyclicLR`.
///
/// With `up = step_size_up`, `down = step_size_down` (default `up`) and `k` the batch:
///
/// ```text
/// cycle = ⌊1 + k/(up + down)⌋,   x = 1 + k/(up + down) − cycle
/// s     = x / r  if x ≤ r,  else (x − 1)/(r − 1)             r = up/(up + down)
/// lr       = base_lr      + (max_lr − base_lr) · s · scale
/// momentum = max_momentum − (max_momentum − base_momentum) · s · scale
/// scale: triangular 1,  triangular2 1/2^(cycle − 1),  exp_range γ^k,  or scale_fn
/// ```
///
/// | field | default | valid |
/// |---|---|---|
/// | `base_lr` | required ([`new`](CyclicLr::new)) | `≥ 0`; one value, or one per group |
/// | `max_lr` | required | `≥ 0`; one value, or one per group |
/// | `step_size_up` | `2000` | `≥ 1` |
/// | `step_size_down` | `None` (= `step_size_up`) | `≥ 0` (0 makes a sawtooth) |
/// | `mode` | [`CyclicMode::Triangular`] | |
/// | `gamma` | `1` | `> 0` (used by [`CyclicMode::ExpRange`]) |
/// | `scale_fn` | `None` | replaces `mode` when set, as in PyTorch |
/// | `scale_mode` | [`ScaleMode::Cycle`] | what `scale_fn` is given |
/// | `cycle_momentum` | `true` | |
/// | `base_momentum` | `0.8` | `≥ 0` (the optimizer may be stricter: Adam's `β₁ < 1`); one value, or one per group |
/// | `max_momentum` | `0.9` | `≥ 0`; one value, or one per group |
///
/// Absolute: the optimizer's own learning rate is ignored (`B = base_lr`). A `scale_fn` that
/// makes the learning rate or momentum negative or NaN is an error at that step.
///
/// **Per group.** `base_lr`, `max_lr`, `base_momentum` and `max_momentum` are [`PerGroup`]s,
/// as PyTorch's arguments are "a float or a list": one value for every parameter group
/// (`CyclicLr::new(1e-3, 1e-2)`) or one per group (`CyclicLr::new([1e-4, 1e-3], [1e-3, 1e-2])`),
/// which must then be as many as the optimizer's groups when attaching. Each group cycles
/// between its own bounds; the pure forms ([`lr`](Schedule::lr), [`momentum`](Schedule::momentum))
/// give group 0's.
///
/// **Momentum.** With `cycle_momentum` (the default) every step also sets the optimizer's
/// momentum (SGD, Momentum, Nesterov, RMSProp) or `β₁` (Adam and its variants, LAMB; Lion's
/// `b1`), inversely to the learning rate: `max_momentum` at the bottom of a cycle,
/// `base_momentum` at its peak. Attaching to an optimizer without one is an
/// [`Error::Unsupported`], as in PyTorch; turn it off with `cycle_momentum(false)`.
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{CyclicLr, CyclicMode, Schedule};
/// use ndarray_optim::{Adagrad, Error, Momentum, Optimizer};
///
/// let mut opt = Momentum::<f32>::new(0.5, 0.9)?;
/// let mut sched = CyclicLr::new(0.01, 0.1).step_size_up(4).attach(&mut opt)?;
/// assert_eq!((opt.learning_rate(), opt.momentum()), (0.01, Some(0.9)));
/// for _ in 0..4 {
///     sched.step(&mut opt)?; // once per batch
/// }
/// assert_eq!((opt.learning_rate(), opt.momentum()), (0.1, Some(0.8))); // the peak
///
/// // Up over 3 batches, down over 1; no momentum to cycle on Adagrad.
/// let sawtooth = CyclicLr::new(0.0, 1.0).step_size_up(3).step_size_down(Some(1));
/// assert_eq!((sawtooth.lr(0.0, 3)?, sawtooth.lr(0.0, 4)?), (1.0, 0.0));
/// let mut adagrad = Adagrad::<f32>::new(0.01)?;
/// assert!(matches!(sawtooth.clone().attach(&mut adagrad), Err(Error::Unsupported { .. })));
/// sawtooth.cycle_momentum(false).attach(&mut adagrad)?;
///
/// // Checked when attached: an exp_range γ must be > 0.
/// let bad = CyclicLr::new(0.0, 1.0).mode(CyclicMode::ExpRange).gamma(0.0);
/// assert!(matches!(
///     bad.attach(&mut opt),
///     Err(Error::InvalidHyperparameter { name: "gamma", .. })
/// ));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct CyclicLr {
    /// The learning rate at the bottom of each cycle (also the base learning rate `B`), for
    /// every group or per group.
    pub base_lr: PerGroup,
    /// The learning rate at the peak of each cycle, before scaling, for every group or per
    /// group.
    pub max_lr: PerGroup,
    /// The number of batches from the bottom to the peak.
    pub step_size_up: u64,
    /// The number of batches from the peak back to the bottom; `None` is `step_size_up`.
    pub step_size_down: Option<u64>,
    /// The amplitude policy, unless `scale_fn` is set.
    pub mode: CyclicMode,
    /// The decay per iteration `γ` of [`CyclicMode::ExpRange`].
    pub gamma: f64,
    /// A custom amplitude scale, replacing `mode`.
    pub scale_fn: Option<ScaleFn>,
    /// What `scale_fn` is called with: the cycle number or the iteration.
    pub scale_mode: ScaleMode,
    /// Whether each step also sets the optimizer's momentum (or `β₁`).
    pub cycle_momentum: bool,
    /// The momentum at the peak of each cycle, for every group or per group.
    pub base_momentum: PerGroup,
    /// The momentum at the bottom of each cycle, for every group or per group.
    pub max_momentum: PerGroup,
}

impl CyclicLr {
    /// Cycles between `base_lr` and `max_lr` with PyTorch's defaults: up over 2000 batches and
    /// down over as many, triangular, momentum cycled between 0.8 and 0.9. Each bound is one
    /// value for every group or one per group ([`PerGroup`]).
    pub fn new(base_lr: impl Into<PerGroup>, max_lr: impl Into<PerGroup>) -> Self {
        CyclicLr {
            base_lr: base_lr.into(),
            max_lr: max_lr.into(),
            step_size_up: 2000,
            step_size_down: None,
            mode: CyclicMode::Triangular,
            gamma: 1.0,
            scale_fn: None,
            scale_mode: ScaleMode::Cycle,
            cycle_momentum: true,
            base_momentum: PerGroup::All(0.8),
            max_momentum: PerGroup::All(0.9),
        }
    }

    /// Sets `base_lr`: the learning rate at the bottom of each cycle.
    #[must_use]
    pub fn base_lr(mut self, base_lr: impl Into<PerGroup>) -> Self {
        self.base_lr = base_lr.into();
        self
    }

    /// Sets `max_lr`: the learning rate at the peak of each cycle, before scaling.
    #[must_use]
    pub fn max_lr(mut self, max_lr: impl Into<PerGroup>) -> Self {
        self.max_lr = max_lr.into();
        self
    }

    /// Sets `step_size_up`: the number of batches from the bottom to the peak.
    #[must_use]
    pub fn step_size_up(mut self, step_size_up: u64) -> Self {
        self.step_size_up = step_size_up;
        self
    }

    /// Sets `step_size_down`: the number of batches from the peak back to the bottom (`None`:
    /// `step_size_up`).
    #[must_use]
    pub fn step_size_down(mut self, step_size_down: Option<u64>) -> Self {
        self.step_size_down = step_size_down;
        self
    }

    /// Sets `mode`: the amplitude policy, unless `scale_fn` is set.
    #[must_use]
    pub fn mode(mut self, mode: CyclicMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets `gamma`: the decay per iteration `γ` of [`CyclicMode::ExpRange`].
    #[must_use]
    pub fn gamma(mut self, gamma: f64) -> Self {
        self.gamma = gamma;
        self
    }

    /// Sets `scale_fn`: a custom amplitude scale, replacing `mode` (PyTorch's `scale_fn`),
    /// called with what `scale_mode` says.
    #[must_use]
    pub fn scale_fn(mut self, scale_fn: impl Fn(f64) -> f64 + Send + Sync + 'static) -> Self {
        self.scale_fn = Some(Arc::new(scale_fn));
        self
    }

    /// Sets `scale_mode`: what `scale_fn` is called with, the cycle number or the iteration.
    #[must_use]
    pub fn scale_mode(mut self, scale_mode: ScaleMode) -> Self {
        self.scale_mode = scale_mode;
        self
    }

    /// Sets `cycle_momentum`: whether each step also sets the optimizer's momentum.
    #[must_use]
    pub fn cycle_momentum(mut self, cycle_momentum: bool) -> Self {
        self.cycle_momentum = cycle_momentum;
        self
    }

    /// Sets `base_momentum`: the momentum at the peak of each cycle.
    #[must_use]
    pub fn base_momentum(mut self, base_momentum: impl Into<PerGroup>) -> Self {
        self.base_momentum = base_momentum.into();
        self
    }

    /// Sets `max_momentum`: the momentum at the bottom of each cycle.
    #[must_use]
    pub fn max_momentum(mut self, max_momentum: impl Into<PerGroup>) -> Self {
        self.max_momentum = max_momentum.into();
        self
    }

    /// The position in the cycle `s ∈ [0, 1]` and the amplitude scale at batch `k`.
    fn position(&self, epoch: u64) -> (f64, f64) {
        let up = self.step_size_up as f64;
        let down = self.step_size_down.map_or(up, |d| d as f64);
        let total = up + down;
        let ratio = up / total;
        let k = epoch as f64;
        let cycle = (1.0 + k / total).floor();
        let x = 1.0 + k / total - cycle;
        let s = if x <= ratio {
            x / ratio
        } else {
            (x - 1.0) / (ratio - 1.0)
        };
        let scale = match (&self.scale_fn, self.scale_mode) {
            (Some(f), ScaleMode::Cycle) => f(cycle),
            (Some(f), ScaleMode::Iterations) => f(k),
            (None, _) => match self.mode {
                CyclicMode::Triangular => 1.0,
                CyclicMode::Triangular2 => 1.0 / 2.0f64.powf(cycle - 1.0),
                CyclicMode::ExpRange => self.gamma.powf(k),
            },
        };
        (s, scale)
    }
}

impl fmt::Debug for CyclicLr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CyclicLr")
            .field("base_lr", &self.base_lr)
            .field("max_lr", &self.max_lr)
            .field("step_size_up", &self.step_size_up)
            .field("step_size_down", &self.step_size_down)
            .field("mode", &self.mode)
            .field("gamma", &self.gamma)
            .field("scale_fn", &self.scale_fn.as_ref().map(|_| "<closure>"))
            .field("scale_mode", &self.scale_mode)
            .field("cycle_momentum", &self.cycle_momentum)
            .field("base_momentum", &self.base_momentum)
            .field("max_momentum", &self.max_momentum)
            .finish()
    }
}

impl Schedule for CyclicLr {
    fn name(&self) -> &'static str {
        "CyclicLR"
    }
    fn validate(&self) -> Result<(), Error> {
        self.base_lr.check("base_lr", check::non_negative)?;
        self.max_lr.check("max_lr", check::non_negative)?;
        at_least_one("step_size_up", self.step_size_up)?;
        check::positive("gamma", self.gamma)?;
        self.base_momentum
            .check("base_momentum", check::non_negative)?;
        self.max_momentum.check("max_momentum", check::non_negative)
    }
    fn initial_lr(&self, _optimizer_lr: f64) -> f64 {
        self.base_lr.first()
    }
    fn lr(&self, _base_lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
        let (s, scale) = self.position(epoch);
        let (base_lr, max_lr) = (self.base_lr.first(), self.max_lr.first());
        let value = base_lr + (max_lr - base_lr) * s * scale;
        checked(self.name(), epoch, "lr", value)
    }
    fn next_lr(&self, base_lr: f64, _lr: f64, epoch: u64) -> Result<f64, Error> {
        self.lr(base_lr, epoch)
    }
    fn momentum(&self, epoch: u64) -> Result<Option<f64>, Error> {
        self.validate()?;
        if !self.cycle_momentum {
            return Ok(None);
        }
        let (s, scale) = self.position(epoch);
        let (lo, hi) = (self.base_momentum.first(), self.max_momentum.first());
        Ok(Some(hi - (hi - lo) * s * scale))
    }
    fn for_group(&self, group: usize, groups: usize) -> Result<Box<dyn Schedule>, Error> {
        self.validate()?;
        let mut schedule = self.clone();
        schedule.base_lr = self.base_lr.for_group("base_lr", group, groups)?;
        schedule.max_lr = self.max_lr.for_group("max_lr", group, groups)?;
        // As PyTorch, which reads the momenta only when it cycles them.
        if self.cycle_momentum {
            schedule.base_momentum =
                self.base_momentum
                    .for_group("base_momentum", group, groups)?;
            schedule.max_momentum = self.max_momentum.for_group("max_momentum", group, groups)?;
        }
        Ok(Box::new(schedule))
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(self.clone())
    }
}

/// How a [`OneCycleLr`] moves between its end points (PyTorch's `anneal_strategy`).
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{AnnealStrategy, OneCycleLr, Schedule};
///
/// // 10 steps, the peak at step 4: at step 1 a quarter of the way up from 0.04 to 1.
/// let cos = OneCycleLr::new(1.0, 10).pct_start(0.5);
/// let linear = cos.clone().anneal_strategy(AnnealStrategy::Linear);
/// assert!((linear.lr(0.0, 1)? - (0.04 + 0.96 * 0.25)).abs() < 1e-12);
/// assert!(cos.lr(0.0, 1)? < linear.lr(0.0, 1)?); // the cosine starts slowly
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum AnnealStrategy {
    /// `end + (start − end)/2 · (1 + cos(π·pct))` (PyTorch's default, `"cos"`).
    #[default]
    Cos,
    /// `start + (end − start)·pct` (`"linear"`).
    Linear,
}

crate::builder::plain!(AnnealStrategy);

impl AnnealStrategy {
    fn anneal(self, start: f64, end: f64, pct: f64) -> f64 {
        match self {
            AnnealStrategy::Cos => end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0),
            AnnealStrategy::Linear => (end - start) * pct + start,
        }
    }
}

config! {
    /// The 1cycle policy (Smith & Topin, 2017): one warmup to `max_lr` and one long annealing
    /// far below the start, once per batch over a fixed number of steps; PyTorch's
    /// `torch.optim.lr_scheduler.OneCycleLR`.
    ///
    /// With `T` the total number of steps, `p = pct_start`, `lr₀ = max_lr/div_factor` and
    /// `lr_min = lr₀/final_div_factor`, the phases end at steps:
    ///
    /// ```text
    /// two phases (default):   p·T − 1: lr₀ → max_lr (momentum max → base);
    ///                         T − 1:   max_lr → lr_min (momentum base → max)
    /// three_phase:            p·T − 1: lr₀ → max_lr;  2p·T − 2: max_lr → lr₀;  T − 1: lr₀ → lr_min
    ///                         (momentum max → base → max, then constant)
    /// within a phase from step a to step b:  value = anneal(start, end, (k − a)/(b − a))
    /// ```
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `max_lr` | required ([`new`](OneCycleLr::new), [`from_epochs`](OneCycleLr::from_epochs)) | `≥ 0`; one value, or one per group |
    /// | `total_steps` | given to [`new`](OneCycleLr::new) | `≥ 1` |
    /// | `epochs`, `steps_per_epoch` | given to [`from_epochs`](OneCycleLr::from_epochs) | each `≥ 1`, used when `total_steps` is `None` |
    /// | `pct_start` | `0.3` | `[0, 1]`, and `pct_start·T ≠ 1` (an empty first phase) |
    /// | `anneal_strategy` | [`AnnealStrategy::Cos`] | |
    /// | `cycle_momentum` | `true` | |
    /// | `base_momentum` | `0.85` | `≥ 0`; one value, or one per group |
    /// | `max_momentum` | `0.95` | `≥ 0`; one value, or one per group |
    /// | `div_factor` | `25` | `> 0` |
    /// | `final_div_factor` | `1e4` | `> 0` |
    /// | `three_phase` | `false` (fastai's two phases) | `true`: the paper's three |
    ///
    /// Absolute: the optimizer's learning rate is ignored (`B = max_lr/div_factor`).
    ///
    /// **Per group.** `max_lr`, `base_momentum` and `max_momentum` are [`PerGroup`]s, as
    /// PyTorch's arguments are "a float or a list": with one `max_lr` per parameter group
    /// (`OneCycleLr::new([0.1, 0.01], total_steps)`), each group runs its own cycle from
    /// `max_lr_g/div_factor` to `max_lr_g` and down to `max_lr_g/(div_factor·final_div_factor)`;
    /// the pure forms give group 0's.
    ///
    /// **The end.** Steps `0..=T` are allowed, as in PyTorch: `f(T − 1) = lr_min`, and the step
    /// to `T` (after the last optimizer step of the usual loop) extrapolates the last phase.
    /// Stepping past `T` is an [`Error::ScheduleExhausted`]. With linear annealing PyTorch
    /// extrapolates to a negative learning rate at `T`; here it is 0.
    ///
    /// **Momentum**: as [`CyclicLr`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{OneCycleLr, Schedule};
    /// use ndarray_optim::{Adam, Error, Optimizer};
    ///
    /// let steps = 100;
    /// let mut opt = Adam::<f32>::new(1.0)?; // its lr is ignored
    /// let mut sched = OneCycleLr::new(0.01, steps).attach(&mut opt)?;
    /// assert!((opt.learning_rate() - 0.01 / 25.0).abs() < 1e-15); // max_lr / div_factor
    /// assert_eq!(opt.momentum(), Some(0.95));
    /// assert_eq!(sched.lr(29)?, 0.01); // the peak, at pct_start·T − 1
    /// for _batch in 0..steps {
    ///     // opt.step(...) on the batch, then:
    ///     sched.step(&mut opt)?;
    /// }
    /// assert!(matches!(sched.step(&mut opt), Err(Error::ScheduleExhausted { step: 101, .. })));
    ///
    /// // Up until step 29, back down to the start at 58, then the final annealing.
    /// let three = OneCycleLr::new(1.0, 100).three_phase(true).final_div_factor(100.0);
    /// assert_eq!(three.lr(0.0, 29)?, 1.0);
    /// assert_eq!(three.lr(0.0, 58)?, 1.0 / 25.0);
    /// assert_eq!(three.lr(0.0, 99)?, 1.0 / 25.0 / 100.0);
    /// assert_eq!(three.momentum(80)?, Some(0.95)); // constant in the last phase
    ///
    /// // Checked when attached or evaluated: 0.1·10 = 1 leaves the first phase empty.
    /// assert!(matches!(
    ///     OneCycleLr::new(0.1, 10).pct_start(0.1).validate(),
    ///     Err(Error::InvalidHyperparameter { name: "pct_start", .. })
    /// ));
    /// # Ok::<(), Error>(())
    /// ```
    pub struct OneCycleLr {
        /// The learning rate at the peak of the cycle, for every group or per group.
        max_lr: impl Into<PerGroup>,
        /// The number of steps of the cycle `T`; `None`: `epochs · steps_per_epoch`.
        total_steps: Option<u64> = None,
        /// The number of epochs, with `steps_per_epoch`, when `total_steps` is `None`.
        epochs: Option<u64> = None,
        /// The number of steps per epoch, with `epochs`, when `total_steps` is `None`.
        steps_per_epoch: Option<u64> = None,
        /// The fraction of the cycle spent increasing the learning rate.
        pct_start: f64 = 0.3,
        /// Cosine or linear annealing within each phase.
        anneal_strategy: AnnealStrategy = AnnealStrategy::Cos,
        /// Whether each step also sets the optimizer's momentum (or `β₁`), inversely to the
        /// learning rate.
        cycle_momentum: bool = true,
        /// The momentum at the peak of the learning rate, for every group or per group.
        base_momentum: impl Into<PerGroup> = PerGroup::All(0.85),
        /// The momentum while the learning rate is lowest, for every group or per group.
        max_momentum: impl Into<PerGroup> = PerGroup::All(0.95),
        /// The cycle starts at `max_lr / div_factor`.
        div_factor: f64 = 25.0,
        /// The cycle ends at `max_lr / (div_factor · final_div_factor)`.
        final_div_factor: f64 = 1e4,
        /// Three phases (the original paper) instead of two (fastai's, PyTorch's default).
        three_phase: bool = false,
    }
}

impl OneCycleLr {
    /// One cycle peaking at `max_lr` (one value for every group, or one per group) over
    /// `total_steps` batches, with PyTorch's other defaults.
    pub fn new(max_lr: impl Into<PerGroup>, total_steps: u64) -> Self {
        OneCycleLr::from_required(max_lr.into()).total_steps(Some(total_steps))
    }

    /// One cycle over `epochs · steps_per_epoch` batches (PyTorch's other way of giving the
    /// length).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::OneCycleLr;
    ///
    /// assert_eq!(OneCycleLr::from_epochs(0.1, 10, 50).total()?, 500);
    /// assert!(OneCycleLr::from_epochs(0.1, u64::MAX, 2).total().is_err()); // overflows
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn from_epochs(max_lr: impl Into<PerGroup>, epochs: u64, steps_per_epoch: u64) -> Self {
        OneCycleLr::from_required(max_lr.into())
            .epochs(Some(epochs))
            .steps_per_epoch(Some(steps_per_epoch))
    }

    /// The number of steps `T` of the cycle: `total_steps`, or else
    /// `epochs · steps_per_epoch`, as PyTorch computes it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if the number given is 0, if neither `total_steps` nor
    /// both `epochs` and `steps_per_epoch` are given, or if their product overflows.
    pub fn total(&self) -> Result<u64, Error> {
        match (self.total_steps, self.epochs, self.steps_per_epoch) {
            (Some(total), _, _) => at_least_one("total_steps", total).map(|()| total),
            (None, Some(epochs), Some(steps_per_epoch)) => {
                at_least_one("epochs", epochs)?;
                at_least_one("steps_per_epoch", steps_per_epoch)?;
                epochs
                    .checked_mul(steps_per_epoch)
                    .ok_or(Error::InvalidHyperparameter {
                        name: "steps_per_epoch",
                        value: steps_per_epoch as f64,
                        requirement: "epochs * steps_per_epoch must fit in a u64",
                    })
            }
            (None, _, _) => Err(Error::InvalidHyperparameter {
                name: "total_steps",
                value: f64::NAN,
                requirement: "must be given, or epochs and steps_per_epoch both",
            }),
        }
    }

    /// The learning rate and momentum at step `k`, before the checks.
    fn at(&self, epoch: u64) -> Result<(f64, f64), Error> {
        let total_steps = self.total()?;
        if epoch > total_steps {
            return Err(Error::ScheduleExhausted {
                schedule: "OneCycleLR",
                step: epoch,
                total_steps,
            });
        }
        let t = total_steps as f64;
        let p = self.pct_start;
        let max_lr = self.max_lr.first();
        let initial_lr = max_lr / self.div_factor;
        let min_lr = initial_lr / self.final_div_factor;
        let (lo, hi) = (self.base_momentum.first(), self.max_momentum.first());
        // (end step, start lr, end lr, start momentum, end momentum)
        let two = [
            (p * t - 1.0, initial_lr, max_lr, hi, lo),
            (t - 1.0, max_lr, min_lr, lo, hi),
        ];
        let three = [
            (p * t - 1.0, initial_lr, max_lr, hi, lo),
            (2.0 * p * t - 2.0, max_lr, initial_lr, lo, hi),
            (t - 1.0, initial_lr, min_lr, hi, hi),
        ];
        let phases: &[(f64, f64, f64, f64, f64)] = if self.three_phase { &three } else { &two };
        let k = epoch as f64;
        // The first phase that has not ended, or the last one (which extrapolates at k = T).
        let i = phases
            .iter()
            .position(|phase| k <= phase.0)
            .unwrap_or(phases.len() - 1);
        let start = if i == 0 { 0.0 } else { phases[i - 1].0 };
        let (end, lr_start, lr_end, m_start, m_end) = phases[i];
        let pct = (k - start) / (end - start);
        Ok((
            self.anneal_strategy.anneal(lr_start, lr_end, pct),
            self.anneal_strategy.anneal(m_start, m_end, pct),
        ))
    }
}

impl Schedule for OneCycleLr {
    fn name(&self) -> &'static str {
        "OneCycleLR"
    }
    fn validate(&self) -> Result<(), Error> {
        self.max_lr.check("max_lr", check::non_negative)?;
        let total_steps = self.total()?;
        check::unit("pct_start", self.pct_start)?;
        check::require(
            self.pct_start * total_steps as f64 - 1.0 != 0.0,
            "pct_start",
            self.pct_start,
            "pct_start * total_steps must not be 1 (an empty first phase)",
        )?;
        self.base_momentum
            .check("base_momentum", check::non_negative)?;
        self.max_momentum
            .check("max_momentum", check::non_negative)?;
        check::positive("div_factor", self.div_factor)?;
        check::positive("final_div_factor", self.final_div_factor)
    }
    fn initial_lr(&self, _optimizer_lr: f64) -> f64 {
        self.max_lr.first() / self.div_factor
    }
    fn lr(&self, _base_lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
        let (lr, _) = self.at(epoch)?;
        // Only linear annealing at step T extrapolates below 0 (PyTorch writes it as it is).
        let lr = if lr < 0.0 { 0.0 } else { lr };
        checked(self.name(), epoch, "lr", lr)
    }
    fn next_lr(&self, base_lr: f64, _lr: f64, epoch: u64) -> Result<f64, Error> {
        self.lr(base_lr, epoch)
    }
    fn momentum(&self, epoch: u64) -> Result<Option<f64>, Error> {
        self.validate()?;
        let (_, momentum) = self.at(epoch)?;
        Ok(self.cycle_momentum.then_some(momentum))
    }
    fn for_group(&self, group: usize, groups: usize) -> Result<Box<dyn Schedule>, Error> {
        self.validate()?;
        let mut schedule = self.clone();
        schedule.max_lr = self.max_lr.for_group("max_lr", group, groups)?;
        // As PyTorch, which reads the momenta only when it cycles them.
        if self.cycle_momentum {
            schedule.max_momentum = self.max_momentum.for_group("max_momentum", group, groups)?;
            schedule.base_momentum =
                self.base_momentum
                    .for_group("base_momentum", group, groups)?;
        }
        Ok(Box::new(schedule))
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(self.clone())
    }
}
