//! Command-line front end. One file per subcommand; each drives the library, never the GUI.

mod ask;
mod bench;
mod bench_previews;
mod common;
mod convert;
mod extend;
mod generate;
mod inpaint;
mod recall;

use clap::{Parser, Subcommand};

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
    /// Convert a PyTorch checkpoint (.bin/.pth, shards) to safetensors.
    Convert(convert::ConvertArgs),
    /// Dump samples of the tiny model's procedural world (PNG, GIF, JSONL) for inspection.
    World(world::WorldArgs),
    /// Benchmarks of the engine.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Flow-step time with and without the prefix cache; decode tokens/s with and without the KV cache.
    Model(bench::BenchArgs),
    /// Live-preview cost (latent->RGB map, full VAE decode) as a fraction of a flow step.
    Previews(bench_previews::PreviewBenchArgs),
}

pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => {
            println!("showo-studio {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some(Command::Generate(args)) => generate::run(args),
        Some(Command::Inpaint(args)) => inpaint::run(args),
        Some(Command::Extend(args)) => extend::run(args),
        Some(Command::Ask(args)) => ask::run(args),
        Some(Command::Recall(args)) => recall::run(args),
        Some(Command::Convert(args)) => convert::run(args),
        Some(Command::World(args)) => world::run(args),
        Some(Command::Bench(BenchCommand::Model(args))) => bench::run(args),
        Some(Command::Bench(BenchCommand::Previews(args))) => bench_previews::run(args),
    }
}
