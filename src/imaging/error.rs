//! Errors of photo reading and writing.
//!
//! Every variant names the file, and `Display` is one line, because these messages go straight
//! to the user (CLI output, batch reports).

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ImagingError {
    /// The file could not be opened or read (missing, permissions, I/O failure).
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot read {}: file is empty (0 bytes)", path.display())]
    Empty { path: PathBuf },

    /// A folder or a special file (device, socket) where a photo was expected.
    #[error("cannot read {}: it is {kind}, not a regular file", path.display())]
    NotAFile { path: PathBuf, kind: &'static str },

    /// The content matches none of the image formats we know.
    #[error("cannot decode {}: not an image (the content matches no known image format)", path.display())]
    NotAnImage { path: PathBuf },

    /// A real image format we do not read (GIF, AVIF, ...), or a file type we do not handle.
    #[error("cannot read {}: {what} is not supported (supported: JPEG, PNG, TIFF, WebP, BMP)", path.display())]
    UnsupportedInput { path: PathBuf, what: String },

    /// The file claims a supported format but its data is broken (truncated, corrupt).
    #[error("cannot decode {}: {reason}", path.display())]
    Decode { path: PathBuf, reason: String },

    /// Refused from the header, before any pixel memory is allocated.
    #[error("{} is {megapixels:.1} megapixels, over the {limit} MP limit (--max-megapixels)", path.display())]
    TooLarge {
        path: PathBuf,
        megapixels: f64,
        limit: f64,
    },

    #[error("cannot write {}: {what}", path.display())]
    UnsupportedOutput { path: PathBuf, what: String },

    #[error("refusing to write {}: it is the input photo", path.display())]
    SameAsInput { path: PathBuf },

    #[error("refusing to write {}: it already exists (use --overwrite to replace it)", path.display())]
    OutputExists { path: PathBuf },

    /// The in-memory photo is inconsistent (buffer sizes do not match its dimensions).
    #[error("cannot write {}: invalid photo data ({reason})", path.display())]
    InvalidPhoto { path: PathBuf, reason: String },

    #[error("cannot encode {}: {reason}", path.display())]
    Encode { path: PathBuf, reason: String },

    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ImagingError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Read { path, .. }
            | Self::Empty { path }
            | Self::NotAFile { path, .. }
            | Self::NotAnImage { path }
            | Self::UnsupportedInput { path, .. }
            | Self::Decode { path, .. }
            | Self::TooLarge { path, .. }
            | Self::UnsupportedOutput { path, .. }
            | Self::SameAsInput { path }
            | Self::OutputExists { path }
            | Self::InvalidPhoto { path, .. }
            | Self::Encode { path, .. }
            | Self::Write { path, .. } => path,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_name_the_file() {
        let p = PathBuf::from("huge.tif");
        let e = ImagingError::TooLarge {
            path: p.clone(),
            megapixels: 250.0,
            limit: 200.0,
        };
        assert_eq!(
            e.to_string(),
            "huge.tif is 250.0 megapixels, over the 200 MP limit (--max-megapixels)"
        );
        let e = ImagingError::Empty {
            path: PathBuf::from("photo.jpg"),
        };
        assert_eq!(
            e.to_string(),
            "cannot read photo.jpg: file is empty (0 bytes)"
        );
        assert_eq!(e.path(), Path::new("photo.jpg"));
        let e = ImagingError::Decode {
            path: PathBuf::from("broken.png"),
            reason: "truncated PNG data".into(),
        };
        assert_eq!(
            e.to_string(),
            "cannot decode broken.png: truncated PNG data"
        );
        assert!(!e.to_string().contains('\n'));
    }
}
