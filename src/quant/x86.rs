//! AVX2 and AVX-512 forms of the quantised state's table loads, on x86-64.
//!
//! The rest of the crate leaves vectorisation to the compiler, but a table load per element
//! (a value's entry in the code map, a scaled value's entry in the search table) becomes a
//! vector gather only when the compiler is told the CPU's gathers are fast, which generic
//! x86-64 code never is: written out here, with AVX2 gathers (also on AVX-512 CPUs, where
//! eight lanes are as fast per element and the AVX2 path is what valgrind's instruction counts
//! see). A gather reads about one element per cycle, so where a table fits in registers the
//! lookup is a permute instead: the 16 entries of a 4-bit map in two AVX2 registers, and the
//! 256 of an 8-bit map, as four planes of bytes, in sixteen AVX-512 registers (VBMI's
//! two-register byte permute looks up 64 bytes among 128 in one instruction). Every function
//! gives the bits of its scalar form, which runs the tails and every other CPU; an [`Avx2`] or
//! [`Vbmi`] token says they may run (the caller decides whether to ask for one: the crate asks
//! when its SIMD level is not the baseline, and for VBMI when it is AVX-512).
#![allow(unsafe_code)] // AVX2 intrinsics: gathers and loads through pointers, after detection.

use std::arch::x86_64::{
    __m256i, __m512i, _mm_and_si128, _mm_cvtepu8_epi32, _mm_cvtsi32_si128, _mm_cvtsi64_si128,
    _mm_set1_epi32, _mm_srli_epi32, _mm_unpackhi_epi32, _mm_unpacklo_epi32, _mm256_blendv_ps,
    _mm256_castsi256_ps, _mm256_cvtepu8_epi32, _mm256_i32gather_ps, _mm256_loadu_ps,
    _mm256_loadu_si256, _mm256_mul_ps, _mm256_permutevar8x32_ps, _mm256_set_m128i, _mm256_set1_ps,
    _mm256_slli_epi32, _mm256_storeu_ps, _mm512_castsi512_ps, _mm512_loadu_si512,
    _mm512_mask_blend_epi8, _mm512_movepi8_mask, _mm512_mul_ps, _mm512_permutex2var_epi8,
    _mm512_permutexvar_epi8, _mm512_set1_ps, _mm512_storeu_ps, _mm512_unpackhi_epi8,
    _mm512_unpackhi_epi16, _mm512_unpacklo_epi8, _mm512_unpacklo_epi16,
};

/// Proof that the CPU has AVX2: the safe functions that take one may run AVX2 code.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// `Some` if the CPU has AVX2 (detected once, then a load).
    #[inline(always)]
    pub(crate) fn detect() -> Option<Self> {
        std::arch::is_x86_feature_detected!("avx2").then_some(Avx2(()))
    }
}

/// Proof that the CPU has AVX-512 F and BW, VBMI (byte permutes) and AVX2: the safe functions
/// that take one may run them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Vbmi(());

impl Vbmi {
    /// `Some` if the CPU has AVX-512 F, BW and VBMI, and AVX2 (detected once, then loads).
    #[inline(always)]
    pub(crate) fn detect() -> Option<Self> {
        (std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vbmi"))
        .then_some(Vbmi(()))
    }

    /// The AVX2 the token also proves.
    #[inline(always)]
    pub(crate) fn avx2(self) -> Avx2 {
        Avx2(())
    }
}

/// A code map of 256 entries as four planes of bytes, for byte permutes: `self.0[k][c]` is
/// byte `k` (little-endian) of entry `c`'s bits.
pub(crate) struct BytePlanes([[u8; 256]; 4]);

impl BytePlanes {
    /// The planes of `map` (its entries' bits).
    pub(crate) const fn new(map: &[u32; 256]) -> Self {
        let mut planes = [[0u8; 256]; 4];
        let mut c = 0;
        while c < 256 {
            let bytes = map[c].to_le_bytes();
            let mut k = 0;
            while k < 4 {
                planes[k][c] = bytes[k];
                k += 1;
            }
            c += 1;
        }
        BytePlanes(planes)
    }

    /// Entry `code`'s bits.
    #[inline(always)]
    fn entry(&self, code: u8) -> u32 {
        let c = usize::from(code);
        u32::from_le_bytes([self.0[0][c], self.0[1][c], self.0[2][c], self.0[3][c]])
    }
}

/// Eight values' bits from `x[i..i + 8]`.
///
/// # Safety
///
/// AVX2; `i + 8 <= x.len()`.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn load8(x: &[f32], i: usize) -> __m256i {
    debug_assert!(i + 8 <= x.len());
    // SAFETY: the caller keeps `i + 8` within `x`; an unaligned load.
    unsafe { _mm256_loadu_si256(x.as_ptr().add(i).cast()) }
}

/// `out[i] = table[codes[i]] · scale` (8-bit codes, a map of 256 entries).
#[inline(always)]
pub(crate) fn dequantize8(_: Avx2, table: &[u32; 256], codes: &[u8], scale: f32, out: &mut [f32]) {
    // SAFETY: the token proves the CPU has AVX2.
    unsafe { dequantize8_avx2(table, codes, scale, out) }
}

/// `out[2i] = table[codes[i] >> 4] · scale`, `out[2i + 1] = table[codes[i] & 15] · scale` (4-bit
/// codes two to a byte, a map of 16 entries, in two registers).
#[inline(always)]
pub(crate) fn dequantize4(_: Avx2, table: &[u32; 16], codes: &[u8], scale: f32, out: &mut [f32]) {
    // SAFETY: the token proves the CPU has AVX2.
    unsafe { dequantize4_avx2(table, codes, scale, out) }
}

/// `out[i] = map[codes[i]] · scale` (8-bit codes), 64 at a time with byte permutes.
#[inline(always)]
pub(crate) fn dequantize8_vbmi(
    _: Vbmi,
    map: &BytePlanes,
    codes: &[u8],
    scale: f32,
    out: &mut [f32],
) {
    // SAFETY: the token proves the CPU has AVX-512 F, BW and VBMI.
    unsafe { dequantize8_vbmi_unchecked(map, codes, scale, out) }
}

/// The order of 64 codes that the byte planes' interleaving (`unpack` within 128-bit lanes)
/// puts back in order: the interleaved register `k` holds, in its lane `L`, the entries of the
/// permuted bytes `16L + 4k + i` (`i < 4`), which must be those of codes `16k + 4L + i`.
const INTERLEAVED_ORDER: [u8; 64] = {
    let mut order = [0u8; 64];
    let mut j = 0;
    while j < 64 {
        let (lane, k, i) = (j / 16, (j % 16) / 4, j % 4);
        order[j] = (16 * k + 4 * lane + i) as u8;
        j += 1;
    }
    order
};

/// [`dequantize8_vbmi`].
///
/// # Safety
///
/// AVX-512 F, BW and VBMI.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn dequantize8_vbmi_unchecked(map: &BytePlanes, codes: &[u8], scale: f32, out: &mut [f32]) {
    let n = codes.len().min(out.len());
    // SAFETY: each plane is 256 bytes, four unaligned loads of 64; the order is 64 bytes.
    let (planes, order) = unsafe {
        let quarter = |k: usize, q: usize| _mm512_loadu_si512(map.0[k][64 * q..].as_ptr().cast());
        (
            [0, 1, 2, 3].map(|k| [0, 1, 2, 3].map(|q| quarter(k, q))),
            _mm512_loadu_si512(INTERLEAVED_ORDER.as_ptr().cast()),
        )
    };
    let s = _mm512_set1_ps(scale);
    let mut i = 0;
    while i + 64 <= n {
        // SAFETY: `codes[i..i + 64]`, within `codes` (`i + 64 <= n`).
        let c = unsafe { _mm512_loadu_si512(codes.as_ptr().add(i).cast()) };
        let c = _mm512_permutexvar_epi8(order, c);
        // Entries 0..128 by the low seven bits, entries 128..256 likewise, and the eighth bit
        // chooses.
        let high = _mm512_movepi8_mask(c);
        let byte = |p: &[__m512i; 4]| {
            _mm512_mask_blend_epi8(
                high,
                _mm512_permutex2var_epi8(p[0], c, p[1]),
                _mm512_permutex2var_epi8(p[2], c, p[3]),
            )
        };
        let [b0, b1, b2, b3] = planes.each_ref().map(byte);
        let (low01, high01) = (_mm512_unpacklo_epi8(b0, b1), _mm512_unpackhi_epi8(b0, b1));
        let (low23, high23) = (_mm512_unpacklo_epi8(b2, b3), _mm512_unpackhi_epi8(b2, b3));
        let entries = [
            _mm512_unpacklo_epi16(low01, low23),
            _mm512_unpackhi_epi16(low01, low23),
            _mm512_unpacklo_epi16(high01, high23),
            _mm512_unpackhi_epi16(high01, high23),
        ];
        for (k, e) in entries.into_iter().enumerate() {
            // SAFETY: `out[i + 16k..i + 16k + 16]`, within `out` (`i + 64 <= n`).
            unsafe {
                _mm512_storeu_ps(
                    out.as_mut_ptr().add(i + 16 * k),
                    _mm512_mul_ps(_mm512_castsi512_ps(e), s),
                );
            }
        }
        i += 64;
    }
    for (o, &c) in out[i..n].iter_mut().zip(&codes[i..n]) {
        *o = f32::from_bits(map.entry(c)) * scale;
    }
}

/// [`dequantize8`].
///
/// # Safety
///
/// AVX2.
#[target_feature(enable = "avx2")]
unsafe fn dequantize8_avx2(table: &[u32; 256], codes: &[u8], scale: f32, out: &mut [f32]) {
    let n = codes.len().min(out.len());
    let s = _mm256_set1_ps(scale);
    let mut i = 0;
    while i + 8 <= n {
        let c = u64::from_le_bytes(codes[i..i + 8].try_into().expect("eight codes"));
        let index = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(c as i64));
        // SAFETY: every index is a byte, below the table's 256 entries; the store writes
        // `out[i..i + 8]`, within `out` (`i + 8 <= n`).
        unsafe {
            let v = _mm256_i32gather_ps::<4>(table.as_ptr().cast(), index);
            _mm256_storeu_ps(out.as_mut_ptr().add(i), _mm256_mul_ps(v, s));
        }
        i += 8;
    }
    for (o, &c) in out[i..n].iter_mut().zip(&codes[i..n]) {
        *o = f32::from_bits(table[usize::from(c)]) * scale;
    }
}

/// [`dequantize4`].
///
/// # Safety
///
/// AVX2.
#[target_feature(enable = "avx2")]
unsafe fn dequantize4_avx2(table: &[u32; 16], codes: &[u8], scale: f32, out: &mut [f32]) {
    let n = codes.len().min(out.len() / 2);
    let s = _mm256_set1_ps(scale);
    // SAFETY: the table's two halves of eight entries, unaligned loads.
    let (low_entries, high_entries) = unsafe {
        (
            _mm256_loadu_ps(table.as_ptr().cast()),
            _mm256_loadu_ps(table[8..].as_ptr().cast()),
        )
    };
    let mut i = 0;
    while i + 4 <= n {
        let c = u32::from_le_bytes(codes[i..i + 4].try_into().expect("four bytes"));
        let bytes = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(c as i32));
        let (high, low) = (
            _mm_srli_epi32::<4>(bytes),
            _mm_and_si128(bytes, _mm_set1_epi32(15)),
        );
        let index = _mm256_set_m128i(_mm_unpackhi_epi32(high, low), _mm_unpacklo_epi32(high, low));
        // Entries 0..8 and 8..16 by the low three bits; the fourth bit (moved to the sign)
        // chooses.
        let v = _mm256_blendv_ps(
            _mm256_permutevar8x32_ps(low_entries, index),
            _mm256_permutevar8x32_ps(high_entries, index),
            _mm256_castsi256_ps(_mm256_slli_epi32::<28>(index)),
        );
        // SAFETY: the store writes `out[2i..2i + 8]`, within `out` (`2(i + 4) <= out.len()`).
        unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(2 * i), _mm256_mul_ps(v, s)) };
        i += 4;
    }
    for (pair, &c) in out[2 * i..2 * n].chunks_exact_mut(2).zip(&codes[i..n]) {
        pair[0] = f32::from_bits(table[usize::from(c >> 4)]) * scale;
        pair[1] = f32::from_bits(table[usize::from(c & 15)]) * scale;
    }
}

/// `out[i] = float8::code(x[i] / scale)` for a block without NaN (`scale` is not NaN): 64
/// codes at a time in AVX-512, packed into one store.
#[inline(always)]
pub(crate) fn float8_codes_avx512(_: Vbmi, x: &[f32], scale: f32, out: &mut [u8]) {
    // SAFETY: the token proves the CPU has AVX-512 F and BW.
    unsafe { float8_codes_avx512_unchecked(x, scale, out) }
}

/// `out[i] = float8::code(x[i] / scale)` for a block without NaN (`scale` is not NaN): 32
/// codes at a time in AVX2, packed into one store.
#[inline(always)]
pub(crate) fn float8_codes_avx2(_: Avx2, x: &[f32], scale: f32, out: &mut [u8]) {
    // SAFETY: the token proves the CPU has AVX2.
    unsafe { float8_codes_avx2_unchecked(x, scale, out) }
}

// The constants of `float8::code`'s steps (see there): below 2^-6 (`SMALL`) the subnormal
// form, `(|q| + 2^14) − (141 << 23)`; above it the rebiased exponent and mantissa rounded to
// nearest even, `(|q| − (120 << 23) + 0x7ffff + odd) >> 20`, at most 0x7e. Without NaN (the
// caller's condition) no NaN code is needed, and an infinite value (unsaturated) gives 0x7e
// as the saturated one would.
const FLOAT8_SMALL: i32 = 121 << 23;
const FLOAT8_DENORMAL: i32 = 141 << 23;
const FLOAT8_BIAS: i32 = (0x7ffff_u32.wrapping_sub(120 << 23)) as i32;

/// [`float8_codes_avx512`].
///
/// # Safety
///
/// AVX-512 F and BW.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn float8_codes_avx512_unchecked(x: &[f32], scale: f32, out: &mut [u8]) {
    use std::arch::x86_64::*;
    let n = x.len().min(out.len());
    let s = _mm512_set1_ps(scale);
    let (abs, small, denormal, bias) = (
        _mm512_set1_epi32(0x7fff_ffff),
        _mm512_set1_epi32(FLOAT8_SMALL),
        _mm512_set1_epi32(FLOAT8_DENORMAL),
        _mm512_set1_epi32(FLOAT8_BIAS),
    );
    let (one, largest, sign, shift) = (
        _mm512_set1_epi32(1),
        _mm512_set1_epi32(0x7e),
        _mm512_set1_epi32(0x80),
        _mm512_set1_ps(16384.0),
    );
    let code16 = |v: __m512| {
        let bits = _mm512_castps_si512(_mm512_div_ps(v, s));
        let magnitude = _mm512_and_si512(bits, abs);
        let is_small = _mm512_cmplt_epu32_mask(magnitude, small);
        let subnormal = _mm512_sub_epi32(
            _mm512_castps_si512(_mm512_add_ps(_mm512_castsi512_ps(magnitude), shift)),
            denormal,
        );
        let odd = _mm512_and_si512(_mm512_srli_epi32::<20>(magnitude), one);
        let normal =
            _mm512_srli_epi32::<20>(_mm512_add_epi32(_mm512_add_epi32(magnitude, odd), bias));
        let code = _mm512_mask_min_epu32(subnormal, !is_small, normal, largest);
        // code | (bits >> 24 & 0x80): the sign.
        _mm512_ternarylogic_epi32::<0xf8>(code, _mm512_srli_epi32::<24>(bits), sign)
    };
    // Packed codes of four vectors, lane by lane: lane `k` holds codes `4k..4k + 4` of each;
    // this puts them back in order.
    let order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    let mut i = 0;
    while i + 64 <= n {
        // SAFETY: `x[i..i + 64]` and `out[i..i + 64]`, within both (`i + 64 <= n`).
        unsafe {
            let load = |k: usize| _mm512_loadu_ps(x.as_ptr().add(i + 16 * k));
            let [c0, c1, c2, c3] = [0, 1, 2, 3].map(|k| code16(load(k)));
            let bytes =
                _mm512_packus_epi16(_mm512_packus_epi32(c0, c1), _mm512_packus_epi32(c2, c3));
            _mm512_storeu_si512(
                out.as_mut_ptr().add(i).cast(),
                _mm512_permutexvar_epi32(order, bytes),
            );
        }
        i += 64;
    }
    for (o, &x) in out[i..n].iter_mut().zip(&x[i..n]) {
        *o = super::float8::code(x / scale);
    }
}

/// [`float8_codes_avx2`].
///
/// # Safety
///
/// AVX2.
#[target_feature(enable = "avx2")]
unsafe fn float8_codes_avx2_unchecked(x: &[f32], scale: f32, out: &mut [u8]) {
    use std::arch::x86_64::*;
    let n = x.len().min(out.len());
    let s = _mm256_set1_ps(scale);
    let (abs, small, denormal, bias) = (
        _mm256_set1_epi32(0x7fff_ffff),
        _mm256_set1_epi32(FLOAT8_SMALL),
        _mm256_set1_epi32(FLOAT8_DENORMAL),
        _mm256_set1_epi32(FLOAT8_BIAS),
    );
    let (one, largest, sign, shift) = (
        _mm256_set1_epi32(1),
        _mm256_set1_epi32(0x7e),
        _mm256_set1_epi32(0x80),
        _mm256_set1_ps(16384.0),
    );
    let code8 = |v: __m256| {
        let bits = _mm256_castps_si256(_mm256_div_ps(v, s));
        let magnitude = _mm256_and_si256(bits, abs);
        // (A magnitude is a non-negative `i32`: the signed comparison is the unsigned one.)
        let is_small = _mm256_cmpgt_epi32(small, magnitude);
        let subnormal = _mm256_sub_epi32(
            _mm256_castps_si256(_mm256_add_ps(_mm256_castsi256_ps(magnitude), shift)),
            denormal,
        );
        let odd = _mm256_and_si256(_mm256_srli_epi32::<20>(magnitude), one);
        let normal = _mm256_min_epu32(
            _mm256_srli_epi32::<20>(_mm256_add_epi32(_mm256_add_epi32(magnitude, odd), bias)),
            largest,
        );
        let code = _mm256_blendv_epi8(normal, subnormal, is_small);
        _mm256_or_si256(code, _mm256_and_si256(_mm256_srli_epi32::<24>(bits), sign))
    };
    // Lane `k` of the packed codes holds codes `4k..4k + 4` of each of the four vectors.
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: `x[i..i + 32]` and `out[i..i + 32]`, within both (`i + 32 <= n`).
        unsafe {
            let load = |k: usize| _mm256_loadu_ps(x.as_ptr().add(i + 8 * k));
            let [c0, c1, c2, c3] = [0, 1, 2, 3].map(|k| code8(load(k)));
            let bytes =
                _mm256_packus_epi16(_mm256_packus_epi32(c0, c1), _mm256_packus_epi32(c2, c3));
            _mm256_storeu_si256(
                out.as_mut_ptr().add(i).cast(),
                _mm256_permutevar8x32_epi32(bytes, order),
            );
        }
        i += 32;
    }
    for (o, &x) in out[i..n].iter_mut().zip(&x[i..n]) {
        *o = super::float8::code(x / scale);
    }
}

/// `out[i] = float8::value(codes[i]) · scale` for a block without NaN (`scale` is not NaN, and
/// then no code is a NaN one): 8 at a time in AVX2 arithmetic, no gather.
#[inline(always)]
pub(crate) fn float8_values_avx2(_: Avx2, codes: &[u8], scale: f32, out: &mut [f32]) {
    // SAFETY: the token proves the CPU has AVX2.
    unsafe { float8_values_avx2_unchecked(codes, scale, out) }
}

/// [`float8_values_avx2`].
///
/// # Safety
///
/// AVX2.
#[target_feature(enable = "avx2")]
unsafe fn float8_values_avx2_unchecked(codes: &[u8], scale: f32, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = codes.len().min(out.len());
    let s = _mm256_set1_ps(scale);
    // The eight subnormal magnitudes (codes 0 to 7: 0 and multiples of 2^-9), by the code's low
    // three bits; a normal magnitude is its code's exponent and mantissa, rebiased (7 to 127).
    let subnormals = _mm256_setr_epi32(
        super::float8::VALUES[0] as i32,
        super::float8::VALUES[1] as i32,
        super::float8::VALUES[2] as i32,
        super::float8::VALUES[3] as i32,
        super::float8::VALUES[4] as i32,
        super::float8::VALUES[5] as i32,
        super::float8::VALUES[6] as i32,
        super::float8::VALUES[7] as i32,
    );
    let (low7, eight, rebias, sign) = (
        _mm256_set1_epi32(0x7f),
        _mm256_set1_epi32(8),
        _mm256_set1_epi32(120 << 23),
        _mm256_set1_epi32(i32::MIN),
    );
    let mut i = 0;
    while i + 8 <= n {
        let c = u64::from_le_bytes(codes[i..i + 8].try_into().expect("eight codes"));
        let c = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(c as i64));
        let magnitude = _mm256_and_si256(c, low7);
        let normal = _mm256_add_epi32(_mm256_slli_epi32::<20>(magnitude), rebias);
        let bits = _mm256_blendv_epi8(
            normal,
            _mm256_permutevar8x32_epi32(subnormals, c),
            _mm256_cmpgt_epi32(eight, magnitude),
        );
        // |value| · scale, then the code's sign (the scale is not negative).
        let v = _mm256_or_ps(
            _mm256_mul_ps(_mm256_castsi256_ps(bits), s),
            _mm256_castsi256_ps(_mm256_and_si256(_mm256_slli_epi32::<24>(c), sign)),
        );
        // SAFETY: `out[i..i + 8]`, within `out` (`i + 8 <= n`).
        unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(i), v) };
        i += 8;
    }
    for (o, &c) in out[i..n].iter_mut().zip(&codes[i..n]) {
        *o = super::float8::value(c) * scale;
    }
}
