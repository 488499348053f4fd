//! Background work: decoding, deblurring, kernel estimation, saving and batches run on worker
//! threads and report through one channel that the GUI drains every frame. The GUI thread
//! never waits on any of them.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

use super::blurmap_view::{map_images, MapImages};
use super::pyramid::{Canvas, Patch};
use super::textures::{region_image, Pyramid};
use crate::analysis::blurmap::{from_expert, from_kernels, from_routers};
use crate::analysis::feature_kernels::{estimate_feature_kernels, TileKernels};
use crate::analysis::psf::RegionKernel;
use crate::deconv::blind::{deconvolve_photo, estimate_photo_kernels, BlindOptions, BLIND};
use crate::engine::batch::{
    plan_batch, run_batch, BatchEvent, BatchSpec, Method as BatchMethod, Report,
};
use crate::engine::prepare::{prepare_on, Prepared};
use crate::engine::{deblur_planes_with_map, ComputeDevice, EngineError, Planes};
use crate::imaging::{load, save, LoadOptions, Photo, SaveOptions};

/// What workers tell the GUI.
pub enum Msg {
    Loaded {
        doc: u64,
        photo: Arc<Photo>,
        chunks: Pyramid,
    },
    LoadFailed {
        doc: u64,
        path: PathBuf,
        error: String,
    },
    /// The model is loaded and the after view starts as a dimmed copy of the photo.
    DeblurStarted {
        doc: u64,
        job: u64,
        placeholder: Pyramid,
    },
    Tile {
        doc: u64,
        job: u64,
        /// What `done` and `total` count (`state::TILES`, or a blind-method stage).
        stage: &'static str,
        /// What the tile changes in each level of the after view.
        patches: Vec<Patch>,
        done: usize,
        total: usize,
        elapsed_s: f64,
    },
    Deblurred {
        doc: u64,
        job: u64,
        photo: Arc<Photo>,
        chunks: Pyramid,
        model: String,
        seconds: f64,
        /// The routers' blur-degree map, for models that have routers.
        blur_map: Option<MapImages>,
        /// Each expert's share map, for models that have routers.
        expert_maps: Vec<MapImages>,
    },
    DeblurEnded {
        doc: u64,
        job: u64,
        /// `None` when cancelled.
        error: Option<String>,
    },
    /// A `deeprft-*` model's feature-level kernels per tile, after its deblur.
    FeatureKernels {
        doc: u64,
        result: Result<Vec<TileKernels>, String>,
    },
    /// Per-region kernels and the blur map derived from them.
    Kernels {
        doc: u64,
        result: Result<(Vec<RegionKernel>, Option<MapImages>), String>,
    },
    Saved {
        path: PathBuf,
        result: Result<(), String>,
    },
    /// A file or folder chosen in a dialog, for `purpose`.
    Picked {
        purpose: Pick,
        path: Option<PathBuf>,
    },
    Batch(BatchMsg),
}

/// What a dialog was opened for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    Open,
    Save,
    BatchInput,
    BatchOutput,
    ExportKernels,
    /// A PSF image to deconvolve the open photo with.
    Psf,
}

/// Progress of a batch.
pub enum BatchMsg {
    Planned {
        total: usize,
        skipped: Vec<(String, String)>,
        failed: Vec<(String, String)>,
    },
    Started {
        index: usize,
        input: String,
    },
    Tile {
        done: usize,
        total: usize,
    },
    Finished {
        index: usize,
        input: String,
        error: Option<String>,
    },
    Ended {
        report: Box<Report>,
    },
    Failed {
        error: String,
    },
}

/// Orders for the inference thread, which owns the loaded model (one queue per device).
enum Order {
    Deblur {
        doc: u64,
        job: u64,
        photo: Arc<Photo>,
        model: String,
        focus: Option<(f32, f32)>,
        cancel: Arc<AtomicBool>,
    },
    Batch {
        spec: BatchSpec,
        model: String,
        load: LoadOptions,
        save: SaveOptions,
        cancel: Arc<AtomicBool>,
    },
}

/// The GUI's handle on its workers.
pub struct Jobs {
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    orders: Sender<Order>,
    ctx: egui::Context,
}

impl Jobs {
    pub fn new(ctx: egui::Context, device: ComputeDevice) -> Self {
        let (tx, rx) = channel();
        let (orders, order_rx) = channel();
        let worker_tx = Notifier {
            tx: tx.clone(),
            ctx: ctx.clone(),
        };
        let pool = inference_pool(&device);
        std::thread::Builder::new()
            .name("deblur-inference".into())
            .spawn(move || match pool {
                Some(pool) => pool.install(|| inference_loop(order_rx, worker_tx, device)),
                None => inference_loop(order_rx, worker_tx, device),
            })
            .ok();
        Self {
            tx,
            rx,
            orders,
            ctx,
        }
    }

    /// Messages that arrived since the last frame.
    pub fn drain(&self) -> Vec<Msg> {
        self.rx.try_iter().collect()
    }

    fn notifier(&self) -> Notifier {
        Notifier {
            tx: self.tx.clone(),
            ctx: self.ctx.clone(),
        }
    }

    /// Decodes `path` on a worker thread.
    pub fn load(&self, doc: u64, path: PathBuf, options: LoadOptions) {
        let n = self.notifier();
        spawn("deblur-load", move || {
            let msg = match load(&path, &options) {
                Ok(photo) => {
                    let chunks = Pyramid::of_planes(&photo.rgb, photo.width, photo.height);
                    Msg::Loaded {
                        doc,
                        photo: Arc::new(photo),
                        chunks,
                    }
                }
                Err(e) => Msg::LoadFailed {
                    doc,
                    path,
                    error: e.to_string(),
                },
            };
            n.send(msg);
        });
    }

    pub fn deblur(
        &self,
        doc: u64,
        job: u64,
        photo: Arc<Photo>,
        model: String,
        focus: Option<(f32, f32)>,
        cancel: Arc<AtomicBool>,
    ) {
        let order = Order::Deblur {
            doc,
            job,
            photo,
            model,
            focus,
            cancel,
        };
        if self.orders.send(order).is_err() {
            self.notifier().send(Msg::DeblurEnded {
                doc,
                job,
                error: Some("the inference thread has stopped".into()),
            });
        }
    }

    pub fn batch(
        &self,
        spec: BatchSpec,
        model: String,
        save: SaveOptions,
        cancel: Arc<AtomicBool>,
    ) {
        let order = Order::Batch {
            spec,
            model,
            load: LoadOptions::default(),
            save,
            cancel,
        };
        if self.orders.send(order).is_err() {
            self.notifier().send(Msg::Batch(BatchMsg::Failed {
                error: "the inference thread has stopped".into(),
            }));
        }
    }

    /// Estimates per-region kernels from the photo alone: the kernels the blind deblur
    /// (`deblur run --method blind`) deconvolves with.
    pub fn kernels(&self, doc: u64, blurry: Arc<Photo>) {
        let n = self.notifier();
        spawn("deblur-kernels", move || {
            let (w, h) = (blurry.width, blurry.height);
            let cancel = AtomicBool::new(false);
            let result =
                estimate_photo_kernels(&blurry, &BlindOptions::default(), &cancel, &|_| {})
                    .map(|kernels| {
                        // The map is a by-product; without it the kernels are still worth showing.
                        let window = kernels.first().map_or(1, |k| k.window);
                        let map = from_kernels(&kernels, w, h, window).ok().map(map_images);
                        (kernels, map)
                    })
                    .map_err(|e| e.to_string());
            n.send(Msg::Kernels { doc, result });
        });
    }

    /// Deconvolves `photo` with given kernels (a PSF image's), as the blind method would with
    /// its own; the result and the kernels arrive as for a blind deblur.
    pub fn deconvolve_with(
        &self,
        doc: u64,
        job: u64,
        photo: Arc<Photo>,
        kernels: Vec<RegionKernel>,
        cancel: Arc<AtomicBool>,
    ) {
        let n = self.notifier();
        spawn("deblur-psf", move || {
            guarded(
                &n,
                || blind_deblur(&n, doc, job, &photo, &cancel, Some(kernels)),
                Msg::DeblurEnded {
                    doc,
                    job,
                    error: Some(BLIND_PANIC.into()),
                },
            )
        });
    }

    /// Writes `photo` to `path` (temporary file + rename), keeping the source's EXIF/ICC.
    pub fn save(&self, photo: Arc<Photo>, source: PathBuf, path: PathBuf, options: SaveOptions) {
        let n = self.notifier();
        spawn("deblur-save", move || {
            let result = save(&photo, &path, Some(&source), &options).map_err(|e| e.to_string());
            n.send(Msg::Saved { path, result });
        });
    }

    /// Runs a native dialog off the GUI thread; the answer arrives as [`Msg::Picked`].
    pub fn pick(&self, purpose: Pick, dialog: rfd::FileDialog) {
        let n = self.notifier();
        spawn("deblur-dialog", move || {
            let path = match purpose {
                Pick::Open | Pick::Psf => dialog.pick_file(),
                Pick::Save | Pick::ExportKernels => dialog.save_file(),
                Pick::BatchInput | Pick::BatchOutput => dialog.pick_folder(),
            };
            n.send(Msg::Picked { purpose, path });
        });
    }

    /// For tests and tools: deliver a message as if a worker had sent it.
    pub fn inject(&self, msg: Msg) {
        self.notifier().send(msg);
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(f) {
        tracing::error!("cannot start a worker thread: {e}");
    }
}

/// A sender that also wakes the GUI.
#[derive(Clone)]
struct Notifier {
    tx: Sender<Msg>,
    ctx: egui::Context,
}

impl Notifier {
    fn send(&self, msg: Msg) {
        // The GUI may have closed; nothing to tell then.
        let _ = self.tx.send(msg);
        self.ctx.request_repaint();
    }
}

/// On the CPU backend, networks run on all cores but one, so the window (and a software
/// renderer such as llvmpipe) always has a core: with every core busy, frames took 300 ms on
/// two cores (`deblur open --run --device cpu`, see the README). `None`: the global pool.
pub fn cpu_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).max(1)
}

fn inference_pool(device: &ComputeDevice) -> Option<rayon::ThreadPool> {
    if device.is_gpu {
        return None;
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(cpu_threads())
        .thread_name(|i| format!("deblur-cpu-{i}"))
        .build()
        .ok()
}

fn inference_loop(orders: Receiver<Order>, n: Notifier, device: ComputeDevice) {
    let mut cached: Option<(String, Prepared)> = None;
    for order in orders {
        if let Some(blind) = BlindOrder::of(&order) {
            blind.run(&n);
            continue;
        }
        let model = match &order {
            Order::Deblur { model, .. } | Order::Batch { model, .. } => model.clone(),
        };
        if cached.as_ref().map(|(m, _)| m != &model).unwrap_or(true) {
            cached = None;
            match prepare_on(&model, &device, None, None) {
                Ok(p) => cached = Some((model.clone(), p)),
                Err(e) => {
                    let error = format!("cannot load model {model}: {e:#}");
                    n.send(match order {
                        Order::Deblur { doc, job, .. } => Msg::DeblurEnded {
                            doc,
                            job,
                            error: Some(error),
                        },
                        Order::Batch { .. } => Msg::Batch(BatchMsg::Failed { error }),
                    });
                    continue;
                }
            }
        }
        let Some((_, prepared)) = cached.as_ref() else {
            continue;
        };
        // A panic inside burn must not take the inference thread down silently: the window
        // would wait forever. Report it as this job's failure and reload the model next time.
        let ended = |error: String| match &order {
            Order::Deblur { doc, job, .. } => Msg::DeblurEnded {
                doc: *doc,
                job: *job,
                error: Some(error),
            },
            Order::Batch { .. } => Msg::Batch(BatchMsg::Failed { error }),
        };
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&n, prepared, &order)));
        if let Err(panic) = outcome {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown cause");
            n.send(ended(format!("internal error in model {model}: {what}")));
            cached = None;
        }
    }
}

fn run(n: &Notifier, prepared: &Prepared, order: &Order) {
    match order {
        Order::Deblur {
            doc,
            job,
            photo,
            model,
            focus,
            cancel,
        } => deblur(
            n,
            prepared,
            *doc,
            *job,
            photo,
            model.clone(),
            *focus,
            cancel,
        ),
        Order::Batch {
            spec,
            load,
            save,
            cancel,
            ..
        } => batch(n, Some(prepared), spec, load, save, cancel),
    }
}

/// A deblur or batch order for the blind method (`deconv::blind`), which needs no model.
enum BlindOrder<'a> {
    Deblur {
        doc: u64,
        job: u64,
        photo: &'a Photo,
        cancel: &'a AtomicBool,
    },
    Batch {
        spec: &'a BatchSpec,
        load: &'a LoadOptions,
        save: &'a SaveOptions,
        cancel: &'a AtomicBool,
    },
}

impl<'a> BlindOrder<'a> {
    fn of(order: &'a Order) -> Option<Self> {
        match order {
            Order::Deblur {
                doc,
                job,
                photo,
                model,
                cancel,
                ..
            } if model == BLIND => Some(Self::Deblur {
                doc: *doc,
                job: *job,
                photo,
                cancel,
            }),
            Order::Batch {
                spec,
                model,
                load,
                save,
                cancel,
            } if model == BLIND => Some(Self::Batch {
                spec,
                load,
                save,
                cancel,
            }),
            _ => None,
        }
    }

    /// Runs the order; a panic becomes this job's error, as for the networks.
    fn run(self, n: &Notifier) {
        match self {
            Self::Deblur {
                doc,
                job,
                photo,
                cancel,
            } => guarded(
                n,
                || blind_deblur(n, doc, job, photo, cancel, None),
                Msg::DeblurEnded {
                    doc,
                    job,
                    error: Some(BLIND_PANIC.into()),
                },
            ),
            Self::Batch {
                spec,
                load,
                save,
                cancel,
            } => guarded(
                n,
                || batch(n, None, spec, load, save, cancel),
                Msg::Batch(BatchMsg::Failed {
                    error: BLIND_PANIC.into(),
                }),
            ),
        }
    }
}

/// What the window says when the blind method panics.
const BLIND_PANIC: &str = "blind deconvolution failed unexpectedly (a bug: please report it)";

/// Runs `work`; if it panics, sends `failed`, so that the window never waits for a job that
/// is gone.
fn guarded(n: &Notifier, work: impl FnOnce(), failed: Msg) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).is_err() {
        n.send(failed);
    }
}

/// The blind method: kernels from the photo, deconvolution with them. The kernels go to the
/// inspector as well, so that it shows exactly what was used.
fn blind_deblur(
    n: &Notifier,
    doc: u64,
    job: u64,
    photo: &Photo,
    cancel: &AtomicBool,
    given: Option<Vec<RegionKernel>>,
) {
    /// Progress is reported in these steps per stage.
    const STEPS: usize = 1000;
    let (w, h) = (photo.width, photo.height);
    let start = Instant::now();
    let canvas = Canvas::new(region_image(&photo.rgb, w, h, 0, 0, w, h, Some(0.55)));
    n.send(Msg::DeblurStarted {
        doc,
        job,
        placeholder: Pyramid::of_levels(canvas.levels()),
    });
    let report = |stage: &'static str, f: f32| {
        n.send(Msg::Tile {
            doc,
            job,
            stage,
            patches: Vec::new(),
            done: (f * STEPS as f32) as usize,
            total: STEPS,
            elapsed_s: start.elapsed().as_secs_f64(),
        })
    };
    let ended = |error: String| {
        let cancelled = error == crate::deconv::blind::BlindError::Cancelled.to_string();
        n.send(Msg::DeblurEnded {
            doc,
            job,
            error: (!cancelled).then_some(error),
        })
    };
    let kernels = match given {
        Some(k) => k,
        None => {
            report("estimating kernels", 0.0);
            let estimate = estimate_photo_kernels(photo, &BlindOptions::default(), cancel, &|f| {
                report("estimating kernels", f)
            });
            match estimate {
                Ok(k) => k,
                Err(e) => return ended(e.to_string()),
            }
        }
    };
    report("deconvolving", 0.0);
    let restored = match deconvolve_photo(photo, &kernels, cancel, &|f| report("deconvolving", f)) {
        Ok(p) => p,
        Err(e) => return ended(e.to_string()),
    };
    let chunks = Pyramid::of_planes(&restored.rgb, w, h);
    n.send(Msg::Deblurred {
        doc,
        job,
        photo: Arc::new(restored),
        chunks,
        model: BLIND.to_string(),
        seconds: start.elapsed().as_secs_f64(),
        blur_map: None,
        expert_maps: Vec::new(),
    });
    let window = kernels.first().map_or(1, |k| k.window);
    let map = from_kernels(&kernels, w, h, window).ok().map(map_images);
    n.send(Msg::Kernels {
        doc,
        result: Ok((kernels, map)),
    });
}

#[allow(clippy::too_many_arguments)]
fn deblur(
    n: &Notifier,
    prepared: &Prepared,
    doc: u64,
    job: u64,
    photo: &Photo,
    model: String,
    focus: Option<(f32, f32)>,
    cancel: &AtomicBool,
) {
    let (w, h) = (photo.width, photo.height);
    let start = Instant::now();
    // The after view as shown, every level of it, so that each tile can say what it changes.
    let mut canvas = Canvas::new(region_image(&photo.rgb, w, h, 0, 0, w, h, Some(0.55)));
    n.send(Msg::DeblurStarted {
        doc,
        job,
        placeholder: Pyramid::of_levels(canvas.levels()),
    });
    let result = deblur_planes_with_map(
        &prepared.runner,
        Planes::of(photo),
        prepared.tiles,
        focus,
        cancel,
        &mut |e| {
            // Show the tile where it lies in the photo (the padded border is not shown).
            let t = e.tile;
            if t.x >= w || t.y >= h {
                return;
            }
            let (tw, th) = ((t.x + t.w).min(w) - t.x, (t.y + t.h).min(h) - t.y);
            let image = region_image(e.data, t.w, t.h, 0, 0, tw, th, None);
            n.send(Msg::Tile {
                doc,
                job,
                stage: super::state::TILES,
                patches: canvas.paint(t.x, t.y, &image),
                done: e.done,
                total: e.total,
                elapsed_s: e.elapsed_s,
            });
        },
    );
    match result {
        Ok(out) => {
            let blur_map = out.blur_map.map(|v| map_images(from_routers(v, w, h)));
            let expert_maps = out
                .expert_maps
                .into_iter()
                .map(|(k, v)| map_images(from_expert(v, k, w, h)))
                .collect();
            let restored = Photo {
                rgb: out.rgb,
                ..photo.clone()
            };
            let chunks = Pyramid::of_planes(&restored.rgb, w, h);
            n.send(Msg::Deblurred {
                doc,
                job,
                photo: Arc::new(restored),
                chunks,
                model,
                seconds: start.elapsed().as_secs_f64(),
                blur_map,
                expert_maps,
            });
            // The FKE's own kernels take one more pass over the photo's tiles: after the
            // result is on screen.
            if let Some(result) = estimate_feature_kernels(
                &prepared.runner.net,
                &photo.rgb,
                w,
                h,
                prepared.tiles.tile,
                31,
                &prepared.runner.device,
            ) {
                n.send(Msg::FeatureKernels { doc, result });
            }
        }
        Err(EngineError::Cancelled) => n.send(Msg::DeblurEnded {
            doc,
            job,
            error: None,
        }),
        Err(e) => n.send(Msg::DeblurEnded {
            doc,
            job,
            error: Some(e.to_string()),
        }),
    }
}

/// The device label of a network, or where the blind method runs (the CPU).
fn blind_or(prepared: Option<&Prepared>, label: impl Fn(&Prepared) -> String) -> String {
    prepared.map_or_else(
        || format!("CPU ({} threads)", rayon::current_num_threads()),
        label,
    )
}

/// A batch with a network (`prepared`) or, without one, the blind method.
fn batch(
    n: &Notifier,
    prepared: Option<&Prepared>,
    spec: &BatchSpec,
    load: &LoadOptions,
    save: &SaveOptions,
    cancel: &AtomicBool,
) {
    let plan = match plan_batch(spec) {
        Ok(plan) => plan,
        Err(error) => {
            n.send(Msg::Batch(BatchMsg::Failed { error }));
            return;
        }
    };
    n.send(Msg::Batch(BatchMsg::Planned {
        total: plan.work.len(),
        skipped: plan
            .report
            .skipped
            .iter()
            .map(|s| (s.input.clone(), s.reason.clone()))
            .collect(),
        failed: plan
            .report
            .failed
            .iter()
            .map(|f| (f.input.clone(), f.error.clone()))
            .collect(),
    }));
    let root = plan.input_root.clone();
    let rel = |p: &str| {
        std::path::Path::new(p)
            .strip_prefix(&root)
            .map(|r| r.display().to_string())
            .unwrap_or_else(|_| p.to_string())
    };
    let method = match prepared {
        Some(p) => BatchMethod::Network {
            model: &p.runner,
            tiles: p.tiles,
        },
        None => BatchMethod::Blind(BlindOptions::default()),
    };
    let mut report = run_batch(plan, &method, load, save, cancel, &mut |e| {
        let msg = match e {
            BatchEvent::Started { index, input, .. } => BatchMsg::Started {
                index,
                input: rel(&input.display().to_string()),
            },
            BatchEvent::Tile { done, total } => BatchMsg::Tile { done, total },
            BatchEvent::Finished { index, result } => match result {
                Ok(d) => BatchMsg::Finished {
                    index,
                    input: rel(&d.input),
                    error: None,
                },
                Err(f) => BatchMsg::Finished {
                    index,
                    input: rel(&f.input),
                    error: Some(f.error.clone()),
                },
            },
        };
        n.send(Msg::Batch(msg));
    });
    report.device = blind_or(prepared, |p| p.device_label.clone());
    n.send(Msg::Batch(BatchMsg::Ended {
        report: Box::new(report),
    }));
}
