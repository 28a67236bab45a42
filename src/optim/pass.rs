//! One fused pass over a tensor: the loops every optimizer's kernel runs its element update in.
//!
//! A kernel says *what* happens to one element (`|p, g, m, v| …`); a [`Pass`] decides *how* the
//! elements are visited:
//!
//! * **Flat**: parameter, gradient and state buffers are contiguous and share one memory order
//!   (C-order, Fortran-order or any axis permutation). The update is one linear loop over slices
//!   that the compiler vectorises, compiled for the best instruction set the CPU offers
//!   (AVX-512 or AVX2 with FMA on x86-64, chosen at run time), so `mul_add` is a single
//!   instruction and not a call into libm.
//! * **Strided**: anything else (strided views, negative strides, a Fortran-order gradient for a
//!   C-order parameter). ndarray's `Zip` walks the dynamic-dimensional views; same results,
//!   slower.
//!
//! Elementwise updates give bit-identical results on either path and at any SIMD width: each
//! element's arithmetic is the same sequence of IEEE operations. Reductions (norms) are
//! different: their result depends on the order of additions, so [`sum_of_squares`] and
//! [`Pass::sum_squares_logical`] always add in the tensor's logical (row-major) order with a
//! fixed blocking, whatever the memory layout.

#![allow(unsafe_code)] // `#[target_feature]` functions, called only after run-time detection.

use ndarray::{ArrayViewD, ArrayViewMutD, Dimension, IxDyn, ShapeBuilder, Zip};

use crate::float::Float;
use crate::tensor::{Tensor, TensorMut};

/// The parameter and gradient of one tensor, and the layout of its state buffers.
pub(crate) struct Pass<'a, A> {
    param: &'a mut dyn TensorMut<A>,
    grad: &'a dyn Tensor<A>,
    /// Strides (in elements) of the state buffers, which are contiguous by construction.
    state_strides: &'a [usize],
    /// Whether parameter, gradient and state share one contiguous memory order.
    flat: bool,
}

/// Strides for a contiguous state buffer in the same axis order as a tensor with `strides`: the
/// parameter's own memory order, so that its state is walked in step with it.
pub(crate) fn state_strides(shape: &[usize], strides: &[isize]) -> Vec<usize> {
    let mut axes: Vec<usize> = (0..shape.len()).collect();
    // Largest |stride| first = outermost axis; a stable sort keeps C order among ties.
    axes.sort_by_key(|&axis| std::cmp::Reverse(strides[axis].unsigned_abs()));
    let mut out = vec![0; shape.len()];
    let mut step = 1;
    for &axis in axes.iter().rev() {
        out[axis] = step;
        step *= shape[axis].max(1);
    }
    out
}

/// Whether a tensor with `strides` visits its elements in the same memory order as a buffer with
/// `state_strides`. Axes of length 0 or 1 never move, so their strides do not matter.
pub(crate) fn same_order(shape: &[usize], strides: &[isize], state_strides: &[usize]) -> bool {
    shape
        .iter()
        .zip(strides)
        .zip(state_strides)
        .all(|((&len, &s), &t)| len <= 1 || (s >= 0 && s.unsigned_abs() == t))
}

impl<'a, A: Float> Pass<'a, A> {
    /// Prepares a pass; the shapes of `param` and `grad` are equal (checked by the caller) and
    /// the state buffers hold `param`'s element count with `state_strides`.
    pub(crate) fn new(
        param: &'a mut dyn TensorMut<A>,
        grad: &'a dyn Tensor<A>,
        state_strides: &'a [usize],
    ) -> Self {
        let shape = param.shape();
        let flat = same_order(shape, param.strides(), state_strides)
            && same_order(shape, grad.strides(), state_strides)
            && param.as_slice_memory_order().is_some()
            && grad.as_slice_memory_order().is_some();
        Pass {
            param,
            grad,
            state_strides,
            flat,
        }
    }

    /// Number of elements of the tensor.
    pub(crate) fn len(&self) -> usize {
        self.param.shape().iter().product()
    }

    /// A view of a state buffer with the tensor's shape.
    fn state_view<'b>(&self, buffer: &'b mut [A]) -> ArrayViewMutD<'b, A> {
        let shape = IxDyn(self.param.shape()).strides(IxDyn(self.state_strides));
        ArrayViewMutD::from_shape(shape, buffer)
            .expect("a state buffer always holds its tensor's elements")
    }

    /// Applies `f(p, g)` to every element.
    pub(crate) fn zip(&mut self, mut f: impl FnMut(&mut A, A)) {
        if self.flat
            && let (Some(p), Some(g)) = (
                self.param.as_slice_memory_order_mut(),
                self.grad.as_slice_memory_order(),
            )
        {
            return with_simd(
                #[inline(always)]
                || {
                    let g = &g[..p.len()];
                    for (p, &g) in p.iter_mut().zip(g) {
                        f(p, g);
                    }
                },
            );
        }
        let g = self.grad.view_dyn();
        Zip::from(self.param.view_dyn_mut())
            .and(&g)
            .for_each(|p, &g| f(p, g));
    }

    /// Applies `f(p, g, s0)` to every element, `s0` from the state buffer `s0`.
    pub(crate) fn zip1(&mut self, s0: &mut [A], mut f: impl FnMut(&mut A, A, &mut A)) {
        if self.flat
            && let (Some(p), Some(g)) = (
                self.param.as_slice_memory_order_mut(),
                self.grad.as_slice_memory_order(),
            )
        {
            return with_simd(
                #[inline(always)]
                || {
                    let n = p.len();
                    let (g, s0) = (&g[..n], &mut s0[..n]);
                    for ((p, &g), s0) in p.iter_mut().zip(g).zip(s0) {
                        f(p, g, s0);
                    }
                },
            );
        }
        let g = self.grad.view_dyn();
        let s0 = self.state_view(s0);
        Zip::from(self.param.view_dyn_mut())
            .and(&g)
            .and(s0)
            .for_each(|p, &g, s0| f(p, g, s0));
    }

    /// Applies `f(p, g, s0, s1)` to every element.
    pub(crate) fn zip2(
        &mut self,
        s0: &mut [A],
        s1: &mut [A],
        mut f: impl FnMut(&mut A, A, &mut A, &mut A),
    ) {
        if self.flat
            && let (Some(p), Some(g)) = (
                self.param.as_slice_memory_order_mut(),
                self.grad.as_slice_memory_order(),
            )
        {
            return with_simd(
                #[inline(always)]
                || {
                    let n = p.len();
                    let (g, s0, s1) = (&g[..n], &mut s0[..n], &mut s1[..n]);
                    for (((p, &g), s0), s1) in p.iter_mut().zip(g).zip(s0).zip(s1) {
                        f(p, g, s0, s1);
                    }
                },
            );
        }
        let g = self.grad.view_dyn();
        let s0 = self.state_view(s0);
        let s1 = self.state_view(s1);
        Zip::from(self.param.view_dyn_mut())
            .and(&g)
            .and(s0)
            .and(s1)
            .for_each(|p, &g, s0, s1| f(p, g, s0, s1));
    }

    /// Applies `f(p, g, s0, s1, s2)` to every element.
    pub(crate) fn zip3(
        &mut self,
        s0: &mut [A],
        s1: &mut [A],
        s2: &mut [A],
        mut f: impl FnMut(&mut A, A, &mut A, &mut A, &mut A),
    ) {
        if self.flat
            && let (Some(p), Some(g)) = (
                self.param.as_slice_memory_order_mut(),
                self.grad.as_slice_memory_order(),
            )
        {
            return with_simd(
                #[inline(always)]
                || {
                    let n = p.len();
                    let (g, s0, s1, s2) = (&g[..n], &mut s0[..n], &mut s1[..n], &mut s2[..n]);
                    for ((((p, &g), s0), s1), s2) in p.iter_mut().zip(g).zip(s0).zip(s1).zip(s2) {
                        f(p, g, s0, s1, s2);
                    }
                },
            );
        }
        let g = self.grad.view_dyn();
        let s0 = self.state_view(s0);
        let s1 = self.state_view(s1);
        let s2 = self.state_view(s2);
        Zip::from(self.param.view_dyn_mut())
            .and(&g)
            .and(s0)
            .and(s1)
            .and(s2)
            .for_each(|p, &g, s0, s1, s2| f(p, g, s0, s1, s2));
    }

    /// `(Σ a², Σ b²)` over the elements, where `(a, b) = f(p, g, s0, s1)` is computed from the
    /// parameter, gradient and two state buffers, all read-only. Summed in the tensor's logical
    /// order with the fixed blocking of [`SquareSum`], so the result does not depend on the
    /// memory layout.
    pub(crate) fn sum_squares_logical(
        &self,
        s0: &[A],
        s1: &[A],
        mut f: impl FnMut(A, A, A, A) -> (A, A),
    ) -> (f64, f64) {
        let (mut sa, mut sb) = (SquareSum::default(), SquareSum::default());
        let p = self.param.view_dyn();
        let g = self.grad.view_dyn();
        if let (Some(p), Some(g), true) = (p.as_slice(), g.as_slice(), self.is_row_major()) {
            // Memory order is logical order: plain slices.
            let n = p.len();
            let (g, s0, s1) = (&g[..n], &s0[..n], &s1[..n]);
            for i in 0..n {
                let (a, b) = f(p[i], g[i], s0[i], s1[i]);
                sa.add(a);
                sb.add(b);
            }
        } else {
            let s0 = self.state_view_ref(s0);
            let s1 = self.state_view_ref(s1);
            // `ArrayBase::iter` always visits elements in logical (row-major) order.
            for (((&p, &g), &s0), &s1) in p.iter().zip(g.iter()).zip(s0.iter()).zip(s1.iter()) {
                let (a, b) = f(p, g, s0, s1);
                sa.add(a);
                sb.add(b);
            }
        }
        (sa.finish(), sb.finish())
    }

    /// Whether the state buffers are laid out in row-major order (C order).
    fn is_row_major(&self) -> bool {
        let mut expected = 1;
        for (&len, &stride) in self.param.shape().iter().zip(self.state_strides).rev() {
            if len > 1 && stride != expected {
                return false;
            }
            expected *= len.max(1);
        }
        true
    }

    fn state_view_ref<'b>(&self, buffer: &'b [A]) -> ArrayViewD<'b, A> {
        let shape = IxDyn(self.param.shape()).strides(IxDyn(self.state_strides));
        ArrayViewD::from_shape(shape, buffer)
            .expect("a state buffer always holds its tensor's elements")
    }
}

/// A sum of squares accumulated in `f64` in a fixed order: blocks of [`SquareSum::BLOCK`]
/// elements, each summed in 8 interleaved lanes, the lanes added pairwise, the block sums added
/// in sequence. The order depends only on each element's position, so the result is the same on
/// every machine, every SIMD width and (once work is split into whole blocks) every thread count.
#[derive(Default)]
pub(crate) struct SquareSum {
    lanes: [f64; 8],
    in_block: usize,
    total: f64,
}

impl SquareSum {
    /// Elements per block.
    pub(crate) const BLOCK: usize = 4096;

    #[inline(always)]
    pub(crate) fn add<A: Float>(&mut self, x: A) {
        let x = x.widen();
        self.lanes[self.in_block % 8] += x * x;
        self.in_block += 1;
        if self.in_block == Self::BLOCK {
            self.close_block();
        }
    }

    fn close_block(&mut self) {
        let l = &self.lanes;
        self.total += ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
        self.lanes = [0.0; 8];
        self.in_block = 0;
    }

    pub(crate) fn finish(mut self) -> f64 {
        self.close_block();
        self.total
    }
}

/// `Σ x²` over a tensor, in logical order (see [`SquareSum`]).
pub(crate) fn sum_of_squares<A: Float>(t: &dyn Tensor<A>) -> f64 {
    let mut sum = SquareSum::default();
    let view = t.view_dyn();
    match view.as_slice() {
        Some(s) => s.iter().for_each(|&x| sum.add(x)),
        None => view.iter().for_each(|&x| sum.add(x)),
    }
    sum.finish()
}

/// The first non-finite element of a tensor (in row-major order) and its index, if any.
pub(crate) fn first_non_finite<A: Float>(t: &dyn Tensor<A>) -> Option<(Vec<usize>, A)> {
    if let Some(s) = t.as_slice_memory_order() {
        // Fast scan without early exit inside a chunk, so the compiler can vectorise it.
        let all_finite = with_simd(
            #[inline(always)]
            || {
                s.chunks(1024)
                    .all(|c| c.iter().fold(true, |ok, x| ok & x.is_finite()))
            },
        );
        if all_finite {
            return None;
        }
    }
    t.view_dyn()
        .indexed_iter()
        .find(|(_, x)| !x.is_finite())
        .map(|(index, &x)| (index.slice().to_vec(), x))
}

/// Runs `body` compiled for the widest vector instructions this CPU supports.
///
/// `body` must be `#[inline(always)]` (and so must the element closures it calls) so that it is
/// compiled inside the `#[target_feature]` function; otherwise it keeps the baseline codegen, where
/// `mul_add` is a libm call and the loop does not vectorise.
#[inline(always)]
fn with_simd<R>(body: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports every feature `avx512` is compiled for.
            return unsafe { avx512(body) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports every feature `avx2` is compiled for.
            return unsafe { avx2(body) };
        }
    }
    body()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn avx512<R>(body: impl FnOnce() -> R) -> R {
    body()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn avx2<R>(body: impl FnOnce() -> R) -> R {
    body()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_follows_the_parameter_memory_order() {
        assert_eq!(state_strides(&[2, 3], &[3, 1]), vec![3, 1]);
        assert_eq!(state_strides(&[2, 3], &[1, 2]), vec![1, 2]);
        assert_eq!(state_strides(&[2, 3, 4], &[1, 8, 2]), vec![1, 8, 2]);
        // A strided view (every other column) still gets a contiguous buffer in its order.
        assert_eq!(state_strides(&[2, 3], &[6, 2]), vec![3, 1]);
        assert_eq!(state_strides(&[], &[]), Vec::<usize>::new());
    }

    #[test]
    fn square_sum_does_not_depend_on_blocking_of_the_caller() {
        let xs: Vec<f64> = (0..10_000).map(|i| (i as f64 * 0.37).sin() * 1e3).collect();
        let mut one = SquareSum::default();
        xs.iter().for_each(|&x| one.add(x));
        let direct: f64 = xs.iter().map(|x| x * x).sum();
        let ours = one.finish();
        assert!((ours - direct).abs() <= 1e-9 * direct, "{ours} vs {direct}");
    }
}
