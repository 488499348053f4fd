pub mod psf;

mod fft2;
pub mod overlay;
