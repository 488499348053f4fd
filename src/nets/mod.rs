//! burn modules: one definition of each network serves training and inference.

pub mod blocks;
pub mod card;
mod conv_backward;
pub mod depthwise;
mod depthwise_cpu;
pub mod dhnet;
pub mod fke;
pub mod kernel_path;
pub mod model;
pub mod nafnet;
pub mod pde;
pub mod pointwise;
pub mod registry;
pub mod same_conv;
pub mod weights;

use std::path::{Path, PathBuf};

/// Errors about models: cards, weights and names. Each names the file and the reason.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot read {}: {reason}", path.display())]
    Io { path: PathBuf, reason: String },
    #[error("bad model card {}: {reason}", path.display())]
    Card { path: PathBuf, reason: String },
    #[error("cannot load weights {}: {reason}", path.display())]
    Weights { path: PathBuf, reason: String },
    #[error("model `{spec}`: {reason}")]
    UnknownModel { spec: String, reason: String },
}

impl NetError {
    pub(crate) fn io(path: &Path, e: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }

    pub(crate) fn weights(path: &Path, reason: impl Into<String>) -> Self {
        Self::Weights {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}
