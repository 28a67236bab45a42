//! Save and resume: for every optimizer, f32 and f64, JSON and a compact binary format
//! (postcard), a run interrupted after k steps, saved, loaded into a freshly built optimizer and
//! continued, is bit-identical to the uninterrupted run. Mismatches are typed errors.

mod common;

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

fn round_trip<A: Float + Serialize + DeserializeOwned>(
    format: &str,
    state: &OptimizerState<A>,
) -> OptimizerState<A> {
    match format {
        "json" => serde_json::from_str(&serde_json::to_string(state).unwrap()).unwrap(),
        "postcard" => postcard::from_bytes(&postcard::to_allocvec(state).unwrap()).unwrap(),
        _ => unreachable!(),
    }
}

fn resumes_bit_for_bit<A: Float + Serialize + DeserializeOwned>() {
    for index in 0..common::zoo::<A>().len() {
        for format in ["json", "postcard"] {
            let mut reference = prepared::<A>(index);
            let mut expected = params::<A>();
            train(reference.as_mut(), &mut expected, 0..10);

            let mut first = prepared::<A>(index);
            let mut p = params::<A>();
            train(first.as_mut(), &mut p, 0..6);
            let saved = first.save_state().with_tensor_names(&["w", "b"]).unwrap();
            drop(first);

            let restored = round_trip(format, &saved);
            assert_eq!(
                restored, saved,
                "{format} round trip of {}",
                saved.optimizer
            );
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
            assert_eq!(second.save_state(), reference.save_state());
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

#[test]
fn mismatches_are_typed_errors_and_change_nothing() {
    let mut adam = Adam::<f64>::new(0.1).unwrap();
    let mut p = params::<f64>();
    train(&mut adam, &mut p, 0..2);
    let saved = adam.save_state().with_tensor_names(&["w", "b"]).unwrap();

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
                let mut fresh = Adam::<f32>::new(0.1).unwrap();
                if fresh.load_state(state).is_ok() {
                    let _ = fresh.step(
                        &mut (&mut p.0.clone(), &mut p.1.clone()),
                        &(&grads::<f32>(0).0, &grads::<f32>(0).1),
                    );
                }
            }
        }
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
