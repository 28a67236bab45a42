//! Neural-network optimizers for [`ndarray`], with PyTorch's numbers.
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![deny(clippy::float_cmp)]

mod error;
mod float;
mod optim;
mod tensor;

pub use error::Error;
pub use float::Float;
pub use optim::{
    Adadelta, AdadeltaConfig, Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, Lamb, LambConfig,
    Momentum, Nesterov, NonFinitePolicy, Optimizer, RmsProp, RmsPropConfig, Sgd, SgdConfig,
};
pub use tensor::{Tensor, TensorList, TensorListMut, TensorMut};
