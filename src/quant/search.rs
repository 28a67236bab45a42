//! The code of a scaled value in two table loads, computed at compile time from a code map.
//!
//! torchao finds a value's code with a binary search (eight dependent loads for 256 entries)
//! and then a rounding test between the two neighbouring entries. The code it gives is a
//! non-decreasing function of the value (the search's result is; within one interval between
//! entries, `x - down` rounds monotonically), so it is fixed by its *thresholds*: `t[c]`, the
//! smallest `f32` whose code is at least `c`. Then
//!
//! ```text
//! code(x) = base + [x ≥ t[base + 1]],   base = code of the smallest value of x's bucket,
//! ```
//!
//! where a bucket is the set of `f32` values sharing a sign, an exponent and the first `M`
//! bits of the mantissa (values below `2^(E0 − 127)` in magnitude share one bucket, and so do
//! values of `2` and above), as long as no bucket holds two thresholds. Both tables are built
//! here at compile time from the map's entries and torchao's rounding rule, and the build
//! fails if a bucket holds two thresholds, so the search cannot silently differ from torchao's:
//! a test compares it with the binary search at every threshold and its neighbours, and once
//! (ignored by default, `cargo test --release -- --ignored every_f32`) on all 2³² bit patterns.
//!
//! A NaN's code is 0, as in torchao (every comparison with a NaN is false).

/// The table of one code map: an entry per bucket, `base << 24 | threshold`, where
/// `threshold` is the low `23 − M` bits of the magnitude of the bucket's threshold (flipped for
/// negative buckets, where the code grows as the magnitude falls), or `1 << (23 − M)` if the
/// bucket holds none. One load per value, so the search vectorises with gathers.
pub(crate) struct Search<const M: u32, const E0: u32, const B: usize> {
    entries: [u32; B],
}

/// The order-preserving integer of an `f32` (not a NaN): `a < b` as floats iff `key(a) <
/// key(b)` (`−0` just below `+0`).
const fn key(x: f32) -> u32 {
    let b = x.to_bits();
    if b >> 31 == 1 { !b } else { b | 0x8000_0000 }
}

/// The inverse of [`key`].
const fn unkey(k: u32) -> f32 {
    f32::from_bits(if k >> 31 == 1 { k & 0x7fff_ffff } else { !k })
}

/// The thresholds of a sorted map: `t[c]` for `c` in `1..N` (`t[0]` unused), found by
/// bisection over the `f32` values between entries `c − 1` and `c` with torchao's rounding
/// rule (`x − down ≥ (up − down)·0.5`, in `f32`; at `up` itself the code is `c`).
const fn thresholds<const N: usize>(map: &[u32; N]) -> [f32; N] {
    let mut t = [f32::NEG_INFINITY; N];
    let mut c = 1;
    while c < N {
        let down = f32::from_bits(map[c - 1]);
        let up = f32::from_bits(map[c]);
        assert!(down < up, "a code map's entries are strictly increasing");
        let half = (up - down) * 0.5;
        let (mut lo, mut hi) = (key(down), key(up));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if unkey(mid) - down >= half {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        t[c] = unkey(lo);
        c += 1;
    }
    t
}

/// The code of `x` (not a NaN) from the thresholds: how many of `t[1..]` are at most `x`.
const fn code_by_thresholds<const N: usize>(t: &[f32; N], x: f32) -> u32 {
    let (mut lo, mut hi) = (1, N); // the first threshold above x is in lo..=hi (N: none)
    while lo < hi {
        let mid = (lo + hi) / 2;
        if x >= t[mid] {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    (lo - 1) as u32
}

impl<const M: u32, const E0: u32, const B: usize> Search<M, E0, B> {
    /// Bits of a magnitude below a bucket's key.
    const SHIFT: u32 = 23 - M;
    const LOW: u32 = (1 << Self::SHIFT) - 1;
    /// The key (`magnitude >> SHIFT`) of bucket 0, which holds every smaller magnitude.
    const FIRST: u32 = (E0 << M) - 1;
    /// Buckets per sign; the last holds every magnitude from just below 2 up to `+∞`.
    const PER_SIGN: u32 = ((128 - E0) << M) + 1;

    /// The table of `map` (sorted, at most 256 entries). Fails at compile time if a bucket
    /// holds two thresholds, or the first or the last (which span several exponents) one.
    pub(crate) const fn new<const N: usize>(map: &[u32; N]) -> Self {
        assert!(N <= 256 && B.is_power_of_two() && 2 * Self::PER_SIGN as usize <= B);
        let t = thresholds(map);
        let mut entries = [0u32; B];
        let mut k = 0;
        while k < Self::PER_SIGN {
            // The bucket's magnitudes: `lo..=hi`.
            let lo = if k == 0 {
                0
            } else {
                (Self::FIRST + k) << Self::SHIFT
            };
            let hi = if k + 1 == Self::PER_SIGN {
                0x7f80_0000 // +∞
            } else {
                ((Self::FIRST + k + 1) << Self::SHIFT) - 1
            };
            let (lo, hi) = (f32::from_bits(lo), f32::from_bits(hi));
            // Positive values: lo..=hi; negative ones: −hi..=−lo.
            let mut sign = 0;
            while sign < 2 {
                let (min, max) = if sign == 0 { (lo, hi) } else { (-hi, -lo) };
                let (a, b) = (code_by_thresholds(&t, min), code_by_thresholds(&t, max));
                let threshold = if b == a {
                    1 << Self::SHIFT
                } else {
                    assert!(
                        b == a + 1,
                        "a bucket holds two thresholds: more mantissa bits"
                    );
                    assert!(
                        k != 0 && k + 1 != Self::PER_SIGN,
                        "a threshold in a wide bucket"
                    );
                    let low = t[a as usize + 1].to_bits() & Self::LOW;
                    if sign == 0 { low } else { low ^ Self::LOW }
                };
                entries[(sign * Self::PER_SIGN + k) as usize] = a << 24 | threshold;
                sign += 1;
            }
            k += 1;
        }
        Search { entries }
    }

    /// The code of one scaled value: one table load, integer arithmetic, no branch.
    #[inline(always)]
    pub(crate) fn code(&self, x: f32) -> u8 {
        let bits = x.to_bits();
        let magnitude = bits & 0x7fff_ffff;
        let negative = ((bits as i32) >> 31) as u32; // all ones or zero
        let k = (magnitude >> Self::SHIFT).clamp(Self::FIRST, Self::FIRST + Self::PER_SIGN - 1)
            - Self::FIRST;
        let entry = self.entries[(k + (negative & Self::PER_SIGN)) as usize % B];
        let low = (magnitude ^ negative) & Self::LOW;
        let code = (entry >> 24) + u32::from(low >= entry & (2 * Self::LOW + 1));
        if magnitude > 0x7f80_0000 {
            0
        } else {
            code as u8
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // AVX2 gathers (see `super::x86`).
impl<const M: u32, const E0: u32, const B: usize> Search<M, E0, B> {
    /// [`code`](Self::code) of eight values (their bits), each code in a 32-bit lane.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn code8(&self, bits: x86::__m256i) -> x86::__m256i {
        use x86::*;
        let int = |v: u32| _mm256_set1_epi32(v as i32);
        let magnitude = _mm256_and_si256(bits, int(0x7fff_ffff));
        let negative = _mm256_srai_epi32::<31>(bits);
        let key = _mm256_srl_epi32(magnitude, _mm_cvtsi32_si128(Self::SHIFT as i32));
        let last = Self::FIRST + Self::PER_SIGN - 1;
        let k = _mm256_sub_epi32(
            _mm256_min_epu32(_mm256_max_epu32(key, int(Self::FIRST)), int(last)),
            int(Self::FIRST),
        );
        let index = _mm256_add_epi32(k, _mm256_and_si256(negative, int(Self::PER_SIGN)));
        // SAFETY: `k < PER_SIGN`, so every index is below `2 · PER_SIGN <= B` (checked when
        // the table was built).
        let entry = unsafe { _mm256_i32gather_epi32::<4>(self.entries.as_ptr().cast(), index) };
        let low = _mm256_and_si256(_mm256_xor_si256(magnitude, negative), int(Self::LOW));
        let threshold = _mm256_and_si256(entry, int(2 * Self::LOW + 1));
        // base + [low >= threshold] = base + 1 − [threshold > low] (both below 2^21).
        let code = _mm256_add_epi32(
            _mm256_add_epi32(_mm256_srli_epi32::<24>(entry), int(1)),
            _mm256_cmpgt_epi32(threshold, low),
        );
        let nan = _mm256_cmpgt_epi32(magnitude, int(0x7f80_0000));
        _mm256_andnot_si256(nan, code)
    }

    /// `out[i] = self.code(x[i])`, eight at a time.
    #[inline(always)]
    pub(crate) fn codes_avx2(&self, _: super::Avx2, x: &[f32], out: &mut [u8]) {
        // SAFETY: the token proves the CPU has AVX2.
        unsafe { self.codes_avx2_unchecked(x, out) }
    }

    /// `out[i] = self.code(x[2i]) << 4 | self.code(x[2i + 1])`, four bytes at a time.
    #[inline(always)]
    pub(crate) fn packed_codes_avx2(&self, _: super::Avx2, x: &[f32], out: &mut [u8]) {
        // SAFETY: the token proves the CPU has AVX2.
        unsafe { self.packed_codes_avx2_unchecked(x, out) }
    }

    /// [`codes_avx2`](Self::codes_avx2).
    ///
    /// # Safety
    ///
    /// AVX2.
    #[target_feature(enable = "avx2")]
    unsafe fn codes_avx2_unchecked(&self, x: &[f32], out: &mut [u8]) {
        use x86::*;
        let n = x.len().min(out.len());
        // Byte 0 of each lane to bytes 0..4 of its half, then the halves' first words together.
        let first_bytes = _mm256_setr_epi8(
            0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, //
            0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        );
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: AVX2 (this function's), `i + 8 <= x.len()`.
            let code = self.code8(unsafe { super::x86::load8(x, i) });
            let bytes = _mm256_permutevar8x32_epi32(
                _mm256_shuffle_epi8(code, first_bytes),
                _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0),
            );
            let eight = _mm_cvtsi128_si64(_mm256_castsi256_si128(bytes)) as u64;
            out[i..i + 8].copy_from_slice(&eight.to_le_bytes());
            i += 8;
        }
        for (out, &x) in out[i..n].iter_mut().zip(&x[i..n]) {
            *out = self.code(x);
        }
    }

    /// [`packed_codes_avx2`](Self::packed_codes_avx2).
    ///
    /// # Safety
    ///
    /// AVX2.
    #[target_feature(enable = "avx2")]
    unsafe fn packed_codes_avx2_unchecked(&self, x: &[f32], out: &mut [u8]) {
        use x86::*;
        let n = out.len().min(x.len() / 2);
        // Each 64-bit lane's low byte: lane 0 and 1 to bytes 0, 1 of the low half, lanes 2 and
        // 3 to bytes 2, 3 of the high half; the halves are then or-ed.
        let pair_bytes = _mm256_setr_epi8(
            0, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, //
            -1, -1, 0, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        );
        let mut i = 0;
        while i + 4 <= n {
            // SAFETY: AVX2 (this function's), `2i + 8 <= x.len()`.
            let code = self.code8(unsafe { super::x86::load8(x, 2 * i) });
            // In each 64-bit lane: (even code << 4) | odd code, in its low byte.
            let pairs =
                _mm256_or_si256(_mm256_slli_epi64::<4>(code), _mm256_srli_epi64::<32>(code));
            let bytes = _mm256_shuffle_epi8(pairs, pair_bytes);
            let four = _mm_or_si128(
                _mm256_castsi256_si128(bytes),
                _mm256_extracti128_si256::<1>(bytes),
            );
            out[i..i + 4].copy_from_slice(&(_mm_cvtsi128_si32(four) as u32).to_le_bytes());
            i += 4;
        }
        for (out, pair) in out[i..n].iter_mut().zip(x[2 * i..].chunks_exact(2)) {
            *out = self.code(pair[0]) << 4 | self.code(pair[1]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // AVX-512 gathers (see `super::x86`).
impl<const M: u32, const E0: u32, const B: usize> Search<M, E0, B> {
    /// [`code`](Self::code) of sixteen values (their bits), each code in a 32-bit lane: the
    /// steps of [`code8`](Self::code8), with mask registers for the sign, the rounding and NaNs.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn code16(&self, bits: x86::__m512i) -> x86::__m512i {
        use x86::*;
        let int = |v: u32| _mm512_set1_epi32(v as i32);
        let magnitude = _mm512_and_si512(bits, int(0x7fff_ffff));
        let negative = _mm512_cmplt_epi32_mask(bits, _mm512_setzero_si512());
        let key = _mm512_srl_epi32(magnitude, _mm_cvtsi32_si128(Self::SHIFT as i32));
        let last = Self::FIRST + Self::PER_SIGN - 1;
        let k = _mm512_sub_epi32(
            _mm512_min_epu32(_mm512_max_epu32(key, int(Self::FIRST)), int(last)),
            int(Self::FIRST),
        );
        let index = _mm512_mask_add_epi32(k, negative, k, int(Self::PER_SIGN));
        // SAFETY: `k < PER_SIGN`, so every index is below `2 · PER_SIGN <= B` (checked when
        // the table was built).
        let entry = unsafe { _mm512_i32gather_epi32::<4>(index, self.entries.as_ptr().cast()) };
        let flipped = _mm512_mask_xor_epi32(magnitude, negative, magnitude, int(u32::MAX));
        let low = _mm512_and_si512(flipped, int(Self::LOW));
        let threshold = _mm512_and_si512(entry, int(2 * Self::LOW + 1));
        let base = _mm512_srli_epi32::<24>(entry);
        let code =
            _mm512_mask_add_epi32(base, _mm512_cmpge_epu32_mask(low, threshold), base, int(1));
        let number = _mm512_cmple_epu32_mask(magnitude, int(0x7f80_0000));
        _mm512_maskz_mov_epi32(number, code)
    }

    /// `out[i] = self.code(x[i])`, sixteen at a time.
    #[inline(always)]
    pub(crate) fn codes_avx512(&self, _: super::Vbmi, x: &[f32], out: &mut [u8]) {
        // SAFETY: the token proves the CPU has AVX-512 F.
        unsafe { self.codes_avx512_unchecked(x, out) }
    }

    /// `out[i] = self.code(x[2i]) << 4 | self.code(x[2i + 1])`, eight bytes at a time.
    #[inline(always)]
    pub(crate) fn packed_codes_avx512(&self, _: super::Vbmi, x: &[f32], out: &mut [u8]) {
        // SAFETY: the token proves the CPU has AVX-512 F.
        unsafe { self.packed_codes_avx512_unchecked(x, out) }
    }

    /// [`codes_avx512`](Self::codes_avx512).
    ///
    /// # Safety
    ///
    /// AVX-512 F.
    #[target_feature(enable = "avx512f")]
    unsafe fn codes_avx512_unchecked(&self, x: &[f32], out: &mut [u8]) {
        use x86::*;
        let n = x.len().min(out.len());
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: `x[i..i + 16]` and `out[i..i + 16]`, within both (`i + 16 <= n`).
            unsafe {
                let code = self.code16(_mm512_loadu_si512(x.as_ptr().add(i).cast()));
                _mm_storeu_si128(out.as_mut_ptr().add(i).cast(), _mm512_cvtepi32_epi8(code));
            }
            i += 16;
        }
        for (out, &x) in out[i..n].iter_mut().zip(&x[i..n]) {
            *out = self.code(x);
        }
    }

    /// [`packed_codes_avx512`](Self::packed_codes_avx512).
    ///
    /// # Safety
    ///
    /// AVX-512 F.
    #[target_feature(enable = "avx512f")]
    unsafe fn packed_codes_avx512_unchecked(&self, x: &[f32], out: &mut [u8]) {
        use x86::*;
        let n = out.len().min(x.len() / 2);
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: `x[2i..2i + 16]` and `out[i..i + 8]`, within both (`i + 8 <= n`).
            unsafe {
                let code = self.code16(_mm512_loadu_si512(x.as_ptr().add(2 * i).cast()));
                // In each 64-bit lane: (even code << 4) | odd code, in its low byte.
                let pairs =
                    _mm512_or_si512(_mm512_slli_epi64::<4>(code), _mm512_srli_epi64::<32>(code));
                _mm_storel_epi64(out.as_mut_ptr().add(i).cast(), _mm512_cvtepi64_epi8(pairs));
            }
            i += 8;
        }
        for (out, pair) in out[i..n].iter_mut().zip(x[2 * i..].chunks_exact(2)) {
            *out = self.code(pair[0]) << 4 | self.code(pair[1]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    pub(super) use std::arch::x86_64::*;
}

#[cfg(test)]
mod tests {
    use super::super::CodeMap;

    const MAPS: [CodeMap; 4] = [
        CodeMap::Signed8,
        CodeMap::Unsigned8,
        CodeMap::Signed4,
        CodeMap::Unsigned4,
    ];

    /// The codes of `x` by the table search, scalar and with every vector form the CPU has
    /// (AVX2, AVX-512), which must agree.
    fn fast(map: CodeMap, x: &[f32]) -> Vec<u8> {
        let mut scalar = vec![0u8; x.len()];
        map.codes_of(x, &mut scalar, None);
        for vector in super::super::Vector::all() {
            let mut simd = vec![0u8; x.len()];
            map.codes_of(x, &mut simd, Some(vector));
            assert_eq!(simd, scalar, "{map:?} {vector:?}");
            let mut packed = vec![0u8; x.len() / 2];
            map.packed_codes_of(x, &mut packed, Some(vector));
            let mut want = vec![0u8; x.len() / 2];
            map.packed_codes_of(x, &mut want, None);
            assert_eq!(packed, want, "{map:?} {vector:?}");
        }
        scalar
    }

    /// Around every entry and every threshold (where the code changes), and at the values
    /// that end buckets, the two searches agree.
    #[test]
    fn two_loads_give_the_binary_search_codes() {
        for map in MAPS {
            let bits = map.bits();
            let mut probes: Vec<f32> = vec![
                0.0,
                -0.0,
                1.0,
                -1.0,
                f32::MIN_POSITIVE,
                1e-45,
                -1e-45,
                1e-12,
                2.0,
                -2.0,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::MAX,
                f32::NAN,
                -f32::NAN,
            ];
            for c in 0..bits.len() {
                let entry = f32::from_bits(bits[c]);
                probes.push(entry);
                if c + 1 < bits.len() {
                    let next = f32::from_bits(bits[c + 1]);
                    probes.push(entry + (next - entry) * 0.5);
                }
            }
            for e in 0..32 {
                probes.push(2f32.powi(-e));
                probes.push(-(2f32.powi(-e)));
            }
            let mut x = probes.clone();
            // Each probe's neighbours, eight ulps either way.
            for &p in &probes {
                let b = p.to_bits();
                for d in 1..=8 {
                    x.push(f32::from_bits(b.wrapping_add(d)));
                    x.push(f32::from_bits(b.wrapping_sub(d)));
                }
            }
            let codes = fast(map, &x);
            for (&x, &c) in x.iter().zip(&codes) {
                assert_eq!(c, map.code(x), "{map:?} at {x:e} ({:#x})", x.to_bits());
            }
        }
    }

    /// Every `f32` bit pattern (about 20 s per map in a release build, with AVX2
    /// and without):
    /// `cargo test --release --lib -- --ignored every_f32`.
    #[test]
    #[ignore]
    fn every_f32_gets_the_binary_search_code() {
        for map in MAPS {
            let mut out = vec![0u8; 1 << 16];
            let mut x = vec![0f32; 1 << 16];
            for high in 0..=u32::from(u16::MAX) {
                for (low, x) in x.iter_mut().enumerate() {
                    *x = f32::from_bits(high << 16 | low as u32);
                }
                out.copy_from_slice(&fast(map, &x));
                for (&x, &c) in x.iter().zip(&out) {
                    assert_eq!(c, map.code(x), "{map:?} at {:#x}", x.to_bits());
                }
            }
        }
    }
}
