//! Block-wise quantisation of optimizer state, the design of bitsandbytes' and torchao's 8-bit
//! and 4-bit optimizers: a tensor's values in blocks (256 values for 8 bits, 128 for 4), each
//! block scaled by its largest magnitude (in `f32`, at least `1e-12`), and each scaled value
//! stored as the index of the nearest entry of a sorted code map of 256 (or 16) values in
//! [-1, 1]: signed dynamic maps for first moments, unsigned for second moments.
//!
//! The arithmetic is torchao's (`torchao.optim.quant_utils`), bit for bit: the scaled value is
//! `x / scale`; the code is found by a branchless binary search (the largest entry at or below
//! the value), then moved up if the value is at least half-way to the next entry; a value is
//! `map[code] * scale` again.
//!
//! A third kind of code, float8 e4m3fn numbers (torchao's `AdamFp8`), scales each block by its
//! largest magnitude over 448 and stores each scaled value as the nearest e4m3fn number
//! ([`float8`]): the conversion is arithmetic, with no search.
//!
//! This module is the arithmetic only (the test of it against torchao compiles it on its own);
//! the state kept in it, [`Quantized`](crate::lowbit::Quantized), and the option,
//! [`Quantization`](crate::Quantization), are in `src/lowbit.rs`.

pub(crate) mod float8;
mod maps;
mod search;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;

use search::Search;
#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{Avx2, BytePlanes, Vbmi};

/// The vector instructions the table lookups may use: AVX2, or AVX-512 with VBMI (x86-64).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub(crate) enum Vector {
    Avx2(Avx2),
    Avx512(Vbmi),
}

/// No vector forms off x86-64: the scalar search everywhere.
#[cfg(not(target_arch = "x86_64"))]
#[derive(Clone, Copy, Debug)]
pub(crate) enum Vector {}

impl Vector {
    /// Every form this CPU has, best first (for the tests, which compare each with the scalar
    /// one).
    #[cfg(test)]
    pub(crate) fn all() -> Vec<Vector> {
        #[cfg(target_arch = "x86_64")]
        return [
            Vbmi::detect().map(Vector::Avx512),
            Avx2::detect().map(Vector::Avx2),
        ]
        .into_iter()
        .flatten()
        .collect();
        #[cfg(not(target_arch = "x86_64"))]
        Vec::new()
    }
}

/// A code map: 256 entries for 8-bit codes, 16 for 4-bit ones; sorted, and searched for a
/// value's code, except [`Float8`](Self::Float8)'s, whose codes are numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CodeMap {
    /// First moments, 8 bits.
    Signed8,
    /// Second moments, 8 bits.
    Unsigned8,
    /// First moments, 4 bits.
    Signed4,
    /// Second moments, 4 bits.
    Unsigned4,
    /// Either moment, float8 e4m3fn numbers (in code order, not sorted).
    Float8,
}

impl CodeMap {
    /// The entries' bits, sorted by value.
    pub(crate) fn bits(self) -> &'static [u32] {
        match self {
            CodeMap::Signed8 => &maps::SIGNED_8,
            CodeMap::Unsigned8 => &maps::UNSIGNED_8,
            CodeMap::Signed4 => &maps::SIGNED_4,
            CodeMap::Unsigned4 => &maps::UNSIGNED_4,
            CodeMap::Float8 => &float8::VALUES,
        }
    }

    /// An 8-bit map's entries as planes of bytes, for byte permutes (`None` for a 4-bit map).
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn planes(self) -> Option<&'static BytePlanes> {
        static SIGNED_8: BytePlanes = BytePlanes::new(&maps::SIGNED_8);
        static UNSIGNED_8: BytePlanes = BytePlanes::new(&maps::UNSIGNED_8);
        static FLOAT8: BytePlanes = BytePlanes::new(&float8::VALUES);
        match self {
            CodeMap::Signed8 => Some(&SIGNED_8),
            CodeMap::Unsigned8 => Some(&UNSIGNED_8),
            CodeMap::Float8 => Some(&FLOAT8),
            CodeMap::Signed4 | CodeMap::Unsigned4 => None,
        }
    }

    /// Entry `code`.
    #[cfg(test)]
    #[inline(always)]
    pub(crate) fn value(self, code: u8) -> f32 {
        f32::from_bits(self.bits()[usize::from(code)])
    }

    /// The number of entries: 256 or 16.
    pub(crate) fn len(self) -> usize {
        self.bits().len()
    }

    /// The block size torchao uses with this map: 256 for 8-bit codes, 128 for 4-bit.
    #[cfg(test)]
    pub(crate) fn block_size(self) -> usize {
        if self.len() == 256 { 256 } else { 128 }
    }

    /// A block's scale, from its largest magnitude (at least `1e-12`, as [`block_scale`]
    /// gives): that magnitude, or with float8 codes that magnitude over 448 (torchao's
    /// `amax.clip(1e-12) / 448`).
    #[inline(always)]
    pub(crate) fn scale(self, largest: f32) -> f32 {
        match self {
            CodeMap::Float8 => largest / float8::MAX,
            _ => largest,
        }
    }

    /// The code of a scaled value `x` (in [-1, 1], or [-448, 448] with float8 codes):
    /// torchao's search and rounding, or PyTorch's conversion to float8.
    #[cfg(test)]
    #[inline(always)]
    pub(crate) fn code(self, x: f32) -> u8 {
        if self == CodeMap::Float8 {
            return float8::code(x);
        }
        let bits = self.bits();
        let map = |c: usize| f32::from_bits(bits[c]);
        let n = bits.len();
        // The largest entry at or below `x` (0 if none), one bit of the code at a time.
        let mut code = 0;
        let mut step = n / 2;
        while step > 0 {
            if x >= map(code + step) {
                code += step;
            }
            step /= 2;
        }
        let up = (code + 1).min(n - 1);
        let (down_value, up_value) = (map(code), map(up));
        // torchao: `residual >= (val_up - val_down) * 0.5`, in `f32`.
        if x - down_value >= (up_value - down_value) * 0.5 {
            code = up;
        }
        code as u8
    }
}

impl CodeMap {
    /// The codes of scaled values: `out[i] = self.code(x[i])`, bit for bit, each in one table
    /// load ([`search`]; torchao's binary search is a chain of eight dependent loads), eight at
    /// a time with AVX2 gathers (sixteen with AVX-512) when `vector` is given.
    #[inline(always)]
    pub(crate) fn codes_of(self, x: &[f32], out: &mut [u8], vector: Option<Vector>) {
        self.encode(x, out, false, vector);
    }

    /// The values of codes (two to a byte with 4 bits, as torchao packs them), times `scale`:
    /// `out[i] = map[code i] · scale`, with `vector`'s byte permutes (AVX-512, 8 bits),
    /// register permutes (4 bits) or gathers (AVX2, 8 bits), or one load at a time: the same
    /// bits.
    #[inline(always)]
    pub(crate) fn values_of(
        self,
        codes: &[u8],
        scale: f32,
        out: &mut [f32],
        vector: Option<Vector>,
    ) {
        let table = self.bits();
        #[cfg(target_arch = "x86_64")]
        if let Some(vector) = vector {
            let avx2 = match (vector, self.planes()) {
                (Vector::Avx512(vbmi), Some(planes)) => {
                    // float8 values too: 31 instructions for 64 values, against 52 in
                    // arithmetic.
                    return x86::dequantize8_vbmi(vbmi, planes, codes, scale, out);
                }
                // Arithmetic, no gathers (a block with a NaN, rare, takes the scalar form).
                (Vector::Avx2(avx2), _) if self == CodeMap::Float8 && !scale.is_nan() => {
                    return x86::float8_values_avx2(avx2, codes, scale, out);
                }
                (Vector::Avx2(_), _) if self == CodeMap::Float8 => {
                    return float8::values_of(codes, scale, out);
                }
                (Vector::Avx512(vbmi), None) => vbmi.avx2(),
                (Vector::Avx2(avx2), _) => avx2,
            };
            return match (
                <&[u32; 256]>::try_from(table),
                <&[u32; 16]>::try_from(table),
            ) {
                (Ok(table), _) => x86::dequantize8(avx2, table, codes, scale, out),
                (_, Ok(table)) => x86::dequantize4(avx2, table, codes, scale, out),
                _ => unreachable!("code maps have 256 or 16 entries"),
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        if let Some(never) = vector {
            match never {}
        }
        if self == CodeMap::Float8 {
            return float8::values_of(codes, scale, out);
        }
        let value = |c: u8| f32::from_bits(table[usize::from(c)]) * scale;
        if self.len() == 16 {
            for (pair, &c) in out.chunks_exact_mut(2).zip(codes) {
                pair[0] = value(c >> 4);
                pair[1] = value(c & 0x0f);
            }
        } else {
            for (o, &c) in out.iter_mut().zip(codes) {
                *o = value(c);
            }
        }
    }

    /// [`codes_of`](Self::codes_of) two codes to a byte, as torchao packs 4-bit codes:
    /// `out[i] = code(x[2i]) << 4 | code(x[2i + 1])`.
    #[inline(always)]
    pub(crate) fn packed_codes_of(self, x: &[f32], out: &mut [u8], vector: Option<Vector>) {
        self.encode(x, out, true, vector);
    }

    #[inline(always)]
    fn encode(self, x: &[f32], out: &mut [u8], packed: bool, vector: Option<Vector>) {
        match self {
            CodeMap::Signed8 => encode(&SEARCH_SIGNED_8, x, out, packed, vector),
            CodeMap::Unsigned8 => encode(&SEARCH_UNSIGNED_8, x, out, packed, vector),
            CodeMap::Signed4 => encode(&SEARCH_SIGNED_4, x, out, packed, vector),
            CodeMap::Unsigned4 => encode(&SEARCH_UNSIGNED_4, x, out, packed, vector),
            // 8-bit codes, never packed; arithmetic that the SIMD context vectorises.
            CodeMap::Float8 => float8::codes_of(x, out),
        }
    }
}

// The search tables, built at compile time: the 8-bit maps' entries are a few per cent apart
// down to about 2^-22, so buckets of 7 mantissa bits from 2^-23 hold one threshold at most;
// the 4-bit maps' entries are at least 2^-9 apart.
static SEARCH_SIGNED_8: Search<7, { 127 - 23 }, 8192> = Search::new(&maps::SIGNED_8);
static SEARCH_UNSIGNED_8: Search<7, { 127 - 23 }, 8192> = Search::new(&maps::UNSIGNED_8);
static SEARCH_SIGNED_4: Search<4, { 127 - 10 }, 512> = Search::new(&maps::SIGNED_4);
static SEARCH_UNSIGNED_4: Search<4, { 127 - 10 }, 512> = Search::new(&maps::UNSIGNED_4);

/// [`CodeMap::codes_of`] (or, `packed`, [`CodeMap::packed_codes_of`]) with one map's table.
#[inline(always)]
fn encode<const M: u32, const E0: u32, const B: usize>(
    search: &Search<M, E0, B>,
    x: &[f32],
    out: &mut [u8],
    packed: bool,
    vector: Option<Vector>,
) {
    #[cfg(target_arch = "x86_64")]
    if let Some(vector) = vector {
        return match (vector, packed) {
            (Vector::Avx2(avx2), false) => search.codes_avx2(avx2, x, out),
            (Vector::Avx2(avx2), true) => search.packed_codes_avx2(avx2, x, out),
            (Vector::Avx512(avx512), false) => search.codes_avx512(avx512, x, out),
            (Vector::Avx512(avx512), true) => search.packed_codes_avx512(avx512, x, out),
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    if let Some(never) = vector {
        match never {}
    }
    if packed {
        for (out, pair) in out.iter_mut().zip(x.chunks_exact(2)) {
            *out = search.code(pair[0]) << 4 | search.code(pair[1]);
        }
    } else {
        for (out, &x) in out.iter_mut().zip(x) {
            *out = search.code(x);
        }
    }
}

/// A block's scale: its largest magnitude, at least `1e-12` (torchao's `clip(1e-12)`); a NaN
/// is its own scale (the last NaN of the block, as a running maximum that a NaN replaces).
#[inline(always)]
pub(crate) fn block_scale(block: impl Iterator<Item = f32> + Clone) -> f32 {
    // The largest magnitude as the largest magnitude's bits: an integer maximum, which
    // vectorises (a float maximum with torchao's NaN rule does not); a NaN's bits are larger
    // than any number's, and then the rare running form gives the NaN torchao's would.
    let largest = block
        .clone()
        .fold(0u32, |m, x| m.max(x.to_bits() & 0x7fff_ffff));
    let max = if largest > 0x7f80_0000 {
        block.fold(0.0f32, |m, x| {
            if x.abs() > m || x.is_nan() {
                x.abs()
            } else {
                m
            }
        })
    } else {
        f32::from_bits(largest)
    };
    if max < 1e-12 { 1e-12 } else { max }
}

#[cfg(test)] // the whole-tensor forms, for the tests; the optimizers work block by block
/// Quantises `x` block by block into one code per value and one scale per block.
///
/// # Panics
///
/// If `x.len()` is not a multiple of `block`, or `codes` and `scales` do not have one entry
/// per value and per block (the callers size them).
pub(crate) fn quantize(
    x: &[f32],
    block: usize,
    map: CodeMap,
    codes: &mut [u8],
    scales: &mut [f32],
) {
    assert!(
        x.len().is_multiple_of(block) && codes.len() == x.len() && scales.len() == x.len() / block
    );
    for ((x, codes), scale) in x.chunks(block).zip(codes.chunks_mut(block)).zip(scales) {
        *scale = map.scale(block_scale(x.iter().copied()));
        let s = *scale;
        let scaled: Vec<f32> = x.iter().map(|&x| x / s).collect();
        map.codes_of(&scaled, codes, None);
        // The one-value search gives the same codes, and so do the AVX2 searches.
        assert!(
            scaled
                .iter()
                .zip(codes.iter())
                .all(|(&x, &c)| map.code(x) == c)
        );
        for vector in Vector::all() {
            let mut simd = vec![0u8; codes.len()];
            map.codes_of(&scaled, &mut simd, Some(vector));
            assert_eq!(simd, codes, "{map:?} {vector:?}");
            if codes.len().is_multiple_of(2) {
                let (mut packed, mut want) =
                    (vec![0u8; codes.len() / 2], vec![0u8; codes.len() / 2]);
                map.packed_codes_of(&scaled, &mut packed, Some(vector));
                pack4(codes, &mut want);
                if map.len() == 16 {
                    assert_eq!(packed, want, "{map:?} {vector:?}");
                }
            }
        }
    }
}

#[cfg(test)] // the whole-tensor forms, for the tests; the optimizers work block by block
/// The values of quantised blocks: `map[code] * scale`.
///
/// # Panics
///
/// If the lengths disagree as for [`quantize`].
pub(crate) fn dequantize(
    codes: &[u8],
    scales: &[f32],
    block: usize,
    map: CodeMap,
    out: &mut [f32],
) {
    assert!(out.len() == codes.len() && scales.len() * block == codes.len());
    for ((out, codes), &s) in out.chunks_mut(block).zip(codes.chunks(block)).zip(scales) {
        for (o, &c) in out.iter_mut().zip(codes) {
            *o = map.value(c) * s;
        }
        // The packed codes, by every vector form this CPU has, give the same values.
        let packed = if map.len() == 16 {
            let mut packed = vec![0u8; codes.len() / 2];
            pack4(codes, &mut packed);
            packed
        } else {
            codes.to_vec()
        };
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for vector in [None]
            .into_iter()
            .chain(Vector::all().into_iter().map(Some))
        {
            let mut values = vec![0f32; out.len()];
            map.values_of(&packed, s, &mut values, vector);
            assert_eq!(bits(&values), bits(out), "{map:?} {vector:?}");
        }
    }
}

#[cfg(test)] // the whole-tensor forms, for the tests; the optimizers work block by block
/// Two 4-bit codes per byte, as torchao packs them: `(c[2i] << 4) | c[2i + 1]`.
///
/// # Panics
///
/// If `codes` has an odd length or `packed` is not half as long.
pub(crate) fn pack4(codes: &[u8], packed: &mut [u8]) {
    assert!(codes.len() == 2 * packed.len());
    for (p, pair) in packed.iter_mut().zip(codes.chunks_exact(2)) {
        *p = (pair[0] << 4) | (pair[1] & 0x0f);
    }
}

#[cfg(test)] // the whole-tensor forms, for the tests; the optimizers work block by block
/// The codes of [`pack4`]'s bytes.
///
/// # Panics
///
/// If `codes` is not twice as long as `packed`.
pub(crate) fn unpack4(packed: &[u8], codes: &mut [u8]) {
    assert!(codes.len() == 2 * packed.len());
    for (&p, pair) in packed.iter().zip(codes.chunks_exact_mut(2)) {
        pair[0] = p >> 4;
        pair[1] = p & 0x0f;
    }
}
