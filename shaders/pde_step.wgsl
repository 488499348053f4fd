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


// ---- step pass --------------------------------------------------------------------------
// H^{k+1} = w_m·H^{k−1} + w_c·H^k + w_rp·next_r(H^k) + w_rm·prev_r(H^k)
//         + w_cp·next_c(H^k) + w_cm·prev_c(H^k) + s
@group(0) @binding(1) var<storage, read> planes: array<f32>;
@group(0) @binding(2) var<storage, read> h_prev: array<f32>;
@group(0) @binding(3) var<storage, read> h_cur: array<f32>;
@group(0) @binding(4) var<storage, read_write> h_next: array<f32>;

// One invocation per element on a (column, row, plane) grid of 16×16 tiles: no integer
// division in the index maths (slow on CPU-side drivers such as lavapipe, and not free on
// GPUs), and the wrapped neighbours are selects.
@compute @workgroup_size(16, 16, 1)
fn step(@builtin(global_invocation_id) gid: vec3<u32>) {
    let h = params.h;
    let w = params.w;
    let col = gid.x;
    let row = gid.y;
    if (col >= w || row >= h) { return; }
    let n = params.count;
    let base = gid.z * h * w;
    let i = base + row * w + col;
    let rn = select(row + 1u, 0u, row + 1u == h);
    let rp = select(row - 1u, h - 1u, row == 0u);
    let cn = select(col + 1u, 0u, col + 1u == w);
    let cp = select(col - 1u, w - 1u, col == 0u);
    h_next[i] = planes[i] * h_prev[i]
        + planes[n + i] * h_cur[i]
        + planes[2u * n + i] * h_cur[base + rn * w + col]
        + planes[3u * n + i] * h_cur[base + rp * w + col]
        + planes[4u * n + i] * h_cur[base + row * w + cn]
        + planes[5u * n + i] * h_cur[base + row * w + cp]
        + planes[6u * n + i];
}
