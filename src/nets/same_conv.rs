//! Dense "same" convolution (one group, stride 1, odd `k × k` kernel, padding `k/2`) as a burn
//! backend extension, so that its backward pass is computed directly.
//!
//! burn 0.22's generic backward computes the weight gradient as a convolution whose kernel is
//! the whole output gradient and the input gradient as a transposed convolution with a
//! `k²`-row column buffer; on the flex CPU backend a 3×3 16 → 16 conv's forward + backward at
//! 4 × 128² took 12× its forward. Here:
//! * the input gradient is the conv of the output gradient with the kernel flipped and its
//!   in/out channels swapped (exact for stride 1 and symmetric padding), on every backend;
//! * the weight gradient on flex is one matrix product per tap ([`weight_grad_by_taps`]);
//!   other backends keep burn's.
//!
//! [`same_conv_forward`] leaves undifferentiated passes (inference) to the module itself.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Cube, Dispatch, Flex, TensorMetadata};
use burn::nn::conv::Conv2d;
use burn::nn::PaddingConfig2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{DType, Device, Tensor};

/// A dense stride-1 "same" convolution without bias. `weight` is `[Co, Ci, k, k]` with odd
/// `k`; `x` is `[N, Ci, H, W]` and the output `[N, Co, H, W]`.
#[backend_extension(Flex, Cube, Autodiff)]
pub trait SameConv: Backend {
    fn same_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        let options = same_options(weight.shape().dims::<4>()[2]);
        Self::conv2d(x, weight, None, options)
    }

    /// `∂L/∂x`: the output gradient convolved with the flipped, channel-transposed kernel.
    fn same_conv2d_x_backward(
        output_grad: FloatTensor<Self>,
        weight: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let options = same_options(weight.shape().dims::<4>()[2]);
        let flipped = Self::float_swap_dims(Self::float_flip(weight, &[2, 3]), 0, 1);
        Self::conv2d(output_grad, flipped, None, options)
    }

    /// `∂L/∂weight`; burn's generic conv weight gradient unless a backend has better.
    fn same_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let options = same_options(weight.shape().dims::<4>()[2]);
        Self::conv2d_weight_backward(x, weight, output_grad, options)
    }
}

/// Stride 1, padding `k/2`, one group.
fn same_options(k: usize) -> ConvOptions<2> {
    ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], 1)
}

impl SameConv for Cube {}

impl SameConv for Flex {
    fn same_conv2d_weight_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
    ) -> FlexTensor {
        if weight.dtype() != DType::F32 {
            let options = same_options(weight.shape().dims::<4>()[2]);
            return Self::conv2d_weight_backward(x, weight, output_grad, options);
        }
        let k = weight.shape().dims::<4>()[2];
        let device = Device::flex();
        let x = Tensor::<4>::from_data(x.into_data(), &device);
        let g = Tensor::<4>::from_data(output_grad.into_data(), &device);
        FlexTensor::from_data(weight_grad_by_taps(x, g, k).into_data())
    }
}

impl<B: Backend + SameConv, C: CheckpointStrategy> SameConv for Autodiff<B, C> {
    fn same_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        super::conv_backward::tracked::<B, C>(
            x,
            weight,
            B::same_conv2d,
            B::same_conv2d_x_backward,
            B::same_conv2d_weight_backward,
        )
    }
}

/// `∂L/∂w[o,i,ky,kx] = Σ_n Σ_p g[n,o,p] · x[n,i,p + (ky−k/2, kx−k/2)]` (zero outside the
/// image): for each of the `k²` taps one matrix product `[Co, H·W] · [H·W, Ci]` per image over
/// the shifted input. `x` is `[N, Ci, H, W]`, `g` `[N, Co, H, W]`; returns `[Co, Ci, k, k]`.
pub fn weight_grad_by_taps(x: Tensor<4>, g: Tensor<4>, k: usize) -> Tensor<4> {
    let [n, ci, h, w] = x.dims();
    let co = g.dims()[1];
    let p = k / 2;
    let padded = x.pad([(p, p), (p, p)], PadMode::Constant(0.0));
    let g = g.reshape([n, co, h * w]);
    let taps: Vec<Tensor<3>> = (0..k * k)
        .map(|t| {
            let (ky, kx) = (t / k, t % k);
            let shifted = padded
                .clone()
                .slice([0..n, 0..ci, ky..ky + h, kx..kx + w])
                .reshape([n, ci, h * w]);
            g.clone().matmul(shifted.swap_dims(1, 2)).sum_dim(0)
        })
        .collect();
    Tensor::cat(taps, 0)
        .permute([1, 2, 0])
        .reshape([co, ci, k, k])
}

/// `conv` (a dense "same" conv, as [`super::blocks::conv3x3`] builds with one group) applied to
/// `x`, bias included: through [`SameConv`] when the autodiff graph tracks `x` or the
/// weights, else as the module, as is any other conv.
pub fn same_conv_forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let weight = conv.weight.val();
    let [_, ci, kh, kw] = weight.dims();
    let p = kh / 2;
    let same = kh == kw
        && kh % 2 == 1
        && conv.groups == 1
        && conv.stride == [1, 1]
        && conv.dilation == [1, 1]
        && matches!(conv.padding, PaddingConfig2d::Explicit(a, b, c, d) if [a, b, c, d] == [p; 4]);
    if !same || x.dims()[1] != ci || !(weight.is_tracked() || x.is_tracked()) {
        return conv.forward(x);
    }
    super::conv_backward::through_extension(conv, x, weight, <Dispatch as SameConv>::same_conv2d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::blocks::conv3x3;
    use crate::nets::conv_backward::test_util::{rel_err, values};
    use burn::tensor::Distribution;

    /// Output and the input, weight and bias gradients equal the module's on the flex
    /// autodiff backend, for 3×3 convs that widen and narrow the channels and an image
    /// smaller than the kernel's reach on one side.
    #[test]
    fn gradients_match_the_module() {
        let device = Device::flex().autodiff();
        for ([ci, co], [n, h, w]) in [([3, 5], [2, 9, 11]), ([6, 4], [1, 2, 7])] {
            let conv = conv3x3(ci, co, 1, &device);
            let x = Tensor::<4>::random([n, ci, h, w], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let run = |y: Tensor<4>| {
                let grads = (y.clone() * y.clone()).sum().backward();
                let bias = conv
                    .bias
                    .as_ref()
                    .expect("a bias")
                    .grad(&grads)
                    .expect("bias grad");
                [
                    values(y),
                    values(x.grad(&grads).expect("x grad")),
                    values(conv.weight.grad(&grads).expect("weight grad")),
                    bias.into_data().try_to_vec::<f32>().expect("f32"),
                ]
            };
            let want = run(conv.forward(x.clone()));
            let got = run(same_conv_forward(&conv, x.clone()));
            for (what, (g, e)) in ["y", "x grad", "weight grad", "bias grad"]
                .iter()
                .zip(got.iter().zip(&want))
            {
                assert!(rel_err(g, e) < 1e-5, "{ci}->{co}: {what} {}", rel_err(g, e));
            }
        }
    }

    #[test]
    fn weight_grad_by_taps_equals_the_defining_sum() {
        let device = Device::flex();
        let ([n, ci, h, w], co, k) = ([2, 2, 4, 5], 3, 3);
        let x = Tensor::<4>::random([n, ci, h, w], Distribution::Normal(0.0, 1.0), &device);
        let g = Tensor::<4>::random([n, co, h, w], Distribution::Normal(0.0, 1.0), &device);
        let got = values(weight_grad_by_taps(x.clone(), g.clone(), k));
        let (xv, gv) = (values(x), values(g));
        let p = (k / 2) as isize;
        for o in 0..co {
            for i in 0..ci {
                for t in 0..k * k {
                    let (ky, kx) = ((t / k) as isize, (t % k) as isize);
                    let mut want = 0.0f64;
                    for b in 0..n {
                        for y in 0..h as isize {
                            for xx in 0..w as isize {
                                let (sy, sx) = (y + ky - p, xx + kx - p);
                                if (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx) {
                                    let gi = ((b * co + o) * h + y as usize) * w + xx as usize;
                                    let xi = ((b * ci + i) * h + sy as usize) * w + sx as usize;
                                    want += gv[gi] as f64 * xv[xi] as f64;
                                }
                            }
                        }
                    }
                    let v = got[(o * ci + i) * k * k + t] as f64;
                    assert!((v - want).abs() < 1e-4, "({o},{i},{t}): {v} vs {want}");
                }
            }
        }
    }

    #[test]
    fn untracked_and_other_convs_run_as_the_module() {
        let device = Device::flex();
        let x = Tensor::<4>::random([1, 4, 6, 6], Distribution::Normal(0.0, 1.0), &device);
        let dense = conv3x3(4, 4, 1, &device);
        assert_eq!(
            values(same_conv_forward(&dense, x.clone())),
            values(dense.forward(x.clone()))
        );
        let ad = Device::flex().autodiff();
        let grouped = conv3x3(4, 4, 2, &ad);
        let xt = Tensor::<4>::from_data(x.into_data(), &ad).require_grad();
        assert_eq!(
            values(same_conv_forward(&grouped, xt.clone())),
            values(grouped.forward(xt))
        );
    }
}
