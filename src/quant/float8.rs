//! float8 e4m3fn codes, torchao's `AdamFp8` state: a block's values scaled by its largest
//! magnitude over 448 (e4m3fn's largest finite value), each stored as the e4m3fn number nearest
//! it (one sign bit, four exponent bits of bias 7, three mantissa bits; no infinities, the one
//! NaN `0x7f` with either sign).
//!
//! The conversion is PyTorch's (`c10::detail::fp8e4m3fn_from_fp32_value`, 2.15), bit for bit:
//! round to nearest even; magnitudes that round above 448, and infinities, saturate to ±448;
//! a NaN is `0x7f` with its sign. Both directions are arithmetic, with no table: written
//! without branches, they vectorise in the crate's SIMD contexts (the loops of `src/pass.rs`),
//! which is what makes this state cheaper to update than the code maps' searched codes.

/// e4m3fn's largest finite value: a block's largest magnitude is scaled to it.
pub(crate) const MAX: f32 = 448.0;

/// The e4m3fn code of `x`, as PyTorch converts it.
#[inline(always)]
pub(crate) fn code(x: f32) -> u8 {
    let bits = x.to_bits();
    let sign = bits & 0x8000_0000;
    let magnitude = bits ^ sign;
    // Below 2^-6, the smallest normal: adding 2^14 rounds the value to a multiple of 2^-9 (an
    // ulp of 2^14 in `f32`), the subnormals' spacing, and leaves that multiple in the low bits.
    let subnormal = (f32::from_bits(magnitude) + 16384.0)
        .to_bits()
        .wrapping_sub(141 << 23);
    // Otherwise the exponent is rebiased (127 to 7) and the 20 dropped mantissa bits rounded
    // to nearest even; above 448 (code 0x7e) the result saturates.
    let odd = (magnitude >> 20) & 1;
    // (Wrapping: below 2^-6 the result is not used.)
    let normal = magnitude
        .wrapping_sub(120 << 23)
        .wrapping_add(0x7ffff + odd)
        >> 20;
    let code = if magnitude < 121 << 23 {
        subnormal
    } else {
        normal.min(0x7e)
    };
    let code = if magnitude > 0x7f80_0000 { 0x7f } else { code };
    (code | sign >> 24) as u8
}

/// The value of an e4m3fn code, as PyTorch converts it (the NaN codes give PyTorch's NaN bits,
/// `0x7ff00000` with the sign).
#[inline(always)]
pub(crate) fn value(code: u8) -> f32 {
    f32::from_bits(value_bits(code))
}

/// [`value`]'s bits, in a `const` form (for the table of [`VALUES`]).
#[inline(always)]
const fn value_bits(code: u8) -> u32 {
    let magnitude = (code & 0x7f) as u32;
    let sign = ((code & 0x80) as u32) << 24;
    // A normal number's exponent and mantissa are the code's, rebiased (7 to 127).
    let normal = (magnitude << 20) + (120 << 23);
    // A subnormal one is its mantissa times 2^-9 (exact in `f32`).
    let subnormal = (magnitude as i32 as f32 * (1.0 / 512.0)).to_bits();
    let bits = if magnitude < 8 {
        subnormal
    } else if magnitude == 0x7f {
        0x7ff0_0000
    } else {
        normal
    };
    bits | sign
}

/// Every code's value's bits, in code order (not sorted: the negative codes follow the
/// positive ones).
pub(crate) const VALUES: [u32; 256] = {
    let mut values = [0; 256];
    let mut c = 0;
    while c < 256 {
        values[c] = value_bits(c as u8);
        c += 1;
    }
    values
};

/// `out[i] = code(x[i])`.
#[inline(always)]
pub(crate) fn codes_of(x: &[f32], out: &mut [u8]) {
    for (o, &x) in out.iter_mut().zip(x) {
        *o = code(x);
    }
}

/// `out[i] = code(x[i] / scale)`: a block's codes from its values (an infinite value gives the
/// code of the saturated one, ±448; a NaN one, or a NaN `scale`, a NaN code), in the vector
/// forms of `vector` when `scale` is not NaN (the block then holds no NaN).
#[inline(always)]
pub(crate) fn codes_of_scaled(
    x: &[f32],
    scale: f32,
    out: &mut [u8],
    vector: Option<super::Vector>,
) {
    #[cfg(target_arch = "x86_64")]
    if !scale.is_nan() {
        use super::{Vector, x86};
        match vector {
            Some(Vector::Avx512(vbmi)) => return x86::float8_codes_avx512(vbmi, x, scale, out),
            Some(Vector::Avx2(avx2)) => return x86::float8_codes_avx2(avx2, x, scale, out),
            None => {}
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    if let Some(never) = vector {
        match never {}
    }
    for (o, &x) in out.iter_mut().zip(x) {
        *o = code(x / scale);
    }
}

/// `out[i] = value(codes[i]) · scale`.
#[inline(always)]
pub(crate) fn values_of(codes: &[u8], scale: f32, out: &mut [f32]) {
    for (o, &c) in out.iter_mut().zip(codes) {
        *o = value(c) * scale;
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values on purpose
mod tests {
    use super::*;

    /// The nearest e4m3fn value to `x`, ties to the even code, found among the 256 values: an
    /// independent statement of the rounding, with PyTorch's saturation and NaN.
    fn nearest(x: f32) -> u8 {
        if x.is_nan() {
            return if x.is_sign_negative() { 0xff } else { 0x7f };
        }
        let sign = if x.is_sign_negative() { 0x80 } else { 0 };
        let magnitude = f64::from(x.abs());
        let mut best = 0u8;
        for c in 0..0x7f_u8 {
            let (d, b) = (
                (f64::from(value(c)) - magnitude).abs(),
                (f64::from(value(best)) - magnitude).abs(),
            );
            if d < b || (d == b && c % 2 == 0) {
                best = c;
            }
        }
        best | sign
    }

    #[test]
    fn values_are_e4m3fn() {
        assert_eq!(value(0x00), 0.0);
        assert_eq!(value(0x01), 2f32.powi(-9));
        assert_eq!(value(0x07), 7.0 * 2f32.powi(-9));
        assert_eq!(value(0x08), 2f32.powi(-6));
        assert_eq!(value(0x38), 1.0);
        assert_eq!(value(0x7e), MAX);
        assert_eq!(value(0xfe), -MAX);
        assert!(value(0x7f).is_nan() && value(0xff).is_nan());
        assert_eq!(value(0x80).to_bits(), 0x8000_0000);
        // Every code but the NaNs is its value's code.
        for c in (0..=255u8).filter(|c| c & 0x7f != 0x7f) {
            assert_eq!(code(value(c)), c, "{c:#x}");
        }
    }

    #[test]
    fn codes_are_the_nearest_values() {
        let mut probes = vec![
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
            f32::MAX,
            f32::MIN_POSITIVE,
            1e-45,
            463.9,
            464.0,
            464.1,
            479.9,
            480.0,
            1e6,
        ];
        // Every value, the midpoints between neighbours and the floats either side of each.
        for c in 0..0x7e_u8 {
            let (a, b) = (value(c), value(c + 1));
            let mid = ((f64::from(a) + f64::from(b)) / 2.0) as f32;
            for x in [
                a,
                mid,
                f32::from_bits(mid.to_bits() - 1),
                f32::from_bits(mid.to_bits() + 1),
            ] {
                probes.push(x);
                probes.push(-x);
            }
        }
        for x in probes {
            assert_eq!(code(x), nearest(x), "{x:e} ({:#x})", x.to_bits());
        }
    }

    /// The vector forms give the scalar codes: on the midpoints and their neighbours scaled by
    /// scales from the smallest to the largest, on random bits, at every length of tail.
    #[test]
    fn vector_forms_give_the_scalar_codes() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u32
        };
        for scale in [1.0, 1e-12 / MAX, 3.7e-3, 0.1, f32::MAX / MAX, 1e-30] {
            let mut x = vec![
                f32::INFINITY,
                f32::NEG_INFINITY,
                0.0,
                -0.0,
                f32::MAX,
                f32::MIN,
            ];
            for c in 0..0x7e_u8 {
                let mid = (f64::from(value(c)) + f64::from(value(c + 1))) / 2.0;
                let m = (mid * f64::from(scale)) as f32;
                for y in [
                    m,
                    f32::from_bits(m.to_bits() + 1),
                    f32::from_bits(m.to_bits() - 1),
                ] {
                    x.push(y);
                    x.push(-y);
                }
            }
            x.extend(
                (0..1000)
                    .map(|_| f32::from_bits(random()))
                    .filter(|x| !x.is_nan()),
            );
            let want: Vec<u8> = x.iter().map(|&x| code(x / scale)).collect();
            for vector in super::super::Vector::all() {
                for len in (0..200).chain([x.len()]) {
                    let mut got = vec![0u8; len];
                    codes_of_scaled(&x[..len], scale, &mut got, Some(vector));
                    assert_eq!(
                        got,
                        want[..len],
                        "{vector:?}, scale {scale:e}, {len} values"
                    );
                }
            }
        }
        // A NaN scale (a block with a NaN): NaN codes, by every form.
        for vector in super::super::Vector::all() {
            let mut got = [0u8; 70];
            codes_of_scaled(&[1.0; 70], f32::NAN, &mut got, Some(vector));
            assert!(got.iter().all(|&c| c & 0x7f == 0x7f), "{vector:?}");
        }
    }

    /// The vector forms of the values give the scalar ones' bits: every code but the NaNs at
    /// every length of tail, times scales from 0 to the largest; and with a NaN scale (a block
    /// with a NaN), every code.
    #[test]
    fn vector_values_are_the_scalar_ones() {
        use super::super::{CodeMap, Vector};
        let codes: Vec<u8> = (0..=255u8)
            .cycle()
            .take(600)
            .filter(|c| c & 0x7f != 0x7f)
            .collect();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for scale in [0.0, 1e-12 / MAX, 3.7e-3, 1.0, f32::MAX / MAX, f32::NAN] {
            let all: Vec<u8> = if scale.is_nan() {
                (0..=255).collect()
            } else {
                codes.clone()
            };
            let mut want = vec![0f32; all.len()];
            values_of(&all, scale, &mut want);
            for vector in Vector::all() {
                for len in (0..70).chain([all.len()]) {
                    let mut got = vec![0f32; len];
                    CodeMap::Float8.values_of(&all[..len], scale, &mut got, Some(vector));
                    assert_eq!(bits(&got), bits(&want[..len]), "{vector:?} {scale:e} {len}");
                }
            }
        }
    }

    /// Every `f32` (about a minute in release; `cargo test --release --lib -- --ignored`).
    #[test]
    #[ignore = "2^32 values: run with --release"]
    fn every_f32_is_coded_to_the_nearest_value() {
        // The nearest value by the midpoints: the code is the number of midpoints below the
        // magnitude, moved down at an exact tie to an odd code.
        let midpoints: Vec<f64> = (0..0x7e_u8)
            .map(|c| (f64::from(value(c)) + f64::from(value(c + 1))) / 2.0)
            .collect();
        for bits in 0..=u32::MAX {
            let x = f32::from_bits(bits);
            let want = if x.is_nan() {
                0x7f
            } else {
                let m = f64::from(x.abs());
                let c = midpoints.partition_point(|&mid| mid < m);
                // At an exact midpoint, the even one of its two codes.
                if c < midpoints.len() && midpoints[c] == m && c % 2 == 1 {
                    c as u8 + 1
                } else {
                    c as u8
                }
            } | if x.is_sign_negative() { 0x80 } else { 0 };
            assert_eq!(code(x), want, "{bits:#x}");
        }
        // And the vector forms, on every `f32` but the NaNs (a block holds none when its scale
        // is not NaN).
        let (mut x, mut want, mut got) =
            (vec![0f32; 1 << 16], vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
        for vector in super::super::Vector::all() {
            for high in 0..1u32 << 16 {
                for (low, x) in x.iter_mut().enumerate() {
                    let y = f32::from_bits(high << 16 | low as u32);
                    *x = if y.is_nan() { 0.0 } else { y };
                }
                codes_of_scaled(&x, 1.0, &mut got, Some(vector));
                codes_of_scaled(&x, 1.0, &mut want, None);
                assert_eq!(got, want, "{vector:?}, {high:#x}xxxx");
            }
        }
    }
}
