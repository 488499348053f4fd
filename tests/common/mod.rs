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
    write_training_photos_sized(dir, count, 96);
}

/// [`write_training_photos`] at `side`×`side` pixels.
pub fn write_training_photos_sized(dir: &std::path::Path, count: usize, side: u32) {
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
        let img = image::RgbImage::from_fn(side, side, |x, y| {
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

/// The app opened on a checker photo of `width × height` written into `dir`, with `model`
/// chosen, deblurring it; steps until `done` holds (at most 120 s) and returns the harness.
/// `None` without a wgpu adapter (see [`wgpu_device`]).
pub fn app_deblurring(
    dir: &std::path::Path,
    (width, height): (u32, u32),
    model: &str,
    done: impl Fn(&deblur::app::DeblurApp) -> bool,
) -> Option<egui_kittest::Harness<'static, deblur::app::DeblurApp>> {
    use std::time::{Duration, Instant};
    let photo = dir.join("photo.png");
    image::RgbImage::from_fn(width, height, |x, y| {
        let v = ((x / 9 + y / 7) % 2 * 200 + 30) as u8;
        image::Rgb([v, v / 2, 255 - v])
    })
    .save(&photo)
    .expect("fixture");
    wgpu_device(model)?;
    let launch = deblur::app::Launch {
        files: vec![photo],
        ..Default::default()
    };
    let mut h = egui_kittest::Harness::builder()
        .with_size([1000.0, 700.0])
        .wgpu()
        .build_eframe(move |cc| deblur::app::DeblurApp::new(cc, launch));
    h.state_mut().settings.model = model.into();
    let start = Instant::now();
    let mut asked = false;
    while !done(h.state()) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "still waiting; notices: {:?}",
            h.state()
                .notices
                .iter()
                .map(|n| &n.text)
                .collect::<Vec<_>>()
        );
        if !asked && h.state().doc.as_ref().is_some_and(|d| d.photo.is_some()) {
            h.state_mut().run_deblur();
            asked = true;
        }
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(h)
}
