//! Square 2-D complex FFTs on row-major buffers, composed from rustfft 1-D plans.
//!
//! Rows are transformed in one batched call, the buffer is transposed, rows again, and
//! transposed back, so every 1-D transform runs on contiguous memory.

use std::sync::Arc;

use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

/// Forward and inverse plans for one side length `n`. Plans are `Send + Sync`, so one `Fft2`
/// serves all rayon workers.
pub(crate) struct Fft2 {
    n: usize,
    forward: Arc<dyn Fft<f32>>,
    inverse: Arc<dyn Fft<f32>>,
}

impl Fft2 {
    pub(crate) fn new(planner: &mut FftPlanner<f32>, n: usize) -> Self {
        Self {
            n,
            forward: planner.plan_fft_forward(n),
            inverse: planner.plan_fft_inverse(n),
        }
    }

    /// Unnormalised forward transform of an `n × n` buffer, in place.
    pub(crate) fn forward(&self, data: &mut [Complex32]) {
        self.run(self.forward.as_ref(), data);
    }

    /// Inverse transform of an `n × n` buffer, in place, normalised by `1/n²`.
    pub(crate) fn inverse(&self, data: &mut [Complex32]) {
        self.run(self.inverse.as_ref(), data);
        let scale = 1.0 / (self.n * self.n) as f32;
        for v in data.iter_mut() {
            *v *= scale;
        }
    }

    fn run(&self, fft: &dyn Fft<f32>, data: &mut [Complex32]) {
        let n = self.n;
        // Callers allocate exactly n² values; this keeps a mismatch from reaching rustfft's panic.
        debug_assert_eq!(data.len(), n * n, "Fft2 of side {n}");
        if n == 0 || data.len() != n * n {
            return;
        }
        let mut scratch = vec![Complex32::default(); fft.get_inplace_scratch_len()];
        let mut tmp = vec![Complex32::default(); n * n];
        fft.process_with_scratch(data, &mut scratch);
        transpose(data, &mut tmp, n);
        fft.process_with_scratch(&mut tmp, &mut scratch);
        transpose(&tmp, data, n);
    }
}

/// Splits the `n × n` transform `z` of `a + i·b` (`a`, `b` real) at frequency `(u, v)` into
/// the transforms of `a` and `b`, by Hermitian symmetry: `A(u) = (Z(u) + Z*(−u))/2`,
/// `B(u) = (Z(u) − Z*(−u))/(2i)`. Two real FFTs for the price of one complex one.
pub(crate) fn split_real_pair(
    z: &[Complex32],
    n: usize,
    u: usize,
    v: usize,
) -> (Complex32, Complex32) {
    let p = z[u * n + v];
    let q = z[((n - u) % n) * n + (n - v) % n].conj();
    let d = (p - q) * 0.5;
    ((p + q) * 0.5, Complex32::new(d.im, -d.re))
}

/// `dst = srcᵀ` for `n × n` row-major buffers, in 16×16 blocks to stay in cache.
fn transpose(src: &[Complex32], dst: &mut [Complex32], n: usize) {
    const BLOCK: usize = 16;
    for i0 in (0..n).step_by(BLOCK) {
        for j0 in (0..n).step_by(BLOCK) {
            for i in i0..(i0 + BLOCK).min(n) {
                for j in j0..(j0 + BLOCK).min(n) {
                    dst[j * n + i] = src[i * n + j];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct O(n⁴) DFT as the reference.
    fn dft2(x: &[Complex32], n: usize) -> Vec<Complex32> {
        let mut out = vec![Complex32::default(); n * n];
        for u in 0..n {
            for v in 0..n {
                let mut acc = (0.0f64, 0.0f64);
                for i in 0..n {
                    for j in 0..n {
                        let phase =
                            -2.0 * std::f64::consts::PI * ((u * i + v * j) % n) as f64 / n as f64;
                        let (s, c) = phase.sin_cos();
                        let (re, im) = (f64::from(x[i * n + j].re), f64::from(x[i * n + j].im));
                        acc.0 += re * c - im * s;
                        acc.1 += re * s + im * c;
                    }
                }
                out[u * n + v] = Complex32::new(acc.0 as f32, acc.1 as f32);
            }
        }
        out
    }

    #[test]
    fn matches_direct_dft_and_round_trips() {
        let mut planner = FftPlanner::new();
        for n in [8usize, 15, 16] {
            let fft = Fft2::new(&mut planner, n);
            let x: Vec<Complex32> = (0..n * n)
                .map(|i| Complex32::new(((i * 37 % 11) as f32) - 5.0, ((i * 13 % 7) as f32) - 3.0))
                .collect();
            let mut y = x.clone();
            fft.forward(&mut y);
            for (a, b) in y.iter().zip(dft2(&x, n)) {
                assert!((a - b).norm() < 1e-3, "n = {n}: {a} vs {b}");
            }
            fft.inverse(&mut y);
            for (a, b) in y.iter().zip(&x) {
                assert!((a - b).norm() < 1e-4, "round trip n = {n}");
            }
        }
    }
}
