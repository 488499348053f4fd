//! Drawing per-region kernels over a photo: the kernel-grid PNG of `deblur kernels` and the
//! GUI's export.

use image::{Rgb, RgbImage};

use super::psf::RegionKernel;

/// Largest magnification of a kernel thumbnail (window 31 → at most 186 px).
const MAX_ZOOM: usize = 6;

/// The photo (planar sRGB in [0, 1]) as 8-bit RGB scaled by `factor`, a dim background for
/// drawing kernels over.
pub fn dimmed(rgb: &[f32], width: usize, height: usize, factor: f32) -> RgbImage {
    let plane = width * height;
    RgbImage::from_fn(width as u32, height as u32, |x, y| {
        let i = y as usize * width + x as usize;
        let px = |c: usize| (rgb[c * plane + i].clamp(0.0, 1.0) * 255.0 * factor).round() as u8;
        Rgb([px(0), px(1), px(2)])
    })
}

/// The photo (planar sRGB, dimmed so the kernels stand out) with each region's kernel drawn
/// as a grey thumbnail at the region's centre: white = the kernel's peak. Unreliable regions
/// are drawn faded with a grey frame, reliable ones with a green frame.
pub fn kernel_overlay(
    rgb: &[f32],
    width: usize,
    height: usize,
    kernels: &[RegionKernel],
) -> RgbImage {
    let mut img = dimmed(rgb, width, height, 0.45);
    for k in kernels {
        let zoom = (k.size / 2 / k.window.max(1)).clamp(1, MAX_ZOOM);
        let side = k.window * zoom;
        let cx = k.x + k.size / 2;
        let cy = k.y + k.size / 2;
        // Top-left of the framed thumbnail (frame 1 px around `side × side` taps).
        let (x0, y0) = (
            cx.saturating_sub(side / 2 + 1),
            cy.saturating_sub(side / 2 + 1),
        );
        let peak = k.kernel.iter().cloned().fold(f32::MIN_POSITIVE, f32::max);
        let alpha = if k.reliable { 1.0 } else { 0.4 };
        let frame = if k.reliable {
            Rgb([60, 200, 90])
        } else {
            Rgb([128, 128, 128])
        };
        for ty in 0..side + 2 {
            for tx in 0..side + 2 {
                let (px, py) = (x0 + tx, y0 + ty);
                if px >= width || py >= height {
                    continue;
                }
                let on_frame = tx == 0 || ty == 0 || tx == side + 1 || ty == side + 1;
                let colour = if on_frame {
                    frame
                } else {
                    let tap = k.kernel[((ty - 1) / zoom) * k.window + (tx - 1) / zoom];
                    // Square root: faint tails of long kernels stay visible.
                    let v = ((tap / peak).max(0.0).sqrt() * 255.0 * alpha) as u8;
                    Rgb([v, v, v])
                };
                img.put_pixel(px as u32, py as u32, colour);
            }
        }
    }
    img
}
