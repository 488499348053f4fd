//! Deterministic test photos with natural-ish content (edges, gradients, texture).

use rand::RngExt;

use super::convolve::blur_image_linear;
use super::kernel::Kernel;
use super::photo::Photo;
use super::rng::sample_rng;
use crate::imaging::color::{linear_to_srgb, srgb_to_linear};

/// A `w × h` photo: smooth colour gradients, a few hard-edged rectangles and fine texture.
pub(crate) fn test_photo(w: u32, h: u32, seed: u64) -> Photo {
    let mut rng = sample_rng(seed, 0xF070);
    let rects: Vec<[f32; 7]> = (0..12)
        .map(|_| {
            let x0 = rng.random::<f32>() * w as f32;
            let y0 = rng.random::<f32>() * h as f32;
            let rw = 0.05 + 0.3 * rng.random::<f32>();
            let rh = 0.05 + 0.3 * rng.random::<f32>();
            [
                x0,
                y0,
                x0 + rw * w as f32,
                y0 + rh * h as f32,
                rng.random::<f32>(),
                rng.random::<f32>(),
                rng.random::<f32>(),
            ]
        })
        .collect();
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let mut px = [
                0.2 + 0.5 * fx,
                0.3 + 0.4 * fy,
                0.5 + 0.2 * (fx * 9.0 + fy * 4.0).sin(),
            ];
            for r in &rects {
                if (x as f32) >= r[0]
                    && (x as f32) < r[2]
                    && (y as f32) >= r[1]
                    && (y as f32) < r[3]
                {
                    px = [r[4], r[5], r[6]];
                }
            }
            let texture = 0.04 * ((x as f32 * 1.7).sin() * (y as f32 * 2.3).cos());
            rgb.extend(px.map(|v| ((v + texture).clamp(0.0, 1.0) * 255.0).round() as u8));
        }
    }
    Photo {
        width: w,
        height: h,
        rgb,
    }
}

/// Procedural planar sRGB photo: smooth colour gradients under a dead-leaves layer (opaque
/// disks and squares, radius density ∝ 1/r³ on [2, 60] px, which gives the 1/f² power spectrum
/// of natural images) plus ±3 % per-pixel fine texture.
pub(crate) fn textured_image(w: usize, h: usize, seed: u64) -> Vec<f32> {
    let mut rng = sample_rng(seed, 0x5EED);
    let plane = w * h;
    let mut img = vec![0.0f32; 3 * plane];
    for (c, p) in img.chunks_exact_mut(plane).enumerate() {
        for (i, v) in p.iter_mut().enumerate() {
            let (fx, fy) = ((i % w) as f32 / w as f32, (i / w) as f32 / h as f32);
            *v = 0.4 + 0.25 * (fx * (3.0 + c as f32) + fy * 2.0).sin();
        }
    }
    let (lo, hi) = (2.0f32.powi(-2), 60.0f32.powi(-2));
    for _ in 0..plane / 60 {
        let r = (lo - rng.random::<f32>() * (lo - hi)).powf(-0.5);
        let (cx, cy) = (
            rng.random::<f32>() * w as f32,
            rng.random::<f32>() * h as f32,
        );
        let colour: [f32; 3] = [rng.random(), rng.random(), rng.random()];
        let disk = rng.random::<f32>() < 0.5;
        let span = |c: f32, len: usize| {
            ((c - r).floor().max(0.0) as usize)..((c + r).ceil().min(len as f32) as usize)
        };
        for y in span(cy, h) {
            for x in span(cx, w) {
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                if !disk || dx * dx + dy * dy <= r * r {
                    for (c, &v) in colour.iter().enumerate() {
                        img[c * plane + y * w + x] = v;
                    }
                }
            }
        }
    }
    for v in &mut img {
        *v = (*v + 0.06 * (rng.random::<f32>() - 0.5)).clamp(0.0, 1.0);
    }
    img
}

/// Blurs an sRGB image the way light does: to linear light, convolve (synth's reflect-padded
/// true convolution), back to sRGB, so the estimator's linearisation recovers exactly `k ∗ s`.
pub(crate) fn blur_srgb(srgb: &[f32], w: usize, h: usize, k: &Kernel) -> Vec<f32> {
    let lin: Vec<f32> = srgb.iter().map(|&v| srgb_to_linear(v)).collect();
    blur_image_linear(&lin, w, h, k)
        .expect("valid sizes")
        .iter()
        .map(|&v| linear_to_srgb(v.clamp(0.0, 1.0)))
        .collect()
}
