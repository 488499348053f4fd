//! What the app remembers between runs (settings) and what is open now (the document).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::textures::TiledTexture;
use crate::analysis::psf::RegionKernel;
use crate::deconv::blind::BLIND;
use crate::engine::batch::BatchFormat;
use crate::imaging::Photo;

/// How before and after are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViewMode {
    /// One image, a divider: before on the left, after on the right.
    Split,
    /// Two panes with synchronised zoom and pan.
    SideBySide,
    /// One image; the space bar flips between before and after.
    Toggle,
}

/// Bit depth of a saved photo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaveDepth {
    /// The original's (16-bit sources stay 16-bit where the format allows).
    Original,
    Eight,
    Sixteen,
}

/// Persisted through eframe's storage.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub model: String,
    pub view_mode: ViewMode,
    /// Divider position in the split view, 0..1 of the view's width.
    pub split: f32,
    /// Blend of input (0) and output (1) shown and saved.
    pub strength: f32,
    pub recent: Vec<PathBuf>,
    pub last_open_dir: Option<PathBuf>,
    pub last_save_dir: Option<PathBuf>,
    pub jpeg_quality: u8,
    pub save_depth: SaveDepth,
    pub show_kernels: bool,
    pub show_blur_map: bool,
    pub blur_map_opacity: f32,
    /// Which router map is shown for models with routers: 0 the blur degree, `i` the share
    /// of expert `i` (1-based).
    pub blur_map_layer: usize,
    pub batch_input: Option<PathBuf>,
    pub batch_output: Option<PathBuf>,
    pub batch_recursive: bool,
    pub batch_format: Option<BatchFormat>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            // Blind deconvolution: measured best on camera shake, and it leaves a sharp photo
            // alone (docs/blind-deconvolution.md).
            model: BLIND.to_string(),
            view_mode: ViewMode::Split,
            split: 0.5,
            strength: 1.0,
            recent: Vec::new(),
            last_open_dir: None,
            last_save_dir: None,
            jpeg_quality: 95,
            save_depth: SaveDepth::Original,
            show_kernels: false,
            show_blur_map: false,
            blur_map_opacity: 0.6,
            blur_map_layer: 0,
            batch_input: None,
            batch_output: None,
            batch_recursive: true,
            batch_format: None,
        }
    }
}

/// Most recent files kept.
const RECENT_MAX: usize = 10;

impl Settings {
    pub const KEY: &'static str = "deblur-studio-settings";

    /// Moves `path` to the front of the recent list.
    pub fn remember(&mut self, path: &Path) {
        self.recent.retain(|p| p != path);
        self.recent.insert(0, path.to_path_buf());
        self.recent.truncate(RECENT_MAX);
        if let Some(dir) = path.parent() {
            self.last_open_dir = Some(dir.to_path_buf());
        }
    }
}

/// The restored result of the open photo.
pub struct Restored {
    pub photo: Arc<Photo>,
    pub model: String,
    pub seconds: f64,
}

/// A deblur in progress.
#[derive(Clone)]
pub struct Progress {
    pub job: u64,
    /// What is being counted: [`TILES`] for networks, a stage name for the blind method.
    pub stage: &'static str,
    pub done: usize,
    pub total: usize,
    pub elapsed_s: f64,
    pub cancel: Arc<std::sync::atomic::AtomicBool>,
}

/// The stage of a network deblur: tiles are counted.
pub const TILES: &str = "tiles";

impl Progress {
    /// Seconds left, from the mean time per finished tile.
    pub fn eta_s(&self) -> Option<f64> {
        (self.done > 0 && self.done < self.total)
            .then(|| self.elapsed_s / self.done as f64 * (self.total - self.done) as f64)
    }

    pub fn fraction(&self) -> f32 {
        if self.total == 0 {
            0.0
        } else {
            self.done as f32 / self.total as f32
        }
    }
}

/// Per-region kernels of the open photo.
pub struct KernelView {
    pub kernels: Vec<RegionKernel>,
    /// One grey thumbnail per kernel, same order.
    pub textures: Vec<egui::TextureHandle>,
    /// The region under the pointer or last clicked.
    pub selected: Option<usize>,
}

/// A `deeprft-*` model's feature-level kernels, per tile of the photo (models.md §6.5).
pub struct FeatureKernelView {
    pub tiles: Vec<crate::analysis::feature_kernels::TileKernels>,
    /// Per tile: the mean kernel's texture, then one per channel.
    pub textures: Vec<(egui::TextureHandle, Vec<egui::TextureHandle>)>,
}

/// A blur-degree map over the open photo.
pub struct BlurMapView {
    pub texture: TiledTexture,
    /// Where the degrees come from, said in the legend.
    pub source: String,
    /// The colour scale's ends.
    pub min: f32,
    pub max: f32,
    pub unit: String,
    /// From the model's routers (not replaced by the kernel-derived map).
    pub from_routers: bool,
    pub map: crate::analysis::blurmap::BlurMap,
}

/// The open photo and everything derived from it.
pub struct Document {
    pub id: u64,
    pub path: PathBuf,
    pub photo: Option<Arc<Photo>>,
    pub before: Option<TiledTexture>,
    pub after: Option<TiledTexture>,
    pub restored: Option<Restored>,
    pub progress: Option<Progress>,
    pub kernels: Option<KernelView>,
    pub kernels_running: bool,
    /// The FKE's kernels, for models that have one.
    pub feature_kernels: Option<FeatureKernelView>,
    pub blur_map: Option<BlurMapView>,
    /// Each router expert's share of the weight (models with routers), in expert order.
    pub expert_maps: Vec<BlurMapView>,
}

impl Document {
    pub fn loading(id: u64, path: PathBuf) -> Self {
        Self {
            id,
            path,
            photo: None,
            before: None,
            after: None,
            restored: None,
            progress: None,
            kernels: None,
            kernels_running: false,
            feature_kernels: None,
            blur_map: None,
            expert_maps: Vec::new(),
        }
    }

    /// The map to show for `layer` (see [`Settings::blur_map_layer`]): an expert's share map
    /// when there is one for it, else the blur-degree map.
    pub fn shown_map(&self, layer: usize) -> Option<&BlurMapView> {
        layer
            .checked_sub(1)
            .and_then(|i| self.expert_maps.get(i))
            .or(self.blur_map.as_ref())
    }

    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_files_are_unique_newest_first_and_bounded() {
        let mut s = Settings::default();
        for i in 0..12 {
            s.remember(Path::new(&format!("/photos/{i}.jpg")));
        }
        s.remember(Path::new("/photos/5.jpg"));
        assert_eq!(s.recent.len(), RECENT_MAX);
        assert_eq!(s.recent[0], Path::new("/photos/5.jpg"));
        assert_eq!(s.recent.iter().filter(|p| p.ends_with("5.jpg")).count(), 1);
        assert_eq!(s.last_open_dir.as_deref(), Some(Path::new("/photos")));
    }

    #[test]
    fn eta_follows_the_mean_tile_time() {
        let p = Progress {
            job: 1,
            stage: TILES,
            done: 2,
            total: 6,
            elapsed_s: 4.0,
            cancel: Default::default(),
        };
        assert_eq!(p.eta_s(), Some(8.0));
        assert!((p.fraction() - 1.0 / 3.0).abs() < 1e-6);
    }
}
