//! `showo-studio inpaint --image IN.png --mask MASK.png --prompt "..."`: regenerate the white
//! part of the mask; every pixel outside the (feathered) mask stays the input's.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use showo::media;
use showo::pipeline::InpaintRequest;

use super::common::{ModelArgs, SamplingArgs, save_outputs, with_progress};

#[derive(Args, Debug)]
pub struct InpaintArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// The picture to edit (PNG, JPEG or GIF; any size).
    #[arg(long)]
    pub image: PathBuf,
    /// Same size as the image: white = regenerate (transparent pixels count as keep).
    #[arg(long)]
    pub mask: PathBuf,
    /// Outward feather of the final blend, in pixels (keep <= 8 x --dilate).
    #[arg(long, default_value_t = 8.0)]
    pub feather: f32,
    /// Latent cells the mask grows by before sampling.
    #[arg(long, default_value_t = 1)]
    pub dilate: u32,
    /// RePaint resampling jumps per step (0 = off; default: the model's `studio.json`, else 0).
    #[arg(long)]
    pub resample: Option<usize>,
    /// Denoising strength in (0, 1]: 1 = the masked area from pure noise, lower keeps more of
    /// what is there (default: the model's `studio.json`, else 1).
    #[arg(long)]
    pub strength: Option<f32>,
}

pub fn run(args: InpaintArgs) -> Result<()> {
    let image = media::load_rgb(&args.image)?;
    let mask = media::load_mask(&args.mask)?;
    media::validate_mask_size(
        &mask,
        &args.mask.display().to_string(),
        image.width(),
        image.height(),
        &args.image.display().to_string(),
    )?;
    let pipe = args.model.load()?;
    let mut req = InpaintRequest::new(args.sampling.request(&pipe.settings), image, mask);
    req.feather_px = args.feather;
    req.dilate_cells = args.dilate;
    req.resample = args.resample.unwrap_or(pipe.settings.resample);
    req.strength = args.strength.unwrap_or(pipe.settings.inpaint_strength);
    let out = with_progress(req.base.steps, &args.sampling.out, |ctl| {
        pipe.inpaint(&req, ctl)
    })
    .with_context(|| format!("inpainting {}", args.image.display()))?;
    save_outputs(
        &out,
        &args.sampling.out,
        args.sampling.preview_gif.as_deref(),
    )
}
