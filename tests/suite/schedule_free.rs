//! Schedule-Free AdamW and SGD: the point to evaluate before and after steps, its checks, the
//! per-group running values (a group added later starts its own), and their saved form.

use ndarray::{Array1, array};
use ndarray_optim::{
    Error, Optimizer, ParamGroup, ParamGroups, ScheduleFreeAdamW, ScheduleFreeAdamWConfig,
    ScheduleFreeSgd,
};

fn grad(step: usize, n: usize) -> Array1<f64> {
    Array1::from_shape_fn(n, |i| ((step * 7 + i * 3) as f64 * 0.37).sin())
}

/// Before any step `x = y`; a list of the wrong length or shape is refused before anything
/// is written.
#[test]
fn eval_params_checks_and_copies_before_the_first_step() {
    let opt = ScheduleFreeAdamW::<f64>::new(0.01).unwrap();
    let y = array![1.0, 2.0];
    let mut x = array![0.0, 0.0];
    opt.eval_params(&y, &mut x).unwrap();
    assert_eq!(x, y);
    let mut opt = ScheduleFreeSgd::<f64>::new(0.1).unwrap();
    let mut y = array![1.0, 2.0];
    opt.step(&mut y, &array![0.5, -0.5]).unwrap();
    opt.step(&mut y, &array![0.5, 0.25]).unwrap(); // after one step y = z = x
    let mut x = array![7.0, 7.0, 7.0];
    assert!(matches!(
        opt.eval_params(&y, &mut x),
        Err(Error::ShapeMismatch { .. })
    ));
    assert_eq!(x, array![7.0, 7.0, 7.0]);
    let mut wrong = array![1.0, 2.0, 3.0];
    assert!(opt.to_x(&mut wrong).is_err());
    assert_eq!(wrong, array![1.0, 2.0, 3.0]);
    // After a step x differs from y, and to_x, to_y come back to y within rounding.
    let mut x = y.clone();
    opt.eval_params(&y, &mut x).unwrap();
    assert_ne!(x, y);
    let mut p = y.clone();
    opt.to_x(&mut p).unwrap();
    assert_eq!(p, x);
    opt.to_y(&mut p).unwrap();
    for (a, b) in p.iter().zip(&y) {
        assert!((a - b).abs() < 1e-15);
    }
}

/// The package keeps `k`, `weight_sum` and `lr_max` per group: a group added later starts its
/// warmup and its average from its own first step, exactly as the same tensor alone would.
#[test]
fn an_added_group_starts_its_own_averaging() {
    let config = ScheduleFreeAdamWConfig::default().lr(0.05).warmup_steps(4);
    let mut opt = config.clone().build::<f64>().unwrap();
    opt.set_param_groups(Some(
        ParamGroups::new(vec![ParamGroup::default()], vec![0]).unwrap(),
    ))
    .unwrap();
    let (mut a, mut b) = (array![1.0, -1.0], array![0.5, 0.25, -2.0]);
    for step in 0..5 {
        opt.step(&mut a, &grad(step, 2)).unwrap();
    }
    opt.add_param_group(ParamGroup::default(), 1).unwrap();
    let mut alone = config.build::<f64>().unwrap();
    let mut b_alone = b.clone();
    for step in 5..12 {
        opt.step(&mut (&mut a, &mut b), &(&grad(step, 2), &grad(step, 3)))
            .unwrap();
        alone.step(&mut b_alone, &grad(step, 3)).unwrap();
    }
    assert_eq!(b, b_alone);
    let saved = opt.save_state();
    assert_eq!(saved.extra["group1.k"], 7.0_f64.to_bits());
    assert_eq!(saved.extra["group0.k"], 12.0_f64.to_bits());
}

/// The running values are part of the state: missing or non-finite after the first step, the
/// state is refused and nothing changes; with them it resumes bit for bit.
#[test]
fn the_running_values_are_saved_and_checked() {
    let mut opt = ScheduleFreeAdamWConfig::default()
        .lr(0.05)
        .warmup_steps(3)
        .build::<f64>()
        .unwrap();
    let mut y = array![1.0, -1.0];
    for step in 0..2 {
        opt.step(&mut y, &grad(step, 2)).unwrap();
    }
    let saved = opt.save_state();
    for key in ["group0.k", "group0.weight_sum", "group0.lr_max"] {
        assert!(saved.extra.contains_key(key), "{key}");
        let mut missing = saved.clone();
        missing.extra.remove(key);
        assert!(matches!(
            opt.load_state(missing),
            Err(Error::InvalidState { .. })
        ));
        let mut bad = saved.clone();
        bad.extra.insert(key.to_string(), f64::NAN.to_bits());
        assert!(matches!(
            opt.load_state(bad),
            Err(Error::InvalidState { .. })
        ));
        assert_eq!(opt.save_state(), saved);
    }
    let json = serde_json::to_string(&saved).unwrap();
    let mut resumed = ScheduleFreeAdamW::<f64>::new(0.0).unwrap();
    resumed
        .load_state(serde_json::from_str(&json).unwrap())
        .unwrap();
    let mut z = y.clone();
    for step in 2..8 {
        opt.step(&mut y, &grad(step, 2)).unwrap();
        resumed.step(&mut z, &grad(step, 2)).unwrap();
    }
    assert_eq!(y, z);
}
