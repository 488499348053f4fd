//! `deblur kernels IN`: per-region blur kernels (PSFs) of a photo: by default estimated from
//! the photo alone, exactly the kernels `deblur run --method blind` deconvolves with
//! (`crate::deconv`); with `--method network`, by comparing the photo with a network's
//! restoration (model-agnostic, models.md §8).

use std::io::Cursor;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use super::blind::Method;
use super::common::{prepare, IoArgs, ModelArgs};
use crate::analysis::feature_kernels::{estimate_feature_kernels, feature_kernel_overlay, CAPTION};
use crate::analysis::overlay::kernel_overlay;
use crate::analysis::psf::{estimate_kernels, PsfOptions};
use crate::engine::restore_photo;
use crate::imaging::load;

#[derive(Args, Debug)]
pub struct KernelsArgs {
    /// The blurry photo.
    pub input: PathBuf,
    /// Write the kernel grid drawn over the photo (PNG).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Regions as COLSxROWS, e.g. 4x3 (default: up to 8 per side, by image size).
    #[arg(long, value_parser = parse_grid)]
    pub grid: Option<(usize, usize)>,
    /// Kernel window in pixels, odd (default: from the photo's size for the blind method,
    /// 31 for the network method, which accepts 3-63).
    #[arg(long)]
    pub window: Option<usize>,
    /// `blind`: the kernels `deblur run` deconvolves with, from the photo alone (the default
    /// unless --model names a network); `network`: the blur --model undid, refined blindly
    /// from its restoration.
    #[arg(long, value_enum)]
    pub method: Option<Method>,
    /// Write every region's kernel and numbers as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Report only the blur the model undid (the kernel that maps the restoration onto the
    /// photo), skipping the blind refinement that estimates the whole blur: shorter than the
    /// true kernel wherever the model leaves blur in place. The estimate itself then takes
    /// about 1/30 of the time; the deblur before it is the same.
    #[arg(long)]
    pub no_refine: bool,
    /// With a `deeprft-*` model: write the FKE's feature-level kernels per tile (its C
    /// per-channel kernels and their mean, red positive, blue negative) over the photo (PNG).
    /// They act on learned features and are not image PSFs.
    #[arg(long, value_name = "PNG")]
    pub feature_kernels: Option<PathBuf>,
    /// With a `deeprft-*` model: write the feature-level kernels of every tile as JSON.
    #[arg(long, value_name = "JSON")]
    pub feature_kernels_json: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub io: IoArgs,
}

pub(crate) fn parse_grid(s: &str) -> Result<(usize, usize), String> {
    let (c, r) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("`{s}`: expected COLSxROWS, e.g. 4x3"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<usize>()
            .map_err(|_| format!("`{s}`: expected COLSxROWS, e.g. 4x3"))
    };
    let (c, r) = (parse(c)?, parse(r)?);
    if c == 0 || r == 0 || c > 16 || r > 16 {
        return Err(format!("`{s}`: between 1 and 16 regions per side"));
    }
    Ok((c, r))
}

#[derive(Serialize)]
struct RegionJson {
    col: usize,
    row: usize,
    x: usize,
    y: usize,
    size: usize,
    window: usize,
    scale: usize,
    confidence: f32,
    reliable: bool,
    extent_px: f32,
    length_px: f32,
    angle_deg: f32,
    kernel: Vec<f32>,
}

pub fn run(args: KernelsArgs) -> anyhow::Result<ExitCode> {
    let outputs = [
        &args.output,
        &args.json,
        &args.feature_kernels,
        &args.feature_kernels_json,
    ];
    if outputs.iter().all(|o| o.is_none()) {
        anyhow::bail!(
            "nothing to write: give -o kernels.png, --json kernels.json, --feature-kernels \
             fk.png or --feature-kernels-json fk.json"
        );
    }
    for out in outputs.into_iter().flatten() {
        crate::imaging::check_output_path(&args.input, out, args.io.overwrite)?;
    }
    let photo = load(&args.input, &args.io.load_options())?;
    let wants_features = args.feature_kernels.is_some() || args.feature_kernels_json.is_some();
    if Method::resolve(args.method, &args.model) == Method::Blind && !wants_features {
        let opts = crate::deconv::blind::BlindOptions {
            kernel_size: args.window,
            grid: args.grid,
        };
        let kernels = super::blind::estimate(&photo, &opts, &args.input)?;
        return report(&args, &photo, &kernels);
    }
    let prepared = prepare(&args.model)?;
    if wants_features {
        write_feature_kernels(&args, &photo, &prepared)?;
        if args.output.is_none() && args.json.is_none() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let cancel = AtomicBool::new(false);
    let restored = restore_photo(
        &prepared.runner,
        &photo,
        prepared.tiles,
        &cancel,
        &mut |_| {},
    )
    .with_context(|| format!("deblurring {}", args.input.display()))?;
    let opts = PsfOptions {
        window: args.window.unwrap_or(crate::analysis::psf::DEFAULT_WINDOW),
        grid: args.grid,
        refine: !args.no_refine,
        ..PsfOptions::default()
    };
    let kernels = estimate_kernels(&photo.rgb, &restored.rgb, photo.width, photo.height, &opts)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.input.display()))?;
    report(&args, &photo, &kernels)
}

/// Prints the regions and writes the requested overlay and JSON.
fn report(
    args: &KernelsArgs,
    photo: &crate::imaging::Photo,
    kernels: &[crate::analysis::psf::RegionKernel],
) -> anyhow::Result<ExitCode> {
    let reliable = kernels.iter().filter(|k| k.reliable).count();
    println!(
        "{}: {} regions ({} reliable)",
        args.input.display(),
        kernels.len(),
        reliable
    );
    for line in super::blind::describe(kernels) {
        println!("  {line}");
    }
    if let Some(path) = &args.output {
        let img = kernel_overlay(&photo.rgb, photo.width, photo.height, kernels);
        let mut bytes = Vec::new();
        img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
            .context("encoding the kernel grid")?;
        crate::util::write_atomically(path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.json {
        let list: Vec<RegionJson> = kernels
            .iter()
            .map(|k| RegionJson {
                col: k.col,
                row: k.row,
                x: k.x,
                y: k.y,
                size: k.size,
                window: k.window,
                scale: k.scale,
                confidence: k.confidence,
                reliable: k.reliable,
                extent_px: k.stats.extent,
                length_px: k.stats.length,
                angle_deg: k.stats.angle_deg,
                kernel: k.kernel.clone(),
            })
            .collect();
        crate::util::write_atomically(path, serde_json::to_string_pretty(&list)?.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct TileJson<'a> {
    x: usize,
    y: usize,
    size: usize,
    window: usize,
    mean: &'a [f32],
    channels: &'a [Vec<f32>],
}

#[derive(Serialize)]
struct FeatureKernelsJson<'a> {
    note: &'a str,
    model: &'a str,
    tiles: Vec<TileJson<'a>>,
}

/// The FKE's feature-level kernels (models.md §6.5), per tile of the model's FFT size.
fn write_feature_kernels(
    args: &KernelsArgs,
    photo: &crate::imaging::Photo,
    prepared: &crate::engine::prepare::Prepared,
) -> anyhow::Result<()> {
    let name = &prepared.model.card.model.name;
    let tiles = estimate_feature_kernels(
        &prepared.runner.net,
        &photo.rgb,
        photo.width,
        photo.height,
        prepared.tiles.tile,
        args.window.unwrap_or(crate::analysis::psf::DEFAULT_WINDOW),
        &prepared.runner.device,
    )
    .ok_or_else(|| {
        anyhow::anyhow!("model `{name}` has no Fourier Kernel Estimator (try a deeprft-* model)")
    })?
    .map_err(|e| anyhow::anyhow!("{}: {e}", args.input.display()))?;
    println!(
        "{}: feature-level kernels of {} tiles of {} px",
        args.input.display(),
        tiles.len(),
        prepared.tiles.tile
    );
    if let Some(path) = &args.feature_kernels {
        let img = feature_kernel_overlay(&photo.rgb, photo.width, photo.height, &tiles);
        let mut bytes = Vec::new();
        img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
            .context("encoding the feature-kernel picture")?;
        crate::util::write_atomically(path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.feature_kernels_json {
        let doc = FeatureKernelsJson {
            note: CAPTION,
            model: name,
            tiles: tiles
                .iter()
                .map(|t| TileJson {
                    x: t.x,
                    y: t.y,
                    size: t.size,
                    window: t.window,
                    mean: &t.mean,
                    channels: &t.channels,
                })
                .collect(),
        };
        crate::util::write_atomically(path, serde_json::to_string_pretty(&doc)?.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
