//! Adadelta: step sizes from the ratio of running averages of updates and gradients,
//! `torch.optim.Adadelta`.

use crate::builder::config;
use crate::check;
use crate::driver::buffers::state;
use crate::driver::{Hyperparameters, Kernel, lr_and_weight_decay, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use num_traits::Float as _;
use crate::ops::{Decay, WeightDecay, addcmul, decayed, descend};
use crate::pass::{Pass, unswitch};

config! {
    /// Hyperparameters of [`Adadelta`]: those of PyTorch's `torch.optim.Adadelta`, with its
    /// defaults.
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `lr` | `1.0` | `≥ 0` |
    /// | `rho` | `0.9` | `[0, 1]` |
    /// | `eps` | `1e-6` | `> 0` (PyTorch: `≥ 0`; with 0 a zero gradient gives 0/0 = NaN) |
    /// | `weight_decay` | `0` (coupled L2) | `≥ 0` |
    /// | `maximize` | `false` | |
    ///
    /// `lr = 1.0` is Zeiler's original method; Keras's defaults differ (`1e-3`, `0.95`, `1e-7`).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adadelta, AdadeltaConfig};
    ///
    /// let opt: Adadelta<f64> = AdadeltaConfig::default().rho(0.95).build()?;
    /// assert_eq!(opt.config().lr, 1.0);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub struct AdadeltaConfig {
        /// Learning rate `γ`, a multiplier of the computed update.
        lr: f64 = 1.0,
        /// Decay `ρ` of both running averages.
        rho: f64 = 0.9,
        /// Term `ε` added inside both square roots.
        eps: f64 = 1e-6,
        /// Coupled (L2) weight decay `λ`.
        weight_decay: f64 = 0.0,
        /// Maximise the objective instead of minimising it.
        maximize: bool = false,
    }
}

#[derive(Clone, Copy)]
pub(crate) struct AdadeltaScalars<A> {
    neg_lr: A,
    rho: A,
    one_minus_rho: A,
    eps: A,
    decay: WeightDecay<A>,
}

state! {
    /// Per-tensor state of Adadelta.
    pub(crate) struct AdadeltaState for AdadeltaConfig {
        /// The running average of squared gradients `v`.
        square_avg: zeros(),
        /// The running average of squared updates `u`.
        acc_delta: zeros(),
    }
}

impl Hyperparameters for AdadeltaConfig {
    type Kernel = AdadeltaConfig;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::unit("rho", self.rho)?;
        check::positive("eps", self.eps)?;
        check::non_negative("weight_decay", self.weight_decay)
    }
    fn kernel(&self) -> AdadeltaConfig {
        self.clone()
    }
    lr_and_weight_decay!();
}

impl<A: Float> Kernel<A> for AdadeltaConfig {
    type State = AdadeltaState<A>;
    type Scalars = AdadeltaScalars<A::Compute>;

    fn scalars(&self, _step: u64, _sum: f64) -> Self::Scalars {
        AdadeltaScalars {
            neg_lr: A::Compute::from_f64(-self.lr),
            rho: A::Compute::from_f64(self.rho),
            one_minus_rho: A::Compute::from_f64(1.0 - self.rho),
            eps: A::Compute::from_f64(self.eps),
            decay: WeightDecay::coupled(self.maximize, self.weight_decay),
        }
    }

    fn update(
        &self,
        sc: &Self::Scalars,
        pass: &mut Pass<'_, A>,
        state: &mut AdadeltaState<A>,
    ) {
        let AdadeltaScalars {
            neg_lr,
            rho,
            one_minus_rho,
            eps,
            decay,
        } = *sc;
        unswitch! {
            const MAXIMIZE: bool = decay.maximize();
            const DECAY: Decay = decay.form() => [Decay::None, Decay::Coupled];
            pass.zip2(
                &mut state.square_avg,
                &mut state.acc_delta,
                #[inline(always)]
                move |p, g, v, u| {
                    let g = decay.apply(p, g, MAXIMIZE, DECAY);
                    *v = addcmul(decayed(*v, rho), one_minus_rho, g, g);
                    let std = (*v + eps).sqrt();
                    let delta = (*u + eps).sqrt() / std * g; // the old u: the previous updates
                    *u = addcmul(decayed(*u, rho), one_minus_rho, delta, delta);
                    *p = descend(*p, delta, neg_lr);
                },
            )
        }
    }
}

optimizer_type! {
    /// Adadelta (Zeiler, 2012), PyTorch's `torch.optim.Adadelta`.
    ///
    /// Like RMSProp it divides by a running root-mean-square of the gradients, and it multiplies
    /// by the running root-mean-square of its own past updates, so the step has the units of the
    /// parameter and needs no tuned learning rate. Per element:
    ///
    /// ```text
    /// g ← −g                                   if maximize
    /// g ← g + λ·p                              if λ ≠ 0
    /// v ← ρ·v + (1 − ρ)·g²
    /// Δ ← √(u + ε) / √(v + ε) · g              (u from the previous step)
    /// u ← ρ·u + (1 − ρ)·Δ²
    /// p ← p − γ·Δ
    /// ```
    ///
    /// `ε` sits inside both square roots. Defaults are PyTorch's: see [`AdadeltaConfig`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Adadelta, Optimizer};
    ///
    /// let mut w = array![1.0_f32];
    /// let mut opt = Adadelta::new(1.0)?;
    /// opt.step(&mut w, &array![1.0])?;
    /// assert!(w[0] < 1.0);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Adadelta, AdadeltaConfig, "Adadelta::<f32>::new(0.1)?"
}

impl<A: Float> Adadelta<A> {
    /// Adadelta with learning rate `lr` (PyTorch's default is `1.0`) and PyTorch's other
    /// defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adadelta, Optimizer};
    /// assert_eq!(Adadelta::<f32>::new(1.0)?.name(), "Adadelta");
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        AdadeltaConfig::default().lr(lr).build()
    }
}
