//! The per-batch cyclical schedules: cyclic learning rates and the one-cycle policy. Both cycle
//! the momentum too.

use std::f64::consts::PI;
use std::fmt;
use std::sync::Arc;

use super::{Schedule, at_least_one, checked};
use crate::check;
use crate::error::Error;

/// The amplitude policy of a [`CyclicLr`] (PyTorch's `mode`).
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{CyclicLr, CyclicMode, Schedule};
///
/// let halving = CyclicLr::new(0.0, 1.0, 2)?.with_mode(CyclicMode::Triangular2)?;
/// assert_eq!(halving.lr(0.0, 2)?, 1.0); // peak of cycle 1
/// assert_eq!(halving.lr(0.0, 6)?, 0.5); // peak of cycle 2: half the amplitude
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum CyclicMode {
    /// A triangle without amplitude scaling (PyTorch's default, `"triangular"`).
    Triangular,
    /// The amplitude halves every cycle: `scale = 1 / 2^(cycle − 1)` (`"triangular2"`).
    Triangular2,
    /// The amplitude decays by `γ` every iteration: `scale = γ^k` (`"exp_range"`).
    ExpRange {
        /// The decay per iteration `γ > 0` (PyTorch's `gamma`, default 1).
        gamma: f64,
    },
}

/// What a custom scale function of a [`CyclicLr`] is given (PyTorch's `scale_mode`).
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{CyclicLr, ScaleMode, Schedule};
///
/// // The amplitude halves every 10 iterations.
/// let schedule =
///     CyclicLr::new(0.0, 1.0, 5)?.with_scale_fn(|k| 0.5f64.powf(k / 10.0), ScaleMode::Iterations);
/// assert_eq!(schedule.lr(0.0, 5)?, 0.5f64.powf(0.5));
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScaleMode {
    /// The cycle number, from 1 (PyTorch's default, `"cycle"`).
    Cycle,
    /// The iteration `k` (`"iterations"`).
    Iterations,
}

/// A custom amplitude scale of a [`CyclicLr`].
type ScaleFn = Arc<dyn Fn(f64) -> f64 + Send + Sync>;

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
/// scale: triangular 1,  triangular2 1/2^(cycle − 1),  exp_range γ^k,  or a custom function
/// ```
///
/// PyTorch's defaults: `step_size_up = 2000`, `step_size_down = step_size_up`, triangular,
/// `cycle_momentum = true`, `base_momentum = 0.8`, `max_momentum = 0.9`. Absolute: the
/// optimizer's own learning rate is ignored (`B = base_lr`).
///
/// **Momentum.** With `cycle_momentum` (the default) every step also sets the optimizer's
/// momentum (SGD, Momentum, Nesterov, RMSProp) or `β₁` (Adam and its variants, LAMB; Lion's
/// `b1`), inversely to the learning rate:
/// attaching to an optimizer without one is an [`Error::Unsupported`], as in PyTorch; turn it
/// off with [`with_cycle_momentum`](CyclicLr::with_cycle_momentum).
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{CyclicLr, Schedule};
/// use ndarray_optim::{Momentum, Optimizer};
///
/// let mut opt = Momentum::<f32>::new(0.5, 0.9)?;
/// let mut sched = CyclicLr::new(0.01, 0.1, 4)?.attach(&mut opt)?;
/// assert_eq!((opt.learning_rate(), opt.momentum()), (0.01, Some(0.9)));
/// for _ in 0..4 {
///     sched.step(&mut opt)?; // once per batch
/// }
/// assert_eq!((opt.learning_rate(), opt.momentum()), (0.1, Some(0.8))); // the peak
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone)]
pub struct CyclicLr {
    base_lr: f64,
    max_lr: f64,
    step_size_up: u64,
    step_size_down: Option<u64>,
    mode: CyclicMode,
    scale_fn: Option<(ScaleFn, ScaleMode)>,
    cycle_momentum: bool,
    base_momentum: f64,
    max_momentum: f64,
}

impl CyclicLr {
    /// Cycle between `base_lr` and `max_lr`, rising over `step_size_up` batches and falling
    /// over as many; triangular, momentum cycled between 0.8 and 0.9.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if a learning rate is not a finite number `≥ 0` or
    /// `step_size_up` is 0.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{CyclicLr, Schedule};
    ///
    /// let triangle = CyclicLr::new(0.0, 1.0, 2)?;
    /// let lrs: Vec<f64> = (0..5).map(|k| triangle.lr(0.0, k)).collect::<Result<_, _>>()?;
    /// assert_eq!(lrs, [0.0, 0.5, 1.0, 0.5, 0.0]);
    /// assert!(CyclicLr::new(0.0, 1.0, 0).is_err()); // step_size_up ≥ 1
    /// assert!(CyclicLr::new(-0.1, 1.0, 2).is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(base_lr: f64, max_lr: f64, step_size_up: u64) -> Result<Self, Error> {
        check::non_negative("base_lr", base_lr)?;
        check::non_negative("max_lr", max_lr)?;
        at_least_one("step_size_up", step_size_up)?;
        Ok(CyclicLr {
            base_lr,
            max_lr,
            step_size_up,
            step_size_down: None,
            mode: CyclicMode::Triangular,
            scale_fn: None,
            cycle_momentum: true,
            base_momentum: 0.8,
            max_momentum: 0.9,
        })
    }

    /// Falls over `step_size_down` batches instead of `step_size_up` (0 makes a sawtooth).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{CyclicLr, Schedule};
    ///
    /// // Up over 3 batches, down over 1.
    /// let schedule = CyclicLr::new(0.0, 1.0, 3)?.with_step_size_down(1);
    /// assert_eq!(schedule.lr(0.0, 3)?, 1.0);
    /// assert_eq!(schedule.lr(0.0, 4)?, 0.0); // the next cycle starts
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_step_size_down(mut self, step_size_down: u64) -> Self {
        self.step_size_down = Some(step_size_down);
        self
    }

    /// Sets the amplitude policy.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if the `gamma` of [`CyclicMode::ExpRange`] is not a
    /// finite number `> 0`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{CyclicLr, CyclicMode, Schedule};
    ///
    /// let decaying = CyclicLr::new(0.0, 1.0, 2)?.with_mode(CyclicMode::ExpRange { gamma: 0.5 })?;
    /// assert_eq!(decaying.lr(0.0, 2)?, 0.25); // the peak, scaled by γ^k = 0.5²
    /// assert!(CyclicLr::new(0.0, 1.0, 2)?.with_mode(CyclicMode::ExpRange { gamma: 0.0 }).is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_mode(mut self, mode: CyclicMode) -> Result<Self, Error> {
        if let CyclicMode::ExpRange { gamma } = mode {
            check::positive("gamma", gamma)?;
        }
        self.mode = mode;
        Ok(self)
    }

    /// Uses a custom amplitude scale, called with the cycle number or the iteration (PyTorch's
    /// `scale_fn` and `scale_mode`); the mode is then ignored, as in PyTorch. A scale that makes
    /// the learning rate or momentum negative or NaN is an error at that step.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{CyclicLr, ScaleMode, Schedule};
    ///
    /// // The amplitude divided by the cycle number.
    /// let schedule = CyclicLr::new(0.0, 1.0, 2)?.with_scale_fn(|cycle| 1.0 / cycle, ScaleMode::Cycle);
    /// assert_eq!(schedule.lr(0.0, 2)?, 1.0); // peak of cycle 1
    /// assert_eq!(schedule.lr(0.0, 6)?, 0.5); // peak of cycle 2
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_scale_fn(
        mut self,
        scale_fn: impl Fn(f64) -> f64 + Send + Sync + 'static,
        scale_mode: ScaleMode,
    ) -> Self {
        self.scale_fn = Some((Arc::new(scale_fn), scale_mode));
        self
    }

    /// Turns momentum cycling on (the default) or off.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{CyclicLr, Schedule};
    /// use ndarray_optim::{Adagrad, Error};
    ///
    /// let mut opt = Adagrad::<f32>::new(0.01)?; // no momentum to cycle
    /// let schedule = CyclicLr::new(1e-3, 1e-2, 100)?;
    /// assert!(matches!(schedule.clone().attach(&mut opt), Err(Error::Unsupported { .. })));
    /// let sched = schedule.with_cycle_momentum(false).attach(&mut opt)?;
    /// assert_eq!(sched.last_momentum(), None);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn with_cycle_momentum(mut self, cycle_momentum: bool) -> Self {
        self.cycle_momentum = cycle_momentum;
        self
    }

    /// Sets the momentum bounds (defaults 0.8 and 0.9): `max_momentum` at the bottom of a cycle,
    /// `base_momentum` at its peak.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if either is not a finite number `≥ 0` (the optimizer
    /// may be stricter: Adam's `β₁` must be below 1).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{CyclicLr, Schedule};
    /// use ndarray_optim::{Adam, Optimizer};
    ///
    /// let mut opt = Adam::<f32>::new(1e-3)?;
    /// let schedule = CyclicLr::new(1e-4, 1e-3, 100)?.with_momentum(0.85, 0.95)?;
    /// schedule.attach(&mut opt)?;
    /// assert_eq!(opt.momentum(), Some(0.95)); // β₁ at the bottom of the cycle
    /// // Accepted here, refused by Adam when attaching (β₁ < 1):
    /// let too_high = CyclicLr::new(1e-4, 1e-3, 100)?.with_momentum(0.9, 1.0)?;
    /// assert!(too_high.attach(&mut opt).is_err());
    /// assert!(CyclicLr::new(1e-4, 1e-3, 100)?.with_momentum(-0.1, 0.9).is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_momentum(mut self, base_momentum: f64, max_momentum: f64) -> Result<Self, Error> {
        check::non_negative("base_momentum", base_momentum)?;
        check::non_negative("max_momentum", max_momentum)?;
        self.base_momentum = base_momentum;
        self.max_momentum = max_momentum;
        Ok(self)
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
        let scale = match &self.scale_fn {
            Some((f, ScaleMode::Cycle)) => f(cycle),
            Some((f, ScaleMode::Iterations)) => f(k),
            None => match self.mode {
                CyclicMode::Triangular => 1.0,
                CyclicMode::Triangular2 => 1.0 / 2.0f64.powf(cycle - 1.0),
                CyclicMode::ExpRange { gamma } => gamma.powf(k),
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
            .field("scale_fn", &self.scale_fn.as_ref().map(|(_, m)| m))
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
    fn base_lr(&self, _optimizer_lr: f64) -> f64 {
        self.base_lr
    }
    fn lr(&self, _base_lr: f64, epoch: u64) -> Result<f64, Error> {
        let (s, scale) = self.position(epoch);
        let value = self.base_lr + (self.max_lr - self.base_lr) * s * scale;
        checked(self.name(), epoch, "lr", value)
    }
    fn next_lr(&self, base_lr: f64, _lr: f64, epoch: u64) -> Result<f64, Error> {
        self.lr(base_lr, epoch)
    }
    fn momentum(&self, epoch: u64) -> Result<Option<f64>, Error> {
        if !self.cycle_momentum {
            return Ok(None);
        }
        let (s, scale) = self.position(epoch);
        let (lo, hi) = (self.base_momentum, self.max_momentum);
        Ok(Some(hi - (hi - lo) * s * scale))
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
/// let linear = OneCycleLr::new(1.0, 42)?
///     .with_pct_start(0.5)? // the first phase ends at step 0.5·42 − 1 = 20
///     .with_anneal_strategy(AnnealStrategy::Linear);
/// assert!((linear.lr(0.0, 10)? - 0.52).abs() < 1e-15); // half-way up from 1/25 to 1
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnnealStrategy {
    /// `end + (start − end)/2 · (1 + cos(π·pct))` (PyTorch's default, `"cos"`).
    Cos,
    /// `start + (end − start)·pct` (`"linear"`).
    Linear,
}

impl AnnealStrategy {
    fn anneal(self, start: f64, end: f64, pct: f64) -> f64 {
        match self {
            AnnealStrategy::Cos => end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0),
            AnnealStrategy::Linear => (end - start) * pct + start,
        }
    }
}

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
/// PyTorch's defaults: `pct_start = 0.3`, cosine annealing, `cycle_momentum = true`,
/// `base_momentum = 0.85`, `max_momentum = 0.95`, `div_factor = 25`, `final_div_factor = 1e4`,
/// two phases. Absolute: the optimizer's learning rate is ignored (`B = max_lr/div_factor`).
///
/// **The end.** Steps `0..=T` are allowed, as in PyTorch: `f(T − 1) = lr_min`, and the step to
/// `T` (after the last optimizer step of the usual loop) extrapolates the last phase. Stepping
/// past `T` is an [`Error::ScheduleExhausted`]. With linear annealing PyTorch extrapolates to
/// a negative learning rate at `T`; here it is 0.
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
/// let mut sched = OneCycleLr::new(0.01, steps)?.attach(&mut opt)?;
/// assert!((opt.learning_rate() - 0.01 / 25.0).abs() < 1e-15); // max_lr / div_factor
/// assert_eq!(opt.momentum(), Some(0.95));
/// for _batch in 0..steps {
///     // opt.step(...) on the batch, then:
///     sched.step(&mut opt)?;
/// }
/// assert!(matches!(sched.step(&mut opt), Err(Error::ScheduleExhausted { step: 101, .. })));
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct OneCycleLr {
    max_lr: f64,
    total_steps: u64,
    pct_start: f64,
    anneal: AnnealStrategy,
    cycle_momentum: bool,
    base_momentum: f64,
    max_momentum: f64,
    div_factor: f64,
    final_div_factor: f64,
    three_phase: bool,
}

impl OneCycleLr {
    /// One cycle peaking at `max_lr` over `total_steps` batches, with PyTorch's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `max_lr` is not a finite number `≥ 0` or
    /// `total_steps` is 0.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{OneCycleLr, Schedule};
    ///
    /// let schedule = OneCycleLr::new(0.1, 100)?;
    /// assert!((schedule.lr(0.0, 0)? - 0.1 / 25.0).abs() < 1e-15); // max_lr / div_factor
    /// assert_eq!(schedule.lr(0.0, 29)?, 0.1); // the peak, at pct_start·T − 1
    /// assert!(OneCycleLr::new(0.1, 0).is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(max_lr: f64, total_steps: u64) -> Result<Self, Error> {
        check::non_negative("max_lr", max_lr)?;
        at_least_one("total_steps", total_steps)?;
        let schedule = OneCycleLr {
            max_lr,
            total_steps,
            pct_start: 0.3,
            anneal: AnnealStrategy::Cos,
            cycle_momentum: true,
            base_momentum: 0.85,
            max_momentum: 0.95,
            div_factor: 25.0,
            final_div_factor: 1e4,
            three_phase: false,
        };
        schedule.check_first_phase()
    }

    /// One cycle over `epochs · steps_per_epoch` batches (PyTorch's other way of giving the
    /// length).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if either count is 0, their product overflows, or
    /// `max_lr` is not a finite number `≥ 0`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::OneCycleLr;
    /// assert_eq!(OneCycleLr::from_epochs(0.1, 10, 50)?, OneCycleLr::new(0.1, 500)?);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn from_epochs(max_lr: f64, epochs: u64, steps_per_epoch: u64) -> Result<Self, Error> {
        at_least_one("epochs", epochs)?;
        at_least_one("steps_per_epoch", steps_per_epoch)?;
        let total = epochs
            .checked_mul(steps_per_epoch)
            .ok_or(Error::InvalidHyperparameter {
                name: "steps_per_epoch",
                value: steps_per_epoch as f64,
                requirement: "epochs * steps_per_epoch must fit in a u64",
            })?;
        OneCycleLr::new(max_lr, total)
    }

    /// Sets the fraction of the cycle spent increasing the learning rate (default 0.3).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `pct_start` is not in `[0, 1]`, or if
    /// `pct_start · total_steps = 1` (an empty first phase that PyTorch divides by zero on).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{OneCycleLr, Schedule};
    ///
    /// let schedule = OneCycleLr::new(0.1, 100)?.with_pct_start(0.25)?;
    /// assert_eq!(schedule.lr(0.0, 24)?, 0.1); // the peak moves to 0.25·100 − 1
    /// assert!(OneCycleLr::new(0.1, 100)?.with_pct_start(1.5).is_err());
    /// assert!(OneCycleLr::new(0.1, 10)?.with_pct_start(0.1).is_err()); // an empty first phase
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_pct_start(mut self, pct_start: f64) -> Result<Self, Error> {
        check::unit("pct_start", pct_start)?;
        self.pct_start = pct_start;
        self.check_first_phase()
    }

    /// Sets cosine (default) or linear annealing.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{AnnealStrategy, OneCycleLr, Schedule};
    ///
    /// // 10 steps, the peak at step 4: at step 1 a quarter of the way up from 0.04 to 1.
    /// let cos = OneCycleLr::new(1.0, 10)?.with_pct_start(0.5)?;
    /// let linear = cos.clone().with_anneal_strategy(AnnealStrategy::Linear);
    /// assert!((linear.lr(0.0, 1)? - (0.04 + 0.96 * 0.25)).abs() < 1e-12);
    /// assert!(cos.lr(0.0, 1)? < linear.lr(0.0, 1)?); // the cosine starts slowly
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_anneal_strategy(mut self, anneal: AnnealStrategy) -> Self {
        self.anneal = anneal;
        self
    }

    /// Turns momentum cycling on (the default) or off.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{OneCycleLr, Schedule};
    /// use ndarray_optim::{Adadelta, Optimizer};
    ///
    /// let mut opt = Adadelta::<f32>::new(1.0)?; // no momentum to cycle
    /// assert!(OneCycleLr::new(1.0, 100)?.attach(&mut opt).is_err());
    /// OneCycleLr::new(1.0, 100)?.with_cycle_momentum(false).attach(&mut opt)?;
    /// assert!((opt.learning_rate() - 1.0 / 25.0).abs() < 1e-15);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_cycle_momentum(mut self, cycle_momentum: bool) -> Self {
        self.cycle_momentum = cycle_momentum;
        self
    }

    /// Sets the momentum bounds (defaults 0.85 and 0.95).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if either is not a finite number `≥ 0`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{OneCycleLr, Schedule};
    ///
    /// let schedule = OneCycleLr::new(1.0, 100)?.with_momentum(0.8, 0.9)?;
    /// assert_eq!(schedule.momentum(0)?, Some(0.9)); // max_momentum while the lr is low
    /// assert_eq!(schedule.momentum(29)?, Some(0.8)); // base_momentum at the peak
    /// assert!(OneCycleLr::new(1.0, 100)?.with_momentum(0.8, f64::INFINITY).is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_momentum(mut self, base_momentum: f64, max_momentum: f64) -> Result<Self, Error> {
        check::non_negative("base_momentum", base_momentum)?;
        check::non_negative("max_momentum", max_momentum)?;
        self.base_momentum = base_momentum;
        self.max_momentum = max_momentum;
        Ok(self)
    }

    /// Sets `div_factor` (default 25): the cycle starts at `max_lr / div_factor`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if it is not a finite number `> 0`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{OneCycleLr, Schedule};
    ///
    /// let schedule = OneCycleLr::new(1.0, 100)?.with_div_factor(10.0)?;
    /// assert!((schedule.lr(0.0, 0)? - 0.1).abs() < 1e-15); // max_lr / div_factor
    /// assert!(OneCycleLr::new(1.0, 100)?.with_div_factor(0.0).is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_div_factor(mut self, div_factor: f64) -> Result<Self, Error> {
        check::positive("div_factor", div_factor)?;
        self.div_factor = div_factor;
        Ok(self)
    }

    /// Sets `final_div_factor` (default 1e4): the cycle ends at
    /// `max_lr / (div_factor · final_div_factor)`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if it is not a finite number `> 0`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{OneCycleLr, Schedule};
    ///
    /// let schedule = OneCycleLr::new(1.0, 100)?.with_final_div_factor(100.0)?;
    /// assert_eq!(schedule.lr(0.0, 99)?, 1.0 / 25.0 / 100.0); // the last step's learning rate
    /// assert!(OneCycleLr::new(1.0, 100)?.with_final_div_factor(-1.0).is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_final_div_factor(mut self, final_div_factor: f64) -> Result<Self, Error> {
        check::positive("final_div_factor", final_div_factor)?;
        self.final_div_factor = final_div_factor;
        Ok(self)
    }

    /// Uses three phases (the original paper) instead of two (fastai's, PyTorch's default).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{OneCycleLr, Schedule};
    ///
    /// // Up until step 29, back down to the start at 58, then the final annealing.
    /// let schedule = OneCycleLr::new(1.0, 100)?.with_three_phase(true);
    /// assert_eq!(schedule.lr(0.0, 29)?, 1.0);
    /// assert_eq!(schedule.lr(0.0, 58)?, 1.0 / 25.0);
    /// assert_eq!(schedule.momentum(80)?, Some(0.95)); // constant in the last phase
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_three_phase(mut self, three_phase: bool) -> Self {
        self.three_phase = three_phase;
        self
    }

    /// The total number of steps `T`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::OneCycleLr;
    /// assert_eq!(OneCycleLr::from_epochs(0.1, 10, 50)?.total_steps(), 500);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn total_steps(&self) -> u64 {
        self.total_steps
    }

    fn check_first_phase(self) -> Result<Self, Error> {
        if self.pct_start * self.total_steps as f64 - 1.0 == 0.0 {
            return Err(Error::InvalidHyperparameter {
                name: "pct_start",
                value: self.pct_start,
                requirement: "pct_start * total_steps must not be 1 (an empty first phase)",
            });
        }
        Ok(self)
    }

    /// The learning rate and momentum at step `k`, before the checks.
    fn at(&self, epoch: u64) -> Result<(f64, f64), Error> {
        if epoch > self.total_steps {
            return Err(Error::ScheduleExhausted {
                schedule: "OneCycleLR",
                step: epoch,
                total_steps: self.total_steps,
            });
        }
        let t = self.total_steps as f64;
        let p = self.pct_start;
        let initial_lr = self.max_lr / self.div_factor;
        let min_lr = initial_lr / self.final_div_factor;
        let (lo, hi) = (self.base_momentum, self.max_momentum);
        // (end step, start lr, end lr, start momentum, end momentum)
        let two = [
            (p * t - 1.0, initial_lr, self.max_lr, hi, lo),
            (t - 1.0, self.max_lr, min_lr, lo, hi),
        ];
        let three = [
            (p * t - 1.0, initial_lr, self.max_lr, hi, lo),
            (2.0 * p * t - 2.0, self.max_lr, initial_lr, lo, hi),
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
            self.anneal.anneal(lr_start, lr_end, pct),
            self.anneal.anneal(m_start, m_end, pct),
        ))
    }
}

impl Schedule for OneCycleLr {
    fn name(&self) -> &'static str {
        "OneCycleLR"
    }
    fn base_lr(&self, _optimizer_lr: f64) -> f64 {
        self.max_lr / self.div_factor
    }
    fn lr(&self, _base_lr: f64, epoch: u64) -> Result<f64, Error> {
        let (lr, _) = self.at(epoch)?;
        // Only linear annealing at step T extrapolates below 0 (PyTorch writes it as it is).
        let lr = if lr < 0.0 { 0.0 } else { lr };
        checked(self.name(), epoch, "lr", lr)
    }
    fn next_lr(&self, base_lr: f64, _lr: f64, epoch: u64) -> Result<f64, Error> {
        self.lr(base_lr, epoch)
    }
    fn momentum(&self, epoch: u64) -> Result<Option<f64>, Error> {
        let (_, momentum) = self.at(epoch)?;
        Ok(self.cycle_momentum.then_some(momentum))
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(self.clone())
    }
}
