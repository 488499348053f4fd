//! Feature-level kernels of a `deeprft-*` network (models.md §6.5): per tile, the spatial
//! kernels `irfft2(OTF_c)` of the FKE's C per-channel transfer functions and their mean, and
//! a picture of them over the photo.
//!
//! These act on a learned projection of features: they may be negative and need not sum to
//! 1, so they are drawn with a diverging colour map and labelled as what they are. Image PSFs
//! come from `psf` (§8).

use burn::tensor::{Device, Tensor, TensorData};
use image::{Rgb, RgbImage};

use super::font::draw_text;
use super::psf::region_starts;
use crate::nets::fke::feature_kernels;
use crate::nets::model::Net;
use crate::nets::nafnet::PdeRun;

/// What the pictures and the JSON say these kernels are.
pub const CAPTION: &str = "FKE feature-level kernels (not image PSFs): red +, blue -";

/// One tile's kernels: `window × window` each, row-major.
#[derive(Clone, Debug)]
pub struct TileKernels {
    /// Top-left corner and side of the tile in image pixels.
    pub x: usize,
    pub y: usize,
    pub size: usize,
    pub window: usize,
    pub channels: Vec<Vec<f32>>,
    pub mean: Vec<f32>,
}

/// Runs the network's FKE on tiles of side `tile` (or the whole photo when smaller), as few
/// as cover the photo, spread evenly from border to border (overlapping where the photo is
/// not a multiple of the tile), and returns each tile's kernels. `None` without an FKE.
pub fn estimate_feature_kernels(
    net: &Net,
    rgb: &[f32],
    width: usize,
    height: usize,
    tile: usize,
    window: usize,
    device: &Device,
) -> Option<Result<Vec<TileKernels>, String>> {
    let Net::NafNet(naf) = net else {
        return None;
    };
    naf.fke.as_ref()?;
    let (tw, th) = (tile.min(width), tile.min(height));
    let xs = region_starts(width, tw, width.div_ceil(tw.max(1)));
    let ys = region_starts(height, th, height.div_ceil(th.max(1)));
    let plane = width * height;
    let mut out = Vec::with_capacity(xs.len() * ys.len());
    for &y in &ys {
        for &x in &xs {
            let mut data = Vec::with_capacity(3 * tw * th);
            for c in 0..3 {
                for row in y..y + th {
                    let start = c * plane + row * width + x;
                    data.extend_from_slice(&rgb[start..start + tw]);
                }
            }
            let input = Tensor::<4>::from_data(TensorData::new(data, [1, 3, th, tw]), device);
            let (outputs, _) = naf.forward_all(input, PdeRun::default(), false);
            let Some((re, im)) = outputs.otf else {
                return Some(Err("the network returned no OTF".into()));
            };
            let [_, channels, fh, wc] = re.dims();
            let fw = 2 * (wc - 1);
            let host = |t: Tensor<4>| t.into_data().convert::<f32>().try_to_vec::<f32>();
            let (re, im) = match (host(re), host(im)) {
                (Ok(re), Ok(im)) => (re, im),
                _ => return Some(Err("cannot read the OTF back".into())),
            };
            let kernels = match feature_kernels(&re, &im, channels, fh, fw, window) {
                Ok(k) => k,
                Err(e) => return Some(Err(e.to_string())),
            };
            let win = kernels
                .first()
                .map_or(0, |k| (k.len() as f64).sqrt() as usize);
            let mut mean = vec![0.0f32; win * win];
            for k in &kernels {
                for (m, v) in mean.iter_mut().zip(k) {
                    *m += v / channels as f32;
                }
            }
            out.push(TileKernels {
                x,
                y,
                size: tw.min(th),
                window: win,
                channels: kernels,
                mean,
            });
        }
    }
    Some(Ok(out))
}

/// Diverging colour for `v` in [−1, 1]: blue through white to red.
pub fn diverging(v: f32) -> Rgb<u8> {
    let t = v.clamp(-1.0, 1.0);
    let fade = |a: f32| (255.0 * (1.0 - a)).round() as u8;
    if t >= 0.0 {
        Rgb([255, fade(t), fade(t)])
    } else {
        Rgb([fade(-t), fade(-t), 255])
    }
}

/// Draws `kernel` (`window²` taps) at `(x0, y0)` with `zoom` pixels a tap, scaled by its own
/// largest magnitude.
fn draw_kernel(
    img: &mut RgbImage,
    kernel: &[f32],
    window: usize,
    x0: usize,
    y0: usize,
    zoom: usize,
) {
    let peak = kernel.iter().fold(f32::MIN_POSITIVE, |m, v| m.max(v.abs()));
    let (w, h) = (img.width() as usize, img.height() as usize);
    for ty in 0..window * zoom {
        for tx in 0..window * zoom {
            let (px, py) = (x0 + tx, y0 + ty);
            if px < w && py < h {
                let tap = kernel[(ty / zoom) * window + tx / zoom];
                img.put_pixel(px as u32, py as u32, diverging(tap / peak));
            }
        }
    }
}

/// The photo, dimmed, with each tile's kernels as a mosaic at the tile's centre: the C
/// channel kernels in a square grid and their mean below at twice the size.
pub fn feature_kernel_overlay(
    rgb: &[f32],
    width: usize,
    height: usize,
    tiles: &[TileKernels],
) -> RgbImage {
    let mut img = super::overlay::dimmed(rgb, width, height, 0.35);
    for t in tiles {
        let per_row = (t.channels.len() as f64).sqrt().ceil().max(1.0) as usize;
        let rows = t.channels.len().div_ceil(per_row);
        // Mosaic: per_row thumbnails of (window·zoom + 1) px, then the mean at 2× below.
        let cell = |zoom: usize| t.window * zoom + 1;
        let zoom = (1..=4)
            .rev()
            .find(|&z| per_row * cell(z) <= t.size && (rows + 2) * cell(z) <= t.size)
            .unwrap_or(1);
        let side = per_row * cell(zoom);
        let x0 = (t.x + t.size / 2).saturating_sub(side / 2);
        let y0 = (t.y + t.size / 2).saturating_sub((rows + 2) * cell(zoom) / 2);
        for (i, k) in t.channels.iter().enumerate() {
            let (cx, cy) = (
                x0 + (i % per_row) * cell(zoom),
                y0 + (i / per_row) * cell(zoom),
            );
            draw_kernel(&mut img, k, t.window, cx, cy, zoom);
        }
        let mx = (t.x + t.size / 2).saturating_sub(t.window * zoom);
        draw_kernel(
            &mut img,
            &t.mean,
            t.window,
            mx,
            y0 + rows * cell(zoom),
            2 * zoom,
        );
    }
    let (w, h) = (width, height);
    draw_text(CAPTION, 4, 4, 1, &mut |x, y| {
        if x < w && y < h {
            img.put_pixel(x as u32, y as u32, Rgb([255, 255, 255]));
        }
    });
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::nafnet::NafNetConfig;

    #[test]
    fn diverging_map_is_white_at_zero_and_saturates() {
        assert_eq!(diverging(0.0), Rgb([255, 255, 255]));
        assert_eq!(diverging(1.0), Rgb([255, 0, 0]));
        assert_eq!(diverging(-1.0), Rgb([0, 0, 255]));
        assert_eq!(diverging(7.0), diverging(1.0));
    }

    #[test]
    fn tiles_cover_the_photo_and_carry_one_kernel_per_channel() {
        let device = Device::flex();
        let cfg = NafNetConfig {
            width: 4,
            enc_blocks: vec![1],
            middle_blocks: 1,
            dec_blocks: vec![1],
            ..NafNetConfig::small_fke()
        };
        let net = Net::NafNet(cfg.init(&device));
        let (w, h) = (80, 48);
        let rgb: Vec<f32> = (0..3 * w * h).map(|i| (i % 13) as f32 / 13.0).collect();
        let tiles = estimate_feature_kernels(&net, &rgb, w, h, 32, 7, &device)
            .expect("an FKE network")
            .expect("kernels");
        // 80 px: 3 tiles of 32 at 0, 24, 48; 48 px: 2 tiles at 0, 16.
        assert_eq!(tiles.len(), 6);
        assert_eq!((tiles[5].x, tiles[5].y), (48, 16));
        for t in &tiles {
            assert_eq!(t.channels.len(), 4);
            assert!(t.channels.iter().all(|k| k.len() == 49));
            assert!(t.mean.iter().all(|v| v.is_finite()));
        }
        let img = feature_kernel_overlay(&rgb, w, h, &tiles);
        assert_eq!(img.dimensions(), (80, 48));
        // A network without an FKE has none.
        let plain = Net::NafNet(
            NafNetConfig {
                fke: None,
                ..NafNetConfig::small_fke()
            }
            .init(&device),
        );
        assert!(estimate_feature_kernels(&plain, &rgb, w, h, 32, 7, &device).is_none());
    }
}
