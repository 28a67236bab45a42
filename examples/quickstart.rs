//! Quick start: fit a linear model to noisy data with Adam.
//!
//! The data are generated from known weights (seeded, so every run prints the same numbers);
//! the model learns them back by mini-batch gradient descent. Shows the whole training loop:
//! parameters of two ranks (a weight matrix and a bias vector) updated in one call.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```

use ndarray::{Array1, Array2, Axis, array, s};
use ndarray_optim::{Adam, Optimizer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn main() -> Result<(), ndarray_optim::Error> {
    // y = x · W_true + b_true + noise, with 3 inputs and 2 outputs.
    let w_true: Array2<f32> = array![[2.0, -1.0], [0.5, 3.0], [-1.5, 0.25]];
    let b_true: Array1<f32> = array![0.5, -2.0];
    let mut rng = StdRng::seed_from_u64(42);
    let n = 1024;
    let x = Array2::from_shape_fn((n, 3), |_| rng.random_range(-1.0..1.0f32));
    let noise = Array2::from_shape_fn((n, 2), |_| rng.random_range(-0.05..0.05f32));
    let y = x.dot(&w_true) + &b_true + noise;

    // The model starts at zero.
    let mut w = Array2::<f32>::zeros((3, 2));
    let mut b = Array1::<f32>::zeros(2);
    let mut opt = Adam::new(0.05)?; // PyTorch's defaults for everything else

    let batch = 64;
    println!("step   loss (mean squared error)");
    for step in 0..=300 {
        let start = (step * batch) % n;
        let (xb, yb) = (
            x.slice(s![start..start + batch, ..]),
            y.slice(s![start..start + batch, ..]),
        );

        // Forward pass and the gradients of the mean squared error.
        let err = xb.dot(&w) + &b - yb; // (batch, 2)
        let loss = err.mapv(|e| e * e).mean().unwrap_or(0.0);
        let scale = 2.0 / (batch * 2) as f32;
        let grad_w = xb.t().dot(&err) * scale;
        let grad_b = err.sum_axis(Axis(0)) * scale;

        // One optimizer step over both tensors, in place.
        opt.step(&mut (&mut w, &mut b), &(&grad_w, &grad_b))?;

        if step % 30 == 0 {
            println!("{step:>4}   {loss:.6}");
        }
    }

    println!("\nlearned weights vs true weights:");
    for (learned, truth) in w
        .iter()
        .chain(b.iter())
        .zip(w_true.iter().chain(b_true.iter()))
    {
        println!("  {learned:>8.4}   {truth:>8.4}");
    }
    Ok(())
}
