//! A single-channel float image and the resampling and padding the deconvolution needs.

/// Row-major `h × w` plane of linear-light values.
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    pub w: usize,
    pub h: usize,
    pub data: Vec<f32>,
}

impl Plane {
    pub fn new(w: usize, h: usize, data: Vec<f32>) -> Self {
        debug_assert_eq!(data.len(), w * h);
        Self { w, h, data }
    }

    pub fn zeros(w: usize, h: usize) -> Self {
        Self::new(w, h, vec![0.0; w * h])
    }

    #[inline]
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.w + x]
    }

    /// The `cw × ch` window at `(x0, y0)`; it must lie inside.
    pub fn crop(&self, x0: usize, y0: usize, cw: usize, ch: usize) -> Plane {
        let mut data = Vec::with_capacity(cw * ch);
        for y in y0..y0 + ch {
            data.extend_from_slice(&self.data[y * self.w + x0..][..cw]);
        }
        Plane::new(cw, ch, data)
    }

    /// Resampled to `nw × nh` with a triangle filter as wide as the scale step, so that
    /// shrinking averages (and so lowers noise) instead of aliasing.
    pub fn resize(&self, nw: usize, nh: usize) -> Plane {
        let rows = resample_axis(&self.data, self.w, self.h, nw, true);
        let data = resample_axis(&rows, nw, self.h, nh, false);
        Plane::new(nw, nh, data)
    }

    /// Padded by `pad` px on every side with mirrored content, then blended towards the
    /// circularly blurred plane over the padding, so that the FFT's wrap-around joins two
    /// values of the same blurred image instead of an edge (what MATLAB's `edgetaper` does;
    /// without it the borders ring). `blur` is the kernel (odd `kw × kw`); the result's side
    /// is rounded up to fast FFT lengths, extra rows and columns padded the same way.
    pub fn padded_for(&self, pad: usize, blur: &[f32], kw: usize) -> (Plane, usize, usize) {
        let pw = super::fft::smooth_size(self.w + 2 * pad);
        let ph = super::fft::smooth_size(self.h + 2 * pad);
        let (px, py) = ((pw - self.w) / 2, (ph - self.h) / 2);
        let mirror = |i: usize, off: usize, n: usize| -> usize {
            let j = i as i64 - off as i64;
            let m = (n as i64 - 1).max(1);
            let r = j.rem_euclid(2 * m);
            (if r > m { 2 * m - r } else { r }) as usize
        };
        let xs: Vec<usize> = (0..pw).map(|i| mirror(i, px, self.w)).collect();
        let mut data = Vec::with_capacity(pw * ph);
        for y in 0..ph {
            let row = &self.data[mirror(y, py, self.h) * self.w..][..self.w];
            data.extend(xs.iter().map(|&x| row[x]));
        }
        let mut out = Plane::new(pw, ph, data);
        let fft = super::fft::Fft2::new(ph, pw);
        let spec: Vec<_> = fft
            .forward(&out.data)
            .iter()
            .zip(&fft.otf(blur, kw))
            .map(|(a, b)| a * b)
            .collect();
        let blurred = fft.inverse(spec);
        // Weight of the original: 1 inside the photo, a raised cosine down to 0 at the
        // middle of the padding on each side (the seam), as far from the photo as possible.
        let ramp = |i: usize, off: usize, n: usize, total: usize| -> f32 {
            let d = if i < off {
                off - i
            } else if i >= off + n {
                i + 1 - (off + n)
            } else {
                return 1.0;
            };
            let span = ((total - n) / 2).max(1) as f32;
            let t = (d as f32 / span).min(1.0);
            0.5 + 0.5 * (std::f32::consts::PI * t).cos()
        };
        let wx: Vec<f32> = (0..pw).map(|i| ramp(i, px, self.w, pw)).collect();
        for y in 0..ph {
            let wy = ramp(y, py, self.h, ph);
            let row = y * pw..(y + 1) * pw;
            for ((v, &b), &wxx) in out.data[row.clone()].iter_mut().zip(&blurred[row]).zip(&wx) {
                let a = wy * wxx;
                *v = a * *v + (1.0 - a) * b;
            }
        }
        (out, px, py)
    }

    /// Forward differences `(∂x, ∂y)`, circular.
    pub fn gradients(&self) -> (Vec<f32>, Vec<f32>) {
        let (w, h) = (self.w, self.h);
        let mut gx = vec![0.0f32; w * h];
        let mut gy = vec![0.0f32; w * h];
        for y in 0..h {
            let below = ((y + 1) % h) * w;
            for x in 0..w {
                let i = y * w + x;
                gx[i] = self.data[y * w + (x + 1) % w] - self.data[i];
                gy[i] = self.data[below + x] - self.data[i];
            }
        }
        (gx, gy)
    }
}

/// Which cells of a `w × h` mask lie within `r` px (Chebyshev distance) of a set one: a
/// separable max filter.
pub fn dilate(mask: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    let mut rows = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            let (lo, hi) = (x.saturating_sub(r), (x + r).min(w - 1));
            rows[y * w + x] = mask[y * w + lo..=y * w + hi].iter().any(|&m| m);
        }
    }
    let mut out = vec![false; w * h];
    for y in 0..h {
        let (lo, hi) = (y.saturating_sub(r), (y + r).min(h - 1));
        for x in 0..w {
            out[y * w + x] = (lo..=hi).any(|j| rows[j * w + x]);
        }
    }
    out
}

/// Resamples each row (`horizontal`) or column of an `w × h` plane to `n` samples with a
/// triangle filter whose half-width is `max(1, old/new)` source px (pixel-centre aligned).
fn resample_axis(src: &[f32], w: usize, h: usize, n: usize, horizontal: bool) -> Vec<f32> {
    let len = if horizontal { w } else { h };
    let scale = len as f64 / n as f64;
    let support = scale.max(1.0);
    // Taps per output sample: (source index, weight), weights summing to 1.
    let taps: Vec<Vec<(usize, f32)>> = (0..n)
        .map(|o| {
            let centre = (o as f64 + 0.5) * scale - 0.5;
            let lo = (centre - support).floor().max(0.0) as usize;
            let hi = ((centre + support).ceil() as usize).min(len - 1);
            let mut t: Vec<(usize, f64)> = (lo..=hi)
                .map(|i| (i, (1.0 - (i as f64 - centre).abs() / support).max(0.0)))
                .filter(|&(_, wgt)| wgt > 0.0)
                .collect();
            if t.is_empty() {
                t.push((centre.round().clamp(0.0, (len - 1) as f64) as usize, 1.0));
            }
            let s: f64 = t.iter().map(|&(_, wgt)| wgt).sum();
            t.into_iter()
                .map(|(i, wgt)| (i, (wgt / s) as f32))
                .collect()
        })
        .collect();
    if horizontal {
        let mut out = vec![0.0f32; n * h];
        for y in 0..h {
            let row = &src[y * w..][..w];
            for (o, t) in taps.iter().enumerate() {
                out[y * n + o] = t.iter().map(|&(i, wgt)| wgt * row[i]).sum();
            }
        }
        out
    } else {
        let mut out = vec![0.0f32; w * n];
        for (o, t) in taps.iter().enumerate() {
            let dst = &mut out[o * w..][..w];
            for &(i, wgt) in t {
                let row = &src[i * w..][..w];
                for (d, s) in dst.iter_mut().zip(row) {
                    *d += wgt * s;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resizing_keeps_constants_and_halving_averages() {
        let p = Plane::new(8, 6, vec![0.3; 48]);
        assert!(p.resize(5, 3).data.iter().all(|v| (v - 0.3).abs() < 1e-6));
        // A ramp halves into the means of neighbouring pairs (triangle of half-width 2).
        let ramp = Plane::new(8, 1, (0..8).map(|x| x as f32).collect());
        let half = ramp.resize(4, 1);
        for (o, v) in half.data.iter().enumerate().skip(1).take(2) {
            assert!((v - (2 * o) as f32 - 0.5).abs() < 1e-5, "{o}: {v}");
        }
    }

    #[test]
    fn padding_keeps_the_photo_inside() {
        let (w, h) = (20, 14);
        let p = Plane::new(
            w,
            h,
            (0..w * h).map(|i| (i % w) as f32 / w as f32).collect(),
        );
        let mut k = vec![0.0f32; 9];
        k[3..6].fill(1.0 / 3.0);
        let (q, px, py) = p.padded_for(5, &k, 3);
        assert!(q.w >= w + 10 && q.h >= h + 10);
        assert_eq!(q.crop(px, py, w, h), p);
    }
}
