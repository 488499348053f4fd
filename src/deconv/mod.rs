//! Blind deconvolution: the blur kernel estimated from the blurry photo itself, then a
//! Fourier-domain deconvolution with it. For camera shake this is the physics the networks
//! miss: the kernels the inspector shows are the kernels the deblur uses.
//!
//! - [`estimate`]: coarse-to-fine kernel estimation under an L0 gradient prior ([`latent`]).
//! - [`nonblind`]: deconvolution with a hyper-Laplacian prior, edge-tapered.
//! - [`blind`]: the photo-level pipeline (regions, confidence, tiles, blending).
//! - [`splitting`], [`kernel`], [`plane`], [`fft`]: the pieces they share.
//!
//! Design notes with measurements: `docs/blind-deconvolution.md`.

pub mod blind;
pub mod estimate;
pub mod fft;
pub mod kernel;
pub mod kernel_step;
pub mod latent;
pub mod nonblind;
pub mod plane;
pub mod splitting;
