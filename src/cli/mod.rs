//! Command-line front end. One file per subcommand; each drives the library, never the GUI.

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
enum Command {}

pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        // No subcommand: the studio window. No model backend is wired in yet, so the studio
        // opens with "no model loaded" and says why if asked to load one.
        None => showo::studio::run(Box::new(showo::engine::Unavailable))
            .map_err(|e| anyhow::anyhow!("the studio window failed: {e}")),
    }
}
