//! 8-bit, float8 and 4-bit Adam and AdamW (`quantized_state`) against torchao 0.18's
//! `Adam8bit`, `AdamW8bit`, `AdamFp8`, `AdamWFp8`, `Adam4bit` and `AdamW4bit`
//! (`tests/fixtures/generate_lowbit.py`), after every
//! step: every parameter, every code and scale of the quantised moments, and the `f32` moments
//! of the tensors torchao keeps in full precision (4,097 elements, not a multiple of the block;
//! 10 elements, under 4,096).
//!
//! Bit for bit against torchao's arithmetic with a correctly rounded square root (`ieee_sqrt`:
//! PyTorch's CPU `sqrt` is MKL's, which returns about 0.5% of its results one ulp low, and is
//! the only operation that differs). Against torchao as it runs (`trajectory`): every code and
//! scale exactly where the parameter does not enter the moments (no coupled decay), and
//! otherwise every code within one step of the map (or one float8 number of the next); every parameter within `10⁻⁸ + 2⁻²⁰·|p|`.

use ndarray::{ArrayD, IxDyn};
use ndarray_optim::{AdamConfig, AdamWConfig, CodeFormat, Optimizer, OptimizerState, Quantization};
use serde_json::Value;

use crate::common::json::{bytes, fixture, floats_f32};

/// The generator's integer hash.
fn hash32(x: u32) -> u32 {
    let mut x = x.wrapping_mul(0x9E37_79B1);
    x ^= x >> 15;
    x = x.wrapping_mul(0x85EB_CA77);
    x ^= x >> 13;
    x = x.wrapping_mul(0xC2B2_AE35);
    x ^= x >> 16;
    x
}

/// The generator's values: a 24-bit integer over 2²³, exact in `f32`.
fn value(seed: u64, i: usize) -> f32 {
    let h = hash32(((seed * 1_000_003 + i as u64) & 0xFFFF_FFFF) as u32);
    ((h >> 8) as i32 - (1 << 23)) as f32 / (1 << 23) as f32
}

fn tensor(seed: u64, shape: &[usize], exponents: Option<&[i32]>) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|i| {
            let x = value(seed, i);
            match exponents {
                // × 2^e, exactly.
                Some(e) => x * f32::from_bits(((127 + e[(i / 256) % e.len()]) as u32) << 23),
                None => x,
            }
        })
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), data).unwrap()
}

/// Recorded `f32` values, as their bits.
fn f32_bits(v: &Value) -> Vec<u32> {
    floats_f32(v).iter().map(|x| x.to_bits()).collect()
}

fn build(kind: &str, kwargs: &Value) -> Box<dyn Optimizer<f32>> {
    let q = if kind.ends_with("8bit") {
        Quantization::int8()
    } else if kind.ends_with("Fp8") {
        Quantization::fp8()
    } else {
        Quantization::int4()
    };
    let lr = kwargs["lr"].as_f64().unwrap();
    let betas = kwargs.get("betas").map_or((0.9, 0.999), |b| {
        (b[0].as_f64().unwrap(), b[1].as_f64().unwrap())
    });
    let eps = kwargs.get("eps").map_or(1e-8, |e| e.as_f64().unwrap());
    let decay = kwargs.get("weight_decay").map(|w| w.as_f64().unwrap());
    if kind.starts_with("AdamW") {
        Box::new(
            AdamWConfig::default()
                .lr(lr)
                .betas(betas)
                .eps(eps)
                .weight_decay(decay.unwrap_or(1e-2))
                .quantized_state(q)
                .build::<f32>()
                .unwrap(),
        )
    } else {
        Box::new(
            AdamConfig::default()
                .lr(lr)
                .betas(betas)
                .eps(eps)
                .weight_decay(decay.unwrap_or(0.0))
                .quantized_state(q)
                .build::<f32>()
                .unwrap(),
        )
    }
}

/// The mismatches between one tensor's saved state and the fixture's, described.
fn state_mismatches(saved: &OptimizerState<f32>, t: usize, want: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let tensor = &saved.tensors[t];
    for name in ["exp_avg", "exp_avg_sq"] {
        let want = &want[name];
        if let Some(values) = want.get("values") {
            let Some(got) = tensor.buffers.get(name) else {
                out.push(format!("{name}: not kept in f32"));
                continue;
            };
            let got: Vec<u32> = got.iter().map(|x| x.to_bits()).collect();
            let bad = got
                .iter()
                .zip(f32_bits(values))
                .filter(|(a, b)| **a != *b)
                .count();
            if bad > 0 {
                out.push(format!("{name}: {bad} of {} values differ", got.len()));
            }
        } else {
            let Some(got) = tensor.quantized.get(name) else {
                out.push(format!("{name}: not quantised"));
                continue;
            };
            assert_eq!(got.block_size as u64, want["block_size"].as_u64().unwrap());
            let codes = bytes(&want["codes"]);
            let bad = got.codes.iter().zip(&codes).filter(|(a, b)| a != b).count();
            if bad > 0 || got.codes.len() != codes.len() {
                out.push(format!("{name}: {bad} of {} codes differ", codes.len()));
            }
            let scales: Vec<u32> = got.scales.iter().map(|x| x.to_bits()).collect();
            let bad = scales
                .iter()
                .zip(f32_bits(&want["scales"]))
                .filter(|(a, b)| **a != *b)
                .count();
            if bad > 0 {
                out.push(format!("{name}: {bad} of {} scales differ", scales.len()));
            }
        }
    }
    out
}

#[test]
fn low_bit_adam_is_torchaos_bit_for_bit_with_a_correctly_rounded_sqrt() {
    let failures = compare("ieee_sqrt", true);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn low_bit_adam_is_torchaos_within_its_square_roots() {
    let failures = compare("trajectory", false);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The unpacked codes of a buffer, as positions in the order of their values (float8 codes are
/// a sign and a magnitude: −448 is position 2, ±0 both 128, 448 is 254).
fn unpacked(codes: &[u8], bits: u32, format: CodeFormat) -> Vec<u8> {
    if format == CodeFormat::Float8 {
        return codes
            .iter()
            .map(|&c| {
                if c & 0x80 != 0 {
                    0x80 - (c & 0x7f)
                } else {
                    0x80 + c
                }
            })
            .collect();
    }
    if bits == 8 {
        return codes.to_vec();
    }
    codes.iter().flat_map(|c| [c >> 4, c & 0x0f]).collect()
}

/// Every difference between the run and the fixture's `key` trajectory, described: all of them
/// if `exact`, else those beyond what PyTorch's square root explains (see the module docs).
fn compare(key: &str, exact: bool) -> Vec<String> {
    let doc = fixture("lowbit.json");
    let shapes: Vec<Vec<usize>> = doc["shapes"]
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
    let exponents: Vec<i32> = doc["block_exponents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_i64().unwrap() as i32)
        .collect();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 7);
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let mut opt = build(case["optimizer"].as_str().unwrap(), &case["kwargs"]);
        let mut params: Vec<ArrayD<f32>> = shapes
            .iter()
            .enumerate()
            .map(|(t, s)| tensor(1 + t as u64, s, None))
            .collect();
        let coupled = case["optimizer"].as_str().unwrap().starts_with("Adam")
            && !case["optimizer"].as_str().unwrap().starts_with("AdamW")
            && case["kwargs"]
                .get("weight_decay")
                .is_some_and(|w| w.as_f64() != Some(0.0));
        for (k, want) in case[key].as_array().unwrap().iter().enumerate() {
            let step = k as u64 + 1;
            let grads: Vec<ArrayD<f32>> = shapes
                .iter()
                .enumerate()
                .map(|(t, s)| tensor(100 + 10 * step + t as u64, s, Some(&exponents)))
                .collect();
            opt.step(&mut params, &grads).unwrap();
            let saved = opt.save_state();
            for (t, p) in params.iter().enumerate() {
                let want_p = f32_bits(&want["params"][t]);
                let bad = p
                    .iter()
                    .zip(&want_p)
                    .filter(|(a, b)| {
                        let b = f32::from_bits(**b);
                        if exact {
                            a.to_bits() != b.to_bits()
                        } else {
                            // A step of γ ≤ 10⁻² whose √v was one ulp off: 10⁻⁹.
                            (**a - b).abs() > 1e-8 + a.abs().max(b.abs()) * 2f32.powi(-20)
                        }
                    })
                    .count();
                if bad > 0 {
                    failures.push(format!(
                        "{name} step {step} tensor {t}: {bad} of {} parameters differ",
                        want_p.len()
                    ));
                }
                if exact || !coupled {
                    for m in state_mismatches(&saved, t, &want["state"][t]) {
                        failures.push(format!("{name} step {step} tensor {t}: {m}"));
                    }
                } else if let Some(q) = saved.tensors[t].quantized.get("exp_avg") {
                    // Coupled decay: the parameter's last bits enter the moments.
                    let got = unpacked(&q.codes, q.bits, q.format);
                    let want = bytes(&want["state"][t]["exp_avg"]["codes"]);
                    let want = unpacked(&want, q.bits, q.format);
                    if got.iter().zip(&want).any(|(a, b)| a.abs_diff(*b) > 1) {
                        failures.push(format!(
                            "{name} step {step} tensor {t}: a code is off by more than one"
                        ));
                    }
                }
            }
        }
    }
    failures
}
