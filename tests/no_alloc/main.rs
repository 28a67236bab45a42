//! Allocation counts, in a binary of its own because it installs a counting global allocator
//! (counting per thread, so the tests may run in parallel): after the first step, `step`
//! allocates nothing, for every optimizer of the registry, `MultiSteps` and the clipping
//! functions; the first step allocates exactly the state.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

#[path = "../common/mod.rs"]
mod common;

mod clip_accumulate;
mod optimizers;
mod schedules;
mod sharded;

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
pub fn allocations(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(Some(0)));
    f();
    COUNT.with(|c| c.replace(None)).unwrap_or(0)
}

/// Bytes allocated by `f` on this thread (reallocations count their new size).
pub fn bytes_allocated(f: impl FnOnce()) -> usize {
    BYTES.with(|c| c.set(Some(0)));
    f();
    BYTES.with(|c| c.replace(None)).unwrap_or(0)
}
