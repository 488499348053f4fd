//! Depthwise "same" convolution (stride 1, odd `k × k` kernel, padding `k/2`) as a burn backend
//! extension, so that its backward pass is computed directly instead of by burn's generic
//! grouped-convolution backward.
//!
//! burn 0.22 differentiates a grouped conv group by group: each channel's weight gradient is a
//! convolution whose kernel is the whole output gradient, and the input gradient a transposed
//! convolution with a `k²`-row column buffer. Here:
//! * the input gradient is the same depthwise conv of the output gradient with the kernel
//!   flipped (exact for stride 1 and symmetric padding), on every backend;
//! * the weight gradient on flex is `k²` dot products per channel over `N·H·W`
//!   ([`weight_grad_f32`]), in parallel over channels; other backends keep burn's;
//! * on flex the forward pass and the input gradient are direct plane convolutions
//!   (`depthwise_cpu`) rather than burn's grouped conv2d.
//!
//! On the flex CPU backend a 3×3 conv's forward + backward at training shapes takes 0.30× of
//! burn's time this way and a 9×9's 0.24× (`deblur bench --kernels --devices cpu`), before the
//! direct forward. [`depthwise_forward`] leaves undifferentiated passes (inference) to the
//! module itself, so inference is unchanged.

use super::depthwise_cpu::{conv_same_f32, weight_grad_f32};
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Cube, Dispatch, Flex, TensorMetadata};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::PaddingConfig2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Device, Tensor, TensorData};

/// A depthwise stride-1 "same" convolution without bias. `weight` is `[C, 1, k, k]` with odd
/// `k`; `x` and the output are `[N, C, H, W]`.
#[backend_extension(Flex, Cube, Autodiff)]
pub trait DepthwiseConv: Backend {
    fn depthwise_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        let options = same_options(&weight.shape().dims::<4>());
        Self::conv2d(x, weight, None, options)
    }

    /// `∂L/∂x`: the output gradient convolved with the flipped kernel.
    fn depthwise_conv2d_x_backward(
        output_grad: FloatTensor<Self>,
        weight: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let options = same_options(&weight.shape().dims::<4>());
        Self::conv2d(
            output_grad,
            Self::float_flip(weight, &[2, 3]),
            None,
            options,
        )
    }

    /// `∂L/∂weight`; burn's generic grouped-conv weight gradient unless a backend has better.
    fn depthwise_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let options = same_options(&weight.shape().dims::<4>());
        Self::conv2d_weight_backward(x, weight, output_grad, options)
    }
}

/// Stride 1, padding `k/2`, one group per channel, for a `[C, 1, k, k]` weight.
fn same_options(&[c, _, k, _]: &[usize; 4]) -> ConvOptions<2> {
    ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], c)
}

impl DepthwiseConv for Cube {}

impl DepthwiseConv for Flex {
    fn depthwise_conv2d(x: FlexTensor, weight: FlexTensor) -> FlexTensor {
        flex_direct(x, weight, false)
    }

    fn depthwise_conv2d_x_backward(output_grad: FlexTensor, weight: FlexTensor) -> FlexTensor {
        flex_direct(output_grad, weight, true)
    }

    fn depthwise_conv2d_weight_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
    ) -> FlexTensor {
        let dims = x.shape().dims::<4>();
        let [c, _, k, _] = weight.shape().dims::<4>();
        // Other float types keep burn's path (training runs in f32).
        if [x.dtype(), weight.dtype(), output_grad.dtype()] != [DType::F32; 3] {
            let options = same_options(&weight.shape().dims::<4>());
            return Self::conv2d_weight_backward(x, weight, output_grad, options);
        }
        let (x, output_grad) = (contiguous(x), contiguous(output_grad));
        let grad = match (x.as_slice::<f32>(), output_grad.as_slice::<f32>()) {
            (Some(xs), Some(gs)) => weight_grad_f32(xs, gs, dims, k),
            _ => unreachable!("contiguous f32 tensors have an f32 slice"),
        };
        FlexTensor::from_data(TensorData::new(grad, [c, 1, k, k]))
    }
}

/// The depthwise conv of `x` on flex by [`conv_same_f32`] (`flip`: with the kernel rotated,
/// the input gradient); other float types keep burn's conv2d.
fn flex_direct(x: FlexTensor, weight: FlexTensor, flip: bool) -> FlexTensor {
    let dims = x.shape().dims::<4>();
    let [_, _, k, _] = weight.shape().dims::<4>();
    if [x.dtype(), weight.dtype()] != [DType::F32; 2] {
        let options = same_options(&weight.shape().dims::<4>());
        let weight = if flip {
            Flex::float_flip(weight, &[2, 3])
        } else {
            weight
        };
        return Flex::conv2d(x, weight, None, options);
    }
    let (x, weight) = (contiguous(x), contiguous(weight));
    let out = match (x.as_slice::<f32>(), weight.as_slice::<f32>()) {
        (Some(xs), Some(ws)) => conv_same_f32(xs, ws, dims, k, flip),
        _ => unreachable!("contiguous f32 tensors have an f32 slice"),
    };
    FlexTensor::from_data(TensorData::new(out, dims))
}

/// `t` itself when its data is one contiguous run (read in place, never copied: the tensors
/// here are usually shared with the autodiff graph), else a contiguous copy.
fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.layout().contiguous_offsets().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

impl<B: Backend + DepthwiseConv, C: CheckpointStrategy> DepthwiseConv for Autodiff<B, C> {
    fn depthwise_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        super::conv_backward::tracked::<B, C>(
            x,
            weight,
            B::depthwise_conv2d,
            B::depthwise_conv2d_x_backward,
            B::depthwise_conv2d_weight_backward,
        )
    }
}

/// A depthwise `k × k` "same" conv with bias: the module [`depthwise_forward`] expects.
pub fn depthwise_conv(c: usize, k: usize, device: &Device) -> Conv2d {
    let p = k / 2;
    Conv2dConfig::new([c, c], [k, k])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_groups(c)
        .init(device)
}

/// `conv` (a [`depthwise_conv`]) applied to `x`, bias included: through
/// [`DepthwiseConv`] when the autodiff graph tracks `x` or the weights, else as the module.
pub fn depthwise_forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let weight = conv.weight.val();
    if !(weight.is_tracked() || x.is_tracked()) {
        return conv.forward(x);
    }
    super::conv_backward::through_extension(
        conv,
        x,
        weight,
        <Dispatch as DepthwiseConv>::depthwise_conv2d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::conv_backward::test_util::{rel_err, values};
    use burn::tensor::module::conv2d;
    use burn::tensor::Distribution;

    #[test]
    fn weight_grad_equals_the_defining_sum() {
        let dims @ [n, c, h, w] = [2, 3, 5, 7];
        let x: Vec<f32> = (0..n * c * h * w)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
            .collect();
        let g: Vec<f32> = (0..n * c * h * w)
            .map(|i| ((i * 53 % 19) as f32 - 9.0) / 5.0)
            .collect();
        for k in [1, 3, 5, 9] {
            let p = k as isize / 2;
            let got = weight_grad_f32(&x, &g, dims, k);
            for ch in 0..c {
                for i in 0..k {
                    for j in 0..k {
                        let mut want = 0.0f64;
                        for b in 0..n {
                            for y in 0..h {
                                for xx in 0..w {
                                    let (sy, sx) =
                                        (y as isize + i as isize - p, xx as isize + j as isize - p);
                                    if (0..h as isize).contains(&sy)
                                        && (0..w as isize).contains(&sx)
                                    {
                                        let at = |v: &[f32], yy: usize, xc: usize| {
                                            v[((b * c + ch) * h + yy) * w + xc] as f64
                                        };
                                        want += at(&g, y, xx) * at(&x, sy as usize, sx as usize);
                                    }
                                }
                            }
                        }
                        let v = got[(ch * k + i) * k + j] as f64;
                        assert!(
                            (v - want).abs() < 1e-4,
                            "k {k} c {ch} tap ({i},{j}): {v} vs {want}"
                        );
                    }
                }
            }
        }
    }

    /// Forward, input gradient and weight gradient of the extension against burn's grouped
    /// conv2d on the flex autodiff backend, for kernels from pointwise to 9×9 and an image
    /// narrower than the kernel (every tap partly outside).
    #[test]
    fn gradients_match_burns_grouped_conv() {
        let device = Device::flex().autodiff();
        for (k, [n, c, h, w]) in [
            (1, [2, 3, 6, 5]),
            (3, [2, 4, 9, 11]),
            (5, [1, 2, 8, 8]),
            (9, [2, 3, 6, 13]),
        ] {
            let x = Tensor::<4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let wt = Tensor::<4>::random([c, 1, k, k], Distribution::Normal(0.0, 0.5), &device)
                .require_grad();
            // A non-uniform upstream gradient: the loss is Σ y².
            let run = |y: Tensor<4>| {
                let grads = (y.clone() * y.clone()).sum().backward();
                let gx = values(x.grad(&grads).expect("x grad"));
                let gw = values(wt.grad(&grads).expect("weight grad"));
                (values(y), gx, gw)
            };
            let options = ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], c);
            let (y0, gx0, gw0) = run(conv2d(x.clone(), wt.clone(), None, options));
            let (y1, gx1, gw1) = run(Tensor::from_dispatch(
                <Dispatch as DepthwiseConv>::depthwise_conv2d(
                    x.clone().into_dispatch(),
                    wt.clone().into_dispatch(),
                ),
            ));
            // The direct forward sums the taps in another order than burn's conv2d.
            assert!(
                rel_err(&y1, &y0) < 1e-6,
                "k {k}: forward {}",
                rel_err(&y1, &y0)
            );
            assert!(
                rel_err(&gx1, &gx0) < 1e-5,
                "k {k}: x grad {}",
                rel_err(&gx1, &gx0)
            );
            assert!(
                rel_err(&gw1, &gw0) < 1e-5,
                "k {k}: weight grad {}",
                rel_err(&gw1, &gw0)
            );
        }
    }

    #[test]
    fn depthwise_forward_equals_the_module_with_its_bias() {
        let device = Device::flex();
        let conv = depthwise_conv(4, 3, &device);
        let bias = conv.bias.as_ref().expect("a bias").val();
        assert!(
            bias.abs().max().into_scalar::<f32>() > 0.0,
            "a non-zero bias is tested"
        );
        let x = Tensor::<4>::random([2, 4, 7, 6], Distribution::Normal(0.0, 1.0), &device);
        let want = values(conv.forward(x.clone()));
        let got = values(depthwise_forward(&conv, x));
        assert!(rel_err(&got, &want) < 1e-6);
    }
}
