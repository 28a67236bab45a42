//! A scheduler's step allocates nothing, with or without parameter groups: its working space
//! is made when attaching (for `ReduceLrOnPlateau`, on its first step), and the optimizer's
//! setters reuse their storage (made by the first change of a learning rate, which attaching
//! does).

use super::allocations;

use ndarray::array;
use ndarray_optim::schedule::{
    ChainedScheduler, CosineAnnealingLr, CyclicLr, ExponentialLr, LinearLr, OneCycleLr,
    ReduceLrOnPlateauConfig, Schedule, SequentialLr, StepLr, Warmup,
};
use ndarray_optim::{Adam, Lamb, Optimizer, ParamGroup, ParamGroups, SgdConfig};

fn schedules() -> Vec<Box<dyn Schedule>> {
    vec![
        Box::new(StepLr::new(3).gamma(0.5)),
        Box::new(CosineAnnealingLr::new(20).eta_min(1e-4)),
        Box::new(Warmup::cosine(4, 30)),
        Box::new(OneCycleLr::new([0.1, 0.01, 0.05], 30).max_momentum([0.95, 0.9, 0.9])),
        Box::new(
            CyclicLr::new([1e-3, 1e-4, 1e-3], [0.1, 0.01, 0.05])
                .step_size_up(3)
                .base_momentum([0.85, 0.8, 0.7]),
        ),
        Box::new(SequentialLr::new(
            vec![
                Box::new(LinearLr::default().start_factor(0.1)),
                Box::new(CosineAnnealingLr::new(20)),
            ],
            vec![5],
        )),
        Box::new(ChainedScheduler::new(vec![
            Box::new(CosineAnnealingLr::new(20).eta_min(1e-4)),
            Box::new(ExponentialLr::new(0.99)),
        ])),
    ]
}

/// Three groups (a multiple of the optimizer's learning rate, absolute ones, one with its own
/// momentum), or none.
fn optimizers(grouped: bool) -> Vec<Box<dyn Optimizer<f64>>> {
    let mut opts: Vec<Box<dyn Optimizer<f64>>> = vec![
        Box::new(
            SgdConfig::default()
                .lr(0.1)
                .momentum(0.9)
                .build::<f64>()
                .unwrap(),
        ),
        Box::new(Adam::new(1e-3).unwrap()),
        Box::new(Lamb::new(1e-3).unwrap()),
    ];
    if grouped {
        for opt in &mut opts {
            let groups = vec![
                ParamGroup::default().lr_scale(0.5),
                ParamGroup::default().lr(1e-4).momentum(0.8),
                ParamGroup::default().lr(1e-2),
            ];
            opt.set_param_groups(Some(ParamGroups::new(groups, vec![0, 1, 2]).unwrap()))
                .unwrap();
        }
    }
    opts
}

#[test]
fn scheduler_steps_allocate_nothing() {
    for grouped in [false, true] {
        for mut opt in optimizers(grouped) {
            for schedule in schedules() {
                if !grouped && schedule.for_group(0, 1).is_err() {
                    continue; // the per-group lists are for three groups
                }
                let name = schedule.name();
                let mut sched = schedule.attach(&mut opt).unwrap();
                for epoch in 1..=25 {
                    let n = allocations(|| {
                        sched.step(&mut opt).unwrap();
                    });
                    assert_eq!(
                        n,
                        0,
                        "{name} on {} (groups: {grouped}): {n} allocations at step {epoch}",
                        opt.name()
                    );
                }
                let n = allocations(|| {
                    sched.step_if_stepped(&mut opt).unwrap();
                });
                assert_eq!(n, 0, "{name}: step_if_stepped");
            }
        }
    }
}

#[test]
fn plateau_steps_allocate_nothing_after_the_first() {
    for grouped in [false, true] {
        for mut opt in optimizers(grouped) {
            let mut plateau = ReduceLrOnPlateauConfig::default()
                .patience(0)
                .factor(0.9)
                .min_lr(1e-6)
                .build()
                .unwrap();
            plateau.step(&mut opt, 1.0).unwrap(); // makes room for the groups' learning rates
            // The first reduction: the optimizer's first change of learning rate since it was
            // built makes its own reused storage.
            plateau.step(&mut opt, 2.0).unwrap();
            for k in 0..20 {
                let n = allocations(|| {
                    plateau.step(&mut opt, 1.0 + f64::from(k)).unwrap(); // worse: reduced
                });
                assert_eq!(n, 0, "{} (groups: {grouped}): step {k}", opt.name());
            }
            assert!(opt.group_learning_rate(0).unwrap() < 0.1);
        }
    }
}

#[test]
fn a_scheduler_around_training_allocates_nothing() {
    // The usual loop: an optimizer step, then a scheduler step, over groups.
    let mut opt = optimizers(true).remove(1);
    let (mut a, mut b, mut c) = (array![1.0_f64, 2.0], array![0.5_f64], array![-1.0_f64]);
    let (ga, gb, gc) = (array![0.1_f64, 0.2], array![0.3_f64], array![-0.1_f64]);
    let mut sched = Warmup::cosine(3, 20).attach(&mut opt).unwrap();
    opt.step(&mut (&mut a, &mut b, &mut c), &(&ga, &gb, &gc))
        .unwrap(); // makes the state
    sched.step(&mut opt).unwrap();
    for _ in 0..10 {
        let n = allocations(|| {
            opt.step(&mut (&mut a, &mut b, &mut c), &(&ga, &gb, &gc))
                .unwrap();
            sched.step_if_stepped(&mut opt).unwrap();
        });
        assert_eq!(n, 0);
    }
    assert_eq!(sched.last_epoch(), 11);
}
