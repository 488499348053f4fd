//! Photos drawn with a small pipeline of our own (`shaders/photo.wgsl`) instead of egui's mesh
//! shader. On a software renderer (llvmpipe) egui's shader samples a texture about five times
//! slower than a plain one, which made the photo most of every frame's cost: a 1600×1200 photo
//! in a 1280×820 window took 27 ms fitted and 30 ms at 1:1 with egui's shader, 5.6 and 5.2 ms
//! with this one (`cargo bench --bench photo_draw`). Textures stay egui's (uploaded and updated tile
//! by tile through its texture manager); only the draw is ours.

use std::sync::Arc;

use eframe::egui_wgpu::{self, wgpu};
use egui::{Color32, Rect, TextureHandle};

use super::textures;

/// The WGSL source.
pub const SHADER: &str = include_str!("../../shaders/photo.wgsl");

/// What one quad shows: a part of its texture, tinted.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Quad {
    pub uv_min: [f32; 2],
    pub uv_max: [f32; 2],
    /// Premultiplied, in [0, 1]; white draws the texture as it is.
    pub tint: [f32; 4],
}

impl Quad {
    /// The part of a texture drawn at `screen` that falls inside `visible` (both in the same
    /// units), or `None` when nothing of it is visible.
    pub fn visible_part(screen: Rect, visible: Rect, tint: Color32) -> Option<(Rect, Quad)> {
        let part = screen.intersect(visible);
        if !(part.width() > 0.0 && part.height() > 0.0) {
            return None;
        }
        let uv = |p: egui::Pos2| {
            let v = (p - screen.min) / screen.size();
            [v.x, v.y]
        };
        let t = tint.to_array().map(|c| c as f32 / 255.0);
        Some((
            part,
            Quad {
                uv_min: uv(part.min),
                uv_max: uv(part.max),
                tint: t,
            },
        ))
    }
}

/// The render pipeline for one framebuffer format, with the sampler of [`textures::OPTIONS`].
pub struct PhotoPipeline {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
}

impl PhotoPipeline {
    pub fn new(device: &wgpu::Device, target: wgpu::TextureFormat) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("photo.wgsl"),
            source: wgpu::ShaderSource::Wgsl(SHADER.into()),
        });
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("photo"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 2,
                    visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: wgpu::BufferSize::new(std::mem::size_of::<Quad>() as u64),
                    },
                    count: None,
                },
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("photo"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        // egui's blending, so a tinted photo composes like any egui mesh.
        let blend = wgpu::BlendState {
            color: wgpu::BlendComponent {
                src_factor: wgpu::BlendFactor::One,
                dst_factor: wgpu::BlendFactor::OneMinusSrcAlpha,
                operation: wgpu::BlendOperation::Add,
            },
            alpha: wgpu::BlendComponent {
                src_factor: wgpu::BlendFactor::OneMinusDstAlpha,
                dst_factor: wgpu::BlendFactor::One,
                operation: wgpu::BlendOperation::Add,
            },
        };
        let fragment_entry = if target.is_srgb() {
            "fs_linear_target"
        } else {
            "fs_gamma_target"
        };
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("photo"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: &module,
                entry_point: Some("vs_main"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            fragment: Some(wgpu::FragmentState {
                module: &module,
                entry_point: Some(fragment_entry),
                compilation_options: Default::default(),
                targets: &[Some(wgpu::ColorTargetState {
                    format: target,
                    blend: Some(blend),
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            primitive: wgpu::PrimitiveState {
                topology: wgpu::PrimitiveTopology::TriangleStrip,
                ..Default::default()
            },
            depth_stencil: None,
            multisample: Default::default(),
            multiview_mask: None,
            cache: None,
        });
        let filter = |f: egui::TextureFilter| match f {
            egui::TextureFilter::Nearest => wgpu::FilterMode::Nearest,
            egui::TextureFilter::Linear => wgpu::FilterMode::Linear,
        };
        // egui's textures have one mip level, so only these two filters matter.
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("photo"),
            mag_filter: filter(textures::OPTIONS.magnification),
            min_filter: filter(textures::OPTIONS.minification),
            ..Default::default()
        });
        Self {
            pipeline,
            layout,
            sampler,
        }
    }

    /// The bindings of one quad of `texture` (an Rgba8Unorm texture as egui makes them).
    pub fn bind(
        &self,
        device: &wgpu::Device,
        texture: &wgpu::Texture,
        quad: Quad,
    ) -> wgpu::BindGroup {
        use wgpu::util::DeviceExt;
        let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("photo quad"),
            contents: bytemuck::bytes_of(&quad),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("photo quad"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(&view),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::Sampler(&self.sampler),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: uniform.as_entire_binding(),
                },
            ],
        })
    }

    /// Draws a bound quad over `viewport` = [x, y, width, height] in framebuffer pixels
    /// (fractions allowed: the quad lands exactly where egui would have put its mesh).
    pub fn draw(
        &self,
        pass: &mut wgpu::RenderPass<'_>,
        bind: &wgpu::BindGroup,
        viewport: [f32; 4],
    ) {
        let [x, y, w, h] = viewport;
        pass.set_viewport(x, y, w, h, 0.0, 1.0);
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, bind, &[]);
        pass.draw(0..4, 0..1);
    }
}

/// Draws photo textures through [`PhotoPipeline`] when the window renders with wgpu, and
/// through egui's meshes otherwise (or for a texture that has not reached the GPU yet).
#[derive(Clone, Default)]
pub struct PhotoPainter {
    gpu: Option<Arc<Gpu>>,
}

struct Gpu {
    device: wgpu::Device,
    renderer: Arc<egui::mutex::RwLock<egui_wgpu::Renderer>>,
    pipeline: Arc<PhotoPipeline>,
}

impl PhotoPainter {
    pub fn new(render_state: Option<&egui_wgpu::RenderState>) -> Self {
        let gpu = render_state.map(|rs| {
            Arc::new(Gpu {
                device: rs.device.clone(),
                renderer: rs.renderer.clone(),
                pipeline: Arc::new(PhotoPipeline::new(&rs.device, rs.target_format)),
            })
        });
        Self { gpu }
    }

    /// Draws `handle` (made with [`textures::OPTIONS`]) into `screen`, clipped to the
    /// painter's clip rect and to `bounds` (the photo's own rect: a halved level's odd last
    /// pixel reaches past it), with `tint` as in [`egui::Painter::image`].
    pub fn image(
        &self,
        painter: &egui::Painter,
        handle: &TextureHandle,
        screen: Rect,
        bounds: Rect,
        tint: Color32,
    ) {
        let clip = painter
            .clip_rect()
            .intersect(painter.ctx().viewport_rect())
            .intersect(bounds);
        let Some((visible, quad)) = Quad::visible_part(screen, clip, tint) else {
            return;
        };
        match self.gpu.as_ref().and_then(|g| g.callback(handle, quad)) {
            Some(callback) => {
                painter.add(egui_wgpu::Callback::new_paint_callback(visible, callback));
            }
            None => {
                let uv = Rect::from_min_max(quad.uv_min.into(), quad.uv_max.into());
                painter.image(handle.id(), visible, uv, tint);
            }
        }
    }
}

impl Gpu {
    fn callback(&self, handle: &TextureHandle, quad: Quad) -> Option<QuadCallback> {
        let renderer = self.renderer.read();
        let tex = renderer.texture(&handle.id())?;
        let texture = tex.texture.as_ref()?;
        let [w, h] = handle.size();
        let same_size = texture.width() as usize == w && texture.height() as usize == h;
        if !same_size || tex.options != Some(textures::OPTIONS) {
            return None;
        }
        Some(QuadCallback {
            pipeline: self.pipeline.clone(),
            bind: self.pipeline.bind(&self.device, texture, quad),
        })
    }
}

struct QuadCallback {
    pipeline: Arc<PhotoPipeline>,
    bind: wgpu::BindGroup,
}

impl egui_wgpu::CallbackTrait for QuadCallback {
    fn paint(
        &self,
        info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        _resources: &egui_wgpu::CallbackResources,
    ) {
        let ppp = info.pixels_per_point;
        let [sw, sh] = info.screen_size_px.map(|v| v as f32);
        let r = info.viewport;
        let (x0, y0) = ((r.min.x * ppp).max(0.0), (r.min.y * ppp).max(0.0));
        let (x1, y1) = ((r.max.x * ppp).min(sw), (r.max.y * ppp).min(sh));
        if x1 > x0 && y1 > y0 {
            self.pipeline
                .draw(pass, &self.bind, [x0, y0, x1 - x0, y1 - y0]);
        }
    }
}
