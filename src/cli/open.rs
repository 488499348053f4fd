//! `deblur open [FILE...]` (and `deblur` alone): the desktop app.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::app::{run, GuiOptions};
use crate::engine::DeviceChoice;

#[derive(Args, Debug, Default)]
pub struct OpenArgs {
    /// Photos to open; the first is shown, the others follow when it is closed.
    pub files: Vec<PathBuf>,
    /// Where networks run: `auto` uses the window's GPU when it is a hardware one, else the CPU.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Deblur the first photo as soon as it is open.
    #[arg(long)]
    pub run: bool,
    /// Write a screenshot of the window (PNG) once the photo (and --run's result) is shown,
    /// then quit. For smoke tests and documentation.
    #[arg(long, value_name = "PNG")]
    pub screenshot: Option<PathBuf>,
}

pub fn run_gui(args: OpenArgs) -> anyhow::Result<ExitCode> {
    for f in &args.files {
        if !f.exists() {
            // The window would say so too; on a terminal say it before opening a window.
            tracing::warn!("{} does not exist", f.display());
        }
    }
    run(GuiOptions {
        files: args.files,
        device: args.device,
        run: args.run,
        screenshot: args.screenshot,
    })?;
    Ok(ExitCode::SUCCESS)
}
