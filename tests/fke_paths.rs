//! The FKE's three spectral paths on one wgpu device (lavapipe in CI): burn-signal's FFT on
//! wgpu, the project's WGSL FFT on the same device, and rustfft on the host (models.md §6.4).
//! Also the WGSL transforms against burn-signal's rfft/irfft (issue 4's second reference).
//!
//! Tolerances: f32 radix-2 FFTs agree to a relative RMS error of about ε·log2(N) ≈ 1e-6 at
//! these sizes; relative L2 ≤ 2e-5 and max abs ≤ 1e-4 (values in [−1, 1], OTF in [−1, 1])
//! leave a wide margin while a wrong index, twiddle or sign gives errors of order 1.

mod common;

use burn::tensor::{Distribution, Tensor, TensorData};
use deblur::nets::fke::{irfft2, rfft2, KernelPath};

fn host(t: Tensor<4>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec()
        .expect("f32 data")
}

fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    (num / den).sqrt()
}

#[test]
fn spectral_multiply_agrees_on_all_three_paths() {
    let Some(device) = common::wgpu_device("fke_paths") else {
        return;
    };
    assert!(
        deblur::gpu::fft::shared().is_some(),
        "the WGSL FFT must find burn's registered wgpu device"
    );
    for (n, c, h, w) in [(1, 4, 16, 16), (1, 3, 64, 32), (1, 2, 256, 256)] {
        let uni = |shape| Tensor::<4>::random(shape, Distribution::Uniform(-1.0, 1.0), &device);
        let x = uni([n, c, h, w]);
        let ore = uni([n, c, h, w / 2 + 1]);
        let oim = uni([n, c, h, w / 2 + 1]);
        let run = |p: KernelPath| host(p.spectral_multiply(x.clone(), ore.clone(), oim.clone()));
        let reference = run(KernelPath::Cpu);
        for path in [KernelPath::Tensor, KernelPath::Wgsl] {
            let got = run(path);
            let rel = rel_l2(&got, &reference);
            let max = common::max_abs_diff(&got, &reference);
            eprintln!("{path:?} {n}x{c}x{h}x{w}: relative L2 {rel:.2e}, max abs {max:.2e}");
            assert!(
                rel <= 2e-5 && max <= 1e-4,
                "{path:?} {h}x{w}: {rel} / {max}"
            );
        }
    }
}

#[test]
fn wgsl_transforms_match_burn_signal() {
    let Some(device) = common::wgpu_device("fke_paths") else {
        return;
    };
    for (c, h, w) in [(3, 8, 8), (2, 32, 128), (1, 256, 256), (1, 1024, 1024)] {
        let x = Tensor::<4>::random([1, c, h, w], Distribution::Uniform(-1.0, 1.0), &device);
        let (bre, bim) = rfft2(x.clone());
        let (wre, wim) = KernelPath::Wgsl.rfft2(x.clone());
        let want: Vec<f32> = host(bre.clone())
            .into_iter()
            .chain(host(bim.clone()))
            .collect();
        let got: Vec<f32> = host(wre).into_iter().chain(host(wim)).collect();
        let rel = rel_l2(&got, &want);
        eprintln!("rfft2 {c}x{h}x{w}: WGSL vs burn-signal relative L2 {rel:.2e}");
        assert!(rel <= 1e-5, "rfft2 {h}x{w}: {rel}");
        // burn-signal's inverse of its own spectrum returns the input.
        let back = host(irfft2(bre, bim, w));
        let err = common::max_abs_diff(&back, &host(x));
        assert!(err <= 1e-4, "burn-signal round trip {h}x{w}: {err}");
    }
    // An all-ones spectrum on the WGSL path is the identity.
    let x = Tensor::<4>::from_data(
        TensorData::new(
            (0..64 * 64).map(|i| (i % 17) as f32 / 17.0).collect(),
            [1, 1, 64, 64],
        ),
        &device,
    );
    let ones = Tensor::<4>::ones([1, 1, 64, 33], &device);
    let y = host(KernelPath::Wgsl.spectral_multiply(x.clone(), ones.clone(), ones.zeros_like()));
    assert!(common::max_abs_diff(&y, &host(x)) <= 1e-5);
}

/// The WGSL FFT on burn's own buffers (no host round trip) gives the same numbers as its
/// host-memory entry points, with the workgroup-memory kernels and with the global-memory
/// passes alike (a shader limited to 64 bytes of workgroup memory runs everything globally).
#[test]
fn wgsl_fft_on_burn_buffers_matches_its_host_path() {
    use deblur::gpu::fft::FftShader;
    let Some(device) = common::wgpu_device("fke_paths") else {
        return;
    };
    let (wd, wq) = deblur::engine::device::registered_wgpu().expect("registered above");
    let global = FftShader::with_workgroup_bytes(&wd, &wq, 64);
    let local = deblur::gpu::fft::shared().expect("shared shader");
    for shader in [local, &global] {
        for (c, h, w) in [(3, 16, 16), (2, 64, 32)] {
            let uni = |shape| Tensor::<4>::random(shape, Distribution::Uniform(-1.0, 1.0), &device);
            let x = uni([1, c, h, w]);
            let ore = uni([1, c, h, w / 2 + 1]);
            let oim = uni([1, c, h, w / 2 + 1]);
            let (hx, hre, him) = (host(x.clone()), host(ore.clone()), host(oim.clone()));
            let want = shader
                .spectral_multiply(&hx, &hre, &him, c, h, w)
                .expect("host path");
            let got = shader
                .spectral_multiply_tensor(x.clone(), ore, oim)
                .expect("burn buffers");
            // Further burn ops on the result see the shader's output.
            let got = host(got * 2.0);
            let want2: Vec<f32> = want.iter().map(|v| v * 2.0).collect();
            assert!(common::max_abs_diff(&got, &want2) <= 1e-5, "{c}x{h}x{w}");
            let (wre, wim) = shader.rfft2(&hx, c, h, w).expect("host rfft2");
            let (tre, tim) = shader.rfft2_tensor(x).expect("burn buffers rfft2");
            assert!(common::max_abs_diff(&host(tre), &wre) <= 1e-5);
            assert!(common::max_abs_diff(&host(tim), &wim) <= 1e-5);
        }
    }
    // A CPU tensor is refused with a reason.
    let cpu = burn::tensor::Device::flex();
    let x = Tensor::<4>::zeros([1, 1, 16, 16], &cpu);
    assert!(local.rfft2_tensor(x).is_err());
}
