//! A deblur job: model + device + tiling + progress + cancel -> restored image.

pub mod batch;
#[cfg(test)]
mod default_model_tests;
pub mod device;
pub mod job;
pub mod map_leveling;
pub mod prepare;
pub mod runner;
#[cfg(test)]
pub(crate) mod test_util;

pub use device::{select_device, ComputeDevice, DeviceChoice};
pub use job::{restore_photo, restore_photo_with_map};
pub use runner::{
    deblur_planes, deblur_planes_with_map, NetRunner, Planes, Restored, TileEvent, TileModel,
    TileSettings,
};

/// Errors of a deblur job.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Device(String),
    #[error("cancelled")]
    Cancelled,
    #[error("tile settings: {0}")]
    Settings(String),
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("blur map: {0}")]
    Analysis(String),
}
