//! Deterministic test photos with natural-ish content (edges, gradients, texture).

use rand::RngExt;

use super::photo::Photo;
use super::rng::sample_rng;

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
