//! Static kernels: defocus disk and small anisotropic Gaussian (§12.2).

use std::f64::consts::PI;

use rand::Rng;

use super::kernel::{Kernel, KernelKind, SampledKernel, MAX_KERNEL_RADIUS};
use super::rng::uniform;

/// Defocus disk radius range, px.
const DEFOCUS_RADIUS: (f64, f64) = (1.0, 8.0);
/// Supersampling per axis for disk area coverage.
const DISK_SUPERSAMPLE: usize = 8;
/// Gaussian major-axis σ range, px; σ_minor is uniform in [0.5, σ_major].
const GAUSS_SIGMA: (f64, f64) = (0.5, 2.0);

/// Defocus disk with radius uniform in [1, 8] px.
pub fn defocus_kernel<R: Rng + ?Sized>(rng: &mut R) -> SampledKernel {
    defocus_kernel_with(uniform(rng, DEFOCUS_RADIUS.0, DEFOCUS_RADIUS.1))
}

/// Defocus disk of the given radius (clamped to [0.05, 31] px so it fits): each tap is the
/// disk's area coverage of that pixel, estimated on an 8×8 grid of sub-pixel centres.
pub fn defocus_kernel_with(radius: f64) -> SampledKernel {
    let radius = radius.clamp(0.05, MAX_KERNEL_RADIUS as f64 - 1.0);
    let (canvas, size) = disk_coverage(radius);
    SampledKernel {
        kind: KernelKind::Defocus,
        // A disk of radius ≥ 0.05 always covers the centre sub-samples, so the canvas is never
        // empty; the fallback only keeps this total.
        kernel: Kernel::from_canvas(&canvas, size).unwrap_or_else(Kernel::identity),
        // A uniform disk has E[ρ²] = r²/2, so √12 · RMS = √6 · r.
        extent: (6.0f64.sqrt() * radius) as f32,
    }
}

/// Unnormalised per-pixel coverage (fraction of the pixel inside the disk) on a
/// `(2⌈r⌉+1)²` canvas centred on the disk centre. The sum approximates π r².
pub(crate) fn disk_coverage(radius: f64) -> (Vec<f64>, usize) {
    let r = radius.ceil() as usize;
    let size = 2 * r + 1;
    let n = DISK_SUPERSAMPLE;
    let r2 = radius * radius;
    // Sub-sample offsets inside a pixel, relative to its centre.
    let sub: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5) / n as f64 - 0.5).collect();
    let mut canvas = vec![0.0f64; size * size];
    for (i, cell) in canvas.iter_mut().enumerate() {
        let y = (i / size) as f64 - r as f64;
        let x = (i % size) as f64 - r as f64;
        let inside = sub
            .iter()
            .flat_map(|sy| sub.iter().map(move |sx| (y + sy, x + sx)))
            .filter(|(py, px)| py * py + px * px <= r2)
            .count();
        *cell = inside as f64 / (n * n) as f64;
    }
    (canvas, size)
}

/// Anisotropic Gaussian: σ_major uniform in [0.5, 2], σ_minor uniform in [0.5, σ_major],
/// orientation uniform in [0, π).
pub fn gaussian_kernel<R: Rng + ?Sized>(rng: &mut R) -> SampledKernel {
    let major = uniform(rng, GAUSS_SIGMA.0, GAUSS_SIGMA.1);
    let minor = uniform(rng, GAUSS_SIGMA.0, major);
    let angle = uniform(rng, 0.0, PI);
    gaussian_kernel_with(major, minor, angle)
}

/// Gaussian with standard deviations `major ≥ minor` (px; clamped to [0.05, 10]) along the
/// direction `angle` (rad, from +x towards +y) and across it, on a `2⌈3σ_major⌉+1` square.
///
/// Decision: taps are point samples of the density at pixel centres (not pixel integrals), which
/// keeps the taps' second moments equal to σ² for σ ≳ 0.8; at σ = 0.5 sampling makes them
/// ~15 % smaller (aliasing of a 1-px-wide bump). The recorded extent uses the continuous σ's.
pub fn gaussian_kernel_with(major: f64, minor: f64, angle: f64) -> SampledKernel {
    let major = major.clamp(0.05, 10.0);
    let minor = minor.clamp(0.05, major);
    let r = (3.0 * major).ceil() as usize;
    let size = 2 * r + 1;
    let (s, c) = angle.sin_cos();
    let mut canvas = vec![0.0f64; size * size];
    for (i, cell) in canvas.iter_mut().enumerate() {
        let y = (i / size) as f64 - r as f64;
        let x = (i % size) as f64 - r as f64;
        let along = x * c + y * s;
        let across = -x * s + y * c;
        *cell = (-0.5 * ((along / major).powi(2) + (across / minor).powi(2))).exp();
    }
    // The spec fixes the Gaussian's size, so its outer ring is kept even where it is tiny.
    let total: f64 = canvas.iter().sum();
    let taps = canvas.iter().map(|v| (v / total) as f32).collect();
    SampledKernel {
        kind: KernelKind::Gaussian,
        kernel: Kernel { size, taps },
        extent: (12.0 * (major * major + minor * minor)).sqrt() as f32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Second moments (cov_xx, cov_yy, cov_xy) of a kernel's taps about the centre.
    fn moments(k: &Kernel) -> [f64; 3] {
        let mut m = [0.0; 3];
        for (dy, dx, w) in k.nonzero_taps() {
            let (y, x, w) = (dy as f64, dx as f64, f64::from(w));
            m[0] += w * x * x;
            m[1] += w * y * y;
            m[2] += w * x * y;
        }
        m
    }

    #[test]
    fn disk_coverage_approximates_its_area() {
        for i in 0..=28 {
            let r = 1.0 + 0.25 * i as f64;
            let (canvas, _) = disk_coverage(r);
            let area: f64 = canvas.iter().sum();
            let exact = PI * r * r;
            // The sum counts 1/64-px² sub-samples inside the circle, so the error is a lattice
            // count error along the rim (~16πr rim sub-cells, each off by < 1/64 px², mostly
            // cancelling). A scan of r ∈ [1, 8] in 1/64 steps gives |error| ≤ 0.171·r px²,
            // i.e. ≤ 4.9 % at r ≈ 1 and ≤ 0.7 % at r = 8; allow 0.2·r.
            let tol = 0.2 * r;
            assert!((area - exact).abs() < tol, "r {r}: area {area} vs {exact}");
        }
    }

    #[test]
    fn disk_kernel_is_radially_flat_and_has_disk_moments() {
        let s = defocus_kernel_with(6.0);
        let k = &s.kernel;
        assert_eq!(k.size, 13, "radius 6 disk touches pixels out to offset 6");
        let centre = k.taps[k.size * k.size / 2];
        let inner = k.taps[(k.radius() + 3) * k.size + k.radius() + 2];
        assert_eq!(centre, inner, "fully covered pixels share one weight");
        // E[x²] + E[y²] of a uniform disk is r²/2; pixel integration adds 1/12 per axis.
        let m = moments(k);
        let expected = 36.0 / 2.0 + 2.0 / 12.0;
        assert!((m[0] + m[1] - expected).abs() < 0.02 * expected, "{m:?}");
        assert!((f64::from(s.extent) - 6.0f64.sqrt() * 6.0).abs() < 1e-5);
    }

    #[test]
    fn gaussian_second_moments_match_sigmas() {
        for (major, minor, angle) in [(2.0, 1.0, 0.0), (1.5, 0.9, 0.7), (2.0, 2.0, 2.5)] {
            let s = gaussian_kernel_with(major, minor, angle);
            let k = &s.kernel;
            assert_eq!(k.size, 2 * (3.0 * major).ceil() as usize + 1);
            let (sn, cs) = f64::sin_cos(angle);
            let (a, b) = (major * major, minor * minor);
            let expected = [
                a * cs * cs + b * sn * sn,
                a * sn * sn + b * cs * cs,
                (a - b) * sn * cs,
            ];
            let m = moments(k);
            // Truncation at 3σ removes ~1.1 % of the variance along each principal axis
            // (the 2-D window clips a bit more); point sampling error is < 1e-6 for σ ≥ 0.9.
            for (got, want) in m.iter().zip(expected) {
                assert!((got - want).abs() < 0.03 * a, "{m:?} vs {expected:?}");
            }
            let extent = (12.0 * (a + b)).sqrt();
            assert!((f64::from(s.extent) - extent).abs() < 1e-4);
        }
    }
}
