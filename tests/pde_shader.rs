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
