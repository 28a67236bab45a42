//! Time per optimizer step, against the memory system's limit and a plain loop of the same
//! arithmetic.
//!
//! ```text
//! cargo bench --bench step                                # everything (about 15 minutes)
//! cargo bench --bench step -- 'step/f32/Adam'             # a subset (criterion's filter)
//! NDARRAY_OPTIM_SIMD=avx2 cargo bench --bench step -- --save-baseline avx2   # the AVX2 path
//! python3 benches/summary.py [--baseline avx2]            # the tables of docs/performance.md
//! ```
//!
//! Everything runs on one thread (a one-thread global rayon pool: the `rayon` feature is on in
//! the benches) except the `threads` group. `NDARRAY_OPTIM_SIMD=avx2` (or `baseline`) makes the
//! crate's loops and the plain loops below use the AVX2 path (or x86-64's baseline) on a CPU
//! that has AVX-512; it can only lower the instruction set, never raise it.
//!
//! Groups:
//! - `copy`: `dst.copy_from_slice(src)` of `n` f32 (`memcpy`), and `x *= c` in place
//!   (`scale-in-place`, read and written once, 8 bytes per element): the machine's bandwidth,
//!   the yardstick for each optimizer's bandwidth bound (bytes it must move / the larger of the
//!   two bandwidths).
//! - `step/{f32,f64}/<optimizer>/<n>`: one step over one contiguous tensor of `n` elements, for
//!   every optimizer of `OptimizerKind::ALL` with its defaults (named by `OptimizerKind::name`)
//!   and the default non-finite check, plus `Adam-unchecked` without the check and `AMSGrad`.
//! - `vs-baseline/<case>/{ours,ours-checked,baseline}/<n>`, n = 1e5 (in cache) and 1e7
//!   (memory-bound), `f32`: our step without the non-finite check (`ours`) and with it
//!   (`ours-checked`, the default), against a plain Rust loop of the same arithmetic and
//!   memory streams compiled for this CPU (`baseline`, in `mod baseline` below; LAMB's has the
//!   same three passes), for every optimizer and the variants AMSGrad and centered RMSProp
//!   with momentum.
//! - `model/<optimizer>`: 200 tensors shaped like 25 transformer blocks (~5 M elements), against
//!   `flat/<optimizer>`, one tensor of the same total size.
//! - `threads/<optimizer>/<n or model>/<threads>`: the same step in a rayon pool of 1 and 2
//!   threads: the parallel speedup.
//! - `half/<case>/<n>`: Adam on `f32` parameters against `bf16` and `f16` parameters (state in
//!   the same type), `bf16` with stochastic rounding, and `bf16` with `f32` master weights: what
//!   16-bit storage saves in memory traffic.
//! - `lowbit/<case>/<n>`, n = 102,400 and 10,240,000 (multiples of 256): Adam with `f32`
//!   state against 8-bit, float8 and 4-bit block-wise quantised state (`quantized_state`),
//!   `f32` parameters: 8 bytes of state per element against 2.03, 2.03 and 1.06, and the work
//!   of dequantising and quantising each block; each also on 2 threads
//!   (`<case>-2-threads`: a large tensor's blocks split across a pool of two).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndarray::{Array1, ArrayD, Dimension, IxDyn};
use ndarray_optim::{AdamConfig, Float, NonFinitePolicy, Optimizer, OptimizerKind, RmsPropConfig};

const SIZES: [usize; 4] = [1_000, 100_000, 1_000_000, 10_000_000];

/// The optimizer of `kind` with its defaults (PyTorch's; momentum 0.9 for Momentum and
/// Nesterov).
fn build<A: Float>(kind: OptimizerKind) -> Box<dyn Optimizer<A>> {
    kind.default_config().build().unwrap()
}

/// Every optimizer of the crate ([`OptimizerKind::ALL`]) with its defaults, named as
/// [`OptimizerKind::name`], and after Adam two variants of it: `Adam-unchecked`
/// ([`NonFinitePolicy::Unchecked`]) and `AMSGrad`.
fn optimizers<A: Float>() -> Vec<(&'static str, Box<dyn Optimizer<A>>)> {
    let mut all = Vec::new();
    for &kind in OptimizerKind::ALL {
        if kind == OptimizerKind::Muon {
            continue; // matrices only, and its cost is matrix products: not an element loop
        }
        all.push((kind.name(), build(kind)));
        if kind == OptimizerKind::Adam {
            let mut unchecked = build(kind);
            unchecked.set_non_finite_policy(NonFinitePolicy::Unchecked);
            all.push(("Adam-unchecked", unchecked));
            let amsgrad = AdamConfig::default().amsgrad(true).build().unwrap();
            all.push(("AMSGrad", Box::new(amsgrad)));
        }
    }
    all
}

/// The optimizers of the model and thread benchmarks.
const FEW: [OptimizerKind; 3] = [OptimizerKind::Sgd, OptimizerKind::Adam, OptimizerKind::Lamb];

fn data<A: Float>(n: usize, seed: f64) -> Array1<A> {
    Array1::from_shape_fn(n, |i| A::from_f64(((i as f64) * 0.000_37 + seed).sin()))
}

fn configure(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    n: usize,
) {
    if n >= 1_000_000 {
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(3));
    } else {
        group.sample_size(30);
        group.measurement_time(Duration::from_secs(1));
    }
    group.warm_up_time(Duration::from_millis(500));
}

fn copy_bandwidth(c: &mut Criterion) {
    let mut group = c.benchmark_group("copy");
    for n in SIZES {
        configure(&mut group, n);
        group.throughput(Throughput::Bytes((2 * 4 * n) as u64));
        let src = vec![1.0f32; n];
        let mut dst = vec![0.0f32; n];
        group.bench_function(BenchmarkId::new("memcpy", n), |b| {
            b.iter(|| {
                dst.copy_from_slice(black_box(&src));
                black_box(&mut dst);
            })
        });
        // An in-place read-modify-write stream, as an optimizer's: memcpy of large buffers uses
        // non-temporal stores, which on some machines move less than the memory system can.
        group.bench_function(BenchmarkId::new("scale-in-place", n), |b| {
            b.iter(|| {
                for x in dst.iter_mut() {
                    *x *= 0.999_999;
                }
                black_box(&mut dst);
            })
        });
    }
    group.finish();
}

fn step_one_tensor<A: Float>(c: &mut Criterion, tag: &str) {
    for (name, _) in optimizers::<A>() {
        let mut group = c.benchmark_group(format!("step/{tag}/{name}"));
        for n in SIZES {
            configure(&mut group, n);
            group.throughput(Throughput::Elements(n as u64));
            let mut opt = optimizers::<A>()
                .into_iter()
                .find(|(m, _)| *m == name)
                .unwrap()
                .1;
            let mut p = data::<A>(n, 0.0);
            let g = data::<A>(n, 1.0).mapv(|x| x * A::from_f64(1e-3));
            opt.step(&mut p, &g).unwrap(); // state allocated outside the timing
            group.bench_function(BenchmarkId::from_parameter(n), |b| {
                b.iter(|| opt.step(black_box(&mut p), black_box(&g)).unwrap())
            });
        }
        group.finish();
    }
}

/// The cases of the `vs-baseline` group: every optimizer with its defaults, and two variants
/// with other loops, named as in `baseline::step`.
fn baseline_cases() -> Vec<(&'static str, Box<dyn Optimizer<f32>>)> {
    let mut all: Vec<(&'static str, Box<dyn Optimizer<f32>>)> = OptimizerKind::ALL
        .iter()
        // Muon takes matrices only (and its cost is matrix products), as in `optimizers`.
        .filter(|&&kind| kind != OptimizerKind::Muon)
        .map(|&kind| (kind.name(), build(kind)))
        .collect();
    all.push((
        "AMSGrad",
        Box::new(AdamConfig::default().amsgrad(true).build().unwrap()),
    ));
    all.push((
        "RMSprop-centered-momentum",
        Box::new(
            RmsPropConfig::default()
                .centered(true)
                .momentum(0.9)
                .build()
                .unwrap(),
        ),
    ));
    all
}

fn vs_baseline(c: &mut Criterion) {
    for (name, _) in baseline_cases() {
        let mut group = c.benchmark_group(format!("vs-baseline/{name}"));
        for n in [100_000, 10_000_000] {
            configure(&mut group, n);
            group.throughput(Throughput::Elements(n as u64));
            let p0 = data::<f32>(n, 0.0);
            let g = data::<f32>(n, 1.0).mapv(|x| x * 1e-3);
            for policy in [NonFinitePolicy::Unchecked, NonFinitePolicy::Error] {
                let mut opt = baseline_cases()
                    .into_iter()
                    .find(|(m, _)| *m == name)
                    .unwrap()
                    .1;
                opt.set_non_finite_policy(policy);
                let mut p = p0.clone();
                opt.step(&mut p, &g).unwrap();
                let id = if policy == NonFinitePolicy::Unchecked {
                    "ours"
                } else {
                    "ours-checked"
                };
                group.bench_function(BenchmarkId::new(id, n), |b| {
                    b.iter(|| opt.step(black_box(&mut p), black_box(&g)).unwrap())
                });
            }
            let mut p = p0.to_vec();
            let g = g.to_vec();
            let mut buffers = baseline::Buffers::new(n);
            group.bench_function(BenchmarkId::new("baseline", n), |b| {
                b.iter(|| baseline::step(name, black_box(&mut p), black_box(&g), &mut buffers))
            });
        }
        group.finish();
    }
}

/// 25 transformer-like blocks: 128×384, 384, 128×128, 128, 128×512, 512, 512×128, 128.
fn model_shapes() -> Vec<Vec<usize>> {
    let block = [
        vec![128, 384],
        vec![384],
        vec![128, 128],
        vec![128],
        vec![128, 512],
        vec![512],
        vec![512, 128],
        vec![128],
    ];
    (0..25).flat_map(|_| block.iter().cloned()).collect()
}

fn many_tensors(c: &mut Criterion) {
    let shapes = model_shapes();
    let total: usize = shapes.iter().map(|s| s.iter().product::<usize>()).sum();
    let mut group = c.benchmark_group("model");
    configure(&mut group, total);
    group.throughput(Throughput::Elements(total as u64));
    for kind in FEW {
        let name = kind.name();
        let mut opt = build::<f32>(kind);
        let mut params: Vec<ArrayD<f32>> = shapes
            .iter()
            .map(|s| {
                ArrayD::from_shape_fn(IxDyn(s), |ix| {
                    ((ix.slice().iter().sum::<usize>()) as f32 * 0.01).sin()
                })
            })
            .collect();
        let grads: Vec<ArrayD<f32>> = shapes
            .iter()
            .map(|s| ArrayD::from_elem(IxDyn(s), 1e-3f32))
            .collect();
        opt.step(&mut params, &grads).unwrap();
        group.bench_function(format!("200-tensors/{name}"), |b| {
            b.iter(|| opt.step(black_box(&mut params), black_box(&grads)).unwrap())
        });
        let mut opt = build::<f32>(kind);
        let mut flat = data::<f32>(total, 0.0);
        let g = Array1::from_elem(total, 1e-3f32);
        opt.step(&mut flat, &g).unwrap();
        group.bench_function(format!("flat/{name}"), |b| {
            b.iter(|| opt.step(black_box(&mut flat), black_box(&g)).unwrap())
        });
    }
    group.finish();
}

fn threads(c: &mut Criterion) {
    let shapes = model_shapes();
    for kind in FEW {
        let name = kind.name();
        let mut group = c.benchmark_group(format!("threads/{name}"));
        configure(&mut group, 1_000_000);
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for n in [100_000, 1_000_000, 10_000_000] {
                group.throughput(Throughput::Elements(n as u64));
                // Adam also without the check, to see what the check costs on two threads.
                let unchecked = kind == OptimizerKind::Adam && n == 10_000_000;
                for policy in [NonFinitePolicy::Error, NonFinitePolicy::Unchecked] {
                    if policy == NonFinitePolicy::Unchecked && !unchecked {
                        continue;
                    }
                    let mut opt = build::<f32>(kind);
                    opt.set_non_finite_policy(policy);
                    let mut p = data::<f32>(n, 0.0);
                    let g = data::<f32>(n, 1.0).mapv(|x| x * 1e-3);
                    pool.install(|| opt.step(&mut p, &g).unwrap());
                    let id = match policy {
                        NonFinitePolicy::Unchecked => format!("{n}-unchecked"),
                        _ => format!("{n}"),
                    };
                    group.bench_function(BenchmarkId::new(id, threads), |b| {
                        b.iter(|| {
                            pool.install(|| opt.step(black_box(&mut p), black_box(&g)).unwrap())
                        })
                    });
                }
            }
            let mut opt = optimizers::<f32>()
                .into_iter()
                .find(|(m, _)| *m == name)
                .unwrap()
                .1;
            let mut params: Vec<ArrayD<f32>> = shapes
                .iter()
                .map(|s| ArrayD::from_elem(IxDyn(s), 0.5f32))
                .collect();
            let grads: Vec<ArrayD<f32>> = shapes
                .iter()
                .map(|s| ArrayD::from_elem(IxDyn(s), 1e-3f32))
                .collect();
            pool.install(|| opt.step(&mut params, &grads).unwrap());
            group.bench_function(BenchmarkId::new("model", threads), |b| {
                b.iter(|| {
                    pool.install(|| opt.step(black_box(&mut params), black_box(&grads)).unwrap())
                })
            });
        }
        group.finish();
    }
}

/// The sharded step on the model of 200 tensors (3.3 M elements): the plain optimizer, then
/// `Sharded` on 1 and 2 ranks as threads (rank 0's time per step; every rank steps its half
/// of the tensors, then the updated tensors are broadcast), without and with the undo copy.
fn sharded(c: &mut Criterion) {
    use ndarray_optim::distributed::{Sharded, Threads};
    let shapes = model_shapes();
    let total: usize = shapes.iter().map(|s| s.iter().product::<usize>()).sum();
    let params = || -> Vec<ArrayD<f32>> {
        shapes
            .iter()
            .map(|s| ArrayD::from_elem(IxDyn(s), 0.5f32))
            .collect()
    };
    let grads: Vec<ArrayD<f32>> = shapes
        .iter()
        .map(|s| ArrayD::from_elem(IxDyn(s), 1e-3f32))
        .collect();
    for kind in [OptimizerKind::Adam, OptimizerKind::Lamb] {
        let name = kind.name();
        let mut group = c.benchmark_group(format!("sharded/{name}"));
        configure(&mut group, total);
        group.throughput(Throughput::Elements(total as u64));
        let mut opt = build::<f32>(kind);
        let mut p = params();
        opt.step(&mut p, &grads).unwrap();
        group.bench_function("plain", |b| {
            b.iter(|| opt.step(black_box(&mut p), black_box(&grads)).unwrap())
        });
        for (world, undo) in [(1, false), (2, false), (2, true)] {
            let id = BenchmarkId::new(if undo { "undo" } else { "ranks" }, world);
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let times = Threads::run(world, |comm| {
                        let mut opt = Sharded::new(build::<f32>(kind), comm).unwrap();
                        opt.undo_failed_exchanges(undo);
                        let mut p = params();
                        opt.step(&mut p, &grads).unwrap();
                        let start = std::time::Instant::now();
                        for _ in 0..iters {
                            opt.step(black_box(&mut p), black_box(&grads)).unwrap();
                        }
                        start.elapsed()
                    })
                    .unwrap();
                    times[0]
                })
            });
        }
        group.finish();
    }
}

/// Adam's step over 16-bit parameters and state against `f32`'s (`half/<case>/<n>`).
fn half_precision(c: &mut Criterion) {
    use half::{bf16, f16};
    use ndarray_optim::{Adam, MasterWeights};
    fn case<A: Float>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        id: &str,
        n: usize,
        mut opt: Box<dyn Optimizer<A>>,
    ) {
        let mut p = data::<A>(n, 0.0);
        let g = data::<A>(n, 1.0).mapv(|x| x * A::from_f64(1e-3));
        opt.step(&mut p, &g).unwrap(); // state allocated outside the timing
        group.bench_function(BenchmarkId::new(id, n), |b| {
            b.iter(|| opt.step(black_box(&mut p), black_box(&g)).unwrap())
        });
    }
    for n in [100_000, 10_000_000] {
        let mut group = c.benchmark_group("half");
        configure(&mut group, n);
        group.throughput(Throughput::Elements(n as u64));
        case::<f32>(&mut group, "f32", n, Box::new(Adam::new(1e-3).unwrap()));
        case::<bf16>(&mut group, "bf16", n, Box::new(Adam::new(1e-3).unwrap()));
        case::<f16>(&mut group, "f16", n, Box::new(Adam::new(1e-3).unwrap()));
        let mut sr = Adam::<bf16>::new(1e-3).unwrap();
        sr.set_stochastic_rounding(Some(1)).unwrap();
        case::<bf16>(&mut group, "bf16-stochastic", n, Box::new(sr));
        let master = MasterWeights::<bf16, _>::new(Adam::<f32>::new(1e-3).unwrap());
        case::<bf16>(&mut group, "bf16-master-weights", n, Box::new(master));
        group.finish();
    }
}

/// Adam with `f32` state against quantised 8-bit, float8 and 4-bit state (`lowbit/<case>/<n>`).
fn low_bit_state(c: &mut Criterion) {
    use ndarray_optim::{Adam, AdamConfig, Quantization};
    // About 1e5 and 1e7, multiples of 256 (torchao quantises only whole blocks).
    for n in [102_400, 10_240_000] {
        let mut group = c.benchmark_group("lowbit");
        configure(&mut group, n);
        group.throughput(Throughput::Elements(n as u64));
        let cases: [(&str, Box<dyn Optimizer<f32>>); 4] = [
            ("adam-f32", Box::new(Adam::new(1e-3).unwrap())),
            (
                "adam-8bit",
                Box::new(
                    AdamConfig::default()
                        .quantized_state(Quantization::int8())
                        .build()
                        .unwrap(),
                ),
            ),
            (
                "adam-fp8",
                Box::new(
                    AdamConfig::default()
                        .quantized_state(Quantization::fp8())
                        .build()
                        .unwrap(),
                ),
            ),
            (
                "adam-4bit",
                Box::new(
                    AdamConfig::default()
                        .quantized_state(Quantization::int4())
                        .build()
                        .unwrap(),
                ),
            ),
        ];
        for (id, mut opt) in cases {
            let mut p = data::<f32>(n, 0.0);
            let g = data::<f32>(n, 1.0).mapv(|x| x * 1e-3);
            opt.step(&mut p, &g).unwrap(); // state allocated outside the timing
            group.bench_function(BenchmarkId::new(id, n), |b| {
                b.iter(|| opt.step(black_box(&mut p), black_box(&g)).unwrap())
            });
            // The same step on two threads (a large tensor is split on block boundaries).
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap();
            group.bench_function(BenchmarkId::new(format!("{id}-2-threads"), n), |b| {
                b.iter(|| pool.install(|| opt.step(black_box(&mut p), black_box(&g)).unwrap()))
            });
        }
        group.finish();
    }
}

fn benches(c: &mut Criterion) {
    // One thread for everything but the `threads` group (which makes pools of its own): with a
    // one-thread global pool, the steps see `current_num_threads() == 1` and never split.
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()
        .unwrap();
    copy_bandwidth(c);
    half_precision(c);
    low_bit_state(c);
    step_one_tensor::<f32>(c, "f32");
    vs_baseline(c);
    step_one_tensor::<f64>(c, "f64");
    many_tensors(c);
    threads(c);
    sharded(c);
}

/// Plain loops of each optimizer's arithmetic and memory streams, compiled for this CPU: the
/// yardstick of the `vs-baseline` group. One function per optimizer (defaults, step `t` large
/// enough that the bias corrections are constants here), slices in, no checks, no dispatch on
/// variants, every scalar a constant.
mod baseline {
    /// Runs `body` compiled for the best instruction set of this CPU, or the one
    /// `NDARRAY_OPTIM_SIMD` names (`avx2`, `baseline`), as the crate's loops are.
    #[inline(always)]
    pub fn for_cpu<R>(body: impl FnOnce() -> R) -> R {
        #[cfg(target_arch = "x86_64")]
        {
            let var = std::env::var("NDARRAY_OPTIM_SIMD").unwrap_or_default();
            let fma = std::arch::is_x86_feature_detected!("fma");
            if fma && var.is_empty() && std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has every feature `avx512` is compiled for.
                return unsafe { avx512(body) };
            }
            if fma && var != "baseline" && std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: likewise.
                return unsafe { avx2(body) };
            }
        }
        body()
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    fn avx512<R>(body: impl FnOnce() -> R) -> R {
        body()
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn avx2<R>(body: impl FnOnce() -> R) -> R {
        body()
    }

    /// The state buffers a baseline needs (as many as the optimizer keeps).
    pub struct Buffers {
        pub s: [Vec<f32>; 4],
    }

    impl Buffers {
        pub fn new(n: usize) -> Self {
            Buffers {
                s: [vec![0.01; n], vec![0.01; n], vec![0.01; n], vec![0.01; n]],
            }
        }
    }

    /// One step of the plain loop named `name` (an optimizer name, or a variant of the bench).
    pub fn step(name: &str, p: &mut [f32], g: &[f32], b: &mut Buffers) {
        let n = p.len();
        let g = &g[..n];
        let [s0, s1, s2, s3] = &mut b.s;
        let (s0, s1, s2, s3) = (&mut s0[..n], &mut s1[..n], &mut s2[..n], &mut s3[..n]);
        match name {
            "SGD" => for_cpu(
                #[inline(always)]
                || sgd(p, g),
            ),
            "Momentum" => for_cpu(
                #[inline(always)]
                || momentum(p, g, s0),
            ),
            "Nesterov" => for_cpu(
                #[inline(always)]
                || nesterov(p, g, s0),
            ),
            "Adagrad" => for_cpu(
                #[inline(always)]
                || adagrad(p, g, s0),
            ),
            "RMSprop" => for_cpu(
                #[inline(always)]
                || rmsprop(p, g, s0),
            ),
            "RMSprop-centered-momentum" => for_cpu(
                #[inline(always)]
                || rmsprop_centered_momentum(p, g, s0, s1, s2),
            ),
            "Adadelta" => for_cpu(
                #[inline(always)]
                || adadelta(p, g, s0, s1),
            ),
            "Adam" => for_cpu(
                #[inline(always)]
                || adam::<false, false>(p, g, s0, s1, s2),
            ),
            "AMSGrad" => for_cpu(
                #[inline(always)]
                || adam::<false, true>(p, g, s0, s1, s2),
            ),
            "AdamW" => for_cpu(
                #[inline(always)]
                || adam::<true, false>(p, g, s0, s1, s2),
            ),
            "NAdam" => for_cpu(
                #[inline(always)]
                || nadam(p, g, s0, s1),
            ),
            "RAdam" => for_cpu(
                #[inline(always)]
                || radam(p, g, s0, s1),
            ),
            "Adamax" => for_cpu(
                #[inline(always)]
                || adamax(p, g, s0, s1),
            ),
            "Lion" => for_cpu(
                #[inline(always)]
                || lion(p, g, s0),
            ),
            "Lamb" => for_cpu(
                #[inline(always)]
                || lamb(p, g, s0, s1),
            ),
            "Rprop" => for_cpu(
                #[inline(always)]
                || rprop(p, g, s0, s1),
            ),
            "Adan" => for_cpu(
                #[inline(always)]
                || adan(p, g, s0, s1, s2, s3),
            ),
            "Lars" => for_cpu(
                #[inline(always)]
                || sgd_lr(p, g, 1.0),
            ),
            "ScheduleFreeAdamW" => for_cpu(
                #[inline(always)]
                || schedule_free_adamw(p, g, s0, s1),
            ),
            "ScheduleFreeSgd" => for_cpu(
                #[inline(always)]
                || schedule_free_sgd(p, g, s0),
            ),
            "Prodigy" => for_cpu(
                #[inline(always)]
                || prodigy(p, g, s0, s1, s2, s3),
            ),
            "ASGD" => for_cpu(
                #[inline(always)]
                || asgd(p, g, s0),
            ),
            "Adafactor" => for_cpu(
                #[inline(always)]
                || adafactor(p, g, s0),
            ),
            "SparseAdam" => for_cpu(
                #[inline(always)]
                || sparse_adam(p, g, s0, s1),
            ),
            other => panic!("no baseline for {other}"),
        }
    }

    #[inline(always)]
    fn sgd(p: &mut [f32], g: &[f32]) {
        for (p, &g) in p.iter_mut().zip(g) {
            *p = g.mul_add(-1e-3, *p);
        }
    }

    /// Plain SGD with learning rate `lr`: LARS's defaults (no decay, so no trust ratio).
    #[inline(always)]
    fn sgd_lr(p: &mut [f32], g: &[f32], lr: f32) {
        for (p, &g) in p.iter_mut().zip(g) {
            *p = g.mul_add(-lr, *p);
        }
    }

    #[inline(always)]
    fn momentum(p: &mut [f32], g: &[f32], b: &mut [f32]) {
        for ((p, &g), b) in p.iter_mut().zip(g).zip(b) {
            *b = g.mul_add(1.0, *b * 0.9);
            *p = b.mul_add(-1e-3, *p);
        }
    }

    #[inline(always)]
    fn nesterov(p: &mut [f32], g: &[f32], b: &mut [f32]) {
        for ((p, &g), b) in p.iter_mut().zip(g).zip(b) {
            *b = g.mul_add(1.0, *b * 0.9);
            *p = b.mul_add(0.9, g).mul_add(-1e-3, *p);
        }
    }

    #[inline(always)]
    fn adagrad(p: &mut [f32], g: &[f32], s: &mut [f32]) {
        for ((p, &g), s) in p.iter_mut().zip(g).zip(s) {
            *s = g.mul_add(g, *s);
            *p += (-1e-2 * g) / (s.sqrt() + 1e-10);
        }
    }

    #[inline(always)]
    fn rmsprop(p: &mut [f32], g: &[f32], v: &mut [f32]) {
        for ((p, &g), v) in p.iter_mut().zip(g).zip(v) {
            *v = (0.01 * g).mul_add(g, *v * 0.99);
            *p += (-1e-2 * g) / (v.sqrt() + 1e-8);
        }
    }

    #[inline(always)]
    fn rmsprop_centered_momentum(
        p: &mut [f32],
        g: &[f32],
        v: &mut [f32],
        a: &mut [f32],
        b: &mut [f32],
    ) {
        for ((((p, &g), v), a), b) in p.iter_mut().zip(g).zip(v).zip(a).zip(b) {
            *v = (0.01 * g).mul_add(g, *v * 0.99);
            *a = 0.01f32.mul_add(g - *a, *a);
            let d = (-*a).mul_add(*a, *v).max(0.0).sqrt() + 1e-8;
            *b = b.mul_add(0.9, g / d);
            *p = b.mul_add(-1e-2, *p);
        }
    }

    #[inline(always)]
    fn adadelta(p: &mut [f32], g: &[f32], v: &mut [f32], u: &mut [f32]) {
        for (((p, &g), v), u) in p.iter_mut().zip(g).zip(v).zip(u) {
            *v = (0.1 * g).mul_add(g, *v * 0.9);
            let delta = (*u + 1e-6).sqrt() / (*v + 1e-6).sqrt() * g;
            *u = (0.1 * delta).mul_add(delta, *u * 0.9);
            *p = delta.mul_add(-1.0, *p);
        }
    }

    /// Adam; `DECOUPLED`: AdamW's `p ← p·(1 − γλ)`; `AMSGRAD`: the running maximum of `v`.
    #[inline(always)]
    fn adam<const DECOUPLED: bool, const AMSGRAD: bool>(
        p: &mut [f32],
        g: &[f32],
        m: &mut [f32],
        v: &mut [f32],
        v_max: &mut [f32],
    ) {
        for ((((p, &g), m), v), v_max) in p.iter_mut().zip(g).zip(m).zip(v).zip(v_max) {
            if DECOUPLED {
                *p *= 1.0 - 1e-5;
            }
            *m = 0.1f32.mul_add(g - *m, *m);
            *v = (1e-3 * g).mul_add(g, *v * 0.999);
            let v_hat = if AMSGRAD {
                *v_max = v_max.max(*v);
                *v_max
            } else {
                *v
            };
            *p += (-1e-3 * *m) / (v_hat.sqrt() / 0.3 + 1e-8);
        }
    }

    #[inline(always)]
    fn nadam(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
            *m = 0.1f32.mul_add(g - *m, *m);
            *v = (1e-3 * g).mul_add(g, *v * 0.999);
            let d = (*v / 0.1).sqrt() + 1e-8;
            *p += (-2e-4 * g) / d;
            *p += (-1.8e-3 * *m) / d;
        }
    }

    #[inline(always)]
    fn radam(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
            *m = 0.1f32.mul_add(g - *m, *m);
            *v = (1e-3 * g).mul_add(g, *v * 0.999);
            let adaptive = (1.0 / (v.sqrt() + 1e-8)) * 0.3;
            *p -= ((*m / 0.9 * 1e-3) * adaptive) * 0.5;
        }
    }

    #[inline(always)]
    fn adamax(p: &mut [f32], g: &[f32], m: &mut [f32], u: &mut [f32]) {
        for (((p, &g), m), u) in p.iter_mut().zip(g).zip(m).zip(u) {
            *m = 0.1f32.mul_add(g - *m, *m);
            *u = (*u * 0.999).max(g.abs() + 1e-8);
            *p += (-2e-3 * *m) / *u;
        }
    }

    #[inline(always)]
    fn lion(p: &mut [f32], g: &[f32], m: &mut [f32]) {
        for ((p, &g), m) in p.iter_mut().zip(g).zip(m) {
            let c = 0.1f32.mul_add(g, 0.9 * *m);
            *m = 0.01f32.mul_add(g, 0.99 * *m);
            let sign = if c > 0.0 {
                1.0
            } else if c < 0.0 {
                -1.0
            } else {
                c
            };
            *p = 1e-3f32.mul_add(*p, sign).mul_add(-1e-4, *p);
        }
    }

    /// `Σ term(p, m, v)` over three slices in 8 interleaved `f64` lanes, as a vectorised sum
    /// must be.
    #[inline(always)]
    fn lanes(p: &[f32], m: &[f32], v: &[f32], term: impl Fn(f32, f32, f32) -> f64) -> f64 {
        let mut l = [0.0f64; 8];
        let (pc, pr) = p.as_chunks::<8>();
        let (mc, mr) = m.as_chunks::<8>();
        let (vc, vr) = v.as_chunks::<8>();
        for ((p, m), v) in pc.iter().zip(mc).zip(vc) {
            for j in 0..8 {
                l[j] += term(p[j], m[j], v[j]);
            }
        }
        let rest: f64 = pr
            .iter()
            .zip(mr)
            .zip(vr)
            .map(|((&p, &m), &v)| term(p, m, v))
            .sum();
        l.iter().sum::<f64>() + rest
    }

    /// LAMB's three passes, as the crate makes them: the global gradient norm; the moments with
    /// the norms `‖p‖`, `‖u‖` summed in `f64`; the step, recomputing `u`.
    #[inline(always)]
    fn lamb(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        let n = p.len();
        let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
        let norm = lanes(g, g, g, |g, _, _| f64::from(g) * f64::from(g)).sqrt();
        let clip = (norm as f32).max(1.0);
        #[inline(always)]
        fn direction(p: f32, m: f32, v: f32) -> f32 {
            let u = (m / 0.1) / (v.sqrt() / 0.03 + 1e-6);
            p.mul_add(0.01, u.clamp(-f32::MAX, f32::MAX))
        }
        // Moments, then the norms' terms of the same block while it is in cache.
        let (mut pp, mut uu) = (0.0, 0.0);
        for (((p, g), m), v) in p
            .chunks_mut(4096)
            .zip(g.chunks(4096))
            .zip(m.chunks_mut(4096))
            .zip(v.chunks_mut(4096))
        {
            for (((_, &g), m), v) in p.iter().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                let g = g / clip;
                *m = 0.1f32.mul_add(g - *m, *m);
                *v = (1e-3 * g).mul_add(g, *v * 0.999);
            }
            pp += lanes(p, p, p, |p, _, _| f64::from(p) * f64::from(p));
            uu += lanes(p, m, v, |p, m, v| {
                let u = f64::from(direction(p, m, v));
                u * u
            });
        }
        let ratio = (pp.sqrt() / uu.sqrt()) as f32;
        for ((p, &m), &v) in p.iter_mut().zip(m.iter()).zip(v.iter()) {
            *p = (direction(*p, m, v) * ratio).mul_add(-1e-3, *p);
        }
    }

    /// Schedule-Free AdamW's step at a fixed `c` (the averaging weight), `y ← lerp(y, z, c)`.
    #[inline(always)]
    fn schedule_free_adamw(y: &mut [f32], g: &[f32], z: &mut [f32], v: &mut [f32]) {
        for (((y, &g), z), v) in y.iter_mut().zip(g).zip(z).zip(v) {
            *v = (0.001 * g).mul_add(g, *v * 0.999);
            let u = g / ((*v / 0.01).sqrt() + 1e-8);
            *y = 0.01f32.mul_add(*z - *y, *y);
            *y = u.mul_add(-0.0016, *y);
            *z = u.mul_add(-0.0025, *z);
        }
    }

    /// Prodigy at a fixed `d`: the moments and `s`, the two sums of each block while it is in
    /// cache (terms in `f64`), then the step with the new `d` in the denominator.
    #[inline(always)]
    fn prodigy(
        p: &mut [f32],
        g: &[f32],
        p0: &mut [f32],
        s: &mut [f32],
        m: &mut [f32],
        v: &mut [f32],
    ) {
        let n = p.len();
        let (g, p0, s, m, v) = (&g[..n], &p0[..n], &mut s[..n], &mut m[..n], &mut v[..n]);
        let (mut dot, mut l1) = (0.0, 0.0);
        for ((((p, g), p0), s), (m, v)) in p
            .chunks(4096)
            .zip(g.chunks(4096))
            .zip(p0.chunks(4096))
            .zip(s.chunks_mut(4096))
            .zip(m.chunks_mut(4096).zip(v.chunks_mut(4096)))
        {
            for (((&g, s), m), v) in g
                .iter()
                .zip(s.iter_mut())
                .zip(m.iter_mut())
                .zip(v.iter_mut())
            {
                *m = g.mul_add(1e-7, *m * 0.9);
                *v = (1e-9 * g).mul_add(g, *v * 0.999);
                *s = g.mul_add(1e-6, *s * 0.9995);
            }
            dot += lanes(g, p0, p, |g, x0, x| f64::from(g) * f64::from(x0 - x));
            l1 += lanes(s, s, s, |s, _, _| f64::from(s.abs()));
        }
        let d = (dot / l1).max(1e-6) as f32;
        for ((p, &m), &v) in p.iter_mut().zip(m.iter()).zip(v.iter()) {
            *p += (-1e-6 * m) / (v.sqrt() + d * 1e-8);
        }
    }

    /// ASGD before averaging starts (`t₀` = 1e6): the shrunk step, the average a copy.
    #[inline(always)]
    fn asgd(p: &mut [f32], g: &[f32], ax: &mut [f32]) {
        let (shrink, eta) = (1.0 - 1e-4 * 0.01, 0.01f32);
        for ((p, &g), ax) in p.iter_mut().zip(g).zip(ax) {
            *p = g.mul_add(-eta, *p * shrink);
            *ax = *p;
        }
    }

    /// Adafactor on a vector (unfactored): the parameter's RMS (`f64` terms), the second
    /// moment, `Σ U²` (`f64` terms), then the step: four passes, as the crate makes them.
    #[inline(always)]
    fn adafactor(p: &mut [f32], g: &[f32], v: &mut [f32]) {
        let rms = (lanes(p, p, p, |p, _, _| f64::from(p) * f64::from(p)) / p.len() as f64).sqrt();
        for (v, &g) in v.iter_mut().zip(g) {
            *v = (g * g - *v).mul_add(0.2, *v);
        }
        let u = |g: f32, v: f32| g * (1.0 / v.max(1e-60).sqrt());
        let sum_u2 = lanes(g, v, v, |g, v, _| {
            let u = f64::from(u(g, v));
            u * u
        });
        let step =
            (-(rms.max(1e-3) * 0.01) / (sum_u2.sqrt() / (p.len() as f64).sqrt()).max(1.0)) as f32;
        for ((p, &g), &v) in p.iter_mut().zip(g).zip(v.iter()) {
            *p = u(g, v).mul_add(step, *p);
        }
    }

    /// SparseAdam with a dense gradient: Adam's arithmetic in PyTorch's lerp form, with the
    /// guards of the moments and of `m / (√v + ε)` (selects).
    #[inline(always)]
    fn sparse_adam(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
            *m = if m.is_infinite() {
                *m
            } else {
                *m + (g - *m) * 0.1
            };
            *v = if v.is_infinite() {
                *v
            } else {
                *v + (g * g - *v) * 0.001
            };
            let denom = v.sqrt() + 1e-8;
            let ratio = if m.is_infinite() && denom.is_infinite() {
                0.0
            } else {
                *m / denom
            };
            *p += ratio * -1e-3;
        }
    }

    #[inline(always)]
    fn schedule_free_sgd(y: &mut [f32], g: &[f32], z: &mut [f32]) {
        for ((y, &g), z) in y.iter_mut().zip(g).zip(z) {
            *y = 0.01f32.mul_add(*z - *y, *y);
            *y = g.mul_add(-0.11, *y);
            *z = g.mul_add(-1.0, *z);
        }
    }

    #[inline(always)]
    fn adan(
        p: &mut [f32],
        g: &[f32],
        m: &mut [f32],
        n: &mut [f32],
        d: &mut [f32],
        neg: &mut [f32],
    ) {
        for (((((p, &g), m), n), d), neg) in p.iter_mut().zip(g).zip(m).zip(n).zip(d).zip(neg) {
            let diff = *neg + g;
            *m = 0.02f32.mul_add(g - *m, *m);
            *d = diff.mul_add(0.08, *d * 0.92);
            let x = diff * 0.92 + g;
            *n = (0.01 * x).mul_add(x, *n * 0.99);
            let denom = n.sqrt() / 0.3 + 1e-8;
            *p += (-5e-3 * *m) / denom;
            *p += (-1e-2 * *d) / denom;
            *neg = -g;
        }
    }

    #[inline(always)]
    fn rprop(p: &mut [f32], g: &[f32], prev: &mut [f32], step: &mut [f32]) {
        for (((p, &g), prev), step) in p.iter_mut().zip(g).zip(prev).zip(step) {
            let s = g * *prev;
            let factor = if s > 0.0 {
                1.2
            } else if s < 0.0 {
                0.5
            } else {
                1.0
            };
            *step = (*step * factor).clamp(1e-6, 50.0);
            let g = if s < 0.0 { 0.0 } else { g };
            let sign = if g > 0.0 {
                1.0
            } else if g < 0.0 {
                -1.0
            } else {
                0.0
            };
            *p -= sign * *step;
            *prev = g;
        }
    }
}

criterion_group!(step, benches);
criterion_main!(step);
