//! The non-finite policies: `Error` (default) rejects, `SkipStep` skips without a trace in the
//! parameters, the moments or the step counter, `Unchecked` lets values through as PyTorch does.

use crate::common;

use ndarray::{Array1, Array2};
use ndarray_optim::{Error, NonFinitePolicy, Optimizer, StepOutcome};

fn grads(step: usize) -> (Array2<f64>, Array1<f64>) {
    let s = step as f64;
    (
        Array2::from_shape_fn((4, 3), |(i, j)| ((i * 3 + j) as f64 + s * 1.3).sin()),
        Array1::from_shape_fn(3, |j| (j as f64 - s * 0.7).cos()),
    )
}

#[test]
fn skipped_batches_leave_no_trace() {
    for (mut opt, mut reference) in common::zoo::<f64>().into_iter().zip(common::zoo::<f64>()) {
        opt.set_non_finite_policy(NonFinitePolicy::SkipStep);
        assert_eq!(opt.non_finite_policy(), NonFinitePolicy::SkipStep);
        let mut w = Array2::from_elem((4, 3), 0.5);
        let mut b = Array1::from_elem(3, -0.5);
        let (mut rw, mut rb) = (w.clone(), b.clone());
        let mut applied = 0;
        for step in 0..12 {
            let (mut gw, mut gb) = grads(step);
            let poison = step % 3 == 1;
            if poison {
                // A different tensor and element each time, NaN or infinite.
                if step % 2 == 0 {
                    gw[[step % 4, step % 3]] = f64::NAN;
                } else {
                    gb[step % 3] = f64::NEG_INFINITY;
                }
            }
            opt.step(&mut (&mut w, &mut b), &(&gw, &gb)).unwrap();
            if poison {
                match opt.last_step() {
                    StepOutcome::Skipped { index, value, .. } => {
                        assert_eq!(*index, if step % 2 == 0 { 0 } else { 1 });
                        assert!(!value.is_finite());
                    }
                    other => panic!("{}: expected a skip, got {other:?}", opt.name()),
                }
            } else {
                assert_eq!(opt.last_step(), &StepOutcome::Applied);
                reference
                    .step(&mut (&mut rw, &mut rb), &(&gw, &gb))
                    .unwrap();
                applied += 1;
            }
            assert_eq!(opt.step_count(), applied);
            assert!(w.iter().chain(b.iter()).all(|x| x.is_finite()));
        }
        assert_eq!(opt.skipped_steps(), 4);
        // Bit for bit the run that never saw the bad batches: the moments are not poisoned and
        // the bias corrections did not advance.
        assert_eq!(w, rw, "{}", opt.name());
        assert_eq!(b, rb, "{}", opt.name());
        opt.reset_state();
        assert_eq!(
            (opt.skipped_steps(), opt.last_step()),
            (0, &StepOutcome::NotStarted)
        );
    }
}

#[test]
fn the_default_policy_is_an_error_and_errors_do_not_change_the_outcome() {
    for mut opt in common::zoo::<f32>() {
        assert_eq!(opt.non_finite_policy(), NonFinitePolicy::Error);
        let mut w = Array1::from_elem(3, 1.0f32);
        opt.step(&mut w, &Array1::from_elem(3, 0.5)).unwrap();
        let bad = Array1::from_vec(vec![0.5, f32::NAN, 0.5]);
        assert!(matches!(
            opt.step(&mut w, &bad),
            Err(Error::NonFiniteGradient { index: 0, .. })
        ));
        assert_eq!(opt.last_step(), &StepOutcome::Applied);
        assert_eq!(opt.skipped_steps(), 0);
    }
}

/// 16-bit gradients are checked as `f32` ones are: a NaN or an infinity (in `f16`, also what
/// overflowed past 65504) is an error under the default policy, and changes nothing.
#[cfg(feature = "half")]
#[test]
fn sixteen_bit_non_finite_gradients_are_errors_as_in_f32() {
    fn check<A: ndarray_optim::Float>() {
        for mut opt in common::zoo::<A>() {
            let mut w = Array1::from_elem(3, A::from_f64(1.0));
            opt.step(&mut w, &Array1::from_elem(3, A::from_f64(0.5)))
                .unwrap();
            let saved = opt.save_state();
            let before = w.clone();
            for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e6] {
                let g = Array1::from_vec(vec![A::from_f64(0.5), A::from_f64(bad), A::zero()]);
                if g[1].is_finite() {
                    continue; // 1e6 is a finite bf16
                }
                assert!(
                    matches!(
                        opt.step(&mut w, &g),
                        Err(Error::NonFiniteGradient { index: 0, .. })
                    ),
                    "{} {} {bad}",
                    opt.name(),
                    A::NAME
                );
            }
            assert_eq!(w, before);
            assert_eq!(opt.save_state(), saved);
            assert_eq!(opt.skipped_steps(), 0);
        }
    }
    check::<half::bf16>();
    check::<half::f16>();
}
