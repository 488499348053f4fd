//! The real binary opens a window (under Xvfb in CI), shows a photo, and its screenshot is not
//! blank. Needs a display: without one it says so loudly, and fails when
//! `DEBLUR_REQUIRE_GUI_SMOKE=1` (set by `.ci/run`, which runs the tests under `xvfb-run`).

use std::process::Command;

#[test]
fn the_window_opens_and_shows_the_photo() {
    let has_display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    if !has_display {
        if std::env::var_os("DEBLUR_REQUIRE_GUI_SMOKE").is_some() {
            panic!("no DISPLAY but DEBLUR_REQUIRE_GUI_SMOKE is set");
        }
        eprintln!("\n*** gui smoke test SKIPPED: no DISPLAY (run under xvfb-run) ***\n");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let shot = dir.path().join("window.png");
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/samples/clock_motion.png"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_deblur"))
        .args(["open", sample, "--device", "cpu", "--screenshot"])
        .arg(&shot)
        // A fresh config folder: no remembered window state.
        .env("XDG_CONFIG_HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .output()
        .expect("run deblur open");
    assert!(
        out.status.success(),
        "deblur open failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(&shot)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", shot.display()))
        .to_rgb8();
    assert!(
        img.width() >= 640 && img.height() >= 400,
        "{:?}",
        img.dimensions()
    );
    // Not blank: many distinct grey levels (the photo) and real contrast.
    let mut levels = [false; 256];
    let (mut lo, mut hi) = (255u8, 0u8);
    for p in img.pixels() {
        let g = ((p[0] as u32 + p[1] as u32 + p[2] as u32) / 3) as u8;
        levels[g as usize] = true;
        lo = lo.min(g);
        hi = hi.max(g);
    }
    let distinct = levels.iter().filter(|&&b| b).count();
    assert!(distinct > 64, "only {distinct} grey levels: blank window?");
    assert!(hi - lo > 100, "contrast {lo}..{hi}: blank window?");

    // Around the photo is the viewer's background, which nothing paints: eframe clears the
    // window to it (`App::clear_color`), so it is the most common colour of the window.
    let mut counts = std::collections::HashMap::new();
    for p in img.pixels() {
        *counts.entry(p.0).or_insert(0usize) += 1;
    }
    let commonest = counts.into_iter().max_by_key(|&(_, n)| n).map(|(c, _)| c);
    let bg = deblur::app::theme::VIEWER_BACKGROUND;
    assert_eq!(commonest, Some([bg.r(), bg.g(), bg.b()]));
}
