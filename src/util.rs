//! Small helpers shared across modules.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to a temporary file beside `path` and renames it into place, so a crash
/// never leaves a half-written file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    // tempfile creates 0600 files; a written result should read like any other file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Median milliseconds of `run` after one warm-up (which also compiles GPU pipelines);
/// `run` must wait for its result. For benchmarks.
pub fn median_ms(repeats: usize, mut run: impl FnMut()) -> f64 {
    run();
    let mut t: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let s = std::time::Instant::now();
            run();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}
