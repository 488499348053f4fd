//! Whole folders: which files, where their results go, and running them one by one.
//!
//! The CLI (`deblur batch`) and the GUI's batch panel share this, so both follow the same
//! rules: originals are never touched, existing outputs are skipped (resume), two inputs never
//! write one output, and every failure is recorded without stopping the batch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::Serialize;

use super::runner::{TileModel, TileSettings};
use super::{restore_photo, EngineError};
use crate::deconv::blind::{deconvolve_photo, estimate_photo_kernels, BlindOptions};
use crate::imaging::{is_supported_extension, load, save, LoadOptions, Photo, SaveOptions};

/// Output format of a batch; `None` keeps the input's format when it can be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, serde::Deserialize)]
pub enum BatchFormat {
    Png,
    Jpg,
    Tif,
}

/// What was done with every file.
#[derive(Serialize, Default, Debug, Clone)]
pub struct Report {
    pub input_dir: String,
    pub output_dir: String,
    pub model: String,
    pub device: String,
    pub done: Vec<Done>,
    pub skipped: Vec<Skipped>,
    pub failed: Vec<Failed>,
    /// True when the batch was cancelled before every file was processed.
    pub cancelled: bool,
}

#[derive(Serialize, Debug, Clone)]
pub struct Done {
    pub input: String,
    pub output: String,
    pub seconds: f64,
}

#[derive(Serialize, Debug, Clone)]
pub struct Skipped {
    pub input: String,
    pub output: String,
    pub reason: String,
}

#[derive(Serialize, Debug, Clone)]
pub struct Failed {
    pub input: String,
    pub error: String,
}

/// The inputs of a batch and what was decided about them before any work.
pub struct BatchPlan {
    /// Absolute input folder (paths in events are relative to it).
    pub input_root: PathBuf,
    /// (input, output) pairs still to do.
    pub work: Vec<(PathBuf, PathBuf)>,
    /// Skips and failures found while planning (existing outputs, unreadable folders...).
    pub report: Report,
}

/// Settings of a batch.
#[derive(Clone, Debug)]
pub struct BatchSpec {
    pub input_dir: PathBuf,
    pub output_dir: PathBuf,
    pub recursive: bool,
    pub format: Option<BatchFormat>,
    pub overwrite: bool,
}

/// Reported as the batch goes.
pub enum BatchEvent<'a> {
    /// File `index` of `total` starts.
    Started {
        index: usize,
        total: usize,
        input: &'a Path,
    },
    /// A tile of the current file finished.
    Tile { done: usize, total: usize },
    /// File `index` finished, well or not.
    Finished {
        index: usize,
        result: Result<&'a Done, &'a Failed>,
    },
}

/// Lists the inputs, decides every output, and records skips: no file is touched yet.
pub fn plan_batch(spec: &BatchSpec) -> Result<BatchPlan, String> {
    let meta = std::fs::metadata(&spec.input_dir)
        .map_err(|e| format!("cannot read input folder {}: {e}", spec.input_dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a folder", spec.input_dir.display()));
    }
    std::fs::create_dir_all(&spec.output_dir).map_err(|e| {
        format!(
            "cannot create output folder {}: {e}",
            spec.output_dir.display()
        )
    })?;
    let out_abs = spec
        .output_dir
        .canonicalize()
        .unwrap_or_else(|_| spec.output_dir.clone());
    let in_abs = spec
        .input_dir
        .canonicalize()
        .unwrap_or_else(|_| spec.input_dir.clone());
    let (inputs, walk_failures) = collect_inputs(&in_abs, spec.recursive, &out_abs);
    let mut report = Report {
        input_dir: spec.input_dir.display().to_string(),
        output_dir: spec.output_dir.display().to_string(),
        failed: walk_failures,
        ..Default::default()
    };
    let mut claimed: HashMap<PathBuf, PathBuf> = HashMap::new();
    let mut work = Vec::new();
    for input in inputs {
        let output = output_path(&input, &in_abs, &out_abs, spec.format);
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
        if output.exists() && !spec.overwrite {
            report.skipped.push(Skipped {
                input: input.display().to_string(),
                output: output.display().to_string(),
                reason: "output exists (resume; choose overwrite to redo it)".into(),
            });
            continue;
        }
        work.push((input, output));
    }
    Ok(BatchPlan {
        input_root: in_abs,
        work,
        report,
    })
}

/// Runs every planned file through `model`; failures are recorded, never fatal. Stops early
/// (marking the report cancelled) when `cancel` is set.
pub fn run_batch(
    plan: BatchPlan,
    method: &Method,
    load_options: &LoadOptions,
    save_options: &SaveOptions,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(BatchEvent),
) -> Report {
    let BatchPlan {
        work, mut report, ..
    } = plan;
    let total = work.len();
    for (index, (input, output)) in work.into_iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            report.cancelled = true;
            break;
        }
        on_event(BatchEvent::Started {
            index,
            total,
            input: &input,
        });
        let start = Instant::now();
        let result = (|| -> Result<(), String> {
            let photo = load(&input, load_options).map_err(|e| e.to_string())?;
            if let Some(parent) = output.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create folder {}: {e}", parent.display()))?;
            }
            let restored = method.deblur(&photo, cancel, &mut |done, total| {
                on_event(BatchEvent::Tile { done, total })
            })?;
            save(&restored, &output, Some(&input), save_options).map_err(|e| e.to_string())
        })();
        match result {
            Ok(()) => {
                report.done.push(Done {
                    input: input.display().to_string(),
                    output: output.display().to_string(),
                    seconds: start.elapsed().as_secs_f64(),
                });
                on_event(BatchEvent::Finished {
                    index,
                    result: Ok(&report.done[report.done.len() - 1]),
                });
            }
            Err(_) if cancel.load(Ordering::Relaxed) => {
                report.cancelled = true;
                break;
            }
            Err(error) => {
                report.failed.push(Failed {
                    input: input.display().to_string(),
                    error,
                });
                on_event(BatchEvent::Finished {
                    index,
                    result: Err(&report.failed[report.failed.len() - 1]),
                });
            }
        }
    }
    report
}

/// How each photo of a batch is deblurred.
pub enum Method<'a> {
    /// A network, tile by tile.
    Network {
        model: &'a dyn TileModel,
        tiles: TileSettings,
    },
    /// Blind deconvolution (`deconv::blind`): kernels from each photo, then deconvolution.
    Blind(BlindOptions),
}

impl Method<'_> {
    /// The deblurred photo; `progress(done, total)` counts tiles (for the blind method, two
    /// steps: the kernels, then the deconvolution).
    fn deblur(
        &self,
        photo: &Photo,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Photo, String> {
        match self {
            Self::Network { model, tiles } => {
                restore_photo(*model, photo, *tiles, cancel, &mut |t| {
                    progress(t.done, t.total)
                })
                .map_err(|e| match e {
                    EngineError::Cancelled => "cancelled".to_string(),
                    e => e.to_string(),
                })
            }
            Self::Blind(opts) => {
                // Stage progress arrives on worker threads; the batch's callback is not Sync.
                let kernels = estimate_photo_kernels(photo, opts, cancel, &|_| {})
                    .map_err(|e| e.to_string())?;
                progress(1, 2);
                let out = deconvolve_photo(photo, &kernels, cancel, &|_| {})
                    .map_err(|e| e.to_string())?;
                progress(2, 2);
                Ok(out)
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    struct Identity;
    impl TileModel for Identity {
        fn process(&self, t: &[f32], _: usize, _: usize) -> Result<Vec<f32>, EngineError> {
            Ok(t.to_vec())
        }
    }

    fn write_png(path: &Path) {
        let img = image::RgbImage::from_fn(20, 12, |x, y| image::Rgb([x as u8 * 10, y as u8, 7]));
        img.save(path).expect("fixture");
    }

    /// Runs `plan` through the identity model with default load and save options.
    fn run_identity(
        plan: BatchPlan,
        cancel: &AtomicBool,
        on_event: &mut dyn FnMut(BatchEvent),
    ) -> Report {
        let tiles = TileSettings {
            tile: 64,
            overlap: 8,
        };
        let (load, save) = (LoadOptions::default(), SaveOptions::default());
        let method = Method::Network {
            model: &Identity,
            tiles,
        };
        run_batch(plan, &method, &load, &save, cancel, on_event)
    }

    #[test]
    fn plan_skips_existing_outputs_and_run_records_failures() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (input, output) = (dir.path().join("in"), dir.path().join("out"));
        std::fs::create_dir_all(input.join("sub")).expect("mkdir");
        write_png(&input.join("a.png"));
        write_png(&input.join("sub/b.png"));
        std::fs::write(input.join("broken.jpg"), b"not a jpeg").expect("write");
        std::fs::create_dir_all(&output).expect("mkdir");
        write_png(&output.join("a.png"));
        let spec = BatchSpec {
            input_dir: input.clone(),
            output_dir: output.clone(),
            recursive: true,
            format: None,
            overwrite: false,
        };
        let plan = plan_batch(&spec).expect("plan");
        assert_eq!(plan.report.skipped.len(), 1, "a.png already done");
        assert_eq!(plan.work.len(), 2, "broken.jpg and sub/b.png");
        let cancel = AtomicBool::new(false);
        let mut finished = 0;
        let report = run_identity(plan, &cancel, &mut |e| {
            if let BatchEvent::Finished { .. } = e {
                finished += 1
            }
        });
        assert_eq!(finished, 2);
        assert_eq!(report.done.len(), 1);
        assert!(output.join("sub/b.png").is_file());
        assert_eq!(report.failed.len(), 1);
        assert!(report.failed[0].input.ends_with("broken.jpg"));
        assert!(!report.cancelled);
        // Resume: everything is now skipped except the broken file, which is tried again.
        let again = plan_batch(&spec).expect("plan");
        assert_eq!(again.report.skipped.len(), 2);
        assert_eq!(again.work.len(), 1);
    }

    #[test]
    fn cancelled_batch_says_so_and_stops() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (input, output) = (dir.path().join("in"), dir.path().join("out"));
        std::fs::create_dir_all(&input).expect("mkdir");
        write_png(&input.join("a.png"));
        write_png(&input.join("b.png"));
        let plan = plan_batch(&BatchSpec {
            input_dir: input,
            output_dir: output.clone(),
            recursive: false,
            format: Some(BatchFormat::Tif),
            overwrite: false,
        })
        .expect("plan");
        let cancel = AtomicBool::new(false);
        let report = run_identity(plan, &cancel, &mut |e| {
            if let BatchEvent::Finished { .. } = e {
                cancel.store(true, Ordering::Relaxed)
            }
        });
        assert!(report.cancelled);
        assert_eq!(report.done.len(), 1);
        assert!(output.join("a.tif").is_file());
        assert!(!output.join("b.tif").exists());
    }
}
