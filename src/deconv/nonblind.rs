//! Non-blind deconvolution with a hyper-Laplacian gradient prior (Krishnan & Fergus, "Fast
//! image deconvolution using hyper-Laplacian priors", NIPS 2009):
//! `argmin_x (λ/2)‖k ∗ x − y‖² + Σ |∂x x|^α + |∂y x|^α`, by half-quadratic splitting: the
//! gradient step is a per-pixel shrinkage (generalised soft thresholding, Zuo et al. ICCV
//! 2013, exact for any 0 < α ≤ 1), the image step a division in Fourier space
//! ([`super::splitting::ImageStep`], which edge-tapers the plane so that borders do not ring).

use super::kernel::Kernel;
use super::plane::Plane;
use super::splitting::ImageStep;

/// Settings of [`deconvolve`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeconvOptions {
    /// Data weight λ; larger trusts the photo more (sharper, noisier).
    pub lambda: f32,
    /// Exponent of the prior (Krishnan & Fergus: 2/3 for natural images).
    pub alpha: f32,
}

impl DeconvOptions {
    /// λ for a photo whose noise has standard deviation `sigma` (linear light), clamped to a
    /// range that neither amplifies 8-bit steps nor paints: `λ = c / σ²`.
    pub fn for_noise(sigma: f32) -> Self {
        let s = sigma.clamp(SIGMA_FLOOR, 0.05);
        Self {
            lambda: (LAMBDA_PER_INV_VAR / (s * s)).clamp(200.0, 2e5),
            alpha: 2.0 / 3.0,
        }
    }
}

/// Noise below this is read as this much: kernel errors ring like noise would, and a clean
/// photo (a render, a low-ISO shot) otherwise gets a data weight that rings around every
/// strong edge (seen on `assets/samples/clock_motion.png` at σ = 1e-3).
const SIGMA_FLOOR: f32 = 4e-3;
/// `λ = LAMBDA_PER_INV_VAR / σ²`. On the shakes of `tests/blind_deconv.rs` (read noise 0.005
/// / 0.01) 0.01 gained +3.64 / +2.57 dB, 0.03 +4.64 / +3.21, 0.1 +4.48 / +3.35 and 0.3
/// +1.16 / −0.04: 0.03, the smoother of the two best, because estimated kernels on real
/// photos are less exact than these and a weaker data term rings less around their errors.
const LAMBDA_PER_INV_VAR: f32 = 0.03;
/// β schedule of the splitting (Krishnan & Fergus: from 1, ×2√2, to 256).
const BETA_START: f32 = 1.0;
const BETA_GROWTH: f32 = 2.0 * std::f32::consts::SQRT_2;
const BETA_MAX: f32 = 256.0;

/// The deconvolved plane, same size as `y`.
pub fn deconvolve(y: &Plane, k: &Kernel, opts: &DeconvOptions) -> Plane {
    let (step, mut x) = ImageStep::new(y, k, opts.lambda);
    let mut beta = BETA_START;
    while beta <= BETA_MAX {
        let (mut gx, mut gy) = x.gradients();
        let shrink = Shrinkage::new(1.0 / beta, opts.alpha);
        gx.iter_mut()
            .chain(gy.iter_mut())
            .for_each(|g| *g = shrink.apply(*g));
        x.data = step.solve(&gx, &gy, beta);
        beta *= BETA_GROWTH;
    }
    step.crop(&x)
}

/// `argmin_w ½(w − v)² + τ|w|^α` for one value (generalised soft thresholding).
struct Shrinkage {
    tau: f32,
    alpha: f32,
    threshold: f32,
}

impl Shrinkage {
    fn new(tau: f32, alpha: f32) -> Self {
        let a = alpha.clamp(0.05, 1.0);
        let threshold = if a >= 1.0 {
            tau
        } else {
            let base = (2.0 * tau * (1.0 - a)).powf(1.0 / (2.0 - a));
            base + tau * a * base.powf(a - 1.0)
        };
        Self {
            tau,
            alpha: a,
            threshold,
        }
    }

    #[inline]
    fn apply(&self, v: f32) -> f32 {
        let m = v.abs();
        if m <= self.threshold {
            return 0.0;
        }
        if self.alpha >= 1.0 {
            return v.signum() * (m - self.tau);
        }
        let mut t = m;
        for _ in 0..3 {
            t = m - self.tau * self.alpha * t.powf(self.alpha - 1.0);
        }
        v.signum() * t.max(0.0)
    }
}

/// Noise standard deviation of a plane from its finest detail: the median absolute value of
/// the diagonal Haar detail, over 0.6745 (Donoho's estimator); image edges inflate it little
/// because the median ignores the few large coefficients.
pub fn noise_sigma(p: &Plane) -> f32 {
    let mut d = Vec::with_capacity(p.w * p.h / 4);
    for y in (0..p.h.saturating_sub(1)).step_by(2) {
        for x in (0..p.w.saturating_sub(1)).step_by(2) {
            let v = (p.at(x, y) - p.at(x + 1, y) - p.at(x, y + 1) + p.at(x + 1, y + 1)) / 2.0;
            d.push(v.abs());
        }
    }
    if d.is_empty() {
        return 0.0;
    }
    let mid = d.len() / 2;
    let (_, m, _) = d.select_nth_unstable_by(mid, f32::total_cmp);
    *m / 0.6745
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinkage_solves_the_scalar_problem() {
        for &alpha in &[2.0 / 3.0, 0.8, 1.0] {
            let s = Shrinkage::new(0.05, alpha);
            for &v in &[-0.8f32, -0.2, -0.05, 0.0, 0.03, 0.3, 1.0] {
                let cost = |w: f32| 0.5 * (w - v).powi(2) + 0.05 * w.abs().powf(alpha);
                let w = s.apply(v);
                // No point of a fine grid does better than the closed form.
                let best = (-2000..=2000)
                    .map(|i| cost(i as f32 / 1000.0))
                    .fold(f32::MAX, f32::min);
                assert!(cost(w) <= best + 1e-4, "α {alpha}, v {v}: {w}");
            }
        }
    }

    #[test]
    fn noise_estimate_reads_white_noise() {
        let mut s = 12345u64;
        let mut gauss = || {
            // Box–Muller from a xorshift.
            let mut u = || {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
            };
            let (a, b) = (u(), u());
            ((-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()) as f32
        };
        let p = Plane::new(200, 200, (0..40000).map(|_| 0.5 + 0.01 * gauss()).collect());
        let sigma = noise_sigma(&p);
        assert!((sigma - 0.01).abs() < 0.001, "σ {sigma}");
    }
}
