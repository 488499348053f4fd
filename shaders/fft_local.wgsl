// FFTs in workgroup memory (appended to fft_common.wgsl): one workgroup transforms
// LOCAL_N / len whole sequences, so a transform costs one read and one write of global memory.
// In-place radix-2: decimation in frequency (natural in, bit-reversed out) and in time
// (bit-reversed in, natural out), so forward, OTF product and inverse need no reordering.

// Complex points per workgroup; fft.rs rewrites this line from the adapter's limit.
const LOCAL_N: u32 = 4096u;

var<workgroup> buf: array<vec2<f32>, LOCAL_N>;

fn bitrev(j: u32, log_len: u32) -> u32 {
    return reverseBits(j) >> (32u - log_len);
}

// Sequences per workgroup: LOCAL_N / len = 1 << log_per.
fn log_per_group() -> u32 {
    return countTrailingZeros(LOCAL_N) - p.log_len;
}

// Every aligned segment of 2^log_len points of `buf`, bit-reversed in → natural out.
fn dit(lid: u32, log_len: u32, inverse: bool) {
    for (var s = 0u; s < log_len; s++) {
        let half = 1u << s;
        for (var b = lid; b < LOCAL_N / 2u; b += WG) {
            let pos = b & (half - 1u);
            let i0 = ((b >> s) << (s + 1u)) + pos;
            let t = cmul(twiddle(pos, 2u * half, inverse), buf[i0 + half]);
            let a = buf[i0];
            buf[i0] = a + t;
            buf[i0 + half] = a - t;
        }
        workgroupBarrier();
    }
}

// Every aligned segment of 2^log_len points of `buf`, natural in → bit-reversed out.
fn dif(lid: u32, log_len: u32, inverse: bool) {
    for (var s = log_len; s > 0u; s--) {
        let half = 1u << (s - 1u);
        for (var b = lid; b < LOCAL_N / 2u; b += WG) {
            let pos = b & (half - 1u);
            let i0 = ((b >> (s - 1u)) << s) + pos;
            let a = buf[i0];
            let c = buf[i0 + half];
            buf[i0] = a + c;
            buf[i0 + half] = cmul(a - c, twiddle(pos, 2u * half, inverse));
        }
        workgroupBarrier();
    }
}

// Real rows (src, M packed points each) → half spectra (dst, M + 1 bins each).
// count = rows, len = M.
@compute @workgroup_size(256)
fn rows_r2c(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let m = p.len;
    let per = 1u << log_per_group();
    let row0 = group_index(wid, nwg) * per;
    for (var i = lid; i < LOCAL_N; i += WG) {
        let t = i >> p.log_len;
        if (row0 + t < p.count) {
            // Row row0 + t, packed point i mod M.
            buf[t * m + bitrev(i & (m - 1u), p.log_len)] = src[row0 * m + i];
        }
    }
    workgroupBarrier();
    dit(lid, p.log_len, false);
    let wc = m + 1u;
    for (var i = lid; i < per * wc; i += WG) {
        let t = i / wc;
        let k = i - t * wc;
        if (row0 + t < p.count) {
            let zk = buf[t * m + (k & (m - 1u))];
            let zmk = buf[t * m + ((m - k) & (m - 1u))];
            dst[row0 * wc + i] = r2c_bin(zk, zmk, k, m);
        }
    }
}

// Half spectra (src, M + 1 bins per row) → real rows (dst, M packed points), scaled by p.scale.
// count = rows, len = M.
@compute @workgroup_size(256)
fn rows_c2r(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let m = p.len;
    let wc = m + 1u;
    let per = 1u << log_per_group();
    let row0 = group_index(wid, nwg) * per;
    for (var i = lid; i < LOCAL_N; i += WG) {
        let t = i >> p.log_len;
        let k = i & (m - 1u);
        if (row0 + t < p.count) {
            let x = c2r_inputs((row0 + t) * wc, k, m);
            buf[t * m + bitrev(k, p.log_len)] = c2r_bin(x[0], x[1], k, m) * p.scale;
        }
    }
    workgroupBarrier();
    dit(lid, p.log_len, true);
    for (var i = lid; i < per * m; i += WG) {
        if (row0 + (i >> p.log_len) < p.count) {
            dst[row0 * m + i] = buf[i];
        }
    }
}

// Loads the group's sequences of dst (strided, layout from addr) in natural order. Consecutive
// invocations take consecutive sequences, which are adjacent columns in memory.
fn load_columns(lid: u32, b0: u32) {
    let log_per = log_per_group();
    let per = 1u << log_per;
    for (var i = lid; i < LOCAL_N; i += WG) {
        let t = i & (per - 1u);
        let j = i >> log_per;
        if (b0 + t < p.count) {
            buf[(t << p.log_len) + j] = dst[addr(b0 + t, j)];
        }
    }
    workgroupBarrier();
}

// Stores the group's sequences back to dst; `reversed`: buf holds them in bit-reversed order.
fn store_columns(lid: u32, b0: u32, reversed: bool) {
    let log_per = log_per_group();
    let per = 1u << log_per;
    for (var i = lid; i < LOCAL_N; i += WG) {
        let t = i & (per - 1u);
        let j = i >> log_per;
        if (b0 + t < p.count) {
            let q = select(j, bitrev(j, p.log_len), reversed);
            dst[addr(b0 + t, j)] = buf[(t << p.log_len) + q];
        }
    }
}

// Complex transforms along strided sequences of dst, in place (the H axis of the spectra).
// count = sequences, len = H; p.inverse picks the direction (unnormalised).
@compute @workgroup_size(256)
fn cols(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let b0 = group_index(wid, nwg) << log_per_group();
    load_columns(lid, b0);
    dif(lid, p.log_len, p.inverse != 0u);
    store_columns(lid, b0, true);
}

// Forward transform, product with the OTF (same layout as dst), inverse transform, in place.
@compute @workgroup_size(256)
fn cols_filter(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let log_per = log_per_group();
    let per = 1u << log_per;
    let b0 = group_index(wid, nwg) << log_per;
    load_columns(lid, b0);
    dif(lid, p.log_len, false);
    for (var i = lid; i < LOCAL_N; i += WG) {
        let t = i & (per - 1u);
        let u = i >> log_per;
        if (b0 + t < p.count) {
            let q = (t << p.log_len) + bitrev(u, p.log_len);
            buf[q] = cmul(buf[q], otf[addr(b0 + t, u)]);
        }
    }
    workgroupBarrier();
    dit(lid, p.log_len, true);
    store_columns(lid, b0, false);
}
