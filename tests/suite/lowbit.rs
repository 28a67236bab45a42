//! Block-wise quantised state (`quantized_state`) on tensors of torchao's sizes: the bytes it
//! takes, exactly; save and resume bit for bit (JSON and postcard); a corrupted or contradicting
//! saved state refused with nothing changed; the rules of the option; every layout giving the
//! same bits; and 8-bit Adam training as well as `f32` Adam on a small problem.
//! (The numbers themselves are torchao's: `tests/reference/lowbit.rs`.)
#![cfg(feature = "serde")]

use ndarray::{Array1, Array2, ArrayD, IxDyn, ShapeBuilder};
use ndarray_optim::{
    Adam, AdamConfig, AdamWConfig, CodeFormat, Error, LionConfig, MomentumConfig, Optimizer,
    OptimizerState, Quantization,
};

/// Elements of the tests' tensors: a multiple of both block sizes, above the 4,096 minimum.
const N: usize = 1 << 13;
const ROWS: usize = 64;
const COLS: usize = N / ROWS;

fn grad(step: usize, n: usize) -> Array1<f32> {
    Array1::from_shape_fn(n, |i| {
        let x = ((i * 7919 + step * 104_729) % 2003) as f32 / 1001.0 - 1.0;
        x * [1e-4, 1.0, 3e-2, 10.0][(i / 300) % 4]
    })
}

fn configs() -> Vec<(&'static str, Box<dyn Optimizer<f32>>)> {
    vec![
        (
            "Adam 8-bit",
            Box::new(
                AdamConfig::default()
                    .lr(1e-2)
                    .weight_decay(0.01)
                    .quantized_state(Quantization::int8())
                    .build::<f32>()
                    .unwrap(),
            ),
        ),
        (
            "AdamW float8",
            Box::new(
                AdamWConfig::default()
                    .lr(1e-2)
                    .quantized_state(Quantization::fp8())
                    .build::<f32>()
                    .unwrap(),
            ),
        ),
        (
            "AdamW 4-bit",
            Box::new(
                AdamWConfig::default()
                    .lr(1e-2)
                    .quantized_state(Quantization::int4())
                    .build::<f32>()
                    .unwrap(),
            ),
        ),
        (
            "Momentum 8-bit",
            Box::new(
                MomentumConfig::default()
                    .lr(1e-2)
                    .quantized_state(Quantization::int8())
                    .build::<f32>()
                    .unwrap(),
            ),
        ),
        (
            "Momentum float8",
            Box::new(
                MomentumConfig::default()
                    .lr(1e-2)
                    .quantized_state(Quantization::fp8())
                    .build::<f32>()
                    .unwrap(),
            ),
        ),
        (
            "Lion 8-bit",
            Box::new(
                LionConfig::default()
                    .lr(1e-3)
                    .quantized_state(Quantization::int8())
                    .build::<f32>()
                    .unwrap(),
            ),
        ),
    ]
}

#[test]
fn state_bytes_per_parameter_are_exact() {
    let n = 1 << 16;
    let per_param = |mut opt: Box<dyn Optimizer<f32>>| {
        assert_eq!(opt.state_bytes(), 0, "no state before the first step");
        let mut w = Array1::<f32>::zeros(n);
        opt.step(&mut w, &grad(1, n)).unwrap();
        assert_eq!(opt.state_bytes(), opt.save_state().state_bytes());
        opt.state_bytes() as f64 / n as f64
    };
    let adam = |q: Option<Quantization>| {
        Box::new(
            AdamConfig::default()
                .quantized_state(q)
                .build::<f32>()
                .unwrap(),
        )
    };
    assert_eq!(per_param(Box::new(Adam::<f32>::new(1e-3).unwrap())), 8.0);
    // Two moments: one byte per element and 4 bytes per 256, or half a byte and 4 per 128.
    assert_eq!(
        per_param(adam(Some(Quantization::int8()))),
        2.0 + 8.0 / 256.0
    );
    assert_eq!(
        per_param(adam(Some(Quantization::int4()))),
        1.0 + 8.0 / 128.0
    );
    assert_eq!(
        per_param(adam(Some(Quantization::fp8()))),
        2.0 + 8.0 / 256.0
    );
    let momentum = MomentumConfig::default().quantized_state(Quantization::int8());
    assert_eq!(
        per_param(Box::new(momentum.build::<f32>().unwrap())),
        1.0 + 4.0 / 256.0
    );
    let lion = LionConfig::default().quantized_state(Quantization::int8());
    assert_eq!(
        per_param(Box::new(lion.build::<f32>().unwrap())),
        1.0 + 4.0 / 256.0
    );
    // A tensor under the minimum size keeps f32 state.
    let mut small = adam(Some(Quantization::int8()));
    small
        .step(&mut Array1::<f32>::zeros(4095), &grad(1, 4095))
        .unwrap();
    assert_eq!(small.state_bytes(), 8 * 4095);
    assert!(small.save_state().tensors[0].quantized.is_empty());
}

/// Each step of `opt` on (a Fortran-order matrix, a vector), both quantised.
fn train(
    opt: &mut dyn Optimizer<f32>,
    w: &mut Array2<f32>,
    b: &mut Array1<f32>,
    steps: std::ops::Range<usize>,
) {
    for step in steps {
        let g = grad(step, N * 2);
        let gw = Array2::from_shape_vec((ROWS, COLS), g.to_vec()[..N].to_vec()).unwrap();
        let gb = Array1::from(g.to_vec()[N..].to_vec());
        opt.step(&mut (&mut *w, &mut *b), &(&gw, &gb)).unwrap();
    }
}

fn start() -> (Array2<f32>, Array1<f32>) {
    (
        Array2::from_shape_fn((ROWS, COLS).f(), |(i, j)| {
            ((i * COLS + j) as f32 * 0.01).sin()
        }),
        Array1::from_shape_fn(N, |i| (i as f32 * 0.003).cos()),
    )
}

#[test]
fn a_resumed_run_is_bit_identical_through_json_and_postcard() {
    for (name, mut opt) in configs() {
        let (mut w, mut b) = start();
        train(&mut *opt, &mut w, &mut b, 1..4);
        let saved = opt.save_state();
        assert!(!saved.tensors[0].quantized.is_empty(), "{name}: quantised");
        let json: OptimizerState<f32> =
            serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
        let binary: OptimizerState<f32> =
            postcard::from_bytes(&postcard::to_allocvec(&saved).unwrap()).unwrap();
        assert_eq!(json, saved, "{name}");
        assert_eq!(binary, saved, "{name}");
        let mut resumed = configs().into_iter().find(|(n, _)| *n == name).unwrap().1;
        resumed.load_state(json).unwrap();
        let (mut w2, mut b2) = (w.clone(), b.clone());
        train(&mut *opt, &mut w, &mut b, 4..7);
        train(&mut *resumed, &mut w2, &mut b2, 4..7);
        let bits = |a: &Array2<f32>, c: &Array1<f32>| -> Vec<u32> {
            a.iter().chain(c).map(|x| x.to_bits()).collect()
        };
        assert_eq!(bits(&w, &b), bits(&w2, &b2), "{name}");
        assert_eq!(opt.save_state(), resumed.save_state(), "{name}");
    }
}

#[test]
fn every_layout_gives_the_same_bits() {
    for (name, _) in configs() {
        let make = || configs().into_iter().find(|(n, _)| *n == name).unwrap().1;
        let (mut c_order, mut opt_c) = (
            Array2::from_shape_fn((ROWS, COLS), |(i, j)| ((i * COLS + j) as f32 * 0.01).sin()),
            make(),
        );
        let (mut f_order, mut opt_f) = (start().0, make());
        assert_eq!(c_order, f_order);
        for step in 1..4 {
            let g = Array2::from_shape_vec((ROWS, COLS), grad(step, N).to_vec()).unwrap();
            let g_f = {
                let mut g_f = Array2::zeros((ROWS, COLS).f());
                g_f.assign(&g);
                g_f
            };
            opt_c.step(&mut c_order, &g).unwrap();
            opt_f.step(&mut f_order, &g_f).unwrap();
        }
        assert!(
            c_order
                .iter()
                .zip(&f_order)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{name}"
        );
        assert_eq!(opt_c.save_state(), opt_f.save_state(), "{name}");
    }
}

/// A tensor large enough to be split across threads (the `rayon` feature: on block
/// boundaries, in parts of whole blocks) gives the bits of one thread, parameters and codes.
#[cfg(feature = "rayon")]
#[test]
fn every_thread_count_gives_the_same_bits() {
    fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(f)
    }
    // Several parts of 2^15 elements, and a last part that is not a whole one.
    let n = 5 * (1 << 15) + 3 * 256;
    assert!(n >= ndarray_optim::PARALLEL_MIN_LEN);
    for (name, _) in configs() {
        let run = |threads: usize| {
            in_pool(threads, || {
                let mut opt = configs().into_iter().find(|(n, _)| *n == name).unwrap().1;
                let mut p = Array1::from_shape_fn(n, |i| (i as f32 * 0.01).sin());
                for step in 1..4 {
                    opt.step(&mut p, &grad(step, n)).unwrap();
                }
                let bits: Vec<u32> = p.iter().map(|x| x.to_bits()).collect();
                (bits, opt.save_state())
            })
        };
        let one = run(1);
        for threads in [2, 3] {
            assert!(run(threads) == one, "{name} with {threads} threads");
        }
    }
    // bf16 parameters with stochastic rounding: each element's random bits are those of its
    // position, whichever thread stores it.
    let run = |threads: usize| {
        in_pool(threads, || {
            let mut opt = AdamConfig::default()
                .lr(1e-3)
                .quantized_state(Quantization::int8())
                .build::<half::bf16>()
                .unwrap();
            opt.set_stochastic_rounding(Some(7)).unwrap();
            let mut p = Array1::from_shape_fn(n, |i| half::bf16::from_f32((i as f32 * 0.01).sin()));
            for step in 1..4 {
                opt.step(&mut p, &grad(step, n).mapv(half::bf16::from_f32))
                    .unwrap();
            }
            p.iter().map(|x| x.to_bits()).collect::<Vec<u16>>()
        })
    };
    let one = run(1);
    assert_eq!(
        run(2),
        one,
        "bf16 Adam 8-bit, stochastic rounding, 2 threads"
    );
}

/// A finite gradient whose square overflows makes no NaN (the property tests found it: with
/// β₂ = 0 the second moment's lerp was `∞ − ∞·0`, which torchao's own form gives too).
#[test]
fn an_overflowing_square_makes_no_nan() {
    for (lr, beta2, q) in [
        (0.0, 0.0, Quantization::int8()),
        (1e-3, 0.0, Quantization::int8()),
        (1e-3, 0.999, Quantization::int8()),
        (1e-3, 0.999, Quantization::fp8()),
    ] {
        let mut opt = AdamWConfig::default()
            .lr(lr)
            .betas((0.0, beta2))
            .eps(1e-30)
            .quantized_state(q.block_size(1).min_size(0))
            .build::<f32>()
            .unwrap();
        let mut p = ndarray::arr0(1.0f32).into_dyn();
        let g = ndarray::arr0(9.154_76e19_f32).into_dyn();
        for step in 0..3 {
            opt.step(&mut p, &g).unwrap();
            assert!(
                p.iter().all(|x| x.is_finite()),
                "lr {lr}, β₂ {beta2}, {q:?}, step {step}: {p}"
            );
        }
    }
}

/// `load_state(tampered)` fails with `InvalidState` and leaves `opt` as it was.
fn refused(opt: &mut dyn Optimizer<f32>, tampered: OptimizerState<f32>, what: &str) {
    let before = opt.save_state();
    match opt.load_state(tampered) {
        Err(Error::InvalidState { .. }) => {}
        other => panic!("{what}: {other:?}"),
    }
    assert_eq!(opt.save_state(), before, "{what}: changed");
}

#[test]
fn corrupted_or_contradicting_states_are_refused_with_nothing_changed() {
    let build = |q: Option<Quantization>| {
        AdamConfig::default()
            .quantized_state(q)
            .build::<f32>()
            .unwrap()
    };
    let mut opt = build(Some(Quantization::int8()));
    let mut w = Array1::<f32>::zeros(N);
    opt.step(&mut w, &grad(1, N)).unwrap();
    let good = opt.save_state();
    let tamper = |f: &dyn Fn(&mut OptimizerState<f32>)| {
        let mut s = good.clone();
        f(&mut s);
        s
    };
    let m =
        |s: &mut OptimizerState<f32>| s.tensors[0].quantized.get_mut("exp_avg").unwrap().clone();
    let set = |s: &mut OptimizerState<f32>, q: ndarray_optim::QuantizedBuffer| {
        s.tensors[0].quantized.insert("exp_avg".into(), q);
    };
    let cases: Vec<(&str, OptimizerState<f32>)> = vec![
        (
            "a code missing",
            tamper(&|s| {
                let mut q = m(s);
                q.codes.pop();
                set(s, q);
            }),
        ),
        (
            "a scale too many",
            tamper(&|s| {
                let mut q = m(s);
                q.scales.push(1.0);
                set(s, q);
            }),
        ),
        (
            "a negative scale",
            tamper(&|s| {
                let mut q = m(s);
                q.scales[3] = -1.0;
                set(s, q);
            }),
        ),
        (
            "4-bit codes for an 8-bit configuration",
            tamper(&|s| {
                let mut q = m(s);
                q.bits = 4;
                set(s, q);
            }),
        ),
        (
            "float8 codes for a code-map configuration",
            tamper(&|s| {
                let mut q = m(s);
                q.format = CodeFormat::Float8;
                set(s, q);
            }),
        ),
        (
            "another block size",
            tamper(&|s| {
                let mut q = m(s);
                q.block_size = 128;
                set(s, q);
            }),
        ),
        (
            "a quantised moment missing",
            tamper(&|s| {
                s.tensors[0].quantized.remove("exp_avg_sq");
            }),
        ),
        (
            "an f32 moment where the configuration quantises",
            tamper(&|s| {
                s.tensors[0].quantized.remove("exp_avg");
                s.tensors[0]
                    .buffers
                    .insert("exp_avg".into(), ArrayD::zeros(IxDyn(&[N])));
            }),
        ),
        (
            "a quantised state under a full-precision configuration",
            tamper(&|s| {
                s.config = AdamConfig::default().into();
            }),
        ),
        (
            "an unknown quantised buffer",
            tamper(&|s| {
                let q = m(s);
                s.tensors[0].quantized.insert("max_exp_avg_sq".into(), q);
            }),
        ),
    ];
    for (what, tampered) in cases {
        refused(&mut opt, tampered, what);
    }
    // Code-map codes under a float8 configuration.
    let mut s = good.clone();
    s.config = AdamConfig::default()
        .quantized_state(Quantization::fp8())
        .into();
    let mut f8 = build(Some(Quantization::fp8()));
    f8.step(&mut w, &grad(1, N)).unwrap();
    refused(&mut f8, s, "code-map codes under a float8 configuration");
    // A NaN float8 code in a block whose scale is not NaN (only a NaN value codes to NaN, and
    // it makes its block's scale NaN).
    let mut s = f8.save_state();
    s.tensors[0].quantized.get_mut("exp_avg").unwrap().codes[5] = 0xff;
    refused(&mut f8, s, "a NaN float8 code under a finite scale");
    // And the reverse: f32 moments under a quantised configuration.
    let mut full = build(None);
    full.step(&mut w, &grad(1, N)).unwrap();
    let mut s = full.save_state();
    s.config = AdamConfig::default()
        .quantized_state(Quantization::int8())
        .into();
    refused(&mut full, s, "f32 moments under a quantised configuration");
    // The good state still loads, and resumes.
    opt.load_state(good).unwrap();
    opt.step(&mut w, &grad(2, N)).unwrap();
}

#[test]
fn the_option_is_checked() {
    let adam = |q: Quantization| AdamConfig::default().quantized_state(q).build::<f32>();
    let invalid = |r: Result<_, Error>, name: &str| match r {
        Err(Error::InvalidHyperparameter { name: n, .. }) => assert_eq!(n, name),
        other => panic!("{name}: {other:?}"),
    };
    invalid(
        adam(Quantization::int8().block_size(0)).map(|_| ()),
        "quantized_state.block_size",
    );
    invalid(
        adam(Quantization::int8().block_size(4096)).map(|_| ()),
        "quantized_state.block_size",
    );
    invalid(
        adam(Quantization::int4().block_size(3)).map(|_| ()),
        "quantized_state.block_size",
    );
    let mut three = Quantization::int8();
    three.bits = 3;
    invalid(adam(three).map(|_| ()), "quantized_state.bits");
    let mut four = Quantization::fp8();
    four.bits = 4;
    invalid(adam(four).map(|_| ()), "quantized_state.bits");
    for (config, flag) in [
        (AdamConfig::default().amsgrad(true), "amsgrad"),
        (AdamConfig::default().caution(true), "caution"),
    ] {
        invalid(
            config
                .quantized_state(Quantization::int8())
                .build::<f32>()
                .map(|_| ()),
            flag,
        );
    }
    // 4 bits are torchao's Adam and AdamW only.
    invalid(
        MomentumConfig::default()
            .quantized_state(Quantization::int4())
            .build::<f32>()
            .map(|_| ()),
        "quantized_state.bits",
    );
    invalid(
        LionConfig::default()
            .quantized_state(Quantization::int4())
            .build::<f32>()
            .map(|_| ()),
        "quantized_state.bits",
    );
    assert!(adam(Quantization::int8().block_size(2048)).is_ok());
    assert!(adam(Quantization::int8().block_size(1).min_size(0)).is_ok());
}

/// Least squares `½‖Xw − y‖²/n` on a fixed problem, a tensor of 8,192 weights.
fn least_squares(opt: &mut dyn Optimizer<f32>, steps: usize) -> f32 {
    let (n, d) = (64, 8192);
    let x = Array2::from_shape_fn((n, d), |(i, j)| {
        (((i * 31 + j * 17) % 97) as f32 / 48.0 - 1.0) * 0.1
    });
    let truth = Array1::from_shape_fn(d, |j| ((j % 13) as f32 - 6.0) * 0.05);
    let y = x.dot(&truth);
    let mut w = Array1::<f32>::zeros(d);
    let loss = |w: &Array1<f32>| (x.dot(w) - &y).mapv(|r| r * r).sum() / (2.0 * n as f32);
    for _ in 0..steps {
        let r = x.dot(&w) - &y;
        let g = x.t().dot(&r) / n as f32;
        opt.step(&mut w, &g).unwrap();
    }
    loss(&w) / loss(&Array1::zeros(d))
}

#[test]
fn low_bit_adam_trains_as_well_as_f32_adam() {
    // The loss left, as a fraction of the loss at zero: 8-bit and float8 state as low as f32's (within 3×,
    // or under 10⁻⁴), 4-bit state below 10⁻³ (its coarser map leaves a higher floor).
    let full = least_squares(&mut Adam::<f32>::new(1e-2).unwrap(), 300);
    assert!(full < 1e-4, "f32 Adam: {full}");
    for (q, bound) in [
        (Quantization::int8(), 3.0 * full.max(1e-4)),
        (Quantization::fp8(), 3.0 * full.max(1e-4)),
        (Quantization::int4(), 1e-3),
    ] {
        let mut opt = AdamConfig::default()
            .lr(1e-2)
            .quantized_state(q)
            .build::<f32>()
            .unwrap();
        let low = least_squares(&mut opt, 300);
        assert!(low < bound, "{q:?}: {low} against f32's {full}");
    }
}

/// The state decides the storage: a group's configuration changed after the state was made
/// (quantisation off, caution on) steps the existing state without a panic, and a fresh state
/// follows the new configuration.
#[test]
fn a_group_changed_since_keeps_its_state_s_storage() {
    use ndarray_optim::{ParamGroup, ParamGroups};
    let q = Quantization::int8().block_size(2).min_size(0);
    let changed: Vec<(Box<dyn Optimizer<f32>>, OptimizerConfigOf)> = vec![
        (
            Box::new(
                AdamConfig::default()
                    .quantized_state(q)
                    .build::<f32>()
                    .unwrap(),
            ),
            OptimizerConfigOf::Adam(AdamConfig::default().amsgrad(true)),
        ),
        (
            Box::new(
                LionConfig::default()
                    .quantized_state(q)
                    .build::<f32>()
                    .unwrap(),
            ),
            OptimizerConfigOf::Lion(LionConfig::default().caution(true)),
        ),
        (
            Box::new(
                MomentumConfig::default()
                    .quantized_state(q)
                    .build::<f32>()
                    .unwrap(),
            ),
            OptimizerConfigOf::Momentum(MomentumConfig::default()),
        ),
    ];
    for (mut opt, config) in changed {
        let mut w = Array1::<f32>::from_elem(8, 1.0);
        let g = Array1::<f32>::from_elem(8, 0.5);
        opt.step(&mut w, &g).unwrap();
        let group = match config {
            OptimizerConfigOf::Adam(c) => ParamGroup::default().hyperparameters(c),
            OptimizerConfigOf::Lion(c) => ParamGroup::default().hyperparameters(c),
            OptimizerConfigOf::Momentum(c) => ParamGroup::default().hyperparameters(c),
        };
        opt.set_param_groups(Some(ParamGroups::new(vec![group], vec![0]).unwrap()))
            .unwrap();
        opt.step(&mut w, &g).unwrap();
        assert!(
            w.iter().all(|x| x.is_finite() && *x < 1.0),
            "{}: {w}",
            opt.name()
        );
        assert!(
            !opt.save_state().tensors[0].quantized.is_empty(),
            "{}",
            opt.name()
        );
        opt.reset_state();
        opt.step(&mut w, &g).unwrap();
        assert!(
            opt.save_state().tensors[0].quantized.is_empty(),
            "{}",
            opt.name()
        );
    }
}

enum OptimizerConfigOf {
    Adam(AdamConfig),
    Lion(LionConfig),
    Momentum(MomentumConfig),
}
