//! Where the project's own kernels (the FKE's FFTs, the PDE layers' iterations) run: burn's
//! tensor ops (differentiable, used for training), the plain-Rust references on the host (the
//! CPU inference path), or the WGSL shaders on the wgpu device burn was registered on.

use burn::tensor::{Device, Tensor, TensorData};

/// A module's choice of implementation for its own kernels; not a parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KernelPath {
    /// burn tensor ops on the tensors' own device: differentiable, any backend.
    #[default]
    Tensor,
    /// The plain-Rust references (`gpu::fft_cpu`, `gpu::pde_cpu`) on the host, rayon inside.
    Cpu,
    /// The WGSL pipelines (`gpu::fft`, `gpu::pde`) on burn's registered wgpu device.
    Wgsl,
}

impl KernelPath {
    /// The inference path for a device: WGSL beside burn on a GPU, the references on the CPU.
    pub fn for_device(is_gpu: bool) -> Self {
        if is_gpu {
            Self::Wgsl
        } else {
            Self::Cpu
        }
    }
}

/// A tensor's values on the host (empty if they cannot be read as f32).
pub(crate) fn host<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    x.into_data()
        .convert::<f32>()
        .try_to_vec()
        .unwrap_or_default()
}

pub(crate) fn tensor<const D: usize>(
    values: Vec<f32>,
    shape: [usize; D],
    device: &Device,
) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}
