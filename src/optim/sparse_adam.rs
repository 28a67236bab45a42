//! Lazy Adam for row-sparse gradients: `torch.optim.SparseAdam`.

use ndarray::{ArrayViewD, ArrayViewMutD, Axis, Dimension};

use crate::builder::config;
use crate::check;
use crate::driver::buffers::state;
use crate::driver::{Hyperparameters, Kernel, momentum_is, optimizer_type, largest_step_is_adams};
use crate::error::Error;
use crate::float::Float;
use num_traits::Zero as _;
use crate::pass::{self, Pass, unswitch};
use crate::tensor::{Tensor, TensorListMut, TensorMut};

config! {
    /// Hyperparameters of [`SparseAdam`]: those of PyTorch's `torch.optim.SparseAdam`, with its
    /// defaults.
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `lr` | `1e-3` | `> 0` when built (PyTorch's constructor); a schedule may take it to 0 later |
    /// | `betas` | `(0.9, 0.999)` | each in `[0, 1)` |
    /// | `eps` | `1e-8` | `> 0` |
    /// | `maximize` | `false` | |
    ///
    /// SparseAdam has no weight decay (PyTorch's has none either).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{Error, SparseAdamConfig};
    ///
    /// let opt = SparseAdamConfig::default().lr(0.01).betas((0.8, 0.99)).build::<f32>()?;
    /// assert!(matches!(
    ///     SparseAdamConfig::default().lr(0.0).build::<f32>(),
    ///     Err(Error::InvalidHyperparameter { name: "lr", .. })
    /// ));
    /// # Ok::<(), Error>(())
    /// ```
    pub struct SparseAdamConfig {
        /// Learning rate `γ`.
        lr: f64 = 1e-3,
        /// Decay rates `(β₁, β₂)` of the first and second moment estimates.
        betas: (f64, f64) = (0.9, 0.999),
        /// Term `ε` added to `√v`, the bias correction being in the step size (the "ε̂" form).
        eps: f64 = 1e-8,
        /// Maximise the objective instead of minimising it.
        maximize: bool = false,
    }
}

impl Hyperparameters for SparseAdamConfig {
    largest_step_is_adams!();
    type Kernel = SparseAdamConfig;
    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::beta("betas[0]", self.betas.0)?;
        check::beta("betas[1]", self.betas.1)?;
        check::positive("eps", self.eps)
    }
    fn validate_new(&self) -> Result<(), Error> {
        check::positive("lr", self.lr)
    }
    fn kernel(&self) -> SparseAdamConfig {
        self.clone()
    }
    fn learning_rate(&self) -> f64 {
        self.lr
    }
    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn weight_decay(&self) -> Option<f64> {
        None
    }
    fn set_weight_decay(&mut self, _weight_decay: f64) {}
    momentum_is!(betas.0);
}

#[derive(Clone, Copy)]
pub(crate) struct SparseAdamScalars<A> {
    /// `1 − β₁` and `1 − β₂`, rounded once.
    c1: A,
    c2: A,
    eps: A,
    /// `−γ·√(1 − β₂ᵗ)/(1 − β₁ᵗ)`, rounded once.
    neg_step: A,
    maximize: bool,
}

state! {
    /// Per-tensor state of SparseAdam: Adam's two moments, in row-major order whatever the
    /// parameter's layout, so that a row of the state is a slice.
    pub(crate) struct SparseAdamState for SparseAdamConfig {
        /// First moment `m`.
        exp_avg: shaped(|_, shape| Some(shape.to_vec())),
        /// Second moment `v`.
        exp_avg_sq: shaped(|_, shape| Some(shape.to_vec())),
    }
}

impl<A: Float> SparseAdamState<A> {
    fn moments(&mut self) -> (&mut [A], &mut [A]) {
        match (&mut self.exp_avg, &mut self.exp_avg_sq) {
            (Some(m), Some(v)) => (&mut m.data, &mut v.data),
            _ => unreachable!("SparseAdam's moments exist for every shape"),
        }
    }
}

/// `old + (new − old)·c`, PyTorch's three roundings, except that a moment that overflowed to
/// `±∞` stays there (or, with `β = 0`, is replaced by `new`), where PyTorch computes
/// `∞ − ∞ = NaN`.
#[inline(always)]
fn lazy_average<A: Float>(old: A, new: A, c: A) -> A {
    if old.is_infinite() {
        if c == A::one() { new } else { old }
    } else {
        old + (new - old) * c
    }
}

/// One element's update: the moments, then `p ← p + (m / (√v + ε))·(−step)`. `MAXIMIZE` is
/// `sc.maximize` and `MOVES` is `sc.neg_step ≠ 0`, as constants (see [`pass::unswitch`]).
#[inline(always)]
fn update_element<A: Float, const MAXIMIZE: bool, const MOVES: bool>(
    sc: &SparseAdamScalars<A>,
    p: &mut A,
    g: A,
    m: &mut A,
    v: &mut A,
) {
    let g = if MAXIMIZE { -g } else { g };
    *m = lazy_average(*m, g, sc.c1);
    *v = lazy_average(*v, g * g, sc.c2);
    let denom = v.sqrt() + sc.eps;
    // Both infinite only after overflow (PyTorch: ∞/∞ = NaN).
    let ratio = if m.is_infinite() && denom.is_infinite() {
        A::zero()
    } else {
        *m / denom
    };
    if MOVES {
        *p = *p + ratio * sc.neg_step;
    }
}

/// How a parameter's new value is stored: `store(x, i)` for element `i` in logical order (see
/// [`pass::with_store`]).
trait Store<A: Float>: Fn(A::Compute, usize) -> A + Copy {}
impl<A: Float, S: Fn(A::Compute, usize) -> A + Copy> Store<A> for S {}

/// [`update_element`] on stored values: read exactly into the type of the arithmetic, the
/// results rounded when stored (the parameter, element `i` in logical order, by `store`).
#[inline(always)]
fn update_stored<A: Float, const MAXIMIZE: bool, const MOVES: bool>(
    sc: &SparseAdamScalars<A::Compute>,
    (p, g, m, v): (&mut A, A, &mut A, &mut A),
    store: impl Store<A>,
    i: usize,
) {
    let (mut pc, mut mc, mut vc) = (p.to_compute(), m.to_compute(), v.to_compute());
    update_element::<A::Compute, MAXIMIZE, MOVES>(sc, &mut pc, g.to_compute(), &mut mc, &mut vc);
    (*p, *m, *v) = (store(pc, i), Float::from_compute(mc), Float::from_compute(vc));
}

/// Updates one row, whose first element is element `start` of the tensor: the parameter's
/// elements and the gradient's, in logical order, and the row's slices of the moments.
#[inline(always)]
fn update_row<A: Float, const MAXIMIZE: bool, const MOVES: bool>(
    sc: &SparseAdamScalars<A::Compute>,
    (mut p, g, m, v): (ArrayViewMutD<'_, A>, impl Iterator<Item = A>, &mut [A], &mut [A]),
    store: impl Store<A>,
    start: usize,
) {
    let moments = m.iter_mut().zip(v.iter_mut());
    match p.as_slice_mut() {
        Some(p) => {
            for (j, ((p, g), (m, v))) in p.iter_mut().zip(g).zip(moments).enumerate() {
                update_stored::<A, MAXIMIZE, MOVES>(sc, (p, g, m, v), store, start + j);
            }
        }
        None => {
            for (j, ((p, g), (m, v))) in p.iter_mut().zip(g).zip(moments).enumerate() {
                update_stored::<A, MAXIMIZE, MOVES>(sc, (p, g, m, v), store, start + j);
            }
        }
    }
}

/// Row `r` of a tensor: its sub-tensor at index `r` of the first axis, the tensor itself for a
/// scalar (which has one row).
fn row_mut<'a, A>(t: &'a mut ArrayViewMutD<'_, A>, r: usize) -> ArrayViewMutD<'a, A> {
    if t.ndim() == 0 {
        t.view_mut()
    } else {
        t.index_axis_mut(Axis(0), r)
    }
}

fn row<'a, A>(t: &'a ArrayViewD<'_, A>, r: usize) -> ArrayViewD<'a, A> {
    if t.ndim() == 0 {
        t.view()
    } else {
        t.index_axis(Axis(0), r)
    }
}

/// Element `j` (in logical order) of entry `k` of a gradient's values that are not one
/// row-major slice.
fn strided_value<A: Float>(values: &ArrayViewD<'_, A>, k: usize, mut j: usize) -> A {
    let shape = values.shape();
    let mut index = [0usize; 16];
    if shape.len() > index.len() {
        return row(values, k).iter().nth(j).copied().unwrap_or(A::zero());
    }
    index[0] = k;
    for axis in (1..shape.len()).rev() {
        index[axis] = j % shape[axis];
        j /= shape[axis];
    }
    values[&index[..shape.len()]]
}

/// A tensor's number of rows and elements per row.
fn rows_of(shape: &[usize]) -> (usize, usize) {
    match shape.split_first() {
        None => (1, 1),
        Some((&rows, rest)) => (rows, rest.iter().product()),
    }
}

impl<A: Float> Kernel<A> for SparseAdamConfig {
    type State = SparseAdamState<A>;
    type Scalars = SparseAdamScalars<A::Compute>;

    fn scalars(&self, step: u64, _sum: f64) -> Self::Scalars {
        let (b1, b2) = self.betas;
        let t = step as f64;
        let bias_correction1 = 1.0 - b1.powf(t);
        let bias_correction2 = 1.0 - b2.powf(t);
        let step_size = self.lr * bias_correction2.sqrt() / bias_correction1;
        SparseAdamScalars {
            c1: A::Compute::from_f64(1.0 - b1),
            c2: A::Compute::from_f64(1.0 - b2),
            eps: A::Compute::from_f64(self.eps),
            neg_step: A::Compute::from_f64(-step_size),
            maximize: self.maximize,
        }
    }

    /// The dense gradient as PyTorch's `grad.to_sparse(1)`: the rows whose gradient is not all
    /// zero, each once.
    fn update(
        &self,
        sc: &Self::Scalars,
        pass: &mut Pass<'_, A>,
        state: &mut SparseAdamState<A>,
    ) {
        let (m, v) = state.moments();
        let (maximize, moves) = (sc.maximize, sc.neg_step != A::Compute::zero());
        unswitch! {
            const MAXIMIZE: bool = maximize;
            const MOVES: bool = moves;
            pass::with_store!(A, pass.stochastic(), |store| {
                dense_rows::<A, MAXIMIZE, MOVES>(sc, pass, m, v, store)
            })
        }
    }
}

/// [`SparseAdam`]'s dense update: every row whose gradient is not all zero.
fn dense_rows<A: Float, const MAXIMIZE: bool, const MOVES: bool>(
    sc: &SparseAdamScalars<A::Compute>,
    pass: &mut Pass<'_, A>,
    m: &mut [A],
    v: &mut [A],
    store: impl Store<A>,
) {
    let (p, g) = pass.tensors();
    let (rows, len) = rows_of(p.shape());
    let mut p = p.view_dyn_mut();
    let g = g.view_dyn();
    if let (Some(ps), Some(gs)) = (p.as_slice_mut(), g.as_slice()) {
        // Row-major: rows are slices.
        pass::with_simd(
            #[inline(always)]
            || {
                if len == 1 {
                    // Rows of one element (a vector): the row test is the element's, done as
                    // a select so that the loop vectorises.
                    let n = ps.len();
                    let (gs, m, v) = (&gs[..n], &mut m[..n], &mut v[..n]);
                    for i in 0..n {
                        let (p, g, m, v) = (&mut ps[i], gs[i], &mut m[i], &mut v[i]);
                        let (p0, m0, v0) = (*p, *m, *v);
                        update_stored::<A, MAXIMIZE, MOVES>(sc, (p, g, m, v), store, i);
                        let skip = g == A::zero();
                        *p = if skip { p0 } else { *p };
                        *m = if skip { m0 } else { *m };
                        *v = if skip { v0 } else { *v };
                    }
                    return;
                }
                for (r, (((p, g), m), v)) in ps
                    .chunks_mut(len)
                    .zip(gs.chunks(len))
                    .zip(m.chunks_mut(len))
                    .zip(v.chunks_mut(len))
                    .enumerate()
                {
                    if g.iter().any(|&x| x != A::zero()) {
                        for (j, (((p, &g), m), v)) in p.iter_mut().zip(g).zip(m).zip(v).enumerate() {
                            update_stored::<A, MAXIMIZE, MOVES>(sc, (p, g, m, v), store, r * len + j);
                        }
                    }
                }
            },
        );
        return;
    }
    for r in 0..rows {
        let g = row(&g, r);
        if g.iter().any(|&x| x != A::zero()) {
            let (m, v) = (&mut m[r * len..(r + 1) * len], &mut v[r * len..(r + 1) * len]);
            let row = (row_mut(&mut p, r), g.iter().copied(), m, v);
            update_row::<A, MAXIMIZE, MOVES>(sc, row, store, r * len);
        }
    }
}

/// The gradient of one tensor as rows, as PyTorch's `nn.Embedding(sparse=True)` produces it
/// (a sparse COO tensor with one sparse dimension): the row indices, and the rows' values
/// stacked along a first axis.
///
/// For a parameter of shape `[n, d₁, …]`, `values` has shape `[indices.len(), d₁, …]`: entry
/// `k` is the gradient of row `indices[k]`. The indices may repeat and come in any order; a
/// repeated row's entries are summed, in the order PyTorch's `coalesce` sums them (see
/// [`SparseAdam`]). A scalar parameter has one row, `0`, and `values` of shape `[indices.len()]`.
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::RowGrad;
///
/// // Rows 3 and 0 of an embedding table of width 2, row 3 twice (summed).
/// let values = array![[0.5_f32, -1.0], [0.25, 0.0], [1.0, 1.0]];
/// let grad = RowGrad::new(&[3, 0, 3], values.view());
/// assert_eq!(grad.indices, &[3, 0, 3]);
/// assert_eq!(grad.values.shape(), [3, 2]);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RowGrad<'a, A> {
    /// The row of each entry.
    pub indices: &'a [usize],
    /// The entries' values, one row of the parameter each, along the first axis.
    pub values: ArrayViewD<'a, A>,
}

impl<'a, A> RowGrad<'a, A> {
    /// Rows `indices` with values `values` (any dimension, any layout).
    pub fn new<D: Dimension>(indices: &'a [usize], values: ndarray::ArrayView<'a, A, D>) -> Self {
        RowGrad {
            indices,
            values: values.into_dyn(),
        }
    }
}

/// PyTorch's CPU sort of `n` integer keys uses fbgemm's radix sort (stable) from this many on,
/// and `std::sort` (not stable) below.
const RADIX_SORT_MIN: usize = 32_768;

/// The order in which PyTorch's CPU `coalesce` visits a gradient's entries: the permutation
/// `torch.sort` (`stable=False`) gives for the row indices `keys`, which is `std::sort`'s
/// (libstdc++'s introsort, reproduced step for step) below [`RADIX_SORT_MIN`] keys and the
/// stable order from there on. Entries of one row are summed in this order.
pub(crate) fn coalesce_order(keys: &[usize], order: &mut Vec<usize>) {
    order.clear();
    order.extend(0..keys.len());
    if keys.len() >= RADIX_SORT_MIN {
        order.sort_unstable_by_key(|&i| (keys[i], i)); // stable by construction, in place
    } else {
        introsort::sort(order, keys);
    }
}

/// libstdc++'s `std::sort` (GCC's introsort: median-of-three quicksort down to 16 elements,
/// heapsort past a depth of `2·⌊log₂ n⌋`, then one insertion sort), on positions compared by
/// their keys: the same sequence of moves, so equal keys end in the same order as in PyTorch.
mod introsort {
    const THRESHOLD: usize = 16;

    pub(super) fn sort(v: &mut [usize], keys: &[usize]) {
        let n = v.len();
        if n < 2 {
            return;
        }
        let depth = 2 * n.ilog2() as usize;
        introsort_loop(v, 0, n, depth, keys);
        final_insertion_sort(v, keys);
    }

    fn introsort_loop(v: &mut [usize], first: usize, mut last: usize, mut depth: usize, k: &[usize]) {
        while last - first > THRESHOLD {
            if depth == 0 {
                heap_sort(&mut v[first..last], k);
                return;
            }
            depth -= 1;
            let cut = partition_pivot(v, first, last, k);
            introsort_loop(v, cut, last, depth, k);
            last = cut;
        }
    }

    fn partition_pivot(v: &mut [usize], first: usize, last: usize, k: &[usize]) -> usize {
        let mid = first + (last - first) / 2;
        move_median_to_first(v, first, first + 1, mid, last - 1, k);
        unguarded_partition(v, first + 1, last, first, k)
    }

    fn move_median_to_first(v: &mut [usize], result: usize, a: usize, b: usize, c: usize, k: &[usize]) {
        let less = |x: usize, y: usize| k[v[x]] < k[v[y]];
        let pick = if less(a, b) {
            if less(b, c) {
                b
            } else if less(a, c) {
                c
            } else {
                a
            }
        } else if less(a, c) {
            a
        } else if less(b, c) {
            c
        } else {
            b
        };
        v.swap(result, pick);
    }

    fn unguarded_partition(v: &mut [usize], mut first: usize, mut last: usize, pivot: usize, k: &[usize]) -> usize {
        loop {
            while k[v[first]] < k[v[pivot]] {
                first += 1;
            }
            last -= 1;
            while k[v[pivot]] < k[v[last]] {
                last -= 1;
            }
            if first >= last {
                return first;
            }
            v.swap(first, last);
            first += 1;
        }
    }

    fn final_insertion_sort(v: &mut [usize], k: &[usize]) {
        let n = v.len();
        if n > THRESHOLD {
            insertion_sort(v, THRESHOLD, k);
            for i in THRESHOLD..n {
                unguarded_linear_insert(v, i, k);
            }
        } else {
            insertion_sort(v, n, k);
        }
    }

    /// `std::__insertion_sort(first, first + last)`.
    fn insertion_sort(v: &mut [usize], last: usize, k: &[usize]) {
        for i in 1..last {
            if k[v[i]] < k[v[0]] {
                let value = v[i];
                v.copy_within(0..i, 1);
                v[0] = value;
            } else {
                unguarded_linear_insert(v, i, k);
            }
        }
    }

    fn unguarded_linear_insert(v: &mut [usize], mut last: usize, k: &[usize]) {
        let value = v[last];
        // An element not greater than `value` lies before `last` (libstdc++'s invariant); the
        // bound keeps a broken invariant from reading out of range.
        while last > 0 && k[value] < k[v[last - 1]] {
            v[last] = v[last - 1];
            last -= 1;
        }
        v[last] = value;
    }

    /// `std::__partial_sort(first, last, last)`: `__make_heap`, then `__sort_heap`.
    pub(super) fn heap_sort(v: &mut [usize], k: &[usize]) {
        let len = v.len();
        if len < 2 {
            return;
        }
        let mut parent = (len - 2) / 2;
        loop {
            let value = v[parent];
            adjust_heap(v, parent, len, value, k);
            if parent == 0 {
                break;
            }
            parent -= 1;
        }
        let mut last = len;
        while last > 1 {
            last -= 1;
            // `__pop_heap(first, last, last)`.
            let value = v[last];
            v[last] = v[0];
            adjust_heap(v, 0, last, value, k);
        }
    }

    fn adjust_heap(v: &mut [usize], mut hole: usize, len: usize, value: usize, k: &[usize]) {
        let top = hole;
        let mut second = hole;
        while second < (len - 1) / 2 {
            second = 2 * (second + 1);
            if k[v[second]] < k[v[second - 1]] {
                second -= 1;
            }
            v[hole] = v[second];
            hole = second;
        }
        if len & 1 == 0 && second == (len - 2) / 2 {
            second = 2 * (second + 1);
            v[hole] = v[second - 1];
            hole = second - 1;
        }
        // `__push_heap(first, hole, top, value)`.
        let mut parent = hole.saturating_sub(1) / 2;
        while hole > top && k[v[parent]] < k[value] {
            v[hole] = v[parent];
            hole = parent;
            parent = hole.saturating_sub(1) / 2;
        }
        v[hole] = value;
    }
}

optimizer_type! {
    /// SparseAdam: PyTorch's `torch.optim.SparseAdam`, the "lazy" Adam for embedding tables.
    ///
    /// A training step of a model with a large embedding table touches only the rows of the
    /// tokens in the batch. SparseAdam updates those rows, their moments included, and leaves
    /// every other row alone: no work and no decay for rows that were not looked up (Adam
    /// would decay all of them, and move them with their old momentum). Give it the gradient
    /// as rows, [`step_sparse`](SparseAdam::step_sparse) with a [`RowGrad`] per tensor (what
    /// `nn.Embedding(sparse=True)` produces), or as a dense tensor through
    /// [`Optimizer::step`](crate::Optimizer::step), which treats every row whose gradient is
    /// all zero as absent (PyTorch's `grad.to_sparse(1)`; for a scalar, a zero gradient).
    ///
    /// Per tensor, at step `t`, with the gradient's rows coalesced (a repeated row's entries
    /// summed, in PyTorch's order) and for each row present, element by element:
    ///
    /// ```text
    /// g ← −g                                           if maximize
    /// m ← m + (g − m)·(1 − β₁)                         three roundings, as PyTorch
    /// v ← v + (g² − v)·(1 − β₂)
    /// p ← p + (m / (√v + ε))·(−γ·√(1 − β₂ᵗ)/(1 − β₁ᵗ))
    /// ```
    ///
    /// `ε` is added to `√v` and the bias corrections are in the step size (Adam's "ε̂" form;
    /// [`Adam`](crate::Adam) adds `ε` to the bias-corrected `√v̂`). Rows absent from a step's
    /// gradient keep their parameter and moments; the step count `t` advances for every tensor
    /// at every step, an empty gradient included (as PyTorch's per-tensor count does when every
    /// tensor has a gradient). Defaults are PyTorch's: see [`SparseAdamConfig`].
    ///
    /// **Coalescing.** PyTorch sums a row's repeated entries in the order of
    /// `torch.sort(indices)`: libstdc++'s `std::sort` for fewer than 32,768 entries (not
    /// stable: repeated rows are visited in an order of its own) and a stable radix sort from
    /// there on. This crate reproduces both orders exactly, so the sums are PyTorch's bits.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{array, Array2};
    /// use ndarray_optim::{RowGrad, SparseAdam};
    ///
    /// let mut table = Array2::<f32>::ones((5, 2)); // an embedding table: 5 tokens, width 2
    /// let mut opt = SparseAdam::new(0.1)?;
    /// // The batch looked up tokens 1, 3 and 1 again: the two entries of row 1 are summed.
    /// let values = array![[1.0_f32, -1.0], [2.0, 0.5], [1.0, -1.0]];
    /// opt.step_sparse(&mut table, &[RowGrad::new(&[1, 3, 1], values.view())])?;
    /// // The first step moves each element of a present row by γ against its gradient's sign.
    /// assert!((table[[1, 0]] - 0.9).abs() < 1e-6 && (table[[1, 1]] - 1.1).abs() < 1e-6);
    /// assert!((table[[3, 0]] - 0.9).abs() < 1e-6);
    /// assert_eq!(table.row(0).to_vec(), [1.0, 1.0]); // rows 0, 2 and 4: untouched
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    SparseAdam, SparseAdamConfig, "SparseAdam::<f32>::new(0.1)?"
}

impl<A: Float> SparseAdam<A> {
    /// SparseAdam with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is not a finite number `> 0`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::SparseAdam;
    /// assert_eq!(SparseAdam::<f32>::new(0.01)?.config().betas, (0.9, 0.999));
    /// assert!(SparseAdam::<f32>::new(0.0).is_err()); // PyTorch refuses it too
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        SparseAdamConfig::default().lr(lr).build()
    }

    /// One step with row-sparse gradients: `grads[i]` holds the rows of tensor `i`'s
    /// gradient (see [`RowGrad`]). Only the rows named change, in the parameter and in the
    /// moments; an empty [`RowGrad`] changes nothing but still counts the step. The rows of a
    /// tensor with `n` rows (the length of its first axis; one for a scalar) are `0..n`.
    ///
    /// The checks and guarantees are those of [`Optimizer::step`](crate::Optimizer::step),
    /// with the values' non-finite entries checked under the
    /// [`NonFinitePolicy`](crate::NonFinitePolicy) (the element reported is the entry's index
    /// in `values`). Allocates nothing after the first step, except when a step brings more
    /// entries than any before (the working space that orders them grows then).
    ///
    /// # Errors
    ///
    /// Before anything changes: [`Error::LengthMismatch`] (not one `RowGrad` per tensor),
    /// [`Error::RowShapeMismatch`] (values of another shape than
    /// `[indices.len(), the parameter's shape without its first axis…]`),
    /// [`Error::RowOutOfRange`], [`Error::NonFiniteGradient`], and the errors of
    /// [`Optimizer::step`](crate::Optimizer::step) about the parameters and the state.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{array, Array1, Array2};
    /// use ndarray_optim::{Error, RowGrad, SparseAdam};
    ///
    /// let (mut words, mut bias) = (Array2::<f64>::zeros((100, 8)), Array1::<f64>::zeros(100));
    /// let mut opt = SparseAdam::new(1e-3)?;
    /// let ids = [7, 42, 7];
    /// let (dw, db) = (Array2::<f64>::ones((3, 8)), array![1.0, -1.0, 0.5]);
    /// opt.step_sparse(
    ///     &mut (&mut words, &mut bias),
    ///     &[RowGrad::new(&ids, dw.view()), RowGrad::new(&ids, db.view())],
    /// )?;
    /// assert!(words[[7, 0]] < 0.0 && words[[8, 0]] == 0.0);
    /// // A gradient for row 100 of a 100-row table is refused, and nothing changes.
    /// let bad = opt.step_sparse(
    ///     &mut (&mut words, &mut bias),
    ///     &[RowGrad::new(&[100], dw.slice(ndarray::s![..1, ..])), RowGrad::new(&ids, db.view())],
    /// );
    /// assert!(matches!(bad, Err(Error::RowOutOfRange { index: 0, row: 100, .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn step_sparse(
        &mut self,
        params: &mut dyn TensorListMut<A>,
        grads: &[RowGrad<'_, A>],
    ) -> Result<(), Error> {
        let check = |index: usize, param: &dyn Tensor<A>| {
            let grad = &grads[index];
            let shape = param.shape();
            let rest = shape.get(1..).unwrap_or(&[]);
            let found = grad.values.shape();
            if found.first() != Some(&grad.indices.len()) || &found[1..] != rest {
                let mut expected = vec![grad.indices.len()];
                expected.extend_from_slice(rest);
                return Err(Error::RowShapeMismatch {
                    index,
                    expected,
                    found: found.to_vec(),
                });
            }
            let (rows, _) = rows_of(shape);
            match grad.indices.iter().position(|&row| row >= rows) {
                Some(position) => Err(Error::RowOutOfRange {
                    index,
                    position,
                    row: grad.indices[position],
                    rows,
                }),
                None => Ok(()),
            }
        };
        let non_finite = |index: usize| {
            pass::first_non_finite(&grads[index].values).map(|(at, value)| (at, value.widen()))
        };
        let mut update = |index: usize,
                          _kernel: &SparseAdamConfig,
                          sc: &SparseAdamScalars<A::Compute>,
                          p: &mut dyn TensorMut<A>,
                          state: &mut SparseAdamState<A>,
                          order: &mut Vec<usize>,
                          stochastic: Option<u64>| {
            let grad = &grads[index];
            if grad.indices.is_empty() {
                return; // PyTorch skips an empty gradient
            }
            let (_, len) = rows_of(p.shape());
            let (m, v) = state.moments();
            let mut p = p.view_dyn_mut();
            let values = &grad.values;
            let flat = values.as_slice();
            coalesce_order(grad.indices, order);
            let mut start = 0;
            while start < order.len() {
                let r = grad.indices[order[start]];
                let mut end = start + 1;
                while end < order.len() && grad.indices[order[end]] == r {
                    end += 1;
                }
                let entries = &order[start..end];
                // Element j of the row: the entries summed in PyTorch's order (a copy of the
                // first, then `+=` of each next, as `coalesce`'s axpy).
                let sum = |j: usize| {
                    let value = |k: usize| match flat {
                        Some(flat) => flat[k * len + j],
                        None => strided_value(values, k, j),
                    };
                    entries[1..]
                        .iter()
                        .fold(value(entries[0]), |acc, &k| acc + value(k))
                };
                let (m, v) = (&mut m[r * len..(r + 1) * len], &mut v[r * len..(r + 1) * len]);
                let (maximize, moves) = (sc.maximize, sc.neg_step != A::Compute::zero());
                let row = (row_mut(&mut p, r), (0..len).map(sum), m, v);
                unswitch! {
                    const MAXIMIZE: bool = maximize;
                    const MOVES: bool = moves;
                    pass::with_store!(A, stochastic, |store| {
                        update_row::<A, MAXIMIZE, MOVES>(sc, row, store, r * len)
                    })
                }
                start = end;
            }
        };
        self.driver
            .step_with(params, grads.len(), &check, &non_finite, &mut update)
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // bit-exact on purpose
mod tests {
    use super::*;
    use crate::Optimizer;
    use ndarray::{Array1, Array2, array};

    #[test]
    fn the_sort_is_stable_up_to_16_keys_and_from_32768() {
        let mut order = Vec::new();
        let keys: Vec<usize> = (0..16).map(|i| (i * 7) % 3).collect();
        coalesce_order(&keys, &mut order);
        assert!(order.windows(2).all(|w| (keys[w[0]], w[0]) < (keys[w[1]], w[1])));
        let keys: Vec<usize> = (0..RADIX_SORT_MIN).map(|i| (i * 7919) % 13).collect();
        coalesce_order(&keys, &mut order);
        assert!(order.windows(2).all(|w| (keys[w[0]], w[0]) < (keys[w[1]], w[1])));
        // In between, sorted by key (the order of equal keys is std::sort's).
        for n in [17, 100, 1000, 5000] {
            let keys: Vec<usize> = (0..n).map(|i| (i * 31 + i / 7) % 11).collect();
            coalesce_order(&keys, &mut order);
            assert!(order.windows(2).all(|w| keys[w[0]] <= keys[w[1]]));
            let mut seen = order.clone();
            seen.sort_unstable();
            assert!(seen.iter().copied().eq(0..n));
        }
    }

    /// The permutations `torch.sort` gave the fixture's keys (`tests/fixtures/sparse_adam.json`,
    /// `sort_cases` of the generator: random keys with many and few repeats, and patterns that
    /// drive std::sort into its heapsort fallback), exactly. The fixtures are not in the
    /// published package; without them there is nothing to compare.
    #[test]
    fn the_order_is_torch_sorts() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sparse_adam.json");
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let list = |v: &serde_json::Value| -> Vec<usize> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_u64().unwrap() as usize)
                .collect()
        };
        let cases = doc["sort"].as_array().unwrap();
        assert!(cases.len() >= 60);
        let mut order = Vec::new();
        for case in cases {
            let keys = list(&case["keys"]);
            coalesce_order(&keys, &mut order);
            assert_eq!(order, list(&case["permutation"]), "{} keys", keys.len());
        }
    }

    #[test]
    fn the_heap_sort_fallback_sorts() {
        for n in [2, 3, 17, 64, 101] {
            let keys: Vec<usize> = (0..n).map(|i| (i * 37) % 10).collect();
            let mut v: Vec<usize> = (0..n).collect();
            introsort::heap_sort(&mut v, &keys);
            assert!(v.windows(2).all(|w| keys[w[0]] <= keys[w[1]]), "{n}");
        }
    }

    #[test]
    fn the_dense_path_skips_zero_rows_as_to_sparse_does() {
        let mut dense = Array2::<f64>::ones((3, 2));
        let mut sparse = dense.clone();
        let g = array![[0.0, 0.0], [1.0, 0.0], [0.0, -2.0]];
        let mut a = SparseAdam::new(0.1).unwrap();
        let mut b = SparseAdam::new(0.1).unwrap();
        for _ in 0..3 {
            a.step(&mut dense, &g).unwrap();
            let values = array![[1.0, 0.0], [0.0, -2.0]];
            b.step_sparse(&mut sparse, &[RowGrad::new(&[1, 2], values.view())])
                .unwrap();
        }
        assert_eq!(dense, sparse);
        assert_eq!(dense.row(0).to_vec(), [1.0, 1.0]);
        assert_eq!(a.save_state(), b.save_state());
    }

    #[test]
    fn an_overflowed_second_moment_never_makes_nan() {
        let mut w = Array1::<f32>::ones(2);
        let mut opt = SparseAdam::new(0.1).unwrap();
        for g in [1e30_f32, 1.0, 1e30, 3.0] {
            opt.step(&mut w, &array![g, -g]).unwrap();
            assert!(w.iter().all(|x| x.is_finite()), "{w}");
        }
    }
}
