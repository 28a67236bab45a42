//! Schedulers on optimizers with parameter groups: bad input (per-group lists of the wrong
//! length, groups that do not exist, groups changed since attaching, a state for other groups, a
//! group refusing its value) is a typed error that changes nothing, in any group; stepping only
//! after real updates; the per-group arguments through serde. The numbers against PyTorch are in
//! `tests/reference/schedule_groups.rs`.

use ndarray::array;
use ndarray_optim::schedule::{
    ChainedScheduler, CosineAnnealingLr, CyclicLr, ExponentialLr, LinearLr, OneCycleLr, PerGroup,
    ReduceLrOnPlateauConfig, Schedule, Scheduler, SchedulerState, SequentialLr, StepLr, Warmup,
};
use ndarray_optim::{
    Adam, Error, Momentum, MultiSteps, NonFinitePolicy, Optimizer, OptimizerState, ParamGroup,
    ParamGroups, Sgd, SgdConfig,
};

/// SGD with momentum and three groups: a multiple of the optimizer's learning rate (no `lr`
/// of its own), an absolute one with its own momentum, an absolute one.
fn three_groups() -> Sgd<f64> {
    let mut opt = SgdConfig::default()
        .lr(0.1)
        .momentum(0.9)
        .build::<f64>()
        .unwrap();
    let groups = vec![
        ParamGroup::default().lr_scale(0.5),
        ParamGroup::default().lr(0.01).momentum(0.5),
        ParamGroup::default().lr(0.3),
    ];
    opt.set_param_groups(Some(ParamGroups::new(groups, vec![0, 1, 2]).unwrap()))
        .unwrap();
    opt
}

/// Everything a scheduler can change in an optimizer, to compare before and after.
fn snapshot(opt: &dyn Optimizer<f64>) -> (Option<ParamGroups>, Vec<u64>, Vec<Option<u64>>) {
    let groups = opt.param_groups().cloned();
    let lrs = (0..opt.group_count())
        .map(|g| opt.group_learning_rate(g).unwrap().to_bits())
        .collect();
    let momenta = (0..opt.group_count())
        .map(|g| opt.group_momentum(g).map(f64::to_bits))
        .collect();
    (groups, lrs, momenta)
}

#[test]
fn per_group_lists_of_the_wrong_length_change_nothing() {
    let cases: Vec<(Box<dyn Schedule>, &str, usize)> = vec![
        (Box::new(OneCycleLr::new([0.1, 0.01], 10)), "max_lr", 2),
        (
            Box::new(OneCycleLr::new(0.1, 10).max_momentum([0.9; 4])),
            "max_momentum",
            4,
        ),
        (
            Box::new(OneCycleLr::new(0.1, 10).base_momentum(vec![0.8])),
            "base_momentum",
            1,
        ),
        (Box::new(CyclicLr::new([0.01, 0.001], 0.1)), "base_lr", 2),
        (Box::new(CyclicLr::new(0.01, [0.1; 4])), "max_lr", 4),
        (
            Box::new(CyclicLr::new(0.01, 0.1).base_momentum([0.8, 0.7])),
            "base_momentum",
            2,
        ),
        (
            Box::new(CyclicLr::new(0.01, 0.1).max_momentum([0.9; 5])),
            "max_momentum",
            5,
        ),
        // Inside compositions too.
        (
            Box::new(SequentialLr::new(
                vec![
                    Box::new(LinearLr::default()),
                    Box::new(OneCycleLr::new([0.1, 0.2], 10)),
                ],
                vec![5],
            )),
            "max_lr",
            2,
        ),
        (
            Box::new(ChainedScheduler::new(vec![
                Box::new(ExponentialLr::new(0.9)),
                Box::new(CyclicLr::new(0.01, [0.1, 0.2])),
            ])),
            "max_lr",
            2,
        ),
    ];
    for (schedule, name, found) in cases {
        let mut opt = three_groups();
        let before = snapshot(&opt);
        assert!(schedule.validate().is_ok(), "{name}: valid as such");
        let err = schedule.clone().attach(&mut opt).unwrap_err();
        assert!(
            matches!(err, Error::GroupCountMismatch { what, groups: 3, found: f } if what == name && f == found),
            "{name}: {err:?}"
        );
        assert_eq!(snapshot(&opt), before, "{name}: the optimizer changed");
        assert!(matches!(
            schedule.for_group(0, 3),
            Err(Error::GroupCountMismatch { .. })
        ));
    }
    // The right length works; momenta of the wrong length are not read when not cycled, as in
    // PyTorch.
    let mut opt = three_groups();
    OneCycleLr::new([0.1, 0.01, 0.5], 10)
        .attach(&mut opt)
        .unwrap();
    CyclicLr::new([0.01, 0.001, 0.05], 0.5)
        .base_momentum([0.8, 0.7])
        .cycle_momentum(false)
        .attach(&mut opt)
        .unwrap();
    // An empty list fits no optimizer: refused by validation, with the argument's name.
    let empty = OneCycleLr::new(Vec::<f64>::new(), 10);
    assert!(matches!(
        empty.validate(),
        Err(Error::InvalidHyperparameter { name: "max_lr", .. })
    ));
    assert!(empty.lr(0.0, 1).is_err());
    // A value of a list out of range is named like the scalar.
    assert!(matches!(
        CyclicLr::new([0.01, -0.1, 0.01], 0.1).validate(),
        Err(Error::InvalidHyperparameter {
            name: "base_lr",
            ..
        })
    ));
}

#[test]
fn groups_that_do_not_exist_are_typed_errors() {
    let mut opt = three_groups();
    let sched = OneCycleLr::new([0.1, 0.01, 0.5], 10)
        .attach(&mut opt)
        .unwrap();
    for group in [3, 7, usize::MAX] {
        assert!(matches!(
            sched.group_lr(group, 1),
            Err(Error::UnknownGroup { group: g, groups: 3, .. }) if g == group
        ));
        assert!(matches!(
            sched.group_momentum(group, 1),
            Err(Error::UnknownGroup { .. })
        ));
        assert!(matches!(
            StepLr::new(2).for_group(group, 3),
            Err(Error::UnknownGroup { .. })
        ));
    }
    assert!(matches!(
        OneCycleLr::new(0.1, 10).for_group(0, 0),
        Err(Error::UnknownGroup { .. })
    ));
    // An optimizer whose ParamGroups hold no group at all (and no tensor).
    let mut empty = Sgd::<f64>::new(0.1).unwrap();
    empty
        .set_param_groups(Some(ParamGroups::new(vec![], vec![]).unwrap()))
        .unwrap();
    assert_eq!(empty.group_count(), 0);
    assert!(matches!(
        StepLr::new(2).attach(&mut empty),
        Err(Error::UnknownGroup {
            group: 0,
            groups: 0,
            ..
        })
    ));
    let mut plateau = ReduceLrOnPlateauConfig::default().build().unwrap();
    assert!(plateau.step(&mut empty, 1.0).is_err());
    assert_eq!(plateau.last_epoch(), 0);
}

#[test]
fn a_later_group_refusing_its_value_changes_no_group() {
    // Adam's β₁ must stay below 1: group 2's is refused when attaching, after groups 0 and 1
    // were written (group 0's learning rate is a multiple of the optimizer's and must stay one).
    let adam = || {
        let mut opt = Adam::<f64>::new(1e-3).unwrap();
        let groups = vec![
            ParamGroup::default().lr_scale(0.5),
            ParamGroup::default().lr(1e-4),
            ParamGroup::default().lr(1e-2),
        ];
        opt.set_param_groups(Some(ParamGroups::new(groups, vec![0, 1, 2]).unwrap()))
            .unwrap();
        opt
    };
    let mut opt = adam();
    let before = snapshot(&opt);
    let refused = CyclicLr::new(1e-4, 1e-3)
        .step_size_up(2)
        .max_momentum([0.9, 0.95, 1.0]);
    assert!(matches!(
        refused.attach(&mut opt),
        Err(Error::InvalidHyperparameter {
            name: "betas[0]",
            ..
        })
    ));
    assert_eq!(snapshot(&opt), before);
    assert_eq!(opt.param_groups().unwrap().groups()[0].lr, None);

    // At a step: group 1's momentum reaches 1 at the peak (step 2).
    let mut opt = adam();
    let peak = CyclicLr::new(1e-4, 1e-3)
        .step_size_up(2)
        .base_momentum([0.85, 1.0, 0.85]);
    let mut sched = peak.attach(&mut opt).unwrap();
    sched.step(&mut opt).unwrap();
    let (before, state) = (snapshot(&opt), sched.state());
    for _ in 0..2 {
        let err = sched.step(&mut opt).unwrap_err();
        assert!(
            matches!(err, Error::InvalidHyperparameter { .. }),
            "{err:?}"
        );
        assert_eq!(snapshot(&opt), before);
        assert_eq!(sched.state(), state);
    }

    // Momentum keeps its momentum above 0 in every group.
    let mut momentum = Momentum::<f64>::new(0.1, 0.9).unwrap();
    let two = vec![ParamGroup::default(), ParamGroup::default().lr(0.01)];
    momentum
        .set_param_groups(Some(ParamGroups::new(two, vec![0, 1]).unwrap()))
        .unwrap();
    let before = snapshot(&momentum);
    let to_zero = OneCycleLr::new(0.1, 10).max_momentum([0.9, 0.0]);
    assert!(to_zero.attach(&mut momentum).is_err());
    assert_eq!(snapshot(&momentum), before);
}

#[test]
fn groups_changed_since_attaching_are_refused_until_taken_on() {
    let mut opt = three_groups();
    let mut sched = CosineAnnealingLr::new(10)
        .eta_min(1e-3)
        .attach(&mut opt)
        .unwrap();
    sched.step(&mut opt).unwrap();
    opt.add_param_group(ParamGroup::default().lr(0.2), 1)
        .unwrap();
    let (before, state) = (snapshot(&opt), sched.state());
    assert!(matches!(
        sched.step(&mut opt),
        Err(Error::GroupCountMismatch {
            what: "base_lrs",
            groups: 4,
            found: 3
        })
    ));
    assert_eq!((snapshot(&opt), sched.state()), (before, state));
    assert_eq!(sched.add_groups(&opt).unwrap(), 1);
    assert_eq!(sched.add_groups(&opt).unwrap(), 0); // nothing more to take on
    assert_eq!(sched.base_lrs()[3], 0.2);
    assert_eq!(sched.last_lrs()[3], 0.2);
    sched.step(&mut opt).unwrap();
    assert_eq!(sched.last_lrs().len(), 4);
    assert_eq!(opt.group_learning_rate(3), Some(sched.last_lrs()[3]));

    // Fewer groups than attached to (replaced): refused by the step and by add_groups.
    let mut one = Sgd::<f64>::new(0.1).unwrap();
    let mut sched = StepLr::new(2).attach(&mut one).unwrap();
    let two = vec![ParamGroup::default(), ParamGroup::default()];
    one.set_param_groups(Some(ParamGroups::new(two, vec![0, 1]).unwrap()))
        .unwrap();
    sched.add_groups(&one).unwrap();
    one.set_param_groups(None).unwrap();
    assert!(matches!(
        sched.step(&mut one),
        Err(Error::GroupCountMismatch {
            groups: 1,
            found: 2,
            ..
        })
    ));
    assert!(matches!(
        sched.add_groups(&one),
        Err(Error::GroupCountMismatch {
            groups: 1,
            found: 2,
            ..
        })
    ));

    // A schedule with one value per group has no value for a new group.
    let mut opt = three_groups();
    let mut cycle = OneCycleLr::new([0.1, 0.01, 0.5], 10)
        .attach(&mut opt)
        .unwrap();
    opt.add_param_group(ParamGroup::default(), 1).unwrap();
    let state = cycle.state();
    assert!(matches!(
        cycle.add_groups(&opt),
        Err(Error::GroupCountMismatch {
            what: "max_lr",
            groups: 4,
            found: 3
        })
    ));
    assert_eq!(cycle.state(), state);
}

/// PyTorch's order of resuming: build the optimizer and the scheduler, load the optimizer's
/// state (which brings its groups back), then the scheduler's. The scheduler, attached to an
/// optimizer of one group, takes on the loaded three and continues exactly; the cycling
/// momentum of `OneCycleLr` too.
#[test]
fn a_scheduler_attached_before_the_groups_were_loaded_takes_them_on() {
    let schedules: [Box<dyn Fn() -> Box<dyn Schedule>>; 2] = [
        Box::new(|| Box::new(Warmup::cosine(3, 40))),
        Box::new(|| Box::new(OneCycleLr::new(0.5, 40))),
    ];
    for make in schedules {
        let mut opt = three_groups();
        let mut sched = make().attach(&mut opt).unwrap();
        let grads = vec![array![0.1, -0.2], array![0.3], array![0.4, 0.5, -0.6]];
        let mut params = vec![array![1.0, 2.0], array![3.0], array![4.0, 5.0, 6.0]];
        for _ in 0..5 {
            opt.step(&mut params, &grads).unwrap();
            sched.step(&mut opt).unwrap();
        }
        let (saved_opt, saved_sched) = (opt.save_state(), sched.state());

        let mut resumed = SgdConfig::default()
            .lr(0.1)
            .momentum(0.9)
            .build::<f64>()
            .unwrap();
        let mut resumed_sched = make().attach(&mut resumed).unwrap();
        resumed.load_state(saved_opt).unwrap();
        resumed_sched.restore(saved_sched, &mut resumed).unwrap();
        assert_eq!(snapshot(&resumed), snapshot(&opt));
        let mut resumed_params = params.clone();
        for _ in 0..10 {
            opt.step(&mut params, &grads).unwrap();
            resumed.step(&mut resumed_params, &grads).unwrap();
            assert_eq!(
                sched.step(&mut opt).unwrap(),
                resumed_sched.step(&mut resumed).unwrap()
            );
            assert_eq!(sched.last_lrs(), resumed_sched.last_lrs());
            assert_eq!(snapshot(&resumed), snapshot(&opt));
        }
        assert_eq!(params, resumed_params);
    }
}

#[test]
fn restore_checks_the_groups() {
    let mut opt = three_groups();
    let mut sched = StepLr::new(2).gamma(0.5).attach(&mut opt).unwrap();
    sched.step(&mut opt).unwrap();
    let good = sched.state();
    assert_eq!(good.base_lrs, [0.05, 0.01, 0.3]);
    let before = snapshot(&opt);
    let mut short = good.clone();
    short.base_lrs.pop();
    let mut long = good.clone();
    long.last_lrs.push(0.1);
    let mut negative = good.clone();
    negative.last_lrs[2] = -1.0;
    let wrong: [(SchedulerState, &str); 3] = [
        (short, "base_lrs"),
        (long, "last_lrs"),
        (negative, "last_lrs"),
    ];
    for (state, name) in wrong {
        let err = sched.restore(state, &mut opt).unwrap_err();
        match err {
            Error::GroupCountMismatch { what, .. }
            | Error::InvalidHyperparameter { name: what, .. } => {
                assert_eq!(what, name)
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(sched.state(), good);
        assert_eq!(snapshot(&opt), before);
    }
    // The state of a two-group scheduler does not go into a three-group one.
    let mut two = Sgd::<f64>::new(0.1).unwrap();
    let groups = vec![ParamGroup::default(), ParamGroup::default().lr(0.2)];
    two.set_param_groups(Some(ParamGroups::new(groups, vec![0, 1]).unwrap()))
        .unwrap();
    let other = StepLr::new(2).attach(&mut two).unwrap().state();
    assert!(matches!(
        sched.restore(other, &mut opt),
        Err(Error::GroupCountMismatch {
            what: "base_lrs",
            groups: 3,
            found: 2
        })
    ));
    // Nor into an optimizer whose groups changed since the scheduler was attached.
    let mut fewer = Sgd::<f64>::new(0.1).unwrap();
    assert!(matches!(
        sched.restore(good.clone(), &mut fewer),
        Err(Error::GroupCountMismatch { .. })
    ));
    assert_eq!(fewer.learning_rate(), 0.1);

    // ReduceLrOnPlateau: one learning rate per group of the optimizer.
    let mut plateau = ReduceLrOnPlateauConfig::default().build().unwrap();
    plateau.step(&mut opt, 1.0).unwrap();
    let state = plateau.state();
    assert_eq!(state.last_lrs.as_ref().map(Vec::len), Some(3));
    let mut lone = Sgd::<f64>::new(0.7).unwrap();
    let mut fresh = ReduceLrOnPlateauConfig::default().build().unwrap();
    assert!(matches!(
        fresh.restore(state, &mut lone),
        Err(Error::GroupCountMismatch {
            what: "last_lrs",
            groups: 1,
            found: 3
        })
    ));
    assert_eq!((fresh.last_epoch(), lone.learning_rate()), (0, 0.7));
}

#[test]
fn plateau_floors_per_group() {
    let mut opt = three_groups();
    let before = snapshot(&opt);
    let mut wrong = ReduceLrOnPlateauConfig::default()
        .patience(0)
        .min_lr([0.01, 0.001])
        .build()
        .unwrap();
    let fresh = wrong.clone();
    assert!(matches!(
        wrong.step(&mut opt, 1.0),
        Err(Error::GroupCountMismatch {
            what: "min_lr",
            groups: 3,
            found: 2
        })
    ));
    assert_eq!((wrong, snapshot(&opt)), (fresh, before));

    let mut plateau = ReduceLrOnPlateauConfig::default()
        .patience(0)
        .factor(0.5)
        .min_lr([0.04, 0.001, 0.2])
        .build()
        .unwrap();
    let lrs: Vec<Vec<f64>> = (0..4)
        .map(|_| {
            plateau.step(&mut opt, 1.0).unwrap();
            plateau.last_lrs().unwrap().to_vec()
        })
        .collect();
    assert_eq!(lrs[0], [0.05, 0.01, 0.3]); // the first metric is the best
    assert_eq!(lrs[1], [0.04, 0.005, 0.2]); // each group to its own floor
    assert_eq!(lrs[3], [0.04, 0.00125, 0.2]);
    // Only the groups it reduced were written: group 0 (a multiple of the optimizer's learning
    // rate until then) now has a learning rate of its own, as in PyTorch.
    assert_eq!(opt.param_groups().unwrap().groups()[0].lr, Some(0.04));
}

#[test]
fn steps_only_after_real_updates() {
    // Behind MultiSteps: one update per 3 micro-batches, one scheduler step per update.
    let mut w = array![1.0_f64, -1.0];
    let mut acc = MultiSteps::new(Sgd::new(1.0).unwrap(), 3).unwrap();
    let schedule = OneCycleLr::new(0.1, 4).cycle_momentum(false);
    let mut sched = schedule.clone().attach(&mut acc).unwrap();
    let mut stepped = Vec::new();
    for micro in 0..12 {
        acc.step(&mut w, &array![0.5, 0.5]).unwrap();
        if let Some(lr) = sched.step_if_stepped(&mut acc).unwrap() {
            stepped.push((micro, lr));
        }
        assert!(sched.step_if_stepped(&mut acc).unwrap().is_none()); // once per update
    }
    let want: Vec<(usize, f64)> = (1..=4u64)
        .map(|k| (3 * k as usize - 1, schedule.lr(0.0, k).unwrap()))
        .collect();
    assert_eq!(stepped, want);
    assert_eq!((acc.step_count(), sched.last_epoch()), (4, 4));

    // Under SkipStep: a skipped step is no update.
    let mut opt = Sgd::<f64>::new(0.1).unwrap();
    opt.set_non_finite_policy(NonFinitePolicy::SkipStep);
    let mut sched = StepLr::new(1).gamma(0.5).attach(&mut opt).unwrap();
    let mut w = array![1.0_f64];
    for g in [1.0, f64::NAN, 1.0, f64::INFINITY, f64::NAN, 1.0] {
        opt.step(&mut w, &array![g]).unwrap();
        sched.step_if_stepped(&mut opt).unwrap();
    }
    assert_eq!((opt.step_count(), sched.last_epoch()), (3, 3));
    assert_eq!(opt.learning_rate(), 0.1 / 8.0);

    // Before any update, and after a reset: nothing to step for.
    let mut fresh = Sgd::<f64>::new(0.1).unwrap();
    let mut sched = StepLr::new(1).attach(&mut fresh).unwrap();
    assert!(sched.step_if_stepped(&mut fresh).unwrap().is_none());
    fresh.step(&mut w, &array![1.0]).unwrap();
    fresh.reset_state();
    assert!(sched.step_if_stepped(&mut fresh).unwrap().is_none());
}

#[test]
fn groups_given_by_a_multiple_are_scheduled_from_their_learning_rate() {
    let mut opt = three_groups();
    let sched = LinearLr::default()
        .start_factor(0.5)
        .attach(&mut opt)
        .unwrap();
    assert_eq!(sched.base_lrs(), [0.05, 0.01, 0.3]);
    assert_eq!(sched.last_lrs(), [0.025, 0.005, 0.15]);
    // The optimizer's own learning rate (the configuration's) is left alone.
    assert_eq!(opt.learning_rate(), 0.1);
    // Schedules cycling momentum write every group's.
    let sched = CyclicLr::new(0.01, 0.1)
        .max_momentum([0.9, 0.8, 0.7])
        .attach(&mut opt)
        .unwrap();
    assert_eq!(sched.last_momentums(), Some(&[0.9, 0.8, 0.7][..]));
    assert_eq!(sched.last_momentum(), Some(0.9));
    assert_eq!(opt.group_momentum(2), Some(0.7));
}

#[test]
fn per_group_arguments_through_serde() {
    let one_cycle: OneCycleLr =
        serde_json::from_str(r#"{"max_lr": [0.1, 0.01], "total_steps": 10}"#).unwrap();
    assert_eq!(one_cycle, OneCycleLr::new([0.1, 0.01], 10));
    let scalar: OneCycleLr = serde_json::from_str(
        r#"{"max_lr": 0.1, "total_steps": 10, "max_momentum": [0.9, "0.30000000000000004"]}"#,
    )
    .unwrap();
    assert_eq!(scalar.max_lr, PerGroup::All(0.1));
    assert_eq!(scalar.max_momentum, PerGroup::Each(vec![0.9, 0.1 + 0.2]));
    assert!(serde_json::from_str::<OneCycleLr>(r#"{"max_lr": "x", "total_steps": 10}"#).is_err());
    for config in [
        ReduceLrOnPlateauConfig::default().min_lr([1e-5, 0.1 + 0.2]),
        ReduceLrOnPlateauConfig::default().min_lr(f64::MIN_POSITIVE),
    ] {
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(
            serde_json::from_str::<ReduceLrOnPlateauConfig>(&json).unwrap(),
            config,
            "{json}"
        );
        let bytes = postcard::to_allocvec(&config).unwrap();
        assert_eq!(
            postcard::from_bytes::<ReduceLrOnPlateauConfig>(&bytes).unwrap(),
            config
        );
    }
    let json = serde_json::to_string(&OneCycleLr::new([0.1, 0.2], 5)).unwrap();
    assert!(json.contains(r#""max_lr":[0.1,0.2]"#), "{json}");

    // A scheduler's per-group state, exactly, through both kinds of format.
    let mut opt = three_groups();
    let mut sched: Scheduler<OneCycleLr> = OneCycleLr::new([0.1, 0.01, 0.5], 20)
        .attach(&mut opt)
        .unwrap();
    for _ in 0..7 {
        sched.step(&mut opt).unwrap();
    }
    let state = sched.state();
    let json: SchedulerState =
        serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    let bytes: SchedulerState =
        postcard::from_bytes(&postcard::to_allocvec(&state).unwrap()).unwrap();
    assert_eq!((&json, &bytes), (&state, &state));
    let saved: OptimizerState<f64> = opt.save_state();
    let mut opt2 = three_groups();
    let mut resumed = OneCycleLr::new([0.1, 0.01, 0.5], 20)
        .attach(&mut opt2)
        .unwrap();
    opt2.load_state(saved).unwrap();
    resumed.restore(json, &mut opt2).unwrap();
    for _ in 7..20 {
        assert_eq!(
            resumed.step(&mut opt2).unwrap().to_bits(),
            sched.step(&mut opt).unwrap().to_bits()
        );
        assert_eq!(resumed.last_lrs(), sched.last_lrs());
        assert_eq!(resumed.last_momentums(), sched.last_momentums());
    }
}
