//! ZeRO stage 1: [`Sharded`], an optimizer whose state is split across ranks, tensor by tensor.

use std::fmt;
use std::sync::Arc;

use super::agree::{agree, verdict};
use super::collective::Collective;
use super::hash::Fnv;
use super::reduce::{Agreed, Combine, Contribution, NonFiniteAt, Reduce};
use crate::check;
use crate::error::Error;
use crate::float::Float;
use crate::groups::{ParamGroup, ParamGroups};
use crate::optimizer::{Optimizer, StepOutcome};
use crate::state::OptimizerState;
use crate::tensor::{Tensor, TensorList, TensorListMut, TensorMut};
use crate::wrappers::forward_to_inner;

/// Which rank owns each tensor: PyTorch's `ZeroRedundancyOptimizer` rule. The tensors, largest
/// first (by element count; ties in list order), each go to the rank holding the fewest
/// elements so far (the lowest such rank). Returns the owner of every tensor, in list order.
///
/// Whole tensors, never pieces: every per-tensor quantity (LAMB's trust ratio, Muon's
/// orthogonalisation, Adafactor's factors) is computed by one rank on the whole tensor, as one
/// process computes it. A world larger than the tensor count leaves some ranks without tensors.
///
/// # Example
///
/// ```
/// use ndarray_optim::distributed::partition;
///
/// // Largest first: 10 to rank 0, 6 to rank 1, 5 to rank 1 (6 < 10), 4 to rank 0 (10 < 11).
/// assert_eq!(partition(&[4, 10, 6, 5], 2), [0, 0, 1, 1]);
/// assert_eq!(partition(&[3, 3], 4), [0, 1]); // ranks 2 and 3 own nothing
/// ```
pub fn partition(numels: &[usize], world_size: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..numels.len()).collect();
    // Stable: equal sizes keep list order, as Python's `sorted` does.
    order.sort_by_key(|&i| std::cmp::Reverse(numels[i]));
    let mut held = vec![0usize; world_size.max(1)];
    let mut owner = vec![0usize; numels.len()];
    for i in order {
        let (rank, _) = held
            .iter()
            .enumerate()
            .min_by_key(|&(rank, &size)| (size, rank))
            .unwrap_or((0, &0));
        owner[i] = rank;
        held[rank] = held[rank].saturating_add(numels[i]);
    }
    owner
}

/// Keys of a shard's [`extra`](OptimizerState::extra).
const KEY_WORLD: &str = "sharded.world_size";
const KEY_RANK: &str = "sharded.rank";
const KEY_MODEL_TENSORS: &str = "sharded.model_tensors";
const KEY_POSITION: &str = "sharded.position.";
/// The wrappers' counts of their inner optimizer's tensors ([`MultiSteps`](crate::MultiSteps),
/// [`Lookahead`](crate::Lookahead)), which splitting and consolidating count like the tensors
/// themselves.
const KEYS_INNER_TENSORS: [&str; 2] = ["multi_steps.inner_tensors", "lookahead.inner_tensors"];

/// The model as this rank last agreed on it with the others.
#[derive(Clone, Debug)]
struct Layout {
    /// The fingerprint of the shapes it was made for.
    shapes_hash: u64,
    /// Every tensor's shape, in model order.
    shapes: Vec<Vec<usize>>,
    /// Every tensor's owner.
    owner: Vec<usize>,
    /// The positions this rank owns, increasing.
    owned: Vec<usize>,
    /// Where each owned tensor starts in the undo copy.
    backup_at: Vec<usize>,
}

impl Layout {
    fn new(shapes: Vec<Vec<usize>>, shapes_hash: u64, rank: usize, world: usize) -> Layout {
        let numels: Vec<usize> = shapes.iter().map(|s| s.iter().product()).collect();
        let owner = partition(&numels, world);
        let owned: Vec<usize> = (0..owner.len()).filter(|&i| owner[i] == rank).collect();
        let mut backup_at = Vec::with_capacity(owned.len() + 1);
        let mut at = 0;
        for &i in &owned {
            backup_at.push(at);
            at += numels[i];
        }
        backup_at.push(at);
        Layout {
            shapes_hash,
            shapes,
            owner,
            owned,
            backup_at,
        }
    }
}

/// Working space of a step, kept from step to step so that it allocates nothing after the
/// first (the communication buffers).
#[derive(Clone, Debug, Default)]
struct Buffers<A> {
    words: Vec<u64>,
    gathered_terms: Vec<f64>,
    model_terms: Vec<f64>,
    counts: Vec<usize>,
    cursor: Vec<usize>,
    /// A tensor in row-major order when its memory is not.
    staging: Vec<A>,
    /// This rank's parameters before the update, to undo a failed exchange.
    backup: Vec<A>,
}

/// An optimizer whose state is split across the ranks of a data-parallel job (ZeRO stage 1, as
/// PyTorch's `ZeroRedundancyOptimizer`): each rank keeps and updates the state of only the
/// tensors it owns, then sends them to the others.
///
/// Every rank holds the whole model and the whole (all-reduced) gradient, and calls
/// [`step`](Optimizer::step) with them, as it would a plain optimizer. A step then:
///
/// 1. agrees with every other rank on the list (count, shapes, names), the step count and the
///    optimizer (one small all-gather), and assigns the tensors to ranks by [`partition`]
///    (on the first step, and again if the shapes change);
/// 2. steps the wrapped optimizer on this rank's tensors only, through
///    [`Optimizer::step_reduced`]: whatever the step computes over the whole model (whether
///    every rank's inputs are valid, the first non-finite gradient, LAMB's global gradient
///    norm, the norm [`MultiSteps`](crate::MultiSteps) clips with) is a round in which every
///    rank gives its tensors' terms, which every rank then adds **in the model's tensor
///    order** — the additions one process makes, so the bits are one process's whatever the
///    number of ranks (an MPI `SUM` would not promise that);
/// 3. broadcasts each updated tensor from its owner to every rank.
///
/// The parameters every rank ends with are bit for bit those of the wrapped optimizer stepping
/// the whole model in one process; each rank holds about `1/N` of the state.
///
/// # Errors and failures
///
/// The errors of the wrapped optimizer's `step`, on every rank: a rank whose inputs are bad
/// returns its error (tensor positions in the model's list), every other rank
/// [`Error::RankFailed`], and nothing changes on any rank. Ranks given different lists return
/// [`Error::RankMismatch`]. A failed collective returns [`Error::Collective`] on every rank;
/// if it failed while the updated tensors were being exchanged, every rank first puts its
/// parameters and its shard of the state back as they were (see
/// [`undo_failed_exchanges`](Sharded::undo_failed_exchanges)). Every rank makes the same
/// collective calls in the same order, errors included, so a bad input never deadlocks.
///
/// Parameter groups are the model's: [`set_param_groups`](Optimizer::set_param_groups) takes
/// groups whose assignment names every tensor of the model (as for one process), and the
/// wrapped optimizer is given the same groups with the assignment of this rank's tensors;
/// schedules set the groups' learning rates as usual. [`add_param_group`](Optimizer::add_param_group)
/// is [`Error::Unsupported`].
///
/// # Checkpoints
///
/// [`save_state`](Optimizer::save_state) saves this rank's shard: the wrapped optimizer's state
/// of its tensors, with the world size, the rank and the model positions of its tensors in
/// [`extra`](OptimizerState::extra). [`load_state`](Optimizer::load_state) takes back a shard
/// of the same rank and world size. [`consolidate`] merges every rank's shard into the state of
/// one process (PyTorch's `consolidate_state_dict`), which [`split`] cuts again for any number
/// of ranks: training resumes on another number of processes.
///
/// # Example
///
/// Three ranks as threads, each with the whole model; the result is one process's.
///
/// ```
/// use ndarray::{array, Array1};
/// use ndarray_optim::distributed::{Sharded, Threads};
/// use ndarray_optim::{Adam, Optimizer};
///
/// let grads = [array![0.5_f32, -1.0], array![2.0], array![0.25, 0.5, 1.0]];
/// let start = [array![1.0_f32, 2.0], array![3.0], array![4.0, 5.0, 6.0]];
///
/// let mut alone = start.clone();
/// let mut adam = Adam::new(0.1)?;
/// for _ in 0..3 {
///     adam.step(&mut alone, &grads)?;
/// }
///
/// let ranks = Threads::run(3, |comm| {
///     let mut params = start.clone();
///     let mut opt = Sharded::new(Adam::new(0.1)?, comm)?;
///     for _ in 0..3 {
///         opt.step(&mut params, &grads)?;
///     }
///     Ok::<_, ndarray_optim::Error>((params, opt.owned().to_vec()))
/// })?;
/// for rank in ranks {
///     let (params, owned) = rank?;
///     assert_eq!(params, alone); // bit for bit
///     assert_eq!(owned.len(), 1); // one tensor's state per rank
/// }
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
pub struct Sharded<A: Float, O: Optimizer<A>> {
    inner: O,
    collective: Arc<dyn Collective>,
    layout: Option<Layout>,
    /// The parameter groups over the whole model (the wrapped optimizer has those of this
    /// rank's tensors, the same groups with the assignment of its tensors).
    groups: Option<ParamGroups>,
    /// Whether the wrapped optimizer has the groups of the current layout's tensors.
    groups_applied: bool,
    /// Model positions of the shard last loaded, checked against the layout of the next step.
    loaded: Option<Vec<usize>>,
    undo: bool,
    buffers: Buffers<A>,
}

impl<A: Float, O: Optimizer<A>> fmt::Debug for Sharded<A, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sharded")
            .field("inner", &self.inner)
            .field("rank", &self.collective.rank())
            .field("world_size", &self.collective.world_size())
            .field("owned", &self.owned())
            .finish_non_exhaustive()
    }
}

impl<A: Float, O: Optimizer<A>> Sharded<A, O> {
    /// `inner` sharded over the ranks of `collective` (a [`Threads`](super::Threads) handle,
    /// or any [`Collective`]). Every rank builds it with
    /// the same optimizer and configuration.
    ///
    /// Parameter groups `inner` has are the model's (their assignment names every tensor of
    /// the model); the wrapped optimizer is given each rank's part of them.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRank`] when the collective reports a world of no ranks or a rank
    /// outside its world (an engine of your own).
    pub fn new(inner: O, collective: impl Collective + 'static) -> Result<Self, Error> {
        Self::on(inner, Arc::new(collective))
    }

    /// [`new`](Sharded::new) with a shared collective (so that the training loop can all-reduce
    /// its gradients through the same one: [`collective`](Sharded::collective)).
    ///
    /// # Errors
    ///
    /// As [`new`](Sharded::new).
    pub fn on(inner: O, collective: Arc<dyn Collective>) -> Result<Self, Error> {
        let (rank, world_size) = (collective.rank(), collective.world_size());
        if rank >= world_size {
            return Err(Error::InvalidRank { rank, world_size });
        }
        let undo = !collective.failures_are_fatal();
        Ok(Sharded {
            groups: inner.param_groups().cloned(),
            groups_applied: false,
            inner,
            collective,
            layout: None,
            loaded: None,
            undo,
            buffers: Buffers::default(),
        })
    }

    /// The collective the optimizer runs on.
    pub fn collective(&self) -> &Arc<dyn Collective> {
        &self.collective
    }

    /// This rank.
    pub fn rank(&self) -> usize {
        self.collective.rank()
    }

    /// The number of ranks.
    pub fn world_size(&self) -> usize {
        self.collective.world_size()
    }

    /// The wrapped optimizer (which holds this rank's shard of the state).
    pub fn inner(&self) -> &O {
        &self.inner
    }

    /// The model positions of the tensors this rank owns, increasing; empty before the first
    /// step (the assignment is made from the shapes the first step sees).
    pub fn owned(&self) -> &[usize] {
        self.layout.as_ref().map_or(&[], |l| &l.owned)
    }

    /// The owner of every tensor of the model; empty before the first step.
    pub fn owners(&self) -> &[usize] {
        self.layout.as_ref().map_or(&[], |l| &l.owner)
    }

    /// Whether a step keeps what it needs to undo an exchange of updated tensors that fails:
    /// a copy of this rank's parameters (about `1/N` of the model, in a buffer reused from step
    /// to step) and of its shard of the state (saved anew at each step: one allocation of the
    /// shard's size per step). On by default for an engine whose failures return errors
    /// ([`Threads`](super::Threads)); off, and nothing copied, for one whose failures end the
    /// process (MPI's default). Turned off, a failed exchange returns
    /// [`Error::Collective`] on every rank with the parameters of some ranks updated: load a
    /// checkpoint.
    pub fn undo_failed_exchanges(&mut self, undo: bool) {
        self.undo = undo;
    }

    /// The layout for `params` (agreed with every rank by now): the current one if the shapes
    /// are the same, else a new one.
    fn prepare_layout(&mut self, params: &dyn TensorList<A>, n: usize, shapes_hash: u64) {
        if self
            .layout
            .as_ref()
            .is_some_and(|l| l.shapes_hash == shapes_hash && l.shapes.len() == n)
        {
            return;
        }
        let shapes = (0..n)
            .map(|i| params.tensor(i).map_or(Vec::new(), |t| t.shape().to_vec()))
            .collect();
        self.layout = Some(Layout::new(
            shapes,
            shapes_hash,
            self.collective.rank(),
            self.collective.world_size(),
        ));
        self.groups_applied = false;
    }

    /// The model's groups restricted to `positions`: the same groups, the assignment of those
    /// tensors.
    fn groups_of(groups: &ParamGroups, positions: &[usize]) -> Result<ParamGroups, Error> {
        let assignment = groups.assignment();
        let mine = positions
            .iter()
            .map(|&i| assignment.get(i).copied())
            .collect::<Option<Vec<usize>>>()
            .ok_or(Error::GroupLengthMismatch {
                assigned: assignment.len(),
                found: positions.iter().max().map_or(0, |&i| i + 1),
            })?;
        ParamGroups::new(groups.groups().to_vec(), mine)
    }

    /// Gives the wrapped optimizer the groups of this rank's tensors, once per layout.
    fn apply_groups(&mut self, n: usize) -> Result<(), Error> {
        let (Some(groups), Some(layout)) = (&self.groups, &self.layout) else {
            return Ok(());
        };
        if self.groups_applied {
            return Ok(());
        }
        if groups.assignment().len() != n {
            return Err(Error::GroupLengthMismatch {
                assigned: groups.assignment().len(),
                found: n,
            });
        }
        let mine = Self::groups_of(groups, &layout.owned)?;
        self.inner.set_param_groups(Some(mine))?;
        self.groups_applied = true;
        Ok(())
    }

    /// Copies the wrapped optimizer's groups (their hyperparameters, which its setters and
    /// schedules change) into the model's.
    fn sync_groups(&mut self) {
        if let (Some(model), Some(mine)) = (&mut self.groups, self.inner.param_groups()) {
            for (ours, theirs) in model.groups_mut().iter_mut().zip(mine.groups()) {
                ours.clone_from(theirs);
            }
        }
    }

    /// This rank's fingerprint of a step: `[n, shapes, names, step count, optimizer]`.
    fn fingerprint(
        &self,
        params: &dyn TensorList<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<[u64; 5], Error> {
        let n = check::read_inputs(params, grads)?;
        let (mut shapes, mut names, mut optimizer) = (Fnv::new(), Fnv::new(), Fnv::new());
        for index in 0..n {
            shapes.shape(params.tensor(index).map_or(&[], |t| t.shape()));
            names.name(params.name(index));
        }
        optimizer.name(Some(self.inner.name()));
        optimizer.word(self.inner.skipped_steps());
        if let Some(groups) = &self.groups {
            optimizer.word(groups.groups().len() as u64);
            groups
                .assignment()
                .iter()
                .for_each(|&g| optimizer.word(g as u64));
        }
        Ok([
            n as u64,
            shapes.finish(),
            names.finish(),
            self.inner.step_count(),
            optimizer.finish(),
        ])
    }

    /// The error of a step after loading a shard of other tensors than this rank owns.
    fn loaded_mismatch(&self) -> Option<Error> {
        let (loaded, owned) = (self.loaded.as_ref()?, self.owned());
        (loaded[..] != *owned).then(|| Error::InvalidState {
            tensor: None,
            reason: format!(
                "the shard loaded holds the tensors {loaded:?} of the model, this rank owns \
                 {owned:?} (a shard of another model?)"
            ),
        })
    }

    /// Copies this rank's tensors into the undo buffer, in row-major order.
    fn keep_backup(&mut self, params: &dyn TensorList<A>) {
        let Some(layout) = &self.layout else { return };
        let backup = &mut self.buffers.backup;
        backup.clear();
        for &i in &layout.owned {
            if let Some(t) = params.tensor(i) {
                backup.extend(t.view_dyn().iter().copied());
            }
        }
    }

    /// Broadcasts every tensor from its owner (or, `restoring`, the owner's copy from before
    /// the step): on `Err`, the position of the tensor whose broadcast failed.
    fn exchange_tensors(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        upto: usize,
        restoring: bool,
    ) -> Result<(), (usize, Error)> {
        let Some(layout) = &self.layout else {
            return Ok(());
        };
        let rank = self.collective.rank();
        let collective = &*self.collective;
        let mut mine = 0;
        for index in 0..upto {
            let owner = layout.owner[index];
            let Some(t) = params.tensor_mut(index) else {
                continue; // checked: every position holds a tensor
            };
            let mut view = t.view_dyn_mut();
            let result = if restoring && owner == rank {
                let kept = &self.buffers.backup[layout.backup_at[mine]..layout.backup_at[mine + 1]];
                self.buffers.staging.clear();
                self.buffers.staging.extend_from_slice(kept);
                A::broadcast(collective, &mut self.buffers.staging, owner)
            } else if let Some(elements) = view.as_slice_mut() {
                A::broadcast(collective, elements, owner)
            } else {
                let staging = &mut self.buffers.staging;
                staging.clear();
                staging.extend(view.iter().copied());
                let sent = A::broadcast(collective, staging, owner);
                if sent.is_ok() {
                    view.iter_mut()
                        .zip(staging.iter())
                        .for_each(|(x, &y)| *x = y);
                }
                sent
            };
            if owner == rank {
                mine += 1;
            }
            result.map_err(|e| (index, e))?;
        }
        Ok(())
    }

    /// Puts back this rank's own tensors from the undo buffer.
    fn restore_own(&self, params: &mut dyn TensorListMut<A>) {
        let Some(layout) = &self.layout else { return };
        for (k, &i) in layout.owned.iter().enumerate() {
            let kept = &self.buffers.backup[layout.backup_at[k]..layout.backup_at[k + 1]];
            if let Some(t) = params.tensor_mut(i) {
                t.view_dyn_mut()
                    .iter_mut()
                    .zip(kept)
                    .for_each(|(x, &y)| *x = y);
            }
        }
    }
}

/// Part of a list: the tensors at `positions`, in that order. `R` is a reference to the list,
/// shared (a read-only part) or exclusive.
struct Part<'a, R> {
    list: R,
    positions: &'a [usize],
}

impl<'a, A, L, R> TensorList<A> for Part<'a, R>
where
    L: TensorList<A> + ?Sized + 'a,
    R: std::ops::Deref<Target = L>,
{
    fn len(&self) -> usize {
        self.positions.len()
    }
    fn tensor(&self, index: usize) -> Option<&dyn Tensor<A>> {
        self.list.tensor(*self.positions.get(index)?)
    }
    fn absent(&self, index: usize) -> bool {
        self.positions
            .get(index)
            .is_some_and(|&i| self.list.absent(i))
    }
    fn name(&self, index: usize) -> Option<&str> {
        self.list.name(*self.positions.get(index)?)
    }
}

impl<'a, A, L, R> TensorListMut<A> for Part<'a, R>
where
    L: TensorListMut<A> + ?Sized + 'a,
    R: std::ops::DerefMut<Target = L>,
{
    fn tensor_mut(&mut self, index: usize) -> Option<&mut dyn TensorMut<A>> {
        self.list.tensor_mut(*self.positions.get(index)?)
    }
}

/// The rounds of one rank of a sharded step (see [`Reduce`]).
struct ShardRounds<'a, A> {
    collective: &'a dyn Collective,
    layout: &'a Layout,
    buffers: &'a mut Buffers<A>,
    /// An error of the sharded step's own checks, contributed in the first round.
    pending: Option<Error>,
}

/// The words of a rank's row in a round: terms, how they combine, and its first non-finite
/// gradient (present, model position, row-major element, value bits).
const ROUND_WORDS: usize = 6;

impl<A> Reduce for ShardRounds<'_, A> {
    fn model_index(&self, index: usize) -> usize {
        self.layout.owned.get(index).copied().unwrap_or(index)
    }

    fn exchange(&mut self, local: Result<Contribution<'_>, Error>) -> Result<Agreed, Error> {
        let layout = self.layout;
        let owned = &layout.owned;
        let local = match self.pending.take() {
            Some(error) => Err(error),
            // This rank's own error, in the model's positions.
            None => local.map_err(|e| e.map_tensors(|i| owned.get(i).copied().unwrap_or(i))),
        };
        let mut words = [0u64; ROUND_WORDS];
        let mut terms: &[f64] = &[];
        let mut local = local.and_then(|c| {
            if !c.terms.is_empty() && c.terms.len() != owned.len() {
                return Err(Error::Collective {
                    operation: "a sharded round",
                    reason: format!("{} terms for {} tensors", c.terms.len(), owned.len()),
                });
            }
            terms = c.terms;
            words[0] = c.terms.len() as u64;
            words[1] = u64::from(c.combine == Combine::Max);
            if let Some(found) = &c.non_finite {
                let position = owned.get(found.index).copied().unwrap_or(found.index);
                let shape = layout.shapes.get(position).map_or(&[][..], |s| &s[..]);
                let flat = found
                    .element
                    .iter()
                    .zip(shape)
                    .fold(0u64, |flat, (&i, &d)| flat * d as u64 + i as u64);
                words[2] = 1;
                words[3] = position as u64;
                words[4] = flat;
                words[5] = found.value.to_bits();
            }
            Ok(())
        });
        let width = verdict(
            self.collective,
            local.as_mut().map(|()| &words[..]).map_err(|e| e.clone()),
            ROUND_WORDS,
            &mut self.buffers.words,
        )?;
        let world = self.collective.world_size();
        let rows = &self.buffers.words;
        let row = |r: usize| &rows[r * width + 2..(r + 1) * width];
        // The terms, in the model's order.
        let counts = &mut self.buffers.counts;
        counts.clear();
        counts.extend((0..world).map(|r| row(r)[0] as usize));
        let combine = if (0..world).any(|r| row(r)[1] == 1) {
            Combine::Max
        } else {
            Combine::Sum
        };
        let mut total = 0.0;
        if counts.iter().any(|&c| c > 0) {
            let sum: usize = counts.iter().sum();
            let gathered = &mut self.buffers.gathered_terms;
            gathered.clear();
            gathered.resize(sum, 0.0);
            self.collective.all_gather_f64(terms, counts, gathered)?;
            let n = layout.owner.len();
            let cursor = &mut self.buffers.cursor;
            cursor.clear();
            let mut at = 0;
            for &count in counts.iter() {
                cursor.push(at);
                at += count;
            }
            let model = &mut self.buffers.model_terms;
            model.clear();
            model.resize(n, 0.0);
            for (i, term) in model.iter_mut().enumerate() {
                let r = layout.owner[i];
                if counts[r] > 0 {
                    *term = gathered[cursor[r]];
                    cursor[r] += 1;
                }
            }
            total = combine.total(model);
        }
        // The model's first non-finite gradient.
        let non_finite = (0..world)
            .map(row)
            .filter(|w| w[2] == 1)
            .min_by_key(|w| w[3])
            .map(|w| {
                let position = w[3] as usize;
                let shape = layout.shapes.get(position).map_or(&[][..], |s| &s[..]);
                let mut flat = w[4];
                let mut element = vec![0usize; shape.len()];
                for (e, &d) in element.iter_mut().zip(shape).rev() {
                    let d = (d as u64).max(1);
                    *e = (flat % d) as usize;
                    flat /= d;
                }
                NonFiniteAt {
                    index: position,
                    element,
                    value: f64::from_bits(w[5]),
                }
            });
        Ok(Agreed { total, non_finite })
    }
}

impl<A: Float, O: Optimizer<A>> Optimizer<A> for Sharded<A, O> {
    forward_to_inner!(
        inner:
        learning_rate,
        momentum,
        group_count,
        group_learning_rate,
        group_momentum,
        step_count,
        last_step,
        skipped_steps,
        reset_state,
        non_finite_policy,
        set_non_finite_policy,
        name,
        state_bytes
    );

    fn step(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<(), Error> {
        let collective = Arc::clone(&self.collective);
        let fingerprint = self.fingerprint(&*params, grads);
        agree(
            &*collective,
            fingerprint.as_ref().map(|w| &w[..]).map_err(Clone::clone),
            &[
                "the tensor count",
                "the tensor shapes",
                "the tensor names",
                "the step count",
                "the optimizer",
            ],
            &mut self.buffers.words,
        )?;
        let [n, shapes_hash, ..] = fingerprint?;
        let n = n as usize;
        self.prepare_layout(&*params, n, shapes_hash);
        // The sharded step's own checks go into the inner step's first round.
        let pending = check::step_inputs(params, grads)
            .err()
            .or_else(|| self.loaded_mismatch())
            .or_else(|| self.apply_groups(n).err());
        let snapshot = if self.undo && collective.world_size() > 1 {
            self.keep_backup(&*params);
            Some(self.inner.save_state())
        } else {
            None
        };
        let Some(layout) = self.layout.as_ref() else {
            return Ok(()); // made just above
        };
        let mut rounds = ShardRounds {
            collective: &*collective,
            layout,
            buffers: &mut self.buffers,
            pending,
        };
        let stepped = {
            let mut part = Part {
                list: &mut *params,
                positions: &layout.owned,
            };
            let grads = Part {
                list: grads,
                positions: &layout.owned,
            };
            self.inner.step_reduced(&mut part, &grads, &mut rounds)
        };
        stepped?;
        self.loaded = None;
        if *self.inner.last_step() != StepOutcome::Applied || collective.world_size() == 1 {
            // Accumulated or skipped: no parameter changed; or the only rank owns everything.
            return Ok(());
        }
        let Err((failed_at, error)) = self.exchange_tensors(params, n, false) else {
            return Ok(());
        };
        let Some(snapshot) = snapshot else {
            return Err(error);
        };
        // Every rank's broadcast of `failed_at` failed: put everything back as it was.
        self.restore_own(params);
        let restored = self.exchange_tensors(params, failed_at, true);
        // The shard saved just before the step loads back (it cannot be refused).
        let reloaded = self.inner.load_state(snapshot);
        match (restored, reloaded) {
            (Ok(()), Ok(())) => Err(error),
            (Err((_, e)), _) | (_, Err(e)) => Err(Error::Collective {
                operation: "restoring the parameters",
                reason: format!("{e} (after: {error})"),
            }),
        }
    }

    /// The checks of this rank's inputs only (no collective): the lists, and the wrapped
    /// optimizer's checks of this rank's tensors (once a step has assigned them).
    fn check_step(
        &self,
        params: &dyn TensorList<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<(), Error> {
        let n = check::read_inputs(params, grads)?;
        match &self.layout {
            Some(layout) if layout.owner.len() == n => {
                let positions = &layout.owned;
                self.inner
                    .check_step(
                        &Part {
                            list: params,
                            positions,
                        },
                        &Part {
                            list: grads,
                            positions,
                        },
                    )
                    .map_err(|e| e.map_tensors(|i| positions.get(i).copied().unwrap_or(i)))
            }
            _ => Ok(()),
        }
    }

    fn set_learning_rate(&mut self, lr: f64) -> Result<(), Error> {
        self.inner.set_learning_rate(lr)?;
        self.sync_groups();
        Ok(())
    }
    fn set_momentum(&mut self, momentum: f64) -> Result<(), Error> {
        self.inner.set_momentum(momentum)?;
        self.sync_groups();
        Ok(())
    }
    /// The groups of the whole model.
    fn param_groups(&self) -> Option<&ParamGroups> {
        self.groups.as_ref()
    }
    /// Groups of the whole model (their assignment names every tensor of the model); the
    /// wrapped optimizer gets this rank's part of them. Every rank sets the same groups.
    fn set_param_groups(&mut self, groups: Option<ParamGroups>) -> Result<(), Error> {
        let mine = match (&groups, &self.layout) {
            (Some(groups), Some(layout)) => {
                if groups.assignment().len() != layout.owner.len() {
                    return Err(Error::GroupLengthMismatch {
                        assigned: groups.assignment().len(),
                        found: layout.owner.len(),
                    });
                }
                Some(Self::groups_of(groups, &layout.owned)?)
            }
            // Before the first step: checked by the wrapped optimizer as they are, given this
            // rank's part on the first step.
            (groups, None) => groups.clone(),
            (None, Some(_)) => None,
        };
        self.inner.set_param_groups(mine)?;
        self.groups_applied = self.layout.is_some();
        self.groups = groups;
        Ok(())
    }
    fn add_param_group(&mut self, group: ParamGroup, tensors: usize) -> Result<usize, Error> {
        let _ = (group, tensors);
        Err(Error::Unsupported {
            optimizer: "Sharded",
            what: "adding parameter groups (set the model's groups with set_param_groups)",
        })
    }
    fn set_group_learning_rate(&mut self, group: usize, lr: f64) -> Result<(), Error> {
        self.inner.set_group_learning_rate(group, lr)?;
        self.sync_groups();
        Ok(())
    }
    fn set_group_momentum(&mut self, group: usize, momentum: f64) -> Result<(), Error> {
        self.inner.set_group_momentum(group, momentum)?;
        self.sync_groups();
        Ok(())
    }

    /// This rank's shard: the wrapped optimizer's state of the tensors it owns, with
    /// `sharded.world_size`, `sharded.rank`, `sharded.model_tensors` and, for its `k`-th
    /// tensor, `sharded.position.k` (its position in the model) in
    /// [`extra`](OptimizerState::extra).
    fn save_state(&self) -> OptimizerState<A> {
        let mut state = self.inner.save_state();
        // The model's groups: every shard carries them whole, so that consolidating and
        // splitting need nothing else.
        state.param_groups.clone_from(&self.groups);
        let positions = self.loaded.as_deref().unwrap_or(self.owned());
        let model = self.layout.as_ref().map_or(0, |l| l.owner.len());
        for (key, value) in [
            (KEY_WORLD, self.world_size() as u64),
            (KEY_RANK, self.rank() as u64),
            (KEY_MODEL_TENSORS, model as u64),
        ] {
            state.extra.insert(key.to_string(), value);
        }
        // (The tensors of master weights are those of the inner `f32` optimizer's state.)
        let master_started = state
            .master_weights
            .as_ref()
            .is_some_and(|m| !m.tensors.is_empty());
        if !state.tensors.is_empty() || master_started {
            for (k, &i) in positions.iter().enumerate() {
                state.extra.insert(format!("{KEY_POSITION}{k}"), i as u64);
            }
        }
        state
    }

    /// Loads this rank's shard, saved by [`save_state`](Optimizer::save_state) of the same
    /// rank in a world of the same size ([`split`] cuts a state for another world size).
    ///
    /// # Errors
    ///
    /// [`Error::ShardMismatch`] for a shard of another world size or rank, or a state that is
    /// not a shard; [`Error::InvalidState`] for a shard whose positions are inconsistent; any
    /// error of the wrapped optimizer's `load_state`. Nothing changes on `Err`. A shard whose
    /// tensors are not the ones this rank owns is refused by the next step, on every rank.
    fn load_state(&mut self, mut state: OptimizerState<A>) -> Result<(), Error> {
        let positions = take_shard_keys(&mut state)?;
        let (world, rank) = (positions.world, positions.rank);
        if world != self.world_size() as u64 {
            return Err(Error::ShardMismatch {
                what: "world size",
                saved: world,
                expected: self.world_size() as u64,
            });
        }
        if rank != self.rank() as u64 {
            return Err(Error::ShardMismatch {
                what: "rank",
                saved: rank,
                expected: self.rank() as u64,
            });
        }
        let groups = state.param_groups.take();
        state.param_groups = match &groups {
            Some(model) if !state.tensors.is_empty() => {
                Some(Self::groups_of(model, &positions.positions)?)
            }
            other => other.clone(),
        };
        self.inner.load_state(state)?;
        self.groups = groups;
        self.groups_applied = false;
        self.loaded = (!positions.positions.is_empty() || positions.model_tensors > 0)
            .then_some(positions.positions);
        Ok(())
    }

    fn clone_box(&self) -> Box<dyn Optimizer<A>> {
        Box::new(Sharded {
            inner: self.inner.clone_box(),
            collective: Arc::clone(&self.collective),
            layout: self.layout.clone(),
            groups: self.groups.clone(),
            groups_applied: self.groups_applied,
            loaded: self.loaded.clone(),
            undo: self.undo,
            buffers: self.buffers.clone(),
        })
    }

    fn step_reduced(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
        reduce: &mut dyn Reduce,
    ) -> Result<(), Error> {
        let _ = (params, grads, reduce);
        Err(Error::Unsupported {
            optimizer: "Sharded",
            what: "steps over part of a model (a sharded optimizer steps the whole model)",
        })
    }
}

/// The keys of a shard, taken out of its `extra`.
struct ShardKeys {
    world: u64,
    rank: u64,
    model_tensors: u64,
    positions: Vec<usize>,
}

/// The keys [`take_shard_keys`] took, put back (into another state).
fn put_shard_keys<A>(state: &mut OptimizerState<A>, keys: &ShardKeys) {
    state.extra.insert(KEY_WORLD.to_string(), keys.world);
    state.extra.insert(KEY_RANK.to_string(), keys.rank);
    state
        .extra
        .insert(KEY_MODEL_TENSORS.to_string(), keys.model_tensors);
    for (k, &position) in keys.positions.iter().enumerate() {
        state
            .extra
            .insert(format!("{KEY_POSITION}{k}"), position as u64);
    }
}

fn take_shard_keys<A>(state: &mut OptimizerState<A>) -> Result<ShardKeys, Error> {
    let Some(world) = state.extra.remove(KEY_WORLD) else {
        return Err(Error::ShardMismatch {
            what: "a sharded optimizer (1) or not (0)",
            saved: 0,
            expected: 1,
        });
    };
    let rank = state.extra.remove(KEY_RANK).unwrap_or(0);
    let model_tensors = state.extra.remove(KEY_MODEL_TENSORS).unwrap_or(0);
    let invalid = |reason: String| Error::InvalidState {
        tensor: None,
        reason,
    };
    if world == 0 || rank >= world {
        return Err(invalid(format!("rank {rank} of a world of {world}")));
    }
    let keys: Vec<String> = state
        .extra
        .keys()
        .filter(|k| k.starts_with(KEY_POSITION))
        .cloned()
        .collect();
    let mut positions = vec![usize::MAX; keys.len()];
    for key in keys {
        let value = state.extra.remove(&key).unwrap_or(u64::MAX);
        let k = key[KEY_POSITION.len()..]
            .parse::<usize>()
            .ok()
            .filter(|&k| k < positions.len())
            .ok_or_else(|| invalid(format!("the key `{key}`")))?;
        positions[k] = usize::try_from(value)
            .ok()
            .filter(|&p| (p as u64) < model_tensors)
            .ok_or_else(|| invalid(format!("`{key}` = {value} in a model of {model_tensors}")))?;
    }
    if positions.windows(2).any(|w| w[0] >= w[1]) {
        return Err(invalid("positions not increasing".to_string()));
    }
    if !state.tensors.is_empty() && state.tensors.len() != positions.len() {
        return Err(invalid(format!(
            "{} tensors, {} positions",
            state.tensors.len(),
            positions.len()
        )));
    }
    Ok(ShardKeys {
        world,
        rank,
        model_tensors,
        positions,
    })
}

/// The bytes of the elements of every buffer of every tensor of a saved state: the memory the
/// optimizer's state takes (what ZeRO divides by the number of ranks), without the small
/// per-tensor scalars.
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::distributed::state_bytes;
/// use ndarray_optim::{Adam, Optimizer};
///
/// let mut opt = Adam::new(0.1)?;
/// opt.step(&mut array![1.0_f32, 2.0, 3.0], &array![0.1, 0.2, 0.3])?;
/// assert_eq!(state_bytes(&opt.save_state()), 2 * 3 * 4); // exp_avg and exp_avg_sq
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
pub fn state_bytes<A: Float>(state: &OptimizerState<A>) -> usize {
    state.state_bytes() // quantised codes and master weights included
}

/// Merges the shards every rank of a [`Sharded`] optimizer saved (in any order, one per rank)
/// into the state of the wrapped optimizer in one process: PyTorch's
/// `consolidate_state_dict`. Load it into a plain optimizer, or cut it for another world size
/// with [`split`].
///
/// # Errors
///
/// [`Error::ShardMismatch`] when a state is not a shard or the shards are of different world
/// sizes; [`Error::InvalidState`] when a rank is missing or repeated, or the shards disagree on
/// the counters, the configuration or the model.
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::distributed::{consolidate, Sharded, Threads};
/// use ndarray_optim::{Adam, Optimizer};
///
/// let grads = [array![0.5_f64, -1.0], array![2.0]];
/// let shards = Threads::run(2, |comm| {
///     let mut params = [array![1.0_f64, 2.0], array![3.0]];
///     let mut opt = Sharded::new(Adam::new(0.1)?, comm)?;
///     opt.step(&mut params, &grads)?;
///     Ok::<_, ndarray_optim::Error>(opt.save_state())
/// })?;
/// let whole = consolidate(shards.into_iter().collect::<Result<Vec<_>, _>>()?)?;
///
/// let mut alone = Adam::new(0.1)?;
/// alone.step(&mut [array![1.0_f64, 2.0], array![3.0]], &grads)?;
/// assert_eq!(whole, alone.save_state());
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
pub fn consolidate<A: Clone>(shards: Vec<OptimizerState<A>>) -> Result<OptimizerState<A>, Error> {
    let invalid = |reason: String| Error::InvalidState {
        tensor: None,
        reason,
    };
    let mut parts = Vec::with_capacity(shards.len());
    for mut shard in shards {
        let keys = take_shard_keys(&mut shard)?;
        parts.push((keys, shard));
    }
    let Some(world) = parts.first().map(|(k, _)| k.world) else {
        return Err(invalid("no shards".to_string()));
    };
    if let Some((k, _)) = parts.iter().find(|(k, _)| k.world != world) {
        return Err(Error::ShardMismatch {
            what: "world size",
            saved: k.world,
            expected: world,
        });
    }
    if parts.len() as u64 != world {
        return Err(invalid(format!(
            "{} shards of a world of {world}",
            parts.len()
        )));
    }
    parts.sort_by_key(|(k, _)| k.rank);
    if parts
        .iter()
        .enumerate()
        .any(|(r, (k, _))| k.rank != r as u64)
    {
        return Err(invalid("a rank missing or repeated".to_string()));
    }
    let model = parts
        .iter()
        .map(|(k, _)| k.model_tensors)
        .max()
        .unwrap_or(0);
    let started = parts.iter().any(|(_, s)| !s.tensors.is_empty());
    let mut slots: Vec<Option<crate::state::TensorState<A>>> = Vec::new();
    if started {
        slots.resize_with(usize::try_from(model).unwrap_or(0), || None);
    }
    // Master weights ([`MasterWeights`](crate::MasterWeights)): the inner `f32` optimizer's
    // shards, which know nothing of the sharding; they are consolidated with the outer keys.
    let mut masters = Vec::new();
    for (keys, shard) in &mut parts {
        if let Some(mut master) = shard.master_weights.take().map(|m| *m) {
            put_shard_keys(&mut master, keys);
            masters.push(master);
        }
    }
    let master_weights = match masters.len() {
        0 => None,
        n if n == parts.len() => Some(Box::new(consolidate(masters)?)),
        _ => {
            return Err(invalid(
                "some shards have master weights, others not".to_string(),
            ));
        }
    };
    let mut inner_tensors: [Option<u64>; KEYS_INNER_TENSORS.len()] = Default::default();
    let mut whole: Option<OptimizerState<A>> = None;
    for (keys, mut shard) in parts {
        if keys.model_tensors != model {
            return Err(invalid(
                "the shards disagree on the model's tensor count".to_string(),
            ));
        }
        for (key, total) in KEYS_INNER_TENSORS.iter().zip(&mut inner_tensors) {
            if let Some(count) = shard.extra.remove(*key) {
                *total.get_or_insert(0) += count;
            }
        }
        if started && shard.tensors.len() != keys.positions.len() {
            return Err(invalid(format!(
                "rank {}: {} tensors for {} positions",
                keys.rank,
                shard.tensors.len(),
                keys.positions.len()
            )));
        }
        for (tensor, &position) in std::mem::take(&mut shard.tensors)
            .into_iter()
            .zip(&keys.positions)
        {
            match slots.get_mut(position) {
                Some(slot @ None) => *slot = Some(tensor),
                _ => return Err(invalid(format!("tensor {position} in two shards"))),
            }
        }
        match &whole {
            None => whole = Some(shard),
            Some(first) => {
                if first.step != shard.step
                    || first.skipped_steps != shard.skipped_steps
                    || first.config != shard.config
                    || first.non_finite_policy != shard.non_finite_policy
                    || first.param_groups != shard.param_groups
                    || first.extra != shard.extra
                {
                    return Err(invalid(format!(
                        "rank {} disagrees with rank 0 on the counters or the configuration",
                        keys.rank
                    )));
                }
            }
        }
    }
    let mut whole = whole.ok_or_else(|| invalid("no shards".to_string()))?;
    whole.tensors = slots
        .into_iter()
        .enumerate()
        .map(|(i, slot)| slot.ok_or_else(|| invalid(format!("tensor {i} in no shard"))))
        .collect::<Result<_, _>>()?;
    for (key, count) in KEYS_INNER_TENSORS.iter().zip(inner_tensors) {
        if let Some(count) = count {
            whole.extra.insert(key.to_string(), count);
        }
    }
    whole.master_weights = master_weights;
    Ok(whole)
}

/// Cuts the state of an optimizer in one process (or one [`consolidate`] made) into the shards
/// of `world_size` ranks of a [`Sharded`] optimizer, rank by rank: what each rank of a job of
/// another size loads. The tensors are assigned by [`partition`] of their saved shapes, as the
/// sharded step assigns them.
///
/// # Errors
///
/// [`Error::InvalidRank`] for a world size of 0; [`Error::ShardMismatch`] when the state is a
/// shard (consolidate the shards first).
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::distributed::{split, Sharded, Threads};
/// use ndarray_optim::{Adam, Optimizer};
///
/// // One step in one process, then on three ranks from its state.
/// let grads = [array![0.5_f32, -1.0], array![2.0], array![1.0, 1.0, 1.0]];
/// let mut params = [array![1.0_f32, 2.0], array![3.0], array![4.0, 5.0, 6.0]];
/// let mut alone = Adam::new(0.1)?;
/// alone.step(&mut params, &grads)?;
/// let shards = split(alone.save_state(), 3)?;
///
/// let ranks = Threads::run(3, |comm| {
///     let mut params = params.clone();
///     let mut opt = Sharded::new(Adam::new(0.1)?, comm)?;
///     opt.load_state(shards[opt.rank()].clone())?;
///     opt.step(&mut params, &grads)?;
///     Ok::<_, ndarray_optim::Error>(params)
/// })?;
/// alone.step(&mut params, &grads)?;
/// for rank in ranks {
///     assert_eq!(rank?, params);
/// }
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
pub fn split<A: Clone>(
    mut state: OptimizerState<A>,
    world_size: usize,
) -> Result<Vec<OptimizerState<A>>, Error> {
    if world_size == 0 {
        return Err(Error::InvalidRank {
            rank: 0,
            world_size: 0,
        });
    }
    if state.extra.contains_key(KEY_WORLD) {
        return Err(Error::ShardMismatch {
            what: "a sharded optimizer (1) or not (0)",
            saved: 1,
            expected: 0,
        });
    }
    let masters = match state.master_weights.take() {
        Some(master) => split(*master, world_size)?.into_iter().map(Some).collect(),
        None => vec![None; world_size],
    };
    let tensors = std::mem::take(&mut state.tensors);
    let inner_tensors = KEYS_INNER_TENSORS.map(|key| state.extra.remove(key));
    let model = tensors.len();
    let numels: Vec<usize> = tensors.iter().map(|t| t.shape.iter().product()).collect();
    let owner = partition(&numels, world_size);
    let mut shards: Vec<OptimizerState<A>> = (0..world_size)
        .map(|rank| {
            let mut shard = OptimizerState {
                tensors: Vec::new(),
                ..state.clone()
            };
            shard.extra.insert(KEY_WORLD.to_string(), world_size as u64);
            shard.extra.insert(KEY_RANK.to_string(), rank as u64);
            shard
                .extra
                .insert(KEY_MODEL_TENSORS.to_string(), model as u64);
            shard
        })
        .collect();
    for (position, tensor) in tensors.into_iter().enumerate() {
        let shard = &mut shards[owner[position]];
        let k = shard.tensors.len();
        shard
            .extra
            .insert(format!("{KEY_POSITION}{k}"), position as u64);
        shard.tensors.push(tensor);
    }
    for (key, count) in KEYS_INNER_TENSORS.iter().zip(inner_tensors) {
        let Some(count) = count else {
            continue;
        };
        for shard in &mut shards {
            // The inner optimizer's tensors: all of the shard's, or none before its first step.
            let mine = if count == 0 {
                0
            } else {
                shard.tensors.len() as u64
            };
            shard.extra.insert(key.to_string(), mine);
        }
    }
    for (shard, master) in shards.iter_mut().zip(masters) {
        if let Some(mut master) = master {
            // What the inner optimizer of a sharded run saves: no shard keys of its own; the
            // outer state (with no tensors of its own) holds them, as a sharded run saves it.
            let keys = take_shard_keys(&mut master)?;
            if shard.tensors.is_empty() {
                put_shard_keys(shard, &keys);
            }
            shard.master_weights = Some(Box::new(master));
        }
    }
    Ok(shards)
}
