//! Gradient accumulation: [`MultiSteps`] wraps an optimizer and steps it once every `k` calls
//! with the mean (or sum) of the `k` micro-batch gradients.

use ndarray::{ArrayD, Dimension, IxDyn, ShapeBuilder, Zip};

use crate::builder::config;
use crate::check;
use crate::clip::{self, Norm};
use crate::distributed::{Contribution, Local, NonFiniteAt, Reduce};
use crate::driver::Scratch;
use crate::error::Error;
use crate::float::Float;
use crate::groups::{ParamGroup, ParamGroups};
use crate::optimizer::{NonFinitePolicy, Optimizer, StepOutcome};
use crate::pass;
use crate::state::OptimizerState;
use crate::tensor::{Tensor, TensorList, TensorListMut};

/// How [`MultiSteps`] combines the `k` micro-batch gradients of one optimizer step.
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::{AccumulationMode, MultiStepsConfig, Optimizer, Sgd};
///
/// let mut opt = MultiStepsConfig::default()
///     .every_k(2)
///     .mode(AccumulationMode::Sum)
///     .build(Sgd::new(1.0)?)?;
/// let mut w = array![0.0_f64];
/// opt.step(&mut w, &array![1.0])?;
/// opt.step(&mut w, &array![2.0])?;
/// assert_eq!(w, array![-3.0]); // the sum: 1 + 2
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum AccumulationMode {
    /// The inner optimizer sees `(g₁ + … + g_k) / k`: the gradient of the mean loss over all `k`
    /// micro-batches when each `gᵢ` is the gradient of a micro-batch's mean loss. The default;
    /// optax `MultiSteps(use_grad_mean=True)` and Keras `gradient_accumulation_steps`.
    #[default]
    Mean,
    /// The inner optimizer sees `g₁ + … + g_k`: for losses that are sums, or micro-batch losses
    /// already divided by `k` (PyTorch's usual `(loss / k).backward()` recipe).
    Sum,
}

crate::builder::plain!(AccumulationMode);

config! {
    /// The configuration of a [`MultiSteps`]: how many micro-batches make one step, how their
    /// gradients are combined, and the optional clipping of the result; made into a
    /// `MultiSteps` around an optimizer by [`build`](MultiStepsConfig::build).
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `every_k` | `1` (no accumulation) | `≥ 1` |
    /// | `mode` | [`AccumulationMode::Mean`] | |
    /// | `max_grad_norm` | `None` (no clipping) | `≥ 0` (`+∞` allowed) |
    /// | `norm_type` | `2` | `> 0` or `+∞` |
    ///
    /// With `max_grad_norm`, the accumulated gradient `ĝ` is clipped by its global norm before
    /// each inner step, exactly as
    /// [`clip_grad_norm`](crate::clip_grad_norm)`(ĝ, max_grad_norm, norm_type, false)`: clipping
    /// after accumulating, as Hugging Face's `Trainer` and optax's
    /// `MultiSteps(chain(clip_by_global_norm(…), …))` do (clipping each micro-batch instead gives
    /// a different update). The norm before clipping is kept for logging:
    /// [`last_grad_norm`](MultiSteps::last_grad_norm).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Error, MultiStepsConfig, Optimizer, Sgd};
    ///
    /// let config = MultiStepsConfig::default().every_k(2).max_grad_norm(Some(1.0));
    /// let mut opt = config.build(Sgd::new(1.0)?)?;
    /// let mut w = array![0.0_f64, 0.0];
    /// opt.step(&mut w, &array![6.0, 0.0])?;
    /// opt.step(&mut w, &array![0.0, 8.0])?; // mean (3, 4): norm 5, clipped to ≈ 1
    /// assert_eq!(opt.last_grad_norm(), Some(5.0));
    /// assert!((w[0] + 0.6).abs() < 1e-6 && (w[1] + 0.8).abs() < 1e-6);
    ///
    /// // Checked when built:
    /// assert!(matches!(
    ///     MultiStepsConfig::default().every_k(0).build(Sgd::<f32>::new(0.1)?),
    ///     Err(Error::InvalidHyperparameter { name: "every_k", .. })
    /// ));
    /// assert!(MultiStepsConfig::default().norm_type(0.0).build(Sgd::<f32>::new(0.1)?).is_err());
    /// # Ok::<(), Error>(())
    /// ```
    pub struct MultiStepsConfig {
        /// The number of calls (micro-batches) per step of the inner optimizer, `k`.
        every_k: usize = 1,
        /// How the `k` micro-batch gradients are combined.
        mode: AccumulationMode = AccumulationMode::Mean,
        /// Clip the accumulated gradient to this global norm before each inner step (`None`: no
        /// clipping).
        max_grad_norm: Option<f64> = None,
        /// The `p` of the norm `max_grad_norm` bounds (`f64::INFINITY` for the largest
        /// magnitude).
        norm_type: f64 = 2.0,
        /// With `max_grad_norm`: a non-finite norm of the accumulated gradient is
        /// [`Error::NonFiniteNorm`] (PyTorch's `error_if_nonfinite`), and the window stays as it
        /// was, so that the call can be repeated.
        error_if_nonfinite: bool = false,
        /// Clip every element of the accumulated gradient to `[−c, c]` before each inner step,
        /// before any norm clipping (`clip_grad_value_`; `None`: no clipping).
        clip_value: Option<f64> = None,
    }
}

impl MultiStepsConfig {
    /// Checks every field against its range (see the table above).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] naming the first value outside its range.
    pub fn validate(&self) -> Result<(), Error> {
        if self.every_k == 0 {
            return Err(Error::InvalidHyperparameter {
                name: "every_k",
                value: 0.0,
                requirement: "must be >= 1",
            });
        }
        if let Some(max_norm) = self.max_grad_norm {
            // clip_grad_norm's rule, under this field's name.
            check::require(
                max_norm >= 0.0,
                "max_grad_norm",
                max_norm,
                "must be >= 0 (+inf allowed)",
            )?;
        }
        if let Some(c) = self.clip_value {
            check::require(c >= 0.0, "clip_value", c, "must be >= 0 (+inf allowed)")?;
        }
        Norm::new(self.norm_type).map(|_| ())
    }

    /// Checks the configuration and wraps `inner`, with an empty window.
    ///
    /// # Errors
    ///
    /// As [`validate`](MultiStepsConfig::validate).
    pub fn build<A: Float, O: Optimizer<A>>(self, inner: O) -> Result<MultiSteps<A, O>, Error> {
        self.validate()?;
        Ok(MultiSteps {
            inner,
            config: self,
            buffers: None,
            micro_step: 0,
            last_call_stepped: false,
            last: StepOutcome::NotStarted,
            dropped: 0,
            last_grad_norm: None,
            transform: None,
            boundary: None,
            terms: Scratch(Vec::new()),
        })
    }
}

/// A transform of the accumulated gradient, run before each inner step (after the clipping of
/// the configuration): whatever PyTorch users do to `p.grad` between the last `backward` and
/// `optimizer.step()`. An error stops the step and leaves the window as it was.
pub type Transform<A> =
    std::sync::Arc<dyn Fn(&mut dyn TensorListMut<A>) -> Result<(), Error> + Send + Sync>;

/// [`Transform`] with a `Debug` that says what it is.
#[derive(Clone)]
struct UserTransform<A>(Transform<A>);

impl<A> std::fmt::Debug for UserTransform<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transform")
    }
}

/// Gradient accumulation: an optimizer that steps its inner optimizer once every `k` calls, with
/// the mean (or sum) of the gradients of those `k` calls. `k` micro-batches then train exactly
/// like one batch `k` times as large, in the memory of one micro-batch (optax `MultiSteps`,
/// Keras `gradient_accumulation_steps`).
///
/// ```text
/// call t of a window (t = 1 … k), micro-batch gradient gₜ:
///     acc ← gₜ            (t = 1)
///     acc ← acc + gₜ      (t > 1)
/// at t = k:
///     ĝ = acc / k         (AccumulationMode::Mean, the default)   or   ĝ = acc   (Sum)
///     ĝ ← min(max(ĝ, −c), c)                          (only with clip_value = c)
///     ĝ ← ĝ · min(max_grad_norm / (‖ĝ‖ₚ + 1e-6), 1)   (only with max_grad_norm)
///     ĝ ← transform(ĝ)                                (only with set_transform)
///     inner.step(params, ĝ); the next call starts a new window
/// ```
///
/// The clipping and the transform act on the *accumulated* gradient, as a PyTorch loop that
/// calls `clip_grad_norm_` after the last micro-batch's `backward` does (clipping each
/// micro-batch is another recipe and gives other parameters): `tests/reference/parity.rs`
/// compares with such a loop. With `error_if_nonfinite` or a transform, which can fail, the
/// `k`-th gradient is combined into a copy of the window, so that an error leaves the window
/// as it was and the call can be repeated.
///
/// The mean is `(acc + g_k) / k`, one division per element, as Keras computes it. The sum is
/// added in call order, so with micro-batches of one example each, `MultiSteps` gives the
/// inner optimizer exactly the gradient `(s₁ + … + s_k) / k` of the batch of `k` examples summed
/// in order: the same bits (see `tests/suite/accumulate.rs`).
///
/// Made by [`MultiStepsConfig::build`], or [`MultiSteps::new`] for `every_k` alone.
/// `MultiSteps` is itself an [`Optimizer`], so it goes wherever an optimizer goes (boxed, into a
/// scheduler). The hyperparameters are the inner optimizer's: `learning_rate`,
/// `set_learning_rate`, `momentum`, `set_momentum`, `param_groups`, `set_param_groups`,
/// `non_finite_policy`, `set_non_finite_policy` and `name` delegate to it. Counters:
///
/// * [`step_count`](Optimizer::step_count) is the inner optimizer's: real updates, not calls.
/// * [`last_call_stepped`](MultiSteps::last_call_stepped) says whether the last call updated the
///   parameters (the `k`-th call of a window), [`micro_step`](MultiSteps::micro_step) how many
///   micro-batches the current window holds.
/// * [`last_step`](Optimizer::last_step) is the outcome of the last call:
///   [`StepOutcome::Accumulated`] for a call that only added to the window, the inner
///   optimizer's outcome for the `k`-th call, [`StepOutcome::Skipped`] for a dropped one.
/// * [`skipped_steps`](Optimizer::skipped_steps) counts micro-batches dropped under
///   [`NonFinitePolicy::SkipStep`] (plus any step the inner optimizer skipped itself).
///
/// # Non-finite gradients and validation
///
/// Every call checks everything before changing anything: counts, shapes, the tensors the
/// buffers were created for, the inner optimizer's parameter groups and, under the inner
/// optimizer's [`NonFinitePolicy`], that every element of `acc + gₜ` is finite (a NaN or
/// infinite gradient, or finite gradients whose sum overflows). On a non-finite value,
/// `Error` returns [`Error::NonFiniteGradient`] and changes nothing; `SkipStep` drops this
/// micro-batch (buffers and window unchanged, [`last_step`](Optimizer::last_step) is
/// [`StepOutcome::Skipped`]) and returns `Ok`; `Unchecked` lets it through, as PyTorch does.
///
/// On the `k`-th call the inner optimizer's own checks run first too
/// ([`Optimizer::check_step`]; they catch, for example, an inner optimizer that already held
/// state for other tensors when it was wrapped), so whatever it would refuse is refused before
/// the window changes.
///
/// # Memory and allocation
///
/// One buffer per parameter tensor, created on the first call in the parameter's own memory
/// order (so the inner optimizer's fused pass sees one layout). The first call allocates the
/// buffers; the inner optimizer allocates its own state on its first step (the `k`-th call);
/// after that nothing allocates (for tensors of up to four dimensions: ndarray keeps larger
/// shapes on the heap and copies them in its contiguity checks). At the `k`-th call the buffers
/// hold the mean and are handed to the inner optimizer as its gradients: no copy.
///
/// # Example
///
/// ```
/// use ndarray::{array, Array1};
/// use ndarray_optim::{Adam, MultiSteps, Optimizer};
///
/// // Four micro-batches per step.
/// let mut opt = MultiSteps::new(Adam::new(0.1)?, 4)?;
/// let mut w = Array1::<f32>::zeros(2);
/// for micro_batch in 0..8 {
///     let g = array![1.0_f32, -1.0] * (micro_batch as f32 + 1.0);
///     opt.step(&mut w, &g)?;
///     assert_eq!(opt.last_call_stepped(), micro_batch % 4 == 3);
/// }
/// assert_eq!(opt.step_count(), 2); // two real updates
/// assert_eq!(opt.micro_step(), 0); // at a window boundary
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct MultiSteps<A: Float, O: Optimizer<A>> {
    inner: O,
    /// Validated.
    config: MultiStepsConfig,
    /// `acc` per tensor, created on the first call; stale when `micro_step == 0`.
    buffers: Option<Vec<ArrayD<A>>>,
    /// Micro-batches in the current window.
    micro_step: usize,
    last_call_stepped: bool,
    last: StepOutcome,
    /// Micro-batches dropped under `SkipStep`.
    dropped: u64,
    last_grad_norm: Option<f64>,
    transform: Option<UserTransform<A>>,
    /// The accumulated gradient of the `k`-th call when something that can fail acts on it
    /// (a transform, `error_if_nonfinite`): kept apart from the window, so that an error
    /// leaves the window as it was. Working space, made on first use.
    boundary: Option<Vec<ArrayD<A>>>,
    /// Each tensor's term of the clipping norm, for its round.
    terms: Scratch<f64>,
}

/// Names in a saved [`OptimizerState`] (optax's names for the same things).
const ACC_GRADS: &str = "acc_grads";
const KEY_EVERY_K: &str = "multi_steps.every_k";
const KEY_MINI_STEP: &str = "multi_steps.mini_step";
const KEY_DROPPED: &str = "multi_steps.skipped";
const KEY_INNER_TENSORS: &str = "multi_steps.inner_tensors";

impl<A: Float, O: Optimizer<A>> MultiSteps<A, O> {
    /// Wraps `inner` so that it steps once every `every_k` calls, with the mean of the
    /// gradients of those calls: `MultiStepsConfig::default().every_k(every_k).build(inner)`.
    ///
    /// # Errors
    ///
    /// [`InvalidHyperparameter`](Error::InvalidHyperparameter) if `every_k` is 0.
    pub fn new(inner: O, every_k: usize) -> Result<Self, Error> {
        MultiStepsConfig::default().every_k(every_k).build(inner)
    }

    /// The configuration it was built with.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{AccumulationMode, MultiSteps, Sgd};
    ///
    /// let opt = MultiSteps::new(Sgd::<f32>::new(0.1)?, 8)?;
    /// assert_eq!(opt.config().every_k, 8);
    /// assert_eq!(opt.config().mode, AccumulationMode::Mean); // the default
    /// assert_eq!(opt.config().max_grad_norm, None);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn config(&self) -> &MultiStepsConfig {
        &self.config
    }

    /// The number of calls per inner step, `k`.
    pub fn every_k(&self) -> usize {
        self.config.every_k
    }

    /// How the micro-batch gradients are combined.
    pub fn mode(&self) -> AccumulationMode {
        self.config.mode
    }

    /// How many micro-batches the current window holds (`0 ≤ micro_step < k`): the next call
    /// steps the inner optimizer when `micro_step() + 1 == every_k()`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{MultiSteps, Optimizer, Sgd};
    ///
    /// let mut opt = MultiSteps::new(Sgd::new(0.1)?, 3)?;
    /// let mut w = array![1.0_f32];
    /// let mut seen = Vec::new();
    /// for _ in 0..4 {
    ///     opt.step(&mut w, &array![1.0])?;
    ///     seen.push(opt.micro_step());
    /// }
    /// assert_eq!(seen, [1, 2, 0, 1]); // the third call stepped and emptied the window
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn micro_step(&self) -> usize {
        self.micro_step
    }

    /// Whether the last successful call to `step` updated the parameters: `true` after the
    /// `k`-th call of a window when the inner optimizer applied its update; `false` after a call
    /// that only accumulated or dropped its micro-batch. A call that returns an error changes
    /// nothing, this included.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{MultiSteps, Optimizer, Sgd};
    ///
    /// let mut opt = MultiSteps::new(Sgd::new(0.1)?, 2)?;
    /// let mut w = array![1.0_f32];
    /// opt.step(&mut w, &array![1.0])?;
    /// assert!(!opt.last_call_stepped()); // accumulated
    /// opt.step(&mut w, &array![1.0])?;
    /// assert!(opt.last_call_stepped()); // stepped: a scheduler would step now
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn last_call_stepped(&self) -> bool {
        self.last_call_stepped
    }

    /// Sets (or with `None` removes) a transform of the accumulated gradient, run before each
    /// inner step after the configuration's clipping: anything a PyTorch loop does to `p.grad`
    /// between the last `backward` and `optimizer.step()`. It works on a copy of the window
    /// (one more gradient's worth of memory, made on first use), so that an error it returns
    /// stops the step and leaves everything as it was.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ndarray::array;
    /// use ndarray_optim::{Error, MultiSteps, Optimizer, Sgd, TensorListMut};
    ///
    /// let mut opt = MultiSteps::new(Sgd::new(1.0)?, 2)?;
    /// // Halve the accumulated gradient, and refuse it if it is all zeros.
    /// opt.set_transform(Some(Arc::new(|g: &mut dyn TensorListMut<f64>| {
    ///     let t = g.tensor_mut(0).expect("one tensor");
    ///     let mut view = t.view_dyn_mut();
    ///     if view.iter().all(|&x| x == 0.0) {
    ///         return Err(Error::Unsupported { optimizer: "demo", what: "an all-zero gradient" });
    ///     }
    ///     view.mapv_inplace(|x| x / 2.0);
    ///     Ok(())
    /// })));
    /// let mut w = array![0.0_f64];
    /// opt.step(&mut w, &array![1.0])?;
    /// opt.step(&mut w, &array![3.0])?; // mean 2, halved: 1
    /// assert_eq!(w[0], -1.0);
    /// opt.step(&mut w, &array![0.0])?;
    /// assert!(opt.step(&mut w, &array![0.0]).is_err()); // refused: the window stays
    /// assert_eq!((w[0], opt.micro_step()), (-1.0, 1));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn set_transform(&mut self, transform: Option<Transform<A>>) {
        self.transform = transform.map(UserTransform);
    }

    /// The global norm of the accumulated gradient before clipping, at the last inner step,
    /// when [`max_grad_norm`](MultiStepsConfig::max_grad_norm) is set.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{MultiStepsConfig, Optimizer, Sgd};
    ///
    /// let config = MultiStepsConfig::default().every_k(2).max_grad_norm(Some(10.0));
    /// let mut opt = config.build(Sgd::new(0.1)?)?;
    /// let mut w = array![0.0_f64, 0.0];
    /// opt.step(&mut w, &array![3.0, 0.0])?;
    /// assert_eq!(opt.last_grad_norm(), None); // no inner step yet
    /// opt.step(&mut w, &array![3.0, 8.0])?; // mean (3, 4)
    /// assert_eq!(opt.last_grad_norm(), Some(5.0)); // below 10: not clipped
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn last_grad_norm(&self) -> Option<f64> {
        self.last_grad_norm
    }

    /// The inner optimizer.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adam, MultiSteps};
    /// let opt = MultiSteps::new(Adam::<f32>::new(1e-3)?, 4)?;
    /// assert_eq!(opt.inner().config().betas, (0.9, 0.999));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn inner(&self) -> &O {
        &self.inner
    }

    /// The inner optimizer, writable (stepping it directly bypasses the accumulation).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{MultiSteps, NonFinitePolicy, Optimizer, Sgd};
    /// let mut opt = MultiSteps::new(Sgd::<f32>::new(0.1)?, 4)?;
    /// opt.inner_mut().set_non_finite_policy(NonFinitePolicy::SkipStep);
    /// assert_eq!(opt.non_finite_policy(), NonFinitePolicy::SkipStep); // the policy is the inner one's
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn inner_mut(&mut self) -> &mut O {
        &mut self.inner
    }

    /// The inner optimizer, unwrapped; a partly accumulated window is dropped.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{MultiSteps, Optimizer, Sgd};
    ///
    /// let mut opt = MultiSteps::new(Sgd::new(0.1)?, 2)?;
    /// let mut w = array![1.0_f32];
    /// for _ in 0..3 {
    ///     opt.step(&mut w, &array![1.0])?; // the third call only accumulates
    /// }
    /// let sgd: Sgd<f32> = opt.into_inner(); // that micro-batch is dropped
    /// assert_eq!(sgd.step_count(), 1);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn into_inner(self) -> O {
        self.inner
    }

    /// Every check `step` makes, before anything changes. `Ok(Some(outcome))` means: drop this
    /// micro-batch.
    fn validate(
        &self,
        params: &dyn TensorList<A>,
        grads: &dyn TensorList<A>,
        policy: NonFinitePolicy,
    ) -> Result<Option<StepOutcome>, Error> {
        let n = self.check_structure(params, grads)?;
        match self.first_non_finite(grads, n, policy)? {
            Some(found) => policy.on_non_finite(found.index, found.element, found.value),
            None => Ok(None),
        }
    }

    /// The checks of [`validate`](Self::validate) that do not look at the gradients' values:
    /// counts, shapes, the inner optimizer's groups, the tensors the buffers were made for.
    /// Returns the number of tensors.
    fn check_structure(
        &self,
        params: &dyn TensorList<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<usize, Error> {
        let n = check::read_inputs(params, grads)?;
        if let Some(groups) = self.inner.param_groups()
            && groups.assignment().len() != n
        {
            return Err(Error::GroupLengthMismatch {
                assigned: groups.assignment().len(),
                found: n,
            });
        }
        if let Some(buffers) = &self.buffers
            && buffers.len() != n
        {
            return Err(Error::StateLengthMismatch {
                expected: buffers.len(),
                found: n,
            });
        }
        for index in 0..n {
            let shape = params.tensor(index).map_or(&[][..], |p| p.shape());
            if let Some(buffer) = self.buffers.as_ref().and_then(|b| b.get(index))
                && buffer.shape() != shape
            {
                return Err(Error::StateShapeMismatch {
                    index,
                    expected: buffer.shape().to_vec(),
                    found: shape.to_vec(),
                });
            }
        }
        Ok(n)
    }

    /// The first element where `acc + gₜ` (or `gₜ` at the start of a window) is not finite,
    /// unless the policy is `Unchecked`.
    fn first_non_finite(
        &self,
        grads: &dyn TensorList<A>,
        n: usize,
        policy: NonFinitePolicy,
    ) -> Result<Option<NonFiniteAt>, Error> {
        if policy == NonFinitePolicy::Unchecked {
            return Ok(None);
        }
        for index in 0..n {
            let g = grads.tensor(index).ok_or(Error::LengthMismatch {
                params: n,
                grads: index,
            })?;
            let found = match (&self.buffers, self.micro_step) {
                (Some(buffers), 1..) => buffers
                    .get(index)
                    .and_then(|buffer| first_non_finite_sum(buffer, g)),
                _ => pass::first_non_finite(g),
            };
            if let Some((element, value)) = found {
                return Ok(Some(NonFiniteAt {
                    index,
                    element,
                    value: value.widen(),
                }));
            }
        }
        Ok(None)
    }

    /// Every check of a call this process can make on its own, for the call's first round:
    /// the structure, the lists' writability, the first non-finite value and, on the `k`-th
    /// call (when the values are finite), the inner optimizer's own checks, so that whatever it
    /// would refuse is refused before the window changes.
    fn local_checks(
        &self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
        policy: NonFinitePolicy,
        boundary: bool,
    ) -> Result<Option<NonFiniteAt>, Error> {
        let n = self.check_structure(&*params, grads)?;
        check::step_inputs(params, grads)?;
        let found = self.first_non_finite(grads, n, policy)?;
        if boundary && found.is_none() {
            self.inner.check_step(&*params, grads)?;
        }
        Ok(found)
    }

    /// One zeroed buffer per parameter, each in its parameter's memory order.
    fn new_buffers(params: &dyn TensorList<A>) -> Vec<ArrayD<A>> {
        (0..params.len())
            .filter_map(|index| params.tensor(index))
            .map(|p| {
                let shape = p.shape();
                let strides = pass::state_strides(shape, p.strides());
                let len = shape.iter().product();
                ArrayD::from_shape_vec(IxDyn(shape).strides(IxDyn(&strides)), vec![A::zero(); len])
                    .unwrap_or_else(|_| ArrayD::zeros(IxDyn(shape)))
            })
            .collect()
    }
}

impl<A: Float, O: Optimizer<A>> Optimizer<A> for MultiSteps<A, O> {
    forward_to_inner!(
        inner:
        learning_rate,
        set_learning_rate,
        momentum,
        set_momentum,
        group_count,
        group_learning_rate,
        set_group_learning_rate,
        group_momentum,
        set_group_momentum,
        non_finite_policy,
        set_non_finite_policy,
        name,
        param_groups,
        stochastic_rounding,
        set_stochastic_rounding
    );

    fn check_step(
        &self,
        params: &dyn TensorList<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<(), Error> {
        self.validate(params, grads, self.inner.non_finite_policy())?;
        if self.micro_step + 1 == self.config.every_k {
            self.inner.check_step(params, grads)?;
        }
        Ok(())
    }

    /// Adds `grads` to the window; on the `k`-th call of a window steps the inner optimizer with
    /// their mean (or sum). See [`MultiSteps`].
    ///
    /// # Errors
    ///
    /// As [`Optimizer::step`], checked before anything changes (with [`Error::StateLengthMismatch`]
    /// and [`Error::StateShapeMismatch`] for the accumulation buffers, and
    /// [`Error::NonFiniteGradient`] also for finite gradients whose running sum overflows), plus
    /// on the `k`-th call any error of the inner optimizer's `step` (see [`MultiSteps`]).
    fn step(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<(), Error> {
        self.step_reduced(params, grads, &mut Local)
    }

    /// [`step`](Optimizer::step) over part of a model: the first round carries the call's
    /// checks and its first non-finite value, the clipping norm (on the `k`-th call) is a
    /// round of the norm's terms, a transform's outcome is a round of its own, and the inner
    /// optimizer steps through the same rounds.
    fn step_reduced(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
        reduce: &mut dyn Reduce,
    ) -> Result<(), Error> {
        let policy = self.inner.non_finite_policy();
        let fresh = self.micro_step == 0;
        let boundary = self.micro_step + 1 == self.config.every_k;
        let local = self.local_checks(params, grads, policy, boundary);
        let agreed = reduce.exchange(local.map(|found| Contribution {
            non_finite: found,
            ..Contribution::none()
        }))?;
        if let Some(NonFiniteAt {
            index,
            element,
            value,
        }) = agreed.non_finite
            && let Some(skipped) = policy.on_non_finite(index, element, value)?
        {
            self.last_call_stepped = false;
            self.last = skipped;
            self.dropped = self.dropped.saturating_add(1);
            return Ok(());
        }
        self.last_call_stepped = false;
        if self.buffers.is_none() {
            self.buffers = Some(Self::new_buffers(&*params));
        }
        let k = A::from_f64(self.config.every_k as f64);
        let divide = boundary && self.config.mode == AccumulationMode::Mean;
        // What acts on the accumulated gradient and can fail works on a copy, apart from the
        // window, so that an error changes nothing.
        let apart = boundary && (self.transform.is_some() || self.config.error_if_nonfinite);
        if apart && self.boundary.is_none() {
            self.boundary = self.buffers.clone();
        }
        let combine = |out: &mut ArrayD<A>, g: &dyn Tensor<A>| match (fresh, divide) {
            (true, false) => fold(out, g, |acc, g| *acc = g),
            (true, true) => fold(out, g, |acc, g| *acc = g / k),
            (false, false) => fold(out, g, |acc, g| *acc = *acc + g),
            (false, true) => fold(out, g, |acc, g| *acc = (*acc + g) / k),
        };
        match (apart, &mut self.boundary, &mut self.buffers) {
            (true, Some(spare), Some(window)) => {
                for (index, (out, acc)) in spare.iter_mut().zip(window.iter()).enumerate() {
                    if let Some(g) = grads.tensor(index) {
                        out.assign(acc); // out ← combine(acc, g), the window unchanged
                        combine(out, g);
                    }
                }
            }
            (_, _, Some(window)) => {
                for (index, acc) in window.iter_mut().enumerate() {
                    if let Some(g) = grads.tensor(index) {
                        combine(acc, g);
                    }
                }
            }
            _ => unreachable!("made above"),
        }
        if !boundary {
            self.micro_step += 1;
            self.last = StepOutcome::Accumulated {
                micro_step: self.micro_step,
                every_k: self.config.every_k,
            };
            return Ok(());
        }
        let gradient = match (apart, self.boundary.as_mut(), self.buffers.as_mut()) {
            (true, Some(spare), _) => spare,
            (_, _, Some(window)) => window,
            _ => unreachable!("made above"),
        };
        if !apart {
            self.micro_step = 0; // the window was combined in place: it is consumed
        }
        if let Some(c) = self.config.clip_value {
            clip::clip_grad_value(&mut *gradient, c)?;
        }
        let norm = match self.config.max_grad_norm {
            Some(max_norm) => Some(clip::clip_grad_norm_reduced(
                &mut *gradient,
                max_norm,
                self.config.norm_type,
                self.config.error_if_nonfinite,
                reduce,
                &mut self.terms.0,
            )?),
            None => None,
        };
        if let Some(UserTransform(transform)) = &self.transform {
            // The transform decides on this rank's tensors: every rank goes on only if all did.
            let outcome = transform(&mut *gradient);
            reduce.exchange(outcome.map(|()| Contribution::none()))?;
        }
        // Past the checks: the window is consumed.
        self.inner.step_reduced(params, &*gradient, reduce)?;
        self.micro_step = 0;
        self.last_grad_norm = norm.or(self.last_grad_norm);
        self.last = self.inner.last_step().clone();
        self.last_call_stepped = self.last == StepOutcome::Applied;
        Ok(())
    }

    /// Sets the inner optimizer's groups; refused when they assign another number of tensors
    /// than the window being accumulated holds.
    fn set_param_groups(&mut self, groups: Option<ParamGroups>) -> Result<(), Error> {
        if let (Some(groups), Some(buffers)) = (&groups, &self.buffers)
            && groups.assignment().len() != buffers.len()
        {
            return Err(Error::GroupLengthMismatch {
                assigned: groups.assignment().len(),
                found: buffers.len(),
            });
        }
        self.inner.set_param_groups(groups)
    }

    /// Adds a group to the inner optimizer, between windows only: a window being accumulated
    /// holds gradients for the tensors it started with.
    fn add_param_group(&mut self, group: ParamGroup, tensors: usize) -> Result<usize, Error> {
        if self.micro_step > 0 {
            return Err(Error::Unsupported {
                optimizer: self.inner.name(),
                what: "adding parameter groups in the middle of an accumulation window",
            });
        }
        let index = self.inner.add_param_group(group, tensors)?;
        self.buffers = None; // made again, for every tensor, on the next call
        Ok(index)
    }

    /// The inner optimizer's step count: real updates, one per `k` calls.
    fn step_count(&self) -> u64 {
        self.inner.step_count()
    }

    /// The outcome of the last call: [`StepOutcome::Accumulated`] when it only added to the
    /// window (see also [`MultiSteps::last_call_stepped`]).
    fn last_step(&self) -> &StepOutcome {
        &self.last
    }

    /// Micro-batches dropped under [`NonFinitePolicy::SkipStep`], plus steps the inner
    /// optimizer skipped itself.
    fn skipped_steps(&self) -> u64 {
        self.dropped.saturating_add(self.inner.skipped_steps())
    }

    /// Resets the inner optimizer and drops the buffers and the current window.
    fn reset_state(&mut self) {
        self.inner.reset_state();
        self.buffers = None;
        self.micro_step = 0;
        self.last_call_stepped = false;
        self.last = StepOutcome::NotStarted;
        self.dropped = 0;
        self.last_grad_norm = None;
    }

    /// The inner optimizer's state, with the window: counters in
    /// [`extra`](OptimizerState::extra) (`multi_steps.every_k`, `multi_steps.mini_step`,
    /// `multi_steps.skipped`, `multi_steps.inner_tensors`) and, mid-window, each tensor's
    /// running sum as the buffer `acc_grads` (optax's names).
    fn save_state(&self) -> OptimizerState<A> {
        let mut state = self.inner.save_state();
        let buffers = match &self.buffers {
            Some(buffers) if self.micro_step > 0 => &buffers[..],
            _ => &[],
        };
        let inner_tensors = super::put_buffers(&mut state, ACC_GRADS, buffers.iter());
        for (key, value) in [
            (KEY_EVERY_K, self.config.every_k as u64),
            (KEY_MINI_STEP, self.micro_step as u64),
            (KEY_DROPPED, self.dropped),
            (KEY_INNER_TENSORS, inner_tensors as u64),
        ] {
            state.extra.insert(key.to_string(), value);
        }
        state
    }

    /// Loads a state saved by [`save_state`](Optimizer::save_state) of a `MultiSteps` with the
    /// same `every_k`, or a plain state of the inner optimizer (the window then starts empty).
    /// Everything is checked before anything changes.
    ///
    /// # Errors
    ///
    /// [`InvalidState`](Error::InvalidState) for a different `every_k`, an inconsistent window
    /// or misshapen `acc_grads`; any error of the inner optimizer's `load_state`.
    fn load_state(&mut self, mut state: OptimizerState<A>) -> Result<(), Error> {
        let mut counter = |key: &str| state.extra.remove(key);
        let (every_k_saved, mini_step, dropped, inner_tensors) = (
            counter(KEY_EVERY_K),
            counter(KEY_MINI_STEP).unwrap_or(0),
            counter(KEY_DROPPED).unwrap_or(0),
            counter(KEY_INNER_TENSORS),
        );
        let invalid = |reason: String| Error::InvalidState {
            tensor: None,
            reason,
        };
        let every_k = self.config.every_k;
        if let Some(saved) = every_k_saved
            && saved != every_k as u64
        {
            return Err(invalid(format!(
                "saved with every_k = {saved}, loaded into every_k = {every_k}"
            )));
        }
        if mini_step >= every_k as u64 {
            return Err(invalid(format!(
                "mini_step {mini_step} is not below every_k = {every_k}"
            )));
        }
        // Mid-window the sum so far of every tensor; outside a window nothing.
        let expect = if mini_step > 0 {
            super::Expect::All
        } else {
            super::Expect::None
        };
        let context = format!(" (mini_step {mini_step})");
        let buffers = super::take_buffers(&mut state, ACC_GRADS, inner_tensors, expect, &context)?;
        self.inner.load_state(state)?;
        self.buffers = (mini_step > 0).then_some(buffers);
        self.micro_step = mini_step as usize;
        self.dropped = dropped;
        self.last_call_stepped = false;
        self.last = StepOutcome::NotStarted;
        self.last_grad_norm = None;
        Ok(())
    }

    fn clone_box(&self) -> Box<dyn Optimizer<A>> {
        Box::new(MultiSteps {
            inner: self.inner.clone_box(),
            config: self.config.clone(),
            buffers: self.buffers.clone(),
            micro_step: self.micro_step,
            last_call_stepped: self.last_call_stepped,
            last: self.last.clone(),
            dropped: self.dropped,
            last_grad_norm: self.last_grad_norm,
            transform: self.transform.clone(),
            boundary: None,
            terms: Scratch(Vec::new()),
        })
    }
}

/// `f(acc, g)` for every element; one linear loop when the buffer and the gradient share a
/// contiguous memory order.
fn fold<A: Float>(buffer: &mut ArrayD<A>, g: &dyn Tensor<A>, f: impl Fn(&mut A, A)) {
    if same_order(buffer.shape(), buffer.strides(), g.strides())
        && let (Some(acc), Some(g)) = (
            buffer.as_slice_memory_order_mut(),
            g.as_slice_memory_order(),
        )
    {
        for (acc, &g) in acc.iter_mut().zip(g) {
            f(acc, g);
        }
        return;
    }
    Zip::from(buffer)
        .and(&g.view_dyn())
        .for_each(|acc, &g| f(acc, g));
}

/// The first element (row-major) where `acc + g` is not finite, and that sum.
fn first_non_finite_sum<A: Float>(
    buffer: &ArrayD<A>,
    g: &dyn Tensor<A>,
) -> Option<(Vec<usize>, A)> {
    let all_finite = match (
        same_order(buffer.shape(), buffer.strides(), g.strides()),
        buffer.as_slice_memory_order(),
        g.as_slice_memory_order(),
    ) {
        // Chunks without early exit inside, so that the check vectorises.
        (true, Some(acc), Some(g)) => acc.chunks(1024).zip(g.chunks(1024)).all(|(a, g)| {
            a.iter()
                .zip(g)
                .fold(true, |ok, (&a, &g)| ok & (a + g).is_finite())
        }),
        _ => Zip::from(buffer)
            .and(&g.view_dyn())
            .fold(true, |ok, &a, &g| ok & (a + g).is_finite()),
    };
    if all_finite {
        return None;
    }
    let g_view = g.view_dyn();
    buffer
        .indexed_iter()
        .zip(g_view.iter())
        .map(|((index, &a), &g)| (index, a + g))
        .find(|(_, sum)| !sum.is_finite())
        .map(|(index, sum)| (index.slice().to_vec(), sum))
}

/// Whether two tensors of `shape` with these strides visit their elements in the same memory
/// order (axes of length 0 or 1 never move).
fn same_order(shape: &[usize], a: &[isize], b: &[isize]) -> bool {
    shape
        .iter()
        .zip(a.iter().zip(b))
        .all(|(&len, (&a, &b))| len <= 1 || (a == b && a > 0))
}
