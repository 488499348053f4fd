//! Training configuration (one TOML file per model, e.g. `train/nafnet-s.toml`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::loss::{LossKind, LossTerm};
use crate::nets::model::NetConfig;

/// The network family a recipe trains; `[net]` must describe one of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// NAFNet, with or without PDE layers (`[net.pde]`). The default, so older recipes parse.
    #[default]
    Nafnet,
    /// DHNet (models.md §5).
    Dhnet,
    /// NAFNet with the Fourier Kernel Estimator (`[net.fke]`, models.md §6).
    Deeprft,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Registry name of the model being trained (also the name of the shipped files).
    pub name: String,
    /// Which network family `[net]` describes.
    #[serde(default)]
    pub architecture: Architecture,
    /// Architecture hyper-parameters.
    pub net: NetConfig,
    /// Weighted loss terms; empty means the architecture's default (models.md §10.1): PSNRLoss
    /// for NAFNet, Charbonnier + 0.05·Edge + 0.01·Frequency for DHNet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub losses: Vec<LossTerm>,
    pub data: DataConfig,
    pub schedule: Schedule,
    pub optim: OptimConfig,
    pub run: RunConfig,
    /// Weights (our `.safetensors`) to start from; keys the file lacks (new PDE layers) keep
    /// their initialisation. Fine-tuning runs (PDE insertion and its baseline) use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
    /// Progressive PDE schedule (models.md §4.5); ignored by models without PDE layers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pde_schedule: Vec<PdeStage>,
}

/// From iteration `from` on, the PDE layers take `k` steps of `dt` (with `k·dt = 1`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PdeStage {
    pub from: u64,
    pub k: usize,
    pub dt: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataConfig {
    /// Folder of sharp photos (never copied into the repository).
    pub sharp_dir: PathBuf,
    /// Held-out validation pairs scored during training (of the fixed set).
    #[serde(default = "default_val_pairs")]
    pub val_pairs_during_training: usize,
}

fn default_val_pairs() -> usize {
    48
}

/// Crop size and batch per stage; `until` is the first iteration of the next stage.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Stage {
    pub until: u64,
    pub crop: usize,
    pub batch: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Schedule {
    /// Planned iterations: the cosine schedule's length.
    pub iterations: u64,
    pub stages: Vec<Stage>,
}

impl Schedule {
    /// The stage in force at iteration `iter`.
    pub fn stage(&self, iter: u64) -> &Stage {
        self.stages
            .iter()
            .find(|s| iter < s.until)
            .or(self.stages.last())
            .expect("validated: at least one stage")
    }

    /// Samples consumed before iteration `iter` (the data cursor).
    pub fn samples_before(&self, iter: u64) -> u64 {
        let mut from = 0;
        let mut total = 0;
        for s in &self.stages {
            let to = s.until.min(iter);
            if to > from {
                total += (to - from) * s.batch as u64;
            }
            from = s.until;
            if from >= iter {
                break;
            }
        }
        total
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OptimConfig {
    pub lr: f64,
    pub min_lr: f64,
    pub weight_decay: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// Per-parameter gradient-norm clip.
    pub clip_norm: f32,
}

impl OptimConfig {
    /// Cosine annealing from `lr` to `min_lr` over `total` iterations, no warm-up (§10.3).
    pub fn lr_at(&self, iter: u64, total: u64) -> f64 {
        let t = (iter as f64 / total.max(1) as f64).min(1.0);
        self.min_lr + 0.5 * (self.lr - self.min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunConfig {
    pub seed: u64,
    pub checkpoint_every: u64,
    pub val_every: u64,
    /// Where checkpoints and logs go (git-ignored).
    pub out_dir: PathBuf,
}

impl TrainConfig {
    /// The loss terms of the run: the recipe's, else the architecture's default (§10.1).
    pub fn loss_terms(&self) -> Vec<LossTerm> {
        if !self.losses.is_empty() {
            return self.losses.clone();
        }
        match self.architecture {
            Architecture::Nafnet => vec![LossTerm::new(LossKind::Psnr, 1.0)],
            Architecture::Dhnet => vec![
                LossTerm::new(LossKind::Charbonnier, 1.0),
                LossTerm::new(LossKind::Edge, 0.05),
                LossTerm::new(LossKind::Frequency, 0.01),
            ],
            Architecture::Deeprft => vec![
                LossTerm::new(LossKind::L1, 1.0),
                LossTerm::new(LossKind::Frequency, 0.01),
            ],
        }
    }

    /// The loss terms as one line for model cards, e.g. `charbonnier (weight 1.0) + …`.
    pub fn loss_summary(&self) -> String {
        self.loss_terms()
            .iter()
            .map(|t| {
                let from = if t.from > 0 {
                    format!(", from iteration {}", t.from)
                } else {
                    String::new()
                };
                format!("{} (weight {:?}{from})", t.kind.name(), t.weight)
            })
            .collect::<Vec<_>>()
            .join(" + ")
    }

    /// The PDE steps in force at iteration `iter` (the last stage's before the first entry).
    pub fn pde_at(&self, iter: u64) -> crate::nets::nafnet::PdeRun {
        let cfl = self.net.pde().map_or(0.9, |p| p.cfl_limit);
        let stage = self
            .pde_schedule
            .iter()
            .rev()
            .find(|s| s.from <= iter)
            .or(self.pde_schedule.first());
        match stage {
            Some(s) => crate::nets::nafnet::PdeRun {
                k: s.k,
                dt: s.dt,
                cfl,
            },
            None => crate::nets::nafnet::PdeRun::default(),
        }
    }

    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let cfg: Self = toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!("bad training config {}: {}", path.display(), e.message())
        })?;
        cfg.validate()
            .map_err(|e| anyhow::anyhow!("bad training config {}: {e}", path.display()))?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), String> {
        match (self.architecture, &self.net) {
            (Architecture::Nafnet, NetConfig::NafNet(c)) if c.fke.is_none() => {}
            (Architecture::Deeprft, NetConfig::NafNet(c)) if c.fke.is_some() => {}
            (Architecture::Dhnet, NetConfig::DhNet(_)) => {}
            (Architecture::Nafnet, NetConfig::NafNet(_)) => {
                return Err("[net.fke] describes a DeepRFT: set architecture = \"deeprft\"".into())
            }
            (Architecture::Deeprft, _) => {
                return Err("architecture = \"deeprft\" needs a NAFNet [net] with [net.fke]".into())
            }
            (_, NetConfig::DhNet(_)) => {
                return Err("[net] describes a DHNet: set architecture = \"dhnet\"".into())
            }
            (Architecture::Dhnet, NetConfig::NafNet(_)) => {
                return Err("architecture = \"dhnet\" but [net] lacks the DHNet keys \
                     (volterra_rank, routers, expert_kernels)"
                    .into())
            }
        }
        self.net.validate()?;
        if self
            .losses
            .iter()
            .any(|t| !(t.weight.is_finite() && t.weight >= 0.0))
        {
            return Err("loss weights must be finite and not negative".into());
        }
        if self.architecture != Architecture::Dhnet
            && self.losses.iter().any(|t| t.kind.on_degree())
        {
            return Err(
                "the degree loss needs a network with routers (architecture = \"dhnet\")".into(),
            );
        }
        if self.schedule.stages.is_empty() {
            return Err("schedule.stages is empty".into());
        }
        let m = self.net.pad_multiple();
        for s in &self.schedule.stages {
            if s.batch == 0 || s.crop < m || s.crop % m != 0 {
                return Err(format!(
                    "stage {s:?}: batch must be > 0 and crop a multiple of {m}"
                ));
            }
        }
        if let NetConfig::NafNet(c) = &self.net {
            if let (Some(fke), Some(last)) = (&c.fke, self.schedule.stages.last()) {
                if self
                    .schedule
                    .stages
                    .iter()
                    .any(|s| !s.crop.is_power_of_two())
                {
                    return Err("a DeepRFT trains on power-of-two crops (its FFT size)".into());
                }
                if last.crop != fke.fft_size {
                    return Err(format!(
                        "net.fke.fft_size {} must equal the last stage's crop {} (models.md §6.3)",
                        fke.fft_size, last.crop
                    ));
                }
            }
        }
        if self.net.pde().is_some() && self.pde_schedule.is_empty() {
            return Err("a PDE model needs a pde_schedule".into());
        }
        for (i, st) in self.pde_schedule.iter().enumerate() {
            if st.k == 0 || (st.k as f64 * st.dt - 1.0).abs() > 1e-3 {
                return Err(format!(
                    "pde_schedule entry {i}: k·dt must be 1 (k = {}, dt = {})",
                    st.k, st.dt
                ));
            }
            if i > 0 && st.from <= self.pde_schedule[i - 1].from {
                return Err("pde_schedule must be in increasing `from` order".into());
            }
        }
        if self.run.checkpoint_every == 0 || self.run.val_every == 0 {
            return Err("checkpoint_every and val_every must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Schedule {
        Schedule {
            iterations: 100,
            stages: vec![
                Stage {
                    until: 70,
                    crop: 128,
                    batch: 8,
                },
                Stage {
                    until: 100,
                    crop: 256,
                    batch: 2,
                },
            ],
        }
    }

    #[test]
    fn cursor_counts_samples_across_stages() {
        let s = schedule();
        assert_eq!(s.samples_before(0), 0);
        assert_eq!(s.samples_before(10), 80);
        assert_eq!(s.samples_before(70), 560);
        assert_eq!(s.samples_before(75), 570);
        assert_eq!(s.stage(69).crop, 128);
        assert_eq!(s.stage(70).crop, 256);
        assert_eq!(s.stage(500).crop, 256);
    }

    #[test]
    fn cosine_runs_from_peak_to_floor() {
        let o = OptimConfig {
            lr: 1e-3,
            min_lr: 1e-7,
            weight_decay: 1e-3,
            beta1: 0.9,
            beta2: 0.9,
            eps: 1e-8,
            clip_norm: 0.01,
        };
        assert!((o.lr_at(0, 100) - 1e-3).abs() < 1e-12);
        assert!((o.lr_at(100, 100) - 1e-7).abs() < 1e-12);
        assert!((o.lr_at(50, 100) - (1e-3 + 1e-7) / 2.0).abs() < 1e-12);
    }
}
