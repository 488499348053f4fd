//! Official-checkpoint import, proven numerically: random-weight NAFNets saved by PyTorch
//! (spandrel's NAFNet, BasicSR `params` layout) and their PyTorch outputs
//! (tests/fixtures/nafnet/make_fixture.py) must be reproduced by our import + forward.

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use deblur::nets::weights::{import_official, official_config};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/nafnet")
        .join(name)
}

/// (input, expected output) as flat f32 with the input's shape.
fn io(name: &str) -> (Vec<f32>, Vec<f32>, [usize; 4]) {
    let bytes = std::fs::read(fixture(name)).expect("fixture present");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let read = |key: &str| -> (Vec<f32>, Vec<usize>) {
        let t = st.tensor(key).expect("key present");
        let data = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (data, t.shape().to_vec())
    };
    let (input, shape) = read("input");
    let (output, _) = read("output");
    (input, output, [shape[0], shape[1], shape[2], shape[3]])
}

fn check(pth: &str, io_file: &str, device: &Device) -> f32 {
    let (net, info) = import_official(&fixture(pth), device).expect("import succeeds");
    assert!(
        info.known_checkpoint.is_none(),
        "a random fixture is no official checkpoint"
    );
    let (input, expected, shape) = io(io_file);
    let x = Tensor::<4>::from_data(TensorData::new(input, shape), device);
    let y: Vec<f32> = net.forward(x).into_data().try_to_vec().expect("f32 output");
    common::max_abs_diff(&y, &expected)
}

#[test]
fn config_is_derived_from_the_keys() {
    let c = official_config(&fixture("nafnet_s.pth")).expect("readable");
    assert_eq!(c, deblur::nets::nafnet::NafNetConfig::small());
    let t = official_config(&fixture("nafnet_tiny.pth")).expect("readable");
    assert_eq!(
        (t.width, t.enc_blocks.clone(), t.middle_blocks),
        (8, vec![1, 1], 1)
    );
}

#[test]
fn imported_nafnet_matches_pytorch_on_cpu() {
    let device = Device::flex();
    for (pth, io_file) in [
        ("nafnet_tiny.pth", "nafnet_tiny_io.safetensors"),
        ("nafnet_s.pth", "nafnet_s_io.safetensors"),
    ] {
        let err = check(pth, io_file, &device);
        assert!(err <= 1e-4, "{pth} on CPU: max abs error {err}");
    }
}

#[test]
fn imported_nafnet_matches_pytorch_on_wgpu() {
    let Some(device) = common::wgpu_device("imported_nafnet_matches_pytorch_on_wgpu") else {
        return;
    };
    let err = check("nafnet_s.pth", "nafnet_s_io.safetensors", &device);
    assert!(err <= 1e-4, "nafnet-s on wgpu: max abs error {err}");
}

#[test]
fn a_file_that_is_not_a_checkpoint_is_refused_with_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bogus = dir.path().join("bogus.pth");
    std::fs::write(&bogus, b"not a pickle").expect("write");
    let err = import_official(&bogus, &Device::flex())
        .expect_err("refused")
        .to_string();
    assert!(err.contains("bogus.pth"), "{err}");
}
