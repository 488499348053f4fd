//! Blind deconvolution (`deblur::deconv`) on inputs like a user's: real photos (Kodak, from
//! `../shared/data/sharp/kodak24`) blurred in linear light by camera-shake trajectories of
//! 9–45 px from the project's own generator, plus Gaussian read noise in linear light and
//! 8-bit quantisation. Scores are taken as the blind protocol asks (Levin 2009, Köhler 2012):
//! kernels by the best NCC within ±5 px of shift, restorations by PSNR with a 20-px border
//! cropped at the best integer shift within ±3 px.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use deblur::analysis::psf::RegionKernel;
use deblur::deconv::blind::{deconvolve_photo, estimate_photo_kernels, BlindOptions};
use deblur::deconv::kernel::Kernel;
use deblur::imaging::color::{linear_to_srgb, srgb_to_linear};
use deblur::imaging::{load, LoadOptions, Photo};
use deblur::train::synth::{blur_image_linear, sample_rng, trajectory_kernel_with_length};
use rand::RngExt;
use rand_distr::StandardNormal;

const LENGTHS: [f64; 7] = [9.0, 15.0, 21.0, 27.0, 33.0, 39.0, 45.0];

fn kodak(i: usize) -> Photo {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/sharp/kodak24")
        .join(format!("kodim{i:02}.png"));
    load(&path, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("the shared test photos are needed here: {e}"))
}

/// The centre `w × h` of a photo.
fn crop(p: &Photo, w: usize, h: usize) -> Photo {
    let (x0, y0) = ((p.width - w) / 2, (p.height - h) / 2);
    let n = p.width * p.height;
    let mut rgb = Vec::with_capacity(3 * w * h);
    for c in 0..3 {
        for y in y0..y0 + h {
            rgb.extend_from_slice(&p.rgb[c * n + y * p.width + x0..][..w]);
        }
    }
    Photo {
        width: w,
        height: h,
        rgb,
        alpha: None,
        exif: None,
        icc: None,
        ..p.clone()
    }
}

/// Blurs in linear light by `k` (per column range, for spatially varying blur), adds read
/// noise of `sigma` (linear), and quantises to 8-bit sRGB.
fn degrade(
    sharp: &Photo,
    kernels: &[(usize, &deblur::train::synth::Kernel)],
    sigma: f32,
    seed: u64,
) -> Photo {
    let (w, h) = (sharp.width, sharp.height);
    let linear: Vec<f32> = sharp.rgb.iter().map(|&v| srgb_to_linear(v)).collect();
    let mut out = vec![0.0f32; linear.len()];
    // Each kernel covers the columns from its start to the next one's.
    for (i, (x0, k)) in kernels.iter().enumerate() {
        let x1 = kernels.get(i + 1).map_or(w, |n| n.0);
        let blurred = blur_image_linear(&linear, w, h, k).expect("blur");
        for c in 0..3 {
            for y in 0..h {
                let row = c * w * h + y * w;
                out[row + x0..row + x1].copy_from_slice(&blurred[row + x0..row + x1]);
            }
        }
    }
    let mut rng = sample_rng(seed, 7);
    let rgb = out
        .iter()
        .map(|&v| {
            let n: f32 = rng.sample(StandardNormal);
            let s = linear_to_srgb((v + sigma * n).clamp(0.0, 1.0));
            (s * 255.0).round() / 255.0
        })
        .collect();
    Photo {
        rgb,
        ..sharp.clone()
    }
}

/// PSNR (sRGB, all channels) with `border` px cropped, best over integer shifts of `b`
/// within ±`shift` px.
fn aligned_psnr(a: &Photo, b: &Photo, border: usize, shift: i64) -> f64 {
    let (w, h) = (a.width, a.height);
    let n = w * h;
    let mut best = f64::MIN;
    for dy in -shift..=shift {
        for dx in -shift..=shift {
            let mut se = 0.0f64;
            let mut count = 0usize;
            for c in 0..3 {
                for y in border..h - border {
                    for x in border..w - border {
                        let (yy, xx) = ((y as i64 + dy) as usize, (x as i64 + dx) as usize);
                        let d = f64::from(a.rgb[c * n + y * w + x] - b.rgb[c * n + yy * w + xx]);
                        se += d * d;
                        count += 1;
                    }
                }
            }
            best = best.max(10.0 * (count as f64 / se.max(1e-12)).log10());
        }
    }
    best
}

fn estimate(photo: &Photo, grid: (usize, usize)) -> Vec<RegionKernel> {
    let opts = BlindOptions {
        grid: Some(grid),
        ..BlindOptions::default()
    };
    estimate_photo_kernels(photo, &opts, &AtomicBool::new(false), &|_| {}).expect("estimate")
}

/// The project's kernel NCC (`psf::ncc`): Pearson, best over shifts up to ±`max_shift` px.
fn ncc(a: &Kernel, b: &Kernel, max_shift: i32) -> f32 {
    deblur::analysis::psf::ncc(&a.taps, a.size, &b.taps, b.size, max_shift)
}

fn as_kernel(k: &deblur::train::synth::Kernel) -> Kernel {
    Kernel::from_taps(k.size, k.taps.clone())
}

fn region_kernel(r: &RegionKernel) -> Kernel {
    Kernel::from_taps(r.window, r.kernel.clone())
}

fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

/// The seven shaken photos of [`shake_scores`]: (sharp, blurry, true kernel).
fn shaken_set(sigma: f32) -> Vec<(Photo, Photo, deblur::train::synth::Kernel)> {
    let mut rng = sample_rng(29, 0);
    LENGTHS
        .iter()
        .enumerate()
        .map(|(i, &length)| {
            let sharp = crop(&kodak(i + 2), 448, 448);
            let truth = trajectory_kernel_with_length(&mut rng, length).kernel;
            let blurry = degrade(&sharp, &[(0, &truth)], sigma, i as u64);
            (sharp, blurry, truth)
        })
        .collect()
}

/// Median kernel NCC and mean aligned PSNR gain over seven photos and shakes of 9–45 px.
fn shake_scores(sigma: f32) -> (f32, f64) {
    let mut nccs = Vec::new();
    let mut gains = Vec::new();
    for (i, (sharp, blurry, truth)) in shaken_set(sigma).into_iter().enumerate() {
        let length = LENGTHS[i];
        let kernels = estimate(&blurry, (1, 1));
        let score = ncc(&region_kernel(&kernels[0]), &as_kernel(&truth), 5);
        let restored = deconvolve_photo(&blurry, &kernels, &AtomicBool::new(false), &|_| {})
            .expect("deconvolve");
        let (before, after) = (
            aligned_psnr(&sharp, &blurry, 20, 0),
            aligned_psnr(&sharp, &restored, 20, 3),
        );
        eprintln!(
            "σ {sigma}: kodim{:02} shake {length} px: NCC {score:.3}, {before:.2} → {after:.2} dB ({:+.2})",
            i + 2,
            after - before
        );
        nccs.push(score);
        gains.push(after - before);
    }
    let mean = gains.iter().sum::<f64>() / gains.len() as f64;
    (median(nccs), mean)
}

/// Read noise 0.005: issue 29's bar, median NCC ≥ 0.85 and mean gain ≥ +3 dB. Measured
/// 0.875 and +4.64 dB; the NCC margin is thin (small changes to the estimator moved this
/// median between 0.82 and 0.88 while it was tuned).
#[test]
fn camera_shake_is_estimated_and_removed_at_read_noise_0_005() {
    let (ncc, gain) = shake_scores(0.005);
    eprintln!("σ 0.005: median NCC {ncc:.3}, mean gain {gain:+.2} dB");
    assert!(ncc >= 0.85, "median NCC {ncc}");
    assert!(gain >= 3.0, "mean gain {gain} dB");
}

/// Read noise 0.01 (`cargo test --release --test blind_deconv -- --nocapture` prints every
/// figure). Measured: median NCC 0.832, mean gain +3.21 dB. Asserted: NCC ≥ 0.8, +3 dB.
#[test]
fn camera_shake_at_read_noise_0_01() {
    let (ncc, gain) = shake_scores(0.01);
    eprintln!("σ 0.01: median NCC {ncc:.3}, mean gain {gain:+.2} dB");
    assert!(ncc >= 0.8, "median NCC {ncc}");
    assert!(gain >= 3.0, "mean gain {gain} dB");
}

/// Blind deconvolution against the bundled network on the same shaken photos (read noise
/// 0.005): the reason it is the default for camera shake. Measured: blind +4.64 dB,
/// nafnet-s +1.71 dB.
#[test]
fn blind_deconvolution_beats_the_network_on_camera_shake() {
    use deblur::engine::prepare::prepare_on;
    use deblur::engine::{restore_photo, ComputeDevice};
    let prepared = prepare_on("nafnet-s", &ComputeDevice::cpu(), None, None).expect("nafnet-s");
    let cancel = AtomicBool::new(false);
    let (mut blind, mut network) = (0.0, 0.0);
    let set = shaken_set(0.005);
    for (sharp, blurry, _) in &set {
        let before = aligned_psnr(sharp, blurry, 20, 0);
        let kernels = estimate(blurry, (1, 1));
        let b = deconvolve_photo(blurry, &kernels, &cancel, &|_| {}).expect("deconvolve");
        let n = restore_photo(
            &prepared.runner,
            blurry,
            prepared.tiles,
            &cancel,
            &mut |_| {},
        )
        .expect("network");
        blind += aligned_psnr(sharp, &b, 20, 3) - before;
        network += aligned_psnr(sharp, &n, 20, 3) - before;
    }
    let (blind, network) = (blind / set.len() as f64, network / set.len() as f64);
    eprintln!("mean gain: blind {blind:+.2} dB, nafnet-s {network:+.2} dB");
    assert!(
        blind > network + 1.0,
        "blind {blind:+.2} dB, nafnet-s {network:+.2} dB"
    );
}

/// A sharp photo with sensor noise: the estimate is near a delta, so the photo comes back
/// within 0.3 dB of itself.
#[test]
fn a_sharp_photo_is_left_alone() {
    for i in [3, 7, 23] {
        let sharp = crop(&kodak(i), 448, 448);
        let delta = deblur::train::synth::Kernel::identity();
        let noisy = degrade(&sharp, &[(0, &delta)], 0.005, 3);
        let kernels = estimate(&noisy, (1, 1));
        let restored = deconvolve_photo(&noisy, &kernels, &AtomicBool::new(false), &|_| {})
            .expect("deconvolve");
        let (before, after) = (
            aligned_psnr(&sharp, &noisy, 20, 0),
            aligned_psnr(&sharp, &restored, 20, 0),
        );
        eprintln!(
            "sharp kodim{i:02}: kernel extent {:.1} px, {before:.2} → {after:.2} dB",
            kernels[0].stats.extent
        );
        assert!(
            after >= before - 0.3,
            "kodim{i:02}: {before:.2} → {after:.2} dB"
        );
    }
}

/// Two halves shaken differently: each region finds its own half's kernel (measured: own
/// 0.86 and 0.93, the other half's 0.50 and 0.52).
#[test]
fn each_side_of_a_spatially_varying_blur_gets_its_kernel() {
    let sharp = kodak(8);
    let mut rng = sample_rng(31, 0);
    let left = trajectory_kernel_with_length(&mut rng, 15.0).kernel;
    let right = trajectory_kernel_with_length(&mut rng, 25.0).kernel;
    let blurry = degrade(&sharp, &[(0, &left), (sharp.width / 2, &right)], 0.005, 5);
    let kernels = estimate(&blurry, (2, 1));
    let (l, r) = (region_kernel(&kernels[0]), region_kernel(&kernels[1]));
    let (tl, tr) = (as_kernel(&left), as_kernel(&right));
    let scores = [
        ncc(&l, &tl, 5),
        ncc(&l, &tr, 5),
        ncc(&r, &tr, 5),
        ncc(&r, &tl, 5),
    ];
    eprintln!(
        "left: own {:.3}, other {:.3}; right: own {:.3}, other {:.3}",
        scores[0], scores[1], scores[2], scores[3]
    );
    assert!(scores[0] > scores[1] && scores[2] > scores[3], "{scores:?}");
    assert!(scores[0] >= 0.8 && scores[2] >= 0.8, "{scores:?}");
}

/// Clipped point lights (a street lamp at night) do not break the estimate: the clipped
/// pixels are filled from their surroundings and left out of the kernel step (measured NCC
/// 0.93).
#[test]
fn saturated_point_lights_do_not_break_the_estimate() {
    let sharp = crop(&kodak(5), 448, 448);
    let (w, h) = (sharp.width, sharp.height);
    let n = w * h;
    let mut rng = sample_rng(33, 0);
    let truth = trajectory_kernel_with_length(&mut rng, 21.0).kernel;
    // Six 3×3 lamps 30× brighter than white in linear light: blurred, then clipped.
    let mut linear: Vec<f32> = sharp.rgb.iter().map(|&v| srgb_to_linear(v)).collect();
    for (x, y) in [
        (60, 50),
        (200, 300),
        (330, 90),
        (400, 250),
        (120, 200),
        (380, 400),
    ] {
        for c in 0..3 {
            for dy in 0..3 {
                for dx in 0..3 {
                    linear[c * n + (y + dy) * w + x + dx] = 30.0;
                }
            }
        }
    }
    let blurred = blur_image_linear(&linear, w, h, &truth).expect("blur");
    let blurry = Photo {
        rgb: blurred
            .iter()
            .map(|&v| (linear_to_srgb(v.clamp(0.0, 1.0)) * 255.0).round() / 255.0)
            .collect(),
        ..sharp.clone()
    };
    let kernels = estimate(&blurry, (1, 1));
    let score = ncc(&region_kernel(&kernels[0]), &as_kernel(&truth), 5);
    eprintln!("with clipped lamps: NCC {score:.3}");
    assert!(score >= 0.85, "NCC {score}");
}

/// Rounding-level changes of the input (different SIMD paths on another CPU) do not change
/// the estimate: ±1e-6 on every value keeps NCC ≥ 0.95 with the unperturbed estimate.
#[test]
fn the_estimate_is_stable_under_rounding_level_changes() {
    let sharp = crop(&kodak(19), 384, 384);
    let mut rng = sample_rng(35, 0);
    let truth = trajectory_kernel_with_length(&mut rng, 17.0).kernel;
    let blurry = degrade(&sharp, &[(0, &truth)], 0.005, 9);
    let base = estimate(&blurry, (1, 1));
    let mut nudged = blurry.clone();
    for (i, v) in nudged.rgb.iter_mut().enumerate() {
        *v = (*v + if i % 2 == 0 { 1e-6 } else { -1e-6 }).clamp(0.0, 1.0);
    }
    let moved = estimate(&nudged, (1, 1));
    let score = ncc(&region_kernel(&base[0]), &region_kernel(&moved[0]), 2);
    eprintln!("perturbed by ±1e-6: NCC {score:.4} with the unperturbed estimate");
    assert!(score >= 0.95, "NCC {score}");
}
