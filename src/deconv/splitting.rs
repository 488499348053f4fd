//! The image step shared by both half-quadratic splittings (the L0 latent step and the
//! hyper-Laplacian deconvolution): `argmin_x w·‖k ∗ x − b‖² + β·‖∇x − g‖²` for given gradient
//! targets `g`, a division in Fourier space. The plane is mirror-padded and edge-tapered by
//! the kernel's side first, so the circular transform does not read the borders as edges.

use realfft::num_complex::Complex32;

use super::fft::Fft2;
use super::kernel::Kernel;
use super::plane::Plane;

/// The spectra one splitting reuses at every β.
pub struct ImageStep {
    fft: Fft2,
    /// Where the unpadded plane sits in the padded one, and its size.
    origin: (usize, usize),
    size: (usize, usize),
    /// `w·conj(K)·B` and `w·|K|²`.
    kb: Vec<Complex32>,
    kk: Vec<f32>,
    /// Forward-difference transforms and `|Dx|² + |Dy|²`.
    dx: Vec<Complex32>,
    dy: Vec<Complex32>,
    dd: Vec<f32>,
}

impl ImageStep {
    /// The step for blurry plane `b`, kernel `k` and data weight `w`, and the padded plane,
    /// where the splitting starts.
    pub fn new(b: &Plane, k: &Kernel, w: f32) -> (Self, Plane) {
        let (padded, px, py) = b.padded_for(k.size, &k.taps, k.size);
        let fft = Fft2::new(padded.h, padded.w);
        let kf = fft.otf(&k.taps, k.size);
        let bf = fft.forward(&padded.data);
        let (dx, dy) = fft.difference_otfs();
        let kb = kf.iter().zip(&bf).map(|(k, b)| k.conj() * b * w).collect();
        let kk = kf.iter().map(|k| w * k.norm_sqr()).collect();
        let dd = dx
            .iter()
            .zip(&dy)
            .map(|(x, y)| x.norm_sqr() + y.norm_sqr())
            .collect();
        let step = Self {
            fft,
            origin: (px, py),
            size: (b.w, b.h),
            kb,
            kk,
            dx,
            dy,
            dd,
        };
        (step, padded)
    }

    /// The padded plane whose gradients best match `(gx, gy)` at weight `beta`.
    pub fn solve(&self, gx: &[f32], gy: &[f32], beta: f32) -> Vec<f32> {
        let (fx, fy) = (self.fft.forward(gx), self.fft.forward(gy));
        let spec: Vec<Complex32> = (0..self.fft.spectrum_len())
            .map(|i| {
                let reg = self.dx[i].conj() * fx[i] + self.dy[i].conj() * fy[i];
                (self.kb[i] + reg * beta) / (self.kk[i] + beta * self.dd[i])
            })
            .collect();
        self.fft.inverse(spec)
    }

    /// The unpadded part of a padded plane.
    pub fn crop(&self, padded: &Plane) -> Plane {
        padded.crop(self.origin.0, self.origin.1, self.size.0, self.size.1)
    }
}
