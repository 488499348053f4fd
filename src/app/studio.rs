//! The application: state, the messages from workers, and the layout of the window.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::{Key, KeyboardShortcut, Modifiers, RichText};

use super::batch::{BatchPanel, FileState};
use super::blurmap_view;
use super::jobs::{Jobs, Msg, Pick};
use super::kernels;
use super::photo_gpu::PhotoPainter;
use super::state::{Document, Progress, Restored, SaveDepth, Settings, ViewMode};
use super::textures::TiledTexture;
use super::theme;
use super::viewer::{self, ViewerInput, Viewport};
use crate::analysis::blurmap::BlurMapSource;
use crate::deconv::blind::BLIND;
use crate::engine::batch::{BatchFormat, BatchSpec};
use crate::engine::ComputeDevice;
use crate::imaging::{BitDepth, LoadOptions, Photo, SaveOptions};
use crate::nets::registry::{list_models, models_dir, ModelEntry};

const OPEN: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
const SAVE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::S);
const RUN: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Enter);

/// How the app starts.
#[derive(Default)]
pub struct Launch {
    /// Photos to open (the first is shown).
    pub files: Vec<PathBuf>,
    /// Where networks run; `None` picks the CPU (tests) — `run` passes the GUI's choice.
    pub device: Option<ComputeDevice>,
    /// Start a deblur as soon as the first photo is loaded.
    pub run: bool,
    /// Save a screenshot of the window here once the photo (and the run) is shown, then quit.
    pub screenshot: Option<PathBuf>,
}

/// A message in the window's notice area.
pub struct Notice {
    pub text: String,
    pub error: bool,
    pub at: Instant,
}

/// Frame intervals while a job runs: the UI must stay smooth (target: none over 50 ms).
#[derive(Default, Clone, Copy, Debug)]
pub struct FrameStats {
    pub frames: usize,
    /// Interval between frames: what the user sees, rendering included.
    pub max_ms: f64,
    pub total_ms: f64,
    pub over_50ms: usize,
    /// Time spent in the app's own `ui` (what this code can block); rendering excluded.
    pub max_ui_ms: f64,
}

pub struct DeblurApp {
    pub settings: Settings,
    jobs: Jobs,
    pub device_label: String,
    pub models: Vec<ModelEntry>,
    pub doc: Option<Document>,
    next_id: u64,
    pub viewport: Viewport,
    /// Draws the photo textures (our own pipeline on wgpu: egui's is slow on llvmpipe).
    photos: PhotoPainter,
    pub show_after: bool,
    pub notices: Vec<Notice>,
    pub batch: BatchPanel,
    about_open: bool,
    shortcuts_open: bool,
    queued: Vec<PathBuf>,
    launch_run: bool,
    screenshot: Option<PathBuf>,
    screenshot_requested: bool,
    last_frame: Option<Instant>,
    /// Start of the previous frame, idle or not: for the per-frame trace.
    previous_frame: Option<Instant>,
    pub frame_stats: FrameStats,
    /// Where the viewer was drawn last frame (screen points).
    pub view_rect: Option<egui::Rect>,
    /// Set once eframe asks for the clear colour (it does every frame it paints): from then on
    /// the cleared framebuffer is the viewer's background and nothing paints it. A window-sized
    /// fill is most of a frame's cost on a software renderer (llvmpipe: 66 ms per idle frame
    /// with it, 13 ms without, `benches/gui_frames.sh idle`). Hosts that never ask (the
    /// kittest harness clears to transparent) keep the painted fill.
    host_clears_background: Cell<bool>,
}

impl DeblurApp {
    pub fn new(cc: &eframe::CreationContext<'_>, launch: Launch) -> Self {
        theme::apply(&cc.egui_ctx);
        let settings: Settings = cc
            .storage
            .and_then(|s| eframe::get_value(s, Settings::KEY))
            .unwrap_or_default();
        let device = launch.device.unwrap_or_else(ComputeDevice::cpu);
        let device_label = if device.is_gpu {
            device.label.clone()
        } else {
            crate::engine::device::cpu_label(super::jobs::cpu_threads())
        };
        tracing::info!("networks run on {device_label}");
        let jobs = Jobs::new(cc.egui_ctx.clone(), device);
        let mut app = Self {
            settings,
            jobs,
            device_label,
            models: list_models(&models_dir()),
            doc: None,
            next_id: 1,
            viewport: Viewport::default(),
            photos: PhotoPainter::new(cc.wgpu_render_state.as_ref()),
            show_after: true,
            notices: Vec::new(),
            batch: BatchPanel::default(),
            about_open: false,
            shortcuts_open: false,
            queued: Vec::new(),
            launch_run: launch.run,
            screenshot: launch.screenshot,
            screenshot_requested: false,
            last_frame: None,
            previous_frame: None,
            frame_stats: FrameStats::default(),
            view_rect: None,
            host_clears_background: Cell::new(false),
        };
        let mut files = launch.files.into_iter();
        if let Some(first) = files.next() {
            app.open(first);
        }
        app.queued = files.collect();
        app
    }

    /// Opens a photo: the window shows a placeholder until the worker has decoded it.
    pub fn open(&mut self, path: PathBuf) {
        if let Some(doc) = &self.doc {
            if let Some(p) = &doc.progress {
                p.cancel.store(true, Ordering::Relaxed);
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.jobs.load(id, path.clone(), LoadOptions::default());
        self.doc = Some(Document::loading(id, path));
        self.viewport = Viewport::default();
    }

    /// The open photo, when nothing is running on it.
    fn idle_photo(&self) -> Option<Arc<Photo>> {
        let doc = self.doc.as_ref()?;
        doc.progress.is_none().then(|| doc.photo.clone()).flatten()
    }

    /// Marks a new job as running on the open document: its progress (shown until the job
    /// ends) and its cancel flag. Returns the document, the job and the flag.
    fn begin_job(&mut self) -> Option<(u64, u64, Arc<AtomicBool>)> {
        let doc = self.doc.as_mut()?;
        let job = self.next_id;
        self.next_id += 1;
        let cancel = Arc::new(AtomicBool::new(false));
        doc.progress = Some(Progress {
            job,
            stage: super::state::TILES,
            done: 0,
            total: 0,
            elapsed_s: 0.0,
            cancel: cancel.clone(),
        });
        doc.feature_kernels = None;
        Some((doc.id, job, cancel))
    }

    /// Starts deblurring the open photo with the chosen model; tiles near the view come first.
    pub fn run_deblur(&mut self) {
        let Some(photo) = self.idle_photo() else {
            return;
        };
        let Some((doc, job, cancel)) = self.begin_job() else {
            return;
        };
        self.frame_stats = FrameStats::default();
        self.jobs.deblur(
            doc,
            job,
            photo,
            self.settings.model.clone(),
            Some(self.viewport.focus()),
            cancel,
        );
    }

    /// Deconvolves the open photo with the kernel of a PSF image (the user's override of the
    /// blind estimate); the inspector then shows that kernel.
    pub fn deconvolve_with_psf(&mut self, path: PathBuf) {
        let Some(photo) = self.idle_photo() else {
            return;
        };
        let kernel = match crate::deconv::blind::psf_region(&path, photo.width, photo.height) {
            Ok(k) => k,
            Err(e) => return self.notify(e.to_string(), true),
        };
        let Some((doc, job, cancel)) = self.begin_job() else {
            return;
        };
        self.jobs
            .deconvolve_with(doc, job, photo, vec![kernel], cancel);
    }

    pub fn cancel_deblur(&mut self) {
        if let Some(p) = self.doc.as_ref().and_then(|d| d.progress.as_ref()) {
            p.cancel.store(true, Ordering::Relaxed);
        }
    }

    /// Starts a batch with the panel's folders and the chosen model.
    pub fn start_batch(&mut self) {
        let (Some(input), Some(output)) = (
            self.settings.batch_input.clone(),
            self.settings.batch_output.clone(),
        ) else {
            self.batch.error = Some("choose an input and an output folder first".into());
            return;
        };
        let cancel = Arc::new(AtomicBool::new(false));
        self.batch.start(cancel.clone());
        self.jobs.batch(
            BatchSpec {
                input_dir: input,
                output_dir: output,
                recursive: self.settings.batch_recursive,
                format: self.settings.batch_format,
                overwrite: false,
            },
            self.settings.model.clone(),
            self.save_options(),
            cancel,
        );
    }

    pub fn busy(&self) -> bool {
        self.batch.running
            || self
                .doc
                .as_ref()
                .is_some_and(|d| d.progress.is_some() || d.photo.is_none() || d.kernels_running)
    }

    fn save_options(&self) -> SaveOptions {
        SaveOptions {
            jpeg_quality: self.settings.jpeg_quality,
            bit_depth: match self.settings.save_depth {
                SaveDepth::Original => None,
                SaveDepth::Eight => Some(BitDepth::Eight),
                SaveDepth::Sixteen => Some(BitDepth::Sixteen),
            },
            overwrite: true,
        }
    }

    fn notify(&mut self, text: impl Into<String>, error: bool) {
        let text = text.into();
        if error {
            tracing::warn!("{text}");
        }
        self.notices.push(Notice {
            text,
            error,
            at: Instant::now(),
        });
    }

    /// Saves the restored photo, blended with the input by the strength slider.
    pub fn save_to(&mut self, path: PathBuf) {
        let Some(doc) = &self.doc else { return };
        let (Some(before), Some(restored)) = (&doc.photo, &doc.restored) else {
            self.notify("nothing to save yet: run a deblur first", true);
            return;
        };
        if same_file(&path, &doc.path) {
            self.notify(
                format!(
                    "{} is the original photo; it is never overwritten. Choose another name.",
                    path.display()
                ),
                true,
            );
            return;
        }
        let photo = blend(before, &restored.photo, self.settings.strength);
        if let Some(dir) = path.parent() {
            self.settings.last_save_dir = Some(dir.to_path_buf());
        }
        self.jobs
            .save(Arc::new(photo), doc.path.clone(), path, self.save_options());
    }

    fn apply(&mut self, ctx: &egui::Context, msg: Msg) {
        let current = self.doc.as_ref().map(|d| d.id);
        match msg {
            Msg::Loaded { doc, photo, chunks } if Some(doc) == current => {
                let d = self.doc.as_mut().expect("current document");
                d.before = Some(TiledTexture::upload(
                    ctx,
                    "before",
                    photo.width,
                    photo.height,
                    chunks,
                ));
                d.photo = Some(photo);
                let path = d.path.clone();
                self.settings.remember(&path);
                if std::mem::take(&mut self.launch_run) {
                    self.run_deblur();
                }
            }
            Msg::LoadFailed { doc, path, error } => {
                if Some(doc) == current {
                    self.doc = None;
                }
                self.settings.recent.retain(|p| p != &path);
                self.notify(format!("cannot open {}: {error}", path.display()), true);
            }
            Msg::DeblurStarted {
                doc,
                job,
                placeholder,
            } => {
                if let Some(d) = self.doc_for(doc, job) {
                    let (w, h) = d
                        .photo
                        .as_ref()
                        .map(|p| (p.width, p.height))
                        .unwrap_or((0, 0));
                    d.after = Some(TiledTexture::upload(ctx, "after", w, h, placeholder));
                    d.restored = None;
                }
            }
            Msg::Tile {
                doc,
                job,
                stage,
                patches,
                done,
                total,
                elapsed_s,
            } => {
                if let Some(d) = self.doc_for(doc, job) {
                    if let Some(after) = &mut d.after {
                        patches.iter().for_each(|p| after.update(p));
                    }
                    if let Some(p) = &mut d.progress {
                        (p.stage, p.done, p.total, p.elapsed_s) = (stage, done, total, elapsed_s);
                    }
                }
            }
            Msg::Deblurred {
                doc,
                job,
                photo,
                chunks,
                model,
                seconds,
                blur_map,
                expert_maps,
            } => {
                let stats = self.frame_stats;
                if let Some(d) = self.doc_for(doc, job) {
                    // A new result makes the router maps of the previous one stale. The region
                    // kernels come from the photo alone, so they and their map stay.
                    let had_router_map = d.blur_map.as_ref().is_some_and(|m| m.from_routers);
                    match blur_map {
                        Some(m) => d.blur_map = Some(blurmap_view::upload(ctx, m)),
                        None if had_router_map => {
                            d.blur_map = None;
                            d.kernels = None;
                        }
                        None => {}
                    }
                    d.expert_maps = expert_maps
                        .into_iter()
                        .map(|m| blurmap_view::upload(ctx, m))
                        .collect();
                    d.feature_kernels = None;
                    d.after = Some(TiledTexture::upload(
                        ctx,
                        "after",
                        photo.width,
                        photo.height,
                        chunks,
                    ));
                    d.progress = None;
                    d.restored = Some(Restored {
                        photo,
                        model: model.clone(),
                        seconds,
                    });
                    tracing::info!(
                        "deblurred with {model} in {seconds:.1} s; UI frames meanwhile: {}, \
                         slowest {:.1} ms, mean {:.1} ms, {} over 50 ms; longest UI update \
                         {:.1} ms (rendering excluded)",
                        stats.frames,
                        stats.max_ms,
                        stats.total_ms / stats.frames.max(1) as f64,
                        stats.over_50ms,
                        stats.max_ui_ms
                    );
                    self.notify(format!("deblurred with {model} in {seconds:.1} s"), false);
                    // The blind method sends the kernels it used right after its result.
                    if model != BLIND && self.wants_kernels() {
                        self.start_kernels();
                    }
                }
            }
            Msg::DeblurEnded { doc, job, error } => {
                if let Some(d) = self.doc_for(doc, job) {
                    d.progress = None;
                    if d.restored.is_none() {
                        d.after = None;
                    }
                    match error {
                        None => self.notify("deblur cancelled", false),
                        Some(e) => self.notify(format!("deblur failed: {e}"), true),
                    }
                }
            }
            Msg::FeatureKernels { doc, result } if Some(doc) == current => {
                let d = self.doc.as_mut().expect("current document");
                match result {
                    Ok(tiles) => d.feature_kernels = Some(kernels::feature_kernel_view(ctx, tiles)),
                    Err(e) => self.notify(format!("feature kernels failed: {e}"), true),
                }
            }
            Msg::Kernels { doc, result } if Some(doc) == current => {
                let d = self.doc.as_mut().expect("current document");
                d.kernels_running = false;
                match result {
                    Ok((k, map)) => {
                        let blind_result = d.restored.as_ref().is_some_and(|r| r.model == BLIND);
                        let unchanged = blind_result && crate::deconv::blind::finds_no_blur(&k);
                        d.kernels = Some(kernels::kernel_view(ctx, k));
                        // The routers' map, when the model has one, stays the map shown.
                        if !d.blur_map.as_ref().is_some_and(|m| m.from_routers) {
                            d.blur_map = map.map(|m| blurmap_view::upload(ctx, m));
                        }
                        let said = self
                            .notices
                            .iter()
                            .any(|n| n.text == crate::deconv::blind::NO_BLUR_FOUND);
                        if unchanged && !said {
                            self.notify(crate::deconv::blind::NO_BLUR_FOUND, false);
                        }
                    }
                    Err(e) => self.notify(format!("kernel estimate failed: {e}"), true),
                }
            }
            Msg::Saved { path, result } => match result {
                Ok(()) => self.notify(format!("saved {}", path.display()), false),
                Err(e) => self.notify(format!("cannot save {}: {e}", path.display()), true),
            },
            Msg::Picked { purpose, path } => {
                if let Some(path) = path {
                    self.picked(purpose, path);
                }
            }
            Msg::Batch(m) => self.batch.apply(m),
            // Results for a photo that is no longer open.
            Msg::Loaded { .. } | Msg::Kernels { .. } | Msg::FeatureKernels { .. } => {}
        }
    }

    /// The open document if `job` is its current deblur.
    fn doc_for(&mut self, doc: u64, job: u64) -> Option<&mut Document> {
        self.doc
            .as_mut()
            .filter(|d| d.id == doc && d.progress.as_ref().is_some_and(|p| p.job == job))
    }

    fn picked(&mut self, purpose: Pick, path: PathBuf) {
        match purpose {
            Pick::Open => self.open(path),
            Pick::Save => self.save_to(path),
            Pick::BatchInput => self.settings.batch_input = Some(path),
            Pick::BatchOutput => self.settings.batch_output = Some(path),
            Pick::ExportKernels => self.export_kernels(path),
            Pick::Psf => self.deconvolve_with_psf(path),
        }
    }

    /// The kernel overlay, or a blur map that must come from the kernels, is switched on.
    fn wants_kernels(&self) -> bool {
        let router_map = self
            .doc
            .as_ref()
            .and_then(|d| d.blur_map.as_ref())
            .is_some_and(|m| m.from_routers);
        self.settings.show_kernels || (self.settings.show_blur_map && !router_map)
    }

    fn start_kernels_if_wanted(&mut self) {
        if self.wants_kernels() {
            self.start_kernels();
        }
    }

    pub fn start_kernels(&mut self) {
        let Some(d) = &mut self.doc else { return };
        if let (Some(before), false, None) = (&d.photo, d.kernels_running, &d.kernels) {
            d.kernels_running = true;
            self.jobs.kernels(d.id, before.clone());
        }
    }

    fn export_kernels(&mut self, path: PathBuf) {
        let Some(d) = &self.doc else { return };
        let (Some(photo), Some(k)) = (&d.photo, &d.kernels) else {
            return;
        };
        let img = crate::analysis::overlay::kernel_overlay(
            &photo.rgb,
            photo.width,
            photo.height,
            &k.kernels,
        );
        let result = img.save(&path).map_err(|e| e.to_string());
        match result {
            Ok(()) => self.notify(format!("kernel grid written to {}", path.display()), false),
            Err(e) => self.notify(format!("cannot write {}: {e}", path.display()), true),
        }
    }

    fn open_dialog(&self) {
        let mut d = rfd::FileDialog::new().set_title("Open a photo").add_filter(
            "Photos",
            &["jpg", "jpeg", "png", "tif", "tiff", "webp", "bmp"],
        );
        if let Some(dir) = &self.settings.last_open_dir {
            d = d.set_directory(dir);
        }
        self.jobs.pick(Pick::Open, d);
    }

    fn save_dialog(&self) {
        let Some(doc) = &self.doc else { return };
        let stem = doc
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "photo".into());
        let mut d = rfd::FileDialog::new()
            .set_title("Save the deblurred photo")
            .set_file_name(format!("{stem}-deblurred.png"))
            .add_filter("PNG", &["png"])
            .add_filter("JPEG", &["jpg", "jpeg"])
            .add_filter("TIFF (8 or 16 bit)", &["tif", "tiff"]);
        if let Some(dir) = self.settings.last_save_dir.as_ref().or(doc
            .path
            .parent()
            .map(|p| p.to_path_buf())
            .as_ref())
        {
            d = d.set_directory(dir);
        }
        self.jobs.pick(Pick::Save, d);
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        if ctx.input_mut(|i| i.consume_shortcut(&OPEN)) {
            self.open_dialog();
        }
        if ctx.input_mut(|i| i.consume_shortcut(&SAVE)) {
            self.save_dialog();
        }
        if ctx.input_mut(|i| i.consume_shortcut(&RUN)) {
            self.run_deblur();
        }
        // Plain keys only when no text field has focus.
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let pressed = |k: Key| ctx.input(|i| i.key_pressed(k) && i.modifiers.is_none());
        if pressed(Key::Space) {
            self.settings.view_mode = ViewMode::Toggle;
            self.show_after = !self.show_after;
        }
        if pressed(Key::Escape) {
            self.cancel_deblur();
        }
        if pressed(Key::F) {
            self.viewport.fitted = true;
        }
        if pressed(Key::K) {
            self.settings.show_kernels = !self.settings.show_kernels;
            self.start_kernels_if_wanted();
        }
        if pressed(Key::B) {
            self.settings.show_blur_map = !self.settings.show_blur_map;
            self.start_kernels_if_wanted();
        }
        let screen = ctx.content_rect();
        let ppp = ctx.pixels_per_point();
        if pressed(Key::Num1) {
            self.viewport.one_to_one(screen.center(), screen, ppp);
        }
        if pressed(Key::Plus) || pressed(Key::Equals) {
            self.viewport.zoom_at(1.25, screen.center(), screen);
        }
        if pressed(Key::Minus) {
            self.viewport.zoom_at(0.8, screen.center(), screen);
        }
    }

    fn dropped_files(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        let mut it = dropped.into_iter();
        if let Some(first) = it.next() {
            self.open(first);
            self.queued.extend(it);
        }
    }

    fn frame_timing(&mut self) {
        let now = Instant::now();
        let running = self.doc.as_ref().is_some_and(|d| d.progress.is_some());
        if let (Some(last), true) = (self.last_frame, running) {
            let ms = now.duration_since(last).as_secs_f64() * 1e3;
            let s = &mut self.frame_stats;
            s.frames += 1;
            s.total_ms += ms;
            s.max_ms = s.max_ms.max(ms);
            s.over_50ms += usize::from(ms > 50.0);
        }
        self.last_frame = running.then_some(now);
    }

    fn maybe_screenshot(&mut self, ctx: &egui::Context) {
        let Some(path) = self.screenshot.clone() else {
            return;
        };
        let ready = self.doc.as_ref().is_some_and(|d| {
            d.before.is_some() && d.progress.is_none() && !(self.launch_run && d.restored.is_none())
        }) || (self.doc.is_none() && !self.notices.is_empty());
        if !ready || self.screenshot_requested {
            return;
        }
        self.screenshot_requested = true;
        let ctx2 = ctx.clone();
        ctx.request_screenshot(move |image| {
            let [w, h] = image.size;
            let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
            let result = image::RgbaImage::from_raw(w as u32, h as u32, bytes)
                .map(|img| img.save(&path).map_err(|e| e.to_string()))
                .unwrap_or_else(|| Err("screenshot size mismatch".into()));
            match result {
                Ok(()) => tracing::info!("screenshot written to {}", path.display()),
                Err(e) => tracing::error!("cannot write screenshot {}: {e}", path.display()),
            }
            ctx2.send_viewport_cmd(egui::ViewportCommand::Close);
        });
    }
}

impl eframe::App for DeblurApp {
    /// The viewer's background: what shows around the photo (see `host_clears_background`).
    fn clear_color(&self, visuals: &egui::Visuals) -> [f32; 4] {
        self.host_clears_background.set(true);
        visuals.extreme_bg_color.to_normalized_gamma_f32()
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let started = Instant::now();
        let ctx = ui.ctx().clone();
        self.frame_timing();
        for msg in self.jobs.drain() {
            self.apply(&ctx, msg);
        }
        if self.doc.is_none() {
            if let Some(next) = (!self.queued.is_empty()).then(|| self.queued.remove(0)) {
                self.open(next);
            }
        }
        self.dropped_files(&ctx);
        self.shortcuts(&ctx);
        self.notices
            .retain(|n| n.error || n.at.elapsed() < Duration::from_secs(8));

        self.menu_bar(ui);
        self.toolbar(ui);
        self.status_bar(ui);
        self.side_panel(ui);
        let frame = if self.host_clears_background.get() {
            egui::Frame::NONE
        } else {
            egui::Frame::NONE.fill(ui.visuals().extreme_bg_color)
        };
        egui::CentralPanel::default()
            .frame(frame)
            .show(ui, |ui| self.central(ui));
        self.windows(&ctx);

        if self.busy() {
            // Keep frames flowing so progress and timings stay live.
            ctx.request_repaint_after(Duration::from_millis(33));
        }
        self.maybe_screenshot(&ctx);
        let ui_ms = started.elapsed().as_secs_f64() * 1e3;
        if self.last_frame.is_some() {
            self.frame_stats.max_ui_ms = self.frame_stats.max_ui_ms.max(ui_ms);
        }
        // `DEBLUR_LOG=deblur::app=trace`: every frame, to compare idle and busy rendering.
        if let Some(previous) = self.previous_frame.replace(started) {
            let interval_ms = started.duration_since(previous).as_secs_f64() * 1e3;
            tracing::trace!(interval_ms, ui_ms, busy = self.busy(), "frame");
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, Settings::KEY, &self.settings);
    }
}

impl DeblurApp {
    fn menu_bar(&mut self, ui: &mut egui::Ui) {
        egui::Panel::top("menu").show(ui, |ui| {
            egui::MenuBar::new().ui(ui, |ui| {
                ui.menu_button("File", |ui| {
                    if ui
                        .add(
                            egui::Button::new("Open…")
                                .shortcut_text(ui.ctx().format_shortcut(&OPEN)),
                        )
                        .clicked()
                    {
                        self.open_dialog();
                    }
                    ui.menu_button("Open recent", |ui| {
                        if self.settings.recent.is_empty() {
                            ui.label("No recent photos");
                        }
                        for p in self.settings.recent.clone() {
                            if ui.button(p.display().to_string()).clicked() {
                                self.open(p);
                            }
                        }
                    });
                    let can_save = self.doc.as_ref().is_some_and(|d| d.restored.is_some());
                    if ui
                        .add_enabled(
                            can_save,
                            egui::Button::new("Save as…")
                                .shortcut_text(ui.ctx().format_shortcut(&SAVE)),
                        )
                        .clicked()
                    {
                        self.save_dialog();
                    }
                    let has_kernels = self.doc.as_ref().is_some_and(|d| d.kernels.is_some());
                    if ui
                        .add_enabled(has_kernels, egui::Button::new("Export kernel grid…"))
                        .clicked()
                    {
                        self.jobs.pick(
                            Pick::ExportKernels,
                            rfd::FileDialog::new()
                                .set_file_name("kernels.png")
                                .add_filter("PNG", &["png"]),
                        );
                    }
                    let can_run = self
                        .doc
                        .as_ref()
                        .is_some_and(|d| d.photo.is_some() && d.progress.is_none());
                    if ui
                        .add_enabled(can_run, egui::Button::new("Deconvolve with a PSF image…"))
                        .on_hover_text(
                            "Use a known blur kernel (a grey PNG or TIFF of a point light's \
                             smear) instead of the estimated one",
                        )
                        .clicked()
                    {
                        self.jobs.pick(
                            Pick::Psf,
                            rfd::FileDialog::new().add_filter("PSF image", &["png", "tif", "tiff"]),
                        );
                    }
                    ui.separator();
                    if ui.button("Batch folders…").clicked() {
                        self.batch.open = true;
                    }
                    ui.separator();
                    if ui.button("Quit").clicked() {
                        ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                    }
                });
                ui.menu_button("View", |ui| {
                    ui.radio_value(&mut self.settings.view_mode, ViewMode::Split, "Split");
                    ui.radio_value(
                        &mut self.settings.view_mode,
                        ViewMode::SideBySide,
                        "Side by side",
                    );
                    ui.radio_value(
                        &mut self.settings.view_mode,
                        ViewMode::Toggle,
                        "Before/after toggle (Space)",
                    );
                    ui.separator();
                    if ui.button("Fit (F)").clicked() {
                        self.viewport.fitted = true;
                    }
                    if ui.button("1:1 pixels (1)").clicked() {
                        let r = ui.ctx().content_rect();
                        let ppp = ui.ctx().pixels_per_point();
                        self.viewport.one_to_one(r.center(), r, ppp);
                    }
                    let k = ui.checkbox(&mut self.settings.show_kernels, "Kernel overlay (K)");
                    let b = ui.checkbox(&mut self.settings.show_blur_map, "Blur-degree map (B)");
                    if k.changed() || b.changed() {
                        self.start_kernels_if_wanted();
                    }
                });
                ui.menu_button("Help", |ui| {
                    if ui.button("Keyboard shortcuts").clicked() {
                        self.shortcuts_open = true;
                    }
                    if ui.button("About Deblur Studio").clicked() {
                        self.about_open = true;
                    }
                });
            });
        });
    }

    fn toolbar(&mut self, ui: &mut egui::Ui) {
        egui::Panel::top("toolbar").show(ui, |ui| {
            ui.add_space(2.0);
            ui.horizontal_wrapped(|ui| {
                if ui
                    .button("📂 Open")
                    .on_hover_text("Open a photo (Ctrl+O), or drop one on the window")
                    .clicked()
                {
                    self.open_dialog();
                }
                let can_save = self.doc.as_ref().is_some_and(|d| d.restored.is_some());
                if ui
                    .add_enabled(can_save, egui::Button::new("💾 Save"))
                    .on_hover_text("Save the result as PNG, JPEG or TIFF (Ctrl+S)")
                    .clicked()
                {
                    self.save_dialog();
                }
                ui.separator();
                self.model_picker(ui);
                ui.label(RichText::new(format!("on {}", self.device_label)).weak())
                    .on_hover_text("Where the network runs");
                ui.separator();
                let progress = self.doc.as_ref().and_then(|d| d.progress.clone());
                match progress {
                    Some(p) => {
                        if ui
                            .button("⏹ Cancel")
                            .on_hover_text("Stop after the current tile (Esc)")
                            .clicked()
                        {
                            self.cancel_deblur();
                        }
                        let text = match (p.total, p.eta_s()) {
                            (0, _) => "loading the model…".to_string(),
                            (_, _) if p.stage != super::state::TILES => {
                                format!("{} {:.0} %", p.stage, 100.0 * p.fraction())
                            }
                            (t, Some(eta)) => format!("{}/{t} tiles, {:.0} s left", p.done, eta),
                            (t, None) => format!("{}/{t} tiles", p.done),
                        };
                        ui.add(
                            egui::ProgressBar::new(p.fraction())
                                .desired_width(220.0)
                                .text(text),
                        );
                    }
                    None => {
                        let ready = self.doc.as_ref().is_some_and(|d| d.photo.is_some());
                        let run = egui::Button::new(RichText::new("▶ Deblur").strong())
                            .fill(theme::ACCENT.gamma_multiply(0.6));
                        if ui
                            .add_enabled(ready, run)
                            .on_hover_text("Deblur the photo (Ctrl+Enter); the visible part first")
                            .clicked()
                        {
                            self.run_deblur();
                        }
                    }
                }
                ui.separator();
                ui.add(
                    egui::Slider::new(&mut self.settings.strength, 0.0..=1.0)
                        .text("Strength")
                        .fixed_decimals(2),
                )
                .on_hover_text("Blend of the original (0) and the deblurred photo (1), shown and saved");
                ui.separator();
                ui.selectable_value(&mut self.settings.view_mode, ViewMode::Split, "Split")
                    .on_hover_text("Before and after on either side of a divider");
                ui.selectable_value(&mut self.settings.view_mode, ViewMode::SideBySide, "Side by side")
                    .on_hover_text("Two panes, zoom and pan synchronised");
                ui.selectable_value(&mut self.settings.view_mode, ViewMode::Toggle, "Toggle")
                    .on_hover_text("One view; Space flips between before and after");
                ui.separator();
                let toggled = ui
                    .checkbox(&mut self.settings.show_kernels, "Kernels")
                    .on_hover_text("Per-region blur kernels estimated from the photo alone: what the blind deblur (deblur run --method blind) deconvolves with (K)")
                    .changed();
                let map_toggled = ui
                    .checkbox(&mut self.settings.show_blur_map, "Blur map")
                    .on_hover_text(
                        "How strongly each region is blurred: from the model's router when it \
                         has one, otherwise from the per-region kernel sizes (B)",
                    )
                    .changed();
                if self.settings.show_blur_map {
                    self.map_layer_picker(ui);
                    ui.add(
                        egui::Slider::new(&mut self.settings.blur_map_opacity, 0.0..=1.0)
                            .show_value(false),
                    )
                    .on_hover_text("Opacity of the blur map");
                }
                if toggled || map_toggled {
                    self.start_kernels_if_wanted();
                }
            });
            ui.add_space(2.0);
        });
    }

    /// For models with routers: the blur degree or one expert's share.
    fn map_layer_picker(&mut self, ui: &mut egui::Ui) {
        let Some(doc) = self.doc.as_ref().filter(|d| !d.expert_maps.is_empty()) else {
            return;
        };
        let names: Vec<String> = std::iter::once("Blur degree".to_string())
            .chain(doc.expert_maps.iter().map(|m| match m.map.source {
                BlurMapSource::Expert { kernel } => format!("Expert {kernel}×{kernel}"),
                _ => m.source.clone(),
            }))
            .collect();
        let layer = &mut self.settings.blur_map_layer;
        if *layer >= names.len() {
            *layer = 0;
        }
        egui::ComboBox::from_id_salt("blur-map-layer")
            .selected_text(names[*layer].as_str())
            .show_ui(ui, |ui| {
                for (i, name) in names.iter().enumerate() {
                    ui.selectable_value(layer, i, name.as_str());
                }
            })
            .response
            .on_hover_text(
                "The routers' blur degree (expected receptive field; models trained with the \
                 degree terms, as dhnet-s, read roughly in pixels of blur), or how much weight \
                 the routers gave one expert, from small kernels (sharp regions) to large ones \
                 (strong blur)",
            );
    }

    fn model_picker(&mut self, ui: &mut egui::Ui) {
        let current = self.settings.model.clone();
        egui::ComboBox::from_id_salt("model")
            .selected_text(format!("Model: {current}"))
            .width(180.0)
            .show_ui(ui, |ui| {
                let blind = ui
                    .add(egui::Button::selectable(
                        current == BLIND,
                        "blind  ·  blind deconvolution  ·  recommended for camera shake",
                    ))
                    .on_hover_text(
                        "Estimates the camera shake from the photo itself and undoes it: the \
                         kernels shown by the inspector are the ones used. Best for a whole \
                         photo shaken during the exposure; a sharp photo is left as it is.\n\
                         Shows: the kernels it used; blur map from their sizes",
                    );
                if blind.clicked() {
                    self.settings.model = BLIND.to_string();
                }
                for m in &self.models {
                    let installed = m.card_path.is_some();
                    let text = format!(
                        "{}  ·  {}  ·  {:.2} M parameters{}",
                        m.name,
                        m.architecture,
                        m.params as f64 / 1e6,
                        if installed {
                            ""
                        } else {
                            "  (weights not installed)"
                        }
                    );
                    let r = ui
                        .add_enabled(installed, egui::Button::selectable(current == m.name, text));
                    let shows = if m.architecture.contains("dhnet") {
                        "blur-degree map from its router; estimated kernels"
                    } else if m.architecture == "deeprft" {
                        "estimated kernels and its own (FKE) feature kernels; blur map from the kernel sizes"
                    } else {
                        "estimated kernels; blur map from the kernel sizes"
                    };
                    let r = r.on_hover_text(format!(
                        "{}\nShows: {shows}",
                        if m.summary.is_empty() {
                            "No model card"
                        } else {
                            &m.summary
                        }
                    ));
                    if r.clicked() {
                        self.settings.model = m.name.clone();
                    }
                }
            })
            .response
            .on_hover_text("How to deblur: blind deconvolution or a deblurring network");
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        egui::Panel::bottom("status").show(ui, |ui| {
            let mut dismiss = None;
            for (i, n) in self.notices.iter().enumerate().rev().take(3) {
                ui.horizontal(|ui| {
                    let color = if n.error {
                        ui.visuals().error_fg_color
                    } else {
                        ui.visuals().text_color()
                    };
                    ui.label(RichText::new(if n.error { "⚠" } else { "ℹ" }).color(color));
                    ui.label(RichText::new(&n.text).color(color));
                    if n.error && ui.small_button("✖").on_hover_text("Dismiss").clicked() {
                        dismiss = Some(i);
                    }
                });
            }
            if let Some(i) = dismiss {
                self.notices.remove(i);
            }
            ui.horizontal(|ui| match &self.doc {
                Some(d) => {
                    ui.label(d.file_name());
                    if let Some(p) = &d.photo {
                        ui.label(
                            RichText::new(format!(
                                "{} × {} px, {}-bit",
                                p.width,
                                p.height,
                                match p.bit_depth {
                                    BitDepth::Eight => 8,
                                    BitDepth::Sixteen => 16,
                                }
                            ))
                            .weak(),
                        );
                    } else {
                        ui.spinner();
                        ui.label("decoding…");
                    }
                    let ppp = ui.ctx().pixels_per_point();
                    ui.label(
                        RichText::new(format!("{:.0} %", self.viewport.zoom * ppp * 100.0)).weak(),
                    );
                    if let Some(r) = &d.restored {
                        ui.label(
                            RichText::new(format!("{} took {:.1} s", r.model, r.seconds)).weak(),
                        );
                    }
                }
                None => {
                    ui.label(RichText::new("No photo open").weak());
                }
            });
        });
    }

    fn side_panel(&mut self, ui: &mut egui::Ui) {
        let show =
            self.settings.show_kernels && self.doc.as_ref().is_some_and(|d| d.photo.is_some());
        if !show {
            return;
        }
        egui::Panel::right("inspector")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| {
                ui.heading("Kernel inspector");
                match self.doc.as_ref() {
                    Some(d) if d.kernels_running => {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label("estimating kernels…");
                        });
                    }
                    Some(Document {
                        kernels: Some(k), ..
                    }) => {
                        let reliable = k.kernels.iter().filter(|k| k.reliable).count();
                        ui.label(format!(
                            "{} regions, {} reliable (green frames)",
                            k.kernels.len(),
                            reliable
                        ));
                        ui.separator();
                        kernels::inspector(ui, k);
                        if let Some(fk) = self.doc.as_ref().and_then(|d| d.feature_kernels.as_ref())
                        {
                            ui.separator();
                            let at = k
                                .selected
                                .and_then(|i| k.kernels.get(i))
                                .map(|r| (r.x + r.size / 2, r.y + r.size / 2));
                            kernels::feature_inspector(ui, fk, at);
                        }
                    }
                    _ => {
                        ui.label("Kernels appear after a deblur.");
                    }
                }
            });
    }

    fn central(&mut self, ui: &mut egui::Ui) {
        let Some(doc) = &mut self.doc else {
            self.welcome(ui);
            return;
        };
        let Some(before) = &doc.before else {
            ui.centered_and_justified(|ui| {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!("Opening {}…", doc.file_name()));
                });
            });
            return;
        };
        let input = ViewerInput {
            photos: &self.photos,
            before,
            after: doc.after.as_ref(),
            after_alpha: if doc.progress.is_some() {
                1.0
            } else {
                self.settings.strength
            },
            mode: self.settings.view_mode,
            show_after: self.show_after,
        };
        self.view_rect = Some(ui.available_rect_before_wrap());
        let view_rect = ui.available_rect_before_wrap();
        let panes = viewer::show(ui, &input, &mut self.viewport, &mut self.settings.split);
        let map = doc.shown_map(self.settings.blur_map_layer);
        if let (true, Some(map)) = (self.settings.show_blur_map, map) {
            for (clip, t, _) in &panes.panes {
                let painter = ui.painter_at(*clip);
                blurmap_view::paint_overlay(
                    &painter,
                    &self.photos,
                    map,
                    t,
                    self.settings.blur_map_opacity,
                );
            }
            let hovered = panes
                .hovered_image_pos
                .and_then(|p| blurmap_view::value_at(map, p));
            blurmap_view::paint_legend(&ui.painter_at(view_rect), view_rect, map, hovered);
        }
        if let (true, Some(k)) = (self.settings.show_kernels, &mut doc.kernels) {
            let pointer = panes.response.hover_pos();
            let mut hovered = None;
            for (clip, t, _) in &panes.panes {
                let painter = ui.painter_at(*clip);
                if let Some(i) = kernels::paint_overlay(&painter, k, t, pointer) {
                    hovered = Some(i);
                }
            }
            if hovered.is_some() {
                k.selected = hovered;
            }
        }
    }

    fn welcome(&mut self, ui: &mut egui::Ui) {
        let dropping = ui.ctx().input(|i| !i.raw.hovered_files.is_empty());
        ui.vertical_centered(|ui| {
            ui.add_space(ui.available_height() * 0.25);
            ui.heading(RichText::new("Deblur Studio").size(28.0));
            ui.add_space(8.0);
            ui.label(if dropping {
                "Drop to open"
            } else {
                "Open a blurred photo, or drop one here."
            });
            ui.add_space(12.0);
            if ui.button("📂 Open a photo…").clicked() {
                self.open_dialog();
            }
            let sample = models_dir().join("../assets/samples/clock_motion.png");
            if sample.is_file() && ui.button("Try the sample photo").clicked() {
                self.open(sample);
            }
            if !self.settings.recent.is_empty() {
                ui.add_space(16.0);
                ui.label(RichText::new("Recent").strong());
                for p in self.settings.recent.clone().into_iter().take(5) {
                    if ui.link(p.display().to_string()).clicked() {
                        self.open(p);
                    }
                }
            }
        });
    }

    fn windows(&mut self, ctx: &egui::Context) {
        let mut open = self.batch.open;
        egui::Window::new("Batch folders")
            .open(&mut open)
            .default_width(460.0)
            .show(ctx, |ui| self.batch_ui(ui));
        self.batch.open = open;

        egui::Window::new("About Deblur Studio")
            .open(&mut self.about_open)
            .collapsible(false)
            .show(ctx, |ui| {
                ui.label(format!("Deblur Studio {}", env!("CARGO_PKG_VERSION")));
                ui.label("Removes motion blur with deblurring networks running in burn on wgpu or the CPU.");
                ui.label("Licence: MIT OR Apache-2.0.");
                ui.separator();
                ui.label(RichText::new("Models").strong());
                for m in &self.models {
                    let licence = match (&m.card_path, m.licence.is_empty()) {
                        (None, _) => "not installed".to_string(),
                        (Some(_), true) => "weights trained by this project".to_string(),
                        (Some(_), false) => format!("weights: {}", m.licence),
                    };
                    ui.label(format!("{} ({}): {licence}", m.name, m.architecture));
                }
                ui.separator();
                ui.label(format!("Models folder: {}", models_dir().display()));
                ui.label(format!("Compute device: {}", self.device_label));
            });

        egui::Window::new("Keyboard shortcuts")
            .open(&mut self.shortcuts_open)
            .collapsible(false)
            .show(ctx, |ui| {
                egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
                    for (k, what) in [
                        ("Ctrl+O", "open a photo"),
                        ("Ctrl+S", "save the result"),
                        ("Ctrl+Enter", "deblur"),
                        ("Esc", "cancel the deblur"),
                        ("Space", "before/after toggle"),
                        ("F", "fit to the window"),
                        ("1", "1:1 pixels"),
                        ("+ / -", "zoom in / out"),
                        ("K", "kernel overlay"),
                        ("Wheel, drag", "zoom at the cursor, pan"),
                        ("Double-click", "fit"),
                    ] {
                        ui.label(RichText::new(k).monospace());
                        ui.label(what);
                        ui.end_row();
                    }
                });
            });
    }

    fn batch_ui(&mut self, ui: &mut egui::Ui) {
        let running = self.batch.running;
        ui.add_enabled_ui(!running, |ui| {
            egui::Grid::new("batch-settings").num_columns(3).show(ui, |ui| {
                ui.label("Input folder");
                ui.label(folder_text(&self.settings.batch_input));
                if ui.button("Choose…").clicked() {
                    self.jobs.pick(
                        Pick::BatchInput,
                        rfd::FileDialog::new().set_title("Folder of blurred photos"),
                    );
                }
                ui.end_row();
                ui.label("Output folder");
                ui.label(folder_text(&self.settings.batch_output));
                if ui.button("Choose…").clicked() {
                    self.jobs.pick(
                        Pick::BatchOutput,
                        rfd::FileDialog::new().set_title("Folder for the results"),
                    );
                }
                ui.end_row();
                ui.label("Format");
                egui::ComboBox::from_id_salt("batch-format")
                    .selected_text(match self.settings.batch_format {
                        None => "same as input",
                        Some(BatchFormat::Png) => "PNG",
                        Some(BatchFormat::Jpg) => "JPEG",
                        Some(BatchFormat::Tif) => "TIFF",
                    })
                    .show_ui(ui, |ui| {
                        let f = &mut self.settings.batch_format;
                        ui.selectable_value(f, None, "same as input");
                        ui.selectable_value(f, Some(BatchFormat::Png), "PNG");
                        ui.selectable_value(f, Some(BatchFormat::Jpg), "JPEG");
                        ui.selectable_value(f, Some(BatchFormat::Tif), "TIFF");
                    });
                ui.checkbox(&mut self.settings.batch_recursive, "Include sub-folders");
                ui.end_row();
            });
            ui.label(
                RichText::new(format!(
                    "Model {}. Originals are never touched; files already in the output folder are skipped, so a stopped batch resumes.",
                    self.settings.model
                ))
                .weak(),
            );
        });
        ui.horizontal(|ui| {
            if running {
                if ui.button("⏹ Cancel batch").clicked() {
                    self.batch.cancel();
                }
            } else if ui.button("▶ Start batch").clicked() {
                self.start_batch();
            }
            if running || self.batch.total > 0 {
                ui.add(egui::ProgressBar::new(self.batch.fraction()).text(format!(
                    "{}/{} photos",
                    self.batch.finished, self.batch.total
                )));
            }
        });
        if let Some(e) = &self.batch.error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        if let Some(s) = &self.batch.summary {
            ui.label(RichText::new(s).strong());
        }
        egui::ScrollArea::vertical()
            .max_height(240.0)
            .show(ui, |ui| {
                for (file, state) in &self.batch.files {
                    ui.horizontal(|ui| {
                        let (icon, note) = match state {
                            FileState::Running => ("⏳", String::new()),
                            FileState::Done => ("✔", String::new()),
                            FileState::Skipped(why) => ("⏭", why.clone()),
                            FileState::Failed(e) => ("✖", e.clone()),
                        };
                        ui.label(icon);
                        ui.label(file);
                        if !note.is_empty() {
                            let color = if matches!(state, FileState::Failed(_)) {
                                ui.visuals().error_fg_color
                            } else {
                                ui.visuals().weak_text_color()
                            };
                            ui.colored_label(color, note);
                        }
                    });
                }
            });
    }
}

fn folder_text(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(not chosen)".into())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// `strength · restored + (1 − strength) · original`, the photo the user sees and saves.
pub fn blend(original: &Photo, restored: &Photo, strength: f32) -> Photo {
    let s = strength.clamp(0.0, 1.0);
    if s >= 1.0 {
        return restored.clone();
    }
    let rgb = original
        .rgb
        .iter()
        .zip(&restored.rgb)
        .map(|(a, b)| a + s * (b - a))
        .collect();
    Photo {
        rgb,
        ..restored.clone()
    }
}
