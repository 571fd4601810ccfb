//! Command-line front end. One file per subcommand; each drives the library, never the GUI.

mod convert;

use clap::{Parser, Subcommand};

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
}

pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => {
            println!("showo-studio {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some(Command::Convert(args)) => convert::run(args),
    }
}
