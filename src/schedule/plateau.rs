//! Reduce the learning rate when a metric stops improving.

use crate::check;
use crate::error::Error;
use crate::float::Float;
use crate::optimizer::Optimizer;

/// Whether a [`ReduceLrOnPlateau`] wants its metric to go down (a loss) or up (an accuracy).
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{PlateauMode, ReduceLrOnPlateau};
///
/// let on_accuracy = ReduceLrOnPlateau::new().with_mode(PlateauMode::Max);
/// assert_eq!(on_accuracy.best(), f64::NEG_INFINITY);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PlateauMode {
    /// Lower is better (PyTorch's default, `"min"`).
    #[default]
    Min,
    /// Higher is better (`"max"`).
    Max,
}

/// How a [`ReduceLrOnPlateau`] measures a significant improvement over the best value.
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{ReduceLrOnPlateau, ThresholdMode};
/// use ndarray_optim::{Optimizer, Sgd};
///
/// // An improvement counts when the loss falls by more than 0.01 in absolute terms.
/// let mut plateau =
///     ReduceLrOnPlateau::new().with_threshold(0.01, ThresholdMode::Abs)?.with_patience(0);
/// let mut opt = Sgd::<f32>::new(1.0)?;
/// plateau.step(&mut opt, 1.0)?;
/// plateau.step(&mut opt, 0.995)?; // lower, but by less than 0.01: a bad epoch
/// assert_eq!(plateau.best(), 1.0);
/// assert_eq!(opt.learning_rate(), 0.1);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ThresholdMode {
    /// Relative: better than `best·(1 − threshold)` (min) or `best·(1 + threshold)` (max)
    /// (PyTorch's default, `"rel"`).
    #[default]
    Rel,
    /// Absolute: better than `best − threshold` (min) or `best + threshold` (max) (`"abs"`).
    Abs,
}

/// Reduces the learning rate when a metric has stopped improving: PyTorch's
/// `torch.optim.lr_scheduler.ReduceLROnPlateau`.
///
/// Each [`step`](ReduceLrOnPlateau::step) takes the epoch's metric and does:
///
/// ```text
/// if metric is better than best (by the threshold):  best ← metric, bad ← 0   else bad ← bad + 1
/// if cooldown_counter > 0:  cooldown_counter ← cooldown_counter − 1, bad ← 0
/// if bad > patience:
///     new ← max(lr · factor, min_lr);  if lr − new > eps: lr ← new
///     cooldown_counter ← cooldown, bad ← 0
/// ```
///
/// PyTorch's defaults (those of [`new`](ReduceLrOnPlateau::new)): mode min, `factor = 0.1`,
/// `patience = 10`, `threshold = 1e-4` relative, `cooldown = 0`, `min_lr = 0`, `eps = 1e-8`.
/// A NaN metric is never better than the best, so it counts as a bad epoch, as in PyTorch.
///
/// It reads and writes the optimizer's learning rate and touches nothing when attached (there is
/// no `attach`: PyTorch's constructor does not change the learning rate either). It is not a
/// [`Schedule`](super::Schedule): it cannot go into a [`SequentialLr`](super::SequentialLr) or
/// a [`ChainedScheduler`](super::ChainedScheduler) (PyTorch refuses that too), but it can step
/// the same optimizer as one.
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::ReduceLrOnPlateau;
/// use ndarray_optim::{Optimizer, Sgd};
///
/// let mut opt = Sgd::<f32>::new(1.0)?;
/// let mut plateau = ReduceLrOnPlateau::new().with_factor(0.5)?.with_patience(2);
/// for val_loss in [10.0, 9.0, 9.0, 9.0, 9.0] {
///     // train an epoch, compute the validation loss, then:
///     plateau.step(&mut opt, val_loss)?;
/// }
/// assert_eq!(opt.learning_rate(), 0.5); // three epochs without improvement > patience 2
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ReduceLrOnPlateau {
    mode: PlateauMode,
    factor: f64,
    patience: u64,
    threshold: f64,
    threshold_mode: ThresholdMode,
    cooldown: u64,
    min_lr: f64,
    eps: f64,
    state: PlateauState,
}

/// The state of a [`ReduceLrOnPlateau`]: plain data, to save with a checkpoint and give back
/// to [`ReduceLrOnPlateau::restore`]. The fields are PyTorch's.
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::ReduceLrOnPlateau;
/// use ndarray_optim::{Optimizer, Sgd};
///
/// let mut opt = Sgd::<f32>::new(0.1)?;
/// let mut plateau = ReduceLrOnPlateau::new();
/// plateau.step(&mut opt, 3.0)?;
/// plateau.step(&mut opt, 3.5)?;
/// let state = plateau.state();
/// assert_eq!((state.last_epoch, state.best, state.num_bad_epochs), (2, Some(3.0), 1));
/// assert_eq!((state.cooldown_counter, state.last_lr), (0, Some(0.1)));
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PlateauState {
    /// The number of steps taken.
    pub last_epoch: u64,
    /// The best metric so far; `None` before the first metric (PyTorch starts from `+∞` in min
    /// mode, `−∞` in max mode, which [`ReduceLrOnPlateau::best`] reports).
    pub best: Option<f64>,
    /// Epochs since the last improvement (reset by a reduction and during cooldown).
    pub num_bad_epochs: u64,
    /// Epochs of cooldown left.
    pub cooldown_counter: u64,
    /// The learning rate after the last step (`None` before the first).
    pub last_lr: Option<f64>,
}

impl Default for ReduceLrOnPlateau {
    fn default() -> Self {
        ReduceLrOnPlateau::new()
    }
}

impl ReduceLrOnPlateau {
    /// PyTorch's defaults: minimise, `factor = 0.1`, `patience = 10`, `threshold = 1e-4`
    /// relative, `cooldown = 0`, `min_lr = 0`, `eps = 1e-8`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::ReduceLrOnPlateau;
    /// use ndarray_optim::{Optimizer, Sgd};
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut plateau = ReduceLrOnPlateau::new();
    /// plateau.step(&mut opt, 2.0)?; // the best so far
    /// for _ in 0..10 {
    ///     plateau.step(&mut opt, 2.0)?; // 10 epochs without improvement: patience 10
    /// }
    /// assert_eq!(opt.learning_rate(), 1.0);
    /// plateau.step(&mut opt, 2.0)?; // the 11th
    /// assert!((opt.learning_rate() - 0.1).abs() < 1e-15); // factor 0.1
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new() -> Self {
        ReduceLrOnPlateau {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
            state: PlateauState {
                last_epoch: 0,
                best: None,
                num_bad_epochs: 0,
                cooldown_counter: 0,
                last_lr: None,
            },
        }
    }

    /// Minimise (a loss, the default) or maximise (an accuracy) the metric. Resets the best
    /// value to the worst one for the mode (what PyTorch starts from).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{PlateauMode, ReduceLrOnPlateau};
    /// use ndarray_optim::{Optimizer, Sgd};
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut plateau = ReduceLrOnPlateau::new().with_mode(PlateauMode::Max).with_patience(0);
    /// plateau.step(&mut opt, 0.80)?; // accuracy
    /// plateau.step(&mut opt, 0.85)?; // higher: better
    /// assert_eq!((plateau.best(), opt.learning_rate()), (0.85, 1.0));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_mode(mut self, mode: PlateauMode) -> Self {
        self.mode = mode;
        self.state.best = None;
        self
    }

    /// Sets the factor the learning rate is multiplied by (default 0.1).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] unless `0 ≤ factor < 1` (PyTorch requires `< 1`).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::ReduceLrOnPlateau;
    /// use ndarray_optim::{Optimizer, Sgd};
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut plateau = ReduceLrOnPlateau::new().with_factor(0.5)?.with_patience(0);
    /// plateau.step(&mut opt, 1.0)?;
    /// plateau.step(&mut opt, 1.0)?; // no improvement
    /// assert_eq!(opt.learning_rate(), 0.5);
    /// assert!(ReduceLrOnPlateau::new().with_factor(1.0).is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_factor(mut self, factor: f64) -> Result<Self, Error> {
        check::beta("factor", factor)?;
        self.factor = factor;
        Ok(self)
    }

    /// Sets how many epochs without improvement are tolerated (default 10): the learning rate
    /// drops at the `patience + 1`-th.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::ReduceLrOnPlateau;
    /// use ndarray_optim::{Optimizer, Sgd};
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut plateau = ReduceLrOnPlateau::new().with_patience(2);
    /// let lrs: Vec<f64> = [5.0, 5.0, 5.0, 5.0]
    ///     .into_iter()
    ///     .map(|loss| plateau.step(&mut opt, loss))
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(lrs[..3], [1.0, 1.0, 1.0]); // two bad epochs are tolerated
    /// assert!((lrs[3] - 0.1).abs() < 1e-15); // the third is not
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_patience(mut self, patience: u64) -> Self {
        self.patience = patience;
        self
    }

    /// Sets what counts as an improvement (default `1e-4`, relative).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `threshold` is not a finite number `≥ 0`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{ReduceLrOnPlateau, ThresholdMode};
    /// use ndarray_optim::Sgd;
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// // An improvement must lower the loss by more than 10 %.
    /// let mut plateau = ReduceLrOnPlateau::new().with_threshold(0.1, ThresholdMode::Rel)?;
    /// plateau.step(&mut opt, 1.0)?;
    /// plateau.step(&mut opt, 0.95)?;
    /// assert_eq!((plateau.best(), plateau.num_bad_epochs()), (1.0, 1));
    /// assert!(ReduceLrOnPlateau::new().with_threshold(-0.1, ThresholdMode::Abs).is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_threshold(
        mut self,
        threshold: f64,
        threshold_mode: ThresholdMode,
    ) -> Result<Self, Error> {
        check::non_negative("threshold", threshold)?;
        self.threshold = threshold;
        self.threshold_mode = threshold_mode;
        Ok(self)
    }

    /// Sets the number of epochs to wait after a reduction before counting bad epochs again
    /// (default 0).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::ReduceLrOnPlateau;
    /// use ndarray_optim::{Optimizer, Sgd};
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut plateau = ReduceLrOnPlateau::new().with_patience(0).with_cooldown(2);
    /// let percent: Vec<f64> = [1.0; 5]
    ///     .into_iter()
    ///     .map(|loss| Ok((plateau.step(&mut opt, loss)? * 100.0).round()))
    ///     .collect::<Result<_, ndarray_optim::Error>>()?;
    /// // Reduced at epoch 2, then two epochs of cooldown before the next reduction.
    /// assert_eq!(percent, [100.0, 10.0, 10.0, 10.0, 1.0]);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_cooldown(mut self, cooldown: u64) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Sets the floor of the learning rate (default 0).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `min_lr` is not a finite number `≥ 0`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::ReduceLrOnPlateau;
    /// use ndarray_optim::{Optimizer, Sgd};
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut plateau = ReduceLrOnPlateau::new().with_patience(0).with_min_lr(0.05)?;
    /// for _ in 0..4 {
    ///     plateau.step(&mut opt, 1.0)?;
    /// }
    /// assert_eq!(opt.learning_rate(), 0.05); // 1 → 0.1 → 0.05, and no lower
    /// assert!(ReduceLrOnPlateau::new().with_min_lr(-0.05).is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_min_lr(mut self, min_lr: f64) -> Result<Self, Error> {
        check::non_negative("min_lr", min_lr)?;
        self.min_lr = min_lr;
        Ok(self)
    }

    /// Sets the smallest change of the learning rate worth making (default `1e-8`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `eps` is not a finite number `≥ 0`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::ReduceLrOnPlateau;
    /// use ndarray_optim::{Optimizer, Sgd};
    ///
    /// // From 1e-8 to 1e-9 is a change of 9e-9, below the default eps 1e-8: not made.
    /// let mut opt = Sgd::<f32>::new(1e-8)?;
    /// let mut plateau = ReduceLrOnPlateau::new().with_patience(0);
    /// plateau.step(&mut opt, 1.0)?;
    /// plateau.step(&mut opt, 1.0)?;
    /// assert_eq!(opt.learning_rate(), 1e-8);
    ///
    /// let mut plateau = ReduceLrOnPlateau::new().with_patience(0).with_eps(0.0)?;
    /// plateau.step(&mut opt, 1.0)?;
    /// plateau.step(&mut opt, 1.0)?;
    /// assert!((opt.learning_rate() - 1e-9).abs() < 1e-24);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn with_eps(mut self, eps: f64) -> Result<Self, Error> {
        check::non_negative("eps", eps)?;
        self.eps = eps;
        Ok(self)
    }

    /// The worst value of the mode, where PyTorch's `best` starts.
    fn worst(&self) -> f64 {
        match self.mode {
            PlateauMode::Min => f64::INFINITY,
            PlateauMode::Max => f64::NEG_INFINITY,
        }
    }

    /// Whether `metric` improves on `best` by the threshold (PyTorch's `_is_better`).
    fn is_better(&self, metric: f64, best: f64) -> bool {
        match (self.mode, self.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => metric < best * (1.0 - self.threshold),
            (PlateauMode::Min, ThresholdMode::Abs) => metric < best - self.threshold,
            (PlateauMode::Max, ThresholdMode::Rel) => metric > best * (self.threshold + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => metric > best + self.threshold,
        }
    }

    /// Takes the metric of the epoch just finished and reduces the optimizer's learning rate if
    /// it has not improved for more than `patience` epochs. Returns the learning rate now in
    /// the optimizer.
    ///
    /// # Errors
    ///
    /// The optimizer's error if it refuses the reduced learning rate (it cannot for this
    /// crate's optimizers); the scheduler is then unchanged.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::ReduceLrOnPlateau;
    /// use ndarray_optim::{Optimizer, Sgd};
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut plateau = ReduceLrOnPlateau::new().with_factor(0.5)?.with_patience(1);
    /// let mut lrs = Vec::new();
    /// for val_loss in [3.0, 2.0, 2.5, 2.2, 1.0] {
    ///     // …train an epoch and evaluate, then:
    ///     lrs.push(plateau.step(&mut opt, val_loss)?);
    /// }
    /// assert_eq!(lrs, [1.0, 1.0, 1.0, 0.5, 0.5]); // two epochs above 2.0
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn step<A: Float>(
        &mut self,
        optimizer: &mut dyn Optimizer<A>,
        metric: f64,
    ) -> Result<f64, Error> {
        let mut next = self.state.clone();
        next.last_epoch = self.state.last_epoch.saturating_add(1);
        if self.is_better(metric, next.best.unwrap_or(self.worst())) {
            next.best = Some(metric);
            next.num_bad_epochs = 0;
        } else {
            next.num_bad_epochs = next.num_bad_epochs.saturating_add(1);
        }
        if next.cooldown_counter > 0 {
            next.cooldown_counter -= 1;
            next.num_bad_epochs = 0; // bad epochs are ignored during cooldown
        }
        let mut lr = optimizer.learning_rate();
        if next.num_bad_epochs > self.patience {
            let reduced = (lr * self.factor).max(self.min_lr);
            if lr - reduced > self.eps {
                optimizer.set_learning_rate(reduced)?;
                lr = reduced;
            }
            next.cooldown_counter = self.cooldown;
            next.num_bad_epochs = 0;
        }
        next.last_lr = Some(lr);
        self.state = next;
        Ok(lr)
    }

    /// The best metric so far.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::ReduceLrOnPlateau;
    /// use ndarray_optim::Sgd;
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut plateau = ReduceLrOnPlateau::new();
    /// assert_eq!(plateau.best(), f64::INFINITY); // where PyTorch starts in min mode
    /// plateau.step(&mut opt, 0.7)?;
    /// plateau.step(&mut opt, 0.9)?;
    /// assert_eq!(plateau.best(), 0.7);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn best(&self) -> f64 {
        self.state.best.unwrap_or(self.worst())
    }

    /// The number of epochs since the last improvement.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::ReduceLrOnPlateau;
    /// use ndarray_optim::Sgd;
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut plateau = ReduceLrOnPlateau::new();
    /// for loss in [1.0, 1.2, 1.1, f64::NAN] {
    ///     plateau.step(&mut opt, loss)?;
    /// }
    /// assert_eq!(plateau.num_bad_epochs(), 3); // NaN counts as a bad epoch
    /// plateau.step(&mut opt, 0.5)?;
    /// assert_eq!(plateau.num_bad_epochs(), 0);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn num_bad_epochs(&self) -> u64 {
        self.state.num_bad_epochs
    }

    /// Whether the scheduler is cooling down after a reduction.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::ReduceLrOnPlateau;
    /// use ndarray_optim::Sgd;
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut plateau = ReduceLrOnPlateau::new().with_patience(0).with_cooldown(1);
    /// plateau.step(&mut opt, 1.0)?;
    /// assert!(!plateau.in_cooldown());
    /// plateau.step(&mut opt, 1.0)?; // reduced: the cooldown starts
    /// assert!(plateau.in_cooldown());
    /// plateau.step(&mut opt, 1.0)?;
    /// assert!(!plateau.in_cooldown());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn in_cooldown(&self) -> bool {
        self.state.cooldown_counter > 0
    }

    /// The number of steps taken.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::ReduceLrOnPlateau;
    /// use ndarray_optim::Sgd;
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut plateau = ReduceLrOnPlateau::new();
    /// assert_eq!(plateau.last_epoch(), 0);
    /// plateau.step(&mut opt, 1.0)?;
    /// plateau.step(&mut opt, 1.0)?;
    /// assert_eq!(plateau.last_epoch(), 2);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn last_epoch(&self) -> u64 {
        self.state.last_epoch
    }

    /// The learning rate after the last step (`None` before the first).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::ReduceLrOnPlateau;
    /// use ndarray_optim::Sgd;
    ///
    /// let mut opt = Sgd::<f32>::new(0.3)?;
    /// let mut plateau = ReduceLrOnPlateau::new();
    /// assert_eq!(plateau.last_lr(), None);
    /// plateau.step(&mut opt, 1.0)?;
    /// assert_eq!(plateau.last_lr(), Some(0.3));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn last_lr(&self) -> Option<f64> {
        self.state.last_lr
    }

    /// The state to save.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{PlateauState, ReduceLrOnPlateau};
    /// use ndarray_optim::Sgd;
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut plateau = ReduceLrOnPlateau::new().with_patience(0).with_cooldown(3);
    /// plateau.step(&mut opt, 1.0)?;
    /// plateau.step(&mut opt, 1.0)?; // reduced
    /// let state: PlateauState = plateau.state(); // save it with the checkpoint (serde feature)
    /// assert_eq!((state.last_epoch, state.best, state.cooldown_counter), (2, Some(1.0), 3));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn state(&self) -> PlateauState {
        self.state.clone()
    }

    /// Puts a saved state back, and writes its learning rate (if it has one) into the
    /// optimizer, so the next [`step`](ReduceLrOnPlateau::step) continues exactly where the saved
    /// scheduler was.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `best` is NaN or `last_lr` is not a finite number
    /// `≥ 0`; the optimizer's error if it refuses the learning rate. Nothing is changed then.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::ReduceLrOnPlateau;
    /// use ndarray_optim::{Optimizer, Sgd};
    ///
    /// let build = || ReduceLrOnPlateau::new().with_patience(1);
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut plateau = build();
    /// for loss in [3.0, 3.0, 3.0] {
    ///     plateau.step(&mut opt, loss)?;
    /// }
    /// let saved = plateau.state();
    ///
    /// let mut opt2 = Sgd::<f32>::new(1.0)?;
    /// let mut resumed = build();
    /// resumed.restore(saved, &mut opt2)?;
    /// assert_eq!(opt2.learning_rate(), opt.learning_rate());
    /// assert_eq!(resumed.step(&mut opt2, 2.0)?, plateau.step(&mut opt, 2.0)?);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn restore<A: Float>(
        &mut self,
        state: PlateauState,
        optimizer: &mut dyn Optimizer<A>,
    ) -> Result<(), Error> {
        if let Some(best) = state.best
            && best.is_nan()
        {
            return Err(Error::InvalidHyperparameter {
                name: "best",
                value: best,
                requirement: "must not be NaN",
            });
        }
        if let Some(lr) = state.last_lr {
            check::non_negative("last_lr", lr)?;
            optimizer.set_learning_rate(lr)?;
        }
        self.state = state;
        Ok(())
    }
}
