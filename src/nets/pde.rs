//! The advection–diffusion PDE global layer (models.md §4), as burn tensor ops so autodiff
//! trains it. Leap-frog in time, central differences in space, DuFort–Frankel diffusion,
//! circular boundaries; `A = u·dt/dx` (Kag's convention, §4.1).

use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::blocks::{channel_param, conv3x3};
use super::kernel_path::{host, tensor, KernelPath};

/// Configuration of the PDE layers (the `[config.pde]` table of a card).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PdeConfig {
    pub n_layers: usize,
    /// `|A_x| + |A_y|` is clamped to this (CFL guard, §4.2).
    pub cfl_limit: f32,
    /// Initial per-channel scale of the coefficient maps.
    pub coef_scale_init: f32,
    /// Initial output gate γ. 0 (the design's default) makes the inserted layer the identity;
    /// but then the coefficients' gradients are proportional to γ and the layer hardly learns
    /// (session 11: |γ| ≈ 0.004 after 3,000 iterations, 0.000 dB).
    #[serde(default)]
    pub gamma_init: f32,
    /// Gate only what transport and diffusion do: `f + γ(H^K − g·f)` with the zero-coefficient
    /// gain `g = 1 + 2·dt·⌈K/2⌉` (§4.4), so that a layer with γ = 1 and small coefficients
    /// still starts near the identity. Off: `f + γ(H^K − f)` as §4.2 specifies.
    #[serde(default)]
    pub compensate_gain: bool,
}

impl Default for PdeConfig {
    fn default() -> Self {
        Self {
            n_layers: 1,
            cfl_limit: 0.9,
            coef_scale_init: 0.01,
            gamma_init: 0.0,
            compensate_gain: false,
        }
    }
}

/// `X[…, (i+1) mod h, j]`.
pub fn next_r(x: Tensor<4>) -> Tensor<4> {
    let h = x.dims()[2];
    Tensor::cat(vec![x.clone().narrow(2, 1, h - 1), x.narrow(2, 0, 1)], 2)
}

/// `X[…, (i−1) mod h, j]`.
pub fn prev_r(x: Tensor<4>) -> Tensor<4> {
    let h = x.dims()[2];
    Tensor::cat(
        vec![x.clone().narrow(2, h - 1, 1), x.narrow(2, 0, h - 1)],
        2,
    )
}

/// `X[…, i, (j+1) mod w]`.
pub fn next_c(x: Tensor<4>) -> Tensor<4> {
    let w = x.dims()[3];
    Tensor::cat(vec![x.clone().narrow(3, 1, w - 1), x.narrow(3, 0, 1)], 3)
}

/// `X[…, i, (j−1) mod w]`.
pub fn prev_c(x: Tensor<4>) -> Tensor<4> {
    let w = x.dims()[3];
    Tensor::cat(
        vec![x.clone().narrow(3, w - 1, 1), x.narrow(3, 0, w - 1)],
        3,
    )
}

/// `H^K = g·f` when every coefficient is zero: the leap-frog start `H^{−1} = H^0` makes odd
/// steps advance the source by `2·dt` (§4.4).
pub fn zero_coefficient_gain(k: usize, dt: f64) -> f64 {
    1.0 + 2.0 * dt * k.div_ceil(2) as f64
}

/// The seven per-element planes of the update (§4.6), computed once per forward.
#[derive(Clone, Debug)]
pub struct PdePlanes {
    pub w_m: Tensor<4>,
    pub w_c: Tensor<4>,
    pub w_rp: Tensor<4>,
    pub w_rm: Tensor<4>,
    pub w_cp: Tensor<4>,
    pub w_cm: Tensor<4>,
    /// `2·dt·f / L`; zero when there is no source.
    pub s: Tensor<4>,
}

/// Counts of the CFL guard, kept on the device until read (each read syncs a GPU).
#[derive(Clone, Debug)]
pub struct PdeStats {
    pub elements: u64,
    /// Elements whose `|A_x| + |A_y|` exceeded the limit (a 1-element tensor).
    pub clamped: Tensor<1>,
}

/// Builds the planes from the scaled velocities `A = u·dt`, `B = D·dt` (already ≥ 0) and an
/// optional source `f`, applying the CFL guard to A.
pub fn planes(
    ax: Tensor<4>,
    ay: Tensor<4>,
    bx: Tensor<4>,
    by: Tensor<4>,
    source: Option<Tensor<4>>,
    dt: f64,
    cfl: f32,
) -> (PdePlanes, PdeStats) {
    let elements = ax.dims().iter().product::<usize>() as u64;
    let s_abs = ax.clone().abs() + ay.clone().abs();
    let clamped = s_abs.clone().greater_elem(cfl).int().sum().float();
    // r = min(1, cfl / S): keeps the direction, differentiable almost everywhere.
    let r = (s_abs.clamp_min(1e-12).recip() * cfl).clamp_max(1.0);
    let ax = ax * r.clone();
    let ay = ay * r;
    let g = (next_r(ax.clone()) - prev_r(ax.clone())) + (next_c(ay.clone()) - prev_c(ay.clone()));
    let two_b = (bx.clone() + by.clone()) * 2.0;
    let inv_l = (two_b.clone() + 1.0).recip();
    let s = match source {
        Some(f) => f * inv_l.clone() * (2.0 * dt),
        None => ax.zeros_like(),
    };
    let planes = PdePlanes {
        w_m: (two_b.neg() + 1.0) * inv_l.clone(),
        w_c: g.neg() * inv_l.clone(),
        w_rp: (ax.clone().neg() + bx.clone() * 2.0) * inv_l.clone(),
        w_rm: (ax + bx * 2.0) * inv_l.clone(),
        w_cp: (ay.clone().neg() + by.clone() * 2.0) * inv_l.clone(),
        w_cm: (ay + by * 2.0) * inv_l,
        s,
    };
    (planes, PdeStats { elements, clamped })
}

/// Runs K leap-frog steps from `H^{−1} = H^0 = h0` and returns `H^K`.
pub fn integrate(h0: Tensor<4>, p: &PdePlanes, k: usize) -> Tensor<4> {
    let mut hm = h0.clone();
    let mut h = h0;
    for _ in 0..k {
        let hn = p.w_m.clone() * hm
            + p.w_c.clone() * h.clone()
            + p.w_rp.clone() * next_r(h.clone())
            + p.w_rm.clone() * prev_r(h.clone())
            + p.w_cp.clone() * next_c(h.clone())
            + p.w_cm.clone() * prev_c(h.clone())
            + p.s.clone();
        hm = h;
        h = hn;
    }
    h
}

/// One PDE global layer at the bottleneck. Parameter names follow §4.3; `45·C` parameters.
#[derive(Module, Debug)]
pub struct PdeLayer {
    pub u_conv: Conv2d,
    pub v_conv: Conv2d,
    pub dx_conv: Conv2d,
    pub dy_conv: Conv2d,
    pub u_scale: Param<Tensor<4>>,
    pub u_bias: Param<Tensor<4>>,
    pub v_scale: Param<Tensor<4>>,
    pub v_bias: Param<Tensor<4>>,
    pub dx_scale: Param<Tensor<4>>,
    pub dx_bias: Param<Tensor<4>>,
    pub dy_scale: Param<Tensor<4>>,
    pub dy_bias: Param<Tensor<4>>,
    /// Output gate (`PdeConfig::gamma_init`, 0 by default: the inserted layer is the identity).
    pub gamma: Param<Tensor<4>>,
    /// Whether the gate multiplies `H^K − g·f` instead of `H^K − f` (`PdeConfig`).
    #[module(skip)]
    pub compensate_gain: bool,
    /// Where the iterations run (not a parameter; set per device by the engine).
    #[module(skip)]
    pub path: KernelPath,
}

fn dw3x3_no_bias(c: usize, device: &Device) -> Conv2d {
    let mut conv = conv3x3(c, c, c, device);
    conv.bias = None;
    conv
}

impl PdeLayer {
    pub fn new(c: usize, cfg: &PdeConfig, device: &Device) -> Self {
        let scale = || channel_param(c, cfg.coef_scale_init, device);
        let zero = || channel_param(c, 0.0, device);
        Self {
            u_conv: dw3x3_no_bias(c, device),
            v_conv: dw3x3_no_bias(c, device),
            dx_conv: dw3x3_no_bias(c, device),
            dy_conv: dw3x3_no_bias(c, device),
            u_scale: scale(),
            u_bias: zero(),
            v_scale: scale(),
            v_bias: zero(),
            dx_scale: scale(),
            dx_bias: zero(),
            dy_scale: scale(),
            dy_bias: zero(),
            gamma: channel_param(c, cfg.gamma_init, device),
            compensate_gain: cfg.compensate_gain,
            path: KernelPath::Tensor,
        }
    }

    /// The scaled coefficients `A_x = u·dt`, `A_y = v·dt`, `B_x = D_x·dt`, `B_y = D_y·dt`
    /// (§4.6 `coefficients`), before the CFL guard.
    fn coefficients(&self, f: &Tensor<4>, dt: f64) -> [Tensor<4>; 4] {
        let affine = |conv: &Conv2d, s: &Param<Tensor<4>>, b: &Param<Tensor<4>>| {
            conv.forward(f.clone()) * s.val() + b.val()
        };
        let u = affine(&self.u_conv, &self.u_scale, &self.u_bias);
        let v = affine(&self.v_conv, &self.v_scale, &self.v_bias);
        let dxx =
            burn::tensor::activation::relu(affine(&self.dx_conv, &self.dx_scale, &self.dx_bias));
        let dyy =
            burn::tensor::activation::relu(affine(&self.dy_conv, &self.dy_scale, &self.dy_bias));
        [u * dt, v * dt, dxx * dt, dyy * dt]
    }

    /// The coefficient planes for input `f` at time step `dt`.
    pub fn planes(&self, f: Tensor<4>, dt: f64, cfl: f32) -> (PdePlanes, PdeStats) {
        let [ax, ay, bx, by] = self.coefficients(&f, dt);
        planes(ax, ay, bx, by, Some(f), dt, cfl)
    }

    /// `f + γ ⊙ (H^K − f)` with the source equal to the input (§4.2), or `f + γ ⊙ (H^K − g·f)`
    /// with [`compensate_gain`](Self::compensate_gain); integrated where [`path`](Self::path)
    /// says; a failing shader falls back to the tensor ops.
    pub fn forward(&self, f: Tensor<4>, k: usize, dt: f64, cfl: f32) -> (Tensor<4>, PdeStats) {
        let h = match self.path {
            KernelPath::Tensor => None,
            path => self.integrate_outside(&f, k, dt, cfl, path),
        };
        let (h, stats) = h.unwrap_or_else(|| {
            let (p, stats) = self.planes(f.clone(), dt, cfl);
            (integrate(f.clone(), &p, k), stats)
        });
        let gain = if self.compensate_gain {
            zero_coefficient_gain(k, dt)
        } else {
            1.0
        };
        (f.clone() + (h - f * gain) * self.gamma.val(), stats)
    }

    /// `H^K` by the CPU reference or the WGSL shader (on burn's buffers, else through host
    /// memory), `None` if the shader is unavailable or fails (then the caller uses the tensor
    /// ops).
    fn integrate_outside(
        &self,
        f: &Tensor<4>,
        k: usize,
        dt: f64,
        cfl: f32,
        path: KernelPath,
    ) -> Option<(Tensor<4>, PdeStats)> {
        let dims = f.dims();
        let [_, _, h, w] = dims;
        let device = f.device();
        if path == KernelPath::Wgsl {
            // On burn's own buffers when `f` lives on burn's wgpu device (no host round trip).
            let coef = Tensor::cat(self.coefficients(f, dt).to_vec(), 0);
            match crate::gpu::pde_burn::integrate_on_device(coef, f.clone(), dt as f32, cfl, k) {
                Ok((hk, clamped)) => {
                    let elements = dims.iter().product::<usize>() as u64;
                    return Some((hk, PdeStats { elements, clamped }));
                }
                Err(e) => tracing::debug!("PDE on burn's buffers unavailable ({e})"),
            }
        }
        let coef: Vec<f32> = self
            .coefficients(f, dt)
            .into_iter()
            .flat_map(host)
            .collect();
        let fh = host(f.clone());
        let (hk, clamped) = match path {
            KernelPath::Wgsl => {
                match crate::gpu::pde::shared()?.layer(&coef, &fh, h, w, dt as f32, cfl, k) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!("PDE shader failed ({e}); using burn's tensor ops");
                        return None;
                    }
                }
            }
            _ => {
                let n = fh.len();
                let part = |i: usize| &coef[i * n..(i + 1) * n];
                let (p, clamped) = crate::gpu::pde_cpu::planes(
                    part(0),
                    part(1),
                    part(2),
                    part(3),
                    Some(&fh),
                    h,
                    w,
                    dt as f32,
                    cfl,
                );
                (crate::gpu::pde_cpu::integrate(&fh, &p, h, w, k), clamped)
            }
        };
        let stats = PdeStats {
            elements: fh.len() as u64,
            clamped: Tensor::from_data(TensorData::new(vec![clamped as f32], [1]), &device),
        };
        Some((tensor(hk, dims, &device), stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    fn dev() -> Device {
        Device::flex()
    }

    fn vec4(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec().expect("f32")
    }

    fn constant(v: f32, dims: [usize; 4]) -> Tensor<4> {
        Tensor::ones(dims, &dev()) * v
    }

    /// A Gaussian bump of width 3 at (r0, c0) on an h×w plane.
    fn bump(h: usize, w: usize, r0: f32, c0: f32) -> Tensor<4> {
        let data: Vec<f32> = (0..h * w)
            .map(|i| {
                let (r, c) = ((i / w) as f32, (i % w) as f32);
                (-((r - r0).powi(2) + (c - c0).powi(2)) / 18.0).exp()
            })
            .collect();
        Tensor::from_data(TensorData::new(data, [1, 1, h, w]), &dev())
    }

    fn row_centroid(v: &[f32], w: usize) -> f64 {
        let mass: f64 = v.iter().map(|&x| f64::from(x)).sum();
        v.iter()
            .enumerate()
            .map(|(i, &x)| (i / w) as f64 * f64::from(x))
            .sum::<f64>()
            / mass
    }

    #[test]
    fn neighbours_wrap_around() {
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![0.0f32, 1.0, 2.0], [1, 1, 3, 1]),
            &dev(),
        );
        assert_eq!(vec4(next_r(x.clone())), vec![1.0, 2.0, 0.0]);
        assert_eq!(vec4(prev_r(x)), vec![2.0, 0.0, 1.0]);
        let y = Tensor::<4>::from_data(
            TensorData::new(vec![0.0f32, 1.0, 2.0], [1, 1, 1, 3]),
            &dev(),
        );
        assert_eq!(vec4(next_c(y.clone())), vec![1.0, 2.0, 0.0]);
        assert_eq!(vec4(prev_c(y)), vec![2.0, 0.0, 1.0]);
    }

    /// With γ = 1 and zero coefficients the specified layer outputs `H^K = g·f` (3, 2.33 and
    /// 2.2 times its input), while the gain-compensated layer is the identity.
    #[test]
    fn gain_compensation_makes_an_open_gate_start_at_the_identity() {
        let f = Tensor::<4>::random([1, 4, 6, 5], Distribution::Normal(0.0, 1.0), &dev());
        for (k, dt, g) in [
            (1usize, 1.0f64, 3.0f32),
            (3, 1.0 / 3.0, 7.0 / 3.0),
            (5, 0.2, 2.2),
        ] {
            for compensate_gain in [false, true] {
                let cfg = PdeConfig {
                    coef_scale_init: 0.0,
                    gamma_init: 1.0,
                    compensate_gain,
                    ..PdeConfig::default()
                };
                let layer = PdeLayer::new(4, &cfg, &dev());
                assert_eq!(vec4(layer.gamma.val()), vec![1.0; 4]);
                let out = vec4(layer.forward(f.clone(), k, dt, 0.9).0);
                let expected = if compensate_gain { 1.0 } else { g };
                for (a, b) in out.iter().zip(vec4(f.clone())) {
                    assert!(
                        (a - expected * b).abs() < 1e-4,
                        "K={k}: {a} vs {expected}·{b}"
                    );
                }
            }
        }
    }

    #[test]
    fn zero_coefficients_give_the_known_gain() {
        for (k, dt) in [(1usize, 1.0f64), (3, 1.0 / 3.0), (5, 0.2)] {
            let f = Tensor::<4>::random([2, 3, 5, 7], Distribution::Normal(0.0, 1.0), &dev());
            let z = f.zeros_like();
            let (p, _) = planes(z.clone(), z.clone(), z.clone(), z, Some(f.clone()), dt, 0.9);
            let h = vec4(integrate(f.clone(), &p, k));
            let gain = 1.0 + 2.0 * dt * k.div_ceil(2) as f64;
            for (a, b) in h.iter().zip(vec4(f)) {
                assert!((f64::from(*a) - gain * f64::from(b)).abs() < 1e-5, "K={k}");
            }
        }
    }

    #[test]
    fn constant_velocity_transports_a_bump() {
        let dims = [1, 1, 64, 64];
        for (a, k) in [(0.2f32, 1usize), (0.2, 3), (0.2, 5), (-0.2, 5)] {
            let h0 = bump(64, 64, 32.0, 32.0);
            let z = constant(0.0, dims);
            let (p, _) = planes(constant(a, dims), z.clone(), z.clone(), z, None, 1.0, 0.9);
            let h = vec4(integrate(h0.clone(), &p, k));
            let before = vec4(h0);
            let shift = row_centroid(&h, 64) - row_centroid(&before, 64);
            let expected = 2.0 * f64::from(a) * k.div_ceil(2) as f64;
            assert!(
                (shift - expected).abs() < 1e-4,
                "A={a} K={k}: moved {shift}, expected {expected}"
            );
            let (m0, m1): (f64, f64) = (
                before.iter().map(|&x| f64::from(x)).sum(),
                h.iter().map(|&x| f64::from(x)).sum(),
            );
            assert!((m1 - m0).abs() < 1e-4 * m0, "mass {m0} -> {m1}");
        }
    }

    #[test]
    fn a_bump_at_the_top_reappears_at_the_bottom() {
        let dims = [1, 1, 32, 32];
        let h0 = bump(32, 32, 0.0, 16.0);
        let z = constant(0.0, dims);
        let (p, _) = planes(
            constant(-0.9, dims),
            z.clone(),
            z.clone(),
            z,
            None,
            1.0,
            0.9,
        );
        let h = vec4(integrate(h0, &p, 5));
        // Row 31 (just above row 0, circularly) gained mass it did not have before.
        let bottom: f32 = h[31 * 32..].iter().sum();
        let bottom0: f32 = vec4(bump(32, 32, 0.0, 16.0))[31 * 32..].iter().sum();
        assert!(bottom > bottom0 * 1.5, "{bottom} vs {bottom0}");
    }

    #[test]
    fn pure_diffusion_conserves_mass_and_flattens_the_peak() {
        let dims = [1, 1, 48, 48];
        let h0 = bump(48, 48, 24.0, 24.0);
        let z = constant(0.0, dims);
        let (p, _) = planes(
            z.clone(),
            z,
            constant(0.14, dims),
            constant(0.06, dims),
            None,
            1.0,
            0.9,
        );
        let m0: f64 = vec4(h0.clone()).iter().map(|&x| f64::from(x)).sum();
        let mut last_peak = f32::INFINITY;
        let mut last_var = f64::INFINITY;
        for k in 1..=6 {
            let h = vec4(integrate(h0.clone(), &p, k));
            let m: f64 = h.iter().map(|&x| f64::from(x)).sum();
            assert!((m - m0).abs() < 1e-5 * m0, "K={k}: mass {m0} -> {m}");
            let peak = h.iter().cloned().fold(f32::MIN, f32::max);
            assert!(
                peak < last_peak,
                "K={k}: peak {peak} did not decrease from {last_peak}"
            );
            let mean = m / h.len() as f64;
            let var = h
                .iter()
                .map(|&x| (f64::from(x) - mean).powi(2))
                .sum::<f64>();
            assert!(var < last_var, "K={k}: variance did not decrease");
            (last_peak, last_var) = (peak, var);
        }
    }

    #[test]
    fn cfl_guard_clamps_and_counts() {
        let dims = [2, 3, 6, 5];
        let f = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &dev());
        let z = constant(0.0, dims);
        let (p, stats) = planes(
            constant(1.0, dims),
            constant(-0.5, dims),
            z.clone(),
            z,
            Some(f.clone()),
            1.0,
            0.9,
        );
        assert_eq!(stats.elements, 180);
        assert_eq!(stats.clamped.into_scalar::<f32>(), 180.0);
        // Effective A: w_rm − w_rp = 2A_x (L = 1 here), so |A_x| + |A_y| = 0.9.
        let ax = vec4((p.w_rm.clone() - p.w_rp.clone()) / 2.0);
        let ay = vec4((p.w_cm.clone() - p.w_cp.clone()) / 2.0);
        for (x, y) in ax.iter().zip(&ay) {
            assert!((x.abs() + y.abs() - 0.9).abs() < 1e-6);
        }
        assert!(vec4(integrate(f, &p, 5)).iter().all(|v| v.is_finite()));
    }

    #[test]
    fn more_steps_approach_the_same_state() {
        let c = 4;
        let mut layer = PdeLayer::new(c, &PdeConfig::default(), &dev());
        // Coefficients of order one so that the PDE really moves things.
        for s in [
            &mut layer.u_scale,
            &mut layer.v_scale,
            &mut layer.dx_scale,
            &mut layer.dy_scale,
        ] {
            *s = channel_param(c, 0.5, &dev());
        }
        let f = Tensor::<4>::random([1, c, 12, 10], Distribution::Normal(0.0, 1.0), &dev());
        let state = |k: usize| {
            let (p, _) = layer.planes(f.clone(), 1.0 / k as f64, 0.9);
            integrate(f.clone(), &p, k)
        };
        let dist = |a: Tensor<4>, b: Tensor<4>| (a - b).abs().max().into_scalar::<f32>();
        let d1 = dist(state(1), state(3));
        let d2 = dist(state(9), state(17));
        let d3 = dist(state(33), state(65));
        assert!(
            d2 < d1 && d3 < d2,
            "differences {d1} {d2} {d3} do not shrink"
        );
        assert!(
            d3 < 0.1 * d1,
            "K = 33 vs 65 still differ by {d3} (K = 1 vs 3: {d1})"
        );
    }

    #[test]
    fn fresh_layer_is_the_identity_and_has_45c_parameters() {
        let layer = PdeLayer::new(16, &PdeConfig::default(), &dev());
        assert_eq!(layer.num_params(), 45 * 16);
        let f = Tensor::<4>::random([1, 16, 8, 8], Distribution::Normal(0.0, 1.0), &dev());
        let (out, _) = layer.forward(f.clone(), 5, 0.2, 0.9);
        assert_eq!(vec4(out), vec4(f));
    }
}
