//! The one error type of the crate.

/// Everything that can go wrong when building or stepping an optimizer.
///
/// Every error is returned *before* anything is changed: when a call returns `Err`, every
/// parameter tensor and every piece of optimizer state is bit-for-bit what it was before the call.
///
/// The enum is `#[non_exhaustive]`: later versions may add variants (a `match` needs a `_` arm).
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::{Adam, Error, Optimizer};
///
/// let mut opt = Adam::<f64>::new(1e-3)?;
/// let mut w = array![1.0, 2.0, 3.0];
/// let g = array![0.1, 0.2];
/// match opt.step(&mut w, &g) {
///     Err(Error::ShapeMismatch { index, param, grad }) => {
///         assert_eq!((index, param, grad), (0, vec![3], vec![2]));
///     }
///     other => panic!("expected a shape mismatch, got {other:?}"),
/// }
/// assert_eq!(w, array![1.0, 2.0, 3.0]); // untouched
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A hyperparameter is outside its valid range (or NaN), when an optimizer is built or a
    /// setter such as [`set_learning_rate`](crate::Optimizer::set_learning_rate) is called.
    #[error("invalid hyperparameter `{name}` = {value}: {requirement}")]
    InvalidHyperparameter {
        /// The hyperparameter's name, as PyTorch spells it (`lr`, `betas[0]`, `dampening`, …).
        name: &'static str,
        /// The rejected value.
        value: f64,
        /// What the value must satisfy.
        requirement: &'static str,
    },
    /// A hyperparameter valid as given that the optimizer's element type cannot carry: rounded
    /// to that type it breaks its rule (`eps = 1e-50` is 0 in `f32`, `lr = 1e39` is `∞`,
    /// `β = 1 − 1e-10` is 1), or a step's scalar made from it overflows (Adam's first step size
    /// `lr/(1 − β₁)`). The kernel computes in the element type, so it would write NaN or `∞`.
    #[error(
        "hyperparameter `{name}` becomes {rounded} in {element}, the type the optimizer computes in, where it {requirement}"
    )]
    NotRepresentable {
        /// The hyperparameter's name, as in [`InvalidHyperparameter`](Error::InvalidHyperparameter).
        name: &'static str,
        /// The value the kernel would use: the hyperparameter (or the scalar made from it)
        /// rounded to `element`.
        rounded: f64,
        /// The element type (`"f32"`, `"f64"`).
        element: &'static str,
        /// What the value must satisfy.
        requirement: &'static str,
    },

    /// `step` was given a different number of parameter tensors and gradient tensors.
    #[error("{params} parameter tensors but {grads} gradient tensors")]
    LengthMismatch {
        /// Number of parameter tensors.
        params: usize,
        /// Number of gradient tensors.
        grads: usize,
    },

    /// A gradient's shape differs from its parameter's shape.
    #[error("tensor {index}: gradient shape {grad:?} differs from parameter shape {param:?}")]
    ShapeMismatch {
        /// Position of the tensor in the list.
        index: usize,
        /// The parameter's shape.
        param: Vec<usize>,
        /// The gradient's shape.
        grad: Vec<usize>,
    },

    /// The optimizer holds state for a different number of tensors than `step` was given: the
    /// tensor list changed since the first step. Call
    /// [`reset_state`](crate::Optimizer::reset_state) to start afresh on purpose.
    #[error("optimizer state was created for {expected} tensors but step was given {found}")]
    StateLengthMismatch {
        /// Number of tensors the state was created for.
        expected: usize,
        /// Number of tensors given now.
        found: usize,
    },

    /// A parameter's shape differs from the shape its optimizer state was created for.
    #[error(
        "tensor {index}: parameter shape {found:?} differs from the shape {expected:?} \
         its optimizer state was created for"
    )]
    StateShapeMismatch {
        /// Position of the tensor in the list.
        index: usize,
        /// The shape the state was created for.
        expected: Vec<usize>,
        /// The parameter's shape now.
        found: Vec<usize>,
    },

    /// A gradient holds NaN or ±infinity (checked unless the optimizer's
    /// [`NonFinitePolicy`](crate::NonFinitePolicy) says otherwise).
    #[error("tensor {index}: gradient element {element:?} is {value}")]
    NonFiniteGradient {
        /// Position of the tensor in the list.
        index: usize,
        /// Index of the first non-finite element (in row-major order) within the tensor.
        element: Vec<usize>,
        /// The offending value (NaN, `inf` or `-inf`), widened to `f64`.
        value: f64,
    },

    /// A tensor list contradicts itself: the tensor it lends for writing has another shape
    /// than the one it lends for reading, or a tensor's memory slice does not hold the elements
    /// its shape says (a hand-written [`TensorList`](crate::TensorList) implementation with a
    /// bug).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::Error;
    ///
    /// let err = Error::InconsistentTensor { index: 2, reason: "a reason" };
    /// assert_eq!(err.to_string(), "tensor 2 is inconsistent: a reason");
    /// ```
    #[error("tensor {index} is inconsistent: {reason}")]
    InconsistentTensor {
        /// Position of the tensor in the list.
        index: usize,
        /// What disagrees.
        reason: &'static str,
    },

    /// A counter would pass its maximum (`u64::MAX` steps): the optimizer cannot continue.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::Error;
    ///
    /// let err = Error::CounterOverflow { counter: "step" };
    /// assert_eq!(err.to_string(), "the step counter is at its maximum");
    /// ```
    #[error("the {counter} counter is at its maximum")]
    CounterOverflow {
        /// Which counter.
        counter: &'static str,
    },

    /// A saved scheduler state belongs to another schedule.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{CosineAnnealingLr, Schedule, StepLr};
    /// use ndarray_optim::{Error, Sgd};
    ///
    /// let mut opt = Sgd::<f32>::new(0.1)?;
    /// let saved = StepLr::new(2).attach(&mut opt)?.state();
    /// let mut cosine = CosineAnnealingLr::new(10).attach(&mut opt)?;
    /// assert!(matches!(
    ///     cosine.restore(saved, &mut opt),
    ///     Err(Error::WrongSchedule { expected: "CosineAnnealingLR", .. })
    /// ));
    /// # Ok::<(), Error>(())
    /// ```
    #[error("the saved scheduler state is for {found}, not {expected}")]
    WrongSchedule {
        /// The schedule restoring the state.
        expected: &'static str,
        /// The schedule that saved it.
        found: String,
    },

    /// A saved state belongs to another kind of optimizer.
    #[error("the saved state is for {found}, not {expected}")]
    WrongOptimizer {
        /// The optimizer it was loaded into.
        expected: &'static str,
        /// The optimizer it was saved from.
        found: String,
    },

    /// A saved state was written in a format version this crate does not read.
    #[error("saved state format version {version} is not supported (this crate reads {supported})")]
    UnsupportedStateFormat {
        /// The version found.
        version: u32,
        /// The version this crate reads.
        supported: u32,
    },

    /// A saved state is inconsistent (a buffer missing, of the wrong shape, or unknown).
    #[error("invalid saved state{}: {reason}", match tensor {
        Some(t) => format!(" for tensor {t}"),
        None => String::new(),
    })]
    InvalidState {
        /// The tensor concerned, if one.
        tensor: Option<usize>,
        /// What is wrong.
        reason: String,
    },

    /// A saved state's tensor names differ from the names given when loading it.
    #[error("tensor {index} was saved as `{saved}` but is now `{given}`")]
    TensorNameMismatch {
        /// Position of the tensor.
        index: usize,
        /// The name in the saved state.
        saved: String,
        /// The name given now.
        given: String,
    },

    /// Tensor names were given for a different number of tensors
    /// ([`OptimizerState::named`](crate::OptimizerState::named),
    /// [`ParamGroups::no_decay_by_name`](crate::ParamGroups::no_decay_by_name)).
    #[error("{names} names for {tensors} tensors")]
    NameCountMismatch {
        /// Number of tensors.
        tensors: usize,
        /// Number of names given.
        names: usize,
    },

    /// A parameter-group assignment names a group that does not exist.
    #[error("{} refers to group {group}, but there are {groups} groups", match tensor {
        Some(t) => format!("tensor {t}"),
        None => "the call".to_string(),
    })]
    UnknownGroup {
        /// The tensor whose assignment is wrong (`None` when a group was addressed directly).
        tensor: Option<usize>,
        /// The group index given.
        group: usize,
        /// How many groups there are.
        groups: usize,
    },

    /// The parameter groups assign a different number of tensors than `step` was given.
    #[error("the parameter groups assign {assigned} tensors but step was given {found}")]
    GroupLengthMismatch {
        /// Number of tensors the groups assign.
        assigned: usize,
        /// Number of tensors given to `step`.
        found: usize,
    },

    /// The optimizer has no such hyperparameter or feature (for example a momentum to cycle on
    /// Adagrad).
    #[error("{optimizer} has no {what}")]
    Unsupported {
        /// The optimizer's name.
        optimizer: &'static str,
        /// What was asked for.
        what: &'static str,
    },

    /// A tensor's rank is one the optimizer does not update: Muon orthogonalises matrices and
    /// takes tensors of rank 2 only. As PyTorch's documentation advises, give vectors (biases,
    /// norm scales), scalars, embeddings and the output layer to another optimizer (AdamW), for
    /// example a second optimizer over those tensors.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{Array1, Array2};
    /// use ndarray_optim::{Error, Muon, Optimizer};
    ///
    /// let mut opt = Muon::<f32>::new(0.02)?;
    /// let (mut w, mut b) = (Array2::<f32>::ones((4, 3)), Array1::<f32>::ones(3));
    /// let (gw, gb) = (Array2::<f32>::ones((4, 3)), Array1::<f32>::ones(3));
    /// let err = opt.step(&mut (&mut w, &mut b), &(&gw, &gb)).unwrap_err();
    /// assert!(matches!(err, Error::UnsupportedRank { index: 1, rank: 1, .. }));
    /// assert_eq!(w, Array2::<f32>::ones((4, 3))); // nothing changed
    /// # Ok::<(), Error>(())
    /// ```
    #[error(
        "tensor {index} has rank {rank}, but {optimizer} updates {supported} only: give vectors, \
         scalars and embeddings to another optimizer (AdamW)"
    )]
    UnsupportedRank {
        /// The optimizer's name.
        optimizer: &'static str,
        /// Position of the tensor in the list.
        index: usize,
        /// Its rank.
        rank: usize,
        /// What the optimizer takes (`"matrices (rank 2)"`).
        supported: &'static str,
    },

    /// Something that exists only once an optimizer has taken a step was asked for before its
    /// first step (or after [`reset_state`](crate::Optimizer::reset_state)): ASGD's averaged
    /// iterate, an averaged model that has averaged nothing yet.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::Array1;
    /// use ndarray_optim::{Asgd, Error};
    ///
    /// let opt = Asgd::<f32>::new(0.01)?;
    /// let mut out = Array1::<f32>::zeros(3);
    /// assert!(matches!(opt.averaged_into(&mut out), Err(Error::NotStarted { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    #[error("there is no {what} before the first step")]
    NotStarted {
        /// What was asked for.
        what: &'static str,
    },

    /// A row-sparse gradient ([`SparseAdam::step_sparse`](crate::SparseAdam::step_sparse))
    /// names a row its parameter does not have.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{array, Array2};
    /// use ndarray_optim::{Error, RowGrad, SparseAdam};
    ///
    /// let mut table = Array2::<f32>::zeros((4, 2));
    /// let mut opt = SparseAdam::new(0.01)?;
    /// let values = array![[1.0_f32, 2.0]];
    /// let err = opt.step_sparse(&mut table, &[RowGrad::new(&[7], values.view())]).unwrap_err();
    /// assert_eq!(err, Error::RowOutOfRange { index: 0, position: 0, row: 7, rows: 4 });
    /// # Ok::<(), Error>(())
    /// ```
    #[error(
        "tensor {index}: gradient row {position} is for row {row}, but the tensor has {rows} rows"
    )]
    RowOutOfRange {
        /// Position of the tensor in the list.
        index: usize,
        /// Position of the offending entry among the gradient's rows.
        position: usize,
        /// The row it names.
        row: usize,
        /// The parameter's number of rows (the length of its first axis; 1 for a scalar).
        rows: usize,
    },

    /// A row-sparse gradient's values do not have the shape its row indices and its parameter
    /// call for: `[number of indices, the parameter's shape without its first axis…]`.
    #[error("tensor {index}: gradient rows of shape {found:?}, expected {expected:?}")]
    RowShapeMismatch {
        /// Position of the tensor in the list.
        index: usize,
        /// The shape the values must have.
        expected: Vec<usize>,
        /// The shape they have.
        found: Vec<usize>,
    },

    /// A closure optimizer ([`Lbfgs`](crate::Lbfgs)) was given a loss that is NaN or ±∞.
    #[error("the loss is {value}")]
    NonFiniteLoss {
        /// The loss.
        value: f64,
    },

    /// A gradient norm is NaN or infinite and clipping was told to refuse it
    /// (`error_if_nonfinite`, as in PyTorch's `clip_grad_norm_`); see [`crate::clip`].
    #[error("the {norm_type}-norm of {} is {norm}, so it cannot be clipped", match tensor {
        Some(t) => format!("gradient {t}"),
        None => "the gradients".to_string(),
    })]
    NonFiniteNorm {
        /// The norm type (`p`; `inf` for the max-norm).
        norm_type: f64,
        /// The non-finite norm, in the gradients' element type, widened to `f64`.
        norm: f64,
        /// The tensor whose own norm it is (per-tensor clipping), or `None` for the norm of all
        /// gradients together.
        tensor: Option<usize>,
    },

    /// A learning-rate schedule computed a learning rate or momentum that an optimizer cannot
    /// hold: NaN, infinite or negative (a closure returning NaN, a growth factor that
    /// overflows, …). Nothing was changed; see [`crate::schedule`].
    #[error("{schedule} at epoch {epoch} computed {what} = {value}, which is not finite and >= 0")]
    InvalidScheduledValue {
        /// The schedule, by its PyTorch class name (`"LambdaLR"`, …).
        schedule: &'static str,
        /// The epoch (scheduler step) the value was computed for.
        epoch: u64,
        /// `"lr"` or `"momentum"`.
        what: &'static str,
        /// The rejected value.
        value: f64,
    },

    /// The milestones of a schedule ([`MultiStepLr`](crate::schedule::MultiStepLr),
    /// [`SequentialLr`](crate::schedule::SequentialLr)) decrease somewhere.
    #[error(
        "{schedule}: milestone {index} ({milestone}) is smaller than the one before it ({previous})"
    )]
    MilestonesOutOfOrder {
        /// The schedule, by its PyTorch class name.
        schedule: &'static str,
        /// Position of the offending milestone.
        index: usize,
        /// The offending milestone.
        milestone: u64,
        /// The milestone before it.
        previous: u64,
    },

    /// A [`SequentialLr`](crate::schedule::SequentialLr) needs exactly one milestone fewer than
    /// schedules.
    #[error(
        "SequentialLR needs one milestone fewer than schedules: {schedules} schedules, {milestones} milestones"
    )]
    MilestoneCountMismatch {
        /// Number of schedules given.
        schedules: usize,
        /// Number of milestones given.
        milestones: usize,
    },

    /// A composition of schedules ([`SequentialLr`](crate::schedule::SequentialLr),
    /// [`ChainedScheduler`](crate::schedule::ChainedScheduler)) was given none.
    #[error("{schedule} needs at least one schedule")]
    NoSchedules {
        /// The composition, by its PyTorch class name.
        schedule: &'static str,
    },

    /// A schedule with an end ([`OneCycleLr`](crate::schedule::OneCycleLr)) was stepped or
    /// evaluated past it.
    #[error("{schedule} was asked for step {step}, past its total number of steps {total_steps}")]
    ScheduleExhausted {
        /// The schedule, by its PyTorch class name.
        schedule: &'static str,
        /// The step asked for.
        step: u64,
        /// The last step allowed.
        total_steps: u64,
    },

    /// A collective operation of a distributed step failed: the communication engine reported
    /// an error ([`distributed::Collective`](crate::distributed::Collective)). Every rank gets
    /// it; a [`Sharded`](crate::distributed::Sharded) step that was exchanging its updated
    /// tensors undoes the update on every rank first. When `operation` is
    /// `"restoring the parameters"`, undoing failed too, and the ranks' parameters may differ:
    /// load a checkpoint.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::Error;
    ///
    /// let err = Error::Collective { operation: "broadcast_f32", reason: "a test".to_string() };
    /// assert_eq!(err.to_string(), "collective `broadcast_f32` failed: a test");
    /// ```
    #[error("collective `{operation}` failed: {reason}")]
    Collective {
        /// The operation (`"all_gather_u64"`, `"broadcast_f32"`, …).
        operation: &'static str,
        /// What the engine reported.
        reason: String,
    },

    /// Another rank of a distributed step refused it (its inputs or its state were wrong, for
    /// example): every other rank returns this, with that rank's own error as `message`, and
    /// nothing changed on any rank.
    #[error("rank {rank} refused the step ({message}); nothing changed on any rank")]
    RankFailed {
        /// The first rank that refused.
        rank: usize,
        /// Its error.
        message: String,
    },

    /// The ranks of a distributed step were given different things: another number of
    /// tensors, other shapes or names, another optimizer or step count, another world size.
    /// Every rank returns the same error, and nothing changed on any rank.
    #[error("rank {rank} disagrees with rank 0 on {what}; nothing changed on any rank")]
    RankMismatch {
        /// The first rank that differs from rank 0.
        rank: usize,
        /// What differs (`"the tensor count"`, `"the tensor shapes"`, …).
        what: &'static str,
    },

    /// A rank outside its world, or a world of no ranks.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::distributed::Threads;
    /// use ndarray_optim::Error;
    ///
    /// assert!(matches!(Threads::group(0), Err(Error::InvalidRank { world_size: 0, .. })));
    /// ```
    #[error(
        "rank {rank} in a world of {world_size} ranks (a world has at least one rank, numbered from 0)"
    )]
    InvalidRank {
        /// The rank.
        rank: usize,
        /// The world size.
        world_size: usize,
    },

    /// A shard of a sharded optimizer's state was loaded where it does not belong: saved for
    /// another world size (split or consolidate it first:
    /// [`distributed::split`](crate::distributed::split)), another rank, or not a shard.
    #[error("the shard was saved for {what} {saved}, loaded for {what} {expected}")]
    ShardMismatch {
        /// `"world size"`, `"rank"`, or `"a sharded optimizer (1) or not (0)"`.
        what: &'static str,
        /// The value saved.
        saved: u64,
        /// The value of the optimizer loading it.
        expected: u64,
    },

    /// A list of one value per parameter group has another length than the optimizer has
    /// groups: a schedule's per-group argument ([`PerGroup`](crate::schedule::PerGroup):
    /// `OneCycleLR`'s `max_lr`, `ReduceLROnPlateau`'s `min_lr`, …), a saved scheduler state,
    /// or a scheduler stepped on an optimizer whose groups changed since it was attached (see
    /// [`Scheduler::add_groups`](crate::schedule::Scheduler::add_groups)). Nothing was changed.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{CyclicLr, Schedule};
    /// use ndarray_optim::{Error, Momentum};
    ///
    /// let mut opt = Momentum::<f32>::new(0.1, 0.9)?; // one group
    /// let err = CyclicLr::new([0.01, 0.001], 0.1).attach(&mut opt).unwrap_err();
    /// assert!(matches!(err, Error::GroupCountMismatch { what: "base_lr", groups: 1, found: 2 }));
    /// assert_eq!(err.to_string(), "base_lr has 2 values for 1 parameter group");
    /// # Ok::<(), Error>(())
    /// ```
    #[error("{what} has {found} value{} for {groups} parameter group{}", plural(*found), plural(*groups))]
    GroupCountMismatch {
        /// What holds the values (`"max_lr"`, `"base_lrs"`, …).
        what: &'static str,
        /// How many parameter groups the optimizer has.
        groups: usize,
        /// How many values were given.
        found: usize,
    },
}

/// The plural ending of a count's noun.
fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

impl Error {
    /// The error with every tensor position `i` it names replaced by `map(i)`: an error of an
    /// optimizer that was given part of a model, named in the model's positions.
    pub(crate) fn map_tensors(self, map: impl Fn(usize) -> usize) -> Error {
        use Error as E;
        match self {
            E::ShapeMismatch { index, param, grad } => E::ShapeMismatch {
                index: map(index),
                param,
                grad,
            },
            E::StateShapeMismatch {
                index,
                expected,
                found,
            } => E::StateShapeMismatch {
                index: map(index),
                expected,
                found,
            },
            E::NonFiniteGradient {
                index,
                element,
                value,
            } => E::NonFiniteGradient {
                index: map(index),
                element,
                value,
            },
            E::InconsistentTensor { index, reason } => E::InconsistentTensor {
                index: map(index),
                reason,
            },
            E::InvalidState { tensor, reason } => E::InvalidState {
                tensor: tensor.map(&map),
                reason,
            },
            E::TensorNameMismatch {
                index,
                saved,
                given,
            } => E::TensorNameMismatch {
                index: map(index),
                saved,
                given,
            },
            E::UnknownGroup {
                tensor,
                group,
                groups,
            } => E::UnknownGroup {
                tensor: tensor.map(&map),
                group,
                groups,
            },
            E::UnsupportedRank {
                optimizer,
                index,
                rank,
                supported,
            } => E::UnsupportedRank {
                optimizer,
                index: map(index),
                rank,
                supported,
            },
            E::RowOutOfRange {
                index,
                position,
                row,
                rows,
            } => E::RowOutOfRange {
                index: map(index),
                position,
                row,
                rows,
            },
            E::RowShapeMismatch {
                index,
                expected,
                found,
            } => E::RowShapeMismatch {
                index: map(index),
                expected,
                found,
            },
            E::NonFiniteNorm {
                norm_type,
                norm,
                tensor,
            } => E::NonFiniteNorm {
                norm_type,
                norm,
                tensor: tensor.map(&map),
            },
            other => other,
        }
    }
}
