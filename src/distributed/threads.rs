//! Ranks as threads of one process: [`Threads`].

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::collective::Collective;
use crate::error::Error;

/// A [`Collective`] whose ranks are threads of one process: for tests, for simulating many
/// ranks on one machine, and for data-parallel training on one machine's cores.
///
/// [`Threads::group`] makes the handles of one group, one per rank; each thread takes one.
/// [`Threads::run`] does that and runs a closure on every rank. A collective is a barrier:
/// every rank deposits its part under one lock, and each takes what it needs once all have.
/// Sums are added in rank order, `((b₀ + b₁) + b₂) + …`, for the plain and the ordered
/// all-reduce alike, so every result is the same bits at every run.
///
/// Failures follow the [`Collective`] contract: a collective that fails returns `Err` on every
/// rank. It fails when the ranks disagree on the call (another operation, another length or
/// root: a bug in the caller, reported instead of corrupting data), when a rank's handle was
/// dropped (a thread that ended or panicked: no rank waits for it for ever), when a rank waits
/// longer than the group's timeout ([`Threads::group_with_timeout`]; after that the group stays
/// broken), and on purpose, for testing recovery: [`fail_next`](Threads::fail_next).
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::distributed::{Collective, Threads};
///
/// let results = Threads::run(4, |comm| {
///     let mut g = array![comm.rank() as f32, 1.0];
///     comm.all_reduce_sum_ordered_f32(g.as_slice_mut().unwrap())?;
///     Ok::<_, ndarray_optim::Error>(g)
/// })?;
/// assert!(results.iter().all(|r| r.as_ref().unwrap() == array![6.0, 4.0]));
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Debug)]
pub struct Threads {
    rank: usize,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    world: usize,
    timeout: Option<Duration>,
    room: Mutex<Room>,
    turn: Condvar,
}

/// The state of the group's current collective.
#[derive(Debug)]
struct Room {
    /// Completed collectives.
    generation: u64,
    /// Whether every rank has deposited and the ranks are taking their results.
    draining: bool,
    arrived: usize,
    departed: usize,
    /// The call of the first rank to arrive, which every other rank's must equal.
    call: Call,
    /// Why this collective fails for every rank (the ranks disagree on the call).
    mismatch: Option<String>,
    /// The collective that [`Threads::fail_next`] makes fail, and why.
    fail: Option<(u64, String)>,
    /// Why every collective fails from now on (a rank left, a wait timed out).
    broken: Option<String>,
    slots: Vec<Slot>,
}

/// One call: the operation, its length, and its root or counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Call {
    operation: &'static str,
    len: usize,
    detail: u64,
}

/// What one rank deposits, in buffers kept from call to call (no allocation once they are
/// large enough).
#[derive(Debug, Default)]
struct Slot {
    words: Vec<u64>,
    doubles: Vec<f64>,
    floats: Vec<f32>,
    bytes: Vec<u8>,
}

impl Threads {
    /// The handles of a group of `world_size` ranks, one per rank, in rank order; without a
    /// timeout (a rank waits for the others as long as it takes).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRank`] for a world size of 0.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::distributed::{Collective, Threads};
    /// use ndarray_optim::Error;
    ///
    /// let group = Threads::group(3)?;
    /// assert_eq!((group[2].rank(), group[2].world_size()), (2, 3));
    /// assert!(matches!(Threads::group(0), Err(Error::InvalidRank { world_size: 0, .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn group(world_size: usize) -> Result<Vec<Threads>, Error> {
        Self::make(world_size, None)
    }

    /// [`group`](Threads::group) with a timeout: a rank that waits longer than `timeout` for
    /// the others makes the collective fail on every rank, and every later one (a rank that
    /// never comes is a deadlock turned into an error).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRank`] for a world size of 0.
    pub fn group_with_timeout(world_size: usize, timeout: Duration) -> Result<Vec<Threads>, Error> {
        Self::make(world_size, Some(timeout))
    }

    fn make(world: usize, timeout: Option<Duration>) -> Result<Vec<Threads>, Error> {
        if world == 0 {
            return Err(Error::InvalidRank {
                rank: 0,
                world_size: 0,
            });
        }
        let shared = Arc::new(Shared {
            world,
            timeout,
            room: Mutex::new(Room {
                generation: 0,
                draining: false,
                arrived: 0,
                departed: 0,
                call: Call {
                    operation: "",
                    len: 0,
                    detail: 0,
                },
                mismatch: None,
                fail: None,
                broken: None,
                slots: (0..world).map(|_| Slot::default()).collect(),
            }),
            turn: Condvar::new(),
        });
        Ok((0..world)
            .map(|rank| Threads {
                rank,
                shared: Arc::clone(&shared),
            })
            .collect())
    }

    /// Runs `f` on `world_size` threads, each with its rank's handle, and returns their results
    /// in rank order. A panic on a rank ends its handle (the others' collectives then fail)
    /// and is passed on once every thread has ended.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRank`] for a world size of 0.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::distributed::{Collective, Threads};
    ///
    /// let ranks = Threads::run(3, |comm| comm.rank())?;
    /// assert_eq!(ranks, [0, 1, 2]);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn run<T: Send>(
        world_size: usize,
        f: impl Fn(Threads) -> T + Sync,
    ) -> Result<Vec<T>, Error> {
        let group = Self::group(world_size)?;
        let f = &f;
        let joined: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = group
                .into_iter()
                .map(|comm| scope.spawn(move || f(comm)))
                .collect();
            handles.into_iter().map(|h| h.join()).collect()
        });
        Ok(joined
            .into_iter()
            .map(|result| result.unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect())
    }

    /// Makes the next collective this rank calls fail, on every rank, with `reason`; the
    /// group works again after it. For testing what a failure does (a sharded step undoes its
    /// update, and every rank returns the error).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::distributed::{Collective, Threads};
    /// use ndarray_optim::Error;
    ///
    /// let results = Threads::run(2, |comm| {
    ///     if comm.rank() == 1 {
    ///         comm.fail_next("a test");
    ///     }
    ///     let mut x = [comm.rank() as f64];
    ///     let first = comm.broadcast_f64(&mut x, 0);
    ///     let second = comm.broadcast_f64(&mut x, 0);
    ///     (first, second)
    /// })?;
    /// for (first, second) in results {
    ///     assert!(matches!(first, Err(Error::Collective { .. })));
    ///     assert!(second.is_ok());
    /// }
    /// # Ok::<(), Error>(())
    /// ```
    pub fn fail_next(&self, reason: &str) {
        self.fail_later(0, reason);
    }

    /// [`fail_next`](Threads::fail_next) for the collective after the next `skip` ones this
    /// rank calls (`fail_later(0, …)` is `fail_next`): to make a step fail at each of its
    /// collectives in turn.
    pub fn fail_later(&self, skip: u64, reason: &str) {
        let mut room = self.lock();
        // This rank is between collectives: its next one is the one filling now, or the next
        // one if the ranks are still taking the results of the last.
        let target = room.generation + u64::from(room.draining) + skip;
        room.fail = Some((target, reason.to_string()));
    }

    fn lock(&self) -> MutexGuard<'_, Room> {
        // A rank that panicked while holding the lock left the room consistent: every update
        // under it is a few assignments; carry on.
        self.shared
            .room
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits on the group's condition, within the timeout; `false` if it passed.
    fn wait<'a>(
        &'a self,
        room: MutexGuard<'a, Room>,
        until: Option<Instant>,
    ) -> (MutexGuard<'a, Room>, bool) {
        match until {
            None => (
                self.shared
                    .turn
                    .wait(room)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                true,
            ),
            Some(until) => {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return (room, false);
                }
                let (room, _) = self
                    .shared
                    .turn
                    .wait_timeout(room, left)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                (room, true)
            }
        }
    }

    /// One collective, first half: `deposit` this rank's part, and wait until every rank has.
    /// `bad` is an error in this rank's own arguments, which makes the collective fail on
    /// every rank (once every rank arrived: none waits). The result is taken with
    /// [`Entered::finish`].
    fn enter(
        &self,
        call: Call,
        bad: Option<String>,
        deposit: impl FnOnce(&mut Slot),
    ) -> Result<Entered<'_>, Error> {
        let failed = |reason: String| Error::Collective {
            operation: call.operation,
            reason,
        };
        let until = self.shared.timeout.map(|t| Instant::now() + t);
        let mut room = self.lock();
        // The previous collective's results must all be taken before this one fills.
        while room.draining && room.broken.is_none() {
            let (next, in_time) = self.wait(room, until);
            room = next;
            if !in_time && room.draining {
                room.broken = Some(format!("rank {} timed out", self.rank));
                self.shared.turn.notify_all();
            }
        }
        if let Some(reason) = &room.broken {
            return Err(failed(reason.clone()));
        }
        if room.arrived == 0 {
            room.call = call;
        } else if room.call != call && room.mismatch.is_none() {
            room.mismatch = Some(format!(
                "the ranks disagree on the call: {:?} first, {:?} on rank {}",
                room.call, call, self.rank
            ));
        }
        if let Some(reason) = bad
            && room.mismatch.is_none()
        {
            room.mismatch = Some(format!("rank {}: {reason}", self.rank));
        }
        deposit(&mut room.slots[self.rank]);
        room.arrived += 1;
        if room.arrived == self.shared.world {
            room.draining = true;
            self.shared.turn.notify_all();
        }
        while !room.draining && room.broken.is_none() {
            let (next, in_time) = self.wait(room, until);
            room = next;
            if !in_time && !room.draining {
                room.broken = Some(format!(
                    "rank {} timed out waiting for the others",
                    self.rank
                ));
                self.shared.turn.notify_all();
            }
        }
        if !room.draining {
            // Broken before every rank arrived: the others will not come.
            let reason = room.broken.clone().unwrap_or_default();
            return Err(failed(reason));
        }
        let generation = room.generation;
        let outcome = match (&room.mismatch, &room.fail) {
            (Some(reason), _) => Err(failed(reason.clone())),
            (None, Some((target, reason))) if *target == generation => Err(failed(reason.clone())),
            _ => Ok(()),
        };
        Ok(Entered {
            world: self.shared.world,
            turn: &self.shared.turn,
            room,
            generation,
            outcome,
        })
    }
    fn check_root(&self, root: usize) -> Option<String> {
        (root >= self.shared.world)
            .then(|| format!("root {root} is not a rank of {}", self.shared.world))
    }

    fn gather_len(&self, send: usize, recv: usize) -> Option<String> {
        (send * self.shared.world != recv).then(|| {
            format!(
                "{recv} elements to receive for {send} from each of {} ranks",
                self.shared.world
            )
        })
    }
}

/// A collective every rank has entered: its outcome, and the parts to take the result from.
/// Leaving (dropping it) lets the next collective begin once every rank has left.
struct Entered<'a> {
    world: usize,
    turn: &'a Condvar,
    room: MutexGuard<'a, Room>,
    generation: u64,
    outcome: Result<(), Error>,
}

impl Entered<'_> {
    /// The collective's result: `collect` of every rank's part, unless it failed.
    fn finish<R>(self, collect: impl FnOnce(&[Slot]) -> R) -> Result<R, Error> {
        let outcome = self.outcome.clone();
        outcome.map(|()| collect(&self.room.slots))
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        let room = &mut *self.room;
        room.departed += 1;
        if room.departed == self.world {
            room.arrived = 0;
            room.departed = 0;
            room.draining = false;
            room.mismatch = None;
            if room
                .fail
                .as_ref()
                .is_some_and(|(target, _)| *target <= self.generation)
            {
                room.fail = None;
            }
            room.generation += 1;
            self.turn.notify_all();
        }
    }
}

impl Drop for Threads {
    /// A rank that leaves (its thread ended or panicked) breaks the group: the others'
    /// collectives fail instead of waiting for it.
    fn drop(&mut self) {
        let mut room = self.lock();
        if room.broken.is_none() {
            room.broken = Some(format!("rank {} left the group", self.rank));
        }
        self.shared.turn.notify_all();
    }
}

fn fill<T: Copy>(buffer: &mut Vec<T>, from: &[T]) {
    buffer.clear();
    buffer.extend_from_slice(from);
}

/// `out[i] = part₀[i] + part₁[i] + …`, added in rank order.
fn ordered_sum<'a, T: Copy + std::ops::AddAssign + 'a>(
    out: &mut [T],
    parts: impl Iterator<Item = &'a [T]>,
) {
    for (rank, part) in parts.enumerate() {
        let part = &part[..out.len()];
        if rank == 0 {
            out.copy_from_slice(part);
        } else {
            out.iter_mut().zip(part).for_each(|(o, &x)| *o += x);
        }
    }
}

/// A broadcast of one element type, whose buffers `field` picks.
fn broadcast<T: Copy>(
    comm: &Threads,
    operation: &'static str,
    buf: &mut [T],
    root: usize,
    field: fn(&Slot) -> &Vec<T>,
    field_mut: fn(&mut Slot) -> &mut Vec<T>,
) -> Result<(), Error> {
    let call = Call {
        operation,
        len: buf.len(),
        detail: root as u64,
    };
    let is_root = comm.rank == root;
    let bad = comm.check_root(root);
    let entered = comm.enter(call, bad, |slot| {
        if is_root {
            fill(field_mut(slot), buf);
        }
    })?;
    entered.finish(|slots| {
        if !is_root {
            buf.copy_from_slice(&field(&slots[root])[..buf.len()]);
        }
    })
}

impl Collective for Threads {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world_size(&self) -> usize {
        self.shared.world
    }

    fn all_gather_u64(&self, send: &[u64], recv: &mut [u64]) -> Result<(), Error> {
        let call = Call {
            operation: "all_gather_u64",
            len: send.len(),
            detail: 0,
        };
        let bad = self.gather_len(send.len(), recv.len());
        let entered = self.enter(call, bad, |slot| fill(&mut slot.words, send))?;
        entered.finish(|slots| {
            for (out, slot) in recv.chunks_mut(send.len().max(1)).zip(slots) {
                out.copy_from_slice(&slot.words[..out.len()]);
            }
        })
    }

    fn all_gather_f64(
        &self,
        send: &[f64],
        counts: &[usize],
        recv: &mut [f64],
    ) -> Result<(), Error> {
        let mut hash = super::hash::Fnv::new();
        counts.iter().for_each(|&c| hash.word(c as u64));
        let total: usize = counts.iter().sum();
        let call = Call {
            operation: "all_gather_f64",
            len: total,
            detail: hash.finish(),
        };
        let bad = if counts.len() != self.shared.world {
            Some(format!(
                "{} counts for {} ranks",
                counts.len(),
                self.shared.world
            ))
        } else if counts[self.rank] != send.len() || recv.len() != total {
            Some(format!(
                "{} elements to send (counted {}), {} to receive (counted {total})",
                send.len(),
                counts[self.rank],
                recv.len()
            ))
        } else {
            None
        };
        let entered = self.enter(call, bad, |slot| fill(&mut slot.doubles, send))?;
        entered.finish(|slots| {
            let mut at = 0;
            for (slot, &count) in slots.iter().zip(counts) {
                recv[at..at + count].copy_from_slice(&slot.doubles[..count]);
                at += count;
            }
        })
    }

    fn broadcast_u8(&self, buf: &mut [u8], root: usize) -> Result<(), Error> {
        broadcast(
            self,
            "broadcast_u8",
            buf,
            root,
            |s| &s.bytes,
            |s| &mut s.bytes,
        )
    }

    fn broadcast_f32(&self, buf: &mut [f32], root: usize) -> Result<(), Error> {
        broadcast(
            self,
            "broadcast_f32",
            buf,
            root,
            |s| &s.floats,
            |s| &mut s.floats,
        )
    }

    fn broadcast_f64(&self, buf: &mut [f64], root: usize) -> Result<(), Error> {
        broadcast(
            self,
            "broadcast_f64",
            buf,
            root,
            |s| &s.doubles,
            |s| &mut s.doubles,
        )
    }

    /// The sum in rank order: the same as
    /// [`all_reduce_sum_ordered_f32`](Collective::all_reduce_sum_ordered_f32).
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<(), Error> {
        self.all_reduce_sum_ordered_f32(buf)
    }

    /// The sum in rank order: the same as
    /// [`all_reduce_sum_ordered_f64`](Collective::all_reduce_sum_ordered_f64).
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<(), Error> {
        self.all_reduce_sum_ordered_f64(buf)
    }

    fn all_reduce_sum_ordered_f32(&self, buf: &mut [f32]) -> Result<(), Error> {
        let call = Call {
            operation: "all_reduce_sum_f32",
            len: buf.len(),
            detail: 0,
        };
        let entered = self.enter(call, None, |slot| fill(&mut slot.floats, buf))?;
        entered.finish(|slots| ordered_sum(buf, slots.iter().map(|s| &s.floats[..])))
    }

    fn all_reduce_sum_ordered_f64(&self, buf: &mut [f64]) -> Result<(), Error> {
        let call = Call {
            operation: "all_reduce_sum_f64",
            len: buf.len(),
            detail: 0,
        };
        let entered = self.enter(call, None, |slot| fill(&mut slot.doubles, buf))?;
        entered.finish(|slots| ordered_sum(buf, slots.iter().map(|s| &s.doubles[..])))
    }
}
