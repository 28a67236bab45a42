//! Gradient clipping against PyTorch 2.15 (`torch.nn.utils`), recorded by
//! `tests/fixtures/generate_clip.py` into `tests/fixtures/clip.json`: `clip_grad_value_`,
//! `clip_grad_norm_` (norm types 0.5, 1, 2, 3.5, inf; `error_if_nonfinite` off and on) and
//! `clip_grad_norm_` applied to each tensor alone, for 11 gradient lists in f32 and in f64.
//!
//! Tolerances:
//! * clipping by value: bit-identical (a comparison and a select).
//! * f64 norms and clipped gradients: within `1e-12` relative. PyTorch's sums of powers and
//!   ours add the same terms in different orders (PyTorch: its vectorised reduction per tensor,
//!   then the norm of the per-tensor norms; here: a fixed blocked order and one sum), which moves
//!   the last bits only.
//! * f32 norms: within 1 unit in the last place (ulp) of the *reference*, the norm of the same
//!   values computed by PyTorch in f64 and rounded to f32 (in practice: equal), and within
//!   `F32_ULPS` ulps of PyTorch's f32 result. PyTorch sums the powers of f32 gradients *in f32*
//!   (with f32 `powf` for p = 3.5, and a second f32 norm over the per-tensor norms); the
//!   recorded PyTorch f32 norms are up to 26 ulps from the f64 reference (p = 3.5 on gradients
//!   of magnitude 1e9 or 1e-8; 13 ulps for p = 1 over the 4,400-element list). The sum here is
//!   f64, rounded once: the norm here is the accurate one, and the tolerance is PyTorch's error.
//! * f32 clipped gradients: within `F32_ULPS` ulps of PyTorch's: `g · coef`, with `coef` computed
//!   from the norm, inherits the norm's difference plus the rounding of the reciprocal and the
//!   two products (at most 29 ulps in this fixture).
//! * Whenever the norm here has exactly PyTorch's bits, the clipped gradients must have exactly
//!   PyTorch's bits too (f32 and f64): that pins the coefficient to PyTorch's evaluation,
//!   `reciprocal(norm + 1e-6) * max_norm` in the gradients' dtype, clamped to 1.

use crate::common::json::{fixture, floats, number};
use ndarray::{
    Array1, Array2, ArrayD, ArrayViewMutD, Dimension, IxDyn, ShapeBuilder, Slice, array,
};
use ndarray_optim::{
    Error, Float, Tensor, TensorList, TensorListMut, TensorMut, clip_grad_norm,
    clip_grad_norm_per_tensor, clip_grad_value, clip_grads_with_norm, total_norm,
};
use serde_json::Value;

/// The largest distance, in f32 units in the last place, allowed between an f32 norm or clipped
/// gradient and PyTorch's: PyTorch's own f32 accumulation error (see the module documentation).
const F32_ULPS: u32 = 32;
const F64_RELATIVE: f64 = 1e-12;

fn shapes(case: &Value) -> Vec<Vec<usize>> {
    case["shapes"]
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
        .collect()
}

/// Row-major tensors from recorded flat values (exact: f32 values are recorded exactly).
fn tensors<A: Float>(shapes: &[Vec<usize>], values: &Value) -> Vec<ArrayD<A>> {
    shapes
        .iter()
        .zip(values.as_array().unwrap())
        .map(|(shape, flat)| {
            let data = floats(flat).into_iter().map(A::from_f64).collect();
            ArrayD::from_shape_vec(IxDyn(shape), data).unwrap()
        })
        .collect()
}

/// The same tensors in Fortran order.
fn fortran<A: Float>(ts: &[ArrayD<A>]) -> Vec<ArrayD<A>> {
    ts.iter()
        .map(|t| {
            let mut f = ArrayD::zeros(IxDyn(t.shape()).f());
            f.assign(t);
            f
        })
        .collect()
}

/// Bits of every element, NaN-insensitive to payload.
fn bits<A: Float>(ts: &[ArrayD<A>]) -> Vec<u64> {
    ts.iter()
        .flat_map(|t| t.iter())
        .map(|x| {
            let x = x.widen();
            if x.is_nan() { u64::MAX } else { x.to_bits() }
        })
        .collect()
}

fn ulps_f32(a: f32, b: f32) -> u32 {
    let key = |x: f32| {
        let i = x.to_bits() as i32;
        if i < 0 { i32::MIN - i } else { i }
    };
    key(a).abs_diff(key(b))
}

/// Whether `got` is within the dtype's tolerance of PyTorch's `want`.
fn close<A: Float>(got: f64, want: f64) -> bool {
    if want.is_nan() || got.is_nan() {
        return want.is_nan() && got.is_nan();
    }
    if want.is_infinite() || got.is_infinite() {
        return got == want;
    }
    if std::mem::size_of::<A>() == 4 {
        ulps_f32(got as f32, want as f32) <= F32_ULPS
    } else {
        (got - want).abs() <= F64_RELATIVE * want.abs()
    }
}

fn assert_close<A: Float>(got: &[ArrayD<A>], want: &[ArrayD<A>], what: &str) {
    for (t, (g, w)) in got.iter().zip(want).enumerate() {
        for ((index, &g), &w) in g.indexed_iter().zip(w.iter()) {
            assert!(
                close::<A>(g.widen(), w.widen()),
                "{what}: tensor {t} element {index:?}: got {:e}, PyTorch {:e}",
                g.widen(),
                w.widen()
            );
        }
    }
}

/// Largest error seen, for the summary line.
#[derive(Default)]
struct Worst {
    norm: f64,
    grad: f64,
    bit_identical_norms: usize,
    norms: usize,
    /// f32: ulps between the norm here and PyTorch's f64 reference, and how many were compared.
    reference: u32,
    reference_checks: usize,
}

impl Worst {
    fn error<A: Float>(got: f64, want: f64) -> f64 {
        if !want.is_finite() || want == 0.0 {
            return 0.0;
        }
        if std::mem::size_of::<A>() == 4 {
            f64::from(ulps_f32(got as f32, want as f32))
        } else {
            (got - want).abs() / want.abs()
        }
    }
}

fn check_value_records<A: Float>(name: &str, grads: &[ArrayD<A>], case: &Value) {
    let shapes = shapes(case);
    for record in case["value"].as_array().unwrap() {
        let clip_value = number(&record["clip_value"]);
        let want = tensors::<A>(&shapes, &record["grads"]);
        for mut g in [grads.to_vec(), fortran(grads)] {
            clip_grad_value(&mut g, clip_value).unwrap();
            assert_eq!(bits(&g), bits(&want), "{name}: clip_value {clip_value}");
        }
    }
}

fn check_norm_records<A: Float>(name: &str, grads: &[ArrayD<A>], case: &Value, worst: &mut Worst) {
    let shapes = shapes(case);
    let records = case["norm"].as_array().unwrap();
    assert!(!records.is_empty(), "{name}: no norm records");
    for record in records {
        let max_norm = number(&record["max_norm"]);
        let norm_type = number(&record["norm_type"]);
        let error_if_nonfinite = record["error_if_nonfinite"].as_bool().unwrap();
        let what = format!(
            "{name}: max_norm {max_norm}, norm_type {norm_type}, error_if_nonfinite {error_if_nonfinite}"
        );
        let mut g = grads.to_vec();
        let result = clip_grad_norm(&mut g, max_norm, norm_type, error_if_nonfinite);
        if record["error"].as_bool().unwrap() {
            match result {
                Err(Error::NonFiniteNorm {
                    tensor: None,
                    norm,
                    norm_type: p,
                }) => {
                    assert!(
                        !norm.is_finite() && p.to_bits() == norm_type.to_bits(),
                        "{what}"
                    );
                }
                other => panic!("{what}: PyTorch raised, got {other:?}"),
            }
            assert_eq!(bits(&g), bits(grads), "{what}: changed on error");
            continue;
        }
        let norm = result.unwrap_or_else(|e| panic!("{what}: {e}"));
        let torch_norm = number(&record["total_norm"]);
        assert!(
            close::<A>(norm, torch_norm),
            "{what}: norm {norm:e}, PyTorch {torch_norm:e}"
        );
        assert_eq!(
            A::from_f64(norm).widen().to_bits(),
            norm.to_bits(),
            "{what}: the norm is a value of the element type"
        );
        worst.norm = worst.norm.max(Worst::error::<A>(norm, torch_norm));
        if let Some(reference) = record.get("reference_norm").map(number) {
            // f32: the accurate norm, rounded once.
            let reference = f64::from(reference as f32);
            let off = if reference.is_finite() {
                ulps_f32(norm as f32, reference as f32)
            } else {
                u32::from(
                    norm.to_bits() != reference.to_bits() && !(norm.is_nan() && reference.is_nan()),
                )
            };
            assert!(
                off <= 1,
                "{what}: norm {norm:e}, f64 reference {reference:e}"
            );
            worst.reference = worst.reference.max(off);
            worst.reference_checks += 1;
        }
        // With error_if_nonfinite and no error, the gradients are those of the record without.
        let expected = if error_if_nonfinite {
            records
                .iter()
                .find(|r| {
                    !r["error_if_nonfinite"].as_bool().unwrap()
                        && number(&r["max_norm"]).to_bits() == max_norm.to_bits()
                        && number(&r["norm_type"]).to_bits() == norm_type.to_bits()
                })
                .expect("a record without error_if_nonfinite")
        } else {
            record
        };
        let want = tensors::<A>(&shapes, &expected["grads"]);
        assert_close(&g, &want, &what);
        for (got, want) in g
            .iter()
            .flat_map(|t| t.iter())
            .zip(want.iter().flat_map(|t| t.iter()))
        {
            worst.grad = worst.grad.max(Worst::error::<A>(got.widen(), want.widen()));
        }
        worst.norms += 1;
        if norm.to_bits() == torch_norm.to_bits() {
            worst.bit_identical_norms += 1;
            assert_eq!(bits(&g), bits(&want), "{what}: same norm, so the same bits");
        }

        // The same through the two-part API, and for Fortran-order and strided copies.
        let mut parts = grads.to_vec();
        let split = total_norm(&parts, norm_type, error_if_nonfinite).unwrap();
        assert_eq!(split.to_bits(), norm.to_bits(), "{what}: total_norm");
        clip_grads_with_norm(&mut parts, max_norm, split).unwrap();
        assert_eq!(bits(&parts), bits(&g), "{what}: clip_grads_with_norm");
        let mut f = fortran(grads);
        let f_norm = clip_grad_norm(&mut f, max_norm, norm_type, error_if_nonfinite).unwrap();
        assert_eq!(f_norm.to_bits(), norm.to_bits(), "{what}: Fortran order");
        assert_eq!(bits(&f), bits(&g), "{what}: Fortran order");
        let mut wide: Vec<ArrayD<A>> = grads
            .iter()
            .map(|t| {
                // Every other element of a twice-as-long last axis.
                let mut shape = t.shape().to_vec();
                if let Some(last) = shape.last_mut() {
                    *last *= 2;
                }
                let mut w = ArrayD::from_elem(IxDyn(&shape), A::from_f64(1e30));
                if let Some(axis) = t.ndim().checked_sub(1) {
                    w.slice_axis_mut(ndarray::Axis(axis), Slice::new(0, None, 2))
                        .assign(t);
                } else {
                    w.assign(t);
                }
                w
            })
            .collect();
        let mut views: Vec<ArrayViewMutD<'_, A>> = wide
            .iter_mut()
            .map(|w| {
                let ndim = w.ndim();
                let mut v = w.view_mut();
                if ndim > 0 {
                    v.slice_axis_inplace(ndarray::Axis(ndim - 1), Slice::new(0, None, 2));
                }
                v
            })
            .collect();
        let s_norm = clip_grad_norm(&mut views, max_norm, norm_type, error_if_nonfinite).unwrap();
        assert_eq!(s_norm.to_bits(), norm.to_bits(), "{what}: strided views");
        let strided: Vec<ArrayD<A>> = views.iter().map(|v| v.to_owned()).collect();
        assert_eq!(bits(&strided), bits(&g), "{what}: strided views");
        drop(views);
        for w in &wide {
            // The elements between the view's are untouched.
            if let Some(axis) = w.ndim().checked_sub(1)
                && w.len_of(ndarray::Axis(axis)) > 0
            {
                let gaps = w.slice_axis(ndarray::Axis(axis), Slice::new(1, None, 2));
                assert!(gaps.iter().all(|&x| x.widen() == A::from_f64(1e30).widen()));
            }
        }
    }
}

fn check_per_tensor_records<A: Float>(name: &str, grads: &[ArrayD<A>], case: &Value) {
    let shapes = shapes(case);
    for record in case["per_tensor"].as_array().unwrap() {
        let max_norm = number(&record["max_norm"]);
        let norm_type = number(&record["norm_type"]);
        let what = format!("{name}: per tensor, max_norm {max_norm}, norm_type {norm_type}");
        let want = tensors::<A>(&shapes, &record["grads"]);
        let torch_norms = floats(&record["norms"]);

        let mut g = grads.to_vec();
        let total = clip_grad_norm_per_tensor(&mut g, max_norm, norm_type, false).unwrap();
        assert_eq!(
            total.to_bits(),
            total_norm(&grads, norm_type, false).unwrap().to_bits(),
            "{what}: returns the norm of all gradients"
        );
        assert_close(&g, &want, &what);
        // Each tensor alone through clip_grad_norm: the same bits, and PyTorch's norm.
        for (index, (tensor, &torch_norm)) in grads.iter().zip(&torch_norms).enumerate() {
            let mut alone = tensor.clone();
            let norm = clip_grad_norm(&mut alone, max_norm, norm_type, false).unwrap();
            assert!(
                close::<A>(norm, torch_norm),
                "{what}: tensor {index}: {norm:e} vs {torch_norm:e}"
            );
            assert_eq!(
                bits(&[alone]),
                bits(&g[index..=index]),
                "{what}: tensor {index}"
            );
        }
        // error_if_nonfinite refers to each tensor's own norm.
        let mut checked = grads.to_vec();
        let result = clip_grad_norm_per_tensor(&mut checked, max_norm, norm_type, true);
        match torch_norms.iter().position(|n| !n.is_finite()) {
            Some(first) => {
                assert!(
                    matches!(result, Err(Error::NonFiniteNorm { tensor: Some(t), .. }) if t == first),
                    "{what}: {result:?}"
                );
                assert_eq!(bits(&checked), bits(grads), "{what}: changed on error");
            }
            None => {
                result.unwrap();
                assert_eq!(bits(&checked), bits(&g), "{what}");
            }
        }
    }
}

fn run<A: Float>(tag: &str) {
    let doc = fixture("clip.json");
    let mut worst = Worst::default();
    let mut count = 0;
    for case in doc["cases"].as_array().unwrap() {
        if case["dtype"] != tag {
            continue;
        }
        count += 1;
        let name = case["name"].as_str().unwrap();
        let grads = tensors::<A>(&shapes(case), &case["grads"]);
        check_value_records(name, &grads, case);
        check_norm_records(name, &grads, case, &mut worst);
        check_per_tensor_records(name, &grads, case);
    }
    assert_eq!(count, 11, "{tag}: gradient lists in the fixture");
    println!(
        "{tag}: worst norm error {:e}, worst gradient error {:e} ({}); {} of {} norms \
         bit-identical to PyTorch; {} norms at most {} ulp from PyTorch's f64 reference",
        worst.norm,
        worst.grad,
        if tag == "f32" { "ulps" } else { "relative" },
        worst.bit_identical_norms,
        worst.norms,
        worst.reference_checks,
        worst.reference
    );
    if tag == "f32" {
        assert!(
            worst.reference_checks >= 80,
            "the f32 records carry f64 references (89)"
        );
    }
}

#[test]
fn f64_matches_pytorch() {
    run::<f64>("f64");
}

#[test]
fn f32_matches_pytorch() {
    run::<f32>("f32");
}

/// What the module documentation says PyTorch does differently, checked against the recorded
/// PyTorch numbers, and what this crate does instead.
#[test]
fn documented_differences_from_pytorch() {
    let doc = fixture("clip.json");
    let quirks = &doc["quirks"];
    let shapes = {
        let mut case = serde_json::Map::new();
        case.insert("shapes".into(), quirks["shapes"].clone());
        shapes(&Value::Object(case))
    };
    let grads = tensors::<f32>(&shapes, &quirks["grads"]);
    // Norm type 0: PyTorch's total is the number of tensors with a non-zero element (2 of 3).
    let nonzero_tensors = grads.iter().filter(|t| t.iter().any(|&x| x != 0.0)).count();
    assert_eq!(
        number(&quirks["norm_type_0"]["total_norm"]),
        nonzero_tensors as f64
    );
    // Negative norm types: one all-zero tensor makes PyTorch's total 0: nothing is clipped.
    assert_eq!(number(&quirks["norm_type_negative"]["total_norm"]), 0.0);
    assert_eq!(number(&quirks["norm_type_neg_inf"]["total_norm"]), 0.0);
    for norm_type in [0.0, -1.0, f64::NEG_INFINITY, f64::NAN] {
        let mut g = grads.clone();
        assert!(matches!(
            clip_grad_norm(&mut g, 1.0, norm_type, false),
            Err(Error::InvalidHyperparameter {
                name: "norm_type",
                ..
            })
        ));
        assert_eq!(bits(&g), bits(&grads));
    }
    // The inf-norm of an empty tensor: PyTorch raises, here it is 0.
    assert_eq!(quirks["inf_norm_of_empty_tensor_raises"], true);
    let with_empty = (array![-1.5_f32], Array1::<f32>::zeros(0));
    assert_eq!(total_norm(&with_empty, f64::INFINITY, true).unwrap(), 1.5);
    // f32 sums: PyTorch's f32 accumulator overflows (inf, gradients zeroed); here the norm is
    // exact and the gradients are clipped properly.
    let overflow = &quirks["f32_sum_overflow"];
    assert_eq!(number(&overflow["total_norm"]), f64::INFINITY);
    assert!(floats(&overflow["grads"]).iter().all(|&x| x == 0.0));
    let value = number(&overflow["value"]) as f32;
    let mut g = Array1::from_elem(4, value);
    let norm = clip_grad_norm(&mut g, 1.0, 2.0, true).unwrap();
    assert_eq!(norm, f64::from((2.0 * f64::from(value)) as f32));
    assert!(g.iter().all(|&x| (x - 0.5).abs() < 1e-6), "{g}");
    let underflow = &quirks["f32_sum_underflow"];
    assert_eq!(number(&underflow["total_norm"]), 0.0);
    let value = number(&underflow["value"]) as f32;
    let norm = total_norm(&Array1::from_elem(4, value), 2.0, false).unwrap();
    assert_eq!(norm, f64::from((2.0 * f64::from(value)) as f32));
    // A norm beyond f32::MAX is inf in f32, as in PyTorch: refused, or all gradients zeroed.
    let mut huge = Array1::from_elem(4, f32::MAX);
    assert!(matches!(
        clip_grad_norm(&mut huge, 1.0, 2.0, true),
        Err(Error::NonFiniteNorm { tensor: None, .. })
    ));
    assert!(huge.iter().all(|&x| x == f32::MAX));
    assert_eq!(
        clip_grad_norm(&mut huge, 1.0, 2.0, false).unwrap(),
        f64::INFINITY
    );
    assert!(huge.iter().all(|&x| x == 0.0));
}

#[test]
fn invalid_arguments_change_nothing() {
    let original = array![[1.0_f64, -2.0], [3.0, f64::NAN]];
    let invalid = |name: &'static str| move |r: Result<_, Error>| matches!(r, Err(Error::InvalidHyperparameter { name: n, .. }) if n == name);
    for bad in [-1.0, f64::NAN, f64::NEG_INFINITY] {
        let mut g = original.clone();
        assert!(invalid("clip_value")(
            clip_grad_value(&mut g, bad).map(|_| 0.0)
        ));
        assert!(invalid("max_norm")(clip_grad_norm(&mut g, bad, 2.0, false)));
        assert!(invalid("max_norm")(clip_grad_norm_per_tensor(
            &mut g, bad, 2.0, false
        )));
        assert!(invalid("max_norm")(
            clip_grads_with_norm(&mut g, bad, 1.0).map(|_| 0.0)
        ));
        assert_eq!(bits(&[g.into_dyn()]), bits(&[original.clone().into_dyn()]));
    }
    let mut g = original.clone();
    assert!(invalid("total_norm")(
        clip_grads_with_norm(&mut g, 1.0, -1.0).map(|_| 0.0)
    ));
    assert!(invalid("norm_type")(clip_grad_norm_per_tensor(
        &mut g, 1.0, 0.0, false
    )));
    assert!(invalid("norm_type")(total_norm(&g, -2.0, false)));
    assert_eq!(bits(&[g.into_dyn()]), bits(&[original.into_dyn()]));
}

/// A list whose `len()` promises more tensors than it yields.
struct Liar(Array1<f64>);

impl TensorList<f64> for Liar {
    fn len(&self) -> usize {
        3
    }
    fn tensor(&self, index: usize) -> Option<&dyn Tensor<f64>> {
        (index == 0).then_some(&self.0 as &dyn Tensor<f64>)
    }
}

impl TensorListMut<f64> for Liar {
    fn tensor_mut(&mut self, index: usize) -> Option<&mut dyn TensorMut<f64>> {
        (index == 0).then_some(&mut self.0 as &mut dyn TensorMut<f64>)
    }
}

#[test]
fn a_list_that_lies_about_its_length_is_an_error_not_a_panic() {
    let mut liar = Liar(array![10.0, 0.0]);
    let missing = |r: Result<f64, Error>| {
        matches!(
            r,
            Err(Error::LengthMismatch {
                params: 3,
                grads: 1
            })
        )
    };
    assert!(missing(clip_grad_norm(&mut liar, 1.0, 2.0, false)));
    assert!(missing(clip_grad_norm_per_tensor(
        &mut liar, 1.0, 2.0, false
    )));
    assert!(missing(total_norm(&liar, 2.0, false)));
    assert!(missing(clip_grad_value(&mut liar, 1.0).map(|_| 0.0)));
    assert!(missing(
        clip_grads_with_norm(&mut liar, 1.0, 10.0).map(|_| 0.0)
    ));
    assert_eq!(liar.0, array![10.0, 0.0]);
}

#[test]
fn edge_cases() {
    // An empty list: norm 0, nothing to do.
    let mut none: Vec<Array1<f32>> = Vec::new();
    assert_eq!(clip_grad_norm(&mut none, 1.0, 2.0, true).unwrap(), 0.0);
    assert_eq!(
        clip_grad_norm_per_tensor(&mut none, 1.0, 1.0, true).unwrap(),
        0.0
    );
    clip_grad_value(&mut none, 0.5).unwrap();
    // Tensors without elements, of several ranks, beside a 0-dimensional one.
    let mut g = (
        Array2::<f64>::zeros((0, 3)),
        ArrayD::<f64>::zeros(IxDyn(&[2, 0, 4])),
        ndarray::arr0(-4.0_f64),
    );
    for norm_type in [0.5, 1.0, 2.0, 3.5, f64::INFINITY] {
        let mut h = g.clone();
        let norm = clip_grad_norm(&mut h, 1.0, norm_type, true).unwrap();
        assert!((norm - 4.0).abs() < 1e-15, "{norm_type}: {norm}"); // (4ᵖ)^(1/p) rounds
        assert!((h.2[()] + 1.0).abs() < 1e-6);
    }
    clip_grad_value(&mut g, 1.0).unwrap();
    assert_eq!(g.2[()], -1.0);
    // A 6-dimensional tensor (ndarray stores its shape on the heap) in Fortran order.
    let c = ArrayD::from_shape_fn(IxDyn(&[2, 3, 1, 2, 2, 3]), |i| {
        (i.slice().iter().sum::<usize>() as f64 * 0.7).sin()
    });
    let mut f = ArrayD::zeros(IxDyn(c.shape()).f());
    f.assign(&c);
    for norm_type in [1.0, 2.0, 3.5, f64::INFINITY] {
        let (mut c2, mut f2) = (c.clone(), f.clone());
        let a = clip_grad_norm(&mut c2, 0.1, norm_type, false).unwrap();
        let b = clip_grad_norm(&mut f2, 0.1, norm_type, false).unwrap();
        assert_eq!(a.to_bits(), b.to_bits());
        assert_eq!(bits(&[c2]), bits(&[f2]));
    }
    // max_norm = +inf never clips; max_norm = 0 zeroes; clip_value = 0 zeroes.
    let original = array![3.0_f32, -4.0];
    let mut g = original.clone();
    clip_grad_norm(&mut g, f64::INFINITY, 2.0, false).unwrap();
    assert_eq!(g, original);
    clip_grad_norm(&mut g, 0.0, 2.0, false).unwrap();
    assert_eq!(g, array![0.0, -0.0]);
    let mut g = original.clone();
    clip_grad_value(&mut g, f64::INFINITY).unwrap();
    assert_eq!(g, original);
    clip_grad_value(&mut g, 0.0).unwrap();
    assert_eq!(g, array![0.0, 0.0]);
}
