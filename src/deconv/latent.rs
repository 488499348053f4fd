//! The latent-image step of blind estimation: `argmin_S ‖k ∗ S − B‖² + λ·#{∇S ≠ 0}` (an L0
//! gradient prior, Pan et al., "L0-regularized intensity and gradient prior for deblurring
//! text images and beyond", TPAMI 2017 §4.1), by half-quadratic splitting solved in Fourier
//! space. The result is a piecewise-flat image whose strong edges are sharp: exactly the
//! salient structure the kernel step needs, with the weak texture and noise that would bias
//! the kernel towards a delta removed.

use super::kernel::Kernel;
use super::plane::Plane;
use super::splitting::ImageStep;

/// β of the splitting grows by this factor per step, from 2λ to [`BETA_MAX`] (Pan et al.).
const BETA_GROWTH: f32 = 2.0;
const BETA_MAX: f32 = 1e5;

/// The sharp latent of `blurry` under kernel `k`, same size as `blurry`.
pub fn l0_latent(blurry: &Plane, k: &Kernel, lambda: f32) -> Plane {
    let (step, mut s) = ImageStep::new(blurry, k, 1.0);
    let mut beta = 2.0 * lambda;
    while beta < BETA_MAX {
        let (mut gx, mut gy) = s.gradients();
        // Keep a gradient only where it pays for its λ/β (joint over both directions).
        let keep = lambda / beta;
        for (x, y) in gx.iter_mut().zip(gy.iter_mut()) {
            if *x * *x + *y * *y < keep {
                *x = 0.0;
                *y = 0.0;
            }
        }
        s.data = step.solve(&gx, &gy, beta);
        beta *= BETA_GROWTH;
    }
    step.crop(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blurred_step_comes_back_sharp() {
        let (w, h) = (48, 40);
        let sharp = Plane::new(
            w,
            h,
            (0..w * h)
                .map(|i| if i % w < w / 2 { 0.2 } else { 0.8 })
                .collect(),
        );
        let mut taps = vec![0.0; 49];
        taps[21..28].fill(1.0);
        let k = Kernel::from_taps(7, taps);
        // Blur by the 7-px line with clamped borders.
        let blurry = Plane::new(
            w,
            h,
            (0..w * h)
                .map(|i| {
                    let (y, x) = (i / w, (i % w) as i64);
                    (-3..=3)
                        .map(|d| sharp.at((x - d).clamp(0, w as i64 - 1) as usize, y))
                        .sum::<f32>()
                        / 7.0
                })
                .collect(),
        );
        let latent = l0_latent(&blurry, &k, 4e-3);
        // The 7-px ramp is one step again: at most one intermediate column.
        let row = &latent.data[(h / 2) * w..][..w];
        let mid = row.iter().filter(|&&v| v > 0.3 && v < 0.7).count();
        assert!(mid <= 1, "row {row:?}");
        assert!((row[4] - 0.2).abs() < 0.05 && (row[w - 5] - 0.8).abs() < 0.05);
    }
}
