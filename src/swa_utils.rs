//! Averages of the parameters over training: PyTorch's `torch.optim.swa_utils`.
//!
//! * [`AveragedModel`]: an averaged copy of the parameters, updated after an optimizer step
//!   (or an epoch) with equal weights (stochastic weight averaging, `AveragedModel`'s default)
//!   or exponentially ([`Averaging::Ema`], `get_ema_multi_avg_fn`), with PyTorch's numbers and
//!   its `n_averaged` counter;
//! * [`SwaLr`]: the learning rate of SWA, annealed to a constant (`SWALR`; a
//!   [`Schedule`](crate::schedule::Schedule), also in [`schedule`](crate::schedule)).
//!
//! Stochastic weight averaging (Izmailov et al., 2018) trains as usual, then from some epoch on
//! keeps a high constant learning rate and averages the parameters visited, once per epoch:
//! the average lies in a flatter, wider region than any single iterate and generalises better.
//! An exponential moving average (Polyak averaging with exponential weights) is updated after
//! every step instead and used for evaluation.
//!
//! ```
//! use ndarray::{array, Array1};
//! use ndarray_optim::schedule::{CosineAnnealingLr, Schedule};
//! use ndarray_optim::swa_utils::{AveragedModel, SwaLr};
//! use ndarray_optim::{Optimizer, Sgd};
//!
//! let mut w = array![2.0_f32, -1.0];
//! let mut opt = Sgd::new(0.1)?;
//! let mut swa_model = AveragedModel::swa();
//! let mut scheduler = CosineAnnealingLr::new(30).attach(&mut opt)?;
//! let mut swa_scheduler = SwaLr::new(0.05).attach(&mut opt)?;
//! let swa_start = 20;
//! for epoch in 0..30 {
//!     for _batch in 0..4 {
//!         let grad = w.mapv(|x| 2.0 * x);
//!         opt.step(&mut w, &grad)?;
//!     }
//!     if epoch > swa_start {
//!         swa_model.update_parameters(&w)?;
//!         swa_scheduler.step(&mut opt)?;
//!     } else {
//!         scheduler.step(&mut opt)?;
//!     }
//! }
//! assert_eq!(swa_model.n_averaged(), 9);
//! let mut averaged = Array1::<f32>::zeros(2);
//! swa_model.averaged_into(&mut averaged)?; // the model to evaluate
//! assert!(averaged.iter().all(|x| x.abs() < 1e-3));
//! # Ok::<(), ndarray_optim::Error>(())
//! ```
//!
//! PyTorch's `update_bn` (recomputing batch-norm statistics for the averaged weights) and
//! `use_buffers` belong to a model, which this crate does not have: pass the buffers to
//! [`AveragedModel::update_parameters`] with the parameters to average them too.

use ndarray::{ArrayD, Zip};

use crate::builder::config;
use crate::check;
use crate::error::Error;
use crate::float::Float;
use crate::ops::LerpWeight;
use crate::tensor::{TensorList, TensorListMut};

pub use crate::schedule::SwaLr;

/// How an [`AveragedModel`] averages.
///
/// # Example
///
/// ```
/// use ndarray_optim::swa_utils::{AveragedModelConfig, Averaging};
///
/// let ema = AveragedModelConfig::default().averaging(Averaging::Ema { decay: 0.999 });
/// assert!(ema.build::<f32>().is_ok());
/// let wrong = AveragedModelConfig::default().averaging(Averaging::Ema { decay: 1.5 });
/// assert!(wrong.build::<f32>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Averaging {
    /// Equal weights, stochastic weight averaging (`AveragedModel`'s default, PyTorch's
    /// `avg_fn` on the CPU): `avg ← avg + (p − avg)/(n + 1)`, with `n` the number of models
    /// averaged so far.
    #[default]
    Swa,
    /// An exponential moving average, PyTorch's `get_ema_multi_avg_fn(decay)`:
    /// `avg ← lerp(avg, p, 1 − decay)`, no bias correction. `decay` in `[0, 1]`.
    Ema {
        /// The weight of the average so far (PyTorch's default in `get_ema_multi_avg_fn`:
        /// `0.999`).
        #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
        decay: f64,
    },
}

crate::builder::plain!(Averaging);

config! {
    /// The configuration of an [`AveragedModel`]: PyTorch's `AveragedModel(model,
    /// multi_avg_fn=…)`, built by [`build`](AveragedModelConfig::build).
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `averaging` | [`Averaging::Swa`] | [`Averaging::Ema`]: `decay` in `[0, 1]` |
    pub struct AveragedModelConfig {
        /// How the parameters are averaged (PyTorch's `avg_fn`, `multi_avg_fn`).
        averaging: Averaging = Averaging::Swa,
    }
}

impl AveragedModelConfig {
    fn validate(&self) -> Result<(), Error> {
        match self.averaging {
            Averaging::Swa => Ok(()),
            Averaging::Ema { decay } => check::unit("decay", decay),
        }
    }

    /// Builds an [`AveragedModel`] that has averaged nothing yet.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] for an EMA `decay` outside `[0, 1]` (PyTorch's
    /// `ValueError`).
    pub fn build<A: Float>(self) -> Result<AveragedModel<A>, Error> {
        self.validate()?;
        Ok(AveragedModel {
            config: self,
            averages: Vec::new(),
            n_averaged: 0,
        })
    }
}

/// An averaged copy of parameters: PyTorch's `torch.optim.swa_utils.AveragedModel`, holding
/// the average instead of a copy of a module.
///
/// [`update_parameters`](AveragedModel::update_parameters) takes the parameters (any list of
/// tensors, as [`Optimizer::step`](crate::Optimizer::step) does). The first call copies them
/// (`n_averaged = 0`); every later call averages them in, element by element in the element
/// type, as PyTorch computes on the CPU:
///
/// ```text
/// SWA:  avg ← avg + (p − avg) / (n + 1)          three roundings; n + 1 rounded to the type
/// EMA:  avg ← lerp(avg, p, 1 − decay)            torch.lerp's two branches (see the numerics)
/// n ← n + 1                                      also on the first call
/// ```
///
/// With `decay = 1` the average stays the first copy; with `decay = 0` it is the last
/// parameters. There is no bias correction and no warmup (unlike optax's `ema(debias=True)` or
/// timm's `ModelEmaV3`), as in PyTorch. Read the average with
/// [`averages`](AveragedModel::averages) or copy it into your own arrays with
/// [`averaged_into`](AveragedModel::averaged_into); save it with
/// [`state`](AveragedModel::state) beside the optimizer's state.
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::swa_utils::AveragedModel;
///
/// let mut swa = AveragedModel::<f64>::swa();
/// let mut ema = AveragedModel::<f64>::ema(0.9)?;
/// for p in [1.0, 2.0, 3.0, 4.0] {
///     swa.update_parameters(&array![p])?;
///     ema.update_parameters(&array![p])?;
/// }
/// assert_eq!(swa.averages()[0][[0]], 2.5); // (1 + 2 + 3 + 4)/4
/// assert!((ema.averages()[0][[0]] - 1.561).abs() < 1e-12); // 1, 1.1, 1.29, 1.561
/// assert_eq!(swa.n_averaged(), 4);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct AveragedModel<A: Float = f32> {
    config: AveragedModelConfig,
    /// One average per tensor, in logical (row-major) order.
    averages: Vec<ArrayD<A>>,
    n_averaged: u64,
}

impl<A: Float> AveragedModel<A> {
    /// Stochastic weight averaging: equal weights, `AveragedModel(model)`.
    pub fn swa() -> Self {
        AveragedModel {
            config: AveragedModelConfig::default(),
            averages: Vec::new(),
            n_averaged: 0,
        }
    }

    /// An exponential moving average with weight `decay` on the average so far,
    /// `AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `decay` is not in `[0, 1]`.
    pub fn ema(decay: f64) -> Result<Self, Error> {
        AveragedModelConfig::default()
            .averaging(Averaging::Ema { decay })
            .build()
    }

    /// The configuration.
    pub fn config(&self) -> &AveragedModelConfig {
        &self.config
    }

    /// How many times the parameters were averaged in (PyTorch's `n_averaged`).
    pub fn n_averaged(&self) -> u64 {
        self.n_averaged
    }

    /// The averages, one per tensor, in the parameters' shapes; empty before the first update.
    pub fn averages(&self) -> &[ArrayD<A>] {
        &self.averages
    }

    /// Averages `params` in (PyTorch's `update_parameters(model)`): copies them the first
    /// time, then updates the average as the [type's docs](AveragedModel) say.
    ///
    /// # Errors
    ///
    /// Before anything changes: [`Error::StateLengthMismatch`] or
    /// [`Error::StateShapeMismatch`] if `params` are not the tensors averaged so far;
    /// [`Error::InconsistentTensor`] or [`Error::LengthMismatch`] for a list that contradicts
    /// itself; [`Error::CounterOverflow`] at `u64::MAX` updates.
    pub fn update_parameters(&mut self, params: &dyn TensorList<A>) -> Result<(), Error> {
        let n = check::list(params)?;
        if self.n_averaged == u64::MAX {
            return Err(Error::CounterOverflow {
                counter: "n_averaged",
            });
        }
        if self.n_averaged > 0 {
            if self.averages.len() != n {
                return Err(Error::StateLengthMismatch {
                    expected: self.averages.len(),
                    found: n,
                });
            }
            for (index, average) in self.averages.iter().enumerate() {
                let found = params.tensor(index).map_or(&[][..], |p| p.shape());
                if average.shape() != found {
                    return Err(Error::StateShapeMismatch {
                        index,
                        expected: average.shape().to_vec(),
                        found: found.to_vec(),
                    });
                }
            }
        }
        // Nothing has changed so far; from here on nothing can fail.
        if self.n_averaged == 0 {
            self.averages.clear();
            self.averages
                .extend((0..n).map(|i| params.tensor(i).expect("checked").view_dyn().to_owned()));
            // Standard (row-major) layout whatever the parameter's.
            for average in &mut self.averages {
                if !average.is_standard_layout() {
                    *average = average.as_standard_layout().into_owned();
                }
            }
        } else {
            match self.config.averaging {
                Averaging::Swa => {
                    // `(n_averaged + 1)`: an int64 tensor, promoted to the element type.
                    let divisor = A::from_f64((self.n_averaged as f64) + 1.0);
                    for (index, average) in self.averages.iter_mut().enumerate() {
                        let p = params.tensor(index).expect("checked").view_dyn();
                        Zip::from(average).and(&p).for_each(|avg, &p| {
                            *avg = *avg + (p - *avg) / divisor;
                        });
                    }
                }
                Averaging::Ema { decay } => {
                    let weight = LerpWeight::<A>::new(1.0 - decay);
                    for (index, average) in self.averages.iter_mut().enumerate() {
                        let p = params.tensor(index).expect("checked").view_dyn();
                        Zip::from(average).and(&p).for_each(|avg, &p| {
                            *avg = weight.lerp(*avg, p);
                        });
                    }
                }
            }
        }
        self.n_averaged += 1;
        Ok(())
    }

    /// Copies the averages into `out`, which must hold tensors of the averaged shapes (in any
    /// memory layout): the model to evaluate.
    ///
    /// # Errors
    ///
    /// [`Error::NotStarted`] before the first update; [`Error::StateLengthMismatch`] or
    /// [`Error::StateShapeMismatch`] if `out` does not hold the averaged tensors;
    /// [`Error::InconsistentTensor`] for a list that contradicts itself. Nothing is written
    /// then.
    pub fn averaged_into(&self, out: &mut dyn TensorListMut<A>) -> Result<(), Error> {
        if self.n_averaged == 0 {
            return Err(Error::NotStarted {
                what: "average of the parameters",
            });
        }
        let n = check::list_mut(out)?;
        if n != self.averages.len() {
            return Err(Error::StateLengthMismatch {
                expected: self.averages.len(),
                found: n,
            });
        }
        for (index, average) in self.averages.iter().enumerate() {
            let found = out.tensor(index).map_or(&[][..], |t| t.shape());
            if average.shape() != found {
                return Err(Error::StateShapeMismatch {
                    index,
                    expected: average.shape().to_vec(),
                    found: found.to_vec(),
                });
            }
        }
        for (index, average) in self.averages.iter().enumerate() {
            if let Some(t) = out.tensor_mut(index) {
                t.view_dyn_mut().assign(average);
            }
        }
        Ok(())
    }

    /// Forgets the average: the next update copies the parameters again.
    pub fn reset(&mut self) {
        self.averages.clear();
        self.n_averaged = 0;
    }

    /// The state to save (PyTorch's `state_dict()`: the averaged tensors and `n_averaged`).
    pub fn state(&self) -> AveragedModelState<A> {
        AveragedModelState {
            format_version: crate::state::STATE_FORMAT_VERSION,
            element_type: A::NAME.to_string(),
            config: self.config.clone(),
            n_averaged: self.n_averaged,
            averages: self.averages.clone(),
        }
    }

    /// Replaces everything with a saved state, after checking it: the format version, the
    /// element type, the configuration, and averages exactly when `n_averaged > 0`.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedStateFormat`], [`Error::InvalidHyperparameter`],
    /// [`Error::InvalidState`]. Nothing changes then.
    pub fn load_state(&mut self, state: AveragedModelState<A>) -> Result<(), Error> {
        let supported = crate::state::STATE_FORMAT_VERSION;
        if state.format_version != supported {
            return Err(Error::UnsupportedStateFormat {
                version: state.format_version,
                supported,
            });
        }
        let invalid = |reason: String| Error::InvalidState {
            tensor: None,
            reason,
        };
        if state.element_type != A::NAME {
            return Err(invalid(format!(
                "saved with {} elements, loaded into an average of {}",
                state.element_type,
                A::NAME
            )));
        }
        state.config.validate()?;
        if state.n_averaged == 0 && !state.averages.is_empty() {
            return Err(invalid(
                "averages are saved but n_averaged is 0: nothing was averaged".to_string(),
            ));
        }
        self.config = state.config;
        self.n_averaged = state.n_averaged;
        self.averages = state
            .averages
            .into_iter()
            .map(|a| {
                if a.is_standard_layout() {
                    a
                } else {
                    a.as_standard_layout().into_owned()
                }
            })
            .collect();
        Ok(())
    }
}

/// The saved form of an [`AveragedModel`]: what PyTorch's `AveragedModel.state_dict()` holds
/// (the averaged tensors and `n_averaged`), with the configuration. With the `serde` feature
/// every float is written exactly, in every format.
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::swa_utils::AveragedModel;
///
/// let mut ema = AveragedModel::<f32>::ema(0.99)?;
/// ema.update_parameters(&array![1.0_f32, 2.0])?;
/// let saved = ema.state();
/// assert_eq!((saved.n_averaged, saved.averages.len()), (1, 1));
/// let mut resumed = AveragedModel::<f32>::swa();
/// resumed.load_state(saved)?; // its configuration too: an EMA again
/// ema.update_parameters(&array![3.0_f32, 4.0])?;
/// resumed.update_parameters(&array![3.0_f32, 4.0])?;
/// assert_eq!(ema.averages(), resumed.averages());
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(bound = "A: Float", deny_unknown_fields))]
#[non_exhaustive]
pub struct AveragedModelState<A> {
    /// [`STATE_FORMAT_VERSION`](crate::STATE_FORMAT_VERSION) when written.
    pub format_version: u32,
    /// The element type, `"f32"` or `"f64"`.
    pub element_type: String,
    /// How the parameters are averaged.
    pub config: AveragedModelConfig,
    /// The number of updates so far.
    pub n_averaged: u64,
    /// The averages, one per tensor, each in its shape, row-major.
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub averages: Vec<ArrayD<A>>,
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // bit-exact on purpose
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn pytorchs_documented_numbers() {
        let mut swa = AveragedModel::<f32>::swa();
        let mut ema = AveragedModel::<f32>::ema(0.9).unwrap();
        let (mut s, mut e) = (Vec::new(), Vec::new());
        for p in [1.0_f32, 2.0, 3.0, 4.0] {
            swa.update_parameters(&array![p]).unwrap();
            ema.update_parameters(&array![p]).unwrap();
            s.push(swa.averages()[0][[0]]);
            e.push(ema.averages()[0][[0]]);
        }
        assert_eq!(s, [1.0, 1.5, 2.0, 2.5]);
        let expected = [1.0_f32, 1.1, 1.29, 1.561];
        assert!(
            e.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6),
            "{e:?}"
        );
    }
}
