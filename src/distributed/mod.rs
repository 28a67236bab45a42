//! Data-parallel training: gradients all-reduced across ranks, optimizer state sharded across
//! them (ZeRO stage 1), with one process's numbers.
//!
//! In data-parallel training every rank (a process, a machine, or a thread) holds the whole
//! model, computes the gradient of its part of the batch, and the gradients are summed across
//! ranks ([`all_reduce_gradients`]) before every rank steps. The optimizer's state (Adam's two
//! moments: twice the model) is then the largest thing each rank holds for nothing: [`Sharded`]
//! wraps any optimizer of the crate so that each rank keeps and updates the state of only the
//! tensors it owns and sends the updated tensors to the others, as PyTorch's
//! `ZeroRedundancyOptimizer` does.
//!
//! * [`Collective`]: what a communication engine provides (all-gather of a few words, broadcast
//!   of a tensor, all-reduce of gradients). [`Threads`] implements it with ranks as threads of
//!   one process, for tests, simulations and training on one machine's cores; another engine
//!   implements the same few methods.
//! * [`Sharded`]: the optimizer. The sums a step takes over the whole model (LAMB's global
//!   gradient norm, the norm [`MultiSteps`](crate::MultiSteps) clips with, the first non-finite
//!   gradient) are gathered from every rank as per-tensor terms and added in the model's tensor
//!   order, so the result is the bits of one process whatever the number of ranks.
//! * [`consolidate`] and [`split`]: checkpoints of sharded state, merged into one process's
//!   state and cut again for another number of ranks.
//! * [`Reduce`], [`Local`]: the hook through which an optimizer given part of a model gets what
//!   holds for the whole ([`Optimizer::step_reduced`](crate::Optimizer::step_reduced)).
//!
//! # Example
//!
//! Two ranks as threads, each with half of the batch: the gradients are all-reduced in rank
//! order, then the sharded step gives every rank the parameters of one process stepping on the
//! summed gradient.
//!
//! ```
//! use ndarray::{array, Array1};
//! use ndarray_optim::distributed::{all_reduce_gradients, Collective, Sharded, SumOrder, Threads};
//! use ndarray_optim::{AdamW, Optimizer};
//!
//! let start = vec![array![1.0_f32, -1.0], array![0.5_f32]];
//! let halves = [
//!     vec![array![0.1_f32, 0.2], array![0.3_f32]],
//!     vec![array![-0.4_f32, 0.1], array![0.2_f32]],
//! ];
//! let ranks = Threads::run(2, |comm| {
//!     let mut params = start.clone();
//!     let mut grads = halves[comm.rank()].clone(); // this rank's backward pass
//!     all_reduce_gradients(&comm, &mut grads, SumOrder::Ranks)?;
//!     let mut opt = Sharded::new(AdamW::new(0.01)?, comm)?;
//!     opt.step(&mut params, &grads)?;
//!     Ok::<_, ndarray_optim::Error>(params)
//! })?;
//!
//! let mut alone = start.clone();
//! let summed = vec![&halves[0][0] + &halves[1][0], &halves[0][1] + &halves[1][1]];
//! AdamW::new(0.01)?.step(&mut alone, &summed)?;
//! for params in ranks {
//!     assert_eq!(params?, alone);
//! }
//! # Ok::<(), ndarray_optim::Error>(())
//! ```

mod agree;
mod collective;
mod hash;
#[cfg(feature = "mpi")]
mod mpi_comm;
mod reduce;
mod sharded;
mod threads;

/// The rsmpi crate (the `mpi` feature), re-exported: `rsmpi::initialize()` starts MPI, and its
/// communicators make an [`Mpi`].
#[cfg(feature = "mpi")]
pub use ::mpi as rsmpi;
pub use collective::{Collective, SumOrder, all_reduce_gradients};
#[cfg(feature = "mpi")]
pub use mpi_comm::Mpi;
pub use reduce::{Agreed, Combine, Contribution, Local, NonFiniteAt, Reduce};
pub use sharded::{Sharded, consolidate, partition, split, state_bytes};
pub use threads::Threads;
