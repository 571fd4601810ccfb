//! Command-line front end. One file per subcommand; each drives the library, never the GUI.

mod bench;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

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
    // clap wants 'static version strings (its `string` feature is off); these are built once
    // per process, so leaking them is free.
    let (short, long) = version_strings();
    let matches = Cli::command()
        .version(&*Box::leak(short.into_boxed_str()))
        .long_version(&*Box::leak(long.into_boxed_str()))
        .get_matches();
    let cli = Cli::from_arg_matches(&matches)?;
    match cli.command {
        None => {
            println!("showo-studio {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some(Command::Bench(BenchCommand::Model(args))) => bench::run(args),
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
