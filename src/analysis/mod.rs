pub mod psf;

mod fft2;
