//! The desktop app driven headless with egui_kittest, rendered on wgpu (lavapipe in CI):
//! open, a real deblur with the bundled model, the split divider, the kernel overlay, and a
//! batch with a broken file. Snapshots in `tests/snapshots/` are compared with a tolerance;
//! regenerate them with `UPDATE_SNAPSHOTS=1 cargo test --release --test gui`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use deblur::app::state::{SaveDepth, ViewMode};
use deblur::app::{DeblurApp, Launch};
use deblur::deconv::blind::{deconvolve_photo, estimate_photo_kernels, psf_region, BlindOptions};
use deblur::engine::prepare::prepare_on;
use deblur::engine::{restore_photo, ComputeDevice};
use deblur::imaging::{load, BitDepth, LoadOptions};
use egui::{Pos2, Rect};
use egui_kittest::kittest::Queryable;
use egui_kittest::{Harness, SnapshotOptions};

const SIZE: [f32; 2] = [1100.0, 700.0];

/// A small photo-like test image with edges in every direction, blurred horizontally.
fn write_fixture(path: &Path, w: u32, h: u32) {
    let sharp = |x: i64, y: i64| -> [f32; 3] {
        let (x, y) = (
            x.clamp(0, w as i64 - 1) as f32,
            y.clamp(0, h as i64 - 1) as f32,
        );
        let ring = (((x - 40.0).powi(2) + (y - 30.0).powi(2)).sqrt() / 6.0) as i64 % 2;
        let check = ((x / 12.0) as i64 + (y / 12.0) as i64) % 2;
        let v = 0.2 + 0.5 * ring as f32 + 0.25 * check as f32;
        [v, 0.6 * v + 0.2 * (x / w as f32), 1.0 - v * 0.8]
    };
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let mut acc = [0.0f32; 3];
        for dx in -4..=4 {
            let p = sharp(x as i64 + dx, y as i64);
            for c in 0..3 {
                acc[c] += p[c] / 9.0;
            }
        }
        image::Rgb(acc.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8))
    });
    img.save(path).expect("write the fixture");
}

/// A harness on wgpu, or `None` (said loudly) when there is no adapter and CI does not
/// require one.
fn harness(test: &str, launch: Launch) -> Option<Harness<'static, DeblurApp>> {
    common::wgpu_device(test)?;
    Some(
        Harness::builder()
            .with_size(SIZE)
            .wgpu()
            .build_eframe(move |cc| DeblurApp::new(cc, launch)),
    )
}

/// Steps the app until `done` holds (workers run on their own threads meanwhile).
fn wait_until(
    h: &mut Harness<'static, DeblurApp>,
    what: &str,
    timeout_s: u64,
    done: impl Fn(&DeblurApp) -> bool,
) {
    let start = Instant::now();
    while !done(h.state()) {
        assert!(
            start.elapsed() < Duration::from_secs(timeout_s),
            "timed out waiting for {what}; notices: {:?}",
            h.state()
                .notices
                .iter()
                .map(|n| &n.text)
                .collect::<Vec<_>>()
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run_steps(3);
}

/// Snapshot with what varies between runs and machines masked: the status bar (timings), the
/// device label (thread count) and temporary paths.
fn snapshot(h: &mut Harness<'static, DeblurApp>, name: &str) {
    h.remove_cursor();
    h.run_steps(2);
    h.mask(Rect::from_min_max(
        Pos2::new(0.0, SIZE[1] - 56.0),
        Pos2::new(SIZE[0], SIZE[1]),
    ));
    // The device label names the thread count, which depends on the machine, and paths
    // name the test's random temporary folder.
    let temp = std::env::temp_dir().display().to_string();
    let varying: Vec<Rect> = h
        .query_all_by_label_contains("CPU (")
        .chain(h.query_all_by_label_contains(&temp))
        .map(|n| n.rect())
        .collect();
    for rect in varying {
        h.mask(rect);
    }
    let options = SnapshotOptions::new().threshold(2.0).max_failed_pixels(400);
    h.snapshot_options(name, &options);
}

#[test]
fn open_deblur_compare_and_inspect_kernels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let photo_path = dir.path().join("blurred.png");
    write_fixture(&photo_path, 96, 64);
    let launch = Launch {
        files: vec![photo_path.clone()],
        ..Default::default()
    };
    let Some(mut h) = harness("gui open/deblur", launch) else {
        return;
    };
    wait_until(&mut h, "the photo to load", 30, |a| {
        a.doc.as_ref().is_some_and(|d| d.before.is_some())
    });
    let doc = h.state().doc.as_ref().expect("a document");
    assert_eq!(
        doc.photo.as_ref().map(|p| (p.width, p.height)),
        Some((96, 64))
    );
    assert!(h.state().settings.recent.first() == Some(&photo_path));
    snapshot(&mut h, "gui_loaded");

    // The default method is blind deconvolution; first a real deblur with the bundled
    // network on the CPU.
    assert_eq!(h.state().settings.model, "blind");
    h.state_mut().settings.model = "nafnet-s".into();
    h.get_by_label("▶ Deblur").click();
    h.step();
    assert!(
        h.state().doc.as_ref().is_some_and(|d| d.progress.is_some()),
        "the run button starts a job"
    );
    wait_until(&mut h, "the deblur", 300, |a| {
        a.doc.as_ref().is_some_and(|d| d.restored.is_some())
    });
    let restored = h
        .state()
        .doc
        .as_ref()
        .and_then(|d| d.restored.as_ref())
        .expect("restored");
    assert_eq!(restored.model, "nafnet-s");
    let restored = restored.photo.clone();
    // The GUI's result is the engine's result for the same photo and model.
    let cpu = ComputeDevice::cpu();
    let prepared = prepare_on("nafnet-s", &cpu, None, None).expect("the bundled model");
    let photo = load(&photo_path, &LoadOptions::default()).expect("fixture");
    let direct = restore_photo(
        &prepared.runner,
        &photo,
        prepared.tiles,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .expect("direct deblur");
    let diff = common::max_abs_diff(&direct.rgb, &restored.rgb);
    assert!(diff < 1e-4, "GUI and engine differ by {diff}");
    assert!(
        common::max_abs_diff(&photo.rgb, &restored.rgb) > 1e-3,
        "the model changed the photo"
    );
    snapshot(&mut h, "gui_deblurred_split");

    // Save as 16-bit TIFF at strength 0.5: the file holds the blend, at 16 bits.
    let out = dir.path().join("sharp.tiff");
    h.state_mut().settings.save_depth = SaveDepth::Sixteen;
    h.state_mut().settings.strength = 0.5;
    h.state_mut().save_to(out.clone());
    wait_until(&mut h, "the save", 30, |a| {
        a.notices.iter().any(|n| n.text.starts_with("saved "))
    });
    let saved = load(&out, &LoadOptions::default()).expect("the saved TIFF");
    assert_eq!(saved.bit_depth, BitDepth::Sixteen);
    let blend: Vec<f32> = photo
        .rgb
        .iter()
        .zip(&restored.rgb)
        .map(|(a, b)| a + 0.5 * (b - a))
        .collect();
    let diff = common::max_abs_diff(&saved.rgb, &blend);
    assert!(diff <= 1.0 / 65535.0, "saved blend differs by {diff}");
    h.state_mut().settings.strength = 1.0;

    // The original is never overwritten.
    let original = std::fs::read(&photo_path).expect("original");
    h.state_mut().save_to(photo_path.clone());
    h.run_steps(3);
    assert_eq!(std::fs::read(&photo_path).expect("original"), original);
    assert!(h
        .state()
        .notices
        .iter()
        .any(|n| n.error && n.text.contains("never overwritten")));
    // Dismissed, so the status bar (masked in snapshots) has its usual height again.
    h.state_mut().notices.clear();

    // Drag the divider from the middle to a quarter of the view.
    let view = h.state().view_rect.expect("the viewer was drawn");
    let split = h.state().settings.split;
    let from = Pos2::new(view.left() + split * view.width(), view.center().y + 60.0);
    let to = Pos2::new(view.left() + 0.25 * view.width(), from.y);
    h.hover_at(from);
    h.step();
    h.drag_at(from);
    h.step();
    for i in 1..=5 {
        h.hover_at(from + (to - from) * (i as f32 / 5.0));
        h.step();
    }
    h.drop_at(to);
    h.step();
    let moved = h.state().settings.split;
    assert!(
        (moved - 0.25).abs() < 0.02,
        "divider at {moved}, wanted 0.25"
    );
    assert!(
        h.state().viewport.fitted,
        "dragging the divider does not pan the photo"
    );

    // Kernel overlay: estimated from the photo and its deblurred version.
    h.get_by_label("Kernels").click();
    wait_until(&mut h, "the kernels", 120, |a| {
        a.doc.as_ref().is_some_and(|d| d.kernels.is_some())
    });
    assert!(h.state().settings.show_kernels);
    let n = h
        .state()
        .doc
        .as_ref()
        .and_then(|d| d.kernels.as_ref())
        .map(|k| k.kernels.len())
        .unwrap_or(0);
    assert!(n >= 1, "at least one region kernel");
    // What the overlay is meant to show: the fixture's blur, a horizontal 9-px box. The box
    // averages sRGB values, which is no box in linear light, where the kernel is estimated:
    // measured 6.3 px, so 5–11 px is asked. The kernels come from the photo alone (pure
    // Rust and rustfft, no network), so they do not change with the CPU's SIMD paths (issue
    // 32; `tests/blind_deconv.rs` checks the estimate against ±1e-6 perturbations).
    for k in &h
        .state()
        .doc
        .as_ref()
        .and_then(|d| d.kernels.as_ref())
        .expect("kernels")
        .kernels
    {
        let s = k.stats;
        let horizontal = s.angle_deg.min(180.0 - s.angle_deg);
        eprintln!(
            "fixture kernel: length {:.1} px at {:.0}°",
            s.length, s.angle_deg
        );
        assert!(
            horizontal < 10.0,
            "kernel at {:.0}°, wanted horizontal",
            s.angle_deg
        );
        assert!(
            (5.0..=11.0).contains(&s.length),
            "kernel length {:.1} px",
            s.length
        );
    }
    snapshot(&mut h, "gui_kernels");

    // Blur map: nafnet-s has no router, so the map comes from the same region kernels.
    h.get_by_label("Blur map").click();
    wait_until(&mut h, "the blur map", 60, |a| {
        a.doc.as_ref().is_some_and(|d| d.blur_map.is_some())
    });
    let doc = h.state().doc.as_ref().expect("document");
    let map = doc.blur_map.as_ref().expect("blur map");
    assert!(!map.from_routers, "nafnet-s has no router");
    assert!(map.source.contains("PSF"), "legend source: {}", map.source);
    let open = doc.photo.as_ref().expect("photo");
    assert_eq!((map.map.width, map.map.height), (open.width, open.height));
    assert!(map.min <= map.max && map.map.values.iter().all(|v| v.is_finite()));
    snapshot(&mut h, "gui_blur_map");

    // The blind method: the inspector then shows exactly the kernels the deblur used, and
    // the result is the pipeline's for those kernels.
    h.state_mut().settings.model = "blind".into();
    h.get_by_label("▶ Deblur").click();
    wait_until(&mut h, "the blind deblur", 120, |a| {
        a.doc
            .as_ref()
            .and_then(|d| d.restored.as_ref())
            .is_some_and(|r| r.model == "blind")
            && a.doc
                .as_ref()
                .is_some_and(|d| d.kernels.is_some() && d.progress.is_none())
    });
    let doc = h.state().doc.as_ref().expect("document");
    let shown = doc.kernels.as_ref().expect("kernels").kernels.clone();
    let blind = doc.restored.as_ref().expect("restored").photo.clone();
    let cancel = AtomicBool::new(false);
    let opts = BlindOptions::default();
    let used = estimate_photo_kernels(&photo, &opts, &cancel, &|_| {}).expect("kernels");
    assert_eq!(shown.len(), used.len());
    for (a, b) in shown.iter().zip(&used) {
        assert_eq!(a.kernel, b.kernel, "the inspector shows the kernels used");
    }
    let direct = deconvolve_photo(&photo, &used, &cancel, &|_| {}).expect("deconvolve");
    let diff = common::max_abs_diff(&direct.rgb, &blind.rgb);
    assert!(diff < 1e-5, "GUI and pipeline differ by {diff}");

    // A known kernel overrides the estimate: File ▸ Deconvolve with a PSF image (the dialog
    // answers with this path). The inspector then shows that kernel, and the result is the
    // deconvolution with it.
    let psf_path = dir.path().join("psf.png");
    image::GrayImage::from_fn(11, 3, |x, y| {
        image::Luma([if y == 1 && (1..10).contains(&x) {
            255
        } else {
            0
        }])
    })
    .save(&psf_path)
    .expect("write the PSF");
    let psf = psf_region(&psf_path, photo.width, photo.height).expect("the PSF");
    h.state_mut().deconvolve_with_psf(psf_path);
    assert!(
        h.state().doc.as_ref().is_some_and(|d| d.progress.is_some()),
        "a job starts"
    );
    wait_until(&mut h, "the PSF deconvolution", 60, |a| {
        a.doc.as_ref().is_some_and(|d| {
            d.progress.is_none()
                && d.kernels
                    .as_ref()
                    .is_some_and(|k| k.kernels[0].kernel == psf.kernel)
        })
    });
    let with_psf = h
        .state()
        .doc
        .as_ref()
        .and_then(|d| d.restored.as_ref())
        .expect("restored")
        .photo
        .clone();
    let direct = deconvolve_photo(&photo, &[psf], &cancel, &|_| {}).expect("deconvolve");
    let diff = common::max_abs_diff(&direct.rgb, &with_psf.rgb);
    assert!(diff < 1e-5, "GUI and pipeline differ by {diff}");

    // Space flips to the before/after toggle.
    let after = h.state().show_after;
    h.key_press(egui::Key::Space);
    h.step();
    assert_eq!(h.state().settings.view_mode, ViewMode::Toggle);
    assert_eq!(h.state().show_after, !after);
}

#[test]
fn batch_panel_reports_the_broken_file_and_finishes_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    let output = dir.path().join("out");
    std::fs::create_dir_all(&input).expect("mkdir");
    write_fixture(&input.join("good.png"), 48, 40);
    std::fs::write(input.join("broken.jpg"), b"this is not a JPEG").expect("write");
    let Some(mut h) = harness("gui batch", Launch::default()) else {
        return;
    };
    h.run_steps(2);
    {
        let app = h.state_mut();
        app.settings.batch_input = Some(input.clone());
        app.settings.batch_output = Some(output.clone());
        // A network: the 48×40 fixture is below the blind method's smallest photo.
        app.settings.model = "nafnet-s".into();
        app.batch.open = true;
    }
    h.run_steps(2);
    h.get_by_label("▶ Start batch").click();
    h.step();
    assert!(h.state().batch.running);
    wait_until(&mut h, "the batch", 300, |a| !a.batch.running);
    let b = &h.state().batch;
    assert_eq!(b.error, None);
    assert_eq!(b.failures(), 1);
    let failed: Vec<&String> = b
        .files
        .iter()
        .filter(|(_, s)| matches!(s, deblur::app::batch::FileState::Failed(_)))
        .map(|(f, _)| f)
        .collect();
    assert!(failed[0].contains("broken.jpg"), "{failed:?}");
    assert!(output.join("good.png").is_file());
    assert!(!output.join("broken.png").exists() && !output.join("broken.jpg").exists());
    let summary = b.summary.clone().unwrap_or_default();
    assert!(
        summary.starts_with("1 done, 0 skipped, 1 failed"),
        "{summary}"
    );
    // No snapshot here: the window sizes itself to the random temporary paths it shows.
}

#[test]
fn a_file_that_cannot_be_opened_is_named_in_the_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad: PathBuf = dir.path().join("holiday.jpg");
    std::fs::write(&bad, b"\xff\xd8 truncated").expect("write");
    let launch = Launch {
        files: vec![bad],
        ..Default::default()
    };
    let Some(mut h) = harness("gui open error", launch) else {
        return;
    };
    wait_until(&mut h, "the error", 30, |a| {
        a.notices.iter().any(|n| n.error)
    });
    let n = &h.state().notices[0];
    assert!(n.text.contains("holiday.jpg"), "{}", n.text);
    assert!(h.state().doc.is_none(), "no document is left half-open");
    h.get_by_label("📂 Open a photo…");
}
