//! DHNet (models.md §5): the NAFNet U-Net with Volterra blocks and degradation-degree routing.
//!
//! * [`Volterra`]: `y = W1∗x + Σ_q (Wa_q∗x) ⊙ (Wb_q∗x)`, every `W` a depthwise 3×3 conv (§5.1).
//! * [`VBlock`]: a NAFBlock whose dw-conv + SimpleGate is replaced by the Volterra unit.
//! * [`Ddre`]: routers give softmax weights over experts of growing receptive field at every
//!   pixel; the output is `x + Σ_k w̄_k ⊙ E_k(x)` (§5.2).
//! * [`DhNet`]: VBlocks everywhere, a DDRE closing every encoder and decoder level (§5.3).
//!
//! The router weights are computed in every forward pass (the mixture needs them), so
//! [`DhNet::forward_with_routes`] only keeps handles to them: asking for the routes costs no
//! extra compute, and [`DhNet::forward`] does not hold on to them.
//!
//! Decisions where the spec is silent:
//! * The optional frozen `nafnet-s` prior of §5.2 is left out: it needs a second network, its
//!   weights and its intermediate features on every tile, and doubles the backbone cost. Only
//!   the default `Conv3×3` prior exists.
//! * `dhnet-32` applies the design to the `nafnet-32` layout (width 32, encoders
//!   [1,1,1,28]); the spec only names `dhnet-s`.
//! * The DDRE router input `x_in` at a decoder level is the sum of the upsampled features and
//!   the skip, i.e. the input of that level's VBlocks.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::Initializer;
use burn::tensor::activation::softmax;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions, PadMode};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::blocks::{channel_param, conv1x1, conv3x3, sca, simple_gate, LayerNorm2d};
use super::depthwise::{depthwise_conv, depthwise_forward};
use super::nafnet::pixel_shuffle2;
use super::pointwise::pointwise_forward;
use super::same_conv::same_conv_forward;

/// Expert kernel sizes of the spec (E = 5, growing receptive field).
pub const EXPERT_KERNELS: [usize; 5] = [1, 3, 5, 7, 9];

/// Architecture hyper-parameters of a DHNet (the `[config]` table of its model card). Every
/// field is required in files: `volterra_rank` is what tells a DHNet table from a NAFNet one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DhNetConfig {
    pub width: usize,
    pub enc_blocks: Vec<usize>,
    pub middle_blocks: usize,
    pub dec_blocks: Vec<usize>,
    /// Rank Q of the second-order Volterra term (§5.1).
    pub volterra_rank: usize,
    /// Routers R per DDRE (§5.2).
    pub routers: usize,
    /// Odd kernel sizes of the experts, one expert each (§5.2: 1, 3, 5, 7, 9).
    pub expert_kernels: Vec<usize>,
}

/// Multiply-accumulates of one forward pass (models.md §1.4: convs only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Macs {
    pub total: u64,
    /// The share of the DDREs (0 for networks without).
    pub ddre: u64,
}

impl DhNetConfig {
    /// `dhnet-s`: width 16, encoders [1,1,1,2], middle 1, decoders [1,1,1,1], Q = 4, R = 3,
    /// E = 5 (1,898,571 parameters, 4.14 GMAC at 256²).
    pub fn small() -> Self {
        Self {
            width: 16,
            enc_blocks: vec![1, 1, 1, 2],
            middle_blocks: 1,
            dec_blocks: vec![1, 1, 1, 1],
            volterra_rank: 4,
            routers: 3,
            expert_kernels: EXPERT_KERNELS.to_vec(),
        }
    }

    /// `dhnet-s` with two levels of one block each at `width`: small enough for tests.
    pub fn tiny(width: usize) -> Self {
        Self {
            width,
            enc_blocks: vec![1, 1],
            middle_blocks: 1,
            dec_blocks: vec![1, 1],
            ..Self::small()
        }
    }

    /// The design on the GoPro width-32 layout of `nafnet-32` (our choice; not in the spec).
    pub fn wide32() -> Self {
        Self {
            width: 32,
            enc_blocks: vec![1, 1, 1, 28],
            ..Self::small()
        }
    }

    /// Input sizes are padded to a multiple of this (one factor 2 per level).
    pub fn pad_multiple(&self) -> usize {
        1 << self.enc_blocks.len()
    }

    pub fn validate(&self) -> Result<(), String> {
        super::nafnet::validate_unet(self.width, &self.enc_blocks, &self.dec_blocks)?;
        if self.routers == 0 {
            return Err("routers must be at least 1".into());
        }
        if self.expert_kernels.is_empty() || self.expert_kernels.iter().any(|k| k % 2 == 0) {
            return Err("expert_kernels must be a non-empty list of odd sizes".into());
        }
        Ok(())
    }

    pub fn init(&self, device: &Device) -> DhNet {
        let mut chan = self.width;
        let (mut encoders, mut enc_ddre, mut downs) = (Vec::new(), Vec::new(), Vec::new());
        for &n in &self.enc_blocks {
            encoders.push((0..n).map(|_| self.vblock(chan, device)).collect());
            enc_ddre.push(self.ddre(chan, device));
            downs.push(
                Conv2dConfig::new([chan, 2 * chan], [2, 2])
                    .with_stride([2, 2])
                    .init(device),
            );
            chan *= 2;
        }
        let middle_blks = (0..self.middle_blocks)
            .map(|_| self.vblock(chan, device))
            .collect();
        let (mut ups, mut decoders, mut dec_ddre) = (Vec::new(), Vec::new(), Vec::new());
        for &n in &self.dec_blocks {
            ups.push(conv1x1(chan, 2 * chan, false, device));
            chan /= 2;
            decoders.push((0..n).map(|_| self.vblock(chan, device)).collect());
            dec_ddre.push(self.ddre(chan, device));
        }
        DhNet {
            intro: conv3x3(3, self.width, 1, device),
            encoders,
            enc_ddre,
            downs,
            middle_blks,
            ups,
            decoders,
            dec_ddre,
            ending: conv3x3(self.width, 3, 1, device),
        }
    }

    fn vblock(&self, c: usize, device: &Device) -> VBlock {
        VBlock::new(c, self.volterra_rank, device)
    }

    fn ddre(&self, c: usize, device: &Device) -> Ddre {
        Ddre::new(c, self.routers, &self.expert_kernels, device)
    }

    /// Exact parameter count from the layer definitions (§5.1, §5.2), without building.
    pub fn param_count(&self) -> usize {
        let (r, e) = (self.routers, self.expert_kernels.len());
        let k2: usize = self.expert_kernels.iter().map(|k| k * k).sum();
        let vblock = |c: usize| 6 * c * c + (12 + 10 * (1 + 2 * self.volterra_rank)) * c;
        // prior 3×3 c→c, routers 1×1 2c→E, experts dw k×k + pw 1×1 c→c (all with bias).
        let ddre =
            |c: usize| (9 * c * c + c) + r * (2 * c * e + e) + (k2 * c + e * c) + e * (c * c + c);
        let mut n = 3 * 9 * self.width + self.width + self.width * 9 * 3 + 3;
        let mut c = self.width;
        for &blocks in &self.enc_blocks {
            n += blocks * vblock(c) + ddre(c) + (8 * c * c + 2 * c);
            c *= 2;
        }
        n += self.middle_blocks * vblock(c);
        for &blocks in &self.dec_blocks {
            n += 2 * c * c;
            c /= 2;
            n += blocks * vblock(c) + ddre(c);
        }
        n
    }

    /// Conv multiply-accumulates for one `3 × h × w` input (§1.4), `h` and `w` multiples of
    /// [`pad_multiple`](Self::pad_multiple). SCA's 1×1 conv runs on the pooled 1×1 map.
    pub fn macs(&self, h: usize, w: usize) -> Macs {
        let q = self.volterra_rank as u64;
        let (r, e) = (self.routers as u64, self.expert_kernels.len() as u64);
        let k2: u64 = self.expert_kernels.iter().map(|&k| (k * k) as u64).sum();
        let vblock = |c: u64, p: u64| p * (5 * c * c + 9 * (1 + 2 * q) * c) + c * c;
        let ddre = |c: u64, p: u64| p * (9 * c * c + 2 * c * e * r + k2 * c + e * c * c);
        let (mut total, mut ddre_total) = (0u64, 0u64);
        let mut p = (h * w) as u64;
        let mut c = self.width as u64;
        total += p * 27 * c + p * c * 27; // intro and ending
        for &blocks in &self.enc_blocks {
            total += blocks as u64 * vblock(c, p);
            ddre_total += ddre(c, p);
            total += (p / 4) * 2 * c * c * 4; // 2×2 stride-2 conv c → 2c
            c *= 2;
            p /= 4;
        }
        total += self.middle_blocks as u64 * vblock(c, p);
        for &blocks in &self.dec_blocks {
            total += p * 2 * c * c; // 1×1 c → 2c before PixelShuffle
            c /= 2;
            p *= 4;
            total += blocks as u64 * vblock(c, p);
            ddre_total += ddre(c, p);
        }
        Macs {
            total: total + ddre_total,
            ddre: ddre_total,
        }
    }

    /// Smallest and largest possible value of the displayed blur-degree map (§5.5): the mean
    /// over all sites of `2^l · k_min` and `2^l · k_max`, in image pixels.
    pub fn degree_bounds(&self) -> (f32, f32) {
        let levels = self.enc_blocks.len();
        // Every level has one encoder and one decoder site, so the site mean is the level mean.
        let mean_scale = (0..levels).map(|l| (1u64 << l) as f32).sum::<f32>() / levels as f32;
        let kmin = self.expert_kernels.iter().copied().min().unwrap_or(1) as f32;
        let kmax = self.expert_kernels.iter().copied().max().unwrap_or(1) as f32;
        (mean_scale * kmin, mean_scale * kmax)
    }
}

/// Volterra(c, Q): first-order depthwise 3×3 plus a rank-Q second-order term (§5.1).
#[derive(Module, Debug)]
pub struct Volterra {
    pub lin: Conv2d,
    pub a: Vec<Conv2d>,
    pub b: Vec<Conv2d>,
}

impl Volterra {
    pub fn new(c: usize, rank: usize, device: &Device) -> Self {
        Self {
            lin: depthwise_conv(c, 3, device),
            a: (0..rank).map(|_| depthwise_conv(c, 3, device)).collect(),
            b: (0..rank).map(|_| depthwise_conv(c, 3, device)).collect(),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut y = depthwise_forward(&self.lin, x.clone());
        for (a, b) in self.a.iter().zip(&self.b) {
            y = y + depthwise_forward(a, x.clone()) * depthwise_forward(b, x.clone());
        }
        y
    }
}

/// VBlock(c): NAFBlock with the Volterra unit in place of dw-conv + SimpleGate (§5.1).
/// Identity at initialisation because `beta = gamma = 0`.
#[derive(Module, Debug)]
pub struct VBlock {
    pub norm1: LayerNorm2d,
    pub conv1: Conv2d,
    pub volterra: Volterra,
    pub sca: Conv2d,
    pub conv3: Conv2d,
    pub norm2: LayerNorm2d,
    pub conv4: Conv2d,
    pub conv5: Conv2d,
    pub beta: burn::module::Param<Tensor<4>>,
    pub gamma: burn::module::Param<Tensor<4>>,
}

impl VBlock {
    pub fn new(c: usize, rank: usize, device: &Device) -> Self {
        Self {
            norm1: LayerNorm2d::new(c, device),
            conv1: conv1x1(c, c, true, device),
            volterra: Volterra::new(c, rank, device),
            sca: conv1x1(c, c, true, device),
            conv3: conv1x1(c, c, true, device),
            norm2: LayerNorm2d::new(c, device),
            conv4: conv1x1(c, 2 * c, true, device),
            conv5: conv1x1(c, c, true, device),
            beta: channel_param(c, 0.0, device),
            gamma: channel_param(c, 0.0, device),
        }
    }

    pub fn forward(&self, inp: Tensor<4>) -> Tensor<4> {
        let t = pointwise_forward(&self.conv1, self.norm1.forward(inp.clone()));
        let t = self.volterra.forward(t);
        let t = pointwise_forward(&self.conv3, sca(&self.sca, t));
        let y = inp + t * self.beta.val();
        let t = pointwise_forward(
            &self.conv5,
            simple_gate(pointwise_forward(
                &self.conv4,
                self.norm2.forward(y.clone()),
            )),
        );
        y + t * self.gamma.val()
    }
}

/// One expert: depthwise `k × k` then pointwise `c → c`, both with bias (§5.2).
#[derive(Module, Debug)]
pub struct Expert {
    pub dw: Conv2d,
    pub pw: Conv2d,
}

impl Expert {
    /// `pw` starts at zero so that a fresh DDRE is the identity.
    pub fn new(c: usize, k: usize, device: &Device) -> Self {
        Self {
            dw: depthwise_conv(c, k, device),
            pw: Conv2dConfig::new([c, c], [1, 1])
                .with_initializer(Initializer::Zeros)
                .init(device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        pointwise_forward(&self.pw, depthwise_forward(&self.dw, x))
    }
}

/// The router outputs of one DDRE for one forward pass.
#[derive(Clone, Debug)]
pub struct DdreRoutes {
    /// `w̄`, the mean over routers: `[N, E, h, w]`, summing to 1 over E at every pixel.
    pub weights: Tensor<4>,
    /// Each router's softmax `w_r`, `[N, E, h, w]`.
    pub routers: Vec<Tensor<4>>,
}

/// Degradation-degree recognition experts (§5.2).
#[derive(Module, Debug)]
pub struct Ddre {
    pub prior: Conv2d,
    pub routers: Vec<Conv2d>,
    pub experts: Vec<Expert>,
}

impl Ddre {
    pub fn new(c: usize, routers: usize, kernels: &[usize], device: &Device) -> Self {
        Self {
            prior: conv3x3(c, c, 1, device),
            routers: (0..routers)
                .map(|_| conv1x1(2 * c, kernels.len(), true, device))
                .collect(),
            experts: kernels.iter().map(|&k| Expert::new(c, k, device)).collect(),
        }
    }

    /// Router weights for `x` (the VBlocks' output) and `x_in` (the DHBlock's input).
    pub fn route(&self, x: Tensor<4>, x_in: Tensor<4>) -> DdreRoutes {
        let z = Tensor::cat(vec![x, same_conv_forward(&self.prior, x_in)], 1);
        let routers: Vec<Tensor<4>> = self
            .routers
            .iter()
            .map(|r| softmax(pointwise_forward(r, z.clone()), 1))
            .collect();
        let n = routers.len().max(1) as f64;
        let weights = routers
            .iter()
            .cloned()
            .reduce(|a, b| a + b)
            .map(|s| s / n)
            // validate() refuses zero routers; this branch only keeps the code total.
            .unwrap_or_else(|| {
                let [b, _, h, w] = z.dims();
                Tensor::ones([b, self.experts.len(), h, w], &z.device())
                    / self.experts.len().max(1) as f64
            });
        DdreRoutes { weights, routers }
    }

    /// `x + Σ_k w̄_k ⊙ E_k(x)` and the router weights that made it.
    pub fn forward(&self, x: Tensor<4>, x_in: Tensor<4>) -> (Tensor<4>, DdreRoutes) {
        let routes = self.route(x.clone(), x_in);
        let mut out = x.clone();
        for (k, expert) in self.experts.iter().enumerate() {
            let wk = routes.weights.clone().narrow(1, k, 1);
            out = out + expert.forward(x.clone()) * wk;
        }
        (out, routes)
    }
}

/// Which half of the U-Net a DDRE site closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Encoder,
    Decoder,
}

/// One DDRE site's router outputs (§5.5: `{level, side, weights}`).
#[derive(Clone, Debug)]
pub struct RouterSite {
    /// The site runs at `1/2^level` of the (padded) input resolution.
    pub level: usize,
    pub side: Side,
    pub routes: DdreRoutes,
}

/// Router outputs of every site of one forward pass: encoder levels 0.., then decoder sites
/// from the deepest level up.
#[derive(Clone, Debug)]
pub struct RouterMaps {
    pub sites: Vec<RouterSite>,
    pub expert_kernels: Vec<usize>,
}

impl RouterMaps {
    /// Blur degree of one site at its own resolution, `[N, 1, h_l, w_l]`:
    /// `d_s = 2^l · Σ_k w̄_k · k`, in image pixels (§5.5).
    pub fn site_degree(&self, site: &RouterSite) -> Tensor<4> {
        let w = &site.routes.weights;
        let e = self.expert_kernels.len();
        let scale = (1u64 << site.level) as f32;
        let ks: Vec<f32> = self
            .expert_kernels
            .iter()
            .map(|&k| k as f32 * scale)
            .collect();
        let ks = Tensor::<4>::from_data(TensorData::new(ks, [1, e, 1, 1]), &w.device());
        (w.clone() * ks).sum_dim(1)
    }

    /// The displayed map, `[N, 1, h, w]`: the mean over sites of `d_s`, each upsampled
    /// bilinearly (half-pixel centres) to the padded input size, cropped to `h × w`.
    pub fn degree_map(&self, h: usize, w: usize) -> Option<Tensor<4>> {
        self.mean_over_sites(h, w, |s| self.site_degree(s))
    }

    /// Each expert's share, `[N, E, h, w]`: the mean over sites of `w̄_k`, upsampled like
    /// [`degree_map`](Self::degree_map). Sums to 1 over E at every pixel, as `w̄` does.
    pub fn expert_maps(&self, h: usize, w: usize) -> Option<Tensor<4>> {
        self.mean_over_sites(h, w, |s| s.routes.weights.clone())
    }

    /// One site's degree map `d_s`, `[N, 1, h, w]`, upsampled like
    /// [`degree_map`](Self::degree_map); `None` for an index past the last site.
    pub fn site_degree_map(&self, index: usize, h: usize, w: usize) -> Option<Tensor<4>> {
        let site = self.sites.get(index)?;
        Some(upsampled(site.level, self.site_degree(site), h, w))
    }

    /// Mean over sites of `per_site(site)` (`[N, C, h_l, w_l]`), each upsampled to the padded
    /// input size and cropped to `h × w`.
    fn mean_over_sites(
        &self,
        h: usize,
        w: usize,
        per_site: impl Fn(&RouterSite) -> Tensor<4>,
    ) -> Option<Tensor<4>> {
        let n = self.sites.len();
        let sum = self
            .sites
            .iter()
            .map(|s| upsampled(s.level, per_site(s), h, w))
            .reduce(|a, b| a + b)?;
        Some(sum / n as f64)
    }
}

/// A map at `1/2^level` resolution upsampled bilinearly (half-pixel centres) to the padded input
/// size, then cropped to `h × w`.
fn upsampled(level: usize, d: Tensor<4>, h: usize, w: usize) -> Tensor<4> {
    let [b, c, hl, wl] = d.dims();
    let full = [hl << level, wl << level];
    let up = if level == 0 {
        d
    } else {
        interpolate(
            d,
            InterpolateOptions::new(InterpolateMode::Bilinear)
                .with_align_corners(false)
                .with_output_size(full),
        )
    };
    up.slice([0..b, 0..c, 0..h.min(full[0]), 0..w.min(full[1])])
}

/// DHNet. Module paths are NAFNet's canonical names (§1.3) plus `enc_ddre` and `dec_ddre`.
#[derive(Module, Debug)]
pub struct DhNet {
    pub intro: Conv2d,
    pub encoders: Vec<Vec<VBlock>>,
    pub enc_ddre: Vec<Ddre>,
    pub downs: Vec<Conv2d>,
    pub middle_blks: Vec<VBlock>,
    pub ups: Vec<Conv2d>,
    pub decoders: Vec<Vec<VBlock>>,
    pub dec_ddre: Vec<Ddre>,
    pub ending: Conv2d,
}

impl DhNet {
    /// Levels of the U-Net (downsamplings).
    pub fn levels(&self) -> usize {
        self.encoders.len()
    }

    /// Restores `[N,3,H,W]` sRGB input of any size; the output has the same size.
    pub fn forward(&self, inp: Tensor<4>) -> Tensor<4> {
        self.run(inp, false).0
    }

    /// Kernel sizes of the experts, read from their depthwise convs.
    pub fn expert_kernels(&self) -> Vec<usize> {
        self.enc_ddre
            .first()
            .or(self.dec_ddre.first())
            .map(|d| d.experts.iter().map(|e| e.dw.weight.dims()[2]).collect())
            .unwrap_or_default()
    }

    /// Like [`forward`](Self::forward), also returning every site's router weights.
    pub fn forward_with_routes(&self, inp: Tensor<4>) -> (Tensor<4>, RouterMaps) {
        let (out, sites) = self.run(inp, true);
        (
            out,
            RouterMaps {
                sites,
                expert_kernels: self.expert_kernels(),
            },
        )
    }

    fn run(&self, inp: Tensor<4>, keep_routes: bool) -> (Tensor<4>, Vec<RouterSite>) {
        let [_, _, h, w] = inp.dims();
        let m = 1usize << self.levels();
        let (ph, pw) = ((m - h % m) % m, (m - w % m) % m);
        let padded = if ph + pw > 0 {
            inp.pad([(0, ph), (0, pw)], PadMode::Constant(0.0))
        } else {
            inp
        };
        let mut sites = Vec::new();
        let mut keep = |level: usize, side: Side, routes: DdreRoutes| {
            if keep_routes {
                sites.push(RouterSite {
                    level,
                    side,
                    routes,
                });
            }
        };

        let mut x = same_conv_forward(&self.intro, padded.clone());
        let mut skips = Vec::with_capacity(self.levels());
        for (level, ((blocks, ddre), down)) in self
            .encoders
            .iter()
            .zip(&self.enc_ddre)
            .zip(&self.downs)
            .enumerate()
        {
            let x_in = x.clone();
            for b in blocks {
                x = b.forward(x);
            }
            let (y, routes) = ddre.forward(x, x_in);
            keep(level, Side::Encoder, routes);
            skips.push(y.clone());
            x = down.forward(y);
        }
        for b in &self.middle_blks {
            x = b.forward(x);
        }
        let levels = self.levels();
        for (i, (((up, blocks), ddre), skip)) in self
            .ups
            .iter()
            .zip(&self.decoders)
            .zip(&self.dec_ddre)
            .zip(skips.into_iter().rev())
            .enumerate()
        {
            x = pixel_shuffle2(pointwise_forward(up, x)) + skip;
            let x_in = x.clone();
            for b in blocks {
                x = b.forward(x);
            }
            let (y, routes) = ddre.forward(x, x_in);
            keep(levels - 1 - i, Side::Decoder, routes);
            x = y;
        }
        let out = same_conv_forward(&self.ending, x) + padded;
        let out = if ph + pw > 0 {
            let n = out.dims()[0];
            out.slice([0..n, 0..3, 0..h, 0..w])
        } else {
            out
        };
        (out, sites)
    }
}

#[cfg(test)]
#[path = "dhnet_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "dhnet_blur_tracking_tests.rs"]
mod blur_tracking_tests;
