//! A model loaded on a device with its tile settings: what every deblur needs first.

use super::device::ComputeDevice;
use super::runner::{NetRunner, TileSettings};
use crate::nets::kernel_path::KernelPath;
use crate::nets::registry::{load_model, LoadedModel};

/// A loaded model on its device, with the tile settings to use.
pub struct Prepared {
    pub runner: NetRunner,
    pub model: LoadedModel,
    pub device_label: String,
    pub tiles: TileSettings,
}

/// Loads `spec` (a model name, card, weights or official checkpoint) on `device`; tile size and
/// overlap default to the model card's.
pub fn prepare_on(
    spec: &str,
    device: &ComputeDevice,
    tile: Option<usize>,
    overlap: Option<usize>,
) -> anyhow::Result<Prepared> {
    let model = load_model(spec, &device.device)?;
    let tiles = TileSettings {
        tile: tile.unwrap_or(model.card.inference.tile),
        overlap: overlap.unwrap_or(model.card.inference.overlap),
    };
    tiles.validate()?;
    tracing::info!(
        "model {} ({} parameters) from {}",
        model.card.model.name,
        model.card.model.params,
        model.source.display()
    );
    Ok(Prepared {
        runner: NetRunner {
            // Our own kernels (FFT, PDE): WGSL beside burn on a GPU, the references on the CPU.
            net: model
                .net
                .clone()
                .with_kernel_path(KernelPath::for_device(device.is_gpu)),
            device: device.device.clone(),
            pde: model.card.inference.pde_run(),
        },
        model,
        device_label: device.label.clone(),
        tiles,
    })
}
