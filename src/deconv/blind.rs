//! Blind deblurring of a photo: per-region kernels estimated from the photo alone
//! ([`super::estimate`]), then every colour channel deconvolved in linear light with them
//! ([`super::nonblind`]). The Fourier work runs tile by tile, so its buffers are bounded by
//! the tile size; the photo itself is held in linear light (four `f32` planes) and blended
//! into full-size accumulators (`cargo run --release -- bench --blind` prints peak memory).
//!
//! Regions: one kernel for the whole photo unless a grid is asked for (shake that varies
//! over the photo). Each cell's kernel is estimated on the largest centred square of the
//! cell, at most [`MAX_ESTIMATE_SIDE`] px; with a grid, a cell with little structure, or
//! whose kernel is scattered, is marked unreliable and takes the global kernel, estimated on
//! the photo's largest centred square. Why one kernel by default (a grid was streaky on a
//! real shaken photo): `docs/blind-deconvolution.md`, "Regions". A kernel shorter than
//! [`MIN_BLUR_EXTENT`] is no blur worth undoing: those tiles are passed through, so a sharp
//! photo comes back as it was.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use super::estimate::{estimate_kernel, EstimateOptions};
use super::kernel::Kernel;
use super::nonblind::{deconvolve, noise_sigma, DeconvOptions};
use super::plane::Plane;
use crate::analysis::psf::{kernel_stats, region_starts, RegionKernel, MIN_TEXTURE};
use crate::imaging::color::{linear_to_srgb, luminance, srgb_to_linear};
use crate::imaging::Photo;

/// The name the window's method picker and `deblur batch` give this method, beside the
/// networks' names.
pub const BLIND: &str = "blind";
/// Largest square a kernel is estimated on, px (cost grows with its area). On
/// `fergus2006_ian1` 640 and 1024 px gave kernels of 18.9 and 20.1 px extent and results
/// alike to the eye; the larger square holds more edges for a photo with few.
pub const MAX_ESTIMATE_SIDE: usize = 1024;
/// Largest kernel side, px.
pub const MAX_KERNEL: usize = 75;
/// Smallest photo side, px.
pub const MIN_SIDE: usize = 48;
/// Kernels shorter than this (`Kernel::extent`, px) are treated as no blur. On sharp Kodak
/// photos with read noise 0.005 the estimates measured 2.3–3.0 px (the estimator's floor: a
/// delta smeared by noise and the pyramid's resampling); a 9-px shake measures about 6.
pub const MIN_BLUR_EXTENT: f32 = 4.0;
/// A region is reliable when its confidence reaches this.
pub const MIN_CONFIDENCE: f32 = 0.5;
/// Core side of a deconvolution tile, px; each tile also reads a margin of two kernel sides.
const TILE: usize = 768;
/// Tiles overlap by this much and are blended linearly across it, px.
const OVERLAP: usize = 32;

/// Settings of the blind pipeline.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlindOptions {
    /// Odd kernel side in px; `None` picks it from the photo's size
    /// ([`auto_kernel_size`]).
    pub kernel_size: Option<usize>,
    /// Regions as `(cols, rows)`; `None` for one kernel for the whole photo.
    pub grid: Option<(usize, usize)>,
}

/// Why the blind pipeline could not run.
#[derive(Debug, Clone, PartialEq)]
pub enum BlindError {
    TooSmall {
        width: usize,
        height: usize,
    },
    InvalidKernelSize(usize),
    InvalidGrid {
        cols: usize,
        rows: usize,
    },
    NoKernels,
    /// A PSF image that cannot be used, and why.
    Psf {
        path: String,
        reason: String,
    },
    Cancelled,
}

impl fmt::Display for BlindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooSmall { width, height } => write!(
                f,
                "photo {width}×{height} is too small for blind deblurring (both sides must be \
                 at least {MIN_SIDE} px)"
            ),
            Self::InvalidKernelSize(k) => write!(
                f,
                "kernel size must be odd and between 3 and {MAX_KERNEL} px, got {k}"
            ),
            Self::InvalidGrid { cols, rows } => {
                write!(f, "region grid {cols}×{rows} does not fit the photo")
            }
            Self::NoKernels => write!(f, "no kernels were given for the deconvolution"),
            Self::Psf { path, reason } => write!(f, "{path}: {reason}"),
            Self::Cancelled => write!(f, "cancelled"),
        }
    }
}

impl std::error::Error for BlindError {}

/// Odd kernel side for a photo: a tenth of its short side, between 15 and [`MAX_KERNEL`] px.
/// The estimate prunes what the blur does not use, so a generous window is safe, but not
/// free: on the 448-px crops of `tests/blind_deconv.rs` (shakes of 9–45 px) windows of 31,
/// 45 and 61 px gave median NCC 0.80, 0.82 and 0.78.
pub fn auto_kernel_size(width: usize, height: usize) -> usize {
    ((width.min(height) / 10) | 1).clamp(15, MAX_KERNEL)
}

/// Linear-light planes of a photo: R, G, B and luminance.
struct LinearPhoto {
    channels: [Plane; 3],
    luma: Plane,
}

impl LinearPhoto {
    fn new(photo: &Photo) -> Self {
        let (w, h) = (photo.width, photo.height);
        let n = w * h;
        let plane = |c: usize| {
            Plane::new(
                w,
                h,
                photo.rgb[c * n..(c + 1) * n]
                    .iter()
                    .map(|&v| {
                        srgb_to_linear(if v.is_finite() {
                            v.clamp(0.0, 1.0)
                        } else {
                            0.0
                        })
                    })
                    .collect(),
            )
        };
        let channels = [plane(0), plane(1), plane(2)];
        let luma = Plane::new(
            w,
            h,
            (0..n)
                .map(|i| {
                    luminance(
                        channels[0].data[i],
                        channels[1].data[i],
                        channels[2].data[i],
                    )
                })
                .collect(),
        );
        Self { channels, luma }
    }
}

fn check_size(photo: &Photo) -> Result<(), BlindError> {
    if photo.width < MIN_SIDE || photo.height < MIN_SIDE {
        return Err(BlindError::TooSmall {
            width: photo.width,
            height: photo.height,
        });
    }
    Ok(())
}

/// One kernel per region, row-major over the grid, estimated from the photo alone.
/// `progress` receives the share of regions done.
pub fn estimate_photo_kernels(
    photo: &Photo,
    opts: &BlindOptions,
    cancel: &AtomicBool,
    progress: &(dyn Fn(f32) + Sync),
) -> Result<Vec<RegionKernel>, BlindError> {
    check_size(photo)?;
    let (w, h) = (photo.width, photo.height);
    let ks = match opts.kernel_size {
        Some(k) if k % 2 == 0 || !(3..=MAX_KERNEL).contains(&k) => {
            return Err(BlindError::InvalidKernelSize(k))
        }
        Some(k) => k,
        None => auto_kernel_size(w, h),
    };
    let (cols, rows) = match opts.grid {
        Some((c, r)) if c == 0 || r == 0 || w / c < MIN_SIDE || h / r < MIN_SIDE => {
            return Err(BlindError::InvalidGrid { cols: c, rows: r })
        }
        Some(g) => g,
        None => (1, 1),
    };
    // Square estimation windows, one centred in each cell, and with several cells one more
    // for the global kernel: the largest centred square.
    let side = (w / cols).min(h / rows).min(MAX_ESTIMATE_SIDE);
    let global_side = w.min(h).min(MAX_ESTIMATE_SIDE);
    // A kernel must fit a third of the window for the pyramid to have levels to work with.
    let ks = ks.min(((side / 3) | 1).max(3));
    let linear = LinearPhoto::new(photo);
    let xs = cell_centres(w, cols, side);
    let ys = cell_centres(h, rows, side);
    let mut windows: Vec<(usize, usize, usize)> = (0..rows)
        .flat_map(|r| (0..cols).map(move |c| (c, r)))
        .map(|(c, r)| (xs[c], ys[r], side))
        .collect();
    let regions = windows.len();
    if regions > 1 {
        windows.push(((w - global_side) / 2, (h - global_side) / 2, global_side));
    }
    let done = std::sync::atomic::AtomicUsize::new(0);
    let mut estimates: Vec<Option<(Kernel, f32)>> = windows
        .par_iter()
        .map(|&(x, y, side)| {
            let crop = linear.luma.crop(x, y, side, side);
            let texture = texture(&crop);
            let est = estimate_kernel(&crop, &EstimateOptions { kernel_size: ks }, &|| {
                cancel.load(Ordering::Relaxed)
            });
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            progress(n as f32 / windows.len() as f32);
            est.map(|k| (k, texture))
        })
        .collect();
    if cancel.load(Ordering::Relaxed) {
        return Err(BlindError::Cancelled);
    }
    let global = estimates.drain(regions..).next().flatten().map(|(k, _)| k);
    let mut found: Vec<RegionKernel> = estimates
        .into_iter()
        .enumerate()
        .map(|(i, est)| {
            let (col, row) = (i % cols, i / cols);
            let (k, texture) = est.unwrap_or_else(|| (Kernel::delta(ks), 0.0));
            let confidence = confidence(&k, texture);
            RegionKernel {
                col,
                row,
                x: xs[col],
                y: ys[row],
                size: side,
                stats: kernel_stats(&k.taps, k.size),
                kernel: k.taps,
                window: k.size,
                scale: 1,
                confidence,
                texture,
                reliable: confidence >= MIN_CONFIDENCE,
            }
        })
        .collect();
    // Unreliable regions take the global kernel.
    if let Some(g) = global {
        for k in found.iter_mut().filter(|k| !k.reliable) {
            k.stats = kernel_stats(&g.taps, g.size);
            k.kernel = g.taps.clone();
            k.window = g.size;
        }
    }
    Ok(found)
}

/// Starts of `count` windows of `side` px centred in equal cells of a `len`-px side.
fn cell_centres(len: usize, count: usize, side: usize) -> Vec<usize> {
    if count == 1 {
        return region_starts(len, side, 1);
    }
    (0..count)
        .map(|i| {
            let centre = (2 * i + 1) * len / (2 * count);
            centre.saturating_sub(side / 2).min(len - side)
        })
        .collect()
}

/// RMS gradient of a linear-light plane (`psf::MIN_TEXTURE` has the scale).
fn texture(p: &Plane) -> f32 {
    let (gx, gy) = p.gradients();
    let (w, h) = (p.w, p.h);
    // The circular differences at the last row and column are not image gradients.
    let mut sum = 0.0f64;
    let mut n = 0usize;
    for y in 0..h - 1 {
        for x in 0..w - 1 {
            let i = y * w + x;
            sum += f64::from(gx[i] * gx[i] + gy[i] * gy[i]);
            n += 1;
        }
    }
    (sum / n.max(1) as f64).sqrt() as f32
}

/// Confidence of a region's kernel, 0–1: its texture against [`MIN_TEXTURE`] (a region at
/// twice the floor counts fully) times the share of the kernel that is one connected curve.
fn confidence(k: &Kernel, texture: f32) -> f32 {
    let structure = (texture / (2.0 * MIN_TEXTURE)).min(1.0);
    structure * k.connected_share()
}

/// Largest side of a PSF image, px.
pub const MAX_PSF_SIDE: usize = 151;

/// A kernel from a PSF image (grey PNG or TIFF of a point light's blur, brightness as
/// weight, any size up to [`MAX_PSF_SIDE`]), as the one region of a `width × height` photo:
/// the user's override of the estimate, deconvolved with as it is.
pub fn psf_region(path: &Path, width: usize, height: usize) -> Result<RegionKernel, BlindError> {
    let fail = |reason: String| BlindError::Psf {
        path: path.display().to_string(),
        reason,
    };
    let img = image::open(path)
        .map_err(|e| fail(format!("cannot read the PSF image: {e}")))?
        .to_luma32f();
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w.max(h) > MAX_PSF_SIDE {
        return Err(fail(format!(
            "a PSF of {w}×{h} px is larger than {MAX_PSF_SIDE} px"
        )));
    }
    let k = Kernel::from_image(w, h, img.as_raw())
        .ok_or_else(|| fail("the PSF image is black".to_string()))?;
    Ok(RegionKernel {
        col: 0,
        row: 0,
        x: 0,
        y: 0,
        size: width.min(height),
        stats: kernel_stats(&k.taps, k.size),
        window: k.size,
        kernel: k.taps,
        scale: 1,
        confidence: 1.0,
        texture: 0.0,
        reliable: true,
    })
}

/// Every kernel is shorter than [`MIN_BLUR_EXTENT`]: the deconvolution leaves the photo as it
/// is, and the user should be told why.
pub fn finds_no_blur(kernels: &[RegionKernel]) -> bool {
    kernels.iter().all(|k| k.stats.extent < MIN_BLUR_EXTENT)
}

/// What to tell the user when [`finds_no_blur`] holds.
pub const NO_BLUR_FOUND: &str = "no camera shake found (every kernel is under 4 px), so the \
     photo is left as it is; if it looks blurred, a network may help";

/// The photo deconvolved with the region kernels: each tile with the kernel of the region
/// nearest its centre; tiles whose kernel is shorter than [`MIN_BLUR_EXTENT`] are copied.
/// `progress` receives the share of tiles done.
pub fn deconvolve_photo(
    photo: &Photo,
    kernels: &[RegionKernel],
    cancel: &AtomicBool,
    progress: &(dyn Fn(f32) + Sync),
) -> Result<Photo, BlindError> {
    check_size(photo)?;
    if kernels.is_empty() {
        return Err(BlindError::NoKernels);
    }
    let (w, h) = (photo.width, photo.height);
    let linear = LinearPhoto::new(photo);
    let sigma = noise_sigma(&linear.luma);
    let opts = DeconvOptions::for_noise(sigma);
    let tiles = tile_grid(w, h);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let restored: Vec<Option<(Tile, [Vec<f32>; 3])>> = tiles
        .par_iter()
        .map(|t| {
            if cancel.load(Ordering::Relaxed) {
                return None;
            }
            let region = nearest(kernels, t.cx(), t.cy());
            let k = Kernel::from_taps(region.window, region.kernel.clone());
            let margin = 2 * k.size;
            let (x0, y0) = (t.x0.saturating_sub(margin), t.y0.saturating_sub(margin));
            let (x1, y1) = ((t.x1 + margin).min(w), (t.y1 + margin).min(h));
            let planes = linear.channels.each_ref().map(|c| {
                let input = c.crop(x0, y0, x1 - x0, y1 - y0);
                let out = if k.extent() < MIN_BLUR_EXTENT {
                    input
                } else {
                    deconvolve(&input, &k, &opts)
                };
                out.crop(t.x0 - x0, t.y0 - y0, t.x1 - t.x0, t.y1 - t.y0)
                    .data
            });
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            progress(n as f32 / tiles.len() as f32);
            Some((*t, planes))
        })
        .collect();
    if cancel.load(Ordering::Relaxed) {
        return Err(BlindError::Cancelled);
    }
    // Blend: each tile weighs 1 in its core, ramping linearly to 0 across the overlap.
    let n = w * h;
    let mut acc = vec![0.0f32; 3 * n];
    let mut weight = vec![0.0f32; n];
    for (t, planes) in restored.into_iter().flatten() {
        let tw = t.x1 - t.x0;
        for y in t.y0..t.y1 {
            let wy = t.ramp_y(y, h);
            for x in t.x0..t.x1 {
                let wt = wy * t.ramp_x(x, w);
                let i = (y - t.y0) * tw + (x - t.x0);
                for (c, p) in planes.iter().enumerate() {
                    acc[c * n + y * w + x] += wt * p[i];
                }
                weight[y * w + x] += wt;
            }
        }
    }
    let rgb: Vec<f32> = acc
        .iter()
        .enumerate()
        .map(|(i, &v)| linear_to_srgb((v / weight[i % n].max(1e-6)).clamp(0.0, 1.0)))
        .collect();
    Ok(Photo {
        rgb,
        alpha: photo.alpha.clone(),
        exif: photo.exif.clone(),
        icc: photo.icc.clone(),
        ..*photo
    })
}

/// The region whose estimation window's centre is nearest `(x, y)`.
fn nearest(kernels: &[RegionKernel], x: f32, y: f32) -> &RegionKernel {
    let d = |k: &RegionKernel| {
        let (cx, cy) = (
            k.x as f32 + k.size as f32 / 2.0,
            k.y as f32 + k.size as f32 / 2.0,
        );
        (cx - x).powi(2) + (cy - y).powi(2)
    };
    kernels
        .iter()
        .min_by(|a, b| d(a).total_cmp(&d(b)))
        .unwrap_or(&kernels[0])
}

/// A deconvolution tile: its core `[x0, x1) × [y0, y1)` grown by the overlap.
#[derive(Debug, Clone, Copy)]
struct Tile {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
}

impl Tile {
    fn cx(&self) -> f32 {
        (self.x0 + self.x1) as f32 / 2.0
    }
    fn cy(&self) -> f32 {
        (self.y0 + self.y1) as f32 / 2.0
    }
    /// 1 inside, falling to 0 over the overlap towards a side shared with another tile.
    fn ramp(i: usize, lo: usize, hi: usize, len: usize) -> f32 {
        let from_lo = if lo == 0 {
            f32::MAX
        } else {
            (i - lo) as f32 + 0.5
        };
        let from_hi = if hi == len {
            f32::MAX
        } else {
            (hi - i) as f32 - 0.5
        };
        (from_lo.min(from_hi) / OVERLAP as f32).min(1.0)
    }
    fn ramp_x(&self, x: usize, w: usize) -> f32 {
        Self::ramp(x, self.x0, self.x1, w)
    }
    fn ramp_y(&self, y: usize, h: usize) -> f32 {
        Self::ramp(y, self.y0, self.y1, h)
    }
}

/// Tiles of about [`TILE`] px covering the photo, each grown by [`OVERLAP`] where it meets
/// another.
fn tile_grid(w: usize, h: usize) -> Vec<Tile> {
    let spans = |len: usize| -> Vec<(usize, usize)> {
        let n = len.div_ceil(TILE).max(1);
        (0..n)
            .map(|i| {
                let (a, b) = (i * len / n, (i + 1) * len / n);
                (a.saturating_sub(OVERLAP), (b + OVERLAP).min(len))
            })
            .collect()
    };
    let (xs, ys) = (spans(w), spans(h));
    ys.iter()
        .flat_map(|&(y0, y1)| xs.iter().map(move |&(x0, x1)| Tile { x0, y0, x1, y1 }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_every_pixel_with_weights_summing_above_zero() {
        for (w, h) in [(100, 60), (1600, 900), (769, 1537)] {
            let mut weight = vec![0.0f32; w * h];
            for t in tile_grid(w, h) {
                for y in t.y0..t.y1 {
                    for x in t.x0..t.x1 {
                        weight[y * w + x] += t.ramp_x(x, w) * t.ramp_y(y, h);
                    }
                }
            }
            assert!(weight.iter().all(|&v| v > 0.0), "{w}×{h}");
        }
    }

    #[test]
    fn auto_kernel_sizes_are_odd_and_bounded() {
        for (w, h) in [(64, 64), (768, 512), (6000, 4000)] {
            let k = auto_kernel_size(w, h);
            assert!(k % 2 == 1 && (15..=MAX_KERNEL).contains(&k), "{k}");
        }
        assert_eq!(auto_kernel_size(448, 448), 45);
    }
}
