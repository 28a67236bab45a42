//! How the examples draw each optimizer: one colour per [`OptimizerKind`], the same in every
//! picture. Shared by `landscapes` and `train_mlp`, each of which includes it with
//! `#[path = "common/palette.rs"] mod palette;`.

use ndarray_optim::OptimizerKind;

/// The colour and line style of one optimizer's curves.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    /// Red, green, blue.
    pub colour: (u8, u8, u8),
    /// Drawn dashed, to tell apart curves of similar colours.
    pub dashed: bool,
}

/// Colours for kinds added to the crate after this table was written, taken in turn; drawn
/// dashed.
const SPARE: [(u8, u8, u8); 4] = [(0, 128, 128), (128, 0, 0), (0, 0, 128), (128, 128, 0)];

/// The style of `kind`: the classic eight solid, in the colours of matplotlib's `tab10`; the
/// Adam variants and Lion dashed.
pub fn style(kind: OptimizerKind) -> Style {
    let solid = |colour| Style {
        colour,
        dashed: false,
    };
    let dashed = |colour| Style {
        colour,
        dashed: true,
    };
    match kind {
        OptimizerKind::Sgd => solid((214, 39, 40)),
        OptimizerKind::Momentum => solid((31, 119, 180)),
        OptimizerKind::Nesterov => solid((23, 190, 207)),
        OptimizerKind::Adagrad => solid((44, 160, 44)),
        OptimizerKind::RmsProp => solid((255, 127, 14)),
        OptimizerKind::Adadelta => solid((140, 86, 75)),
        OptimizerKind::Adam => solid((148, 103, 189)),
        OptimizerKind::Lamb => solid((227, 119, 194)),
        OptimizerKind::AdamW => dashed((80, 40, 140)),
        OptimizerKind::NAdam => dashed((188, 189, 34)),
        OptimizerKind::RAdam => dashed((110, 110, 110)),
        OptimizerKind::Adamax => dashed((20, 20, 20)),
        OptimizerKind::Lion => dashed((230, 170, 0)),
        // Its spare colour would be Rprop's.
        OptimizerKind::SparseAdam => dashed((230, 0, 230)),
        // A kind this table does not know yet (the enum is non-exhaustive).
        _ => {
            let position = OptimizerKind::ALL.iter().position(|&k| k == kind);
            dashed(SPARE[position.unwrap_or(0) % SPARE.len()])
        }
    }
}

/// The style of L-BFGS, which is not an [`OptimizerKind`] (its step takes a closure): solid
/// black.
#[allow(dead_code)] // used by `landscapes` only
pub fn lbfgs_style() -> Style {
    Style {
        colour: (0, 0, 0),
        dashed: false,
    }
}
