//! Shared by the integration tests: PyTorch fixtures and the optimizers built from their
//! PyTorch-style keyword arguments.
#![allow(dead_code)] // each test binary uses its own part

use ndarray::{ArrayD, IxDyn};
use ndarray_optim::{
    Adadelta, AdadeltaConfig, Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, Adamax,
    AdamaxConfig, Float, Lamb, LambConfig, Lion, LionConfig, Momentum, NAdam, NAdamConfig,
    Nesterov, Optimizer, ParamGroup, ParamGroups, RAdam, RAdamConfig, RmsProp, RmsPropConfig, Sgd,
    SgdConfig,
};
use serde_json::Value;

/// One recorded trajectory file (`tests/fixtures/optim_{f32,f64}.json`).
pub struct Fixture {
    pub steps: usize,
    pub shapes: Vec<Vec<usize>>,
    pub initial: Vec<Vec<f64>>,
    /// `grads[step][tensor]`, flattened row-major.
    pub grads: Vec<Vec<Vec<f64>>>,
    pub cases: Vec<Case>,
}

pub struct Case {
    pub name: String,
    pub optimizer: String,
    pub kwargs: serde_json::Map<String, Value>,
    pub lr_schedule: Option<Vec<f64>>,
    /// Extra parameter groups (group 0 holds the other tensors).
    pub groups: Option<ParamGroups>,
    /// `params[step][tensor]` after each step, flattened row-major.
    pub params: Vec<Vec<Vec<f64>>>,
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn tensors(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().expect("array").iter().map(floats).collect()
}

pub fn load(tag: &str) -> Fixture {
    let path = format!(
        "{}/tests/fixtures/optim_{tag}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    let shapes = doc["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s.as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect()
        })
        .collect();
    let tensor_count = doc["shapes"].as_array().unwrap().len();
    let cases = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().to_string(),
            optimizer: c["optimizer"].as_str().unwrap().to_string(),
            kwargs: c["kwargs"].as_object().unwrap().clone(),
            lr_schedule: c["lr_schedule"]
                .as_array()
                .map(|_| floats(&c["lr_schedule"])),
            groups: c["groups"]
                .as_array()
                .map(|groups| param_groups(groups, tensor_count)),
            params: c["params"]
                .as_array()
                .unwrap()
                .iter()
                .map(tensors)
                .collect(),
        })
        .collect();
    Fixture {
        steps: doc["steps"].as_u64().unwrap() as usize,
        shapes,
        initial: tensors(&doc["initial_params"]),
        grads: doc["grads"]
            .as_array()
            .unwrap()
            .iter()
            .map(tensors)
            .collect(),
        cases,
    }
}

/// The fixture's extra groups as our [`ParamGroups`]: PyTorch's group lr is base × `lr_scale`,
/// timm's per-group `always_adapt` is our `layer_adaptation`.
fn param_groups(groups: &[Value], tensors: usize) -> ParamGroups {
    let mut assignment = vec![0; tensors];
    let mut list = vec![ParamGroup::default()];
    for (g, group) in groups.iter().enumerate() {
        for t in group["tensors"].as_array().unwrap() {
            assignment[t.as_u64().unwrap() as usize] = g + 1;
        }
        let mut pg = ParamGroup::default().lr_scale(group["lr_scale"].as_f64().unwrap());
        if let Some(wd) = group.get("weight_decay").and_then(Value::as_f64) {
            pg = pg.weight_decay(wd);
        }
        if group.get("always_adapt").and_then(Value::as_bool) == Some(true) {
            pg = pg.layer_adaptation(true);
        }
        list.push(pg);
    }
    ParamGroups::new(list, assignment).unwrap()
}

/// Tensors of the fixture's shapes from flat row-major values.
pub fn arrays<A: Float>(shapes: &[Vec<usize>], values: &[Vec<f64>]) -> Vec<ArrayD<A>> {
    shapes
        .iter()
        .zip(values)
        .map(|(shape, v)| {
            ArrayD::from_shape_vec(IxDyn(shape), v.iter().map(|&x| A::from_f64(x)).collect())
                .expect("fixture values match their shape")
        })
        .collect()
}

fn f(kwargs: &serde_json::Map<String, Value>, key: &str) -> Option<f64> {
    kwargs.get(key).and_then(Value::as_f64)
}

fn b(kwargs: &serde_json::Map<String, Value>, key: &str) -> Option<bool> {
    kwargs.get(key).and_then(Value::as_bool)
}

fn betas(kwargs: &serde_json::Map<String, Value>) -> Option<(f64, f64)> {
    kwargs.get("betas").map(|v| {
        let v = floats(v);
        (v[0], v[1])
    })
}

/// Builds our optimizer from a PyTorch class name and keyword arguments (optax's for `Lion`),
/// through the public configuration API, choosing the named type (`Momentum`, `Nesterov`, `AdamW`)
/// where one fits.
pub fn build<A: Float>(
    optimizer: &str,
    kwargs: &serde_json::Map<String, Value>,
) -> Box<dyn Optimizer<A>> {
    for key in kwargs.keys() {
        let known = [
            "lr",
            "momentum",
            "dampening",
            "weight_decay",
            "nesterov",
            "maximize",
            "lr_decay",
            "initial_accumulator_value",
            "eps",
            "alpha",
            "centered",
            "rho",
            "betas",
            "amsgrad",
            "decoupled_weight_decay",
            "bias_correction",
            "grad_averaging",
            "max_grad_norm",
            "trust_clip",
            "always_adapt",
            "decoupled_decay",
            "momentum_decay",
            "learning_rate",
            "b1",
            "b2",
        ];
        assert!(
            known.contains(&key.as_str()),
            "fixture option {key} is not mapped"
        );
    }
    match optimizer {
        "SGD" => {
            let mut c = SgdConfig::default();
            if let Some(v) = f(kwargs, "lr") {
                c = c.lr(v)
            }
            if let Some(v) = f(kwargs, "momentum") {
                c = c.momentum(v)
            }
            if let Some(v) = f(kwargs, "dampening") {
                c = c.dampening(v)
            }
            if let Some(v) = f(kwargs, "weight_decay") {
                c = c.weight_decay(v)
            }
            if let Some(v) = b(kwargs, "maximize") {
                c = c.maximize(v)
            }
            if b(kwargs, "nesterov") == Some(true) {
                Box::new(Nesterov::with_config(c).unwrap())
            } else if c.momentum > 0.0 {
                Box::new(Momentum::with_config(c).unwrap())
            } else {
                Box::new(Sgd::with_config(c).unwrap())
            }
        }
        "Adagrad" => {
            let mut c = AdagradConfig::default();
            if let Some(v) = f(kwargs, "lr") {
                c = c.lr(v)
            }
            if let Some(v) = f(kwargs, "lr_decay") {
                c = c.lr_decay(v)
            }
            if let Some(v) = f(kwargs, "weight_decay") {
                c = c.weight_decay(v)
            }
            if let Some(v) = f(kwargs, "initial_accumulator_value") {
                c = c.initial_accumulator_value(v)
            }
            if let Some(v) = f(kwargs, "eps") {
                c = c.eps(v)
            }
            if let Some(v) = b(kwargs, "maximize") {
                c = c.maximize(v)
            }
            Box::new(Adagrad::with_config(c).unwrap())
        }
        "RMSprop" => {
            let mut c = RmsPropConfig::default();
            if let Some(v) = f(kwargs, "lr") {
                c = c.lr(v)
            }
            if let Some(v) = f(kwargs, "alpha") {
                c = c.alpha(v)
            }
            if let Some(v) = f(kwargs, "eps") {
                c = c.eps(v)
            }
            if let Some(v) = f(kwargs, "weight_decay") {
                c = c.weight_decay(v)
            }
            if let Some(v) = f(kwargs, "momentum") {
                c = c.momentum(v)
            }
            if let Some(v) = b(kwargs, "centered") {
                c = c.centered(v)
            }
            if let Some(v) = b(kwargs, "maximize") {
                c = c.maximize(v)
            }
            Box::new(RmsProp::with_config(c).unwrap())
        }
        "Adadelta" => {
            let mut c = AdadeltaConfig::default();
            if let Some(v) = f(kwargs, "lr") {
                c = c.lr(v)
            }
            if let Some(v) = f(kwargs, "rho") {
                c = c.rho(v)
            }
            if let Some(v) = f(kwargs, "eps") {
                c = c.eps(v)
            }
            if let Some(v) = f(kwargs, "weight_decay") {
                c = c.weight_decay(v)
            }
            if let Some(v) = b(kwargs, "maximize") {
                c = c.maximize(v)
            }
            Box::new(Adadelta::with_config(c).unwrap())
        }
        "Adam" | "AdamW" => {
            let mut c = if optimizer == "AdamW" {
                AdamConfig::adamw()
            } else {
                AdamConfig::default()
            };
            if let Some(v) = f(kwargs, "lr") {
                c = c.lr(v)
            }
            if let Some((b1, b2)) = betas(kwargs) {
                c = c.betas(b1, b2)
            }
            if let Some(v) = f(kwargs, "eps") {
                c = c.eps(v)
            }
            if let Some(v) = f(kwargs, "weight_decay") {
                c = c.weight_decay(v)
            }
            if let Some(v) = b(kwargs, "amsgrad") {
                c = c.amsgrad(v)
            }
            if let Some(v) = b(kwargs, "maximize") {
                c = c.maximize(v)
            }
            if let Some(v) = b(kwargs, "decoupled_weight_decay") {
                c = c.decoupled_weight_decay(v)
            }
            if optimizer == "AdamW" {
                Box::new(AdamW::with_config(c).unwrap())
            } else {
                Box::new(Adam::with_config(c).unwrap())
            }
        }
        "Lamb" => {
            let mut c = LambConfig::default();
            if let Some(v) = f(kwargs, "lr") {
                c = c.lr(v)
            }
            if let Some((b1, b2)) = betas(kwargs) {
                c = c.betas(b1, b2)
            }
            if let Some(v) = f(kwargs, "eps") {
                c = c.eps(v)
            }
            if let Some(v) = f(kwargs, "weight_decay") {
                c = c.weight_decay(v)
            }
            if let Some(v) = kwargs.get("max_grad_norm") {
                c = c.max_grad_norm(v.as_f64())
            }
            if let Some(v) = b(kwargs, "bias_correction") {
                c = c.bias_correction(v)
            }
            if let Some(v) = b(kwargs, "grad_averaging") {
                c = c.grad_averaging(v)
            }
            if let Some(v) = b(kwargs, "trust_clip") {
                c = c.trust_clip(v)
            }
            if let Some(v) = b(kwargs, "always_adapt") {
                c = c.always_adapt(v)
            }
            if let Some(v) = b(kwargs, "decoupled_decay") {
                c = c.decoupled_decay(v)
            }
            Box::new(Lamb::with_config(c).unwrap())
        }
        "NAdam" => {
            let mut c = NAdamConfig::default();
            if let Some(v) = f(kwargs, "lr") {
                c = c.lr(v)
            }
            if let Some((b1, b2)) = betas(kwargs) {
                c = c.betas(b1, b2)
            }
            if let Some(v) = f(kwargs, "eps") {
                c = c.eps(v)
            }
            if let Some(v) = f(kwargs, "weight_decay") {
                c = c.weight_decay(v)
            }
            if let Some(v) = f(kwargs, "momentum_decay") {
                c = c.momentum_decay(v)
            }
            if let Some(v) = b(kwargs, "decoupled_weight_decay") {
                c = c.decoupled_weight_decay(v)
            }
            if let Some(v) = b(kwargs, "maximize") {
                c = c.maximize(v)
            }
            Box::new(NAdam::with_config(c).unwrap())
        }
        "RAdam" => {
            let mut c = RAdamConfig::default();
            if let Some(v) = f(kwargs, "lr") {
                c = c.lr(v)
            }
            if let Some((b1, b2)) = betas(kwargs) {
                c = c.betas(b1, b2)
            }
            if let Some(v) = f(kwargs, "eps") {
                c = c.eps(v)
            }
            if let Some(v) = f(kwargs, "weight_decay") {
                c = c.weight_decay(v)
            }
            if let Some(v) = b(kwargs, "decoupled_weight_decay") {
                c = c.decoupled_weight_decay(v)
            }
            if let Some(v) = b(kwargs, "maximize") {
                c = c.maximize(v)
            }
            Box::new(RAdam::with_config(c).unwrap())
        }
        "Adamax" => {
            let mut c = AdamaxConfig::default();
            if let Some(v) = f(kwargs, "lr") {
                c = c.lr(v)
            }
            if let Some((b1, b2)) = betas(kwargs) {
                c = c.betas(b1, b2)
            }
            if let Some(v) = f(kwargs, "eps") {
                c = c.eps(v)
            }
            if let Some(v) = f(kwargs, "weight_decay") {
                c = c.weight_decay(v)
            }
            if let Some(v) = b(kwargs, "maximize") {
                c = c.maximize(v)
            }
            Box::new(Adamax::with_config(c).unwrap())
        }
        // optax's `lion` (its keyword names); `maximize` is ours, fed to optax as negated gradients.
        "Lion" => {
            let mut c = LionConfig::default();
            if let Some(v) = f(kwargs, "learning_rate") {
                c = c.lr(v)
            }
            if let Some(v) = f(kwargs, "b1") {
                c = c.b1(v)
            }
            if let Some(v) = f(kwargs, "b2") {
                c = c.b2(v)
            }
            if let Some(v) = f(kwargs, "weight_decay") {
                c = c.weight_decay(v)
            }
            if let Some(v) = b(kwargs, "maximize") {
                c = c.maximize(v)
            }
            Box::new(Lion::with_config(c).unwrap())
        }
        other => panic!("unknown optimizer {other}"),
    }
}

/// One of every optimizer and its main options, with a learning rate suited to small problems:
/// the table the behavioural tests run over.
pub fn zoo<A: Float>() -> Vec<Box<dyn Optimizer<A>>> {
    vec![
        Box::new(Sgd::new(0.05).unwrap()),
        Box::new(
            Sgd::with_config(
                SgdConfig::default()
                    .lr(0.05)
                    .weight_decay(0.01)
                    .maximize(true),
            )
            .unwrap(),
        ),
        Box::new(Momentum::new(0.02, 0.9).unwrap()),
        Box::new(
            Momentum::with_config(
                SgdConfig::default()
                    .lr(0.02)
                    .momentum(0.9)
                    .dampening(0.1)
                    .weight_decay(1e-3),
            )
            .unwrap(),
        ),
        Box::new(Nesterov::new(0.02, 0.9).unwrap()),
        Box::new(Adagrad::new(0.1).unwrap()),
        Box::new(
            Adagrad::with_config(
                AdagradConfig::default()
                    .lr(0.1)
                    .lr_decay(0.01)
                    .initial_accumulator_value(0.1)
                    .weight_decay(0.01),
            )
            .unwrap(),
        ),
        Box::new(RmsProp::new(0.01).unwrap()),
        Box::new(
            RmsProp::with_config(
                RmsPropConfig::default()
                    .lr(0.01)
                    .centered(true)
                    .momentum(0.5)
                    .weight_decay(0.01),
            )
            .unwrap(),
        ),
        Box::new(Adadelta::new(1.0).unwrap()),
        Box::new(Adam::new(0.01).unwrap()),
        Box::new(
            Adam::with_config(
                AdamConfig::default()
                    .lr(0.01)
                    .amsgrad(true)
                    .weight_decay(0.01),
            )
            .unwrap(),
        ),
        Box::new(AdamW::new(0.01).unwrap()),
        Box::new(Lamb::new(0.01).unwrap()),
        Box::new(
            Lamb::with_config(
                LambConfig::default()
                    .lr(0.01)
                    .always_adapt(true)
                    .weight_decay(0.0)
                    .max_grad_norm(None)
                    .trust_clip(true),
            )
            .unwrap(),
        ),
        Box::new(NAdam::new(0.01).unwrap()),
        Box::new(
            NAdam::with_config(
                NAdamConfig::default()
                    .lr(0.01)
                    .momentum_decay(0.01)
                    .weight_decay(0.01)
                    .decoupled_weight_decay(true),
            )
            .unwrap(),
        ),
        Box::new(RAdam::new(0.01).unwrap()),
        Box::new(
            RAdam::with_config(
                RAdamConfig::default()
                    .lr(0.01)
                    .betas(0.9, 0.9)
                    .weight_decay(0.01)
                    .maximize(true),
            )
            .unwrap(),
        ),
        Box::new(Adamax::new(0.01).unwrap()),
        Box::new(Adamax::with_config(AdamaxConfig::default().lr(0.01).weight_decay(0.01)).unwrap()),
        Box::new(Lion::new(1e-3).unwrap()),
        Box::new(
            Lion::with_config(
                LionConfig::default()
                    .lr(1e-3)
                    .b1(0.95)
                    .b2(0.98)
                    .weight_decay(0.1),
            )
            .unwrap(),
        ),
    ]
}
