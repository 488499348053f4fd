//! Errors a caller can trigger with bad inputs (photos, configuration, image sizes).

use std::fmt;

/// Why a sample or a blur could not be produced.
#[derive(Debug, Clone, PartialEq)]
pub enum SynthError {
    /// `make_sample` was given an empty photo list.
    NoPhotos,
    /// A photo's buffer does not match its size, or it has no pixels.
    InvalidPhoto { index: usize, reason: String },
    /// A `SynthConfig` field is out of range.
    InvalidConfig(String),
    /// Image or kernel dimensions passed to a blur function do not fit together.
    InvalidImage(String),
    /// The JPEG round trip failed inside the `image` crate.
    Jpeg(String),
}

impl fmt::Display for SynthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoPhotos => write!(f, "no training photos"),
            Self::InvalidPhoto { index, reason } => write!(f, "photo {index}: {reason}"),
            Self::InvalidConfig(msg) => write!(f, "invalid synth config: {msg}"),
            Self::InvalidImage(msg) => write!(f, "invalid image for blurring: {msg}"),
            Self::Jpeg(msg) => write!(f, "JPEG round trip failed: {msg}"),
        }
    }
}

impl std::error::Error for SynthError {}
