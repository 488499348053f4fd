//! Restoring a whole photo: the network on the colour planes, everything else carried over.

use std::sync::atomic::AtomicBool;

use super::runner::{deblur_planes, Planes, TileEvent, TileModel, TileSettings};
use super::EngineError;
use crate::imaging::Photo;

/// Runs `model` over `photo` and returns the restored photo with the same alpha, EXIF, ICC,
/// bit depth and colour type as the input.
pub fn restore_photo(
    model: &dyn TileModel,
    photo: &Photo,
    settings: TileSettings,
    cancel: &AtomicBool,
    on_tile: &mut dyn FnMut(&TileEvent),
) -> Result<Photo, EngineError> {
    let rgb = deblur_planes(
        model,
        Planes {
            rgb: &photo.rgb,
            width: photo.width,
            height: photo.height,
        },
        settings,
        None,
        cancel,
        on_tile,
    )?;
    Ok(Photo {
        rgb,
        ..photo.clone()
    })
}
