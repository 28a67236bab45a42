//! Two-dimensional loss surfaces with analytic gradients, shared by the convergence tests, the
//! `landscapes` example and the benches.
//!
//! Each surface shows one difficulty plain gradient descent has: a ravine (ill-conditioned
//! curvature), Rosenbrock's curved valley, a saddle point, local minima beside a global one and a
//! plateau.
#![allow(dead_code)] // each user takes the surfaces it needs

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

/// `f(x, y) = x²/2 + b·(y² − 1)²/4`: a saddle point at the origin, where `f = b/4`, between
/// two global minima at `(0, ±1)`, where `f = 0`.
///
/// At the saddle the curvature is `+1` along `x` and `−b` along `y`: with a small `b` the way
/// out is almost flat, so a path that arrives along the `x` axis lingers there.
#[derive(Clone, Copy, Debug)]
pub struct Saddle {
    pub b: f64,
}

impl Saddle {
    /// The saddle point.
    pub fn saddle_point(&self) -> (f64, f64) {
        (0.0, 0.0)
    }
    /// The two global minima.
    pub fn minima(&self) -> [(f64, f64); 2] {
        [(0.0, 1.0), (0.0, -1.0)]
    }
}

impl Surface for Saddle {
    fn name(&self) -> &'static str {
        "saddle"
    }
    fn value(&self, x: f64, y: f64) -> f64 {
        0.5 * x * x + 0.25 * self.b * (y * y - 1.0).powi(2)
    }
    fn gradient(&self, x: f64, y: f64) -> (f64, f64) {
        (x, self.b * y * (y * y - 1.0))
    }
    fn minimum(&self) -> f64 {
        0.0
    }
}

/// A Gaussian dimple `depth·exp(−|p − centre|² / (2·width²))` carved into [`Wells`].
#[derive(Clone, Copy, Debug)]
pub struct Well {
    pub centre: (f64, f64),
    pub depth: f64,
    pub width: f64,
}

/// A wide bowl `curvature·|p|²/2` with Gaussian wells subtracted:
/// `f(p) = curvature·|p|²/2 − Σᵢ depthᵢ·exp(−|p − cᵢ|² / (2·widthᵢ²))`.
///
/// [`Wells::standard`] has its global minimum at the origin and three shallower wells, each a
/// local minimum, beside it.
#[derive(Clone, Debug)]
pub struct Wells {
    pub curvature: f64,
    pub wells: Vec<Well>,
}

impl Wells {
    /// The surface the `landscapes` example draws: the deep well at the origin and three local
    /// minima at distance ≈ 2.2–2.7 from it.
    pub fn standard() -> Self {
        let well = |x, y, depth, width| Well {
            centre: (x, y),
            depth,
            width,
        };
        Wells {
            curvature: 0.15,
            wells: vec![
                well(0.0, 0.0, 1.5, 0.8),
                well(2.0, 1.2, 0.6, 0.45),
                well(-1.8, 1.6, 0.6, 0.45),
                well(0.6, -2.2, 0.6, 0.45),
            ],
        }
    }

    /// Every local minimum (the global one first), found by gradient descent from each well's
    /// centre: `(x, y, f)`.
    pub fn minima(&self) -> Vec<(f64, f64, f64)> {
        self.wells
            .iter()
            .map(|w| {
                let (mut x, mut y) = w.centre;
                // Curvatures here are below 1 / 0.45² ≈ 5, so a step of 0.1 is stable.
                for _ in 0..20_000 {
                    let (gx, gy) = self.gradient(x, y);
                    x -= 0.1 * gx;
                    y -= 0.1 * gy;
                }
                (x, y, self.value(x, y))
            })
            .collect()
    }
}

impl Surface for Wells {
    fn name(&self) -> &'static str {
        "local-minima"
    }
    fn value(&self, x: f64, y: f64) -> f64 {
        let bowl = 0.5 * self.curvature * (x * x + y * y);
        self.wells.iter().fold(bowl, |f, w| {
            let (dx, dy) = (x - w.centre.0, y - w.centre.1);
            f - w.depth * (-(dx * dx + dy * dy) / (2.0 * w.width * w.width)).exp()
        })
    }
    fn gradient(&self, x: f64, y: f64) -> (f64, f64) {
        let bowl = (self.curvature * x, self.curvature * y);
        self.wells.iter().fold(bowl, |(gx, gy), w| {
            let (dx, dy) = (x - w.centre.0, y - w.centre.1);
            let s2 = w.width * w.width;
            // d/dp of −depth·e^(−r²/2s²) is depth·e^(−r²/2s²)·(p − c)/s².
            let k = w.depth * (-(dx * dx + dy * dy) / (2.0 * s2)).exp() / s2;
            (gx + k * dx, gy + k * dy)
        })
    }
    fn minimum(&self) -> f64 {
        self.minima()
            .iter()
            .map(|m| m.2)
            .fold(f64::INFINITY, f64::min)
    }
}

/// `f(x, y) = 1 − exp(−(x² + y²) / (2·width²))`: a narrow hole in a flat plateau at height 1.
///
/// Far from the hole the gradient is exponentially small, `r/width²·e^(−r²/2width²)`, while the
/// curvature at the bottom, `1/width²`, caps any stable fixed step.
#[derive(Clone, Copy, Debug)]
pub struct Plateau {
    pub width: f64,
}

impl Surface for Plateau {
    fn name(&self) -> &'static str {
        "plateau"
    }
    fn value(&self, x: f64, y: f64) -> f64 {
        1.0 - (-(x * x + y * y) / (2.0 * self.width * self.width)).exp()
    }
    fn gradient(&self, x: f64, y: f64) -> (f64, f64) {
        let s2 = self.width * self.width;
        let k = (-(x * x + y * y) / (2.0 * s2)).exp() / s2;
        (k * x, k * y)
    }
    fn minimum(&self) -> f64 {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every analytic gradient agrees with central differences.
    #[test]
    fn gradients_match_finite_differences() {
        let surfaces: Vec<Box<dyn Surface>> = vec![
            Box::new(Quadratic { a: 1.0, b: 10.0 }),
            Box::new(Rosenbrock),
            Box::new(Saddle { b: 0.1 }),
            Box::new(Wells::standard()),
            Box::new(Plateau { width: 1.0 }),
        ];
        let h = 1e-6;
        for s in &surfaces {
            for &(x, y) in &[(-1.3, 0.7), (0.2, -1.9), (2.1, 1.1), (0.05, 0.01)] {
                let (gx, gy) = s.gradient(x, y);
                let nx = (s.value(x + h, y) - s.value(x - h, y)) / (2.0 * h);
                let ny = (s.value(x, y + h) - s.value(x, y - h)) / (2.0 * h);
                let tol = 1e-6 * (1.0 + gx.abs().max(gy.abs()));
                assert!(
                    (gx - nx).abs() < tol && (gy - ny).abs() < tol,
                    "{} at ({x}, {y}): analytic ({gx}, {gy}), numeric ({nx}, {ny})",
                    s.name()
                );
            }
        }
    }

    /// The critical points the example labels are where the docs say.
    #[test]
    fn critical_points() {
        let saddle = Saddle { b: 0.1 };
        let (sx, sy) = saddle.saddle_point();
        let (gx, gy) = saddle.gradient(sx, sy);
        assert!(gx.hypot(gy) < 1e-15, "the saddle point is stationary");
        for (x, y) in saddle.minima() {
            assert!(saddle.value(x, y).abs() < 1e-15);
        }
        let wells = Wells::standard();
        let minima = wells.minima();
        assert_eq!(minima.len(), 4);
        let (ox, oy, global) = minima[0];
        assert!(ox.hypot(oy) < 1e-3, "global minimum near the origin");
        for &(x, y, f) in &minima[1..] {
            assert!(f > global + 0.3, "({x}, {y}) is a shallower local minimum");
            let (dx, dy) = wells.gradient(x, y);
            assert!(dx.hypot(dy) < 1e-9, "({x}, {y}) is stationary");
            // A minimum, not a saddle: the value rises in every direction.
            for k in 0..8 {
                let a = f64::from(k) * std::f64::consts::FRAC_PI_4;
                assert!(wells.value(x + 0.05 * a.cos(), y + 0.05 * a.sin()) > f);
            }
        }
    }
}
