//! `deblur export`: a run's checkpoint becomes weights and a card scored on the validation
//! set, and `--baseline` adds the paired comparison with another model on the same pairs.

mod common;

use std::process::{Command, Output};

use deblur::nets::card::ModelCard;

fn deblur(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deblur"))
        .args(args)
        .env("DEBLUR_LOG", "warn")
        .env("RAYON_NUM_THREADS", "2")
        .output()
        .expect("binary runs")
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A tiny two-iteration recipe named `name` over the photos in `dir/sharp`, its run in
/// `dir/run-<name>`; `top` adds top-level keys and `tail` tables.
fn write_recipe(dir: &std::path::Path, name: &str, top: &str, tail: &str) -> std::path::PathBuf {
    let text = format!(
        r#"name = "{name}"
{top}
[net]
width = 4
enc_blocks = [1, 1]
middle_blocks = 1
dec_blocks = [1, 1]

[data]
sharp_dir = "{sharp}"
val_pairs_during_training = 1

[schedule]
iterations = 2
stages = [{{ until = 2, crop = 32, batch = 2 }}]

[optim]
lr = 1e-3
min_lr = 1e-7
weight_decay = 1e-3
beta1 = 0.9
beta2 = 0.9
eps = 1e-8
clip_norm = 0.01

[run]
seed = 3
checkpoint_every = 100
val_every = 100
out_dir = "{out}"
{tail}"#,
        sharp = dir.join("sharp").display(),
        out = dir.join(format!("run-{name}")).display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("recipe");
    path
}

/// Trains `recipe` (named `name`), exports it (f16) into `out` and reads the card back.
fn train_and_export(recipe: &std::path::Path, out: &std::path::Path, name: &str) -> ModelCard {
    let recipe = recipe.to_str().expect("utf-8 path");
    ok(&deblur(&["train", recipe]));
    let out_arg = out.to_str().expect("utf-8 path");
    ok(&deblur(&["export", recipe, "--out", out_arg]));
    ModelCard::read(&out.join(format!("{name}.toml"))).expect("card")
}

#[test]
fn export_scores_the_card_and_pairs_it_with_a_baseline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sharp = dir.path().join("sharp");
    std::fs::create_dir_all(&sharp).expect("mkdir");
    // 300² photos: the validation patches are 256².
    common::write_training_photos_sized(&sharp, 4, 300);
    let recipe = write_recipe(dir.path(), "tiny-export", "", "");
    let recipe = recipe.to_str().expect("utf-8 path");
    ok(&deblur(&["train", recipe]));

    let first = dir.path().join("first");
    ok(&deblur(&[
        "export",
        recipe,
        "--out",
        first.to_str().unwrap(),
        "--f32",
    ]));
    let card = ModelCard::read(&first.join("tiny-export.toml")).expect("card");
    let eval = &card.evaluation;
    assert_eq!(eval["pairs"].as_integer(), Some(200));
    assert!(eval.get("baseline").is_none());
    let psnr = eval["psnr"].as_float().expect("psnr");
    assert!(psnr.is_finite() && psnr > 0.0);

    // The same weights as the baseline: every pair ties, so the pairing lines up image by
    // image (a shifted pairing would give non-zero differences on these varied patches).
    let second = dir.path().join("second");
    let base_card = first.join("tiny-export.toml");
    ok(&deblur(&[
        "export",
        recipe,
        "--out",
        second.to_str().unwrap(),
        "--f32",
        "--baseline",
        base_card.to_str().unwrap(),
    ]));
    let card = ModelCard::read(&second.join("tiny-export.toml")).expect("card");
    let base = card.evaluation["baseline"]
        .as_table()
        .expect("[evaluation.baseline]");
    assert_eq!(base["model"].as_str(), Some("tiny-export"));
    assert_eq!(base["psnr"].as_float(), Some(psnr));
    assert_eq!(base["paired_delta_psnr"].as_float(), Some(0.0));
    assert_eq!(base["ties"].as_integer(), Some(200));
    assert_eq!(base["better"].as_integer(), Some(0));

    // A baseline that does not exist fails before anything is written, naming it.
    let third = dir.path().join("third");
    let o = deblur(&[
        "export",
        recipe,
        "--out",
        third.to_str().unwrap(),
        "--baseline",
        "no-such-model",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no-such-model"));
    assert!(!third.exists(), "nothing written for a failed export");

    // A fine-tune of the exported weights with a PDE layer inserted records where it started
    // (that file's hash, its card's model and iterations; a run from scratch records nothing),
    // its PDE schedule, and the CFL guard's clamp fraction: all of it at a limit no velocity
    // stays under.
    let first_card = ModelCard::read(&first.join("tiny-export.toml")).expect("card");
    assert!(first_card.training.get("init_from").is_none());
    // The run's name, which `deblur train --continue-from` checks.
    assert_eq!(
        first_card.training.get("run").and_then(toml::Value::as_str),
        Some("tiny-export")
    );
    assert!(first_card
        .evaluation
        .get("pde_cfl_clamp_fraction")
        .is_none());
    let top = format!(
        "init_from = \"{}\"\npde_schedule = [{{ from = 0, k = 1, dt = 1.0 }}, {{ from = 1, k = 3, dt = 0.3333333333333333 }}]",
        first.join("tiny-export.safetensors").display()
    );
    let tail = "\n[net.pde]\nn_layers = 1\ncfl_limit = 1e-12\ncoef_scale_init = 0.01\n";
    let ft = write_recipe(dir.path(), "tiny-pde", &top, tail);
    let card = train_and_export(&ft, &dir.path().join("fourth"), "tiny-pde");
    let init = card.training["init_from"]
        .as_table()
        .expect("[training.init_from]");
    assert_eq!(
        init["sha256"].as_str(),
        Some(first_card.model.weights_sha256.as_str())
    );
    assert_eq!(init["model"].as_str(), Some("tiny-export"));
    assert_eq!(init["iterations"].as_integer(), Some(2));
    let stages = card.training["pde_schedule"]
        .as_array()
        .expect("pde_schedule");
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[1]["k"].as_integer(), Some(3));
    assert_eq!(
        card.inference.pde_k,
        Some(3),
        "inference runs the last stage"
    );
    let fraction = card.evaluation["pde_cfl_clamp_fraction"]
        .as_float()
        .expect("pde_cfl_clamp_fraction");
    assert!(fraction > 0.9 && fraction <= 1.0, "clamped {fraction}");

    // A DeepRFT's card scores its backbone's own estimate on the same pairs: what the FKE
    // adds. Trained from scratch for two steps the FKE is far from a pass-through, so the
    // two differ pair by pair; a NAFNet has no such table.
    assert!(first_card.evaluation.get("fke_contribution").is_none());
    let rft = write_recipe(
        dir.path(),
        "tiny-rft",
        "architecture = \"deeprft\"",
        "\n[net.fke]\nkernel_blocks = 1\nfft_size = 32\n",
    );
    let card = train_and_export(&rft, &dir.path().join("fifth"), "tiny-rft");
    let fke = card.evaluation["fke_contribution"]
        .as_table()
        .expect("[evaluation.fke_contribution]");
    assert_eq!(fke["model"].as_str(), Some("tiny-rft backbone estimate"));
    let counts: Vec<i64> = ["better", "worse", "ties"]
        .iter()
        .map(|k| fke[*k].as_integer().expect("count"))
        .collect();
    assert_eq!(counts.iter().sum::<i64>(), 200);
    assert!(counts[2] < 200, "FKE output identical to the backbone's");
    let own = card.evaluation["psnr"].as_float().expect("psnr");
    let backbone = fke["psnr"].as_float().expect("backbone psnr");
    let delta = fke["paired_delta_psnr"].as_float().expect("delta");
    assert!(
        (own - backbone - delta).abs() < 2e-3,
        "mean of the differences {delta} vs difference of the means {own} - {backbone}"
    );

    // A DHNet's card reports how its degree map orders blur (models.md §5.6); a NAFNet's,
    // having no routers, does not.
    assert!(first_card.evaluation.get("blur_ordering").is_none());
    let dh = write_recipe(dir.path(), "tiny-dh", "architecture = \"dhnet\"", "");
    let text = std::fs::read_to_string(&dh).expect("recipe");
    let text = text.replacen(
        "dec_blocks = [1, 1]\n",
        "dec_blocks = [1, 1]\nvolterra_rank = 2\nrouters = 1\nexpert_kernels = [1, 3]\n",
        1,
    );
    std::fs::write(&dh, text).expect("recipe");
    let card = train_and_export(&dh, &dir.path().join("sixth"), "tiny-dh");
    let ordering = card.evaluation["blur_ordering"]
        .as_table()
        .expect("[evaluation.blur_ordering]");
    let pairs = ordering["pairs"].as_integer().expect("pairs");
    assert!(pairs > 0 && pairs < 200, "{pairs} non-uniform pairs of 200");
    for key in [
        "spearman_mean",
        "spearman_median",
        "spearman_min",
        "image_means_spearman",
    ] {
        let rho = ordering[key].as_float().expect(key);
        assert!((-1.0..=1.0).contains(&rho), "{key} {rho}");
    }
    let error = ordering["mean_abs_error_px"].as_float().expect("error");
    assert!(error.is_finite() && error > 0.0, "{error}");
    // One entry per DDRE site: the tiny net closes both levels on both sides.
    let sites = ordering["site_spearman_mean"]
        .as_table()
        .expect("per-site table");
    let mut names: Vec<&str> = sites.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["decoder_0", "decoder_1", "encoder_0", "encoder_1"]);
    for (name, rho) in sites {
        let rho = rho.as_float().expect(name);
        assert!((-1.0..=1.0).contains(&rho), "{name} {rho}");
    }
}
