//! The kernel step of blind estimation: the kernel that maps the latent's gradients onto the
//! blurry photo's, `argmin_k Σ_∂ ‖m·(k ∗ ∂S − ∂B)‖² + γ‖k‖²` over the taps of a support, by
//! conjugate gradients on the normal equations (as Pan et al.'s `estimate_psf`). The
//! correlations the normal equations need are computed once per step by FFT; each CG
//! iteration then touches only the support's taps, so the cost does not grow with the photo.
//!
//! Solving on the support, rather than dividing in Fourier space and cropping, keeps the
//! unconstrained solution's ringing out of the window: that ringing is what the pruning
//! would otherwise have to tell from a faint part of the shake.

use rayon::prelude::*;

use super::fft::Fft2;
use super::kernel::Kernel;
use super::plane::Plane;

/// Tikhonov weight γ relative to the latent's gradient energy `Σ|∂S|²` (the normal matrix's
/// diagonal).
const TIKHONOV: f32 = 2e-2;
/// Conjugate-gradient iterations (Pan et al.: 20).
const CG_ITERATIONS: usize = 20;
/// Kernel taps below this share of the peak are cut (Pan et al.: 0.05).
const CUT: f32 = 0.1;
/// Connected groups of taps with less of the mass than this are removed (Pan et al.: 0.1).
const MIN_GROUP: f32 = 0.1;
/// The support is the previous kernel's, grown by this many px, so that a kernel grows along
/// its path instead of gaining a field of noise taps far from it (Xu & Jia's iterative
/// support detection has the same aim). Five alternations per level let a kernel grow by
/// 5 px per level, more than the √2 step between levels asks once the kernel is rescaled.
const SUPPORT_GROWTH: usize = 1;

/// The next kernel (side of `previous`), non-negative, pruned, normalised and recentred.
/// `weight` (same size as the planes) is applied to both gradient fields.
pub fn kernel_step(latent: &Plane, blurry: &Plane, weight: &Plane, previous: &Kernel) -> Kernel {
    let kw = previous.size;
    let (w, h) = (latent.w, latent.h);
    let fft = Fft2::new(h, w);
    let weighted = |g: Vec<f32>| {
        let g: Vec<f32> = g.iter().zip(&weight.data).map(|(a, m)| a * m).collect();
        fft.forward(&g)
    };
    let ((lx, ly), (bx, by)) = (latent.gradients(), blurry.gradients());
    let (lx, ly, bx, by) = (weighted(lx), weighted(ly), weighted(bx), weighted(by));
    // Autocorrelation of the latent's gradients and their cross-correlation with the
    // photo's: offset δ sits at index (δy mod h, δx mod w).
    let auto = fft.inverse(
        lx.iter()
            .zip(&ly)
            .map(|(x, y)| (x.norm_sqr() + y.norm_sqr()).into())
            .collect(),
    );
    let cross = fft.inverse(
        (0..fft.spectrum_len())
            .map(|i| lx[i].conj() * bx[i] + ly[i].conj() * by[i])
            .collect(),
    );
    let at = |plane: &[f32], dy: i64, dx: i64| {
        plane[(dy.rem_euclid(h as i64) as usize) * w + dx.rem_euclid(w as i64) as usize]
    };
    // The support's taps as offsets from the centre.
    let r = (kw / 2) as i64;
    let support: Vec<(i64, i64)> = previous
        .dilated_support(SUPPORT_GROWTH)
        .iter()
        .enumerate()
        .filter(|(_, &keep)| keep)
        .map(|(i, _)| ((i / kw) as i64 - r, (i % kw) as i64 - r))
        .collect();
    // Autocorrelation for every difference of two offsets, ±(kw − 1).
    let m = 2 * kw - 1;
    let span = kw as i64 - 1;
    let table: Vec<f32> = (0..m * m)
        .map(|i| at(&auto, (i / m) as i64 - span, (i % m) as i64 - span))
        .collect();
    let gamma = TIKHONOV * auto[0].max(f32::MIN_POSITIVE);
    let b: Vec<f32> = support.iter().map(|&(dy, dx)| at(&cross, dy, dx)).collect();
    let apply = |k: &[f32]| -> Vec<f32> {
        support
            .par_iter()
            .enumerate()
            .map(|(i, &(yi, xi))| {
                let mut acc = gamma * k[i];
                for (j, &(yj, xj)) in support.iter().enumerate() {
                    let d = ((yi - yj + span) as usize) * m + (xi - xj + span) as usize;
                    acc += table[d] * k[j];
                }
                acc
            })
            .collect()
    };
    let start: Vec<f32> = support
        .iter()
        .map(|&(dy, dx)| previous.taps[((dy + r) as usize) * kw + (dx + r) as usize])
        .collect();
    let k = conjugate_gradients(apply, &b, start, CG_ITERATIONS);
    let mut taps = vec![0.0f32; kw * kw];
    for (&(dy, dx), &v) in support.iter().zip(&k) {
        taps[((dy + r) as usize) * kw + (dx + r) as usize] = v;
    }
    Kernel::from_taps(kw, taps).pruned(CUT, MIN_GROUP).centred()
}

/// `iterations` steps of conjugate gradients on `A x = b` (A symmetric positive definite,
/// given as a product), from `x`.
fn conjugate_gradients(
    apply: impl Fn(&[f32]) -> Vec<f32>,
    b: &[f32],
    mut x: Vec<f32>,
    iterations: usize,
) -> Vec<f32> {
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum::<f64>();
    let ax = apply(&x);
    let mut r: Vec<f32> = b.iter().zip(&ax).map(|(b, a)| b - a).collect();
    let mut p = r.clone();
    let mut rr = dot(&r, &r);
    let floor = 1e-12 * dot(b, b).max(f64::MIN_POSITIVE);
    for _ in 0..iterations {
        if rr <= floor {
            break;
        }
        let ap = apply(&p);
        let pap = dot(&p, &ap);
        if pap <= 0.0 {
            break;
        }
        let alpha = (rr / pap) as f32;
        x.iter_mut().zip(&p).for_each(|(x, p)| *x += alpha * p);
        r.iter_mut().zip(&ap).for_each(|(r, a)| *r -= alpha * a);
        let next = dot(&r, &r);
        let beta = (next / rr) as f32;
        p.iter_mut().zip(&r).for_each(|(p, r)| *p = r + beta * *p);
        rr = next;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conjugate_gradients_solve_a_small_system() {
        // A = [[4, 1], [1, 3]], b = [1, 2]: x = [1/11, 7/11].
        let apply = |x: &[f32]| vec![4.0 * x[0] + x[1], x[0] + 3.0 * x[1]];
        let x = conjugate_gradients(apply, &[1.0, 2.0], vec![0.0, 0.0], 5);
        assert!((x[0] - 1.0 / 11.0).abs() < 1e-5 && (x[1] - 7.0 / 11.0).abs() < 1e-5);
    }

    #[test]
    fn the_kernel_of_a_known_blur_is_found() {
        // A latent of flat patches blurred by an L-shaped kernel: one step finds it.
        let (w, h) = (96, 96);
        let latent = Plane::new(
            w,
            h,
            (0..w * h)
                .map(|i| {
                    let (y, x) = (i / w, i % w);
                    f32::from(u8::from((x / 17 + y / 23) % 2 == 0)) * 0.8 + 0.1
                })
                .collect(),
        );
        let mut taps = vec![0.0f32; 81];
        for t in [40, 41, 42, 43, 52, 61] {
            taps[t] = 1.0;
        }
        let truth = Kernel::from_taps(9, taps);
        let fft = Fft2::new(h, w);
        let blurred = fft.inverse(
            fft.forward(&latent.data)
                .iter()
                .zip(&fft.otf(&truth.taps, 9))
                .map(|(a, b)| a * b)
                .collect(),
        );
        let blurry = Plane::new(w, h, blurred);
        let weight = Plane::new(w, h, vec![1.0; w * h]);
        // Started from a box over the whole window, so the support holds every tap.
        let k = kernel_step(
            &latent,
            &blurry,
            &weight,
            &Kernel::from_taps(9, vec![1.0; 81]),
        );
        let score = crate::analysis::psf::ncc(&k.taps, 9, &truth.taps, 9, 2);
        assert!(score > 0.95, "NCC {score}: {:?}", k.taps);
    }
}
