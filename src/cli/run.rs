//! `deblur run IN -o OUT`: one photo.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::common::{prepare, IoArgs, ModelArgs};
use crate::engine::restore_photo;
use crate::imaging::{load, save, OutputFormat};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The blurry photo (JPEG, PNG, TIFF, WebP or BMP).
    pub input: PathBuf,
    /// Where to write the result; the format follows the extension (.png, .jpg, .tif).
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub io: IoArgs,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    // Check the output before the slow part, so a typo costs nothing.
    OutputFormat::from_path(&args.output)?;
    crate::imaging::check_output_path(&args.input, &args.output, args.io.overwrite)?;
    let photo = load(&args.input, &args.io.load_options())?;
    let prepared = prepare(&args.model)?;
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
    let restored = restore_photo(
        &prepared.runner,
        &photo,
        prepared.tiles,
        &cancel,
        &mut |e| {
            bar.set_length(e.total as u64);
            bar.set_position(e.done as u64);
        },
    )
    .with_context(|| format!("deblurring {}", args.input.display()))?;
    bar.finish_and_clear();
    save(
        &restored,
        &args.output,
        Some(&args.input),
        &args.io.save_options(),
    )?;
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
