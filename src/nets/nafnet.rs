//! The NAFNet U-Net (models.md §3.2) with optional PDE layers at the bottleneck (§4.3).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::blocks::{conv1x1, conv3x3, NafBlock};
use super::pde::{PdeConfig, PdeLayer, PdeStats};

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
        if self.width == 0 {
            return Err("width must be positive".into());
        }
        if self.enc_blocks.len() != self.dec_blocks.len() {
            return Err(format!(
                "{} encoder levels but {} decoder levels",
                self.enc_blocks.len(),
                self.dec_blocks.len()
            ));
        }
        Ok(())
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

    /// Runs the network on `[N,3,H,W]` sRGB input of any size; the output has the same size.
    /// `bottleneck` transforms the deepest features (the PDE layers of `*-pde` models).
    pub fn forward_with(
        &self,
        inp: Tensor<4>,
        bottleneck: impl FnOnce(Tensor<4>) -> Tensor<4>,
    ) -> Tensor<4> {
        let [_, _, h, w] = inp.dims();
        let m = 1usize << self.levels();
        let (ph, pw) = ((m - h % m) % m, (m - w % m) % m);
        let padded = if ph + pw > 0 {
            inp.pad([(0, ph), (0, pw)], PadMode::Constant(0.0))
        } else {
            inp
        };

        let mut x = self.intro.forward(padded.clone());
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
            x = pixel_shuffle2(up.forward(x)) + skip;
            for b in blocks {
                x = b.forward(x);
            }
        }
        let out = self.ending.forward(x) + padded;
        if ph + pw > 0 {
            let n = out.dims()[0];
            out.slice([0..n, 0..3, 0..h, 0..w])
        } else {
            out
        }
    }

    /// Restores `[N,3,H,W]`; PDE layers (if any) run with the inference schedule.
    pub fn forward(&self, inp: Tensor<4>) -> Tensor<4> {
        self.forward_pde(inp, PdeRun::default()).0
    }

    /// Like [`forward`](Self::forward) with an explicit PDE schedule, returning the CFL
    /// statistics summed over the layers.
    pub fn forward_pde(&self, inp: Tensor<4>, run: PdeRun) -> (Tensor<4>, Option<PdeStats>) {
        let mut stats: Option<PdeStats> = None;
        let out = self.forward_with(inp, |mut x| {
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
        });
        (out, stats)
    }
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
    fn fresh_network_keeps_any_size() {
        let device = Device::flex();
        let net = NafNetConfig {
            width: 8,
            enc_blocks: vec![1, 1],
            middle_blocks: 1,
            dec_blocks: vec![1, 1],
            pde: None,
        }
        .init(&device);
        let x = Tensor::<4>::random([1, 3, 37, 53], Distribution::Uniform(0.0, 1.0), &device);
        let y = net.forward(x);
        assert_eq!(y.dims(), [1, 3, 37, 53]);
    }
}
