//! How tiles' blur-degree maps join without seams.
//!
//! Decision (ours, beyond models.md §11.2, which blends analysis maps like the image): DHNet's
//! blocks pool each tile globally (NAFNet's channel attention), so every tile's degree map
//! carries a level of its own. Blended with the image's short ramps (a quarter of the
//! overlap), the levels drew the tile grid as rectangles over the photo (`deblur run
//! …fergus2006_ian1… --model dhnet-s --blur-map`: steps of up to 10 px). But those levels are
//! most of what the shipped `dhnet-s` knows about where a photo is blurred (Spearman ρ 0.90
//! over whole images, 0.17 per pixel), so they must stay. So:
//! 1. Where tiles overlap they see the same pixels, so their disagreement there is the part of
//!    the map that belongs to the tile, not to the pixel. One offset per tile, `o_i`, is fitted
//!    to remove it: least squares over every pair's shared pixels (the gain compensation of
//!    panorama stitching, additive). For a network without global pooling the tiles agree and
//!    the offsets are zero: the map is then exactly the blended one.
//! 2. The levelled tiles are blended as before (no seams), and the removed offsets are added
//!    back as a field that takes each tile's value at its centre and is interpolated
//!    bilinearly between centres: a tile's judgement is one number for the whole tile and is
//!    shown as such.
//!
//! Levelling alone (step 1) was tried and rejected: it erased real differences (25-px vs 3-px
//! blur halves read 14.7 vs 10.0 px blended as before, 13.1 vs 11.6 px levelled). The expert
//! share maps are blended as before (the GUI's per-expert layers).
//!
//! Memory: the first value written to each pixel and the tile that wrote it (two buffers the
//! size of the degree map); the pairs' sums are accumulated as tiles arrive.

use std::collections::HashMap;

use crate::imaging::tiles::{Blender, Tile, TileGrid};

/// Piecewise-linear interpolation weights along one axis: for each of `len` pixel centres, the
/// two knots around it and the weight of the second (constant beyond the first and last knot).
fn axis_interp(knots: &[f32], len: usize) -> Vec<(usize, usize, f32)> {
    (0..len)
        .map(|p| {
            let x = p as f32 + 0.5;
            let hi = knots.partition_point(|&k| k <= x);
            match hi {
                0 => (0, 0, 0.0),
                h if h == knots.len() => (h - 1, h - 1, 0.0),
                h => {
                    let (a, b) = (knots[h - 1], knots[h]);
                    (h - 1, h, (x - a) / (b - a))
                }
            }
        })
        .collect()
}

/// One value per tile of `grid` (by tile index), placed at the tile's centre and interpolated
/// bilinearly over the grid's `height × width` pixels; constant beyond the outer centres.
pub fn centre_field(grid: &TileGrid, values: &[f32]) -> Vec<f32> {
    let centre = |t: &Tile| (t.x as f32 + t.w as f32 / 2.0, t.y as f32 + t.h as f32 / 2.0);
    let mut xs: Vec<f32> = grid.tiles.iter().map(|t| centre(t).0).collect();
    let mut ys: Vec<f32> = grid.tiles.iter().map(|t| centre(t).1).collect();
    for v in [&mut xs, &mut ys] {
        v.sort_by(f32::total_cmp);
        v.dedup();
    }
    // Table by (row, column) of tile centres.
    let mut table = vec![0.0f32; xs.len() * ys.len()];
    for (t, &l) in grid.tiles.iter().zip(values) {
        let (cx, cy) = centre(t);
        let col = xs.partition_point(|&k| k < cx);
        let row = ys.partition_point(|&k| k < cy);
        table[row * xs.len() + col] = l;
    }
    let (ix, iy) = (axis_interp(&xs, grid.width), axis_interp(&ys, grid.height));
    let at = |r: usize, c: usize| table[r * xs.len() + c];
    let mut out = Vec::with_capacity(grid.width * grid.height);
    for &(r0, r1, ty) in &iy {
        for &(c0, c1, tx) in &ix {
            let top = at(r0, c0) * (1.0 - tx) + at(r0, c1) * tx;
            let bottom = at(r1, c0) * (1.0 - tx) + at(r1, c1) * tx;
            out.push(top * (1.0 - ty) + bottom * ty);
        }
    }
    out
}

/// Collects what step 1 needs while tiles arrive, then gives the correction to add to the
/// blended map.
pub struct SeamLeveler {
    width: usize,
    /// Tile that wrote each pixel first (`u32::MAX`: none yet) and the value it wrote.
    owner: Vec<u32>,
    first: Vec<f32>,
    /// (first tile, later tile) → (Σ later − first, pixel count) over their shared pixels.
    pairs: HashMap<(usize, usize), (f64, f64)>,
}

impl SeamLeveler {
    pub fn new(grid: &TileGrid) -> Self {
        let n = grid.width * grid.height;
        Self {
            width: grid.width,
            owner: vec![u32::MAX; n],
            first: vec![0.0; n],
            pairs: HashMap::new(),
        }
    }

    /// Takes a tile's degree map (`t.h × t.w`). Pixels the tile blends with weight 0 (its
    /// margins, where its convolutions saw padding) are left out.
    pub fn add(&mut self, t: &Tile, map: &[f32]) {
        for (y, &wy) in t.wy.iter().enumerate() {
            if wy == 0.0 {
                continue;
            }
            for (x, &wx) in t.wx.iter().enumerate() {
                if wx == 0.0 {
                    continue;
                }
                let p = (t.y + y) * self.width + t.x + x;
                let v = map[y * t.w + x];
                match self.owner[p] {
                    u32::MAX => {
                        self.owner[p] = t.index as u32;
                        self.first[p] = v;
                    }
                    o if o as usize != t.index => {
                        let e = self
                            .pairs
                            .entry((o as usize, t.index))
                            .or_insert((0.0, 0.0));
                        e.0 += f64::from(v) - f64::from(self.first[p]);
                        e.1 += 1.0;
                    }
                    _ => {}
                }
            }
        }
    }

    /// Each tile's offset: the least-squares solution of `o_i + m_i ≈ o_j + m_j` over shared
    /// pixels, with zero mean.
    pub fn offsets(&self, tiles: usize) -> Vec<f32> {
        // For each tile: (neighbour, mean of its map − the neighbour's, count).
        let mut neighbours: Vec<Vec<(usize, f64, f64)>> = vec![Vec::new(); tiles];
        for (&(a, b), &(sum, n)) in &self.pairs {
            let d = sum / n; // mean of m_b − m_a
            neighbours[a].push((b, -d, n));
            neighbours[b].push((a, d, n));
        }
        // Gauss–Seidel on the normal equations, o_i = Σ_j n_ij (o_j − d_ij) / Σ_j n_ij, until
        // no offset moves by more than a millionth of a pixel.
        let mut o = vec![0.0f64; tiles];
        for _ in 0..20_000 {
            let mut moved = 0.0f64;
            for i in 0..tiles {
                let (num, den) = neighbours[i]
                    .iter()
                    .fold((0.0, 0.0), |(num, den), &(j, d, n)| {
                        (num + n * (o[j] - d), den + n)
                    });
                if den > 0.0 {
                    let next = num / den;
                    moved = moved.max((next - o[i]).abs());
                    o[i] = next;
                }
            }
            if moved < 1e-6 {
                break;
            }
        }
        let mean = o.iter().sum::<f64>() / tiles.max(1) as f64;
        o.iter().map(|v| (v - mean) as f32).collect()
    }

    /// What to add to the map blended from the raw tiles: the offsets blended with the tiles'
    /// weights (levelling), minus the offsets interpolated between centres (given back).
    pub fn correction(&self, grid: &TileGrid) -> Vec<f32> {
        let offsets = self.offsets(grid.tiles.len());
        let mut blended = Blender::new(grid, 1);
        for (t, &o) in grid.tiles.iter().zip(&offsets) {
            blended.add(t, &vec![o; t.w * t.h]);
        }
        blended
            .finish()
            .into_iter()
            .zip(centre_field(grid, &offsets))
            .map(|(b, c)| b - c)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_hold_at_tile_centres_and_vary_linearly_between() {
        // 3 × 2 tiles of 64 px with 16 px overlap over 160 × 112: x starts 0, 48, 96.
        let grid = TileGrid::new(160, 112, 64, 16, 4);
        assert_eq!(grid.tiles.len(), 6);
        let levels: Vec<f32> = (0..6).map(|i| i as f32 * 3.0).collect();
        let f = centre_field(&grid, &levels);
        let at = |x: usize, y: usize| f[y * 160 + x];
        for t in &grid.tiles {
            // The pixel whose centre is just past the tile centre (x + 32 − 0.5 + 1).
            let (x, y) = (t.x + 32, t.y + 32);
            let want = t.index as f32 * 3.0;
            assert!(
                (at(x - 1, y - 1) - want).abs() < 0.2,
                "tile {}: {}",
                t.index,
                at(x - 1, y - 1)
            );
        }
        // Halfway between the first two centres (32 and 80) on the first row of centres.
        assert!((at(55, 31) - 1.5).abs() < 0.1, "{}", at(55, 31));
        // Beyond the outer centres the level stays the outer tile's.
        assert_eq!(at(0, 0), 0.0);
        assert_eq!(at(159, 111), 15.0);
        // No step anywhere larger than the steepest ramp between centres (9 per 48 px, in y).
        let mut steepest = 0.0f32;
        for y in 0..112 {
            for x in 1..160 {
                steepest = steepest.max((at(x, y) - at(x - 1, y)).abs());
            }
        }
        assert!(steepest <= 3.0 / 48.0 + 1e-4, "{steepest}");
    }

    #[test]
    fn one_tile_is_one_value() {
        let grid = TileGrid::new(50, 40, 64, 16, 4);
        let f = centre_field(&grid, &[7.5]);
        assert!(f.iter().all(|&v| v == 7.5));
    }

    #[test]
    fn offsets_are_recovered_from_the_overlaps() {
        let grid = TileGrid::new(200, 150, 64, 16, 4);
        assert!(grid.tiles.len() >= 12, "a grid with inner tiles");
        let truth = |x: usize, y: usize| 0.03 * x as f32 + 5.0 * (y as f32 / 20.0).sin();
        let offsets: Vec<f32> = (0..grid.tiles.len())
            .map(|i| ((i * 7) % 5) as f32 * 2.5 - 4.0)
            .collect();
        let mut lev = SeamLeveler::new(&grid);
        for (t, o) in grid.tiles.iter().zip(&offsets) {
            let map: Vec<f32> = (0..t.h * t.w)
                .map(|p| truth(t.x + p % t.w, t.y + p / t.w) + o)
                .collect();
            lev.add(t, &map);
        }
        let found = lev.offsets(grid.tiles.len());
        let mean = offsets.iter().sum::<f32>() / offsets.len() as f32;
        for (f, o) in found.iter().zip(&offsets) {
            assert!(
                (f + o - mean).abs() < 1e-3,
                "found {f}, offset {o}, mean {mean}"
            );
        }
    }

    #[test]
    fn tiles_that_agree_get_no_correction() {
        let grid = TileGrid::new(150, 100, 64, 16, 4);
        let mut lev = SeamLeveler::new(&grid);
        for t in &grid.tiles {
            let map: Vec<f32> = (0..t.h * t.w)
                .map(|p| ((t.x + p % t.w) as f32 * 0.1).sin())
                .collect();
            lev.add(t, &map);
        }
        assert!(lev.correction(&grid).iter().all(|c| c.abs() < 1e-4));
    }
}
