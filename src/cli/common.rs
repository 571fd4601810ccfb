//! Flags shared by the pipeline commands: which model, where it runs, how it samples, and the
//! progress bar / preview GIF that every sampling command offers.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};
use showo::media::{self, GenerationParams, GifRepeat};
use showo::model::device::{DeviceChoice, parse_dtype, parse_llm_quant};
use showo::model::weights::BinCache;
use showo::pipeline::StudioSettings;
use showo::pipeline::export;
use showo::pipeline::generate::{Control, StepEvent};
use showo::pipeline::{GenerateRequest, Generated, LoadOptions, Pipeline, PreviewOptions};

#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Show-o2 checkpoint folder (config.json, weights, tokenizer.json, VAE), or the id of a
    /// downloaded catalog model (`showo-studio models list`); default: the built-in tiny model.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// cpu, cuda[:N] or metal[:N].
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// f32, bf16 or f16 (default: f32 on the CPU, bf16 on GPUs).
    #[arg(long)]
    pub dtype: Option<String>,
    /// Quantize the LLM's linear layers while loading: none, q8_0, q4_0 or q4_k (q4_k needs
    /// rows that are multiples of 256, as in the released 1.5B and 7B).
    #[arg(long, default_value = "none")]
    pub llm_quant: String,
    /// A PyTorch .bin checkpoint (every released Show-o2) is converted once to a safetensors
    /// cache (as much disk as the checkpoint, in ~/.cache/showo-studio) and memory-mapped on
    /// later loads. Without this flag an existing conversion is used, none is made.
    #[arg(long)]
    pub cache_safetensors: bool,
}

impl ModelArgs {
    pub fn folder(&self) -> Result<PathBuf> {
        if let Some(m) = &self.model {
            // Not a folder but a catalog id: its load folder, or why it has none (not
            // downloaded yet, ...), rather than "no such folder".
            let catalog = showo::hub::Catalog::builtin();
            if !m.exists()
                && let Some(id) = m.to_str()
                && catalog.model(id).is_ok()
            {
                return Ok(showo::hub::manager::folder_for_id(&catalog, id)?);
            }
            return Ok(m.clone());
        }
        showo::assets::builtin_model_dir().with_context(|| {
            let looked: Vec<String> = showo::assets::builtin_model_candidates()
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            format!(
                "the built-in model was not found (looked in: {}); pass --model DIR (a Show-o2 checkpoint folder)",
                looked.join(", ")
            )
        })
    }

    pub fn load(&self) -> Result<Pipeline> {
        let choice: DeviceChoice = self.device.parse()?;
        let dev = choice.open()?;
        let dtype = match &self.dtype {
            Some(d) => parse_dtype(d)?,
            None => choice.default_dtype(),
        };
        let dir = self.folder()?;
        let spinner = ProgressBar::new_spinner();
        spinner.set_message(format!("loading {}", dir.display()));
        spinner.enable_steady_tick(std::time::Duration::from_millis(120));
        let quant = parse_llm_quant(&self.llm_quant)?;
        let options = LoadOptions {
            llm_quant: quant,
            bin_cache: if self.cache_safetensors {
                BinCache::Convert
            } else {
                BinCache::UseIfPresent
            },
            cache_root: None,
        };
        let pipe = Pipeline::load_with(&dir, &dev, dtype, &options);
        spinner.finish_and_clear();
        Ok(pipe?)
    }
}

#[derive(Args, Debug, Clone)]
pub struct SamplingArgs {
    /// The prompt.
    #[arg(long, short)]
    pub prompt: String,
    /// What guidance steers away from (replaces the empty prompt of the unconditional branch).
    #[arg(long, default_value = "")]
    pub negative_prompt: String,
    /// Seed of the initial noise (default: a random one, printed and stored in the PNG).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Euler steps (model calls); default: the model's (its `studio.json`, else the official
    /// num_inference_steps 50, which is 49 here).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Classifier-free guidance scale (the unconditional branch is the empty prompt, or the
    /// negative prompt when one is given); default: the model's (its `studio.json`, else the
    /// official 5).
    #[arg(long)]
    pub guidance: Option<f32>,
    /// Share of fresh noise per flow step, 0 to 1: 0 is the official Euler sampler, 1 takes
    /// ancestral steps ("Euler a"); default: the model's (its `studio.json`, else 0).
    #[arg(long)]
    pub eta: Option<f32>,
    /// Output PNG (with the settings in its metadata).
    #[arg(long, short, default_value = "output.png")]
    pub out: PathBuf,
    /// Also write a GIF of the live previews of every step, ending on the result.
    #[arg(long)]
    pub preview_gif: Option<PathBuf>,
    /// A full VAE decode of the prediction every N steps (0 = off), written next to --out.
    #[arg(long, default_value_t = 0)]
    pub full_decode_every: usize,
    /// Use full-precision f32 noise instead of the official bf16-rounded noise.
    #[arg(long)]
    pub f32_noise: bool,
}

impl SamplingArgs {
    /// The request, at the model's own steps, guidance and eta (`model`) unless `--steps`,
    /// `--guidance` or `--eta` was given.
    pub fn request(&self, model: &StudioSettings) -> GenerateRequest {
        let seed = self.seed.unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            t ^ (std::process::id() as u64).rotate_left(32)
        });
        GenerateRequest {
            prompt: self.prompt.clone(),
            negative_prompt: self.negative_prompt.clone(),
            seed,
            steps: self.steps.unwrap_or(model.steps),
            guidance: self.guidance.unwrap_or(model.guidance),
            eta: self.eta.unwrap_or(model.eta),
            bf16_noise: !self.f32_noise,
            preview: PreviewOptions {
                every: if self.preview_gif.is_some() { 1 } else { 0 },
                full_decode_every: self.full_decode_every,
                upsample: true,
            },
            keep_trajectory: self.preview_gif.is_some(),
            ..Default::default()
        }
    }
}

/// Runs `job` with an indicatif bar over the steps; full decodes are saved as
/// `<out>.stepN.png`.
pub fn with_progress(
    total: usize,
    out: &Path,
    job: impl FnOnce(&mut Control) -> showo::pipeline::Result<Generated>,
) -> Result<Generated> {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{bar:40}] step {pos}/{len} {msg} ({elapsed}, eta {eta})",
        )
        .context("progress bar template")?
        .progress_chars("=> "),
    );
    let mut save_error = None;
    let mut on_step = |e: &StepEvent| {
        bar.set_position(e.step as u64);
        bar.set_message(format!("t = {:.3}", e.t));
        if let Some(img) = &e.decoded {
            let path = out.with_extension(format!("step{}.png", e.step));
            if let Err(err) = media::save_rgb(&path, img) {
                save_error = Some(err);
            }
        }
    };
    let never = || false;
    let result = job(&mut Control {
        on_step: &mut on_step,
        cancelled: &never,
    });
    bar.finish_and_clear();
    if let Some(e) = save_error {
        return Err(e.into());
    }
    Ok(result?)
}

/// Writes the PNG (atomically, with metadata) and the optional preview GIF.
pub fn save_outputs(out: &Generated, png: &Path, gif: Option<&Path>) -> Result<()> {
    media::save_png_with_metadata(png, &out.image, &out.params)
        .with_context(|| format!("writing {}", png.display()))?;
    println!(
        "wrote {} ({}x{}, seed {})",
        png.display(),
        out.image.width(),
        out.image.height(),
        out.params.seed
    );
    if let Some(gif) = gif {
        save_trajectory_gif(gif, &out.trajectory, &out.image)?;
        println!(
            "wrote {} ({} frames)",
            gif.display(),
            out.trajectory.len() + 1
        );
    }
    Ok(())
}

/// A GIF of the per-step previews, holding on the final image.
pub fn save_trajectory_gif(path: &Path, previews: &[RgbImage], last: &RgbImage) -> Result<()> {
    let frames = export::trajectory_frames(previews, last);
    media::save_gif(path, &frames, GifRepeat::Forever)
        .with_context(|| format!("writing {}", path.display()))
}

/// The settings line printed by `recall`.
pub fn describe(params: &GenerationParams) -> String {
    media::a1111_parameters(params)
}
