//! Every way of handing tensors to `step` gives the same numbers, bit for bit: owned arrays in C
//! or Fortran order, views into a larger buffer, strided views, negative strides, dynamic
//! dimensions, `Vec`s, tuples of mixed ranks, and optimizers behind `Box<dyn Optimizer>`.

use crate::common;

use ndarray::{
    Array1, Array2, Array3, ArrayD, ArrayViewMut1, ArrayViewMut2, Axis, IxDyn, ShapeBuilder, s,
};
use ndarray_optim::{Float, Optimizer};

const STEPS: usize = 6;

fn value(i: usize, j: usize) -> f64 {
    ((i * 7 + j * 3) as f64 * 0.37).sin()
}

fn grad(step: usize, i: usize, j: usize) -> f64 {
    ((i * 5 + j * 11 + step * 3) as f64 * 0.23).cos() * (1.0 + step as f64)
}

/// The reference: a C-order `Array2` updated on its own.
fn reference<A: Float>(opt: &mut dyn Optimizer<A>, rows: usize, cols: usize) -> Array2<A> {
    let mut w = Array2::from_shape_fn((rows, cols), |(i, j)| A::from_f64(value(i, j)));
    for step in 0..STEPS {
        let g = Array2::from_shape_fn((rows, cols), |(i, j)| A::from_f64(grad(step, i, j)));
        opt.step(&mut w, &g).unwrap();
    }
    w
}

fn assert_same<A: Float>(
    name: &str,
    layout: &str,
    got: impl IntoIterator<Item = A>,
    want: &Array2<A>,
) {
    let got: Vec<A> = got.into_iter().collect();
    let want: Vec<A> = want.iter().copied().collect();
    assert_eq!(got.len(), want.len());
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            g.widen().to_bits() == w.widen().to_bits(),
            "{name}, {layout}: element {k} is {g} instead of {w}"
        );
    }
}

fn all_layouts<A: Float>() {
    let (rows, cols) = (5, 7);
    let fresh = common::zoo::<A>;
    for index in 0..fresh().len() {
        let want = reference(fresh()[index].as_mut(), rows, cols);
        let name = fresh()[index].name();
        let init = |i: usize, j: usize| A::from_f64(value(i, j));
        let g_at = |step: usize| {
            Array2::from_shape_fn((rows, cols), |(i, j)| A::from_f64(grad(step, i, j)))
        };

        // Fortran order for the parameter, C order for the gradient, and both in F order.
        for f_grad in [false, true] {
            let mut opt = fresh().remove(index);
            let mut w = Array2::from_shape_fn((rows, cols).f(), |(i, j)| init(i, j));
            for step in 0..STEPS {
                let g = g_at(step);
                if f_grad {
                    let mut gf = Array2::zeros((rows, cols).f());
                    gf.assign(&g);
                    opt.step(&mut w, &gf).unwrap();
                } else {
                    opt.step(&mut w, &g).unwrap();
                }
            }
            assert_same(
                name,
                if f_grad {
                    "F-order param and grad"
                } else {
                    "F-order param"
                },
                w.iter().copied(),
                &want,
            );
        }

        // A strided view: every other column of a wider array; the other columns stay untouched.
        let mut opt = fresh().remove(index);
        let mut wide = Array2::from_shape_fn((rows, 2 * cols), |(i, j)| {
            if j % 2 == 0 {
                init(i, j / 2)
            } else {
                A::from_f64(-9.0)
            }
        });
        for step in 0..STEPS {
            let mut view: ArrayViewMut2<A> = wide.slice_mut(s![.., ..;2]);
            opt.step(&mut view, &g_at(step)).unwrap();
        }
        assert_same(
            name,
            "strided view",
            wide.slice(s![.., ..;2]).iter().copied(),
            &want,
        );
        assert!(
            wide.slice(s![.., 1..;2])
                .iter()
                .all(|&x| x == A::from_f64(-9.0))
        );

        // Negative strides: the parameter viewed with both axes reversed.
        let mut opt = fresh().remove(index);
        let mut flipped =
            Array2::from_shape_fn((rows, cols), |(i, j)| init(rows - 1 - i, cols - 1 - j));
        for step in 0..STEPS {
            let mut view = flipped.view_mut();
            view.invert_axis(Axis(0));
            view.invert_axis(Axis(1));
            opt.step(&mut view, &g_at(step)).unwrap();
        }
        let mut back = flipped.view();
        back.invert_axis(Axis(0));
        back.invert_axis(Axis(1));
        assert_same(name, "negative strides", back.iter().copied(), &want);

        // A dynamic-dimensional array with an IxDyn gradient.
        let mut opt = fresh().remove(index);
        let mut d = ArrayD::from_shape_fn(IxDyn(&[rows, cols]), |ix| init(ix[0], ix[1]));
        for step in 0..STEPS {
            opt.step(&mut d, &g_at(step).into_dyn()).unwrap();
        }
        assert_same(name, "IxDyn", d.iter().copied(), &want);

        // Views of one flat buffer, each row its own tensor, in a Vec; matches the reference
        // only for element-wise optimizers (LAMB's norms are per tensor), so compare with a run
        // over a Vec of owned rows.
        let mut opt_views = fresh().remove(index);
        let mut opt_rows = fresh().remove(index);
        let mut flat = Array1::from_shape_fn(rows * cols, |k| init(k / cols, k % cols));
        let mut owned: Vec<Array1<A>> = (0..rows)
            .map(|i| Array1::from_shape_fn(cols, |j| init(i, j)))
            .collect();
        for step in 0..STEPS {
            let g = g_at(step);
            let g_rows: Vec<Array1<A>> = g.axis_iter(Axis(0)).map(|r| r.to_owned()).collect();
            let mut views: Vec<ArrayViewMut1<A>> =
                flat.exact_chunks_mut(cols).into_iter().collect();
            opt_views.step(&mut views, &g_rows).unwrap();
            opt_rows.step(&mut owned, &g_rows).unwrap();
        }
        let owned_flat: Vec<A> = owned.iter().flat_map(|r| r.iter().copied()).collect();
        assert_same(
            name,
            "views of a flat buffer",
            flat.iter().copied(),
            &Array2::from_shape_vec((rows, cols), owned_flat).unwrap(),
        );
    }
}

#[test]
fn every_layout_gives_bit_identical_results_f64() {
    all_layouts::<f64>();
}

#[test]
fn every_layout_gives_bit_identical_results_f32() {
    all_layouts::<f32>();
}

#[test]
fn tensors_of_different_ranks_in_one_call_match_separate_optimizers() {
    // Element-wise optimizers treat tensors independently: a tuple of a matrix, a vector and a
    // 3-D tensor gives what three separate optimizers give. (LAMB's global gradient clipping
    // and Prodigy's estimate of its step size from sums over all tensors couple tensors on
    // purpose, so they are left out here.)
    for index in 0..common::zoo::<f64>().len() {
        let mut together = common::zoo::<f64>().remove(index);
        if matches!(together.name(), "Lamb" | "Prodigy") {
            continue;
        }
        let mut apart: Vec<Box<dyn Optimizer<f64>>> =
            (0..3).map(|_| common::zoo::<f64>().remove(index)).collect();
        let mut w = Array2::from_shape_fn((3, 4), |(i, j)| value(i, j));
        let mut b = Array1::from_shape_fn(4, |j| value(9, j));
        let mut c = Array3::from_shape_fn((2, 2, 3), |(i, j, k)| value(i + j, k));
        let (mut w2, mut b2, mut c2) = (w.clone(), b.clone(), c.clone());
        for step in 0..STEPS {
            let gw = Array2::from_shape_fn((3, 4), |(i, j)| grad(step, i, j));
            let gb = Array1::from_shape_fn(4, |j| grad(step, 7, j));
            let gc = Array3::from_shape_fn((2, 2, 3), |(i, j, k)| grad(step, i * 2 + j, k));
            together
                .step(&mut (&mut w, &mut b, &mut c), &(&gw, &gb, &gc))
                .unwrap();
            apart[0].step(&mut w2, &gw).unwrap();
            apart[1].step(&mut b2, &gb).unwrap();
            apart[2].step(&mut c2, &gc).unwrap();
        }
        assert_eq!(w, w2, "{}", together.name());
        assert_eq!(b, b2, "{}", together.name());
        assert_eq!(c, c2, "{}", together.name());
    }
}

#[test]
fn lamb_norms_do_not_depend_on_memory_order() {
    // Larger than one summation block, so the blocking matters.
    let (rows, cols) = (97, 131);
    let mut c = ndarray_optim::Lamb::<f32>::new(0.01).unwrap();
    let mut f = ndarray_optim::Lamb::<f32>::new(0.01).unwrap();
    let mut wc = Array2::from_shape_fn((rows, cols), |(i, j)| value(i, j) as f32);
    let mut wf = Array2::from_shape_fn((rows, cols).f(), |(i, j)| value(i, j) as f32);
    for step in 0..3 {
        let g = Array2::from_shape_fn((rows, cols), |(i, j)| grad(step, i, j) as f32);
        let mut gf = Array2::zeros((rows, cols).f());
        gf.assign(&g);
        c.step(&mut wc, &g).unwrap();
        f.step(&mut wf, &gf).unwrap();
    }
    assert!(
        wc.iter()
            .zip(wf.iter())
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
}

#[test]
fn prodigy_sums_do_not_depend_on_memory_order() {
    // Larger than one summation block, so the blocking matters; C order walks the blocks of a
    // slice, Fortran order and a strided view each element by its index, in logical order.
    let (rows, cols) = (97, 131);
    let mut opts: Vec<_> = (0..3)
        .map(|_| ndarray_optim::Prodigy::<f32>::new(1.0).unwrap())
        .collect();
    let start = |(i, j)| value(i, j) as f32;
    let mut wc = Array2::from_shape_fn((rows, cols), start);
    let mut wf = Array2::from_shape_fn((rows, cols).f(), start);
    let mut wide = Array2::from_shape_fn((rows, 2 * cols), |(i, j)| start((i, j / 2)));
    for step in 0..5 {
        // Gradients that keep a direction, so that d grows and the sums matter.
        let g = Array2::from_shape_fn((rows, cols), |(i, j)| (grad(step, i, j) + 0.5) as f32);
        let mut gf = Array2::zeros((rows, cols).f());
        gf.assign(&g);
        opts[0].step(&mut wc, &g).unwrap();
        opts[1].step(&mut wf, &gf).unwrap();
        let mut strided = wide.slice_mut(ndarray::s![.., ..;2]);
        opts[2].step(&mut strided, &g).unwrap();
    }
    let d = |opt: &ndarray_optim::Prodigy<f32>| opt.save_state().extra["group0.d"];
    assert!(f64::from_bits(d(&opts[0])) > 1e-6, "d grew");
    assert_eq!(d(&opts[0]), d(&opts[1]));
    assert_eq!(d(&opts[0]), d(&opts[2]));
    let strided = wide.slice(ndarray::s![.., ..;2]);
    for (other, name) in [(wf.view(), "Fortran order"), (strided, "strided")] {
        assert!(
            wc.iter()
                .zip(other.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{name}"
        );
    }
}
