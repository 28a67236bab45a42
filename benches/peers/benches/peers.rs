//! ndarray-optim against its Rust peers: the time of one optimizer step.
//!
//! ```text
//! benches/peers/run.sh                      # this and PyTorch, one Markdown table (preferred)
//! cd benches/peers && cargo bench           # this bench alone
//! cd benches/peers && cargo bench -- Adam/  # a subset (criterion's filter)
//! ```
//!
//! One contiguous `f32` tensor of `n` elements (n = 1e3, 1e5, 1e6, 1e7), one thread, the
//! gradient prepared before the timing. Every optimizer takes one untimed step first, so its
//! state exists, and the timing then covers the step call alone. Benchmark ids are
//! `<optimizer>/<library>/<n>`; `run.sh` reads them from `target/criterion/**/benchmark.json`.
//!
//! What each library's timed closure contains:
//! - **ndarray-optim**: `opt.step(&mut p, &g)`, in place. `(unchecked)`: the same with
//!   `NonFinitePolicy::Unchecked`, without the pass that looks for NaN/inf gradients.
//! - **burn** (`ndarray` and `flex` CPU backends): `optim.step(lr, param, grad, state)` of the
//!   per-tensor `burn::optim::Optimizer` trait, which consumes the parameter, the gradient and
//!   the state and returns new ones. A fresh, uniquely owned gradient is made for every step
//!   outside the timing (`iter_batched`), as a backward pass would hand it over, so burn may
//!   reuse its buffer. `(flex, ModuleOptimizer)`, Adam only: the user-level
//!   `ModuleOptimizer::step(lr, module, GradientsParams)` with the module (one `Param`) on an
//!   autodiff flex device, the consumed `GradientsParams` rebuilt outside the timing.
//! - **candle-nn**: `opt.step(&grads)` with a `GradStore` built once; candle allocates a new
//!   tensor per operation and copies the result into the `Var`s.
//! - **optirs-core**: `step`: `p = opt.step(&p, &g)` of its `Optimizer` trait, which returns a
//!   new array (the allocation and the drop of the old parameters are inside the timing).
//!   `step_inplace`: the in-place method that Adam, AdamW and SGD also have.
//!
//! Hyperparameters are PyTorch's defaults with PyTorch's learning rates (Adam/AdamW 1e-3,
//! AdamW weight decay 1e-2, SGD 1e-3, momentum 0.9, RMSprop 1e-2, Adagrad 1e-2, Adadelta 1.0);
//! peers whose defaults differ (burn's eps 1e-5, momentum dampening 0.1, RMSprop momentum
//! 0.9) are set to PyTorch's, so every library applies the same update rule.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode};
use ndarray::Array1;

const SIZES: [usize; 4] = [1_000, 100_000, 1_000_000, 10_000_000];

/// The optimizers compared; the first part of every benchmark id.
const KEYS: [&str; 7] = [
    "Adam",
    "AdamW",
    "SGD",
    "SGD-momentum",
    "RMSprop",
    "Adagrad",
    "Adadelta",
];

/// `sin(i · 0.00037 + seed)`: the same values as `benches/step.rs` and `pytorch_bench.py`.
fn data(n: usize, seed: f64) -> Vec<f32> {
    (0..n)
        .map(|i| ((i as f64) * 0.000_37 + seed).sin() as f32)
        .collect()
}

fn params(n: usize) -> Vec<f32> {
    data(n, 0.0)
}

fn grads(n: usize) -> Vec<f32> {
    data(n, 1.0).into_iter().map(|x| x * 1e-3).collect()
}

/// Panics unless a warm-up step moved the parameters: a peer wired wrongly (a gradient its
/// optimizer cannot find, say) would otherwise be timed doing nothing.
fn assert_moved(library: &str, key: &str, before: &[f32], after: &[f32]) {
    let moved = before
        .iter()
        .zip(after)
        .take(1_000)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    assert!(
        moved > 0,
        "{library} {key}: the warm-up step left the parameters unchanged"
    );
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>, n: usize) {
    if n >= 1_000_000 {
        // A slow peer takes ~0.3 s per step at 1e7: flat sampling needs only `sample_size`
        // steps, where linear sampling would need 55.
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(3));
    } else {
        group.sampling_mode(SamplingMode::Auto);
        group.sample_size(30);
        group.measurement_time(Duration::from_secs(1));
    }
    group.warm_up_time(Duration::from_millis(500));
}

mod ours {
    use super::*;
    use ndarray_optim::{
        Adadelta, Adagrad, Adam, AdamW, Momentum, NonFinitePolicy, Optimizer, RmsProp, Sgd,
    };

    fn build(key: &str) -> Box<dyn Optimizer<f32>> {
        match key {
            "Adam" => Box::new(Adam::<f32>::new(1e-3).unwrap()),
            "AdamW" => Box::new(AdamW::<f32>::new(1e-3).unwrap()),
            "SGD" => Box::new(Sgd::new(1e-3).unwrap()),
            "SGD-momentum" => Box::new(Momentum::new(1e-3, 0.9).unwrap()),
            "RMSprop" => Box::new(RmsProp::new(1e-2).unwrap()),
            "Adagrad" => Box::new(Adagrad::new(1e-2).unwrap()),
            "Adadelta" => Box::new(Adadelta::new(1.0).unwrap()),
            _ => unreachable!("{key}"),
        }
    }

    pub fn bench(group: &mut BenchmarkGroup<'_, WallTime>, key: &str, n: usize) {
        for (label, policy) in [
            ("ndarray-optim", NonFinitePolicy::Error),
            ("ndarray-optim (unchecked)", NonFinitePolicy::Unchecked),
        ] {
            let mut opt = build(key);
            opt.set_non_finite_policy(policy);
            let mut p = Array1::from(params(n));
            let g = Array1::from(grads(n));
            let before = p.to_vec();
            opt.step(&mut p, &g).unwrap(); // state allocated outside the timing
            assert_moved(label, key, &before, p.as_slice().unwrap());
            group.bench_function(BenchmarkId::new(label, n), |b| {
                b.iter(|| opt.step(black_box(&mut p), black_box(&g)).unwrap())
            });
        }
    }
}

mod burn_peer {
    use super::*;
    use burn::module::Param;
    use burn::optim::momentum::MomentumConfig;
    use burn::optim::{
        AdaGradConfig, AdamConfig, AdamWConfig, GradientsParams, Optimizer, RmsPropConfig,
        SgdConfig,
    };
    use burn::tensor::{Device, Tensor, TensorData};

    fn tensor(values: &[f32], device: &Device) -> Tensor<1> {
        Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
    }

    fn to_vec(t: &Tensor<1>) -> Vec<f32> {
        t.to_data().try_to_vec::<f32>().unwrap()
    }

    /// Times `optim.step` on one tensor: parameter, fresh gradient and state in, new parameter
    /// and state out.
    fn time<O: Optimizer>(
        group: &mut BenchmarkGroup<'_, WallTime>,
        label: &str,
        key: &str,
        n: usize,
        device: &Device,
        optim: O,
        lr: f64,
    ) {
        let g = grads(n);
        let before = params(n);
        let p = tensor(&before, device);
        let (p, state) = optim.step(lr, p, tensor(&g, device), None);
        assert_moved(label, key, &before, &to_vec(&p));
        let mut param = Some(p);
        let mut state = state;
        group.bench_function(BenchmarkId::new(label, n), |b| {
            b.iter_batched(
                || tensor(&g, device),
                |grad| {
                    let (p, s) = optim.step(lr, param.take().unwrap(), grad, state.take());
                    param = Some(p);
                    state = s;
                },
                BatchSize::PerIteration,
            )
        });
    }

    // burn 0.22 deprecates its ndarray backend in favour of flex; both are measured.
    #[allow(deprecated)]
    pub fn bench(group: &mut BenchmarkGroup<'_, WallTime>, key: &str, n: usize) {
        // burn's defaults differ from PyTorch's (eps 1e-5, dampening 0.1, RMSprop momentum 0.9):
        // set to PyTorch's so the arithmetic matches.
        let pytorch_momentum = || MomentumConfig::new().with_momentum(0.9).with_dampening(0.0);
        for (label, device) in [
            ("burn (ndarray)", Device::ndarray()),
            ("burn (flex)", Device::flex()),
        ] {
            match key {
                "Adam" => {
                    let optim = AdamConfig::new().with_epsilon(1e-8).build();
                    time(group, label, key, n, &device, optim, 1e-3)
                }
                "AdamW" => {
                    let optim = AdamWConfig::new()
                        .with_epsilon(1e-8)
                        .with_weight_decay(1e-2)
                        .build();
                    time(group, label, key, n, &device, optim, 1e-3)
                }
                "SGD" => time(
                    group,
                    label,
                    key,
                    n,
                    &device,
                    SgdConfig::new().build(),
                    1e-3,
                ),
                "SGD-momentum" => {
                    let optim = SgdConfig::new()
                        .with_momentum(Some(pytorch_momentum()))
                        .build();
                    time(group, label, key, n, &device, optim, 1e-3)
                }
                "RMSprop" => {
                    let optim = RmsPropConfig::new()
                        .with_alpha(0.99)
                        .with_epsilon(1e-8)
                        .with_momentum(0.0)
                        .build();
                    time(group, label, key, n, &device, optim, 1e-2)
                }
                "Adagrad" => {
                    let optim = AdaGradConfig::new().with_epsilon(1e-10).build();
                    time(group, label, key, n, &device, optim, 1e-2)
                }
                _ => {} // no Adadelta in burn
            }
        }
        if key == "Adam" {
            module_optimizer(group, n);
        }
    }

    /// burn's user-level path: a module (here one `Param`) on an autodiff device, and the
    /// `GradientsParams` that a backward pass would produce, consumed by every step.
    fn module_optimizer(group: &mut BenchmarkGroup<'_, WallTime>, n: usize) {
        let label = "burn (flex, ModuleOptimizer)";
        let inner = Device::flex();
        let device = inner.clone().autodiff();
        let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
        let before = params(n);
        let module = Param::from_tensor(tensor(&before, &device).require_grad());
        let id = module.id;
        let g = grads(n);
        let gradients = || {
            let mut gp = GradientsParams::new();
            gp.register(id, tensor(&g, &inner));
            gp
        };
        let module = optim.step(1e-3, module, gradients());
        assert_moved(label, "Adam", &before, &to_vec(&module.val()));
        let mut module = Some(module);
        group.bench_function(BenchmarkId::new(label, n), |b| {
            b.iter_batched(
                gradients,
                |gp| module = Some(optim.step(1e-3, module.take().unwrap(), gp)),
                BatchSize::PerIteration,
            )
        });
    }
}

mod candle_peer {
    use super::*;
    use candle_core::backprop::GradStore;
    use candle_core::{Device, Tensor, Var};
    use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW, SGD};

    fn time<O: Optimizer>(
        group: &mut BenchmarkGroup<'_, WallTime>,
        key: &str,
        n: usize,
        config: O::Config,
    ) {
        let label = "candle-nn";
        let before = params(n);
        let var =
            Var::from_tensor(&Tensor::from_vec(before.clone(), n, &Device::Cpu).unwrap()).unwrap();
        let mut store = GradStore::default();
        store.insert(
            var.as_tensor(),
            Tensor::from_vec(grads(n), n, &Device::Cpu).unwrap(),
        );
        let mut opt = O::new(vec![var.clone()], config).unwrap();
        opt.step(&store).unwrap();
        assert_moved(
            label,
            key,
            &before,
            &var.as_tensor().to_vec1::<f32>().unwrap(),
        );
        group.bench_function(BenchmarkId::new(label, n), |b| {
            b.iter(|| opt.step(black_box(&store)).unwrap())
        });
    }

    pub fn bench(group: &mut BenchmarkGroup<'_, WallTime>, key: &str, n: usize) {
        match key {
            // candle-nn's defaults are PyTorch's AdamW defaults (eps 1e-8, weight decay 1e-2).
            "AdamW" => time::<AdamW>(group, key, n, ParamsAdamW::default()),
            "SGD" => time::<SGD>(group, key, n, 1e-3),
            _ => {} // candle-nn has only SGD (without momentum) and AdamW
        }
    }
}

mod optirs_peer {
    use super::*;
    use optirs_core::optimizers::{AdaDelta, Adagrad, Adam, AdamW, Optimizer, RMSprop, SGD};

    /// `p = opt.step(&p, &g)`: the trait's only form, which returns new parameters.
    fn time_step<O: Optimizer<f32, ndarray::Ix1>>(
        group: &mut BenchmarkGroup<'_, WallTime>,
        key: &str,
        n: usize,
        mut opt: O,
    ) {
        let label = "optirs-core (step)";
        let before = params(n);
        let g = Array1::from(grads(n));
        let mut p = opt.step(&Array1::from(before.clone()), &g).unwrap();
        assert_moved(label, key, &before, p.as_slice().unwrap());
        group.bench_function(BenchmarkId::new(label, n), |b| {
            b.iter(|| p = opt.step(black_box(&p), black_box(&g)).unwrap())
        });
    }

    /// The in-place method of Adam, AdamW and SGD (not part of optirs' `Optimizer` trait).
    fn time_inplace<O>(
        group: &mut BenchmarkGroup<'_, WallTime>,
        key: &str,
        n: usize,
        mut opt: O,
        step: fn(&mut O, &mut Array1<f32>, &Array1<f32>),
    ) {
        let label = "optirs-core (step_inplace)";
        let before = params(n);
        let g = Array1::from(grads(n));
        let mut p = Array1::from(before.clone());
        step(&mut opt, &mut p, &g);
        assert_moved(label, key, &before, p.as_slice().unwrap());
        group.bench_function(BenchmarkId::new(label, n), |b| {
            b.iter(|| step(&mut opt, black_box(&mut p), black_box(&g)))
        });
    }

    pub fn bench(group: &mut BenchmarkGroup<'_, WallTime>, key: &str, n: usize) {
        match key {
            "Adam" => {
                time_step(group, key, n, Adam::<f32>::new(1e-3));
                time_inplace(group, key, n, Adam::<f32>::new(1e-3), |o, p, g| {
                    o.step_inplace(p, g).unwrap()
                });
            }
            "AdamW" => {
                // optirs' AdamW defaults: eps 1e-8, weight decay 1e-2, as PyTorch.
                time_step(group, key, n, AdamW::<f32>::new(1e-3));
                time_inplace(group, key, n, AdamW::<f32>::new(1e-3), |o, p, g| {
                    o.step_inplace(p, g).unwrap()
                });
            }
            "SGD" => {
                time_step(group, key, n, SGD::<f32>::new(1e-3));
                time_inplace(group, key, n, SGD::<f32>::new(1e-3), |o, p, g| {
                    o.step_inplace(p, g).unwrap()
                });
            }
            "SGD-momentum" => {
                let opt = || SGD::<f32>::new_with_config(1e-3, 0.9, 0.0);
                time_step(group, key, n, opt());
                time_inplace(group, key, n, opt(), |o, p, g| {
                    o.step_inplace(p, g).unwrap()
                });
            }
            // optirs' RMSprop defaults to rho 0.9; PyTorch's alpha is 0.99.
            "RMSprop" => time_step(
                group,
                key,
                n,
                RMSprop::<f32>::new_with_config(1e-2, 0.99, 1e-8, 0.0),
            ),
            "Adagrad" => time_step(
                group,
                key,
                n,
                Adagrad::<f32>::new_with_config(1e-2, 1e-10, 0.0),
            ),
            // optirs' AdaDelta has no learning rate (PyTorch's lr = 1.0); rho 0.9 and eps 1e-6
            // are PyTorch's.
            "Adadelta" => time_step(group, key, n, AdaDelta::<f32>::new(0.9, 1e-6).unwrap()),
            _ => unreachable!("{key}"),
        }
    }
}

fn benches(c: &mut Criterion) {
    for key in KEYS {
        let mut group = c.benchmark_group(key);
        for n in SIZES {
            configure(&mut group, n);
            ours::bench(&mut group, key, n);
            burn_peer::bench(&mut group, key, n);
            candle_peer::bench(&mut group, key, n);
            optirs_peer::bench(&mut group, key, n);
        }
        group.finish();
    }
}

/// One thread everywhere: burn (built without its rayon feature here) and candle read
/// `RAYON_NUM_THREADS`; candle also `CANDLE_NUM_THREADS`. `run.sh` sets both; this makes a bare
/// `cargo bench` single-threaded too.
fn single_thread() {
    for var in ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"] {
        if std::env::var_os(var).is_none() {
            // SAFETY: called first thing in `main`, before any other thread exists.
            unsafe { std::env::set_var(var, "1") };
        }
    }
}

fn main() {
    single_thread();
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
