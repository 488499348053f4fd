//! Test helpers for the shipped models.

use super::runner::NetRunner;
use crate::nets::registry::load_model;

/// A CPU runner for `models/<name>.toml`, as the project ships it.
pub(crate) fn shipped_runner(name: &str) -> NetRunner {
    let card = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(format!("{name}.toml"));
    let device = burn::tensor::Device::flex();
    let model = load_model(&card.to_string_lossy(), &device)
        .unwrap_or_else(|e| panic!("shipped {name}: {e}"));
    NetRunner {
        net: model.net,
        device,
        pde: model.card.inference.pde_run(),
    }
}
