//! JPEG round trip of the quantised blurred image (§12.1 step 8).
//!
//! `image` 0.25.10's `JpegEncoder` always writes 4:4:4: all three components get sampling
//! factors 1×1 in `new_with_quality`, and there is no setting to change that (its doc comment
//! says 4:2:2, the code does not subsample at all). Cameras and the web mostly use 4:2:0, so the
//! chroma loss is simulated before encoding: convert to JFIF YCbCr, average Cb/Cr over 2×2
//! blocks, upsample them back with libjpeg's "fancy" triangle filter (9-3-3-1), return to RGB,
//! then encode 4:4:4. This reproduces 4:2:0's chroma blur and colour bleeding; what it does not
//! reproduce is that real 4:2:0 quantises chroma on 16×16-pixel blocks instead of 8×8.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageFormat};

use super::error::SynthError;

/// JFIF RGB → (Y, Cb, Cr), full range.
#[inline]
fn to_ycbcr(p: &[u8]) -> [f32; 3] {
    let (r, g, b) = (f32::from(p[0]), f32::from(p[1]), f32::from(p[2]));
    [
        0.299 * r + 0.587 * g + 0.114 * b,
        128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b,
        128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b,
    ]
}

#[inline]
fn to_rgb(y: f32, cb: f32, cr: f32) -> [u8; 3] {
    let (cb, cr) = (cb - 128.0, cr - 128.0);
    let q = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    [
        q(y + 1.402 * cr),
        q(y - 0.344_136 * cb - 0.714_136 * cr),
        q(y + 1.772 * cb),
    ]
}

/// Simulates 4:2:0 chroma subsampling of interleaved 8-bit RGB (see the module doc): luma is
/// kept, chroma is 2×2 box-averaged and triangle-upsampled. Returns interleaved RGB.
pub fn simulate_chroma_420(rgb: &[u8], width: usize, height: usize) -> Vec<u8> {
    let ycc: Vec<[f32; 3]> = rgb.chunks_exact(3).map(to_ycbcr).collect();
    let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
    // 2×2 means (partial blocks at odd edges average what they have).
    let mut chroma = vec![[0.0f32; 2]; cw * ch];
    for (i, c) in chroma.iter_mut().enumerate() {
        let (by, bx) = (i / cw, i % cw);
        let mut n = 0.0;
        for y in 2 * by..(2 * by + 2).min(height) {
            for x in 2 * bx..(2 * bx + 2).min(width) {
                let p = ycc[y * width + x];
                c[0] += p[1];
                c[1] += p[2];
                n += 1.0;
            }
        }
        c[0] /= n;
        c[1] /= n;
    }
    // Fancy upsampling: full-res pixel (y, x) lies a quarter chroma pixel from chroma sample
    // (y/2, x/2), towards the neighbour on its side; weights 3/4 near, 1/4 far, per axis.
    let near_far = |p: usize, n: usize| -> (usize, usize) {
        let c = p / 2;
        let far = if p % 2 == 0 {
            c.saturating_sub(1)
        } else {
            (c + 1).min(n - 1)
        };
        (c, far)
    };
    let mut out = Vec::with_capacity(rgb.len());
    for y in 0..height {
        let (cy, fy) = near_far(y, ch);
        for x in 0..width {
            let (cx, fx) = near_far(x, cw);
            let at = |yy: usize, xx: usize| chroma[yy * cw + xx];
            let (a, b, c, d) = (at(cy, cx), at(cy, fx), at(fy, cx), at(fy, fx));
            let mix = |k: usize| (9.0 * a[k] + 3.0 * b[k] + 3.0 * c[k] + d[k]) / 16.0;
            out.extend_from_slice(&to_rgb(ycc[y * width + x][0], mix(0), mix(1)));
        }
    }
    out
}

/// Encodes interleaved 8-bit RGB as JPEG at `quality` (1–100) with simulated 4:2:0 chroma and
/// decodes it again. Returns interleaved RGB of the same size.
pub fn jpeg_round_trip(
    rgb: &[u8],
    width: usize,
    height: usize,
    quality: u8,
) -> Result<Vec<u8>, SynthError> {
    if width == 0 || height == 0 || rgb.len() != width * height * 3 {
        return Err(SynthError::InvalidImage(format!(
            "{width}×{height} RGB needs {} bytes, got {}",
            width * height * 3,
            rgb.len()
        )));
    }
    let (w, h) = match (u32::try_from(width), u32::try_from(height)) {
        (Ok(w), Ok(h)) if w <= 65_535 && h <= 65_535 => (w, h),
        _ => {
            return Err(SynthError::Jpeg(format!(
                "{width}×{height} exceeds JPEG limits"
            )))
        }
    };
    let subsampled = simulate_chroma_420(rgb, width, height);
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality.clamp(1, 100))
        .encode(&subsampled, w, h, ExtendedColorType::Rgb8)
        .map_err(|e| SynthError::Jpeg(e.to_string()))?;
    let decoded = image::load(Cursor::new(&bytes), ImageFormat::Jpeg)
        .map_err(|e| SynthError::Jpeg(e.to_string()))?
        .into_rgb8();
    if decoded.dimensions() != (w, h) {
        return Err(SynthError::Jpeg(format!(
            "decoded {:?}, expected {w}×{h}",
            decoded.dimensions()
        )));
    }
    Ok(decoded.into_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        let mse = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
            .sum::<f64>()
            / a.len() as f64;
        10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10()
    }

    fn smooth_image(w: usize, h: usize) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| {
                let (y, x) = ((i / w) as f32, (i % w) as f32);
                [
                    (128.0 + 100.0 * (x * 0.05).sin()) as u8,
                    (128.0 + 90.0 * (y * 0.07).cos()) as u8,
                    (60.0 + x + y) as u8,
                ]
            })
            .collect()
    }

    #[test]
    fn chroma_subsampling_keeps_luma_and_blurs_chroma() {
        // Alternating red / blue columns: strong 1-px chroma detail.
        let (w, h) = (16, 8);
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                if i % 2 == 0 {
                    [200, 30, 30]
                } else {
                    [30, 30, 200]
                }
            })
            .collect();
        let out = simulate_chroma_420(&rgb, w, h);
        let cr = |p: &[u8]| to_ycbcr(p)[2];
        let before = (cr(&rgb[0..3]) - cr(&rgb[3..6])).abs();
        let after = (cr(&out[0..3]) - cr(&out[3..6])).abs();
        assert!(after < 0.3 * before, "chroma contrast {after} vs {before}");
        // Luma is carried through (up to 8-bit rounding of the RGB round trip).
        for (a, b) in rgb.chunks_exact(3).zip(out.chunks_exact(3)) {
            assert!((to_ycbcr(a)[0] - to_ycbcr(b)[0]).abs() < 1.5);
        }
        // Flat colour is unchanged.
        let flat = vec![90u8; 3 * 5 * 7];
        assert_eq!(simulate_chroma_420(&flat, 5, 7), flat);
    }

    #[test]
    fn round_trip_degrades_gracefully_with_quality() {
        let (w, h) = (72, 56);
        let img = smooth_image(w, h);
        let hi = jpeg_round_trip(&img, w, h, 95).expect("encodes");
        let lo = jpeg_round_trip(&img, w, h, 60).expect("encodes");
        assert_eq!(hi.len(), img.len());
        let (p_hi, p_lo) = (psnr(&img, &hi), psnr(&img, &lo));
        assert!(p_hi > 33.0, "q95 PSNR {p_hi}");
        assert!(p_lo > 28.0 && p_lo < p_hi, "q60 PSNR {p_lo} vs q95 {p_hi}");
        assert_ne!(hi, img, "JPEG is lossy");
        assert!(jpeg_round_trip(&img, w + 1, h, 90).is_err());
    }
}
