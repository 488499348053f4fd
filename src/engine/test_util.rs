//! Test helpers for the shipped models.

use super::runner::NetRunner;
use crate::nets::registry::load_model;

/// A CPU runner for `models/<name>.toml`, as the project ships it.
pub(crate) fn shipped_runner(name: &str) -> NetRunner {
    card_runner(&format!("models/{name}.toml"))
}

/// A CPU runner for the model card at `card`, relative to the repository root.
pub(crate) fn card_runner(card: &str) -> NetRunner {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(card);
    let device = burn::tensor::Device::flex();
    let model =
        load_model(&path.to_string_lossy(), &device).unwrap_or_else(|e| panic!("{card}: {e}"));
    NetRunner {
        net: model.net,
        device,
        pde: model.card.inference.pde_run(),
    }
}

/// Deblurs planar sRGB `rgb` (`w`×`h`) with `runner` in the shipped tiling (384, overlap 64).
pub(crate) fn deblur_rgb(runner: &NetRunner, rgb: &[f32], w: usize, h: usize) -> Vec<f32> {
    super::deblur_planes(
        runner,
        super::Planes {
            rgb,
            width: w,
            height: h,
        },
        super::TileSettings {
            tile: 384,
            overlap: 64,
        },
        None,
        &std::sync::atomic::AtomicBool::new(false),
        &mut |_| {},
    )
    .expect("deblur")
}
