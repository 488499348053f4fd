//! PSNR and SSIM exactly as models.md §10.2 defines them.
//!
//! Both images are clamped to [0,1] and quantised to 8 bits first (what a saved file holds);
//! sums are accumulated in f64.

/// Clamp to [0,1] and round to the nearest 8-bit level.
#[inline]
pub fn quantise8(v: f32) -> f64 {
    (f64::from(v.clamp(0.0, 1.0)) * 255.0).round() / 255.0
}

/// PSNR in dB of two planar images of the same size; 100 dB when identical.
pub fn psnr(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "psnr: images differ in size");
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = quantise8(x) - quantise8(y);
            d * d
        })
        .sum::<f64>()
        / a.len().max(1) as f64;
    if mse == 0.0 {
        100.0
    } else {
        (10.0 * (1.0 / mse).log10()).min(100.0)
    }
}

/// PSNR by the blind-deblurring protocol (Levin et al. 2009, Köhler et al. 2012): a blind
/// kernel is known only up to a translation, so `restored` (planar, `planes × h × w`) is
/// scored at the integer shift within ±`max_shift` px that suits it best, over the
/// `sharp` image with `border` px cropped on every side. Quantised to 8 bits as [`psnr`].
pub fn psnr_aligned(
    restored: &[f32],
    sharp: &[f32],
    w: usize,
    h: usize,
    border: usize,
    max_shift: usize,
) -> f64 {
    assert_eq!(
        restored.len(),
        sharp.len(),
        "psnr_aligned: images differ in size"
    );
    let planes = sharp.len() / (w * h).max(1);
    let b = border.max(max_shift);
    if w <= 2 * b || h <= 2 * b {
        return psnr(restored, sharp);
    }
    let m = max_shift as i64;
    let mut best = 0.0f64;
    for dy in -m..=m {
        for dx in -m..=m {
            let mut se = 0.0f64;
            let mut n = 0usize;
            for c in 0..planes {
                for y in b..h - b {
                    let (row, moved) =
                        (c * w * h + y * w, c * w * h + (y as i64 + dy) as usize * w);
                    for x in b..w - b {
                        let d = quantise8(sharp[row + x])
                            - quantise8(restored[moved + (x as i64 + dx) as usize]);
                        se += d * d;
                        n += 1;
                    }
                }
            }
            let mse = se / n.max(1) as f64;
            let p = if mse == 0.0 {
                100.0
            } else {
                (10.0 * (1.0 / mse).log10()).min(100.0)
            };
            best = best.max(p);
        }
    }
    best
}

/// The normalised 11-tap Gaussian (σ = 1.5) of SSIM.
fn gaussian_window() -> [f64; 11] {
    let mut w = [0.0; 11];
    for (i, v) in w.iter_mut().enumerate() {
        let x = i as f64 - 5.0;
        *v = (-(x * x) / (2.0 * 1.5 * 1.5)).exp();
    }
    let sum: f64 = w.iter().sum();
    w.map(|v| v / sum)
}

/// Separable "valid" filtering of an `h × w` plane: an `(h−10) × (w−10)` result.
fn filter_valid(plane: &[f64], w: usize, h: usize, g: &[f64; 11]) -> Vec<f64> {
    let (ow, oh) = (w - 10, h - 10);
    let mut rows = vec![0.0; ow * h];
    for y in 0..h {
        for x in 0..ow {
            rows[y * ow + x] = (0..11).map(|k| g[k] * plane[y * w + x + k]).sum();
        }
    }
    let mut out = vec![0.0; ow * oh];
    for y in 0..oh {
        for x in 0..ow {
            out[y * ow + x] = (0..11).map(|k| g[k] * rows[(y + k) * ow + x]).sum();
        }
    }
    out
}

/// SSIM of one channel plane (values already quantised).
fn ssim_plane(x: &[f64], y: &[f64], w: usize, h: usize, g: &[f64; 11]) -> f64 {
    const C1: f64 = 0.01 * 0.01;
    const C2: f64 = 0.03 * 0.03;
    let xx: Vec<f64> = x.iter().map(|v| v * v).collect();
    let yy: Vec<f64> = y.iter().map(|v| v * v).collect();
    let xy: Vec<f64> = x.iter().zip(y).map(|(a, b)| a * b).collect();
    let mx = filter_valid(x, w, h, g);
    let my = filter_valid(y, w, h, g);
    let sxx = filter_valid(&xx, w, h, g);
    let syy = filter_valid(&yy, w, h, g);
    let sxy = filter_valid(&xy, w, h, g);
    let n = mx.len();
    let total: f64 = (0..n)
        .map(|i| {
            let (ux, uy) = (mx[i], my[i]);
            let vx = sxx[i] - ux * ux;
            let vy = syy[i] - uy * uy;
            let cxy = sxy[i] - ux * uy;
            ((2.0 * ux * uy + C1) * (2.0 * cxy + C2)) / ((ux * ux + uy * uy + C1) * (vx + vy + C2))
        })
        .sum();
    total / n as f64
}

/// Mean SSIM over the three planes of two planar RGB images of `w × h` (both at least 11×11).
pub fn ssim(a: &[f32], b: &[f32], w: usize, h: usize) -> Option<f64> {
    if w < 11 || h < 11 || a.len() != 3 * w * h || b.len() != a.len() {
        return None;
    }
    let g = gaussian_window();
    let plane = |img: &[f32], c: usize| -> Vec<f64> {
        img[c * w * h..(c + 1) * w * h]
            .iter()
            .map(|&v| quantise8(v))
            .collect()
    };
    let sum: f64 = (0..3)
        .map(|c| ssim_plane(&plane(a, c), &plane(b, c), w, h, &g))
        .sum();
    Some(sum / 3.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_psnr_forgives_a_small_shift_only() {
        let (w, h) = (40, 30);
        let img: Vec<f32> = (0..w * h)
            .map(|i| (((i % w) * 7 + (i / w) * 13) % 17) as f32 / 16.0)
            .collect();
        // The restoration moved by (+2 rows, −1 column).
        let moved: Vec<f32> = (0..w * h)
            .map(|i| {
                let (y, x) = ((i / w) as i64 - 2, (i % w) as i64 + 1);
                img[(y.clamp(0, h as i64 - 1) as usize) * w + x.clamp(0, w as i64 - 1) as usize]
            })
            .collect();
        assert_eq!(psnr_aligned(&moved, &img, w, h, 5, 3), 100.0);
        assert!(psnr_aligned(&moved, &img, w, h, 5, 1) < 30.0);
        assert!(psnr(&moved, &img) < 30.0);
    }

    #[test]
    fn identical_images_score_perfectly() {
        let img: Vec<f32> = (0..3 * 20 * 16).map(|i| (i % 17) as f32 / 16.0).collect();
        assert_eq!(psnr(&img, &img), 100.0);
        let s = ssim(&img, &img, 20, 16).expect("large enough");
        assert!((s - 1.0).abs() < 1e-12);
    }

    #[test]
    fn one_level_offset_gives_the_analytic_psnr() {
        let a = vec![100.0f32 / 255.0; 3 * 8 * 8];
        let b = vec![101.0f32 / 255.0; 3 * 8 * 8];
        // MSE = (1/255)²  ⇒  PSNR = 20·log10(255) = 48.1308 dB
        assert!((psnr(&a, &b) - 20.0 * 255f64.log10()).abs() < 1e-6);
    }

    #[test]
    fn ssim_refuses_images_smaller_than_the_window() {
        let img = vec![0.5f32; 3 * 10 * 10];
        assert!(ssim(&img, &img, 10, 10).is_none());
    }
}
