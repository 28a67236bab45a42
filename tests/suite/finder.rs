//! The learning-rate finder: it leaves no trace (parameters and optimizer state bit for bit,
//! after a completed sweep, a divergence, a failing closure, a NaN, an optimizer error), it
//! stops early, it refuses bad settings and bad lists before anything runs, and no input
//! makes it panic. Its numbers against fastai and Lightning are in `tests/reference/finder.rs`.

use std::convert::Infallible;

use ndarray::{Array1, Array2, ArrayD, IxDyn, ShapeBuilder, array, s};
use ndarray_optim::finder::{
    Convention, FindError, LrFinder, LrFinderConfig, LrFinderResult, Rule, Stop, SweepMode,
};
use ndarray_optim::schedule::Schedule;
use ndarray_optim::*;
use proptest::prelude::*;

/// A least-squares problem `mean((x·w + b − y)²)` on fixed data: the finder's closure.
struct Problem {
    x: Array2<f64>,
    y: Array1<f64>,
}

impl Problem {
    fn new() -> Problem {
        let x = Array2::from_shape_fn((16, 3), |(i, j)| ((i * 7 + j * 3) % 11) as f64 * 0.6 - 3.0);
        // Not exactly linear: the loss has a floor above 0.
        let noise = Array1::from_shape_fn(16, |i| ((i * 5) % 7) as f64 / 10.0);
        let y = x.dot(&array![1.0, -2.0, 0.5]) + 0.3 + noise;
        Problem { x, y }
    }

    /// The loss at `(w, b)`, writing the gradients.
    fn loss(
        &self,
        w: &Array1<f64>,
        b: &Array1<f64>,
        gw: &mut Array1<f64>,
        gb: &mut Array1<f64>,
    ) -> f64 {
        let err = self.x.dot(w) + b[0] - &self.y;
        let n = self.y.len() as f64;
        *gw = self.x.t().dot(&err) * (2.0 / n);
        gb[0] = err.sum() * 2.0 / n;
        err.mapv(|e| e * e).sum() / n
    }
}

type Params = (Array1<f64>, Array1<f64>);

fn params() -> Params {
    (array![0.3, -0.1, 0.2], array![0.05])
}

fn grads() -> Params {
    (Array1::zeros(3), Array1::zeros(1))
}

/// Runs `finder` on the problem with `opt`, the closure failing as `fail` says.
fn run_problem(
    finder: &LrFinder,
    opt: &mut dyn Optimizer<f64>,
    p: &mut Params,
    fail: impl Fn(usize) -> Option<Result<f64, &'static str>>,
) -> Result<LrFinderResult, FindError<&'static str>> {
    let problem = Problem::new();
    let mut g = grads();
    let mut step = 0;
    finder.run(opt, p, &mut g, |(w, b), (gw, gb)| {
        let loss = problem.loss(w, b, gw, gb);
        step += 1;
        fail(step - 1).unwrap_or(Ok(loss))
    })
}

/// An optimizer with state: a few steps of Adam with weight decay and parameter groups.
fn trained_adam(p: &mut Params) -> Box<dyn Optimizer<f64>> {
    let mut opt: Box<dyn Optimizer<f64>> = Box::new(
        AdamWConfig::default()
            .lr(0.01)
            .weight_decay(0.1)
            .build::<f64>()
            .unwrap(),
    );
    opt.set_param_groups(Some(ParamGroups::no_decay_for_vectors(&*p)))
        .unwrap();
    let problem = Problem::new();
    let mut g = grads();
    for _ in 0..5 {
        problem.loss(&p.0, &p.1, &mut g.0, &mut g.1);
        opt.step(p, &g).unwrap();
    }
    opt
}

fn bits(p: &Params) -> Vec<u64> {
    p.0.iter().chain(p.1.iter()).map(|v| v.to_bits()).collect()
}

/// After the finder: the parameters and the saved state are the same bits, and the next
/// training step gives the same bits as on an untouched copy.
fn assert_no_trace(
    before: &Params,
    after: &mut Params,
    untouched: &mut dyn Optimizer<f64>,
    opt: &mut dyn Optimizer<f64>,
) {
    assert_eq!(bits(before), bits(after), "parameters restored bit for bit");
    assert_eq!(
        untouched.save_state(),
        opt.save_state(),
        "optimizer state restored"
    );
    assert_eq!(
        untouched.learning_rate().to_bits(),
        opt.learning_rate().to_bits()
    );
    let problem = Problem::new();
    let mut copy = before.clone();
    let (mut g1, mut g2) = (grads(), grads());
    problem.loss(&copy.0, &copy.1, &mut g1.0, &mut g1.1);
    problem.loss(&after.0, &after.1, &mut g2.0, &mut g2.1);
    untouched.step(&mut copy, &g1).unwrap();
    opt.step(after, &g2).unwrap();
    assert_eq!(bits(&copy), bits(after), "the next step is the same");
}

#[test]
fn a_completed_sweep_leaves_no_trace() {
    let mut p = params();
    let mut opt = trained_adam(&mut p);
    let mut untouched = opt.clone();
    let before = p.clone();
    // A sweep that cannot diverge: it runs all its steps.
    let finder = LrFinderConfig::default()
        .end_lr(1e-3)
        .num_it(30)
        .build()
        .unwrap();
    let result = run_problem(&finder, &mut *opt, &mut p, |_| None).unwrap();
    assert_eq!(result.stop, Stop::Completed);
    assert_eq!(result.lrs.len(), 30);
    assert_no_trace(&before, &mut p, &mut *untouched, &mut *opt);
}

#[test]
fn a_diverging_sweep_stops_early_and_leaves_no_trace() {
    let mut p = params();
    let mut opt = trained_adam(&mut p);
    let mut untouched = opt.clone();
    let before = p.clone();
    let mut sgd = Sgd::<f64>::new(0.05).unwrap();
    let mut p2 = params();
    // Plain gradient descent on least squares diverges above lr ≈ 0.03: well before 10.
    let finder = LrFinder::new();
    let result = run_problem(&finder, &mut sgd, &mut p2, |_| None).unwrap();
    let Stop::Diverged { step, loss, best } = result.stop else {
        panic!("expected a divergence, got {:?}", result.stop);
    };
    assert!(step < 99 && step + 1 == result.lrs.len());
    assert!(loss > 4.0 * best && result.losses[step] == loss);
    assert!(result.lrs[step] > 0.01, "{}", result.lrs[step]);
    let valley = result.suggestion.expect("a suggestion");
    assert!(valley.lr < result.lrs[step]);
    assert_eq!(bits(&p2), bits(&params()));
    assert_eq!(sgd.step_count(), 0);
    // The same sweep with the stateful optimizer.
    run_problem(&finder, &mut *opt, &mut p, |_| None).unwrap();
    assert_no_trace(&before, &mut p, &mut *untouched, &mut *opt);
}

#[test]
fn a_failing_closure_is_reported_and_leaves_no_trace() {
    let mut p = params();
    let mut opt = trained_adam(&mut p);
    let mut untouched = opt.clone();
    let before = p.clone();
    let finder = LrFinder::new();
    let err = run_problem(&finder, &mut *opt, &mut p, |k| {
        (k == 7).then_some(Err("disk full"))
    })
    .unwrap_err();
    let FindError::Closure { step, lr, error } = err else {
        panic!("expected the closure's error, got {err:?}");
    };
    assert_eq!((step, error), (7, "disk full"));
    assert_eq!(lr.to_bits(), finder.lr(7).to_bits());
    assert_no_trace(&before, &mut p, &mut *untouched, &mut *opt);
    // Displayed with the step, and the closure's error as the source.
    let err: FindError<std::fmt::Error> = FindError::Closure {
        step: 3,
        lr: 0.5,
        error: std::fmt::Error,
    };
    assert!(err.to_string().contains("step 3"));
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn a_nan_loss_stops_the_sweep_says_where_and_leaves_no_trace() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut p = params();
        let mut opt = trained_adam(&mut p);
        let mut untouched = opt.clone();
        let before = p.clone();
        let finder = LrFinder::new();
        let result =
            run_problem(&finder, &mut *opt, &mut p, |k| (k == 40).then_some(Ok(bad))).unwrap();
        let Stop::NonFiniteLoss { step, loss } = result.stop else {
            panic!("expected a non-finite loss, got {:?}", result.stop);
        };
        assert_eq!((step, loss.to_bits()), (40, bad.to_bits()));
        assert_eq!(result.lrs.len(), 41);
        assert!(result.window.end <= 40, "{:?}", result.window);
        assert_no_trace(&before, &mut p, &mut *untouched, &mut *opt);
    }
    // At the very first step: no curve to suggest from, still no panic and no trace.
    let mut p = params();
    let mut opt = Sgd::<f64>::new(0.1).unwrap();
    let result = run_problem(&LrFinder::new(), &mut opt, &mut p, |_| Some(Ok(f64::NAN))).unwrap();
    assert_eq!(result.stop.step(), Some(0));
    assert!(result.suggestion.is_none() && result.window.is_empty());
    assert!(result.suggestions().iter().all(|(_, s)| s.is_none()));
    assert_eq!(bits(&p), bits(&params()));
}

#[test]
fn a_nan_window_ends_where_fastai_s_does() {
    // fastai runs on through a NaN: its window is [num_it/10, num_it − 5) cut at the NaN.
    let finder = LrFinder::new();
    let mut p = params();
    let mut opt = Sgd::<f64>::new(0.1).unwrap();
    let r = run_problem(&finder, &mut opt, &mut p, |k| {
        (k == 50).then_some(Ok(f64::NAN))
    })
    .unwrap();
    assert_eq!(r.window, 10..50);
    let mut p = params();
    let mut opt = Sgd::<f64>::new(0.1).unwrap();
    let result = LrFinderConfig::default()
        .end_lr(1e-3) // no divergence
        .build()
        .unwrap();
    let r = run_problem(&result, &mut opt, &mut p, |k| {
        (k == 97).then_some(Ok(f64::NAN))
    })
    .unwrap();
    assert_eq!(r.window, 10..95);
    // An infinite loss is a divergence to fastai: its window ends 5 points before it.
    let r = run_problem(&result, &mut opt, &mut p, |k| {
        (k == 60).then_some(Ok(f64::INFINITY))
    })
    .unwrap();
    assert_eq!(r.window, 10..56);
}

#[test]
fn a_refused_gradient_stops_the_sweep() {
    let mut p = params();
    let mut opt = trained_adam(&mut p);
    let mut untouched = opt.clone();
    let before = p.clone();
    let problem = Problem::new();
    let mut g = grads();
    let mut step = 0;
    let result = LrFinder::new()
        .run(&mut *opt, &mut p, &mut g, |(w, b), (gw, gb)| {
            let loss = problem.loss(w, b, gw, gb);
            if step == 12 {
                gw[1] = f64::NAN;
            }
            step += 1;
            Ok::<f64, Infallible>(loss)
        })
        .unwrap();
    let Stop::NonFiniteGradient { step, error } = &result.stop else {
        panic!("expected a refused gradient, got {:?}", result.stop);
    };
    assert_eq!(*step, 12);
    assert!(matches!(error, Error::NonFiniteGradient { index: 0, .. }));
    assert_eq!(result.lrs.len(), 13);
    assert_no_trace(&before, &mut p, &mut *untouched, &mut *opt);

    // With SkipStep the optimizer skips it and the sweep goes on.
    let mut p = params();
    let mut opt = Sgd::<f64>::new(0.1).unwrap();
    opt.set_non_finite_policy(NonFinitePolicy::SkipStep);
    let finder = LrFinderConfig::default().end_lr(1e-3).build().unwrap();
    let result = run_problem(&finder, &mut opt, &mut p, |_| None).unwrap();
    assert_eq!(result.stop, Stop::Completed);
}

#[test]
fn an_optimizer_error_is_reported_and_leaves_no_trace() {
    let mut p = params();
    let mut opt = trained_adam(&mut p);
    let mut untouched = opt.clone();
    let before = p.clone();
    // Gradients of the wrong shape.
    let mut g = (Array1::<f64>::zeros(2), Array1::<f64>::zeros(1));
    let err = LrFinder::new()
        .run(&mut *opt, &mut p, &mut g, |_, _| Ok::<f64, Infallible>(1.0))
        .unwrap_err();
    assert!(
        matches!(
            err,
            FindError::Optimizer {
                step: 0,
                error: Error::ShapeMismatch { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert_no_trace(&before, &mut p, &mut *untouched, &mut *opt);
}

#[test]
fn strided_and_fortran_parameters_are_restored() {
    let mut big = Array2::<f32>::from_shape_fn((4, 6).f(), |(i, j)| (i * 6 + j) as f32 * 0.1 - 1.0);
    let before = big.clone();
    let mut opt = Adam::<f32>::new(0.01).unwrap();
    let mut grads = vec![Array2::<f32>::zeros((4, 3)), Array2::<f32>::zeros((4, 3))];
    {
        let (left, right) = big.view_mut().split_at(ndarray::Axis(1), 3);
        let mut views = vec![left.slice_move(s![.., ..;-1]), right];
        let finder = LrFinderConfig::default().num_it(20).build().unwrap();
        let result = finder
            .run(&mut opt, &mut views, &mut grads, |v, g| {
                for (p, g) in v.iter().zip(g.iter_mut()) {
                    g.assign(&p.mapv(|x| 2.0 * x));
                }
                Ok::<f64, Infallible>(v.iter().map(|p| p.mapv(|x| f64::from(x * x)).sum()).sum())
            })
            .unwrap();
        assert_eq!(result.lrs.len(), 20);
    }
    assert_eq!(
        big.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        before.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(opt.step_count(), 0);
}

#[test]
fn nan_payloads_and_signed_zeros_in_parameters_survive() {
    let odd = f64::from_bits(0x7ff8_0000_dead_beef);
    let mut w = ArrayD::from_shape_vec(IxDyn(&[4]), vec![odd, -0.0, 0.0, f64::INFINITY]).unwrap();
    let before: Vec<u64> = w.iter().map(|v| v.to_bits()).collect();
    let mut g = ArrayD::<f64>::zeros(IxDyn(&[4]));
    let mut opt = Sgd::<f64>::new(0.1).unwrap();
    opt.set_non_finite_policy(NonFinitePolicy::Unchecked);
    let finder = LrFinderConfig::default().num_it(10).build().unwrap();
    let result = finder
        .run(&mut opt, &mut w, &mut g, |_, g| {
            g.fill(1.0);
            Ok::<f64, Infallible>(1.0)
        })
        .unwrap();
    assert_eq!(result.stop, Stop::Completed);
    assert_eq!(w.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), before);
}

#[test]
fn progress_is_reported_every_step() {
    let mut p = params();
    let mut g = grads();
    let mut opt = Sgd::<f64>::new(0.1).unwrap();
    let problem = Problem::new();
    let mut reports = Vec::new();
    let finder = LrFinder::new();
    let result = finder
        .run_with_progress(
            &mut opt,
            &mut p,
            &mut g,
            |(w, b), (gw, gb)| Ok::<f64, Infallible>(problem.loss(w, b, gw, gb)),
            |r| reports.push(*r),
        )
        .unwrap();
    assert_eq!(reports.len(), result.lrs.len());
    for (k, r) in reports.iter().enumerate() {
        assert_eq!((r.step, r.num_it), (k, 100));
        assert_eq!(r.lr, result.lrs[k]);
        assert_eq!(r.loss, result.raw_losses[k]);
        assert_eq!(r.smoothed_loss, result.losses[k]);
    }
}

#[test]
fn the_sweep_conventions() {
    let fastai = LrFinder::new();
    assert_eq!(fastai.lr(0), 1e-7);
    assert!((fastai.lr(99) - 1e-7 * 1e8f64.powf(0.99)).abs() < 1e-12);
    let lightning = LrFinderConfig::lightning().build().unwrap();
    assert_eq!(lightning.config().convention, Convention::Lightning);
    assert_eq!((lightning.lr(0), lightning.lr(99)), (1e-8, 1.0));
    assert!((lightning.lr(1) - 1e-8 * 1e8f64.powf(0.02)).abs() < 1e-20);
    let linear = LrFinderConfig::default()
        .mode(SweepMode::Linear)
        .start_lr(0.0)
        .end_lr(1.0)
        .num_it(10)
        .build()
        .unwrap();
    assert_eq!((linear.lr(0), linear.lr(9)), (0.0, 0.9));
    // Lightning debiases one step further: its first smoothed loss is about half the loss.
    let mut p = params();
    let mut opt = Sgd::<f64>::new(0.1).unwrap();
    let r = run_problem(&lightning, &mut opt, &mut p, |_| Some(Ok(2.0))).unwrap();
    assert!((r.losses[0] - 2.0 * 0.02 / (1.0 - 0.98f64.powi(2))).abs() < 1e-12);
    let r = run_problem(&fastai, &mut opt, &mut p, |_| Some(Ok(2.0))).unwrap();
    assert!((r.losses[0] - 2.0).abs() < 1e-12);
    assert_eq!(r.stop, Stop::Completed);
    // No threshold: no early stop.
    let no_stop = LrFinderConfig::default()
        .early_stop_threshold(None)
        .num_it(20)
        .build()
        .unwrap();
    let r = run_problem(&no_stop, &mut opt, &mut p, |k| {
        Some(Ok(10f64.powi(k as i32)))
    })
    .unwrap();
    assert_eq!(r.stop, Stop::Completed);
    // β = 0 records the raw losses.
    let raw = LrFinderConfig::default()
        .beta(0.0)
        .num_it(20)
        .build()
        .unwrap();
    let r = run_problem(&raw, &mut opt, &mut p, |k| Some(Ok(1.0 / (k + 1) as f64))).unwrap();
    assert_eq!(r.losses, r.raw_losses);
}

#[test]
fn parameter_groups_keep_their_ratios_and_get_them_back() {
    let mut p = params();
    let groups = ParamGroups::new(
        vec![ParamGroup::default(), ParamGroup::default().lr_scale(0.1)],
        vec![0, 1],
    )
    .unwrap();
    let mut opt = Sgd::<f64>::new(0.5).unwrap();
    opt.set_param_groups(Some(groups.clone())).unwrap();
    let finder = LrFinderConfig::default().num_it(10).build().unwrap();
    run_problem(&finder, &mut opt, &mut p, |_| None).unwrap();
    assert_eq!(opt.learning_rate(), 0.5);
    assert_eq!(opt.param_groups(), Some(&groups));
}

/// The learning rate each group trained at in every step of a 12-step sweep with SGD (from
/// the parameters' change under a gradient of 1), beside the recorded rates; and whether the
/// optimizer came back with its groups and rates.
fn swept_rates(opt: &mut dyn Optimizer<f64>) -> (Vec<[f64; 2]>, Vec<f64>) {
    let before = (
        opt.param_groups().cloned(),
        opt.group_learning_rate(0),
        opt.group_learning_rate(1),
    );
    let mut p = params();
    let mut g = grads();
    let mut seen: Vec<(f64, f64)> = Vec::new();
    let finder = LrFinderConfig::default()
        .start_lr(1e-3)
        .end_lr(1.0)
        .num_it(12)
        .early_stop_threshold(None)
        .build()
        .unwrap();
    let result = finder
        .run(opt, &mut p, &mut g, |(w, b), (gw, gb)| {
            seen.push((w[0], b[0]));
            gw.fill(1.0);
            gb.fill(1.0);
            Ok::<f64, Infallible>(1.0 + seen.len() as f64)
        })
        .unwrap();
    let after = (
        opt.param_groups().cloned(),
        opt.group_learning_rate(0),
        opt.group_learning_rate(1),
    );
    assert_eq!(before, after, "the groups and their rates are restored");
    let rates = seen
        .windows(2)
        .map(|w| [w[0].0 - w[1].0, w[0].1 - w[1].1])
        .collect();
    (rates, result.lrs)
}

/// SGD at 0.5 with the two problem tensors in `groups`.
fn sgd_with(groups: [ParamGroup; 2]) -> Sgd<f64> {
    let mut opt = Sgd::<f64>::new(0.5).unwrap();
    let groups = ParamGroups::new(groups.to_vec(), vec![0, 1]).unwrap();
    opt.set_param_groups(Some(groups)).unwrap();
    opt
}

fn assert_rates(rates: &[[f64; 2]], lrs: &[f64], ratios: [f64; 2]) {
    assert_eq!(rates.len() + 1, lrs.len());
    for (k, (rate, lr)) in rates.iter().zip(lrs).enumerate() {
        for g in 0..2 {
            let want = lr * ratios[g];
            assert!(
                (rate[g] - want).abs() <= 1e-12 * (1.0 + want),
                "step {k} group {g}: {} against {want}",
                rate[g]
            );
        }
    }
}

#[test]
fn groups_that_scale_the_optimizer_s_rate_keep_their_ratios() {
    let mut opt = sgd_with([ParamGroup::default(), ParamGroup::default().lr_scale(0.1)]);
    let (rates, lrs) = swept_rates(&mut opt);
    assert_rates(&rates, &lrs, [1.0, 0.1]);
}

#[test]
fn groups_with_rates_of_their_own_keep_their_ratios_to_the_largest() {
    let mut opt = sgd_with([
        ParamGroup::default().lr(0.02),
        ParamGroup::default().lr(0.2),
    ]);
    let (rates, lrs) = swept_rates(&mut opt);
    assert_rates(&rates, &lrs, [0.1, 1.0]);
}

/// A scheduler gives every group a rate of its own; a warmup's first rate is 0 for all of
/// them, and the sweep still runs, every group at the recorded rate.
#[test]
fn groups_a_warmup_holds_at_zero_sweep_together() {
    let mut opt = sgd_with([ParamGroup::default(), ParamGroup::default().lr_scale(0.1)]);
    let _sched = schedule::Warmup::cosine(10, 100).attach(&mut opt).unwrap(); // epoch 0: rate 0
    assert_eq!(
        (opt.group_learning_rate(0), opt.group_learning_rate(1)),
        (Some(0.0), Some(0.0))
    );
    let (rates, lrs) = swept_rates(&mut opt);
    assert_rates(&rates, &lrs, [1.0, 1.0]);
}

#[test]
fn bad_settings_are_refused_by_build() {
    let name = |config: LrFinderConfig| match config.build() {
        Err(Error::InvalidHyperparameter { name, .. }) => name,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let d = LrFinderConfig::default;
    assert_eq!(name(d().start_lr(0.0)), "start_lr");
    assert_eq!(name(d().start_lr(-1e-3)), "start_lr");
    assert_eq!(name(d().start_lr(f64::NAN)), "start_lr");
    assert_eq!(name(d().start_lr(f64::INFINITY)), "start_lr");
    assert_eq!(name(d().mode(SweepMode::Linear).start_lr(-1.0)), "start_lr");
    assert_eq!(name(d().end_lr(1e-7)), "end_lr"); // = start
    assert_eq!(name(d().end_lr(1e-8)), "end_lr");
    assert_eq!(name(d().end_lr(f64::INFINITY)), "end_lr");
    assert_eq!(name(d().end_lr(f64::NAN)), "end_lr");
    for n in [0, 1, 5] {
        assert_eq!(name(d().num_it(n)), "num_it");
    }
    assert_eq!(name(d().beta(1.0)), "beta");
    assert_eq!(name(d().beta(-0.1)), "beta");
    assert_eq!(name(d().beta(f64::NAN)), "beta");
    assert_eq!(
        name(d().early_stop_threshold(Some(0.5))),
        "early_stop_threshold"
    );
    assert_eq!(
        name(d().early_stop_threshold(Some(f64::NAN))),
        "early_stop_threshold"
    );
    assert_eq!(
        name(d().early_stop_threshold(Some(f64::INFINITY))),
        "early_stop_threshold"
    );
    assert_eq!(name(d().num_it(6).skip_end(6)), "skip_end");
    assert_eq!(name(d().skip_begin(Some(95))), "skip_end");
    assert_eq!(name(d().skip_begin(Some(usize::MAX))), "skip_end");
    assert_eq!(name(d().skip_end(usize::MAX)), "skip_end");
    // The smallest test fastai runs, and a linear sweep from 0.
    assert!(d().num_it(6).build().is_ok());
    assert!(d().mode(SweepMode::Linear).start_lr(0.0).build().is_ok());
    assert!(d().num_it(usize::MAX).build().is_ok());
}

#[test]
fn inconsistent_parameter_lists_are_refused_before_anything_runs() {
    /// A list that counts two tensors but lends one.
    struct Short(Array1<f64>);
    impl TensorList<f64> for Short {
        fn len(&self) -> usize {
            2
        }
        fn tensor(&self, i: usize) -> Option<&dyn Tensor<f64>> {
            (i == 0).then_some(&self.0 as &dyn Tensor<f64>)
        }
    }
    impl TensorListMut<f64> for Short {
        fn tensor_mut(&mut self, i: usize) -> Option<&mut dyn TensorMut<f64>> {
            (i == 0).then_some(&mut self.0 as &mut dyn TensorMut<f64>)
        }
    }
    let mut p = Short(array![1.0]);
    let mut g = vec![array![0.0], array![0.0]];
    let mut opt = Sgd::<f64>::new(0.1).unwrap();
    let mut calls = 0;
    let err = LrFinder::new()
        .run(&mut opt, &mut p, &mut g, |_, _| {
            calls += 1;
            Ok::<f64, Infallible>(1.0)
        })
        .unwrap_err();
    assert!(
        matches!(err, FindError::Params(Error::LengthMismatch { .. })),
        "{err:?}"
    );
    assert_eq!((calls, opt.step_count()), (0, 0));
}

#[test]
fn rules_on_short_and_odd_curves() {
    let lrs = [0.1, 0.2];
    assert!(Rule::Valley.apply(&[], &[]).is_none());
    assert!(Rule::Valley.apply(&lrs, &[1.0]).is_none()); // lengths differ
    // fastai's valley on two falling points lands on Python's index −1: the last point.
    assert_eq!(Rule::Valley.apply(&lrs, &[2.0, 1.0]).unwrap().index, 1);
    assert_eq!(Rule::Valley.apply(&lrs[..1], &[2.0]).unwrap().index, 0);
    assert!(Rule::Slide.apply(&[0.1; 15], &[1.0; 15]).is_none());
    assert!(Rule::Slide.apply(&[0.1; 16], &[1.0; 16]).is_some());
    assert!(Rule::Steep.apply(&lrs[..1], &[1.0]).is_none());
    assert!(Rule::SteepestLinear.apply(&lrs[..1], &[1.0]).is_none());
    assert_eq!(
        Rule::SteepestLinear.apply(&lrs, &[2.0, 1.0]).unwrap().index,
        0
    );
    // NaN is never the minimum.
    let s = Rule::Minimum
        .apply(&[1.0, 2.0, 3.0], &[f64::NAN, 2.0, 3.0])
        .unwrap();
    assert_eq!(s.index, 1);
    assert!(Rule::Minimum.apply(&[1.0], &[f64::NAN]).is_none());
    assert_eq!(Rule::default(), Rule::Valley);
    assert_eq!(Rule::Steep.to_string(), "steep");
}

fn loss_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => 0.0..10.0f64,
        1 => -10.0..0.0f64,
        1 => prop::num::f64::ANY,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::MAX),
        1 => Just(0.0),
    ]
}

fn any_config() -> impl Strategy<Value = LrFinderConfig> {
    (
        prop_oneof![
            Just(1e-7),
            1e-12..1.0f64,
            Just(0.0),
            Just(-1.0),
            Just(f64::NAN)
        ],
        prop_oneof![Just(10.0), 1e-6..1e3f64, Just(f64::INFINITY)],
        0usize..40,
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(0.98), 0.0..1.0f64, Just(1.0)],
        prop_oneof![Just(None), Just(Some(4.0)), (0.5..10.0f64).prop_map(Some)],
        prop_oneof![Just(None), (0usize..30).prop_map(Some)],
        0usize..10,
        prop::sample::select(Rule::ALL.to_vec()),
    )
        .prop_map(
            |(start, end, n, linear, lightning, beta, threshold, skip_begin, skip_end, rule)| {
                LrFinderConfig::default()
                    .start_lr(start)
                    .end_lr(end)
                    .num_it(n)
                    .mode(if linear {
                        SweepMode::Linear
                    } else {
                        SweepMode::Exponential
                    })
                    .convention(if lightning {
                        Convention::Lightning
                    } else {
                        Convention::Fastai
                    })
                    .beta(beta)
                    .early_stop_threshold(threshold)
                    .skip_begin(skip_begin)
                    .skip_end(skip_end)
                    .rule(rule)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any settings and any losses: no panic, a consistent result, and no trace.
    #[test]
    fn no_input_makes_the_finder_panic(config in any_config(), losses in prop::collection::vec(loss_value(), 0..40), fail_at in prop::option::of(0usize..40)) {
        let Ok(finder) = config.build() else { return Ok(()) };
        let mut p = params();
        let mut opt = Adam::<f64>::new(0.01).unwrap();
        let outcome = run_problem(&finder, &mut opt, &mut p, |k| {
            if Some(k) == fail_at {
                return Some(Err("failed"));
            }
            losses.get(k).map(|&l| Ok(l))
        });
        prop_assert_eq!(bits(&p), bits(&params()));
        prop_assert_eq!(opt.step_count(), 0);
        match outcome {
            Err(FindError::Closure { step, .. }) => prop_assert_eq!(Some(step), fail_at),
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
            Ok(r) => {
                let n = r.lrs.len();
                prop_assert!(n >= 1 && n <= finder.config().num_it);
                prop_assert_eq!((r.losses.len(), r.raw_losses.len()), (n, n));
                prop_assert!(r.window.start <= r.window.end && r.window.end <= n);
                prop_assert!(r.lrs.windows(2).all(|w| w[0] < w[1]));
                for (_, s) in r.suggestions() {
                    if let Some(s) = s {
                        prop_assert!(r.window.contains(&s.index));
                        prop_assert!(s.lr.is_finite() && s.lr >= 0.0);
                    }
                }
                match r.stop {
                    Stop::Completed => prop_assert_eq!(n, finder.config().num_it),
                    ref stop => prop_assert_eq!(stop.step(), Some(n - 1)),
                }
            }
        }
    }

    /// Every rule on any curve: no panic, and an index inside it.
    #[test]
    fn rules_never_panic(points in prop::collection::vec((prop::num::f64::ANY, loss_value()), 0..60)) {
        let (lrs, losses): (Vec<f64>, Vec<f64>) = points.into_iter().unzip();
        for &rule in Rule::ALL {
            if let Some(s) = rule.apply(&lrs, &losses) {
                prop_assert!(s.index < lrs.len());
            }
        }
    }
}

/// The settings read and write with serde, under fastai's and Lightning's keyword names.
#[cfg(feature = "serde")]
#[test]
fn settings_round_trip_through_serde() {
    let config = LrFinderConfig::lightning().end_lr(10.0);
    let text = serde_json::to_string(&config).unwrap();
    let back: LrFinderConfig = serde_json::from_str(&text).unwrap();
    assert_eq!(back, config);
    let lightning: LrFinderConfig = serde_json::from_str(
        r#"{"min_lr": 1e-6, "max_lr": 1.0, "num_training": 50, "convention": "Lightning"}"#,
    )
    .unwrap();
    assert_eq!(
        (lightning.start_lr, lightning.end_lr, lightning.num_it),
        (1e-6, 1.0, 50)
    );
    assert_eq!(lightning.convention, Convention::Lightning);
    assert!(serde_json::from_str::<LrFinderConfig>(r#"{"stop_div": true}"#).is_err());
}
