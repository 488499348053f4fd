//! Training checkpoints: model, optimiser state and the cursor, written atomically; the last
//! two are kept (models.md §10.3).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use serde::{Deserialize, Serialize};

/// What a resumed run needs besides the weights and the optimiser.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Iterations completed.
    pub iter: u64,
    /// Training seconds so far (across sessions).
    pub train_seconds: f64,
    /// Registry name of the model, to refuse resuming a different run.
    pub name: String,
    /// Iterations at which the run went on from released weights with a fresh optimiser
    /// state (the checkpoint itself was lost with the machine that held it).
    #[serde(default)]
    pub optimizer_restarts: Vec<u64>,
}

/// Where a run stands according to a released model card: weights and cursor, without the
/// optimiser state (which is not released). `deblur train --continue-from` starts there.
#[derive(Clone, Debug)]
pub struct Released {
    pub weights: PathBuf,
    pub state: CheckpointState,
}

/// Reads the cursor of a model card written by `deblur export`: `training.iterations_done`,
/// `training.wall_time_hours` and earlier `training.optimizer_restarts`. The run is
/// `training.run` (older cards lack it: their run is the model's name).
pub fn released(card_path: &Path) -> anyhow::Result<Released> {
    let card = crate::nets::card::ModelCard::read(card_path)?;
    let t = &card.training;
    let iter = t
        .get("iterations_done")
        .and_then(toml::Value::as_integer)
        .and_then(|i| u64::try_from(i).ok())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{}: no `training.iterations_done`, so the run cannot go on from it",
                card_path.display()
            )
        })?;
    let hours = t
        .get("wall_time_hours")
        .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
        .unwrap_or(0.0);
    let mut restarts: Vec<u64> = t
        .get("optimizer_restarts")
        .and_then(toml::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_integer().and_then(|i| u64::try_from(i).ok()))
                .collect()
        })
        .unwrap_or_default();
    restarts.push(iter);
    Ok(Released {
        weights: card.weights_path(card_path),
        state: CheckpointState {
            iter,
            train_seconds: hours * 3600.0,
            name: t
                .get("run")
                .and_then(toml::Value::as_str)
                .map_or(card.model.name, str::to_string),
            optimizer_restarts: restarts,
        },
    })
}

fn dir_for(root: &Path, iter: u64) -> PathBuf {
    root.join(format!("iter-{iter:08}"))
}

/// Writes a checkpoint into `root/iter-N` (via a temporary folder renamed into place).
pub fn save<M: Module>(
    root: &Path,
    model: &M,
    optim: &ModuleOptimizer,
    state: &CheckpointState,
) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(root)?;
    let tmp = root.join(format!(".tmp-{}", state.iter));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp)?;
    model
        .clone()
        .into_record()
        .save(tmp.join("model.bpk"))
        .map_err(|e| anyhow::anyhow!("saving model: {e:?}"))?;
    optim
        .save(tmp.join("optim.bpk"))
        .map_err(|e| anyhow::anyhow!("saving optimiser: {e:?}"))?;
    std::fs::write(tmp.join("state.json"), serde_json::to_vec_pretty(state)?)?;
    let dir = dir_for(root, state.iter);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::rename(&tmp, &dir)?;
    prune(root, 2)?;
    Ok(dir)
}

/// Completed checkpoints, oldest first.
pub fn list(root: &Path) -> Vec<(u64, PathBuf)> {
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let iter = name.strip_prefix("iter-")?.parse().ok()?;
            e.path()
                .join("state.json")
                .is_file()
                .then(|| (iter, e.path()))
        })
        .collect();
    found.sort();
    found
}

fn prune(root: &Path, keep: usize) -> std::io::Result<()> {
    let all = list(root);
    for (_, dir) in all.iter().take(all.len().saturating_sub(keep)) {
        std::fs::remove_dir_all(dir)?;
    }
    Ok(())
}

/// Loads the model of the newest checkpoint (for export and evaluation).
pub fn load_latest_model<M: Module>(
    root: &Path,
    model: M,
) -> anyhow::Result<Option<(M, CheckpointState, PathBuf)>> {
    let Some((_, dir)) = list(root).pop() else {
        return Ok(None);
    };
    let state: CheckpointState = serde_json::from_slice(&std::fs::read(dir.join("state.json"))?)?;
    let record = ModuleRecord::load(dir.join("model.bpk"))
        .map_err(|e| anyhow::anyhow!("reading {}: {e:?}", dir.join("model.bpk").display()))?;
    let model = model
        .try_load_record(record)
        .map_err(|e| anyhow::anyhow!("loading {}: {e:?}", dir.display()))?;
    Ok(Some((model, state, dir)))
}

/// Loads the newest checkpoint into `model` and `optim`.
pub fn load_latest<M: Module>(
    root: &Path,
    model: M,
    optim: ModuleOptimizer,
) -> anyhow::Result<Option<(M, ModuleOptimizer, CheckpointState)>> {
    let Some((model, state, dir)) = load_latest_model(root, model)? else {
        return Ok(None);
    };
    let optim = optim
        .load(dir.join("optim.bpk"))
        .map_err(|e| anyhow::anyhow!("reading {}: {e:?}", dir.join("optim.bpk").display()))?;
    Ok(Some((model, optim, state)))
}
