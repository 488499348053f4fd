//! `deblur eval`: PSNR/SSIM of a model's output and of its input against sharp targets.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use super::common::{prepare, ModelArgs};
use crate::engine::{deblur_planes, Planes};
use crate::imaging::{load, LoadOptions};
use crate::train::metrics::{psnr, ssim};
use crate::train::validation::validation_set;

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("set").required(true).args(["pairs", "validation"])))]
pub struct EvalArgs {
    /// Folder with `blur/` and `sharp/` holding images with matching file names.
    #[arg(long)]
    pub pairs: Option<PathBuf>,
    /// Score the fixed validation set (generated from the held-out sharp photos).
    #[arg(long)]
    pub validation: bool,
    /// Sharp photos the validation set is made from.
    #[arg(long, default_value = "../shared/data/sharp")]
    pub sharp_dir: PathBuf,
    /// Write per-image and mean scores as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Serialize, Clone)]
pub struct ImageScore {
    pub name: String,
    pub input_psnr: f64,
    pub input_ssim: f64,
    pub psnr: f64,
    pub ssim: f64,
}

#[derive(Serialize)]
pub struct EvalReport {
    pub model: String,
    pub set: String,
    pub images: Vec<ImageScore>,
    pub mean: ImageScore,
}

struct Pair {
    name: String,
    blur: Vec<f32>,
    sharp: Vec<f32>,
    width: usize,
    height: usize,
}

fn read_pairs(dir: &Path) -> anyhow::Result<Vec<Pair>> {
    let blur_dir = dir.join("blur");
    let mut names: Vec<String> = std::fs::read_dir(&blur_dir)
        .with_context(|| format!("cannot read {}", blur_dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let opts = LoadOptions::default();
    names
        .into_iter()
        .map(|name| {
            let b = load(&blur_dir.join(&name), &opts)?;
            let s = load(&dir.join("sharp").join(&name), &opts)?;
            if (b.width, b.height) != (s.width, s.height) {
                anyhow::bail!(
                    "{name}: blurred {}x{} but sharp {}x{}",
                    b.width,
                    b.height,
                    s.width,
                    s.height
                );
            }
            Ok(Pair {
                name,
                width: b.width,
                height: b.height,
                blur: b.rgb,
                sharp: s.rgb,
            })
        })
        .collect()
}

fn validation_pairs(sharp_dir: &Path) -> anyhow::Result<Vec<Pair>> {
    Ok(validation_set(sharp_dir)?
        .into_iter()
        .enumerate()
        .map(|(i, s)| Pair {
            name: format!("val-{i:03}"),
            width: s.patch,
            height: s.patch,
            blur: s.blurred,
            sharp: s.sharp,
        })
        .collect())
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let (set, pairs) = match &args.pairs {
        Some(dir) => (dir.display().to_string(), read_pairs(dir)?),
        None => ("validation".to_string(), validation_pairs(&args.sharp_dir)?),
    };
    if pairs.is_empty() {
        anyhow::bail!("no image pairs found in {set}");
    }
    let prepared = prepare(&args.model)?;
    let cancel = AtomicBool::new(false);
    let mut images = Vec::with_capacity(pairs.len());
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "image", "in PSNR", "out PSNR", "in SSIM", "out SSIM", "gain dB"
    );
    for p in &pairs {
        let out = deblur_planes(
            &prepared.runner,
            Planes {
                rgb: &p.blur,
                width: p.width,
                height: p.height,
            },
            prepared.tiles,
            None,
            &cancel,
            &mut |_| {},
        )?;
        let score = ImageScore {
            name: p.name.clone(),
            input_psnr: psnr(&p.blur, &p.sharp),
            input_ssim: ssim(&p.blur, &p.sharp, p.width, p.height).unwrap_or(f64::NAN),
            psnr: psnr(&out, &p.sharp),
            ssim: ssim(&out, &p.sharp, p.width, p.height).unwrap_or(f64::NAN),
        };
        println!(
            "{:<28} {:>10.3} {:>10.3} {:>10.4} {:>10.4} {:>+8.3}",
            score.name,
            score.input_psnr,
            score.psnr,
            score.input_ssim,
            score.ssim,
            score.psnr - score.input_psnr
        );
        images.push(score);
    }
    let n = images.len() as f64;
    let mean = ImageScore {
        name: "mean".into(),
        input_psnr: images.iter().map(|s| s.input_psnr).sum::<f64>() / n,
        input_ssim: images.iter().map(|s| s.input_ssim).sum::<f64>() / n,
        psnr: images.iter().map(|s| s.psnr).sum::<f64>() / n,
        ssim: images.iter().map(|s| s.ssim).sum::<f64>() / n,
    };
    println!(
        "{:<28} {:>10.3} {:>10.3} {:>10.4} {:>10.4} {:>+8.3}",
        "MEAN",
        mean.input_psnr,
        mean.psnr,
        mean.input_ssim,
        mean.ssim,
        mean.psnr - mean.input_psnr
    );
    if let Some(path) = &args.json {
        let report = EvalReport {
            model: prepared.model.card.model.name.clone(),
            set,
            images,
            mean,
        };
        crate::util::write_atomically(path, serde_json::to_string_pretty(&report)?.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
