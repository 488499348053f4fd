//! The blur-degree map as a heat-map overlay with a legend (viridis, as `deblur run
//! --blur-map` writes it), from the model's routers or from the per-region kernels.

use egui::{Align2, Color32, ColorImage, FontId, Pos2, Rect, Stroke, Vec2};

use super::photo_gpu::PhotoPainter;
use super::state::BlurMapView;
use super::textures::{ChunkImage, Pyramid, TiledTexture, CHUNK};
use super::viewer::{paint_texture, Transform};
use crate::analysis::blurmap::BlurMap;
use crate::analysis::heatmap::{colour_range, tick_label, viridis};

/// A map coloured and cut into texture chunks, prepared off the GUI thread.
pub struct MapImages {
    pub map: BlurMap,
    pub range: (f32, f32),
    pub chunks: Vec<ChunkImage>,
}

/// Colours `map` (non-finite values transparent) and cuts it into chunks.
pub fn map_images(map: BlurMap) -> MapImages {
    let (lo, hi) = colour_range(&map);
    let colour = |v: f32| -> Color32 {
        if !v.is_finite() {
            return Color32::TRANSPARENT;
        }
        let [r, g, b] = viridis((v - lo) / (hi - lo)).map(|c| (c * 255.0).round() as u8);
        Color32::from_rgb(r, g, b)
    };
    let (w, h) = (map.width, map.height);
    let mut chunks = Vec::new();
    for y0 in (0..h).step_by(CHUNK) {
        for x0 in (0..w).step_by(CHUNK) {
            let (cw, ch) = (CHUNK.min(w - x0), CHUNK.min(h - y0));
            let pixels = (y0..y0 + ch)
                .flat_map(|y| (x0..x0 + cw).map(move |x| y * w + x))
                .map(|i| colour(map.values[i]))
                .collect();
            chunks.push(ChunkImage {
                x: x0,
                y: y0,
                image: ColorImage::new([cw, ch], pixels),
            });
        }
    }
    MapImages {
        map,
        range: (lo, hi),
        chunks,
    }
}

/// Uploads prepared map images.
pub fn upload(ctx: &egui::Context, images: MapImages) -> BlurMapView {
    let MapImages { map, range, chunks } = images;
    BlurMapView {
        texture: TiledTexture::upload(
            ctx,
            "blur-map",
            map.width,
            map.height,
            // Smooth, and partly transparent: drawn from the one level.
            Pyramid::single(chunks),
        ),
        source: map.source_label(),
        min: range.0,
        max: range.1,
        unit: map.unit().to_string(),
        from_routers: matches!(map.source, crate::analysis::blurmap::BlurMapSource::Routers),
        map,
    }
}

/// Paints the map over one pane at `opacity`.
pub fn paint_overlay(
    painter: &egui::Painter,
    photos: &PhotoPainter,
    view: &BlurMapView,
    t: &Transform,
    opacity: f32,
) {
    let alpha = (opacity.clamp(0.0, 1.0) * 255.0).round() as u8;
    paint_texture(
        painter,
        photos,
        &view.texture,
        t,
        Color32::from_white_alpha(alpha),
    );
}

/// The value under an image point, if it lies on the map.
pub fn value_at(view: &BlurMapView, p: Pos2) -> Option<f32> {
    let (x, y) = (p.x.floor(), p.y.floor());
    let (w, h) = (view.map.width as f32, view.map.height as f32);
    if x < 0.0 || y < 0.0 || x >= w || y >= h {
        return None;
    }
    let v = view.map.values[y as usize * view.map.width + x as usize];
    v.is_finite().then_some(v)
}

/// The legend in the lower-left corner of `view_rect`: colour bar, end values, quantity and
/// source, and the value under the pointer when there is one.
pub fn paint_legend(
    painter: &egui::Painter,
    view_rect: Rect,
    map: &BlurMapView,
    hovered: Option<f32>,
) {
    let font = FontId::proportional(12.0);
    let text = Color32::from_gray(230);
    let mut lines = vec![
        (map.map.quantity_with_unit(), text),
        (format!("source: {}", map.source), Color32::from_gray(190)),
    ];
    if let Some(v) = hovered {
        let v = tick_label(v, map.max - map.min);
        lines.push((format!("under the pointer: {v} {}", map.unit), text));
    }
    let galleys: Vec<_> = lines
        .into_iter()
        .map(|(t, c)| painter.layout_no_wrap(t, font.clone(), c))
        .collect();
    let pad = 8.0;
    let line = 16.0;
    let bar_w = galleys.iter().map(|g| g.size().x).fold(220.0f32, f32::max);
    let bar = Vec2::new(bar_w, 12.0);
    let rows = 1.0 + galleys.len() as f32;
    let size = Vec2::new(bar.x + 2.0 * pad, pad + bar.y + 4.0 + line * rows + pad);
    let frame = Rect::from_min_size(
        Pos2::new(view_rect.left() + 12.0, view_rect.bottom() - 12.0 - size.y),
        size,
    );
    painter.rect_filled(frame, 6.0, Color32::from_black_alpha(200));
    let bar_rect = Rect::from_min_size(frame.min + Vec2::splat(pad), bar);
    let steps = 64;
    for i in 0..steps {
        let t = i as f32 / (steps - 1) as f32;
        let [r, g, b] = viridis(t).map(|c| (c * 255.0).round() as u8);
        let x0 = bar_rect.left() + bar.x * i as f32 / steps as f32;
        let x1 = bar_rect.left() + bar.x * (i + 1) as f32 / steps as f32;
        painter.rect_filled(
            Rect::from_x_y_ranges(x0..=x1, bar_rect.y_range()),
            0.0,
            Color32::from_rgb(r, g, b),
        );
    }
    painter.rect_stroke(
        bar_rect,
        0.0,
        Stroke::new(1.0, Color32::from_gray(160)),
        egui::StrokeKind::Outside,
    );
    let y = bar_rect.bottom() + 4.0;
    let ticks = [
        (bar_rect.left(), map.min, Align2::LEFT_TOP),
        (
            bar_rect.center().x,
            0.5 * (map.min + map.max),
            Align2::CENTER_TOP,
        ),
        (bar_rect.right(), map.max, Align2::RIGHT_TOP),
    ];
    for (x, v, align) in ticks {
        painter.text(
            Pos2::new(x, y),
            align,
            tick_label(v, map.max - map.min),
            font.clone(),
            text,
        );
    }
    for (i, galley) in galleys.into_iter().enumerate() {
        let pos = Pos2::new(bar_rect.left(), y + line * (i + 1) as f32);
        painter.galley(pos, galley, text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::blurmap::from_routers;

    #[test]
    fn map_images_follow_the_scale_and_hide_missing_values() {
        let (w, h) = (CHUNK + 3, 2);
        let mut values: Vec<f32> = (0..w * h)
            .map(|i| (i % w) as f32 / w as f32 * 20.0)
            .collect();
        values[1] = f32::NAN;
        let images = map_images(from_routers(values, w, h));
        assert_eq!(images.chunks.len(), 2);
        let first = &images.chunks[0].image;
        assert_eq!(first.pixels[1], Color32::TRANSPARENT);
        // The smallest value takes the start of viridis, the largest its end.
        let start = viridis(0.0).map(|c| (c * 255.0).round() as u8);
        assert_eq!(
            first.pixels[0],
            Color32::from_rgb(start[0], start[1], start[2])
        );
        let last = &images.chunks[1].image;
        let end = viridis(1.0).map(|c| (c * 255.0).round() as u8);
        let px = last.pixels[last.size[0] - 1];
        assert_eq!(px, Color32::from_rgb(end[0], end[1], end[2]));
        assert!(images.range.0 <= 0.0 + 1e-6 && images.range.1 >= 19.9);
    }
}
