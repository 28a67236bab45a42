//! Clipping never allocates, and `MultiSteps` allocates only its buffers (first call) and, through
//! its inner optimizer, the inner state (first inner step): proven with a counting global
//! allocator, in a test binary of its own, for f32 and f64, over tensors of ranks 0 to 3 and
//! several layouts in one call (C order, Fortran order, a strided view). (Tensors of more than
//! four dimensions are left out: ndarray keeps their shapes on the heap and copies them in its
//! own contiguity checks, in the optimizers' `step` as here.)

use super::allocations;

use ndarray::{Array0, Array1, Array2, Array3, ShapeBuilder, arr0, s};
use ndarray_optim::{
    Adam, Float, Lamb, Lookahead, LookaheadConfig, Momentum, MultiSteps, MultiStepsConfig,
    Optimizer, Sgd, clip_grad_norm, clip_grad_norm_per_tensor, clip_grad_value,
    clip_grads_with_norm, total_norm,
};

/// Tensors of several ranks and layouts, and a gradient for each.
struct Model<A> {
    w: Array2<A>,
    b: Array1<A>,
    c: Array3<A>,
    wide: Array2<A>,
    scalar: Array0<A>,
}

impl<A: Float> Model<A> {
    fn new(scale: f64) -> Self {
        let v = |i: usize| A::from_f64(((i as f64) * 0.37).sin() * scale);
        Model {
            w: Array2::from_shape_fn((16, 9), |(i, j)| v(i * 9 + j)),
            b: Array1::from_shape_fn(9, v),
            c: Array3::from_shape_fn((2, 3, 4).f(), |(i, j, k)| v(i * 12 + j * 4 + k)),
            wide: Array2::from_shape_fn((8, 12), |(i, j)| v(i * 12 + j)),
            scalar: arr0(v(5)),
        }
    }
}

fn clipping<A: Float>() {
    let mut g = Model::<A>::new(10.0);
    let call = |g: &mut Model<A>| {
        let mut strided = g.wide.slice_mut(s![.., ..;2]);
        let mut list = (&mut g.w, &mut g.b, &mut g.c, &mut strided, &mut g.scalar);
        for norm_type in [0.5, 1.0, 2.0, 3.5, f64::INFINITY] {
            let norm = total_norm(&list, norm_type, true).unwrap();
            clip_grad_norm(&mut list, 1.0, norm_type, true).unwrap();
            clip_grad_norm_per_tensor(&mut list, 1.0, norm_type, true).unwrap();
            clip_grads_with_norm(&mut list, 0.5, norm).unwrap();
        }
        clip_grad_value(&mut list, 0.01).unwrap();
    };
    for _ in 0..3 {
        assert_eq!(allocations(|| call(&mut g)), 0, "clipping allocated");
    }
}

fn accumulation<A: Float>() {
    let inners: Vec<Box<dyn Optimizer<A>>> = vec![
        Box::new(Sgd::new(0.1).unwrap()),
        Box::new(Momentum::new(0.1, 0.9).unwrap()),
        Box::new(Adam::new(0.01).unwrap()),
        Box::new(Lamb::new(0.01).unwrap()),
    ];
    for inner in inners {
        let name = inner.name();
        for clip in [false, true] {
            let max_grad_norm = clip.then_some(1.0);
            let mut opt = MultiStepsConfig::default()
                .every_k(3)
                .max_grad_norm(max_grad_norm)
                .build(inner.clone_box())
                .unwrap();
            let mut p = Model::<A>::new(1.0);
            let g = Model::<A>::new(0.5);
            let gs = g.wide.slice(s![.., ..;2]);
            let mut call = |opt: &mut MultiSteps<A, Box<dyn Optimizer<A>>>| {
                let mut strided = p.wide.slice_mut(s![.., ..;2]);
                opt.step(
                    &mut (&mut p.w, &mut p.b, &mut p.c, &mut strided, &mut p.scalar),
                    &(&g.w, &g.b, &g.c, &gs, &g.scalar),
                )
                .unwrap();
            };
            assert!(allocations(|| call(&mut opt)) > 0, "the buffers");
            assert_eq!(allocations(|| call(&mut opt)), 0, "{name}: accumulating");
            assert!(
                allocations(|| call(&mut opt)) > 0,
                "{name}: the inner state"
            );
            assert!(opt.last_call_stepped());
            for call_number in 4..=12 {
                let n = allocations(|| call(&mut opt));
                assert_eq!(
                    n, 0,
                    "{name} (clip {clip}): {n} allocations at call {call_number}"
                );
            }
            assert_eq!(opt.step_count(), 4);
            opt.set_learning_rate(opt.learning_rate() * 0.5).unwrap();
            assert_eq!(
                allocations(|| call(&mut opt)),
                0,
                "{name}: after set_learning_rate"
            );
        }
    }
}

/// Lookahead: the slow weights on the first step, the inner optimizer's state on its own first
/// step; nothing afterwards, synchronisations included.
fn lookahead<A: Float>() {
    let inners: Vec<Box<dyn Optimizer<A>>> = vec![
        Box::new(Sgd::new(0.1).unwrap()),
        Box::new(Momentum::new(0.1, 0.9).unwrap()),
        Box::new(Adam::new(0.01).unwrap()),
        Box::new(Lamb::new(0.01).unwrap()),
    ];
    for inner in inners {
        let name = inner.name();
        let mut opt = LookaheadConfig::default().k(2).build(inner).unwrap();
        let mut p = Model::<A>::new(1.0);
        let g = Model::<A>::new(0.5);
        let gs = g.wide.slice(s![.., ..;2]);
        let mut call = |opt: &mut Lookahead<A, Box<dyn Optimizer<A>>>| {
            let mut strided = p.wide.slice_mut(s![.., ..;2]);
            opt.step(
                &mut (&mut p.w, &mut p.b, &mut p.c, &mut strided, &mut p.scalar),
                &(&g.w, &g.b, &g.c, &gs, &g.scalar),
            )
            .unwrap();
        };
        assert!(
            allocations(|| call(&mut opt)) > 0,
            "{name}: the slow weights"
        );
        for call_number in 2..=9 {
            let n = allocations(|| call(&mut opt));
            assert_eq!(n, 0, "{name}: {n} allocations at call {call_number}");
        }
        assert_eq!(opt.lookahead_step(), 9);
    }
}

#[test]
fn lookahead_allocates_only_on_the_first_step() {
    lookahead::<f32>();
    lookahead::<f64>();
}

#[test]
fn clipping_never_allocates() {
    clipping::<f32>();
    clipping::<f64>();
}

#[test]
fn accumulation_allocates_only_on_the_first_call_and_the_first_inner_step() {
    accumulation::<f32>();
    accumulation::<f64>();
}
