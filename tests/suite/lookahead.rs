//! Lookahead: the wrapper's rule on small cases, its counters, every check before anything
//! changes, and save/resume between and across synchronisations.

use ndarray::{Array1, Array2, array};
use ndarray_optim::{
    Adam, Error, Lookahead, LookaheadConfig, Momentum, NonFinitePolicy, Optimizer, ParamGroup, Sgd,
    StepOutcome,
};

type Params = (Array2<f64>, Array1<f64>);

fn params() -> Params {
    (
        Array2::from_shape_fn((3, 2), |(i, j)| (i as f64 - 1.0) * 0.3 + j as f64 * 0.1),
        array![0.5, -0.25],
    )
}

fn grads(step: usize) -> Params {
    let s = step as f64;
    (
        Array2::from_shape_fn((3, 2), |(i, j)| {
            ((s + 1.0) * 0.7 + i as f64 - j as f64).sin()
        }),
        array![(s * 0.3).cos(), -(s * 0.9).sin()],
    )
}

fn run<O: Optimizer<f64>>(opt: &mut O, p: &mut Params, steps: std::ops::Range<usize>) {
    for step in steps {
        let g = grads(step);
        opt.step(&mut (&mut p.0, &mut p.1), &(&g.0, &g.1)).unwrap();
    }
}

/// The rule by hand: SGD steps, and every k-th step φ ← φ + α(θ − φ), θ ← φ, φ from the start.
#[test]
fn synchronises_every_k_steps_from_the_initial_weights() {
    let (k, alpha, lr) = (3, 0.4, 0.1);
    let mut opt = Lookahead::new(Sgd::new(lr).unwrap(), k, alpha).unwrap();
    let mut p = params();
    let (mut fast, mut slow) = (params(), params());
    for step in 0..10 {
        run(&mut opt, &mut p, step..step + 1);
        let g = grads(step);
        fast.0.zip_mut_with(&g.0, |f, &g| *f = g.mul_add(-lr, *f));
        fast.1.zip_mut_with(&g.1, |f, &g| *f = g.mul_add(-lr, *f));
        if (step + 1) % k == 0 {
            slow.0
                .zip_mut_with(&fast.0, |s, &f| *s = (f - *s).mul_add(alpha, *s));
            slow.1
                .zip_mut_with(&fast.1, |s, &f| *s = (f - *s).mul_add(alpha, *s));
            fast = slow.clone();
        }
        assert_eq!((&p.0, &p.1), (&fast.0, &fast.1), "step {}", step + 1);
    }
    assert_eq!(opt.lookahead_step(), 10);
    assert_eq!(opt.slow_weights()[1], slow.1.clone().into_dyn());
}

/// `k = 1, α = 1` is the inner optimizer itself; `α = 0` brings the weights back to the start
/// every `k` steps.
#[test]
fn the_extremes_of_alpha() {
    let mut wrapped = Lookahead::new(Adam::new(0.05).unwrap(), 1, 1.0).unwrap();
    let mut plain = Adam::new(0.05).unwrap();
    let (mut a, mut b) = (params(), params());
    run(&mut wrapped, &mut a, 0..12);
    run(&mut plain, &mut b, 0..12);
    assert_eq!(a, b);
    let mut reset = Lookahead::new(Momentum::new(0.1, 0.9).unwrap(), 4, 0.0).unwrap();
    let mut p = params();
    run(&mut reset, &mut p, 0..8);
    assert_eq!(p, params());
    run(&mut reset, &mut p, 8..9);
    assert_ne!(p, params());
}

/// A step the inner optimizer skips (non-finite gradient under `SkipStep`) does not count.
#[test]
fn skipped_steps_do_not_count() {
    let mut opt = Lookahead::new(Sgd::new(0.1).unwrap(), 2, 0.5).unwrap();
    opt.set_non_finite_policy(NonFinitePolicy::SkipStep);
    let mut p = params();
    run(&mut opt, &mut p, 0..1);
    let mut g = grads(1);
    g.1[0] = f64::NAN;
    opt.step(&mut (&mut p.0, &mut p.1), &(&g.0, &g.1)).unwrap();
    assert!(matches!(opt.last_step(), StepOutcome::Skipped { .. }));
    assert_eq!(
        (opt.lookahead_step(), opt.step_count(), opt.skipped_steps()),
        (1, 1, 1)
    );
}

/// Every error leaves the parameters, the slow weights, the inner state and the counters as
/// they were.
#[test]
fn errors_change_nothing() {
    let mut opt = Lookahead::new(Adam::new(0.05).unwrap(), 3, 0.5).unwrap();
    let mut p = params();
    // An error on the very first step takes no slow weights.
    let bad = grads(0);
    let err = opt
        .step(&mut (&mut p.0, &mut p.1), &(&bad.0, &array![1.0, 2.0, 3.0]))
        .unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{err:?}");
    assert!(opt.slow_weights().is_empty());
    assert_eq!(opt.step_count(), 0);
    run(&mut opt, &mut p, 0..2);
    let (before, saved) = (p.clone(), opt.save_state());
    let g = grads(2);
    let errors = [
        opt.step(&mut (&mut p.0, &mut p.1), &(&g.0, &array![1.0, 2.0, 3.0])),
        opt.step(&mut p.0, &g.0),
        opt.step(
            &mut (&mut p.0, &mut p.1),
            &(&g.0, &array![f64::INFINITY, 0.0]),
        ),
    ];
    for err in errors {
        assert!(err.is_err());
        assert_eq!(p, before);
        assert_eq!(opt.save_state(), saved);
    }
    // A state with misshapen slow weights is refused, and nothing changes.
    let mut bad = saved.clone();
    bad.tensors[1].buffers.insert(
        "lookahead_slow_buff".into(),
        ndarray::ArrayD::zeros(ndarray::IxDyn(&[3])),
    );
    assert!(matches!(
        opt.load_state(bad),
        Err(Error::InvalidState { .. })
    ));
    assert_eq!(opt.save_state(), saved);
    assert!(
        LookaheadConfig::default()
            .k(0)
            .build(Sgd::<f64>::new(0.1).unwrap())
            .is_err()
    );
    assert!(Lookahead::new(Sgd::<f64>::new(0.1).unwrap(), 2, -0.1).is_err());
    assert!(Lookahead::new(Sgd::<f64>::new(0.1).unwrap(), 2, f64::NAN).is_err());
}

/// Saved between synchronisations (the slow weights and the count) and through JSON, the
/// state resumes bit for bit; a plain state of the inner optimizer starts new slow weights.
#[test]
fn resumes_bit_for_bit() {
    for split in [1, 4, 5, 7] {
        let mut original = Lookahead::new(Adam::new(0.05).unwrap(), 5, 0.5).unwrap();
        let mut p = params();
        run(&mut original, &mut p, 0..split);
        let json = serde_json::to_string(&original.save_state()).unwrap();
        let mut resumed = Lookahead::new(Adam::new(0.05).unwrap(), 5, 0.5).unwrap();
        resumed
            .load_state(serde_json::from_str(&json).unwrap())
            .unwrap();
        let mut q = p.clone();
        run(&mut original, &mut p, split..16);
        run(&mut resumed, &mut q, split..16);
        for (a, b) in p.0.iter().chain(&p.1).zip(q.0.iter().chain(&q.1)) {
            assert_eq!(a.to_bits(), b.to_bits(), "split {split}");
        }
        assert_eq!(resumed.lookahead_step(), 16);
    }
    let mut inner = Adam::new(0.05).unwrap();
    let mut p = params();
    run(&mut inner, &mut p, 0..3);
    let mut opt = Lookahead::new(Adam::new(0.05).unwrap(), 2, 0.5).unwrap();
    opt.load_state(inner.save_state()).unwrap();
    assert!(opt.slow_weights().is_empty());
    let start = p.clone();
    run(&mut opt, &mut p, 3..4);
    assert_eq!(opt.slow_weights()[0], start.0.into_dyn());
}

/// A group added later gets slow weights from its parameters on its first step.
#[test]
fn an_added_group_starts_its_slow_weights_then() {
    let mut opt = Lookahead::new(Sgd::new(0.1).unwrap(), 2, 0.5).unwrap();
    let mut w = params().0;
    opt.step(&mut w, &grads(0).0).unwrap();
    opt.add_param_group(ParamGroup::default().lr(0.01), 1)
        .unwrap();
    let mut b = params().1;
    let g = grads(1);
    opt.step(&mut (&mut w, &mut b), &(&g.0, &g.1)).unwrap();
    assert_eq!(opt.slow_weights().len(), 2);
    // Synchronised at step 2: b moved halfway back towards where it started.
    let moved = params().1 - 0.01 * &g.1;
    let expected = (&moved - &params().1) * 0.5 + params().1;
    for (got, want) in b.iter().zip(&expected) {
        assert!((got - want).abs() < 1e-15);
    }
}
