//! `deblur train CONFIG`: train a model from a TOML recipe, resumable.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::engine::{select_device, DeviceChoice};
use crate::train::config::TrainConfig;
use crate::train::trainer::{train, TrainOptions};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training recipe (TOML), e.g. train/nafnet-s.toml.
    pub config: PathBuf,
    /// Continue from the newest checkpoint in the run folder.
    #[arg(long)]
    pub resume: bool,
    /// Stop after this iteration (the learning-rate schedule still spans the whole run).
    #[arg(long)]
    pub stop_at: Option<u64>,
    /// Go on from a released model card (e.g. models/dhnet-s.toml) when the run folder
    /// holds no checkpoint: its weights and iteration count, with a fresh optimiser state.
    /// With --resume, a checkpoint in the run folder wins.
    #[arg(long, value_name = "CARD")]
    pub continue_from: Option<PathBuf>,
    /// Where to train: `cpu` (burn's flex backend) or `gpu` (wgpu).
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
    /// Override the folder of sharp photos named in the recipe.
    #[arg(long)]
    pub sharp_dir: Option<PathBuf>,
    /// Split each batch into this many equal shards that run at once, each on its own copy of
    /// the model (data parallel; the gradient is the same). Default: one per CPU thread on
    /// the CPU, whose backward kernels use a second thread poorly; 1 on a GPU.
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
}

pub fn run(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = TrainConfig::read(&args.config)?;
    if let Some(dir) = args.sharp_dir {
        cfg.data.sharp_dir = dir;
    }
    let device = select_device(args.device)?;
    let shards = args.shards.unwrap_or(if device.is_gpu {
        1
    } else {
        rayon::current_num_threads()
    });
    train(
        &cfg,
        device.device,
        &TrainOptions {
            resume: args.resume,
            stop_at: args.stop_at,
            continue_from: args.continue_from,
            shards,
        },
    )?;
    Ok(ExitCode::SUCCESS)
}
