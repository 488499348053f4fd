//! Tests of DHNet's maths (models.md §5.6) and sizes. Expectations are computed here from the
//! definitions (reference loops, hand counts), never copied from an earlier run.

use super::*;
use burn::module::Param;
use burn::tensor::Distribution;

fn cpu() -> Device {
    Device::flex()
}

fn to_vec(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 data")
}

fn random(shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn zero_conv(conv: &mut Conv2d) {
    let w = conv.weight.val();
    conv.weight = Param::from_tensor(Tensor::zeros(w.dims(), &w.device()));
    if let Some(b) = &conv.bias {
        let b = b.val();
        conv.bias = Some(Param::from_tensor(Tensor::zeros(b.dims(), &b.device())));
    }
}

fn randomise_conv(conv: &mut Conv2d) {
    let w = conv.weight.val();
    conv.weight = Param::from_tensor(random(w.dims(), &w.device()) * 0.3);
    if let Some(b) = &conv.bias {
        let b = b.val();
        conv.bias = Some(Param::from_tensor(Tensor::random(
            b.dims(),
            Distribution::Normal(0.0, 0.3),
            &b.device(),
        )));
    }
}

/// Reference depthwise "same" convolution (zero padding, cross-correlation as PyTorch/burn),
/// by direct loops over `[1, c, h, w]` planar data.
fn depthwise_ref(x: &[f32], c: usize, h: usize, w: usize, conv: &Conv2d) -> Vec<f32> {
    let weight = conv
        .weight
        .val()
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32");
    let bias: Vec<f32> = match &conv.bias {
        Some(b) => b.val().into_data().try_to_vec::<f32>().expect("f32"),
        None => vec![0.0; c],
    };
    let k = conv.weight.val().dims()[2];
    let r = (k / 2) as isize;
    let mut out = vec![0.0f32; c * h * w];
    for ch in 0..c {
        for y in 0..h as isize {
            for xx in 0..w as isize {
                let mut acc = bias[ch];
                for dy in -r..=r {
                    for dx in -r..=r {
                        let (sy, sx) = (y + dy, xx + dx);
                        if sy < 0 || sx < 0 || sy >= h as isize || sx >= w as isize {
                            continue;
                        }
                        let tap = weight[(ch * k + (dy + r) as usize) * k + (dx + r) as usize];
                        acc += tap * x[(ch * h + sy as usize) * w + sx as usize];
                    }
                }
                out[(ch * h + y as usize) * w + xx as usize] = acc;
            }
        }
    }
    out
}

#[test]
fn volterra_without_second_order_is_its_linear_part() {
    let device = cpu();
    let (c, h, w) = (4, 7, 9);
    let mut v = Volterra::new(c, 3, &device);
    v.a.iter_mut().for_each(zero_conv);
    v.b.iter_mut().for_each(zero_conv);
    let x = random([1, c, h, w], &device);
    let xv = to_vec(x.clone());
    let expected = depthwise_ref(&xv, c, h, w, &v.lin);
    let got = to_vec(v.forward(x));
    assert!(max_abs_diff(&got, &expected) < 1e-5);
}

#[test]
fn volterra_second_order_term_is_the_product_of_its_two_convs() {
    let device = cpu();
    let (c, h, w) = (3, 6, 5);
    let v = Volterra::new(c, 2, &device);
    let x = random([1, c, h, w], &device);
    let xv = to_vec(x.clone());
    let mut expected = depthwise_ref(&xv, c, h, w, &v.lin);
    for (a, b) in v.a.iter().zip(&v.b) {
        let (pa, pb) = (
            depthwise_ref(&xv, c, h, w, a),
            depthwise_ref(&xv, c, h, w, b),
        );
        for ((e, p), q) in expected.iter_mut().zip(&pa).zip(&pb) {
            *e += p * q;
        }
    }
    assert!(max_abs_diff(&to_vec(v.forward(x)), &expected) < 1e-4);
}

#[test]
fn volterra_with_identity_taps_squares_its_input() {
    // §5.6: Q = 1, W1 = 0, Wa = Wb = identity taps (centre 1, bias 0) gives x ⊙ x.
    let device = cpu();
    let c = 2;
    let mut v = Volterra::new(c, 1, &device);
    zero_conv(&mut v.lin);
    let mut centre = vec![0.0f32; c * 9];
    for ch in 0..c {
        centre[ch * 9 + 4] = 1.0;
    }
    for conv in v.a.iter_mut().chain(v.b.iter_mut()) {
        zero_conv(conv);
        conv.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(centre.clone(), [c, 1, 3, 3]),
            &device,
        ));
    }
    let x = random([1, c, 4, 5], &device);
    let expected: Vec<f32> = to_vec(x.clone()).iter().map(|v| v * v).collect();
    assert_eq!(to_vec(v.forward(x)), expected);
}

#[test]
fn fresh_vblock_and_ddre_are_the_identity() {
    let device = cpu();
    let x = random([2, 8, 6, 7], &device);
    let block = VBlock::new(8, 4, &device);
    assert_eq!(to_vec(block.forward(x.clone())), to_vec(x.clone()));
    let ddre = Ddre::new(8, 3, &EXPERT_KERNELS, &device);
    let x_in = random([2, 8, 6, 7], &device);
    let (y, _) = ddre.forward(x.clone(), x_in);
    assert_eq!(to_vec(y), to_vec(x));
}

#[test]
fn router_weights_are_a_softmax_at_every_pixel() {
    let device = cpu();
    let (n, c, h, w) = (2, 6, 5, 4);
    let ddre = Ddre::new(c, 3, &EXPERT_KERNELS, &device);
    let routes = ddre.route(random([n, c, h, w], &device), random([n, c, h, w], &device));
    let e = EXPERT_KERNELS.len();
    for t in routes.routers.iter().chain([&routes.weights]) {
        assert_eq!(t.dims(), [n, e, h, w]);
        let v = to_vec(t.clone());
        for b in 0..n {
            for p in 0..h * w {
                let vals: Vec<f32> = (0..e).map(|k| v[(b * e + k) * h * w + p]).collect();
                let sum: f32 = vals.iter().sum();
                assert!((sum - 1.0).abs() < 1e-5, "sum {sum}");
                assert!(vals.iter().all(|&x| (0.0..=1.0).contains(&x)));
            }
        }
    }
    // w̄ is the mean of the routers' softmaxes.
    let mean = routes
        .routers
        .iter()
        .cloned()
        .reduce(|a, b| a + b)
        .map(|s| s / 3.0)
        .expect("three routers");
    assert!(max_abs_diff(&to_vec(mean), &to_vec(routes.weights)) < 1e-6);
}

/// Pixels of `[1, c, h, w]` outputs whose value changes between `a` and `b`.
fn changed_pixels(a: &[f32], b: &[f32], c: usize, h: usize, w: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for y in 0..h {
        for x in 0..w {
            if (0..c).any(|ch| a[(ch * h + y) * w + x] != b[(ch * h + y) * w + x]) {
                out.push((y, x));
            }
        }
    }
    out
}

#[test]
fn expert_receptive_field_is_its_kernel() {
    let device = cpu();
    let (c, h, w) = (3, 9, 11);
    let x = random([1, c, h, w], &device);
    let mut poked = to_vec(x.clone());
    let (py, px) = (4, 5);
    for ch in 0..c {
        poked[(ch * h + py) * w + px] += 1.0;
    }
    let poked = Tensor::<4>::from_data(TensorData::new(poked, [1, c, h, w]), &device);
    for k in [1usize, 3, 5] {
        let mut expert = Expert::new(c, k, &device);
        randomise_conv(&mut expert.pw);
        let a = to_vec(expert.forward(x.clone()));
        let b = to_vec(expert.forward(poked.clone()));
        let changed = changed_pixels(&a, &b, c, h, w);
        let r = k / 2;
        // Exactly the k × k window around the poked pixel changes (the taps are random, so
        // none is zero).
        let expected: Vec<(usize, usize)> = (py - r..=py + r)
            .flat_map(|y| (px - r..=px + r).map(move |x| (y, x)))
            .collect();
        assert_eq!(changed, expected, "k = {k}");
    }
}

#[test]
fn vblock_parameter_count_matches_the_formula() {
    // §5.1: 6c² + (12 + 10·(1 + 2Q))·c, 3,168 at c = 16, Q = 4.
    let block = VBlock::new(16, 4, &cpu());
    assert_eq!(block.num_params(), 6 * 256 + (12 + 10 * 9) * 16);
    assert_eq!(block.num_params(), 3_168);
}

#[test]
fn dhnet_s_parameter_count_matches_a_hand_count() {
    // By hand from §5: VBlock(c) = 6c² + 102c; DDRE(c) = prior 9c²+c, 3 routers of
    // (2c·5 + 5), experts Σ_k (k²c + c) + 5(c² + c) = 14c² + 206c + 15.
    let vblock = |c: usize| 6 * c * c + 102 * c;
    let ddre = |c: usize| 14 * c * c + 206 * c + 15;
    let blocks = vblock(16) + vblock(32) + vblock(64) + 2 * vblock(128) // encoders
        + vblock(256) // middle
        + vblock(128) + vblock(64) + vblock(32) + vblock(16); // decoders
    let ddres = 2 * (ddre(16) + ddre(32) + ddre(64) + ddre(128));
    let downs: usize = [16, 32, 64, 128].iter().map(|c| 8 * c * c + 2 * c).sum();
    let ups: usize = [256, 128, 64, 32].iter().map(|c| 2 * c * c).sum();
    let ends = (27 * 16 + 16) + (16 * 9 * 3 + 3);
    let hand = blocks + ddres + downs + ups + ends;
    assert_eq!(hand, 1_898_571, "the spec's figure");
    assert_eq!(
        blocks + downs + ups + ends,
        1_190_291,
        "1.19 M without DDREs"
    );
    let cfg = DhNetConfig::small();
    assert_eq!(cfg.param_count(), hand);
    assert_eq!(cfg.init(&cpu()).num_params(), hand);
}

#[test]
fn dhnet_32_parameter_count_matches_the_formula() {
    let cfg = DhNetConfig::wide32();
    assert_eq!(cfg.init(&cpu()).num_params(), cfg.param_count());
}

#[test]
fn macs_match_the_spec() {
    let m = DhNetConfig::small().macs(256, 256);
    let g = |v: u64| v as f64 / 1e9;
    assert!((g(m.total) - 4.14).abs() < 0.005, "total {}", g(m.total));
    assert!((g(m.ddre) - 2.65).abs() < 0.005, "DDRE {}", g(m.ddre));
    assert!((g(m.total - m.ddre) - 1.50).abs() < 0.005);
}

#[test]
fn network_keeps_any_size_and_reports_every_site() {
    let device = cpu();
    let cfg = DhNetConfig::tiny(8);
    let net = cfg.init(&device);
    let x = Tensor::<4>::random([1, 3, 37, 53], Distribution::Uniform(0.0, 1.0), &device);
    let plain = net.forward(x.clone());
    let (y, maps) = net.forward_with_routes(x);
    assert_eq!(y.dims(), [1, 3, 37, 53]);
    assert_eq!(to_vec(plain), to_vec(y), "routes do not change the image");
    let sites: Vec<(usize, Side)> = maps.sites.iter().map(|s| (s.level, s.side)).collect();
    assert_eq!(
        sites,
        vec![
            (0, Side::Encoder),
            (1, Side::Encoder),
            (1, Side::Decoder),
            (0, Side::Decoder)
        ]
    );
    // Two levels pad to a multiple of 4: 40 × 56; level l is 1/2^l of that.
    for s in &maps.sites {
        assert_eq!(
            s.routes.weights.dims(),
            [1, 5, 40 >> s.level, 56 >> s.level]
        );
    }
    // Every expert's share, averaged over sites and upsampled, still sums to 1 per pixel.
    let experts = maps.expert_maps(37, 53).expect("sites");
    assert_eq!(experts.dims(), [1, 5, 37, 53]);
    let total = to_vec(experts.sum_dim(1));
    assert!(total.iter().all(|&t| (t - 1.0).abs() < 1e-5), "{total:?}");
    let map = maps.degree_map(37, 53).expect("sites");
    assert_eq!(map.dims(), [1, 1, 37, 53]);
    let (lo, hi) = cfg.degree_bounds();
    assert_eq!((lo, hi), (1.5, 13.5), "mean of 2^l over levels 0, 1 is 1.5");
    assert!(to_vec(map)
        .iter()
        .all(|&d| d >= lo - 1e-4 && d <= hi + 1e-4));
}

#[test]
fn site_degree_is_the_weighted_kernel_size() {
    let device = cpu();
    // Hand-made weights at level 2 for one pixel: 0.5 on k=1, 0.5 on k=9 → 4·5 = 20 px.
    let w = Tensor::<4>::from_data(
        TensorData::new(vec![0.5f32, 0.0, 0.0, 0.0, 0.5], [1, 5, 1, 1]),
        &device,
    );
    let site = RouterSite {
        level: 2,
        side: Side::Encoder,
        routes: DdreRoutes {
            weights: w.clone(),
            routers: vec![w],
        },
    };
    let maps = RouterMaps {
        sites: vec![site],
        expert_kernels: EXPERT_KERNELS.to_vec(),
    };
    let d = to_vec(maps.site_degree(&maps.sites[0]));
    assert_eq!(d, vec![20.0]);
    // A constant map upsamples to the same constant over the 4 × 4 image block.
    let full = to_vec(maps.degree_map(4, 4).expect("one site"));
    assert!(full.iter().all(|&v| (v - 20.0).abs() < 1e-5), "{full:?}");
}

#[test]
fn dhnet_configs_follow_the_shared_unet_rules_and_their_own() {
    let uneven = DhNetConfig {
        dec_blocks: vec![1],
        ..DhNetConfig::small()
    };
    assert_eq!(
        uneven.validate(),
        Err("4 encoder levels but 1 decoder levels".to_string())
    );
    let even_kernel = DhNetConfig {
        expert_kernels: vec![1, 4],
        ..DhNetConfig::small()
    };
    assert!(even_kernel.validate().is_err_and(|e| e.contains("odd")));
    assert_eq!(DhNetConfig::small().validate(), Ok(()));
}
