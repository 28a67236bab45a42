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

use ndarray::{ArrayView1, ArrayViewD, ArrayViewMutD, Axis, Dimension, IxDyn, ShapeBuilder, Zip};

use crate::float::Float;
use crate::float::random::random_bits;
use crate::lowbit::{BlocksMut, MAX_BLOCK, Quantized};
use crate::tensor::{Tensor, TensorMut};

/// Runs `body` with run-time decisions turned into constants: each `const NAME: T = value;`
/// line expands the rest once per possible value, with `NAME` a true constant in each copy.
///
/// This is how a kernel keeps its element loop free of variant decisions (maximize, the form of
/// weight decay, AMSGrad, RAdam's rectification, Nesterov, centered RMSProp, LAMB's options, …):
/// the decision is made once per tensor, outside the loop, and every copy of the loop is
/// straight-line arithmetic that the compiler vectorises with AVX2 and NEON as well as AVX-512,
/// where masked instructions would otherwise rescue a branch inside the loop.
///
/// ```ignore
/// unswitch! {
///     const MAXIMIZE: bool = decay.maximize();
///     const DECAY: Decay = decay.form() => [Decay::None, Decay::Coupled, Decay::Decoupled];
///     pass.zip1(buf, |p, g, b| { let g = decay.apply(p, g, MAXIMIZE, DECAY); … })
/// }
/// ```
///
/// A `bool` takes both values; any other type lists the values it can take (a value outside the
/// list is a bug, and panics). The loops are instantiated once per combination, so list only
/// decisions that change the element arithmetic; structural ones (which state buffers exist)
/// are a plain `match` around different `zip` calls.
macro_rules! unswitch {
    (const $name:ident : bool = $value:expr ; $($rest:tt)+) => {
        if $value {
            const $name: bool = true;
            $crate::pass::unswitch!($($rest)+)
        } else {
            const $name: bool = false;
            $crate::pass::unswitch!($($rest)+)
        }
    };
    (const $name:ident : $ty:ty = $value:expr => [$($variant:path),+ $(,)?] ; $($rest:tt)+) => {
        $crate::pass::unswitch!(@match $name, $ty, ($value), [$($variant),+], { $($rest)+ })
    };
    (@match $name:ident, $ty:ty, ($value:expr), [$($variant:path),+], $rest:tt) => {
        match $value {
            $($variant => {
                const $name: $ty = $variant;
                $crate::pass::unswitch!(@rest $rest)
            })+
            #[allow(unreachable_patterns)]
            other => unreachable!("{other:?} is not one of the listed variants"),
        }
    };
    (@rest { $($rest:tt)+ }) => { $crate::pass::unswitch!($($rest)+) };
    ($($body:tt)+) => {{ $($body)+ }};
}
pub(crate) use unswitch;

/// Runs `body` with `$store`, the store of a parameter's new values (`store(x, i)`: the value
/// `x` of element `i`, in the type of the arithmetic, as the element type): to nearest, or with
/// stochastic rounding (`bf16` only) when `$stochastic` holds the stream key of the tensor and
/// step, from [`random_bits`] of the key and `i`. Every loop that writes a parameter, the
/// pass's and a kernel's own (Adafactor's rows, SparseAdam's), stores through it, so that the
/// rule and the bits are the same everywhere: `i` is the element's position in the tensor's
/// state buffers (for a kernel's own row loops, its logical position). The choice is made
/// once, outside the loop; `body` is expanded once per choice.
macro_rules! with_store {
    ($A:ty, $stochastic:expr, |$store:ident| $body:expr) => {
        match $stochastic {
            Some(key) if <$A>::STOCHASTIC => {
                let $store = move |x, i: usize| {
                    <$A>::from_compute_stochastic(x, $crate::float::random::random_bits(key, i))
                };
                $body
            }
            _ => {
                let $store = |x, _: usize| -> $A { $crate::float::Float::from_compute(x) };
                $body
            }
        }
    };
}
pub(crate) use with_store;

/// When work is split across threads (the `rayon` feature).
#[cfg(feature = "rayon")]
pub(crate) mod parallel {
    /// Elements per chunk handed to a thread: large enough that scheduling costs nothing next
    /// to the work, small enough to balance two to a few dozen threads; a multiple of
    /// [`OrderedSum::BLOCK`](super::OrderedSum::BLOCK) so that norms split on block boundaries.
    pub(crate) const CHUNK: usize = 1 << 15;

    /// Tensors smaller than this are updated on the calling thread: below it, handing work to
    /// another thread costs more than it saves (measured with `benches/step.rs`, rayon group).
    pub const MIN_LEN: usize = 1 << 16;

    /// Whether a tensor of `len` elements is worth splitting.
    pub(crate) fn split(len: usize) -> bool {
        len >= MIN_LEN && rayon::current_num_threads() > 1
    }
}

/// The parameter and gradient of one tensor, and the layout of its state buffers.
pub(crate) struct Pass<'a, A> {
    param: &'a mut dyn TensorMut<A>,
    grad: &'a dyn Tensor<A>,
    /// Strides (in elements) of the state buffers, which are contiguous by construction.
    state_strides: &'a [usize],
    /// Whether parameter, gradient and state share one contiguous memory order.
    flat: bool,
    /// The key of the tensor's random stream at this step, when its parameter is rounded
    /// stochastically.
    stochastic: Option<u64>,
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

/// The element loop over contiguous slices of equal length, compiled for the CPU's best SIMD.
///
/// The element closure is copied into the SIMD function's own frame first: its captured scalars
/// then live in registers, where no store through the slices can reach them. Captured by
/// reference (or left behind a pointer), every scalar would be reloaded after every store, as
/// far as the compiler can tell, and a loop with a select on one of them (`β = 0`, `lr = 0`)
/// would not vectorise.
macro_rules! flat_loop {
    ($f:ident, $p:ident, $g:ident $(, $s:ident : $v:ident)*) => {
        flat_loop!(@store |x, _| Float::from_compute(x), 0, $f, $p, $g $(, $s: $v)*)
    };
    // `store(x, i)` stores the parameter's new value `x` at element `i` of the tensor (the
    // slices start at element `offset`): rounding to nearest, or stochastically.
    (@store $store:expr, $offset:expr, $f:ident, $p:ident, $g:ident $(, $s:ident : $v:ident)*) => {
        with_simd(
            #[inline(always)]
            || {
                let $f = $f;
                let store = $store;
                let offset: usize = $offset;
                let n = $p.len();
                let $g = &$g[..n];
                $(let $s = &mut $s[..n];)*
                // Each element read into the type of the arithmetic and stored back rounded:
                // for `f32` and `f64` both are the identity, and this is the plain loop.
                for i in 0..n {
                    let mut p = $p[i].to_compute();
                    $(let mut $v = $s[i].to_compute();)*
                    $f(&mut p, $g[i].to_compute() $(, &mut $v)*);
                    $p[i] = store(p, offset + i);
                    $($s[i] = Float::from_compute($v);)*
                }
            },
        )
    };
}

/// [`flat_loop!`] for an element closure that reads the parameter without changing it and
/// returns whether the element counts (cautious masking: the elements whose update agrees in
/// sign with the gradient), returning the count. The state is read into the type of the
/// arithmetic and stored back rounded, as [`flat_loop!`] does; the parameter is not stored.
macro_rules! flat_count {
    ($f:ident, $p:ident, $g:ident $(, $s:ident : $v:ident)*) => {
        with_simd(
            #[inline(always)]
            || {
                let $f = $f;
                let n = $p.len();
                let $g = &$g[..n];
                $(let $s = &mut $s[..n];)*
                let mut count = 0usize;
                for i in 0..n {
                    $(let mut $v = $s[i].to_compute();)*
                    count += usize::from($f($p[i].to_compute(), $g[i].to_compute() $(, &mut $v)*));
                    $($s[i] = Float::from_compute($v);)*
                }
                count
            },
        )
    };
}

/// A `zipN_count` method of [`Pass`]: as the `zipN` method, with an element closure that reads
/// the parameter by value (a counting pass never changes it, so that a parameter is stored,
/// and rounded, once per step: by the pass that takes the step) and says whether the element
/// counts; returns the number of elements that do (an exact count, whatever the order or
/// thread split).
macro_rules! zip_count_method {
    ($(#[$doc:meta])* $name:ident($($s:ident : $v:ident),*)) => {
        $(#[$doc])*
        pub(crate) fn $name(
            &mut self,
            $($s: &mut [A],)*
            f: impl Fn(A::Compute, A::Compute $(, zip_method!(@element $s))*) -> bool + Copy + Sync,
        ) -> usize {
            if self.flat
                && let (Some(p), Some(g)) = (
                    self.param.as_slice_memory_order(),
                    self.grad.as_slice_memory_order(),
                )
            {
                #[cfg(feature = "rayon")]
                if parallel::split(p.len()) {
                    use rayon::prelude::*;
                    let chunk = parallel::CHUNK;
                    let n = p.len();
                    return (p.par_chunks(chunk), g[..n].par_chunks(chunk) $(, $s[..n].par_chunks_mut(chunk))*)
                        .into_par_iter()
                        .map(|(p, g $(, $s)*)| flat_count!(f, p, g $(, $s: $v)*))
                        .sum();
                }
                return flat_count!(f, p, g $(, $s: $v)*);
            }
            let p = self.param.view_dyn();
            let g = self.grad.view_dyn();
            $(let $s = self.state_view($s);)*
            Zip::from(&p)
                .and(&g)
                $(.and($s))*
                .fold(0usize, |count, &p, &g $(, $s)*| {
                    $(let mut $v = $s.to_compute();)*
                    let counts = f(p.to_compute(), g.to_compute() $(, &mut $v)*);
                    $(*$s = Float::from_compute($v);)*
                    count + usize::from(counts)
                })
        }
    };
}

/// A `zipN` method of [`Pass`]: the flat loop (split across threads for large tensors with the
/// `rayon` feature) or, for other layouts, ndarray's `Zip` over dynamic-dimensional views. With
/// stochastic rounding (`bf16` only) the parameter's new values are rounded by
/// [`random_bits`] of the tensor's stream and each element's position in the parameter's memory
/// order (its state buffers' order), whatever the thread count.
macro_rules! zip_method {
    ($(#[$doc:meta])* $name:ident($($s:ident : $v:ident),*)) => {
        $(#[$doc])*
        pub(crate) fn $name(
            &mut self,
            $($s: &mut [A],)*
            f: impl Fn(&mut A::Compute, A::Compute $(, zip_method!(@element $s))*) + Copy + Sync,
        ) {
            match self.stochastic {
                Some(key) if A::STOCHASTIC => zip_method!(
                    @body self, true,
                    move |x, i| A::from_compute_stochastic(x, random_bits(key, i)),
                    f $(, $s: $v)*
                ),
                _ => zip_method!(@body self, false, |x, _| Float::from_compute(x), f $(, $s: $v)*),
            }
        }
    };
    (@body $self:ident, $indexed:expr, $store:expr, $f:ident $(, $s:ident : $v:ident)*) => {{
        let store = $store;
        let f = $f;
        if $self.flat
            && let (Some(p), Some(g)) = (
                $self.param.as_slice_memory_order_mut(),
                $self.grad.as_slice_memory_order(),
            )
        {
            #[cfg(feature = "rayon")]
            if parallel::split(p.len()) {
                use rayon::prelude::*;
                let chunk = parallel::CHUNK;
                let n = p.len();
                return (p.par_chunks_mut(chunk), g[..n].par_chunks(chunk) $(, $s[..n].par_chunks_mut(chunk))*)
                    .into_par_iter()
                    .enumerate()
                    .for_each(|(c, (p, g $(, $s)*))| {
                        flat_loop!(@store store, c * chunk, f, p, g $(, $s: $v)*)
                    });
            }
            return flat_loop!(@store store, 0, f, p, g $(, $s: $v)*);
        }
        let g = $self.grad.view_dyn();
        if $indexed {
            // In logical order, each element's position in the state buffers (the
            // parameter's memory order) computed from its index.
            let strides = $self.state_strides;
            for (index, p) in $self.param.view_dyn_mut().indexed_iter_mut() {
                let index = index.slice();
                let i: usize = index.iter().zip(strides).map(|(i, s)| i * s).sum();
                let mut value = p.to_compute();
                $(let mut $v = $s[i].to_compute();)*
                f(&mut value, g[index].to_compute() $(, &mut $v)*);
                *p = store(value, i);
                $($s[i] = Float::from_compute($v);)*
            }
            return;
        }
        $(let $s = $self.state_view($s);)*
        Zip::from($self.param.view_dyn_mut())
            .and(&g)
            $(.and($s))*
            .for_each(|p, &g $(, $s)*| {
                let mut value = p.to_compute();
                $(let mut $v = $s.to_compute();)*
                f(&mut value, g.to_compute() $(, &mut $v)*);
                *p = store(value, 0);
                $(*$s = Float::from_compute($v);)*
            });
    }};
    (@element $s:ident) => { &mut A::Compute };
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
            stochastic: None,
        }
    }

    /// Rounds the parameter's new values stochastically, from the stream `key` (the
    /// [`stream_key`](crate::float::random::stream_key) of the tensor and step).
    pub(crate) fn round_stochastically(&mut self, key: u64) {
        self.stochastic = Some(key);
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

    zip_method! {
        /// Applies `f(p, g)` to every element.
        zip()
    }
    zip_method! {
        /// Applies `f(p, g, s0)` to every element, `s0` from the state buffer `s0`.
        zip1(s0: v0)
    }
    zip_method! {
        /// Applies `f(p, g, s0, s1)` to every element.
        zip2(s0: v0, s1: v1)
    }
    zip_method! {
        /// Applies `f(p, g, s0, s1, s2)` to every element.
        zip3(s0: v0, s1: v1, s2: v2)
    }
    zip_method! {
        /// Applies `f(p, g, s0, s1, s2, s3)` to every element.
        zip4(s0: v0, s1: v1, s2: v2, s3: v3)
    }
    zip_count_method! {
        /// [`zip1`](Pass::zip1) with an `f` that says whether the element counts; returns the
        /// number of elements that do (an exact count, whatever the order or thread split).
        zip1_count(s0: v0)
    }
    zip_count_method! {
        /// [`zip2`](Pass::zip2) with an `f` that says whether the element counts.
        zip2_count(s0: v0, s1: v1)
    }

    /// `(Σ a², Σ b²)` over the elements, where `(a, b) = f(p, g, s0, s1)` is computed from the
    /// parameter, gradient and two state buffers, all read-only. Summed in the tensor's logical
    /// order with the fixed blocking of [`OrderedSum`], so the result does not depend on the
    /// memory layout.
    pub(crate) fn sum_squares_logical(
        &self,
        s0: &[A],
        s1: &[A],
        f: impl Fn(A::Compute, A::Compute, A::Compute, A::Compute) -> (A::Compute, A::Compute)
        + Copy
        + Sync,
    ) -> (f64, f64) {
        let p = self.param.view_dyn();
        let g = self.grad.view_dyn();
        if let (Some(p), Some(g), true) = (p.as_slice(), g.as_slice(), self.is_row_major()) {
            // Memory order is logical order: whole blocks of plain slices.
            let n = p.len();
            let (g, s0, s1) = (&g[..n], &s0[..n], &s1[..n]);
            return sum_blocks(n, |start| {
                let end = (start + OrderedSum::BLOCK).min(n);
                let (p, g) = (&p[start..end], &g[start..end]);
                let (s0, s1) = (&s0[start..end], &s1[start..end]);
                with_simd(
                    #[inline(always)]
                    || {
                        block_terms(
                            p,
                            g,
                            s0,
                            s1,
                            #[inline(always)]
                            |p: A, g: A, s0: A, s1: A| {
                                squares(f(
                                    p.to_compute(),
                                    g.to_compute(),
                                    s0.to_compute(),
                                    s1.to_compute(),
                                ))
                            },
                        )
                    },
                )
            });
        }
        let (mut sa, mut sb) = (OrderedSum::default(), OrderedSum::default());
        let s0 = self.state_view_ref(s0);
        let s1 = self.state_view_ref(s1);
        // `ArrayBase::iter` always visits elements in logical (row-major) order.
        for (((&p, &g), &s0), &s1) in p.iter().zip(g.iter()).zip(s0.iter()).zip(s1.iter()) {
            let (a, b) = squares(f(
                p.to_compute(),
                g.to_compute(),
                s0.to_compute(),
                s1.to_compute(),
            ));
            sa.add(a);
            sb.add(b);
        }
        (sa.finish(), sb.finish())
    }

    /// `(Σ p², Σ g²)` over the parameter and the gradient, read-only, in the tensor's logical
    /// order with the fixed blocking of [`OrderedSum`] (LARS's norms): the same bits for every
    /// memory layout.
    pub(crate) fn sum_squares_param_grad(&self) -> (f64, f64) {
        let p = self.param.view_dyn();
        let g = self.grad.view_dyn();
        if let (Some(p), Some(g)) = (p.as_slice(), g.as_slice()) {
            let n = p.len();
            let g = &g[..n];
            return sum_blocks(n, |start| {
                let end = (start + OrderedSum::BLOCK).min(n);
                let (p, g) = (&p[start..end], &g[start..end]);
                with_simd(
                    #[inline(always)]
                    || {
                        block_terms(
                            p,
                            g,
                            p,
                            g,
                            #[inline(always)]
                            |p, g, _, _| squares((p, g)),
                        )
                    },
                )
            });
        }
        let (mut sp, mut sg) = (OrderedSum::default(), OrderedSum::default());
        // `ArrayBase::iter` always visits elements in logical (row-major) order.
        for (&p, &g) in p.iter().zip(g.iter()) {
            let (p2, g2) = squares((p, g));
            sp.add(p2);
            sg.add(g2);
        }
        (sp.finish(), sg.finish())
    }

    /// [`zip2`](Pass::zip2) with `update`, then [`sum_squares_logical`](Pass::sum_squares_logical)
    /// with `terms` over the updated values: the same results, but for a row-major contiguous
    /// tensor in one pass over memory (each block is updated, then its terms summed while it is
    /// still in cache).
    pub(crate) fn zip2_then_sum_squares(
        &mut self,
        s0: &mut [A],
        s1: &mut [A],
        update: impl Fn(&mut A::Compute, A::Compute, &mut A::Compute, &mut A::Compute) + Copy + Sync,
        terms: impl Fn(A::Compute, A::Compute, A::Compute, A::Compute) -> (A::Compute, A::Compute)
        + Copy
        + Sync,
    ) -> (f64, f64) {
        let stochastic = self.stochastic.filter(|_| A::STOCHASTIC);
        if self.flat
            && self.is_row_major()
            && let (Some(p), Some(g)) = (
                self.param.as_slice_memory_order_mut(),
                self.grad.as_slice_memory_order(),
            )
        {
            let n = p.len();
            let (g, s0, s1) = (&g[..n], &mut s0[..n], &mut s1[..n]);
            const BLOCK: usize = OrderedSum::BLOCK;
            // Block `b` of the tensor: its parameter, gradient and two state slices.
            type Block<'s, A> = (usize, (&'s mut [A], &'s [A], &'s mut [A], &'s mut [A]));
            let block = |(b, (p, g, s0, s1)): Block<'_, A>| {
                match stochastic {
                    Some(key) => flat_loop!(
                        @store move |x, i| A::from_compute_stochastic(x, random_bits(key, i)),
                        b * BLOCK, update, p, g, s0: v0, s1: v1
                    ),
                    None => flat_loop!(update, p, g, s0: v0, s1: v1),
                }
                with_simd(
                    #[inline(always)]
                    || {
                        block_terms(
                            p,
                            g,
                            s0,
                            s1,
                            #[inline(always)]
                            |p: A, g: A, a: A, b: A| {
                                squares(terms(
                                    p.to_compute(),
                                    g.to_compute(),
                                    a.to_compute(),
                                    b.to_compute(),
                                ))
                            },
                        )
                    },
                )
            };
            let add = |(ta, tb): (f64, f64), (a, b): (f64, f64)| (ta + a, tb + b);
            #[cfg(feature = "rayon")]
            if parallel::split(n) {
                use rayon::prelude::*;
                let sums: Vec<(f64, f64)> = (
                    p.par_chunks_mut(BLOCK),
                    g.par_chunks(BLOCK),
                    s0.par_chunks_mut(BLOCK),
                    s1.par_chunks_mut(BLOCK),
                )
                    .into_par_iter()
                    .enumerate()
                    .map(block)
                    .collect();
                return sums.into_iter().fold((0.0, 0.0), add);
            }
            return p
                .chunks_mut(BLOCK)
                .zip(g.chunks(BLOCK))
                .zip(s0.chunks_mut(BLOCK))
                .zip(s1.chunks_mut(BLOCK))
                .enumerate()
                .map(|(b, (((p, g), s0), s1))| block((b, (p, g, s0, s1))))
                .fold((0.0, 0.0), add);
        }
        self.zip2(s0, s1, update);
        self.sum_squares_logical(s0, s1, terms)
    }

    /// Updates the `N` state buffers element by element with `f(p, g, [s₀, …])`, which reads
    /// the parameter without changing it, and returns the sums of the two terms `f` returns
    /// for each element, in `f64` in the tensor's logical order with the fixed blocking of
    /// [`OrderedSum`]: the same bits for every memory layout and thread count. One pass over
    /// memory for a row-major contiguous tensor (each block updated and summed while it is in
    /// cache); other layouts are walked in logical order, each element's state found from its
    /// index. The first pass of a two-pass step (Prodigy's `⟨g, x₀ − x⟩` and `‖s‖₁`).
    pub(crate) fn update_and_sum<const N: usize>(
        &mut self,
        state: [&mut [A]; N],
        f: impl Fn(A::Compute, A::Compute, &mut [A::Compute; N]) -> [f64; 2] + Copy + Sync,
    ) -> [f64; 2] {
        let p = self.param.view_dyn();
        let g = self.grad.view_dyn();
        if let (Some(p), Some(g), true) = (p.as_slice(), g.as_slice(), self.is_row_major()) {
            let n = p.len();
            let g = &g[..n];
            const BLOCK: usize = OrderedSum::BLOCK;
            let block = |b: usize, s: [&mut [A]; N]| {
                let start = b * BLOCK;
                let end = (start + s[0].len()).min(n);
                let (p, g) = (&p[start..end], &g[start..end]);
                with_simd(
                    #[inline(always)]
                    || block_update_terms(p, g, s, f),
                )
            };
            let add = |[ta, tb]: [f64; 2], [a, b]: [f64; 2]| [ta + a, tb + b];
            let mut rest = state.map(|s| &mut s[..n]);
            #[cfg(feature = "rayon")]
            if parallel::split(n) {
                use rayon::prelude::*;
                let mut blocks = Vec::with_capacity(n.div_ceil(BLOCK));
                while !rest[0].is_empty() {
                    blocks.push(split_front(&mut rest, BLOCK));
                }
                let sums: Vec<[f64; 2]> = blocks
                    .into_par_iter()
                    .enumerate()
                    .map(|(b, s)| block(b, s))
                    .collect();
                return sums.into_iter().fold([0.0; 2], add);
            }
            let mut total = [0.0; 2];
            let mut b = 0;
            while !rest[0].is_empty() {
                total = add(total, block(b, split_front(&mut rest, BLOCK)));
                b += 1;
            }
            return total;
        }
        let strides = self.state_strides;
        let mut state = state;
        let (mut sa, mut sb) = (OrderedSum::default(), OrderedSum::default());
        // `indexed_iter` visits the elements in logical (row-major) order.
        for (index, &p) in p.indexed_iter() {
            let index = index.slice();
            let i: usize = index.iter().zip(strides).map(|(i, s)| i * s).sum();
            let mut values: [A::Compute; N] = std::array::from_fn(|k| state[k][i].to_compute());
            let [a, b] = f(p.to_compute(), g[index].to_compute(), &mut values);
            for (buffer, value) in state.iter_mut().zip(values) {
                buffer[i] = Float::from_compute(value);
            }
            sa.add(a);
            sb.add(b);
        }
        [sa.finish(), sb.finish()]
    }

    /// The parameter, read-only (before or between element loops).
    pub(crate) fn param(&self) -> &dyn Tensor<A> {
        &*self.param
    }

    /// The parameter, writable, and the gradient: for updates that walk a tensor in a way of
    /// their own (SparseAdam's rows), in logical order so that every layout gives the same
    /// bits.
    pub(crate) fn tensors(&mut self) -> (&mut dyn TensorMut<A>, &dyn Tensor<A>) {
        (&mut *self.param, self.grad)
    }

    /// Applies `f(p, g)` to every element in the tensor's logical (row-major) order, whatever
    /// the memory layout: for updates that depend on an element's position (its row and column,
    /// counted by `f` itself). A plain slice loop when both tensors are row-major contiguous.
    /// With stochastic rounding, an element's random bits are those of its logical position.
    pub(crate) fn for_each_logical(&mut self, mut f: impl FnMut(&mut A::Compute, A::Compute)) {
        let g = self.grad.view_dyn();
        let mut p = self.param.view_dyn_mut();
        with_store!(A, self.stochastic, |store| {
            let mut element = |i: usize, p: &mut A, g: A| {
                let mut value = p.to_compute();
                f(&mut value, g.to_compute());
                *p = store(value, i);
            };
            if let (Some(p), Some(g)) = (p.as_slice_mut(), g.as_slice()) {
                let g = &g[..p.len()];
                for i in 0..p.len() {
                    element(i, &mut p[i], g[i]);
                }
                return;
            }
            p.iter_mut()
                .zip(g.iter())
                .enumerate()
                .for_each(|(i, (p, &g))| element(i, p, g));
        })
    }

    /// Applies `f(p, g, s0)` to every element, `s0` a block-wise quantised moment: block by
    /// block, the block's values dequantised into a buffer, `f` over the block's elements, the
    /// new values quantised again (torchao's low-bit state: the parameter's update sees the
    /// moment's new value before it is quantised). In logical order, as the codes are; a plain
    /// slice loop when both tensors are row-major contiguous. With stochastic rounding, an
    /// element's random bits are those of its logical position.
    pub(crate) fn zip1_quantized(
        &mut self,
        s0: &mut Quantized,
        f: impl Fn(&mut A::Compute, A::Compute, &mut A::Compute) + Copy + Sync,
    ) {
        self.zip_quantized(
            [s0],
            #[inline(always)]
            move |p, g, [v0]: &mut [A::Compute; 1]| f(p, g, v0),
        );
    }

    /// [`zip1_quantized`](Self::zip1_quantized) with two quantised moments (of one block size).
    pub(crate) fn zip2_quantized(
        &mut self,
        s0: &mut Quantized,
        s1: &mut Quantized,
        f: impl Fn(&mut A::Compute, A::Compute, &mut A::Compute, &mut A::Compute) + Copy + Sync,
    ) {
        self.zip_quantized(
            [s0, s1],
            #[inline(always)]
            move |p, g, [v0, v1]: &mut [A::Compute; 2]| f(p, g, v0, v1),
        );
    }

    fn zip_quantized<const K: usize>(
        &mut self,
        states: [&mut Quantized; K],
        f: impl Fn(&mut A::Compute, A::Compute, &mut [A::Compute; K]) + Copy + Sync,
    ) {
        match self.stochastic {
            Some(key) if A::STOCHASTIC => self.quantized_blocks(states, f, move |x, i| {
                A::from_compute_stochastic(x, random_bits(key, i))
            }),
            _ => self.quantized_blocks(states, f, |x, _| Float::from_compute(x)),
        }
    }

    /// The loop of [`zip_quantized`](Self::zip_quantized); `store(x, i)` stores the parameter's
    /// new value `x` at logical position `i`. A large contiguous tensor is split on block
    /// boundaries across threads (the `rayon` feature): each block's result depends on that
    /// block alone, so the bits are the same whatever the split.
    #[inline(always)]
    fn quantized_blocks<const K: usize>(
        &mut self,
        states: [&mut Quantized; K],
        f: impl Fn(&mut A::Compute, A::Compute, &mut [A::Compute; K]) + Copy + Sync,
        store: impl Fn(A::Compute, usize) -> A + Copy + Sync,
    ) {
        let block = states[0].block();
        let blocks = states[0].blocks();
        debug_assert!(
            states
                .iter()
                .all(|s| s.block() == block && s.blocks() == blocks)
        );
        debug_assert_eq!(block * blocks, self.len());
        let states = states.map(|s| s.blocks_mut());
        let g = self.grad.view_dyn();
        let mut p = self.param.view_dyn_mut();
        if let (Some(p), Some(g)) = (p.as_slice_mut(), g.as_slice()) {
            let g = &g[..p.len()];
            // The blocks' buffers on the stack are as large as torchao's blocks (256 values)
            // unless the blocks are larger: they are zeroed on every call.
            let run = |p: &mut [A], g: &[A], states: [BlocksMut<'_>; K], offset: usize| {
                with_simd(
                    #[inline(always)]
                    || match block {
                        ..=256 => quantized_run::<A, K, 256>(p, g, states, offset, f, store),
                        _ => quantized_run::<A, K, MAX_BLOCK>(p, g, states, offset, f, store),
                    },
                )
            };
            #[cfg(feature = "rayon")]
            if parallel::split(p.len()) {
                return split_blocks(p, g, states, 0, &run);
            }
            return run(p, g, states, 0);
        }
        let mut states = states;
        let mut values = [[<A::Compute as Float>::from_f64(0.0); MAX_BLOCK]; K];
        let mut elements = p.iter_mut().zip(g.iter());
        for b in 0..blocks {
            for (s, v) in states.iter().zip(values.iter_mut()) {
                s.dequantize_block(b, &mut v[..block]);
            }
            for (i, (p, &g)) in (0..block).zip(&mut elements) {
                let mut x = p.to_compute();
                let mut s: [A::Compute; K] = std::array::from_fn(|k| values[k][i]);
                f(&mut x, g.to_compute(), &mut s);
                *p = store(x, b * block + i);
                for k in 0..K {
                    values[k][i] = s[k];
                }
            }
            for (s, v) in states.iter_mut().zip(values.iter_mut()) {
                s.quantize_block(b, &mut v[..block]);
            }
        }
    }

    /// `f(r, g_row)` for every row of the gradient (its lanes along the last axis, rank ≥ 1),
    /// `r` counting them in logical order: for statistics per row and per column (Adafactor's).
    /// A row of a row-major tensor is a slice ([`row_terms`] and plain loops vectorise on it).
    pub(crate) fn grad_rows(&self, mut f: impl FnMut(usize, ArrayView1<'_, A>)) {
        let g = self.grad.view_dyn();
        let last = Axis(g.ndim() - 1);
        g.lanes(last)
            .into_iter()
            .enumerate()
            .for_each(|(r, g)| f(r, g));
    }

    /// Updates the parameter row by row (its lanes along the last axis, rank ≥ 1, in logical
    /// order): `row(r)` gives row `r`'s element update `f(p, g, c)` and the row's `c`, a slice
    /// of the row's length (Adafactor's column statistics), and `f` runs on every element of
    /// the row with the parameter, the gradient and `c` read into the type of the arithmetic.
    /// A row of a row-major tensor is a slice, and its loop vectorises. With stochastic
    /// rounding, an element's random bits are those of its logical position.
    pub(crate) fn update_rows<'c, F>(&mut self, mut row: impl FnMut(usize) -> (F, &'c [A]))
    where
        A: 'c,
        F: Fn(&mut A::Compute, A::Compute, A::Compute) + Copy,
    {
        let g = self.grad.view_dyn();
        let mut p = self.param.view_dyn_mut();
        let last = Axis(g.ndim() - 1);
        let len = g.len_of(last);
        with_store!(A, self.stochastic, |store| {
            for (r, (mut p, g)) in p.lanes_mut(last).into_iter().zip(g.lanes(last)).enumerate() {
                let (f, c) = row(r);
                let start = r * len;
                let element = move |i: usize, p: &mut A, g: A, c: A| {
                    let mut x = p.to_compute();
                    f(&mut x, g.to_compute(), c.to_compute());
                    *p = store(x, start + i);
                };
                match (p.as_slice_mut(), g.as_slice()) {
                    (Some(p), Some(g)) => with_simd(
                        #[inline(always)]
                        || {
                            let (g, c) = (&g[..p.len()], &c[..p.len()]);
                            for i in 0..p.len() {
                                element(i, &mut p[i], g[i], c[i]);
                            }
                        },
                    ),
                    _ => {
                        for (i, ((p, &g), &c)) in p.iter_mut().zip(g.iter()).zip(c).enumerate() {
                            element(i, p, g, c);
                        }
                    }
                }
            }
        })
    }

    /// The stream key of stochastic rounding for this tensor and step, if the parameter is
    /// rounded stochastically: for kernels that store it outside the pass's loops, through
    /// [`with_store!`] (SparseAdam's rows).
    pub(crate) fn stochastic(&self) -> Option<u64> {
        self.stochastic.filter(|_| A::STOCHASTIC)
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

/// A sum of `f64` terms in a fixed order: blocks of [`OrderedSum::BLOCK`] elements, each summed
/// in 8 interleaved lanes (element `i` into lane `i mod 8`), the lanes added pairwise, the block
/// sums added in sequence. The order depends only on each element's position, so the result is
/// the same on every machine, at every SIMD width and for every thread count (threads take whole
/// blocks; their sums are added in block order).
///
/// This accumulator adds one term at a time, for iterators; [`block_terms`] does a whole block of
/// a slice with the same arithmetic, and [`sum_terms`] a whole tensor.
#[derive(Default)]
pub(crate) struct OrderedSum {
    lanes: [f64; 8],
    in_block: usize,
    total: f64,
}

impl OrderedSum {
    /// Elements per block.
    pub(crate) const BLOCK: usize = 4096;

    #[inline(always)]
    pub(crate) fn add(&mut self, term: f64) {
        self.lanes[self.in_block % 8] += term;
        self.in_block += 1;
        if self.in_block == Self::BLOCK {
            self.total += combine(&self.lanes);
            self.lanes = [0.0; 8];
            self.in_block = 0;
        }
    }

    pub(crate) fn finish(mut self) -> f64 {
        if self.in_block > 0 {
            self.total += combine(&self.lanes);
            self.in_block = 0;
        }
        self.total
    }
}

/// `(a², b²)` in `f64`.
#[inline(always)]
fn squares<A: Float>((a, b): (A, A)) -> (f64, f64) {
    let (a, b) = (a.widen(), b.widen());
    (a * a, b * b)
}

/// The lanes of one block, added pairwise.
#[inline(always)]
fn combine(l: &[f64; 8]) -> f64 {
    ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
}

/// Elements whose terms are computed together before they are added to the lanes: a multiple
/// of the 8 lanes. On the AVX2 path (callgrind, `benches/instructions.rs`) LAMB takes 10.5
/// instructions per `f32` element with 32, 12.5 with 64 and 29 with 8 (the map no longer
/// vectorises); the sum's bits do not depend on it.
const SUB: usize = 32;

/// Two sums of terms over one block (`≤ BLOCK` elements of four slices of equal length),
/// `item(p, g, s0, s1)` giving an element's terms, with the arithmetic of [`OrderedSum`].
///
/// The terms of [`SUB`] elements at a time are computed into a small buffer first (a plain map over
/// fixed-size arrays, which vectorises however complicated `item` is) and then added lane by
/// lane; the additions happen in exactly the order of [`OrderedSum::add`].
#[inline(always)]
fn block_terms<A: Float>(
    p: &[A],
    g: &[A],
    s0: &[A],
    s1: &[A],
    item: impl Fn(A, A, A, A) -> (f64, f64),
) -> (f64, f64) {
    let n = p.len();
    let (g, s0, s1) = (&g[..n], &s0[..n], &s1[..n]);
    let (mut la, mut lb) = ([0.0f64; 8], [0.0f64; 8]);
    let (mut ta, mut tb) = ([0.0f64; SUB], [0.0f64; SUB]);
    let (pc, _) = p.as_chunks::<SUB>();
    let (gc, _) = g.as_chunks::<SUB>();
    let (ac, _) = s0.as_chunks::<SUB>();
    let (bc, _) = s1.as_chunks::<SUB>();
    for (((p, g), s0), s1) in pc.iter().zip(gc).zip(ac).zip(bc) {
        for j in 0..SUB {
            (ta[j], tb[j]) = item(p[j], g[j], s0[j], s1[j]);
        }
        for k in (0..SUB).step_by(8) {
            for lane in 0..8 {
                la[lane] += ta[k + lane];
                lb[lane] += tb[k + lane];
            }
        }
    }
    // The last, partial group of a block: element `i` into lane `i mod 8` as before.
    for i in pc.len() * SUB..n {
        let (a, b) = item(p[i], g[i], s0[i], s1[i]);
        la[i % 8] += a;
        lb[i % 8] += b;
    }
    (combine(&la), combine(&lb))
}

/// The first `len` elements (or all, if fewer) of every slice of `rest`, split off its front.
fn split_front<'s, A, const N: usize>(rest: &mut [&'s mut [A]; N], len: usize) -> [&'s mut [A]; N] {
    let take = rest[0].len().min(len);
    std::array::from_fn(|k| {
        let (head, tail) = std::mem::take(&mut rest[k]).split_at_mut(take);
        rest[k] = tail;
        head
    })
}

/// [`block_terms`] for [`Pass::update_and_sum`]: the state of one block (`s`, slices of the
/// block's length) updated by `f`, which also gives each element's two terms; the terms of
/// [`SUB`] elements at a time are added lane by lane, in the order of [`OrderedSum::add`].
///
/// Each group of [`SUB`] elements is a fixed-size array of every slice, so that the element
/// loop has no bounds checks and vectorises however many buffers there are.
#[inline(always)]
fn block_update_terms<A: Float, const N: usize>(
    p: &[A],
    g: &[A],
    s: [&mut [A]; N],
    f: impl Fn(A::Compute, A::Compute, &mut [A::Compute; N]) -> [f64; 2],
) -> [f64; 2] {
    let n = p.len();
    let g = &g[..n];
    let mut s = s.map(|s| &mut s[..n]);
    let (mut la, mut lb) = ([0.0f64; 8], [0.0f64; 8]);
    let (mut ta, mut tb) = ([0.0f64; SUB], [0.0f64; SUB]);
    let (pc, _) = p.as_chunks::<SUB>();
    let (gc, _) = g.as_chunks::<SUB>();
    let whole = pc.len() * SUB;
    {
        let mut sc: [&mut [[A; SUB]]; N] = s.each_mut().map(|s| s.as_chunks_mut::<SUB>().0);
        for (c, (p, g)) in pc.iter().zip(gc).enumerate() {
            let sub: [&mut [A; SUB]; N] = sc.each_mut().map(|chunks| &mut chunks[c]);
            for j in 0..SUB {
                let mut values: [A::Compute; N] = std::array::from_fn(|k| sub[k][j].to_compute());
                [ta[j], tb[j]] = f(p[j].to_compute(), g[j].to_compute(), &mut values);
                for k in 0..N {
                    sub[k][j] = Float::from_compute(values[k]);
                }
            }
            for k in (0..SUB).step_by(8) {
                for lane in 0..8 {
                    la[lane] += ta[k + lane];
                    lb[lane] += tb[k + lane];
                }
            }
        }
    }
    // The last, partial group of a block: element `i` into lane `i mod 8` as before.
    for i in whole..n {
        let mut values: [A::Compute; N] = std::array::from_fn(|k| s[k][i].to_compute());
        let [a, b] = f(p[i].to_compute(), g[i].to_compute(), &mut values);
        for (buffer, value) in s.iter_mut().zip(values) {
            buffer[i] = Float::from_compute(value);
        }
        la[i % 8] += a;
        lb[i % 8] += b;
    }
    [combine(&la), combine(&lb)]
}

/// The sums of all blocks of an `n`-element slice, added in block order; `block(start)` sums
/// the block starting at element `start`. Blocks run on several threads with the `rayon`
/// feature; the result is the same.
fn sum_blocks(n: usize, block: impl Fn(usize) -> (f64, f64) + Sync) -> (f64, f64) {
    #[cfg(feature = "rayon")]
    if parallel::split(n) {
        use rayon::prelude::*;
        let sums: Vec<(f64, f64)> = (0..n.div_ceil(OrderedSum::BLOCK))
            .into_par_iter()
            .map(|b| block(b * OrderedSum::BLOCK))
            .collect();
        return sums
            .into_iter()
            .fold((0.0, 0.0), |(ta, tb), (a, b)| (ta + a, tb + b));
    }
    (0..n)
        .step_by(OrderedSum::BLOCK)
        .map(block)
        .fold((0.0, 0.0), |(ta, tb), (a, b)| (ta + a, tb + b))
}

/// `Σ term(x)` over a tensor, in logical order with the blocking of [`OrderedSum`]: a C-order
/// tensor as blocks of one slice (vectorised, and on several threads with `rayon`), any other
/// through ndarray's logical-order iterator. The same bits for every layout.
pub(crate) fn sum_terms<A: Float>(t: &dyn Tensor<A>, term: impl Fn(A) -> f64 + Sync) -> f64 {
    let view = t.view_dyn();
    match view.as_slice() {
        Some(s) => {
            sum_blocks(s.len(), |start| {
                let x = &s[start..(start + OrderedSum::BLOCK).min(s.len())];
                with_simd(
                    #[inline(always)]
                    || {
                        block_terms(
                            x,
                            x,
                            x,
                            x,
                            #[inline(always)]
                            |x, _, _, _| (term(x), 0.0),
                        )
                    },
                )
            })
            .0
        }
        None => {
            let mut sum = OrderedSum::default();
            view.iter().for_each(|&x| sum.add(term(x)));
            sum.finish()
        }
    }
}

/// `Σ term(x_j, y_j)` over one row `x` and a slice `y` of its length (`x` itself if `None`), in
/// index order with the arithmetic of [`OrderedSum`]: the same bits whether `x` is a slice
/// (then vectorised, with [`with_simd`]) or strided.
pub(crate) fn row_terms<A: Float>(
    x: ArrayView1<'_, A>,
    y: Option<&[A]>,
    term: impl Fn(A::Compute, A::Compute) -> f64 + Copy,
) -> f64 {
    match x.as_slice() {
        Some(x) => with_simd(
            #[inline(always)]
            || {
                let y = y.unwrap_or(x);
                let mut total = 0.0;
                for (x, y) in x.chunks(OrderedSum::BLOCK).zip(y.chunks(OrderedSum::BLOCK)) {
                    total += block_terms(
                        x,
                        y,
                        x,
                        x,
                        #[inline(always)]
                        |x: A, y: A, _, _| (term(x.to_compute(), y.to_compute()), 0.0),
                    )
                    .0;
                }
                total
            },
        ),
        None => {
            let mut sum = OrderedSum::default();
            match y {
                Some(y) => x
                    .iter()
                    .zip(y)
                    .for_each(|(&x, &y)| sum.add(term(x.to_compute(), y.to_compute()))),
                None => x
                    .iter()
                    .for_each(|&x| sum.add(term(x.to_compute(), x.to_compute()))),
            }
            sum.finish()
        }
    }
}

/// `Σ x²` over a tensor, in logical order (see [`OrderedSum`]).
pub(crate) fn sum_of_squares<A: Float>(t: &dyn Tensor<A>) -> f64 {
    sum_terms(
        t,
        #[inline(always)]
        |x| {
            let x = x.widen();
            x * x
        },
    )
}

/// The first non-finite element of a tensor (in row-major order) and its index, if any.
///
/// A contiguous tensor is scanned first in blocks, each one vectorised pass without early exit
/// ([`Sealed::all_finite`](crate::float::sealed::Sealed::all_finite)), on several threads with
/// the `rayon` feature; only a tensor that has a non-finite element is searched for its index.
pub(crate) fn first_non_finite<A: Float>(t: &dyn Tensor<A>) -> Option<(Vec<usize>, A)> {
    if let Some(s) = t.as_slice_memory_order() {
        let all_finite = |s: &[A]| {
            with_simd(
                #[inline(always)]
                || {
                    s.chunks(OrderedSum::BLOCK).all(
                        #[inline(always)]
                        |block| A::all_finite(block),
                    )
                },
            )
        };
        #[cfg(feature = "rayon")]
        let finite = if parallel::split(s.len()) {
            use rayon::prelude::*;
            s.par_chunks(parallel::CHUNK).all(all_finite)
        } else {
            all_finite(s)
        };
        #[cfg(not(feature = "rayon"))]
        let finite = all_finite(s);
        if finite {
            return None;
        }
    }
    t.view_dyn()
        .indexed_iter()
        .find(|(_, x)| !x.is_finite())
        .map(|(index, &x)| (index.slice().to_vec(), x))
}

/// The element loop of [`Pass::zip_quantized`] over contiguous blocks: block by block, the
/// moments' values dequantised into stack buffers, `f` over the block's elements, the new
/// values quantised again. `offset` is the logical position of `p[0]` (for `store`).
/// The moments' values of a block are held in `[_; B]` buffers (`B` at least the block size).
#[inline(always)]
fn quantized_run<A: Float, const K: usize, const B: usize>(
    p: &mut [A],
    g: &[A],
    mut states: [BlocksMut<'_>; K],
    offset: usize,
    f: impl Fn(&mut A::Compute, A::Compute, &mut [A::Compute; K]) + Copy,
    store: impl Fn(A::Compute, usize) -> A + Copy,
) {
    // Moved in, so that the scalars live in registers (see `flat_loop!`).
    let (f, store) = (f, store);
    let block = states[0].block();
    // The block's values, in the type of the arithmetic (on the stack: no allocation).
    let mut values = [[<A::Compute as Float>::from_f64(0.0); B]; K];
    for b in 0..states[0].blocks() {
        let start = b * block;
        let (p, g) = (&mut p[start..start + block], &g[start..start + block]);
        for (s, v) in states.iter().zip(values.iter_mut()) {
            s.dequantize_block(b, &mut v[..block]);
        }
        let element = |i: usize, p: &mut A, g: A, values: &mut [[A::Compute; B]; K]| {
            let mut x = p.to_compute();
            let mut s: [A::Compute; K] = std::array::from_fn(|k| values[k][i]);
            f(&mut x, g.to_compute(), &mut s);
            *p = store(x, offset + start + i);
            for k in 0..K {
                values[k][i] = s[k];
            }
        };
        if let (Ok(p), Ok(g)) = (<&mut [A; B]>::try_from(&mut *p), <&[A; B]>::try_from(g)) {
            // A whole buffer (torchao's blocks): a loop of a fixed count without bounds
            // checks, which the compiler vectorises without a scalar tail.
            for i in 0..B {
                element(i, &mut p[i], g[i], &mut values);
            }
        } else {
            for i in 0..block {
                element(i, &mut p[i], g[i], &mut values);
            }
        }
        for (s, v) in states.iter_mut().zip(values.iter_mut()) {
            s.quantize_block(b, &mut v[..block]);
        }
    }
}

/// Runs `run(p, g, states, offset)` on parts of whole blocks, about
/// [`parallel::CHUNK`](parallel::CHUNK) elements each, on rayon's threads (halving
/// recursively, so that nothing is allocated).
#[cfg(feature = "rayon")]
fn split_blocks<A: Float, const K: usize>(
    p: &mut [A],
    g: &[A],
    states: [BlocksMut<'_>; K],
    offset: usize,
    run: &(impl Fn(&mut [A], &[A], [BlocksMut<'_>; K], usize) + Sync),
) {
    let (block, blocks) = (states[0].block(), states[0].blocks());
    let per_part = (parallel::CHUNK / block).max(1);
    if blocks <= per_part {
        return run(p, g, states, offset);
    }
    // Split on a part's boundary near the middle.
    let left_blocks = (blocks / per_part).div_ceil(2) * per_part;
    let mid = left_blocks * block;
    let (p0, p1) = p.split_at_mut(mid);
    let (g0, g1) = g.split_at(mid);
    let mut halves = states.map(|s| {
        let (a, b) = s.split_at(left_blocks);
        (Some(a), Some(b))
    });
    let left = std::array::from_fn(|k| halves[k].0.take().expect("split"));
    let right = std::array::from_fn(|k| halves[k].1.take().expect("split"));
    rayon::join(
        || split_blocks(p0, g0, left, offset, run),
        || split_blocks(p1, g1, right, offset + mid, run),
    );
}

/// Runs `body` compiled for the widest vector instructions this CPU supports.
///
/// `body` must be `#[inline(always)]` (and so must the element closures it calls) so that it is
/// compiled inside the `#[target_feature]` function; otherwise it keeps the baseline codegen, where
/// `mul_add` is a libm call and the loop does not vectorise.
///
/// On x86-64 the choice is made at run time ([`simd`]); elsewhere the baseline is the vector
/// path: aarch64 has NEON and FMA in every CPU, so `body` is compiled for them directly.
#[inline(always)]
pub(crate) fn with_simd<R>(body: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    match simd() {
        // SAFETY: `simd` returns `Avx512` only when the CPU supports every feature `avx512` is
        // compiled for.
        Simd::Avx512 => return unsafe { avx512(body) },
        // SAFETY: likewise for `avx2`.
        Simd::Avx2 => return unsafe { avx2(body) },
        Simd::Baseline => {}
    }
    body()
}

/// The instruction sets the x86-64 element loops are compiled for.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Simd {
    /// AVX-512F with AVX2 and FMA.
    Avx512,
    /// AVX2 with FMA.
    Avx2,
    /// x86-64's baseline (SSE2): `mul_add` is a library call.
    Baseline,
}

/// The environment variable that lowers the instruction set the loops use, for benchmarks:
/// `avx2` (the AVX2 path on an AVX-512 machine) or `baseline`. Read once, on the first step; it
/// can only lower the level, never enable an instruction set the CPU lacks.
#[cfg(target_arch = "x86_64")]
pub(crate) const SIMD_VARIABLE: &str = "NDARRAY_OPTIM_SIMD";

/// The instruction set of this CPU's loops: the best it supports, or lower if
/// [`SIMD_VARIABLE`] says so; decided once per process.
#[cfg(target_arch = "x86_64")]
pub(crate) fn simd() -> Simd {
    static LEVEL: std::sync::OnceLock<Simd> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        let fma = std::arch::is_x86_feature_detected!("fma");
        let best = if fma && std::arch::is_x86_feature_detected!("avx512f") {
            Simd::Avx512
        } else if fma && std::arch::is_x86_feature_detected!("avx2") {
            Simd::Avx2
        } else {
            Simd::Baseline
        };
        let cap = match std::env::var(SIMD_VARIABLE).as_deref() {
            Ok("avx2") => Simd::Avx2,
            Ok("baseline") => Simd::Baseline,
            _ => Simd::Avx512,
        };
        // `Avx512` < `Avx2` < `Baseline` in declaration order: the lower of the two.
        if (cap as u8) > (best as u8) {
            cap
        } else {
            best
        }
    })
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
    fn unswitch_binds_each_decision_to_a_constant() {
        use crate::ops::Decay;
        let run = |maximize: bool, decay: Decay| {
            unswitch! {
                const MAXIMIZE: bool = maximize;
                const DECAY: Decay = decay => [Decay::None, Decay::Coupled, Decay::Decoupled];
                // Usable where only a constant is: an array length and a `const` item.
                {
                    const BOTH: (bool, Decay) = (MAXIMIZE, DECAY);
                    let lanes = [0u8; if MAXIMIZE { 2 } else { 1 }];
                    (BOTH, lanes.len())
                }
            }
        };
        assert_eq!(run(true, Decay::Coupled), ((true, Decay::Coupled), 2));
        assert_eq!(run(false, Decay::Decoupled), ((false, Decay::Decoupled), 1));
        let only_two = |decay: Decay| {
            unswitch! {
                const DECAY: Decay = decay => [Decay::None, Decay::Coupled];
                DECAY
            }
        };
        assert_eq!(only_two(Decay::Coupled), Decay::Coupled);
        assert!(std::panic::catch_unwind(|| only_two(Decay::Decoupled)).is_err());
    }

    #[test]
    fn ordered_sum_is_a_sum() {
        let xs: Vec<f64> = (0..10_000).map(|i| (i as f64 * 0.37).sin() * 1e3).collect();
        let mut one = OrderedSum::default();
        xs.iter().for_each(|&x| one.add(x * x));
        let direct: f64 = xs.iter().map(|x| x * x).sum();
        let ours = one.finish();
        assert!((ours - direct).abs() <= 1e-9 * direct, "{ours} vs {direct}");
    }

    #[test]
    fn blocks_of_a_slice_and_the_iterator_give_the_same_bits() {
        use ndarray::{Array2, ShapeBuilder};
        let c = Array2::from_shape_fn((97, 131), |(i, j)| ((i * 131 + j) as f64 * 0.77).cos());
        let mut f = Array2::zeros((97, 131).f());
        f.assign(&c);
        let mut one = OrderedSum::default();
        c.iter().for_each(|&x| one.add(x * x));
        let by_iterator = one.finish();
        assert_eq!(sum_of_squares(&c).to_bits(), by_iterator.to_bits()); // blocks of a slice
        assert_eq!(sum_of_squares(&f).to_bits(), by_iterator.to_bits()); // logical iterator
    }
}
