//! The router blur-degree map through the tiled engine (models.md §5.5, §11.2).
//!
//! An untrained DHNet's routers carry no blur information, so these tests check the plumbing:
//! the map has the image's size, stays within the nominal range the experts allow, and is the
//! same for two tile sizes (no seams). Blur tracking is tested on the PSF-derived map
//! (`analysis::blurmap` unit tests), which needs no trained network.

use std::sync::atomic::AtomicBool;

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Distribution, Tensor};
use deblur::analysis::blurmap::BlurMapSource;
use deblur::engine::{
    deblur_planes_with_map, restore_photo_with_map, NetRunner, Planes, TileSettings,
};
use deblur::imaging::Photo;
use deblur::nets::dhnet::{DhNet, DhNetConfig, VBlock};
use deblur::nets::model::Net;
use deblur::nets::nafnet::NafNetConfig;

fn small_config() -> DhNetConfig {
    DhNetConfig::tiny(8)
}

fn noise_like<const D: usize>(t: Tensor<D>, std: f64) -> Tensor<D> {
    Tensor::random(t.dims(), Distribution::Normal(0.0, std), &t.device())
}

fn randomise(conv: &mut Conv2d, std: f64) {
    conv.weight = Param::from_tensor(noise_like(conv.weight.val(), std));
}

/// Local (SCA's weights zeroed, so no global pooling) and non-trivial (beta, gamma and the
/// experts' pointwise convs random instead of the identity-making zeros).
fn prepare(block: &mut VBlock) {
    let w = block.sca.weight.val();
    block.sca.weight = Param::from_tensor(Tensor::zeros(w.dims(), &w.device()));
    block.beta = Param::from_tensor(noise_like(block.beta.val(), 0.2));
    block.gamma = Param::from_tensor(noise_like(block.gamma.val(), 0.2));
}

fn local_dhnet(device: &Device) -> DhNet {
    let mut net = small_config().init(device);
    net.encoders.iter_mut().flatten().for_each(prepare);
    net.middle_blks.iter_mut().for_each(prepare);
    net.decoders.iter_mut().flatten().for_each(prepare);
    for ddre in net.enc_ddre.iter_mut().chain(net.dec_ddre.iter_mut()) {
        for e in &mut ddre.experts {
            randomise(&mut e.pw, 0.1);
        }
        for r in &mut ddre.routers {
            randomise(r, 1.0);
        }
    }
    net
}

fn test_image(w: usize, h: usize) -> Vec<f32> {
    (0..3 * w * h)
        .map(|i| {
            let (c, p) = (i / (w * h), i % (w * h));
            let (x, y) = ((p % w) as f32, (p / w) as f32);
            0.5 + 0.3 * ((x * 0.07 + c as f32).sin() * (y * 0.05).cos())
                + 0.15 * ((x * 0.9).sin() * (y * 1.3).sin())
        })
        .collect()
}

#[test]
fn router_map_has_the_image_size_a_nominal_range_and_no_seams() {
    let device = Device::flex();
    let runner = NetRunner {
        net: Net::DhNet(local_dhnet(&device)),
        device,
        pde: Default::default(),
    };
    let (w, h) = (301, 203);
    let img = test_image(w, h);
    let cancel = AtomicBool::new(false);
    let run = |tile: usize| {
        deblur_planes_with_map(
            &runner,
            Planes {
                rgb: &img,
                width: w,
                height: h,
            },
            TileSettings { tile, overlap: 64 },
            None,
            &cancel,
            &mut |e| assert!(e.blur_map.is_some()),
        )
        .expect("runs")
    };
    let (a, b) = (run(160), run(224));
    let (ma, mb) = (
        a.blur_map.expect("DHNet gives a map"),
        b.blur_map.expect("DHNet gives a map"),
    );
    assert_eq!(ma.len(), w * h);
    let (lo, hi) = small_config().degree_bounds();
    assert!(ma.iter().all(|&d| d >= lo - 1e-4 && d <= hi + 1e-4));
    let spread =
        ma.iter().cloned().fold(f32::MIN, f32::max) - ma.iter().cloned().fold(f32::MAX, f32::min);
    assert!(spread > 0.05, "the routers vary over the image ({spread})");
    let seam = ma
        .iter()
        .zip(&mb)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    eprintln!("router map: spread {spread:.3} px, tile 160 vs 224 differ by {seam:.2e} px");
    assert!(seam < 1e-3, "tile 160 vs 224: map differs by {seam}");
    let image_diff = a
        .rgb
        .iter()
        .zip(&b.rgb)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(
        image_diff < 1e-3,
        "tile 160 vs 224: image differs by {image_diff}"
    );
}

fn photo(w: usize, h: usize) -> Photo {
    Photo {
        width: w,
        height: h,
        rgb: test_image(w, h),
        alpha: None,
        grayscale: false,
        bit_depth: deblur::imaging::BitDepth::Eight,
        exif: None,
        icc: None,
    }
}

#[test]
fn the_map_says_where_it_came_from() {
    let device = Device::flex();
    let cancel = AtomicBool::new(false);
    let settings = TileSettings {
        tile: 96,
        overlap: 32,
    };
    let p = photo(130, 100);
    let dh = NetRunner {
        net: Net::DhNet(local_dhnet(&device)),
        device: device.clone(),
        pde: Default::default(),
    };
    let (restored, map) =
        restore_photo_with_map(&dh, &p, settings, &cancel, &mut |_| {}).expect("runs");
    assert_eq!((restored.width, map.width, map.height), (130, 130, 100));
    assert_eq!(map.source, BlurMapSource::Routers);
    assert!(map.legend().contains("routers"));

    // NAFNet has no routers: the map comes from the per-region PSF estimate.
    let naf = NetRunner {
        net: Net::NafNet(
            NafNetConfig {
                width: 4,
                enc_blocks: vec![1],
                middle_blocks: 1,
                dec_blocks: vec![1],
                pde: None,
                fke: None,
            }
            .init(&device),
        ),
        device,
        pde: Default::default(),
    };
    let (_, map) = restore_photo_with_map(&naf, &p, settings, &cancel, &mut |_| {}).expect("runs");
    assert!(matches!(map.source, BlurMapSource::Psf { .. }));
    assert_eq!(map.values.len(), 130 * 100);
    assert!(map.values.iter().all(|v| v.is_finite() && *v >= 0.0));
}
