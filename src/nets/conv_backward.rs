//! The autodiff node shared by the conv extensions ([`super::depthwise`], [`super::same_conv`]):
//! a stride-1 conv without bias whose input and weight gradients come from backend functions.

use std::fmt;
use std::marker::PhantomData;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch};
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

/// `(x, weight) → y`.
pub(super) type Forward<B> = fn(FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>;
/// `(output_grad, weight) → ∂L/∂x`.
pub(super) type InputGrad<B> = fn(FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>;
/// `(x, weight, output_grad) → ∂L/∂weight`.
pub(super) type WeightGrad<B> =
    fn(FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>;

struct ConvBackward<B>(PhantomData<fn() -> B>);

impl<B> fmt::Debug for ConvBackward<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConvBackward")
    }
}

impl<B: Backend> Backward<B, 2> for ConvBackward<B> {
    type State = (NodeId, NodeId, InputGrad<B>, WeightGrad<B>);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, input_grad, weight_grad) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        let weight = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight_state);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, input_grad(grad.clone(), weight.clone()));
        }
        if let Some(node) = node_weight {
            grads.register::<B>(node.id, weight_grad(x, weight, grad));
        }
    }
}

/// `forward(x, weight)` on the inner backend, recorded on the autodiff graph with the given
/// gradient functions.
pub(super) fn tracked<B: Backend, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    weight: FloatTensor<Autodiff<B, C>>,
    forward: Forward<B>,
    input_grad: InputGrad<B>,
    weight_grad: WeightGrad<B>,
) -> FloatTensor<Autodiff<B, C>> {
    match ConvBackward::<B>(PhantomData)
        .prepare::<C>([x.node(), weight.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let x_state = prep.checkpoint(&x);
            let weight_state = prep.checkpoint(&weight);
            let y = forward(x.into_primitive(), weight.into_primitive());
            prep.finish((x_state, weight_state, input_grad, weight_grad), y)
        }
        OpsKind::UnTracked(prep) => {
            prep.finish(forward(x.into_primitive(), weight.into_primitive()))
        }
    }
}

/// `conv` (whose weight the caller has read as `weight`) applied to `x` through an
/// extension's dispatch entry point `op`, then `conv`'s bias added.
pub(super) fn through_extension(
    conv: &Conv2d,
    x: Tensor<4>,
    weight: Tensor<4>,
    op: Forward<Dispatch>,
) -> Tensor<4> {
    let y = op(x.into_dispatch(), weight.into_dispatch());
    add_bias(conv, Tensor::<4>::from_dispatch(y))
}

/// `y` plus `conv`'s bias, if it has one, broadcast over `[N, C, H, W]`.
fn add_bias(conv: &Conv2d, y: Tensor<4>) -> Tensor<4> {
    match &conv.bias {
        Some(bias) => {
            let c = bias.dims()[0];
            y + bias.val().reshape([1, c, 1, 1])
        }
        None => y,
    }
}

/// Helpers of the conv extensions' tests.
#[cfg(test)]
pub(super) mod test_util {
    use burn::tensor::Tensor;

    pub fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().expect("f32 data")
    }

    /// Largest difference relative to the largest magnitude of `want`.
    pub fn rel_err(got: &[f32], want: &[f32]) -> f32 {
        assert_eq!(got.len(), want.len());
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
        got.iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
            / scale
    }
}
