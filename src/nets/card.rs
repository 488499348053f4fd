//! Model cards (`models/<name>.toml`, models.md §13): what the engine needs to rebuild and run a
//! network, plus the measured facts about it. Sections the engine does not read (training, data,
//! evaluation) are kept as free-form tables so the trainer and `deblur eval` can fill them in.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use super::model::NetConfig;
use super::NetError;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelCard {
    pub model: ModelSection,
    /// Read as a DHNet when it has DHNet keys (`volterra_rank`, …), else as a NAFNet; the
    /// registry checks that it agrees with `model.architecture`.
    pub config: NetConfig,
    pub inference: InferenceSection,
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub training: toml::Table,
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub data: toml::Table,
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub evaluation: toml::Table,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelSection {
    pub name: String,
    pub version: u32,
    /// `nafnet`, `nafnet+pde` or `dhnet`.
    pub architecture: String,
    /// Weights file, relative to the card.
    pub weights: String,
    #[serde(default)]
    pub weights_sha256: String,
    /// `f16` or `f32`; compute is always f32.
    #[serde(default = "default_dtype")]
    pub storage_dtype: String,
    #[serde(default)]
    pub params: usize,
    /// One line for `deblur models` and the GUI's model picker.
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub licence: String,
}

fn default_dtype() -> String {
    "f32".into()
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InferenceSection {
    pub tile: usize,
    pub overlap: usize,
    /// PDE steps and step size at inference (PDE models; models.md §4.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pde_k: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pde_dt: Option<f64>,
}

impl InferenceSection {
    /// The PDE schedule to run with: the card's, else the last training stage (K = 5).
    pub fn pde_run(&self) -> super::nafnet::PdeRun {
        let d = super::nafnet::PdeRun::default();
        super::nafnet::PdeRun {
            k: self.pde_k.unwrap_or(d.k),
            dt: self.pde_dt.unwrap_or(d.dt),
            cfl: d.cfl,
        }
    }
}

impl Default for InferenceSection {
    /// models.md §11.3: 384-px tiles (1.5 × the 256 training crop) with 64 px of overlap.
    fn default() -> Self {
        Self {
            tile: 384,
            overlap: 64,
            pde_k: None,
            pde_dt: None,
        }
    }
}

impl ModelCard {
    pub fn read(path: &Path) -> Result<Self, NetError> {
        let text = std::fs::read_to_string(path).map_err(|e| NetError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| NetError::Card {
            path: path.to_path_buf(),
            reason: e.message().to_string(),
        })
    }

    pub fn write(&self, path: &Path) -> Result<(), NetError> {
        let text = toml::to_string_pretty(self).map_err(|e| NetError::Card {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        crate::util::write_atomically(path, text.as_bytes()).map_err(|e| NetError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// The weights file named by a card at `card_path`.
    pub fn weights_path(&self, card_path: &Path) -> PathBuf {
        card_path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join(&self.model.weights)
    }
}
