//! Cosine annealing, without and with warm restarts.

use std::f64::consts::PI;

use super::{Schedule, at_least_one, checked};
use crate::builder::config;
use crate::check;
use crate::error::Error;

config! {
    /// Cosine annealing from the base learning rate down to `eta_min` over `T_max` epochs:
    /// PyTorch's `torch.optim.lr_scheduler.CosineAnnealingLR` (SGDR without restarts).
    ///
    /// ```text
    /// f(k) = η_min + (B − η_min) · (1 + cos(π·k / T_max)) / 2
    /// step: lr ← (1 + cos(π·k/T_max)) / (1 + cos(π·(k−1)/T_max)) · (lr − η_min) + η_min
    ///       lr ← lr + (B − η_min)·(1 − cos(π/T_max))/2    when (k − 1 − T_max) mod 2·T_max = 0
    /// ```
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `t_max` (PyTorch's `T_max`) | required ([`new`](CosineAnnealingLr::new)) | `≥ 1` |
    /// | `eta_min` | `0` | `≥ 0` |
    ///
    /// **Past `T_max` the schedule does not stop at `η_min`**: as in PyTorch, both forms follow
    /// the cosine back up towards `B`, with period `2·T_max` (`f(2·T_max) = B`). Stop stepping
    /// at `T_max`, or use [`CosineAnnealingWarmRestarts`] for restarts or
    /// [`Warmup`](super::Warmup) for a schedule that stays at its end value.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{CosineAnnealingLr, Schedule};
    /// use ndarray_optim::Error;
    ///
    /// let schedule = CosineAnnealingLr::new(10).eta_min(0.001);
    /// assert_eq!(schedule.lr(0.1, 0)?, 0.1);
    /// assert!((schedule.lr(0.1, 5)? - 0.0505).abs() < 1e-15);
    /// assert!((schedule.lr(0.1, 10)? - 0.001).abs() < 1e-15);
    /// assert!((schedule.lr(0.1, 20)? - 0.1).abs() < 1e-15); // past T_max: back up
    /// assert!(matches!(
    ///     CosineAnnealingLr::new(0).validate(),
    ///     Err(Error::InvalidHyperparameter { name: "T_max", .. })
    /// ));
    /// # Ok::<(), Error>(())
    /// ```
    #[derive(Copy)]
    pub struct CosineAnnealingLr {
        /// The number of epochs from `B` down to `eta_min` (PyTorch's `T_max`).
        t_max: u64,
        /// The learning rate at the bottom of the cosine, `η_min`.
        eta_min: f64 = 0.0,
    }
}

impl CosineAnnealingLr {
    /// Anneals over `t_max` epochs to PyTorch's default `eta_min = 0`.
    pub fn new(t_max: u64) -> Self {
        CosineAnnealingLr::from_required(t_max)
    }
}

impl Schedule for CosineAnnealingLr {
    fn name(&self) -> &'static str {
        "CosineAnnealingLR"
    }
    fn validate(&self) -> Result<(), Error> {
        at_least_one("T_max", self.t_max)?;
        check::non_negative("eta_min", self.eta_min)
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
        let (t, eta) = (self.t_max as f64, self.eta_min);
        let value = eta + (base_lr - eta) * (1.0 + (PI * epoch as f64 / t).cos()) / 2.0;
        checked(self.name(), epoch, "lr", value)
    }
    fn next_lr(&self, base_lr: f64, lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
        let (t, eta) = (self.t_max as f64, self.eta_min);
        let period = 2 * i128::from(self.t_max);
        let value = if epoch == 0 {
            lr
        } else if (i128::from(epoch) - 1 - i128::from(self.t_max)).rem_euclid(period) == 0 {
            // 1 + cos(π(k−1)/T_max) is 0 here: PyTorch's step from the trough.
            lr + (base_lr - eta) * (1.0 - (PI / t).cos()) / 2.0
        } else {
            let k = epoch as f64;
            (1.0 + (PI * k / t).cos()) / (1.0 + (PI * (k - 1.0) / t).cos()) * (lr - eta) + eta
        };
        checked(self.name(), epoch, "lr", value)
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(*self)
    }
}

config! {
    /// Cosine annealing with warm restarts (SGDR): PyTorch's
    /// `torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`.
    ///
    /// ```text
    /// f(k) = η_min + (B − η_min) · (1 + cos(π·T_cur / T_i)) / 2
    /// ```
    ///
    /// where the `i`-th cycle lasts `T_i = T_0·T_mult^i` epochs and `T_cur` counts the epochs
    /// since the last restart (the learning rate jumps back to `B` at each restart).
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `t_0` (PyTorch's `T_0`) | required ([`new`](CosineAnnealingWarmRestarts::new)) | `≥ 1` |
    /// | `t_mult` (`T_mult`) | `1` | `≥ 1` |
    /// | `eta_min` | `0` | `≥ 0` |
    ///
    /// PyTorch also steps it per batch with fractional epochs
    /// (`scheduler.step(epoch + i / iters)`): that is
    /// [`lr_at`](CosineAnnealingWarmRestarts::lr_at).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{CosineAnnealingWarmRestarts, Schedule};
    ///
    /// let schedule = CosineAnnealingWarmRestarts::new(5).t_mult(2); // cycles of 5, 10, 20, …
    /// assert_eq!(schedule.lr(0.1, 0)?, 0.1);
    /// assert_eq!(schedule.lr(0.1, 5)?, 0.1); // restart
    /// assert!((schedule.lr(0.1, 10)? - 0.05).abs() < 1e-15); // half-way through the 10-epoch cycle
    /// assert_eq!(schedule.lr(0.1, 15)?, 0.1); // restart
    /// assert!(CosineAnnealingWarmRestarts::new(5).t_mult(0).validate().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    #[derive(Copy)]
    pub struct CosineAnnealingWarmRestarts {
        /// The length of the first cycle, in epochs (PyTorch's `T_0`).
        t_0: u64,
        /// The factor each cycle is longer than the one before (PyTorch's `T_mult`).
        t_mult: u64 = 1,
        /// The learning rate at the end of each cycle, `η_min`.
        eta_min: f64 = 0.0,
    }
}

impl CosineAnnealingWarmRestarts {
    /// Restarts every `t_0` epochs (PyTorch's defaults `T_mult = 1`, `eta_min = 0`).
    pub fn new(t_0: u64) -> Self {
        CosineAnnealingWarmRestarts::from_required(t_0)
    }

    /// `(T_cur, T_i)` at an integer epoch: what `step()` reaches by counting.
    fn cycle(&self, epoch: u64) -> (u64, u64) {
        if self.t_mult == 1 {
            return (epoch % self.t_0, self.t_0);
        }
        let (mut t_cur, mut t_i) = (epoch, self.t_0);
        while t_cur >= t_i {
            t_cur -= t_i;
            match t_i.checked_mul(self.t_mult) {
                Some(next) => t_i = next,
                None => break, // a cycle longer than any u64 epoch: t_cur is inside it
            }
        }
        (t_cur, t_i)
    }

    fn anneal(&self, base_lr: f64, t_cur: f64, t_i: f64) -> f64 {
        let eta = self.eta_min;
        eta + (base_lr - eta) * (1.0 + (PI * t_cur / t_i).cos()) / 2.0
    }

    /// The learning rate at a fractional `epoch`, as PyTorch's `step(epoch)` computes it (its
    /// per-batch usage: `epoch + batch / batches_per_epoch`):
    ///
    /// ```text
    /// epoch < T_0:   T_cur = epoch, T_i = T_0
    /// T_mult = 1:    T_cur = epoch mod T_0, T_i = T_0
    /// T_mult > 1:    n = ⌊log_{T_mult}(epoch/T_0·(T_mult − 1) + 1)⌋,
    ///                T_cur = epoch − T_0·(T_mult^n − 1)/(T_mult − 1), T_i = T_0·T_mult^n
    /// ```
    ///
    /// At integer epochs it equals [`lr`](Schedule::lr) except where PyTorch's logarithm rounds
    /// across a restart.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `epoch` is negative or not finite (PyTorch raises a
    /// `ValueError`), or as [`validate`](Schedule::validate).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::CosineAnnealingWarmRestarts;
    ///
    /// let schedule = CosineAnnealingWarmRestarts::new(10);
    /// let batches = 4;
    /// for epoch in 0..20u32 {
    ///     for batch in 0..batches {
    ///         let lr = schedule.lr_at(0.1, f64::from(epoch) + f64::from(batch) / 4.0)?;
    ///         assert!(lr > 0.0 && lr <= 0.1);
    ///     }
    /// }
    /// assert!((schedule.lr_at(0.1, 12.5)? - schedule.lr_at(0.1, 2.5)?).abs() < 1e-15);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn lr_at(&self, base_lr: f64, epoch: f64) -> Result<f64, Error> {
        self.validate()?;
        if !(epoch.is_finite() && epoch >= 0.0) {
            return Err(Error::InvalidHyperparameter {
                name: "epoch",
                value: epoch,
                requirement: "must be finite and >= 0",
            });
        }
        let t_0 = self.t_0 as f64;
        let (t_cur, t_i) = if epoch < t_0 {
            (epoch, t_0)
        } else if self.t_mult == 1 {
            (epoch % t_0, t_0)
        } else {
            let mult = self.t_mult as f64;
            let n = ((epoch / t_0 * (mult - 1.0) + 1.0).ln() / mult.ln()).trunc();
            // T_0·(T_mult^n − 1) and T_0·T_mult^n are Python integers: exact, then rounded once.
            let exact = u32::try_from(n as u64)
                .ok()
                .and_then(|n| u128::from(self.t_mult).checked_pow(n))
                .and_then(|p| {
                    let t_0 = u128::from(self.t_0);
                    Some((t_0.checked_mul(p - 1)?, t_0.checked_mul(p)?))
                });
            let (done, t_i) = match exact {
                Some((done, t_i)) => (done as f64 / (mult - 1.0), t_i as f64),
                None => (
                    t_0 * (mult.powf(n) - 1.0) / (mult - 1.0),
                    t_0 * mult.powf(n),
                ),
            };
            (epoch - done, t_i)
        };
        let epoch_index = epoch as u64;
        checked(
            self.name(),
            epoch_index,
            "lr",
            self.anneal(base_lr, t_cur, t_i),
        )
    }
}

impl Schedule for CosineAnnealingWarmRestarts {
    fn name(&self) -> &'static str {
        "CosineAnnealingWarmRestarts"
    }
    fn validate(&self) -> Result<(), Error> {
        at_least_one("T_0", self.t_0)?;
        at_least_one("T_mult", self.t_mult)?;
        check::non_negative("eta_min", self.eta_min)
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
        let (t_cur, t_i) = self.cycle(epoch);
        checked(
            self.name(),
            epoch,
            "lr",
            self.anneal(base_lr, t_cur as f64, t_i as f64),
        )
    }
    fn next_lr(&self, base_lr: f64, _lr: f64, epoch: u64) -> Result<f64, Error> {
        self.lr(base_lr, epoch)
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(*self)
    }
}
