//! Drawing and storing a blur map: a viridis heat map with a legend strip (PNG) and the raw
//! values as a 32-bit float TIFF.
//!
//! Decisions: viridis, because it is perceptually uniform and readable in greyscale and by
//! colour-blind viewers; it is computed from Matt Zucker's degree-6 polynomial fit of
//! matplotlib's table (max error about 1/255), not looked up. The colour scale spans the
//! map's own range, widened about its middle to at least `max(2 px, ½ · mean)` so that a
//! nearly uniform blur is not stretched into a full purple-to-yellow contrast (one estimate
//! read 16.2 to 17.1 px over a uniformly blurred photo); the legend prints the numbers.

use std::io::Cursor;

use image::{Rgb, RgbImage};

use super::blurmap::BlurMap;
use super::font::{draw_text, wrap, CELL_W, LINE_H};

/// Viridis at `t ∈ [0, 1]` (clamped), as linear-in-display sRGB components in [0, 1].
pub fn viridis(t: f32) -> [f32; 3] {
    const C: [[f64; 3]; 7] = [
        [
            0.277_727_327_223_417_7,
            0.005_407_344_544_966_578,
            0.334_099_805_335_306_1,
        ],
        [
            0.105_093_043_108_577_4,
            1.404_613_529_898_575,
            1.384_590_162_594_685,
        ],
        [
            -0.330_861_828_725_556_3,
            0.214_847_559_468_213,
            0.095_095_163_028_236_59,
        ],
        [
            -4.634_230_498_983_486,
            -5.799_100_973_351_585,
            -19.332_440_956_279_87,
        ],
        [
            6.228_269_936_347_081,
            14.179_933_366_805_09,
            56.690_552_600_681_05,
        ],
        [
            4.776_384_997_670_288,
            -13.745_145_377_746_01,
            -65.353_032_633_372_34,
        ],
        [
            -5.435_455_855_934_631,
            4.645_852_612_178_535,
            26.312_435_249_583_2,
        ],
    ];
    let t = f64::from(t.clamp(0.0, 1.0));
    let mut out = [0.0f32; 3];
    for (ch, o) in out.iter_mut().enumerate() {
        // Horner from the highest power down.
        let v = C.iter().rev().fold(0.0, |acc, c| acc * t + c[ch]);
        *o = v.clamp(0.0, 1.0) as f32;
    }
    out
}

fn to_rgb8(c: [f32; 3]) -> Rgb<u8> {
    Rgb(c.map(|v| (v * 255.0).round() as u8))
}

/// The colour scale `(lo, hi)` of a map: its range, widened to the minimum span (module
/// docs) about its middle, never below 0.
pub fn colour_range(map: &BlurMap) -> (f32, f32) {
    if let Some(range) = map.fixed_range() {
        return range;
    }
    let (lo, hi) = map.range();
    let finite: Vec<f32> = map
        .values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let mean = finite.iter().sum::<f32>() / finite.len().max(1) as f32;
    let span = (0.5 * mean.abs()).max(2.0);
    if hi - lo >= span {
        return (lo, hi);
    }
    let start = (0.5 * (lo + hi) - 0.5 * span).max(0.0);
    (start, start + span)
}

/// A colour-bar value: one decimal for pixel scales, two for spans of 1 or less (shares).
pub fn tick_label(v: f32, span: f32) -> String {
    if span <= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

/// Glyph scale for an image `width` px wide: larger legends on larger images.
fn text_scale(width: usize) -> usize {
    (width / 480).clamp(1, 4)
}

/// The map in viridis with a legend strip below: a colour bar with its end and middle values,
/// then the quantity, unit and source.
pub fn render_heatmap(map: &BlurMap) -> RgbImage {
    let (w, h) = (map.width.max(1), map.height);
    let (lo, hi) = colour_range(map);
    let norm = |v: f32| (v - lo) / (hi - lo);
    let s = text_scale(w);
    let pad = 4 * s;
    let bar_h = 10 * s;
    let max_chars = (w.saturating_sub(2 * pad) / (CELL_W * s)).max(1);
    let ticks = [lo, 0.5 * (lo + hi), hi].map(|v| tick_label(v, hi - lo));
    let text = wrap(&map.quantity_with_unit(), max_chars)
        .into_iter()
        .chain(wrap(&format!("source: {}", map.source_label()), max_chars))
        .collect::<Vec<_>>();
    let strip_h = pad + bar_h + pad + (1 + text.len()) * LINE_H * s + pad;
    let mut img = RgbImage::from_pixel(w as u32, (h + strip_h) as u32, Rgb([20, 20, 20]));
    for y in 0..h {
        for x in 0..map.width {
            let v = map.values[y * map.width + x];
            let c = if v.is_finite() {
                to_rgb8(viridis(norm(v)))
            } else {
                Rgb([255, 0, 255])
            };
            img.put_pixel(x as u32, y as u32, c);
        }
    }
    // Colour bar.
    let (bx0, bx1) = (pad, w.saturating_sub(pad).max(pad + 1));
    let y0 = h + pad;
    for x in bx0..bx1 {
        let t = (x - bx0) as f32 / (bx1 - bx0 - 1).max(1) as f32;
        let c = to_rgb8(viridis(t));
        for y in y0..y0 + bar_h {
            img.put_pixel(x as u32, y as u32, c);
        }
    }
    let white = Rgb([235, 235, 235]);
    let (iw, ih) = (img.width() as usize, img.height() as usize);
    let mut put = |x: usize, y: usize| {
        if x < iw && y < ih {
            img.put_pixel(x as u32, y as u32, white);
        }
    };
    // Tick values: left, centre and right under the bar.
    let ty = y0 + bar_h + pad;
    let cell = CELL_W * s;
    let len = |t: &str| t.chars().count() * cell;
    draw_text(&ticks[0], bx0, ty, s, &mut put);
    let mid_x = (w / 2).saturating_sub(len(&ticks[1]) / 2);
    if mid_x > bx0 + len(&ticks[0]) && mid_x + len(&ticks[1]) + cell < bx1 - len(&ticks[2]) {
        draw_text(&ticks[1], mid_x, ty, s, &mut put);
    }
    let right_x = bx1
        .saturating_sub(len(&ticks[2]))
        .max(bx0 + len(&ticks[0]) + cell);
    draw_text(&ticks[2], right_x, ty, s, &mut put);
    for (i, line) in text.iter().enumerate() {
        draw_text(line, pad, ty + (i + 1) * LINE_H * s, s, &mut put);
    }
    img
}

/// The map's values as a single-channel 32-bit float TIFF (image pixels as stored).
pub fn encode_raw_tiff(map: &BlurMap) -> Result<Vec<u8>, String> {
    let mut buf = Cursor::new(Vec::new());
    let mut enc = tiff::encoder::TiffEncoder::new(&mut buf).map_err(|e| e.to_string())?;
    enc.write_image::<tiff::encoder::colortype::Gray32Float>(
        map.width as u32,
        map.height as u32,
        &map.values,
    )
    .map_err(|e| e.to_string())?;
    Ok(buf.into_inner())
}

/// The map as a PNG file's bytes (heat map with legend).
pub fn encode_heatmap_png(map: &BlurMap) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    render_heatmap(map)
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::blurmap::BlurMapSource;

    /// Matplotlib's viridis table at 0, ½ and 1 (`_viridis_data[0]`, `[128]`, `[255]`).
    #[test]
    fn viridis_matches_matplotlib_at_its_ends_and_middle() {
        let cases = [
            (0.0, [0.267_004, 0.004_874, 0.329_415]),
            (128.0 / 255.0, [0.128_729, 0.563_265, 0.551_229]),
            (1.0, [0.993_248, 0.906_157, 0.143_936]),
        ];
        for (t, want) in cases {
            let got = viridis(t);
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 0.02, "t={t}: {got:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn viridis_brightens_monotonically() {
        let luma = |c: [f32; 3]| 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
        let mut last = -1.0;
        for i in 0..=50 {
            let l = luma(viridis(i as f32 / 50.0));
            assert!(l > last, "step {i}");
            last = l;
        }
    }

    fn ramp_map(w: usize, h: usize) -> BlurMap {
        BlurMap {
            width: w,
            height: h,
            values: (0..w * h).map(|i| 2.0 + (i % w) as f32).collect(),
            source: BlurMapSource::Routers,
        }
    }

    #[test]
    fn heat_map_colours_follow_the_values_and_a_legend_is_added() {
        let map = ramp_map(120, 40);
        let img = render_heatmap(&map);
        assert_eq!(img.width(), 120);
        assert!(img.height() > 40 + 20, "legend strip below the map");
        assert_eq!(*img.get_pixel(0, 5), to_rgb8(viridis(0.0)));
        assert_eq!(*img.get_pixel(119, 5), to_rgb8(viridis(1.0)));
        // Legend text is drawn (light pixels in the strip).
        let light = (40..img.height())
            .flat_map(|y| (0..120).map(move |x| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0 == [235, 235, 235])
            .count();
        assert!(light > 100, "{light} text pixels");
    }

    #[test]
    fn a_nearly_flat_map_is_not_stretched() {
        let mut map = ramp_map(10, 2);
        map.values = (0..20).map(|i| 16.0 + i as f32 * 0.05).collect();
        let (lo, hi) = colour_range(&map);
        assert!((hi - lo - 0.5 * 16.475).abs() < 1e-3, "{lo}..{hi}");
        assert!(lo < 16.0 && hi > 16.95);
    }

    #[test]
    fn raw_tiff_round_trips_the_values() {
        let map = ramp_map(7, 3);
        let bytes = encode_raw_tiff(&map).expect("encode");
        let mut dec = tiff::decoder::Decoder::new(Cursor::new(bytes)).expect("decoder");
        assert_eq!(dec.dimensions().expect("dims"), (7, 3));
        match dec.read_image().expect("read") {
            tiff::decoder::DecodingResult::F32(v) => assert_eq!(v, map.values),
            _ => panic!("not f32"),
        }
    }
}
