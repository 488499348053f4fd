//! The command line: one file per subcommand.

mod batch;
mod bench;
mod bench_blind;
mod bench_kernels;
mod blind;
mod common;
mod eval;
mod export;
mod kernels;
mod models;
mod open;
mod run;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Deblur Studio removes motion blur from photos with deblurring networks (NAFNet and
/// relatives) running on the GPU through wgpu, or on the CPU.
///
/// With no command it opens the desktop app; the commands below work without a window.
///
/// Originals are never modified: results go to the output you name, written atomically.
#[derive(Parser, Debug)]
#[command(name = "deblur", version, propagate_version = true)]
pub struct Cli {
    /// Print more detail (repeat for debug output).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Print only warnings and errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Open photos in the desktop app (also what `deblur` with no command does).
    ///
    /// Example: deblur open blurry.jpg
    Open(open::OpenArgs),
    /// Deblur one photo: blind deconvolution of camera shake by default, or a network.
    ///
    /// Example: deblur run blurry.jpg -o sharp.png   (with --model nafnet-s: the network)
    Run(run::RunArgs),
    /// Deblur every photo in a folder, keeping the folder structure.
    ///
    /// Outputs that already exist are skipped, so an interrupted batch resumes where it
    /// stopped. Every failure is reported; none stops the batch.
    ///
    /// Example: deblur batch photos/ -o deblurred/ --recursive --format png --report report.json
    Batch(batch::BatchArgs),
    /// List the models: name, architecture, parameters and what their card says.
    Models(models::ModelsArgs),
    /// Train a model from a recipe (TOML) on synthetic blur of sharp photos; resumable.
    ///
    /// Example: deblur train train/nafnet-s.toml --resume
    Train(train::TrainArgs),
    /// Score a method or model: PSNR/SSIM of its output and of the blurry input against sharp
    /// images, with the blind protocol's aligned PSNR beside them.
    ///
    /// Example: deblur eval --validation --model nafnet-s --json scores.json
    Eval(eval::EvalArgs),
    /// Export a training run's newest checkpoint as release weights with a measured model card.
    ///
    /// Example: deblur export train/nafnet-s.toml --out models
    Export(export::ExportArgs),
    /// Measure speed (ms per megapixel) and memory: networks on CPU and GPU, our kernels
    /// (--kernels), the blind pipeline (--blind).
    ///
    /// Example: deblur bench --models nafnet-s --sizes 256,512 --devices cpu
    Bench(bench::BenchArgs),
    /// Estimate the photo's blur kernels (PSFs): those blind deconvolution uses, or (with
    /// --method network) by comparing the photo with a network's restoration.
    ///
    /// Example: deblur kernels blurry.jpg -o kernels.png --json kernels.json
    Kernels(kernels::KernelsArgs),
}

/// Entry point of the `deblur` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let result = match cli.command {
        Some(Command::Run(args)) => run::run(args),
        Some(Command::Batch(args)) => batch::run(args),
        Some(Command::Models(args)) => models::run(args),
        Some(Command::Train(args)) => train::run(args),
        Some(Command::Eval(args)) => eval::run(args),
        Some(Command::Export(args)) => export::run(args),
        Some(Command::Bench(args)) => bench::run(args),
        Some(Command::Kernels(args)) => kernels::run(args),
        Some(Command::Open(args)) => open::run_gui(args),
        None => open::run_gui(open::OpenArgs::default()),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // One line: the error and its causes, no backtrace.
            eprintln!("deblur: error: {}", common::one_line(&err));
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("DEBLUR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("warn,deblur={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .try_init();
}
