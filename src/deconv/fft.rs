//! Real 2-D FFTs of rectangular planes for the deconvolution loops (rustfft + realfft).
//!
//! Spectra are kept in the layout the column pass leaves them in: `wc = w/2 + 1` rows of `h`
//! values (row `v` holds vertical frequencies `u = 0..h` of horizontal frequency `v`). Every
//! spectrum of one [`Fft2`] shares that layout, so element-wise products need no transpose
//! back; [`Fft2::freq`] names the `(u, v)` of an index.

use rayon::prelude::*;
use realfft::num_complex::Complex32;

pub use crate::gpu::fft_cpu::smooth_size;
use crate::gpu::fft_cpu::{plans, transpose, Plans};

/// Plans for one `h × w` real transform (the CPU FFT reference's, `gpu::fft_cpu`).
pub struct Fft2 {
    pub h: usize,
    pub w: usize,
    plans: Plans,
}

impl Fft2 {
    /// Plans from the process-wide planners, which cache one plan per length.
    pub fn new(h: usize, w: usize) -> Self {
        Self {
            h,
            w,
            plans: plans(h, w),
        }
    }

    /// Columns of the half spectrum.
    pub fn wc(&self) -> usize {
        self.w / 2 + 1
    }

    /// Length of a spectrum.
    pub fn spectrum_len(&self) -> usize {
        self.wc() * self.h
    }

    /// `(u, v)` (vertical, horizontal frequency) of spectrum index `i`.
    #[inline]
    pub fn freq(&self, i: usize) -> (usize, usize) {
        (i % self.h, i / self.h)
    }

    /// Unnormalised transform of an `h × w` row-major plane.
    pub fn forward(&self, x: &[f32]) -> Vec<Complex32> {
        let (h, w, wc) = (self.h, self.w, self.wc());
        debug_assert_eq!(x.len(), h * w);
        let mut rows = vec![Complex32::default(); h * wc];
        rows.par_chunks_mut(wc).zip(x.par_chunks(w)).for_each_init(
            || (vec![0.0f32; w], self.plans.r2c.make_scratch_vec()),
            |(input, scratch), (out, row)| {
                input.copy_from_slice(row);
                // Lengths come from the same plan, so this cannot fail.
                let _ = self.plans.r2c.process_with_scratch(input, out, scratch);
            },
        );
        let mut cols = vec![Complex32::default(); h * wc];
        transpose(&rows, &mut cols, h, wc);
        cols.par_chunks_mut(h).for_each_init(
            || vec![Complex32::default(); self.plans.forward.get_inplace_scratch_len()],
            |scratch, col| self.plans.forward.process_with_scratch(col, scratch),
        );
        cols
    }

    /// Inverse of [`Fft2::forward`], normalised by `1/(h·w)`; consumes the spectrum.
    pub fn inverse(&self, mut spec: Vec<Complex32>) -> Vec<f32> {
        let (h, w, wc) = (self.h, self.w, self.wc());
        debug_assert_eq!(spec.len(), h * wc);
        spec.par_chunks_mut(h).for_each_init(
            || vec![Complex32::default(); self.plans.inverse.get_inplace_scratch_len()],
            |scratch, col| self.plans.inverse.process_with_scratch(col, scratch),
        );
        let mut rows = vec![Complex32::default(); h * wc];
        transpose(&spec, &mut rows, wc, h);
        let scale = 1.0 / (h * w) as f32;
        let mut x = vec![0.0f32; h * w];
        x.par_chunks_mut(w)
            .zip(rows.par_chunks_mut(wc))
            .for_each_init(
                || self.plans.c2r.make_scratch_vec(),
                |scratch, (out, row)| {
                    // A real signal's DC and Nyquist bins are real; rounding leaves tiny
                    // imaginary parts that realfft would reject.
                    row[0].im = 0.0;
                    if w % 2 == 0 {
                        row[wc - 1].im = 0.0;
                    }
                    let _ = self.plans.c2r.process_with_scratch(row, out, scratch);
                    out.iter_mut().for_each(|v| *v *= scale);
                },
            );
        x
    }

    /// Transform of a `kw × kw` kernel (centre tap at offset 0, `kw` odd) placed circularly.
    pub fn otf(&self, k: &[f32], kw: usize) -> Vec<Complex32> {
        let (h, w) = (self.h, self.w);
        let r = kw / 2;
        let mut plane = vec![0.0f32; h * w];
        for (ty, row) in k.chunks_exact(kw).enumerate() {
            for (tx, &t) in row.iter().enumerate() {
                plane[((ty + h - r) % h) * w + (tx + w - r) % w] += t;
            }
        }
        self.forward(&plane)
    }

    /// `e^{2πi·m/len} − 1` per spectrum index for the forward differences along x and y.
    pub fn difference_otfs(&self) -> (Vec<Complex32>, Vec<Complex32>) {
        let d = |m: usize, len: usize| {
            let phase = 2.0 * std::f64::consts::PI * m as f64 / len as f64;
            Complex32::new(phase.cos() as f32 - 1.0, phase.sin() as f32)
        };
        (0..self.spectrum_len())
            .map(|i| {
                let (u, v) = self.freq(i);
                (d(v, self.w), d(u, self.h))
            })
            .unzip()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_convolves_circularly() {
        let (h, w) = (12, 10);
        let x: Vec<f32> = (0..h * w).map(|i| ((i * 37) % 11) as f32 / 11.0).collect();
        let f = Fft2::new(h, w);
        let back = f.inverse(f.forward(&x));
        for (a, b) in x.iter().zip(&back) {
            assert!((a - b).abs() < 1e-5);
        }
        // A kernel with one tap at offset (+1, +2) moves the plane by (1, 2), circularly.
        let mut k = vec![0.0f32; 25];
        k[(2 + 1) * 5 + 2 + 2] = 1.0;
        let spec: Vec<Complex32> = f
            .forward(&x)
            .iter()
            .zip(&f.otf(&k, 5))
            .map(|(a, b)| a * b)
            .collect();
        let moved = f.inverse(spec);
        for y in 0..h {
            for xx in 0..w {
                let want = x[((y + h - 1) % h) * w + (xx + w - 2) % w];
                assert!((moved[y * w + xx] - want).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn difference_otf_is_the_forward_difference() {
        let (h, w) = (8, 6);
        let x: Vec<f32> = (0..h * w).map(|i| ((i * 13) % 7) as f32).collect();
        let f = Fft2::new(h, w);
        let (dx, dy) = f.difference_otfs();
        let s = f.forward(&x);
        let gx = f.inverse(s.iter().zip(&dx).map(|(a, b)| a * b).collect());
        let gy = f.inverse(s.iter().zip(&dy).map(|(a, b)| a * b).collect());
        for y in 0..h {
            for xx in 0..w {
                let at = |yy: usize, xq: usize| x[(yy % h) * w + xq % w];
                assert!((gx[y * w + xx] - (at(y, xx + 1) - at(y, xx))).abs() < 1e-4);
                assert!((gy[y * w + xx] - (at(y + 1, xx) - at(y, xx))).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn smooth_sizes_have_small_factors() {
        assert_eq!(smooth_size(97), 100);
        assert_eq!(smooth_size(128), 128);
        assert_eq!(smooth_size(1), 1);
    }
}
