//! Overlapping tiles blended with complementary linear ramps (models.md §11).
//!
//! Memory during inference is bounded by the tile size; the ramps make neighbouring tiles sum
//! to exactly one in their overlap, so a model that is the identity reproduces the image.
//!
//! Decision (beyond models.md §11.2): a tile's output within `margin` pixels of an edge it
//! shares with a neighbour gets weight 0 and the ramp spans the rest of the overlap. Near its
//! edge a tile's convolutions see zero padding instead of the neighbour's pixels; with margin 0
//! (the spec's ramps) that error still enters the blend with weight (½)/overlap and more, which
//! made two tile sizes differ by 3e-3 on a local network. With a margin at least the receptive
//! field, tiles agree to float precision. Margin 0 gives exactly the ramps of §11.2.

/// Tile starts along one axis of length `len` (§11.1). The last tile is aligned to the border.
pub fn axis_starts(len: usize, tile: usize, overlap: usize) -> Vec<usize> {
    if len <= tile {
        return vec![0];
    }
    let stride = (tile - overlap.min(tile / 2)).max(1);
    let mut starts = Vec::new();
    let mut s = 0;
    while s + tile < len {
        starts.push(s);
        s += stride;
    }
    starts.push(len - tile);
    starts
}

/// Complementary ramp across an overlap of `len` pixels with `margin` pixels discarded at each
/// end: the weight of the tile that starts the overlap, at position `q` within it.
fn ramp_up(q: usize, len: usize, margin: usize) -> f32 {
    let c = margin.min(len.saturating_sub(1) / 2);
    ((q as f32 - c as f32 + 0.5) / (len - 2 * c) as f32).clamp(0.0, 1.0)
}

/// Blend weights of tile `i` along an axis (§11.2): a ramp up over the leading overlap and a
/// ramp down over the trailing one; the two ramps of an overlap sum to exactly 1.
pub fn axis_weights(starts: &[usize], tile: usize, i: usize, margin: usize) -> Vec<f32> {
    let s = starts[i];
    let lead = if i > 0 { starts[i - 1] + tile - s } else { 0 };
    let trail = if i + 1 < starts.len() {
        s + tile - starts[i + 1]
    } else {
        0
    };
    (0..tile)
        .map(|p| {
            let up = if p < lead {
                ramp_up(p, lead, margin)
            } else {
                1.0
            };
            let down = if trail > 0 && p >= tile - trail {
                1.0 - ramp_up(p - (tile - trail), trail, margin)
            } else {
                1.0
            };
            up * down
        })
        .collect()
}

/// One tile of the grid: its place in the image and its blend weights.
#[derive(Clone, Debug)]
pub struct Tile {
    pub index: usize,
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
    pub wx: Vec<f32>,
    pub wy: Vec<f32>,
}

/// The tiles covering a `width × height` image.
#[derive(Clone, Debug)]
pub struct TileGrid {
    pub width: usize,
    pub height: usize,
    pub tiles: Vec<Tile>,
}

impl TileGrid {
    pub fn new(width: usize, height: usize, tile: usize, overlap: usize, margin: usize) -> Self {
        let tile = tile.max(1);
        let (tw, th) = (tile.min(width), tile.min(height));
        let xs = axis_starts(width, tile, overlap);
        let ys = axis_starts(height, tile, overlap);
        let mut tiles = Vec::with_capacity(xs.len() * ys.len());
        for (j, &y) in ys.iter().enumerate() {
            let wy = axis_weights(&ys, th, j, margin);
            for (i, &x) in xs.iter().enumerate() {
                tiles.push(Tile {
                    index: tiles.len(),
                    x,
                    y,
                    w: tw,
                    h: th,
                    wx: axis_weights(&xs, tw, i, margin),
                    wy: wy.clone(),
                });
            }
        }
        Self {
            width,
            height,
            tiles,
        }
    }

    /// Tile indices ordered by distance of their centre from `(px, py)`: the GUI asks for
    /// what is on screen first.
    pub fn order_from(&self, px: f32, py: f32) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.tiles.len()).collect();
        let dist = |t: &Tile| {
            let cx = t.x as f32 + t.w as f32 / 2.0 - px;
            let cy = t.y as f32 + t.h as f32 / 2.0 - py;
            cx * cx + cy * cy
        };
        order.sort_by(|&a, &b| dist(&self.tiles[a]).total_cmp(&dist(&self.tiles[b])));
        order
    }
}

/// Copies a tile out of a planar `channels × height × width` image.
pub fn extract(planes: &[f32], channels: usize, width: usize, height: usize, t: &Tile) -> Vec<f32> {
    let mut out = Vec::with_capacity(channels * t.w * t.h);
    for c in 0..channels {
        let plane = &planes[c * width * height..(c + 1) * width * height];
        for row in t.y..t.y + t.h {
            out.extend_from_slice(&plane[row * width + t.x..row * width + t.x + t.w]);
        }
    }
    out
}

/// Accumulates weighted tiles; `Σ w·y / Σ w` with a separable normaliser (§11.2).
pub struct Blender {
    channels: usize,
    width: usize,
    height: usize,
    acc: Vec<f32>,
    norm_x: Vec<f32>,
    norm_y: Vec<f32>,
}

impl Blender {
    pub fn new(grid: &TileGrid, channels: usize) -> Self {
        let mut norm_x = vec![0.0f32; grid.width];
        let mut norm_y = vec![0.0f32; grid.height];
        // Every x-start appears once per row of tiles; use the first row / column only.
        for t in grid.tiles.iter().filter(|t| t.y == grid.tiles[0].y) {
            for (k, w) in t.wx.iter().enumerate() {
                norm_x[t.x + k] += w;
            }
        }
        for t in grid.tiles.iter().filter(|t| t.x == grid.tiles[0].x) {
            for (k, w) in t.wy.iter().enumerate() {
                norm_y[t.y + k] += w;
            }
        }
        Self {
            channels,
            width: grid.width,
            height: grid.height,
            acc: vec![0.0; channels * grid.width * grid.height],
            norm_x,
            norm_y,
        }
    }

    /// Adds a finished tile (`channels × t.h × t.w`, planar).
    pub fn add(&mut self, t: &Tile, data: &[f32]) {
        for c in 0..self.channels {
            for (r, &wy) in t.wy.iter().enumerate() {
                let src = &data[(c * t.h + r) * t.w..(c * t.h + r + 1) * t.w];
                let row0 = (c * self.height + t.y + r) * self.width + t.x;
                let dst = &mut self.acc[row0..row0 + t.w];
                for ((d, s), wx) in dst.iter_mut().zip(src).zip(&t.wx) {
                    *d += s * wx * wy;
                }
            }
        }
    }

    /// The blended value at one pixel so far (for progressive display).
    pub fn normaliser(&self, x: usize, y: usize) -> f32 {
        self.norm_x[x] * self.norm_y[y]
    }

    /// The blended image, planar.
    pub fn finish(mut self) -> Vec<f32> {
        let (w, h) = (self.width, self.height);
        for c in 0..self.channels {
            for y in 0..h {
                let row = &mut self.acc[(c * h + y) * w..(c * h + y + 1) * w];
                for (x, v) in row.iter_mut().enumerate() {
                    *v /= self.norm_x[x] * self.norm_y[y];
                }
            }
        }
        self.acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(c: usize, w: usize, h: usize) -> Vec<f32> {
        (0..c * w * h)
            .map(|i| ((i * 7919) % 1000) as f32 / 997.0 - 0.3)
            .collect()
    }

    fn identity_through_tiles(w: usize, h: usize, tile: usize, overlap: usize) -> f32 {
        let img = pattern(3, w, h);
        let grid = TileGrid::new(w, h, tile, overlap, overlap / 4);
        let mut blend = Blender::new(&grid, 3);
        for t in &grid.tiles {
            blend.add(t, &extract(&img, 3, w, h, t));
        }
        let out = blend.finish();
        img.iter()
            .zip(&out)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn starts_follow_the_spec() {
        assert_eq!(axis_starts(200, 256, 64), vec![0]);
        assert_eq!(axis_starts(256, 256, 64), vec![0]);
        assert_eq!(axis_starts(385, 256, 64), vec![0, 129]);
        // 481 = just above a multiple of the stride: the border tile overlaps two tiles.
        assert_eq!(axis_starts(481, 256, 64), vec![0, 192, 225]);
        assert_eq!(axis_starts(1000, 256, 64), vec![0, 192, 384, 576, 744]);
    }

    #[test]
    fn identity_model_reproduces_any_image() {
        for (w, h) in [
            (385, 449),
            (481, 1000),
            (1, 700),
            (700, 1),
            (37, 53),
            (256, 256),
            (257, 3),
        ] {
            let err = identity_through_tiles(w, h, 256, 64);
            assert!(err < 1e-5, "{w}x{h}: max error {err}");
        }
        // Tiny tiles and an overlap of half a tile.
        assert!(identity_through_tiles(101, 67, 16, 8) < 1e-5);
    }

    #[test]
    fn constant_image_is_reproduced() {
        let (w, h) = (481, 385);
        let grid = TileGrid::new(w, h, 256, 64, 16);
        let mut blend = Blender::new(&grid, 1);
        for t in &grid.tiles {
            blend.add(t, &vec![0.25; t.w * t.h]);
        }
        assert!(blend.finish().iter().all(|v| (v - 0.25).abs() < 1e-6));
    }

    #[test]
    fn two_overlapping_ramps_sum_to_one() {
        let starts = axis_starts(385, 256, 64);
        for margin in [0, 16] {
            let (a, b) = (
                axis_weights(&starts, 256, 0, margin),
                axis_weights(&starts, 256, 1, margin),
            );
            for p in starts[1]..256 {
                let sum = a[p] + b[p - starts[1]];
                assert!((sum - 1.0).abs() < 1e-6, "p={p} sum={sum}");
            }
            // The spec's ramps (margin 0) never reach 0; a margin zeroes exactly its pixels.
            let zeros = a.iter().chain(&b).filter(|&&w| w == 0.0).count();
            assert_eq!(zeros, 2 * margin, "margin {margin}");
        }
    }

    #[test]
    fn visible_tiles_come_first() {
        let grid = TileGrid::new(1000, 1000, 256, 64, 16);
        let order = grid.order_from(999.0, 999.0);
        let first = &grid.tiles[order[0]];
        assert_eq!((first.x, first.y), (744, 744));
    }
}
