//! `deblur bench --blind`: time and memory of the blind pipeline (`crate::deconv::blind`) per
//! photo size, on a synthetic photo shaken by a 21-px trajectory. Ratios are per megapixel
//! against the first size, run in the same process.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::deconv::blind::{deconvolve_photo, estimate_photo_kernels, BlindOptions};
use crate::imaging::color::{linear_to_srgb, srgb_to_linear};
use crate::imaging::{BitDepth, Photo};
use crate::train::synth::{blur_image_linear, sample_rng, trajectory_kernel_with_length};

/// A `side²` photo-like image (edges in every direction and texture), shaken by 21 px.
fn shaken(side: usize) -> Photo {
    let n = side * side;
    let mut linear = vec![0.0f32; 3 * n];
    for y in 0..side {
        for x in 0..side {
            let (fx, fy) = (x as f32, y as f32);
            let ring =
                ((((fx - side as f32 / 2.0).hypot(fy - side as f32 / 3.0)) / 9.0) as usize) % 2;
            let check = ((x / 37) + (y / 23)) % 2;
            let v = 0.15 + 0.4 * ring as f32 + 0.25 * check as f32 + 0.05 * (fx * 0.7).sin();
            for c in 0..3 {
                linear[c * n + y * side + x] =
                    srgb_to_linear((v * (0.8 + 0.1 * c as f32)).clamp(0.0, 1.0));
            }
        }
    }
    let kernel = trajectory_kernel_with_length(&mut sample_rng(21, 0), 21.0).kernel;
    let blurred = blur_image_linear(&linear, side, side, &kernel).unwrap_or(linear);
    Photo {
        width: side,
        height: side,
        rgb: blurred
            .iter()
            .map(|&v| linear_to_srgb(v.clamp(0.0, 1.0)))
            .collect(),
        alpha: None,
        grayscale: false,
        bit_depth: BitDepth::Eight,
        exif: None,
        icc: None,
    }
}

/// Prints one row per size: estimate and deconvolution times (median of `repeats`), per
/// megapixel, the ratio of the per-megapixel total to the first size's, and peak memory.
pub fn run(
    sizes: &[usize],
    repeats: usize,
    peak_rss_mb: impl Fn() -> Option<f64>,
    reset: impl Fn(),
) {
    println!(
        "blind deconvolution on the CPU ({} threads), default options:",
        rayon::current_num_threads()
    );
    println!(
        "{:>6} {:>12} {:>14} {:>10} {:>8} {:>10}",
        "size", "kernels ms", "deconvolve ms", "ms/MP", "ratio", "peak MB"
    );
    let cancel = AtomicBool::new(false);
    let mut first: Option<f64> = None;
    for &side in sizes {
        let photo = shaken(side);
        reset();
        let (mut est, mut dec) = (Vec::new(), Vec::new());
        for _ in 0..repeats.max(1) {
            let t = Instant::now();
            let Ok(kernels) =
                estimate_photo_kernels(&photo, &BlindOptions::default(), &cancel, &|_| {})
            else {
                eprintln!("bench: {side} px is too small for the blind method");
                break;
            };
            est.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let _ = deconvolve_photo(&photo, &kernels, &cancel, &|_| {});
            dec.push(t.elapsed().as_secs_f64() * 1e3);
        }
        if est.is_empty() {
            continue;
        }
        let (e, d) = (median(&mut est), median(&mut dec));
        let per_mp = (e + d) / ((side * side) as f64 / 1e6);
        let base = *first.get_or_insert(per_mp);
        println!(
            "{side:>6} {e:>12.0} {d:>14.0} {per_mp:>10.0} {:>8.2} {:>10}",
            per_mp / base,
            peak_rss_mb().map_or("-".to_string(), |m| format!("{m:.0}"))
        );
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `irfft2(rfft2(x))` of `planes × n × n` through the blind pipeline's CPU FFT
/// (`deconv::fft::Fft2`, rustfft + realfft), median of `repeats`, in ms. Printed beside
/// scipy's by `benches/fft_vs_scipy.sh`.
pub fn fft_round_trip(planes: usize, n: usize, repeats: usize) {
    use crate::deconv::fft::Fft2;
    let fft = Fft2::new(n, n);
    let x: Vec<Vec<f32>> = (0..planes)
        .map(|p| {
            (0..n * n)
                .map(|i| ((i * 31 + p * 7) % 97) as f32 / 97.0)
                .collect()
        })
        .collect();
    let _ = fft.inverse(fft.forward(&x[0]));
    let mut times: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let t = Instant::now();
            for plane in &x {
                std::hint::black_box(fft.inverse(fft.forward(plane)));
            }
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    println!(
        "rustfft irfft2(rfft2(x)) {planes}x{n}x{n} on {} threads: {:.1} ms",
        rayon::current_num_threads(),
        median(&mut times)
    );
}
