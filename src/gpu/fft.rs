//! Radix-2 FFTs in WGSL (shaders/fft_common.wgsl, fft_local.wgsl, fft_global.wgsl) on the wgpu
//! device burn uses, with the conventions of models.md §1.2; `fft_cpu` is the reference.
//!
//! Forward: each real row is read as M = W/2 complex points x[2n] + i·x[2n+1], transformed and
//! unpacked to W/2+1 bins; then complex transforms along H (strided columns). The inverse
//! mirrors it, dropping the imaginary parts of the DC and Nyquist bins in the packing step.
//! The `*_tensor` entry points run on burn's own tensor buffers (the inference path); the
//! slice entry points upload their input and read the result back (tests, references).
//! A 1-D transform that fits the workgroup memory takes one dispatch (rows fuse the
//! packing, columns fuse forward, OTF product and inverse); a longer one takes log2(len)
//! global-memory Stockham passes. A call records everything in one command encoder: one
//! upload, one read-back.

use std::borrow::Cow;
use std::f64::consts::PI;
use std::num::NonZeroU64;

use burn::tensor::wgpu::wgpu;
use wgpu::util::DeviceExt;

use super::{floats, grid, read_mapped, GpuError};

/// Smallest supported side (H and W).
pub const MIN_SIDE: usize = 8;
/// Largest supported side, also the period of the twiddle table.
pub const MAX_SIDE: usize = 4096;

const WORKGROUP: usize = 256;
const COMPLEX_BYTES: u64 = 8;
/// Smallest workgroup array worth a pipeline; with less memory everything runs globally.
const MIN_LOCAL: usize = 16;
/// u32 indexing in the shaders: every buffer stays below 2³⁰ complex points.
const MAX_POINTS: usize = 1 << 30;

const COMMON_WGSL: &str = include_str!("../../shaders/fft_common.wgsl");
const LOCAL_WGSL: &str = include_str!("../../shaders/fft_local.wgsl");
const GLOBAL_WGSL: &str = include_str!("../../shaders/fft_global.wgsl");
/// The line of fft_local.wgsl that sizes the workgroup array.
const LOCAL_N_LINE: &str = "const LOCAL_N: u32 = 4096u;";

/// Mirrors `Params` in fft_common.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    count: u32,
    len: u32,
    log_len: u32,
    per: u32,
    outer: u32,
    stride: u32,
    ns: u32,
    inverse: u32,
    scale: f32,
    _pad: [u32; 3],
}

/// A batch of 1-D transforms: element j of transform b lies at (b / per)·outer + b % per + j·stride.
#[derive(Clone, Copy)]
struct Batch {
    count: usize,
    len: usize,
    per: usize,
    outer: usize,
    stride: usize,
}

impl Batch {
    fn params(&self, inverse: bool) -> Params {
        Params {
            count: self.count as u32,
            len: self.len as u32,
            log_len: self.len.trailing_zeros(),
            per: self.per as u32,
            outer: self.outer as u32,
            stride: self.stride as u32,
            inverse: u32::from(inverse),
            ..Params::default()
        }
    }
}

/// `planes × h × w` real data and its `planes × h × (w/2+1)` spectrum.
#[derive(Clone, Copy)]
struct Shape {
    planes: usize,
    h: usize,
    w: usize,
}

impl Shape {
    fn new(planes: usize, h: usize, w: usize) -> Result<Self, GpuError> {
        let side_ok = |n: usize| n.is_power_of_two() && (MIN_SIDE..=MAX_SIDE).contains(&n);
        if planes == 0 || !side_ok(h) || !side_ok(w) {
            return Err(GpuError(format!(
                "FFT of {planes}×{h}×{w}: sides must be powers of two in \
                 {MIN_SIDE}..={MAX_SIDE}, with at least one plane"
            )));
        }
        let s = Self { planes, h, w };
        if s.spec_len() > MAX_POINTS {
            return Err(GpuError(format!("FFT of {planes}×{h}×{w} is too large")));
        }
        Ok(s)
    }

    fn m(&self) -> usize {
        self.w / 2
    }

    fn wc(&self) -> usize {
        self.w / 2 + 1
    }

    fn real_len(&self) -> usize {
        self.planes * self.h * self.w
    }

    fn spec_len(&self) -> usize {
        self.planes * self.h * self.wc()
    }

    /// Half-length complex transforms of the real rows.
    fn rows(&self) -> Batch {
        Batch {
            count: self.planes * self.h,
            len: self.m(),
            per: 1,
            outer: self.m(),
            stride: 1,
        }
    }

    /// Transforms along H of every spectrum column.
    fn cols(&self) -> Batch {
        Batch {
            count: self.planes * self.wc(),
            len: self.h,
            per: self.wc(),
            outer: self.h * self.wc(),
            stride: self.wc(),
        }
    }
}

/// A byte range of a buffer, bound as one shader array.
#[derive(Clone, Copy)]
struct Slice<'a> {
    buffer: &'a wgpu::Buffer,
    offset: u64,
    size: u64,
}

impl<'a> Slice<'a> {
    fn whole(buffer: &'a wgpu::Buffer) -> Self {
        Self {
            buffer,
            offset: 0,
            size: buffer.size(),
        }
    }
}

/// One dispatch: its pipeline, parameters, storage bindings (binding 0 is the parameters)
/// and number of workgroups.
struct Step<'a> {
    pipeline: &'a wgpu::ComputePipeline,
    params: Params,
    bindings: Vec<(u32, Slice<'a>)>,
    groups: usize,
}

/// What happens along H.
#[derive(Clone, Copy)]
enum Columns<'a> {
    Forward,
    Inverse,
    /// Forward, product with this OTF (spectrum layout), inverse.
    Filter(Slice<'a>),
}

/// Kernels working in workgroup memory on transforms of up to `len` points.
struct LocalPipelines {
    len: usize,
    rows_r2c: wgpu::ComputePipeline,
    rows_c2r: wgpu::ComputePipeline,
    cols: wgpu::ComputePipeline,
    cols_filter: wgpu::ComputePipeline,
}

/// Global-memory passes for longer transforms.
struct GlobalPipelines {
    stockham: wgpu::ComputePipeline,
    r2c_unpack: wgpu::ComputePipeline,
    c2r_pack: wgpu::ComputePipeline,
    multiply: wgpu::ComputePipeline,
}

/// Compiled FFT pipelines and the twiddle table.
/// The shader on the wgpu device burn was registered on in this process, built on first use;
/// `None` while burn runs on no wgpu device.
pub fn shared() -> Option<&'static FftShader> {
    static SHADER: std::sync::OnceLock<FftShader> = std::sync::OnceLock::new();
    if let Some(s) = SHADER.get() {
        return Some(s);
    }
    let (device, queue) = crate::engine::device::registered_wgpu()?;
    Some(SHADER.get_or_init(|| FftShader::new(&device, &queue)))
}

pub struct FftShader {
    device: wgpu::Device,
    queue: wgpu::Queue,
    twiddles: wgpu::Buffer,
    local: Option<LocalPipelines>,
    global: GlobalPipelines,
}

/// exp(−2πi·k / MAX_SIDE), k < MAX_SIDE, computed in f64 and rounded once to f32.
fn twiddle_table() -> Vec<f32> {
    // Exact zeros at multiples of π/2 keep the DC and Nyquist bins of real input real.
    let snap = |v: f64| if v.abs() < 1e-12 { 0.0 } else { v as f32 };
    (0..MAX_SIDE)
        .flat_map(|k| {
            let (s, c) = (-2.0 * PI * k as f64 / MAX_SIDE as f64).sin_cos();
            [snap(c), snap(s)]
        })
        .collect()
}

/// Complex points per workgroup array for `bytes` of workgroup memory: a power of two
/// ≤ MAX_SIDE, or 0 when too small to be worth it.
fn local_points(bytes: u32) -> usize {
    let n = (bytes as u64 / COMPLEX_BYTES) as usize;
    if n < MIN_LOCAL {
        0
    } else {
        (1usize << n.ilog2()).min(MAX_SIDE)
    }
}

fn interleave(re: &[f32], im: &[f32], out: &mut Vec<f32>) {
    out.extend(re.iter().zip(im).flat_map(|(&r, &i)| [r, i]));
}

fn check_len(what: &str, got: usize, want: usize) -> Result<(), GpuError> {
    if got != want {
        return Err(GpuError(format!(
            "{what} holds {got} values, expected {want}"
        )));
    }
    Ok(())
}

impl FftShader {
    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue) -> Self {
        Self::with_workgroup_bytes(device, queue, u32::MAX)
    }

    /// As [`FftShader::new`], using at most `max_bytes` of workgroup memory (the adapter's
    /// limit applies too); tests force the global-memory path with small values.
    pub fn with_workgroup_bytes(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        max_bytes: u32,
    ) -> Self {
        let limit = device.limits().max_compute_workgroup_storage_size;
        let points = local_points(max_bytes.min(limit));
        let module = |label: &str, src: String| {
            device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(Cow::Owned(src)),
            })
        };
        let pipeline = |module: &wgpu::ShaderModule, entry: &str| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let local = (points > 0).then(|| {
            let src = LOCAL_WGSL.replace(LOCAL_N_LINE, &format!("const LOCAL_N: u32 = {points}u;"));
            let m = module("fft local", format!("{COMMON_WGSL}\n{src}"));
            LocalPipelines {
                len: points,
                rows_r2c: pipeline(&m, "rows_r2c"),
                rows_c2r: pipeline(&m, "rows_c2r"),
                cols: pipeline(&m, "cols"),
                cols_filter: pipeline(&m, "cols_filter"),
            }
        });
        let g = module("fft global", format!("{COMMON_WGSL}\n{GLOBAL_WGSL}"));
        let twiddles = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("fft twiddles"),
            contents: bytemuck::cast_slice(&twiddle_table()),
            usage: wgpu::BufferUsages::STORAGE,
        });
        Self {
            device: device.clone(),
            queue: queue.clone(),
            twiddles,
            local,
            global: GlobalPipelines {
                stockham: pipeline(&g, "stockham"),
                r2c_unpack: pipeline(&g, "r2c_unpack"),
                c2r_pack: pipeline(&g, "c2r_pack"),
                multiply: pipeline(&g, "multiply"),
            },
        }
    }

    /// The longest 1-D transform done in workgroup memory (0: none, all passes are global).
    pub fn local_len(&self) -> usize {
        self.local.as_ref().map_or(0, |l| l.len)
    }

    /// Unnormalised 2-D real FFT of `planes × h × w` values: `(re, im)`, each
    /// `planes × h × (w/2+1)`.
    pub fn rfft2(
        &self,
        x: &[f32],
        planes: usize,
        h: usize,
        w: usize,
    ) -> Result<(Vec<f32>, Vec<f32>), GpuError> {
        let s = Shape::new(planes, h, w)?;
        check_len("rfft2 input", x.len(), s.real_len())?;
        let input = self.upload(x)?;
        let spectrum = self.empty(s.spec_len() as u64 * COMPLEX_BYTES)?;
        let scratch = self.scratch(s)?;
        let bufs = self.pair(&spectrum, scratch.as_ref());
        let mut steps = Vec::new();
        let cur = self.rows_forward(&mut steps, s, Slice::whole(&input), bufs);
        let cur = self.columns(&mut steps, s, bufs, cur, Columns::Forward);
        let out = self.execute(&steps, bufs[cur])?;
        Ok((
            out.iter().step_by(2).copied().collect(),
            out.iter().skip(1).step_by(2).copied().collect(),
        ))
    }

    /// Inverse of [`FftShader::rfft2`] with factor 1/(h·w) to `planes × h × w` values; the
    /// imaginary parts of the v = 0 and v = w/2 columns are ignored in the last step.
    pub fn irfft2(
        &self,
        re: &[f32],
        im: &[f32],
        planes: usize,
        h: usize,
        w: usize,
    ) -> Result<Vec<f32>, GpuError> {
        let s = Shape::new(planes, h, w)?;
        check_len("irfft2 real part", re.len(), s.spec_len())?;
        check_len("irfft2 imaginary part", im.len(), s.spec_len())?;
        let mut packed = Vec::with_capacity(2 * s.spec_len());
        interleave(re, im, &mut packed);
        let spectrum = self.upload(&packed)?;
        let output = self.empty(s.real_len() as u64 * 4)?;
        let scratch = self.scratch(s)?;
        let bufs = self.pair(&spectrum, scratch.as_ref());
        let mut steps = Vec::new();
        let cur = self.columns(&mut steps, s, bufs, 0, Columns::Inverse);
        let result = self.rows_inverse(&mut steps, s, bufs, cur, Slice::whole(&output));
        self.execute(&steps, result)
    }

    /// `irfft2(rfft2(x) ⊙ OTF)` with one OTF plane per plane of `x` (`planes × h × (w/2+1)`),
    /// all passes fused into one submission.
    pub fn spectral_multiply(
        &self,
        x: &[f32],
        otf_re: &[f32],
        otf_im: &[f32],
        planes: usize,
        h: usize,
        w: usize,
    ) -> Result<Vec<f32>, GpuError> {
        let s = Shape::new(planes, h, w)?;
        check_len("spectral_multiply input", x.len(), s.real_len())?;
        check_len("OTF real part", otf_re.len(), s.spec_len())?;
        check_len("OTF imaginary part", otf_im.len(), s.spec_len())?;
        // One upload: the input, then the OTF at the next aligned offset. The input range
        // also receives the result.
        let align = u64::from(self.device.limits().min_storage_buffer_offset_alignment);
        let x_bytes = s.real_len() as u64 * 4;
        let otf_offset = x_bytes.next_multiple_of(align);
        let mut data = Vec::with_capacity(otf_offset as usize / 4 + 2 * s.spec_len());
        data.extend_from_slice(x);
        data.resize(otf_offset as usize / 4, 0.0);
        interleave(otf_re, otf_im, &mut data);
        let upload = self.upload(&data)?;
        let input = Slice {
            buffer: &upload,
            offset: 0,
            size: x_bytes,
        };
        let otf = Slice {
            buffer: &upload,
            offset: otf_offset,
            size: s.spec_len() as u64 * COMPLEX_BYTES,
        };
        let spectrum = self.empty(s.spec_len() as u64 * COMPLEX_BYTES)?;
        let scratch = self.scratch(s)?;
        let bufs = self.pair(&spectrum, scratch.as_ref());
        let mut steps = Vec::new();
        let cur = self.rows_forward(&mut steps, s, input, bufs);
        let cur = self.columns(&mut steps, s, bufs, cur, Columns::Filter(otf));
        let result = self.rows_inverse(&mut steps, s, bufs, cur, input);
        self.execute(&steps, result)
    }

    // ---- planning ----

    fn fits(&self, len: usize) -> Option<&LocalPipelines> {
        self.local.as_ref().filter(|l| len <= l.len)
    }

    /// The spectrum buffer and the ping-pong partner of the global passes. Without a scratch
    /// buffer (every transform local) the second slot repeats the first and is never used.
    fn pair<'a>(
        &self,
        spectrum: &'a wgpu::Buffer,
        scratch: Option<&'a wgpu::Buffer>,
    ) -> [Slice<'a>; 2] {
        [
            Slice::whole(spectrum),
            Slice::whole(scratch.unwrap_or(spectrum)),
        ]
    }

    fn scratch(&self, s: Shape) -> Result<Option<wgpu::Buffer>, GpuError> {
        let all_local = self.fits(s.m()).is_some() && self.fits(s.h).is_some();
        if all_local {
            return Ok(None);
        }
        self.empty(s.spec_len() as u64 * COMPLEX_BYTES).map(Some)
    }

    fn tw(&self) -> (u32, Slice<'_>) {
        (1, Slice::whole(&self.twiddles))
    }

    fn local_step<'a>(
        pipeline: &'a wgpu::ComputePipeline,
        local_len: usize,
        params: Params,
        bindings: Vec<(u32, Slice<'a>)>,
    ) -> Step<'a> {
        let per_group = local_len / params.len as usize;
        Step {
            pipeline,
            params,
            bindings,
            groups: (params.count as usize).div_ceil(per_group),
        }
    }

    fn global_step<'a>(
        pipeline: &'a wgpu::ComputePipeline,
        params: Params,
        bindings: Vec<(u32, Slice<'a>)>,
    ) -> Step<'a> {
        Step {
            pipeline,
            params,
            bindings,
            groups: (params.count as usize).div_ceil(WORKGROUP),
        }
    }

    /// log2(len) Stockham passes: the first reads `first` and writes `bufs[to]`, the next ones
    /// alternate between the two. Returns the index of `bufs` holding the result.
    fn stockham<'a>(
        &'a self,
        steps: &mut Vec<Step<'a>>,
        batch: Batch,
        first: Slice<'a>,
        bufs: [Slice<'a>; 2],
        mut to: usize,
        inverse: bool,
    ) -> usize {
        let mut from = first;
        let mut ns = 1;
        while ns < batch.len {
            let params = Params {
                count: (batch.count * batch.len / 2) as u32,
                ns: ns as u32,
                ..batch.params(inverse)
            };
            let bindings = vec![self.tw(), (2, from), (3, bufs[to])];
            steps.push(Self::global_step(&self.global.stockham, params, bindings));
            from = bufs[to];
            to ^= 1;
            ns *= 2;
        }
        to ^ 1
    }

    /// Real rows in `x` → half spectra; returns the index of `bufs` holding them.
    fn rows_forward<'a>(
        &'a self,
        steps: &mut Vec<Step<'a>>,
        s: Shape,
        x: Slice<'a>,
        bufs: [Slice<'a>; 2],
    ) -> usize {
        let rows = s.rows();
        if let Some(l) = self.fits(rows.len) {
            let bindings = vec![self.tw(), (2, x), (3, bufs[0])];
            steps.push(Self::local_step(
                &l.rows_r2c,
                l.len,
                rows.params(false),
                bindings,
            ));
            return 0;
        }
        let z = self.stockham(steps, rows, x, bufs, 0, false);
        let params = Params {
            count: (rows.count * s.wc()) as u32,
            ..rows.params(false)
        };
        let bindings = vec![self.tw(), (2, bufs[z]), (3, bufs[z ^ 1])];
        steps.push(Self::global_step(&self.global.r2c_unpack, params, bindings));
        z ^ 1
    }

    /// The H axis of the spectra in `bufs[cur]`; returns the index of `bufs` holding the result.
    fn columns<'a>(
        &'a self,
        steps: &mut Vec<Step<'a>>,
        s: Shape,
        bufs: [Slice<'a>; 2],
        cur: usize,
        mode: Columns<'a>,
    ) -> usize {
        let cols = s.cols();
        if let Some(l) = self.fits(cols.len) {
            let step = match mode {
                Columns::Forward | Columns::Inverse => {
                    let params = cols.params(matches!(mode, Columns::Inverse));
                    let bindings = vec![self.tw(), (3, bufs[cur])];
                    Self::local_step(&l.cols, l.len, params, bindings)
                }
                Columns::Filter(otf) => {
                    let bindings = vec![self.tw(), (3, bufs[cur]), (4, otf)];
                    Self::local_step(&l.cols_filter, l.len, cols.params(false), bindings)
                }
            };
            steps.push(step);
            return cur;
        }
        let inverse = matches!(mode, Columns::Inverse);
        let cur = self.stockham(steps, cols, bufs[cur], bufs, cur ^ 1, inverse);
        let Columns::Filter(otf) = mode else {
            return cur;
        };
        let params = Params {
            count: s.spec_len() as u32,
            ..Params::default()
        };
        let bindings = vec![(3, bufs[cur]), (4, otf)];
        steps.push(Self::global_step(&self.global.multiply, params, bindings));
        self.stockham(steps, cols, bufs[cur], bufs, cur ^ 1, true)
    }

    /// Half spectra in `bufs[cur]` → real rows with factor 1/(h·w). The local kernel writes
    /// them to `out`; the global passes end in one of `bufs`. Returns where they are.
    fn rows_inverse<'a>(
        &'a self,
        steps: &mut Vec<Step<'a>>,
        s: Shape,
        bufs: [Slice<'a>; 2],
        cur: usize,
        out: Slice<'a>,
    ) -> Slice<'a> {
        let rows = s.rows();
        let params = Params {
            scale: 1.0 / (s.h * s.w) as f32,
            ..rows.params(true)
        };
        if let Some(l) = self.fits(rows.len) {
            let bindings = vec![self.tw(), (2, bufs[cur]), (3, out)];
            steps.push(Self::local_step(&l.rows_c2r, l.len, params, bindings));
            return out;
        }
        let pack = Params {
            count: (rows.count * rows.len) as u32,
            ..params
        };
        let bindings = vec![self.tw(), (2, bufs[cur]), (3, bufs[cur ^ 1])];
        steps.push(Self::global_step(&self.global.c2r_pack, pack, bindings));
        let r = self.stockham(steps, rows, bufs[cur ^ 1], bufs, cur, true);
        Slice {
            size: s.real_len() as u64 * 4,
            ..bufs[r]
        }
    }

    // ---- buffers and submission ----

    fn check_size(&self, bytes: u64) -> Result<(), GpuError> {
        let limits = self.device.limits();
        let max = limits
            .max_buffer_size
            .min(limits.max_storage_buffer_binding_size);
        if bytes > max {
            return Err(GpuError(format!(
                "FFT buffer of {bytes} bytes exceeds the device limit of {max}"
            )));
        }
        Ok(())
    }

    fn upload(&self, data: &[f32]) -> Result<wgpu::Buffer, GpuError> {
        self.check_size(data.len() as u64 * 4)?;
        Ok(self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("fft data"),
                contents: bytemuck::cast_slice(data),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            }))
    }

    fn empty(&self, bytes: u64) -> Result<wgpu::Buffer, GpuError> {
        self.check_size(bytes)?;
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("fft work"),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        }))
    }

    /// All step parameters in one uniform buffer, each at an aligned offset.
    fn uniforms(&self, steps: &[Step]) -> (wgpu::Buffer, u64) {
        let align = u64::from(self.device.limits().min_uniform_buffer_offset_alignment);
        let stride = (size_of::<Params>() as u64).next_multiple_of(align);
        let mut bytes = vec![0u8; stride as usize * steps.len().max(1)];
        for (chunk, step) in bytes.chunks_exact_mut(stride as usize).zip(steps) {
            chunk[..size_of::<Params>()].copy_from_slice(bytemuck::bytes_of(&step.params));
        }
        let buffer = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("fft params"),
                contents: &bytes,
                usage: wgpu::BufferUsages::UNIFORM,
            });
        (buffer, stride)
    }

    fn bind_group(&self, step: &Step, params: Slice) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = std::iter::once((0, params))
            .chain(step.bindings.iter().copied())
            .map(|(binding, s)| wgpu::BindGroupEntry {
                binding,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: s.buffer,
                    offset: s.offset,
                    size: NonZeroU64::new(s.size),
                }),
            })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &step.pipeline.get_bind_group_layout(0),
            entries: &entries,
        })
    }

    /// Records `steps` in one compute pass of a new encoder.
    fn record(&self, steps: &[Step]) -> wgpu::CommandEncoder {
        let (uniforms, stride) = self.uniforms(steps);
        let groups: Vec<wgpu::BindGroup> = steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let params = Slice {
                    buffer: &uniforms,
                    offset: i as u64 * stride,
                    size: size_of::<Params>() as u64,
                };
                self.bind_group(step, params)
            })
            .collect();
        let mut enc = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            for (step, group) in steps.iter().zip(&groups) {
                pass.set_pipeline(step.pipeline);
                pass.set_bind_group(0, group, &[]);
                let (gx, gy) = grid(step.groups);
                pass.dispatch_workgroups(gx, gy, 1);
            }
        }
        enc
    }

    /// `irfft2(rfft2(x) ⊙ OTF)` on burn's own buffers: `x` is `[N,C,H,W]` on burn's wgpu
    /// device, the OTF its `[N,C,H,W/2+1]` real and imaginary parts; the result is a burn
    /// tensor on that device. No host round trip: burn's pending work is flushed, our passes
    /// are submitted on the shared queue, and burn's later work queues behind them.
    pub fn spectral_multiply_tensor(
        &self,
        x: burn::tensor::Tensor<4>,
        otf_re: burn::tensor::Tensor<4>,
        otf_im: burn::tensor::Tensor<4>,
    ) -> Result<burn::tensor::Tensor<4>, GpuError> {
        use burn::backend::wgpu::CubeTensor;
        use burn::backend::Cube;
        use burn::tensor::{DType, Tensor};

        let [n, c, h, w] = x.dims();
        let s = Shape::new(n * c, h, w)?;
        if otf_re.dims() != [n, c, h, s.wc()] || otf_im.dims() != otf_re.dims() {
            return Err(GpuError(format!(
                "OTF of {:?} for features of {:?}",
                otf_re.dims(),
                x.dims()
            )));
        }
        // (re, im) interleaved along a new last axis is the shader's complex layout.
        let otf = Tensor::stack::<5>(vec![otf_re, otf_im], 4);
        let x = super::pde_burn::cube(x)?;
        let otf = super::pde_burn::cube(otf)?;
        let client = x.client.clone();
        let out = CubeTensor::new_contiguous(
            client.clone(),
            x.device.clone(),
            x.meta.shape().clone(),
            client.empty(s.real_len() * 4),
            DType::F32,
        );
        self.run_on_burn(s, &x, Some(&otf), &out)?;
        Ok(Tensor::from_primitive::<Cube>(out))
    }

    /// [`FftShader::rfft2`] on burn's own buffers: `x` `[N,C,H,W]` on burn's wgpu device →
    /// `(re, im)`, each `[N,C,H,W/2+1]`, as burn tensors (no host round trip).
    pub fn rfft2_tensor(
        &self,
        x: burn::tensor::Tensor<4>,
    ) -> Result<(burn::tensor::Tensor<4>, burn::tensor::Tensor<4>), GpuError> {
        use burn::backend::wgpu::CubeTensor;
        use burn::backend::Cube;
        use burn::tensor::{DType, Shape as TensorShape, Tensor};

        let [n, c, h, w] = x.dims();
        let s = Shape::new(n * c, h, w)?;
        let x = super::pde_burn::cube(x)?;
        let client = x.client.clone();
        let out = CubeTensor::new_contiguous(
            client.clone(),
            x.device.clone(),
            TensorShape::new([n, c, h, s.wc(), 2]),
            client.empty(s.spec_len() * COMPLEX_BYTES as usize),
            DType::F32,
        );
        self.run_on_burn(s, &x, None, &out)?;
        let both = Tensor::<5>::from_primitive::<Cube>(out);
        let part = |i: usize| both.clone().narrow(4, i, 1).reshape([n, c, h, s.wc()]);
        Ok((part(0), part(1)))
    }

    /// The passes on burn's buffers: `input` holds `s`'s real planes; with an `otf` (complex,
    /// spectrum layout) the fused multiply writes real planes to `out`, without one the
    /// forward spectrum goes to `out`. burn's pending work is flushed first so that it reaches
    /// the shared queue before ours; the held resources keep the allocations in place until
    /// the submission is recorded.
    fn run_on_burn(
        &self,
        s: Shape,
        input: &burn::backend::wgpu::CubeTensor,
        otf: Option<&burn::backend::wgpu::CubeTensor>,
        out: &burn::backend::wgpu::CubeTensor,
    ) -> Result<(), GpuError> {
        use burn::backend::wgpu::{AutoCompiler, CubeTensor, WgpuResource};
        use burn::cubecl::wgpu::WgpuServer;

        fn slice(r: &WgpuResource, bytes: u64) -> Slice<'_> {
            Slice {
                buffer: &r.buffer,
                offset: r.offset,
                size: bytes,
            }
        }
        let client = &input.client;
        client
            .flush()
            .map_err(|e| GpuError(format!("flushing burn's queue: {e:?}")))?;
        let get = |t: &CubeTensor| {
            client
                .get_resource::<WgpuServer<AutoCompiler>>(t.handle.clone())
                .map_err(|e| GpuError(format!("burn's buffer: {e:?}")))
        };
        let (held_in, held_out) = (get(input)?, get(out)?);
        let held_otf = otf.map(get).transpose()?;
        let (real_bytes, spec_bytes) =
            (s.real_len() as u64 * 4, s.spec_len() as u64 * COMPLEX_BYTES);
        let spectrum = self.empty(spec_bytes)?;
        let scratch = self.scratch(s)?;
        let bufs = self.pair(&spectrum, scratch.as_ref());
        let mut steps = Vec::new();
        let cur = self.rows_forward(&mut steps, s, slice(held_in.resource(), real_bytes), bufs);
        let (result, output) = match &held_otf {
            Some(o) => {
                let filter = Columns::Filter(slice(o.resource(), spec_bytes));
                let cur = self.columns(&mut steps, s, bufs, cur, filter);
                let output = slice(held_out.resource(), real_bytes);
                (self.rows_inverse(&mut steps, s, bufs, cur, output), output)
            }
            None => {
                let cur = self.columns(&mut steps, s, bufs, cur, Columns::Forward);
                (bufs[cur], slice(held_out.resource(), spec_bytes))
            }
        };
        let mut enc = self.record(&steps);
        if !std::ptr::eq(result.buffer, output.buffer) || result.offset != output.offset {
            enc.copy_buffer_to_buffer(
                result.buffer,
                result.offset,
                output.buffer,
                output.offset,
                output.size,
            );
        }
        self.queue.submit([enc.finish()]);
        Ok(())
    }

    /// Records `steps` and the copy of `result` in one encoder, submits, and reads back.
    fn execute(&self, steps: &[Step], result: Slice) -> Result<Vec<f32>, GpuError> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("fft read back"),
            size: result.size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.record(steps);
        enc.copy_buffer_to_buffer(result.buffer, result.offset, &staging, 0, result.size);
        self.queue.submit([enc.finish()]);
        Ok(floats(&read_mapped(&self.device, &staging)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twiddles_are_unit_and_exact_on_the_axes() {
        let t = twiddle_table();
        assert_eq!(t.len(), 2 * MAX_SIDE);
        for k in (0..MAX_SIDE).step_by(MAX_SIDE / 4) {
            let (c, s) = (t[2 * k], t[2 * k + 1]);
            assert!(c.fract() == 0.0 && s.fract() == 0.0, "k = {k}: ({c}, {s})");
        }
        for pair in t.chunks_exact(2) {
            assert!((pair[0].hypot(pair[1]) - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn workgroup_arrays_are_powers_of_two_within_the_limit() {
        assert_eq!(local_points(16_384), 2048);
        assert_eq!(local_points(16_352), 1024);
        assert_eq!(local_points(32_768), 4096);
        assert_eq!(local_points(65_536), MAX_SIDE);
        assert_eq!(local_points(100), 0);
        assert!(
            LOCAL_WGSL.contains(LOCAL_N_LINE),
            "fft_local.wgsl sizes its array elsewhere"
        );
    }

    #[test]
    fn shapes_are_validated() {
        assert!(Shape::new(1, 8, 4096).is_ok());
        assert!(Shape::new(1, 4, 8).is_err());
        assert!(Shape::new(1, 8, 8192).is_err());
        assert!(Shape::new(1, 24, 8).is_err());
        assert!(Shape::new(0, 8, 8).is_err());
        assert!(Shape::new(1 << 20, 4096, 4096).is_err());
    }

    #[test]
    fn grids_split_past_the_axis_limit() {
        assert_eq!(grid(0), (1, 1));
        assert_eq!(grid(65_535), (65_535, 1));
        assert_eq!(grid(65_536), (65_535, 2));
    }
}
