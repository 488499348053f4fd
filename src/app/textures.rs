//! Photos as GPU textures: split into chunks, because photos exceed the GPU's largest texture
//! side (often 8192) and because a finished tile then updates only the chunks it touches.

use egui::{Color32, ColorImage, TextureHandle, TextureOptions};

/// Side of one texture chunk in image pixels.
pub const CHUNK: usize = 2048;

/// Nearest when zoomed in (every image pixel a crisp square at 1:1 and above), linear when
/// zoomed out. egui-wgpu 0.37 gives textures a single mip level, so the mipmap mode asks for
/// nothing yet: far below 1:1, fine detail can alias (`photo_gpu.rs` samples the same way).
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

/// A photo on the GPU as a grid of textures.
pub struct TiledTexture {
    pub width: usize,
    pub height: usize,
    pub chunks: Vec<(egui::Rect, TextureHandle)>,
}

impl TiledTexture {
    /// Uploads prepared chunks; `name` labels them for egui's texture inspector.
    pub fn upload(
        ctx: &egui::Context,
        name: &str,
        width: usize,
        height: usize,
        images: Vec<ChunkImage>,
    ) -> Self {
        let chunks = images
            .into_iter()
            .map(|c| {
                let [w, h] = c.image.size;
                let rect = egui::Rect::from_min_size(
                    egui::pos2(c.x as f32, c.y as f32),
                    egui::vec2(w as f32, h as f32),
                );
                let tex = ctx.load_texture(format!("{name}@{},{}", c.x, c.y), c.image, OPTIONS);
                (rect, tex)
            })
            .collect();
        Self {
            width,
            height,
            chunks,
        }
    }

    /// Replaces the pixels of a region (image coordinates), chunk by chunk.
    pub fn update_region(&mut self, x0: usize, y0: usize, image: &ColorImage) {
        let [w, h] = image.size;
        for (rect, tex) in &mut self.chunks {
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
    fn dimming_darkens() {
        let rgb = vec![0.8f32; 3 * 4];
        let plain = region_image(&rgb, 2, 2, 0, 0, 2, 2, None);
        let dim = region_image(&rgb, 2, 2, 0, 0, 2, 2, Some(0.5));
        assert!(dim.pixels[0].r() < plain.pixels[0].r());
    }
}
