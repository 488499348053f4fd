//! PSNR and SSIM against values computed independently by scikit-image
//! (fixtures and the script that made them: tests/fixtures/metrics/).

use std::path::Path;

use deblur::train::metrics::{psnr, ssim};

fn planar(path: &Path) -> (Vec<f32>, usize, usize) {
    let img = image::open(path).expect("fixture decodes").to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = vec![0.0f32; 3 * w * h];
    for (i, px) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * w * h + i] = f32::from(px[c]) / 255.0;
        }
    }
    (out, w, h)
}

#[test]
fn psnr_and_ssim_match_scikit_image() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics");
    let text = std::fs::read_to_string(dir.join("expected.json")).expect("expected.json");
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).expect("valid JSON");
    assert!(cases.len() >= 4);
    for case in cases {
        let (a, w, h) = planar(&dir.join(case["a"].as_str().expect("a")));
        let (b, _, _) = planar(&dir.join(case["b"].as_str().expect("b")));
        let want_psnr = case["psnr"].as_f64().expect("psnr");
        let want_ssim = case["ssim"].as_f64().expect("ssim");
        let got_psnr = psnr(&a, &b);
        let got_ssim = ssim(&a, &b, w, h).expect("at least 11x11");
        assert!(
            (got_psnr - want_psnr).abs() < 1e-6,
            "{case}: PSNR {got_psnr} vs {want_psnr}"
        );
        assert!(
            (got_ssim - want_ssim).abs() < 1e-6,
            "{case}: SSIM {got_ssim} vs {want_ssim}"
        );
    }
}
