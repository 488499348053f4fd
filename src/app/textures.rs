//! Photos as GPU textures: split into chunks, because photos exceed the GPU's largest texture
//! side (often 8192) and because a finished tile then updates only the chunks it touches. Each
//! photo also has halved copies (`pyramid.rs`) for drawing it zoomed out without aliasing.

use egui::{Color32, ColorImage, TextureHandle, TextureOptions};

use super::pyramid::{self, Level};

/// Side of one texture chunk in image pixels.
pub const CHUNK: usize = 2048;

/// Nearest when zoomed in (every image pixel a crisp square at 1:1 and above), linear when
/// zoomed out. egui-wgpu 0.37 gives textures a single mip level, so the mipmap mode asks for
/// nothing; the halved levels of [`Pyramid`] keep minification within 2× instead
/// (`photo_gpu.rs` samples the same way).
pub const OPTIONS: TextureOptions = TextureOptions {
    magnification: egui::TextureFilter::Nearest,
    minification: egui::TextureFilter::Linear,
    wrap_mode: egui::TextureWrapMode::ClampToEdge,
    mipmap_mode: Some(egui::TextureFilter::Linear),
};

/// One chunk's pixels and where it goes, prepared off the GUI thread.
pub struct ChunkImage {
    pub x: usize,
    pub y: usize,
    pub image: ColorImage,
}

/// Texture chunks of a photo at each level: level 0 is the photo, level k the photo halved k
/// times (`pyramid.rs`); chunk positions are in that level's pixels.
pub struct Pyramid {
    pub levels: Vec<Vec<ChunkImage>>,
}

impl Pyramid {
    /// The photo alone, for images that change tile by tile or are smooth anyway.
    pub fn single(chunks: Vec<ChunkImage>) -> Self {
        Self {
            levels: vec![chunks],
        }
    }

    /// Planar sRGB `3 × h × w` in [0,1] with all its levels.
    pub fn of_planes(rgb: &[f32], width: usize, height: usize) -> Self {
        let plane = width * height;
        let at = |x: usize, y: usize| srgb_pixel(rgb, plane, y * width + x, None);
        let mut levels = vec![chunk_images(rgb, width, height, None)];
        levels.extend(pyramid::levels(width, height, at).iter().map(level_chunks));
        Self { levels }
    }
}

/// One level's pixels in chunks.
fn level_chunks(level: &Level) -> Vec<ChunkImage> {
    let mut out = Vec::new();
    for y0 in (0..level.height).step_by(CHUNK) {
        for x0 in (0..level.width).step_by(CHUNK) {
            let (w, h) = (CHUNK.min(level.width - x0), CHUNK.min(level.height - y0));
            let mut pixels = Vec::with_capacity(w * h);
            for y in y0..y0 + h {
                let row = &level.pixels[y * level.width + x0..y * level.width + x0 + w];
                pixels.extend(row.iter().map(|&p| pyramid::encode(p)));
            }
            out.push(ChunkImage {
                x: x0,
                y: y0,
                image: ColorImage::new([w, h], pixels),
            });
        }
    }
    out
}

/// Planar sRGB `3 × h × w` in [0,1] to 8-bit colour, in chunks. `dim` < 1 darkens and
/// desaturates (the "not restored yet" look of the after view).
pub fn chunk_images(rgb: &[f32], width: usize, height: usize, dim: Option<f32>) -> Vec<ChunkImage> {
    let mut out = Vec::new();
    for y0 in (0..height).step_by(CHUNK) {
        for x0 in (0..width).step_by(CHUNK) {
            let (w, h) = (CHUNK.min(width - x0), CHUNK.min(height - y0));
            out.push(ChunkImage {
                x: x0,
                y: y0,
                image: region_image(rgb, width, height, x0, y0, w, h, dim),
            });
        }
    }
    out
}

/// A `w × h` region of planar sRGB as a colour image.
#[allow(clippy::too_many_arguments)]
pub fn region_image(
    rgb: &[f32],
    width: usize,
    height: usize,
    x0: usize,
    y0: usize,
    w: usize,
    h: usize,
    dim: Option<f32>,
) -> ColorImage {
    let plane = width * height;
    let mut pixels = Vec::with_capacity(w * h);
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            pixels.push(srgb_pixel(rgb, plane, y * width + x, dim));
        }
    }
    ColorImage::new([w, h], pixels)
}

/// Pixel `i` of planar sRGB as a colour, dimmed as in [`chunk_images`].
fn srgb_pixel(rgb: &[f32], plane: usize, i: usize, dim: Option<f32>) -> Color32 {
    let to8 = |v: f32| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
    let (r, g, b) = (rgb[i], rgb[plane + i], rgb[2 * plane + i]);
    match dim {
        None => Color32::from_rgb(to8(r), to8(g), to8(b)),
        Some(d) => {
            let grey = 0.299 * r + 0.587 * g + 0.114 * b;
            let mix = |c: f32| to8(d * (0.35 * c + 0.65 * grey));
            Color32::from_rgb(mix(r), mix(g), mix(b))
        }
    }
}

/// A photo on the GPU as a grid of textures per level.
pub struct TiledTexture {
    pub width: usize,
    pub height: usize,
    /// Each level's chunks, level 0 first, each with the rect it covers in photo pixels (a
    /// level's odd last column or row reaches half a level pixel past the photo).
    levels: Vec<Vec<(egui::Rect, TextureHandle)>>,
    /// How many levels, from 0, show the current pixels: tile updates reach level 0 only.
    current: usize,
}

impl TiledTexture {
    /// Uploads prepared chunks; `name` labels them for egui's texture inspector.
    pub fn upload(
        ctx: &egui::Context,
        name: &str,
        width: usize,
        height: usize,
        images: Pyramid,
    ) -> Self {
        let levels: Vec<Vec<_>> = images
            .levels
            .into_iter()
            .enumerate()
            .map(|(k, chunks)| {
                let scale = (1u64 << k) as f32;
                chunks
                    .into_iter()
                    .map(|c| {
                        let [w, h] = c.image.size;
                        let rect = egui::Rect::from_min_size(
                            egui::pos2(c.x as f32, c.y as f32) * scale,
                            egui::vec2(w as f32, h as f32) * scale,
                        );
                        let label = format!("{name}/{k}@{},{}", c.x, c.y);
                        (rect, ctx.load_texture(label, c.image, OPTIONS))
                    })
                    .collect()
            })
            .collect();
        Self {
            width,
            height,
            current: levels.len(),
            levels,
        }
    }

    /// The photo's own chunks (level 0).
    pub fn chunks(&self) -> &[(egui::Rect, TextureHandle)] {
        self.levels.first().map_or(&[], |l| l.as_slice())
    }

    /// The chunks to draw when one physical screen pixel spans `image_pixels` photo pixels.
    pub fn chunks_for(&self, image_pixels: f32) -> &[(egui::Rect, TextureHandle)] {
        let k = pyramid::level_for(image_pixels, self.current.min(self.levels.len()));
        self.levels.get(k).map_or(&[], |l| l.as_slice())
    }

    /// Replaces the pixels of a region (image coordinates), chunk by chunk. Only level 0
    /// changes; the halved levels are dropped from drawing until the next upload.
    pub fn update_region(&mut self, x0: usize, y0: usize, image: &ColorImage) {
        self.current = 1;
        let [w, h] = image.size;
        let Some(chunks) = self.levels.first_mut() else {
            return;
        };
        for (rect, tex) in chunks {
            let (cx, cy) = (rect.min.x as usize, rect.min.y as usize);
            let (cw, ch) = (rect.width() as usize, rect.height() as usize);
            let (ix0, iy0) = (x0.max(cx), y0.max(cy));
            let (ix1, iy1) = ((x0 + w).min(cx + cw), (y0 + h).min(cy + ch));
            if ix0 >= ix1 || iy0 >= iy1 {
                continue;
            }
            let mut pixels = Vec::with_capacity((ix1 - ix0) * (iy1 - iy0));
            for y in iy0..iy1 {
                let row = (y - y0) * w;
                pixels.extend_from_slice(&image.pixels[row + ix0 - x0..row + ix1 - x0]);
            }
            let part = ColorImage::new([ix1 - ix0, iy1 - iy0], pixels);
            tex.set_partial([ix0 - cx, iy0 - cy], part, OPTIONS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_image_exactly_once() {
        let (w, h) = (CHUNK + 5, 7);
        let rgb: Vec<f32> = (0..3 * w * h).map(|i| (i % 256) as f32 / 255.0).collect();
        let chunks = chunk_images(&rgb, w, h, None);
        assert_eq!(chunks.len(), 2);
        let area: usize = chunks
            .iter()
            .map(|c| c.image.size[0] * c.image.size[1])
            .sum();
        assert_eq!(area, w * h);
        // A pixel of the second chunk keeps its value.
        let (x, y) = (CHUNK + 3, 4);
        let c = &chunks[1].image;
        let px = c.pixels[y * c.size[0] + (x - CHUNK)];
        let expected = (rgb[y * w + x] * 255.0 + 0.5) as u8;
        assert_eq!(px.r(), expected);
    }

    #[test]
    fn halved_levels_are_drawn_zoomed_out_until_a_tile_changes_the_photo() {
        let (w, h) = (300, 130);
        let rgb: Vec<f32> = (0..3 * w * h).map(|i| (i % 7) as f32 / 7.0).collect();
        let ctx = egui::Context::default();
        let mut tex = TiledTexture::upload(&ctx, "t", w, h, Pyramid::of_planes(&rgb, w, h));
        // Levels 150×65, 75×33, 38×17: each level's one chunk covers the photo and its odd
        // rest.
        let drawn = |tex: &TiledTexture, s: f32| tex.chunks_for(s)[0].0;
        let full = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(300.0, 130.0));
        assert_eq!(drawn(&tex, 1.0), full);
        assert_eq!(drawn(&tex, 2.5), full);
        assert_eq!(drawn(&tex, 4.0).max, egui::pos2(300.0, 132.0));
        assert_eq!(drawn(&tex, 100.0).max, egui::pos2(304.0, 136.0));
        assert!(tex.chunks_for(4.0)[0].1.id() != tex.chunks()[0].1.id());
        // A tile reaches level 0 only, so zoomed out the photo itself is drawn again.
        let tile = ColorImage::new([2, 2], vec![Color32::RED; 4]);
        tex.update_region(10, 10, &tile);
        assert_eq!(tex.chunks_for(4.0)[0].1.id(), tex.chunks()[0].1.id());
    }

    #[test]
    fn dimming_darkens() {
        let rgb = vec![0.8f32; 3 * 4];
        let plain = region_image(&rgb, 2, 2, 0, 0, 2, 2, None);
        let dim = region_image(&rgb, 2, 2, 0, 0, 2, 2, Some(0.5));
        assert!(dim.pixels[0].r() < plain.pixels[0].r());
    }
}
