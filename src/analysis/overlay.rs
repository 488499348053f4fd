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
        // Sized by the grid cell (the scale-1 region), not by the area a coarser scale read:
        // auto-scaled regions would otherwise be drawn twice as large, over their neighbours.
        let cell = k.size / k.scale.max(1);
        let zoom = (cell / 2 / k.window.max(1)).clamp(1, MAX_ZOOM);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::psf::kernel_stats;

    fn region(x: usize, size: usize, window: usize, scale: usize) -> RegionKernel {
        let mut kernel = vec![0.0f32; window * window];
        kernel[window * window / 2] = 1.0;
        RegionKernel {
            col: 0,
            row: 0,
            x,
            y: 0,
            size,
            stats: kernel_stats(&kernel, window),
            kernel,
            window,
            scale,
            confidence: 1.0,
            texture: 1.0,
            reliable: true,
        }
    }

    /// Width of the green frame drawn on row `y`.
    fn frame_width(img: &RgbImage, y: u32) -> usize {
        (0..img.width())
            .filter(|&x| img.get_pixel(x, y) == &Rgb([60, 200, 90]))
            .count()
    }

    /// A region estimated at ½ resolution (twice the area, a 61-px window) gets a thumbnail of
    /// its grid cell's size, like a scale-1 region, not one twice as large.
    #[test]
    fn auto_scaled_regions_keep_their_cell_size() {
        let (w, h) = (512, 256);
        let rgb = vec![0.5f32; 3 * w * h];
        let cell = 256;
        let one = kernel_overlay(&rgb, w, h, &[region(0, cell, 31, 1)]);
        // Read 512 px at scale 2 (moved inwards to x = 0, as at an image border).
        let two = kernel_overlay(&rgb, w, h, &[region(0, 2 * cell, 61, 2)]);
        let top = |img: &RgbImage| {
            (0..img.height())
                .find(|&y| frame_width(img, y) > 2)
                .expect("a frame")
        };
        let (w1, w2) = (frame_width(&one, top(&one)), frame_width(&two, top(&two)));
        assert_eq!(w1, 31 * 4 + 2);
        assert!(w2 <= w1, "scale-2 thumbnail {w2} px wide vs {w1}");
    }
}
