//! Choosing where networks run: a wgpu adapter when one exists, otherwise burn's CPU backend.

use std::sync::OnceLock;

use burn::tensor::wgpu::{wgpu, WgpuSetup};
use burn::tensor::Device;

use super::EngineError;

/// `--device auto|gpu|cpu`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DeviceChoice {
    /// A hardware GPU through wgpu if there is one, otherwise the CPU.
    #[default]
    Auto,
    /// wgpu, even on a software adapter (Mesa's lavapipe); fails if there is none.
    Gpu,
    /// burn's pure-Rust CPU backend (flex).
    Cpu,
}

/// A burn device and what to call it in logs and in the GUI.
#[derive(Clone, Debug)]
pub struct ComputeDevice {
    pub device: Device,
    pub label: String,
    pub is_gpu: bool,
    /// The wgpu device and queue burn runs on (our own WGSL pipelines share them).
    pub wgpu: Option<(wgpu::Device, wgpu::Queue)>,
}

impl ComputeDevice {
    pub fn cpu() -> Self {
        Self {
            device: Device::flex(),
            label: cpu_label(rayon::current_num_threads()),
            is_gpu: false,
            wgpu: None,
        }
    }
}

/// "CPU (1 thread)", "CPU (8 threads)".
pub fn cpu_label(threads: usize) -> String {
    let s = if threads == 1 { "" } else { "s" };
    format!("CPU ({threads} thread{s})")
}

/// Picks the device for a choice and says which in the log.
pub fn select_device(choice: DeviceChoice) -> Result<ComputeDevice, EngineError> {
    let chosen = match choice {
        DeviceChoice::Cpu => ComputeDevice::cpu(),
        DeviceChoice::Gpu => init_wgpu()?,
        DeviceChoice::Auto => match init_wgpu() {
            Ok(gpu) if !gpu.label.contains("software") => gpu,
            Ok(gpu) => {
                tracing::info!("only {} found; the CPU backend is faster", gpu.label);
                ComputeDevice::cpu()
            }
            Err(e) => {
                tracing::info!("no GPU: {e}");
                ComputeDevice::cpu()
            }
        },
    };
    tracing::info!("running on {}", chosen.label);
    Ok(chosen)
}

/// The process's wgpu device for burn, set once: by the GUI when it owns a device, else here.
static WGPU: OnceLock<Result<ComputeDevice, String>> = OnceLock::new();

/// The process's wgpu device, initialised once: burn's runtime cannot be registered twice.
fn init_wgpu() -> Result<ComputeDevice, EngineError> {
    WGPU.get_or_init(|| acquire_wgpu().map_err(|e| e.to_string()))
        .clone()
        .map_err(EngineError::Device)
}

/// The wgpu device and queue burn was registered on in this process, if any (our own WGSL
/// pipelines run there).
pub fn registered_wgpu() -> Option<(wgpu::Device, wgpu::Queue)> {
    WGPU.get()?.as_ref().ok()?.wgpu.clone()
}

/// Runs burn on a wgpu device the application already owns (the GUI's), so textures, tensors
/// and our WGSL pipelines share one device and queue. Must come before any other wgpu use of
/// the engine; returns the device that was registered first otherwise.
pub fn adopt_wgpu(setup: WgpuSetup) -> Result<ComputeDevice, EngineError> {
    WGPU.get_or_init(|| {
        let info = setup.adapter.get_info();
        let (device, queue) = (setup.device.clone(), setup.queue.clone());
        let burn = Device::wgpu_options()
            .setup(setup)
            .init()
            .map_err(|e| format!("cannot run burn on the window's GPU ({e})"))?;
        Ok(ComputeDevice {
            device: burn,
            label: adapter_label(&info),
            is_gpu: true,
            wgpu: Some((device, queue)),
        })
    })
    .clone()
    .map_err(EngineError::Device)
}

/// The device a GUI should run networks on: the adopted GPU when it is a hardware one.
pub fn preferred_for_gui(adopted: Option<ComputeDevice>) -> ComputeDevice {
    match adopted {
        Some(gpu) if !gpu.label.contains("software") => gpu,
        _ => ComputeDevice::cpu(),
    }
}

fn adapter_label(info: &wgpu::AdapterInfo) -> String {
    let software = info.device_type == wgpu::DeviceType::Cpu;
    format!(
        "{} ({:?}{})",
        info.name,
        info.backend,
        if software { ", software" } else { "" }
    )
}

fn acquire_wgpu() -> Result<ComputeDevice, EngineError> {
    let (device, setup) = Device::wgpu_options()
        .init_with_setup()
        .map_err(|e| EngineError::Device(format!("no usable wgpu adapter ({e})")))?;
    Ok(ComputeDevice {
        device,
        label: adapter_label(&setup.adapter.get_info()),
        is_gpu: true,
        wgpu: Some((setup.device.clone(), setup.queue.clone())),
    })
}
