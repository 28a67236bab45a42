//! Muon: momentum orthogonalised by a Newton–Schulz iteration, `torch.optim.Muon`.

use crate::builder::config;
use crate::check;
use crate::driver::buffers::state;
use crate::driver::{Hyperparameters, Kernel, lr_and_weight_decay, momentum_is, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use num_traits::Float as _;
use crate::ops::{LerpWeight, descend};
use crate::pass::{self, Pass};

/// How Muon scales its learning rate with the matrix's shape `A × B` (PyTorch's
/// `adjust_lr_fn`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum AdjustLr {
    /// `γ·√max(1, A/B)` (PyTorch's `None` and `"original"`, Keller Jordan's).
    #[default]
    Original,
    /// `γ·0.2·√max(A, B)`: an update of the RMS AdamW's would have, so AdamW's learning rate
    /// and weight decay carry over (Moonshot's; `"match_rms_adamw"`).
    MatchRmsAdamw,
    /// `γ·√(A/B)` (`"spectral_unclamped"`).
    SpectralUnclamped,
}

crate::builder::plain!(AdjustLr, NewtonSchulzPrecision);

impl AdjustLr {
    fn ratio(self, a: usize, b: usize) -> f64 {
        let (a, b) = (a as f64, b as f64);
        match self {
            AdjustLr::Original => f64::max(1.0, a / b).sqrt(),
            AdjustLr::MatchRmsAdamw => 0.2 * f64::max(a, b).sqrt(),
            AdjustLr::SpectralUnclamped => (a / b).sqrt(),
        }
    }
}

/// The arithmetic of Muon's Newton–Schulz iteration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum NewtonSchulzPrecision {
    /// PyTorch's: the iteration in `bfloat16`, every matrix product accumulated in `f32` and
    /// rounded to `bfloat16` (as are the normalisation and each `addmm`), whatever the
    /// parameters' type. The default, for PyTorch's numbers: bit-identical to PyTorch for small
    /// matrices, and within bf16 rounding (about 1 %) for large ones, whose products PyTorch's
    /// BLAS accumulates in another order.
    #[default]
    Bf16,
    /// The iteration in the parameters' own type (`f32` or `f64`): more accurate (about 1e-6
    /// from an exact iteration in `f32`), and 1–2 % (relative Frobenius norm of the update) from
    /// PyTorch's `bfloat16` numbers.
    Native,
}

config! {
    /// Hyperparameters of [`Muon`]: those of PyTorch's `torch.optim.Muon`, with its defaults.
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `lr` | `1e-3` | `≥ 0` |
    /// | `weight_decay` | `0.1` | `≥ 0` (decoupled, with the unadjusted `γ`) |
    /// | `momentum` | `0.95` | `≥ 0` |
    /// | `nesterov` | `true` | |
    /// | `ns_coefficients` | `(3.4445, -4.7750, 2.0315)` | finite |
    /// | `eps` | `1e-7` | `> 0` (PyTorch: any; with 0 a zero gradient gives 0/0) |
    /// | `ns_steps` | `5` | `< 100`, as PyTorch requires |
    /// | `adjust_lr_fn` | [`AdjustLr::Original`] (PyTorch's `None`) | |
    /// | `ns_precision` | [`NewtonSchulzPrecision::Bf16`] (PyTorch's arithmetic) | not in PyTorch |
    ///
    /// Muon takes matrices (rank 2) only, as PyTorch's: a tensor of another rank is refused
    /// with [`Error::UnsupportedRank`] before anything changes. There is no `maximize` and no
    /// step counter, as in PyTorch.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{AdjustLr, MuonConfig, Optimizer};
    ///
    /// let opt = MuonConfig::default()
    ///     .lr(0.02)
    ///     .adjust_lr_fn(AdjustLr::MatchRmsAdamw)
    ///     .build::<f32>()?;
    /// assert_eq!(opt.name(), "Muon");
    /// assert!(MuonConfig::default().ns_steps(100).build::<f32>().is_err());
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub struct MuonConfig {
        /// Learning rate `γ`.
        lr: f64 = 1e-3,
        /// Decoupled weight decay `λ`: `p ← p·(1 − γλ)`, with the unadjusted learning rate.
        weight_decay: f64 = 0.1,
        /// Momentum `μ` of the running average of the gradients.
        momentum: f64 = 0.95,
        /// Orthogonalise the Nesterov look-ahead `g + μ(B − g)` instead of `B`.
        nesterov: bool = true,
        /// `(a, b, c)` of the quintic Newton–Schulz step `X ← aX + (bA + cA²)X`, `A = XXᵀ`.
        ns_coefficients: (f64, f64, f64) = (3.4445, -4.7750, 2.0315),
        /// The smallest Frobenius norm the update is divided by.
        eps: f64 = 1e-7,
        /// Newton–Schulz steps.
        ns_steps: usize = 5,
        /// How the learning rate scales with the matrix's shape.
        adjust_lr_fn: AdjustLr = AdjustLr::Original,
        /// The arithmetic of the Newton–Schulz iteration.
        ns_precision: NewtonSchulzPrecision = NewtonSchulzPrecision::Bf16,
    }
}

impl Hyperparameters for MuonConfig {
    type Kernel = MuonConfig;

    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::non_negative("weight_decay", self.weight_decay)?;
        check::non_negative("momentum", self.momentum)?;
        let (a, b, c) = self.ns_coefficients;
        check::require(a.is_finite(), "ns_coefficients[0]", a, "must be finite")?;
        check::require(b.is_finite(), "ns_coefficients[1]", b, "must be finite")?;
        check::require(c.is_finite(), "ns_coefficients[2]", c, "must be finite")?;
        check::positive("eps", self.eps)?;
        check::require(
            self.ns_steps < 100,
            "ns_steps",
            self.ns_steps as f64,
            "must be < 100",
        )
    }
    fn kernel(&self) -> MuonConfig {
        self.clone()
    }
    lr_and_weight_decay!();
    momentum_is!(momentum);
}

#[derive(Clone, Copy)]
pub(crate) struct MuonScalars<A> {
    buffer_weight: LerpWeight<A>,
    nesterov_weight: Option<LerpWeight<A>>,
    decay: A,
}

/// Elements of the Newton–Schulz working space for a matrix of `shape` (`r × c` with
/// `r = min`): `X` and the next `X` (`r·c` each), `XXᵀ` and `bA + cA²` (`r²` each).
fn working_space(shape: &[usize]) -> usize {
    match shape {
        [m, n] => {
            let r = (*m).min(*n);
            2 * m * n + 2 * r * r
        }
        _ => 0,
    }
}

state! {
    /// Per-tensor state of Muon.
    pub(crate) struct MuonState for MuonConfig {
        /// The momentum buffer `B` (row-major).
        momentum_buffer: shaped(|_, shape| Some(shape.to_vec())),
        /// The Newton–Schulz iteration's working space (not saved).
        work: scratch(|_, shape| working_space(shape)),
    }
}

/// Rounds an `f32` to the nearest `bfloat16` (ties to even), kept as an `f32`.
#[inline(always)]
fn bf16(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    let bits = x.to_bits();
    let rounded = bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) & 0xffff_0000;
    f32::from_bits(rounded)
}

/// The arithmetic one Newton–Schulz iteration runs in: accumulation type `W` and the rounding
/// of every operation's result.
trait Arith<A: Float>: Copy {
    type W: Float;
    fn round(self, x: Self::W) -> Self::W;
    #[inline(always)]
    fn w(self, a: A) -> Self::W {
        Self::W::from_f64(a.widen())
    }
    #[inline(always)]
    fn a(self, w: Self::W) -> A {
        A::from_f64(w.widen())
    }
}

#[derive(Clone, Copy)]
struct Bf16Arith;
impl<A: Float> Arith<A> for Bf16Arith {
    type W = f32;
    #[inline(always)]
    fn round(self, x: f32) -> f32 {
        bf16(x)
    }
}

#[derive(Clone, Copy)]
struct NativeArith;
impl<A: Float> Arith<A> for NativeArith {
    type W = A;
    #[inline(always)]
    fn round(self, x: A) -> A {
        x
    }
}

/// `out = round(f(i, j, Σ_k a[i, k]·b[k, j]))` for row-major `a` (`r × k`) and `b` (`k × n`);
/// each sum in index order, accumulated in `W` (one FMA per term, exact for `bfloat16`
/// inputs). No allocation.
#[allow(clippy::too_many_arguments)]
fn product<A: Float, M: Arith<A>>(
    m: M,
    a: &[A],
    b: &[A],
    out: &mut [A],
    r: usize,
    k: usize,
    n: usize,
    f: impl Fn(usize, M::W) -> M::W,
) {
    pass::with_simd(
        #[inline(always)]
        || {
            for i in 0..r {
                let row = &mut out[i * n..(i + 1) * n];
                row.iter_mut().for_each(|x| *x = A::zero());
                for kk in 0..k {
                    let aik = m.w(a[i * k + kk]);
                    let brow = &b[kk * n..(kk + 1) * n];
                    for j in 0..n {
                        row[j] = m.a(aik.mul_add(m.w(brow[j]), m.w(row[j])));
                    }
                }
                for (j, x) in row.iter_mut().enumerate() {
                    *x = m.a(m.round(f(i * n + j, m.w(*x))));
                }
            }
        },
    )
}

/// `G = round(X·Xᵀ)` for row-major `X` (`r × c`), through `xt`, a working matrix of `c × r`
/// that receives `Xᵀ`: as [`product`], so that the loop over `G`'s columns is over contiguous
/// memory and vectorises. Each entry is still its dot product in index order, one FMA per term,
/// the numbers of a dot product of two rows.
fn gram<A: Float, M: Arith<A>>(m: M, x: &[A], xt: &mut [A], g: &mut [A], r: usize, c: usize) {
    for i in 0..r {
        for k in 0..c {
            xt[k * r + i] = x[i * c + k];
        }
    }
    product(m, x, xt, g, r, c, r, |_, t| t);
}

/// The Newton–Schulz iteration on `X` (`r × c`, `r ≤ c`, already holding the rounded input),
/// in place, as PyTorch's `_zeropower_via_newtonschulz`: `X ← X / max(‖X‖, ε)`, then `steps`
/// times `A = XXᵀ; B = bA + cA²; X ← aX + BX`.
fn newton_schulz<A: Float, M: Arith<A>>(
    m: M,
    work: &mut [A],
    r: usize,
    c: usize,
    (a, b, cc): (f64, f64, f64),
    eps: f64,
    steps: usize,
) {
    let (x, rest) = work.split_at_mut(r * c);
    let (y, rest) = rest.split_at_mut(r * c);
    let (g, h) = rest.split_at_mut(r * r);
    let norm = x.iter().map(|v| v.widen() * v.widen()).sum::<f64>().sqrt();
    let norm = m.round(M::W::from_f64(norm));
    let eps = M::W::from_f64(eps);
    let norm = m.round(if norm < eps { eps } else { norm });
    x.iter_mut().for_each(|v| *v = m.a(m.round(m.w(*v) / norm)));
    let (wa, wb, wc) = (M::W::from_f64(a), M::W::from_f64(b), M::W::from_f64(cc));
    let (mut x, mut y) = (x, y);
    for _ in 0..steps {
        // `y` is free until the last product writes the next `X` into it.
        gram(m, x, y, g, r, c);
        // `addmm(A, A, A, beta=b, alpha=c)`: b·A + c·(A·A), rounded once.
        product(m, g, g, h, r, r, r, |k, t| wb * m.w(g[k]) + wc * t);
        // `addmm(X, B, X, beta=a)`: a·X + B·X, rounded once.
        let xs: &[A] = x;
        product(m, h, xs, y, r, r, c, |k, t| wa * m.w(xs[k]) + t);
        std::mem::swap(&mut x, &mut y);
    }
    if steps % 2 == 1 {
        // The result is in the second half: move it to the first.
        let (first, second) = work.split_at_mut(r * c);
        first.copy_from_slice(&second[..r * c]);
    }
}

impl<A: Float> Kernel<A> for MuonConfig {
    type State = MuonState<A>;
    type Scalars = MuonScalars<A::Compute>;

    fn check_shape(&self, index: usize, shape: &[usize]) -> Result<(), Error> {
        if shape.len() == 2 {
            Ok(())
        } else {
            Err(Error::UnsupportedRank {
                optimizer: "Muon",
                index,
                rank: shape.len(),
                supported: "matrices (rank 2)",
            })
        }
    }

    fn scalars(&self, _step: u64, _sum: f64) -> Self::Scalars {
        MuonScalars {
            buffer_weight: LerpWeight::new(1.0 - self.momentum),
            nesterov_weight: self.nesterov.then(|| LerpWeight::new(self.momentum)),
            decay: A::Compute::from_f64(1.0 - self.lr * self.weight_decay),
        }
    }

    fn update(&self, sc: &Self::Scalars, pass: &mut Pass<'_, A>, state: &mut MuonState<A>) {
        let (rows, cols) = match pass.param().shape() {
            &[rows, cols] => (rows, cols),
            _ => unreachable!("checked by check_shape"),
        };
        let transposed = rows > cols;
        let (r, c) = if transposed { (cols, rows) } else { (rows, cols) };
        let Some(buffer) = state.momentum_buffer.as_mut() else {
            unreachable!("every matrix has a momentum buffer")
        };
        let buffer = &mut buffer.data;
        let work = &mut state.work;
        let sc = *sc;
        let bf16_mode = self.ns_precision == NewtonSchulzPrecision::Bf16;
        // The momentum and the matrix to orthogonalise, in logical order (X is its transpose
        // for a tall matrix).
        let mut k = 0;
        pass.for_each_logical(|_, g| {
            // Stored in the parameters' type; the update uses the value before it is rounded.
            let b = sc.buffer_weight.lerp(buffer[k].to_compute(), g);
            buffer[k] = Float::from_compute(b);
            let u = match sc.nesterov_weight {
                Some(weight) => weight.lerp(g, b),
                None => b,
            };
            let (i, j) = (k / cols, k % cols);
            let at = if transposed { j * rows + i } else { k };
            work[at] = if bf16_mode {
                A::Compute::from_f64(f64::from(bf16(u.widen() as f32)))
            } else {
                u
            };
            k += 1;
        });
        let steps = (self.ns_coefficients, self.eps, self.ns_steps);
        if bf16_mode {
            newton_schulz(Bf16Arith, work, r, c, steps.0, steps.1, steps.2);
        } else {
            newton_schulz(NativeArith, work, r, c, steps.0, steps.1, steps.2);
        }
        let neg_lr = A::Compute::from_f64(-(self.lr * self.adjust_lr_fn.ratio(rows, cols)));
        let mut k = 0;
        pass.for_each_logical(|p, _| {
            let (i, j) = (k / cols, k % cols);
            let o = work[if transposed { j * rows + i } else { k }];
            *p = descend(*p * sc.decay, o, neg_lr);
            k += 1;
        });
    }
}

optimizer_type! {
    /// Muon (Jordan et al., 2024): PyTorch's `torch.optim.Muon`, for the weight matrices of a
    /// network.
    ///
    /// Momentum SGD whose update is orthogonalised: a Newton–Schulz iteration pushes every
    /// singular value of the momentum matrix towards 1 (to about [0.7, 1.2]: it is not an exact
    /// orthogonalisation, by design), so the step moves every direction of the matrix by about
    /// the same amount, rare directions as much as dominant ones. Matrices (rank 2) only:
    /// give vectors, scalars, embeddings and the output layer to another optimizer (AdamW), as
    /// PyTorch's documentation advises. Per matrix of shape `A × B`:
    ///
    /// ```text
    /// B ← B + (1 − μ)·(g − B)                         (PyTorch's lerp: an EMA, B = (1 − μ)g at step 1)
    /// U = g + μ·(B − g)  if nesterov, else  U = B
    /// X = U (Uᵀ if A > B);  X ← X / max(‖X‖_F, ε)
    /// repeat ns_steps:  M = XXᵀ;  X ← aX + (bM + cM²)X
    /// O = X (Xᵀ if A > B)
    /// p ← p·(1 − γλ)
    /// p ← p − γ·ratio(A, B)·O                         ratio: see AdjustLr
    /// ```
    ///
    /// PyTorch runs the iteration in `bfloat16`; so does this by default
    /// ([`NewtonSchulzPrecision::Bf16`]: products accumulated in `f32`, every result rounded
    /// to `bfloat16`), which gives PyTorch's numbers bit for bit on small matrices.
    /// [`NewtonSchulzPrecision::Native`] runs it in the parameters' type instead. The matrix
    /// products are plain loops with no allocation (a step allocates nothing after the
    /// first); their cost is `2·ns_steps·(2r²c + r³)` multiply-adds for `r = min(A, B)`,
    /// `c = max(A, B)`. Defaults are PyTorch's: see [`MuonConfig`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::Array2;
    /// use ndarray_optim::{Muon, MuonConfig, Optimizer};
    ///
    /// let mut w = Array2::<f32>::zeros((4, 4));
    /// let mut g = Array2::<f32>::zeros((4, 4));
    /// g[[0, 0]] = 1.0; // a small gradient in one direction…
    /// g[[1, 1]] = 10.0; // …and a ten times larger one in another
    /// let mut opt = MuonConfig::default().lr(0.1).weight_decay(0.0).build()?;
    /// opt.step(&mut w, &g)?;
    /// // Both directions move by about the same amount.
    /// assert!(w[[0, 0]] < -0.05 && w[[1, 1]] < -0.05);
    /// assert!((w[[0, 0]] / w[[1, 1]] - 1.0).abs() < 0.5);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Muon, MuonConfig, "Muon::<f32>::new(0.1)?"
}

impl<A: Float> Muon<A> {
    /// Muon with learning rate `lr` and PyTorch's other defaults (weight decay 0.1).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::Muon;
    /// assert_eq!(Muon::<f32>::new(0.02)?.config().ns_steps, 5);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        MuonConfig::default().lr(lr).build()
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // bit-exact on purpose
mod tests {
    use super::*;

    #[test]
    fn bf16_rounds_to_nearest_even() {
        assert_eq!(bf16(1.0), 1.0);
        assert_eq!(bf16(1.0 + 1.0 / 256.0), 1.0); // a tie: to even
        assert_eq!(bf16(1.0 + 3.0 / 256.0), 1.0 + 4.0 / 256.0); // a tie: to even
        assert_eq!(bf16(1.0 + 1.5 / 256.0), 1.0 + 2.0 / 256.0);
        assert!(bf16(f32::NAN).is_nan());
        assert_eq!(bf16(f32::MAX), f32::INFINITY);
    }

    #[test]
    fn adjusted_learning_rates_are_pytorchs() {
        assert_eq!(AdjustLr::Original.ratio(8, 2), 2.0);
        assert_eq!(AdjustLr::Original.ratio(2, 8), 1.0);
        assert_eq!(AdjustLr::SpectralUnclamped.ratio(2, 8), 0.5);
        assert_eq!(AdjustLr::MatchRmsAdamw.ratio(4, 9), 0.2 * 3.0);
    }
}
