//! `deblur train` on a DHNet recipe: a few iterations on tiny crops run, log validation and
//! leave a checkpoint that a resumed run accepts. No long training here.

mod common;

use burn::tensor::Device;
use deblur::train::config::{Architecture, TrainConfig};
use deblur::train::loss::LossKind;
use deblur::train::trainer::{train, TrainOptions};

fn recipe(sharp: &std::path::Path, out: &std::path::Path) -> TrainConfig {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("train/dhnet-s.toml");
    let mut cfg = TrainConfig::read(&path).expect("the shipped recipe parses");
    cfg.data.sharp_dir = sharp.to_path_buf();
    cfg.data.val_pairs_during_training = 1;
    cfg.schedule.iterations = 3;
    cfg.schedule.stages = vec![deblur::train::config::Stage {
        until: 3,
        crop: 32,
        batch: 2,
    }];
    cfg.run.out_dir = out.to_path_buf();
    cfg.run.checkpoint_every = 2;
    cfg.validate().expect("still valid");
    cfg
}

/// The shipped recipe on a temporary photo folder, writing into `dir/run`.
fn fresh_recipe(dir: &std::path::Path) -> TrainConfig {
    let sharp = dir.join("sharp");
    std::fs::create_dir_all(&sharp).expect("mkdir");
    common::write_training_photos(&sharp, 12);
    recipe(&sharp, &dir.join("run"))
}

fn options(resume: bool) -> TrainOptions {
    TrainOptions {
        resume,
        stop_at: None,
        continue_from: None,
        shards: 2,
    }
}

/// The last checkpoint's iteration.
fn last_checkpoint(cfg: &TrainConfig) -> Option<u64> {
    let ckpts = deblur::train::checkpoint::list(&cfg.run.out_dir.join("checkpoints"));
    ckpts.last().map(|c| c.0)
}

#[test]
fn dhnet_recipe_trains_a_few_iterations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = fresh_recipe(dir.path());
    let out = cfg.run.out_dir.clone();
    assert_eq!(cfg.architecture, Architecture::Dhnet);
    let kinds: Vec<LossKind> = cfg.loss_terms().iter().map(|t| t.kind).collect();
    assert_eq!(
        kinds,
        vec![
            LossKind::Charbonnier,
            LossKind::Edge,
            LossKind::Frequency,
            LossKind::Degree,
            LossKind::DegreeContrast
        ]
    );
    train(&cfg, Device::flex(), &options(false)).expect("three iterations run");
    assert_eq!(last_checkpoint(&cfg), Some(3));
    let val = std::fs::read_to_string(out.join("val_log.csv")).expect("validation log");
    assert!(val.lines().any(|l| l.starts_with("3,")), "{val}");
    // A resumed run finds the finished checkpoint and has nothing left to do.
    train(&cfg, Device::flex(), &options(true)).expect("resume");
}

/// With the degree terms active from iteration 1, the steps after it carry the true extent
/// maps through both shards (a missing map or router output would stop the run with an error).
#[test]
fn the_degree_terms_join_at_their_iteration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = fresh_recipe(dir.path());
    for t in &mut cfg.losses {
        if t.kind.on_degree() {
            t.from = 1;
        }
    }
    let summary = cfg.loss_summary();
    for name in ["degree", "degree_contrast"] {
        let want = format!(" {name} (weight 0.02, from iteration 1)");
        assert!(summary.contains(&want), "{summary}");
    }
    train(&cfg, Device::flex(), &options(false)).expect("three iterations run");
    assert_eq!(last_checkpoint(&cfg), Some(3));
}

/// The degree term needs routers: a NAFNet recipe naming it is refused.
#[test]
fn a_nafnet_recipe_cannot_take_the_degree_term() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("train/nafnet-s.toml");
    let mut cfg = TrainConfig::read(&path).expect("the shipped recipe parses");
    cfg.losses
        .push(deblur::train::loss::LossTerm::new(LossKind::Degree, 0.02));
    let err = cfg.validate().expect_err("refused");
    assert!(err.contains("routers"), "{err}");
}
