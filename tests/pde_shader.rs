//! WGSL PDE passes against the plain-Rust reference (lavapipe in CI), models.md §4.8:
//! max abs difference ≤ 1e-5·(1 + max|H|); the CFL clamp is applied and counted in the shader.

mod common;

use deblur::engine::{select_device, DeviceChoice};
use deblur::gpu::pde::PdeShader;
use deblur::gpu::pde_cpu;

fn shader() -> Option<PdeShader> {
    common::wgpu_device("pde_shader")?;
    let dev = select_device(DeviceChoice::Gpu).expect("adapter found above");
    let (device, queue) = dev.wgpu.expect("a wgpu device carries its handles");
    Some(PdeShader::new(&device, &queue))
}

/// Deterministic pseudo-random values in [lo, hi).
fn values(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            lo + (hi - lo) * ((x >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

#[test]
fn shader_matches_the_cpu_reference() {
    let Some(gpu) = shader() else { return };
    for (planes, h, w) in [(2 * 256, 16, 16), (2 * 3, 7, 5), (2 * 4, 33, 20)] {
        let n = planes * h * w;
        let (ax, ay) = (values(n, 1, -0.8, 0.8), values(n, 2, -0.8, 0.8));
        let (bx, by) = (values(n, 3, 0.0, 0.3), values(n, 4, 0.0, 0.3));
        let f = values(n, 5, -2.0, 2.0);
        for k in [1usize, 3, 5] {
            let dt = 1.0 / k as f32;
            let (want_p, want_clamped) =
                pde_cpu::planes(&ax, &ay, &bx, &by, Some(&f), h, w, dt, 0.9);
            let (got_p, got_clamped) = gpu
                .weights(&ax, &ay, &bx, &by, &f, h, w, dt, 0.9)
                .expect("weights pass");
            assert!(want_clamped > 0, "the test must exercise the clamp");
            assert_eq!(got_clamped, want_clamped, "CFL clamp count");
            let plane_err = common::max_abs_diff(&got_p.w_c, &want_p.w_c)
                .max(common::max_abs_diff(&got_p.s, &want_p.s));
            assert!(plane_err < 1e-5, "weight planes differ by {plane_err}");
            let want = pde_cpu::integrate(&f, &want_p, h, w, k);
            let got = gpu.integrate(&f, &want_p, h, w, k).expect("step passes");
            let scale = 1.0 + want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let err = common::max_abs_diff(&got, &want);
            assert!(
                err <= 1e-5 * scale,
                "{planes}x{h}x{w} K={k}: error {err} (scale {scale})"
            );
        }
    }
}

/// The PDE layer on one wgpu device with its three integration paths: burn's tensor ops (the
/// training path), the WGSL shader (GPU inference) and the CPU reference (CPU inference).
/// Coefficient scales are raised from their 0.01 initialisation so that the velocities reach
/// the CFL limit and the clamp is exercised; γ is non-zero so the layer is not the identity.
#[test]
fn layer_paths_agree_with_burn_tensor_ops() {
    use burn::module::Param;
    use burn::tensor::{Distribution, Tensor};
    use deblur::nets::kernel_path::KernelPath;
    use deblur::nets::pde::{PdeConfig, PdeLayer};

    let Some(device) = common::wgpu_device("pde_shader") else {
        return;
    };
    assert!(
        deblur::gpu::pde::shared().is_some(),
        "the PDE shader must find burn's registered wgpu device"
    );
    let host = |t: Tensor<4>| -> Vec<f32> { t.into_data().try_to_vec().expect("f32") };
    let mut clamped_anywhere = 0.0f32;
    for (c, h, w) in [(256, 16, 16), (3, 7, 5), (8, 33, 20)] {
        let cfg = PdeConfig {
            coef_scale_init: 2.0,
            ..PdeConfig::default()
        };
        let mut layer = PdeLayer::new(c, &cfg, &device);
        let normal = |p: &Param<Tensor<4>>, s: f64| {
            p.clone()
                .map(|t| t.random_like(Distribution::Normal(0.0, s)))
        };
        layer.gamma = normal(&layer.gamma, 1.0);
        layer.dx_bias = normal(&layer.dx_bias, 0.2);
        let f = Tensor::<4>::random([1, c, h, w], Distribution::Uniform(-1.0, 1.0), &device);
        for k in [1usize, 3, 5] {
            let dt = 1.0 / k as f64;
            layer.path = KernelPath::Tensor;
            let (want, want_stats) = layer.forward(f.clone(), k, dt, 0.9);
            let want = host(want);
            let want_clamped = want_stats.clamped.into_scalar::<f32>();
            clamped_anywhere += want_clamped;
            let scale = 1.0 + want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for path in [KernelPath::Wgsl, KernelPath::Cpu] {
                layer.path = path;
                let (got, stats) = layer.forward(f.clone(), k, dt, 0.9);
                let err = common::max_abs_diff(&host(got), &want) / scale;
                eprintln!("{path:?} C={c} {h}x{w} K={k}: max error {err:.2e} of 1 + max|H|");
                assert!(err <= 1e-4, "{path:?} C={c} {h}x{w} K={k}: {err}");
                let clamped = stats.clamped.into_scalar::<f32>();
                assert_eq!(clamped, want_clamped, "{path:?}: CFL clamp count");
            }
        }
    }
    assert!(clamped_anywhere > 0.0, "the cases must reach the CFL limit");
}

/// The template-kernel path runs on burn's own buffers: its result equals the host-memory
/// shader path and the tensor ops, and the counter matches.
#[test]
fn on_device_integration_matches_the_reference() {
    use burn::tensor::{Distribution, Tensor};
    use deblur::gpu::pde_burn::integrate_on_device;

    let Some(device) = common::wgpu_device("pde_shader") else {
        return;
    };
    let (n, c, h, w) = (1, 5, 9, 13);
    let count = n * c * h * w;
    let ax = values(count, 11, -0.8, 0.8);
    let ay = values(count, 12, -0.8, 0.8);
    let bx = values(count, 13, 0.0, 0.3);
    let by = values(count, 14, 0.0, 0.3);
    let f = values(count, 15, -2.0, 2.0);
    let coef: Vec<f32> = [&ax, &ay, &bx, &by]
        .iter()
        .flat_map(|v| v.iter().copied())
        .collect();
    let t = |v: Vec<f32>, shape: [usize; 4]| {
        Tensor::<4>::from_data(burn::tensor::TensorData::new(v, shape), &device)
    };
    for k in [1usize, 3, 5] {
        let dt = 1.0 / k as f32;
        let (p, want_clamped) = pde_cpu::planes(&ax, &ay, &bx, &by, Some(&f), h, w, dt, 0.9);
        let want = pde_cpu::integrate(&f, &p, h, w, k);
        let (got, clamped) = integrate_on_device(
            t(coef.clone(), [4 * n, c, h, w]),
            t(f.clone(), [n, c, h, w]),
            dt,
            0.9,
            k,
        )
        .expect("burn's wgpu device takes template kernels");
        // The result is an ordinary burn tensor: further ops run on it.
        let got: Vec<f32> = (got * 1.0).into_data().try_to_vec().expect("f32");
        let scale = 1.0 + want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let err = common::max_abs_diff(&got, &want) / scale;
        eprintln!("on-device K={k}: max error {err:.2e} of 1 + max|H|");
        assert!(err <= 1e-5, "K={k}: {err}");
        assert_eq!(clamped.into_scalar::<f32>() as u64, want_clamped);
        assert!(want_clamped > 0, "the case must reach the CFL limit");
    }
    // A tensor on the CPU backend is refused with a reason, not a panic.
    let cpu = burn::tensor::Device::flex();
    let x = Tensor::<4>::random([1, 1, 4, 4], Distribution::Uniform(0.0, 1.0), &cpu);
    let err = integrate_on_device(x.clone().repeat_dim(0, 4), x, 0.2, 0.9, 5).expect_err("cpu");
    assert!(err.to_string().contains("wgpu"), "{err}");
}
