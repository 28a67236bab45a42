//! Adagrad: per-parameter step sizes from the sum of all squared gradients, `torch.optim.Adagrad`.

use crate::builder::config;
use crate::check;
use crate::driver::buffers::state;
use crate::driver::{Hyperparameters, Kernel, lr_and_weight_decay, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use num_traits::Float as _;
use crate::ops::{Decay, WeightDecay, addcdiv};
use crate::pass::{Pass, unswitch};

config! {
    /// Hyperparameters of [`Adagrad`]: those of PyTorch's `torch.optim.Adagrad`, with its defaults.
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `lr` | `1e-2` | `≥ 0` |
    /// | `lr_decay` | `0` | `≥ 0` |
    /// | `weight_decay` | `0` (coupled L2) | `≥ 0` |
    /// | `initial_accumulator_value` | `0` | `≥ 0` |
    /// | `eps` | `1e-10` | `> 0` (PyTorch: `≥ 0`; with 0 a zero gradient gives 0/0 = NaN) |
    /// | `maximize` | `false` | |
    ///
    /// Note the defaults differ from optax and Keras (`eps = 1e-7`, initial accumulator `0.1`).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adagrad, AdagradConfig};
    ///
    /// let opt: Adagrad<f32> = AdagradConfig::default().lr(0.1).initial_accumulator_value(0.1).build()?;
    /// assert_eq!(opt.config().eps, 1e-10);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub struct AdagradConfig {
        /// Learning rate `γ`.
        lr: f64 = 1e-2,
        /// Learning-rate decay `η`: step `t` uses `γ / (1 + (t − 1)·η)`.
        lr_decay: f64 = 0.0,
        /// Coupled (L2) weight decay `λ`.
        weight_decay: f64 = 0.0,
        /// Starting value of the sum of squared gradients.
        initial_accumulator_value: f64 = 0.0,
        /// Term `ε` added to the denominator, outside the square root.
        eps: f64 = 1e-10,
        /// Maximise the objective instead of minimising it.
        maximize: bool = false,
    }
}

#[derive(Clone, Copy)]
pub(crate) struct AdagradScalars<A> {
    neg_clr: A,
    eps: A,
    decay: WeightDecay<A>,
}

state! {
    /// Per-tensor state of Adagrad.
    pub(crate) struct AdagradState for AdagradConfig {
        /// The running sum of squared gradients, from `initial_accumulator_value`.
        sum: fill(|k| k.initial_accumulator_value),
    }
}

impl Hyperparameters for AdagradConfig {
    type Kernel = AdagradConfig;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::non_negative("lr_decay", self.lr_decay)?;
        check::non_negative("weight_decay", self.weight_decay)?;
        check::non_negative("initial_accumulator_value", self.initial_accumulator_value)?;
        check::positive("eps", self.eps)
    }
    fn kernel(&self) -> AdagradConfig {
        self.clone()
    }
    lr_and_weight_decay!();
}

impl<A: Float> Kernel<A> for AdagradConfig {
    type State = AdagradState<A>;
    type Scalars = AdagradScalars<A::Compute>;

    fn scalars(&self, step: u64, _sum: f64) -> Self::Scalars {
        // The decay starts on the second step: step 1 uses the full learning rate.
        let clr = self.lr / (1.0 + (step as f64 - 1.0) * self.lr_decay);
        AdagradScalars {
            neg_clr: A::Compute::from_f64(-clr),
            eps: A::Compute::from_f64(self.eps),
            decay: WeightDecay::coupled(self.maximize, self.weight_decay),
        }
    }

    fn update(&self, sc: &Self::Scalars, pass: &mut Pass<'_, A>, state: &mut AdagradState<A>) {
        let AdagradScalars {
            neg_clr,
            eps,
            decay,
        } = *sc;
        unswitch! {
            const MAXIMIZE: bool = decay.maximize();
            const DECAY: Decay = decay.form() => [Decay::None, Decay::Coupled];
            pass.zip1(
                &mut state.sum,
                #[inline(always)]
                move |p, g, sum| {
                    let g = decay.apply(p, g, MAXIMIZE, DECAY);
                    *sum = g.mul_add(g, *sum);
                    let std = sum.sqrt() + eps;
                    *p = addcdiv(*p, neg_clr, g, std);
                },
            )
        }
    }
}

optimizer_type! {
    /// Adagrad (Duchi et al., 2011), PyTorch's `torch.optim.Adagrad`.
    ///
    /// Each parameter's step is divided by the root of the sum of all its squared gradients so
    /// far: parameters with rare or small gradients keep large steps, frequent ones slow down.
    /// The step size only ever shrinks. Per element, at step `t`:
    ///
    /// ```text
    /// g ← −g                                   if maximize
    /// g ← g + λ·p                              if λ ≠ 0
    /// γₜ = γ / (1 + (t − 1)·η)
    /// s ← s + g²                               (s starts at initial_accumulator_value)
    /// p ← p − γₜ·g / (√s + ε)
    /// ```
    ///
    /// Defaults are PyTorch's: see [`AdagradConfig`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Adagrad, Optimizer};
    ///
    /// let mut w = array![1.0_f64, 1.0];
    /// let mut opt = Adagrad::new(0.1)?;
    /// opt.step(&mut w, &array![2.0, -0.5])?;
    /// // The first step moves every element by about γ, whatever its gradient's size.
    /// assert!((w[0] - 0.9).abs() < 1e-9 && (w[1] - 1.1).abs() < 1e-9);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Adagrad, AdagradConfig, "Adagrad::<f32>::new(0.1)?"
}

impl<A: Float> Adagrad<A> {
    /// Adagrad with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adagrad, Optimizer};
    /// assert_eq!(Adagrad::<f32>::new(0.01)?.name(), "Adagrad");
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        AdagradConfig::default().lr(lr).build()
    }
}
