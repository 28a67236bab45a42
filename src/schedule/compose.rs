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
/// Needs one milestone fewer than schedules, milestones that do not decrease, and no
/// milestone at 0.
///
/// # Example
///
/// Linear warmup over 5 epochs, then cosine annealing over 20 (PyTorch's usual recipe):
///
/// ```
/// use ndarray_optim::schedule::{CosineAnnealingLr, LinearLr, Schedule, SequentialLr};
/// use ndarray_optim::{Optimizer, Sgd};
///
/// let schedule = SequentialLr::new(
///     vec![Box::new(LinearLr::new(0.1, 1.0, 5)?), Box::new(CosineAnnealingLr::new(20, 0.0)?)],
///     vec![5],
/// )?;
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
#[derive(Clone, Debug)]
pub struct SequentialLr {
    schedules: Vec<Box<dyn Schedule>>,
    milestones: Vec<u64>,
}

impl SequentialLr {
    /// `schedules[i]` takes over at `milestones[i − 1]`.
    ///
    /// # Errors
    ///
    /// [`Error::NoSchedules`] if `schedules` is empty; [`Error::MilestoneCountMismatch`] unless
    /// there is one milestone fewer than schedules; [`Error::MilestonesOutOfOrder`] if they
    /// decrease; [`Error::InvalidHyperparameter`] for a milestone at 0.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{ConstantLr, ExponentialLr, Schedule, SequentialLr};
    /// use ndarray_optim::Error;
    ///
    /// let schedule = SequentialLr::new(
    ///     vec![Box::new(ConstantLr::new(0.1, 2)?), Box::new(ExponentialLr::new(0.5)?)],
    ///     vec![2],
    /// )?;
    /// let lrs: Vec<f64> = (0..5).map(|k| schedule.lr(1.0, k)).collect::<Result<_, _>>()?;
    /// assert_eq!(lrs, [0.1, 0.1, 1.0, 0.5, 0.25]); // the second restarts at its epoch 0 at epoch 2
    ///
    /// let two: Vec<Box<dyn Schedule>> = vec![Box::new(ExponentialLr::new(0.5)?); 2];
    /// assert!(matches!(
    ///     SequentialLr::new(two.clone(), vec![]),
    ///     Err(Error::MilestoneCountMismatch { schedules: 2, milestones: 0 })
    /// ));
    /// assert!(SequentialLr::new(two, vec![0]).is_err()); // no milestone at 0
    /// assert!(matches!(SequentialLr::new(vec![], vec![]), Err(Error::NoSchedules { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn new(schedules: Vec<Box<dyn Schedule>>, milestones: Vec<u64>) -> Result<Self, Error> {
        if schedules.is_empty() {
            return Err(Error::NoSchedules {
                schedule: "SequentialLR",
            });
        }
        if milestones.len() + 1 != schedules.len() {
            return Err(Error::MilestoneCountMismatch {
                schedules: schedules.len(),
                milestones: milestones.len(),
            });
        }
        super::check_milestones("SequentialLR", &milestones)?;
        if milestones.first() == Some(&0) {
            return Err(Error::InvalidHyperparameter {
                name: "milestones",
                value: 0.0,
                requirement: "must be >= 1",
            });
        }
        Ok(SequentialLr {
            schedules,
            milestones,
        })
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
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        match self.segment(epoch) {
            (schedule, local, None) => schedule.lr(base_lr, local),
            (schedule, local, Some(start)) => {
                // Milestones are ≥ 1, so the epoch before the restart exists.
                let before = || self.lr(base_lr, start - 1);
                schedule.lr_after_restart(base_lr, &before, local)
            }
        }
    }
    fn next_lr(&self, base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        match self.segment(epoch) {
            // PyTorch's constructor resets the learning rate to the base first.
            (schedule, 0, None) => schedule.next_lr(base_lr, base_lr, 0),
            (schedule, 0, Some(_)) => schedule.restart_lr(base_lr, lr),
            (schedule, local, _) => schedule.next_lr(base_lr, lr, local),
        }
    }
    fn momentum(&self, epoch: u64) -> Result<Option<f64>, Error> {
        let (schedule, local, _) = self.segment(epoch);
        schedule.momentum(local)
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
/// `ConstantLr(0.1, 2)` chained with `ExponentialLr(0.9)` gives `B·(0.1 if k < 2 else 1)·0.9^k`.
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
/// let chained = ChainedScheduler::new(vec![
///     Box::new(ConstantLr::new(0.1, 2)?),
///     Box::new(ExponentialLr::new(0.9)?),
/// ])?;
/// assert_eq!(chained.lr(1.0, 0)?, 0.1);
/// assert!((chained.lr(1.0, 1)? - 0.09).abs() < 1e-15);
/// assert!((chained.lr(1.0, 2)? - 0.81).abs() < 1e-15);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ChainedScheduler {
    schedules: Vec<Box<dyn Schedule>>,
}

impl ChainedScheduler {
    /// Chain `schedules`, applied in this order at every step.
    ///
    /// # Errors
    ///
    /// [`Error::NoSchedules`] if `schedules` is empty.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{ChainedScheduler, ExponentialLr, Schedule, StepLr};
    /// use ndarray_optim::Error;
    ///
    /// let chained = ChainedScheduler::new(vec![
    ///     Box::new(ExponentialLr::new(0.9)?),
    ///     Box::new(StepLr::new(2, 0.5)?),
    /// ])?;
    /// assert!((chained.lr(1.0, 2)? - 0.9 * 0.9 * 0.5).abs() < 1e-15); // the factors multiply
    /// assert!(matches!(ChainedScheduler::new(vec![]), Err(Error::NoSchedules { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn new(schedules: Vec<Box<dyn Schedule>>) -> Result<Self, Error> {
        if schedules.is_empty() {
            return Err(Error::NoSchedules {
                schedule: "ChainedScheduler",
            });
        }
        Ok(ChainedScheduler { schedules })
    }
}

impl Schedule for ChainedScheduler {
    fn name(&self) -> &'static str {
        "ChainedScheduler"
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        let mut lr = self.next_lr(base_lr, base_lr, 0)?;
        for k in 1..=epoch {
            lr = self.next_lr(base_lr, lr, k)?;
        }
        Ok(lr)
    }
    fn next_lr(&self, base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        self.schedules
            .iter()
            .try_fold(lr, |lr, schedule| schedule.next_lr(base_lr, lr, epoch))
    }
    fn momentum(&self, epoch: u64) -> Result<Option<f64>, Error> {
        let mut momentum = None;
        for schedule in &self.schedules {
            if let Some(m) = schedule.momentum(epoch)? {
                momentum = Some(m);
            }
        }
        Ok(momentum)
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(self.clone())
    }
}
