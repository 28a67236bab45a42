//! A learning-rate finder: Leslie Smith's range test, as fastai's `lr_find` and PyTorch
//! Lightning's `Tuner.lr_find` run it, on your own training step.
//!
//! # Contents
//!
//! [What it does](#what-it-does) · [Quick start](#quick-start) · [The sweep](#the-sweep) ·
//! [The smoothed loss and the stop](#the-smoothed-loss-and-the-stop) ·
//! [Suggestions](#suggestions) · [Leaving no trace](#leaving-no-trace) ·
//! [Errors and bad input](#errors-and-bad-input) · [Progress](#progress) ·
//! [fastai and Lightning](#fastai-and-lightning)
//!
//! # What it does
//!
//! Train for `num_it` steps (fastai: 100) while the learning rate grows from tiny (`1e-7`) to
//! far too large (`10`), geometrically, and record the loss of every step. The loss first
//! barely moves, then falls, then blows up; a good learning rate lies on the way down, before
//! the bottom. [`LrFinder::run`] does the sweep on your training closure, smooths the loss
//! with fastai's debiased moving average, stops early when the loss diverges, puts the
//! parameters and the optimizer back exactly as they were, and returns the curve
//! ([`LrFinderResult`]) with a suggestion (fastai's [`Rule::Valley`] by default; the others on
//! request, [`LrFinderResult::suggest`]).
//!
//! # Quick start
//!
//! The closure gets the parameters (read-only) and the gradients to write, and returns the
//! loss. The finder sets the learning rate, calls the closure, steps the optimizer and records
//! the loss, `num_it` times at most:
//!
//! ```
//! use std::convert::Infallible;
//! use ndarray::{array, Array1};
//! use ndarray_optim::finder::{LrFinderConfig, Rule, Stop};
//! use ndarray_optim::{Optimizer, Sgd};
//!
//! // Least squares: loss = mean over the rows of (x·w − y)².
//! let x = array![[1.0_f64, 2.0], [3.0, -1.0], [0.5, 0.5], [-2.0, 1.0]];
//! let y = array![1.0, 2.0, 0.5, -1.0];
//! let mut w = Array1::<f64>::zeros(2);
//! let mut grad = Array1::<f64>::zeros(2);
//! let mut opt = Sgd::new(0.1)?;
//!
//! let finder = LrFinderConfig::default().build()?; // fastai's: 1e-7 to 10 in 100 steps
//! let result = finder.run(&mut opt, &mut w, &mut grad, |w, grad| {
//!     let err = x.dot(w) - &y;
//!     *grad = x.t().dot(&err) * (2.0 / 4.0);
//!     Ok::<f64, Infallible>(err.mapv(|e| e * e).mean().unwrap_or(0.0))
//! })?;
//!
//! // Past lr ≈ 0.2 gradient descent on this problem diverges: the test stopped there.
//! assert!(matches!(result.stop, Stop::Diverged { .. }));
//! let valley = result.suggestion.expect("a suggestion");
//! assert_eq!(valley.rule, Rule::Valley);
//! assert!(valley.lr > 1e-5 && valley.lr < 0.2, "{}", valley.lr);
//! // The finder left no trace: the parameters and the optimizer are as they were.
//! assert_eq!(w, array![0.0, 0.0]);
//! assert_eq!((opt.step_count(), opt.learning_rate()), (0, 0.1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The sweep
//!
//! Step `k` (from 0) trains at the learning rate `start_lr · (end_lr / start_lr)^pos`
//! ([`SweepMode::Exponential`], the default) or `start_lr + pos · (end_lr − start_lr)`
//! ([`SweepMode::Linear`], Leslie Smith's original), where `pos` depends on the
//! [`Convention`]:
//!
//! | [`Convention`] | `pos` at step `k` | first and last learning rates |
//! |---|---|---|
//! | [`Fastai`](Convention::Fastai) (default) | `k / num_it` | `start_lr`, and one step short of `end_lr` |
//! | [`Lightning`](Convention::Lightning) | `0` at `k = 0`, then `(k + 1) / num_it` | `start_lr`, then `(start, end]`: the position `1 / num_it` is skipped |
//!
//! [`LrFinder::lr`] gives the learning rate of any step. Each step: the learning rate is set
//! with [`Optimizer::set_learning_rate`], the closure computes the loss and the gradients, the
//! optimizer steps, and the loss is recorded.
//!
//! With [parameter groups](crate::ParamGroups) the sweep's learning rate is the largest
//! group's, and every group keeps its ratio to it, as the ratios stood before the sweep
//! (whether a group's rate is a multiple of the optimizer's or its own, as a scheduler leaves
//! it): a backbone at a tenth of the head's sweeps at a tenth of the recorded rate, and a
//! frozen group (rate 0) stays frozen. If every group stands at 0 (a warmup's first step),
//! they all sweep at the recorded rate. fastai and Lightning set every group to the sweep's
//! rate; to find a rate for that, run the finder on the optimizer without groups.
//!
//! # The smoothed loss and the stop
//!
//! The recorded curve is the debiased exponential moving average of the loss, as fastai's
//! `AvgSmoothLoss` and Lightning's callback compute it: `avg ← β·avg + (1 − β)·loss` from
//! `avg = 0`, and `smoothed = avg / (1 − β^c)` with `β = 0.98` (`beta`; 0 records the raw
//! losses). fastai divides by `c` = the number of losses so far; Lightning by one more (it
//! counts after its optimizer step), so its first smoothed loss is about half the first loss.
//! The raw losses are recorded too.
//!
//! The sweep stops ([`Stop`]):
//!
//! * after `num_it` steps ([`Stop::Completed`]);
//! * when the smoothed loss exceeds `early_stop_threshold` (4) times the best smoothed loss
//!   so far, from the second step on ([`Stop::Diverged`]; `None` turns it off). The step
//!   that crossed the threshold is on the curve, as in fastai. The test assumes positive
//!   losses, as fastai's and Lightning's do;
//! * at a NaN or infinite loss ([`Stop::NonFiniteLoss`]): the point is recorded and the
//!   optimizer is not stepped;
//! * when the optimizer refuses a non-finite gradient (its default
//!   [`NonFinitePolicy`](crate::NonFinitePolicy)) ([`Stop::NonFiniteGradient`]).
//!
//! fastai and Lightning carry on through NaN losses to `num_it` steps and then ignore the NaN
//! part of the curve; stopping there gives the same suggestions without the wasted steps.
//!
//! # Suggestions
//!
//! Every rule ([`Rule`]) looks at the part of the curve in [`LrFinderResult::window`]: the
//! points from `skip_begin` (fastai: `num_it / 10`; Lightning: 10) to `skip_end` (fastai: 5,
//! Lightning: 1) before the end, cut at the first non-finite smoothed loss. When the sweep
//! ended at a NaN (a NaN loss or a refused gradient), the window ends at the NaN or at
//! `num_it − skip_end`, whichever comes first: where fastai's window ends, which has the NaN
//! tail of the steps it went on to run. The rules are fastai's, with fastai's numbers, and
//! Lightning's:
//!
//! | [`Rule`] | suggests |
//! |---|---|
//! | [`Valley`](Rule::Valley) (fastai's default) | the longest strictly decreasing run of the loss (fastai's O(n²) longest decreasing subsequence), ending at `e`, with `s` one before its first point (fastai's bookkeeping): the point `s + ⌊(e − s)/3⌋ + ⌊(e − s)/6⌋`, about half-way down the valley (a run that starts at the first point can give −1: Python's last point, kept as fastai has it) |
//! | [`Slide`](Rule::Slide) | from the right, slide a window of 15 points left while the slope of the loss (`np.gradient`, per point) at its two ends differs by more than 0.005; the window's left end |
//! | [`Minimum`](Rule::Minimum) | the learning rate of the lowest loss, divided by 10 |
//! | [`Steep`](Rule::Steep) | the steepest fall: the left point of the most negative forward difference `Δloss / Δln(lr)` |
//! | [`SteepestLinear`](Rule::SteepestLinear) (Lightning's) | the most negative `d loss / d lr` against the *linear* learning rate (`torch.gradient` with the learning rates as coordinates, Lightning ≥ 2.5.3) |
//!
//! Lightning's rule weighs the slope by `1/lr`, so on an exponential sweep it picks one of the
//! first points after the skipped ones (an open issue in Lightning, #21141); prefer fastai's
//! rules unless you need Lightning's numbers. [`Rule::apply`] runs a rule on any curve.
//!
//! # Leaving no trace
//!
//! Before the first step the finder copies every parameter tensor (through
//! [`TensorList::tensor`]) and saves the optimizer ([`Optimizer::save_state`]); afterwards,
//! whatever happened, it writes the parameters back (through [`TensorListMut::tensor_mut`])
//! and loads the saved state ([`Optimizer::load_state`]), learning rate included. The next
//! training step is bit for bit the one it would have been without the finder. The only thing
//! that shows is [`Optimizer::last_step`], which reads `NotStarted`, as after any
//! `load_state`. The gradients hold whatever the closure last wrote. (If the closure panics,
//! the panic goes on unwinding and the parameters are left as they were at that step.)
//!
//! # Errors and bad input
//!
//! * A configuration that cannot make a test is refused by [`LrFinderConfig::build`] with
//!   [`Error::InvalidHyperparameter`] naming the field: `start_lr ≤ 0` (exponential mode; a
//!   linear sweep may start at 0), `end_lr ≤ start_lr`, anything not finite, `num_it < 6`
//!   (fastai's minimum; it raises smaller values to 6 silently), `beta` outside `[0, 1)`, an
//!   `early_stop_threshold` below 1, and skips that leave no point for the rules
//!   (`skip_begin + skip_end ≥ num_it`).
//! * A parameter list that contradicts itself is refused before anything runs
//!   ([`FindError::Params`]).
//! * A closure that returns `Err` stops the sweep: everything is restored and
//!   [`FindError::Closure`] says at which step and learning rate, with the closure's error.
//! * A closure that returns NaN or ±∞ stops the sweep: everything is restored and the result
//!   says so, [`Stop::NonFiniteLoss`] with the step. That is how a range test usually ends,
//!   so it is a result, not an error: the curve before it and the suggestions are kept.
//! * An optimizer that refuses a step for another reason than a non-finite gradient (a
//!   gradient of the wrong shape) stops the sweep: everything is restored and
//!   [`FindError::Optimizer`] says at which step, with the optimizer's [`Error`].
//!
//! No input makes the finder panic.
//!
//! # Progress
//!
//! The library prints nothing. [`LrFinder::run_with_progress`] calls a closure after every
//! step with a [`StepReport`] (step, learning rate, loss, smoothed loss), which an
//! application can use to drive a progress bar:
//!
//! ```
//! use std::convert::Infallible;
//! use ndarray::array;
//! use ndarray_optim::finder::LrFinderConfig;
//! use ndarray_optim::Adam;
//!
//! let mut w = array![3.0_f32];
//! let mut g = array![0.0_f32];
//! let mut opt = Adam::new(1e-3)?;
//! let finder = LrFinderConfig::default().num_it(20).build()?;
//! let mut seen = Vec::new();
//! let result = finder.run_with_progress(
//!     &mut opt,
//!     &mut w,
//!     &mut g,
//!     |w, g| {
//!         g[0] = 2.0 * w[0]; // loss w²
//!         Ok::<f64, Infallible>(f64::from(w[0] * w[0]))
//!     },
//!     |report| seen.push((report.step, report.lr)),
//! )?;
//! assert_eq!(seen.len(), result.lrs.len());
//! assert_eq!(seen[0], (0, 1e-7));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # fastai and Lightning
//!
//! [`LrFinderConfig::default`] is fastai's `lr_find()`; [`LrFinderConfig::lightning`] is
//! Lightning's `Tuner.lr_find()` with its `suggestion()`:
//!
//! | | fastai 2.8 | Lightning 2.6 |
//! |---|---|---|
//! | `start_lr`, `end_lr`, `num_it` | `1e-7`, `10`, `100` | `1e-8`, `1`, `100` (`min_lr`, `max_lr`, `num_training`) |
//! | positions, smoothing | [`Convention::Fastai`] | [`Convention::Lightning`] |
//! | stop | 4 × the best smoothed loss | 4 × (`early_stop_threshold`) |
//! | `skip_begin`, `skip_end` | `num_it / 10`, 5 | 10, 1 |
//! | `rule` | [`Rule::Valley`] | [`Rule::SteepestLinear`] |
//!
//! The crate's tests replay both libraries' own runs and recorded curves: the learning rates,
//! the smoothed losses (fastai's are `f32`: within its rounding; Lightning's within `1e-12`),
//! where the sweep stopped, and every suggestion.

use std::fmt;
use std::ops::Range;

use ndarray::ArrayD;

use crate::builder::config;
use crate::check;
use crate::error::Error;
use crate::float::Float;
use crate::optimizer::Optimizer;
use crate::tensor::{TensorList, TensorListMut};

/// fastai's smallest `num_it`.
const MIN_NUM_IT: usize = 6;

/// How the learning rate moves from `start_lr` to `end_lr`.
///
/// # Example
///
/// ```
/// use ndarray_optim::finder::{LrFinderConfig, SweepMode};
///
/// let linear = LrFinderConfig::default()
///     .mode(SweepMode::Linear)
///     .start_lr(0.0)
///     .end_lr(1.0)
///     .num_it(10)
///     .build()?;
/// assert!((linear.lr(5) - 0.5).abs() < 1e-15);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum SweepMode {
    /// Geometric: `start_lr · (end_lr / start_lr)^pos` (fastai's `sched_exp`, Lightning's
    /// `"exponential"`). The default.
    #[default]
    Exponential,
    /// Arithmetic: `start_lr + pos · (end_lr − start_lr)` (Lightning's `"linear"`, Leslie
    /// Smith's original test).
    Linear,
}

/// Where fastai and Lightning differ in counting the steps: the position in the sweep of each
/// step, and the count that debiases the smoothed loss. See [the module docs](self#the-sweep).
///
/// # Example
///
/// ```
/// use ndarray_optim::finder::{Convention, LrFinderConfig};
///
/// let fastai = LrFinderConfig::default().start_lr(1e-8).end_lr(1.0).build()?;
/// let lightning = LrFinderConfig::lightning().build()?;
/// assert_eq!(lightning.config().convention, Convention::Lightning);
/// assert_eq!((fastai.lr(0), lightning.lr(0)), (1e-8, 1e-8));
/// assert!(lightning.lr(1) > fastai.lr(1)); // Lightning skips the position 1/100
/// assert_eq!(lightning.lr(99), 1.0); // and ends at max_lr; fastai one step short
/// assert!(fastai.lr(99) < 1.0);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Convention {
    /// fastai's `LRFinder`: step `k` at position `k / num_it`; the smoothed loss of step `k`
    /// divided by `1 − β^(k+1)`. The default.
    #[default]
    Fastai,
    /// Lightning's `_ExponentialLR`/`_LinearLR` and `_LRCallback`: step 0 at position 0, step
    /// `k ≥ 1` at `(k + 1) / num_it`; the smoothed loss of step `k` divided by `1 − β^(k+2)`.
    Lightning,
}

/// A rule that picks a learning rate from the curve. See [the module docs](self#suggestions).
///
/// # Example
///
/// ```
/// use ndarray_optim::finder::Rule;
///
/// // A curve that falls from 2 to 0.5 and then rises.
/// let lrs: Vec<f64> = (0..40).map(|k| 1e-4 * 1.3_f64.powi(k)).collect();
/// let losses: Vec<f64> = lrs.iter().map(|&lr| {
///     let u = lr.log10() + 2.0;
///     2.0 - 1.5 / (1.0 + (-3.0 * u).exp()) + 0.2 * (2.0 * u).exp()
/// }).collect();
/// let minimum = Rule::Minimum.apply(&lrs, &losses).expect("a suggestion");
/// assert!((minimum.lr - lrs[minimum.index] / 10.0).abs() < 1e-18);
/// let steep = Rule::Steep.apply(&lrs, &losses).expect("a suggestion");
/// assert!(steep.index < minimum.index);
/// assert!(Rule::Slide.apply(&lrs[..10], &losses[..10]).is_none()); // needs 16 points
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Rule {
    /// fastai's `valley` (its default): half-way down the longest decreasing run. Needs one
    /// point.
    #[default]
    Valley,
    /// fastai's `slide` with its defaults (`lr_diff = 15`, `thresh = 0.005`,
    /// `adjust_value = 1`). The threshold is on the loss's own scale. Needs 16 points.
    Slide,
    /// fastai's `minimum`: a tenth of the learning rate of the lowest loss. Needs one point.
    Minimum,
    /// fastai's `steep`: the steepest fall against `ln(lr)`. Needs two points.
    Steep,
    /// Lightning's `suggestion()` (2.5.3 and later): the steepest fall against the linear
    /// learning rate, by `torch.gradient`'s second-order differences on the uneven grid.
    /// Needs two points.
    SteepestLinear,
}

impl Rule {
    /// Every rule, fastai's four then Lightning's.
    pub const ALL: &'static [Rule] = &[
        Rule::Valley,
        Rule::Slide,
        Rule::Minimum,
        Rule::Steep,
        Rule::SteepestLinear,
    ];

    /// The rule's name: fastai's function name, or `"steepest_linear"`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::finder::Rule;
    ///
    /// let names: Vec<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
    /// assert_eq!(names, ["valley", "slide", "minimum", "steep", "steepest_linear"]);
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Rule::Valley => "valley",
            Rule::Slide => "slide",
            Rule::Minimum => "minimum",
            Rule::Steep => "steep",
            Rule::SteepestLinear => "steepest_linear",
        }
    }

    /// The rule on a curve: `lrs[i]` and `losses[i]` are one point. `index` in the answer is
    /// a position in these slices. `None` if the slices differ in length or are too short for
    /// the rule. The slices are taken as they are: [`LrFinderResult::suggest`] first cuts the
    /// curve to its [window](LrFinderResult::window); non-finite values are never picked by
    /// the minimum rules.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::finder::Rule;
    ///
    /// let lrs = [1e-3, 1e-2, 1e-1, 1.0];
    /// let losses = [1.0, 0.9, 0.2, 5.0];
    /// let s = Rule::Minimum.apply(&lrs, &losses).expect("a suggestion");
    /// assert_eq!((s.index, s.loss), (2, 0.2));
    /// assert!((s.lr - 1e-2).abs() < 1e-15);
    /// assert!(Rule::Steep.apply(&lrs[..1], &losses[..1]).is_none());
    /// ```
    pub fn apply(self, lrs: &[f64], losses: &[f64]) -> Option<Suggestion> {
        if lrs.len() != losses.len() || lrs.is_empty() {
            return None;
        }
        let index = match self {
            Rule::Valley => valley(losses),
            Rule::Slide => slide(losses, SLIDE_LR_DIFF, SLIDE_THRESH)?,
            Rule::Minimum => argmin(losses.iter().copied())?,
            Rule::Steep => steep(lrs, losses)?,
            Rule::SteepestLinear => steepest_linear(lrs, losses)?,
        };
        let lr = match self {
            Rule::Minimum => lrs[index] / 10.0,
            _ => lrs[index],
        };
        Some(Suggestion {
            rule: self,
            lr,
            index,
            loss: losses[index],
        })
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// fastai's `slide` defaults.
const SLIDE_LR_DIFF: usize = 15;
const SLIDE_THRESH: f64 = 0.005;

/// The position of the smallest value (the first of equals); NaN is never the smallest.
fn argmin(values: impl Iterator<Item = f64>) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, v) in values.enumerate() {
        if v.is_nan() {
            continue;
        }
        if best.is_none_or(|(_, b)| v < b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

/// fastai's `valley`, loop for loop (the O(n²) longest strictly decreasing subsequence, with
/// its bookkeeping of where the run starts exactly as fastai updates it: `max_start` is one
/// before the run's first point, and an index of −1 is Python's last element).
fn valley(losses: &[f64]) -> usize {
    let n = losses.len();
    let (mut max_start, mut max_end) = (0isize, 0usize);
    let mut lds = vec![1usize; n];
    for i in 1..n {
        for j in 0..i {
            if losses[i] < losses[j] && lds[i] < lds[j] + 1 {
                lds[i] = lds[j] + 1;
            }
            if lds[max_end] < lds[i] {
                max_end = i;
                max_start = max_end as isize - lds[max_end] as isize;
            }
        }
    }
    let sections = (max_end as isize - max_start) as f64 / 3.0;
    // `int()` truncates; both terms are ≥ 0, and max_start ≥ −1.
    let index = max_start + sections as isize + (sections / 2.0) as isize;
    if index < 0 {
        n - 1
    } else {
        (index as usize).min(n - 1)
    }
}

/// `np.gradient` of equally spaced values (spacing 1): central differences inside, one-sided
/// at the ends. Needs two values.
fn gradient(values: &[f64]) -> Vec<f64> {
    let n = values.len();
    let mut g = Vec::with_capacity(n);
    g.push(values[1] - values[0]);
    for i in 1..n - 1 {
        g.push((values[i + 1] - values[i - 1]) / 2.0);
    }
    g.push(values[n - 1] - values[n - 2]);
    g
}

/// fastai's `slide`: the index of the learning rate it returns.
fn slide(losses: &[f64], lr_diff: usize, thresh: f64) -> Option<usize> {
    let n = losses.len();
    if n < lr_diff + 1 {
        return None; // fastai: `lrs[-16]` is out of range
    }
    let grad = gradient(losses);
    let (mut r, mut l) = (n - 1, n - 1 - lr_diff);
    let mut chosen = l;
    loop {
        if (grad[r] - grad[l]).abs() <= thresh || (grad[r] - grad[l]).is_nan() {
            break;
        }
        chosen = l;
        if l == 0 {
            break;
        }
        r -= 1;
        l -= 1;
    }
    Some(chosen)
}

/// fastai's `steep`: the left point of the most negative `Δloss / Δln(lr)`.
fn steep(lrs: &[f64], losses: &[f64]) -> Option<usize> {
    if lrs.len() < 2 {
        return None;
    }
    argmin(
        lrs.windows(2)
            .zip(losses.windows(2))
            .map(|(lr, loss)| (loss[1] - loss[0]) / (lr[1].ln() - lr[0].ln())),
    )
}

/// Lightning's suggestion: the most negative `torch.gradient(losses, spacing=[lrs])`
/// (numpy's formulas for an uneven grid, first order at the ends).
fn steepest_linear(lrs: &[f64], losses: &[f64]) -> Option<usize> {
    let n = lrs.len();
    if n < 2 {
        return None;
    }
    let f = losses;
    let grads = (0..n).map(|i| {
        if i == 0 {
            (f[1] - f[0]) / (lrs[1] - lrs[0])
        } else if i == n - 1 {
            (f[n - 1] - f[n - 2]) / (lrs[n - 1] - lrs[n - 2])
        } else {
            let (dx1, dx2) = (lrs[i] - lrs[i - 1], lrs[i + 1] - lrs[i]);
            let a = -dx2 / (dx1 * (dx1 + dx2));
            let b = (dx2 - dx1) / (dx1 * dx2);
            let c = dx1 / (dx2 * (dx1 + dx2));
            a * f[i - 1] + b * f[i] + c * f[i + 1]
        }
    });
    argmin(grads)
}

/// A suggested learning rate and the point of the curve it came from.
///
/// # Example
///
/// ```
/// use ndarray_optim::finder::Rule;
///
/// let lrs = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8];
/// let losses = [8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0];
/// let s = Rule::Valley.apply(&lrs, &losses).expect("a suggestion");
/// assert_eq!((s.rule, s.index, s.lr, s.loss), (Rule::Valley, 2, 0.4, 6.0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Suggestion {
    /// The rule that made it.
    pub rule: Rule,
    /// The suggested learning rate.
    pub lr: f64,
    /// The point of the curve the rule picked: for [`Rule::Minimum`] the minimum (the
    /// suggestion is a tenth of its learning rate), otherwise the suggestion's own point.
    /// [`LrFinderResult::suggest`] gives it as a position in the whole curve.
    pub index: usize,
    /// The smoothed loss at `index`: with `lrs[index]`, the point to mark on a plot.
    pub loss: f64,
}

config! {
    /// The settings of a range test: fastai's `lr_find` defaults, Lightning's with
    /// [`LrFinderConfig::lightning`]. Built into an [`LrFinder`] by
    /// [`build`](LrFinderConfig::build), which checks them.
    ///
    /// | field | default (fastai) | Lightning | valid |
    /// |---|---|---|---|
    /// | `start_lr` | `1e-7` | `1e-8` | `> 0` (exponential), `≥ 0` (linear) |
    /// | `end_lr` | `10` | `1` | `> start_lr` |
    /// | `num_it` | `100` | `100` | `≥ 6` |
    /// | `mode` | exponential | exponential | |
    /// | `convention` | [`Convention::Fastai`] | [`Convention::Lightning`] | |
    /// | `beta` | `0.98` | `0.98` | `[0, 1)` |
    /// | `early_stop_threshold` | `Some(4)` | `Some(4)` | `≥ 1`, or `None` |
    /// | `skip_begin` | `None` (`num_it / 10`) | `Some(10)` | |
    /// | `skip_end` | `5` | `1` | `skip_begin + skip_end < num_it` |
    /// | `rule` | [`Rule::Valley`] | [`Rule::SteepestLinear`] | |
    ///
    /// Every value must also be finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::finder::{LrFinderConfig, Rule};
    /// use ndarray_optim::Error;
    ///
    /// let finder = LrFinderConfig::default().end_lr(1.0).num_it(200).rule(Rule::Steep).build()?;
    /// assert_eq!(finder.skip_begin(), 20); // fastai's num_it / 10
    /// let bad = LrFinderConfig::default().start_lr(1.0).end_lr(0.1).build();
    /// assert!(matches!(bad, Err(Error::InvalidHyperparameter { name: "end_lr", .. })));
    /// let bad = LrFinderConfig::default().num_it(5).build();
    /// assert!(matches!(bad, Err(Error::InvalidHyperparameter { name: "num_it", .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub struct LrFinderConfig {
        /// The learning rate of the first step (Lightning: `min_lr`).
        #[serde(alias = "min_lr")]
        start_lr: f64 = 1e-7,
        /// Where the sweep ends (Lightning: `max_lr`): reached at the last step with
        /// [`Convention::Lightning`], one step short of it with [`Convention::Fastai`].
        #[serde(alias = "max_lr")]
        end_lr: f64 = 10.0,
        /// The number of steps if nothing stops the sweep earlier (Lightning:
        /// `num_training`).
        #[serde(alias = "num_training")]
        num_it: usize = 100,
        /// Exponential or linear.
        mode: SweepMode = SweepMode::Exponential,
        /// fastai's or Lightning's positions and debiasing.
        convention: Convention = Convention::Fastai,
        /// The smoothing factor of the loss's moving average (0: no smoothing).
        beta: f64 = 0.98,
        /// Stop when the smoothed loss exceeds this many times the best smoothed loss so far
        /// (`None`: never; fastai's `stop_div=False`).
        early_stop_threshold: Option<f64> = Some(4.0),
        /// Points at the start of the curve the rules do not look at (`None`: fastai's
        /// `num_it / 10`).
        skip_begin: Option<usize> = None,
        /// Points at the end of the curve the rules do not look at.
        skip_end: usize = 5,
        /// The rule of [`LrFinderResult::suggestion`].
        rule: Rule = Rule::Valley,
    }
}

// The enums of the configuration hold no floats.
crate::builder::plain!(SweepMode, Convention, Rule);

impl LrFinderConfig {
    /// PyTorch Lightning's `Tuner.lr_find` and `suggestion()` defaults: `1e-8` to `1` in 100
    /// steps, [`Convention::Lightning`], skipping 10 points at the start and 1 at the end,
    /// [`Rule::SteepestLinear`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::finder::{LrFinderConfig, Rule};
    ///
    /// let config = LrFinderConfig::lightning();
    /// assert_eq!((config.start_lr, config.end_lr, config.skip_end), (1e-8, 1.0, 1));
    /// assert_eq!(config.rule, Rule::SteepestLinear);
    /// ```
    pub fn lightning() -> LrFinderConfig {
        LrFinderConfig {
            start_lr: 1e-8,
            end_lr: 1.0,
            num_it: 100,
            mode: SweepMode::Exponential,
            convention: Convention::Lightning,
            beta: 0.98,
            early_stop_threshold: Some(4.0),
            skip_begin: Some(10),
            skip_end: 1,
            rule: Rule::SteepestLinear,
        }
    }

    /// Checks the settings and makes the finder.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] naming the field, for the ranges in the table above.
    pub fn build(self) -> Result<LrFinder, Error> {
        let start_ok = match self.mode {
            SweepMode::Exponential => self.start_lr > 0.0,
            SweepMode::Linear => self.start_lr >= 0.0,
        };
        check::require(
            start_ok && self.start_lr.is_finite(),
            "start_lr",
            self.start_lr,
            "must be finite and > 0 (>= 0 for a linear sweep)",
        )?;
        check::require(
            self.end_lr.is_finite() && self.end_lr > self.start_lr,
            "end_lr",
            self.end_lr,
            "must be finite and > start_lr",
        )?;
        check::require(
            self.num_it >= MIN_NUM_IT,
            "num_it",
            self.num_it as f64,
            "must be >= 6",
        )?;
        check::beta("beta", self.beta)?;
        if let Some(threshold) = self.early_stop_threshold {
            check::require(
                threshold.is_finite() && threshold >= 1.0,
                "early_stop_threshold",
                threshold,
                "must be finite and >= 1",
            )?;
        }
        let skip_begin = self.skip_begin.unwrap_or(self.num_it / 10);
        check::require(
            skip_begin
                .checked_add(self.skip_end)
                .is_some_and(|s| s < self.num_it),
            "skip_end",
            self.skip_end as f64,
            "skip_begin + skip_end must be < num_it",
        )?;
        Ok(LrFinder { config: self })
    }
}

/// A learning-rate range test, ready to run: made by [`LrFinderConfig::build`], or
/// [`LrFinder::new`] for fastai's defaults. See [the module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct LrFinder {
    config: LrFinderConfig,
}

/// What [`LrFinder::run_with_progress`] reports after each step.
///
/// # Example
///
/// ```
/// use ndarray_optim::finder::StepReport;
///
/// fn line(r: &StepReport) -> String {
///     format!("{}/{} lr {:.1e} loss {:.4}", r.step + 1, r.num_it, r.lr, r.smoothed_loss)
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct StepReport {
    /// The step, from 0.
    pub step: usize,
    /// The number of steps of a sweep that runs to the end.
    pub num_it: usize,
    /// The learning rate of this step.
    pub lr: f64,
    /// The loss the closure returned.
    pub loss: f64,
    /// The smoothed loss recorded for this step.
    pub smoothed_loss: f64,
}

/// Why the sweep ended. Whatever it was, the parameters and the optimizer were restored.
///
/// # Example
///
/// ```
/// use ndarray_optim::finder::Stop;
///
/// let stop = Stop::NonFiniteLoss { step: 57, loss: f64::NAN };
/// assert_eq!(stop.step(), Some(57));
/// assert_eq!(Stop::Completed.step(), None);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Stop {
    /// All `num_it` steps ran.
    Completed,
    /// The smoothed loss of `step` exceeded `early_stop_threshold × best`.
    Diverged {
        /// The step, from 0 (the last point of the curve).
        step: usize,
        /// Its smoothed loss.
        loss: f64,
        /// The best smoothed loss before it.
        best: f64,
    },
    /// The closure returned a NaN or infinite loss at `step` (the last point of the curve;
    /// the optimizer did not step).
    NonFiniteLoss {
        /// The step, from 0.
        step: usize,
        /// The loss returned.
        loss: f64,
    },
    /// The optimizer refused the gradients of `step` because one was NaN or infinite
    /// ([`Error::NonFiniteGradient`] under its default policy). The step's loss is the last
    /// point of the curve.
    NonFiniteGradient {
        /// The step, from 0.
        step: usize,
        /// The optimizer's error, with the tensor and element.
        error: Error,
    },
}

impl Stop {
    /// The step at which the sweep stopped early, `None` if it ran to the end.
    pub fn step(&self) -> Option<usize> {
        match self {
            Stop::Completed => None,
            Stop::Diverged { step, .. }
            | Stop::NonFiniteLoss { step, .. }
            | Stop::NonFiniteGradient { step, .. } => Some(*step),
        }
    }
}

/// The recorded curve, why it ended, and the suggestion.
///
/// `lrs[k]`, `losses[k]` and `raw_losses[k]` belong to step `k`. Plot `losses` against `lrs`
/// on a logarithmic axis and mark the suggestions' points (`lrs[s.index]`, `s.loss`).
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use ndarray::array;
/// use ndarray_optim::finder::{LrFinder, Rule};
/// use ndarray_optim::Sgd;
///
/// let (mut w, mut g) = (array![2.0_f64], array![0.0_f64]);
/// let mut opt = Sgd::new(0.1)?;
/// let result = LrFinder::new().run(&mut opt, &mut w, &mut g, |w, g| {
///     g[0] = 2.0 * w[0];
///     Ok::<f64, Infallible>(w[0] * w[0] + 1.0)
/// })?;
/// assert_eq!(result.lrs.len(), result.losses.len());
/// assert_eq!(result.raw_losses[0], 5.0);
/// for &rule in Rule::ALL {
///     if let Some(s) = result.suggest(rule) {
///         assert!(result.window.contains(&s.index));
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct LrFinderResult {
    /// The learning rate of each step.
    pub lrs: Vec<f64>,
    /// The smoothed loss of each step: the curve the rules read.
    pub losses: Vec<f64>,
    /// The loss the closure returned at each step.
    pub raw_losses: Vec<f64>,
    /// Why the sweep ended.
    pub stop: Stop,
    /// The points the rules look at (see [the module docs](self#suggestions)); may be empty.
    pub window: Range<usize>,
    /// The configured rule's suggestion ([`LrFinderConfig::rule`]), `None` when the window
    /// is too short for it.
    pub suggestion: Option<Suggestion>,
}

impl LrFinderResult {
    /// `rule`'s suggestion on the window of this curve, with `index` a position in the whole
    /// curve; `None` when the window is too short for the rule.
    pub fn suggest(&self, rule: Rule) -> Option<Suggestion> {
        let w = self.window.clone();
        let mut s = rule.apply(self.lrs.get(w.clone())?, self.losses.get(w.clone())?)?;
        s.index += w.start;
        Some(s)
    }

    /// Every rule's suggestion, in the order of [`Rule::ALL`].
    pub fn suggestions(&self) -> Vec<(Rule, Option<Suggestion>)> {
        Rule::ALL.iter().map(|&r| (r, self.suggest(r))).collect()
    }
}

/// Why a range test could not be run or finished. In every case the parameters and the
/// optimizer were restored (except [`Restore`](FindError::Restore), which says they could not
/// be), and `E` is the closure's own error type.
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::finder::{FindError, LrFinder};
/// use ndarray_optim::Sgd;
///
/// let (mut w, mut g) = (array![1.0_f32], array![0.0_f32]);
/// let mut opt = Sgd::new(0.1)?;
/// let result = LrFinder::new().run(&mut opt, &mut w, &mut g, |_, g| {
///     g[0] = 1.0;
///     Err("out of data")
/// });
/// match result {
///     Err(FindError::Closure { step, error, .. }) => assert_eq!((step, error), (0, "out of data")),
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(w[0], 1.0);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum FindError<E> {
    /// The parameter list contradicts itself (checked before anything ran).
    Params(Error),
    /// The closure returned `Err` at `step`.
    Closure {
        /// The step, from 0.
        step: usize,
        /// Its learning rate.
        lr: f64,
        /// The closure's error.
        error: E,
    },
    /// The optimizer refused the learning rate or the step at `step` (other than for a
    /// non-finite gradient, which ends the sweep with [`Stop::NonFiniteGradient`]).
    Optimizer {
        /// The step, from 0.
        step: usize,
        /// Its learning rate.
        lr: f64,
        /// The optimizer's error.
        error: Error,
    },
    /// Putting the parameters or the optimizer back failed: a parameter list that lends other
    /// tensors than it did before the sweep, or an optimizer (of your own) that does not load
    /// its own saved state. Cannot happen with this crate's optimizers and `ndarray` arrays.
    Restore(Error),
}

impl<E: fmt::Display> fmt::Display for FindError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FindError::Params(e) => write!(f, "learning-rate finder: {e}"),
            FindError::Closure { step, lr, error } => write!(
                f,
                "learning-rate finder: the training closure failed at step {step} (lr {lr}): \
                 {error}"
            ),
            FindError::Optimizer { step, lr, error } => write!(
                f,
                "learning-rate finder: the optimizer failed at step {step} (lr {lr}): {error}"
            ),
            FindError::Restore(e) => write!(
                f,
                "learning-rate finder: could not restore the parameters or the optimizer: {e}"
            ),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for FindError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FindError::Params(e) | FindError::Restore(e) => Some(e),
            FindError::Closure { error, .. } => Some(error),
            FindError::Optimizer { error, .. } => Some(error),
        }
    }
}

impl Default for LrFinder {
    fn default() -> Self {
        LrFinder::new()
    }
}

impl LrFinder {
    /// fastai's `lr_find()`: [`LrFinderConfig::default`], built.
    pub fn new() -> LrFinder {
        LrFinder {
            config: LrFinderConfig::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &LrFinderConfig {
        &self.config
    }

    /// The points skipped at the start of the curve: `skip_begin`, or `num_it / 10`.
    pub fn skip_begin(&self) -> usize {
        self.config.skip_begin.unwrap_or(self.config.num_it / 10)
    }

    /// The learning rate of step `step` (from 0; see [the sweep](self#the-sweep)).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::finder::LrFinder;
    ///
    /// let finder = LrFinder::new(); // 1e-7 to 10 in 100 steps
    /// assert_eq!(finder.lr(0), 1e-7);
    /// assert!((finder.lr(50) - 1e-3).abs() < 1e-15);
    /// ```
    pub fn lr(&self, step: usize) -> f64 {
        let c = &self.config;
        let steps = c.num_it as f64;
        let pos = match c.convention {
            Convention::Fastai => step as f64 / steps,
            Convention::Lightning if step == 0 => 0.0,
            Convention::Lightning => (step as f64 + 1.0) / steps,
        };
        match c.mode {
            SweepMode::Exponential => c.start_lr * (c.end_lr / c.start_lr).powf(pos),
            SweepMode::Linear => c.start_lr + pos * (c.end_lr - c.start_lr),
        }
    }

    /// Runs the range test: see [the module docs](self). `closure(params, grads)` computes
    /// the loss at `params` and writes the gradients into `grads`; the finder steps `opt`
    /// with them. Afterwards the parameters and the optimizer are as they were.
    ///
    /// # Errors
    ///
    /// [`FindError`]: a parameter list that contradicts itself, the closure's error, an
    /// optimizer error other than a non-finite gradient; each with everything restored.
    pub fn run<A, O, P, G, F, E>(
        &self,
        opt: &mut O,
        params: &mut P,
        grads: &mut G,
        closure: F,
    ) -> Result<LrFinderResult, FindError<E>>
    where
        A: Float,
        O: Optimizer<A> + ?Sized,
        P: TensorListMut<A>,
        G: TensorList<A>,
        F: FnMut(&P, &mut G) -> Result<f64, E>,
    {
        self.run_with_progress(opt, params, grads, closure, |_| {})
    }

    /// [`run`](LrFinder::run), calling `progress` after every step (see
    /// [Progress](self#progress)).
    ///
    /// # Errors
    ///
    /// As [`run`](LrFinder::run).
    pub fn run_with_progress<A, O, P, G, F, E>(
        &self,
        opt: &mut O,
        params: &mut P,
        grads: &mut G,
        mut closure: F,
        mut progress: impl FnMut(&StepReport),
    ) -> Result<LrFinderResult, FindError<E>>
    where
        A: Float,
        O: Optimizer<A> + ?Sized,
        P: TensorListMut<A>,
        G: TensorList<A>,
        F: FnMut(&P, &mut G) -> Result<f64, E>,
    {
        let snapshot = Snapshot::take(opt, params).map_err(FindError::Params)?;
        let outcome = self.sweep(opt, params, grads, &mut closure, &mut progress);
        snapshot.restore(opt, params).map_err(FindError::Restore)?;
        outcome
    }

    /// The sweep itself, on the caller's parameters and optimizer.
    fn sweep<A, O, P, G, E>(
        &self,
        opt: &mut O,
        params: &mut P,
        grads: &mut G,
        closure: &mut dyn FnMut(&P, &mut G) -> Result<f64, E>,
        progress: &mut dyn FnMut(&StepReport),
    ) -> Result<LrFinderResult, FindError<E>>
    where
        A: Float,
        O: Optimizer<A> + ?Sized,
        P: TensorListMut<A>,
        G: TensorList<A>,
    {
        let c = &self.config;
        let capacity = c.num_it.min(1 << 12);
        let mut curve = Curve {
            lrs: Vec::with_capacity(capacity),
            losses: Vec::with_capacity(capacity),
            raw: Vec::with_capacity(capacity),
        };
        let mut avg = 0.0_f64;
        let mut best = f64::INFINITY;
        let mut stop = Stop::Completed;
        let ratios = group_ratios(&*opt);
        for step in 0..c.num_it {
            let lr = self.lr(step);
            set_sweep_rate(opt, lr, ratios.as_deref()).map_err(|error| FindError::Optimizer {
                step,
                lr,
                error,
            })?;
            let loss =
                closure(&*params, grads).map_err(|error| FindError::Closure { step, lr, error })?;

            avg = c.beta * avg + (1.0 - c.beta) * loss;
            let count = match c.convention {
                Convention::Fastai => step as f64 + 1.0,
                Convention::Lightning => step as f64 + 2.0,
            };
            let smoothed = avg / (1.0 - c.beta.powf(count));
            curve.lrs.push(lr);
            curve.raw.push(loss);
            curve.losses.push(smoothed);
            let report = StepReport {
                step,
                num_it: c.num_it,
                lr,
                loss,
                smoothed_loss: smoothed,
            };

            if !loss.is_finite() {
                progress(&report);
                stop = Stop::NonFiniteLoss { step, loss };
                break;
            }
            match opt.step(params, &*grads) {
                Ok(()) => {}
                Err(error @ Error::NonFiniteGradient { .. }) => {
                    progress(&report);
                    stop = Stop::NonFiniteGradient { step, error };
                    break;
                }
                Err(error) => return Err(FindError::Optimizer { step, lr, error }),
            }
            progress(&report);
            let previous_best = best;
            if step == 0 || smoothed < best {
                best = smoothed;
            }
            if let Some(threshold) = c.early_stop_threshold
                && step > 0
                && (smoothed > threshold * best || smoothed.is_nan())
            {
                stop = Stop::Diverged {
                    step,
                    loss: smoothed,
                    best: previous_best,
                };
                break;
            }
        }
        let window = self.window(&curve.losses, &stop);
        let mut result = LrFinderResult {
            lrs: curve.lrs,
            losses: curve.losses,
            raw_losses: curve.raw,
            stop,
            window,
            suggestion: None,
        };
        result.suggestion = result.suggest(c.rule);
        Ok(result)
    }

    /// The points the rules see (see [Suggestions](self#suggestions)).
    fn window(&self, losses: &[f64], stop: &Stop) -> Range<usize> {
        let len = losses.len();
        let first_non_finite = losses.iter().position(|l| !l.is_finite());
        // A NaN does not stop fastai or Lightning: their curves go on to `num_it` points, the
        // rest NaN, and the window ends at the first NaN unless `skip_end` cuts earlier.
        let nan_tail = match stop {
            Stop::NonFiniteLoss { step, .. } => losses[*step].is_nan(),
            Stop::NonFiniteGradient { .. } => true,
            _ => false,
        };
        let (recorded, cut) = if nan_tail {
            (self.config.num_it.max(len), first_non_finite.unwrap_or(len))
        } else {
            (len, first_non_finite.unwrap_or(len))
        };
        let end = recorded
            .saturating_sub(self.config.skip_end)
            .min(cut)
            .min(len);
        self.skip_begin().min(end)..end
    }
}

/// The curve as it is recorded.
struct Curve {
    lrs: Vec<f64>,
    losses: Vec<f64>,
    raw: Vec<f64>,
}

/// Each parameter group's learning rate over the largest group's, as they stand before the
/// sweep (all 1 if every group is at 0); `None` without groups, where the sweep sets the
/// optimizer's learning rate.
fn group_ratios<A: Float, O: Optimizer<A> + ?Sized>(opt: &O) -> Option<Vec<f64>> {
    opt.param_groups()?;
    let lrs: Vec<f64> = (0..opt.group_count())
        .map(|g| opt.group_learning_rate(g).unwrap_or(0.0))
        .collect();
    let largest = lrs.iter().copied().fold(0.0, f64::max);
    Some(
        lrs.iter()
            .map(|&lr| if largest > 0.0 { lr / largest } else { 1.0 })
            .collect(),
    )
}

/// Sets the sweep's learning rate `lr`: the optimizer's, or each group's at its ratio.
fn set_sweep_rate<A: Float, O: Optimizer<A> + ?Sized>(
    opt: &mut O,
    lr: f64,
    ratios: Option<&[f64]>,
) -> Result<(), Error> {
    match ratios {
        None => opt.set_learning_rate(lr),
        Some(ratios) => ratios
            .iter()
            .enumerate()
            .try_for_each(|(g, &ratio)| opt.set_group_learning_rate(g, lr * ratio)),
    }
}

/// The parameters and the optimizer as they were before the sweep.
struct Snapshot<A: Float> {
    params: Vec<ArrayD<A>>,
    optimizer: crate::state::OptimizerState<A>,
    lr: f64,
}

impl<A: Float> Snapshot<A> {
    /// Copies every parameter tensor and saves the optimizer, after checking that the list
    /// lends every tensor it counts, readable and writable, with one shape.
    fn take<O: Optimizer<A> + ?Sized>(
        opt: &O,
        params: &mut dyn TensorListMut<A>,
    ) -> Result<Snapshot<A>, Error> {
        let n = check::list_mut(params)?;
        let mut copies = Vec::with_capacity(n);
        for index in 0..n {
            let tensor = params.tensor(index).ok_or(Error::LengthMismatch {
                params: n,
                grads: index,
            })?;
            copies.push(tensor.view_dyn().to_owned());
        }
        Ok(Snapshot {
            params: copies,
            optimizer: opt.save_state(),
            lr: opt.learning_rate(),
        })
    }

    /// Writes the parameters back and loads the saved optimizer state. Tries every part even
    /// if one fails; returns the first failure.
    fn restore<O: Optimizer<A> + ?Sized>(
        self,
        opt: &mut O,
        params: &mut dyn TensorListMut<A>,
    ) -> Result<(), Error> {
        let mut first: Option<Error> = None;
        if params.len() != self.params.len() {
            first = Some(Error::LengthMismatch {
                params: params.len(),
                grads: self.params.len(),
            });
        }
        for (index, saved) in self.params.iter().enumerate() {
            match params.tensor_mut(index) {
                Some(t) if t.shape() == saved.shape() => t.view_dyn_mut().assign(saved),
                _ => {
                    first.get_or_insert(Error::InconsistentTensor {
                        index,
                        reason: "the list lends another tensor than before the sweep",
                    });
                }
            }
        }
        if let Err(e) = opt.load_state(self.optimizer) {
            first.get_or_insert(e);
        }
        if opt.learning_rate().to_bits() != self.lr.to_bits()
            && let Err(e) = opt.set_learning_rate(self.lr)
        {
            first.get_or_insert(e);
        }
        first.map_or(Ok(()), Err)
    }
}
