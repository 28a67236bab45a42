//! Wrappers: optimizers that hold another optimizer and change when or how it steps.
//!
//! A wrapper implements [`Optimizer`](crate::Optimizer) itself, checks its own inputs with the
//! same shared checks as the driver (`crate::check`), asks the inner optimizer's
//! [`check_step`](crate::Optimizer::check_step) before it changes anything, and saves its own
//! state beside the inner one in the same [`OptimizerState`](crate::OptimizerState).

/// Implements, in an `impl Optimizer for` a wrapper, the methods it passes unchanged to the
/// optimizer in its field `$inner`: `forward_to_inner!(inner: learning_rate, set_momentum, …)`.
/// The signatures live here once; each wrapper lists what it forwards and writes the rest.
macro_rules! forward_to_inner {
    ($inner:ident: $($method:ident),+ $(,)?) => {
        $(forward_to_inner!(@ $inner $method);)+
    };
    (@ $i:ident learning_rate) => {
        fn learning_rate(&self) -> f64 {
            self.$i.learning_rate()
        }
    };
    (@ $i:ident set_learning_rate) => {
        fn set_learning_rate(&mut self, lr: f64) -> Result<(), $crate::Error> {
            self.$i.set_learning_rate(lr)
        }
    };
    (@ $i:ident momentum) => {
        fn momentum(&self) -> Option<f64> {
            self.$i.momentum()
        }
    };
    (@ $i:ident set_momentum) => {
        fn set_momentum(&mut self, momentum: f64) -> Result<(), $crate::Error> {
            self.$i.set_momentum(momentum)
        }
    };
    (@ $i:ident param_groups) => {
        fn param_groups(&self) -> Option<&$crate::ParamGroups> {
            self.$i.param_groups()
        }
    };
    (@ $i:ident set_param_groups) => {
        fn set_param_groups(
            &mut self,
            groups: Option<$crate::ParamGroups>,
        ) -> Result<(), $crate::Error> {
            self.$i.set_param_groups(groups)
        }
    };
    (@ $i:ident group_count) => {
        fn group_count(&self) -> usize {
            self.$i.group_count()
        }
    };
    (@ $i:ident group_learning_rate) => {
        fn group_learning_rate(&self, group: usize) -> Option<f64> {
            self.$i.group_learning_rate(group)
        }
    };
    (@ $i:ident set_group_learning_rate) => {
        fn set_group_learning_rate(&mut self, group: usize, lr: f64) -> Result<(), $crate::Error> {
            self.$i.set_group_learning_rate(group, lr)
        }
    };
    (@ $i:ident group_momentum) => {
        fn group_momentum(&self, group: usize) -> Option<f64> {
            self.$i.group_momentum(group)
        }
    };
    (@ $i:ident set_group_momentum) => {
        fn set_group_momentum(
            &mut self,
            group: usize,
            momentum: f64,
        ) -> Result<(), $crate::Error> {
            self.$i.set_group_momentum(group, momentum)
        }
    };
    (@ $i:ident add_param_group) => {
        fn add_param_group(
            &mut self,
            group: $crate::ParamGroup,
            tensors: usize,
        ) -> Result<usize, $crate::Error> {
            self.$i.add_param_group(group, tensors)
        }
    };
    (@ $i:ident step_count) => {
        fn step_count(&self) -> u64 {
            self.$i.step_count()
        }
    };
    (@ $i:ident last_step) => {
        fn last_step(&self) -> &$crate::StepOutcome {
            self.$i.last_step()
        }
    };
    (@ $i:ident skipped_steps) => {
        fn skipped_steps(&self) -> u64 {
            self.$i.skipped_steps()
        }
    };
    (@ $i:ident reset_state) => {
        fn reset_state(&mut self) {
            self.$i.reset_state()
        }
    };
    (@ $i:ident non_finite_policy) => {
        fn non_finite_policy(&self) -> $crate::NonFinitePolicy {
            self.$i.non_finite_policy()
        }
    };
    (@ $i:ident set_non_finite_policy) => {
        fn set_non_finite_policy(&mut self, policy: $crate::NonFinitePolicy) {
            self.$i.set_non_finite_policy(policy)
        }
    };
    (@ $i:ident stochastic_rounding) => {
        fn stochastic_rounding(&self) -> Option<u64> {
            self.$i.stochastic_rounding()
        }
    };
    (@ $i:ident set_stochastic_rounding) => {
        fn set_stochastic_rounding(&mut self, seed: Option<u64>) -> Result<(), $crate::Error> {
            self.$i.set_stochastic_rounding(seed)
        }
    };
    (@ $i:ident state_bytes) => {
        /// The bytes of the inner optimizer's state (for a sharded one, this rank's share).
        fn state_bytes(&self) -> usize {
            self.$i.state_bytes()
        }
    };
    (@ $i:ident name) => {
        /// The inner optimizer's name: the state belongs to it.
        fn name(&self) -> &'static str {
            self.$i.name()
        }
    };
}
pub(crate) use forward_to_inner;

use crate::error::Error;
use crate::float::Float;
use crate::state::{OptimizerState, TensorState};
use ndarray::ArrayD;

/// A wrapper's own checks before its inner optimizer's step through `reduce`: their error is
/// also sent into the round the inner step would make first, where the other ranks wait, so
/// that every rank fails together.
pub(crate) fn checked_before_rounds<T>(
    reduce: &mut dyn crate::distributed::Reduce,
    checks: Result<T, crate::Error>,
) -> Result<T, crate::Error> {
    checks.or_else(|e| reduce.exchange(Err(e.clone())).and(Err(e)))
}

/// Saves a wrapper's buffer `name` of every tensor into the inner optimizer's `state`: beside
/// the inner buffers when the inner optimizer keeps an entry per tensor, else in entries of
/// their own after its entries. Returns the number of the inner optimizer's entries, which the
/// wrapper saves (as `<wrapper>.inner_tensors`) for [`take_buffers`].
pub(crate) fn put_buffers<'a, A: Float>(
    state: &mut OptimizerState<A>,
    name: &str,
    buffers: impl ExactSizeIterator<Item = &'a ArrayD<A>>,
) -> usize {
    let inner_tensors = state.tensors.len();
    let merge = inner_tensors == buffers.len();
    for (index, buffer) in buffers.enumerate() {
        let logical = buffer.as_standard_layout().into_owned();
        if merge {
            state.tensors[index]
                .buffers
                .insert(name.to_string(), logical);
        } else {
            state.tensors.push(TensorState {
                step: 0,
                name: None,
                shape: buffer.shape().to_vec(),
                buffers: [(name.to_string(), logical)].into_iter().collect(),
                scalars: Default::default(),
                quantized: Default::default(),
            });
        }
    }
    inner_tensors
}

/// Which of a wrapper's buffers a saved state must hold (see [`take_buffers`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    /// One for every tensor.
    All,
    /// None (and no entries of the wrapper's own).
    None,
    /// One for every tensor, or none at all beside the inner buffers (a wrapper that has not
    /// stepped yet).
    AllOrNone,
}

/// Takes from `state` the buffers `name` [`put_buffers`] saved (`inner_tensors` as it
/// returned; absent, as many as the entries), checked against `expect` and the tensors'
/// shapes, and leaves `state` as the inner optimizer saved it. `context` ends every message
/// (the wrapper's counters, say). Nothing of the wrapper changes here: on an error, the caller
/// returns it.
pub(crate) fn take_buffers<A: Float>(
    state: &mut OptimizerState<A>,
    name: &str,
    inner_tensors: Option<u64>,
    expect: Expect,
    context: &str,
) -> Result<Vec<ArrayD<A>>, Error> {
    let invalid = |tensor: Option<usize>, reason: String| Error::InvalidState {
        tensor,
        reason: format!("{reason}{context}"),
    };
    let total = state.tensors.len();
    let inner_tensors = inner_tensors.map_or(total, |n| n as usize);
    if inner_tensors > total {
        return Err(invalid(
            None,
            format!("{inner_tensors} tensors of the inner optimizer but {total} saved"),
        ));
    }
    // Merged: the buffers sit beside the inner optimizer's; else they follow them.
    let merged = inner_tensors == total;
    if !merged && expect == Expect::None {
        return Err(invalid(
            None,
            format!(
                "{} tensors besides the inner optimizer's",
                total - inner_tensors
            ),
        ));
    }
    let ours = if merged {
        0..total
    } else {
        inner_tensors..total
    };
    let mut buffers = Vec::with_capacity(ours.len());
    for index in 0..total {
        let saved = state.tensors[index].buffers.remove(name);
        let wanted = expect != Expect::None && ours.contains(&index);
        match (saved, wanted) {
            (Some(array), true) => {
                let shape = &state.tensors[index].shape;
                if array.shape() != shape.as_slice() {
                    return Err(invalid(
                        Some(index),
                        format!(
                            "`{name}` has shape {:?}, the tensor {shape:?}",
                            array.shape()
                        ),
                    ));
                }
                buffers.push(array.as_standard_layout().into_owned());
            }
            // Not stepped yet: no buffer of the first tensor, and then none of the others.
            (None, true) if expect == Expect::AllOrNone && merged && buffers.is_empty() => {}
            (None, true) => return Err(invalid(Some(index), format!("`{name}` missing"))),
            (Some(_), false) => return Err(invalid(Some(index), format!("unexpected `{name}`"))),
            (None, false) => {}
        }
    }
    if !buffers.is_empty() && buffers.len() != ours.len() {
        return Err(invalid(
            None,
            format!("`{name}` of {} of {} tensors", buffers.len(), ours.len()),
        ));
    }
    if !merged {
        // The entries past the inner optimizer's hold only the wrapper's buffers.
        if let Some((index, extra)) = state
            .tensors
            .iter()
            .enumerate()
            .skip(inner_tensors)
            .find(|(_, t)| !t.buffers.is_empty() || !t.scalars.is_empty())
        {
            let keys: Vec<_> = extra.buffers.keys().chain(extra.scalars.keys()).collect();
            return Err(invalid(
                Some(index),
                format!("unexpected {keys:?} beside `{name}`"),
            ));
        }
        state.tensors.truncate(inner_tensors);
    }
    Ok(buffers)
}

mod lookahead;
mod master_weights;
mod multi_steps;

pub use lookahead::{Lookahead, LookaheadConfig};
pub use master_weights::MasterWeights;
pub use multi_steps::{AccumulationMode, MultiSteps, MultiStepsConfig, Transform};
