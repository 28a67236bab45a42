//! After the first step, `step` allocates nothing: proven with a counting global allocator, for
//! every optimizer and option in the test table, f32 and f64, for contiguous tensors of several
//! ranks in one call and for a strided view. And the state the first step allocates is exactly
//! what the algorithm needs: as many buffers of the parameters' size as the optimizer keeps.

use super::{allocations, bytes_allocated};
use crate::common;

use ndarray::{Array1, Array2, Array3, ShapeBuilder, s};
use ndarray_optim::{Float, Optimizer};

fn check<A: Float>() {
    let one = A::from_f64(1.0);
    for mut opt in common::zoo::<A>() {
        let mut w = Array2::from_shape_fn((16, 9), |(i, j)| A::from_f64((i * 9 + j) as f64 * 0.01));
        let mut b = Array1::from_elem(9, one);
        let mut c = Array3::from_elem((2, 3, 4).f(), one);
        let mut wide = Array2::from_elem((8, 12), one);
        let gw = Array2::from_elem((16, 9), A::from_f64(0.5));
        let gb = Array1::from_elem(9, A::from_f64(-0.5));
        let gc = Array3::from_elem((2, 3, 4), A::from_f64(0.25));
        let gs = Array2::from_elem((8, 6), A::from_f64(0.1));
        let mut step = |opt: &mut Box<dyn Optimizer<A>>| {
            let mut strided = wide.slice_mut(s![.., ..;2]);
            opt.step(
                &mut (&mut w, &mut b, &mut c, &mut strided),
                &(&gw, &gb, &gc, &gs),
            )
            .unwrap();
        };
        let first = allocations(|| step(&mut opt));
        assert!(first > 0, "the first step creates the state");
        for _ in 0..5 {
            let n = allocations(|| step(&mut opt));
            assert_eq!(n, 0, "{}: {n} allocations in a later step", opt.name());
        }
        opt.set_learning_rate(opt.learning_rate() * 0.5).unwrap();
        assert_eq!(
            allocations(|| step(&mut opt)),
            0,
            "{}: after set_learning_rate",
            opt.name()
        );
    }
}

#[test]
fn no_allocation_after_the_first_step() {
    check::<f32>();
    check::<f64>();
}

/// The first step allocates the state and (almost) nothing else: the buffers its saved state
/// lists (each of the parameters' element count, the buffers created lazily on the first step
/// included), plus a small fixed overhead for the bookkeeping of the two tensors. For every
/// optimizer and option of the test registry.
#[test]
fn state_is_exactly_what_the_algorithm_needs() {
    // Below the `rayon` threshold (2^16 elements), whose thread pool allocates on first use.
    const N: usize = 60_000;
    for mut opt in common::zoo::<f32>() {
        // Most elements in a matrix, the rest in a vector.
        let mut w = Array2::<f32>::ones((500, 100));
        let mut b = Array1::<f32>::ones(N - 50_000);
        let (gw, gb) = (
            Array2::<f32>::ones((500, 100)),
            Array1::<f32>::ones(N - 50_000),
        );
        let bytes = bytes_allocated(|| opt.step(&mut (&mut w, &mut b), &(&gw, &gb)).unwrap());
        let saved = opt.save_state();
        let buffers = saved.tensors[0].buffers.len();
        assert!(
            saved.tensors.iter().all(|t| t.buffers.len() == buffers),
            "{}: every tensor has the same buffers",
            opt.name()
        );
        let state = buffers * N * std::mem::size_of::<f32>();
        assert!(
            bytes >= state && bytes <= state + 4096,
            "{}: {bytes} bytes allocated, the state needs {state}",
            opt.name()
        );
    }
}
