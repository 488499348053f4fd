//! Direct depthwise "same" convolution on the CPU for [`super::depthwise`]'s flex backend: one
//! output plane per task, zero-padded once, then blocks of 16 output columns accumulated over
//! all taps in registers, which the compiler vectorises. On x86-64 the loop is compiled a
//! second time with AVX2 and FMA and chosen at run time (the default target is SSE2 only).

use rayon::prelude::*;

/// `out[n,c] = Σ_(i,j) w[c,i,j] · x[n,c, y+i−p, x+j−p]` (zero outside the image, `p = k/2`) for a
/// contiguous `[N, C, H, W]` input and `[C, k, k]` taps; with `flip` the taps are used rotated by
/// 180°, which gives the input gradient from the output gradient.
pub fn conv_same_f32(
    x: &[f32],
    taps: &[f32],
    [n, c, h, w]: [usize; 4],
    k: usize,
    flip: bool,
) -> Vec<f32> {
    let plane = h * w;
    let mut out = vec![0.0f32; n * c * plane];
    if plane == 0 || k == 0 {
        return out;
    }
    let kernels: Vec<f32> = if flip {
        taps.chunks_exact(k * k)
            .flat_map(|t| t.iter().rev().copied())
            .collect()
    } else {
        taps.to_vec()
    };
    out.par_chunks_mut(plane)
        .zip(x.par_chunks(plane))
        .enumerate()
        .for_each(|(i, (o, src))| {
            let ch = i % c;
            plane_conv(src, &kernels[ch * k * k..(ch + 1) * k * k], o, h, w, k);
        });
    out
}

fn plane_conv(src: &[f32], taps: &[f32], out: &mut [f32], h: usize, w: usize, k: usize) {
    // Zero-padded copy of the plane, so the inner loops need no bounds logic.
    let p = k / 2;
    let wp = w + 2 * p;
    let mut padded = vec![0.0f32; (h + 2 * p) * wp];
    for (y, row) in src.chunks_exact(w).enumerate() {
        padded[(y + p) * wp + p..][..w].copy_from_slice(row);
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function is compiled for.
        unsafe { plane_conv_avx2(&padded, taps, out, w, k) };
        return;
    }
    plane_conv_impl::<false>(&padded, taps, out, w, k);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn plane_conv_avx2(padded: &[f32], taps: &[f32], out: &mut [f32], w: usize, k: usize) {
    plane_conv_impl::<true>(padded, taps, out, w, k);
}

/// Output columns per block: the block's sums stay in registers (two AVX2 vectors) over all
/// `k²` taps, so each output is stored once instead of `k²` times.
const BLOCK: usize = 16;

/// The plane loop over a zero-padded plane (`w + 2p` wide); `FMA` selects fused multiply-adds
/// (only where the CPU has them: without hardware FMA, `mul_add` is a slow library call).
#[inline(always)]
fn plane_conv_impl<const FMA: bool>(
    padded: &[f32],
    taps: &[f32],
    out: &mut [f32],
    w: usize,
    k: usize,
) {
    let wp = w + 2 * (k / 2);
    let fma = |acc: f32, t: f32, v: f32| if FMA { t.mul_add(v, acc) } else { acc + t * v };
    for (y, row) in out.chunks_exact_mut(w).enumerate() {
        let mut x0 = 0;
        for block in row.chunks_mut(BLOCK) {
            if block.len() == BLOCK {
                let mut acc = [0.0f32; BLOCK];
                for i in 0..k {
                    let line = &padded[(y + i) * wp + x0..];
                    for j in 0..k {
                        let t = taps[i * k + j];
                        let s = &line[j..j + BLOCK];
                        for l in 0..BLOCK {
                            acc[l] = fma(acc[l], t, s[l]);
                        }
                    }
                }
                block.copy_from_slice(&acc);
            } else {
                for (l, o) in block.iter_mut().enumerate() {
                    let mut acc = 0.0f32;
                    for i in 0..k {
                        let line = &padded[(y + i) * wp + x0 + l..];
                        for j in 0..k {
                            acc = fma(acc, taps[i * k + j], line[j]);
                        }
                    }
                    *o = acc;
                }
            }
            x0 += BLOCK;
        }
    }
}

/// `∂L/∂w[c,i,j] = Σ_n Σ_(y,x) g[n,c,y,x] · x[n,c,y+i−p,x+j−p]` (zero outside the image,
/// `p = k/2`), for contiguous `[N, C, H, W]` inputs; returns `[C, k, k]` row-major.
/// Rows are summed in f32 and rows into f64, so the error does not grow with `N·H`.
pub fn weight_grad_f32(x: &[f32], g: &[f32], [n, c, h, w]: [usize; 4], k: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; c * k * k];
    out.par_chunks_mut(k * k)
        .enumerate()
        .for_each(|(ch, taps)| channel_weight_grad(x, g, [n, c, h, w], k, ch, taps));
    out
}

/// The `k²` weight gradients of channel `ch` into `taps`. (Compiling this for AVX2 + FMA as
/// well, like the forward, measured no gain: the f64 accumulation dominates.)
fn channel_weight_grad(
    x: &[f32],
    g: &[f32],
    [n, c, h, w]: [usize; 4],
    k: usize,
    ch: usize,
    taps: &mut [f32],
) {
    let p = k / 2;
    let plane = h * w;
    let mut acc = vec![0.0f64; k * k];
    for b in 0..n {
        let base = (b * c + ch) * plane;
        let (xp, gp) = (&x[base..base + plane], &g[base..base + plane]);
        for y in 0..h {
            let g_row = &gp[y * w..(y + 1) * w];
            for i in 0..k {
                // Source row y + i − p must lie inside the image.
                let Some(sy) = (y + i).checked_sub(p).filter(|&sy| sy < h) else {
                    continue;
                };
                let x_row = &xp[sy * w..(sy + 1) * w];
                for j in 0..k {
                    // Output columns whose source column ox + j − p is inside the image.
                    let lo = p.saturating_sub(j);
                    let hi = (w + p).saturating_sub(j).min(w);
                    if lo < hi {
                        let shift = lo + j - p;
                        acc[i * k + j] +=
                            dot(&g_row[lo..hi], &x_row[shift..shift + hi - lo]) as f64;
                    }
                }
            }
        }
    }
    for (t, a) in taps.iter_mut().zip(acc) {
        *t = a as f32;
    }
}

/// Dot product with eight independent accumulators, so that it vectorises.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defining sum, term by term.
    fn reference(x: &[f32], taps: &[f32], [n, c, h, w]: [usize; 4], k: usize) -> Vec<f32> {
        let p = k as i64 / 2;
        let mut out = vec![0.0f32; n * c * h * w];
        for b in 0..n {
            for ch in 0..c {
                for y in 0..h as i64 {
                    for xx in 0..w as i64 {
                        let mut acc = 0.0f64;
                        for i in 0..k as i64 {
                            for j in 0..k as i64 {
                                let (sy, sx) = (y + i - p, xx + j - p);
                                if (0..h as i64).contains(&sy) && (0..w as i64).contains(&sx) {
                                    let xi = ((b * c + ch) * h + sy as usize) * w + sx as usize;
                                    let t = taps[ch * k * k + (i * k as i64 + j) as usize];
                                    acc += f64::from(t) * f64::from(x[xi]);
                                }
                            }
                        }
                        out[((b * c + ch) * h + y as usize) * w + xx as usize] = acc as f32;
                    }
                }
            }
        }
        out
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn matches_the_defining_sum() {
        // Includes an image narrower and shorter than the kernel.
        for (dims, k) in [([2, 3, 9, 11], 3), ([1, 2, 7, 5], 9), ([1, 1, 4, 3], 5)] {
            let [n, c, h, w] = dims;
            let x = values(n * c * h * w, 7);
            let taps = values(c * k * k, 3);
            let got = conv_same_f32(&x, &taps, dims, k, false);
            let want = reference(&x, &taps, dims, k);
            for (g, r) in got.iter().zip(&want) {
                assert!((g - r).abs() < 1e-4, "{dims:?} k {k}: {g} vs {r}");
            }
            // Flipping is the same as convolving with the rotated taps.
            let rotated: Vec<f32> = taps
                .chunks_exact(k * k)
                .flat_map(|t| t.iter().rev().copied())
                .collect();
            let flipped = conv_same_f32(&x, &taps, dims, k, true);
            for (g, r) in flipped.iter().zip(&reference(&x, &rotated, dims, k)) {
                assert!((g - r).abs() < 1e-4);
            }
        }
    }
}
