//! The `deblur` binary end to end: run, batch, models, and its behaviour on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn deblur(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deblur"))
        .args(args)
        .env("DEBLUR_LOG", "warn")
        .output()
        .expect("binary runs")
}

fn tiny_model() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/nafnet/nafnet_tiny.pth")
        .display()
        .to_string()
}

/// `deblur run INPUT -o OUTPUT --model <tiny fixture> EXTRA…`.
fn run_tiny(input: &Path, output: &Path, extra: &[&str]) -> Output {
    let (input, output, model) = (
        input.display().to_string(),
        output.display().to_string(),
        tiny_model(),
    );
    let mut args = vec!["run", &input, "-o", &output, "--model", &model];
    args.extend_from_slice(extra);
    deblur(&args)
}

fn write_png(path: &Path, w: u32, h: u32) {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 7 % 256) as u8,
            (y * 5 % 256) as u8,
            ((x + y) % 256) as u8,
        ])
    });
    img.save(path).expect("write test image");
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_clean_failure(o: &Output, names: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "should fail: {err}");
    assert!(
        !err.contains("panicked"),
        "panic instead of an error: {err}"
    );
    assert!(err.contains(names), "error should name {names}: {err}");
    assert_eq!(
        err.trim().lines().filter(|l| l.contains("error")).count(),
        1,
        "one error line: {err}"
    );
}

#[test]
fn run_deblurs_a_photo_and_keeps_its_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.png");
    let output = dir.path().join("out.png");
    write_png(&input, 50, 37);
    let o = run_tiny(
        &input,
        &output,
        &["--device", "cpu", "--tile", "32", "--overlap", "8"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = image::open(&output).expect("output decodes");
    assert_eq!((out.width(), out.height()), (50, 37));
    let a = image::open(&input).expect("input").to_rgb8();
    assert_ne!(
        a.as_raw(),
        out.to_rgb8().as_raw(),
        "the network changed nothing"
    );
    // No temporary file is left in the folder.
    let names: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn run_refuses_to_overwrite_its_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("photo.png");
    write_png(&input, 20, 20);
    let before = std::fs::read(&input).unwrap();
    let same = dir.path().join(".").join("photo.png");
    let o = run_tiny(&input, &same, &["--overwrite"]);
    assert_clean_failure(&o, "photo.png");
    assert_eq!(std::fs::read(&input).unwrap(), before);
}

#[test]
fn bad_inputs_get_one_line_errors_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    let text = dir.path().join("notes.png");
    std::fs::write(&text, b"these are not pixels").unwrap();
    let truncated = dir.path().join("cut.png");
    write_png(&truncated, 64, 64);
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let big = dir.path().join("big.png");
    write_png(&big, 1200, 1000);
    let out = dir.path().join("out.png");
    let model = tiny_model();
    for (file, extra) in [
        (&empty, None),
        (&text, None),
        (&truncated, None),
        (&big, Some("0.5")),
    ] {
        let mut args = vec![
            "run",
            file.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--model",
            &model,
        ];
        if let Some(mp) = extra {
            args.extend(["--max-megapixels", mp]);
        }
        let o = deblur(&args);
        assert_clean_failure(&o, file.file_name().unwrap().to_str().unwrap());
    }
    let missing = deblur(&[
        "run",
        "/nonexistent/x.png",
        "-o",
        out.to_str().unwrap(),
        "--model",
        &model,
    ]);
    assert_clean_failure(&missing, "x.png");
    let bad_model = deblur(&[
        "run",
        big.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--model",
        "no-such-model",
    ]);
    assert_clean_failure(&bad_model, "no-such-model");
    assert!(!out.exists());
}

#[test]
fn batch_keeps_structure_reports_failures_and_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir_all(input.join("sub")).unwrap();
    write_png(&input.join("a.png"), 30, 20);
    write_png(&input.join("sub/b.png"), 25, 25);
    std::fs::write(input.join("broken.jpg"), b"garbage").unwrap();
    std::fs::write(input.join("readme.txt"), b"not an image, ignored").unwrap();
    let output = dir.path().join("out");
    let report = dir.path().join("report.json");
    let args = [
        "batch",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
        "--recursive",
        "--model",
        &tiny_model(),
        "--device",
        "cpu",
        "--report",
        report.to_str().unwrap(),
    ];
    let o = deblur(&args);
    assert!(
        !o.status.success(),
        "a failed file makes the exit code non-zero"
    );
    assert!(output.join("a.png").is_file());
    assert!(output.join("sub/b.png").is_file());
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["done"].as_array().unwrap().len(), 2);
    let failed = r["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["input"].as_str().unwrap().ends_with("broken.jpg"));
    assert!(!failed[0]["error"].as_str().unwrap().is_empty());

    // Second run: existing outputs are skipped, the broken file fails again.
    std::fs::remove_file(input.join("broken.jpg")).unwrap();
    let o = deblur(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["done"].as_array().unwrap().len(), 0);
    assert_eq!(r["skipped"].as_array().unwrap().len(), 2);
}

#[test]
fn batch_with_a_missing_folder_fails_cleanly() {
    let o = deblur(&["batch", "/nonexistent-folder", "-o", "/tmp/never"]);
    assert_clean_failure(&o, "nonexistent-folder");
}

#[test]
fn models_lists_the_default() {
    let o = deblur(&["models"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("nafnet-s") && text.contains("nafnet-32"),
        "{text}"
    );
}

#[test]
fn bench_times_training_steps_per_shard_count() {
    let o = deblur(&[
        "bench",
        "--devices",
        "cpu",
        "--models",
        "nafnet-s",
        "--sizes",
        "16",
        "--train-batch",
        "2",
        "--shards",
        "1,2",
        "--repeats",
        "1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let shards: Vec<u64> = rows.iter().filter_map(|r| r["shards"].as_u64()).collect();
    assert_eq!(shards, [1, 2], "{rows:?}");
    for r in &rows {
        assert!(r["ms"].as_f64().is_some_and(|ms| ms > 0.0), "{r}");
    }
    assert_eq!(rows[0]["ratio_to_baseline"].as_f64(), Some(1.0));
}

#[test]
fn help_explains_every_command() {
    let o = deblur(&["--help"]);
    let text = String::from_utf8_lossy(&o.stdout);
    for cmd in ["run", "batch", "models", "train", "eval"] {
        assert!(text.contains(cmd), "{text}");
    }
}

#[test]
fn kernels_writes_a_grid_and_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("photo.png");
    write_png(&input, 300, 260);
    let png = dir.path().join("kernels.png");
    let json = dir.path().join("kernels.json");
    let o = deblur(&[
        "kernels",
        input.to_str().unwrap(),
        "-o",
        png.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--grid",
        "2x2",
        "--model",
        &tiny_model(),
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let grid = image::open(&png).expect("grid decodes");
    assert_eq!((grid.width(), grid.height()), (300, 260));
    let regions: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let regions = regions.as_array().unwrap();
    assert_eq!(regions.len(), 4);
    let taps: f64 = regions[0]["kernel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((taps - 1.0).abs() < 1e-3, "kernel sums to {taps}");
    // The §8 quotient alone, without the blind refinement.
    let quotient = dir.path().join("quotient.json");
    let o = deblur(&[
        "kernels",
        input.to_str().unwrap(),
        "--json",
        quotient.to_str().unwrap(),
        "--grid",
        "2x2",
        "--no-refine",
        "--model",
        &tiny_model(),
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let regions: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&quotient).unwrap()).unwrap();
    assert_eq!(regions.as_array().map(Vec::len), Some(4));
    // The output may not replace the input.
    let o = deblur(&[
        "kernels",
        input.to_str().unwrap(),
        "-o",
        input.to_str().unwrap(),
        "--model",
        &tiny_model(),
        "--overwrite",
    ]);
    assert_clean_failure(&o, "photo.png");
}

/// A textured photo (the PSF estimate needs structure to compare against).
fn write_textured_png(path: &Path, w: u32, h: u32) {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let v = |a: u32, b: u32| (((x / a + y / b) % 2) * 180 + (x * 13 + y * 7) % 60) as u8;
        image::Rgb([v(6, 9), v(11, 5), v(4, 4)])
    });
    img.save(path).expect("write test image");
}

#[test]
fn run_writes_a_blur_heat_map_and_raw_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("photo.png");
    let output = dir.path().join("out.png");
    let map = dir.path().join("map.png");
    let raw = dir.path().join("map.tiff");
    write_textured_png(&input, 160, 120);
    let o = deblur(&[
        "run",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
        "--model",
        "nafnet-s",
        "--device",
        "cpu",
        "--blur-map",
        map.to_str().unwrap(),
        "--blur-map-raw",
        raw.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(output.is_file());
    // The heat map: the photo's width, a legend strip below it.
    let heat = image::open(&map).expect("heat map decodes");
    assert_eq!(heat.width(), 160);
    assert!(heat.height() > 120 + 20, "legend strip: {}", heat.height());
    // The raw map: one f32 per pixel, in pixels, finite.
    let file = std::fs::File::open(&raw).expect("raw map");
    let mut dec = tiff::decoder::Decoder::new(std::io::BufReader::new(file)).expect("tiff");
    assert_eq!(dec.dimensions().expect("dims"), (160, 120));
    match dec.read_image().expect("decode") {
        tiff::decoder::DecodingResult::F32(v) => {
            assert_eq!(v.len(), 160 * 120);
            assert!(v.iter().all(|x| x.is_finite() && *x >= 0.0));
        }
        _ => panic!("raw map is not 32-bit float"),
    }
}

#[test]
fn blur_map_needs_a_png_and_a_large_enough_photo() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("small.png");
    let output = dir.path().join("out.png");
    write_png(&input, 50, 37);
    let jpg = dir.path().join("map.jpg");
    let o = run_tiny(&input, &output, &["--blur-map", jpg.to_str().unwrap()]);
    assert_clean_failure(&o, "map.jpg");
    let png = dir.path().join("map.png");
    let o = run_tiny(&input, &output, &["--blur-map", png.to_str().unwrap()]);
    assert_clean_failure(&o, "small.png");
    assert!(
        !output.exists() && !png.exists(),
        "nothing written before the check"
    );
}

/// `eval --pairs` scores each pair, and `--against` pairs the scores with an earlier run's: the
/// same model on the same images differs by nothing, image by image; a baseline made on other
/// images is refused, naming the file. The set is named by its canonical path, so another
/// spelling of the same folder pairs.
#[test]
fn eval_pairs_and_a_paired_comparison() {
    let dir = tempfile::tempdir().expect("tempdir");
    let set = dir.path().join("set");
    for sub in ["blur", "sharp"] {
        std::fs::create_dir_all(set.join(sub)).expect("mkdir");
    }
    for (name, w, h) in [("a.png", 96, 80), ("b.png", 70, 90)] {
        write_png(&set.join("sharp").join(name), w, h);
        // The "blurry" side: the same pattern shifted, so the input scores below 100 dB.
        write_png(&set.join("blur").join(name), w, h);
        let mut img = image::open(set.join("blur").join(name)).unwrap().to_rgb8();
        image::imageops::flip_horizontal_in_place(&mut img);
        img.save(set.join("blur").join(name)).expect("save");
    }
    let model = tiny_model();
    let eval = |pairs: &Path, json: &Path, extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--pairs",
            pairs.to_str().unwrap(),
            "--model",
            &model,
            "--device",
            "cpu",
            "--json",
            json.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        deblur(&args)
    };
    let base = dir.path().join("base.json");
    let o = eval(&set, &base, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
    assert_eq!(report["images"].as_array().unwrap().len(), 2);
    assert!(report["mean"]["input_psnr"].as_f64().unwrap() < 40.0);
    assert!(report.get("paired").is_none());

    let again = dir.path().join("again.json");
    let same_set = set.join("..").join("set");
    let o = eval(&same_set, &again, &["--against", base.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("paired over 2 images"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&again).unwrap()).unwrap();
    let p = &report["paired"];
    assert_eq!(p["images"], 2);
    assert_eq!(p["ties"], 2);
    assert!(p["mean_delta_psnr"].as_f64().unwrap().abs() < 1e-9, "{p}");

    // A baseline scored on a different set of images is not a paired comparison.
    std::fs::remove_file(set.join("blur/b.png")).expect("rm");
    std::fs::remove_file(set.join("sharp/b.png")).expect("rm");
    let o = eval(
        &set,
        &dir.path().join("x.json"),
        &["--against", base.to_str().unwrap()],
    );
    assert_clean_failure(&o, "base.json");
}

/// A photo-like image shaken horizontally by 11 px in linear light (gamma 2.2), with its
/// sharp original. The rings' period (22 px) stays clear of the box blur's spectral zeros.
fn write_shaken_png(blurry: &Path, w: u32, h: u32) -> Vec<f32> {
    write_ring_png(blurry, w, h, 5)
}

/// The rings-and-checks image of [`write_shaken_png`], blurred by a box of `2·half + 1` px.
fn write_ring_png(path: &Path, w: u32, h: u32, half: i64) -> Vec<f32> {
    let lin = |v: f32| v.powf(2.2);
    let sharp: Vec<f32> = (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as f32, (i / w) as f32);
            let ring = (((x - 70.0).hypot(y - 60.0) / 11.0) as u32 % 2) as f32;
            let check = (((x / 19.0) as u32 + (y / 13.0) as u32) % 2) as f32;
            0.15 + 0.45 * ring + 0.3 * check
        })
        .collect();
    let img = image::GrayImage::from_fn(w, h, |x, y| {
        let mut acc = 0.0;
        for d in -half..=half {
            let xx = (x as i64 + d).clamp(0, w as i64 - 1) as u32;
            acc += lin(sharp[(y * w + xx) as usize]) / (2 * half + 1) as f32;
        }
        image::Luma([(acc.powf(1.0 / 2.2) * 255.0).round() as u8])
    });
    img.save(path).expect("write the photo");
    sharp
}

/// RMS difference (8-bit grey levels) of `path` from `sharp`, over the inner part, at the best
/// shift within ±2 px (a blind result is known up to a translation).
fn rms_from(path: &Path, sharp: &[f32], w: u32, h: u32) -> f64 {
    let img = image::open(path).expect("decodes").to_luma8();
    let mut best = f64::MAX;
    for dy in -2..=2i64 {
        for dx in -2..=2i64 {
            let (mut se, mut n) = (0.0f64, 0usize);
            for y in 20..h as i64 - 20 {
                for x in 20..w as i64 - 20 {
                    let v = f64::from(img.get_pixel((x + dx) as u32, (y + dy) as u32)[0]);
                    let d = v - f64::from(sharp[(y * w as i64 + x) as usize]) * 255.0;
                    se += d * d;
                    n += 1;
                }
            }
            best = best.min((se / n as f64).sqrt());
        }
    }
    best
}

/// `deblur run` (plus `extra`) on the 11-px shaken fixture in `dir`: the RMS error from the
/// sharp image before and after, in grey levels. The input is `dir/shaken.png`.
fn run_on_shaken(dir: &Path, extra: &[&str]) -> (f64, f64) {
    let (w, h) = (200, 150);
    let input = dir.join("shaken.png");
    let output = dir.join("out.png");
    let sharp = write_shaken_png(&input, w, h);
    let mut args = vec![
        "run",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = deblur(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    (
        rms_from(&input, &sharp, w, h),
        rms_from(&output, &sharp, w, h),
    )
}

#[test]
fn run_without_a_model_removes_camera_shake_by_blind_deconvolution() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (before, after) = run_on_shaken(dir.path(), &[]);
    let input = dir.path().join("shaken.png");
    eprintln!("RMS from the sharp image: {before:.1} → {after:.1} grey levels");
    // Measured 36.8 → 16.9.
    assert!(after < 0.7 * before, "{before:.1} → {after:.1}");
    // The kernels it used are the ones `deblur kernels` reports: a horizontal ~11-px line.
    let json = dir.path().join("k.json");
    let o = deblur(&[
        "kernels",
        input.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let k: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let region = &k[0];
    let angle = region["angle_deg"].as_f64().unwrap();
    let length = region["length_px"].as_f64().unwrap();
    assert!(angle.min(180.0 - angle) < 10.0, "angle {angle}");
    assert!((8.0..=14.0).contains(&length), "length {length}");
}

#[test]
fn run_with_a_psf_image_deconvolves_with_that_kernel() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The true blur: an 11-px horizontal line, drawn off centre in a 16×9 image.
    let psf = dir.path().join("psf.png");
    image::GrayImage::from_fn(16, 9, |x, y| {
        image::Luma([if y == 2 && (3..14).contains(&x) {
            255
        } else {
            0
        }])
    })
    .save(&psf)
    .expect("write the PSF");
    let (before, after) = run_on_shaken(dir.path(), &["--psf", psf.to_str().unwrap()]);
    let input = dir.path().join("shaken.png");
    eprintln!("with the true PSF: {before:.1} → {after:.1} grey levels");
    // Measured 36.8 → 15.0 (the blind estimate reaches 16.9).
    assert!(after < 0.6 * before, "{before:.1} → {after:.1}");
    // A black PSF is a one-line error naming it.
    image::GrayImage::new(5, 5).save(&psf).expect("write");
    let o = deblur(&[
        "run",
        input.to_str().unwrap(),
        "-o",
        dir.path().join("x.png").to_str().unwrap(),
        "--psf",
        psf.to_str().unwrap(),
    ]);
    assert_clean_failure(&o, "psf.png");
}

#[test]
fn a_sharp_photo_is_written_unchanged_and_the_user_is_told_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (w, h) = (200, 150);
    let input = dir.path().join("sharp.png");
    write_ring_png(&input, w, h, 0);
    let output = dir.path().join("out.png");
    let o = deblur(&[
        "run",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no camera shake found"),
        "{}",
        stderr(&o)
    );
    let (a, b) = (
        image::open(&input).expect("input").to_luma8(),
        image::open(&output).expect("output").to_luma8(),
    );
    let worst = a
        .pixels()
        .zip(b.pixels())
        .map(|(p, q)| p[0].abs_diff(q[0]))
        .max();
    assert!(worst <= Some(1), "changed by up to {worst:?} grey levels");
}
