//! After the first step, `step` allocates nothing: proven with a counting global allocator, for
//! every optimizer and option in the test table, f32 and f64, for contiguous tensors of several
//! ranks in one call and for a strided view.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ndarray::{Array1, Array2, Array3, ShapeBuilder, s};
use ndarray_optim::{Float, Optimizer};

struct Counting;

thread_local! {
    static COUNT: Cell<Option<usize>> = const { Cell::new(None) };
}

// SAFETY: delegates to the system allocator; only counts on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get().map(|n| n + 1)));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get().map(|n| n + 1)));
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
