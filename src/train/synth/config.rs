//! Knobs of the generator, with the defaults of models.md §12.

use super::error::SynthError;

/// Relative frequencies of the four blur kernel families (§12.2). They need not sum to 1;
/// they are normalised when drawing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelMix {
    pub trajectory: f32,
    pub linear: f32,
    pub defocus: f32,
    pub gaussian: f32,
}

impl Default for KernelMix {
    fn default() -> Self {
        Self {
            trajectory: 0.45,
            linear: 0.25,
            defocus: 0.20,
            gaussian: 0.10,
        }
    }
}

impl KernelMix {
    fn weights(&self) -> [f32; 4] {
        [self.trajectory, self.linear, self.defocus, self.gaussian]
    }

    pub(crate) fn total(&self) -> f32 {
        self.weights().iter().sum()
    }

    fn validate(&self) -> Result<(), SynthError> {
        if self.weights().iter().any(|w| !(w.is_finite() && *w >= 0.0)) || self.total() <= 0.0 {
            return Err(SynthError::InvalidConfig(format!(
                "kernel mix weights must be finite, non-negative and not all zero: {self:?}"
            )));
        }
        Ok(())
    }
}

/// Configuration of [`make_sample`](super::make_sample). `Default` is the §12 recipe.
///
/// Ranges are `(low, high)`, inclusive. Sampling rules per field are given in its doc.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    /// Side of the square output patch in px.
    pub patch: usize,
    /// Photos whose long side exceeds this are downscaled by a random factor first.
    pub downscale_above: u32,
    /// Smallest downscale factor; the factor is uniform in `[downscale_min, 1]`.
    pub downscale_min: f32,
    /// Probability of multiplying the linear image by a highlight gain before blurring.
    pub p_highlight: f32,
    /// Highlight gain range, drawn log-uniformly.
    pub highlight_gain: (f32, f32),
    /// Probability that the (uniform) kernel is the identity: noise and JPEG only.
    pub p_identity: f32,
    /// Probability of a non-uniform (two-kernel, mask-blended) sample.
    pub p_nonuniform: f32,
    /// In non-uniform samples, probability that the second kernel is the identity.
    pub p_second_identity: f32,
    /// Kernel family frequencies.
    pub kernel_mix: KernelMix,
    /// Probability of a noise-free sample.
    pub p_noise_free: f32,
    /// Photon count scale Q (noise variance `b/Q`), drawn log-uniformly.
    pub noise_q: (f32, f32),
    /// Read noise σ is uniform in `[0, read_noise_max]` (linear light).
    pub read_noise_max: f32,
    /// Probability of a JPEG round trip of the blurred image.
    pub p_jpeg: f32,
    /// JPEG quality range, integer uniform.
    pub jpeg_quality: (u8, u8),
    /// Apply the random flip/rot90 (step 9). Off only for tests and visual checks.
    pub augment: bool,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            patch: 128,
            downscale_above: 1024,
            downscale_min: 0.4,
            p_highlight: 0.3,
            highlight_gain: (1.2, 3.0),
            p_identity: 0.05,
            p_nonuniform: 0.3,
            p_second_identity: 0.3,
            kernel_mix: KernelMix::default(),
            p_noise_free: 0.1,
            noise_q: (500.0, 50_000.0),
            read_noise_max: 0.02,
            p_jpeg: 0.3,
            jpeg_quality: (60, 95),
            augment: true,
        }
    }
}

impl SynthConfig {
    /// The §12 recipe for `patch × patch` outputs.
    pub fn new(patch: usize) -> Self {
        Self {
            patch,
            ..Self::default()
        }
    }

    /// Checks every field; `make_sample` calls this before drawing anything.
    pub fn validate(&self) -> Result<(), SynthError> {
        let bad = |msg: String| Err(SynthError::InvalidConfig(msg));
        // The upper bound keeps `patch + 2·MARGIN` squared far from overflow and memory limits.
        if self.patch == 0 || self.patch > 8192 {
            return bad(format!("patch must be in 1..=8192, got {}", self.patch));
        }
        let probs = [
            ("p_highlight", self.p_highlight),
            ("p_identity", self.p_identity),
            ("p_nonuniform", self.p_nonuniform),
            ("p_second_identity", self.p_second_identity),
            ("p_noise_free", self.p_noise_free),
            ("p_jpeg", self.p_jpeg),
        ];
        for (name, p) in probs {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("{name} must be in [0, 1], got {p}"));
            }
        }
        // Identity and non-uniform are drawn from one uniform variate, so they must not overlap.
        if self.p_identity + self.p_nonuniform > 1.0 {
            return bad("p_identity + p_nonuniform must not exceed 1".into());
        }
        if !(self.downscale_min > 0.0 && self.downscale_min <= 1.0) {
            return bad(format!(
                "downscale_min must be in (0, 1], got {}",
                self.downscale_min
            ));
        }
        for (name, (lo, hi)) in [
            ("highlight_gain", self.highlight_gain),
            ("noise_q", self.noise_q),
        ] {
            if !(lo > 0.0 && lo <= hi && hi.is_finite()) {
                return bad(format!(
                    "{name} must satisfy 0 < low <= high < inf, got ({lo}, {hi})"
                ));
            }
        }
        if !(self.read_noise_max >= 0.0 && self.read_noise_max.is_finite()) {
            return bad(format!(
                "read_noise_max must be finite and >= 0, got {}",
                self.read_noise_max
            ));
        }
        let (qlo, qhi) = self.jpeg_quality;
        if !(1 <= qlo && qlo <= qhi && qhi <= 100) {
            return bad(format!(
                "jpeg_quality must satisfy 1 <= low <= high <= 100, got ({qlo}, {qhi})"
            ));
        }
        self.kernel_mix.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_bad_values_are_rejected() {
        assert!(SynthConfig::default().validate().is_ok());
        let mut c = SynthConfig::new(0);
        assert!(c.validate().is_err());
        c.patch = 64;
        c.p_jpeg = 1.5;
        assert!(c.validate().is_err());
        c.p_jpeg = 0.3;
        c.jpeg_quality = (90, 60);
        assert!(c.validate().is_err());
        c.jpeg_quality = (60, 95);
        c.kernel_mix = KernelMix {
            trajectory: 0.0,
            linear: 0.0,
            defocus: 0.0,
            gaussian: 0.0,
        };
        assert!(c.validate().is_err());
    }
}
