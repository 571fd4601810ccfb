//! Command-line front end. One file per subcommand; each drives the library, never the GUI.

mod bench;
mod train_tiny;

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
    /// Dump samples of the tiny model's procedural world (PNG, GIF, JSONL) for inspection.
    World(world::WorldArgs),
    /// Train the built-in tiny model from scratch (resumes from the checkpoints in --out).
    TrainTiny(train_tiny::TrainTinyArgs),
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
        Some(Command::World(args)) => world::run(args),
        Some(Command::Bench(BenchCommand::Model(args))) => bench::run(args),
        Some(Command::TrainTiny(args)) => train_tiny::run(args),
    }
}
