//! `shaders/photo.wgsl` (the viewer's photo draw) against a CPU reference, on lavapipe in CI.
//!
//! Nearest sampling (1:1 and magnified) must reproduce texels exactly. Linear sampling when
//! minified and blending are compared within 2/255: Vulkan lets filtering weights be as coarse as
//! 8 bits, which moves a result by about one level, and rounding adds at most one more.

mod common;

use burn::tensor::wgpu::wgpu;
use deblur::app::photo_gpu::{PhotoPipeline, Quad};
use deblur::engine::{select_device, DeviceChoice};
use egui::{Color32, Pos2, Rect};

const TW: u32 = 24;
const TH: u32 = 16;
const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

fn handles() -> Option<(wgpu::Device, wgpu::Queue)> {
    common::wgpu_device("photo_shader")?;
    let dev = select_device(DeviceChoice::Gpu).expect("adapter found above");
    Some(dev.wgpu.expect("a wgpu device carries its handles"))
}

/// An opaque test texture with every texel distinct from its neighbours.
fn texels() -> Vec<[u8; 4]> {
    (0..TW * TH)
        .map(|i| {
            let (x, y) = (i % TW, i / TW);
            [
                (x * 10 + 3) as u8,
                (y * 15 + 7) as u8,
                ((x * 7 + y * 11) % 256) as u8,
                255,
            ]
        })
        .collect()
}

/// The CPU reference of one quad: what `viewport` (x, y, w, h in pixels) shows of the texture.
/// Magnified or 1:1 → the nearest texel; minified → bilinear with clamp-to-edge, as the
/// viewer's sampler (`textures::OPTIONS`).
fn reference(tex: &[[u8; 4]], quad: &Quad, viewport: [u32; 4], px: u32, py: u32) -> [f32; 4] {
    let [vx, vy, vw, vh] = viewport.map(|v| v as f32);
    let fx = (px as f32 + 0.5 - vx) / vw;
    let fy = (py as f32 + 0.5 - vy) / vh;
    let u = quad.uv_min[0] + fx * (quad.uv_max[0] - quad.uv_min[0]);
    let v = quad.uv_min[1] + fy * (quad.uv_max[1] - quad.uv_min[1]);
    let texels_per_pixel = (quad.uv_max[0] - quad.uv_min[0]) * TW as f32 / vw;
    let at = |x: i64, y: i64| -> [f32; 4] {
        let x = x.clamp(0, TW as i64 - 1) as u32;
        let y = y.clamp(0, TH as i64 - 1) as u32;
        tex[(y * TW + x) as usize].map(|c| c as f32)
    };
    let (tx, ty) = (u * TW as f32, v * TH as f32);
    let c = if texels_per_pixel <= 1.0 {
        at(tx.floor() as i64, ty.floor() as i64)
    } else {
        let (sx, sy) = (tx - 0.5, ty - 0.5);
        let (x0, y0) = (sx.floor(), sy.floor());
        let (ax, ay) = (sx - x0, sy - y0);
        let (x0, y0) = (x0 as i64, y0 as i64);
        let (a, b, c, d) = (
            at(x0, y0),
            at(x0 + 1, y0),
            at(x0, y0 + 1),
            at(x0 + 1, y0 + 1),
        );
        std::array::from_fn(|k| {
            (a[k] * (1.0 - ax) + b[k] * ax) * (1.0 - ay) + (c[k] * (1.0 - ax) + d[k] * ax) * ay
        })
    };
    std::array::from_fn(|k| c[k] * quad.tint[k])
}

/// Renders one quad over a `w × h` target cleared to `clear` and reads the target back.
#[allow(clippy::too_many_arguments)]
fn render(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    tex: &[[u8; 4]],
    quad: Quad,
    viewport: [u32; 4],
    (w, h): (u32, u32),
    clear: [u8; 4],
) -> Vec<[u8; 4]> {
    let texture = device.create_texture(&wgpu::TextureDescriptor {
        label: None,
        size: wgpu::Extent3d {
            width: TW,
            height: TH,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba8Unorm,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    });
    queue.write_texture(
        texture.as_image_copy(),
        bytemuck::cast_slice(tex),
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(TW * 4),
            rows_per_image: None,
        },
        texture.size(),
    );
    let target = device.create_texture(&wgpu::TextureDescriptor {
        label: None,
        size: wgpu::Extent3d {
            width: w,
            height: h,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: FORMAT,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    });
    let pipeline = PhotoPipeline::new(device, FORMAT);
    let bind = pipeline.bind(device, &texture, quad);
    let row = (w * 4).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: (row * h) as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = device.create_command_encoder(&Default::default());
    {
        let view = target.create_view(&Default::default());
        let c = clear.map(|v| v as f64 / 255.0);
        let mut pass = enc.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: None,
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &view,
                resolve_target: None,
                depth_slice: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color {
                        r: c[0],
                        g: c[1],
                        b: c[2],
                        a: c[3],
                    }),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pipeline.draw(&mut pass, &bind, viewport.map(|v| v as f32));
    }
    enc.copy_texture_to_buffer(
        target.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &staging,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(row),
                rows_per_image: None,
            },
        },
        target.size(),
    );
    queue.submit([enc.finish()]);
    let (tx, rx) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        tx.send(r).expect("receiver")
    });
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .expect("poll");
    rx.recv().expect("map callback").expect("map");
    let bytes = staging.get_mapped_range(..).expect("mapped").to_vec();
    (0..h)
        .flat_map(|y| {
            let start = (y * row) as usize;
            bytes[start..start + (w * 4) as usize]
                .chunks_exact(4)
                .map(|p| [p[0], p[1], p[2], p[3]])
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Largest difference, in 8-bit levels, between the render and the reference blended over
/// `clear` (premultiplied: out = src + (1 − src.a)·dst), and whether pixels outside the
/// viewport kept the clear colour.
fn compare(
    out: &[[u8; 4]],
    tex: &[[u8; 4]],
    quad: &Quad,
    viewport: [u32; 4],
    (w, h): (u32, u32),
    clear: [u8; 4],
) -> f32 {
    let [vx, vy, vw, vh] = viewport;
    let mut worst = 0.0f32;
    for py in 0..h {
        for px in 0..w {
            let got = out[(py * w + px) as usize];
            let inside = px >= vx && px < vx + vw && py >= vy && py < vy + vh;
            if !inside {
                assert_eq!(
                    got, clear,
                    "pixel ({px}, {py}) outside the quad was drawn on"
                );
                continue;
            }
            let src = reference(tex, quad, viewport, px, py);
            let a = src[3] / 255.0;
            for k in 0..3 {
                let want = src[k] + (1.0 - a) * clear[k] as f32;
                worst = worst.max((got[k] as f32 - want).abs());
            }
        }
    }
    worst
}

fn full_quad(tint: Color32) -> Quad {
    let r = Rect::from_min_max(Pos2::ZERO, Pos2::new(TW as f32, TH as f32));
    Quad::visible_part(r, r, tint).expect("visible").1
}

#[test]
fn one_to_one_and_magnified_draws_reproduce_texels_exactly() {
    let Some((device, queue)) = handles() else {
        return;
    };
    let tex = texels();
    let clear = [9, 19, 29, 255];
    let size = (40, 30);

    // 1:1 at an offset.
    let quad = full_quad(Color32::WHITE);
    let viewport = [5, 7, TW, TH];
    let out = render(&device, &queue, &tex, quad, viewport, size, clear);
    assert_eq!(compare(&out, &tex, &quad, viewport, size, clear), 0.0);

    // 3× zoom on texels 4..12 × 2..10, as the viewer draws the visible part of a zoomed photo.
    let screen = Rect::from_min_size(Pos2::new(-12.0, -6.0), egui::vec2(72.0, 48.0));
    let visible = Rect::from_min_size(Pos2::new(0.0, 0.0), egui::vec2(24.0, 24.0));
    let (part, quad) = Quad::visible_part(screen, visible, Color32::WHITE).expect("visible");
    assert_eq!(part, visible);
    let viewport = [0, 0, 24, 24];
    let out = render(&device, &queue, &tex, quad, viewport, size, clear);
    assert_eq!(compare(&out, &tex, &quad, viewport, size, clear), 0.0);
    // Each texel is a 3×3 block: the top-left pixel shows texel (4, 2).
    assert_eq!(out[0], tex[(2 * TW + 4) as usize]);
}

#[test]
fn minified_draws_filter_and_tinted_draws_blend_like_egui() {
    let Some((device, queue)) = handles() else {
        return;
    };
    let tex = texels();
    let clear = [200, 100, 50, 255];
    let size = (20, 12);

    // Half size: each pixel averages a 2×2 block.
    let quad = full_quad(Color32::WHITE);
    let viewport = [2, 1, TW / 2, TH / 2];
    let out = render(&device, &queue, &tex, quad, viewport, size, clear);
    let worst = compare(&out, &tex, &quad, viewport, size, clear);
    assert!(worst <= 2.0, "minified: off by {worst} levels");

    // The strength slider at 0.4: the after image over what is below at 40 %.
    let quad = full_quad(Color32::from_white_alpha(102));
    let viewport = [0, 0, TW / 2, TH / 2];
    let out = render(&device, &queue, &tex, quad, viewport, size, clear);
    let worst = compare(&out, &tex, &quad, viewport, size, clear);
    assert!(worst <= 2.0, "blended: off by {worst} levels");
    // Not the texture alone, nor the background alone.
    let p = out[(size.0 + 1) as usize];
    assert!(p[0] > 60 && p[0] < 200, "blend result {p:?}");
}

#[test]
fn nothing_is_drawn_for_a_quad_outside_the_view() {
    let screen = Rect::from_min_size(Pos2::new(100.0, 0.0), egui::vec2(10.0, 10.0));
    let view = Rect::from_min_size(Pos2::ZERO, egui::vec2(50.0, 50.0));
    assert!(Quad::visible_part(screen, view, Color32::WHITE).is_none());
    // Half visible: the texture's left half.
    let screen = Rect::from_min_size(Pos2::new(40.0, 0.0), egui::vec2(20.0, 10.0));
    let (part, q) = Quad::visible_part(screen, view, Color32::WHITE).expect("visible");
    assert_eq!(part.width(), 10.0);
    assert_eq!((q.uv_min, q.uv_max), ([0.0, 0.0], [0.5, 1.0]));
}
