//! `swa_utils`: `AveragedModel`'s errors change nothing, layouts give the same bits, the saved
//! state round-trips exactly through serde, and `SwaLr` is checked like every schedule. The
//! numbers against PyTorch are in `tests/reference/swa.rs` and `schedules.rs`.

use ndarray::{Array1, Array2, ShapeBuilder, array, s};
use ndarray_optim::Error;
use ndarray_optim::schedule::{AnnealStrategy, Schedule, SwaLr};
use ndarray_optim::swa_utils::{AveragedModel, AveragedModelConfig, Averaging};
use ndarray_optim::{Optimizer, Sgd};

fn params(k: usize) -> (Array2<f64>, Array1<f64>) {
    let x = k as f64;
    (
        Array2::from_shape_fn((3, 2), |(i, j)| ((i * 2 + j) as f64 + x * 0.7).sin()),
        Array1::from_shape_fn(2, |j| (j as f64 - x * 1.3).cos()),
    )
}

#[test]
fn errors_change_nothing() {
    let mut avg = AveragedModel::<f64>::swa();
    let mut out = (Array2::<f64>::zeros((3, 2)), Array1::<f64>::zeros(2));
    assert!(matches!(
        avg.averaged_into(&mut (&mut out.0, &mut out.1)),
        Err(Error::NotStarted { .. })
    ));
    let (w, b) = params(0);
    avg.update_parameters(&(&w, &b)).unwrap();
    let state = avg.state();
    let err = avg.update_parameters(&w).unwrap_err();
    assert!(matches!(
        err,
        Error::StateLengthMismatch {
            expected: 2,
            found: 1
        }
    ));
    let wrong = Array1::<f64>::zeros(3);
    let err = avg.update_parameters(&(&w, &wrong)).unwrap_err();
    assert!(matches!(err, Error::StateShapeMismatch { index: 1, .. }));
    assert_eq!(avg.state(), state);
    let mut small = Array1::<f64>::zeros(1);
    assert!(matches!(
        avg.averaged_into(&mut (&mut out.0, &mut small)),
        Err(Error::StateShapeMismatch { index: 1, .. })
    ));
    assert_eq!(out.0, Array2::<f64>::zeros((3, 2))); // nothing written
    avg.averaged_into(&mut (&mut out.0, &mut out.1)).unwrap();
    assert_eq!((out.0, out.1), (w, b));
    for decay in [-0.1, 1.1, f64::NAN] {
        assert!(matches!(
            AveragedModel::<f32>::ema(decay),
            Err(Error::InvalidHyperparameter { name: "decay", .. })
        ));
    }
    // reset: the next update copies again.
    avg.reset();
    let (w2, b2) = params(5);
    avg.update_parameters(&(&w2, &b2)).unwrap();
    assert_eq!((avg.n_averaged(), &avg.averages()[0]), (1, &w2.into_dyn()));
}

#[test]
fn every_layout_gives_the_same_bits() {
    let run = |fortran: bool, strided: bool| {
        let mut avg = AveragedModel::<f64>::ema(0.7).unwrap();
        let mut swa = AveragedModel::<f64>::swa();
        for k in 0..6 {
            let (w, b) = params(k);
            let mut wide = Array1::<f64>::zeros(4);
            wide.slice_mut(s![..;2]).assign(&b);
            let mut f = Array2::<f64>::zeros((3, 2).f());
            f.assign(&w);
            let w = if fortran { f } else { w };
            let b = wide.slice(s![..;2]);
            if strided {
                avg.update_parameters(&(&w, &b)).unwrap();
                swa.update_parameters(&(&w, &b)).unwrap();
            } else {
                let b = b.to_owned();
                avg.update_parameters(&(&w, &b)).unwrap();
                swa.update_parameters(&(&w, &b)).unwrap();
            }
        }
        (avg.state(), swa.state())
    };
    let reference = run(false, false);
    assert_eq!(run(true, false), reference);
    assert_eq!(run(true, true), reference);
    assert!(reference.0.averages[0].is_standard_layout());
}

#[test]
fn ema_of_decay_0_and_1_and_the_large_weight_branch() {
    let mut last = AveragedModel::<f32>::ema(0.0).unwrap();
    let mut first = AveragedModel::<f32>::ema(1.0).unwrap();
    let mut heavy = AveragedModel::<f32>::ema(0.25).unwrap();
    for p in [1.0_f32, 5.0, -2.0] {
        last.update_parameters(&array![p]).unwrap();
        first.update_parameters(&array![p]).unwrap();
        heavy.update_parameters(&array![p]).unwrap();
    }
    assert_eq!(last.averages()[0][[0]], -2.0);
    assert_eq!(first.averages()[0][[0]], 1.0);
    // lerp with weight 0.75: end − (end − start)·(1 − w), in f32.
    let step = |start: f32, end: f32| (-(end - start)).mul_add(1.0 - 0.75_f32, end);
    assert_eq!(heavy.averages()[0][[0]], step(step(1.0, 5.0), -2.0));
}

#[cfg(feature = "serde")]
#[test]
fn the_state_round_trips_exactly() {
    let mut avg = AveragedModelConfig::default()
        .averaging(Averaging::Ema { decay: 0.1 + 0.2 })
        .build::<f64>()
        .unwrap();
    avg.update_parameters(&array![0.1 + 0.2, 1e-300, -0.0])
        .unwrap();
    avg.update_parameters(&array![1.0 / 3.0, 2e-308, 7.0])
        .unwrap();
    let text = serde_json::to_string(&avg.state()).unwrap();
    let back: ndarray_optim::swa_utils::AveragedModelState<f64> =
        serde_json::from_str(&text).unwrap();
    assert_eq!(back, avg.state());
    let mut resumed = AveragedModel::<f64>::swa();
    resumed.load_state(back.clone()).unwrap();
    assert_eq!(resumed.config(), avg.config());
    // What a saved state may not be.
    let mut wrong = back.clone();
    wrong.n_averaged = 0;
    assert!(matches!(
        resumed.load_state(wrong),
        Err(Error::InvalidState { .. })
    ));
    let mut wrong = back.clone();
    wrong.config.averaging = Averaging::Ema { decay: 2.0 };
    assert!(matches!(
        resumed.load_state(wrong),
        Err(Error::InvalidHyperparameter { .. })
    ));
    let mut wrong = back;
    wrong.element_type = "f32".into();
    assert!(matches!(
        resumed.load_state(wrong),
        Err(Error::InvalidState { .. })
    ));
    assert_eq!(resumed.state(), avg.state()); // nothing changed
}

#[test]
fn swalr_is_checked_and_anneals_from_what_it_finds() {
    let mut opt = Sgd::<f64>::new(0.1).unwrap();
    assert!(SwaLr::new(f64::NAN).attach(&mut opt).is_err());
    assert_eq!(opt.learning_rate(), 0.1);
    // No annealing: swa_lr at once, when attached.
    let sched = SwaLr::new(0.02).anneal_epochs(0).attach(&mut opt).unwrap();
    assert_eq!((opt.learning_rate(), sched.last_lr()), (0.02, 0.02));
    // Attached at 0.02, first stepped after the learning rate was changed to 0.4: PyTorch's
    // recursion anneals from 0.4; the pure form from the base recorded when attaching.
    let mut opt = Sgd::<f64>::new(0.02).unwrap();
    let schedule = SwaLr::new(0.0)
        .anneal_epochs(2)
        .anneal_strategy(AnnealStrategy::Linear);
    let mut sched = schedule.attach(&mut opt).unwrap();
    opt.set_learning_rate(0.4).unwrap();
    assert_eq!(sched.step(&mut opt).unwrap(), 0.2);
    assert_eq!(sched.step(&mut opt).unwrap(), 0.0);
    assert_eq!(sched.lr(1).unwrap(), 0.01);
    assert_eq!(schedule.name(), "SWALR");
}
