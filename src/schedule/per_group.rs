//! One value for every parameter group, or one per group: PyTorch's "float or list" arguments.

use crate::error::Error;

/// A schedule argument that PyTorch takes as "a float or a list, one per parameter group":
/// `OneCycleLR`'s `max_lr`, `CyclicLR`'s `base_lr` and `max_lr`, the `base_momentum` and
/// `max_momentum` of both, `ReduceLROnPlateau`'s `min_lr`.
///
/// A setter of such an argument takes anything that converts into it: a number for every group
/// (`.min_lr(1e-6)`), or a `Vec` or an array of one number per group, in group order
/// (`.min_lr([1e-5, 1e-6])`). A list must have as many values as the optimizer has parameter
/// groups ([`Optimizer::group_count`](crate::Optimizer::group_count)): attaching a schedule
/// (or stepping a [`ReduceLrOnPlateau`](super::ReduceLrOnPlateau)) with another number is an
/// [`Error::GroupCountMismatch`], and nothing changes. The pure forms of a schedule
/// ([`Schedule::lr`](super::Schedule::lr), …) use group 0's values;
/// [`Schedule::for_group`](super::Schedule::for_group) gives the schedule another group
/// follows.
///
/// With the `serde` feature a human-readable format holds a number or a list, as PyTorch's
/// arguments do (`"max_lr": 0.1`, `"max_lr": [0.1, 0.01]`), each float written exactly.
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{OneCycleLr, PerGroup, ReduceLrOnPlateauConfig, Schedule};
/// use ndarray_optim::{Error, Optimizer, ParamGroup, ParamGroups, Sgd};
///
/// assert_eq!(PerGroup::from(0.1), PerGroup::All(0.1));
/// assert_eq!(PerGroup::from([0.1, 0.01]).get(1), Some(0.01));
/// let plateau = ReduceLrOnPlateauConfig::default().min_lr(1e-6); // one floor for all
/// assert_eq!(plateau.min_lr.get(7), Some(1e-6));
///
/// // PyTorch: OneCycleLR(opt, max_lr=[0.1, 0.01], total_steps=100) on two groups.
/// let mut opt = Sgd::<f32>::new(0.1)?;
/// let two = vec![ParamGroup::default(), ParamGroup::default()];
/// opt.set_param_groups(Some(ParamGroups::new(two, vec![0, 1])?))?;
/// let sched = OneCycleLr::new([0.1, 0.01], 100).attach(&mut opt)?;
/// assert_eq!(sched.base_lrs(), [0.1 / 25.0, 0.01 / 25.0]); // max_lr / div_factor, each
/// assert!((opt.group_learning_rate(1).unwrap() - 0.01 / 25.0).abs() < 1e-15);
///
/// // Three values for two groups: refused, nothing changed.
/// let three = OneCycleLr::new(vec![0.1, 0.01, 0.001], 100);
/// assert!(matches!(
///     three.attach(&mut opt),
///     Err(Error::GroupCountMismatch { what: "max_lr", groups: 2, found: 3 })
/// ));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum PerGroup {
    /// The same value for every group (PyTorch's float).
    All(f64),
    /// One value per parameter group, in group order (PyTorch's list).
    Each(Vec<f64>),
}

use crate::builder::InElement;

impl InElement for PerGroup {
    fn in_element<E: crate::Float>(&self) -> Self {
        match self {
            PerGroup::All(value) => PerGroup::All(value.in_element::<E>()),
            PerGroup::Each(values) => PerGroup::Each(values.in_element::<E>()),
        }
    }
}

impl PerGroup {
    /// Group `group`'s value: the value of [`All`](PerGroup::All) whatever the group, or entry
    /// `group` of [`Each`](PerGroup::Each) (`None` past its end).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::PerGroup;
    ///
    /// assert_eq!(PerGroup::All(0.5).get(3), Some(0.5));
    /// assert_eq!(PerGroup::Each(vec![0.5, 0.25]).get(1), Some(0.25));
    /// assert_eq!(PerGroup::Each(vec![0.5, 0.25]).get(2), None);
    /// ```
    pub fn get(&self, group: usize) -> Option<f64> {
        match self {
            PerGroup::All(value) => Some(*value),
            PerGroup::Each(values) => values.get(group).copied(),
        }
    }

    /// The number of groups a list is for; `None` for one value for all.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::PerGroup;
    ///
    /// assert_eq!(PerGroup::All(0.5).groups(), None);
    /// assert_eq!(PerGroup::from([0.5, 0.25]).groups(), Some(2));
    /// ```
    pub fn groups(&self) -> Option<usize> {
        match self {
            PerGroup::All(_) => None,
            PerGroup::Each(values) => Some(values.len()),
        }
    }

    /// Group 0's value (what the pure forms use); NaN for an empty list, which validation
    /// refuses first.
    pub(crate) fn first(&self) -> f64 {
        self.get(0).unwrap_or(f64::NAN)
    }

    /// Checks every value with `check` (which names the argument), and that a list is not
    /// empty.
    pub(crate) fn check(
        &self,
        name: &'static str,
        check: fn(&'static str, f64) -> Result<(), Error>,
    ) -> Result<(), Error> {
        match self {
            PerGroup::All(value) => check(name, *value),
            PerGroup::Each(values) if values.is_empty() => Err(Error::InvalidHyperparameter {
                name,
                value: f64::NAN,
                requirement: "must hold one value per parameter group, not none",
            }),
            PerGroup::Each(values) => values.iter().try_for_each(|&v| check(name, v)),
        }
    }

    /// Group `group` of `groups`'s value, after checking that a list has one value per group.
    pub(crate) fn for_group(
        &self,
        name: &'static str,
        group: usize,
        groups: usize,
    ) -> Result<PerGroup, Error> {
        if let PerGroup::Each(values) = self
            && values.len() != groups
        {
            return Err(Error::GroupCountMismatch {
                what: name,
                groups,
                found: values.len(),
            });
        }
        check_group(group, groups)?;
        self.get(group)
            .map(PerGroup::All)
            .ok_or(Error::UnknownGroup {
                tensor: None,
                group,
                groups,
            })
    }
}

impl From<f64> for PerGroup {
    fn from(value: f64) -> Self {
        PerGroup::All(value)
    }
}

impl From<Vec<f64>> for PerGroup {
    fn from(values: Vec<f64>) -> Self {
        PerGroup::Each(values)
    }
}

impl From<&[f64]> for PerGroup {
    fn from(values: &[f64]) -> Self {
        PerGroup::Each(values.to_vec())
    }
}

impl<const N: usize> From<[f64; N]> for PerGroup {
    fn from(values: [f64; N]) -> Self {
        PerGroup::Each(values.to_vec())
    }
}

/// `group` must be one of `groups`.
pub(crate) fn check_group(group: usize, groups: usize) -> Result<(), Error> {
    if group < groups {
        Ok(())
    } else {
        Err(Error::UnknownGroup {
            tensor: None,
            group,
            groups,
        })
    }
}

#[cfg(feature = "serde")]
mod serialize {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::PerGroup;

    /// Binary formats: a tagged enum.
    #[derive(Serialize, Deserialize)]
    enum Tagged {
        All(#[serde(with = "crate::exact")] f64),
        Each(#[serde(with = "crate::exact")] Vec<f64>),
    }

    /// Human-readable formats: a number or a list, as PyTorch's argument.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Untagged {
        All(#[serde(with = "crate::exact")] f64),
        Each(#[serde(with = "crate::exact")] Vec<f64>),
    }

    impl Serialize for PerGroup {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            match (self, serializer.is_human_readable()) {
                (PerGroup::All(value), true) => crate::exact::serialize(value, serializer),
                (PerGroup::Each(values), true) => crate::exact::serialize(values, serializer),
                (PerGroup::All(value), false) => Tagged::All(*value).serialize(serializer),
                (PerGroup::Each(values), false) => {
                    Tagged::Each(values.clone()).serialize(serializer)
                }
            }
        }
    }

    impl<'de> Deserialize<'de> for PerGroup {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            if deserializer.is_human_readable() {
                Ok(match Untagged::deserialize(deserializer)? {
                    Untagged::All(value) => PerGroup::All(value),
                    Untagged::Each(values) => PerGroup::Each(values),
                })
            } else {
                Ok(match Tagged::deserialize(deserializer)? {
                    Tagged::All(value) => PerGroup::All(value),
                    Tagged::Each(values) => PerGroup::Each(values),
                })
            }
        }
    }

    impl crate::exact::Exact for PerGroup {
        fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            self.serialize(serializer)
        }
        fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            Self::deserialize(deserializer)
        }
    }
}
