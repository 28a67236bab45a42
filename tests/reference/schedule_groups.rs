//! The schedules on optimizers with several parameter groups, against PyTorch 2.15
//! (`group_cases` of `tests/fixtures/schedules.json`, from `generate_schedules.py`): each group
//! scheduled from its own base learning rate, the per-group arguments PyTorch takes as lists
//! (`OneCycleLR`'s `max_lr`, `CyclicLR`'s bounds, the momenta of both, `ReduceLROnPlateau`'s
//! `min_lr`), an absolute `eta_min` the same for every group, and groups added after some
//! steps. Every group's learning rate (and momentum) is compared after every step, bit for bit.

use ndarray_optim::schedule::{Schedule, Scheduler};
use ndarray_optim::{
    AdamConfig, AdamWConfig, Optimizer, OptimizerConfig, ParamGroup, ParamGroups, SgdConfig,
};
use serde_json::{Map, Value};

use super::schedules::{build, plateau};
use crate::common::json::{fixture, floats};

struct GroupCase {
    name: String,
    optimizer: Value,
    scheduler: Value,
    /// `lrs[k][g]`: group `g`'s learning rate after attaching (`k = 0`) and after step `k`.
    lrs: Vec<Vec<f64>>,
    momentums: Option<Vec<Vec<f64>>>,
    metrics: Option<Vec<f64>>,
    /// A group added after `at` steps: `(at, its spec)`.
    add_group: Option<(usize, Value)>,
}

fn rows(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().expect("rows").iter().map(floats).collect()
}

fn load() -> Vec<GroupCase> {
    let json = fixture("schedules.json");
    assert_eq!(json["torch_version"].as_str(), Some("2.15.0+cu132"));
    json["group_cases"]
        .as_array()
        .expect("group_cases")
        .iter()
        .map(|c| GroupCase {
            name: c["name"].as_str().expect("name").to_string(),
            optimizer: c["optimizer"].clone(),
            scheduler: c["scheduler"].clone(),
            lrs: rows(&c["lrs"]),
            momentums: c.get("momentums").map(rows),
            metrics: c.get("metrics").map(floats),
            add_group: c
                .get("add_group")
                .map(|a| (a["at"].as_u64().expect("at") as usize, a["group"].clone())),
        })
        .collect()
}

fn kw_f(kwargs: &Map<String, Value>, key: &str) -> Option<f64> {
    kwargs.get(key).map(|v| v.as_f64().expect(key))
}

fn betas(v: &Value) -> (f64, f64) {
    let b = floats(v);
    (b[0], b[1])
}

/// The optimizer's defaults (PyTorch's keyword arguments).
fn config(spec: &Value) -> OptimizerConfig {
    let kw = spec["kwargs"].as_object().expect("kwargs");
    let lr = kw_f(kw, "lr").expect("lr");
    match spec["type"].as_str().expect("type") {
        "SGD" => SgdConfig::default()
            .lr(lr)
            .momentum(kw_f(kw, "momentum").unwrap_or(0.0))
            .into(),
        "Adam" => {
            let b = kw.get("betas").map_or((0.9, 0.999), betas);
            AdamConfig::default().lr(lr).betas(b).into()
        }
        "AdamW" => AdamWConfig::default().lr(lr).into(),
        other => panic!("optimizer {other} is not mapped"),
    }
}

/// PyTorch's group dict as a `ParamGroup`: its absolute `lr`, its `momentum` or `betas`.
fn param_group(defaults: &OptimizerConfig, spec: &Value) -> ParamGroup {
    let g = spec.as_object().expect("group");
    let mut group = ParamGroup::default().lr(kw_f(g, "lr").expect("a group's lr"));
    if let Some(m) = kw_f(g, "momentum") {
        group = group.momentum(m);
    }
    if let Some(b) = g.get("betas") {
        let own = match defaults {
            OptimizerConfig::Adam(adam) => adam.clone().betas(betas(b)),
            other => panic!("betas on {other:?}"),
        };
        group = group.hyperparameters(own);
    }
    group
}

fn optimizer(spec: &Value) -> Box<dyn Optimizer<f64>> {
    let defaults = config(spec);
    let groups: Vec<ParamGroup> = spec["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| param_group(&defaults, g))
        .collect();
    let assignment = (0..groups.len()).collect();
    let mut opt = defaults.build::<f64>().unwrap();
    opt.set_param_groups(Some(ParamGroups::new(groups, assignment).unwrap()))
        .unwrap();
    opt
}

fn add_group(case: &GroupCase, opt: &mut dyn Optimizer<f64>) {
    let (_, spec) = case.add_group.as_ref().expect("a group to add");
    let group = param_group(&config(&case.optimizer), spec);
    opt.add_param_group(group, 1).unwrap();
}

fn lrs_of(opt: &dyn Optimizer<f64>) -> Vec<f64> {
    (0..opt.group_count())
        .map(|g| opt.group_learning_rate(g).unwrap())
        .collect()
}

fn momentums_of(opt: &dyn Optimizer<f64>) -> Vec<f64> {
    (0..opt.group_count())
        .map(|g| opt.group_momentum(g).unwrap())
        .collect()
}

/// PyTorch's learning rate, except where it is negative: linear OneCycleLR at its last step,
/// which an optimizer here cannot hold (0, as documented).
fn expected(case: &GroupCase, k: usize) -> Vec<f64> {
    let last = case.lrs.len() - 1;
    case.lrs[k]
        .iter()
        .map(|&want| {
            if want < 0.0 {
                assert!(
                    case.scheduler["type"] == "OneCycleLR" && k == last,
                    "{}: PyTorch gives a negative lr at step {k}",
                    case.name
                );
                0.0
            } else {
                want
            }
        })
        .collect()
}

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// The stateful run: every group's learning rates and momenta after attaching and after each
/// step, also checking `last_lrs`/`last_momentums` against the optimizer.
fn run(case: &GroupCase) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let mut opt = optimizer(&case.optimizer);
    let mut sched: Scheduler = build(&case.scheduler).attach(&mut opt).unwrap();
    let (mut lrs, mut momentums) = (vec![lrs_of(&*opt)], vec![momentums_of(&*opt)]);
    for k in 1..case.lrs.len() {
        if case.add_group.as_ref().is_some_and(|(at, _)| *at == k - 1) {
            add_group(case, &mut *opt);
            assert_eq!(sched.add_groups(&opt).unwrap(), 1);
        }
        let lr = sched.step(&mut opt).unwrap();
        let now = lrs_of(&*opt);
        assert_eq!(lr.to_bits(), now[0].to_bits());
        assert_eq!(
            bits(sched.last_lrs()),
            bits(&now),
            "{}: last_lrs",
            case.name
        );
        if let Some(m) = sched.last_momentums() {
            assert_eq!(bits(m), bits(&momentums_of(&*opt)), "{}", case.name);
        }
        lrs.push(now);
        momentums.push(momentums_of(&*opt));
    }
    (lrs, momentums)
}

#[test]
fn fixture_covers_the_per_group_semantics() {
    let cases = load();
    let kinds: Vec<&str> = cases
        .iter()
        .map(|c| c.scheduler["type"].as_str().unwrap())
        .collect();
    for kind in [
        "StepLR",
        "MultiStepLR",
        "ConstantLR",
        "LinearLR",
        "ExponentialLR",
        "PolynomialLR",
        "CosineAnnealingLR",
        "CosineAnnealingWarmRestarts",
        "CyclicLR",
        "OneCycleLR",
        "ReduceLROnPlateau",
        "LambdaLR",
        "MultiplicativeLR",
        "SequentialLR",
        "ChainedScheduler",
        "HFCosine",
    ] {
        assert!(kinds.contains(&kind), "no group case for {kind}");
    }
    let list =
        |c: &GroupCase, key: &str| c.scheduler["kwargs"].get(key).is_some_and(Value::is_array);
    let has = |kind: &str, key: &str| {
        cases
            .iter()
            .any(|c| c.scheduler["type"] == kind && list(c, key))
    };
    assert!(has("OneCycleLR", "max_lr") && has("OneCycleLR", "max_momentum"));
    assert!(has("CyclicLR", "base_lr") && has("CyclicLR", "max_lr"));
    assert!(has("CyclicLR", "base_momentum"));
    assert!(has("ReduceLROnPlateau", "min_lr"));
    assert!(cases.iter().filter(|c| c.add_group.is_some()).count() >= 3);
    for case in &cases {
        let groups = case.optimizer["groups"].as_array().unwrap().len();
        assert!(groups >= 2 || case.add_group.is_some(), "{}", case.name);
        assert_eq!(case.lrs.len(), 46, "{}", case.name);
    }
}

#[test]
fn every_group_matches_pytorch_bit_for_bit() {
    let (mut compared, mut checked) = (0usize, 0usize);
    for case in load().iter().filter(|c| c.metrics.is_none()) {
        let (lrs, momentums) = run(case);
        for k in 0..case.lrs.len() {
            assert_eq!(
                bits(&lrs[k]),
                bits(&expected(case, k)),
                "{}: epoch {k}: {:?}, PyTorch {:?}",
                case.name,
                lrs[k],
                case.lrs[k]
            );
            compared += lrs[k].len();
            if let Some(want) = &case.momentums {
                assert_eq!(
                    bits(&momentums[k]),
                    bits(&want[k]),
                    "{}: epoch {k}: momentum {:?}, PyTorch {:?}",
                    case.name,
                    momentums[k],
                    want[k]
                );
                compared += want[k].len();
            }
        }
        checked += 1;
    }
    assert!(checked >= 20, "{checked} cases");
    println!("groups: {compared} learning rates and momenta bit-identical to PyTorch's");
}

#[test]
fn every_group_pure_form_matches_pytorch() {
    let mut worst = 0.0f64;
    let cases = load();
    for case in cases
        .iter()
        .filter(|c| c.metrics.is_none() && c.add_group.is_none())
    {
        let mut opt = optimizer(&case.optimizer);
        let sched: Scheduler = build(&case.scheduler).attach(&mut opt).unwrap();
        for (k, want) in (0..case.lrs.len()).map(|k| (k, expected(case, k))) {
            for (g, &want) in want.iter().enumerate() {
                let pure = sched.group_lr(g, k as u64).unwrap();
                assert!(
                    (pure - want).abs() <= 1e-12 * want.abs(),
                    "{}: group {g}, lr({k}) = {pure:e}, PyTorch {want:e}",
                    case.name
                );
                worst = worst.max((pure - want).abs() / want.abs().max(f64::MIN_POSITIVE));
                if let Some(m) = &case.momentums {
                    let got = sched.group_momentum(g, k as u64).unwrap().unwrap();
                    assert!((got - m[k][g]).abs() <= 1e-12, "{}: momentum", case.name);
                }
            }
        }
        // Group 0's pure form is the unresolved schedule's, from its base learning rate.
        let schedule = build(&case.scheduler);
        for k in 0..case.lrs.len() as u64 {
            assert_eq!(
                schedule.lr(sched.base_lr(), k).unwrap().to_bits(),
                sched.lr(k).unwrap().to_bits()
            );
        }
    }
    println!("groups, pure form: worst relative error {worst:e}");
}

#[test]
fn reduce_on_plateau_matches_pytorch_in_every_group() {
    let mut checked = 0;
    for case in load().iter().filter(|c| c.metrics.is_some()) {
        let metrics = case.metrics.as_ref().unwrap();
        let mut opt = optimizer(&case.optimizer);
        let mut sched = plateau(&case.scheduler);
        assert_eq!(bits(&lrs_of(&*opt)), bits(&case.lrs[0]), "{}", case.name);
        for (k, &metric) in metrics.iter().enumerate() {
            if case.add_group.as_ref().is_some_and(|(at, _)| *at == k) {
                add_group(case, &mut *opt); // taken on by itself: min_lr is one value
            }
            sched.step(&mut opt, metric).unwrap();
            assert_eq!(
                bits(&lrs_of(&*opt)),
                bits(&case.lrs[k + 1]),
                "{}: step {} (metric {metric}): {:?}, PyTorch {:?}",
                case.name,
                k + 1,
                lrs_of(&*opt),
                case.lrs[k + 1]
            );
            assert_eq!(bits(sched.last_lrs().unwrap()), bits(&case.lrs[k + 1]));
        }
        checked += 1;
    }
    assert!(checked >= 3);
}

/// Saved after some steps and restored into a fresh optimizer and scheduler, every group
/// continues bit for bit.
#[test]
fn restored_groups_continue_exactly() {
    for case in load()
        .iter()
        .filter(|c| c.metrics.is_none() && c.add_group.is_none())
    {
        let (uninterrupted, _) = run(case);
        for split in [1, 20] {
            let mut opt = optimizer(&case.optimizer);
            let mut sched: Scheduler = build(&case.scheduler).attach(&mut opt).unwrap();
            for _ in 0..split {
                sched.step(&mut opt).unwrap();
            }
            let state = sched.state();
            assert_eq!(state.base_lrs.len(), opt.group_count());
            let mut opt2 = optimizer(&case.optimizer);
            let mut resumed: Scheduler = build(&case.scheduler).attach(&mut opt2).unwrap();
            resumed.restore(state.clone(), &mut opt2).unwrap();
            assert_eq!(resumed.state(), state);
            assert_eq!(bits(&lrs_of(&*opt2)), bits(&uninterrupted[split]));
            for (k, want) in uninterrupted.iter().enumerate().skip(split + 1) {
                resumed.step(&mut opt2).unwrap();
                assert_eq!(
                    bits(&lrs_of(&*opt2)),
                    bits(want),
                    "{}: resumed after {split}, epoch {k}",
                    case.name
                );
            }
        }
    }
}

/// The bug of the issue: two groups and `eta_min = 1e-4` used to scale `eta_min` by the
/// group's multiplier and end with the second group 88 % off. Now both end at `eta_min`.
#[test]
fn eta_min_is_absolute_in_every_group() {
    let case = load()
        .into_iter()
        .find(|c| c.name == "groups_two_cosine_eta_min")
        .unwrap();
    let (lrs, _) = run(&case);
    assert_eq!(bits(lrs.last().unwrap()), bits(&[1e-4, 1e-4]));
}
