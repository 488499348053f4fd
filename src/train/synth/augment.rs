//! Flip/rot90 augmentation shared by every output of a sample (§12.1 step 9).

use rand::{Rng, RngExt};

/// One of the 8 symmetries of the square: optional horizontal flip, then `quarter_turns`
/// counter-clockwise quarter turns (as `numpy.rot90`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dihedral {
    pub flip: bool,
    pub quarter_turns: u8,
}

impl Dihedral {
    /// Uniform over the 8 symmetries.
    pub fn draw<R: Rng + ?Sized>(rng: &mut R) -> Self {
        Self {
            flip: rng.random::<bool>(),
            quarter_turns: rng.random_range(0..4u8),
        }
    }

    /// Source pixel of destination pixel `(y, x)` in an `n × n` plane.
    #[inline]
    fn source(self, n: usize, y: usize, x: usize) -> (usize, usize) {
        let (mut sy, mut sx) = (y, x);
        // Undo the rotations (each one maps out(y, x) = in(x, n−1−y)), then the flip.
        for _ in 0..self.quarter_turns % 4 {
            (sy, sx) = (sx, n - 1 - sy);
        }
        if self.flip {
            sx = n - 1 - sx;
        }
        (sy, sx)
    }

    /// Transforms one `n × n` row-major plane.
    pub fn apply_plane(self, plane: &[f32], n: usize) -> Vec<f32> {
        if self == Self::default() {
            return plane.to_vec();
        }
        let mut out = Vec::with_capacity(n * n);
        for y in 0..n {
            for x in 0..n {
                let (sy, sx) = self.source(n, y, x);
                out.push(plane[sy * n + sx]);
            }
        }
        out
    }

    /// Transforms every `n × n` plane of a planar buffer.
    pub fn apply_planes(self, planes: &[f32], n: usize) -> Vec<f32> {
        planes
            .chunks_exact(n * n)
            .flat_map(|p| self.apply_plane(p, n))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_eight_symmetries_are_distinct_permutations() {
        let n = 3;
        let plane: Vec<f32> = (0..9).map(|v| v as f32).collect();
        let mut seen = Vec::new();
        for flip in [false, true] {
            for quarter_turns in 0..4 {
                let out = Dihedral {
                    flip,
                    quarter_turns,
                }
                .apply_plane(&plane, n);
                let mut sorted = out.clone();
                sorted.sort_by(f32::total_cmp);
                assert_eq!(sorted, plane, "a permutation");
                assert_eq!(out[4], 4.0, "the centre stays put");
                assert!(!seen.contains(&out));
                seen.push(out);
            }
        }
        // One CCW quarter turn moves the top-right corner to the top-left.
        let rot = Dihedral {
            flip: false,
            quarter_turns: 1,
        }
        .apply_plane(&plane, n);
        assert_eq!(rot[0], 2.0);
    }
}
