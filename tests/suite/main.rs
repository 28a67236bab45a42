//! The integration tests, in one binary (one link on a small machine instead of one per file).
//! Two stay binaries of their own: `tests/no_alloc` installs a counting global allocator, and
//! `tests/reference` reads the PyTorch fixtures, which are not in the published package.

#[path = "../common/mod.rs"]
mod common;

mod accumulate;
mod bad_input;
mod convergence;
mod distributed;
mod finder;
mod groups;
mod hostile;
mod hostile_properties;
mod invariants;
mod layouts;
mod lbfgs;
mod lookahead;
mod low_memory_accuracy;
mod lowbit;
mod master_weights;
mod matrices_only;
mod non_finite;
mod parallel;
mod properties;
mod registry;
mod resume;
mod schedule_free;
mod schedule_groups;
mod sparse_adam;
mod stochastic_rounding;
mod swa;
mod traits;
