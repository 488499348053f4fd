//! `deblur eval`: PSNR/SSIM of a model's output and of its input against sharp targets.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};

use super::blind::Method;
use super::common::{prepare, ModelArgs};
use crate::deconv::blind::{deconvolve_photo, estimate_photo_kernels, BlindOptions, BLIND};
use crate::engine::{deblur_planes, Planes};
use crate::imaging::{load, LoadOptions};
use crate::imaging::{BitDepth, Photo};
use crate::train::metrics::{psnr, psnr_aligned, ssim};
use crate::train::paired::{paired, Paired, Score};
use crate::train::validation::{pair_name, set_hash, validation_set};

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
    /// Compare image by image with a baseline: the `--json` file of an earlier `deblur eval`
    /// on the same set (e.g. the model without the PDE layer). Prints the mean paired PSNR
    /// and SSIM difference with its 95 % interval and how many images got better or worse.
    #[arg(long, value_name = "BASELINE_JSON")]
    pub against: Option<PathBuf>,
    /// `blind` scores blind deconvolution (the default unless --model names a network);
    /// `network` runs --model.
    #[arg(long, value_enum)]
    pub method: Option<Method>,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Serialize, Deserialize, Clone)]
pub struct ImageScore {
    pub name: String,
    pub input_psnr: f64,
    pub input_ssim: f64,
    pub psnr: f64,
    pub ssim: f64,
    /// PSNR by the blind protocol ([`psnr_aligned`]: border cropped, best shift within
    /// ±[`ALIGN_SHIFT`] px), of the input and of the output.
    #[serde(default)]
    pub input_psnr_aligned: f64,
    #[serde(default)]
    pub psnr_aligned: f64,
}

/// Border cropped by the aligned PSNR, px (Köhler et al. 2012 crop too; 16 px keeps most of a
/// 256-px validation patch).
const ALIGN_BORDER: usize = 16;
/// Largest shift the aligned PSNR searches, px per axis.
const ALIGN_SHIFT: usize = 3;

#[derive(Serialize, Deserialize)]
pub struct EvalReport {
    pub model: String,
    pub set: String,
    pub images: Vec<ImageScore>,
    pub mean: ImageScore,
    /// Present when `--against` named a baseline: this model minus that one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired: Option<PairedReport>,
}

#[derive(Serialize, Deserialize)]
pub struct PairedReport {
    pub baseline: String,
    #[serde(flatten)]
    pub stats: Paired,
}

/// The baseline's report, read before any image is deblurred so that a wrong path fails fast.
fn read_baseline(path: &Path) -> anyhow::Result<EvalReport> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the baseline scores {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not the --json output of `deblur eval`",
            path.display()
        )
    })
}

fn scores(images: &[ImageScore]) -> Vec<Score> {
    images
        .iter()
        .map(|s| Score {
            name: s.name.clone(),
            psnr: s.psnr,
            ssim: s.ssim,
        })
        .collect()
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

/// The fixed validation set, and its name in reports: with the set's hash, so that a paired
/// comparison never mixes sets made from different photos.
/// One pair's blurry image deblurred by the blind method.
fn blind(p: &Pair, cancel: &AtomicBool) -> anyhow::Result<Vec<f32>> {
    let photo = Photo {
        width: p.width,
        height: p.height,
        rgb: p.blur.clone(),
        alpha: None,
        grayscale: false,
        bit_depth: BitDepth::Eight,
        exif: None,
        icc: None,
    };
    let opts = BlindOptions::default();
    let kernels = estimate_photo_kernels(&photo, &opts, cancel, &|_| {})
        .map_err(|e| anyhow::anyhow!("{}: {e}", p.name))?;
    let out = deconvolve_photo(&photo, &kernels, cancel, &|_| {})
        .map_err(|e| anyhow::anyhow!("{}: {e}", p.name))?;
    Ok(out.rgb)
}

fn validation_pairs(sharp_dir: &Path) -> anyhow::Result<(String, Vec<Pair>)> {
    let samples = validation_set(sharp_dir)?;
    let name = format!("validation set {}", set_hash(&samples));
    let pairs = samples
        .into_iter()
        .enumerate()
        .map(|(i, s)| Pair {
            name: pair_name(i),
            width: s.patch,
            height: s.patch,
            blur: s.blurred,
            sharp: s.sharp,
        })
        .collect();
    Ok((name, pairs))
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let (set, pairs) = match &args.pairs {
        // Canonical, so that `./set` and `/abs/set` name the same set in a paired comparison.
        Some(dir) => {
            let canonical = dir.canonicalize().unwrap_or_else(|_| dir.clone());
            (canonical.display().to_string(), read_pairs(dir)?)
        }
        None => validation_pairs(&args.sharp_dir)?,
    };
    if pairs.is_empty() {
        anyhow::bail!("no image pairs found in {set}");
    }
    let baseline = match args.against.as_deref() {
        Some(path) => Some((path, read_baseline(path)?)),
        None => None,
    };
    if let Some((_, b)) = &baseline {
        if b.set != set {
            anyhow::bail!(
                "the baseline was scored on {} but this run scores {set}: a paired comparison \
                 needs the same images",
                b.set
            );
        }
    }
    let prepared = match Method::resolve(args.method, &args.model) {
        Method::Network => Some(prepare(&args.model)?),
        Method::Blind => None,
    };
    let cancel = AtomicBool::new(false);
    let mut images = Vec::with_capacity(pairs.len());
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>10} {:>8} {:>12}",
        "image", "in PSNR", "out PSNR", "in SSIM", "out SSIM", "gain dB", "aligned gain"
    );
    for p in &pairs {
        let out = match &prepared {
            Some(prepared) => deblur_planes(
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
            )?,
            None => blind(p, &cancel)?,
        };
        let aligned =
            |x: &[f32]| psnr_aligned(x, &p.sharp, p.width, p.height, ALIGN_BORDER, ALIGN_SHIFT);
        let score = ImageScore {
            name: p.name.clone(),
            input_psnr: psnr(&p.blur, &p.sharp),
            input_ssim: ssim(&p.blur, &p.sharp, p.width, p.height).unwrap_or(f64::NAN),
            psnr: psnr(&out, &p.sharp),
            ssim: ssim(&out, &p.sharp, p.width, p.height).unwrap_or(f64::NAN),
            input_psnr_aligned: aligned(&p.blur),
            psnr_aligned: aligned(&out),
        };
        println!(
            "{:<28} {:>10.3} {:>10.3} {:>10.4} {:>10.4} {:>+8.3} {:>+12.3}",
            score.name,
            score.input_psnr,
            score.psnr,
            score.input_ssim,
            score.ssim,
            score.psnr - score.input_psnr,
            score.psnr_aligned - score.input_psnr_aligned
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
        input_psnr_aligned: images.iter().map(|s| s.input_psnr_aligned).sum::<f64>() / n,
        psnr_aligned: images.iter().map(|s| s.psnr_aligned).sum::<f64>() / n,
    };
    println!(
        "{:<28} {:>10.3} {:>10.3} {:>10.4} {:>10.4} {:>+8.3} {:>+12.3}",
        "MEAN",
        mean.input_psnr,
        mean.psnr,
        mean.input_ssim,
        mean.ssim,
        mean.psnr - mean.input_psnr,
        mean.psnr_aligned - mean.input_psnr_aligned
    );
    let model_name = prepared
        .as_ref()
        .map_or_else(|| BLIND.to_string(), |p| p.model.card.model.name.clone());
    let paired = match &baseline {
        Some((path, b)) => {
            let stats = paired(&scores(&images), &scores(&b.images))
                .with_context(|| format!("cannot pair with {}", path.display()))?;
            println!("{}", stats.describe(&model_name, &b.model));
            Some(PairedReport {
                baseline: b.model.clone(),
                stats,
            })
        }
        None => None,
    };
    if let Some(path) = &args.json {
        let report = EvalReport {
            model: model_name,
            set,
            images,
            mean,
            paired,
        };
        crate::util::write_atomically(path, serde_json::to_string_pretty(&report)?.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
