//! Smooth blend mask for non-uniform blur (§12.1 step 5).
//!
//! `m = sigmoid(s · (n − τ))` with `n` a bilinear upsampling of uniform noise on a coarse grid:
//! a few soft-edged regions, like a subject moving against a still background.

use rand::{Rng, RngExt};

use super::rng::uniform;

/// Grid side range (the grid is `g × g`).
const GRID: (usize, usize) = (2, 4);
/// Sigmoid steepness range.
const STEEPNESS: (f64, f64) = (4.0, 20.0);
/// Threshold range.
const THRESHOLD: (f64, f64) = (0.3, 0.7);

/// The random draws behind one mask.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskParams {
    /// Grid side g: the noise lives on a `g × g` grid whose nodes span the patch corners.
    pub grid: usize,
    /// Row-major `g × g` uniform [0, 1) node values.
    pub nodes: Vec<f32>,
    /// Sigmoid steepness s.
    pub steepness: f32,
    /// Sigmoid threshold τ.
    pub threshold: f32,
}

impl MaskParams {
    /// Decision: "a random 2×2 to 4×4 grid" is read as square grids g × g, g ∈ {2, 3, 4}.
    pub fn draw<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let grid = rng.random_range(GRID.0..=GRID.1);
        let nodes = (0..grid * grid).map(|_| rng.random::<f32>()).collect();
        Self {
            grid,
            nodes,
            steepness: uniform(rng, STEEPNESS.0, STEEPNESS.1) as f32,
            threshold: uniform(rng, THRESHOLD.0, THRESHOLD.1) as f32,
        }
    }

    /// Renders the mask on a `size × size` patch, row-major, values in (0, 1).
    pub fn render(&self, size: usize) -> Vec<f32> {
        let g = self.grid.max(1);
        // Node i sits at pixel i · (size − 1)/(g − 1); map pixels to grid coordinates.
        let to_grid = |p: usize| -> (usize, f32) {
            if size <= 1 || g <= 1 {
                return (0, 0.0);
            }
            let t = p as f32 * (g - 1) as f32 / (size - 1) as f32;
            let i = (t.floor() as usize).min(g - 2);
            (i, t - i as f32)
        };
        let axis: Vec<(usize, f32)> = (0..size).map(to_grid).collect();
        let node = |iy: usize, ix: usize| self.nodes[(iy.min(g - 1)) * g + ix.min(g - 1)];
        let mut mask = Vec::with_capacity(size * size);
        for &(iy, fy) in &axis {
            for &(ix, fx) in &axis {
                let top = node(iy, ix) * (1.0 - fx) + node(iy, ix + 1) * fx;
                let bottom = node(iy + 1, ix) * (1.0 - fx) + node(iy + 1, ix + 1) * fx;
                let n = top * (1.0 - fy) + bottom * fy;
                mask.push(1.0 / (1.0 + (-self.steepness * (n - self.threshold)).exp()));
            }
        }
        mask
    }
}

/// Draws and renders a mask for a `size × size` patch.
pub fn draw_mask<R: Rng + ?Sized>(rng: &mut R, size: usize) -> Vec<f32> {
    MaskParams::draw(rng).render(size)
}

#[cfg(test)]
mod tests {
    use super::super::rng::sample_rng;
    use super::*;

    #[test]
    fn mask_interpolates_nodes_through_the_sigmoid() {
        let p = MaskParams {
            grid: 2,
            nodes: vec![0.0, 1.0, 1.0, 0.0],
            steepness: 10.0,
            threshold: 0.5,
        };
        let m = p.render(5);
        let sig = |n: f32| 1.0 / (1.0 + (-10.0 * (n - 0.5)).exp());
        assert!((m[0] - sig(0.0)).abs() < 1e-6, "corner is the node value");
        assert!((m[4] - sig(1.0)).abs() < 1e-6);
        assert!(
            (m[12] - 0.5).abs() < 1e-6,
            "centre is the mean of four nodes"
        );
        assert!(
            (m[2] - sig(0.5)).abs() < 1e-6,
            "edge midpoint interpolates linearly"
        );
    }

    #[test]
    fn drawn_masks_are_smooth_and_bounded() {
        let mut rng = sample_rng(1, 1);
        for _ in 0..50 {
            let p = MaskParams::draw(&mut rng);
            assert!((2..=4).contains(&p.grid));
            assert!((4.0..=20.0).contains(&p.steepness) && (0.3..=0.7).contains(&p.threshold));
            let size = 64;
            let m = p.render(size);
            assert!(m.iter().all(|v| (0.0..=1.0).contains(v)));
            // Max slope of the sigmoid is s/4, of the noise ≤ (g − 1)/(size − 1) per px.
            let bound = p.steepness / 4.0 * (p.grid - 1) as f32 / (size - 1) as f32 + 1e-5;
            for y in 0..size {
                for x in 1..size {
                    assert!((m[y * size + x] - m[y * size + x - 1]).abs() <= bound);
                }
            }
        }
    }
}
