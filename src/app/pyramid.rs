//! Halved copies of a photo for drawing it zoomed out. egui-wgpu 0.37 gives textures one mip
//! level, so a photo shown at a quarter of its size was sampled at every fourth pixel and fine
//! detail aliased (moiré on fabric, crawling edges while zooming). The viewer instead draws the
//! level whose pixels are closest to, but not smaller than, the screen's pixels, and samples it
//! bilinearly: never more than 2× minified.
//!
//! Each level averages 2 × 2 pixels of the one above in linear light, as the light itself
//! would add up; averaging sRGB codes would darken fine bright detail (black and white stripes
//! would turn 128 grey instead of 188).

use std::sync::LazyLock;

use egui::Color32;
use rayon::prelude::*;

/// Levels are made while the longer side exceeds this many pixels.
pub const SMALLEST_SIDE: usize = 64;

/// One level of the pyramid: linear-light RGB, row by row.
pub struct Level {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<[f32; 3]>,
}

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
pub fn decode(c: Color32) -> [f32; 3] {
    [c.r(), c.g(), c.b()].map(|v| DECODE[v as usize])
}

/// Linear light back to an opaque colour.
pub fn encode(rgb: [f32; 3]) -> Color32 {
    let code = |v: f32| ENCODE[(v.clamp(0.0, 1.0) * ENCODE_STEPS as f32 + 0.5) as usize];
    Color32::from_rgb(code(rgb[0]), code(rgb[1]), code(rgb[2]))
}

/// Halves a `width × height` image given pixel by pixel (`at(x, y)`, linear light): each pixel
/// of the result is the mean of the 2 × 2 block under it. An odd last column or row has blocks
/// of one pixel across: it covers half a pixel of the level, which the viewer crops.
pub fn halve(width: usize, height: usize, at: impl Fn(usize, usize) -> [f32; 3] + Sync) -> Level {
    let (w, h) = (width.div_ceil(2), height.div_ceil(2));
    let mut pixels = vec![[0.0f32; 3]; w * h];
    pixels.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let ys = 2 * y..(2 * y + 2).min(height);
        for (x, out) in row.iter_mut().enumerate() {
            let xs = 2 * x..(2 * x + 2).min(width);
            let mut sum = [0.0f32; 3];
            for sy in ys.clone() {
                for sx in xs.clone() {
                    let p = at(sx, sy);
                    (0..3).for_each(|c| sum[c] += p[c]);
                }
            }
            let n = (ys.len() * xs.len()) as f32;
            *out = sum.map(|s| s / n);
        }
    });
    Level {
        width: w,
        height: h,
        pixels,
    }
}

/// Levels 1, 2, … of an image given pixel by pixel (`at(x, y)`, an opaque colour), down to
/// [`SMALLEST_SIDE`].
pub fn levels(
    width: usize,
    height: usize,
    at: impl Fn(usize, usize) -> Color32 + Sync,
) -> Vec<Level> {
    let mut out: Vec<Level> = Vec::new();
    let (mut w, mut h) = (width, height);
    while w.max(h) > SMALLEST_SIDE {
        let next = match out.last() {
            None => halve(w, h, |x, y| decode(at(x, y))),
            Some(prev) => halve(w, h, |x, y| prev.pixels[y * prev.width + x]),
        };
        (w, h) = (next.width, next.height);
        out.push(next);
    }
    out
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
        let stripes = |x: usize, _y: usize| {
            if x % 2 == 0 {
                Color32::BLACK
            } else {
                Color32::WHITE
            }
        };
        let level = halve(8, 4, |x, y| decode(stripes(x, y)));
        assert_eq!((level.width, level.height), (4, 2));
        for p in &level.pixels {
            assert!((p[0] - 0.5).abs() < 1e-6);
        }
        // Half the light is code 188 in sRGB, not the 128 of averaged codes.
        assert_eq!(encode(level.pixels[0]).r(), 188);
    }

    #[test]
    fn an_odd_edge_averages_only_the_pixels_it_covers() {
        // 3 × 3 with a bright last column and row: the corner block is the corner pixel alone.
        let at = |x: usize, y: usize| {
            let v = (x + 3 * y) as f32 / 10.0;
            [v, v, v]
        };
        let level = halve(3, 3, at);
        assert_eq!((level.width, level.height), (2, 2));
        let mean = |ps: &[(usize, usize)]| {
            ps.iter().map(|&(x, y)| at(x, y)[0]).sum::<f32>() / ps.len() as f32
        };
        let expect = [
            mean(&[(0, 0), (1, 0), (0, 1), (1, 1)]),
            mean(&[(2, 0), (2, 1)]),
            mean(&[(0, 2), (1, 2)]),
            mean(&[(2, 2)]),
        ];
        for (p, e) in level.pixels.iter().zip(expect) {
            assert!((p[0] - e).abs() < 1e-6, "{} vs {e}", p[0]);
        }
    }

    #[test]
    fn levels_go_down_to_the_smallest_side_and_keep_the_mean_light() {
        let (w, h) = (301, 130);
        let at = |x: usize, y: usize| Color32::from_gray(((x * 7 + y * 13) % 256) as u8);
        let pyramid = levels(w, h, at);
        let sizes: Vec<_> = pyramid.iter().map(|l| (l.width, l.height)).collect();
        assert_eq!(sizes, [(151, 65), (76, 33), (38, 17)]);
        // An even-sized image keeps its mean light exactly through a level.
        let even = levels(256, 128, at);
        let mean0 = (0..128)
            .flat_map(|y| (0..256).map(move |x| (x, y)))
            .map(|(x, y)| decode(at(x, y))[0] as f64)
            .sum::<f64>()
            / (256.0 * 128.0);
        let mean1 =
            even[0].pixels.iter().map(|p| p[0] as f64).sum::<f64>() / even[0].pixels.len() as f64;
        assert!((mean0 - mean1).abs() < 1e-6, "{mean0} vs {mean1}");
    }

    #[test]
    fn the_level_drawn_is_never_magnified_nor_more_than_twice_minified() {
        assert_eq!(level_for(0.25, 5), 0);
        assert_eq!(level_for(1.99, 5), 0);
        assert_eq!(level_for(2.0, 5), 1);
        assert_eq!(level_for(3.9, 5), 1);
        assert_eq!(level_for(4.0, 5), 2);
        // Only the levels that exist (and are current) can be drawn.
        assert_eq!(level_for(64.0, 3), 2);
        assert_eq!(level_for(64.0, 1), 0);
        assert_eq!(level_for(f32::NAN, 5), 0);
        assert_eq!(level_for(f32::INFINITY, 4), 3);
    }
}
