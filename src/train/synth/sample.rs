//! One training sample: the §12.1 pipeline end to end.

use rand::{Rng, RngExt};

use super::augment::Dihedral;
use super::config::SynthConfig;
use super::convolve::convolve_valid;
use super::degrade::{add_noise, encode_srgb_clipped, quantise_u8, NoiseParams};
use super::error::SynthError;
use super::jpeg::jpeg_round_trip;
use super::kernel::{identity_sampled, random_kernel_with, SampledKernel, MAX_KERNEL_RADIUS};
use super::mask::MaskParams;
use super::photo::{crop_linear, CropPlan, Photo};
use super::rng::{chance, log_uniform, sample_rng};

/// Context kept around the patch while blurring: the largest kernel radius, so every output
/// pixel of the patch is an exact convolution of real photo content.
pub const MARGIN: usize = MAX_KERNEL_RADIUS;

/// A (blurred, sharp) pair with its ground truth. All images are `patch × patch`, after the
/// shared flip/rot90, so that `blurred ≈ kernel ∗ sharp` holds for the recorded kernels too.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Side of every plane.
    pub patch: usize,
    /// CHW, 3 × patch × patch, sRGB in [0, 1], 8-bit quantised (and JPEG'd when drawn).
    pub blurred: Vec<f32>,
    /// CHW, 3 × patch × patch, sRGB in [0, 1], f32: the clipped sharp image.
    pub sharp: Vec<f32>,
    /// patch × patch, blur extent in px: m·e(k1) + (1−m)·e(k2), or the constant e(k).
    pub extent_map: Vec<f32>,
    /// One kernel (uniform blur) or two (k1 where the mask is 1, k2 where it is 0), transformed
    /// by the same flip/rot90 as the images.
    pub kernels: Vec<SampledKernel>,
    /// patch × patch blend weight of `kernels[0]` for non-uniform samples.
    pub mask: Option<Vec<f32>>,
    /// Which photo the patch came from.
    pub photo_index: usize,
    /// The remaining random draws, for debugging and analysis.
    pub params: SampleParams,
}

/// Random draws of a sample other than its kernels and mask.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleParams {
    /// Photo downscale factor (1 = none).
    pub downscale: f32,
    /// Top-left of the context crop (patch + 2·MARGIN) in downscaled-photo pixels; negative or
    /// overhanging positions were reflect-padded.
    pub crop_origin: (isize, isize),
    /// Highlight gain applied in linear light before blurring.
    pub gain: Option<f32>,
    /// Sensor noise, `None` for noise-free samples.
    pub noise: Option<NoiseParams>,
    /// JPEG quality of the round trip, if any.
    pub jpeg_quality: Option<u8>,
    /// Flip/rot90 applied to every output.
    pub augment: Dihedral,
}

impl Sample {
    /// 64-bit FNV-1a over the bit patterns of every output. Equal samples have equal
    /// fingerprints; a cross-process determinism test can compare against a stored value
    /// (valid for one platform: `powf`/`exp` and the JPEG decoder's SIMD paths are not
    /// guaranteed bit-identical across CPUs and libm versions).
    pub fn fingerprint(&self) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        let mut floats = |v: &[f32]| v.iter().for_each(|f| eat(&f.to_bits().to_le_bytes()));
        floats(&self.blurred);
        floats(&self.sharp);
        floats(&self.extent_map);
        for k in &self.kernels {
            floats(&k.kernel.taps);
            floats(&[k.extent]);
        }
        if let Some(m) = &self.mask {
            floats(m);
        }
        floats(&[self.photo_index as f32]);
        h
    }
}

/// Kernels of one sample before augmentation: one, or two with the mask blending them.
pub(super) struct Blur {
    pub kernels: Vec<SampledKernel>,
    pub mask: Option<Vec<f32>>,
}

/// Decides identity / non-uniform / uniform from one variate so that both configured
/// probabilities are exact marginals (5 % identity, 30 % non-uniform, 65 % one random kernel).
pub(super) fn draw_blur<R: Rng + ?Sized>(rng: &mut R, cfg: &SynthConfig) -> Blur {
    let u: f32 = rng.random();
    if u < cfg.p_identity {
        return Blur {
            kernels: vec![identity_sampled()],
            mask: None,
        };
    }
    if u < cfg.p_identity + cfg.p_nonuniform {
        let k1 = random_kernel_with(rng, &cfg.kernel_mix);
        let k2 = if chance(rng, cfg.p_second_identity) {
            identity_sampled()
        } else {
            random_kernel_with(rng, &cfg.kernel_mix)
        };
        let mask = MaskParams::draw(rng).render(cfg.patch);
        return Blur {
            kernels: vec![k1, k2],
            mask: Some(mask),
        };
    }
    Blur {
        kernels: vec![random_kernel_with(rng, &cfg.kernel_mix)],
        mask: None,
    }
}

/// Applies the blur to the linear context (`3 × ctx × ctx`), returning the linear patch.
fn apply_blur(ctx: &[f32], ctx_size: usize, blur: &Blur) -> Result<Vec<f32>, SynthError> {
    let convolve = |k: &SampledKernel| convolve_valid(ctx, ctx_size, ctx_size, MARGIN, &k.kernel);
    let first = convolve(&blur.kernels[0])?;
    match (&blur.mask, blur.kernels.get(1)) {
        (Some(mask), Some(k2)) => {
            let second = convolve(k2)?;
            let plane = mask.len();
            Ok(first
                .iter()
                .zip(&second)
                .enumerate()
                .map(|(i, (&a, &b))| {
                    let m = mask[i % plane];
                    m * a + (1.0 - m) * b
                })
                .collect())
        }
        _ => Ok(first),
    }
}

/// The central `patch × patch` window of each plane of a `3 × ctx × ctx` buffer.
fn centre_crop(ctx: &[f32], ctx_size: usize, patch: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(3 * patch * patch);
    for plane in ctx.chunks_exact(ctx_size * ctx_size) {
        for row in plane.chunks_exact(ctx_size).skip(MARGIN).take(patch) {
            out.extend_from_slice(&row[MARGIN..MARGIN + patch]);
        }
    }
    out
}

/// Planar f32 (3 × n × n) to interleaved 8-bit RGB and back, for the JPEG codec.
fn interleave_u8(planar: &[f32], n: usize) -> Vec<u8> {
    let plane = n * n;
    (0..plane)
        .flat_map(|i| (0..3).map(move |c| quantise_u8(planar[c * plane + i])))
        .collect()
}

fn deinterleave(rgb: &[u8], n: usize) -> Vec<f32> {
    let plane = n * n;
    let mut out = vec![0.0f32; 3 * plane];
    for (i, px) in rgb.chunks_exact(3).enumerate() {
        for (c, &v) in px.iter().enumerate() {
            out[c * plane + i] = f32::from(v) / 255.0;
        }
    }
    out
}

/// Checks everything [`make_sample`] needs: a valid configuration and a non-empty list of
/// well-formed photos. Call it once after loading the photos to turn bad inputs into an error
/// message instead of a panic inside the sampling loop.
pub fn check_inputs(photos: &[Photo], cfg: &SynthConfig) -> Result<(), SynthError> {
    cfg.validate()?;
    if photos.is_empty() {
        return Err(SynthError::NoPhotos);
    }
    for (index, photo) in photos.iter().enumerate() {
        photo
            .check()
            .map_err(|reason| SynthError::InvalidPhoto { index, reason })?;
    }
    Ok(())
}

/// Makes sample `index` (global index `iteration · batch + j`) of run `seed` (§12.1).
///
/// A pure function of its arguments: the same inputs give a bit-identical sample on any thread,
/// in any order, in any process on the same platform (see [`Sample::fingerprint`]).
///
/// # Panics
///
/// If [`check_inputs`] would fail for `photos` and `cfg`; use [`try_make_sample`] to get the
/// error instead. With valid inputs nothing else can fail.
pub fn make_sample(photos: &[Photo], cfg: &SynthConfig, seed: u64, index: u64) -> Sample {
    match try_make_sample(photos, cfg, seed, index) {
        Ok(sample) => sample,
        Err(e) => panic!("make_sample({seed}, {index}): {e}; validate with check_inputs first"),
    }
}

/// [`make_sample`] returning bad inputs as an error.
///
/// Random draws happen in this fixed order: photo, downscale factor (large photos only), crop
/// origin, highlight gain, blur (kind, kernels, mask), noise, JPEG, flip/rot90.
pub fn try_make_sample(
    photos: &[Photo],
    cfg: &SynthConfig,
    seed: u64,
    index: u64,
) -> Result<Sample, SynthError> {
    cfg.validate()?;
    if photos.is_empty() {
        return Err(SynthError::NoPhotos);
    }
    let mut rng = sample_rng(seed, index);
    let patch = cfg.patch;
    let ctx_size = patch + 2 * MARGIN;

    // 1–2. Photo, crop with context, linear light.
    let photo_index = rng.random_range(0..photos.len());
    let photo = &photos[photo_index];
    photo.check().map_err(|reason| SynthError::InvalidPhoto {
        index: photo_index,
        reason,
    })?;
    let plan = CropPlan::draw(
        &mut rng,
        photo,
        ctx_size,
        cfg.downscale_above,
        f64::from(cfg.downscale_min),
    );
    let mut ctx = crop_linear(photo, &plan, ctx_size);

    // 3. Highlight gain; the clipping in step 7 turns it into saturated streaks.
    let gain = chance(&mut rng, cfg.p_highlight).then(|| {
        let (lo, hi) = cfg.highlight_gain;
        log_uniform(&mut rng, f64::from(lo), f64::from(hi)) as f32
    });
    if let Some(g) = gain {
        ctx.iter_mut().for_each(|v| *v *= g);
    }

    // 4–5. Kernel(s) and blur over the patch, using the real context.
    let blur = draw_blur(&mut rng, cfg);
    let mut blurred = apply_blur(&ctx, ctx_size, &blur)?;
    let sharp_linear = centre_crop(&ctx, ctx_size, patch);
    let extent_map = match &blur.mask {
        Some(mask) => {
            let (e1, e2) = (blur.kernels[0].extent, blur.kernels[1].extent);
            mask.iter().map(|&m| m * e1 + (1.0 - m) * e2).collect()
        }
        None => vec![blur.kernels[0].extent; patch * patch],
    };

    // 6. Sensor noise in linear light.
    let noise = (!chance(&mut rng, cfg.p_noise_free))
        .then(|| NoiseParams::draw(&mut rng, cfg.noise_q, cfg.read_noise_max));
    if let Some(n) = noise {
        add_noise(&mut blurred, n, &mut rng);
    }

    // 7. Clip and encode. 8. Quantise, optional JPEG.
    let sharp: Vec<f32> = sharp_linear.into_iter().map(encode_srgb_clipped).collect();
    let blurred_srgb: Vec<f32> = blurred.into_iter().map(encode_srgb_clipped).collect();
    let mut rgb8 = interleave_u8(&blurred_srgb, patch);
    let jpeg_quality = chance(&mut rng, cfg.p_jpeg).then(|| {
        let (lo, hi) = cfg.jpeg_quality;
        rng.random_range(lo..=hi)
    });
    if let Some(q) = jpeg_quality {
        rgb8 = jpeg_round_trip(&rgb8, patch, patch, q)?;
    }
    let blurred = deinterleave(&rgb8, patch);

    // 9. One flip/rot90 for every output, kernels included.
    let augment = if cfg.augment {
        Dihedral::draw(&mut rng)
    } else {
        Dihedral::default()
    };
    let kernels = blur
        .kernels
        .into_iter()
        .map(|k| SampledKernel {
            kernel: k.kernel.transformed(augment),
            ..k
        })
        .collect();

    Ok(Sample {
        patch,
        blurred: augment.apply_planes(&blurred, patch),
        sharp: augment.apply_planes(&sharp, patch),
        extent_map: augment.apply_plane(&extent_map, patch),
        kernels,
        mask: blur.mask.map(|m| augment.apply_plane(&m, patch)),
        photo_index,
        params: SampleParams {
            downscale: plan.factor as f32,
            crop_origin: (plan.origin_x, plan.origin_y),
            gain,
            noise,
            jpeg_quality,
            augment,
        },
    })
}
