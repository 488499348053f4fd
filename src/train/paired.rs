//! Paired comparison of two models scored on the same images (models.md §4.5): per-image
//! differences, their mean and spread, and how often each model wins.
//!
//! Pairing by image removes the large between-image variance (an easy image is easy for both
//! models), so a small but consistent gain shows up where a difference of means would not.

use std::collections::HashMap;

/// One image's scores under one model.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    pub name: String,
    pub psnr: f64,
    pub ssim: f64,
}

/// Model minus baseline, over the images both were scored on.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Paired {
    pub images: usize,
    /// Mean of the per-image PSNR differences, dB.
    pub mean_delta_psnr: f64,
    /// Standard error of that mean (sample standard deviation / √n), dB; 0 for one image.
    pub stderr_delta_psnr: f64,
    pub mean_delta_ssim: f64,
    /// Images where the model is better / worse by more than [`TIE_DB`], and the rest.
    pub better: usize,
    pub worse: usize,
    pub ties: usize,
}

/// PSNR differences smaller than this count as ties: the scores print with three decimals.
pub const TIE_DB: f64 = 1e-3;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PairError {
    #[error("no images to compare")]
    Empty,
    #[error("image {0} appears twice in one of the score lists")]
    Duplicate(String),
    #[error(
        "image {0} was scored for one model but not the other (were both run on the same set?)"
    )]
    Unmatched(String),
}

/// Compare `model` with `baseline` image by image. Both lists must hold the same image names,
/// each once (in any order): a comparison over different sets would not be paired.
pub fn paired(model: &[Score], baseline: &[Score]) -> Result<Paired, PairError> {
    let base = index(baseline)?;
    let mine = index(model)?;
    if let Some(name) = base.keys().find(|n| !mine.contains_key(*n)) {
        return Err(PairError::Unmatched((*name).to_string()));
    }
    let mut dp = Vec::with_capacity(model.len());
    let mut ds = Vec::with_capacity(model.len());
    for s in model {
        let b = base
            .get(s.name.as_str())
            .ok_or_else(|| PairError::Unmatched(s.name.clone()))?;
        dp.push(s.psnr - b.psnr);
        ds.push(s.ssim - b.ssim);
    }
    if dp.is_empty() {
        return Err(PairError::Empty);
    }
    let n = dp.len() as f64;
    let mean = dp.iter().sum::<f64>() / n;
    let stderr = if dp.len() > 1 {
        let var = dp.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (var / n).sqrt()
    } else {
        0.0
    };
    Ok(Paired {
        images: dp.len(),
        mean_delta_psnr: mean,
        stderr_delta_psnr: stderr,
        mean_delta_ssim: ds.iter().sum::<f64>() / n,
        better: dp.iter().filter(|&&d| d > TIE_DB).count(),
        worse: dp.iter().filter(|&&d| d < -TIE_DB).count(),
        ties: dp.iter().filter(|&&d| d.abs() <= TIE_DB).count(),
    })
}

fn index(scores: &[Score]) -> Result<HashMap<&str, &Score>, PairError> {
    let mut map = HashMap::with_capacity(scores.len());
    for s in scores {
        if map.insert(s.name.as_str(), s).is_some() {
            return Err(PairError::Duplicate(s.name.clone()));
        }
    }
    Ok(map)
}

impl Paired {
    /// Half-width of the 95 % interval of the mean PSNR difference (normal approximation).
    pub fn ci95_delta_psnr(&self) -> f64 {
        1.96 * self.stderr_delta_psnr
    }

    /// One line for a person: the mean gain with its 95 % interval (normal approximation, fair
    /// from about 30 images on) and the win/loss count.
    pub fn describe(&self, model: &str, baseline: &str) -> String {
        let interval = if self.images >= 30 {
            format!(" ± {:.3} (95 %)", self.ci95_delta_psnr())
        } else {
            format!(" (standard error {:.3})", self.stderr_delta_psnr)
        };
        format!(
            "{model} vs {baseline}, paired over {} images: PSNR {:+.3} dB{interval}, SSIM {:+.4}; \
             better on {}, worse on {}, equal on {}",
            self.images,
            self.mean_delta_psnr,
            self.mean_delta_ssim,
            self.better,
            self.worse,
            self.ties
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(name: &str, psnr: f64, ssim: f64) -> Score {
        Score {
            name: name.into(),
            psnr,
            ssim,
        }
    }

    #[test]
    fn differences_are_paired_by_name_not_position() {
        let model = [s("a", 30.0, 0.90), s("b", 20.5, 0.52), s("c", 25.0, 0.70)];
        // Same images, another order; per image the model gains +1.0, -0.5, 0.0 dB.
        let base = [s("c", 25.0, 0.71), s("a", 29.0, 0.85), s("b", 21.0, 0.50)];
        let p = paired(&model, &base).expect("same images");
        assert_eq!(p.images, 3);
        assert!((p.mean_delta_psnr - 0.5 / 3.0).abs() < 1e-12);
        assert!((p.mean_delta_ssim - (0.05 + 0.02 - 0.01) / 3.0).abs() < 1e-12);
        assert_eq!((p.better, p.worse, p.ties), (1, 1, 1));
        // Sample variance of (1, -0.5, 0) around 1/6: (25/36 + 4/9 + 1/36) / 2 = 7/12.
        let expected = (7.0 / 12.0 / 3.0f64).sqrt();
        assert!((p.stderr_delta_psnr - expected).abs() < 1e-12);
    }

    #[test]
    fn a_constant_gain_has_no_spread() {
        let base: Vec<Score> = (0..40)
            .map(|i| s(&format!("{i}"), 20.0 + i as f64, 0.5))
            .collect();
        let model: Vec<Score> = base
            .iter()
            .map(|b| s(&b.name, b.psnr + 0.25, 0.6))
            .collect();
        let p = paired(&model, &base).expect("same images");
        assert!((p.mean_delta_psnr - 0.25).abs() < 1e-12);
        assert!(p.stderr_delta_psnr < 1e-12);
        assert_eq!((p.better, p.worse, p.ties), (40, 0, 0));
        let line = p.describe("pde", "ft");
        assert!(line.contains("+0.250 dB ± 0.000 (95 %)"), "{line}");
        assert!(line.contains("better on 40, worse on 0"), "{line}");
    }

    #[test]
    fn different_sets_are_refused() {
        let a = [s("a", 1.0, 0.0), s("b", 1.0, 0.0)];
        let b = [s("a", 1.0, 0.0), s("c", 1.0, 0.0)];
        assert!(matches!(paired(&a, &b), Err(PairError::Unmatched(_))));
        // A baseline with an image the model lacks is refused too, not silently dropped.
        assert_eq!(paired(&a[..1], &a), Err(PairError::Unmatched("b".into())));
        assert_eq!(paired(&[], &[]), Err(PairError::Empty));
        let dup = [s("a", 1.0, 0.0), s("a", 2.0, 0.0)];
        assert_eq!(paired(&dup, &a), Err(PairError::Duplicate("a".into())));
    }
}
