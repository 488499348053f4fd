//! The desktop app shows a `deeprft-*` model's own feature-level kernels in the kernel
//! inspector, beside the model-agnostic PSFs. Its own test binary: it points
//! `DEBLUR_MODELS_DIR` at a temporary models folder holding a small random DeepRFT, before any
//! other thread could read the variable.

mod common;

use std::time::{Duration, Instant};

use burn::tensor::{Device, Distribution};
use deblur::nets::fke::FkeConfig;
use deblur::nets::model::NetConfig;
use deblur::nets::nafnet::NafNetConfig;
use deblur::nets::weights::save_safetensors;
use egui_kittest::kittest::Queryable;

fn tiny_config() -> NafNetConfig {
    NafNetConfig {
        fke: Some(FkeConfig {
            kernel_blocks: 1,
            fft_size: 64,
        }),
        ..NafNetConfig::tiny(4)
    }
}

fn write_model(dir: &std::path::Path) {
    let mut net = tiny_config().init(&Device::flex());
    // A non-trivial kernel network, so the OTFs (and kernels) vary.
    if let Some(fke) = net.fke.as_mut() {
        for b in &mut fke.kernel_net {
            b.beta = b
                .beta
                .clone()
                .map(|t| t.random_like(Distribution::Normal(0.0, 1.0)));
        }
    }
    save_safetensors(&net, &dir.join("deeprft-tiny.safetensors"), false).expect("weights");
    let card = common::test_card(
        "deeprft-tiny",
        "deeprft",
        NetConfig::NafNet(tiny_config()),
        64,
        16,
    );
    card.write(&dir.join("deeprft-tiny.toml")).expect("card");
}

#[test]
fn a_deeprft_shows_its_feature_kernels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).expect("mkdir");
    write_model(&models);
    // The only test in this binary, and no thread has started yet.
    std::env::set_var("DEBLUR_MODELS_DIR", &models);

    let Some(mut h) = common::app_deblurring(dir.path(), (100, 72), "deeprft-tiny", |a| {
        a.doc.as_ref().is_some_and(|d| d.feature_kernels.is_some())
    }) else {
        return;
    };
    {
        let doc = h.state().doc.as_ref().expect("document");
        let fk = doc.feature_kernels.as_ref().expect("feature kernels");
        // 100 × 72 in tiles of 64: two columns (0, 36) and two rows (0, 8).
        assert_eq!(fk.tiles.len(), 4);
        assert_eq!((fk.tiles[3].x, fk.tiles[3].y), (36, 8));
        for (t, (_, channels)) in fk.tiles.iter().zip(&fk.textures) {
            assert_eq!(t.channels.len(), 4);
            assert_eq!(channels.len(), 4);
            assert!(t.mean.iter().any(|v| *v != 0.0));
        }
    }
    // The inspector shows them once the PSF estimate is there.
    h.get_by_label("Kernels").click();
    let start = Instant::now();
    while h.state().doc.as_ref().is_none_or(|d| d.kernels.is_none()) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no PSF estimate"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run_steps(3);
    h.get_by_label("Model kernels (Fourier Kernel Estimator)");
}
