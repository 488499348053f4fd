//! CPU reference of the spectral transforms (models.md §1.2) with rustfft, realfft for the
//! real/complex halves; the WGSL FFT (`gpu::fft`) is tested against it.
//!
//! `rfft2`: real-to-complex along W (W/2+1 bins), then complex along H; unnormalised.
//! `irfft2`: inverse along H, then complex-to-real along W with factor 1/(H·W); the imaginary
//! parts of the v = 0 and v = W/2 columns are dropped before the last step, as PyTorch does,
//! because spectra made by networks are not Hermitian.
//! Layout: real planes × H × W, spectra planes × H × (W/2+1) as (re, im) planes, row-major.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rayon::prelude::*;
use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};

use super::GpuError;

/// Columns handed to one rayon task in the H pass (each a contiguous run of `h` values).
const COLUMNS_PER_TASK: usize = 16;
/// Side of the square tiles of the blocked transpose.
const TILE: usize = 32;

/// The four 1-D plans of an `h × w` transform (also used by `deconv::fft`).
pub(crate) struct Plans {
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) r2c: Arc<dyn RealToComplex<f32>>,
    pub(crate) c2r: Arc<dyn ComplexToReal<f32>>,
    pub(crate) forward: Arc<dyn Fft<f32>>,
    pub(crate) inverse: Arc<dyn Fft<f32>>,
}

/// Plans from process-wide planners, which cache one plan per length.
pub(crate) fn plans(h: usize, w: usize) -> Plans {
    type Planners = (RealFftPlanner<f32>, FftPlanner<f32>);
    static PLANNERS: OnceLock<Mutex<Planners>> = OnceLock::new();
    let mut guard = PLANNERS
        .get_or_init(|| Mutex::new((RealFftPlanner::new(), FftPlanner::new())))
        .lock()
        // A panic elsewhere cannot leave a planner's cache half-written in a harmful way.
        .unwrap_or_else(PoisonError::into_inner);
    let (real, complex) = &mut *guard;
    Plans {
        h,
        w,
        r2c: real.plan_fft_forward(w),
        c2r: real.plan_fft_inverse(w),
        forward: complex.plan_fft_forward(h),
        inverse: complex.plan_fft_inverse(h),
    }
}

fn fft_error(e: realfft::FftError) -> GpuError {
    GpuError(format!("CPU FFT: {e}"))
}

/// Smallest `m ≥ n` whose only prime factors are 2, 3 and 5 (fast FFT lengths).
pub fn smooth_size(n: usize) -> usize {
    (n.max(1)..)
        .find(|&m| {
            let mut r = m;
            for p in [2, 3, 5] {
                while r % p == 0 {
                    r /= p;
                }
            }
            r == 1
        })
        .unwrap_or(n)
}

/// `dst[c·rows + r] = src[r·cols + c]`, in cache-sized tiles.
pub(crate) fn transpose(src: &[Complex32], dst: &mut [Complex32], rows: usize, cols: usize) {
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    dst[c * rows + r] = src[r * cols + c];
                }
            }
        }
    }
}

impl Plans {
    fn wc(&self) -> usize {
        self.w / 2 + 1
    }

    /// Unnormalised rfft2 of one plane (`h × w`) into `spec` (`h × wc`).
    fn forward(&self, x: &[f32], spec: &mut [Complex32]) -> Result<(), GpuError> {
        let r2c = &self.r2c;
        spec.par_chunks_mut(self.wc())
            .zip(x.par_chunks(self.w))
            .try_for_each_init(
                || (vec![0.0f32; self.w], r2c.make_scratch_vec()),
                |(row, scratch), (out, input)| {
                    // realfft uses its input as scratch, so it gets a copy.
                    row.copy_from_slice(input);
                    r2c.process_with_scratch(row, out, scratch)
                        .map_err(fft_error)
                },
            )?;
        self.columns(spec, self.forward.as_ref());
        Ok(())
    }

    /// irfft2 of one plane; `spec` is overwritten. Dropping the imaginary parts of the DC and
    /// Nyquist bins is both the convention and what realfft's c2r requires.
    fn inverse(&self, spec: &mut [Complex32], x: &mut [f32]) -> Result<(), GpuError> {
        self.columns(spec, self.inverse.as_ref());
        let (c2r, w) = (&self.c2r, self.w);
        let scale = 1.0 / (self.h * self.w) as f32;
        spec.par_chunks_mut(self.wc())
            .zip(x.par_chunks_mut(w))
            .try_for_each_init(
                || c2r.make_scratch_vec(),
                |scratch, (bins, out)| {
                    bins[0].im = 0.0;
                    if w % 2 == 0 {
                        bins[w / 2].im = 0.0;
                    }
                    c2r.process_with_scratch(bins, out, scratch)
                        .map_err(fft_error)?;
                    out.iter_mut().for_each(|v| *v *= scale);
                    Ok(())
                },
            )
    }

    /// The complex transform along H of every column of an `h × wc` plane, run on contiguous
    /// memory after a transpose.
    fn columns(&self, spec: &mut [Complex32], fft: &dyn Fft<f32>) {
        let (h, wc) = (self.h, self.wc());
        let mut t = vec![Complex32::default(); h * wc];
        transpose(spec, &mut t, h, wc);
        t.par_chunks_mut(h * COLUMNS_PER_TASK).for_each_init(
            || vec![Complex32::default(); fft.get_inplace_scratch_len()],
            |scratch, cols| fft.process_with_scratch(cols, scratch),
        );
        transpose(&t, spec, wc, h);
    }
}

fn check_shape(planes: usize, h: usize, w: usize) -> Result<(), GpuError> {
    if planes == 0 || h == 0 || w == 0 {
        return Err(GpuError(format!(
            "FFT shape {planes}×{h}×{w} has an empty axis"
        )));
    }
    Ok(())
}

fn check_len(what: &str, got: usize, want: usize) -> Result<(), GpuError> {
    if got != want {
        return Err(GpuError(format!(
            "{what} holds {got} values, expected {want}"
        )));
    }
    Ok(())
}

fn split(spec: &[Complex32]) -> (Vec<f32>, Vec<f32>) {
    (
        spec.iter().map(|c| c.re).collect(),
        spec.iter().map(|c| c.im).collect(),
    )
}

fn join(re: &[f32], im: &[f32]) -> Vec<Complex32> {
    re.iter()
        .zip(im)
        .map(|(&re, &im)| Complex32::new(re, im))
        .collect()
}

/// Unnormalised 2-D real FFT of `planes × h × w` values: `(re, im)`, each `planes × h × (w/2+1)`.
pub fn rfft2(
    x: &[f32],
    planes: usize,
    h: usize,
    w: usize,
) -> Result<(Vec<f32>, Vec<f32>), GpuError> {
    check_shape(planes, h, w)?;
    check_len("rfft2 input", x.len(), planes * h * w)?;
    let p = plans(h, w);
    let mut spec = vec![Complex32::default(); planes * h * p.wc()];
    spec.par_chunks_mut(h * p.wc())
        .zip(x.par_chunks(h * w))
        .try_for_each(|(s, x)| p.forward(x, s))?;
    Ok(split(&spec))
}

/// Inverse of [`rfft2`] with factor 1/(h·w); the output size is `planes × h × w`.
pub fn irfft2(
    re: &[f32],
    im: &[f32],
    planes: usize,
    h: usize,
    w: usize,
) -> Result<Vec<f32>, GpuError> {
    check_shape(planes, h, w)?;
    let n = planes * h * (w / 2 + 1);
    check_len("irfft2 real part", re.len(), n)?;
    check_len("irfft2 imaginary part", im.len(), n)?;
    let p = plans(h, w);
    let mut spec = join(re, im);
    let mut x = vec![0.0f32; planes * h * w];
    spec.par_chunks_mut(h * p.wc())
        .zip(x.par_chunks_mut(h * w))
        .try_for_each(|(s, x)| p.inverse(s, x))?;
    Ok(x)
}

/// `irfft2(rfft2(x) ⊙ OTF)`: each plane times its own spectrum (`planes × h × (w/2+1)`).
pub fn spectral_multiply(
    x: &[f32],
    otf_re: &[f32],
    otf_im: &[f32],
    planes: usize,
    h: usize,
    w: usize,
) -> Result<Vec<f32>, GpuError> {
    check_shape(planes, h, w)?;
    check_len("spectral_multiply input", x.len(), planes * h * w)?;
    let n = planes * h * (w / 2 + 1);
    check_len("OTF real part", otf_re.len(), n)?;
    check_len("OTF imaginary part", otf_im.len(), n)?;
    let p = plans(h, w);
    let otf = join(otf_re, otf_im);
    let mut y = vec![0.0f32; x.len()];
    let plane = h * p.wc();
    y.par_chunks_mut(h * w)
        .zip(x.par_chunks(h * w))
        .zip(otf.par_chunks(plane))
        .try_for_each(|((y, x), otf)| {
            let mut spec = vec![Complex32::default(); plane];
            p.forward(x, &mut spec)?;
            spec.iter_mut().zip(otf).for_each(|(s, o)| *s *= o);
            p.inverse(&mut spec, y)
        })?;
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn max_abs(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn a_cosine_has_one_bin_and_a_delta_a_phase_ramp() {
        let (h, w, u0, v0) = (16, 32, 3, 5);
        let x: Vec<f32> = (0..h * w)
            .map(|i| {
                let (r, c) = ((i / w) as f64, (i % w) as f64);
                (2.0 * PI * (u0 as f64 * r / h as f64 + v0 as f64 * c / w as f64)).cos() as f32
            })
            .collect();
        let (re, im) = rfft2(&x, 1, h, w).unwrap();
        let wc = w / 2 + 1;
        for u in 0..h {
            for v in 0..wc {
                // The partner bin (−u0, −v0) lies in the half that is not stored.
                let want = if (u, v) == (u0, v0) {
                    (h * w) as f32 / 2.0
                } else {
                    0.0
                };
                let i = u * wc + v;
                assert!(
                    (re[i] - want).abs() < 1e-3 && im[i].abs() < 1e-3,
                    "bin ({u},{v})"
                );
            }
        }

        let (r0, c0) = (5, 9);
        let mut delta = vec![0.0; h * w];
        delta[r0 * w + c0] = 1.0;
        let (re, im) = rfft2(&delta, 1, h, w).unwrap();
        for u in 0..h {
            for v in 0..wc {
                let phase = -2.0 * PI * ((u * r0) as f64 / h as f64 + (v * c0) as f64 / w as f64);
                let i = u * wc + v;
                assert!((re[i] as f64 - phase.cos()).abs() < 1e-5);
                assert!((im[i] as f64 - phase.sin()).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn round_trip_and_parseval() {
        for (planes, h, w) in [(3, 8, 8), (2, 16, 64), (1, 128, 32), (2, 12, 10)] {
            let x = values(planes * h * w, 7);
            let (re, im) = rfft2(&x, planes, h, w).unwrap();
            let back = irfft2(&re, &im, planes, h, w).unwrap();
            assert!(max_abs(&back, &x) < 1e-5, "{planes}x{h}x{w}");

            // Σ|x|² = (1/HW) Σ c_v |X|², c_v = 2 for the bins whose mirror is not stored.
            let wc = w / 2 + 1;
            let energy: f64 = x.iter().map(|&v| (v as f64).powi(2)).sum();
            let spectral: f64 = (0..re.len())
                .map(|i| {
                    let v = i % wc;
                    let c = if v == 0 || 2 * v == w { 1.0 } else { 2.0 };
                    c * ((re[i] as f64).powi(2) + (im[i] as f64).powi(2))
                })
                .sum::<f64>()
                / (h * w) as f64;
            assert!(
                (energy - spectral).abs() < 1e-5 * energy,
                "{energy} vs {spectral}"
            );
        }
    }

    #[test]
    fn multiplying_by_a_shifted_delta_shifts_and_ones_are_the_identity() {
        let (planes, h, w, dr, dc) = (2, 16, 8, 3, 6);
        let x = values(planes * h * w, 3);
        let mut delta = vec![0.0; planes * h * w];
        for p in 0..planes {
            delta[p * h * w + dr * w + dc] = 1.0;
        }
        let (ore, oim) = rfft2(&delta, planes, h, w).unwrap();
        let y = spectral_multiply(&x, &ore, &oim, planes, h, w).unwrap();
        for p in 0..planes {
            for r in 0..h {
                for c in 0..w {
                    let src = p * h * w + ((r + h - dr) % h) * w + (c + w - dc) % w;
                    assert!((y[p * h * w + r * w + c] - x[src]).abs() < 1e-5);
                }
            }
        }

        let n = planes * h * (w / 2 + 1);
        let same = spectral_multiply(&x, &vec![1.0; n], &vec![0.0; n], planes, h, w).unwrap();
        assert!(max_abs(&same, &x) < 1e-5);
    }

    /// irfft2(rfft2(x) ⊙ otf) by direct f64 summation of the §1.2 definition.
    fn direct(x: &[f32], ore: &[f32], oim: &[f32], h: usize, w: usize) -> Vec<f32> {
        let wc = w / 2 + 1;
        let cis = |a: f64| (a.cos(), a.sin());
        // Spectrum times the OTF.
        let mut y = vec![(0.0, 0.0); h * wc];
        for u in 0..h {
            for v in 0..wc {
                let (mut sr, mut si) = (0.0, 0.0);
                for r in 0..h {
                    for c in 0..w {
                        let (cr, ci) = cis(-2.0
                            * PI
                            * ((u * r) as f64 / h as f64 + (v * c) as f64 / w as f64));
                        sr += x[r * w + c] as f64 * cr;
                        si += x[r * w + c] as f64 * ci;
                    }
                }
                let (or, oi) = (ore[u * wc + v] as f64, oim[u * wc + v] as f64);
                y[u * wc + v] = (sr * or - si * oi, sr * oi + si * or);
            }
        }
        // Inverse along H.
        let mut z = vec![(0.0, 0.0); h * wc];
        for r in 0..h {
            for v in 0..wc {
                for u in 0..h {
                    let (cr, ci) = cis(2.0 * PI * (u * r) as f64 / h as f64);
                    let (yr, yi) = y[u * wc + v];
                    z[r * wc + v].0 += yr * cr - yi * ci;
                    z[r * wc + v].1 += yr * ci + yi * cr;
                }
            }
        }
        // c2r along W: only the real parts of the v = 0 and v = W/2 columns count.
        let mut out = vec![0.0; h * w];
        for r in 0..h {
            for c in 0..w {
                let mut s = z[r * wc].0 + z[r * wc + w / 2].0 * if c % 2 == 0 { 1.0 } else { -1.0 };
                for v in 1..w / 2 {
                    let (cr, ci) = cis(2.0 * PI * (v * c) as f64 / w as f64);
                    let (zr, zi) = z[r * wc + v];
                    s += 2.0 * (zr * cr - zi * ci);
                }
                out[r * w + c] = (s / (h * w) as f64) as f32;
            }
        }
        out
    }

    #[test]
    fn a_non_hermitian_otf_follows_the_direct_definition() {
        let (h, w) = (8, 8);
        let x = values(h * w, 11);
        let n = h * (w / 2 + 1);
        let (ore, oim) = (values(n, 12), values(n, 13));
        let got = spectral_multiply(&x, &ore, &oim, 1, h, w).unwrap();
        let want = direct(&x, &ore, &oim, h, w);
        assert!(max_abs(&got, &want) < 1e-5, "{}", max_abs(&got, &want));
    }

    #[test]
    fn imaginary_dc_and_nyquist_columns_are_ignored() {
        // Adding i·DFT_H(b) (b real) to the v = 0 and v = W/2 columns only adds i·b to those
        // columns after the inverse along H, which the c2r step drops.
        let (h, w) = (16, 8);
        let wc = w / 2 + 1;
        let (re, im) = rfft2(&values(h * w, 21), 1, h, w).unwrap();
        let want = irfft2(&re, &im, 1, h, w).unwrap();
        let (bre, bim) = rfft2(&values(h, 22), 1, h, 1).unwrap();
        let (mut pre, mut pim) = (re.clone(), im.clone());
        for v in [0, w / 2] {
            for u in 0..h {
                pre[u * wc + v] -= bim[u];
                pim[u * wc + v] += bre[u];
            }
        }
        let got = irfft2(&pre, &pim, 1, h, w).unwrap();
        assert!(max_abs(&got, &want) < 1e-5);
        assert!(max_abs(&pim, &im) > 0.5, "the perturbation must be visible");
    }

    #[test]
    fn wrong_lengths_are_errors() {
        assert!(rfft2(&[0.0; 10], 1, 4, 4).is_err());
        assert!(irfft2(&[0.0; 12], &[0.0; 11], 1, 4, 4).is_err());
        assert!(spectral_multiply(&[0.0; 16], &[0.0; 12], &[0.0; 12], 1, 0, 4).is_err());
    }
}
