//! Reduce the learning rate when a metric stops improving.

use super::{GroupValues, PerGroup, Work};
use crate::builder::config;
use crate::check;
use crate::error::Error;
use crate::float::Float;
use crate::optimizer::Optimizer;

/// Whether a [`ReduceLrOnPlateau`] wants its metric to go down (a loss) or up (an accuracy).
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{PlateauMode, ReduceLrOnPlateauConfig};
/// use ndarray_optim::{Optimizer, Sgd};
///
/// let mut opt = Sgd::<f32>::new(1.0)?;
/// let config = ReduceLrOnPlateauConfig::default().mode(PlateauMode::Max).patience(0);
/// let mut plateau = config.build()?;
/// assert_eq!(plateau.best(), f64::NEG_INFINITY); // where PyTorch starts in max mode
/// plateau.step(&mut opt, 0.80)?; // accuracy
/// plateau.step(&mut opt, 0.85)?; // higher: better
/// assert_eq!((plateau.best(), opt.learning_rate()), (0.85, 1.0));
/// # Ok::<(), ndarray_optim::Error>(())
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

crate::builder::plain!(PlateauMode);

/// How a [`ReduceLrOnPlateau`] measures a significant improvement over the best value.
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{ReduceLrOnPlateauConfig, ThresholdMode};
/// use ndarray_optim::{Optimizer, Sgd};
///
/// // An improvement counts when the loss falls by more than 0.01 in absolute terms.
/// let mut plateau = ReduceLrOnPlateauConfig::default()
///     .threshold(0.01)
///     .threshold_mode(ThresholdMode::Abs)
///     .patience(0)
///     .build()?;
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

crate::builder::plain!(ThresholdMode);

config! {
    /// The configuration of a [`ReduceLrOnPlateau`]: the arguments of PyTorch's
    /// `torch.optim.lr_scheduler.ReduceLROnPlateau`, with its defaults; [`build`] checks them
    /// and makes the scheduler.
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `mode` | [`PlateauMode::Min`] | |
    /// | `factor` | `0.1` | `[0, 1)` |
    /// | `patience` | `10` | |
    /// | `threshold` | `1e-4` | `≥ 0` |
    /// | `threshold_mode` | [`ThresholdMode::Rel`] | |
    /// | `cooldown` | `0` | |
    /// | `min_lr` | `0` | `≥ 0`; one value, or one per parameter group |
    /// | `eps` | `1e-8` | `≥ 0` |
    ///
    /// `min_lr` is a [`PerGroup`], as PyTorch's is "a float or a list": one floor for every
    /// group (`.min_lr(1e-6)`) or one per group (`.min_lr([1e-5, 1e-6])`), which must then be
    /// as many as the optimizer's groups at each step ([`Error::GroupCountMismatch`] otherwise,
    /// nothing changed).
    ///
    /// [`build`]: ReduceLrOnPlateauConfig::build
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::ReduceLrOnPlateauConfig;
    /// use ndarray_optim::{Error, Optimizer, Sgd};
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut plateau = ReduceLrOnPlateauConfig::default()
    ///     .patience(0)
    ///     .cooldown(2)
    ///     .min_lr(0.005)
    ///     .build()?;
    /// let percent: Vec<f64> = [1.0; 8]
    ///     .into_iter()
    ///     .map(|loss| Ok((plateau.step(&mut opt, loss)? * 1000.0).round() / 10.0))
    ///     .collect::<Result<_, Error>>()?;
    /// // Reduced at epoch 2, then two epochs of cooldown before the next reduction, and no
    /// // lower than min_lr.
    /// assert_eq!(percent, [100.0, 10.0, 10.0, 10.0, 1.0, 1.0, 1.0, 0.5]);
    ///
    /// // From 1e-8 to 1e-9 is a change of 9e-9, below the default eps 1e-8: not made.
    /// let mut tiny = Sgd::<f32>::new(1e-8)?;
    /// let mut plateau = ReduceLrOnPlateauConfig::default().patience(0).build()?;
    /// plateau.step(&mut tiny, 1.0)?;
    /// plateau.step(&mut tiny, 1.0)?;
    /// assert_eq!(tiny.learning_rate(), 1e-8);
    ///
    /// assert!(matches!(
    ///     ReduceLrOnPlateauConfig::default().factor(1.0).build(),
    ///     Err(Error::InvalidHyperparameter { name: "factor", .. })
    /// ));
    /// # Ok::<(), Error>(())
    /// ```
    pub struct ReduceLrOnPlateauConfig {
        /// Whether the metric should go down (a loss) or up (an accuracy).
        mode: PlateauMode = PlateauMode::Min,
        /// The factor the learning rate is multiplied by at a reduction.
        factor: f64 = 0.1,
        /// How many epochs without improvement are tolerated: the learning rate drops at the
        /// `patience + 1`-th.
        patience: u64 = 10,
        /// What counts as an improvement over the best value, see `threshold_mode`.
        threshold: f64 = 1e-4,
        /// Whether `threshold` is relative to the best value or absolute.
        threshold_mode: ThresholdMode = ThresholdMode::Rel,
        /// The number of epochs to wait after a reduction before counting bad epochs again.
        cooldown: u64 = 0,
        /// The floor of the learning rate, for every group or per group.
        min_lr: impl Into<PerGroup> = PerGroup::All(0.0),
        /// The smallest change of the learning rate worth making.
        eps: f64 = 1e-8,
    }
}

impl ReduceLrOnPlateauConfig {
    /// Checks every field against its range (see the table above).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] naming the first value outside its range.
    pub fn validate(&self) -> Result<(), Error> {
        check::beta("factor", self.factor)?;
        check::non_negative("threshold", self.threshold)?;
        self.min_lr.check("min_lr", check::non_negative)?;
        check::non_negative("eps", self.eps)
    }

    /// Checks the configuration and makes the scheduler, with no epoch seen yet.
    ///
    /// # Errors
    ///
    /// As [`validate`](ReduceLrOnPlateauConfig::validate).
    pub fn build(self) -> Result<ReduceLrOnPlateau, Error> {
        self.validate()?;
        Ok(ReduceLrOnPlateau {
            config: self,
            state: PlateauState::default(),
            work: Work::default(),
        })
    }
}

/// Reduces the learning rate when a metric has stopped improving: PyTorch's
/// `torch.optim.lr_scheduler.ReduceLROnPlateau`, made from a [`ReduceLrOnPlateauConfig`] by
/// its [`build`](ReduceLrOnPlateauConfig::build) (or with PyTorch's defaults by
/// [`default`](ReduceLrOnPlateau::default)).
///
/// Each [`step`](ReduceLrOnPlateau::step) takes the epoch's metric and does:
///
/// ```text
/// if metric is better than best (by the threshold):  best ← metric, bad ← 0   else bad ← bad + 1
/// if cooldown_counter > 0:  cooldown_counter ← cooldown_counter − 1, bad ← 0
/// if bad > patience:
///     for each parameter group g:
///         new ← max(lr_g · factor, min_lr_g);  if lr_g − new > eps: lr_g ← new
///     cooldown_counter ← cooldown, bad ← 0
/// ```
///
/// A NaN metric is never better than the best, so it counts as a bad epoch, as in PyTorch.
///
/// It reads and writes each parameter group's learning rate (one group without
/// [`ParamGroups`](crate::ParamGroups)), each against its own floor, and touches nothing when
/// built (there is no `attach`: PyTorch's constructor does not change the learning rate
/// either). A group added to the optimizer later is reduced like the others when `min_lr` is
/// one value for all, as in PyTorch. It is not a
/// [`Schedule`](super::Schedule): it cannot go into a [`SequentialLr`](super::SequentialLr) or
/// a [`ChainedScheduler`](super::ChainedScheduler) (PyTorch refuses that too), but it can step
/// the same optimizer as one.
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{ReduceLrOnPlateau, ReduceLrOnPlateauConfig};
/// use ndarray_optim::{Optimizer, Sgd};
///
/// let mut opt = Sgd::<f32>::new(1.0)?;
/// let mut plateau = ReduceLrOnPlateauConfig::default().factor(0.5).patience(2).build()?;
/// for val_loss in [10.0, 9.0, 9.0, 9.0, 9.0] {
///     // train an epoch, compute the validation loss, then:
///     plateau.step(&mut opt, val_loss)?;
/// }
/// assert_eq!(opt.learning_rate(), 0.5); // three epochs without improvement > patience 2
///
/// let mut opt = Sgd::<f32>::new(1.0)?;
/// let mut defaults = ReduceLrOnPlateau::default(); // PyTorch's: patience 10, factor 0.1
/// for _ in 0..11 {
///     defaults.step(&mut opt, 2.0)?; // the best, then 10 epochs without improvement
/// }
/// assert_eq!(opt.learning_rate(), 1.0);
/// defaults.step(&mut opt, 2.0)?; // the 11th
/// assert!((opt.learning_rate() - 0.1).abs() < 1e-15);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ReduceLrOnPlateau {
    config: ReduceLrOnPlateauConfig,
    state: PlateauState,
    work: Work,
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
/// let mut plateau = ReduceLrOnPlateau::default();
/// plateau.step(&mut opt, 3.0)?;
/// plateau.step(&mut opt, 3.5)?;
/// let state = plateau.state();
/// assert_eq!((state.last_epoch, state.best, state.num_bad_epochs), (2, Some(3.0), 1));
/// assert_eq!((state.cooldown_counter, state.last_lrs), (0, Some(vec![0.1])));
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PlateauState {
    /// The number of steps taken.
    pub last_epoch: u64,
    /// The best metric so far; `None` before the first metric (PyTorch starts from `+∞` in min
    /// mode, `−∞` in max mode, which [`ReduceLrOnPlateau::best`] reports).
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub best: Option<f64>,
    /// Epochs since the last improvement (reset by a reduction and during cooldown).
    pub num_bad_epochs: u64,
    /// Epochs of cooldown left.
    pub cooldown_counter: u64,
    /// Each parameter group's learning rate after the last step, in group order (PyTorch's
    /// `_last_lr`; `None` before the first step).
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub last_lrs: Option<Vec<f64>>,
}

/// PyTorch's defaults (those of [`ReduceLrOnPlateauConfig::default`]).
impl Default for ReduceLrOnPlateau {
    fn default() -> Self {
        ReduceLrOnPlateau {
            config: ReduceLrOnPlateauConfig::default(),
            state: PlateauState::default(),
            work: Work::default(),
        }
    }
}

impl ReduceLrOnPlateau {
    /// The configuration it was built with.
    pub fn config(&self) -> &ReduceLrOnPlateauConfig {
        &self.config
    }

    /// The worst value of the mode, where PyTorch's `best` starts.
    fn worst(&self) -> f64 {
        match self.config.mode {
            PlateauMode::Min => f64::INFINITY,
            PlateauMode::Max => f64::NEG_INFINITY,
        }
    }

    /// Whether `metric` improves on `best` by the threshold (PyTorch's `_is_better`).
    fn is_better(&self, metric: f64, best: f64) -> bool {
        let threshold = self.config.threshold;
        match (self.config.mode, self.config.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => metric < best * (1.0 - threshold),
            (PlateauMode::Min, ThresholdMode::Abs) => metric < best - threshold,
            (PlateauMode::Max, ThresholdMode::Rel) => metric > best * (threshold + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => metric > best + threshold,
        }
    }

    /// Takes the metric of the epoch just finished and reduces each parameter group's learning
    /// rate if the metric has not improved for more than `patience` epochs. Returns group 0's
    /// learning rate now in the optimizer (all of them: [`last_lrs`](ReduceLrOnPlateau::last_lrs)).
    /// Allocates nothing after the first step (unless groups were added).
    ///
    /// # Errors
    ///
    /// [`Error::GroupCountMismatch`] if `min_lr` has one value per group and the optimizer has
    /// another number of groups; the optimizer's error if it refuses a reduced learning rate (it
    /// cannot for this crate's optimizers), in which case the groups reduced before it are put
    /// back. The scheduler and the optimizer are then unchanged.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::ReduceLrOnPlateauConfig;
    /// use ndarray_optim::{Optimizer, Sgd};
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut plateau = ReduceLrOnPlateauConfig::default().factor(0.5).patience(1).build()?;
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
        let groups = optimizer.group_count();
        if groups == 0 {
            return Err(Error::UnknownGroup {
                tensor: None,
                group: 0,
                groups: 0,
            });
        }
        let config = &self.config;
        if let Some(found) = config.min_lr.groups()
            && found != groups
        {
            return Err(Error::GroupCountMismatch {
                what: "min_lr",
                groups,
                found,
            });
        }
        self.work.reserve(groups); // allocates on the first step (and for added groups) only
        let last_epoch = self.state.last_epoch.saturating_add(1);
        let (mut best, mut num_bad_epochs) = (self.state.best, self.state.num_bad_epochs);
        let mut cooldown_counter = self.state.cooldown_counter;
        if self.is_better(metric, best.unwrap_or(self.worst())) {
            best = Some(metric);
            num_bad_epochs = 0;
        } else {
            num_bad_epochs = num_bad_epochs.saturating_add(1);
        }
        if cooldown_counter > 0 {
            cooldown_counter -= 1;
            num_bad_epochs = 0; // bad epochs are ignored during cooldown
        }
        if num_bad_epochs > config.patience {
            let next = &mut self.work.next;
            next.clear();
            for g in 0..groups {
                let lr = super::group_lr(&*optimizer, g)?;
                let min_lr = config.min_lr.get(g).unwrap_or(0.0); // the count is checked above
                let reduced = (lr * config.factor).max(min_lr);
                next.push(GroupValues {
                    lr: (lr - reduced > config.eps).then_some(reduced),
                    momentum: None,
                });
            }
            self.work.write(optimizer)?;
            cooldown_counter = config.cooldown;
            num_bad_epochs = 0;
        }
        let state = &mut self.state;
        state.last_epoch = last_epoch;
        state.best = best;
        state.num_bad_epochs = num_bad_epochs;
        state.cooldown_counter = cooldown_counter;
        let last_lrs = state.last_lrs.get_or_insert_with(Vec::new);
        last_lrs.clear();
        // Every group exists (counted above).
        last_lrs.extend((0..groups).map(|g| optimizer.group_learning_rate(g).unwrap_or(0.0)));
        Ok(last_lrs[0])
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
    /// let mut plateau = ReduceLrOnPlateau::default();
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
    /// let mut plateau = ReduceLrOnPlateau::default();
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
    /// use ndarray_optim::schedule::ReduceLrOnPlateauConfig;
    /// use ndarray_optim::Sgd;
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut plateau = ReduceLrOnPlateauConfig::default().patience(0).cooldown(1).build()?;
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
    /// let mut plateau = ReduceLrOnPlateau::default();
    /// assert_eq!(plateau.last_epoch(), 0);
    /// plateau.step(&mut opt, 1.0)?;
    /// plateau.step(&mut opt, 1.0)?;
    /// assert_eq!(plateau.last_epoch(), 2);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn last_epoch(&self) -> u64 {
        self.state.last_epoch
    }

    /// Group 0's learning rate after the last step (`None` before the first).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::ReduceLrOnPlateau;
    /// use ndarray_optim::Sgd;
    ///
    /// let mut opt = Sgd::<f32>::new(0.3)?;
    /// let mut plateau = ReduceLrOnPlateau::default();
    /// assert_eq!(plateau.last_lr(), None);
    /// plateau.step(&mut opt, 1.0)?;
    /// assert_eq!(plateau.last_lr(), Some(0.3));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn last_lr(&self) -> Option<f64> {
        self.state
            .last_lrs
            .as_ref()
            .and_then(|lrs| lrs.first().copied())
    }

    /// Each group's learning rate after the last step, in group order: PyTorch's
    /// `get_last_lr()` (`None` before the first step).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::ReduceLrOnPlateauConfig;
    /// use ndarray_optim::{Optimizer, ParamGroup, ParamGroups, Sgd};
    ///
    /// // PyTorch: ReduceLROnPlateau(opt, patience=0, min_lr=[0.05, 0.009]) on two groups.
    /// let mut opt = Sgd::<f64>::new(0.1)?;
    /// let groups = vec![ParamGroup::default(), ParamGroup::default().lr(0.01)];
    /// opt.set_param_groups(Some(ParamGroups::new(groups, vec![0, 1])?))?;
    /// let mut plateau = ReduceLrOnPlateauConfig::default()
    ///     .patience(0)
    ///     .min_lr([0.05, 0.009])
    ///     .build()?;
    /// plateau.step(&mut opt, 1.0)?;
    /// plateau.step(&mut opt, 1.0)?; // reduced, each group to its own floor
    /// assert_eq!(plateau.last_lrs(), Some(&[0.05, 0.009][..]));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn last_lrs(&self) -> Option<&[f64]> {
        self.state.last_lrs.as_deref()
    }

    /// The state to save.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{PlateauState, ReduceLrOnPlateauConfig};
    /// use ndarray_optim::Sgd;
    ///
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut plateau = ReduceLrOnPlateauConfig::default().patience(0).cooldown(3).build()?;
    /// plateau.step(&mut opt, 1.0)?;
    /// plateau.step(&mut opt, 1.0)?; // reduced
    /// let state: PlateauState = plateau.state(); // save it with the checkpoint (serde feature)
    /// assert_eq!((state.last_epoch, state.best, state.cooldown_counter), (2, Some(1.0), 3));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn state(&self) -> PlateauState {
        self.state.clone()
    }

    /// Puts a saved state back, and writes its learning rates (if it has them) into the
    /// optimizer's groups, so the next [`step`](ReduceLrOnPlateau::step) continues exactly where
    /// the saved scheduler was.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `best` is NaN or a learning rate is not a finite
    /// number `≥ 0`; [`Error::GroupCountMismatch`] if the state has another number of learning
    /// rates than the optimizer has groups; the optimizer's error if it refuses a learning rate.
    /// Nothing is changed then.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::ReduceLrOnPlateauConfig;
    /// use ndarray_optim::{Optimizer, Sgd};
    ///
    /// let config = ReduceLrOnPlateauConfig::default().patience(1);
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut plateau = config.clone().build()?;
    /// for loss in [3.0, 3.0, 3.0] {
    ///     plateau.step(&mut opt, loss)?;
    /// }
    /// let saved = plateau.state();
    ///
    /// let mut opt2 = Sgd::<f32>::new(1.0)?;
    /// let mut resumed = config.build()?;
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
        if let Some(lrs) = &state.last_lrs {
            let groups = optimizer.group_count();
            if lrs.len() != groups {
                return Err(Error::GroupCountMismatch {
                    what: "last_lrs",
                    groups,
                    found: lrs.len(),
                });
            }
            for &lr in lrs {
                check::non_negative("last_lrs", lr)?;
            }
            self.work.next.clear();
            self.work.next.extend(lrs.iter().map(|&lr| GroupValues {
                lr: Some(lr),
                momentum: None,
            }));
            self.work.write(optimizer)?;
        }
        self.state = state;
        Ok(())
    }
}
