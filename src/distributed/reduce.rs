//! The hook through which a step gets what it computes over the whole model when it holds only
//! part of it: [`Reduce`].

use crate::error::Error;

/// How the terms of a round are combined into its total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Combine {
    /// `((0 + t₀) + t₁) + …` in tensor order: a sum of squares, of `|g|ᵖ`.
    Sum,
    /// The largest term, NaN if any term is NaN (the ∞-norm); 0 for no terms.
    Max,
}

impl Combine {
    /// The total so far combined with the next term.
    #[inline]
    pub fn apply(self, total: f64, term: f64) -> f64 {
        match self {
            Combine::Max if total.is_nan() || term.is_nan() => f64::NAN,
            Combine::Max => total.max(term),
            Combine::Sum => total + term,
        }
    }

    /// The total of `terms` in order, from 0.
    ///
    /// # Example
    ///
    /// ```
    /// use ndarray_optim::distributed::Combine;
    ///
    /// assert_eq!(Combine::Sum.total(&[1.0, 2.0, 3.0]), 6.0);
    /// assert_eq!(Combine::Max.total(&[1.0, 3.0, 2.0]), 3.0);
    /// assert!(Combine::Max.total(&[1.0, f64::NAN, 2.0]).is_nan());
    /// assert_eq!(Combine::Max.total(&[]), 0.0);
    /// ```
    pub fn total(self, terms: &[f64]) -> f64 {
        terms
            .iter()
            .fold(0.0, |total, &term| self.apply(total, term))
    }
}

/// A non-finite gradient element: the tensor, the element's index within it (row-major), and
/// the value, widened to `f64`.
#[derive(Clone, Debug, PartialEq)]
pub struct NonFiniteAt {
    /// The tensor's position: in the list the optimizer was given in a [`Contribution`], in the
    /// model in what a round [`Agreed`].
    pub index: usize,
    /// The element's index within the tensor.
    pub element: Vec<usize>,
    /// NaN, `inf` or `-inf`.
    pub value: f64,
}

/// One rank's part of a round.
#[derive(Debug)]
pub struct Contribution<'a> {
    /// One term per tensor of the list the optimizer was given, in its order (0 for a tensor
    /// without a gradient; terms are never negative, so a 0 adds nothing to a sum or a
    /// maximum); empty for a round that sums nothing.
    pub terms: &'a [f64],
    /// How the terms of every rank are combined, in the model's tensor order.
    pub combine: Combine,
    /// The first non-finite gradient this rank found, if it looked and found one.
    pub non_finite: Option<NonFiniteAt>,
}

impl Contribution<'_> {
    /// A contribution of nothing: a round that only agrees that every rank may go on.
    pub fn none() -> Contribution<'static> {
        Contribution {
            terms: &[],
            combine: Combine::Sum,
            non_finite: None,
        }
    }
}

/// What a round agreed for the whole model.
#[derive(Clone, Debug, PartialEq)]
pub struct Agreed {
    /// Every rank's terms combined in the model's tensor order: the same bits as one process
    /// combining every term in order.
    pub total: f64,
    /// The first non-finite gradient of the model (the lowest tensor position), if any rank
    /// found one.
    pub non_finite: Option<NonFiniteAt>,
}

/// Where the rounds of a step go: [`Local`] for one process, a sharded optimizer's own
/// implementation for one rank of many.
///
/// A step of an optimizer computes a few things over every tensor before it changes any:
/// whether its inputs are valid, the first non-finite gradient (under
/// [`NonFinitePolicy`](crate::NonFinitePolicy)), and sums over every gradient (LAMB's global
/// gradient norm, the norm [`MultiSteps`](crate::MultiSteps) clips with). A sharded step gives an
/// optimizer only some tensors; each of those quantities is then a *round*: every rank
/// contributes its part ([`Contribution`]) and gets back what holds for the whole model
/// ([`Agreed`]). [`Optimizer::step_reduced`](crate::Optimizer::step_reduced) is `step` with the
/// rounds going through a [`Reduce`]; `step` itself runs them through [`Local`], where a round
/// is this process's own contribution, so that one process and many compute the same bits.
///
/// The rules a `step_reduced` follows (those of the crate's optimizers):
///
/// * **Every decision that depends on data only this rank sees goes through a round**: its
///   local checks (lists, state, groups), the non-finite check, every sum. A step makes the same
///   rounds in the same order on every rank: what it does between rounds depends only on what
///   earlier rounds agreed.
/// * **The first round carries the local checks**, before anything changes; a rank whose
///   checks fail contributes its error, and every rank's round returns an error.
/// * **No error after the last round** that the other ranks would not return too: after the
///   rounds, nothing can fail.
/// * **Indices are the list's**: a contribution names tensors by their position in the list the
///   optimizer was given, and an agreed non-finite gradient comes back named by its position in
///   the *model* (what the rank of a sharded step reports, and what a `Local` round returns
///   unchanged).
pub trait Reduce {
    /// One round: this rank's contribution, or the error of its local checks; returns what holds
    /// for the whole model.
    ///
    /// # Errors
    ///
    /// This rank's own error; an error for every other rank when one rank contributed an
    /// error (the ranks disagree, or a rank refused: [`Error::RankMismatch`],
    /// [`Error::RankFailed`]); [`Error::Collective`] when the communication failed.
    fn exchange(&mut self, local: Result<Contribution<'_>, Error>) -> Result<Agreed, Error>;

    /// Whether the rounds are this process's alone ([`Local`]): an optimizer that cannot step
    /// part of a model can still step through a local `Reduce`, with its plain `step`.
    fn is_local(&self) -> bool {
        false
    }

    /// The position in the model of the tensor at `index` of the list the optimizer was given:
    /// what a result that depends on a tensor's identity (the random bits of stochastic
    /// rounding) is keyed by, so that a sharded step draws the bits one process draws.
    fn model_index(&self, index: usize) -> usize {
        index
    }
}

/// The rounds of one process: a round's total is this process's terms combined in order, its
/// non-finite gradient the one this process found. What `step` uses.
///
/// # Example
///
/// ```
/// use ndarray::array;
/// use ndarray_optim::distributed::Local;
/// use ndarray_optim::{Lamb, Optimizer};
///
/// let (mut a, mut b) = (array![1.0_f32, 2.0], array![1.0_f32, 2.0]);
/// let g = array![0.5_f32, -3.0];
/// let (mut one, mut other) = (Lamb::new(0.01)?, Lamb::new(0.01)?);
/// one.step(&mut a, &g)?;
/// other.step_reduced(&mut b, &g, &mut Local)?; // what `step` does
/// assert_eq!(a, b);
/// # Ok::<(), ndarray_optim::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Local;

impl Reduce for Local {
    fn exchange(&mut self, local: Result<Contribution<'_>, Error>) -> Result<Agreed, Error> {
        let local = local?;
        Ok(Agreed {
            total: local.combine.total(local.terms),
            non_finite: local.non_finite,
        })
    }

    fn is_local(&self) -> bool {
        true
    }
}
