//! The multiplicative schedules: step, multi-step, constant, linear, exponential, polynomial,
//! lambda and multiplicative.

use std::fmt;
use std::sync::Arc;

use super::{Schedule, at_least_one, check_milestones, checked};
use crate::builder::config;
use crate::check;
use crate::error::Error;

config! {
    /// Multiplies the learning rate by `γ` every `step_size` epochs: PyTorch's
    /// `torch.optim.lr_scheduler.StepLR`.
    ///
    /// ```text
    /// f(k) = B · γ^⌊k / step_size⌋
    /// step: lr ← lr · γ   when k is a positive multiple of step_size
    /// ```
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `step_size` | required ([`new`](StepLr::new)) | `≥ 1` |
    /// | `gamma` | `0.1` | `> 0` (`> 1` grows the learning rate) |
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{Schedule, StepLr};
    /// use ndarray_optim::Error;
    ///
    /// let schedule = StepLr::new(2).gamma(0.5);
    /// let lrs: Vec<f64> = (0..5).map(|k| schedule.lr(1.0, k)).collect::<Result<_, _>>()?;
    /// assert_eq!(lrs, [1.0, 1.0, 0.5, 0.5, 0.25]);
    /// // Checked when attached or evaluated, not when set:
    /// assert!(matches!(
    ///     StepLr::new(0).validate(),
    ///     Err(Error::InvalidHyperparameter { name: "step_size", .. })
    /// ));
    /// assert!(StepLr::new(5).gamma(0.0).lr(1.0, 3).is_err());
    /// # Ok::<(), Error>(())
    /// ```
    #[derive(Copy)]
    pub struct StepLr {
        /// Period of the decay, in epochs.
        step_size: u64,
        /// Multiplicative factor `γ` of the decay.
        gamma: f64 = 0.1,
    }
}

impl StepLr {
    /// Decays every `step_size` epochs, by PyTorch's default `γ = 0.1`.
    pub fn new(step_size: u64) -> Self {
        StepLr::from_required(step_size)
    }
}

impl Schedule for StepLr {
    fn name(&self) -> &'static str {
        "StepLR"
    }
    fn validate(&self) -> Result<(), Error> {
        at_least_one("step_size", self.step_size)?;
        check::positive("gamma", self.gamma)
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
        let value = base_lr * self.gamma.powf((epoch / self.step_size) as f64);
        checked(self.name(), epoch, "lr", value)
    }
    fn next_lr(&self, _base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
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

config! {
    /// Multiplies the learning rate by `γ` at each milestone: PyTorch's
    /// `torch.optim.lr_scheduler.MultiStepLR`.
    ///
    /// ```text
    /// f(k) = B · γ^(number of milestones ≤ k)
    /// step: lr ← lr · γ^(number of milestones equal to k)
    /// ```
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `milestones` | required ([`new`](MultiStepLr::new)) | not decreasing |
    /// | `gamma` | `0.1` | `> 0` |
    ///
    /// A repeated milestone counts as many times as it appears, and a milestone at 0 already
    /// applies at epoch 0 (both as in PyTorch); no milestone at all keeps `B`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{MultiStepLr, Schedule};
    /// use ndarray_optim::Error;
    ///
    /// let schedule = MultiStepLr::new(vec![1, 3, 3]).gamma(0.5); // 3 counts twice
    /// let lrs: Vec<f64> = (0..4).map(|k| schedule.lr(1.0, k)).collect::<Result<_, _>>()?;
    /// assert_eq!(lrs, [1.0, 0.5, 0.5, 0.125]);
    /// assert!(matches!(
    ///     MultiStepLr::new(vec![3, 1]).validate(),
    ///     Err(Error::MilestonesOutOfOrder { index: 1, milestone: 1, previous: 3, .. })
    /// ));
    /// # Ok::<(), Error>(())
    /// ```
    pub struct MultiStepLr {
        /// The epochs at which the learning rate is multiplied by `γ`, in order.
        milestones: Vec<u64>,
        /// Multiplicative factor `γ` of the decay.
        gamma: f64 = 0.1,
    }
}

impl MultiStepLr {
    /// Decays at each of `milestones`, by PyTorch's default `γ = 0.1`.
    pub fn new(milestones: Vec<u64>) -> Self {
        MultiStepLr::from_required(milestones)
    }
}

impl Schedule for MultiStepLr {
    fn name(&self) -> &'static str {
        "MultiStepLR"
    }
    fn validate(&self) -> Result<(), Error> {
        check_milestones("MultiStepLR", &self.milestones)?;
        check::positive("gamma", self.gamma)
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
        let passed = self.milestones.partition_point(|&m| m <= epoch);
        checked(
            self.name(),
            epoch,
            "lr",
            base_lr * self.gamma.powf(passed as f64),
        )
    }
    fn next_lr(&self, _base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
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

config! {
    /// Multiplies the learning rate by a constant `factor` for the first `total_iters` epochs:
    /// PyTorch's `torch.optim.lr_scheduler.ConstantLR`.
    ///
    /// ```text
    /// f(k) = B · factor             for k < total_iters
    ///      = B · (factor + (1 − factor))   from total_iters on (= B up to rounding)
    /// step: lr ← lr · factor at k = 0 (attaching), lr ← lr · (1/factor) at k = total_iters
    /// ```
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `factor` | `1/3` | `(0, 1]` (PyTorch: `[0, 1]`, then divides by zero) |
    /// | `total_iters` | `5` | `≥ 1` (PyTorch: `≥ 0`, then never restores the learning rate) |
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{ConstantLr, Schedule};
    ///
    /// let schedule = ConstantLr::default().factor(0.5).total_iters(4);
    /// assert_eq!(schedule.lr(0.05, 3)?, 0.025);
    /// assert_eq!(schedule.lr(0.05, 4)?, 0.05);
    /// let defaults = ConstantLr::default(); // PyTorch's: a third for 5 epochs
    /// assert!((defaults.lr(0.3, 4)? - 0.1).abs() < 1e-15);
    /// assert!(ConstantLr::default().factor(0.0).validate().is_err());
    /// assert!(ConstantLr::default().total_iters(0).validate().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    #[derive(Copy)]
    pub struct ConstantLr {
        /// The factor the learning rate is multiplied by until `total_iters`.
        factor: f64 = 1.0 / 3.0,
        /// The number of epochs the factor applies for.
        total_iters: u64 = 5,
    }
}

impl Schedule for ConstantLr {
    fn name(&self) -> &'static str {
        "ConstantLR"
    }
    fn validate(&self) -> Result<(), Error> {
        check::require(
            self.factor > 0.0 && self.factor <= 1.0,
            "factor",
            self.factor,
            "must be in (0, 1]",
        )?;
        at_least_one("total_iters", self.total_iters)
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
        // PyTorch: B * (factor + (k >= total_iters) * (1 - factor)).
        let reached = if epoch >= self.total_iters {
            1.0 - self.factor
        } else {
            0.0
        };
        checked(self.name(), epoch, "lr", base_lr * (self.factor + reached))
    }
    fn next_lr(&self, _base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
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

config! {
    /// Moves the learning-rate factor linearly from `start_factor` to `end_factor` over
    /// `total_iters` epochs (a linear warmup, or a linear decay): PyTorch's
    /// `torch.optim.lr_scheduler.LinearLR`.
    ///
    /// ```text
    /// f(k) = B · (s + (e − s) · min(k, n) / n)          s = start_factor, e = end_factor, n = total_iters
    /// step: lr ← lr · s at k = 0;  lr ← lr · (1 + (e − s) / (n·s + (k − 1)·(e − s))) for 1 ≤ k ≤ n
    /// ```
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `start_factor` | `1/3` | `(0, 1]` |
    /// | `end_factor` | `1` | `[0, 1]` |
    /// | `total_iters` | `5` | `≥ 1` |
    ///
    /// The warmup starts at `B·s`, never at 0 (see [`Warmup`](super::Warmup) for a warmup from
    /// 0).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{LinearLr, Schedule};
    ///
    /// let warmup = LinearLr::default().start_factor(0.1).total_iters(10);
    /// assert_eq!(warmup.lr(1.0, 0)?, 0.1);
    /// assert!((warmup.lr(1.0, 5)? - 0.55).abs() < 1e-15);
    /// assert_eq!(warmup.lr(1.0, 10)?, 1.0);
    /// assert_eq!(warmup.lr(1.0, 99)?, 1.0);
    ///
    /// let decay = LinearLr::default().start_factor(1.0).end_factor(0.5).total_iters(4);
    /// assert_eq!(decay.lr(1.0, 2)?, 0.75);
    /// assert!(LinearLr::default().start_factor(0.0).validate().is_err()); // in (0, 1]
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    #[derive(Copy)]
    pub struct LinearLr {
        /// The factor of the base learning rate at epoch 0, `s`.
        start_factor: f64 = 1.0 / 3.0,
        /// The factor of the base learning rate from epoch `total_iters` on, `e`.
        end_factor: f64 = 1.0,
        /// The number of epochs from `s` to `e`, `n`.
        total_iters: u64 = 5,
    }
}

impl Schedule for LinearLr {
    fn name(&self) -> &'static str {
        "LinearLR"
    }
    fn validate(&self) -> Result<(), Error> {
        check::require(
            self.start_factor > 0.0 && self.start_factor <= 1.0,
            "start_factor",
            self.start_factor,
            "must be in (0, 1]",
        )?;
        check::unit("end_factor", self.end_factor)?;
        at_least_one("total_iters", self.total_iters)
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
        let (s, e, n) = (self.start_factor, self.end_factor, self.total_iters);
        let value = base_lr * (s + (e - s) * epoch.min(n) as f64 / n as f64);
        checked(self.name(), epoch, "lr", value)
    }
    fn next_lr(&self, _base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
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

config! {
    /// Multiplies the learning rate by `γ` every epoch: PyTorch's
    /// `torch.optim.lr_scheduler.ExponentialLR`.
    ///
    /// ```text
    /// f(k) = B · γ^k
    /// step: lr ← lr · γ
    /// ```
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `gamma` | required ([`new`](ExponentialLr::new)) | `> 0` |
    ///
    /// With `γ > 1` the learning rate grows until it overflows, which is an
    /// [`Error::InvalidScheduledValue`] at that step.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{ExponentialLr, Schedule};
    ///
    /// let schedule = ExponentialLr::new(0.5);
    /// assert_eq!(schedule.lr(1.0, 3)?, 0.125);
    /// assert!(ExponentialLr::new(-0.5).validate().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    #[derive(Copy)]
    pub struct ExponentialLr {
        /// Multiplicative factor `γ` of the decay, applied every epoch.
        gamma: f64,
    }
}

impl ExponentialLr {
    /// Decays by `gamma` every epoch.
    pub fn new(gamma: f64) -> Self {
        ExponentialLr::from_required(gamma)
    }
}

impl Schedule for ExponentialLr {
    fn name(&self) -> &'static str {
        "ExponentialLR"
    }
    fn validate(&self) -> Result<(), Error> {
        check::positive("gamma", self.gamma)
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
        checked(
            self.name(),
            epoch,
            "lr",
            base_lr * self.gamma.powf(epoch as f64),
        )
    }
    fn next_lr(&self, _base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
        let value = if epoch == 0 { lr } else { lr * self.gamma };
        checked(self.name(), epoch, "lr", value)
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(*self)
    }
}

config! {
    /// Decays the learning rate polynomially to 0 over `total_iters` epochs: PyTorch's
    /// `torch.optim.lr_scheduler.PolynomialLR`.
    ///
    /// ```text
    /// f(k) = B · (1 − min(k, n) / n)^power                 n = total_iters
    /// step: lr ← lr · ((1 − k/n) / (1 − (k − 1)/n))^power   for 1 ≤ k ≤ n
    /// ```
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `total_iters` | `5` | `≥ 1` |
    /// | `power` | `1` (a linear decay) | `≥ 0` (0 keeps `B`) |
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{PolynomialLr, Schedule};
    ///
    /// let schedule = PolynomialLr::default().total_iters(4).power(2.0);
    /// assert_eq!(schedule.lr(1.0, 2)?, 0.25);
    /// assert_eq!(schedule.lr(1.0, 4)?, 0.0);
    /// assert_eq!(schedule.lr(1.0, 40)?, 0.0);
    /// assert!((PolynomialLr::default().lr(1.0, 1)? - 0.8).abs() < 1e-15); // PyTorch's defaults
    /// assert!(PolynomialLr::default().power(-1.0).validate().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    #[derive(Copy)]
    pub struct PolynomialLr {
        /// The number of epochs to 0, `n`.
        total_iters: u64 = 5,
        /// The exponent of the decay.
        power: f64 = 1.0,
    }
}

impl Schedule for PolynomialLr {
    fn name(&self) -> &'static str {
        "PolynomialLR"
    }
    fn validate(&self) -> Result<(), Error> {
        at_least_one("total_iters", self.total_iters)?;
        check::non_negative("power", self.power)
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
        let n = self.total_iters;
        let value = base_lr * (1.0 - epoch.min(n) as f64 / n as f64).powf(self.power);
        checked(self.name(), epoch, "lr", value)
    }
    fn next_lr(&self, _base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
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

/// A learning-rate factor `λ(k)` of the epoch, as [`LambdaLr`] and [`MultiplicativeLr`] hold
/// it (PyTorch's `lr_lambda`).
pub type LrLambda = Arc<dyn Fn(u64) -> f64 + Send + Sync>;

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
/// assert!(LambdaLr::new(|_| f64::NAN).lr(0.1, 0).is_err());
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct LambdaLr {
    /// The factor `λ(k)` of the base learning rate at epoch `k`.
    pub lr_lambda: LrLambda,
}

impl LambdaLr {
    /// `lr_lambda(epoch)` times the base learning rate.
    pub fn new(lr_lambda: impl Fn(u64) -> f64 + Send + Sync + 'static) -> Self {
        LambdaLr {
            lr_lambda: Arc::new(lr_lambda),
        }
    }

    /// Sets `lr_lambda`: the factor `λ(k)` of the base learning rate at epoch `k`.
    #[must_use]
    pub fn lr_lambda(mut self, lr_lambda: impl Fn(u64) -> f64 + Send + Sync + 'static) -> Self {
        self.lr_lambda = Arc::new(lr_lambda);
        self
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
    /// Nothing to check before evaluating `λ`: each value it returns is checked.
    fn validate(&self) -> Result<(), Error> {
        Ok(())
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
///
/// let schedule = MultiplicativeLr::new(|k| if k % 2 == 0 { 0.5 } else { 1.0 });
/// let lrs: Vec<f64> = (0..5).map(|k| schedule.lr(1.0, k)).collect::<Result<_, _>>()?;
/// assert_eq!(lrs, [1.0, 1.0, 0.5, 0.5, 0.25]); // λ(0) is not applied: attaching leaves lr
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct MultiplicativeLr {
    /// The factor `λ(k)` the learning rate is multiplied by at step `k`.
    pub lr_lambda: LrLambda,
}

impl MultiplicativeLr {
    /// Multiplies the learning rate by `lr_lambda(epoch)` at each step.
    pub fn new(lr_lambda: impl Fn(u64) -> f64 + Send + Sync + 'static) -> Self {
        MultiplicativeLr {
            lr_lambda: Arc::new(lr_lambda),
        }
    }

    /// Sets `lr_lambda`: the factor `λ(k)` the learning rate is multiplied by at step `k`.
    #[must_use]
    pub fn lr_lambda(mut self, lr_lambda: impl Fn(u64) -> f64 + Send + Sync + 'static) -> Self {
        self.lr_lambda = Arc::new(lr_lambda);
        self
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
    /// Nothing to check before evaluating `λ`: each value it returns is checked.
    fn validate(&self) -> Result<(), Error> {
        Ok(())
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
