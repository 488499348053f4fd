//! Issue 6 §4 with the shipped `dhnet-s`: on a photo blurred strongly in one half and lightly
//! in the other (the synthetic-blur code's linear-motion kernels, applied in linear light), the
//! blur-degree map is clearly higher on the strong half.

use std::sync::atomic::AtomicBool;

use crate::engine::test_util::shipped_runner;
use crate::engine::{deblur_planes_with_map, Planes, TileSettings};
use crate::train::synth::linear_kernel_with;
use crate::train::synth::test_util::{blur_srgb, textured_image};

/// Ignored around the seam, where each half's blur spills into the other, and at the borders.
const SEAM_BAND: usize = 48;
const BORDER: usize = 16;

/// Mean degree over the columns `xs` of a `w`-wide map, rows clear of the borders.
fn mean_over(map: &[f32], w: usize, h: usize, xs: std::ops::Range<usize>) -> f32 {
    let (mut sum, mut n) = (0.0f64, 0usize);
    for y in BORDER..h - BORDER {
        for x in xs.clone() {
            sum += f64::from(map[y * w + x]);
            n += 1;
        }
    }
    (sum / n.max(1) as f64) as f32
}

/// The shipped weights read 14.7 vs 10.0 px (strong half on the left) and 16.4 vs 10.1 px
/// (on the right); before the degree terms (4,000 iterations) the halves were reversed, 25.1 vs
/// 25.5 px. The bound asks for a clear gap: 3 px and 30 % above the light half.
#[test]
fn the_degree_map_is_higher_where_the_blur_is_stronger() {
    let runner = shipped_runner("dhnet-s");
    let (w, h) = (384, 256);
    let sharp = textured_image(w, h, 21);
    let strong = blur_srgb(&sharp, w, h, &linear_kernel_with(25.0, 0.4).kernel);
    let light = blur_srgb(&sharp, w, h, &linear_kernel_with(3.0, 0.4).kernel);
    for strong_left in [true, false] {
        let mut img = light.clone();
        for (i, v) in img.iter_mut().enumerate() {
            let left = i % w < w / 2;
            if left == strong_left {
                *v = strong[i];
            }
        }
        let restored = deblur_planes_with_map(
            &runner,
            Planes {
                rgb: &img,
                width: w,
                height: h,
            },
            TileSettings {
                tile: 256,
                overlap: 64,
            },
            None,
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .expect("deblur runs");
        let map = restored.blur_map.expect("dhnet-s has routers");
        let left = mean_over(&map, w, h, BORDER..w / 2 - SEAM_BAND);
        let right = mean_over(&map, w, h, w / 2 + SEAM_BAND..w - BORDER);
        let (s, l) = if strong_left {
            (left, right)
        } else {
            (right, left)
        };
        eprintln!(
            "strong half {s:.2} px, light half {l:.2} px (strong on the left: {strong_left})"
        );
        assert!(s > l + 3.0 && s > 1.3 * l, "strong {s} vs light {l}");
    }
}
