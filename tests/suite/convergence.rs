//! Every optimizer of the registry must reduce an ill-conditioned quadratic and the 2-D
//! Rosenbrock function, in f32 and in f64, with the learning rates of its entry in
//! `tests/common/registry.rs`: ordinary choices for each method (not tuned to the last digit);
//! the thresholds ask for real progress.

use crate::common;

use crate::common::surfaces;

use ndarray::{Array1, array};
use ndarray_optim::{Float, Optimizer};
use surfaces::{Quadratic, Rosenbrock, Surface};

/// The point is a vector `[x, y]`, or a `1 × 2` matrix for an optimizer of matrices (Muon).
fn run<A: Float>(
    surface: &dyn Surface,
    start: (f64, f64),
    opt: &mut dyn Optimizer<A>,
    steps: usize,
) -> f64 {
    let matrix = common::registry::matrices_only(opt.name());
    let mut xy: Array1<A> = array![A::from_f64(start.0), A::from_f64(start.1)];
    for _ in 0..steps {
        let (gx, gy) = surface.gradient(xy[0].widen(), xy[1].widen());
        let g = array![A::from_f64(gx), A::from_f64(gy)];
        if matrix {
            let mut row = xy.view_mut().insert_axis(ndarray::Axis(0));
            opt.step(&mut row, &g.view().insert_axis(ndarray::Axis(0)))
                .unwrap();
        } else {
            opt.step(&mut xy, &g).unwrap();
        }
    }
    surface.value(xy[0].widen(), xy[1].widen())
}

fn converges<A: Float>() {
    let quadratic = Quadratic { a: 1.0, b: 10.0 };
    struct Case<'a> {
        surface: &'a dyn Surface,
        start: (f64, f64),
        rosenbrock: bool,
    }
    let cases = [
        Case {
            surface: &quadratic,
            start: (2.0, 1.0),
            rosenbrock: false,
        },
        Case {
            surface: &Rosenbrock,
            start: (-1.2, 1.0),
            rosenbrock: true,
        },
    ];
    for Case {
        surface,
        start,
        rosenbrock,
    } in cases
    {
        let initial = surface.value(start.0, start.1) - surface.minimum();
        for spec in common::specs() {
            let c = &spec.converge;
            let mut opt = c.config(spec.kind, rosenbrock).build::<A>().unwrap();
            let last = run(surface, start, opt.as_mut(), c.steps) - surface.minimum();
            let fraction = if rosenbrock {
                c.fractions.1
            } else {
                c.fractions.0
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
