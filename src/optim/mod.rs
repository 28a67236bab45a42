//! The [`Optimizer`] trait and the bookkeeping every optimizer shares.
//!
//! Each optimizer file holds its configuration (PyTorch's hyperparameters, validated) and its
//! fused element update, the *kernel*. Everything else is here, written once: checking the
//! inputs, creating per-tensor state on the first step, counting steps, and choosing how each
//! tensor is walked ([`pass`]).

use std::fmt::Debug;

use crate::error::Error;
use crate::float::Float;
use crate::tensor::{TensorList, TensorListMut};

mod ops;
pub(crate) mod pass;

mod adadelta;
mod adagrad;
mod adam;
mod lamb;
mod rmsprop;
mod sgd;

pub use adadelta::{Adadelta, AdadeltaConfig};
pub use adagrad::{Adagrad, AdagradConfig};
pub use adam::{Adam, AdamConfig, AdamW};
pub use lamb::{Lamb, LambConfig};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use sgd::{Momentum, Nesterov, Sgd, SgdConfig};

use pass::Pass;

/// An optimizer: updates parameter tensors in place from their gradients.
///
/// The trait is object safe, so a program can choose optimizers at run time
/// (`Vec<Box<dyn Optimizer<f32>>>`). `A` is the element type, `f32` or `f64`.
///
/// # The training loop
///
/// ```
/// use ndarray::{array, Array1};
/// use ndarray_optim::{Adam, Optimizer};
///
/// // Fit w to minimise |w - target|².
/// let target = array![1.0_f32, -2.0, 0.5];
/// let mut w = Array1::<f32>::zeros(3);
/// let mut opt = Adam::new(0.1)?;
/// for _ in 0..300 {
///     let grad = (&w - &target) * 2.0; // ∂/∂w |w - target|²
///     opt.step(&mut w, &grad)?;
/// }
/// assert!((&w - &target).iter().all(|d| d.abs() < 1e-2));
/// assert_eq!(opt.step_count(), 300);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
///
/// # Choosing at run time
///
/// ```
/// use ndarray::Array1;
/// use ndarray_optim::{Adam, Optimizer, RmsProp, Sgd};
///
/// let mut candidates: Vec<Box<dyn Optimizer<f32>>> = vec![
///     Box::new(Sgd::new(0.1)?),
///     Box::new(RmsProp::new(0.01)?),
///     Box::new(Adam::new(0.01)?),
/// ];
/// for opt in &mut candidates {
///     let mut w = Array1::<f32>::ones(4);
///     let g = Array1::<f32>::ones(4);
///     opt.step(&mut w, &g)?;
///     println!("{}: {}", opt.name(), w[0]);
/// }
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
pub trait Optimizer<A: Float>: Debug + Send + Sync {
    /// Updates every parameter tensor in place from the gradient at the same position.
    ///
    /// `params` and `grads` may be one array or view of any dimension, a `Vec`, array or slice
    /// of them, or a tuple of tensors of different ranks (see [`TensorListMut`]). State is kept
    /// per position, created on the first step for the shapes seen then.
    ///
    /// # Errors
    ///
    /// Checked before anything is changed, so on `Err` every parameter and every piece of state
    /// is exactly as it was:
    /// [`LengthMismatch`](Error::LengthMismatch) (counts differ),
    /// [`ShapeMismatch`](Error::ShapeMismatch) (a gradient's shape differs from its parameter's),
    /// [`StateLengthMismatch`](Error::StateLengthMismatch) and
    /// [`StateShapeMismatch`](Error::StateShapeMismatch) (the tensors differ from those the state
    /// was created for), [`NonFiniteGradient`](Error::NonFiniteGradient) (NaN or ±inf in a
    /// gradient, under the default [`NonFinitePolicy::Error`]).
    fn step(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<(), Error>;

    /// The learning rate the next step will use.
    fn learning_rate(&self) -> f64;

    /// Sets the learning rate for the following steps (what a scheduler does).
    ///
    /// # Errors
    ///
    /// [`InvalidHyperparameter`](Error::InvalidHyperparameter) if `lr` is negative or not
    /// finite; the learning rate is then unchanged.
    fn set_learning_rate(&mut self, lr: f64) -> Result<(), Error>;

    /// The momentum-like hyperparameter that cyclic schedules vary: `momentum` for SGD and
    /// RMSProp, `β₁` for Adam, AdamW and LAMB; `None` for optimizers without one.
    fn momentum(&self) -> Option<f64>;

    /// Sets the hyperparameter returned by [`momentum`](Optimizer::momentum).
    ///
    /// # Errors
    ///
    /// [`InvalidHyperparameter`](Error::InvalidHyperparameter) if the value is out of range,
    /// [`Unsupported`](Error::Unsupported) if the optimizer has no momentum.
    fn set_momentum(&mut self, momentum: f64) -> Result<(), Error>;

    /// The number of steps taken since the optimizer was built or its state was reset.
    fn step_count(&self) -> u64;

    /// Drops all per-tensor state and the step counter: the next step starts afresh, as on a
    /// newly built optimizer with the current hyperparameters.
    fn reset_state(&mut self);

    /// What `step` does with NaN or infinite gradients.
    fn non_finite_policy(&self) -> NonFinitePolicy;

    /// Sets what `step` does with NaN or infinite gradients.
    fn set_non_finite_policy(&mut self, policy: NonFinitePolicy);

    /// The optimizer's name, as PyTorch's class would print it (`"Adam"`, `"SGD"`, …).
    fn name(&self) -> &'static str;

    /// A boxed clone, so that `Box<dyn Optimizer<A>>` is `Clone`.
    fn clone_box(&self) -> Box<dyn Optimizer<A>>;
}

impl<A: Float> Clone for Box<dyn Optimizer<A>> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// A boxed optimizer is an optimizer, so `Vec<Box<dyn Optimizer<A>>>` elements can be passed
/// wherever an optimizer is expected (to a scheduler, say).
impl<A: Float, O: Optimizer<A> + ?Sized> Optimizer<A> for Box<O> {
    fn step(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<(), Error> {
        (**self).step(params, grads)
    }
    fn learning_rate(&self) -> f64 {
        (**self).learning_rate()
    }
    fn set_learning_rate(&mut self, lr: f64) -> Result<(), Error> {
        (**self).set_learning_rate(lr)
    }
    fn momentum(&self) -> Option<f64> {
        (**self).momentum()
    }
    fn set_momentum(&mut self, momentum: f64) -> Result<(), Error> {
        (**self).set_momentum(momentum)
    }
    fn step_count(&self) -> u64 {
        (**self).step_count()
    }
    fn reset_state(&mut self) {
        (**self).reset_state()
    }
    fn non_finite_policy(&self) -> NonFinitePolicy {
        (**self).non_finite_policy()
    }
    fn set_non_finite_policy(&mut self, policy: NonFinitePolicy) {
        (**self).set_non_finite_policy(policy)
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn clone_box(&self) -> Box<dyn Optimizer<A>> {
        (**self).clone_box()
    }
}

/// What [`Optimizer::step`] does when a gradient holds NaN or ±infinity.
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::{Error, NonFinitePolicy, Optimizer, Sgd};
///
/// let mut w = array![1.0_f32, 2.0];
/// let bad = array![0.5_f32, f32::NAN];
///
/// let mut checked = Sgd::new(0.1)?;
/// assert!(matches!(checked.step(&mut w, &bad), Err(Error::NonFiniteGradient { .. })));
/// assert_eq!(w, array![1.0, 2.0]);
///
/// let mut unchecked = Sgd::new(0.1)?.with_non_finite_policy(NonFinitePolicy::Unchecked);
/// unchecked.step(&mut w, &bad)?; // as PyTorch: the NaN reaches the parameter
/// assert!(w[1].is_nan());
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NonFinitePolicy {
    /// Check every gradient first; on a NaN or infinity return
    /// [`Error::NonFiniteGradient`] and change nothing. The default. Costs one read of the
    /// gradients per step.
    #[default]
    Error,
    /// No check: non-finite values flow into the state and the parameters, as in PyTorch.
    Unchecked,
}

/// An optimizer's configuration together with its fused update: what each optimizer file
/// provides to the shared [`Driver`].
pub(crate) trait Kernel<A: Float>: Clone + Debug + Send + Sync + 'static {
    /// Per-tensor state (moment buffers), each buffer in the tensor's memory order.
    type State: Clone + Debug + Send + Sync;
    /// The scalars of one step, computed once in `f64` and rounded once to `A`.
    type Scalars;

    fn validate(&self) -> Result<(), Error>;
    fn learning_rate(&self) -> f64;
    fn set_learning_rate(&mut self, lr: f64);
    /// `None` when the optimizer has no momentum-like hyperparameter.
    fn momentum(&self) -> Option<f64>;
    /// Sets the momentum-like hyperparameter; only called when `momentum()` is `Some`.
    fn set_momentum(&mut self, momentum: f64);
    /// Fresh state for a tensor of `len` elements.
    fn new_state(&self, len: usize) -> Self::State;
    /// The scalars of step number `step` (1 on the first step). Sees all gradients, for
    /// optimizers that normalise by a global norm.
    fn scalars(&self, step: u64, grads: &dyn TensorList<A>) -> Self::Scalars;
    /// Updates one tensor and its state.
    fn update(&self, scalars: &Self::Scalars, pass: &mut Pass<'_, A>, state: &mut Self::State);
}

/// The per-tensor state of one parameter and the layout it was created with.
#[derive(Clone, Debug)]
pub(crate) struct Slot<S> {
    shape: Vec<usize>,
    strides: Vec<usize>,
    state: S,
}

/// The bookkeeping shared by every optimizer: validation, lazy per-tensor state, the step count.
#[derive(Clone, Debug)]
pub(crate) struct Driver<A: Float, K: Kernel<A>> {
    pub(crate) config: K,
    step: u64,
    slots: Vec<Slot<K::State>>,
    non_finite: NonFinitePolicy,
    _element: std::marker::PhantomData<A>,
}

impl<A: Float, K: Kernel<A>> Driver<A, K> {
    pub(crate) fn new(config: K) -> Result<Self, Error> {
        config.validate()?;
        Ok(Driver {
            config,
            step: 0,
            slots: Vec::new(),
            non_finite: NonFinitePolicy::default(),
            _element: std::marker::PhantomData,
        })
    }

    /// Every check `step` makes, before anything changes.
    fn validate(
        &self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<(), Error> {
        let n = params.len();
        if grads.len() != n {
            return Err(Error::LengthMismatch {
                params: n,
                grads: grads.len(),
            });
        }
        if !self.slots.is_empty() && self.slots.len() != n {
            return Err(Error::StateLengthMismatch {
                expected: self.slots.len(),
                found: n,
            });
        }
        for index in 0..n {
            let (p, g) = tensor_pair(params, grads, index)?;
            if p.shape() != g.shape() {
                return Err(Error::ShapeMismatch {
                    index,
                    param: p.shape().to_vec(),
                    grad: g.shape().to_vec(),
                });
            }
            if let Some(slot) = self.slots.get(index)
                && slot.shape != p.shape()
            {
                return Err(Error::StateShapeMismatch {
                    index,
                    expected: slot.shape.clone(),
                    found: p.shape().to_vec(),
                });
            }
        }
        if self.non_finite == NonFinitePolicy::Error {
            for index in 0..n {
                let g = grads.tensor(index).ok_or(Error::LengthMismatch {
                    params: n,
                    grads: index,
                })?;
                if let Some((element, value)) = pass::first_non_finite(g) {
                    return Err(Error::NonFiniteGradient {
                        index,
                        element,
                        value: value.widen(),
                    });
                }
            }
        }
        Ok(())
    }

    pub(crate) fn step(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &dyn TensorList<A>,
    ) -> Result<(), Error> {
        self.validate(params, grads)?;
        let n = params.len();
        if self.slots.is_empty() {
            self.slots.reserve_exact(n);
            for index in 0..n {
                let (p, _) = tensor_pair(params, grads, index)?;
                let len = p.shape().iter().product();
                self.slots.push(Slot {
                    shape: p.shape().to_vec(),
                    strides: pass::state_strides(p.shape(), p.strides()),
                    state: self.config.new_state(len),
                });
            }
        }
        self.step += 1;
        let scalars = self.config.scalars(self.step, grads);
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if slot.shape.contains(&0) {
                continue; // no elements, nothing to update
            }
            let (p, g) = tensor_pair(params, grads, index)?;
            let mut pass = Pass::new(p, g, &slot.strides);
            self.config.update(&scalars, &mut pass, &mut slot.state);
        }
        Ok(())
    }

    pub(crate) fn set_learning_rate(&mut self, lr: f64) -> Result<(), Error> {
        check::non_negative("lr", lr)?;
        self.config.set_learning_rate(lr);
        Ok(())
    }

    pub(crate) fn set_momentum(
        &mut self,
        momentum: f64,
        optimizer: &'static str,
    ) -> Result<(), Error> {
        if self.config.momentum().is_none() {
            return Err(Error::Unsupported {
                optimizer,
                what: "a momentum hyperparameter",
            });
        }
        let mut candidate = self.config.clone();
        candidate.set_momentum(momentum);
        candidate.validate()?;
        self.config = candidate;
        Ok(())
    }

    pub(crate) fn step_count(&self) -> u64 {
        self.step
    }

    pub(crate) fn reset_state(&mut self) {
        self.slots.clear();
        self.step = 0;
    }

    pub(crate) fn non_finite_policy(&self) -> NonFinitePolicy {
        self.non_finite
    }

    pub(crate) fn set_non_finite_policy(&mut self, policy: NonFinitePolicy) {
        self.non_finite = policy;
    }
}

/// The parameter and gradient at `index`; a list that claims more tensors than it yields is an
/// error rather than a panic.
fn tensor_pair<'a, A>(
    params: &'a mut dyn TensorListMut<A>,
    grads: &'a dyn TensorList<A>,
    index: usize,
) -> Result<(&'a mut dyn crate::TensorMut<A>, &'a dyn crate::Tensor<A>), Error> {
    let (n_params, n_grads) = (params.len(), grads.len());
    match (params.tensor_mut(index), grads.tensor(index)) {
        (Some(p), Some(g)) => Ok((p, g)),
        _ => Err(Error::LengthMismatch {
            params: n_params,
            grads: n_grads,
        }),
    }
}

/// Hyperparameter checks shared by the configurations.
pub(crate) mod check {
    use crate::error::Error;

    /// `value ≥ 0` and finite.
    pub(crate) fn non_negative(name: &'static str, value: f64) -> Result<(), Error> {
        if value.is_finite() && value >= 0.0 {
            Ok(())
        } else {
            Err(Error::InvalidHyperparameter {
                name,
                value,
                requirement: "must be finite and >= 0",
            })
        }
    }

    /// `value > 0` and finite.
    pub(crate) fn positive(name: &'static str, value: f64) -> Result<(), Error> {
        if value.is_finite() && value > 0.0 {
            Ok(())
        } else {
            Err(Error::InvalidHyperparameter {
                name,
                value,
                requirement: "must be finite and > 0",
            })
        }
    }

    /// `0 ≤ value < 1`.
    pub(crate) fn beta(name: &'static str, value: f64) -> Result<(), Error> {
        if (0.0..1.0).contains(&value) {
            Ok(())
        } else {
            Err(Error::InvalidHyperparameter {
                name,
                value,
                requirement: "must be in [0, 1)",
            })
        }
    }

    /// `0 ≤ value ≤ 1`.
    pub(crate) fn unit(name: &'static str, value: f64) -> Result<(), Error> {
        if (0.0..=1.0).contains(&value) {
            Ok(())
        } else {
            Err(Error::InvalidHyperparameter {
                name,
                value,
                requirement: "must be in [0, 1]",
            })
        }
    }
}

/// Defines a public optimizer type around a [`Driver`] and implements [`Optimizer`] for it.
macro_rules! optimizer_type {
    (
        $(#[$meta:meta])*
        $name:ident, $config:ty, $display:literal
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug)]
        pub struct $name<A: $crate::Float = f32> {
            driver: $crate::optim::Driver<A, $config>,
        }

        impl<A: $crate::Float> $name<A> {
            /// The hyperparameters in use (the learning rate and momentum as last set).
            pub fn config(&self) -> &$config {
                &self.driver.config
            }

            /// Sets the [`NonFinitePolicy`](crate::NonFinitePolicy), builder style.
            pub fn with_non_finite_policy(mut self, policy: $crate::NonFinitePolicy) -> Self {
                self.driver.set_non_finite_policy(policy);
                self
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
            fn learning_rate(&self) -> f64 {
                $crate::optim::Kernel::<A>::learning_rate(&self.driver.config)
            }
            fn set_learning_rate(&mut self, lr: f64) -> Result<(), $crate::Error> {
                self.driver.set_learning_rate(lr)
            }
            fn momentum(&self) -> Option<f64> {
                $crate::optim::Kernel::<A>::momentum(&self.driver.config)
            }
            fn set_momentum(&mut self, momentum: f64) -> Result<(), $crate::Error> {
                self.driver.set_momentum(momentum, $display)
            }
            fn step_count(&self) -> u64 {
                self.driver.step_count()
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
            fn name(&self) -> &'static str {
                $display
            }
            fn clone_box(&self) -> Box<dyn $crate::Optimizer<A>> {
                Box::new(self.clone())
            }
        }
    };
}
pub(crate) use optimizer_type;
