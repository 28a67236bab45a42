//! The learning-rate schedules against sequences recorded from PyTorch 2.15
//! (`tests/fixtures/generate_schedules.py` → `tests/fixtures/schedules.json`), their error
//! cases, and saving/restoring their state.
//!
//! Every recorded learning rate (and momentum) is matched within 1e-12 relative, by the
//! stateful form (`attach` then `step`) and by the pure form (`lr(epoch)`).

use std::collections::BTreeMap;

use ndarray_optim::schedule::{
    AnnealStrategy, ChainedScheduler, ConstantLr, CosineAnnealingLr, CosineAnnealingWarmRestarts,
    CyclicLr, CyclicMode, ExponentialLr, LambdaLr, LinearLr, MultiStepLr, MultiplicativeLr,
    OneCycleLr, PerGroup, PlateauMode, PlateauState, PolynomialLr, ReduceLrOnPlateau,
    ReduceLrOnPlateauConfig, ScaleMode, Schedule, Scheduler, SchedulerState, SequentialLr, StepLr,
    SwaLr, ThresholdMode, Warmup,
};
use ndarray_optim::{Adadelta, Adagrad, Adam, AdamConfig, Error, Optimizer, Sgd, SgdConfig};
use serde_json::{Map, Value};

use crate::common::json::{fixture, floats};

const TOLERANCE: f64 = 1e-12;

// ---------------------------------------------------------------------------------------------
// The fixture and what the tests build from it

struct Case {
    name: String,
    optimizer: Value,
    scheduler: Value,
    steps: usize,
    lrs: Vec<f64>,
    momentums: Option<Vec<f64>>,
    metrics: Option<Vec<f64>>,
    epochs: Option<Vec<f64>>,
    /// Another schedule stepped first, for `steps` epochs (SWALR in PyTorch's recipe).
    before: Option<Value>,
}

fn load() -> Vec<Case> {
    let json = fixture("schedules.json");
    json["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().expect("name").to_string(),
            optimizer: c["optimizer"].clone(),
            scheduler: c["scheduler"].clone(),
            steps: c["steps"].as_u64().expect("steps") as usize,
            lrs: floats(&c["lrs"]),
            momentums: c.get("momentums").map(floats),
            metrics: c.get("metrics").map(floats),
            epochs: c.get("epochs").map(floats),
            before: c.get("before").cloned(),
        })
        .collect()
}

/// The lambdas the generator names (`LAMBDAS` there).
fn lambda(name: &str) -> fn(u64) -> f64 {
    match name {
        "pow_0.95" => |k| 0.95f64.powf(k as f64),
        "inv_sqrt" => |k| 1.0 / (1.0 + k as f64).sqrt(),
        "const_0.95" => |_| 0.95,
        "every_5_0.9" => |k| if k % 5 == 0 { 0.9 } else { 1.0 },
        "grow_then_decay" => |k| if k < 10 { 1.02 } else { 0.97 },
        other => panic!("unknown lambda {other}"),
    }
}

/// The scale functions the generator names (`SCALE_FNS` there).
fn scale_fn(name: &str) -> fn(f64) -> f64 {
    match name {
        "half_pow_tenth" => |x| 0.5f64.powf(x / 10.0),
        "inv" => |x| 1.0 / x,
        other => panic!("unknown scale_fn {other}"),
    }
}

/// A PyTorch "float or list" argument.
fn kw_per_group(kwargs: &Map<String, Value>, key: &str) -> Option<PerGroup> {
    kwargs.get(key).map(|v| match v.as_array() {
        Some(_) => PerGroup::Each(floats(v)),
        None => PerGroup::All(v.as_f64().expect(key)),
    })
}

fn kw_f(kwargs: &Map<String, Value>, key: &str, default: f64) -> f64 {
    kwargs.get(key).map_or(default, |v| v.as_f64().expect(key))
}

fn kw_u(kwargs: &Map<String, Value>, key: &str, default: u64) -> u64 {
    kwargs.get(key).map_or(default, |v| v.as_u64().expect(key))
}

fn kw_s<'a>(kwargs: &'a Map<String, Value>, key: &str, default: &'a str) -> &'a str {
    kwargs.get(key).map_or(default, |v| v.as_str().expect(key))
}

fn milestones(kwargs: &Map<String, Value>) -> Vec<u64> {
    kwargs["milestones"]
        .as_array()
        .expect("milestones")
        .iter()
        .map(|m| m.as_u64().expect("milestone"))
        .collect()
}

/// Our schedule for a PyTorch class name and its keyword arguments, with PyTorch's defaults for
/// the arguments not given (the crate's own: each optional argument is set only when the
/// fixture gives it).
pub(super) fn build(spec: &Value) -> Box<dyn Schedule> {
    let kind = spec["type"].as_str().expect("type");
    let kw = spec["kwargs"].as_object().expect("kwargs");
    let f = |key: &str| kw.get(key).map(|v| v.as_f64().expect(key));
    let u = |key: &str| kw.get(key).map(|v| v.as_u64().expect(key));
    let b = |key: &str| kw.get(key).map(|v| v.as_bool().expect(key));
    let per_group = |key: &str| kw_per_group(kw, key).unwrap_or(PerGroup::All(f64::NAN));
    match kind {
        "StepLR" => {
            let mut s = StepLr::new(kw_u(kw, "step_size", 0));
            if let Some(gamma) = f("gamma") {
                s = s.gamma(gamma);
            }
            Box::new(s)
        }
        "MultiStepLR" => {
            let mut s = MultiStepLr::new(milestones(kw));
            if let Some(gamma) = f("gamma") {
                s = s.gamma(gamma);
            }
            Box::new(s)
        }
        "ConstantLR" => {
            let mut s = ConstantLr::default();
            if let Some(factor) = f("factor") {
                s = s.factor(factor);
            }
            if let Some(total_iters) = u("total_iters") {
                s = s.total_iters(total_iters);
            }
            Box::new(s)
        }
        "LinearLR" => {
            let mut s = LinearLr::default();
            if let Some(start_factor) = f("start_factor") {
                s = s.start_factor(start_factor);
            }
            if let Some(end_factor) = f("end_factor") {
                s = s.end_factor(end_factor);
            }
            if let Some(total_iters) = u("total_iters") {
                s = s.total_iters(total_iters);
            }
            Box::new(s)
        }
        "ExponentialLR" => Box::new(ExponentialLr::new(kw_f(kw, "gamma", f64::NAN))),
        "PolynomialLR" => {
            let mut s = PolynomialLr::default();
            if let Some(total_iters) = u("total_iters") {
                s = s.total_iters(total_iters);
            }
            if let Some(power) = f("power") {
                s = s.power(power);
            }
            Box::new(s)
        }
        "CosineAnnealingLR" => {
            let mut s = CosineAnnealingLr::new(kw_u(kw, "T_max", 0));
            if let Some(eta_min) = f("eta_min") {
                s = s.eta_min(eta_min);
            }
            Box::new(s)
        }
        "CosineAnnealingWarmRestarts" => Box::new(warm_restarts(kw)),
        "CyclicLR" => {
            let mut s = CyclicLr::new(per_group("base_lr"), per_group("max_lr"));
            if let Some(up) = u("step_size_up") {
                s = s.step_size_up(up);
            }
            if let Some(down) = u("step_size_down") {
                s = s.step_size_down(Some(down));
            }
            if let Some(cycle) = b("cycle_momentum") {
                s = s.cycle_momentum(cycle);
            }
            if let Some(m) = kw_per_group(kw, "base_momentum") {
                s = s.base_momentum(m);
            }
            if let Some(m) = kw_per_group(kw, "max_momentum") {
                s = s.max_momentum(m);
            }
            if let Some(gamma) = f("gamma") {
                s = s.gamma(gamma);
            }
            s = s.mode(match kw_s(kw, "mode", "triangular") {
                "triangular" => CyclicMode::Triangular,
                "triangular2" => CyclicMode::Triangular2,
                "exp_range" => CyclicMode::ExpRange,
                other => panic!("mode {other}"),
            });
            if let Some(name) = kw.get("scale_fn") {
                s = s.scale_fn(scale_fn(name.as_str().unwrap()));
                s = s.scale_mode(match kw_s(kw, "scale_mode", "cycle") {
                    "cycle" => ScaleMode::Cycle,
                    _ => ScaleMode::Iterations,
                });
            }
            Box::new(s)
        }
        "OneCycleLR" => {
            let max_lr = per_group("max_lr");
            let mut s = match u("total_steps") {
                Some(t) => OneCycleLr::new(max_lr, t),
                None => OneCycleLr::from_epochs(
                    max_lr,
                    kw_u(kw, "epochs", 0),
                    kw_u(kw, "steps_per_epoch", 0),
                ),
            };
            if let Some(pct_start) = f("pct_start") {
                s = s.pct_start(pct_start);
            }
            if kw.contains_key("anneal_strategy") {
                s = s.anneal_strategy(match kw_s(kw, "anneal_strategy", "cos") {
                    "cos" => AnnealStrategy::Cos,
                    _ => AnnealStrategy::Linear,
                });
            }
            if let Some(cycle) = b("cycle_momentum") {
                s = s.cycle_momentum(cycle);
            }
            if let Some(m) = kw_per_group(kw, "base_momentum") {
                s = s.base_momentum(m);
            }
            if let Some(m) = kw_per_group(kw, "max_momentum") {
                s = s.max_momentum(m);
            }
            if let Some(div) = f("div_factor") {
                s = s.div_factor(div);
            }
            if let Some(div) = f("final_div_factor") {
                s = s.final_div_factor(div);
            }
            if let Some(three) = b("three_phase") {
                s = s.three_phase(three);
            }
            Box::new(s)
        }
        "LambdaLR" => Box::new(LambdaLr::new(lambda(kw_s(kw, "lr_lambda", "")))),
        "MultiplicativeLR" => Box::new(MultiplicativeLr::new(lambda(kw_s(kw, "lr_lambda", "")))),
        "SequentialLR" => {
            let children = kw["schedulers"]
                .as_array()
                .unwrap()
                .iter()
                .map(build)
                .collect();
            Box::new(SequentialLr::new(children, milestones(kw)))
        }
        "ChainedScheduler" => {
            let children = kw["schedulers"]
                .as_array()
                .unwrap()
                .iter()
                .map(build)
                .collect();
            Box::new(ChainedScheduler::new(children))
        }
        "SWALR" => {
            let mut s = SwaLr::new(kw_f(kw, "swa_lr", f64::NAN));
            if let Some(epochs) = u("anneal_epochs") {
                s = s.anneal_epochs(epochs);
            }
            if kw.contains_key("anneal_strategy") {
                s = s.anneal_strategy(match kw_s(kw, "anneal_strategy", "cos") {
                    "cos" => AnnealStrategy::Cos,
                    _ => AnnealStrategy::Linear,
                });
            }
            Box::new(s)
        }
        "HFCosine" => Box::new(Warmup::cosine(kw_u(kw, "warmup", 0), kw_u(kw, "total", 0))),
        "HFLinear" => Box::new(Warmup::linear(kw_u(kw, "warmup", 0), kw_u(kw, "total", 0))),
        other => panic!("scheduler {other} is not mapped"),
    }
}

fn warm_restarts(kw: &Map<String, Value>) -> CosineAnnealingWarmRestarts {
    let mut s = CosineAnnealingWarmRestarts::new(kw_u(kw, "T_0", 0));
    if kw.contains_key("T_mult") {
        s = s.t_mult(kw_u(kw, "T_mult", 1));
    }
    if kw.contains_key("eta_min") {
        s = s.eta_min(kw_f(kw, "eta_min", 0.0));
    }
    s
}

pub(super) fn plateau(spec: &Value) -> ReduceLrOnPlateau {
    let kw = spec["kwargs"].as_object().expect("kwargs");
    let mut config = ReduceLrOnPlateauConfig::default();
    if kw.contains_key("mode") {
        config = config.mode(match kw_s(kw, "mode", "min") {
            "min" => PlateauMode::Min,
            _ => PlateauMode::Max,
        });
    }
    if kw.contains_key("threshold_mode") {
        config = config.threshold_mode(match kw_s(kw, "threshold_mode", "rel") {
            "rel" => ThresholdMode::Rel,
            _ => ThresholdMode::Abs,
        });
    }
    if kw.contains_key("factor") {
        config = config.factor(kw_f(kw, "factor", 0.1));
    }
    if kw.contains_key("patience") {
        config = config.patience(kw_u(kw, "patience", 10));
    }
    if kw.contains_key("threshold") {
        config = config.threshold(kw_f(kw, "threshold", 1e-4));
    }
    if kw.contains_key("cooldown") {
        config = config.cooldown(kw_u(kw, "cooldown", 0));
    }
    if let Some(min_lr) = kw_per_group(kw, "min_lr") {
        config = config.min_lr(min_lr);
    }
    if kw.contains_key("eps") {
        config = config.eps(kw_f(kw, "eps", 1e-8));
    }
    config.build().unwrap()
}

fn optimizer(spec: &Value) -> Box<dyn Optimizer<f64>> {
    let kw = spec["kwargs"].as_object().expect("kwargs");
    match spec["type"].as_str().expect("type") {
        "SGD" => Box::new(
            SgdConfig::default()
                .lr(kw_f(kw, "lr", 1e-3))
                .momentum(kw_f(kw, "momentum", 0.0))
                .build::<f64>()
                .unwrap(),
        ),
        "Adam" => {
            let betas = kw.get("betas").map_or((0.9, 0.999), |b| {
                let b = floats(b);
                (b[0], b[1])
            });
            Box::new(
                AdamConfig::default()
                    .lr(kw_f(kw, "lr", 1e-3))
                    .betas((betas.0, betas.1))
                    .build::<f64>()
                    .unwrap(),
            )
        }
        other => panic!("optimizer {other} is not mapped"),
    }
}

fn kind(case: &Case) -> &str {
    case.scheduler["type"].as_str().unwrap()
}

/// `|got − want| ≤ 1e-12·|want|` (exact when `want` is 0).
fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= TOLERANCE * want.abs()
}

/// PyTorch's learning rate, except where it is negative: linear OneCycleLR at its last step,
/// which an optimizer here cannot hold (it is 0; see the module docs of `schedule`).
fn expected_lr(case: &Case, k: usize) -> f64 {
    let want = case.lrs[k];
    if want < 0.0 {
        assert!(
            kind(case) == "OneCycleLR" && k == case.steps,
            "{}: PyTorch gives a negative lr at step {k}",
            case.name
        );
        return 0.0;
    }
    want
}

/// The stateful run of an epoch/batch-driven case: `(lrs, momentums)` after attaching and after
/// each step.
fn run_stateful(case: &Case) -> (Vec<f64>, Vec<Option<f64>>) {
    let mut opt = optimizer(&case.optimizer);
    let mut sched = build(&case.scheduler).attach(&mut opt).unwrap();
    let mut lrs = vec![opt.learning_rate()];
    let mut momentums = vec![opt.momentum()];
    assert_eq!(sched.last_lr().to_bits(), lrs[0].to_bits());
    for _ in 0..case.steps {
        let lr = sched.step(&mut opt).unwrap();
        assert_eq!(lr.to_bits(), opt.learning_rate().to_bits());
        lrs.push(lr);
        momentums.push(opt.momentum());
    }
    (lrs, momentums)
}

fn is_epoch_driven(case: &Case) -> bool {
    case.metrics.is_none() && case.epochs.is_none() && case.before.is_none()
}

// ---------------------------------------------------------------------------------------------
// Matching PyTorch

#[test]
fn fixture_covers_every_scheduler() {
    let cases = load();
    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for case in &cases {
        *per_kind.entry(kind(case)).or_default() += 1;
        assert!(case.steps >= 40, "{}: only {} steps", case.name, case.steps);
        assert_eq!(case.lrs.len(), case.steps + 1, "{}", case.name);
    }
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
        "HFLinear",
        "SWALR",
    ] {
        let n = per_kind.get(kind).copied().unwrap_or(0);
        assert!(n >= 2, "{kind}: {n} configurations in the fixture");
    }
    let with_momentum = cases.iter().filter(|c| c.momentums.is_some()).count();
    assert!(
        with_momentum >= 8,
        "{with_momentum} cases record the momentum"
    );
}

#[test]
fn stateful_steps_match_pytorch() {
    let mut checked = 0;
    let mut worst = 0.0f64;
    let mut exact = 0usize;
    let mut total = 0usize;
    for case in load().iter().filter(|c| is_epoch_driven(c)) {
        let (lrs, momentums) = run_stateful(case);
        for k in 0..=case.steps {
            let want = expected_lr(case, k);
            assert!(
                close(lrs[k], want),
                "{}: epoch {k}: lr {:e}, PyTorch {want:e}",
                case.name,
                lrs[k]
            );
            worst = worst.max((lrs[k] - want).abs() / want.abs().max(f64::MIN_POSITIVE));
            exact += usize::from(lrs[k].to_bits() == want.to_bits());
            total += 1;
            if let Some(expected) = &case.momentums {
                let got = momentums[k].expect("the optimizer has a momentum");
                assert!(
                    close(got, expected[k]),
                    "{}: epoch {k}: momentum {got:e}, PyTorch {:e}",
                    case.name,
                    expected[k]
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 50, "{checked} cases");
    println!(
        "stateful: {exact}/{total} learning rates bit-identical, worst relative error {worst:e}"
    );
}

#[test]
fn pure_form_matches_pytorch_and_the_stateful_form() {
    let mut worst = 0.0f64;
    for case in load().iter().filter(|c| is_epoch_driven(c)) {
        let (stateful, _) = run_stateful(case);
        let mut opt = optimizer(&case.optimizer);
        let sched = build(&case.scheduler).attach(&mut opt).unwrap();
        for k in 0..=case.steps {
            let pure = sched.lr(k as u64).unwrap();
            let want = expected_lr(case, k);
            assert!(
                close(pure, want),
                "{}: lr({k}) = {pure:e}, PyTorch {want:e}",
                case.name
            );
            assert!(
                close(pure, stateful[k]),
                "{}: lr({k}) = {pure:e}, step gives {:e}",
                case.name,
                stateful[k]
            );
            worst = worst.max((pure - want).abs() / want.abs().max(f64::MIN_POSITIVE));
            if let Some(expected) = &case.momentums {
                let m = sched.momentum(k as u64).unwrap().expect("cycles momentum");
                assert!(close(m, expected[k]), "{}: momentum({k})", case.name);
            }
        }
        // The schedule alone gives the same, from the base learning rate.
        let base = sched.base_lr();
        let schedule = build(&case.scheduler);
        for k in 0..=case.steps {
            assert_eq!(
                schedule.lr(base, k as u64).unwrap().to_bits(),
                sched.lr(k as u64).unwrap().to_bits()
            );
        }
    }
    println!("pure form: worst relative error {worst:e}");
}

/// SWALR in PyTorch's own recipe: built at the start beside another schedule, which steps
/// until SWA starts; from then on SWALR steps and anneals from the learning rate it finds (its
/// recursion inverts its previous interpolation from the optimizer's learning rate), to
/// `swa_lr`. Every learning rate bit-identical to PyTorch's.
#[test]
fn swalr_after_another_schedule_matches_pytorch() {
    let mut checked = 0;
    for case in load().iter().filter(|c| c.before.is_some()) {
        let before = case.before.as_ref().unwrap();
        let switch = before["steps"].as_u64().unwrap() as usize;
        let mut opt = optimizer(&case.optimizer);
        let mut first = build(&before["scheduler"]).attach(&mut opt).unwrap();
        let mut swa = build(&case.scheduler).attach(&mut opt).unwrap();
        assert_eq!(
            opt.learning_rate().to_bits(),
            case.lrs[0].to_bits(),
            "{}",
            case.name
        );
        for k in 0..case.steps {
            let lr = if k < switch {
                first.step(&mut opt).unwrap()
            } else {
                swa.step(&mut opt).unwrap()
            };
            assert_eq!(
                lr.to_bits(),
                case.lrs[k + 1].to_bits(),
                "{}: epoch {}: {lr:e}, PyTorch {:e}",
                case.name,
                k + 1,
                case.lrs[k + 1]
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 2);
}

#[test]
fn reduce_on_plateau_matches_pytorch() {
    let mut checked = 0;
    for case in load().iter().filter(|c| c.metrics.is_some()) {
        let metrics = case.metrics.as_ref().unwrap();
        let mut opt = optimizer(&case.optimizer);
        let mut sched = plateau(&case.scheduler);
        assert_eq!(opt.learning_rate().to_bits(), case.lrs[0].to_bits());
        for (k, &metric) in metrics.iter().enumerate() {
            let lr = sched.step(&mut opt, metric).unwrap();
            assert_eq!(
                lr.to_bits(),
                case.lrs[k + 1].to_bits(),
                "{}: step {} (metric {metric})",
                case.name,
                k + 1
            );
            assert_eq!(opt.learning_rate().to_bits(), lr.to_bits());
        }
        assert_eq!(sched.last_epoch(), case.steps as u64);
        checked += 1;
    }
    assert!(checked >= 4);
}

#[test]
fn warm_restarts_fractional_epochs_match_pytorch() {
    let mut checked = 0;
    for case in load().iter().filter(|c| c.epochs.is_some()) {
        let kw = case.scheduler["kwargs"].as_object().unwrap();
        let schedule = warm_restarts(kw);
        let base = case.optimizer["kwargs"]["lr"].as_f64().unwrap();
        assert_eq!(
            schedule.lr(base, 0).unwrap().to_bits(),
            case.lrs[0].to_bits()
        );
        for (k, &epoch) in case.epochs.as_ref().unwrap().iter().enumerate() {
            let got = schedule.lr_at(base, epoch).unwrap();
            let want = case.lrs[k + 1];
            assert!(
                close(got, want),
                "{}: epoch {epoch}: {got:e} vs {want:e}",
                case.name
            );
        }
        checked += 1;
    }
    assert!(checked >= 2);
}

#[test]
fn one_cycle_last_step_then_error() {
    for case in load().iter().filter(|c| kind(c) == "OneCycleLR") {
        let mut opt = optimizer(&case.optimizer);
        let mut sched = build(&case.scheduler).attach(&mut opt).unwrap();
        for _ in 0..case.steps {
            sched.step(&mut opt).unwrap(); // the last one is k = total_steps, still allowed
        }
        let (lr, momentum) = (opt.learning_rate(), opt.momentum());
        let err = sched.step(&mut opt).unwrap_err();
        assert!(
            matches!(err, Error::ScheduleExhausted { step, total_steps, .. }
                if step == case.steps as u64 + 1 && total_steps == case.steps as u64),
            "{}: {err:?}",
            case.name
        );
        assert_eq!(opt.learning_rate().to_bits(), lr.to_bits());
        assert_eq!(opt.momentum(), momentum);
        assert_eq!(sched.last_epoch(), case.steps as u64);
        assert!(sched.lr(case.steps as u64 + 1).is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// Saving and restoring

#[test]
fn restored_scheduler_continues_exactly() {
    for case in load().iter().filter(|c| is_epoch_driven(c)) {
        let (uninterrupted, momentums) = run_stateful(case);
        for split in [0, 1, case.steps / 2, case.steps] {
            let mut opt = optimizer(&case.optimizer);
            let mut sched = build(&case.scheduler).attach(&mut opt).unwrap();
            for _ in 0..split {
                sched.step(&mut opt).unwrap();
            }
            let state = sched.state();
            assert_eq!(state.last_epoch, split as u64);

            // A new optimizer and a new scheduler, as in a resumed process.
            let mut opt2 = optimizer(&case.optimizer);
            let mut resumed = build(&case.scheduler).attach(&mut opt2).unwrap();
            resumed.restore(state.clone(), &mut opt2).unwrap();
            assert_eq!(resumed.state(), state);
            assert_eq!(
                opt2.learning_rate().to_bits(),
                uninterrupted[split].to_bits()
            );
            for k in split + 1..=case.steps {
                let lr = resumed.step(&mut opt2).unwrap();
                assert_eq!(
                    lr.to_bits(),
                    uninterrupted[k].to_bits(),
                    "{}: resumed after {split}, epoch {k}",
                    case.name
                );
                assert_eq!(opt2.momentum(), momentums[k], "{}: epoch {k}", case.name);
            }
        }
    }
}

#[test]
fn restored_plateau_continues_exactly() {
    for case in load().iter().filter(|c| c.metrics.is_some()) {
        let metrics = case.metrics.as_ref().unwrap();
        for split in [0, 7, metrics.len() / 2] {
            let mut opt = optimizer(&case.optimizer);
            let mut sched = plateau(&case.scheduler);
            for &m in &metrics[..split] {
                sched.step(&mut opt, m).unwrap();
            }
            let mut opt2 = optimizer(&case.optimizer);
            let mut resumed = plateau(&case.scheduler);
            resumed.restore(sched.state(), &mut opt2).unwrap();
            assert_eq!(resumed, sched);
            for (k, &m) in metrics.iter().enumerate().skip(split) {
                let lr = resumed.step(&mut opt2, m).unwrap();
                assert_eq!(
                    lr.to_bits(),
                    case.lrs[k + 1].to_bits(),
                    "{}: {k}",
                    case.name
                );
            }
        }
    }
}

#[test]
fn restore_rejects_invalid_states_and_changes_nothing() {
    let mut opt = Sgd::<f64>::new(0.1).unwrap();
    let mut sched = StepLr::new(2).gamma(0.5).attach(&mut opt).unwrap();
    sched.step(&mut opt).unwrap();
    let good = sched.state();
    let bad_states: Vec<SchedulerState> = vec![
        SchedulerState {
            last_lrs: vec![f64::NAN],
            ..good.clone()
        },
        SchedulerState {
            last_lrs: vec![-0.1],
            ..good.clone()
        },
        SchedulerState {
            base_lrs: vec![f64::INFINITY],
            ..good.clone()
        },
        SchedulerState {
            last_momentums: Some(vec![0.9]),
            ..good.clone()
        }, // StepLR cycles none
    ];
    for state in bad_states {
        let err = sched.restore(state.clone(), &mut opt).unwrap_err();
        assert!(
            matches!(err, Error::InvalidHyperparameter { .. }),
            "{state:?}: {err:?}"
        );
        assert_eq!(sched.state(), good);
        assert_eq!(opt.learning_rate(), 0.1);
    }

    // A OneCycleLR state past its end, and one without its momentum.
    let mut opt = Sgd::<f64>::new(0.1).unwrap();
    let mut one = Adam::<f64>::new(1e-3).unwrap();
    let mut cycle = OneCycleLr::new(0.1, 10).attach(&mut one).unwrap();
    let good = cycle.state();
    let late = SchedulerState {
        last_epoch: 11,
        ..good.clone()
    };
    assert!(matches!(
        cycle.restore(late, &mut opt),
        Err(Error::ScheduleExhausted { step: 11, .. })
    ));
    let no_momentum = SchedulerState {
        last_momentums: None,
        ..good.clone()
    };
    assert!(cycle.restore(no_momentum, &mut opt).is_err());
    // A momentum Adam refuses: nothing changes, the learning rate included.
    let (lr, beta1) = (one.learning_rate(), one.momentum());
    let refused = SchedulerState {
        last_momentums: Some(vec![1.0]),
        last_lrs: vec![0.5],
        ..good.clone()
    };
    assert!(matches!(
        cycle.restore(refused, &mut one),
        Err(Error::InvalidHyperparameter { .. })
    ));
    assert_eq!((one.learning_rate(), one.momentum()), (lr, beta1));
    assert_eq!(cycle.state(), good);

    // Checking the epoch takes O(1), even for a schedule whose pure form replays every step.
    let chained = ChainedScheduler::new(vec![Box::new(ExponentialLr::new(0.9))]);
    let mut fresh = Sgd::<f64>::new(0.1).unwrap();
    let mut sched = chained.attach(&mut fresh).unwrap();
    let far = SchedulerState {
        last_epoch: u64::MAX - 1,
        ..sched.state()
    };
    sched.restore(far, &mut fresh).unwrap();
    assert!((sched.step(&mut fresh).unwrap() - 0.09).abs() < 1e-15);
    assert!(matches!(
        sched.step(&mut fresh),
        Err(Error::ScheduleExhausted { .. })
    ));

    // ReduceLrOnPlateau.
    let mut plateau = ReduceLrOnPlateau::default();
    plateau.step(&mut opt, 1.0).unwrap();
    let good = plateau.state();
    let nan_best = PlateauState {
        best: Some(f64::NAN),
        ..good.clone()
    };
    assert!(plateau.restore(nan_best, &mut opt).is_err());
    let bad_lr = PlateauState {
        last_lrs: Some(vec![-1.0]),
        ..good.clone()
    };
    assert!(plateau.restore(bad_lr, &mut opt).is_err());
    assert_eq!(plateau.state(), good);
    assert_eq!(opt.learning_rate(), 0.1);
}

// ---------------------------------------------------------------------------------------------
// Bad input: typed errors when building, never a panic

/// Every argument the schedules reject: `validate` names it, and attaching (or building)
/// refuses it before anything changes.
#[test]
fn invalid_arguments_are_typed_errors() {
    fn invalid(schedule: impl Schedule + Clone, name: &str) {
        match schedule.validate() {
            Err(Error::InvalidHyperparameter { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{name}: expected InvalidHyperparameter, got {other:?}"),
        }
        // The same error from attaching, the pure forms and restoring; nothing changes.
        let mut opt = SgdConfig::default()
            .lr(0.1)
            .momentum(0.9)
            .build::<f64>()
            .unwrap();
        let err = schedule.clone().attach(&mut opt).unwrap_err();
        assert!(
            matches!(err, Error::InvalidHyperparameter { name: n, .. } if n == name),
            "{name}: {err:?}"
        );
        assert_eq!((opt.learning_rate(), opt.momentum()), (0.1, Some(0.9)));
        assert!(schedule.lr(0.1, 3).is_err(), "{name}");
        assert!(schedule.next_lr(0.1, 0.1, 3).is_err(), "{name}");
        assert!(schedule.momentum(3).is_err(), "{name}");
    }
    fn invalid_plateau(config: ReduceLrOnPlateauConfig, name: &str) {
        match config.build() {
            Err(Error::InvalidHyperparameter { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{name}: expected InvalidHyperparameter, got {other:?}"),
        }
    }
    let nan = f64::NAN;
    invalid(StepLr::new(0), "step_size");
    invalid(StepLr::new(5).gamma(0.0), "gamma");
    invalid(StepLr::new(5).gamma(-0.5), "gamma");
    invalid(StepLr::new(5).gamma(nan), "gamma");
    invalid(MultiStepLr::new(vec![1, 2]).gamma(0.0), "gamma");
    let constant = ConstantLr::default;
    invalid(constant().factor(0.0), "factor");
    invalid(constant().factor(1.5), "factor");
    invalid(constant().factor(nan), "factor");
    invalid(constant().factor(0.5).total_iters(0), "total_iters");
    let linear = LinearLr::default;
    invalid(linear().start_factor(0.0), "start_factor");
    invalid(linear().start_factor(1.2), "start_factor");
    invalid(linear().start_factor(0.5).end_factor(-0.1), "end_factor");
    invalid(linear().start_factor(0.5).end_factor(1.5), "end_factor");
    invalid(linear().start_factor(0.5).total_iters(0), "total_iters");
    invalid(ExponentialLr::new(0.0), "gamma");
    invalid(ExponentialLr::new(-0.9), "gamma");
    invalid(ExponentialLr::new(f64::INFINITY), "gamma");
    invalid(PolynomialLr::default().total_iters(0), "total_iters");
    invalid(PolynomialLr::default().power(-1.0), "power");
    invalid(CosineAnnealingLr::new(0), "T_max");
    invalid(CosineAnnealingLr::new(10).eta_min(-1e-4), "eta_min");
    invalid(CosineAnnealingLr::new(10).eta_min(nan), "eta_min");
    invalid(CosineAnnealingWarmRestarts::new(0), "T_0");
    invalid(CosineAnnealingWarmRestarts::new(5).t_mult(0), "T_mult");
    invalid(CosineAnnealingWarmRestarts::new(5).eta_min(-0.1), "eta_min");
    let restarts = CosineAnnealingWarmRestarts::new(5).t_mult(2);
    assert!(matches!(
        restarts.lr_at(0.1, -0.5),
        Err(Error::InvalidHyperparameter { name: "epoch", .. })
    ));
    assert!(matches!(
        restarts.lr_at(0.1, nan),
        Err(Error::InvalidHyperparameter { name: "epoch", .. })
    ));
    assert!(matches!(
        CosineAnnealingWarmRestarts::new(0).lr_at(0.1, 1.5),
        Err(Error::InvalidHyperparameter { name: "T_0", .. })
    ));
    let cyclic = || CyclicLr::new(0.01, 0.1).step_size_up(5);
    invalid(CyclicLr::new(-0.1, 0.1), "base_lr");
    invalid(CyclicLr::new(0.01, nan), "max_lr");
    invalid(cyclic().step_size_up(0), "step_size_up");
    invalid(cyclic().mode(CyclicMode::ExpRange).gamma(0.0), "gamma");
    invalid(cyclic().mode(CyclicMode::ExpRange).gamma(nan), "gamma");
    invalid(cyclic().base_momentum(-0.1), "base_momentum");
    invalid(cyclic().max_momentum(f64::INFINITY), "max_momentum");
    invalid(OneCycleLr::new(-0.1, 10), "max_lr");
    invalid(OneCycleLr::new(0.1, 0), "total_steps");
    invalid(OneCycleLr::from_epochs(0.1, 0, 10), "epochs");
    invalid(OneCycleLr::from_epochs(0.1, 10, 0), "steps_per_epoch");
    invalid(OneCycleLr::from_epochs(0.1, u64::MAX, 2), "steps_per_epoch");
    invalid(OneCycleLr::new(0.1, 10).total_steps(None), "total_steps"); // no length at all
    let one_cycle = || OneCycleLr::new(0.1, 100);
    invalid(one_cycle().pct_start(-0.1), "pct_start");
    invalid(one_cycle().pct_start(1.1), "pct_start");
    invalid(one_cycle().pct_start(nan), "pct_start");
    invalid(one_cycle().pct_start(0.01), "pct_start"); // 0.01·100 = 1: an empty phase
    invalid(one_cycle().div_factor(0.0), "div_factor");
    invalid(one_cycle().final_div_factor(-1.0), "final_div_factor");
    invalid(one_cycle().max_momentum(-0.95), "max_momentum");
    let plateau = ReduceLrOnPlateauConfig::default;
    invalid_plateau(plateau().factor(1.0), "factor");
    invalid_plateau(plateau().factor(-0.1), "factor");
    invalid_plateau(
        plateau()
            .threshold(-1e-4)
            .threshold_mode(ThresholdMode::Rel),
        "threshold",
    );
    invalid_plateau(plateau().min_lr(-1.0), "min_lr");
    invalid_plateau(plateau().eps(nan), "eps");
    invalid(Warmup::cosine(10, 10), "total_steps");
    invalid(Warmup::linear(10, 5), "total_steps");
    invalid(Warmup::cosine(10, 100).start_factor(-0.1), "start_factor");
    invalid(Warmup::cosine(10, 100).end_factor(nan), "end_factor");
    // Inside a composition: the composition is refused, with the inner schedule's error.
    invalid(
        SequentialLr::new(vec![Box::new(StepLr::new(0))], vec![]),
        "step_size",
    );
    invalid(
        ChainedScheduler::new(vec![
            Box::new(ExponentialLr::new(0.9)),
            Box::new(StepLr::new(0)),
        ]),
        "step_size",
    );
}

#[test]
fn milestones_and_compositions_are_checked() {
    assert!(matches!(
        MultiStepLr::new(vec![10, 30, 20]).validate(),
        Err(Error::MilestonesOutOfOrder {
            index: 2,
            milestone: 20,
            previous: 30,
            ..
        })
    ));
    assert!(MultiStepLr::new(vec![]).validate().is_ok()); // no milestone: constant
    assert!(MultiStepLr::new(vec![5, 5]).validate().is_ok()); // repeated: applies twice, as PyTorch
    let two = || -> Vec<Box<dyn Schedule>> {
        vec![
            Box::new(LinearLr::default().start_factor(0.1)),
            Box::new(ExponentialLr::new(0.9)),
        ]
    };
    assert!(matches!(
        SequentialLr::new(two(), vec![]).validate(),
        Err(Error::MilestoneCountMismatch {
            schedules: 2,
            milestones: 0
        })
    ));
    assert!(matches!(
        SequentialLr::new(two(), vec![5, 10]).validate(),
        Err(Error::MilestoneCountMismatch {
            schedules: 2,
            milestones: 2
        })
    ));
    let three = || {
        let mut s = two();
        s.push(Box::new(StepLr::new(2).gamma(0.5)));
        s
    };
    assert!(matches!(
        SequentialLr::new(three(), vec![10, 5]).validate(),
        Err(Error::MilestonesOutOfOrder { index: 1, .. })
    ));
    assert!(matches!(
        SequentialLr::new(two(), vec![0]).validate(),
        Err(Error::InvalidHyperparameter {
            name: "milestones",
            ..
        })
    ));
    assert!(matches!(
        SequentialLr::new(vec![], vec![]).validate(),
        Err(Error::NoSchedules {
            schedule: "SequentialLR"
        })
    ));
    assert!(matches!(
        ChainedScheduler::new(vec![]).validate(),
        Err(Error::NoSchedules {
            schedule: "ChainedScheduler"
        })
    ));
    // Attaching runs the same checks and leaves the optimizer alone.
    let mut opt = Sgd::<f64>::new(0.1).unwrap();
    assert!(matches!(
        MultiStepLr::new(vec![3, 1]).attach(&mut opt),
        Err(Error::MilestonesOutOfOrder { .. })
    ));
    assert!(matches!(
        SequentialLr::new(two(), vec![]).attach(&mut opt),
        Err(Error::MilestoneCountMismatch { .. })
    ));
    assert_eq!(opt.learning_rate(), 0.1);
}

// ---------------------------------------------------------------------------------------------
// Bad values at a step: an error, the optimizer untouched, never NaN or negative

/// Attaches, steps `good` times, then expects the next step to fail and change nothing.
fn fails_at_step(schedule: impl Schedule, good: u64, opt: &mut dyn Optimizer<f64>) -> Error {
    let mut sched = schedule.attach(opt).unwrap();
    for _ in 0..good {
        sched.step(opt).unwrap();
    }
    let (state, lr, momentum) = (sched.state(), opt.learning_rate(), opt.momentum());
    let err = sched.step(opt).unwrap_err();
    // Nothing changed, so the same step fails the same way again.
    let again = sched.step(opt).unwrap_err();
    assert_eq!(format!("{err:?}"), format!("{again:?}"));
    assert_eq!(sched.state(), state);
    assert_eq!(opt.learning_rate().to_bits(), lr.to_bits());
    assert_eq!(opt.momentum(), momentum);
    assert!(opt.learning_rate().is_finite() && opt.learning_rate() >= 0.0);
    if let Error::InvalidScheduledValue { epoch, .. } = err {
        assert_eq!(epoch, good + 1);
    }
    err
}

#[test]
fn values_an_optimizer_cannot_hold_are_errors() {
    let sgd = || {
        SgdConfig::default()
            .lr(0.1)
            .momentum(0.9)
            .build::<f64>()
            .unwrap()
    };
    let lambda_nan = LambdaLr::new(|k| if k == 3 { f64::NAN } else { 1.0 });
    let err = fails_at_step(lambda_nan, 2, &mut sgd());
    assert!(matches!(
        err,
        Error::InvalidScheduledValue {
            schedule: "LambdaLR",
            epoch: 3,
            what: "lr",
            ..
        }
    ));
    let lambda_negative = LambdaLr::new(|k| 1.0 - 0.25 * k as f64);
    fails_at_step(lambda_negative, 4, &mut sgd());
    let lambda_infinite = LambdaLr::new(|k| if k > 5 { f64::INFINITY } else { 1.0 });
    fails_at_step(lambda_infinite, 5, &mut sgd());
    let multiplicative = MultiplicativeLr::new(|k| if k == 2 { -1.0 } else { 0.9 });
    fails_at_step(multiplicative, 1, &mut sgd());
    let overflow = ExponentialLr::new(1e200); // 0.1 → 1e199 → ∞
    let err = fails_at_step(overflow, 1, &mut sgd());
    assert!(matches!(err, Error::InvalidScheduledValue { value, .. } if value.is_infinite()));
    let nan_scale = CyclicLr::new(0.01, 0.1)
        .step_size_up(2)
        .scale_fn(|x| if x > 1.0 { f64::NAN } else { 1.0 })
        .scale_mode(ScaleMode::Cycle);
    fails_at_step(nan_scale, 3, &mut sgd()); // cycle 2 starts at k = 4
    let negative_momentum = CyclicLr::new(0.01, 0.1)
        .step_size_up(2)
        .scale_fn(|k| k)
        .scale_mode(ScaleMode::Iterations); // amplitude grows: momentum < 0
    let err = fails_at_step(negative_momentum, 9, &mut sgd());
    assert!(matches!(
        err,
        Error::InvalidScheduledValue {
            what: "momentum",
            ..
        }
    ));
    let err = fails_at_step(OneCycleLr::new(0.1, 5), 5, &mut sgd());
    assert!(matches!(
        err,
        Error::ScheduleExhausted {
            step: 6,
            total_steps: 5,
            ..
        }
    ));
    // OneCycle with pct_start = 1 has an empty last phase: PyTorch divides by zero at step T.
    let full_warmup = OneCycleLr::new(0.1, 10).pct_start(1.0);
    fails_at_step(full_warmup, 9, &mut sgd());
    // Adam refuses β₁ ≥ 1: the step fails, the learning rate is not written either.
    let beta_one = CyclicLr::new(0.01, 0.1).step_size_up(2).max_momentum(1.0);
    let mut adam = Adam::<f64>::new(0.5).unwrap();
    assert!(matches!(
        beta_one.attach(&mut adam),
        Err(Error::InvalidHyperparameter {
            name: "betas[0]",
            ..
        })
    ));
    assert_eq!((adam.learning_rate(), adam.momentum()), (0.5, Some(0.9)));
}

#[test]
fn momentum_cycling_needs_a_momentum() {
    let mut adagrad = Adagrad::<f32>::new(0.5).unwrap();
    let err = CyclicLr::new(0.01, 0.1)
        .step_size_up(5)
        .attach(&mut adagrad)
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    assert_eq!(adagrad.learning_rate(), 0.5);
    let mut adadelta = Adadelta::<f32>::new(1.0).unwrap();
    let err = OneCycleLr::new(0.1, 100).attach(&mut adadelta).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }));
    assert_eq!(adadelta.learning_rate(), 1.0);
    // Without momentum cycling they work on any optimizer.
    let cyclic = CyclicLr::new(0.01, 0.1)
        .step_size_up(5)
        .cycle_momentum(false);
    let mut sched = cyclic.attach(&mut adagrad).unwrap();
    sched.step(&mut adagrad).unwrap();
    assert!((adagrad.learning_rate() - 0.028).abs() < 1e-15);
    // And, as in PyTorch, they switch momentum on for an SGD without it.
    let mut sgd = Sgd::<f32>::new(0.1).unwrap();
    assert_eq!(sgd.momentum(), Some(0.0));
    let _ = OneCycleLr::new(0.1, 100).attach(&mut sgd).unwrap();
    assert_eq!(sgd.momentum(), Some(0.95));
}

#[test]
fn nan_metric_counts_as_a_bad_epoch() {
    let mut opt = Sgd::<f64>::new(1.0).unwrap();
    let mut plateau = ReduceLrOnPlateauConfig::default()
        .patience(1)
        .factor(0.5)
        .build()
        .unwrap();
    plateau.step(&mut opt, 2.0).unwrap();
    plateau.step(&mut opt, f64::NAN).unwrap();
    assert_eq!((plateau.best(), plateau.num_bad_epochs()), (2.0, 1));
    plateau.step(&mut opt, f64::NAN).unwrap();
    assert_eq!(opt.learning_rate(), 0.5);
    assert_eq!(plateau.last_lr(), Some(0.5));
}

// ---------------------------------------------------------------------------------------------
// Semantics beyond the fixture

#[test]
fn recursion_picks_up_outside_changes_like_pytorch() {
    // PyTorch's StepLR multiplies the optimizer's current learning rate, so a change made by
    // hand (or by another scheduler) carries on; the pure form ignores it.
    let mut opt = Sgd::<f64>::new(1.0).unwrap();
    let mut sched = StepLr::new(2).gamma(0.5).attach(&mut opt).unwrap();
    sched.step(&mut opt).unwrap();
    opt.set_learning_rate(0.3).unwrap();
    assert_eq!(sched.step(&mut opt).unwrap(), 0.15);
    assert_eq!(sched.lr(2).unwrap(), 0.5);
    // A warmup and a plateau scheduler on one optimizer, as PyTorch users combine them.
    let mut opt = Sgd::<f64>::new(1.0).unwrap();
    let mut warmup = LinearLr::default()
        .start_factor(0.5)
        .total_iters(2)
        .attach(&mut opt)
        .unwrap();
    let mut plateau = ReduceLrOnPlateauConfig::default()
        .patience(0)
        .factor(0.5)
        .build()
        .unwrap();
    warmup.step(&mut opt).unwrap();
    warmup.step(&mut opt).unwrap();
    assert_eq!(opt.learning_rate(), 1.0);
    plateau.step(&mut opt, 1.0).unwrap();
    plateau.step(&mut opt, 1.0).unwrap();
    assert_eq!(opt.learning_rate(), 0.5);
    warmup.step(&mut opt).unwrap(); // past its end: leaves the learning rate alone
    assert_eq!(opt.learning_rate(), 0.5);
}

#[test]
fn boxed_optimizers_and_schedules() {
    let mut opts: Vec<Box<dyn Optimizer<f32>>> = vec![
        Box::new(Sgd::new(0.1).unwrap()),
        Box::new(Adam::new(0.1).unwrap()),
    ];
    let schedule: Box<dyn Schedule> = Box::new(Warmup::linear(2, 6));
    let mut scheds: Vec<Scheduler> = opts
        .iter_mut()
        .map(|opt| schedule.clone().attach(opt).unwrap())
        .collect();
    for (opt, sched) in opts.iter_mut().zip(&mut scheds) {
        sched.step(opt).unwrap();
        assert!((opt.learning_rate() - 0.05).abs() < 1e-15);
        assert_eq!(sched.schedule().name(), "Warmup");
    }
}

#[test]
fn sequential_restarts_each_schedule_at_its_milestone() {
    let schedule = SequentialLr::new(
        vec![
            Box::new(ConstantLr::default().factor(0.5).total_iters(100)),
            Box::new(StepLr::new(2).gamma(0.1)),
            Box::new(LambdaLr::new(|k| 1.0 / (k as f64 + 1.0))),
        ],
        vec![3, 7],
    );
    let mut opt = Sgd::<f64>::new(1.0).unwrap();
    let mut sched = schedule.clone().attach(&mut opt).unwrap();
    let mut lrs = vec![opt.learning_rate()];
    for _ in 0..9 {
        lrs.push(sched.step(&mut opt).unwrap());
    }
    let want = [0.5, 0.5, 0.5, 1.0, 1.0, 0.1, 0.1, 1.0, 0.5, 1.0 / 3.0];
    for (k, (&got, &want)) in lrs.iter().zip(&want).enumerate() {
        assert!((got - want).abs() < 1e-15, "epoch {k}: {got} vs {want}");
        assert!((schedule.lr(1.0, k as u64).unwrap() - want).abs() < 1e-15);
    }
}

#[test]
fn cosine_past_t_max_is_periodic() {
    let schedule = CosineAnnealingLr::new(10);
    for k in 0..=20u64 {
        let a = schedule.lr(1.0, k).unwrap();
        let b = schedule.lr(1.0, k + 20).unwrap();
        assert!((a - b).abs() < 1e-14, "k = {k}");
    }
    assert!(schedule.lr(1.0, 10).unwrap() < 1e-16);
    assert!((schedule.lr(1.0, 20).unwrap() - 1.0).abs() < 1e-15);
}

#[test]
fn warm_restarts_integer_and_fractional_forms_agree() {
    for (t_0, t_mult) in [(5, 1), (4, 2), (3, 3)] {
        let schedule = CosineAnnealingWarmRestarts::new(t_0)
            .t_mult(t_mult)
            .eta_min(0.01);
        for k in 0..100u64 {
            let a = schedule.lr(0.1, k).unwrap();
            let b = schedule.lr_at(0.1, k as f64).unwrap();
            // PyTorch's logarithm can land just below a restart: then b is the cycle's end.
            assert!(
                (a - b).abs() < 1e-15 || (b - 0.01).abs() < 1e-12,
                "T_0 {t_0}, T_mult {t_mult}, epoch {k}: {a} vs {b}"
            );
        }
    }
}
