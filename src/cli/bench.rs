//! `deblur bench`: inference speed and memory of the networks, as ratios against a baseline
//! measured in the same process (no timed tests: this is where speed is measured).

use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};
use clap::Args;
use serde::Serialize;

use crate::engine::{select_device, DeviceChoice};
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
    let net = config.init(device);
    tracing::debug!("{name}: {} parameters", net.num_params());
    device.memory_cleanup();
    reset_peak_rss();
    let x = Tensor::<4>::random([1, 3, size, size], Distribution::Uniform(0.0, 1.0), device);
    let run = || {
        let y = net.forward_image(x.clone());
        // Reading back forces the work to finish (GPU work is asynchronous).
        let _ = y.slice([0..1, 0..1, 0..1, 0..1]).into_data();
    };
    run();
    let mut times: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let t = Instant::now();
            run();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let memory = if is_gpu {
        device
            .memory_pool_usage()
            .map(|u| u.bytes_reserved as f64 / 1e6)
    } else {
        peak_rss_mb()
    };
    Ok((times[times.len() / 2], memory))
}

fn config_of(name: &str) -> anyhow::Result<crate::nets::model::NetConfig> {
    builtin_config(name).ok_or_else(|| anyhow::anyhow!("unknown architecture `{name}`"))
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
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
        for model in &args.models {
            for &size in &args.sizes {
                let (ms, mem) =
                    time_case(model, size, &device.device, device.is_gpu, args.repeats)?;
                let baseline = cases.first().map(|c| c.ms_per_megapixel);
                let mpx = (size * size) as f64 / 1e6;
                let per_mp = ms / mpx;
                let m = (size.div_ceil(16) * 16).max(16);
                let gmacs = config_of(model)?.macs(m, m).total as f64 / 1e9;
                let case = Case {
                    model: model.clone(),
                    device: device.label.clone(),
                    size,
                    ms,
                    ms_per_megapixel: per_mp,
                    gmacs,
                    peak_memory_mb: mem,
                    ratio_to_baseline: baseline.map_or(1.0, |b| per_mp / b),
                };
                if args.json {
                    println!("{}", serde_json::to_string(&case)?);
                } else {
                    if cases.is_empty() {
                        println!(
                            "{:<10} {:<44} {:>6} {:>8} {:>10} {:>10} {:>10} {:>8}",
                            "model", "device", "size", "GMAC", "ms", "ms/MP", "peak MB", "ratio"
                        );
                    }
                    println!(
                        "{:<10} {:<44} {:>6} {:>8.2} {:>10.1} {:>10.1} {:>10} {:>8.2}",
                        case.model,
                        case.device,
                        size,
                        gmacs,
                        ms,
                        per_mp,
                        mem.map_or("-".into(), |m| format!("{m:.0}")),
                        case.ratio_to_baseline
                    );
                }
                cases.push(case);
            }
        }
    }
    if !args.json {
        if let Some(b) = args.train_batch {
            println!(
                "training steps at batch {b}: `ms` is one step; samples/s = {b} / (ms / 1000)"
            );
        }
        println!("ratio: ms per megapixel relative to the first row (the baseline, same process)");
    }
    Ok(ExitCode::SUCCESS)
}
