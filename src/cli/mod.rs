//! Command-line front end. One file per subcommand; each drives the library, never the GUI.

mod ask;
mod bench;
mod bench_memory;
mod bench_previews;
mod common;
mod convert;
mod eval_tiny;
mod extend;
mod generate;
pub mod heap;
mod inpaint;
pub mod matmul_threads;
mod recall;
mod studio;
mod train_tiny;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod models;
mod world;

#[derive(Parser)]
#[command(
    name = "showo-studio",
    version,
    about = "Show-o2 studio and command-line tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Text-to-image to a PNG carrying its settings.
    Generate(generate::GenerateArgs),
    /// Regenerate the masked part of an image.
    Inpaint(inpaint::InpaintArgs),
    /// Grow the canvas on any side and generate the new area.
    Extend(extend::ExtendArgs),
    /// Ask about an image or a video; the answer streams to stdout.
    Ask(ask::AskArgs),
    /// Print (or regenerate from) the settings stored in a PNG.
    Recall(recall::RecallArgs),
    /// List, download, verify and remove models (the Hugging Face cache).
    Models(models::ModelsArgs),
    /// Convert a PyTorch checkpoint (.bin/.pth, shards) to safetensors.
    Convert(convert::ConvertArgs),
    /// Dump samples of the tiny model's procedural world (PNG, GIF, JSONL) for inspection.
    World(world::WorldArgs),
    /// Score a model on held-out samples of the procedural world (t2i, QA, inpaint, extend).
    EvalTiny(eval_tiny::EvalTinyArgs),
    /// Train the built-in tiny model from scratch (resumes from the checkpoints in --out).
    TrainTiny(train_tiny::TrainTinyArgs),
    /// Benchmarks of the engine.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

pub fn run() -> anyhow::Result<()> {
    // clap wants 'static version strings (its `string` feature is off); these are built once
    // per process, so leaking them is free.
    let (short, long) = version_strings();
    let matches = Cli::command()
        .version(&*Box::leak(short.into_boxed_str()))
        .long_version(&*Box::leak(long.into_boxed_str()))
        .get_matches();
    let cli = Cli::from_arg_matches(&matches)?;
    match cli.command {
        // No subcommand: the studio window on the built-in model (or the one last loaded).
        None => studio::run(),
        Some(Command::Generate(args)) => generate::run(args),
        Some(Command::Inpaint(args)) => inpaint::run(args),
        Some(Command::Extend(args)) => extend::run(args),
        Some(Command::Ask(args)) => ask::run(args),
        Some(Command::Recall(args)) => recall::run(args),
        Some(Command::Models(args)) => models::run(args),
        Some(Command::Convert(args)) => convert::run(args),
        Some(Command::World(args)) => world::run(args),
        Some(Command::Bench(cmd)) => bench::run(cmd),
        Some(Command::TrainTiny(args)) => train_tiny::run(args),
        Some(Command::EvalTiny(args)) => eval_tiny::run(args),
    }
}

/// `-V`: `<version> (backends: cpu[, cuda][, metal]; built-in model: <id>)`; `--version` adds
/// a line with the built-in model's folder (or where it was looked for), which is what a bug
/// report about an installed package needs.
fn version_strings() -> (String, String) {
    let short = format!(
        "{} (backends: {}; built-in model: {})",
        env!("CARGO_PKG_VERSION"),
        showo::model::device::enabled_backends().join(", "),
        showo::assets::builtin_model_id()
    );
    let folder = match showo::assets::builtin_model_dir() {
        Some(dir) => dir.display().to_string(),
        None => {
            let looked: Vec<String> = showo::assets::builtin_model_candidates()
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            format!("not found (looked in: {})", looked.join(", "))
        }
    };
    let long = format!("{short}\nbuilt-in model folder: {folder}");
    (short, long)
}
