//! `deblur models`: what can be run.

use std::process::ExitCode;

use clap::Args;

use crate::nets::registry::{list_models, models_dir};

#[derive(Args, Debug)]
pub struct ModelsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ModelsArgs) -> anyhow::Result<ExitCode> {
    let dir = models_dir();
    let entries = list_models(&dir);
    if args.json {
        let list: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "name": e.name,
                    "architecture": e.architecture,
                    "params": e.params,
                    "installed": e.card_path.is_some(),
                    "card": e.card_path.as_ref().map(|p| p.display().to_string()),
                    "summary": e.summary,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("models folder: {}", dir.display());
    println!(
        "{:<14} {:<12} {:>12}  {:<9}  summary",
        "name", "architecture", "parameters", "weights"
    );
    for e in &entries {
        println!(
            "{:<14} {:<12} {:>12}  {:<9}  {}",
            e.name,
            e.architecture,
            e.params,
            if e.card_path.is_some() {
                "installed"
            } else {
                "-"
            },
            e.summary
        );
    }
    Ok(ExitCode::SUCCESS)
}
