//! GPU work of our own and its CPU references (the references run on the CPU backend).

pub mod fft;
pub mod fft_cpu;
pub mod pde;
pub mod pde_burn;
pub mod pde_cpu;

/// A failure of our GPU pipelines.
#[derive(Debug, thiserror::Error)]
#[error("GPU: {0}")]
pub struct GpuError(pub String);

use burn::tensor::wgpu::wgpu;

/// Most workgroups one dispatch axis takes (WebGPU's default limit).
pub(crate) const MAX_GROUPS_PER_AXIS: usize = 65_535;

/// Dispatch grid for `groups` workgroups: 1-D, or 2-D past the per-axis limit. Shaders
/// recover the flat index as `(wg.y · num_wg.x + wg.x)`.
pub(crate) fn grid(groups: usize) -> (u32, u32) {
    if groups <= MAX_GROUPS_PER_AXIS {
        (groups.max(1) as u32, 1)
    } else {
        (
            MAX_GROUPS_PER_AXIS as u32,
            groups.div_ceil(MAX_GROUPS_PER_AXIS) as u32,
        )
    }
}

/// Little-endian bytes to f32 (a mapped range has no f32 alignment guarantee).
pub(crate) fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Maps a `MAP_READ` buffer whose copy was already submitted, waits for the GPU and returns
/// its bytes.
pub(crate) fn read_mapped(
    device: &wgpu::Device,
    staging: &wgpu::Buffer,
) -> Result<Vec<u8>, GpuError> {
    let (tx, rx) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        let _ = tx.send(r);
    });
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| GpuError(format!("waiting for the GPU: {e}")))?;
    rx.recv()
        .map_err(|_| GpuError("read-back callback never ran".into()))?
        .map_err(|e| GpuError(format!("mapping the result: {e}")))?;
    let view = staging
        .get_mapped_range(..)
        .map_err(|e| GpuError(format!("mapping the result: {e}")))?;
    Ok(view.to_vec())
}
