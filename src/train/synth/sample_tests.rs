//! End-to-end tests of `make_sample`: determinism, ground truth and physics of the pipeline.

use std::time::Instant;

use rayon::prelude::*;

use super::kernel::KernelKind;
use super::rng::sample_rng;
use super::sample::draw_blur;
use super::test_util::test_photo;
use super::*;
use crate::imaging::color::srgb_to_linear;

fn photos() -> Vec<Photo> {
    vec![
        test_photo(300, 200, 1),
        test_photo(1500, 1100, 2), // long side > 1024: random downscale
        test_photo(40, 30, 3),     // smaller than the context: reflect padding
    ]
}

/// Pipeline with noise, JPEG and gain switched off, so the images obey `blurred = k ∗ sharp`
/// up to 8-bit rounding.
fn clean_config(patch: usize) -> SynthConfig {
    SynthConfig {
        p_highlight: 0.0,
        p_noise_free: 1.0,
        p_jpeg: 0.0,
        ..SynthConfig::new(patch)
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|f| f.to_bits()).collect()
}

#[test]
fn same_seed_and_index_give_byte_identical_samples() {
    let photos = photos();
    let cfg = SynthConfig::new(48);
    for index in 0..12 {
        let a = make_sample(&photos, &cfg, 42, index);
        let b = make_sample(&photos, &cfg, 42, index);
        assert_eq!(bits(&a.blurred), bits(&b.blurred));
        assert_eq!(bits(&a.sharp), bits(&b.sharp));
        assert_eq!(bits(&a.extent_map), bits(&b.extent_map));
        assert_eq!(a.kernels, b.kernels);
        assert_eq!(a.mask.as_deref().map(bits), b.mask.as_deref().map(bits));
        assert_eq!(a.params, b.params);
        assert_eq!(a.fingerprint(), b.fingerprint());
    }
}

#[test]
fn samples_do_not_depend_on_thread_count_or_order() {
    let photos = photos();
    let cfg = SynthConfig::new(32);
    let sequential: Vec<u64> = (0..16)
        .map(|i| {
            try_make_sample(&photos, &cfg, 7, i)
                .expect("sample")
                .fingerprint()
        })
        .collect();
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        let parallel: Vec<u64> = pool.install(|| {
            (0..16u32)
                .into_par_iter()
                .rev()
                .map(|i| {
                    let s = try_make_sample(&photos, &cfg, 7, u64::from(i)).expect("sample");
                    s.fingerprint()
                })
                .collect::<Vec<_>>()
        });
        let reversed: Vec<u64> = sequential.iter().rev().copied().collect();
        assert_eq!(parallel, reversed, "{threads} threads");
    }
}

#[test]
fn different_indices_and_seeds_give_different_samples() {
    let photos = photos();
    let cfg = SynthConfig::new(32);
    let prints: Vec<u64> = (0..20)
        .map(|i| {
            try_make_sample(&photos, &cfg, 1, i)
                .expect("sample")
                .fingerprint()
        })
        .collect();
    for (i, a) in prints.iter().enumerate() {
        for b in &prints[i + 1..] {
            assert_ne!(a, b);
        }
    }
    let other = try_make_sample(&photos, &cfg, 2, 0).expect("sample");
    assert_ne!(other.fingerprint(), prints[0]);
}

#[test]
fn outputs_have_the_documented_shapes_and_ranges() {
    let photos = photos();
    let cfg = SynthConfig::new(40);
    let mut seen_downscale = false;
    let mut seen_padding = false;
    for index in 0..60 {
        let s = try_make_sample(&photos, &cfg, 3, index).expect("sample");
        assert_eq!(s.blurred.len(), 3 * 40 * 40);
        assert_eq!(s.sharp.len(), 3 * 40 * 40);
        assert_eq!(s.extent_map.len(), 40 * 40);
        assert!(s.blurred.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(s.sharp.iter().all(|v| (0.0..=1.0).contains(v)));
        // 8-bit quantised.
        assert!(s
            .blurred
            .iter()
            .all(|v| (v * 255.0 - (v * 255.0).round()).abs() < 1e-4));
        assert!(matches!(s.kernels.len(), 1 | 2));
        assert_eq!(s.mask.is_some(), s.kernels.len() == 2);
        if s.photo_index == 1 {
            assert!((0.4..=1.0).contains(&s.params.downscale));
            seen_downscale |= s.params.downscale < 1.0;
        } else {
            assert_eq!(s.params.downscale, 1.0);
        }
        seen_padding |= s.photo_index == 2;
    }
    assert!(seen_downscale && seen_padding);
}

/// Interior pixels (a kernel radius away from the patch border) must equal the convolution of
/// the sharp target with the recorded, augmented kernels, blended by the recorded mask: this
/// checks true convolution, the flip/rot90 of kernels and mask, and the valid-context crop.
#[test]
fn blurred_is_kernel_convolved_sharp_with_the_recorded_kernels() {
    let photos = photos();
    let n = 64;
    let mut checked = [0usize; 2];
    for (cfg_index, p_nonuniform) in [0.0f32, 1.0].into_iter().enumerate() {
        let cfg = SynthConfig {
            p_identity: 0.0,
            p_nonuniform,
            ..clean_config(n)
        };
        for index in 0..16 {
            let s = try_make_sample(&photos, &cfg, 99, index).expect("sample");
            let linear: Vec<f32> = s.sharp.iter().map(|&v| srgb_to_linear(v)).collect();
            let r = s
                .kernels
                .iter()
                .map(|k| k.kernel.radius())
                .max()
                .unwrap_or(0);
            if 2 * r >= n {
                continue;
            }
            let conv = |k: &Kernel, c: usize, y: usize, x: usize| -> f32 {
                k.nonzero_taps()
                    .iter()
                    .map(|&(dy, dx, w)| {
                        let (sy, sx) = (y as isize - dy, x as isize - dx);
                        w * linear[c * n * n + sy as usize * n + sx as usize]
                    })
                    .sum()
            };
            for c in 0..3 {
                for y in r..n - r {
                    for x in r..n - r {
                        let a = conv(&s.kernels[0].kernel, c, y, x);
                        let v = match (&s.mask, s.kernels.get(1)) {
                            (Some(m), Some(k2)) => {
                                let w = m[y * n + x];
                                w * a + (1.0 - w) * conv(&k2.kernel, c, y, x)
                            }
                            _ => a,
                        };
                        let want = encode_srgb_clipped(v);
                        let got = s.blurred[c * n * n + y * n + x];
                        // Rounding to 8 bits moves a value by at most half a code.
                        assert!(
                            (got - want).abs() <= 0.5 / 255.0 + 2e-5,
                            "sample {index} c{c} ({y},{x}): {got} vs {want}"
                        );
                        checked[cfg_index] += 1;
                    }
                }
            }
        }
    }
    assert!(checked.iter().all(|&c| c > 10_000), "{checked:?}");
}

#[test]
fn nonuniform_extent_map_blends_the_kernel_extents_with_the_mask() {
    let photos = photos();
    let cfg = SynthConfig {
        p_identity: 0.0,
        p_nonuniform: 1.0,
        ..SynthConfig::new(48)
    };
    let mut two_distinct = false;
    for index in 0..20 {
        let s = try_make_sample(&photos, &cfg, 5, index).expect("sample");
        let mask = s.mask.as_ref().expect("non-uniform sample has a mask");
        let (e1, e2) = (s.kernels[0].extent, s.kernels[1].extent);
        two_distinct |= (e1 - e2).abs() > 1.0;
        for (e, &m) in s.extent_map.iter().zip(mask) {
            assert!((e - (m * e1 + (1.0 - m) * e2)).abs() <= 1e-5 * e1.max(e2).max(1.0));
        }
    }
    assert!(two_distinct);
    // Uniform samples: constant map equal to the kernel extent.
    let s = try_make_sample(&photos, &clean_config(32), 5, 0).expect("sample");
    if s.kernels.len() == 1 {
        assert!(s.extent_map.iter().all(|&e| e == s.kernels[0].extent));
    }
}

#[test]
fn highlight_gain_saturates_to_exactly_one_in_the_sharp_target() {
    // Big blocks of sRGB 200 (linear 0.578) and 10 (linear 0.003). Gain 2 pushes the bright
    // blocks to 1.156 linear, which must clip to exactly 1.0; the dark ones stay below 1.
    let (w, h) = (256u32, 256u32);
    let rgb: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            let v = if (x / 48 + y / 48) % 2 == 0 { 200 } else { 10 };
            [v, v, v]
        })
        .collect();
    let photos = vec![Photo::new(w, h, rgb).expect("valid photo")];
    let cfg = SynthConfig {
        p_highlight: 1.0,
        highlight_gain: (2.0, 2.0),
        p_nonuniform: 0.0,
        ..clean_config(96)
    };
    let dark = encode_srgb_clipped(2.0 * srgb_to_linear(10.0 / 255.0));
    let n = 96;
    let mut streak_pixels = 0;
    for index in 0..10 {
        let s = try_make_sample(&photos, &cfg, 8, index).expect("sample");
        let gain = s.params.gain.expect("gain always drawn");
        assert!((gain - 2.0).abs() < 1e-6);
        assert!(s.sharp.contains(&1.0));
        for &v in &s.sharp {
            assert!(v == 1.0 || (v - dark).abs() < 1e-6, "sharp value {v}");
        }
        // Saturated streaks: where the blur of the *unclipped* gained image exceeds 1, the
        // blurred image is exactly white; elsewhere it is not. Checked on interior pixels.
        let unclipped: Vec<f32> = s
            .sharp
            .iter()
            .map(|&v| 2.0 * srgb_to_linear(if v == 1.0 { 200.0 } else { 10.0 } / 255.0))
            .collect();
        let k = &s.kernels[0].kernel;
        let r = k.radius();
        if s.kernels.len() != 1 || 2 * r >= n {
            continue;
        }
        for c in 0..3 {
            for y in r..n - r {
                for x in r..n - r {
                    let v: f32 = k
                        .nonzero_taps()
                        .iter()
                        .map(|&(dy, dx, w)| {
                            let (sy, sx) = ((y as isize - dy) as usize, (x as isize - dx) as usize);
                            w * unclipped[c * n * n + sy * n + sx]
                        })
                        .sum();
                    let got = s.blurred[c * n * n + y * n + x];
                    if v >= 1.0 + 1e-4 {
                        assert_eq!(got, 1.0, "blurred highlight {v} must clip to white");
                        streak_pixels += 1;
                    } else if v < 0.99 {
                        assert!(got < 1.0);
                    }
                }
            }
        }
    }
    assert!(
        streak_pixels > 1000,
        "only {streak_pixels} saturated pixels checked"
    );
    // Without the gain the same photo never reaches 1.0.
    let s = try_make_sample(&photos, &clean_config(96), 8, 0).expect("sample");
    assert!(s.sharp.iter().all(|&v| v < 1.0));
}

#[test]
fn blur_kinds_follow_the_configured_marginals() {
    let cfg = SynthConfig::default();
    let n = 4000;
    let (mut identity, mut nonuniform, mut second_identity) = (0, 0, 0);
    for i in 0..n {
        let blur = draw_blur(&mut sample_rng(10, i), &cfg);
        match blur.kernels.as_slice() {
            [k] if k.kind == KernelKind::Identity => identity += 1,
            [_, k2] => {
                nonuniform += 1;
                second_identity += usize::from(k2.kind == KernelKind::Identity);
                assert_ne!(blur.kernels[0].kind, KernelKind::Identity);
            }
            _ => {}
        }
    }
    // Binomial 4σ bounds at n = 4000: 0.014 for p = 0.05, 0.029 for p = 0.3.
    let f = |c: usize, d: usize| c as f64 / d as f64;
    assert!((f(identity, n as usize) - 0.05).abs() < 0.014);
    assert!((f(nonuniform, n as usize) - 0.30).abs() < 0.029);
    assert!((f(second_identity, nonuniform) - 0.30).abs() < 0.05);
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let cfg = SynthConfig::new(32);
    assert_eq!(try_make_sample(&[], &cfg, 0, 0), Err(SynthError::NoPhotos));
    let broken = vec![Photo {
        width: 10,
        height: 10,
        rgb: vec![0; 5],
    }];
    assert!(matches!(
        try_make_sample(&broken, &cfg, 0, 0),
        Err(SynthError::InvalidPhoto { index: 0, .. })
    ));
    let bad_cfg = SynthConfig::new(0);
    assert!(try_make_sample(&photos(), &bad_cfg, 0, 0).is_err());
    assert!(check_inputs(&photos(), &cfg).is_ok());
    assert!(matches!(
        check_inputs(&[test_photo(8, 8, 0), broken[0].clone()], &cfg),
        Err(SynthError::InvalidPhoto { index: 1, .. })
    ));
}

#[test]
#[should_panic(expected = "no training photos")]
fn make_sample_panics_with_the_reason_on_unchecked_bad_inputs() {
    make_sample(&[], &SynthConfig::new(32), 0, 0);
}

/// Timing at the training sizes; run with
/// `cargo test --release -- --ignored --nocapture time_per_sample`.
#[test]
#[ignore = "timing, not a correctness test"]
fn time_per_sample() {
    let photos = vec![test_photo(2040, 1356, 4), test_photo(1000, 800, 5)];
    for patch in [128usize, 256] {
        let cfg = SynthConfig::new(patch);
        let count = if patch == 128 { 200 } else { 100 };
        let mut times: Vec<f64> = (0..count)
            .map(|i| {
                let t = Instant::now();
                let s = try_make_sample(&photos, &cfg, 1, i).expect("sample");
                std::hint::black_box(&s);
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        println!(
            "patch {patch}: mean {mean:.2} ms, median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
            times[times.len() / 2],
            times[times.len() * 95 / 100],
            times[times.len() - 1]
        );
    }
    // Worst-case blur alone: a long shake kernel and a non-uniform pair at patch 128.
    let ctx = 128 + 2 * MARGIN;
    let img = vec![0.5f32; 3 * ctx * ctx];
    let mut rng = sample_rng(0, 0);
    for (name, k) in [
        ("shake 41 px", trajectory_kernel_with_length(&mut rng, 41.0)),
        ("disk r 8", defocus_kernel_with(8.0)),
        ("gauss σ 2", gaussian_kernel_with(2.0, 2.0, 0.0)),
    ] {
        let t = Instant::now();
        for _ in 0..20 {
            std::hint::black_box(convolve_valid(&img, ctx, ctx, MARGIN, &k.kernel).expect("ok"));
        }
        println!(
            "convolve {name} ({} taps): {:.2} ms",
            k.kernel.nonzero_taps().len(),
            t.elapsed().as_secs_f64() * 1e3 / 20.0
        );
    }
}
