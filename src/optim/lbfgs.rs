//! L-BFGS: `torch.optim.LBFGS`, with and without its strong-Wolfe line search.
//!
//! Not an [`OptimizerKind`](crate::OptimizerKind): a step evaluates the loss several times, so it
//! takes a closure ([`Lbfgs::step`]) instead of one gradient (see `ARCHITECTURE.md`).

use std::collections::VecDeque;
use std::fmt;

use ndarray::{ArrayD, Dimension, IxDyn};

use crate::builder::config;
use crate::check;
use crate::error::Error;
use crate::float::Float;
use crate::pass::OrderedSum;
use crate::tensor::{TensorList, TensorListMut};

/// The line search of [`Lbfgs`]: PyTorch's `line_search_fn`.
///
/// # Example
///
/// ```
/// use ndarray_optim::{LbfgsConfig, LineSearch};
///
/// let config = LbfgsConfig::default().line_search_fn(Some(LineSearch::StrongWolfe));
/// assert_eq!(config.line_search_fn, Some(LineSearch::StrongWolfe));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum LineSearch {
    /// `"strong_wolfe"`: PyTorch's `_strong_wolfe` (a port of minFunc's and torch7's), which
    /// brackets a step satisfying the strong Wolfe conditions (`c₁ = 1e-4`, `c₂ = 0.9`) and
    /// zooms in on it by cubic interpolation (`_cubic_interpolate`).
    #[cfg_attr(feature = "serde", serde(rename = "strong_wolfe"))]
    StrongWolfe,
}

crate::builder::plain!(LineSearch);

config! {
    /// Hyperparameters of [`Lbfgs`]: those of PyTorch's `torch.optim.LBFGS`, with its defaults.
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `lr` | `1` | `≥ 0` |
    /// | `max_iter` | `20`: L-BFGS iterations per [`step`](Lbfgs::step) | `≥ 1` (PyTorch: `0` makes a step that does nothing) |
    /// | `max_eval` | `None`: `max_iter·5/4` (rounded down), evaluations of the closure per step | `≥ 1` when resolved (PyTorch crashes in the line search with `0`) |
    /// | `tolerance_grad` | `1e-7`: stop when `max |g| ≤` it | `≥ 0` |
    /// | `tolerance_change` | `1e-9`: stop when the step or the loss changes less | `≥ 0` |
    /// | `history_size` | `100`: curvature pairs kept | `≥ 1` (PyTorch crashes with `0`) |
    /// | `line_search_fn` | `None`: fixed steps of `lr` | [`LineSearch::StrongWolfe`] |
    /// | `maximize` | `false` | |
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Error, LbfgsConfig, LineSearch};
    ///
    /// let lbfgs = LbfgsConfig::default()
    ///     .history_size(10)
    ///     .line_search_fn(Some(LineSearch::StrongWolfe))
    ///     .build::<f64>()?;
    /// assert_eq!(lbfgs.config().max_eval, None); // 20·5/4 = 25 evaluations at most
    /// assert!(matches!(
    ///     LbfgsConfig::default().history_size(0).build::<f64>(),
    ///     Err(Error::InvalidHyperparameter { name: "history_size", .. })
    /// ));
    /// # Ok::<(), Error>(())
    /// ```
    pub struct LbfgsConfig {
        /// Learning rate `γ`: the length of every step without a line search, the first trial
        /// step of the line search.
        lr: f64 = 1.0,
        /// The most L-BFGS iterations one [`step`](Lbfgs::step) makes.
        max_iter: usize = 20,
        /// The most closure evaluations one step makes (`None`: `max_iter·5/4`).
        max_eval: Option<usize> = None,
        /// Termination tolerance on first-order optimality, `max |g|`.
        tolerance_grad: f64 = 1e-7,
        /// Termination tolerance on the change of the loss and of the parameters.
        tolerance_change: f64 = 1e-9,
        /// The number of curvature pairs `(s, y)` kept.
        history_size: usize = 100,
        /// The line search, if any.
        line_search_fn: Option<LineSearch> = None,
        /// Maximise the objective instead of minimising it.
        maximize: bool = false,
    }
}

impl LbfgsConfig {
    /// `max_eval`, or PyTorch's default `max_iter·5/4`.
    pub fn resolved_max_eval(&self) -> usize {
        self.max_eval
            .unwrap_or_else(|| self.max_iter.saturating_mul(5) / 4)
    }

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::require(
            self.max_iter >= 1,
            "max_iter",
            self.max_iter as f64,
            "must be >= 1",
        )?;
        let max_eval = self.resolved_max_eval();
        check::require(max_eval >= 1, "max_eval", max_eval as f64, "must be >= 1")?;
        check::non_negative("tolerance_grad", self.tolerance_grad)?;
        check::non_negative("tolerance_change", self.tolerance_change)?;
        check::require(
            self.history_size >= 1,
            "history_size",
            self.history_size as f64,
            "must be >= 1",
        )
    }

    /// Builds an [`Lbfgs`] with these hyperparameters.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] naming the first value outside its valid range (see the
    /// table above); [`Error::NotRepresentable`] for one that `A` cannot carry (`lr = 1e39`
    /// in `f32`).
    pub fn build<A: Float>(self) -> Result<Lbfgs<A>, Error> {
        check::in_element::<A, _>(&self, Self::validate)?;
        Ok(Lbfgs {
            config: self,
            state: None,
            func_evals: 0,
            n_iter: 0,
            work: Work::default(),
        })
    }
}

/// A number as PyTorch's LBFGS holds it: a Python float (`f64`), or a 0-d tensor of the
/// parameters' type (the dot products and what is computed from them). Arithmetic follows
/// PyTorch's promotion: a float meeting a tensor is rounded to the tensor's type first, a float
/// divided by a tensor is the tensor's reciprocal times the float (`__rtruediv__`), and
/// comparisons of a tensor with a float are made in the tensor's type.
#[derive(Clone, Copy, Debug)]
enum Num<A> {
    F(f64),
    T(A),
}

use Num::{F, T};

impl<A: Float> Num<A> {
    /// The value as an element of `A` (what `alpha=` and `mul(t)` see).
    fn elem(self) -> A {
        match self {
            F(x) => A::from_f64(x),
            T(x) => x,
        }
    }
    fn value(self) -> f64 {
        match self {
            F(x) => x,
            T(x) => x.widen(),
        }
    }
    fn add(self, o: Self) -> Self {
        match (self, o) {
            (F(a), F(b)) => F(a + b),
            (T(a), T(b)) => T(a + b),
            (T(a), F(b)) | (F(b), T(a)) => T(a + A::from_f64(b)),
        }
    }
    fn sub(self, o: Self) -> Self {
        match (self, o) {
            (F(a), F(b)) => F(a - b),
            (T(a), T(b)) => T(a - b),
            (T(a), F(b)) => T(a - A::from_f64(b)),
            (F(a), T(b)) => T(A::from_f64(a) - b),
        }
    }
    fn mul(self, o: Self) -> Self {
        match (self, o) {
            (F(a), F(b)) => F(a * b),
            (T(a), T(b)) => T(a * b),
            (T(a), F(b)) | (F(b), T(a)) => T(a * A::from_f64(b)),
        }
    }
    fn div(self, o: Self) -> Self {
        match (self, o) {
            (F(a), F(b)) => F(a / b),
            (T(a), T(b)) => T(a / b),
            (T(a), F(b)) => T(a / A::from_f64(b)),
            (F(a), T(b)) => T((A::one() / b) * A::from_f64(a)),
        }
    }
    fn abs(self) -> Self {
        match self {
            F(a) => F(a.abs()),
            T(a) => T(a.abs()),
        }
    }
    fn sqrt(self) -> Self {
        match self {
            F(a) => F(a.sqrt()),
            T(a) => T(a.sqrt()),
        }
    }
    /// `self` and `o` in the type they are compared in.
    fn pair(self, o: Self) -> (f64, f64) {
        match (self, o) {
            (F(a), F(b)) => (a, b),
            (T(a), T(b)) => (a.widen(), b.widen()),
            (T(a), F(b)) => (a.widen(), A::from_f64(b).widen()),
            (F(a), T(b)) => (A::from_f64(a).widen(), b.widen()),
        }
    }
    fn lt(self, o: Self) -> bool {
        let (a, b) = self.pair(o);
        a < b
    }
    fn le(self, o: Self) -> bool {
        let (a, b) = self.pair(o);
        a <= b
    }
    fn gt(self, o: Self) -> bool {
        o.lt(self)
    }
    fn ge(self, o: Self) -> bool {
        o.le(self)
    }
}

/// Python's `min(a, b)`: `b` if `b < a`, else `a`.
fn py_min<A: Float>(a: Num<A>, b: Num<A>) -> Num<A> {
    if b.lt(a) { b } else { a }
}

/// Python's `max(a, b)`: `b` if `b > a`, else `a`.
fn py_max<A: Float>(a: Num<A>, b: Num<A>) -> Num<A> {
    if b.gt(a) { b } else { a }
}

/// `x·y` summed in `f64` in the fixed order of [`OrderedSum`], rounded once to `A`: PyTorch's
/// `dot` is the BLAS's, whose order of summation is its own (see the type's docs).
fn dot<A: Float>(x: &[A], y: &[A]) -> A {
    let mut sum = OrderedSum::default();
    for (&a, &b) in x.iter().zip(y) {
        sum.add(a.widen() * b.widen());
    }
    A::from_f64(sum.finish())
}

/// `max |x|` (0 for an empty vector), NaN-propagating as PyTorch's `abs().max()`.
fn abs_max<A: Float>(x: &[A]) -> A {
    x.iter().fold(A::zero(), |m, &v| {
        let v = v.abs();
        if v.is_nan() || v > m { v } else { m }
    })
}

/// The curvature history and the rest of what a step leaves for the next (PyTorch's
/// `state[first_param]`), once a step has made an iteration.
#[derive(Clone, Debug, PartialEq)]
struct History<A> {
    /// The shapes of the tensors it was made for.
    shapes: Vec<Vec<usize>>,
    d: Vec<A>,
    t: f64,
    old_dirs: VecDeque<Vec<A>>,
    old_stps: VecDeque<Vec<A>>,
    ro: VecDeque<A>,
    h_diag: A,
    prev_flat_grad: Vec<A>,
    prev_loss: f64,
}

/// Working space kept from step to step, never saved: the flat gradient, the parameters before
/// a move, the line search's gradients, the two-loop recursion's `α`, and buffers for the next
/// curvature pair.
#[derive(Clone, Debug)]
struct Work<A> {
    flat_grad: Vec<A>,
    x: Vec<A>,
    g_new: Vec<A>,
    g_prev: Vec<A>,
    bracket_g: [Vec<A>; 2],
    al: Vec<A>,
    y: Vec<A>,
    s: Vec<A>,
}

impl<A> Default for Work<A> {
    fn default() -> Self {
        Work {
            flat_grad: Vec::new(),
            x: Vec::new(),
            g_new: Vec::new(),
            g_prev: Vec::new(),
            bracket_g: [Vec::new(), Vec::new()],
            al: Vec::new(),
            y: Vec::new(),
            s: Vec::new(),
        }
    }
}

/// Why a [`step`](Lbfgs::step) ended (PyTorch's reasons to leave its loop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LbfgsStop {
    /// `max |g| ≤ tolerance_grad`: at the start (nothing moved) or after an iteration.
    Optimal,
    /// `max_iter` iterations.
    MaxIter,
    /// `max_eval` evaluations of the closure (or more: the line search's last one).
    MaxEval,
    /// The direction is not one of descent: `g·d > −tolerance_change`.
    NotDescending,
    /// The step changed no parameter by more than `tolerance_change`.
    StepTooSmall,
    /// The loss changed by less than `tolerance_change`.
    LossUnchanged,
}

/// What one [`Lbfgs::step`] did.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct LbfgsStep {
    /// The loss at the parameters the step started from, as the closure returned it: what
    /// PyTorch's `step` returns.
    pub loss: f64,
    /// The closure evaluations this step made.
    pub evaluations: usize,
    /// The L-BFGS iterations this step made.
    pub iterations: usize,
    /// Why it ended.
    pub stop: LbfgsStop,
}

/// Why an [`Lbfgs::step`] failed; `E` is the closure's own error type.
///
/// The parameters are then the last accepted ones: those the step started from if the first
/// evaluation failed (nothing changed then), else those of the last iteration whose evaluation
/// succeeded (a trial point of the line search is never kept). The state is what it was after
/// that iteration's direction was computed, so the next step starts from those parameters with
/// the history intact. The gradients hold whatever the closure last wrote.
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::{Error, Lbfgs, LbfgsError};
///
/// let (mut w, mut g) = (array![1.0_f64, -2.0], array![0.0_f64, 0.0]);
/// let mut opt = Lbfgs::new(1.0)?;
/// let mut calls = 0;
/// let result = opt.step(&mut w, &mut g, |w, g| {
///     calls += 1;
///     if calls == 3 {
///         return Err("out of data");
///     }
///     g.assign(&(w * 2.0));
///     Ok(w.dot(w))
/// });
/// assert!(matches!(result, Err(LbfgsError::Closure { evaluation: 3, error: "out of data" })));
/// // The parameters are those of the last successful evaluation, the second.
/// assert!(w[0].abs() < 1.0);
/// let nan = opt.step(&mut w, &mut g, |_, _| Ok::<f64, &str>(f64::NAN));
/// assert!(matches!(
///     nan,
///     Err(LbfgsError::Invalid { evaluation: 1, error: Error::NonFiniteLoss { .. } })
/// ));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum LbfgsError<E> {
    /// The closure returned `Err` at evaluation `evaluation` of the step (from 1).
    Closure {
        /// The evaluation, from 1.
        evaluation: usize,
        /// The closure's error.
        error: E,
    },
    /// The step refused its inputs: with `evaluation` 0, before the first evaluation (lists
    /// that contradict themselves, gradients of other shapes than the parameters, a state
    /// made for other tensors; nothing changed); else what evaluation `evaluation` returned (a
    /// loss that is not finite, [`Error::NonFiniteLoss`]; a non-finite gradient,
    /// [`Error::NonFiniteGradient`]; gradients the closure changed the shapes of).
    Invalid {
        /// The evaluation, from 1; 0 before the first.
        evaluation: usize,
        /// What was wrong.
        error: Error,
    },
}

impl<E: fmt::Display> fmt::Display for LbfgsError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LbfgsError::Closure { evaluation, error } => {
                write!(
                    f,
                    "L-BFGS: the closure failed at evaluation {evaluation}: {error}"
                )
            }
            LbfgsError::Invalid {
                evaluation: 0,
                error,
            } => write!(f, "L-BFGS: {error}"),
            LbfgsError::Invalid { evaluation, error } => {
                write!(f, "L-BFGS: evaluation {evaluation}: {error}")
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for LbfgsError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LbfgsError::Closure { error, .. } => Some(error),
            LbfgsError::Invalid { error, .. } => Some(error),
        }
    }
}

/// Limited-memory BFGS (Liu & Nocedal, 1989): PyTorch's `torch.optim.LBFGS`, a quasi-Newton
/// method for full-batch problems.
///
/// Where a first-order optimizer takes one step per gradient, L-BFGS builds an approximation
/// of the inverse Hessian from the last `history_size` steps `s` and gradient changes `y`, and
/// steps along `−H·g`: on a smooth, deterministic objective (a full batch, a physics model, a
/// fit of a few thousand parameters) it needs far fewer evaluations than gradient descent, and
/// no tuned learning rate with the line search. It needs the loss to be evaluated again, so
/// [`step`](Lbfgs::step) takes a closure that computes the loss and writes the gradients, and
/// calls it up to `max_eval` times. Mini-batch noise defeats it: the curvature pairs and the
/// line search assume the same function at every evaluation.
///
/// All tensors are one flat vector `x` (in list order, each in logical order) with gradient
/// `g`. One `step`, as PyTorch's (`k` counts iterations over the whole run, the history and
/// `k` carry over from step to step):
///
/// ```text
/// f, g = closure(x)                                  stop if max|g| ≤ tolerance_grad
/// repeat up to max_iter times:
///     k = 1:  d = −g;  H = 1;  history empty
///     k > 1:  y = g − g_prev;  s = t·d
///             if y·s > 1e-10: append (s, y, ρ = 1/(y·s)) (drop the oldest past history_size);
///                             H = (y·s)/(y·y)
///             q = −g; for each pair, newest first: αᵢ = ρᵢ·(sᵢ·q);  q ← q − αᵢ·yᵢ
///             d = H·q; for each pair, oldest first: βᵢ = ρᵢ·(yᵢ·d); d ← d + (αᵢ − βᵢ)·sᵢ
///     g_prev = g;  f_prev = f
///     t = min(1, 1/‖g‖₁)·γ if k = 1, else γ
///     stop if g·d > −tolerance_change
///     with the line search:  t, f, g = strong Wolfe along d from t;  x ← x + t·d
///     without:               x ← x + t·d;  f, g = closure(x) unless this is the last iteration
///     stop on max_iter, max_eval evaluations, max|g| ≤ tolerance_grad,
///          max|t·d| ≤ tolerance_change, |f − f_prev| < tolerance_change
/// ```
///
/// The line search (PyTorch's `_strong_wolfe` with `c₁ = 1e-4`, `c₂ = 0.9`, at most
/// `max_eval` minus the evaluations made so far) brackets a step satisfying
/// `f(x + t·d) ≤ f + c₁·t·(g·d)` and `|g(x + t·d)·d| ≤ −c₂·(g·d)`, extrapolating by cubic
/// interpolation (`_cubic_interpolate`, within `[t + 0.01·(t − t_prev), 10·t]`), then zooms in
/// by cubic interpolation, kept at least a tenth of the bracket from its ends; its trial points
/// are evaluated and undone, and the parameters move once, to the step it returns.
///
/// # Numerics
///
/// The arithmetic is PyTorch's, including its types: what PyTorch keeps as 0-d tensors of the
/// parameters' type (the dot products `y·s`, `y·y`, `sᵢ·q`, `yᵢ·d`, `g·d`, and `ρ`, `H`, `α`,
/// `β`, the line search's directional derivatives and what `_cubic_interpolate` computes from
/// them) is computed in the element type, and what PyTorch keeps as Python floats (the loss,
/// `c₁`, `c₂`, the tolerances, most step lengths) in `f64`, with PyTorch's rules where the two
/// meet (a float is rounded to the element type, `float / tensor` is a reciprocal and a
/// product, comparisons are made in the element type). In `f32` that is PyTorch's mixture of
/// `f32` and `f64`; in `f64` everything is `f64`. The one difference is the dot products and
/// `‖g‖₁`: PyTorch's are the BLAS's (MKL's `dot`, summed in an order of its own, in the element
/// type), these are summed in `f64` in a fixed order and rounded once. The iterates agree with
/// PyTorch's to within rounding that the iteration then carries forward: on the fixtures'
/// Rosenbrock functions, `f64` within `1e-9` of PyTorch's iterates, `f32` within `1e-4`, with
/// the same number of evaluations and iterations in every step (see `docs/numerics.md`).
///
/// # Errors and bad input
///
/// A closure error, a loss that is NaN or infinite and a gradient with a NaN or infinite
/// element are typed errors ([`LbfgsError`]); the parameters are then the last accepted ones.
/// PyTorch carries on with NaN.
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::{LbfgsConfig, LineSearch};
///
/// // Rosenbrock's function f = (1 − x)² + 100·(y − x²)², from (−1.5, 2).
/// let rosenbrock = |p: &ndarray::Array1<f64>, g: &mut ndarray::Array1<f64>| {
///     let (x, y) = (p[0], p[1]);
///     g[0] = -2.0 * (1.0 - x) - 400.0 * x * (y - x * x);
///     g[1] = 200.0 * (y - x * x);
///     Ok::<f64, std::convert::Infallible>((1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2))
/// };
/// let mut p = array![-1.5, 2.0];
/// let mut g = array![0.0, 0.0];
/// let mut opt = LbfgsConfig::default()
///     .line_search_fn(Some(LineSearch::StrongWolfe))
///     .build::<f64>()?;
/// for _ in 0..5 {
///     opt.step(&mut p, &mut g, rosenbrock)?; // up to 20 iterations each
/// }
/// assert!((p[0] - 1.0).abs() < 1e-4 && (p[1] - 1.0).abs() < 1e-4);
/// assert!(opt.func_evals() < 100); // gradient descent needs thousands of steps
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Lbfgs<A: Float = f32> {
    config: LbfgsConfig,
    state: Option<History<A>>,
    func_evals: u64,
    n_iter: u64,
    work: Work<A>,
}

/// The saved form of an [`Lbfgs`]: its hyperparameters, its counters and its history, under
/// PyTorch's names (`state_dict()["state"][0]`). [`Lbfgs::load_state`] checks it and puts it
/// back; the next step continues bit for bit where the saved one would have. With the `serde`
/// feature every float is written exactly (see the crate's docs on saving).
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::Lbfgs;
///
/// let quadratic = |w: &ndarray::Array1<f64>, g: &mut ndarray::Array1<f64>| {
///     g.assign(&(w * &array![1.0, 10.0]));
///     Ok::<f64, std::convert::Infallible>((w[0] * w[0] + 10.0 * w[1] * w[1]) / 2.0)
/// };
/// let (mut w, mut g) = (array![3.0_f64, -1.0], array![0.0, 0.0]);
/// let mut opt = Lbfgs::new(0.05)?;
/// opt.step(&mut w, &mut g, quadratic)?;
/// let saved = opt.state();
/// assert_eq!(saved.n_iter, 20);
/// let history = saved.history.as_ref().expect("a step made iterations");
/// assert_eq!(history.d.shape(), [2]); // every tensor, flattened
/// let mut resumed = Lbfgs::new(1.0)?;
/// resumed.load_state(saved)?;
/// let mut w2 = w.clone();
/// opt.step(&mut w, &mut g, quadratic)?;
/// resumed.step(&mut w2, &mut g, quadratic)?;
/// assert_eq!(w, w2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(bound = "A: Float", deny_unknown_fields))]
#[non_exhaustive]
pub struct LbfgsState<A> {
    /// [`STATE_FORMAT_VERSION`](crate::STATE_FORMAT_VERSION) when written.
    pub format_version: u32,
    /// The element type, `"f32"` or `"f64"`.
    pub element_type: String,
    /// The hyperparameters.
    pub config: LbfgsConfig,
    /// Closure evaluations so far (PyTorch's `func_evals`).
    pub func_evals: u64,
    /// Iterations so far (PyTorch's `n_iter`).
    pub n_iter: u64,
    /// The history, once an iteration has been made (`n_iter > 0`).
    pub history: Option<LbfgsHistory<A>>,
}

/// The history of an [`Lbfgs`] (part of [`LbfgsState`]): every tensor flattened into one
/// vector, in list order and each tensor's logical order.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(bound = "A: Float", deny_unknown_fields))]
#[non_exhaustive]
pub struct LbfgsHistory<A> {
    /// The shapes of the tensors.
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub shapes: Vec<Vec<usize>>,
    /// The last direction `d`.
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub d: ArrayD<A>,
    /// The last step length `t` (a value of the element type, or an `f64` as PyTorch's
    /// Python float).
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub t: f64,
    /// The gradient changes `y`, oldest first.
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub old_dirs: Vec<ArrayD<A>>,
    /// The steps `s`, oldest first.
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub old_stps: Vec<ArrayD<A>>,
    /// `ρ = 1/(y·s)` of each pair.
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub ro: ArrayD<A>,
    /// The scale `H` of the initial inverse Hessian, a value of the element type (PyTorch's
    /// `H_diag`).
    #[cfg_attr(feature = "serde", serde(rename = "H_diag", with = "crate::exact"))]
    pub h_diag: f64,
    /// The gradient at the last iteration's start.
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub prev_flat_grad: ArrayD<A>,
    /// The loss there (negated under `maximize`, as PyTorch keeps it).
    #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
    pub prev_loss: f64,
}

fn flat_array<A: Clone>(v: &[A]) -> ArrayD<A> {
    ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).expect("a vector is one axis")
}

impl<A: Float> Lbfgs<A> {
    /// The state to save: hyperparameters, counters and history (see [`LbfgsState`]).
    pub fn state(&self) -> LbfgsState<A> {
        LbfgsState {
            format_version: crate::state::STATE_FORMAT_VERSION,
            element_type: A::NAME.to_string(),
            config: self.config.clone(),
            func_evals: self.func_evals,
            n_iter: self.n_iter,
            history: self.state.as_ref().map(|h| LbfgsHistory {
                shapes: h.shapes.clone(),
                d: flat_array(&h.d),
                t: h.t,
                old_dirs: h.old_dirs.iter().map(|v| flat_array(v)).collect(),
                old_stps: h.old_stps.iter().map(|v| flat_array(v)).collect(),
                ro: flat_array(&h.ro.iter().copied().collect::<Vec<_>>()),
                h_diag: h.h_diag.widen(),
                prev_flat_grad: flat_array(&h.prev_flat_grad),
                prev_loss: h.prev_loss,
            }),
        }
    }

    /// Replaces everything with a saved state, after checking all of it: the format version,
    /// the element type, the hyperparameters, the counters, and a history that fits its own
    /// shapes, with at most `history_size` pairs and finite values of the element type.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedStateFormat`], [`Error::InvalidHyperparameter`],
    /// [`Error::InvalidState`] saying what is wrong. Nothing changes then.
    pub fn load_state(&mut self, state: LbfgsState<A>) -> Result<(), Error> {
        let supported = crate::state::STATE_FORMAT_VERSION;
        if state.format_version != supported {
            return Err(Error::UnsupportedStateFormat {
                version: state.format_version,
                supported,
            });
        }
        let invalid = |reason: String| Error::InvalidState {
            tensor: None,
            reason,
        };
        if state.element_type != A::NAME {
            return Err(invalid(format!(
                "saved with {} elements, loaded into an L-BFGS of {}",
                state.element_type,
                A::NAME
            )));
        }
        check::in_element::<A, _>(&state.config, LbfgsConfig::validate)?;
        if state.func_evals == u64::MAX || state.n_iter == u64::MAX {
            return Err(invalid("a counter is at its maximum".to_string()));
        }
        if state.history.is_some() != (state.n_iter > 0) {
            return Err(invalid(
                "a history must be saved exactly when iterations were made (n_iter > 0)"
                    .to_string(),
            ));
        }
        let history = match state.history {
            None => None,
            Some(h) => Some(Self::check_history(h, state.config.history_size).map_err(invalid)?),
        };
        self.config = state.config;
        self.func_evals = state.func_evals;
        self.n_iter = state.n_iter;
        self.state = history;
        Ok(())
    }

    fn check_history(h: LbfgsHistory<A>, history_size: usize) -> Result<History<A>, String> {
        let numel = h
            .shapes
            .iter()
            .try_fold(0usize, |n, shape| {
                let size = shape.iter().try_fold(1usize, |m, &d| m.checked_mul(d))?;
                n.checked_add(size)
            })
            .filter(|&n| n <= isize::MAX as usize)
            .ok_or_else(|| "the shapes have too many elements".to_string())?;
        let vector = |name: &str, v: &ArrayD<A>| -> Result<Vec<A>, String> {
            if v.shape() != [numel] {
                return Err(format!(
                    "`{name}` has shape {:?}, not [{numel}] as the shapes say",
                    v.shape()
                ));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(format!("`{name}` holds a value that is not finite"));
            }
            Ok(v.iter().copied().collect())
        };
        let pairs = h.old_dirs.len();
        if h.old_stps.len() != pairs || h.ro.shape() != [pairs] {
            return Err(format!(
                "{pairs} `old_dirs`, {} `old_stps` and `ro` of shape {:?}: one of each per pair",
                h.old_stps.len(),
                h.ro.shape()
            ));
        }
        if pairs > history_size {
            return Err(format!(
                "{pairs} pairs, more than `history_size` = {history_size}"
            ));
        }
        let exact = |name: &str, x: f64| {
            if x.is_finite() && A::from_f64(x).widen().to_bits() == x.to_bits() {
                Ok(A::from_f64(x))
            } else {
                Err(format!(
                    "`{name}` = {x} is not a finite value of the element type"
                ))
            }
        };
        if !(h.t.is_finite() && h.prev_loss.is_finite()) {
            return Err("`t` and `prev_loss` must be finite".to_string());
        }
        if h.ro.iter().any(|r| !r.is_finite() || *r <= A::zero()) {
            return Err("every `ro` is 1/(y·s) > 0".to_string());
        }
        Ok(History {
            d: vector("d", &h.d)?,
            t: h.t,
            old_dirs: h
                .old_dirs
                .iter()
                .map(|v| vector("old_dirs", v))
                .collect::<Result<_, _>>()?,
            old_stps: h
                .old_stps
                .iter()
                .map(|v| vector("old_stps", v))
                .collect::<Result<_, _>>()?,
            ro: h.ro.iter().copied().collect(),
            h_diag: exact("H_diag", h.h_diag)?,
            prev_flat_grad: vector("prev_flat_grad", &h.prev_flat_grad)?,
            prev_loss: h.prev_loss,
            shapes: h.shapes,
        })
    }
}

/// PyTorch's line-search constants.
const C1: f64 = 1e-4;
const C2: f64 = 0.9;

/// How an evaluation inside a step failed.
enum Failed<E> {
    Closure(E),
    Invalid(Error),
}

impl<A: Float> Lbfgs<A> {
    /// L-BFGS with learning rate `lr` and PyTorch's other defaults (no line search).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::Lbfgs;
    /// let opt = Lbfgs::<f64>::new(1.0)?;
    /// assert_eq!((opt.config().max_iter, opt.config().history_size), (20, 100));
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        LbfgsConfig::default().lr(lr).build()
    }

    /// The hyperparameters.
    pub fn config(&self) -> &LbfgsConfig {
        &self.config
    }

    /// The learning rate.
    pub fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    /// Sets the learning rate.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite; nothing changes
    /// then.
    pub fn set_learning_rate(&mut self, lr: f64) -> Result<(), Error> {
        check::non_negative("lr", lr)?;
        self.config.lr = lr;
        Ok(())
    }

    /// Closure evaluations so far, over every step (PyTorch's `state["func_evals"]`).
    pub fn func_evals(&self) -> u64 {
        self.func_evals
    }

    /// L-BFGS iterations so far, over every step (PyTorch's `state["n_iter"]`).
    pub fn n_iter(&self) -> u64 {
        self.n_iter
    }

    /// Forgets the history: the next step starts afresh (a steepest-descent direction, the
    /// first step's length), as PyTorch's advice for a run that went astray.
    pub fn reset_state(&mut self) {
        self.state = None;
        self.func_evals = 0;
        self.n_iter = 0;
    }

    /// One step: up to `max_iter` L-BFGS iterations and `max_eval` evaluations of `closure`
    /// (see the [type's docs](Lbfgs) for the algorithm). `closure(params, grads)` computes the
    /// loss at `params` and writes its gradient into `grads` (tensors of the parameters'
    /// shapes); the step moves `params` in place.
    ///
    /// # Errors
    ///
    /// [`LbfgsError`]: lists that do not fit (before anything runs), the closure's error, a
    /// loss or gradient that is not finite. The parameters are then the last accepted ones
    /// (see [`LbfgsError`]).
    ///
    /// # Example
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use ndarray::{array, Array1};
    /// use ndarray_optim::{LbfgsConfig, LbfgsStop, LineSearch};
    ///
    /// // Least squares in two tensors: |A·w + b − y|².
    /// let a = array![[1.0_f64, 2.0], [3.0, -1.0], [0.5, 0.5]];
    /// let y = array![1.0, 2.0, 0.5];
    /// let (mut w, mut b) = (Array1::<f64>::zeros(2), Array1::<f64>::zeros(1));
    /// let (mut gw, mut gb) = (Array1::<f64>::zeros(2), Array1::<f64>::zeros(1));
    /// let mut opt = LbfgsConfig::default()
    ///     .line_search_fn(Some(LineSearch::StrongWolfe))
    ///     .build()?;
    /// let report = opt.step(&mut (&mut w, &mut b), &mut (&mut gw, &mut gb), |p, g| {
    ///     let (w, b) = (&*p.0, &*p.1);
    ///     let r = a.dot(w) + b[0] - &y;
    ///     g.0.assign(&(a.t().dot(&r) * 2.0));
    ///     g.1[0] = 2.0 * r.sum();
    ///     Ok::<f64, Infallible>(r.dot(&r))
    /// })?;
    /// assert_eq!(report.loss, 5.25); // at the start: |y|²
    /// // Three unknowns, three equations: a dozen evaluations to the exact fit (PyTorch: 11).
    /// assert!(report.evaluations <= 15);
    /// assert_ne!(report.stop, LbfgsStop::MaxEval);
    /// let r = a.dot(&w) + b[0] - &y;
    /// assert!(r.dot(&r) < 1e-10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn step<P, G, L, E>(
        &mut self,
        params: &mut P,
        grads: &mut G,
        mut closure: L,
    ) -> Result<LbfgsStep, LbfgsError<E>>
    where
        P: TensorListMut<A>,
        G: TensorList<A>,
        L: FnMut(&P, &mut G) -> Result<f64, E>,
    {
        let invalid = |evaluation: usize| move |error| LbfgsError::Invalid { evaluation, error };
        let n = check::list_mut(params).map_err(invalid(0))?;
        check::read_inputs(&*params, &*grads).map_err(invalid(0))?;
        if let Some(state) = &self.state {
            if state.shapes.len() != n {
                return Err(invalid(0)(Error::StateLengthMismatch {
                    expected: state.shapes.len(),
                    found: n,
                }));
            }
            for (index, shape) in state.shapes.iter().enumerate() {
                let found = params.tensor(index).map_or(&[][..], |p| p.shape());
                if found != shape.as_slice() {
                    return Err(invalid(0)(Error::StateShapeMismatch {
                        index,
                        expected: shape.clone(),
                        found: found.to_vec(),
                    }));
                }
            }
        }
        if self.func_evals == u64::MAX || self.n_iter == u64::MAX {
            return Err(invalid(0)(Error::CounterOverflow {
                counter: "func_evals",
            }));
        }
        let numel: usize = (0..n)
            .map(|i| {
                params
                    .tensor(i)
                    .map_or(0, |p| p.shape().iter().product::<usize>())
            })
            .sum();
        let mut run = Run {
            config: self.config.clone(),
            maximize: self.config.maximize,
            numel,
            evaluations: 0,
        };
        run.prepare(&mut self.work);
        let outcome = run.step(self, params, grads, &mut closure);
        outcome.map_err(|(evaluation, failed)| match failed {
            Failed::Closure(error) => LbfgsError::Closure { evaluation, error },
            Failed::Invalid(error) => LbfgsError::Invalid { evaluation, error },
        })
    }
}

/// One step's bookkeeping.
struct Run {
    config: LbfgsConfig,
    maximize: bool,
    numel: usize,
    /// Evaluations of the closure this step, successful or not.
    evaluations: usize,
}

type Outcome<E> = Result<LbfgsStep, (usize, Failed<E>)>;

impl Run {
    fn prepare<A: Float>(&self, work: &mut Work<A>) {
        let n = self.numel;
        let [b0, b1] = &mut work.bracket_g;
        for buffer in [
            &mut work.flat_grad,
            &mut work.x,
            &mut work.g_new,
            &mut work.g_prev,
            b0,
            b1,
            &mut work.y,
            &mut work.s,
        ] {
            buffer.resize(n, A::zero());
        }
    }

    /// Evaluates the closure at the parameters as they are and gathers the gradient into
    /// `out`; returns the loss (negated under `maximize`).
    fn evaluate<A, P, G, L, E>(
        &mut self,
        params: &P,
        grads: &mut G,
        closure: &mut L,
        out: &mut [A],
    ) -> Result<f64, (usize, Failed<E>)>
    where
        A: Float,
        P: TensorListMut<A>,
        G: TensorList<A>,
        L: FnMut(&P, &mut G) -> Result<f64, E>,
    {
        self.evaluations += 1;
        let at = self.evaluations;
        let loss = closure(params, grads).map_err(|e| (at, Failed::Closure(e)))?;
        if !loss.is_finite() {
            return Err((at, Failed::Invalid(Error::NonFiniteLoss { value: loss })));
        }
        check::read_inputs(params, &*grads).map_err(|e| (at, Failed::Invalid(e)))?;
        let mut k = 0;
        for index in 0..grads.len() {
            let g = grads
                .tensor(index)
                .expect("checked by read_inputs")
                .view_dyn();
            for &x in g.iter() {
                if !x.is_finite() {
                    let (element, value) = g
                        .indexed_iter()
                        .find(|(_, x)| !x.is_finite())
                        .map(|(i, &x)| (i.slice().to_vec(), x.widen()))
                        .unwrap_or_default();
                    return Err((
                        at,
                        Failed::Invalid(Error::NonFiniteGradient {
                            index,
                            element,
                            value,
                        }),
                    ));
                }
                out[k] = if self.maximize { -x } else { x };
                k += 1;
            }
        }
        Ok(if self.maximize { -loss } else { loss })
    }

    fn step<A, P, G, L, E>(
        &mut self,
        opt: &mut Lbfgs<A>,
        params: &mut P,
        grads: &mut G,
        closure: &mut L,
    ) -> Outcome<E>
    where
        A: Float,
        P: TensorListMut<A>,
        G: TensorList<A>,
        L: FnMut(&P, &mut G) -> Result<f64, E>,
    {
        let c = self.config.clone();
        let work = &mut opt.work;
        // The first evaluation: nothing has changed if it fails.
        let orig_loss = self.evaluate(&*params, grads, closure, &mut work.flat_grad)?;
        let reported = if self.maximize { -orig_loss } else { orig_loss };
        let mut loss = orig_loss;
        opt.func_evals += 1;
        let mut current_evals = 1usize;
        let report = |evaluations: usize, iterations: usize, stop: LbfgsStop| LbfgsStep {
            loss: reported,
            evaluations,
            iterations,
            stop,
        };
        let tolerance_grad = A::from_f64(c.tolerance_grad);
        if abs_max(&work.flat_grad) <= tolerance_grad {
            return Ok(report(1, 0, LbfgsStop::Optimal));
        }
        let max_eval = c.resolved_max_eval();
        let state = opt.state.get_or_insert_with(|| History {
            shapes: (0..params.len())
                .map(|i| {
                    params
                        .tensor(i)
                        .map_or_else(Vec::new, |p| p.shape().to_vec())
                })
                .collect(),
            d: vec![A::zero(); self.numel],
            t: 0.0,
            old_dirs: VecDeque::new(),
            old_stps: VecDeque::new(),
            ro: VecDeque::new(),
            h_diag: A::one(),
            prev_flat_grad: vec![A::zero(); self.numel],
            prev_loss: 0.0,
        });
        let mut n_iter = 0usize;
        let stop;
        loop {
            n_iter += 1;
            opt.n_iter += 1;
            // The direction.
            if opt.n_iter == 1 {
                for (d, &g) in state.d.iter_mut().zip(&work.flat_grad) {
                    *d = -g;
                }
                state.old_dirs.clear();
                state.old_stps.clear();
                state.ro.clear();
                state.h_diag = A::one();
            } else {
                let t = A::from_f64(state.t);
                for ((y, s), ((&g, &pg), &d)) in work.y.iter_mut().zip(work.s.iter_mut()).zip(
                    work.flat_grad
                        .iter()
                        .zip(&state.prev_flat_grad)
                        .zip(&state.d),
                ) {
                    *y = g - pg;
                    *s = d * t;
                }
                let ys = dot(&work.y, &work.s);
                if ys > A::from_f64(1e-10) {
                    let (mut y, mut s) = if state.old_dirs.len() == c.history_size {
                        state.ro.pop_front();
                        (
                            state.old_dirs.pop_front().expect("a full history"),
                            state.old_stps.pop_front().expect("a full history"),
                        )
                    } else {
                        (vec![A::zero(); self.numel], vec![A::zero(); self.numel])
                    };
                    std::mem::swap(&mut y, &mut work.y);
                    std::mem::swap(&mut s, &mut work.s);
                    let yy = dot(&y, &y);
                    state.old_dirs.push_back(y);
                    state.old_stps.push_back(s);
                    // `1.0 / ys`: the reciprocal of a tensor, times 1.
                    state.ro.push_back(A::one() / ys);
                    state.h_diag = ys / yy;
                }
                let num_old = state.old_dirs.len();
                let al = &mut work.al;
                if al.len() < num_old {
                    al.resize(num_old, A::zero());
                }
                // q = −g, computed in `d` (the old direction is no longer needed).
                for (q, &g) in state.d.iter_mut().zip(&work.flat_grad) {
                    *q = -g;
                }
                for i in (0..num_old).rev() {
                    al[i] = dot(&state.old_stps[i], &state.d) * state.ro[i];
                    let alpha = -al[i];
                    for (q, &y) in state.d.iter_mut().zip(&state.old_dirs[i]) {
                        *q = y.mul_add(alpha, *q);
                    }
                }
                let h = state.h_diag;
                for r in state.d.iter_mut() {
                    *r = *r * h;
                }
                let pairs = state.old_dirs.iter().zip(&state.old_stps).zip(&state.ro);
                for (((y, s), &ro), &al) in pairs.zip(al.iter()) {
                    let be_i = dot(y, &state.d) * ro;
                    let alpha = al - be_i;
                    for (r, &s) in state.d.iter_mut().zip(s) {
                        *r = s.mul_add(alpha, *r);
                    }
                }
            }
            state.prev_flat_grad.copy_from_slice(&work.flat_grad);
            state.prev_loss = loss;
            // The step length.
            let t: Num<A> = if opt.n_iter == 1 {
                let mut sum = OrderedSum::default();
                work.flat_grad.iter().for_each(|g| sum.add(g.abs().widen()));
                let inverse = F(1.0).div(T(A::from_f64(sum.finish())));
                py_min(F(1.0), inverse).mul(F(c.lr))
            } else {
                F(c.lr)
            };
            state.t = t.value();
            let gtd = T(dot(&work.flat_grad, &state.d));
            if gtd.gt(F(-c.tolerance_change)) {
                stop = LbfgsStop::NotDescending;
                break;
            }
            let mut ls_func_evals = 0;
            let opt_cond;
            match c.line_search_fn {
                Some(LineSearch::StrongWolfe) => {
                    gather(params, &mut work.x);
                    let max_ls = max_eval as isize - current_evals as isize;
                    let mut search = Search {
                        run: self,
                        params: &mut *params,
                        grads: &mut *grads,
                        closure: &mut *closure,
                        x: &work.x,
                        d: &state.d,
                        evals: 0,
                    };
                    let result = search.strong_wolfe(
                        t,
                        loss,
                        &mut work.flat_grad,
                        gtd,
                        max_ls,
                        &mut work.g_new,
                        &mut work.g_prev,
                        &mut work.bracket_g,
                    );
                    let evals = search.evals;
                    opt.func_evals += evals as u64;
                    let (f_new, t_new) = result?;
                    ls_func_evals = evals;
                    loss = f_new;
                    state.t = t_new.value();
                    add_dir(params, &state.d, t_new.elem());
                    opt_cond = abs_max(&work.flat_grad) <= tolerance_grad;
                }
                None => {
                    if n_iter != c.max_iter {
                        gather(params, &mut work.x);
                    }
                    add_dir(params, &state.d, t.elem());
                    if n_iter != c.max_iter {
                        match self.evaluate(&*params, grads, closure, &mut work.flat_grad) {
                            Ok(f) => loss = f,
                            Err(failed) => {
                                set_params(params, &work.x);
                                return Err(failed);
                            }
                        }
                        opt.func_evals += 1;
                        opt_cond = abs_max(&work.flat_grad) <= tolerance_grad;
                        ls_func_evals = 1;
                    } else {
                        opt_cond = false;
                    }
                }
            }
            current_evals += ls_func_evals;
            if n_iter == c.max_iter {
                stop = LbfgsStop::MaxIter;
                break;
            }
            if current_evals >= max_eval {
                stop = LbfgsStop::MaxEval;
                break;
            }
            if opt_cond {
                stop = LbfgsStop::Optimal;
                break;
            }
            let te = A::from_f64(state.t);
            if abs_max_scaled(&state.d, te) <= A::from_f64(c.tolerance_change) {
                stop = LbfgsStop::StepTooSmall;
                break;
            }
            if (loss - state.prev_loss).abs() < c.tolerance_change {
                stop = LbfgsStop::LossUnchanged;
                break;
            }
        }
        Ok(report(current_evals, n_iter, stop))
    }
}

/// `max |d·t|`.
fn abs_max_scaled<A: Float>(d: &[A], t: A) -> A {
    d.iter().fold(A::zero(), |m, &x| {
        let v = (x * t).abs();
        if v.is_nan() || v > m { v } else { m }
    })
}

/// The parameters, flat, in list order and each tensor's logical order.
fn gather<A: Float, P: TensorList<A> + ?Sized>(params: &P, out: &mut [A]) {
    let mut k = 0;
    for index in 0..params.len() {
        if let Some(p) = params.tensor(index) {
            for &x in p.view_dyn().iter() {
                out[k] = x;
                k += 1;
            }
        }
    }
}

/// `p ← x`.
fn set_params<A: Float, P: TensorListMut<A> + ?Sized>(params: &mut P, x: &[A]) {
    let mut k = 0;
    for index in 0..params.len() {
        if let Some(p) = params.tensor_mut(index) {
            for p in p.view_dyn_mut().iter_mut() {
                *p = x[k];
                k += 1;
            }
        }
    }
}

/// `p.add_(d, alpha=t)`: `p ← fma(d, t, p)`.
fn add_dir<A: Float, P: TensorListMut<A> + ?Sized>(params: &mut P, d: &[A], t: A) {
    let mut k = 0;
    for index in 0..params.len() {
        if let Some(p) = params.tensor_mut(index) {
            for p in p.view_dyn_mut().iter_mut() {
                *p = d[k].mul_add(t, *p);
                k += 1;
            }
        }
    }
}

/// The line search's view of one step: evaluations along `d` from `x`.
struct Search<'a, A, P, G, L> {
    run: &'a mut Run,
    params: &'a mut P,
    grads: &'a mut G,
    closure: &'a mut L,
    x: &'a [A],
    d: &'a [A],
    /// Successful evaluations.
    evals: usize,
}

impl<A, P, G, L, E> Search<'_, A, P, G, L>
where
    A: Float,
    P: TensorListMut<A>,
    G: TensorList<A>,
    L: FnMut(&P, &mut G) -> Result<f64, E>,
{
    /// PyTorch's `_directional_evaluate`: the loss and gradient (into `g`) at `x + t·d`, the
    /// parameters put back to `x` afterwards (also when it fails).
    fn evaluate(&mut self, t: Num<A>, g: &mut [A]) -> Result<f64, (usize, Failed<E>)> {
        add_dir(self.params, self.d, t.elem());
        let result = self
            .run
            .evaluate(&*self.params, self.grads, self.closure, g);
        set_params(self.params, self.x);
        if result.is_ok() {
            self.evals += 1;
        }
        result
    }

    /// PyTorch's `_strong_wolfe`, from step `t` along `d` at loss `f`, gradient `g` and
    /// directional derivative `gtd`. Returns the loss and step found, with their gradient in
    /// `g`.
    #[allow(clippy::too_many_arguments)]
    fn strong_wolfe(
        &mut self,
        mut t: Num<A>,
        f: f64,
        g: &mut [A],
        gtd: Num<A>,
        max_ls: isize,
        g_new: &mut Vec<A>,
        g_prev: &mut Vec<A>,
        bracket_g: &mut [Vec<A>; 2],
    ) -> Result<(f64, Num<A>), (usize, Failed<E>)> {
        let tolerance_change = self.run.config.tolerance_change;
        let d_norm = T(abs_max(self.d));
        let mut f_new = self.evaluate(t, g_new)?;
        let mut gtd_new = T(dot(g_new, self.d));
        // `g_prev` starts as `g` itself; `g` is not changed until the end.
        let mut t_prev: Num<A> = F(0.0);
        let mut f_prev = f;
        g_prev.copy_from_slice(g);
        let mut gtd_prev = gtd;
        let mut done = false;
        let mut ls_iter: isize = 0;
        let mut bracket: [Num<A>; 2] = [F(0.0), F(0.0)];
        let mut bracket_f = [0.0f64; 2];
        let mut bracket_gtd: [Num<A>; 2] = [F(0.0), F(0.0)];
        let armijo = |f_new: f64, t: Num<A>, gtd: Num<A>| {
            // `f_new > f + c1·t·gtd`: a Python float against a tensor.
            F(f_new).gt(F(f).add(F(C1).mul(t).mul(gtd)))
        };
        let curvature = |gtd_new: Num<A>, gtd: Num<A>| gtd_new.abs().le(F(-C2).mul(gtd));
        while ls_iter < max_ls {
            if armijo(f_new, t, gtd) || (ls_iter > 1 && f_new >= f_prev) {
                bracket = [t_prev, t];
                bracket_f = [f_prev, f_new];
                bracket_g[0].copy_from_slice(g_prev);
                bracket_g[1].copy_from_slice(g_new);
                bracket_gtd = [gtd_prev, gtd_new];
                break;
            }
            if curvature(gtd_new, gtd) {
                bracket[0] = t;
                bracket_f[0] = f_new;
                bracket_g[0].copy_from_slice(g_new);
                done = true;
                break;
            }
            if gtd_new.ge(F(0.0)) {
                bracket = [t_prev, t];
                bracket_f = [f_prev, f_new];
                bracket_g[0].copy_from_slice(g_prev);
                bracket_g[1].copy_from_slice(g_new);
                bracket_gtd = [gtd_prev, gtd_new];
                break;
            }
            // Extrapolate.
            let min_step = t.add(F(0.01).mul(t.sub(t_prev)));
            let max_step = t.mul(F(10.0));
            let tmp = t;
            t = cubic_interpolate(
                t_prev,
                f_prev,
                gtd_prev,
                t,
                f_new,
                gtd_new,
                Some((min_step, max_step)),
            );
            t_prev = tmp;
            f_prev = f_new;
            std::mem::swap(g_prev, g_new);
            gtd_prev = gtd_new;
            f_new = self.evaluate(t, g_new)?;
            gtd_new = T(dot(g_new, self.d));
            ls_iter += 1;
        }
        let single = done;
        if ls_iter == max_ls {
            bracket = [F(0.0), t];
            bracket_f = [f, f_new];
            bracket_g[0].copy_from_slice(g);
            bracket_g[1].copy_from_slice(g_new);
        }
        // Zoom.
        let mut insuf_progress = false;
        let last = if single { 0 } else { 1 };
        let (mut low, mut high) = if bracket_f[0] <= bracket_f[last] {
            (0, 1)
        } else {
            (1, 0)
        };
        while !done && ls_iter < max_ls {
            if bracket[1]
                .sub(bracket[0])
                .abs()
                .mul(d_norm)
                .lt(F(tolerance_change))
            {
                break;
            }
            t = cubic_interpolate(
                bracket[0],
                bracket_f[0],
                bracket_gtd[0],
                bracket[1],
                bracket_f[1],
                bracket_gtd[1],
                None,
            );
            let (b_max, b_min) = (
                py_max(bracket[0], bracket[1]),
                py_min(bracket[0], bracket[1]),
            );
            let eps = F(0.1).mul(b_max.sub(b_min));
            if py_min(b_max.sub(t), t.sub(b_min)).lt(eps) {
                if insuf_progress || t.ge(b_max) || t.le(b_min) {
                    if t.sub(b_max).abs().lt(t.sub(b_min).abs()) {
                        t = b_max.sub(eps);
                    } else {
                        t = b_min.add(eps);
                    }
                    insuf_progress = false;
                } else {
                    insuf_progress = true;
                }
            } else {
                insuf_progress = false;
            }
            f_new = self.evaluate(t, g_new)?;
            gtd_new = T(dot(g_new, self.d));
            ls_iter += 1;
            if armijo(f_new, t, gtd) || f_new >= bracket_f[low] {
                bracket[high] = t;
                bracket_f[high] = f_new;
                bracket_g[high].copy_from_slice(g_new);
                bracket_gtd[high] = gtd_new;
                (low, high) = if bracket_f[0] <= bracket_f[1] {
                    (0, 1)
                } else {
                    (1, 0)
                };
            } else {
                if curvature(gtd_new, gtd) {
                    done = true;
                } else if gtd_new.mul(bracket[high].sub(bracket[low])).ge(F(0.0)) {
                    bracket[high] = bracket[low];
                    bracket_f[high] = bracket_f[low];
                    let (a, b) = bracket_g.split_at_mut(1);
                    if high == 0 {
                        a[0].copy_from_slice(&b[0]);
                    } else {
                        b[0].copy_from_slice(&a[0]);
                    }
                    bracket_gtd[high] = bracket_gtd[low];
                }
                bracket[low] = t;
                bracket_f[low] = f_new;
                bracket_g[low].copy_from_slice(g_new);
                bracket_gtd[low] = gtd_new;
            }
        }
        g.copy_from_slice(&bracket_g[low]);
        Ok((bracket_f[low], bracket[low]))
    }
}

/// PyTorch's `_cubic_interpolate` (a port of torch7's `polyinterp.lua`): the minimiser of the
/// cubic through `(x1, f1)`, `(x2, f2)` with slopes `g1`, `g2`, clamped to `bounds` (default:
/// between the two points); their midpoint when the cubic has no minimum.
fn cubic_interpolate<A: Float>(
    x1: Num<A>,
    f1: f64,
    g1: Num<A>,
    x2: Num<A>,
    f2: f64,
    g2: Num<A>,
    bounds: Option<(Num<A>, Num<A>)>,
) -> Num<A> {
    let (xmin_bound, xmax_bound) = match bounds {
        Some(b) => b,
        None if x1.le(x2) => (x1, x2),
        None => (x2, x1),
    };
    let d1 = g1.add(g2).sub(F(3.0).mul(F(f1).sub(F(f2))).div(x1.sub(x2)));
    let d2_square = d1.mul(d1).sub(g1.mul(g2));
    if d2_square.ge(F(0.0)) {
        let d2 = d2_square.sqrt();
        let min_pos = if x1.le(x2) {
            x2.sub(
                x2.sub(x1)
                    .mul(g2.add(d2).sub(d1).div(g2.sub(g1).add(F(2.0).mul(d2)))),
            )
        } else {
            x1.sub(
                x1.sub(x2)
                    .mul(g1.add(d2).sub(d1).div(g1.sub(g2).add(F(2.0).mul(d2)))),
            )
        };
        py_min(py_max(min_pos, xmin_bound), xmax_bound)
    } else {
        xmin_bound.add(xmax_bound).div(F(2.0))
    }
}
