//! Find a learning rate for the digits MLP with the crate's learning-rate finder (Leslie
//! Smith's range test, as fastai's `lr_find` runs it), and draw the curve with every rule's
//! suggestion.
//!
//! ```text
//! cargo run --release --example lr_finder                            # AdamW, fastai's test
//! cargo run --release --example lr_finder -- --out docs/lr_finder.png
//! cargo run --release --example lr_finder -- --optimizer sgd --lightning
//! cargo run --example lr_finder -- --fast                            # for CI
//! ```
//!
//! Options: `--optimizer NAME` (any optimizer of the crate, any case; default `adamw`),
//! `--lightning` (PyTorch Lightning's conventions and rule instead of fastai's), `--batch N`
//! (default 32), `--seed N` (default 42), `--out FILE` (default `target/lr_finder.png`),
//! `--fast` (a fifth of the training set and a quickly compressed picture: a smoke test for
//! CI). The same options give the same numbers and picture on every run.
//!
//! # What it does
//!
//! The model, the data and the batches are those of `train_mlp` (the shared
//! `examples/common/mlp.rs`): the `64 → 128 → 64 → 10` MLP on the 1,438 training images of the
//! UCI handwritten digits, mini-batches of 32, the optimizer at its defaults (with weight
//! decay off the biases where it has weight decay). [`LrFinder::run_with_progress`] runs
//! fastai's range test on it, through the closure of `find_lr` in `examples/common/mlp.rs`
//! (forward pass, loss, backward pass; the finder sets the learning rate and steps): the
//! learning rate grows from `1e-7` to `10` over 100 batches, the loss is smoothed by a
//! debiased moving average, and the test stops when the smoothed loss passes 4 times its best.
//! A progress bar shows the sweep on a terminal (the library itself prints nothing; the bar
//! is driven by the finder's progress callback). The model and the optimizer are put back as
//! they were, which the program checks.
//!
//! It prints each rule's suggestion and draws the picture (`--out`): the smoothed loss (and
//! the raw loss of every batch) against the learning rate, the parts of the curve the rules do
//! not look at shaded, and each suggestion marked. `train_mlp --find-lr` trains with the
//! `valley` suggestion.
//!
//! # Font
//!
//! Text is drawn with DejaVu Sans, embedded from `assets/fonts/DejaVuSans.ttf` (Bitstream Vera
//! licence, see `assets/fonts/LICENSE-DejaVu.txt`), by the shared `examples/common/canvas.rs`.

#[path = "common/canvas.rs"]
mod canvas;
#[path = "common/mlp.rs"]
mod mlp;

use std::path::PathBuf;

use mlp::{Dataset, LAYERS, Mlp, Result, TEST_FRACTION, find_lr, progress_bar};
use ndarray_optim::finder::{LrFinderConfig, LrFinderResult, Rule, Stop};
use ndarray_optim::{Optimizer, OptimizerKind, ParamGroups, TensorList};
use rand::SeedableRng;
use rand::rngs::StdRng;

struct Options {
    kind: OptimizerKind,
    lightning: bool,
    batch: usize,
    seed: u64,
    out: PathBuf,
    fast: bool,
}

fn options() -> Result<Options> {
    let mut opts = Options {
        kind: OptimizerKind::AdamW,
        lightning: false,
        batch: 32,
        seed: 42,
        out: PathBuf::from("target/lr_finder.png"),
        fast: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| args.next().ok_or(format!("{arg} needs {what}"));
        match arg.as_str() {
            "--optimizer" => {
                let name = value("a name")?;
                opts.kind = *OptimizerKind::ALL
                    .iter()
                    .find(|k| k.name().eq_ignore_ascii_case(name.trim()))
                    .ok_or(format!("unknown optimizer `{name}`"))?;
            }
            "--lightning" => opts.lightning = true,
            "--batch" => opts.batch = value("a number")?.parse()?,
            "--seed" => opts.seed = value("a number")?.parse()?,
            "--out" => opts.out = value("a file name")?.into(),
            "--fast" => opts.fast = true,
            "-h" | "--help" => {
                println!(
                    "usage: lr_finder [--optimizer NAME] [--lightning] [--batch N] [--seed N]\n\
                     \x20                [--out FILE] [--fast]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}` (try --help)").into()),
        }
    }
    if opts.batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    Ok(opts)
}

fn main() -> Result<()> {
    let opts = options()?;
    let digits = Dataset::digits()?;
    let (mut train_set, _test_set) = digits.split(TEST_FRACTION, opts.seed);
    if opts.fast {
        train_set = train_set.subset(&(0..train_set.len() / 5).collect::<Vec<_>>());
    }

    // The model and optimizer a training run would start from: train_mlp's.
    let mut model = Mlp::new(&LAYERS, &mut StdRng::seed_from_u64(opts.seed + 1));
    let config = opts.kind.default_config();
    let default_lr = config.learning_rate();
    let weight_decay = config.weight_decay();
    let mut opt = config.build::<f32>()?;
    if weight_decay.is_some_and(|wd| wd > 0.0) {
        opt.set_param_groups(Some(ParamGroups::no_decay_for_vectors(&model)))?;
    }

    let settings = if opts.lightning {
        LrFinderConfig::lightning()
    } else {
        LrFinderConfig::default() // fastai's lr_find()
    };
    let finder = settings.build()?;
    let c = finder.config();
    let convention = if opts.lightning {
        "Lightning"
    } else {
        "fastai"
    };
    println!(
        "{convention}'s range test for {} on the MLP {} ({} training images, batches of {}): \
         the learning rate from {:e} to {} over at most {} batches.",
        opts.kind.name(),
        LAYERS.map(|w| w.to_string()).join("-"),
        train_set.len(),
        opts.batch,
        c.start_lr,
        c.end_lr,
        c.num_it
    );

    let before = snapshot(&model);
    let saved = opt.save_state();
    let bar = progress_bar(c.num_it as u64, format!("finder {}", opts.kind.name()))?;
    let found = find_lr(
        &finder,
        &mut model,
        &mut *opt,
        &train_set,
        opts.batch,
        opts.seed + 2,
        &bar,
    )?;
    bar.finish_and_clear();
    if snapshot(&model) != before || opt.save_state() != saved {
        return Err("the finder changed the model or the optimizer".into());
    }

    let stop = describe(&found);
    println!("{stop}.\n\n| rule | suggested lr | at the point (lr, smoothed loss) |");
    println!("|---|--:|---|");
    for (rule, suggestion) in found.suggestions() {
        let default = if rule == c.rule { " (the default)" } else { "" };
        match suggestion {
            Some(s) => println!(
                "| {}{default} | {:.3e} | ({:.3e}, {:.4}) |",
                label(rule),
                s.lr,
                found.lrs[s.index],
                s.loss
            ),
            None => println!("| {}{default} | – | too few points |", label(rule)),
        }
    }
    if let Some(s) = found.suggestion {
        println!(
            "\nSuggested learning rate for {}: {:.3e} ({}; PyTorch's default is {default_lr}).",
            opts.kind.name(),
            s.lr,
            s.rule
        );
    }

    if let Some(dir) = opts.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let title = format!(
        "Learning-rate finder: {} on the digits MLP {} ({convention}'s range test)",
        opts.kind.name(),
        LAYERS.map(|w| w.to_string()).join("-"),
    );
    let subtitle = format!(
        "{} training images{}, batches of {}, lr {:e} → {} over {} batches, loss smoothed \
         (β = {}); {stop}",
        train_set.len(),
        if opts.fast { " (fast mode)" } else { "" },
        opts.batch,
        c.start_lr,
        c.end_lr,
        c.num_it,
        c.beta
    );
    plot::draw(&opts.out, &title, &subtitle, &found, c.rule, opts.fast)?;
    println!("\nDrawn: {}.", opts.out.display());
    Ok(())
}

/// Every parameter's bits, to check that the finder left none changed.
fn snapshot(model: &Mlp) -> Vec<u32> {
    (0..model.len())
        .filter_map(|i| model.tensor(i))
        .flat_map(|t| t.view_dyn().iter().map(|v| v.to_bits()).collect::<Vec<_>>())
        .collect()
}

/// How the sweep ended, in words.
fn describe(found: &LrFinderResult) -> String {
    let steps = found.lrs.len();
    match &found.stop {
        Stop::Completed => format!("ran all {steps} steps"),
        Stop::Diverged { step, .. } => format!(
            "diverged at step {} (lr {:.2e}): stopped",
            step + 1,
            found.lrs[*step]
        ),
        Stop::NonFiniteLoss { step, .. } => format!("NaN loss at step {}: stopped", step + 1),
        Stop::NonFiniteGradient { step, .. } => {
            format!("non-finite gradient at step {}: stopped", step + 1)
        }
        other => format!("{other:?}"),
    }
}

/// The rule's name as the table and the legend show it.
fn label(rule: Rule) -> &'static str {
    match rule {
        Rule::Valley => "valley",
        Rule::Slide => "slide",
        Rule::Minimum => "minimum/10",
        Rule::Steep => "steep",
        Rule::SteepestLinear => "Lightning's steepest (linear lr)",
        _ => rule.name(),
    }
}

/// The picture: the curve, the shaded skips and the suggestions, with a legend.
mod plot {
    use std::path::Path;

    use super::canvas::{self, Canvas, FONT};
    use super::{Result, label};
    use ndarray_optim::finder::{LrFinderResult, Rule};
    use plotters::coord::Shift;
    use plotters::prelude::*;

    const SIZE: (u32, u32) = (1100, 640);
    const LEGEND_WIDTH: u32 = 290;
    const TITLE_HEIGHT: u32 = 58;

    fn colour(rule: Rule) -> RGBColor {
        match rule {
            Rule::Valley => RGBColor(214, 39, 40),
            Rule::Slide => RGBColor(44, 160, 44),
            Rule::Minimum => RGBColor(255, 127, 14),
            Rule::Steep => RGBColor(148, 103, 189),
            _ => RGBColor(140, 86, 75),
        }
    }

    const CURVE: RGBColor = RGBColor(31, 119, 180);
    const RAW: RGBColor = RGBColor(185, 185, 185);
    const SKIPPED: RGBColor = RGBColor(240, 240, 240);

    pub(super) fn draw(
        file: &Path,
        title: &str,
        subtitle: &str,
        found: &LrFinderResult,
        default_rule: Rule,
        fast: bool,
    ) -> Result<()> {
        let mut pixels = vec![0; 3 * SIZE.0 as usize * SIZE.1 as usize];
        {
            let root = Canvas::new(&mut pixels, SIZE, FONT)?.into_drawing_area();
            root.fill(&WHITE)?;
            let (top, body) = root.split_vertically(TITLE_HEIGHT);
            top.draw(&Text::new(title, (14, 8), ("sans-serif", 21).into_font()))?;
            top.draw(&Text::new(
                subtitle,
                (14, 35),
                ("sans-serif", 14).into_font().color(&RGBColor(80, 80, 80)),
            ))?;
            let (chart, legend) = body.split_horizontally(SIZE.0 - LEGEND_WIDTH);
            curve_panel(&chart, found)?;
            legend_panel(&legend, found, default_rule)?;
            root.present()?;
        }
        canvas::write_png(file, SIZE, &pixels, fast)
    }

    fn curve_panel(area: &DrawingArea<Canvas<'_>, Shift>, found: &LrFinderResult) -> Result<()> {
        let finite = |v: &&f64| v.is_finite();
        let first = found.losses.iter().find(finite).copied().unwrap_or(1.0);
        let low = found
            .losses
            .iter()
            .filter(finite)
            .fold(f64::INFINITY, |a, &b| a.min(b));
        let low = if low.is_finite() { low } else { 0.0 };
        // From below the lowest smoothed loss to a little above where the curve started: the
        // blow-up at the end leaves through the top, the noisiest batches through the bottom.
        let span = (first - low).abs().max(1e-3);
        let (bottom, top) = ((low - 0.3 * span).max(0.0), first + 0.35 * span);
        let (left, right) = (
            found.lrs.first().copied().unwrap_or(1e-7),
            found.lrs.last().copied().unwrap_or(10.0),
        );
        let right = if right > left { right } else { left * 10.0 };
        let mut chart = ChartBuilder::on(area)
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(58)
            .build_cartesian_2d((left..right).log_scale(), bottom..top)?;
        chart
            .configure_mesh()
            .x_desc("learning rate (log scale)")
            .y_desc("loss (cross-entropy)")
            .label_style(("sans-serif", 13))
            .x_label_formatter(&|v| format!("{v:.0e}"))
            .y_label_formatter(&|v| format!("{v:.2}"))
            .light_line_style(RGBColor(240, 240, 240))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()?;
        // The points the rules do not look at, shaded.
        let window = &found.window;
        let at = |k: usize| found.lrs[k.min(found.lrs.len() - 1)];
        if !found.lrs.is_empty() {
            let mut skipped = Vec::new();
            if window.start > 0 {
                skipped.push((left, at(window.start)));
            }
            if window.end < found.lrs.len() && window.end > 0 {
                skipped.push((at(window.end - 1), right));
            }
            if window.is_empty() {
                skipped = vec![(left, right)];
            }
            chart.draw_series(
                skipped
                    .into_iter()
                    .map(|(a, b)| Rectangle::new([(a, bottom), (b, top)], SKIPPED.filled())),
            )?;
        }
        let clip = |(lr, loss): (f64, f64)| {
            let loss = if loss.is_finite() { loss } else { top };
            (lr, loss.clamp(bottom, top))
        };
        let raw: Vec<(f64, f64)> = found
            .lrs
            .iter()
            .zip(&found.raw_losses)
            .map(|(&lr, &l)| clip((lr, l)))
            .collect();
        chart.draw_series(LineSeries::new(raw, RAW.stroke_width(1)))?;
        let smoothed: Vec<(f64, f64)> = found
            .lrs
            .iter()
            .zip(&found.losses)
            .map(|(&lr, &l)| clip((lr, l)))
            .collect();
        chart.draw_series(LineSeries::new(smoothed, CURVE.stroke_width(3)))?;
        for (rule, suggestion) in found.suggestions().into_iter().rev() {
            let Some(s) = suggestion else { continue };
            let c = colour(rule);
            chart.draw_series(DashedLineSeries::new(
                [(s.lr, bottom), (s.lr, top)],
                6,
                4,
                c.stroke_width(1),
            ))?;
            let point = clip((found.lrs[s.index], s.loss));
            chart.draw_series([
                Circle::new(point, 7, c.filled()),
                Circle::new(point, 7, BLACK.stroke_width(1)),
            ])?;
        }
        Ok(())
    }

    fn legend_panel(
        area: &DrawingArea<Canvas<'_>, Shift>,
        found: &LrFinderResult,
        default_rule: Rule,
    ) -> Result<()> {
        let font = ("sans-serif", 15).into_font();
        let small = ("sans-serif", 12).into_font().color(&RGBColor(90, 90, 90));
        let mut y = 24;
        area.draw(&PathElement::new(
            vec![(4, y + 8), (36, y + 8)],
            CURVE.stroke_width(3),
        ))?;
        area.draw(&Text::new("smoothed loss", (44, y), font.clone()))?;
        y += 26;
        area.draw(&PathElement::new(
            vec![(4, y + 8), (36, y + 8)],
            RAW.stroke_width(1),
        ))?;
        area.draw(&Text::new("loss of each batch", (44, y), font.clone()))?;
        y += 26;
        area.draw(&Rectangle::new([(4, y), (36, y + 16)], SKIPPED.filled()))?;
        area.draw(&Text::new("not read by the rules", (44, y), font.clone()))?;
        y += 44;
        area.draw(&Text::new("suggestions", (4, y), font.clone()))?;
        area.draw(&Text::new(
            "●: the point a rule picked; dashed: its lr",
            (4, y + 19),
            small.clone(),
        ))?;
        y += 48;
        for (rule, suggestion) in found.suggestions() {
            let c = colour(rule);
            area.draw(&Circle::new((16, y + 8), 7, c.filled()))?;
            area.draw(&Circle::new((16, y + 8), 7, BLACK.stroke_width(1)))?;
            let name = if rule == default_rule {
                format!("{} (the default)", label(rule))
            } else {
                label(rule).to_string()
            };
            area.draw(&Text::new(name, (34, y), font.clone()))?;
            let value = match suggestion {
                Some(s) => format!("lr {:.2e}", s.lr),
                None => "too few points".to_string(),
            };
            area.draw(&Text::new(value, (34, y + 18), small.clone()))?;
            y += 46;
        }
        Ok(())
    }
}
