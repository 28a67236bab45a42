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
//! This module is the arithmetic only (the test of it against torchao compiles it on its own);
//! the state kept in it, [`Quantized`](crate::lowbit::Quantized), and the option,
//! [`Quantization`](crate::Quantization), are in `src/lowbit.rs`.

mod maps;

/// A sorted code map: 256 entries for 8-bit codes, 16 for 4-bit ones.
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
}

impl CodeMap {
    /// The entries' bits, sorted by value.
    pub(crate) fn bits(self) -> &'static [u32] {
        match self {
            CodeMap::Signed8 => &maps::SIGNED_8,
            CodeMap::Unsigned8 => &maps::UNSIGNED_8,
            CodeMap::Signed4 => &maps::SIGNED_4,
            CodeMap::Unsigned4 => &maps::UNSIGNED_4,
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

    /// The code of a scaled value `x` (in [-1, 1]): torchao's search and rounding.
    #[cfg(test)]
    #[inline(always)]
    pub(crate) fn code(self, x: f32) -> u8 {
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
    /// The codes of scaled values: `out[i] = self.code(x[i])`, bit for bit, computed one step
    /// of the search at a time over the whole slice. The elements are independent, so their
    /// table loads overlap (the search of one value is a chain of dependent loads) and the
    /// loops vectorise with gathers.
    #[inline(always)]
    pub(crate) fn codes_of(self, x: &[f32], out: &mut [u8]) {
        match self {
            CodeMap::Signed8 => search(&maps::SIGNED_8, x, out),
            CodeMap::Unsigned8 => search(&maps::UNSIGNED_8, x, out),
            CodeMap::Signed4 => search(&maps::SIGNED_4, x, out),
            CodeMap::Unsigned4 => search(&maps::UNSIGNED_4, x, out),
        }
    }
}

/// [`CodeMap::codes_of`] for one map of `N` entries (a power of two), in chunks of 256 values.
#[inline(always)]
fn search<const N: usize>(table: &[u32; N], x: &[f32], out: &mut [u8]) {
    let map = |c: u32| f32::from_bits(table[c as usize % N]);
    for (x, out) in x.chunks(256).zip(out.chunks_mut(256)) {
        let n = x.len().min(out.len());
        let mut code = [0u32; 256];
        // The largest entry at or below `x` (0 if none), one bit of every code at a time.
        let mut step = (N / 2) as u32;
        while step > 0 {
            for i in 0..n {
                let up = code[i] + step;
                code[i] = if x[i] >= map(up) { up } else { code[i] };
            }
            step /= 2;
        }
        for i in 0..n {
            let down = code[i];
            let up = (down + 1).min(N as u32 - 1);
            let (down_value, up_value) = (map(down), map(up));
            // torchao: `residual >= (val_up - val_down) * 0.5`, in `f32`.
            let c = if x[i] - down_value >= (up_value - down_value) * 0.5 {
                up
            } else {
                down
            };
            out[i] = c as u8;
        }
    }
}

/// A block's scale: its largest magnitude, at least `1e-12` (torchao's `clip(1e-12)`); a NaN
/// is its own scale.
pub(crate) fn block_scale(block: impl Iterator<Item = f32>) -> f32 {
    let max = block.fold(0.0f32, |m, x| {
        if x.abs() > m || x.is_nan() {
            x.abs()
        } else {
            m
        }
    });
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
        *scale = block_scale(x.iter().copied());
        let s = *scale;
        let scaled: Vec<f32> = x.iter().map(|&x| x / s).collect();
        map.codes_of(&scaled, codes);
        // The one-value search gives the same codes.
        debug_assert!(
            scaled
                .iter()
                .zip(codes.iter())
                .all(|(&x, &c)| map.code(x) == c)
        );
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
