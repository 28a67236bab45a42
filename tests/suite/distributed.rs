//! Data-parallel training on the threads backend: a sharded step gives one process's bits for
//! every optimizer and world size (1, 2, 3, 4, 7 and a simulated 64), with LAMB, clipping and
//! accumulation; state per rank is about `1/N`; bad input, disagreeing ranks and collectives
//! failing at any point of a step are typed errors on every rank that change nothing and never
//! deadlock; shards consolidate and split for another world size.

use std::time::Duration;

use crate::common::registry::specs;
use crate::common::sharded::{MATRICES, SHAPES, STEPS, bits, gradient, start};
use ndarray::{ArrayD, IxDyn};
use ndarray_optim::distributed::Sharded;
use ndarray_optim::distributed::{
    Collective, SumOrder, Threads, all_reduce_gradients, consolidate, partition, split, state_bytes,
};
use ndarray_optim::{
    Adam, Error, Float, Lamb, LambConfig, MultiStepsConfig, NonFinitePolicy, Optimizer,
    OptimizerState, ParamGroup, ParamGroups, Sgd, StepOutcome,
};

/// The world sizes every equivalence test runs at.
const WORLDS: [usize; 5] = [1, 2, 3, 4, 7];

/// `steps` steps of `make()` in one process.
fn alone<A: Float>(
    make: &(dyn Fn() -> Box<dyn Optimizer<A>> + Sync),
    shapes: &[&[usize]],
    steps: usize,
) -> (Vec<ArrayD<A>>, OptimizerState<A>) {
    let mut params = start::<A>(shapes);
    let mut opt = make();
    for k in 0..steps {
        opt.step(&mut params, &gradient::<A>(shapes, k)).unwrap();
    }
    (params, opt.save_state())
}

/// `steps` steps of `make()` sharded over `world` thread ranks: every rank's parameters and
/// shard.
fn sharded<A: Float>(
    make: &(dyn Fn() -> Box<dyn Optimizer<A>> + Sync),
    shapes: &[&[usize]],
    steps: usize,
    world: usize,
) -> Vec<(Vec<ArrayD<A>>, OptimizerState<A>)> {
    Threads::run(world, |comm| {
        let mut params = start::<A>(shapes);
        let mut opt = Sharded::new(make(), comm).unwrap();
        for k in 0..steps {
            opt.step(&mut params, &gradient::<A>(shapes, k)).unwrap();
        }
        (params, opt.save_state())
    })
    .unwrap()
}

/// Sharded runs at every world size equal the run in one process, bit for bit, on every rank;
/// their shards consolidate into its state.
fn equals_one_process<A: Float>(
    what: &str,
    make: &(dyn Fn() -> Box<dyn Optimizer<A>> + Sync),
    shapes: &[&[usize]],
) {
    let (expected, state) = alone(make, shapes, STEPS);
    for world in WORLDS {
        let ranks = sharded(make, shapes, STEPS, world);
        for (rank, (params, _)) in ranks.iter().enumerate() {
            assert_eq!(
                bits(params),
                bits(&expected),
                "{what}: rank {rank} of {world} differs from one process"
            );
        }
        let whole = consolidate(ranks.into_iter().map(|(_, s)| s).collect()).unwrap();
        assert_eq!(whole, state, "{what}: consolidated shards of {world} ranks");
    }
}

#[test]
fn every_optimizer_sharded_equals_one_process() {
    for spec in specs() {
        let shapes = if spec.matrices_only { MATRICES } else { SHAPES };
        for config in spec.variants {
            let what = format!("{config:?}");
            equals_one_process::<f32>(&what, &|| config.clone().build().unwrap(), shapes);
        }
    }
}

#[test]
fn f64_lamb_and_adam_sharded_equal_one_process() {
    equals_one_process::<f64>("Lamb f64", &|| Box::new(Lamb::new(0.01).unwrap()), SHAPES);
    equals_one_process::<f64>("Adam f64", &|| Box::new(Adam::new(0.01).unwrap()), SHAPES);
}

/// The wrappers of the crate around a sharded optimizer's inner step: Lookahead's slow
/// weights and MultiSteps' windows are those of this rank's tensors.
#[test]
fn wrappers_sharded_equal_one_process() {
    use ndarray_optim::LookaheadConfig;
    equals_one_process::<f32>(
        "Lookahead(Adam)",
        &|| {
            let inner = Adam::new(0.01).unwrap();
            Box::new(LookaheadConfig::default().k(3).build(inner).unwrap())
        },
        SHAPES,
    );
    equals_one_process::<f32>(
        "Lookahead(MultiSteps(Lamb))",
        &|| {
            let lamb = Lamb::new(0.01).unwrap();
            let inner = MultiStepsConfig::default().every_k(2).build(lamb).unwrap();
            Box::new(LookaheadConfig::default().k(2).build(inner).unwrap())
        },
        SHAPES,
    );
}

/// 16-bit parameters: broadcast exactly, and stochastic rounding keyed by each tensor's
/// position in the model, so that every rank draws one process's bits; master weights too.
#[test]
fn sixteen_bit_parameters_with_stochastic_rounding_sharded_equal_one_process() {
    use half::bf16;
    use ndarray_optim::MasterWeights;
    equals_one_process::<bf16>(
        "Adam bf16, stochastic rounding",
        &|| {
            let mut opt = Adam::<bf16>::new(0.01).unwrap();
            opt.set_stochastic_rounding(Some(7)).unwrap();
            Box::new(opt)
        },
        SHAPES,
    );
    equals_one_process::<bf16>(
        "MasterWeights(Adam) bf16, stochastic rounding",
        &|| {
            let mut opt = MasterWeights::<bf16, _>::new(Adam::<f32>::new(0.01).unwrap());
            opt.set_stochastic_rounding(Some(7)).unwrap();
            Box::new(opt)
        },
        SHAPES,
    );
}

/// Every optimizer of the registry, every variant, with `bf16` parameters and stochastic
/// rounding (Adafactor's factored rows and SparseAdam's rows included): one process's bits.
#[test]
fn every_optimizer_bf16_with_stochastic_rounding_sharded_equals_one_process() {
    use half::bf16;
    for spec in specs() {
        let shapes = if spec.matrices_only { MATRICES } else { SHAPES };
        for config in spec.variants {
            let what = format!("{config:?}, bf16, stochastic rounding");
            equals_one_process::<bf16>(
                &what,
                &|| {
                    let mut opt = config.clone().build::<bf16>().unwrap();
                    opt.set_stochastic_rounding(Some(7)).unwrap();
                    opt
                },
                shapes,
            );
        }
    }
}

/// LAMB's global gradient norm and trust ratios, clipping of the accumulated gradient across
/// ranks (2-norm and ∞-norm), value clipping and accumulation: one process's bits.
#[test]
fn lamb_with_clipping_and_accumulation_equals_one_process() {
    for (norm_type, every_k) in [(2.0, 1), (2.0, 3), (f64::INFINITY, 2), (1.0, 4)] {
        let make = move || -> Box<dyn Optimizer<f32>> {
            let lamb = LambConfig::default()
                .lr(0.01)
                .weight_decay(0.01)
                .build::<f32>()
                .unwrap();
            Box::new(
                MultiStepsConfig::default()
                    .every_k(every_k)
                    .max_grad_norm(Some(1.5))
                    .norm_type(norm_type)
                    .build(lamb)
                    .unwrap(),
            )
        };
        equals_one_process::<f32>(
            &format!("LAMB, norm {norm_type}, k {every_k}"),
            &make,
            SHAPES,
        );
    }
    let make = || -> Box<dyn Optimizer<f64>> {
        Box::new(
            MultiStepsConfig::default()
                .every_k(2)
                .clip_value(Some(0.8))
                .max_grad_norm(Some(2.0))
                .build(Adam::new(0.02).unwrap())
                .unwrap(),
        )
    };
    equals_one_process::<f64>("Adam, value and norm clipping", &make, SHAPES);
}

#[test]
fn the_partition_is_pytorchs_greedy_rule() {
    // Largest first to the lightest rank, ties to the lower rank and in list order.
    assert_eq!(partition(&[4, 10, 6, 5], 2), [0, 0, 1, 1]);
    assert_eq!(partition(&[5, 5, 5, 5], 3), [0, 1, 2, 0]);
    assert_eq!(partition(&[1, 1], 5), [0, 1]);
    assert_eq!(partition(&[], 3), Vec::<usize>::new());
    assert_eq!(partition(&[3], 1), [0]);
}

/// The state per rank is about `1/N` of one process's, by its byte count: every shard holds
/// its own tensors' buffers, the shards together hold exactly one process's, and no rank more
/// than its share plus one tensor.
#[test]
fn state_per_rank_is_a_share_of_one_process() {
    let shapes: Vec<Vec<usize>> = (0..24).map(|i| vec![10 + (i * 7) % 23, 3]).collect();
    let shapes: Vec<&[usize]> = shapes.iter().map(Vec::as_slice).collect();
    let make = || -> Box<dyn Optimizer<f32>> { Box::new(Adam::new(0.01).unwrap()) };
    let (_, whole) = alone(&make, &shapes, 2);
    let total = state_bytes(&whole);
    let largest = shapes
        .iter()
        .map(|s| s.iter().product::<usize>())
        .max()
        .unwrap()
        * 2
        * 4;
    for world in [2, 3, 4, 7] {
        let ranks = sharded(&make, &shapes, 2, world);
        let per_rank: Vec<usize> = ranks.iter().map(|(_, s)| state_bytes(s)).collect();
        assert_eq!(per_rank.iter().sum::<usize>(), total, "{world} ranks");
        for &bytes in &per_rank {
            assert!(
                bytes <= total / world + largest,
                "{world} ranks: {bytes} bytes on a rank, {total} in all"
            );
            assert!(
                bytes >= total / world - largest,
                "{world} ranks: {per_rank:?}"
            );
        }
    }
}

/// 64 ranks simulated as threads: the bits of one process, and each rank's share of the state.
#[test]
fn sixty_four_ranks_simulated() {
    let shapes: Vec<Vec<usize>> = (0..96).map(|i| vec![4 + i % 9, 1 + i % 3]).collect();
    let shapes: Vec<&[usize]> = shapes.iter().map(Vec::as_slice).collect();
    let make = || -> Box<dyn Optimizer<f32>> { Box::new(Lamb::new(0.01).unwrap()) };
    let (expected, whole) = alone(&make, &shapes, 3);
    let ranks = sharded(&make, &shapes, 3, 64);
    let total = state_bytes(&whole);
    for (params, shard) in &ranks {
        assert_eq!(bits(params), bits(&expected));
        assert!(state_bytes(shard) <= total / 64 + 2 * 4 * 30);
    }
}

/// The data-parallel loop: each rank's gradient of its part of the batch, summed in rank order
/// (the same bits on every rank and every engine), then the sharded step.
#[test]
fn all_reduce_in_rank_order_then_step() {
    for world in [1, 2, 3] {
        let parts: Vec<Vec<ArrayD<f32>>> = (0..world).map(|r| gradient(SHAPES, r + 5)).collect();
        let mut sum = parts[0].clone();
        for part in &parts[1..] {
            sum.iter_mut().zip(part).for_each(|(s, p)| *s += p);
        }
        let mut expected = start::<f32>(SHAPES);
        Adam::new(0.1).unwrap().step(&mut expected, &sum).unwrap();
        let ranks = Threads::run(world, |comm| {
            let mut grads = parts[comm.rank()].clone();
            all_reduce_gradients(&comm, &mut grads, SumOrder::Ranks).unwrap();
            let reduced = bits(&grads);
            let mut params = start::<f32>(SHAPES);
            let mut opt = Sharded::new(Adam::new(0.1).unwrap(), comm).unwrap();
            opt.step(&mut params, &grads).unwrap();
            (reduced, params)
        })
        .unwrap();
        for (reduced, params) in ranks {
            assert_eq!(reduced, bits(&sum));
            assert_eq!(bits(&params), bits(&expected));
        }
    }
}

#[test]
fn all_reduce_of_disagreeing_lists_is_an_error_on_every_rank() {
    let ranks = Threads::run(3, |comm| {
        let shapes: &[&[usize]] = if comm.rank() == 2 {
            &SHAPES[..4]
        } else {
            SHAPES
        };
        let mut grads = gradient::<f64>(shapes, 0);
        let before = grads.clone();
        let result = all_reduce_gradients(&comm, &mut grads, SumOrder::Engine);
        (result, grads == before)
    })
    .unwrap();
    for (result, unchanged) in ranks {
        assert_eq!(
            result,
            Err(Error::RankMismatch {
                rank: 2,
                what: "the tensor count"
            })
        );
        assert!(unchanged);
    }
}

/// Runs `f` on `world` ranks with a timeout, so that a deadlock fails the test instead of
/// hanging it.
fn run_guarded<T: Send>(world: usize, f: impl Fn(Threads) -> T + Sync) -> Vec<T> {
    let group = Threads::group_with_timeout(world, Duration::from_secs(60)).unwrap();
    std::thread::scope(|scope| {
        let handles: Vec<_> = group
            .into_iter()
            .map(|comm| {
                let f = &f;
                scope.spawn(move || f(comm))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// What a test does to one rank's parameters and gradients.
type Spoil = fn(&mut Vec<ArrayD<f32>>, &mut Vec<ArrayD<f32>>);

/// What a rank saw of one bad step: its result, and whether its parameters and state are as
/// they were.
type Seen = (Result<(), Error>, bool);

/// Two good steps, then a step where rank `bad`'s inputs are `spoil`ed; returns what each rank
/// saw, having checked that a good step afterwards still gives one process's bits.
fn bad_step(
    world: usize,
    bad: usize,
    spoil: impl Fn(&mut Vec<ArrayD<f32>>, &mut Vec<ArrayD<f32>>) + Sync,
) -> Vec<Seen> {
    let make = || -> Box<dyn Optimizer<f32>> { Box::new(Lamb::new(0.01).unwrap()) };
    let (expected, _) = alone(&make, SHAPES, 3);
    run_guarded(world, |comm| {
        let rank = comm.rank();
        let mut params = start::<f32>(SHAPES);
        let mut opt = Sharded::new(make(), comm).unwrap();
        for k in 0..2 {
            opt.step(&mut params, &gradient::<f32>(SHAPES, k)).unwrap();
        }
        let (before, state) = (params.clone(), opt.save_state());
        let mut grads = gradient::<f32>(SHAPES, 2);
        let (result, same_params) = if rank == bad {
            let (mut p, mut g) = (params.clone(), grads.clone());
            spoil(&mut p, &mut g);
            let spoiled = bits(&p);
            let result = opt.step(&mut p, &g);
            (result, bits(&p) == spoiled)
        } else {
            let result = opt.step(&mut params, &grads);
            (result, bits(&params) == bits(&before))
        };
        let unchanged = same_params && opt.save_state() == state && opt.step_count() == 2;
        params = before;
        grads = gradient::<f32>(SHAPES, 2);
        opt.step(&mut params, &grads).unwrap();
        assert_eq!(
            bits(&params),
            bits(&expected),
            "rank {rank} after the bad step"
        );
        (result, unchanged)
    })
}

#[test]
fn a_rank_with_bad_input_makes_every_rank_refuse_and_nothing_changes() {
    for world in [2, 3, 7] {
        let bad = world - 1;
        // A gradient of the wrong shape: that rank names it in the model's positions.
        let seen = bad_step(world, bad, |_, g| g[4] = ArrayD::zeros(IxDyn(&[2, 7])));
        for (rank, (result, unchanged)) in seen.into_iter().enumerate() {
            assert!(unchanged, "{world} ranks: rank {rank} changed");
            let err = result.unwrap_err();
            if rank == bad {
                assert!(
                    matches!(err, Error::ShapeMismatch { index: 4, .. }),
                    "{err:?}"
                );
            } else {
                assert!(
                    matches!(err, Error::RankFailed { rank: r, .. } if r == bad),
                    "{err:?}"
                );
            }
        }
    }
}

#[test]
fn ranks_that_disagree_on_the_list_all_get_the_same_error() {
    let cases: [(&str, Spoil); 3] = [
        ("the tensor count", |p, g| {
            p.pop();
            g.pop();
        }),
        ("the tensor shapes", |p, g| {
            p[1] = ArrayD::zeros(IxDyn(&[1, 5]));
            g[1] = ArrayD::zeros(IxDyn(&[1, 5]));
        }),
        ("the tensor count", |p, g| {
            p.push(ArrayD::zeros(IxDyn(&[2])));
            g.push(ArrayD::zeros(IxDyn(&[2])));
        }),
    ];
    for (what, spoil) in cases {
        for world in [2, 4] {
            let seen = bad_step(world, 1, spoil);
            for (result, unchanged) in seen {
                assert!(unchanged);
                assert_eq!(result, Err(Error::RankMismatch { rank: 1, what }));
            }
        }
    }
}

/// A non-finite gradient on any rank: the error (or the skip) one process would report, on
/// every rank, naming the tensor in the model.
#[test]
fn non_finite_gradients_are_found_across_ranks() {
    for policy in [NonFinitePolicy::Error, NonFinitePolicy::SkipStep] {
        for tensor in [0, 2, 4] {
            let mut grads = gradient::<f32>(SHAPES, 0);
            grads[tensor].as_slice_mut().unwrap()[1] = f32::NAN;
            let mut params = start::<f32>(SHAPES);
            let mut one = Lamb::new(0.01).unwrap();
            one.set_non_finite_policy(policy);
            let expected = one.step(&mut params, &grads);
            let outcome = one.last_step().clone();
            for world in [2, 3, 7] {
                let ranks = run_guarded(world, |comm| {
                    let mut params = start::<f32>(SHAPES);
                    let mut opt = Sharded::new(Lamb::new(0.01).unwrap(), comm).unwrap();
                    opt.set_non_finite_policy(policy);
                    let result = opt.step(&mut params, &grads);
                    (
                        result,
                        opt.last_step().clone(),
                        bits(&params) == bits(&start::<f32>(SHAPES)),
                    )
                });
                for (result, last, unchanged) in ranks {
                    // (Debug: the errors hold a NaN, which `==` never equals.)
                    assert_eq!(format!("{result:?}"), format!("{expected:?}"));
                    assert!(unchanged);
                    if policy == NonFinitePolicy::SkipStep {
                        assert_eq!(format!("{last:?}"), format!("{outcome:?}"));
                        assert!(
                            matches!(last, StepOutcome::Skipped { index, .. } if index == tensor)
                        );
                    }
                }
            }
        }
    }
}

/// A collective failing at each point of a step in turn (the agreement, every round, every
/// broadcast of an updated tensor): every rank returns the error, every rank's parameters and
/// shard are as before, and the next step gives one process's bits.
#[test]
fn a_collective_failing_anywhere_in_a_step_changes_nothing() {
    let make = || -> Box<dyn Optimizer<f32>> {
        Box::new(
            MultiStepsConfig::default()
                .max_grad_norm(Some(1.0))
                .build(Lamb::new(0.01).unwrap())
                .unwrap(),
        )
    };
    let (expected, _) = alone(&make, SHAPES, 3);
    for world in [2, 3] {
        let mut failures = 0;
        for skip in 0.. {
            let seen = run_guarded(world, |comm| {
                let rank = comm.rank();
                let comm = std::sync::Arc::new(comm);
                let mut params = start::<f32>(SHAPES);
                let mut opt = Sharded::on(make(), comm.clone()).unwrap();
                for k in 0..2 {
                    opt.step(&mut params, &gradient::<f32>(SHAPES, k)).unwrap();
                }
                let (before, state) = (params.clone(), opt.save_state());
                if rank == world - 1 {
                    comm.fail_later(skip, "a test");
                }
                let result = opt.step(&mut params, &gradient::<f32>(SHAPES, 2));
                if result.is_err() {
                    assert_eq!(bits(&params), bits(&before), "rank {rank}, skip {skip}");
                    assert_eq!(opt.save_state(), state, "rank {rank}, skip {skip}");
                    opt.step(&mut params, &gradient::<f32>(SHAPES, 2)).unwrap();
                }
                assert_eq!(bits(&params), bits(&expected), "rank {rank}, skip {skip}");
                result
            });
            if seen.iter().all(Result::is_ok) {
                break; // past the step's last collective
            }
            failures += 1;
            for result in seen {
                assert!(
                    matches!(&result, Err(Error::Collective { reason, .. }) if reason == "a test"),
                    "{result:?}"
                );
            }
        }
        // The agreement, the inner rounds (checks, the norm's terms) and five broadcasts.
        assert!(failures >= 8, "{world} ranks: {failures} collectives");
    }
}

/// Shards saved on 3 ranks consolidate into one process's state, which splits for 2 ranks:
/// training resumes there with one process's bits, also mid-window of an accumulation.
/// Shards of 3 ranks consolidate into one process's state, which splits for other world sizes
/// whose runs resume with one process's bits.
fn resumes_on_other_world_sizes<A: Float>(
    what: &str,
    make: &(dyn Fn() -> Box<dyn Optimizer<A>> + Sync),
) {
    for first in [7, 9] {
        let (expected, _) = alone(make, SHAPES, 15);
        let (midway, state) = alone(make, SHAPES, first);
        let ranks = sharded(make, SHAPES, first, 3);
        let whole = consolidate(ranks.into_iter().map(|(_, s)| s).collect()).unwrap();
        assert_eq!(whole, state, "{what}");
        for world in [1, 2, 4, 7] {
            let shards = split(whole.clone(), world).unwrap();
            assert_eq!(shards.len(), world);
            let resumed = run_guarded(world, |comm| {
                let mut params = midway.clone();
                let mut opt = Sharded::new(make(), comm).unwrap();
                opt.load_state(shards[opt.rank()].clone()).unwrap();
                for k in first..15 {
                    opt.step(&mut params, &gradient::<A>(SHAPES, k)).unwrap();
                }
                params
            });
            for params in resumed {
                assert_eq!(
                    bits(&params),
                    bits(&expected),
                    "{what}: {first} steps then {world} ranks"
                );
            }
        }
    }
}

#[test]
fn shards_consolidate_and_split_for_another_world_size() {
    resumes_on_other_world_sizes::<f64>("MultiSteps(Lamb) f64", &|| {
        Box::new(
            MultiStepsConfig::default()
                .every_k(3)
                .max_grad_norm(Some(1.0))
                .build(Lamb::new(0.01).unwrap())
                .unwrap(),
        )
    });
    resumes_on_other_world_sizes::<f32>("Lookahead(Adam)", &|| {
        let inner = Adam::new(0.01).unwrap();
        Box::new(
            ndarray_optim::LookaheadConfig::default()
                .k(4)
                .build(inner)
                .unwrap(),
        )
    });
    resumes_on_other_world_sizes::<half::bf16>("MasterWeights(Adam) bf16", &|| {
        let inner = Adam::<f32>::new(0.01).unwrap();
        let mut opt = ndarray_optim::MasterWeights::<half::bf16, _>::new(inner);
        opt.set_stochastic_rounding(Some(3)).unwrap();
        Box::new(opt)
    });
}

#[test]
fn a_shard_of_another_world_or_rank_is_refused() {
    let make = || -> Box<dyn Optimizer<f32>> { Box::new(Adam::new(0.01).unwrap()) };
    let shards: Vec<_> = sharded(&make, SHAPES, 2, 3)
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    let (_, whole) = alone(&make, SHAPES, 2);
    let seen = run_guarded(2, |comm| {
        let mut opt = Sharded::new(make(), comm).unwrap();
        let other_world = opt.load_state(shards[opt.rank()].clone());
        let other_rank = opt.load_state(split(whole.clone(), 2).unwrap()[1 - opt.rank()].clone());
        let not_a_shard = opt.load_state(whole.clone());
        (other_world, other_rank, not_a_shard, opt.step_count())
    });
    for (rank, (other_world, other_rank, not_a_shard, steps)) in seen.into_iter().enumerate() {
        assert_eq!(
            other_world,
            Err(Error::ShardMismatch {
                what: "world size",
                saved: 3,
                expected: 2
            })
        );
        assert_eq!(
            other_rank,
            Err(Error::ShardMismatch {
                what: "rank",
                saved: 1 - rank as u64,
                expected: rank as u64
            })
        );
        assert!(matches!(
            not_a_shard,
            Err(Error::ShardMismatch {
                saved: 0,
                expected: 1,
                ..
            })
        ));
        assert_eq!(steps, 0);
    }
    assert!(matches!(
        split(shards[0].clone(), 2),
        Err(Error::ShardMismatch { .. })
    ));
    assert!(matches!(
        split(whole.clone(), 0),
        Err(Error::InvalidRank { world_size: 0, .. })
    ));
    let mut two = shards.clone();
    two.pop();
    assert!(matches!(consolidate(two), Err(Error::InvalidState { .. })));
    assert!(matches!(
        consolidate(vec![whole]),
        Err(Error::ShardMismatch { .. })
    ));
}

#[test]
fn a_world_of_no_ranks_is_refused() {
    assert!(matches!(
        Threads::group(0),
        Err(Error::InvalidRank { world_size: 0, .. })
    ));
    assert!(matches!(
        Threads::run(0, |_| ()),
        Err(Error::InvalidRank { .. })
    ));
    let comm = Threads::group(1).unwrap().pop().unwrap();
    let mut opt = Sharded::new(Sgd::<f32>::new(0.1).unwrap(), comm).unwrap();
    assert!(matches!(
        opt.add_param_group(ParamGroup::default(), 1),
        Err(Error::Unsupported { .. })
    ));
    // An engine of one's own that reports no ranks, or a rank outside its world.
    for (rank, world_size) in [(0, 0), (3, 3)] {
        let engine = Reported { rank, world_size };
        assert_eq!(
            Sharded::new(Sgd::<f32>::new(0.1).unwrap(), engine).unwrap_err(),
            Error::InvalidRank { rank, world_size }
        );
    }
}

/// A collective that reports a rank and a world size and cannot communicate.
struct Reported {
    rank: usize,
    world_size: usize,
}

impl Collective for Reported {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world_size(&self) -> usize {
        self.world_size
    }
    fn all_gather_u64(&self, _: &[u64], _: &mut [u64]) -> Result<(), Error> {
        Err(Error::Collective {
            operation: "all_gather_u64",
            reason: "no engine".into(),
        })
    }
    fn all_gather_f64(&self, _: &[f64], _: &[usize], _: &mut [f64]) -> Result<(), Error> {
        Err(Error::Collective {
            operation: "all_gather_f64",
            reason: "no engine".into(),
        })
    }
    fn broadcast_u8(&self, _: &mut [u8], _: usize) -> Result<(), Error> {
        Err(Error::Collective {
            operation: "broadcast_u8",
            reason: "no engine".into(),
        })
    }
    fn broadcast_f32(&self, _: &mut [f32], _: usize) -> Result<(), Error> {
        Err(Error::Collective {
            operation: "broadcast_f32",
            reason: "no engine".into(),
        })
    }
    fn broadcast_f64(&self, _: &mut [f64], _: usize) -> Result<(), Error> {
        Err(Error::Collective {
            operation: "broadcast_f64",
            reason: "no engine".into(),
        })
    }
    fn all_reduce_sum_f32(&self, _: &mut [f32]) -> Result<(), Error> {
        Err(Error::Collective {
            operation: "all_reduce_sum_f32",
            reason: "no engine".into(),
        })
    }
    fn all_reduce_sum_f64(&self, _: &mut [f64]) -> Result<(), Error> {
        Err(Error::Collective {
            operation: "all_reduce_sum_f64",
            reason: "no engine".into(),
        })
    }
    fn all_reduce_sum_ordered_f32(&self, _: &mut [f32]) -> Result<(), Error> {
        Err(Error::Collective {
            operation: "ordered_f32",
            reason: "no engine".into(),
        })
    }
    fn all_reduce_sum_ordered_f64(&self, _: &mut [f64]) -> Result<(), Error> {
        Err(Error::Collective {
            operation: "ordered_f64",
            reason: "no engine".into(),
        })
    }
}

/// A collective that fails every call: every step returns its error and changes nothing.
#[test]
fn an_engine_that_fails_every_call_changes_nothing() {
    let mut params = start::<f32>(SHAPES);
    let mut opt = Sharded::new(
        Adam::new(0.1).unwrap(),
        Reported {
            rank: 0,
            world_size: 2,
        },
    )
    .unwrap();
    let result = opt.step(&mut params, &gradient::<f32>(SHAPES, 0));
    assert!(
        matches!(result, Err(Error::Collective { .. })),
        "{result:?}"
    );
    assert_eq!(bits(&params), bits(&start::<f32>(SHAPES)));
    assert_eq!(opt.step_count(), 0);
}

/// The model's parameter groups (no decay on vectors, a group at a tenth of the learning
/// rate), a schedule setting each group's learning rate, then a checkpoint consolidated and
/// resumed on another world size: one process's bits and state.
#[test]
fn parameter_groups_are_the_models() {
    let groups = || {
        let params = start::<f64>(SHAPES);
        let mut groups = ParamGroups::no_decay_for_vectors(&params);
        groups
            .set_group(1, ParamGroup::default().weight_decay(0.0).lr_scale(0.1))
            .unwrap();
        groups
    };
    let make = || -> Box<dyn Optimizer<f64>> {
        let mut opt = Box::new(
            MultiStepsConfig::default()
                .every_k(2)
                .max_grad_norm(Some(1.0))
                .build(Lamb::new(0.01).unwrap())
                .unwrap(),
        );
        opt.set_param_groups(Some(groups())).unwrap();
        opt
    };
    // A step-wise schedule on each group, applied to one process and to every rank.
    let schedule = |opt: &mut dyn Optimizer<f64>, k: usize| {
        for g in 0..opt.group_count() {
            let lr = opt.group_learning_rate(g).unwrap();
            opt.set_group_learning_rate(g, lr * (1.0 - 0.01 * k as f64))
                .unwrap();
        }
    };
    let run = |opt: &mut dyn Optimizer<f64>, params: &mut Vec<ArrayD<f64>>, steps| {
        for k in steps {
            opt.step(params, &gradient::<f64>(SHAPES, k)).unwrap();
            schedule(opt, k);
        }
    };
    let mut alone = start::<f64>(SHAPES);
    let mut one = make();
    run(&mut *one, &mut alone, 0..9);
    let state = one.save_state();
    let midway = alone.clone();
    run(&mut *one, &mut alone, 9..STEPS);
    for world in [1, 2, 3, 7] {
        let ranks = run_guarded(world, |comm| {
            let mut params = start::<f64>(SHAPES);
            let mut opt = Sharded::new(make(), comm).unwrap();
            run(&mut opt, &mut params, 0..9);
            assert_eq!(opt.param_groups(), state.param_groups.as_ref());
            (params, opt.save_state())
        });
        for (params, _) in &ranks {
            assert_eq!(bits(params), bits(&midway), "{world} ranks");
        }
        let whole = consolidate(ranks.into_iter().map(|(_, s)| s).collect()).unwrap();
        assert_eq!(whole, state, "{world} ranks");
        let shards = split(whole, 5 - world.min(4)).unwrap();
        let resumed = run_guarded(shards.len(), |comm| {
            let mut params = midway.clone();
            let mut opt = Sharded::new(make(), comm).unwrap();
            opt.load_state(shards[opt.rank()].clone()).unwrap();
            run(&mut opt, &mut params, 9..STEPS);
            params
        });
        for params in resumed {
            assert_eq!(bits(&params), bits(&alone), "{world} ranks, resumed");
        }
    }
    // Groups of another length than the model: every rank refuses.
    let seen = run_guarded(2, |comm| {
        let mut params = start::<f64>(SHAPES);
        let mut opt = Sharded::new(Adam::new(0.01).unwrap(), comm).unwrap();
        opt.set_param_groups(Some(
            ParamGroups::new(vec![ParamGroup::default()], vec![0; 3]).unwrap(),
        ))
        .unwrap();
        let result = opt.step(&mut params, &gradient::<f64>(SHAPES, 0));
        (result, bits(&params) == bits(&start::<f64>(SHAPES)))
    });
    for (result, unchanged) in seen {
        assert!(unchanged);
        assert!(
            matches!(
                result,
                Err(Error::GroupLengthMismatch {
                    assigned: 3,
                    found: 5
                }) | Err(Error::RankFailed { .. })
            ),
            "{result:?}"
        );
    }
}
