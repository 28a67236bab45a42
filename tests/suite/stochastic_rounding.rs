//! Stochastic rounding of `bf16` parameters (`Optimizer::set_stochastic_rounding`): what it is
//! for, that it is reproducible (seed, resumption, thread count), and where it is refused.
#![cfg(all(feature = "half", feature = "serde"))]

use crate::common;

use half::{bf16, f16};
use ndarray::{Array1, ArrayD, Dimension, IxDyn};
use ndarray_optim::{AdamW, Error, Optimizer, OptimizerKind, OptimizerState, SgdConfig};

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

fn run(threads: usize, steps: std::ops::Range<usize>, opt: &mut AdamW<bf16>, w: &mut ArrayD<bf16>) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        for step in steps {
            let g = ArrayD::from_shape_fn(w.raw_dim(), |i| {
                let k = i
                    .slice()
                    .iter()
                    .fold(step * 7919, |a, &x| a.wrapping_mul(31) + x);
                bf16::from_f64(((k % 1000) as f64 / 500.0 - 1.0) * 1e-3)
            });
            opt.step(w, &g).unwrap();
        }
    });
}

fn bits(w: &ArrayD<bf16>) -> Vec<u16> {
    w.iter().map(|x| x.to_bits()).collect()
}

/// The same seed gives the same bits whatever the thread count (a tensor large enough to be
/// split into chunks), and a run saved, loaded into a fresh optimizer and resumed gives the
/// bits of the uninterrupted run; another seed gives other bits.
#[test]
fn stochastic_rounding_is_reproducible() {
    let shape = IxDyn(&[3, 40_000]);
    let start = ArrayD::from_shape_fn(shape.clone(), |i| {
        bf16::from_f64((i[1] as f64 * 0.01).sin())
    });
    let adamw = |seed: u64| {
        let mut opt = AdamW::<bf16>::new(1e-3).unwrap();
        opt.set_stochastic_rounding(Some(seed)).unwrap();
        opt
    };
    let mut one = start.clone();
    run(1, 0..6, &mut adamw(1), &mut one);
    let mut four = start.clone();
    run(4, 0..6, &mut adamw(1), &mut four);
    assert_eq!(bits(&one), bits(&four), "thread count");

    let mut other = start.clone();
    run(1, 0..6, &mut adamw(2), &mut other);
    assert_ne!(bits(&one), bits(&other), "another seed");

    let mut first = adamw(1);
    let mut resumed = start.clone();
    run(2, 0..3, &mut first, &mut resumed);
    let saved: OptimizerState<bf16> =
        serde_json::from_str(&serde_json::to_string(&first.save_state()).unwrap()).unwrap();
    let mut second = AdamW::<bf16>::new(1e-3).unwrap(); // no rounding set: it comes from the state
    second.load_state(saved).unwrap();
    assert_eq!(second.stochastic_rounding(), Some(1));
    run(3, 3..6, &mut second, &mut resumed);
    assert_eq!(bits(&one), bits(&resumed), "resumed");
}

/// Every optimizer whose element loops store the parameter takes stochastic rounding, and
/// with it the parameters differ from rounding to nearest (the rounding is in effect), stay
/// within an ulp of them after one step, and nothing else changes: the state is the same.
#[test]
fn every_optimizer_but_adafactor_and_sparse_adam_rounds_stochastically() {
    let refused = [OptimizerKind::Adafactor, OptimizerKind::SparseAdam];
    let w0 = Array1::from_shape_fn(1000, |i| bf16::from_f64((i as f64 * 0.37).sin()));
    let g = Array1::from_shape_fn(1000, |i| bf16::from_f64((i as f64 * 0.11).cos() * 1e-2));
    for (mut sr, mut rne) in common::zoo::<bf16>().into_iter().zip(common::zoo::<bf16>()) {
        let kind = *OptimizerKind::ALL
            .iter()
            .find(|k| k.name() == sr.name())
            .unwrap();
        let before = sr.save_state();
        let result = sr.set_stochastic_rounding(Some(5));
        if refused.contains(&kind) {
            assert!(matches!(result, Err(Error::Unsupported { .. })), "{kind:?}");
            assert_eq!(sr.stochastic_rounding(), None);
            assert_eq!(sr.save_state(), before);
            continue;
        }
        result.unwrap();
        let (mut a, mut b) = (w0.clone().into_dyn(), w0.clone().into_dyn());
        let g = g.clone().into_dyn();
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
