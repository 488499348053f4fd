//! Plain-Rust reference of the PDE layer's update (models.md §4.6): the parity reference of
//! the WGSL step shader and of the burn tensor path, and usable as a CPU inference path.
//!
//! Layout: every buffer is `planes × h × w` (planes = N·C), row-major, like NCHW.

use rayon::prelude::*;

/// The seven coefficient planes of §4.6, each `planes × h × w`.
#[derive(Clone, Debug, Default)]
pub struct CpuPlanes {
    pub w_m: Vec<f32>,
    pub w_c: Vec<f32>,
    pub w_rp: Vec<f32>,
    pub w_rm: Vec<f32>,
    pub w_cp: Vec<f32>,
    pub w_cm: Vec<f32>,
    pub s: Vec<f32>,
}

/// Builds the planes from `A = u·dt`, `B = D·dt` and an optional source `f`, applying the
/// CFL guard; returns the planes and the number of clamped elements.
#[allow(clippy::too_many_arguments)]
pub fn planes(
    ax: &[f32],
    ay: &[f32],
    bx: &[f32],
    by: &[f32],
    source: Option<&[f32]>,
    h: usize,
    w: usize,
    dt: f32,
    cfl: f32,
) -> (CpuPlanes, u64) {
    let n = ax.len();
    let mut ax = ax.to_vec();
    let mut ay = ay.to_vec();
    let mut clamped = 0u64;
    for i in 0..n {
        let s = ax[i].abs() + ay[i].abs();
        if s > cfl {
            clamped += 1;
        }
        let r = (cfl / s.max(1e-12)).min(1.0);
        ax[i] *= r;
        ay[i] *= r;
    }
    let mut p = CpuPlanes {
        w_m: vec![0.0; n],
        w_c: vec![0.0; n],
        w_rp: vec![0.0; n],
        w_rm: vec![0.0; n],
        w_cp: vec![0.0; n],
        w_cm: vec![0.0; n],
        s: vec![0.0; n],
    };
    let plane = h * w;
    for i in 0..n {
        let (base, r, c) = (i - i % plane, (i / w) % h, i % w);
        let at = |rr: usize, cc: usize| base + rr * w + cc;
        let g = (ax[at((r + 1) % h, c)] - ax[at((r + h - 1) % h, c)])
            + (ay[at(r, (c + 1) % w)] - ay[at(r, (c + w - 1) % w)]);
        let inv_l = 1.0 / (1.0 + 2.0 * bx[i] + 2.0 * by[i]);
        p.w_m[i] = (1.0 - 2.0 * bx[i] - 2.0 * by[i]) * inv_l;
        p.w_c[i] = -g * inv_l;
        p.w_rp[i] = (-ax[i] + 2.0 * bx[i]) * inv_l;
        p.w_rm[i] = (ax[i] + 2.0 * bx[i]) * inv_l;
        p.w_cp[i] = (-ay[i] + 2.0 * by[i]) * inv_l;
        p.w_cm[i] = (ay[i] + 2.0 * by[i]) * inv_l;
        p.s[i] = source.map_or(0.0, |f| 2.0 * dt * f[i] * inv_l);
    }
    (p, clamped)
}

/// One step: `Hn` from `Hm` (= H^{k−1}) and `H` (= H^k), rayon over planes.
pub fn step(hm: &[f32], h_cur: &[f32], p: &CpuPlanes, h: usize, w: usize, out: &mut [f32]) {
    let plane = h * w;
    out.par_chunks_mut(plane).enumerate().for_each(|(pi, dst)| {
        let base = pi * plane;
        let hk = &h_cur[base..base + plane];
        for r in 0..h {
            let (rn, rp) = ((r + 1) % h, (r + h - 1) % h);
            for c in 0..w {
                let (cn, cp) = ((c + 1) % w, (c + w - 1) % w);
                let i = base + r * w + c;
                dst[r * w + c] = p.w_m[i] * hm[i]
                    + p.w_c[i] * hk[r * w + c]
                    + p.w_rp[i] * hk[rn * w + c]
                    + p.w_rm[i] * hk[rp * w + c]
                    + p.w_cp[i] * hk[r * w + cn]
                    + p.w_cm[i] * hk[r * w + cp]
                    + p.s[i];
            }
        }
    });
}

/// K steps from `H^{−1} = H^0 = h0`; returns `H^K`.
pub fn integrate(h0: &[f32], p: &CpuPlanes, h: usize, w: usize, k: usize) -> Vec<f32> {
    let mut hm = h0.to_vec();
    let mut cur = h0.to_vec();
    let mut next = vec![0.0f32; h0.len()];
    for _ in 0..k {
        step(&hm, &cur, p, h, w, &mut next);
        // Rotate: H^{k-1} <- H^k <- H^{k+1}.
        std::mem::swap(&mut hm, &mut cur);
        std::mem::swap(&mut cur, &mut next);
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::pde;
    use burn::tensor::{Device, Distribution, Tensor, TensorData};

    fn to_vec(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec().expect("f32")
    }

    /// Tensor path vs this reference on random coefficients that include clamped elements
    /// (models.md §4.8: max abs diff ≤ 1e-5·(1 + max|H|)).
    #[test]
    fn matches_the_tensor_path() {
        let device = Device::flex();
        for (dims, k) in [
            ([2usize, 256, 16, 16], 5usize),
            ([2, 3, 7, 5], 1),
            ([2, 3, 7, 5], 3),
            ([1, 4, 9, 12], 5),
        ] {
            let rand = |lo: f64, hi: f64| {
                Tensor::<4>::random(dims, Distribution::Uniform(lo, hi), &device)
            };
            let (ax, ay, bx, by) = (
                rand(-0.8, 0.8),
                rand(-0.8, 0.8),
                rand(0.0, 0.3),
                rand(0.0, 0.3),
            );
            let f = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &device);
            let dt = 1.0 / k as f64;
            let (tp, stats) = pde::planes(
                ax.clone(),
                ay.clone(),
                bx.clone(),
                by.clone(),
                Some(f.clone()),
                dt,
                0.9,
            );
            let want = to_vec(pde::integrate(f.clone(), &tp, k));
            let (h, w) = (dims[2], dims[3]);
            let (cp, clamped) = planes(
                &to_vec(ax),
                &to_vec(ay),
                &to_vec(bx),
                &to_vec(by),
                Some(&to_vec(f.clone())),
                h,
                w,
                dt as f32,
                0.9,
            );
            assert!(clamped > 0, "the test must exercise the CFL clamp");
            assert_eq!(clamped as f32, stats.clamped.into_scalar::<f32>());
            let got = integrate(&to_vec(f), &cp, h, w, k);
            let scale = 1.0 + want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let err = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                err <= 1e-5 * scale,
                "{dims:?} K={k}: error {err} (scale {scale})"
            );
        }
    }

    /// Autodiff through the tensor path agrees with finite differences of this reference
    /// (models.md §4.8: relative error ≤ 1e-3 at 4×4×2).
    #[test]
    fn tensor_gradient_matches_finite_differences() {
        let device = Device::flex().autodiff();
        let dims = [1usize, 2, 4, 4];
        let n: usize = dims.iter().product();
        let data: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 17) as f32 / 17.0) - 0.5)
            .collect();
        let ax: Vec<f32> = (0..n).map(|i| 0.3 * ((i % 5) as f32 / 5.0 - 0.4)).collect();
        let bx: Vec<f32> = (0..n).map(|i| 0.05 * (i % 3) as f32).collect();
        let ay: Vec<f32> = ax.iter().map(|v| -0.5 * v).collect();
        let by: Vec<f32> = bx.iter().map(|v| 0.5 * v).collect();
        let (k, dt) = (3usize, 1.0f32 / 3.0);
        let loss_cpu = |f: &[f32]| -> f64 {
            let (p, _) = planes(&ax, &ay, &bx, &by, Some(f), 4, 4, dt, 0.9);
            integrate(f, &p, 4, 4, k)
                .iter()
                .enumerate()
                .map(|(i, v)| f64::from(*v) * ((i % 7) as f64 - 3.0))
                .sum()
        };
        let t = |v: &[f32]| Tensor::<4>::from_data(TensorData::new(v.to_vec(), dims), &device);
        let f = t(&data).require_grad();
        let (p, _) = pde::planes(
            t(&ax),
            t(&ay),
            t(&bx),
            t(&by),
            Some(f.clone()),
            f64::from(dt),
            0.9,
        );
        let weights: Vec<f32> = (0..n).map(|i| (i % 7) as f32 - 3.0).collect();
        let loss = (pde::integrate(f.clone(), &p, k) * t(&weights)).sum();
        let grads = loss.backward();
        let g: Vec<f32> = f
            .grad(&grads)
            .expect("gradient")
            .into_data()
            .try_to_vec()
            .expect("f32");
        let eps = 1e-2f32;
        for i in 0..n {
            let (mut up, mut down) = (data.clone(), data.clone());
            up[i] += eps;
            down[i] -= eps;
            let fd = (loss_cpu(&up) - loss_cpu(&down)) / (2.0 * f64::from(eps));
            let rel = (f64::from(g[i]) - fd).abs() / fd.abs().max(1.0);
            assert!(
                rel <= 1e-3,
                "element {i}: autodiff {} vs finite difference {fd}",
                g[i]
            );
        }
    }
}
