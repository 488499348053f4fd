//! Blur-degree map: how strongly each part of a photo is blurred, in image pixels.
//!
//! Two sources, and the map always says which one it came from:
//! * **Routers** (DHNet, models.md §5.5): the expected receptive field the routers chose,
//!   `mean_s 2^l · Σ_k w̄_{s,k} · k`, stitched across tiles by the engine with the image's
//!   ramps ([`crate::engine::deblur_planes_with_map`]). By itself nominal: which experts the
//!   network used. A recipe with the degree terms (`src/train/loss.rs`, as `dhnet-s`'s) trains
//!   it toward the true blur extent, so that it reads roughly in pixels of blur.
//! * **PSF** (any model, §8): the extent (√12 · RMS radius) of each region's kernel estimated
//!   from the photo and its restoration, interpolated between region centres. It needs no
//!   routers and no trained weights to be meaningful, only a restoration better than the
//!   input; it is as coarse as the region grid.
//!
//! Decisions: unreliable PSF regions (flat, or a poor fit; `RegionKernel::reliable`) take the
//! inverse-distance-weighted mean of the reliable ones, because a flat region's kernel is noise;
//! if none is reliable every region is used as it is. Between region centres the map is
//! bilinear, beyond the outer centres it is constant.

use super::psf::{
    estimate_kernels, region_size, region_starts, PsfError, PsfOptions, RegionKernel,
};

/// Where a blur map's values come from.
#[derive(Clone, Debug, PartialEq)]
pub enum BlurMapSource {
    /// DHNet's degradation-degree routers.
    Routers,
    /// One DHNet expert's share of the routers' weight (in [0, 1], mean over sites); the
    /// shares of all experts sum to 1 at every pixel.
    Expert { kernel: usize },
    /// The model-agnostic per-region PSF estimate; `reliable` of `regions` regions passed
    /// the estimator's checks.
    Psf { regions: usize, reliable: usize },
}

/// A per-pixel blur map at image size.
#[derive(Clone, Debug, PartialEq)]
pub struct BlurMap {
    pub width: usize,
    pub height: usize,
    /// Row-major `height × width`, in [`unit`](Self::unit).
    pub values: Vec<f32>,
    pub source: BlurMapSource,
}

impl BlurMap {
    /// What the values measure.
    pub fn quantity(&self) -> &'static str {
        match self.source {
            BlurMapSource::Routers => "blur degree (expected receptive field)",
            BlurMapSource::Expert { .. } => "expert share of the router weight",
            BlurMapSource::Psf { .. } => "blur extent (PSF size)",
        }
    }

    /// Unit of the values ("" for shares, which have none).
    pub fn unit(&self) -> &'static str {
        match self.source {
            BlurMapSource::Expert { .. } => "",
            _ => "px",
        }
    }

    /// The colour scale's natural ends, when it has them: shares run from 0 to 1.
    pub fn fixed_range(&self) -> Option<(f32, f32)> {
        matches!(self.source, BlurMapSource::Expert { .. }).then_some((0.0, 1.0))
    }

    /// Short label of the source, for legends and the GUI.
    pub fn source_label(&self) -> String {
        match self.source {
            BlurMapSource::Routers => "DHNet routers".into(),
            BlurMapSource::Expert { kernel } => format!("DHNet routers, {kernel}×{kernel} expert"),
            BlurMapSource::Psf { regions, reliable } => {
                format!("per-region PSF estimate, {reliable} of {regions} regions reliable")
            }
        }
    }

    /// One line: quantity, unit and source.
    pub fn legend(&self) -> String {
        format!(
            "{}; source: {}",
            self.quantity_with_unit(),
            self.source_label()
        )
    }

    /// "quantity, in unit", or the quantity alone when it has no unit.
    pub fn quantity_with_unit(&self) -> String {
        match self.unit() {
            "" => self.quantity().to_string(),
            unit => format!("{}, in {unit}", self.quantity()),
        }
    }

    /// Smallest and largest finite value (0, 0 for an empty map).
    pub fn range(&self) -> (f32, f32) {
        let finite = self.values.iter().copied().filter(|v| v.is_finite());
        let (lo, hi) = finite.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        if lo <= hi {
            (lo, hi)
        } else {
            (0.0, 0.0)
        }
    }

    /// Mean over the rectangle `[x0, x1) × [y0, y1)` (clipped to the map).
    pub fn mean_in(&self, x0: usize, y0: usize, x1: usize, y1: usize) -> f32 {
        let (x1, y1) = (x1.min(self.width), y1.min(self.height));
        let mut sum = 0.0f64;
        let mut n = 0usize;
        for y in y0..y1 {
            for v in &self.values[y * self.width + x0.min(x1)..y * self.width + x1] {
                sum += f64::from(*v);
                n += 1;
            }
        }
        if n == 0 {
            0.0
        } else {
            (sum / n as f64) as f32
        }
    }
}

/// A map from the routers' stitched degree values (see [`crate::engine::Restored`]).
pub fn from_routers(values: Vec<f32>, width: usize, height: usize) -> BlurMap {
    BlurMap {
        width,
        height,
        values,
        source: BlurMapSource::Routers,
    }
}

/// One expert's stitched share map (see [`crate::engine::Restored::expert_maps`]).
pub fn from_expert(values: Vec<f32>, kernel: usize, width: usize, height: usize) -> BlurMap {
    BlurMap {
        width,
        height,
        values,
        source: BlurMapSource::Expert { kernel },
    }
}

/// A map from the per-region PSF estimate of `blurry` against `restored` (planar sRGB,
/// `3 × height × width`; both sides at least [`super::psf::MIN_REGION`] px).
pub fn from_psf(
    blurry: &[f32],
    restored: &[f32],
    width: usize,
    height: usize,
    opts: &PsfOptions,
) -> Result<BlurMap, PsfError> {
    let kernels = estimate_kernels(blurry, restored, width, height, opts)?;
    from_kernels(&kernels, width, height, opts.window)
}

/// A map from kernels already estimated with a window of `window` px (the GUI estimates them
/// once for the inspector and derives the map from the same kernels).
pub fn from_kernels(
    kernels: &[RegionKernel],
    width: usize,
    height: usize,
    window: usize,
) -> Result<BlurMap, PsfError> {
    let values = psf_map(kernels, width, height, window)?;
    Ok(BlurMap {
        width,
        height,
        values,
        source: BlurMapSource::Psf {
            regions: kernels.len(),
            reliable: kernels.iter().filter(|k| k.reliable).count(),
        },
    })
}

/// Interpolates the regions' kernel extents over the image (row-major `height × width`).
/// `window` is the estimator's window, which fixed the region layout.
pub fn psf_map(
    kernels: &[RegionKernel],
    width: usize,
    height: usize,
    window: usize,
) -> Result<Vec<f32>, PsfError> {
    let cols = kernels.iter().map(|k| k.col + 1).max().unwrap_or(0);
    let rows = kernels.iter().map(|k| k.row + 1).max().unwrap_or(0);
    if cols == 0 || rows == 0 {
        return Ok(vec![0.0; width * height]);
    }
    // Centres of the scale-1 regions (coarser estimates are centred on them too, §8).
    let region = region_size(width, height, window)?;
    let centres = |len: usize, count: usize| -> Vec<f32> {
        region_starts(len, region, count)
            .into_iter()
            .map(|s| s as f32 + region as f32 / 2.0)
            .collect()
    };
    let (cx, cy) = (centres(width, cols), centres(height, rows));
    let grid = fill_unreliable(kernels, cols, rows);
    let wx: Vec<(usize, usize, f32)> = (0..width).map(|x| lerp_at(&cx, x)).collect();
    let mut out = Vec::with_capacity(width * height);
    for y in 0..height {
        let (r0, r1, ty) = lerp_at(&cy, y);
        for &(c0, c1, tx) in &wx {
            let at = |r: usize, c: usize| grid[r * cols + c];
            let top = at(r0, c0) * (1.0 - tx) + at(r0, c1) * tx;
            let bottom = at(r1, c0) * (1.0 - tx) + at(r1, c1) * tx;
            out.push(top * (1.0 - ty) + bottom * ty);
        }
    }
    Ok(out)
}

/// The neighbouring centres of pixel `p` (at `p + ½`) and the fraction towards the second;
/// constant beyond the outer centres.
fn lerp_at(centres: &[f32], p: usize) -> (usize, usize, f32) {
    let pos = p as f32 + 0.5;
    let last = centres.len() - 1;
    match centres.iter().position(|&c| c > pos) {
        Some(0) => (0, 0, 0.0),
        None => (last, last, 0.0),
        Some(i) => {
            let (a, b) = (centres[i - 1], centres[i]);
            let t = if b > a { (pos - a) / (b - a) } else { 0.0 };
            (i - 1, i, t)
        }
    }
}

/// Region extents on the `rows × cols` grid, unreliable regions replaced (module docs).
fn fill_unreliable(kernels: &[RegionKernel], cols: usize, rows: usize) -> Vec<f32> {
    let mut grid = vec![0.0f32; cols * rows];
    let mut ok = vec![false; cols * rows];
    for k in kernels {
        grid[k.row * cols + k.col] = k.stats.extent;
        ok[k.row * cols + k.col] = k.reliable;
    }
    if !ok.iter().any(|&r| r) {
        return grid;
    }
    let filled: Vec<f32> = (0..cols * rows)
        .map(|i| {
            if ok[i] {
                return grid[i];
            }
            let (r, c) = ((i / cols) as f32, (i % cols) as f32);
            let (mut num, mut den) = (0.0f32, 0.0f32);
            for j in (0..cols * rows).filter(|&j| ok[j]) {
                let (rj, cj) = ((j / cols) as f32, (j % cols) as f32);
                let w = 1.0 / ((r - rj).powi(2) + (c - cj).powi(2));
                num += w * grid[j];
                den += w;
            }
            num / den
        })
        .collect();
    filled
}

#[cfg(test)]
#[path = "blurmap_tests.rs"]
mod tests;
