//! L-BFGS against PyTorch 2.15's `torch.optim.LBFGS` on Rosenbrock functions
//! (`tests/fixtures/generate_lbfgs.py` → `tests/fixtures/lbfgs.json`): with and without the
//! strong-Wolfe line search, several history sizes, iteration and evaluation limits,
//! tolerances and `maximize`, in 2-D (one tensor) and in 10-D over three tensors of ranks 2, 1
//! and 0, 8 calls of `step` each, `f32` and `f64`.
//!
//! The closure is the generator's, operation for operation, so both sides evaluate the same
//! function. What cannot be reproduced is PyTorch's dot products (MKL's, summed in the element
//! type in an order of its own beyond three elements; ours are summed in `f64` in a fixed order
//! and rounded once) and, in `f32`, its square root, which is not correctly rounded even on a
//! 0-d tensor (the line search's cubic interpolation takes one): see the tests for what that
//! leaves.

use ndarray::{ArrayD, IxDyn};
use ndarray_optim::{Float, Lbfgs, LbfgsConfig};
use serde_json::Value;

use crate::common::json::{fixture, floats};

/// The generator's `rosenbrock`: the loss (terms in `A`, summed in `f64` in order) and the
/// gradient, each operation rounded in `A` as PyTorch's tensor operations round it.
pub fn rosenbrock<A: Float>(x: &[A], g: &mut [A]) -> f64 {
    let n = x.len();
    let (c100, cm2, c400, c200) = (
        A::from_f64(100.0),
        A::from_f64(-2.0),
        A::from_f64(400.0),
        A::from_f64(200.0),
    );
    let mut loss = 0.0;
    g[n - 1] = A::zero();
    for i in 0..n - 1 {
        let a = A::one() - x[i];
        let b = x[i + 1] - x[i] * x[i];
        loss += (a * a + (b * b) * c100).widen();
        g[i] = a * cm2 - (x[i] * c400) * b;
    }
    for i in 0..n - 1 {
        let b = x[i + 1] - x[i] * x[i];
        g[i + 1] = g[i + 1] + b * c200;
    }
    loss
}

/// After one `step`: the parameters (flat), the loss `step` returned, and the counters
/// `func_evals` and `n_iter`.
type Record = (Vec<f64>, f64, u64, u64);

/// One case's run.
struct Run {
    name: String,
    problem: String,
    steps: Vec<Record>,
}

/// PyTorch's run of a case: the same records from the fixture.
fn recorded(case: &Value) -> Vec<Record> {
    case["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| {
            let params = step["params"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(floats)
                .collect();
            (
                params,
                step["loss"].as_f64().unwrap(),
                step["func_evals"].as_u64().unwrap(),
                step["n_iter"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Our run of every case of precision `A`, with PyTorch's beside it.
fn run<A: Float>(tag: &str) -> Vec<(Run, Vec<Record>)> {
    let doc = fixture("lbfgs.json");
    let mut out = Vec::new();
    for case in doc["cases"].as_array().unwrap() {
        if case["dtype"] != tag {
            continue;
        }
        let problem_name = case["problem"].as_str().unwrap();
        let problem = &doc["problems"][problem_name];
        let shapes: Vec<Vec<usize>> =
            serde_json::from_value(problem["shapes"].clone()).expect("shapes");
        let start = floats(&problem["start"]);
        let config: LbfgsConfig =
            serde_json::from_value(case["kwargs"].clone()).expect("PyTorch's keywords");
        let sign = if config.maximize { -1.0 } else { 1.0 };
        let mut opt: Lbfgs<A> = config.build().unwrap();
        let mut offset = 0;
        let mut params: Vec<ArrayD<A>> = shapes
            .iter()
            .map(|shape| {
                let n: usize = shape.iter().product();
                let values = start[offset..offset + n].iter().map(|&x| A::from_f64(x));
                offset += n;
                ArrayD::from_shape_vec(IxDyn(shape), values.collect()).unwrap()
            })
            .collect();
        let mut grads: Vec<ArrayD<A>> = params.iter().map(|p| ArrayD::zeros(p.raw_dim())).collect();
        // Under `maximize`, the negated function and gradient, as the generator's closure.
        let closure = |p: &Vec<ArrayD<A>>, g: &mut Vec<ArrayD<A>>| {
            let x: Vec<A> = p.iter().flat_map(|t| t.iter().copied()).collect();
            let mut flat = vec![A::zero(); x.len()];
            let loss = rosenbrock(&x, &mut flat);
            let mut k = 0;
            for t in g.iter_mut() {
                for v in t.iter_mut() {
                    *v = A::from_f64(sign) * flat[k];
                    k += 1;
                }
            }
            Ok::<f64, std::convert::Infallible>(sign * loss)
        };
        let mut steps = Vec::new();
        for _ in case["steps"].as_array().unwrap() {
            let report = opt.step(&mut params, &mut grads, closure).unwrap();
            let flat = params
                .iter()
                .flat_map(|t| t.iter().map(|x| x.widen()))
                .collect();
            steps.push((flat, report.loss, opt.func_evals(), opt.n_iter()));
        }
        let name = case["name"].as_str().unwrap().to_string();
        out.push((
            Run {
                name,
                problem: problem_name.to_string(),
                steps,
            },
            recorded(case),
        ));
    }
    assert_eq!(out.len(), 7, "{tag}: the fixture's cases");
    out
}

/// `|a − b| / max(1, |b|)`, the largest over two vectors.
fn worst(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0, f64::max)
}

/// f64: every step makes exactly PyTorch's evaluations and iterations, and the parameters and
/// losses are within `5e-8·max(1, |x|)` of PyTorch's (measured: 1e-8, in 10-D, where MKL sums
/// the dot products of 10 elements in its own order and the valley's ill-conditioning carries
/// the last bits forward). In 2-D, where MKL's dot adds its two products in order, every
/// iterate is PyTorch's bit for bit, with and without the line search.
#[test]
fn f64_iterates_match_pytorch() {
    for (ours, pytorch) in run::<f64>("f64") {
        let mut measured = 0.0f64;
        for (k, (got, want)) in ours.steps.iter().zip(&pytorch).enumerate() {
            assert_eq!(
                (got.2, got.3),
                (want.2, want.3),
                "{}: step {}: evaluations and iterations",
                ours.name,
                k + 1
            );
            let error = worst(&got.0, &want.0).max(worst(&[got.1], &[want.1]));
            measured = measured.max(error);
            assert!(error <= 5e-8, "{}: step {}: {error:e}", ours.name, k + 1);
            if ours.problem == "rosenbrock_2d" {
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got.0), bits(&want.0), "{}: step {}", ours.name, k + 1);
                assert_eq!(
                    got.1.to_bits(),
                    want.1.to_bits(),
                    "{}: step {}",
                    ours.name,
                    k + 1
                );
            }
        }
        println!("f64 {:<26} within {measured:.1e} of PyTorch", ours.name);
    }
}

/// f32: PyTorch's `f32` dot products and square roots round differently from ours now and
/// then, and after a few dozen evaluations its line search takes another branch (one
/// evaluation more or fewer), from where the paths differ by more than rounding. What holds:
/// the first step makes exactly PyTorch's evaluations and iterations and ends within
/// `1e-4·max(1, |x|)` of PyTorch's point (measured: 3e-5); over the 8 steps the evaluations
/// stay within 4 of PyTorch's (measured: 3); and wherever PyTorch reaches the minimum
/// (loss below 1e-6), so do we, within `1e-3` of its point (measured: 7e-4 where
/// `tolerance_grad = 1e-3` stops both early, else 2e-5).
#[test]
fn f32_iterates_follow_pytorch() {
    for (ours, pytorch) in run::<f32>("f32") {
        let (first, want) = (&ours.steps[0], &pytorch[0]);
        assert_eq!(
            (first.2, first.3),
            (want.2, want.3),
            "{}: the first step",
            ours.name
        );
        let error = worst(&first.0, &want.0).max(worst(&[first.1], &[want.1]));
        assert!(error <= 1e-4, "{}: first step: {error:e}", ours.name);
        for (k, (got, want)) in ours.steps.iter().zip(&pytorch).enumerate() {
            assert!(
                got.2.abs_diff(want.2) <= 4,
                "{}: step {}: {} evaluations in all, PyTorch {}",
                ours.name,
                k + 1,
                got.2,
                want.2
            );
        }
        let (last, want_last) = (ours.steps.last().unwrap(), pytorch.last().unwrap());
        let end = worst(&last.0, &want_last.0);
        if want_last.1.abs() < 1e-6 {
            assert!(last.1.abs() < 1e-6, "{}: loss {:e}", ours.name, last.1);
            assert!(end <= 1e-3, "{}: the minimum found: {end:e}", ours.name);
        }
        println!(
            "f32 {:<26} first step within {error:.1e}; {} evaluations against {}; last points {end:.1e} apart",
            ours.name, last.2, want_last.2
        );
    }
}
