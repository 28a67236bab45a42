//! Data-parallel training of the digits MLP with the optimizer state sharded across ranks
//! (ZeRO stage 1): every rank computes the gradient of its part of each batch, the gradients are
//! all-reduced, and each rank keeps and updates the state of only its share of the tensors.
//!
//! ```text
//! cargo run --example data_parallel                      # 2 ranks as threads of one process
//! cargo run --example data_parallel -- --threads 3 --optimizer lamb
//! cargo build --example data_parallel --features mpi     # on MPI: one process per rank
//! mpiexec -n 3 target/debug/examples/data_parallel
//! cargo run --release --example data_parallel -- --simulate 64   # 64 ranks, a larger model
//! ```
//!
//! Options: `--threads N` (ranks as threads; the default without the `mpi` feature, with
//! `N = 2`), `--optimizer NAME` (any optimizer of the registry that takes tensors of any rank,
//! at its defaults; default `adamw`), `--steps N` (default 300), `--batch N` (the global batch,
//! split across the ranks; default 64), `--seed N` (default 42), `--fast` (60 steps, for CI).
//! Built with the `mpi` feature and without `--threads`, the ranks are the processes of the MPI
//! job (one process alone is a world of one). `--simulate N` runs `N` thread ranks on a
//! synthetic transformer-shaped model instead (below).
//!
//! # What it does
//!
//! * The model, the data and the loss are `train_mlp`'s (`examples/common/mlp.rs`): the UCI
//!   digits, a `64 → 128 → 64 → 10` ReLU network, softmax cross-entropy; an optimizer with
//!   weight decay gets the model's parameter groups without decay on the biases.
//! * Every rank starts from the same model (the same seed) and draws the same global batches;
//!   rank `r` takes its rows of each batch and computes their gradient, scaled so that the
//!   gradients summed over the ranks are the gradient of the mean loss over the whole batch.
//! * `all_reduce_gradients(.., SumOrder::Ranks)` sums them in rank order on every rank, then
//!   `Sharded::step` updates the model: each rank steps the tensors it owns (PyTorch's
//!   size-balanced assignment) and broadcasts them to the others.
//! * Rank 0 also trains the same model in one process, with the plain optimizer on the sum of
//!   the same per-rank gradients, and checks at the end that every rank's parameters equal that
//!   run's bit for bit; it prints each rank's share of the optimizer state. The program exits
//!   with status 1 if the parameters differ.
//! * `--simulate N`: the sharded step alone (gradients given, as after the all-reduce) on a
//!   model shaped like a small transformer (an embedding, 8 blocks of attention and MLP weights
//!   with their biases and norms: 98 tensors), AdamW for 5 steps, on `N` ranks as threads
//!   against one process: the spread of the state over the ranks, and whether every rank ends
//!   with one process's bits.

#[path = "common/mlp.rs"]
mod mlp;

use std::sync::Arc;

use mlp::{Batches, Dataset, LAYERS, Mlp, Result, TEST_FRACTION, cross_entropy};
use ndarray::{ArrayView2, s};
use ndarray_optim::distributed::{
    Collective, Sharded, SumOrder, Threads, all_reduce_gradients, state_bytes,
};
use ndarray_optim::{Optimizer, OptimizerKind, ParamGroups, TensorList, TensorListMut};
use rand::SeedableRng;
use rand::rngs::StdRng;

struct Options {
    threads: Option<usize>,
    simulate: Option<usize>,
    kind: OptimizerKind,
    steps: usize,
    batch: usize,
    seed: u64,
}

fn options() -> Result<Options> {
    let mut opts = Options {
        threads: None,
        simulate: None,
        kind: OptimizerKind::AdamW,
        steps: 300,
        batch: 64,
        seed: 42,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| args.next().ok_or(format!("{arg} needs {what}"));
        match arg.as_str() {
            "--threads" => opts.threads = Some(value("a number")?.parse()?),
            "--simulate" => opts.simulate = Some(value("a number")?.parse()?),
            "--optimizer" => {
                let name = value("a name")?;
                opts.kind = *OptimizerKind::ALL
                    .iter()
                    .find(|k| k.name().eq_ignore_ascii_case(name.trim()))
                    .ok_or(format!("unknown optimizer `{name}`"))?;
            }
            "--steps" => opts.steps = value("a number")?.parse()?,
            "--batch" => opts.batch = value("a number")?.parse()?,
            "--seed" => opts.seed = value("a number")?.parse()?,
            "--fast" => opts.steps = 60,
            "-h" | "--help" => {
                println!(
                    "usage: data_parallel [--threads N] [--optimizer NAME] [--steps N] \
                     [--batch N] [--seed N] [--fast] [--simulate N]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}` (try --help)").into()),
        }
    }
    Ok(opts)
}

/// The gradient of rank `rank`'s rows of a batch of `batch` examples, scaled by
/// `rows / batch`: summed over the ranks, the gradient of the mean loss over the whole batch.
fn rank_gradient(model: &Mlp, images: ArrayView2<f32>, labels: &[usize], batch: usize) -> Mlp {
    let trace = model.forward(images);
    let (_, _, d_logits) = cross_entropy(&trace.logits, labels);
    let d_logits = d_logits * (labels.len() as f32 / batch as f32);
    model.backward(&trace, d_logits)
}

/// The rows of a batch of `batch` that rank `rank` of `world` takes.
fn rows(rank: usize, world: usize, batch: usize) -> std::ops::Range<usize> {
    rank * batch / world..(rank + 1) * batch / world
}

/// Every element's bits, hashed (FNV-1a): equal hashes for equal parameters, to compare the
/// ranks' models in one all-gather.
fn fingerprint(model: &Mlp) -> u64 {
    fingerprint_list(model)
}

/// Adds `other` to `sum`, tensor by tensor.
fn add(sum: &mut Mlp, other: &Mlp) {
    for index in 0..other.len() {
        if let (Some(s), Some(o)) = (sum.tensor_mut(index), other.tensor(index)) {
            let mut s = s.view_dyn_mut();
            s += &o.view_dyn();
        }
    }
}

/// One rank's training run; rank 0 also trains the single-process reference and reports.
/// Returns whether every rank's parameters equal the reference's.
fn train(comm: Arc<dyn Collective>, opts: &Options) -> Result<bool> {
    let (rank, world) = (comm.rank(), comm.world_size());
    if opts.batch < world {
        return Err(format!(
            "a batch of {} cannot be split across {world} ranks",
            opts.batch
        )
        .into());
    }
    let (train_set, test_set) = Dataset::digits()?.split(TEST_FRACTION, opts.seed);
    let new_model = || Mlp::new(&LAYERS, &mut StdRng::seed_from_u64(opts.seed + 1));
    let config = opts.kind.default_config();
    let mut model = new_model();
    // No weight decay on the biases (train_mlp's recipe): the model's groups, on every rank.
    let decays = config.weight_decay().is_some_and(|wd| wd > 0.0);
    let build = || -> std::result::Result<Box<dyn Optimizer<f32>>, ndarray_optim::Error> {
        let mut opt = config.clone().build::<f32>()?;
        if decays {
            opt.set_param_groups(Some(ParamGroups::no_decay_for_vectors(&new_model())))?;
        }
        Ok(opt)
    };
    let mut opt = Sharded::on(build()?, Arc::clone(&comm))?;
    // The single-process run, on rank 0 only.
    let mut reference = (rank == 0)
        .then(|| Ok::<_, ndarray_optim::Error>((new_model(), build()?)))
        .transpose()?;
    let mut batches = Batches::new(&train_set, opts.batch, opts.seed + 2);
    if rank == 0 {
        println!(
            "{} on the digits MLP {}, {} steps, batches of {} split across {world} ranks ({})",
            opts.kind.name(),
            LAYERS.map(|w| w.to_string()).join("-"),
            opts.steps,
            opts.batch,
            if opts.threads.is_some() {
                "threads of one process"
            } else {
                "MPI processes"
            },
        );
    }
    for _ in 0..opts.steps {
        let (images, labels) = batches.next_batch();
        let batch = labels.len();
        let mine = rows(rank, world, batch);
        let mut grads = rank_gradient(
            &model,
            images.slice(s![mine.clone(), ..]),
            &labels[mine],
            batch,
        );
        all_reduce_gradients(&*comm, &mut grads, SumOrder::Ranks)?;
        opt.step(&mut model, &grads)?;
        if let Some((ref_model, ref_opt)) = &mut reference {
            // What one process computes from the same per-rank gradients, added in rank order.
            let part = |r: usize| {
                let rows = rows(r, world, batch);
                rank_gradient(
                    ref_model,
                    images.slice(s![rows.clone(), ..]),
                    &labels[rows],
                    batch,
                )
            };
            let mut sum = part(0);
            for r in 1..world {
                add(&mut sum, &part(r));
            }
            ref_opt.step(ref_model, &sum)?;
        }
    }

    // Every rank's parameters and share of the state, gathered on every rank.
    let shard = opt.save_state();
    let mine = [
        fingerprint(&model),
        state_bytes(&shard) as u64,
        opt.owned().len() as u64,
    ];
    let mut all = vec![0u64; 3 * world];
    comm.all_gather_u64(&mine, &mut all)?;
    let Some((ref_model, ref_opt)) = &reference else {
        return Ok(true); // rank 0 reports
    };
    let expected = fingerprint(ref_model);
    let whole = state_bytes(&ref_opt.save_state());
    println!("\n| rank | tensors | optimizer state | share of one process's |");
    println!("|--:|--:|--:|--:|");
    let mut equal = true;
    for (r, row) in all.chunks_exact(3).enumerate() {
        equal &= row[0] == expected;
        println!(
            "| {r} | {} | {:.1} KiB | {:.1} % |",
            row[2],
            row[1] as f64 / 1024.0,
            100.0 * row[1] as f64 / whole as f64
        );
    }
    println!(
        "| one process | {} | {:.1} KiB | 100 % |",
        ref_model.len(),
        whole as f64 / 1024.0
    );
    let evaluation = model.evaluate(&test_set);
    println!(
        "\nTest accuracy {:.1} % (loss {:.4}). Every rank's parameters equal the single-process \
         run's, bit for bit: {}.",
        100.0 * evaluation.accuracy,
        evaluation.loss,
        if equal { "yes" } else { "NO" }
    );
    Ok(equal)
}

fn main() -> Result<()> {
    let opts = options()?;
    if let Some(world) = opts.simulate {
        if !simulate(world)? {
            std::process::exit(1);
        }
        return Ok(());
    }
    let equal = match opts.threads {
        Some(n) => run_threads(n, &opts)?,
        None if cfg!(feature = "mpi") => run_mpi(&opts)?,
        None => run_threads(2, &opts)?,
    };
    if !equal {
        std::process::exit(1);
    }
    Ok(())
}

fn run_threads(n: usize, opts: &Options) -> Result<bool> {
    let opts = Options {
        threads: Some(n),
        ..*opts
    };
    let ranks = Threads::run(n, |comm| {
        train(Arc::new(comm), &opts).map_err(|e| e.to_string())
    })?;
    let mut equal = true;
    for rank in ranks {
        equal &= rank?;
    }
    Ok(equal)
}

#[cfg(feature = "mpi")]
fn run_mpi(opts: &Options) -> Result<bool> {
    use ndarray_optim::distributed::{Mpi, rsmpi};
    let universe = rsmpi::initialize().ok_or("MPI was initialised already")?;
    train(Arc::new(Mpi::world(&universe)), opts)
}

#[cfg(not(feature = "mpi"))]
fn run_mpi(_: &Options) -> Result<bool> {
    Err("built without the `mpi` feature: use --threads N".into())
}

/// The shapes of a small transformer: an embedding and 8 blocks of (attention in and out, MLP
/// up and down, their biases, two norms' weights and biases), then a final norm.
fn transformer_shapes() -> Vec<Vec<usize>> {
    let (d, vocab, blocks) = (64, 1000, 8);
    let mut shapes = vec![vec![vocab, d]];
    for _ in 0..blocks {
        shapes.extend([
            vec![d],
            vec![d],
            vec![d, 3 * d],
            vec![3 * d],
            vec![d, d],
            vec![d],
            vec![d],
            vec![d],
            vec![d, 4 * d],
            vec![4 * d],
            vec![4 * d, d],
            vec![d],
        ]);
    }
    shapes.push(vec![d]);
    shapes
}

/// `--simulate N`: the sharded AdamW step on the transformer's shapes, `N` thread ranks
/// against one process. Returns whether every rank ends with one process's bits.
fn simulate(world: usize) -> Result<bool> {
    use ndarray::{ArrayD, IxDyn};
    const STEPS: usize = 5;
    let shapes = transformer_shapes();
    let tensor = |shape: &[usize], f: &dyn Fn(usize) -> f32| {
        let n = shape.iter().product();
        ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(f).collect::<Vec<f32>>())
    };
    let start = shapes
        .iter()
        .enumerate()
        .map(|(t, shape)| tensor(shape, &|i| ((t * 31 + i * 7) as f32 * 0.37).sin() * 0.1))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let grads: Vec<Vec<ArrayD<f32>>> = (0..STEPS)
        .map(|k| {
            shapes
                .iter()
                .enumerate()
                .map(|(t, shape)| {
                    tensor(shape, &|i| ((t * 13 + i * 5 + k * 11) as f32 * 0.71).cos())
                })
                .collect::<std::result::Result<Vec<_>, _>>()
        })
        .collect::<std::result::Result<_, _>>()?;
    let make = || ndarray_optim::AdamW::<f32>::new(1e-3);
    let mut alone = start.clone();
    let mut one = make()?;
    for g in &grads {
        one.step(&mut alone, g)?;
    }
    let expected = {
        let model: &dyn TensorList<f32> = &alone;
        fingerprint_list(model)
    };
    let whole = state_bytes(&one.save_state());
    let ranks = Threads::run(world, |comm| {
        let mut params = start.clone();
        let mut opt =
            Sharded::new(make().map_err(|e| e.to_string())?, comm).map_err(|e| e.to_string())?;
        for g in &grads {
            opt.step(&mut params, g).map_err(|e| e.to_string())?;
        }
        Ok::<_, String>((
            fingerprint_list(&params),
            state_bytes(&opt.save_state()),
            opt.owned().len(),
        ))
    })?;
    let ranks = ranks
        .into_iter()
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let equal = ranks.iter().all(|r| r.0 == expected);
    let mut bytes: Vec<usize> = ranks.iter().map(|r| r.1).collect();
    bytes.sort_unstable();
    let elements: usize = shapes.iter().map(|s| s.iter().product::<usize>()).sum();
    let kib = |b: usize| b as f64 / 1024.0;
    println!(
        "AdamW, {} tensors ({elements} parameters, the largest {}), {STEPS} steps, {world} ranks \
         as threads",
        shapes.len(),
        shapes
            .iter()
            .map(|s| s.iter().product::<usize>())
            .max()
            .unwrap_or(0)
    );
    println!(
        "state: one process {:.1} KiB; per rank min {:.1}, median {:.1}, max {:.1} KiB \
         (ideal 1/{world}: {:.1} KiB); ranks without tensors: {}",
        kib(whole),
        kib(bytes[0]),
        kib(bytes[bytes.len() / 2]),
        kib(bytes[bytes.len() - 1]),
        kib(whole) / world as f64,
        ranks.iter().filter(|r| r.2 == 0).count()
    );
    println!(
        "every rank's parameters equal one process's, bit for bit: {}",
        if equal { "yes" } else { "NO" }
    );
    Ok(equal)
}

/// [`fingerprint`] of any list of tensors.
fn fingerprint_list(list: &dyn TensorList<f32>) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for index in 0..list.len() {
        for &x in list.tensor(index).map(|t| t.view_dyn()).iter().flatten() {
            for byte in x.to_bits().to_le_bytes() {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    }
    hash
}
