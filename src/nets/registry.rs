//! Model registry: names to configurations, cards and weights (models.md §2.1).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;

use super::card::{InferenceSection, ModelCard};
use super::dhnet::DhNetConfig;
use super::model::{Net, NetConfig};
use super::nafnet::NafNetConfig;
use super::weights::import_official;
use super::NetError;

/// The model used when none is named.
pub const DEFAULT_MODEL: &str = "nafnet-s";

/// Architectures the registry knows by name, whether or not weights are installed.
pub fn builtin_config(name: &str) -> Option<NetConfig> {
    Some(match name {
        "nafnet-s" => NafNetConfig::small().into(),
        "nafnet-s-pde" => NafNetConfig::small_pde().into(),
        "nafnet-32" => NafNetConfig::gopro(32).into(),
        "nafnet-64" => NafNetConfig::gopro(64).into(),
        "dhnet-s" => DhNetConfig::small().into(),
        "dhnet-32" => DhNetConfig::wide32().into(),
        "deeprft-s" => NafNetConfig::small_fke().into(),
        _ => return None,
    })
}

pub const BUILTIN_NAMES: [&str; 7] = [
    "nafnet-s",
    "nafnet-s-pde",
    "nafnet-32",
    "nafnet-64",
    "dhnet-s",
    "dhnet-32",
    "deeprft-s",
];

/// Where model cards and weights live: `$DEBLUR_MODELS_DIR`, then `models/` beside the
/// executable, then `../share/deblur/models` (installed packages), then the source tree.
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DEBLUR_MODELS_DIR") {
        return PathBuf::from(dir);
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(bin) = exe.parent() {
            for candidate in [bin.join("models"), bin.join("../share/deblur/models")] {
                if candidate.is_dir() {
                    return candidate;
                }
            }
        }
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// A network ready to run, with the card that describes it.
pub struct LoadedModel {
    pub card: ModelCard,
    pub net: Net,
    /// Where the weights came from (for logs and reports).
    pub source: PathBuf,
}

/// One entry of `deblur models`.
pub struct ModelEntry {
    pub name: String,
    pub architecture: String,
    pub params: usize,
    pub summary: String,
    /// The weights' licence from the card (empty without one).
    pub licence: String,
    /// The card, when weights are installed.
    pub card_path: Option<PathBuf>,
}

/// Lists the built-in architectures and every card in the models folder.
pub fn list_models(dir: &Path) -> Vec<ModelEntry> {
    let mut entries: Vec<ModelEntry> = Vec::new();
    if let Ok(read) = std::fs::read_dir(dir) {
        let mut cards: Vec<PathBuf> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        cards.sort();
        for path in cards {
            match ModelCard::read(&path) {
                Ok(card) => entries.push(ModelEntry {
                    name: card.model.name.clone(),
                    architecture: card.model.architecture.clone(),
                    params: card.model.params,
                    summary: card.model.summary.clone(),
                    licence: card.model.licence.clone(),
                    card_path: Some(path),
                }),
                Err(e) => tracing::warn!("skipping model card: {e}"),
            }
        }
        // By name, not file name: `nafnet-s` before `nafnet-s-pde` (`-` sorts before `.`).
        entries.sort_by(|a, b| a.name.cmp(&b.name));
    }
    for name in BUILTIN_NAMES {
        if entries.iter().any(|e| e.name == name) {
            continue;
        }
        if let Some(config) = builtin_config(name) {
            entries.push(ModelEntry {
                name: name.to_string(),
                architecture: config.architecture().into(),
                params: config.init(&Device::flex()).num_params(),
                summary: if recipe_exists(name) {
                    format!(
                        "architecture only: no weights installed (train one: train/{name}.toml)"
                    )
                } else {
                    "architecture only: no weights installed (import an official .pth or train one)"
                        .into()
                },
                licence: String::new(),
                card_path: None,
            });
        }
    }
    entries
}

/// Whether the source tree has a training recipe for `name`.
fn recipe_exists(name: &str) -> bool {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("train/{name}.toml"))
        .is_file()
}

/// Resolves `--model`: a registry name, a card (`.toml`), our weights (`.safetensors`, with
/// its card beside it) or an official NAFNet checkpoint (`.pth`).
pub fn load_model(spec: &str, device: &Device) -> Result<LoadedModel, NetError> {
    let path = Path::new(spec);
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "pth" | "pt" => {
            let (net, info) = import_official(path, device)?;
            match &info.known_checkpoint {
                Some(name) => tracing::info!("{spec}: SHA-256 matches the official {name}"),
                None => tracing::info!(
                    "{spec}: SHA-256 {} matches no published NAFNet checkpoint",
                    info.sha256
                ),
            }
            let card = imported_card(path, &info.config, net.num_params());
            Ok(LoadedModel {
                card,
                net: net.into(),
                source: path.to_path_buf(),
            })
        }
        "toml" => load_card(path, device),
        "safetensors" => load_card(&path.with_extension("toml"), device),
        _ if path.components().count() > 1 || path.exists() => Err(NetError::UnknownModel {
            spec: spec.to_string(),
            reason: "expected a model name, a .toml card, a .safetensors file or a .pth checkpoint"
                .into(),
        }),
        _ => {
            let card_path = models_dir().join(format!("{spec}.toml"));
            if card_path.is_file() {
                return load_card(&card_path, device);
            }
            let reason = if builtin_config(spec).is_some() {
                format!(
                    "no weights installed for it (looked for {})",
                    card_path.display()
                )
            } else {
                let names: Vec<String> = list_models(&models_dir())
                    .into_iter()
                    .map(|e| e.name)
                    .collect();
                format!("unknown model; known: {}", names.join(", "))
            };
            Err(NetError::UnknownModel {
                spec: spec.to_string(),
                reason,
            })
        }
    }
}

/// The architecture name a card must carry for a configuration.
pub fn architecture_of(config: &NetConfig) -> &'static str {
    config.architecture()
}

/// Architectures this build can run.
pub const ARCHITECTURES: [&str; 4] = ["nafnet", "nafnet+pde", "dhnet", "deeprft"];

fn load_card(card_path: &Path, device: &Device) -> Result<LoadedModel, NetError> {
    let card = ModelCard::read(card_path)?;
    let declared = card.model.architecture.as_str();
    let described = card.config.architecture();
    if declared != described {
        let reason = if ARCHITECTURES.contains(&declared) {
            format!("architecture `{declared}` but [config] describes a `{described}` network")
        } else {
            format!("architecture `{declared}` is not supported by this build")
        };
        return Err(NetError::Card {
            path: card_path.to_path_buf(),
            reason,
        });
    }
    card.config.validate().map_err(|reason| NetError::Card {
        path: card_path.to_path_buf(),
        reason,
    })?;
    let weights = card.weights_path(card_path);
    let net = card.config.init(device).load_safetensors(&weights)?;
    Ok(LoadedModel {
        card,
        net,
        source: weights,
    })
}

fn imported_card(path: &Path, config: &NafNetConfig, params: usize) -> ModelCard {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "imported".into());
    ModelCard {
        model: super::card::ModelSection {
            name,
            version: 1,
            architecture: "nafnet".into(),
            weights: path.display().to_string(),
            weights_sha256: String::new(),
            storage_dtype: "f32".into(),
            params,
            summary: "official NAFNet checkpoint (imported)".into(),
            licence: String::new(),
        },
        config: config.clone().into(),
        inference: InferenceSection::default(),
        training: Default::default(),
        data: Default::default(),
        evaluation: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::card::ModelSection;

    fn card_for(config: NetConfig, architecture: &str) -> ModelCard {
        ModelCard {
            model: ModelSection {
                name: "tiny".into(),
                version: 1,
                architecture: architecture.into(),
                weights: "tiny.safetensors".into(),
                weights_sha256: String::new(),
                storage_dtype: "f32".into(),
                params: 0,
                summary: String::new(),
                licence: String::new(),
            },
            config,
            inference: InferenceSection::default(),
            training: Default::default(),
            data: Default::default(),
            evaluation: Default::default(),
        }
    }

    /// A one-level DHNet of width 4: every code path of the family, quick to run.
    fn tiny_dhnet() -> NetConfig {
        DhNetConfig {
            width: 4,
            enc_blocks: vec![1],
            middle_blocks: 1,
            dec_blocks: vec![1],
            ..DhNetConfig::small()
        }
        .into()
    }

    #[test]
    fn a_dhnet_card_loads_and_a_mismatched_one_is_refused() {
        let device = Device::flex();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = tiny_dhnet();
        let net = config.init(&device);
        net.save_safetensors(&dir.path().join("tiny.safetensors"), false)
            .expect("save");
        let card_path = dir.path().join("tiny.toml");
        card_for(config.clone(), "dhnet")
            .write(&card_path)
            .expect("card");
        let loaded = load_model(card_path.to_str().expect("utf-8"), &device).expect("loads");
        assert!(loaded.net.has_routers());
        assert_eq!(loaded.net.num_params(), net.num_params());

        card_for(config, "nafnet").write(&card_path).expect("card");
        let err = load_model(card_path.to_str().expect("utf-8"), &device)
            .err()
            .expect("refused");
        assert!(err.to_string().contains("describes a `dhnet`"), "{err}");
    }

    /// Cards list by model name, whatever their file names: `nafnet-s.toml` would sort after
    /// `nafnet-s-pde.toml` by path.
    #[test]
    fn cards_list_by_model_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (file, name) in [
            ("a.toml", "zeta"),
            ("nafnet-s-pde.toml", "nafnet-s-pde"),
            ("nafnet-s.toml", "nafnet-s"),
        ] {
            let mut card = card_for(tiny_dhnet(), "dhnet");
            card.model.name = name.into();
            card.write(&dir.path().join(file)).expect("card");
        }
        let names: Vec<String> = list_models(dir.path())
            .into_iter()
            .filter(|e| e.card_path.is_some())
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["nafnet-s", "nafnet-s-pde", "zeta"]);
    }

    #[test]
    fn f32_and_f16_weight_files_both_load_as_f32_and_run() {
        use burn::tensor::{Distribution, Tensor};
        let device = Device::flex();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = tiny_dhnet();
        let net = config.init(&device);
        let x = Tensor::<4>::random([1, 3, 16, 16], Distribution::Uniform(0.0, 1.0), &device);
        let expected: Vec<f32> = net
            .forward_image(x.clone())
            .into_data()
            .try_to_vec()
            .expect("f32");
        for (half, tolerance) in [(false, 1e-6f32), (true, 1e-2)] {
            let card_path = dir.path().join("tiny.toml");
            net.save_safetensors(&dir.path().join("tiny.safetensors"), half)
                .expect("save");
            card_for(config.clone(), "dhnet")
                .write(&card_path)
                .expect("card");
            let loaded = load_model(card_path.to_str().expect("utf-8"), &device).expect("loads");
            // An f16 tensor left in the module would panic in the CPU backend's conv.
            let got: Vec<f32> = loaded
                .net
                .forward_image(x.clone())
                .into_data()
                .try_to_vec()
                .expect("f32 output");
            let diff = got
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(diff <= tolerance, "half={half}: differs by {diff}");
        }
    }
}
