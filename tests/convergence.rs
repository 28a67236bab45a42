//! One table of every optimizer: each must reduce an ill-conditioned quadratic and the 2-D
//! Rosenbrock function, in f32 and in f64. The learning rates are ordinary choices for each
//! method (not tuned to the last digit); the thresholds ask for real progress.

mod common;

#[path = "common/surfaces.rs"]
mod surfaces;

use ndarray::{Array1, array};
use ndarray_optim::{
    Adadelta, Adagrad, Adam, AdamConfig, AdamW, Adamax, Float, Lamb, LambConfig, Lion, LionConfig,
    Momentum, NAdam, Nesterov, Optimizer, RAdam, RmsProp, Sgd,
};
use surfaces::{Quadratic, Rosenbrock, Surface};

/// `(optimizer, steps)` for a surface: `pick(a, b)` is `a` on the quadratic, `b` on Rosenbrock.
/// AdamW's, LAMB's and Lion's weight decay are off: they would move the minimum. Adadelta keeps
/// PyTorch's defaults; its steps start near `√ε` and grow slowly, hence its longer run. Lion's
/// steps are ±lr per coordinate whatever the gradient's size, so it gets a small learning rate,
/// as its authors advise. RAdam's first five steps are un-adapted momentum SGD (`γ·m̂`), so its
/// learning rate must also suit SGD there (Rosenbrock's gradient at the start is about 200), and
/// its first rectified steps are small, hence its longer run.
fn table<A: Float>(rosenbrock: bool) -> Vec<(Box<dyn Optimizer<A>>, usize)> {
    let pick = |quadratic: f64, rosen: f64| if rosenbrock { rosen } else { quadratic };
    vec![
        (Box::new(Sgd::new(pick(0.1, 1e-3)).unwrap()), 5000),
        (
            Box::new(Momentum::new(pick(0.05, 1e-3), 0.9).unwrap()),
            3000,
        ),
        (
            Box::new(Nesterov::new(pick(0.05, 1e-3), 0.9).unwrap()),
            3000,
        ),
        (Box::new(Adagrad::new(pick(0.5, 0.25)).unwrap()), 5000),
        (Box::new(RmsProp::new(pick(0.01, 1e-3)).unwrap()), 5000),
        (Box::new(Adadelta::new(1.0).unwrap()), 20000),
        (Box::new(Adam::new(pick(0.05, 5e-3)).unwrap()), 5000),
        (
            Box::new(
                AdamW::with_config(AdamConfig::adamw().lr(pick(0.05, 5e-3)).weight_decay(0.0))
                    .unwrap(),
            ),
            5000,
        ),
        (
            Box::new(
                Lamb::with_config(LambConfig::default().lr(pick(0.02, 2e-3)).weight_decay(0.0))
                    .unwrap(),
            ),
            5000,
        ),
        (Box::new(NAdam::new(pick(0.05, 5e-3)).unwrap()), 5000),
        (Box::new(RAdam::new(pick(0.05, 5e-3)).unwrap()), 8000),
        (Box::new(Adamax::new(pick(0.05, 5e-3)).unwrap()), 5000),
        (
            Box::new(
                Lion::with_config(LionConfig::default().lr(pick(1e-3, 1e-3)).weight_decay(0.0))
                    .unwrap(),
            ),
            5000,
        ),
    ]
}

fn run<A: Float>(
    surface: &dyn Surface,
    start: (f64, f64),
    opt: &mut dyn Optimizer<A>,
    steps: usize,
) -> f64 {
    let mut xy: Array1<A> = array![A::from_f64(start.0), A::from_f64(start.1)];
    for _ in 0..steps {
        let (gx, gy) = surface.gradient(xy[0].widen(), xy[1].widen());
        opt.step(&mut xy, &array![A::from_f64(gx), A::from_f64(gy)])
            .unwrap();
    }
    surface.value(xy[0].widen(), xy[1].widen())
}

fn converges<A: Float>() {
    let quadratic = Quadratic { a: 1.0, b: 10.0 };
    struct Case<'a> {
        surface: &'a dyn Surface,
        start: (f64, f64),
        rosenbrock: bool,
        /// Required final loss gap, as a fraction of the initial gap.
        fraction: f64,
        /// The same for Adadelta, by far the slowest with PyTorch's defaults.
        adadelta_fraction: f64,
    }
    let cases = [
        Case {
            surface: &quadratic,
            start: (2.0, 1.0),
            rosenbrock: false,
            fraction: 1e-4,
            adadelta_fraction: 1e-2,
        },
        Case {
            surface: &Rosenbrock,
            start: (-1.2, 1.0),
            rosenbrock: true,
            fraction: 1e-3,
            adadelta_fraction: 5e-2,
        },
    ];
    for Case {
        surface,
        start,
        rosenbrock,
        fraction,
        adadelta_fraction,
    } in cases
    {
        let initial = surface.value(start.0, start.1) - surface.minimum();
        for (mut opt, steps) in table::<A>(rosenbrock) {
            let last = run(surface, start, opt.as_mut(), steps) - surface.minimum();
            let fraction = if opt.name() == "Adadelta" {
                adadelta_fraction
            } else {
                fraction
            };
            let threshold = fraction * initial;
            assert!(
                last < threshold,
                "{} on {} ({}): loss {initial:.3} -> {last:.3e}, wanted < {threshold:e}",
                opt.name(),
                surface.name(),
                std::any::type_name::<A>()
            );
        }
    }
}

#[test]
fn every_optimizer_converges_f64() {
    converges::<f64>();
}

#[test]
fn every_optimizer_converges_f32() {
    converges::<f32>();
}
