//! The saved form of an optimizer: configuration, step counters and every state buffer, enough
//! to resume training bit for bit.

use std::collections::BTreeMap;

use ndarray::ArrayD;

use crate::error::Error;
use crate::float::Float;
use crate::groups::ParamGroups;
use crate::optimizer::NonFinitePolicy;
use crate::registry::{OptimizerConfig, OptimizerKind};
use crate::tensor::TensorList;

/// The version of the saved form this crate writes and reads.
///
/// A state of another version is refused by [`Optimizer::load_state`](crate::Optimizer::load_state)
/// with [`Error::UnsupportedStateFormat`].
///
/// # Example
///
/// ```
/// use ndarray_optim::{Adam, Error, Optimizer, STATE_FORMAT_VERSION};
///
/// let mut opt = Adam::<f32>::new(1e-3)?;
/// let mut saved = opt.save_state();
/// assert_eq!(saved.format_version, STATE_FORMAT_VERSION);
/// saved.format_version = STATE_FORMAT_VERSION + 1;
/// assert!(matches!(opt.load_state(saved), Err(Error::UnsupportedStateFormat { .. })));
/// # Ok::<(), Error>(())
/// ```
pub const STATE_FORMAT_VERSION: u32 = 3;

/// Everything an optimizer knows: what it is, its hyperparameters, its step counters and, per
/// tensor, its state buffers. Taken with [`Optimizer::save_state`](crate::Optimizer::save_state)
/// and given back with [`Optimizer::load_state`](crate::Optimizer::load_state), it resumes
/// training bit for bit.
///
/// It records what it belongs to, so that a mismatch is an error and never a silent re-mapping:
/// the optimizer's kind, the format version, each tensor's shape and, optionally, each tensor's
/// name ([`named`](OptimizerState::named),
/// [`verify`](OptimizerState::verify)). Buffers are `ndarray` arrays in each tensor's logical
/// (row-major) order, whatever the memory layout of the parameters, and carry PyTorch's names
/// (`exp_avg`, `exp_avg_sq`, `momentum_buffer`, `sum`, …).
///
/// With the `serde` feature it implements `Serialize` and `Deserialize`, through ndarray's own
/// serde support: write it as JSON, bincode, MessagePack, … Anything read back is checked again
/// when loaded.
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::{Adam, Optimizer};
///
/// let mut w = array![1.0_f64, 2.0];
/// let g = array![0.5, -0.5];
/// let mut opt = Adam::new(0.1)?;
/// opt.step(&mut w, &g)?;
///
/// let saved = opt.save_state().named(&["w"])?;
/// assert_eq!(saved.step, 1);
/// assert_eq!(saved.tensors[0].shape, vec![2]);
/// assert!(saved.tensors[0].buffers.contains_key("exp_avg"));
///
/// let mut resumed = Adam::new(0.1)?;
/// saved.verify(&w, Some(&["w"]))?;
/// resumed.load_state(saved)?;
/// let mut w2 = w.clone();
/// opt.step(&mut w, &g)?;
/// resumed.step(&mut w2, &g)?;
/// assert_eq!(w, w2);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(bound = "A: Float"))]
#[non_exhaustive]
pub struct OptimizerState<A> {
    /// [`STATE_FORMAT_VERSION`] when written.
    pub format_version: u32,
    /// The element type of the parameters and buffers, `"f32"` or `"f64"` ([`Float::NAME`]):
    /// a state read from a file into another precision is refused, not silently rounded.
    pub element_type: String,
    /// The kind of optimizer and its hyperparameters (learning rate and momentum as last set):
    /// the kind is the variant, so it cannot disagree with the hyperparameters.
    pub config: OptimizerConfig,
    /// Steps taken.
    pub step: u64,
    /// Steps skipped under [`NonFinitePolicy::SkipStep`].
    pub skipped_steps: u64,
    /// The non-finite policy.
    pub non_finite_policy: NonFinitePolicy,
    /// The parameter groups, if any.
    pub param_groups: Option<ParamGroups>,
    /// Per tensor, in position order; empty before the first step.
    pub tensors: Vec<TensorState<A>>,
    /// Counters of wrappers around an optimizer (such as the gradient accumulator's micro-step).
    pub extra: BTreeMap<String, u64>,
    /// With `f32` master weights ([`MasterWeights`](crate::MasterWeights)): the inner `f32`
    /// optimizer's whole state, each tensor's `f32` copy as its buffer `master_weight`. The
    /// fields above then summarise it (kind, hyperparameters, counters, groups) and `tensors`
    /// is empty. Only a `MasterWeights` loads such a state.
    /// (Absent from a JSON state written before master weights existed: read as `None`.)
    #[cfg_attr(feature = "serde", serde(default))]
    pub master_weights: Option<Box<OptimizerState<f32>>>,
}

impl<A: Float> OptimizerState<A> {
    /// The state of a [`MasterWeights`](crate::MasterWeights): `inner` (the `f32` state, the
    /// copies included) under a summary of it.
    pub(crate) fn with_master_weights(inner: OptimizerState<f32>) -> Self {
        OptimizerState {
            format_version: inner.format_version,
            element_type: A::NAME.to_string(),
            config: inner.config.clone(),
            step: inner.step,
            skipped_steps: inner.skipped_steps,
            non_finite_policy: inner.non_finite_policy,
            param_groups: inner.param_groups.clone(),
            tensors: Vec::new(),
            extra: BTreeMap::new(),
            master_weights: Some(Box::new(inner)),
        }
    }
}

/// The saved state of one tensor: one entry of [`OptimizerState::tensors`].
///
/// # Example
///
/// ```
/// use ndarray::{array, Array2};
/// use ndarray_optim::{NAdam, Optimizer};
///
/// let mut w = Array2::<f64>::ones((2, 3));
/// let mut opt = NAdam::new(2e-3)?;
/// opt.step(&mut w, &Array2::ones((2, 3)))?;
/// let saved = opt.save_state().named(&["fc.weight"])?;
/// let tensor = &saved.tensors[0];
/// assert_eq!(tensor.name.as_deref(), Some("fc.weight"));
/// assert_eq!(tensor.shape, [2, 3]);
/// assert_eq!(tensor.buffers.keys().collect::<Vec<_>>(), ["exp_avg", "exp_avg_sq"]);
/// assert_eq!(tensor.buffers["exp_avg"].shape(), [2, 3]); // the tensor's shape, row-major
/// assert!(tensor.scalars.contains_key("mu_product")); // NAdam's scalar state
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(bound = "A: Float"))]
#[non_exhaustive]
pub struct TensorState<A> {
    /// The tensor's name, when the user gave names.
    pub name: Option<String>,
    /// The tensor's shape.
    pub shape: Vec<usize>,
    /// Steps this tensor has taken (PyTorch's per-parameter `state["step"]`: steps in which it
    /// had no gradient do not count). 0 before its first: it has no buffers or scalars then.
    pub step: u64,
    /// The state buffers by PyTorch's names, each of the tensor's shape, in logical order.
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub buffers: BTreeMap<String, ArrayD<A>>,
    /// Per-tensor scalar state by PyTorch's names (NAdam's `mu_product`), as exact `f64`.
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub scalars: BTreeMap<String, f64>,
    /// The block-wise quantised buffers ([`Quantization`](crate::Quantization)), by the same
    /// names as full-precision ones (`exp_avg`, `exp_avg_sq`, `momentum_buffer`); a buffer is
    /// in `buffers` or here, never both.
    #[cfg_attr(feature = "serde", serde(default))]
    pub quantized: BTreeMap<String, QuantizedBuffer>,
}

/// A block-wise quantised state buffer ([`Quantization`](crate::Quantization)) as saved: the
/// codes of the tensor's elements in logical (row-major) order and one scale per block,
/// exactly as the optimizer keeps them (and as torchao's `OptimState8bit`/`OptimState4bit`
/// hold them: `codes`, `scale`).
///
/// # Example
///
/// ```
/// use ndarray::Array1;
/// use ndarray_optim::{AdamConfig, Optimizer, Quantization};
///
/// let mut opt = AdamConfig::default().quantized_state(Quantization::int4()).build::<f32>()?;
/// let mut w = Array1::<f32>::zeros(4096);
/// opt.step(&mut w, &Array1::from_elem(4096, 1.0))?;
/// let saved = opt.save_state();
/// let m = &saved.tensors[0].quantized["exp_avg"];
/// assert_eq!((m.bits, m.block_size, m.codes.len(), m.scales.len()), (4, 128, 2048, 32));
/// assert!(saved.tensors[0].buffers.is_empty());
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct QuantizedBuffer {
    /// Bits per code: 8 or 4.
    pub bits: u32,
    /// What a code is.
    #[cfg_attr(feature = "serde", serde(default))]
    pub format: crate::CodeFormat,
    /// Elements per block.
    pub block_size: usize,
    /// One code per element (8 bits), or two per byte (4 bits: element `2i` in the high
    /// nibble of byte `i`, `2i + 1` in the low one).
    pub codes: Vec<u8>,
    /// One scale per block: the block's largest magnitude when it was quantised (at least
    /// `1e-12`; over 448 with float8 codes), or 0 before the first step.
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub scales: Vec<f32>,
}

impl QuantizedBuffer {
    /// The bytes it holds: its codes and its `f32` scales.
    pub fn bytes(&self) -> usize {
        self.codes.len() + std::mem::size_of::<f32>() * self.scales.len()
    }
}

impl<A: Float> OptimizerState<A> {
    /// The bytes of per-element state it holds: every buffer's elements (of `A`), every
    /// quantised buffer's codes and scales, and the buffers of [`master_weights`](Self::master_weights)
    /// (their `f32` copies included); not the per-tensor scalars and counters. The same number
    /// as [`Optimizer::state_bytes`](crate::Optimizer::state_bytes).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::Array1;
    /// use ndarray_optim::{Adam, Optimizer};
    ///
    /// let mut opt = Adam::<f32>::new(1e-3)?;
    /// opt.step(&mut Array1::zeros(1000), &Array1::ones(1000))?;
    /// assert_eq!(opt.save_state().state_bytes(), 8 * 1000); // m and v, 4 bytes each
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn state_bytes(&self) -> usize {
        let own: usize = self
            .tensors
            .iter()
            .map(|t| {
                t.buffers
                    .values()
                    .map(|b| b.len() * std::mem::size_of::<A>())
                    .sum::<usize>()
                    + t.quantized
                        .values()
                        .map(QuantizedBuffer::bytes)
                        .sum::<usize>()
            })
            .sum();
        own + self
            .master_weights
            .as_ref()
            .map_or(0, |inner| inner.state_bytes())
    }

    /// Which optimizer this state belongs to (the tag of [`config`](Self::config)).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Momentum, Optimizer, OptimizerKind};
    ///
    /// let saved = Momentum::<f32>::new(0.1, 0.9)?.save_state();
    /// assert_eq!(saved.kind(), OptimizerKind::Momentum);
    /// assert_eq!(saved.kind().name(), "Momentum");
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn kind(&self) -> OptimizerKind {
        self.config.kind()
    }

    /// Names the tensors, `names[i]` for position `i`, so that loading can check them.
    ///
    /// # Errors
    ///
    /// [`Error::NameCountMismatch`] if there are not as many names as tensors.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Error, Optimizer, Sgd};
    ///
    /// let mut opt = Sgd::new(0.1)?;
    /// opt.step(&mut (&mut array![1.0_f32], &mut array![2.0_f32]), &(&array![1.0], &array![1.0]))?;
    /// let saved = opt.save_state().named(&["weight", "bias"])?;
    /// assert_eq!(saved.tensors[1].name.as_deref(), Some("bias"));
    /// assert!(matches!(
    ///     opt.save_state().named(&["weight"]),
    ///     Err(Error::NameCountMismatch { tensors: 2, names: 1 })
    /// ));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn named(mut self, names: &[&str]) -> Result<Self, Error> {
        if names.len() != self.tensors.len() {
            return Err(Error::NameCountMismatch {
                tensors: self.tensors.len(),
                names: names.len(),
            });
        }
        for (tensor, name) in self.tensors.iter_mut().zip(names) {
            tensor.name = Some((*name).to_string());
        }
        Ok(self)
    }

    /// Checks that this state belongs to `params` (same count, same shapes) and, if `names` are
    /// given and the state has names, that they are the same names in the same order.
    ///
    /// A state saved before the first step has no tensors and fits any list.
    ///
    /// # Errors
    ///
    /// [`Error::StateLengthMismatch`], [`Error::StateShapeMismatch`],
    /// [`Error::TensorNameMismatch`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{array, Array1};
    /// use ndarray_optim::{Adam, Error, Optimizer};
    ///
    /// let mut w = array![1.0_f32, 2.0];
    /// let mut opt = Adam::new(0.1)?;
    /// opt.step(&mut w, &array![1.0, 1.0])?;
    /// let saved = opt.save_state().named(&["w"])?;
    ///
    /// saved.verify(&w, Some(&["w"]))?;
    /// saved.verify(&w, None)?; // shapes only
    /// assert!(matches!(
    ///     saved.verify(&Array1::<f32>::zeros(3), None),
    ///     Err(Error::StateShapeMismatch { .. })
    /// ));
    /// assert!(matches!(saved.verify(&w, Some(&["v"])), Err(Error::TensorNameMismatch { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn verify(&self, params: &dyn TensorList<A>, names: Option<&[&str]>) -> Result<(), Error> {
        if self.tensors.is_empty() {
            return Ok(());
        }
        if params.len() != self.tensors.len() {
            return Err(Error::StateLengthMismatch {
                expected: self.tensors.len(),
                found: params.len(),
            });
        }
        for (index, saved) in self.tensors.iter().enumerate() {
            let shape = params
                .tensor(index)
                .map(|t| t.shape().to_vec())
                .unwrap_or_default();
            if shape != saved.shape {
                return Err(Error::StateShapeMismatch {
                    index,
                    expected: saved.shape.clone(),
                    found: shape,
                });
            }
        }
        if let Some(names) = names {
            if names.len() != self.tensors.len() {
                return Err(Error::StateLengthMismatch {
                    expected: self.tensors.len(),
                    found: names.len(),
                });
            }
            for (index, (saved, given)) in self.tensors.iter().zip(names).enumerate() {
                if let Some(saved) = &saved.name
                    && saved != given
                {
                    return Err(Error::TensorNameMismatch {
                        index,
                        saved: saved.clone(),
                        given: (*given).to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}
