//! `deblur bench`: inference speed and memory of the networks, as ratios against a baseline
//! measured in the same process (no timed tests: this is where speed is measured).

use std::process::ExitCode;

use burn::tensor::{Device, Distribution, Tensor};
use clap::Args;
use serde::Serialize;

use super::bench_kernels::{median_ms, wait};
use crate::engine::{select_device, ComputeDevice, DeviceChoice};
use crate::nets::fke::{fft_len, Fke, FkeConfig, KernelPath};
use crate::nets::registry::builtin_config;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Networks to time (architectures from the registry; weights do not change the speed).
    #[arg(long, value_delimiter = ',', default_value = "nafnet-s,nafnet-32")]
    pub models: Vec<String>,
    /// Square tile sizes in pixels.
    #[arg(long, value_delimiter = ',', default_value = "256,1024")]
    pub sizes: Vec<usize>,
    /// Devices: cpu, gpu. A software GPU (lavapipe) is slow: keep sizes small there.
    #[arg(long, value_delimiter = ',', default_value = "cpu,gpu")]
    pub devices: Vec<String>,
    /// Timed runs per case (after one warm-up); the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Print one JSON object per case instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Time training steps (forward, PSNR loss, backward, AdamW) instead of inference, with
    /// batches of this many `--sizes` crops.
    #[arg(long)]
    pub train_batch: Option<usize>,
    /// With --train-batch: data-parallel shard counts to time, each a row (`deblur train
    /// --shards`); the first is the baseline of the ratio column.
    #[arg(long, value_delimiter = ',', default_value = "1", value_name = "N,...")]
    pub shards: Vec<usize>,
    /// Time the project's own kernels instead of networks: the PDE layer (K = 5) and the FFT
    /// spectral multiply, each against burn's tensor ops and the CPU reference.
    #[arg(long)]
    pub kernels: bool,
    /// Time the blind pipeline (kernel estimate and deconvolution, CPU) on `--sizes` photos
    /// instead of networks.
    #[arg(long)]
    pub blind: bool,
    /// Time the blind pipeline's CPU FFT round trip on 32 planes of `--sizes` (one line per
    /// size; `benches/fft_vs_scipy.sh` prints scipy's beside it).
    #[arg(long)]
    pub fft: bool,
    /// With --kernels: also the large cases (PDE 32×256², FFT 48×256² and 16×1024²).
    #[arg(long)]
    pub large: bool,
}

#[derive(Serialize)]
struct Case {
    model: String,
    device: String,
    size: usize,
    ms: f64,
    ms_per_megapixel: f64,
    /// Conv multiply-accumulates of one forward pass at this size (models.md §1.4), in G.
    gmacs: f64,
    /// CPU: the process's peak resident memory during the case. GPU: bytes the device's
    /// allocator reserved after the case.
    peak_memory_mb: Option<f64>,
    /// Training steps only: the batch's data-parallel shards.
    #[serde(skip_serializing_if = "Option::is_none")]
    shards: Option<usize>,
    ratio_to_baseline: f64,
}

/// Peak resident set size (VmHWM) of this process, in MB (Linux).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Resets the peak RSS counter so each case measures its own peak (Linux ≥ 4.0).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn time_case(
    name: &str,
    size: usize,
    device: &Device,
    is_gpu: bool,
    repeats: usize,
) -> anyhow::Result<(f64, Option<f64>)> {
    let config = config_of(name)?;
    let net = config
        .init(device)
        .with_kernel_path(KernelPath::for_device(is_gpu));
    tracing::debug!("{name}: {} parameters", net.num_params());
    device.memory_cleanup();
    reset_peak_rss();
    let x = Tensor::<4>::random([1, 3, size, size], Distribution::Uniform(0.0, 1.0), device);
    // Reading back forces the work to finish (GPU work is asynchronous).
    let ms = median_ms(repeats, || wait(net.forward_image(x.clone())));
    let memory = if is_gpu {
        device
            .memory_pool_usage()
            .map(|u| u.bytes_reserved as f64 / 1e6)
    } else {
        peak_rss_mb()
    };
    Ok((ms, memory))
}

/// Median time of a model's PDE layers alone at the bottleneck of a `size²` input (K = 5,
/// as at inference), to give their share of a `*-pde` forward pass.
fn time_pde(
    c: &crate::nets::nafnet::NafNetConfig,
    size: usize,
    device: &Device,
    is_gpu: bool,
    repeats: usize,
) -> Option<f64> {
    let cfg = c.pde.as_ref()?;
    let side = size.div_ceil(c.pad_multiple()).max(1);
    let ch = c.bottleneck_channels();
    let mut layers: Vec<crate::nets::pde::PdeLayer> = (0..cfg.n_layers)
        .map(|_| crate::nets::pde::PdeLayer::new(ch, cfg, device))
        .collect();
    for l in &mut layers {
        l.path = KernelPath::for_device(is_gpu);
    }
    let x = Tensor::<4>::random([1, ch, side, side], Distribution::Normal(0.0, 1.0), device);
    Some(median_ms(repeats, || {
        let mut y = x.clone();
        for l in &layers {
            y = l.forward(y, 5, 0.2, cfg.cfl_limit).0;
        }
        wait(y);
    }))
}

/// Median time of the FKE alone (its input: decoder features and the image at `size²`), to
/// give its share of a `deeprft-*` forward pass.
fn time_fke(
    cfg: &FkeConfig,
    width: usize,
    size: usize,
    device: &Device,
    is_gpu: bool,
    repeats: usize,
) -> f64 {
    let mut fke = Fke::new(width, cfg, device);
    fke.path = KernelPath::for_device(is_gpu);
    let s = fft_len(size);
    let f = Tensor::<4>::random([1, width, s, s], Distribution::Normal(0.0, 1.0), device);
    let b = Tensor::<4>::random([1, 3, s, s], Distribution::Uniform(0.0, 1.0), device);
    median_ms(repeats, || wait(fke.forward(f.clone(), b.clone()).image))
}

/// Median time of one training step (forward, PSNR loss, backward, AdamW update) of `name`
/// on a batch of `batch` random `size²` crops split into `shards`, as `deblur train` runs it.
fn time_train_step(
    name: &str,
    size: usize,
    batch: usize,
    shards: usize,
    device: &Device,
    repeats: usize,
) -> anyhow::Result<f64> {
    use crate::nets::model::Net;
    use crate::train::loss::{LossKind, LossTerm};
    use crate::train::step::{loss_and_grads, Batch};
    use burn::optim::AdamWConfig;
    let ad = device.clone().autodiff();
    let terms = [LossTerm::new(LossKind::Psnr, 1.0)];
    let Net::NafNet(mut net) = config_of(name)?.init(&ad) else {
        anyhow::bail!("--train-batch times NAFNet-family models only, not `{name}`");
    };
    let mut optim = AdamWConfig::new().init();
    let x = Tensor::<4>::random([batch, 3, size, size], Distribution::Uniform(0.0, 1.0), &ad);
    let y = Tensor::<4>::random([batch, 3, size, size], Distribution::Uniform(0.0, 1.0), &ad);
    let mut step = || -> anyhow::Result<()> {
        let batch = Batch {
            blur: x.clone(),
            sharp: y.clone(),
            extent: None,
        };
        let step = loss_and_grads(&net, batch, &terms, Default::default(), shards)?;
        net = optim.step(1e-4, net.clone(), step.grads);
        // The update is lazy on a GPU: read one weight back to wait for it.
        let _ = net
            .intro
            .weight
            .val()
            .slice([0..1, 0..1, 0..1, 0..1])
            .into_data();
        Ok(())
    };
    let mut failed = None;
    let ms = median_ms(repeats, || {
        if let Err(e) = step() {
            failed.get_or_insert(e);
        }
    });
    failed.map_or(Ok(ms), Err)
}

/// Times one case: inference of `model` on a `size²` tile, or with `--train-batch` one training
/// step in `shards` shards; the ratio is against `baseline`, the first case of the run.
fn measure(
    args: &BenchArgs,
    model: &str,
    size: usize,
    shards: Option<usize>,
    device: &ComputeDevice,
    baseline: Option<&Case>,
) -> anyhow::Result<Case> {
    let (ms, mem) = match (args.train_batch, shards) {
        (Some(batch), Some(shards)) => {
            reset_peak_rss();
            let ms = time_train_step(model, size, batch, shards, &device.device, args.repeats)?;
            (ms, if device.is_gpu { None } else { peak_rss_mb() })
        }
        _ => time_case(model, size, &device.device, device.is_gpu, args.repeats)?,
    };
    let mpx = args.train_batch.unwrap_or(1) as f64 * (size * size) as f64 / 1e6;
    let per_mp = ms / mpx;
    let m = (size.div_ceil(16) * 16).max(16);
    Ok(Case {
        model: model.to_owned(),
        device: device.label.clone(),
        size,
        ms,
        ms_per_megapixel: per_mp,
        gmacs: config_of(model)?.macs(m, m).total as f64 / 1e9,
        peak_memory_mb: mem,
        shards,
        ratio_to_baseline: baseline.map_or(1.0, |b| per_mp / b.ms_per_megapixel),
    })
}

/// One table row, after the header when `first`.
fn print_row(case: &Case, first: bool) {
    if first {
        println!(
            "{:<12} {:<44} {:>6} {:>8} {:>10} {:>10} {:>10} {:>8}",
            "model", "device", "size", "GMAC", "ms", "ms/MP", "peak MB", "ratio"
        );
    }
    println!(
        "{:<12} {:<44} {:>6} {:>8.2} {:>10.1} {:>10.1} {:>10} {:>8.2}",
        case.model,
        case.device,
        case.size,
        case.gmacs,
        case.ms,
        case.ms_per_megapixel,
        case.peak_memory_mb
            .map_or("-".into(), |m| format!("{m:.0}")),
        case.ratio_to_baseline
    );
}

/// The lines under a row: throughput of a training step, or the share of the PDE layers and
/// of the FKE in a forward pass (each timed alone on the same device).
fn print_details(args: &BenchArgs, case: &Case, device: &ComputeDevice) -> anyhow::Result<()> {
    let (model, size, ms) = (&case.model, case.size, case.ms);
    if let (Some(b), Some(shards)) = (args.train_batch, case.shards) {
        println!(
            "  {model}: {:.3} iterations/s, {:.2} samples/s at batch {b} of {size}² in {shards} shard(s)",
            1000.0 / ms,
            1000.0 * b as f64 / ms
        );
        return Ok(());
    }
    let crate::nets::model::NetConfig::NafNet(c) = config_of(model)? else {
        return Ok(());
    };
    if let Some(alone) = time_pde(&c, size, &device.device, device.is_gpu, args.repeats) {
        println!(
            "  {model} at {size}²: the PDE layers alone take {alone:.2} ms, {:.1} % of the forward pass",
            100.0 * alone / ms
        );
    }
    if let Some(fke) = &c.fke {
        let alone = time_fke(
            fke,
            c.width,
            size,
            &device.device,
            device.is_gpu,
            args.repeats,
        );
        println!(
            "  {model} at {size}²: the FKE alone takes {alone:.1} ms, {:.0} % of the forward pass",
            100.0 * alone / ms
        );
    }
    Ok(())
}

fn config_of(name: &str) -> anyhow::Result<crate::nets::model::NetConfig> {
    builtin_config(name).ok_or_else(|| anyhow::anyhow!("unknown architecture `{name}`"))
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.fft {
        for &n in &args.sizes {
            super::bench_blind::fft_round_trip(32, n, args.repeats);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.blind {
        super::bench_blind::run(&args.sizes, args.repeats, peak_rss_mb, reset_peak_rss);
        return Ok(ExitCode::SUCCESS);
    }
    let mut cases: Vec<Case> = Vec::new();
    for dev in &args.devices {
        let choice = match dev.as_str() {
            "cpu" => DeviceChoice::Cpu,
            "gpu" => DeviceChoice::Gpu,
            other => anyhow::bail!("unknown device `{other}` (cpu or gpu)"),
        };
        let device = match select_device(choice) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("bench: skipping {dev}: {e}");
                continue;
            }
        };
        if args.kernels {
            super::bench_kernels::run(&device, args.repeats, args.large);
            continue;
        }
        for model in &args.models {
            for &size in &args.sizes {
                // Inference has one case per size; training steps one per shard count.
                let shard_counts: Vec<Option<usize>> = match args.train_batch {
                    Some(_) => args.shards.iter().map(|&s| Some(s)).collect(),
                    None => vec![None],
                };
                for shards in shard_counts {
                    let case = measure(&args, model, size, shards, &device, cases.first())?;
                    if args.json {
                        println!("{}", serde_json::to_string(&case)?);
                    } else {
                        print_row(&case, cases.is_empty());
                        print_details(&args, &case, &device)?;
                    }
                    cases.push(case);
                }
            }
        }
    }
    if !args.json && !args.kernels {
        if let Some(b) = args.train_batch {
            println!(
                "training steps at batch {b}: `ms` is one step; samples/s = {b} / (ms / 1000)"
            );
        }
        println!("ratio: ms per megapixel relative to the first row (the baseline, same process)");
    }
    Ok(ExitCode::SUCCESS)
}
