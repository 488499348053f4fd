//! The PDE layer's WGSL pipelines (shaders/pde_weights.wgsl, shaders/pde_step.wgsl) on the
//! wgpu device burn uses.
//!
//! Data path today: inputs are uploaded from host memory and the result read back. Running on
//! burn's own tensor buffers (no host round trip) needs burn's `template` kernel API; until
//! then [`PdeShader::layer`] costs one upload of the coefficients and the input and one
//! read-back of the result per layer, the planes staying on the GPU between the passes.

use std::borrow::Cow;

use burn::tensor::wgpu::wgpu;
use wgpu::util::DeviceExt;

use super::pde_cpu::CpuPlanes;
use super::{floats, grid, read_mapped, GpuError};

const WORKGROUP: u32 = 256;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    count: u32,
    h: u32,
    w: u32,
    dt: f32,
    cfl: f32,
    _pad: [u32; 3],
}

/// The shader on the wgpu device burn was registered on in this process, built on first use;
/// `None` while burn runs on no wgpu device.
pub fn shared() -> Option<&'static PdeShader> {
    static SHADER: std::sync::OnceLock<PdeShader> = std::sync::OnceLock::new();
    if let Some(s) = SHADER.get() {
        return Some(s);
    }
    let (device, queue) = crate::engine::device::registered_wgpu()?;
    Some(SHADER.get_or_init(|| PdeShader::new(&device, &queue)))
}

/// Compiled pipelines of the coefficient and step passes.
pub struct PdeShader {
    device: wgpu::Device,
    queue: wgpu::Queue,
    weights: wgpu::ComputePipeline,
    step: wgpu::ComputePipeline,
}

/// Workgroups for `count` elements at one element per invocation (§4.7).
fn groups_for(count: usize) -> usize {
    count.div_ceil(WORKGROUP as usize)
}

/// Side of the step shader's square workgroups (16×16 elements of one plane).
pub(crate) const STEP_TILE: usize = 16;

/// The step pass's (columns, rows, planes) workgroup grid for `count` elements of `h × w`
/// planes. Planes beyond the 65,535 groups of one axis are refused by [`check_planes`].
pub(crate) fn step_grid(count: usize, h: usize, w: usize) -> (u32, u32, u32) {
    (
        w.div_ceil(STEP_TILE) as u32,
        h.div_ceil(STEP_TILE) as u32,
        (count / (h * w).max(1)) as u32,
    )
}

/// The step grid puts planes on one dispatch axis.
pub(crate) fn check_planes(count: usize, h: usize, w: usize) -> Result<(), GpuError> {
    let planes = count / (h * w).max(1);
    if planes > super::MAX_GROUPS_PER_AXIS || h * w == 0 || count % (h * w) != 0 {
        return Err(GpuError(format!(
            "PDE step: {count} elements are not at most {} planes of {h}×{w}",
            super::MAX_GROUPS_PER_AXIS
        )));
    }
    Ok(())
}

impl PdeShader {
    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue) -> Self {
        let pipeline = |src: &str, entry: &str| {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(entry),
                source: wgpu::ShaderSource::Wgsl(Cow::Owned(src.to_string())),
            });
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        Self {
            device: device.clone(),
            queue: queue.clone(),
            weights: pipeline(include_str!("../../shaders/pde_weights.wgsl"), "weights"),
            step: pipeline(include_str!("../../shaders/pde_step.wgsl"), "step"),
        }
    }

    fn storage(&self, data: &[f32], writable: bool) -> wgpu::Buffer {
        let mut usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        if writable {
            usage |= wgpu::BufferUsages::COPY_DST;
        }
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents: bytemuck::cast_slice(data),
                usage,
            })
    }

    fn uniform(&self, p: Params) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("pde params"),
                contents: bytemuck::bytes_of(&p),
                usage: wgpu::BufferUsages::UNIFORM,
            })
    }

    fn bind(&self, pipeline: &wgpu::ComputePipeline, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        })
    }

    fn read_back(&self, src: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>, GpuError> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("read back"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(src, 0, &staging, 0, bytes);
        self.queue.submit([enc.finish()]);
        read_mapped(&self.device, &staging)
    }

    /// Records the coefficient pass: returns the planes buffer (`7 × n`) and the counter.
    #[allow(clippy::too_many_arguments)]
    fn record_weights(
        &self,
        enc: &mut wgpu::CommandEncoder,
        coef: &[f32],
        f_buf: &wgpu::Buffer,
        n: usize,
        h: usize,
        w: usize,
        dt: f32,
        cfl: f32,
    ) -> (wgpu::Buffer, wgpu::Buffer) {
        let params = self.uniform(Params {
            count: n as u32,
            h: h as u32,
            w: w as u32,
            dt,
            cfl,
            _pad: [0; 3],
        });
        let coef_buf = self.storage(coef, false);
        let planes_buf = self.storage(&vec![0.0; 7 * n], true);
        let counter = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("cfl counter"),
                contents: bytemuck::bytes_of(&0u32),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            });
        let bg = self.bind(
            &self.weights,
            &[&params, &coef_buf, f_buf, &planes_buf, &counter],
        );
        let mut pass = enc.begin_compute_pass(&Default::default());
        pass.set_pipeline(&self.weights);
        pass.set_bind_group(0, &bg, &[]);
        let (gx, gy) = grid(groups_for(n));
        pass.dispatch_workgroups(gx, gy, 1);
        drop(pass);
        (planes_buf, counter)
    }

    /// Records `k ≥ 1` steps from `H^{−1} = H^0 = f` with three rotating state buffers;
    /// returns the buffer that holds `H^K`.
    #[allow(clippy::too_many_arguments)]
    fn record_steps(
        &self,
        enc: &mut wgpu::CommandEncoder,
        planes: &wgpu::Buffer,
        f: &wgpu::Buffer,
        n: usize,
        h: usize,
        w: usize,
        k: usize,
    ) -> wgpu::Buffer {
        let params = self.uniform(Params {
            count: n as u32,
            h: h as u32,
            w: w as u32,
            dt: 0.0,
            cfl: 0.0,
            _pad: [0; 3],
        });
        let zeros = vec![0.0f32; n];
        let states = [
            self.storage(&zeros, true),
            self.storage(&zeros, true),
            self.storage(&zeros, true),
        ];
        // Step 0 reads (f, f), step 1 (f, X), then the rotation (X, Y) -> Z, (Y, Z) -> X, ...
        let mut groups = vec![
            self.bind(&self.step, &[&params, planes, f, f, &states[0]]),
            self.bind(&self.step, &[&params, planes, f, &states[0], &states[1]]),
        ];
        for r in 0..3 {
            groups.push(self.bind(
                &self.step,
                &[
                    &params,
                    planes,
                    &states[r],
                    &states[(r + 1) % 3],
                    &states[(r + 2) % 3],
                ],
            ));
        }
        let (gx, gy, gz) = step_grid(n, h, w);
        let mut pass = enc.begin_compute_pass(&Default::default());
        pass.set_pipeline(&self.step);
        for s in 0..k {
            let bg = if s < 2 {
                &groups[s]
            } else {
                &groups[2 + (s - 2) % 3]
            };
            pass.set_bind_group(0, bg, &[]);
            pass.dispatch_workgroups(gx, gy, gz);
        }
        drop(pass);
        // Step s writes states[s % 3].
        let [a, b, c] = states;
        match (k - 1) % 3 {
            0 => a,
            1 => b,
            _ => c,
        }
    }

    /// The seven weight planes from `A_x, A_y, B_x, B_y` and the source `f` (each
    /// `planes × h × w`), with the CFL guard; returns the planes and the clamp count.
    #[allow(clippy::too_many_arguments)]
    pub fn weights(
        &self,
        ax: &[f32],
        ay: &[f32],
        bx: &[f32],
        by: &[f32],
        f: &[f32],
        h: usize,
        w: usize,
        dt: f32,
        cfl: f32,
    ) -> Result<(CpuPlanes, u64), GpuError> {
        let n = f.len();
        let coef: Vec<f32> = [ax, ay, bx, by].concat();
        let f_buf = self.storage(f, false);
        let mut enc = self.device.create_command_encoder(&Default::default());
        let (planes_buf, counter) = self.record_weights(&mut enc, &coef, &f_buf, n, h, w, dt, cfl);
        self.queue.submit([enc.finish()]);
        let planes = floats(&self.read_back(&planes_buf, (7 * n * 4) as u64)?);
        let clamped = self.read_count(&counter)?;
        let plane = |p: usize| planes[p * n..(p + 1) * n].to_vec();
        Ok((
            CpuPlanes {
                w_m: plane(0),
                w_c: plane(1),
                w_rp: plane(2),
                w_rm: plane(3),
                w_cp: plane(4),
                w_cm: plane(5),
                s: plane(6),
            },
            clamped,
        ))
    }

    fn read_count(&self, counter: &wgpu::Buffer) -> Result<u64, GpuError> {
        let b = self.read_back(counter, 4)?;
        Ok(u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
    }

    /// K steps from `H^{−1} = H^0 = h0`, all recorded in one command encoder with three
    /// rotating state buffers; returns `H^K`.
    pub fn integrate(
        &self,
        h0: &[f32],
        p: &CpuPlanes,
        h: usize,
        w: usize,
        k: usize,
    ) -> Result<Vec<f32>, GpuError> {
        let n = h0.len();
        if k == 0 {
            return Ok(h0.to_vec());
        }
        check_planes(n, h, w)?;
        let packed: Vec<f32> = [&p.w_m, &p.w_c, &p.w_rp, &p.w_rm, &p.w_cp, &p.w_cm, &p.s]
            .iter()
            .flat_map(|v| v.iter().copied())
            .collect();
        let planes = self.storage(&packed, false);
        let f = self.storage(h0, false);
        let mut enc = self.device.create_command_encoder(&Default::default());
        let last = self.record_steps(&mut enc, &planes, &f, n, h, w, k);
        self.queue.submit([enc.finish()]);
        Ok(floats(&self.read_back(&last, (n * 4) as u64)?))
    }

    /// A whole layer's integration: the coefficient pass and K steps in one submission, the
    /// planes staying on the GPU; returns `H^K` and the CFL clamp count. One upload (the
    /// coefficients and `f`) and one read-back.
    #[allow(clippy::too_many_arguments)]
    pub fn layer(
        &self,
        coef: &[f32],
        f: &[f32],
        h: usize,
        w: usize,
        dt: f32,
        cfl: f32,
        k: usize,
    ) -> Result<(Vec<f32>, u64), GpuError> {
        let n = f.len();
        check_planes(n, h, w)?;
        if coef.len() != 4 * n {
            return Err(GpuError(format!(
                "PDE layer: {} coefficients for {n} elements (need 4 per element)",
                coef.len()
            )));
        }
        let f_buf = self.storage(f, false);
        let mut enc = self.device.create_command_encoder(&Default::default());
        let (planes, counter) = self.record_weights(&mut enc, coef, &f_buf, n, h, w, dt, cfl);
        if k == 0 {
            self.queue.submit([enc.finish()]);
            return Ok((f.to_vec(), self.read_count(&counter)?));
        }
        let last = self.record_steps(&mut enc, &planes, &f_buf, n, h, w, k);
        self.queue.submit([enc.finish()]);
        Ok((
            floats(&self.read_back(&last, (n * 4) as u64)?),
            self.read_count(&counter)?,
        ))
    }
}
