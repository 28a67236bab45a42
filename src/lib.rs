//! Neural-network optimizers for [`ndarray`], with PyTorch's numbers.
//!
//! `ndarray-optim` updates your parameter arrays in place from their gradients, with the same
//! arithmetic as PyTorch's `torch.optim` (and timm's LAMB), so a published recipe ports
//! unchanged: same names, same defaults, same results to the last bit or within PyTorch's own
//! rounding.
//!
//! # Quick start
//!
//! ```
//! use ndarray::{array, Array1, Array2};
//! use ndarray_optim::{Adam, Optimizer};
//!
//! // A linear model y = x·W + b, fitted to one example by gradient descent on the squared error.
//! let x = array![[1.0_f32, 2.0]];
//! let y = array![[3.0_f32]];
//! let mut w = Array2::<f32>::zeros((2, 1));
//! let mut b = Array1::<f32>::zeros(1);
//! let mut opt = Adam::new(0.05)?;                    // PyTorch's defaults for the rest
//! for _ in 0..500 {
//!     let err = x.dot(&w) + &b - &y;                 // forward pass
//!     let grad_w = x.t().dot(&err) * 2.0;            // backward pass
//!     let grad_b = err.sum_axis(ndarray::Axis(0)) * 2.0;
//!     opt.step(&mut (&mut w, &mut b), &(&grad_w, &grad_b))?; // both tensors, in place
//! }
//! assert!(((x.dot(&w) + &b)[[0, 0]] - 3.0).abs() < 1e-3);
//! # Ok::<(), ndarray_optim::Error>(())
//! ```
//!
//! # Choosing an optimizer
//!
//! | problem | optimizer |
//! |---|---|
//! | a baseline; mini-batch noise already helps exploration | [`Sgd`] |
//! | zig-zag across a ravine, slow progress along the valley | [`Momentum`], [`Nesterov`] |
//! | one learning rate cannot suit every parameter (sparse or badly scaled features) | [`Adagrad`], [`RmsProp`], [`Adadelta`] |
//! | both, the usual default for deep networks | [`Adam`] (AMSGrad with `amsgrad`), [`AdamW`] with weight decay |
//! | very large batches, layer-wise step sizes | [`Lamb`] |
//!
//! Every optimizer is built from its configuration (`AdamConfig`, `SgdConfig`, …) whose
//! `Default` is PyTorch's default, or with a short constructor such as [`Adam::new`]`(lr)`.
//! Invalid hyperparameters are rejected when building: a built optimizer is always valid.
//!
//! # What `step` accepts
//!
//! [`Optimizer::step`] takes the parameters as `&mut dyn` [`TensorListMut`] and the gradients as
//! `&dyn` [`TensorList`]: one array or view of any dimension, a `Vec`, slice or array of them, a
//! tuple of tensors of different ranks, or your own model struct. Elements are `f32` or `f64`
//! ([`Float`]). State is kept per position in the list, created on the first step in each
//! parameter's own memory order. Contiguous tensors (C or Fortran order) are updated in one
//! vectorised pass; strided views give the same results, more slowly.
//!
//! # Errors
//!
//! Every check happens before anything changes. On `Err` ([`Error`]), every parameter and every
//! piece of optimizer state is bit-for-bit what it was: mismatched counts or shapes, a tensor list
//! that changed since the state was created, NaN or infinite gradients (under the default
//! [`NonFinitePolicy::Error`]), invalid hyperparameters. No input makes `step` panic.
//!
//! # Numerics
//!
//! Hyperparameters and the scalars derived from them are `f64`, rounded once to the element type;
//! multiply-adds are fused exactly where PyTorch's CPU kernels fuse them. The test suite replays
//! trajectories recorded from PyTorch 2.15: `f64` within `1e-10`, `f32` within PyTorch's own
//! `sqrt` rounding (SGD and momentum bit-identical). One difference: PyTorch keeps the step count
//! in an `f32` tensor, which stops counting at 2²⁴ steps; here it is a `u64`.
//!
//! # Performance
//!
//! One pass over memory per tensor per step (LAMB: three, for its norms), scalars computed once
//! per step, no allocation after the first step, and the element loop compiled for AVX-512 or
//! AVX2 with FMA when the CPU has them (chosen at run time, results identical either way).
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![deny(clippy::float_cmp)]

pub mod clip;
mod error;
mod float;
mod optim;
pub mod schedule;
mod tensor;

pub use clip::{
    clip_grad_norm, clip_grad_norm_per_tensor, clip_grad_value, clip_grads_with_norm, total_norm,
};
pub use error::Error;
pub use float::Float;
pub use optim::{AccumulationMode, MultiSteps};
pub use optim::{
    Adadelta, AdadeltaConfig, Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, Lamb, LambConfig,
    Momentum, Nesterov, NonFinitePolicy, Optimizer, OptimizerConfig, OptimizerState, ParamGroup,
    ParamGroups, RmsProp, RmsPropConfig, STATE_FORMAT_VERSION, Sgd, SgdConfig, StepOutcome,
    TensorState,
};
pub use optim::{Adamax, AdamaxConfig, Lion, LionConfig, NAdam, NAdamConfig, RAdam, RAdamConfig};
pub use tensor::{Tensor, TensorList, TensorListMut, TensorMut};
