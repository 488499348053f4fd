//! `deblur batch IN_DIR -o OUT_DIR`: whole folders, resumable, every failure reported.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::common::{prepare, IoArgs, ModelArgs};
use crate::engine::restore_photo;
use crate::imaging::{is_supported_extension, load, save};

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
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub io: IoArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BatchFormat {
    Png,
    Jpg,
    Tif,
}

#[derive(Serialize, Default)]
pub struct Report {
    pub input_dir: String,
    pub output_dir: String,
    pub model: String,
    pub device: String,
    pub done: Vec<Done>,
    pub skipped: Vec<Skipped>,
    pub failed: Vec<Failed>,
}

#[derive(Serialize)]
pub struct Done {
    pub input: String,
    pub output: String,
    pub seconds: f64,
}

#[derive(Serialize)]
pub struct Skipped {
    pub input: String,
    pub output: String,
    pub reason: String,
}

#[derive(Serialize)]
pub struct Failed {
    pub input: String,
    pub error: String,
}

/// The files to process, and the folders that could not be read.
fn collect_inputs(root: &Path, recursive: bool, exclude: &Path) -> (Vec<PathBuf>, Vec<Failed>) {
    let mut files = Vec::new();
    let mut failures = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .max_depth(if recursive { usize::MAX } else { 1 })
        .sort_by_file_name();
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_file() && is_supported_extension(e.path()) => {
                // Never read back what this batch writes (output folder inside the input).
                if !e.path().starts_with(exclude) {
                    files.push(e.into_path());
                }
            }
            Ok(_) => {}
            Err(err) => failures.push(Failed {
                input: err
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| root.display().to_string()),
                error: format!(
                    "cannot read folder: {}",
                    err.io_error()
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| err.to_string())
                ),
            }),
        }
    }
    (files, failures)
}

fn output_path(input: &Path, root: &Path, out_dir: &Path, format: Option<BatchFormat>) -> PathBuf {
    let rel = input.strip_prefix(root).unwrap_or(input);
    let ext = match format {
        Some(BatchFormat::Png) => "png",
        Some(BatchFormat::Jpg) => "jpg",
        Some(BatchFormat::Tif) => "tif",
        None => match input
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some(e @ ("png" | "jpg" | "jpeg" | "tif" | "tiff")) => {
                return out_dir.join(rel).with_extension(e)
            }
            _ => "png",
        },
    };
    out_dir.join(rel).with_extension(ext)
}

pub fn run(args: BatchArgs) -> anyhow::Result<ExitCode> {
    let meta = std::fs::metadata(&args.input_dir)
        .with_context(|| format!("cannot read input folder {}", args.input_dir.display()))?;
    if !meta.is_dir() {
        anyhow::bail!(
            "{} is not a folder (use `deblur run` for one photo)",
            args.input_dir.display()
        );
    }
    std::fs::create_dir_all(&args.output_dir)
        .with_context(|| format!("cannot create output folder {}", args.output_dir.display()))?;
    let out_abs = args
        .output_dir
        .canonicalize()
        .unwrap_or_else(|_| args.output_dir.clone());
    let in_abs = args
        .input_dir
        .canonicalize()
        .unwrap_or_else(|_| args.input_dir.clone());
    let (inputs, walk_failures) = collect_inputs(&in_abs, args.recursive, &out_abs);

    let mut report = Report {
        input_dir: args.input_dir.display().to_string(),
        output_dir: args.output_dir.display().to_string(),
        model: args.model.model.clone(),
        failed: walk_failures,
        ..Default::default()
    };

    // Decide every output first: skip existing ones, refuse two inputs mapping to one output.
    let mut claimed: HashMap<PathBuf, PathBuf> = HashMap::new();
    let mut work = Vec::new();
    for input in inputs {
        let output = output_path(&input, &in_abs, &out_abs, args.format);
        if let Some(first) = claimed.get(&output) {
            report.failed.push(Failed {
                input: input.display().to_string(),
                error: format!(
                    "its output {} is already the output of {}",
                    output.display(),
                    first.display()
                ),
            });
            continue;
        }
        claimed.insert(output.clone(), input.clone());
        if output.exists() && !args.io.overwrite {
            report.skipped.push(Skipped {
                input: input.display().to_string(),
                output: output.display().to_string(),
                reason: "output exists (use --overwrite to redo it)".into(),
            });
            continue;
        }
        work.push((input, output));
    }

    if !work.is_empty() {
        let prepared = prepare(&args.model)?;
        report.device = prepared.device_label.clone();
        let bar = ProgressBar::new(work.len() as u64).with_style(
            ProgressStyle::with_template(
                "[{bar:30}] {pos}/{len} photos, {elapsed} elapsed, ETA {eta}  {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        let cancel = AtomicBool::new(false);
        for (input, output) in work {
            let rel = input
                .strip_prefix(&in_abs)
                .unwrap_or(&input)
                .display()
                .to_string();
            bar.set_message(rel);
            let start = Instant::now();
            let result = (|| -> anyhow::Result<()> {
                let photo = load(&input, &args.io.load_options())?;
                if let Some(parent) = output.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create folder {}", parent.display()))?;
                }
                let restored = restore_photo(
                    &prepared.runner,
                    &photo,
                    prepared.tiles,
                    &cancel,
                    &mut |_| {},
                )?;
                save(&restored, &output, Some(&input), &args.io.save_options())?;
                Ok(())
            })();
            match result {
                Ok(()) => report.done.push(Done {
                    input: input.display().to_string(),
                    output: output.display().to_string(),
                    seconds: start.elapsed().as_secs_f64(),
                }),
                Err(e) => {
                    let error = super::common::one_line(&e);
                    bar.suspend(|| eprintln!("failed: {}: {error}", input.display()));
                    report.failed.push(Failed {
                        input: input.display().to_string(),
                        error,
                    });
                }
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
    }

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
