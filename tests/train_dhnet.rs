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

#[test]
fn dhnet_recipe_trains_a_few_iterations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sharp = dir.path().join("sharp");
    std::fs::create_dir_all(&sharp).expect("mkdir");
    common::write_training_photos(&sharp, 12);
    let out = dir.path().join("run");
    let cfg = recipe(&sharp, &out);
    assert_eq!(cfg.architecture, Architecture::Dhnet);
    let kinds: Vec<LossKind> = cfg.loss_terms().iter().map(|t| t.kind).collect();
    assert_eq!(
        kinds,
        vec![
            LossKind::Charbonnier,
            LossKind::Edge,
            LossKind::Frequency,
            LossKind::Degree
        ]
    );
    let opts = TrainOptions {
        resume: false,
        stop_at: None,
        continue_from: None,
        shards: 2,
    };
    train(&cfg, Device::flex(), &opts).expect("three iterations run");
    let ckpts = deblur::train::checkpoint::list(&out.join("checkpoints"));
    assert_eq!(ckpts.last().map(|c| c.0), Some(3));
    let val = std::fs::read_to_string(out.join("val_log.csv")).expect("validation log");
    assert!(val.lines().any(|l| l.starts_with("3,")), "{val}");
    // A resumed run finds the finished checkpoint and has nothing left to do.
    let resume = TrainOptions {
        resume: true,
        stop_at: None,
        continue_from: None,
        shards: 2,
    };
    train(&cfg, Device::flex(), &resume).expect("resume");
}

/// With the degree term active from iteration 1, the steps after it carry the true extent maps
/// through both shards (a missing map or router output would stop the run with an error).
#[test]
fn the_degree_term_joins_at_its_iteration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sharp = dir.path().join("sharp");
    std::fs::create_dir_all(&sharp).expect("mkdir");
    common::write_training_photos(&sharp, 12);
    let out = dir.path().join("run");
    let mut cfg = recipe(&sharp, &out);
    for t in &mut cfg.losses {
        if t.kind == LossKind::Degree {
            t.from = 1;
        }
    }
    let summary = cfg.loss_summary();
    assert!(
        summary.contains("degree (weight 0.02, from iteration 1)"),
        "{summary}"
    );
    let opts = TrainOptions {
        resume: false,
        stop_at: None,
        continue_from: None,
        shards: 2,
    };
    train(&cfg, Device::flex(), &opts).expect("three iterations run");
    let ckpts = deblur::train::checkpoint::list(&out.join("checkpoints"));
    assert_eq!(ckpts.last().map(|c| c.0), Some(3));
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
