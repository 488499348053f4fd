//! Before/after display: split, side by side or toggled, with zoom and pan shared by both.

use egui::{Color32, Pos2, Rect, Sense, Stroke, Vec2};

use super::photo_gpu::PhotoPainter;
use super::state::ViewMode;
use super::textures::TiledTexture;

/// Zoom limits, in image pixels per screen point (relative to 1:1 at 1 point = 1 pixel).
const MIN_ZOOM: f32 = 1.0 / 64.0;
const MAX_ZOOM: f32 = 32.0;
/// Half-width of the grab zone of the split divider, in points.
const DIVIDER_GRAB: f32 = 8.0;

/// Where the view looks: image point at the view's centre and screen points per image pixel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Viewport {
    pub zoom: f32,
    pub center: Pos2,
    /// Refit when the window changes size, until the user zooms or pans.
    pub fitted: bool,
}

impl Default for Viewport {
    fn default() -> Self {
        Self {
            zoom: 1.0,
            center: Pos2::ZERO,
            fitted: true,
        }
    }
}

/// Image-to-screen mapping of one pane, snapped to physical pixels so 1:1 is pixel-exact.
#[derive(Clone, Copy, Debug)]
pub struct Transform {
    pub origin: Pos2,
    pub zoom: f32,
}

impl Transform {
    pub fn to_screen(&self, p: Pos2) -> Pos2 {
        self.origin + p.to_vec2() * self.zoom
    }

    pub fn to_image(&self, p: Pos2) -> Pos2 {
        ((p - self.origin) / self.zoom).to_pos2()
    }

    pub fn rect_to_screen(&self, r: Rect) -> Rect {
        Rect::from_min_max(self.to_screen(r.min), self.to_screen(r.max))
    }
}

impl Viewport {
    /// Whole image visible, never enlarged past 1:1.
    pub fn fit(&mut self, image: Vec2, view: Rect, pixels_per_point: f32) {
        if image.x <= 0.0 || image.y <= 0.0 || view.width() <= 0.0 {
            return;
        }
        let one = 1.0 / pixels_per_point;
        self.zoom = (view.width() / image.x)
            .min(view.height() / image.y)
            .min(one);
        self.center = (image / 2.0).to_pos2();
        self.fitted = true;
    }

    /// One image pixel per physical screen pixel, keeping the point under `anchor` still.
    pub fn one_to_one(&mut self, anchor: Pos2, view: Rect, pixels_per_point: f32) {
        // Set exactly rather than multiplied, so no rounding creeps into 1:1.
        self.zoom_to(1.0 / pixels_per_point, anchor, view);
    }

    /// Multiplies the zoom by `factor` keeping the image point under `anchor` (screen) still.
    pub fn zoom_at(&mut self, factor: f32, anchor: Pos2, view: Rect) {
        self.zoom_to(self.zoom * factor, anchor, view);
    }

    fn zoom_to(&mut self, zoom: f32, anchor: Pos2, view: Rect) {
        let new_zoom = zoom.clamp(MIN_ZOOM, MAX_ZOOM);
        let offset = anchor - view.center();
        let under = self.center + offset / self.zoom;
        self.zoom = new_zoom;
        self.center = under - offset / self.zoom;
        self.fitted = false;
    }

    pub fn pan(&mut self, screen_delta: Vec2) {
        self.center -= screen_delta / self.zoom;
        self.fitted = false;
    }

    pub fn transform(&self, view: Rect, pixels_per_point: f32) -> Transform {
        let origin = view.center() - self.center.to_vec2() * self.zoom;
        let snap = |v: f32| (v * pixels_per_point).round() / pixels_per_point;
        Transform {
            origin: Pos2::new(snap(origin.x), snap(origin.y)),
            zoom: self.zoom,
        }
    }

    /// The image point at the view's centre, for "visible region first".
    pub fn focus(&self) -> (f32, f32) {
        (self.center.x, self.center.y)
    }
}

/// Draws a tiled texture with `tint` (white = as is; alpha blends over what is below).
pub fn paint_texture(
    painter: &egui::Painter,
    photos: &PhotoPainter,
    tex: &TiledTexture,
    t: &Transform,
    tint: Color32,
) {
    let photo = Rect::from_min_size(Pos2::ZERO, Vec2::new(tex.width as f32, tex.height as f32));
    let bounds = t.rect_to_screen(photo);
    let image_pixels = 1.0 / (t.zoom * painter.ctx().pixels_per_point());
    for (rect, handle) in tex.chunks_for(image_pixels) {
        photos.image(painter, handle, t.rect_to_screen(rect), bounds, tint);
    }
}

/// What the viewer needs to draw one frame.
pub struct ViewerInput<'a> {
    pub photos: &'a PhotoPainter,
    pub before: &'a TiledTexture,
    /// The after image (complete or being filled tile by tile).
    pub after: Option<&'a TiledTexture>,
    /// Opacity of the after image over the before one (the strength slider); 1 while tiles
    /// are still arriving.
    pub after_alpha: f32,
    pub mode: ViewMode,
    /// In toggle mode: show the after image.
    pub show_after: bool,
}

/// The panes drawn this frame, for overlays.
pub struct Panes {
    /// (clip rect, transform, is the after side) per pane.
    pub panes: Vec<(Rect, Transform, bool)>,
    pub hovered_image_pos: Option<Pos2>,
    pub response: egui::Response,
}

/// Shows before/after in `rect`, handles zoom, pan and the divider.
pub fn show(ui: &mut egui::Ui, input: &ViewerInput, vp: &mut Viewport, split: &mut f32) -> Panes {
    let rect = ui.available_rect_before_wrap();
    let ppp = ui.ctx().pixels_per_point();
    let image = Vec2::new(input.before.width as f32, input.before.height as f32);
    let pane_rects: Vec<Rect> = match input.mode {
        ViewMode::SideBySide => {
            let half = (rect.width() - 4.0) / 2.0;
            vec![
                Rect::from_min_size(rect.min, Vec2::new(half, rect.height())),
                Rect::from_min_size(
                    rect.min + Vec2::new(half + 4.0, 0.0),
                    Vec2::new(half, rect.height()),
                ),
            ]
        }
        _ => vec![rect],
    };
    let view = pane_rects[0];
    if vp.fitted {
        vp.fit(image, view, ppp);
    }

    let mut panes_out = Vec::new();
    let mut responses = Vec::new();
    for (i, pane) in pane_rects.iter().enumerate() {
        let id = ui.scope_id().with(("viewer-pane", i));
        let response = ui.interact(*pane, id, Sense::click_and_drag());
        if response.dragged() {
            vp.pan(response.drag_delta());
        }
        if response.double_clicked() {
            vp.fit(image, view, ppp);
        }
        if let Some(hover) = response.hover_pos() {
            let (scroll, pinch) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
            let factor = pinch * (scroll * 0.0025).exp();
            if (factor - 1.0).abs() > 1e-4 {
                // Zoom in pane coordinates; both panes share the viewport.
                let anchor = view.center() + (hover - pane.center());
                vp.zoom_at(factor, anchor, view);
            }
        }
        responses.push(response);
    }

    // The divider is registered after the panes so it sits on top: egui gives a drag to the
    // topmost widget, so dragging the divider never pans the photo.
    let divider_x = rect.left() + split.clamp(0.0, 1.0) * rect.width();
    if input.mode == ViewMode::Split && input.after.is_some() {
        let grab = Rect::from_x_y_ranges(
            divider_x - DIVIDER_GRAB..=divider_x + DIVIDER_GRAB,
            rect.y_range(),
        );
        let r = ui
            .interact(grab, ui.scope_id().with("split-divider"), Sense::drag())
            .on_hover_cursor(egui::CursorIcon::ResizeHorizontal)
            .on_hover_text("Drag to move the before/after divider");
        if r.dragged() {
            if let Some(p) = r.interact_pointer_pos() {
                *split = ((p.x - rect.left()) / rect.width()).clamp(0.0, 1.0);
            }
        }
    }
    let divider_x = rect.left() + split.clamp(0.0, 1.0) * rect.width();

    let mut hovered = None;
    for (i, pane) in pane_rects.iter().enumerate() {
        let t = vp.transform(*pane, ppp);
        let painter = ui.painter_at(*pane);
        if let Some(p) = responses[i].hover_pos() {
            hovered = Some(t.to_image(p));
        }
        match input.mode {
            ViewMode::Split => {
                let left = Rect::from_min_max(pane.min, Pos2::new(divider_x, pane.max.y));
                let right = Rect::from_min_max(Pos2::new(divider_x, pane.min.y), pane.max);
                let before_painter = painter.with_clip_rect(left);
                paint_texture(
                    &before_painter,
                    input.photos,
                    input.before,
                    &t,
                    Color32::WHITE,
                );
                let after_painter = painter.with_clip_rect(right);
                paint_layers(&after_painter, input, input.after, &t);
                if input.after.is_some() {
                    panes_out.push((left, t, false));
                    panes_out.push((right, t, true));
                    draw_divider(&painter, divider_x, *pane);
                    label(&painter, pane.left_top(), "Before", false);
                    label(&painter, pane.right_top(), "After", true);
                } else {
                    panes_out.push((*pane, t, false));
                }
            }
            ViewMode::SideBySide => {
                let is_after = i == 1;
                let after = input.after.filter(|_| is_after);
                paint_layers(&painter, input, after, &t);
                panes_out.push((*pane, t, is_after));
                let text = if is_after { "After" } else { "Before" };
                if is_after {
                    label(&painter, pane.right_top(), text, true);
                } else {
                    label(&painter, pane.left_top(), text, false);
                }
            }
            ViewMode::Toggle => {
                let show_after = input.show_after && input.after.is_some();
                let after = input.after.filter(|_| show_after);
                paint_layers(&painter, input, after, &t);
                panes_out.push((*pane, t, show_after));
                let text = if show_after {
                    "After (space: before)"
                } else {
                    "Before (space: after)"
                };
                label(&painter, pane.left_top(), text, false);
            }
        }
    }
    let response = responses
        .into_iter()
        .reduce(|a, b| a.union(b))
        .unwrap_or_else(|| ui.interact(rect, ui.scope_id().with("viewer"), Sense::hover()));
    ui.advance_cursor_after_rect(rect);
    Panes {
        panes: panes_out,
        hovered_image_pos: hovered,
        response,
    }
}

/// The before image with the after image blended over it at `after_alpha`. An opaque after
/// image (the textures carry no alpha) hides the before one, which is then not drawn: on a
/// software renderer every layer costs its full share of the frame.
fn paint_layers(
    painter: &egui::Painter,
    input: &ViewerInput<'_>,
    after: Option<&TiledTexture>,
    t: &Transform,
) {
    let tint = alpha_tint(input.after_alpha);
    if after.is_none() || tint.a() < 255 {
        paint_texture(painter, input.photos, input.before, t, Color32::WHITE);
    }
    if let Some(after) = after {
        paint_texture(painter, input.photos, after, t, tint);
    }
}

fn alpha_tint(alpha: f32) -> Color32 {
    Color32::from_white_alpha((alpha.clamp(0.0, 1.0) * 255.0).round() as u8)
}

fn draw_divider(painter: &egui::Painter, x: f32, pane: Rect) {
    painter.line_segment(
        [Pos2::new(x, pane.top()), Pos2::new(x, pane.bottom())],
        Stroke::new(2.0, Color32::from_white_alpha(220)),
    );
    let knob = Pos2::new(x, pane.center().y);
    painter.circle(
        knob,
        10.0,
        Color32::from_black_alpha(160),
        Stroke::new(2.0, Color32::WHITE),
    );
    for dx in [-3.5f32, 3.5] {
        let s = dx.signum();
        painter.line_segment(
            [
                knob + Vec2::new(dx, -4.0),
                knob + Vec2::new(dx + 2.5 * s, 0.0),
            ],
            Stroke::new(1.5, Color32::WHITE),
        );
        painter.line_segment(
            [
                knob + Vec2::new(dx, 4.0),
                knob + Vec2::new(dx + 2.5 * s, 0.0),
            ],
            Stroke::new(1.5, Color32::WHITE),
        );
    }
}

/// A small caption chip at a corner of a pane.
fn label(painter: &egui::Painter, corner: Pos2, text: &str, right_aligned: bool) {
    let font = egui::FontId::proportional(13.0);
    let galley = painter.layout_no_wrap(text.to_string(), font, Color32::WHITE);
    let size = galley.size() + Vec2::new(12.0, 6.0);
    let min = if right_aligned {
        corner + Vec2::new(-size.x - 8.0, 8.0)
    } else {
        corner + Vec2::new(8.0, 8.0)
    };
    let r = Rect::from_min_size(min, size);
    painter.rect_filled(r, 4.0, Color32::from_black_alpha(150));
    painter.galley(r.min + Vec2::new(6.0, 3.0), galley, Color32::WHITE);
}

#[cfg(test)]
mod tests {
    use super::*;
    use egui::ColorImage;

    fn view() -> Rect {
        Rect::from_min_size(Pos2::new(10.0, 20.0), Vec2::new(800.0, 600.0))
    }

    #[test]
    fn fit_shows_the_whole_image_and_never_enlarges() {
        let mut vp = Viewport::default();
        vp.fit(Vec2::new(4000.0, 1000.0), view(), 1.0);
        assert!((vp.zoom - 0.2).abs() < 1e-6);
        vp.fit(Vec2::new(100.0, 50.0), view(), 1.0);
        assert_eq!(vp.zoom, 1.0);
        vp.fit(Vec2::new(100.0, 50.0), view(), 2.0);
        assert_eq!(vp.zoom, 0.5, "1:1 in physical pixels on a 2x screen");
    }

    #[test]
    fn zoom_keeps_the_point_under_the_cursor() {
        let mut vp = Viewport::default();
        vp.fit(Vec2::new(4000.0, 3000.0), view(), 1.0);
        let anchor = Pos2::new(200.0, 150.0);
        let before = vp.transform(view(), 1.0).to_image(anchor);
        vp.zoom_at(3.0, anchor, view());
        let after = vp.transform(view(), 1.0).to_image(anchor);
        assert!(
            (before - after).length() < 1.0 / vp.zoom,
            "{before:?} {after:?}"
        );
        assert!(!vp.fitted);
    }

    #[test]
    fn one_to_one_maps_an_image_pixel_to_a_physical_pixel_on_the_grid() {
        let mut vp = Viewport::default();
        vp.fit(Vec2::new(4000.0, 3000.0), view(), 1.5);
        vp.one_to_one(view().center(), view(), 1.5);
        let t = vp.transform(view(), 1.5);
        let a = t.to_screen(Pos2::new(10.0, 10.0));
        let b = t.to_screen(Pos2::new(11.0, 10.0));
        assert_eq!(vp.zoom, 1.0 / 1.5);
        // Screen coordinates are f32 near 1000: compare at that precision.
        assert!(((b.x - a.x) * 1.5 - 1.0).abs() < 1e-3);
        // Pixel edges fall on physical pixel boundaries.
        let phys = a.x * 1.5;
        assert!((phys - phys.round()).abs() < 1e-3);
    }

    #[test]
    fn pan_moves_the_image_with_the_pointer() {
        let mut vp = Viewport::default();
        vp.fit(Vec2::new(400.0, 300.0), view(), 1.0);
        let p = Pos2::new(50.0, 60.0);
        let s0 = vp.transform(view(), 1.0).to_screen(p);
        vp.pan(Vec2::new(30.0, -10.0));
        let s1 = vp.transform(view(), 1.0).to_screen(p);
        assert!(((s1 - s0) - Vec2::new(30.0, -10.0)).length() < 1e-4);
    }

    /// Texture ids drawn by `paint_layers` at `alpha`, in drawing order.
    fn layers_drawn(alpha: f32) -> (Vec<egui::TextureId>, [egui::TextureId; 2]) {
        use super::super::textures::{ChunkImage, Pyramid, TiledTexture};
        let ctx = egui::Context::default();
        let texture = |name: &str| {
            let image = ColorImage::new([4, 4], vec![Color32::GRAY; 16]);
            let chunks = vec![ChunkImage { x: 0, y: 0, image }];
            TiledTexture::upload(&ctx, name, 4, 4, Pyramid::single(chunks))
        };
        let (before, after) = (texture("before"), texture("after"));
        let id = |t: &TiledTexture| t.chunks().map(|(_, h)| h.id()).next();
        let ids = [id(&before), id(&after)].map(|i| i.expect("one chunk"));
        let t = Transform {
            origin: Pos2::ZERO,
            zoom: 10.0,
        };
        let out = ctx.run_ui(egui::RawInput::default(), |ui| {
            let input = ViewerInput {
                photos: &PhotoPainter::default(),
                before: &before,
                after: Some(&after),
                after_alpha: alpha,
                mode: ViewMode::Split,
                show_after: true,
            };
            paint_layers(ui.painter(), &input, input.after, &t);
        });
        let drawn = out
            .shapes
            .iter()
            .filter_map(|c| match &c.shape {
                egui::Shape::Mesh(m) => Some(m.texture_id),
                _ => None,
            })
            .collect();
        (drawn, ids)
    }

    #[test]
    fn an_opaque_after_image_hides_the_before_one_undrawn() {
        let (drawn, [before, after]) = layers_drawn(1.0);
        assert_eq!(drawn, [after]);
        let (drawn, _) = layers_drawn(0.5);
        assert_eq!(drawn.len(), 2);
        assert_ne!(drawn[0], drawn[1]);
        assert!(drawn.contains(&before));
    }
}
