//! `deblur export`: a training run's newest checkpoint -> release weights and a model card with
//! the quality measured on the fixed validation set.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use toml::{Table, Value};

use crate::nets::card::{InferenceSection, ModelCard, ModelSection};
use crate::nets::model::{BackboneEstimate, Net, Restore};
use crate::nets::registry::{load_model, LoadedModel};
use crate::nets::weights::sha256_file;
use crate::train::blur_ordering::router_ordering;
use crate::train::checkpoint::load_latest_model;
use crate::train::config::TrainConfig;
use crate::train::paired::{paired, Paired, Score};
use crate::train::trainer::{score_each, Scores};
use crate::train::validation::{pair_name, set_hash, validation_set, VAL_PATCH};
use burn::tensor::Device;

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The training recipe of the run (its `run.out_dir` holds the checkpoints).
    pub config: PathBuf,
    /// Folder to write `<name>.safetensors` and `<name>.toml` into.
    #[arg(long, default_value = "models")]
    pub out: PathBuf,
    /// Store weights in f32 instead of f16 (compute is f32 either way).
    #[arg(long)]
    pub f32: bool,
    /// One line describing the model, for `deblur models` and the app.
    #[arg(long)]
    pub summary: Option<String>,
    /// Also score this model (a name from `deblur models` or a card) on the same validation
    /// pairs and record the paired comparison in the card's `[evaluation.baseline]`: e.g.
    /// `--baseline nafnet-s-ft` for `nafnet-s-pde`, `--baseline nafnet-s` for `dhnet-s`.
    #[arg(long)]
    pub baseline: Option<String>,
}

fn table(pairs: Vec<(&str, Value)>) -> Table {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let cfg = TrainConfig::read(&args.config)?;
    let device = Device::flex();
    let ckpt_dir = cfg.run.out_dir.join("checkpoints");
    let latest = match cfg.net.init(&device) {
        Net::NafNet(n) => load_latest_model(&ckpt_dir, n)?.map(|(n, s, d)| (Net::NafNet(n), s, d)),
        Net::DhNet(n) => load_latest_model(&ckpt_dir, n)?.map(|(n, s, d)| (Net::DhNet(n), s, d)),
    };
    let (net, state, dir) =
        latest.with_context(|| format!("no checkpoint in {}", ckpt_dir.display()))?;
    tracing::info!("exporting {} at iteration {}", dir.display(), state.iter);

    // Load the baseline first, so that a wrong name fails before anything is written.
    let baseline_model = match args.baseline.as_deref() {
        Some(spec) => Some(load_model(spec, &device).with_context(|| format!("baseline {spec}"))?),
        None => None,
    };

    std::fs::create_dir_all(&args.out)?;
    let weights = args.out.join(format!("{}.safetensors", cfg.name));
    net.save_safetensors(&weights, !args.f32)?;
    // Score what ships: the stored (possibly f16) weights, read back.
    let shipped = cfg.net.init(&device).load_safetensors(&weights)?;
    let val = validation_set(&cfg.data.sharp_dir)?;
    let pde = cfg.pde_at(cfg.schedule.iterations);
    let scored = score_each(&shipped, &val, VAL_PATCH, &device, pde);
    let each = scored.each;
    let s = Scores::mean(&each);
    let fke = fke_contribution(&shipped, &each, &val, &device, pde)?;
    let ordering = router_ordering(&shipped, &val, &device);
    if let Some(o) = &ordering {
        tracing::info!(
            "blur ordering (models.md §5.6): Spearman ρ of degree map vs true extent on {} \
             non-uniform pairs: mean {:.3}, median {:.3}",
            o.each.len(),
            o.mean,
            o.median
        );
        for site in &o.sites {
            tracing::info!("  site {}: mean ρ {:.3}", site.name, site.mean);
        }
        tracing::info!(
            "degree map on all {} pairs: ρ of image means {}, mean |degree − extent| {:.2} px",
            val.len(),
            o.across_images
                .map_or_else(|| "undefined".to_string(), |r| format!("{r:.3}")),
            o.mean_abs_error_px
        );
    }
    let baseline = match &baseline_model {
        Some(base) => Some(compare_with(base, &each, &val, &device)?),
        None => None,
    };
    tracing::info!(
        "validation ({} pairs): PSNR {:.3} dB (input {:.3}, gain {:+.3}), SSIM {:.4} (input {:.4})",
        val.len(),
        s.psnr,
        s.input_psnr,
        s.psnr - s.input_psnr,
        s.ssim,
        s.input_ssim
    );

    let stages: Vec<Value> = cfg
        .schedule
        .stages
        .iter()
        .map(|st| {
            Value::Table(table(vec![
                ("until", Value::Integer(st.until as i64)),
                ("crop", Value::Integer(st.crop as i64)),
                ("batch", Value::Integer(st.batch as i64)),
            ]))
        })
        .collect();
    let o = &cfg.optim;
    let mut card = ModelCard {
        model: ModelSection {
            name: cfg.name.clone(),
            version: 1,
            architecture: crate::nets::registry::architecture_of(&cfg.net).into(),
            weights: format!("{}.safetensors", cfg.name),
            weights_sha256: sha256_file(&weights)?,
            storage_dtype: if args.f32 { "f32" } else { "f16" }.into(),
            params: shipped.num_params(),
            summary: args.summary.clone().unwrap_or_else(|| {
                let arch = match &cfg.net {
                    crate::nets::model::NetConfig::DhNet(_) => "DHNet",
                    crate::nets::model::NetConfig::NafNet(c) if c.fke.is_some() => "DeepRFT (FKE)",
                    crate::nets::model::NetConfig::NafNet(c) if c.pde.is_some() => {
                        "NAFNet + PDE layer"
                    }
                    crate::nets::model::NetConfig::NafNet(_) => "NAFNet",
                };
                format!(
                    "{arch} width {}: +{:.2} dB PSNR over the blurry input on the validation set",
                    cfg.net.width(),
                    s.psnr - s.input_psnr
                )
            }),
            licence: "weights trained on research-only photos: non-commercial use".into(),
        },
        config: cfg.net.clone(),
        inference: InferenceSection {
            pde_k: cfg.net.pde().map(|_| pde.k),
            pde_dt: cfg.net.pde().map(|_| pde.dt),
            ..inference_defaults(&cfg.net)
        },
        training: table(vec![
            ("recipe", Value::String(args.config.display().to_string())),
            // The run's own name: a card may ship under another (`nafnet-s-long` became
            // `nafnet-s` version 2), and `--continue-from` must only go on with this run.
            ("run", Value::String(cfg.name.clone())),
            ("iterations_done", Value::Integer(state.iter as i64)),
            (
                "iterations_planned",
                Value::Integer(cfg.schedule.iterations as i64),
            ),
            ("crop_schedule", Value::Array(stages)),
            (
                "optimizer",
                Value::String(format!(
                    "adamw lr={} wd={} betas=({},{}) eps={} cosine->{} clip={} (per tensor)",
                    o.lr, o.weight_decay, o.beta1, o.beta2, o.eps, o.min_lr, o.clip_norm
                )),
            ),
            ("losses", Value::String(cfg.loss_summary())),
            ("seed", Value::Integer(cfg.run.seed as i64)),
            (
                "device",
                Value::String("CPU (burn flex), 1-2 threads".into()),
            ),
            (
                "wall_time_hours",
                Value::Float((state.train_seconds / 3600.0 * 100.0).round() / 100.0),
            ),
            (
                "optimizer_restarts",
                Value::Array(
                    state
                        .optimizer_restarts
                        .iter()
                        .map(|&i| Value::Integer(i as i64))
                        .collect(),
                ),
            ),
        ]),
        data: table(vec![
            (
                "sources",
                Value::Array(
                    [
                        "bsds500",
                        "urban100",
                        "sun-hays80-subset",
                        "div2k-valid-subset",
                        "kodak24",
                        "mcmaster18",
                        "skimage",
                    ]
                    .iter()
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
                ),
            ),
            (
                "licence",
                Value::String("research / non-commercial only".into()),
            ),
            (
                "synthetic_generator",
                Value::String("v1 (models.md §12)".into()),
            ),
        ]),
        evaluation: table(vec![
            ("validation_set_sha256", Value::String(set_hash(&val))),
            ("pairs", Value::Integer(val.len() as i64)),
            ("psnr", Value::Float(round(s.psnr, 3))),
            ("ssim", Value::Float(round(s.ssim, 4))),
            ("input_psnr", Value::Float(round(s.input_psnr, 3))),
            ("input_ssim", Value::Float(round(s.input_ssim, 4))),
            ("gain_db", Value::Float(round(s.psnr - s.input_psnr, 3))),
            (
                "command",
                Value::String(format!("deblur eval --validation --model {}", cfg.name)),
            ),
        ]),
    };
    if let Some((name, base, p)) = baseline {
        card.evaluation.insert(
            "baseline".into(),
            Value::Table(baseline_table(&name, &base, &p)),
        );
    }
    if let Some((base, p)) = fke {
        let name = format!("{} backbone estimate", cfg.name);
        card.evaluation.insert(
            "fke_contribution".into(),
            Value::Table(baseline_table(&name, &base, &p)),
        );
    }
    if let Some(o) = ordering {
        let min = o.each.iter().copied().fold(f64::INFINITY, f64::min);
        let mut t = table(vec![
            ("pairs", Value::Integer(o.each.len() as i64)),
            ("spearman_mean", Value::Float(round(o.mean, 4))),
            ("spearman_median", Value::Float(round(o.median, 4))),
            ("spearman_min", Value::Float(round(min, 4))),
            (
                "site_spearman_mean",
                Value::Table(
                    o.sites
                        .iter()
                        .map(|st| (st.name.clone(), Value::Float(round(st.mean, 4))))
                        .collect(),
                ),
            ),
            (
                "mean_abs_error_px",
                Value::Float(round(o.mean_abs_error_px, 3)),
            ),
            (
                "what",
                Value::String(
                    "Spearman rank correlation of the router degree map with the true extent \
                     map on validation pairs with non-uniform blur (models.md §5.6); \
                     image_means_spearman and mean_abs_error_px over all validation pairs"
                        .into(),
                ),
            ),
        ]);
        if let Some(r) = o.across_images {
            t.insert("image_means_spearman".into(), Value::Float(round(r, 4)));
        }
        card.evaluation
            .insert("blur_ordering".into(), Value::Table(t));
    }
    if !cfg.pde_schedule.is_empty() {
        let stages = cfg
            .pde_schedule
            .iter()
            .map(|st| {
                Value::Table(table(vec![
                    ("from", Value::Integer(st.from as i64)),
                    ("k", Value::Integer(st.k as i64)),
                    ("dt", Value::Float(st.dt)),
                ]))
            })
            .collect();
        card.training
            .insert("pde_schedule".into(), Value::Array(stages));
    }
    if let Some(fraction) = scored.pde_clamp_fraction {
        card.evaluation
            .insert("pde_cfl_clamp_fraction".into(), Value::Float(fraction));
    }
    if let Some(init) = &cfg.init_from {
        card.training
            .insert("init_from".into(), Value::Table(init_table(init)));
    }
    let card_path = args.out.join(format!("{}.toml", cfg.name));
    card.write(&card_path)?;
    println!("wrote {} and {}", weights.display(), card_path.display());
    Ok(ExitCode::SUCCESS)
}

/// `[training.init_from]` of a run that started from released weights (a fine-tune or a warm
/// start): the file, its hash now, and the model and iterations of its card when the card
/// describes that very file, so that the card tells the whole training history. A file gone
/// since the run started is recorded by path only (the export still goes ahead).
fn init_table(init: &Path) -> Table {
    let mut t = table(vec![("weights", Value::String(init.display().to_string()))]);
    let sha = match sha256_file(init) {
        Ok(sha) => sha,
        Err(e) => {
            tracing::warn!("the card records init_from by path only: {e}");
            return t;
        }
    };
    t.insert("sha256".into(), Value::String(sha.clone()));
    let card = ModelCard::read(&init.with_extension("toml")).ok();
    if let Some(card) = card.filter(|c| c.model.weights_sha256 == sha) {
        t.insert("model".into(), Value::String(card.model.name));
        if let Some(iters) = card.training.get("iterations_done") {
            t.insert("iterations".into(), iters.clone());
        }
    }
    t
}

fn named(each: &[Scores]) -> Vec<Score> {
    each.iter()
        .enumerate()
        .map(|(i, s)| Score {
            name: pair_name(i),
            psnr: s.psnr,
            ssim: s.ssim,
        })
        .collect()
}

/// Score the baseline on the same pairs and pair it with the exported model's scores.
fn compare_with(
    base: &LoadedModel,
    mine: &[Scores],
    val: &[crate::train::synth::Sample],
    device: &Device,
) -> anyhow::Result<(String, Scores, Paired)> {
    let name = base.card.model.name.clone();
    let pde = base.card.inference.pde_run();
    let (theirs, p) = score_and_pair(&base.net, pde, mine, val, device, ("exported", &name))?;
    Ok((name, theirs, p))
}

/// For a `deeprft-*` model, `[evaluation.fke_contribution]`: the backbone's own estimate on
/// the same weights scored on the same pairs, so the card tells what the FKE adds without a
/// second training run (the warm start makes the two equal at step 0).
fn fke_contribution(
    net: &Net,
    mine: &[Scores],
    val: &[crate::train::synth::Sample],
    device: &Device,
    pde: crate::nets::nafnet::PdeRun,
) -> anyhow::Result<Option<(Scores, Paired)>> {
    let Net::NafNet(naf) = net else {
        return Ok(None);
    };
    if naf.fke.is_none() {
        return Ok(None);
    }
    let labels = ("FKE output", "backbone estimate");
    score_and_pair(&BackboneEstimate(naf), pde, mine, val, device, labels).map(Some)
}

/// Scores `other` on the validation pairs and pairs `mine` (scored on the same pairs) with
/// it, logging the comparison under `labels` (mine, other).
fn score_and_pair(
    other: &dyn Restore,
    pde: crate::nets::nafnet::PdeRun,
    mine: &[Scores],
    val: &[crate::train::synth::Sample],
    device: &Device,
    labels: (&str, &str),
) -> anyhow::Result<(Scores, Paired)> {
    let theirs = score_each(other, val, VAL_PATCH, device, pde).each;
    let p = paired(&named(mine), &named(&theirs))
        .with_context(|| format!("cannot pair {} with {}", labels.0, labels.1))?;
    tracing::info!("{}", p.describe(labels.0, labels.1));
    Ok((Scores::mean(&theirs), p))
}

/// `[evaluation.baseline]` of models.md §13, with the paired statistics beside the means.
fn baseline_table(name: &str, base: &Scores, p: &Paired) -> Table {
    table(vec![
        ("model", Value::String(name.to_string())),
        ("psnr", Value::Float(round(base.psnr, 3))),
        ("ssim", Value::Float(round(base.ssim, 4))),
        (
            "paired_delta_psnr",
            Value::Float(round(p.mean_delta_psnr, 3)),
        ),
        (
            "paired_delta_psnr_ci95",
            Value::Float(round(p.ci95_delta_psnr(), 3)),
        ),
        (
            "paired_delta_ssim",
            Value::Float(round(p.mean_delta_ssim, 4)),
        ),
        ("better", Value::Integer(p.better as i64)),
        ("worse", Value::Integer(p.worse as i64)),
        ("ties", Value::Integer(p.ties as i64)),
    ])
}

/// Tile defaults of models.md §11.3: a DeepRFT's tiles are its FFT size.
fn inference_defaults(net: &crate::nets::model::NetConfig) -> InferenceSection {
    match net {
        crate::nets::model::NetConfig::NafNet(c) if c.fke.is_some() => InferenceSection {
            tile: c.fke.as_ref().map_or(256, |f| f.fft_size),
            overlap: 64,
            ..InferenceSection::default()
        },
        _ => InferenceSection::default(),
    }
}

fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}
