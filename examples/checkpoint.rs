//! Checkpoint and resume: stop training at any step and continue exactly where it stopped.
//!
//! Trains a small least-squares model with AdamW (no decay on the bias) for 60 steps, keeping
//! an exponential moving average of the weights (`swa_utils::AveragedModel::ema`), in two ways:
//! straight through, and stopped after 25 steps, with the parameters, the optimizer and the
//! average written to one checkpoint file (JSON), everything dropped, then rebuilt from the
//! file and run to the end. The two final models and averages agree bit for bit.
//!
//! ```text
//! cargo run --release --example checkpoint [-- <checkpoint path>]
//! ```

use std::path::PathBuf;

use ndarray::{Array1, Array2, Axis, array};
use ndarray_optim::swa_utils::{AveragedModel, AveragedModelState};
use ndarray_optim::{AdamW, Optimizer, OptimizerState, ParamGroups};
use serde::{Deserialize, Serialize};

const STEPS: usize = 60;
const STOP_AT: usize = 25;

/// What a checkpoint holds: the model, the optimizer and the averaged model, plus where we
/// were. (As in PyTorch, the average is a state of its own beside the optimizer's.)
#[derive(Serialize, Deserialize)]
struct Checkpoint {
    step: usize,
    w: Array2<f32>,
    b: Array1<f32>,
    optimizer: OptimizerState<f32>,
    ema: AveragedModelState<f32>,
}

const EMA_DECAY: f64 = 0.9;

/// A deterministic mini-batch: inputs and targets of y = x·W* + b*.
fn batch(step: usize) -> (Array2<f32>, Array2<f32>) {
    let x = Array2::from_shape_fn((16, 3), |(i, j)| {
        ((step * 16 + i) as f32 * 0.37 + j as f32).sin()
    });
    let w_true = array![[1.5f32, -2.0], [0.5, 1.0], [-1.0, 0.25]];
    let y = x.dot(&w_true) + &array![0.3f32, -0.7];
    (x, y)
}

fn gradients(w: &Array2<f32>, b: &Array1<f32>, step: usize) -> (Array2<f32>, Array1<f32>) {
    let (x, y) = batch(step);
    let err = x.dot(w) + b - y;
    let scale = 2.0 / err.len() as f32;
    (x.t().dot(&err) * scale, err.sum_axis(Axis(0)) * scale)
}

fn new_optimizer(w: &Array2<f32>, b: &Array1<f32>) -> Result<AdamW<f32>, ndarray_optim::Error> {
    let mut opt = AdamW::new(0.05)?;
    opt.set_param_groups(Some(ParamGroups::no_decay_for_vectors(&(w, b))))?;
    Ok(opt)
}

fn train(
    opt: &mut AdamW<f32>,
    ema: &mut AveragedModel<f32>,
    w: &mut Array2<f32>,
    b: &mut Array1<f32>,
    steps: std::ops::Range<usize>,
) -> Result<(), ndarray_optim::Error> {
    for step in steps {
        let (gw, gb) = gradients(w, b, step);
        opt.step(&mut (&mut *w, &mut *b), &(&gw, &gb))?;
        ema.update_parameters(&(&*w, &*b))?;
    }
    Ok(())
}

/// Whether two sequences of floats hold the same bits.
fn same_bits<'a>(
    a: impl IntoIterator<Item = &'a f32>,
    b: impl IntoIterator<Item = &'a f32>,
) -> bool {
    a.into_iter()
        .map(|x| x.to_bits())
        .eq(b.into_iter().map(|x| x.to_bits()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("ndarray-optim-checkpoint.json"));

    // Run 1: straight through.
    let (mut w, mut b) = (Array2::<f32>::zeros((3, 2)), Array1::<f32>::zeros(2));
    let mut opt = new_optimizer(&w, &b)?;
    let mut ema = AveragedModel::ema(EMA_DECAY)?;
    train(&mut opt, &mut ema, &mut w, &mut b, 0..STEPS)?;
    let uninterrupted = (w, b);
    let uninterrupted_ema = ema.averages().to_vec();

    // Run 2: stop after STOP_AT steps and write a checkpoint.
    {
        let (mut w, mut b) = (Array2::<f32>::zeros((3, 2)), Array1::<f32>::zeros(2));
        let mut opt = new_optimizer(&w, &b)?;
        let mut ema = AveragedModel::ema(EMA_DECAY)?;
        train(&mut opt, &mut ema, &mut w, &mut b, 0..STOP_AT)?;
        let optimizer = opt.save_state().named(&["w", "b"])?;
        let checkpoint = Checkpoint {
            step: STOP_AT,
            w,
            b,
            optimizer,
            ema: ema.state(),
        };
        std::fs::write(&path, serde_json::to_string_pretty(&checkpoint)?)?;
        println!(
            "stopped after {STOP_AT} steps; checkpoint written to {}",
            path.display()
        );
    } // everything of run 2 is dropped here

    // ... and resume from the file, as a new process would.
    let checkpoint: Checkpoint = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let (mut w, mut b) = (checkpoint.w, checkpoint.b);
    let mut opt = AdamW::new(0.05)?; // settings, groups and moments all come from the file
    checkpoint.optimizer.verify(&(&w, &b), Some(&["w", "b"]))?;
    opt.load_state(checkpoint.optimizer)?;
    let mut ema = AveragedModel::swa(); // its configuration (an EMA of 0.9) comes from the file
    ema.load_state(checkpoint.ema)?;
    println!(
        "resumed at step {} (optimizer step count {})",
        checkpoint.step,
        opt.step_count()
    );
    train(&mut opt, &mut ema, &mut w, &mut b, checkpoint.step..STEPS)?;

    let same = same_bits(&w, &uninterrupted.0)
        && same_bits(&b, &uninterrupted.1)
        && same_bits(
            ema.averages().iter().flatten(),
            uninterrupted_ema.iter().flatten(),
        );
    println!("\nafter {STEPS} steps:");
    println!(
        "  uninterrupted: w = {:?}, b = {:?}",
        uninterrupted.0.as_slice().unwrap_or_default(),
        uninterrupted.1.to_vec()
    );
    println!(
        "  resumed:       w = {:?}, b = {:?}",
        w.as_slice().unwrap_or_default(),
        b.to_vec()
    );
    println!(
        "  EMA of w:      {:?}",
        ema.averages()[0].as_slice().unwrap_or_default()
    );
    println!("  bit-identical (parameters and EMA): {same}");
    if !same {
        return Err("the resumed run differs from the uninterrupted one".into());
    }
    Ok(())
}
