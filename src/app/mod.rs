//! The desktop application (egui/eframe on wgpu). It owns the GPU device; the engine runs burn
//! on that same device when it is a hardware GPU (app.md, "GPU work").

pub mod batch;
pub mod blurmap_view;
pub mod jobs;
pub mod kernels;
pub mod photo_gpu;
pub mod pyramid;
pub mod state;
pub mod studio;
pub mod textures;
pub mod theme;
pub mod viewer;

use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui_wgpu::{self, wgpu};

pub use studio::{DeblurApp, Launch};

use crate::engine::device::{adopt_wgpu, preferred_for_gui};
use crate::engine::DeviceChoice;

/// The app's identifier: Wayland links the window to the desktop file and icon through it.
pub const APP_ID: &str = "io.github.deblurstudio.DeblurStudio";

/// How `deblur` / `deblur open` starts the window.
pub struct GuiOptions {
    pub files: Vec<PathBuf>,
    pub device: DeviceChoice,
    pub run: bool,
    pub screenshot: Option<PathBuf>,
}

/// Opens the window and returns when it closes.
pub fn run(options: GuiOptions) -> anyhow::Result<()> {
    let icon = eframe::icon_data::from_png_bytes(include_bytes!(
        "../../packaging/icons/deblur-studio-256.png"
    ))
    .ok();
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("Deblur Studio")
        .with_app_id(APP_ID)
        .with_inner_size([1280.0, 820.0])
        .with_min_inner_size([640.0, 420.0])
        .with_drag_and_drop(true);
    if let Some(icon) = icon {
        viewport = viewport.with_icon(Arc::new(icon));
    }
    let native = eframe::NativeOptions {
        viewport,
        renderer: eframe::Renderer::Wgpu,
        wgpu_options: wgpu_configuration(),
        persist_window: options.screenshot.is_none(),
        // Photos are shown as they are: no noise on interpolated pixels, and on a software
        // renderer one shader step less per pixel.
        dithering: false,
        ..Default::default()
    };
    let choice = options.device;
    eframe::run_native(
        "Deblur Studio",
        native,
        Box::new(move |cc| {
            let device = match choice {
                DeviceChoice::Cpu => crate::engine::ComputeDevice::cpu(),
                // A software adapter (lavapipe) runs kernels on the CPU in its queue's order:
                // sharing the window's queue, frames waited for the network's kernels (up to
                // 1.8 s). On a device of its own the window's frames go on beside them.
                DeviceChoice::Gpu
                    if cc.wgpu_render_state.as_ref().is_some_and(|rs| {
                        rs.adapter.get_info().device_type == wgpu::DeviceType::Cpu
                    }) =>
                {
                    background_gpu_device().unwrap_or_else(|e| {
                        tracing::warn!("{e}; networks run on the CPU");
                        crate::engine::ComputeDevice::cpu()
                    })
                }
                // Share the window's device with burn: one device, no copies (app.md).
                DeviceChoice::Auto | DeviceChoice::Gpu => {
                    let adopted = cc.wgpu_render_state.as_ref().and_then(|rs| {
                        adopt_wgpu(burn::tensor::wgpu::WgpuSetup {
                            instance: rs.instance.clone(),
                            adapter: rs.adapter.clone(),
                            device: rs.device.clone(),
                            queue: rs.queue.clone(),
                            backend: rs.adapter.get_info().backend,
                        })
                        .map_err(|e| tracing::warn!("{e}"))
                        .ok()
                    });
                    match (choice, adopted) {
                        (DeviceChoice::Gpu, Some(gpu)) => gpu,
                        (_, adopted) => preferred_for_gui(adopted),
                    }
                }
            };
            Ok(Box::new(DeblurApp::new(
                cc,
                Launch {
                    files: options.files,
                    device: Some(device),
                    run: options.run,
                    screenshot: options.screenshot,
                },
            )))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}

/// burn's own wgpu device, created on a thread of lowered priority: a software driver starts
/// the threads that run the device's kernels from the creating thread, and they inherit its
/// priority, so the window's renderer gets the cores first when both want them.
fn background_gpu_device() -> anyhow::Result<crate::engine::ComputeDevice> {
    std::thread::Builder::new()
        .name("deblur-gpu-init".into())
        .spawn(|| {
            lower_thread_priority();
            crate::engine::select_device(DeviceChoice::Gpu)
        })?
        .join()
        .map_err(|_| anyhow::anyhow!("the GPU set-up thread panicked"))?
        .map_err(Into::into)
}

/// Lowers the calling thread's scheduling priority (nice 10); threads it starts inherit it.
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority only reads its arguments. On Linux, PRIO_PROCESS with who = 0
        // applies to the calling thread alone.
        let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
        if r != 0 {
            tracing::debug!("cannot lower a worker thread's priority");
        }
    }
}

/// Asks the adapter for everything it offers, as burn's own device request does, so burn's
/// kernels can run on the device the window renders with.
fn wgpu_configuration() -> egui_wgpu::WgpuConfiguration {
    let mut setup = egui_wgpu::WgpuSetupCreateNew::without_display_handle();
    setup.device_descriptor = Arc::new(|adapter: &wgpu::Adapter| wgpu::DeviceDescriptor {
        label: Some("deblur-studio"),
        required_features: adapter
            .features()
            .difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS),
        required_limits: adapter.limits(),
        memory_hints: wgpu::MemoryHints::MemoryUsage,
        ..Default::default()
    });
    egui_wgpu::WgpuConfiguration {
        wgpu_setup: egui_wgpu::WgpuSetup::CreateNew(setup),
        ..Default::default()
    }
}
