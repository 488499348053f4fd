//! Training losses (models.md §10.1): PSNRLoss, L1, Charbonnier, Edge and Frequency on the
//! restored image, combined with the weights a recipe gives, and the degree loss on a DHNet's
//! router degree map.

use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

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

/// L1: `mean |pred − gt|`.
pub fn l1(pred: Tensor<4>, gt: Tensor<4>) -> Tensor<1> {
    (pred - gt).abs().mean()
}

/// ε of the Charbonnier and Edge losses.
pub const CHARBONNIER_EPS: f64 = 1e-3;

/// Charbonnier: `mean √((pred − gt)² + ε²)`.
pub fn charbonnier(pred: Tensor<4>, gt: Tensor<4>) -> Tensor<1> {
    ((pred - gt).powi_scalar(2) + CHARBONNIER_EPS * CHARBONNIER_EPS)
        .sqrt()
        .mean()
}

/// Taps of the separable 5×5 Gaussian of the edge loss.
const GAUSS5: [f32; 5] = [0.05, 0.25, 0.4, 0.25, 0.05];

/// G: the separable Gaussian per channel with replicate padding of 2.
fn gauss5(x: Tensor<4>) -> Tensor<4> {
    let [_, c, _, _] = x.dims();
    let device = x.device();
    let taps = |shape: [usize; 4]| {
        let data: Vec<f32> = (0..c).flat_map(|_| GAUSS5).collect();
        Tensor::<4>::from_data(TensorData::new(data, shape), &device)
    };
    let padded = x.pad([(2, 2), (2, 2)], PadMode::Edge);
    let opts = || ConvOptions::new([1, 1], [0, 0], [1, 1], c);
    let v = conv2d(padded, taps([c, 1, 5, 1]), None, opts());
    conv2d(v, taps([c, 1, 1, 5]), None, opts())
}

/// `lap(x) = x − G(U(D(G(x))))`; D keeps even rows and columns, U puts the samples back on
/// them with zeros between and multiplies by 4. `H` and `W` must be even.
pub fn laplacian(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let (h2, w2) = (h / 2, w / 2);
    let down = gauss5(x.clone())
        .reshape([n, c, h2, 2, w2, 2])
        .narrow(3, 0, 1)
        .narrow(5, 0, 1);
    let zeros_h = Tensor::zeros([n, c, h2, 1, w2, 1], &x.device());
    let up = Tensor::cat(vec![down, zeros_h], 5); // [n, c, h2, 1, w2, 2]
    let zeros_v = Tensor::zeros([n, c, h2, 1, w2, 2], &x.device());
    let up = Tensor::cat(vec![up, zeros_v], 3).reshape([n, c, h, w]) * 4.0;
    x - gauss5(up)
}

/// Edge: Charbonnier between the Laplacians of prediction and target.
pub fn edge_loss(pred: Tensor<4>, gt: Tensor<4>) -> Tensor<1> {
    charbonnier(laplacian(pred), laplacian(gt))
}

/// `cos` and `sin` of `2π·a·b/len` for `a` in `0..rows`, `b` in `0..cols`, as `[rows, cols]`.
fn dft_tables(rows: usize, cols: usize, len: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
    let mut cos = Vec::with_capacity(rows * cols);
    let mut sin = Vec::with_capacity(rows * cols);
    for a in 0..rows {
        for b in 0..cols {
            // Reduce a·b mod len first: exact phases even for long transforms.
            let phase = 2.0 * std::f64::consts::PI * ((a * b) % len) as f64 / len as f64;
            cos.push(phase.cos() as f32);
            sin.push(phase.sin() as f32);
        }
    }
    (
        Tensor::from_data(TensorData::new(cos, [rows, cols]), device),
        Tensor::from_data(TensorData::new(sin, [rows, cols]), device),
    )
}

/// `rfft2` of §1.2 (unnormalised; `W/2 + 1` bins along W, then a full transform along H) as
/// two real matrix products, so it runs and differentiates on every backend. Returns
/// `(re, im)`, each `[N·C, W/2+1, H]` (the frequency axes transposed: only their sums matter).
///
/// Decision: a DFT by matrix product instead of an FFT. For 256² crops it costs about
/// 1.2 GMAC per image batch of 8 × 3 channels, a few percent of the network's own cost, and
/// needs no custom backward.
pub fn rfft2(x: Tensor<4>) -> (Tensor<3>, Tensor<3>) {
    let [n, c, h, w] = x.dims();
    let v = w / 2 + 1;
    let device = x.device();
    let (cw, sw) = dft_tables(w, v, w, &device);
    let (ch, sh) = dft_tables(h, h, h, &device);
    // Along W: X(h, v) = Σ_x x(h, x) (cos − i sin).
    let rows = x.reshape([n * c * h, w]);
    let re = rows.clone().matmul(cw);
    let im = rows.matmul(sw).neg();
    // Along H: bring h last, multiply by the (symmetric) H tables.
    let t = |m: Tensor<2>| {
        m.reshape([n * c, h, v])
            .swap_dims(1, 2)
            .reshape([n * c * v, h])
    };
    let (re, im) = (t(re), t(im));
    let re2 = re.clone().matmul(ch.clone()) + im.clone().matmul(sh.clone());
    let im2 = im.matmul(ch) - re.matmul(sh);
    (re2.reshape([n * c, v, h]), im2.reshape([n * c, v, h]))
}

/// Frequency: `mean_{n,c,u,v} |rfft2(pred) − rfft2(gt)|`, the modulus as
/// `√(re² + im² + 1e-12)` so its gradient stays finite at 0.
pub fn frequency_loss(pred: Tensor<4>, gt: Tensor<4>) -> Tensor<1> {
    let (re, im) = rfft2(pred - gt);
    (re.powi_scalar(2) + im.powi_scalar(2) + 1e-12)
        .sqrt()
        .mean()
}

/// The degree loss's unit: an error of this many pixels costs 1.
/// Decision: 32 px, the order of the longest kernels the generator draws (linear motion up to
/// 31 px, §12.2), so the term's size stays near the image terms'.
pub const DEGREE_SCALE_PX: f64 = 32.0;

/// Degree: `mean |d − e| / DEGREE_SCALE_PX` between a DHNet's displayed degree map `d`
/// (`[N,1,H,W]`, models.md §5.5) and the generator's true extent map `e` (§12.3).
///
/// Our addition to §5.4. Trained on the image alone, `dhnet-s`'s routers did not rank blur
/// (Spearman ρ −0.05 at 5,300 iterations, per site between −0.14 and +0.16): the degree
/// `Σ w̄_k·k` is not pinned by the image loss, because each expert's 1×1 output conv can scale
/// its contribution whatever weight the router gives it. This term asks the routers to
/// recognise the degree, as DDRE's name says, and makes the map read in pixels of blur.
pub fn degree_loss(degree: Tensor<4>, extent: Tensor<4>) -> Tensor<1> {
    (degree - extent).abs().mean() / DEGREE_SCALE_PX
}

/// Degree contrast: [`degree_loss`] on the maps less their per-image means,
/// `mean |(d − d̄) − (e − ē)| / DEGREE_SCALE_PX`: only where in the image the blur is stronger,
/// not how strong it is overall. Flat where the blur is uniform, following the mask where it
/// is not: what models.md §5.6's per-image rank correlation asks.
///
/// Our addition too. With the degree term alone, `dhnet-s` learnt the overall level (Spearman
/// ρ of image means 0.84, 5.1 px error, at 7,600) but not the layout within an image
/// (per-pixel ρ −0.006).
pub fn degree_contrast_loss(degree: Tensor<4>, extent: Tensor<4>) -> Tensor<1> {
    let centred = |t: Tensor<4>| {
        let [n, c, h, w] = t.dims();
        let mean = t
            .clone()
            .reshape([n, c * h * w])
            .mean_dim(1)
            .reshape([n, 1, 1, 1]);
        t - mean
    };
    degree_loss(centred(degree), centred(extent))
}

/// A loss a recipe can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    Psnr,
    L1,
    Charbonnier,
    Edge,
    Frequency,
    /// [`degree_loss`]; DHNet only.
    Degree,
    /// [`degree_contrast_loss`]; DHNet only.
    DegreeContrast,
}

impl LossKind {
    /// Whether the term compares the restored image with the sharp one.
    pub fn on_image(self) -> bool {
        !self.on_degree()
    }

    /// The name recipes use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Psnr => "psnr",
            Self::L1 => "l1",
            Self::Charbonnier => "charbonnier",
            Self::Edge => "edge",
            Self::Frequency => "frequency",
            Self::Degree => "degree",
            Self::DegreeContrast => "degree_contrast",
        }
    }

    /// Whether the term compares the router degree map with the true extent map.
    pub fn on_degree(self) -> bool {
        matches!(self, Self::Degree | Self::DegreeContrast)
    }
}

/// One weighted term of a recipe's loss.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossTerm {
    pub kind: LossKind,
    pub weight: f64,
    /// The first iteration the term counts in (0: from the start), so that a recipe can add a
    /// term to a run part-way and still say truthfully what each iteration trained on.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub from: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl LossTerm {
    pub fn new(kind: LossKind, weight: f64) -> Self {
        Self {
            kind,
            weight,
            from: 0,
        }
    }

    /// Whether the term counts at iteration `iter`.
    pub fn active_at(&self, iter: u64) -> bool {
        iter >= self.from
    }
}

/// `Σ weight · term(pred, gt)` over the image terms (see [`LossKind::on_image`]).
pub fn total_loss(terms: &[LossTerm], pred: Tensor<4>, gt: Tensor<4>) -> Tensor<1> {
    let mut total: Option<Tensor<1>> = None;
    for t in terms.iter().filter(|t| t.kind.on_image()) {
        let (p, g) = (pred.clone(), gt.clone());
        let value = match t.kind {
            LossKind::Psnr => psnr_loss(p, g),
            LossKind::L1 => l1(p, g),
            LossKind::Charbonnier => charbonnier(p, g),
            LossKind::Edge => edge_loss(p, g),
            LossKind::Frequency => frequency_loss(p, g),
            LossKind::Degree | LossKind::DegreeContrast => continue,
        } * t.weight;
        total = Some(match total {
            Some(acc) => acc + value,
            None => value,
        });
    }
    total.unwrap_or_else(|| Tensor::zeros([1], &pred.device()))
}

#[cfg(test)]
#[path = "loss_tests.rs"]
mod tests;
