// One photo texture drawn as a quad (src/app/photo_gpu.rs). The render pass viewport is the
// quad's visible part on screen; `uv_min..uv_max` is the part of the texture it shows.
//
// egui's own shader does the same job for any mesh, but it carries a uniform branch
// (predictable texture filtering) around its `textureSample`, which makes lavapipe sample
// about five times slower (src/app/photo_gpu.rs, `cargo bench --bench photo_draw`).
//
// Colours are egui's: premultiplied, sRGB-encoded bytes in an Rgba8Unorm texture, tinted by a
// premultiplied colour and blended with (One, OneMinusSrcAlpha).

struct Quad {
    uv_min: vec2<f32>,
    uv_max: vec2<f32>,
    // Premultiplied tint in [0, 1]: white = as is, white × a = blend at opacity a.
    tint: vec4<f32>,
};

@group(0) @binding(0) var photo: texture_2d<f32>;
@group(0) @binding(1) var photo_sampler: sampler;
@group(0) @binding(2) var<uniform> quad: Quad;

struct VertexOutput {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

// A triangle strip over the viewport: corners (0,0), (1,0), (0,1), (1,1), y down.
@vertex
fn vs_main(@builtin(vertex_index) i: u32) -> VertexOutput {
    let corner = vec2<f32>(f32(i & 1u), f32(i >> 1u));
    var out: VertexOutput;
    out.position = vec4<f32>(2.0 * corner.x - 1.0, 1.0 - 2.0 * corner.y, 0.0, 1.0);
    out.uv = mix(quad.uv_min, quad.uv_max, corner);
    return out;
}

// For a framebuffer that stores sRGB-encoded values as they are (egui's usual case).
@fragment
fn fs_gamma_target(in: VertexOutput) -> @location(0) vec4<f32> {
    return quad.tint * textureSample(photo, photo_sampler, in.uv);
}

// For an sRGB framebuffer, which encodes on write: hand it linear values.
@fragment
fn fs_linear_target(in: VertexOutput) -> @location(0) vec4<f32> {
    let c = quad.tint * textureSample(photo, photo_sampler, in.uv);
    let cutoff = c.rgb < vec3<f32>(0.04045);
    let lower = c.rgb / vec3<f32>(12.92);
    let higher = pow((c.rgb + vec3<f32>(0.055)) / vec3<f32>(1.055), vec3<f32>(2.4));
    return vec4<f32>(select(higher, lower, cutoff), c.a);
}
