//! Floating-point values that survive any serde format bit for bit (the `serde` feature).
//!
//! Binary formats (postcard, bincode, MessagePack) store `f32`/`f64` exactly already. Text
//! formats do not always: JSON has no `∞` or NaN (serde_json writes `null`, which does not read
//! back), and serde_json without its `float_roundtrip` feature parses some numbers one ulp off,
//! so a resumed run would differ. In human-readable formats this module therefore writes a float
//! as a plain number only when every parser reads it back exactly — at most 15 significant
//! digits and a decimal exponent within ±22, where one multiplication or division by an exact
//! power of ten gives the correctly rounded value — and otherwise as a string holding Rust's
//! shortest round-trip form (`"0.30000000000000004"`, `"1e-30"`, `"inf"`, `"-inf"`, `"NaN"`),
//! which Rust's correctly rounded parser reads back exactly. On reading, both forms are
//! accepted, so hand-written configurations with plain numbers work too.
//!
//! Used through `#[serde(with = "crate::exact")]` on every field of a configuration (the
//! `config!` macro adds it), on parameter groups, and on the saved state's buffers and scalars.

use std::collections::BTreeMap;
use std::fmt;

use ndarray::{ArrayD, IxDyn};
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value whose floats are written exactly (see the [module docs](self)).
pub(crate) trait Exact: Sized {
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
}

/// For `#[serde(with = "crate::exact")]`.
pub(crate) fn serialize<T: Exact, S: Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    value.write(serializer)
}

/// For `#[serde(with = "crate::exact")]`.
pub(crate) fn deserialize<'de, T: Exact, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    T::read(deserializer)
}

/// Whether every JSON-style parser reads the decimal `text` (Rust's `{:e}` form, `d.ddde±x`)
/// back as the same float: at most 15 significant digits (an exact `u64` below 2⁵³) and a
/// decimal exponent, relative to the digits, within ±22 (an exact power of ten).
fn plain_number_is_exact(text: &str) -> bool {
    let Some((mantissa, exponent)) = text.split_once('e') else {
        return false;
    };
    let digits = mantissa.bytes().filter(u8::is_ascii_digit).count();
    let fraction_digits = mantissa
        .split_once('.')
        .map_or(0, |(_, fraction)| fraction.len());
    let Ok(exponent) = exponent.parse::<i32>() else {
        return false;
    };
    digits <= 15 && (exponent - fraction_digits as i32).abs() <= 22
}

macro_rules! exact_float {
    ($float:ty, $visit:ident, $deserialize:ident) => {
        impl Exact for $float {
            fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if !serializer.is_human_readable() {
                    return Serialize::serialize(self, serializer);
                }
                if self.is_finite() {
                    let text = format!("{self:e}");
                    if plain_number_is_exact(&text) {
                        return serializer.$visit(*self);
                    }
                }
                // `{:?}` is Rust's shortest round-trip form (with `inf`, `-inf`, `NaN`).
                serializer.collect_str(&format_args!("{self:?}"))
            }

            fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct FloatVisitor;
                impl Visitor<'_> for FloatVisitor {
                    type Value = $float;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a number, or a string holding one (\"inf\", \"NaN\", …)")
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$float, E> {
                        Ok(v as $float)
                    }
                    fn visit_f32<E: de::Error>(self, v: f32) -> Result<$float, E> {
                        Ok(v as $float)
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$float, E> {
                        Ok(v as $float)
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$float, E> {
                        Ok(v as $float)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$float, E> {
                        v.parse()
                            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
                    }
                }
                if deserializer.is_human_readable() {
                    deserializer.deserialize_any(FloatVisitor)
                } else {
                    deserializer.$deserialize(FloatVisitor)
                }
            }
        }
    };
}
exact_float!(f64, serialize_f64, deserialize_f64);
exact_float!(f32, serialize_f32, deserialize_f32);

/// Types without floats, written as serde writes them.
macro_rules! plain {
    ($($t:ty),*) => {$(
        impl $crate::exact::Exact for $t {
            fn write<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serde::Serialize::serialize(self, serializer)
            }
            fn read<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                <$t as serde::Deserialize>::deserialize(deserializer)
            }
        }
    )*};
}
#[allow(unused_imports)] // for enums in configurations
pub(crate) use plain;

/// Borrows a value for writing through [`Exact`].
struct Ref<'a, T>(&'a T);

impl<T: Exact> Serialize for Ref<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.write(serializer)
    }
}

/// Owns a value read through [`Exact`].
struct Own<T>(T);

impl<'de, T: Exact> Deserialize<'de> for Own<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::read(deserializer).map(Own)
    }
}

impl<T: Exact> Exact for Option<T> {
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_ref().map(Ref).serialize(serializer)
    }
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Option::<Own<T>>::deserialize(deserializer)?.map(|own| own.0))
    }
}

impl<T: Exact, U: Exact> Exact for (T, U) {
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (Ref(&self.0), Ref(&self.1)).serialize(serializer)
    }
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (a, b) = <(Own<T>, Own<U>)>::deserialize(deserializer)?;
        Ok((a.0, b.0))
    }
}

impl<T: Exact, U: Exact, V: Exact> Exact for (T, U, V) {
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (Ref(&self.0), Ref(&self.1), Ref(&self.2)).serialize(serializer)
    }
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (a, b, c) = <(Own<T>, Own<U>, Own<V>)>::deserialize(deserializer)?;
        Ok((a.0, b.0, c.0))
    }
}

impl<T: Exact> Exact for Vec<T> {
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for item in self {
            seq.serialize_element(&Ref(item))?;
        }
        seq.end()
    }
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SeqVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Exact> Visitor<'de> for SeqVisitor<T> {
            type Value = Vec<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<V: SeqAccess<'de>>(self, mut seq: V) -> Result<Vec<T>, V::Error> {
                // Not `size_hint` for the capacity: a hostile length must not allocate.
                let mut out = Vec::new();
                while let Some(Own(item)) = seq.next_element::<Own<T>>()? {
                    out.push(item);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_seq(SeqVisitor(std::marker::PhantomData))
    }
}

impl<K: Exact + Ord, V: Exact> Exact for BTreeMap<K, V> {
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter().map(|(k, v)| (Ref(k), Ref(v))))
    }
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<Own<K>, Own<V>>::deserialize(deserializer)?;
        Ok(map.into_iter().map(|(k, v)| (k.0, v.0)).collect())
    }
}

// `BTreeMap<Own<K>, _>` needs an order on the keys.
impl<T: Ord> PartialEq for Own<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl<T: Ord> Eq for Own<T> {}
impl<T: Ord> PartialOrd for Own<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T: Ord> Ord for Own<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

/// A state buffer: its shape and its elements in logical (row-major) order.
impl<A: crate::Float> Exact for ArrayD<A> {
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(bound = "A: crate::Float")]
        struct Buffer<'a, A: crate::Float> {
            shape: &'a [usize],
            data: Vec<Elem<A>>,
        }
        Buffer {
            shape: self.shape(),
            data: self.iter().map(|&x| Elem(x)).collect(),
        }
        .serialize(serializer)
    }
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, bound = "A: crate::Float")]
        struct Buffer<A: crate::Float> {
            shape: Vec<usize>,
            data: Vec<Elem<A>>,
        }
        let Buffer { shape, data } = Buffer::<A>::deserialize(deserializer)?;
        let len = data.len();
        let data: Vec<A> = data.into_iter().map(|e| e.0).collect();
        ArrayD::from_shape_vec(IxDyn(&shape), data).map_err(|_| {
            de::Error::custom(format!("{len} elements do not fill the shape {shape:?}"))
        })
    }
}

/// One element of type `A` (`f32` or `f64`), written exactly.
struct Elem<A>(A);

impl<A: crate::Float> Serialize for Elem<A> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_exact(serializer)
    }
}

impl<'de, A: crate::Float> Deserialize<'de> for Elem<A> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        A::deserialize_exact(deserializer).map(Elem)
    }
}

impl<A: crate::Float> Exact for Elem<A> {
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serialize(serializer)
    }
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::deserialize(deserializer)
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    #[test]
    fn plain_numbers_only_where_every_parser_is_exact() {
        assert!(plain_number_is_exact(&format!("{:e}", 1e-3)));
        assert!(plain_number_is_exact(&format!("{:e}", 0.999)));
        assert!(plain_number_is_exact(&format!("{:e}", 1e-8)));
        assert!(!plain_number_is_exact(&format!("{:e}", 0.1 + 0.2))); // 17 digits
        assert!(!plain_number_is_exact(&format!("{:e}", 1e-30))); // 10^30 is not exact
        assert!(!plain_number_is_exact(&format!("{:e}", 1.5e300)));
    }
}
