//! The bookkeeping every tensor-wise optimizer shares, written once: checking the inputs,
//! resolving the hyperparameters of each parameter group, creating per-tensor state on the
//! first step, counting steps, saving and loading, and choosing how each tensor is walked.
//!
//! An optimizer file provides two things (see `ARCHITECTURE.md`):
//!
//! * its public configuration, implementing [`Hyperparameters`]: PyTorch's hyperparameters and
//!   every rule they obey ([`Hyperparameters::validate`]), and the [`Kernel`] they run;
//! * the kernel, implementing [`Kernel`]: the per-tensor state (declared with
//!   [`state!`](buffers::state)), the scalars of one step computed once in `f64`, and the fused
//!   update of one tensor.
//!
//! [`Driver`] does the rest, and [`optimizer_type!`] makes the public type.
//!
//! # What the driver guarantees
//!
//! * **Validate, then mutate.** Every check (counts, shapes, lists that lie, state that belongs
//!   to other tensors, non-finite gradients) runs before anything changes; on `Err` every
//!   parameter and every piece of state is as it was.
//! * **One door for hyperparameters.** Building, `set_learning_rate`, `set_momentum`,
//!   `set_param_groups` and `load_state` all go through [`Driver::install`], which validates
//!   the configuration and every group's resolved configuration before anything is replaced.
//! * **Lazy state in the parameter's memory order**, created on a tensor's first step and moved
//!   (once) when a contiguous parameter arrives in another order than the state's.
//! * **No allocation after the first step** (the per-group scalars live in reused scratch).
//! * **Save/load** of every buffer and scalar, checked against what the configuration uses.

pub(crate) mod buffers;

use std::fmt::Debug;

use ndarray::ShapeBuilder;

use crate::builder::InElement;
use crate::check;
use crate::distributed::{Combine, Contribution, Local, NonFiniteAt, Reduce};
use crate::error::Error;
use crate::float::{Float, random};
use crate::groups::{ParamGroup, ParamGroups};
use crate::optimizer::{NonFinitePolicy, StepOutcome};
use crate::pass::{self, Pass};
use crate::registry::Registered;
use crate::state::{OptimizerState, STATE_FORMAT_VERSION};
use crate::tensor::{Tensor, TensorList, TensorListMut, TensorMut};
use buffers::{Slot, State};

/// A public configuration: one optimizer's hyperparameters under PyTorch's names, the rules they
/// obey, and the kernel they run.
pub(crate) trait Hyperparameters:
    Registered + InElement + Clone + Debug + PartialEq + Send + Sync
{
    /// What the driver runs; often the configuration itself.
    type Kernel: Clone + Debug + Send + Sync + 'static;

    /// Every rule of this type, the variant's own included (`Nesterov`: momentum `> 0`).
    fn validate(&self) -> Result<(), Error>;
    /// The rules only building checks, on top of [`validate`](Self::validate): those PyTorch's
    /// constructor checks and a scheduled value may break later (SparseAdam's `lr > 0`; a
    /// schedule may take its learning rate to 0, as in PyTorch).
    fn validate_new(&self) -> Result<(), Error> {
        Ok(())
    }
    /// The kernel for these (valid) hyperparameters.
    fn kernel(&self) -> Self::Kernel;
    fn learning_rate(&self) -> f64;
    fn set_learning_rate(&mut self, lr: f64);
    /// The weight decay; `None` for an optimizer without one.
    fn weight_decay(&self) -> Option<f64>;
    /// Sets it; only called when [`weight_decay`](Self::weight_decay) is `Some`.
    fn set_weight_decay(&mut self, weight_decay: f64);
    /// The largest factor a step multiplies the learning rate by, with the rule it gives: the
    /// Adam family's first step size is `lr/(1 − β₁)` (its bias correction at step 1). A
    /// learning rate whose product with it overflows the element type is refused
    /// ([`validate_in`]).
    fn largest_step(&self) -> (f64, &'static str) {
        (1.0, "must be finite")
    }
    /// The momentum-like hyperparameter cyclic schedules vary; `None` if there is none.
    fn momentum(&self) -> Option<f64> {
        None
    }
    /// Sets it; only called when [`momentum`](Self::momentum) is `Some`.
    fn set_momentum(&mut self, _momentum: f64) {}

    /// The kernel of one parameter group: these hyperparameters with the group's learning-rate
    /// multiplier and weight decay, validated as a whole.
    fn group_kernel(&self, group: &ParamGroup) -> Result<Self::Kernel, Error> {
        if group.layer_adaptation.is_some() {
            return Err(Error::Unsupported {
                optimizer: Self::KIND.name(),
                what: "layer adaptation (a LAMB and LARS option)",
            });
        }
        Ok(self.for_group(group)?.kernel())
    }

    /// These hyperparameters as one group sees them: the group's own configuration if it has
    /// one (of this kind), its learning rate (absolute, or a multiple), weight decay and
    /// momentum, validated as a whole.
    fn for_group(&self, group: &ParamGroup) -> Result<Self, Error> {
        let mut config = match &group.hyperparameters {
            None => self.clone(),
            Some(own) => Self::from_config(own.clone()).ok_or_else(|| Error::WrongOptimizer {
                expected: Self::KIND.name(),
                found: format!(
                    "{} (a parameter group's hyperparameters)",
                    own.kind().name()
                ),
            })?,
        };
        let lr = group.lr.unwrap_or(config.learning_rate() * group.lr_scale);
        check::non_negative("lr", lr)?; // the product of two valid values can overflow
        config.set_learning_rate(lr);
        match (group.weight_decay, config.weight_decay()) {
            (Some(weight_decay), Some(_)) => config.set_weight_decay(weight_decay),
            // "No weight decay" is true of an optimizer without one (the usual no-decay group of
            // biases and norms applies to every optimizer); any other decay is not.
            (Some(weight_decay), None) if weight_decay != 0.0 => {
                return Err(Error::Unsupported {
                    optimizer: Self::KIND.name(),
                    what: "weight decay",
                });
            }
            _ => {}
        }
        if let Some(momentum) = group.momentum {
            if config.momentum().is_none() {
                return Err(Error::Unsupported {
                    optimizer: Self::KIND.name(),
                    what: "a momentum hyperparameter",
                });
            }
            config.set_momentum(momentum);
        }
        config.validate()?;
        Ok(config)
    }
}

/// Every rule of `config` ([`Hyperparameters::validate`]), then the same rules for the values
/// the kernel of element type `A` computes with: the configuration rounded to the type of its
/// arithmetic ([`InElement`]; `f32` for `bf16` and `f16` parameters, whose scalars are `f32` as
/// in PyTorch's kernels), and the products of valid values that type may not hold (the largest
/// step size, `lr·λ`). Every door that installs hyperparameters goes through it.
pub(crate) fn validate_in<S: Float, C: Hyperparameters>(config: &C) -> Result<(), Error> {
    type A<S> = <S as Float>::Compute;
    validate_in_compute::<A<S>, C>(config)
}

fn validate_in_compute<A: Float, C: Hyperparameters>(config: &C) -> Result<(), Error> {
    check::in_element::<A, C>(config, C::validate)?;
    let rounded = config.in_element::<A>();
    let overflows = |product: f64| !A::from_f64(product).widen().is_finite();
    let lr = rounded.learning_rate();
    let (factor, requirement) = rounded.largest_step();
    if overflows(lr * factor) {
        return Err(Error::NotRepresentable {
            name: "lr",
            rounded: A::from_f64(lr * factor).widen(),
            element: A::NAME,
            requirement,
        });
    }
    if let Some(weight_decay) = rounded.weight_decay()
        && overflows(lr * weight_decay)
    {
        return Err(Error::NotRepresentable {
            name: "weight_decay",
            rounded: A::from_f64(lr * weight_decay).widen(),
            element: A::NAME,
            requirement: "must keep lr·weight_decay finite",
        });
    }
    Ok(())
}

/// The per-tensor update of one optimizer, for element type `A`.
pub(crate) trait Kernel<A: Float>: Clone + Debug + Send + Sync + 'static {
    /// The state kept per tensor (declared with [`state!`](buffers::state)).
    type State: State<A, Kernel = Self>;
    /// The scalars of one step for one group, computed once in `f64` and rounded once to `A`.
    type Scalars: Send + Sync;

    /// Whether a step first needs one sum over every gradient, before any tensor is updated
    /// (LAMB's global gradient norm). The sum is taken tensor by tensor, in list order, while
    /// the step is validated, and it doubles as the non-finite check: see
    /// [`reduce`](Self::reduce).
    fn reduces(&self) -> bool {
        false
    }
    /// One tensor's term of that sum. It must read every element and be non-finite when any
    /// element is (a sum of squares is): a finite sum then proves every gradient finite, and
    /// the driver skips its own pass over the gradients.
    fn reduce(&self, _grad: &dyn Tensor<A>) -> f64 {
        0.0
    }
    /// Whether this kernel can update a tensor of `shape` at position `index` (Muon: matrices
    /// only); checked for every tensor before a step changes anything.
    fn check_shape(&self, _index: usize, _shape: &[usize]) -> Result<(), Error> {
        Ok(())
    }
    /// Whether the step number of [`scalars`](Self::scalars) is each tensor's own (PyTorch's
    /// per-parameter `state["step"]`, which does not advance for a tensor without a gradient)
    /// or the optimizer's (timm's LAMB counts per group, and its groups all step together).
    fn steps_per_tensor(&self) -> bool {
        true
    }
    /// The scalars of step number `step` (1 on the first step); `sum` is the sum over all
    /// tensors when [`reduces`](Self::reduces), else 0.
    fn scalars(&self, step: u64, sum: f64) -> Self::Scalars;
    /// Running values of a parameter group that every applied step advances, whatever the
    /// tensors' gradients, before the group's scalars (Schedule-Free's `k`, `weight_sum` and
    /// `lr_max`), or that a two-pass step [`settle`](Self::settle)s between its passes
    /// (Prodigy's `d`): `each(name, starting value)` for each, in order. Saved in
    /// [`OptimizerState::extra`] as `group<g>.<name>` (the `f64`'s bits). A kernel with any
    /// takes its step numbers from them, not from [`steps_per_tensor`](Self::steps_per_tensor).
    fn accumulators(&self, _each: &mut dyn FnMut(&'static str, f64)) {}
    /// Advances the group's running values (in the order of
    /// [`accumulators`](Self::accumulators)) for step `step`.
    fn accumulate(&self, _step: u64, _values: &mut [f64]) {}
    /// The scalars of step `step` from the group's running values, just advanced.
    fn scalars_with(&self, step: u64, sum: f64, _values: &[f64]) -> Self::Scalars {
        self.scalars(step, sum)
    }
    /// Every group's scalars of one step (`out[g]`, refilled), from every group's kernel and
    /// running values (`values[g]`): by default each group's running values advanced
    /// ([`accumulate`](Self::accumulate)) and its own [`scalars_with`](Self::scalars_with). A
    /// kernel whose groups share quantities (Prodigy: the largest learning rate, group 0's `d`)
    /// computes them here, once per step.
    fn group_scalars(
        kernels: &[Self],
        step: u64,
        sum: f64,
        values: &mut [Vec<f64>],
        out: &mut Vec<Self::Scalars>,
    ) {
        out.clear();
        for (kernel, values) in kernels.iter().zip(values) {
            kernel.accumulate(step, values);
            out.push(kernel.scalars_with(step, sum, values));
        }
    }
    /// The rules that hold between the groups' kernels (Prodigy: a group's learning rate is 0
    /// or the largest), checked before a step changes anything: not when hyperparameters are
    /// installed, since a schedule sets the groups one at a time.
    fn check_groups(_kernels: &[Self]) -> Result<(), Error> {
        Ok(())
    }

    /// Whether a step takes two passes over the tensors with sums over all of them in between
    /// (Prodigy's `⟨g, x₀ − x⟩` and `‖s‖₁`, from which `d` is estimated): first
    /// [`gather`](Self::gather) for every tensor, then [`settle`](Self::settle) with the sums,
    /// then [`update`](Self::update) for every tensor. Such a kernel's scalars are its group's
    /// ([`steps_per_tensor`](Self::steps_per_tensor) is not asked).
    fn two_pass(&self) -> bool {
        false
    }
    /// The first pass over one tensor: reads (or updates) its state, never the parameter, and
    /// returns its terms of the two sums, each summed in the tensor's logical order with a fixed blocking
    /// ([`Pass::update_and_sum`]), so that they do not depend on its layout. The driver adds
    /// the tensors' terms in list order, whatever the thread count.
    fn gather(
        &self,
        _scalars: &Self::Scalars,
        _pass: &mut Pass<'_, A>,
        _state: &mut Self::State,
    ) -> [f64; 2] {
        [0.0; 2]
    }
    /// Between the passes: from the sums over every tensor, every group's running values are
    /// advanced and every group's scalars completed for [`update`](Self::update). Returns
    /// whether the second pass runs (Prodigy's reference returns early when `‖s‖₁ = 0`).
    fn settle(
        _kernels: &[Self],
        _sums: [f64; 2],
        _values: &mut [Vec<f64>],
        _scalars: &mut [Self::Scalars],
    ) -> bool {
        true
    }
    /// Updates one tensor and its state (the second pass of a [`two_pass`](Self::two_pass)
    /// kernel).
    fn update(&self, scalars: &Self::Scalars, pass: &mut Pass<'_, A>, state: &mut Self::State);
}

/// The kernel type a configuration runs.
pub(crate) type KernelOf<C> = <C as Hyperparameters>::Kernel;
/// Its per-tensor state for elements `A`.
pub(crate) type StateOf<A, C> = <KernelOf<C> as Kernel<A>>::State;
/// Its per-step scalars for elements `A`.
pub(crate) type ScalarsOf<A, C> = <KernelOf<C> as Kernel<A>>::Scalars;
/// The slot of one tensor: its shape, strides and state.
pub(crate) type SlotOf<A, C> = Slot<StateOf<A, C>>;

/// Updates the tensor at an index with its gradient and state slot (on any thread, with the
/// `rayon` feature).
#[cfg(feature = "rayon")]
type UpdateOne<'a, A, S> =
    dyn Fn(usize, &mut dyn TensorMut<A>, &dyn Tensor<A>, &mut Slot<S>) + Sync + 'a;
/// Updates the tensor at an index with its gradient and state slot.
#[cfg(not(feature = "rayon"))]
type UpdateOne<'a, A, S> = dyn Fn(usize, &mut dyn TensorMut<A>, &dyn Tensor<A>, &mut Slot<S>) + 'a;

/// What [`Driver::step_with`] checks each tensor's gradient with: its index and parameter.
pub(crate) type CheckGrad<'a, A> = dyn Fn(usize, &dyn Tensor<A>) -> Result<(), Error> + 'a;

/// What [`Driver::step_with`] calls for each tensor: its index, its group's kernel and scalars,
/// the parameter, its state, and integer working space.
pub(crate) type UpdateWith<'a, A, C> = dyn FnMut(
        usize,
        &KernelOf<C>,
        &ScalarsOf<A, C>,
        &mut dyn TensorMut<A>,
        &mut StateOf<A, C>,
        &mut Vec<usize>,
        Option<u64>,
    ) + 'a;

/// The bookkeeping shared by every tensor-wise optimizer (see the [module docs](self)).
pub(crate) struct Driver<A: Float, C: Hyperparameters>
where
    C::Kernel: Kernel<A>,
{
    config: C,
    groups: Option<ParamGroups>,
    /// One kernel per group (one in all without groups), resolved from `config` and `groups` by
    /// [`Driver::install`] whenever either changes.
    kernels: Vec<C::Kernel>,
    /// Each group's resolved learning rate and momentum, beside `kernels`.
    rates: Vec<(f64, Option<f64>)>,
    step: u64,
    skipped: u64,
    slots: Vec<Slot<StateOf<A, C>>>,
    non_finite: NonFinitePolicy,
    /// The seed of stochastic rounding of the parameters (`bf16` only), if it is on.
    stochastic: Option<u64>,
    last: StepOutcome,
    /// Where [`Driver::install`] resolves new kernels before they replace `kernels`.
    staging: Scratch<C::Kernel>,
    /// The same for `rates`.
    staging_rates: Scratch<(f64, Option<f64>)>,
    /// Where each tensor's elements are, to check a list's `tensors_mut` against `tensor`.
    #[cfg(feature = "rayon")]
    addresses: Scratch<usize>,
    /// One entry per group, refilled every step.
    scalars: Scratch<ScalarsOf<A, C>>,
    /// Each group's running values ([`Kernel::accumulators`]); empty lists for most kernels.
    accumulated: Vec<Vec<f64>>,
    /// Integer working space of [`Driver::step_with`] (SparseAdam's coalescing order).
    working: Scratch<usize>,
    /// Each tensor's term of the kernels' sum ([`Kernel::reduce`]), for the step's round.
    terms: Scratch<f64>,
    /// Each tensor's position in the model ([`Reduce::model_index`]), for stochastic rounding.
    positions: Scratch<usize>,
}

// Written out because a derive would demand `Clone`/`Debug` of the per-step scalars too.
impl<A: Float, C: Hyperparameters> Clone for Driver<A, C>
where
    C::Kernel: Kernel<A>,
{
    fn clone(&self) -> Self {
        Driver {
            config: self.config.clone(),
            groups: self.groups.clone(),
            kernels: self.kernels.clone(),
            rates: self.rates.clone(),
            step: self.step,
            skipped: self.skipped,
            slots: self.slots.clone(),
            non_finite: self.non_finite,
            stochastic: self.stochastic,
            last: self.last.clone(),
            staging: self.staging.clone(),
            staging_rates: self.staging_rates.clone(),
            #[cfg(feature = "rayon")]
            addresses: self.addresses.clone(),
            scalars: self.scalars.clone(),
            working: self.working.clone(),
            terms: self.terms.clone(),
            positions: self.positions.clone(),
            accumulated: self.accumulated.clone(),
        }
    }
}

impl<A: Float, C: Hyperparameters> Debug for Driver<A, C>
where
    C::Kernel: Kernel<A>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("config", &self.config)
            .field("groups", &self.groups)
            .field("step", &self.step)
            .field("skipped", &self.skipped)
            .field("slots", &self.slots)
            .field("non_finite", &self.non_finite)
            .field("last", &self.last)
            .finish()
    }
}

impl<A: Float, C: Hyperparameters> Driver<A, C>
where
    C::Kernel: Kernel<A>,
{
    pub(crate) fn new(config: C) -> Result<Self, Error> {
        let mut driver = Driver {
            config: config.clone(),
            groups: None,
            kernels: Vec::new(),
            rates: Vec::new(),
            step: 0,
            skipped: 0,
            slots: Vec::new(),
            non_finite: NonFinitePolicy::default(),
            stochastic: None,
            last: StepOutcome::NotStarted,
            staging: Scratch(Vec::new()),
            staging_rates: Scratch(Vec::new()),
            #[cfg(feature = "rayon")]
            addresses: Scratch(Vec::new()),
            scalars: Scratch(Vec::new()),
            working: Scratch(Vec::new()),
            terms: Scratch(Vec::new()),
            positions: Scratch(Vec::new()),
            accumulated: Vec::new(),
        };
        driver.install(config, None)?;
        Ok(driver)
    }

    pub(crate) fn config(&self) -> &C {
        &self.config
    }

    /// The one door through which hyperparameters change: validates `config` and the resolved
    /// configuration of every group (`groups`: `Some` to replace them, `None` to keep them), and
    /// only then replaces them and their kernels. Reuses the kernels' storage, so a scheduler's
    /// per-step call does not allocate.
    fn install(&mut self, config: C, groups: Option<Option<ParamGroups>>) -> Result<(), Error> {
        validate_in::<A, C>(&config)?;
        let staging = &mut self.staging.0;
        let rates = &mut self.staging_rates.0;
        staging.clear();
        rates.clear();
        match groups.as_ref().map_or(self.groups.as_ref(), Option::as_ref) {
            None => {
                staging.push(config.kernel());
                rates.push((config.learning_rate(), config.momentum()));
            }
            Some(groups) => {
                for group in groups.groups() {
                    staging.push(config.group_kernel(group)?);
                    let resolved = config.for_group(group)?;
                    validate_in::<A, C>(&resolved)?;
                    rates.push((resolved.learning_rate(), resolved.momentum()));
                }
            }
        }
        std::mem::swap(&mut self.kernels, staging);
        std::mem::swap(&mut self.rates, rates);
        self.config = config;
        if let Some(groups) = groups {
            self.groups = groups;
        }
        self.fit_accumulators();
        Ok(())
    }

    /// One list of running values per group, each group's kept, a new group's at its starting
    /// values (allocates only when there are new groups).
    fn fit_accumulators(&mut self) {
        let kernels = &self.kernels;
        self.accumulated.truncate(kernels.len());
        for kernel in &kernels[self.accumulated.len()..] {
            let mut starts = Vec::new();
            kernel.accumulators(&mut |_, start| starts.push(start));
            self.accumulated.push(starts);
        }
    }

    /// The kernel of the tensor at `index` and its slot, if the optimizer has stepped it.
    pub(crate) fn tensor(&self, index: usize) -> Option<(&C::Kernel, &SlotOf<A, C>)> {
        let slot = self.slots.get(index)?;
        Some((self.kernel_of(index), slot))
    }

    /// The parameters are the tensors the optimizer has stepped (if any), with their shapes.
    pub(crate) fn check_params(&self, params: &dyn TensorList<A>) -> Result<(), Error> {
        let n = check::list(params)?;
        self.validate_params(params, n)
    }

    /// The kernel of the tensor at `index`.
    fn kernel_of(&self, index: usize) -> &C::Kernel {
        kernel_at(&self.kernels, self.groups.as_ref(), index)
    }

    /// Every check of a step that this process can make on its own, before anything changes:
    /// the lists (counts, shapes, lists that lie), the groups, the kernels' shapes, the state,
    /// the counter. Returns the number of tensors.
    fn local_checks(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<usize, Error> {
        let n = check::read_inputs(&*params, grads)?;
        self.validate_params(&*params, n)?;
        check::step_inputs(params, grads)?;
        #[cfg(feature = "rayon")]
        self.check_tensors_mut(params, grads, n)?;
        Ok(n)
    }

    /// Every check `step` makes that needs only read access, before anything changes (what
    /// `check_step` runs). `Ok(Some(outcome))` means: skip this step.
    ///
    /// The kernels' sum over every gradient ([`Kernel::reduces`]) is taken here too, because it
    /// reads every gradient anyway: when it is finite, every gradient is, and the non-finite
    /// check needs no pass of its own.
    pub(crate) fn validate(
        &self,
        params: &dyn TensorList<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<Option<StepOutcome>, Error> {
        let n = check::read_inputs(params, grads)?;
        self.validate_params(params, n)?;
        let reduces = self.kernels[0].reduces();
        let sum = if reduces {
            (0..n)
                .filter_map(|index| grads.tensor(index).map(|g| (index, g)))
                .fold(0.0, |sum, (index, g)| sum + self.kernel_of(index).reduce(g))
        } else {
            0.0
        };
        if self.non_finite == NonFinitePolicy::Unchecked || (reduces && sum.is_finite()) {
            return Ok(None);
        }
        // (A sum that overflowed from finite `f64` gradients also lands here, and passes.)
        match first_non_finite(grads, n) {
            Some(NonFiniteAt {
                index,
                element,
                value,
            }) => self.non_finite.on_non_finite(index, element, value),
            None => Ok(None),
        }
    }

    /// The checks of [`validate`](Driver::validate) that concern the `n` parameters and the
    /// state, not the gradients: the groups' length, the kernel's shapes, the state's tensors,
    /// the counter.
    fn validate_params(&self, params: &dyn TensorList<A>, n: usize) -> Result<(), Error> {
        if let Some(groups) = &self.groups
            && groups.assignment().len() != n
        {
            return Err(Error::GroupLengthMismatch {
                assigned: groups.assignment().len(),
                found: n,
            });
        }
        <C::Kernel as Kernel<A>>::check_groups(&self.kernels)?;
        for index in 0..n {
            let shape = params.tensor(index).map_or(&[][..], |p| p.shape());
            self.kernel_of(index).check_shape(index, shape)?;
        }
        if !self.slots.is_empty() {
            // Fewer slots than tensors: the tensors of a group added since (`add_param_group`),
            // whose state is created on their first step; the groups assign every tensor.
            let grown = self.slots.len() < n && self.groups.is_some();
            if self.slots.len() != n && !grown {
                return Err(Error::StateLengthMismatch {
                    expected: self.slots.len(),
                    found: n,
                });
            }
            for (index, slot) in self.slots.iter().enumerate() {
                let shape = params.tensor(index).map_or(&[][..], |p| p.shape());
                if slot.shape != shape {
                    return Err(Error::StateShapeMismatch {
                        index,
                        expected: slot.shape.clone(),
                        found: shape.to_vec(),
                    });
                }
                // Names are checked whenever both sides have one: two tensors of one shape in
                // swapped order must not resume with each other's state.
                if let (Some(saved), Some(given)) = (&slot.name, params.name(index))
                    && saved != given
                {
                    return Err(Error::TensorNameMismatch {
                        index,
                        saved: saved.clone(),
                        given: given.to_string(),
                    });
                }
            }
        }
        if self.step == u64::MAX {
            return Err(Error::CounterOverflow { counter: "step" });
        }
        Ok(())
    }

    pub(crate) fn step(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<(), Error> {
        self.step_reduced(params, grads, &mut Local)
    }

    /// `step` with what it computes over every tensor going through `reduce` (see
    /// [`Reduce`]): one round with the local checks and the kernels' terms (or, for a kernel
    /// that sums nothing, the first non-finite gradient), a second one only when the agreed sum
    /// is not finite (to find the first non-finite gradient of the model), then the update.
    pub(crate) fn step_reduced(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
        reduce: &mut dyn Reduce,
    ) -> Result<(), Error> {
        let checked = self.local_checks(params, grads);
        let n = *checked.as_ref().unwrap_or(&0);
        let reduces = self.kernels[0].reduces();
        let checks_values = self.non_finite != NonFinitePolicy::Unchecked;
        let local = checked.map(|n| {
            let terms = &mut self.terms.0;
            terms.clear();
            let mut non_finite = None;
            if reduces {
                // The sum doubles as the non-finite check: no pass of its own when it is finite.
                let (kernels, groups) = (&self.kernels, self.groups.as_ref());
                terms.extend((0..n).map(|index| {
                    grads
                        .tensor(index)
                        .map_or(0.0, |g| kernel_at(kernels, groups, index).reduce(g))
                }));
            } else if checks_values {
                non_finite = first_non_finite(grads, n);
            }
            Contribution {
                terms,
                combine: Combine::Sum,
                non_finite,
            }
        });
        let agreed = reduce.exchange(local)?;
        let sum = agreed.total;
        let mut non_finite = agreed.non_finite;
        if reduces && checks_values && !sum.is_finite() {
            // Some gradient is not finite, or the sum of finite `f64` gradients overflowed
            // (which passes): which one, over the model.
            let found = first_non_finite(grads, n);
            non_finite = reduce
                .exchange(Ok(Contribution {
                    non_finite: found,
                    ..Contribution::none()
                }))?
                .non_finite;
        }
        if let Some(NonFiniteAt {
            index,
            element,
            value,
        }) = non_finite
            && let Some(skipped) = self.non_finite.on_non_finite(index, element, value)?
        {
            self.last = skipped;
            self.skipped = self.skipped.saturating_add(1);
            return Ok(());
        }
        // Nothing has changed so far; from here on nothing can fail.
        self.prepare(&*params, n, &|index| grads.absent(index));
        // The scalars of every group at the optimizer's step; a tensor whose own count differs
        // (it skipped steps without a gradient) computes its own.
        let step = self.step;
        <C::Kernel as Kernel<A>>::group_scalars(
            &self.kernels,
            step,
            sum,
            &mut self.accumulated,
            &mut self.scalars.0,
        );
        let two_pass = self.kernels[0].two_pass();
        let groups = self.groups.as_ref();
        let group_of = move |index: usize| groups.map_or(0, |groups| groups.assignment()[index]);
        if two_pass {
            // 1. Every tensor's state and its terms of the sums, which the driver then adds in
            // list order (a tensor without a gradient adds nothing).
            let (kernels, scalars) = (&self.kernels, &self.scalars.0);
            let gather = |index: usize,
                          p: &mut dyn TensorMut<A>,
                          g: &dyn Tensor<A>,
                          slot: &mut Slot<StateOf<A, C>>| {
                let Some(state) = &mut slot.state else {
                    return;
                };
                slot.step += 1;
                if slot.shape.contains(&0) {
                    return;
                }
                let group = group_of(index);
                let mut pass = Pass::new(p, g, &slot.strides);
                slot.gathered = kernels[group].gather(&scalars[group], &mut pass, state);
            };
            self.slots
                .iter_mut()
                .for_each(|slot| slot.gathered = [0.0; 2]);
            Self::each_tensor(
                &mut self.slots,
                #[cfg(feature = "rayon")]
                &self.addresses.0,
                params,
                grads,
                &gather,
            );
            // Each sum is a round: over the whole model, in its tensor order, on every rank
            // of a sharded step (in one process, the list's terms added in order).
            let mut sums = [0.0; 2];
            for (which, sum) in sums.iter_mut().enumerate() {
                let terms = &mut self.terms.0;
                terms.clear();
                terms.extend(self.slots.iter().map(|slot| slot.gathered[which]));
                *sum = reduce
                    .exchange(Ok(Contribution {
                        terms,
                        combine: Combine::Sum,
                        non_finite: None,
                    }))?
                    .total;
            }
            // 2. The running values and the second pass's scalars from the sums.
            if !<C::Kernel as Kernel<A>>::settle(
                &self.kernels,
                sums,
                &mut self.accumulated,
                &mut self.scalars.0,
            ) {
                self.last = StepOutcome::Applied;
                return Ok(());
            }
        }
        let (kernels, scalars) = (&self.kernels, &self.scalars.0);
        let stochastic = self.stochastic;
        // Stochastic rounding draws a tensor's bits by its position in the model, which a
        // sharded step's list does not start at.
        let positions = &mut self.positions.0;
        positions.clear();
        if stochastic.is_some() {
            positions.extend((0..n).map(|index| reduce.model_index(index)));
        }
        let positions = &*positions;
        let update = |index: usize,
                      p: &mut dyn TensorMut<A>,
                      g: &dyn Tensor<A>,
                      slot: &mut Slot<StateOf<A, C>>| {
            let Some(state) = &mut slot.state else {
                return; // absent gradient (no state is made without one)
            };
            if !two_pass {
                slot.step += 1; // (counted by the first pass otherwise)
            }
            if slot.shape.contains(&0) {
                return; // no elements, nothing to update
            }
            let group = group_of(index);
            let own;
            let tensor_step = if !two_pass && kernels[group].steps_per_tensor() {
                slot.step
            } else {
                step
            };
            let sc = if tensor_step == step {
                &scalars[group]
            } else {
                own = kernels[group].scalars(tensor_step, sum);
                &own
            };
            let mut pass = Pass::new(p, g, &slot.strides);
            if let Some(seed) = stochastic {
                pass.round_stochastically(random::stream_key(seed, step, positions[index]));
            }
            kernels[group].update(sc, &mut pass, state);
        };
        Self::each_tensor(
            &mut self.slots,
            #[cfg(feature = "rayon")]
            &self.addresses.0,
            params,
            grads,
            &update,
        );
        self.last = StepOutcome::Applied;
        Ok(())
    }

    /// Calls `f(index, param, grad, slot)` for every tensor with a gradient: on several threads
    /// when the `rayon` feature is on and the step is worth splitting (see
    /// [`parallel_over_tensors`](Self::parallel_over_tensors)), else one tensor at a time.
    fn each_tensor(
        slots: &mut [Slot<StateOf<A, C>>],
        #[cfg(feature = "rayon")] addresses: &[usize],
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
        f: &UpdateOne<'_, A, StateOf<A, C>>,
    ) {
        #[cfg(feature = "rayon")]
        if Self::parallel_over_tensors(slots, addresses, params, grads, f) {
            return;
        }
        for (index, slot) in slots.iter_mut().enumerate() {
            if grads.absent(index) {
                continue;
            }
            let (Some(p), Some(g)) = (params.tensor_mut(index), grads.tensor(index)) else {
                unreachable!("checked by step_inputs");
            };
            f(index, p, g, slot);
        }
    }

    /// The part of a step after every check: the state of each of the `n` tensors created on
    /// the first step, moved to its parameter's memory order, and the counter advanced.
    /// The state of every tensor that has a gradient this step (`absent(index)`: it has not),
    /// created on its first, in its memory order; and the optimizer's step counter advanced.
    fn prepare(&mut self, params: &dyn TensorList<A>, n: usize, absent: &dyn Fn(usize) -> bool) {
        if self.slots.len() < n {
            self.slots.reserve_exact(n - self.slots.len());
            for index in self.slots.len()..n {
                let p = params.tensor(index).expect("checked before");
                self.slots.push(Slot {
                    shape: p.shape().to_vec(),
                    strides: pass::state_strides(p.shape(), p.strides()),
                    name: params.name(index).map(str::to_string),
                    step: 0,
                    state: None,
                    gathered: [0.0; 2],
                });
            }
        }
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if absent(index) {
                continue; // no gradient: no state change at all
            }
            let p = params.tensor(index).expect("checked before");
            match &slot.state {
                // The tensor's first step with a gradient: its state, in its memory order.
                None => {
                    let group = self.groups.as_ref().map_or(0, |g| g.assignment()[index]);
                    slot.strides = pass::state_strides(p.shape(), p.strides());
                    slot.state = Some(State::new(&self.kernels[group], p.shape()));
                }
                // A state loaded from a file is in row-major order; the first time a contiguous
                // parameter in another order arrives, its state moves to that order (once).
                Some(_) => {
                    if !pass::same_order(&slot.shape, p.strides(), &slot.strides)
                        && p.strides().iter().all(|&s| s >= 0)
                        && p.as_slice_memory_order().is_some()
                    {
                        slot.relayout(pass::state_strides(p.shape(), p.strides()));
                    }
                }
            }
        }
        self.step += 1; // below u64::MAX: checked by `validate_params`
    }

    /// A step whose gradients are not tensors of the parameters' shapes (SparseAdam's rows),
    /// with the guarantees of [`step`](Driver::step). First every check: the parameter list
    /// (`params` must lend every tensor, consistently), `grads` gradients for as many tensors,
    /// the parameters against the groups, the kernels and the state, then `check(index, param)`
    /// for each tensor's gradient and, unless the policy is
    /// [`Unchecked`](NonFinitePolicy::Unchecked), `non_finite(index)` (the first non-finite
    /// value of that gradient: its index and value), which the policy turns into an error or a
    /// skipped step. Then, with nothing left that can fail, the state is created on the first
    /// step, the counter advanced, and `update(index, kernel, scalars, param, state,
    /// working, stochastic)` runs for each tensor with elements; `working` is integer working
    /// space kept from step to step, `stochastic` the tensor's stream key of stochastic
    /// rounding at this step when it is on (for [`pass::with_store!`], as a dense step's pass
    /// has it).
    pub(crate) fn step_with(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: usize,
        check: &CheckGrad<'_, A>,
        non_finite: &dyn Fn(usize) -> Option<(Vec<usize>, f64)>,
        update: &mut UpdateWith<'_, A, C>,
    ) -> Result<(), Error> {
        let n = check::list_mut(params)?;
        if grads != n {
            return Err(Error::LengthMismatch { params: n, grads });
        }
        self.validate_params(&*params, n)?;
        for index in 0..n {
            check(index, params.tensor(index).expect("checked by list_mut"))?;
        }
        if self.non_finite != NonFinitePolicy::Unchecked {
            for index in 0..n {
                if let Some((element, value)) = non_finite(index)
                    && let Some(skipped) = self.non_finite.on_non_finite(index, element, value)?
                {
                    self.last = skipped;
                    self.skipped = self.skipped.saturating_add(1);
                    return Ok(());
                }
            }
        }
        // Nothing has changed so far; from here on nothing can fail.
        self.prepare(&*params, n, &|_| false);
        let step = self.step;
        <C::Kernel as Kernel<A>>::group_scalars(
            &self.kernels,
            step,
            0.0,
            &mut self.accumulated,
            &mut self.scalars.0,
        );
        let scalars = &self.scalars.0;
        for (index, slot) in self.slots.iter_mut().enumerate() {
            slot.step += 1;
            let Some(state) = slot.state.as_mut() else {
                continue; // made by `prepare` for every tensor
            };
            if slot.shape.contains(&0) {
                continue; // no elements, nothing to update
            }
            let group = self.groups.as_ref().map_or(0, |g| g.assignment()[index]);
            let kernel = &self.kernels[group];
            let tensor_step = if kernel.steps_per_tensor() {
                slot.step
            } else {
                step
            };
            let own;
            let sc = if tensor_step == step {
                &scalars[group]
            } else {
                own = kernel.scalars(tensor_step, 0.0);
                &own
            };
            let p = params.tensor_mut(index).expect("checked by list_mut");
            // Stochastic rounding's stream, keyed as a dense step's (one process: the tensor's
            // position in the model is its index).
            let stochastic = self
                .stochastic
                .filter(|_| A::STOCHASTIC)
                .map(|seed| random::stream_key(seed, step, index));
            update(index, kernel, sc, p, state, &mut self.working.0, stochastic);
        }
        self.last = StepOutcome::Applied;
        Ok(())
    }

    /// With the `rayon` feature: updates the tensors on several threads when there are at least
    /// two and enough elements in all, and the list can lend all its tensors at once (with the
    /// shapes it reported). Returns whether it did; if not, nothing was touched.
    #[cfg(feature = "rayon")]
    fn parallel_over_tensors(
        slots: &mut [Slot<StateOf<A, C>>],
        addresses: &[usize],
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
        update: &UpdateOne<'_, A, StateOf<A, C>>,
    ) -> bool {
        use rayon::prelude::*;
        if addresses.len() != slots.len() {
            return false; // not worth splitting (see `check_tensors_mut`)
        }
        let mut ps = Vec::with_capacity(slots.len());
        let gs: Option<Vec<&dyn Tensor<A>>> = (0..slots.len()).map(|i| grads.tensor(i)).collect();
        let (true, Some(gs)) = (params.tensors_mut(&mut ps), gs) else {
            return false;
        };
        // Checked before anything changed; a list that lends something else the second time
        // is walked one tensor at a time, through the lending already checked.
        if ps.len() != slots.len()
            || ps
                .iter()
                .zip(addresses)
                .any(|(p, &at)| check::address(&**p) != at)
        {
            return false;
        }
        ps.into_par_iter()
            .zip(gs)
            .zip(slots.par_iter_mut())
            .enumerate()
            .for_each(|(index, ((p, g), slot))| update(index, p, g, slot));
        true
    }

    /// With the `rayon` feature, before anything changes: when the step will spread the tensors
    /// across threads, the list's `tensors_mut` must lend the same tensors as `tensor_mut`, in
    /// the same order (a hand-written list that does not would update tensors with each other's
    /// gradients and state). Records where each tensor is, for the parallel step to check again.
    #[cfg(feature = "rayon")]
    fn check_tensors_mut(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
        n: usize,
    ) -> Result<(), Error> {
        let addresses = &mut self.addresses.0;
        addresses.clear();
        let total: usize = (0..n)
            .filter_map(|i| grads.tensor(i))
            .map(|g| g.shape().iter().product::<usize>())
            .sum();
        if n < 2 || !pass::parallel::split(total) {
            return Ok(());
        }
        addresses.extend((0..n).filter_map(|i| params.tensor(i).map(check::address)));
        let mut ps = Vec::with_capacity(n);
        if !params.tensors_mut(&mut ps) {
            addresses.clear(); // the list cannot lend them all at once: one at a time
            return Ok(());
        }
        if ps.len() != n {
            return Err(Error::InconsistentTensor {
                index: ps.len().min(n),
                reason: "`tensors_mut` lends another number of tensors than the list has",
            });
        }
        match ps
            .iter()
            .zip(addresses.iter())
            .position(|(p, &at)| check::address(&**p) != at)
        {
            Some(index) => Err(Error::InconsistentTensor {
                index,
                reason: "`tensors_mut` lends another tensor at this position than `tensor_mut`",
            }),
            None => Ok(()),
        }
    }

    /// Copies one parameter-shaped state buffer of every tensor (`buffer` picks it from a
    /// tensor's state) into `out`, in `out`'s own memory layout, after checking that `out` holds
    /// the tensors the state belongs to. `what` names the buffer in [`Error::NotStarted`].
    pub(crate) fn copy_state_into(
        &self,
        out: &mut dyn TensorListMut<A>,
        what: &'static str,
        buffer: impl Fn(&StateOf<A, C>) -> &[A],
    ) -> Result<(), Error> {
        if self.slots.is_empty() || self.slots.iter().any(|slot| slot.state.is_none()) {
            return Err(Error::NotStarted { what });
        }
        let n = check::list_mut(out)?;
        if n != self.slots.len() {
            return Err(Error::StateLengthMismatch {
                expected: self.slots.len(),
                found: n,
            });
        }
        for (index, slot) in self.slots.iter().enumerate() {
            let shape = out.tensor(index).map_or(&[][..], |t| t.shape());
            if slot.shape != shape {
                return Err(Error::StateShapeMismatch {
                    index,
                    expected: slot.shape.clone(),
                    found: shape.to_vec(),
                });
            }
        }
        for (index, slot) in self.slots.iter().enumerate() {
            let source = ndarray::ArrayViewD::from_shape(
                ndarray::IxDyn(&slot.shape).strides(ndarray::IxDyn(&slot.strides)),
                buffer(slot.state.as_ref().expect("checked above")),
            )
            .expect("a state buffer holds its tensor's elements");
            if let Some(t) = out.tensor_mut(index) {
                t.view_dyn_mut().assign(&source);
            }
        }
        Ok(())
    }

    pub(crate) fn learning_rate(&self) -> f64 {
        self.config.learning_rate()
    }

    pub(crate) fn set_learning_rate(&mut self, lr: f64) -> Result<(), Error> {
        check::non_negative("lr", lr)?;
        // A change that no step would see is refused rather than ignored: with every group at
        // a rate of its own, the caller meant the groups' rates.
        if let Some(groups) = &self.groups
            && groups.groups().iter().all(|group| group.lr.is_some())
        {
            return Err(Error::InvalidHyperparameter {
                name: "lr",
                value: lr,
                requirement: "would change no step: every parameter group has a learning rate \
                    of its own (set each with set_group_learning_rate)",
            });
        }
        let mut config = self.config.clone();
        config.set_learning_rate(lr);
        self.install(config, None)
    }

    pub(crate) fn momentum(&self) -> Option<f64> {
        self.config.momentum()
    }

    pub(crate) fn set_momentum(&mut self, momentum: f64) -> Result<(), Error> {
        if self.config.momentum().is_none() {
            return Err(Error::Unsupported {
                optimizer: C::KIND.name(),
                what: "a momentum hyperparameter",
            });
        }
        let mut config = self.config.clone();
        config.set_momentum(momentum);
        self.install(config, None)
    }

    pub(crate) fn param_groups(&self) -> Option<&ParamGroups> {
        self.groups.as_ref()
    }

    pub(crate) fn set_param_groups(&mut self, groups: Option<ParamGroups>) -> Result<(), Error> {
        if let Some(groups) = &groups {
            groups.validate()?;
            // The tensors the optimizer knows: those with state, and those a group added since.
            let known = self
                .groups
                .as_ref()
                .map_or(self.slots.len(), |g| g.assignment().len());
            if !self.slots.is_empty() && groups.assignment().len() != known {
                return Err(Error::GroupLengthMismatch {
                    assigned: groups.assignment().len(),
                    found: known,
                });
            }
        }
        self.install(self.config.clone(), Some(groups))
    }

    pub(crate) fn group_learning_rate(&self, group: usize) -> Option<f64> {
        self.rates.get(group).map(|&(lr, _)| lr)
    }

    pub(crate) fn group_momentum(&self, group: usize) -> Option<f64> {
        self.rates.get(group).and_then(|&(_, momentum)| momentum)
    }

    /// Writes `value` into group `group` (through `field`) and reinstalls; puts the old value
    /// back if the result does not validate. Without groups, group 0 is the configuration.
    fn set_group_value(
        &mut self,
        group: usize,
        field: fn(&mut ParamGroup) -> &mut Option<f64>,
        value: f64,
    ) -> Result<(), Error> {
        let Some(groups) = self.groups.as_mut() else {
            unreachable!("callers handle the optimizer without groups");
        };
        let count = groups.groups().len();
        let Some(slot) = groups.groups_mut().get_mut(group) else {
            return Err(Error::UnknownGroup {
                tensor: None,
                group,
                groups: count,
            });
        };
        let old = field(slot).replace(value);
        let result = self.install(self.config.clone(), None);
        if result.is_err()
            && let Some(groups) = self.groups.as_mut()
        {
            *field(&mut groups.groups_mut()[group]) = old;
        }
        result
    }

    pub(crate) fn set_group_learning_rate(&mut self, group: usize, lr: f64) -> Result<(), Error> {
        check::non_negative("lr", lr)?;
        if self.groups.is_none() {
            return match group {
                0 => self.set_learning_rate(lr),
                _ => Err(Error::UnknownGroup {
                    tensor: None,
                    group,
                    groups: 1,
                }),
            };
        }
        self.set_group_value(group, |g| &mut g.lr, lr)
    }

    pub(crate) fn set_group_momentum(&mut self, group: usize, momentum: f64) -> Result<(), Error> {
        if self.groups.is_none() {
            return match group {
                0 => self.set_momentum(momentum),
                _ => Err(Error::UnknownGroup {
                    tensor: None,
                    group,
                    groups: 1,
                }),
            };
        }
        if self.config.momentum().is_none() {
            return Err(Error::Unsupported {
                optimizer: C::KIND.name(),
                what: "a momentum hyperparameter",
            });
        }
        self.set_group_value(group, |g| &mut g.momentum, momentum)
    }

    pub(crate) fn add_param_group(
        &mut self,
        group: ParamGroup,
        tensors: usize,
    ) -> Result<usize, Error> {
        let mut groups = match &self.groups {
            Some(groups) => groups.clone(),
            None if !self.slots.is_empty() => {
                ParamGroups::new(vec![ParamGroup::default()], vec![0; self.slots.len()])?
            }
            None => {
                return Err(Error::Unsupported {
                    optimizer: C::KIND.name(),
                    what: "adding a group before the first step without parameter groups \
                           (give the first tensors a group with set_param_groups)",
                });
            }
        };
        let index = groups.push(group, tensors);
        groups.validate()?;
        self.install(self.config.clone(), Some(Some(groups)))?;
        Ok(index)
    }

    pub(crate) fn step_count(&self) -> u64 {
        self.step
    }

    pub(crate) fn last_step(&self) -> &StepOutcome {
        &self.last
    }

    pub(crate) fn skipped_steps(&self) -> u64 {
        self.skipped
    }

    pub(crate) fn reset_state(&mut self) {
        self.slots.clear();
        self.accumulated.clear();
        self.fit_accumulators();
        self.step = 0;
        self.last = StepOutcome::NotStarted;
        self.skipped = 0;
    }

    pub(crate) fn non_finite_policy(&self) -> NonFinitePolicy {
        self.non_finite
    }

    pub(crate) fn set_non_finite_policy(&mut self, policy: NonFinitePolicy) {
        self.non_finite = policy;
    }

    pub(crate) fn stochastic_rounding(&self) -> Option<u64> {
        self.stochastic
    }

    /// Stochastic rounding needs a type that has it (`bf16`); every kernel stores the
    /// parameter through [`pass::with_store!`] (the pass's loops or its own).
    fn check_stochastic_rounding(&self, seed: Option<u64>) -> Result<(), Error> {
        if seed.is_some() && !A::STOCHASTIC {
            return Err(Error::Unsupported {
                optimizer: C::KIND.name(),
                what: "stochastic rounding of parameters other than bf16",
            });
        }
        Ok(())
    }

    pub(crate) fn set_stochastic_rounding(&mut self, seed: Option<u64>) -> Result<(), Error> {
        self.check_stochastic_rounding(seed)?;
        self.stochastic = seed;
        Ok(())
    }

    /// [`Optimizer::state_bytes`](crate::Optimizer::state_bytes), counted without a copy.
    pub(crate) fn state_bytes(&self) -> usize {
        self.slots
            .iter()
            .filter_map(|slot| slot.state.as_ref())
            .map(State::bytes)
            .sum()
    }

    pub(crate) fn save_state(&self) -> OptimizerState<A> {
        OptimizerState {
            format_version: STATE_FORMAT_VERSION,
            element_type: A::NAME.to_string(),
            config: self.config.clone().into_config(),
            step: self.step,
            skipped_steps: self.skipped,
            non_finite_policy: self.non_finite,
            param_groups: self.groups.clone(),
            tensors: self.slots.iter().map(Slot::save).collect(),
            extra: self.saved_extra(),
            master_weights: None,
        }
    }

    /// The stochastic-rounding seed, if any, under [`STOCHASTIC_ROUNDING_SEED`], and the running
    /// values of every group, by `group<g>.<name>`, as the bits of the `f64`.
    fn saved_extra(&self) -> std::collections::BTreeMap<String, u64> {
        let mut extra: std::collections::BTreeMap<String, u64> = self
            .stochastic
            .map(|seed| (STOCHASTIC_ROUNDING_SEED.to_string(), seed))
            .into_iter()
            .collect();
        for (group, (kernel, values)) in self.kernels.iter().zip(&self.accumulated).enumerate() {
            let mut values = values.iter();
            kernel.accumulators(&mut |name, _| {
                if let Some(value) = values.next() {
                    extra.insert(format!("group{group}.{name}"), value.to_bits());
                }
            });
        }
        extra
    }

    /// Replaces everything with a saved state, after checking all of it exactly as building,
    /// `set_param_groups` and the first step would.
    pub(crate) fn load_state(&mut self, mut state: OptimizerState<A>) -> Result<(), Error> {
        if state.format_version != STATE_FORMAT_VERSION {
            return Err(Error::UnsupportedStateFormat {
                version: state.format_version,
                supported: STATE_FORMAT_VERSION,
            });
        }
        if state.element_type != A::NAME {
            return Err(Error::InvalidState {
                tensor: None,
                reason: format!(
                    "saved with {} elements, loaded into an optimizer of {}",
                    state.element_type,
                    A::NAME
                ),
            });
        }
        let found = state.config.kind();
        let Some(config) = C::from_config(state.config) else {
            return Err(Error::WrongOptimizer {
                expected: C::KIND.name(),
                found: found.name().to_string(),
            });
        };
        let invalid = |reason: String| Error::InvalidState {
            tensor: None,
            reason,
        };
        if state.master_weights.is_some() {
            return Err(Error::InvalidState {
                tensor: None,
                reason: "saved with f32 master weights: load it into a MasterWeights".to_string(),
            });
        }
        let stochastic = state.extra.remove(STOCHASTIC_ROUNDING_SEED);
        self.check_stochastic_rounding(stochastic)?;
        // Each group's running values: saved, finite, or at their start before the first step.
        let mut accumulated = Vec::new();
        {
            let mut resolved = Driver::<A, C>::new(config.clone())?;
            resolved.install(config.clone(), Some(state.param_groups.clone()))?;
            for (group, kernel) in resolved.kernels.iter().enumerate() {
                let mut values = Vec::new();
                let mut problem = None;
                kernel.accumulators(&mut |name, start| {
                    let key = format!("group{group}.{name}");
                    let value = match state.extra.remove(&key) {
                        Some(bits) => f64::from_bits(bits),
                        None if state.step == 0 => start,
                        None => {
                            problem.get_or_insert(format!("`{key}` missing"));
                            start
                        }
                    };
                    if !value.is_finite() {
                        problem.get_or_insert(format!("`{key}` is {value}"));
                    }
                    values.push(value);
                });
                if let Some(reason) = problem {
                    return Err(invalid(reason));
                }
                accumulated.push(values);
            }
        }
        if !state.extra.is_empty() {
            return Err(invalid(format!(
                "counters this optimizer does not keep, {:?}: a state saved through a wrapper \
                 (Lookahead, MultiSteps, MasterWeights, a sharded optimizer) loads into the \
                 same wrapper",
                state.extra.keys().collect::<Vec<_>>()
            )));
        }
        if state.step == u64::MAX {
            return Err(invalid("the step counter is at its maximum".to_string()));
        }
        if let Some(groups) = &state.param_groups {
            groups.validate()?;
            if !state.tensors.is_empty() && groups.assignment().len() != state.tensors.len() {
                return Err(Error::GroupLengthMismatch {
                    assigned: groups.assignment().len(),
                    found: state.tensors.len(),
                });
            }
        }
        // Resolve into a scratch driver first: `self` stays untouched until all of it passed.
        let mut resolved = Driver::<A, C>::new(config.clone())?;
        resolved.install(config, Some(state.param_groups))?;
        let mut slots = Vec::with_capacity(state.tensors.len());
        for (index, saved) in state.tensors.into_iter().enumerate() {
            if saved.step > state.step {
                return Err(Error::InvalidState {
                    tensor: Some(index),
                    reason: format!(
                        "the tensor has taken {} steps, the optimizer only {}",
                        saved.step, state.step
                    ),
                });
            }
            let kernel = resolved.kernel_of(index);
            slots.push(Slot::restore(index, saved, kernel, C::KIND.name())?);
        }
        self.config = resolved.config;
        self.groups = resolved.groups;
        self.kernels = resolved.kernels;
        self.rates = resolved.rates;
        self.step = state.step;
        self.skipped = state.skipped_steps;
        self.non_finite = state.non_finite_policy;
        self.stochastic = stochastic;
        self.slots = slots;
        self.accumulated = accumulated;
        self.last = StepOutcome::NotStarted;
        Ok(())
    }
}

/// The kernel of the tensor at `index`: its group's, or the only one.
fn kernel_at<'k, K>(kernels: &'k [K], groups: Option<&ParamGroups>, index: usize) -> &'k K {
    &kernels[groups.map_or(0, |g| g.assignment()[index])]
}

/// The first non-finite element of the first `n` gradients (absent ones skipped), in list order.
fn first_non_finite<A: Float>(grads: &dyn TensorList<A>, n: usize) -> Option<NonFiniteAt> {
    (0..n).find_map(|index| {
        let (element, value) = pass::first_non_finite(grads.tensor(index)?)?;
        Some(NonFiniteAt {
            index,
            element,
            value: value.widen(),
        })
    })
}

/// The key of [`OptimizerState::extra`] that holds the seed of stochastic rounding.
const STOCHASTIC_ROUNDING_SEED: &str = "stochastic_rounding.seed";

/// Working space reused from step to step so that `step` does not allocate; not state, so a
/// clone starts with an empty one.
pub(crate) struct Scratch<T>(pub(crate) Vec<T>);

impl<T> Clone for Scratch<T> {
    fn clone(&self) -> Self {
        Scratch(Vec::new())
    }
}

impl<T> Debug for Scratch<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scratch")
    }
}

/// Defines a public optimizer type around a [`Driver`], implements
/// [`Optimizer`](crate::Optimizer) for it, and gives its configuration a `build` method.
macro_rules! optimizer_type {
    (
        $(#[$meta:meta])*
        $name:ident, $config:ident, $constructor:literal
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug)]
        pub struct $name<A: $crate::Float = f32> {
            driver: $crate::driver::Driver<A, $config>,
        }

        impl<A: $crate::Float> $name<A> {
            /// The hyperparameters in use (the learning rate and momentum as last set).
            ///
            /// # Example
            ///
            /// ```
            #[doc = concat!("use ndarray_optim::{", stringify!($name), ", ", stringify!($config), ", Optimizer};")]
            ///
            #[doc = concat!("let mut opt = ", $constructor, ";")]
            #[doc = concat!("let config: &", stringify!($config), " = opt.config();")]
            /// assert_eq!(config.lr, 0.1);
            /// opt.set_learning_rate(0.05)?; // as a scheduler does
            /// assert_eq!(opt.config().lr, 0.05);
            /// # Ok::<(), ndarray_optim::Error>(())
            /// ```
            pub fn config(&self) -> &$config {
                self.driver.config()
            }
        }

        impl $config {
            #[doc = concat!("Builds a [`", stringify!($name), "`] with these hyperparameters.")]
            ///
            /// # Errors
            ///
            /// [`Error::InvalidHyperparameter`](crate::Error::InvalidHyperparameter) naming the
            /// first value outside its valid range (see the table above).
            pub fn build<A: $crate::Float>(self) -> Result<$name<A>, $crate::Error> {
                $crate::driver::Hyperparameters::validate_new(&self)?;
                Ok($name {
                    driver: $crate::driver::Driver::new(self)?,
                })
            }
        }

        impl<A: $crate::Float> $crate::Optimizer<A> for $name<A> {
            fn step(
                &mut self,
                params: &mut dyn $crate::TensorListMut<A>,
                grads: &dyn $crate::TensorList<A>,
            ) -> Result<(), $crate::Error> {
                self.driver.step(params, grads)
            }
            fn step_reduced(
                &mut self,
                params: &mut dyn $crate::TensorListMut<A>,
                grads: &dyn $crate::TensorList<A>,
                reduce: &mut dyn $crate::distributed::Reduce,
            ) -> Result<(), $crate::Error> {
                self.driver.step_reduced(params, grads, reduce)
            }
            fn check_step(
                &self,
                params: &dyn $crate::TensorList<A>,
                grads: &dyn $crate::TensorList<A>,
            ) -> Result<(), $crate::Error> {
                self.driver.validate(params, grads).map(|_| ())
            }
            fn learning_rate(&self) -> f64 {
                self.driver.learning_rate()
            }
            fn set_learning_rate(&mut self, lr: f64) -> Result<(), $crate::Error> {
                self.driver.set_learning_rate(lr)
            }
            fn momentum(&self) -> Option<f64> {
                self.driver.momentum()
            }
            fn set_momentum(&mut self, momentum: f64) -> Result<(), $crate::Error> {
                self.driver.set_momentum(momentum)
            }
            fn param_groups(&self) -> Option<&$crate::ParamGroups> {
                self.driver.param_groups()
            }
            fn set_param_groups(
                &mut self,
                groups: Option<$crate::ParamGroups>,
            ) -> Result<(), $crate::Error> {
                self.driver.set_param_groups(groups)
            }
            fn group_count(&self) -> usize {
                self.driver.param_groups().map_or(1, |g| g.groups().len())
            }
            fn group_learning_rate(&self, group: usize) -> Option<f64> {
                self.driver.group_learning_rate(group)
            }
            fn set_group_learning_rate(
                &mut self,
                group: usize,
                lr: f64,
            ) -> Result<(), $crate::Error> {
                self.driver.set_group_learning_rate(group, lr)
            }
            fn group_momentum(&self, group: usize) -> Option<f64> {
                self.driver.group_momentum(group)
            }
            fn set_group_momentum(
                &mut self,
                group: usize,
                momentum: f64,
            ) -> Result<(), $crate::Error> {
                self.driver.set_group_momentum(group, momentum)
            }
            fn add_param_group(
                &mut self,
                group: $crate::ParamGroup,
                tensors: usize,
            ) -> Result<usize, $crate::Error> {
                self.driver.add_param_group(group, tensors)
            }
            fn step_count(&self) -> u64 {
                self.driver.step_count()
            }
            fn last_step(&self) -> &$crate::StepOutcome {
                self.driver.last_step()
            }
            fn skipped_steps(&self) -> u64 {
                self.driver.skipped_steps()
            }
            fn reset_state(&mut self) {
                self.driver.reset_state()
            }
            fn non_finite_policy(&self) -> $crate::NonFinitePolicy {
                self.driver.non_finite_policy()
            }
            fn set_non_finite_policy(&mut self, policy: $crate::NonFinitePolicy) {
                self.driver.set_non_finite_policy(policy)
            }
            fn stochastic_rounding(&self) -> Option<u64> {
                self.driver.stochastic_rounding()
            }
            fn set_stochastic_rounding(&mut self, seed: Option<u64>) -> Result<(), $crate::Error> {
                self.driver.set_stochastic_rounding(seed)
            }
            fn name(&self) -> &'static str {
                <$config as $crate::registry::Registered>::KIND.name()
            }
            fn save_state(&self) -> $crate::OptimizerState<A> {
                self.driver.save_state()
            }
            fn state_bytes(&self) -> usize {
                self.driver.state_bytes()
            }
            fn load_state(
                &mut self,
                state: $crate::OptimizerState<A>,
            ) -> Result<(), $crate::Error> {
                self.driver.load_state(state)
            }
            fn clone_box(&self) -> Box<dyn $crate::Optimizer<A>> {
                Box::new(self.clone())
            }
        }
    };
}
pub(crate) use optimizer_type;

/// The momentum accessors of [`Hyperparameters`] for a configuration whose momentum-like
/// hyperparameter is the given field (`momentum`, `betas.0`, `b1`).
macro_rules! momentum_is {
    ($($field:tt)+) => {
        fn momentum(&self) -> Option<f64> {
            Some(self.$($field)+)
        }
        fn set_momentum(&mut self, momentum: f64) {
            self.$($field)+ = momentum;
        }
    };
}
pub(crate) use momentum_is;

/// [`Hyperparameters::largest_step`] of the Adam family, whose step size
/// `lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)` is largest at step 1, at most `lr/(1 − β₁)`.
macro_rules! largest_step_is_adams {
    () => {
        fn largest_step(&self) -> (f64, &'static str) {
            (
                1.0 / (1.0 - self.betas.0),
                "must keep lr/(1 − betas[0]), the first step's size, finite",
            )
        }
    };
}
pub(crate) use largest_step_is_adams;

/// The accessors of [`Hyperparameters`] every configuration with fields `lr` and
/// `weight_decay` writes the same way.
macro_rules! lr_and_weight_decay {
    () => {
        fn learning_rate(&self) -> f64 {
            self.lr
        }
        fn set_learning_rate(&mut self, lr: f64) {
            self.lr = lr;
        }
        fn weight_decay(&self) -> Option<f64> {
            Some(self.weight_decay)
        }
        fn set_weight_decay(&mut self, weight_decay: f64) {
            self.weight_decay = weight_decay;
        }
    };
}
pub(crate) use lr_and_weight_decay;
