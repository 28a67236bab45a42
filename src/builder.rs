//! The one builder convention of the crate, written once.
//!
//! Everything a user configures (an optimizer's hyperparameters, a schedule, a wrapper) is a
//! plain struct with public fields named as PyTorch names them, a `Default` that is PyTorch's
//! default where PyTorch has one, and one chained setter per field, named exactly as the field,
//! that never fails. Arguments PyTorch requires (a schedule's `step_size`, `T_max`, …) are the
//! arguments of the type's `new`, which never fails either. Validation happens once, in the call
//! that turns the configuration into a working object (`build`, `attach`, `Scheduler::new`),
//! which returns a `Result`; a working object's own `set_*` methods validate too and change
//! nothing on `Err`. No method is called `with_*`.
//!
//! [`config!`] generates the struct, its `Default` (or, when some fields are required, a private
//! `from_required` for the type's `new` to call) and its setters from one list of fields, so
//! each field's documentation and default are written once and show on both the field and its
//! setter. Types holding closures or boxed trait objects (`LambdaLr`, `CyclicLr`,
//! `SequentialLr`, …) cannot derive `Clone + Debug + PartialEq` and write the same setters by
//! hand.

/// Defines a configuration struct: its fields (with their docs and defaults), a setter per field
/// carrying the field's doc, and either `Default` (every field has a default) or a private
/// `from_required` taking the fields without one, in order (the type's `new` calls it).
///
/// With the `serde` feature every field is written through `crate::exact` (floats bit for bit
/// in every format): a field's type must implement `exact::Exact` (floats, integers, `bool`,
/// `String`, `Option`, pairs and `Vec` of those do; an enum without floats gets
/// `crate::builder::plain!(Enum)`, which also implements [`InElement`]).
///
/// ```text
/// config! {
///     /// Doc of the struct.
///     #[derive(Copy)]                         // optional: more derives
///     pub struct XConfig {
///         /// A required field: no default, an argument of `from_required`.
///         step_size: u64,
///         /// Doc of the field (shown on the setter too).
///         #[serde(alias = "learning_rate")]   // optional, passed to the field only
///         lr: f64 = 1e-3,
///         /// A field whose setter takes `impl Into<PerGroup>` (a number or a list): the field
///         /// is a `PerGroup`; a required one is written the same without `= default`.
///         min_lr: impl Into<PerGroup> = PerGroup::All(0.0),
///     }
/// }
/// ```
///
/// With the `serde` feature the struct is `Serialize + Deserialize` with unknown fields denied;
/// a missing field takes its default, a missing required field is an error.
macro_rules! config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($fields:tt)* }
    ) => {
        $crate::builder::config!(@split [$(#[$meta])*] $name [] [] $($fields)*);
    };

    // A field with a default whose setter takes `impl Into<ty>` (before the plain forms, whose
    // `$ty:ty` would take `impl Into<…>` as a type).
    (@split $meta:tt $name:ident [$($req:tt)*] [$($opt:tt)*]
        $(#[doc = $doc:literal])*
        $(#[serde($($serde:tt)*)])*
        $field:ident : impl Into<$ty:ty> = $default:expr
        $(, $($rest:tt)*)?
    ) => {
        $crate::builder::config!(@split $meta $name [$($req)*]
            [$($opt)* { [$($doc)*] [$([$($serde)*])*] $field [$ty] [$default] [into] }]
            $($($rest)*)?);
    };

    // A required field whose setter takes `impl Into<ty>`.
    (@split $meta:tt $name:ident [$($req:tt)*] [$($opt:tt)*]
        $(#[doc = $doc:literal])*
        $field:ident : impl Into<$ty:ty>
        $(, $($rest:tt)*)?
    ) => {
        $crate::builder::config!(@split $meta $name
            [$($req)* { [$($doc)*] $field [$ty] [into] }]
            [$($opt)*]
            $($($rest)*)?);
    };

    // A field with a default.
    (@split $meta:tt $name:ident [$($req:tt)*] [$($opt:tt)*]
        $(#[doc = $doc:literal])*
        $(#[serde($($serde:tt)*)])*
        $field:ident : $ty:ty = $default:expr
        $(, $($rest:tt)*)?
    ) => {
        $crate::builder::config!(@split $meta $name [$($req)*]
            [$($opt)* { [$($doc)*] [$([$($serde)*])*] $field [$ty] [$default] [plain] }]
            $($($rest)*)?);
    };

    // A required field.
    (@split $meta:tt $name:ident [$($req:tt)*] [$($opt:tt)*]
        $(#[doc = $doc:literal])*
        $field:ident : $ty:ty
        $(, $($rest:tt)*)?
    ) => {
        $crate::builder::config!(@split $meta $name
            [$($req)* { [$($doc)*] $field [$ty] [plain] }]
            [$($opt)*]
            $($($rest)*)?);
    };

    // Every field has a default: `Default`.
    (@split [$($meta:tt)*] $name:ident []
        [$({ [$($doc:literal)*] [$([$($serde:tt)*])*] $field:ident [$ty:ty] [$default:expr] [$kind:ident] })*]
    ) => {
        $($meta)*
        #[derive(Clone, Debug, PartialEq)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
        #[non_exhaustive]
        pub struct $name {
            $(
                $(#[doc = $doc])*
                #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
                $(#[cfg_attr(feature = "serde", serde($($serde)*))])*
                pub $field: $ty,
            )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    $($field: $default,)*
                }
            }
        }

        impl $crate::builder::InElement for $name {
            fn in_element<E: $crate::Float>(&self) -> Self {
                $name {
                    $($field: $crate::builder::InElement::in_element::<E>(&self.$field),)*
                }
            }
        }

        $crate::builder::config!(@setters $name $({ [$($doc)*] $field [$ty] [$kind] })*);
    };

    // Some fields are required: `from_required`, for the type's own `new`.
    (@split [$($meta:tt)*] $name:ident
        [$({ [$($rdoc:literal)*] $rfield:ident [$rty:ty] [$rkind:ident] })+]
        [$({ [$($doc:literal)*] [$([$($serde:tt)*])*] $field:ident [$ty:ty] [$default:expr] [$kind:ident] })*]
    ) => {
        $($meta)*
        #[derive(Clone, Debug, PartialEq)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize))]
        #[non_exhaustive]
        pub struct $name {
            $(
                $(#[doc = $rdoc])*
                #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
                pub $rfield: $rty,
            )+
            $(
                $(#[doc = $doc])*
                #[cfg_attr(feature = "serde", serde(with = "crate::exact"))]
                $(#[cfg_attr(feature = "serde", serde($($serde)*))])*
                pub $field: $ty,
            )*
        }

        // Deserialised through a private twin whose defaulted fields may be missing: the
        // required fields must be there, the others take their defaults.
        #[cfg(feature = "serde")]
        const _: () = {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Given {
                $(
                    #[serde(with = "crate::exact")]
                    $rfield: $rty,
                )+
                $(
                    #[serde(default, with = "crate::exact")]
                    $(#[serde($($serde)*)])*
                    $field: Option<$ty>,
                )*
            }

            impl<'de> serde::Deserialize<'de> for $name {
                fn deserialize<D>(deserializer: D) -> Result<Self, D::Error>
                where
                    D: serde::Deserializer<'de>,
                {
                    let given = Given::deserialize(deserializer)?;
                    Ok($name {
                        $($rfield: given.$rfield,)+
                        $($field: given.$field.unwrap_or_else(|| $default),)*
                    })
                }
            }
        };

        impl $crate::builder::InElement for $name {
            fn in_element<E: $crate::Float>(&self) -> Self {
                $name {
                    $($rfield: $crate::builder::InElement::in_element::<E>(&self.$rfield),)+
                    $($field: $crate::builder::InElement::in_element::<E>(&self.$field),)*
                }
            }
        }

        impl $name {
            /// The required fields as given, every other field at its default.
            fn from_required($($rfield: $rty),+) -> Self {
                $name {
                    $($rfield,)+
                    $($field: $default,)*
                }
            }
        }

        $crate::builder::config!(@setters $name
            $({ [$($rdoc)*] $rfield [$rty] [$rkind] })+
            $({ [$($doc)*] $field [$ty] [$kind] })*);
    };

    (@setters $name:ident $({ [$($doc:literal)*] $field:ident [$ty:ty] [$kind:ident] })*) => {
        impl $name {
            $($crate::builder::config!(@setter [$($doc)*] $field [$ty] [$kind]);)*
        }
    };

    (@setter [$($doc:literal)*] $field:ident [$ty:ty] [plain]) => {
        #[doc = concat!("Sets `", stringify!($field), "`:")]
        $(#[doc = $doc])*
        #[must_use]
        pub fn $field(mut self, $field: $ty) -> Self {
            self.$field = $field;
            self
        }
    };

    (@setter [$($doc:literal)*] $field:ident [$ty:ty] [into]) => {
        #[doc = concat!("Sets `", stringify!($field), "`:")]
        $(#[doc = $doc])*
        #[must_use]
        pub fn $field(mut self, $field: impl Into<$ty>) -> Self {
            self.$field = $field.into();
            self
        }
    };
}
pub(crate) use config;

/// A configuration as a kernel of element type `E` uses it: every `f64` rounded to `E` (and
/// widened back), everything else as it is. The driver validates this form too, so that a
/// hyperparameter valid in `f64` but not in `E` (`eps = 1e-50` is 0 in `f32`) is refused
/// ([`Error::NotRepresentable`](crate::Error::NotRepresentable)). [`config!`] implements it for
/// every configuration; a field's type must implement it (an enum without floats gets
/// `crate::builder::plain!(Enum)`).
pub(crate) trait InElement: Sized {
    fn in_element<E: crate::Float>(&self) -> Self;
}

impl InElement for f64 {
    fn in_element<E: crate::Float>(&self) -> Self {
        E::from_f64(*self).widen()
    }
}

impl<T: InElement> InElement for Option<T> {
    fn in_element<E: crate::Float>(&self) -> Self {
        self.as_ref().map(T::in_element::<E>)
    }
}

impl<T: InElement, U: InElement> InElement for (T, U) {
    fn in_element<E: crate::Float>(&self) -> Self {
        (self.0.in_element::<E>(), self.1.in_element::<E>())
    }
}

impl<T: InElement, U: InElement, V: InElement> InElement for (T, U, V) {
    fn in_element<E: crate::Float>(&self) -> Self {
        (
            self.0.in_element::<E>(),
            self.1.in_element::<E>(),
            self.2.in_element::<E>(),
        )
    }
}

impl<T: InElement> InElement for Vec<T> {
    fn in_element<E: crate::Float>(&self) -> Self {
        self.iter().map(T::in_element::<E>).collect()
    }
}

/// Types without floats: [`InElement`] leaves them as they are, and with the `serde` feature
/// they are written as serde writes them (`crate::exact::plain!`).
macro_rules! plain {
    ($($t:ty),*) => {$(
        impl $crate::builder::InElement for $t {
            fn in_element<E: $crate::Float>(&self) -> Self {
                self.clone()
            }
        }
        #[cfg(feature = "serde")]
        $crate::exact::plain!($t);
    )*};
}
pub(crate) use plain;

plain!(bool, u32, u64, usize, String);
