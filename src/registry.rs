//! The registry of optimizers: one list (in `src/optim/mod.rs`) from which the module
//! declarations, [`OptimizerKind`], [`OptimizerConfig`] and every exhaustive match over them are
//! generated.
//!
//! Adding an optimizer means writing its file and adding one line to that list; an optimizer
//! type whose configuration is not listed does not compile (its saved form needs
//! [`Registered`]).

pub use crate::optim::{OptimizerConfig, OptimizerKind};

/// A configuration type listed in the registry: its kind, and the conversions to and from the
/// saved form. Implemented only by [`optimizers!`].
pub(crate) trait Registered: Sized {
    /// The registry entry.
    const KIND: OptimizerKind;
    /// This configuration as the tagged enum of the saved form.
    fn into_config(self) -> OptimizerConfig;
    /// The configuration back from the saved form, if it is of this kind.
    fn from_config(config: OptimizerConfig) -> Option<Self>;
}

#[cfg(feature = "serde")]
impl serde::Serialize for OptimizerKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for OptimizerKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        OptimizerKind::from_name(&name).ok_or_else(|| {
            let names: Vec<&str> = OptimizerKind::ALL.iter().map(|kind| kind.name()).collect();
            serde::de::Error::custom(format_args!(
                "unknown optimizer `{name}`, expected one of {}",
                names.join(", ")
            ))
        })
    }
}

/// Generates, from one line per optimizer (`module::Type(Config) "name";`), the module
/// declarations and re-exports, [`OptimizerKind`] and [`OptimizerConfig`] with their
/// conversions, and [`Registered`] for every configuration.
macro_rules! optimizers {
    ($(
        $(#[doc = $doc:literal])*
        $module:ident :: $kind:ident ( $config:ident ) $label:literal;
    )*) => {
        $(
            mod $module;
            pub use $module::{$kind, $config};
        )*

        /// Every optimizer of the crate, in the order of the README's table: what
        /// [`OptimizerConfig`] is tagged with and what tests, benches and examples iterate.
        ///
        /// # Example
        ///
        /// ```
        /// use ndarray::array;
        /// use ndarray_optim::{Optimizer, OptimizerKind};
        ///
        /// for &kind in OptimizerKind::ALL {
        ///     // Each with its reference's default hyperparameters, on a 1 × 1 matrix (Muon
        ///     // takes matrices only).
        ///     let mut opt = kind.default_config().build::<f64>()?;
        ///     assert_eq!(opt.name(), kind.name());
        ///     opt.step(&mut array![[1.0]], &array![[0.5]])?;
        /// }
        /// # Ok::<(), ndarray_optim::Error>(())
        /// ```
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum OptimizerKind {
            $(
                $(#[doc = $doc])*
                $kind,
            )*
        }

        impl OptimizerKind {
            /// Every kind, in the registry's order.
            pub const ALL: &'static [OptimizerKind] = &[$(OptimizerKind::$kind,)*];

            /// The name [`Optimizer::name`](crate::Optimizer::name) returns: PyTorch's class
            /// name where PyTorch has the optimizer (`"SGD"`, `"RMSprop"`, `"AdamW"`), else the
            /// reference's.
            pub fn name(self) -> &'static str {
                match self {
                    $(OptimizerKind::$kind => $label,)*
                }
            }

            /// This kind's configuration with every default (PyTorch's, or the reference's).
            pub fn default_config(self) -> OptimizerConfig {
                match self {
                    $(OptimizerKind::$kind => OptimizerConfig::$kind($config::default()),)*
                }
            }

            /// The kind whose [`name`](Self::name) is `name` in any ASCII case (no two names
            /// differ in case only), if there is one.
            ///
            /// With the `serde` feature a kind is written as its name and read this way, so a
            /// configuration file can say `"optimizer": "adamw"`.
            ///
            /// # Example
            ///
            /// ```
            /// use ndarray_optim::OptimizerKind;
            ///
            /// assert_eq!(OptimizerKind::from_name("AdamW"), Some(OptimizerKind::AdamW));
            /// assert_eq!(OptimizerKind::from_name("rmsprop"), Some(OptimizerKind::RmsProp));
            /// assert_eq!(OptimizerKind::from_name("Shampoo"), None);
            /// ```
            pub fn from_name(name: &str) -> Option<OptimizerKind> {
                OptimizerKind::ALL
                    .iter()
                    .copied()
                    .find(|kind| kind.name().eq_ignore_ascii_case(name))
            }
        }

        impl std::fmt::Display for OptimizerKind {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        /// The hyperparameters of any optimizer, tagged with its kind: what an
        /// [`OptimizerState`](crate::OptimizerState) carries, and a way to choose an optimizer
        /// from a configuration file.
        ///
        /// With the `serde` feature it is written as `{"<name>": {…}}` with the
        /// [`OptimizerKind::name`] as the tag and PyTorch's keyword names inside, every field
        /// optional (missing ones take their defaults) and unknown fields refused.
        ///
        /// # Example
        ///
        /// ```
        /// use ndarray::array;
        /// use ndarray_optim::{AdamWConfig, Optimizer, OptimizerConfig, OptimizerKind};
        ///
        /// let config: OptimizerConfig = AdamWConfig::default().lr(3e-4).into();
        /// assert_eq!(config.kind(), OptimizerKind::AdamW);
        /// assert_eq!(config.learning_rate(), 3e-4);
        /// let mut opt = config.build::<f32>()?; // a Box<dyn Optimizer<f32>>
        /// opt.step(&mut array![1.0_f32], &array![1.0])?;
        /// assert_eq!(opt.name(), "AdamW");
        /// # Ok::<(), ndarray_optim::Error>(())
        /// ```
        #[derive(Clone, Debug, PartialEq)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[non_exhaustive]
        pub enum OptimizerConfig {
            $(
                #[doc = concat!("[`", stringify!($kind), "`]'s hyperparameters.")]
                #[cfg_attr(feature = "serde", serde(rename = $label))]
                $kind($config),
            )*
        }

        impl OptimizerConfig {
            /// Which optimizer these hyperparameters are for.
            pub fn kind(&self) -> OptimizerKind {
                match self {
                    $(OptimizerConfig::$kind(_) => OptimizerKind::$kind,)*
                }
            }

            /// Builds the optimizer, boxed.
            ///
            /// # Errors
            ///
            /// [`Error::InvalidHyperparameter`](crate::Error::InvalidHyperparameter) naming the
            /// first value outside its valid range.
            pub fn build<A: $crate::Float>(
                self,
            ) -> Result<Box<dyn $crate::Optimizer<A>>, $crate::Error> {
                match self {
                    $(OptimizerConfig::$kind(config) => Ok(Box::new(config.build::<A>()?)),)*
                }
            }

            /// The learning rate.
            pub fn learning_rate(&self) -> f64 {
                match self {
                    $(OptimizerConfig::$kind(config) =>
                        $crate::driver::Hyperparameters::learning_rate(config),)*
                }
            }

            /// Sets the learning rate (checked when the configuration is built).
            pub fn set_learning_rate(&mut self, lr: f64) {
                match self {
                    $(OptimizerConfig::$kind(config) =>
                        $crate::driver::Hyperparameters::set_learning_rate(config, lr),)*
                }
            }

            /// The weight decay; `None` for an optimizer without one.
            pub fn weight_decay(&self) -> Option<f64> {
                match self {
                    $(OptimizerConfig::$kind(config) =>
                        $crate::driver::Hyperparameters::weight_decay(config),)*
                }
            }

            /// Sets the weight decay (checked when the configuration is built); nothing for an
            /// optimizer without one.
            pub fn set_weight_decay(&mut self, weight_decay: f64) {
                match self {
                    $(OptimizerConfig::$kind(config) => {
                        if $crate::driver::Hyperparameters::weight_decay(config).is_some() {
                            $crate::driver::Hyperparameters::set_weight_decay(config, weight_decay)
                        }
                    })*
                }
            }
        }

        // Every registered optimizer and configuration can be stored anywhere, moved to other
        // threads and logged: checked here, at compile time, for each new entry.
        const _: () = {
            fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug + 'static>() {}
            #[allow(dead_code)]
            fn every_entry<A: $crate::Float>() {
                $(
                    assert_traits::<$kind<A>>();
                    assert_traits::<$config>();
                )*
            }
        };

        $(
            impl From<$config> for OptimizerConfig {
                fn from(config: $config) -> Self {
                    OptimizerConfig::$kind(config)
                }
            }

            impl $crate::registry::Registered for $config {
                const KIND: OptimizerKind = OptimizerKind::$kind;
                fn into_config(self) -> OptimizerConfig {
                    OptimizerConfig::$kind(self)
                }
                fn from_config(config: OptimizerConfig) -> Option<Self> {
                    #[allow(unreachable_patterns)]
                    match config {
                        OptimizerConfig::$kind(config) => Some(config),
                        _ => None,
                    }
                }
            }
        )*
    };
}
pub(crate) use optimizers;
