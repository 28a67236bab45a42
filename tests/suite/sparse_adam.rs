//! SparseAdam's row-sparse path (`step_sparse`): rows absent from a gradient are untouched,
//! repeated rows are summed, the dense path agrees with it, every bad input is a typed error
//! that changes nothing, and a saved state resumes bit for bit. The numbers against PyTorch are
//! in `tests/reference/sparse_adam.rs`.

use ndarray::{Array1, Array2, ArrayD, IxDyn, ShapeBuilder, array, s};
use ndarray_optim::{
    Error, NonFinitePolicy, Optimizer, RowGrad, SparseAdam, SparseAdamConfig, StepOutcome,
};

fn bits(p: &Array2<f64>) -> Vec<u64> {
    p.iter().map(|x| x.to_bits()).collect()
}

fn table() -> Array2<f64> {
    Array2::from_shape_fn((6, 3), |(i, j)| (i * 3 + j) as f64 * 0.1 - 0.5)
}

#[test]
fn absent_rows_keep_parameter_and_moments() {
    let mut w = table();
    let before = w.clone();
    let mut opt = SparseAdam::new(0.1).unwrap();
    let values = array![[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]];
    opt.step_sparse(&mut w, &[RowGrad::new(&[4, 1], values.view())])
        .unwrap();
    let saved = opt.save_state();
    let m = &saved.tensors[0].buffers["exp_avg"];
    for row in [0, 2, 3, 5] {
        assert_eq!(w.row(row), before.row(row));
        assert!(m.slice(s![row, ..]).iter().all(|&x| x == 0.0));
    }
    assert!(w.row(4).iter().zip(before.row(4)).all(|(a, b)| a < b));
    // A later step without row 4 leaves it (and its stale moments) alone: no decay.
    let m4: Vec<f64> = m.slice(s![4, ..]).to_vec();
    let w4: Vec<f64> = w.row(4).to_vec();
    let values = array![[1.0, 1.0, 1.0]];
    opt.step_sparse(&mut w, &[RowGrad::new(&[0], values.view())])
        .unwrap();
    assert_eq!(w.row(4).to_vec(), w4);
    let saved = opt.save_state();
    assert_eq!(
        saved.tensors[0].buffers["exp_avg"]
            .slice(s![4, ..])
            .to_vec(),
        m4
    );
    assert_eq!(opt.step_count(), 2);
}

#[test]
fn two_entries_of_a_row_are_their_sum_and_any_order_gives_the_same_bits() {
    let values = array![[0.3, -1.0], [0.25, 2.0], [0.1, 0.7]];
    let summed = array![[0.3 + 0.1, -1.0 + 0.7], [0.25, 2.0]];
    let mut a = Array2::<f64>::ones((3, 2));
    let mut b = a.clone();
    let mut c = a.clone();
    let (mut oa, mut ob, mut oc) = (
        SparseAdam::new(0.05).unwrap(),
        SparseAdam::new(0.05).unwrap(),
        SparseAdam::new(0.05).unwrap(),
    );
    oa.step_sparse(&mut a, &[RowGrad::new(&[2, 0, 2], values.view())])
        .unwrap();
    ob.step_sparse(&mut b, &[RowGrad::new(&[2, 0], summed.view())])
        .unwrap();
    let reordered = array![[0.1, 0.7], [0.25, 2.0], [0.3, -1.0]];
    oc.step_sparse(&mut c, &[RowGrad::new(&[2, 0, 2], reordered.view())])
        .unwrap();
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(bits(&a), bits(&c));
}

#[test]
fn the_dense_path_is_the_sparse_one_with_zero_rows_left_out() {
    let mut dense = table();
    let mut sparse = table();
    let mut od = SparseAdamConfig::default().lr(0.02).build::<f64>().unwrap();
    let mut os = od.clone();
    for step in 0..6 {
        let present: Vec<usize> = (0..6).filter(|r| (r + step) % 3 != 0).collect();
        let mut g = Array2::<f64>::zeros((6, 3));
        let mut values = Array2::<f64>::zeros((present.len(), 3));
        for (k, &r) in present.iter().enumerate() {
            for j in 0..3 {
                let x = ((r * 3 + j + step) as f64).sin();
                g[[r, j]] = x;
                values[[k, j]] = x;
            }
        }
        od.step(&mut dense, &g).unwrap();
        os.step_sparse(&mut sparse, &[RowGrad::new(&present, values.view())])
            .unwrap();
        assert_eq!(bits(&dense), bits(&sparse), "step {step}");
    }
    assert_eq!(od.save_state(), os.save_state());
}

#[test]
fn every_layout_of_parameter_and_values_gives_the_same_bits() {
    let indices = [3, 0, 3, 5];
    let values = Array2::from_shape_fn((4, 3), |(k, j)| (k as f64 - 1.5) * (j as f64 + 0.5));
    let run = |w: &mut ndarray::ArrayViewMut2<f64>, values: ndarray::ArrayView2<f64>| {
        let mut opt = SparseAdam::new(0.1).unwrap();
        for _ in 0..3 {
            opt.step_sparse(w, &[RowGrad::new(&indices, values)])
                .unwrap();
        }
    };
    let mut c = table();
    run(&mut c.view_mut(), values.view());
    let mut f = Array2::zeros((6, 3).f());
    f.assign(&table());
    let mut fv = Array2::zeros((4, 3).f());
    fv.assign(&values);
    run(&mut f.view_mut(), fv.view());
    let mut wide = Array2::zeros((6, 6));
    wide.slice_mut(s![.., ..;2]).assign(&table());
    let mut wide_values = Array2::zeros((4, 6));
    wide_values.slice_mut(s![.., ..;2]).assign(&values);
    run(
        &mut wide.slice_mut(s![.., ..;2]),
        wide_values.slice(s![.., ..;2]),
    );
    assert_eq!(bits(&c), bits(&f));
    assert_eq!(bits(&c), bits(&wide.slice(s![.., ..;2]).to_owned()));
}

#[test]
fn scalars_and_vectors_have_rows_too() {
    let mut s0 = ArrayD::<f64>::from_elem(IxDyn(&[]), 1.0);
    let mut v = Array1::<f64>::zeros(4);
    let mut opt = SparseAdam::new(0.1).unwrap();
    let (gs, gv) = (array![0.5, -0.25], array![1.0, -1.0]);
    opt.step_sparse(
        &mut (&mut s0, &mut v),
        &[
            RowGrad::new(&[0, 0], gs.view()),
            RowGrad::new(&[2, 1], gv.view()),
        ],
    )
    .unwrap();
    assert!(s0[[]] < 1.0);
    assert_eq!((v[0], v[3]), (0.0, 0.0));
    assert!(v[2] < 0.0 && v[1] > 0.0);
    let bad = opt.step_sparse(
        &mut (&mut s0, &mut v),
        &[
            RowGrad::new(&[1], gs.slice(s![..1])),
            RowGrad::new(&[2, 1], gv.view()),
        ],
    );
    assert_eq!(
        bad,
        Err(Error::RowOutOfRange {
            index: 0,
            position: 0,
            row: 1,
            rows: 1
        })
    );
}

#[test]
fn an_empty_gradient_changes_nothing_but_counts_the_step() {
    let mut w = table();
    let before = w.clone();
    let mut opt = SparseAdam::new(0.1).unwrap();
    let values = Array2::<f64>::zeros((0, 3));
    opt.step_sparse(&mut w, &[RowGrad::new(&[], values.view())])
        .unwrap();
    assert_eq!(w, before);
    assert_eq!(opt.step_count(), 1);
}

#[test]
fn bad_input_is_a_typed_error_that_changes_nothing() {
    let mut w = table();
    let mut b = Array1::<f64>::zeros(6);
    let mut opt = SparseAdam::new(0.1).unwrap();
    let ok = array![[1.0, 2.0, 3.0]];
    let ok_b = array![1.0];
    opt.step_sparse(
        &mut (&mut w, &mut b),
        &[
            RowGrad::new(&[2], ok.view()),
            RowGrad::new(&[2], ok_b.view()),
        ],
    )
    .unwrap();
    let (w0, b0, state) = (w.clone(), b.clone(), opt.save_state());
    let wide = array![[1.0, 2.0]];
    let nan = array![[1.0, f64::NAN, 3.0]];
    let two = array![1.0, 2.0];
    type Case<'a> = (Vec<RowGrad<'a, f64>>, fn(&Error) -> bool);
    let cases: Vec<Case<'_>> = vec![
        (vec![RowGrad::new(&[2], ok.view())], |e| {
            matches!(
                e,
                Error::LengthMismatch {
                    params: 2,
                    grads: 1
                }
            )
        }),
        (
            vec![
                RowGrad::new(&[6], ok.view()),
                RowGrad::new(&[2], ok_b.view()),
            ],
            |e| {
                matches!(
                    e,
                    Error::RowOutOfRange {
                        index: 0,
                        row: 6,
                        rows: 6,
                        ..
                    }
                )
            },
        ),
        (
            vec![
                RowGrad::new(&[2], ok.view()),
                RowGrad::new(&[0, 9], two.view()),
            ],
            |e| {
                matches!(
                    e,
                    Error::RowOutOfRange {
                        index: 1,
                        position: 1,
                        ..
                    }
                )
            },
        ),
        (
            vec![
                RowGrad::new(&[2], wide.view()),
                RowGrad::new(&[2], ok_b.view()),
            ],
            |e| {
                matches!(e, Error::RowShapeMismatch { index: 0, expected, found }
                    if expected == &[1, 3] && found == &[1, 2])
            },
        ),
        (
            vec![
                RowGrad::new(&[2, 3], ok.view()),
                RowGrad::new(&[2], ok_b.view()),
            ],
            |e| matches!(e, Error::RowShapeMismatch { index: 0, .. }),
        ),
        (
            vec![
                RowGrad::new(&[2], nan.view()),
                RowGrad::new(&[2], ok_b.view()),
            ],
            |e| matches!(e, Error::NonFiniteGradient { index: 0, element, .. } if element == &[0, 1]),
        ),
    ];
    for (grads, expected) in cases {
        let err = opt.step_sparse(&mut (&mut w, &mut b), &grads).unwrap_err();
        assert!(expected(&err), "{err:?}");
        assert_eq!((&w, &b), (&w0, &b0));
        assert_eq!(opt.save_state(), state);
    }
    // A state made for other tensors.
    let mut other = Array2::<f64>::zeros((5, 3));
    let err = opt
        .step_sparse(
            &mut (&mut other, &mut b),
            &[
                RowGrad::new(&[2], ok.view()),
                RowGrad::new(&[2], ok_b.view()),
            ],
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::StateShapeMismatch { index: 0, .. }),
        "{err:?}"
    );
    // Under SkipStep a non-finite value skips the step without a trace.
    opt.set_non_finite_policy(NonFinitePolicy::SkipStep);
    opt.step_sparse(
        &mut (&mut w, &mut b),
        &[
            RowGrad::new(&[2], nan.view()),
            RowGrad::new(&[2], ok_b.view()),
        ],
    )
    .unwrap();
    assert!(matches!(
        opt.last_step(),
        StepOutcome::Skipped { index: 0, .. }
    ));
    assert_eq!((&w, &b), (&w0, &b0));
    assert_eq!(opt.step_count(), 1);
}

#[test]
fn build_refuses_what_pytorch_refuses() {
    let lr = |r: Result<SparseAdam<f32>, Error>| match r {
        Err(Error::InvalidHyperparameter { name, .. }) => name,
        other => panic!("{other:?}"),
    };
    assert_eq!(lr(SparseAdam::new(0.0)), "lr");
    assert_eq!(lr(SparseAdamConfig::default().eps(0.0).build()), "eps");
    assert_eq!(
        lr(SparseAdamConfig::default().betas((1.0, 0.9)).build()),
        "betas[0]"
    );
    // A schedule may take the learning rate to 0 afterwards, as in PyTorch.
    let mut opt = SparseAdam::<f32>::new(0.1).unwrap();
    opt.set_learning_rate(0.0).unwrap();
    let mut w = array![1.0_f32];
    opt.step(&mut w, &array![1.0]).unwrap();
    assert_eq!(w[0], 1.0);
}

#[cfg(feature = "serde")]
#[test]
fn a_saved_state_resumes_bit_for_bit() {
    let grad = |step: usize| {
        let indices: Vec<usize> = (0..5).map(|k| (k * 7 + step * 3) % 6).collect();
        let values = Array2::from_shape_fn((5, 3), |(k, j)| ((k + j + step) as f64 * 0.7).cos());
        (indices, values)
    };
    let mut w = table();
    let mut opt = SparseAdam::new(0.05).unwrap();
    for step in 0..4 {
        let (i, v) = grad(step);
        opt.step_sparse(&mut w, &[RowGrad::new(&i, v.view())])
            .unwrap();
    }
    let text = serde_json::to_string(&opt.save_state()).unwrap();
    let mut resumed = SparseAdam::<f64>::new(1.0).unwrap();
    resumed
        .load_state(serde_json::from_str(&text).unwrap())
        .unwrap();
    let mut w2 = w.clone();
    for step in 4..8 {
        let (i, v) = grad(step);
        opt.step_sparse(&mut w, &[RowGrad::new(&i, v.view())])
            .unwrap();
        resumed
            .step_sparse(&mut w2, &[RowGrad::new(&i, v.view())])
            .unwrap();
    }
    assert_eq!(bits(&w), bits(&w2));
}
