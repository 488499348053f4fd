//! Helpers shared by the integration tests.
#![allow(dead_code)]

use burn::tensor::Device;
use deblur::engine::{select_device, DeviceChoice};

/// The wgpu device for GPU tests (lavapipe in CI). Without an adapter the test says so loudly,
/// and fails when `DEBLUR_REQUIRE_GPU_TESTS=1` (set by `.ci/run`, which installs lavapipe).
pub fn wgpu_device(test: &str) -> Option<Device> {
    match select_device(DeviceChoice::Gpu) {
        Ok(d) => {
            eprintln!("{test}: running on {}", d.label);
            Some(d.device)
        }
        Err(e) => {
            if std::env::var_os("DEBLUR_REQUIRE_GPU_TESTS").is_some() {
                panic!("{test}: no wgpu adapter ({e}) but DEBLUR_REQUIRE_GPU_TESTS is set");
            }
            eprintln!("\n*** {test}: SKIPPED ON GPU: no wgpu adapter ({e}) ***\n");
            None
        }
    }
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Writes `count` textured 96×96 PNGs into `dir`, plus one more if none landed in the
/// validation split, so that training tests have both splits.
pub fn write_training_photos(dir: &std::path::Path, count: usize) {
    use deblur::train::data::is_validation;
    let mut names: Vec<String> = (0..count).map(|i| format!("p{i:02}.png")).collect();
    if !names.iter().any(|n| is_validation(n)) {
        names.extend(
            (0..)
                .map(|i| format!("v{i}.png"))
                .find(|n| is_validation(n)),
        );
    }
    for (k, name) in names.iter().enumerate() {
        let img = image::RgbImage::from_fn(96, 96, |x, y| {
            let v = ((x * (3 + k as u32) + y * 7) % 64) as u8 * 4;
            image::Rgb([v, ((x / 8 + y / 8) % 2 * 200) as u8, (x * y % 255) as u8])
        });
        img.save(dir.join(name)).expect("write photo");
    }
}

/// The card of a small test network `name` whose f32 weights are `name.safetensors`.
pub fn test_card(
    name: &str,
    architecture: &str,
    config: deblur::nets::model::NetConfig,
    tile: usize,
    overlap: usize,
) -> deblur::nets::card::ModelCard {
    use deblur::nets::card::{InferenceSection, ModelCard, ModelSection};
    ModelCard {
        model: ModelSection {
            name: name.into(),
            version: 1,
            architecture: architecture.into(),
            weights: format!("{name}.safetensors"),
            weights_sha256: String::new(),
            storage_dtype: "f32".into(),
            params: 0,
            summary: format!("random {architecture} network for tests"),
            licence: String::new(),
        },
        config,
        inference: InferenceSection {
            tile,
            overlap,
            pde_k: None,
            pde_dt: None,
        },
        training: Default::default(),
        data: Default::default(),
        evaluation: Default::default(),
    }
}
