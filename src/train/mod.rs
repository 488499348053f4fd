//! Training and evaluation: synthetic blur, data, losses, metrics, checkpoints.

pub mod blur_ordering;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod loss;
pub mod metrics;
pub mod paired;
pub mod step;
pub mod synth;
pub mod trainer;
pub mod validation;
