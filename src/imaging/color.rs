//! sRGB transfer curve (IEC 61966-2-1), exact piecewise form.
//!
//! Networks see sRGB-encoded values; only the blur generator and the PSF estimator work in
//! linear light, because blur and noise are physical processes on photon counts.

/// sRGB-encoded value in [0,1] to linear light.
#[inline]
pub fn srgb_to_linear(v: f32) -> f32 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// Linear-light value in [0,1] to sRGB encoding.
#[inline]
pub fn linear_to_srgb(v: f32) -> f32 {
    if v <= 0.003_130_8 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}

/// Rec. 709 luminance of linear RGB.
#[inline]
pub fn luminance(r: f32, g: f32, b: f32) -> f32 {
    0.2126 * r + 0.7152 * g + 0.0722 * b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_identity() {
        for i in 0..=1000 {
            let v = i as f32 / 1000.0;
            assert!(
                (linear_to_srgb(srgb_to_linear(v)) - v).abs() < 1e-5,
                "v = {v}"
            );
        }
    }

    #[test]
    fn curve_is_continuous_at_the_knee() {
        let below = srgb_to_linear(0.04045);
        let above = srgb_to_linear(0.040_450_1);
        assert!((below - above).abs() < 1e-6);
        // Mid-grey 0.5 sRGB is about 21.4 % linear light.
        assert!((srgb_to_linear(0.5) - 0.214_041).abs() < 1e-5);
    }
}
