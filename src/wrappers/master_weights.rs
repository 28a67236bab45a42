//! `f32` master weights for `bf16` and `f16` parameters.

use std::marker::PhantomData;

use ndarray::{ArrayD, Zip};

use crate::check;
use crate::distributed::{Local, Reduce};
use crate::error::Error;
use crate::float::Float;
use crate::float::random::stream_key;
use crate::optimizer::{Optimizer, StepOutcome};
use crate::state::OptimizerState;
use crate::tensor::{Tensor, TensorList, TensorListMut};

/// The buffer of each tensor's saved `f32` state that holds its master copy.
const MASTER: &str = "master_weight";
/// The key of [`OptimizerState::extra`] for the seed of stochastic rounding.
const SEED: &str = "master_weights.stochastic_rounding.seed";

/// `f32` master weights for `bf16` or `f16` parameters, as mixed-precision training keeps
/// them: an `f32` optimizer (`O`, any [`Optimizer<f32>`]) keeps an `f32` copy of every
/// parameter and its state in `f32`; each step widens the gradients to `f32`, steps the copies,
/// and writes the 16-bit parameters from them, rounded to nearest (or stochastically, for
/// `bf16`: [`set_stochastic_rounding`](Optimizer::set_stochastic_rounding)). Updates far below
/// the 16-bit type's resolution accumulate in the copies instead of being rounded away.
///
/// Memory per parameter (Adam): 4 bytes of master copy and 8 of state, beside the 2 of the
/// parameter itself, against 4 of `bf16` state without master weights.
///
/// The copies are made from the parameters on the first step. [`save_state`](Optimizer::save_state)
/// returns the inner optimizer's summary (kind, hyperparameters, counters, groups) with its
/// whole `f32` state, the copies included, in
/// [`OptimizerState::master_weights`]; only a `MasterWeights` loads it.
///
/// # Example
///
/// ```
/// # #[cfg(feature = "half")] {
/// use half::bf16;
/// use ndarray::Array1;
/// use ndarray_optim::{MasterWeights, Optimizer, Sgd};
///
/// // 100 steps of 1e-4 on 1.0: each far under a bf16 ulp (2⁻⁷).
/// let g = Array1::from_elem(3, bf16::from_f32(1e-4));
/// let mut w = Array1::from_elem(3, bf16::ONE);
/// let mut opt = MasterWeights::<bf16, _>::new(Sgd::<f32>::new(1.0)?);
/// for _ in 0..100 {
///     opt.step(&mut w, &g)?;
/// }
/// // The f32 copy reached 0.99 (as f32 SGD does); the bf16 parameter is its nearest bf16.
/// assert_eq!(w[0], bf16::from_f32(0.99));
/// # }
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct MasterWeights<A: Float<Compute = f32>, O: Optimizer<f32>> {
    inner: O,
    /// The `f32` copy of every parameter, row-major; empty before the first step.
    master: Vec<ArrayD<f32>>,
    /// The gradients widened to `f32`, reused from step to step, and which are absent.
    grads: Vec<ArrayD<f32>>,
    absent: Vec<bool>,
    /// The seed of stochastic rounding of the written parameters (`bf16`), if it is on.
    stochastic: Option<u64>,
    element: PhantomData<fn() -> A>,
}

impl<A: Float<Compute = f32>, O: Optimizer<f32>> MasterWeights<A, O> {
    /// Master weights around `inner`, the optimizer of the `f32` copies.
    ///
    /// # Example
    ///
    /// ```
    /// # #[cfg(feature = "half")] {
    /// use half::f16;
    /// use ndarray_optim::{AdamW, MasterWeights, Optimizer};
    ///
    /// let opt = MasterWeights::<f16, _>::new(AdamW::<f32>::new(1e-3)?);
    /// assert_eq!(opt.name(), "AdamW");
    /// # }
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(inner: O) -> Self {
        MasterWeights {
            inner,
            master: Vec::new(),
            grads: Vec::new(),
            absent: Vec::new(),
            stochastic: None,
            element: PhantomData,
        }
    }

    /// The optimizer of the `f32` copies.
    ///
    /// # Example
    ///
    /// ```
    /// # #[cfg(feature = "half")] {
    /// use half::bf16;
    /// use ndarray_optim::{Adam, MasterWeights, Optimizer};
    ///
    /// let opt = MasterWeights::<bf16, _>::new(Adam::<f32>::new(1e-3)?);
    /// assert_eq!(opt.inner().config().lr, 1e-3);
    /// # }
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn inner(&self) -> &O {
        &self.inner
    }

    /// The `f32` copies of the parameters, in position order (empty before the first step).
    ///
    /// # Example
    ///
    /// ```
    /// # #[cfg(feature = "half")] {
    /// use half::bf16;
    /// use ndarray::array;
    /// use ndarray_optim::{MasterWeights, Optimizer, Sgd};
    ///
    /// let mut opt = MasterWeights::<bf16, _>::new(Sgd::<f32>::new(1.0)?);
    /// let mut w = array![bf16::ONE];
    /// opt.step(&mut w, &array![bf16::from_f32(1e-3)])?;
    /// assert_eq!(opt.master_weights()[0][[0]], 1.0 - bf16::from_f32(1e-3).to_f32());
    /// # }
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn master_weights(&self) -> &[ArrayD<f32>] {
        &self.master
    }

    /// Checks everything a step checks, before anything changes: the lists, the copies'
    /// shapes against the parameters', and the inner optimizer's own checks.
    fn check(&self, params: &dyn TensorList<A>, grads: &dyn TensorList<A>) -> Result<usize, Error> {
        let n = check::read_inputs(params, grads)?;
        if !self.master.is_empty() {
            if self.master.len() != n {
                return Err(Error::StateLengthMismatch {
                    expected: self.master.len(),
                    found: n,
                });
            }
            for (index, copy) in self.master.iter().enumerate() {
                let p = params.tensor(index).expect("checked by read_inputs");
                if copy.shape() != p.shape() {
                    return Err(Error::StateShapeMismatch {
                        index,
                        expected: copy.shape().to_vec(),
                        found: p.shape().to_vec(),
                    });
                }
            }
        }
        Ok(n)
    }

    /// Widens the gradients into the reused `f32` buffers (allocating only for new shapes; an
    /// absent gradient's buffer keeps the parameter's shape).
    fn widen_grads(&mut self, params: &dyn TensorList<A>, grads: &dyn TensorList<A>, n: usize) {
        self.grads.truncate(n);
        self.absent.clear();
        for index in 0..n {
            let absent = grads.absent(index);
            self.absent.push(absent);
            let g = grads.tensor(index);
            let shape = params
                .tensor(index)
                .expect("checked by read_inputs")
                .shape();
            if self.grads.len() <= index {
                self.grads.push(ArrayD::zeros(shape));
            } else if self.grads[index].shape() != shape {
                self.grads[index] = ArrayD::zeros(shape);
            }
            if let Some(g) = g.filter(|_| !absent) {
                widen(&mut self.grads[index], g);
            }
        }
    }
}

/// `out = x` widened exactly to `f32`, element by element in logical order.
fn widen<A: Float<Compute = f32>>(out: &mut ArrayD<f32>, x: &dyn Tensor<A>) {
    Zip::from(out)
        .and(&x.view_dyn())
        .for_each(|o, &x| *o = x.to_compute());
}

/// The widened gradients as a list, absent where the caller's are.
struct Widened<'a> {
    grads: &'a [ArrayD<f32>],
    absent: &'a [bool],
}

impl TensorList<f32> for Widened<'_> {
    fn len(&self) -> usize {
        self.grads.len()
    }
    fn tensor(&self, index: usize) -> Option<&dyn Tensor<f32>> {
        self.grads.get(index).map(|g| g as &dyn Tensor<f32>)
    }
    fn absent(&self, index: usize) -> bool {
        self.absent.get(index).copied().unwrap_or(false)
    }
}

impl<A: Float<Compute = f32>, O: Optimizer<f32> + Clone + 'static> Optimizer<A>
    for MasterWeights<A, O>
{
    /// Widens the gradients, steps the `f32` copies with the inner optimizer and, if it
    /// applied the step, writes every parameter that had a gradient from its copy. The copies
    /// are made on the first step. On error nothing changes.
    fn step(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<(), Error> {
        self.step_reduced(params, grads, &mut Local)
    }

    /// [`step`](Optimizer::step) over part of a model (see [`Reduce`]): the inner optimizer
    /// steps the copies through `reduce`; stochastic rounding draws each tensor's bits by its
    /// position in the model.
    fn step_reduced(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
        reduce: &mut dyn Reduce,
    ) -> Result<(), Error> {
        let checks = self.check(&*params, grads).and_then(|n| {
            check::step_inputs(params, grads)?;
            Ok(n)
        });
        let n = super::checked_before_rounds(reduce, checks)?;
        self.widen_grads(&*params, grads, n);
        let fresh = self.master.is_empty();
        if fresh {
            self.master = (0..n)
                .map(|index| {
                    let p = params.tensor(index).expect("checked");
                    let mut copy = ArrayD::zeros(p.shape());
                    widen(&mut copy, p);
                    copy
                })
                .collect();
        }
        let widened = Widened {
            grads: &self.grads,
            absent: &self.absent,
        };
        if let Err(e) = self.inner.step_reduced(&mut self.master, &widened, reduce) {
            if fresh {
                self.master.clear(); // made by this call: gone with it
            }
            return Err(e);
        }
        if !matches!(self.inner.last_step(), StepOutcome::Applied) {
            if fresh {
                // Skipped or only accumulated: the parameters have not moved, and the copies
                // are made from them again at the next step.
                self.master.clear();
            }
            return Ok(());
        }
        let step = self.inner.step_count();
        for (index, copy) in self.master.iter().enumerate() {
            if self.absent[index] {
                continue;
            }
            let p = params.tensor_mut(index).expect("checked");
            let mut view = p.view_dyn_mut();
            let key = self
                .stochastic
                .map(|seed| stream_key(seed, step, reduce.model_index(index)));
            // The copies are row-major: an element's random bits are those of its logical
            // position. The store is the optimizers' (`pass::with_store!`).
            let copy = copy.as_slice().expect("row-major by construction");
            crate::pass::with_store!(A, key, |store| {
                for (i, (p, &x)) in view.iter_mut().zip(copy).enumerate() {
                    *p = store(x, i);
                }
            })
        }
        Ok(())
    }

    fn check_step(
        &self,
        params: &dyn TensorList<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<(), Error> {
        let n = self.check(params, grads)?;
        // The inner optimizer's checks on widened copies of everything (allocated here: a
        // check is not a step).
        let widen_all = |list: &dyn TensorList<A>| -> Vec<ArrayD<f32>> {
            (0..n)
                .map(|index| {
                    let shape = params
                        .tensor(index)
                        .expect("checked by read_inputs")
                        .shape();
                    let mut out = ArrayD::zeros(shape);
                    if let Some(t) = list.tensor(index).filter(|_| !list.absent(index)) {
                        widen(&mut out, t);
                    }
                    out
                })
                .collect()
        };
        let master = if self.master.is_empty() {
            widen_all(params)
        } else {
            self.master.clone()
        };
        let absent: Vec<bool> = (0..n).map(|index| grads.absent(index)).collect();
        let widened = widen_all(grads);
        let list = Widened {
            grads: &widened,
            absent: &absent,
        };
        self.inner.check_step(&master, &list)
    }
    forward_to_inner!(
        inner: learning_rate,
        set_learning_rate,
        momentum,
        set_momentum,
        param_groups,
        set_param_groups,
        group_count,
        group_learning_rate,
        set_group_learning_rate,
        group_momentum,
        set_group_momentum,
        add_param_group,
        step_count,
        last_step,
        skipped_steps,
        non_finite_policy,
        set_non_finite_policy,
        name
    );
    /// Forgets the copies too: the next step makes them anew from the parameters.
    fn reset_state(&mut self) {
        self.inner.reset_state();
        self.master.clear();
    }
    fn stochastic_rounding(&self) -> Option<u64> {
        self.stochastic
    }
    /// Stochastic rounding of the parameters written from the copies (`bf16` only; the
    /// copies themselves are exact).
    fn set_stochastic_rounding(&mut self, seed: Option<u64>) -> Result<(), Error> {
        if seed.is_some() && !A::STOCHASTIC {
            return Err(Error::Unsupported {
                optimizer: self.inner.name(),
                what: "stochastic rounding of parameters other than bf16",
            });
        }
        self.stochastic = seed;
        Ok(())
    }
    /// The inner optimizer's summary with its whole `f32` state in
    /// [`master_weights`](OptimizerState::master_weights): each tensor's copy as its buffer
    /// `master_weight`, and the seed of stochastic rounding in `extra`.
    fn save_state(&self) -> OptimizerState<A> {
        let mut inner = self.inner.save_state();
        for (index, copy) in self.master.iter().enumerate() {
            if index >= inner.tensors.len() {
                inner.tensors.push(crate::state::TensorState {
                    name: None,
                    shape: copy.shape().to_vec(),
                    step: 0,
                    buffers: Default::default(),
                    scalars: Default::default(),
                    quantized: Default::default(),
                });
            }
            inner.tensors[index]
                .buffers
                .insert(MASTER.to_string(), copy.clone());
        }
        if let Some(seed) = self.stochastic {
            inner.extra.insert(SEED.to_string(), seed);
        }
        OptimizerState::with_master_weights(inner)
    }
    /// Loads a state saved by a `MasterWeights` of the same element type and inner kind;
    /// everything is checked (by the inner optimizer too) before anything changes.
    ///
    /// # Errors
    ///
    /// [`InvalidState`](Error::InvalidState) for a state without master weights, copies
    /// missing from some tensors or of another shape, or a seed of stochastic rounding for a
    /// type without it; any error of the inner optimizer's `load_state`.
    fn load_state(&mut self, state: OptimizerState<A>) -> Result<(), Error> {
        let invalid = |tensor, reason: &str| Error::InvalidState {
            tensor,
            reason: reason.to_string(),
        };
        if state.element_type != A::NAME {
            return Err(invalid(None, "saved for another element type"));
        }
        let Some(mut inner) = state.master_weights.map(|b| *b) else {
            return Err(invalid(
                None,
                "no master weights: saved by an optimizer without them",
            ));
        };
        let seed = inner.extra.remove(SEED);
        if seed.is_some() && !A::STOCHASTIC {
            return Err(invalid(None, "stochastic rounding of a type without it"));
        }
        let mut master = Vec::with_capacity(inner.tensors.len());
        for (index, tensor) in inner.tensors.iter_mut().enumerate() {
            let Some(copy) = tensor.buffers.remove(MASTER) else {
                return Err(invalid(Some(index), "no master weight"));
            };
            if copy.shape() != tensor.shape.as_slice() {
                return Err(invalid(Some(index), "a master weight of another shape"));
            }
            master.push(copy.as_standard_layout().into_owned());
        }
        let mut trial = self.inner.clone();
        trial.load_state(inner)?;
        self.inner = trial;
        self.master = master;
        self.stochastic = seed;
        Ok(())
    }
    fn clone_box(&self) -> Box<dyn Optimizer<A>> {
        Box::new(self.clone())
    }
}
