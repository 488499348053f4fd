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
