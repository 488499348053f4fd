//! Blur kernels: odd squares, non-negative, sum 1, tap `(r + dy, r + dx)` (r = size/2) the
//! weight of offset `(dy, dx)`, and blur is true convolution, as in `train::synth`.

/// A blur kernel.
#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    /// Odd side, px.
    pub size: usize,
    /// `size × size` taps, row-major.
    pub taps: Vec<f32>,
}

impl Kernel {
    /// The identity blur of side `size` (odd).
    pub fn delta(size: usize) -> Self {
        let mut taps = vec![0.0; size * size];
        taps[size * size / 2] = 1.0;
        Self { size, taps }
    }

    /// From taps, clamped at 0 and normalised (a delta when nothing is left).
    pub fn from_taps(size: usize, taps: Vec<f32>) -> Self {
        let mut k = Self { size, taps };
        k.normalise();
        k
    }

    fn normalise(&mut self) {
        self.taps.iter_mut().for_each(|t| *t = t.max(0.0));
        let total: f64 = self.taps.iter().map(|&t| f64::from(t)).sum();
        if total > 0.0 && total.is_finite() {
            self.taps
                .iter_mut()
                .for_each(|t| *t = (f64::from(*t) / total) as f32);
        } else {
            *self = Self::delta(self.size);
        }
    }

    /// A kernel from a `w × h` image of a point light's blur (row-major weights, e.g. a PSF
    /// saved as a grey PNG): placed in the smallest odd square that holds it, negatives and
    /// non-finite values dropped, normalised and centred on its centroid. `None` when nothing
    /// positive is left.
    pub fn from_image(w: usize, h: usize, weights: &[f32]) -> Option<Self> {
        let size = w.max(h) | 1;
        let (ox, oy) = ((size - w) / 2, (size - h) / 2);
        let mut taps = vec![0.0f32; size * size];
        for y in 0..h {
            for x in 0..w {
                let v = weights[y * w + x];
                taps[(y + oy) * size + x + ox] = if v.is_finite() { v.max(0.0) } else { 0.0 };
            }
        }
        let total: f64 = taps.iter().map(|&t| f64::from(t)).sum();
        (total > 0.0).then(|| Self::from_taps(size, taps).centred())
    }

    /// Taps under `cut` of the peak removed, then every 8-connected group holding less than
    /// `min_mass` of what is left (Pan et al. 2014's pruning: a shake is one curve, noise
    /// leaves specks), then normalised.
    pub fn pruned(mut self, cut: f32, min_mass: f32) -> Self {
        let peak = self.taps.iter().copied().fold(0.0f32, f32::max);
        self.taps.iter_mut().for_each(|t| {
            if *t < cut * peak {
                *t = 0.0;
            }
        });
        let total: f32 = self.taps.iter().sum();
        for group in self.groups() {
            let mass: f32 = group.iter().map(|&i| self.taps[i]).sum();
            if mass < min_mass * total {
                group.iter().for_each(|&i| self.taps[i] = 0.0);
            }
        }
        self.normalise();
        self
    }

    /// The 8-connected groups of non-zero taps, as tap indices.
    fn groups(&self) -> Vec<Vec<usize>> {
        let n = self.size as i64;
        let mut seen = vec![false; self.taps.len()];
        let mut groups = Vec::new();
        for start in 0..self.taps.len() {
            if seen[start] || self.taps[start] <= 0.0 {
                continue;
            }
            seen[start] = true;
            let (mut stack, mut group) = (vec![start], Vec::new());
            while let Some(i) = stack.pop() {
                group.push(i);
                let (y, x) = (i as i64 / n, i as i64 % n);
                for (dy, dx) in (-1..=1).flat_map(|dy| (-1..=1).map(move |dx| (dy, dx))) {
                    let (ny, nx) = (y + dy, x + dx);
                    if (0..n).contains(&ny) && (0..n).contains(&nx) {
                        let j = (ny * n + nx) as usize;
                        if !seen[j] && self.taps[j] > 0.0 {
                            seen[j] = true;
                            stack.push(j);
                        }
                    }
                }
            }
            groups.push(group);
        }
        groups
    }

    /// Share of the mass in the heaviest 8-connected group (1 for one curve or blob).
    pub fn connected_share(&self) -> f32 {
        let total: f32 = self.taps.iter().sum();
        if total <= 0.0 {
            return 0.0;
        }
        let best = self
            .groups()
            .iter()
            .map(|g| g.iter().map(|&i| self.taps[i]).sum::<f32>())
            .fold(0.0f32, f32::max);
        best / total
    }

    /// `(dy, dx)` centroid relative to the centre tap.
    pub fn centroid(&self) -> (f32, f32) {
        let (n, c) = (self.size, (self.size / 2) as f64);
        let (mut s, mut sy, mut sx) = (0.0f64, 0.0f64, 0.0f64);
        for (i, &t) in self.taps.iter().enumerate() {
            let t = f64::from(t);
            s += t;
            sy += t * ((i / n) as f64 - c);
            sx += t * ((i % n) as f64 - c);
        }
        if s > 0.0 {
            ((sy / s) as f32, (sx / s) as f32)
        } else {
            (0.0, 0.0)
        }
    }

    /// Moved by whole px so that the centroid is at the centre tap. A restoration with a
    /// centred kernel stays registered with the blurry photo: each point of the result sits
    /// at the mean position of its smear, where the eye places it.
    pub fn centred(self) -> Self {
        let (cy, cx) = self.centroid();
        self.shifted(-(cy.round() as i64), -(cx.round() as i64))
    }

    /// Moved by `(dy, dx)` px; taps pushed out of the window are dropped.
    pub fn shifted(self, dy: i64, dx: i64) -> Self {
        if dy == 0 && dx == 0 {
            return self;
        }
        let n = self.size as i64;
        let mut taps = vec![0.0f32; self.taps.len()];
        for (i, &t) in self.taps.iter().enumerate() {
            let (y, x) = (i as i64 / n + dy, i as i64 % n + dx);
            if (0..n).contains(&y) && (0..n).contains(&x) {
                taps[(y * n + x) as usize] = t;
            }
        }
        Self::from_taps(self.size, taps)
    }

    /// The same blur on a grid `factor` times finer (offsets × factor), in a `size`-wide
    /// window: bilinear samples, normalised.
    pub fn rescaled(&self, factor: f32, size: usize) -> Self {
        let (c, cn) = ((self.size / 2) as f32, (size / 2) as f32);
        let n = self.size as i64;
        let at = |y: i64, x: i64| {
            if (0..n).contains(&y) && (0..n).contains(&x) {
                self.taps[(y * n + x) as usize]
            } else {
                0.0
            }
        };
        let mut taps = vec![0.0f32; size * size];
        for (oy, row) in taps.chunks_exact_mut(size).enumerate() {
            let sy = (oy as f32 - cn) / factor + c;
            let (y0, fy) = (sy.floor() as i64, sy - sy.floor());
            for (ox, t) in row.iter_mut().enumerate() {
                let sx = (ox as f32 - cn) / factor + c;
                let (x0, fx) = (sx.floor() as i64, sx - sx.floor());
                *t = (1.0 - fy) * ((1.0 - fx) * at(y0, x0) + fx * at(y0, x0 + 1))
                    + fy * ((1.0 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
            }
        }
        Self::from_taps(size, taps)
    }

    /// `√12 ·` RMS radius about the centroid, px: the length of a line blur, about 1.7× the
    /// diameter of a disk; 0 for a delta (as `train::synth::kernel_extent`).
    pub fn extent(&self) -> f32 {
        let (cy, cx) = self.centroid();
        let (n, c) = (self.size, (self.size / 2) as f32);
        let var: f32 = self
            .taps
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let (dy, dx) = ((i / n) as f32 - c - cy, (i % n) as f32 - c - cx);
                t * (dy * dy + dx * dx)
            })
            .sum();
        (12.0 * var).sqrt()
    }

    /// Which taps lie within `r` px (Chebyshev) of a non-zero tap.
    pub fn dilated_support(&self, r: usize) -> Vec<bool> {
        let set: Vec<bool> = self.taps.iter().map(|&t| t > 0.0).collect();
        super::plane::dilate(&set, self.size, self.size, r)
    }

    /// Side of the smallest centred odd square that holds every non-zero tap.
    pub fn support(&self) -> usize {
        let (n, c) = (self.size, (self.size / 2) as i64);
        let r = self
            .taps
            .iter()
            .enumerate()
            .filter(|(_, &t)| t > 0.0)
            .map(|(i, _)| ((i / n) as i64 - c).abs().max(((i % n) as i64 - c).abs()))
            .max()
            .unwrap_or(0);
        2 * r as usize + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ncc(a: &Kernel, b: &Kernel, max_shift: i32) -> f32 {
        crate::analysis::psf::ncc(&a.taps, a.size, &b.taps, b.size, max_shift)
    }

    fn line(size: usize, len: usize) -> Kernel {
        let mut taps = vec![0.0; size * size];
        let c = size / 2;
        for x in c - len / 2..=c + len / 2 {
            taps[c * size + x] = 1.0;
        }
        Kernel::from_taps(size, taps)
    }

    #[test]
    fn pruning_removes_specks_and_keeps_the_curve() {
        let mut k = line(15, 9);
        k.taps[0] = 0.02; // a light speck far from the line
        k.taps[14] = 0.003; // below the cut
        let p = k.pruned(0.05, 0.1);
        assert_eq!(p.taps[0], 0.0);
        assert_eq!(p.taps[14], 0.0);
        assert!((p.taps.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!((p.connected_share() - 1.0).abs() < 1e-6);
        assert!((p.extent() - 9.0).abs() < 0.6, "extent {}", p.extent());
    }

    #[test]
    fn centring_moves_the_centroid_to_the_middle() {
        let k = line(15, 5).shifted(3, -2);
        let near =
            |a: (f32, f32), b: (f32, f32)| (a.0 - b.0).abs() < 1e-5 && (a.1 - b.1).abs() < 1e-5;
        assert!(near(k.centroid(), (3.0, -2.0)), "{:?}", k.centroid());
        assert!(near(k.clone().centred().centroid(), (0.0, 0.0)));
        assert!(ncc(&k, &line(15, 5), 3) > 0.999);
        assert!(ncc(&k, &line(15, 5), 1) < 0.9);
    }

    #[test]
    fn a_psf_image_becomes_a_centred_odd_kernel() {
        // A 6×4 image with a 4-px line in its top row, off centre.
        let mut img = vec![0.0f32; 24];
        img[..4].fill(200.0);
        let k = Kernel::from_image(6, 4, &img).expect("kernel");
        assert_eq!(k.size, 7);
        let (cy, cx) = k.centroid();
        assert!(cy.abs() <= 0.5 && cx.abs() <= 0.5, "centroid {cy}, {cx}");
        assert!((k.taps.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert_eq!(k.taps.iter().filter(|&&t| t > 0.0).count(), 4);
        assert!(Kernel::from_image(3, 3, &[0.0; 9]).is_none());
    }

    #[test]
    fn rescaling_scales_the_extent() {
        let k = line(11, 5);
        let big = k.rescaled(2.0, 21);
        assert!(
            (big.extent() - 2.0 * k.extent()).abs() < 1.0,
            "{}",
            big.extent()
        );
        assert_eq!(big.support(), 11);
        assert_eq!(Kernel::delta(7).support(), 1);
    }
}
