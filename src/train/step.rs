//! One training step's forward and backward pass: the batch's loss and its gradients,
//! optionally data-parallel over shards of the batch.
//!
//! burn-flex's backward kernels keep a second CPU thread mostly idle (a nafnet-s step at batch
//! 8 of 128² takes 2,657 ms on one thread and 2,188 ms on two), so on the CPU the batch is split
//! into equal shards that run at once, each on its own replica of the model with its own
//! autodiff graph (`Module::fork`). Every loss term is a mean over images or pixels, so the
//! mean of the shard losses is the batch loss and the sum of the shard gradients, each scaled
//! by 1/shards, is the batch gradient (up to float rounding; tested).

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::loss::{total_loss, LossTerm};
use crate::nets::model::Restore;
use crate::nets::nafnet::PdeRun;
use crate::nets::pde::PdeStats;

/// What one step's forward and backward pass produced.
pub struct StepResult {
    /// The batch loss (mean over the network's outputs and the batch).
    pub loss: f32,
    pub grads: GradientsParams,
    /// The CFL guard's counts of `*-pde` models, summed over the shards.
    pub pde: Option<PdeStats>,
}

/// The largest shard count up to `wanted` that splits `batch` into equal parts.
pub fn shard_count(batch: usize, wanted: usize) -> usize {
    (1..=wanted.clamp(1, batch.max(1)))
        .rev()
        .find(|s| batch % s == 0)
        .unwrap_or(1)
}

/// Forward and backward over `blur → sharp` (`[N,3,P,P]` on an autodiff device), split into
/// [`shard_count`]`(N, shards)` shards run in parallel.
pub fn loss_and_grads<M: Module + Restore>(
    model: &M,
    blur: Tensor<4>,
    sharp: Tensor<4>,
    terms: &[LossTerm],
    pde: PdeRun,
    shards: usize,
) -> anyhow::Result<StepResult> {
    let n = blur.dims()[0];
    let shards = shard_count(n, shards);
    if shards == 1 {
        return shard_step(model, blur, sharp, terms, pde, 1.0);
    }
    let device = blur.device();
    let part = n / shards;
    // Replica 0 is the model itself; the others get fresh autodiff leaves, so that the graphs
    // do not merge (one graph is one lock) while the parameter ids, which key the gradients,
    // stay the same.
    let jobs: Vec<(M, Tensor<4>, Tensor<4>)> = (0..shards)
        .map(|i| {
            let replica = if i == 0 {
                model.clone()
            } else {
                model.clone().fork(&device)
            };
            let range = i * part..(i + 1) * part;
            (
                replica,
                blur.clone().slice(range.clone()),
                sharp.clone().slice(range),
            )
        })
        .collect();
    let scale = 1.0 / shards as f64;
    let results: Vec<(M, anyhow::Result<StepResult>)> = jobs
        .into_par_iter()
        .map(|(replica, b, s)| {
            let r = shard_step(&replica, b, s, terms, pde, scale);
            (replica, r)
        })
        .collect();
    let mut acc = GradientsAccumulator::<M>::new();
    let (mut loss, mut stats) = (0.0f32, None::<PdeStats>);
    for (replica, result) in results {
        let r = result?;
        loss += r.loss;
        acc.accumulate(&replica, r.grads);
        stats = match (stats, r.pde) {
            (Some(a), Some(b)) => Some(PdeStats {
                elements: a.elements + b.elements,
                clamped: a.clamped + b.clamped,
            }),
            (a, b) => a.or(b),
        };
    }
    Ok(StepResult {
        loss,
        grads: acc.grads(),
        pde: stats,
    })
}

/// One shard: the loss averaged over the network's outputs, scaled by `scale` before the
/// backward pass; the reported loss is the scaled one, so the shards' losses add up.
fn shard_step<M: Module + Restore>(
    model: &M,
    blur: Tensor<4>,
    sharp: Tensor<4>,
    terms: &[LossTerm],
    pde: PdeRun,
    scale: f64,
) -> anyhow::Result<StepResult> {
    let (preds, stats) = model.restore_for_training(blur, pde);
    let outputs = preds.len() as f64;
    let loss = preds
        .into_iter()
        .map(|pred| total_loss(terms, pred, sharp.clone()))
        .reduce(|a, b| a + b)
        .map(|sum| sum * (scale / outputs))
        .ok_or_else(|| anyhow::anyhow!("the network returned no output"))?;
    let value: f32 = loss.clone().into_scalar::<f32>();
    let grads = GradientsParams::from_grads(loss.backward(), model);
    Ok(StepResult {
        loss: value,
        grads,
        pde: stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::nafnet::NafNetConfig;
    use crate::train::loss::LossKind;
    use burn::module::Param;
    use burn::tensor::{Device, Distribution};

    #[test]
    fn shard_counts_divide_the_batch() {
        assert_eq!(shard_count(8, 2), 2);
        assert_eq!(shard_count(8, 3), 2);
        assert_eq!(shard_count(6, 4), 3);
        assert_eq!(shard_count(2, 8), 2);
        assert_eq!(shard_count(7, 2), 1);
        assert_eq!(shard_count(4, 0), 1);
    }

    fn grad_of(grads: &mut GradientsParams, p: &Param<Tensor<4>>) -> Vec<f32> {
        grads
            .remove::<4>(p.id)
            .expect("a gradient for the parameter")
            .into_data()
            .try_to_vec()
            .expect("f32")
    }

    #[test]
    fn two_shards_give_the_whole_batch_loss_and_gradient() {
        let device = Device::flex().autodiff();
        let net = NafNetConfig::tiny(4).init(&device);
        let blur = Tensor::<4>::random([4, 3, 16, 16], Distribution::Uniform(0.0, 1.0), &device);
        let sharp = Tensor::<4>::random([4, 3, 16, 16], Distribution::Uniform(0.0, 1.0), &device);
        let terms = [
            LossTerm::new(LossKind::Psnr, 1.0),
            LossTerm::new(LossKind::Edge, 0.05),
        ];
        let pde = PdeRun::default();
        let run = |shards| {
            loss_and_grads(&net, blur.clone(), sharp.clone(), &terms, pde, shards).expect("a step")
        };
        let (mut whole, mut split) = (run(1), run(2));
        assert!(
            (whole.loss - split.loss).abs() < 1e-4 * whole.loss.abs().max(1.0),
            "loss {} vs {}",
            whole.loss,
            split.loss
        );
        for p in [&net.intro.weight, &net.ending.weight] {
            let (a, b) = (grad_of(&mut whole.grads, p), grad_of(&mut split.grads, p));
            let norm = a.iter().map(|x| x * x).sum::<f32>().sqrt();
            let diff = a.iter().zip(&b).map(|(x, y)| (x - y).powi(2)).sum::<f32>();
            assert!(norm > 0.0, "a gradient that is zero tests nothing");
            assert!(
                diff.sqrt() < 1e-4 * norm,
                "relative gradient error {}",
                diff.sqrt() / norm
            );
        }
    }
}
