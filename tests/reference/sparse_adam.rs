//! SparseAdam's row-sparse path (`SparseAdam::step_sparse`) against PyTorch 2.15 given the
//! same rows as sparse COO gradients (`tests/fixtures/generate_optim.py`, `sparse_main`):
//! repeated rows (summed in the order of PyTorch's `coalesce`), absent rows, empty gradients,
//! a scalar, changing learning rates and two parameter groups, 50 steps, `f32` and `f64`; and
//! the order of `coalesce`'s sums at the sizes where PyTorch's sort changes algorithm.
//!
//! f64: within `1e-15·max(1, |x|)` of PyTorch after every step (measured: four of the five
//! configurations bit-identical, the fifth within 7e-18). f32: within `2⁻²³·max(1, |x|)` (one
//! ulp; measured at most half of it), because PyTorch's CPU `sqrt` on a tensor is MKL's
//! vectorised one, which is not correctly rounded (see `docs/numerics.md`); everything else,
//! the coalesced sums included, is PyTorch's arithmetic.
//! The dense path (`Optimizer::step`) is in the common fixtures (`parity.rs`).

use ndarray::{Array1, ArrayD, IxDyn};
use ndarray_optim::{Float, Optimizer, OptimizerConfig, RowGrad, SparseAdam, SparseAdamConfig};
use serde_json::Value;

use crate::common::json::{fixture, floats};

fn sizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_u64().expect("an index") as usize)
        .collect()
}

/// One step's gradient of one tensor: row indices, values of shape `[nnz, shape[1..]]`.
fn row_grad<A: Float>(g: &Value, shape: &[usize]) -> (Vec<usize>, ArrayD<A>) {
    let indices = sizes(&g["indices"]);
    let mut values_shape = vec![indices.len()];
    values_shape.extend_from_slice(shape.get(1..).unwrap_or(&[]));
    let values = floats(&g["values"])
        .into_iter()
        .map(A::from_f64)
        .collect::<Vec<_>>();
    let values = ArrayD::from_shape_vec(IxDyn(&values_shape), values).expect("values fit");
    (indices, values)
}

/// `|got − want|` in units of `ε·max(1, |want|)` for `A`'s machine epsilon `ε`: ulps of the
/// value, or of 1 for values below 1 (where a parameter crossing zero keeps the absolute
/// rounding of its larger past).
fn ulps<A: Float>(got: f64, want: f64) -> f64 {
    (got - want).abs() / (A::epsilon().widen() * want.abs().max(1.0))
}

fn sparse_adam<A: Float>(ours: &Value) -> SparseAdam<A> {
    match serde_json::from_value::<OptimizerConfig>(ours.clone()).expect("an OptimizerConfig") {
        OptimizerConfig::SparseAdam(config) => config.build().expect("valid"),
        other => panic!("not SparseAdam: {other:?}"),
    }
}

/// Runs every case of precision `A`; returns the largest error of each, and fails naming the
/// first value out of `tolerance`.
fn run<A: Float>(tag: &str, tolerance: impl Fn(f64, f64) -> bool) -> Vec<(String, f64)> {
    let doc = fixture("sparse_adam.json");
    let shapes: Vec<Vec<usize>> = doc["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(sizes)
        .collect();
    let initial: Vec<Vec<f64>> = doc["initial_params"]
        .as_array()
        .unwrap()
        .iter()
        .map(floats)
        .collect();
    let steps = doc["grads"].as_array().unwrap();
    assert_eq!(steps.len(), 50);
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for case in doc["cases"].as_array().unwrap() {
        if case["dtype"] != tag {
            continue;
        }
        let name = case["name"].as_str().unwrap();
        let mut opt = sparse_adam::<A>(&case["ours"]);
        if let Some(groups) = case["groups"].as_array() {
            opt.set_param_groups(Some(crate::common::param_groups(
                groups,
                &case["ours"],
                shapes.len(),
            )))
            .unwrap();
        }
        let lrs = case["lr_schedule"]
            .as_array()
            .map(|_| floats(&case["lr_schedule"]));
        let mut params: Vec<ArrayD<A>> = crate::common::arrays(&shapes, &initial);
        let (mut worst, mut worst_ulps) = (0.0f64, 0.0f64);
        'steps: for (step, grads) in steps.iter().enumerate() {
            if let Some(lrs) = &lrs {
                opt.set_learning_rate(lrs[step]).unwrap();
            }
            let grads: Vec<(Vec<usize>, ArrayD<A>)> = grads
                .as_array()
                .unwrap()
                .iter()
                .zip(&shapes)
                .map(|(g, shape)| row_grad(g, shape))
                .collect();
            let rows: Vec<RowGrad<'_, A>> = grads
                .iter()
                .map(|(indices, values)| RowGrad::new(indices, values.view()))
                .collect();
            opt.step_sparse(&mut params, &rows).unwrap();
            let expected = case["params"][step].as_array().unwrap();
            for (index, (tensor, want)) in params.iter().zip(expected).enumerate() {
                for (&got, want) in tensor.iter().zip(floats(want)) {
                    let (got, want) = (got.widen(), A::from_f64(want).widen());
                    worst = worst.max((got - want).abs());
                    worst_ulps = worst_ulps.max(ulps::<A>(got, want));
                    if !tolerance(got, want) {
                        failures.push(format!(
                            "{tag} {name}: step {}, tensor {index}: got {got:e}, PyTorch {want:e}",
                            step + 1
                        ));
                        break 'steps;
                    }
                }
            }
        }
        let saved = opt.save_state();
        for (index, entries) in case["final_state"].as_array().unwrap().iter().enumerate() {
            for name in ["exp_avg", "exp_avg_sq"] {
                let buffer = &saved.tensors[index].buffers[name];
                assert_eq!(buffer.shape(), sizes(&entries[name][0]).as_slice());
                for (&got, want) in buffer.iter().zip(floats(&entries[name][1])) {
                    let (got, want) = (got.widen(), A::from_f64(want).widen());
                    if !tolerance(got, want) {
                        failures.push(format!(
                            "{tag} {}: final `{name}` of tensor {index}: got {got:e}, PyTorch {want:e}",
                            case["name"]
                        ));
                        break;
                    }
                }
            }
        }
        println!("{tag} {name:<26} max |Δ| = {worst:.2e} ({worst_ulps:.2} ε·max(1, |x|))");
        report.push((name.to_string(), worst));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    report
}

#[test]
fn f64_rows_match_pytorch_within_1e_15() {
    let report = run::<f64>("f64", |got, want| {
        (got - want).abs() <= 1e-15 * want.abs().max(1.0)
    });
    assert_eq!(report.len(), 5);
}

#[test]
fn f32_rows_match_pytorch_within_one_ulp() {
    let ulp = f64::from(f32::EPSILON);
    let report = run::<f32>("f32", |got, want| {
        (got - want).abs() <= ulp * want.abs().max(1.0)
    });
    assert_eq!(report.len(), 5);
}

/// The values of the generator's `radix_cases`: position `i` is in row `(7919·i) mod 13`.
const RADIX_SCALES: [f64; 9] = [1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1e3, 1e4];

/// PyTorch sums a row's repeated entries in the order of `torch.sort`: libstdc++'s `std::sort`
/// for 32,767 entries (not stable), fbgemm's radix sort (stable) for 32,768. With `β₁ = 0` the
/// first moment after one step is the coalesced gradient itself: bit for bit PyTorch's sums, at
/// both sizes, in both precisions (the values span eight orders of magnitude, so another order
/// of addition gives other bits).
#[test]
fn repeated_rows_are_summed_in_pytorchs_order() {
    fn one<A: Float>(n: usize, expected: &[f64]) {
        let keys: Vec<usize> = (0..n).map(|i| (i * 7919) % 13).collect();
        let values = Array1::from_shape_fn(n, |i| {
            A::from_f64((((i * 37) % 101) as f64 - 50.0) * RADIX_SCALES[i % 9])
        });
        let mut p = Array1::<A>::zeros(13);
        let mut opt = SparseAdamConfig::default()
            .betas((0.0, 0.999))
            .build::<A>()
            .unwrap();
        opt.step_sparse(&mut p, &[RowGrad::new(&keys, values.view())])
            .unwrap();
        let m = &opt.save_state().tensors[0].buffers["exp_avg"];
        for (row, (&got, &want)) in m.iter().zip(expected).enumerate() {
            assert_eq!(
                got.widen().to_bits(),
                A::from_f64(want).widen().to_bits(),
                "{} entries, {}: row {row}",
                n,
                A::NAME
            );
        }
        // A stable order instead of std::sort's would differ somewhere at 32,767 entries.
        let mut stable = [A::zero(); 13];
        for (k, &key) in keys.iter().enumerate() {
            stable[key] = if k < 13 {
                values[k]
            } else {
                stable[key] + values[k]
            };
        }
        let same = stable
            .iter()
            .zip(m.iter())
            .all(|(a, b)| a.widen().to_bits() == b.widen().to_bits());
        assert_eq!(same, n >= 32_768, "{n} entries, {}", A::NAME);
    }
    let doc = fixture("sparse_adam.json");
    for case in doc["radix"].as_array().unwrap() {
        let n = case["n"].as_u64().unwrap() as usize;
        one::<f32>(n, &floats(&case["f32"]));
        one::<f64>(n, &floats(&case["f64"]));
    }
}
