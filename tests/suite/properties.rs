//! Property tests over random shapes (empty and one-element included), memory layouts (C order,
//! Fortran order, strided and reversed views of larger arrays), tensor counts and
//! hyperparameters anywhere in their valid ranges, for every optimizer.
//!
//! Bounded so that `cargo test` stays fast: a few dozen cases per property, a few steps each.
//! `PROPTEST_CASES=1000 cargo test --release --test suite properties` searches harder.

use ndarray::{ArrayD, ArrayViewMutD, IxDyn, ShapeBuilder, SliceInfoElem};
#[cfg(feature = "serde")]
use ndarray_optim::OptimizerState;
use ndarray_optim::{
    AdamConfig, Error, Float, NonFinitePolicy, Optimizer, OptimizerConfig, SgdConfig,
};
use proptest::prelude::*;

use crate::common::registry::strategies::{any_config, any_typical_config};

/// An optimizer built from a configuration, at either precision.
fn build<A: Float>(config: &OptimizerConfig) -> Box<dyn Optimizer<A>> {
    config
        .clone()
        .build()
        .expect("the strategies make valid configurations")
}

/// How a tensor is handed to the optimizer.
#[derive(Clone, Copy, Debug)]
enum Layout {
    COrder,
    FOrder,
    /// Every other element along each axis of a twice-as-large array.
    Strided,
    /// Every axis reversed (negative strides).
    Reversed,
}

fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![
        Just(Layout::COrder),
        Just(Layout::FOrder),
        Just(Layout::Strided),
        Just(Layout::Reversed)
    ]
}

fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![Just(1usize), Just(0usize), 1usize..5], 0..=3)
}

/// A value of magnitude 1e-30 … 1e30 (or zero), either sign; sometimes one at the edges of
/// `f32` and `f64` (their largest values, halves of them, subnormals), where the arithmetic of
/// a step overflows or underflows.
fn extreme() -> impl Strategy<Value = f64> + Clone {
    let edge = prop_oneof![
        Just(f64::from(f32::MAX)),
        Just(f64::from(f32::MAX) / 2.0),
        Just(f64::from(f32::MAX).sqrt() * 2.0),
        Just(1e-45),
        Just(f64::MAX),
        Just(f64::MAX / 2.0),
        Just(f64::MAX.sqrt() * 2.0),
        Just(1e-310),
        (150i32..=308, 1.0f64..1.7).prop_map(|(e, m)| m * 10f64.powi(e)),
        (-320i32..=-150, 1.0f64..10.0).prop_map(|(e, m)| m * 10f64.powi(e)),
    ];
    prop_oneof![
        1 => Just(0.0),
        6 => (-30i32..=30, 1.0f64..10.0, any::<bool>()).prop_map(|(e, m, neg)| {
            let x = m * 10f64.powi(e);
            if neg { -x } else { x }
        }),
        1 => (edge, any::<bool>()).prop_map(|(x, neg)| if neg { -x } else { x }),
    ]
}

/// A moderate value, for the precision comparison.
fn moderate() -> impl Strategy<Value = f64> + Clone {
    (-3i32..=1, 1.0f64..10.0, any::<bool>()).prop_map(|(e, m, neg)| {
        if neg {
            -m * 10f64.powi(e)
        } else {
            m * 10f64.powi(e)
        }
    })
}

/// Tensors (their shapes and initial values) and a few steps of gradients.
#[derive(Clone, Debug)]
struct Problem {
    shapes: Vec<Vec<usize>>,
    layouts: Vec<Layout>,
    init: Vec<Vec<f64>>,
    grads: Vec<Vec<Vec<f64>>>,
}

fn problem(values: impl Strategy<Value = f64> + Clone + 'static) -> impl Strategy<Value = Problem> {
    prop::collection::vec((shape(), layout()), 1..=3).prop_flat_map(move |tensors| {
        let sizes: Vec<usize> = tensors.iter().map(|(s, _)| s.iter().product()).collect();
        let init = sizes
            .iter()
            .map(|&n| prop::collection::vec(moderate(), n))
            .collect::<Vec<_>>();
        let step = sizes
            .iter()
            .map(|&n| prop::collection::vec(values.clone(), n))
            .collect::<Vec<_>>();
        let grads = prop::collection::vec(step, 1..=3);
        (Just(tensors), init, grads).prop_map(|(tensors, init, grads)| Problem {
            shapes: tensors.iter().map(|(s, _)| s.clone()).collect(),
            layouts: tensors.iter().map(|(_, l)| *l).collect(),
            init,
            grads,
        })
    })
}

fn array<A: Float>(shape: &[usize], values: &[f64]) -> ArrayD<A> {
    ArrayD::from_shape_vec(
        IxDyn(shape),
        values.iter().map(|&x| A::from_f64(x)).collect(),
    )
    .unwrap()
}

/// The storage a tensor lives in for a layout: owned in C or F order, or a larger array of
/// which the tensor is a view.
struct Stored<A> {
    layout: Layout,
    storage: ArrayD<A>,
}

impl<A: Float> Stored<A> {
    fn new(layout: Layout, values: &ArrayD<A>) -> Self {
        let shape = values.shape().to_vec();
        let storage = match layout {
            Layout::COrder => values.clone(),
            Layout::FOrder => {
                let mut f = ArrayD::zeros(IxDyn(&shape).f());
                f.assign(values);
                f
            }
            Layout::Strided => {
                let big: Vec<usize> = shape.iter().map(|&d| 2 * d).collect();
                let mut s = ArrayD::from_elem(IxDyn(&big), A::from_f64(-7.0));
                Self::view(layout, &mut s).assign(values);
                s
            }
            Layout::Reversed => {
                let mut s = ArrayD::zeros(IxDyn(&shape));
                Self::view(layout, &mut s).assign(values);
                s
            }
        };
        Stored { layout, storage }
    }

    fn view(layout: Layout, storage: &mut ArrayD<A>) -> ArrayViewMutD<'_, A> {
        let ndim = storage.ndim();
        match layout {
            Layout::COrder | Layout::FOrder => storage.view_mut(),
            Layout::Strided => {
                let info: Vec<SliceInfoElem> = (0..ndim)
                    .map(|_| SliceInfoElem::Slice {
                        start: 0,
                        end: None,
                        step: 2,
                    })
                    .collect();
                storage.slice_mut(info.as_slice())
            }
            Layout::Reversed => {
                let info: Vec<SliceInfoElem> = (0..ndim)
                    .map(|_| SliceInfoElem::Slice {
                        start: 0,
                        end: None,
                        step: -1,
                    })
                    .collect();
                storage.slice_mut(info.as_slice())
            }
        }
    }

    fn tensor(&mut self) -> ArrayViewMutD<'_, A> {
        Self::view(self.layout, &mut self.storage)
    }
}

/// Runs the problem with every tensor in its layout; returns the final values (logical order).
/// Panics if a step whose parameters and gradients are all finite writes a NaN.
fn run<A: Float>(
    config: &OptimizerConfig,
    problem: &Problem,
    layouts: &[Layout],
) -> Result<Vec<Vec<A>>, Error> {
    let mut opt = build::<A>(config);
    let mut stored: Vec<Stored<A>> = problem
        .shapes
        .iter()
        .zip(&problem.init)
        .zip(layouts)
        .map(|((s, v), &l)| Stored::new(l, &array::<A>(s, v)))
        .collect();
    for step in &problem.grads {
        let grads: Vec<ArrayD<A>> = problem
            .shapes
            .iter()
            .zip(step)
            .map(|(s, g)| array::<A>(s, g))
            .collect();
        let mut views: Vec<ArrayViewMutD<A>> = stored.iter_mut().map(Stored::tensor).collect();
        let finite = views.iter().all(|v| v.iter().all(|x| x.is_finite()));
        opt.step(&mut views, &grads)?;
        // Overflow to ±inf can happen where the arithmetic must (g² beyond the type's range, a
        // division by a tiny eps); a NaN written from finite parameters and gradients never.
        assert!(
            !finite || views.iter().all(|v| v.iter().all(|x| !x.is_nan())),
            "NaN from finite input: {config:?}"
        );
    }
    Ok(stored
        .iter_mut()
        .map(|s| s.tensor().iter().copied().collect())
        .collect())
}

fn bits<A: Float>(values: &[Vec<A>]) -> Vec<u64> {
    values
        .iter()
        .flatten()
        .map(|x| x.widen().to_bits())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// C order, Fortran order, strided views and reversed views all give the bit-identical
    /// result of owned C-order arrays, and no finite input makes a NaN.
    #[test]
    fn layouts_agree_and_no_nan_from_finite_input(recipe in any_config(), problem in problem(extreme())) {
        let c_order = vec![Layout::COrder; problem.shapes.len()];
        for_both_precisions(&recipe, &problem, &c_order)?;
    }

    /// Gradients that do not fit (wrong count, wrong shape, non-finite) are refused and change
    /// neither the parameters nor the state.
    #[test]
    fn invalid_input_changes_nothing(recipe in any_config(), problem in problem(moderate()), which in 0usize..4, at in any::<prop::sample::Index>()) {
        let mut opt = build::<f64>(&recipe);
        let mut params: Vec<ArrayD<f64>> = problem.shapes.iter().zip(&problem.init).map(|(s, v)| array(s, v)).collect();
        let grads: Vec<ArrayD<f64>> = problem.shapes.iter().zip(&problem.grads[0]).map(|(s, g)| array(s, g)).collect();
        opt.step(&mut params, &grads).unwrap();
        let (before, state) = (params.clone(), opt.save_state());
        let mut bad = grads.clone();
        let expected_error = match which {
            0 => { bad.push(ArrayD::zeros(IxDyn(&[1]))); "count" }
            1 => {
                let i = at.index(bad.len());
                let mut shape = bad[i].shape().to_vec();
                shape.push(2);
                bad[i] = ArrayD::zeros(IxDyn(&shape));
                "shape"
            }
            2 => {
                let nonempty: Vec<usize> = (0..bad.len()).filter(|&i| !bad[i].is_empty()).collect();
                if nonempty.is_empty() { return Ok(()); }
                let i = nonempty[at.index(nonempty.len())];
                let n = bad[i].len();
                *bad[i].iter_mut().nth(at.index(n)).unwrap() = f64::NAN;
                "non-finite"
            }
            _ => { params.push(ArrayD::zeros(IxDyn(&[2]))); bad.push(ArrayD::zeros(IxDyn(&[2]))); "state" }
        };
        let result = opt.step(&mut params, &bad);
        prop_assert!(result.is_err(), "{expected_error}: accepted");
        if which == 3 { params.pop(); }
        prop_assert_eq!(bits::<f64>(&params.iter().map(|p| p.iter().copied().collect()).collect::<Vec<_>>()),
                        bits::<f64>(&before.iter().map(|p| p.iter().copied().collect()).collect::<Vec<_>>()));
        prop_assert_eq!(opt.save_state(), state);
    }

    /// f32 follows f64 to f32 precision over a few steps (moderate gradients; see below).
    #[test]
    fn f32_follows_f64(recipe in any_typical_config(), problem in problem(moderate())) {
        let c_order = vec![Layout::COrder; problem.shapes.len()];
        let single = run::<f32>(&recipe, &problem, &c_order).unwrap();
        let double = run::<f64>(&recipe, &problem, &c_order).unwrap();
        let scale = problem.init.iter().flatten().fold(1.0f64, |m, x| m.max(x.abs()));
        for (s, d) in single.iter().flatten().zip(double.iter().flatten()) {
            let (s, d) = (f64::from(*s), *d);
            prop_assert!((s - d).abs() <= 2e-5 * scale.max(d.abs()), "f32 {s} vs f64 {d} ({recipe:?})");
        }
    }

    /// Arbitrary bytes given to state loading are an error or a state that loads (and then
    /// steps) cleanly; never a panic.
    #[cfg(feature = "serde")]
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(state) = postcard::from_bytes::<OptimizerState<f32>>(&bytes) {
            try_load(state);
        }
        if let Ok(state) = serde_json::from_slice::<OptimizerState<f32>>(&bytes) {
            try_load(state);
        }
    }
}

/// 48 cases per property unless `PROPTEST_CASES` says otherwise.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

#[cfg(feature = "serde")]
fn try_load(state: OptimizerState<f32>) {
    for recipe in [
        OptimizerConfig::from(AdamConfig::default()),
        SgdConfig::default().momentum(0.9).into(),
    ] {
        let mut opt = build::<f32>(&recipe);
        if opt.load_state(state.clone()).is_ok() {
            let mut w = ArrayD::<f32>::zeros(IxDyn(&[2]));
            let _ = opt.step(&mut w, &ArrayD::<f32>::ones(IxDyn(&[2])));
        }
    }
}

/// Every layout at both precisions matches owned C order bit for bit; no NaN appears.
fn for_both_precisions(
    config: &OptimizerConfig,
    problem: &Problem,
    c_order: &[Layout],
) -> Result<(), TestCaseError> {
    fn one<A: Float>(
        config: &OptimizerConfig,
        problem: &Problem,
        c_order: &[Layout],
    ) -> Result<(), TestCaseError> {
        // Values beyond half the type's range are held there: the inputs stay finite. (Beyond
        // it, an average of two values of opposite signs can overflow to ±∞, as in PyTorch, and
        // a later step make NaN of it: README, "Reliability".)
        let max = A::max_value().widen() / 2.0;
        let saturate = |x: &f64| x.clamp(-max, max);
        let problem = &Problem {
            init: problem
                .init
                .iter()
                .map(|t| t.iter().map(saturate).collect())
                .collect(),
            grads: (problem.grads.iter())
                .map(|step| {
                    step.iter()
                        .map(|t| t.iter().map(saturate).collect())
                        .collect()
                })
                .collect(),
            ..problem.clone()
        };
        let reference = run::<A>(config, problem, c_order).unwrap();
        let mixed = run::<A>(config, problem, &problem.layouts).unwrap();
        prop_assert_eq!(
            bits(&mixed),
            bits(&reference),
            "layouts {:?}",
            problem.layouts
        );
        Ok(())
    }
    one::<f32>(config, problem, c_order)?;
    one::<f64>(config, problem, c_order)
}

#[test]
fn every_policy_round_trips_through_the_trait_object() {
    for policy in [
        NonFinitePolicy::Error,
        NonFinitePolicy::SkipStep,
        NonFinitePolicy::Unchecked,
    ] {
        let mut opt = build::<f32>(&AdamConfig::default().into());
        opt.set_non_finite_policy(policy);
        assert_eq!(opt.non_finite_policy(), policy);
    }
}
