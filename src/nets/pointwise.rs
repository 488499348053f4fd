//! Pointwise (1×1) convolution as a matrix product, `[Co, Ci] · [N, Ci, H·W]`, when it is to
//! be differentiated.
//!
//! burn 0.22 differentiates a conv with a transposed convolution (input gradient) and a
//! convolution whose kernel is the whole output gradient (weight gradient); a matrix product
//! differentiates into two matrix products. On the flex CPU backend a 1×1 conv's forward +
//! backward at training shapes takes 0.54× (16 → 32 channels) and 0.11× (32 → 16) of the
//! conv's time that way (`deblur bench --kernels --devices cpu`). burn's own conv is faster in
//! the forward pass alone (it fuses the bias), so inference keeps it.
use burn::nn::conv::Conv2d;
use burn::nn::PaddingConfig2d;
use burn::tensor::Tensor;

/// `conv` (a 1×1 conv with one group, stride 1, no padding, as [`super::blocks::conv1x1`]
/// builds) applied to `x`: as a matrix product (bias included) when the autodiff graph tracks
/// `x` or the weights, else as the conv itself, as is any other conv.
pub fn pointwise_forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let weight = conv.weight.val();
    if !(weight.is_tracked() || x.is_tracked()) {
        return conv.forward(x);
    }
    let [co, ci, kh, kw] = weight.dims();
    let [n, c, h, w] = x.dims();
    let plain = matches!(conv.padding, PaddingConfig2d::Valid) && conv.stride == [1, 1];
    if (kh, kw) != (1, 1) || c != ci || conv.groups != 1 || !plain {
        return conv.forward(x);
    }
    let y = weight
        .reshape([1, co, ci])
        .matmul(x.reshape([n, ci, h * w]));
    let y = match &conv.bias {
        Some(bias) => y + bias.val().reshape([1, co, 1]),
        None => y,
    };
    y.reshape([n, co, h, w])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::blocks::conv1x1;
    use crate::nets::conv_backward::test_util::{rel_err as max_rel_diff, values};
    use burn::tensor::{Device, Distribution};

    /// Output and both gradients (input, weight, bias) equal the conv's, with and without bias.
    #[test]
    fn matches_the_conv_and_its_gradients() {
        let device = Device::flex().autodiff();
        for bias in [true, false] {
            let conv = conv1x1(5, 7, bias, &device);
            let x = Tensor::<4>::random([2, 5, 6, 9], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let run = |y: Tensor<4>| {
                let grads = (y.clone() * y.clone()).sum().backward();
                let mut out = vec![
                    values(y),
                    values(x.grad(&grads).expect("x grad")),
                    values(conv.weight.grad(&grads).expect("weight grad")),
                ];
                if let Some(b) = &conv.bias {
                    out.push(
                        b.grad(&grads)
                            .expect("bias grad")
                            .into_data()
                            .try_to_vec::<f32>()
                            .expect("f32"),
                    );
                }
                out
            };
            let want = run(conv.forward(x.clone()));
            let got = run(pointwise_forward(&conv, x.clone()));
            assert_eq!(want.len(), got.len());
            for (k, (g, e)) in got.iter().zip(&want).enumerate() {
                assert!(
                    max_rel_diff(g, e) < 1e-5,
                    "bias {bias}, item {k}: {}",
                    max_rel_diff(g, e)
                );
            }
        }
    }

    #[test]
    fn untracked_inputs_run_the_conv_itself() {
        let device = Device::flex();
        let conv = conv1x1(3, 4, true, &device);
        let x = Tensor::<4>::random([1, 3, 5, 5], Distribution::Normal(0.0, 1.0), &device);
        assert_eq!(
            values(pointwise_forward(&conv, x.clone())),
            values(conv.forward(x))
        );
    }

    #[test]
    fn other_convs_run_as_themselves() {
        let device = Device::flex().autodiff();
        let conv = crate::nets::blocks::conv3x3(3, 4, 1, &device);
        let x = Tensor::<4>::random([1, 3, 5, 5], Distribution::Normal(0.0, 1.0), &device)
            .require_grad();
        assert_eq!(
            values(pointwise_forward(&conv, x.clone())),
            values(conv.forward(x))
        );
    }
}
