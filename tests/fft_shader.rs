//! WGSL FFT against the rustfft reference (lavapipe in CI), models.md §1.2 conventions.
//!
//! Tolerances: a radix-2 FFT in f32 has a relative RMS error of about ε·log2(N) (ε = 6e-8),
//! ~1e-6 for the largest sizes here, so relative L2 ≤ 1e-5 for spectra leaves a tenfold margin
//! while catching any wrong twiddle, index or sign (those give errors of order 1). Max-abs
//! bounds are taken relative to the data's scale (max |value|), as an error of a transform
//! grows with the magnitude of what it transforms.

mod common;

use std::sync::OnceLock;

use deblur::engine::{select_device, DeviceChoice};
use deblur::gpu::fft::FftShader;
use deblur::gpu::fft_cpu;

/// The device and queue, once per test binary; None without an adapter (see common).
fn handles() -> Option<(
    burn::tensor::wgpu::wgpu::Device,
    burn::tensor::wgpu::wgpu::Queue,
)> {
    common::wgpu_device("fft_shader")?;
    let dev = select_device(DeviceChoice::Gpu).expect("adapter found above");
    Some(dev.wgpu.expect("a wgpu device carries its handles"))
}

/// The shader with the adapter's full workgroup memory, compiled once per test binary.
fn shader() -> Option<&'static FftShader> {
    static SHADER: OnceLock<Option<FftShader>> = OnceLock::new();
    SHADER
        .get_or_init(|| {
            let (device, queue) = handles()?;
            let limit = device.limits().max_compute_workgroup_storage_size;
            let s = FftShader::new(&device, &queue);
            eprintln!(
                "workgroup memory limit {limit} bytes: transforms up to {} points local",
                s.local_len()
            );
            Some(s)
        })
        .as_ref()
}

/// Deterministic pseudo-random values, uniform in [−1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn scale(v: &[f32]) -> f32 {
    v.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

/// ‖a − b‖₂ / ‖b‖₂ in f64.
fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        num += (x as f64 - y as f64).powi(2);
        den += (y as f64).powi(2);
    }
    (num / den).sqrt()
}

fn spec_len(planes: usize, h: usize, w: usize) -> usize {
    planes * h * (w / 2 + 1)
}

/// (planes, h, w): few planes for the big sizes to keep lavapipe fast.
const FORWARD_SIZES: [(usize, usize, usize); 5] = [
    (3, 16, 16),
    (2, 256, 256),
    (1, 512, 512),
    (1, 256, 512),
    (1, 512, 256),
];

#[test]
fn forward_spectra_match_rustfft() {
    let Some(gpu) = shader() else { return };
    for (i, &(planes, h, w)) in FORWARD_SIZES.iter().enumerate() {
        let x = values(planes * h * w, 100 + i as u64);
        let (want_re, want_im) = fft_cpu::rfft2(&x, planes, h, w).unwrap();
        let (re, im) = gpu.rfft2(&x, planes, h, w).expect("rfft2");
        let got: Vec<f32> = re.iter().chain(&im).copied().collect();
        let want: Vec<f32> = want_re.iter().chain(&want_im).copied().collect();
        let err = rel_l2(&got, &want);
        eprintln!("rfft2 {planes}x{h}x{w}: relative L2 {err:.2e}");
        assert!(err <= 1e-5, "rfft2 {planes}x{h}x{w}: relative L2 {err}");
    }
}

/// Square and rectangular powers of two from 8 to 1024.
const FILTER_SIZES: [(usize, usize, usize); 14] = [
    (4, 8, 8),
    (3, 16, 16),
    (3, 32, 32),
    (2, 64, 64),
    (2, 128, 128),
    (1, 256, 256),
    (1, 512, 512),
    (1, 1024, 1024),
    (2, 8, 64),
    (2, 128, 16),
    (1, 32, 1024),
    (1, 1024, 64),
    // The largest side, on thin images.
    (1, 4096, 16),
    (1, 16, 4096),
];

#[test]
fn fused_spectral_multiply_with_a_non_hermitian_otf_matches_the_reference() {
    let Some(gpu) = shader() else { return };
    for (i, &(planes, h, w)) in FILTER_SIZES.iter().enumerate() {
        let x = values(planes * h * w, 200 + i as u64);
        // Random complex values everywhere, so neither the OTF nor the product is Hermitian
        // and the DC/Nyquist convention matters.
        let n = spec_len(planes, h, w);
        let (ore, oim) = (values(n, 300 + i as u64), values(n, 400 + i as u64));
        let want = fft_cpu::spectral_multiply(&x, &ore, &oim, planes, h, w).unwrap();
        let got = gpu
            .spectral_multiply(&x, &ore, &oim, planes, h, w)
            .expect("spectral_multiply");
        let l2 = rel_l2(&got, &want);
        let max = common::max_abs_diff(&got, &want);
        let s = scale(&want);
        eprintln!("spectral_multiply {planes}x{h}x{w}: max abs {max:.2e} (scale {s:.2}), relative L2 {l2:.2e}");
        assert!(
            max <= 1e-3 * s,
            "{planes}x{h}x{w}: max abs {max} vs scale {s}"
        );
        assert!(l2 <= 2e-5, "{planes}x{h}x{w}: relative L2 {l2}");
        // Absolute: outputs are O(1) (|x|, |OTF| ≤ 1; the product's RMS ≈ RMS of x).
        assert!(max <= 1e-4, "{planes}x{h}x{w}: max abs {max}");
    }
}

#[test]
fn round_trip_and_all_ones_otf_return_the_input() {
    let Some(gpu) = shader() else { return };
    for (i, &(planes, h, w)) in [(4, 8, 8), (2, 64, 32), (1, 512, 512), (1, 1024, 256)]
        .iter()
        .enumerate()
    {
        let x = values(planes * h * w, 500 + i as u64);
        // Inputs are in [−1, 1]; ~2·log2(HW) f32 roundings of O(1) values stay far below 1e-5.
        let (re, im) = gpu.rfft2(&x, planes, h, w).expect("rfft2");
        let back = gpu.irfft2(&re, &im, planes, h, w).expect("irfft2");
        let err = common::max_abs_diff(&back, &x);
        eprintln!("round trip {planes}x{h}x{w}: max abs {err:.2e}");
        assert!(err <= 1e-5, "round trip {planes}x{h}x{w}: {err}");

        let n = spec_len(planes, h, w);
        let same = gpu
            .spectral_multiply(&x, &vec![1.0; n], &vec![0.0; n], planes, h, w)
            .expect("spectral_multiply");
        let err = common::max_abs_diff(&same, &x);
        eprintln!("all-ones OTF {planes}x{h}x{w}: max abs {err:.2e}");
        assert!(err <= 1e-5, "all-ones OTF {planes}x{h}x{w}: {err}");
    }
}

#[test]
fn inverse_ignores_imaginary_dc_and_nyquist_columns_like_the_reference() {
    let Some(gpu) = shader() else { return };
    let (planes, h, w) = (2, 32, 16);
    let n = spec_len(planes, h, w);
    let (re, im) = (values(n, 600), values(n, 601));
    let want = fft_cpu::irfft2(&re, &im, planes, h, w).unwrap();
    let got = gpu.irfft2(&re, &im, planes, h, w).expect("irfft2");
    let err = common::max_abs_diff(&got, &want);
    // Random spectra of magnitude ≤ 1 give outputs of order 1/sqrt(HW); bound relative to that.
    assert!(
        err <= 1e-5 * scale(&want),
        "irfft2 of a random spectrum: {err}"
    );
}

/// Forces the global-memory Stockham path (used when a row or column does not fit the
/// adapter's workgroup memory) by capping the workgroup memory: 16 KiB (WebGPU's default
/// limit) sends only 4096-point columns global, 1 KiB everything past 128 points, 0 all.
#[test]
fn global_memory_path_matches_the_reference() {
    let Some((device, queue)) = handles() else {
        return;
    };
    for bytes in [16_384u32, 1024, 0] {
        let gpu = FftShader::with_workgroup_bytes(&device, &queue, bytes);
        for (i, &(planes, h, w)) in [
            (2, 8, 16),
            (1, 512, 128),
            (1, 64, 1024),
            (1, 256, 512),
            (1, 4096, 8),
            (1, 8, 4096),
        ]
        .iter()
        .enumerate()
        {
            let x = values(planes * h * w, 700 + i as u64);
            let (want_re, want_im) = fft_cpu::rfft2(&x, planes, h, w).unwrap();
            let (re, im) = gpu.rfft2(&x, planes, h, w).expect("rfft2");
            let err = rel_l2(&re, &want_re).max(rel_l2(&im, &want_im));
            assert!(err <= 1e-5, "{bytes} B, rfft2 {planes}x{h}x{w}: {err}");

            let back = gpu.irfft2(&re, &im, planes, h, w).expect("irfft2");
            let rt = common::max_abs_diff(&back, &x);
            assert!(rt <= 1e-5, "{bytes} B, round trip {planes}x{h}x{w}: {rt}");

            let n = spec_len(planes, h, w);
            let (ore, oim) = (values(n, 800 + i as u64), values(n, 900 + i as u64));
            let want = fft_cpu::spectral_multiply(&x, &ore, &oim, planes, h, w).unwrap();
            let got = gpu
                .spectral_multiply(&x, &ore, &oim, planes, h, w)
                .expect("spectral_multiply");
            let l2 = rel_l2(&got, &want);
            let max = common::max_abs_diff(&got, &want);
            eprintln!(
                "global path ({bytes} B) {planes}x{h}x{w}: rfft2 L2 {err:.2e}, round trip {rt:.2e}, \
                 filter max abs {max:.2e} L2 {l2:.2e}"
            );
            assert!(
                l2 <= 2e-5 && max <= 1e-4,
                "{bytes} B, filter {planes}x{h}x{w}"
            );
        }
    }
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let Some(gpu) = shader() else { return };
    assert!(
        gpu.rfft2(&[0.0; 48 * 8], 1, 48, 8).is_err(),
        "not a power of two"
    );
    assert!(
        gpu.rfft2(&[0.0; 4 * 8], 1, 4, 8).is_err(),
        "below the minimum side"
    );
    assert!(gpu.rfft2(&[0.0; 63], 1, 8, 8).is_err(), "wrong length");
    let n = spec_len(1, 8, 8);
    assert!(gpu
        .irfft2(&vec![0.0; n], &vec![0.0; n - 1], 1, 8, 8)
        .is_err());
    assert!(gpu
        .spectral_multiply(&[0.0; 64], &vec![0.0; n], &vec![0.0; n + 1], 1, 8, 8)
        .is_err());
}
