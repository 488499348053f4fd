//! The FKE's Fourier maths (models.md §6.4) and its module (§6.2–6.3).
//!
//! Tolerances: an f32 FFT of N points has a relative RMS error of about ε·log2(N) (ε = 6e-8),
//! so relative L2 ≤ 1e-5 between two FFT implementations, and 1e-5 max abs for a round trip
//! of values in [−1, 1], leave a tenfold margin while any wrong twiddle, index or sign gives
//! errors of order 1.

use burn::tensor::{Distribution, Tensor, TensorData};

use super::*;
use crate::gpu::fft_cpu;

fn cpu() -> Device {
    Device::flex()
}

fn uniform(shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::random(shape, Distribution::Uniform(-1.0, 1.0), device)
}

fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    (num / den.max(1e-30)).sqrt()
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn burn_rfft2_matches_rustfft() {
    let device = cpu();
    for (h, w) in [(16, 16), (32, 64), (64, 16), (256, 256)] {
        let x = uniform([2, 3, h, w], &device);
        let (re, im) = rfft2(x.clone());
        assert_eq!(re.dims(), [2, 3, h, w / 2 + 1]);
        let (cre, cim) = fft_cpu::rfft2(&host(x), 6, h, w).expect("reference");
        let (re, im) = (host(re), host(im));
        assert!(
            rel_l2(&re, &cre) <= 1e-5,
            "{h}x{w} re {}",
            rel_l2(&re, &cre)
        );
        assert!(
            rel_l2(&im, &cim) <= 1e-5,
            "{h}x{w} im {}",
            rel_l2(&im, &cim)
        );
    }
}

#[test]
fn round_trip_returns_the_input() {
    let device = cpu();
    for (h, w) in [(16, 16), (32, 128), (256, 256)] {
        let x = uniform([1, 4, h, w], &device);
        let (re, im) = rfft2(x.clone());
        let back = irfft2(re, im, w);
        let err = max_abs(&host(back), &host(x));
        assert!(err <= 1e-5, "{h}x{w}: {err}");
    }
}

#[test]
fn all_ones_spectrum_is_the_identity() {
    let device = cpu();
    let x = uniform([1, 3, 32, 64], &device);
    let ones = Tensor::<4>::ones([1, 3, 32, 33], &device);
    let zeros = Tensor::<4>::zeros([1, 3, 32, 33], &device);
    for path in [KernelPath::Tensor, KernelPath::Cpu] {
        let y = path.spectral_multiply(x.clone(), ones.clone(), zeros.clone());
        let err = max_abs(&host(y), &host(x.clone()));
        assert!(err <= 1e-5, "{path:?}: {err}");
    }
}

/// A delta at (dy, dx) as a `[1,C,H,W]` tensor, every channel.
fn delta(c: usize, h: usize, w: usize, dy: usize, dx: usize, device: &Device) -> Tensor<4> {
    let mut v = vec![0.0f32; c * h * w];
    for ch in 0..c {
        v[ch * h * w + dy * w + dx] = 1.0;
    }
    Tensor::from_data(TensorData::new(v, [1, c, h, w]), device)
}

#[test]
fn spectrum_of_a_shifted_delta_shifts_circularly() {
    let device = cpu();
    let (c, h, w, dy, dx) = (2, 16, 32, 5, 29);
    let x = uniform([1, c, h, w], &device);
    let (kr, ki) = rfft2(delta(c, h, w, dy, dx, &device));
    let xs = host(x.clone());
    let mut expected = vec![0.0f32; xs.len()];
    for ch in 0..c {
        for y in 0..h {
            for xx in 0..w {
                let (sy, sx) = ((y + dy) % h, (xx + dx) % w);
                expected[ch * h * w + sy * w + sx] = xs[ch * h * w + y * w + xx];
            }
        }
    }
    for path in [KernelPath::Tensor, KernelPath::Cpu] {
        let y = host(path.spectral_multiply(x.clone(), kr.clone(), ki.clone()));
        let err = max_abs(&y, &expected);
        assert!(err <= 1e-5, "{path:?}: {err}");
    }
}

#[test]
fn parseval_holds_for_the_normalisation() {
    // Σ x² = (1/(H·W)) Σ over the full plane of |X|²; the half plane counts the columns
    // 1..W/2−1 twice (their mirror images) and the DC and Nyquist columns once.
    let device = cpu();
    let (h, w) = (32, 64);
    let x = uniform([1, 1, h, w], &device);
    let energy: f64 = host(x.clone()).iter().map(|v| f64::from(*v).powi(2)).sum();
    let (re, im) = rfft2(x);
    let (re, im) = (host(re), host(im));
    let wc = w / 2 + 1;
    let mut spectral = 0.0f64;
    for u in 0..h {
        for v in 0..wc {
            let k = u * wc + v;
            let weight = if v == 0 || v == w / 2 { 1.0 } else { 2.0 };
            spectral += weight * (f64::from(re[k]).powi(2) + f64::from(im[k]).powi(2));
        }
    }
    spectral /= (h * w) as f64;
    assert!(
        (spectral - energy).abs() <= 1e-5 * energy,
        "{spectral} vs {energy}"
    );
}

#[test]
fn fused_multiply_paths_agree_on_a_non_hermitian_spectrum() {
    let device = cpu();
    for (h, w) in [(16, 16), (64, 32), (256, 256)] {
        let x = uniform([2, 4, h, w], &device);
        let ore = uniform([2, 4, h, w / 2 + 1], &device);
        let oim = uniform([2, 4, h, w / 2 + 1], &device);
        let t = host(KernelPath::Tensor.spectral_multiply(x.clone(), ore.clone(), oim.clone()));
        let c = host(KernelPath::Cpu.spectral_multiply(x, ore, oim));
        assert!(rel_l2(&t, &c) <= 2e-5, "{h}x{w}: rel {}", rel_l2(&t, &c));
        assert!(max_abs(&t, &c) <= 1e-4, "{h}x{w}: max {}", max_abs(&t, &c));
    }
}

#[test]
fn gradient_of_the_composition_matches_finite_differences() {
    // L = Σ g ⊙ irfft2(rfft2(x) ⊙ OTF) is linear in x and in the OTF, so central differences
    // are exact up to rounding: compare a few coordinates of each gradient.
    let device = cpu().autodiff();
    let (h, w) = (16, 16);
    let x = uniform([1, 1, h, w], &device).require_grad();
    let ore = uniform([1, 1, h, w / 2 + 1], &device).require_grad();
    let oim = uniform([1, 1, h, w / 2 + 1], &device);
    let g = uniform([1, 1, h, w], &device);
    let loss =
        |x: Tensor<4>, ore: Tensor<4>| (spectral_multiply(x, ore, oim.clone()) * g.clone()).sum();
    let grads = loss(x.clone(), ore.clone()).backward();
    let gx = host(x.grad(&grads).expect("x grad"));
    let go = host(ore.grad(&grads).expect("otf grad"));
    let step = 1e-2f32;
    let bump = |t: &Tensor<4>, i: usize, d: f32| {
        let mut v = host(t.clone().detach());
        v[i] += d;
        Tensor::<4>::from_data(TensorData::new(v, t.dims()), &device)
    };
    for i in [0, 7, 100, 255] {
        let fd = (loss(bump(&x, i, step), ore.clone()).into_scalar::<f32>()
            - loss(bump(&x, i, -step), ore.clone()).into_scalar::<f32>())
            / (2.0 * step);
        assert!(
            (fd - gx[i]).abs() <= 1e-3 * (1.0 + gx[i].abs()),
            "x[{i}]: {fd} vs {}",
            gx[i]
        );
    }
    // Interior columns only: the DC and Nyquist columns' imaginary parts are dropped, but the
    // real parts of every column act.
    for i in [1, 20, 60, 143] {
        let fd = (loss(x.clone(), bump(&ore, i, step)).into_scalar::<f32>()
            - loss(x.clone(), bump(&ore, i, -step)).into_scalar::<f32>())
            / (2.0 * step);
        assert!(
            (fd - go[i]).abs() <= 1e-3 * (1.0 + go[i].abs()),
            "otf[{i}]: {fd} vs {}",
            go[i]
        );
    }
}

#[test]
fn parameter_count_matches_the_spec() {
    let fke = Fke::new(16, &FkeConfig::default(), &cpu());
    assert_eq!(fke.num_params(), 11_827);
    assert_eq!(FkeConfig::default().params(16), 11_827);
    let macs = FkeConfig::default().macs(16, 256, 256) as f64 / 1e9;
    assert!((macs - 0.37).abs() < 0.005, "{macs}");
}

#[test]
fn warm_started_fke_reproduces_the_backbone_ending() {
    let device = cpu();
    let ending = conv3x3(8, 3, 1, &device);
    let fke = Fke::new(8, &FkeConfig::default(), &device).warm_start(&ending);
    let f = uniform([2, 8, 32, 32], &device);
    let b = uniform([2, 3, 32, 32], &device);
    let out = fke.forward(f.clone(), b.clone()).image;
    let expected = ending.forward(f) + b;
    let err = max_abs(&host(out), &host(expected));
    assert!(err <= 1e-5, "{err}");
    // Its own parameters, not `ending`'s: the optimiser keys gradients and moments by id.
    assert_ne!(fke.pattern.weight.id, ending.weight.id);
    let bias_ids = |c: &burn::nn::conv::Conv2d| c.bias.as_ref().map(|b| b.id);
    assert!(bias_ids(&ending).is_some());
    assert_ne!(bias_ids(&fke.pattern), bias_ids(&ending));
}

#[test]
fn fke_paths_agree_on_a_trained_looking_module() {
    // Random (non-zero) gates in the kernel network so the OTF path matters.
    let device = cpu();
    let mut fke = Fke::new(8, &FkeConfig::default(), &device);
    for block in &mut fke.kernel_net {
        block.beta = block
            .beta
            .clone()
            .map(|t| t.random_like(Distribution::Normal(0.0, 0.5)));
        block.gamma = block
            .gamma
            .clone()
            .map(|t| t.random_like(Distribution::Normal(0.0, 0.5)));
    }
    let f = uniform([1, 8, 64, 32], &device);
    let b = uniform([1, 3, 64, 32], &device);
    let t = host(fke.forward(f.clone(), b.clone()).image);
    fke.path = KernelPath::Cpu;
    let c = host(fke.forward(f, b).image);
    assert!(max_abs(&t, &c) <= 1e-4, "{}", max_abs(&t, &c));
}

#[test]
fn feature_kernels_recover_a_known_kernel_centred() {
    // The OTF of a 3×3 kernel placed around the origin (wrapping) gives back that kernel at
    // the centre of the window, and zeros around it.
    let (h, w) = (16, 16);
    let k = [[0.0f32, 0.1, 0.0], [0.2, 0.4, 0.1], [0.0, 0.2, 0.0]];
    let mut plane = vec![0.0f32; h * w];
    for (dy, row) in k.iter().enumerate() {
        for (dx, v) in row.iter().enumerate() {
            let y = (dy + h - 1) % h;
            let x = (dx + w - 1) % w;
            plane[y * w + x] = *v;
        }
    }
    let (re, im) = fft_cpu::rfft2(&plane, 1, h, w).expect("otf");
    let kernels = feature_kernels(&re, &im, 1, h, w, 5).expect("kernels");
    assert_eq!(kernels.len(), 1);
    let got = &kernels[0];
    assert_eq!(got.len(), 25);
    for (dy, row) in k.iter().enumerate() {
        for (dx, v) in row.iter().enumerate() {
            let g = got[(dy + 1) * 5 + dx + 1];
            assert!((g - v).abs() < 1e-6, "({dy},{dx}): {g} vs {v}");
        }
    }
    let border: f32 = (0..5).map(|i| got[i].abs() + got[20 + i].abs()).sum();
    assert!(border < 1e-6, "{border}");
}

#[test]
fn fft_len_is_a_power_of_two_of_at_least_16() {
    assert_eq!(fft_len(1), 16);
    assert_eq!(fft_len(16), 16);
    assert_eq!(fft_len(17), 32);
    assert_eq!(fft_len(256), 256);
    assert_eq!(fft_len(300), 512);
}
