//! Stochastic rounding of `bf16` parameters (`Optimizer::set_stochastic_rounding`): what it is
//! for, that it is reproducible (seed, resumption, thread count), and where it is refused.
#![cfg(all(feature = "half", feature = "serde"))]

use crate::common;

use half::{bf16, f16};
use ndarray::{Array1, Array2, ArrayD, Dimension, IxDyn};
use ndarray_optim::{
    Adafactor, AdafactorConfig, AdamW, Error, Optimizer, OptimizerKind, OptimizerState, RowGrad,
    SgdConfig, SparseAdam, SparseAdamConfig,
};

/// bf16 SGD whose every update is under half an ulp of the parameter: with rounding to nearest
/// the parameter never moves; with stochastic rounding it follows the `f32` run on average.
#[test]
fn updates_below_half_an_ulp_move_only_with_stochastic_rounding() {
    const N: usize = 4096;
    let (lr, grad) = (1.0, 1e-4_f32); // one ulp of 1.0 in bf16 is 2⁻⁷; 1e-4 is under 2⁻¹³
    let g16 = Array1::from_elem(N, bf16::from_f32(grad));
    let g32 = Array1::from_elem(N, bf16::from_f32(grad).to_f32());
    let mut nearest = Array1::from_elem(N, bf16::ONE);
    let mut stochastic = nearest.clone();
    let mut exact = Array1::from_elem(N, 1.0_f32);
    let mut rne = SgdConfig::default().lr(lr).build::<bf16>().unwrap();
    let mut sr = SgdConfig::default().lr(lr).build::<bf16>().unwrap();
    sr.set_stochastic_rounding(Some(2026)).unwrap();
    let mut f32_sgd = SgdConfig::default().lr(lr).build::<f32>().unwrap();
    for _ in 0..100 {
        rne.step(&mut nearest, &g16).unwrap();
        sr.step(&mut stochastic, &g16).unwrap();
        f32_sgd.step(&mut exact, &g32).unwrap();
    }
    assert!(
        nearest.iter().all(|&x| x == bf16::ONE),
        "stuck at 1 when rounded to nearest"
    );
    let mean = stochastic.iter().map(|x| x.to_f64()).sum::<f64>() / N as f64;
    let target = f64::from(exact[0]);
    assert!((0.9899..0.9901).contains(&target), "{target}");
    // Each element is 1 - k·2⁻⁸ for a random k of mean 100·1e-4/2⁻⁸ (about 2.56, standard
    // deviation 1.6): the mean of 4,096 of them has a standard deviation of 1e-4 around 0.99.
    assert!((mean - target).abs() < 5e-4, "mean {mean}, f32 {target}");
    assert!((mean - 1.0).abs() > 5e-3, "it moved");
    // Every value is a neighbour: at most a few ulps under 1, never above.
    assert!(
        stochastic
            .iter()
            .all(|&x| x <= bf16::ONE && x.to_f32() > 0.95)
    );
}

/// `steps` steps of `make::<bf16>()` (rounding to nearest, and stochastically) and of
/// `make::<f32>()`, from parameters of 1 with the constant gradient `grad`, every update well
/// under half a `bf16` ulp of 1 (2⁻⁸ below 1): rounded to nearest the parameter never moves;
/// stochastically its mean follows the `f32` run's (which moved by `moved`, about) to within
/// `4.5·σ` of the mean of `n` steps of one ulp each with probability `p`, where σ² ≈ k·ulp²/n
/// for `k` the expected number of ulp steps.
fn follows_f32_on_average(
    what: &str,
    shape: &[usize],
    grad: f32,
    steps: usize,
    moved: f64,
    make16: &dyn Fn() -> Box<dyn Optimizer<bf16>>,
    make32: &dyn Fn() -> Box<dyn Optimizer<f32>>,
) {
    let n: usize = shape.iter().product();
    let shape = IxDyn(shape);
    let g16 = ArrayD::from_elem(shape.clone(), bf16::from_f32(grad));
    let g32 = g16.mapv(bf16::to_f32);
    let mut nearest = ArrayD::from_elem(shape.clone(), bf16::ONE);
    let mut stochastic = nearest.clone();
    let mut exact = ArrayD::from_elem(shape, 1.0_f32);
    let (mut rne, mut sr, mut reference) = (make16(), make16(), make32());
    sr.set_stochastic_rounding(Some(2026)).unwrap();
    for _ in 0..steps {
        rne.step(&mut nearest, &g16).unwrap();
        sr.step(&mut stochastic, &g16).unwrap();
        reference.step(&mut exact, &g32).unwrap();
    }
    assert!(
        nearest.iter().all(|&x| x == bf16::ONE),
        "{what}: stuck at 1 when rounded to nearest"
    );
    let target = exact.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
    assert!(
        ((1.0 - target) / moved - 1.0).abs() < 0.05,
        "{what}: the f32 run moved {}",
        1.0 - target
    );
    let mean = stochastic.iter().map(|x| x.to_f64()).sum::<f64>() / n as f64;
    // Just under 1 an ulp is 2⁻⁸: each element is 1 − k·2⁻⁸ for a random k of mean
    // moved·2⁸ and (at most) that variance.
    let ulp = 2f64.powi(-8);
    let sigma = (moved / ulp).sqrt() * ulp / (n as f64).sqrt();
    assert!(
        (mean - target).abs() < 4.5 * sigma,
        "{what}: mean {mean}, f32 {target}, σ {sigma}"
    );
    assert!((1.0 - mean) > 0.5 * moved, "{what}: it moved");
    assert!(
        stochastic
            .iter()
            .all(|&x| x <= bf16::ONE && x.to_f64() > 1.0 - 10.0 * moved),
        "{what}: every value a neighbour, below 1"
    );
}

/// Adafactor (a factored matrix, a vector, and weight decay alone) and SparseAdam (an
/// embedding table and a vector) with updates under half an ulp: unbiased as SGD's.
#[test]
fn adafactor_and_sparse_adam_round_stochastically_without_bias() {
    // A gradient of 2⁻¹⁰ keeps every statistic exact in bf16 (R = C = V = g²), so that the
    // bf16 and f32 runs compute the same updates and differ only in how the parameter is
    // rounded. Adafactor's step is relative: ρ·RMS(p) = lr at p = 1, times U = g/√V = 1;
    // 100 steps of 1e-4.
    let grad = 2f32.powi(-10);
    let adafactor = |lr: f64, wd: f64| {
        // ε₁ given (its default is the element type's machine epsilon, which differs).
        move || -> AdafactorConfig {
            AdafactorConfig::default()
                .lr(lr)
                .weight_decay(wd)
                .eps((Some(1e-30), 1e-3))
        }
    };
    for (what, shape) in [
        ("Adafactor, matrix", &[64, 64][..]),
        ("Adafactor, batch of matrices", &[4, 16, 64][..]),
        ("Adafactor, vector", &[4096][..]),
    ] {
        let config = adafactor(1e-4, 0.0);
        follows_f32_on_average(
            what,
            shape,
            grad,
            100,
            1e-2,
            &|| Box::new(config().build::<bf16>().unwrap()),
            &|| Box::new(config().build::<f32>().unwrap()),
        );
    }
    // Decoupled weight decay alone (a zero gradient): p·(1 − 1e-4) per step, rounded once
    // with the step.
    for (what, shape) in [
        ("Adafactor, decay of a matrix", &[64, 64][..]),
        ("Adafactor, decay of a vector", &[4096][..]),
    ] {
        let config = adafactor(1e-2, 1e-2);
        follows_f32_on_average(
            what,
            shape,
            0.0,
            100,
            1.0 - (1.0 - 1e-4_f64).powi(100),
            &|| Box::new(config().build::<bf16>().unwrap()),
            &|| Box::new(config().build::<f32>().unwrap()),
        );
    }
    // SparseAdam without averaging (β = 0: m = g and v = g², exact) moves each element by
    // lr·g/(|g| + ε) per step.
    let sparse_adam = || SparseAdamConfig::default().lr(1e-4).betas((0.0, 0.0));
    for (what, shape) in [
        ("SparseAdam, table", &[512, 8][..]),
        ("SparseAdam, vector", &[4096][..]),
    ] {
        follows_f32_on_average(
            what,
            shape,
            grad,
            100,
            1e-2,
            &|| Box::new(sparse_adam().build::<bf16>().unwrap()),
            &|| Box::new(sparse_adam().build::<f32>().unwrap()),
        );
    }
}

/// SparseAdam's two doors, rows (`step_sparse`) and a dense gradient whose absent rows are
/// zero (`step`), store the same bits with stochastic rounding, a save and resume in between.
#[test]
fn sparse_adam_rows_and_dense_steps_round_alike() {
    let start = Array2::from_shape_fn((50, 6), |(i, j)| bf16::from_f64(((i * 6 + j) as f64).sin()));
    let sr = || {
        let mut opt = SparseAdam::<bf16>::new(1e-3).unwrap();
        opt.set_stochastic_rounding(Some(9)).unwrap();
        opt
    };
    let (mut dense, mut sparse) = (start.clone(), start.clone());
    let (mut a, mut b) = (sr(), sr());
    for step in 0..8 {
        let ids: Vec<usize> = (0..12).map(|k| (k * 7 + step * 3) % 50).collect();
        let values = Array2::from_shape_fn((ids.len(), 6), |(k, j)| {
            bf16::from_f64(((k * 5 + j + step) as f64 * 0.3).cos() * 1e-2)
        });
        let mut grad = Array2::from_elem((50, 6), bf16::ZERO);
        for (k, &row) in ids.iter().enumerate() {
            for j in 0..6 {
                grad[[row, j]] += values[[k, j]];
            }
        }
        a.step(&mut dense, &grad).unwrap();
        b.step_sparse(&mut sparse, &[RowGrad::new(&ids, values.view())])
            .unwrap();
        if step == 3 {
            let saved: OptimizerState<bf16> =
                serde_json::from_str(&serde_json::to_string(&b.save_state()).unwrap()).unwrap();
            b = SparseAdam::<bf16>::new(1e-3).unwrap();
            b.load_state(saved).unwrap();
        }
    }
    let bits = |w: &Array2<bf16>| w.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&dense), bits(&sparse));
    assert_eq!(a.save_state(), b.save_state());
    // And it rounded stochastically: rounding to nearest gives other bits.
    let mut nearest = start.clone();
    let mut rne = SparseAdam::<bf16>::new(1e-3).unwrap();
    for step in 0..8 {
        let ids: Vec<usize> = (0..12).map(|k| (k * 7 + step * 3) % 50).collect();
        let values = Array2::from_shape_fn((ids.len(), 6), |(k, j)| {
            bf16::from_f64(((k * 5 + j + step) as f64 * 0.3).cos() * 1e-2)
        });
        rne.step_sparse(&mut nearest, &[RowGrad::new(&ids, values.view())])
            .unwrap();
    }
    assert_ne!(bits(&dense), bits(&nearest));
}

fn run(
    threads: usize,
    steps: std::ops::Range<usize>,
    opt: &mut dyn Optimizer<bf16>,
    w: &mut Vec<ArrayD<bf16>>,
) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        for step in steps {
            let g: Vec<ArrayD<bf16>> = w
                .iter()
                .enumerate()
                .map(|(t, w)| {
                    ArrayD::from_shape_fn(w.raw_dim(), |i| {
                        let k = i
                            .slice()
                            .iter()
                            .fold(step * 7919 + t, |a, &x| a.wrapping_mul(31) + x);
                        bf16::from_f64(((k % 1000) as f64 / 500.0 - 1.0) * 1e-3)
                    })
                })
                .collect();
            opt.step(w, &g).unwrap();
        }
    });
}

fn bits(w: &[ArrayD<bf16>]) -> Vec<u16> {
    w.iter().flatten().map(|x| x.to_bits()).collect()
}

/// The same seed gives the same bits whatever the thread count (tensors large enough to be
/// split into chunks, and two of them, which threads share), and a run saved, loaded into a
/// fresh optimizer and resumed gives the bits of the uninterrupted run; another seed gives
/// other bits. AdamW (the pass's loops), Adafactor (its factored matrix's rows and its
/// vector's pass) and SparseAdam (its rows).
#[test]
fn stochastic_rounding_is_reproducible() {
    let start = vec![
        ArrayD::from_shape_fn(IxDyn(&[3, 40_000]), |i| {
            bf16::from_f64((i[1] as f64 * 0.01).sin())
        }),
        ArrayD::from_shape_fn(IxDyn(&[70_000]), |i| {
            bf16::from_f64((i[0] as f64 * 0.003).cos())
        }),
    ];
    type Make = fn() -> Box<dyn Optimizer<bf16>>;
    let makes: [(&str, Make); 3] = [
        ("AdamW", || Box::new(AdamW::<bf16>::new(1e-3).unwrap())),
        ("Adafactor", || {
            Box::new(Adafactor::<bf16>::new(1e-3).unwrap())
        }),
        ("SparseAdam", || {
            Box::new(SparseAdam::<bf16>::new(1e-3).unwrap())
        }),
    ];
    for (what, make) in makes {
        let seeded = |seed: u64| {
            let mut opt = make();
            opt.set_stochastic_rounding(Some(seed)).unwrap();
            opt
        };
        let mut one = start.clone();
        run(1, 0..6, &mut *seeded(1), &mut one);
        let mut four = start.clone();
        run(4, 0..6, &mut *seeded(1), &mut four);
        assert_eq!(bits(&one), bits(&four), "{what}: thread count");

        let mut other = start.clone();
        run(1, 0..6, &mut *seeded(2), &mut other);
        assert_ne!(bits(&one), bits(&other), "{what}: another seed");
        let mut nearest = start.clone();
        run(1, 0..6, &mut *make(), &mut nearest);
        assert_ne!(bits(&one), bits(&nearest), "{what}: rounding to nearest");

        let mut first = seeded(1);
        let mut resumed = start.clone();
        run(2, 0..3, &mut *first, &mut resumed);
        let saved: OptimizerState<bf16> =
            serde_json::from_str(&serde_json::to_string(&first.save_state()).unwrap()).unwrap();
        let mut second = make(); // no rounding set: it comes from the state
        second.load_state(saved).unwrap();
        assert_eq!(second.stochastic_rounding(), Some(1), "{what}");
        run(3, 3..6, &mut *second, &mut resumed);
        assert_eq!(bits(&one), bits(&resumed), "{what}: resumed");
    }
}

/// Every optimizer takes stochastic rounding, and with it the parameters differ from rounding
/// to nearest (the rounding is in effect), stay within an ulp of them after one step, and
/// nothing else changes: the state is the same. On a vector and on a matrix (Adafactor's
/// factored path).
#[test]
fn every_optimizer_rounds_stochastically() {
    let vector =
        Array1::from_shape_fn(1000, |i| bf16::from_f64((i as f64 * 0.37).sin())).into_dyn();
    let matrix = Array2::from_shape_fn((20, 50), |(i, j)| {
        bf16::from_f64(((i * 50 + j) as f64 * 0.37).sin())
    })
    .into_dyn();
    for w0 in [vector, matrix] {
        let g = w0.mapv(|x| bf16::from_f64((x.to_f64() * 3.1).cos() * 1e-2));
        for (mut sr, mut rne) in common::zoo::<bf16>().into_iter().zip(common::zoo::<bf16>()) {
            let kind = *OptimizerKind::ALL
                .iter()
                .find(|k| k.name() == sr.name())
                .unwrap();
            sr.set_stochastic_rounding(Some(5)).unwrap();
            let (mut a, mut b) = (w0.clone(), w0.clone());
            sr.step(&mut a, &g).unwrap();
            rne.step(&mut b, &g).unwrap();
            let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
            assert!(differ > 0, "{kind:?}: no element rounded differently");
            for (x, y) in a.iter().zip(&b) {
                let ulp = f64::from(y.to_f32().abs().max(1e-30)) * 2f64.powi(-7);
                assert!(
                    (x.to_f64() - y.to_f64()).abs() <= ulp * 1.01,
                    "{kind:?}: {x} vs {y}"
                );
            }
            let mut sa = sr.save_state();
            assert_eq!(sa.extra.remove("stochastic_rounding.seed"), Some(5));
            assert_eq!(
                sa.tensors,
                rne.save_state().tensors,
                "{kind:?}: the state is rounded to nearest"
            );
        }
    }
}

/// Other element types have no stochastic rounding: setting it, or loading a state that has
/// it, is a typed error that changes nothing.
#[test]
fn other_types_refuse_stochastic_rounding() {
    let mut adam32 = AdamW::<f32>::new(1e-3).unwrap();
    assert!(matches!(
        adam32.set_stochastic_rounding(Some(1)),
        Err(Error::Unsupported { .. })
    ));
    adam32.set_stochastic_rounding(None).unwrap();
    let mut adam16 = AdamW::<f16>::new(1e-3).unwrap();
    assert!(matches!(
        adam16.set_stochastic_rounding(Some(1)),
        Err(Error::Unsupported { .. })
    ));
    let mut state = adam32.save_state();
    state.extra.insert("stochastic_rounding.seed".into(), 1);
    let before = adam32.save_state();
    assert!(adam32.load_state(state).is_err());
    assert_eq!(adam32.save_state(), before);
    assert_eq!(adam32.stochastic_rounding(), None);
}
