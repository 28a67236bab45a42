//! The problem the distributed tests shard: the in-process ones (`tests/suite/distributed.rs`)
//! and the MPI job (`tests/mpi`), so that both check the same steps.

use ndarray::{ArrayD, IxDyn};
use ndarray_optim::Float;

/// Steps each equivalence check takes.
pub const STEPS: usize = 20;

/// Tensors of uneven sizes and several ranks: five of them, fewer than the largest world.
pub const SHAPES: &[&[usize]] = &[&[3, 4], &[5], &[2, 3, 2], &[1], &[7, 2]];
/// The same for optimizers of matrices only.
pub const MATRICES: &[&[usize]] = &[&[3, 4], &[5, 2], &[1, 3], &[2, 2], &[6, 1]];

/// Tensors of `shapes` whose element `i` of tensor `t` is `f(t, i)`.
pub fn tensors<A: Float>(shapes: &[&[usize]], f: impl Fn(usize, usize) -> f64) -> Vec<ArrayD<A>> {
    shapes
        .iter()
        .enumerate()
        .map(|(t, shape)| {
            let n: usize = shape.iter().product();
            ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|i| A::from_f64(f(t, i))).collect())
                .unwrap()
        })
        .collect()
}

/// The parameters' starting values.
pub fn start<A: Float>(shapes: &[&[usize]]) -> Vec<ArrayD<A>> {
    tensors(shapes, |t, i| ((t * 31 + i * 7) as f64 * 0.37).sin() * 1.5)
}

/// The (already all-reduced) gradient of step `k`: varied signs and magnitudes.
pub fn gradient<A: Float>(shapes: &[&[usize]], k: usize) -> Vec<ArrayD<A>> {
    tensors(shapes, |t, i| {
        ((t * 13 + i * 5 + k * 11) as f64 * 0.71).cos() * (1.0 + (k % 4) as f64)
    })
}

/// Every element's bits (widened to `f64`, exactly): equal only if the values are the same
/// bits, signed zeros and NaN payloads included.
pub fn bits<A: Float>(params: &[ArrayD<A>]) -> Vec<Vec<u64>> {
    params
        .iter()
        .map(|p| p.iter().map(|x| x.widen().to_bits()).collect())
        .collect()
}
