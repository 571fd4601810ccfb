//! `showo-studio`: the desktop studio (no subcommand) and its command-line tools.

mod cli;

fn main() -> anyhow::Result<()> {
    cli::run()
}
