//! DeepRFTv2's Fourier Kernel Estimator (models.md §6.2–6.3) at the tail of a NAFNet decoder:
//! features go to Fourier space, a kernel sub-network estimates one complex transfer function
//! (OTF) per channel, a projection of the features is multiplied by it (a circular
//! convolution with an image-adaptive kernel) and brought back.
//!
//! The spectral transforms follow models.md §1.2 (unnormalised forward, 1/(H·W) inverse) and
//! have three implementations, chosen by [`KernelPath`]: burn-signal's differentiable FFT
//! (training, and any device), rustfft on the host (the CPU inference path), and the
//! project's WGSL FFT on burn's own wgpu buffers (GPU inference, no host round trip).

use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::signal::{cfft, irfft, rfft};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::blocks::{conv1x1, conv3x3, naf_block_params, LayerNorm2d, NafBlock};
pub use super::kernel_path::KernelPath;
use super::pointwise::pointwise_forward;
use super::same_conv::same_conv_forward;

/// The FKE's hyper-parameters (the `[config.fke]` table of a `deeprft-*` card).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FkeConfig {
    /// NAFBlocks of the kernel sub-network on the frequency-plane map.
    pub kernel_blocks: usize,
    /// FFT size of the last training stage: inference tiles must have this size (§6.3).
    pub fft_size: usize,
}

impl Default for FkeConfig {
    fn default() -> Self {
        Self {
            kernel_blocks: 4,
            fft_size: 256,
        }
    }
}

impl FkeConfig {
    /// Parameters of an FKE of width `c`: five pointwise convs, the 3×3 pattern conv, the
    /// LayerNorm and the kernel network.
    pub fn params(&self, c: usize) -> usize {
        let pointwise = 2 * c * c + 2 * c * c + (2 * c * c + 2 * c) + 2 * c * c;
        pointwise + 2 * c + (9 * c * 3 + 3) + self.kernel_blocks * naf_block_params(c)
    }

    /// Conv multiply-accumulates at `h × w` (models.md §1.4): the projections, fuse and
    /// pattern at full resolution; spec_in, the kernel network and the OTF head on the
    /// `h × (w/2+1)` frequency plane.
    pub fn macs(&self, c: usize, h: usize, w: usize) -> u64 {
        let (c, p, q) = (c as u64, (h * w) as u64, (h * (w / 2 + 1)) as u64);
        let block = q * (6 * c * c + 18 * c) + c * c;
        p * (2 * c * c + 2 * c * c + 27 * c)
            + q * (2 * c * c + 2 * c * c)
            + self.kernel_blocks as u64 * block
    }
}

/// Unnormalised 2-D real FFT of `[N,C,H,W]` (H, W powers of two): `rfft` along W, then a
/// complex FFT along H. Returns `(re, im)`, each `[N,C,H,W/2+1]`.
pub fn rfft2(x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let (re, im) = rfft(x, 3, None);
    cfft(re, im, 2, None)
}

/// Inverse of [`rfft2`] with factor 1/(H·W) to `[N,C,H,w]`: the inverse along H as
/// `conj(cfft(conj z))/H`, then the imaginary parts of the `v = 0` and `v = w/2` columns are
/// dropped (a network's spectrum is not Hermitian; §1.2) and `irfft` runs along W.
pub fn irfft2(re: Tensor<4>, im: Tensor<4>, w: usize) -> Tensor<4> {
    let [_, _, h, wc] = re.dims();
    let (r, i) = cfft(re, im.neg(), 2, None);
    let scale = 1.0 / h as f64;
    let (r, i) = (r * scale, i.neg() * scale);
    let mut keep = vec![1.0f32; wc];
    keep[0] = 0.0;
    keep[wc - 1] = 0.0;
    let keep = Tensor::<4>::from_data(TensorData::new(keep, [1, 1, 1, wc]), &i.device());
    irfft(r, i * keep, 3, Some(w))
}

/// Per-channel complex product of two spectra.
fn complex_mul(a: (Tensor<4>, Tensor<4>), b: (Tensor<4>, Tensor<4>)) -> (Tensor<4>, Tensor<4>) {
    let ((ar, ai), (br, bi)) = (a, b);
    (
        ar.clone() * br.clone() - ai.clone() * bi.clone(),
        ar * bi + ai * br,
    )
}

fn host(x: Tensor<4>) -> Vec<f32> {
    x.into_data()
        .convert::<f32>()
        .try_to_vec()
        .unwrap_or_default()
}

fn tensor(values: Vec<f32>, shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

impl KernelPath {
    /// [`rfft2`] on this path.
    pub fn rfft2(self, x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let [n, c, h, w] = x.dims();
        let shape = [n, c, h, w / 2 + 1];
        let device = x.device();
        let result = match self {
            Self::Tensor => return rfft2(x),
            Self::Cpu => crate::gpu::fft_cpu::rfft2(&host(x.clone()), n * c, h, w),
            Self::Wgsl => match crate::gpu::fft::shared() {
                Some(s) => match s.rfft2_tensor(x.clone()) {
                    Ok(spectrum) => return spectrum,
                    Err(e) => {
                        tracing::debug!("FFT on burn's buffers unavailable ({e})");
                        s.rfft2(&host(x.clone()), n * c, h, w)
                    }
                },
                None => return Self::Cpu.rfft2(x),
            },
        };
        match result {
            Ok((re, im)) => (tensor(re, shape, &device), tensor(im, shape, &device)),
            Err(e) => {
                tracing::warn!("{self:?} FFT failed ({e}); using burn's");
                rfft2(x)
            }
        }
    }

    /// `irfft2(rfft2(x) ⊙ OTF)` on this path, one OTF plane per plane of `x`.
    pub fn spectral_multiply(
        self,
        x: Tensor<4>,
        otf_re: Tensor<4>,
        otf_im: Tensor<4>,
    ) -> Tensor<4> {
        let shape = x.dims();
        let [n, c, h, w] = shape;
        let device = x.device();
        let result = match self {
            Self::Tensor => return spectral_multiply(x, otf_re, otf_im),
            Self::Cpu => crate::gpu::fft_cpu::spectral_multiply(
                &host(x.clone()),
                &host(otf_re.clone()),
                &host(otf_im.clone()),
                n * c,
                h,
                w,
            ),
            Self::Wgsl => match crate::gpu::fft::shared() {
                Some(s) => {
                    match s.spectral_multiply_tensor(x.clone(), otf_re.clone(), otf_im.clone()) {
                        Ok(y) => return y,
                        Err(e) => {
                            tracing::debug!("FFT on burn's buffers unavailable ({e})");
                            s.spectral_multiply(
                                &host(x.clone()),
                                &host(otf_re.clone()),
                                &host(otf_im.clone()),
                                n * c,
                                h,
                                w,
                            )
                        }
                    }
                }
                None => return Self::Cpu.spectral_multiply(x, otf_re, otf_im),
            },
        };
        match result {
            Ok(y) => tensor(y, shape, &device),
            Err(e) => {
                tracing::warn!("{self:?} spectral multiply failed ({e}); using burn's");
                spectral_multiply(x, otf_re, otf_im)
            }
        }
    }
}

/// `irfft2(rfft2(x) ⊙ OTF)` with burn-signal (differentiable).
pub fn spectral_multiply(x: Tensor<4>, otf_re: Tensor<4>, otf_im: Tensor<4>) -> Tensor<4> {
    let w = x.dims()[3];
    let (re, im) = complex_mul(rfft2(x), (otf_re, otf_im));
    irfft2(re, im, w)
}

/// The FKE (§6.2). Field names are the canonical `fke.*` paths of §6.2.
#[derive(Module, Debug)]
pub struct Fke {
    pub proj_k: Conv2d,
    pub proj_x: Conv2d,
    pub spec_in: Conv2d,
    pub kernel_net: Vec<NafBlock>,
    pub otf_norm: LayerNorm2d,
    pub otf: Conv2d,
    pub fuse: Conv2d,
    pub pattern: Conv2d,
    /// Where the transforms run (not a parameter; set per device by the engine).
    #[module(skip)]
    pub path: KernelPath,
}

/// The FKE's result: the image and the per-channel OTF (for the kernel views).
pub struct FkeOutput {
    pub image: Tensor<4>,
    pub otf_re: Tensor<4>,
    pub otf_im: Tensor<4>,
}

impl Fke {
    pub fn new(c: usize, cfg: &FkeConfig, device: &Device) -> Self {
        Self {
            proj_k: conv1x1(c, c, false, device),
            proj_x: conv1x1(c, c, false, device),
            spec_in: conv1x1(2 * c, c, false, device),
            kernel_net: (0..cfg.kernel_blocks)
                .map(|_| NafBlock::new(c, device))
                .collect(),
            otf_norm: LayerNorm2d::new(c, device),
            otf: conv1x1(c, 2 * c, true, device),
            fuse: conv1x1(2 * c, c, false, device),
            pattern: conv3x3(c, 3, 1, device),
            path: KernelPath::Tensor,
        }
    }

    /// Warm start (§6.3): `fuse` passes `F` through (identity on the F half, zeros on the
    /// Fd half) and `pattern` is a copy of the backbone's `ending`, so the FKE's output equals
    /// the backbone's `ending(F) + B` until training moves it.
    pub fn warm_start(mut self, ending: &Conv2d) -> Self {
        let [c, c2, _, _] = self.fuse.weight.val().dims();
        let device = self.fuse.weight.val().device();
        let mut w = vec![0.0f32; c * c2];
        for o in 0..c {
            w[o * c2 + (c2 - c) + o] = 1.0;
        }
        let fuse = Tensor::<4>::from_data(TensorData::new(w, [c, c2, 1, 1]), &device);
        self.fuse.weight = self.fuse.weight.map(|_| fuse);
        // Fresh parameter ids: a clone keeps `ending`'s, and burn's optimiser keys gradients and
        // moments by id, so the two convolutions would be trained as one, each moved by the
        // other's gradient (session 11: deeprft-s lost 1.3 dB in 1,000 iterations that way).
        let mut pattern = ending.clone();
        pattern.weight = Param::from_tensor(ending.weight.val());
        pattern.bias = ending.bias.as_ref().map(|b| Param::from_tensor(b.val()));
        self.pattern = pattern;
        self
    }

    /// `out = pattern(fuse([Fd, F])) + B` with `Fd = irfft2(rfft2(proj_x F) ⊙ OTF)`; `F` and
    /// `B` have power-of-two sizes.
    pub fn forward(&self, f: Tensor<4>, b: Tensor<4>) -> FkeOutput {
        let c = f.dims()[1];
        let a = pointwise_forward(&self.proj_k, f.clone());
        let x = pointwise_forward(&self.proj_x, f.clone());
        let (ar, ai) = self.path.rfft2(a);
        let mut r = pointwise_forward(&self.spec_in, Tensor::cat(vec![ar, ai], 1));
        for block in &self.kernel_net {
            r = block.forward(r);
        }
        let o = pointwise_forward(&self.otf, self.otf_norm.forward(r));
        let otf_re = o.clone().narrow(1, 0, c);
        let otf_im = o.narrow(1, c, c);
        let fd = self
            .path
            .spectral_multiply(x, otf_re.clone(), otf_im.clone());
        let fk = pointwise_forward(&self.fuse, Tensor::cat(vec![fd, f], 1));
        FkeOutput {
            image: same_conv_forward(&self.pattern, fk) + b,
            otf_re,
            otf_im,
        }
    }
}

/// The spatial kernels of an OTF (§6.5): `k_c = irfft2(OTF_c)`, shifted so the origin is at
/// the centre and cropped to `window × window` (odd). Input `[C,H,W/2+1]` planes for one
/// tile, as (re, im) host values; output `C` row-major kernels.
pub fn feature_kernels(
    otf_re: &[f32],
    otf_im: &[f32],
    channels: usize,
    h: usize,
    w: usize,
    window: usize,
) -> Result<Vec<Vec<f32>>, crate::gpu::GpuError> {
    let k = crate::gpu::fft_cpu::irfft2(otf_re, otf_im, channels, h, w)?;
    let win = window.min(h.min(w) - 1) | 1;
    let half = win as isize / 2;
    Ok(k.chunks(h * w)
        .map(|plane| {
            let mut out = Vec::with_capacity(win * win);
            for dy in -half..=half {
                for dx in -half..=half {
                    let y = dy.rem_euclid(h as isize) as usize;
                    let x = dx.rem_euclid(w as isize) as usize;
                    out.push(plane[y * w + x]);
                }
            }
            out
        })
        .collect())
}

/// The next power of two ≥ `n` and ≥ 16: the FKE's pad rule (`Pow2(Replicate)`, §6.3).
pub fn fft_len(n: usize) -> usize {
    n.next_power_of_two().max(16)
}

#[cfg(test)]
#[path = "fke_tests.rs"]
mod tests;
