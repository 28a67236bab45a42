//! Block-wise quantised optimizer state: the option ([`Quantization`]) and one quantised moment
//! ([`Quantized`]), on the arithmetic of [`crate::quant`] (torchao's code maps, scales, search
//! and rounding, tested bit for bit against torchao there).

use crate::quant::{CodeMap, block_scale};

/// The largest block size of [`Quantization`]: the block's values are dequantised into buffers
/// of this many elements on the stack (bitsandbytes' blocks were 2,048 before version 0.44).
pub(crate) const MAX_BLOCK: usize = 2048;

/// Block-wise quantised optimizer state (torchao's `Adam8bit`/`Adam4bit` design): an option of
/// [`AdamConfig`](crate::AdamConfig), [`AdamWConfig`](crate::AdamWConfig),
/// [`MomentumConfig`](crate::MomentumConfig) and [`LionConfig`](crate::LionConfig)
/// (`quantized_state`).
///
/// Each moment of a tensor with at least [`min_size`](Self::min_size) elements, a multiple of
/// [`block_size`](Self::block_size), is kept as one code of [`bits`](Self::bits) bits per
/// element and one `f32` scale per block (the block's largest magnitude); smaller tensors (biases,
/// norms) keep full-precision state, as torchao and bitsandbytes do. First moments use the
/// signed dynamic map, second moments the unsigned one (8 bits) or a linear one (4 bits). Each
/// step dequantises a block, updates it and the parameters from the new values, and quantises
/// it again (see [`Adam`](crate::Adam), "8-bit and 4-bit state").
///
/// With [`fp8`](Self::fp8) (torchao's `AdamFp8` and `AdamWFp8`) the codes are float8 e4m3fn
/// numbers instead ([`CodeFormat::Float8`]): each block is scaled by its largest magnitude over
/// 448, e4m3fn's largest value, and each scaled value rounded to the nearest e4m3fn number, for
/// both moments. That conversion is arithmetic, where the code maps' nearest entry must be
/// searched for: the step is faster (see the README's table) for somewhat coarser first moments.
///
/// | field | [`int8`](Self::int8) | [`int4`](Self::int4) | [`fp8`](Self::fp8) | valid |
/// |---|---|---|---|---|
/// | `bits` | 8 | 4 | 8 | 8, or 4 for Adam and AdamW (not with float8 codes) |
/// | `format` | `Map` | `Map` | `Float8` | either |
/// | `block_size` | 256 | 128 | 256 | 1 to 2,048; even with 4 bits |
/// | `min_size` | 4,096 | 4,096 | 4,096 | any |
///
/// # Example
///
/// ```
/// use ndarray::Array1;
/// use ndarray_optim::{AdamWConfig, Optimizer, Quantization};
///
/// let mut opt = AdamWConfig::default().quantized_state(Quantization::int8()).build::<f32>()?;
/// let n = 1 << 16;
/// let mut w = Array1::<f32>::ones(n);
/// opt.step(&mut w, &Array1::from_elem(n, 0.5))?;
/// // Two moments of one byte per element and one f32 scale per 256 elements.
/// assert_eq!(opt.state_bytes(), 2 * n + 2 * 4 * n / 256);
/// assert!(AdamWConfig::default().quantized_state(Quantization::int8().block_size(0))
///     .build::<f32>().is_err());
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Quantization {
    /// Bits per code: 8, or 4 (Adam and AdamW only, as torchao).
    pub bits: u32,
    /// What a code is: an entry of a code map, or a float8 number.
    #[cfg_attr(feature = "serde", serde(default))]
    pub format: CodeFormat,
    /// Elements per block, each block with a scale of its own.
    pub block_size: usize,
    /// Tensors with fewer elements keep full-precision state.
    pub min_size: usize,
}

crate::builder::plain!(Quantization);

impl Quantization {
    /// 8-bit codes in blocks of 256 for tensors of at least 4,096 elements: torchao's
    /// `Adam8bit` and `AdamW8bit`, bitsandbytes' 8-bit optimizers.
    pub const fn int8() -> Self {
        Quantization {
            bits: 8,
            format: CodeFormat::Map,
            block_size: 256,
            min_size: 4096,
        }
    }

    /// float8 e4m3fn codes in blocks of 256 for tensors of at least 4,096 elements: torchao's
    /// `AdamFp8` and `AdamWFp8`.
    pub const fn fp8() -> Self {
        Quantization {
            bits: 8,
            format: CodeFormat::Float8,
            block_size: 256,
            min_size: 4096,
        }
    }

    /// 4-bit codes in blocks of 128 for tensors of at least 4,096 elements: torchao's
    /// `Adam4bit` and `AdamW4bit`.
    pub const fn int4() -> Self {
        Quantization {
            bits: 4,
            format: CodeFormat::Map,
            block_size: 128,
            min_size: 4096,
        }
    }

    /// Sets [`block_size`](Self::block_size).
    pub const fn block_size(mut self, block_size: usize) -> Self {
        self.block_size = block_size;
        self
    }

    /// Sets [`min_size`](Self::min_size).
    pub const fn min_size(mut self, min_size: usize) -> Self {
        self.min_size = min_size;
        self
    }

    /// The checks of an optimizer whose state may have `bits` in `allowed`.
    pub(crate) fn check(self, allowed: &[u32]) -> Result<(), crate::Error> {
        crate::check::require(
            allowed.contains(&self.bits),
            "quantized_state.bits",
            f64::from(self.bits),
            if allowed.len() == 1 {
                "must be 8 for this optimizer"
            } else {
                "must be 8 or 4"
            },
        )?;
        crate::check::require(
            (1..=MAX_BLOCK).contains(&self.block_size),
            "quantized_state.block_size",
            self.block_size as f64,
            "must be in [1, 2048]",
        )?;
        crate::check::require(
            self.bits == 8 || self.block_size.is_multiple_of(2),
            "quantized_state.block_size",
            self.block_size as f64,
            "must be even with 4-bit codes (two per byte)",
        )?;
        crate::check::require(
            self.bits == 8 || self.format == CodeFormat::Map,
            "quantized_state.bits",
            f64::from(self.bits),
            "must be 8 with float8 codes",
        )
    }

    /// Whether a tensor of `len` elements has quantised state (torchao's rule).
    pub(crate) fn applies(self, len: usize) -> bool {
        len > 0 && len >= self.min_size && len.is_multiple_of(self.block_size)
    }

    /// The code map of first (`signed`) or second moments.
    pub(crate) fn map(self, signed: bool) -> CodeMap {
        if self.format == CodeFormat::Float8 {
            return CodeMap::Float8;
        }
        match (self.bits, signed) {
            (4, true) => CodeMap::Signed4,
            (4, false) => CodeMap::Unsigned4,
            (_, true) => CodeMap::Signed8,
            (_, false) => CodeMap::Unsigned8,
        }
    }
}

/// What the codes of [`Quantization`] are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum CodeFormat {
    /// The index of the nearest entry of a sorted code map (torchao's `Adam8bit`, `Adam4bit`;
    /// bitsandbytes'): with 8 bits, the signed dynamic map for first moments and the unsigned
    /// one for second moments; with 4 bits, torchao's 4-bit maps. A block is scaled by its
    /// largest magnitude, into [-1, 1].
    #[default]
    Map,
    /// A float8 e4m3fn number (torchao's `AdamFp8`), for both moments: a block is scaled by its
    /// largest magnitude over 448, into [-448, 448], and each value rounded to the nearest
    /// e4m3fn number (to even; PyTorch's conversion).
    Float8,
}

crate::builder::plain!(CodeFormat);

/// One quantised moment of a tensor: its codes (two per byte with 4 bits, in torchao's packing)
/// and one scale per block, the elements in the tensor's logical (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Quantized {
    map: CodeMap,
    block: usize,
    codes: Vec<u8>,
    scales: Vec<f32>,
}

impl Quantized {
    /// A moment of `len` elements (a multiple of `block`, even with 4 bits) at zero: codes 0 and
    /// scales 0, as torchao's `OptimState8bit.zeros` (every value `map[0]·0 = ±0`).
    pub(crate) fn zeros(map: CodeMap, block: usize, len: usize) -> Self {
        let bytes = if map.len() == 16 { len / 2 } else { len };
        Quantized {
            map,
            block,
            codes: vec![0; bytes],
            scales: vec![0.0; len / block],
        }
    }

    /// A saved moment, checked: `len` elements in blocks of `block`, a scale per block, never
    /// negative.
    pub(crate) fn from_saved(
        map: CodeMap,
        block: usize,
        len: usize,
        codes: Vec<u8>,
        scales: Vec<f32>,
    ) -> Result<Self, String> {
        let expected = Quantized::zeros(map, block, len);
        if codes.len() != expected.codes.len() || scales.len() != expected.scales.len() {
            return Err(format!(
                "{} codes and {} scales, not {} and {} for {len} elements in blocks of {block}",
                codes.len(),
                scales.len(),
                expected.codes.len(),
                expected.scales.len()
            ));
        }
        // Scales are magnitudes, held finite; a NaN one is a block of NaN moments (under the
        // `Unchecked` non-finite policy).
        if let Some(s) = scales
            .iter()
            .find(|s| s.is_sign_negative() || s.is_infinite())
        {
            return Err(format!(
                "a block's scale is {s}: scales are finite magnitudes"
            ));
        }
        // A float8 NaN code comes only from a NaN value, which makes its block's scale NaN.
        if map == CodeMap::Float8
            && let Some((b, _)) = codes
                .chunks(block)
                .zip(&scales)
                .enumerate()
                .find(|(_, (codes, s))| !s.is_nan() && codes.iter().any(|c| c & 0x7f == 0x7f))
        {
            return Err(format!(
                "block {b} holds a NaN float8 code, but its scale is not NaN"
            ));
        }
        Ok(Quantized {
            map,
            block,
            codes,
            scales,
        })
    }

    pub(crate) fn map(&self) -> CodeMap {
        self.map
    }

    pub(crate) fn block(&self) -> usize {
        self.block
    }

    pub(crate) fn codes(&self) -> &[u8] {
        &self.codes
    }

    pub(crate) fn scales(&self) -> &[f32] {
        &self.scales
    }

    /// The number of blocks.
    pub(crate) fn blocks(&self) -> usize {
        self.scales.len()
    }

    /// Bytes of codes and scales.
    pub(crate) fn bytes(&self) -> usize {
        self.codes.len() + std::mem::size_of::<f32>() * self.scales.len()
    }

    /// Every block, to be updated.
    pub(crate) fn blocks_mut(&mut self) -> BlocksMut<'_> {
        BlocksMut {
            map: self.map,
            block: self.block,
            codes: &mut self.codes,
            scales: &mut self.scales,
            vector: vector(),
        }
    }
}

/// A run of whole blocks of a quantised moment, to be updated: the moment's blocks, or a part of
/// them (what one thread updates).
#[derive(Debug)]
pub(crate) struct BlocksMut<'a> {
    map: CodeMap,
    block: usize,
    codes: &'a mut [u8],
    scales: &'a mut [f32],
    /// The vector forms of the table lookups, chosen once per tensor (not per block).
    vector: Option<crate::quant::Vector>,
}

impl<'a> BlocksMut<'a> {
    /// Elements per block.
    pub(crate) fn block(&self) -> usize {
        self.block
    }

    /// The number of blocks.
    pub(crate) fn blocks(&self) -> usize {
        self.scales.len()
    }

    /// The first `blocks` blocks and the rest.
    #[cfg(feature = "rayon")]
    pub(crate) fn split_at(self, blocks: usize) -> (Self, Self) {
        let bytes = if self.map.len() == 16 {
            blocks * self.block / 2
        } else {
            blocks * self.block
        };
        let (codes, rest_codes) = self.codes.split_at_mut(bytes);
        let (scales, rest_scales) = self.scales.split_at_mut(blocks);
        let (map, block, vector) = (self.map, self.block, self.vector);
        (
            BlocksMut {
                map,
                block,
                codes,
                scales,
                vector,
            },
            BlocksMut {
                map,
                block,
                codes: rest_codes,
                scales: rest_scales,
                vector,
            },
        )
    }

    /// The values of block `b`, `map[code]·scale` in `f32`, into `out` (one per element of the
    /// block) in the type of the arithmetic.
    #[inline(always)]
    pub(crate) fn dequantize_block<C: crate::Float>(&self, b: usize, out: &mut [C]) {
        let s = self.scales[b];
        let codes = if self.map.len() == 16 {
            &self.codes[b * self.block / 2..(b + 1) * self.block / 2]
        } else {
            &self.codes[b * self.block..(b + 1) * self.block]
        };
        if let Some(out) = C::as_f32s_mut(out) {
            return self.map.values_of(codes, s, out, self.vector);
        }
        // Wider arithmetic (`f64`): the `f32` values through a small buffer.
        const CHUNK: usize = 64;
        let per_chunk = if self.map.len() == 16 {
            CHUNK / 2
        } else {
            CHUNK
        };
        for (out, codes) in out.chunks_mut(CHUNK).zip(codes.chunks(per_chunk)) {
            let mut values = [0f32; CHUNK];
            self.map.values_of(codes, s, &mut values[..out.len()], None);
            for (o, &v) in out.iter_mut().zip(&values) {
                *o = C::from_f64(f64::from(v));
            }
        }
    }

    /// Quantises `values` (one per element of block `b`, in the type of the arithmetic, rounded
    /// to `f32` first) into block `b`: its scale, then every code. `values` is working space:
    /// it is left holding the scaled values.
    #[inline(always)]
    pub(crate) fn quantize_block<C: crate::Float>(&mut self, b: usize, values: &mut [C]) {
        // Rounded to `f32` and held within its finite range: an infinite value would make its
        // block's scale infinite and `∞/∞` a NaN code (identical for every finite `f32` value).
        let narrow = |x: C| crate::ops::saturate(x.widen() as f32);
        // The scale of the saturated values is that of the values, saturated (an infinite
        // largest magnitude is the largest finite one; a NaN stays NaN): one step per block,
        // not one per element.
        let largest = block_scale(values.iter().map(|&x| x.widen() as f32));
        let s = self.map.scale(if largest > f32::MAX {
            f32::MAX
        } else {
            largest
        });
        self.scales[b] = s;
        let (map, vector) = (self.map, self.vector);
        let codes = if map.len() == 16 {
            &mut self.codes[b * self.block / 2..(b + 1) * self.block / 2]
        } else {
            &mut self.codes[b * self.block..(b + 1) * self.block]
        };
        // (A function, not a closure, so that it is inlined into the SIMD loops' context.)
        #[inline(always)]
        fn encode(map: CodeMap, x: &[f32], codes: &mut [u8], vector: Option<crate::quant::Vector>) {
            if map.len() == 16 {
                map.packed_codes_of(x, codes, vector);
            } else {
                map.codes_of(x, codes, vector);
            }
        }
        if let Some(values) = C::as_f32s_mut(values) {
            if map == CodeMap::Float8 {
                // Scaled and converted in one pass (an arithmetic conversion, no search); the
                // conversion saturates as `saturate` would.
                return crate::quant::float8::codes_of_scaled(values, s, codes, vector);
            }
            // In place, the scaled values' `f32`s.
            for x in values.iter_mut() {
                *x = crate::ops::saturate(*x) / s;
            }
            return encode(map, values, codes, vector);
        }
        // Wider arithmetic (`f64`): the scaled values through a small buffer of `f32`s.
        const CHUNK: usize = 64;
        let per_chunk = if map.len() == 16 { CHUNK / 2 } else { CHUNK };
        for (values, codes) in values.chunks(CHUNK).zip(codes.chunks_mut(per_chunk)) {
            let mut scaled = [0f32; CHUNK];
            for (y, &x) in scaled.iter_mut().zip(values) {
                *y = narrow(x) / s;
            }
            encode(map, &scaled[..values.len()], codes, vector);
        }
    }
}

/// The vector instructions the quantised state's table lookups may use: AVX-512 (with VBMI)
/// if the crate's SIMD level is AVX-512 and the CPU has VBMI, AVX2 if the level is not the
/// baseline (`NDARRAY_OPTIM_SIMD` lowers it), none off x86-64.
#[inline(always)]
fn vector() -> Option<crate::quant::Vector> {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::{
            pass::{Simd, simd},
            quant::{Avx2, Vbmi, Vector},
        };
        match simd() {
            Simd::Avx512 => {
                if let Some(vbmi) = Vbmi::detect() {
                    return Some(Vector::Avx512(vbmi));
                }
                Avx2::detect().map(Vector::Avx2)
            }
            Simd::Avx2 => Avx2::detect().map(Vector::Avx2),
            Simd::Baseline => None,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// A moment buffer of a kernel's state (a `moment` entry of
/// [`state!`](crate::driver::buffers::state)): full precision, in the parameter's memory order,
/// or block-wise quantised, in logical order.
#[derive(Clone, Debug)]
pub(crate) enum Moment<A> {
    Full(Vec<A>),
    Quantized(Quantized),
}

impl<A: crate::Float> Moment<A> {
    /// A moment of `len` elements at zero: quantised with the first (`signed`) or second
    /// moments' map if `quantization` applies to the tensor, else full precision.
    pub(crate) fn new(quantization: Option<Quantization>, signed: bool, len: usize) -> Self {
        match quantization {
            Some(q) if q.applies(len) => {
                Moment::Quantized(Quantized::zeros(q.map(signed), q.block_size, len))
            }
            _ => Moment::Full(vec![A::zero(); len]),
        }
    }

    /// The moment `name` of a tensor of `shape` from its saved form: a full-precision buffer
    /// from `buffers` or a quantised one from `quantized`, whichever the configuration keeps.
    pub(crate) fn restore(
        name: &str,
        quantization: Option<Quantization>,
        signed: bool,
        shape: &[usize],
        buffers: &mut std::collections::BTreeMap<String, ndarray::ArrayD<A>>,
        quantized: &mut std::collections::BTreeMap<String, crate::state::QuantizedBuffer>,
    ) -> Result<Self, String> {
        let len: usize = shape.iter().product();
        match quantization.filter(|q| q.applies(len)) {
            None => {
                if quantized.contains_key(name) {
                    return Err(format!(
                        "buffer `{name}` is saved quantised, but the configuration keeps it in \
                         full precision for a tensor of shape {shape:?}"
                    ));
                }
                crate::driver::buffers::take_param_shaped(name, shape, buffers)?
                    .map(Moment::Full)
                    .ok_or_else(|| format!("buffer `{name}` is missing"))
            }
            Some(q) => {
                if buffers.contains_key(name) {
                    return Err(format!(
                        "buffer `{name}` is saved in full precision, but the configuration \
                         quantises it for a tensor of shape {shape:?}"
                    ));
                }
                let saved = quantized
                    .remove(name)
                    .ok_or_else(|| format!("quantised buffer `{name}` is missing"))?;
                if (saved.bits, saved.format, saved.block_size) != (q.bits, q.format, q.block_size)
                {
                    return Err(format!(
                        "buffer `{name}` is saved with {}-bit codes ({:?}) in blocks of {}, \
                         the configuration uses {}-bit codes ({:?}) in blocks of {}",
                        saved.bits, saved.format, saved.block_size, q.bits, q.format, q.block_size
                    ));
                }
                Quantized::from_saved(q.map(signed), q.block_size, len, saved.codes, saved.scales)
                    .map(Moment::Quantized)
                    .map_err(|reason| format!("buffer `{name}`: {reason}"))
            }
        }
    }

    /// A moment created by the kernel when it first needs it (`lazy_moment`): quantised zeros
    /// from the start if `quantization` applies to the tensor, else none yet.
    pub(crate) fn new_lazy(
        quantization: Option<Quantization>,
        signed: bool,
        len: usize,
    ) -> Option<Self> {
        match quantization {
            Some(q) if q.applies(len) => Some(Moment::new(Some(q), signed, len)),
            _ => None,
        }
    }

    /// [`restore`](Self::restore) for a `lazy_moment`: quantised (and present) exactly when
    /// `quantization` applies, else a full-precision buffer or none.
    pub(crate) fn restore_lazy(
        name: &str,
        quantization: Option<Quantization>,
        signed: bool,
        shape: &[usize],
        buffers: &mut std::collections::BTreeMap<String, ndarray::ArrayD<A>>,
        quantized: &mut std::collections::BTreeMap<String, crate::state::QuantizedBuffer>,
    ) -> Result<Option<Self>, String> {
        let len: usize = shape.iter().product();
        if quantization.is_some_and(|q| q.applies(len)) || quantized.contains_key(name) {
            return Moment::restore(name, quantization, signed, shape, buffers, quantized)
                .map(Some);
        }
        Ok(crate::driver::buffers::take_param_shaped(name, shape, buffers)?.map(Moment::Full))
    }

    /// The saved form of a quantised moment.
    pub(crate) fn saved(q: &Quantized) -> crate::state::QuantizedBuffer {
        crate::state::QuantizedBuffer {
            bits: if q.map().len() == 16 { 4 } else { 8 },
            format: if q.map() == CodeMap::Float8 {
                CodeFormat::Float8
            } else {
                CodeFormat::Map
            },
            block_size: q.block(),
            codes: q.codes().to_vec(),
            scales: q.scales().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{dequantize, pack4, quantize, unpack4};

    /// Moment-like values of very different sizes from block to block.
    fn values(n: usize, signed: bool) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let x = ((i * 7919) % 1009) as f32 / 504.0 - 1.0;
                let x = x * [1e-7, 1e-3, 1.0, 30.0][(i / 128) % 4];
                if signed { x } else { x * x }
            })
            .collect()
    }

    /// The optimizers' block-by-block storage gives the codes, scales and values of the
    /// whole-tensor functions that `tests/reference/quant.rs` checks against torchao.
    #[test]
    fn blocks_are_the_whole_tensor_quantisation() {
        for map in [
            CodeMap::Signed8,
            CodeMap::Unsigned8,
            CodeMap::Signed4,
            CodeMap::Unsigned4,
            CodeMap::Float8,
        ] {
            let block = map.block_size();
            let n = 16 * block;
            let x = values(n, matches!(map, CodeMap::Signed8 | CodeMap::Signed4));
            let mut codes = vec![0u8; n];
            let mut scales = vec![0f32; n / block];
            quantize(&x, block, map, &mut codes, &mut scales);
            let mut q = Quantized::zeros(map, block, n);
            for b in 0..q.blocks() {
                q.blocks_mut()
                    .quantize_block(b, &mut x[b * block..(b + 1) * block].to_vec());
            }
            assert_eq!(q.scales(), &scales[..], "{map:?}");
            let stored = if map.len() == 16 {
                let mut packed = vec![0u8; n / 2];
                pack4(&codes, &mut packed);
                let mut back = vec![0u8; n];
                unpack4(&packed, &mut back);
                assert_eq!(back, codes);
                packed
            } else {
                codes.clone()
            };
            assert_eq!(q.codes(), &stored[..], "{map:?}");
            let mut want = vec![0f32; n];
            dequantize(&codes, &scales, block, map, &mut want);
            let mut got = vec![0f32; n];
            for b in 0..q.blocks() {
                q.blocks_mut()
                    .dequantize_block(b, &mut got[b * block..(b + 1) * block]);
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{map:?}");
        }
    }

    /// Saturated storage: an infinite moment is stored as the largest finite one, never as a
    /// NaN code; a NaN stays NaN.
    #[test]
    fn infinite_moments_are_stored_finite() {
        let mut q = Quantized::zeros(CodeMap::Unsigned8, 4, 4);
        q.blocks_mut()
            .quantize_block(0, &mut [f32::INFINITY, 1.0, 0.0, 2.0]);
        let mut out = [0f32; 4];
        q.blocks_mut().dequantize_block(0, &mut out);
        assert_eq!(out[0].to_bits(), f32::MAX.to_bits());
        assert!(out.iter().all(|x| x.is_finite()));
        q.blocks_mut()
            .quantize_block(0, &mut [f32::NAN, 1.0, 0.0, 2.0]);
        q.blocks_mut().dequantize_block(0, &mut out);
        assert!(
            out.iter().all(|x| x.is_nan()),
            "a NaN block is NaN: {out:?}"
        );
    }
}
