//! Restoring a whole photo: the network on the colour planes, everything else carried over.

use std::sync::atomic::AtomicBool;

use super::runner::{
    deblur_planes, deblur_planes_with_map, Planes, TileEvent, TileModel, TileSettings,
};
use super::EngineError;
use crate::analysis::blurmap::{self, BlurMap};
use crate::analysis::psf::PsfOptions;
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
    let rgb = deblur_planes(model, Planes::of(photo), settings, None, cancel, on_tile)?;
    Ok(Photo {
        rgb,
        ..photo.clone()
    })
}

/// Restores `photo` and returns its blur map with it: the routers' map (stitched across tiles)
/// when the model has routers, else one derived from the per-region PSF estimate of the photo
/// against its restoration (models.md §5.5, §8). The map's `source` says which.
pub fn restore_photo_with_map(
    model: &dyn TileModel,
    photo: &Photo,
    settings: TileSettings,
    cancel: &AtomicBool,
    on_tile: &mut dyn FnMut(&TileEvent),
) -> Result<(Photo, BlurMap), EngineError> {
    let restored =
        deblur_planes_with_map(model, Planes::of(photo), settings, None, cancel, on_tile)?;
    let map = match restored.blur_map {
        Some(values) => blurmap::from_routers(values, photo.width, photo.height),
        None => blurmap::from_psf(
            &photo.rgb,
            &restored.rgb,
            photo.width,
            photo.height,
            &PsfOptions::default(),
        )
        .map_err(|e| EngineError::Analysis(e.to_string()))?,
    };
    Ok((
        Photo {
            rgb: restored.rgb,
            ..photo.clone()
        },
        map,
    ))
}
