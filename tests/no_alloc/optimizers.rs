//! After the first step, `step` allocates nothing: proven with a counting global allocator, for
//! every optimizer and option in the test table, f32 and f64, for contiguous tensors of several
//! ranks in one call and for a strided view. And the state the first step allocates is exactly
//! what the algorithm needs: as many buffers of the parameters' size as the optimizer keeps.

use super::{allocations, bytes_allocated};
use crate::common;

use ndarray::{Array1, Array2, Array3, ShapeBuilder, s};
use ndarray_optim::{Float, Optimizer};

fn check<A: Float>() {
    check_all(common::zoo::<A>());
}

fn check_all<A: Float>(zoo: Vec<Box<dyn Optimizer<A>>>) {
    let one = A::from_f64(1.0);
    for mut opt in zoo {
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

/// The same for the optimizers of matrices (Muon), on matrices: C order, Fortran order, a
/// `1 × n` row and a strided view.
fn check_matrices<A: Float>() {
    let one = A::from_f64(1.0);
    for mut opt in common::registry::zoo_of_matrices::<A>() {
        let mut w = Array2::from_shape_fn((16, 9), |(i, j)| A::from_f64((i * 9 + j) as f64 * 0.01));
        let mut b = Array2::from_elem((1, 9), one);
        let mut c = Array2::from_elem((6, 4).f(), one);
        let mut wide = Array2::from_elem((8, 12), one);
        let gw = Array2::from_elem((16, 9), A::from_f64(0.5));
        let gb = Array2::from_elem((1, 9), A::from_f64(-0.5));
        let gc = Array2::from_elem((6, 4), A::from_f64(0.25));
        let gs = Array2::from_elem((8, 6), A::from_f64(0.1));
        let mut step = |opt: &mut Box<dyn Optimizer<A>>| {
            let mut strided = wide.slice_mut(s![.., ..;2]);
            opt.step(
                &mut (&mut w, &mut b, &mut c, &mut strided),
                &(&gw, &gb, &gc, &gs),
            )
            .unwrap();
        };
        assert!(allocations(|| step(&mut opt)) > 0);
        for _ in 0..5 {
            let n = allocations(|| step(&mut opt));
            assert_eq!(n, 0, "{}: {n} allocations in a later step", opt.name());
        }
    }
}

#[test]
fn no_allocation_after_the_first_step() {
    check::<f32>();
    check::<f64>();
    check_matrices::<f32>();
    check_matrices::<f64>();
}

/// The same for 16-bit parameters: plain, with stochastic rounding (where it is offered) and
/// with `f32` master weights around every optimizer.
#[cfg(feature = "half")]
#[test]
fn sixteen_bit_steps_allocate_nothing_after_the_first() {
    use half::{bf16, f16};
    check::<bf16>();
    check::<f16>();
    check_matrices::<bf16>();
    let rounded = common::zoo::<bf16>()
        .into_iter()
        .filter_map(|mut opt| opt.set_stochastic_rounding(Some(1)).is_ok().then_some(opt))
        .collect::<Vec<_>>();
    assert!(rounded.len() >= 14);
    check_all(rounded);
    let master = common::zoo::<f32>()
        .into_iter()
        .map(|inner| {
            let mut opt = ndarray_optim::MasterWeights::<bf16, _>::new(inner);
            opt.set_stochastic_rounding(Some(2)).unwrap();
            Box::new(opt) as Box<dyn Optimizer<bf16>>
        })
        .collect();
    check_all(master);
}

/// Muon's first step allocates its momentum buffer (saved) and the Newton–Schulz iteration's
/// working space (not saved: `X` and the next `X`, `r × c` each, and two `r × r` matrices for
/// `r = min(rows, cols)`), and nothing else.
#[test]
fn muon_allocates_its_buffer_and_working_space_only() {
    for mut opt in common::registry::zoo_of_matrices::<f32>() {
        let (rows, cols) = (300, 120);
        let mut w = Array2::<f32>::ones((rows, cols));
        let g = Array2::<f32>::ones((rows, cols));
        let bytes = bytes_allocated(|| opt.step(&mut w, &g).unwrap());
        let saved = state_bytes(&opt.save_state());
        assert_eq!(saved, rows * cols * 4);
        let work = (2 * rows * cols + 2 * cols * cols) * 4;
        assert!(
            bytes >= saved + work && bytes <= saved + work + 4096,
            "{}: {bytes} bytes, the state and working space need {}",
            opt.name(),
            saved + work
        );
    }
}

/// The first step allocates the state and (almost) nothing else: the buffers its saved state
/// lists (the buffers created lazily on the first step included, each of its own size:
/// Adafactor's row and column statistics are smaller than the parameter), plus a small fixed
/// overhead for the bookkeeping of the two tensors. For every optimizer and option of the test
/// registry.
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
        let state = state_bytes(&opt.save_state());
        assert_eq!(opt.state_bytes(), state, "{}", opt.name());
        assert!(
            bytes >= state && bytes <= state + 4096,
            "{}: {bytes} bytes allocated, the state needs {state}",
            opt.name()
        );
    }
}

/// Bytes of the state buffers of a saved state (quantised codes and scales included), as the
/// optimizer itself reports them.
fn state_bytes<A: Float>(saved: &ndarray_optim::OptimizerState<A>) -> usize {
    saved.state_bytes()
}

/// Adafactor's point: the state of a 4096 × 4096 `f32` matrix is its row and column
/// statistics, 2 × 4096 numbers (32 KiB, 0.002 bytes per parameter), where Adam keeps two
/// buffers of the matrix's size (128 MiB, 8 bytes per parameter). Measured from the saved
/// state's buffers and from what the first step allocates.
#[test]
fn adafactor_state_of_a_4096_square_matrix_against_adams() {
    use ndarray_optim::{Adafactor, Adam};
    const N: usize = 4096;
    let mut w = Array2::<f32>::from_elem((N, N), 0.5);
    let g = Array2::<f32>::from_elem((N, N), 0.25);
    let mut measure = |mut opt: Box<dyn Optimizer<f32>>| {
        let allocated = bytes_allocated(|| opt.step(&mut w, &g).unwrap());
        let state = state_bytes(&opt.save_state());
        // Beyond the state: the bookkeeping, and with `rayon` (on in the tests) the thread
        // pool's start and the per-block partial sums of this large tensor's norms.
        assert!(
            allocated >= state && allocated <= state + (256 << 10),
            "{allocated} vs {state}"
        );
        state as f64 / (N * N) as f64
    };
    let adafactor = measure(Box::new(Adafactor::new(0.01).unwrap()));
    let adam = measure(Box::new(Adam::new(1e-3).unwrap()));
    println!(
        "bytes of state per parameter, 4096 x 4096 f32: Adafactor {adafactor:.5}, Adam {adam}"
    );
    assert_eq!(adafactor, (2 * N * 4) as f64 / (N * N) as f64); // 0.00195
    assert_eq!(adam, 8.0);
}

/// SparseAdam's row-sparse step allocates nothing after the first (for a table, a vector and
/// a strided view, with repeated rows and more than 16 entries, so that std::sort's order is
/// reproduced), as long as no step brings more entries than one before it (the working space
/// that orders them grows then).
#[test]
fn sparse_steps_allocate_nothing_after_the_first() {
    fn check<A: Float>() {
        use ndarray_optim::{RowGrad, SparseAdam};
        let mut table = Array2::<A>::from_elem((50, 8), A::from_f64(0.5));
        let mut bias = Array1::<A>::zeros(50);
        let mut wide = Array2::<A>::zeros((50, 8));
        let indices: Vec<usize> = (0..40).map(|k| (k * 13) % 17).collect();
        let values =
            Array2::<A>::from_shape_fn((40, 8), |(k, j)| A::from_f64((k + j) as f64 * 0.1));
        let bias_values = Array1::<A>::from_shape_fn(40, |k| A::from_f64(k as f64 * 0.01));
        let strided_values = Array2::<A>::from_elem((40, 4), A::from_f64(0.2));
        let mut opt = SparseAdam::<A>::new(1e-3).unwrap();
        let mut step = |opt: &mut SparseAdam<A>, n: usize| {
            let mut strided = wide.slice_mut(s![.., ..;2]);
            opt.step_sparse(
                &mut (&mut table, &mut bias, &mut strided),
                &[
                    RowGrad::new(&indices[..n], values.slice(s![..n, ..])),
                    RowGrad::new(&indices[..n], bias_values.slice(s![..n])),
                    RowGrad::new(&indices[..n], strided_values.slice(s![..n, ..])),
                ],
            )
            .unwrap();
        };
        assert!(allocations(|| step(&mut opt, 40)) > 0);
        for n in [40, 3, 0, 17, 40] {
            let count = allocations(|| step(&mut opt, n));
            assert_eq!(count, 0, "{}: {count} allocations for {n} entries", A::NAME);
        }
    }
    check::<f32>();
    check::<f64>();
}

/// `AveragedModel` allocates its averages on the first update and nothing after, for both
/// kinds of averaging, C-order, Fortran-order and strided parameters.
#[test]
fn averaging_allocates_nothing_after_the_first_update() {
    use ndarray_optim::swa_utils::AveragedModel;
    for mut avg in [
        AveragedModel::<f32>::swa(),
        AveragedModel::ema(0.99).unwrap(),
    ] {
        let w = Array2::<f32>::from_elem((16, 9), 0.5);
        let c = Array3::<f32>::from_elem((2, 3, 4).f(), 1.0);
        let wide = Array2::<f32>::from_elem((8, 12), 0.25);
        let update = |avg: &mut AveragedModel<f32>| {
            avg.update_parameters(&(&w, &c, &wide.slice(s![.., ..;2])))
                .unwrap();
        };
        assert!(allocations(|| update(&mut avg)) > 0);
        for _ in 0..3 {
            assert_eq!(allocations(|| update(&mut avg)), 0);
        }
    }
}
