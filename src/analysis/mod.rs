pub mod blurmap;
pub mod heatmap;
pub mod psf;

mod fft2;
mod font;
pub mod overlay;
