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
//!   ([`weight_grad_f32`]), in parallel over channels; other backends keep burn's.
//!
//! On the flex CPU backend a 3×3 conv's forward + backward at training shapes takes 0.30× of
//! burn's time this way and a 9×9's 0.24× (`deblur bench --kernels --devices cpu`). The forward
//! pass is burn's conv2d on every backend, and [`depthwise_forward`] leaves undifferentiated
//! passes (inference) to the module itself, so inference is unchanged.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Cube, Dispatch, Flex, TensorMetadata};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::PaddingConfig2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Device, Tensor, TensorData};
use rayon::prelude::*;

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
        // Consumed, not cloned: `into_data` copies only what is shared or strided.
        let (xd, gd) = (x.into_data(), output_grad.into_data());
        let grad = match (xd.as_slice::<f32>(), gd.as_slice::<f32>()) {
            (Ok(xs), Ok(gs)) => weight_grad_f32(xs, gs, dims, k),
            _ => unreachable!("f32 tensors hold f32 data"),
        };
        FlexTensor::from_data(TensorData::new(grad, [c, 1, k, k]))
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

/// `∂L/∂w[c,i,j] = Σ_n Σ_(y,x) g[n,c,y,x] · x[n,c,y+i−p,x+j−p]` (zero outside the image,
/// `p = k/2`), for contiguous `[N, C, H, W]` inputs; returns `[C, k, k]` row-major.
/// Rows are summed in f32 and rows into f64, so the error does not grow with `N·H`.
pub fn weight_grad_f32(x: &[f32], g: &[f32], [n, c, h, w]: [usize; 4], k: usize) -> Vec<f32> {
    let p = k / 2;
    let plane = h * w;
    let mut out = vec![0.0f32; c * k * k];
    out.par_chunks_mut(k * k)
        .enumerate()
        .for_each(|(ch, taps)| {
            let mut acc = vec![0.0f64; k * k];
            for b in 0..n {
                let base = (b * c + ch) * plane;
                let (xp, gp) = (&x[base..base + plane], &g[base..base + plane]);
                for y in 0..h {
                    let g_row = &gp[y * w..(y + 1) * w];
                    for i in 0..k {
                        // Source row y + i − p must lie inside the image.
                        let Some(sy) = (y + i).checked_sub(p).filter(|&sy| sy < h) else {
                            continue;
                        };
                        let x_row = &xp[sy * w..(sy + 1) * w];
                        for j in 0..k {
                            // Output columns whose source column ox + j − p is inside the image.
                            let lo = p.saturating_sub(j);
                            let hi = (w + p).saturating_sub(j).min(w);
                            if lo < hi {
                                let shift = lo + j - p;
                                acc[i * k + j] +=
                                    dot(&g_row[lo..hi], &x_row[shift..shift + hi - lo]) as f64;
                            }
                        }
                    }
                }
            }
            for (t, a) in taps.iter_mut().zip(acc) {
                *t = a as f32;
            }
        });
    out
}

/// Dot product with eight independent accumulators, so that it vectorises.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
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
    let y = Tensor::<4>::from_dispatch(<Dispatch as DepthwiseConv>::depthwise_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
    ));
    super::conv_backward::add_bias(conv, y)
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
            assert_eq!(y0, y1, "k {k}: forward is burn's conv2d");
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
