//! Command-line front end. One file per subcommand; each drives the library, never the GUI.

use clap::{Parser, Subcommand};

mod models;

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
    /// List, download, verify and remove models (the Hugging Face cache).
    Models(models::ModelsArgs),
}

pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => {
            println!("showo-studio {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some(Command::Models(args)) => models::run(args),
    }
}
