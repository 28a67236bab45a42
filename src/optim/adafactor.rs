//! Adafactor: `torch.optim.Adafactor`, second moments factored into row and column statistics.

use crate::builder::config;
use crate::check;
use crate::driver::buffers::state;
use crate::driver::{Hyperparameters, Kernel, lr_and_weight_decay, optimizer_type};
use crate::error::Error;
use crate::float::Float;
use num_traits::{One as _, Zero as _};
use crate::ops::{LerpWeight, descend, saturate};
use crate::pass::{self, Pass, unswitch};

config! {
    /// Hyperparameters of [`Adafactor`]: those of PyTorch's `torch.optim.Adafactor`, with its
    /// defaults.
    ///
    /// | field | default | valid |
    /// |---|---|---|
    /// | `lr` | `1e-2` | `≥ 0`: the largest relative step size `ρ` |
    /// | `beta2_decay` | `-0.8` | `≤ 0`: the second-moment weight is `t^beta2_decay` |
    /// | `eps` | `(None, 1e-3)` | `ε₁ ≥ 0` or `None` (the element type's machine epsilon), `ε₂ ≥ 0` |
    /// | `d` | `1.0` | `≥ 1`: the clipping threshold of the update's RMS |
    /// | `weight_decay` | `0` | `≥ 0` (decoupled: `p ← p·(1 − γλ)`) |
    /// | `maximize` | `false` | |
    ///
    /// PyTorch's docstring gives `weight_decay = 1e-2`, but its code (which this follows)
    /// defaults to 0. This is PyTorch's Adafactor, not Hugging Face's or fairseq's (which have
    /// `scale_parameter`, `relative_step`, `warmup_init` and a first moment) nor optax's (which
    /// factors the two largest dimensions of tensors of at least 128 elements): there is no
    /// first moment, and every tensor of rank ≥ 2 is factored over its last two dimensions.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::{AdafactorConfig, Optimizer};
    ///
    /// let opt = AdafactorConfig::default().lr(0.01).eps((Some(1e-30), 1e-3)).build::<f32>()?;
    /// assert_eq!(opt.name(), "Adafactor");
    /// assert!(AdafactorConfig::default().beta2_decay(0.5).build::<f32>().is_err()); // ≤ 0
    /// assert!(AdafactorConfig::default().d(0.5).build::<f32>().is_err()); // ≥ 1
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub struct AdafactorConfig {
        /// Learning rate `γ`: the relative step size is `ρₜ = min(γ, 1/√t)`.
        lr: f64 = 1e-2,
        /// The decay exponent `c`: the second moments move towards the new statistics by
        /// `t^c` (1 at the first step).
        beta2_decay: f64 = -0.8,
        /// `(ε₁, ε₂)`: `ε₁` keeps the second moment away from 0 (`None`: the element type's
        /// machine epsilon, as PyTorch's `None`), `ε₂` is the smallest parameter RMS the step
        /// is relative to.
        eps: (Option<f64>, f64) = (None, 1e-3),
        /// Clipping threshold `d` of the update's root mean square.
        d: f64 = 1.0,
        /// Decoupled weight decay `λ`: `p ← p·(1 − γλ)`.
        weight_decay: f64 = 0.0,
        /// Maximise the objective instead of minimising it.
        maximize: bool = false,
    }
}

impl Hyperparameters for AdafactorConfig {
    type Kernel = AdafactorConfig;
    fn validate(&self) -> Result<(), Error> {
        check::non_negative("lr", self.lr)?;
        check::require(
            self.beta2_decay.is_finite() && self.beta2_decay <= 0.0,
            "beta2_decay",
            self.beta2_decay,
            "must be finite and <= 0",
        )?;
        if let Some(eps1) = self.eps.0 {
            check::non_negative("eps[0]", eps1)?;
        }
        check::non_negative("eps[1]", self.eps.1)?;
        check::require(
            self.d.is_finite() && self.d >= 1.0,
            "d",
            self.d,
            "must be finite and >= 1",
        )?;
        check::non_negative("weight_decay", self.weight_decay)
    }
    fn kernel(&self) -> AdafactorConfig {
        self.clone()
    }
    lr_and_weight_decay!();
}

#[derive(Clone, Copy)]
pub(crate) struct AdafactorScalars<A> {
    /// `t^c`, the weight of the new statistics.
    weight: LerpWeight<A>,
    /// `ρₜ = min(γ, 1/√t)`.
    rho: f64,
    eps1: A,
    eps1_squared: A,
    eps2: f64,
    d: f64,
    /// `1 − γλ` when there is weight decay.
    decay: Option<A>,
    maximize: bool,
}

/// `row_var`'s shape for a tensor of rank ≥ 2: the last axis reduced to 1.
fn row_shape(shape: &[usize]) -> Option<Vec<usize>> {
    (shape.len() >= 2).then(|| {
        let mut row = shape.to_vec();
        row[shape.len() - 1] = 1;
        row
    })
}

/// `col_var`'s shape for a tensor of rank ≥ 2: the second-last axis reduced to 1.
fn col_shape(shape: &[usize]) -> Option<Vec<usize>> {
    (shape.len() >= 2).then(|| {
        let mut col = shape.to_vec();
        col[shape.len() - 2] = 1;
        col
    })
}

state! {
    /// Per-tensor state of Adafactor: factored second moments for tensors of rank ≥ 2, a full
    /// one for vectors and scalars.
    pub(crate) struct AdafactorState for AdafactorConfig {
        /// Row statistics `R` (mean of `g²` over the last axis), shape `[…, n, 1]`.
        row_var: shaped(|_, shape| row_shape(shape)),
        /// Column statistics `C` (mean of `g²` over the second-last axis), shape `[…, 1, m]`.
        col_var: shaped(|_, shape| col_shape(shape)),
        /// Working space: the column sums of `g²` of one matrix (not saved).
        col_sums: scratch_f64(|_, shape| if shape.len() >= 2 { shape[shape.len() - 1] } else { 0 }),
        /// The unfactored second moment `v` of a tensor of rank 0 or 1.
        variance: shaped(|_, shape| (shape.len() < 2).then(|| shape.to_vec())),
    }
}

/// `rsqrt(max(v, ε₁²))·g`, with PyTorch's `rsqrt` (`1/√x`, two roundings); a zero gradient
/// gives a zero update even where `v` is 0 (an `ε₁` whose square underflows, or `ε₁ = 0`),
/// where PyTorch computes `∞·0 = NaN`.
#[inline(always)]
fn scaled<A: Float>(v: A, g: A, eps1_squared: A) -> A {
    let v = if v < eps1_squared { eps1_squared } else { v };
    if g == A::zero() {
        g
    } else {
        (A::one() / v.sqrt()) * g
    }
}

/// `row_var.mean(dim=-2).clamp_(min=ε₁)` of batch `b` (the `n` rows of one matrix of the last
/// two axes): the sum in `f64`, rounded once, divided in `A`.
fn row_mean<A: Float>(row: &[A], b: usize, n: usize, eps1: A::Compute) -> A::Compute {
    let sum: f64 = row[b * n..(b + 1) * n].iter().map(|x| x.widen()).sum();
    let mean = saturate(A::Compute::from_f64(sum) / A::Compute::from_f64(n as f64));
    if mean < eps1 { eps1 } else { mean }
}

impl<A: Float> Kernel<A> for AdafactorConfig {
    type State = AdafactorState<A>;
    type Scalars = AdafactorScalars<A::Compute>;

    fn scalars(&self, step: u64, _sum: f64) -> Self::Scalars {
        let t = step as f64;
        let eps1 = self.eps.0.unwrap_or(A::epsilon().widen());
        AdafactorScalars {
            weight: LerpWeight::new(t.powf(self.beta2_decay)),
            rho: f64::min(self.lr, 1.0 / t.sqrt()),
            eps1: A::Compute::from_f64(eps1),
            eps1_squared: A::Compute::from_f64(eps1 * eps1),
            eps2: self.eps.1,
            d: self.d,
            decay: (self.weight_decay != 0.0).then(|| A::Compute::from_f64(1.0 - self.lr * self.weight_decay)),
            maximize: self.maximize,
        }
    }

    fn update(
        &self,
        sc: &Self::Scalars,
        pass: &mut Pass<'_, A>,
        state: &mut AdafactorState<A>,
    ) {
        let sc = *sc;
        let len = pass.len() as f64;
        // The step is relative to the parameter's RMS before weight decay (`norm().item()`: an
        // `A`, widened).
        let norm = A::Compute::from_f64(pass::sum_of_squares(pass.param()).sqrt()).widen();
        let alpha = f64::max(sc.eps2, norm / len.sqrt()) * sc.rho;
        // The decay is part of the step's one store of the parameter (in the type of the
        // arithmetic, rounded once with the update, as the reference computes both in `f32`
        // and rounds after the step; and so that stochastic rounding sees it).
        let (decays, factor) = (sc.decay.is_some(), sc.decay.unwrap_or(A::Compute::one()));
        let sign = if sc.maximize { -A::Compute::one() } else { A::Compute::one() };
        let square = |g: A::Compute| {
            let g = g.widen();
            g * g
        };
        // `max(1, ‖U‖ / (√numel·d))`, from `Σ U²`.
        let denom = |sum_u2: f64| f64::max(1.0, A::Compute::from_f64(sum_u2.sqrt()).widen() / (len.sqrt() * sc.d));
        match state {
            AdafactorState {
                row_var: Some(row),
                col_var: Some(col),
                col_sums,
                ..
            } => {
                let rank = row.shape.len();
                let (n, m) = (row.shape[rank - 2], col.shape[rank - 1]);
                let (row, col) = (&mut row.data, &mut col.data);
                let (weight, eps1, eps1_squared) = (sc.weight, sc.eps1, sc.eps1_squared);
                // `vector_norm(g, dim).square_().div_(size)`: the norm rounded to `A` (summed
                // in f64), squared and divided in `A`; then lerped into the statistics.
                // A mean that overflowed is held at the largest finite value (see `saturate`).
                let mean = |sum: f64, size: usize| {
                    let norm = A::Compute::from_f64(sum.sqrt());
                    saturate(norm * norm / A::Compute::from_f64(size as f64))
                };
                // One pass over the gradient's rows for both statistics: a row's sum at once
                // (in the order of `OrderedSum`), the columns' sums row by row into `f64`
                // accumulators (each column's in row order), lerped at a matrix's last row.
                pass.grad_rows(|r, g| {
                    let (b, i) = (r / n, r % n);
                    let sum = pass::row_terms(g.view(), None, |g, _| square(g));
                    row[r] = Float::from_compute(weight.lerp(row[r].to_compute(), mean(sum, m)));
                    if i == 0 {
                        col_sums.fill(0.0);
                    }
                    match g.as_slice() {
                        Some(g) => pass::with_simd(
                            #[inline(always)]
                            || {
                                for (s, &g) in col_sums.iter_mut().zip(g) {
                                    *s += square(g.to_compute());
                                }
                            },
                        ),
                        None => {
                            for (s, &g) in col_sums.iter_mut().zip(g.iter()) {
                                *s += square(g.to_compute());
                            }
                        }
                    }
                    if i == n - 1 {
                        for (c, &s) in col[b * m..(b + 1) * m].iter_mut().zip(col_sums.iter()) {
                            *c = Float::from_compute(weight.lerp(c.to_compute(), mean(s, n)));
                        }
                    }
                });
                // `U_ij = rsqrt(max(R_i·C_j / max(mean(R), ε₁), ε₁²))·g_ij`, twice: for
                // `Σ U²` (per row in the order of `OrderedSum`, the rows' sums in order), then
                // for the step. Neither keeps `U`: the state stays `n + m` numbers.
                let (row, col) = (&*row, &*col);
                let mut den = A::Compute::zero();
                let mut sum_u2 = 0.0;
                pass.grad_rows(|r, g| {
                    let (b, i) = (r / n, r % n);
                    if i == 0 {
                        den = row_mean(row, b, n, eps1);
                    }
                    let (ri, d) = (row[r].to_compute(), den);
                    let cols = &col[b * m..(b + 1) * m];
                    sum_u2 += pass::row_terms(g, Some(cols), move |g, c| {
                        square(scaled((ri * c) / d, sign * g, eps1_squared))
                    });
                });
                let step = A::Compute::from_f64(-alpha / denom(sum_u2));
                unswitch! {
                    const DECAY: bool = decays;
                    pass.update_rows(|r| {
                        let (b, i) = (r / n, r % n);
                        if i == 0 {
                            den = row_mean(row, b, n, eps1);
                        }
                        let (ri, d) = (row[r].to_compute(), den);
                        let update = move |p: &mut A::Compute, g: A::Compute, c: A::Compute| {
                            let p0 = if DECAY { *p * factor } else { *p };
                            *p = descend(p0, scaled((ri * c) / d, sign * g, eps1_squared), step);
                        };
                        (update, &col[b * m..(b + 1) * m])
                    })
                }
            }
            AdafactorState {
                variance: Some(variance),
                ..
            } => {
                let v = &mut variance.data;
                let weight = sc.weight;
                pass.zip1(
                    v,
                    #[inline(always)]
                    |_, g, v| *v = weight.lerp(*v, saturate(g * g)),
                );
                let eps1_squared = sc.eps1_squared;
                let (sum_u2, _) = pass.sum_squares_logical(v, v, |_, g, v, _| {
                    (scaled(v, sign * g, eps1_squared), A::Compute::zero())
                });
                let step = A::Compute::from_f64(-alpha / denom(sum_u2));
                unswitch! {
                    const DECAY: bool = decays;
                    pass.zip1(
                        v,
                        #[inline(always)]
                        move |p, g, v| {
                            let p0 = if DECAY { *p * factor } else { *p };
                            *p = descend(p0, scaled(*v, sign * g, eps1_squared), step);
                        },
                    )
                }
            }
            _ => unreachable!("a tensor has either factored or full second moments"),
        }
    }
}

optimizer_type! {
    /// Adafactor (Shazeer & Stern, 2018): PyTorch's `torch.optim.Adafactor`.
    ///
    /// Adam's per-parameter scaling with almost no memory: the second moment of a matrix is
    /// kept as its row and column means (`n + m` numbers for `n·m` parameters) and rebuilt as
    /// their outer product; there is no first moment. Steps are relative to the parameter's
    /// own size. A tensor of rank ≥ 2 is factored over its last two axes (the leading ones are
    /// batch axes: a `[O, I, kh, kw]` convolution kernel keeps statistics per `kh × kw` slice);
    /// vectors and scalars keep a full second moment `v`. Per tensor, at step `t`:
    ///
    /// ```text
    /// g ← −g                                          if maximize
    /// ρ = min(γ, 1/√t);  β̂ = t^c                      (c = beta2_decay; β̂ = 1 at t = 1)
    /// α = max(ε₂, RMS(p))·ρ                           RMS(p) = ‖p‖/√numel, before the decay
    /// p ← p·(1 − γλ)                                  if λ ≠ 0
    /// rank ≥ 2:  R ← R + β̂·(mean_j g² − R)           per row i (of the last two axes)
    ///            C ← C + β̂·(mean_i g² − C)           per column j
    ///            V_ij = R_i·C_j / max(mean_i R, ε₁)
    /// rank ≤ 1:  v ← v + β̂·(g² − v);  V = v
    /// U = g / √max(V, ε₁²)
    /// p ← p − α/max(1, RMS(U)/d)·U
    /// ```
    ///
    /// `mean_j g²` is computed as PyTorch does, `‖g_i‖²/m` with the norm rounded to the
    /// element type; the norms and means are summed in `f64` in a fixed order, where PyTorch
    /// sums in the element type in an order that depends on the CPU's vector width and thread
    /// count, so `f32` results differ from PyTorch's in the last bits (see the crate's
    /// numerics). Defaults are PyTorch's: see [`AdafactorConfig`].
    ///
    /// The state of a 4096 × 4096 `f32` matrix is 4096 + 4096 numbers, 32 KiB: 0.002 bytes per
    /// parameter, where Adam keeps 8 (two buffers of the matrix's size, 128 MiB).
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray::{Array1, Array2};
    /// use ndarray_optim::{Adafactor, Optimizer};
    ///
    /// let (mut w, mut b) = (Array2::<f32>::ones((300, 200)), Array1::<f32>::ones(200));
    /// let (gw, gb) = (Array2::<f32>::ones((300, 200)), Array1::<f32>::ones(200));
    /// let mut opt = Adafactor::new(0.01)?;
    /// opt.step(&mut (&mut w, &mut b), &(&gw, &gb))?;
    /// let saved = opt.save_state();
    /// assert_eq!(saved.tensors[0].buffers["row_var"].shape(), [300, 1]);
    /// assert_eq!(saved.tensors[0].buffers["col_var"].shape(), [1, 200]);
    /// assert_eq!(saved.tensors[1].buffers["variance"].shape(), [200]);
    /// // The step is relative: 1% of the parameter's RMS (1) in the first step.
    /// assert!((w[[0, 0]] - 0.99).abs() < 1e-6);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    Adafactor, AdafactorConfig, "Adafactor::<f32>::new(0.1)?"
}

impl<A: Float> Adafactor<A> {
    /// Adafactor with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHyperparameter`] if `lr` is negative or not finite.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::Adafactor;
    /// assert_eq!(Adafactor::<f32>::new(0.01)?.config().beta2_decay, -0.8);
    /// # Ok::<(), ndarray_optim::Error>(())
    /// ```
    pub fn new(lr: f64) -> Result<Self, Error> {
        AdafactorConfig::default().lr(lr).build()
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // bit-exact on purpose
mod tests {
    use super::*;
    use crate::Optimizer;
    use ndarray::{Array2, Array3, IxDyn};

    #[test]
    fn statistics_have_their_own_shapes_and_are_checked_on_load() {
        let mut w = Array3::<f64>::ones((2, 3, 4));
        let g = Array3::<f64>::from_elem((2, 3, 4), 0.5);
        let mut opt = Adafactor::new(0.01).unwrap();
        opt.step(&mut w, &g).unwrap();
        let saved = opt.save_state();
        let buffers = &saved.tensors[0].buffers;
        assert_eq!(buffers["row_var"].shape(), [2, 3, 1]);
        assert_eq!(buffers["col_var"].shape(), [2, 1, 4]);
        // Mean of g² over a row, with weight 1 at step 1.
        assert!(buffers["row_var"].iter().all(|&r| (r - 0.25).abs() < 1e-15));
        assert!(!buffers.contains_key("variance"));
        let mut fresh = Adafactor::<f64>::new(0.01).unwrap();
        fresh.load_state(saved.clone()).unwrap();

        let mut wrong = saved.clone();
        wrong.tensors[0]
            .buffers
            .insert("row_var".into(), ndarray::ArrayD::zeros(IxDyn(&[2, 1, 4])));
        let err = fresh.load_state(wrong).unwrap_err();
        assert!(err.to_string().contains("row_var"), "{err}");
        let mut extra = saved;
        extra.tensors[0]
            .buffers
            .insert("variance".into(), ndarray::ArrayD::zeros(IxDyn(&[2, 3, 4])));
        assert!(matches!(
            fresh.load_state(extra),
            Err(Error::InvalidState { tensor: Some(0), .. })
        ));
    }

    #[test]
    fn a_zero_gradient_never_makes_nan() {
        // ε₁ = 0: PyTorch computes rsqrt(0)·0 = NaN for a zero gradient.
        let mut opt = AdafactorConfig::default()
            .eps((Some(0.0), 1e-3))
            .build::<f32>()
            .unwrap();
        let mut w = Array2::<f32>::ones((2, 2));
        opt.step(&mut w, &Array2::zeros((2, 2))).unwrap();
        assert!(w.iter().all(|&x| x == 1.0));
    }
}
