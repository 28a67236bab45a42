//! Parameter groups: different hyperparameters for different tensors in one optimizer.

use crate::check;
use crate::error::Error;
use crate::registry::OptimizerConfig;
use crate::tensor::TensorList;

/// The hyperparameters of one group of tensors, as a PyTorch parameter group holds them.
///
/// A group starts from the optimizer's configuration and overrides what it sets:
///
/// * [`hyperparameters`](ParamGroup::hyperparameters): a whole configuration of the optimizer's
///   kind for this group, any hyperparameter at all (betas, eps, momentum, `amsgrad`, …), as a
///   PyTorch group dict does;
/// * [`lr`](ParamGroup::lr): the group's own learning rate, absolute (PyTorch's group `"lr"`);
/// * [`lr_scale`](ParamGroup::lr_scale): otherwise, a multiple of the learning rate the group
///   starts from (timm's convention; 1 by default), so that setting the optimizer's learning
///   rate moves such groups with it;
/// * [`weight_decay`](ParamGroup::weight_decay), [`momentum`](ParamGroup::momentum) and LAMB's
///   and LARS's [`layer_adaptation`](ParamGroup::layer_adaptation) on their own.
///
/// Schedulers set each group's learning rate (and momentum) through
/// [`Optimizer::set_group_learning_rate`](crate::Optimizer::set_group_learning_rate), which
/// writes `lr` (and `momentum`). A configuration like any other of the crate: public fields, a
/// chained setter per field (each override's setter takes the value itself:
/// `weight_decay(0.0)` sets `Some(0.0)`), checked where the groups are made
/// ([`ParamGroups::new`]) and, against the optimizer, where they are given to it.
///
/// # Example
///
/// ```
/// use ndarray_optim::{AdamWConfig, Optimizer, ParamGroup, ParamGroups};
///
/// // PyTorch: AdamW([{'params': backbone, 'lr': 1e-5, 'betas': (0.9, 0.98)}, {'params': head}],
/// //                lr=1e-3, weight_decay=0.05)
/// let base = AdamWConfig::default().lr(1e-3).weight_decay(0.05);
/// let backbone = ParamGroup::default().hyperparameters(base.clone().lr(1e-5).betas((0.9, 0.98)));
/// let groups = ParamGroups::new(vec![backbone, ParamGroup::default()], vec![0, 0, 1])?;
/// let mut opt = base.build::<f32>()?;
/// opt.set_param_groups(Some(groups))?;
/// assert_eq!(opt.group_learning_rate(0), Some(1e-5));
/// assert_eq!(opt.group_learning_rate(1), Some(1e-3));
///
/// assert!(ParamGroups::new(vec![ParamGroup::default().lr_scale(-0.1)], vec![0]).is_err());
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[non_exhaustive]
pub struct ParamGroup {
    /// The group's own configuration (of the optimizer's kind); `None`: the optimizer's.
    pub hyperparameters: Option<OptimizerConfig>,
    /// The group's learning rate, absolute; `None`: the configuration's times `lr_scale`.
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub lr: Option<f64>,
    /// Multiplier of the configuration's learning rate when `lr` is not set (default 1).
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub lr_scale: f64,
    /// Weight decay for this group, replacing the configuration's (default: `None`, keep it).
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub weight_decay: Option<f64>,
    /// The momentum-like hyperparameter for this group (`momentum`, `β₁`, `b1`), replacing the
    /// configuration's; what momentum schedules write.
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub momentum: Option<f64>,
    /// LAMB and LARS only: whether the trust ratio applies to this group's tensors, whatever
    /// its weight decay (default: `None`, the optimizer's rule).
    pub layer_adaptation: Option<bool>,
}

impl Default for ParamGroup {
    fn default() -> Self {
        ParamGroup {
            hyperparameters: None,
            lr: None,
            lr_scale: 1.0,
            weight_decay: None,
            momentum: None,
            layer_adaptation: None,
        }
    }
}

impl ParamGroup {
    /// Sets `hyperparameters`: the group's own configuration.
    #[must_use]
    pub fn hyperparameters(mut self, config: impl Into<OptimizerConfig>) -> Self {
        self.hyperparameters = Some(config.into());
        self
    }
    /// Sets `lr`: the group's absolute learning rate.
    #[must_use]
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = Some(lr);
        self
    }
    /// Sets `lr_scale`: the multiplier of the configuration's learning rate.
    #[must_use]
    pub fn lr_scale(mut self, lr_scale: f64) -> Self {
        self.lr_scale = lr_scale;
        self
    }
    /// Sets `weight_decay`: the group's weight decay.
    #[must_use]
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = Some(weight_decay);
        self
    }
    /// Sets `momentum`: the group's momentum-like hyperparameter.
    #[must_use]
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = Some(momentum);
        self
    }
    /// Sets `layer_adaptation` (LAMB and LARS only).
    #[must_use]
    pub fn layer_adaptation(mut self, adapt: bool) -> Self {
        self.layer_adaptation = Some(adapt);
        self
    }

    /// The ranges that do not depend on the optimizer (the rest is checked against it).
    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr_scale", self.lr_scale)?;
        if let Some(lr) = self.lr {
            check::non_negative("lr", lr)?;
        }
        if let Some(wd) = self.weight_decay {
            check::non_negative("weight_decay", wd)?;
        }
        if let Some(m) = self.momentum {
            check::require(m.is_finite(), "momentum", m, "must be finite")?;
        }
        Ok(())
    }
}

/// Parameter groups: a list of [`ParamGroup`]s and, for each tensor position, the group it
/// belongs to.
///
/// Set on an optimizer with [`Optimizer::set_param_groups`](crate::Optimizer::set_param_groups).
/// The usual split, no weight decay on biases and normalisation parameters, is one call:
/// [`ParamGroups::no_decay_for_vectors`] (timm's `param_groups_weight_decay` rule) or
/// [`ParamGroups::no_decay_by_name`] when the tensors have names.
///
/// # Example
///
/// ```
/// use ndarray::{Array1, Array2};
/// use ndarray_optim::{AdamW, Optimizer, ParamGroup, ParamGroups};
///
/// let mut w = Array2::<f32>::ones((3, 3));
/// let mut b = Array1::<f32>::ones(3);
/// let mut opt = AdamW::new(1e-3)?; // weight decay 0.01
/// // Group 0: the optimizer's settings; group 1: no weight decay. w is in 0, b in 1.
/// opt.set_param_groups(Some(ParamGroups::new(
///     vec![ParamGroup::default(), ParamGroup::default().weight_decay(0.0)],
///     vec![0, 1],
/// )?))?;
/// opt.step(&mut (&mut w, &mut b), &(&Array2::zeros((3, 3)), &Array1::zeros(3)))?;
/// assert!(w[[0, 0]] < 1.0); // decayed
/// assert_eq!(b[0], 1.0); // not decayed
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ParamGroups {
    groups: Vec<ParamGroup>,
    assignment: Vec<usize>,
}

impl ParamGroups {
    /// Groups `groups`, with tensor `i` in group `assignment[i]`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownGroup`] if an assignment names a group that does not exist,
    /// [`Error::InvalidHyperparameter`] if a group's value is out of range.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Error, ParamGroup, ParamGroups};
    /// let groups = ParamGroups::new(vec![ParamGroup::default()], vec![0, 0, 0])?;
    /// assert_eq!(groups.assignment(), &[0, 0, 0]);
    /// assert!(matches!(
    ///     ParamGroups::new(vec![ParamGroup::default()], vec![0, 1]),
    ///     Err(Error::UnknownGroup { tensor: Some(1), group: 1, groups: 1 })
    /// ));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn new(groups: Vec<ParamGroup>, assignment: Vec<usize>) -> Result<Self, Error> {
        for group in &groups {
            group.validate()?;
        }
        if let Some((tensor, &group)) = assignment
            .iter()
            .enumerate()
            .find(|(_, g)| **g >= groups.len())
        {
            return Err(Error::UnknownGroup {
                tensor: Some(tensor),
                group,
                groups: groups.len(),
            });
        }
        Ok(ParamGroups { groups, assignment })
    }

    /// timm's rule: tensors with one dimension or fewer (biases, normalisation scales and
    /// shifts) go to group 1 with no weight decay; the rest stay in group 0 with the optimizer's
    /// settings.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{Array1, Array2};
    /// use ndarray_optim::ParamGroups;
    ///
    /// let (w, b) = (Array2::<f32>::zeros((4, 2)), Array1::<f32>::zeros(2));
    /// let groups = ParamGroups::no_decay_for_vectors(&(&w, &b));
    /// assert_eq!(groups.assignment(), &[0, 1]);
    /// assert_eq!(groups.groups()[1].weight_decay, Some(0.0));
    /// ```
    pub fn no_decay_for_vectors<A>(params: &dyn TensorList<A>) -> Self {
        let assignment = (0..params.len())
            .map(|i| {
                params
                    .tensor(i)
                    .map_or(0, |t| usize::from(t.shape().len() <= 1))
            })
            .collect();
        Self::decay_split(assignment)
    }

    /// timm's rule with names: a tensor goes to the no-decay group 1 if it has one dimension or
    /// fewer, if its name ends in `.bias`, or if its name is in `no_decay` (exact match, e.g.
    /// `"pos_embed"`). `names[i]` names tensor `i`.
    ///
    /// # Errors
    ///
    /// [`Error::NameCountMismatch`] if there are not as many names as tensors.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{Array1, Array2};
    /// use ndarray_optim::ParamGroups;
    ///
    /// let (w, b, pos) = (Array2::<f32>::zeros((4, 2)), Array1::<f32>::zeros(2), Array2::<f32>::zeros((8, 2)));
    /// let names = ["fc.weight", "fc.bias", "pos_embed"];
    /// let groups = ParamGroups::no_decay_by_name(&(&w, &b, &pos), &names, &["pos_embed"])?;
    /// assert_eq!(groups.assignment(), &[0, 1, 1]);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn no_decay_by_name<A>(
        params: &dyn TensorList<A>,
        names: &[&str],
        no_decay: &[&str],
    ) -> Result<Self, Error> {
        if names.len() != params.len() {
            return Err(Error::NameCountMismatch {
                tensors: params.len(),
                names: names.len(),
            });
        }
        let assignment = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let vector = params.tensor(i).is_some_and(|t| t.shape().len() <= 1);
                usize::from(vector || name.ends_with(".bias") || no_decay.contains(name))
            })
            .collect();
        Ok(Self::decay_split(assignment))
    }

    /// The no-decay split by rule, for lists that carry names ([`tensor_list!`](crate::tensor_list)):
    /// a tensor goes to the no-decay group 1 if it has one dimension or fewer, or if the list
    /// names it and `no_decay(name)` says so (`|n| n.ends_with(".bias") || n.contains("norm")`).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{Array1, Array2};
    /// use ndarray_optim::{tensor_list, ParamGroups};
    ///
    /// struct Model {
    ///     embed: Array2<f32>,
    ///     pos: Array2<f32>,
    ///     norm: Array1<f32>,
    /// }
    /// tensor_list!(Model: f32 { embed as "embed.weight", pos as "pos_embed", norm as "ln.weight" });
    ///
    /// let m = Model { embed: Array2::zeros((8, 4)), pos: Array2::zeros((3, 4)), norm: Array1::zeros(4) };
    /// let groups = ParamGroups::no_decay_where(&m, |name| name == "pos_embed");
    /// assert_eq!(groups.assignment(), &[0, 1, 1]);
    /// ```
    pub fn no_decay_where<A>(params: &dyn TensorList<A>, no_decay: impl Fn(&str) -> bool) -> Self {
        let assignment = (0..params.len())
            .map(|i| {
                let vector = params.tensor(i).is_some_and(|t| t.shape().len() <= 1);
                usize::from(vector || params.name(i).is_some_and(&no_decay))
            })
            .collect();
        Self::decay_split(assignment)
    }

    fn decay_split(assignment: Vec<usize>) -> Self {
        ParamGroups {
            groups: vec![
                ParamGroup::default(),
                ParamGroup::default().weight_decay(0.0),
            ],
            assignment,
        }
    }

    /// The groups.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{Array1, Array2};
    /// use ndarray_optim::{ParamGroup, ParamGroups};
    ///
    /// let (w, b) = (Array2::<f32>::zeros((3, 3)), Array1::<f32>::zeros(3));
    /// let groups = ParamGroups::no_decay_for_vectors(&(&w, &b));
    /// assert_eq!(groups.groups(), [ParamGroup::default(), ParamGroup::default().weight_decay(0.0)]);
    /// ```
    pub fn groups(&self) -> &[ParamGroup] {
        &self.groups
    }

    /// For each tensor position, the index of its group.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{ParamGroup, ParamGroups};
    ///
    /// let two = vec![ParamGroup::default(), ParamGroup::default().lr_scale(0.1)];
    /// let groups = ParamGroups::new(two, vec![1, 0, 1])?;
    /// assert_eq!(groups.assignment(), &[1, 0, 1]); // tensors 0 and 2 are in group 1
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn assignment(&self) -> &[usize] {
        &self.assignment
    }

    /// Replaces group `index`, after checking the new group; on `Err` nothing changes.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownGroup`] if there is no such group, [`Error::InvalidHyperparameter`] if
    /// the group's values are out of range.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{Array1, Array2};
    /// use ndarray_optim::{Error, ParamGroup, ParamGroups};
    ///
    /// let (w, b) = (Array2::<f32>::zeros((4, 2)), Array1::<f32>::zeros(2));
    /// // No decay and a ten times smaller learning rate on the biases.
    /// let mut groups = ParamGroups::no_decay_for_vectors(&(&w, &b));
    /// groups.set_group(1, ParamGroup::default().weight_decay(0.0).lr_scale(0.1))?;
    /// assert_eq!(groups.groups()[1].lr_scale, 0.1);
    /// assert!(matches!(
    ///     groups.set_group(2, ParamGroup::default()),
    ///     Err(Error::UnknownGroup { group: 2, groups: 2, .. })
    /// ));
    /// assert!(groups.set_group(1, ParamGroup::default().lr_scale(-1.0)).is_err());
    /// assert_eq!(groups.groups()[1].lr_scale, 0.1); // unchanged
    /// # Ok::<(), Error>(())
    /// ```
    pub fn set_group(&mut self, index: usize, group: ParamGroup) -> Result<(), Error> {
        group.validate()?;
        let groups = self.groups.len();
        match self.groups.get_mut(index) {
            Some(slot) => {
                *slot = group;
                Ok(())
            }
            None => Err(Error::UnknownGroup {
                tensor: None,
                group: index,
                groups,
            }),
        }
    }

    /// The groups, writable (for the group-wise setters of the optimizers).
    pub(crate) fn groups_mut(&mut self) -> &mut [ParamGroup] {
        &mut self.groups
    }

    /// Appends `group` for `tensors` new tensors at the end of the list; returns its index.
    pub(crate) fn push(&mut self, group: ParamGroup, tensors: usize) -> usize {
        self.groups.push(group);
        let index = self.groups.len() - 1;
        self.assignment.extend(std::iter::repeat_n(index, tensors));
        index
    }

    /// Checks values and indices again (after deserialisation, say).
    pub(crate) fn validate(&self) -> Result<(), Error> {
        Self::new(self.groups.clone(), self.assignment.clone()).map(|_| ())
    }
}
