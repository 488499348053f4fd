//! Writing photos: format from the extension, bit depth, metadata, and atomic replacement.
//!
//! What each output carries with image 0.25.10's encoders, and what we do about the gaps:
//!
//! - PNG: 8/16-bit, grey, alpha, ICC (iCCP), EXIF (eXIf). Everything.
//! - JPEG: 8-bit only. An explicit 16-bit request is an error; a 16-bit source with no request
//!   is written as 8-bit with a warning. Alpha is dropped with a warning. ICC (APP2, up to
//!   ~16 MB) and EXIF (APP1, up to 65527 bytes) are written; larger blocks are dropped with a
//!   warning rather than corrupting the file.
//! - TIFF: 8/16-bit, alpha, ICC, uncompressed. Grey+alpha is written as RGBA (no grey+alpha
//!   TIFF layout in the encoder). No EXIF: the encoder cannot write it, so it is dropped with a
//!   warning.
//!
//! The output is encoded into a temporary file in the destination folder and renamed over the
//! destination only once complete, so a crash or a failed encode never leaves a partial output.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::tiff::TiffEncoder;
use image::{DynamicImage, ImageEncoder};

use super::error::ImagingError;
use super::photo::{BitDepth, Photo};

/// The JPEG APP1 segment holds at most 65533 payload bytes, 6 of them the `Exif\0\0` header.
/// The encoder does not check (its length field would wrap), so we do.
const JPEG_MAX_EXIF: usize = 65533 - 6;
/// 255 APP2 chunks of 65519 bytes; beyond this the JPEG encoder fails the whole write.
const JPEG_MAX_ICC: usize = (65533 - 14) * 255;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    Png,
    Jpeg,
    Tiff,
}

impl OutputFormat {
    /// The format named by the file extension (case-insensitive).
    pub fn from_path(path: &Path) -> Result<Self, ImagingError> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("png") => Ok(Self::Png),
            Some("jpg" | "jpeg") => Ok(Self::Jpeg),
            Some("tif" | "tiff") => Ok(Self::Tiff),
            other => Err(ImagingError::UnsupportedOutput {
                path: path.to_path_buf(),
                what: match other {
                    Some(e) => format!(".{e} is not an output format (use .png, .jpg/.jpeg or .tif/.tiff)"),
                    None => "no extension to choose the format from (use .png, .jpg/.jpeg or .tif/.tiff)".into(),
                },
            }),
        }
    }

    /// The usual extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Tiff => "tif",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Png => "PNG",
            Self::Jpeg => "JPEG",
            Self::Tiff => "TIFF",
        }
    }

    pub fn supports_16_bit(self) -> bool {
        self != Self::Jpeg
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaveOptions {
    /// 1-100, for JPEG outputs.
    pub jpeg_quality: u8,
    /// `None` keeps the source's depth (JPEG: always 8).
    pub bit_depth: Option<BitDepth>,
    /// Replace an existing output. The input is never replaced.
    pub overwrite: bool,
}

impl Default for SaveOptions {
    fn default() -> Self {
        SaveOptions {
            jpeg_quality: 95,
            bit_depth: None,
            overwrite: false,
        }
    }
}

/// Refuses an output that is the input (by canonical path, or the same file on Unix), an
/// existing folder, or an existing file unless `overwrite`. Cheap: call it before slow work.
pub fn check_output_path(input: &Path, output: &Path, overwrite: bool) -> Result<(), ImagingError> {
    if same_file(input, output) {
        return Err(ImagingError::SameAsInput {
            path: output.to_path_buf(),
        });
    }
    check_existing(output, overwrite)
}

/// Writes `photo` to `path` in the format its extension names. With `input_path`, refuses to
/// write over the input.
pub fn save(
    photo: &Photo,
    path: &Path,
    input_path: Option<&Path>,
    opts: &SaveOptions,
) -> Result<(), ImagingError> {
    let format = OutputFormat::from_path(path)?;
    match input_path {
        Some(input) => check_output_path(input, path, opts.overwrite)?,
        None => check_existing(path, opts.overwrite)?,
    }
    let invalid = |reason| ImagingError::InvalidPhoto {
        path: path.to_path_buf(),
        reason,
    };
    photo.check().map_err(invalid)?;

    let depth = output_depth(photo, format, opts, path)?;
    let with_alpha = photo.alpha.is_some() && format != OutputFormat::Jpeg;
    if photo.alpha.is_some() && !with_alpha {
        tracing::warn!(
            "{}: JPEG has no transparency; the alpha channel is dropped",
            path.display()
        );
    }
    // image's TIFF encoder has no grey+alpha layout; RGBA keeps the alpha.
    let grey = photo.grayscale && !(format == OutputFormat::Tiff && with_alpha);
    if photo.grayscale && !grey {
        tracing::info!(
            "{}: grey with alpha is written as RGBA (no grey+alpha TIFF encoder)",
            path.display()
        );
    }
    let img = photo.to_image(depth, grey, with_alpha).map_err(invalid)?;

    write_atomically(path, opts.overwrite, |w| {
        encode(&img, format, photo, opts.jpeg_quality, path, w)
    })
}

fn output_depth(
    photo: &Photo,
    format: OutputFormat,
    opts: &SaveOptions,
    path: &Path,
) -> Result<BitDepth, ImagingError> {
    match (opts.bit_depth, format.supports_16_bit()) {
        (Some(BitDepth::Sixteen), false) => Err(ImagingError::UnsupportedOutput {
            path: path.to_path_buf(),
            what: "JPEG holds 8 bits per channel; write .png or .tif for 16-bit output".into(),
        }),
        (Some(depth), _) => Ok(depth),
        (None, true) => Ok(photo.bit_depth),
        (None, false) => {
            if photo.bit_depth == BitDepth::Sixteen {
                tracing::warn!(
                    "{}: JPEG holds 8 bits per channel; the 16-bit photo is written as 8-bit \
                     (use .png or .tif to keep 16 bits)",
                    path.display()
                );
            }
            Ok(BitDepth::Eight)
        }
    }
}

fn encode(
    img: &DynamicImage,
    format: OutputFormat,
    photo: &Photo,
    jpeg_quality: u8,
    path: &Path,
    w: &mut BufWriter<&mut File>,
) -> Result<(), ImagingError> {
    let result = match format {
        OutputFormat::Png => {
            let mut enc = PngEncoder::new(w);
            attach_metadata(&mut enc, photo, format, path);
            img.write_with_encoder(enc)
        }
        OutputFormat::Jpeg => {
            let mut enc = JpegEncoder::new_with_quality(w, jpeg_quality.clamp(1, 100));
            attach_metadata(&mut enc, photo, format, path);
            img.write_with_encoder(enc)
        }
        OutputFormat::Tiff => {
            let mut enc = TiffEncoder::new(w);
            attach_metadata(&mut enc, photo, format, path);
            img.write_with_encoder(enc)
        }
    };
    result.map_err(|e| match e {
        image::ImageError::IoError(source) => ImagingError::Write {
            path: path.to_path_buf(),
            source,
        },
        other => ImagingError::Encode {
            path: path.to_path_buf(),
            reason: other.to_string().replace(['\n', '\r'], " "),
        },
    })
}

/// Hands ICC and EXIF to the encoder; what it cannot carry is reported, never silently lost.
fn attach_metadata(enc: &mut impl ImageEncoder, photo: &Photo, format: OutputFormat, path: &Path) {
    if let Some(icc) = &photo.icc {
        if format == OutputFormat::Jpeg && icc.len() > JPEG_MAX_ICC {
            tracing::warn!(
                "{}: the {}-byte ICC profile is too large for JPEG and is dropped",
                path.display(),
                icc.len()
            );
        } else if let Err(e) = enc.set_icc_profile(icc.clone()) {
            tracing::warn!(
                "{}: {} output cannot carry the ICC profile ({e}); it is dropped and colours \
                 may display differently",
                path.display(),
                format.name()
            );
        }
    }
    if let Some(exif) = &photo.exif {
        if format == OutputFormat::Jpeg && exif.len() > JPEG_MAX_EXIF {
            tracing::warn!(
                "{}: the {}-byte EXIF block is too large for one JPEG segment and is dropped",
                path.display(),
                exif.len()
            );
        } else if let Err(e) = enc.set_exif_metadata(exif.clone()) {
            tracing::warn!(
                "{}: {} output cannot carry EXIF metadata ({e}); it is dropped",
                path.display(),
                format.name()
            );
        }
    }
}

fn check_existing(output: &Path, overwrite: bool) -> Result<(), ImagingError> {
    match std::fs::metadata(output) {
        Ok(m) if m.is_dir() => Err(ImagingError::Write {
            path: output.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::IsADirectory, "it is a folder"),
        }),
        Ok(_) if !overwrite => Err(ImagingError::OutputExists {
            path: output.to_path_buf(),
        }),
        _ => Ok(()),
    }
}

/// Whether `output` names the file `input` names. A missing input protects nothing; a missing
/// output is resolved through its folder.
fn same_file(input: &Path, output: &Path) -> bool {
    let Ok(input) = input.canonicalize() else {
        return false;
    };
    let output = match output.canonicalize() {
        Ok(p) => p,
        Err(_) => {
            let (Some(dir), Some(name)) = (output.parent(), output.file_name()) else {
                return false;
            };
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            match dir.canonicalize() {
                Ok(d) => d.join(name),
                Err(_) => return false,
            }
        }
    };
    if input == output {
        return true;
    }
    // Hard links, and case-insensitive file systems where canonical spellings can differ.
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(&input), std::fs::metadata(&output)) {
            return a.dev() == b.dev() && a.ino() == b.ino();
        }
    }
    false
}

/// Runs `write` into a temporary file beside `path`, then renames it into place. On any
/// error the temporary file is deleted (by `NamedTempFile`'s drop) and `path` is untouched.
fn write_atomically(
    path: &Path,
    overwrite: bool,
    write: impl FnOnce(&mut BufWriter<&mut File>) -> Result<(), ImagingError>,
) -> Result<(), ImagingError> {
    let write_error = |source| ImagingError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    // Hidden, and an extension batch walks skip, should a crash leave one behind.
    builder.prefix(".deblur-").suffix(".tmp");
    #[cfg(unix)]
    {
        // NamedTempFile defaults to 0600; a photo should get the usual umask-filtered mode.
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(write_error)?;
    {
        let mut w = BufWriter::new(tmp.as_file_mut());
        write(&mut w)?;
        w.flush().map_err(write_error)?;
    }
    tmp.as_file().sync_all().map_err(write_error)?;

    let persisted = if overwrite {
        tmp.persist(path)
    } else {
        // No-clobber closes the race with another writer; file systems without hard links
        // (FAT, some network shares) cannot do it, so fall back to check-then-rename there.
        match tmp.persist_noclobber(path) {
            Err(e) if e.error.kind() != std::io::ErrorKind::AlreadyExists => {
                if path.exists() {
                    return Err(ImagingError::OutputExists {
                        path: path.to_path_buf(),
                    });
                }
                e.file.persist(path)
            }
            other => other,
        }
    };
    match persisted {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists && !overwrite => {
            Err(ImagingError::OutputExists {
                path: path.to_path_buf(),
            })
        }
        Err(e) => Err(write_error(e.error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::exif::{self, sample_exif};
    use crate::imaging::load::{load, LoadOptions};
    use image::{ImageBuffer, ImageDecoder, Luma, LumaA, Rgb, Rgba};
    use std::path::PathBuf;

    fn load_default(p: &Path) -> Photo {
        load(p, &LoadOptions::default()).unwrap()
    }

    /// Saves `img` as `name`, loads it, saves the photo as `out_name`, and returns the decoded
    /// output as `image` sees it.
    fn round_trip(
        img: &DynamicImage,
        name: &str,
        out_name: &str,
        opts: &SaveOptions,
    ) -> (Photo, DynamicImage) {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join(name);
        img.save(&input).unwrap();
        let photo = load_default(&input);
        let output = dir.path().join(out_name);
        save(&photo, &output, Some(&input), opts).unwrap();
        (photo, image::open(&output).unwrap())
    }

    fn rgb16() -> DynamicImage {
        DynamicImage::ImageRgb16(ImageBuffer::from_fn(13, 9, |x, y| {
            Rgb([12345, (x * 5000) as u16, (y * 7000 + 3) as u16])
        }))
    }

    fn rgb8() -> DynamicImage {
        DynamicImage::ImageRgb8(ImageBuffer::from_fn(13, 9, |x, y| {
            Rgb([(x * 19) as u8, (y * 28) as u8, ((x + y) * 7) as u8])
        }))
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn png_8_bit_round_trip_is_exact() {
        let (photo, out) = round_trip(&rgb8(), "in.png", "out.png", &SaveOptions::default());
        assert_eq!(photo.bit_depth, BitDepth::Eight);
        assert_eq!(out.color(), image::ColorType::Rgb8);
        assert_eq!(out.as_bytes(), rgb8().as_bytes());
    }

    #[test]
    fn png_16_bit_round_trip_is_exact() {
        let (photo, out) = round_trip(&rgb16(), "in.png", "out.png", &SaveOptions::default());
        assert_eq!(photo.bit_depth, BitDepth::Sixteen);
        assert_eq!(
            out.as_rgb16().unwrap().as_raw(),
            rgb16().as_rgb16().unwrap().as_raw()
        );
        assert_eq!(out.as_rgb16().unwrap().get_pixel(0, 0)[0], 12345);
    }

    #[test]
    fn tiff_8_and_16_bit_round_trips_are_exact() {
        let (_, out) = round_trip(&rgb8(), "in.tif", "out.tiff", &SaveOptions::default());
        assert_eq!(out.as_bytes(), rgb8().as_bytes());
        let (_, out) = round_trip(&rgb16(), "in.tiff", "out.tif", &SaveOptions::default());
        assert_eq!(
            out.as_rgb16().unwrap().as_raw(),
            rgb16().as_rgb16().unwrap().as_raw()
        );
    }

    #[test]
    fn sixteen_bit_can_be_written_as_eight() {
        let opts = SaveOptions {
            bit_depth: Some(BitDepth::Eight),
            ..SaveOptions::default()
        };
        let (_, out) = round_trip(&rgb16(), "in.png", "out.png", &opts);
        assert_eq!(out.color(), image::ColorType::Rgb8);
        // Rounded, not truncated: 12345 / 65535 * 255 = 48.04 -> 48; 3 / 65535 * 255 -> 0.
        assert_eq!(out.as_rgb8().unwrap().get_pixel(0, 0)[0], 48);
        assert_eq!(out.as_rgb8().unwrap().get_pixel(12, 8)[1], 233); // 60000/65535*255 = 233.47
    }

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        let mse: f64 = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
            .sum::<f64>()
            / a.len() as f64;
        10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10()
    }

    #[test]
    fn jpeg_round_trip_is_close() {
        let smooth = DynamicImage::ImageRgb8(ImageBuffer::from_fn(64, 48, |x, y| {
            Rgb([(x * 4) as u8, (y * 5) as u8, 128])
        }));
        let (_, out) = round_trip(&smooth, "in.png", "out.jpg", &SaveOptions::default());
        assert_eq!(out.color(), image::ColorType::Rgb8);
        let p = psnr(out.as_bytes(), smooth.as_bytes());
        assert!(p > 38.0, "PSNR {p:.1} dB");
    }

    #[test]
    fn sixteen_bit_jpeg_is_downgraded_unless_explicitly_requested() {
        let (_, out) = round_trip(&rgb16(), "in.png", "out.jpg", &SaveOptions::default());
        assert_eq!(out.color(), image::ColorType::Rgb8);

        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.png");
        rgb16().save(&input).unwrap();
        let photo = load_default(&input);
        let output = dir.path().join("out.jpg");
        let opts = SaveOptions {
            bit_depth: Some(BitDepth::Sixteen),
            ..SaveOptions::default()
        };
        let err = save(&photo, &output, Some(&input), &opts).unwrap_err();
        assert!(
            matches!(err, ImagingError::UnsupportedOutput { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("out.jpg") && err.to_string().contains("8 bits"),
            "{err}"
        );
        assert_eq!(files_in(dir.path()), ["in.png"]);
    }

    #[test]
    fn grey_stays_grey() {
        let grey = DynamicImage::ImageLuma8(ImageBuffer::from_fn(10, 6, |x, y| {
            Luma([(x * 20 + y) as u8])
        }));
        for out_name in ["out.png", "out.tif", "out.jpg"] {
            let (photo, out) = round_trip(&grey, "in.png", out_name, &SaveOptions::default());
            assert!(photo.grayscale);
            assert_eq!(out.color(), image::ColorType::L8, "{out_name}");
            if out_name != "out.jpg" {
                assert_eq!(out.as_bytes(), grey.as_bytes(), "{out_name}");
            }
        }
        let grey16 = DynamicImage::ImageLuma16(ImageBuffer::from_fn(5, 4, |x, y| {
            Luma([(x * 9000 + y) as u16 + 12345])
        }));
        let (_, out) = round_trip(&grey16, "in.png", "out.png", &SaveOptions::default());
        assert_eq!(
            out.as_luma16().unwrap().as_raw(),
            grey16.as_luma16().unwrap().as_raw()
        );
    }

    #[test]
    fn alpha_is_preserved_exactly() {
        let rgba8 = DynamicImage::ImageRgba8(ImageBuffer::from_fn(11, 7, |x, y| {
            Rgba([(x * 20) as u8, (y * 30) as u8, 99, (x * 23 + y) as u8])
        }));
        let (photo, out) = round_trip(&rgba8, "in.png", "out.png", &SaveOptions::default());
        assert!(photo.alpha.is_some());
        assert_eq!(out.as_bytes(), rgba8.as_bytes());
        let (_, out) = round_trip(&rgba8, "in.png", "out.tif", &SaveOptions::default());
        assert_eq!(out.as_bytes(), rgba8.as_bytes());

        let rgba16 = DynamicImage::ImageRgba16(ImageBuffer::from_fn(6, 5, |x, y| {
            Rgba([1, 2, 3, (x * 10000 + y) as u16 + 12345])
        }));
        let (_, out) = round_trip(&rgba16, "in.png", "out.tif", &SaveOptions::default());
        assert_eq!(
            out.as_rgba16().unwrap().as_raw(),
            rgba16.as_rgba16().unwrap().as_raw()
        );

        // Grey + alpha: kept as such in PNG, widened to RGBA in TIFF; alpha exact either way.
        let la8 = DynamicImage::ImageLumaA8(ImageBuffer::from_fn(6, 5, |x, y| {
            LumaA([(x * 40) as u8, (y * 50 + 1) as u8])
        }));
        let (_, out) = round_trip(&la8, "in.png", "out.png", &SaveOptions::default());
        assert_eq!(out.as_bytes(), la8.as_bytes());
        let (_, out) = round_trip(&la8, "in.png", "out.tif", &SaveOptions::default());
        assert_eq!(out.color(), image::ColorType::Rgba8);
        assert_eq!(out.to_luma_alpha8().as_raw(), la8.as_bytes());

        // JPEG drops alpha (with a warning) instead of failing.
        let (_, out) = round_trip(&rgba8, "in.png", "out.jpg", &SaveOptions::default());
        assert_eq!(out.color(), image::ColorType::Rgb8);
    }

    fn fake_icc() -> Vec<u8> {
        // Opaque to us and to the codecs: any bytes must come back unchanged.
        (0..3000u32).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn read_metadata(path: &Path) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        let mut dec = image::ImageReader::open(path)
            .unwrap()
            .with_guessed_format()
            .unwrap()
            .into_decoder()
            .unwrap();
        (dec.icc_profile().unwrap(), dec.exif_metadata().unwrap())
    }

    fn photo_with_metadata() -> Photo {
        let mut p = Photo::from_image(&rgb8());
        p.icc = Some(fake_icc());
        p.exif = Some(sample_exif(true, 1));
        p
    }

    #[test]
    fn icc_and_exif_round_trip_through_png_and_jpeg() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.png", "a.jpg"] {
            let first = dir.path().join(name);
            save(
                &photo_with_metadata(),
                &first,
                None,
                &SaveOptions::default(),
            )
            .unwrap();
            let (icc, exif) = read_metadata(&first);
            assert_eq!(icc, Some(fake_icc()), "{name}");
            assert_eq!(exif, Some(sample_exif(true, 1)), "{name}");
            // And through our own load → save.
            let photo = load_default(&first);
            assert_eq!(photo.icc, Some(fake_icc()), "{name}");
            let second = dir.path().join(format!("b-{name}"));
            save(&photo, &second, Some(&first), &SaveOptions::default()).unwrap();
            assert_eq!(
                read_metadata(&second),
                (Some(fake_icc()), Some(sample_exif(true, 1)))
            );
        }
    }

    #[test]
    fn tiff_keeps_icc_and_drops_exif_without_failing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tif");
        // image 0.25.10's TIFF decoder caps tag values at the pixel buffer's size (counting
        // ~24 bytes per value), so a tiny image loses a 3 KB profile; any real photo is larger.
        let mut photo = Photo::from_image(&DynamicImage::new_rgb8(256, 128));
        photo.icc = Some(fake_icc());
        photo.exif = Some(sample_exif(true, 1));
        save(&photo, &path, None, &SaveOptions::default()).unwrap();
        let loaded = load_default(&path);
        assert_eq!(loaded.icc, Some(fake_icc()));
        assert_eq!(loaded.exif, None);
    }

    #[test]
    fn oversized_jpeg_exif_is_dropped_not_corrupted() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = photo_with_metadata();
        let mut exif = sample_exif(false, 1);
        exif.resize(70_000, 0);
        p.exif = Some(exif);
        let path = dir.path().join("a.jpg");
        save(&p, &path, None, &SaveOptions::default()).unwrap();
        let (icc, exif) = read_metadata(&path);
        assert_eq!((icc, exif), (Some(fake_icc()), None));
    }

    #[test]
    fn orientation_6_jpeg_saves_with_orientation_1_and_same_other_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.jpg");
        let mut bytes = Vec::new();
        let mut enc = JpegEncoder::new_with_quality(&mut bytes, 95);
        enc.set_exif_metadata(sample_exif(false, 6)).unwrap();
        let img = rgb8();
        enc.write_image(img.as_bytes(), 13, 9, image::ExtendedColorType::Rgb8)
            .unwrap();
        std::fs::write(&input, bytes).unwrap();

        let photo = load_default(&input);
        assert_eq!((photo.width, photo.height), (9, 13));
        for name in ["out.jpg", "out.png"] {
            let output = dir.path().join(name);
            save(&photo, &output, Some(&input), &SaveOptions::default()).unwrap();
            let (_, exif) = read_metadata(&output);
            let exif = exif.unwrap();
            assert_eq!(exif::orientation(&exif), Some(1));
            let original = sample_exif(false, 6);
            let differing: Vec<usize> = (0..original.len())
                .filter(|&i| exif[i] != original[i])
                .collect();
            assert_eq!(exif.len(), original.len());
            assert_eq!(differing, [30], "only the orientation value changes");
            // Not rotated a second time.
            assert_eq!(image::open(&output).unwrap().width(), 9);
            let again = load_default(&output);
            assert_eq!((again.width, again.height), (9, 13));
        }
    }

    #[test]
    fn refuses_to_write_over_the_input() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let input = dir.path().join("photo.png");
        rgb8().save(&input).unwrap();
        let before = std::fs::read(&input).unwrap();
        let photo = load_default(&input);
        let opts = SaveOptions {
            overwrite: true,
            ..SaveOptions::default()
        };
        let spellings: [PathBuf; 3] = [
            input.clone(),
            dir.path().join(".").join("photo.png"),
            dir.path().join("sub").join("..").join("photo.png"),
        ];
        for out in &spellings {
            let err = save(&photo, out, Some(&input), &opts).unwrap_err();
            assert!(
                matches!(err, ImagingError::SameAsInput { .. }),
                "{out:?}: {err:?}"
            );
            assert!(err.to_string().contains("photo.png"), "{err}");
            assert!(check_output_path(&input, out, true).is_err());
        }
        #[cfg(unix)]
        {
            // A relative spelling: up from the working directory to the root, then down.
            let cwd = std::env::current_dir().unwrap().canonicalize().unwrap();
            let mut relative = PathBuf::new();
            for _ in 1..cwd.components().count() {
                relative.push("..");
            }
            relative.push(input.canonicalize().unwrap().strip_prefix("/").unwrap());
            assert!(relative.is_relative());
            let err = save(&photo, &relative, Some(&input), &opts).unwrap_err();
            assert!(matches!(err, ImagingError::SameAsInput { .. }), "{err:?}");

            let link = dir.path().join("link.png");
            std::fs::hard_link(&input, &link).unwrap();
            let err = save(&photo, &link, Some(&input), &opts).unwrap_err();
            assert!(matches!(err, ImagingError::SameAsInput { .. }), "{err:?}");
        }
        assert_eq!(std::fs::read(&input).unwrap(), before);
    }

    #[test]
    fn existing_output_needs_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("out.png");
        std::fs::write(&output, b"precious").unwrap();
        let photo = Photo::from_image(&rgb8());
        let err = save(&photo, &output, None, &SaveOptions::default()).unwrap_err();
        assert!(matches!(err, ImagingError::OutputExists { .. }), "{err:?}");
        assert!(err.to_string().contains("out.png") && err.to_string().contains("--overwrite"));
        assert_eq!(std::fs::read(&output).unwrap(), b"precious");

        let opts = SaveOptions {
            overwrite: true,
            ..SaveOptions::default()
        };
        save(&photo, &output, None, &opts).unwrap();
        assert_eq!(image::open(&output).unwrap().as_bytes(), rgb8().as_bytes());
        assert_eq!(files_in(dir.path()), ["out.png"]);
    }

    #[test]
    fn failed_encode_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        // JPEG cannot be wider than 65535 pixels: the encoder fails after the file was created.
        let wide = Photo {
            width: 70_000,
            height: 1,
            rgb: vec![0.5; 3 * 70_000],
            alpha: None,
            grayscale: false,
            bit_depth: BitDepth::Eight,
            exif: None,
            icc: None,
        };
        let output = dir.path().join("wide.jpg");
        let err = save(&wide, &output, None, &SaveOptions::default()).unwrap_err();
        assert!(matches!(err, ImagingError::Encode { .. }), "{err:?}");
        assert!(err.to_string().contains("wide.jpg"), "{err}");
        assert!(
            files_in(dir.path()).is_empty(),
            "{:?}",
            files_in(dir.path())
        );

        // Same with an existing output and overwrite: the old file survives intact.
        std::fs::write(&output, b"old").unwrap();
        let opts = SaveOptions {
            overwrite: true,
            ..SaveOptions::default()
        };
        assert!(save(&wide, &output, None, &opts).is_err());
        assert_eq!(files_in(dir.path()), ["wide.jpg"]);
        assert_eq!(std::fs::read(&output).unwrap(), b"old");
    }

    #[test]
    fn bad_outputs_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let photo = Photo::from_image(&rgb8());
        for name in ["out.gif", "out"] {
            let err = save(
                &photo,
                &dir.path().join(name),
                None,
                &SaveOptions::default(),
            )
            .unwrap_err();
            assert!(
                matches!(err, ImagingError::UnsupportedOutput { .. }),
                "{err:?}"
            );
            assert!(err.to_string().contains(name), "{err}");
        }
        assert_eq!(
            OutputFormat::from_path(Path::new("A.JPEG")).unwrap(),
            OutputFormat::Jpeg
        );
        assert_eq!(
            OutputFormat::from_path(Path::new("a.Tif"))
                .unwrap()
                .extension(),
            "tif"
        );

        let err = save(
            &photo,
            &dir.path().join("missing/out.png"),
            None,
            &SaveOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ImagingError::Write { .. }), "{err:?}");
        assert!(err.to_string().contains("out.png"), "{err}");

        std::fs::create_dir(dir.path().join("folder.png")).unwrap();
        let err = save(
            &photo,
            &dir.path().join("folder.png"),
            None,
            &SaveOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ImagingError::Write { .. }), "{err:?}");

        let mut broken = photo.clone();
        broken.rgb.truncate(10);
        let err = save(
            &broken,
            &dir.path().join("broken.png"),
            None,
            &SaveOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ImagingError::InvalidPhoto { .. }), "{err:?}");
        assert_eq!(files_in(dir.path()), ["folder.png"]);
    }

    #[cfg(unix)]
    #[test]
    fn output_gets_ordinary_file_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let reference = dir.path().join("reference");
        File::create(&reference).unwrap();
        let output = dir.path().join("out.png");
        save(
            &Photo::from_image(&rgb8()),
            &output,
            None,
            &SaveOptions::default(),
        )
        .unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&output), mode(&reference));
    }
}
