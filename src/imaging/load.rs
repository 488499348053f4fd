//! Reading photos: format detection, the pixel limit, metadata and orientation.
//!
//! The decoder is chosen from the file's content, not its extension, so a PNG named `.jpg`
//! still loads; the extension only shapes the error message when the content is not an image.
//!
//! Metadata with image 0.25.10's decoders: JPEG, PNG and WebP give EXIF and ICC; TIFF gives
//! ICC and its orientation tag but no EXIF block (its EXIF lives in tags the decoder does not
//! expose), so EXIF from a TIFF source is not carried; BMP gives neither.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use image::metadata::Orientation;
use image::{
    DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, ImageResult, Limits,
};

use super::error::ImagingError;
use super::exif;
use super::photo::Photo;

/// Extensions of the formats we read, lower case, for batch folder walks.
pub const SUPPORTED_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "tif", "tiff", "webp", "bmp"];

pub const DEFAULT_MAX_MEGAPIXELS: f64 = 200.0;

/// Decoder scratch space allowed besides the pixel buffer (rows, strips, metadata chunks).
const SCRATCH_BYTES: u64 = 64 << 20;
/// Widest decoded layout (RGBA f32), for the memory budget set before the header is read.
const MAX_BYTES_PER_PIXEL: u64 = 16;

#[derive(Clone, Debug, PartialEq)]
pub struct LoadOptions {
    /// Images with more pixels are refused from their header, before decoding. Infinity
    /// disables the limit.
    pub max_megapixels: f64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            max_megapixels: DEFAULT_MAX_MEGAPIXELS,
        }
    }
}

/// Whether the extension is one we read (case-insensitive). Content is checked on load.
pub fn is_supported_extension(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        SUPPORTED_EXTENSIONS
            .iter()
            .any(|s| s.eq_ignore_ascii_case(e))
    })
}

/// Decodes a photo, applies its EXIF orientation and keeps its EXIF (orientation reset to 1)
/// and ICC profile.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Photo, ImagingError> {
    let (mut reader, format) = open(path)?;
    reader.limits(header_limits(opts.max_megapixels));
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| decode_error(path, format, e))?;
    let (w, h) = decoder.dimensions();
    check_size(path, w, h, opts.max_megapixels)?;

    let icc = metadata(decoder.icc_profile(), path, "ICC profile");
    // Stored without the APP1 prefix: the JPEG encoder adds its own, PNG's eXIf must not have one.
    let mut exif = metadata(decoder.exif_metadata(), path, "EXIF block")
        .map(|e| exif::strip_prefix(&e).to_vec());
    let orientation = orientation_of(&mut decoder, exif.as_deref(), path);
    if let Some(e) = exif.as_mut() {
        exif::reset_orientation(e);
    }

    // Now that the size is accepted, hold the decoder to the pixel buffer plus as much again
    // for intermediates (a single compressed TIFF strip can be nearly that big) and scratch,
    // so that lying stream data cannot make it allocate more.
    let mut limits = Limits::default();
    limits.max_alloc = Some(
        decoder
            .total_bytes()
            .saturating_mul(2)
            .saturating_add(SCRATCH_BYTES),
    );
    decoder
        .set_limits(limits)
        .map_err(|e| decode_error(path, format, e))?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| decode_error(path, format, e))?;
    img.apply_orientation(orientation);

    let mut photo = Photo::from_image(&img);
    drop(img);
    photo.exif = exif;
    photo.icc = icc;
    tracing::debug!(
        "{}: {} {}x{} {:?}{}{}, orientation {:?}",
        path.display(),
        format_name(format),
        photo.width,
        photo.height,
        photo.bit_depth,
        if photo.grayscale { " grey" } else { "" },
        if photo.alpha.is_some() { " +alpha" } else { "" },
        orientation
    );
    Ok(photo)
}

/// Width and height as `load` would return them (orientation applied), from the header only.
pub fn probe(path: &Path) -> Result<(usize, usize), ImagingError> {
    let (mut reader, format) = open(path)?;
    reader.limits(header_limits(DEFAULT_MAX_MEGAPIXELS));
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| decode_error(path, format, e))?;
    let (w, h) = decoder.dimensions();
    let exif = metadata(decoder.exif_metadata(), path, "EXIF block");
    let quarter_turn = matches!(
        orientation_of(&mut decoder, exif.as_deref(), path),
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    );
    let (w, h) = (w as usize, h as usize);
    Ok(if quarter_turn { (h, w) } else { (w, h) })
}

/// Opens `path` and identifies its format from the first bytes.
fn open(path: &Path) -> Result<(ImageReader<BufReader<File>>, ImageFormat), ImagingError> {
    let read_error = |source| ImagingError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_error)?;
    if !meta.is_file() {
        return Err(ImagingError::NotAFile {
            path: path.to_path_buf(),
            kind: if meta.is_dir() {
                "a folder"
            } else {
                "a special file"
            },
        });
    }
    if meta.len() == 0 {
        return Err(ImagingError::Empty {
            path: path.to_path_buf(),
        });
    }
    let file = File::open(path).map_err(read_error)?;
    let reader = ImageReader::new(BufReader::new(file))
        .with_guessed_format()
        .map_err(read_error)?;
    match reader.format() {
        Some(
            f @ (ImageFormat::Jpeg
            | ImageFormat::Png
            | ImageFormat::Tiff
            | ImageFormat::WebP
            | ImageFormat::Bmp),
        ) => Ok((reader, f)),
        Some(other) => Err(ImagingError::UnsupportedInput {
            path: path.to_path_buf(),
            what: format!("the {} format", format_name(other)),
        }),
        None if is_supported_extension(path) => Err(ImagingError::NotAnImage {
            path: path.to_path_buf(),
        }),
        None => Err(ImagingError::UnsupportedInput {
            path: path.to_path_buf(),
            what: match path.extension() {
                Some(e) => format!("the file type .{}", e.to_string_lossy()),
                None => "a file without an image extension".to_string(),
            },
        }),
    }
}

/// Memory budget before the header is known: the largest accepted image in the widest layout.
fn header_limits(max_megapixels: f64) -> Limits {
    if max_megapixels == f64::INFINITY {
        return Limits::no_limits();
    }
    let pixels = (max_megapixels.max(0.0) * 1e6) as u64;
    let mut limits = Limits::default();
    limits.max_alloc = Some(
        pixels
            .saturating_mul(MAX_BYTES_PER_PIXEL)
            .saturating_add(SCRATCH_BYTES),
    );
    limits
}

fn check_size(path: &Path, w: u32, h: u32, max_megapixels: f64) -> Result<(), ImagingError> {
    if w == 0 || h == 0 {
        return Err(ImagingError::Decode {
            path: path.to_path_buf(),
            reason: format!("the image has no pixels ({w}x{h})"),
        });
    }
    let megapixels = f64::from(w) * f64::from(h) / 1e6;
    // Written so that a NaN limit refuses rather than accepts.
    if megapixels <= max_megapixels {
        Ok(())
    } else {
        Err(ImagingError::TooLarge {
            path: path.to_path_buf(),
            megapixels,
            limit: max_megapixels,
        })
    }
}

/// A metadata block; a broken one is dropped with a warning rather than failing the photo.
fn metadata(result: ImageResult<Option<Vec<u8>>>, path: &Path, what: &str) -> Option<Vec<u8>> {
    match result {
        Ok(Some(bytes)) if !bytes.is_empty() => Some(bytes),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!("{}: ignoring unreadable {what}: {e}", path.display());
            None
        }
    }
}

/// The orientation from our own EXIF parser (it also understands a prefixed block), else what
/// the decoder reports (TIFF keeps it as a tag rather than an EXIF block).
fn orientation_of(
    decoder: &mut impl ImageDecoder,
    exif: Option<&[u8]>,
    path: &Path,
) -> Orientation {
    let from_exif = exif
        .and_then(exif::orientation)
        .and_then(|v| u8::try_from(v).ok())
        .and_then(Orientation::from_exif);
    from_exif.unwrap_or_else(|| {
        decoder.orientation().unwrap_or_else(|e| {
            tracing::warn!("{}: ignoring unreadable orientation: {e}", path.display());
            Orientation::NoTransforms
        })
    })
}

fn format_name(format: ImageFormat) -> String {
    match format {
        ImageFormat::Jpeg => "JPEG".into(),
        ImageFormat::WebP => "WebP".into(),
        other => other
            .extensions_str()
            .first()
            .map_or_else(|| format!("{other:?}"), |e| e.to_ascii_uppercase()),
    }
}

fn decode_error(path: &Path, format: ImageFormat, err: ImageError) -> ImagingError {
    let name = format_name(format);
    let reason = if ends_early(&err) {
        format!("truncated {name} data (the file ends early)")
    } else {
        match err {
            ImageError::IoError(source) => {
                return ImagingError::Read {
                    path: path.to_path_buf(),
                    source,
                }
            }
            ImageError::Limits(e) => format!("decoding needs more memory than allowed ({e})"),
            ImageError::Unsupported(e) => format!("unsupported {name} variant ({e})"),
            other => format!("invalid {name} data ({other})"),
        }
    };
    ImagingError::Decode {
        path: path.to_path_buf(),
        reason: reason.replace(['\n', '\r'], " "),
    }
}

/// Whether an unexpected end of file is anywhere in the error's chain.
fn ends_early(err: &ImageError) -> bool {
    // `ImageError::source` skips the wrapped error itself, so look at the top level first.
    let mut current: Option<&(dyn std::error::Error + 'static)> = match err {
        ImageError::IoError(io) => Some(io),
        ImageError::Decoding(e) => Some(e),
        _ => Some(err),
    };
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::UnexpectedEof {
                return true;
            }
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::exif::sample_exif;
    use image::codecs::jpeg::JpegEncoder;
    use image::codecs::png::PngEncoder;
    use image::{ImageEncoder, Rgb, RgbImage};
    use std::path::PathBuf;

    const RED: Rgb<u8> = Rgb([230, 20, 20]);
    const DARK: Rgb<u8> = Rgb([20, 20, 20]);

    /// 32×16, dark, with the top-left 8×8 block red: a marker to follow through rotations.
    fn marked() -> RgbImage {
        RgbImage::from_fn(32, 16, |x, y| if x < 8 && y < 8 { RED } else { DARK })
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn png_bytes(img: &RgbImage, exif: Option<Vec<u8>>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = PngEncoder::new(&mut out);
        if let Some(e) = exif {
            enc.set_exif_metadata(e).unwrap();
        }
        enc.write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
        out
    }

    fn is_red(p: &Photo, x: usize, y: usize) -> bool {
        let n = p.pixels();
        let i = y * p.width + x;
        p.rgb[i] > 0.6 && p.rgb[n + i] < 0.3 && p.rgb[2 * n + i] < 0.3
    }

    fn load_default(p: &Path) -> Result<Photo, ImagingError> {
        load(p, &LoadOptions::default())
    }

    /// Checks the variant with `matches` and that the message names the file.
    fn assert_names(err: &ImagingError, file: &str) {
        let msg = err.to_string();
        assert!(msg.contains(file), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn jpeg_exif_orientation_6_is_applied_and_reset() {
        let dir = tempfile::tempdir().unwrap();
        let mut jpeg = Vec::new();
        let mut enc = JpegEncoder::new_with_quality(&mut jpeg, 95);
        enc.set_exif_metadata(sample_exif(false, 6)).unwrap();
        let img = marked();
        enc.write_image(img.as_raw(), 32, 16, image::ExtendedColorType::Rgb8)
            .unwrap();
        let path = write(dir.path(), "rotated.jpg", &jpeg);

        let photo = load_default(&path).unwrap();
        // Rotate 90° clockwise: 32×16 becomes 16×32 and the top-left marker goes top-right.
        assert_eq!((photo.width, photo.height), (16, 32));
        assert!(is_red(&photo, 12, 4));
        assert!(!is_red(&photo, 4, 4));
        assert!(!is_red(&photo, 12, 28));
        assert_eq!(photo.exif.as_deref(), Some(&sample_exif(false, 1)[..]));
        assert_eq!(probe(&path).unwrap(), (16, 32));
    }

    #[test]
    fn png_big_endian_exif_orientation_8_is_applied() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "rotated.png",
            &png_bytes(&marked(), Some(sample_exif(true, 8))),
        );
        let photo = load_default(&path).unwrap();
        // Rotate 270° clockwise: the top-left marker goes bottom-left.
        assert_eq!((photo.width, photo.height), (16, 32));
        assert!(is_red(&photo, 0, 31) && is_red(&photo, 7, 24));
        assert!(!is_red(&photo, 8, 31) && !is_red(&photo, 0, 23));
        assert_eq!(photo.exif.as_deref(), Some(&sample_exif(true, 1)[..]));
    }

    #[test]
    fn prefixed_exif_is_understood_and_stored_without_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let mut exif = b"Exif\0\0".to_vec();
        exif.extend(sample_exif(false, 3));
        let path = write(
            dir.path(),
            "prefixed.png",
            &png_bytes(&marked(), Some(exif)),
        );
        let photo = load_default(&path).unwrap();
        // Rotate 180°: the marker goes bottom-right.
        assert_eq!((photo.width, photo.height), (32, 16));
        assert!(is_red(&photo, 31, 15) && !is_red(&photo, 0, 0));
        assert_eq!(photo.exif.as_deref(), Some(&sample_exif(false, 1)[..]));
    }

    #[test]
    fn content_decides_the_decoder_not_the_extension() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "really_a_png.jpg", &png_bytes(&marked(), None));
        let photo = load_default(&path).unwrap();
        assert_eq!((photo.width, photo.height), (32, 16));
        assert!(is_red(&photo, 0, 0));
    }

    #[test]
    fn webp_and_bmp_load() {
        let dir = tempfile::tempdir().unwrap();
        let img = DynamicImage::ImageRgba8(image::RgbaImage::from_fn(9, 7, |x, y| {
            image::Rgba([x as u8 * 20, y as u8 * 30, 7, 200 - x as u8])
        }));
        for name in ["a.webp", "a.bmp"] {
            let path = dir.path().join(name);
            img.save(&path).unwrap();
            let photo = load_default(&path).unwrap();
            assert_eq!((photo.width, photo.height), (9, 7), "{name}");
            let alpha = photo.alpha.as_ref().expect(name);
            assert_eq!((alpha[0] * 255.0).round() as u8, 200, "{name}");
            assert_eq!((photo.rgb[8] * 255.0).round() as u8, 160, "{name}");
        }
    }

    #[test]
    fn zero_byte_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "photo.jpg", b"");
        let err = load_default(&path).unwrap_err();
        assert!(matches!(err, ImagingError::Empty { .. }), "{err}");
        assert!(
            err.to_string()
                .ends_with("photo.jpg: file is empty (0 bytes)"),
            "{err}"
        );
        assert!(matches!(probe(&path), Err(ImagingError::Empty { .. })));
    }

    #[test]
    fn truncated_png() {
        let dir = tempfile::tempdir().unwrap();
        let img = RgbImage::from_fn(64, 64, |x, y| {
            Rgb([(x * 4) as u8, (y * 4) as u8, (x ^ y) as u8])
        });
        let full = png_bytes(&img, None);
        let path = write(dir.path(), "broken.png", &full[..full.len() / 2]);
        let err = load_default(&path).unwrap_err();
        assert!(matches!(err, ImagingError::Decode { .. }), "{err:?}");
        assert_names(&err, "broken.png");
        assert!(err.to_string().contains("truncated PNG data"), "{err}");
        // Cut inside the header too.
        let path = write(dir.path(), "stub.png", &full[..20]);
        let err = load_default(&path).unwrap_err();
        assert!(matches!(err, ImagingError::Decode { .. }), "{err:?}");
        assert_names(&err, "stub.png");
    }

    #[test]
    fn text_named_jpg_is_not_an_image() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "notes.jpg", b"shopping list: eggs, milk\n");
        let err = load_default(&path).unwrap_err();
        assert!(matches!(err, ImagingError::NotAnImage { .. }), "{err:?}");
        assert_names(&err, "notes.jpg");
    }

    #[test]
    fn unsupported_types() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "notes.txt", b"hello");
        let err = load_default(&path).unwrap_err();
        assert!(
            matches!(err, ImagingError::UnsupportedInput { .. }),
            "{err:?}"
        );
        assert_names(&err, "notes.txt");
        assert!(err.to_string().contains(".txt"), "{err}");
        // A real format we do not read, whatever the extension.
        let path = write(dir.path(), "anim.gif", b"GIF89a\x01\0\x01\0\0\0\0;");
        let err = load_default(&path).unwrap_err();
        assert!(
            matches!(err, ImagingError::UnsupportedInput { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("GIF"), "{err}");
        assert_names(&err, "anim.gif");
    }

    #[test]
    fn missing_file_and_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nowhere.png");
        let err = load_default(&path).unwrap_err();
        match &err {
            ImagingError::Read { source, .. } => {
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound)
            }
            other => panic!("{other:?}"),
        }
        assert_names(&err, "nowhere.png");

        let folder = dir.path().join("album.jpg");
        std::fs::create_dir(&folder).unwrap();
        let err = load_default(&folder).unwrap_err();
        assert!(matches!(err, ImagingError::NotAFile { .. }), "{err:?}");
        assert_names(&err, "album.jpg");
        assert!(err.to_string().contains("folder"), "{err}");
    }

    #[test]
    fn pixel_limit_is_checked_from_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let img = RgbImage::from_pixel(2000, 1000, DARK);
        let path = write(dir.path(), "big.png", &png_bytes(&img, None));
        let err = load(
            &path,
            &LoadOptions {
                max_megapixels: 1.5,
            },
        )
        .unwrap_err();
        match &err {
            ImagingError::TooLarge {
                megapixels, limit, ..
            } => {
                assert_eq!((*megapixels, *limit), (2.0, 1.5));
            }
            other => panic!("{other:?}"),
        }
        assert!(err
            .to_string()
            .ends_with("big.png is 2.0 megapixels, over the 1.5 MP limit (--max-megapixels)"));
        assert!(load(
            &path,
            &LoadOptions {
                max_megapixels: 2.0
            }
        )
        .is_ok());
        assert!(load(
            &path,
            &LoadOptions {
                max_megapixels: f64::NAN
            }
        )
        .is_err());
        assert!(load(
            &path,
            &LoadOptions {
                max_megapixels: f64::INFINITY
            }
        )
        .is_ok());
    }

    /// CRC-32 (IEEE) as PNG chunks use it.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn lying_header_is_refused_without_decoding() {
        // A tiny valid PNG whose IHDR claims 100000 × 100000 (10 000 MP, 30 GB of RGB):
        // refused from the header; decoding would run out of data or memory.
        let dir = tempfile::tempdir().unwrap();
        let mut png = png_bytes(&RgbImage::from_pixel(4, 4, DARK), None);
        // Signature (8), length (4), "IHDR" (4), then width and height.
        png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        let path = write(dir.path(), "huge.png", &png);
        let err = load_default(&path).unwrap_err();
        assert!(matches!(err, ImagingError::TooLarge { .. }), "{err:?}");
        assert!(
            err.to_string().starts_with(&format!(
                "{} is 10000.0 megapixels, over the 200 MP limit",
                path.display()
            )),
            "{err}"
        );
        assert_eq!(probe(&path).unwrap(), (100_000, 100_000));
    }

    #[test]
    fn supported_extensions() {
        assert!(is_supported_extension(Path::new("a/b/photo.JPG")));
        assert!(is_supported_extension(Path::new("scan.tiff")));
        assert!(is_supported_extension(Path::new("x.webp")));
        assert!(!is_supported_extension(Path::new("anim.gif")));
        assert!(!is_supported_extension(Path::new(".deblur-abc.tmp")));
        assert!(!is_supported_extension(Path::new("README")));
    }
}
