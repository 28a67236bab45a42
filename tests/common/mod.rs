//! Shared by the integration tests: the test registry (every optimizer's options and the
//! learning rates it converges with) and the PyTorch fixtures.
#![allow(dead_code)] // each test binary uses its own part

#[cfg(feature = "serde")] // the published package tests without it
pub mod json;
pub mod registry;
pub mod sharded;
pub mod surfaces;

#[cfg(feature = "serde")]
use json::floats;
use ndarray::{ArrayD, IxDyn};
use ndarray_optim::{Float, OptimizerConfig, ParamGroup, ParamGroups};
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
    /// The implementation the numbers come from (`torch.optim.SGD`, `timm.optim.Lamb`,
    /// `optax.lion`, …).
    pub reference: String,
    /// Our configuration of the same case, deserialised from the fixture's `ours` with serde.
    pub config: OptimizerConfig,
    pub lr_schedule: Option<Vec<f64>>,
    /// Extra parameter groups (group 0 holds the other tensors).
    pub groups: Option<ParamGroups>,
    /// `params[step][tensor]` after each step, flattened row-major.
    pub params: Vec<Vec<Vec<f64>>>,
    /// For the 16-bit fixtures, where PyTorch's fused kernel differs from the `f32` reference
    /// stepped on 16-bit values (`tests/fixtures/generate_half.py`): that emulation's
    /// trajectory.
    pub emulated_params: Option<Vec<Vec<Vec<f64>>>>,
    /// The problem it runs on, when not the shared one.
    pub problem: Option<String>,
    /// The reference's state after the last step, per tensor, by PyTorch's names (the
    /// optimizers of the generator's `RECORD_STATE`).
    pub final_state: Option<Vec<std::collections::BTreeMap<String, StateEntry>>>,
    /// `(step, tensor)` pairs whose gradient is `None` (0-based steps).
    pub absent: Vec<(usize, usize)>,
    /// A group of the last tensors added before step `after` (0-based).
    pub added: Option<Added>,
}

/// A group added to a running optimizer (PyTorch's `add_param_group`).
pub struct Added {
    /// Steps taken before the group is added.
    pub after: usize,
    /// The group's tensors: the last ones of the list.
    pub tensors: Vec<usize>,
    pub group: ParamGroup,
}

#[cfg(feature = "serde")] // the published package tests without it
fn tensors(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().expect("array").iter().map(floats).collect()
}

#[cfg(feature = "serde")] // the published package tests without it
pub fn load(tag: &str) -> Fixture {
    let doc = json::fixture(&format!("optim_{tag}.json"));
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
            let absent = c["absent"]
                .as_array()
                .map(|pairs| serde_json::from_value(Value::Array(pairs.clone())).unwrap())
                .unwrap_or_default();
            let added = c.get("added").filter(|a| !a.is_null()).map(|a| Added {
                after: a["after"].as_u64().unwrap() as usize,
                tensors: serde_json::from_value(a["tensors"].clone()).unwrap(),
                group: param_group(&a["options"], &c["ours"]),
            });
            Case {
                absent,
                added,
                problem: problem_name,
                final_state: c["final_state"].as_array().map(|tensors| {
                    tensors
                        .iter()
                        .map(|entries| {
                            let entries = entries.as_object().expect("final_state: names");
                            entries
                                .iter()
                                .map(|(name, entry)| {
                                    let shape = serde_json::from_value(entry[0].clone())
                                        .expect("final_state entries are [shape, values]");
                                    (name.clone(), (shape, floats(&entry[1])))
                                })
                                .collect()
                        })
                        .collect()
                }),
                reference: c["reference"].as_str().unwrap().to_string(),
                config,
                lr_schedule: c["lr_schedule"]
                    .as_array()
                    .map(|_| floats(&c["lr_schedule"])),
                groups: c["groups"]
                    .as_array()
                    .map(|groups| param_groups(groups, &c["ours"], tensor_count)),
                params: c["params"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(tensors)
                    .collect(),
                emulated_params: c["emulated_params"]
                    .as_array()
                    .map(|steps| steps.iter().map(tensors).collect()),
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
/// The fixture's extra groups as our [`ParamGroups`] (group 0 holds the other tensors).
pub fn param_groups(groups: &[Value], ours: &Value, tensors: usize) -> ParamGroups {
    let mut assignment = vec![0; tensors];
    let mut list = vec![ParamGroup::default()];
    for (g, group) in groups.iter().enumerate() {
        for t in group["tensors"].as_array().unwrap() {
            assignment[t.as_u64().unwrap() as usize] = g + 1;
        }
        list.push(param_group(group, ours));
    }
    ParamGroups::new(list, assignment).unwrap()
}

#[cfg(feature = "serde")] // the published package tests without it
/// One PyTorch group dict as our [`ParamGroup`]: `lr` absolute, `lr_scale` a multiple (of the
/// base learning rate), `weight_decay` and `momentum` as overrides, timm's `always_adapt` as
/// `layer_adaptation`, and any other option (betas, eps, amsgrad, dampening, …) in the group's
/// own configuration: the case's configuration (`ours`) with those keys replaced, read by serde.
fn param_group(group: &Value, ours: &Value) -> ParamGroup {
    let mut pg = ParamGroup::default();
    let mut own = ours.clone();
    let (_, options) = own.as_object_mut().unwrap().iter_mut().next().unwrap();
    let options = options.as_object_mut().unwrap();
    let mut others = false;
    for (key, value) in group.as_object().unwrap() {
        match key.as_str() {
            "tensors" => {}
            "lr" => pg = pg.lr(value.as_f64().unwrap()),
            "lr_scale" => pg = pg.lr_scale(value.as_f64().unwrap()),
            "weight_decay" => pg = pg.weight_decay(value.as_f64().unwrap()),
            "momentum" => pg = pg.momentum(value.as_f64().unwrap()),
            "always_adapt" if value.as_bool() == Some(true) => pg = pg.layer_adaptation(true),
            _ => {
                options.insert(key.clone(), value.clone());
                others = true;
            }
        }
    }
    if others {
        let config: OptimizerConfig = serde_json::from_value(own).expect("the group's options");
        pg = pg.hyperparameters(config);
    }
    pg
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
