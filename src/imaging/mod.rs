//! Decoding and encoding photos, colour curves and tiles.

pub mod color;
pub mod error;
pub mod exif;
pub mod load;
pub mod photo;
pub mod save;
pub mod tiles;

pub use error::ImagingError;
pub use load::{
    is_supported_extension, load, probe, LoadOptions, DEFAULT_MAX_MEGAPIXELS, SUPPORTED_EXTENSIONS,
};
pub use photo::{BitDepth, Photo};
pub use save::{check_output_path, save, OutputFormat, SaveOptions};
