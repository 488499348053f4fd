//! The NAFNet U-Net (models.md §3.2) with optional PDE layers at the bottleneck (§4.3).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::blocks::{conv1x1, conv3x3, NafBlock};
use super::fke::{fft_len, Fke, FkeConfig, KernelPath};
use super::pde::{PdeConfig, PdeLayer, PdeStats};
use super::pointwise::pointwise_forward;
use super::same_conv::same_conv_forward;

/// Architecture hyper-parameters of a NAFNet (the `[config]` table of a model card).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NafNetConfig {
    pub width: usize,
    pub enc_blocks: Vec<usize>,
    pub middle_blocks: usize,
    pub dec_blocks: Vec<usize>,
    /// PDE global layers at the bottleneck (`*-pde` models, models.md §4.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pde: Option<PdeConfig>,
    /// Fourier Kernel Estimator at the tail of the full-resolution decoder (`deeprft-*`
    /// models, models.md §6.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fke: Option<FkeConfig>,
}

impl NafNetConfig {
    /// `nafnet-s`: width 16, encoders [1,1,1,2], middle 1, decoders [1,1,1,1] (1,256,115 params).
    pub fn small() -> Self {
        Self {
            width: 16,
            enc_blocks: vec![1, 1, 1, 2],
            middle_blocks: 1,
            dec_blocks: vec![1, 1, 1, 1],
            pde: None,
            fke: None,
        }
    }

    /// Two levels of one block each at `width`: a network small enough for tests.
    pub fn tiny(width: usize) -> Self {
        Self {
            width,
            enc_blocks: vec![1, 1],
            middle_blocks: 1,
            dec_blocks: vec![1, 1],
            pde: None,
            fke: None,
        }
    }

    /// `deeprft-s`: `nafnet-s` with the FKE at the tail of the decoder (1,267,942 params).
    pub fn small_fke() -> Self {
        Self {
            fke: Some(FkeConfig::default()),
            ..Self::small()
        }
    }

    /// `nafnet-s` with one PDE layer at the bottleneck (1,267,635 params).
    pub fn small_pde() -> Self {
        Self {
            pde: Some(PdeConfig::default()),
            ..Self::small()
        }
    }

    /// GoPro width-32 configuration (17,111,907 params).
    pub fn gopro(width: usize) -> Self {
        Self {
            width,
            enc_blocks: vec![1, 1, 1, 28],
            middle_blocks: 1,
            dec_blocks: vec![1, 1, 1, 1],
            pde: None,
            fke: None,
        }
    }

    /// Input sizes are padded to a multiple of this (one factor 2 per level).
    pub fn pad_multiple(&self) -> usize {
        1 << self.enc_blocks.len()
    }

    /// Channels at the bottleneck.
    pub fn bottleneck_channels(&self) -> usize {
        self.width << self.enc_blocks.len()
    }

    /// Checks what the U-Net needs: as many decoder as encoder levels, a non-zero width.
    pub fn validate(&self) -> Result<(), String> {
        validate_unet(self.width, &self.enc_blocks, &self.dec_blocks)
    }

    /// Conv multiply-accumulates for one `3 × h × w` input (models.md §1.4), `h` and `w`
    /// multiples of [`pad_multiple`](Self::pad_multiple). PDE layers are not counted (their
    /// stencil steps are not convolutions; §2.1 lists them separately).
    pub fn macs(&self, h: usize, w: usize) -> u64 {
        // NAFBlock: conv1 c→2c, dw 3×3 on 2c, conv3 c→c, conv4 c→2c, conv5 c→c per pixel;
        // SCA's 1×1 conv on the pooled 1×1 map.
        let block = |c: u64, p: u64| p * (6 * c * c + 18 * c) + c * c;
        let mut p = (h * w) as u64;
        let mut c = self.width as u64;
        let mut total = 2 * 27 * c * p; // intro 3→c and ending c→3, both 3×3
        for &n in &self.enc_blocks {
            total += n as u64 * block(c, p) + (p / 4) * 2 * c * c * 4;
            c *= 2;
            p /= 4;
        }
        total += self.middle_blocks as u64 * block(c, p);
        for &n in &self.dec_blocks {
            total += p * 2 * c * c;
            c /= 2;
            p *= 4;
            total += n as u64 * block(c, p);
        }
        if let Some(fke) = &self.fke {
            total += fke.macs(self.width, h, w);
        }
        total
    }

    pub fn init(&self, device: &Device) -> NafNet {
        let mut chan = self.width;
        let mut encoders = Vec::new();
        let mut downs = Vec::new();
        for &n in &self.enc_blocks {
            encoders.push((0..n).map(|_| NafBlock::new(chan, device)).collect());
            downs.push(
                Conv2dConfig::new([chan, 2 * chan], [2, 2])
                    .with_stride([2, 2])
                    .init(device),
            );
            chan *= 2;
        }
        let middle_blks = (0..self.middle_blocks)
            .map(|_| NafBlock::new(chan, device))
            .collect();
        let mut ups = Vec::new();
        let mut decoders = Vec::new();
        for &n in &self.dec_blocks {
            ups.push(conv1x1(chan, 2 * chan, false, device));
            chan /= 2;
            decoders.push((0..n).map(|_| NafBlock::new(chan, device)).collect());
        }
        let pde_layers = match &self.pde {
            Some(p) => (0..p.n_layers)
                .map(|_| PdeLayer::new(self.bottleneck_channels(), p, device))
                .collect(),
            None => Vec::new(),
        };
        NafNet {
            intro: conv3x3(3, self.width, 1, device),
            pde_layers,
            fke: self.fke.as_ref().map(|f| Fke::new(self.width, f, device)),
            encoders,
            downs,
            middle_blks,
            ups,
            decoders,
            ending: conv3x3(self.width, 3, 1, device),
        }
    }
}

/// NAFNet. Module paths are the canonical names of models.md §1.3.
#[derive(Module, Debug)]
pub struct NafNet {
    pub intro: Conv2d,
    pub encoders: Vec<Vec<NafBlock>>,
    pub downs: Vec<Conv2d>,
    pub middle_blks: Vec<NafBlock>,
    pub ups: Vec<Conv2d>,
    pub decoders: Vec<Vec<NafBlock>>,
    pub ending: Conv2d,
    /// Empty unless the model has PDE layers; adds no keys then, so NAFNet files still load.
    pub pde_layers: Vec<PdeLayer>,
    /// The Fourier Kernel Estimator of `deeprft-*` models (keys `fke.*`); none otherwise.
    pub fke: Option<Fke>,
}

/// Everything one forward pass of a NAFNet computes besides the PDE statistics.
pub struct NafOutputs {
    /// The model's output: the FKE's for `deeprft-*`, else `ending(F) + B`.
    pub image: Tensor<4>,
    /// `deeprft-*` only: the backbone's own `ending(F) + B` (an auxiliary training output).
    pub aux: Option<Tensor<4>>,
    /// `deeprft-*` only: the FKE's per-channel OTF `(re, im)`, `[N,C,H',W'/2+1]` at the
    /// power-of-two size `H' × W'` the input was padded to.
    pub otf: Option<(Tensor<4>, Tensor<4>)>,
}

/// How the PDE layers integrate: `k` steps of `dt` with the CFL limit (from the model card).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PdeRun {
    pub k: usize,
    pub dt: f64,
    pub cfl: f32,
}

impl Default for PdeRun {
    /// The last stage of the progressive schedule, used at inference (§4.5).
    fn default() -> Self {
        Self {
            k: 5,
            dt: 0.2,
            cfl: 0.9,
        }
    }
}

/// PixelShuffle(2) in PyTorch channel order:
/// `out[n, c, 2y+i, 2x+j] = in[n, 4c + 2i + j, y, x]`.
pub fn pixel_shuffle2(x: Tensor<4>) -> Tensor<4> {
    let [n, c4, h, w] = x.dims();
    let c = c4 / 4;
    x.reshape([n, c, 2, 2, h, w])
        .permute([0, 1, 4, 2, 5, 3])
        .reshape([n, c, 2 * h, 2 * w])
}

impl NafNet {
    /// Levels of the U-Net (downsamplings).
    pub fn levels(&self) -> usize {
        self.encoders.len()
    }

    /// Runs the network on `[N,3,H,W]` sRGB input of any size; the outputs have the same size.
    /// `bottleneck` transforms the deepest features (the PDE layers of `*-pde` models).
    ///
    /// Padding: zeros on the right and bottom to the U-Net's multiple (the official models'
    /// rule); with an FKE, edge replication to the next power of two instead (§6.3), since
    /// the FFT needs it and a replicated border adds no false edge to the circular transform.
    pub fn forward_parts(
        &self,
        inp: Tensor<4>,
        bottleneck: impl FnOnce(Tensor<4>) -> Tensor<4>,
        want_aux: bool,
    ) -> NafOutputs {
        let [_, _, h, w] = inp.dims();
        let (ph, pw, mode) = if self.fke.is_some() {
            (fft_len(h) - h, fft_len(w) - w, PadMode::Edge)
        } else {
            let m = 1usize << self.levels();
            ((m - h % m) % m, (m - w % m) % m, PadMode::Constant(0.0))
        };
        let padded = if ph + pw > 0 {
            inp.pad([(0, ph), (0, pw)], mode)
        } else {
            inp
        };

        let mut x = same_conv_forward(&self.intro, padded.clone());
        let mut skips = Vec::with_capacity(self.levels());
        for (blocks, down) in self.encoders.iter().zip(&self.downs) {
            for b in blocks {
                x = b.forward(x);
            }
            skips.push(x.clone());
            x = down.forward(x);
        }
        for b in &self.middle_blks {
            x = b.forward(x);
        }
        x = bottleneck(x);
        for ((up, blocks), skip) in self
            .ups
            .iter()
            .zip(&self.decoders)
            .zip(skips.into_iter().rev())
        {
            x = pixel_shuffle2(pointwise_forward(up, x)) + skip;
            for b in blocks {
                x = b.forward(x);
            }
        }
        let crop = |t: Tensor<4>| {
            if ph + pw > 0 {
                let n = t.dims()[0];
                t.slice([0..n, 0..3, 0..h, 0..w])
            } else {
                t
            }
        };
        match &self.fke {
            None => NafOutputs {
                image: crop(same_conv_forward(&self.ending, x) + padded),
                aux: None,
                otf: None,
            },
            Some(fke) => {
                let aux = want_aux
                    .then(|| crop(same_conv_forward(&self.ending, x.clone()) + padded.clone()));
                let out = fke.forward(x, padded);
                NafOutputs {
                    image: crop(out.image),
                    aux,
                    otf: Some((out.otf_re, out.otf_im)),
                }
            }
        }
    }

    /// Where the FKE's transforms and the PDE layers' iterations run.
    pub fn with_kernel_path(mut self, path: KernelPath) -> Self {
        if let Some(fke) = self.fke.as_mut() {
            fke.path = path;
        }
        for layer in &mut self.pde_layers {
            layer.path = path;
        }
        self
    }

    /// After a warm start from a plain NAFNet: make the FKE reproduce the backbone (§6.3).
    pub fn warm_start_fke(mut self) -> Self {
        if let Some(fke) = self.fke.take() {
            self.fke = Some(fke.warm_start(&self.ending));
        }
        self
    }

    /// Restores `[N,3,H,W]`; PDE layers (if any) run with the inference schedule.
    pub fn forward(&self, inp: Tensor<4>) -> Tensor<4> {
        self.forward_pde(inp, PdeRun::default()).0
    }

    /// Like [`forward`](Self::forward) with an explicit PDE schedule, returning the CFL
    /// statistics summed over the layers.
    pub fn forward_pde(&self, inp: Tensor<4>, run: PdeRun) -> (Tensor<4>, Option<PdeStats>) {
        let (out, stats) = self.forward_all(inp, run, false);
        (out.image, stats)
    }

    /// All outputs of a forward pass with an explicit PDE schedule.
    /// `want_aux`: also the backbone's own estimate of `deeprft-*` models (training only).
    pub fn forward_all(
        &self,
        inp: Tensor<4>,
        run: PdeRun,
        want_aux: bool,
    ) -> (NafOutputs, Option<PdeStats>) {
        let mut stats: Option<PdeStats> = None;
        let out = self.forward_parts(
            inp,
            |mut x| {
                for layer in &self.pde_layers {
                    let (y, s) = layer.forward(x, run.k, run.dt, run.cfl);
                    x = y;
                    stats = Some(match stats.take() {
                        Some(acc) => PdeStats {
                            elements: acc.elements + s.elements,
                            clamped: acc.clamped + s.clamped,
                        },
                        None => s,
                    });
                }
                x
            },
            want_aux,
        );
        (out, stats)
    }
}

/// The U-Net shape rules every family shares: a non-zero width and as many decoder as
/// encoder levels.
pub(crate) fn validate_unet(
    width: usize,
    enc_blocks: &[usize],
    dec_blocks: &[usize],
) -> Result<(), String> {
    if width == 0 {
        return Err("width must be positive".into());
    }
    if enc_blocks.len() != dec_blocks.len() {
        return Err(format!(
            "{} encoder levels but {} decoder levels",
            enc_blocks.len(),
            dec_blocks.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    #[test]
    fn parameter_counts_match_the_spec() {
        let device = Device::flex();
        assert_eq!(NafNetConfig::small().init(&device).num_params(), 1_256_115);
        assert_eq!(
            NafNetConfig::gopro(32).init(&device).num_params(),
            17_111_907
        );
    }

    #[test]
    fn malformed_configs_are_refused_with_the_reason() {
        let uneven = NafNetConfig {
            dec_blocks: vec![1, 1],
            ..NafNetConfig::small()
        };
        assert_eq!(
            uneven.validate(),
            Err("4 encoder levels but 2 decoder levels".to_string())
        );
        let empty = NafNetConfig {
            width: 0,
            ..NafNetConfig::small()
        };
        assert_eq!(empty.validate(), Err("width must be positive".to_string()));
        assert_eq!(NafNetConfig::small().validate(), Ok(()));
    }

    #[test]
    fn macs_reproduce_the_published_figures() {
        // models.md §1.4: the convention reproduces NAFNet's 15.96 G and 63.05 G.
        let g = |c: NafNetConfig| c.macs(256, 256) as f64 / 1e9;
        assert!((g(NafNetConfig::small()) - 1.41).abs() < 0.005);
        assert!((g(NafNetConfig::gopro(32)) - 15.96).abs() < 0.005);
        assert!((g(NafNetConfig::gopro(64)) - 63.05).abs() < 0.005);
    }

    #[test]
    fn pixel_shuffle_uses_pytorch_order() {
        let device = Device::flex();
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 4, 1, 1]),
            &device,
        );
        let y: Vec<f32> = pixel_shuffle2(x).into_data().try_to_vec().expect("f32");
        // out[0,0,i,j] = in[0, 2i+j]
        assert_eq!(y, vec![1.0, 2.0, 3.0, 4.0]);
        let x = Tensor::<4>::from_data(
            TensorData::new((0..16).map(|v| v as f32).collect::<Vec<_>>(), [1, 4, 2, 2]),
            &device,
        );
        let y: Vec<f32> = pixel_shuffle2(x).into_data().try_to_vec().expect("f32");
        // Row 0 of the 4x4 output: (y=0,i=0): x=0 j=0 -> ch0[0,0]=0, j=1 -> ch1[0,0]=4, x=1 -> 1, 5
        assert_eq!(&y[0..4], &[0.0, 4.0, 1.0, 5.0]);
        assert_eq!(&y[4..8], &[8.0, 12.0, 9.0, 13.0]);
    }

    #[test]
    fn deeprft_s_has_the_specified_size() {
        let cfg = NafNetConfig::small_fke();
        assert_eq!(cfg.init(&Device::flex()).num_params(), 1_267_942);
        let g = cfg.macs(256, 256) as f64 / 1e9;
        assert!((g - 1.78).abs() < 0.005, "{g}");
    }

    #[test]
    fn warm_started_deeprft_reproduces_its_backbone() {
        // §6.3: with nafnet's weights and the FKE's pass-through, the model's output equals
        // the plain NAFNet's (on power-of-two sizes, where the two pad rules agree), and the
        // auxiliary output is that same image. Odd sizes keep their size.
        let device = Device::flex();
        let small = |fke| NafNetConfig {
            fke,
            ..NafNetConfig::tiny(8)
        };
        let mut naf = small(None).init(&device);
        // Non-zero block gates, so the backbone is not the identity.
        for b in naf
            .encoders
            .iter_mut()
            .chain(naf.decoders.iter_mut())
            .flatten()
        {
            b.beta = b
                .beta
                .clone()
                .map(|t| t.random_like(Distribution::Normal(0.0, 0.5)));
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("naf.safetensors");
        crate::nets::weights::save_safetensors(&naf, &path, false).expect("save");
        let rft = small(Some(FkeConfig::default())).init(&device);
        let rft = crate::nets::weights::load_safetensors_warm(rft, &path, "fke.")
            .expect("warm start")
            .warm_start_fke();
        let x = Tensor::<4>::random([1, 3, 64, 32], Distribution::Uniform(0.0, 1.0), &device);
        let (out, _) = rft.forward_all(x.clone(), PdeRun::default(), true);
        let diff = |a: Tensor<4>, b: Tensor<4>| (a - b).abs().max().into_scalar::<f32>();
        assert!(diff(out.image.clone(), naf.forward(x.clone())) < 1e-5);
        assert!(diff(out.image, out.aux.expect("aux output")) < 1e-5);
        let odd = Tensor::<4>::random([1, 3, 37, 53], Distribution::Uniform(0.0, 1.0), &device);
        assert_eq!(rft.forward(odd).dims(), [1, 3, 37, 53]);
    }

    #[test]
    fn fresh_network_keeps_any_size() {
        let device = Device::flex();
        let net = NafNetConfig::tiny(8).init(&device);
        let x = Tensor::<4>::random([1, 3, 37, 53], Distribution::Uniform(0.0, 1.0), &device);
        let y = net.forward(x);
        assert_eq!(y.dims(), [1, 3, 37, 53]);
    }
}
