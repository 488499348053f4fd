//! The training loop: synthetic batches, the recipe's losses, AdamW with a cosine schedule,
//! periodic validation and checkpoints, resume (models.md §10). One generic loop serves every
//! architecture; checkpoints hold the concrete network's record, so runs started before DHNet
//! existed resume unchanged.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::optim::{AdamWConfig, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use super::checkpoint::{self, CheckpointState};
use super::config::TrainConfig;
use super::data::{list_photos, load_photos, split};
use super::loss::LossTerm;
use super::metrics::{psnr, ssim};
use super::step::{loss_and_grads, Batch, StepResult};
use super::synth::{check_inputs, make_sample, Photo, Sample, SynthConfig};
use super::validation::val_sample;
use crate::nets::model::{Net, Restore};
use crate::nets::nafnet::PdeRun;

/// Stacks samples into `[N,3,P,P]` (blurred, sharp) tensors.
fn to_tensors(samples: &[Sample], patch: usize, device: &Device) -> (Tensor<4>, Tensor<4>) {
    let n = samples.len();
    let mut blur = Vec::with_capacity(n * 3 * patch * patch);
    let mut sharp = Vec::with_capacity(n * 3 * patch * patch);
    for s in samples {
        blur.extend_from_slice(&s.blurred);
        sharp.extend_from_slice(&s.sharp);
    }
    (
        Tensor::from_data(TensorData::new(blur, [n, 3, patch, patch]), device),
        Tensor::from_data(TensorData::new(sharp, [n, 3, patch, patch]), device),
    )
}

/// The training batch of `samples`, with their true extent maps when `extent` is set.
fn to_batch(samples: &[Sample], patch: usize, extent: bool, device: &Device) -> Batch {
    let (blur, sharp) = to_tensors(samples, patch, device);
    let extent = extent.then(|| {
        let maps: Vec<f32> = samples
            .iter()
            .flat_map(|s| s.extent_map.iter().copied())
            .collect();
        Tensor::from_data(
            TensorData::new(maps, [samples.len(), 1, patch, patch]),
            device,
        )
    });
    Batch {
        blur,
        sharp,
        extent,
    }
}

/// Validation scores: mean PSNR/SSIM of the output and of the input.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scores {
    pub psnr: f64,
    pub ssim: f64,
    pub input_psnr: f64,
    pub input_ssim: f64,
}

/// Scores `model` (on a plain, non-autodiff device) on validation pairs: the means.
pub fn score(
    model: &dyn Restore,
    pairs: &[Sample],
    patch: usize,
    device: &Device,
    pde: PdeRun,
) -> Scores {
    Scores::mean(&score_each(model, pairs, patch, device, pde).each)
}

/// Per-pair scores and what the PDE layers' CFL guard did on those pairs.
#[derive(Clone, Debug, Default)]
pub struct Scored {
    /// In the order of the pairs (what a paired comparison needs).
    pub each: Vec<Scores>,
    /// Fraction of PDE velocity elements the CFL guard clamped; `None` without PDE layers.
    pub pde_clamp_fraction: Option<f64>,
}

/// Per-pair scores, in the order of `pairs`.
pub fn score_each(
    model: &dyn Restore,
    pairs: &[Sample],
    patch: usize,
    device: &Device,
    pde: PdeRun,
) -> Scored {
    let mut each = Vec::with_capacity(pairs.len());
    let mut clamp: Option<(f64, u64)> = None;
    for chunk in pairs.chunks(4) {
        let (blur, _) = to_tensors(chunk, patch, device);
        let (restored, stats) = model.restore(blur, pde);
        if let Some(st) = stats {
            let (clamped, elements) = clamp.get_or_insert((0.0, 0));
            *clamped += f64::from(st.clamped.into_scalar::<f32>());
            *elements += st.elements;
        }
        let out: Vec<f32> = restored.into_data().try_to_vec().unwrap_or_default();
        let len = 3 * patch * patch;
        for (k, pair) in chunk.iter().enumerate() {
            let Some(o) = out.get(k * len..(k + 1) * len) else {
                continue;
            };
            each.push(Scores {
                psnr: psnr(o, &pair.sharp),
                ssim: ssim(o, &pair.sharp, patch, patch).unwrap_or(0.0),
                input_psnr: psnr(&pair.blurred, &pair.sharp),
                input_ssim: ssim(&pair.blurred, &pair.sharp, patch, patch).unwrap_or(0.0),
            });
        }
    }
    if each.len() < pairs.len() {
        tracing::warn!(
            "scored {} of {} validation pairs (the network returned too little output)",
            each.len(),
            pairs.len()
        );
    }
    Scored {
        each,
        pde_clamp_fraction: clamp.map(|(c, e)| c / e.max(1) as f64),
    }
}

impl Scores {
    /// The mean of per-pair scores.
    pub fn mean(each: &[Scores]) -> Scores {
        let n = each.len().max(1) as f64;
        let avg = |f: fn(&Scores) -> f64| each.iter().map(f).sum::<f64>() / n;
        Scores {
            psnr: avg(|s| s.psnr),
            ssim: avg(|s| s.ssim),
            input_psnr: avg(|s| s.input_psnr),
            input_ssim: avg(|s| s.input_ssim),
        }
    }
}

fn optimizer(cfg: &TrainConfig) -> ModuleOptimizer {
    AdamWConfig::new()
        .with_beta_1(cfg.optim.beta1)
        .with_beta_2(cfg.optim.beta2)
        .with_epsilon(cfg.optim.eps)
        .with_weight_decay(cfg.optim.weight_decay)
        .with_grad_clipping(Some(GradientClippingConfig::Norm(cfg.optim.clip_norm)))
        .init()
}

fn append_line(path: &Path, header: &str, line: &str) -> std::io::Result<()> {
    let fresh = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    if fresh {
        writeln!(f, "{header}")?;
    }
    writeln!(f, "{line}")
}

/// Options of one `deblur train` invocation.
pub struct TrainOptions {
    pub resume: bool,
    /// Stop after this iteration (the cosine schedule still spans the planned total).
    pub stop_at: Option<u64>,
    /// A released model card to go on from when the run folder holds no checkpoint.
    pub continue_from: Option<PathBuf>,
    /// Data-parallel shards per batch ([`super::step`]); 1 runs the batch whole.
    pub shards: usize,
}

/// Trains until the planned iterations (or `stop_at`), checkpointing on the way and on Ctrl-C.
pub fn train(cfg: &TrainConfig, base_device: Device, opts: &TrainOptions) -> anyhow::Result<()> {
    let out = &cfg.run.out_dir;
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("config.toml"), toml::to_string_pretty(cfg)?)?;

    let all = list_photos(&cfg.data.sharp_dir)?;
    let (train_names, val_names) = split(&all);
    tracing::info!(
        "{} photos: {} for training, {} held out for validation",
        all.len(),
        train_names.len(),
        val_names.len()
    );
    let photos: Vec<Photo> = load_photos(&cfg.data.sharp_dir, &train_names)?;
    let val_photos: Vec<Photo> = load_photos(&cfg.data.sharp_dir, &val_names)?;
    check_inputs(&photos, &SynthConfig::new(cfg.schedule.stage(0).crop))
        .map_err(|e| anyhow::anyhow!("training photos in {}: {e}", cfg.data.sharp_dir.display()))?;
    check_inputs(&val_photos, &SynthConfig::new(super::validation::VAL_PATCH)).map_err(|e| {
        anyhow::anyhow!("validation photos in {}: {e}", cfg.data.sharp_dir.display())
    })?;
    let val: Vec<Sample> = (0..cfg.data.val_pairs_during_training)
        .into_par_iter()
        .map(|i| val_sample(&val_photos, i))
        .collect();

    let device = base_device.clone().autodiff();
    let data = TrainData {
        photos,
        val,
        device,
        base_device,
    };
    let terms = cfg.loss_terms();
    tracing::info!(
        "{} ({}), loss {}",
        cfg.name,
        cfg.net.architecture(),
        cfg.loss_summary()
    );
    match cfg.net.init(&data.device) {
        Net::NafNet(model) => train_loop(cfg, model, &terms, &data, opts),
        Net::DhNet(model) => train_loop(cfg, model, &terms, &data, opts),
    }
}

/// Training and validation samples, and the devices to run on.
struct TrainData {
    photos: Vec<Photo>,
    val: Vec<Sample>,
    /// Autodiff device for training.
    device: Device,
    /// The plain device, for validation.
    base_device: Device,
}

fn train_loop<M: Module + Restore>(
    cfg: &TrainConfig,
    mut model: M,
    terms: &[LossTerm],
    data: &TrainData,
    opts: &TrainOptions,
) -> anyhow::Result<()> {
    let out = &cfg.run.out_dir;
    let ckpt_dir = out.join("checkpoints");
    let TrainData {
        photos,
        val,
        device,
        base_device,
    } = data;
    if let Some(init) = &cfg.init_from {
        model = crate::nets::weights::load_safetensors_warm(model, init, cfg.net.added_prefix())?
            .after_warm_start();
        tracing::info!("initialised from {}", init.display());
    }
    let mut optim = optimizer(cfg);
    let mut state = CheckpointState {
        iter: 0,
        train_seconds: 0.0,
        name: cfg.name.clone(),
        optimizer_restarts: Vec::new(),
    };
    let mut resumed = false;
    if opts.resume {
        match checkpoint::load_latest(&ckpt_dir, model.clone(), optim.clone())? {
            Some((m, o, s)) => {
                if s.name != cfg.name {
                    anyhow::bail!(
                        "checkpoint in {} belongs to `{}`, not `{}`",
                        ckpt_dir.display(),
                        s.name,
                        cfg.name
                    );
                }
                tracing::info!("resuming {} at iteration {}", cfg.name, s.iter);
                (model, optim, state) = (m, o, s);
                resumed = true;
            }
            None => tracing::info!("no checkpoint in {}", ckpt_dir.display()),
        }
    } else if !checkpoint::list(&ckpt_dir).is_empty() {
        anyhow::bail!(
            "{} already holds checkpoints: pass --resume to continue, or choose another run.out_dir",
            ckpt_dir.display()
        );
    }
    if let (false, Some(card)) = (resumed, &opts.continue_from) {
        let released = checkpoint::released(card)?;
        if released.state.name != cfg.name {
            anyhow::bail!(
                "{} records a run of `{}`, not of `{}`",
                card.display(),
                released.state.name,
                cfg.name
            );
        }
        model = crate::nets::weights::load_safetensors(model, &released.weights)?;
        state = released.state;
        tracing::info!(
            "going on from {} at iteration {} with a fresh optimiser state",
            released.weights.display(),
            state.iter
        );
    }

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C is not caught again by us: ctrlc keeps the handler, so we exit.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    }

    let total = cfg.schedule.iterations;
    let end = opts.stop_at.unwrap_or(total).min(total);
    let bar = ProgressBar::new(end).with_position(state.iter).with_style(
        ProgressStyle::with_template("[{bar:30}] {pos}/{len} it  {per_sec}  ETA {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let session_start = Instant::now();
    let seconds_before = state.train_seconds;
    let mut loss_acc = 0.0f64;
    let mut loss_n = 0u32;
    // Where an iteration's time goes (synthesis on the CPU vs the device step), for `-v`.
    let (mut data_secs, mut step_secs) = (0.0f64, 0.0f64);
    while state.iter < end && !stop.load(Ordering::SeqCst) {
        let stage = cfg.schedule.stage(state.iter).clone();
        let synth = SynthConfig::new(stage.crop);
        let first = cfg.schedule.samples_before(state.iter);
        let data_start = Instant::now();
        let samples: Vec<Sample> = (0..stage.batch as u64)
            .into_par_iter()
            .map(|j| make_sample(photos, &synth, cfg.run.seed, first + j))
            .collect();
        let active: Vec<LossTerm> = terms
            .iter()
            .filter(|t| t.active_at(state.iter))
            .copied()
            .collect();
        let wants_extent = active.iter().any(|t| t.kind.on_degree());
        let batch = to_batch(&samples, stage.crop, wants_extent, device);
        let step_start = Instant::now();
        data_secs += (step_start - data_start).as_secs_f64();
        let pde = cfg.pde_at(state.iter);
        let StepResult {
            loss: loss_value,
            grads,
            pde: pde_stats,
        } = loss_and_grads(&model, batch, &active, pde, opts.shards)?;
        if !loss_value.is_finite() {
            anyhow::bail!(
                "loss became {loss_value} at iteration {}; the last good checkpoint is in {}",
                state.iter,
                ckpt_dir.display()
            );
        }
        let lr = cfg.optim.lr_at(state.iter, total);
        model = optim.step(lr, model, grads);
        step_secs += step_start.elapsed().as_secs_f64();
        state.iter += 1;
        state.train_seconds = seconds_before + session_start.elapsed().as_secs_f64();
        loss_acc += f64::from(loss_value);
        loss_n += 1;
        bar.set_position(state.iter);
        bar.set_message(format!(
            "loss {loss_value:.2} lr {lr:.2e} crop {}x{}",
            stage.crop, stage.batch
        ));

        if state.iter % 20 == 0 {
            let mut line = format!(
                "{},{:.4},{:.3e},{:.1}",
                state.iter,
                loss_acc / f64::from(loss_n),
                lr,
                state.train_seconds
            );
            let mut header = String::from("iter,loss,lr,train_seconds");
            if let Some(stats) = pde_stats {
                // Reading the clamp counter syncs the device: only at log intervals (§4.2).
                let clamped = f64::from(stats.clamped.into_scalar::<f32>());
                let fraction = clamped / stats.elements.max(1) as f64;
                line.push_str(&format!(",{},{fraction:.6}", pde.k));
                header.push_str(",pde_k,cfl_clamp_fraction");
            }
            append_line(&out.join("train_log.csv"), &header, &line)?;
            bar.suspend(|| {
                tracing::debug!(
                    "iteration {}: synthesis {:.0} ms/it, device step {:.0} ms/it",
                    state.iter,
                    1e3 * data_secs / f64::from(loss_n),
                    1e3 * step_secs / f64::from(loss_n)
                )
            });
            (loss_acc, loss_n, data_secs, step_secs) = (0.0, 0, 0.0, 0.0);
        }
        let at_end = state.iter == end;
        if state.iter % cfg.run.val_every == 0 || at_end {
            let s = score(
                &model.valid(),
                val,
                super::validation::VAL_PATCH,
                base_device,
                pde,
            );
            let line = format!(
                "{},{:.4},{:.5},{:.4},{:.5}",
                state.iter, s.psnr, s.ssim, s.input_psnr, s.input_ssim
            );
            append_line(
                &out.join("val_log.csv"),
                "iter,psnr,ssim,input_psnr,input_ssim",
                &line,
            )?;
            bar.suspend(|| {
                tracing::info!(
                    "iteration {}: validation PSNR {:.2} dB (input {:.2}, gain {:+.2}), SSIM {:.4}",
                    state.iter,
                    s.psnr,
                    s.input_psnr,
                    s.psnr - s.input_psnr,
                    s.ssim
                )
            });
        }
        if state.iter % cfg.run.checkpoint_every == 0 || at_end {
            checkpoint::save(&ckpt_dir, &model, &optim, &state)?;
        }
    }
    if stop.load(Ordering::SeqCst) {
        let dir = checkpoint::save(&ckpt_dir, &model, &optim, &state)?;
        bar.abandon_with_message(format!("interrupted; checkpoint {}", dir.display()));
    } else {
        bar.finish();
    }
    Ok(())
}
