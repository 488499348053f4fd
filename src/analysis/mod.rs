pub mod blurmap;
pub mod feature_kernels;
pub mod heatmap;
pub mod psf;

mod fft2;
mod font;
pub mod overlay;
mod psf_refine;
