//! NAFNet building blocks (models.md §3.1): LayerNorm2d, SimpleGate, SCA and NAFBlock.
//!
//! Field names follow the official NAFNet checkpoint (`norm1`, `conv1`, …, `beta`, `gamma`) so
//! that weights map one to one (§1.3).

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::PaddingConfig2d;
use burn::tensor::{Device, Tensor};

use super::depthwise::depthwise_forward;
use super::pointwise::pointwise_forward;

/// Epsilon of the official LayerNorm2d.
const LN_EPS: f64 = 1e-6;

/// Channel LayerNorm at every pixel, computed in f32 (§1.1: never in f16).
#[derive(Module, Debug)]
pub struct LayerNorm2d {
    pub weight: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
}

impl LayerNorm2d {
    pub fn new(channels: usize, device: &Device) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::ones([channels], device)),
            bias: Param::from_tensor(Tensor::zeros([channels], device)),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, c, _, _] = x.dims();
        let mu = x.clone().mean_dim(1);
        let centred = x - mu;
        let var = centred.clone().powi_scalar(2).mean_dim(1);
        let y = centred / (var + LN_EPS).sqrt();
        y * self.weight.val().reshape([1, c, 1, 1]) + self.bias.val().reshape([1, c, 1, 1])
    }
}

/// Splits the channels in two halves and multiplies them (halves the channel count).
pub fn simple_gate(x: Tensor<4>) -> Tensor<4> {
    let [_, c, _, _] = x.dims();
    let half = c / 2;
    let x1 = x.clone().narrow(1, 0, half);
    let x2 = x.narrow(1, half, half);
    x1 * x2
}

/// Global average pool over (h, w), keeping the dimensions: [N,C,H,W] -> [N,C,1,1].
pub fn global_avg_pool(x: Tensor<4>) -> Tensor<4> {
    x.mean_dim(2).mean_dim(3)
}

/// Simplified channel attention: `x ⊙ conv1x1(GAP(x))`, no sigmoid (§3.1).
pub fn sca(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let weights = pointwise_forward(conv, global_avg_pool(x.clone()));
    x * weights
}

/// A 3x3 "same" convolution (optionally depthwise).
pub fn conv3x3(c_in: usize, c_out: usize, groups: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_groups(groups)
        .init(device)
}

/// A pointwise convolution.
pub fn conv1x1(c_in: usize, c_out: usize, bias: bool, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [1, 1])
        .with_bias(bias)
        .init(device)
}

/// A per-channel scale of shape (1, c, 1, 1), initialised to `value`.
pub fn channel_param(channels: usize, value: f32, device: &Device) -> Param<Tensor<4>> {
    Param::from_tensor(Tensor::ones([1, channels, 1, 1], device) * value)
}

/// NAFBlock(c) with expansion 2 in both halves and no dropout. Identity at initialisation
/// because `beta = gamma = 0`.
#[derive(Module, Debug)]
pub struct NafBlock {
    pub norm1: LayerNorm2d,
    pub conv1: Conv2d,
    pub conv2: Conv2d,
    pub sca: Conv2d,
    pub conv3: Conv2d,
    pub norm2: LayerNorm2d,
    pub conv4: Conv2d,
    pub conv5: Conv2d,
    pub beta: Param<Tensor<4>>,
    pub gamma: Param<Tensor<4>>,
}

impl NafBlock {
    pub fn new(c: usize, device: &Device) -> Self {
        let dw = 2 * c;
        Self {
            norm1: LayerNorm2d::new(c, device),
            conv1: conv1x1(c, dw, true, device),
            conv2: conv3x3(dw, dw, dw, device),
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
        let t = simple_gate(depthwise_forward(&self.conv2, t));
        let t = pointwise_forward(&self.conv3, sca(&self.sca, t));
        let y = inp + t * self.beta.val();
        let t = pointwise_forward(&self.conv4, self.norm2.forward(y.clone()));
        let t = pointwise_forward(&self.conv5, simple_gate(t));
        y + t * self.gamma.val()
    }
}

/// Number of parameters of a NAFBlock of width `c` (models.md: `7c² + 33c`).
pub const fn naf_block_params(c: usize) -> usize {
    7 * c * c + 33 * c
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    fn cpu() -> Device {
        Device::flex()
    }

    fn max_abs_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    #[test]
    fn fresh_block_is_the_identity() {
        let device = cpu();
        let block = NafBlock::new(8, &device);
        let x = Tensor::<4>::random([2, 8, 5, 7], Distribution::Normal(0.0, 1.0), &device);
        assert_eq!(max_abs_diff(block.forward(x.clone()), x), 0.0);
    }

    #[test]
    fn block_parameter_count_matches_the_formula() {
        let block = NafBlock::new(16, &cpu());
        assert_eq!(block.num_params(), naf_block_params(16));
    }

    #[test]
    fn layer_norm_normalises_over_channels() {
        let device = cpu();
        let ln = LayerNorm2d::new(4, &device);
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 4, 1, 1]),
            &device,
        );
        let y: Vec<f32> = ln.forward(x).into_data().try_to_vec().expect("f32 data");
        // mean 2.5, biased variance 1.25
        let s = (1.25f32 + 1e-6).sqrt();
        let expected = [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s];
        for (a, b) in y.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn simple_gate_multiplies_halves() {
        let device = cpu();
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![2.0f32, 3.0, 5.0, 7.0], [1, 4, 1, 1]),
            &device,
        );
        let y: Vec<f32> = simple_gate(x).into_data().try_to_vec().expect("f32 data");
        assert_eq!(y, vec![10.0, 21.0]);
    }
}
