//! One file per optimizer, and the registry: the list below. Each line declares the file, the
//! public type, its configuration and its name; [`optimizers!`](crate::registry) generates the
//! rest ([`OptimizerKind`], [`OptimizerConfig`], the conversions of the saved form).
//!
//! To add an optimizer: write `src/optim/<name>.rs` (its configuration with [`config!`], its
//! state with [`state!`], its [`Kernel`](crate::driver::Kernel) and
//! [`optimizer_type!`](crate::driver)), add its line here, and its fixture cases; see
//! `ARCHITECTURE.md`.
//!
//! [`config!`]: crate::builder
//! [`state!`]: crate::driver::buffers

crate::registry::optimizers! {
    /// Plain stochastic gradient descent, PyTorch's `torch.optim.SGD` with every option.
    sgd::Sgd(SgdConfig) "SGD";
    /// SGD with heavy-ball momentum: `torch.optim.SGD(momentum=μ)`.
    momentum::Momentum(MomentumConfig) "Momentum";
    /// SGD with Nesterov momentum: `torch.optim.SGD(momentum=μ, nesterov=True)`.
    nesterov::Nesterov(NesterovConfig) "Nesterov";
    /// Adagrad: `torch.optim.Adagrad`.
    adagrad::Adagrad(AdagradConfig) "Adagrad";
    /// RMSProp: `torch.optim.RMSprop`.
    rmsprop::RmsProp(RmsPropConfig) "RMSprop";
    /// Adadelta: `torch.optim.Adadelta`.
    adadelta::Adadelta(AdadeltaConfig) "Adadelta";
    /// Adam and AMSGrad: `torch.optim.Adam`.
    adam::Adam(AdamConfig) "Adam";
    /// AdamW: `torch.optim.AdamW`.
    adamw::AdamW(AdamWConfig) "AdamW";
    /// NAdam: `torch.optim.NAdam`.
    nadam::NAdam(NAdamConfig) "NAdam";
    /// RAdam: `torch.optim.RAdam`.
    radam::RAdam(RAdamConfig) "RAdam";
    /// Adamax: `torch.optim.Adamax`.
    adamax::Adamax(AdamaxConfig) "Adamax";
    /// Lion: optax's `lion`.
    lion::Lion(LionConfig) "Lion";
    /// LAMB: timm's `Lamb`.
    lamb::Lamb(LambConfig) "Lamb";
    /// Rprop: `torch.optim.Rprop`.
    rprop::Rprop(RpropConfig) "Rprop";
    /// ASGD: `torch.optim.ASGD`.
    asgd::Asgd(AsgdConfig) "ASGD";
    /// Adafactor: `torch.optim.Adafactor`.
    adafactor::Adafactor(AdafactorConfig) "Adafactor";
    /// Muon: `torch.optim.Muon`.
    muon::Muon(MuonConfig) "Muon";
    /// SparseAdam: `torch.optim.SparseAdam`.
    sparse_adam::SparseAdam(SparseAdamConfig) "SparseAdam";
    /// Adan: timm's `Adan`.
    adan::Adan(AdanConfig) "Adan";
    /// LARS: timm's `Lars`.
    lars::Lars(LarsConfig) "Lars";
    /// Schedule-Free AdamW: `schedulefree.AdamWScheduleFree`.
    schedule_free_adamw::ScheduleFreeAdamW(ScheduleFreeAdamWConfig) "ScheduleFreeAdamW";
    /// Schedule-Free SGD: `schedulefree.SGDScheduleFree`.
    schedule_free_sgd::ScheduleFreeSgd(ScheduleFreeSgdConfig) "ScheduleFreeSgd";
    /// Prodigy: `prodigyopt.Prodigy`.
    prodigy::Prodigy(ProdigyConfig) "Prodigy";
}

mod lbfgs;
mod schedule_free;

pub use lbfgs::{
    Lbfgs, LbfgsConfig, LbfgsError, LbfgsHistory, LbfgsState, LbfgsStep, LbfgsStop, LineSearch,
};
pub use muon::{AdjustLr, NewtonSchulzPrecision};
pub use sparse_adam::RowGrad;
