//! The blur kernel type, its extent, and the random choice among kernel families (§12.2).

use rand::Rng;

use super::augment::Dihedral;
use super::config::KernelMix;
use super::error::SynthError;
use super::{shapes, trajectory};

/// Largest kernel radius: equal to the crop margin, so blurring the patch never reads padding.
pub const MAX_KERNEL_RADIUS: usize = 32;
/// Largest kernel side, `2 · MAX_KERNEL_RADIUS + 1`.
pub const MAX_KERNEL_SIZE: usize = 2 * MAX_KERNEL_RADIUS + 1;

/// A square blur kernel (point spread function) with odd side.
///
/// Tap `taps[(size/2 + dy) · size + (size/2 + dx)]` is the weight of offset `(dy, dx)`
/// (`y` down, `x` right). Generated kernels are non-negative and sum to 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    pub size: usize,
    pub taps: Vec<f32>,
}

/// Kernel family a kernel was drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelKind {
    Identity,
    Trajectory,
    Linear,
    Defocus,
    Gaussian,
}

/// A drawn kernel with its ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledKernel {
    pub kind: KernelKind,
    pub kernel: Kernel,
    /// Extent e(k) = √12 · RMS radius about the centroid, in px, of the *continuous* kernel the
    /// taps were rasterised from (see [`kernel_extent`] for why not the taps themselves):
    /// exactly ℓ for linear motion, √6·r for a disk of radius r, √(12(σ₁² + σ₂²)) for a
    /// Gaussian, 0 for the identity.
    pub extent: f32,
}

impl Kernel {
    /// Checks that `taps` is `size × size` with odd `size`. Values are not constrained, so that
    /// estimated kernels (possibly unnormalised) can be used with the blur functions too.
    pub fn new(size: usize, taps: Vec<f32>) -> Result<Self, SynthError> {
        if size % 2 == 0 || taps.len() != size * size {
            return Err(SynthError::InvalidImage(format!(
                "kernel must be odd-sized with size² taps, got size {size} and {} taps",
                taps.len()
            )));
        }
        Ok(Self { size, taps })
    }

    /// The 1×1 kernel that leaves the image unchanged.
    pub fn identity() -> Self {
        Self {
            size: 1,
            taps: vec![1.0],
        }
    }

    /// Half side: offsets run over `-radius..=radius`.
    pub fn radius(&self) -> usize {
        self.size / 2
    }

    /// Sum of all taps (1 for generated kernels).
    pub fn sum(&self) -> f32 {
        self.taps.iter().map(|&t| f64::from(t)).sum::<f64>() as f32
    }

    /// Non-zero taps as `(dy, dx, weight)`, row-major. Motion kernels are mostly empty, so
    /// the convolution loops over these only.
    pub fn nonzero_taps(&self) -> Vec<(isize, isize, f32)> {
        let r = self.radius() as isize;
        let size = self.size.max(1);
        self.taps
            .iter()
            .enumerate()
            .filter(|(_, &w)| w != 0.0)
            .map(|(i, &w)| ((i / size) as isize - r, (i % size) as isize - r, w))
            .collect()
    }

    /// The kernel seen through a flip/rot90 of the image: if `T` acts on both, then
    /// `T(k ∗ x) = (T k) ∗ (T x)`.
    pub fn transformed(&self, d: Dihedral) -> Self {
        Self {
            size: self.size,
            taps: d.apply_plane(&self.taps, self.size),
        }
    }

    /// Builds a kernel from an odd square canvas of non-negative weights: crops to the smallest
    /// odd square, centred on the canvas centre, that holds every non-zero weight, and normalises
    /// to sum 1 (the sum is taken in f64). `None` if the canvas holds no positive weight.
    pub(crate) fn from_canvas(canvas: &[f64], canvas_size: usize) -> Option<Self> {
        let c = (canvas_size / 2) as isize;
        let mut radius = 0usize;
        let mut total = 0.0f64;
        for (i, &w) in canvas.iter().enumerate() {
            if w > 0.0 {
                total += w;
                let dy = ((i / canvas_size) as isize - c).unsigned_abs();
                let dx = ((i % canvas_size) as isize - c).unsigned_abs();
                radius = radius.max(dy).max(dx);
            }
        }
        if total <= 0.0 || !total.is_finite() {
            return None;
        }
        let size = 2 * radius + 1;
        let first = canvas_size / 2 - radius;
        let mut taps = Vec::with_capacity(size * size);
        for row in first..first + size {
            for col in first..first + size {
                taps.push((canvas[row * canvas_size + col].max(0.0) / total) as f32);
            }
        }
        Some(Self { size, taps })
    }
}

/// √12 · RMS radius of the taps about their centroid, in px.
///
/// This measures the rasterised taps, which carry extra spread from pixel sampling: bilinear
/// splatting adds `f(1 − f) ≤ 1/4` px² of variance per axis (f = sub-pixel position), so a linear
/// kernel of length ℓ measures `√(ℓ² + 12δ)` with `δ ∈ [0, 1/2]` instead of ℓ. The ground truth
/// in [`SampledKernel::extent`] is therefore computed on the continuous kernel; use this function
/// for kernels known only by their taps (e.g. estimated ones). Returns 0 for an all-zero kernel.
pub fn kernel_extent(kernel: &Kernel) -> f32 {
    let r = kernel.radius() as f64;
    let size = kernel.size.max(1);
    let (mut s, mut sy, mut sx, mut syy, mut sxx) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
    for (i, &w) in kernel.taps.iter().enumerate() {
        let w = f64::from(w);
        let y = (i / size) as f64 - r;
        let x = (i % size) as f64 - r;
        s += w;
        sy += w * y;
        sx += w * x;
        syy += w * y * y;
        sxx += w * x * x;
    }
    if s <= 0.0 {
        return 0.0;
    }
    let (my, mx) = (sy / s, sx / s);
    let var = (syy / s - my * my) + (sxx / s - mx * mx);
    (12.0 * var.max(0.0)).sqrt() as f32
}

/// A kernel drawn from the §12.2 mix (trajectory 0.45, linear 0.25, defocus 0.20, Gaussian 0.10).
pub fn random_kernel<R: Rng + ?Sized>(rng: &mut R) -> SampledKernel {
    random_kernel_with(rng, &KernelMix::default())
}

/// A kernel drawn from the given family mix. Never the identity: that is decided by the caller.
pub fn random_kernel_with<R: Rng + ?Sized>(rng: &mut R, mix: &KernelMix) -> SampledKernel {
    let mut u = super::rng::uniform(rng, 0.0, f64::from(mix.total())) as f32;
    if u < mix.trajectory {
        return trajectory::trajectory_kernel(rng);
    }
    u -= mix.trajectory;
    if u < mix.linear {
        return trajectory::linear_kernel(rng);
    }
    u -= mix.linear;
    // A zero Gaussian weight must never be chosen, even when rounding leaves u at the top.
    if u < mix.defocus || mix.gaussian <= 0.0 {
        return shapes::defocus_kernel(rng);
    }
    shapes::gaussian_kernel(rng)
}

/// The identity kernel with its (zero) extent.
pub(crate) fn identity_sampled() -> SampledKernel {
    SampledKernel {
        kind: KernelKind::Identity,
        kernel: Kernel::identity(),
        extent: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::super::rng::sample_rng;
    use super::*;

    /// Every family, many draws: sums to 1, odd size ≤ 65, non-negative, centroid near centre.
    #[test]
    fn every_kernel_family_is_a_valid_psf() {
        let mut rng = sample_rng(11, 0);
        let only = |t, l, d, g| KernelMix {
            trajectory: t,
            linear: l,
            defocus: d,
            gaussian: g,
        };
        let mixes = [
            (KernelKind::Trajectory, only(1.0, 0.0, 0.0, 0.0)),
            (KernelKind::Linear, only(0.0, 1.0, 0.0, 0.0)),
            (KernelKind::Defocus, only(0.0, 0.0, 1.0, 0.0)),
            (KernelKind::Gaussian, only(0.0, 0.0, 0.0, 1.0)),
        ];
        for (kind, mix) in mixes {
            for _ in 0..200 {
                let s = random_kernel_with(&mut rng, &mix);
                assert_eq!(s.kind, kind);
                check_psf(&s.kernel);
            }
        }
        check_psf(&Kernel::identity());
    }

    fn check_psf(k: &Kernel) {
        assert!(
            k.size % 2 == 1 && k.size <= MAX_KERNEL_SIZE,
            "size {}",
            k.size
        );
        assert_eq!(k.taps.len(), k.size * k.size);
        assert!(k.taps.iter().all(|&t| t >= 0.0 && t.is_finite()));
        assert!((k.sum() - 1.0).abs() < 1e-5, "sum {}", k.sum());
        // Smallest odd size: the outer ring holds weight.
        let n = k.size;
        let ring: f32 = (0..n)
            .flat_map(|i| [(0, i), (n - 1, i), (i, 0), (i, n - 1)])
            .map(|(y, x)| k.taps[y * n + x])
            .sum();
        assert!(ring > 0.0, "kernel of size {n} has an empty border");
    }

    #[test]
    fn mix_frequencies_follow_the_recipe() {
        let mut rng = sample_rng(5, 5);
        let mut counts = [0usize; 4];
        let n = 2000;
        for _ in 0..n {
            let idx = match random_kernel(&mut rng).kind {
                KernelKind::Trajectory => 0,
                KernelKind::Linear => 1,
                KernelKind::Defocus => 2,
                KernelKind::Gaussian => 3,
                KernelKind::Identity => panic!("random_kernel never returns the identity"),
            };
            counts[idx] += 1;
        }
        // Binomial standard error at n = 2000 is at most 1.1 %; allow 4 σ.
        for (c, p) in counts.iter().zip([0.45, 0.25, 0.20, 0.10]) {
            let f = *c as f64 / n as f64;
            assert!((f - p).abs() < 0.045, "frequency {f} vs {p}");
        }
    }

    #[test]
    fn extent_of_taps_measures_rms_radius() {
        // Two equal taps 2 px apart horizontally: variance 1 px², extent √12.
        let mut taps = vec![0.0; 9];
        taps[3] = 0.5;
        taps[5] = 0.5;
        let k = Kernel::new(3, taps).expect("valid kernel");
        assert!((kernel_extent(&k) - 12f32.sqrt()).abs() < 1e-6);
        assert_eq!(kernel_extent(&Kernel::identity()), 0.0);
    }

    #[test]
    fn transform_rotates_taps_about_the_centre() {
        let mut taps = vec![0.0; 9];
        taps[5] = 1.0; // offset (0, +1)
        let k = Kernel::new(3, taps).expect("valid kernel");
        let t = k.transformed(Dihedral {
            flip: false,
            quarter_turns: 1,
        });
        assert_eq!(t.nonzero_taps().len(), 1);
        let (dy, dx, _) = t.nonzero_taps()[0];
        assert_eq!(
            (dy.abs() + dx.abs(), dx),
            (1, 0),
            "a quarter turn moves x to y"
        );
    }
}
