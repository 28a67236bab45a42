//! After the first step, `step` allocates nothing: proven with a counting global allocator, for
//! every optimizer and option in the test table, f32 and f64, for contiguous tensors of several
//! ranks in one call and for a strided view. And the state the first step allocates is exactly
//! what the algorithm needs: as many buffers of the parameters' size as the optimizer keeps.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ndarray::{Array1, Array2, Array3, ShapeBuilder, s};
use ndarray_optim::{Float, Optimizer};

struct Counting;

thread_local! {
    static COUNT: Cell<Option<usize>> = const { Cell::new(None) };
    static BYTES: Cell<Option<usize>> = const { Cell::new(None) };
}

// SAFETY: delegates to the system allocator; only counts on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get().map(|n| n + 1)));
        let _ = BYTES.try_with(|c| c.set(c.get().map(|n| n + layout.size())));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get().map(|n| n + 1)));
        let _ = BYTES.try_with(|c| c.set(c.get().map(|n| n + new_size)));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(Some(0)));
    f();
    COUNT.with(|c| c.replace(None)).unwrap_or(0)
}

/// Bytes allocated by `f` on this thread (reallocations count their new size).
fn bytes_allocated(f: impl FnOnce()) -> usize {
    BYTES.with(|c| c.set(Some(0)));
    f();
    BYTES.with(|c| c.replace(None)).unwrap_or(0)
}

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

/// The first step allocates the state and (almost) nothing else: `buffers` arrays of the
/// parameters' element count, plus a small fixed overhead for the bookkeeping of the two tensors.
#[test]
fn state_is_exactly_what_the_algorithm_needs() {
    use ndarray_optim::*;
    // Below the `rayon` threshold (2^16 elements), whose thread pool allocates on first use.
    const N: usize = 60_000;
    let cases: Vec<(Box<dyn Optimizer<f32>>, usize)> = vec![
        (Box::new(Sgd::new(0.1).unwrap()), 0),
        (Box::new(Momentum::new(0.1, 0.9).unwrap()), 1),
        (Box::new(Nesterov::new(0.1, 0.9).unwrap()), 1),
        (Box::new(Adagrad::new(0.1).unwrap()), 1),
        (Box::new(RmsProp::new(0.1).unwrap()), 1),
        (
            Box::new(
                RmsPropConfig::default()
                    .centered(true)
                    .momentum(0.9)
                    .build()
                    .unwrap(),
            ),
            3,
        ),
        (Box::new(Adadelta::new(1.0).unwrap()), 2),
        (Box::new(Adam::new(0.1).unwrap()), 2),
        (
            Box::new(AdamConfig::default().amsgrad(true).build().unwrap()),
            3,
        ),
        (Box::new(AdamW::new(0.1).unwrap()), 2),
        (Box::new(NAdam::new(0.1).unwrap()), 2),
        (Box::new(RAdam::new(0.1).unwrap()), 2),
        (Box::new(Adamax::new(0.1).unwrap()), 2),
        (Box::new(Lion::new(0.1).unwrap()), 1),
        (Box::new(Lamb::new(0.1).unwrap()), 2),
    ];
    for (mut opt, buffers) in cases {
        // Most elements in a matrix, the rest in a vector.
        let mut w = Array2::<f32>::ones((500, 100));
        let mut b = Array1::<f32>::ones(N - 50_000);
        let (gw, gb) = (
            Array2::<f32>::ones((500, 100)),
            Array1::<f32>::ones(N - 50_000),
        );
        let bytes = bytes_allocated(|| opt.step(&mut (&mut w, &mut b), &(&gw, &gb)).unwrap());
        let state = buffers * N * std::mem::size_of::<f32>();
        assert!(
            bytes >= state && bytes <= state + 4096,
            "{}: {bytes} bytes allocated, the state needs {state}",
            opt.name()
        );
    }
}
