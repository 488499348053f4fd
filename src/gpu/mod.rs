//! GPU work of our own and its CPU references (the references run on the CPU backend).

pub mod fft;
pub mod fft_cpu;
pub mod pde;
pub mod pde_cpu;

/// A failure of our GPU pipelines.
#[derive(Debug, thiserror::Error)]
#[error("GPU: {0}")]
pub struct GpuError(pub String);
