//! `showo-studio extend --image IN.png --left 64 --right 0 --top 0 --bottom 32 --prompt "..."`:
//! grow the canvas (rounded up to the 16-px grid) and generate the new area; the original keeps
//! its pixels at its new offset. `--left-prompt` etc. give a side its own prompt; the sides then
//! run one after another (left, right, top, bottom).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use showo::media::{self, Growth};
use showo::pipeline::{ExtendRequest, Side};

use super::common::{ModelArgs, SamplingArgs, save_outputs, with_progress};

#[derive(Args, Debug)]
pub struct ExtendArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[arg(long)]
    pub image: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub left: u32,
    #[arg(long, default_value_t = 0)]
    pub right: u32,
    #[arg(long, default_value_t = 0)]
    pub top: u32,
    #[arg(long, default_value_t = 0)]
    pub bottom: u32,
    #[arg(long)]
    pub left_prompt: Option<String>,
    #[arg(long)]
    pub right_prompt: Option<String>,
    #[arg(long)]
    pub top_prompt: Option<String>,
    #[arg(long)]
    pub bottom_prompt: Option<String>,
    /// RePaint resampling jumps per step (0 = off; default: the model's `studio.json`, else 0).
    #[arg(long)]
    pub resample: Option<usize>,
    /// Denoising strength in (0, 1]: 1 = the new area from pure noise, lower = from the
    /// repeated edge under noise (default: the model's `studio.json`, else 1).
    #[arg(long)]
    pub strength: Option<f32>,
}

pub fn run(args: ExtendArgs) -> Result<()> {
    let image = media::load_rgb(&args.image)?;
    let pipe = args.model.load()?;
    let base = args.sampling.request(&pipe.settings);
    let per_side = [
        (Side::Left, args.left, &args.left_prompt),
        (Side::Right, args.right, &args.right_prompt),
        (Side::Top, args.top, &args.top_prompt),
        (Side::Bottom, args.bottom, &args.bottom_prompt),
    ];
    let resample = args.resample.unwrap_or(pipe.settings.resample);
    let strength = args.strength.unwrap_or(pipe.settings.extend_strength);
    let separate = per_side.iter().any(|(_, _, p)| p.is_some());
    let out = if separate {
        let sides: Vec<(Side, u32, Option<String>)> = per_side
            .iter()
            .filter(|(_, px, _)| *px > 0)
            .map(|(s, px, p)| (*s, *px, (*p).clone()))
            .collect();
        let total = base.steps * sides.len().max(1);
        with_progress(total, &args.sampling.out, |ctl| {
            pipe.extend_sides(&base, &image, &sides, (resample, strength), ctl)
        })
    } else {
        let growth = Growth {
            left: args.left,
            right: args.right,
            top: args.top,
            bottom: args.bottom,
        };
        let mut req = ExtendRequest::new(base.clone(), image.clone(), growth);
        req.resample = resample;
        req.strength = strength;
        with_progress(base.steps, &args.sampling.out, |ctl| pipe.extend(&req, ctl))
    }
    .with_context(|| format!("extending {}", args.image.display()))?;
    save_outputs(
        &out,
        &args.sampling.out,
        args.sampling.preview_gif.as_deref(),
    )
}
