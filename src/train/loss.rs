//! Training losses (models.md §10.1).

use burn::tensor::Tensor;

/// PSNRLoss: `(10/ln 10) · mean_n ln(mean_{c,h,w}(pred − gt)² + 1e-8)`, per image then
/// averaged over the batch. Minimising it maximises the mean per-image PSNR.
pub fn psnr_loss(pred: Tensor<4>, gt: Tensor<4>) -> Tensor<1> {
    let [n, c, h, w] = pred.dims();
    let mse = (pred - gt)
        .powi_scalar(2)
        .reshape([n, c * h * w])
        .mean_dim(1);
    (mse + 1e-8).log().mean() * (10.0 / std::f64::consts::LN_10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn psnr_loss_is_minus_the_mean_psnr() {
        let device = Device::flex();
        let gt = Tensor::<4>::zeros([2, 3, 4, 4], &device);
        // Image 0 off by 0.1 everywhere (PSNR 20 dB), image 1 by 0.01 (40 dB).
        let mut v = vec![0.1f32; 48];
        v.extend(vec![0.01f32; 48]);
        let pred = Tensor::<4>::from_data(TensorData::new(v, [2, 3, 4, 4]), &device);
        let loss: f32 = psnr_loss(pred, gt).into_scalar::<f32>();
        assert!((loss - (-30.0)).abs() < 1e-3, "loss {loss}");
    }
}
