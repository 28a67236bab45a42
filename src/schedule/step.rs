//! The multiplicative schedules: step, multi-step, constant, linear, exponential, polynomial,
//! lambda and multiplicative.

use std::fmt;
use std::sync::Arc;

use super::{Schedule, at_least_one, check_milestones, checked};
use crate::check;
use crate::error::Error;

/// Multiplies the learning rate by `γ` every `step_size` epochs: PyTorch's
/// `torch.optim.lr_scheduler.StepLR`.
///
/// ```text
/// f(k) = B · γ^⌊k / step_size⌋
/// step: lr ← lr · γ   when k is a positive multiple of step_size
/// ```
///
/// PyTorch's default is `γ = 0.1`. `step_size ≥ 1`, `γ > 0` (`γ > 1` grows the learning rate).
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{Schedule, StepLr};
///
/// let schedule = StepLr::new(30, 0.1)?; // lr = 0.05 for epochs 0..30, 0.005 for 30..60, …
/// assert_eq!(schedule.lr(0.05, 29)?, 0.05);
/// assert_eq!(schedule.lr(0.05, 30)?, 0.05 * 0.1);
/// assert!(StepLr::new(0, 0.1).is_err() && StepLr::new(5, 0.0).is_err());
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepLr {
    step_size: u64,
    gamma: f64,
}

impl StepLr {
    /// Decay by `gamma` every `step_size` epochs.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `step_size` is 0 or `gamma` is not a finite number
    /// `> 0`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{Schedule, StepLr};
    /// use ndarray_optim::Error;
    ///
    /// let schedule = StepLr::new(2, 0.5)?;
    /// let lrs: Vec<f64> = (0..5).map(|k| schedule.lr(1.0, k)).collect::<Result<_, _>>()?;
    /// assert_eq!(lrs, [1.0, 1.0, 0.5, 0.5, 0.25]);
    /// assert!(matches!(
    ///     StepLr::new(0, 0.5),
    ///     Err(Error::InvalidHyperparameter { name: "step_size", .. })
    /// ));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn new(step_size: u64, gamma: f64) -> Result<Self, Error> {
        at_least_one("step_size", step_size)?;
        check::positive("gamma", gamma)?;
        Ok(StepLr { step_size, gamma })
    }
}

impl Schedule for StepLr {
    fn name(&self) -> &'static str {
        "StepLR"
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        let value = base_lr * self.gamma.powf((epoch / self.step_size) as f64);
        checked(self.name(), epoch, "lr", value)
    }
    fn next_lr(&self, _base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        let value = if epoch == 0 || !epoch.is_multiple_of(self.step_size) {
            lr
        } else {
            lr * self.gamma
        };
        checked(self.name(), epoch, "lr", value)
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(*self)
    }
}

/// Multiplies the learning rate by `γ` at each milestone: PyTorch's
/// `torch.optim.lr_scheduler.MultiStepLR`.
///
/// ```text
/// f(k) = B · γ^(number of milestones ≤ k)
/// step: lr ← lr · γ^(number of milestones equal to k)
/// ```
///
/// PyTorch's default is `γ = 0.1`. The milestones must not decrease; a repeated milestone
/// counts as many times as it appears, and a milestone at 0 already applies at epoch 0 (both as
/// in PyTorch). `γ > 0`.
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{MultiStepLr, Schedule};
///
/// let schedule = MultiStepLr::new(vec![30, 80], 0.1)?;
/// assert_eq!(schedule.lr(0.05, 29)?, 0.05);
/// assert_eq!(schedule.lr(0.05, 30)?, 0.05 * 0.1);
/// assert_eq!(schedule.lr(0.05, 80)?, 0.05 * 0.1f64.powf(2.0));
/// assert!(MultiStepLr::new(vec![80, 30], 0.1).is_err()); // out of order
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MultiStepLr {
    milestones: Vec<u64>,
    gamma: f64,
}

impl MultiStepLr {
    /// Decay by `gamma` at each of `milestones`.
    ///
    /// # Errors
    ///
    /// [`Error::MilestonesOutOfOrder`] if a milestone is smaller than the one before it;
    /// [`Error::InvalidHyperparameter`] if `gamma` is not a finite number `> 0`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{MultiStepLr, Schedule};
    /// use ndarray_optim::Error;
    ///
    /// let schedule = MultiStepLr::new(vec![1, 3, 3], 0.5)?; // a repeated milestone counts twice
    /// let lrs: Vec<f64> = (0..4).map(|k| schedule.lr(1.0, k)).collect::<Result<_, _>>()?;
    /// assert_eq!(lrs, [1.0, 0.5, 0.5, 0.125]);
    /// assert!(matches!(MultiStepLr::new(vec![3, 1], 0.5), Err(Error::MilestonesOutOfOrder { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn new(milestones: Vec<u64>, gamma: f64) -> Result<Self, Error> {
        check_milestones("MultiStepLR", &milestones)?;
        check::positive("gamma", gamma)?;
        Ok(MultiStepLr { milestones, gamma })
    }
}

impl Schedule for MultiStepLr {
    fn name(&self) -> &'static str {
        "MultiStepLR"
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        let passed = self.milestones.partition_point(|&m| m <= epoch);
        checked(
            self.name(),
            epoch,
            "lr",
            base_lr * self.gamma.powf(passed as f64),
        )
    }
    fn next_lr(&self, _base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        let hits = self.milestones.iter().filter(|&&m| m == epoch).count();
        let value = if hits == 0 {
            lr
        } else {
            lr * self.gamma.powf(hits as f64)
        };
        checked(self.name(), epoch, "lr", value)
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(self.clone())
    }
}

/// Multiplies the learning rate by a constant `factor` for the first `total_iters` epochs:
/// PyTorch's `torch.optim.lr_scheduler.ConstantLR`.
///
/// ```text
/// f(k) = B · factor             for k < total_iters
///      = B · (factor + (1 − factor))   from total_iters on (= B up to rounding)
/// step: lr ← lr · factor at k = 0 (attaching), lr ← lr · (1/factor) at k = total_iters
/// ```
///
/// PyTorch's defaults: `factor = 1/3`, `total_iters = 5`. Here `0 < factor ≤ 1` and
/// `total_iters ≥ 1` (PyTorch also accepts 0 for both, then divides by zero or never restores
/// the learning rate).
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{ConstantLr, Schedule};
///
/// let schedule = ConstantLr::new(0.5, 4)?;
/// assert_eq!(schedule.lr(0.05, 3)?, 0.025);
/// assert_eq!(schedule.lr(0.05, 4)?, 0.05);
/// assert!(ConstantLr::new(0.0, 4).is_err() && ConstantLr::new(1.5, 4).is_err());
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConstantLr {
    factor: f64,
    total_iters: u64,
}

impl ConstantLr {
    /// Scale by `factor` until epoch `total_iters`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `factor` is not in `(0, 1]` or `total_iters` is 0.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{ConstantLr, Schedule};
    ///
    /// let schedule = ConstantLr::new(1.0 / 3.0, 5)?; // PyTorch's defaults
    /// assert!((schedule.lr(0.3, 4)? - 0.1).abs() < 1e-15);
    /// assert!((schedule.lr(0.3, 5)? - 0.3).abs() < 1e-15);
    /// assert!(ConstantLr::new(0.5, 0).is_err()); // total_iters ≥ 1
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(factor: f64, total_iters: u64) -> Result<Self, Error> {
        if !(factor > 0.0 && factor <= 1.0) {
            return Err(Error::InvalidHyperparameter {
                name: "factor",
                value: factor,
                requirement: "must be in (0, 1]",
            });
        }
        at_least_one("total_iters", total_iters)?;
        Ok(ConstantLr {
            factor,
            total_iters,
        })
    }
}

impl Schedule for ConstantLr {
    fn name(&self) -> &'static str {
        "ConstantLR"
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        // PyTorch: B * (factor + (k >= total_iters) * (1 - factor)).
        let reached = if epoch >= self.total_iters {
            1.0 - self.factor
        } else {
            0.0
        };
        checked(self.name(), epoch, "lr", base_lr * (self.factor + reached))
    }
    fn next_lr(&self, _base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        let value = if epoch == 0 {
            lr * self.factor
        } else if epoch != self.total_iters {
            lr
        } else {
            lr * (1.0 / self.factor)
        };
        checked(self.name(), epoch, "lr", value)
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(*self)
    }
}

/// Moves the learning-rate factor linearly from `start_factor` to `end_factor` over
/// `total_iters` epochs (a linear warmup, or a linear decay): PyTorch's
/// `torch.optim.lr_scheduler.LinearLR`.
///
/// ```text
/// f(k) = B · (s + (e − s) · min(k, n) / n)          s = start_factor, e = end_factor, n = total_iters
/// step: lr ← lr · s at k = 0;  lr ← lr · (1 + (e − s) / (n·s + (k − 1)·(e − s))) for 1 ≤ k ≤ n
/// ```
///
/// PyTorch's defaults: `s = 1/3`, `e = 1`, `n = 5`; `0 < s ≤ 1`, `0 ≤ e ≤ 1`, `n ≥ 1`. The
/// warmup starts at `B·s`, never at 0 (see [`Warmup`](super::Warmup) for a warmup from 0).
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{LinearLr, Schedule};
///
/// let warmup = LinearLr::new(0.1, 1.0, 10)?;
/// assert_eq!(warmup.lr(1.0, 0)?, 0.1);
/// assert!((warmup.lr(1.0, 5)? - 0.55).abs() < 1e-15);
/// assert_eq!(warmup.lr(1.0, 10)?, 1.0);
/// assert_eq!(warmup.lr(1.0, 99)?, 1.0);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearLr {
    start_factor: f64,
    end_factor: f64,
    total_iters: u64,
}

impl LinearLr {
    /// From `start_factor · B` to `end_factor · B` over `total_iters` epochs.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `start_factor` is not in `(0, 1]`, `end_factor` not
    /// in `[0, 1]`, or `total_iters` is 0.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{LinearLr, Schedule};
    ///
    /// let decay = LinearLr::new(1.0, 0.5, 4)?; // a linear decay to half
    /// assert_eq!(decay.lr(1.0, 2)?, 0.75);
    /// assert_eq!(decay.lr(1.0, 8)?, 0.5);
    /// assert!(LinearLr::new(0.0, 1.0, 4).is_err()); // start_factor in (0, 1]
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(start_factor: f64, end_factor: f64, total_iters: u64) -> Result<Self, Error> {
        if !(start_factor > 0.0 && start_factor <= 1.0) {
            return Err(Error::InvalidHyperparameter {
                name: "start_factor",
                value: start_factor,
                requirement: "must be in (0, 1]",
            });
        }
        check::unit("end_factor", end_factor)?;
        at_least_one("total_iters", total_iters)?;
        Ok(LinearLr {
            start_factor,
            end_factor,
            total_iters,
        })
    }
}

impl Schedule for LinearLr {
    fn name(&self) -> &'static str {
        "LinearLR"
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        let (s, e, n) = (self.start_factor, self.end_factor, self.total_iters);
        let value = base_lr * (s + (e - s) * epoch.min(n) as f64 / n as f64);
        checked(self.name(), epoch, "lr", value)
    }
    fn next_lr(&self, _base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        let (s, e, n) = (self.start_factor, self.end_factor, self.total_iters);
        let value = if epoch == 0 {
            lr * s
        } else if epoch > n {
            lr
        } else {
            lr * (1.0 + (e - s) / (n as f64 * s + (epoch - 1) as f64 * (e - s)))
        };
        checked(self.name(), epoch, "lr", value)
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(*self)
    }
}

/// Multiplies the learning rate by `γ` every epoch: PyTorch's
/// `torch.optim.lr_scheduler.ExponentialLR`.
///
/// ```text
/// f(k) = B · γ^k
/// step: lr ← lr · γ
/// ```
///
/// No defaults; `γ > 0`. With `γ > 1` the learning rate grows until it overflows, which is an
/// [`Error::InvalidScheduledValue`] at that step.
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{ExponentialLr, Schedule};
///
/// let schedule = ExponentialLr::new(0.5)?;
/// assert_eq!(schedule.lr(1.0, 3)?, 0.125);
/// assert!(ExponentialLr::new(-0.5).is_err());
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExponentialLr {
    gamma: f64,
}

impl ExponentialLr {
    /// Decay by `gamma` every epoch.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `gamma` is not a finite number `> 0`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{ExponentialLr, Schedule};
    ///
    /// assert!((ExponentialLr::new(0.9)?.lr(1.0, 2)? - 0.81).abs() < 1e-15);
    /// assert!(ExponentialLr::new(0.0).is_err()); // γ > 0
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(gamma: f64) -> Result<Self, Error> {
        check::positive("gamma", gamma)?;
        Ok(ExponentialLr { gamma })
    }
}

impl Schedule for ExponentialLr {
    fn name(&self) -> &'static str {
        "ExponentialLR"
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        checked(
            self.name(),
            epoch,
            "lr",
            base_lr * self.gamma.powf(epoch as f64),
        )
    }
    fn next_lr(&self, _base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        let value = if epoch == 0 { lr } else { lr * self.gamma };
        checked(self.name(), epoch, "lr", value)
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(*self)
    }
}

/// Decays the learning rate polynomially to 0 over `total_iters` epochs: PyTorch's
/// `torch.optim.lr_scheduler.PolynomialLR`.
///
/// ```text
/// f(k) = B · (1 − min(k, n) / n)^power                 n = total_iters
/// step: lr ← lr · ((1 − k/n) / (1 − (k − 1)/n))^power   for 1 ≤ k ≤ n
/// ```
///
/// PyTorch's defaults: `n = 5`, `power = 1`. `n ≥ 1`, `power ≥ 0` (0 keeps `B`).
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{PolynomialLr, Schedule};
///
/// let schedule = PolynomialLr::new(4, 2.0)?;
/// assert_eq!(schedule.lr(1.0, 2)?, 0.25);
/// assert_eq!(schedule.lr(1.0, 4)?, 0.0);
/// assert_eq!(schedule.lr(1.0, 40)?, 0.0);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PolynomialLr {
    total_iters: u64,
    power: f64,
}

impl PolynomialLr {
    /// Decay to 0 over `total_iters` epochs with exponent `power`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `total_iters` is 0 or `power` is not a finite
    /// number `≥ 0`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{PolynomialLr, Schedule};
    ///
    /// let linear = PolynomialLr::new(5, 1.0)?; // PyTorch's defaults: a linear decay to 0
    /// assert!((linear.lr(1.0, 1)? - 0.8).abs() < 1e-15);
    /// assert!(PolynomialLr::new(5, -1.0).is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(total_iters: u64, power: f64) -> Result<Self, Error> {
        at_least_one("total_iters", total_iters)?;
        check::non_negative("power", power)?;
        Ok(PolynomialLr { total_iters, power })
    }
}

impl Schedule for PolynomialLr {
    fn name(&self) -> &'static str {
        "PolynomialLR"
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        let n = self.total_iters;
        let value = base_lr * (1.0 - epoch.min(n) as f64 / n as f64).powf(self.power);
        checked(self.name(), epoch, "lr", value)
    }
    fn next_lr(&self, _base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        let n = self.total_iters as f64;
        let value = if epoch == 0 || epoch > self.total_iters {
            lr
        } else {
            let k = epoch as f64;
            lr * ((1.0 - k / n) / (1.0 - (k - 1.0) / n)).powf(self.power)
        };
        checked(self.name(), epoch, "lr", value)
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(*self)
    }
}

/// A learning-rate factor `λ(k)` given by a closure.
type Lambda = Arc<dyn Fn(u64) -> f64 + Send + Sync>;

/// The base learning rate times any function of the epoch: PyTorch's
/// `torch.optim.lr_scheduler.LambdaLR`.
///
/// ```text
/// f(k) = B · λ(k)
/// ```
///
/// Absolute (each step evaluates `B·λ(k)` afresh), so it overrides whatever the learning rate
/// was, as in PyTorch. A `λ` returning NaN, an infinity or a negative number makes that step an
/// [`Error::InvalidScheduledValue`].
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{LambdaLr, Schedule};
///
/// let schedule = LambdaLr::new(|epoch| 0.95f64.powf(epoch as f64));
/// assert_eq!(schedule.lr(0.1, 0)?, 0.1);
/// assert_eq!(schedule.lr(0.1, 2)?, 0.1 * 0.95f64.powf(2.0));
/// assert!(LambdaLr::new(|_| f64::NAN).lr(0.1, 0).is_err());
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone)]
pub struct LambdaLr {
    lr_lambda: Lambda,
}

impl LambdaLr {
    /// `lr_lambda(epoch)` times the base learning rate.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{LambdaLr, Schedule};
    /// use ndarray_optim::{Optimizer, Sgd};
    ///
    /// // A warmup over 10 epochs, then an inverse-square-root decay.
    /// let schedule = LambdaLr::new(|k| {
    ///     let k = (k + 1) as f64;
    ///     if k <= 10.0 { k / 10.0 } else { (10.0 / k).sqrt() }
    /// });
    /// let mut opt = Sgd::<f32>::new(0.1)?;
    /// let mut sched = schedule.attach(&mut opt)?;
    /// assert!((opt.learning_rate() - 0.01).abs() < 1e-15);
    /// for _ in 0..9 {
    ///     sched.step(&mut opt)?;
    /// }
    /// assert_eq!(opt.learning_rate(), 0.1);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr_lambda: impl Fn(u64) -> f64 + Send + Sync + 'static) -> Self {
        LambdaLr {
            lr_lambda: Arc::new(lr_lambda),
        }
    }
}

impl fmt::Debug for LambdaLr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LambdaLr")
            .field("lr_lambda", &"<closure>")
            .finish()
    }
}

impl Schedule for LambdaLr {
    fn name(&self) -> &'static str {
        "LambdaLR"
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        checked(self.name(), epoch, "lr", base_lr * (self.lr_lambda)(epoch))
    }
    fn next_lr(&self, base_lr: f64, _lr: f64, epoch: u64) -> Result<f64, Error> {
        self.lr(base_lr, epoch)
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(self.clone())
    }
}

/// Multiplies the learning rate by `λ(k)` at every step: PyTorch's
/// `torch.optim.lr_scheduler.MultiplicativeLR`.
///
/// ```text
/// step: lr ← lr · λ(k)         (k ≥ 1; attaching leaves lr as it is)
/// f(k) = B · λ(1) · λ(2) ⋯ λ(k)
/// ```
///
/// PyTorch has no closed form: the pure form multiplies the factors in the same order as the
/// steps (so it is bit-identical to them), in `O(k)` time. When a [`SequentialLr`] makes it
/// current at a milestone, PyTorch multiplies the learning rate held then by `λ(0)`; so does
/// [`Schedule::restart_lr`] here.
///
/// [`SequentialLr`]: super::SequentialLr
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{MultiplicativeLr, Schedule};
/// use ndarray_optim::{Optimizer, Sgd};
///
/// let mut opt = Sgd::<f32>::new(1.0)?;
/// let mut sched = MultiplicativeLr::new(|_| 0.5).attach(&mut opt)?;
/// sched.step(&mut opt)?;
/// sched.step(&mut opt)?;
/// assert_eq!(opt.learning_rate(), 0.25);
/// assert_eq!(sched.lr(2)?, 0.25);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone)]
pub struct MultiplicativeLr {
    lr_lambda: Lambda,
}

impl MultiplicativeLr {
    /// Multiply the learning rate by `lr_lambda(epoch)` at each step.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{MultiplicativeLr, Schedule};
    ///
    /// let schedule = MultiplicativeLr::new(|k| if k % 2 == 0 { 0.5 } else { 1.0 });
    /// let lrs: Vec<f64> = (0..5).map(|k| schedule.lr(1.0, k)).collect::<Result<_, _>>()?;
    /// assert_eq!(lrs, [1.0, 1.0, 0.5, 0.5, 0.25]); // λ(0) is not applied: attaching leaves lr
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr_lambda: impl Fn(u64) -> f64 + Send + Sync + 'static) -> Self {
        MultiplicativeLr {
            lr_lambda: Arc::new(lr_lambda),
        }
    }

    /// `lr · λ(from) · λ(from + 1) ⋯ λ(to)`, in that order.
    fn product(&self, mut lr: f64, from: u64, to: u64) -> f64 {
        for k in from..=to {
            lr *= (self.lr_lambda)(k);
        }
        lr
    }
}

impl fmt::Debug for MultiplicativeLr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiplicativeLr")
            .field("lr_lambda", &"<closure>")
            .finish()
    }
}

impl Schedule for MultiplicativeLr {
    fn name(&self) -> &'static str {
        "MultiplicativeLR"
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        let value = if epoch == 0 {
            base_lr
        } else {
            self.product(base_lr, 1, epoch)
        };
        checked(self.name(), epoch, "lr", value)
    }
    fn next_lr(&self, _base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        let value = if epoch == 0 {
            lr
        } else {
            lr * (self.lr_lambda)(epoch)
        };
        checked(self.name(), epoch, "lr", value)
    }
    fn restart_lr(&self, _base_lr: f64, lr: f64) -> Result<f64, Error> {
        checked(self.name(), 0, "lr", lr * (self.lr_lambda)(0))
    }
    fn lr_after_restart(
        &self,
        _base_lr: f64,
        lr_before: &dyn Fn() -> Result<f64, Error>,
        epoch: u64,
    ) -> Result<f64, Error> {
        let value = self.product(lr_before()?, 0, epoch);
        checked(self.name(), epoch, "lr", value)
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(self.clone())
    }
}
