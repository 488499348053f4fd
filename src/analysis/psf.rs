//! Model-agnostic per-region blur kernel (PSF) estimate for the kernel inspector (models.md §8).
//!
//! Given the blurry photo and any model's restoration of it, each region's kernel is the
//! regularised spectral quotient `K = conj(S)·B / (|S|² + λ)`, i.e. the kernel `k` that best
//! explains `b ≈ k ∗ s` in least squares with a Tikhonov penalty. The code follows §8 step by
//! step; decisions the spec leaves open are documented where they are made:
//!
//! - Region count per axis ([`grid_count`]): `min(max_grid, ⌈len/R⌉)`, the fewest regions that
//!   tile the side, capped (W = 1000, R = 256 gives 4).
//! - Inputs outside `[0, 1]` are clamped and NaN is read as 0 before linearisation (`luma`).
//! - A noise floor is subtracted before clamping ([`PsfOptions::floor_sigmas`], default 4σ;
//!   0 restores §8 steps 5–6 literally), in the kernel and in the confidence. Without it the
//!   extent of exact oracle estimates reads 3–25 px too large and the step-6 confidence of
//!   exact estimates is 0.04–0.2, so every region would be flagged (see `estimate_region`).
//! - λ_rel stays at §8's 1e-2: on noisy or imperfectly restored inputs it beat 1e-3 (median
//!   NCC 0.98–0.99 vs 0.90–0.97); its cost is a small symmetric blob around a sharp region's
//!   delta (centre tap ≈ 0.77, extent ≈ 4 px), the Tikhonov shrinkage of weak frequencies.
//! - "Almost no texture" ([`MIN_TEXTURE`]) and the auto-scale ring ([`ring_width`]) are
//!   defined on their constants. Auto scale keeps the first scale whose ring holds ≤ 10 %,
//!   else the one with the emptiest ring; coarse levels are only built if a region asks.
//! - Kernels found at a coarser scale are reported in image pixels on a larger window
//!   ([`RegionKernel::window`]); see `upsample_kernel`.
//! - The two real FFTs of a region share one complex FFT (`w·s + i·w·b`, split by symmetry).
//! - Beyond §8 ([`PsfOptions::refine`], default on): at scale 1 the quotient kernel is refined
//!   by blind deconvolution started from the restoration (`psf_refine`), because the quotient
//!   is only the blur the model undid; see [`MIN_CONNECTED`] for when the quotient is kept.
//!
//! Conventions are those of `train::synth`: planes are row-major with `y` down, kernels are odd
//! squares with tap `(window/2 + dy, window/2 + dx)` the weight of offset `(dy, dx)`, and blur is
//! true convolution, `b(y, x) = Σ k(dy, dx) · s(y − dy, x − dx)`. So a blurry image equal to the
//! restored one moved by (+2 rows, +3 cols) gives a single tap at offset (+2, +3).

use std::fmt;

use rayon::prelude::*;
use rustfft::num_complex::Complex32;
use rustfft::FftPlanner;

use super::fft2::{split_real_pair, Fft2};
use super::psf_refine::{connected_share, refine_kernel};
use crate::imaging::color::{luminance, srgb_to_linear};

/// Default kernel window (odd side, px).
pub const DEFAULT_WINDOW: usize = 31;
/// Largest accepted window; §8 offers 15, 31, 47 and 63, any odd value in `3..=63` works.
pub const MAX_WINDOW: usize = 63;
/// Smallest region side; an image smaller than this on either side is an error.
pub const MIN_REGION: usize = 64;
/// Regions whose confidence is below this are flagged unreliable (§8 step 6).
pub const MIN_CONFIDENCE: f32 = 0.5;
/// Regions whose restored texture ([`RegionKernel::texture`]) is below this are unreliable.
///
/// Decision: texture is the Hann-weighted RMS gradient magnitude of the restored linear
/// luminance, in luminance units per pixel. One 8-bit sRGB step near mid-grey is ≈ 3.6e-3 in
/// linear light, so 8-bit quantisation noise alone gives ≈ 2e-3; a region at 4e-3 has barely
/// more structure than its quantisation steps, and the quotient `B/S` there divides noise by
/// noise. Any real edge or texture is far above it (a 0.1-contrast edge every 30 px is ≈ 2e-2).
pub const MIN_TEXTURE: f32 = 4e-3;
/// Auto scale moves to a coarser scale when more than this fraction of the (floor-subtracted)
/// kernel mass lies on the outer [`ring_width`] ring of the window (§8 step 7).
pub const RING_MAX: f32 = 0.10;
/// A refined kernel replaces the quotient only if at least this share of its mass is one
/// 8-connected group of taps (`psf_refine::connected_share`): a real blur is one curve or blob.
/// Decision: 0.7, from measured cases. The speckled kernels of the GUI test fixture's
/// low-texture regions scored 0.23 and 0.68. Of the 28 regions of the 6–30 px shakes in
/// `a_real_deblur_recovers_camera_shake_kernels`, 27 pass; the one kept at its quotient had a
/// refined kernel worse than the quotient anyway (NCC 0.59 vs 0.63). On the real camera-shake
/// photo `fergus2006_ian1` the kernels that pass (0.73–1.0) are diagonal streaks and one thick
/// bar, those that fail (0.22–0.69) scattered specks. (A check of agreement with the quotient
/// was tried and dropped: on real photos, where the quotient shows the network's ringing,
/// plausible streaks correlated with it at only 0.05–0.2.)
pub const MIN_CONNECTED: f32 = 0.7;
/// Coarsest auto-scale factor tried.
const MAX_SCALE: usize = 4;

/// Settings of [`estimate_kernels`].
#[derive(Debug, Clone, PartialEq)]
pub struct PsfOptions {
    /// Kernel window side (odd, 3..=63; §8 offers 15, 31, 47, 63). Default 31.
    pub window: usize,
    /// Tikhonov weight relative to the mean power of the restored spectrum. Default 1e-2.
    pub lambda_rel: f32,
    /// Most regions per axis when `grid` is `None`. Default 8.
    pub max_grid: usize,
    /// Exact region grid `(cols, rows)`, overriding `max_grid`. Regions may then overlap
    /// (or coincide, when a side holds only one region).
    pub grid: Option<(usize, usize)>,
    /// Retry at ½ and ¼ resolution when the kernel does not fit the window (§8 step 7).
    pub auto_scale: bool,
    /// Noise floor subtracted from the region kernel before clamping, in units of its RMS
    /// outside the window; 0 gives §8 steps 5–6 literally. Default 4: Gaussian noise passes
    /// 4σ in 0.006 % of taps, < 0.1 false tap per 31×31 window, while real taps (≥ 1/200 for
    /// an 8-px defocus disk) stand well above it. Soft thresholding lowers every tap by the
    /// same amount, so flat-topped kernels (lines, disks) keep their shape.
    pub floor_sigmas: f32,
    /// Go on from the §8 quotient by blind deconvolution (`psf_refine`), so that the kernel
    /// is the photo's blur rather than only the part the model undid. Default on; off gives
    /// §8 literally and takes about 1/30 of the time (`deblur bench --kernels`: 22 vs 769 ms
    /// for 12 regions of 256² on 2 threads).
    pub refine: bool,
}

impl Default for PsfOptions {
    fn default() -> Self {
        Self {
            window: DEFAULT_WINDOW,
            lambda_rel: 1e-2,
            max_grid: 8,
            grid: None,
            auto_scale: true,
            floor_sigmas: 4.0,
            refine: true,
        }
    }
}

/// Shape numbers of a kernel, in image pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelStats {
    /// √12 · RMS radius about the centroid (as `train::synth::kernel_extent`): ℓ for a line
    /// of length ℓ, √6·r for a disk of radius r.
    pub extent: f32,
    /// Direction of the principal axis of the second-moment matrix, degrees in [0, 180),
    /// measured from +x (right) towards +y (down), i.e. clockwise on screen, as synth's kernel
    /// angles. 0 for isotropic kernels.
    pub angle_deg: f32,
    /// √12 · RMS spread along the principal axis: ℓ for a line of length ℓ.
    pub length: f32,
}

/// The kernel estimated for one region.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionKernel {
    /// Column and row of the region in the grid (row-major output order).
    pub col: usize,
    pub row: usize,
    /// Top-left corner and side, in image px, of the area the kernel was estimated on. At
    /// `scale > 1` this is `scale ×` the region side at that scale, centred on the region's
    /// scale-1 centre (moved inwards where it would leave the image).
    pub x: usize,
    pub y: usize,
    pub size: usize,
    /// `window × window` taps in image px, non-negative, sum 1.
    pub kernel: Vec<f32>,
    /// Kernel side in image px: the requested window at scale 1, `scale·(window − 1) + 1` when
    /// the estimate was made at a coarser scale.
    pub window: usize,
    /// Resolution divisor the estimate was made at: 1, 2 or 4.
    pub scale: usize,
    /// §8 step 6 above the noise floor ([`PsfOptions::floor_sigmas`]): positive mass inside
    /// the window over the absolute mass of the whole region kernel (at least 1, the kernel's
    /// own mass), both after subtracting the floor. Near 1 when the kernel fits the window and
    /// explains the blur; lowered by mass outside the window and by negative lobes; near 0
    /// when restored and blurry are unrelated.
    pub confidence: f32,
    /// Hann-weighted RMS gradient of the restored linear luminance (see [`MIN_TEXTURE`]).
    pub texture: f32,
    /// `confidence ≥ MIN_CONFIDENCE && texture ≥ MIN_TEXTURE`; the app fades the others.
    pub reliable: bool,
    pub stats: KernelStats,
}

/// Why no kernels could be estimated.
#[derive(Debug, Clone, PartialEq)]
pub enum PsfError {
    /// A buffer is not `3 × width × height` values.
    BufferSize {
        which: &'static str,
        len: usize,
        width: usize,
        height: usize,
    },
    /// Smaller than [`MIN_REGION`] on some side.
    ImageTooSmall { width: usize, height: usize },
    /// Window even, below 3 or above [`MAX_WINDOW`].
    InvalidWindow(usize),
    /// `lambda_rel` not positive and finite.
    InvalidLambda(f32),
    /// `floor_sigmas` negative or not finite.
    InvalidFloor(f32),
    /// A zero region count in `grid` or `max_grid`.
    InvalidGrid { cols: usize, rows: usize },
}

impl fmt::Display for PsfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferSize {
                which,
                len,
                width,
                height,
            } => write!(
                f,
                "{which} image has {len} values, expected 3 planes of {width}×{height}"
            ),
            Self::ImageTooSmall { width, height } => write!(
                f,
                "image {width}×{height} is too small to estimate blur kernels \
                 (both sides must be at least {MIN_REGION} px)"
            ),
            Self::InvalidWindow(w) => write!(
                f,
                "kernel window must be odd and between 3 and {MAX_WINDOW} px, got {w}"
            ),
            Self::InvalidLambda(l) => {
                write!(f, "regularisation lambda_rel must be positive, got {l}")
            }
            Self::InvalidFloor(v) => {
                write!(f, "noise floor floor_sigmas must be 0 or more, got {v}")
            }
            Self::InvalidGrid { cols, rows } => {
                write!(f, "region grid must be at least 1×1, got {cols}×{rows}")
            }
        }
    }
}

impl std::error::Error for PsfError {}

/// Region side for an image and window (§8 step 2): `max(256, next_pow2(8·window))`, or, when
/// the image is smaller than that, the largest power of two that fits both sides (≥ 64).
pub fn region_size(width: usize, height: usize, window: usize) -> Result<usize, PsfError> {
    let want = window
        .saturating_mul(8)
        .checked_next_power_of_two()
        .unwrap_or(usize::MAX)
        .max(256);
    let side = width.min(height);
    if side < MIN_REGION {
        return Err(PsfError::ImageTooSmall { width, height });
    }
    // Largest power of two ≤ side.
    let fits = 1usize << (usize::BITS - 1 - side.leading_zeros());
    Ok(want.min(fits))
}

/// Regions along a side of `len` px (`len ≥ region`): the fewest that tile it, at most `max`.
pub fn grid_count(len: usize, region: usize, max: usize) -> usize {
    len.div_ceil(region.max(1)).clamp(1, max.max(1))
}

/// Starts of `count` regions of side `region` spread evenly over `len` px:
/// `round(j·(len − region)/(count − 1))`, or one centred region when `count = 1`.
pub fn region_starts(len: usize, region: usize, count: usize) -> Vec<usize> {
    let span = len.saturating_sub(region);
    match count {
        0 => Vec::new(),
        1 => vec![span.div_ceil(2)],
        n => (0..n)
            // Round half up in integers: (2·j·span + (n − 1)) / (2·(n − 1)).
            .map(|j| (2 * j * span + (n - 1)) / (2 * (n - 1)))
            .collect(),
    }
}

/// Estimates one kernel per region (§8). `blurry` and `restored` are planar CHW sRGB in
/// [0, 1], 3 planes of `width × height`. Output is row-major over the region grid.
pub fn estimate_kernels(
    blurry: &[f32],
    restored: &[f32],
    width: usize,
    height: usize,
    opts: &PsfOptions,
) -> Result<Vec<RegionKernel>, PsfError> {
    let kw = opts.window;
    if kw % 2 == 0 || !(3..=MAX_WINDOW).contains(&kw) {
        return Err(PsfError::InvalidWindow(kw));
    }
    if !(opts.lambda_rel > 0.0 && opts.lambda_rel.is_finite()) {
        return Err(PsfError::InvalidLambda(opts.lambda_rel));
    }
    if !(opts.floor_sigmas >= 0.0 && opts.floor_sigmas.is_finite()) {
        return Err(PsfError::InvalidFloor(opts.floor_sigmas));
    }
    let expected = width.checked_mul(height).and_then(|p| p.checked_mul(3));
    for (which, buf) in [("blurry", blurry), ("restored", restored)] {
        if expected != Some(buf.len()) {
            return Err(PsfError::BufferSize {
                which,
                len: buf.len(),
                width,
                height,
            });
        }
    }
    let region = region_size(width, height, kw)?;
    let (cols, rows) = match opts.grid {
        Some((c, r)) if c == 0 || r == 0 => return Err(PsfError::InvalidGrid { cols: c, rows: r }),
        Some(g) => g,
        None if opts.max_grid == 0 => return Err(PsfError::InvalidGrid { cols: 0, rows: 0 }),
        None => (
            grid_count(width, region, opts.max_grid),
            grid_count(height, region, opts.max_grid),
        ),
    };

    let full = Level {
        scale: 1,
        width,
        height,
        region,
        planes: Planes::Srgb { blurry, restored },
    };
    let xs = region_starts(width, region, cols);
    let ys = region_starts(height, region, rows);
    let cells: Vec<(usize, usize)> = (0..rows)
        .flat_map(|r| (0..cols).map(move |c| (c, r)))
        .collect();
    let mut planner = FftPlanner::new();
    let fft = Fft2::new(&mut planner, region);
    let mut found: Vec<(usize, Estimate)> = cells
        .par_iter()
        .map(|&(col, row)| (0, estimate_region(&full, &fft, xs[col], ys[row], opts)))
        .collect();

    // §8 step 7, only for the regions that ask for it. Flat regions stay at scale 1: their
    // ring mass is noise, not blur.
    let wants_coarser = |e: &Estimate| e.texture >= MIN_TEXTURE && e.ring > RING_MAX;
    let coarse = if opts.auto_scale && found.iter().any(|(_, e)| wants_coarser(e)) {
        coarse_levels(blurry, restored, width, height, region)
    } else {
        Vec::new()
    };
    if !coarse.is_empty() {
        let plans: Vec<Fft2> = coarse
            .iter()
            .map(|l| Fft2::new(&mut planner, l.region))
            .collect();
        found
            .par_iter_mut()
            .zip(&cells)
            .filter(|((_, e), _)| wants_coarser(e))
            .for_each(|(best, &(col, row))| {
                let half = region as f64 / 2.0;
                let centre = (xs[col] as f64 + half, ys[row] as f64 + half);
                for (i, (level, fft)) in coarse.iter().zip(&plans).enumerate() {
                    if best.1.ring <= RING_MAX {
                        break;
                    }
                    let (x, y) = level.start_around(centre);
                    let est = estimate_region(level, fft, x, y, opts);
                    // A coarser estimate wins only if it fits the window better: upsampling
                    // costs detail, so it must buy something.
                    if est.texture >= MIN_TEXTURE && est.ring < best.1.ring {
                        *best = (i + 1, est);
                    }
                }
            });
    }
    Ok(found
        .into_iter()
        .zip(&cells)
        .map(|((i, est), &(col, row))| {
            let level = if i == 0 { &full } else { &coarse[i - 1] };
            level.finish(est, col, row, kw)
        })
        .collect())
}

/// Where a level's linear luminance comes from.
enum Planes<'a> {
    /// Full resolution, converted from the sRGB input region by region: without auto scale
    /// only the regions' pixels are ever converted (8×8 × 256² of a 24 MP photo is 1/6).
    Srgb {
        blurry: &'a [f32],
        restored: &'a [f32],
    },
    /// A downscaled level, stored whole.
    Luma {
        blurry: Vec<f32>,
        restored: Vec<f32>,
    },
}

/// One resolution of the image pair.
struct Level<'a> {
    scale: usize,
    width: usize,
    height: usize,
    /// Region side at this level.
    region: usize,
    planes: Planes<'a>,
}

impl Level<'_> {
    /// The `region × region` linear luminance of (restored, blurry) at `(x0, y0)`.
    fn crop(&self, x0: usize, y0: usize) -> (Vec<f32>, Vec<f32>) {
        let (n, w) = (self.region, self.width);
        let mut out = (vec![0.0f32; n * n], vec![0.0f32; n * n]);
        match &self.planes {
            Planes::Srgb { blurry, restored } => {
                let plane = w * self.height;
                for (src, dst) in [(restored, &mut out.0), (blurry, &mut out.1)] {
                    for (i, row) in dst.chunks_exact_mut(n).enumerate() {
                        let o = (y0 + i) * w + x0;
                        for (j, v) in row.iter_mut().enumerate() {
                            let p = o + j;
                            *v = luma(src[p], src[plane + p], src[2 * plane + p]);
                        }
                    }
                }
            }
            Planes::Luma { blurry, restored } => {
                for (src, dst) in [(restored, &mut out.0), (blurry, &mut out.1)] {
                    for (i, row) in dst.chunks_exact_mut(n).enumerate() {
                        row.copy_from_slice(&src[(y0 + i) * w + x0..][..n]);
                    }
                }
            }
        }
        out
    }

    /// Start of this level's region centred on an image-px point, kept inside the image.
    fn start_around(&self, centre: (f64, f64)) -> (usize, usize) {
        let f = self.scale as f64;
        let half = self.region as f64 / 2.0;
        let place = |c: f64, len: usize| {
            let max = len.saturating_sub(self.region) as f64;
            (c / f - half).round().clamp(0.0, max) as usize
        };
        (place(centre.0, self.width), place(centre.1, self.height))
    }

    /// Converts a level estimate into the reported image-px kernel.
    fn finish(&self, est: Estimate, col: usize, row: usize, kw: usize) -> RegionKernel {
        let (kernel, window) = upsample_kernel(&est.kernel, kw, self.scale);
        let stats = kernel_stats(&kernel, window);
        RegionKernel {
            col,
            row,
            x: est.x * self.scale,
            y: est.y * self.scale,
            size: self.region * self.scale,
            kernel,
            window,
            scale: self.scale,
            confidence: est.confidence,
            texture: est.texture,
            reliable: est.confidence >= MIN_CONFIDENCE && est.texture >= MIN_TEXTURE,
            stats,
        }
    }
}

/// Linear-light luminance of one sRGB pixel. Values outside [0, 1] are clamped and NaN reads
/// as 0, so one stray value from an unclamped network output cannot poison a region.
#[inline]
fn luma(r: f32, g: f32, b: f32) -> f32 {
    let lin = |v: f32| srgb_to_linear(if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) });
    luminance(lin(r), lin(g), lin(b))
}

/// The ½ and ¼ levels for auto scale: 2×2 box means of linear luminance (which commute with
/// blur up to the box's own footprint), as long as a ≥ 64-px region fits. The region side
/// stays `region` (shrunk only if the level is too small), so the window keeps the §8 ratio
/// `R ≥ 8·kw` and covers 2× or 4× more image px.
fn coarse_levels<'a>(
    blurry: &[f32],
    restored: &[f32],
    width: usize,
    height: usize,
    region: usize,
) -> Vec<Level<'a>> {
    let mut levels: Vec<Level<'a>> = Vec::new();
    let (mut w, mut h) = (width / 2, height / 2);
    let mut scale = 2;
    while scale <= MAX_SCALE && w.min(h) >= MIN_REGION {
        let planes = match levels.last() {
            None => Planes::Luma {
                blurry: halve_srgb(blurry, width, height),
                restored: halve_srgb(restored, width, height),
            },
            Some(Level {
                planes: Planes::Luma { blurry, restored },
                width: pw,
                ..
            }) => Planes::Luma {
                blurry: halve(blurry, *pw, w, h),
                restored: halve(restored, *pw, w, h),
            },
            Some(_) => break,
        };
        // Largest power of two ≤ the short side.
        let fits = 1usize << (usize::BITS - 1 - w.min(h).leading_zeros());
        levels.push(Level {
            scale,
            width: w,
            height: h,
            region: region.min(fits),
            planes,
        });
        (w, h, scale) = (w / 2, h / 2, scale * 2);
    }
    levels
}

/// Luminance of a planar sRGB image at half resolution (2×2 means of linear luminance); an odd
/// last row or column is dropped.
fn halve_srgb(rgb: &[f32], width: usize, height: usize) -> Vec<f32> {
    let (w, h, plane) = (width / 2, height / 2, width * height);
    let mut out = vec![0.0f32; w * h];
    out.par_chunks_mut(w.max(1))
        .enumerate()
        .for_each(|(y, row)| {
            for (x, v) in row.iter_mut().enumerate() {
                let p = 2 * y * width + 2 * x;
                let l = |p: usize| luma(rgb[p], rgb[plane + p], rgb[2 * plane + p]);
                *v = 0.25 * (l(p) + l(p + 1) + l(p + width) + l(p + width + 1));
            }
        });
    out
}

/// 2×2 box mean of a `src_w`-wide plane down to `w × h`.
fn halve(src: &[f32], src_w: usize, w: usize, h: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; w * h];
    out.par_chunks_mut(w.max(1))
        .enumerate()
        .for_each(|(y, row)| {
            let (a, b) = (&src[2 * y * src_w..], &src[(2 * y + 1) * src_w..]);
            for (x, v) in row.iter_mut().enumerate() {
                *v = 0.25 * (a[2 * x] + a[2 * x + 1] + b[2 * x] + b[2 * x + 1]);
            }
        });
    out
}

/// A region's estimate at its level's pixel scale.
struct Estimate {
    /// Region start in level px.
    x: usize,
    y: usize,
    /// `window × window`, non-negative, sum 1.
    kernel: Vec<f32>,
    confidence: f32,
    texture: f32,
    /// Mass fraction on the outer ring of the window.
    ring: f32,
}

/// §8 steps 3–6 for the region at `(x0, y0)` of `level`.
fn estimate_region(level: &Level, fft: &Fft2, x0: usize, y0: usize, opts: &PsfOptions) -> Estimate {
    let n = level.region;
    let kw = opts.window;
    let hann: Vec<f32> = (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos() as f32)
        .collect();
    let (s, b) = level.crop(x0, y0);
    let mean = |p: &[f32]| (p.iter().map(|&v| f64::from(v)).sum::<f64>() / (n * n) as f64) as f32;
    let (ms, mb) = (mean(&s), mean(&b));

    // Both real transforms in one complex FFT: z = w·s + i·w·b.
    let mut z = vec![Complex32::default(); n * n];
    for (i, row) in z.chunks_exact_mut(n).enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            let (p, wij) = (i * n + j, hann[i] * hann[j]);
            *v = Complex32::new(wij * (s[p] - ms), wij * (b[p] - mb));
        }
    }
    fft.forward(&mut z);
    // Split by Hermitian symmetry: S(u) = (Z(u) + Z*(−u))/2, B(u) = (Z(u) − Z*(−u))/(2i).
    let split = |u: usize, v: usize| split_real_pair(&z, n, u, v);
    let mut power = 0.0f64;
    for u in 0..n {
        for v in 0..n {
            power += f64::from(split(u, v).0.norm_sqr());
        }
    }
    // A constant region has S = 0: the floor keeps 0/λ finite (K = 0, then K[0,0] = 1).
    let lambda =
        ((f64::from(opts.lambda_rel) * power / (n * n) as f64) as f32).max(f32::MIN_POSITIVE);
    let mut k = vec![Complex32::default(); n * n];
    for u in 0..n {
        for v in 0..n {
            let (s, b) = split(u, v);
            k[u * n + v] = s.conj() * b / (s.norm_sqr() + lambda);
        }
    }
    k[0] = Complex32::new(1.0, 0.0);
    fft.inverse(&mut k);

    // Crop around offset 0 (index 0 after the inverse; wrapping = the circular shift).
    let r = kw / 2;
    let mut raw = vec![0.0f32; kw * kw];
    for (ty, row) in raw.chunks_exact_mut(kw).enumerate() {
        let u = (ty + n - r) % n;
        for (tx, t) in row.iter_mut().enumerate() {
            *t = k[u * n + (tx + n - r) % n].re;
        }
    }
    // Decision (deviation from §8 steps 5–6, off with `floor_sigmas = 0`): the per-frequency
    // quotient is noisy, and its noise spreads over all R² taps. Clamping at 0 keeps the
    // positive half of that floor (≈ ½ the mass of a 31×31 kernel on an unblurred oracle
    // region), which inflates the extent by 3–25 px and, summed over R² taps, drives the
    // step-6 ratio to 0.04–0.2 even for exact estimates. The floor's RMS is measured outside
    // the window (where a kernel that fits has no mass) and subtracted before clamping, in
    // the kernel and in both sums of the confidence.
    let all_sq: f64 = k.iter().map(|c| f64::from(c.re) * f64::from(c.re)).sum();
    let win_sq: f64 = raw.iter().map(|&t| f64::from(t) * f64::from(t)).sum();
    let outside = (n * n).saturating_sub(kw * kw).max(1) as f64;
    let floor =
        (f64::from(opts.floor_sigmas) * ((all_sq - win_sq).max(0.0) / outside).sqrt()) as f32;
    let mut kernel: Vec<f32> = raw.iter().map(|&t| (t - floor).max(0.0)).collect();
    let inside: f64 = kernel.iter().map(|&t| f64::from(t)).sum();
    let total: f64 = k
        .iter()
        .map(|c| f64::from((c.re.abs() - floor).max(0.0)))
        .sum();
    // Σk = K[0,0] = 1, so Σ|k| ≥ 1 in §8's literal ratio; the floor can push the sum below 1
    // when the region kernel is pure noise (unrelated images), and a lone spike inside the
    // window would then score near 1. Keeping the denominator ≥ 1 scores it by the share of
    // the unit mass it recovers instead.
    let confidence = (inside / total.max(1.0)) as f32;
    if inside > 0.0 {
        kernel
            .iter_mut()
            .for_each(|t| *t = (f64::from(*t) / inside) as f32);
    } else {
        // Nothing above the floor in the window: report a delta; confidence 0 flags it.
        kernel[r * kw + r] = 1.0;
    }

    let texture = texture(&s, &hann);
    // Decisions: the confidence stays the quotient's (how much of the restoration's relation
    // to the photo one kernel explains); refinement cannot make an unrelated restoration
    // related, and a flat region has nothing to refine on. Only scale 1 is refined: a coarser
    // level is reached when even the refined kernel does not fit the window, and there the
    // L0 alternation stretched a 45-px line to 55 px where the quotient reads 45. Where the
    // alternation finds no consistent blur (little texture, noise) it returns scattered
    // specks: a refined kernel replaces the quotient only if it is mostly one curve or blob.
    if opts.refine && level.scale == 1 && inside > 0.0 && texture >= MIN_TEXTURE {
        let refined = refine_kernel(&s, &b, n, kw, &kernel);
        if connected_share(&refined, kw) >= MIN_CONNECTED {
            kernel = refined;
        }
    }
    Estimate {
        x: x0,
        y: y0,
        ring: ring_fraction(&kernel, kw),
        kernel,
        confidence,
        texture,
    }
}

/// Hann-weighted RMS gradient magnitude (forward differences) of an `n × n` region.
fn texture(s: &[f32], hann: &[f32]) -> f32 {
    let n = hann.len();
    let (mut acc, mut wsum) = (0.0f64, 0.0f64);
    for i in 0..n.saturating_sub(1) {
        for j in 0..n - 1 {
            let p = i * n + j;
            let (gx, gy) = (s[p + 1] - s[p], s[p + n] - s[p]);
            let w = f64::from(hann[i] * hann[j]);
            acc += w * f64::from(gx * gx + gy * gy);
            wsum += w;
        }
    }
    if wsum > 0.0 {
        (acc / wsum).sqrt() as f32
    } else {
        0.0
    }
}

/// Width of the outer ring auto scale looks at: `round(window/16)`, at least 1 (2 px for 31).
///
/// Decision: a 1-px ring misses the commonest case. A line longer than the window crossed by
/// the crop leaves only its two end taps on a 1-px ring (2/31 ≈ 6 % < 10 %), so a 45-px blur
/// would never trigger; a ring ~1/16 of the window catches it while a kernel that fits with a
/// pixel to spare keeps its ring nearly empty.
pub fn ring_width(window: usize) -> usize {
    ((window + 8) / 16).max(1)
}

/// Fraction of the kernel's mass on its outer [`ring_width`] ring.
fn ring_fraction(kernel: &[f32], window: usize) -> f32 {
    let band = ring_width(window);
    let (mut ring, mut total) = (0.0f64, 0.0f64);
    for (i, &t) in kernel.iter().enumerate() {
        let (y, x) = (i / window, i % window);
        let edge = y.min(x).min(window - 1 - y).min(window - 1 - x);
        if edge < band {
            ring += f64::from(t);
        }
        total += f64::from(t);
    }
    if total > 0.0 {
        (ring / total) as f32
    } else {
        0.0
    }
}

/// Brings a kernel estimated at `1/scale` resolution back to image px.
///
/// Decision: bilinear interpolation of the coarse taps at image offset `(dy, dx)/scale`, on a
/// `scale·(window − 1) + 1` window (the coarse window's exact footprint), then renormalised to
/// sum 1. Interpolation is non-negative and keeps the centroid; it adds the variance of the tent
/// filter, `(scale² − 1)/6` px² per axis, on top of the `(scale² − 1)/12` of the 2×2 box used
/// to downscale, so a line of length ℓ reports a length of `√(ℓ² + 3(scale² − 1))` (45 → 45.1
/// at scale 2) and a tiny kernel reads as a few px wide, which is why auto scale only moves to
/// a coarser scale when the kernel does not fit the window.
fn upsample_kernel(kernel: &[f32], window: usize, scale: usize) -> (Vec<f32>, usize) {
    if scale <= 1 {
        return (kernel.to_vec(), window);
    }
    let out_w = scale * (window - 1) + 1;
    let mut out = vec![0.0f32; out_w * out_w];
    let last = window - 1;
    let coord = |o: usize| (o / scale, (o % scale) as f32 / scale as f32);
    for (oy, row) in out.chunks_exact_mut(out_w).enumerate() {
        let (iy, ty) = coord(oy);
        for (ox, t) in row.iter_mut().enumerate() {
            let (ix, tx) = coord(ox);
            let at = |y: usize, x: usize| kernel[y.min(last) * window + x.min(last)];
            *t = (1.0 - ty) * ((1.0 - tx) * at(iy, ix) + tx * at(iy, ix + 1))
                + ty * ((1.0 - tx) * at(iy + 1, ix) + tx * at(iy + 1, ix + 1));
        }
    }
    let total: f64 = out.iter().map(|&t| f64::from(t)).sum();
    if total > 0.0 {
        out.iter_mut()
            .for_each(|t| *t = (f64::from(*t) / total) as f32);
    }
    (out, out_w)
}

/// Extent, principal direction and length of a `window × window` kernel (negative taps are
/// ignored). All zeros for an empty kernel or a single tap.
pub fn kernel_stats(kernel: &[f32], window: usize) -> KernelStats {
    let zero = KernelStats {
        extent: 0.0,
        angle_deg: 0.0,
        length: 0.0,
    };
    if window == 0 || window.checked_mul(window) != Some(kernel.len()) {
        return zero;
    }
    let c = (window / 2) as f64;
    let (mut s, mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0.0f64, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, &t) in kernel.iter().enumerate() {
        let w = f64::from(t.max(0.0));
        let (y, x) = ((i / window) as f64 - c, (i % window) as f64 - c);
        s += w;
        sx += w * x;
        sy += w * y;
        sxx += w * x * x;
        syy += w * y * y;
        sxy += w * x * y;
    }
    if s <= 0.0 {
        return zero;
    }
    let (mx, my) = (sx / s, sy / s);
    let cxx = (sxx / s - mx * mx).max(0.0);
    let cyy = (syy / s - my * my).max(0.0);
    let cxy = sxy / s - mx * my;
    let half_diff = 0.5 * (cxx - cyy);
    let major = 0.5 * (cxx + cyy) + half_diff.hypot(cxy);
    // atan2(0, 0) = 0 covers isotropic kernels; the result is in (−90°, 90°].
    let angle = (0.5 * (2.0 * cxy).atan2(cxx - cyy))
        .to_degrees()
        .rem_euclid(180.0);
    KernelStats {
        extent: (12.0 * (cxx + cyy)).sqrt() as f32,
        // rem_euclid can round up to exactly 180.0 for tiny negative angles.
        angle_deg: if angle >= 180.0 { 0.0 } else { angle as f32 },
        length: (12.0 * major).sqrt() as f32,
    }
}

/// |DFT| of a `window × window` kernel, `window × window`, centred: the zero frequency is at
/// `(window/2, window/2)` and equals the kernel sum (1). Empty for a malformed kernel.
pub fn fourier_magnitude(kernel: &[f32], window: usize) -> Vec<f32> {
    if window == 0 || window.checked_mul(window) != Some(kernel.len()) {
        return Vec::new();
    }
    let fft = Fft2::new(&mut FftPlanner::new(), window);
    let mut z: Vec<Complex32> = kernel.iter().map(|&t| Complex32::new(t, 0.0)).collect();
    fft.forward(&mut z);
    let h = window / 2;
    let mut out = vec![0.0f32; window * window];
    for u in 0..window {
        for v in 0..window {
            out[((u + h) % window) * window + (v + h) % window] = z[u * window + v].norm();
        }
    }
    out
}

/// Normalised cross-correlation (Pearson) of two square kernels, maximised over integer shifts
/// of `b` up to `±max_shift` px per axis.
///
/// Both are zero-padded, centred, to the larger side `n`; for each shift the correlation is
/// taken over the `n × n` window with zeros shifted in, after subtracting each one's mean over
/// that window. Negative correlations and malformed or constant kernels give 0.
pub fn ncc(a: &[f32], a_size: usize, b: &[f32], b_size: usize, max_shift: i32) -> f32 {
    let square = |k: &[f32], size: usize| size > 0 && size.checked_mul(size) == Some(k.len());
    if !square(a, a_size) || !square(b, b_size) {
        return 0.0;
    }
    let n = a_size.max(b_size);
    let pad = |k: &[f32], size: usize| {
        let off = (n - size) / 2;
        let mut out = vec![0.0f64; n * n];
        for (i, row) in k.chunks_exact(size).enumerate() {
            for (j, &t) in row.iter().enumerate() {
                out[(i + off) * n + j + off] = f64::from(t);
            }
        }
        out
    };
    let (pa, pb) = (pad(a, a_size), pad(b, b_size));
    let count = (n * n) as f64;
    let sa: f64 = pa.iter().sum();
    let saa: f64 = pa.iter().map(|v| v * v).sum();
    let var_a = saa - sa * sa / count;
    let ms = max_shift.max(0) as isize;
    let ni = n as isize;
    let mut best = 0.0f64;
    for dy in -ms..=ms {
        for dx in -ms..=ms {
            let (mut sb, mut sbb, mut sab) = (0.0f64, 0.0f64, 0.0f64);
            for i in 0..ni {
                let bi = i - dy;
                if !(0..ni).contains(&bi) {
                    continue;
                }
                for j in 0..ni {
                    let bj = j - dx;
                    if !(0..ni).contains(&bj) {
                        continue;
                    }
                    let vb = pb[(bi * ni + bj) as usize];
                    sb += vb;
                    sbb += vb * vb;
                    sab += pa[(i * ni + j) as usize] * vb;
                }
            }
            let var_b = sbb - sb * sb / count;
            if var_a > 0.0 && var_b > 0.0 {
                best = best.max((sab - sa * sb / count) / (var_a * var_b).sqrt());
            }
        }
    }
    best as f32
}

#[cfg(test)]
#[path = "psf_tests.rs"]
mod tests;
