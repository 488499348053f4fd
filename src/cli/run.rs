//! `deblur run IN -o OUT`: one photo.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::blind::{BlindArgs, Method};
use super::common::{prepare, IoArgs, ModelArgs};
use crate::analysis::blurmap::BlurMap;
use crate::analysis::heatmap::{encode_heatmap_png, encode_raw_tiff};
use crate::analysis::psf::MIN_REGION;
use crate::engine::{restore_photo, restore_photo_with_map, TileModel};
use crate::imaging::{load, save, OutputFormat};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The blurry photo (JPEG, PNG, TIFF, WebP or BMP).
    pub input: PathBuf,
    /// Where to write the result; the format follows the extension (.png, .jpg, .tif).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Also write a blur heat map (PNG, viridis, with a legend stating units and source):
    /// the extent of the kernels the blind method used; with a network, the routers' blur
    /// degree for DHNet models, else the extent of per-region kernels estimated from the
    /// photo and its restoration.
    #[arg(long, value_name = "PNG")]
    pub blur_map: Option<PathBuf>,
    /// Also write the blur map's values (pixels) as a 32-bit float single-channel TIFF.
    #[arg(long, value_name = "TIFF")]
    pub blur_map_raw: Option<PathBuf>,
    /// How to deblur: `blind` estimates the shake from the photo and deconvolves (the
    /// default unless --model names a network); `network` runs --model.
    #[arg(long, value_enum)]
    pub method: Option<Method>,
    #[command(flatten)]
    pub blind: BlindArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub io: IoArgs,
}

/// Refuses a map path with the wrong extension, or one that would replace the input.
fn check_map_path(args: &RunArgs, path: &std::path::Path, exts: &[&str]) -> anyhow::Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if !exts.contains(&ext.as_str()) {
        anyhow::bail!(
            "{}: the blur map is written as .{}",
            path.display(),
            exts.join(" or .")
        );
    }
    if path == args.output {
        anyhow::bail!("{}: the blur map would replace the output", path.display());
    }
    crate::imaging::check_output_path(&args.input, path, args.io.overwrite)?;
    Ok(())
}

fn write_maps(args: &RunArgs, map: &BlurMap) -> anyhow::Result<()> {
    let (lo, hi) = map.range();
    tracing::info!("blur map: {}; {lo:.1} to {hi:.1} px", map.legend());
    if let Some(path) = &args.blur_map {
        let bytes =
            encode_heatmap_png(map).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        crate::util::write_atomically(path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.blur_map_raw {
        let bytes = encode_raw_tiff(map).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        crate::util::write_atomically(path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    // Check the output before the slow part, so a typo costs nothing.
    OutputFormat::from_path(&args.output)?;
    crate::imaging::check_output_path(&args.input, &args.output, args.io.overwrite)?;
    if let Some(p) = &args.blur_map {
        check_map_path(&args, p, &["png"])?;
    }
    if let Some(p) = &args.blur_map_raw {
        check_map_path(&args, p, &["tif", "tiff"])?;
    }
    let want_map = args.blur_map.is_some() || args.blur_map_raw.is_some();
    let photo = load(&args.input, &args.io.load_options())?;
    if Method::resolve(args.method, &args.model) == Method::Blind {
        return run_blind(&args, &photo, want_map);
    }
    let prepared = prepare(&args.model)?;
    let routers = prepared.runner.net.has_routers();
    if want_map && !routers && photo.width.min(photo.height) < MIN_REGION {
        anyhow::bail!(
            "{}: {}x{} is too small for a blur map from kernel estimates (both sides must be at \
             least {MIN_REGION} px; model {} has no routers)",
            args.input.display(),
            photo.width,
            photo.height,
            prepared.model.card.model.name
        );
    }
    tracing::info!(
        "{}: {}x{} on {}, tiles {} px with {} px overlap",
        args.input.display(),
        photo.width,
        photo.height,
        prepared.device_label,
        prepared.tiles.tile,
        prepared.tiles.overlap
    );
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(
            "{spinner} deblurring [{bar:30}] {pos}/{len} tiles, {elapsed} elapsed, {eta} left",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let start = Instant::now();
    let cancel = AtomicBool::new(false);
    let runner: &dyn TileModel = &prepared.runner;
    let mut progress = |e: &crate::engine::TileEvent| {
        bar.set_length(e.total as u64);
        bar.set_position(e.done as u64);
    };
    let (restored, map) = if want_map {
        let (photo, map) =
            restore_photo_with_map(runner, &photo, prepared.tiles, &cancel, &mut progress)
                .with_context(|| format!("deblurring {}", args.input.display()))?;
        (photo, Some(map))
    } else {
        let photo = restore_photo(runner, &photo, prepared.tiles, &cancel, &mut progress)
            .with_context(|| format!("deblurring {}", args.input.display()))?;
        (photo, None)
    };
    bar.finish_and_clear();
    write_result(&args, &photo, &restored, map.as_ref(), start)
}

/// Saves the result and the blur map, if one was asked for, and logs the time taken.
fn write_result(
    args: &RunArgs,
    photo: &crate::imaging::Photo,
    restored: &crate::imaging::Photo,
    map: Option<&BlurMap>,
    start: Instant,
) -> anyhow::Result<ExitCode> {
    save(
        restored,
        &args.output,
        Some(&args.input),
        &args.io.save_options(),
    )?;
    if let Some(map) = map {
        write_maps(args, map)?;
    }
    let secs = start.elapsed().as_secs_f64();
    let mp = (photo.width * photo.height) as f64 / 1e6;
    tracing::info!(
        "wrote {} in {:.1} s ({:.0} ms per megapixel)",
        args.output.display(),
        secs,
        secs * 1000.0 / mp.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

/// `--method blind`: kernels from the photo, deconvolution with them; the blur map, if
/// asked for, shows the same kernels' extent.
fn run_blind(
    args: &RunArgs,
    photo: &crate::imaging::Photo,
    want_map: bool,
) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let opts = args.blind.options();
    tracing::info!(
        "{}: {}x{}, blind deconvolution",
        args.input.display(),
        photo.width,
        photo.height
    );
    let kernels = match &args.blind.psf {
        Some(path) => vec![super::blind::load_psf(path, photo.width, photo.height)?],
        None => super::blind::estimate(photo, &opts, &args.input)?,
    };
    for line in super::blind::describe(&kernels) {
        tracing::info!("{line}");
    }
    if crate::deconv::blind::finds_no_blur(&kernels) {
        tracing::warn!(
            "{}: {} (--method network)",
            args.input.display(),
            crate::deconv::blind::NO_BLUR_FOUND
        );
    }
    let restored = super::blind::deconvolve(photo, &kernels, &args.input)?;
    let map = if want_map {
        let window = kernels.first().map_or(1, |k| k.window);
        let map =
            crate::analysis::blurmap::from_kernels(&kernels, photo.width, photo.height, window)
                .map_err(|e| anyhow::anyhow!("{}: {e}", args.input.display()))?;
        Some(map)
    } else {
        None
    };
    write_result(args, photo, &restored, map.as_ref(), start)
}
