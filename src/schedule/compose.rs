//! Compositions of schedules: one after the other, or all at once.

use super::Schedule;
use crate::error::Error;

/// Runs schedules one after the other, switching at milestones: PyTorch's
/// `torch.optim.lr_scheduler.SequentialLR`, typically a warmup followed by the main schedule.
///
/// With milestones `m₁ ≤ m₂ ≤ …`, schedule `i` is current for `mᵢ ≤ k < mᵢ₊₁` (schedule 0
/// from epoch 0) and sees its own epoch `k − mᵢ`: at its milestone it restarts at its epoch 0,
/// from the base learning rate (PyTorch's `_update_lr(0)`: the closed form at 0; a
/// [`MultiplicativeLr`](super::MultiplicativeLr) multiplies the learning rate held then by
/// `λ(0)` instead), and steps recursively from there. Attaching resets the learning rate to the
/// base and runs schedule 0's attaching step only, as PyTorch's constructor does.
///
/// ```text
/// f(k) = schedule_i.f(k − m_i)      for m_i ≤ k < m_{i+1}
/// ```
///
/// | field | default | valid |
/// |---|---|---|
/// | `schedules` (PyTorch's `schedulers`) | required ([`new`](SequentialLr::new)) | at least one, each valid |
/// | `milestones` | required | one fewer than schedules, not decreasing, none at 0 |
///
/// # Example
///
/// Linear warmup over 5 epochs, then cosine annealing over 20 (PyTorch's usual recipe):
///
/// ```
/// use ndarray_optim::schedule::{CosineAnnealingLr, LinearLr, Schedule, SequentialLr};
/// use ndarray_optim::{Optimizer, Sgd};
///
/// let warmup = LinearLr::default().start_factor(0.1).total_iters(5);
/// let schedule = SequentialLr::new(
///     vec![Box::new(warmup), Box::new(CosineAnnealingLr::new(20))],
///     vec![5],
/// );
/// let mut opt = Sgd::<f32>::new(0.1)?;
/// let mut sched = schedule.attach(&mut opt)?;
/// assert!((opt.learning_rate() - 0.01).abs() < 1e-15); // warmup starts at 0.1·B
/// for _ in 0..5 {
///     sched.step(&mut opt)?;
/// }
/// assert_eq!(opt.learning_rate(), 0.1); // the cosine starts at B
/// for _ in 0..20 {
///     sched.step(&mut opt)?;
/// }
/// assert!(opt.learning_rate() < 1e-15); // and ends at 0
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
///
/// Checked when attached or evaluated, the schedules inside included:
///
/// ```
/// use ndarray_optim::schedule::{ConstantLr, ExponentialLr, Schedule, SequentialLr, StepLr};
/// use ndarray_optim::Error;
///
/// let two = || -> Vec<Box<dyn Schedule>> {
///     let constant = ConstantLr::default().factor(0.1).total_iters(2);
///     vec![Box::new(constant), Box::new(ExponentialLr::new(0.5))]
/// };
/// let schedule = SequentialLr::new(two(), vec![2]);
/// let lrs: Vec<f64> = (0..5).map(|k| schedule.lr(1.0, k)).collect::<Result<_, _>>()?;
/// assert_eq!(lrs, [0.1, 0.1, 1.0, 0.5, 0.25]); // the second restarts at its epoch 0 at epoch 2
///
/// assert!(matches!(
///     SequentialLr::new(two(), vec![]).validate(),
///     Err(Error::MilestoneCountMismatch { schedules: 2, milestones: 0 })
/// ));
/// assert!(SequentialLr::new(two(), vec![0]).validate().is_err()); // no milestone at 0
/// assert!(matches!(SequentialLr::new(vec![], vec![]).validate(), Err(Error::NoSchedules { .. })));
/// let invalid_inside = SequentialLr::new(vec![Box::new(StepLr::new(0))], vec![]);
/// assert!(matches!(
///     invalid_inside.lr(1.0, 0),
///     Err(Error::InvalidHyperparameter { name: "step_size", .. })
/// ));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SequentialLr {
    /// The schedules, in the order they take over (PyTorch's `schedulers`).
    pub schedules: Vec<Box<dyn Schedule>>,
    /// The epochs at which the next schedule takes over: `milestones[i − 1]` for
    /// `schedules[i]`.
    pub milestones: Vec<u64>,
}

impl SequentialLr {
    /// `schedules[i]` takes over at `milestones[i − 1]`.
    pub fn new(schedules: Vec<Box<dyn Schedule>>, milestones: Vec<u64>) -> Self {
        SequentialLr {
            schedules,
            milestones,
        }
    }

    /// Sets `schedules`: the schedules, in the order they take over.
    #[must_use]
    pub fn schedules(mut self, schedules: Vec<Box<dyn Schedule>>) -> Self {
        self.schedules = schedules;
        self
    }

    /// Sets `milestones`: the epochs at which the next schedule takes over.
    #[must_use]
    pub fn milestones(mut self, milestones: Vec<u64>) -> Self {
        self.milestones = milestones;
        self
    }

    /// The current schedule at `epoch`, its own epoch, and the milestone it started at.
    fn segment(&self, epoch: u64) -> (&dyn Schedule, u64, Option<u64>) {
        let index = self.milestones.partition_point(|&m| m <= epoch);
        let start = index.checked_sub(1).map(|i| self.milestones[i]);
        let local = epoch - start.unwrap_or(0);
        (&*self.schedules[index], local, start)
    }
}

impl Schedule for SequentialLr {
    fn name(&self) -> &'static str {
        "SequentialLR"
    }
    fn validate(&self) -> Result<(), Error> {
        let _depth = Nesting::enter("SequentialLR")?;
        if self.schedules.is_empty() {
            return Err(Error::NoSchedules {
                schedule: "SequentialLR",
            });
        }
        if self.milestones.len() + 1 != self.schedules.len() {
            return Err(Error::MilestoneCountMismatch {
                schedules: self.schedules.len(),
                milestones: self.milestones.len(),
            });
        }
        super::check_milestones("SequentialLR", &self.milestones)?;
        if self.milestones.first() == Some(&0) {
            return Err(Error::InvalidHyperparameter {
                name: "milestones",
                value: 0.0,
                requirement: "must be >= 1",
            });
        }
        self.schedules.iter().try_for_each(|s| s.validate())
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
        // A restart may need the learning rate just before it (the end of the previous
        // segment), which may need the one before that, and so on. Walk back while the
        // segments ask for it (each is tried with a `lr_before` that only records the request),
        // then forward with the values known: loops, not a recursion, so that many milestones
        // cannot overflow the stack, and a segment is only evaluated if a later one needs it.
        let index = self.milestones.partition_point(|&m| m <= epoch);
        let local = |k: usize| {
            let start = if k == 0 { 0 } else { self.milestones[k - 1] };
            let end = if k == index {
                epoch
            } else {
                self.milestones[k] - 1 // milestones are ≥ 1 and increasing
            };
            end - start
        };
        let mut first = index;
        let mut lr = loop {
            if first == 0 {
                break self.schedules[0].lr(base_lr, local(0))?;
            }
            let asked = std::cell::Cell::new(false);
            let probe = || {
                asked.set(true);
                Err(Error::NoSchedules {
                    schedule: "SequentialLR",
                })
            };
            let tried = self.schedules[first].lr_after_restart(base_lr, &probe, local(first));
            match tried {
                _ if asked.get() => first -= 1,
                Ok(lr) => break lr,
                Err(e) => return Err(e),
            }
        };
        for k in first + 1..=index {
            let before = lr;
            lr = self.schedules[k].lr_after_restart(base_lr, &|| Ok(before), local(k))?;
        }
        Ok(lr)
    }
    fn next_lr(&self, base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
        match self.segment(epoch) {
            // PyTorch's constructor resets the learning rate to the base first.
            (schedule, 0, None) => schedule.next_lr(base_lr, base_lr, 0),
            (schedule, 0, Some(_)) => schedule.restart_lr(base_lr, lr),
            (schedule, local, _) => schedule.next_lr(base_lr, lr, local),
        }
    }
    fn momentum(&self, epoch: u64) -> Result<Option<f64>, Error> {
        self.validate()?;
        let (schedule, local, _) = self.segment(epoch);
        schedule.momentum(local)
    }
    fn for_group(&self, group: usize, groups: usize) -> Result<Box<dyn Schedule>, Error> {
        self.validate()?;
        let schedules = self
            .schedules
            .iter()
            .map(|s| s.for_group(group, groups))
            .collect::<Result<_, _>>()?;
        Ok(Box::new(SequentialLr::new(
            schedules,
            self.milestones.clone(),
        )))
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(self.clone())
    }
}

/// Applies several schedules at every step, one after the other: PyTorch's
/// `torch.optim.lr_scheduler.ChainedScheduler`.
///
/// Each step runs every schedule's recursive step in turn, each on the learning rate the
/// previous one left, so multiplicative schedules multiply:
/// `ConstantLR(factor = 0.1, total_iters = 2)` chained with `ExponentialLR(0.9)` gives
/// `B·(0.1 if k < 2 else 1)·0.9^k`.
/// An absolute schedule ([`LambdaLr`](super::LambdaLr), [`CyclicLr`](super::CyclicLr), …)
/// overrides what came before it. Attaching runs every schedule's attaching step in order, as
/// PyTorch does when it builds the schedulers one by one. For the schedules that cycle
/// momentum, the last one wins.
///
/// PyTorch has no closed form for it (cosine annealing with `eta_min > 0` is not
/// multiplicative): the pure form [`lr`](Schedule::lr) replays the steps from epoch 0, in
/// `O(k)` time, and so equals the stateful numbers exactly.
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{ChainedScheduler, ConstantLr, ExponentialLr, Schedule};
///
/// use ndarray_optim::Error;
///
/// let chained = ChainedScheduler::new(vec![
///     Box::new(ConstantLr::default().factor(0.1).total_iters(2)),
///     Box::new(ExponentialLr::new(0.9)),
/// ]);
/// assert_eq!(chained.lr(1.0, 0)?, 0.1);
/// assert!((chained.lr(1.0, 1)? - 0.09).abs() < 1e-15);
/// assert!((chained.lr(1.0, 2)? - 0.81).abs() < 1e-15);
/// assert!(matches!(ChainedScheduler::new(vec![]).validate(), Err(Error::NoSchedules { .. })));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ChainedScheduler {
    /// The schedules, applied in this order at every step (PyTorch's `schedulers`); at least
    /// one, each valid.
    pub schedules: Vec<Box<dyn Schedule>>,
}

impl ChainedScheduler {
    /// Chains `schedules`, applied in this order at every step.
    pub fn new(schedules: Vec<Box<dyn Schedule>>) -> Self {
        ChainedScheduler { schedules }
    }

    /// Sets `schedules`: the schedules, applied in this order at every step.
    #[must_use]
    pub fn schedules(mut self, schedules: Vec<Box<dyn Schedule>>) -> Self {
        self.schedules = schedules;
        self
    }

    /// Every schedule's recursive step at `epoch`, in turn (checked by the caller).
    fn chain(&self, base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        self.schedules
            .iter()
            .try_fold(lr, |lr, schedule| schedule.next_lr(base_lr, lr, epoch))
    }
}

impl Schedule for ChainedScheduler {
    fn name(&self) -> &'static str {
        "ChainedScheduler"
    }
    fn validate(&self) -> Result<(), Error> {
        let _depth = Nesting::enter("ChainedScheduler")?;
        if self.schedules.is_empty() {
            return Err(Error::NoSchedules {
                schedule: "ChainedScheduler",
            });
        }
        self.schedules.iter().try_for_each(|s| s.validate())
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
        let mut lr = self.chain(base_lr, base_lr, 0)?;
        for k in 1..=epoch {
            lr = self.chain(base_lr, lr, k)?;
        }
        Ok(lr)
    }
    fn next_lr(&self, base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
        self.chain(base_lr, lr, epoch)
    }
    fn momentum(&self, epoch: u64) -> Result<Option<f64>, Error> {
        self.validate()?;
        let mut momentum = None;
        for schedule in &self.schedules {
            if let Some(m) = schedule.momentum(epoch)? {
                momentum = Some(m);
            }
        }
        Ok(momentum)
    }
    fn for_group(&self, group: usize, groups: usize) -> Result<Box<dyn Schedule>, Error> {
        self.validate()?;
        let schedules = self
            .schedules
            .iter()
            .map(|s| s.for_group(group, groups))
            .collect::<Result<_, _>>()?;
        Ok(Box::new(ChainedScheduler::new(schedules)))
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(self.clone())
    }
}

/// How deep compositions may nest (a `SequentialLr` of `ChainedScheduler`s of …): far beyond
/// any real schedule, and shallow enough that validating and evaluating, which recurse through
/// the nesting, cannot overflow the stack.
const MAX_NESTING: usize = 64;

thread_local! {
    static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One level of composition being validated; refuses to go deeper than [`MAX_NESTING`].
struct Nesting;

impl Nesting {
    fn enter(schedule: &'static str) -> Result<Nesting, Error> {
        let depth = DEPTH.with(|d| d.get());
        if depth >= MAX_NESTING {
            return Err(Error::InvalidHyperparameter {
                name: "schedules",
                value: depth as f64,
                requirement: if schedule == "SequentialLR" {
                    "SequentialLR: compositions may nest at most 64 deep"
                } else {
                    "ChainedScheduler: compositions may nest at most 64 deep"
                },
            });
        }
        DEPTH.with(|d| d.set(depth + 1));
        Ok(Nesting)
    }
}

impl Drop for Nesting {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get() - 1));
    }
}
