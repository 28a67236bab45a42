//! The learning rate of stochastic weight averaging: PyTorch's `torch.optim.swa_utils.SWALR`.

use std::f64::consts::PI;

use super::{AnnealStrategy, Schedule, checked};
use crate::builder::config;
use crate::check;
use crate::error::Error;

config! {
    /// Anneals the learning rate from the base learning rate `B` to a constant `swa_lr` over
    /// `anneal_epochs` epochs and keeps it there: PyTorch's `torch.optim.swa_utils.SWALR`, the
    /// schedule of stochastic weight averaging (see [`AveragedModel`](crate::swa_utils::AveragedModel)).
    ///
    /// ```text
    /// s = k, or max(1, k) when anneal_epochs = 0;  τ(s) = clamp(s / max(1, anneal_epochs), 0, 1)
    /// α(τ) = (1 − cos(πτ))/2 (cos) or τ (linear)
    /// f(k) = swa_lr·α(τ(s)) + B·(1 − α(τ(s)))
    /// step: lr₀ = lr if α(τ(s − 1)) = 1 … swa_lr, else (lr − α(τ(s − 1))·swa_lr)/(1 − α(τ(s − 1)))
    ///       lr ← swa_lr·α(τ(s)) + lr₀·(1 − α(τ(s)))
    /// ```
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `swa_lr` | required ([`new`](SwaLr::new)) | `≥ 0` |
    /// | `anneal_epochs` | `10` | any (`0`: `swa_lr` from epoch 0 on) |
    /// | `anneal_strategy` | [`AnnealStrategy::Cos`] | |
    ///
    /// **PyTorch's quirks, kept.** PyTorch's `step()` does not use the base learning rate: it
    /// inverts its previous interpolation to recover the learning rate it started from (`lr₀`
    /// above), from the learning rate the optimizer holds. So a `SWALR` attached at the start of
    /// training but stepped only from the epoch SWA starts (PyTorch's own recipe: another
    /// schedule steps until then) anneals from the learning rate the optimizer holds at its
    /// first step, as in PyTorch; its pure form [`lr`](Schedule::lr) anneals from the base
    /// recorded when attaching. With `anneal_epochs = 0` the learning rate is `swa_lr` at once,
    /// at attaching. One `swa_lr` for every parameter group, scaled by each group's `lr_scale`
    /// (PyTorch also takes one per group).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{AnnealStrategy, Schedule, SwaLr};
    /// use ndarray_optim::{Error, Optimizer, Sgd};
    ///
    /// let schedule = SwaLr::new(0.05).anneal_epochs(4);
    /// let lrs: Vec<f64> = (0..6).map(|k| schedule.lr(1.0, k)).collect::<Result<_, _>>()?;
    /// assert_eq!(lrs[0], 1.0);
    /// assert!((lrs[2] - 0.525).abs() < 1e-15); // half-way down the cosine
    /// assert_eq!(&lrs[4..], [0.05, 0.05]);
    /// // Linear annealing, stepped: each step the same fraction of the way.
    /// let mut opt = Sgd::<f32>::new(1.0)?;
    /// let mut sched = SwaLr::new(0.5).anneal_epochs(2).anneal_strategy(AnnealStrategy::Linear).attach(&mut opt)?;
    /// assert_eq!((sched.step(&mut opt)?, sched.step(&mut opt)?), (0.75, 0.5));
    /// assert!(matches!(
    ///     SwaLr::new(-0.1).validate(),
    ///     Err(Error::InvalidHyperparameter { name: "swa_lr", .. })
    /// ));
    /// # Ok::<(), Error>(())
    /// ```
    #[derive(Copy)]
    pub struct SwaLr {
        /// The learning rate annealed to and then kept (PyTorch's `swa_lr`).
        swa_lr: f64,
        /// The number of epochs of the annealing phase.
        anneal_epochs: u64 = 10,
        /// How the learning rate goes from `B` to `swa_lr`: `"cos"` or `"linear"`.
        anneal_strategy: AnnealStrategy = AnnealStrategy::Cos,
    }
}

impl SwaLr {
    /// Anneals to `swa_lr` over PyTorch's default 10 epochs, by a cosine.
    pub fn new(swa_lr: f64) -> Self {
        SwaLr::from_required(swa_lr)
    }

    /// PyTorch's `step` for the schedule's own step count `epoch`: `_step_count − 1`, at least
    /// 1 when `anneal_epochs = 0`.
    fn step_of(&self, epoch: u64) -> u64 {
        if self.anneal_epochs == 0 {
            epoch.max(1)
        } else {
            epoch
        }
    }

    /// `α(clamp(s / max(1, anneal_epochs), 0, 1))`, as PyTorch computes it from Python ints.
    fn alpha(&self, s: i128) -> f64 {
        let t = (s as f64 / self.anneal_epochs.max(1) as f64).clamp(0.0, 1.0);
        match self.anneal_strategy {
            AnnealStrategy::Cos => (1.0 - (PI * t).cos()) / 2.0,
            AnnealStrategy::Linear => t,
        }
    }
}

impl Schedule for SwaLr {
    fn name(&self) -> &'static str {
        "SWALR"
    }
    fn validate(&self) -> Result<(), Error> {
        check::non_negative("swa_lr", self.swa_lr)
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
        let alpha = self.alpha(i128::from(self.step_of(epoch)));
        checked(
            self.name(),
            epoch,
            "lr",
            self.swa_lr * alpha + base_lr * (1.0 - alpha),
        )
    }
    fn next_lr(&self, _base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
        let s = i128::from(self.step_of(epoch));
        let prev_alpha = self.alpha(s - 1);
        // `_get_initial_lr`: the learning rate the previous interpolation started from.
        #[allow(clippy::float_cmp)] // PyTorch's test
        let start = if prev_alpha == 1.0 {
            self.swa_lr
        } else {
            (lr - prev_alpha * self.swa_lr) / (1.0 - prev_alpha)
        };
        let alpha = self.alpha(s);
        checked(
            self.name(),
            epoch,
            "lr",
            self.swa_lr * alpha + start * (1.0 - alpha),
        )
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(*self)
    }
}
