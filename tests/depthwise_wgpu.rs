//! The depthwise-conv extension's gradients on wgpu (lavapipe in CI) against burn's grouped
//! conv2d on the CPU: on wgpu the input gradient is the flipped-kernel convolution and the
//! weight gradient burn's own, so this checks the routing and the flip on that backend.

mod common;

use burn::backend::Dispatch;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use deblur::nets::depthwise::DepthwiseConv;

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 data")
}

/// `(y, ∂Σy²/∂x, ∂Σy²/∂w)` of a depthwise conv of `x` by `w` on `device` (autodiff).
fn forward_and_grads(
    device: &Device,
    x: &TensorData,
    w: &TensorData,
    extension: bool,
) -> [Vec<f32>; 3] {
    let x = Tensor::<4>::from_data(x.clone(), device).require_grad();
    let w = Tensor::<4>::from_data(w.clone(), device).require_grad();
    let [c, _, k, _] = w.dims();
    let y = if extension {
        Tensor::from_dispatch(<Dispatch as DepthwiseConv>::depthwise_conv2d(
            x.clone().into_dispatch(),
            w.clone().into_dispatch(),
        ))
    } else {
        let options = ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], c);
        conv2d(x.clone(), w.clone(), None, options)
    };
    let grads = (y.clone() * y.clone()).sum().backward();
    let gx = values(x.grad(&grads).expect("x grad"));
    let gw = values(w.grad(&grads).expect("weight grad"));
    [values(y), gx, gw]
}

#[test]
fn depthwise_gradients_on_wgpu_match_the_cpu() {
    let Some(gpu) = common::wgpu_device("depthwise_gradients_on_wgpu_match_the_cpu") else {
        return;
    };
    let cpu = Device::flex().autodiff();
    for (k, [n, c, h, w]) in [(3, [2, 4, 9, 11]), (7, [1, 3, 10, 6])] {
        let len = n * c * h * w;
        let x: Vec<f32> = (0..len)
            .map(|i| ((i * 37 % 29) as f32 - 14.0) / 9.0)
            .collect();
        let wt: Vec<f32> = (0..c * k * k)
            .map(|i| ((i * 11 % 13) as f32 - 6.0) / 10.0)
            .collect();
        let (x, wt) = (
            TensorData::new(x, [n, c, h, w]),
            TensorData::new(wt, [c, 1, k, k]),
        );
        let want = forward_and_grads(&cpu, &x, &wt, false);
        let got = forward_and_grads(&gpu.clone().autodiff(), &x, &wt, true);
        for (what, (g, e)) in ["output", "x grad", "weight grad"]
            .iter()
            .zip(got.iter().zip(&want))
        {
            let scale = e.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let err = common::max_abs_diff(g, e) / scale;
            assert!(
                err < 1e-4,
                "k {k}: {what} differs by {err} (relative to {scale})"
            );
        }
    }
}
