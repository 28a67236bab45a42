//! L-BFGS (`Lbfgs`): what a failing closure leaves (the last accepted parameters, a state the
//! next step continues from), typed errors for bad input, the hyperparameters PyTorch would
//! crash on, save and resume bit for bit, layouts and `maximize`. The numbers against PyTorch
//! are in `tests/reference/lbfgs.rs`.

use std::convert::Infallible;

use ndarray::{Array1, Array2, ShapeBuilder, array};
use ndarray_optim::{Error, Lbfgs, LbfgsConfig, LbfgsError, LbfgsStop, LineSearch};

/// Rosenbrock's function in 2-D on a vector, and its gradient.
fn rosenbrock(p: &Array1<f64>, g: &mut Array1<f64>) -> f64 {
    let (x, y) = (p[0], p[1]);
    g[0] = -2.0 * (1.0 - x) - 400.0 * x * (y - x * x);
    g[1] = 200.0 * (y - x * x);
    (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2)
}

fn start() -> (Array1<f64>, Array1<f64>) {
    (array![-1.5, 2.0], array![0.0, 0.0])
}

fn bits(p: &Array1<f64>) -> Vec<u64> {
    p.iter().map(|x| x.to_bits()).collect()
}

fn wolfe() -> LbfgsConfig {
    LbfgsConfig::default().line_search_fn(Some(LineSearch::StrongWolfe))
}

#[test]
fn a_closure_error_leaves_the_last_accepted_parameters() {
    // Without a line search: evaluation 3 is at x₂; the parameters go back to x₁, where a run
    // of one iteration per step ends (without evaluating there).
    let config = LbfgsConfig::default().lr(0.05);
    let (mut p, mut g) = start();
    let mut opt = config.clone().build::<f64>().unwrap();
    let mut calls = 0;
    let err = opt
        .step(&mut p, &mut g, |p, g| {
            calls += 1;
            if calls == 3 {
                return Err("disk full");
            }
            Ok(rosenbrock(p, g))
        })
        .unwrap_err();
    assert_eq!(
        err,
        LbfgsError::Closure {
            evaluation: 3,
            error: "disk full"
        }
    );
    let (mut q, mut h) = start();
    let mut one = config.max_iter(1).build::<f64>().unwrap();
    one.step(&mut q, &mut h, |p, g| {
        Ok::<f64, Infallible>(rosenbrock(p, g))
    })
    .unwrap();
    assert_eq!(bits(&p), bits(&q));
    assert_eq!((opt.n_iter(), opt.func_evals()), (2, 2));
    // The next step starts from there with the history intact, and carries on.
    for _ in 0..200 {
        opt.step(&mut p, &mut g, |p, g| {
            Ok::<f64, Infallible>(rosenbrock(p, g))
        })
        .unwrap();
    }
    assert!(p.iter().all(|x| x.is_finite()));
    assert!(rosenbrock(&p, &mut g) < rosenbrock(&start().0, &mut g.clone()));
}

#[test]
fn a_failed_trial_point_of_the_line_search_is_never_kept() {
    let (mut p, mut g) = start();
    let before = p.clone();
    let mut opt = wolfe().build::<f64>().unwrap();
    let mut calls = 0;
    let err = opt
        .step(&mut p, &mut g, |p, g| {
            calls += 1;
            if calls == 2 {
                return Ok(f64::NAN); // the first trial point
            }
            Ok::<f64, Infallible>(rosenbrock(p, g))
        })
        .unwrap_err();
    assert!(matches!(
        err,
        LbfgsError::Invalid {
            evaluation: 2,
            error: Error::NonFiniteLoss { .. }
        }
    ));
    assert_eq!(bits(&p), bits(&before));
    // A trial point deep in a line search: the parameters are where the search started.
    let (mut p, mut g) = start();
    let mut opt = wolfe().build::<f64>().unwrap();
    opt.step(&mut p, &mut g, |p, g| {
        Ok::<f64, Infallible>(rosenbrock(p, g))
    })
    .unwrap();
    let after_one = p.clone();
    let mut calls = 0;
    let err = opt
        .step(&mut p, &mut g, |p, g| {
            calls += 1;
            if calls >= 3 {
                return Err(());
            }
            Ok(rosenbrock(p, g))
        })
        .unwrap_err();
    assert!(matches!(err, LbfgsError::Closure { evaluation: 3, .. }));
    assert!(p.iter().all(|x| x.is_finite()));
    assert!(rosenbrock(&p, &mut g) <= rosenbrock(&after_one, &mut g.clone()));
}

#[test]
fn a_first_evaluation_that_fails_changes_nothing() {
    let (mut p, mut g) = start();
    let mut opt = wolfe().build::<f64>().unwrap();
    opt.step(&mut p, &mut g, |p, g| {
        Ok::<f64, Infallible>(rosenbrock(p, g))
    })
    .unwrap();
    let (before, state) = (p.clone(), opt.state());
    let err = opt
        .step(&mut p, &mut g, |_, g| {
            g[1] = f64::INFINITY;
            Ok::<f64, Infallible>(1.0)
        })
        .unwrap_err();
    assert!(
        matches!(
            &err,
            LbfgsError::Invalid { evaluation: 1, error: Error::NonFiniteGradient { index: 0, element, .. } }
                if element == &[1]
        ),
        "{err:?}"
    );
    assert_eq!(bits(&p), bits(&before));
    assert_eq!(opt.state(), state);
    let err = opt.step(&mut p, &mut g, |_, _| Err("no data")).unwrap_err();
    assert_eq!(
        err,
        LbfgsError::Closure {
            evaluation: 1,
            error: "no data"
        }
    );
    assert_eq!(opt.state(), state);
    assert!(err.to_string().contains("evaluation 1"), "{err}");
}

#[test]
fn lists_that_do_not_fit_are_refused_before_anything_runs() {
    let mut opt = Lbfgs::<f64>::new(1.0).unwrap();
    let mut p = array![1.0, 2.0];
    let mut short = array![0.0];
    let mut called = false;
    let err = opt
        .step(&mut p, &mut short, |_, _| {
            called = true;
            Ok::<f64, Infallible>(0.0)
        })
        .unwrap_err();
    assert!(matches!(
        err,
        LbfgsError::Invalid {
            evaluation: 0,
            error: Error::ShapeMismatch { .. }
        }
    ));
    assert!(!called);
    // A closure that writes gradients of another shape.
    let mut g = Array1::<f64>::zeros(2);
    let err = opt
        .step(&mut p, &mut g, |_, g| {
            *g = Array1::zeros(3);
            Ok::<f64, Infallible>(0.0)
        })
        .unwrap_err();
    assert!(matches!(
        err,
        LbfgsError::Invalid {
            evaluation: 1,
            error: Error::ShapeMismatch { .. }
        }
    ));
    // Parameters of other shapes than the history was made for.
    let (mut p, mut g) = start();
    let mut opt = wolfe().build::<f64>().unwrap();
    opt.step(&mut p, &mut g, |p, g| {
        Ok::<f64, Infallible>(rosenbrock(p, g))
    })
    .unwrap();
    let (mut other, mut go) = (Array1::<f64>::zeros(3), Array1::<f64>::zeros(3));
    let err = opt
        .step(&mut other, &mut go, |_, _| Ok::<f64, Infallible>(0.0))
        .unwrap_err();
    assert!(matches!(
        err,
        LbfgsError::Invalid {
            evaluation: 0,
            error: Error::StateShapeMismatch { .. }
        }
    ));
    opt.reset_state();
    opt.step(&mut other, &mut go, |_, _| Ok::<f64, Infallible>(0.0))
        .unwrap();
}

#[test]
fn hyperparameters_pytorch_would_crash_on_are_refused() {
    let name = |config: LbfgsConfig| match config.build::<f32>() {
        Err(Error::InvalidHyperparameter { name, .. }) => name,
        other => panic!("{other:?}"),
    };
    let d = LbfgsConfig::default;
    assert_eq!(name(d().lr(-1.0)), "lr");
    assert_eq!(name(d().max_iter(0)), "max_iter");
    assert_eq!(name(d().max_eval(Some(0))), "max_eval");
    assert_eq!(name(d().history_size(0)), "history_size");
    assert_eq!(name(d().tolerance_grad(f64::NAN)), "tolerance_grad");
    assert_eq!(name(d().tolerance_change(-1.0)), "tolerance_change");
    assert_eq!(d().max_iter(1).resolved_max_eval(), 1);
    assert_eq!(d().resolved_max_eval(), 25);
}

#[test]
fn an_optimal_start_returns_at_once() {
    let mut opt = wolfe().build::<f64>().unwrap();
    let (mut p, mut g) = (array![1.0, 1.0], array![0.0, 0.0]);
    let report = opt
        .step(&mut p, &mut g, |p, g| {
            Ok::<f64, Infallible>(rosenbrock(p, g))
        })
        .unwrap();
    assert_eq!(report.stop, LbfgsStop::Optimal);
    assert_eq!((report.iterations, report.evaluations), (0, 1));
    assert!(opt.state().history.is_none());
}

#[test]
fn maximize_is_minimising_the_negation() {
    let (mut p, mut g) = start();
    let (mut q, mut h) = start();
    let mut min = wolfe().build::<f64>().unwrap();
    let mut max = wolfe().maximize(true).build::<f64>().unwrap();
    for _ in 0..3 {
        min.step(&mut p, &mut g, |p, g| {
            Ok::<f64, Infallible>(rosenbrock(p, g))
        })
        .unwrap();
        let report = max
            .step(&mut q, &mut h, |p, g| {
                let f = rosenbrock(p, g);
                g.mapv_inplace(|x| -x);
                Ok::<f64, Infallible>(-f)
            })
            .unwrap();
        assert!(report.loss <= 0.0);
    }
    assert_eq!(bits(&p), bits(&q));
}

#[test]
fn tensors_of_any_layout_give_the_same_bits() {
    // Extended Rosenbrock over a 2 × 3 matrix (logical order) and a vector.
    fn f(w: &Array2<f64>, v: &Array1<f64>, gw: &mut Array2<f64>, gv: &mut Array1<f64>) -> f64 {
        let x: Vec<f64> = w.iter().chain(v.iter()).copied().collect();
        let mut g = vec![0.0; x.len()];
        let mut loss = 0.0;
        for i in 0..x.len() - 1 {
            let (a, b) = (1.0 - x[i], x[i + 1] - x[i] * x[i]);
            loss += a * a + 100.0 * b * b;
            g[i] += -2.0 * a - 400.0 * x[i] * b;
            g[i + 1] += 200.0 * b;
        }
        for (dst, src) in gw.iter_mut().chain(gv.iter_mut()).zip(g) {
            *dst = src;
        }
        loss
    }
    let run = |mut w: Array2<f64>| {
        let mut v = array![1.0, -1.2];
        let mut gw = Array2::zeros((2, 3).f());
        let mut gv = Array1::zeros(2);
        let mut opt = wolfe().build::<f64>().unwrap();
        for _ in 0..3 {
            opt.step(&mut (&mut w, &mut v), &mut (&mut gw, &mut gv), |p, g| {
                Ok::<f64, Infallible>(f(p.0, p.1, g.0, g.1))
            })
            .unwrap();
        }
        w.iter()
            .chain(v.iter())
            .map(|x| x.to_bits())
            .collect::<Vec<_>>()
    };
    let c = array![[-1.2, 1.0, -1.2], [1.0, -1.2, 1.0]];
    let mut fortran = Array2::zeros((2, 3).f());
    fortran.assign(&c);
    assert_eq!(run(c), run(fortran));
}

#[cfg(feature = "serde")]
#[test]
fn a_saved_history_resumes_bit_for_bit_and_is_checked() {
    let (mut p, mut g) = start();
    let mut opt = wolfe().max_iter(4).history_size(3).build::<f64>().unwrap();
    for _ in 0..2 {
        opt.step(&mut p, &mut g, |p, g| {
            Ok::<f64, Infallible>(rosenbrock(p, g))
        })
        .unwrap();
    }
    let text = serde_json::to_string(&opt.state()).unwrap();
    let mut resumed = Lbfgs::<f64>::new(1.0).unwrap();
    resumed
        .load_state(serde_json::from_str(&text).unwrap())
        .unwrap();
    let mut q = p.clone();
    for _ in 0..3 {
        opt.step(&mut p, &mut g, |p, g| {
            Ok::<f64, Infallible>(rosenbrock(p, g))
        })
        .unwrap();
        resumed
            .step(&mut q, &mut g, |p, g| {
                Ok::<f64, Infallible>(rosenbrock(p, g))
            })
            .unwrap();
    }
    assert_eq!(bits(&p), bits(&q));
    assert_eq!(opt.state(), resumed.state());

    let saved = opt.state();
    let refused = |state: ndarray_optim::LbfgsState<f64>| {
        let mut fresh = Lbfgs::<f64>::new(1.0).unwrap();
        let before = fresh.state();
        let err = fresh.load_state(state).unwrap_err();
        assert_eq!(fresh.state(), before);
        err
    };
    let mut wrong = saved.clone();
    wrong.history.as_mut().unwrap().old_stps.pop();
    assert!(matches!(refused(wrong), Error::InvalidState { .. }));
    let mut wrong = saved.clone();
    wrong.history.as_mut().unwrap().d = ndarray::ArrayD::zeros(ndarray::IxDyn(&[3]));
    assert!(refused(wrong).to_string().contains("`d`"));
    let mut wrong = saved.clone();
    wrong.history.as_mut().unwrap().prev_flat_grad[[0]] = f64::NAN;
    assert!(matches!(refused(wrong), Error::InvalidState { .. }));
    let mut wrong = saved.clone();
    wrong.config.history_size = 1;
    assert!(refused(wrong).to_string().contains("history_size"));
    let mut wrong = saved.clone();
    wrong.history = None;
    assert!(matches!(refused(wrong), Error::InvalidState { .. }));
    let mut wrong = saved.clone();
    wrong.element_type = "f32".to_string();
    assert!(matches!(refused(wrong), Error::InvalidState { .. }));
    let mut wrong = saved;
    wrong.format_version += 1;
    assert!(matches!(
        refused(wrong),
        Error::UnsupportedStateFormat { .. }
    ));
}
