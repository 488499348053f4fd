//! `deblur train` on the `deeprft-s` recipe: warm-started from the shipped `nafnet-s`, a few
//! iterations through burn-signal's differentiable FFT on tiny crops run and checkpoint, and
//! at step 0 the model reproduces the backbone it started from (models.md §6.3).

mod common;

use burn::tensor::{Device, Distribution, Tensor};
use deblur::nets::model::{Net, Restore};
use deblur::nets::nafnet::PdeRun;
use deblur::train::config::{Architecture, Stage, TrainConfig};
use deblur::train::loss::LossKind;
use deblur::train::trainer::{train, TrainOptions};

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn deeprft_recipe_warm_starts_and_trains() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sharp = dir.path().join("sharp");
    std::fs::create_dir_all(&sharp).expect("mkdir");
    common::write_training_photos(&sharp, 8);
    let mut cfg = TrainConfig::read(&root().join("train/deeprft-s.toml")).expect("recipe");
    assert_eq!(cfg.architecture, Architecture::Deeprft);
    let kinds: Vec<LossKind> = cfg.loss_terms().iter().map(|t| t.kind).collect();
    assert_eq!(kinds, vec![LossKind::L1, LossKind::Frequency]);
    cfg.init_from = Some(root().join("models/nafnet-s.safetensors"));
    cfg.data.sharp_dir = sharp;
    cfg.data.val_pairs_during_training = 1;
    cfg.schedule.iterations = 3;
    cfg.schedule.stages = vec![Stage {
        until: 3,
        crop: 32,
        batch: 2,
    }];
    if let deblur::nets::model::NetConfig::NafNet(c) = &mut cfg.net {
        c.fke.as_mut().expect("fke").fft_size = 32;
    }
    cfg.run.out_dir = dir.path().join("run");
    cfg.validate().expect("still valid");

    // Step 0: the warm-started DeepRFT is the shipped nafnet-s.
    let device = Device::flex();
    let Net::NafNet(naf) = deblur::nets::registry::load_model("nafnet-s", &device)
        .expect("shipped nafnet-s")
        .net
    else {
        panic!("nafnet-s is a NAFNet");
    };
    let Net::NafNet(rft) = cfg.net.init(&device) else {
        panic!("deeprft-s is a NAFNet with an FKE");
    };
    let rft = deblur::nets::weights::load_safetensors_warm(
        rft,
        cfg.init_from.as_deref().expect("init_from"),
        cfg.net.added_prefix(),
    )
    .expect("warm start")
    .after_warm_start();
    let x = Tensor::<4>::random([1, 3, 64, 64], Distribution::Uniform(0.0, 1.0), &device);
    let (a, _) = naf.restore(x.clone(), PdeRun::default());
    let (b, _) = rft.restore(x, PdeRun::default());
    let diff = (a - b).abs().max().into_scalar::<f32>();
    assert!(diff < 1e-5, "warm start differs from nafnet-s by {diff}");

    let opts = TrainOptions {
        resume: false,
        stop_at: None,
        continue_from: None,
        shards: 2,
    };
    train(&cfg, Device::flex(), &opts).expect("three iterations run");
    let ckpts = deblur::train::checkpoint::list(&cfg.run.out_dir.join("checkpoints"));
    assert_eq!(ckpts.last().map(|c| c.0), Some(3));
    let log = std::fs::read_to_string(cfg.run.out_dir.join("train_log.csv")).unwrap_or_default();
    let val = std::fs::read_to_string(cfg.run.out_dir.join("val_log.csv")).expect("val log");
    assert!(val.lines().any(|l| l.starts_with("3,")), "{val}\n{log}");
}
