//! Against the references, in one binary: trajectories, clipped gradients and learning rates
//! recorded from PyTorch 2.15 (timm for LAMB, optax for Lion) by the scripts in
//! `tests/fixtures/`. Kept apart from `tests/suite` because the fixtures (megabytes) are not in
//! the published package.

#[path = "../common/mod.rs"]
mod common;

mod clip;
mod finder;
mod lbfgs;
mod lowbit;
mod parity;
mod quant;
mod schedule_groups;
mod schedules;
mod sparse_adam;
mod swa;
