//! The digits and the multilayer perceptron of the examples: the UCI handwritten digits
//! (`examples/data/digits.csv`, compiled in), a `64 → 128 → 64 → 10` ReLU network written out
//! with `ndarray` (forward, backward, softmax cross-entropy), and a progress bar. Shared by
//! `train_mlp` and `lr_finder`, each of which includes it with
//! `#[path = "common/mlp.rs"] mod mlp;`. See `train_mlp.rs` for what the model and the data
//! are.
#![allow(dead_code)] // each example uses its own part

use std::error::Error as StdError;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ndarray::{Array1, Array2, ArrayView2, Axis, Zip};
use ndarray_optim::finder::{LrFinder, LrFinderResult};
use ndarray_optim::{Optimizer, Tensor, TensorList, TensorListMut, TensorMut};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

pub type Result<T> = std::result::Result<T, Box<dyn StdError>>;

/// The data set, compiled in: see the module docs.
pub const DIGITS_CSV: &str = include_str!("../data/digits.csv");

/// The number of classes: the digits 0–9.
pub const CLASSES: usize = 10;

/// Layer widths: 64 pixels in, two hidden layers, one score per class out.
pub const LAYERS: [usize; 4] = [64, 128, 64, CLASSES];

/// The fraction of the images held out for testing.
pub const TEST_FRACTION: f64 = 0.2;

// ---------------------------------------------------------------------------------------------
// The data
// ---------------------------------------------------------------------------------------------

/// Images and their labels.
pub struct Dataset {
    /// One image per row, 64 pixels in `[0, 1]`.
    pub images: Array2<f32>,
    /// The digit each image shows, 0–9.
    pub labels: Vec<usize>,
}

impl Dataset {
    /// Parses `examples/data/digits.csv`: a header, then `label,pixels` with one base-17 digit
    /// per pixel.
    pub fn digits() -> Result<Dataset> {
        let rows: Vec<&str> = DIGITS_CSV.lines().skip(1).collect();
        let mut images = Array2::<f32>::zeros((rows.len(), LAYERS[0]));
        let mut labels = Vec::with_capacity(rows.len());
        for (row, line) in rows.iter().enumerate() {
            let (label, pixels) = line.split_once(',').ok_or("digits.csv: no comma")?;
            let label: usize = label.parse()?;
            if label >= CLASSES || pixels.len() != LAYERS[0] {
                return Err(
                    format!("digits.csv line {}: not a digit and 64 pixels", row + 2).into(),
                );
            }
            labels.push(label);
            for (column, c) in pixels.chars().enumerate() {
                let count = c.to_digit(17).ok_or("digits.csv: not a base-17 digit")?;
                images[[row, column]] = count as f32 / 16.0;
            }
        }
        Ok(Dataset { images, labels })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// The images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        Dataset {
            images: self.images.select(Axis(0), indices),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    /// A seeded random split: `(the rest, a fraction held out)`.
    pub fn split(&self, held_out: f64, seed: u64) -> (Dataset, Dataset) {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        let n_held_out = (self.len() as f64 * held_out).round() as usize;
        let (held, rest) = order.split_at(n_held_out);
        (self.subset(rest), self.subset(held))
    }
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

/// A fully connected layer, `y = x·W + b`, for a batch `x` with one example per row.
#[derive(Clone)]
pub struct Linear {
    /// `(inputs, outputs)`.
    pub weight: Array2<f32>,
    /// `(outputs)`.
    pub bias: Array1<f32>,
}

/// A multilayer perceptron: linear layers with a ReLU between each two. The gradients have the
/// same shapes as the parameters, so they are an `Mlp` too.
#[derive(Clone)]
pub struct Mlp {
    pub layers: Vec<Linear>,
}

/// What the forward pass keeps for the backward pass.
pub struct Trace {
    /// `inputs[l]`: what layer `l` received (the images, then each hidden layer's ReLU output).
    pub inputs: Vec<Array2<f32>>,
    /// The last layer's output, one row of 10 class scores per example.
    pub logits: Array2<f32>,
}

impl Mlp {
    /// PyTorch's `nn.Linear` initialisation: weights and biases uniform in `±1/√fan_in`.
    pub fn new(widths: &[usize], rng: &mut StdRng) -> Mlp {
        let layers = widths
            .windows(2)
            .map(|pair| {
                let (fan_in, fan_out) = (pair[0], pair[1]);
                let bound = 1.0 / (fan_in as f32).sqrt();
                Linear {
                    weight: Array2::from_shape_fn((fan_in, fan_out), |_| {
                        rng.random_range(-bound..bound)
                    }),
                    bias: Array1::from_shape_fn(fan_out, |_| rng.random_range(-bound..bound)),
                }
            })
            .collect();
        Mlp { layers }
    }

    /// A model of the same shapes, all zeros: the gradients before the first backward pass.
    pub fn zeros_like(&self) -> Mlp {
        let layers = self
            .layers
            .iter()
            .map(|l| Linear {
                weight: Array2::zeros(l.weight.raw_dim()),
                bias: Array1::zeros(l.bias.raw_dim()),
            })
            .collect();
        Mlp { layers }
    }

    /// The forward pass over a batch of images, one per row.
    pub fn forward(&self, images: ArrayView2<f32>) -> Trace {
        let mut inputs = Vec::with_capacity(self.layers.len());
        let mut activation = images.to_owned();
        for (l, layer) in self.layers.iter().enumerate() {
            let output = activation.dot(&layer.weight) + &layer.bias;
            inputs.push(activation);
            activation = if l + 1 < self.layers.len() {
                output.mapv_into(|z| z.max(0.0)) // ReLU
            } else {
                output // the logits: softmax is part of the loss
            };
        }
        Trace {
            inputs,
            logits: activation,
        }
    }

    /// The backward pass: the gradients of the loss with respect to every weight and bias,
    /// given `d_logits`, the gradient with respect to the logits (from [`cross_entropy`]).
    pub fn backward(&self, trace: &Trace, d_logits: Array2<f32>) -> Mlp {
        let mut grads = Vec::with_capacity(self.layers.len());
        // `delta`: the gradient with respect to the current layer's output `x·W + b`.
        let mut delta = d_logits;
        for (l, layer) in self.layers.iter().enumerate().rev() {
            let input = &trace.inputs[l];
            grads.push(Linear {
                weight: input.t().dot(&delta), // ∂L/∂W = xᵀ·δ
                bias: delta.sum_axis(Axis(0)), // ∂L/∂b = Σ over the batch of δ
            });
            if l > 0 {
                // Back through the layer (∂L/∂x = δ·Wᵀ), then through the ReLU before it, which
                // passes the gradient only where it let the signal through (its output > 0).
                delta = delta.dot(&layer.weight.t());
                Zip::from(&mut delta).and(input).for_each(|d, &x| {
                    if x <= 0.0 {
                        *d = 0.0;
                    }
                });
            }
        }
        grads.reverse();
        Mlp { layers: grads }
    }

    /// Mean loss and accuracy over a whole data set, in one batch.
    pub fn evaluate(&self, data: &Dataset) -> Evaluation {
        let trace = self.forward(data.images.view());
        let (loss, correct, _) = cross_entropy(&trace.logits, &data.labels);
        Evaluation {
            loss,
            accuracy: correct as f64 / data.len() as f64,
        }
    }
}

/// The model's tensors in a fixed order, `weight₀, bias₀, weight₁, bias₁, …`: what lets
/// `Optimizer::step` take the model (and its gradients) directly. The optimizer keeps its state
/// per position, so the order must not change between steps.
impl TensorList<f32> for Mlp {
    fn len(&self) -> usize {
        2 * self.layers.len()
    }
    fn tensor(&self, index: usize) -> Option<&dyn Tensor<f32>> {
        let layer = self.layers.get(index / 2)?;
        match index % 2 {
            0 => Some(&layer.weight),
            _ => Some(&layer.bias),
        }
    }
}

impl TensorListMut<f32> for Mlp {
    fn tensor_mut(&mut self, index: usize) -> Option<&mut dyn TensorMut<f32>> {
        let layer = self.layers.get_mut(index / 2)?;
        match index % 2 {
            0 => Some(&mut layer.weight),
            _ => Some(&mut layer.bias),
        }
    }
}

/// Softmax cross-entropy, averaged over the batch: returns the mean loss, the number of rows
/// whose highest score is the right class, and the gradient of the mean loss with respect to
/// the logits, `(softmax(z) − onehot(label)) / batch`.
pub fn cross_entropy(logits: &Array2<f32>, labels: &[usize]) -> (f64, usize, Array2<f32>) {
    let batch = labels.len() as f32;
    let mut grad = logits.clone();
    let mut loss = 0.0_f64;
    let mut correct = 0;
    for (mut row, &label) in grad.rows_mut().into_iter().zip(labels) {
        // Subtracting the largest score first keeps exp() from overflowing.
        let max = row.fold(f32::NEG_INFINITY, |m, &z| m.max(z));
        let predicted = row.iter().position(|&z| z == max).unwrap_or(usize::MAX);
        correct += usize::from(predicted == label);
        let label_score = row[label] - max;
        row.mapv_inplace(|z| (z - max).exp());
        let sum = row.sum();
        // −log softmax(z)[label] = log Σ exp(z − max) − (z[label] − max)
        loss += f64::from(sum.ln()) - f64::from(label_score);
        row.mapv_inplace(|e| e / sum / batch);
        row[label] -= 1.0 / batch;
    }
    (loss / f64::from(batch), correct, grad)
}

/// Loss and accuracy of the model on one data set.
#[derive(Clone, Copy)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
}

/// A progress bar of `len` steps on standard error, drawn only when that is a terminal: piped
/// or in CI, it stays silent and the program prints its plain lines only.
pub fn progress_bar(len: u64, prefix: String) -> Result<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return Ok(ProgressBar::with_draw_target(
            Some(len),
            ProgressDrawTarget::hidden(),
        ));
    }
    let style = ProgressStyle::with_template("{prefix:>14} [{bar:30}] {percent:>3}% {msg}")?;
    Ok(ProgressBar::new(len)
        .with_prefix(prefix)
        .with_style(style.progress_chars("=> ")))
}

/// Mini-batches of a data set without end: a seeded shuffle, the batches in turn, a new
/// shuffle after the last one (an epoch), as the training loop of `train_mlp` draws them.
pub struct Batches<'a> {
    data: &'a Dataset,
    size: usize,
    order: Vec<usize>,
    next: usize,
    rng: StdRng,
}

impl<'a> Batches<'a> {
    pub fn new(data: &'a Dataset, size: usize, seed: u64) -> Batches<'a> {
        Batches {
            data,
            size: size.max(1),
            order: (0..data.len()).collect(),
            next: data.len(), // shuffle before the first batch
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The next batch: images, one per row, and their labels.
    pub fn next_batch(&mut self) -> (Array2<f32>, Vec<usize>) {
        if self.next >= self.order.len() {
            self.order.shuffle(&mut self.rng);
            self.next = 0;
        }
        let end = (self.next + self.size).min(self.order.len());
        let batch = &self.order[self.next..end];
        self.next = end;
        let images = self.data.images.select(Axis(0), batch);
        let labels = batch.iter().map(|&i| self.data.labels[i]).collect();
        (images, labels)
    }
}

/// The learning-rate range test on the MLP: `finder` sweeps the learning rate of `opt` over
/// mini-batches of `data` (batches of `batch`, shuffled with `seed`), one step per batch, and
/// puts `model` and `opt` back as they were. `progress` advances by one per step and shows
/// the learning rate and the smoothed loss.
///
/// The closure is the training step without the optimizer: forward pass, loss, backward pass,
/// gradients written into `grads`. The finder sets the learning rate and steps the optimizer.
pub fn find_lr(
    finder: &LrFinder,
    model: &mut Mlp,
    opt: &mut dyn Optimizer<f32>,
    data: &Dataset,
    batch: usize,
    seed: u64,
    progress: &ProgressBar,
) -> Result<LrFinderResult> {
    let mut grads = model.zeros_like();
    let mut batches = Batches::new(data, batch, seed);
    let result = finder.run_with_progress(
        opt,
        model,
        &mut grads,
        |model, grads| {
            let (images, labels) = batches.next_batch();
            let trace = model.forward(images.view());
            let (loss, _, d_logits) = cross_entropy(&trace.logits, &labels);
            *grads = model.backward(&trace, d_logits);
            Ok::<f64, std::convert::Infallible>(loss)
        },
        |report| {
            progress.inc(1);
            progress.set_message(format!(
                "lr {:.2e}, smoothed loss {:.4}",
                report.lr, report.smoothed_loss
            ));
        },
    )?;
    Ok(result)
}
