//! Every learning-rate schedule over one run, side by side: printed as tables, and drawn.
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
//! cargo run --release --example schedules -- --out docs/schedules.png
//! ```
//!
//! The picture (`--out FILE`, default `target/schedules.png`; `--no-plot` skips it) draws
//! every row of the same runs, each value read once from the optimizer for both: the tables'
//! columns in small panels of two or three, the per-batch schedules beside the momentum they
//! cycle, `ReduceLROnPlateau` over the loss it watches. Only the two cosine schedules run on
//! in the picture, to twice `T_max`, to show `CosineAnnealingLR` past `T_max`. A debug build
//! writes the PNG file with fast compression, a release build with the best.
//!
//! Text in the picture is drawn with DejaVu Sans, embedded from `assets/fonts/DejaVuSans.ttf`
//! (Bitstream Vera licence, see `assets/fonts/LICENSE-DejaVu.txt`), by the shared
//! `examples/common/canvas.rs`.

#[path = "common/canvas.rs"]
mod canvas;

use std::path::PathBuf;

use ndarray_optim::schedule::{
    AnnealStrategy, ChainedScheduler, ConstantLr, CosineAnnealingLr, CosineAnnealingWarmRestarts,
    CyclicLr, CyclicMode, ExponentialLr, LambdaLr, LinearLr, MultiStepLr, MultiplicativeLr,
    OneCycleLr, PolynomialLr, ReduceLrOnPlateauConfig, Schedule, Scheduler, SequentialLr, StepLr,
    Warmup,
};
use ndarray_optim::{Error, Optimizer, SgdConfig};
use plot::{Axis, Curve, Panel};

const BASE_LR: f64 = 0.1;
const WIDTH: usize = 11;

/// One column: a schedule attached to its own optimizer, and what it wrote at every step.
struct Column {
    /// The table's header.
    title: String,
    /// The picture's legend: the schedule and its arguments.
    label: String,
    optimizer: Box<dyn Optimizer<f32>>,
    scheduler: Scheduler,
    /// Also print the momentum, in a column of its own.
    momentum: bool,
    /// The optimizer's learning rate at step `k` (row `k`), and its momentum if `momentum`:
    /// what the table prints and the picture draws.
    lrs: Vec<f64>,
    momenta: Vec<f64>,
}

impl Column {
    /// Reads the optimizer's learning rate (and momentum) for the next row.
    fn record(&mut self) {
        self.lrs.push(self.optimizer.learning_rate());
        if self.momentum {
            self.momenta
                .push(self.optimizer.momentum().unwrap_or(f64::NAN));
        }
    }

    fn step(&mut self) -> Result<(), Error> {
        // (a training epoch or batch with self.optimizer would go here)
        self.scheduler.step(&mut self.optimizer)?;
        Ok(())
    }

    /// Steps on, past the table's last row, until `rows` rows are recorded.
    fn run_until(&mut self, rows: usize) -> Result<(), Error> {
        while self.lrs.len() < rows {
            self.step()?;
            self.record();
        }
        Ok(())
    }
}

fn sgd() -> Result<Box<dyn Optimizer<f32>>, Error> {
    Ok(Box::new(
        SgdConfig::default()
            .lr(BASE_LR)
            .momentum(0.9)
            .build::<f32>()?,
    ))
}

fn column(title: &str, label: String, schedule: impl Schedule + 'static) -> Result<Column, Error> {
    let mut optimizer = sgd()?;
    let schedule: Box<dyn Schedule> = Box::new(schedule);
    let momentum = schedule.momentum(0)?.is_some();
    let scheduler = schedule.attach(&mut optimizer)?;
    Ok(Column {
        title: title.to_string(),
        label,
        optimizer,
        scheduler,
        momentum,
        lrs: Vec::new(),
        momenta: Vec::new(),
    })
}

/// Steps every column `steps` times, recording every row and printing every `every`-th.
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
        columns.iter_mut().for_each(Column::record);
        if k % every == 0 || k == steps {
            let mut row = format!("{k:>5}");
            for c in columns.iter() {
                row += &format!(" {:>WIDTH$.3e}", c.lrs[k as usize]);
                if c.momentum {
                    let m = c.momenta[k as usize];
                    row += &format!(" {m:>WIDTH$.4}");
                }
            }
            println!("{row}");
        }
        if k < steps {
            for c in columns.iter_mut() {
                c.step()?;
            }
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Options { steps, every, out } = parse_args();
    let n = steps.max(1);
    println!("learning rates over {steps} steps, base learning rate {BASE_LR}");

    let (step_size, milestones, ramp) = ((n / 3).max(1), vec![n / 2, n * 3 / 4], (n / 5).max(1));
    let t_0 = (n / 7).max(1);
    let mut per_epoch = vec![
        column(
            "StepLR",
            format!("StepLR: ×0.1 every {step_size}"),
            StepLr::new(step_size).gamma(0.1),
        )?,
        column(
            "MultiStep",
            format!("MultiStepLR: ×0.1 at {milestones:?}"),
            MultiStepLr::new(milestones).gamma(0.1),
        )?,
        column(
            "ConstantLR",
            "ConstantLR: ×1/3 for 5".into(),
            ConstantLr::default(), // PyTorch's: factor 1/3, total_iters 5
        )?,
        column(
            "LinearLR",
            format!("LinearLR: ×1/3 → ×1 over {ramp}"),
            LinearLr::default().total_iters(ramp),
        )?,
        column(
            "Exponential",
            "ExponentialLR: γ 0.95".into(),
            ExponentialLr::new(0.95),
        )?,
        column(
            "Polynomial",
            format!("PolynomialLR: power 2 over {n}"),
            PolynomialLr::default().total_iters(n).power(2.0),
        )?,
        column(
            "Cosine",
            format!("CosineAnnealingLR: T_max {n}"),
            CosineAnnealingLr::new(n).eta_min(1e-3),
        )?,
        column(
            "WarmRestart",
            format!("CosineAnnealingWarmRestarts: T_0 {t_0}, T_mult 2"),
            CosineAnnealingWarmRestarts::new(t_0)
                .t_mult(2)
                .eta_min(1e-3),
        )?,
        column(
            "Lambda",
            "LambdaLR: 1/(1 + 0.05k)".into(),
            LambdaLr::new(|k| 1.0 / (1.0 + 0.05 * k as f64)),
        )?,
        column(
            "Multiplic.",
            "MultiplicativeLR: ×0.7 every 10".into(),
            MultiplicativeLr::new(|k| if k % 10 == 0 { 0.7 } else { 1.0 }),
        )?,
    ];
    print_table("Per-epoch schedules", &mut per_epoch, steps, every)?;

    let half_cycle = (n / 8).max(1);
    let cyclic = || CyclicLr::new(0.01, 0.1).step_size_up(half_cycle);
    let mut per_batch = vec![
        column(
            "Cyclic",
            format!("triangular, 0.01 ↔ 0.1, up {half_cycle}"),
            cyclic(),
        )?,
        column(
            "Cyclic2",
            "triangular2".into(),
            cyclic().mode(CyclicMode::Triangular2),
        )?,
        column(
            "CyclicExp",
            "exp_range γ 0.99, momentum not cycled".into(),
            cyclic()
                .mode(CyclicMode::ExpRange)
                .gamma(0.99)
                .cycle_momentum(false),
        )?,
        column(
            "OneCycle",
            format!("cos, 2 phases, max 0.1, {n} steps"),
            OneCycleLr::new(0.1, n),
        )?,
        column(
            "OneCycle3",
            "linear, 3 phases".into(),
            OneCycleLr::new(0.1, n)
                .three_phase(true)
                .anneal_strategy(AnnealStrategy::Linear),
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
            format!("SequentialLR: LinearLR ×0.1 → ×1, then cosine at {warmup}"),
            SequentialLr::new(
                vec![
                    Box::new(LinearLr::default().start_factor(0.1).total_iters(warmup)),
                    Box::new(CosineAnnealingLr::new((n - warmup).max(1))),
                ],
                vec![warmup],
            ),
        )?,
        column(
            "Chained",
            "ChainedScheduler: ConstantLR ×0.1 for 5, ExponentialLR γ 0.97".into(),
            ChainedScheduler::new(vec![
                Box::new(ConstantLr::default().factor(0.1)),
                Box::new(ExponentialLr::new(0.97)),
            ]),
        )?,
        column(
            "WarmupCos",
            format!("Warmup::cosine({warmup}, {})", n + 1),
            Warmup::cosine(warmup, n + 1),
        )?,
        column(
            "WarmupLin",
            format!("Warmup::linear({warmup}, {}), ×0.01 → ×1 → ×0.1", n + 1),
            Warmup::linear(warmup, n + 1)
                .start_factor(0.01)
                .end_factor(0.1),
        )?,
    ];
    print_table("Compositions and warmups", &mut composed, steps, every)?;

    let plateau = plateau(steps, every)?;

    let Some(out) = out else {
        return Ok(());
    };
    // Only the picture follows the cosine schedules on, to twice T_max.
    for c in &mut per_epoch {
        if c.title == "Cosine" || c.title == "WarmRestart" {
            c.run_until(2 * n as usize + 1)?;
        }
    }
    let panels = panels(n, &per_epoch, &per_batch, &composed, &plateau);
    let title = format!(
        "Learning-rate schedules over {steps} steps, base learning rate {BASE_LR} \
         (SGD, momentum 0.9)"
    );
    let subtitle = "Step k: the learning rate (or momentum) epoch or batch k trains with, after k \
                    scheduler steps; the values of the tables printed by `cargo run --example \
                    schedules`.";
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    plot::draw(&out, &title, subtitle, &panels, cfg!(debug_assertions))?;
    println!("\nDrawn: {}", out.display());
    Ok(())
}

/// The columns drawn together, in the order of the tables: four panels a row.
fn panels<'a>(
    n: u64,
    per_epoch: &'a [Column],
    per_batch: &'a [Column],
    composed: &'a [Column],
    plateau: &'a PlateauRun,
) -> Vec<Vec<Panel<'a>>> {
    let lr = |columns: &'a [Column], title: &str| {
        let c = find(columns, title);
        Curve::new(&c.label, &c.lrs)
    };
    let momentum = |columns: &'a [Column], title: &str| {
        let c = find(columns, title);
        Curve::new(&c.label, &c.momenta)
    };
    let (e, b) = (per_epoch, per_batch);
    vec![
        vec![
            Panel::new(
                "StepLR, MultiStepLR, MultiplicativeLR (log scale)",
                "epoch",
                Axis::LogLr,
                vec![
                    lr(e, "StepLR"),
                    lr(e, "MultiStep").dashed(),
                    lr(e, "Multiplic."),
                ],
            )
            .section("Per-epoch schedules"),
            Panel::new(
                "ExponentialLR, PolynomialLR, LambdaLR",
                "epoch",
                Axis::Lr,
                vec![lr(e, "Exponential"), lr(e, "Polynomial"), lr(e, "Lambda")],
            ),
            Panel::new(
                "ConstantLR, LinearLR",
                "epoch",
                Axis::Lr,
                vec![lr(e, "ConstantLR"), lr(e, "LinearLR").dashed()],
            ),
            Panel::new(
                "CosineAnnealingLR (on past T_max), WarmRestarts",
                "epoch",
                Axis::Lr,
                vec![lr(e, "Cosine"), lr(e, "WarmRestart")],
            )
            .mark(n as f64, "T_max"),
        ],
        vec![
            Panel::new(
                "CyclicLR: learning rate",
                "batch",
                Axis::Lr,
                vec![
                    lr(b, "Cyclic"),
                    lr(b, "Cyclic2").dashed(),
                    lr(b, "CyclicExp"),
                ],
            )
            .section("Per-batch schedules (momentum cycled inversely)"),
            Panel::new(
                "CyclicLR: momentum",
                "batch",
                Axis::Momentum,
                vec![momentum(b, "Cyclic"), momentum(b, "Cyclic2").dashed()],
            ),
            Panel::new(
                "OneCycleLR: learning rate",
                "batch",
                Axis::Lr,
                vec![lr(b, "OneCycle"), lr(b, "OneCycle3")],
            ),
            Panel::new(
                "OneCycleLR: momentum",
                "batch",
                Axis::Momentum,
                vec![momentum(b, "OneCycle"), momentum(b, "OneCycle3")],
            ),
        ],
        vec![
            Panel::new(
                "SequentialLR (warmup → cosine), ChainedScheduler",
                "step",
                Axis::Lr,
                vec![lr(composed, "Sequential"), lr(composed, "Chained")],
            )
            .section("Compositions and warmups"),
            Panel::new(
                "Warmup: cosine and linear decay",
                "step",
                Axis::Lr,
                vec![lr(composed, "WarmupCos"), lr(composed, "WarmupLin")],
            ),
            Panel::new(
                "the learning rate, and the validation loss it watches",
                "epoch",
                Axis::Lr,
                vec![Curve::new("learning rate (left axis)", &plateau.lr)],
            )
            .right(
                "validation loss",
                Curve::new("validation loss (right axis)", &plateau.loss),
            )
            .section(&plateau.heading)
            .wide(),
        ],
    ]
}

/// The column of a table with the header `title`.
fn find<'a>(columns: &'a [Column], title: &str) -> &'a Column {
    columns
        .iter()
        .find(|c| c.title == title)
        .unwrap_or_else(|| panic!("no column {title}"))
}

/// The ReduceLROnPlateau run: the validation loss and the learning rate at every epoch.
struct PlateauRun {
    heading: String,
    loss: Vec<f64>,
    lr: Vec<f64>,
}

/// ReduceLROnPlateau on a validation loss that improves, stalls, improves a little, stalls.
fn plateau(steps: u64, every: u64) -> Result<PlateauRun, Error> {
    const PATIENCE: u64 = 5;
    const FACTOR: f64 = 0.5;
    const COOLDOWN: u64 = 2;
    const MIN_LR: f64 = 1e-3;
    let heading = format!(
        "ReduceLROnPlateau (patience {PATIENCE}, factor {FACTOR}, cooldown {COOLDOWN}, \
         min_lr {MIN_LR:e})"
    );
    println!("\n{heading}\n");
    println!("{:>5} {:>WIDTH$} {:>WIDTH$}", "k", "val loss", "lr");
    let mut optimizer = sgd()?;
    let mut plateau = ReduceLrOnPlateauConfig::default()
        .patience(PATIENCE)
        .factor(FACTOR)
        .cooldown(COOLDOWN)
        .min_lr(MIN_LR)
        .build()?;
    let mut run = PlateauRun {
        heading,
        loss: Vec::new(),
        lr: Vec::new(),
    };
    for k in 0..=steps {
        let loss = 1.0 / (1.0 + 0.2 * (k.min(15) as f64 + 0.1 * k.saturating_sub(40) as f64));
        run.loss.push(loss);
        run.lr.push(optimizer.learning_rate());
        if k % every == 0 || k == steps {
            println!("{k:>5} {loss:>WIDTH$.4} {:>WIDTH$.3e}", run.lr[k as usize]);
        }
        plateau.step(&mut optimizer, loss)?;
    }
    Ok(run)
}

struct Options {
    steps: u64,
    every: u64,
    /// The picture, unless `--no-plot`.
    out: Option<PathBuf>,
}

fn parse_args() -> Options {
    let mut steps = 100;
    let mut every = None;
    let mut out = Some(PathBuf::from("target/schedules.png"));
    let mut plot = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str, what: &str| -> String {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs {what}")))
        };
        let mut number = |name: &str| -> u64 {
            value(name, "a number")
                .parse()
                .unwrap_or_else(|_| usage(&format!("{name} needs a number")))
        };
        match arg.as_str() {
            "--steps" => steps = number("--steps"),
            "--every" => every = Some(number("--every").max(1)),
            "--out" => out = Some(value("--out", "a file name").into()),
            "--no-plot" => plot = false,
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    Options {
        steps,
        every: every.unwrap_or((steps / 20).max(1)),
        out: out.filter(|_| plot),
    }
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("{problem}");
    }
    eprintln!(
        "usage: cargo run --example schedules -- [--steps N] [--every K] [--out FILE] [--no-plot]\n\
         --steps N    the length of the run (default 100)\n\
         --every K    print every K-th row (default: steps / 20)\n\
         --out FILE   the picture (default target/schedules.png)\n\
         --no-plot    print the tables only"
    );
    std::process::exit(if problem.is_empty() { 0 } else { 2 })
}

/// The picture: small panels of learning rates (and momenta) against the step.
mod plot {
    use std::error::Error as StdError;
    use std::path::Path;

    use super::canvas::{self, Canvas, FONT};
    use plotters::coord::Shift;
    use plotters::coord::ranged1d::{Ranged, ValueFormatter};
    use plotters::coord::types::RangedCoordf64;
    use plotters::prelude::*;

    type Result<T> = std::result::Result<T, Box<dyn StdError>>;
    type Area<'a> = DrawingArea<Canvas<'a>, Shift>;

    /// One panel's size; a wide panel takes two.
    const SLOT: (u32, u32) = (420, 330);
    const SLOTS_PER_ROW: u32 = 4;
    const TITLE_HEIGHT: u32 = 62;
    const SECTION_HEIGHT: u32 = 34;
    /// Okabe and Ito's colours, told apart with any colour vision: blue, vermillion, green,
    /// reddish purple.
    const COLOURS: [RGBColor; 4] = [
        RGBColor(0, 114, 178),
        RGBColor(213, 94, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
    ];
    const GREY: RGBColor = RGBColor(90, 90, 90);

    /// One curve: `values[k]` at step `k`.
    pub struct Curve<'a> {
        label: &'a str,
        values: &'a [f64],
        /// Dashed, to show a curve drawn on top of another.
        dashed: bool,
    }

    impl<'a> Curve<'a> {
        pub fn new(label: &'a str, values: &'a [f64]) -> Self {
            Curve {
                label,
                values,
                dashed: false,
            }
        }

        pub fn dashed(self) -> Self {
            Curve {
                dashed: true,
                ..self
            }
        }
    }

    /// What the vertical axis shows.
    pub enum Axis {
        Lr,
        LogLr,
        Momentum,
    }

    pub struct Panel<'a> {
        title: &'a str,
        /// The heading of a group of panels, drawn above this one.
        section: Option<&'a str>,
        x_desc: &'static str,
        axis: Axis,
        curves: Vec<Curve<'a>>,
        /// A curve against an axis on the right, and the axis's name.
        right: Option<(&'a str, Curve<'a>)>,
        /// A vertical line at a step, and its name.
        mark: Option<(f64, &'a str)>,
        slots: u32,
    }

    impl<'a> Panel<'a> {
        pub fn new(
            title: &'a str,
            x_desc: &'static str,
            axis: Axis,
            curves: Vec<Curve<'a>>,
        ) -> Self {
            Panel {
                title,
                section: None,
                x_desc,
                axis,
                curves,
                right: None,
                mark: None,
                slots: 1,
            }
        }

        pub fn section(self, heading: &'a str) -> Self {
            Panel {
                section: Some(heading),
                ..self
            }
        }

        pub fn right(self, axis: &'a str, curve: Curve<'a>) -> Self {
            Panel {
                right: Some((axis, curve)),
                ..self
            }
        }

        pub fn mark(self, step: f64, name: &'a str) -> Self {
            Panel {
                mark: Some((step, name)),
                ..self
            }
        }

        pub fn wide(self) -> Self {
            Panel { slots: 2, ..self }
        }

        /// Every curve with its colour, the right axis's last.
        fn legend(&self) -> impl Iterator<Item = (RGBColor, &Curve<'a>)> {
            let right = self.right.iter().map(|(_, curve)| curve);
            COLOURS
                .into_iter()
                .cycle()
                .zip(self.curves.iter().chain(right))
        }
    }

    /// Draws `rows` of panels under a title into the PNG `file`.
    pub fn draw(
        file: &Path,
        title: &str,
        subtitle: &str,
        rows: &[Vec<Panel>],
        fast: bool,
    ) -> Result<()> {
        let row_height = SECTION_HEIGHT + SLOT.1;
        let size = (
            SLOTS_PER_ROW * SLOT.0,
            TITLE_HEIGHT + rows.len() as u32 * row_height,
        );
        let mut pixels = vec![0; 3 * size.0 as usize * size.1 as usize];
        {
            let root = Canvas::new(&mut pixels, size, FONT)?.into_drawing_area();
            root.fill(&WHITE)?;
            root.draw(&Text::new(title, (14, 8), ("sans-serif", 22).into_font()))?;
            root.draw(&Text::new(
                subtitle,
                (14, 36),
                ("sans-serif", 15).into_font().color(&GREY),
            ))?;
            for (r, row) in rows.iter().enumerate() {
                let top = TITLE_HEIGHT + r as u32 * row_height;
                let mut left = 0;
                for panel in row {
                    if let Some(heading) = panel.section {
                        let y = top as i32 + 8;
                        root.draw(&Text::new(
                            heading,
                            (left as i32 + 14, y),
                            ("sans-serif", 19).into_font(),
                        ))?;
                    }
                    let width = panel.slots * SLOT.0;
                    let area = root
                        .clone()
                        .shrink((left, top + SECTION_HEIGHT), (width, SLOT.1));
                    draw_panel(&area, panel)?;
                    left += width;
                }
            }
            root.present()?;
        }
        canvas::write_png(file, size, &pixels, fast)
    }

    fn draw_panel(area: &Area, panel: &Panel) -> Result<()> {
        area.draw(&Text::new(
            panel.title,
            (14, 0),
            ("sans-serif", 16).into_font(),
        ))?;
        let legend_bottom = legend(area, panel)?;
        let (_, body) = area.split_vertically(legend_bottom + 4);
        let steps = panel
            .legend()
            .map(|(_, c)| c.values.len().saturating_sub(1))
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        let mut builder = ChartBuilder::on(&body);
        builder
            .margin_left(6)
            .margin_right(if panel.right.is_some() { 6 } else { 18 })
            .margin_bottom(6)
            .x_label_area_size(38)
            .y_label_area_size(58);
        if panel.right.is_some() {
            builder.right_y_label_area_size(58);
        }
        let left = || panel.curves.iter().flat_map(|c| c.values.iter().copied());
        match panel.axis {
            Axis::LogLr => {
                let positive = || left().filter(|v| *v > 0.0);
                // Six decades at most: lower values run along the bottom.
                let high = positive().fold(BOTTOM, f64::max) * 2.0;
                let low = (positive().fold(high, f64::min) / 2.0).max(high * 1e-6);
                let mut chart = builder.build_cartesian_2d(0.0..steps, (low..high).log_scale())?;
                mesh(&mut chart, panel, "learning rate", &|v| format!("{v:.0e}"))?;
                curves(&mut chart, panel, low, high)?;
            }
            Axis::Lr | Axis::Momentum => {
                let (low, high) = match panel.axis {
                    Axis::Momentum => padded(left()),
                    _ => (0.0, left().fold(0.0, f64::max).max(BOTTOM) * 1.08),
                };
                let places = decimals(high - low);
                let format = |v: &f64| format!("{v:.places$}");
                let name = match panel.axis {
                    Axis::Momentum => "momentum",
                    _ => "learning rate",
                };
                let mut chart = builder.build_cartesian_2d(0.0..steps, low..high)?;
                let Some((right_name, right)) = &panel.right else {
                    mesh(&mut chart, panel, name, &format)?;
                    return curves(&mut chart, panel, low, high);
                };
                // The right axis first, so that the left one keeps to the left.
                let top = right.values.iter().copied().fold(0.0, f64::max).max(BOTTOM) * 1.08;
                let right_places = decimals(top);
                let mut chart = chart.set_secondary_coord(0.0..steps, 0.0..top);
                mesh(&mut chart, panel, name, &format)?;
                curves(&mut chart, panel, low, high)?;
                chart
                    .configure_secondary_axes()
                    .y_desc(*right_name)
                    .label_style(("sans-serif", 12))
                    .axis_desc_style(("sans-serif", 14))
                    .y_labels(6)
                    .y_label_formatter(&|v| format!("{v:.right_places$}"))
                    .draw()?;
                let colour = panel.legend().last().map_or(GREY, |(c, _)| c);
                let points = points(right.values, body.dim_in_pixel().0 as usize);
                if let [point] = points[..] {
                    chart.draw_secondary_series([Circle::new(point, 3, colour.filled())])?;
                } else {
                    chart.draw_secondary_series(LineSeries::new(points, colour.stroke_width(2)))?;
                }
            }
        }
        Ok(())
    }

    /// The lowest top of an axis, so that a curve of zeros still gets a range.
    const BOTTOM: f64 = 1e-12;

    /// The range of `values`, with a margin of a tenth of it each side.
    fn padded(values: impl Iterator<Item = f64>) -> (f64, f64) {
        let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        if low > high {
            return (0.0, 1.0); // no values
        }
        let margin = ((high - low) / 10.0).max(1e-3);
        (low - margin, high + margin)
    }

    /// Enough decimals to tell apart the ticks of an axis spanning `span`.
    fn decimals(span: f64) -> usize {
        (-(span / 5.0).log10()).ceil().clamp(0.0, 12.0) as usize
    }

    fn mesh<Y: Ranged<ValueType = f64> + ValueFormatter<f64>>(
        chart: &mut ChartContext<'_, Canvas<'_>, Cartesian2d<RangedCoordf64, Y>>,
        panel: &Panel,
        y_desc: &str,
        y_format: &dyn Fn(&f64) -> String,
    ) -> Result<()> {
        chart
            .configure_mesh()
            .x_desc(panel.x_desc)
            .y_desc(y_desc)
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 14))
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&|v| {
                // Steps are whole numbers (a short run may get ticks between them).
                if v.fract() == 0.0 {
                    format!("{v:.0}")
                } else {
                    String::new()
                }
            })
            .y_label_formatter(y_format)
            .max_light_lines(4)
            .light_line_style(RGBColor(242, 242, 242))
            .bold_line_style(RGBColor(218, 218, 218))
            .draw()?;
        Ok(())
    }

    /// The panel's curves against the left axis, and its mark.
    fn curves<Y: Ranged<ValueType = f64>>(
        chart: &mut ChartContext<'_, Canvas<'_>, Cartesian2d<RangedCoordf64, Y>>,
        panel: &Panel,
        low: f64,
        high: f64,
    ) -> Result<()> {
        if let Some((step, name)) = panel.mark {
            let style = GREY.stroke_width(1);
            chart.draw_series(DashedLineSeries::new(
                [(step, low), (step, high)],
                4,
                4,
                style,
            ))?;
            chart.draw_series(std::iter::once(
                EmptyElement::at((step, high))
                    + Text::new(
                        name.to_string(),
                        (5, 4),
                        ("sans-serif", 13).into_font().color(&GREY),
                    ),
            ))?;
        }
        let pixels = chart.plotting_area().dim_in_pixel().0 as usize;
        for (colour, curve) in panel.legend().take(panel.curves.len()) {
            let mut points = points(curve.values, pixels);
            points.iter_mut().for_each(|p| p.1 = p.1.clamp(low, high));
            if let [point] = points[..] {
                // A run of 0 steps: one point.
                chart.draw_series([Circle::new(point, 3, colour.filled())])?;
            } else if curve.dashed {
                let style = colour.stroke_width(2);
                chart.draw_series(DashedLineSeries::new(points, 6, 5, style))?;
            } else {
                chart.draw_series(LineSeries::new(points, colour.stroke_width(2)))?;
            }
        }
        Ok(())
    }

    /// The points `(k, values[k])` to draw across `pixels` columns: all of them, or, for a
    /// very long run, the lowest and highest value of each pixel's steps, so that fast
    /// oscillations keep their envelope.
    fn points(values: &[f64], pixels: usize) -> Vec<(f64, f64)> {
        let per_pixel = values.len().div_ceil(pixels.max(1));
        if per_pixel <= 2 {
            return values
                .iter()
                .enumerate()
                .map(|(k, &v)| (k as f64, v))
                .collect();
        }
        let mut points = Vec::with_capacity(2 * pixels);
        for (chunk, steps) in values.chunks(per_pixel).enumerate() {
            let at = |k: usize| ((chunk * per_pixel + k) as f64, steps[k]);
            let lowest = (0..steps.len()).min_by(|&a, &b| steps[a].total_cmp(&steps[b]));
            let highest = (0..steps.len()).max_by(|&a, &b| steps[a].total_cmp(&steps[b]));
            if let (Some(lo), Some(hi)) = (lowest, highest) {
                points.push(at(lo.min(hi)));
                points.push(at(lo.max(hi)));
            }
        }
        points
    }

    /// The legend, under the title: a line and a label for each curve, in as many rows as
    /// they need. Returns the height it takes from the top of the panel.
    fn legend(area: &Area, panel: &Panel) -> Result<u32> {
        let font = TextStyle::from(("sans-serif", 13).into_font());
        let width = area.dim_in_pixel().0 as i32 - 10;
        let (sample, gap, line_height) = (26, 16, 18);
        let (mut x, mut y) = (14, 24);
        for (colour, curve) in panel.legend() {
            let text = area.estimate_text_size(curve.label, &font)?.0 as i32;
            let entry = sample + 6 + text;
            if x > 14 && x + entry > width {
                (x, y) = (14, y + line_height);
            }
            let style = colour.stroke_width(3);
            let middle = y + 8;
            if curve.dashed {
                for from in [x, x + 10, x + 20] {
                    area.draw(&PathElement::new(
                        [(from, middle), (from + 6, middle)],
                        style,
                    ))?;
                }
            } else {
                area.draw(&PathElement::new(
                    [(x, middle), (x + sample, middle)],
                    style,
                ))?;
            }
            area.draw(&Text::new(curve.label, (x + sample + 6, y), font.clone()))?;
            x += entry + gap;
        }
        Ok((y + line_height) as u32)
    }
}
