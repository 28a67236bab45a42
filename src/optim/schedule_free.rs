//! What Schedule-Free AdamW and SGD share (Defazio et al., 2024, as the `schedulefree` package
//! computes them): the averaging's schedule from each group's running values, the interpolation
//! of one step, and the methods that give the point to evaluate.

use crate::check;
use crate::error::Error;
use crate::float::Float;
use crate::ops::LerpWeight;

/// What both optimizers share: the schedule of the averaging, from the group's running values.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Averaging {
    pub(crate) lr: f64,
    pub(crate) warmup_steps: u64,
    pub(crate) r: f64,
    pub(crate) weight_lr_power: f64,
}

/// The group's running values, under the package's names: `k` (steps taken), `weight_sum`
/// and `lr_max` (the largest scheduled learning rate so far, −1 before the first step).
pub(crate) const ACCUMULATORS: &[(&str, f64)] =
    &[("k", 0.0), ("weight_sum", 0.0), ("lr_max", -1.0)];

impl Averaging {
    /// The scheduled learning rate of step `k` (0 on the first): linear warmup.
    fn scheduled_lr(&self, k: f64) -> f64 {
        let sched = if k < self.warmup_steps as f64 {
            (k + 1.0) / self.warmup_steps as f64
        } else {
            1.0
        };
        self.lr * sched
    }

    /// The weight of step `k`, from the largest learning rate so far.
    fn weight(&self, k: f64, lr_max: f64) -> f64 {
        (k + 1.0).powf(self.r) * lr_max.powf(self.weight_lr_power)
    }

    /// One step of the running values `[k, weight_sum, lr_max]`, as the package advances them.
    pub(crate) fn accumulate(&self, values: &mut [f64]) {
        let k = values[0];
        let lr = self.scheduled_lr(k);
        // Python's `max(lr, lr_max)`.
        let lr_max = if lr >= values[2] { lr } else { values[2] };
        values[2] = lr_max;
        values[1] += self.weight(k, lr_max);
        values[0] = k + 1.0;
    }

    /// `(k, lr, c)` of the step the running values were just advanced for: `c = weight /
    /// weight_sum` (0 when the sum is 0, the package's `ZeroDivisionError`).
    pub(crate) fn step(&self, values: &[f64]) -> (f64, f64, f64) {
        let k = values[0] - 1.0;
        let weight = self.weight(k, values[2]);
        let c = if values[1] == 0.0 {
            0.0
        } else {
            weight / values[1]
        };
        (k, self.scheduled_lr(k), c)
    }
}

/// The checks both share.
pub(crate) fn check_averaging(a: &Averaging) -> Result<(), Error> {
    check::non_negative("lr", a.lr)?;
    check::non_negative("r", a.r)?;
    check::non_negative("weight_lr_power", a.weight_lr_power)
}

/// `β` strictly inside `(0, 1)`: the average is `x = y + (1 − 1/β)(z − y)`.
pub(crate) fn check_open_unit(name: &'static str, value: f64) -> Result<(), Error> {
    check::require(value > 0.0 && value < 1.0, name, value, "must be in (0, 1)")
}

/// The interpolation and the two steps of one step, in the type of the arithmetic
/// ([`Float::Compute`]).
#[derive(Clone, Copy)]
pub(crate) struct Interpolation<A> {
    /// `y ← lerp(y, z, c)`.
    towards_z: LerpWeight<A>,
    /// `γ(β(1 − c) − 1)`, the step of `y`.
    y_step: A,
    /// `−γ`, the step of `z`.
    neg_lr: A,
    pub(crate) decays: bool,
    weight_decay: A,
}

impl<A: Float> Interpolation<A> {
    pub(crate) fn new(lr: f64, beta: f64, c: f64, weight_decay: f64) -> Self {
        Interpolation {
            towards_z: LerpWeight::new(c),
            y_step: A::from_f64(lr * (beta * (1.0 - c) - 1.0)),
            neg_lr: A::from_f64(-lr),
            decays: weight_decay != 0.0,
            weight_decay: A::from_f64(weight_decay),
        }
    }

    /// The update of `y` and `z` from the direction `u` (before decay).
    #[inline(always)]
    pub(crate) fn apply(&self, y: &mut A, z: &mut A, u: A, decays: bool) {
        // `grad.add_(y, alpha=λ)`, at y before it moves.
        let u = if decays {
            y.mul_add(self.weight_decay, u)
        } else {
            u
        };
        *y = self.towards_z.lerp(*y, *z); // y.lerp_(z, c)
        *y = u.mul_add(self.y_step, *y); // y.add_(u, alpha=γ(β(1 − c) − 1))
        *z = u.mul_add(self.neg_lr, *z); // z.sub_(u, alpha=γ)
    }
}

/// The weight `1 − 1/β` of `x = lerp(y, z, 1 − 1/β)` (`to_x`, `eval_params`) and `1 − β` of
/// `y = lerp(x, z, 1 − β)` (`to_y`).
pub(crate) fn towards_x<A: Float>(beta: f64) -> LerpWeight<A> {
    LerpWeight::new(1.0 - 1.0 / beta)
}

pub(crate) fn towards_y<A: Float>(beta: f64) -> LerpWeight<A> {
    LerpWeight::new(1.0 - beta)
}

/// The methods of a Schedule-Free optimizer whose state has `z` and whose kernel gives `β` by
/// the closure `$beta`: `eval_params`, `to_x`, `to_y`.
macro_rules! schedule_free_methods {
    ($name:ident, $beta:expr) => {
        impl<A: Float> $name<A> {
            /// Writes the point to evaluate, `x = lerp(y, z, 1 − 1/β)` (PyTorch's `eval()`), into
            /// `out`, from the parameters `y`: neither changes anything in the optimizer.
            ///
            /// # Errors
            ///
            /// [`Error::LengthMismatch`] or [`Error::ShapeMismatch`] if `params` or `out` do not
            /// match the tensors the optimizer has stepped (checked before anything is
            /// written).
            pub fn eval_params(
                &self,
                params: &dyn TensorList<A>,
                out: &mut dyn TensorListMut<A>,
            ) -> Result<(), Error> {
                self.check_lists(params, Some(&*out))?;
                for index in 0..params.len() {
                    let (Some(y), Some(x)) = (params.tensor(index), out.tensor_mut(index)) else {
                        unreachable!("checked above");
                    };
                    let y = y.view_dyn();
                    let mut x = x.view_dyn_mut();
                    match self.z_of(index) {
                        Some((z, beta)) => {
                            let w = $crate::optim::schedule_free::towards_x::<A::Compute>(beta);
                            Zip::from(&mut x).and(&y).and(&z).for_each(|x, &y, &z| {
                                *x = A::from_compute(w.lerp(y.to_compute(), z.to_compute()))
                            });
                        }
                        None => x.assign(&y),
                    }
                }
                Ok(())
            }

            /// Moves the parameters from `y` to `x` in place (PyTorch's `optimizer.eval()`).
            ///
            /// The way back, [`to_y`](Self::to_y), rounds again: as in PyTorch, `y` comes
            /// back to within rounding, not bit for bit. Where training
            /// must stay exact (a run compared with another, a resumed one), evaluate a copy
            /// with [`eval_params`](Self::eval_params) instead.
            ///
            /// # Errors
            ///
            /// As [`eval_params`](Self::eval_params).
            pub fn to_x(&self, params: &mut dyn TensorListMut<A>) -> Result<(), Error> {
                self.swap(
                    params,
                    $crate::optim::schedule_free::towards_x::<A::Compute>,
                )
            }

            /// Moves the parameters from `x` back to `y` in place (PyTorch's
            /// `optimizer.train()`), before the next step.
            ///
            /// # Errors
            ///
            /// As [`eval_params`](Self::eval_params).
            pub fn to_y(&self, params: &mut dyn TensorListMut<A>) -> Result<(), Error> {
                self.swap(
                    params,
                    $crate::optim::schedule_free::towards_y::<A::Compute>,
                )
            }

            fn swap(
                &self,
                params: &mut dyn TensorListMut<A>,
                weight: fn(f64) -> $crate::ops::LerpWeight<A::Compute>,
            ) -> Result<(), Error> {
                self.check_lists(&*params, None)?;
                for index in 0..params.len() {
                    if let Some((z, beta)) = self.z_of(index) {
                        let w = weight(beta);
                        let Some(p) = params.tensor_mut(index) else {
                            unreachable!("checked above");
                        };
                        Zip::from(&mut p.view_dyn_mut()).and(&z).for_each(|p, &z| {
                            *p = A::from_compute(w.lerp(p.to_compute(), z.to_compute()))
                        });
                    }
                }
                Ok(())
            }

            /// `z` of a tensor as a view of its shape, and its group's `β`.
            fn z_of(&self, index: usize) -> Option<(ArrayViewD<'_, A>, f64)> {
                let (kernel, slot) = self.driver.tensor(index)?;
                let z = slot.state.as_ref()?.z.as_ref()?;
                let shape = IxDyn(&slot.shape).strides(IxDyn(&slot.strides));
                let view = ArrayViewD::from_shape(shape, z.as_slice()).ok()?;
                let beta: fn(&_) -> f64 = $beta;
                Some((view, beta(kernel)))
            }

            /// The lists have the tensors the optimizer has stepped, with their shapes.
            fn check_lists(
                &self,
                params: &dyn TensorList<A>,
                out: Option<&dyn TensorList<A>>,
            ) -> Result<(), Error> {
                if let Some(out) = out {
                    check::read_inputs(params, out)?;
                }
                self.driver.check_params(params)
            }
        }
    };
}

pub(crate) use schedule_free_methods;
