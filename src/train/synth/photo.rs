//! Training photos and the linear-light crop with random area downscale (§12.1 steps 1–2).

use rand::{Rng, RngExt};

use super::convolve::reflect;
use super::error::SynthError;
use super::rng::uniform;
use crate::imaging::color::srgb_to_linear;

/// An 8-bit sRGB photo, row-major interleaved RGB.
#[derive(Debug, Clone, PartialEq)]
pub struct Photo {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl Photo {
    /// Checks that the buffer holds exactly `width · height` RGB pixels.
    pub fn new(width: u32, height: u32, rgb: Vec<u8>) -> Result<Self, SynthError> {
        let photo = Self { width, height, rgb };
        photo
            .check()
            .map_err(|reason| SynthError::InvalidPhoto { index: 0, reason })?;
        Ok(photo)
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        let expected = (self.width as usize)
            .checked_mul(self.height as usize)
            .and_then(|n| n.checked_mul(3));
        match expected {
            _ if self.width == 0 || self.height == 0 => Err("photo has no pixels".into()),
            Some(n) if n == self.rgb.len() => Ok(()),
            _ => Err(format!(
                "{}×{} RGB needs {} bytes, buffer has {}",
                self.width,
                self.height,
                expected.map_or_else(|| "too many".to_string(), |n| n.to_string()),
                self.rgb.len()
            )),
        }
    }
}

impl From<image::RgbImage> for Photo {
    fn from(img: image::RgbImage) -> Self {
        Self {
            width: img.width(),
            height: img.height(),
            rgb: img.into_raw(),
        }
    }
}

/// Where a sample's context crop comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CropPlan {
    /// Downscale factor in (0, 1]; 1 means no resampling.
    pub factor: f64,
    /// Size of the (virtual) downscaled photo.
    pub down_w: usize,
    pub down_h: usize,
    /// Top-left of the crop in downscaled pixels; negative or overhanging means reflect-padding.
    pub origin_x: isize,
    pub origin_y: isize,
}

impl CropPlan {
    /// Draws the downscale factor (only for photos whose long side exceeds `downscale_above`)
    /// and a uniform crop position of a `crop × crop` window.
    pub fn draw<R: Rng + ?Sized>(
        rng: &mut R,
        photo: &Photo,
        crop: usize,
        downscale_above: u32,
        downscale_min: f64,
    ) -> Self {
        let long = photo.width.max(photo.height);
        let factor = if long > downscale_above {
            uniform(rng, downscale_min, 1.0)
        } else {
            1.0
        };
        let down = |n: u32| ((f64::from(n) * factor).floor() as usize).max(1);
        let (down_w, down_h) = (down(photo.width), down(photo.height));
        Self {
            factor,
            down_w,
            down_h,
            origin_x: draw_origin(rng, down_w, crop),
            origin_y: draw_origin(rng, down_h, crop),
        }
    }
}

/// Uniform window origin. When the photo is smaller than the window, the photo is placed at a
/// random position inside it and the rest is reflect-padded.
fn draw_origin<R: Rng + ?Sized>(rng: &mut R, n: usize, crop: usize) -> isize {
    // i64 because rand 0.10 samples no isize ranges (their width is platform-dependent).
    let slack = n as i64 - crop as i64;
    let origin = if slack >= 0 {
        rng.random_range(0..=slack)
    } else {
        rng.random_range(slack..=0)
    };
    origin as isize
}

/// Area-average taps `(source index, weight)` of downscaled pixel `d` when `n_src` pixels are
/// resampled to `n_down`: the pixel covers source interval `[d·s, (d+1)·s)`, `s = n_src/n_down`,
/// and each source pixel is weighted by its overlap. With `n_down == n_src` this is `(d, 1)`.
fn area_taps(d: usize, n_src: usize, n_down: usize) -> Vec<(usize, f32)> {
    let s = n_src as f64 / n_down as f64;
    let (a, b) = (d as f64 * s, (d + 1) as f64 * s);
    let first = a.floor() as usize;
    let last = (b.ceil() as usize).min(n_src);
    (first..last)
        .filter_map(|j| {
            let overlap = b.min((j + 1) as f64) - a.max(j as f64);
            (overlap > 0.0).then_some((j, (overlap / s) as f32))
        })
        .collect()
}

/// The `crop × crop` context window of `plan` in linear light, planar RGB.
///
/// Equivalent to area-downscaling the whole photo by `plan.factor` and cropping, but only the
/// source region under the window is read. Decision: the area average is taken in linear light
/// (each 8-bit value goes through the exact sRGB curve first), as a smaller sensor would have
/// integrated photons; averaging sRGB codes would darken high-contrast edges.
pub(crate) fn crop_linear(photo: &Photo, plan: &CropPlan, crop: usize) -> Vec<f32> {
    let lut: Vec<f32> = (0..=255u8)
        .map(|v| srgb_to_linear(f32::from(v) / 255.0))
        .collect();
    let (w, h) = (photo.width as usize, photo.height as usize);
    let taps_for = |origin: isize, n_down: usize, n_src: usize| -> Vec<Vec<(usize, f32)>> {
        (0..crop)
            .map(|i| area_taps(reflect(origin + i as isize, n_down), n_src, n_down))
            .collect()
    };
    let col_taps = taps_for(plan.origin_x, plan.down_w, w);
    let row_taps = taps_for(plan.origin_y, plan.down_h, h);
    let plane = crop * crop;
    let mut out = vec![0.0f32; 3 * plane];
    let mut acc = vec![[0.0f32; 3]; crop];
    for (y, rtaps) in row_taps.iter().enumerate() {
        acc.iter_mut().for_each(|a| *a = [0.0; 3]);
        for &(sy, wy) in rtaps {
            let src_row = &photo.rgb[sy * w * 3..(sy + 1) * w * 3];
            for (a, ctaps) in acc.iter_mut().zip(&col_taps) {
                for &(sx, wx) in ctaps {
                    let wgt = wy * wx;
                    let px = &src_row[sx * 3..sx * 3 + 3];
                    for (ac, &v) in a.iter_mut().zip(px) {
                        *ac += wgt * lut[usize::from(v)];
                    }
                }
            }
        }
        for (x, a) in acc.iter().enumerate() {
            for (c, &v) in a.iter().enumerate() {
                out[c * plane + y * crop + x] = v;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_taps_partition_unity_and_cover_the_source() {
        for (n_src, n_down) in [(10, 10), (2040, 1000), (1500, 601), (7, 3)] {
            let mut cover = vec![0.0f64; n_src];
            for d in 0..n_down {
                let taps = area_taps(d, n_src, n_down);
                let sum: f32 = taps.iter().map(|t| t.1).sum();
                assert!((sum - 1.0).abs() < 1e-5, "{n_src}->{n_down} d {d}: {sum}");
                let s = n_src as f64 / n_down as f64;
                for (j, w) in taps {
                    cover[j] += f64::from(w) * s;
                }
            }
            // Every source pixel contributes with total weight 1 (in source-pixel units).
            assert!(cover.iter().all(|c| (c - 1.0).abs() < 1e-4), "{cover:?}");
        }
    }

    #[test]
    fn crop_without_downscale_is_the_photo_in_linear_light() {
        let (w, h) = (20u32, 12u32);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 256) as u8).collect();
        let photo = Photo::new(w, h, rgb.clone()).expect("valid photo");
        let plan = CropPlan {
            factor: 1.0,
            down_w: 20,
            down_h: 12,
            origin_x: 3,
            origin_y: 2,
        };
        let out = crop_linear(&photo, &plan, 8);
        for c in 0..3 {
            for y in 0..8 {
                for x in 0..8 {
                    let v = rgb[((y + 2) * 20 + x + 3) * 3 + c];
                    let want = srgb_to_linear(f32::from(v) / 255.0);
                    assert_eq!(out[c * 64 + y * 8 + x], want);
                }
            }
        }
    }

    #[test]
    fn small_photo_is_reflect_padded_and_downscale_averages_linear_light() {
        // 2×1 photo: black and white. Crop 5 wide at origin −1 reflects: 1 0 1 0 1.
        let photo = Photo::new(2, 1, vec![0, 0, 0, 255, 255, 255]).expect("valid");
        let plan = CropPlan {
            factor: 1.0,
            down_w: 2,
            down_h: 1,
            origin_x: -1,
            origin_y: 0,
        };
        let out = crop_linear(&photo, &plan, 5);
        let white = srgb_to_linear(1.0);
        assert_eq!(&out[0..5], &[white, 0.0, white, 0.0, white]);
        // Halving averages black and white to 0.5 linear (not sRGB 0.5 ≈ 0.214 linear).
        let plan = CropPlan {
            factor: 0.5,
            down_w: 1,
            down_h: 1,
            origin_x: 0,
            origin_y: 0,
        };
        let photo =
            Photo::new(2, 2, vec![0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255]).expect("valid");
        let out = crop_linear(&photo, &plan, 1);
        assert!((out[0] - 0.5 * white).abs() < 1e-6);
    }

    #[test]
    fn bad_photos_are_rejected() {
        assert!(Photo::new(2, 2, vec![0; 11]).is_err());
        assert!(Photo::new(0, 2, vec![]).is_err());
    }
}
