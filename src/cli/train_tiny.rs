//! `showo-studio train-tiny --out DIR`: trains the built-in model from scratch (resumable).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use showo::train::tiny::{TrainOptions, run as train};

#[derive(Args)]
pub struct TrainTinyArgs {
    /// Output folder; re-running with the same folder resumes from its checkpoints.
    #[arg(long)]
    out: PathBuf,
    /// VAE training steps.
    #[arg(long)]
    vae_steps: Option<usize>,
    /// Unified-model training steps.
    #[arg(long)]
    steps: Option<usize>,
    /// Decoder-refinement steps (phase 3; 0 skips it).
    #[arg(long)]
    decoder_steps: Option<usize>,
    /// Checkpoint every N steps.
    #[arg(long)]
    checkpoint_every: Option<usize>,
}

pub fn run(args: TrainTinyArgs) -> Result<()> {
    let mut opts = TrainOptions::new(args.out);
    opts.vae_steps = args.vae_steps.unwrap_or(opts.vae_steps);
    opts.steps = args.steps.unwrap_or(opts.steps);
    opts.decoder_steps = args.decoder_steps.unwrap_or(opts.decoder_steps);
    opts.checkpoint_every = args.checkpoint_every.unwrap_or(opts.checkpoint_every);
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>8} [{elapsed_precise}] {wide_bar} {pos}/{len} (eta {eta}) {msg}",
        )
        .expect("static template"),
    );
    let mut phase = String::new();
    let mut report = |p: &str, step: usize, total: usize, vals: &[(&str, f64)]| {
        if phase != p {
            phase = p.to_string();
            bar.set_prefix(p.to_string());
            bar.set_length(total as u64);
            bar.reset_eta();
        }
        bar.set_position(step as u64);
        let msg: Vec<String> = vals.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        bar.set_message(msg.join("  "));
    };
    train(&opts, &mut report)?;
    bar.finish_with_message(format!("done: {}", opts.out.display()));
    Ok(())
}
