// Global-memory FFT passes (appended to fft_common.wgsl) for transforms longer than a
// workgroup's memory holds: log2(len) radix-2 Stockham passes ping-ponging between two
// buffers (self-sorting, so no bit reversal), plus the real/complex packing and the OTF product
// as separate element-wise passes.

fn invocation(lid: u32, wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return group_index(wid, nwg) * WG + lid;
}

// One radix-2 pass over every sequence (layout from addr): count = sequences · len / 2.
// Input: sub-transforms of length ns; output: of length 2·ns.
@compute @workgroup_size(256)
fn stockham(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = invocation(lid, wid, nwg);
    if (idx >= p.count) {
        return;
    }
    let half = p.len >> 1u;
    let b = idx >> (p.log_len - 1u);
    let j = idx & (half - 1u);
    let k = j & (p.ns - 1u);
    let v0 = src[addr(b, j)];
    let v1 = cmul(src[addr(b, j + half)], twiddle(k, 2u * p.ns, p.inverse != 0u));
    let o = ((j - k) << 1u) + k;
    dst[addr(b, o)] = v0 + v1;
    dst[addr(b, o + p.ns)] = v0 - v1;
}

// Z = FFT_M of packed rows (src, M each) → half spectra (dst, M + 1 each): count = rows·(M + 1).
@compute @workgroup_size(256)
fn r2c_unpack(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = invocation(lid, wid, nwg);
    if (idx >= p.count) {
        return;
    }
    let m = p.len;
    let row = idx / (m + 1u);
    let k = idx - row * (m + 1u);
    let zk = src[row * m + (k & (m - 1u))];
    let zmk = src[row * m + ((m - k) & (m - 1u))];
    dst[idx] = r2c_bin(zk, zmk, k, m);
}

// Half spectra (src, M + 1 each) → packed sequences for the inverse FFT_M (dst, M each), scaled
// by p.scale: count = rows·M.
@compute @workgroup_size(256)
fn c2r_pack(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = invocation(lid, wid, nwg);
    if (idx >= p.count) {
        return;
    }
    let m = p.len;
    let row = idx >> p.log_len;
    let k = idx & (m - 1u);
    let x = c2r_inputs(row * (m + 1u), k, m);
    dst[idx] = c2r_bin(x[0], x[1], k, m) * p.scale;
}

// dst ⊙= otf, element-wise: count = elements.
@compute @workgroup_size(256)
fn multiply(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = invocation(lid, wid, nwg);
    if (idx >= p.count) {
        return;
    }
    dst[idx] = cmul(dst[idx], otf[idx]);
}
