//! Shared by the integration tests: the test registry (every optimizer's options and the
//! learning rates it converges with) and the PyTorch fixtures.
#![allow(dead_code)] // each test binary uses its own part

pub mod registry;
pub mod surfaces;

use ndarray::{ArrayD, IxDyn};
#[cfg(feature = "serde")]
use ndarray_optim::ParamGroup;
use ndarray_optim::{Float, OptimizerConfig, ParamGroups};
#[cfg(feature = "serde")]
use serde_json::Value;

#[allow(unused_imports)]
pub use registry::{specs, zoo};

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
    /// The reference's class (`SGD`, `AdamW`, `Lamb`, optax's `Lion`).
    pub reference: String,
    /// Our configuration of the same case, deserialised from the fixture's `ours` with serde.
    pub config: OptimizerConfig,
    pub lr_schedule: Option<Vec<f64>>,
    /// Extra parameter groups (group 0 holds the other tensors).
    pub groups: Option<ParamGroups>,
    /// `params[step][tensor]` after each step, flattened row-major.
    pub params: Vec<Vec<Vec<f64>>>,
}

#[cfg(feature = "serde")] // the published package tests without it
fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

#[cfg(feature = "serde")] // the published package tests without it
fn tensors(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().expect("array").iter().map(floats).collect()
}

#[cfg(feature = "serde")] // the published package tests without it
pub fn load(tag: &str) -> Fixture {
    let path = format!(
        "{}/tests/fixtures/optim_{tag}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    let shapes: Vec<Vec<usize>> =
        serde_json::from_value(doc["shapes"].clone()).expect("shapes are lists of sizes");
    let tensor_count = shapes.len();
    let cases = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap().to_string();
            let config = serde_json::from_value(c["ours"].clone())
                .unwrap_or_else(|e| panic!("case {name}: `ours` is not an OptimizerConfig: {e}"));
            Case {
                reference: c["optimizer"].as_str().unwrap().to_string(),
                config,
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
                name,
            }
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

#[cfg(feature = "serde")] // the published package tests without it
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
