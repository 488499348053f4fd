//! The kernel inspector: per-region blur kernels drawn over the photo, and the enlarged kernel,
//! its Fourier magnitude and its numbers for the region under the pointer.

use egui::{Color32, ColorImage, Pos2, Rect, Stroke, TextureOptions, Vec2};

use super::state::{FeatureKernelView, KernelView};
use super::viewer::Transform;
use crate::analysis::feature_kernels::{diverging, TileKernels, CAPTION};
use crate::analysis::psf::{fourier_magnitude, RegionKernel};

/// A kernel as a grey image, white at its peak (the shape matters, not the absolute taps).
pub fn kernel_image(taps: &[f32], side: usize) -> ColorImage {
    let peak = taps.iter().cloned().fold(0.0f32, f32::max).max(1e-12);
    let pixels = taps
        .iter()
        .map(|&t| {
            let v = ((t / peak).clamp(0.0, 1.0).sqrt() * 255.0).round() as u8;
            Color32::from_gray(v)
        })
        .collect();
    ColorImage::new([side, side], pixels)
}

/// Uploads one thumbnail per kernel.
pub fn kernel_view(ctx: &egui::Context, kernels: Vec<RegionKernel>) -> KernelView {
    let textures = kernels
        .iter()
        .enumerate()
        .map(|(i, k)| {
            ctx.load_texture(
                format!("kernel-{i}"),
                kernel_image(&k.kernel, k.window),
                TextureOptions::NEAREST,
            )
        })
        .collect();
    KernelView {
        kernels,
        textures,
        selected: None,
    }
}

/// Screen rectangle of a kernel's thumbnail: centred on its region, half the region's side.
fn thumb_rect(k: &RegionKernel, t: &Transform) -> Rect {
    let center = Pos2::new((k.x + k.size / 2) as f32, (k.y + k.size / 2) as f32);
    // The grid cell's size (the scale-1 region), so auto-scaled regions do not cover their
    // neighbours.
    let cell = (k.size / k.scale.max(1)) as f32;
    let side = (cell * t.zoom * 0.5).clamp(24.0, 160.0);
    Rect::from_center_size(t.to_screen(center), Vec2::splat(side))
}

/// Draws the thumbnails over a pane; returns the kernel under `pointer`, if any.
pub fn paint_overlay(
    painter: &egui::Painter,
    view: &KernelView,
    t: &Transform,
    pointer: Option<Pos2>,
) -> Option<usize> {
    let mut hovered = None;
    let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
    for (i, (k, tex)) in view.kernels.iter().zip(&view.textures).enumerate() {
        let r = thumb_rect(k, t);
        if !painter.clip_rect().intersects(r) {
            continue;
        }
        let selected = view.selected == Some(i);
        let alpha = if k.reliable { 255 } else { 110 };
        painter.rect_filled(r.expand(2.0), 3.0, Color32::from_black_alpha(200));
        painter.image(tex.id(), r, uv, Color32::from_white_alpha(alpha));
        let frame = if selected {
            Stroke::new(2.5, Color32::from_rgb(255, 200, 60))
        } else if k.reliable {
            Stroke::new(1.5, Color32::from_rgb(90, 200, 120))
        } else {
            Stroke::new(1.0, Color32::from_gray(120))
        };
        painter.rect_stroke(r.expand(2.0), 3.0, frame, egui::StrokeKind::Outside);
        if pointer.is_some_and(|p| r.contains(p)) {
            hovered = Some(i);
        }
    }
    hovered
}

/// The side panel's inspector for the selected kernel.
pub fn inspector(ui: &mut egui::Ui, view: &KernelView) {
    let Some(i) = view.selected else {
        ui.label("Hover or click a kernel on the photo to inspect it.");
        return;
    };
    let Some(k) = view.kernels.get(i) else {
        return;
    };
    ui.label(format!(
        "Region {} × {} (column {}, row {})",
        k.size,
        k.size,
        k.col + 1,
        k.row + 1
    ));
    let side = 150.0;
    ui.horizontal(|ui| {
        if let Some(tex) = view.textures.get(i) {
            ui.vertical(|ui| {
                ui.add(egui::Image::new((tex.id(), Vec2::splat(side))))
                    .on_hover_text("The estimated blur kernel (point spread function)");
                ui.small("Kernel");
            });
        }
        let magnitude = fourier_magnitude(&k.kernel, k.window);
        if !magnitude.is_empty() {
            let image = kernel_image(&magnitude, k.window);
            let tex = ui
                .ctx()
                .load_texture("kernel-fourier", image, TextureOptions::NEAREST);
            ui.vertical(|ui| {
                ui.add(egui::Image::new((tex.id(), Vec2::splat(side))))
                    .on_hover_text(
                        "Fourier magnitude: dark bands are frequencies the blur removed",
                    );
                ui.small("Fourier magnitude");
            });
        }
    });
    egui::Grid::new("kernel-numbers")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            ui.label("Extent");
            ui.label(format!("{:.1} px", k.stats.extent));
            ui.end_row();
            ui.label("Length along the blur");
            ui.label(format!("{:.1} px", k.stats.length));
            ui.end_row();
            ui.label("Direction");
            ui.label(format!("{:.0}° (clockwise from right)", k.stats.angle_deg));
            ui.end_row();
            ui.label("Window");
            ui.label(format!(
                "{} px{}",
                k.window,
                if k.scale > 1 {
                    format!(" (estimated at 1/{})", k.scale)
                } else {
                    String::new()
                }
            ));
            ui.end_row();
            ui.label("Confidence");
            ui.label(format!(
                "{:.2}{}",
                k.confidence,
                if k.reliable {
                    ""
                } else {
                    " (low: flat region or poor fit)"
                }
            ));
            ui.end_row();
        });
}

/// A feature-level kernel in the diverging map: red positive, blue negative, white zero,
/// scaled by its largest magnitude (these may be negative and need not sum to 1).
pub fn diverging_image(taps: &[f32], side: usize) -> ColorImage {
    let peak = taps.iter().fold(1e-12f32, |m, t| m.max(t.abs()));
    let pixels = taps
        .iter()
        .map(|&t| {
            let c = diverging(t / peak);
            Color32::from_rgb(c[0], c[1], c[2])
        })
        .collect();
    ColorImage::new([side, side], pixels)
}

/// Uploads each tile's mean and channel kernels.
pub fn feature_kernel_view(ctx: &egui::Context, tiles: Vec<TileKernels>) -> FeatureKernelView {
    let upload = |name: String, taps: &[f32], side: usize| {
        ctx.load_texture(name, diverging_image(taps, side), TextureOptions::NEAREST)
    };
    let textures = tiles
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mean = upload(format!("fke-{i}-mean"), &t.mean, t.window);
            let channels = t
                .channels
                .iter()
                .enumerate()
                .map(|(c, k)| upload(format!("fke-{i}-{c}"), k, t.window))
                .collect();
            (mean, channels)
        })
        .collect();
    FeatureKernelView { tiles, textures }
}

/// The index of the tile whose centre is nearest to `at` (image pixels); the first without.
pub fn tile_at(view: &FeatureKernelView, at: Option<(usize, usize)>) -> Option<usize> {
    let (x, y) = at.unwrap_or((0, 0));
    view.tiles
        .iter()
        .enumerate()
        .min_by_key(|(_, t)| {
            let dx = (t.x + t.size / 2).abs_diff(x);
            let dy = (t.y + t.size / 2).abs_diff(y);
            dx * dx + dy * dy
        })
        .map(|(i, _)| i)
}

/// The FKE's kernels of the tile under the selected region: the mean enlarged, then the
/// per-channel kernels in a grid, with what they are.
pub fn feature_inspector(ui: &mut egui::Ui, view: &FeatureKernelView, at: Option<(usize, usize)>) {
    let Some(i) = tile_at(view, at) else {
        return;
    };
    let (Some(t), Some((mean, channels))) = (view.tiles.get(i), view.textures.get(i)) else {
        return;
    };
    ui.label(egui::RichText::new("Model kernels (Fourier Kernel Estimator)").strong());
    ui.small(CAPTION);
    ui.label(format!("Tile at ({}, {}), {} px", t.x, t.y, t.size));
    ui.add(egui::Image::new((mean.id(), Vec2::splat(120.0))))
        .on_hover_text("The mean over the channels of the FKE's per-channel kernels");
    ui.small("Mean over channels");
    let per_row = (channels.len() as f64).sqrt().ceil().max(1.0) as usize;
    egui::Grid::new("fke-channels")
        .spacing([2.0, 2.0])
        .show(ui, |ui| {
            for (c, tex) in channels.iter().enumerate() {
                ui.add(egui::Image::new((tex.id(), Vec2::splat(40.0))))
                    .on_hover_text(format!("Channel {}", c + 1));
                if (c + 1) % per_row == 0 {
                    ui.end_row();
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diverging_image_is_red_for_positive_blue_for_negative_white_at_zero() {
        let img = diverging_image(&[0.5, -0.25, 0.0, 0.125], 2);
        assert_eq!(img.pixels[0], Color32::from_rgb(255, 0, 0));
        assert_eq!(img.pixels[2], Color32::WHITE);
        let blue = img.pixels[1];
        assert!(blue.b() == 255 && blue.r() == blue.g() && blue.r() > 0);
    }

    #[test]
    fn kernel_image_is_white_at_the_peak_and_black_at_zero() {
        let taps = [0.0, 0.25, 0.5, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0];
        let img = kernel_image(&taps, 3);
        assert_eq!(img.pixels[2], Color32::from_gray(255));
        assert_eq!(img.pixels[0], Color32::from_gray(0));
        assert!(img.pixels[1].r() > 0 && img.pixels[1].r() < 255);
    }
}
