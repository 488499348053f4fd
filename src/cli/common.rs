//! Arguments and helpers shared by the subcommands.

use clap::Args;

use crate::engine::prepare::prepare_on;
use crate::engine::{select_device, DeviceChoice};
use crate::imaging::{LoadOptions, SaveOptions};
use crate::nets::registry::DEFAULT_MODEL;

/// Which network, where it runs, and how the photo is tiled.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Network: a name from `deblur models`, a model card (.toml), our weights
    /// (.safetensors, with its card beside it) or an official NAFNet checkpoint (.pth)
    /// [default: nafnet-s]. Naming one selects `--method network` where the method is not
    /// given.
    #[arg(short, long)]
    pub model: Option<String>,
    /// Where the network runs: `auto` picks a hardware GPU if there is one, else the CPU.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Tile size in pixels (default: from the model card). Memory use grows with it.
    #[arg(long)]
    pub tile: Option<usize>,
    /// Overlap between neighbouring tiles in pixels (default: from the model card).
    #[arg(long)]
    pub overlap: Option<usize>,
}

impl ModelArgs {
    /// The network named, or the default one.
    pub fn name(&self) -> &str {
        self.model.as_deref().unwrap_or(DEFAULT_MODEL)
    }
}

/// Limits on what is read and how it is written.
#[derive(Args, Debug, Clone)]
pub struct IoArgs {
    /// Refuse images larger than this many megapixels (protects memory).
    #[arg(long, default_value_t = 200.0)]
    pub max_megapixels: f64,
    /// JPEG quality (1-100) for .jpg outputs.
    #[arg(long, default_value_t = 95, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,
    /// Write 8-bit output even for 16-bit input.
    #[arg(long)]
    pub eight_bit: bool,
    /// Replace an existing output file (never the input).
    #[arg(long)]
    pub overwrite: bool,
}

impl IoArgs {
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            max_megapixels: self.max_megapixels,
        }
    }

    pub fn save_options(&self) -> SaveOptions {
        SaveOptions {
            jpeg_quality: self.quality,
            bit_depth: self.eight_bit.then_some(crate::imaging::BitDepth::Eight),
            overwrite: self.overwrite,
        }
    }
}

pub use crate::engine::prepare::Prepared;

/// Loads the model the arguments name on the device they choose.
pub fn prepare(args: &ModelArgs) -> anyhow::Result<Prepared> {
    let device = select_device(args.device)?;
    prepare_on(args.name(), &device, args.tile, args.overlap)
}

/// An error and its causes on one line.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ").replace('\n', " ")
}
