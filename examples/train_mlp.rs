//! Train a small neural network on a real data set, the 8×8 handwritten digits, with every
//! optimizer of the crate, and compare them.
//!
//! ```text
//! cargo run --release --example train_mlp                           # every optimizer
//! cargo run --release --example train_mlp -- --out docs/train_mlp.png
//! cargo run --release --example train_mlp -- --optimizer adam,lion  # some of them
//! cargo run --release --example train_mlp -- --lr default           # PyTorch's learning rates
//! cargo run --release --example train_mlp -- --optimizer adamw --find-lr  # the finder's
//! cargo run --example train_mlp -- --fast                           # a few seconds, for CI
//! ```
//!
//! Options: `--optimizer NAMES` (comma-separated, any case; default all),
//! `--lr sweep|default|find|LR` (how the learning rates are chosen, see below; default `sweep`;
//! `--find-lr` is `--lr find`), `--epochs N` (default 30),
//! `--batch N` (default 32), `--seed N` (default 42), `--out FILE` (default
//! `target/train_mlp.png`), `--fast` (or `TRAIN_MLP_FAST=1`: 2 epochs on a fifth of the
//! training set, 3 learning rates in the sweep; a smoke test for CI, not a result). The output
//! depends on nothing else: the same options give the same numbers and picture on every run,
//! except for the times.
//!
//! # What it does
//!
//! * **Data**: 1,797 images of handwritten digits, 8×8 pixels of 0–16 (see below), scaled to
//!   `[0, 1]` and split by a seeded shuffle into 1,438 training and 359 test images.
//! * **Model**: a multilayer perceptron `64 → 128 → 64 → 10` with ReLU between layers and a
//!   softmax cross-entropy loss, initialised as PyTorch's `nn.Linear` (uniform in `±1/√fan_in`).
//!   The forward and backward passes are written out with `ndarray` in
//!   `examples/common/mlp.rs` (shared with `lr_finder`). The model is a plain
//!   struct that implements [`TensorListMut`], so `opt.step(&mut model, &grads)` updates all six
//!   tensors in one call.
//! * **Training**: mini-batches of 32, reshuffled every epoch by a seeded generator. Every
//!   optimizer starts from the same initial weights and sees the same batches. The learning
//!   rate follows [`Warmup::cosine`]: a linear warmup from 0 over the first 10% of the steps,
//!   then half a cosine down to 0, **stepped once per batch** (as Hugging Face's
//!   `get_cosine_schedule_with_warmup` is). Schedule-Free AdamW and SGD take no schedule (that
//!   is their point): their own linear warmup over the same steps, then a constant rate, and
//!   every evaluation at their averaged point `x` (`eval_params`), against AdamW with the
//!   warmup and cosine. Prodigy estimates its own step size; its learning rate is a multiplier
//!   of it (1 by default), which follows the same warmup and cosine, as its authors advise.
//! * **Weight decay** only where the optimizer has it by default (AdamW and LAMB `1e-2`, Lion
//!   `1e-3`), applied the idiomatic way: [`ParamGroups::no_decay_for_vectors`] puts the biases
//!   in a group without weight decay (timm's rule; LAMB, which adapts its steps only where
//!   there is decay, then gives the biases plain Adam steps, as timm's does).
//! * **Low-bit state**: besides every optimizer of the registry, `Adam-8bit`, `Adam-fp8` and
//!   `Adam-4bit` are Adam with block-wise quantised moments ([`Quantization::int8`],
//!   [`Quantization::fp8`], [`Quantization::int4`]: torchao's `Adam8bit`, `AdamFp8` and
//!   `Adam4bit`); the two weight matrices (8,192 elements each) are
//!   quantised, the last layer (640) and the biases keep `f32` state. The table's `state`
//!   column is [`Optimizer::state_bytes`] per parameter of the model.
//! * **Output**: a progress bar per optimizer on standard error, drawn only when that is a
//!   terminal (not in CI or a pipe); the sweep as a Markdown table; one line per optimizer as
//!   it finishes; then a Markdown table of learning rate, final training loss, test loss, test
//!   accuracy, optimizer state per parameter and training time. The picture (`--out`) has two panels, the training loss and
//!   the test accuracy after every epoch, one curve per optimizer, and a legend.
//!
//! # How the learning rates are chosen
//!
//! By the program, the same way for every optimizer (`--lr sweep`, the default): 20% of the
//! training set is held out for validation (the test set is not touched), each optimizer is
//! trained on the rest with each learning rate of one grid ([`LR_GRID`], half decades from
//! `1e-4` to `10`) with the same epochs and schedule, and the learning rate with the best
//! validation accuracy after the last epoch wins (ties: the lower validation loss). One
//! validation image is 0.35%, so the sweep settles the order of magnitude, and the choice
//! between neighbours on a plateau is partly chance. Everything else is the default of each
//! optimizer's configuration, [`OptimizerKind::default_config`]: PyTorch's (optax's for Lion,
//! timm's for LAMB), and momentum 0.9 for Momentum and Nesterov (PyTorch's SGD has no
//! momentum by default). The table prints the default learning rate beside the one used;
//! `--lr default` trains with those instead.
//!
//! `--lr find` (or `--find-lr`) asks the crate's learning-rate finder instead
//! ([`ndarray_optim::finder`], fastai's `lr_find`): for each optimizer, a range test of 100
//! batches on the training set from the same initial weights, the learning rate growing from
//! `1e-7` to `10`, then fastai's `valley` suggestion (rounded to three significant digits) as
//! the peak of the warmup-cosine schedule. It costs 100 batches per optimizer instead of the
//! sweep's 11 trainings, and prints every rule's suggestion; `examples/lr_finder.rs` draws the
//! curve.
//!
//! The optimizers are those of [`OptimizerKind::ALL`], so one added to the crate appears here
//! without a change to this program.
//!
//! # The data set
//!
//! `examples/data/digits.csv`: E. Alpaydin and C. Kaynak, *Optical Recognition of Handwritten
//! Digits*, UCI Machine Learning Repository, 1998 (<https://doi.org/10.24432/C50P49>), licensed
//! CC BY 4.0. These are the 1,797 images of its test part, the copy that scikit-learn ships as
//! `load_digits`. One line per image: the label, a comma, and the 64 pixels row by row, each
//! written as one base-17 digit (`0`–`9`, `a`–`g` for 0–16). See `examples/data/README.md`. The
//! file is compiled into the program (`include_str!`): nothing is read or downloaded at run
//! time.
//!
//! # Font
//!
//! Text in the picture is drawn with DejaVu Sans, embedded from `assets/fonts/DejaVuSans.ttf`
//! (Bitstream Vera licence, see `assets/fonts/LICENSE-DejaVu.txt`), by the shared
//! `examples/common/canvas.rs`.

#[path = "common/canvas.rs"]
mod canvas;
#[path = "common/mlp.rs"]
mod mlp;
#[path = "common/palette.rs"]
mod palette;

use std::path::PathBuf;
use std::time::Instant;

use indicatif::ProgressBar;
use mlp::{
    Dataset, Evaluation, LAYERS, Mlp, Result, TEST_FRACTION, cross_entropy, find_lr, progress_bar,
};
use ndarray::Axis;
use ndarray_optim::finder::{LrFinder, Rule, Stop};
use ndarray_optim::schedule::{Schedule, Warmup};
use ndarray_optim::{
    AdamConfig, Error, Optimizer, OptimizerConfig, OptimizerKind, ParamGroups, Quantization,
    ScheduleFreeAdamW, ScheduleFreeSgd,
};
use palette::Style;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// The fraction of the training steps spent warming up.
const WARMUP_FRACTION: f64 = 0.1;

/// The learning rates the sweep tries: half decades, `1e-4` to `10`.
const LR_GRID: [f64; 11] = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0];

// ---------------------------------------------------------------------------------------------
// The optimizers
// ---------------------------------------------------------------------------------------------

/// One optimizer of the comparison: its kind, with every hyperparameter at its default.
struct Contender {
    /// The name printed and accepted by `--optimizer` (any case).
    name: &'static str,
    /// The default configuration: PyTorch's (optax's for Lion, timm's for LAMB).
    config: OptimizerConfig,
    /// The default learning rate, for reference.
    default_lr: f64,
    /// The default weight decay (`None` for an optimizer without one); where it is not 0, the
    /// biases are put in a group without it.
    weight_decay: Option<f64>,
    style: Style,
}

impl Contender {
    fn new(kind: OptimizerKind) -> Contender {
        let config = kind.default_config();
        Contender {
            name: kind.name(),
            default_lr: config.learning_rate(),
            weight_decay: config.weight_decay(),
            config,
            style: palette::style(kind),
        }
    }

    /// The optimizer with learning rate `lr` and every other hyperparameter at its default.
    fn build(&self, lr: f64) -> std::result::Result<Box<dyn Optimizer<f32>>, Error> {
        let mut config = self.config.clone();
        config.set_learning_rate(lr);
        config.build()
    }
}

/// Every optimizer of the crate, in the registry's order, but Muon: it takes matrices only, and
/// this MLP's biases would need a second optimizer (as Muon's users pair it with AdamW).
/// After Adam, Adam with 8-bit, float8 and 4-bit block-wise quantised state (torchao's
/// `Adam8bit`, `AdamFp8` and `Adam4bit`: the two large weight matrices are quantised, the rest
/// keeps `f32` state).
fn contenders() -> Vec<Contender> {
    let mut all = Vec::new();
    for &kind in OptimizerKind::ALL {
        if kind == OptimizerKind::Muon {
            continue;
        }
        all.push(Contender::new(kind));
        if kind == OptimizerKind::Adam {
            for (name, q) in [
                ("Adam-8bit", Quantization::int8()),
                ("Adam-fp8", Quantization::fp8()),
                ("Adam-4bit", Quantization::int4()),
            ] {
                let mut low = Contender::new(kind);
                low.name = name;
                low.config = AdamConfig::default().quantized_state(q).into();
                low.style.dashed = true;
                all.push(low);
            }
        }
    }
    all
}

/// The number of parameters of the MLP: each layer's weights and biases.
fn parameter_count() -> usize {
    LAYERS.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
}

// ---------------------------------------------------------------------------------------------
// Training
// ---------------------------------------------------------------------------------------------

/// How to train, the same for every optimizer.
struct Recipe {
    epochs: usize,
    batch: usize,
    seed: u64,
}

/// One optimizer's training run.
struct Run {
    name: &'static str,
    lr: f64,
    /// On the training set after each epoch; `[0]` is before training.
    train: Vec<Evaluation>,
    /// On the evaluation set (test or validation) after each epoch; `[0]` is before training.
    eval: Vec<Evaluation>,
    /// The epoch in which the optimizer refused a non-finite gradient, if it did.
    diverged: Option<usize>,
    seconds: f64,
    /// The optimizer's state at the end, in bytes ([`Optimizer::state_bytes`]).
    state_bytes: usize,
}

impl Run {
    fn last_train(&self) -> Evaluation {
        self.train[self.train.len() - 1]
    }
    fn last_eval(&self) -> Evaluation {
        self.eval[self.eval.len() - 1]
    }
}

/// Trains a fresh model with `contender` at learning rate `lr` on `train`, evaluating on both
/// sets after every epoch. `progress` advances by one per batch.
fn train(
    contender: &Contender,
    lr: f64,
    recipe: &Recipe,
    train_set: &Dataset,
    eval_set: &Dataset,
    progress: &ProgressBar,
) -> Result<Run> {
    let start = Instant::now();
    // The same initial weights and the same batches for every optimizer.
    let mut model = Mlp::new(&LAYERS, &mut StdRng::seed_from_u64(recipe.seed + 1));
    let mut batch_order = StdRng::seed_from_u64(recipe.seed + 2);

    let batches_per_epoch = train_set.len().div_ceil(recipe.batch);
    let total_steps = (recipe.epochs * batches_per_epoch) as u64;
    let warmup_steps = (total_steps as f64 * WARMUP_FRACTION).ceil() as u64;
    let mut trained = Trained::new(contender, lr, warmup_steps)?;
    let opt = trained.optimizer();
    if contender.weight_decay.is_some_and(|wd| wd > 0.0) {
        // No weight decay on the biases (tensors of one dimension), as timm and most recipes do.
        opt.set_param_groups(Some(ParamGroups::no_decay_for_vectors(&model)))?;
    }
    // Attaching sets the learning rate for the first step: 0, the start of the warmup.
    // Schedule-Free has none: its own warmup, then a constant rate.
    let mut schedule = match trained {
        Trained::Scheduled(ref mut opt) => {
            Some(Warmup::cosine(warmup_steps, total_steps).attach(opt)?)
        }
        _ => None,
    };

    let mut run = Run {
        name: contender.name,
        lr,
        train: vec![trained.evaluate(&model, train_set)?],
        eval: vec![trained.evaluate(&model, eval_set)?],
        diverged: None,
        seconds: 0.0,
        state_bytes: 0,
    };
    let mut order: Vec<usize> = (0..train_set.len()).collect();
    'epochs: for epoch in 1..=recipe.epochs {
        order.shuffle(&mut batch_order);
        for batch in order.chunks(recipe.batch) {
            let images = train_set.images.select(Axis(0), batch);
            let labels: Vec<usize> = batch.iter().map(|&i| train_set.labels[i]).collect();

            let trace = model.forward(images.view());
            let (_, _, d_logits) = cross_entropy(&trace.logits, &labels);
            let grads = model.backward(&trace, d_logits);
            // Every weight and bias in place, in one call. A NaN or infinite gradient (from a
            // learning rate far too large) is an error that leaves the model untouched.
            match trained.optimizer().step(&mut model, &grads) {
                Ok(()) => {}
                Err(Error::NonFiniteGradient { .. }) => {
                    run.diverged = Some(epoch);
                    break 'epochs;
                }
                Err(other) => return Err(other.into()),
            }
            if let (Some(schedule), Trained::Scheduled(opt)) = (&mut schedule, &mut trained) {
                schedule.step(opt)?; // per batch
            }
            progress.inc(1);
        }
        run.train.push(trained.evaluate(&model, train_set)?);
        run.eval.push(trained.evaluate(&model, eval_set)?);
        progress.set_message(format!(
            "lr {}, epoch {epoch}: train loss {:.4}, accuracy {:.1}%",
            lr,
            run.last_train().loss,
            100.0 * run.last_eval().accuracy
        ));
    }
    run.seconds = start.elapsed().as_secs_f64();
    run.state_bytes = trained.optimizer().state_bytes();
    Ok(run)
}

/// The optimizer of one run: any, with the warmup-cosine schedule, or Schedule-Free, which has
/// its own warmup and is evaluated at its averaged point.
enum Trained {
    Scheduled(Box<dyn Optimizer<f32>>),
    AdamW(ScheduleFreeAdamW<f32>),
    Sgd(ScheduleFreeSgd<f32>),
}

impl Trained {
    fn new(contender: &Contender, lr: f64, warmup_steps: u64) -> Result<Trained> {
        Ok(match &contender.config {
            OptimizerConfig::ScheduleFreeAdamW(c) => {
                Trained::AdamW(c.clone().lr(lr).warmup_steps(warmup_steps).build()?)
            }
            OptimizerConfig::ScheduleFreeSgd(c) => {
                Trained::Sgd(c.clone().lr(lr).warmup_steps(warmup_steps).build()?)
            }
            _ => Trained::Scheduled(contender.build(lr)?),
        })
    }

    fn optimizer(&mut self) -> &mut dyn Optimizer<f32> {
        match self {
            Trained::Scheduled(opt) => opt.as_mut(),
            Trained::AdamW(opt) => opt,
            Trained::Sgd(opt) => opt,
        }
    }

    /// The model evaluated where the optimizer means it to be: its parameters, or
    /// Schedule-Free's average `x` (written into a copy: the parameters stay at `y`).
    fn evaluate(&self, model: &Mlp, data: &Dataset) -> Result<Evaluation> {
        let mut x = model.clone();
        match self {
            Trained::Scheduled(_) => return Ok(model.evaluate(data)),
            Trained::AdamW(opt) => opt.eval_params(model, &mut x)?,
            Trained::Sgd(opt) => opt.eval_params(model, &mut x)?,
        }
        Ok(x.evaluate(data))
    }
}

// ---------------------------------------------------------------------------------------------
// The program
// ---------------------------------------------------------------------------------------------

struct Options {
    fast: bool,
    /// Indices into [`contenders`].
    chosen: Vec<usize>,
    /// How the learning rates are chosen.
    lr: LrChoice,
    epochs: Option<usize>,
    batch: usize,
    seed: u64,
    out: PathBuf,
}

enum LrChoice {
    /// Each optimizer's best of the sweep.
    Sweep,
    /// Each optimizer's default.
    Default,
    /// Each optimizer's suggestion from the learning-rate finder.
    Find,
    /// The same for every optimizer.
    Fixed(f64),
}

fn options(contenders: &[Contender]) -> Result<Options> {
    let mut opts = Options {
        fast: std::env::var("TRAIN_MLP_FAST").is_ok_and(|v| !v.is_empty() && v != "0"),
        chosen: (0..contenders.len()).collect(),
        lr: LrChoice::Sweep,
        epochs: None,
        batch: 32,
        seed: 42,
        out: PathBuf::from("target/train_mlp.png"),
    };
    let names = || {
        contenders
            .iter()
            .map(|c| c.name.to_lowercase())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| args.next().ok_or(format!("{arg} needs {what}"));
        match arg.as_str() {
            "--fast" => opts.fast = true,
            "--optimizer" => {
                opts.chosen = value("a name")?
                    .split(',')
                    .map(|name| {
                        contenders
                            .iter()
                            .position(|c| c.name.eq_ignore_ascii_case(name.trim()))
                            .ok_or(format!(
                                "unknown optimizer `{}`; known: {}",
                                name.trim(),
                                names()
                            ))
                    })
                    .collect::<std::result::Result<_, _>>()?;
            }
            "--lr" => {
                opts.lr = match value("a number, `default`, `sweep` or `find`")?.as_str() {
                    "sweep" => LrChoice::Sweep,
                    "default" => LrChoice::Default,
                    "find" => LrChoice::Find,
                    lr => LrChoice::Fixed(lr.parse()?),
                };
            }
            "--find-lr" => opts.lr = LrChoice::Find,
            "--epochs" => opts.epochs = Some(value("a number")?.parse()?),
            "--batch" => opts.batch = value("a number")?.parse()?,
            "--seed" => opts.seed = value("a number")?.parse()?,
            "--out" => opts.out = value("a file name")?.into(),
            "-h" | "--help" => {
                println!(
                    "usage: train_mlp [--optimizer NAMES] [--lr sweep|default|find|LR] [--find-lr]\n\
                     \x20                [--epochs N] [--batch N] [--seed N] [--out FILE] [--fast]\n\
                     --optimizer NAMES  comma-separated, any of: {}\n\
                     \x20                  (default: all)\n\
                     --lr sweep         each optimizer's best of a sweep on a validation split\n\
                     \x20                  (the default)\n\
                     --lr default       each optimizer's default learning rate (PyTorch's;\n\
                     \x20                  optax's for Lion, timm's for LAMB)\n\
                     --lr find          each optimizer's suggestion of the learning-rate finder\n\
                     \x20                  (fastai's range test and valley rule; also --find-lr)\n\
                     --lr LR            this learning rate for every optimizer\n\
                     --epochs N         default 30 (2 with --fast)\n\
                     --batch N          mini-batch size, default 32\n\
                     --seed N           seed of the splits, the initial weights and the batch\n\
                     \x20                  order, default 42\n\
                     --out FILE         the picture (default target/train_mlp.png)\n\
                     --fast             for CI: 2 epochs on a fifth of the training set, a\n\
                     \x20                  sweep of 3 learning rates (also TRAIN_MLP_FAST=1)",
                    names()
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}` (try --help)").into()),
        }
    }
    if opts.batch == 0 || opts.epochs == Some(0) {
        return Err("--batch and --epochs must be at least 1".into());
    }
    Ok(opts)
}

fn main() -> Result<()> {
    let started = Instant::now();
    let all = contenders();
    let opts = options(&all)?;
    let recipe = Recipe {
        epochs: opts.epochs.unwrap_or(if opts.fast { 2 } else { 30 }),
        batch: opts.batch,
        seed: opts.seed,
    };
    let digits = Dataset::digits()?;
    let (mut train_set, test_set) = digits.split(TEST_FRACTION, opts.seed);
    if opts.fast {
        train_set = train_set.subset(&(0..train_set.len() / 5).collect::<Vec<_>>());
    }
    let shape = LAYERS.map(|w| w.to_string()).join("-");
    println!(
        "MLP {shape} (ReLU, softmax cross-entropy) on the UCI handwritten digits: {} training, \
         {} test images{}.\nMini-batches of {}, {} epochs, linear warmup over 10% of the steps \
         then cosine decay, stepped per batch; seed {}.",
        train_set.len(),
        test_set.len(),
        if opts.fast { " (fast mode)" } else { "" },
        recipe.batch,
        recipe.epochs,
        recipe.seed,
    );
    let contenders: Vec<&Contender> = opts.chosen.iter().map(|&i| &all[i]).collect();
    let (lrs, lr_note): (Vec<f64>, &str) = match opts.lr {
        LrChoice::Sweep => {
            let grid: Vec<f64> = if opts.fast {
                LR_GRID.iter().copied().step_by(4).collect()
            } else {
                LR_GRID.to_vec()
            };
            let lrs = sweep(&contenders, &grid, &recipe, &train_set)?;
            (
                lrs,
                "learning rates: each optimizer's best of a validation sweep",
            )
        }
        LrChoice::Default => (
            contenders.iter().map(|c| c.default_lr).collect(),
            "learning rates: PyTorch's defaults",
        ),
        LrChoice::Find => (
            find_lrs(&contenders, &recipe, &train_set)?,
            "learning rates: the finder's suggestion (fastai's valley)",
        ),
        LrChoice::Fixed(lr) => (
            vec![lr; contenders.len()],
            "one learning rate for all optimizers",
        ),
    };

    println!("\n## Training on the training set, testing on the test set\n");
    let mut runs = Vec::new();
    for (k, (contender, &lr)) in contenders.iter().zip(&lrs).enumerate() {
        let steps = recipe.epochs * train_set.len().div_ceil(recipe.batch);
        let bar = progress_bar(
            steps as u64,
            format!("{} {}/{}", contender.name, k + 1, contenders.len()),
        )?;
        let run = train(contender, lr, &recipe, &train_set, &test_set, &bar)?;
        bar.finish_and_clear();
        println!("{}", summary(&run));
        runs.push(run);
    }
    print_table(&runs, &contenders);

    if let Some(dir) = opts.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let title = format!(
        "MLP {shape} on the UCI handwritten digits ({} training / {} test images{})",
        train_set.len(),
        test_set.len(),
        if opts.fast { ", fast mode" } else { "" }
    );
    let subtitle = format!(
        "mini-batches of {}, {} epochs, linear warmup + cosine decay per batch, seed {}; {lr_note}",
        recipe.batch, recipe.epochs, recipe.seed
    );
    plot::draw(&opts.out, &title, &subtitle, &runs, &contenders, opts.fast)?;
    println!(
        "\nDrawn: {}. Total time {:.1} s.",
        opts.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One line about a finished run.
fn summary(run: &Run) -> String {
    let end = match run.diverged {
        Some(epoch) => format!("diverged in epoch {epoch}"),
        None => format!(
            "train loss {:.4}, test accuracy {}",
            run.last_train().loss,
            percent(run.last_eval().accuracy)
        ),
    };
    format!(
        "{:<9} lr {:<7} {end}, {:.2} s",
        run.name, run.lr, run.seconds
    )
}

/// `0.96379` as `96.38%`.
fn percent(fraction: f64) -> String {
    format!("{:.2}%", 100.0 * fraction)
}

/// The results as a Markdown table.
fn print_table(runs: &[Run], contenders: &[&Contender]) {
    println!(
        "\n| optimizer | lr | default lr | weight decay (not on biases) | final train loss \
         | test loss | test accuracy | state (B/param) | time |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    for (run, contender) in runs.iter().zip(contenders) {
        let (train, eval) = (run.last_train(), run.last_eval());
        let (loss, test_loss, accuracy) = match run.diverged {
            Some(epoch) => (
                format!("diverged (epoch {epoch})"),
                "–".to_string(),
                "–".to_string(),
            ),
            None => (
                format!("{:.4}", train.loss),
                format!("{:.4}", eval.loss),
                percent(eval.accuracy),
            ),
        };
        println!(
            "| {} | {} | {} | {} | {loss} | {test_loss} | {accuracy} | {:.2} | {:.2} s |",
            run.name,
            run.lr,
            contender.default_lr,
            contender
                .weight_decay
                .map_or_else(|| "–".to_string(), |wd| wd.to_string()),
            run.state_bytes as f64 / parameter_count() as f64,
            run.seconds
        );
    }
}

/// The learning-rate finder for every optimizer: fastai's range test (`1e-7` to `10` in 100
/// batches) from the initial weights of the training run, with the optimizer and weight decay
/// it trains with, then fastai's `valley` suggestion, rounded to three significant digits.
/// Prints every rule's suggestion. An optimizer without a suggestion keeps its default.
fn find_lrs(contenders: &[&Contender], recipe: &Recipe, train_set: &Dataset) -> Result<Vec<f64>> {
    let finder = LrFinder::new();
    let c = finder.config();
    println!(
        "\n## Learning-rate finder\n\nfastai's range test on the training set, from the initial \
         weights: the learning rate from {:e} to {} over {} batches of {}, the loss smoothed \
         (debiased moving average, β = {}), stopped at {}× the best loss. The training uses \
         `valley`.\n",
        c.start_lr,
        c.end_lr,
        c.num_it,
        recipe.batch,
        c.beta,
        c.early_stop_threshold.unwrap_or(f64::INFINITY),
    );
    println!("| optimizer | valley | slide | minimum/10 | steep | steps | stop |");
    println!("|---|--:|--:|--:|--:|--:|---|");
    let mut chosen = Vec::with_capacity(contenders.len());
    for contender in contenders {
        let mut model = Mlp::new(&LAYERS, &mut StdRng::seed_from_u64(recipe.seed + 1));
        let mut opt = contender.build(contender.default_lr)?;
        if contender.weight_decay.is_some_and(|wd| wd > 0.0) {
            opt.set_param_groups(Some(ParamGroups::no_decay_for_vectors(&model)))?;
        }
        let bar = progress_bar(c.num_it as u64, format!("finder {}", contender.name))?;
        let found = find_lr(
            &finder,
            &mut model,
            &mut *opt,
            train_set,
            recipe.batch,
            recipe.seed + 2,
            &bar,
        )?;
        bar.finish_and_clear();
        let cell = |rule| {
            found
                .suggest(rule)
                .map_or_else(|| "–".to_string(), |s| format!("{:.2e}", s.lr))
        };
        let stop = match &found.stop {
            Stop::Completed => "completed".to_string(),
            Stop::Diverged { .. } => "diverged".to_string(),
            Stop::NonFiniteLoss { .. } => "NaN loss".to_string(),
            Stop::NonFiniteGradient { .. } => "NaN gradient".to_string(),
            other => format!("{other:?}"),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {stop} |",
            contender.name,
            cell(Rule::Valley),
            cell(Rule::Slide),
            cell(Rule::Minimum),
            cell(Rule::Steep),
            found.lrs.len(),
        );
        chosen.push(match found.suggestion {
            Some(valley) => format!("{:.2e}", valley.lr).parse()?,
            None => contender.default_lr,
        });
    }
    for (contender, lr) in contenders.iter().zip(&chosen) {
        println!("{}: the finder suggests lr {lr} (valley)", contender.name);
    }
    Ok(chosen)
}

/// The learning-rate sweep: every optimizer with every rate of `grid`, trained on 80% of the
/// training set and judged on the other 20%. Returns each optimizer's best: the highest
/// validation accuracy, then the lowest validation loss; its default if every rate diverged.
fn sweep(
    contenders: &[&Contender],
    grid: &[f64],
    recipe: &Recipe,
    train_set: &Dataset,
) -> Result<Vec<f64>> {
    let (fit_set, validation_set) = train_set.split(TEST_FRACTION, recipe.seed + 3);
    println!(
        "\n## Learning-rate sweep\n\nEach optimizer with each learning rate, trained on {} of \
         the training images and judged on the other {} (the test set is not used): validation \
         accuracy after the last epoch. Best: the highest accuracy, then the lowest validation \
         loss.\n",
        fit_set.len(),
        validation_set.len()
    );
    let header: Vec<String> = grid.iter().map(f64::to_string).collect();
    println!("| optimizer | {} | best |", header.join(" | "));
    println!("|---|{}--:|", "--:|".repeat(grid.len()));
    let steps = recipe.epochs * fit_set.len().div_ceil(recipe.batch) * grid.len();
    let mut chosen = Vec::with_capacity(contenders.len());
    for contender in contenders {
        let bar = progress_bar(steps as u64, format!("sweep {}", contender.name))?;
        let mut cells = Vec::with_capacity(grid.len());
        let mut best: Option<(Evaluation, f64)> = None;
        for &lr in grid {
            let run = train(contender, lr, recipe, &fit_set, &validation_set, &bar)?;
            if run.diverged.is_some() {
                cells.push("diverged".to_string());
                continue;
            }
            let eval = run.last_eval();
            cells.push(format!("{:.1}%", 100.0 * eval.accuracy));
            let better = best.is_none_or(|(b, _)| {
                eval.accuracy > b.accuracy || (eval.accuracy == b.accuracy && eval.loss < b.loss)
            });
            if better {
                best = Some((eval, lr));
            }
        }
        bar.finish_and_clear();
        let (lr, text) = match best {
            Some((_, lr)) => (lr, lr.to_string()),
            None => (
                contender.default_lr,
                format!("none, default {}", contender.default_lr),
            ),
        };
        println!("| {} | {} | {text} |", contender.name, cells.join(" | "));
        chosen.push(lr);
    }
    Ok(chosen)
}

/// The picture: training loss and test accuracy after every epoch, and a legend.
mod plot {
    use std::path::Path;

    use super::canvas::{self, Canvas, FONT};
    use super::{Contender, Result, Run};
    use plotters::coord::Shift;
    use plotters::coord::types::RangedCoordf64;
    use plotters::prelude::*;

    const PANEL: (u32, u32) = (600, 600);
    const LEGEND_WIDTH: u32 = 230;
    const TITLE_HEIGHT: u32 = 58;

    /// Draws `runs` (drawn in the colours of `contenders`, in the same order) to the PNG `file`.
    pub(super) fn draw(
        file: &Path,
        title: &str,
        subtitle: &str,
        runs: &[Run],
        contenders: &[&Contender],
        fast: bool,
    ) -> Result<()> {
        let size = (2 * PANEL.0 + LEGEND_WIDTH, PANEL.1 + TITLE_HEIGHT);
        let mut pixels = vec![0; 3 * size.0 as usize * size.1 as usize];
        {
            let root = Canvas::new(&mut pixels, size, FONT)?.into_drawing_area();
            root.fill(&WHITE)?;
            let (top, body) = root.split_vertically(TITLE_HEIGHT);
            top.draw(&Text::new(title, (14, 8), ("sans-serif", 22).into_font()))?;
            top.draw(&Text::new(
                subtitle,
                (14, 35),
                ("sans-serif", 15).into_font().color(&RGBColor(80, 80, 80)),
            ))?;
            let (left, rest) = body.split_horizontally(PANEL.0);
            let (middle, legend) = rest.split_horizontally(PANEL.0);
            loss_panel(&left, runs, contenders)?;
            accuracy_panel(&middle, runs, contenders)?;
            legend_panel(&legend, runs, contenders)?;
            root.present()?;
        }
        canvas::write_png(file, size, &pixels, fast)
    }

    fn colour(contender: &Contender) -> RGBColor {
        let (r, g, b) = contender.style.colour;
        RGBColor(r, g, b)
    }

    /// One curve: solid or dashed, as the contender is drawn.
    fn curve<Y: Ranged<ValueType = f64>>(
        chart: &mut ChartContext<'_, Canvas<'_>, Cartesian2d<RangedCoordf64, Y>>,
        points: Vec<(f64, f64)>,
        contender: &Contender,
    ) -> Result<()> {
        let style = colour(contender).stroke_width(2);
        if contender.style.dashed {
            chart.draw_series(DashedLineSeries::new(points, 7, 4, style))?;
        } else {
            chart.draw_series(LineSeries::new(points, style))?;
        }
        Ok(())
    }

    fn epochs(runs: &[Run]) -> f64 {
        runs.iter()
            .map(|r| r.train.len() - 1)
            .max()
            .unwrap_or(1)
            .max(1) as f64
    }

    fn loss_panel(
        area: &DrawingArea<Canvas<'_>, Shift>,
        runs: &[Run],
        contenders: &[&Contender],
    ) -> Result<()> {
        let losses = || runs.iter().flat_map(|r| r.train.iter().map(|e| e.loss));
        let top = losses().filter(|l| l.is_finite()).fold(1e-6, f64::max) * 1.5;
        let bottom = losses().filter(|l| *l > 0.0).fold(top, f64::min) / 1.5;
        let mut chart = ChartBuilder::on(area)
            .caption(
                "training loss (cross-entropy, whole training set)",
                ("sans-serif", 17),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..epochs(runs), (bottom..top).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("loss")
            .label_style(("sans-serif", 13))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .light_line_style(RGBColor(240, 240, 240))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()?;
        for (run, contender) in runs.iter().zip(contenders).rev() {
            let points = run
                .train
                .iter()
                .enumerate()
                .map(|(epoch, e)| {
                    let loss = if e.loss.is_finite() { e.loss } else { top };
                    (epoch as f64, loss.clamp(bottom, top))
                })
                .collect();
            curve(&mut chart, points, contender)?;
        }
        Ok(())
    }

    fn accuracy_panel(
        area: &DrawingArea<Canvas<'_>, Shift>,
        runs: &[Run],
        contenders: &[&Contender],
    ) -> Result<()> {
        // The interesting part is near 100%: the axis starts below the lowest accuracy of the
        // second half of training, and the lines from the start come in through the bottom.
        let late = runs
            .iter()
            .flat_map(|r| r.eval[r.eval.len() / 2..].iter().map(|e| e.accuracy))
            .fold(1.0, f64::min);
        let bottom = ((late * 100.0 - 5.0) / 10.0).floor().clamp(0.0, 9.0) * 10.0;
        let mut chart = ChartBuilder::on(area)
            .caption("test accuracy", ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..epochs(runs), bottom..100.0)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("accuracy (%)")
            .label_style(("sans-serif", 13))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .light_line_style(RGBColor(240, 240, 240))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()?;
        for (run, contender) in runs.iter().zip(contenders).rev() {
            let points: Vec<(f64, f64)> = run
                .eval
                .iter()
                .enumerate()
                .map(|(epoch, e)| (epoch as f64, 100.0 * e.accuracy))
                .collect();
            curve(&mut chart, above(&points, bottom), contender)?;
        }
        Ok(())
    }

    /// The curve from where it first rises above `bottom`, entering at the bottom edge.
    fn above(points: &[(f64, f64)], bottom: f64) -> Vec<(f64, f64)> {
        let Some(first) = points.iter().position(|p| p.1 >= bottom) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(points.len() - first + 1);
        if first > 0 {
            let ((x0, y0), (x1, y1)) = (points[first - 1], points[first]);
            let t = (bottom - y0) / (y1 - y0);
            out.push((x0 + t * (x1 - x0), bottom));
        }
        out.extend(points[first..].iter().map(|&(x, y)| (x, y.max(bottom))));
        out
    }

    fn legend_panel(
        area: &DrawingArea<Canvas<'_>, Shift>,
        runs: &[Run],
        contenders: &[&Contender],
    ) -> Result<()> {
        let font = ("sans-serif", 15).into_font();
        let small = ("sans-serif", 12).into_font().color(&RGBColor(90, 90, 90));
        area.draw(&Text::new("optimizer, lr", (4, 40), font.clone()))?;
        area.draw(&Text::new("final test accuracy", (4, 58), small.clone()))?;
        // One entry of two lines per optimizer, spread over the height.
        let (top, bottom) = (88, PANEL.1 as i32 - 34);
        let pitch = ((bottom - top) / runs.len().max(1) as i32).clamp(32, 38);
        for (k, (run, contender)) in runs.iter().zip(contenders).enumerate() {
            let y = top + pitch * k as i32;
            let line = colour(contender).stroke_width(3);
            if contender.style.dashed {
                for x in [4, 16, 28] {
                    area.draw(&PathElement::new(vec![(x, y + 8), (x + 8, y + 8)], line))?;
                }
            } else {
                area.draw(&PathElement::new(vec![(4, y + 8), (36, y + 8)], line))?;
            }
            area.draw(&Text::new(
                format!("{}, {}", run.name, run.lr),
                (44, y),
                font.clone(),
            ))?;
            let result = match run.diverged {
                Some(epoch) => format!("diverged in epoch {epoch}"),
                None => format!("{:.2}%", 100.0 * run.last_eval().accuracy),
            };
            area.draw(&Text::new(result, (44, y + 18), small.clone()))?;
        }
        Ok(())
    }
}
