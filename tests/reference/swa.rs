//! `AveragedModel` against PyTorch 2.15's `torch.optim.swa_utils.AveragedModel`
//! (`tests/fixtures/generate_swa.py` → `tests/fixtures/swa.json`): equal averaging (SWA) and
//! `get_ema_multi_avg_fn` with five decays (0 and 1 among them, and one whose `lerp` weight
//! takes the other branch), four tensors of ranks 0 to 3, 50 updates, `f32` and `f64`. No
//! square root and no sum: every average after every update, and `n_averaged`, bit-identical
//! to PyTorch's. (SWALR's learning rates are in `schedules.rs`.)

use ndarray::{ArrayD, IxDyn};
use ndarray_optim::Float;
use ndarray_optim::swa_utils::AveragedModel;

use crate::common::json::{fixture, floats};

fn run<A: Float>(tag: &str) -> usize {
    let doc = fixture("swa.json");
    let shapes: Vec<Vec<usize>> = serde_json::from_value(doc["shapes"].clone()).unwrap();
    let steps = doc["params"].as_array().unwrap();
    let mut cases = 0;
    for case in doc["cases"].as_array().unwrap() {
        if case["dtype"] != tag {
            continue;
        }
        let name = case["name"].as_str().unwrap();
        let mut averaged = match case["decay"].as_f64() {
            None => AveragedModel::<A>::swa(),
            Some(decay) => AveragedModel::ema(decay).unwrap(),
        };
        for (k, (step, want)) in steps
            .iter()
            .zip(case["updates"].as_array().unwrap())
            .enumerate()
        {
            let params: Vec<ArrayD<A>> = step
                .as_array()
                .unwrap()
                .iter()
                .zip(&shapes)
                .map(|(v, shape)| {
                    let values = floats(v).into_iter().map(A::from_f64).collect();
                    ArrayD::from_shape_vec(IxDyn(shape), values).unwrap()
                })
                .collect();
            averaged.update_parameters(&params).unwrap();
            assert_eq!(
                averaged.n_averaged(),
                want["n_averaged"].as_u64().unwrap(),
                "{tag} {name}"
            );
            for (index, (got, want)) in averaged
                .averages()
                .iter()
                .zip(want["averages"].as_array().unwrap())
                .enumerate()
            {
                for (&got, want) in got.iter().zip(floats(want)) {
                    assert_eq!(
                        got.widen().to_bits(),
                        A::from_f64(want).widen().to_bits(),
                        "{tag} {name}: update {}, tensor {index}: {got}, PyTorch {want}",
                        k + 1
                    );
                }
            }
        }
        cases += 1;
    }
    cases
}

#[test]
fn averages_are_bit_identical_to_pytorchs() {
    assert_eq!(run::<f32>("f32"), 6);
    assert_eq!(run::<f64>("f64"), 6);
}
