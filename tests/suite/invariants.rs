//! The rules of each optimizer hold on every path: building, `set_momentum` (also from a
//! schedule), `set_param_groups` and `load_state` apply the same validation, and a saved state
//! cannot contradict the configuration it is loaded with.

use ndarray::array;
use ndarray_optim::schedule::{CyclicLr, Schedule};
use ndarray_optim::*;

/// One step on a `1 × 2` matrix, which every optimizer takes (Muon takes matrices only).
fn stepped(mut opt: Box<dyn Optimizer<f64>>) -> Box<dyn Optimizer<f64>> {
    let mut w = array![[1.0, -2.0]];
    opt.step(&mut w, &array![[0.5, 0.25]]).unwrap();
    opt
}

#[test]
fn momentum_keeps_a_positive_momentum_on_every_path() {
    let mut opt = Momentum::<f64>::new(0.1, 0.9).unwrap();
    assert!(matches!(
        opt.set_momentum(0.0),
        Err(Error::InvalidHyperparameter {
            name: "momentum",
            ..
        })
    ));
    assert_eq!(opt.momentum(), Some(0.9));
    let mut state = opt.save_state();
    if let OptimizerConfig::Momentum(config) = &mut state.config {
        config.momentum = 0.0;
    }
    assert!(matches!(
        opt.load_state(state),
        Err(Error::InvalidHyperparameter {
            name: "momentum",
            ..
        })
    ));
    assert_eq!(opt.momentum(), Some(0.9));
    // Plain SGD may run with momentum 0, as PyTorch's SGD does.
    let mut sgd = SgdConfig::default().momentum(0.9).build::<f64>().unwrap();
    sgd.set_momentum(0.0).unwrap();
}

#[test]
fn a_momentum_schedule_cannot_take_momentum_below_its_rules() {
    // A cycle between momentum 0 and 0.9: fine for SGD, refused for Nesterov when it reaches 0.
    let schedule = || {
        CyclicLr::new(0.01, 0.1)
            .step_size_up(2)
            .base_momentum(0.0)
            .max_momentum(0.9)
    };
    let mut sgd = SgdConfig::default().momentum(0.9).build::<f64>().unwrap();
    let mut on_sgd = schedule().attach(&mut sgd).unwrap();
    for _ in 0..4 {
        on_sgd.step(&mut sgd).unwrap();
    }
    let mut nesterov = Nesterov::<f64>::new(0.1, 0.9).unwrap();
    let mut on_nesterov = schedule().attach(&mut nesterov).unwrap();
    let refused = (0..4).find_map(|_| on_nesterov.step(&mut nesterov).err());
    assert!(
        matches!(
            refused,
            Some(Error::InvalidHyperparameter {
                name: "momentum",
                ..
            })
        ),
        "{refused:?}"
    );
    assert!(nesterov.momentum().unwrap() > 0.0);
}

#[test]
fn a_nesterov_sgd_refuses_momentum_zero_and_dampening() {
    let mut opt = SgdConfig::default()
        .momentum(0.9)
        .nesterov(true)
        .build::<f64>()
        .unwrap();
    assert!(opt.set_momentum(0.0).is_err());
    let mut state = stepped(Box::new(opt.clone())).save_state();
    if let OptimizerConfig::Sgd(config) = &mut state.config {
        config.dampening = 0.5;
    }
    assert!(matches!(
        opt.load_state(state),
        Err(Error::InvalidHyperparameter {
            name: "dampening",
            ..
        })
    ));
}

/// A state saved by one kind loads into that kind only, and the saved kind is the optimizer's
/// name: for every pair of kinds in the registry.
#[test]
fn a_state_loads_only_into_its_own_kind() {
    for &saved_kind in OptimizerKind::ALL {
        let saved = stepped(saved_kind.default_config().build().unwrap()).save_state();
        assert_eq!(saved.kind(), saved_kind);
        for &into in OptimizerKind::ALL {
            let mut target = into.default_config().build::<f64>().unwrap();
            assert_eq!(target.name(), into.name());
            let result = target.load_state(saved.clone());
            if into == saved_kind {
                result.unwrap();
                assert_eq!(target.step_count(), 1);
            } else {
                assert!(
                    matches!(&result, Err(Error::WrongOptimizer { expected, found })
                        if *expected == into.name() && found == saved_kind.name()),
                    "{saved_kind} into {into}: {result:?}"
                );
                assert_eq!(target.step_count(), 0);
            }
        }
    }
}

#[test]
fn adamw_is_adamw_on_every_path() {
    let opt: AdamW<f32> = AdamWConfig::default().build().unwrap();
    assert_eq!(opt.name(), "AdamW");
    assert_eq!(opt.save_state().kind(), OptimizerKind::AdamW);
    // AdamW has no coupled form to switch to: the saved form has no such field.
    #[cfg(feature = "serde")]
    {
        let coupled = r#"{"AdamW": {"decoupled_weight_decay": false}}"#;
        assert!(serde_json::from_str::<OptimizerConfig>(coupled).is_err());
        let nesterov_off = r#"{"Nesterov": {"nesterov": false}}"#;
        assert!(serde_json::from_str::<OptimizerConfig>(nesterov_off).is_err());
    }
}

/// A buffer the configuration uses must be there, and one it does not use must not: AMSGrad's
/// running maximum, centered RMSProp's gradient average.
#[test]
fn a_state_cannot_contradict_its_configuration() {
    let mut amsgrad = stepped(Box::new(
        AdamConfig::default().amsgrad(true).build::<f64>().unwrap(),
    ))
    .save_state();
    let max = amsgrad.tensors[0].buffers.remove("max_exp_avg_sq").unwrap();
    let mut adam = Adam::<f64>::new(0.1).unwrap();
    assert!(matches!(
        adam.load_state(amsgrad.clone()),
        Err(Error::InvalidState {
            tensor: Some(0),
            ..
        })
    ));
    // The reverse: the buffer without AMSGrad.
    let mut plain = stepped(Box::new(Adam::<f64>::new(0.1).unwrap())).save_state();
    plain.tensors[0]
        .buffers
        .insert("max_exp_avg_sq".to_string(), max);
    let err = adam.load_state(plain).unwrap_err();
    assert!(
        err.to_string().contains("max_exp_avg_sq"),
        "the error names the buffer: {err}"
    );
    assert_eq!(adam.step_count(), 0);

    let centered = RmsPropConfig::default().centered(true);
    let mut saved = stepped(Box::new(centered.clone().build::<f64>().unwrap())).save_state();
    let grad_avg = saved.tensors[0].buffers.remove("grad_avg").unwrap();
    let mut rmsprop = centered.build::<f64>().unwrap();
    assert!(rmsprop.load_state(saved).is_err());
    let mut plain = stepped(Box::new(RmsProp::<f64>::new(0.01).unwrap())).save_state();
    plain.tensors[0]
        .buffers
        .insert("grad_avg".to_string(), grad_avg);
    assert!(
        RmsProp::<f64>::new(0.01)
            .unwrap()
            .load_state(plain)
            .is_err()
    );
}

#[test]
fn groups_are_checked_the_same_way_when_set_and_when_loaded() {
    let lamb_only =
        ParamGroups::new(vec![ParamGroup::default().layer_adaptation(true)], vec![0]).unwrap();
    let mut adam = Adam::<f64>::new(0.1).unwrap();
    assert!(matches!(
        adam.set_param_groups(Some(lamb_only.clone())),
        Err(Error::Unsupported { .. })
    ));
    let mut state = adam.save_state();
    state.param_groups = Some(lamb_only.clone());
    assert!(matches!(
        adam.load_state(state),
        Err(Error::Unsupported { .. })
    ));
    Lamb::<f64>::new(0.1)
        .unwrap()
        .set_param_groups(Some(lamb_only))
        .unwrap();
    // A group whose learning rate overflows is refused, not run with an infinite rate.
    let huge = ParamGroups::new(vec![ParamGroup::default().lr_scale(1e300)], vec![0]).unwrap();
    let mut sgd = Sgd::<f64>::new(1e10).unwrap();
    assert!(matches!(
        sgd.set_param_groups(Some(huge)),
        Err(Error::InvalidHyperparameter { name: "lr", .. })
    ));
    assert!(sgd.param_groups().is_none());
}

#[test]
fn a_step_counter_at_its_maximum_is_refused_on_load() {
    let mut state = stepped(Box::new(Adam::<f64>::new(0.1).unwrap())).save_state();
    state.step = u64::MAX;
    let mut adam = Adam::<f64>::new(0.1).unwrap();
    assert!(matches!(
        adam.load_state(state),
        Err(Error::InvalidState { tensor: None, .. })
    ));
    let mut w = ndarray::Array2::<f64>::ones((1, 2));
    adam.step(&mut w, &ndarray::Array2::ones((1, 2))).unwrap();
}
