//! What a communication engine provides: [`Collective`], and the gradient all-reduce of a
//! data-parallel training loop built on it.

use std::sync::Arc;

use crate::error::Error;
use crate::float::Float;
use crate::tensor::TensorListMut;

/// A communication engine between `world_size` ranks (processes, or threads): exactly what a
/// [`Sharded`](super::Sharded) step and a data-parallel training loop need of one.
///
/// Implemented by [`Threads`](super::Threads) (ranks as threads of one process); another engine
/// (MPI, NCCL, gloo, your own) implements these methods and drives the same code.
///
/// # The contract
///
/// * **Every rank makes the same calls in the same order**, with the same lengths (and the same
///   `root`, the same `counts`). The crate's own callers guarantee it, errors included.
/// * **A collective that fails returns `Err` on every rank that calls it** (an engine arranges
///   it: a rank that cannot take part makes the others' call fail, as NCCL's communicator abort
///   and [`Threads`](super::Threads) do). Later calls may work again. An engine whose failures
///   end the process instead (MPI's default error handler aborts the job) says so with
///   [`failures_are_fatal`](Collective::failures_are_fatal).
/// * Errors are [`Error::Collective`].
///
/// # Example
///
/// ```
/// use ndarray_optim::distributed::{Collective, Threads};
///
/// // Two ranks as two threads: each contributes its rank, each gets both.
/// let gathered = Threads::run(2, |comm| {
///     let mut all = [0u64; 2];
///     comm.all_gather_u64(&[comm.rank() as u64 * 10], &mut all)?;
///     Ok::<_, ndarray_optim::Error>(all)
/// })?;
/// assert_eq!(gathered, [Ok([0, 10]), Ok([0, 10])]);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
pub trait Collective: Send + Sync {
    /// This rank, `0 ≤ rank < world_size`.
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn world_size(&self) -> usize;
    /// Whether a failed collective ends the process rather than returning an error (MPI's
    /// default error handler aborts the job). A sharded step then keeps no copy of its shard
    /// to undo a failed exchange with: nothing can fail after its update. Default `false`.
    fn failures_are_fatal(&self) -> bool {
        false
    }
    /// Every rank's `send` (of one length on every rank), in rank order, into every rank's
    /// `recv` (of `world_size · send.len()` elements).
    ///
    /// # Errors
    ///
    /// [`Error::Collective`].
    fn all_gather_u64(&self, send: &[u64], recv: &mut [u64]) -> Result<(), Error>;
    /// Every rank's `send` (`counts[r]` elements from rank `r`; every rank passes the same
    /// `counts`), in rank order, into every rank's `recv` (of `Σ counts` elements): the partial
    /// sums of a sharded step.
    ///
    /// # Errors
    ///
    /// [`Error::Collective`].
    fn all_gather_f64(&self, send: &[f64], counts: &[usize], recv: &mut [f64])
    -> Result<(), Error>;
    /// Rank `root`'s `buf` into every rank's `buf` (of one length on every rank).
    ///
    /// # Errors
    ///
    /// [`Error::Collective`].
    fn broadcast_u8(&self, buf: &mut [u8], root: usize) -> Result<(), Error>;
    /// [`broadcast_u8`](Collective::broadcast_u8) of `f32` elements: an updated tensor.
    ///
    /// # Errors
    ///
    /// [`Error::Collective`].
    fn broadcast_f32(&self, buf: &mut [f32], root: usize) -> Result<(), Error>;
    /// [`broadcast_u8`](Collective::broadcast_u8) of `f64` elements.
    ///
    /// # Errors
    ///
    /// [`Error::Collective`].
    fn broadcast_f64(&self, buf: &mut [f64], root: usize) -> Result<(), Error>;
    /// Every rank's `buf` summed element by element into every rank's `buf`, in the engine's
    /// own order (an MPI `SUM`: fast, but which additions happen in which order, and so the
    /// rounding, is the engine's and may depend on the world size).
    ///
    /// # Errors
    ///
    /// [`Error::Collective`].
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<(), Error>;
    /// [`all_reduce_sum_f32`](Collective::all_reduce_sum_f32) of `f64` elements.
    ///
    /// # Errors
    ///
    /// [`Error::Collective`].
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<(), Error>;
    /// The sum in rank order, `((b₀ + b₁) + b₂) + …` for every element: the same bits on every
    /// engine, what a bit-exact comparison with one process needs.
    ///
    /// # Errors
    ///
    /// [`Error::Collective`].
    fn all_reduce_sum_ordered_f32(&self, buf: &mut [f32]) -> Result<(), Error>;
    /// [`all_reduce_sum_ordered_f32`](Collective::all_reduce_sum_ordered_f32) of `f64`
    /// elements.
    ///
    /// # Errors
    ///
    /// [`Error::Collective`].
    fn all_reduce_sum_ordered_f64(&self, buf: &mut [f64]) -> Result<(), Error>;
}

macro_rules! forward_collective {
    ($($pointer:ty),*) => {$(
        impl<C: Collective + ?Sized> Collective for $pointer {
            fn rank(&self) -> usize {
                (**self).rank()
            }
            fn world_size(&self) -> usize {
                (**self).world_size()
            }
            fn failures_are_fatal(&self) -> bool {
                (**self).failures_are_fatal()
            }
            fn all_gather_u64(&self, send: &[u64], recv: &mut [u64]) -> Result<(), Error> {
                (**self).all_gather_u64(send, recv)
            }
            fn all_gather_f64(
                &self,
                send: &[f64],
                counts: &[usize],
                recv: &mut [f64],
            ) -> Result<(), Error> {
                (**self).all_gather_f64(send, counts, recv)
            }
            fn broadcast_u8(&self, buf: &mut [u8], root: usize) -> Result<(), Error> {
                (**self).broadcast_u8(buf, root)
            }
            fn broadcast_f32(&self, buf: &mut [f32], root: usize) -> Result<(), Error> {
                (**self).broadcast_f32(buf, root)
            }
            fn broadcast_f64(&self, buf: &mut [f64], root: usize) -> Result<(), Error> {
                (**self).broadcast_f64(buf, root)
            }
            fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<(), Error> {
                (**self).all_reduce_sum_f32(buf)
            }
            fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<(), Error> {
                (**self).all_reduce_sum_f64(buf)
            }
            fn all_reduce_sum_ordered_f32(&self, buf: &mut [f32]) -> Result<(), Error> {
                (**self).all_reduce_sum_ordered_f32(buf)
            }
            fn all_reduce_sum_ordered_f64(&self, buf: &mut [f64]) -> Result<(), Error> {
                (**self).all_reduce_sum_ordered_f64(buf)
            }
        }
    )*};
}
forward_collective!(&C, Box<C>, Arc<C>);

/// Which order an all-reduce adds the ranks' gradients in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SumOrder {
    /// The engine's own ([`Collective::all_reduce_sum_f32`]): the fastest.
    #[default]
    Engine,
    /// Rank order ([`Collective::all_reduce_sum_ordered_f32`]): the same bits for every engine.
    Ranks,
}

/// Sums every rank's gradients, tensor by tensor, into every rank's gradients: the all-reduce
/// of a data-parallel training loop, between the backward pass and the optimizer's step. As
/// PyTorch's `all_reduce(SUM)`; DistributedDataParallel also divides by the world size, which
/// this leaves to you (divide the loss, or scale the gradients).
///
/// Every rank calls it with a list of the same shapes; that is checked first, in one small
/// round, so that ranks that disagree all get an error instead of waiting on each other.
/// Tensors in row-major order are summed in place; others go through a row-major copy (an
/// allocation per such tensor per call).
///
/// # Errors
///
/// [`Error::RankMismatch`] when the ranks' lists differ in count or shapes,
/// [`Error::RankFailed`] when another rank's list is inconsistent (its own rank returns the
/// list's error), [`Error::Collective`]. On an error from the first round nothing changed.
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::distributed::{all_reduce_gradients, Collective, SumOrder, Threads};
///
/// let sums = Threads::run(3, |comm| {
///     let mut g = array![1.0_f32, 2.0] * (comm.rank() as f32 + 1.0);
///     all_reduce_gradients(&comm, &mut g, SumOrder::Ranks).map(|()| g)
/// })?;
/// for sum in sums {
///     assert_eq!(sum?, array![6.0, 12.0]); // (1 + 2) + 3 times each
/// }
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
pub fn all_reduce_gradients<A: Float>(
    collective: &dyn Collective,
    grads: &mut dyn TensorListMut<A>,
    order: SumOrder,
) -> Result<(), Error> {
    let local = crate::check::list_mut(grads).map(|n| {
        let mut hash = super::hash::Fnv::new();
        for index in 0..n {
            hash.shape(grads.tensor(index).map_or(&[][..], |t| t.shape()));
        }
        [n as u64, hash.finish()]
    });
    let mut gathered = Vec::new();
    super::agree::agree(
        collective,
        local.as_ref().map(|words| &words[..]).map_err(Clone::clone),
        &["the tensor count", "the tensor shapes"],
        &mut gathered,
    )?;
    let n = local?[0] as usize;
    for index in 0..n {
        let Some(t) = grads.tensor_mut(index) else {
            continue; // checked by list_mut
        };
        let mut view = t.view_dyn_mut();
        match view.as_slice_mut() {
            Some(elements) => A::all_reduce(collective, elements, order)?,
            None => {
                let mut elements: Vec<A> = view.iter().copied().collect();
                A::all_reduce(collective, &mut elements, order)?;
                view.iter_mut().zip(elements).for_each(|(x, sum)| *x = sum);
            }
        }
    }
    Ok(())
}
