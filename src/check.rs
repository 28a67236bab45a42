//! Checks shared by every part of the crate: hyperparameter ranges, and the consistency of the
//! tensor lists a step (or a wrapper, or a clipping function) is given.
//!
//! Each check only reads; callers run all of them before they change anything, which is how
//! "an error changes nothing" holds everywhere.

use crate::builder::InElement;
use crate::error::Error;
use crate::float::Float;
use crate::tensor::{Tensor, TensorList, TensorListMut};

/// `value ≥ 0` and finite.
pub(crate) fn non_negative(name: &'static str, value: f64) -> Result<(), Error> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidHyperparameter {
            name,
            value,
            requirement: "must be finite and >= 0",
        })
    }
}

/// `value > 0` and finite.
pub(crate) fn positive(name: &'static str, value: f64) -> Result<(), Error> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidHyperparameter {
            name,
            value,
            requirement: "must be finite and > 0",
        })
    }
}

/// `0 ≤ value < 1`.
pub(crate) fn beta(name: &'static str, value: f64) -> Result<(), Error> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(Error::InvalidHyperparameter {
            name,
            value,
            requirement: "must be in [0, 1)",
        })
    }
}

/// `0 ≤ value ≤ 1`.
pub(crate) fn unit(name: &'static str, value: f64) -> Result<(), Error> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(Error::InvalidHyperparameter {
            name,
            value,
            requirement: "must be in [0, 1]",
        })
    }
}

/// `validate(config)`, then `validate` of the configuration as a kernel of element type `A`
/// uses it ([`InElement`]: every `f64` rounded to `A`), whose failures are
/// [`Error::NotRepresentable`].
pub(crate) fn in_element<A: Float, C: InElement + PartialEq>(
    config: &C,
    validate: impl Fn(&C) -> Result<(), Error>,
) -> Result<(), Error> {
    validate(config)?;
    let rounded = config.in_element::<A>();
    if rounded == *config {
        return Ok(());
    }
    validate(&rounded).map_err(|error| match error {
        Error::InvalidHyperparameter {
            name,
            value,
            requirement,
        } => Error::NotRepresentable {
            name,
            rounded: value,
            element: A::NAME,
            requirement,
        },
        other => other,
    })
}

/// A requirement that is not a range: `Err` with `requirement` when `ok` is false.
pub(crate) fn require(
    ok: bool,
    name: &'static str,
    value: f64,
    requirement: &'static str,
) -> Result<(), Error> {
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidHyperparameter {
            name,
            value,
            requirement,
        })
    }
}

/// Whether a tensor is internally consistent: its memory slice, when it has one, holds exactly
/// the elements its shape says. A hand-written [`Tensor`] that lies here would make the flat
/// loops index out of bounds.
fn consistent<A>(t: &dyn Tensor<A>) -> bool {
    let Some(len) = t.shape().iter().try_fold(1usize, |n, &d| n.checked_mul(d)) else {
        return false;
    };
    t.strides().len() == t.shape().len() && t.as_slice_memory_order().is_none_or(|s| s.len() == len)
}

/// The inputs of a step: as many gradients as parameters, each of its parameter's shape (or
/// absent: [`TensorList::absent`]), every tensor the lists count actually lent (read-only and writable, with the same shape both
/// ways), each internally consistent. Returns the number of tensors.
///
/// # Errors
///
/// [`Error::LengthMismatch`], [`Error::ShapeMismatch`], [`Error::InconsistentTensor`].
pub(crate) fn step_inputs<A>(
    params: &mut dyn TensorListMut<A>,
    grads: &dyn TensorList<A>,
) -> Result<usize, Error> {
    let n = read_inputs(&*params, grads)?;
    for index in 0..n {
        let read_at = params.tensor(index).map(address);
        let read = ShapeCopy::of(params.tensor(index).map_or(&[][..], |t| t.shape()));
        let read = read.as_slice();
        let Some(p) = params.tensor_mut(index) else {
            return Err(Error::LengthMismatch {
                params: n,
                grads: grads.len(),
            });
        };
        if p.shape() != read || !consistent(&*p) {
            return Err(Error::InconsistentTensor {
                index,
                reason: "the list lends a writable tensor of another shape than the readable one",
            });
        }
        if read_at != Some(address(&*p)) {
            return Err(Error::InconsistentTensor {
                index,
                reason: "the list lends another tensor for writing than for reading",
            });
        }
    }
    Ok(n)
}

/// Where a tensor's elements are: two views of one tensor give the same address, whichever
/// method lent them.
pub(crate) fn address<A>(t: &dyn Tensor<A>) -> usize {
    match t.as_slice_memory_order() {
        Some(slice) => slice.as_ptr() as usize,
        None => t.view_dyn().as_ptr() as usize,
    }
}

/// [`step_inputs`] for read-only access (what `check_step` can see).
pub(crate) fn read_inputs<A>(
    params: &dyn TensorList<A>,
    grads: &dyn TensorList<A>,
) -> Result<usize, Error> {
    let n = params.len();
    if grads.len() != n {
        return Err(Error::LengthMismatch {
            params: n,
            grads: grads.len(),
        });
    }
    for index in 0..n {
        if grads.absent(index) {
            // No gradient this step: the parameter must still be there, and consistent.
            match params.tensor(index) {
                Some(p) if consistent(p) => continue,
                Some(_) => {
                    return Err(Error::InconsistentTensor {
                        index,
                        reason: "its memory slice does not hold the elements its shape says",
                    });
                }
                None => {
                    return Err(Error::LengthMismatch {
                        params: n,
                        grads: grads.len(),
                    });
                }
            }
        }
        let (Some(p), Some(g)) = (params.tensor(index), grads.tensor(index)) else {
            return Err(Error::LengthMismatch {
                params: n,
                grads: grads.len(),
            });
        };
        if p.shape() != g.shape() {
            return Err(Error::ShapeMismatch {
                index,
                param: p.shape().to_vec(),
                grad: g.shape().to_vec(),
            });
        }
        if !consistent(p) || !consistent(g) {
            return Err(Error::InconsistentTensor {
                index,
                reason: "its memory slice does not hold the elements its shape says",
            });
        }
    }
    Ok(n)
}

/// One writable list on its own (the gradients a clipping function changes): every tensor it
/// counts is lent, both ways, with one shape, each internally consistent.
///
/// # Errors
///
/// [`Error::LengthMismatch`] (with `params` the count the list claims and `grads` the first
/// index it did not lend), [`Error::InconsistentTensor`].
pub(crate) fn list_mut<A>(list: &mut dyn TensorListMut<A>) -> Result<usize, Error> {
    let n = list.len();
    for index in 0..n {
        let read = match list.tensor(index) {
            Some(t) if consistent(t) => ShapeCopy::of(t.shape()),
            Some(_) => {
                return Err(Error::InconsistentTensor {
                    index,
                    reason: "its memory slice does not hold the elements its shape says",
                });
            }
            None => {
                return Err(Error::LengthMismatch {
                    params: n,
                    grads: index,
                });
            }
        };
        match list.tensor_mut(index) {
            Some(t) if t.shape() == read.as_slice() && consistent(&*t) => {}
            Some(_) => {
                return Err(Error::InconsistentTensor {
                    index,
                    reason: "the list lends a writable tensor of another shape than the readable one",
                });
            }
            None => {
                return Err(Error::LengthMismatch {
                    params: n,
                    grads: index,
                });
            }
        }
    }
    Ok(n)
}

/// One read-only list on its own (the parameters an average is taken of): every tensor it
/// counts is lent and internally consistent. Returns the number of tensors.
///
/// # Errors
///
/// [`Error::LengthMismatch`] (with `params` the count the list claims and `grads` the first
/// index it did not lend), [`Error::InconsistentTensor`].
pub(crate) fn list<A>(list: &dyn TensorList<A>) -> Result<usize, Error> {
    let n = list.len();
    for index in 0..n {
        match list.tensor(index) {
            Some(t) if consistent(t) => {}
            Some(_) => {
                return Err(Error::InconsistentTensor {
                    index,
                    reason: "its memory slice does not hold the elements its shape says",
                });
            }
            None => {
                return Err(Error::LengthMismatch {
                    params: n,
                    grads: index,
                });
            }
        }
    }
    Ok(n)
}

/// A copy of a shape, on the stack for up to eight axes: comparing a list's two views of one
/// tensor must not allocate (a step allocates nothing after the first).
enum ShapeCopy {
    Inline([usize; 8], usize),
    Heap(Vec<usize>),
}

impl ShapeCopy {
    fn of(shape: &[usize]) -> Self {
        match shape.len() {
            n @ 0..=8 => {
                let mut inline = [0; 8];
                inline[..n].copy_from_slice(shape);
                ShapeCopy::Inline(inline, n)
            }
            _ => ShapeCopy::Heap(shape.to_vec()),
        }
    }

    fn as_slice(&self) -> &[usize] {
        match self {
            ShapeCopy::Inline(inline, n) => &inline[..*n],
            ShapeCopy::Heap(shape) => shape,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_name_the_hyperparameter() {
        assert!(non_negative("lr", 0.0).is_ok());
        assert!(non_negative("lr", f64::INFINITY).is_err());
        assert!(positive("eps", 0.0).is_err());
        assert!(beta("beta", 1.0).is_err());
        assert!(unit("rho", 1.0).is_ok());
        assert!(matches!(
            require(false, "x", 1.0, "must be odd"),
            Err(Error::InvalidHyperparameter { name: "x", .. })
        ));
    }
}
