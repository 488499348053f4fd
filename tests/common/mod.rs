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
