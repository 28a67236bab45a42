//! Gradient accumulation: `k` micro-batches through `MultiSteps` train exactly like one batch
//! of all their examples; every check happens before anything changes; counters, delegation,
//! layouts, clipping of the accumulated gradient, and save/resume mid-window.

use crate::common;
use ndarray::{Array1, Array2, ArrayD, ShapeBuilder, array, s};
use ndarray_optim::{
    AccumulationMode, Adam, Error, Float, Momentum, MultiSteps, MultiStepsConfig, NonFinitePolicy,
    Optimizer, OptimizerState, ParamGroup, ParamGroups, Sgd, StepOutcome, clip_grad_norm,
};

/// Every optimizer of the registry, with each of its main options.
fn optimizers<A: Float>() -> Vec<Box<dyn Optimizer<A>>> {
    common::zoo()
}

/// Linear least squares `L = Σⱼ ‖xⱼ·W + b − yⱼ‖²` over `N` examples (`d = 3` inputs, 2 outputs):
/// a weight matrix and a bias vector, so the parameters have two ranks.
struct Problem<A> {
    x: Array2<A>,
    y: Array2<A>,
}

type Params<A> = (Array2<A>, Array1<A>);

impl<A: Float> Problem<A> {
    fn new(n: usize) -> Self {
        Problem {
            x: Array2::from_shape_fn((n, 3), |(j, i)| {
                A::from_f64(((j * 3 + i) as f64 * 0.77 + 0.3).sin() * 2.0)
            }),
            y: Array2::from_shape_fn((n, 2), |(j, o)| {
                A::from_f64(((j * 2 + o) as f64 * 1.31).cos() + 0.5)
            }),
        }
    }

    fn params() -> Params<A> {
        (
            Array2::from_shape_fn((3, 2), |(i, o)| A::from_f64((i + 2 * o) as f64 * 0.1 - 0.2)),
            Array1::from_elem(2, A::from_f64(0.05)),
        )
    }

    /// `∂/∂(W, b) ‖xⱼ·W + b − yⱼ‖²` for example `j`, element by element (a fixed order).
    fn sample_grad(&self, p: &Params<A>, j: usize) -> Params<A> {
        let two = A::from_f64(2.0);
        let mut residual = Array1::zeros(2);
        for o in 0..2 {
            let mut r = p.1[o] - self.y[[j, o]];
            for i in 0..3 {
                r = r + self.x[[j, i]] * p.0[[i, o]];
            }
            residual[o] = r;
        }
        let gw = Array2::from_shape_fn((3, 2), |(i, o)| two * self.x[[j, i]] * residual[o]);
        (gw, residual.mapv(|r| two * r))
    }

    /// The gradient of the examples `examples`, summed in order, then divided by `divisor`
    /// (1 for a sum): `(((s₁ + s₂) + s₃) + …) / divisor`.
    fn batch_grad(
        &self,
        p: &Params<A>,
        examples: std::ops::Range<usize>,
        divisor: usize,
    ) -> Params<A> {
        let mut sum: Option<Params<A>> = None;
        for j in examples {
            let s = self.sample_grad(p, j);
            sum = Some(match sum {
                None => s,
                Some(acc) => (&acc.0 + &s.0, &acc.1 + &s.1),
            });
        }
        let (gw, gb) = sum.expect("at least one example");
        let k = A::from_f64(divisor as f64);
        (gw.mapv(|g| g / k), gb.mapv(|g| g / k))
    }
}

fn bits<A: Float>(p: &Params<A>) -> Vec<u64> {
    p.0.iter()
        .chain(p.1.iter())
        .map(|x| x.widen().to_bits())
        .collect()
}

/// One batch of `N` examples per step against `N` micro-batches of one example through
/// `MultiSteps`: the inner optimizer receives the same gradient to the bit, so the trajectories
/// are identical, for every optimizer, in both modes.
fn one_example_micro_batches_equal_one_batch<A: Float>() {
    const N: usize = 6; // not a power of two: the division rounds, identically
    const STEPS: usize = 25;
    let problem = Problem::<A>::new(N);
    for mode in [AccumulationMode::Mean, AccumulationMode::Sum] {
        for reference in optimizers::<A>() {
            let name = reference.name();
            let mut big = reference.clone_box();
            let mut acc = MultiStepsConfig::default()
                .every_k(N)
                .mode(mode)
                .build(reference)
                .unwrap();
            let (mut p_big, mut p_acc) = (Problem::<A>::params(), Problem::<A>::params());
            let divisor = if mode == AccumulationMode::Mean { N } else { 1 };
            for step in 0..STEPS {
                let (gw, gb) = problem.batch_grad(&p_big, 0..N, divisor);
                big.step(&mut (&mut p_big.0, &mut p_big.1), &(&gw, &gb))
                    .unwrap();
                for j in 0..N {
                    let (gw, gb) = problem.sample_grad(&p_acc, j);
                    acc.step(&mut (&mut p_acc.0, &mut p_acc.1), &(&gw, &gb))
                        .unwrap();
                    assert_eq!(acc.last_call_stepped(), j == N - 1);
                }
                assert_eq!(
                    bits(&p_acc),
                    bits(&p_big),
                    "{name} {mode:?}: step {}",
                    step + 1
                );
            }
            assert_eq!(acc.step_count(), STEPS as u64, "{name}");
            assert_eq!(big.step_count(), STEPS as u64);
        }
    }
}

#[test]
fn one_example_micro_batches_equal_one_batch_bit_for_bit() {
    one_example_micro_batches_equal_one_batch::<f32>();
    one_example_micro_batches_equal_one_batch::<f64>();
}

/// Micro-batches of several examples: each micro-batch gradient is a mean over its own
/// examples, and the mean of those means equals the batch mean up to the order of the
/// additions, `((s₁+s₂+s₃)/3 + (s₄+s₅+s₆)/3 + …)/4` against `(s₁+…+s₁₂)/12`: a relative
/// difference of a few ulps in each gradient. Over 40 steps of SGD and Adam the parameters stay
/// within `1e-12` (f64) and `2e-5` (f32) relative of the big-batch run (measured: 2.4e-14 and
/// 6.1e-6, the largest near the optimum, where Adam divides the small, rounding-dominated
/// gradient by its own running magnitude).
fn several_example_micro_batches_match_one_batch<A: Float>(tolerance: f64) -> f64 {
    const K: usize = 4;
    const PER_MICRO: usize = 3;
    const N: usize = K * PER_MICRO;
    const STEPS: usize = 40;
    let problem = Problem::<A>::new(N);
    let mut worst = 0.0_f64;
    let mut stepped = Vec::new();
    for reference in [
        Box::new(Sgd::new(0.02).unwrap()) as Box<dyn Optimizer<A>>,
        Box::new(Adam::new(0.01).unwrap()),
    ] {
        let name = reference.name();
        let mut big = reference.clone_box();
        let mut acc = MultiSteps::new(reference, K).unwrap();
        let (mut p_big, mut p_acc) = (Problem::<A>::params(), Problem::<A>::params());
        for _ in 0..STEPS {
            let (gw, gb) = problem.batch_grad(&p_big, 0..N, N);
            big.step(&mut (&mut p_big.0, &mut p_big.1), &(&gw, &gb))
                .unwrap();
            for m in 0..K {
                let examples = m * PER_MICRO..(m + 1) * PER_MICRO;
                let (gw, gb) = problem.batch_grad(&p_acc, examples, PER_MICRO);
                acc.step(&mut (&mut p_acc.0, &mut p_acc.1), &(&gw, &gb))
                    .unwrap();
                stepped.push(acc.last_call_stepped());
            }
            for (a, b) in p_acc
                .0
                .iter()
                .chain(&p_acc.1)
                .zip(p_big.0.iter().chain(&p_big.1))
            {
                let (a, b) = (a.widen(), b.widen());
                let relative = (a - b).abs() / b.abs().max(1e-3);
                worst = worst.max(relative);
                assert!(relative <= tolerance, "{name}: {a:e} vs {b:e}");
            }
        }
        assert_eq!(acc.step_count(), STEPS as u64);
    }
    assert_eq!(stepped.iter().filter(|&&s| s).count(), 2 * STEPS);
    worst
}

#[test]
fn several_example_micro_batches_match_one_batch_to_rounding() {
    let f64_worst = several_example_micro_batches_match_one_batch::<f64>(1e-12);
    let f32_worst = several_example_micro_batches_match_one_batch::<f32>(2e-5);
    println!("worst relative parameter difference: f64 {f64_worst:e}, f32 {f32_worst:e}");
    // The paths really differ (so the tolerance is needed), and only by rounding.
    assert!(f64_worst > 0.0 && f32_worst > 0.0);
}

#[test]
fn every_k_of_one_is_the_inner_optimizer() {
    let problem = Problem::<f64>::new(5);
    for reference in optimizers::<f64>() {
        let mut plain = reference.clone_box();
        let mut wrapped = MultiSteps::new(reference, 1).unwrap();
        let (mut a, mut b) = (Problem::<f64>::params(), Problem::<f64>::params());
        for _ in 0..10 {
            let g = problem.batch_grad(&a, 0..5, 5);
            plain
                .step(&mut (&mut a.0, &mut a.1), &(&g.0, &g.1))
                .unwrap();
            wrapped
                .step(&mut (&mut b.0, &mut b.1), &(&g.0, &g.1))
                .unwrap();
            assert!(wrapped.last_call_stepped());
        }
        assert_eq!(bits(&a), bits(&b), "{}", plain.name());
    }
}

/// Micro-batch gradients for the behavioural tests below.
fn micro(t: usize) -> (Array2<f64>, Array1<f64>) {
    let s = t as f64;
    (
        Array2::from_shape_fn((3, 2), |(i, o)| ((i * 2 + o) as f64 + s).sin()),
        Array1::from_shape_fn(2, |o| (o as f64 - s * 0.3).cos()),
    )
}

/// Runs `MultiSteps(Adam, 3)` over the micro-batches `0..n`, calling `disturb` before each.
fn run(
    n: usize,
    mut disturb: impl FnMut(usize, &mut MultiSteps<f64, Adam<f64>>, &mut Params<f64>),
) -> (Params<f64>, MultiSteps<f64, Adam<f64>>) {
    let mut opt = MultiSteps::new(Adam::new(0.05).unwrap(), 3).unwrap();
    let mut p = Problem::<f64>::params();
    for t in 0..n {
        disturb(t, &mut opt, &mut p);
        let (gw, gb) = micro(t);
        opt.step(&mut (&mut p.0, &mut p.1), &(&gw, &gb)).unwrap();
    }
    (p, opt)
}

/// A call that must fail, returning its error.
type BadCall = dyn Fn(&mut MultiSteps<f64, Adam<f64>>, &mut Params<f64>) -> Error;

#[test]
fn every_error_changes_nothing() {
    let (clean, clean_opt) = run(10, |_, _, _| {});
    // At a few points mid-window and at window boundaries, a bad call is made first: the run
    // must end bit-identical to the clean one.
    let bad_calls: Vec<(&str, Box<BadCall>)> = vec![
        (
            "shape",
            Box::new(|opt, p| {
                let g = (Array2::zeros((2, 3)), Array1::zeros(2));
                opt.step(&mut (&mut p.0, &mut p.1), &(&g.0, &g.1))
                    .unwrap_err()
            }),
        ),
        (
            "count",
            Box::new(|opt, p| {
                let g = Array2::<f64>::zeros((3, 2));
                opt.step(&mut (&mut p.0, &mut p.1), &g).unwrap_err()
            }),
        ),
        (
            "nan",
            Box::new(|opt, p| {
                let (gw, mut gb) = micro(0);
                gb[1] = f64::NAN;
                opt.step(&mut (&mut p.0, &mut p.1), &(&gw, &gb))
                    .unwrap_err()
            }),
        ),
        (
            "state length",
            Box::new(|opt, p| {
                let (gw, _) = micro(0);
                opt.step(&mut p.0, &gw).unwrap_err()
            }),
        ),
    ];
    for (name, bad) in &bad_calls {
        // Mid-window, at a window's start (after a boundary) and at a boundary call.
        for at in [1, 2, 3, 7, 8] {
            let mut error = None;
            let (p, opt) = run(10, |t, opt, p| {
                if t == at {
                    error = Some(bad(opt, p));
                }
            });
            let error = error.unwrap();
            match *name {
                "shape" => assert!(matches!(error, Error::ShapeMismatch { index: 0, .. })),
                "count" => assert!(matches!(
                    error,
                    Error::LengthMismatch {
                        params: 2,
                        grads: 1
                    }
                )),
                "nan" => assert!(matches!(
                    error,
                    Error::NonFiniteGradient { index: 1, ref element, value } if element == &[1] && value.is_nan()
                )),
                "state length" => assert!(matches!(
                    error,
                    Error::StateLengthMismatch {
                        expected: 2,
                        found: 1
                    }
                )),
                _ => unreachable!(),
            }
            assert_eq!(bits(&p), bits(&clean), "{name} at call {at}");
            assert_eq!(opt.step_count(), clean_opt.step_count());
            assert_eq!(opt.micro_step(), clean_opt.micro_step());
        }
    }
}

#[test]
fn an_overflowing_sum_is_refused() {
    let mut opt = MultiSteps::new(Sgd::new(0.1).unwrap(), 3).unwrap();
    let mut w = array![[1.0_f32, 2.0]];
    opt.step(&mut w, &array![[3e38_f32, 1.0]]).unwrap();
    let err = opt.step(&mut w, &array![[3e38_f32, 1.0]]).unwrap_err();
    assert_eq!(
        err,
        Error::NonFiniteGradient {
            index: 0,
            element: vec![0, 0],
            value: f64::INFINITY
        }
    );
    // The window still holds the first micro-batch only.
    opt.step(&mut w, &array![[-3e38_f32, 1.0]]).unwrap();
    opt.step(&mut w, &array![[0.0_f32, 1.0]]).unwrap();
    assert!(opt.last_call_stepped());
    assert_eq!(w, array![[1.0, 2.0 - 0.1]]);
}

#[test]
fn skip_step_drops_the_micro_batch() {
    let (clean, _) = run(9, |_, _, _| {});
    let mut dropped = 0;
    let (p, opt) = run(9, |t, opt, p| {
        if t == 0 {
            opt.set_non_finite_policy(NonFinitePolicy::SkipStep);
        }
        if t == 4 || t == 6 {
            let (mut gw, gb) = micro(t);
            gw[[0, 1]] = f64::INFINITY;
            let before = opt.micro_step();
            opt.step(&mut (&mut p.0, &mut p.1), &(&gw, &gb)).unwrap();
            dropped += 1;
            assert_eq!(opt.micro_step(), before);
            assert!(!opt.last_call_stepped());
            assert_eq!(
                opt.last_step(),
                &StepOutcome::Skipped {
                    index: 0,
                    element: vec![0, 1],
                    value: f64::INFINITY
                }
            );
        }
    });
    assert_eq!(bits(&p), bits(&clean));
    assert_eq!(opt.skipped_steps(), dropped);
    assert_eq!(opt.step_count(), 3);
    assert_eq!(opt.last_step(), &StepOutcome::Applied);
}

#[test]
fn unchecked_lets_nan_through_as_pytorch_does() {
    let mut sgd = Sgd::new(0.1).unwrap();
    sgd.set_non_finite_policy(NonFinitePolicy::Unchecked);
    let mut opt = MultiSteps::new(sgd, 2).unwrap();
    let mut w = array![1.0_f64, 1.0];
    opt.step(&mut w, &array![f64::NAN, 1.0]).unwrap();
    assert_eq!(w, array![1.0, 1.0]);
    opt.step(&mut w, &array![1.0, 1.0]).unwrap();
    assert!(w[0].is_nan());
    assert_eq!(w[1], 0.9);
}

#[test]
fn state_shape_and_group_errors() {
    let mut opt = MultiSteps::new(Adam::<f64>::new(0.1).unwrap(), 2).unwrap();
    let mut w = Array2::<f64>::zeros((2, 2));
    opt.step(&mut w, &Array2::ones((2, 2))).unwrap();
    let mut other = Array2::<f64>::zeros((4, 1));
    assert_eq!(
        opt.step(&mut other, &Array2::ones((4, 1))).unwrap_err(),
        Error::StateShapeMismatch {
            index: 0,
            expected: vec![2, 2],
            found: vec![4, 1]
        }
    );
    // Parameter groups for two tensors, a step with one: refused before anything is created.
    let groups = ParamGroups::new(vec![ParamGroup::default()], vec![0, 0]).unwrap();
    let mut grouped = MultiSteps::new(Adam::<f64>::new(0.1).unwrap(), 2).unwrap();
    grouped.set_param_groups(Some(groups)).unwrap();
    assert_eq!(
        grouped.step(&mut w, &Array2::ones((2, 2))).unwrap_err(),
        Error::GroupLengthMismatch {
            assigned: 2,
            found: 1
        }
    );
    assert_eq!(grouped.micro_step(), 0);
    // reset_state forgets the tensors.
    opt.reset_state();
    opt.step(&mut other, &Array2::ones((4, 1))).unwrap();
    assert_eq!(opt.micro_step(), 1);
}

#[test]
fn an_inner_error_at_the_boundary_changes_nothing() {
    // The inner optimizer already holds state for another shape: its `check_step` tells before
    // the k-th call touches the window.
    let mut inner = Adam::<f64>::new(0.1).unwrap();
    inner
        .step(&mut Array1::<f64>::zeros(3), &Array1::ones(3))
        .unwrap();
    let mut opt = MultiSteps::new(inner, 2).unwrap();
    let mut w = array![1.0, 2.0];
    opt.step(&mut w, &array![1.0, 1.0]).unwrap();
    let err = opt.step(&mut w, &array![1.0, 1.0]).unwrap_err();
    assert!(
        matches!(err, Error::StateShapeMismatch { index: 0, .. }),
        "{err:?}"
    );
    assert_eq!(w, array![1.0, 2.0]);
    assert_eq!((opt.micro_step(), opt.step_count()), (1, 1)); // the window is intact
    assert!(opt.check_step(&w, &array![1.0, 1.0]).is_err());
    assert!(!opt.last_call_stepped());
}

#[test]
fn counters_and_delegation() {
    let mut opt = MultiSteps::new(Momentum::<f32>::new(0.1, 0.9).unwrap(), 3).unwrap();
    assert_eq!((opt.every_k(), opt.mode()), (3, AccumulationMode::Mean));
    assert_eq!(opt.name(), "Momentum"); // the inner optimizer's
    assert_eq!(opt.last_step(), &StepOutcome::NotStarted);
    opt.set_learning_rate(0.2).unwrap();
    assert_eq!(opt.learning_rate(), 0.2);
    assert_eq!(opt.inner().learning_rate(), 0.2);
    opt.set_momentum(0.5).unwrap();
    assert_eq!(opt.momentum(), Some(0.5));
    assert!(opt.set_learning_rate(-1.0).is_err());
    opt.set_non_finite_policy(NonFinitePolicy::SkipStep);
    assert_eq!(opt.inner().non_finite_policy(), NonFinitePolicy::SkipStep);
    assert!(opt.param_groups().is_none());

    let mut w = array![0.0_f32];
    let mut history = Vec::new();
    for t in 0..7 {
        opt.step(&mut w, &array![1.0]).unwrap();
        history.push((opt.micro_step(), opt.last_call_stepped(), opt.step_count()));
        if t % 3 == 2 {
            assert_eq!(opt.last_step(), &StepOutcome::Applied);
        } else {
            let micro_step = t % 3 + 1;
            assert_eq!(
                opt.last_step(),
                &StepOutcome::Accumulated {
                    micro_step,
                    every_k: 3
                }
            );
        }
    }
    assert_eq!(
        history,
        vec![
            (1, false, 0),
            (2, false, 0),
            (0, true, 1),
            (1, false, 1),
            (2, false, 1),
            (0, true, 2),
            (1, false, 2)
        ]
    );
    opt.reset_state();
    assert_eq!((opt.micro_step(), opt.step_count()), (0, 0));
    assert_eq!(opt.last_step(), &StepOutcome::NotStarted);
    assert!(MultiSteps::new(Sgd::<f32>::new(0.1).unwrap(), 0).is_err());
    let sgd = || Sgd::<f32>::new(0.1).unwrap();
    let config = || MultiStepsConfig::default().every_k(2);
    let invalid = |config: MultiStepsConfig, name: &str| match config.build(sgd()) {
        Err(Error::InvalidHyperparameter { name: n, .. }) => assert_eq!(n, name),
        other => panic!("{name}: {other:?}"),
    };
    invalid(config().every_k(0), "every_k");
    invalid(config().max_grad_norm(Some(-1.0)), "max_grad_norm");
    invalid(config().max_grad_norm(Some(f64::NAN)), "max_grad_norm");
    invalid(
        config().max_grad_norm(Some(1.0)).norm_type(0.0),
        "norm_type",
    );
    invalid(config().norm_type(f64::NAN), "norm_type");
}

#[test]
fn layouts_give_the_same_bits() {
    // C-order, Fortran-order and strided parameters and gradients.
    let run = |fortran: bool, strided: bool| {
        let mut opt = MultiSteps::new(Adam::<f64>::new(0.05).unwrap(), 3).unwrap();
        let mut w = if fortran {
            Array2::zeros((4, 5).f())
        } else {
            Array2::zeros((4, 5))
        };
        let mut wide = Array2::<f64>::zeros((4, 10));
        for t in 0..9 {
            let g = Array2::from_shape_fn((4, 5), |(i, j)| ((i * 5 + j + t) as f64).sin());
            let mut gf = Array2::zeros((4, 5).f());
            gf.assign(&g);
            let mut gwide = Array2::<f64>::zeros((4, 10));
            gwide.slice_mut(s![.., ..;2]).assign(&g);
            let g_strided = gwide.slice(s![.., ..;2]);
            let mut view = wide.slice_mut(s![.., ..;2]);
            match (fortran, strided) {
                (false, false) => opt.step(&mut w, &g).unwrap(),
                (true, false) => opt.step(&mut w, &gf).unwrap(),
                (false, true) => opt.step(&mut view, &g_strided).unwrap(),
                (true, true) => opt.step(&mut w, &g_strided).unwrap(),
            }
        }
        if strided && !fortran {
            wide.slice(s![.., ..;2]).to_owned()
        } else {
            w
        }
    };
    let reference = run(false, false);
    for (fortran, strided) in [(true, false), (false, true), (true, true)] {
        assert_eq!(
            run(fortran, strided),
            reference,
            "fortran {fortran}, strided {strided}"
        );
    }
}

#[test]
fn boxed_and_cloned() {
    let mut boxed: Box<dyn Optimizer<f64>> = Box::new(
        MultiSteps::new(
            Box::new(Adam::new(0.1).unwrap()) as Box<dyn Optimizer<f64>>,
            2,
        )
        .unwrap(),
    );
    let mut w = array![1.0, -1.0];
    boxed.step(&mut w, &array![0.5, 0.5]).unwrap();
    let mut copy = boxed.clone();
    let mut w2 = w.clone();
    for t in 0..5 {
        let g = array![t as f64, 1.0];
        boxed.step(&mut w, &g).unwrap();
        copy.step(&mut w2, &g).unwrap();
    }
    assert_eq!(w, w2);
    assert_eq!(boxed.step_count(), 3);
}

#[test]
fn clipping_the_accumulated_gradient() {
    // MultiSteps with clipping = the inner optimizer stepped with clip_grad_norm(mean).
    for norm_type in [1.0, 2.0, f64::INFINITY] {
        let mut opt = MultiStepsConfig::default()
            .every_k(3)
            .max_grad_norm(Some(0.5))
            .norm_type(norm_type)
            .build(Adam::<f64>::new(0.1).unwrap())
            .unwrap();
        let mut manual = Adam::<f64>::new(0.1).unwrap();
        let (mut a, mut b) = (Problem::<f64>::params(), Problem::<f64>::params());
        for window in 0..4 {
            let grads: Vec<_> = (0..3).map(|m| micro(window * 3 + m)).collect();
            for (gw, gb) in &grads {
                opt.step(&mut (&mut a.0, &mut a.1), &(gw, gb)).unwrap();
            }
            let k = 3.0;
            let mut mean_w = (&(&grads[0].0 + &grads[1].0) + &grads[2].0).mapv(|x| x / k);
            let mut mean_b = (&(&grads[0].1 + &grads[1].1) + &grads[2].1).mapv(|x| x / k);
            let norm =
                clip_grad_norm(&mut (&mut mean_w, &mut mean_b), 0.5, norm_type, false).unwrap();
            assert!(norm > 0.5, "the test clips");
            assert_eq!(opt.last_grad_norm(), Some(norm));
            manual
                .step(&mut (&mut b.0, &mut b.1), &(&mean_w, &mean_b))
                .unwrap();
            assert_eq!(bits(&a), bits(&b), "norm_type {norm_type}");
        }
    }
}

fn save_and_resume(save_at: usize) {
    const CALLS: usize = 14;
    let (reference, _) = run(CALLS, |_, _, _| {});
    let (mut p, opt) = run(save_at, |_, _, _| {});
    let state: OptimizerState<f64> = opt.save_state();
    assert_eq!(state.extra["multi_steps.mini_step"], (save_at % 3) as u64);
    // Through JSON, as a checkpoint would go (with the `serde` feature, on in this repository).
    #[cfg(feature = "serde")]
    let state: OptimizerState<f64> =
        serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    state.verify(&(&p.0, &p.1), None).unwrap();
    let mut resumed = MultiSteps::new(Adam::new(0.05).unwrap(), 3).unwrap();
    resumed.load_state(state.clone()).unwrap();
    assert_eq!(resumed.micro_step(), save_at % 3);
    for t in save_at..CALLS {
        let (gw, gb) = micro(t);
        resumed
            .step(&mut (&mut p.0, &mut p.1), &(&gw, &gb))
            .unwrap();
    }
    assert_eq!(bits(&p), bits(&reference), "saved after {save_at} calls");
    // Another every_k is refused; so is loading the window into the plain optimizer.
    let mut other = MultiSteps::new(Adam::new(0.05).unwrap(), 4).unwrap();
    assert!(matches!(
        other.load_state(state.clone()),
        Err(Error::InvalidState { .. })
    ));
    assert_eq!(other.micro_step(), 0);
    let mut plain = Adam::<f64>::new(0.05).unwrap();
    assert!(plain.load_state(state).is_err());
}

#[test]
fn save_and_resume_mid_window_is_bit_identical() {
    for save_at in [0, 1, 2, 3, 4, 5, 7] {
        save_and_resume(save_at);
    }
}

#[test]
fn a_plain_state_loads_with_an_empty_window() {
    let mut adam = Adam::<f64>::new(0.05).unwrap();
    let mut w = array![1.0, 2.0];
    adam.step(&mut w, &array![0.1, 0.2]).unwrap();
    let mut opt = MultiSteps::new(Adam::new(0.05).unwrap(), 2).unwrap();
    opt.load_state(adam.save_state()).unwrap();
    assert_eq!((opt.step_count(), opt.micro_step()), (1, 0));
    // A misshapen accumulator is refused, and nothing changes.
    let (mut p, saved) = run(4, |_, _, _| {});
    let mut state = saved.save_state();
    let acc: ArrayD<f64> = ArrayD::zeros(ndarray::IxDyn(&[7]));
    state.tensors[0].buffers.insert("acc_grads".into(), acc);
    let mut fresh = MultiSteps::new(Adam::new(0.05).unwrap(), 3).unwrap();
    assert!(matches!(
        fresh.load_state(state),
        Err(Error::InvalidState {
            tensor: Some(0),
            ..
        })
    ));
    assert_eq!((fresh.step_count(), fresh.micro_step()), (0, 0));
    let (gw, gb) = micro(0);
    fresh.step(&mut (&mut p.0, &mut p.1), &(&gw, &gb)).unwrap();
}

/// The accumulated gradient can be clipped by value, by norm with `error_if_nonfinite` (an
/// error then leaves the window as it was), or transformed by the user's closure.
#[test]
fn transforms_of_the_accumulated_gradient() {
    let config = MultiStepsConfig::default().every_k(2).clip_value(Some(0.5));
    let mut opt = config.build(Sgd::<f64>::new(1.0).unwrap()).unwrap();
    let mut w = array![0.0_f64, 0.0];
    opt.step(&mut w, &array![3.0, 0.2]).unwrap();
    opt.step(&mut w, &array![3.0, 0.2]).unwrap();
    assert_eq!(w, array![-0.5, -0.2]); // mean (3, 0.2), clipped to 0.5

    // A norm that overflows in f64 is not finite: an error, and the window stays.
    let config = MultiStepsConfig::default()
        .every_k(2)
        .max_grad_norm(Some(1.0))
        .error_if_nonfinite(true);
    let mut opt = config.build(Sgd::<f64>::new(1.0).unwrap()).unwrap();
    let mut w = array![0.0_f64, 0.0];
    opt.step(&mut w, &array![1e300, 1e300]).unwrap();
    let before = opt.save_state();
    assert!(matches!(
        opt.step(&mut w, &array![1e300, 1e300]),
        Err(Error::NonFiniteNorm { .. })
    ));
    assert_eq!(w, array![0.0, 0.0]);
    assert_eq!(opt.micro_step(), 1);
    assert_eq!(opt.save_state(), before);
    // The same call with a finite sum goes through.
    opt.step(&mut w, &array![-1e300, -1e300]).unwrap();
    assert_eq!(opt.micro_step(), 0);

    assert!(
        MultiStepsConfig::default()
            .clip_value(Some(-1.0))
            .validate()
            .is_err()
    );
}
