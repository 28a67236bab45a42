//! The distributed step on MPI (the `mpi` feature), run under the MPI launcher:
//! `mpiexec -n 3 target/debug/deps/mpi-…` (`.ci/run` runs it with 2 and 3 ranks; alone, it is
//! a world of one). Every registered optimizer sharded over the job's ranks gives one process's
//! bits over 20 steps, as do LAMB with clipping and accumulation and training resumed from a
//! split checkpoint; the gradient all-reduce in rank order is one process's sum; a rank with bad
//! input makes every rank refuse without a deadlock. A failed check panics, which ends the job
//! with a non-zero status.

#[path = "../common/registry.rs"]
#[allow(dead_code)] // the property-test strategies are not used here
mod registry;
#[path = "../common/sharded.rs"]
mod sharded;

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use ndarray_optim::distributed::{
    Collective, Mpi, Sharded, SumOrder, all_reduce_gradients, rsmpi, split, state_bytes,
};
use ndarray_optim::{Error, Float, Lamb, MultiStepsConfig, Optimizer};
use registry::specs;
use sharded::{MATRICES, SHAPES, STEPS, bits, gradient, start};

/// `make()` stepped `STEPS` times alone, and sharded over `comm`: the same bits on this rank.
fn check<A: Float>(
    comm: &Arc<dyn Collective>,
    what: &str,
    make: &dyn Fn() -> Box<dyn Optimizer<A>>,
    shapes: &[&[usize]],
) {
    let mut alone = start::<A>(shapes);
    let mut one = make();
    let mut params = start::<A>(shapes);
    let mut sharded = Sharded::on(make(), Arc::clone(comm)).unwrap();
    for k in 0..STEPS {
        let grads = gradient::<A>(shapes, k);
        one.step(&mut alone, &grads).unwrap();
        sharded.step(&mut params, &grads).unwrap();
    }
    assert_eq!(
        bits(&params),
        bits(&alone),
        "{what}: rank {} of {} differs from one process",
        comm.rank(),
        comm.world_size()
    );
}

fn main() {
    let universe = rsmpi::initialize().expect("MPI initialises once");
    let mpi = Mpi::world(&universe);
    let (rank, world) = (mpi.rank(), mpi.world_size());
    if rank == 0 {
        println!(
            "{world} ranks on {}",
            mpi.library_version().lines().next().unwrap_or("")
        );
    }
    let comm: Arc<dyn Collective> = Arc::new(mpi);

    let mut cases = 0;
    for spec in specs() {
        let shapes = if spec.matrices_only { MATRICES } else { SHAPES };
        // Every option in f32; f64 for the first (oversubscribed ranks are slow to wait).
        for (v, config) in spec.variants.into_iter().enumerate() {
            let what = format!("{config:?}");
            check::<f32>(&comm, &what, &|| config.clone().build().unwrap(), shapes);
            cases += 1;
            if v == 0 {
                check::<f64>(&comm, &what, &|| config.clone().build().unwrap(), shapes);
                cases += 1;
            }
        }
    }
    for (norm_type, every_k) in [(2.0, 1), (2.0, 3), (f64::INFINITY, 2)] {
        let make = move || -> Box<dyn Optimizer<f32>> {
            Box::new(
                MultiStepsConfig::default()
                    .every_k(every_k)
                    .max_grad_norm(Some(1.5))
                    .norm_type(norm_type)
                    .build(Lamb::new(0.01).unwrap())
                    .unwrap(),
            )
        };
        check(&comm, "LAMB, clipped, accumulated", &make, SHAPES);
        cases += 1;
    }

    // The gradient all-reduce in rank order: one process's sum of the parts, in rank order.
    let mut grads = gradient::<f32>(SHAPES, 100 + rank);
    all_reduce_gradients(&*comm, &mut grads, SumOrder::Ranks).unwrap();
    let mut sum = gradient::<f32>(SHAPES, 100);
    for r in 1..world {
        let part = gradient::<f32>(SHAPES, 100 + r);
        sum.iter_mut().zip(&part).for_each(|(s, p)| *s += p);
    }
    assert_eq!(bits(&grads), bits(&sum), "the ordered all-reduce");
    // MPI's own SUM: the same up to the rounding of its order of additions.
    let mut engine = gradient::<f64>(SHAPES, 100 + rank);
    all_reduce_gradients(&*comm, &mut engine, SumOrder::Engine).unwrap();
    for (e, s) in engine.iter().zip(&sum) {
        for (&e, &s) in e.iter().zip(s) {
            assert!(
                (e - f64::from(s)).abs() <= 1e-5 * (1.0 + e.abs()),
                "{e} vs {s}"
            );
        }
    }

    // Resuming from one process's state split for this world: one process's bits.
    let make = || {
        MultiStepsConfig::default()
            .every_k(2)
            .build(Lamb::new(0.01).unwrap())
            .unwrap()
    };
    let mut alone = start::<f64>(SHAPES);
    let mut one = make();
    for k in 0..7 {
        one.step(&mut alone, &gradient(SHAPES, k)).unwrap();
    }
    let shards = split(one.save_state(), world).unwrap();
    let mut params = alone.clone();
    let mut sharded = Sharded::on(make(), Arc::clone(&comm)).unwrap();
    sharded.load_state(shards[rank].clone()).unwrap();
    for k in 7..STEPS {
        one.step(&mut alone, &gradient(SHAPES, k)).unwrap();
        sharded.step(&mut params, &gradient(SHAPES, k)).unwrap();
    }
    assert_eq!(bits(&params), bits(&alone), "resumed from a split state");
    let bytes = state_bytes(&sharded.save_state());
    let total = state_bytes(&one.save_state());
    println!("rank {rank}: {bytes} of {total} state bytes");

    // A rank with a gradient of the wrong shape: every rank refuses, nothing changes.
    let before = bits(&params);
    let mut grads = gradient::<f64>(SHAPES, 0);
    if rank == world - 1 {
        grads[2] = ArrayD::zeros(IxDyn(&[3, 3]));
    }
    let result = sharded.step(&mut params, &grads);
    match result {
        Err(Error::ShapeMismatch { index: 2, .. }) if rank == world - 1 => {}
        Err(Error::RankFailed { rank: r, .. }) if r == world - 1 && rank != r => {}
        other => panic!("rank {rank}: {other:?}"),
    }
    assert_eq!(bits(&params), before);

    println!("rank {rank}: {cases} optimizers sharded over {world} ranks, one process's bits");
}
