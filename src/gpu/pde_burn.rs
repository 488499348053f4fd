//! The PDE layer's WGSL passes (shaders/pde_weights.wgsl, shaders/pde_step.wgsl) launched on
//! burn's own tensor buffers through burn's `template` kernel API: the coefficients, the
//! weight planes and the states never leave the GPU, and the kernels queue on burn's stream
//! after the ops that produced their inputs (no host round trip, no explicit sync).
//!
//! The shaders are the ones [`super::pde::PdeShader`] runs on raw wgpu; a template kernel's
//! bindings are all storage buffers and its entry point is `main`, so the bindings are
//! redeclared and the entry point renamed when the source is built ([`template_source`]).

use burn::backend::wgpu::{
    into_contiguous, CubeDim, CubeTensor, KernelSource, SourceKernel, SourceTemplate,
};
use burn::backend::Cube;
use burn::cubecl::prelude::KernelId;
use burn::cubecl::server::KernelArguments;
use burn::cubecl::CubeCount;
use burn::tensor::{DType, Shape, Tensor};

use super::{grid, GpuError};

const WORKGROUP: usize = 256;

/// WGSL of a template kernel from one of our shaders: every binding becomes a read-write
/// storage buffer and `entry` becomes `main`. burn suballocates tensors from shared pages, so
/// a read-only and a writable binding in one dispatch may be ranges of one wgpu buffer, which
/// wgpu refuses; read-write for all is what burn's own kernels declare.
fn template_source(src: &str, entry: &str) -> String {
    src.replace("var<uniform> params", "var<storage, read_write> params")
        .replace("var<storage, read>", "var<storage, read_write>")
        .replace(&format!("fn {entry}("), "fn main(")
}

struct WeightsKernel;
struct StepKernel;

impl KernelSource for WeightsKernel {
    fn source(&self) -> SourceTemplate {
        SourceTemplate::new(template_source(
            include_str!("../../shaders/pde_weights.wgsl"),
            "weights",
        ))
    }
    fn id(&self) -> KernelId {
        KernelId::new::<Self>()
    }
    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

impl KernelSource for StepKernel {
    fn source(&self) -> SourceTemplate {
        SourceTemplate::new(template_source(
            include_str!("../../shaders/pde_step.wgsl"),
            "step",
        ))
    }
    fn id(&self) -> KernelId {
        KernelId::new::<Self>()
    }
    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

/// The shaders' parameter block (matches `Params` in the WGSL).
fn params(count: usize, h: usize, w: usize, dt: f32, cfl: f32) -> [u32; 8] {
    [
        count as u32,
        h as u32,
        w as u32,
        dt.to_bits(),
        cfl.to_bits(),
        0,
        0,
        0,
    ]
}

/// burn's primitive of an f32 tensor on a wgpu device, contiguous.
pub(crate) fn cube<const D: usize>(x: Tensor<D>) -> Result<CubeTensor, GpuError> {
    let t = x
        .try_into_primitive::<Cube>()
        .map_err(|e| GpuError(format!("not a tensor on burn's wgpu device ({e:?})")))?;
    if t.dtype != DType::F32 {
        return Err(GpuError(format!("expected f32, got {:?}", t.dtype)));
    }
    Ok(into_contiguous(t))
}

fn empty_like(t: &CubeTensor, shape: Shape) -> CubeTensor {
    let bytes = shape.num_elements() * 4;
    CubeTensor::new_contiguous(
        t.client.clone(),
        t.device.clone(),
        shape,
        t.client.empty(bytes),
        DType::F32,
    )
}

fn count(groups: usize) -> CubeCount {
    let (x, y) = grid(groups);
    CubeCount::Static(x, y, 1)
}

/// `H^K` of the PDE layer and its CFL clamp count, on burn's buffers. `coef` is
/// `[4·N, C, H, W]` (the planes A_x, A_y, B_x, B_y stacked along the batch axis), `f` is
/// `[N, C, H, W]`; both on a wgpu device and outside any autodiff graph.
pub fn integrate_on_device(
    coef: Tensor<4>,
    f: Tensor<4>,
    dt: f32,
    cfl: f32,
    k: usize,
) -> Result<(Tensor<4>, Tensor<1>), GpuError> {
    let dims = f.dims();
    let [n, c, h, w] = dims;
    let count_el = n * c * h * w;
    let coef = cube(coef)?;
    let f = cube(f)?;
    if coef.meta.shape().num_elements() != 4 * count_el {
        return Err(GpuError(
            "PDE coefficients: need 4 planes per element".into(),
        ));
    }
    let client = f.client.clone();
    let groups = count(count_el.div_ceil(WORKGROUP));
    let dim = CubeDim::new_1d(WORKGROUP as u32);
    let upload = |p: [u32; 8]| client.create_from_slice(bytemuck::cast_slice(&p));

    let planes = empty_like(&f, Shape::new([7 * n, c, h, w]));
    let clamped = CubeTensor::new_contiguous(
        client.clone(),
        f.device.clone(),
        Shape::new([1]),
        client.create_from_slice(bytemuck::cast_slice(&[0u32])),
        DType::U32,
    );
    client.launch(
        Box::new(SourceKernel::new(WeightsKernel, dim)),
        groups.clone(),
        KernelArguments::new()
            .with_buffer(upload(params(count_el, h, w, dt, cfl)).binding())
            .with_buffer(coef.handle.clone().binding())
            .with_buffer(f.handle.clone().binding())
            .with_buffer(planes.handle.clone().binding())
            .with_buffer(clamped.handle.clone().binding()),
    );

    super::pde::check_planes(count_el, h, w)?;
    let (sx, sy, sz) = super::pde::step_grid(count_el, h, w);
    let step_count = CubeCount::Static(sx, sy, sz);
    let tile = super::pde::STEP_TILE as u32;
    let step_dim = CubeDim::new_2d(tile, tile);
    let step_params = upload(params(count_el, h, w, 0.0, 0.0));
    // H^{-1} = H^0 = f; each step writes a fresh buffer from burn's pool.
    let (mut prev, mut cur) = (f.clone(), f.clone());
    for _ in 0..k {
        let next = empty_like(&f, Shape::new(dims));
        client.launch(
            Box::new(SourceKernel::new(StepKernel, step_dim)),
            step_count.clone(),
            KernelArguments::new()
                .with_buffer(step_params.clone().binding())
                .with_buffer(planes.handle.clone().binding())
                .with_buffer(prev.handle.clone().binding())
                .with_buffer(cur.handle.clone().binding())
                .with_buffer(next.handle.clone().binding()),
        );
        prev = cur;
        cur = next;
    }
    let clamped = Tensor::<1, burn::tensor::Int>::from_primitive::<Cube>(clamped);
    Ok((Tensor::from_primitive::<Cube>(cur), clamped.float()))
}
