//! PyTorch's parameter groups, whole (the optimizer side; PyTorch's numbers for them are in
//! `tests/reference/parity.rs`): groups with their own configuration, group-wise learning
//! rates, tensors without a gradient, groups added mid-training, names. Every bad input is a
//! typed error that changes nothing.

use ndarray::{Array1, Array2, array};
use ndarray_optim::schedule::Schedule;
use ndarray_optim::*;

#[test]
fn a_group_takes_a_whole_configuration_of_the_optimizers_kind() {
    let base = AdamConfig::default().lr(0.1);
    let own = ParamGroup::default().hyperparameters(base.clone().betas((0.5, 0.9)).amsgrad(true));
    let groups = ParamGroups::new(vec![ParamGroup::default(), own], vec![0, 1]).unwrap();
    let mut opt = base.build::<f64>().unwrap();
    opt.set_param_groups(Some(groups)).unwrap();
    let (mut a, mut b) = (array![1.0], array![1.0]);
    opt.step(&mut (&mut a, &mut b), &(&array![1.0], &array![1.0]))
        .unwrap();
    let saved = opt.save_state();
    // AMSGrad in the second group only: its buffer exists for that tensor only.
    assert!(!saved.tensors[0].buffers.contains_key("max_exp_avg_sq"));
    assert!(saved.tensors[1].buffers.contains_key("max_exp_avg_sq"));

    // Another kind's configuration, or an override the optimizer does not have: refused.
    let mut sgd = Sgd::<f64>::new(0.1).unwrap();
    let wrong = ParamGroup::default().hyperparameters(AdamConfig::default());
    assert!(matches!(
        sgd.set_param_groups(Some(ParamGroups::new(vec![wrong], vec![0]).unwrap())),
        Err(Error::WrongOptimizer { .. })
    ));
    let mut adagrad = Adagrad::<f64>::new(0.1).unwrap();
    let momentum = ParamGroup::default().momentum(0.9);
    assert!(matches!(
        adagrad.set_param_groups(Some(ParamGroups::new(vec![momentum], vec![0]).unwrap())),
        Err(Error::Unsupported { .. })
    ));
    assert!(sgd.param_groups().is_none() && adagrad.param_groups().is_none());
}

#[test]
fn group_learning_rates_are_absolute_and_set_one_by_one() {
    let groups = vec![
        ParamGroup::default(),
        ParamGroup::default().lr(1e-4),
        ParamGroup::default().lr_scale(0.5),
    ];
    let mut opt = Momentum::<f32>::new(0.1, 0.9).unwrap();
    opt.set_param_groups(Some(ParamGroups::new(groups, vec![0, 1, 2]).unwrap()))
        .unwrap();
    let lrs: Vec<_> = (0..3)
        .map(|g| opt.group_learning_rate(g).unwrap())
        .collect();
    assert_eq!(lrs, [0.1, 1e-4, 0.05]);
    opt.set_group_learning_rate(1, 2e-4).unwrap();
    assert_eq!(opt.group_learning_rate(1), Some(2e-4));
    // The optimizer's learning rate moves the groups that have no absolute one.
    opt.set_learning_rate(0.2).unwrap();
    assert_eq!(opt.group_learning_rate(2), Some(0.1));
    assert_eq!(opt.group_learning_rate(1), Some(2e-4));
    // Momentum per group; Momentum keeps its rule (> 0) in every group.
    opt.set_group_momentum(2, 0.5).unwrap();
    assert_eq!(opt.group_momentum(2), Some(0.5));
    assert!(opt.set_group_momentum(2, 0.0).is_err());
    assert_eq!(opt.group_momentum(2), Some(0.5));
    assert!(matches!(
        opt.set_group_learning_rate(3, 0.1),
        Err(Error::UnknownGroup { group: 3, .. })
    ));
    assert!(opt.set_group_learning_rate(0, f64::NAN).is_err());
    assert_eq!(opt.group_learning_rate(0), Some(0.2));
}

/// Once every group has a rate of its own (a scheduler attached to the groups gives each one),
/// the optimizer's rate reaches no step: setting it is refused, not ignored, for every kind
/// and through the wrappers.
#[test]
fn the_optimizer_s_rate_is_refused_when_no_group_follows_it() {
    for kind in OptimizerKind::ALL {
        let mut opt = kind.default_config().build::<f32>().unwrap();
        let groups = vec![ParamGroup::default(), ParamGroup::default().lr_scale(0.5)];
        opt.set_param_groups(Some(ParamGroups::new(groups, vec![0, 1]).unwrap()))
            .unwrap();
        let _sched = schedule::StepLr::new(10).attach(&mut *opt).unwrap();
        let before = (opt.learning_rate(), opt.save_state());
        let err = opt.set_learning_rate(0.05).unwrap_err();
        assert!(
            matches!(err, Error::InvalidHyperparameter { name: "lr", .. }),
            "{kind:?}: {err}"
        );
        assert!(err.to_string().contains("set_group_learning_rate"), "{err}");
        assert_eq!((opt.learning_rate(), opt.save_state()), before, "{kind:?}");
        opt.set_group_learning_rate(1, 0.05).unwrap();
        assert_eq!(opt.group_learning_rate(1), Some(0.05));
    }
    let mut wrapped = LookaheadConfig::default()
        .build(Sgd::<f32>::new(0.1).unwrap())
        .unwrap();
    let own = vec![ParamGroup::default().lr(0.3)];
    wrapped
        .set_param_groups(Some(ParamGroups::new(own, vec![0]).unwrap()))
        .unwrap();
    assert!(wrapped.set_learning_rate(0.05).is_err());
    assert_eq!(wrapped.group_learning_rate(0), Some(0.3));
}

#[test]
fn a_tensor_without_a_gradient_is_skipped_and_its_step_count_lags() {
    let mut params = vec![array![1.0_f64, 2.0], array![3.0]];
    let mut opt = AdamWConfig::default().lr(0.1).build::<f64>().unwrap();
    let frozen = Gradients(vec![Some(array![0.5, 0.5]), None]);
    opt.step(&mut params, &frozen).unwrap();
    assert_eq!(params[1], array![3.0]); // no update, no weight decay
    let saved = opt.save_state();
    assert_eq!((saved.tensors[0].step, saved.tensors[1].step), (1, 0));
    assert!(saved.tensors[1].buffers.is_empty()); // no state yet
    let both = Gradients(vec![Some(array![0.5, 0.5]), Some(array![1.0])]);
    opt.step(&mut params, &both).unwrap();
    let saved = opt.save_state();
    assert_eq!((saved.tensors[0].step, saved.tensors[1].step), (2, 1));
    // Its first step is a first step: about lr, whatever the optimizer's count.
    let expected = 3.0 * (1.0 - 0.1 * 0.01) - 0.1;
    assert!((params[1][0] - expected).abs() < 1e-6, "{}", params[1][0]);

    // Saved and restored with the per-tensor counts.
    let mut resumed = AdamWConfig::default().lr(0.1).build::<f64>().unwrap();
    resumed.load_state(saved.clone()).unwrap();
    assert_eq!(resumed.save_state(), saved);
    // A tensor cannot have taken more steps than the optimizer.
    let mut broken = saved;
    broken.tensors[1].step = 9;
    assert!(matches!(
        resumed.load_state(broken),
        Err(Error::InvalidState {
            tensor: Some(1),
            ..
        })
    ));
    // An absent gradient does not excuse an absent parameter.
    let mut one = vec![array![1.0_f64, 2.0]];
    assert!(matches!(
        opt.step(&mut one, &Gradients(vec![Some(array![0.5, 0.5]), None])),
        Err(Error::LengthMismatch { .. })
    ));
}

#[test]
fn a_group_added_mid_training_gets_its_state_on_its_first_step() {
    let (mut head, mut backbone) = (array![1.0_f32, -1.0], Array2::<f32>::ones((2, 2)));
    let mut opt = Adam::new(0.1).unwrap();
    assert!(matches!(
        opt.add_param_group(ParamGroup::default(), 1),
        Err(Error::Unsupported { .. }) // before the first step, without groups
    ));
    opt.step(&mut head, &array![0.5, 0.5]).unwrap();
    assert!(
        opt.add_param_group(ParamGroup::default().lr(f64::NAN), 1)
            .is_err()
    );
    assert!(opt.param_groups().is_none());
    let index = opt
        .add_param_group(ParamGroup::default().lr(1e-3), 1)
        .unwrap();
    assert_eq!((index, opt.group_count()), (1, 2));
    assert_eq!(opt.param_groups().unwrap().assignment(), &[0, 1]);
    opt.step(
        &mut (&mut head, &mut backbone),
        &(&array![0.5, 0.5], &Array2::ones((2, 2))),
    )
    .unwrap();
    let saved = opt.save_state();
    assert_eq!((saved.tensors[0].step, saved.tensors[1].step), (2, 1));
    assert!((backbone[[0, 0]] - (1.0 - 1e-3)).abs() < 1e-6);

    // In the middle of an accumulation window: refused.
    let mut acc = MultiSteps::new(Sgd::<f32>::new(0.1).unwrap(), 2).unwrap();
    let mut w = array![1.0_f32];
    acc.step(&mut w, &array![1.0]).unwrap();
    assert!(acc.add_param_group(ParamGroup::default(), 1).is_err());
}

struct Model {
    first: Array1<f64>,
    second: Array1<f64>,
}
tensor_list!(Model: f64 { first as "layer.0", second as "layer.1" });

struct Swapped {
    first: Array1<f64>,
    second: Array1<f64>,
}
tensor_list!(Swapped: f64 { second as "layer.1", first as "layer.0" });

#[test]
fn names_are_recorded_and_checked_on_every_step_after_a_load() {
    let mut model = Model {
        first: array![1.0, 2.0],
        second: array![3.0, 4.0],
    };
    let grads = Model {
        first: array![0.1, 0.1],
        second: array![0.2, 0.2],
    };
    let mut opt = Adam::<f64>::new(0.1).unwrap();
    opt.step(&mut model, &grads).unwrap();
    let saved = opt.save_state();
    assert_eq!(saved.tensors[1].name.as_deref(), Some("layer.1"));
    // The same shapes in another order: the names tell, before anything changes.
    let mut resumed = Adam::<f64>::new(0.1).unwrap();
    resumed.load_state(saved).unwrap();
    let mut swapped = Swapped {
        first: array![1.0, 2.0],
        second: array![3.0, 4.0],
    };
    let swapped_grads = Swapped {
        first: array![0.1, 0.1],
        second: array![0.2, 0.2],
    };
    assert!(matches!(
        resumed.step(&mut swapped, &swapped_grads),
        Err(Error::TensorNameMismatch { index: 0, .. })
    ));
    assert_eq!(swapped.second, array![3.0, 4.0]);
    resumed.step(&mut model, &grads).unwrap();

    // Name-based no-decay rules read the list's names.
    let groups = ParamGroups::no_decay_where(&model, |name| name == "layer.1");
    assert_eq!(groups.assignment(), &[1, 1]); // vectors anyway
}
