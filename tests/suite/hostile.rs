//! What a hostile (or unlucky) user can hand the crate: saved states with counters at their
//! limits, values JSON cannot hold, states of another precision, tensor lists that contradict
//! themselves. Each must be a typed error that changes nothing, or a valid continuation.

use ndarray::{Array1, Array2, ArrayD, IxDyn, array};
use ndarray_optim::*;

/// serde_json's float parser without its `float_roundtrip` feature (the default): the digits
/// as an integer, then one multiplication or division by a power of ten from a table (repeated
/// beyond 10³⁰⁸), which is not correctly rounded in general.
#[cfg(feature = "serde")]
fn parse_like_default_serde_json(text: &str) -> f64 {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap()),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    let significand: u64 = digits.parse().unwrap();
    let mut exponent = exponent - frac.len() as i32;
    let mut f = significand as f64;
    loop {
        if exponent.unsigned_abs() <= 308 {
            let pow = 10f64.powi(exponent.abs());
            if exponent >= 0 {
                f *= pow;
            } else {
                f /= pow;
            }
            break;
        }
        if f == 0.0 {
            break;
        }
        f /= 1e308;
        exponent += 308;
    }
    if negative { -f } else { f }
}

/// Every number in a JSON value, as its text.
#[cfg(feature = "serde")]
fn numbers(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Number(n) => out.push(n.to_string()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| numbers(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| numbers(v, out)),
        _ => {}
    }
}

/// A saved state holding values JSON cannot write as numbers (∞, NaN), values whose shortest
/// decimal has 17 digits, and values whose exponents need more than one power of ten, round
/// trips through JSON bit for bit; and every number the JSON holds is one that serde_json's
/// default (inexact) parser reads exactly, so it does not depend on `float_roundtrip`.
#[cfg(feature = "serde")]
#[test]
fn json_checkpoints_round_trip_bit_for_bit_without_float_roundtrip() {
    fn check<A: Float + serde::Serialize + serde::de::DeserializeOwned>(hard: &[f64]) {
        let mut opt = AdamConfig::default()
            .lr(0.1 + 0.2) // 0.30000000000000004: 17 digits
            .amsgrad(true)
            .build::<A>()
            .unwrap();
        let mut w = ArrayD::<A>::zeros(IxDyn(&[hard.len()]));
        let g = ArrayD::from_shape_fn(IxDyn(&[hard.len()]), |i| A::from_f64(i[0] as f64 - 2.5));
        opt.step(&mut w, &g).unwrap();
        let mut saved = opt.save_state();
        let v = saved.tensors[0].buffers.get_mut("exp_avg_sq").unwrap();
        for (x, &h) in v.iter_mut().zip(hard) {
            *x = A::from_f64(h);
        }
        let json = serde_json::to_string(&saved).unwrap();
        let back: OptimizerState<A> = serde_json::from_str(&json).unwrap();
        let bits = |s: &OptimizerState<A>| -> Vec<u64> {
            s.tensors[0]
                .buffers
                .values()
                .flat_map(|b| b.iter().map(|x| x.widen().to_bits()))
                .collect()
        };
        assert_eq!(bits(&back), bits(&saved), "{}: buffers", A::NAME);
        assert_eq!(back.config, saved.config, "{}: configuration", A::NAME);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let mut all = Vec::new();
        numbers(&value, &mut all);
        for text in all {
            if text.contains(['.', 'e', 'E']) {
                let exact: f64 = text.parse().unwrap();
                let naive = parse_like_default_serde_json(&text);
                assert_eq!(
                    naive.to_bits(),
                    exact.to_bits(),
                    "{text} is not read exactly"
                );
            }
        }
    }
    // The emulation reproduces the failure it guards against: plain numbers would not do.
    for text in ["1e-30", "0.0009699999999999999"] {
        let exact: f64 = text.parse().unwrap();
        assert_ne!(
            parse_like_default_serde_json(text).to_bits(),
            exact.to_bits()
        );
    }
    let hard = [
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        0.1 + 0.2,
        1e-300,
        5e-324,
        -0.0,
        1.7976931348623157e308,
        3.0,
    ];
    check::<f64>(&hard);
    check::<f32>(&hard);
}

/// A state saved from `f64` parameters and read from a file into an `f32` optimizer would be
/// rounded without notice: the saved form records its element type and loading checks it.
#[cfg(feature = "serde")]
#[test]
fn a_state_of_another_precision_is_refused() {
    let mut opt = Adam::<f64>::new(0.1).unwrap();
    opt.step(&mut array![1.0, 2.0], &array![0.5, 0.5]).unwrap();
    let json = serde_json::to_string(&opt.save_state()).unwrap();
    let as_f32: OptimizerState<f32> = serde_json::from_str(&json).unwrap();
    assert_eq!(as_f32.element_type, "f64");
    let mut single = Adam::<f32>::new(0.1).unwrap();
    assert!(matches!(
        single.load_state(as_f32),
        Err(Error::InvalidState { tensor: None, .. })
    ));
    assert_eq!(single.step_count(), 0);
}

/// The step counter cannot wrap: a state at the last count is refused on load, and an optimizer
/// that reached it refuses to step, changing nothing.
#[test]
fn counters_never_overflow() {
    for kind in OptimizerKind::ALL {
        let mut opt = kind.default_config().build::<f64>().unwrap();
        let mut w = array![[1.0, 2.0]]; // a 1 × 2 matrix: every kind takes it (Muon: only that)
        opt.step(&mut w, &array![[0.5, -0.5]]).unwrap();
        let mut state = opt.save_state();
        state.step = u64::MAX;
        assert!(
            matches!(
                opt.load_state(state.clone()),
                Err(Error::InvalidState { .. })
            ),
            "{kind}"
        );
        state.step = u64::MAX - 1;
        opt.load_state(state).unwrap();
        opt.step(&mut w, &array![[0.5, -0.5]]).unwrap(); // the last step there is
        let before = w.clone();
        assert!(matches!(
            opt.step(&mut w, &array![[0.5, -0.5]]),
            Err(Error::CounterOverflow { counter: "step" })
        ));
        assert_eq!(w, before, "{kind}");
        assert_eq!(opt.step_count(), u64::MAX);
    }
}

/// A hand-written tensor list whose writable tensor has another shape than its readable one, or
/// whose memory slice is shorter than its shape: typed errors before anything changes, never a
/// panic inside the element loop.
#[test]
fn lists_that_contradict_themselves_are_errors() {
    // Matrices (1 × n), which every kind takes, Muon included.
    struct TwoFaced {
        read: Array2<f64>,
        write: Array2<f64>,
    }
    impl TensorList<f64> for TwoFaced {
        fn len(&self) -> usize {
            1
        }
        fn tensor(&self, index: usize) -> Option<&dyn Tensor<f64>> {
            (index == 0).then_some(&self.read as &dyn Tensor<f64>)
        }
    }
    impl TensorListMut<f64> for TwoFaced {
        fn tensor_mut(&mut self, index: usize) -> Option<&mut dyn TensorMut<f64>> {
            (index == 0).then_some(&mut self.write as &mut dyn TensorMut<f64>)
        }
    }
    for kind in OptimizerKind::ALL {
        let mut opt = kind.default_config().build::<f64>().unwrap();
        let mut liar = TwoFaced {
            read: Array2::zeros((1, 3)),
            write: Array2::ones((1, 5)),
        };
        let err = opt
            .step(&mut liar, &Array2::<f64>::ones((1, 3)))
            .unwrap_err();
        assert!(
            matches!(err, Error::InconsistentTensor { index: 0, .. }),
            "{kind}: {err:?}"
        );
        assert_eq!(liar.write, Array2::<f64>::ones((1, 5)));
        assert_eq!(opt.step_count(), 0);
    }

    /// A tensor whose memory slice is shorter than its shape.
    struct Short(Vec<f64>);
    impl Tensor<f64> for Short {
        fn shape(&self) -> &[usize] {
            &[4]
        }
        fn strides(&self) -> &[isize] {
            &[1]
        }
        fn as_slice_memory_order(&self) -> Option<&[f64]> {
            Some(&self.0)
        }
        fn view_dyn(&self) -> ndarray::ArrayViewD<'_, f64> {
            ndarray::ArrayViewD::from_shape(IxDyn(&[self.0.len()]), &self.0).unwrap()
        }
    }
    let short = [Short(vec![1.0, 2.0])]; // a list of one
    let mut w = [Array1::<f64>::zeros(4)];
    for kind in OptimizerKind::ALL {
        let mut opt = kind.default_config().build::<f64>().unwrap();
        let err = opt.step(&mut w, &short).unwrap_err();
        assert!(
            matches!(err, Error::InconsistentTensor { index: 0, .. }),
            "{kind}: {err:?}"
        );
    }
    assert_eq!(w[0], Array1::<f64>::zeros(4));
}

/// `max_norm = ∞` means no clipping, also when a gradient is infinite: the finite gradients
/// stay as they are (PyTorch's `∞ / ∞` would make them NaN).
#[test]
fn clipping_to_an_infinite_norm_changes_nothing() {
    let mut g = (array![1.0_f64, f64::INFINITY], array![-2.0_f64]);
    let norm = clip_grad_norm(&mut (&mut g.0, &mut g.1), f64::INFINITY, 2.0, false).unwrap();
    assert_eq!(norm, f64::INFINITY);
    assert_eq!(g.0[0], 1.0);
    assert_eq!(g.1[0], -2.0);
    clip_grad_norm_per_tensor(&mut (&mut g.0, &mut g.1), f64::INFINITY, 2.0, false).unwrap();
    assert_eq!((g.0[0], g.1[0]), (1.0, -2.0));
    clip_grads_with_norm(&mut (&mut g.0, &mut g.1), f64::INFINITY, f64::INFINITY).unwrap();
    assert_eq!((g.0[0], g.1[0]), (1.0, -2.0));
}

/// Many milestones are evaluated in a loop, not a recursion (no stack overflow in the pure
/// form), and compositions nested absurdly deep are refused.
#[test]
fn deep_compositions_neither_overflow_nor_panic() {
    use ndarray_optim::schedule::{ChainedScheduler, MultiplicativeLr, Schedule, SequentialLr};
    let n = 20_000;
    let schedules: Vec<Box<dyn Schedule>> = (0..n)
        .map(|_| Box::new(MultiplicativeLr::new(|_| 0.999_f64)) as Box<dyn Schedule>)
        .collect();
    let milestones: Vec<u64> = (1..n as u64).map(|k| 2 * k).collect();
    let deep = SequentialLr::new(schedules, milestones);
    let lr = deep.lr(1.0, 2 * n as u64 - 1).unwrap();
    assert!(lr.is_finite() && lr > 0.0 && lr < 1.0, "{lr}");

    let mut nested: Box<dyn Schedule> = Box::new(MultiplicativeLr::new(|_| 0.5));
    for _ in 0..200 {
        nested = Box::new(ChainedScheduler::new(vec![nested]));
    }
    assert!(matches!(
        nested.lr(1.0, 3),
        Err(Error::InvalidHyperparameter {
            name: "schedules",
            ..
        })
    ));
}

/// A scheduler state records its schedule: restoring it into another schedule is refused, and
/// a plateau state whose best metric is infinite survives JSON.
#[test]
fn scheduler_states_know_their_schedule() {
    use ndarray_optim::schedule::{CosineAnnealingLr, ReduceLrOnPlateauConfig, Schedule, StepLr};
    let mut opt = Sgd::<f64>::new(0.1).unwrap();
    let step = StepLr::new(3).attach(&mut opt).unwrap();
    let mut cosine = CosineAnnealingLr::new(10).attach(&mut opt).unwrap();
    let before = cosine.state();
    assert!(matches!(
        cosine.restore(step.state(), &mut opt),
        Err(Error::WrongSchedule {
            expected: "CosineAnnealingLR",
            ..
        })
    ));
    assert_eq!(cosine.state(), before);
    #[cfg(feature = "serde")]
    {
        let mut plateau = ReduceLrOnPlateauConfig::default().build().unwrap();
        plateau.step(&mut opt, f64::NEG_INFINITY).unwrap(); // better than any metric
        let state = plateau.state();
        assert_eq!(state.best, Some(f64::NEG_INFINITY));
        let json = serde_json::to_string(&state).unwrap();
        let back: ndarray_optim::schedule::PlateauState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, state);
    }
}

/// `MultiSteps`: counters saturate, a mid-window state cannot smuggle buffers past the inner
/// optimizer's tensors, and groups must fit the window being accumulated.
#[test]
fn accumulation_windows_are_checked() {
    let (mut w, mut b) = (array![1.0_f64, 2.0], array![0.5_f64]);
    let (gw, gb) = (array![0.1_f64, -0.2], array![0.3_f64]);
    let mut acc = MultiSteps::new(Adam::<f64>::new(0.1).unwrap(), 3).unwrap();
    acc.step(&mut (&mut w, &mut b), &(&gw, &gb)).unwrap(); // mid-window, no inner state yet

    // Groups for another number of tensors than the window holds.
    let one = ParamGroups::new(vec![ParamGroup::default()], vec![0]).unwrap();
    assert!(matches!(
        acc.set_param_groups(Some(one)),
        Err(Error::GroupLengthMismatch {
            assigned: 1,
            found: 2
        })
    ));

    let mut saved = acc.save_state();
    assert_eq!(saved.tensors.len(), 2); // the window only: the inner optimizer has no state
    saved.tensors[1]
        .buffers
        .insert("exp_avg".to_string(), ArrayD::zeros(IxDyn(&[1])));
    let mut fresh = MultiSteps::new(Adam::<f64>::new(0.1).unwrap(), 3).unwrap();
    assert!(matches!(
        fresh.load_state(saved),
        Err(Error::InvalidState {
            tensor: Some(1),
            ..
        })
    ));

    let mut counted = acc.save_state();
    counted
        .extra
        .insert("multi_steps.skipped".to_string(), u64::MAX);
    fresh.load_state(counted).unwrap();
    fresh.set_non_finite_policy(NonFinitePolicy::SkipStep);
    fresh
        .step(&mut (&mut w, &mut b), &(&array![f64::NAN, 0.0], &gb))
        .unwrap();
    assert_eq!(fresh.skipped_steps(), u64::MAX);
}

/// A saved shape with an axis of zero length beside huge ones is refused, not a multiplication
/// that overflows.
#[test]
fn absurd_empty_shapes_are_refused() {
    for kind in OptimizerKind::ALL {
        let mut opt = kind.default_config().build::<f32>().unwrap();
        let mut w = ArrayD::<f32>::zeros(IxDyn(&[0, 3]));
        opt.step(&mut w, &ArrayD::zeros(IxDyn(&[0, 3]))).unwrap();
        let mut state = opt.save_state();
        state.tensors[0].shape = vec![0, usize::MAX, 2];
        for buffer in state.tensors[0].buffers.values_mut() {
            *buffer = ArrayD::zeros(IxDyn(&[0, 3]));
        }
        assert!(
            matches!(opt.load_state(state), Err(Error::InvalidState { .. })),
            "{kind}"
        );
    }
}

/// A list whose writable tensor is another tensor of the same shape than its readable one, or
/// (with `rayon`) whose `tensors_mut` lends the tensors in another order: typed errors before
/// anything changes, not gradients applied to the wrong tensors.
#[test]
fn lists_that_lend_the_wrong_tensor_are_errors() {
    struct Swapped {
        a: Array1<f64>,
        b: Array1<f64>,
    }
    impl TensorList<f64> for Swapped {
        fn len(&self) -> usize {
            2
        }
        fn tensor(&self, index: usize) -> Option<&dyn Tensor<f64>> {
            [&self.a as &dyn Tensor<f64>, &self.b].get(index).copied()
        }
    }
    impl TensorListMut<f64> for Swapped {
        fn tensor_mut(&mut self, index: usize) -> Option<&mut dyn TensorMut<f64>> {
            match index {
                0 => Some(&mut self.b), // the wrong one
                1 => Some(&mut self.a),
                _ => None,
            }
        }
    }
    let mut liar = Swapped {
        a: Array1::zeros(3),
        b: Array1::ones(3),
    };
    let mut opt = Sgd::<f64>::new(0.1).unwrap();
    let g = vec![Array1::<f64>::ones(3), Array1::zeros(3)];
    assert!(matches!(
        opt.step(&mut liar, &g),
        Err(Error::InconsistentTensor { index: 0, .. })
    ));
    assert_eq!((liar.a.sum(), liar.b.sum()), (0.0, 3.0));

    #[cfg(feature = "rayon")]
    {
        /// `tensor_mut` is right, `tensors_mut` lends them reversed.
        struct Reversed(Vec<Array1<f64>>);
        impl TensorList<f64> for Reversed {
            fn len(&self) -> usize {
                self.0.len()
            }
            fn tensor(&self, index: usize) -> Option<&dyn Tensor<f64>> {
                self.0.get(index).map(|t| t as &dyn Tensor<f64>)
            }
        }
        impl TensorListMut<f64> for Reversed {
            fn tensor_mut(&mut self, index: usize) -> Option<&mut dyn TensorMut<f64>> {
                self.0.get_mut(index).map(|t| t as &mut dyn TensorMut<f64>)
            }
            fn tensors_mut<'a>(&'a mut self, out: &mut Vec<&'a mut dyn TensorMut<f64>>) -> bool {
                out.extend(
                    self.0
                        .iter_mut()
                        .rev()
                        .map(|t| t as &mut dyn TensorMut<f64>),
                );
                true
            }
        }
        let n = PARALLEL_MIN_LEN;
        let mut liar = Reversed(vec![Array1::zeros(n), Array1::ones(n)]);
        let g = vec![Array1::<f64>::ones(n), Array1::zeros(n)];
        let mut opt = Sgd::<f64>::new(0.1).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let result = pool.install(|| opt.step(&mut liar, &g));
        assert!(
            matches!(result, Err(Error::InconsistentTensor { index: 0, .. })),
            "{result:?}"
        );
        assert_eq!((liar.0[0].sum(), liar.0[1].sum()), (0.0, n as f64));
        assert_eq!(opt.step_count(), 0);
    }
}

/// A registered optimizer's default configuration with `field` set to `value` (through its JSON
/// form), or `None` if the configuration has no such field holding one number.
fn with_field(
    kind: OptimizerKind,
    field: &str,
    value: serde_json::Value,
) -> Option<OptimizerConfig> {
    let mut json = serde_json::to_value(kind.default_config()).unwrap();
    let fields = json.as_object_mut()?.values_mut().next()?.as_object_mut()?;
    let slot = fields.get_mut(field)?;
    if slot.is_array() || slot.is_null() {
        return None; // not one number (Adafactor's `eps` pair)
    }
    *slot = value;
    Some(serde_json::from_value(json).unwrap())
}

fn not_representable(result: Result<Box<dyn Optimizer<f32>>, Error>) -> Option<&'static str> {
    match result {
        Err(Error::NotRepresentable { name, element, .. }) => {
            assert_eq!(element, "f32");
            Some(name)
        }
        Err(other) => panic!("expected NotRepresentable, got {other}"),
        Ok(_) => None,
    }
}

#[test]
fn hyperparameters_are_validated_in_the_element_type() {
    let mut with_eps = 0;
    for &kind in OptimizerKind::ALL {
        // `eps = 1e-50` is positive in f64 and 0 in f32, where a zero gradient would give 0/0.
        // (LARS's `eps` may be 0: it only enters the trust ratio, which is computed in `f64`
        // and is 1 where a norm is 0.)
        if kind == OptimizerKind::Lars {
            let config = with_field(kind, "eps", serde_json::json!(1e-50)).unwrap();
            assert!(config.clone().build::<f32>().is_ok(), "{kind:?}");
            assert!(LarsConfig::default().eps(0.0).build::<f32>().is_ok());
        } else if let Some(config) = with_field(kind, "eps", serde_json::json!(1e-50)) {
            with_eps += 1;
            assert_eq!(
                not_representable(config.clone().build::<f32>()),
                Some("eps"),
                "{kind:?}"
            );
            assert!(config.build::<f64>().is_ok(), "{kind:?}");
        }
        // A learning rate beyond f32's range is ∞ there.
        let config = with_field(kind, "lr", serde_json::json!(1e39)).unwrap();
        assert_eq!(
            not_representable(config.clone().build::<f32>()),
            Some("lr"),
            "{kind:?}"
        );
        assert!(config.build::<f64>().is_ok(), "{kind:?}");
        // So is a weight decay.
        if let Some(config) = with_field(kind, "weight_decay", serde_json::json!(1e39)) {
            let name = not_representable(config.clone().build::<f32>());
            assert_eq!(name, Some("weight_decay"), "{kind:?}");
            assert!(config.build::<f64>().is_ok(), "{kind:?}");
        }
    }
    assert!(with_eps >= 8, "the optimizers with an `eps`: {with_eps}");

    // β₂ = 1 − 1e-10 rounds to 1 in f32: the bias correction 1 − β₂ᵗ would be 0.
    let config = AdamConfig::default().betas((0.9, 1.0 - 1e-10));
    let err = config.clone().build::<f32>().unwrap_err();
    assert!(
        matches!(err, Error::NotRepresentable { name: "betas[1]", rounded, .. } if rounded == 1.0),
        "{err}"
    );
    assert!(config.build::<f64>().is_ok());

    // The first step size lr/(1 − β₁) overflows f32 although lr does not.
    for kind in ["Adam", "AdamW", "NAdam", "RAdam", "Adamax", "SparseAdam"] {
        let kind = OptimizerKind::from_name(kind).unwrap();
        let mut json = serde_json::to_value(kind.default_config()).unwrap();
        let fields = json.as_object_mut().unwrap().values_mut().next().unwrap();
        fields["lr"] = serde_json::json!(1e36);
        fields["betas"] = serde_json::json!([0.9999, 0.999]);
        let config: OptimizerConfig = serde_json::from_value(json).unwrap();
        assert_eq!(
            not_representable(config.clone().build::<f32>()),
            Some("lr"),
            "{kind:?}"
        );
        assert!(config.build::<f64>().is_ok(), "{kind:?}");
    }

    // The other doors: a setter and a group's learning rate change nothing when refused.
    let mut adam: Adam<f32> = AdamConfig::default().build().unwrap();
    assert!(matches!(
        adam.set_learning_rate(1e39),
        Err(Error::NotRepresentable { name: "lr", .. })
    ));
    assert_eq!(adam.learning_rate(), 1e-3);
    let groups = ParamGroups::new(
        vec![ParamGroup::default(), ParamGroup::default().lr(1e39)],
        vec![0, 1],
    )
    .unwrap();
    assert!(matches!(
        adam.set_param_groups(Some(groups.clone())),
        Err(Error::NotRepresentable { name: "lr", .. })
    ));
    assert_eq!(adam.group_count(), 1);
    let mut adam64: Adam<f64> = AdamConfig::default().build().unwrap();
    adam64.set_param_groups(Some(groups)).unwrap();
    // A group's lr_scale times the learning rate, valid in f64, beyond f32.
    let scaled = ParamGroups::new(vec![ParamGroup::default().lr_scale(1e37)], vec![0]).unwrap();
    let mut sgd: Sgd<f32> = SgdConfig::default().lr(100.0).build().unwrap();
    assert!(matches!(
        sgd.set_param_groups(Some(scaled)),
        Err(Error::NotRepresentable { name: "lr", .. })
    ));
}

/// Finite parameters and gradients at the edges of the type's range never give NaN: each case
/// is one where PyTorch's arithmetic does (or, for coupled decay, where it makes `∞` that a
/// later step turns into NaN).
#[test]
fn finite_input_at_the_edges_of_the_range_gives_no_nan() {
    let max = f32::MAX;
    let finite = |p: &Array1<f32>| p.iter().all(|x| x.is_finite());

    // Both sides of Adam's quotient overflow: (γ/bc₁)·m = 2·MAX and √v = ∞.
    let mut adam: Adam<f32> = AdamConfig::default()
        .lr(2.0)
        .betas((0.0, 0.999))
        .build()
        .unwrap();
    let mut p = array![1.0_f32, 1.0];
    adam.step(&mut p, &array![max, 1.0]).unwrap();
    assert_eq!(p[0], 1.0, "a 0 quotient for ∞/∞");
    assert!(p[1].is_finite() && p[1] < 1.0);

    // An average of opposite gradients near the maximum: `g − m` overflows to ±∞ (as in
    // PyTorch), and where the squared gradient has overflowed too the quotient is 0, not NaN.
    for kind in ["Adam", "AdamW", "NAdam", "Lamb", "RMSprop"] {
        let config = OptimizerKind::from_name(kind).unwrap().default_config();
        let mut opt = config.build::<f32>().unwrap();
        let mut p = array![1.0_f32, -1.0];
        for g in [max, -max, max, 1.0] {
            opt.step(&mut p, &array![g, -g]).unwrap();
            assert!(p.iter().all(|x| !x.is_nan()), "{kind}: {p}");
        }
    }
    let mut radam: RAdam<f32> = RAdamConfig::default()
        .lr(0.0)
        .betas((0.85, 0.87))
        .build()
        .unwrap();
    let mut p = array![40.0_f32];
    for _ in 0..2 {
        radam.step(&mut p, &array![-max]).unwrap();
    }
    assert_eq!(
        p[0], 40.0,
        "a zero learning rate moves nothing, even past an overflowed m̂"
    );

    // LAMB's trust ratio: ‖p‖ beyond f64's range, and a ratio beyond f32's.
    let mut lamb: Lamb<f64> = LambConfig::default().always_adapt(true).build().unwrap();
    let mut p = array![1e300_f64, -1e300, 0.0];
    lamb.step(&mut p, &array![1.0, -1.0, 0.0]).unwrap();
    assert!(p.iter().all(|x| x.is_finite()), "{p}");
    assert!(
        p[0] < 1e300 && p[0] > 9e299 && p[1] > -1e300 && p[2] == 0.0,
        "{p}"
    );
    let mut lamb: Lamb<f32> = LambConfig::default().always_adapt(true).build().unwrap();
    let mut p = array![3e38_f32, 0.0];
    lamb.step(&mut p, &array![1e-30, 0.0]).unwrap();
    assert!(finite(&p) && p[1] == 0.0, "{p}");

    // Coupled decay with huge p and g: g + λp is held at the maximum rather than made ∞,
    // which the momentum buffer (with a dampening of 1, `0·∞`) would turn into NaN.
    let mut sgd: Sgd<f32> = SgdConfig::default()
        .lr(1e-3)
        .momentum(0.9)
        .dampening(1.0)
        .weight_decay(1.0)
        .build()
        .unwrap();
    let mut p = array![3e38_f32];
    for _ in 0..3 {
        sgd.step(&mut p, &array![3e38]).unwrap();
        assert!(finite(&p), "{p}");
    }
}
