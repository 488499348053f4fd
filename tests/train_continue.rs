//! `deblur train --continue-from CARD`: a run whose checkpoints were lost goes on from the
//! released weights and iteration count of its model card, and says so in its state.

mod common;

use burn::tensor::Device;
use deblur::nets::card::ModelCard;
use deblur::nets::model::Net;
use deblur::train::checkpoint::{list, load_latest_model};
use deblur::train::config::{Stage, TrainConfig};
use deblur::train::trainer::{train, TrainOptions};

fn recipe(sharp: &std::path::Path, out: &std::path::Path) -> TrainConfig {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("train/nafnet-s.toml");
    let mut cfg = TrainConfig::read(&path).expect("the shipped recipe parses");
    cfg.data.sharp_dir = sharp.to_path_buf();
    cfg.data.val_pairs_during_training = 1;
    cfg.schedule.iterations = 6;
    cfg.schedule.stages = vec![Stage {
        until: 6,
        crop: 32,
        batch: 2,
    }];
    cfg.run.out_dir = out.to_path_buf();
    cfg.run.checkpoint_every = 100;
    cfg.validate().expect("still valid");
    cfg
}

/// A released card of `name` at iteration `iter`, with weights of a fresh network.
fn release(cfg: &TrainConfig, dir: &std::path::Path, name: &str, iter: i64) -> std::path::PathBuf {
    let template = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/nafnet-s.toml");
    let mut card = ModelCard::read(&template).expect("shipped card");
    card.model.name = name.into();
    card.model.weights = format!("{name}.safetensors");
    card.training
        .insert("iterations_done".into(), toml::Value::Integer(iter));
    card.training
        .insert("wall_time_hours".into(), toml::Value::Float(0.5));
    // Without `training.run`, as cards written before it: the run is the model's name.
    card.training.remove("run");
    card.training.insert(
        "optimizer_restarts".into(),
        toml::Value::Array(vec![toml::Value::Integer(1)]),
    );
    cfg.net
        .init(&Device::flex())
        .save_safetensors(&dir.join(&card.model.weights), false)
        .expect("weights");
    let path = dir.join(format!("{name}.toml"));
    card.write(&path).expect("card");
    path
}

#[test]
fn a_run_goes_on_from_its_released_card() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sharp = dir.path().join("sharp");
    std::fs::create_dir_all(&sharp).expect("mkdir");
    common::write_training_photos(&sharp, 8);
    let out = dir.path().join("run");
    let cfg = recipe(&sharp, &out);

    // A card of another model is refused, naming both.
    let other = release(&cfg, dir.path(), "nafnet-other", 4);
    let opts = |card: &std::path::Path| TrainOptions {
        resume: true,
        stop_at: None,
        continue_from: Some(card.to_path_buf()),
        shards: 1,
    };
    let err = train(&cfg, Device::flex(), &opts(&other)).expect_err("wrong card");
    assert!(err.to_string().contains("nafnet-other"), "{err}");

    // So is a card shipped under this model's name by another run (as `nafnet-s` version 2
    // is the `nafnet-s-long` run).
    let renamed = release(&cfg, dir.path(), "nafnet-s", 4);
    let mut card = ModelCard::read(&renamed).expect("card");
    card.training
        .insert("run".into(), toml::Value::String("nafnet-s-long".into()));
    card.write(&renamed).expect("card");
    let err = train(&cfg, Device::flex(), &opts(&renamed)).expect_err("another run's card");
    assert!(err.to_string().contains("nafnet-s-long"), "{err}");

    let card = release(&cfg, dir.path(), "nafnet-s", 4);
    train(&cfg, Device::flex(), &opts(&card)).expect("two more iterations");
    let ckpts = list(&out.join("checkpoints"));
    assert_eq!(ckpts.iter().map(|c| c.0).collect::<Vec<_>>(), vec![6]);
    let Net::NafNet(net) = cfg.net.init(&Device::flex()) else {
        panic!("nafnet recipe");
    };
    let (_, state, _) = load_latest_model(&out.join("checkpoints"), net)
        .expect("readable")
        .expect("a checkpoint");
    assert_eq!(state.iter, 6);
    assert_eq!(state.optimizer_restarts, vec![1, 4]);
    assert!(state.train_seconds >= 1800.0, "{}", state.train_seconds);
    let log = std::fs::read_to_string(out.join("val_log.csv")).expect("validation log");
    assert!(log.lines().any(|l| l.starts_with("6,")), "{log}");

    // With a checkpoint in the run folder, --resume takes it and ignores the card.
    let mut longer = cfg.clone();
    longer.schedule.iterations = 7;
    longer.schedule.stages[0].until = 7;
    train(&longer, Device::flex(), &opts(&card)).expect("one more");
    assert_eq!(list(&out.join("checkpoints")).last().map(|c| c.0), Some(7));
}
