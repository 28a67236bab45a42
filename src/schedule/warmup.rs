//! A linear warmup into a cosine or linear decay, in one schedule.

use std::f64::consts::PI;

use super::{Schedule, checked};
use crate::builder::config;
use crate::check;
use crate::error::Error;

/// What a [`Warmup`] does after the warmup.
///
/// # Example
///
/// ```
/// use ndarray_optim::schedule::{Schedule, Warmup, WarmupDecay};
///
/// let linear = Warmup::new(10, 110, WarmupDecay::Linear);
/// assert_eq!(linear.lr(1.0, 60)?, 0.5);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum WarmupDecay {
    /// Half a cosine from `B` down to `B·end_factor`.
    Cosine,
    /// A straight line from `B` down to `B·end_factor`.
    Linear,
}

crate::builder::plain!(WarmupDecay);

config! {
    /// A linear warmup from `B·start_factor` to the base learning rate `B` over
    /// `warmup_steps`, then a cosine or linear decay to `B·end_factor` at `total_steps`, where it
    /// stays: the schedule most transformer recipes write by hand.
    ///
    /// With `W = warmup_steps`, `T = total_steps`, `s = start_factor`, `e = end_factor`:
    ///
    /// ```text
    /// f(k) = B · (s + (1 − s)·k/W)                                   k < W
    ///      = B · (e + (1 − e)·(1 + cos(π·(k − W)/(T − W)))/2)      W ≤ k < T   (cosine)
    ///      = B · (e + (1 − e)·(T − k)/(T − W))                      W ≤ k < T   (linear)
    ///      = B · e                                                  k ≥ T
    /// ```
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `warmup_steps` | required ([`new`](Warmup::new), [`cosine`](Warmup::cosine), [`linear`](Warmup::linear)) | `< total_steps` |
    /// | `total_steps` | required | `> warmup_steps` |
    /// | `decay` | required | |
    /// | `start_factor` | `0` | `≥ 0` |
    /// | `end_factor` | `0` | `≥ 0` |
    ///
    /// Absolute, like `LambdaLR` (it has no PyTorch class of its own).
    ///
    /// **Equivalences.**
    /// * Hugging Face `transformers`: [`Warmup::cosine`]`(W, T)` is
    ///   `get_cosine_schedule_with_warmup(opt, W, T)` (with its default `num_cycles = 0.5`) and
    ///   [`Warmup::linear`]`(W, T)` is `get_linear_schedule_with_warmup(opt, W, T)`, to the bit
    ///   for `k ≤ T`. Like them it starts at **0 at k = 0** when `W > 0` (no update on the first
    ///   step; with `W = 0` there is no warmup and it starts at `B`). Past `T`, HF's cosine
    ///   climbs back up (its cosine is not clamped); this one stays at `B·e`.
    /// * optax: `warmup_cosine_decay_schedule(init_value = s·B, peak_value = B, warmup_steps =
    ///   W, decay_steps = T, end_value = e·B)` (optax's `decay_steps` includes the warmup, as `T`
    ///   does here; its `exponent` is not supported), equal up to rounding.
    /// * PyTorch: `SequentialLR([LinearLR(s, 1, W), CosineAnnealingLR(T − W, e·B)], [W])` has
    ///   the same shape, but `LinearLR` cannot start at 0 and `CosineAnnealingLR` climbs back up
    ///   past `T`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{Schedule, Warmup};
    /// use ndarray_optim::{AdamW, Error, Optimizer};
    ///
    /// let mut opt = AdamW::<f32>::new(3e-4)?;
    /// let mut sched = Warmup::cosine(100, 1000).attach(&mut opt)?;
    /// assert_eq!(opt.learning_rate(), 0.0); // k = 0, as Hugging Face's
    /// for _batch in 0..100 {
    ///     sched.step(&mut opt)?;
    /// }
    /// assert_eq!(opt.learning_rate(), 3e-4); // the peak, at k = W
    /// assert_eq!(sched.lr(1000)?, 0.0);
    ///
    /// // From 10 % of the peak, down to 1 % of it, where it stays.
    /// let schedule = Warmup::linear(4, 12).start_factor(0.1).end_factor(0.01);
    /// assert_eq!(schedule.lr(1.0, 0)?, 0.1);
    /// assert_eq!(schedule.lr(1.0, 4)?, 1.0);
    /// assert_eq!(schedule.lr(1.0, 1000)?, 0.01);
    /// assert!(matches!(
    ///     Warmup::cosine(6, 6).attach(&mut opt),
    ///     Err(Error::InvalidHyperparameter { name: "total_steps", .. })
    /// ));
    /// # Ok::<(), Error>(())
    /// ```
    #[derive(Copy)]
    pub struct Warmup {
        /// The number of steps of the linear warmup, `W`.
        warmup_steps: u64,
        /// The step at which the decay ends, `T` (counted from 0, the warmup included).
        total_steps: u64,
        /// The shape of the decay after the warmup.
        decay: WarmupDecay,
        /// The factor of `B` the warmup starts from, `s` (optax's `init_value / peak_value`).
        start_factor: f64 = 0.0,
        /// The factor of `B` the decay ends at, `e` (optax's `end_value / peak_value`).
        end_factor: f64 = 0.0,
    }
}

impl Warmup {
    /// Warms up linearly from 0 over `warmup_steps`, then decays to 0 at `total_steps`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{Schedule, Warmup, WarmupDecay};
    ///
    /// let schedule = Warmup::new(2, 6, WarmupDecay::Linear);
    /// let lrs: Vec<f64> = (0..8).map(|k| schedule.lr(1.0, k)).collect::<Result<_, _>>()?;
    /// assert_eq!(lrs, [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(warmup_steps: u64, total_steps: u64, decay: WarmupDecay) -> Self {
        Warmup::from_required(warmup_steps, total_steps, decay)
    }

    /// Hugging Face's `get_cosine_schedule_with_warmup(opt, warmup_steps, total_steps)`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{Schedule, Warmup};
    ///
    /// let schedule = Warmup::cosine(10, 110);
    /// assert_eq!(schedule.lr(1.0, 5)?, 0.5); // warming up
    /// assert_eq!(schedule.lr(1.0, 10)?, 1.0); // the peak
    /// assert!((schedule.lr(1.0, 60)? - 0.5).abs() < 1e-15); // half-way down the cosine
    /// assert_eq!(schedule.lr(1.0, 500)?, 0.0); // stays at the end
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn cosine(warmup_steps: u64, total_steps: u64) -> Self {
        Warmup::new(warmup_steps, total_steps, WarmupDecay::Cosine)
    }

    /// Hugging Face's `get_linear_schedule_with_warmup(opt, warmup_steps, total_steps)`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::schedule::{Schedule, Warmup};
    ///
    /// let schedule = Warmup::linear(4, 12);
    /// let lrs: Vec<f64> = (0..14).map(|k| schedule.lr(1.0, k)).collect::<Result<_, _>>()?;
    /// assert_eq!(lrs[..5], [0.0, 0.25, 0.5, 0.75, 1.0]);
    /// assert_eq!(lrs[8..], [0.5, 0.375, 0.25, 0.125, 0.0, 0.0]);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn linear(warmup_steps: u64, total_steps: u64) -> Self {
        Warmup::new(warmup_steps, total_steps, WarmupDecay::Linear)
    }

    /// The factor of the base learning rate at step `k`.
    fn factor(&self, epoch: u64) -> f64 {
        let (s, e) = (self.start_factor, self.end_factor);
        let (w, t) = (self.warmup_steps as f64, self.total_steps as f64);
        let k = epoch as f64;
        if epoch < self.warmup_steps {
            s + (1.0 - s) * k / w
        } else if epoch >= self.total_steps {
            e
        } else {
            match self.decay {
                WarmupDecay::Cosine => {
                    let progress = (k - w) / (t - w);
                    e + (1.0 - e) * (0.5 * (1.0 + (PI * progress).cos()))
                }
                WarmupDecay::Linear => e + (1.0 - e) * ((t - k) / (t - w)),
            }
        }
    }
}

impl Schedule for Warmup {
    fn name(&self) -> &'static str {
        "Warmup"
    }
    fn validate(&self) -> Result<(), Error> {
        check::require(
            self.total_steps > self.warmup_steps,
            "total_steps",
            self.total_steps as f64,
            "must be > warmup_steps",
        )?;
        check::non_negative("start_factor", self.start_factor)?;
        check::non_negative("end_factor", self.end_factor)
    }
    fn lr(&self, base_lr: f64, epoch: u64) -> Result<f64, Error> {
        self.validate()?;
        checked(self.name(), epoch, "lr", base_lr * self.factor(epoch))
    }
    fn next_lr(&self, base_lr: f64, _lr: f64, epoch: u64) -> Result<f64, Error> {
        self.lr(base_lr, epoch)
    }
    fn clone_box(&self) -> Box<dyn Schedule> {
        Box::new(*self)
    }
}
