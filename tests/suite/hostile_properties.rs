//! The search for hostile-input defects as part of the suite: saved states of every registered
//! optimizer, of `MultiSteps` and of the schedulers, mutated anywhere (any value of the saved
//! form replaced by an absurd one, any entry removed), then loaded and used. Whatever the
//! mutation: no panic (caught, so that a failure names the mutation), and either a typed error
//! that changed nothing or a state that loads and steps.
//!
//! Debug builds keep overflow checks on, so an overflowing counter panics here. A few dozen
//! cases per property; `PROPTEST_CASES=2000 cargo test --test suite hostile_properties` searches
//! harder.
#![cfg(feature = "serde")]

use std::panic::{AssertUnwindSafe, catch_unwind};

use ndarray::{Array1, array};
use ndarray_optim::schedule::{
    CosineAnnealingLr, OneCycleLr, Schedule, SchedulerState, SequentialLr, StepLr,
};
use ndarray_optim::*;
use proptest::prelude::*;
use serde_json::Value;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// Every place in a JSON value, as JSON pointers (the root excluded).
fn places(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let here = format!("{at}/{i}");
                out.push(here.clone());
                places(item, here, out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                out.push(here.clone());
                places(item, here, out);
            }
        }
        _ => {}
    }
}

/// The absurd values a mutation writes.
fn absurd(choice: usize) -> Option<Value> {
    let values = [
        Value::from(u64::MAX),
        Value::from(u64::MAX - 1),
        Value::from(0),
        Value::from(-1),
        Value::from(1e300),
        Value::from(-1e-300),
        Value::from("NaN"),
        Value::from("inf"),
        Value::from("-inf"),
        Value::Null,
        Value::Array(vec![]),
        Value::Object(Default::default()),
        Value::from("not a number"),
        Value::from(true),
        serde_json::json!([1, 2, 3, 4, 5, 6, 7]),
        serde_json::json!({"shape": [usize::MAX, 2], "data": []}),
    ];
    values.get(choice).cloned() // past the end: remove the entry instead
}

/// `value` with the place at `pointer` replaced (or removed).
fn mutate(value: &Value, pointer: &str, replacement: Option<Value>) -> Value {
    let mut out = value.clone();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let key = key.replace("~1", "/").replace("~0", "~");
    let parent = if parent.is_empty() {
        Some(&mut out)
    } else {
        out.pointer_mut(parent)
    };
    match (parent, replacement) {
        (Some(Value::Object(map)), Some(v)) => {
            map.insert(key, v);
        }
        (Some(Value::Object(map)), None) => {
            map.remove(&key);
        }
        (Some(Value::Array(items)), Some(v)) => {
            if let Ok(i) = key.parse::<usize>() {
                items[i] = v;
            }
        }
        (Some(Value::Array(items)), None) => {
            if let Ok(i) = key.parse::<usize>() {
                items.remove(i);
            }
        }
        _ => {}
    }
    out
}

/// Steps a (possibly just loaded) optimizer with finite gradients; an error is fine, a panic
/// is not.
fn use_it(opt: &mut dyn Optimizer<f64>) {
    let mut w = array![[0.5, -1.0], [0.25, 2.0]];
    let mut b = array![1.0, 0.0];
    for _ in 0..2 {
        let _ = opt.step(
            &mut (&mut w, &mut b),
            &(&array![[0.1, 0.2], [0.3, -0.4]], &array![0.5, -0.5]),
        );
    }
}

/// A trained optimizer of every kind (matrices-only kinds get the matrix alone), boxed, plus
/// one inside `MultiSteps` stopped mid-window and one inside `Lookahead` between
/// synchronisations.
fn trained(which: usize, steps: usize) -> Box<dyn Optimizer<f64>> {
    let kinds = OptimizerKind::ALL;
    let mut opt: Box<dyn Optimizer<f64>> = if which < kinds.len() {
        kinds[which].default_config().build().unwrap()
    } else if which == kinds.len() {
        Box::new(MultiSteps::new(Adam::new(0.1).unwrap(), 3).unwrap())
    } else {
        Box::new(Lookahead::new(Adam::new(0.1).unwrap(), 3, 0.5).unwrap())
    };
    opt.set_non_finite_policy(NonFinitePolicy::SkipStep);
    let mut w = array![[0.5, -1.0], [0.25, 2.0]];
    let mut b = array![1.0, 0.0];
    for _ in 0..steps {
        if opt
            .step(
                &mut (&mut w, &mut b),
                &(&array![[0.1, 0.2], [0.3, -0.4]], &array![0.5, -0.5]),
            )
            .is_err()
        {
            // A kind that takes matrices only: the matrix alone.
            let _ = opt.step(&mut w, &array![[0.1, 0.2], [0.3, -0.4]]);
        }
    }
    opt
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Any saved optimizer state, mutated anywhere, loads and steps or is refused unchanged.
    #[test]
    fn mutated_optimizer_states_never_panic(
        which in 0..=OptimizerKind::ALL.len() + 1,
        steps in 0usize..4,
        at in any::<prop::sample::Index>(),
        choice in 0usize..18,
    ) {
        let mut opt = trained(which, steps);
        let saved = serde_json::to_value(opt.save_state()).unwrap();
        let mut all = Vec::new();
        places(&saved, String::new(), &mut all);
        let pointer = at.get(&all).clone();
        let mutated = mutate(&saved, &pointer, absurd(choice));
        let Ok(state) = serde_json::from_value::<OptimizerState<f64>>(mutated) else {
            return Ok(()); // refused by the saved form itself
        };
        let before = serde_json::to_string(&opt.save_state()).unwrap();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let loaded = opt.load_state(state);
            if loaded.is_ok() {
                use_it(opt.as_mut());
            }
            loaded.is_ok()
        }));
        prop_assert!(outcome.is_ok(), "panic loading {} with {pointer} = {:?}", opt.name(), absurd(choice));
        if matches!(outcome, Ok(false)) {
            let after = serde_json::to_string(&opt.save_state()).unwrap();
            prop_assert_eq!(after, before, "a refused state changed {}", opt.name());
        }
    }

    /// Any saved scheduler state, mutated anywhere, restores or is refused unchanged.
    #[test]
    fn mutated_scheduler_states_never_panic(
        which in 0usize..4,
        steps in 0u64..5,
        at in any::<prop::sample::Index>(),
        choice in 0usize..18,
    ) {
        let schedule: Box<dyn Schedule> = match which {
            0 => Box::new(StepLr::new(2).gamma(0.5)),
            1 => Box::new(CosineAnnealingLr::new(10).eta_min(1e-4)),
            2 => Box::new(OneCycleLr::new(0.1, 20)),
            _ => Box::new(SequentialLr::new(
                vec![Box::new(StepLr::new(1)), Box::new(CosineAnnealingLr::new(5))],
                vec![3],
            )),
        };
        let mut opt = Adam::<f64>::new(0.01).unwrap();
        let mut scheduler = schedule.attach(&mut opt).unwrap();
        for _ in 0..steps {
            scheduler.step(&mut opt).unwrap();
        }
        let saved = serde_json::to_value(scheduler.state()).unwrap();
        let mut all = Vec::new();
        places(&saved, String::new(), &mut all);
        if all.is_empty() {
            return Ok(());
        }
        let pointer = at.get(&all).clone();
        let Ok(state) = serde_json::from_value::<SchedulerState>(mutate(&saved, &pointer, absurd(choice))) else {
            return Ok(());
        };
        let before = (scheduler.state(), opt.learning_rate(), opt.momentum());
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let restored = scheduler.restore(state, &mut opt);
            if restored.is_ok() {
                for _ in 0..3 {
                    let _ = scheduler.step(&mut opt);
                }
            }
            restored.is_ok()
        }));
        prop_assert!(outcome.is_ok(), "panic restoring with {pointer} = {:?}", absurd(choice));
        if matches!(outcome, Ok(false)) {
            prop_assert_eq!((scheduler.state(), opt.learning_rate(), opt.momentum()), before);
        }
    }
}

/// The mutation machinery reaches the places that matter (or these properties test little).
#[test]
fn mutations_reach_counters_buffers_and_hyperparameters() {
    let opt = trained(
        OptimizerKind::ALL
            .iter()
            .position(|&k| k == OptimizerKind::Adam)
            .unwrap(),
        2,
    );
    let saved = serde_json::to_value(opt.save_state()).unwrap();
    let mut all = Vec::new();
    places(&saved, String::new(), &mut all);
    for wanted in [
        "/step",
        "/tensors/0/buffers/exp_avg/data/0",
        "/config/Adam/lr",
        "/tensors/1/step",
    ] {
        assert!(
            all.iter().any(|p| p == wanted),
            "{wanted} not among {all:?}"
        );
    }
    let mutated = mutate(&saved, "/step", absurd(0));
    assert_eq!(mutated["step"], Value::from(u64::MAX));
    let _ = Array1::<f64>::zeros(1);
}
