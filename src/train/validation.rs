//! The fixed validation set (models.md §12.5): 256² pairs from held-out photos, generated once
//! from a fixed seed, identical on every machine.

use super::synth::{make_sample, Photo, Sample, SynthConfig};

/// Seed of the validation set; never change it (models are compared on its manifest hash).
pub const VAL_SEED: u64 = 0x005E_ED0F_DA7A;
/// Number of pairs in the fixed set.
pub const VAL_PAIRS: usize = 200;
/// Patch size of the fixed set.
pub const VAL_PATCH: usize = 256;

/// Generates pair `i` of the validation set.
pub fn val_sample(photos: &[Photo], i: usize) -> Sample {
    let cfg = SynthConfig::new(VAL_PATCH);
    make_sample(photos, &cfg, VAL_SEED, i as u64)
}

/// The whole fixed validation set, generated from the held-out photos under `sharp_dir`.
pub fn validation_set(sharp_dir: &std::path::Path) -> anyhow::Result<Vec<Sample>> {
    use rayon::prelude::*;
    let (_, val_names) = super::data::split(&super::data::list_photos(sharp_dir)?);
    let photos = super::data::load_photos(sharp_dir, &val_names)?;
    super::synth::check_inputs(&photos, &SynthConfig::new(VAL_PATCH))
        .map_err(|e| anyhow::anyhow!("validation photos in {}: {e}", sharp_dir.display()))?;
    Ok((0..VAL_PAIRS)
        .into_par_iter()
        .map(|i| val_sample(&photos, i))
        .collect())
}

/// The name of validation pair `i` in reports (`val-007`), the key of paired comparisons.
pub fn pair_name(i: usize) -> String {
    format!("val-{i:03}")
}

/// SHA-256 over the samples' fingerprints: models are compared only on the same value.
pub fn set_hash(samples: &[Sample]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for s in samples {
        h.update(s.fingerprint().to_le_bytes());
    }
    format!("{:x}", h.finalize())
}
