//! Wrappers: optimizers that hold another optimizer and change when or how it steps.
//!
//! A wrapper implements [`Optimizer`](crate::Optimizer) itself, checks its own inputs with the
//! same shared checks as the driver (`crate::check`), asks the inner optimizer's
//! [`check_step`](crate::Optimizer::check_step) before it changes anything, and saves its own
//! state beside the inner one in the same [`OptimizerState`](crate::OptimizerState).

mod lookahead;
mod master_weights;
mod multi_steps;

pub use lookahead::{Lookahead, LookaheadConfig};
pub use master_weights::MasterWeights;
pub use multi_steps::{AccumulationMode, MultiSteps, MultiStepsConfig, Transform};
