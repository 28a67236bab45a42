//! Instructions per element of one optimizer step, counted by callgrind: a deterministic guard
//! against element loops that fall off the vector path.
//!
//! ```text
//! cargo bench --bench instructions              # every case; fails above a bound
//! cargo bench --bench instructions -- --print   # the table only, no bounds checked
//! ```
//!
//! Timing is noise on shared machines; instruction counts are not. This binary runs itself
//! under `valgrind --tool=callgrind`, steps every optimizer of `OptimizerKind::ALL` and every
//! variant that changes the element loop (decoupled or coupled decay, maximize, AMSGrad,
//! RAdam's rectification, centered and momentum RMSProp, Nesterov, LAMB's options, …) over one
//! contiguous tensor of [`N`] elements (a `[128, 256]` matrix for Muon, the factored Adafactor
//! and SparseAdam's embedding rows), `f32` and `f64`, and counts only the measured step
//! (`--toggle-collect` on [`measured`], one dump per call with `--dump-after`). The step is the
//! whole public `Optimizer::step`: input checks, the default non-finite check, the scalars and
//! the update.
//!
//! valgrind does not emulate AVX-512, so the crate's run-time dispatch takes its AVX2 + FMA
//! path here on every x86-64 machine. A vectorised loop over 8 `f32` lanes costs a few
//! instructions per element; the same arithmetic one element at a time costs 4–8× more. Each
//! case's bound (instructions per element) sits between the two: it is `BOUND_F32` or
//! `BOUND_F64` times the case's weight, about the number of passes over memory its loops make
//! (see `docs/performance.md` for the counts and how the bounds were chosen).
//!
//! `N` stays below the `rayon` feature's split threshold, so everything runs on one thread.

use std::process::{Command, ExitCode};

use ndarray::{ArrayD, IxDyn};
use ndarray_optim::{
    AdafactorConfig, AdagradConfig, AdamConfig, AdamWConfig, AdanConfig, AsgdConfig, Float,
    LambConfig, LarsConfig, LionConfig, MomentumConfig, MuonConfig, NAdamConfig, NonFinitePolicy,
    Optimizer, OptimizerKind, ProdigyConfig, Quantization, RAdamConfig, RmsPropConfig,
    ScheduleFreeAdamWConfig, ScheduleFreeSgdConfig, SgdConfig,
};

/// Elements of the tensor: 8 blocks of the ordered sums, below `PARALLEL_MIN_LEN`.
const N: usize = 32_768;

/// Instructions per element a vectorised (AVX2, 8 × `f32`) step stays under, per unit of weight:
/// vectorised steps take 0.9–4.4 (LAMB 9.4–10.5 over its three passes), the loops that fell
/// off the vector path before the variant decisions left them 22–53.
const BOUND_F32: f64 = 6.0;
/// The same for `f64` (4 lanes): vectorised 2.4–12.3 (LAMB 13–15), fallen off 24–42.
const BOUND_F64: f64 = 13.0;

/// The matrix the matrix optimizers (Muon) and the factored Adafactor step: [`N`] elements.
const MATRIX: [usize; 2] = [128, 256];

/// Muon's Newton–Schulz multiply-adds per element of a `r × c` matrix (`r ≤ c`) with PyTorch's
/// 5 steps, each `XXᵀ` (`r²c`, computed whole), `A·A` (`r³`) and `B·X` (`r²c`):
/// `5·(2r²c + r³) / (rc)`.
fn muon_multiply_adds_per_element(r: usize, c: usize) -> f64 {
    let (r, c) = (r as f64, c as f64);
    5.0 * (2.0 * r * r * c + r * r * r) / (r * c)
}

/// Instructions per multiply-add Muon's matrix products stay under, `f32` and `f64`: each
/// product's inner loop runs along a contiguous output row. Vectorised they take 0.85 (`f32`),
/// 1.3 (`f64`) and 1.9 (`f64` through `bfloat16`, with its conversions); one multiply-add at a
/// time takes 5 or more (two loads, the FMA, a store and the loop).
const BOUND_PER_MULTIPLY_ADD_F32: f64 = 1.25;
/// See [`BOUND_PER_MULTIPLY_ADD_F32`].
const BOUND_PER_MULTIPLY_ADD_F64: f64 = 2.5;

/// One measured case: a name, the optimizer, the tensor's shape, the steps taken before the
/// measured one, and the bound's weight (1 for one fused pass over memory; LAMB makes up to
/// three; Muon's is its multiply-adds per element).
struct Case<A: Float> {
    name: String,
    optimizer: Box<dyn Optimizer<A>>,
    shape: Vec<usize>,
    warm_up: usize,
    weight: f64,
}

fn case<A: Float>(name: &str, optimizer: Box<dyn Optimizer<A>>) -> Case<A> {
    Case {
        name: name.to_string(),
        optimizer,
        shape: vec![N],
        warm_up: 2,
        weight: 1.0,
    }
}

fn boxed<A: Float, O: Optimizer<A> + 'static>(
    o: Result<O, ndarray_optim::Error>,
) -> Box<dyn Optimizer<A>> {
    Box::new(o.expect("a valid configuration"))
}

/// Every optimizer with its defaults, then every variant that changes the element loop.
fn cases<A: Float>() -> Vec<Case<A>> {
    let mut all: Vec<Case<A>> = OptimizerKind::ALL
        .iter()
        .map(|&kind| case(kind.name(), kind.default_config().build().unwrap()))
        .collect();
    let adam = AdamConfig::default;
    let mut unchecked = boxed::<A, _>(adam().build());
    unchecked.set_non_finite_policy(NonFinitePolicy::Unchecked);
    all.extend([
        case(
            "SGD, weight decay, maximize",
            boxed(
                SgdConfig::default()
                    .weight_decay(1e-2)
                    .maximize(true)
                    .build(),
            ),
        ),
        case(
            "SGD, momentum + dampening",
            boxed(SgdConfig::default().momentum(0.9).dampening(0.1).build()),
        ),
        case(
            "Momentum, first step",
            boxed(MomentumConfig::default().build()),
        ),
        case(
            "Adagrad, weight decay",
            boxed(AdagradConfig::default().weight_decay(1e-2).build()),
        ),
        case(
            "RMSprop, centered",
            boxed(RmsPropConfig::default().centered(true).build()),
        ),
        case(
            "RMSprop, momentum",
            boxed(RmsPropConfig::default().momentum(0.9).build()),
        ),
        case(
            "RMSprop, centered + momentum + decay",
            boxed(
                RmsPropConfig::default()
                    .centered(true)
                    .momentum(0.9)
                    .weight_decay(1e-2)
                    .build(),
            ),
        ),
        case("Adam, unchecked", unchecked),
        case(
            "Adam, coupled decay",
            boxed(adam().weight_decay(1e-2).build()),
        ),
        case(
            "Adam, decoupled decay",
            boxed(
                adam()
                    .weight_decay(1e-2)
                    .decoupled_weight_decay(true)
                    .build(),
            ),
        ),
        case("Adam, maximize", boxed(adam().maximize(true).build())),
        case("AMSGrad", boxed(adam().amsgrad(true).build())),
        case(
            "AdamW, AMSGrad, maximize",
            boxed(AdamWConfig::default().amsgrad(true).maximize(true).build()),
        ),
        case(
            "Adam, cautious, decoupled decay",
            boxed(
                adam()
                    .weight_decay(1e-2)
                    .decoupled_weight_decay(true)
                    .caution(true)
                    .build(),
            ),
        ),
        case(
            "AdamW, cautious, AMSGrad",
            boxed(AdamWConfig::default().amsgrad(true).caution(true).build()),
        ),
        case(
            "NAdam, decoupled decay",
            boxed(
                NAdamConfig::default()
                    .weight_decay(1e-2)
                    .decoupled_weight_decay(true)
                    .build(),
            ),
        ),
        case(
            "RAdam, coupled decay",
            boxed(RAdamConfig::default().weight_decay(1e-2).build()),
        ),
        case(
            "RAdam, decoupled decay",
            boxed(
                RAdamConfig::default()
                    .weight_decay(1e-2)
                    .decoupled_weight_decay(true)
                    .build(),
            ),
        ),
        case(
            "Lion, no decay, maximize",
            boxed(
                LionConfig::default()
                    .weight_decay(0.0)
                    .maximize(true)
                    .build(),
            ),
        ),
        case(
            "Lion, cautious",
            boxed(LionConfig::default().caution(true).build()),
        ),
        case(
            "ASGD, averaging",
            boxed(AsgdConfig::default().t0(0.0).weight_decay(1e-2).build()),
        ),
        case(
            "Adafactor, matrix (factored)",
            boxed(AdafactorConfig::default().build()),
        ),
        case(
            "SparseAdam, embedding rows",
            boxed(ndarray_optim::SparseAdamConfig::default().build()),
        ),
        case(
            "Muon, native Newton–Schulz",
            boxed(
                MuonConfig::default()
                    .ns_precision(ndarray_optim::NewtonSchulzPrecision::Native)
                    .build(),
            ),
        ),
        case(
            "Adan, proximal decay",
            boxed(AdanConfig::default().weight_decay(0.02).build()),
        ),
        case(
            "Adan, no_prox decay",
            boxed(
                AdanConfig::default()
                    .weight_decay(0.02)
                    .no_prox(true)
                    .build(),
            ),
        ),
        case("Adan, first step", boxed(AdanConfig::default().build())),
        case(
            "Adan, cautious",
            boxed(AdanConfig::default().caution(true).build()),
        ),
        case(
            "Schedule-Free AdamW, decay, warmup",
            boxed(
                ScheduleFreeAdamWConfig::default()
                    .weight_decay(0.01)
                    .warmup_steps(10)
                    .build(),
            ),
        ),
        case(
            "Schedule-Free AdamW, first step",
            boxed(ScheduleFreeAdamWConfig::default().build()),
        ),
        case(
            "Schedule-Free SGD, decay",
            boxed(ScheduleFreeSgdConfig::default().weight_decay(0.01).build()),
        ),
        case(
            "Lars, momentum + decay (adapted)",
            boxed(
                LarsConfig::default()
                    .momentum(0.9)
                    .weight_decay(1e-4)
                    .build(),
            ),
        ),
        case(
            "Lars, Nesterov, always adapt, LARC",
            boxed(
                LarsConfig::default()
                    .momentum(0.9)
                    .nesterov(true)
                    .always_adapt(true)
                    .trust_clip(true)
                    .build(),
            ),
        ),
        case(
            "Prodigy, coupled decay, bias correction, safeguard",
            boxed(
                ProdigyConfig::default()
                    .weight_decay(0.01)
                    .decouple(false)
                    .use_bias_correction(true)
                    .safeguard_warmup(true)
                    .build(),
            ),
        ),
        case(
            "Prodigy, no first moment, decoupled decay",
            boxed(
                ProdigyConfig::default()
                    .betas((0.0, 0.999))
                    .weight_decay(0.01)
                    .build(),
            ),
        ),
        case(
            "Prodigy, first step",
            boxed(ProdigyConfig::default().build()),
        ),
        case(
            "LAMB, no pre-normalisation",
            boxed(LambConfig::default().max_grad_norm(None).build()),
        ),
        case(
            "LAMB, decoupled decay, trust clip",
            boxed(
                LambConfig::default()
                    .decoupled_decay(true)
                    .trust_clip(true)
                    .build(),
            ),
        ),
        case(
            "LAMB, no grad averaging, no bias correction",
            boxed(
                LambConfig::default()
                    .grad_averaging(false)
                    .bias_correction(false)
                    .build(),
            ),
        ),
        case(
            "LAMB, cautious",
            boxed(LambConfig::default().caution(true).build()),
        ),
        case(
            "LAMB, no decay (not adapted)",
            boxed(LambConfig::default().weight_decay(0.0).build()),
        ),
        case(
            "LAMB, no decay, always adapt",
            boxed(
                LambConfig::default()
                    .weight_decay(0.0)
                    .always_adapt(true)
                    .build(),
            ),
        ),
        // Block-wise quantised state: per block, the moments dequantised (a table load per
        // value), the element loop, each moment's scale and codes (a table load per code).
        case(
            "Adam, 8-bit state",
            boxed(adam().quantized_state(Quantization::int8()).build()),
        ),
        case(
            "Adam, float8 state",
            boxed(adam().quantized_state(Quantization::fp8()).build()),
        ),
        case(
            "AdamW, 4-bit state",
            boxed(
                AdamWConfig::default()
                    .quantized_state(Quantization::int4())
                    .build(),
            ),
        ),
        case(
            "Momentum, 8-bit state",
            boxed(
                MomentumConfig::default()
                    .quantized_state(Quantization::int8())
                    .build(),
            ),
        ),
        case(
            "Lion, 8-bit state",
            boxed(
                LionConfig::default()
                    .quantized_state(Quantization::int8())
                    .build(),
            ),
        ),
    ]);
    for c in &mut all {
        if c.name.starts_with("Muon")
            || c.name.starts_with("Adafactor, matrix")
            || c.name.starts_with("SparseAdam, embedding")
        {
            c.shape = MATRIX.to_vec();
        }
        match c.name.as_str() {
            // The buffer is created on the first step: measure that step.
            "Momentum, first step"
            | "Adan, first step"
            | "Schedule-Free AdamW, first step"
            | "Prodigy, first step" => c.warm_up = 0,
            // ρₜ > 5 from step 6 with β₂ = 0.999: the measured step is rectified (RAdam's
            // unrectified steps are the first five; the defaults' case below measures step 3).
            "RAdam, coupled decay" | "RAdam, decoupled decay" => c.warm_up = 6,
            _ => {}
        }
        if c.name == "Prodigy, first step" {
            // As Adan's first step: four buffers allocated and zeroed (valgrind's `calloc`
            // zeroes a byte at a time, counted), `x₀` copied.
            c.weight = 4.0;
        } else if c.name.starts_with("Prodigy, coupled") {
            // The two passes below, with the coupled decay (held finite: two selects) in both.
            c.weight = 2.5;
        } else if c.name.starts_with("Prodigy") {
            // The moments, `s` and the two sums (terms in `f64`, half as many lanes), then
            // the step: two passes, the first over four buffers.
            c.weight = 2.25;
        } else if c.name == "LAMB, no decay (not adapted)" {
            // Moments, then the step: two passes.
            c.weight = 1.5;
        } else if c.name == "LAMB, cautious" {
            // Four passes: the global gradient norm, the moments with the count of agreeing
            // elements, the norms of the trust ratio (terms in `f64`), then the step; Adam's
            // direction (a square root, a division and the overflow guards of
            // `docs/numerics.md`) computed in each of the last three: 21.4 with the guards.
            c.weight = 3.75;
        } else if c.name.starts_with("LAMB") || c.name == "Lamb" {
            // The global gradient norm, moments and the norms of the trust ratio (terms in
            // `f64`, half as many lanes), then the step.
            c.weight = 2.25;
        } else if c.name.starts_with("Muon") {
            c.weight = muon_multiply_adds_per_element(MATRIX[0], MATRIX[1]);
        } else if c.name.starts_with("Adafactor, matrix") {
            // The parameter's RMS, the row and column statistics, `Σ U²`, then the step: four
            // passes, three of them light, and a little work per row.
            c.weight = 3.0;
        } else if c.name.starts_with("Adafactor") {
            // The parameter's RMS, `v`, `Σ U²`, then the step.
            c.weight = 2.0;
        } else if c.name.starts_with("SparseAdam") {
            // Adam's arithmetic with the overflow guards of the moments and of `m / (√v + ε)`
            // (selects), and the test of each row for a non-zero gradient.
            c.weight = 1.25;
        } else if c.name.starts_with("Lars,") {
            // The norms `‖p‖`, `‖g‖` (terms in `f64`), then the step.
            c.weight = 2.0;
        } else if c.name.contains(", cautious") {
            // The moments with the count of agreeing elements (Lion: the count alone, read-only),
            // then the step.
            c.weight = 2.0;
        } else if c.name == "Adan, first step" {
            // Its four buffers are allocated and zeroed (under valgrind the zeroing of `calloc`
            // runs a byte at a time: 16 or 32 instructions per element), then written.
            c.weight = 4.0;
        } else if c.name.starts_with("Adan") {
            // Six streams (the parameter, the gradient, three moments, the previous gradient),
            // a square root and two divisions per element.
            c.weight = 1.25;
        } else if c.name == "Schedule-Free AdamW, first step" {
            // `z` (a copy of the parameter) and `v` (zeroed: a byte at a time under valgrind)
            // are allocated, then written.
            c.weight = 2.5;
        } else if c.name.ends_with("-bit state") {
            // Per element and moment: its value from the code map (a gather), its block's scale
            // (a maximum), its code (a gather from the search table), besides the element loop:
            // 8-bit Adam takes 20 (`f32`, 8 lanes) where the scalar search and dequantisation
            // take 38; `f64`'s arithmetic uses the scalar forms (50). Two moments weigh 4 (4-bit
            // codes, two to a byte and blocks of 128: 5), one moment 2.25.
            c.weight = if c.name.contains("4-bit") {
                5.0
            } else if c.name.starts_with("Adam") {
                4.0
            } else {
                2.25
            };
        } else if c.name == "Adam, float8 state" {
            // The same passes with arithmetic in place of the table loads: each moment's values
            // and codes in about 1.8 and 2.2 instructions per element (8 lanes). 16.8 measured
            // (`f32`), 39.8 for `f64`'s scalar forms.
            c.weight = 3.25;
        } else if c.name == "Momentum, first step" {
            // The new buffer is allocated and zeroed, then written.
            c.weight = 1.5;
        }
    }
    all
}

/// The function callgrind counts (`--toggle-collect`) and dumps after (`--dump-after`).
#[unsafe(no_mangle)]
#[inline(never)]
fn ndarray_optim_measured(step: &mut dyn FnMut()) {
    step();
}

/// Runs every case once, in order; called under callgrind.
fn child() {
    fn run<A: Float>() {
        for mut c in cases::<A>() {
            let shape = IxDyn(&c.shape);
            let values = |f: fn(f64) -> f64| (0..N).map(|i| A::from_f64(f(i as f64))).collect();
            let mut p = ArrayD::from_shape_vec(shape.clone(), values(|i| (i * 0.000_37).sin()))
                .expect("N elements");
            let g = ArrayD::from_shape_vec(shape, values(|i| 1e-3 * (i * 0.000_37 + 1.0).sin()))
                .expect("N elements");
            for _ in 0..c.warm_up {
                c.optimizer.step(&mut p, &g).unwrap();
            }
            ndarray_optim_measured(&mut || c.optimizer.step(&mut p, &g).unwrap());
        }
    }
    run::<f32>();
    run::<f64>();
}

/// The bound of a case, in instructions per element.
fn bound(name: &str, ty: &str, weight: f64) -> f64 {
    if name.starts_with("Muon") {
        weight
            * if ty == "f32" {
                BOUND_PER_MULTIPLY_ADD_F32
            } else {
                BOUND_PER_MULTIPLY_ADD_F64
            }
    } else {
        weight * if ty == "f32" { BOUND_F32 } else { BOUND_F64 }
    }
}

/// `(name, type, weight)` of every case, in the order `child` measures them.
fn plan() -> Vec<(String, &'static str, f64)> {
    let f32s = cases::<f32>()
        .into_iter()
        .map(|c| (c.name, "f32", c.weight));
    let f64s = cases::<f64>()
        .into_iter()
        .map(|c| (c.name, "f64", c.weight));
    f32s.chain(f64s).collect()
}

/// The instruction count (`Ir`) of every dump callgrind wrote with `out` as its prefix, in
/// dump order.
fn read_dumps(out: &std::path::Path) -> Vec<u64> {
    let dir = out.parent().unwrap();
    let prefix = out.file_name().unwrap().to_str().unwrap().to_string();
    let mut dumps = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if !name.starts_with(&prefix) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_string())
        };
        let part: u64 = field("part:").and_then(|v| v.parse().ok()).unwrap_or(0);
        let trigger = field("desc: Trigger:").unwrap_or_default();
        let total: u64 = field("totals:")
            .or_else(|| field("summary:"))
            .and_then(|v| v.split_whitespace().next().map(str::to_string))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if trigger.contains("ndarray_optim_measured") {
            dumps.push((part, total));
        }
    }
    dumps.sort();
    dumps.into_iter().map(|(_, total)| total).collect()
}

fn main() -> ExitCode {
    if std::env::var_os("NDARRAY_OPTIM_INSTRUCTIONS_CHILD").is_some() {
        child();
        return ExitCode::SUCCESS;
    }
    let print_only = std::env::args().any(|a| a == "--print");
    let dir = std::env::temp_dir().join(format!("ndarray-optim-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("callgrind.out");
    let status = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--toggle-collect=ndarray_optim_measured",
            "--dump-after=ndarray_optim_measured",
            "--dump-instr=no",
            "--compress-strings=no",
        ])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(std::env::current_exe().unwrap())
        .env("NDARRAY_OPTIM_INSTRUCTIONS_CHILD", "1")
        .stderr(std::process::Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            eprintln!("valgrind failed: {s}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!(
                "could not run valgrind ({e}): install it (Debian: apt-get install valgrind)"
            );
            return ExitCode::FAILURE;
        }
    }
    let counts = read_dumps(&out);
    let _ = std::fs::remove_dir_all(&dir);
    let plan = plan();
    if counts.len() != plan.len() {
        eprintln!("expected {} dumps, found {}", plan.len(), counts.len());
        return ExitCode::FAILURE;
    }
    println!(
        "instructions per element, one step over {N} contiguous elements (callgrind, AVX2 path)\n"
    );
    println!("| case | type | instr/elem | bound |");
    println!("|---|---|--:|--:|");
    let mut failed = Vec::new();
    for ((name, ty, weight), count) in plan.iter().zip(&counts) {
        let per = *count as f64 / N as f64;
        let bound = bound(name, ty, *weight);
        let mark = if per > bound { " **over**" } else { "" };
        println!("| {name} | {ty} | {per:.2} | {bound:.1}{mark} |");
        if per > bound {
            failed.push(format!("{name} ({ty}): {per:.2} > {bound:.1}"));
        }
    }
    if failed.is_empty() || print_only {
        ExitCode::SUCCESS
    } else {
        eprintln!("\nabove the vector-path bound:\n  {}", failed.join("\n  "));
        ExitCode::FAILURE
    }
}
