//! With the `rayon` feature, results are bit-identical whatever the thread count: large tensors
//! are split into chunks, many tensors are spread across threads, and LAMB's norms and global
//! gradient norm are summed in a fixed order of whole blocks.
#![cfg(feature = "rayon")]

use crate::common;

use ndarray::{Array1, Array2, Array3, ShapeBuilder};
use ndarray_optim::{Float, Optimizer};

/// A model with tensors above and below the parallel threshold, in C and F order.
struct Model<A> {
    big: Array2<A>,
    f_order: Array2<A>,
    long: Array1<A>,
    small: Array1<A>,
    cube: Array3<A>,
}

/// The premise of these tests: the model has tensors on both sides of the threshold, and in all
/// more elements than it, so every parallel path is taken.
#[test]
fn the_model_straddles_the_parallel_threshold() {
    let m = model::<f32>(0.0);
    assert!(m.long.len() >= ndarray_optim::PARALLEL_MIN_LEN);
    assert!(m.big.len() < ndarray_optim::PARALLEL_MIN_LEN);
    assert!(m.small.len() < ndarray_optim::PARALLEL_MIN_LEN);
    let rest = m.big.len() + m.f_order.len() + m.small.len() + m.cube.len();
    assert!(
        rest < ndarray_optim::PARALLEL_MIN_LEN,
        "the small tensors alone stay serial"
    );
}

fn model<A: Float>(seed: f64) -> Model<A> {
    let v = |i: usize| A::from_f64(((i as f64) * 0.0123 + seed).sin());
    Model {
        big: Array2::from_shape_fn((41, 29), |(i, j)| v(i * 29 + j)),
        f_order: Array2::from_shape_fn((57, 30).f(), |(i, j)| v(i * 7 + j * 3)),
        // Above the threshold (2¹⁶): split into chunks, its norms into blocks.
        long: Array1::from_shape_fn(70_001, v),
        small: Array1::from_shape_fn(33, v),
        cube: Array3::from_shape_fn((4, 5, 6), |(i, j, k)| v(i + 2 * j + 3 * k)),
    }
}

fn run<A: Float>(opt: &mut dyn Optimizer<A>, threads: usize) -> Vec<u64> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut m = model::<A>(0.0);
        for step in 0..2 {
            let g = model::<A>(1.0 + step as f64);
            opt.step(
                &mut (
                    &mut m.big,
                    &mut m.f_order,
                    &mut m.long,
                    &mut m.small,
                    &mut m.cube,
                ),
                &(&g.big, &g.f_order, &g.long, &g.small, &g.cube),
            )
            .unwrap();
        }
        // Also one big tensor on its own (chunked, not spread).
        let mut alone = model::<A>(0.5).long;
        opt.reset_state();
        opt.step(&mut alone, &model::<A>(2.0).long).unwrap();
        m.big
            .iter()
            .chain(&m.f_order)
            .chain(&m.long)
            .chain(&m.small)
            .chain(&m.cube)
            .chain(&alone)
            .map(|x| x.widen().to_bits())
            .collect()
    })
}

fn same_for_every_thread_count<A: Float>() {
    for index in 0..common::zoo::<A>().len() {
        let serial = run::<A>(common::zoo::<A>().remove(index).as_mut(), 1);
        for threads in [2, 3] {
            let mut opt = common::zoo::<A>().remove(index);
            let parallel = run::<A>(opt.as_mut(), threads);
            assert!(
                serial == parallel,
                "{} with {threads} threads differs from 1 thread",
                opt.name()
            );
        }
    }
}

#[test]
fn bit_identical_for_every_thread_count_f32() {
    same_for_every_thread_count::<f32>();
}

#[test]
fn bit_identical_for_every_thread_count_f64() {
    same_for_every_thread_count::<f64>();
}
