//! Preparing a photo's textures off the GUI thread when it opens or a deblur finishes: the
//! photo's own chunks (the baseline: all a load prepared before the halved levels) against the
//! chunks with every halved level of `src/app/pyramid.rs`, for a 24 MP photo (6000 × 4000).
//! Run: `cargo bench --bench photo_prepare` (the time depends on the rayon threads: the levels
//! are halved in parallel, the rest runs on one thread).

use deblur::app::textures::{image_chunks, region_image, Pyramid};
use deblur::util::median_ms;

const W: usize = 6000;
const H: usize = 4000;
const REPEATS: usize = 5;

fn main() {
    let rgb: Vec<f32> = (0..3 * W * H)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    println!(
        "photo {W}×{H}, {} rayon threads",
        rayon::current_num_threads()
    );
    let base = median_ms(REPEATS, || {
        let image = region_image(&rgb, W, H, 0, 0, W, H, None);
        std::hint::black_box(image_chunks(&image));
    });
    let levels = median_ms(REPEATS, || {
        std::hint::black_box(Pyramid::of_planes(&rgb, W, H));
    });
    println!("photo's chunks only (baseline): {base:8.1} ms");
    println!(
        "with halved levels:             {levels:8.1} ms  ({:.2}× the baseline)",
        levels / base
    );
}
