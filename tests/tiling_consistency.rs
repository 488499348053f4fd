//! The same network gives the same image with two different tile sizes when its receptive
//! field fits in the overlap (models.md §11). NAFNet's channel attention pools globally, so
//! the test zeroes the attention weights (leaving its bias): the network is then local.

use burn::module::Param;
use burn::tensor::{Device, Tensor};
use deblur::engine::{deblur_planes, NetRunner, Planes, TileSettings};
use deblur::nets::blocks::NafBlock;
use deblur::nets::nafnet::NafNet;
use deblur::nets::weights::import_official;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// Makes a block local: no global pooling (the attention keeps its bias only).
fn localise(block: &mut NafBlock) {
    let w = block.sca.weight.val();
    block.sca.weight = Param::from_tensor(Tensor::zeros(w.dims(), &w.device()));
}

fn local_net(device: &Device) -> NafNet {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nafnet/nafnet_tiny.pth");
    let (mut net, _) = import_official(&path, device).expect("fixture imports");
    net.encoders.iter_mut().flatten().for_each(localise);
    net.middle_blks.iter_mut().for_each(localise);
    net.decoders.iter_mut().flatten().for_each(localise);
    net
}

#[test]
fn two_tile_sizes_agree() {
    let device = Device::flex();
    let runner = NetRunner {
        net: local_net(&device).into(),
        device,
        pde: Default::default(),
    };
    let (w, h) = (301, 203);
    // A smooth pattern with some texture, in [0,1].
    let img: Vec<f32> = (0..3 * w * h)
        .map(|i| {
            let (c, p) = (i / (w * h), i % (w * h));
            let (x, y) = ((p % w) as f32, (p / w) as f32);
            0.5 + 0.3 * ((x * 0.07 + c as f32).sin() * (y * 0.05).cos())
                + 0.1 * ((x * 0.9).sin() * (y * 1.3).sin())
        })
        .collect();
    let cancel = AtomicBool::new(false);
    let run = |tile: usize| {
        deblur_planes(
            &runner,
            Planes {
                rgb: &img,
                width: w,
                height: h,
            },
            TileSettings { tile, overlap: 64 },
            None,
            &cancel,
            &mut |_| {},
        )
        .expect("deblur runs")
    };
    let a = run(160);
    let b = run(224);
    let err = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    // The network must really change the image, or the comparison proves nothing.
    let change = a
        .iter()
        .zip(&img)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(change > 0.05, "network barely changes the image ({change})");
    assert!(err < 1e-3, "tile 160 vs 224: max abs difference {err}");
}
