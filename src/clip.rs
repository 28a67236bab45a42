//! Gradient clipping with PyTorch's numbers: by value, by the norm of all gradients together, or
//! by each tensor's own norm.
//!
//! Every function takes the gradients as `&mut dyn` [`TensorListMut`] (one array or view of any
//! dimension, a `Vec`, slice or array of them, a tuple of mixed ranks, your own model struct)
//! and changes them in place, before they are handed to [`Optimizer::step`](crate::Optimizer::step).
//! The functions are also re-exported at the crate root.
//!
//! | here | PyTorch (`torch.nn.utils`) | what it does to every gradient element `g` |
//! |---|---|---|
//! | [`clip_grad_value`] | `clip_grad_value_` | `g ← min(max(g, −c), c)` |
//! | [`clip_grad_norm`] | `clip_grad_norm_` | `g ← g · min(max_norm / (‖G‖ₚ + 1e-6), 1)`, one coefficient for all tensors |
//! | [`clip_grad_norm_per_tensor`] | `clip_grad_norm_` called on each tensor alone (burn's `GradientClipping::Norm`; Keras `clipnorm` up to the `1e-6`) | `g ← g · min(max_norm / (‖gᵢ‖ₚ + 1e-6), 1)`, one coefficient per tensor |
//! | [`total_norm`] | `get_total_norm` | nothing; returns `‖G‖ₚ` |
//! | [`clip_grads_with_norm`] | `clip_grads_with_norm_` | as `clip_grad_norm`, with `‖G‖ₚ` given |
//!
//! # The norms
//!
//! For the gradients `G = (g₁, …, gₙ)` (all tensors, all elements) and a norm type `p`:
//!
//! ```text
//! ‖G‖ₚ = (Σᵢ Σⱼ |gᵢⱼ|ᵖ)^(1/p)      p > 0  (p = 2: the Euclidean norm; p < 1 is allowed, as in PyTorch)
//! ‖G‖∞ = maxᵢⱼ |gᵢⱼ|                p = f64::INFINITY
//! ```
//!
//! This is PyTorch's "norm of the per-tensor norms", `‖(‖g₁‖ₚ, …, ‖gₙ‖ₚ)‖ₚ`, which is the same
//! number. A NaN gradient makes the norm NaN, an infinite one makes it infinite.
//!
//! Global clipping ([`clip_grad_norm`]) keeps the direction of the whole update and is what
//! PyTorch, optax (`clip_by_global_norm`) and Keras (`global_clipnorm`) users mean by "gradient
//! clipping"; per-tensor clipping ([`clip_grad_norm_per_tensor`]) bounds each layer on its own and
//! changes the direction. Clipping by value changes the direction element by element.
//!
//! # Numerics: what matches PyTorch
//!
//! * **Sums** `Σ|g|ᵖ` are accumulated in `f64` in a fixed order: each tensor in its logical
//!   (row-major) order, in blocks of 4,096 elements summed in 8 interleaved lanes, then the tensors
//!   in list order. The result does not depend on the memory layout (C order, Fortran order,
//!   strided views), the CPU or the SIMD width. `p = 2` uses the same sum as LAMB's global norm.
//! * **The norm is rounded once to the element type** `A` (PyTorch returns it as a tensor of the
//!   gradients' dtype) and returned widened to `f64`: for `f32` gradients the returned value is an
//!   `f32` value.
//! * **The coefficient is computed in `A` exactly as PyTorch evaluates it.** PyTorch's
//!   `max_norm / (total_norm + 1e-6)` is `Tensor.__rtruediv__`, i.e.
//!   `reciprocal(total_norm + 1e-6) * max_norm`, in the gradients' dtype, with `1e-6` and
//!   `max_norm` rounded to that dtype; then `clamp(max=1.0)`. Here:
//!   `coef = min((1 / (‖G‖ + 1e-6)) · max_norm, 1)` in `A`, NaN staying NaN. Every gradient is
//!   multiplied by `coef` (skipped when `coef` is exactly 1, which changes no bit).
//! * **Tested against PyTorch 2.15** (`tests/fixtures/generate_clip.py`,
//!   `tests/suite/clip.rs`): `f64` norms and clipped gradients within `1e-12` relative; `f32`
//!   within PyTorch's own `f32` accumulation error (PyTorch sums `f32` gradients in `f32`; this crate in `f64`, so the norm
//!   here is the more accurate one); clipping by value is bit-identical.
//!
//! # Deliberate differences from PyTorch
//!
//! * **`norm_type` must be `> 0` or `+∞`.** PyTorch accepts `0` and negative values and returns
//!   numbers that are not norms of the gradients: for `0`, the per-tensor counts of non-zero
//!   elements are combined by another 0-"norm", so the result is *the number of tensors that have
//!   a non-zero element*; for negative `p` (and `−∞`) one all-zero tensor makes the total `0`, so
//!   nothing is ever clipped. Both are rejected here with
//!   [`Error::InvalidHyperparameter`], as are NaN and `−∞`.
//! * **`max_norm` and `clip_value` must be `≥ 0`** (`+∞` allowed: no clipping). PyTorch accepts
//!   negative values: a negative `max_norm` flips the sign of every gradient, a negative
//!   `clip_value` sets every gradient to it.
//! * **`max_norm = +∞` never changes a gradient.** PyTorch computes `∞ / (‖G‖ + 1e-6)`, which is
//!   NaN when the norm is infinite, and multiplies every gradient, finite ones included, by it.
//! * **The ∞-norm of a tensor with no elements is 0** (the maximum of no absolute values, and the
//!   limit of its p-norms). PyTorch raises "cannot compute the infinity norm on an empty tensor".
//! * **`f32` sums do not overflow or underflow early.** PyTorch accumulates `Σ|g|ᵖ` of `f32`
//!   gradients in `f32`: four gradients of `1e20` give a norm of `inf` (so every gradient becomes
//!   0, or an error with `error_if_nonfinite`), gradients of `1e-30` give a norm of 0. Here the sum
//!   is `f64` and the norm is exact (`2e20`, `2e-30`) whenever it fits in `f32`; only a norm above
//!   `f32::MAX` becomes `inf`. (Powers that overflow `f64`, `|g|ᵖ > 1.8e308`, give `inf` here as in
//!   PyTorch's `f64` path: like PyTorch, the sum is not rescaled.)
//!
//! # Errors
//!
//! Every check happens before any gradient is changed: on `Err` all gradients are bit-for-bit
//! what they were. No input makes these functions panic.
//!
//! # Performance
//!
//! No allocation for tensors of up to four dimensions. (ndarray keeps the shape of a tensor with
//! more than four axes on the heap, and its contiguity checks and views copy it: one small
//! allocation per such tensor per call, as in every optimizer's `step`.) [`clip_grad_norm`]
//! reads every gradient once for the norm and, when it clips, writes it once;
//! [`clip_grad_value`] is one read-write pass. Contiguous tensors are read as one slice (for the
//! sums, C-order ones; other layouts through a view in logical order).
//!
//! # Example
//!
//! ```
//! use ndarray::{array, Array1, Array2};
//! use ndarray_optim::{clip_grad_norm, Optimizer, Sgd};
//!
//! let mut w = Array2::<f64>::zeros((2, 2));
//! let mut b = Array1::<f64>::zeros(2);
//! let mut gw = array![[3.0, 0.0], [0.0, 0.0]];
//! let mut gb = array![0.0_f64, 4.0];
//! // ‖G‖₂ = 5: scale every gradient by 1 / (5 + 1e-6), as torch.nn.utils.clip_grad_norm_(…, 1.0).
//! let norm = clip_grad_norm(&mut (&mut gw, &mut gb), 1.0, 2.0, false)?;
//! assert_eq!(norm, 5.0);
//! assert!((gb[1] - 0.8).abs() < 1e-6);
//! Sgd::new(0.1)?.step(&mut (&mut w, &mut b), &(&gw, &gb))?;
//! # Ok::<(), ndarray_optim::Error>(())
//! ```

use crate::distributed::{Combine, Contribution, Reduce};
use crate::error::Error;
use crate::float::Float;
use crate::pass::sum_terms;
use crate::tensor::{Tensor, TensorList, TensorListMut, TensorMut};

/// Clips every gradient element to `[−clip_value, clip_value]`, in place: PyTorch's
/// `torch.nn.utils.clip_grad_value_`.
///
/// ```text
/// c = clip_value rounded to A
/// g ← min(max(g, −c), c)          NaN stays NaN
/// ```
///
/// Bit-identical to PyTorch. `clip_value = +∞` changes nothing.
///
/// # Errors
///
/// Checked before anything changes:
/// [`InvalidHyperparameter`](Error::InvalidHyperparameter) if `clip_value` is negative or NaN
/// (PyTorch would set every gradient to a negative `clip_value`);
/// [`LengthMismatch`](Error::LengthMismatch) `{ params: len, grads: i }` if the list's `len()`
/// promises more tensors than it yields (a broken [`TensorList`] implementation).
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::clip_grad_value;
///
/// let mut g = array![[-3.0_f32, 0.25], [f32::NAN, 7.0]];
/// clip_grad_value(&mut g, 1.0)?;
/// assert_eq!(g.row(0), array![-1.0, 0.25]);
/// assert!(g[[1, 0]].is_nan());
/// assert_eq!(g[[1, 1]], 1.0);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
pub fn clip_grad_value<A: Float>(
    grads: &mut dyn TensorListMut<A>,
    clip_value: f64,
) -> Result<(), Error> {
    if clip_value.is_nan() || clip_value < 0.0 {
        return Err(Error::InvalidHyperparameter {
            name: "clip_value",
            value: clip_value,
            requirement: "must be >= 0 (+inf allowed)",
        });
    }
    check_list(grads)?;
    if clip_value.is_infinite() {
        return Ok(());
    }
    let hi = A::from_f64(clip_value);
    let lo = -hi;
    for index in 0..grads.len() {
        if let Some(t) = grads.tensor_mut(index) {
            for_each_mut(t, |x| {
                // Two selects, as clamp_min then clamp_max: a NaN compares false and stays.
                let v = if *x < lo { lo } else { *x };
                *x = if v > hi { hi } else { v };
            });
        }
    }
    Ok(())
}

/// Scales all gradients by one coefficient so that their norm together is at most about
/// `max_norm`, in place, and returns their norm before clipping: PyTorch's
/// `torch.nn.utils.clip_grad_norm_(grads, max_norm, norm_type, error_if_nonfinite)`.
///
/// ```text
/// ‖G‖ₚ = (Σᵢ Σⱼ |gᵢⱼ|ᵖ)^(1/p)   (max |gᵢⱼ| for p = ∞), summed in f64, rounded to A
/// coef = min((1 / (‖G‖ₚ + 1e-6)) · max_norm, 1)      in A, as PyTorch evaluates it
/// g ← g · coef                                        every element of every tensor
/// ```
///
/// After clipping, `‖G‖ₚ ≤ max_norm` (slightly below it, by the `1e-6`). An empty list has norm 0.
/// With `error_if_nonfinite = false` (PyTorch's default) a NaN or infinite norm is used anyway,
/// as in PyTorch: an infinite norm gives `coef = 0` (finite gradients become 0, infinite ones
/// NaN), a NaN norm makes every gradient NaN. See the [module documentation](crate::clip) for
/// the numerics and the differences from PyTorch.
///
/// Returns `‖G‖ₚ` before clipping, rounded to `A` and widened to `f64`.
///
/// # Errors
///
/// Checked before anything changes, so on `Err` every gradient is as it was:
/// [`InvalidHyperparameter`](Error::InvalidHyperparameter) if `max_norm` is negative or NaN or
/// `norm_type` is not `> 0` or `+∞`;
/// [`NonFiniteNorm`](Error::NonFiniteNorm) if `error_if_nonfinite` and `‖G‖ₚ` is NaN or infinite;
/// [`LengthMismatch`](Error::LengthMismatch) `{ params: len, grads: i }` if the list's `len()`
/// promises more tensors than it yields.
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::{clip_grad_norm, Error};
///
/// let mut gw = array![[3.0_f64, 0.0], [0.0, 0.0]];
/// let mut gb = array![0.0, 4.0];
/// let norm = clip_grad_norm(&mut (&mut gw, &mut gb), 1.0, 2.0, false)?;
/// assert_eq!(norm, 5.0); // the norm before clipping
/// let coef = (1.0 / (5.0 + 1e-6)) * 1.0; // PyTorch's coefficient
/// assert_eq!((gw[[0, 0]], gb[1]), (3.0 * coef, 4.0 * coef));
///
/// // The max-norm, and a refused infinite norm.
/// let mut g = array![-2.0_f32, 0.5];
/// assert_eq!(clip_grad_norm(&mut g, 10.0, f64::INFINITY, false)?, 2.0);
/// let mut bad = array![1.0_f32, f32::INFINITY];
/// assert!(matches!(
///     clip_grad_norm(&mut bad, 1.0, 2.0, true),
///     Err(Error::NonFiniteNorm { tensor: None, .. })
/// ));
/// assert_eq!(bad[0], 1.0); // unchanged
/// # Ok::<(), Error>(())
/// ```
pub fn clip_grad_norm<A: Float>(
    grads: &mut dyn TensorListMut<A>,
    max_norm: f64,
    norm_type: f64,
    error_if_nonfinite: bool,
) -> Result<f64, Error> {
    check_max_norm(max_norm)?;
    check_list(grads)?;
    let norm = total_norm(&*grads, norm_type, error_if_nonfinite)?;
    scale_all(grads, clip_coefficient(max_norm, A::from_f64(norm)));
    Ok(norm)
}

/// Scales each gradient tensor by its own coefficient so that its own norm is at most about
/// `max_norm`, in place (per-tensor clipping: burn's `GradientClipping::Norm`, Keras's
/// `clipnorm`), and returns the norm of all gradients together before clipping.
///
/// Each tensor is treated exactly as PyTorch's `clip_grad_norm_` treats a list of that one
/// tensor:
///
/// ```text
/// for every tensor gᵢ:
///     ‖gᵢ‖ₚ = (Σⱼ |gᵢⱼ|ᵖ)^(1/p)   (max |gᵢⱼ| for p = ∞), summed in f64, rounded to A
///     coefᵢ = min((1 / (‖gᵢ‖ₚ + 1e-6)) · max_norm, 1)   in A
///     gᵢ ← gᵢ · coefᵢ
/// ```
///
/// Keras's `clipnorm` computes `g · max_norm / max(‖g‖₂, max_norm)`: the same up to the `1e-6`
/// (a relative difference below `1e-6 / max_norm`).
///
/// Returns `‖G‖ₚ` of all tensors together before clipping (what [`clip_grad_norm`] would return,
/// the number training logs usually show), rounded to `A` and widened to `f64`.
/// `error_if_nonfinite` refers to each tensor's own norm.
///
/// # Errors
///
/// Checked before anything changes, so on `Err` every gradient is as it was:
/// [`InvalidHyperparameter`](Error::InvalidHyperparameter) if `max_norm` is negative or NaN or
/// `norm_type` is not `> 0` or `+∞`;
/// [`NonFiniteNorm`](Error::NonFiniteNorm) `{ tensor: Some(i), .. }` if `error_if_nonfinite` and
/// the norm of tensor `i` is NaN or infinite;
/// [`LengthMismatch`](Error::LengthMismatch) `{ params: len, grads: i }` if the list's `len()`
/// promises more tensors than it yields.
///
/// # Performance
///
/// One read for the norm and (when it clips) one write per tensor, tensor by tensor; with
/// `error_if_nonfinite` every norm is computed once more first, so that nothing is changed
/// before all of them are known to be finite.
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::clip_grad_norm_per_tensor;
///
/// let mut big = array![30.0_f64, 40.0]; // norm 50: clipped to norm ≈ 1
/// let mut small = array![0.3_f64, 0.4]; // norm 0.5: left alone
/// let total = clip_grad_norm_per_tensor(&mut (&mut big, &mut small), 1.0, 2.0, false)?;
/// assert!((total - 2500.25_f64.sqrt()).abs() < 1e-12);
/// assert!((big[0] - 0.6).abs() < 1e-6 && (big[1] - 0.8).abs() < 1e-6);
/// assert_eq!(small, array![0.3, 0.4]);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
pub fn clip_grad_norm_per_tensor<A: Float>(
    grads: &mut dyn TensorListMut<A>,
    max_norm: f64,
    norm_type: f64,
    error_if_nonfinite: bool,
) -> Result<f64, Error> {
    check_max_norm(max_norm)?;
    let norm = Norm::new(norm_type)?;
    check_list(grads)?;
    let n = grads.len();
    if error_if_nonfinite {
        for index in 0..n {
            if let Some(t) = grads.tensor(index) {
                let own = A::from_f64(norm.finish(norm.reduce(t)));
                if !own.is_finite() {
                    return Err(Error::NonFiniteNorm {
                        norm_type,
                        norm: own.widen(),
                        tensor: Some(index),
                    });
                }
            }
        }
    }
    let mut all = 0.0;
    for index in 0..n {
        if let Some(t) = grads.tensor_mut(index) {
            let reduced = norm.reduce(&*t);
            all = norm.combine(all, reduced);
            let own = A::from_f64(norm.finish(reduced));
            scale(t, clip_coefficient(max_norm, own));
        }
    }
    Ok(A::from_f64(norm.finish(all)).widen())
}

/// The norm of all gradients together, without changing them: PyTorch's
/// `torch.nn.utils.get_total_norm(grads, norm_type, error_if_nonfinite)`.
///
/// ```text
/// ‖G‖ₚ = (Σᵢ Σⱼ |gᵢⱼ|ᵖ)^(1/p)   p > 0;   ‖G‖∞ = max |gᵢⱼ|
/// ```
///
/// summed in `f64` in a fixed, layout-independent order, rounded once to `A` and widened to
/// `f64`. An empty list has norm 0. With [`clip_grads_with_norm`] this splits
/// [`clip_grad_norm`] in two, for when the norm is wanted before deciding (logging, or a norm
/// combined from several lists).
///
/// # Errors
///
/// [`InvalidHyperparameter`](Error::InvalidHyperparameter) if `norm_type` is not `> 0` or `+∞`;
/// [`NonFiniteNorm`](Error::NonFiniteNorm) if `error_if_nonfinite` and the norm is NaN or
/// infinite; [`LengthMismatch`](Error::LengthMismatch) `{ params: len, grads: i }` if the list's
/// `len()` promises more tensors than it yields.
///
/// # Example
///
/// ```
/// use ndarray::{array, Array2, ShapeBuilder};
/// use ndarray_optim::total_norm;
///
/// let g = array![[1.0_f64, -2.0], [2.0, 0.0]];
/// assert_eq!(total_norm(&g, 2.0, false)?, 3.0);
/// assert_eq!(total_norm(&g, 1.0, false)?, 5.0);
/// assert_eq!(total_norm(&g, f64::INFINITY, false)?, 2.0);
///
/// // The same bits whatever the memory layout.
/// let x = Array2::from_shape_fn((50, 70), |(i, j)| ((i * 70 + j) as f64 * 0.37).sin());
/// let mut f = Array2::zeros((50, 70).f());
/// f.assign(&x);
/// assert_eq!(total_norm(&x, 3.5, false)?, total_norm(&f, 3.5, false)?);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
pub fn total_norm<A: Float>(
    grads: &dyn TensorList<A>,
    norm_type: f64,
    error_if_nonfinite: bool,
) -> Result<f64, Error> {
    let norm = Norm::new(norm_type)?;
    let n = grads.len();
    let mut all = 0.0;
    for index in 0..n {
        let t = grads.tensor(index).ok_or(Error::LengthMismatch {
            params: n,
            grads: index,
        })?;
        all = norm.combine(all, norm.reduce(t));
    }
    let total = A::from_f64(norm.finish(all));
    if error_if_nonfinite && !total.is_finite() {
        return Err(Error::NonFiniteNorm {
            norm_type,
            norm: total.widen(),
            tensor: None,
        });
    }
    Ok(total.widen())
}

/// Scales all gradients by PyTorch's clip coefficient for a norm computed beforehand, in place:
/// PyTorch's `torch.nn.utils.clip_grads_with_norm_(grads, max_norm, total_norm)`.
///
/// ```text
/// coef = min((1 / (total_norm + 1e-6)) · max_norm, 1)     in A, total_norm rounded to A
/// g ← g · coef
/// ```
///
/// `clip_grads_with_norm(g, m, total_norm(g, p, e)?)` is exactly `clip_grad_norm(g, m, p, e)`.
/// A NaN or infinite `total_norm` is used as PyTorch uses it (see [`clip_grad_norm`]).
///
/// # Errors
///
/// Checked before anything changes: [`InvalidHyperparameter`](Error::InvalidHyperparameter) if
/// `max_norm` is negative or NaN, or `total_norm` is negative (a norm never is; it would flip the
/// gradients); [`LengthMismatch`](Error::LengthMismatch) `{ params: len, grads: i }` if the
/// list's `len()` promises more tensors than it yields.
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::{clip_grads_with_norm, total_norm};
///
/// // Two lists clipped by the norm of both together.
/// let (mut a, mut b) = (array![3.0_f64], array![4.0_f64]);
/// let norm = (total_norm(&a, 2.0, false)?.powi(2) + total_norm(&b, 2.0, false)?.powi(2)).sqrt();
/// clip_grads_with_norm(&mut a, 1.0, norm)?;
/// clip_grads_with_norm(&mut b, 1.0, norm)?;
/// assert!((a[0] - 0.6).abs() < 1e-6 && (b[0] - 0.8).abs() < 1e-6);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
pub fn clip_grads_with_norm<A: Float>(
    grads: &mut dyn TensorListMut<A>,
    max_norm: f64,
    total_norm: f64,
) -> Result<(), Error> {
    check_max_norm(max_norm)?;
    if total_norm < 0.0 {
        return Err(Error::InvalidHyperparameter {
            name: "total_norm",
            value: total_norm,
            requirement: "must be >= 0 (NaN and +inf are used as PyTorch uses them)",
        });
    }
    check_list(grads)?;
    scale_all(grads, clip_coefficient(max_norm, A::from_f64(total_norm)));
    Ok(())
}

/// [`clip_grad_norm`] with the norm's sum over every tensor of the model taken in one round
/// through `reduce` (see [`Reduce`]): each tensor's term `Σ|g|ᵖ` (or `max |g|`) into `terms`,
/// the terms of every rank combined in tensor order (the same bits as [`clip_grad_norm`] over
/// the whole model), then every gradient of this list scaled.
pub(crate) fn clip_grad_norm_reduced<A: Float>(
    grads: &mut dyn TensorListMut<A>,
    max_norm: f64,
    norm_type: f64,
    error_if_nonfinite: bool,
    reduce: &mut dyn Reduce,
    terms: &mut Vec<f64>,
) -> Result<f64, Error> {
    // The local checks go into the round: a rank whose checks fail still takes part in it.
    let local = check_max_norm(max_norm)
        .and_then(|()| Norm::new(norm_type))
        .and_then(|norm| check_list(grads).map(|()| norm));
    if let Ok(norm) = local {
        norm_terms(&*grads, norm, terms);
    }
    let norm = *local.as_ref().unwrap_or(&Norm::Two);
    let total = reduce
        .exchange(local.map(|norm| Contribution {
            terms,
            combine: norm.combining(),
            non_finite: None,
        }))?
        .total;
    let total = A::from_f64(norm.finish(total));
    if error_if_nonfinite && !total.is_finite() {
        return Err(Error::NonFiniteNorm {
            norm_type,
            norm: total.widen(),
            tensor: None,
        });
    }
    scale_all(grads, clip_coefficient(max_norm, total));
    Ok(total.widen())
}

/// Each tensor's term of the norm (`Σ|g|ᵖ`, or `max |g|`), in list order, into `terms`.
pub(crate) fn norm_terms<A: Float>(grads: &dyn TensorList<A>, norm: Norm, terms: &mut Vec<f64>) {
    terms.clear();
    terms.extend((0..grads.len()).map(|index| grads.tensor(index).map_or(0.0, |t| norm.reduce(t))));
}

/// A validated `norm_type`, and how its norm reduces a tensor.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Norm {
    /// `Σ|g|`.
    One,
    /// `√(Σ g²)`.
    Two,
    /// `(Σ|g|ᵖ)^(1/p)` for any other finite `p > 0`.
    Power(f64),
    /// `max |g|`.
    Max,
}

impl Norm {
    pub(crate) fn new(norm_type: f64) -> Result<Self, Error> {
        if norm_type == f64::INFINITY {
            Ok(Norm::Max)
        } else if norm_type.is_finite() && norm_type > 0.0 {
            Ok(match norm_type {
                1.0 => Norm::One,
                2.0 => Norm::Two,
                p => Norm::Power(p),
            })
        } else {
            Err(Error::InvalidHyperparameter {
                name: "norm_type",
                value: norm_type,
                requirement: "must be > 0 (a p-norm) or +inf (the max-norm)",
            })
        }
    }

    /// `Σ|g|ᵖ` over one tensor (`max |g|` for the max-norm), in `f64`, in a fixed order.
    pub(crate) fn reduce<A: Float>(self, t: &dyn Tensor<A>) -> f64 {
        match self {
            Norm::Two => sum_terms(t, |x| {
                let x = x.widen();
                x * x
            }),
            Norm::One => sum_terms(t, |x| x.widen().abs()),
            Norm::Power(p) => sum_terms(t, |x| x.widen().abs().powf(p)),
            Norm::Max => {
                // Order does not matter for a maximum: memory order, no view when contiguous.
                let (mut max, mut nan) = (A::zero(), false);
                let mut visit = |x: A| {
                    let a = x.abs();
                    nan |= a.is_nan();
                    max = max.max(a);
                };
                match t.as_slice_memory_order() {
                    Some(s) => s.iter().for_each(|&x| visit(x)),
                    None => t.view_dyn().iter().for_each(|&x| visit(x)),
                }
                if nan { f64::NAN } else { max.widen() }
            }
        }
    }

    /// Two reductions together (of two tensors): their sum, or their maximum.
    pub(crate) fn combine(self, a: f64, b: f64) -> f64 {
        self.combining().apply(a, b)
    }

    /// How this norm's per-tensor reductions combine.
    pub(crate) fn combining(self) -> Combine {
        match self {
            Norm::Max => Combine::Max,
            _ => Combine::Sum,
        }
    }

    /// The norm from a reduction: `(Σ|g|ᵖ)^(1/p)`.
    pub(crate) fn finish(self, reduced: f64) -> f64 {
        match self {
            Norm::One | Norm::Max => reduced,
            Norm::Two => reduced.sqrt(),
            Norm::Power(p) => reduced.powf(1.0 / p),
        }
    }
}

/// PyTorch's clip coefficient as PyTorch evaluates it, in the gradients' element type:
/// `max_norm / (total_norm + 1e-6)` is `Tensor.__rtruediv__`, that is
/// `reciprocal(total_norm + 1e-6) * max_norm` (two roundings, not one division), followed by
/// `clamp(max=1.0)`, which keeps a NaN.
fn clip_coefficient<A: Float>(max_norm: f64, norm: A) -> A {
    if max_norm == f64::INFINITY {
        return A::one(); // no clipping, even when the norm is infinite or NaN (PyTorch: ∞/∞)
    }
    let coef = (A::one() / (norm + A::from_f64(1e-6))) * A::from_f64(max_norm);
    if coef > A::one() { A::one() } else { coef }
}

/// `g ← g · coef` for every tensor.
fn scale_all<A: Float>(grads: &mut dyn TensorListMut<A>, coef: A) {
    for index in 0..grads.len() {
        if let Some(t) = grads.tensor_mut(index) {
            scale(t, coef);
        }
    }
}

/// `g ← g · coef` for one tensor; nothing to do when `coef` is exactly 1 (`g · 1 = g`, bit for
/// bit: PyTorch multiplies anyway only to avoid a device synchronisation).
fn scale<A: Float>(t: &mut dyn TensorMut<A>, coef: A) {
    if coef >= A::one() {
        return;
    }
    for_each_mut(t, |x| *x = *x * coef);
}

/// Applies `f` to every element, in memory order when the tensor is contiguous.
fn for_each_mut<A: Float>(t: &mut dyn TensorMut<A>, f: impl FnMut(&mut A)) {
    if let Some(s) = t.as_slice_memory_order_mut() {
        s.iter_mut().for_each(f);
    } else {
        t.view_dyn_mut().iter_mut().for_each(f);
    }
}

/// `max_norm ≥ 0` (`+∞` allowed), not NaN.
pub(crate) fn check_max_norm(max_norm: f64) -> Result<(), Error> {
    if max_norm >= 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidHyperparameter {
            name: "max_norm",
            value: max_norm,
            requirement: "must be >= 0 (+inf allowed)",
        })
    }
}

/// Every tensor the list's `len()` promises can be read and written, so that a pass that
/// changes gradients never stops half-way.
fn check_list<A>(grads: &mut dyn TensorListMut<A>) -> Result<(), Error> {
    crate::check::list_mut(grads).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2, ArrayD, IxDyn, ShapeBuilder, s};

    #[test]
    fn norm_types_are_validated() {
        for bad in [0.0, -1.0, -0.5, f64::NEG_INFINITY, f64::NAN] {
            assert!(matches!(
                Norm::new(bad),
                Err(Error::InvalidHyperparameter {
                    name: "norm_type",
                    ..
                })
            ));
        }
        assert!(matches!(Norm::new(1.0), Ok(Norm::One)));
        assert!(matches!(Norm::new(2.0), Ok(Norm::Two)));
        assert!(matches!(Norm::new(0.5), Ok(Norm::Power(_))));
        assert!(matches!(Norm::new(f64::INFINITY), Ok(Norm::Max)));
    }

    #[test]
    fn reductions_do_not_depend_on_layout() {
        let c = Array2::from_shape_fn((70, 90), |(i, j)| ((i * 90 + j) as f64 * 0.91).cos());
        let mut f = Array2::zeros((70, 90).f());
        f.assign(&c);
        let mut wide = Array2::zeros((70, 180));
        wide.slice_mut(s![.., ..;2]).assign(&c);
        let strided = wide.slice(s![.., ..;2]);
        let reversed_source = c.slice(s![..;-1, ..]).to_owned();
        let reversed = reversed_source.slice(s![..;-1, ..]);
        let dynamic: ArrayD<f64> = c
            .clone()
            .into_dyn()
            .into_shape_with_order(IxDyn(&[70, 90]))
            .unwrap();
        for p in [0.5, 1.0, 2.0, 3.5, f64::INFINITY] {
            let norm = Norm::new(p).unwrap();
            let want = norm.reduce(&c).to_bits();
            assert_eq!(norm.reduce(&f).to_bits(), want, "F order, p = {p}");
            assert_eq!(norm.reduce(&strided).to_bits(), want, "strided, p = {p}");
            assert_eq!(norm.reduce(&reversed).to_bits(), want, "reversed, p = {p}");
            assert_eq!(norm.reduce(&dynamic).to_bits(), want, "dynamic, p = {p}");
        }
    }

    #[test]
    fn max_norm_propagates_nan_wherever_it_is() {
        for at in 0..4 {
            let mut g = Array1::from(vec![1.0_f32, -5.0, 2.0, 0.5]);
            g[at] = f32::NAN;
            assert!(Norm::Max.reduce(&g).is_nan(), "NaN at {at}");
        }
        assert!(Norm::Max.combine(f64::NAN, 3.0).is_nan());
        assert!(Norm::Max.combine(3.0, f64::NAN).is_nan());
        assert_eq!(Norm::Max.combine(3.0, 4.0).to_bits(), 4.0_f64.to_bits());
    }

    #[test]
    fn coefficient_is_reciprocal_then_product() {
        // 0.55 / (5.05 + 1e-6) rounded once differs from PyTorch's two roundings here.
        let (max_norm, norm) = (0.55_f64, 5.05_f64);
        let torch = (1.0 / (norm + 1e-6)) * max_norm;
        assert_eq!(clip_coefficient(max_norm, norm).to_bits(), torch.to_bits());
        assert_ne!(torch.to_bits(), (max_norm / (norm + 1e-6)).to_bits());
        let torch_f32 = (1.0 / (3.0_f32 + 1e-6_f32)) * 0.5_f32;
        assert_eq!(
            clip_coefficient(0.5, 3.0_f32).to_bits(),
            torch_f32.to_bits()
        );
        assert_eq!(clip_coefficient(10.0, 3.0_f64).to_bits(), 1.0_f64.to_bits());
        assert!(clip_coefficient(1.0, f64::NAN).is_nan());
        assert_eq!(
            clip_coefficient(1.0, f32::INFINITY).to_bits(),
            0.0_f32.to_bits()
        );
    }
}
