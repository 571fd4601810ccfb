//! `showo-studio recall FILE.png [--run --out NEW.png]`: read the settings stored in a PNG
//! (the studio's JSON chunk, else the A1111 parameters text) and print them; `--run`
//! regenerates a text-to-image result with exactly those settings.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use showo::media::{self, GenerationMode};
use showo::pipeline::GenerateRequest;

use super::common::{ModelArgs, describe, save_outputs, with_progress};

#[derive(Args, Debug)]
pub struct RecallArgs {
    /// A PNG written by the studio (or by A1111-compatible tools).
    pub file: PathBuf,
    /// Print the settings as JSON instead of the A1111 text.
    #[arg(long)]
    pub json: bool,
    /// Regenerate the image from the stored settings (text-to-image results only).
    #[arg(long)]
    pub run: bool,
    #[arg(long, default_value = "recalled.png")]
    pub out: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
}

pub fn run(args: RecallArgs) -> Result<()> {
    let params = media::read_png_metadata(&args.file)
        .with_context(|| format!("reading the settings of {}", args.file.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&params)?);
    } else {
        println!("{}", describe(&params));
    }
    if !args.run {
        return Ok(());
    }
    if params.mode != GenerationMode::TextToImage {
        bail!(
            "{} is a {:?} result; only text-to-image results can be regenerated from their \
             settings alone (the source image is not stored)",
            args.file.display(),
            params.mode
        );
    }
    let pipe = args.model.load()?;
    let req = GenerateRequest {
        prompt: params.prompt.clone(),
        negative_prompt: params.negative_prompt.clone(),
        seed: params.seed,
        steps: params.steps as usize,
        guidance: params.guidance,
        size: Some((params.width, params.height)),
        shift: params.time_shift,
        eta: params.eta,
        ..Default::default()
    };
    let out = with_progress(req.steps, &args.out, |ctl| pipe.generate(&req, ctl))?;
    save_outputs(&out, &args.out, None)
}
