//! The learning-rate finder against fastai 2.8.12 and PyTorch Lightning 2.6.6
//! (`tests/fixtures/generate_finder.py` → `tests/fixtures/finder.json`).
//!
//! * `runs`: each library's real range test on one small regression. The recorded raw losses
//!   are replayed through the crate's finder (the closure returns the recorded loss of each
//!   step), which must give the library's learning rates, its smoothed losses (fastai's are
//!   `f32`: within 1e-5 relative; Lightning's `f64`: 1e-12), the step it stopped at, and its
//!   suggestions.
//! * `curves`: recorded loss curves given to each library's suggestion code. Replayed with
//!   `beta = 0` (the recorded values are the curve), the finder must stop where the curve
//!   ends and every rule must pick the library's point: the same index, the same learning rate
//!   (fastai returns `f32` roundings: within 1e-7 relative).

use std::convert::Infallible;

use ndarray::Array1;
use ndarray_optim::Sgd;
use ndarray_optim::finder::{LrFinderConfig, LrFinderResult, Rule, Stop, SweepMode};
use serde_json::Value;

use crate::common::json::{fixture, number};

/// Numbers, with Python's NaN (the generator writes it as `null`) read back.
fn floats(v: &Value) -> Vec<f64> {
    let number = |x: &Value| if x.is_null() { f64::NAN } else { number(x) };
    v.as_array().expect("an array").iter().map(number).collect()
}

fn close(ours: f64, theirs: f64, rel: f64) -> bool {
    (ours - theirs).abs() <= rel * theirs.abs()
}

/// The finder replaying `losses` as the closure's losses, on a dummy parameter (the
/// optimizer steps a zero gradient).
fn replay(config: LrFinderConfig, losses: &[f64]) -> LrFinderResult {
    let finder = config.build().expect("a valid configuration");
    let mut w = Array1::<f64>::zeros(1);
    let mut g = Array1::<f64>::zeros(1);
    let mut opt = Sgd::<f64>::new(0.1).unwrap();
    let mut step = 0;
    finder
        .run(&mut opt, &mut w, &mut g, |_, _| {
            let loss = losses.get(step).copied().unwrap_or(f64::NAN);
            step += 1;
            Ok::<f64, Infallible>(loss)
        })
        .expect("the replay runs")
}

/// Our suggestion of `rule` against fastai's `{"lr", "point": [lr, loss]}`.
fn check_fastai_rule(name: &str, ours: &LrFinderResult, rule: Rule, theirs: &Value) {
    let s = ours
        .suggest(rule)
        .unwrap_or_else(|| panic!("{name} {rule}: no suggestion"));
    let lr = theirs["lr"].as_f64().unwrap();
    let point = floats(&theirs["point"]);
    assert!(
        close(s.lr, lr, 1e-7),
        "{name} {rule}: lr {} (point {}), fastai {lr} (point {point:?})",
        s.lr,
        s.index
    );
    assert!(
        close(ours.lrs[s.index], point[0], 1e-7),
        "{name} {rule}: point lr {}, fastai {}",
        ours.lrs[s.index],
        point[0]
    );
    // fastai's `slide` interpolates its point's loss on log10 of float32 learning rates,
    // which lands beside the node.
    assert!(
        close(s.loss, point[1], 1e-4),
        "{name} {rule}: point loss {}, fastai {}",
        s.loss,
        point[1]
    );
}

fn config_of(run: &Value) -> LrFinderConfig {
    LrFinderConfig::default()
        .start_lr(run["start_lr"].as_f64().unwrap())
        .end_lr(run["end_lr"].as_f64().unwrap())
        .num_it(run["num_it"].as_u64().unwrap() as usize)
}

#[test]
fn fastai_lr_find_replayed() {
    let doc = fixture("finder.json");
    let run = &doc["runs"][0];
    assert_eq!(run["library"], "fastai");
    let (lrs, raw, losses) = (
        floats(&run["lrs"]),
        floats(&run["raw_losses"]),
        floats(&run["losses"]),
    );
    let ours = replay(config_of(run), &raw);
    assert_eq!(ours.lrs.len(), lrs.len(), "where the sweep stopped");
    assert!(matches!(ours.stop, Stop::Diverged { step, .. } if step == lrs.len() - 1));
    for (k, (&a, &b)) in ours.lrs.iter().zip(&lrs).enumerate() {
        assert_eq!(
            a.to_bits(),
            b.to_bits(),
            "lr of step {k}: {a} vs fastai {b}"
        );
    }
    for (k, (&a, &b)) in ours.losses.iter().zip(&losses).enumerate() {
        assert!(
            close(a, b, 1e-5),
            "smoothed loss of step {k}: {a} vs fastai {b}"
        );
    }
    assert_eq!(ours.raw_losses, raw);
    // Our own (f64) smoothed curve: the same four suggestions.
    for rule in [Rule::Valley, Rule::Slide, Rule::Minimum, Rule::Steep] {
        check_fastai_rule("fastai run", &ours, rule, &run["suggestions"][rule.name()]);
    }
    assert_eq!(ours.suggestion, ours.suggest(Rule::Valley));
    // fastai's own (f32) smoothed curve as the curve: the same again.
    let recorded = replay(config_of(run).beta(0.0), &losses);
    assert_eq!(recorded.lrs.len(), lrs.len());
    for rule in [Rule::Valley, Rule::Slide, Rule::Minimum, Rule::Steep] {
        check_fastai_rule(
            "fastai curve",
            &recorded,
            rule,
            &run["suggestions"][rule.name()],
        );
    }
}

#[test]
fn lightning_lr_find_replayed() {
    let doc = fixture("finder.json");
    let run = &doc["runs"][1];
    assert_eq!(run["library"], "lightning");
    let (lrs, raw, losses) = (
        floats(&run["lrs"]),
        floats(&run["raw_losses"]),
        floats(&run["losses"]),
    );
    let config = LrFinderConfig::lightning()
        .start_lr(run["start_lr"].as_f64().unwrap())
        .end_lr(run["end_lr"].as_f64().unwrap());
    let ours = replay(config, &raw);
    assert_eq!(ours.lrs.len(), lrs.len(), "where the sweep stopped");
    assert!(matches!(ours.stop, Stop::Diverged { step, .. } if step == lrs.len() - 1));
    for (k, (&a, &b)) in ours.lrs.iter().zip(&lrs).enumerate() {
        assert_eq!(
            a.to_bits(),
            b.to_bits(),
            "lr of step {k}: {a} vs Lightning {b}"
        );
    }
    for (k, (&a, &b)) in ours.losses.iter().zip(&losses).enumerate() {
        assert!(
            close(a, b, 1e-12),
            "smoothed loss of step {k}: {a} vs Lightning {b}"
        );
    }
    let s = ours.suggestion.expect("Lightning's suggestion");
    assert_eq!(s.rule, Rule::SteepestLinear);
    assert_eq!(s.index as u64, run["suggestion"]["index"].as_u64().unwrap());
    assert_eq!(s.lr, run["suggestion"]["lr"].as_f64().unwrap());
}

/// The length of the finder's curve for a recorded one: it stops at (and records) the first
/// NaN, where the libraries ran on.
fn recorded_len(losses: &[f64]) -> usize {
    losses
        .iter()
        .position(|l| l.is_nan())
        .map_or(losses.len(), |k| k + 1)
}

#[test]
fn fastai_rules_on_recorded_curves() {
    let doc = fixture("finder.json");
    let curves = doc["curves"].as_array().unwrap();
    assert!(curves.len() >= 6);
    for case in curves {
        let name = case["name"].as_str().unwrap();
        let fa = &case["fastai"];
        let (lrs, losses) = (floats(&fa["lrs"]), floats(&fa["losses"]));
        let num_it = case["num_it"].as_u64().unwrap() as usize;
        let mut config = LrFinderConfig::default()
            .num_it(num_it)
            .beta(0.0)
            .start_lr(lrs[0])
            .end_lr(lrs[0] * (lrs[1] / lrs[0]).powf(num_it as f64));
        if name == "linear" {
            config = config
                .mode(SweepMode::Linear)
                .end_lr(lrs[0] + (lrs[1] - lrs[0]) * num_it as f64);
        }
        let ours = replay(config, &losses);
        assert_eq!(
            ours.lrs.len(),
            recorded_len(&losses),
            "{name}: where the curve ends"
        );
        for (k, (&a, &b)) in ours.lrs.iter().zip(&lrs).enumerate() {
            assert!(close(a, b, 1e-13), "{name}: lr of step {k}: {a} vs {b}");
        }
        for rule in [Rule::Valley, Rule::Slide, Rule::Minimum, Rule::Steep] {
            check_fastai_rule(name, &ours, rule, &fa["suggestions"][rule.name()]);
        }
    }
}

#[test]
fn lightning_rule_on_recorded_curves() {
    let doc = fixture("finder.json");
    for case in doc["curves"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let li = &case["lightning"];
        let (lrs, losses) = (floats(&li["lrs"]), floats(&li["losses"]));
        let num_it = case["num_it"].as_u64().unwrap() as usize;
        // Lightning's sweep ends at `max_lr`; from the second point (position 2/num_it) when
        // the curve stopped before it.
        let half = num_it as f64 / 2.0;
        let linear = name == "linear";
        let end_lr = match lrs.get(num_it - 1) {
            Some(&last) => last,
            None if linear => lrs[0] + (lrs[1] - lrs[0]) * half,
            None => lrs[0] * (lrs[1] / lrs[0]).powf(half),
        };
        let mut config = LrFinderConfig::lightning()
            .num_it(num_it)
            .beta(0.0)
            .start_lr(lrs[0])
            .end_lr(end_lr);
        if linear {
            config = config.mode(SweepMode::Linear);
        }
        let ours = replay(config, &losses);
        assert_eq!(
            ours.lrs.len(),
            recorded_len(&losses),
            "{name}: where the curve ends"
        );
        for (k, (&a, &b)) in ours.lrs.iter().zip(&lrs).enumerate() {
            assert!(close(a, b, 1e-13), "{name}: lr of step {k}: {a} vs {b}");
        }
        let s = ours
            .suggestion
            .unwrap_or_else(|| panic!("{name}: no suggestion"));
        let theirs = &li["suggestion"];
        assert_eq!(
            s.index as u64,
            theirs["index"].as_u64().unwrap(),
            "{name}: index"
        );
        assert!(close(s.lr, theirs["lr"].as_f64().unwrap(), 1e-13), "{name}");
    }
}

#[test]
fn fixture_records_its_versions() {
    let doc = fixture("finder.json");
    assert_eq!(doc["versions"]["fastai"], "2.8.12");
    assert_eq!(doc["versions"]["pytorch_lightning"], "2.6.6");
}
