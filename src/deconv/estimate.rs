//! Blind kernel estimation from the blurry photo alone, coarse to fine (Pan et al. 2014/2017,
//! with Cho & Lee's 2009 kernel step in the gradient domain):
//!
//! 1. a pyramid of the linear-light luminance in steps of 1/√2, from the full kernel size
//!    down to a 3–5 px kernel, so that a long shake is first found as a short one;
//! 2. on each level, 8 (`ITERATIONS`) alternations of the L0 latent step
//!    ([`super::latent::l0_latent`]) and the kernel step ([`kernel_step`]: least squares on
//!    the gradients, non-negative, small taps and specks pruned, sum 1, recentred), with λ
//!    lowered by 1.1 per alternation so that finer structure joins as the kernel improves;
//! 3. the kernel rescaled to the next level.
//!
//! Clipped highlights are filled from their surroundings and left out of the kernel step: a
//! clipped point light is not the kernel times its brightness, so its smear would teach the
//! kernel a wrong shape.

use super::kernel::Kernel;
use super::kernel_step::kernel_step;
use super::latent::l0_latent;
use super::plane::Plane;

/// Alternations of latent and kernel step per level. Pan et al. use 5; 8 measured median NCC
/// 0.866 against 0.824 on the shakes of `tests/blind_deconv.rs` (read noise 0.005).
const ITERATIONS: usize = 8;
/// Initial weight of the L0 prior, for luminance scaled to a 0–1 range (Pan et al.'s 4e-3).
const LAMBDA: f32 = 4e-3;
/// λ is divided by this after each alternation, down to [`LAMBDA_MIN`].
const LAMBDA_DECAY: f32 = 1.1;
const LAMBDA_MIN: f32 = 1e-4;
/// Linear values at or above this are taken as clipped.
pub const CLIPPED: f32 = 0.97;
/// Coarsest level: its kernel side.
const COARSE_KERNEL: usize = 5;
/// Each level's plane must be at least this many times its kernel side.
const MIN_PLANE_PER_KERNEL: usize = 3;

/// Settings of [`estimate_kernel`].
#[derive(Debug, Clone, PartialEq)]
pub struct EstimateOptions {
    /// Odd kernel side, px.
    pub kernel_size: usize,
}

/// Pyramid levels: `(kernel side, scale)` from the finest (scale 1) to the coarsest.
pub fn levels(kernel_size: usize, w: usize, h: usize) -> Vec<(usize, f32)> {
    let mut out = vec![(kernel_size, 1.0f32)];
    let mut scale = 1.0f32;
    loop {
        scale *= std::f32::consts::FRAC_1_SQRT_2;
        let ks = odd((kernel_size as f32 * scale).round() as usize).max(3);
        let side = (w.min(h) as f32 * scale) as usize;
        let last = out[out.len() - 1].0;
        if last <= COARSE_KERNEL || ks >= last || side < MIN_PLANE_PER_KERNEL * ks {
            break;
        }
        out.push((ks, scale));
    }
    out
}

fn odd(n: usize) -> usize {
    n | 1
}

/// The blur kernel of `blurry` (linear-light luminance), centred on its centroid.
/// `cancelled` is polled between alternations; it returns `None` when it fires.
pub fn estimate_kernel(
    blurry: &Plane,
    opts: &EstimateOptions,
    cancelled: &dyn Fn() -> bool,
) -> Option<Kernel> {
    let ks = odd(opts.kernel_size.max(3));
    let clipped = Plane::new(
        blurry.w,
        blurry.h,
        blurry
            .data
            .iter()
            .map(|&v| if v >= CLIPPED { 1.0 } else { 0.0 })
            .collect(),
    );
    // Scale to a 0–1 range by a high percentile, so λ means the same on dim photos.
    let mut sorted: Vec<f32> = blurry
        .data
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    sorted.sort_by(f32::total_cmp);
    let top = sorted
        .get(sorted.len().saturating_sub(1) * 995 / 1000)
        .copied()
        .unwrap_or(1.0)
        .max(1e-3);
    let finite = Plane::new(
        blurry.w,
        blurry.h,
        blurry
            .data
            .iter()
            .map(|&v| {
                if v.is_finite() {
                    v.clamp(0.0, 1.0) / top
                } else {
                    0.0
                }
            })
            .collect(),
    );
    // Clipped smears are not the kernel times a brightness: the latent step would sharpen
    // them into structure that is not there, so they are filled with their surroundings.
    let scaled = fill_masked(&finite, &clipped, ks);
    let pyramid = levels(ks, blurry.w, blurry.h);
    let mut k: Option<(Kernel, f32)> = None;
    for &(kw, scale) in pyramid.iter().rev() {
        let (lw, lh) = (
            ((blurry.w as f32 * scale).round() as usize).max(kw),
            ((blurry.h as f32 * scale).round() as usize).max(kw),
        );
        let b = scaled.resize(lw, lh);
        let weight = data_weight(&clipped.resize(lw, lh), kw);
        let mut kernel = match k.take() {
            None => initial_kernel(kw),
            Some((prev, prev_scale)) => prev.rescaled(scale / prev_scale, kw),
        };
        let mut lambda = LAMBDA;
        for _ in 0..ITERATIONS {
            if cancelled() {
                return None;
            }
            let latent = l0_latent(&b, &kernel, lambda);
            kernel = kernel_step(&latent, &b, &weight, &kernel);
            lambda = (lambda / LAMBDA_DECAY).max(LAMBDA_MIN);
        }
        tracing::debug!(
            "blind estimate: level {kw} px at scale {scale:.3}, extent {:.1} px",
            kernel.extent()
        );
        k = Some((kernel, scale));
    }
    k.map(|(k, _)| k.centred())
}

/// `p` with every pixel within 2 px of a masked one replaced by the mean of the unmasked
/// pixels in the `(2·radius + 1)²` box around it (a normalised box filter, by summed-area
/// tables).
fn fill_masked(p: &Plane, mask: &Plane, radius: usize) -> Plane {
    let (w, h) = (p.w, p.h);
    let near = dilate(mask, 2);
    if !near.iter().any(|&m| m) {
        return p.clone();
    }
    // Summed-area tables of the kept values and of the kept count, (w + 1) × (h + 1).
    let mut sum = vec![0.0f64; (w + 1) * (h + 1)];
    let mut count = vec![0.0f64; (w + 1) * (h + 1)];
    for y in 0..h {
        for x in 0..w {
            let keep = !near[y * w + x];
            let i = (y + 1) * (w + 1) + x + 1;
            let v = if keep {
                f64::from(p.data[y * w + x])
            } else {
                0.0
            };
            sum[i] = v + sum[i - 1] + sum[i - w - 1] - sum[i - w - 2];
            count[i] =
                f64::from(u8::from(keep)) + count[i - 1] + count[i - w - 1] - count[i - w - 2];
        }
    }
    let boxed = |t: &[f64], x0: usize, y0: usize, x1: usize, y1: usize| {
        t[y1 * (w + 1) + x1] - t[y0 * (w + 1) + x1] - t[y1 * (w + 1) + x0] + t[y0 * (w + 1) + x0]
    };
    let mean = sum[(w + 1) * (h + 1) - 1] / count[(w + 1) * (h + 1) - 1].max(1.0);
    let mut out = p.clone();
    for y in 0..h {
        for x in 0..w {
            if near[y * w + x] {
                let (x0, y0) = (x.saturating_sub(radius), y.saturating_sub(radius));
                let (x1, y1) = ((x + radius + 1).min(w), (y + radius + 1).min(h));
                let c = boxed(&count, x0, y0, x1, y1);
                let v = if c > 0.0 {
                    boxed(&sum, x0, y0, x1, y1) / c
                } else {
                    mean
                };
                out.data[y * w + x] = v as f32;
            }
        }
    }
    out
}

/// Which pixels lie within `r` px (Chebyshev) of a positive one.
fn dilate(mask: &Plane, r: usize) -> Vec<bool> {
    let set: Vec<bool> = mask.data.iter().map(|&v| v > 0.0).collect();
    super::plane::dilate(&set, mask.w, mask.h, r)
}

/// Pan et al.'s start: two taps side by side at the centre.
fn initial_kernel(kw: usize) -> Kernel {
    let mut taps = vec![0.0; kw * kw];
    let c = kw * kw / 2;
    taps[c] = 0.5;
    taps[c - 1] = 0.5;
    Kernel::from_taps(kw, taps)
}

/// Weight of each pixel in the kernel step: 0 within a kernel's reach of a clipped pixel,
/// tapered to 0 over a kernel's width at the borders (the circular transform would join the
/// opposite borders there), 1 elsewhere.
fn data_weight(clipped: &Plane, kw: usize) -> Plane {
    let (w, h) = (clipped.w, clipped.h);
    let near = dilate(clipped, kw / 2 + 1);
    let ramp = |i: usize, n: usize| -> f32 {
        let d = i.min(n - 1 - i) as f32 / kw as f32;
        (0.5 - 0.5 * (std::f32::consts::PI * d.min(1.0)).cos()).clamp(0.0, 1.0)
    };
    let mut data = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            data[y * w + x] = if near[y * w + x] {
                0.0
            } else {
                ramp(x, w) * ramp(y, h)
            };
        }
    }
    Plane::new(w, h, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_go_down_by_root_two_to_a_small_kernel() {
        let l = levels(65, 800, 600);
        assert_eq!(l[0], (65, 1.0));
        assert!(l.last().is_some_and(|&(k, _)| k <= 7), "{l:?}");
        for pair in l.windows(2) {
            assert!(pair[1].0 < pair[0].0);
            assert!((pair[1].1 / pair[0].1 - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-5);
        }
        // A small plane stops the pyramid early: every level's plane holds 3 kernels.
        for (k, s) in levels(65, 200, 200) {
            assert!((200.0 * s) as usize >= 3 * k || s == 1.0);
        }
    }
}
