//! Neural-network optimizers for [`ndarray`], with PyTorch's numbers.
//!
//! `ndarray-optim` updates your parameter arrays in place from their gradients with the same
//! arithmetic as PyTorch's `torch.optim` (timm's for LAMB, optax's for Lion), so a published
//! recipe ports unchanged: the same names, the same defaults, the same results to the last bit or
//! within PyTorch's own rounding. It adds what training needs around the update rule: learning-rate
//! [schedules](schedule), parameter groups, gradient [clipping](clip) and accumulation, saving and
//! resuming, a policy for NaN gradients, and a learning-rate [finder].
//!
//! # Contents
//!
//! [Quick start](#quick-start) · [Choosing an optimizer](#choosing-an-optimizer) ·
//! [What `step` accepts](#what-step-accepts) · [Schedules](#schedules) ·
//! [Finding a learning rate](#finding-a-learning-rate) ·
//! [Averaging the weights](#averaging-the-weights) ·
//! [Parameter groups](#parameter-groups) · [Clipping and accumulation](#clipping-and-accumulation) ·
//! [Saving and resuming](#saving-and-resuming) · [Memory](#memory) ·
//! [Non-finite gradients](#non-finite-gradients) ·
//! [Training on several machines](#training-on-several-machines) ·
//! [Errors](#errors) · [Numerics](#numerics) · [Performance](#performance) ·
//! [Crate features](#crate-features) · [Minimum Rust version](#minimum-rust-version)
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
//! Each optimizer fixes one way plain gradient descent fails:
//!
//! | problem | optimizer |
//! |---|---|
//! | a baseline; mini-batch noise already helps it explore | [`Sgd`] |
//! | zig-zag across a ravine, slow progress along the valley, plateaus | [`Momentum`], [`Nesterov`] |
//! | one learning rate cannot suit every parameter (sparse or badly scaled features) | [`Adagrad`], [`RmsProp`], [`Adadelta`] |
//! | both at once: the usual default for deep networks | [`Adam`] (AMSGrad with `amsgrad`), [`AdamW`] with decoupled weight decay |
//! | Adam's momentum lags a step | [`NAdam`] |
//! | Adam's erratic first steps, without a warmup schedule | [`RAdam`] |
//! | rare huge gradients | [`Adamax`] |
//! | memory: one state buffer instead of two, steps of fixed size | [`Lion`] |
//! | memory: a matrix's second moment as row and column statistics, no first moment | [`Adafactor`] |
//! | weight matrices whose updates are dominated by a few directions: orthogonalised momentum | [`Muon`] (matrices only) |
//! | very large batches: a step size per layer | [`Lamb`]; [`Lars`] for SGD with momentum |
//! | Nesterov momentum without a second gradient: the change of the gradient looks ahead | [`Adan`] |
//! | full-batch problems where the gradient's size means nothing: steps from its sign | [`Rprop`] |
//! | the last SGD iterate bounces around the minimum: evaluate the average of the iterates | [`Asgd`] |
//! | an embedding table whose batches touch a few rows: update those rows only, as Adam would | [`SparseAdam`] ([`SparseAdam::step_sparse`] takes the rows) |
//! | a smooth full-batch problem where first-order steps crawl: curvature from the last steps, a line search | [`Lbfgs`] (its [`step`](Lbfgs::step) takes a closure that evaluates the loss) |
//! | no learning-rate schedule to choose: averaged iterates instead | [`ScheduleFreeAdamW`], [`ScheduleFreeSgd`] ([`ScheduleFreeAdamW::eval_params`] gives the point to evaluate) |
//! | a batch that does not fit in memory | any of them inside [`MultiSteps`] |
//! | a fast optimizer oscillates or is sensitive to its learning rate: slow weights every `k` steps | any of them inside [`Lookahead`] |
//!
//! These are every optimizer of PyTorch 2.15's `torch.optim`, its 15 classes (`SGD` is [`Sgd`],
//! [`Momentum`] and [`Nesterov`]), and from optax and timm Lion, LAMB, LARS and Adan, and
//! Schedule-Free AdamW and SGD from the `schedulefree` package;
//! `torch.optim.swa_utils` is [`swa_utils`].
//!
//! Every optimizer is built from its configuration ([`AdamConfig`], [`SgdConfig`], …): a plain
//! struct with public fields named as PyTorch names them, whose `Default` is PyTorch's default,
//! with one chained setter per field, named as the field, that never fails
//! (`AdamConfig::default().lr(3e-4).betas((0.9, 0.98)).build()?`); or with a short constructor
//! such as [`Adam::new`]`(lr)`. Invalid hyperparameters are rejected by `build`: a built
//! optimizer is always valid. Schedules ([`schedule`]), [`MultiStepsConfig`] and
//! [`ParamGroup`] are configured the same way (the arguments PyTorch requires go to `new`), and
//! checked by the call that puts them to work (`attach`, `build`, [`ParamGroups::new`]). Each
//! type's documentation gives its update as equations. The [`Optimizer`] trait is object safe,
//! so `Vec<Box<dyn Optimizer<f32>>>` lets a program choose at run time; [`OptimizerKind::ALL`]
//! lists every optimizer, and an [`OptimizerConfig`] holds the configuration of any of them
//! (read from a file, with the `serde` feature) and builds it.
//!
//! ```
//! use ndarray::array;
//! use ndarray_optim::{Optimizer, OptimizerKind};
//!
//! for &kind in OptimizerKind::ALL {
//!     let mut config = kind.default_config(); // PyTorch's defaults
//!     config.set_learning_rate(0.01);
//!     let mut opt = config.build::<f32>()?; // a Box<dyn Optimizer<f32>>
//!     let mut w = array![[1.0_f32, -1.0]]; // a 1 × 2 matrix: Muon takes matrices only
//!     opt.step(&mut w, &array![[1.0, -1.0]])?;
//!     assert!(w[[0, 0]] < 1.0 && w[[0, 1]] > -1.0, "{kind}");
//! }
//! # Ok::<(), ndarray_optim::Error>(())
//! ```
//!
//! # What `step` accepts
//!
//! [`Optimizer::step`] takes the parameters as `&mut dyn` [`TensorListMut`] and the gradients as
//! `&dyn` [`TensorList`]: one array or view of any dimension, a `Vec`, slice or array of them, a
//! tuple of tensors of different ranks (`&mut (&mut w, &mut b)`), or your own model struct.
//! Elements are `f32` or `f64` ([`Float`]), or with the `half` feature `bf16` and `f16`
//! (arithmetic in `f32`). Nothing is copied. State is kept per position in the
//! list, created on the first step in each parameter's own memory order. Contiguous tensors (C or
//! Fortran order) are updated in one vectorised pass; strided views give the same results, more
//! slowly.
//!
//! # Schedules
//!
//! [`schedule`] has every scheduler of `torch.optim.lr_scheduler` (step, multi-step, constant,
//! linear, exponential, polynomial, cosine annealing with and without warm restarts, cyclic,
//! one-cycle, reduce-on-plateau, lambda, multiplicative, sequential, chained), SWA's `SWALR`
//! ([`SwaLr`](schedule::SwaLr)), with PyTorch's
//! numbers, and [`Warmup`](schedule::Warmup) for the warmup-then-decay shape. Each comes as a pure
//! function of the epoch and as a stateful [`Scheduler`](schedule::Scheduler) stepped after each
//! epoch or batch. What "epoch 0" means is defined once, in [the module's docs](schedule#epoch-0).
//!
//! ```
//! use ndarray_optim::schedule::{Schedule, Warmup};
//! use ndarray_optim::{AdamW, Optimizer};
//!
//! let mut opt = AdamW::<f32>::new(1e-3)?;
//! let mut sched = Warmup::cosine(100, 1000).attach(&mut opt)?; // 100 warmup steps, then cosine
//! assert_eq!(opt.learning_rate(), 0.0); // epoch 0 of a warmup from 0
//! sched.step(&mut opt)?;
//! assert!((opt.learning_rate() - 1e-5).abs() < 1e-12);
//! # Ok::<(), ndarray_optim::Error>(())
//! ```
//!
//! # Finding a learning rate
//!
//! [`finder`] runs Leslie Smith's range test as fastai's `lr_find` and Lightning's
//! `Tuner.lr_find` do: a sweep of the learning rate from `1e-7` to `10` on your own training
//! closure, the debiased moving average of the loss, an early stop when it diverges, and
//! fastai's suggestion rules (`valley`, `slide`, `minimum`, `steep`) and Lightning's, with their
//! numbers. The parameters and the optimizer are put back bit for bit afterwards.
//!
//! ```
//! use std::convert::Infallible;
//! use ndarray::array;
//! use ndarray_optim::finder::LrFinder;
//! use ndarray_optim::{AdamW, Optimizer};
//!
//! let (mut w, mut grad) = (array![2.0_f32, -1.0], array![0.0_f32, 0.0]);
//! let mut opt = AdamW::new(1e-3)?;
//! let found = LrFinder::new().run(&mut opt, &mut w, &mut grad, |w, grad| {
//!     grad.assign(&(w * 2.0)); // loss |w|²
//!     Ok::<f64, Infallible>(f64::from(w.dot(w)))
//! })?;
//! if let Some(valley) = found.suggestion {
//!     opt.set_learning_rate(valley.lr)?;
//! }
//! assert_eq!(w, array![2.0, -1.0]); // untouched
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Averaging the weights
//!
//! [`swa_utils`] is PyTorch's `torch.optim.swa_utils`: an [`AveragedModel`](swa_utils::AveragedModel)
//! keeps an averaged copy of the parameters, with equal weights (stochastic weight averaging)
//! or exponentially ([`AveragedModel::ema`](swa_utils::AveragedModel::ema),
//! `get_ema_multi_avg_fn`), bit for bit PyTorch's, saved with its own
//! [`state`](swa_utils::AveragedModel::state); [`SwaLr`](schedule::SwaLr) (`SWALR`) anneals the
//! learning rate to SWA's constant one.
//!
//! ```
//! use ndarray::array;
//! use ndarray_optim::swa_utils::AveragedModel;
//! use ndarray_optim::{Optimizer, Sgd};
//!
//! let mut w = array![1.0_f32, -1.0];
//! let mut opt = Sgd::new(0.1)?;
//! let mut ema = AveragedModel::ema(0.9)?;
//! for _ in 0..20 {
//!     let grad = w.mapv(|x| 2.0 * x);
//!     opt.step(&mut w, &grad)?;
//!     ema.update_parameters(&w)?; // after every step
//! }
//! assert_eq!(ema.n_averaged(), 20);
//! assert!(ema.averages()[0][[0]] > w[0]); // the average lags behind
//! # Ok::<(), ndarray_optim::Error>(())
//! ```
//!
//! # Parameter groups
//!
//! [`ParamGroups`] give tensors their own learning-rate multiplier and weight decay, as PyTorch's
//! `param_groups` do; [`ParamGroups::no_decay_for_vectors`] is the usual "no weight decay on
//! biases and normalisation parameters" split. A schedule schedules each group from its own
//! learning rate, as PyTorch's do (see [the module's docs](schedule#parameter-groups)).
//!
//! # Clipping and accumulation
//!
//! [`clip`] has PyTorch's `clip_grad_norm_` (any p-norm, returning the norm) and
//! `clip_grad_value_` with the same numbers, plus per-tensor clipping. [`MultiSteps`] accumulates
//! gradients over `k` micro-batches and steps once with their mean: `k` micro-batches train like
//! one large batch ([`MultiStepsConfig`] sets the sum instead of the mean, and clipping of the
//! accumulated gradient).
//!
//! # Saving and resuming
//!
//! [`Optimizer::save_state`] returns an [`OptimizerState`]: the optimizer's kind, its
//! hyperparameters, its step counters, its parameter groups and every state buffer, with each
//! tensor's shape (and optionally its name). [`Optimizer::load_state`] checks it and puts it back:
//! the next step continues bit for bit where the saved optimizer was. Schedulers have
//! [`state`](schedule::Scheduler::state) and [`restore`](schedule::Scheduler::restore). With the
//! `serde` feature all of it serialises (JSON, bincode, postcard, …). A state saved for another
//! kind of optimizer, other tensors or other names is a typed error, never a silent re-mapping.
//! See `examples/checkpoint.rs`.
//!
//! # Memory
//!
//! [`Optimizer::state_bytes`] says how many bytes of per-element state an optimizer keeps:
//! Adam's `m` and `v` are 8 bytes per `f32` parameter. [`Quantization`] (the `quantized_state`
//! option of [`AdamConfig`], [`AdamWConfig`], [`MomentumConfig`] and [`LionConfig`]) keeps the
//! moments of every tensor of at least 4,096 elements whose size is a multiple of the block
//! (torchao's rule: a 1000 × 1000 matrix is not, with blocks of 256, and keeps `f32` state)
//! block-wise quantised, as torchao's and bitsandbytes' 8-bit and 4-bit optimizers do: one code per element (8 or 4 bits) and one
//! `f32` scale per block of 256 (or 128) elements, each block dequantised, updated and
//! quantised again within the step. Adam's state is then about 2.03 bytes per parameter with
//! 8 bits and 1.06 with 4 bits; Adam and AdamW compute torchao's `Adam8bit`, `AdamW8bit`,
//! `Adam4bit` and `AdamW4bit` bit for bit as torchao computes them eagerly (up to PyTorch's CPU
//! square root; torchao's default `torch.compile` path fuses operations and differs in the last
//! bits of some elements), and with
//! [`Quantization::fp8`] (`float8_e4m3fn` codes, [`CodeFormat::Float8`]) torchao's `AdamFp8`
//! and `AdamWFp8`: the same 2.03 bytes, coarser first moments, a faster step. The other tensors
//! (biases, norms) keep full-precision state, updated in torchao's order of operations (Adam's
//! last bits can differ from Adam's without `quantized_state`; [`state_bytes`](Optimizer::state_bytes)
//! shows which tensors were quantised). The codes and scales are saved and restored
//! exactly ([`QuantizedBuffer`]).
//!
//! ```
//! use ndarray::Array2;
//! use ndarray_optim::{AdamWConfig, Optimizer, Quantization};
//!
//! let mut w = Array2::<f32>::zeros((256, 256));
//! let g = Array2::<f32>::from_elem((256, 256), 1e-3);
//! let mut opt = AdamWConfig::default().quantized_state(Quantization::int8()).build()?;
//! opt.step(&mut w, &g)?;
//! assert_eq!(opt.state_bytes(), 2 * 65_536 + 2 * 4 * 256); // codes, and a scale per block
//! # Ok::<(), ndarray_optim::Error>(())
//! ```
//!
//! # Non-finite gradients
//!
//! [`NonFinitePolicy`] says what a NaN or infinite gradient does: an error that changes nothing
//! (the default), a skipped step that leaves no trace (the moments are never poisoned and the step
//! counter does not advance), or nothing at all, as in PyTorch. After each step,
//! [`Optimizer::last_step`] tells whether it was applied, skipped (and why) or only accumulated.
//!
//! # Training on several machines
//!
//! [`distributed`] trains data-parallel: every rank (a thread, a process, a machine) computes
//! the gradient of its part of the batch, [`distributed::all_reduce_gradients`] sums them, and
//! [`distributed::Sharded`] wraps any optimizer so that each rank keeps the state of only its
//! share of the tensors (ZeRO stage 1, PyTorch's `ZeroRedundancyOptimizer`). Every rank ends
//! with the bits of one process, whatever the number of ranks. Ranks are threads
//! ([`distributed::Threads`]) or, with the `mpi` feature, MPI processes; shards of the state
//! consolidate into one process's state and split for another number of ranks.
//!
//! # Errors
//!
//! Every check happens before anything changes. On `Err` ([`Error`]), every parameter and every
//! piece of optimizer state is bit for bit what it was: mismatched counts or shapes, a tensor list
//! that changed since the state was created, NaN or infinite gradients (under the default
//! [`NonFinitePolicy::Error`]), invalid hyperparameters, an unusable saved state.
//! [`Optimizer::check_step`] runs the same checks without stepping. No input makes `step` panic.
//!
//! # Numerics
//!
//! Hyperparameters and the scalars derived from them are `f64`, rounded once to the element type;
//! multiply-adds are fused exactly where PyTorch's CPU kernels fuse them. The test suite replays
//! trajectories recorded from PyTorch 2.15 (`foreach=False`, its CPU default), timm 1.0.31 and
//! optax 0.2.8: `f64` within `1e-10`, `f32` within PyTorch's own `sqrt` rounding. SGD, Momentum,
//! Nesterov, Adamax, Lion, Rprop and ASGD are bit-identical in both precisions. Adafactor sums its
//! norms in `f64` in a fixed order (PyTorch: in `f32`, in an order that depends on the CPU), and
//! is within 4 ulp. Muon runs its Newton–Schulz iteration in `bfloat16` as PyTorch does, and is
//! bit-identical on small matrices (PyTorch's BLAS sums large products in another order).
//! The repository's `docs/numerics.md` has the conventions and every difference in detail.
//!
//! Where PyTorch writes NaN into a parameter from finite inputs, this crate does not, and for
//! finite inputs nowhere else does it differ (non-finite gradients let through with
//! [`NonFinitePolicy::Unchecked`] meet the same guards, so their results are not PyTorch's
//! either, and differ between Adam with and without quantised state): a running average that overflowed to `∞` is forgotten by a decay factor of
//! 0 (PyTorch: `∞·0`), a zero learning rate leaves a parameter alone even if its update overflowed,
//! LAMB holds an overflowed update element at the largest finite value before its trust ratio, and
//! centered RMSProp clamps a variance that rounding made negative. Arithmetic that must overflow
//! still does: squared gradients beyond the type's range become `∞`, as in PyTorch. `eps` must be
//! positive (PyTorch allows 0, where a zero gradient gives 0/0). PyTorch keeps the step count in an
//! `f32` tensor that stops counting at 2²⁴ steps; here it is a `u64`. Norms (LAMB, clipping) are
//! summed in `f64` in a fixed order, so they do not depend on the memory layout or the number of
//! threads.
//!
//! # Performance
//!
//! One fused pass over memory per tensor per step (LAMB: three, for its norms), scalars computed
//! once per step, every variant decision (maximize, the form of weight decay, AMSGrad, Nesterov,
//! RAdam's rectification, …) made once per tensor outside the element loop, so that each loop is
//! straight-line arithmetic that vectorises. On x86-64 the loops are compiled for AVX-512 or AVX2
//! with FMA when the CPU has them (chosen at run time; `NDARRAY_OPTIM_SIMD=avx2` or `baseline`
//! forces a lower path, for benchmarks); on aarch64 NEON and FMA are the baseline. The results
//! are the same bits on every path. Nothing is allocated after the first step (with one
//! exception in ndarray itself: dynamic-dimensional arrays of more than four dimensions keep
//! their shape on the heap). The default check for non-finite gradients reads each gradient once
//! more (LAMB's global gradient norm doubles as it); [`NonFinitePolicy::Unchecked`] skips it.
//! The README has measurements against PyTorch; `benches/step.rs` measures every optimizer, and
//! `benches/instructions.rs` counts the instructions of every loop under callgrind.
//!
//! # Crate features
//!
//! | feature | what it adds |
//! |---|---|
//! | `serde` | `Serialize`/`Deserialize` for configurations, parameter groups, [`OptimizerState`] and scheduler states (ndarray's own serde support for the buffers) |
//! | `rayon` | large tensors split into chunks and many tensors spread across threads; results bit-identical whatever the thread count |
//! | `mpi` | `distributed::Mpi`: the distributed step on MPI through rsmpi (building it needs an MPI implementation, such as MPICH or Open MPI, and libclang) |
//! | `half` | `half::bf16` and `half::f16` parameters, gradients and state ([`Float`] for them): every element's update computed in `f32` and each stored result rounded to nearest even, as PyTorch's fused CPU kernels do for 16-bit parameters |
//!
//! None is on by default.
//!
//! With `half`, an optimizer of `bf16` (or `f16`) elements keeps its state in that type, as
//! PyTorch does: Adam's state is then 4 bytes per parameter instead of 8. It reads every
//! element exactly into `f32`, computes the whole update there (the scalars rounded once from
//! `f64` to `f32`) and rounds each stored result once. Saved 16-bit states record their type;
//! loading one into an optimizer of another type is an error. Two remedies for updates smaller
//! than half a `bf16` ulp, which rounding to nearest loses:
//! [`Optimizer::set_stochastic_rounding`] (unbiased, reproducible), and [`MasterWeights`] (`f32`
//! copies and `f32` state kept by an `f32` optimizer, the 16-bit parameters written from them).
//!
//! ```
//! # #[cfg(feature = "half")] {
//! use half::bf16;
//! use ndarray::Array1;
//! use ndarray_optim::{Adam, Optimizer};
//!
//! let mut w = Array1::from_elem(4, bf16::from_f32(1.0));
//! let g = Array1::from_elem(4, bf16::from_f32(0.5));
//! let mut opt = Adam::<bf16>::new(0.01)?;
//! opt.step(&mut w, &g)?;
//! // 1 − 0.01, rounded to the nearest bf16 (8 significant bits).
//! assert_eq!(w[0], bf16::from_f32(0.99));
//! # }
//! # Ok::<(), ndarray_optim::Error>(())
//! ```
//!
//! # Minimum Rust version
//!
//! Rust 1.89, for the AVX-512 target features of the vectorised loops (edition 2024, let chains
//! and trait upcasting need 1.88 or earlier). Raising it is a minor-version change.
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![deny(clippy::float_cmp)]

mod builder;
mod check;
pub mod clip;
pub mod distributed;
mod driver;
mod error;
#[cfg(feature = "serde")]
mod exact;
pub mod finder;
mod float;
mod groups;
mod lowbit;
mod ops;
mod optim;
mod optimizer;
mod pass;
mod quant;
mod registry;
pub mod schedule;
mod state;
pub mod swa_utils;
mod tensor;
mod wrappers;

pub use clip::{
    clip_grad_norm, clip_grad_norm_per_tensor, clip_grad_value, clip_grads_with_norm, total_norm,
};
pub use error::Error;
pub use float::Float;
pub use groups::{ParamGroup, ParamGroups};
pub use lowbit::{CodeFormat, Quantization};
pub use optim::*;
pub use optimizer::{NonFinitePolicy, Optimizer, StepOutcome};
/// With the `rayon` feature: a tensor with at least this many elements is split into chunks
/// across threads, and a list of tensors with at least this many elements in all is spread
/// across threads; below it, handing work to another thread costs more than it saves. The
/// results are the same bits either way.
#[cfg(feature = "rayon")]
pub use pass::parallel::MIN_LEN as PARALLEL_MIN_LEN;
pub use state::{OptimizerState, QuantizedBuffer, STATE_FORMAT_VERSION, TensorState};
pub use tensor::{Gradients, Tensor, TensorList, TensorListMut, TensorMut};
pub use wrappers::{
    AccumulationMode, Lookahead, LookaheadConfig, MasterWeights, MultiSteps, MultiStepsConfig,
    Transform,
};
