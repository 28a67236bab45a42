//! AVX2 forms of the quantised state's table loads, on x86-64.
//!
//! The rest of the crate leaves vectorisation to the compiler, but a table load per element
//! (a value's entry in the code map, a scaled value's entry in the search table) becomes a
//! vector gather only when the compiler is told the CPU's gathers are fast, which generic
//! x86-64 code never is: written out here, with AVX2 gathers (also on AVX-512 CPUs, where
//! eight lanes are as fast per element and the AVX2 path is what valgrind's instruction counts
//! see). Every function gives the bits of its scalar form, which runs the tails and every
//! other CPU; an [`Avx2`] token says they may run (the caller decides whether to ask for one:
//! the crate asks when its SIMD level is not the baseline).
#![allow(unsafe_code)] // AVX2 intrinsics: gathers and loads through pointers, after detection.

use std::arch::x86_64::{
    __m256i, _mm_and_si128, _mm_cvtepu8_epi32, _mm_cvtsi32_si128, _mm_cvtsi64_si128,
    _mm_set1_epi32, _mm_srli_epi32, _mm_unpackhi_epi32, _mm_unpacklo_epi32, _mm256_cvtepu8_epi32,
    _mm256_i32gather_ps, _mm256_loadu_si256, _mm256_mul_ps, _mm256_set_m128i, _mm256_set1_ps,
    _mm256_storeu_ps,
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
/// codes two to a byte, a map of 16 entries).
#[inline(always)]
pub(crate) fn dequantize4(_: Avx2, table: &[u32; 16], codes: &[u8], scale: f32, out: &mut [f32]) {
    // SAFETY: the token proves the CPU has AVX2.
    unsafe { dequantize4_avx2(table, codes, scale, out) }
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
    let mut i = 0;
    while i + 4 <= n {
        let c = u32::from_le_bytes(codes[i..i + 4].try_into().expect("four bytes"));
        let bytes = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(c as i32));
        let (high, low) = (
            _mm_srli_epi32::<4>(bytes),
            _mm_and_si128(bytes, _mm_set1_epi32(15)),
        );
        let index = _mm256_set_m128i(_mm_unpackhi_epi32(high, low), _mm_unpacklo_epi32(high, low));
        // SAFETY: every index is a nibble, below the table's 16 entries; the store writes
        // `out[2i..2i + 8]`, within `out` (`2(i + 4) <= out.len()`).
        unsafe {
            let v = _mm256_i32gather_ps::<4>(table.as_ptr().cast(), index);
            _mm256_storeu_ps(out.as_mut_ptr().add(2 * i), _mm256_mul_ps(v, s));
        }
        i += 4;
    }
    for (pair, &c) in out[2 * i..2 * n].chunks_exact_mut(2).zip(&codes[i..n]) {
        pair[0] = f32::from_bits(table[usize::from(c >> 4)]) * scale;
        pair[1] = f32::from_bits(table[usize::from(c & 15)]) * scale;
    }
}
