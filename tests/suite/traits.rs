//! Every public type is `Send + Sync + Clone + Debug`, so optimizers, schedules and their
//! states can be stored anywhere, moved to other threads and logged.

use ndarray_optim::schedule::{
    AnnealStrategy, ChainedScheduler, ConstantLr, CosineAnnealingLr, CosineAnnealingWarmRestarts,
    CyclicLr, CyclicMode, ExponentialLr, LambdaLr, LinearLr, MultiStepLr, MultiplicativeLr,
    OneCycleLr, PlateauMode, PlateauState, PolynomialLr, ReduceLrOnPlateau, ScaleMode, Schedule,
    Scheduler, SchedulerState, SequentialLr, StepLr, ThresholdMode, Warmup, WarmupDecay,
};
use ndarray_optim::*;

fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug>() {}

/// The optimizer types and their configurations are checked by the registry itself, at compile
/// time, for every entry (`src/registry.rs`); here, everything else.
fn optimizers<A: Float>() {
    assert_traits::<MultiSteps<A, Adam<A>>>();
    assert_traits::<Lookahead<A, Adam<A>>>();
    assert_traits::<Box<dyn Optimizer<A>>>();
    assert_traits::<OptimizerState<A>>();
    assert_traits::<TensorState<A>>();
}

#[test]
fn every_public_type_is_send_sync_clone_debug() {
    optimizers::<f32>();
    optimizers::<f64>();
    assert_traits::<OptimizerConfig>();
    assert_traits::<OptimizerKind>();
    assert_traits::<NonFinitePolicy>();
    assert_traits::<StepOutcome>();
    assert_traits::<ParamGroup>();
    assert_traits::<ParamGroups>();
    assert_traits::<AccumulationMode>();
    assert_traits::<Error>();

    assert_traits::<StepLr>();
    assert_traits::<MultiStepLr>();
    assert_traits::<ConstantLr>();
    assert_traits::<LinearLr>();
    assert_traits::<ExponentialLr>();
    assert_traits::<PolynomialLr>();
    assert_traits::<LambdaLr>();
    assert_traits::<MultiplicativeLr>();
    assert_traits::<CosineAnnealingLr>();
    assert_traits::<CosineAnnealingWarmRestarts>();
    assert_traits::<CyclicLr>();
    assert_traits::<CyclicMode>();
    assert_traits::<ScaleMode>();
    assert_traits::<OneCycleLr>();
    assert_traits::<AnnealStrategy>();
    assert_traits::<SequentialLr>();
    assert_traits::<ChainedScheduler>();
    assert_traits::<Warmup>();
    assert_traits::<WarmupDecay>();
    assert_traits::<ReduceLrOnPlateau>();
    assert_traits::<PlateauMode>();
    assert_traits::<ThresholdMode>();
    assert_traits::<PlateauState>();
    assert_traits::<Box<dyn Schedule>>();
    assert_traits::<Scheduler>();
    assert_traits::<Scheduler<CosineAnnealingLr>>();
    assert_traits::<SchedulerState>();
}
