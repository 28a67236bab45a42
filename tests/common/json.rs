//! Reading the reference fixtures: `tests/fixtures/*.json`, each written by the generator
//! script beside it.

use serde_json::Value;

/// `tests/fixtures/{file}`, parsed.
pub fn fixture(file: &str) -> Value {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (the generator beside it writes it)"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A recorded number: a JSON number, or "inf", "-inf" or "nan" (JSON has no literal for them).
pub fn number(x: &Value) -> f64 {
    match x.as_str() {
        Some("inf") => f64::INFINITY,
        Some("-inf") => f64::NEG_INFINITY,
        Some("nan") => f64::NAN,
        _ => x
            .as_f64()
            .unwrap_or_else(|| panic!("a recorded number, not {x}")),
    }
}

/// An array of recorded numbers.
pub fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("an array").iter().map(number).collect()
}

/// An array of recorded numbers, each rounded to `f32` (the generators write `f32` values as
/// the `f64`s they convert to exactly).
pub fn floats_f32(v: &Value) -> Vec<f32> {
    floats(v).into_iter().map(|x| x as f32).collect()
}

/// An array of bytes (quantised codes).
pub fn bytes(v: &Value) -> Vec<u8> {
    let byte = |c: &Value| c.as_u64().and_then(|c| u8::try_from(c).ok());
    v.as_array()
        .expect("an array")
        .iter()
        .map(|c| byte(c).unwrap_or_else(|| panic!("a byte, not {c}")))
        .collect()
}
