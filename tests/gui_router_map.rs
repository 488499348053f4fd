//! The desktop app shows a DHNet's router map as the blur map (not the kernel-derived one).
//! Its own test binary: it points `DEBLUR_MODELS_DIR` at a temporary models folder holding a
//! small random DHNet, before any other thread could read the variable.

mod common;

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Distribution, Tensor};
use deblur::analysis::blurmap::BlurMapSource;
use deblur::nets::dhnet::{DhNet, DhNetConfig};
use deblur::nets::model::NetConfig;
use deblur::nets::weights::save_safetensors;

fn tiny_config() -> DhNetConfig {
    DhNetConfig::tiny(8)
}

fn randomise(conv: &mut Conv2d) {
    let w = conv.weight.val();
    conv.weight = Param::from_tensor(Tensor::random(
        w.dims(),
        Distribution::Normal(0.0, 1.0),
        &w.device(),
    ));
}

/// Random routers, so the experts' weights (and the map) vary over the image.
fn random_dhnet(device: &Device) -> DhNet {
    let mut net = tiny_config().init(device);
    for ddre in net.enc_ddre.iter_mut().chain(net.dec_ddre.iter_mut()) {
        ddre.routers.iter_mut().for_each(randomise);
    }
    net
}

fn write_model(dir: &std::path::Path) {
    let net = random_dhnet(&Device::flex());
    save_safetensors(&net, &dir.join("dhnet-tiny.safetensors"), false).expect("weights");
    let card = common::test_card(
        "dhnet-tiny",
        "dhnet",
        NetConfig::DhNet(tiny_config()),
        64,
        16,
    );
    card.write(&dir.join("dhnet-tiny.toml")).expect("card");
}

#[test]
fn a_dhnet_shows_its_router_map() {
    let dir = tempfile::tempdir().expect("tempdir");
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).expect("mkdir");
    write_model(&models);
    // The only test in this binary, and no thread has started yet.
    std::env::set_var("DEBLUR_MODELS_DIR", &models);

    let Some(mut h) = common::app_deblurring(dir.path(), (90, 70), "dhnet-tiny", |a| {
        a.doc.as_ref().is_some_and(|d| d.restored.is_some())
    }) else {
        return;
    };
    h.state_mut().settings.show_blur_map = true;
    h.run_steps(3);
    let doc = h.state().doc.as_ref().expect("document");
    let map = doc
        .blur_map
        .as_ref()
        .expect("the router map arrives with the result");
    assert!(map.from_routers);
    assert_eq!(map.source, "DHNet routers");
    assert_eq!((map.map.width, map.map.height), (90, 70));
    let (lo, hi) = tiny_config().degree_bounds();
    assert!(map
        .map
        .values
        .iter()
        .all(|&d| d >= lo - 1e-4 && d <= hi + 1e-4));
    assert!(map.max > map.min, "random routers give a varying map");
    assert!(
        !doc.kernels_running && doc.kernels.is_none(),
        "a router map needs no kernel estimate"
    );

    // One share map per expert, in the config's order; the shares sum to 1 at every pixel.
    let kernels: Vec<usize> = doc
        .expert_maps
        .iter()
        .map(|m| match m.map.source {
            BlurMapSource::Expert { kernel } => kernel,
            ref other => panic!("not an expert map: {other:?}"),
        })
        .collect();
    assert_eq!(kernels, tiny_config().expert_kernels);
    let pixels = 90 * 70;
    for i in 0..pixels {
        let total: f32 = doc.expert_maps.iter().map(|m| m.map.values[i]).sum();
        assert!(
            (total - 1.0).abs() < 1e-4,
            "pixel {i}: shares sum to {total}"
        );
    }
    for m in &doc.expert_maps {
        assert_eq!((m.min, m.max), (0.0, 1.0), "shares keep the 0-1 scale");
        assert!(m
            .map
            .values
            .iter()
            .all(|&v| (-1e-5..=1.0 + 1e-5).contains(&v)));
    }
    // The map shown follows the layer picked; the blur degree is layer 0.
    let largest = kernels.len();
    h.state_mut().settings.blur_map_layer = largest;
    h.run_steps(2);
    let doc = h.state().doc.as_ref().expect("document");
    let shown = doc.shown_map(largest).expect("expert map");
    assert_eq!(
        shown.source,
        format!("DHNet routers, {k}×{k} expert", k = kernels[largest - 1])
    );
    assert!(doc
        .shown_map(0)
        .is_some_and(|m| m.from_routers && m.unit == "px"));
    assert!(
        std::ptr::eq(
            doc.shown_map(largest + 7).expect("falls back"),
            doc.blur_map.as_ref().expect("map")
        ),
        "a layer past the experts shows the blur degree"
    );
}
