//! The element types an optimizer can update: `f32` and `f64`.

use std::fmt::{Debug, Display};

/// The trait that seals [`Float`], and what the crate needs of `f32` and `f64` beyond
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
    }
}

/// A floating-point element type of parameters, gradients and optimizer state: `f32` or `f64`.
///
/// Sealed: the kernels are written and tested for exactly these two types. Hyperparameters and
/// the scalars derived from them (`1 - β`, `β^t`, `lr / (1 - β₁^t)`, …) are always computed in
/// `f64` and rounded once to `A` with [`Float::from_f64`], as PyTorch does.
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
    /// Rounds an `f64` to this type (to nearest, ties to even).
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
    /// The type's name, `"f32"` or `"f64"`: what a saved state records.
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
}

impl Float for f64 {
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
}
