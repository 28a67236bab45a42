//! The test registry: for every optimizer of the crate's registry ([`OptimizerKind::ALL`]), the
//! configurations the behavioural tests run over (its main options) and the learning rates it
//! converges with on the test surfaces. Every table-driven test iterates [`specs`], which fails
//! naming any kind that has no entry here, so a new optimizer cannot be left out of the tests.

use ndarray_optim::*;

/// What the tests need to know about one optimizer.
pub struct Spec {
    pub kind: OptimizerKind,
    /// Its main options, with learning rates suited to small problems.
    pub variants: Vec<OptimizerConfig>,
    /// How it is run on the convergence surfaces.
    pub converge: Converge,
    /// It updates matrices (rank 2) only (Muon): the generic tests give it 2-D tensors (a
    /// vector becomes a `1 × n` matrix) where they give the others tensors of several ranks.
    pub matrices_only: bool,
}

/// Whether the optimizer of this name updates matrices only (see [`Spec::matrices_only`]).
pub fn matrices_only(name: &str) -> bool {
    OptimizerKind::from_name(name)
        .and_then(spec)
        .is_some_and(|spec| spec.matrices_only)
}

/// The convergence test of one optimizer: its default configuration with weight decay off (it
/// would move the minimum) and these learning rates.
pub struct Converge {
    pub quadratic_lr: f64,
    pub rosenbrock_lr: f64,
    pub steps: usize,
    /// Required final loss gap, as a fraction of the initial gap, on (quadratic, Rosenbrock).
    pub fractions: (f64, f64),
}

/// The usual thresholds of [`Converge::fractions`].
const FRACTIONS: (f64, f64) = (1e-4, 1e-3);

impl Converge {
    /// The configuration for one surface.
    pub fn config(&self, kind: OptimizerKind, rosenbrock: bool) -> OptimizerConfig {
        let mut config = kind.default_config();
        config.set_learning_rate(if rosenbrock {
            self.rosenbrock_lr
        } else {
            self.quadratic_lr
        });
        config.set_weight_decay(0.0);
        config
    }
}

fn converge(quadratic_lr: f64, rosenbrock_lr: f64, steps: usize) -> Converge {
    Converge {
        quadratic_lr,
        rosenbrock_lr,
        steps,
        fractions: FRACTIONS,
    }
}

/// Block-wise quantised 8-bit state on the tests' small tensors: blocks of 1 element (each its
/// own scale) and no minimum size, so that every tensor is quantised.
pub const LOW_BIT_8: Quantization = Quantization::int8().block_size(1).min_size(0);
/// 4-bit state in blocks of 2 (two codes per byte): every tensor of an even element count is
/// quantised, the others keep full-precision state.
pub const LOW_BIT_4: Quantization = Quantization::int4().block_size(2).min_size(0);

/// The entry of one kind; `None` for a kind not described here yet.
pub fn spec(kind: OptimizerKind) -> Option<Spec> {
    use OptimizerKind as K;
    let (variants, converge): (Vec<OptimizerConfig>, Converge) = match kind {
        K::Sgd => (
            vec![
                SgdConfig::default().lr(0.05).into(),
                SgdConfig::default()
                    .lr(0.05)
                    .weight_decay(0.01)
                    .maximize(true)
                    .into(),
                SgdConfig::default()
                    .lr(0.02)
                    .momentum(0.9)
                    .nesterov(true)
                    .into(),
            ],
            converge(0.1, 1e-3, 5000),
        ),
        K::Momentum => (
            vec![
                MomentumConfig::default().lr(0.02).into(),
                MomentumConfig::default()
                    .lr(0.02)
                    .dampening(0.1)
                    .weight_decay(1e-3)
                    .into(),
                MomentumConfig::default()
                    .lr(0.02)
                    .dampening(0.1)
                    .maximize(true)
                    .quantized_state(LOW_BIT_8)
                    .into(),
            ],
            converge(0.05, 1e-3, 3000),
        ),
        K::Nesterov => (
            vec![
                NesterovConfig::default().lr(0.02).into(),
                NesterovConfig::default()
                    .lr(0.02)
                    .momentum(0.5)
                    .weight_decay(1e-3)
                    .maximize(true)
                    .into(),
            ],
            converge(0.05, 1e-3, 3000),
        ),
        K::Adagrad => (
            vec![
                AdagradConfig::default().lr(0.1).into(),
                AdagradConfig::default()
                    .lr(0.1)
                    .lr_decay(0.01)
                    .initial_accumulator_value(0.1)
                    .weight_decay(0.01)
                    .into(),
            ],
            converge(0.5, 0.25, 5000),
        ),
        K::RmsProp => (
            vec![
                RmsPropConfig::default().lr(0.01).into(),
                RmsPropConfig::default()
                    .lr(0.01)
                    .centered(true)
                    .momentum(0.5)
                    .weight_decay(0.01)
                    .into(),
            ],
            converge(0.01, 1e-3, 5000),
        ),
        // Adadelta keeps PyTorch's defaults: its steps start near √ε and grow slowly, hence its
        // longer run and looser thresholds.
        K::Adadelta => (
            vec![
                AdadeltaConfig::default().lr(1.0).into(),
                AdadeltaConfig::default()
                    .lr(0.5)
                    .rho(0.95)
                    .weight_decay(0.01)
                    .maximize(true)
                    .into(),
            ],
            Converge {
                fractions: (1e-2, 5e-2),
                ..converge(1.0, 1.0, 20000)
            },
        ),
        K::Adam => (
            vec![
                AdamConfig::default().lr(0.01).into(),
                AdamConfig::default()
                    .lr(0.01)
                    .amsgrad(true)
                    .weight_decay(0.01)
                    .into(),
                AdamConfig::default()
                    .lr(0.01)
                    .weight_decay(0.01)
                    .decoupled_weight_decay(true)
                    .maximize(true)
                    .into(),
                AdamConfig::default()
                    .lr(0.01)
                    .weight_decay(0.01)
                    .amsgrad(true)
                    .caution(true)
                    .into(),
                // 8-bit state (torchao's `Adam8bit` arithmetic) on the tests' small tensors.
                AdamConfig::default()
                    .lr(0.01)
                    .weight_decay(0.01)
                    .maximize(true)
                    .quantized_state(LOW_BIT_8)
                    .into(),
            ],
            converge(0.05, 5e-3, 5000),
        ),
        K::AdamW => (
            vec![
                AdamWConfig::default().lr(0.01).into(),
                AdamWConfig::default().lr(0.01).amsgrad(true).into(),
                AdamWConfig::default().lr(0.01).caution(true).into(),
                AdamWConfig::default()
                    .lr(0.01)
                    .quantized_state(LOW_BIT_4)
                    .into(),
            ],
            converge(0.05, 5e-3, 5000),
        ),
        K::NAdam => (
            vec![
                NAdamConfig::default().lr(0.01).into(),
                NAdamConfig::default()
                    .lr(0.01)
                    .momentum_decay(0.01)
                    .weight_decay(0.01)
                    .decoupled_weight_decay(true)
                    .into(),
            ],
            converge(0.05, 5e-3, 5000),
        ),
        // RAdam's first five steps are un-adapted momentum SGD (`γ·m̂`), so its learning rate must
        // also suit SGD there (Rosenbrock's gradient at the start is about 200), and its first
        // rectified steps are small, hence its longer run.
        K::RAdam => (
            vec![
                RAdamConfig::default().lr(0.01).into(),
                RAdamConfig::default()
                    .lr(0.01)
                    .betas((0.9, 0.9))
                    .weight_decay(0.01)
                    .maximize(true)
                    .into(),
            ],
            converge(0.05, 5e-3, 8000),
        ),
        K::Adamax => (
            vec![
                AdamaxConfig::default().lr(0.01).into(),
                AdamaxConfig::default().lr(0.01).weight_decay(0.01).into(),
            ],
            converge(0.05, 5e-3, 5000),
        ),
        // Lion's steps are ±lr per coordinate whatever the gradient's size: a small learning
        // rate, as its authors advise.
        K::Lion => (
            vec![
                LionConfig::default().lr(1e-3).into(),
                LionConfig::default()
                    .lr(1e-3)
                    .b1(0.95)
                    .b2(0.98)
                    .weight_decay(0.1)
                    .into(),
                LionConfig::default()
                    .lr(1e-3)
                    .maximize(true)
                    .caution(true)
                    .into(),
                LionConfig::default()
                    .lr(1e-3)
                    .weight_decay(0.1)
                    .quantized_state(LOW_BIT_8)
                    .into(),
            ],
            converge(1e-3, 1e-3, 5000),
        ),
        K::Lamb => (
            vec![
                LambConfig::default().lr(0.01).into(),
                LambConfig::default()
                    .lr(0.01)
                    .always_adapt(true)
                    .weight_decay(0.0)
                    .max_grad_norm(None)
                    .trust_clip(true)
                    .into(),
                LambConfig::default()
                    .lr(0.01)
                    .weight_decay(0.1)
                    .decoupled_decay(true)
                    .caution(true)
                    .into(),
            ],
            converge(0.02, 2e-3, 5000),
        ),
        // Rprop takes full-batch steps of ±Δ whatever the gradient's size: it needs no tuned
        // learning rate, only an initial step size near the scale of the problem.
        K::Rprop => (
            vec![
                RpropConfig::default().lr(0.01).into(),
                RpropConfig::default()
                    .lr(0.05)
                    .etas((0.3, 1.5))
                    .step_sizes((1e-4, 0.5))
                    .maximize(true)
                    .into(),
            ],
            converge(0.1, 0.01, 2000),
        ),
        // ASGD is SGD with a decaying step size (and an average the surfaces do not look at).
        K::Asgd => (
            vec![
                AsgdConfig::default().lr(0.05).into(),
                AsgdConfig::default()
                    .lr(0.05)
                    .lambd(0.01)
                    .alpha(0.6)
                    .t0(2.0)
                    .weight_decay(0.01)
                    .maximize(true)
                    .into(),
            ],
            converge(0.1, 1e-3, 5000),
        ),
        // Adafactor's steps are relative to the parameter's RMS, with ρ = min(γ, 1/√t).
        K::Adafactor => (
            vec![
                AdafactorConfig::default().lr(0.01).into(),
                AdafactorConfig::default()
                    .lr(0.02)
                    .beta2_decay(-0.5)
                    .eps((Some(1e-20), 1e-2))
                    .d(2.0)
                    .weight_decay(0.01)
                    .maximize(true)
                    .into(),
            ],
            converge(0.05, 0.01, 5000),
        ),
        // Muon's steps are orthogonalised (for a 1 × 2 matrix: normalised) momentum, of size
        // about γ whatever the gradient's: a small learning rate.
        K::Muon => (
            vec![
                MuonConfig::default().lr(0.02).into(),
                MuonConfig::default()
                    .lr(0.02)
                    .momentum(0.9)
                    .nesterov(false)
                    .weight_decay(0.0)
                    .adjust_lr_fn(AdjustLr::MatchRmsAdamw)
                    .into(),
                MuonConfig::default()
                    .lr(0.02)
                    .ns_precision(NewtonSchulzPrecision::Native)
                    .ns_steps(3)
                    .adjust_lr_fn(AdjustLr::SpectralUnclamped)
                    .into(),
            ],
            converge(2e-3, 1e-3, 5000),
        ),
        // SparseAdam on dense gradients: Adam with ε added to √v and the bias corrections in
        // the step size (rows of zeros would be left alone; the surfaces have none).
        K::SparseAdam => (
            vec![
                SparseAdamConfig::default().lr(0.01).into(),
                SparseAdamConfig::default()
                    .lr(0.01)
                    .betas((0.8, 0.99))
                    .eps(1e-6)
                    .maximize(true)
                    .into(),
            ],
            converge(0.05, 5e-3, 5000),
        ),
        // Adan's first step is Adam's (the gradient difference starts at 0).
        K::Adan => (
            vec![
                AdanConfig::default().lr(0.01).into(),
                AdanConfig::default()
                    .lr(0.01)
                    .betas((0.9, 0.8, 0.95))
                    .weight_decay(0.01)
                    .no_prox(true)
                    .caution(true)
                    .into(),
                AdanConfig::default()
                    .lr(0.01)
                    .weight_decay(0.05)
                    .caution(true)
                    .into(),
            ],
            converge(0.05, 5e-3, 5000),
        ),
        // LARS's steps are about η = 0.001 of each tensor's norm when it adapts: large
        // learning rates, as its recipes use.
        K::Lars => (
            vec![
                LarsConfig::default().lr(0.05).into(),
                LarsConfig::default()
                    .lr(1.0)
                    .momentum(0.9)
                    .weight_decay(1e-3)
                    .trust_clip(true)
                    .into(),
                LarsConfig::default()
                    .lr(2.0)
                    .momentum(0.9)
                    .nesterov(true)
                    .always_adapt(true)
                    .into(),
            ],
            converge(0.1, 1e-3, 5000),
        ),
        // Schedule-Free's parameters hold y, where the gradient is taken; the convergence
        // test measures y, which follows the average closely once the weights settle.
        K::ScheduleFreeAdamW => (
            vec![
                ScheduleFreeAdamWConfig::default().lr(0.01).into(),
                ScheduleFreeAdamWConfig::default()
                    .lr(0.01)
                    .warmup_steps(5)
                    .weight_decay(0.01)
                    .r(0.5)
                    .into(),
            ],
            converge(0.05, 0.02, 5000),
        ),
        K::ScheduleFreeSgd => (
            vec![
                ScheduleFreeSgdConfig::default().lr(0.05).into(),
                ScheduleFreeSgdConfig::default()
                    .lr(0.02)
                    .momentum(0.8)
                    .warmup_steps(3)
                    .weight_decay(0.01)
                    .weight_lr_power(1.0)
                    .into(),
            ],
            converge(0.05, 1e-3, 5000),
        ),
        // Prodigy estimates its step size: the learning rate is a multiplier, 1 (its default)
        // on both surfaces.
        K::Prodigy => (
            vec![
                ProdigyConfig::default().into(),
                ProdigyConfig::default()
                    .weight_decay(0.01)
                    .decouple(false)
                    .use_bias_correction(true)
                    .safeguard_warmup(true)
                    .into(),
                ProdigyConfig::default()
                    .betas((0.0, 0.99))
                    .beta3(Some(0.9))
                    .weight_decay(0.01)
                    .d_coef(0.5)
                    .growth_rate(1.05)
                    .into(),
            ],
            converge(1.0, 1.0, 5000),
        ),
        _ => return None,
    };
    Some(Spec {
        kind,
        variants,
        converge,
        matrices_only: kind == K::Muon,
    })
}

/// Every kind's entry, in the registry's order.
///
/// # Panics
///
/// If a kind of [`OptimizerKind::ALL`] has no entry in [`spec`], naming it.
pub fn specs() -> Vec<Spec> {
    let missing: Vec<_> = OptimizerKind::ALL
        .iter()
        .filter(|&&kind| spec(kind).is_none())
        .map(|kind| kind.name())
        .collect();
    assert!(
        missing.is_empty(),
        "no test spec for {missing:?}: add it to tests/common/registry.rs"
    );
    OptimizerKind::ALL
        .iter()
        .filter_map(|&kind| spec(kind))
        .collect()
}

/// One of every optimizer that takes tensors of any rank, with its main options: the table the
/// behavioural tests run over, on tensors of several ranks. The optimizers that take matrices
/// only are in [`zoo_of_matrices`], which `tests/suite/matrices_only.rs` runs the same
/// invariants over with 2-D tensors.
pub fn zoo<A: Float>() -> Vec<Box<dyn Optimizer<A>>> {
    specs()
        .into_iter()
        .filter(|spec| !spec.matrices_only)
        .flat_map(|spec| spec.variants)
        .map(|config| {
            config
                .build()
                .expect("the test registry's configurations are valid")
        })
        .collect()
}

/// The optimizers that take matrices only (Muon), with their main options.
pub fn zoo_of_matrices<A: Float>() -> Vec<Box<dyn Optimizer<A>>> {
    specs()
        .into_iter()
        .filter(|spec| spec.matrices_only)
        .flat_map(|spec| spec.variants)
        .map(|config| {
            config
                .build()
                .expect("the test registry's configurations are valid")
        })
        .collect()
}

/// Random valid configurations, for the property tests (`tests/suite/properties.rs`).
pub mod strategies {
    use ndarray_optim::*;
    use proptest::prelude::*;

    pub type Configs = BoxedStrategy<OptimizerConfig>;

    fn unit() -> impl Strategy<Value = f64> + Clone {
        prop_oneof![Just(0.0), Just(1.0), 0.0..=1.0]
    }
    fn beta() -> impl Strategy<Value = f64> + Clone {
        prop_oneof![Just(0.0), Just(0.999_999), 0.0..1.0]
    }
    fn lr() -> impl Strategy<Value = f64> + Clone {
        prop_oneof![Just(0.0), 1e-6..1.0, 1.0..10.0]
    }
    fn eps() -> impl Strategy<Value = f64> + Clone {
        prop_oneof![Just(1e-30), 1e-12..1e-3, Just(1.0)]
    }
    fn decay() -> impl Strategy<Value = f64> + Clone {
        prop_oneof![Just(0.0), 0.0..1.0]
    }
    /// The learning rates of [`typical`] configurations.
    /// No quantised state, or 8-bit or float8 (`bits4`: or 4-bit) state in small blocks on
    /// every tensor.
    fn quantized(bits4: bool) -> impl Strategy<Value = Option<Quantization>> + Clone {
        let four = if bits4 { 4u32 } else { 8 };
        prop_oneof![
            Just(None),
            (1usize..5).prop_map(|b| Some(Quantization::int8().block_size(b).min_size(0))),
            (1usize..5).prop_map(|b| Some(Quantization::fp8().block_size(b).min_size(0))),
            (1usize..3).prop_map(move |b| Some(if four == 4 {
                Quantization::int4().block_size(2 * b).min_size(0)
            } else {
                Quantization::int8().block_size(2 * b).min_size(0)
            })),
        ]
    }

    fn typical_lr() -> std::ops::Range<f64> {
        1e-4..0.1
    }

    /// Any valid configuration of `kind`, anywhere in the valid ranges (the edges included).
    pub fn arbitrary(kind: OptimizerKind) -> Option<Configs> {
        use OptimizerKind as K;
        let configs = match kind {
            K::Sgd => (
                lr(),
                prop_oneof![Just(0.0), 0.0..2.0],
                unit(),
                decay(),
                any::<bool>(),
            )
                .prop_map(|(lr, momentum, dampening, wd, max)| {
                    SgdConfig::default()
                        .lr(lr)
                        .momentum(momentum)
                        .dampening(dampening)
                        .weight_decay(wd)
                        .maximize(max)
                        .into()
                })
                .boxed(),
            K::Momentum => (
                lr(),
                1e-3..1.5,
                unit(),
                decay(),
                any::<bool>(),
                quantized(false),
            )
                .prop_map(|(lr, momentum, dampening, wd, max, q)| {
                    MomentumConfig::default()
                        .lr(lr)
                        .momentum(momentum)
                        .dampening(dampening)
                        .weight_decay(wd)
                        .maximize(max)
                        .quantized_state(q)
                        .into()
                })
                .boxed(),
            K::Nesterov => (lr(), 1e-3..1.0, decay(), any::<bool>())
                .prop_map(|(lr, momentum, wd, max)| {
                    NesterovConfig::default()
                        .lr(lr)
                        .momentum(momentum)
                        .weight_decay(wd)
                        .maximize(max)
                        .into()
                })
                .boxed(),
            K::Adagrad => (
                lr(),
                decay(),
                decay(),
                prop_oneof![Just(0.0), 0.0..1.0],
                eps(),
                any::<bool>(),
            )
                .prop_map(|(lr, lr_decay, wd, init, eps, max)| {
                    AdagradConfig::default()
                        .lr(lr)
                        .lr_decay(lr_decay)
                        .weight_decay(wd)
                        .initial_accumulator_value(init)
                        .eps(eps)
                        .maximize(max)
                        .into()
                })
                .boxed(),
            K::RmsProp => (
                lr(),
                unit(),
                eps(),
                decay(),
                prop_oneof![Just(0.0), 0.0..1.0],
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(|(lr, alpha, eps, wd, momentum, centered, max)| {
                    RmsPropConfig::default()
                        .lr(lr)
                        .alpha(alpha)
                        .eps(eps)
                        .weight_decay(wd)
                        .momentum(momentum)
                        .centered(centered)
                        .maximize(max)
                        .into()
                })
                .boxed(),
            K::Adadelta => (lr(), unit(), eps(), decay(), any::<bool>())
                .prop_map(|(lr, rho, eps, wd, max)| {
                    AdadeltaConfig::default()
                        .lr(lr)
                        .rho(rho)
                        .eps(eps)
                        .weight_decay(wd)
                        .maximize(max)
                        .into()
                })
                .boxed(),
            K::Adam => (
                lr(),
                beta(),
                beta(),
                eps(),
                decay(),
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
                quantized(true),
            )
                .prop_map(|(lr, b1, b2, eps, wd, ams, max, decoupled, caution, q)| {
                    AdamConfig::default()
                        .lr(lr)
                        .betas((b1, b2))
                        .eps(eps)
                        .weight_decay(wd)
                        .amsgrad(ams)
                        .maximize(max)
                        .decoupled_weight_decay(decoupled)
                        .caution(caution)
                        .quantized_state(q.filter(|_| !ams && !caution))
                        .into()
                })
                .boxed(),
            K::AdamW => (
                lr(),
                beta(),
                beta(),
                eps(),
                decay(),
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
                quantized(true),
            )
                .prop_map(|(lr, b1, b2, eps, wd, ams, max, caution, q)| {
                    AdamWConfig::default()
                        .lr(lr)
                        .betas((b1, b2))
                        .eps(eps)
                        .weight_decay(wd)
                        .amsgrad(ams)
                        .maximize(max)
                        .caution(caution)
                        .quantized_state(q.filter(|_| !ams && !caution))
                        .into()
                })
                .boxed(),
            K::Lamb => (
                (lr(), beta(), beta(), eps(), decay()),
                (
                    any::<bool>(),
                    any::<bool>(),
                    prop_oneof![Just(None), (1e-3..10.0).prop_map(Some)],
                ),
                (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
            )
                .prop_map(
                    |((lr, b1, b2, eps, wd), (bc, avg, clip), (tc, adapt, dec, caution))| {
                        LambConfig::default()
                            .lr(lr)
                            .betas((b1, b2))
                            .eps(eps)
                            .weight_decay(wd)
                            .bias_correction(bc)
                            .grad_averaging(avg)
                            .max_grad_norm(clip)
                            .trust_clip(tc)
                            .always_adapt(adapt)
                            .decoupled_decay(dec)
                            .caution(caution)
                            .into()
                    },
                )
                .boxed(),
            K::NAdam => (
                lr(),
                beta(),
                beta(),
                eps(),
                decay(),
                0.0..0.1,
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(|(lr, b1, b2, eps, wd, psi, max, dec)| {
                    NAdamConfig::default()
                        .lr(lr)
                        .betas((b1, b2))
                        .eps(eps)
                        .weight_decay(wd)
                        .momentum_decay(psi)
                        .maximize(max)
                        .decoupled_weight_decay(dec)
                        .into()
                })
                .boxed(),
            K::RAdam => (
                lr(),
                beta(),
                beta(),
                eps(),
                decay(),
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(|(lr, b1, b2, eps, wd, max, dec)| {
                    RAdamConfig::default()
                        .lr(lr)
                        .betas((b1, b2))
                        .eps(eps)
                        .weight_decay(wd)
                        .maximize(max)
                        .decoupled_weight_decay(dec)
                        .into()
                })
                .boxed(),
            K::Adamax => (lr(), beta(), beta(), eps(), decay(), any::<bool>())
                .prop_map(|(lr, b1, b2, eps, wd, max)| {
                    AdamaxConfig::default()
                        .lr(lr)
                        .betas((b1, b2))
                        .eps(eps)
                        .weight_decay(wd)
                        .maximize(max)
                        .into()
                })
                .boxed(),
            K::Lion => (
                lr(),
                unit(),
                unit(),
                decay(),
                any::<bool>(),
                any::<bool>(),
                quantized(false),
            )
                .prop_map(|(lr, b1, b2, wd, max, caution, q)| {
                    LionConfig::default()
                        .lr(lr)
                        .b1(b1)
                        .b2(b2)
                        .weight_decay(wd)
                        .maximize(max)
                        .caution(caution)
                        .quantized_state(q.filter(|_| !caution))
                        .into()
                })
                .boxed(),
            K::Rprop => (
                lr(),
                (1e-3..1.0).prop_filter("etaminus < 1", |e| *e < 1.0),
                1.0001..3.0,
                (prop_oneof![Just(0.0), 1e-8..1e-3], 1e-3..100.0),
                any::<bool>(),
            )
                .prop_map(|(lr, minus, plus, (min, max), max_)| {
                    RpropConfig::default()
                        .lr(lr)
                        .etas((minus, plus))
                        .step_sizes((min, max))
                        .maximize(max_)
                        .into()
                })
                .boxed(),
            K::Asgd => (
                lr(),
                decay(),
                prop_oneof![Just(0.0), Just(0.75), 0.0..2.0],
                prop_oneof![Just(0.0), Just(1e6), -10.0..10.0],
                decay(),
                any::<bool>(),
            )
                .prop_map(|(lr, lambd, alpha, t0, wd, max)| {
                    AsgdConfig::default()
                        .lr(lr)
                        .lambd(lambd)
                        .alpha(alpha)
                        .t0(t0)
                        .weight_decay(wd)
                        .maximize(max)
                        .into()
                })
                .boxed(),
            K::Adafactor => (
                lr(),
                prop_oneof![Just(0.0), Just(-0.8), -2.0..0.0],
                prop_oneof![Just(None), eps().prop_map(Some)],
                prop_oneof![Just(0.0), 1e-6..1e-2],
                prop_oneof![Just(1.0), 1.0..4.0],
                decay(),
                any::<bool>(),
            )
                .prop_map(|(lr, c, eps1, eps2, d, wd, max)| {
                    AdafactorConfig::default()
                        .lr(lr)
                        .beta2_decay(c)
                        .eps((eps1, eps2))
                        .d(d)
                        .weight_decay(wd)
                        .maximize(max)
                        .into()
                })
                .boxed(),
            K::Muon => (
                (lr(), decay(), prop_oneof![Just(0.0), Just(0.95), 0.0..1.5]),
                (any::<bool>(), eps(), 0usize..8),
                (
                    prop_oneof![
                        Just(AdjustLr::Original),
                        Just(AdjustLr::MatchRmsAdamw),
                        Just(AdjustLr::SpectralUnclamped)
                    ],
                    prop_oneof![
                        Just(NewtonSchulzPrecision::Bf16),
                        Just(NewtonSchulzPrecision::Native)
                    ],
                ),
            )
                .prop_map(
                    |((lr, wd, m), (nesterov, eps, steps), (adjust, precision))| {
                        MuonConfig::default()
                            .lr(lr)
                            .weight_decay(wd)
                            .momentum(m)
                            .nesterov(nesterov)
                            .eps(eps)
                            .ns_steps(steps)
                            .adjust_lr_fn(adjust)
                            .ns_precision(precision)
                            .into()
                    },
                )
                .boxed(),
            // PyTorch refuses lr = 0 when building SparseAdam.
            K::SparseAdam => (
                prop_oneof![1e-6..1.0, 1.0..10.0],
                beta(),
                beta(),
                eps(),
                any::<bool>(),
            )
                .prop_map(|(lr, b1, b2, eps, max)| {
                    SparseAdamConfig::default()
                        .lr(lr)
                        .betas((b1, b2))
                        .eps(eps)
                        .maximize(max)
                        .into()
                })
                .boxed(),
            K::Adan => (
                (lr(), beta(), beta(), beta()),
                (eps(), decay(), any::<bool>(), any::<bool>()),
            )
                .prop_map(|((lr, b1, b2, b3), (eps, wd, no_prox, caution))| {
                    AdanConfig::default()
                        .lr(lr)
                        .betas((b1, b2, b3))
                        .eps(eps)
                        .weight_decay(wd)
                        .no_prox(no_prox)
                        .caution(caution)
                        .into()
                })
                .boxed(),
            K::Lars => (
                (lr(), prop_oneof![Just(0.0), 0.0..1.5], unit(), decay()),
                (
                    prop_oneof![Just(1e-3), 0.0..1.0],
                    prop_oneof![Just(0.0), eps()],
                    any::<bool>(),
                    any::<bool>(),
                ),
            )
                .prop_map(|((lr, momentum, dampening, wd), (tc, eps, clip, adapt))| {
                    LarsConfig::default()
                        .lr(lr)
                        .momentum(momentum)
                        .dampening(dampening)
                        .weight_decay(wd)
                        .trust_coeff(tc)
                        .eps(eps)
                        .trust_clip(clip)
                        .always_adapt(adapt)
                        .into()
                })
                .boxed(),
            K::ScheduleFreeAdamW => (
                (lr(), 1e-3..0.999, beta(), eps()),
                (decay(), 0u64..10, 0.0..2.0, 0.0..3.0),
            )
                .prop_map(|((lr, b1, b2, eps), (wd, warmup, r, power))| {
                    ScheduleFreeAdamWConfig::default()
                        .lr(lr)
                        .betas((b1, b2))
                        .eps(eps)
                        .weight_decay(wd)
                        .warmup_steps(warmup)
                        .r(r)
                        .weight_lr_power(power)
                        .into()
                })
                .boxed(),
            K::ScheduleFreeSgd => (lr(), 1e-3..0.999, decay(), 0u64..10, 0.0..2.0, 0.0..3.0)
                .prop_map(|(lr, m, wd, warmup, r, power)| {
                    ScheduleFreeSgdConfig::default()
                        .lr(lr)
                        .momentum(m)
                        .weight_decay(wd)
                        .warmup_steps(warmup)
                        .r(r)
                        .weight_lr_power(power)
                        .into()
                })
                .boxed(),
            K::Prodigy => (
                (
                    prop_oneof![1e-3..1.0, 1.0..10.0],
                    beta(),
                    beta(),
                    prop_oneof![Just(None), unit().prop_map(Some)],
                ),
                (eps(), decay(), any::<bool>(), any::<bool>(), any::<bool>()),
                (
                    prop_oneof![Just(1e-6), 1e-9..1.0],
                    prop_oneof![Just(1.0), 0.1..4.0],
                    prop_oneof![Just(f64::INFINITY), 1.0..2.0],
                ),
            )
                .prop_map(
                    |((lr, b1, b2, b3), (eps, wd, decouple, bc, safeguard), (d0, coef, growth))| {
                        ProdigyConfig::default()
                            .lr(lr)
                            .betas((b1, b2))
                            .beta3(b3)
                            .eps(eps)
                            .weight_decay(wd)
                            .decouple(decouple)
                            .use_bias_correction(bc)
                            .safeguard_warmup(safeguard)
                            .d0(d0)
                            .d_coef(coef)
                            .growth_rate(growth)
                            .into()
                    },
                )
                .boxed(),
            _ => return None,
        };
        Some(configs)
    }

    /// Configurations of `kind` where a few steps are well conditioned: f32 rounding (1e-7
    /// relative) can only grow to a few 1e-6. Excluded on purpose: `eps` far below the
    /// gradients' scale with nearly constant gradients (centered RMSProp's `v − ḡ²`, Adam with
    /// β₂ = 0) and momentum ≥ 1, where rounding differences are amplified without bound. Those
    /// are covered for NaN and layouts by [`arbitrary`]. `None` where the kind has none.
    pub fn typical(kind: OptimizerKind) -> Option<Configs> {
        use OptimizerKind as K;
        let configs = match kind {
            K::Sgd => (typical_lr(), 0.0..0.95, 0.0..0.1)
                .prop_map(|(lr, m, wd)| {
                    SgdConfig::default()
                        .lr(lr)
                        .momentum(m)
                        .weight_decay(wd)
                        .into()
                })
                .boxed(),
            K::Momentum => (typical_lr(), 0.1..0.95)
                .prop_map(|(lr, m)| MomentumConfig::default().lr(lr).momentum(m).into())
                .boxed(),
            K::Nesterov => (typical_lr(), 0.1..0.95)
                .prop_map(|(lr, m)| NesterovConfig::default().lr(lr).momentum(m).into())
                .boxed(),
            K::Adagrad => (typical_lr(), 1e-3..0.1)
                .prop_map(|(lr, eps)| AdagradConfig::default().lr(lr).eps(eps).into())
                .boxed(),
            K::RmsProp => (typical_lr(), 0.5..0.999, 1e-3..0.1, any::<bool>())
                .prop_map(|(lr, a, eps, m)| {
                    RmsPropConfig::default()
                        .lr(lr)
                        .alpha(a)
                        .eps(eps)
                        .momentum(if m { 0.9 } else { 0.0 })
                        .into()
                })
                .boxed(),
            K::Adadelta => (0.1..1.0, 0.5..0.99)
                .prop_map(|(lr, rho)| AdadeltaConfig::default().lr(lr).rho(rho).eps(1e-3).into())
                .boxed(),
            K::Adam => (typical_lr(), 0.5..0.95, 0.9..0.9999, any::<bool>())
                .prop_map(|(lr, b1, b2, ams)| {
                    AdamConfig::default()
                        .lr(lr)
                        .betas((b1, b2))
                        .eps(1e-3)
                        .amsgrad(ams)
                        .into()
                })
                .boxed(),
            K::AdamW => (typical_lr(), 0.5..0.95, 0.9..0.9999)
                .prop_map(|(lr, b1, b2)| {
                    AdamWConfig::default()
                        .lr(lr)
                        .betas((b1, b2))
                        .eps(1e-3)
                        .into()
                })
                .boxed(),
            K::Asgd => (typical_lr(), 0.0..0.1, 0.0..10.0)
                .prop_map(|(lr, lambd, t0)| AsgdConfig::default().lr(lr).lambd(lambd).t0(t0).into())
                .boxed(),
            K::SparseAdam => (typical_lr(), 0.5..0.95, 0.9..0.9999)
                .prop_map(|(lr, b1, b2)| {
                    SparseAdamConfig::default()
                        .lr(lr)
                        .betas((b1, b2))
                        .eps(1e-3)
                        .into()
                })
                .boxed(),
            K::Lamb => (typical_lr(), 0.5..0.95)
                .prop_map(|(lr, b1)| {
                    LambConfig::default()
                        .lr(lr)
                        .betas((b1, 0.999))
                        .eps(1e-3)
                        .into()
                })
                .boxed(),
            K::ScheduleFreeAdamW => (typical_lr(), 0.5..0.95, 0.9..0.9999)
                .prop_map(|(lr, b1, b2)| {
                    ScheduleFreeAdamWConfig::default()
                        .lr(lr)
                        .betas((b1, b2))
                        .eps(1e-3)
                        .into()
                })
                .boxed(),
            K::ScheduleFreeSgd => (typical_lr(), 0.5..0.95)
                .prop_map(|(lr, m)| ScheduleFreeSgdConfig::default().lr(lr).momentum(m).into())
                .boxed(),
            K::Adan => (typical_lr(), 0.5..0.95, 0.5..0.95, 0.9..0.9999)
                .prop_map(|(lr, b1, b2, b3)| {
                    AdanConfig::default()
                        .lr(lr)
                        .betas((b1, b2, b3))
                        .eps(1e-3)
                        .into()
                })
                .boxed(),
            _ => return None,
        };
        Some(configs)
    }

    /// Any valid configuration of any optimizer of the registry that takes tensors of any
    /// rank (the property tests' random shapes have ranks 0 to 3); [`any_matrix_config`] has
    /// the others.
    ///
    /// # Panics
    ///
    /// If a kind has no [`arbitrary`] strategy, naming it.
    pub fn any_config() -> Configs {
        let all: Vec<Configs> = OptimizerKind::ALL
            .iter()
            .filter(|kind| !super::matrices_only(kind.name()))
            .map(|&kind| {
                arbitrary(kind).unwrap_or_else(|| {
                    panic!("no arbitrary configurations for {kind}: add them to tests/common/registry.rs")
                })
            })
            .collect();
        proptest::strategy::Union::new(all).boxed()
    }

    /// Any valid configuration of an optimizer that takes matrices only.
    pub fn any_matrix_config() -> Configs {
        let all: Vec<Configs> = OptimizerKind::ALL
            .iter()
            .filter(|kind| super::matrices_only(kind.name()))
            .map(|&kind| arbitrary(kind).expect("every kind has arbitrary configurations"))
            .collect();
        proptest::strategy::Union::new(all).boxed()
    }

    /// A well-conditioned configuration of any kind that has [`typical`] ones.
    pub fn any_typical_config() -> Configs {
        let all: Vec<Configs> = OptimizerKind::ALL
            .iter()
            .filter_map(|&kind| typical(kind))
            .collect();
        proptest::strategy::Union::new(all).boxed()
    }
}
