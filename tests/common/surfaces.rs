//! Two-dimensional loss surfaces with analytic gradients, shared by the convergence tests, the
//! `landscapes` example and the benches.
//!
//! Each surface shows one difficulty plain gradient descent has: a ravine (ill-conditioned
//! curvature), Rosenbrock's curved valley, a saddle point, local minima beside a global one and a
//! plateau.

/// A differentiable function of two variables.
pub trait Surface {
    /// Short name, used in file names and tables.
    fn name(&self) -> &'static str;
    /// The loss at `(x, y)`.
    fn value(&self, x: f64, y: f64) -> f64;
    /// `(∂f/∂x, ∂f/∂y)` at `(x, y)`.
    fn gradient(&self, x: f64, y: f64) -> (f64, f64);
    /// The global minimum's value.
    fn minimum(&self) -> f64;
}

/// `f(x, y) = (a·x² + b·y²) / 2`: a quadratic bowl whose curvature differs by `b/a` between the
/// axes, a ravine when that ratio is large.
#[derive(Clone, Copy, Debug)]
pub struct Quadratic {
    pub a: f64,
    pub b: f64,
}

impl Surface for Quadratic {
    fn name(&self) -> &'static str {
        "ravine"
    }
    fn value(&self, x: f64, y: f64) -> f64 {
        0.5 * (self.a * x * x + self.b * y * y)
    }
    fn gradient(&self, x: f64, y: f64) -> (f64, f64) {
        (self.a * x, self.b * y)
    }
    fn minimum(&self) -> f64 {
        0.0
    }
}

/// Rosenbrock's function `(1 − x)² + 100·(y − x²)²`: a narrow curved valley with its minimum
/// at `(1, 1)`.
#[derive(Clone, Copy, Debug)]
pub struct Rosenbrock;

impl Surface for Rosenbrock {
    fn name(&self) -> &'static str {
        "rosenbrock"
    }
    fn value(&self, x: f64, y: f64) -> f64 {
        (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2)
    }
    fn gradient(&self, x: f64, y: f64) -> (f64, f64) {
        (
            -2.0 * (1.0 - x) - 400.0 * x * (y - x * x),
            200.0 * (y - x * x),
        )
    }
    fn minimum(&self) -> f64 {
        0.0
    }
}
