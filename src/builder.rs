//! The one builder convention of the crate, written once.
//!
//! Everything a user configures (an optimizer's hyperparameters, a schedule, a wrapper) is a
//! plain struct with public fields named as PyTorch names them, a `Default` that is PyTorch's
//! default, and one chained setter per field, named exactly as the field, that never fails.
//! Validation happens once, in the call that turns the configuration into a working object
//! (`build`, `attach`, `new`), which returns a `Result`; a working object's own `set_*` methods
//! validate too. [`config!`] generates the struct, its `Default` and its setters from one list
//! of fields, so each field's documentation is written once and shows on both.

/// Defines a configuration struct: its fields (with their docs and defaults), `Default`, and a
/// setter per field carrying the field's doc. With the `serde` feature every field is written
/// through `crate::exact` (floats bit for bit in every format): a field's type must implement
/// `exact::Exact` (floats, integers, `bool`, `Option`, pairs, `Vec` do; an enum without floats
/// gets `crate::exact::plain!(Enum)`).
///
/// ```text
/// config! {
///     /// Doc of the struct.
///     pub struct XConfig {
///         /// Doc of the field (shown on the setter too).
///         #[serde(alias = "learning_rate")]   // optional, passed to the field only
///         lr: f64 = 1e-3,
///     }
/// }
/// ```
macro_rules! config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $(#[serde($($serde:tt)*)])*
                $field:ident : $ty:ty = $default:expr
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
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

        impl $name {
            $(
                #[doc = concat!("Sets `", stringify!($field), "`:")]
                $(#[doc = $doc])*
                #[must_use]
                pub fn $field(mut self, $field: $ty) -> Self {
                    self.$field = $field;
                    self
                }
            )*
        }
    };
}
pub(crate) use config;
