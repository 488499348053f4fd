//! Reading and writing weights: our safetensors files (canonical names, optionally f16) and
//! official NAFNet PyTorch checkpoints (BasicSR `params` dict, models.md §3.6).

use std::path::Path;

use burn::module::Module;
use burn::store::pytorch::PytorchReader;
use burn::store::{
    FloatCastAdapter, HalfPrecisionAdapter, KeyRemapper, ModuleSnapshot, PytorchStore,
    SafetensorsStore,
};
use burn::tensor::{DType, Device};
use sha2::{Digest, Sha256};

use super::nafnet::{NafNet, NafNetConfig};
use super::NetError;

/// Published SHA-256 of the official NAFNet checkpoints (models.md §3.6).
pub const OFFICIAL_CHECKSUMS: [(&str, &str); 3] = [
    (
        "NAFNet-GoPro-width32.pth",
        "19394e6155d12ef6371d1d57496f87f0ec88f92bdffa27c0792690722d5d1a5c",
    ),
    (
        "NAFNet-GoPro-width64.pth",
        "329d3ab4077b8d6b7ff61de376e483714667960bf85be027bf4335cda701196f",
    ),
    (
        "NAFNet-REDS-width64.pth",
        "175fe8b3cdf3abedfbc87769779c3d9f491e05bb2e73ea9d627883f90a4b2df3",
    ),
];

/// Hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String, NetError> {
    let mut file = std::fs::File::open(path).map_err(|e| NetError::io(path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| NetError::io(path, e))?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// Saves a module with its canonical names; `half` stores conv weights in f16.
pub fn save_safetensors<M: Module>(module: &M, path: &Path, half: bool) -> Result<(), NetError> {
    let tmp = path.with_extension("safetensors.part");
    let mut store = SafetensorsStore::from_file(&tmp).metadata("producer", "deblur");
    if half {
        store = store.with_to_adapter(HalfPrecisionAdapter::new());
    }
    module
        .save_into(&mut store)
        .map_err(|e| NetError::weights(path, e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| NetError::io(path, e))
}

/// Loads our own safetensors file into `module`; every key must match (no partial loads).
/// Every float tensor is cast to f32, whichever precision the file stores (burn's
/// `HalfPrecisionAdapter` would instead flip an f32 file to f16, which the backends reject).
pub fn load_safetensors<M: Module>(module: M, path: &Path) -> Result<M, NetError> {
    if !path.is_file() {
        return Err(NetError::weights(path, "file not found"));
    }
    let mut module = module;
    let mut store = SafetensorsStore::from_file(path)
        .with_from_adapter(FloatCastAdapter::to(DType::F32))
        .allow_partial(false);
    let result = module
        .load_from(&mut store)
        .map_err(|e| NetError::weights(path, e.to_string()))?;
    check_apply(path, &result)?;
    Ok(module)
}

/// Warm start: loads every tensor of `path` into `module`, which may have extra parameters
/// (those whose path starts with `new_prefix`, e.g. `pde_layers.`) that keep their values.
pub fn load_safetensors_warm<M: Module>(
    module: M,
    path: &Path,
    new_prefix: &str,
) -> Result<M, NetError> {
    if !path.is_file() {
        return Err(NetError::weights(path, "file not found"));
    }
    let mut module = module;
    let mut store = SafetensorsStore::from_file(path)
        .with_from_adapter(FloatCastAdapter::to(DType::F32))
        .allow_partial(true);
    let result = module
        .load_from(&mut store)
        .map_err(|e| NetError::weights(path, e.to_string()))?;
    if let Some(err) = result.errors.first() {
        return Err(NetError::weights(path, format!("{err:?}")));
    }
    if let Some((key, _)) = result
        .missing
        .iter()
        .find(|(k, _)| !k.starts_with(new_prefix))
    {
        return Err(NetError::weights(path, format!("missing key `{key}`")));
    }
    if let Some(key) = result.unused.first() {
        return Err(NetError::weights(path, format!("unexpected key `{key}`")));
    }
    Ok(module)
}

fn check_apply(path: &Path, result: &burn::store::ApplyResult) -> Result<(), NetError> {
    if let Some(err) = result.errors.first() {
        return Err(NetError::weights(path, format!("{err:?}")));
    }
    if let Some((key, _)) = result.missing.first() {
        return Err(NetError::weights(path, format!("missing key `{key}`")));
    }
    if let Some(key) = result.unused.first() {
        return Err(NetError::weights(path, format!("unexpected key `{key}`")));
    }
    Ok(())
}

/// Derives a NAFNet configuration from the keys of an official checkpoint.
pub fn official_config(path: &Path) -> Result<NafNetConfig, NetError> {
    let reader = PytorchReader::with_top_level_key(path, "params")
        .map_err(|e| NetError::weights(path, format!("not a NAFNet checkpoint ({e})")))?;
    let keys = reader.keys();
    let intro = reader
        .get("intro.weight")
        .ok_or_else(|| NetError::weights(path, "missing key `intro.weight`"))?;
    let width = intro.shape()[0];
    let count = |prefix: &str, level: usize| {
        let p = format!("{prefix}.{level}.");
        let mut blocks: Vec<usize> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(&p))
            .filter_map(|rest| rest.split('.').next()?.parse().ok())
            .collect();
        blocks.sort_unstable();
        blocks.dedup();
        blocks.len()
    };
    let levels = (0..)
        .take_while(|&i| count("encoders", i) > 0 || keys.contains(&format!("downs.{i}.weight")))
        .count();
    let enc_blocks: Vec<usize> = (0..levels).map(|i| count("encoders", i)).collect();
    let dec_blocks: Vec<usize> = (0..levels).map(|i| count("decoders", i)).collect();
    let middle_blocks = {
        let mut ids: Vec<usize> = keys
            .iter()
            .filter_map(|k| k.strip_prefix("middle_blks."))
            .filter_map(|rest| rest.split('.').next()?.parse().ok())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    };
    let config = NafNetConfig {
        width,
        enc_blocks,
        middle_blocks,
        dec_blocks,
        pde: None,
        fke: None,
    };
    config
        .validate()
        .map_err(|reason| NetError::weights(path, reason))?;
    Ok(config)
}

/// Imports an official NAFNet `.pth` (BasicSR layout) and reports its checksum.
pub fn import_official(path: &Path, device: &Device) -> Result<(NafNet, ImportInfo), NetError> {
    let config = official_config(path)?;
    let sha256 = sha256_file(path)?;
    let known = OFFICIAL_CHECKSUMS
        .iter()
        .find(|(_, sum)| *sum == sha256)
        .map(|(name, _)| name.to_string());
    let mut net = config.init(device);
    // The two official keys wrapped in `Sequential` (models.md §1.3).
    let remap = KeyRemapper::new()
        .add_pattern(r"^(.*)\.sca\.1\.(weight|bias)$", "$1.sca.$2")
        .and_then(|r| r.add_pattern(r"^ups\.(\d+)\.0\.weight$", "ups.$1.weight"))
        .map_err(|e| NetError::weights(path, e.to_string()))?;
    let mut store = PytorchStore::from_file(path)
        .with_top_level_key("params")
        .remap(remap)
        .allow_partial(false);
    let result = net
        .load_from(&mut store)
        .map_err(|e| NetError::weights(path, e.to_string()))?;
    check_apply(path, &result)?;
    Ok((
        net,
        ImportInfo {
            config,
            sha256,
            known_checkpoint: known,
        },
    ))
}

#[derive(Clone, Debug)]
pub struct ImportInfo {
    pub config: NafNetConfig,
    pub sha256: String,
    /// Name of the official checkpoint whose published checksum matched, if any.
    pub known_checkpoint: Option<String>,
}
