//! The collectives on MPI (the `mpi` feature, through rsmpi): [`Mpi`].

use std::sync::Mutex;

use mpi::collective::SystemOperation;
use mpi::datatype::{Equivalence, PartitionMut};
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};

use super::collective::Collective;
use crate::error::Error;

/// A [`Collective`] on an MPI communicator: data-parallel training across processes and
/// machines (the `mpi` feature).
///
/// Launch one process per rank with the MPI implementation's launcher (`mpiexec -n 4 ./train`);
/// each process calls [`mpi::initialize`](super::rsmpi::initialize) once, and makes its
/// `Mpi` from the world communicator (or any other).
///
/// * Broadcasts and gathers are `MPI_Bcast`, `MPI_Allgather` and `MPI_Allgatherv`.
/// * The engine's all-reduce ([`all_reduce_sum_f32`](Collective::all_reduce_sum_f32)) is
///   `MPI_Allreduce` with `MPI_SUM`, whose order of additions is the implementation's (it may
///   change with the number of processes and the message size).
/// * The ordered all-reduce gathers every rank's buffer (`MPI_Allgather`: `world_size` times
///   the buffer's memory, for the call) and adds them in rank order on every rank: the bits of
///   [`Threads`](super::Threads) and of one process adding the same parts.
///
/// MPI's default error handler ends the job on a failed call, so
/// [`failures_are_fatal`](Collective::failures_are_fatal) is `true`: a
/// [`Sharded`](super::Sharded) step then keeps no undo copy. Arguments of the wrong length are
/// refused with [`Error::Collective`] before MPI is called (a bug in the caller: the crate's
/// own callers pass the same lengths on every rank).
///
/// A handle is used from one thread at a time (MPI is initialised with
/// `MPI_THREAD_SINGLE` by `mpi::initialize`): the calls hold a lock.
///
/// # Example
///
/// Run with `mpiexec -n 2`:
///
/// ```no_run
/// use ndarray::array;
/// use ndarray_optim::distributed::{rsmpi, Collective, Mpi, Sharded};
/// use ndarray_optim::{Adam, Optimizer};
///
/// let universe = rsmpi::initialize().expect("MPI initialised once");
/// let comm = Mpi::world(&universe);
/// let mut params = vec![array![1.0_f32, 2.0], array![3.0]];
/// let grads = vec![array![0.1_f32, 0.2], array![0.3]]; // all-reduced by now
/// let mut opt = Sharded::new(Adam::new(0.01)?, comm)?;
/// opt.step(&mut params, &grads)?;
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
pub struct Mpi {
    comm: Mutex<SimpleCommunicator>,
    rank: usize,
    world: usize,
    library: String,
}

impl std::fmt::Debug for Mpi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mpi")
            .field("rank", &self.rank)
            .field("world_size", &self.world)
            .field("library", &self.library)
            .finish()
    }
}

impl Mpi {
    /// The world communicator (`MPI_COMM_WORLD`): every process of the job.
    pub fn world(universe: &Universe) -> Mpi {
        Mpi::new(universe.world())
    }

    /// Any communicator (a split of the world, for example).
    pub fn new(comm: SimpleCommunicator) -> Mpi {
        let rank = usize::try_from(comm.rank()).unwrap_or(0);
        let world = usize::try_from(comm.size()).unwrap_or(1);
        let library = mpi::environment::library_version().unwrap_or_default();
        Mpi {
            comm: Mutex::new(comm),
            rank,
            world,
            library,
        }
    }

    /// The MPI library's version string (`MPI_Get_library_version`).
    pub fn library_version(&self) -> &str {
        &self.library
    }

    fn with<R>(&self, f: impl FnOnce(&SimpleCommunicator) -> R) -> R {
        let comm = self
            .comm
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&comm)
    }

    fn broadcast<T: Equivalence>(
        &self,
        operation: &'static str,
        buf: &mut [T],
        root: usize,
    ) -> Result<(), Error> {
        let root = rank_of(operation, root, self.world)?;
        count(operation, buf.len())?;
        self.with(|comm| comm.process_at_rank(root).broadcast_into(buf));
        Ok(())
    }

    fn sum<T>(&self, operation: &'static str, buf: &mut [T]) -> Result<(), Error>
    where
        T: Equivalence + Copy,
    {
        count(operation, buf.len())?;
        let send = buf.to_vec();
        self.with(|comm| comm.all_reduce_into(&send[..], buf, SystemOperation::sum()));
        Ok(())
    }

    fn ordered_sum<T>(&self, operation: &'static str, buf: &mut [T]) -> Result<(), Error>
    where
        T: Equivalence + Copy + std::ops::AddAssign,
    {
        let total = buf.len().checked_mul(self.world);
        count(operation, total.unwrap_or(usize::MAX))?;
        if buf.is_empty() {
            return Ok(());
        }
        let mut all = buf.to_vec();
        all.extend(std::iter::repeat_n(buf[0], buf.len() * (self.world - 1)));
        self.with(|comm| comm.all_gather_into(&*buf, &mut all[..]));
        for (rank, part) in all.chunks_exact(buf.len()).enumerate() {
            if rank == 0 {
                buf.copy_from_slice(part);
            } else {
                buf.iter_mut().zip(part).for_each(|(b, &x)| *b += x);
            }
        }
        Ok(())
    }
}

/// An MPI count: lengths beyond `i32::MAX` cannot be sent in one call.
fn count(operation: &'static str, len: usize) -> Result<i32, Error> {
    i32::try_from(len).map_err(|_| Error::Collective {
        operation,
        reason: format!("{len} elements: more than an MPI count holds"),
    })
}

fn rank_of(operation: &'static str, root: usize, world: usize) -> Result<i32, Error> {
    if root >= world {
        return Err(Error::Collective {
            operation,
            reason: format!("root {root} is not a rank of {world}"),
        });
    }
    count(operation, root)
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world_size(&self) -> usize {
        self.world
    }

    /// `true`: MPI's default error handler ends the job.
    fn failures_are_fatal(&self) -> bool {
        true
    }

    fn all_gather_u64(&self, send: &[u64], recv: &mut [u64]) -> Result<(), Error> {
        let operation = "all_gather_u64";
        if send.len() * self.world != recv.len() {
            return Err(Error::Collective {
                operation,
                reason: format!(
                    "{} elements to receive for {} from each of {} ranks",
                    recv.len(),
                    send.len(),
                    self.world
                ),
            });
        }
        count(operation, recv.len())?;
        self.with(|comm| comm.all_gather_into(send, recv));
        Ok(())
    }

    fn all_gather_f64(
        &self,
        send: &[f64],
        counts: &[usize],
        recv: &mut [f64],
    ) -> Result<(), Error> {
        let operation = "all_gather_f64";
        let total: usize = counts.iter().sum();
        if counts.len() != self.world || counts[self.rank] != send.len() || recv.len() != total {
            return Err(Error::Collective {
                operation,
                reason: format!(
                    "{} elements to send, {} to receive, counts {counts:?}",
                    send.len(),
                    recv.len()
                ),
            });
        }
        count(operation, total)?;
        let counts: Vec<i32> = counts.iter().map(|&c| c as i32).collect();
        let displs: Vec<i32> = counts
            .iter()
            .scan(0, |at, &c| {
                let start = *at;
                *at += c;
                Some(start)
            })
            .collect();
        self.with(|comm| {
            let mut partition = PartitionMut::new(recv, &counts[..], &displs[..]);
            comm.all_gather_varcount_into(send, &mut partition);
        });
        Ok(())
    }

    fn broadcast_u8(&self, buf: &mut [u8], root: usize) -> Result<(), Error> {
        self.broadcast("broadcast_u8", buf, root)
    }

    fn broadcast_f32(&self, buf: &mut [f32], root: usize) -> Result<(), Error> {
        self.broadcast("broadcast_f32", buf, root)
    }

    fn broadcast_f64(&self, buf: &mut [f64], root: usize) -> Result<(), Error> {
        self.broadcast("broadcast_f64", buf, root)
    }

    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<(), Error> {
        self.sum("all_reduce_sum_f32", buf)
    }

    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<(), Error> {
        self.sum("all_reduce_sum_f64", buf)
    }

    fn all_reduce_sum_ordered_f32(&self, buf: &mut [f32]) -> Result<(), Error> {
        self.ordered_sum("all_reduce_sum_ordered_f32", buf)
    }

    fn all_reduce_sum_ordered_f64(&self, buf: &mut [f64]) -> Result<(), Error> {
        self.ordered_sum("all_reduce_sum_ordered_f64", buf)
    }
}
