//! Spatial convolution of planar images with a kernel.
//!
//! Decision: direct convolution over the non-zero taps instead of FFT. Motion kernels are
//! sparse (a 41-px shake path covers ~100–200 of its up to 4225 taps) and the densest kernels
//! are small (disk r ≤ 8: ≤ 240 taps, Gaussian ≤ 13×13), so the sparse direct sum costs at most
//! a few hundred vectorised row updates per output row, is exact in f32 (no FFT round-off
//! floor), needs no extra dependency, and measured faster than the rest of the pipeline
//! (see `sample.rs` timing test).

use rayon::prelude::*;

use super::error::SynthError;
use super::kernel::Kernel;

/// Taps grouped for the inner loop: `(dy, dx, w)` with `w ≠ 0`.
type Taps = [(isize, isize, f32)];

/// One output row: `out[x] = Σ w · src[y + m − dy][x + m − dx]` over the taps.
#[inline]
fn convolve_row(src: &[f32], src_w: usize, margin: usize, taps: &Taps, y: usize, out: &mut [f32]) {
    let ow = out.len();
    out.fill(0.0);
    for &(dy, dx, w) in taps {
        // Valid because |dy|, |dx| ≤ radius ≤ margin, checked by the callers.
        let row = (y + margin).wrapping_add_signed(-dy);
        let col = margin.wrapping_add_signed(-dx);
        let start = row * src_w + col;
        for (o, s) in out.iter_mut().zip(&src[start..start + ow]) {
            *o += w * s;
        }
    }
}

/// Convolves each plane of a planar image (`channels × height × width`) and keeps only the
/// outputs whose whole kernel footprint lies inside the input: the result is
/// `channels × (height − 2·margin) × (width − 2·margin)`, with `out(y, x)` centred on input
/// pixel `(y + margin, x + margin)`. Requires `kernel.radius() ≤ margin`.
///
/// True convolution: `out(y, x) = Σ k(dy, dx) · in(y − dy, x − dx)`.
pub fn convolve_valid(
    src: &[f32],
    width: usize,
    height: usize,
    margin: usize,
    kernel: &Kernel,
) -> Result<Vec<f32>, SynthError> {
    let plane = width * height;
    if plane == 0 || src.len() % plane != 0 {
        return Err(SynthError::InvalidImage(format!(
            "buffer of {} values is not a whole number of {width}×{height} planes",
            src.len()
        )));
    }
    if kernel.radius() > margin || width <= 2 * margin || height <= 2 * margin {
        return Err(SynthError::InvalidImage(format!(
            "kernel radius {} and margin {margin} do not fit a {width}×{height} image",
            kernel.radius()
        )));
    }
    let (ow, oh) = (width - 2 * margin, height - 2 * margin);
    let taps = kernel.nonzero_taps();
    let mut out = vec![0.0f32; (src.len() / plane) * ow * oh];
    for (src_plane, out_plane) in src.chunks_exact(plane).zip(out.chunks_exact_mut(ow * oh)) {
        for (y, out_row) in out_plane.chunks_exact_mut(ow).enumerate() {
            convolve_row(src_plane, width, margin, &taps, y, out_row);
        }
    }
    Ok(out)
}

/// Reflect-101 index (`… 2 1 | 0 1 2 … n−1 | n−2 …`), valid for any offset and any `n ≥ 1`.
pub(crate) fn reflect(i: isize, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    if m < n as isize {
        m as usize
    } else {
        (period - m) as usize
    }
}

/// Blurs a whole planar linear-light image (any number of `width × height` planes, normally
/// RGB) with `kernel`, same-size output, reflect-101 padding at the borders. Rows run in
/// parallel on the rayon pool; each pixel's sum order is fixed, so results do not depend on
/// the thread count.
pub fn blur_image_linear(
    rgb_linear_chw: &[f32],
    width: usize,
    height: usize,
    kernel: &Kernel,
) -> Result<Vec<f32>, SynthError> {
    let plane = width * height;
    if plane == 0 || rgb_linear_chw.len() % plane != 0 {
        return Err(SynthError::InvalidImage(format!(
            "buffer of {} values is not a whole number of {width}×{height} planes",
            rgb_linear_chw.len()
        )));
    }
    let r = kernel.radius();
    let (pw, ph) = (width + 2 * r, height + 2 * r);
    let taps = kernel.nonzero_taps();
    let mut out = vec![0.0f32; rgb_linear_chw.len()];
    for (src, dst) in rgb_linear_chw
        .chunks_exact(plane)
        .zip(out.chunks_exact_mut(plane))
    {
        let col_map: Vec<usize> = (0..pw)
            .map(|x| reflect(x as isize - r as isize, width))
            .collect();
        let mut padded = vec![0.0f32; pw * ph];
        for (py, prow) in padded.chunks_exact_mut(pw).enumerate() {
            let srow = &src[reflect(py as isize - r as isize, height) * width..][..width];
            for (p, &sx) in prow.iter_mut().zip(&col_map) {
                *p = srow[sx];
            }
        }
        dst.par_chunks_mut(width)
            .enumerate()
            .for_each(|(y, row)| convolve_row(&padded, pw, r, &taps, y, row));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::rng::sample_rng;
    use super::super::trajectory::trajectory_kernel;
    use super::*;

    #[test]
    fn reflect_mirrors_without_repeating_the_edge() {
        let got: Vec<usize> = (-3..8).map(|i| reflect(i, 5)).collect();
        assert_eq!(got, vec![3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1]);
        assert_eq!(reflect(-7, 1), 0);
        assert_eq!(reflect(9, 2), 1);
    }

    /// A point light at (py, px) must become the kernel itself, not its mirror image: this is
    /// what distinguishes convolution from correlation for an asymmetric shake kernel.
    #[test]
    fn point_light_reproduces_the_kernel_unflipped() {
        let mut rng = sample_rng(21, 0);
        let k = trajectory_kernel(&mut rng).kernel;
        let r = k.radius() as isize;
        let (w, h) = (101usize, 97usize);
        let (py, px) = (48isize, 50isize);
        let mut img = vec![0.0f32; 3 * w * h];
        for c in 0..3 {
            img[c * w * h + py as usize * w + px as usize] = 1.0;
        }
        let out = blur_image_linear(&img, w, h, &k).expect("valid sizes");
        for c in 0..3 {
            for dy in -r..=r {
                for dx in -r..=r {
                    let got = out[c * w * h + (py + dy) as usize * w + (px + dx) as usize];
                    let want = k.taps[((dy + r) * k.size as isize + dx + r) as usize];
                    assert!((got - want).abs() < 1e-7, "({dy},{dx}): {got} vs {want}");
                }
            }
        }
        // The same through the valid-region path.
        let m = 32usize;
        let (vw, vh) = (2 * m + 9, 2 * m + 9);
        let mut img = vec![0.0f32; vw * vh];
        img[(m + 4) * vw + m + 4] = 1.0;
        let out = convolve_valid(&img, vw, vh, m, &k).expect("valid sizes");
        let centre = out[4 * 9 + 4];
        assert_eq!(centre, k.taps[k.size * k.size / 2]);
    }

    #[test]
    fn blur_keeps_constants_and_rejects_bad_sizes() {
        let k = trajectory_kernel(&mut sample_rng(2, 2)).kernel;
        let (w, h) = (40, 30);
        let img = vec![0.37f32; w * h];
        let out = blur_image_linear(&img, w, h, &k).expect("valid sizes");
        assert!(out.iter().all(|v| (v - 0.37).abs() < 1e-5));
        assert!(blur_image_linear(&img, 41, 30, &k).is_err());
        assert!(convolve_valid(&img, w, h, 2, &k).is_err() || k.radius() <= 2);
    }
}
