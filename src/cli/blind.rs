//! The blind pipeline (`crate::deconv::blind`) for `run` and `kernels`, with a progress bar
//! per stage.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::analysis::psf::RegionKernel;
use crate::deconv::blind::{deconvolve_photo, estimate_photo_kernels, BlindError, BlindOptions};
use crate::imaging::Photo;

/// How a photo is deblurred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// Estimate the camera-shake kernels from the photo and deconvolve with them (physics;
    /// measured best on camera shake, and a sharp photo is left as it is).
    Blind,
    /// Run the network named by --model (end to end; for blur that no kernel describes,
    /// such as subjects moving against a still background).
    Network,
}

impl Method {
    /// The method asked for; without one, a network if `--model` names one, else blind.
    pub fn resolve(asked: Option<Method>, model: &super::common::ModelArgs) -> Method {
        asked.unwrap_or(if model.model.is_some() {
            Method::Network
        } else {
            Method::Blind
        })
    }
}

/// Settings of the blind method.
#[derive(Args, Debug, Clone)]
pub struct BlindArgs {
    /// Blind method: kernel size in pixels, odd, 3-75 (default: from the photo's size; the
    /// estimate keeps only the taps the blur uses).
    #[arg(long, value_name = "PX")]
    pub kernel_size: Option<usize>,
    /// Blind method: kernel regions as COLSxROWS, for shake that varies over the photo
    /// (default: one kernel for the whole photo).
    #[arg(long, value_name = "COLSxROWS", value_parser = super::kernels::parse_grid)]
    pub regions: Option<(usize, usize)>,
    /// Blind method: deconvolve with this kernel instead of estimating one: a grey PNG or
    /// TIFF of the blur of a point light (brightness is weight; any size up to 151 px; it is
    /// centred on its centroid).
    #[arg(long, value_name = "IMAGE")]
    pub psf: Option<PathBuf>,
}

impl BlindArgs {
    pub fn options(&self) -> BlindOptions {
        BlindOptions {
            kernel_size: self.kernel_size,
            grid: self.regions,
        }
    }
}

/// The kernel of a `--psf` image, as the one region of a photo of `width × height`.
pub fn load_psf(path: &Path, width: usize, height: usize) -> anyhow::Result<RegionKernel> {
    crate::deconv::blind::psf_region(path, width, height).map_err(anyhow::Error::msg)
}

/// Runs one stage of the pipeline under a progress bar named `what`; its error names the
/// input file.
fn with_stage_bar<T>(
    what: &str,
    input: &Path,
    stage: impl FnOnce(&AtomicBool, &(dyn Fn(f32) + Sync)) -> Result<T, BlindError>,
) -> anyhow::Result<T> {
    let bar = ProgressBar::new(1000).with_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what} [{{bar:30}}] {{percent}}%, {{elapsed}} elapsed, {{eta}} left"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let cancel = AtomicBool::new(false);
    let out = stage(&cancel, &|f| bar.set_position((f * 1000.0) as u64))
        .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()));
    bar.finish_and_clear();
    out
}

/// The photo's region kernels, with a progress bar.
pub fn estimate(
    photo: &Photo,
    opts: &BlindOptions,
    input: &Path,
) -> anyhow::Result<Vec<RegionKernel>> {
    with_stage_bar("estimating kernels", input, |cancel, progress| {
        estimate_photo_kernels(photo, opts, cancel, progress)
    })
}

/// The photo deconvolved with `kernels`, with a progress bar.
pub fn deconvolve(photo: &Photo, kernels: &[RegionKernel], input: &Path) -> anyhow::Result<Photo> {
    with_stage_bar("deconvolving", input, |cancel, progress| {
        deconvolve_photo(photo, kernels, cancel, progress)
    })
}

/// One line per region, as `deblur kernels` and `deblur run` print them.
pub fn describe(kernels: &[RegionKernel]) -> Vec<String> {
    // With one region there is no global kernel to fall back on.
    let fallback = if kernels.len() > 1 {
        " (unreliable: uses the global kernel)"
    } else {
        " (unreliable: little structure to estimate from)"
    };
    kernels
        .iter()
        .map(|k| {
            format!(
                "region {},{} at ({}, {}): length {:.1} px at {:.0}°, extent {:.1} px, \
                 confidence {:.2}{}",
                k.col,
                k.row,
                k.x,
                k.y,
                k.stats.length,
                k.stats.angle_deg,
                k.stats.extent,
                k.confidence,
                if k.reliable { "" } else { fallback }
            )
        })
        .collect()
}
