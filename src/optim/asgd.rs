//! Averaged SGD: `torch.optim.ASGD`.

use crate::builder::config;
use crate::check;
use crate::driver::buffers::state;
use crate::driver::{Hyperparameters, Kernel, lr_and_weight_decay, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use crate::ops::{Decay, WeightDecay, descend};
use crate::pass::{Pass, unswitch};
use crate::tensor::TensorListMut;

config! {
    /// Hyperparameters of [`Asgd`]: those of PyTorch's `torch.optim.ASGD`, with its defaults.
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `lr` | `1e-2` | `≥ 0` |
    /// | `lambd` | `1e-4` | `≥ 0`: the decay of the step size `η` |
    /// | `alpha` | `0.75` | `≥ 0`: the power of that decay |
    /// | `t0` | `1e6` | finite: the step after which averaging starts |
    /// | `weight_decay` | `0` | `≥ 0` (L2, into the gradient) |
    /// | `maximize` | `false` | |
    ///
    /// With the default `t0 = 1e6` the average is the parameter itself for the first million
    /// steps, and ASGD is SGD whose step size decays slowly (`η = 0.9926·γ` at step 10⁴): set
    /// `t0` to the step where averaging should begin.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{AsgdConfig, Optimizer};
    ///
    /// let opt = AsgdConfig::default().lr(0.05).t0(100.0).build::<f32>()?;
    /// assert_eq!(opt.name(), "ASGD");
    /// assert!(AsgdConfig::default().lambd(-1.0).build::<f32>().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub struct AsgdConfig {
        /// Learning rate `γ`.
        lr: f64 = 1e-2,
        /// Decay term `λ` of the step size.
        lambd: f64 = 1e-4,
        /// Power `α` of the step size's decay.
        alpha: f64 = 0.75,
        /// The step `t₀` after which the parameters are averaged.
        t0: f64 = 1e6,
        /// Weight decay (L2 penalty) `w`.
        weight_decay: f64 = 0.0,
        /// Maximise the objective instead of minimising it.
        maximize: bool = false,
    }
}

impl Hyperparameters for AsgdConfig {
    type Kernel = AsgdConfig;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::non_negative("lambd", self.lambd)?;
        check::non_negative("alpha", self.alpha)?;
        check::require(self.t0.is_finite(), "t0", self.t0, "must be finite")?;
        check::non_negative("weight_decay", self.weight_decay)
    }
    fn kernel(&self) -> AsgdConfig {
        self.clone()
    }
    lr_and_weight_decay!();
}

#[derive(Clone, Copy)]
pub(crate) struct AsgdScalars<A> {
    lambd: f64,
    /// `η` and `μ` for the next step, from this step's count (PyTorch's `step_t.item()`).
    next_eta: f32,
    next_mu: f32,
    decay: WeightDecay<A>,
}

state! {
    /// Per-tensor state of ASGD.
    pub(crate) struct AsgdState for AsgdConfig {
        /// The averaged iterate `ā`.
        ax: zeros(),
        /// The step size `η` of the next step (an `f32`, as PyTorch keeps it).
        eta: scalar(|k| k.lr as f32, 0.0..=f64::INFINITY),
        /// The averaging weight `μ` of the next step (an `f32`).
        mu: scalar(|_| 1.0, 0.0..=1.0),
    }
}

impl<A: Float> Kernel<A> for AsgdConfig {
    type State = AsgdState<A>;
    type Scalars = AsgdScalars<A::Compute>;

    fn scalars(&self, step: u64, _sum: f64) -> Self::Scalars {
        let s = step as f64;
        AsgdScalars {
            lambd: self.lambd,
            next_eta: (self.lr / (1.0 + self.lambd * self.lr * s).powf(self.alpha)) as f32,
            next_mu: (1.0 / f64::max(1.0, s - self.t0)) as f32,
            decay: WeightDecay::coupled(self.maximize, self.weight_decay),
        }
    }

    fn update(&self, sc: &Self::Scalars, pass: &mut Pass<'_, A>, state: &mut AsgdState<A>) {
        let eta = f64::from(state.eta);
        let shrink = A::Compute::from_f64(1.0 - sc.lambd * eta);
        let neg_eta = A::Compute::from_f64(-eta);
        let decay = sc.decay;
        // `mu.item() != 1`: PyTorch copies the parameter until averaging starts.
        #[allow(clippy::float_cmp)] // exactly PyTorch's test
        let copy = state.mu == 1.0;
        let mu = A::Compute::from_f64(f64::from(state.mu));
        unswitch! {
            const MAXIMIZE: bool = decay.maximize();
            const DECAY: Decay = decay.form() => [Decay::None, Decay::Coupled];
            const COPY: bool = copy;
            pass.zip1(
                &mut state.ax,
                #[inline(always)]
                move |p, g, ax| {
                    let g = decay.apply(p, g, MAXIMIZE, DECAY);
                    *p = descend(*p * shrink, g, neg_eta);
                    *ax = if COPY {
                        *p
                    } else {
                        // `ax.add_(param.sub(ax).mul_(mu))`: three roundings.
                        *ax + (*p - *ax) * mu
                    };
                },
            )
        }
        // Computed after the update: step t runs with the η and μ of step t − 1.
        state.eta = sc.next_eta;
        state.mu = sc.next_mu;
    }
}

optimizer_type! {
    /// Averaged stochastic gradient descent (Polyak & Juditsky, 1992): PyTorch's
    /// `torch.optim.ASGD`.
    ///
    /// SGD with a slowly decaying step size `η`, which also keeps a running average `ā` of the
    /// iterates from step `t₀` on: the average of a noisy SGD trajectory lies closer to the
    /// minimum than its last point. The average is the model to evaluate; copy it out with
    /// [`Asgd::averaged_into`]. Per tensor, at step `t` (`η` starts at `γ`, `μ` at 1):
    ///
    /// ```text
    /// g ← −g                                   if maximize
    /// g ← g + w·p                              if w ≠ 0
    /// p ← p·(1 − λη)
    /// p ← p − η·g
    /// ā ← ā + μ·(p − ā)                        (ā ← p while μ = 1)
    /// η ← γ / (1 + λγt)^α                      for the next step
    /// μ ← 1 / max(1, t − t₀)                   for the next step
    /// ```
    ///
    /// As in PyTorch, `η` and `μ` are kept per tensor as `f32` scalars (PyTorch's default
    /// scalar type) whatever the element type, `η` and `μ` are updated after the step (step
    /// `t` uses the values of step `t − 1`), and `η` starts at the learning rate of the step
    /// that creates the tensor's state; a schedule changes `γ` in the later updates of `η`.
    /// Defaults are PyTorch's: see [`AsgdConfig`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{AsgdConfig, Optimizer};
    ///
    /// let mut opt = AsgdConfig::default().lr(0.1).lambd(0.0).t0(0.0).build::<f64>()?;
    /// let mut w = array![1.0_f64];
    /// opt.step(&mut w, &array![1.0])?; // w = 0.9; the average starts as a copy
    /// opt.step(&mut w, &array![1.0])?; // w = 0.8; μ = 1/max(1, 1 − 0) = 1: still a copy
    /// opt.step(&mut w, &array![1.0])?; // w = 0.7; μ = 1/max(1, 2) = 1/2
    /// let mut average = array![0.0_f64];
    /// opt.averaged_into(&mut average)?;
    /// // η is an f32, as in PyTorch: f32(0.1) = 0.1 + 1.5e-9.
    /// assert!((w[0] - 0.7).abs() < 1e-8 && (average[0] - 0.75).abs() < 1e-8);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Asgd, AsgdConfig, "Asgd::<f32>::new(0.1)?"
}

impl<A: Float> Asgd<A> {
    /// ASGD with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::Asgd;
    /// assert_eq!(Asgd::<f32>::new(0.01)?.config().t0, 1e6);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        AsgdConfig::default().lr(lr).build()
    }

    /// Copies the averaged iterate `ā` (PyTorch's `state["ax"]`) of every tensor into `out`,
    /// which must hold tensors of the parameters' shapes (in any memory layout): the model to
    /// evaluate.
    ///
    /// # Errors
    ///
    /// [`Error::NotStarted`] before the first step; [`Error::StateLengthMismatch`] or
    /// [`Error::StateShapeMismatch`] if `out` does not hold the parameters' tensors;
    /// [`Error::InconsistentTensor`] for a list that contradicts itself. Nothing is written
    /// then.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{array, Array1, Array2};
    /// use ndarray_optim::{Asgd, Error, Optimizer};
    ///
    /// let (mut w, mut b) = (Array2::<f32>::ones((2, 2)), Array1::<f32>::ones(2));
    /// let mut opt = Asgd::new(0.1)?;
    /// opt.step(&mut (&mut w, &mut b), &(&Array2::ones((2, 2)), &Array1::ones(2)))?;
    /// let (mut w_avg, mut b_avg) = (Array2::<f32>::zeros((2, 2)), Array1::<f32>::zeros(2));
    /// opt.averaged_into(&mut (&mut w_avg, &mut b_avg))?;
    /// assert_eq!(w_avg, w); // before t₀ the average is the parameter itself
    /// assert!(matches!(opt.averaged_into(&mut w_avg), Err(Error::StateLengthMismatch { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn averaged_into(&self, out: &mut dyn TensorListMut<A>) -> Result<(), Error> {
        self.driver
            .copy_state_into(out, "averaged iterate `ax`", |state| &state.ax)
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // bit-exact on purpose
mod tests {
    use super::*;
    use crate::Optimizer;
    use ndarray::array;

    #[test]
    fn eta_decays_after_the_step_and_is_an_f32() {
        let mut opt = AsgdConfig::default()
            .lr(0.1)
            .lambd(0.5)
            .build::<f64>()
            .unwrap();
        let mut w = array![0.0_f64];
        opt.step(&mut w, &array![1.0]).unwrap();
        // Step 1 uses η = f32(0.1), and no decay of p (it is 0).
        assert_eq!(w[0], -f64::from(0.1_f32));
        let saved = opt.save_state();
        let eta = saved.tensors[0].scalars["eta"];
        assert_eq!(eta, f64::from((0.1 / (1.0 + 0.5 * 0.1_f64).powf(0.75)) as f32));
        assert_eq!(saved.tensors[0].scalars["mu"], 1.0);
    }
}
