//! Lookahead: [`Lookahead`] wraps an optimizer, keeps a slow copy of the parameters and every
//! `k` steps pulls it towards the fast ones and restarts the fast ones from it.

use ndarray::{ArrayD, IxDyn, ShapeBuilder, Zip};

use crate::builder::config;
use crate::check;
use crate::distributed::{Local, Reduce};
use crate::error::Error;
use crate::float::Float;
use crate::groups::ParamGroup;
use crate::optimizer::{Optimizer, StepOutcome};
use crate::pass;
use crate::state::OptimizerState;
use crate::tensor::{Tensor, TensorList, TensorListMut, TensorMut};
use num_traits::Float as _;

config! {
    /// The configuration of a [`Lookahead`]: timm's `Lookahead(base_optimizer, alpha, k)`, with
    /// its defaults; made into a `Lookahead` around an optimizer by
    /// [`build`](LookaheadConfig::build).
    ///
    /// | field | default | valid | optax |
    /// |---|---|---|---|
    /// | `k` | `6` (the paper's `5` or `10` also common) | `≥ 1` | `sync_period` |
    /// | `alpha` | `0.5` | `[0, 1]` | `slow_step_size` |
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Error, LookaheadConfig, Sgd};
    ///
    /// let opt = LookaheadConfig::default().k(5).alpha(0.8).build(Sgd::<f32>::new(0.1)?)?;
    /// assert_eq!(opt.config().k, 5);
    /// assert!(matches!(
    ///     LookaheadConfig::default().alpha(1.5).build(Sgd::<f32>::new(0.1)?),
    ///     Err(Error::InvalidHyperparameter { name: "alpha", .. })
    /// ));
    /// # Ok::<(), Error>(())
    /// ```
    pub struct LookaheadConfig {
        /// The number of steps of the inner ("fast") optimizer between two synchronisations.
        k: usize = 6,
        /// The slow weights' step towards the fast ones at each synchronisation.
        alpha: f64 = 0.5,
    }
}

impl LookaheadConfig {
    /// Checks every field against its range (see the table above).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] naming the first value outside its range.
    pub fn validate(&self) -> Result<(), Error> {
        if self.k == 0 {
            return Err(Error::InvalidHyperparameter {
                name: "k",
                value: 0.0,
                requirement: "must be >= 1",
            });
        }
        check::unit("alpha", self.alpha)
    }

    /// Checks the configuration and wraps `inner`; the slow weights are taken from the
    /// parameters on the first step.
    ///
    /// # Errors
    ///
    /// As [`validate`](LookaheadConfig::validate).
    pub fn build<A: Float, O: Optimizer<A>>(self, inner: O) -> Result<Lookahead<A, O>, Error> {
        self.validate()?;
        Ok(Lookahead {
            inner,
            config: self,
            slow: Vec::new(),
            steps: 0,
        })
    }
}

/// Lookahead (Zhang et al., 2019, "Lookahead Optimizer: k steps forward, 1 step back"), as
/// timm's `Lookahead` and optax's `lookahead` compute it: any optimizer (the "fast" one) steps
/// the parameters as usual, and every `k` of its steps a slow copy `φ` of the parameters moves
/// a fraction `α` of the way towards them, and the parameters restart from it:
///
/// ```text
/// φ ← θ                                    on the first step, before it
/// θ ← inner step(θ, g)                     every step
/// every k-th step:  φ ← φ + α·(θ − φ),  θ ← φ
/// ```
///
/// The slow weights average out the fast optimizer's oscillations, which makes training less
/// sensitive to its learning rate and, in the paper's experiments, a little better at the end.
/// `φ + α·(θ − φ)` is PyTorch's `slow.add_(fast - slow, alpha=α)`: the difference rounded,
/// then one fused multiply-add. The count is of the steps the inner optimizer applied (a step
/// it skipped under [`NonFinitePolicy::SkipStep`](crate::NonFinitePolicy::SkipStep) does not count), and every tensor is
/// synchronised, with a gradient at that step or not.
///
/// Two differences from timm, both to follow the paper and optax: the slow weights start as the
/// parameters before the first step (timm copies them from the fast weights at the first
/// synchronisation, which makes that one a no-op), and tensors without a gradient at a
/// synchronisation are synchronised too (timm leaves them).
///
/// The learning rate, momentum, groups, step count and policy are the inner optimizer's; the
/// state is the inner one's with, per tensor, the slow weights as the buffer
/// `lookahead_slow_buff` (timm's name) and the count in [`extra`](OptimizerState::extra)
/// (`lookahead.step`).
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::{Lookahead, Optimizer, Sgd};
///
/// let mut opt = Lookahead::new(Sgd::new(1.0)?, 2, 0.5)?;
/// let mut w = array![0.0_f64];
/// opt.step(&mut w, &array![-1.0])?; // θ = 1
/// opt.step(&mut w, &array![-1.0])?; // θ = 2, then φ = 0 + 0.5·(2 − 0) = 1 and θ = φ
/// assert_eq!(w, array![1.0]);
/// assert_eq!(opt.slow_weights()[0], array![1.0].into_dyn());
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Lookahead<A: Float, O: Optimizer<A>> {
    inner: O,
    /// Validated.
    config: LookaheadConfig,
    /// `φ` per tensor, in its parameter's memory order; empty before the first step.
    slow: Vec<ArrayD<A>>,
    /// Steps the inner optimizer applied (timm's `lookahead_step`).
    steps: u64,
}

/// Names in a saved [`OptimizerState`].
const SLOW: &str = "lookahead_slow_buff";
const KEY_STEP: &str = "lookahead.step";
const KEY_K: &str = "lookahead.k";
const KEY_INNER_TENSORS: &str = "lookahead.inner_tensors";

impl<A: Float, O: Optimizer<A>> Lookahead<A, O> {
    /// Wraps `inner`: `LookaheadConfig::default().k(k).alpha(alpha).build(inner)`.
    ///
    /// # Errors
    ///
    /// [`InvalidHyperparameter`](Error::InvalidHyperparameter) if `k` is 0 or `alpha` is
    /// outside `[0, 1]`.
    pub fn new(inner: O, k: usize, alpha: f64) -> Result<Self, Error> {
        LookaheadConfig::default().k(k).alpha(alpha).build(inner)
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &LookaheadConfig {
        &self.config
    }

    /// The slow weights `φ`, one array per tensor (empty before the first step).
    pub fn slow_weights(&self) -> &[ArrayD<A>] {
        &self.slow
    }

    /// The steps the inner optimizer applied; a synchronisation follows every `k`-th.
    pub fn lookahead_step(&self) -> u64 {
        self.steps
    }

    /// The inner optimizer.
    pub fn inner(&self) -> &O {
        &self.inner
    }

    /// The inner optimizer, writable (stepping it directly bypasses the count).
    pub fn inner_mut(&mut self) -> &mut O {
        &mut self.inner
    }

    /// The inner optimizer, unwrapped; the slow weights are dropped.
    pub fn into_inner(self) -> O {
        self.inner
    }

    /// Every check of the slow weights against the parameters, before anything changes.
    fn validate(&self, params: &dyn TensorList<A>) -> Result<(), Error> {
        let n = params.len();
        if self.slow.len() > n {
            return Err(Error::StateLengthMismatch {
                expected: self.slow.len(),
                found: n,
            });
        }
        for (index, slow) in self.slow.iter().enumerate() {
            let shape = params.tensor(index).map_or(&[][..], |p| p.shape());
            if slow.shape() != shape {
                return Err(Error::StateShapeMismatch {
                    index,
                    expected: slow.shape().to_vec(),
                    found: shape.to_vec(),
                });
            }
        }
        Ok(())
    }
}

/// A copy of `p` in its memory order.
fn copy_of<A: Float>(p: &dyn Tensor<A>) -> ArrayD<A> {
    let shape = p.shape();
    let strides = pass::state_strides(shape, p.strides());
    let view = p.view_dyn();
    let mut out = ArrayD::from_shape_vec(
        IxDyn(shape).strides(IxDyn(&strides)),
        vec![A::zero(); shape.iter().product()],
    )
    .unwrap_or_else(|_| ArrayD::zeros(IxDyn(shape)));
    out.assign(&view);
    out
}

/// `φ ← φ + α·(θ − φ)`, `θ ← φ`, element by element, in the type of the arithmetic
/// ([`Float::Compute`]: the identity for `f32` and `f64`) and stored rounded.
fn synchronise<A: Float>(slow: &mut ArrayD<A>, fast: &mut dyn TensorMut<A>, alpha: A::Compute) {
    let sync = |s: &mut A, f: &mut A| {
        let (slow, fast) = (s.to_compute(), f.to_compute());
        *s = A::from_compute((fast - slow).mul_add(alpha, slow));
        *f = *s;
    };
    // The same strides: both memory orders visit the elements alike.
    if slow.strides() == fast.strides()
        && let (Some(s), Some(f)) = (
            slow.as_slice_memory_order_mut(),
            fast.as_slice_memory_order_mut(),
        )
    {
        for (s, f) in s.iter_mut().zip(f.iter_mut()) {
            sync(s, f);
        }
        return;
    }
    Zip::from(slow).and(&mut fast.view_dyn_mut()).for_each(sync);
}

impl<A: Float, O: Optimizer<A>> Optimizer<A> for Lookahead<A, O> {
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
        set_param_groups,
        step_count,
        last_step,
        skipped_steps,
        stochastic_rounding,
        set_stochastic_rounding
    );

    fn check_step(
        &self,
        params: &dyn TensorList<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<(), Error> {
        check::read_inputs(params, grads)?;
        self.validate(params)?;
        self.inner.check_step(params, grads)
    }

    /// Steps the inner optimizer; after every `k`-th step it applied, synchronises. See
    /// [`Lookahead`].
    ///
    /// # Errors
    ///
    /// As [`Optimizer::step`] of the inner optimizer, and [`Error::StateLengthMismatch`] or
    /// [`Error::StateShapeMismatch`] for parameters that do not match the slow weights; checked
    /// before anything changes.
    fn step(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<(), Error> {
        self.step_reduced(params, grads, &mut Local)
    }

    /// [`step`](Optimizer::step) over part of a model (see [`Reduce`]): the inner optimizer's
    /// step goes through `reduce`, and the slow weights are those of the tensors in `params`.
    fn step_reduced(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
        reduce: &mut dyn Reduce,
    ) -> Result<(), Error> {
        let checks = check::read_inputs(&*params, grads).and_then(|n| {
            self.validate(&*params)?;
            Ok(n)
        });
        let n = super::checked_before_rounds(reduce, checks)?;
        // Tensors seen for the first time (all of them on the first step, a group's when one
        // was added): their slow weights are the parameters before this step, kept only if the
        // step succeeds.
        let new: Vec<ArrayD<A>> = (self.slow.len()..n)
            .filter_map(|index| params.tensor(index).map(copy_of))
            .collect();
        self.inner.step_reduced(params, grads, reduce)?;
        self.slow.extend(new);
        if *self.inner.last_step() != StepOutcome::Applied {
            return Ok(());
        }
        self.steps += 1;
        if self.steps.is_multiple_of(self.config.k as u64) {
            let alpha = A::Compute::from_f64(self.config.alpha);
            for (index, slow) in self.slow.iter_mut().enumerate() {
                if let Some(fast) = params.tensor_mut(index) {
                    synchronise(slow, fast, alpha);
                }
            }
        }
        Ok(())
    }

    /// Adds a group to the inner optimizer; the slow weights of its tensors are taken from the
    /// parameters on the next step.
    fn add_param_group(&mut self, group: ParamGroup, tensors: usize) -> Result<usize, Error> {
        self.inner.add_param_group(group, tensors)
    }

    /// Resets the inner optimizer and drops the slow weights (taken again on the next step).
    fn reset_state(&mut self) {
        self.inner.reset_state();
        self.slow.clear();
        self.steps = 0;
    }

    /// The inner optimizer's state with the slow weights: each tensor's `lookahead_slow_buff`
    /// (beside the inner buffers, or in entries of their own after the inner optimizer's when it
    /// keeps another number of tensors), `lookahead.step`, `lookahead.k` and
    /// `lookahead.inner_tensors` in [`extra`](OptimizerState::extra).
    fn save_state(&self) -> OptimizerState<A> {
        let mut state = self.inner.save_state();
        let inner_tensors = super::put_buffers(&mut state, SLOW, self.slow.iter());
        for (key, value) in [
            (KEY_STEP, self.steps),
            (KEY_K, self.config.k as u64),
            (KEY_INNER_TENSORS, inner_tensors as u64),
        ] {
            state.extra.insert(key.to_string(), value);
        }
        state
    }

    /// Loads a state saved by [`save_state`](Optimizer::save_state) of a `Lookahead`, or a
    /// plain state of the inner optimizer (the slow weights are then taken on the next step).
    /// Everything is checked before anything changes.
    ///
    /// # Errors
    ///
    /// [`InvalidState`](Error::InvalidState) for misshapen or missing slow weights or
    /// inconsistent counters; any error of the inner optimizer's `load_state`.
    fn load_state(&mut self, mut state: OptimizerState<A>) -> Result<(), Error> {
        let steps = state.extra.remove(KEY_STEP).unwrap_or(0);
        let saved_k = state.extra.remove(KEY_K);
        let inner_tensors = state.extra.remove(KEY_INNER_TENSORS);
        let _ = saved_k; // a different `k` is a choice of the user's: the count carries over
        // Saved before the first step: no slow weights yet.
        let slow = super::take_buffers(
            &mut state,
            SLOW,
            inner_tensors,
            super::Expect::AllOrNone,
            "",
        )?;
        self.inner.load_state(state)?;
        self.slow = slow;
        self.steps = steps;
        Ok(())
    }

    fn clone_box(&self) -> Box<dyn Optimizer<A>> {
        Box::new(Lookahead {
            inner: self.inner.clone_box(),
            config: self.config.clone(),
            slow: self.slow.clone(),
            steps: self.steps,
        })
    }
}
