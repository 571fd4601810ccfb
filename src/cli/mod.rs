//! Command-line front end. One file per subcommand; each drives the library, never the GUI.

mod bench;
mod convert;

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
}

pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => {
            println!("showo-studio {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some(Command::Convert(args)) => convert::run(args),
        Some(Command::World(args)) => world::run(args),
        Some(Command::Bench(BenchCommand::Model(args))) => bench::run(args),
    }
}
