//! Sensor noise, clipping, sRGB encoding and 8-bit quantisation (§12.1 steps 6–8).

use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

use super::rng::{log_uniform, uniform};
use crate::imaging::color::linear_to_srgb;

/// Heteroscedastic sensor noise in linear light: variance `b/Q + σ_read²` at intensity `b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseParams {
    /// Photon count scale: a pixel at linear value b collected b·Q photons.
    pub q: f32,
    /// Read noise standard deviation (linear light).
    pub sigma_read: f32,
}

impl NoiseParams {
    /// Q log-uniform in `q_range`, σ_read uniform in `[0, read_max]`.
    pub(crate) fn draw<R: Rng + ?Sized>(rng: &mut R, q_range: (f32, f32), read_max: f32) -> Self {
        Self {
            q: log_uniform(rng, f64::from(q_range.0), f64::from(q_range.1)) as f32,
            sigma_read: uniform(rng, 0.0, f64::from(read_max)) as f32,
        }
    }
}

/// Adds `N(0, b/Q + σ_read²)` to every value `b` (negative values count as 0 photons).
/// Values may leave [0, 1]; clipping is a separate step.
pub fn add_noise<R: Rng + ?Sized>(img: &mut [f32], noise: NoiseParams, rng: &mut R) {
    let read_var = noise.sigma_read * noise.sigma_read;
    let inv_q = 1.0 / noise.q;
    for v in img.iter_mut() {
        let sd = (v.max(0.0) * inv_q + read_var).sqrt();
        let z: f32 = rng.sample(StandardNormal);
        *v += sd * z;
    }
}

/// Clips linear light to [0, 1] and encodes to sRGB.
///
/// Saturated pixels are pinned to exactly 1.0: the shared curve evaluates to 0.99999994 at 1.0
/// in f32 (1.055 − 0.055 rounding), and saturated highlights must read as exactly white.
#[inline]
pub fn encode_srgb_clipped(v: f32) -> f32 {
    let c = v.clamp(0.0, 1.0);
    if c >= 1.0 {
        1.0
    } else {
        linear_to_srgb(c)
    }
}

/// sRGB [0, 1] to the nearest 8-bit code (round half away from zero, like most encoders).
#[inline]
pub fn quantise_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::super::rng::sample_rng;
    use super::*;

    /// A large flat patch at b: the sample variance must match b/Q + σ_read². With N = 2^18
    /// values the relative standard error of the variance is √(2/N) ≈ 0.28 %; allow 3 %.
    #[test]
    fn noise_has_the_requested_variance() {
        let mut rng = sample_rng(77, 0);
        for (b, q, sr) in [
            (0.25f32, 1000.0f32, 0.01f32),
            (0.8, 500.0, 0.0),
            (0.02, 50_000.0, 0.02),
            (0.0, 800.0, 0.015),
        ] {
            let noise = NoiseParams { q, sigma_read: sr };
            let mut img = vec![b; 1 << 18];
            add_noise(&mut img, noise, &mut rng);
            let n = img.len() as f64;
            let mean = img.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let var = img
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / (n - 1.0);
            let want = f64::from(b) / f64::from(q) + f64::from(sr).powi(2);
            assert!(
                (var - want).abs() < 0.03 * want,
                "b {b}: var {var} vs {want}"
            );
            assert!((mean - f64::from(b)).abs() < 4.0 * (want / n).sqrt() + 1e-7);
        }
    }

    #[test]
    fn drawn_noise_parameters_respect_their_ranges() {
        let mut rng = sample_rng(8, 8);
        for _ in 0..500 {
            let p = NoiseParams::draw(&mut rng, (500.0, 50_000.0), 0.02);
            assert!((500.0..=50_000.0).contains(&p.q));
            assert!((0.0..=0.02).contains(&p.sigma_read));
        }
    }

    #[test]
    fn clipping_pins_white_and_black() {
        assert_eq!(encode_srgb_clipped(1.0), 1.0);
        assert_eq!(encode_srgb_clipped(7.5), 1.0);
        assert_eq!(encode_srgb_clipped(-0.1), 0.0);
        assert!(encode_srgb_clipped(0.999) < 1.0);
        assert_eq!(quantise_u8(1.0), 255);
        assert_eq!(quantise_u8(0.5 / 255.0 + 1e-6), 1);
    }
}
