//! `deblur batch IN_DIR -o OUT_DIR`: whole folders, resumable, every failure reported.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::blind::{BlindArgs, Method};
use super::common::{prepare, IoArgs, ModelArgs};
use crate::engine::batch::{
    plan_batch, run_batch, BatchEvent, BatchFormat, BatchSpec, Method as BatchMethod,
};

#[derive(Args, Debug)]
pub struct BatchArgs {
    /// Folder of blurry photos.
    pub input_dir: PathBuf,
    /// Folder for the results (created if needed); the input folder's structure is kept.
    #[arg(short, long)]
    pub output_dir: PathBuf,
    /// Also process sub-folders.
    #[arg(short, long)]
    pub recursive: bool,
    /// Output format (default: the input's format when it is PNG, JPEG or TIFF, else PNG).
    #[arg(long, value_enum)]
    pub format: Option<BatchFormat>,
    /// Write a JSON report of every file (done, skipped, failed with the reason).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// How to deblur: `blind` estimates each photo's shake and deconvolves (the default
    /// unless --model names a network); `network` runs --model.
    #[arg(long, value_enum)]
    pub method: Option<Method>,
    #[command(flatten)]
    pub blind: BlindArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub io: IoArgs,
}

pub fn run(args: BatchArgs) -> anyhow::Result<ExitCode> {
    if args.blind.psf.is_some() {
        anyhow::bail!(
            "--psf deconvolves one photo with a known kernel: use it with `deblur run`; a \
             batch estimates each photo's own kernels"
        );
    }
    let plan = plan_batch(&BatchSpec {
        input_dir: args.input_dir.clone(),
        output_dir: args.output_dir.clone(),
        recursive: args.recursive,
        format: args.format,
        overwrite: args.io.overwrite,
    })
    .map_err(anyhow::Error::msg)?;
    let root = plan.input_root.clone();

    let mut report = if plan.work.is_empty() {
        plan.report
    } else {
        let prepared = match Method::resolve(args.method, &args.model) {
            Method::Network => Some(prepare(&args.model)?),
            Method::Blind => None,
        };
        let method = match &prepared {
            Some(p) => BatchMethod::Network {
                model: &p.runner,
                tiles: p.tiles,
            },
            None => BatchMethod::Blind(args.blind.options()),
        };
        let bar = ProgressBar::new(plan.work.len() as u64).with_style(
            ProgressStyle::with_template(
                "[{bar:30}] {pos}/{len} photos, {elapsed} elapsed, ETA {eta}  {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        let cancel = AtomicBool::new(false);
        let mut report = run_batch(
            plan,
            &method,
            &args.io.load_options(),
            &args.io.save_options(),
            &cancel,
            &mut |event| match event {
                BatchEvent::Started { input, .. } => bar.set_message(
                    input
                        .strip_prefix(&root)
                        .unwrap_or(input)
                        .display()
                        .to_string(),
                ),
                BatchEvent::Tile { .. } => {}
                BatchEvent::Finished { result, .. } => {
                    if let Err(f) = result {
                        bar.suspend(|| eprintln!("failed: {}: {}", f.input, f.error));
                    }
                    bar.inc(1);
                }
            },
        );
        bar.finish_and_clear();
        report.device = prepared.as_ref().map_or_else(
            || format!("CPU ({} threads)", rayon::current_num_threads()),
            |p| p.device_label.clone(),
        );
        report
    };
    report.model = match Method::resolve(args.method, &args.model) {
        Method::Network => args.model.name().to_string(),
        Method::Blind => crate::deconv::blind::BLIND.to_string(),
    };

    println!(
        "batch: {} done, {} skipped, {} failed",
        report.done.len(),
        report.skipped.len(),
        report.failed.len()
    );
    for f in &report.failed {
        println!("  failed {}: {}", f.input, f.error);
    }
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report)?;
        crate::util::write_atomically(path, json.as_bytes())
            .with_context(|| format!("cannot write report {}", path.display()))?;
    }
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
