// PDE global layer (models.md §4.7): one leap-frog step per dispatch. The weight planes come
// from pde_weights.wgsl (or the tensor path).
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

// ---- step pass --------------------------------------------------------------------------
// H^{k+1} = w_m·H^{k−1} + w_c·H^k + w_rp·next_r(H^k) + w_rm·prev_r(H^k)
//         + w_cp·next_c(H^k) + w_cm·prev_c(H^k) + s
@group(0) @binding(1) var<storage, read> planes: array<f32>;
@group(0) @binding(2) var<storage, read> h_prev: array<f32>;
@group(0) @binding(3) var<storage, read> h_cur: array<f32>;
@group(0) @binding(4) var<storage, read_write> h_next: array<f32>;

@compute @workgroup_size(256)
fn step(@builtin(workgroup_id) wg: vec3<u32>,
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
    h_next[i] = planes[i] * h_prev[i]
        + planes[n + i] * h_cur[i]
        + planes[2u * n + i] * h_cur[base + ((row + 1u) % h) * w + col]
        + planes[3u * n + i] * h_cur[base + ((row + h - 1u) % h) * w + col]
        + planes[4u * n + i] * h_cur[base + row * w + (col + 1u) % w]
        + planes[5u * n + i] * h_cur[base + row * w + (col + w - 1u) % w]
        + planes[6u * n + i];
}
