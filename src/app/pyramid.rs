//! Halved copies of a photo for drawing it zoomed out. egui-wgpu 0.37 gives textures one mip
//! level, so a photo shown at a quarter of its size was sampled at every fourth pixel and fine
//! detail aliased (moiré on fabric, crawling edges while zooming). The viewer instead draws the
//! level whose pixels are closest to, but not smaller than, the screen's pixels, and samples it
//! bilinearly: never more than 2× minified.
//!
//! Each level averages 2 × 2 pixels of the one above in linear light, as the light itself
//! would add up; averaging sRGB codes would darken fine bright detail (black and white stripes
//! would turn 128 grey instead of 188). A [`Canvas`] keeps every level of an image that is
//! painted tile by tile (the after view during a deblur) and says what each tile changes.

use std::ops::Range;
use std::sync::LazyLock;

use egui::{Color32, ColorImage};
use rayon::prelude::*;

/// Levels are made while the longer side exceeds this many pixels.
pub const SMALLEST_SIDE: usize = 64;

/// sRGB code → linear light.
static DECODE: LazyLock<[f32; 256]> =
    LazyLock::new(|| std::array::from_fn(|c| srgb_to_linear(c as f32 / 255.0)));

/// Steps of the linear-light table for encoding: fine enough that a looked-up code is at most
/// one away from the exactly rounded one, also in the steep dark end of the curve.
const ENCODE_STEPS: usize = 1 << 14;

/// Linear light (quantised to `ENCODE_STEPS`) → sRGB code.
static ENCODE: LazyLock<Vec<u8>> = LazyLock::new(|| {
    (0..=ENCODE_STEPS)
        .map(|i| (linear_to_srgb(i as f32 / ENCODE_STEPS as f32) * 255.0 + 0.5) as u8)
        .collect()
});

fn srgb_to_linear(v: f32) -> f32 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

fn linear_to_srgb(v: f32) -> f32 {
    if v <= 0.003_130_8 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}

/// An opaque colour in linear light.
fn decode(c: Color32) -> [f32; 3] {
    [c.r(), c.g(), c.b()].map(|v| DECODE[v as usize])
}

/// Linear light back to an opaque colour.
fn encode(rgb: [f32; 3]) -> Color32 {
    let code = |v: f32| ENCODE[(v.clamp(0.0, 1.0) * ENCODE_STEPS as f32 + 0.5) as usize];
    Color32::from_rgb(code(rgb[0]), code(rgb[1]), code(rgb[2]))
}

/// Pixel (x, y) of the half of `src`: the mean of the 2 × 2 block under it. An odd last column
/// or row has blocks of one pixel across; such a pixel covers half a pixel of the level, which
/// the viewer crops.
fn half_pixel(src: &ColorImage, x: usize, y: usize) -> Color32 {
    let [w, h] = src.size;
    let (xs, ys) = (2 * x..(2 * x + 2).min(w), 2 * y..(2 * y + 2).min(h));
    let mut sum = [0.0f32; 3];
    for sy in ys.clone() {
        for sx in xs.clone() {
            let p = decode(src.pixels[sy * w + sx]);
            (0..3).for_each(|c| sum[c] += p[c]);
        }
    }
    let n = (xs.len() * ys.len()) as f32;
    encode(sum.map(|s| s / n))
}

/// `src` halved.
pub fn halve(src: &ColorImage) -> ColorImage {
    let [w, h] = src.size;
    let (hw, hh) = (w.div_ceil(2), h.div_ceil(2));
    let mut pixels = vec![Color32::BLACK; hw * hh];
    pixels
        .par_chunks_mut(hw.max(1))
        .enumerate()
        .for_each(|(y, row)| {
            for (x, out) in row.iter_mut().enumerate() {
                *out = half_pixel(src, x, y);
            }
        });
    ColorImage::new([hw, hh], pixels)
}

/// A changed region of one level: its pixels at (x, y) of that level.
pub struct Patch {
    pub level: usize,
    pub x: usize,
    pub y: usize,
    pub image: ColorImage,
}

/// An image and all its halved levels, level 0 first.
pub struct Canvas {
    levels: Vec<ColorImage>,
}

impl Canvas {
    /// `image` and its levels down to [`SMALLEST_SIDE`].
    pub fn new(image: ColorImage) -> Self {
        let mut levels = vec![image];
        while let Some(last) = levels
            .last()
            .filter(|l| l.size[0].max(l.size[1]) > SMALLEST_SIDE)
        {
            let next = halve(last);
            levels.push(next);
        }
        Self { levels }
    }

    pub fn levels(&self) -> &[ColorImage] {
        &self.levels
    }

    /// Paints `tile` at (x0, y0) of level 0 and recomputes the pixels of every level that it
    /// touches; returns those regions, level 0 (the part of the tile inside the image) first.
    /// A level pixel the tile covers only in part mixes old and new pixels until the
    /// neighbouring tile is painted, which recomputes it again.
    pub fn paint(&mut self, x0: usize, y0: usize, tile: &ColorImage) -> Vec<Patch> {
        let [w, h] = self.levels[0].size;
        let (xs, ys) = (
            x0.min(w)..(x0 + tile.size[0]).min(w),
            y0.min(h)..(y0 + tile.size[1]).min(h),
        );
        let base = &mut self.levels[0];
        for y in ys.clone() {
            let src = (y - y0) * tile.size[0] + xs.start - x0;
            let dst = y * w + xs.start;
            base.pixels[dst..dst + xs.len()].copy_from_slice(&tile.pixels[src..src + xs.len()]);
        }
        let mut patches = vec![self.patch(0, xs.clone(), ys.clone())];
        let (mut xs, mut ys) = (xs, ys);
        for k in 1..self.levels.len() {
            xs = xs.start / 2..xs.end.div_ceil(2);
            ys = ys.start / 2..ys.end.div_ceil(2);
            let (above, this) = self.levels.split_at_mut(k);
            let (src, dst) = (&above[k - 1], &mut this[0]);
            let dw = dst.size[0];
            for y in ys.clone() {
                for x in xs.clone() {
                    dst.pixels[y * dw + x] = half_pixel(src, x, y);
                }
            }
            patches.push(self.patch(k, xs.clone(), ys.clone()));
        }
        patches
    }

    fn patch(&self, level: usize, xs: Range<usize>, ys: Range<usize>) -> Patch {
        Patch {
            level,
            x: xs.start,
            y: ys.start,
            image: crop(&self.levels[level], xs, ys),
        }
    }
}

/// Columns `xs` of rows `ys` of `image`, as an image of their own.
pub fn crop(image: &ColorImage, xs: Range<usize>, ys: Range<usize>) -> ColorImage {
    let w = image.size[0];
    let mut pixels = Vec::with_capacity(xs.len() * ys.len());
    for y in ys.clone() {
        pixels.extend_from_slice(&image.pixels[y * w + xs.start..y * w + xs.end]);
    }
    ColorImage::new([xs.len(), ys.len()], pixels)
}

/// The level to draw when one physical screen pixel spans `image_pixels` photo pixels: the
/// coarsest whose pixels are still no larger than a screen pixel, of `available` levels
/// (level 0 being the photo itself).
pub fn level_for(image_pixels: f32, available: usize) -> usize {
    // NaN (a degenerate zoom) draws the photo itself.
    if image_pixels.is_nan() || image_pixels < 2.0 || available == 0 {
        return 0;
    }
    (image_pixels.log2().floor() as usize).min(available - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: usize, h: usize, at: impl Fn(usize, usize) -> Color32) -> ColorImage {
        let pixels = (0..w * h).map(|i| at(i % w, i / w)).collect();
        ColorImage::new([w, h], pixels)
    }

    #[test]
    fn codes_survive_decoding_and_encoding() {
        for c in 0..=255u8 {
            let back = encode(decode(Color32::from_rgb(c, c, c)));
            assert_eq!(back.r(), c, "code {c}");
        }
    }

    #[test]
    fn encoding_is_within_one_code_of_exact_rounding() {
        for i in 0..=10_000 {
            let v = i as f32 / 10_000.0;
            let exact = (linear_to_srgb(v) * 255.0).round() as i32;
            let got = encode([v; 3]).r() as i32;
            assert!((got - exact).abs() <= 1, "linear {v}: {got} vs {exact}");
        }
    }

    #[test]
    fn black_and_white_stripes_average_to_half_the_light() {
        let stripes = image(8, 4, |x, _| {
            if x % 2 == 0 {
                Color32::BLACK
            } else {
                Color32::WHITE
            }
        });
        let half = halve(&stripes);
        assert_eq!(half.size, [4, 2]);
        // Half the light is code 188 in sRGB, not the 128 of averaged codes.
        assert!(half.pixels.iter().all(|&p| p == Color32::from_gray(188)));
    }

    #[test]
    fn an_odd_edge_averages_only_the_pixels_it_covers() {
        let grey = |x: usize, y: usize| Color32::from_gray((20 * (x + 3 * y) + 10) as u8);
        let half = halve(&image(3, 3, grey));
        assert_eq!(half.size, [2, 2]);
        let mean = |ps: &[(usize, usize)]| {
            let light = ps.iter().map(|&(x, y)| decode(grey(x, y))[0]).sum::<f32>();
            encode([light / ps.len() as f32; 3])
        };
        let expect = [
            mean(&[(0, 0), (1, 0), (0, 1), (1, 1)]),
            mean(&[(2, 0), (2, 1)]),
            mean(&[(0, 2), (1, 2)]),
            mean(&[(2, 2)]),
        ];
        assert_eq!(half.pixels, expect);
        assert_eq!(expect[3], grey(2, 2));
    }

    #[test]
    fn levels_go_down_to_the_smallest_side() {
        let canvas = Canvas::new(image(301, 130, |_, _| Color32::GRAY));
        let sizes: Vec<_> = canvas.levels().iter().map(|l| l.size).collect();
        assert_eq!(sizes, [[301, 130], [151, 65], [76, 33], [38, 17]]);
        let small = Canvas::new(image(64, 10, |_, _| Color32::GRAY));
        assert_eq!(small.levels().len(), 1);
    }

    #[test]
    fn painting_tiles_anywhere_gives_the_levels_of_the_finished_image() {
        let (w, h) = (203, 150);
        let old = image(w, h, |x, y| Color32::from_rgb(x as u8, y as u8, 40));
        let new = image(w, h, |x, y| {
            Color32::from_rgb((x * y % 251) as u8, 90, x as u8)
        });
        let mut canvas = Canvas::new(old);
        // Tiles of odd sizes at odd places, the last ones reaching past the image.
        let mut shown: Vec<ColorImage> = canvas.levels().to_vec();
        for ty in (0..h).step_by(37) {
            for tx in (0..w).step_by(45) {
                let tile = image(45, 37, |x, y| {
                    let (ix, iy) = ((tx + x).min(w - 1), (ty + y).min(h - 1));
                    new.pixels[iy * w + ix]
                });
                // The patches land on what the viewer shows, level by level.
                for p in canvas.paint(tx, ty, &tile) {
                    let level = &mut shown[p.level];
                    let lw = level.size[0];
                    for y in 0..p.image.size[1] {
                        for x in 0..p.image.size[0] {
                            level.pixels[(p.y + y) * lw + p.x + x] =
                                p.image.pixels[y * p.image.size[0] + x];
                        }
                    }
                }
            }
        }
        let expected = Canvas::new(new.clone());
        assert_eq!(canvas.levels().len(), expected.levels().len());
        for (k, (got, want)) in canvas.levels().iter().zip(expected.levels()).enumerate() {
            assert!(got.pixels == want.pixels, "level {k} of the canvas");
            assert!(shown[k].pixels == want.pixels, "level {k} as shown");
        }
    }

    #[test]
    fn the_level_drawn_is_never_magnified_nor_more_than_twice_minified() {
        assert_eq!(level_for(0.25, 5), 0);
        assert_eq!(level_for(1.99, 5), 0);
        assert_eq!(level_for(2.0, 5), 1);
        assert_eq!(level_for(3.9, 5), 1);
        assert_eq!(level_for(4.0, 5), 2);
        // Only the levels that exist can be drawn.
        assert_eq!(level_for(64.0, 3), 2);
        assert_eq!(level_for(64.0, 1), 0);
        assert_eq!(level_for(f32::NAN, 5), 0);
        assert_eq!(level_for(f32::INFINITY, 4), 3);
    }
}
