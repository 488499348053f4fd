//! Blind refinement of a region's kernel: what the restoration left blurred is estimated too.
//!
//! The §8 quotient `conj(S)·B / (|S|² + λ)` finds the kernel that maps the restored region onto
//! the blurry one, i.e. the blur the model *undid*. Where the model leaves part of a long blur
//! in place, that is only part of the kernel (median NCC 0.5–0.6 against 22–30 px shakes with
//! the shipped nafnet-s). This module goes on from the restoration the way blind deconvolution
//! does (an L0 gradient prior in the manner of Pan et al., "Deblurring text images via
//! L0-regularized intensity and gradient prior", CVPR 2014, without the intensity term),
//! coarse to fine:
//!
//! 1. at the coarsest level (¼ or ½ resolution, box means), the kernel that maps the
//!    restoration's gradients onto the photo's;
//! 2. then `ITERATIONS` times: the latent sharp region under an L0 prior on its gradients
//!    (half-quadratic splitting, solved in Fourier space), and the kernel that maps the
//!    latent's gradients onto the photo's (Tikhonov in Fourier space, then non-negative,
//!    taps under `CUT` of the peak removed, sum 1);
//! 3. the kernel is upsampled to the next level and step 2 repeats.
//!
//! Starting from the restoration matters: from the blurry region alone the same iterations
//! reach median NCC 0.61 on 30 px shakes instead of 0.97 (measured on the `psf_tests` fixture
//! in a NumPy prototype of this module). Every constant below was chosen on that prototype.

use rustfft::num_complex::Complex32;
use rustfft::FftPlanner;

use super::fft2::{split_real_pair as split, Fft2};
use crate::gpu::fft_cpu::smooth_size;

/// Weight of the L0 gradient prior, in linear-light luminance units squared. Decision: 4e-3
/// (Pan et al.'s value); 1e-3 kept flat defocus disks sharper (oracle NCC 0.86 vs 0.70) but lost
/// long shakes (median 0.55 vs 0.94 at 26 px).
const LAMBDA: f32 = 4e-3;
/// Half-quadratic splitting: β grows from 2λ by this factor until it passes [`BETA_MAX`].
/// 4 and 1e4 matched 2 and 1e5 within 0.03 NCC at half the work (11 splitting steps, not 24).
const BETA_GROWTH: f32 = 4.0;
const BETA_MAX: f32 = 1e4;
/// Latent / kernel alternations per level.
const ITERATIONS: usize = 5;
/// Levels of the pyramid, the finest included (full, ½, ¼).
const LEVELS: usize = 3;
/// A level is used only if its region side is at least this.
const MIN_LEVEL_SIDE: usize = 32;
/// Tikhonov weight of the kernel step, relative to the mean gradient power.
const KERNEL_TIKHONOV: f32 = 4e-3;
/// Final registration against the quotient kernel searches shifts up to this many px.
const ALIGN_SEARCH: i64 = 3;
/// Kernel taps below this fraction of the peak are set to zero (noise of the quotient).
const CUT: f32 = 0.05;

/// The refined `window × window` kernel (non-negative, sum 1) of an `n × n` region, from its
/// restored and blurry linear luminance (row-major). Conventions are those of `psf`: tap
/// `(window/2 + dy, window/2 + dx)` is the weight of offset `(dy, dx)`.
///
/// Blind deconvolution cannot tell a shifted kernel from a shifted latent, so the iterations
/// may drift. The §8 quotient kernel `quotient` (same window) is pinned to the restoration's
/// coordinates: after every kernel step the kernel is moved (whole px) so that its centroid
/// stays at the quotient's, and the final kernel is moved by the shift (up to
/// ±[`ALIGN_SEARCH`] px) that best correlates it with the quotient.
pub(crate) fn refine_kernel(
    restored: &[f32],
    blurry: &[f32],
    n: usize,
    window: usize,
    quotient: &[f32],
) -> Vec<f32> {
    let centroid = centroid(quotient, window);
    let mut planner = FftPlanner::new();
    // Pyramid, finest first: (side, restored, blurry).
    let mut pyramid = vec![(n, restored.to_vec(), blurry.to_vec())];
    while pyramid.len() < LEVELS {
        let (side, r, b) = &pyramid[pyramid.len() - 1];
        if side / 2 < MIN_LEVEL_SIDE {
            break;
        }
        let half = (halve(r, *side), halve(b, *side), side / 2);
        pyramid.push((half.2, half.0, half.1));
    }
    let mut kernel: Option<(Vec<f32>, usize)> = None;
    for (level, (side, r, b)) in pyramid.iter().enumerate().rev() {
        let kw = level_window(window, 1 << level);
        let grads = GradientFft::new(&mut planner, *side);
        let deconv = L0Deconvolution::new(&mut planner, *side, kw);
        let scale = (1 << level) as f32;
        let target = (centroid.0 / scale, centroid.1 / scale);
        let mut k = match kernel.take() {
            None => recentre(grads.kernel(r, b, kw), kw, target),
            Some((k, from)) => upsample2(&k, from, kw),
        };
        for _ in 0..ITERATIONS {
            let latent = deconv.run(b, &k, kw);
            k = recentre(grads.kernel(&latent, b, kw), kw, target);
        }
        kernel = Some((k, kw));
    }
    match kernel {
        Some((k, kw)) if kw == window => align(k, quotient, kw),
        // Unreachable for level 0 (its window is `window`); a delta keeps the contract.
        _ => delta(window),
    }
}

/// Share of a kernel's mass in its heaviest 8-connected group of non-zero taps.
///
/// A camera-shake or defocus kernel is one connected blob or curve (share ≈ 1); where the
/// alternation finds no consistent blur (little texture, noise), the kernel step leaves
/// scattered specks above its cut, and the share drops.
pub(crate) fn connected_share(k: &[f32], window: usize) -> f32 {
    let total: f64 = k.iter().map(|&t| f64::from(t.max(0.0))).sum();
    if total <= 0.0 {
        return 0.0;
    }
    let mut seen = vec![false; k.len()];
    let mut best = 0.0f64;
    let mut stack = Vec::new();
    for start in 0..k.len() {
        if seen[start] || k[start] <= 0.0 {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut mass = 0.0f64;
        while let Some(i) = stack.pop() {
            mass += f64::from(k[i]);
            let (y, x) = ((i / window) as i64, (i % window) as i64);
            for (dy, dx) in (-1..=1).flat_map(|dy| (-1..=1).map(move |dx| (dy, dx))) {
                let (ny, nx) = (y + dy, x + dx);
                let inside = (0..window as i64).contains(&ny) && (0..window as i64).contains(&nx);
                if inside {
                    let j = ny as usize * window + nx as usize;
                    if !seen[j] && k[j] > 0.0 {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        best = best.max(mass);
    }
    (best / total) as f32
}

/// Odd window covering `window` image px at `1/scale` resolution (31 → 17 at ½, 9 at ¼).
fn level_window(window: usize, scale: usize) -> usize {
    let w = (window - 1) / scale + 1;
    w + (w + 1) % 2
}

fn delta(window: usize) -> Vec<f32> {
    let mut k = vec![0.0; window * window];
    k[window * window / 2] = 1.0;
    k
}

/// 2×2 box mean of an `n × n` plane (an odd last row or column is dropped).
fn halve(src: &[f32], n: usize) -> Vec<f32> {
    let h = n / 2;
    let mut out = vec![0.0f32; h * h];
    for (y, row) in out.chunks_exact_mut(h).enumerate() {
        let (a, b) = (&src[2 * y * n..], &src[(2 * y + 1) * n..]);
        for (x, v) in row.iter_mut().enumerate() {
            *v = 0.25 * (a[2 * x] + a[2 * x + 1] + b[2 * x] + b[2 * x + 1]);
        }
    }
    out
}

/// A kernel twice as fine: bilinear samples of `k` (side `from`) at offsets `d/2`, in an
/// `into`-wide window, sum 1.
fn upsample2(k: &[f32], from: usize, into: usize) -> Vec<f32> {
    let (c, cn) = ((from / 2) as f32, (into / 2) as f32);
    let at = |y: i64, x: i64| {
        let inside = (0..from as i64).contains(&y) && (0..from as i64).contains(&x);
        if inside {
            k[y as usize * from + x as usize]
        } else {
            0.0
        }
    };
    let mut out = vec![0.0f32; into * into];
    for (oy, row) in out.chunks_exact_mut(into).enumerate() {
        let sy = (oy as f32 - cn) / 2.0 + c;
        let (y0, fy) = (sy.floor() as i64, sy - sy.floor());
        for (ox, t) in row.iter_mut().enumerate() {
            let sx = (ox as f32 - cn) / 2.0 + c;
            let (x0, fx) = (sx.floor() as i64, sx - sx.floor());
            *t = (1.0 - fy) * ((1.0 - fx) * at(y0, x0) + fx * at(y0, x0 + 1))
                + fy * ((1.0 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
        }
    }
    normalise(out, into)
}

/// `(dy, dx)` centroid of a `window × window` kernel, relative to its centre tap.
fn centroid(k: &[f32], window: usize) -> (f32, f32) {
    let c = (window / 2) as f64;
    let (mut s, mut sy, mut sx) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &t) in k.iter().enumerate() {
        let t = f64::from(t.max(0.0));
        s += t;
        sy += t * ((i / window) as f64 - c);
        sx += t * ((i % window) as f64 - c);
    }
    if s > 0.0 {
        ((sy / s) as f32, (sx / s) as f32)
    } else {
        (0.0, 0.0)
    }
}

/// Moves `k` by whole px so that its centroid is as near `target` as the grid allows.
fn recentre(k: Vec<f32>, window: usize, target: (f32, f32)) -> Vec<f32> {
    let now = centroid(&k, window);
    let (dy, dx) = (
        (target.0 - now.0).round() as i64,
        (target.1 - now.1).round() as i64,
    );
    shift(k, window, dy, dx)
}

/// `k` moved by `(dy, dx)` whole px; taps pushed out of the window are dropped.
fn shift(k: Vec<f32>, window: usize, dy: i64, dx: i64) -> Vec<f32> {
    if dy == 0 && dx == 0 {
        return k;
    }
    let w = window as i64;
    let mut out = vec![0.0f32; window * window];
    for (i, &t) in k.iter().enumerate() {
        let (y, x) = (i as i64 / w + dy, i as i64 % w + dx);
        if (0..w).contains(&y) && (0..w).contains(&x) {
            out[(y * w + x) as usize] = t;
        }
    }
    normalise(out, window)
}

/// `k` moved by the whole-px shift (within ±[`ALIGN_SEARCH`]) that maximises `Σ k·reference`.
fn align(k: Vec<f32>, reference: &[f32], window: usize) -> Vec<f32> {
    let w = window as i64;
    let score = |dy: i64, dx: i64| -> f64 {
        let mut acc = 0.0f64;
        for (i, &t) in k.iter().enumerate() {
            let (y, x) = (i as i64 / w + dy, i as i64 % w + dx);
            if t > 0.0 && (0..w).contains(&y) && (0..w).contains(&x) {
                acc += f64::from(t) * f64::from(reference[(y * w + x) as usize]);
            }
        }
        acc
    };
    let r = ALIGN_SEARCH;
    let mut best = (score(0, 0), 0, 0);
    for dy in -r..=r {
        for dx in -r..=r {
            let s = score(dy, dx);
            if s > best.0 {
                best = (s, dy, dx);
            }
        }
    }
    shift(k, window, best.1, best.2)
}

/// Sum 1, or a delta when nothing is left.
fn normalise(mut k: Vec<f32>, window: usize) -> Vec<f32> {
    let total: f64 = k.iter().map(|&t| f64::from(t)).sum();
    if total > 0.0 {
        k.iter_mut()
            .for_each(|t| *t = (f64::from(*t) / total) as f32);
        k
    } else {
        delta(window)
    }
}

/// `e^{2πi·m/len} − 1`: the transform at frequency `m` of the forward difference
/// `x[i+1] − x[i]` on a circle of `len` samples.
fn forward_difference(m: usize, len: usize) -> Complex32 {
    let phase = 2.0 * std::f64::consts::PI * m as f64 / len as f64;
    Complex32::new(phase.cos() as f32 - 1.0, phase.sin() as f32)
}

/// The kernel step on one level: Hann-windowed forward differences, circular.
struct GradientFft {
    n: usize,
    fft: Fft2,
    /// Separable Hann weights `hann[i]·hann[j]`; they taper the region's borders, which the
    /// circular transform would otherwise read as edges.
    hann: Vec<f32>,
}

impl GradientFft {
    fn new(planner: &mut FftPlanner<f32>, n: usize) -> Self {
        let hann = (0..n)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos() as f32)
            .collect();
        Self {
            n,
            fft: Fft2::new(planner, n),
            hann,
        }
    }

    /// Transform of `w·∂x p + i·w·∂y p`.
    fn gradients(&self, p: &[f32]) -> Vec<Complex32> {
        let n = self.n;
        let mut z = vec![Complex32::default(); n * n];
        for (i, row) in z.chunks_exact_mut(n).enumerate() {
            let below = ((i + 1) % n) * n;
            for (j, v) in row.iter_mut().enumerate() {
                let at = i * n + j;
                let w = self.hann[i] * self.hann[j];
                let gx = p[i * n + (j + 1) % n] - p[at];
                let gy = p[below + j] - p[at];
                *v = Complex32::new(w * gx, w * gy);
            }
        }
        self.fft.forward(&mut z);
        z
    }

    /// The `kw × kw` kernel `k` minimising `Σ_∂ ‖k ∗ ∂latent − ∂blurry‖² + γ‖k‖²`, made
    /// non-negative, cut at [`CUT`] of its peak and normalised.
    fn kernel(&self, latent: &[f32], blurry: &[f32], kw: usize) -> Vec<f32> {
        let n = self.n;
        let (zl, zb) = (self.gradients(latent), self.gradients(blurry));
        let mut num = vec![Complex32::default(); n * n];
        let mut den = vec![0.0f32; n * n];
        for u in 0..n {
            for v in 0..n {
                let ((lx, ly), (bx, by)) = (split(&zl, n, u, v), split(&zb, n, u, v));
                num[u * n + v] = lx.conj() * bx + ly.conj() * by;
                den[u * n + v] = lx.norm_sqr() + ly.norm_sqr();
            }
        }
        let mean = (den.iter().map(|&d| f64::from(d)).sum::<f64>() / (n * n) as f64) as f32;
        let gamma = (KERNEL_TIKHONOV * mean).max(f32::MIN_POSITIVE);
        for (k, &d) in num.iter_mut().zip(&den) {
            *k /= d + gamma;
        }
        self.fft.inverse(&mut num);
        // Offset (dy, dx) sits at index (dy mod n, dx mod n) after the inverse.
        let r = kw / 2;
        let mut k = vec![0.0f32; kw * kw];
        for (ty, row) in k.chunks_exact_mut(kw).enumerate() {
            let u = (ty + n - r) % n;
            for (tx, t) in row.iter_mut().enumerate() {
                *t = num[u * n + (tx + n - r) % n].re.max(0.0);
            }
        }
        let peak = k.iter().copied().fold(0.0f32, f32::max);
        k.iter_mut().for_each(|t| {
            if *t < CUT * peak {
                *t = 0.0;
            }
        });
        normalise(k, kw)
    }
}

/// The latent step on one level: `argmin_L ‖k ∗ L − b‖² + λ·#{∇L ≠ 0}` by half-quadratic
/// splitting, on the region reflect-padded by the kernel window so that the circular
/// transform does not wrap one border's blur onto the other.
struct L0Deconvolution {
    n: usize,
    pad: usize,
    /// Padded side, rounded up to a product of 2, 3 and 5 for the FFT.
    side: usize,
    fft: Fft2,
    /// Transform of the forward difference along one axis: `Dx(u, v) = diff[v]`,
    /// `Dy(u, v) = diff[u]`.
    diff: Vec<Complex32>,
}

impl L0Deconvolution {
    fn new(planner: &mut FftPlanner<f32>, n: usize, kw: usize) -> Self {
        // Reflection needs pad < n.
        let pad = kw.min(n.saturating_sub(1));
        let side = smooth_size(n + 2 * pad);
        Self {
            n,
            pad,
            side,
            fft: Fft2::new(planner, side),
            diff: (0..side).map(|m| forward_difference(m, side)).collect(),
        }
    }

    /// Latent sharp `n × n` region of `blurry` under kernel `k` (side `kw`).
    fn run(&self, blurry: &[f32], k: &[f32], kw: usize) -> Vec<f32> {
        let (n, side) = (self.n, self.side);
        let reflect = |i: usize| -> usize {
            // Padded index i ↦ region index, mirrored at both borders (edge not repeated).
            let j = i as i64 - self.pad as i64;
            let m = (n as i64 - 1).max(1);
            let period = 2 * m;
            let r = j.rem_euclid(period);
            (if r > m { period - r } else { r }) as usize
        };
        let map: Vec<usize> = (0..side).map(reflect).collect();
        let mut fb = vec![Complex32::default(); side * side];
        for (i, row) in fb.chunks_exact_mut(side).enumerate() {
            let src = &blurry[map[i] * n..][..n];
            for (j, v) in row.iter_mut().enumerate() {
                *v = Complex32::new(src[map[j]], 0.0);
            }
        }
        self.fft.forward(&mut fb);
        let mut kf = vec![Complex32::default(); side * side];
        let r = kw / 2;
        for (ty, row) in k.chunks_exact(kw).enumerate() {
            for (tx, &t) in row.iter().enumerate() {
                kf[((ty + side - r) % side) * side + (tx + side - r) % side] =
                    Complex32::new(t, 0.0);
            }
        }
        self.fft.forward(&mut kf);

        let num0: Vec<Complex32> = kf.iter().zip(&fb).map(|(k, b)| k.conj() * b).collect();
        let den0: Vec<f32> = kf.iter().map(|k| k.norm_sqr()).collect();
        let dd = |u: usize, v: usize| self.diff[v].norm_sqr() + self.diff[u].norm_sqr();
        // The latent starts as the blurry region itself.
        let mut fs = fb;
        let mut g = vec![Complex32::default(); side * side];
        let mut beta = 2.0 * LAMBDA;
        while beta < BETA_MAX {
            // Gradients of the current latent, both real: ∂x + i·∂y in one inverse transform.
            for u in 0..side {
                for v in 0..side {
                    let s = fs[u * side + v];
                    g[u * side + v] = self.diff[v] * s + Complex32::i() * self.diff[u] * s;
                }
            }
            self.fft.inverse(&mut g);
            // L0 step: keep a gradient only where it pays its λ/β.
            let keep = LAMBDA / beta;
            for v in g.iter_mut() {
                if v.norm_sqr() < keep {
                    *v = Complex32::default();
                }
            }
            self.fft.forward(&mut g);
            for u in 0..side {
                for v in 0..side {
                    let (gx, gy) = split(&g, side, u, v);
                    let p = u * side + v;
                    let reg = self.diff[v].conj() * gx + self.diff[u].conj() * gy;
                    fs[p] = (num0[p] + reg * beta) / (den0[p] + beta * dd(u, v));
                }
            }
            beta *= BETA_GROWTH;
        }
        self.fft.inverse(&mut fs);
        let mut out = vec![0.0f32; n * n];
        for (i, row) in out.chunks_exact_mut(n).enumerate() {
            let src = &fs[(i + self.pad) * side + self.pad..][..n];
            for (o, s) in row.iter_mut().zip(src) {
                *o = s.re;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connected_share_separates_curves_from_specks() {
        let w = 15;
        let mut line = vec![0.0f32; w * w];
        (2..13).for_each(|x| line[7 * w + x] = 1.0);
        // A diagonal step is 8-connected.
        line[8 * w + 13] = 1.0;
        assert!((connected_share(&line, w) - 1.0).abs() < 1e-6);
        let mut specks = vec![0.0f32; w * w];
        for i in (0..w * w).step_by(17) {
            specks[i] = 1.0;
        }
        let expected = 1.0 / specks.iter().filter(|&&t| t > 0.0).count() as f32;
        assert!((connected_share(&specks, w) - expected).abs() < 1e-6);
        assert_eq!(connected_share(&vec![0.0; w * w], w), 0.0);
    }

    #[test]
    fn smooth_sizes_have_small_factors() {
        assert_eq!(smooth_size(318), 320);
        assert_eq!(smooth_size(162), 162);
        assert_eq!(smooth_size(7), 8);
        assert_eq!(smooth_size(1), 1);
    }

    #[test]
    fn level_windows_are_odd_and_cover_the_window() {
        assert_eq!(level_window(31, 1), 31);
        assert_eq!(level_window(31, 2), 17);
        assert_eq!(level_window(31, 4), 9);
        assert_eq!(level_window(15, 4), 5);
    }

    /// Upsampling a centred delta gives a compact centred blob; an offset tap moves by twice
    /// its offset.
    #[test]
    fn upsampling_doubles_offsets() {
        let mut k = vec![0.0f32; 9 * 9];
        k[4 * 9 + 6] = 1.0; // offset (0, +2)
        let up = upsample2(&k, 9, 17);
        let (mut cy, mut cx) = (0.0f32, 0.0f32);
        for (i, &t) in up.iter().enumerate() {
            cy += t * ((i / 17) as f32 - 8.0);
            cx += t * ((i % 17) as f32 - 8.0);
        }
        assert!((up.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(
            cy.abs() < 1e-4 && (cx - 4.0).abs() < 1e-4,
            "centroid ({cy}, {cx})"
        );
    }

    /// With the true kernel, the L0 latent of a blurred step edge is a step again: its 10–90 %
    /// rise spans at most 2 px where the blur's spans 5. (The levels come out a little closer
    /// together, 0.127 and 0.573 for 0.1 and 0.6 in the NumPy prototype: β stops at 1e4.)
    #[test]
    fn l0_deconvolution_sharpens_a_blurred_edge() {
        let n = 64;
        let sharp: Vec<f32> = (0..n * n)
            .map(|i| if (i % n) < n / 2 { 0.1 } else { 0.6 })
            .collect();
        // Horizontal box blur of 7 px, edge-clamped at the borders.
        let kw = 7;
        let mut k = vec![0.0f32; kw * kw];
        k[3 * kw..4 * kw].iter_mut().for_each(|t| *t = 1.0 / 7.0);
        let blurry: Vec<f32> = (0..n * n)
            .map(|i| {
                let (y, x) = (i / n, (i % n) as i64);
                (-3..=3)
                    .map(|d| {
                        let xs = (x - d).clamp(0, n as i64 - 1) as usize;
                        sharp[y * n + xs]
                    })
                    .sum::<f32>()
                    / 7.0
            })
            .collect();
        let rise = |img: &[f32]| {
            let row = &img[32 * n..33 * n];
            let (lo, hi) = (row[8], row[n - 8]);
            let above = |f: f32| {
                row.iter()
                    .position(|&v| v > lo + f * (hi - lo))
                    .unwrap_or(n)
            };
            above(0.9) - above(0.1)
        };
        let mut planner = FftPlanner::new();
        let latent = L0Deconvolution::new(&mut planner, n, kw).run(&blurry, &k, kw);
        eprintln!(
            "rise: latent {} px, blurry {} px",
            rise(&latent),
            rise(&blurry)
        );
        assert!(rise(&blurry) >= 5);
        assert!(rise(&latent) <= 2, "latent rise {} px", rise(&latent));
    }
}
