//! Photos as GPU textures: split into chunks, because photos exceed the GPU's largest texture
//! side (often 8192) and because a finished tile then updates only the chunks it touches. Each
//! photo also has halved copies (`pyramid.rs`) for drawing it zoomed out without aliasing.

use egui::{Color32, ColorImage, Rect, TextureHandle, TextureOptions};

use super::pyramid::{self, Canvas, Patch};

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

/// Texture chunks of an image at each level: level 0 is the image, level k the image halved k
/// times (`pyramid.rs`); chunk positions are in that level's pixels.
pub struct Pyramid {
    pub levels: Vec<Vec<ChunkImage>>,
}

impl Pyramid {
    /// The image alone, for images that are smooth anyway (the blur maps).
    pub fn single(chunks: Vec<ChunkImage>) -> Self {
        Self {
            levels: vec![chunks],
        }
    }

    /// Each of `levels`, cut into chunks.
    pub fn of_levels(levels: &[ColorImage]) -> Self {
        Self {
            levels: levels.iter().map(image_chunks).collect(),
        }
    }

    /// Planar sRGB `3 × h × w` in [0,1] and all its levels.
    pub fn of_planes(rgb: &[f32], width: usize, height: usize) -> Self {
        let image = region_image(rgb, width, height, 0, 0, width, height, None);
        Self::of_levels(Canvas::new(image).levels())
    }
}

/// `image` cut into chunks.
pub fn image_chunks(image: &ColorImage) -> Vec<ChunkImage> {
    let [width, height] = image.size;
    let mut out = Vec::new();
    for y0 in (0..height).step_by(CHUNK) {
        for x0 in (0..width).step_by(CHUNK) {
            let (x1, y1) = ((x0 + CHUNK).min(width), (y0 + CHUNK).min(height));
            out.push(ChunkImage {
                x: x0,
                y: y0,
                image: pyramid::crop(image, x0..x1, y0..y1),
            });
        }
    }
    out
}

/// A `w × h` region of planar sRGB as a colour image. `dim` < 1 darkens and desaturates (the
/// "not restored yet" look of the after view).
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
    let to8 = |v: f32| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
    let mut pixels = Vec::with_capacity(w * h);
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            let i = y * width + x;
            let (r, g, b) = (rgb[i], rgb[plane + i], rgb[2 * plane + i]);
            pixels.push(match dim {
                None => Color32::from_rgb(to8(r), to8(g), to8(b)),
                Some(d) => {
                    let grey = 0.299 * r + 0.587 * g + 0.114 * b;
                    let mix = |c: f32| to8(d * (0.35 * c + 0.65 * grey));
                    Color32::from_rgb(mix(r), mix(g), mix(b))
                }
            });
        }
    }
    ColorImage::new([w, h], pixels)
}

/// A photo on the GPU as a grid of textures per level.
pub struct TiledTexture {
    pub width: usize,
    pub height: usize,
    /// Each level's chunks, level 0 first, with the rects they cover in that level's pixels
    /// (level k's pixels are 2^k photo pixels across).
    levels: Vec<Vec<(Rect, TextureHandle)>>,
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
        let levels = images
            .levels
            .into_iter()
            .enumerate()
            .map(|(k, chunks)| {
                chunks
                    .into_iter()
                    .map(|c| {
                        let [w, h] = c.image.size;
                        let rect = Rect::from_min_size(
                            egui::pos2(c.x as f32, c.y as f32),
                            egui::vec2(w as f32, h as f32),
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
            levels,
        }
    }

    /// The chunks to draw when one physical screen pixel spans `image_pixels` photo pixels,
    /// with the rects they cover in photo pixels (a halved level's odd last column or row
    /// reaches half a level pixel past the photo).
    pub fn chunks_for(&self, image_pixels: f32) -> impl Iterator<Item = (Rect, &TextureHandle)> {
        let k = pyramid::level_for(image_pixels, self.levels.len());
        let scale = (1u64 << k) as f32;
        self.levels
            .get(k)
            .into_iter()
            .flatten()
            .map(move |(r, tex)| (Rect::from_min_max(r.min * scale, r.max * scale), tex))
    }

    /// The photo's own chunks (level 0).
    pub fn chunks(&self) -> impl Iterator<Item = (Rect, &TextureHandle)> {
        self.chunks_for(1.0)
    }

    /// Replaces the pixels of a region of one level, chunk by chunk.
    pub fn update(&mut self, patch: &Patch) {
        let Some(level) = self.levels.get_mut(patch.level) else {
            return;
        };
        let (x0, y0, image) = (patch.x, patch.y, &patch.image);
        let [w, h] = image.size;
        for (rect, tex) in level {
            let (cx, cy) = (rect.min.x as usize, rect.min.y as usize);
            let (cw, ch) = (rect.width() as usize, rect.height() as usize);
            let (ix0, iy0) = (x0.max(cx), y0.max(cy));
            let (ix1, iy1) = ((x0 + w).min(cx + cw), (y0 + h).min(cy + ch));
            if ix0 >= ix1 || iy0 >= iy1 {
                continue;
            }
            let part = pyramid::crop(image, ix0 - x0..ix1 - x0, iy0 - y0..iy1 - y0);
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
        let chunks = image_chunks(&region_image(&rgb, w, h, 0, 0, w, h, None));
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
    fn zoomed_out_draws_use_the_halved_levels_and_patches_reach_theirs() {
        let (w, h) = (300, 130);
        let rgb: Vec<f32> = (0..3 * w * h).map(|i| (i % 7) as f32 / 7.0).collect();
        let ctx = egui::Context::default();
        let mut tex = TiledTexture::upload(&ctx, "t", w, h, Pyramid::of_planes(&rgb, w, h));
        // Levels 150×65, 75×33, 38×17: each level's one chunk covers the photo and its odd
        // rest.
        let drawn = |tex: &TiledTexture, s: f32| {
            let chunks: Vec<_> = tex.chunks_for(s).map(|(r, t)| (r, t.id())).collect();
            assert_eq!(chunks.len(), 1);
            chunks[0]
        };
        let full = Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(300.0, 130.0));
        assert_eq!(drawn(&tex, 1.0).0, full);
        assert_eq!(drawn(&tex, 2.5).0, full);
        assert_eq!(drawn(&tex, 4.0).0.max, egui::pos2(300.0, 132.0));
        assert_eq!(drawn(&tex, 100.0).0.max, egui::pos2(304.0, 136.0));
        let level1 = drawn(&tex, 2.5).1;
        assert_ne!(level1, drawn(&tex, 1.0).1);
        // A patch of level 1 goes to level 1's texture, at its place there.
        let _uploads = ctx.tex_manager().write().take_delta();
        let image = ColorImage::new([5, 4], vec![Color32::RED; 20]);
        tex.update(&Patch {
            level: 1,
            x: 70,
            y: 10,
            image,
        });
        let delta = ctx.tex_manager().write().take_delta();
        assert_eq!(delta.set.len(), 1);
        let d = &delta.set[&level1][0];
        assert_eq!(d.pos, Some([70, 10]));
        assert_eq!(d.image.size(), [5, 4]);
    }

    #[test]
    fn dimming_darkens() {
        let rgb = vec![0.8f32; 3 * 4];
        let plain = region_image(&rgb, 2, 2, 0, 0, 2, 2, None);
        let dim = region_image(&rgb, 2, 2, 0, 0, 2, 2, Some(0.5));
        assert!(dim.pixels[0].r() < plain.pixels[0].r());
    }
}
