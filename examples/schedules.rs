//! Every learning-rate schedule over one run, side by side.
//!
//! Each column is a schedule attached to its own optimizer (SGD with momentum, learning rate
//! 0.1) and stepped once per row, the way a training loop steps it: row `k` is the learning
//! rate epoch (or batch) `k` trains with. Columns ending in `·m` show the momentum that
//! `CyclicLR` and `OneCycleLR` cycle with it. The last table drives `ReduceLROnPlateau` with a
//! made-up validation loss that stalls.
//!
//! ```text
//! cargo run --example schedules                       # 100 steps, every 5th printed
//! cargo run --example schedules -- --steps 40 --every 1
//! ```

use ndarray_optim::schedule::{
    AnnealStrategy, ChainedScheduler, ConstantLr, CosineAnnealingLr, CosineAnnealingWarmRestarts,
    CyclicLr, CyclicMode, ExponentialLr, LambdaLr, LinearLr, MultiStepLr, MultiplicativeLr,
    OneCycleLr, PolynomialLr, ReduceLrOnPlateau, Schedule, Scheduler, SequentialLr, StepLr, Warmup,
};
use ndarray_optim::{Error, Optimizer, SgdConfig};

const BASE_LR: f64 = 0.1;
const WIDTH: usize = 11;

/// One column: a schedule attached to its own optimizer.
struct Column {
    title: String,
    optimizer: Box<dyn Optimizer<f32>>,
    scheduler: Scheduler,
    /// Also print the momentum, in a column of its own.
    momentum: bool,
}

fn sgd() -> Result<Box<dyn Optimizer<f32>>, Error> {
    Ok(Box::new(
        SgdConfig::default()
            .lr(BASE_LR)
            .momentum(0.9)
            .build::<f32>()?,
    ))
}

fn column(title: &str, schedule: impl Schedule + 'static) -> Result<Column, Error> {
    let mut optimizer = sgd()?;
    let schedule: Box<dyn Schedule> = Box::new(schedule);
    let momentum = schedule.momentum(0)?.is_some();
    let scheduler = schedule.attach(&mut optimizer)?;
    Ok(Column {
        title: title.to_string(),
        optimizer,
        scheduler,
        momentum,
    })
}

fn print_table(heading: &str, columns: &mut [Column], steps: u64, every: u64) -> Result<(), Error> {
    println!("\n{heading}\n");
    let mut header = format!("{:>5}", "k");
    for c in columns.iter() {
        header += &format!(" {:>WIDTH$}", c.title);
        if c.momentum {
            header += &format!(" {:>WIDTH$}", format!("{}·m", c.title));
        }
    }
    println!("{header}");
    for k in 0..=steps {
        if k % every == 0 || k == steps {
            let mut row = format!("{k:>5}");
            for c in columns.iter() {
                row += &format!(" {:>WIDTH$.3e}", c.optimizer.learning_rate());
                if c.momentum {
                    let m = c.optimizer.momentum().unwrap_or(f64::NAN);
                    row += &format!(" {m:>WIDTH$.4}");
                }
            }
            println!("{row}");
        }
        if k < steps {
            for c in columns.iter_mut() {
                // (a training epoch or batch with c.optimizer would go here)
                c.scheduler.step(&mut c.optimizer)?;
            }
        }
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let (steps, every) = parse_args();
    let n = steps.max(1);
    println!("learning rates over {steps} steps, base learning rate {BASE_LR}");

    let mut per_epoch = vec![
        column("StepLR", StepLr::new((n / 3).max(1), 0.1)?)?,
        column("MultiStep", MultiStepLr::new(vec![n / 2, n * 3 / 4], 0.1)?)?,
        column("ConstantLR", ConstantLr::new(1.0 / 3.0, 5)?)?,
        column("LinearLR", LinearLr::new(1.0 / 3.0, 1.0, (n / 5).max(1))?)?,
        column("Exponential", ExponentialLr::new(0.95)?)?,
        column("Polynomial", PolynomialLr::new(n, 2.0)?)?,
        column("Cosine", CosineAnnealingLr::new(n, 1e-3)?)?,
        column(
            "WarmRestart",
            CosineAnnealingWarmRestarts::new((n / 7).max(1), 2, 1e-3)?,
        )?,
        column("Lambda", LambdaLr::new(|k| 1.0 / (1.0 + 0.05 * k as f64)))?,
        column(
            "Multiplic.",
            MultiplicativeLr::new(|k| if k % 10 == 0 { 0.7 } else { 1.0 }),
        )?,
    ];
    print_table("Per-epoch schedules", &mut per_epoch, steps, every)?;

    let mut per_batch = vec![
        column("Cyclic", CyclicLr::new(0.01, 0.1, (n / 8).max(1))?)?,
        column(
            "Cyclic2",
            CyclicLr::new(0.01, 0.1, (n / 8).max(1))?.with_mode(CyclicMode::Triangular2)?,
        )?,
        column(
            "CyclicExp",
            CyclicLr::new(0.01, 0.1, (n / 8).max(1))?
                .with_mode(CyclicMode::ExpRange { gamma: 0.99 })?
                .with_cycle_momentum(false),
        )?,
        column("OneCycle", OneCycleLr::new(0.1, n)?)?,
        column(
            "OneCycle3",
            OneCycleLr::new(0.1, n)?
                .with_three_phase(true)
                .with_anneal_strategy(AnnealStrategy::Linear),
        )?,
    ];
    print_table(
        "Per-batch schedules (momentum cycled inversely)",
        &mut per_batch,
        steps,
        every,
    )?;

    let warmup = (n / 10).max(1);
    let mut composed = vec![
        column(
            "Sequential",
            SequentialLr::new(
                vec![
                    Box::new(LinearLr::new(0.1, 1.0, warmup)?),
                    Box::new(CosineAnnealingLr::new((n - warmup).max(1), 0.0)?),
                ],
                vec![warmup],
            )?,
        )?,
        column(
            "Chained",
            ChainedScheduler::new(vec![
                Box::new(ConstantLr::new(0.1, 5)?),
                Box::new(ExponentialLr::new(0.97)?),
            ])?,
        )?,
        column("WarmupCos", Warmup::cosine(warmup, n + 1)?)?,
        column(
            "WarmupLin",
            Warmup::linear(warmup, n + 1)?
                .with_start_factor(0.01)?
                .with_end_factor(0.1)?,
        )?,
    ];
    print_table("Compositions and warmups", &mut composed, steps, every)?;

    plateau(steps, every)
}

/// ReduceLROnPlateau on a validation loss that improves, stalls, improves a little, stalls.
fn plateau(steps: u64, every: u64) -> Result<(), Error> {
    println!("\nReduceLROnPlateau (patience 5, factor 0.5, cooldown 2, min_lr 1e-3)\n");
    println!("{:>5} {:>WIDTH$} {:>WIDTH$}", "k", "val loss", "lr");
    let mut optimizer = sgd()?;
    let mut plateau = ReduceLrOnPlateau::new()
        .with_patience(5)
        .with_factor(0.5)?
        .with_cooldown(2)
        .with_min_lr(1e-3)?;
    for k in 0..=steps {
        let loss = 1.0 / (1.0 + 0.2 * (k.min(15) as f64 + 0.1 * k.saturating_sub(40) as f64));
        if k % every == 0 || k == steps {
            println!(
                "{k:>5} {loss:>WIDTH$.4} {:>WIDTH$.3e}",
                optimizer.learning_rate()
            );
        }
        plateau.step(&mut optimizer, loss)?;
    }
    Ok(())
}

fn parse_args() -> (u64, u64) {
    let mut steps = 100;
    let mut every = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage(&format!("{name} needs a number")))
        };
        match arg.as_str() {
            "--steps" => steps = value("--steps"),
            "--every" => every = Some(value("--every").max(1)),
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    (steps, every.unwrap_or((steps / 20).max(1)))
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("{problem}");
    }
    eprintln!("usage: cargo run --example schedules -- [--steps N] [--every K]");
    std::process::exit(if problem.is_empty() { 0 } else { 2 })
}
