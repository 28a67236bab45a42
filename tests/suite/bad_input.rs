//! Bad input gets a typed error and changes nothing: every parameter and every state buffer is
//! bit-for-bit what it was (the state is checked by continuing the run and comparing it with a
//! run that never saw the bad call).

use crate::common;

use ndarray::{Array1, Array2, ArrayD, IxDyn, array};
use ndarray_optim::{
    AdadeltaConfig, AdagradConfig, Adam, AdamConfig, AdamWConfig, Error, Lamb, LambConfig,
    Momentum, Nesterov, NonFinitePolicy, Optimizer, RmsPropConfig, Sgd, SgdConfig,
};

fn params() -> (Array2<f64>, Array1<f64>) {
    (
        Array2::from_shape_fn((3, 2), |(i, j)| (i as f64 - 1.0) * 0.7 + j as f64 * 0.3),
        array![0.5, -0.25],
    )
}

fn grads(step: usize) -> (Array2<f64>, Array1<f64>) {
    let s = step as f64 + 1.0;
    (
        Array2::from_shape_fn((3, 2), |(i, j)| ((i * 2 + j) as f64 * 0.9 + s).sin()),
        array![(s * 0.3).cos(), -(s * 0.7).sin()],
    )
}

fn bits(w: &Array2<f64>, b: &Array1<f64>) -> Vec<u64> {
    w.iter().chain(b.iter()).map(|x| x.to_bits()).collect()
}

/// For every optimizer: take two steps, make `bad` fail, then continue; the result must equal a
/// run without the bad call, bit for bit, and the bad call must leave the parameters untouched.
fn assert_rejected_without_effect(
    bad: impl Fn(&mut dyn Optimizer<f64>, &mut Array2<f64>, &mut Array1<f64>) -> Result<(), Error>,
    expected: impl Fn(&Error) -> bool,
) {
    for (mut opt, mut reference) in common::zoo::<f64>().into_iter().zip(common::zoo::<f64>()) {
        let (mut w, mut b) = params();
        let (mut rw, mut rb) = params();
        for step in 0..2 {
            let (gw, gb) = grads(step);
            opt.step(&mut (&mut w, &mut b), &(&gw, &gb)).unwrap();
            reference
                .step(&mut (&mut rw, &mut rb), &(&gw, &gb))
                .unwrap();
        }
        let before = bits(&w, &b);
        let last = opt.last_step().clone();
        let err = bad(opt.as_mut(), &mut w, &mut b).expect_err("the call must fail");
        assert!(expected(&err), "{}: unexpected error {err:?}", opt.name());
        assert_eq!(opt.last_step(), &last, "{}: last_step changed", opt.name());
        assert_eq!(
            bits(&w, &b),
            before,
            "{}: parameters changed by a failed call",
            opt.name()
        );
        assert_eq!(opt.step_count(), 2, "{}: step counter moved", opt.name());
        for step in 2..5 {
            let (gw, gb) = grads(step);
            opt.step(&mut (&mut w, &mut b), &(&gw, &gb)).unwrap();
            reference
                .step(&mut (&mut rw, &mut rb), &(&gw, &gb))
                .unwrap();
        }
        assert_eq!(
            bits(&w, &b),
            bits(&rw, &rb),
            "{}: state changed by a failed call",
            opt.name()
        );
    }
}

#[test]
fn more_gradients_than_parameters() {
    assert_rejected_without_effect(
        |opt, w, b| {
            let (gw, gb) = grads(9);
            opt.step(&mut (w, b), &(&gw, &gb, &gb))
        },
        |e| {
            matches!(
                e,
                Error::LengthMismatch {
                    params: 2,
                    grads: 3
                }
            )
        },
    );
}

#[test]
fn fewer_parameters_than_the_state_was_made_for() {
    assert_rejected_without_effect(
        |opt, w, _b| {
            let (gw, _) = grads(9);
            opt.step(w, &gw)
        },
        |e| {
            matches!(
                e,
                Error::StateLengthMismatch {
                    expected: 2,
                    found: 1
                }
            )
        },
    );
}

#[test]
fn gradient_of_the_wrong_shape() {
    assert_rejected_without_effect(
        |opt, w, b| {
            let gw = Array2::<f64>::ones((2, 3));
            let (_, gb) = grads(9);
            opt.step(&mut (w, b), &(&gw, &gb))
        },
        |e| {
            *e == Error::ShapeMismatch {
                index: 0,
                param: vec![3, 2],
                grad: vec![2, 3],
            }
        },
    );
}

#[test]
fn parameters_whose_shapes_changed_since_the_state_was_created() {
    assert_rejected_without_effect(
        |opt, w, _b| {
            let mut other = Array1::<f64>::zeros(3);
            let (gw, _) = grads(9);
            opt.step(&mut (w, &mut other), &(&gw, &Array1::<f64>::ones(3)))
        },
        |e| {
            *e == Error::StateShapeMismatch {
                index: 1,
                expected: vec![2],
                found: vec![3],
            }
        },
    );
}

#[test]
fn nan_or_infinite_gradients_in_any_tensor() {
    for (bad_value, (i, j)) in [
        (f64::NAN, (2, 1)),
        (f64::INFINITY, (0, 0)),
        (f64::NEG_INFINITY, (1, 1)),
    ] {
        assert_rejected_without_effect(
            |opt, w, b| {
                let (mut gw, gb) = grads(9);
                gw[[i, j]] = bad_value;
                opt.step(&mut (w, b), &(&gw, &gb))
            },
            |e| match e {
                Error::NonFiniteGradient {
                    index: 0,
                    element,
                    value,
                } => *element == vec![i, j] && (value.is_nan() == bad_value.is_nan()),
                _ => false,
            },
        );
    }
    // In the second tensor, after the first one was fine: the first is not updated either.
    assert_rejected_without_effect(
        |opt, w, b| {
            let (gw, mut gb) = grads(9);
            gb[1] = f64::NAN;
            opt.step(&mut (w, b), &(&gw, &gb))
        },
        |e| matches!(e, Error::NonFiniteGradient { index: 1, .. }),
    );
}

#[test]
fn invalid_learning_rates_are_rejected_and_leave_the_rate_unchanged() {
    for mut opt in common::zoo::<f32>() {
        let lr = opt.learning_rate();
        for bad in [-1e-3, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let err = opt.set_learning_rate(bad).unwrap_err();
            assert!(
                matches!(err, Error::InvalidHyperparameter { name: "lr", .. }),
                "{err:?}"
            );
            assert_eq!(opt.learning_rate().to_bits(), lr.to_bits());
        }
        opt.set_learning_rate(0.0).unwrap();
        assert_eq!(opt.learning_rate(), 0.0);
    }
}

#[test]
fn invalid_hyperparameters_are_rejected_when_building() {
    fn name_of<T: std::fmt::Debug>(r: Result<T, Error>) -> &'static str {
        match r {
            Err(Error::InvalidHyperparameter { name, .. }) => name,
            other => panic!("expected an invalid hyperparameter, got {other:?}"),
        }
    }
    assert_eq!(name_of(Sgd::<f32>::new(-0.1)), "lr");
    assert_eq!(name_of(Sgd::<f32>::new(f64::NAN)), "lr");
    assert_eq!(
        name_of(SgdConfig::default().momentum(-0.5).build::<f32>()),
        "momentum"
    );
    assert_eq!(
        name_of(SgdConfig::default().dampening(1.5).build::<f32>()),
        "dampening"
    );
    assert_eq!(
        name_of(SgdConfig::default().weight_decay(-1.0).build::<f32>()),
        "weight_decay"
    );
    assert_eq!(
        name_of(
            SgdConfig::default()
                .momentum(0.9)
                .nesterov(true)
                .dampening(0.1)
                .build::<f32>()
        ),
        "dampening"
    );
    assert_eq!(name_of(Nesterov::<f32>::new(0.1, 0.0)), "momentum");
    assert_eq!(name_of(Momentum::<f32>::new(0.1, 0.0)), "momentum");
    assert_eq!(
        name_of(AdagradConfig::default().lr_decay(-0.1).build::<f32>()),
        "lr_decay"
    );
    assert_eq!(
        name_of(
            AdagradConfig::default()
                .initial_accumulator_value(-1.0)
                .build::<f32>()
        ),
        "initial_accumulator_value"
    );
    assert_eq!(
        name_of(AdagradConfig::default().eps(f64::NAN).build::<f32>()),
        "eps"
    );
    assert_eq!(
        name_of(RmsPropConfig::default().alpha(-0.1).build::<f32>()),
        "alpha"
    );
    assert_eq!(
        name_of(
            RmsPropConfig::default()
                .momentum(f64::INFINITY)
                .build::<f32>()
        ),
        "momentum"
    );
    assert_eq!(
        name_of(AdadeltaConfig::default().rho(1.01).build::<f32>()),
        "rho"
    );
    assert_eq!(
        name_of(AdamConfig::default().betas((1.0, 0.999)).build::<f32>()),
        "betas[0]"
    );
    assert_eq!(
        name_of(AdamConfig::default().betas((0.9, -0.1)).build::<f32>()),
        "betas[1]"
    );
    assert_eq!(
        name_of(AdamConfig::default().eps(-1e-8).build::<f32>()),
        "eps"
    );
    assert_eq!(
        name_of(AdamWConfig::default().weight_decay(f64::NAN).build::<f32>()),
        "weight_decay"
    );
    assert_eq!(
        name_of(
            LambConfig::default()
                .max_grad_norm(Some(-1.0))
                .build::<f32>()
        ),
        "max_grad_norm"
    );
    assert_eq!(
        name_of(LambConfig::default().betas((0.9, 1.0)).build::<f32>()),
        "betas[1]"
    );
}

#[test]
fn momentum_setter_validates_and_reports_optimizers_without_momentum() {
    let mut adam = Adam::<f32>::new(1e-3).unwrap();
    adam.set_momentum(0.95).unwrap();
    assert_eq!(adam.config().betas.0, 0.95);
    assert!(adam.set_momentum(1.0).is_err());
    assert_eq!(adam.config().betas.0, 0.95);
    let mut nesterov = Nesterov::<f32>::new(0.1, 0.9).unwrap();
    assert!(
        nesterov.set_momentum(0.0).is_err(),
        "Nesterov needs momentum > 0"
    );
    let mut adagrad = ndarray_optim::Adagrad::<f32>::new(0.1).unwrap();
    assert_eq!(adagrad.momentum(), None);
    assert!(matches!(
        adagrad.set_momentum(0.9),
        Err(Error::Unsupported {
            optimizer: "Adagrad",
            ..
        })
    ));
    let mut lamb = Lamb::<f64>::new(1e-3).unwrap();
    assert_eq!(lamb.momentum(), Some(0.9));
    lamb.set_momentum(0.85).unwrap();
    assert_eq!(lamb.momentum(), Some(0.85));
}

#[test]
fn unchecked_policy_lets_non_finite_values_through_as_pytorch_does() {
    let mut opt = Adam::<f64>::new(0.1).unwrap();
    opt.set_non_finite_policy(NonFinitePolicy::Unchecked);
    assert_eq!(opt.non_finite_policy(), NonFinitePolicy::Unchecked);
    let mut w = array![1.0, 1.0];
    opt.step(&mut w, &array![f64::NAN, 1.0]).unwrap();
    assert!(w[0].is_nan());
    assert!(w[1].is_finite());
}

#[test]
fn a_list_that_lies_about_its_length_is_an_error_not_a_panic() {
    struct Liar(Array1<f64>);
    impl ndarray_optim::TensorList<f64> for Liar {
        fn len(&self) -> usize {
            2
        }
        fn tensor(&self, i: usize) -> Option<&dyn ndarray_optim::Tensor<f64>> {
            (i == 0).then_some(&self.0 as &dyn ndarray_optim::Tensor<f64>)
        }
    }
    impl ndarray_optim::TensorListMut<f64> for Liar {
        fn tensor_mut(&mut self, i: usize) -> Option<&mut dyn ndarray_optim::TensorMut<f64>> {
            (i == 0).then_some(&mut self.0 as &mut dyn ndarray_optim::TensorMut<f64>)
        }
    }
    let mut p = Liar(array![1.0, 2.0]);
    let g = Liar(array![1.0, 1.0]);
    for mut opt in common::zoo::<f64>() {
        assert!(matches!(
            opt.step(&mut p, &g),
            Err(Error::LengthMismatch { .. })
        ));
        assert_eq!(p.0, array![1.0, 2.0]);
    }
}

#[test]
fn empty_and_zero_dimensional_tensors_are_fine() {
    for mut opt in common::zoo::<f64>() {
        let mut empty = ArrayD::<f64>::zeros(IxDyn(&[0, 3]));
        let mut scalar = ArrayD::<f64>::from_elem(IxDyn(&[]), 2.0);
        let g_empty = ArrayD::<f64>::zeros(IxDyn(&[0, 3]));
        let g_scalar = ArrayD::<f64>::from_elem(IxDyn(&[]), 1.0);
        opt.step(&mut (&mut empty, &mut scalar), &(&g_empty, &g_scalar))
            .unwrap();
        opt.step(&mut (&mut empty, &mut scalar), &(&g_empty, &g_scalar))
            .unwrap();
        assert!(scalar[[]].is_finite());
        let mut none: Vec<Array1<f64>> = Vec::new();
        assert!(matches!(
            opt.step(&mut none, &Vec::<Array1<f64>>::new()),
            Err(Error::StateLengthMismatch { .. })
        ));
    }
}

#[test]
fn reset_state_starts_afresh_with_new_shapes() {
    for mut opt in common::zoo::<f64>() {
        let (mut w, mut b) = params();
        let (gw, gb) = grads(0);
        opt.step(&mut (&mut w, &mut b), &(&gw, &gb)).unwrap();
        let mut other = Array1::<f64>::ones(7);
        assert!(opt.step(&mut other, &Array1::<f64>::ones(7)).is_err());
        opt.reset_state();
        assert_eq!(opt.step_count(), 0);
        opt.step(&mut other, &Array1::<f64>::ones(7)).unwrap();
        assert_eq!(opt.step_count(), 1);
    }
}
