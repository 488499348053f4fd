//! Blur-map tests: interpolation of region extents, and that the PSF-derived map tracks blur
//! on a photo blurred strongly on one side and lightly on the other.
//!
//! The tracking test runs on the PSF-derived map with the sharp image as the "restoration"
//! (an oracle): that map needs no trained network. The router map of an untrained DHNet carries
//! no blur information, so `tests/blur_map.rs` checks only its plumbing (shape, range, seams).

use super::*;
use crate::analysis::psf::KernelStats;
use crate::imaging::color::srgb_to_linear;
use crate::train::synth::{
    blur_image_linear, encode_srgb_clipped, linear_kernel_with, quantise_u8, MaskParams,
};

fn region(col: usize, row: usize, extent: f32, reliable: bool) -> RegionKernel {
    RegionKernel {
        col,
        row,
        x: 0,
        y: 0,
        size: 256,
        kernel: vec![1.0],
        window: 1,
        scale: 1,
        confidence: 1.0,
        texture: 1.0,
        reliable,
        stats: KernelStats {
            extent,
            angle_deg: 0.0,
            length: extent,
        },
    }
}

#[test]
fn region_extents_are_interpolated_between_centres() {
    // 512 × 256 with window 31: regions of 256 px at x = 0 and 256, centres 128 and 384.
    let kernels = [region(0, 0, 10.0, true), region(1, 0, 20.0, true)];
    let map = psf_map(&kernels, 512, 256, 31).expect("map");
    let at = |x: usize, y: usize| map[y * 512 + x];
    assert_eq!(at(0, 0), 10.0, "constant before the first centre");
    assert_eq!(at(511, 255), 20.0, "constant after the last centre");
    // Pixel 255 has its centre at 255.5, (255.5 − 128)/256 of the way: 10 + 10·0.498.
    let want = 10.0 + 10.0 * (255.5 - 128.0) / 256.0;
    assert!((at(255, 100) - want).abs() < 1e-4);
    // Monotone between the centres.
    assert!((128..384).all(|x| at(x + 1, 7) >= at(x, 7)));
}

#[test]
fn unreliable_regions_take_their_reliable_neighbours_values() {
    let kernels = [
        region(0, 0, 10.0, true),
        region(1, 0, 99.0, false),
        region(2, 0, 30.0, true),
    ];
    let grid = fill_unreliable(&kernels, 3, 1);
    // Equidistant reliable neighbours: their mean.
    assert_eq!(grid, vec![10.0, 20.0, 30.0]);
    // None reliable: the raw values.
    let none = [region(0, 0, 5.0, false), region(1, 0, 7.0, false)];
    assert_eq!(fill_unreliable(&none, 2, 1), vec![5.0, 7.0]);
}

/// SplitMix64: a tiny deterministic generator for the test texture.
struct Mix(u64);
impl Mix {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// A sharp, textured planar sRGB test photo: random rectangles and discs on grey.
fn texture(n: usize) -> Vec<f32> {
    let mut rng = Mix(7);
    let mut img = vec![0.5f32; 3 * n * n];
    for _ in 0..900 {
        let (cx, cy) = (rng.next() * n as f32, rng.next() * n as f32);
        let size = 3.0 + rng.next() * 30.0;
        let disc = rng.next() < 0.5;
        let colour = [rng.next(), rng.next(), rng.next()];
        let (x0, x1) = ((cx - size).max(0.0) as usize, ((cx + size) as usize).min(n));
        let (y0, y1) = ((cy - size).max(0.0) as usize, ((cy + size) as usize).min(n));
        for y in y0..y1 {
            for x in x0..x1 {
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                if disc && dx * dx + dy * dy > size * size {
                    continue;
                }
                for (c, v) in colour.iter().enumerate() {
                    img[(c * n + y) * n + x] = *v;
                }
            }
        }
    }
    img
}

#[test]
fn psf_map_is_higher_where_the_photo_is_more_blurred() {
    let n = 512;
    let sharp = texture(n);
    let linear: Vec<f32> = sharp.iter().map(|&v| srgb_to_linear(v)).collect();
    // The generator's non-uniform blur (§12.1 step 5): m·(k_strong ∗ s) + (1 − m)·(k_light ∗ s)
    // with a 2×2-node mask that is 1 on the left and 0 on the right, soft in the middle.
    let strong = linear_kernel_with(25.0, 0.5);
    let light = linear_kernel_with(3.0, 0.5);
    let mask = MaskParams {
        grid: 2,
        nodes: vec![1.0, 0.0, 1.0, 0.0],
        steepness: 20.0,
        threshold: 0.5,
    }
    .render(n);
    let a = blur_image_linear(&linear, n, n, &strong.kernel).expect("blur");
    let b = blur_image_linear(&linear, n, n, &light.kernel).expect("blur");
    let blurry: Vec<f32> = (0..3 * n * n)
        .map(|i| {
            let m = mask[i % (n * n)];
            let v = encode_srgb_clipped(m * a[i] + (1.0 - m) * b[i]);
            f32::from(quantise_u8(v)) / 255.0
        })
        .collect();
    let map = from_psf(&blurry, &sharp, n, n, &PsfOptions::default()).expect("map");
    assert!(matches!(map.source, BlurMapSource::Psf { regions: 4, .. }));
    let strong_mean = map.mean_in(0, 0, n / 4, n);
    let light_mean = map.mean_in(3 * n / 4, 0, n, n);
    eprintln!(
        "PSF map: strongly blurred side {strong_mean:.1} px, lightly blurred {light_mean:.1} px"
    );
    // Ground truth: extents 25 and 3 px (the estimator reads a sharp region as ≈ 4 px).
    assert!(
        strong_mean > 2.0 * light_mean && strong_mean - light_mean > 8.0,
        "strong {strong_mean} vs light {light_mean} (true {} vs {})",
        strong.extent,
        light.extent
    );
    assert!(map.legend().contains("PSF") && map.legend().contains("px"));
}
