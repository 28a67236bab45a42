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
    /// The inputs most cases run on.
    pub shared: Problem,
    /// Other inputs, by name, for the cases that name one (tensors of other shapes).
    pub problems: std::collections::BTreeMap<String, Problem>,
    pub cases: Vec<Case>,
}

/// Tensors, their initial values and the gradients of every step.
pub struct Problem {
    pub shapes: Vec<Vec<usize>>,
    pub initial: Vec<Vec<f64>>,
    /// `grads[step][tensor]`, flattened row-major.
    pub grads: Vec<Vec<Vec<f64>>>,
}

impl Fixture {
    /// The inputs of a case.
    pub fn problem(&self, case: &Case) -> &Problem {
        match &case.problem {
            None => &self.shared,
            Some(name) => &self.problems[name],
        }
    }
}

/// One recorded state entry of one tensor: its shape and its values, row-major.
pub type StateEntry = (Vec<usize>, Vec<f64>);

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
    /// The problem it runs on, when not the shared one.
    pub problem: Option<String>,
    /// The reference's state after the last step, per tensor, by PyTorch's names (the
    /// optimizers of the generator's `RECORD_STATE`).
    pub final_state: Option<Vec<std::collections::BTreeMap<String, StateEntry>>>,
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
    let problem = |p: &Value| Problem {
        shapes: serde_json::from_value(p["shapes"].clone()).expect("shapes are lists of sizes"),
        initial: tensors(&p["initial_params"]),
        grads: p["grads"].as_array().unwrap().iter().map(tensors).collect(),
    };
    let shared = problem(&doc);
    let problems: std::collections::BTreeMap<String, Problem> = doc["problems"]
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), problem(v))).collect())
        .unwrap_or_default();
    let cases = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap().to_string();
            let config = serde_json::from_value(c["ours"].clone())
                .unwrap_or_else(|e| panic!("case {name}: `ours` is not an OptimizerConfig: {e}"));
            let problem_name = c["problem"].as_str().map(str::to_string);
            let tensor_count = problem_name
                .as_ref()
                .map_or(&shared, |p| &problems[p])
                .shapes
                .len();
            Case {
                problem: problem_name,
                final_state: c["final_state"].as_array().map(|tensors| {
                    tensors
                        .iter()
                        .map(|entries| {
                            serde_json::from_value(entries.clone())
                                .expect("final_state entries are [shape, values]")
                        })
                        .collect()
                }),
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
        shared,
        problems,
        cases,
    }
}

#[cfg(feature = "serde")] // the published package tests without it
/// The fixture's extra groups as our [`ParamGroups`]: PyTorch's group lr is base × `lr_scale`,
/// timm's per-group `always_adapt` is our `layer_adaptation`.
pub fn param_groups(groups: &[Value], tensors: usize) -> ParamGroups {
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
