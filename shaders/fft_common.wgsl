// Shared by the radix-2 FFT kernels (fft_local.wgsl, fft_global.wgsl), models.md §1.2.
// Complex values are vec2<f32> (re, im). A real row of W samples read as vec2 is the packed
// half-length sequence z[n] = x[2n] + i·x[2n+1], n < M = W/2.

struct Params {
    // Local kernels: the number of 1-D transforms; global kernels: the number of invocations.
    count: u32,
    // Transform length in complex points (M = W/2 for the row kernels) and its log2.
    len: u32,
    log_len: u32,
    // Element j of transform b lies at (b / per) * outer + b % per + j * stride.
    per: u32,
    outer: u32,
    stride: u32,
    // Stockham pass: the length of the sub-transforms already done.
    ns: u32,
    // 1 for the inverse transform (conjugate twiddles).
    inverse: u32,
    // Applied by the c2r packing: 1 / (H·W).
    scale: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

const WG: u32 = 256u;
// Period of the twiddle table: twiddles[k] = exp(−2πi·k / MAX_LEN), k < MAX_LEN.
const MAX_LEN: u32 = 4096u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> twiddles: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> src: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> dst: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read> otf: array<vec2<f32>>;

fn cmul(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}

fn cconj(a: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(a.x, -a.y);
}

// exp(∓2πi·k / len) for a power-of-two len ≤ MAX_LEN and k ≤ len: − forward, + inverse.
// The table holds host-computed (f64) values, more accurate than sin/cos in f32.
fn twiddle(k: u32, len: u32, inverse: bool) -> vec2<f32> {
    let t = twiddles[k * (MAX_LEN / len)];
    return select(t, cconj(t), inverse);
}

fn addr(b: u32, j: u32) -> u32 {
    return (b / p.per) * p.outer + b % p.per + j * p.stride;
}

// Linear workgroup index of a 1-D or 2-D grid (2-D past 65 535 groups).
fn group_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// Bin k ≤ M of a real row's spectrum from Z = FFT_M(z) (zk = Z[k mod M], zmk = Z[(M − k) mod M]):
// E = (Z[k] + conj Z[M−k]) / 2 and O = (Z[k] − conj Z[M−k]) / 2i are the spectra of the even
// and odd samples, X[k] = E + exp(−2πi·k / W)·O.
fn r2c_bin(zk: vec2<f32>, zmk: vec2<f32>, k: u32, m: u32) -> vec2<f32> {
    let zc = cconj(zmk);
    let e = 0.5 * (zk + zc);
    let d = 0.5 * (zk - zc);
    let o = vec2<f32>(d.y, -d.x);
    return e + cmul(twiddle(k, 2u * m, false), o);
}

// Z[k], k < M, of the packed sequence from the half spectrum (xk = X[k], xmk = X[M−k]), the
// inverse of r2c_bin with the factor 2 left in (it is part of the caller's scale):
// Z = 2E + i·2O, 2E = X[k] + conj X[M−k], 2O = (X[k] − conj X[M−k])·exp(+2πi·k / W).
fn c2r_bin(xk: vec2<f32>, xmk: vec2<f32>, k: u32, m: u32) -> vec2<f32> {
    let xc = cconj(xmk);
    let o = cmul(xk - xc, twiddle(k, 2u * m, true));
    return xk + xc + vec2<f32>(-o.y, o.x);
}

// The half spectrum's X[k] and X[M−k] at row offset `base` (row length M + 1) for c2r_bin,
// with the imaginary parts of the DC and Nyquist bins dropped (the §1.2 convention).
fn c2r_inputs(base: u32, k: u32, m: u32) -> array<vec2<f32>, 2> {
    var xk = src[base + k];
    var xmk = src[base + m - k];
    if (k == 0u) {
        xk.y = 0.0;
        xmk.y = 0.0;
    }
    return array<vec2<f32>, 2>(xk, xmk);
}
