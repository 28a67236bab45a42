//! The registry: every kind is named once, builds from its default configuration, round-trips
//! through the saved form, and has an entry in the test registry.

use std::collections::BTreeSet;

use ndarray_optim::{Optimizer, OptimizerKind};

use crate::common;

#[test]
fn every_kind_has_a_test_spec_and_strategies() {
    let specs = common::specs(); // panics naming a kind without an entry
    assert_eq!(specs.len(), OptimizerKind::ALL.len());
    for spec in &specs {
        assert!(!spec.variants.is_empty(), "{}", spec.kind);
        for config in &spec.variants {
            assert_eq!(
                config.kind(),
                spec.kind,
                "a variant of {} is another kind",
                spec.kind
            );
        }
    }
    let _ = common::registry::strategies::any_config(); // panics naming a kind without one
}

#[test]
fn names_are_unique_and_find_their_kind() {
    let names: BTreeSet<_> = OptimizerKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(names.len(), OptimizerKind::ALL.len());
    // No two differ in case only: a name is found in any case.
    let lower: BTreeSet<_> = names.iter().map(|name| name.to_ascii_lowercase()).collect();
    assert_eq!(lower.len(), names.len());
    for &kind in OptimizerKind::ALL {
        assert_eq!(OptimizerKind::from_name(kind.name()), Some(kind));
        assert_eq!(
            OptimizerKind::from_name(&kind.name().to_ascii_lowercase()),
            Some(kind)
        );
        assert_eq!(
            OptimizerKind::from_name(&kind.name().to_ascii_uppercase()),
            Some(kind)
        );
        assert_eq!(kind.to_string(), kind.name());
        let opt = kind.default_config().build::<f32>().unwrap();
        assert_eq!(opt.name(), kind.name());
        assert_eq!(opt.save_state().config, kind.default_config());
    }
}

/// A kind in a configuration file: its name, read in any case; an unknown one is an error that
/// lists the names.
#[cfg(feature = "serde")]
#[test]
fn kinds_are_their_names_in_serde() {
    #[derive(serde::Deserialize)]
    struct Settings {
        optimizer: OptimizerKind,
    }
    for &kind in OptimizerKind::ALL {
        let written = serde_json::to_string(&kind).unwrap();
        assert_eq!(written, format!("\"{}\"", kind.name()));
        assert_eq!(
            serde_json::from_str::<OptimizerKind>(&written).unwrap(),
            kind
        );
    }
    let settings: Settings = serde_json::from_str(r#"{"optimizer": "adamw"}"#).unwrap();
    assert_eq!(settings.optimizer, OptimizerKind::AdamW);
    let err = serde_json::from_str::<Settings>(r#"{"optimizer": "Shampoo"}"#)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("unknown optimizer `Shampoo`, expected one of SGD,"),
        "{err}"
    );
}

/// The saved form of a configuration is `{"<name>": {…}}` with PyTorch's keyword names, every
/// field optional and unknown fields refused: what the fixture mapper and configuration files
/// rely on.
#[cfg(feature = "serde")]
#[test]
fn configurations_round_trip_through_json_by_name() {
    use ndarray_optim::OptimizerConfig;
    for spec in common::specs() {
        for config in spec.variants {
            let json = serde_json::to_value(&config).unwrap();
            let object = json.as_object().unwrap();
            assert_eq!(object.keys().collect::<Vec<_>>(), [spec.kind.name()]);
            let back: OptimizerConfig = serde_json::from_value(json).unwrap();
            assert_eq!(back, config);
        }
        let empty = serde_json::json!({ spec.kind.name(): {} });
        let default: OptimizerConfig = serde_json::from_value(empty).unwrap();
        assert_eq!(default, spec.kind.default_config());
        let unknown = serde_json::json!({ spec.kind.name(): { "no_such_option": 1.0 } });
        assert!(serde_json::from_value::<OptimizerConfig>(unknown).is_err());
    }
}
