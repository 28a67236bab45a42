//! Save and resume: for every optimizer, f32 and f64, JSON and a compact binary format
//! (postcard), a run interrupted after k steps, saved, loaded into a freshly built optimizer and
//! continued, is bit-identical to the uninterrupted run. Mismatches are typed errors.
//!
//! Needs the `serde` feature (on for this repository's tests through the self dev-dependency).
#![cfg(feature = "serde")]

use crate::common;

use ndarray::{Array1, Array2, ShapeBuilder};
use ndarray_optim::{
    Adam, Error, Float, NonFinitePolicy, Optimizer, OptimizerState, ParamGroups, Sgd,
};
use serde::{Serialize, de::DeserializeOwned};

type Params<A> = (Array2<A>, Array1<A>);

fn params<A: Float>() -> Params<A> {
    // A Fortran-order matrix: its state is saved in row-major order and must come back in the
    // parameter's own order.
    (
        Array2::from_shape_fn((5, 3).f(), |(i, j)| {
            A::from_f64(((i * 3 + j) as f64 * 0.4).sin())
        }),
        Array1::from_shape_fn(3, |j| A::from_f64(j as f64 * 0.25 - 0.3)),
    )
}

fn grads<A: Float>(step: usize) -> Params<A> {
    let s = step as f64;
    let mut gw = Array2::from_shape_fn((5, 3), |(i, j)| {
        A::from_f64(((i + 2 * j) as f64 + s * 0.9).cos())
    });
    let gb = Array1::from_shape_fn(3, |j| A::from_f64((j as f64 * 1.7 - s).sin()));
    if step == 5 {
        gw[[1, 1]] = A::from_f64(f64::NAN); // skipped: the skip counter is state too
    }
    (gw, gb)
}

fn train<A: Float>(opt: &mut dyn Optimizer<A>, p: &mut Params<A>, steps: std::ops::Range<usize>) {
    for step in steps {
        let (gw, gb) = grads::<A>(step);
        opt.step(&mut (&mut p.0, &mut p.1), &(&gw, &gb)).unwrap();
        opt.set_learning_rate(opt.learning_rate() * 0.97).unwrap();
    }
}

fn bits<A: Float>(p: &Params<A>) -> Vec<u64> {
    p.0.iter()
        .chain(p.1.iter())
        .map(|x| x.widen().to_bits())
        .collect()
}

fn prepared<A: Float>(index: usize) -> Box<dyn Optimizer<A>> {
    let mut opt = common::zoo::<A>().remove(index);
    opt.set_non_finite_policy(NonFinitePolicy::SkipStep);
    let (w, b) = params::<A>();
    opt.set_param_groups(Some(ParamGroups::no_decay_for_vectors(&(&w, &b))))
        .unwrap();
    opt
}

fn round_trip<A: Float>(format: &str, state: &OptimizerState<A>) -> OptimizerState<A> {
    match format {
        "json" => serde_json::from_str(&serde_json::to_string(state).unwrap()).unwrap(),
        "postcard" => postcard::from_bytes(&postcard::to_allocvec(state).unwrap()).unwrap(),
        _ => unreachable!(),
    }
}

fn resumes_bit_for_bit<A: Float>() {
    for index in 0..common::zoo::<A>().len() {
        for format in ["json", "postcard"] {
            let mut reference = prepared::<A>(index);
            let mut expected = params::<A>();
            train(reference.as_mut(), &mut expected, 0..10);

            let mut first = prepared::<A>(index);
            let mut p = params::<A>();
            train(first.as_mut(), &mut p, 0..6);
            let saved = first.save_state().named(&["w", "b"]).unwrap();
            drop(first);

            let restored = round_trip(format, &saved);
            assert_eq!(restored, saved, "{format} round trip of {}", saved.kind());
            // A fresh optimizer of the same kind with other settings: everything comes from the file.
            let mut second = common::zoo::<A>().remove(index);
            second.set_learning_rate(123.0).unwrap();
            restored.verify(&(&p.0, &p.1), Some(&["w", "b"])).unwrap();
            second.load_state(restored).unwrap();
            assert_eq!(second.step_count(), reference.step_count().min(5));
            assert_eq!(second.skipped_steps(), 1);
            train(second.as_mut(), &mut p, 6..10);

            assert_eq!(
                bits(&p),
                bits(&expected),
                "{} resumed from {format}",
                second.name()
            );
            assert_eq!(
                second.learning_rate().to_bits(),
                reference.learning_rate().to_bits()
            );
            assert_eq!(second.step_count(), reference.step_count());
            // The names came with the loaded state and stay.
            let named = reference.save_state().named(&["w", "b"]).unwrap();
            assert_eq!(second.save_state(), named);
        }
    }
}

#[test]
fn every_optimizer_resumes_bit_for_bit_f64() {
    resumes_bit_for_bit::<f64>();
}

#[test]
fn every_optimizer_resumes_bit_for_bit_f32() {
    resumes_bit_for_bit::<f32>();
}

#[cfg(feature = "half")]
#[test]
fn every_optimizer_resumes_bit_for_bit_bf16_and_f16() {
    resumes_bit_for_bit::<half::bf16>();
    resumes_bit_for_bit::<half::f16>();
}

/// A saved 16-bit state is checked for values of its type, and for its type.
#[cfg(feature = "half")]
#[test]
fn sixteen_bit_states_are_checked_on_load() {
    use half::bf16;
    let mut adam = Adam::<bf16>::new(0.1).unwrap();
    let mut p = params::<bf16>();
    train(&mut adam, &mut p, 0..2);
    let saved = adam.save_state();
    let json = serde_json::to_string(&saved).unwrap();
    // Into an optimizer of another element type: a typed error, nothing changed.
    let as_f32: OptimizerState<f32> = serde_json::from_str(&json).unwrap();
    let mut other = Adam::<f32>::new(0.1).unwrap();
    let before = other.save_state();
    assert!(matches!(
        other.load_state(as_f32),
        Err(Error::InvalidState { tensor: None, .. })
    ));
    assert_eq!(other.save_state(), before);
    // An `f32` that no `bf16` holds is refused when read.
    let f32_state = {
        let mut adam = Adam::<f32>::new(0.1).unwrap();
        let mut p = params::<f32>();
        train(&mut adam, &mut p, 0..2);
        serde_json::to_string(&adam.save_state()).unwrap()
    };
    let err = serde_json::from_str::<OptimizerState<bf16>>(&f32_state).unwrap_err();
    assert!(err.to_string().contains("is not a bf16 value"), "{err}");
}

#[test]
fn mismatches_are_typed_errors_and_change_nothing() {
    let mut adam = Adam::<f64>::new(0.1).unwrap();
    let mut p = params::<f64>();
    train(&mut adam, &mut p, 0..2);
    let saved = adam.save_state().named(&["w", "b"]).unwrap();

    // Another kind of optimizer.
    let mut sgd = Sgd::<f64>::new(0.1).unwrap();
    let before = sgd.save_state();
    assert!(matches!(
        sgd.load_state(saved.clone()),
        Err(Error::WrongOptimizer {
            expected: "SGD",
            ..
        })
    ));
    assert_eq!(sgd.save_state(), before);

    // Other tensors: count, shape, names.
    let other = Array1::<f64>::zeros(4);
    assert!(matches!(
        saved.verify(&other, None),
        Err(Error::StateLengthMismatch {
            expected: 2,
            found: 1
        })
    ));
    let (w, _) = params::<f64>();
    let wrong_b = Array1::<f64>::zeros(4);
    assert!(matches!(
        saved.verify(&(&w, &wrong_b), None),
        Err(Error::StateShapeMismatch { index: 1, .. })
    ));
    assert_eq!(
        saved.verify(&(&p.0, &p.1), Some(&["w", "bias"])),
        Err(Error::TensorNameMismatch {
            index: 1,
            saved: "b".into(),
            given: "bias".into()
        })
    );
    // Loaded anyway, the wrong tensors are caught at the next step, before anything changes.
    let mut fresh = Adam::<f64>::new(0.1).unwrap();
    fresh.load_state(saved.clone()).unwrap();
    let mut wrong = (w.clone(), wrong_b.clone());
    let g = (Array2::<f64>::ones((5, 3)), Array1::<f64>::ones(4));
    assert!(matches!(
        fresh.step(&mut (&mut wrong.0, &mut wrong.1), &(&g.0, &g.1)),
        Err(Error::StateShapeMismatch { index: 1, .. })
    ));

    // Damaged contents.
    let mut damaged = saved.clone();
    damaged.tensors[0].buffers.remove("exp_avg");
    assert!(matches!(
        Adam::<f64>::new(0.1).unwrap().load_state(damaged),
        Err(Error::InvalidState {
            tensor: Some(0),
            ..
        })
    ));
    let mut damaged = saved.clone();
    let extra = damaged.tensors[1].buffers["exp_avg"].clone();
    damaged.tensors[1]
        .buffers
        .insert("momentum_buffer".into(), extra);
    assert!(matches!(
        Adam::<f64>::new(0.1).unwrap().load_state(damaged),
        Err(Error::InvalidState {
            tensor: Some(1),
            ..
        })
    ));
    let mut damaged = saved.clone();
    damaged.tensors[1].buffers.insert(
        "exp_avg".into(),
        ndarray::ArrayD::zeros(ndarray::IxDyn(&[7])),
    );
    assert!(matches!(
        Adam::<f64>::new(0.1).unwrap().load_state(damaged),
        Err(Error::InvalidState {
            tensor: Some(1),
            ..
        })
    ));
    let mut damaged = saved.clone();
    damaged.format_version = 99;
    assert!(matches!(
        Adam::<f64>::new(0.1).unwrap().load_state(damaged),
        Err(Error::UnsupportedStateFormat { version: 99, .. })
    ));
    let mut damaged = saved.clone();
    if let ndarray_optim::OptimizerConfig::Adam(config) = &mut damaged.config {
        config.lr = -1.0;
    }
    assert!(matches!(
        Adam::<f64>::new(0.1).unwrap().load_state(damaged),
        Err(Error::InvalidHyperparameter { name: "lr", .. })
    ));
}

#[test]
fn corrupted_bytes_are_an_error_never_a_panic() {
    let mut adam = Adam::<f32>::new(0.1).unwrap();
    let mut p = params::<f32>();
    train(&mut adam, &mut p, 0..2);
    let bytes = postcard::to_allocvec(&adam.save_state()).unwrap();
    let json = serde_json::to_vec(&adam.save_state()).unwrap();
    for cut in (0..bytes.len()).step_by(7) {
        assert!(postcard::from_bytes::<OptimizerState<f32>>(&bytes[..cut]).is_err());
    }
    for (i, data) in [&bytes, &json].into_iter().enumerate() {
        let (mut reached, mut refused) = (0, 0);
        for flip in (0..data.len()).step_by(3) {
            let mut corrupted = data.clone();
            corrupted[flip] ^= 0x5a;
            let parsed = if i == 0 {
                postcard::from_bytes::<OptimizerState<f32>>(&corrupted).ok()
            } else {
                serde_json::from_slice::<OptimizerState<f32>>(&corrupted).ok()
            };
            // What parses must still load cleanly or be refused with an error, never panic.
            if let Some(state) = parsed {
                reached += 1;
                let mut fresh = Adam::<f32>::new(0.1).unwrap();
                if fresh.load_state(state).is_ok() {
                    let _ = fresh.step(
                        &mut (&mut p.0.clone(), &mut p.1.clone()),
                        &(&grads::<f32>(0).0, &grads::<f32>(0).1),
                    );
                } else {
                    refused += 1;
                }
            }
        }
        // The corruption must reach `load_state` (bytes in the buffers and counters parse) and
        // `load_state` must refuse some of it (bad shapes, names, hyperparameters), or this test
        // tests nothing.
        let format = ["postcard", "JSON"][i];
        assert!(
            reached > 10,
            "{format}: only {reached} corrupted inputs parsed"
        );
        assert!(
            refused > 0,
            "{format}: load_state refused none of {reached}"
        );
    }
}

#[test]
fn absurd_shapes_in_a_saved_state_are_refused() {
    let mut sgd = Sgd::<f32>::new(0.1).unwrap();
    let mut w = Array1::<f32>::zeros(3);
    sgd.step(&mut w, &Array1::ones(3)).unwrap();
    let mut state = sgd.save_state();
    state.tensors[0].shape = vec![usize::MAX / 2, 4];
    assert!(matches!(
        Sgd::<f32>::new(0.1).unwrap().load_state(state),
        Err(Error::InvalidState { .. })
    ));
}

/// Every kind of schedule, attached to an optimizer, saved mid-run through JSON and postcard
/// together with the optimizer, restored into fresh ones: learning rates, momenta and parameters
/// continue bit for bit.
fn schedulers_resume<A: Float + Serialize + DeserializeOwned>() {
    use ndarray_optim::schedule::{
        ChainedScheduler, ConstantLr, CosineAnnealingLr, CosineAnnealingWarmRestarts, CyclicLr,
        ExponentialLr, LambdaLr, LinearLr, MultiStepLr, MultiplicativeLr, OneCycleLr, PolynomialLr,
        ReduceLrOnPlateauConfig, Schedule, SchedulerState, SequentialLr, StepLr, Warmup,
    };
    use ndarray_optim::{AdamConfig, SgdConfig};

    let schedules: Vec<Box<dyn Fn() -> Box<dyn Schedule>>> = vec![
        Box::new(|| Box::new(StepLr::new(3).gamma(0.5))),
        Box::new(|| Box::new(MultiStepLr::new(vec![2, 5, 7]).gamma(0.3))),
        Box::new(|| Box::new(ConstantLr::default().factor(0.25).total_iters(4))),
        Box::new(|| Box::new(LinearLr::default().start_factor(0.1).total_iters(6))),
        Box::new(|| Box::new(ExponentialLr::new(0.9))),
        Box::new(|| Box::new(PolynomialLr::default().total_iters(8).power(2.0))),
        Box::new(|| Box::new(CosineAnnealingLr::new(5).eta_min(1e-3))),
        Box::new(|| Box::new(CosineAnnealingWarmRestarts::new(3).t_mult(2).eta_min(1e-4))),
        Box::new(|| Box::new(CyclicLr::new(1e-3, 0.1).step_size_up(3))),
        Box::new(|| Box::new(OneCycleLr::new(0.2, 20))),
        Box::new(|| Box::new(LambdaLr::new(|k| 1.0 / (1.0 + k as f64)))),
        Box::new(|| Box::new(MultiplicativeLr::new(|_| 0.95))),
        Box::new(|| Box::new(Warmup::cosine(4, 15))),
        Box::new(|| {
            Box::new(SequentialLr::new(
                vec![
                    Box::new(LinearLr::default().start_factor(0.1).total_iters(4)),
                    Box::new(CosineAnnealingLr::new(10)),
                ],
                vec![4],
            ))
        }),
        Box::new(|| {
            Box::new(ChainedScheduler::new(vec![
                Box::new(ConstantLr::default().factor(0.5).total_iters(3)),
                Box::new(ExponentialLr::new(0.9)),
            ]))
        }),
    ];
    type MakeOptimizer<A> = fn() -> Box<dyn Optimizer<A>>;
    let optimizers: [MakeOptimizer<A>; 2] = [
        || {
            Box::new(
                SgdConfig::default()
                    .lr(0.1)
                    .momentum(0.9)
                    .build::<A>()
                    .unwrap(),
            )
        },
        || Box::new(AdamConfig::default().lr(0.05).build::<A>().unwrap()),
    ];
    type Saved<A> = (OptimizerState<A>, SchedulerState);
    for make_schedule in &schedules {
        for make_optimizer in optimizers {
            for format in ["json", "postcard"] {
                let run = |from: usize,
                           to: usize,
                           opt: &mut dyn Optimizer<A>,
                           sched: &mut ndarray_optim::schedule::Scheduler,
                           p: &mut Params<A>,
                           lrs: &mut Vec<u64>| {
                    for step in from..to {
                        let (gw, gb) = grads::<A>(step + 7); // step 5 of grads() is NaN: avoid it
                        opt.step(&mut (&mut p.0, &mut p.1), &(&gw, &gb)).unwrap();
                        sched.step(opt).unwrap();
                        lrs.push(opt.learning_rate().to_bits());
                        lrs.push(opt.momentum().unwrap_or(0.0).to_bits());
                    }
                };
                // Uninterrupted.
                let mut opt = make_optimizer();
                let mut sched = make_schedule().attach(opt.as_mut()).unwrap();
                let (mut p, mut lrs) = (params::<A>(), Vec::new());
                run(0, 12, opt.as_mut(), &mut sched, &mut p, &mut lrs);

                // Interrupted after 5, through the serialised form.
                let mut opt2 = make_optimizer();
                let mut sched2 = make_schedule().attach(opt2.as_mut()).unwrap();
                let (mut p2, mut lrs2) = (params::<A>(), Vec::new());
                run(0, 5, opt2.as_mut(), &mut sched2, &mut p2, &mut lrs2);
                let saved: Saved<A> = (opt2.save_state(), sched2.state());
                let saved: Saved<A> = match format {
                    "json" => {
                        serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap()
                    }
                    _ => postcard::from_bytes(&postcard::to_allocvec(&saved).unwrap()).unwrap(),
                };
                let mut opt3 = make_optimizer();
                let mut sched3 = make_schedule().attach(opt3.as_mut()).unwrap();
                opt3.load_state(saved.0).unwrap();
                sched3.restore(saved.1, opt3.as_mut()).unwrap();
                run(5, 12, opt3.as_mut(), &mut sched3, &mut p2, &mut lrs2);

                let name = sched.schedule().name();
                assert_eq!(
                    lrs2,
                    lrs,
                    "{name} on {} via {format}: learning rates",
                    opt.name()
                );
                assert_eq!(
                    bits(&p2),
                    bits(&p),
                    "{name} on {} via {format}: parameters",
                    opt.name()
                );
            }
        }
    }

    // ReduceLROnPlateau, with its metric.
    for format in ["json", "postcard"] {
        let metrics = [5.0, 4.0, 4.0, 4.0, 4.0, 3.9, 3.9, 3.9, 3.9, 3.9, 3.0, 3.0];
        let build = || {
            ReduceLrOnPlateauConfig::default()
                .patience(1)
                .cooldown(1)
                .build()
                .unwrap()
        };
        let mut opt = make_adam::<A>();
        let mut plateau = build();
        let mut lrs = Vec::new();
        for m in metrics {
            lrs.push(plateau.step(opt.as_mut(), m).unwrap().to_bits());
        }
        let mut opt2 = make_adam::<A>();
        let mut plateau2 = build();
        let mut lrs2 = Vec::new();
        for m in &metrics[..4] {
            lrs2.push(plateau2.step(opt2.as_mut(), *m).unwrap().to_bits());
        }
        let state = plateau2.state();
        let state = match format {
            "json" => serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap(),
            _ => postcard::from_bytes(&postcard::to_allocvec(&state).unwrap()).unwrap(),
        };
        let mut opt3 = make_adam::<A>();
        let mut plateau3 = build();
        plateau3.restore(state, opt3.as_mut()).unwrap();
        for m in &metrics[4..] {
            lrs2.push(plateau3.step(opt3.as_mut(), *m).unwrap().to_bits());
        }
        assert_eq!(lrs2, lrs, "ReduceLROnPlateau via {format}");
        // Before the first metric too (its best is "none yet", which JSON can hold).
        let fresh = build().state();
        let back: ndarray_optim::schedule::PlateauState =
            serde_json::from_str(&serde_json::to_string(&fresh).unwrap()).unwrap();
        assert_eq!(back, fresh);
    }
}

fn make_adam<A: Float>() -> Box<dyn Optimizer<A>> {
    Box::new(Adam::<A>::new(0.1).unwrap())
}

/// Configurations made with `config!` (schedules, `MultiStepsConfig`, `ReduceLrOnPlateauConfig`)
/// go through serde unchanged; a missing field takes its default, a missing required field or
/// an unknown one is an error, and nothing is checked before the configuration is used.
#[test]
fn configurations_round_trip_and_fill_defaults() {
    use ndarray_optim::MultiStepsConfig;
    use ndarray_optim::schedule::{
        AnnealStrategy, ConstantLr, CosineAnnealingWarmRestarts, MultiStepLr, OneCycleLr,
        PlateauMode, ReduceLrOnPlateauConfig, Schedule, StepLr, Warmup, WarmupDecay,
    };
    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: T) {
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), value, "{json}");
    }
    round_trip(StepLr::new(3).gamma(0.5));
    round_trip(MultiStepLr::new(vec![2, 5]));
    round_trip(ConstantLr::default().factor(0.25));
    round_trip(CosineAnnealingWarmRestarts::new(4).t_mult(2));
    round_trip(
        OneCycleLr::from_epochs(0.1, 3, 7)
            .anneal_strategy(AnnealStrategy::Linear)
            .three_phase(true),
    );
    round_trip(Warmup::linear(5, 50).end_factor(0.1));
    round_trip(
        MultiStepsConfig::default()
            .every_k(4)
            .max_grad_norm(Some(1.0)),
    );
    round_trip(
        ReduceLrOnPlateauConfig::default()
            .mode(PlateauMode::Max)
            .patience(2),
    );

    let step: StepLr = serde_json::from_str(r#"{"step_size": 30}"#).unwrap();
    assert_eq!(step, StepLr::new(30)); // gamma: PyTorch's 0.1
    let warmup: Warmup =
        serde_json::from_str(r#"{"warmup_steps": 2, "total_steps": 9, "decay": "Linear"}"#)
            .unwrap();
    assert_eq!(warmup, Warmup::new(2, 9, WarmupDecay::Linear));
    let one_cycle: OneCycleLr =
        serde_json::from_str(r#"{"max_lr": 0.1, "total_steps": 100, "pct_start": 0.25}"#).unwrap();
    assert_eq!(one_cycle, OneCycleLr::new(0.1, 100).pct_start(0.25));
    let accumulate: MultiStepsConfig = serde_json::from_str(r#"{"every_k": 8}"#).unwrap();
    assert_eq!(accumulate, MultiStepsConfig::default().every_k(8));

    assert!(serde_json::from_str::<StepLr>(r#"{"gamma": 0.5}"#).is_err()); // step_size required
    assert!(serde_json::from_str::<StepLr>(r#"{"step_size": 3, "lr": 0.1}"#).is_err());
    assert!(serde_json::from_str::<MultiStepsConfig>(r#"{"k": 8}"#).is_err());
    // Read as given, refused when used.
    let invalid: StepLr = serde_json::from_str(r#"{"step_size": 0}"#).unwrap();
    assert!(invalid.validate().is_err());
}

#[test]
fn every_scheduler_resumes_bit_for_bit_f64() {
    schedulers_resume::<f64>();
}

#[test]
fn every_scheduler_resumes_bit_for_bit_f32() {
    schedulers_resume::<f32>();
}

#[test]
fn nadam_resumes_exactly_even_when_beta1_changed() {
    // NAdam keeps PyTorch's running product of momenta per tensor; a momentum schedule makes it
    // depend on the history of β₁, which the saved form carries.
    use ndarray_optim::NAdam;
    let run = |opt: &mut NAdam<f32>, p: &mut Params<f32>, steps: std::ops::Range<usize>| {
        for step in steps {
            opt.set_momentum(0.8 + 0.01 * (step % 7) as f64).unwrap();
            let (gw, gb) = grads::<f32>(step + 7);
            opt.step(&mut (&mut p.0, &mut p.1), &(&gw, &gb)).unwrap();
        }
    };
    let mut opt = NAdam::<f32>::new(0.01).unwrap();
    let mut p = params::<f32>();
    run(&mut opt, &mut p, 0..10);
    let mut opt2 = NAdam::<f32>::new(0.01).unwrap();
    let mut p2 = params::<f32>();
    run(&mut opt2, &mut p2, 0..4);
    let saved: OptimizerState<f32> =
        serde_json::from_str(&serde_json::to_string(&opt2.save_state()).unwrap()).unwrap();
    assert!(saved.tensors[0].scalars.contains_key("mu_product"));
    let mut opt3 = NAdam::<f32>::new(0.01).unwrap();
    opt3.load_state(saved).unwrap();
    run(&mut opt3, &mut p2, 4..10);
    assert_eq!(bits(&p2), bits(&p));
}
