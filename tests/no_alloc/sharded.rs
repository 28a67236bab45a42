//! A sharded step allocates nothing after the first two (which make the state of this rank's
//! tensors and grow the communication buffers to their sizes), on every rank of the threads
//! backend, with LAMB and accumulation with clipping, once the undo copy is turned off (it is
//! a saved copy of the shard, made anew at each step).

use super::allocations;

use ndarray::{Array1, Array2, Array3, ShapeBuilder};
use ndarray_optim::distributed::{Sharded, Threads};
use ndarray_optim::{Float, Lamb, MultiStepsConfig, Optimizer};

type Model<A> = (Array2<A>, Array1<A>, Array3<A>, Array2<A>);

fn model<A: Float>(scale: f64) -> Model<A> {
    let v = |i: usize| A::from_f64(((i as f64) * 0.37).sin() * scale);
    (
        Array2::from_shape_fn((16, 9), |(i, j)| v(i * 9 + j)),
        Array1::from_shape_fn(9, v),
        Array3::from_shape_fn((2, 3, 4).f(), |(i, j, k)| v(i * 12 + j * 4 + k)),
        Array2::from_shape_fn((3, 5).f(), |(i, j)| v(i * 5 + j)),
    )
}

/// Allocations of each of four steps after two, on every rank.
fn counts<A: Float>(world: usize, undo: bool) -> Vec<Vec<usize>> {
    Threads::run(world, |comm| {
        let (mut w, mut b, mut c, mut f) = model::<A>(1.0);
        let (gw, gb, gc, gf) = model::<A>(0.1);
        let inner = MultiStepsConfig::default()
            .every_k(2)
            .max_grad_norm(Some(1.0))
            .build(Lamb::new(0.01).unwrap())
            .unwrap();
        let mut opt = Sharded::new(inner, comm).unwrap();
        opt.undo_failed_exchanges(undo);
        let grads = (&gw, &gb, &gc, &gf);
        for _ in 0..2 {
            opt.step(&mut (&mut w, &mut b, &mut c, &mut f), &grads)
                .unwrap();
        }
        (0..4)
            .map(|_| {
                allocations(|| {
                    opt.step(&mut (&mut w, &mut b, &mut c, &mut f), &grads)
                        .unwrap();
                })
            })
            .collect()
    })
    .unwrap()
}

fn sharded<A: Float>() {
    for world in [1, 2, 3, 5] {
        for (rank, counts) in counts::<A>(world, false).iter().enumerate() {
            assert_eq!(counts, &[0; 4], "rank {rank} of {world} allocated");
        }
    }
    // The undo copy is what allocates (the counter sees every rank's thread).
    for counts in counts::<A>(2, true) {
        assert!(counts.iter().all(|&n| n > 0), "{counts:?}");
    }
}

#[test]
fn sharded_steps_allocate_nothing_after_the_first() {
    sharded::<f32>();
    sharded::<f64>();
}
