//! `MasterWeights`: `f32` copies of `bf16`/`f16` parameters stepped by an `f32` optimizer.
#![cfg(all(feature = "half", feature = "serde"))]

use half::{bf16, f16};
use ndarray::{Array1, Array2};
use ndarray_optim::{
    Adam, AdamW, Error, Float, Gradients, MasterWeights, NonFinitePolicy, Optimizer,
    OptimizerState, Sgd,
};

type Params<A> = (Array2<A>, Array1<A>);

fn params<A: Float>() -> Params<A> {
    (
        Array2::from_shape_fn((6, 5), |(i, j)| {
            A::from_f64(((i * 5 + j) as f64 * 0.3).sin())
        }),
        Array1::from_shape_fn(5, |j| A::from_f64(j as f64 * 0.2 - 0.4)),
    )
}

fn grads<A: Float>(step: usize) -> Params<A> {
    let s = step as f64;
    (
        Array2::from_shape_fn((6, 5), |(i, j)| {
            A::from_f64(((i + 2 * j) as f64 + s * 0.7).cos() * 1e-2)
        }),
        Array1::from_shape_fn(5, |j| A::from_f64((j as f64 - s).sin() * 1e-3)),
    )
}

fn widened<A: Float<Compute = f32>>(p: &Params<A>) -> Params<f32> {
    (p.0.mapv(|x| x.to_compute()), p.1.mapv(|x| x.to_compute()))
}

fn bits<A: Float>(p: &Params<A>) -> Vec<u64> {
    p.0.iter()
        .chain(&p.1)
        .map(|x| x.widen().to_bits())
        .collect()
}

fn steps<A: Float>(opt: &mut dyn Optimizer<A>, p: &mut Params<A>, range: std::ops::Range<usize>) {
    for step in range {
        let (gw, gb) = grads::<A>(step);
        opt.step(&mut (&mut p.0, &mut p.1), &(&gw, &gb)).unwrap();
    }
}

/// The copies are exactly an `f32` run from the widened parameters and gradients, and the
/// 16-bit parameters are the copies rounded to nearest, after every step; in both types.
#[test]
fn the_copies_are_an_f32_run_and_the_parameters_its_rounding() {
    fn check<A: Float<Compute = f32>>() {
        let mut p = params::<A>();
        let mut reference = widened(&p);
        let mut opt = MasterWeights::<A, _>::new(AdamW::<f32>::new(1e-2).unwrap());
        let mut f32_adamw = AdamW::<f32>::new(1e-2).unwrap();
        for step in 0..20 {
            let g = grads::<A>(step);
            opt.step(&mut (&mut p.0, &mut p.1), &(&g.0, &g.1)).unwrap();
            let g32 = widened(&g);
            f32_adamw
                .step(&mut (&mut reference.0, &mut reference.1), &(&g32.0, &g32.1))
                .unwrap();
            let copies = opt.master_weights();
            assert_eq!(
                copies[0],
                reference.0.clone().into_dyn(),
                "{} step {step}",
                A::NAME
            );
            assert_eq!(copies[1], reference.1.clone().into_dyn());
            let rounded = (
                reference.0.mapv(A::from_compute),
                reference.1.mapv(A::from_compute),
            );
            assert_eq!(bits(&p), bits(&rounded));
        }
        // The state is the f32 optimizer's.
        let saved = opt.save_state();
        let inner = saved.master_weights.as_ref().unwrap();
        assert_eq!(inner.element_type, "f32");
        assert_eq!(saved.element_type, A::NAME);
        assert_eq!(
            inner.tensors[0].buffers["exp_avg"],
            f32_adamw.save_state().tensors[0].buffers["exp_avg"]
        );
    }
    check::<bf16>();
    check::<f16>();
}

/// Saved (through JSON) mid-run and loaded into a fresh `MasterWeights`, the run goes on bit
/// for bit, stochastic rounding included; the state is refused by an optimizer without master
/// weights, and a plain state by a `MasterWeights`, changing nothing.
#[test]
fn resumes_bit_for_bit_and_refuses_other_states() {
    let build = || {
        let mut opt = MasterWeights::<bf16, _>::new(Adam::<f32>::new(3e-3).unwrap());
        opt.set_stochastic_rounding(Some(11)).unwrap();
        opt
    };
    let mut expected = params::<bf16>();
    steps(&mut build(), &mut expected, 0..12);

    let mut first = build();
    let mut p = params::<bf16>();
    steps(&mut first, &mut p, 0..5);
    let json = serde_json::to_string(&first.save_state()).unwrap();
    let saved: OptimizerState<bf16> = serde_json::from_str(&json).unwrap();
    assert_eq!(saved, first.save_state());

    let mut second = MasterWeights::<bf16, _>::new(Adam::<f32>::new(0.5).unwrap());
    second.load_state(saved.clone()).unwrap();
    assert_eq!(second.stochastic_rounding(), Some(11));
    assert_eq!(second.learning_rate(), 3e-3);
    steps(&mut second, &mut p, 5..12);
    assert_eq!(bits(&p), bits(&expected));

    // Into an optimizer without master weights.
    let mut plain = Adam::<bf16>::new(3e-3).unwrap();
    let before = plain.save_state();
    assert!(matches!(
        plain.load_state(saved.clone()),
        Err(Error::InvalidState { tensor: None, .. })
    ));
    assert_eq!(plain.save_state(), before);
    // A plain state into master weights.
    let mut third = build();
    let before = third.save_state();
    steps(&mut plain, &mut params::<bf16>(), 0..2);
    assert!(matches!(
        third.load_state(plain.save_state()),
        Err(Error::InvalidState { tensor: None, .. })
    ));
    assert_eq!(third.save_state(), before);
    // Copies missing.
    let mut damaged = saved;
    damaged.master_weights.as_mut().unwrap().tensors[1]
        .buffers
        .remove("master_weight");
    assert!(matches!(
        third.load_state(damaged),
        Err(Error::InvalidState {
            tensor: Some(1),
            ..
        })
    ));
    assert_eq!(third.save_state(), before);
}

/// Stochastic rounding of the written parameters: each within one ulp of its copy, on both
/// sides of it, and refused for `f16`.
#[test]
fn stochastic_rounding_writes_a_neighbour_of_the_copy() {
    let mut opt = MasterWeights::<bf16, _>::new(Sgd::<f32>::new(0.1).unwrap());
    opt.set_stochastic_rounding(Some(3)).unwrap();
    let mut p = params::<bf16>();
    steps(&mut opt, &mut p, 0..3);
    let copies = opt.master_weights();
    let (mut above, mut below) = (0, 0);
    for (x, &m) in
        p.0.iter()
            .chain(&p.1)
            .zip(copies[0].iter().chain(copies[1].iter()))
    {
        let x = x.to_f32();
        assert!((x - m).abs() <= m.abs() * 2f32.powi(-7), "{x} {m}");
        above += usize::from(x > m);
        below += usize::from(x < m);
    }
    assert!(above > 0 && below > 0, "{above} {below}");
    let mut half16 = MasterWeights::<f16, _>::new(Sgd::<f32>::new(0.1).unwrap());
    assert!(matches!(
        half16.set_stochastic_rounding(Some(3)),
        Err(Error::Unsupported { .. })
    ));
}

/// Bad input is an error and changes nothing (parameters, copies, state); NaN gradients follow
/// the inner optimizer's policy; a tensor without a gradient is not written.
#[test]
fn errors_change_nothing_and_absent_gradients_are_skipped() {
    let mut opt = MasterWeights::<bf16, _>::new(Adam::<f32>::new(1e-2).unwrap());
    let mut p = params::<bf16>();
    steps(&mut opt, &mut p, 0..2);
    let (saved, before) = (opt.save_state(), p.clone());
    let (gw, _) = grads::<bf16>(2);
    let wrong = Array1::<bf16>::zeros(4);
    assert!(matches!(
        opt.step(&mut (&mut p.0, &mut p.1), &(&gw, &wrong)),
        Err(Error::ShapeMismatch { .. })
    ));
    let mut nan = grads::<bf16>(2);
    nan.0[[1, 1]] = bf16::NAN;
    assert!(matches!(
        opt.step(&mut (&mut p.0, &mut p.1), &(&nan.0, &nan.1)),
        Err(Error::NonFiniteGradient { .. })
    ));
    let mut other = (Array2::<bf16>::zeros((2, 2)), Array1::<bf16>::zeros(5));
    let g_other = (Array2::<bf16>::zeros((2, 2)), Array1::<bf16>::zeros(5));
    assert!(matches!(
        opt.step(&mut (&mut other.0, &mut other.1), &(&g_other.0, &g_other.1)),
        Err(Error::StateShapeMismatch { index: 0, .. })
    ));
    assert_eq!(bits(&p), bits(&before));
    assert_eq!(opt.save_state(), saved);

    // SkipStep: the step is skipped, nothing written.
    opt.set_non_finite_policy(NonFinitePolicy::SkipStep);
    opt.step(&mut (&mut p.0, &mut p.1), &(&nan.0, &nan.1))
        .unwrap();
    assert_eq!(opt.skipped_steps(), 1);
    assert_eq!(bits(&p), bits(&before));

    // The bias without a gradient keeps its value; the matrix moves.
    let mut list = vec![p.0.clone().into_dyn(), p.1.clone().into_dyn()];
    let g = Gradients(vec![Some(grads::<bf16>(3).0.into_dyn()), None]);
    opt.step(&mut list, &g).unwrap();
    assert_eq!(list[1], p.1.clone().into_dyn());
    assert_ne!(list[0], p.0.clone().into_dyn());
}

/// The state's bytes per parameter, from what the optimizers save: Adam 8 in `f32`, 4 with
/// `bf16` state, 12 with `f32` master weights (the copy and `f32` moments; the `bf16`
/// parameter itself is the caller's).
#[test]
fn state_bytes_per_parameter() {
    fn bytes<A: Float>(state: &OptimizerState<A>) -> usize {
        state
            .tensors
            .iter()
            .flat_map(|t| t.buffers.values())
            .map(|b| b.len() * std::mem::size_of::<A>())
            .sum()
    }
    let n = 10_000;
    let (mut w32, g32) = (Array1::<f32>::ones(n), Array1::<f32>::ones(n));
    let mut adam32 = Adam::<f32>::new(1e-3).unwrap();
    adam32.step(&mut w32, &g32).unwrap();
    assert_eq!(bytes(&adam32.save_state()), 8 * n);
    let (mut w16, g16) = (
        Array1::from_elem(n, bf16::ONE),
        Array1::from_elem(n, bf16::ONE),
    );
    let mut adam16 = Adam::<bf16>::new(1e-3).unwrap();
    adam16.step(&mut w16, &g16).unwrap();
    assert_eq!(bytes(&adam16.save_state()), 4 * n);
    let mut master = MasterWeights::<bf16, _>::new(Adam::<f32>::new(1e-3).unwrap());
    master.step(&mut w16, &g16).unwrap();
    let saved = master.save_state();
    assert_eq!(bytes(&saved), 0);
    assert_eq!(bytes(saved.master_weights.as_deref().unwrap()), 12 * n);
}
