//! A photo drawn far below 1:1 shows the average light of its pixels, not a sample of them
//! (`src/app/pyramid.rs`), rendered on wgpu (lavapipe in CI) through both ways the viewer
//! draws: our photo pipeline and egui's meshes.
//!
//! The photo is one-pixel black and white stripes at a quarter of its size. Their average light
//! is sRGB code 188; sampling the photo itself gives 128 (bilinear between a black and a white
//! pixel, in sRGB codes) or 0 or 255 (exactly on one), depending on where the samples land.

mod common;

use deblur::app::photo_gpu::PhotoPainter;
use deblur::app::textures::{Pyramid, TiledTexture};
use deblur::app::viewer::{paint_texture, Transform};
use egui::{Color32, Pos2};
use egui_kittest::wgpu::{create_render_state, default_wgpu_setup, WgpuTestRenderer};
use egui_kittest::Harness;

/// Odd, so the halved levels end in a half-covered pixel that must not be drawn.
const W: usize = 513;
const H: usize = 256;
const ORIGIN: f32 = 10.0;
const ZOOM: f32 = 0.25;
const BACKGROUND: Color32 = Color32::from_rgb(40, 90, 160);

/// Planar sRGB: odd columns white, even columns black.
fn stripes() -> Vec<f32> {
    let plane: Vec<f32> = (0..W * H).map(|i| ((i % W) % 2) as f32).collect();
    plane.repeat(3)
}

/// The stripes drawn at `ZOOM` over `BACKGROUND`, through our pipeline or egui's meshes.
fn render(own_pipeline: bool) -> image::RgbaImage {
    let state = create_render_state(
        default_wgpu_setup(),
        eframe::egui_wgpu::RendererOptions::PREDICTABLE,
    );
    let photos = PhotoPainter::new(own_pipeline.then_some(&state));
    let renderer = WgpuTestRenderer::from_render_state(state);
    let rgb = stripes();
    let mut texture: Option<TiledTexture> = None;
    let mut h = Harness::builder()
        .with_size([200.0, 100.0])
        .with_pixels_per_point(1.0)
        .renderer(renderer)
        .build_ui(move |ui| {
            let tex = texture.get_or_insert_with(|| {
                TiledTexture::upload(ui.ctx(), "stripes", W, H, Pyramid::of_planes(&rgb, W, H))
            });
            let painter = ui.painter();
            painter.rect_filled(ui.ctx().viewport_rect(), 0.0, BACKGROUND);
            let t = Transform {
                origin: Pos2::new(ORIGIN, ORIGIN),
                zoom: ZOOM,
            };
            paint_texture(painter, &photos, tex, &t, Color32::WHITE);
        });
    // The first frame uploads the textures; later ones draw them from the GPU.
    h.run_steps(3);
    h.render().expect("render the frame")
}

fn check(own_pipeline: bool) {
    let img = render(own_pipeline);
    let way = if own_pipeline {
        "photo pipeline"
    } else {
        "egui mesh"
    };
    // The photo covers x in [10, 138.25) and y in [10, 74) on screen.
    let right = ORIGIN + W as f32 * ZOOM;
    let bottom = ORIGIN + H as f32 * ZOOM;
    let (x0, x1) = (ORIGIN as u32, right.floor() as u32);
    let (y0, y1) = (ORIGIN as u32, bottom as u32);
    for y in y0..y1 {
        for x in x0..x1 {
            let p = img.get_pixel(x, y);
            assert!(
                (0..3).all(|c| p[c].abs_diff(188) <= 2),
                "{way}: pixel ({x}, {y}) is {p:?}, not the stripes' average light 188"
            );
        }
    }
    // Nothing past the photo's edge: level 2 is 129 pixels wide (516 photo pixels), its
    // last pixel covers a quarter of one, and pixel 138 (centre 138.5) lies outside.
    let bg = BACKGROUND.to_array();
    for y in y0..y1 {
        for x in [x1, x1 + 1] {
            let p = img.get_pixel(x, y).0;
            assert_eq!(
                p, bg,
                "{way}: pixel ({x}, {y}) lies past the photo's right edge"
            );
        }
    }
    for x in x0..x1 {
        assert_eq!(
            img.get_pixel(x, y1).0,
            bg,
            "{way}: below the photo at x {x}"
        );
    }
}

#[test]
fn zoomed_out_stripes_show_their_average_light_through_the_photo_pipeline() {
    if common::wgpu_device("zoomed_out").is_none() {
        return;
    }
    check(true);
}

#[test]
fn zoomed_out_stripes_show_their_average_light_through_egui_meshes() {
    if common::wgpu_device("zoomed_out").is_none() {
        return;
    }
    check(false);
}
