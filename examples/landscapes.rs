//! Every optimizer, from the same start, on 2-D loss surfaces that each show one difficulty of
//! plain gradient descent: a ravine, Rosenbrock's curved valley, a saddle point, local minima
//! beside a global one, a plateau, and the local minima again with mini-batch-like noise on the
//! gradient.
//!
//! ```text
//! cargo run --release --example landscapes                     # pictures in target/landscapes
//! cargo run --release --example landscapes -- --out docs/landscapes
//! cargo run --example landscapes -- --fast                     # a few seconds, for CI
//! ```
//!
//! Options: `--fast` (or `LANDSCAPES_FAST=1`) runs fewer steps, a coarser learning-rate sweep
//! and draws coarser pictures; `--out DIR` chooses where the pictures go (default
//! `target/landscapes`); `--seed N` seeds the gradient noise (default 42). The output depends on
//! nothing else: the same options give the same numbers and pictures.
//!
//! For each surface the program prints a Markdown table (learning rate, final loss gap
//! `f − f*`, the step from which the loss stays below the surface's threshold, and whether and
//! when the path escaped the saddle, the local minima or the plateau) and draws
//! `<surface>.png`: the contour plot with every optimizer's path on the left, `f − f*` against
//! the step on the right, the legend with each learning rate.
//!
//! # The surfaces
//!
//! The surfaces and their analytic gradients are in `tests/common/surfaces.rs`, shared with the
//! convergence tests. The start points are chosen to put each difficulty in the way; the run
//! lengths, to let the slow optimizers show how slow they are.
//!
//! - `ravine`, `(x² + 100y²)/2` from `(−4.5, 0.5)`: plain gradient descent zig-zags across
//!   and crawls along.
//! - `rosenbrock` from `(−1.5, 2)`, up the far wall: it zig-zags across the curved valley, then
//!   crawls along its floor.
//! - `saddle`, `x²/2 + 0.01(y² − 1)²/4` from `(−3, 1e-4)`, on the ridge line: it slides into
//!   the saddle and sits there, since the way out is 100 times flatter than the way in.
//!   (Exactly on `y = 0`, nothing without noise would ever leave.)
//! - `local-minima`, a bowl minus four Gaussian wells, from `(3.6, 2.4)`: it runs into the
//!   shallow well on its way down and stays.
//! - `plateau`, `1 − exp(−r²/2)` from `(3.6, 2.7)` (`r = 4.5`): it barely moves, the gradient
//!   there being about `2e-4` while the hole's curvature caps the step size.
//! - `local-minima-noisy`: the same with Gaussian noise (σ = 0.5) on every gradient component,
//!   as from mini-batches; the loss is judged on a 20-step running mean.
//!
//! The ravine is aligned with the axes, the best case for methods that scale each parameter
//! separately (Adagrad, RMSProp, Adam): they see two independent 1-D problems.
//!
//! # How the learning rates are chosen
//!
//! Fairly, by the program itself: on every surface each optimizer runs once per learning rate
//! of one shared grid ([`LR_GRID`], quarter decades from `1e-4` to `10`), and keeps the one
//! that gets below the surface's threshold, and stays below it, in the fewest steps; if none
//! does, the one whose highest loss over the last tenth of the run is lowest (so a path still
//! jumping about does not win by a lucky last step). Diverging runs lose. Each table prints
//! the optimizer's default learning rate beside the chosen one. Nothing else is tuned: every
//! other hyperparameter is the default of the optimizer's configuration,
//! [`OptimizerKind::default_config`] (PyTorch's, timm's for LAMB, optax's for Lion; momentum
//! `0.9` for Momentum and Nesterov, the usual choice), except that weight decay is off for all
//! (it would move the minimum) and LAMB adapts every tensor (see [`Contender::build`]). The
//! chosen rates are printed with each table and in the legends. Every run on a surface sees
//! the same noise.
//!
//! The optimizers are those of [`OptimizerKind::ALL`], so one added to the crate appears here
//! without a change to this program, and L-BFGS ([`Lbfgs`], which is not a kind: its step takes
//! a closure that evaluates the loss), with PyTorch's strong-Wolfe line search and one
//! iteration per step (`max_iter = 1`, `max_eval = 25`, the history kept from step to step). Its line search
//! evaluates the gradient once or more per step; the program prints how often. These are
//! full-batch surfaces, where a quasi-Newton method shines; on the noisy one its line search and
//! curvature pairs see a different function at every evaluation.
//!
//! # Font
//!
//! Text is drawn with DejaVu Sans, embedded from `assets/fonts/DejaVuSans.ttf` (Bitstream Vera
//! licence, see `assets/fonts/LICENSE-DejaVu.txt`) and rasterised with `ab_glyph` by
//! [`canvas::Canvas`], so the program needs no system fonts.

#[path = "common/canvas.rs"]
mod canvas;
#[path = "common/palette.rs"]
mod palette;
#[path = "../tests/common/surfaces.rs"]
mod surfaces;

use std::error::Error as StdError;
use std::path::{Path, PathBuf};

use canvas::{Canvas, FONT};
use ndarray::{Array1, Axis, array};
use ndarray_optim::{
    Error, Lbfgs, LbfgsConfig, LineSearch, Optimizer, OptimizerConfig, OptimizerKind,
};
use palette::Style;
use plotters::coord::Shift;
use plotters::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use surfaces::{Plateau, Quadratic, Rosenbrock, Saddle, Surface, Wells};

type Result<T> = std::result::Result<T, Box<dyn StdError>>;

/// The learning rates every optimizer is tried with: quarter decades, `1e-4` to `10`.
const LR_GRID: [f64; 21] = [
    1e-4, 1.8e-4, 3.2e-4, 5.6e-4, 1e-3, 1.8e-3, 3.2e-3, 5.6e-3, 1e-2, 1.8e-2, 3.2e-2, 5.6e-2, 0.1,
    0.18, 0.32, 0.56, 1.0, 1.8, 3.2, 5.6, 10.0,
];

/// A run is called diverged once a parameter's magnitude exceeds this.
const DIVERGED: f64 = 1e6;

/// One optimizer of the comparison: its kind (`None` for L-BFGS, which is not an
/// [`OptimizerKind`]: its step takes a closure), its name and its colour.
struct Contender {
    kind: Option<OptimizerKind>,
    name: &'static str,
    /// The default learning rate of its configuration (PyTorch's; timm's for LAMB, optax's for
    /// Lion), printed for reference.
    default_lr: f64,
    style: Style,
}

impl Contender {
    fn new(kind: OptimizerKind) -> Contender {
        Contender {
            kind: Some(kind),
            name: kind.name(),
            default_lr: kind.default_config().learning_rate(),
            style: palette::style(kind),
        }
    }

    /// L-BFGS with PyTorch's strong-Wolfe line search, one iteration per step (`max_iter = 1`;
    /// the history carries over from step to step), so that a step is one L-BFGS iteration,
    /// and up to 25 evaluations in it (`max_eval`; PyTorch's default for `max_iter = 1`, one,
    /// would leave the line search a single trial point). Its line search evaluates the
    /// gradient once or more per step: the table says how often.
    fn lbfgs() -> Contender {
        Contender {
            kind: None,
            name: "LBFGS",
            default_lr: LbfgsConfig::default().lr,
            style: palette::lbfgs_style(),
        }
    }

    fn build_lbfgs(lr: f64) -> std::result::Result<Lbfgs<f64>, Error> {
        LbfgsConfig::default()
            .lr(lr)
            .max_iter(1)
            .max_eval(Some(25))
            .line_search_fn(Some(LineSearch::StrongWolfe))
            .build()
    }

    /// The optimizer with learning rate `lr`, no weight decay (it would move the minimum), and
    /// otherwise its defaults, except for LAMB: `always_adapt = true`, the paper's variant. With
    /// timm's default the trust ratio is only used where there is weight decay, and without
    /// decay LAMB would be Adam with gradient clipping.
    fn build(kind: OptimizerKind, lr: f64) -> std::result::Result<Box<dyn Optimizer<f64>>, Error> {
        let mut config = kind.default_config();
        config.set_learning_rate(lr);
        config.set_weight_decay(0.0);
        if let OptimizerConfig::Lamb(lamb) = &mut config {
            lamb.always_adapt = true;
        }
        config.build()
    }

    fn colour(&self) -> RGBColor {
        let (r, g, b) = self.style.colour;
        RGBColor(r, g, b)
    }
}

/// Every optimizer of the crate ([`OptimizerKind::ALL`]), in the registry's order, and L-BFGS.
fn contenders() -> Vec<Contender> {
    OptimizerKind::ALL
        .iter()
        .map(|&kind| Contender::new(kind))
        .chain([Contender::lbfgs()])
        .collect()
}

/// A level of the loss that marks getting past an obstacle: below it, a path has left the saddle
/// point, every local minimum's basin, or the plateau.
struct Trap {
    /// What is escaped, for the table ("saddle", "local minima", "plateau").
    what: &'static str,
    /// Why the level means an escape.
    meaning: &'static str,
    /// `(x, y)` of the points to mark on the contour plot, with their label.
    marks: Vec<((f64, f64), &'static str)>,
    level: f64,
}

/// One surface with its start, run length and what counts as success.
struct Case {
    surface: Box<dyn Surface>,
    /// File name and table heading.
    name: &'static str,
    formula: &'static str,
    /// One sentence: the difficulty this surface shows.
    challenge: &'static str,
    start: (f64, f64),
    steps: usize,
    /// Success: `f − f* < tolerance`.
    tolerance: f64,
    /// Standard deviation of the Gaussian noise added to each gradient component.
    noise: f64,
    /// Length of the running mean applied to the loss (1: none).
    smoothing: usize,
    /// Contour levels evenly spaced in `log(f − f*)` (for valleys spanning many decades) rather
    /// than in `f`.
    log_levels: bool,
    /// Plot window `(x_min, x_max, y_min, y_max)`.
    window: (f64, f64, f64, f64),
    /// The global minima, marked on the plot.
    minima: Vec<(f64, f64)>,
    trap: Option<Trap>,
    /// `f*`, computed once.
    minimum: f64,
}

fn cases(fast: bool) -> Vec<Case> {
    let steps = |full: usize| if fast { full / 5 } else { full };
    let case = |surface: Box<dyn Surface>| {
        let minimum = surface.minimum();
        (surface, minimum)
    };

    let ravine = Quadratic { a: 1.0, b: 100.0 };
    let saddle = Saddle { b: 0.01 };
    let wells = Wells::standard();
    let well_minima = wells.minima();
    let local_level = well_minima[1..]
        .iter()
        .map(|m| m.2)
        .fold(f64::INFINITY, f64::min);
    let local_marks = || {
        well_minima[1..]
            .iter()
            .map(|m| ((m.0, m.1), "local min"))
            .collect::<Vec<_>>()
    };
    let global = vec![(well_minima[0].0, well_minima[0].1)];
    let wells_trap = || Trap {
        what: "local minima",
        meaning: "below every local minimum, so in the global minimum's basin",
        marks: local_marks(),
        level: local_level,
    };
    let plateau = Plateau { width: 1.0 };

    let mut out = Vec::new();
    let (surface, minimum) = case(Box::new(ravine));
    out.push(Case {
        surface,
        name: "ravine",
        formula: "f = (x² + 100·y²)/2",
        challenge: "an ill-conditioned quadratic, 100 times more curved across than along",
        start: (-4.5, 0.5),
        steps: steps(500),
        tolerance: 1e-6,
        noise: 0.0,
        smoothing: 1,
        log_levels: true,
        window: (-5.0, 1.0, -0.8, 0.8),
        minima: vec![(0.0, 0.0)],
        trap: None,
        minimum,
    });
    let (surface, minimum) = case(Box::new(Rosenbrock));
    out.push(Case {
        surface,
        name: "rosenbrock",
        formula: "f = (1 − x)² + 100·(y − x²)²",
        challenge: "a narrow curved valley",
        start: (-1.5, 2.0),
        steps: steps(3000),
        tolerance: 1e-4,
        noise: 0.0,
        smoothing: 1,
        log_levels: true,
        window: (-2.0, 2.0, -1.0, 3.0),
        minima: vec![(1.0, 1.0)],
        trap: None,
        minimum,
    });
    let (surface, minimum) = case(Box::new(saddle));
    out.push(Case {
        surface,
        name: "saddle",
        formula: "f = x²/2 + 0.01·(y² − 1)²/4",
        challenge: "a saddle point whose way out is 100 times flatter than the way in",
        start: (-3.0, 1e-4),
        steps: steps(800),
        tolerance: 1e-4,
        noise: 0.0,
        smoothing: 1,
        log_levels: true,
        window: (-3.5, 1.5, -1.5, 1.5),
        minima: saddle.minima().to_vec(),
        trap: Some(Trap {
            what: "saddle",
            meaning: "half-way down from the saddle to the minima",
            marks: vec![(saddle.saddle_point(), "saddle")],
            // |y| > 0.54 on the y axis: well on the way to a minimum.
            level: saddle.value(0.0, 0.0) / 2.0,
        }),
        minimum,
    });
    let (surface, minimum) = case(Box::new(wells.clone()));
    out.push(Case {
        surface,
        name: "local-minima",
        formula: "f = 0.15·|p|²/2 minus four Gaussian wells",
        challenge: "three shallow local minima beside the deep global one",
        start: (3.6, 2.4),
        steps: steps(500),
        tolerance: 1e-3,
        noise: 0.0,
        smoothing: 1,
        log_levels: false,
        window: (-4.0, 4.0, -4.0, 4.0),
        minima: global.clone(),
        trap: Some(wells_trap()),
        minimum,
    });
    let (surface, minimum) = case(Box::new(plateau));
    out.push(Case {
        surface,
        name: "plateau",
        formula: "f = 1 − exp(−(x² + y²)/2)",
        challenge: "a narrow hole in a plateau where the gradient is almost zero",
        start: (3.6, 2.7),
        steps: steps(500),
        tolerance: 1e-3,
        noise: 0.0,
        smoothing: 1,
        log_levels: false,
        window: (-5.0, 5.0, -5.0, 5.0),
        minima: vec![(0.0, 0.0)],
        trap: Some(Trap {
            what: "plateau",
            meaning: "half-way down the hole",
            marks: Vec::new(),
            level: 0.5,
        }),
        minimum,
    });
    let (surface, minimum) = case(Box::new(wells));
    out.push(Case {
        surface,
        name: "local-minima-noisy",
        formula: "f as in local-minima, gradient + N(0, 0.5²) noise per component",
        challenge: "the same local minima with mini-batch-like gradient noise",
        start: (3.6, 2.4),
        steps: steps(500),
        tolerance: 0.1,
        noise: 0.5,
        smoothing: 20,
        log_levels: false,
        window: (-4.0, 4.0, -4.0, 4.0),
        minima: global,
        trap: Some(wells_trap()),
        minimum,
    });
    out
}

/// One optimizer's path on one surface.
struct Run {
    lr: f64,
    /// The start and the point after each step.
    path: Vec<(f64, f64)>,
    /// `f − f*` at each point of `path`, from the noise-free `f`; on a noisy surface the mean
    /// over the last [`Case::smoothing`] points, as training curves are smoothed, so that
    /// thresholds judge where the path is rather than where the last kick sent it.
    gaps: Vec<f64>,
    diverged: bool,
    /// Gradient evaluations up to each point of `path` (one per step, but for L-BFGS's line
    /// search).
    evaluations: Vec<usize>,
}

impl Run {
    fn final_gap(&self) -> f64 {
        if self.diverged {
            f64::INFINITY
        } else {
            *self.gaps.last().unwrap_or(&f64::INFINITY)
        }
    }
    /// The step from which on `f − f* < tolerance` holds to the end of the run: touching the
    /// threshold and bouncing out again does not count.
    fn reached(&self, tolerance: f64) -> Option<usize> {
        self.settled_below(tolerance)
    }
    /// The step from which on `f` stays below `level` to the end of the run.
    fn escaped(&self, level: f64, minimum: f64) -> Option<usize> {
        self.settled_below(level - minimum)
    }
    fn settled_below(&self, gap: f64) -> Option<usize> {
        if self.diverged {
            return None;
        }
        match self.gaps.iter().rposition(|&g| g >= gap) {
            None => Some(0),
            Some(last_above) if last_above + 1 < self.gaps.len() => Some(last_above + 1),
            Some(_) => None,
        }
    }
    /// The highest `f − f*` over the last tenth of the run: where the run ended up, not
    /// counting a lucky last step of a path that still jumps about.
    fn tail_gap(&self) -> f64 {
        if self.diverged {
            return f64::INFINITY;
        }
        let tail = (self.gaps.len() / 10).max(1);
        self.gaps[self.gaps.len() - tail..]
            .iter()
            .fold(0.0, |m, &g| m.max(g))
    }
    /// Smaller is better: the step from which the run stays below the threshold, then, for
    /// runs that never do, [`tail_gap`](Run::tail_gap).
    fn score(&self, tolerance: f64) -> (usize, f64) {
        (
            self.reached(tolerance).unwrap_or(usize::MAX),
            self.tail_gap(),
        )
    }
}

/// Standard normal numbers by the Box–Muller transform, two per draw.
struct Noise(StdRng);

impl Noise {
    fn pair(&mut self) -> (f64, f64) {
        let u1 = 1.0 - self.0.random::<f64>(); // in (0, 1]: the logarithm stays finite
        let u2 = self.0.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = std::f64::consts::TAU * u2;
        (r * theta.cos(), r * theta.sin())
    }
}

/// Runs `contender` with learning rate `lr` on `case`. Every run on a case draws the same
/// noise sequence (seeded by `seed`), so the optimizers see the same mini-batches.
fn run(case: &Case, contender: &Contender, lr: f64, seed: u64) -> Result<Run> {
    let mut noise = Noise(StdRng::seed_from_u64(seed));
    let mut xy: Array1<f64> = array![case.start.0, case.start.1];
    let mut grad = Array1::<f64>::zeros(2);
    let mut path = Vec::with_capacity(case.steps + 1);
    let mut gaps = Vec::with_capacity(case.steps + 1);
    path.push(case.start);
    gaps.push(case.surface.value(case.start.0, case.start.1) - case.minimum);
    let mut diverged = false;
    // The gradient at a point, with the case's noise.
    let mut gradient = |x: f64, y: f64, grad: &mut Array1<f64>| {
        let (gx, gy) = case.surface.gradient(x, y);
        let (nx, ny) = if case.noise > 0.0 {
            noise.pair()
        } else {
            (0.0, 0.0)
        };
        grad[0] = gx + case.noise * nx;
        grad[1] = gy + case.noise * ny;
    };
    enum Stepper {
        Gradient(OptimizerKind, Box<dyn Optimizer<f64>>),
        Lbfgs(Box<Lbfgs<f64>>),
    }
    let mut stepper = match contender.kind {
        Some(kind) => Stepper::Gradient(kind, Contender::build(kind, lr)?),
        None => Stepper::Lbfgs(Box::new(Contender::build_lbfgs(lr)?)),
    };
    let mut evaluations = 0;
    let mut counts = Vec::with_capacity(case.steps + 1);
    counts.push(0);
    for _ in 0..case.steps {
        // A non-finite gradient or loss is an error: the run has diverged.
        let stepped = match &mut stepper {
            Stepper::Gradient(kind, opt) => {
                gradient(xy[0], xy[1], &mut grad);
                evaluations += 1;
                // Muon takes matrices only: the point is a 1 × 2 matrix for it.
                if *kind == OptimizerKind::Muon {
                    let mut row = xy.view_mut().insert_axis(Axis(0));
                    opt.step(&mut row, &grad.view().insert_axis(Axis(0)))
                        .is_ok()
                } else {
                    opt.step(&mut xy, &grad).is_ok()
                }
            }
            Stepper::Lbfgs(opt) => opt
                .step(&mut xy, &mut grad, |p, g| {
                    gradient(p[0], p[1], g);
                    evaluations += 1;
                    Ok::<f64, std::convert::Infallible>(case.surface.value(p[0], p[1]))
                })
                .is_ok(),
        };
        if !stepped || xy.iter().any(|v| !v.is_finite() || v.abs() >= DIVERGED) {
            diverged = true;
            break;
        }
        path.push((xy[0], xy[1]));
        gaps.push(case.surface.value(xy[0], xy[1]) - case.minimum);
        counts.push(evaluations);
    }
    if case.smoothing > 1 {
        let raw = gaps;
        gaps = (0..raw.len())
            .map(|k| {
                let window = &raw[(k + 1).saturating_sub(case.smoothing)..=k];
                window.iter().sum::<f64>() / window.len() as f64
            })
            .collect();
    }
    Ok(Run {
        lr,
        path,
        gaps,
        diverged,
        evaluations: counts,
    })
}

/// The run with the best learning rate of `grid` (see the module docs).
fn sweep(case: &Case, contender: &Contender, grid: &[f64], seed: u64) -> Result<Run> {
    let mut best: Option<Run> = None;
    for &lr in grid {
        let candidate = run(case, contender, lr, seed)?;
        let better = match &best {
            None => true,
            Some(b) => {
                let (s, g) = candidate.score(case.tolerance);
                let (bs, bg) = b.score(case.tolerance);
                s < bs || (s == bs && g < bg)
            }
        };
        if better {
            best = Some(candidate);
        }
    }
    best.ok_or_else(|| "empty learning-rate grid".into())
}

fn sci(v: f64) -> String {
    if !v.is_finite() {
        "diverged".to_string()
    } else if v == 0.0 {
        "0".to_string()
    } else {
        format!("{v:.2e}")
    }
}

/// The case's results as a Markdown table.
fn print_table(case: &Case, contenders: &[Contender], runs: &[Run]) {
    println!("\n### {}: {}\n", case.name, case.challenge);
    print!(
        "{}, start ({}, {}), {} steps. Threshold: f − f* < {:e}",
        case.formula, case.start.0, case.start.1, case.steps, case.tolerance
    );
    if let Some(t) = &case.trap {
        print!(
            "; escaped the {}: f < {:.5} ({})",
            t.what, t.level, t.meaning
        );
    }
    if case.smoothing > 1 {
        print!("; losses are means over the last {} steps", case.smoothing);
    }
    println!(
        ". A step number is the first step from which the condition holds to the end of the run.\n"
    );
    let trap_column = |text: String| match &case.trap {
        Some(_) => format!(" {text} |"),
        None => String::new(),
    };
    let what = case.trap.as_ref().map_or("", |t| t.what);
    println!(
        "| optimizer | lr | default lr | final f − f* | below threshold from step |{}",
        trap_column(format!("escaped the {what}"))
    );
    println!("|---|--:|--:|--:|--:|{}", trap_column("---".to_string()));
    for (contender, r) in contenders.iter().zip(runs) {
        let reached = match r.reached(case.tolerance) {
            Some(s) => s.to_string(),
            None => "did not".to_string(),
        };
        let escaped = match &case.trap {
            Some(t) => match r.escaped(t.level, case.minimum) {
                Some(s) => format!("yes, step {s}"),
                None => "no".to_string(),
            },
            None => String::new(),
        };
        println!(
            "| {} | {} | {} | {} | {} |{}",
            contender.name,
            r.lr,
            contender.default_lr,
            sci(r.final_gap()),
            reached,
            trap_column(escaped)
        );
    }
    for (contender, r) in contenders.iter().zip(runs) {
        if contender.kind.is_some() {
            continue;
        }
        print!(
            "\n{}: one iteration per step, with the strong-Wolfe line search, which evaluates \
             the gradient once or more per step (the others: once)",
            contender.name
        );
        match r.reached(case.tolerance) {
            Some(step) => println!(
                "; {} evaluations up to step {step}, from which it stays below the threshold.",
                r.evaluations[step]
            ),
            None => println!(
                "; {} evaluations in its {} steps.",
                r.evaluations.last().unwrap_or(&0),
                r.path.len() - 1
            ),
        }
    }
}

struct Options {
    fast: bool,
    out: PathBuf,
    seed: u64,
}

fn options() -> Result<Options> {
    let mut opts = Options {
        fast: std::env::var("LANDSCAPES_FAST").is_ok_and(|v| !v.is_empty() && v != "0"),
        out: PathBuf::from("target/landscapes"),
        seed: 42,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--fast" => opts.fast = true,
            "--out" => opts.out = args.next().ok_or("--out needs a directory")?.into(),
            "--seed" => opts.seed = args.next().ok_or("--seed needs a number")?.parse()?,
            "-h" | "--help" => {
                println!(
                    "usage: landscapes [--fast] [--out DIR] [--seed N]\n\
                     --fast      fewer steps, coarser sweep and pictures (also LANDSCAPES_FAST=1)\n\
                     --out DIR   where the PNG files go (default target/landscapes)\n\
                     --seed N    seed of the gradient noise (default 42)"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)").into()),
        }
    }
    Ok(opts)
}

fn main() -> Result<()> {
    let opts = options()?;
    std::fs::create_dir_all(&opts.out)?;
    // Fast mode tries every other learning rate.
    let grid: Vec<f64> = if opts.fast {
        LR_GRID.iter().copied().step_by(2).collect()
    } else {
        LR_GRID.to_vec()
    };
    println!(
        "Optimizer paths on 2-D loss surfaces{}.\n\nLearning rates: on each surface, each \
         optimizer's best of {} values from {} to {} (the one that gets below the threshold, and \
         stays there, soonest; failing that, the one with the lowest worst loss over the last \
         tenth of the run). No weight decay; everything else is each optimizer's default \
         (PyTorch's, timm's for LAMB, optax's for Lion; momentum 0.9 for Momentum and Nesterov), \
         and LAMB with always_adapt = true. Noise seed {}.",
        if opts.fast { " (fast mode)" } else { "" },
        grid.len(),
        grid[0],
        grid[grid.len() - 1],
        opts.seed,
    );
    let cases = cases(opts.fast);
    let contenders = contenders();
    let mut chosen = Vec::new();
    for case in &cases {
        let runs = contenders
            .iter()
            .map(|c| sweep(case, c, &grid, opts.seed))
            .collect::<Result<Vec<_>>>()?;
        print_table(case, &contenders, &runs);
        let file = opts.out.join(format!("{}.png", case.name));
        plot::draw(&file, case, &contenders, &runs, opts.fast)?;
        println!("\nDrawn: {}", file.display());
        chosen.push(runs.iter().map(|r| r.lr).collect::<Vec<_>>());
    }
    println!("\n### Learning rates chosen by the sweep\n");
    let names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    println!("| optimizer | {} |", names.join(" | "));
    println!("|---|{}", "--:|".repeat(names.len()));
    for (i, contender) in contenders.iter().enumerate() {
        let lrs: Vec<String> = chosen.iter().map(|lrs| lrs[i].to_string()).collect();
        println!("| {} | {} |", contender.name, lrs.join(" | "));
    }
    Ok(())
}

/// The pictures: contour plot with paths, loss against step, legend.
mod plot {
    use super::*;

    /// Light blue in the valleys to white on the heights.
    fn shade(t: f64) -> RGBColor {
        let lerp = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t) as u8;
        RGBColor(lerp(190, 255), lerp(215, 255), lerp(238, 250))
    }

    /// The surface sampled on an `n × n` grid over the window: `values[j][i]` at `(xs[i], ys[j])`.
    struct Grid {
        xs: Vec<f64>,
        ys: Vec<f64>,
        values: Vec<Vec<f64>>,
    }

    fn sample(case: &Case, n: usize) -> Grid {
        let (x0, x1, y0, y1) = case.window;
        let at = |lo: f64, hi: f64, k: usize| lo + (hi - lo) * k as f64 / (n - 1) as f64;
        let xs: Vec<f64> = (0..n).map(|k| at(x0, x1, k)).collect();
        let ys: Vec<f64> = (0..n).map(|k| at(y0, y1, k)).collect();
        let values = ys
            .iter()
            .map(|&y| {
                xs.iter()
                    .map(|&x| case.surface.value(x, y) - case.minimum)
                    .collect()
            })
            .collect();
        Grid { xs, ys, values }
    }

    /// Contour segments of `grid` at `level`, by marching squares.
    fn contour(grid: &Grid, level: f64, out: &mut Vec<[(f64, f64); 2]>) {
        let v = &grid.values;
        for j in 0..grid.ys.len() - 1 {
            for i in 0..grid.xs.len() - 1 {
                // Corners counter-clockwise from the bottom left.
                let corners = [
                    (grid.xs[i], grid.ys[j], v[j][i]),
                    (grid.xs[i + 1], grid.ys[j], v[j][i + 1]),
                    (grid.xs[i + 1], grid.ys[j + 1], v[j + 1][i + 1]),
                    (grid.xs[i], grid.ys[j + 1], v[j + 1][i]),
                ];
                let mut crossings = Vec::with_capacity(4);
                for e in 0..4 {
                    let (xa, ya, fa) = corners[e];
                    let (xb, yb, fb) = corners[(e + 1) % 4];
                    if (fa < level) != (fb < level) {
                        let t = (level - fa) / (fb - fa);
                        crossings.push((xa + t * (xb - xa), ya + t * (yb - ya)));
                    }
                }
                match crossings.len() {
                    2 => out.push([crossings[0], crossings[1]]),
                    4 => {
                        // A saddle cell: the centre's side decides which corners are joined.
                        let centre = (v[j][i] + v[j][i + 1] + v[j + 1][i + 1] + v[j + 1][i]) / 4.0;
                        if (centre < level) == (v[j][i] < level) {
                            out.push([crossings[0], crossings[3]]);
                            out.push([crossings[1], crossings[2]]);
                        } else {
                            out.push([crossings[0], crossings[1]]);
                            out.push([crossings[2], crossings[3]]);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// The part of segment `a → b` inside the window (Liang–Barsky), if any.
    fn clip(
        a: (f64, f64),
        b: (f64, f64),
        (x0, x1, y0, y1): (f64, f64, f64, f64),
    ) -> Option<((f64, f64), (f64, f64))> {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let (mut t0, mut t1) = (0.0_f64, 1.0_f64);
        for (p, q) in [
            (-dx, a.0 - x0),
            (dx, x1 - a.0),
            (-dy, a.1 - y0),
            (dy, y1 - a.1),
        ] {
            if p == 0.0 {
                if q < 0.0 {
                    return None;
                }
            } else {
                let t = q / p;
                if p < 0.0 {
                    t0 = t0.max(t);
                } else {
                    t1 = t1.min(t);
                }
            }
        }
        (t0 <= t1).then_some((
            (a.0 + t0 * dx, a.1 + t0 * dy),
            (a.0 + t1 * dx, a.1 + t1 * dy),
        ))
    }

    /// `path` cut into the polylines that lie inside the window.
    fn visible_pieces(path: &[(f64, f64)], window: (f64, f64, f64, f64)) -> Vec<Vec<(f64, f64)>> {
        let mut pieces: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut current: Vec<(f64, f64)> = Vec::new();
        for pair in path.windows(2) {
            match clip(pair[0], pair[1], window) {
                Some((a, b)) => {
                    if current.last() != Some(&a) {
                        if current.len() > 1 {
                            pieces.push(std::mem::take(&mut current));
                        }
                        current.clear();
                        current.push(a);
                    }
                    current.push(b);
                }
                None => {
                    if current.len() > 1 {
                        pieces.push(std::mem::take(&mut current));
                    }
                    current.clear();
                }
            }
        }
        if current.len() > 1 {
            pieces.push(current);
        }
        pieces
    }

    /// The polyline `points` as two-point segments, drawn one by one (see the paths in
    /// [`contour_panel`]'s comment): every segment for a solid style; for a dashed one, the pieces of
    /// 7-pixel dashes with 4-pixel gaps between them, measured along the line as drawn
    /// (`to_pixels` maps a point to the picture).
    fn strokes(
        points: &[(f64, f64)],
        style: Style,
        to_pixels: impl Fn(&(f64, f64)) -> (i32, i32),
    ) -> Vec<[(f64, f64); 2]> {
        if !style.dashed {
            return points.windows(2).map(|w| [w[0], w[1]]).collect();
        }
        let (dash, gap) = (7.0, 4.0);
        let at =
            |a: (f64, f64), b: (f64, f64), t: f64| (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1));
        let mut out = Vec::new();
        let (mut drawing, mut left) = (true, dash); // in a dash or a gap, and the pixels left in it
        for w in points.windows(2) {
            let (a, b) = (w[0], w[1]);
            let (pa, pb) = (to_pixels(&a), to_pixels(&b));
            let length = f64::from(pb.0 - pa.0).hypot(f64::from(pb.1 - pa.1));
            let mut t = 0.0;
            loop {
                let rest = (1.0 - t) * length;
                if rest <= left {
                    // The segment ends inside the current dash or gap.
                    if drawing {
                        out.push([at(a, b, t), b]);
                    }
                    left -= rest;
                    break;
                }
                let next = t + left / length;
                if drawing {
                    out.push([at(a, b, t), at(a, b, next)]);
                }
                drawing = !drawing;
                left = if drawing { dash } else { gap };
                t = next;
            }
        }
        out
    }

    fn inside((x, y): (f64, f64), (x0, x1, y0, y1): (f64, f64, f64, f64)) -> bool {
        (x0..=x1).contains(&x) && (y0..=y1).contains(&y)
    }

    const PANEL: u32 = 620;
    const LEGEND_WIDTH: u32 = 240;
    const TITLE_HEIGHT: u32 = 56;

    /// Draws `case` with its `runs` (one per contender, in the same order) to the PNG file
    /// `file`.
    pub(super) fn draw(
        file: &Path,
        case: &Case,
        contenders: &[Contender],
        runs: &[Run],
        fast: bool,
    ) -> Result<()> {
        let size = (2 * PANEL + LEGEND_WIDTH, PANEL + TITLE_HEIGHT);
        let mut pixels = vec![0; 3 * size.0 as usize * size.1 as usize];
        render(&mut pixels, size, case, contenders, runs, fast)?;
        canvas::write_png(file, size, &pixels, fast)
    }

    fn render(
        pixels: &mut [u8],
        size: (u32, u32),
        case: &Case,
        contenders: &[Contender],
        runs: &[Run],
        fast: bool,
    ) -> Result<()> {
        let (panel, title_height) = (PANEL, TITLE_HEIGHT);
        let root = Canvas::new(pixels, size, FONT)?.into_drawing_area();
        root.fill(&WHITE)?;
        let (title, body) = root.split_vertically(title_height);
        title.draw(&Text::new(
            format!("{}: {}", case.name, case.challenge),
            (14, 8),
            ("sans-serif", 22).into_font(),
        ))?;
        title.draw(&Text::new(
            format!(
                "{}, start ({}, {}), {} steps; learning rates: each optimizer's best of a sweep",
                case.formula, case.start.0, case.start.1, case.steps
            ),
            (14, 34),
            ("sans-serif", 15).into_font().color(&RGBColor(80, 80, 80)),
        ))?;
        let (left, rest) = body.split_horizontally(panel);
        let (middle, legend) = rest.split_horizontally(panel);
        contour_panel(&left, case, contenders, runs, if fast { 80 } else { 200 })?;
        loss_panel(&middle, case, contenders, runs)?;
        legend_panel(&legend, case, contenders, runs)?;
        root.present()?;
        Ok(())
    }

    fn contour_panel(
        area: &DrawingArea<Canvas<'_>, Shift>,
        case: &Case,
        contenders: &[Contender],
        runs: &[Run],
        n: usize,
    ) -> Result<()> {
        let (x0, x1, y0, y1) = case.window;
        let mut chart = ChartBuilder::on(area)
            .caption("paths on the contours of f", ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(44)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("x")
            .y_desc("y")
            .label_style(("sans-serif", 13))
            .draw()?;

        // Filled bands between contour lines, on a log scale of f − f* for the valleys (so that
        // both the floor and the walls get lines) or a linear one. Either way a flat region
        // stays bare: it has no levels to show.
        let grid = sample(case, n);
        let top = grid
            .values
            .iter()
            .flatten()
            .fold(f64::MIN_POSITIVE, |m, &v| m.max(v));
        let bottom = top * 1e-4;
        let levels = 24;
        // Level k, for k in 0..levels, is at this fraction of the (log or linear) range.
        let at = |k: usize| (k as f64 + 0.5) / levels as f64;
        let fraction = |v: f64| {
            if case.log_levels {
                (v.max(bottom) / bottom).ln() / (top / bottom).ln()
            } else {
                v / top
            }
        };
        let band = |v: f64| {
            let below = (0..levels).filter(|&k| at(k) < fraction(v)).count();
            shade(below as f64 / levels as f64)
        };
        let (dx, dy) = (grid.xs[1] - grid.xs[0], grid.ys[1] - grid.ys[0]);
        chart.draw_series(grid.ys.iter().enumerate().flat_map(|(j, &y)| {
            let grid = &grid;
            grid.xs.iter().enumerate().map(move |(i, &x)| {
                Rectangle::new(
                    [(x - dx / 2.0, y - dy / 2.0), (x + dx / 2.0, y + dy / 2.0)],
                    band(grid.values[j][i]).filled(),
                )
            })
        }))?;
        let mut segments = Vec::new();
        for k in 0..levels {
            let level = if case.log_levels {
                bottom * (top / bottom).powf(at(k))
            } else {
                top * at(k)
            };
            contour(&grid, level, &mut segments);
        }
        let line = RGBColor(150, 160, 175);
        chart.draw_series(
            segments
                .iter()
                .map(|s| PathElement::new(vec![s[0], s[1]], line.stroke_width(1))),
        )?;

        // Paths, under their start and end markers, SGD (the baseline) last so it is on top.
        // Segment by segment: plotters joins the segments of a wide polyline with mitres, which
        // shoot far out where a path reverses.
        for (contender, r) in contenders.iter().zip(runs).rev() {
            for piece in visible_pieces(&r.path, case.window) {
                let strokes = strokes(&piece, contender.style, |p| chart.backend_coord(p));
                chart.draw_series(
                    strokes
                        .into_iter()
                        .map(|s| PathElement::new(s.to_vec(), contender.colour().stroke_width(2))),
                )?;
            }
        }
        for (contender, r) in contenders.iter().zip(runs).rev() {
            if let Some(&end) = r.path.last()
                && inside(end, case.window)
            {
                chart.draw_series([
                    Circle::new(end, 5, contender.colour().filled()),
                    Circle::new(end, 5, BLACK.stroke_width(1)),
                ])?;
            }
        }
        let label = ("sans-serif", 13).into_font();
        let mark = |chart: &mut ChartContext<'_, _, _>, p: (f64, f64), text: &str| -> Result<()> {
            chart.draw_series([EmptyElement::at(p)
                + Cross::new((0, 0), 5, BLACK.stroke_width(2))
                + Text::new(text.to_string(), (7, -16), label.clone())])?;
            Ok(())
        };
        for &m in &case.minima {
            mark(&mut chart, m, "min")?;
        }
        if let Some(trap) = &case.trap {
            for &(p, text) in &trap.marks {
                mark(&mut chart, p, text)?;
            }
        }
        chart.draw_series([EmptyElement::at(case.start)
            + Circle::new((0, 0), 6, BLACK.filled())
            + Text::new("start", (8, 4), label.clone())])?;
        Ok(())
    }

    fn loss_panel(
        area: &DrawingArea<Canvas<'_>, Shift>,
        case: &Case,
        contenders: &[Contender],
        runs: &[Run],
    ) -> Result<()> {
        let floor = (case.tolerance * 1e-4).max(1e-14);
        let ceiling = runs
            .iter()
            .flat_map(|r| r.gaps.iter().copied())
            .filter(|g| g.is_finite())
            .fold(floor, f64::max)
            .min(runs[0].gaps[0] * 100.0)
            * 3.0;
        let caption = if case.smoothing > 1 {
            format!("loss gap f − f*, mean of the last {} steps", case.smoothing)
        } else {
            "loss gap f − f* against step".to_string()
        };
        let mut chart = ChartBuilder::on(area)
            .caption(caption, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..case.steps as f64, (floor..ceiling).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc("f − f*")
            .label_style(("sans-serif", 13))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .light_line_style(RGBColor(240, 240, 240))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()?;
        let mut guide = |level: f64, text: String| -> Result<()> {
            if level > floor && level < ceiling {
                let grey = RGBColor(110, 110, 110);
                chart.draw_series(DashedLineSeries::new(
                    [(0.0, level), (case.steps as f64, level)],
                    6,
                    4,
                    grey.stroke_width(1),
                ))?;
                chart.draw_series([Text::new(
                    text,
                    (case.steps as f64 * 0.62, level * 1.4),
                    ("sans-serif", 13).into_font().color(&grey),
                )])?;
            }
            Ok(())
        };
        guide(case.tolerance, format!("threshold {:e}", case.tolerance))?;
        if let Some(trap) = &case.trap {
            guide(trap.level - case.minimum, format!("{} level", trap.what))?;
        }
        for (contender, r) in contenders.iter().zip(runs).rev() {
            let points: Vec<(f64, f64)> = r
                .gaps
                .iter()
                .enumerate()
                .map(|(k, &g)| (k as f64, g.clamp(floor, ceiling)))
                .collect();
            let strokes = strokes(&points, contender.style, |p| chart.backend_coord(p));
            chart.draw_series(
                strokes
                    .into_iter()
                    .map(|s| PathElement::new(s.to_vec(), contender.colour().stroke_width(2))),
            )?;
        }
        Ok(())
    }

    fn legend_panel(
        area: &DrawingArea<Canvas<'_>, Shift>,
        case: &Case,
        contenders: &[Contender],
        runs: &[Run],
    ) -> Result<()> {
        // Many optimizers (more than 16) get smaller type, to fit the panel's height; more
        // than 20, smaller still.
        let compact = contenders.len() > 16;
        let crowded = contenders.len() > 20;
        let (size, small_size, status_offset) = match (compact, crowded) {
            (_, true) => (12, 10, 12),
            (true, false) => (13, 11, 15),
            _ => (15, 12, 18),
        };
        let font = ("sans-serif", size).into_font();
        let small = ("sans-serif", small_size)
            .into_font()
            .color(&RGBColor(90, 90, 90));
        area.draw(&Text::new("optimizer, lr", (4, 50), font.clone()))?;
        // As many entries as there are optimizers, each of two lines, spread over the height.
        let (top, bottom) = if compact {
            (if crowded { 68 } else { 76 }, PANEL as i32 - 8)
        } else {
            (84, PANEL as i32 - 40)
        };
        let min_pitch = match (compact, crowded) {
            (_, true) => 22,
            (true, false) => 26,
            _ => 34,
        };
        let pitch = ((bottom - top) / contenders.len().max(1) as i32).clamp(min_pitch, 52);
        for (k, (contender, r)) in contenders.iter().zip(runs).enumerate() {
            let y = top + pitch * k as i32;
            let line = contender.colour().stroke_width(4);
            if contender.style.dashed {
                for x in [4, 16, 28] {
                    area.draw(&PathElement::new(vec![(x, y + 8), (x + 8, y + 8)], line))?;
                }
            } else {
                area.draw(&PathElement::new(vec![(4, y + 8), (36, y + 8)], line))?;
            }
            area.draw(&Text::new(
                format!("{}, lr {}", contender.name, r.lr),
                (44, y),
                font.clone(),
            ))?;
            let status = if r.diverged {
                "diverged".to_string()
            } else {
                match r.reached(case.tolerance) {
                    Some(s) => format!("below threshold from step {s}"),
                    None => "never stays below threshold".to_string(),
                }
            };
            area.draw(&Text::new(status, (44, y + status_offset), small.clone()))?;
        }
        Ok(())
    }
}
