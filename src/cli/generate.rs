//! `showo-studio generate --prompt "..." [--seed N] [--steps N] [--guidance G] [--size WxH]
//! [--preview-gif FILE]`: text-to-image to a PNG that carries its settings.

use anyhow::{Result, bail};
use clap::Args;

use super::common::{ModelArgs, SamplingArgs, save_outputs, with_progress};

#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Canvas size WxH in pixels (multiples of 16; default: the model's native size).
    #[arg(long)]
    pub size: Option<String>,
}

pub fn parse_size(s: &str) -> Result<(u32, u32)> {
    let Some((w, h)) = s.split_once(['x', 'X']) else {
        bail!("--size {s:?}: expected WIDTHxHEIGHT, e.g. 432x432");
    };
    match (w.trim().parse(), h.trim().parse()) {
        (Ok(w), Ok(h)) => Ok((w, h)),
        _ => bail!("--size {s:?}: expected WIDTHxHEIGHT in pixels, e.g. 432x432"),
    }
}

pub fn run(args: GenerateArgs) -> Result<()> {
    // A bad --size is reported before the (slow) model load.
    let size = args.size.as_deref().map(parse_size).transpose()?;
    let pipe = args.model.load()?;
    let mut req = args.sampling.request(&pipe.settings);
    req.size = size;
    let out = with_progress(req.steps, &args.sampling.out, |ctl| {
        pipe.generate(&req, ctl)
    })?;
    save_outputs(
        &out,
        &args.sampling.out,
        args.sampling.preview_gif.as_deref(),
    )
}
