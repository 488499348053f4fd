//! The decoded photo as the engine sees it, and its conversions to and from `image` buffers.

use image::{DynamicImage, ImageBuffer, Luma, LumaA, Pixel, Rgb, Rgba};

/// Bits per channel of a source or an output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BitDepth {
    Eight,
    Sixteen,
}

/// A decoded photo with its orientation applied.
#[derive(Clone)]
pub struct Photo {
    pub width: usize,
    pub height: usize,
    /// Planar CHW, `3 × height × width`, sRGB-encoded in [0, 1]; grey sources are replicated
    /// into the three planes.
    pub rgb: Vec<f32>,
    /// `height × width` in [0, 1], passed through the pipeline untouched.
    pub alpha: Option<Vec<f32>>,
    /// The source had no colour channels; it is saved grey again.
    pub grayscale: bool,
    /// Of the source: 8, or 16 for 16-bit and floating-point sources.
    pub bit_depth: BitDepth,
    /// Raw EXIF (TIFF structure, no `Exif\0\0` prefix) with the orientation reset to 1.
    pub exif: Option<Vec<u8>>,
    /// ICC profile bytes, carried as they are.
    pub icc: Option<Vec<u8>>,
}

// By hand: a derived Debug would print hundreds of millions of samples.
impl std::fmt::Debug for Photo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Photo")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("alpha", &self.alpha.is_some())
            .field("grayscale", &self.grayscale)
            .field("bit_depth", &self.bit_depth)
            .field("exif_bytes", &self.exif.as_ref().map(Vec::len))
            .field("icc_bytes", &self.icc.as_ref().map(Vec::len))
            .finish()
    }
}

impl Photo {
    /// Number of pixels.
    pub fn pixels(&self) -> usize {
        self.width * self.height
    }

    /// Converts a decoded image; EXIF and ICC are left empty for the caller to fill.
    pub fn from_image(img: &DynamicImage) -> Photo {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let u8f = |v: u8| f32::from(v) / 255.0;
        let u16f = |v: u16| f32::from(v) / 65535.0;
        let f32f = |v: f32| v;
        let (rgb, alpha) = match img {
            DynamicImage::ImageLuma8(b) => planar(b.as_raw(), w, h, 1, u8f),
            DynamicImage::ImageLumaA8(b) => planar(b.as_raw(), w, h, 2, u8f),
            DynamicImage::ImageRgb8(b) => planar(b.as_raw(), w, h, 3, u8f),
            DynamicImage::ImageRgba8(b) => planar(b.as_raw(), w, h, 4, u8f),
            DynamicImage::ImageLuma16(b) => planar(b.as_raw(), w, h, 1, u16f),
            DynamicImage::ImageLumaA16(b) => planar(b.as_raw(), w, h, 2, u16f),
            DynamicImage::ImageRgb16(b) => planar(b.as_raw(), w, h, 3, u16f),
            DynamicImage::ImageRgba16(b) => planar(b.as_raw(), w, h, 4, u16f),
            DynamicImage::ImageRgb32F(b) => planar(b.as_raw(), w, h, 3, f32f),
            DynamicImage::ImageRgba32F(b) => planar(b.as_raw(), w, h, 4, f32f),
            // The enum is non-exhaustive: convert anything new through the widest layout.
            other => planar(other.to_rgba32f().as_raw(), w, h, 4, f32f),
        };
        let color = img.color();
        Photo {
            width: w,
            height: h,
            rgb,
            // A future layout converted through RGBA gains an opaque alpha; drop it then.
            alpha: alpha.filter(|_| color.has_alpha()),
            grayscale: !color.has_color(),
            bit_depth: if color.bytes_per_pixel() / color.channel_count() == 1 {
                BitDepth::Eight
            } else {
                BitDepth::Sixteen
            },
            exif: None,
            icc: None,
        }
    }

    /// Why the buffers do not fit the dimensions, if they do not.
    pub fn check(&self) -> Result<(), String> {
        let n = self
            .width
            .checked_mul(self.height)
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("bad size {}x{}", self.width, self.height))?;
        if Some(self.rgb.len()) != n.checked_mul(3) {
            return Err(format!(
                "{} colour samples for a {}x{} photo, expected 3 × {n}",
                self.rgb.len(),
                self.width,
                self.height
            ));
        }
        if let Some(a) = &self.alpha {
            if a.len() != n {
                return Err(format!("{} alpha samples, expected {n}", a.len()));
            }
        }
        Ok(())
    }

    /// Interleaves into an `image` buffer: values clamped to [0, 1] and rounded to `depth`;
    /// `grey` averages the three planes; `with_alpha` keeps the alpha plane when there is one.
    pub fn to_image(
        &self,
        depth: BitDepth,
        grey: bool,
        with_alpha: bool,
    ) -> Result<DynamicImage, String> {
        self.check()?;
        let (w, h) = (
            u32::try_from(self.width).map_err(|_| "width over 4294967295".to_string())?,
            u32::try_from(self.height).map_err(|_| "height over 4294967295".to_string())?,
        );
        let alpha = self.alpha.as_deref().filter(|_| with_alpha);
        let q8 = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        let q16 = |v: f32| (v.clamp(0.0, 1.0) * 65535.0).round() as u16;
        let bad = || "buffer size mismatch".to_string();
        Ok(match (depth, grey, alpha.is_some()) {
            (BitDepth::Eight, true, false) => DynamicImage::ImageLuma8(
                buffer::<Luma<u8>>(self, w, h, grey, alpha, q8).ok_or_else(bad)?,
            ),
            (BitDepth::Eight, true, true) => DynamicImage::ImageLumaA8(
                buffer::<LumaA<u8>>(self, w, h, grey, alpha, q8).ok_or_else(bad)?,
            ),
            (BitDepth::Eight, false, false) => DynamicImage::ImageRgb8(
                buffer::<Rgb<u8>>(self, w, h, grey, alpha, q8).ok_or_else(bad)?,
            ),
            (BitDepth::Eight, false, true) => DynamicImage::ImageRgba8(
                buffer::<Rgba<u8>>(self, w, h, grey, alpha, q8).ok_or_else(bad)?,
            ),
            (BitDepth::Sixteen, true, false) => DynamicImage::ImageLuma16(
                buffer::<Luma<u16>>(self, w, h, grey, alpha, q16).ok_or_else(bad)?,
            ),
            (BitDepth::Sixteen, true, true) => DynamicImage::ImageLumaA16(
                buffer::<LumaA<u16>>(self, w, h, grey, alpha, q16).ok_or_else(bad)?,
            ),
            (BitDepth::Sixteen, false, false) => DynamicImage::ImageRgb16(
                buffer::<Rgb<u16>>(self, w, h, grey, alpha, q16).ok_or_else(bad)?,
            ),
            (BitDepth::Sixteen, false, true) => DynamicImage::ImageRgba16(
                buffer::<Rgba<u16>>(self, w, h, grey, alpha, q16).ok_or_else(bad)?,
            ),
        })
    }
}

/// Interleaved samples with `channels` per pixel (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) to
/// planar RGB plus an optional alpha plane.
fn planar<T: Copy>(
    src: &[T],
    w: usize,
    h: usize,
    channels: usize,
    to_f32: impl Fn(T) -> f32,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let n = w * h;
    let mut rgb = vec![0.0f32; 3 * n];
    let mut alpha = matches!(channels, 2 | 4).then(|| vec![0.0f32; n]);
    let (r, gb) = rgb.split_at_mut(n);
    let (g, b) = gb.split_at_mut(n);
    for (i, px) in src.chunks_exact(channels).take(n).enumerate() {
        if channels >= 3 {
            r[i] = to_f32(px[0]);
            g[i] = to_f32(px[1]);
            b[i] = to_f32(px[2]);
        } else {
            let v = to_f32(px[0]);
            (r[i], g[i], b[i]) = (v, v, v);
        }
        if let Some(a) = alpha.as_mut() {
            a[i] = to_f32(px[channels - 1]);
        }
    }
    (rgb, alpha)
}

/// Interleaves `photo` into a buffer of pixel type `P`, quantising each sample with `q`.
fn buffer<P: Pixel>(
    photo: &Photo,
    w: u32,
    h: u32,
    grey: bool,
    alpha: Option<&[f32]>,
    q: impl Fn(f32) -> P::Subpixel,
) -> Option<ImageBuffer<P, Vec<P::Subpixel>>> {
    let n = photo.pixels();
    let (r, gb) = photo.rgb.split_at(n);
    let (g, b) = gb.split_at(n);
    let channels = usize::from(P::CHANNEL_COUNT);
    let mut out = Vec::with_capacity(n * channels);
    for i in 0..n {
        if grey {
            out.push(q((r[i] + g[i] + b[i]) / 3.0));
        } else {
            out.extend([q(r[i]), q(g[i]), q(b[i])]);
        }
        if let Some(a) = alpha {
            out.push(q(a[i]));
        }
    }
    ImageBuffer::from_raw(w, h, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(w: usize, h: usize, alpha: bool) -> Photo {
        let n = w * h;
        Photo {
            width: w,
            height: h,
            rgb: (0..3 * n).map(|i| i as f32 / (3 * n) as f32).collect(),
            alpha: alpha.then(|| (0..n).map(|i| i as f32 / n as f32).collect()),
            grayscale: false,
            bit_depth: BitDepth::Eight,
            exif: None,
            icc: None,
        }
    }

    #[test]
    fn eight_bit_round_trip_is_exact() {
        let img = DynamicImage::ImageRgba8(ImageBuffer::from_fn(7, 5, |x, y| {
            Rgba([
                (x * 30) as u8,
                (y * 40) as u8,
                (x * y) as u8,
                (255 - x * 10) as u8,
            ])
        }));
        let p = Photo::from_image(&img);
        assert_eq!(
            (p.width, p.height, p.bit_depth, p.grayscale),
            (7, 5, BitDepth::Eight, false)
        );
        assert!(p.alpha.is_some());
        let back = p.to_image(BitDepth::Eight, false, true).unwrap();
        assert_eq!(back.as_bytes(), img.as_bytes());
    }

    #[test]
    fn grey_is_replicated_and_averaged_back() {
        let img = DynamicImage::ImageLuma16(ImageBuffer::from_fn(4, 3, |x, y| {
            Luma([(x * 1000 + y * 7 + 12345) as u16])
        }));
        let p = Photo::from_image(&img);
        assert!(p.grayscale);
        assert_eq!(p.bit_depth, BitDepth::Sixteen);
        let n = p.pixels();
        assert_eq!(p.rgb[..n], p.rgb[n..2 * n]);
        assert_eq!(p.rgb[..n], p.rgb[2 * n..]);
        let back = p.to_image(BitDepth::Sixteen, true, false).unwrap();
        assert_eq!(
            back.as_luma16().unwrap().as_raw(),
            img.as_luma16().unwrap().as_raw()
        );
    }

    #[test]
    fn out_of_range_values_are_clamped_and_rounded() {
        let mut p = photo(2, 1, false);
        // Planes r, g, b of two pixels.
        p.rgb = vec![-0.5, 1.5, f32::NAN, 0.5, 0.999 / 255.0, 1.0];
        let img = p.to_image(BitDepth::Eight, false, false).unwrap();
        // NaN saturates to 0 rather than panicking; 0.5 rounds to 128, not 127.
        assert_eq!(img.as_bytes(), &[0, 0, 1, 255, 128, 255]);
    }

    #[test]
    fn inconsistent_buffers_are_an_error_not_a_panic() {
        let mut p = photo(4, 4, true);
        p.rgb.pop();
        assert!(p.to_image(BitDepth::Eight, false, true).is_err());
        let mut p = photo(4, 4, true);
        p.alpha = Some(vec![0.0; 3]);
        assert!(p.check().is_err());
        let mut p = photo(4, 4, false);
        p.width = 0;
        assert!(p.check().is_err());
    }

    #[test]
    fn debug_does_not_dump_pixels() {
        let s = format!("{:?}", photo(100, 100, true));
        assert!(s.len() < 200, "{s}");
    }
}
