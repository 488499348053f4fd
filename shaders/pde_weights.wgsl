// PDE global layer (models.md §4.6): the coefficient pass, once per forward, with the CFL
// guard and its counter. The step pass is in pde_step.wgsl.
// Buffers are planar: plane p of the 7 weight planes starts at p·count, NCHW inside a plane.
// Neighbours wrap around (circular boundaries): next_r = row+1 mod h, prev_r = row−1 mod h.

struct Params {
    count: u32,   // N·C·h·w
    h: u32,
    w: u32,
    dt: f32,      // step size; used by the coefficient pass only
    cfl: f32,     // CFL limit on |A_x| + |A_y|
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
};

@group(0) @binding(0) var<uniform> params: Params;

fn element_index(wg: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 {
    // 2-D grid of 256-wide workgroups when count/256 exceeds the 65535 limit of one axis.
    return (wg.y * nwg.x + wg.x) * 256u + li;
}

// ---- coefficient pass -------------------------------------------------------------------
// coef = [A_x, A_y, B_x, B_y] planes (A = u·dt, B = D·dt, B ≥ 0), f = the source.
@group(0) @binding(1) var<storage, read> coef: array<f32>;
@group(0) @binding(2) var<storage, read> source: array<f32>;
@group(0) @binding(3) var<storage, read_write> planes_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> clamped: atomic<u32>;

// The CFL factor min(1, cfl / (|A_x| + |A_y|)) at element j.
fn cfl_factor(j: u32) -> f32 {
    let s = abs(coef[j]) + abs(coef[params.count + j]);
    return min(1.0, params.cfl / max(s, 1e-12));
}

@compute @workgroup_size(256)
fn weights(@builtin(workgroup_id) wg: vec3<u32>,
           @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
    let i = element_index(wg, nwg, li);
    let n = params.count;
    if (i >= n) { return; }
    let h = params.h;
    let w = params.w;
    let base = i - i % (h * w);
    let row = (i / w) % h;
    let col = i % w;
    let rn = base + ((row + 1u) % h) * w + col;
    let rp = base + ((row + h - 1u) % h) * w + col;
    let cn = base + row * w + (col + 1u) % w;
    let cp = base + row * w + (col + w - 1u) % w;

    let s = abs(coef[i]) + abs(coef[n + i]);
    if (s > params.cfl) { atomicAdd(&clamped, 1u); }
    let r = cfl_factor(i);
    let ax = coef[i] * r;
    let ay = coef[n + i] * r;
    let bx = coef[2u * n + i];
    let by = coef[3u * n + i];
    // G is built from the clamped A of the neighbours.
    let g = (coef[rn] * cfl_factor(rn) - coef[rp] * cfl_factor(rp))
          + (coef[n + cn] * cfl_factor(cn) - coef[n + cp] * cfl_factor(cp));
    let inv_l = 1.0 / (1.0 + 2.0 * bx + 2.0 * by);
    planes_out[i] = (1.0 - 2.0 * bx - 2.0 * by) * inv_l;
    planes_out[n + i] = -g * inv_l;
    planes_out[2u * n + i] = (-ax + 2.0 * bx) * inv_l;
    planes_out[3u * n + i] = (ax + 2.0 * bx) * inv_l;
    planes_out[4u * n + i] = (-ay + 2.0 * by) * inv_l;
    planes_out[5u * n + i] = (ay + 2.0 * by) * inv_l;
    planes_out[6u * n + i] = 2.0 * params.dt * source[i] * inv_l;
}

