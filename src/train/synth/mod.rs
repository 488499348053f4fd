//! Synthetic blur generator: (blurred, sharp) training pairs with ground truth (models.md §12).
//!
//! Pipeline per sample (see [`make_sample`]): pick a photo, crop `patch + 2·MARGIN` px (random
//! area downscale for large photos), go to linear light, optional highlight gain, blur with one
//! kernel or a mask blend of two, add shot + read noise, clip, encode to sRGB, quantise to 8 bit,
//! optional JPEG round trip, and finally one random flip/rot90 for every output.
//!
//! Conventions used throughout:
//! - Images are planar CHW `f32`; a plane is row-major, `y` down, `x` right.
//! - Kernels are odd `size × size`, non-negative, sum to 1; tap `(size/2 + dy, size/2 + dx)`
//!   is the weight of offset `(dy, dx)`.
//! - Blurring is true convolution, `out(y, x) = Σ k(dy, dx) · in(y − dy, x − dx)`, so a point
//!   light turns into the kernel itself (not its mirror image) and a trajectory kernel is the
//!   path the point light traced over the sensor.
//! - Every sample is a pure function of `(seed, index)`, independent of thread count
//!   ([`sample_rng`]).

mod augment;
mod config;
mod convolve;
mod degrade;
mod error;
mod jpeg;
mod kernel;
mod mask;
mod photo;
mod rng;
mod sample;
mod shapes;
mod trajectory;

pub use augment::Dihedral;
pub use config::{KernelMix, SynthConfig};
pub use convolve::{blur_image_linear, convolve_valid};
pub use degrade::{add_noise, encode_srgb_clipped, quantise_u8, NoiseParams};
pub use error::SynthError;
pub use jpeg::{jpeg_round_trip, simulate_chroma_420};
pub use kernel::{
    kernel_extent, random_kernel, random_kernel_with, Kernel, KernelKind, SampledKernel,
    MAX_KERNEL_RADIUS, MAX_KERNEL_SIZE,
};
pub use mask::{draw_mask, MaskParams};
pub use photo::Photo;
pub use rng::{sample_rng, sample_seed, SampleRng};
pub use sample::{check_inputs, make_sample, try_make_sample, Sample, SampleParams, MARGIN};
pub use shapes::{defocus_kernel, defocus_kernel_with, gaussian_kernel, gaussian_kernel_with};
pub use trajectory::{
    linear_kernel, linear_kernel_with, linear_path, shake_path, trajectory_kernel,
    trajectory_kernel_with_length, Trajectory,
};

#[cfg(test)]
mod sample_tests;
#[cfg(test)]
pub(crate) mod test_util;
