//! The element types an optimizer can update: `f32` and `f64`, and with the `half` feature
//! `bf16` and `f16` (the `half` crate's), whose arithmetic is done in `f32`.

use std::fmt::{Debug, Display};

/// The trait that seals [`Float`], and what the crate needs of its element types beyond
/// `num_traits`: it cannot be named outside the crate.
pub(crate) mod sealed {
    use crate::distributed::{Collective, SumOrder};
    use crate::error::Error;

    pub trait Sealed: Sized {
        /// Whether every element of `s` is finite: one pass without early exit, which the
        /// compiler vectorises (call it inside the SIMD wrapper, on blocks).
        fn all_finite(s: &[Self]) -> bool;
        /// The collective's broadcast of elements of this type.
        fn broadcast(c: &dyn Collective, buf: &mut [Self], root: usize) -> Result<(), Error>;
        /// The collective's all-reduce (sum) of elements of this type, in `order`.
        fn all_reduce(c: &dyn Collective, buf: &mut [Self], order: SumOrder) -> Result<(), Error>;
        /// Whether [`from_compute_stochastic`](Sealed::from_compute_stochastic) rounds
        /// stochastically: `bf16` only (as torchao, which has no such rounding for `f16`).
        const STOCHASTIC: bool;
        /// A result stored with stochastic rounding, `random` being 32 uniform random bits; for
        /// the other types, [`Float::from_compute`](super::Float::from_compute).
        fn from_compute_stochastic(x: <Self as super::Float>::Compute, random: u32) -> Self
        where
            Self: super::Float;
        /// The slice as `f32`s if this type is `f32` (for loops written for `f32` alone: the
        /// quantised state's table loads).
        #[inline(always)]
        fn as_f32s(_s: &[Self]) -> Option<&[f32]> {
            None
        }
        /// [`as_f32s`](Sealed::as_f32s), mutable.
        #[inline(always)]
        fn as_f32s_mut(_s: &mut [Self]) -> Option<&mut [f32]> {
            None
        }
    }

    /// The methods of [`Sealed`] that pick the collective's method for the type.
    macro_rules! collective_methods {
        ($broadcast:ident, $sum:ident, $ordered:ident) => {
            fn broadcast(c: &dyn Collective, buf: &mut [Self], root: usize) -> Result<(), Error> {
                c.$broadcast(buf, root)
            }
            fn all_reduce(
                c: &dyn Collective,
                buf: &mut [Self],
                order: SumOrder,
            ) -> Result<(), Error> {
                match order {
                    SumOrder::Ranks => c.$ordered(buf),
                    _ => c.$sum(buf),
                }
            }
        };
    }

    /// The methods of [`Sealed`] for a 16-bit type, whose collectives go through stack buffers
    /// of at most [`HALF_CHUNK`] elements, so that nothing is allocated: the bits of a broadcast
    /// as bytes (exact), a sum added in `f32` and rounded once to nearest (more exact than a sum
    /// in the 16-bit type, which is what NCCL and MPI would do).
    #[cfg(feature = "half")]
    macro_rules! half_collective_methods {
        () => {
            fn broadcast(c: &dyn Collective, buf: &mut [Self], root: usize) -> Result<(), Error> {
                let mut bytes = [0u8; 2 * HALF_CHUNK];
                for chunk in buf.chunks_mut(HALF_CHUNK) {
                    let bytes = &mut bytes[..2 * chunk.len()];
                    for (b, x) in bytes.chunks_exact_mut(2).zip(chunk.iter()) {
                        b.copy_from_slice(&x.to_bits().to_le_bytes());
                    }
                    c.broadcast_u8(bytes, root)?;
                    for (x, b) in chunk.iter_mut().zip(bytes.chunks_exact(2)) {
                        *x = Self::from_bits(u16::from_le_bytes([b[0], b[1]]));
                    }
                }
                Ok(())
            }
            fn all_reduce(
                c: &dyn Collective,
                buf: &mut [Self],
                order: SumOrder,
            ) -> Result<(), Error> {
                let mut wide = [0f32; HALF_CHUNK];
                for chunk in buf.chunks_mut(HALF_CHUNK) {
                    let wide = &mut wide[..chunk.len()];
                    for (w, x) in wide.iter_mut().zip(chunk.iter()) {
                        *w = x.to_f32();
                    }
                    match order {
                        SumOrder::Ranks => c.all_reduce_sum_ordered_f32(wide)?,
                        _ => c.all_reduce_sum_f32(wide)?,
                    }
                    for (x, w) in chunk.iter_mut().zip(wide.iter()) {
                        *x = Self::from_f32(*w);
                    }
                }
                Ok(())
            }
        };
    }

    /// The elements of a 16-bit type one collective call carries (16 KiB of bytes, 32 KiB of
    /// `f32` sums on the stack).
    #[cfg(feature = "half")]
    const HALF_CHUNK: usize = 8192;

    impl Sealed for f32 {
        collective_methods!(
            broadcast_f32,
            all_reduce_sum_f32,
            all_reduce_sum_ordered_f32
        );

        /// The largest magnitude's bits, `max(bits & 0x7fff_ffff)`, against the exponent of
        /// infinity: an integer max per element, a lane-wide `vpmaxud` on x86-64 and `umax` on
        /// aarch64.
        #[inline(always)]
        fn all_finite(s: &[f32]) -> bool {
            s.iter()
                .fold(0u32, |max, x| max.max(x.to_bits() & 0x7fff_ffff))
                < 0x7f80_0000
        }
        const STOCHASTIC: bool = false;
        #[inline(always)]
        fn from_compute_stochastic(x: f32, _random: u32) -> f32 {
            x
        }
        #[inline(always)]
        fn as_f32s(s: &[f32]) -> Option<&[f32]> {
            Some(s)
        }
        #[inline(always)]
        fn as_f32s_mut(s: &mut [f32]) -> Option<&mut [f32]> {
            Some(s)
        }
    }

    impl Sealed for f64 {
        collective_methods!(
            broadcast_f64,
            all_reduce_sum_f64,
            all_reduce_sum_ordered_f64
        );

        /// A compare and an `and` per element (AVX2 has no unsigned 64-bit max).
        #[inline(always)]
        fn all_finite(s: &[f64]) -> bool {
            s.iter().fold(true, |ok, x| ok & x.is_finite())
        }
        const STOCHASTIC: bool = false;
        #[inline(always)]
        fn from_compute_stochastic(x: f64, _random: u32) -> f64 {
            x
        }
    }

    #[cfg(feature = "half")]
    impl Sealed for half::bf16 {
        half_collective_methods!();

        /// As for `f32`, on the 16 bits.
        #[inline(always)]
        fn all_finite(s: &[half::bf16]) -> bool {
            s.iter().fold(0u16, |max, x| max.max(x.to_bits() & 0x7fff)) < 0x7f80
        }
        const STOCHASTIC: bool = true;
        #[inline(always)]
        fn from_compute_stochastic(x: f32, random: u32) -> half::bf16 {
            half::bf16::from_bits(super::bits::f32_to_bf16_stochastic(x, random))
        }
    }

    #[cfg(feature = "half")]
    impl Sealed for half::f16 {
        half_collective_methods!();

        /// As for `f32`, on the 16 bits.
        #[inline(always)]
        fn all_finite(s: &[half::f16]) -> bool {
            s.iter().fold(0u16, |max, x| max.max(x.to_bits() & 0x7fff)) < 0x7c00
        }
        const STOCHASTIC: bool = false;
        #[inline(always)]
        fn from_compute_stochastic(x: f32, _random: u32) -> half::f16 {
            super::Float::from_compute(x)
        }
    }
}

/// A floating-point element type of parameters, gradients and optimizer state: `f32`, `f64`,
/// and with the `half` feature `half::bf16` and `half::f16`.
///
/// Sealed: the kernels are written and tested for exactly these types. Hyperparameters and
/// the scalars derived from them (`1 - β`, `β^t`, `lr / (1 - β₁^t)`, …) are always computed in
/// `f64` and rounded once to the type the arithmetic is done in, [`Float::Compute`], as
/// PyTorch does.
///
/// `bf16` and `f16` are storage types: an optimizer reads each element of a parameter,
/// gradient and state buffer exactly into `f32` ([`to_compute`](Float::to_compute)), does the
/// whole element update in `f32`, and rounds each result to nearest, ties to even, when it
/// stores it ([`from_compute`](Float::from_compute)), as PyTorch's fused CPU kernels do.
///
/// # Example
///
/// ```
/// use ndarray_optim::Float;
///
/// fn one_minus<A: Float>(beta: f64) -> A {
///     A::from_f64(1.0 - beta) // rounded once, never `1 - (beta as A)`
/// }
/// assert_eq!(one_minus::<f32>(0.999), 0.001_f32);
/// ```
pub trait Float:
    num_traits::Float + Debug + Display + Default + Send + Sync + 'static + sealed::Sealed
{
    /// The type an element's arithmetic is done in: the type itself for `f32` and `f64`,
    /// `f32` for `bf16` and `f16`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::Float;
    ///
    /// let x: <f64 as Float>::Compute = 0.1_f64;
    /// assert_eq!(x.to_compute(), 0.1);
    /// ```
    type Compute: Float<Compute = Self::Compute>;

    /// Rounds an `f64` to this type (to nearest, ties to even; `bf16` and `f16` through `f32`,
    /// as PyTorch converts a Python float for them).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::Float;
    ///
    /// assert_eq!(<f32 as Float>::from_f64(0.1), 0.1_f32); // the nearest f32
    /// assert_eq!(<f64 as Float>::from_f64(0.1), 0.1); // exact
    /// ```
    fn from_f64(x: f64) -> Self;
    /// The type's name, `"f32"`, `"f64"`, `"bf16"` or `"f16"`: what a saved state records.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::Float;
    ///
    /// assert_eq!(<f32 as Float>::NAME, "f32");
    /// ```
    const NAME: &'static str;
    /// Widens this value to `f64` (exact).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::Float;
    ///
    /// assert_eq!(0.1_f32.widen(), f64::from(0.1_f32)); // exactly the f32's value…
    /// assert_ne!(0.1_f32.widen(), 0.1); // …which is not 0.1
    /// ```
    fn widen(self) -> f64;
    /// This value in the type its arithmetic is done in (exact).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::Float;
    ///
    /// assert_eq!(0.5_f32.to_compute(), 0.5_f32);
    /// ```
    fn to_compute(self) -> Self::Compute;
    /// A result of the arithmetic stored in this type: rounded to nearest, ties to even (exact
    /// for `f32` and `f64`). A NaN stays a NaN.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::Float;
    ///
    /// assert_eq!(<f64 as Float>::from_compute(0.1), 0.1);
    /// ```
    fn from_compute(x: Self::Compute) -> Self;

    /// Writes the value exactly in any serde format (see the crate's saved-state docs).
    #[cfg(feature = "serde")]
    #[doc(hidden)]
    fn serialize_exact<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;

    /// Reads a value written by [`serialize_exact`](Float::serialize_exact) (or a plain number).
    #[cfg(feature = "serde")]
    #[doc(hidden)]
    fn deserialize_exact<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Self, D::Error>;
}

impl Float for f32 {
    type Compute = f32;
    const NAME: &'static str = "f32";
    #[cfg(feature = "serde")]
    fn serialize_exact<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::exact::Exact::write(self, serializer)
    }
    #[cfg(feature = "serde")]
    fn deserialize_exact<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Self, D::Error> {
        crate::exact::Exact::read(deserializer)
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn widen(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn to_compute(self) -> f32 {
        self
    }
    #[inline(always)]
    fn from_compute(x: f32) -> Self {
        x
    }
}

impl Float for f64 {
    type Compute = f64;
    const NAME: &'static str = "f64";
    #[cfg(feature = "serde")]
    fn serialize_exact<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::exact::Exact::write(self, serializer)
    }
    #[cfg(feature = "serde")]
    fn deserialize_exact<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Self, D::Error> {
        crate::exact::Exact::read(deserializer)
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn widen(self) -> f64 {
        self
    }
    #[inline(always)]
    fn to_compute(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_compute(x: f64) -> Self {
        x
    }
}

/// The random bits of stochastic rounding: reproducible whatever the thread count, the order of
/// the elements or an interruption and resumption.
pub(crate) mod random {
    /// 32 random bits for element `index` of the stream `key`: a counter-based generator
    /// (Wellons's `lowbias32` integer hash, applied twice), so that the bits depend only on
    /// `(key, index)`, never on the order in which elements are visited or the thread count.
    #[inline(always)]
    pub(crate) fn random_bits(key: u64, index: usize) -> u32 {
        let index = index as u64;
        let high = lowbias32((key >> 32) as u32 ^ (index >> 32) as u32);
        lowbias32(lowbias32(key as u32 ^ index as u32) ^ high)
    }

    #[inline(always)]
    fn lowbias32(mut x: u32) -> u32 {
        x ^= x >> 16;
        x = x.wrapping_mul(0x7feb_352d);
        x ^= x >> 15;
        x = x.wrapping_mul(0x846c_a68b);
        x ^ (x >> 16)
    }

    /// The key of one tensor's stream at one step: `(seed, step, tensor)` mixed (SplitMix64's
    /// finaliser), computed once per tensor and step.
    pub(crate) fn stream_key(seed: u64, step: u64, tensor: usize) -> u64 {
        let mix = |mut z: u64| {
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let golden = 0x9e37_79b9_7f4a_7c15_u64;
        mix(mix(mix(seed.wrapping_add(golden)) ^ step.wrapping_add(golden)) ^ tensor as u64)
    }
}

/// The conversions between `f32` and the 16-bit types, on the bits, without branches (selects
/// only), so that the element loops that load and store them vectorise.
#[cfg(feature = "half")]
pub(crate) mod bits {
    /// The `f32` of a `bfloat16` (exact): its bits are the `f32`'s upper half.
    #[inline(always)]
    pub(crate) fn bf16_to_f32(h: u16) -> f32 {
        f32::from_bits(u32::from(h) << 16)
    }

    /// An `f32` rounded to `bfloat16`, to nearest, ties to even; a NaN stays a (quiet) NaN.
    #[inline(always)]
    pub(crate) fn f32_to_bf16(x: f32) -> u16 {
        let b = x.to_bits();
        // Adding 0x7fff and the lowest kept bit rounds the upper half to nearest even; a carry
        // out of the mantissa goes into the exponent, so the largest values become ±∞.
        let rounded = (b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16) as u16;
        let nan = (b & 0x7fff_ffff) > 0x7f80_0000;
        if nan {
            ((b >> 16) | 0x0040) as u16
        } else {
            rounded
        }
    }

    /// An `f32` rounded to `bfloat16` stochastically (torchao's `_fp32_to_bf16_sr`): away from
    /// zero by one `bf16` ulp with probability (the 16 dropped bits) / 2¹⁶, toward zero
    /// otherwise, so the result is the `f32` on average; `random`'s upper 16 bits decide. A NaN
    /// stays a (quiet) NaN; an infinity stays itself.
    #[inline(always)]
    pub(crate) fn f32_to_bf16_stochastic(x: f32, random: u32) -> u16 {
        let b = x.to_bits();
        let away = u32::from((random >> 16) < (b & 0xffff));
        // Sign and magnitude: one more in the upper half is one ulp away from zero (past the
        // largest finite value, ±∞).
        let rounded = ((b >> 16) + away) as u16;
        let nan = (b & 0x7fff_ffff) > 0x7f80_0000;
        if nan {
            ((b >> 16) | 0x0040) as u16
        } else {
            rounded
        }
    }

    /// The `f32` of an IEEE `binary16` (exact), subnormals included.
    #[inline(always)]
    pub(crate) fn f16_to_f32(h: u16) -> f32 {
        let h = u32::from(h);
        let sign = (h & 0x8000) << 16;
        let magnitude = (h & 0x7fff) << 13;
        let exponent = magnitude & (0x7c00 << 13);
        // Rebias the exponent (15 → 127); Inf and NaN keep an all-ones exponent.
        let normal = magnitude + ((127 - 15) << 23);
        let special = normal + ((128 - 16) << 23);
        // A subnormal: as a normal with the smallest exponent, minus that exponent's 1.
        let subnormal = f32::from_bits(magnitude + (113 << 23)) - f32::from_bits(113 << 23);
        let out = if exponent == 0x7c00 << 13 {
            special
        } else if exponent == 0 {
            subnormal.to_bits()
        } else {
            normal
        };
        f32::from_bits(out | sign)
    }

    /// An `f32` rounded to IEEE `binary16`, to nearest, ties to even (subnormals included,
    /// overflow to ±∞); a NaN stays a (quiet) NaN.
    #[inline(always)]
    pub(crate) fn f32_to_f16(x: f32) -> u16 {
        let b = x.to_bits();
        let sign = ((b >> 16) & 0x8000) as u16;
        let magnitude = b & 0x7fff_ffff;
        // At or above 65520 (the first value that rounds to ∞): ∞, or NaN.
        let special: u16 = if magnitude > 0x7f80_0000 {
            0x7e00 | ((magnitude >> 13) & 0x03ff) as u16
        } else {
            0x7c00
        };
        // Below 2⁻¹⁴ the result is subnormal: adding 0.5 aligns the bits to keep at the
        // bottom of the mantissa, and the `f32` addition rounds them to nearest even.
        let aligned = (f32::from_bits(magnitude) + 0.5).to_bits();
        let subnormal = aligned.wrapping_sub(0.5f32.to_bits()) as u16;
        // Otherwise rebias (127 → 15) and round the 13 dropped bits to nearest even.
        let odd = (magnitude >> 13) & 1;
        let normal = (magnitude
            .wrapping_add(((15u32).wrapping_sub(127)) << 23)
            .wrapping_add(0xfff + odd)
            >> 13) as u16;
        let out = if magnitude >= 0x4780_0000 {
            special
        } else if magnitude < 0x3880_0000 {
            subnormal
        } else {
            normal
        };
        out | sign
    }
}

#[cfg(feature = "half")]
mod half_types {
    use super::Float;
    use super::bits;
    use half::{bf16, f16};

    macro_rules! half_float {
        ($t:ty, $name:literal, $to:path, $from:path) => {
            impl Float for $t {
                type Compute = f32;
                const NAME: &'static str = $name;
                #[cfg(feature = "serde")]
                fn serialize_exact<S: serde::Serializer>(
                    &self,
                    serializer: S,
                ) -> Result<S::Ok, S::Error> {
                    // Every value is exactly an `f32`.
                    crate::exact::Exact::write(&self.to_compute(), serializer)
                }
                #[cfg(feature = "serde")]
                fn deserialize_exact<'de, D: serde::Deserializer<'de>>(
                    deserializer: D,
                ) -> Result<Self, D::Error> {
                    let x: f32 = crate::exact::Exact::read(deserializer)?;
                    let stored = Self::from_compute(x);
                    if stored.to_compute().to_bits() != x.to_bits() && !x.is_nan() {
                        return Err(serde::de::Error::custom(format!(
                            "{x:?} is not a {} value",
                            $name
                        )));
                    }
                    Ok(stored)
                }
                #[inline(always)]
                fn from_f64(x: f64) -> Self {
                    Self::from_compute(x as f32)
                }
                #[inline(always)]
                fn widen(self) -> f64 {
                    f64::from(self.to_compute())
                }
                #[inline(always)]
                fn to_compute(self) -> f32 {
                    $to(self.to_bits())
                }
                #[inline(always)]
                fn from_compute(x: f32) -> Self {
                    <$t>::from_bits($from(x))
                }
            }
        };
    }

    half_float!(bf16, "bf16", bits::bf16_to_f32, bits::f32_to_bf16);
    half_float!(f16, "f16", bits::f16_to_f32, bits::f32_to_f16);
}

#[cfg(all(test, feature = "half"))]
#[allow(clippy::float_cmp)] // bit-exact on purpose
mod tests {
    use super::bits::*;

    #[test]
    fn bfloat16_rounds_to_nearest_even() {
        let round = |x: f32| bf16_to_f32(f32_to_bf16(x));
        assert_eq!(round(1.0), 1.0);
        assert_eq!(round(1.0 + 1.0 / 256.0), 1.0); // a tie: to even
        assert_eq!(round(1.0 + 3.0 / 256.0), 1.0 + 4.0 / 256.0); // a tie: to even
        assert_eq!(round(1.0 + 1.5 / 256.0), 1.0 + 2.0 / 256.0);
        assert_eq!(round(f32::MAX), f32::INFINITY);
        assert_eq!(round(-f32::MAX), f32::NEG_INFINITY);
        assert!(round(f32::NAN).is_nan());
        assert!(round(f32::from_bits(0x7f80_0001)).is_nan()); // a NaN that truncates to ∞
        assert!(round(f32::from_bits(0xffff_ffff)).is_nan());
    }

    #[test]
    fn binary16_rounds_to_nearest_even() {
        let round = |x: f32| f16_to_f32(f32_to_f16(x));
        assert_eq!(round(1.0), 1.0);
        assert_eq!(round(1.0 + 1.0 / 2048.0), 1.0); // a tie: to even
        assert_eq!(round(1.0 + 3.0 / 2048.0), 1.0 + 4.0 / 2048.0);
        assert_eq!(round(65504.0), 65504.0); // the largest
        assert_eq!(round(65519.0), 65504.0);
        assert_eq!(round(65520.0), f32::INFINITY);
        assert_eq!(round(2.0f32.powi(-24)), 2.0f32.powi(-24)); // the smallest subnormal
        assert_eq!(round(2.0f32.powi(-25)), 0.0); // a tie with 0: to even
        assert_eq!(round(1.5 * 2.0f32.powi(-25)), 2.0f32.powi(-24));
        assert_eq!(round(-3.0 * 2.0f32.powi(-25)), -2.0 * 2.0f32.powi(-24)); // a tie: even
        assert!(round(f32::NAN).is_nan());
        assert!(round(f32::from_bits(0x7f80_0001)).is_nan());
    }

    /// Against the `half` crate's conversions: every 16-bit pattern widened, and `f32`s around
    /// every rounding boundary (each 16-bit value's neighbours and midpoints) narrowed.
    #[test]
    fn conversions_are_the_half_crates() {
        use half::{bf16, f16};
        for h in 0..=u16::MAX {
            let (b, f) = (bf16::from_bits(h), f16::from_bits(h));
            if b.is_nan() {
                assert!(bf16_to_f32(h).is_nan()); // `half` quiets a signalling NaN
            } else {
                assert_eq!(
                    bf16_to_f32(h).to_bits(),
                    b.to_f32().to_bits(),
                    "bf16 {h:#06x}"
                );
            }
            if f.is_nan() {
                assert!(f16_to_f32(h).is_nan());
            } else {
                assert_eq!(
                    f16_to_f32(h).to_bits(),
                    f.to_f32().to_bits(),
                    "f16 {h:#06x}"
                );
            }
        }
        let check = |x: f32| {
            if x.is_nan() {
                assert!(bf16_to_f32(f32_to_bf16(x)).is_nan());
                assert!(f16_to_f32(f32_to_f16(x)).is_nan());
                return;
            }
            assert_eq!(f32_to_bf16(x), bf16::from_f32(x).to_bits(), "bf16 of {x:e}");
            assert_eq!(
                f32_to_f16(x),
                f16::from_f32(x).to_bits(),
                "f16 of {x:e} ({:#010x})",
                x.to_bits()
            );
        };
        for h in 0..=u16::MAX {
            // bf16: each value, its f32 neighbours, and the midpoints to the next value.
            let b = u32::from(h) << 16;
            for d in [0u32, 1, 0x7fff, 0x8000, 0x8001, 0xffff] {
                check(f32::from_bits(b | d));
            }
            // f16: each value's f32, the midpoint to the next and the f32s around it.
            let x = f16_to_f32(h);
            if x.is_finite() {
                let bits = x.to_bits();
                for d in [-1i64, 0, 1, 0xfff, 0x1000, 0x1001, 0x1fff] {
                    check(f32::from_bits((i64::from(bits) + d) as u32));
                }
                let next = f16_to_f32(h.wrapping_add(1));
                if next.is_finite() && next.abs() > x.abs() {
                    let mid = (f64::from(x) + f64::from(next)) / 2.0;
                    let mid = mid as f32;
                    for d in [-1i64, 0, 1] {
                        check(f32::from_bits((i64::from(mid.to_bits()) + d) as u32));
                    }
                }
            }
        }
        for x in [
            f32::MAX,
            f32::MIN_POSITIVE,
            1e-45,
            65504.0,
            65520.0,
            65519.996,
            6e-8,
            3e-8,
        ] {
            check(x);
            check(-x);
        }
    }
}

#[cfg(all(test, feature = "half"))]
mod stochastic_tests {
    use super::bits::{bf16_to_f32, f32_to_bf16_stochastic};
    use super::random::{random_bits, stream_key};

    /// torchao's check: the mean of 2²⁰ stochastic roundings of `1 + 2⁻⁹` (a quarter of the
    /// way to the next `bf16`) is `1 + 2⁻⁹` within sampling error, where rounding to nearest
    /// gives 1.
    #[test]
    fn stochastic_rounding_is_unbiased() {
        let x = 1.0 + 2f32.powi(-9);
        let key = stream_key(1, 2, 3);
        let n = 1 << 20;
        let sum: f64 = (0..n)
            .map(|i| f64::from(bf16_to_f32(f32_to_bf16_stochastic(x, random_bits(key, i)))))
            .sum();
        let mean = sum / n as f64;
        // Each rounding is 1 or 1 + 2⁻⁷ (p = 1/4): the mean's standard deviation is 3.4e-6.
        assert!((mean - f64::from(x)).abs() < 2e-5, "{mean}");
        for x in [-x, 0.3, -1e-30, 3e38] {
            let (down, up) = (x.to_bits() >> 16, (x.to_bits() >> 16) + 1);
            for i in 0..64 {
                let r = u32::from(f32_to_bf16_stochastic(x, random_bits(key, i)));
                assert!(r == down || r == up, "{x}: {r:#x}");
            }
        }
        assert_eq!(f32_to_bf16_stochastic(f32::INFINITY, u32::MAX), 0x7f80);
        assert_eq!(f32_to_bf16_stochastic(1.0, 0), 0x3f80); // exact values stay
        assert!(bf16_to_f32(f32_to_bf16_stochastic(f32::NAN, 0)).is_nan());
        assert!(bf16_to_f32(f32_to_bf16_stochastic(f32::from_bits(0x7f80_0001), 0)).is_nan());
    }
}
