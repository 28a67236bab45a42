//! Time per optimizer step, against the memory system's limit.
//!
//! ```text
//! cargo bench --bench step                      # everything (a few minutes)
//! cargo bench --bench step -- 'step/f32/Adam'   # a subset (criterion's filter)
//! ```
//!
//! Groups:
//! - `copy`: `dst.copy_from_slice(src)` of `n` f32 (`memcpy`), and `x *= c` in place
//!   (`scale-in-place`, read and written once, 8 bytes per element): the machine's bandwidth,
//!   the yardstick for each optimizer's bandwidth bound (bytes it must move / the larger of the
//!   two bandwidths).
//! - `step/{f32,f64}/<optimizer>/<n>`: one step over one contiguous tensor of `n` elements, for
//!   every optimizer of `OptimizerKind::ALL` with its defaults (named by `OptimizerKind::name`)
//!   and the default non-finite check, plus `Adam-unchecked` without the check and `AMSGrad`.
//! - `model/<optimizer>`: 200 tensors shaped like 25 transformer blocks (~5 M elements), against
//!   `flat/<optimizer>`, one tensor of the same total size.
//! - `threads/<optimizer>/<n or model>/<threads>`: the same step in a rayon pool of 1 and 2
//!   threads (the `rayon` feature, on in the benches): the parallel speedup.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndarray::{Array1, ArrayD, Dimension, IxDyn};
use ndarray_optim::{AdamConfig, Float, NonFinitePolicy, Optimizer, OptimizerKind};

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
                let mut opt = build::<f32>(kind);
                let mut p = data::<f32>(n, 0.0);
                let g = data::<f32>(n, 1.0).mapv(|x| x * 1e-3);
                pool.install(|| opt.step(&mut p, &g).unwrap());
                group.bench_function(BenchmarkId::new(format!("{n}"), threads), |b| {
                    b.iter(|| pool.install(|| opt.step(black_box(&mut p), black_box(&g)).unwrap()))
                });
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

fn benches(c: &mut Criterion) {
    copy_bandwidth(c);
    step_one_tensor::<f32>(c, "f32");
    step_one_tensor::<f64>(c, "f64");
    many_tensors(c);
    threads(c);
}

criterion_group!(step, benches);
criterion_main!(step);
