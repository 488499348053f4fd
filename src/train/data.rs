//! Training photos: discovery, the fixed train/validation split, decoding (models.md §12.5).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::synth::Photo;

/// FNV-1a, 64 bit: a stable hash (unlike std's) for the split.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A photo is held out for validation when the hash of its relative path (with `/`) mod 10 = 0.
pub fn is_validation(relative: &str) -> bool {
    stable_hash(relative.as_bytes()) % 10 == 0
}

/// Relative paths (with `/`) of every photo under `root`, sorted.
pub fn list_photos(root: &Path) -> anyhow::Result<Vec<String>> {
    if !root.is_dir() {
        anyhow::bail!("training photos folder {} does not exist", root.display());
    }
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry?;
        let path = entry.path();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        if entry.file_type().is_file() && matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg")) {
            let rel = path.strip_prefix(root)?;
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
    out.sort();
    Ok(out)
}

/// The split: (training, validation) relative paths.
pub fn split(photos: &[String]) -> (Vec<String>, Vec<String>) {
    photos.iter().cloned().partition(|p| !is_validation(p))
}

/// Decodes photos to 8-bit sRGB in parallel; unreadable files are an error naming the file.
pub fn load_photos(root: &Path, relative: &[String]) -> anyhow::Result<Vec<Photo>> {
    relative
        .par_iter()
        .map(|rel| {
            let path: PathBuf = root.join(rel);
            let img = image::open(&path)
                .map_err(|e| {
                    anyhow::anyhow!("cannot decode training photo {}: {e}", path.display())
                })?
                .to_rgb8();
            Ok(Photo {
                width: img.width(),
                height: img.height(),
                rgb: img.into_raw(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_stable_and_about_ten_percent() {
        // Known FNV-1a value guards the hash against accidental change.
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        let names: Vec<String> = (0..2000).map(|i| format!("set/{i:05}.png")).collect();
        let (train, val) = split(&names);
        assert_eq!(train.len() + val.len(), 2000);
        assert!((150..250).contains(&val.len()), "{} held out", val.len());
        assert!(val.iter().all(|p| is_validation(p)));
    }
}
