//! The optimizers that take matrices only (Muon: `Spec::matrices_only` in the test registry)
//! get the generic tests' invariants here, on 2-D tensors, where the other files give the rest
//! of the registry tensors of several ranks: every layout gives the same bits, bad input
//! (another rank included) changes nothing, skipped steps leave no trace, a run resumes bit for
//! bit, every thread count gives the same bits, and any configuration is NaN-free on finite
//! input.

use crate::common::registry::{strategies::any_matrix_config, zoo_of_matrices};

use ndarray::{Array1, Array2, ShapeBuilder, s};
use ndarray_optim::{Error, Float, NonFinitePolicy, Optimizer, OptimizerConfig};
use proptest::prelude::*;

fn init<A: Float>(rows: usize, cols: usize, seed: f64) -> Array2<A> {
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        A::from_f64(((i * cols + j) as f64 * 0.37 + seed).sin())
    })
}

fn grad<A: Float>(rows: usize, cols: usize, step: usize) -> Array2<A> {
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        A::from_f64(
            ((i + 2 * j) as f64 * 0.9 + step as f64 * 1.3).cos() * [1.0, 0.1, 3.0][step % 3],
        )
    })
}

fn bits<A: Float>(m: &Array2<A>) -> Vec<u64> {
    m.iter().map(|x| x.widen().to_bits()).collect()
}

/// A tall, a wide and a `1 × n` matrix (what a bias vector becomes), stepped together.
fn run<A: Float>(
    opt: &mut dyn Optimizer<A>,
    steps: std::ops::Range<usize>,
    p: &mut [Array2<A>; 3],
) {
    for step in steps {
        let g: Vec<Array2<A>> = p.iter().map(|m| grad(m.nrows(), m.ncols(), step)).collect();
        let [a, b, c] = p;
        opt.step(&mut (&mut *a, &mut *b, &mut *c), &(&g[0], &g[1], &g[2]))
            .unwrap();
    }
}

fn params<A: Float>() -> [Array2<A>; 3] {
    [init(7, 3, 0.0), init(3, 5, 1.0), init(1, 4, 2.0)]
}

fn layouts_agree<A: Float>() {
    for index in 0..zoo_of_matrices::<A>().len() {
        let mut reference = params::<A>();
        run(zoo_of_matrices::<A>()[index].as_mut(), 0..6, &mut reference);
        // Fortran order, a strided view and a reversed view of the same values.
        let (rows, cols) = (7, 3);
        let mut f = Array2::<A>::zeros((rows, cols).f());
        f.assign(&init::<A>(rows, cols, 0.0));
        let mut big = Array2::<A>::from_elem((3, 10), A::from_f64(-7.0));
        big.slice_mut(s![.., ..;2]).assign(&init::<A>(3, 5, 1.0));
        let mut rev = Array2::<A>::zeros((1, 4));
        rev.slice_mut(s![.., ..;-1]).assign(&init::<A>(1, 4, 2.0));
        let mut opt = zoo_of_matrices::<A>().remove(index);
        for step in 0..6 {
            let g = [grad::<A>(7, 3, step), grad(3, 5, step), grad(1, 4, step)];
            let mut strided = big.slice_mut(s![.., ..;2]);
            let mut reversed = rev.slice_mut(s![.., ..;-1]);
            opt.step(
                &mut (&mut f, &mut strided, &mut reversed),
                &(&g[0], &g[1], &g[2]),
            )
            .unwrap();
        }
        let name = opt.name();
        assert_eq!(
            bits(&f.as_standard_layout().to_owned()),
            bits(&reference[0]),
            "{name}"
        );
        assert_eq!(
            bits(&big.slice(s![.., ..;2]).to_owned()),
            bits(&reference[1]),
            "{name}"
        );
        assert!(
            big.slice(s![.., 1..;2])
                .iter()
                .all(|&x| x == A::from_f64(-7.0))
        );
        assert_eq!(
            bits(&rev.slice(s![.., ..;-1]).to_owned()),
            bits(&reference[2]),
            "{name}"
        );
    }
}

#[test]
fn every_layout_gives_bit_identical_results() {
    layouts_agree::<f32>();
    layouts_agree::<f64>();
}

#[test]
fn bad_input_changes_nothing() {
    for mut opt in zoo_of_matrices::<f64>() {
        let mut p = params::<f64>();
        run(opt.as_mut(), 0..2, &mut p);
        let saved = opt.save_state();
        let before: Vec<Vec<u64>> = p.iter().map(bits).collect();
        let g: Vec<Array2<f64>> = p.iter().map(|m| grad(m.nrows(), m.ncols(), 5)).collect();
        let [a, b, c] = &mut p;
        // A vector where the matrices were: refused for its rank, before anything changes.
        let mut v = Array1::<f64>::zeros(4);
        let err = opt
            .step(
                &mut (&mut *a, &mut *b, &mut v),
                &(&g[0], &g[1], &Array1::<f64>::ones(4)),
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::UnsupportedRank {
                    index: 2,
                    rank: 1,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("another optimizer"), "{err}");
        let mut bad = g[1].clone();
        bad[[1, 2]] = f64::NAN;
        assert!(matches!(
            opt.step(&mut (&mut *a, &mut *b, &mut *c), &(&g[0], &bad, &g[2])),
            Err(Error::NonFiniteGradient { index: 1, .. })
        ));
        assert!(matches!(
            opt.step(&mut (&mut *a, &mut *b, &mut *c), &(&g[0], &g[2], &g[1])),
            Err(Error::ShapeMismatch { index: 1, .. })
        ));
        let after: Vec<Vec<u64>> = p.iter().map(bits).collect();
        assert_eq!(after, before, "{}", opt.name());
        assert_eq!(opt.save_state(), saved, "{}", opt.name());
        // A scalar and a 3-D tensor are refused by `check_step` too.
        let (mut s0, mut t3) = (ndarray::arr0(1.0), ndarray::Array3::<f64>::ones((2, 2, 2)));
        assert!(matches!(
            opt.check_step(&(&s0, &t3, &t3), &(&ndarray::arr0(1.0), &t3, &t3)),
            Err(Error::UnsupportedRank {
                index: 0,
                rank: 0,
                ..
            })
        ));
        let _ = (&mut s0, &mut t3);
    }
}

#[test]
fn skipped_steps_leave_no_trace_and_runs_resume_bit_for_bit() {
    for index in 0..zoo_of_matrices::<f64>().len() {
        let mut reference = params::<f64>();
        let mut ref_opt = zoo_of_matrices::<f64>().remove(index);
        run(ref_opt.as_mut(), 0..8, &mut reference);

        let mut p = params::<f64>();
        let mut opt = zoo_of_matrices::<f64>().remove(index);
        opt.set_non_finite_policy(NonFinitePolicy::SkipStep);
        run(opt.as_mut(), 0..4, &mut p);
        let [a, b, c] = &mut p;
        let mut bad = grad::<f64>(3, 5, 0);
        bad[[0, 0]] = f64::INFINITY;
        opt.step(
            &mut (&mut *a, &mut *b, &mut *c),
            &(&grad(7, 3, 0), &bad, &grad(1, 4, 0)),
        )
        .unwrap();
        assert_eq!(opt.skipped_steps(), 1);
        let json = serde_json::to_string(&opt.save_state()).unwrap();
        let mut resumed = zoo_of_matrices::<f64>().remove(index);
        resumed
            .load_state(serde_json::from_str(&json).unwrap())
            .unwrap();
        run(resumed.as_mut(), 4..8, &mut p);
        for (got, want) in p.iter().zip(&reference) {
            assert_eq!(bits(got), bits(want), "{}", resumed.name());
        }
    }
}

#[test]
fn every_thread_count_gives_the_same_bits() {
    for index in 0..zoo_of_matrices::<f32>().len() {
        let results: Vec<Vec<u64>> = [1, 2, 3]
            .iter()
            .map(|&threads| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| {
                    let mut p = [
                        init::<f32>(40, 30, 0.0),
                        init(30, 8, 1.0),
                        init(1, 70_000, 2.0),
                    ];
                    run(zoo_of_matrices::<f32>()[index].as_mut(), 0..2, &mut p);
                    p.iter().flat_map(bits).collect()
                })
            })
            .collect();
        assert!(results.windows(2).all(|w| w[0] == w[1]));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Any valid configuration, matrices of any size (empty ones included), values from 1e-30
    /// to 1e30: no NaN from finite input.
    #[test]
    fn no_nan_from_finite_input(
        config in any_matrix_config(),
        rows in 0usize..6,
        cols in 1usize..6,
        scale in prop_oneof![Just(1e-30), Just(1.0), Just(1e30)],
    ) {
        let mut opt = OptimizerConfig::build::<f32>(config).unwrap();
        let mut w = init::<f32>(rows, cols, 0.5);
        for step in 0..3 {
            let g = grad::<f64>(rows, cols, step).mapv(|x| (x * scale) as f32);
            opt.step(&mut w, &g).unwrap();
            prop_assert!(w.iter().all(|x| !x.is_nan()));
        }
    }
}
