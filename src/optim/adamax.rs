//! Adamax: Adam with the infinity norm in place of the second moment, `torch.optim.Adamax`.

use super::ops::{LerpWeight, addcdiv, decayed, effective_grad, maximum};
use super::pass::Pass;
use super::saved::StateBuffers;
use super::{Driver, GroupHyper, Kernel, check, config_accessors, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use crate::tensor::TensorList;

/// Hyperparameters of [`Adamax`]: those of PyTorch's `torch.optim.Adamax`, with its defaults.
///
/// | field | default | valid |
/// |---|---|---|
/// | `lr` | `2e-3` | `≥ 0` |
/// | `betas` | `(0.9, 0.999)` | each in `[0, 1)` |
/// | `eps` | `1e-8` | `> 0` (PyTorch: `≥ 0`; with 0 a zero gradient on the first step gives 0/0 = NaN) |
/// | `weight_decay` | `0` (coupled L2) | `≥ 0` |
/// | `maximize` | `false` | |
///
/// The learning rate and betas are the paper's (Kingma & Ba, 2015, Algorithm 2); optax's
/// `adamax` also has `eps = 1e-8` (Keras `1e-7`).
///
/// # Example
///
/// ```
/// use ndarray_optim::{Adamax, AdamaxConfig};
///
/// let opt: Adamax<f32> = AdamaxConfig::default().lr(1e-2).betas(0.9, 0.99).build()?;
/// assert_eq!(opt.config().eps, 1e-8);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct AdamaxConfig {
    /// Learning rate `γ`.
    pub lr: f64,
    /// Decay rates `(β₁, β₂)` of the first moment and of the infinity norm.
    pub betas: (f64, f64),
    /// Term `ε` added to `|g|` inside the maximum (nothing is added to the denominator).
    pub eps: f64,
    /// Coupled (L2) weight decay `λ`.
    pub weight_decay: f64,
    /// Maximise the objective instead of minimising it.
    pub maximize: bool,
}

impl Default for AdamaxConfig {
    fn default() -> Self {
        AdamaxConfig {
            lr: 2e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            maximize: false,
        }
    }
}

impl AdamaxConfig {
    /// Sets the learning rate `lr`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::AdamaxConfig;
    /// assert_eq!(AdamaxConfig::default().lr(0.01).lr, 0.01);
    /// ```
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }
    /// Sets `betas = (beta1, beta2)`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::AdamaxConfig;
    /// assert_eq!(AdamaxConfig::default().betas(0.8, 0.99).betas, (0.8, 0.99));
    /// ```
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.betas = (beta1, beta2);
        self
    }
    /// Sets `eps`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::AdamaxConfig;
    /// assert_eq!(AdamaxConfig::default().eps(1e-6).eps, 1e-6);
    /// ```
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Sets the coupled (L2) `weight_decay`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::AdamaxConfig;
    /// assert_eq!(AdamaxConfig::default().weight_decay(0.1).weight_decay, 0.1);
    /// ```
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
    /// Maximises the objective instead of minimising it.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::AdamaxConfig;
    /// assert_eq!(AdamaxConfig::default().maximize(true).maximize, true);
    /// ```
    pub fn maximize(mut self, maximize: bool) -> Self {
        self.maximize = maximize;
        self
    }
    /// Builds an [`Adamax`] optimizer.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if a value is outside the range in the table above.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{AdamaxConfig, Optimizer};
    /// let opt = AdamaxConfig::default().build::<f64>()?;
    /// assert_eq!(opt.name(), "Adamax");
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn build<A: Float>(self) -> Result<Adamax<A>, Error> {
        Adamax::with_config(self)
    }
}

#[derive(Clone, Copy)]
pub(crate) struct AdamaxScalars<A> {
    exp_avg_weight: LerpWeight<A>,
    beta2: A,
    eps: A,
    neg_clr: A,
    decay: Option<A>,
    maximize: bool,
}

/// Per-tensor state: the first moment and the exponentially weighted infinity norm.
#[derive(Clone, Debug)]
pub(crate) struct AdamaxState<A> {
    exp_avg: Vec<A>,
    exp_inf: Vec<A>,
}

impl<A: Float> StateBuffers<A> for AdamaxState<A> {
    fn buffers(&self) -> Vec<(&'static str, &Vec<A>)> {
        vec![("exp_avg", &self.exp_avg), ("exp_inf", &self.exp_inf)]
    }
    fn buffers_mut(&mut self) -> Vec<&mut Vec<A>> {
        vec![&mut self.exp_avg, &mut self.exp_inf]
    }
    fn from_buffers(take: &mut dyn FnMut(&'static str) -> Option<Vec<A>>) -> Result<Self, String> {
        Ok(AdamaxState {
            exp_avg: take("exp_avg").ok_or("buffer `exp_avg` is missing")?,
            exp_inf: take("exp_inf").ok_or("buffer `exp_inf` is missing")?,
        })
    }
}

impl<A: Float> Kernel<A> for AdamaxConfig {
    type State = AdamaxState<A>;
    type Global = ();
    type Scalars = AdamaxScalars<A>;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::beta("betas[0]", self.betas.0)?;
        check::beta("betas[1]", self.betas.1)?;
        check::positive("eps", self.eps)?;
        check::non_negative("weight_decay", self.weight_decay)
    }
    config_accessors!(Adamax);
    fn momentum(&self) -> Option<f64> {
        Some(self.betas.0)
    }
    fn set_momentum(&mut self, momentum: f64) {
        self.betas.0 = momentum;
    }
    fn new_state(&self, len: usize) -> AdamaxState<A> {
        AdamaxState {
            exp_avg: vec![A::zero(); len],
            exp_inf: vec![A::zero(); len],
        }
    }

    fn global(&self, _grads: &dyn TensorList<A>) {}

    fn scalars(&self, step: u64, _global: &(), group: GroupHyper) -> AdamaxScalars<A> {
        let (beta1, beta2) = self.betas;
        let clr = group.lr / (1.0 - beta1.powf(step as f64));
        AdamaxScalars {
            exp_avg_weight: LerpWeight::new(1.0 - beta1),
            beta2: A::from_f64(beta2),
            eps: A::from_f64(self.eps),
            neg_clr: A::from_f64(-clr),
            decay: (group.weight_decay != 0.0).then(|| A::from_f64(group.weight_decay)),
            maximize: self.maximize,
        }
    }

    fn update(&self, sc: &AdamaxScalars<A>, pass: &mut Pass<'_, A>, state: &mut AdamaxState<A>) {
        let sc = *sc;
        pass.zip2(
            &mut state.exp_avg,
            &mut state.exp_inf,
            #[inline(always)]
            |p, g, m, u| {
                let g = effective_grad(*p, g, sc.maximize, sc.decay);
                *m = sc.exp_avg_weight.lerp(*m, g);
                // ε inside the maximum, so u ≥ ε > 0: nothing is added to the denominator.
                *u = maximum(decayed(*u, sc.beta2), g.abs() + sc.eps);
                *p = addcdiv(*p, sc.neg_clr, *m, *u);
            },
        );
    }
}

optimizer_type! {
    /// Adamax (Kingma & Ba, 2015, §7.1), PyTorch's `torch.optim.Adamax`.
    ///
    /// Adam with the second moment replaced by an exponentially weighted infinity norm: each
    /// parameter's step is divided by (a decaying maximum of) its largest recent gradient, which
    /// needs no square root and no bias correction. Per element, at step `t`:
    ///
    /// ```text
    /// g ← −g                                   if maximize
    /// g ← g + λ·p                              if λ ≠ 0
    /// m ← β₁·m + (1 − β₁)·g                    (computed as m + (1 − β₁)(g − m), PyTorch's lerp)
    /// u ← max(β₂·u, |g| + ε)                   (ε inside the maximum; NaN propagates)
    /// p ← p − γ/(1 − β₁ᵗ) · m / u
    /// ```
    ///
    /// Defaults are PyTorch's: see [`AdamaxConfig`]. The state buffers are PyTorch's `exp_avg`
    /// and `exp_inf`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::array;
    /// use ndarray_optim::{Adamax, Optimizer};
    ///
    /// let mut w = array![1.0_f64, 1.0];
    /// let mut opt = Adamax::new(0.01)?;
    /// opt.step(&mut w, &array![100.0, -0.01])?;
    /// // The first step moves every element by about γ, whatever its gradient's size.
    /// assert!((w[0] - 0.99).abs() < 1e-6 && (w[1] - 1.01).abs() < 1e-6);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Adamax, AdamaxConfig, "Adamax"
}

impl<A: Float> Adamax<A> {
    /// Adamax with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adamax, Optimizer};
    /// let opt = Adamax::<f32>::new(2e-3)?;
    /// assert_eq!(opt.momentum(), Some(0.9));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        Self::with_config(AdamaxConfig::default().lr(lr))
    }

    /// Adamax with every hyperparameter given, exactly as PyTorch's `Adamax(**config)`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if a value is out of range (see [`AdamaxConfig`]).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Adamax, AdamaxConfig};
    /// assert!(Adamax::<f32>::with_config(AdamaxConfig::default().eps(0.0)).is_err());
    /// ```
    pub fn with_config(config: AdamaxConfig) -> Result<Self, Error> {
        Ok(Adamax {
            driver: Driver::new(config)?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // bit-exact on purpose
mod tests {
    use super::*;
    use crate::Optimizer;
    use ndarray::array;

    #[test]
    fn first_step_is_lr_times_the_sign_and_eps_sits_inside_the_maximum() {
        // Step 1: m = 0.1·g, u = |g| + ε, bc₁ = 0.1, so p moves by γ·g/(|g| + ε).
        let mut w = array![0.0_f64, 0.0];
        let mut opt = Adamax::new(0.5).unwrap();
        opt.step(&mut w, &array![2.0, 0.0]).unwrap();
        let step = 0.5 / (1.0 - 0.9) * (0.1 * 2.0) / (2.0 + 1e-8);
        assert!((w[0] + step).abs() < 1e-15, "{}", w[0]);
        assert_eq!(w[1], 0.0); // a zero gradient: 0 / ε, no NaN
    }

    #[test]
    fn the_infinity_norm_decays_and_keeps_the_largest_gradient() {
        let mut w = array![0.0_f32];
        let mut opt = Adamax::with_config(AdamaxConfig::default().betas(0.9, 0.5)).unwrap();
        opt.step(&mut w, &array![4.0]).unwrap();
        opt.step(&mut w, &array![1.0]).unwrap();
        let state = opt.save_state();
        let u = state.tensors[0].buffers["exp_inf"][[0]];
        assert_eq!(u, 4.0 * 0.5); // max(0.5·(4 + ε), 1 + ε) in f32
    }

    #[test]
    fn invalid_hyperparameters_are_rejected_by_name() {
        let name = |config: AdamaxConfig| match config.build::<f32>() {
            Err(Error::InvalidHyperparameter { name, .. }) => name,
            other => panic!("expected an invalid hyperparameter, got {other:?}"),
        };
        assert_eq!(name(AdamaxConfig::default().lr(-1.0)), "lr");
        assert_eq!(name(AdamaxConfig::default().lr(f64::INFINITY)), "lr");
        assert_eq!(name(AdamaxConfig::default().betas(1.0, 0.999)), "betas[0]");
        assert_eq!(name(AdamaxConfig::default().betas(0.9, -0.1)), "betas[1]");
        assert_eq!(name(AdamaxConfig::default().eps(0.0)), "eps");
        assert_eq!(
            name(AdamaxConfig::default().weight_decay(f64::NAN)),
            "weight_decay"
        );
        assert!(
            AdamaxConfig::default()
                .betas(0.0, 0.0)
                .build::<f32>()
                .is_ok()
        );
    }
}
