//! The viewer's photo draw on the wgpu adapter at hand (lavapipe on a machine without a GPU):
//! egui's mesh shader (the baseline, through egui-wgpu's own renderer) against
//! `shaders/photo.wgsl` (src/app/photo_gpu.rs), for a 1600×1200 photo fitted into a 1280×820
//! window and shown at 1:1. Run: `cargo bench --bench photo_draw`.

use deblur::app::photo_gpu::{PhotoPipeline, Quad};
use deblur::app::textures;
use deblur::engine::{select_device, DeviceChoice};
use deblur::util::median_ms;
use eframe::egui_wgpu::{self, wgpu};
use egui::{Color32, Pos2, Rect};

const WINDOW: [u32; 2] = [1280, 820];
const PHOTO: [usize; 2] = [1600, 1200];
const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Bgra8Unorm;
const REPEATS: usize = 15;

fn main() {
    let dev = match select_device(DeviceChoice::Gpu) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("photo_draw: no wgpu adapter ({e})");
            return;
        }
    };
    println!("adapter: {}", dev.label);
    let Some((device, queue)) = dev.wgpu else {
        eprintln!("photo_draw: the device has no wgpu handles");
        return;
    };

    let mut renderer = egui_wgpu::Renderer::new(&device, FORMAT, Default::default());
    let id = egui::TextureId::User(1);
    let pixels = (0..PHOTO[0] * PHOTO[1])
        .map(|i| {
            let (x, y) = (i % PHOTO[0], i / PHOTO[0]);
            Color32::from_rgb((x * 7) as u8, (y * 3) as u8, ((x ^ y) * 5) as u8)
        })
        .collect();
    let image = egui::ColorImage::new(PHOTO, pixels);
    renderer.update_texture(
        &device,
        &queue,
        id,
        &egui::epaint::ImageDelta::full(image, textures::OPTIONS),
    );
    let texture = renderer
        .texture(&id)
        .and_then(|t| t.texture.clone())
        .expect("uploaded above");
    let pipeline = PhotoPipeline::new(&device, FORMAT);
    let target = device.create_texture(&wgpu::TextureDescriptor {
        label: None,
        size: wgpu::Extent3d {
            width: WINDOW[0],
            height: WINDOW[1],
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: FORMAT,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
        view_formats: &[],
    });
    let view = target.create_view(&Default::default());
    let window = Rect::from_min_size(Pos2::ZERO, egui::vec2(WINDOW[0] as f32, WINDOW[1] as f32));
    let screen = egui_wgpu::ScreenDescriptor {
        size_in_pixels: WINDOW,
        pixels_per_point: 1.0,
    };

    let fit = WINDOW[1] as f32 / PHOTO[1] as f32;
    let fitted_size = egui::vec2(PHOTO[0] as f32 * fit, WINDOW[1] as f32);
    let views = [
        (
            "fitted",
            Rect::from_center_size(window.center(), fitted_size),
        ),
        (
            "1:1",
            Rect::from_center_size(
                window.center(),
                egui::vec2(PHOTO[0] as f32, PHOTO[1] as f32),
            ),
        ),
    ];
    for (name, photo_rect) in views {
        let mut mesh = egui::Mesh::with_texture(id);
        let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
        mesh.add_rect_with_uv(photo_rect, uv, Color32::WHITE);
        let jobs = [egui::ClippedPrimitive {
            clip_rect: window,
            primitive: egui::epaint::Primitive::Mesh(mesh),
        }];
        let (part, quad) =
            Quad::visible_part(photo_rect, window, Color32::WHITE).expect("photo in view");
        let bind = pipeline.bind(&device, &texture, quad);

        let egui_ms = median_ms(REPEATS, || {
            let mut enc = device.create_command_encoder(&Default::default());
            renderer.update_buffers(&device, &queue, &mut enc, &jobs, &screen);
            {
                let mut pass = begin(&mut enc, &view).forget_lifetime();
                renderer.render(&mut pass, &jobs, &screen);
            }
            finish(&device, &queue, enc);
        });
        let ours_ms = median_ms(REPEATS, || {
            let mut enc = device.create_command_encoder(&Default::default());
            {
                let mut pass = begin(&mut enc, &view);
                let r = [part.min.x, part.min.y, part.width(), part.height()];
                pipeline.draw(&mut pass, &bind, r);
            }
            finish(&device, &queue, enc);
        });
        println!(
            "{name:>6}: egui's shader {egui_ms:.1} ms, photo.wgsl {ours_ms:.1} ms ({:.1}× faster)",
            egui_ms / ours_ms
        );
    }
}

fn begin<'e>(enc: &'e mut wgpu::CommandEncoder, view: &wgpu::TextureView) -> wgpu::RenderPass<'e> {
    enc.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: None,
        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
            view,
            resolve_target: None,
            depth_slice: None,
            ops: wgpu::Operations {
                load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                store: wgpu::StoreOp::Store,
            },
        })],
        depth_stencil_attachment: None,
        timestamp_writes: None,
        occlusion_query_set: None,
        multiview_mask: None,
    })
}

fn finish(device: &wgpu::Device, queue: &wgpu::Queue, enc: wgpu::CommandEncoder) {
    queue.submit([enc.finish()]);
    if let Err(e) = device.poll(wgpu::PollType::wait_indefinitely()) {
        eprintln!("photo_draw: waiting for the GPU: {e}");
    }
}
