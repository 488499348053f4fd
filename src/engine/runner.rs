//! Tiled inference: split, run each tile, blend, clamp (models.md §11).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};

use super::map_leveling::SeamLeveler;
use super::EngineError;
use crate::imaging::tiles::{extract, Blender, Tile, TileGrid};
use crate::imaging::Photo;
use crate::nets::model::{ForwardOptions, Net};
use crate::nets::nafnet::PdeRun;

/// Something that restores one tile: planar `3 × h × w` sRGB in, same shape out.
pub trait TileModel {
    fn process(&self, tile: &[f32], width: usize, height: usize) -> Result<Vec<f32>, EngineError>;

    /// Restores a tile and, for models with routers, also returns the tile's router maps:
    /// planar `(1 + E) × h × w`, the blur degree (image pixels, models.md §5.5) and then each
    /// of [`expert_kernels`](Self::expert_kernels)' shares. Models without routers return
    /// `None`.
    fn process_with_map(
        &self,
        tile: &[f32],
        width: usize,
        height: usize,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>), EngineError> {
        Ok((self.process(tile, width, height)?, None))
    }

    /// The network pads its input to a multiple of this; the engine pads the whole image
    /// instead, so that every tile sees the image border the same way whatever the tile size.
    fn pad_multiple(&self) -> usize {
        1
    }

    /// Kernel sizes of the router's experts, in the order of the expert maps (none without
    /// routers).
    fn expert_kernels(&self) -> Vec<usize> {
        Vec::new()
    }
}

/// A network on a device.
pub struct NetRunner {
    pub net: Net,
    pub device: Device,
    /// PDE schedule at inference (ignored by models without PDE layers).
    pub pde: PdeRun,
}

fn read_back(t: Tensor<4>) -> Result<Vec<f32>, EngineError> {
    t.into_data()
        .try_to_vec::<f32>()
        .map_err(|e| EngineError::Inference(format!("{e:?}")))
}

impl NetRunner {
    fn run(
        &self,
        tile: &[f32],
        width: usize,
        height: usize,
        routes: bool,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>), EngineError> {
        let x = Tensor::<4>::from_data(
            TensorData::new(tile.to_vec(), [1, 3, height, width]),
            &self.device,
        );
        let out = self.net.forward(
            x,
            ForwardOptions {
                pde: self.pde,
                routes,
            },
        );
        // Degree and expert shares in one read-back.
        let planes = out.router.and_then(|r| {
            let degree = r.degree_map(height, width)?;
            Some(Tensor::cat(vec![degree, r.expert_maps(height, width)?], 1))
        });
        let map = match planes {
            Some(m) => Some(read_back(m)?),
            None => None,
        };
        Ok((read_back(out.image)?, map))
    }
}

impl TileModel for NetRunner {
    fn process(&self, tile: &[f32], width: usize, height: usize) -> Result<Vec<f32>, EngineError> {
        Ok(self.run(tile, width, height, false)?.0)
    }

    fn process_with_map(
        &self,
        tile: &[f32],
        width: usize,
        height: usize,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>), EngineError> {
        self.run(tile, width, height, self.net.has_routers())
    }

    fn pad_multiple(&self) -> usize {
        self.net.pad_multiple()
    }

    fn expert_kernels(&self) -> Vec<usize> {
        self.net.expert_kernels()
    }
}

/// Tile size and overlap; the defaults come from the model card.
#[derive(Clone, Copy, Debug)]
pub struct TileSettings {
    pub tile: usize,
    pub overlap: usize,
}

impl TileSettings {
    pub fn validate(&self) -> Result<(), EngineError> {
        if self.tile < 16 {
            return Err(EngineError::Settings(format!(
                "tile size {} is too small (at least 16)",
                self.tile
            )));
        }
        if self.overlap > self.tile / 2 {
            return Err(EngineError::Settings(format!(
                "overlap {} is more than half the tile size {}",
                self.overlap, self.tile
            )));
        }
        Ok(())
    }
}

/// A planar RGB image (`3 × height × width`, sRGB in [0,1]) to restore.
#[derive(Clone, Copy)]
pub struct Planes<'a> {
    pub rgb: &'a [f32],
    pub width: usize,
    pub height: usize,
}

impl<'a> Planes<'a> {
    /// The colour planes of a decoded photo.
    pub fn of(photo: &'a Photo) -> Self {
        Self {
            rgb: &photo.rgb,
            width: photo.width,
            height: photo.height,
        }
    }
}

/// Reported after each finished tile.
pub struct TileEvent<'a> {
    pub done: usize,
    pub total: usize,
    /// Where the tile lies, in the image padded to the network's multiple (clip to the photo).
    pub tile: &'a Tile,
    /// The restored tile (planar, unclamped), for progressive display.
    pub data: &'a [f32],
    /// The tile's blur-degree map (`h × w`), when one was asked for and the model has routers.
    pub blur_map: Option<&'a [f32]>,
    pub elapsed_s: f64,
}

/// A restored image and, when asked for and the model has routers, its router maps.
pub struct Restored {
    /// Planar `3 × height × width`, clamped to [0,1].
    pub rgb: Vec<f32>,
    /// `height × width`, row-major, in image pixels; blended across tiles like the image.
    pub blur_map: Option<Vec<f32>>,
    /// One `height × width` map per expert (kernel size, share in [0, 1]), blended alike;
    /// empty without routers.
    pub expert_maps: Vec<(usize, Vec<f32>)>,
}

/// Restores a planar RGB image tile by tile. Tiles nearest to `focus` (image pixels) run first;
/// `cancel` is checked between tiles. The result is clamped to [0,1] after blending.
pub fn deblur_planes(
    model: &dyn TileModel,
    image: Planes,
    settings: TileSettings,
    focus: Option<(f32, f32)>,
    cancel: &AtomicBool,
    on_tile: &mut dyn FnMut(&TileEvent),
) -> Result<Vec<f32>, EngineError> {
    deblur_tiles(model, image, settings, focus, cancel, on_tile, false).map(|r| r.rgb)
}

/// Like [`deblur_planes`], also stitching the router blur-degree map (models.md §5.5) with the
/// same tile weights as the image. `blur_map` is `None` for models without routers.
pub fn deblur_planes_with_map(
    model: &dyn TileModel,
    image: Planes,
    settings: TileSettings,
    focus: Option<(f32, f32)>,
    cancel: &AtomicBool,
    on_tile: &mut dyn FnMut(&TileEvent),
) -> Result<Restored, EngineError> {
    deblur_tiles(model, image, settings, focus, cancel, on_tile, true)
}

fn deblur_tiles(
    model: &dyn TileModel,
    image: Planes,
    settings: TileSettings,
    focus: Option<(f32, f32)>,
    cancel: &AtomicBool,
    on_tile: &mut dyn FnMut(&TileEvent),
    want_map: bool,
) -> Result<Restored, EngineError> {
    settings.validate()?;
    let Planes { rgb, width, height } = image;
    // Zero-pad right and bottom as the untiled network would (models.md §3.2), and keep tiles
    // a multiple of the network's padding so no tile is padded again.
    let m = model.pad_multiple().max(1);
    let (pw, ph) = (width.div_ceil(m) * m, height.div_ceil(m) * m);
    let tile = (settings.tile / m).max(1) * m;
    let padded;
    let rgb = if (pw, ph) == (width, height) {
        rgb
    } else {
        padded = pad_planes(rgb, 3, width, height, pw, ph);
        &padded[..]
    };
    let (width, height, full) = (pw, ph, (width, height));
    // Strides stay multiples of m, so every tile sees the network's downsampling grid in the
    // same phase as the untiled image would.
    let stride = ((tile - settings.overlap.min(tile / 2)) / m).max(1) * m;
    let overlap = tile - stride;
    let grid = TileGrid::new(width, height, tile, overlap, overlap / 4);
    let order = match focus {
        Some((x, y)) => grid.order_from(x, y),
        None => (0..grid.tiles.len()).collect(),
    };
    let mut blender = Blender::new(&grid, 3);
    // The map goes through the image's weights (models.md §11.2: analysis maps blend alike).
    // It is dropped if any tile comes back without one.
    let kernels = if want_map {
        model.expert_kernels()
    } else {
        Vec::new()
    };
    let map_planes = 1 + kernels.len();
    let mut map_blender = want_map.then(|| Blender::new(&grid, map_planes));
    // Joins the tiles' degree maps without seams (map_leveling.rs).
    let mut leveler = want_map.then(|| SeamLeveler::new(&grid));
    let start = Instant::now();
    for (done, &i) in order.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return Err(EngineError::Cancelled);
        }
        let tile = &grid.tiles[i];
        let input = extract(rgb, 3, width, height, tile);
        let (output, map) = if want_map {
            model.process_with_map(&input, tile.w, tile.h)?
        } else {
            (model.process(&input, tile.w, tile.h)?, None)
        };
        if output.len() != input.len() {
            return Err(EngineError::Inference(format!(
                "the model returned {} values for a {}x{} tile",
                output.len(),
                tile.w,
                tile.h
            )));
        }
        blender.add(tile, &output);
        match (&map, map_blender.as_mut()) {
            (Some(m), Some(b)) if m.len() == map_planes * tile.w * tile.h => {
                b.add(tile, m);
                if let Some(l) = leveler.as_mut() {
                    l.add(tile, &m[..tile.w * tile.h]);
                }
            }
            _ => map_blender = None,
        }
        on_tile(&TileEvent {
            done: done + 1,
            total: order.len(),
            tile,
            data: &output,
            blur_map: map.as_deref().map(|m| &m[..tile.w * tile.h]),
            elapsed_s: start.elapsed().as_secs_f64(),
        });
    }
    let (w0, h0) = full;
    let crop = |planes: Vec<f32>, channels: usize, clamp: bool| {
        let mut out = Vec::with_capacity(channels * w0 * h0);
        for c in 0..channels {
            for y in 0..h0 {
                let row = (c * height + y) * width;
                let src = &planes[row..row + w0];
                if clamp {
                    out.extend(src.iter().map(|v| v.clamp(0.0, 1.0)));
                } else {
                    out.extend_from_slice(src);
                }
            }
        }
        out
    };
    // The blender exists only if every tile gave all `map_planes` planes: degree first.
    let (blur_map, expert_maps) = match map_blender {
        Some(b) => {
            let mut planes = b.finish();
            // The degree plane comes first.
            if let Some(l) = &leveler {
                for (v, c) in planes.iter_mut().zip(l.correction(&grid)) {
                    *v += c;
                }
            }
            let mut degree = crop(planes, map_planes, false);
            let plane = w0 * h0;
            let experts = degree.split_off(plane);
            let experts = kernels
                .into_iter()
                .zip(experts.chunks(plane.max(1)).map(<[f32]>::to_vec))
                .collect();
            (Some(degree), experts)
        }
        None => (None, Vec::new()),
    };
    Ok(Restored {
        rgb: crop(blender.finish(), 3, true),
        blur_map,
        expert_maps,
    })
}

/// Zero-pads planar `channels × h × w` data on the right and bottom to `pw × ph`.
fn pad_planes(src: &[f32], channels: usize, w: usize, h: usize, pw: usize, ph: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; channels * pw * ph];
    for c in 0..channels {
        for y in 0..h {
            let s = (c * h + y) * w;
            let d = (c * ph + y) * pw;
            out[d..d + w].copy_from_slice(&src[s..s + w]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Identity;
    impl TileModel for Identity {
        fn process(&self, t: &[f32], _: usize, _: usize) -> Result<Vec<f32>, EngineError> {
            Ok(t.to_vec())
        }
    }

    #[test]
    fn cancel_stops_between_tiles() {
        let (w, h) = (100, 100);
        let img = vec![0.5f32; 3 * w * h];
        let cancel = AtomicBool::new(false);
        let mut seen = 0;
        let result = deblur_planes(
            &Identity,
            Planes {
                rgb: &img,
                width: w,
                height: h,
            },
            TileSettings {
                tile: 32,
                overlap: 8,
            },
            None,
            &cancel,
            &mut |e| {
                seen = e.done;
                if e.done == 2 {
                    cancel.store(true, Ordering::Relaxed);
                }
            },
        );
        assert!(matches!(result, Err(EngineError::Cancelled)));
        assert_eq!(seen, 2);
    }

    #[test]
    fn progress_counts_every_tile_and_output_is_clamped() {
        let (w, h) = (70, 50);
        let img: Vec<f32> = (0..3 * w * h)
            .map(|i| (i % 13) as f32 / 6.0 - 0.5)
            .collect();
        let cancel = AtomicBool::new(false);
        let expected = TileGrid::new(w, h, 32, 8, 2).tiles.len();
        assert!(expected > 1);
        let mut events = 0;
        let out = deblur_planes(
            &Identity,
            Planes {
                rgb: &img,
                width: w,
                height: h,
            },
            TileSettings {
                tile: 32,
                overlap: 8,
            },
            Some((0.0, 0.0)),
            &cancel,
            &mut |e| {
                events += 1;
                assert_eq!(e.total, expected);
            },
        )
        .expect("identity run");
        assert_eq!(events, expected);
        for (a, b) in img.iter().zip(&out) {
            assert!((a.clamp(0.0, 1.0) - b).abs() < 1e-5);
        }
    }

    struct PaddedIdentity;
    impl TileModel for PaddedIdentity {
        fn process(&self, t: &[f32], w: usize, h: usize) -> Result<Vec<f32>, EngineError> {
            assert!(w % 16 == 0 && h % 16 == 0, "tile {w}x{h} not padded");
            Ok(t.to_vec())
        }
        fn pad_multiple(&self) -> usize {
            16
        }
    }

    #[test]
    fn image_is_padded_once_and_cropped_back() {
        for (w, h, tile) in [(37, 53, 384), (301, 203, 100), (1, 40, 64)] {
            let img: Vec<f32> = (0..3 * w * h).map(|i| (i % 101) as f32 / 100.0).collect();
            let cancel = AtomicBool::new(false);
            let s = TileSettings { tile, overlap: 16 };
            let out = deblur_planes(
                &PaddedIdentity,
                Planes {
                    rgb: &img,
                    width: w,
                    height: h,
                },
                s,
                None,
                &cancel,
                &mut |_| {},
            )
            .expect("runs");
            assert_eq!(out.len(), img.len());
            assert!(
                img.iter().zip(&out).all(|(a, b)| (a - b).abs() < 1e-6),
                "{w}x{h}"
            );
        }
    }

    #[test]
    fn overlap_above_half_a_tile_is_refused() {
        let s = TileSettings {
            tile: 64,
            overlap: 40,
        };
        assert!(s.validate().is_err());
    }

    /// A model whose degree map is one value per tile, from the whole tile's mean (as a
    /// network with global pooling gives).
    struct PooledMap;
    impl TileModel for PooledMap {
        fn process(&self, t: &[f32], _: usize, _: usize) -> Result<Vec<f32>, EngineError> {
            Ok(t.to_vec())
        }
        fn process_with_map(
            &self,
            t: &[f32],
            w: usize,
            h: usize,
        ) -> Result<(Vec<f32>, Option<Vec<f32>>), EngineError> {
            let red = &t[..w * h];
            let level = 40.0 * red.iter().sum::<f32>() / red.len() as f32;
            Ok((t.to_vec(), Some(vec![level; w * h])))
        }
    }

    #[test]
    fn tile_levels_are_kept_at_tile_centres_and_interpolated_between() {
        let (w, h) = (300, 200);
        let mut img = vec![0.2f32; 3 * w * h];
        for y in 0..h {
            for x in 0..w {
                img[y * w + x] = 0.5 + 0.4 * ((x as f32 / 37.0).sin() * (y as f32 / 23.0).cos());
            }
        }
        let settings = TileSettings {
            tile: 96,
            overlap: 32,
        };
        let mut tiles = Vec::new();
        let restored = deblur_planes_with_map(
            &PooledMap,
            Planes {
                rgb: &img,
                width: w,
                height: h,
            },
            settings,
            None,
            &AtomicBool::new(false),
            &mut |e| tiles.push((e.tile.clone(), e.blur_map.expect("a map")[0])),
        )
        .expect("runs");
        let map = restored.blur_map.expect("a map");
        let levels: Vec<f32> = tiles.iter().map(|(_, l)| *l).collect();
        let spread = levels.iter().cloned().fold(f32::MIN, f32::max)
            - levels.iter().cloned().fold(f32::MAX, f32::min);
        assert!(spread > 3.0, "the setup has levels to join: {levels:?}");
        // Each tile's value holds at its centre.
        for (t, l) in &tiles {
            let (cx, cy) = (t.x + t.w / 2, t.y + t.h / 2);
            let v = map[cy * w + cx];
            assert!(
                (v - l).abs() < 0.05 * spread,
                "tile at ({}, {}): {v} vs {l}",
                t.x,
                t.y
            );
        }
        // Between centres no step is steeper than the linear ramp between two neighbouring
        // levels (the last tiles are aligned to the border, so spacings differ); the image's
        // 8-px blend ramps would be several times steeper.
        let mut steepest_neighbours = 0.0f32;
        for (a, la) in &tiles {
            let row_next = tiles
                .iter()
                .filter(|(b, _)| b.y == a.y && b.x > a.x)
                .min_by_key(|(b, _)| b.x);
            let col_next = tiles
                .iter()
                .filter(|(b, _)| b.x == a.x && b.y > a.y)
                .min_by_key(|(b, _)| b.y);
            if let Some((b, lb)) = row_next {
                steepest_neighbours = steepest_neighbours.max((la - lb).abs() / (b.x - a.x) as f32);
            }
            if let Some((b, lb)) = col_next {
                steepest_neighbours = steepest_neighbours.max((la - lb).abs() / (b.y - a.y) as f32);
            }
        }
        let mut steepest = 0.0f32;
        for y in 1..h {
            for x in 1..w {
                let v = map[y * w + x];
                steepest = steepest.max((v - map[y * w + x - 1]).abs());
                steepest = steepest.max((v - map[(y - 1) * w + x]).abs());
            }
        }
        assert!(
            steepest <= steepest_neighbours * 1.01 + 1e-4,
            "steepest step {steepest} vs {steepest_neighbours} between centres"
        );
    }
}
