//! Loss tests: each loss against a direct reference computed here from its definition.

use super::*;
use burn::tensor::Distribution;
use rustfft::num_complex::Complex64;
use rustfft::FftPlanner;

fn cpu() -> Device {
    Device::flex()
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32")
}

fn scalar(t: Tensor<1>) -> f64 {
    f64::from(t.into_scalar::<f32>())
}

#[test]
fn psnr_loss_is_minus_the_mean_psnr() {
    let device = cpu();
    let gt = Tensor::<4>::zeros([2, 3, 4, 4], &device);
    // Image 0 off by 0.1 everywhere (PSNR 20 dB), image 1 by 0.01 (40 dB).
    let mut v = vec![0.1f32; 48];
    v.extend(vec![0.01f32; 48]);
    let pred = Tensor::<4>::from_data(TensorData::new(v, [2, 3, 4, 4]), &device);
    let loss = scalar(psnr_loss(pred, gt));
    assert!((loss - (-30.0)).abs() < 1e-3, "loss {loss}");
}

#[test]
fn charbonnier_is_the_smoothed_absolute_error() {
    let device = cpu();
    let gt = Tensor::<4>::zeros([1, 1, 1, 2], &device);
    let pred = Tensor::<4>::from_data(TensorData::new(vec![0.3f32, -0.4], [1, 1, 1, 2]), &device);
    let e2 = CHARBONNIER_EPS * CHARBONNIER_EPS;
    let want = ((0.09 + e2).sqrt() + (0.16 + e2).sqrt()) / 2.0;
    assert!((scalar(charbonnier(pred, gt)) - want).abs() < 1e-6);
}

/// `lap` by loops over one `h × w` plane, straight from §10.1.
fn laplacian_ref(x: &[f32], h: usize, w: usize) -> Vec<f32> {
    let g = |img: &[f32]| -> Vec<f32> {
        let at = |y: isize, x: isize| {
            img[(y.clamp(0, h as isize - 1) as usize) * w + x.clamp(0, w as isize - 1) as usize]
        };
        let mut out = vec![0.0f32; h * w];
        for y in 0..h as isize {
            for xx in 0..w as isize {
                let mut acc = 0.0;
                for (i, gy) in GAUSS5.iter().enumerate() {
                    for (j, gx) in GAUSS5.iter().enumerate() {
                        acc += gy * gx * at(y + i as isize - 2, xx + j as isize - 2);
                    }
                }
                out[y as usize * w + xx as usize] = acc;
            }
        }
        out
    };
    let blurred = g(x);
    let mut up = vec![0.0f32; h * w];
    for y in (0..h).step_by(2) {
        for xx in (0..w).step_by(2) {
            up[y * w + xx] = 4.0 * blurred[y * w + xx];
        }
    }
    let again = g(&up);
    x.iter().zip(&again).map(|(a, b)| a - b).collect()
}

#[test]
fn laplacian_matches_its_definition() {
    let device = cpu();
    let (h, w) = (8, 10);
    let x = Tensor::<4>::random([1, 2, h, w], Distribution::Uniform(0.0, 1.0), &device);
    let xv = to_vec(x.clone());
    let got = to_vec(laplacian(x));
    for c in 0..2 {
        let want = laplacian_ref(&xv[c * h * w..(c + 1) * h * w], h, w);
        for (a, b) in got[c * h * w..(c + 1) * h * w].iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
    // Identical images: the edge loss is the Charbonnier floor ε.
    let y = Tensor::<4>::random([1, 3, h, w], Distribution::Uniform(0.0, 1.0), &device);
    let floor = scalar(edge_loss(y.clone(), y));
    assert!((floor - CHARBONNIER_EPS).abs() < 1e-7);
}

#[test]
fn frequency_loss_matches_an_fft_reference() {
    let device = cpu();
    let (n, c, h, w) = (2, 3, 8, 12);
    let pred = Tensor::<4>::random([n, c, h, w], Distribution::Uniform(0.0, 1.0), &device);
    let gt = Tensor::<4>::random([n, c, h, w], Distribution::Uniform(0.0, 1.0), &device);
    let d: Vec<f64> = to_vec(pred.clone())
        .iter()
        .zip(to_vec(gt.clone()))
        .map(|(a, b)| f64::from(a - b))
        .collect();
    // Full 2-D FFT of each plane with rustfft; keep v ∈ [0, W/2].
    let mut planner = FftPlanner::<f64>::new();
    let (fw, fh) = (planner.plan_fft_forward(w), planner.plan_fft_forward(h));
    let mut sum = 0.0;
    for plane in d.chunks(h * w) {
        let mut z: Vec<Complex64> = plane.iter().map(|&v| Complex64::new(v, 0.0)).collect();
        for row in z.chunks_mut(w) {
            fw.process(row);
        }
        for v in 0..=w / 2 {
            let mut col: Vec<Complex64> = (0..h).map(|y| z[y * w + v]).collect();
            fh.process(&mut col);
            sum += col
                .iter()
                .map(|x| (x.norm_sqr() + 1e-12).sqrt())
                .sum::<f64>();
        }
    }
    let want = sum / (n * c * h * (w / 2 + 1)) as f64;
    let got = scalar(frequency_loss(pred, gt));
    assert!((got - want).abs() < 1e-4 * want, "{got} vs {want}");
}

#[test]
fn total_loss_weights_its_terms() {
    let device = cpu();
    let pred = Tensor::<4>::random([1, 3, 8, 8], Distribution::Uniform(0.0, 1.0), &device);
    let gt = Tensor::<4>::random([1, 3, 8, 8], Distribution::Uniform(0.0, 1.0), &device);
    let terms = [
        LossTerm::new(LossKind::Charbonnier, 1.0),
        LossTerm::new(LossKind::Edge, 0.05),
        LossTerm::new(LossKind::Frequency, 0.01),
    ];
    let want = scalar(charbonnier(pred.clone(), gt.clone()))
        + 0.05 * scalar(edge_loss(pred.clone(), gt.clone()))
        + 0.01 * scalar(frequency_loss(pred.clone(), gt.clone()));
    assert!((scalar(total_loss(&terms, pred, gt)) - want).abs() < 1e-5);
}

#[test]
fn degree_loss_is_the_mean_pixel_error_over_the_scale() {
    let device = cpu();
    // Errors 4, 0, 12, 8 px: mean 6 px.
    let d = Tensor::<4>::from_data(
        TensorData::new(vec![6.0f32, 9.0, 3.0, 20.0], [1, 1, 2, 2]),
        &device,
    );
    let e = Tensor::<4>::from_data(
        TensorData::new(vec![10.0f32, 9.0, 15.0, 12.0], [1, 1, 2, 2]),
        &device,
    );
    let got = scalar(degree_loss(d, e));
    assert!((got - 6.0 / DEGREE_SCALE_PX).abs() < 1e-6, "{got}");
}

#[test]
fn image_losses_leave_the_degree_term_out() {
    let device = cpu();
    let pred = Tensor::<4>::random([1, 3, 8, 8], Distribution::Uniform(0.0, 1.0), &device);
    let gt = Tensor::<4>::random([1, 3, 8, 8], Distribution::Uniform(0.0, 1.0), &device);
    let terms = [
        LossTerm::new(LossKind::L1, 1.0),
        LossTerm::new(LossKind::Degree, 5.0),
    ];
    let want = scalar(l1(pred.clone(), gt.clone()));
    assert!((scalar(total_loss(&terms, pred, gt)) - want).abs() < 1e-6);
    assert!(!LossKind::Degree.on_image() && LossKind::L1.on_image());
}

#[test]
fn a_term_counts_from_its_first_iteration() {
    let t: LossTerm =
        toml::from_str("kind = \"degree\"\nweight = 0.02\nfrom = 5600").expect("term");
    assert_eq!((t.kind, t.from), (LossKind::Degree, 5600));
    assert!(!t.active_at(5599) && t.active_at(5600));
    // Without `from`, from the start; and a term from 0 is written without it.
    let t: LossTerm = toml::from_str("kind = \"l1\"\nweight = 1.0").expect("term");
    assert!(t.active_at(0));
    assert!(!toml::to_string(&t).expect("toml").contains("from"));
}

#[test]
fn degree_contrast_sees_only_the_layout_within_each_image() {
    let device = cpu();
    let map = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [2, 1, 1, 2]), &device);
    // Image 0: truth 4 | 12, map 10 | 14: centred −4 | 4 vs −2 | 2, error 2 px.
    // Image 1: truth 6 | 6, map 20 | 20: centred 0 | 0 both, error 0 (the level is not its job).
    let e = map(vec![4.0, 12.0, 6.0, 6.0]);
    let d = map(vec![10.0, 14.0, 20.0, 20.0]);
    let got = scalar(degree_contrast_loss(d.clone(), e.clone()));
    assert!((got - 1.0 / DEGREE_SCALE_PX).abs() < 1e-6, "{got}");
    // Shifting one image's whole map changes nothing.
    let shifted = d + map(vec![0.0, 0.0, 7.0, 7.0]);
    assert!((scalar(degree_contrast_loss(shifted, e)) - got).abs() < 1e-6);
}

#[test]
fn loss_kinds_read_by_their_recipe_names() {
    for kind in [
        LossKind::Psnr,
        LossKind::L1,
        LossKind::Charbonnier,
        LossKind::Edge,
        LossKind::Frequency,
        LossKind::Degree,
        LossKind::DegreeContrast,
    ] {
        let t: LossTerm =
            toml::from_str(&format!("kind = \"{}\"\nweight = 1.0", kind.name())).expect("term");
        assert_eq!(t.kind, kind);
        assert_eq!(kind.on_degree(), !kind.on_image());
    }
}
