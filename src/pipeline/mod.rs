//! Tasks over the model: text-to-image, inpaint, extend, image and video chat, with the
//! flow-matching sampler, guidance, latent blending and previews. No GUI knowledge.
//!
//! [`Pipeline::load`] takes a Show-o2 checkpoint folder:
//!
//! ```text
//! config.json              Showo2Qwen2_5 constructor arguments (the checkpoint's own)
//! qwen2_config.json        the Qwen2 config (or the folder named by llm_model_path; the
//!                          published Qwen2.5 1.5B/7B configs are built in)
//! siglip_config.json       optional SigLIP geometry (so400m by default)
//! flow_head_config.json    optional flow-head shape (the official hard-coded one by default)
//! model.safetensors        weights: model.safetensors, model-*-of-*.safetensors shards, or
//!                          pytorch_model.bin (as released)
//! tokenizer.json           the Qwen2.5-Instruct tokenizer (Show-o2's 4 tokens are added if
//!                          missing), or a tiny model's word-level one
//! vae.safetensors|vae.pth  the Wan2.1 VAE (Wan2.1_VAE.pth as released), here or in vae/
//! vae_config.json          optional VAE geometry (Wan2.1's dim 96 by default), here or in vae/
//! studio.json              optional: {"max_text_len": N, "video_frames": N, "video_grid": N,
//!                          "max_image_tokens": N, "resample": N,
//!                          "inpaint_strength": S, "extend_strength": S, "guidance": G,
//!                          "steps": N, "eta": E}
//! ```
//!
//! The built-in tiny model (`assets/tiny/`) is such a folder and loads through the same path.
//!
//! Decisions that users see:
//! - An empty prompt and a prompt longer than `max_text_len` tokens are errors
//!   ([`PipelineError::EmptyPrompt`], [`PipelineError::PromptTooLong`]): the official code
//!   would cut the prompt silently, which makes the picture ignore its end without a word.
//! - Canvases are multiples of 16 px; inputs of other sizes are padded with their edge pixels
//!   and cropped back. Larger-than-native canvases use position interpolation (see `extend`).
//! - Every job takes a [`generate::Control`]: a per-step callback and a cancellation flag
//!   polled before every model call, so a cancelled job stops within one step.

pub mod chat;
pub mod decode;
pub mod export;
pub mod extend;
pub mod generate;
pub mod inpaint;
pub mod preview;
pub mod sampler;
pub mod video;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::GgmlDType;
use candle_core::{DType, Device, Tensor};
use serde::Deserialize;

use crate::media::{self, MediaError};
use crate::model::layers::QuantSource;
use crate::model::tokenizer::{ShowoTokenizer, TokenizerError};
use crate::model::vae::{VaeConfig, WanVae};
use crate::model::weights::WeightStore;
use crate::model::{ModelError, Showo2, Showo2Config};

pub use chat::{Answer, Attachment, ChatMessage, ChatOptions};
pub use extend::{ExtendRequest, Side};
pub use generate::{GenerateRequest, Generated, StepEvent};
pub use inpaint::InpaintRequest;
pub use preview::{LatentRgbMap, PreviewOptions};

/// Errors of the pipelines. Each names the setting, file or input at fault.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{}: {why}", path.display())]
    Checkpoint { path: PathBuf, why: String },
    #[error("the prompt is empty; describe the image to generate")]
    EmptyPrompt,
    #[error(
        "the prompt is {tokens} tokens long; this model accepts at most {max} \
         (max_text_len); shorten it"
    )]
    PromptTooLong { tokens: usize, max: usize },
    #[error("the question is empty; type what you want to know")]
    EmptyQuestion,
    #[error("invalid {setting} = {value}: expected {expected}")]
    Setting {
        setting: &'static str,
        value: String,
        expected: String,
    },
    #[error("cancelled after {after_step} of {total} steps")]
    Cancelled { after_step: usize, total: usize },
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("model computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

pub fn bad_setting(
    setting: &'static str,
    value: impl std::fmt::Display,
    expected: impl Into<String>,
) -> PipelineError {
    PipelineError::Setting {
        setting,
        value: value.to_string(),
        expected: expected.into(),
    }
}

/// Optional per-checkpoint settings (`studio.json`); the defaults are the official ones.
#[derive(Debug, Clone, PartialEq)]
pub struct StudioSettings {
    /// Longest prompt, in tokens. Official: `max_seq_len - (n + 1) - 4` = 290 at 432 px.
    pub max_text_len: usize,
    /// Frames sampled from a video for chat (32 in the official demo).
    pub video_frames: usize,
    /// Per-frame token grid of video chat (the official script hard-codes 14).
    pub video_grid: usize,
    /// Largest canvas, in image tokens, before the pipelines refuse (position interpolation
    /// beyond ~4x the trained area degrades quickly).
    pub max_image_tokens: usize,
    /// RePaint jumps per step that inpainting and extension use unless told otherwise. The
    /// official model has no inpainting, so 0 there; a small model that blends its edits badly
    /// without them asks for some in its `studio.json`.
    pub resample: usize,
    /// Denoising strength (0, 1] inpainting starts from unless told otherwise (1 = pure noise,
    /// the official behaviour).
    pub inpaint_strength: f32,
    /// Denoising strength (0, 1] extension starts from unless told otherwise: below 1 the new
    /// area starts from the repeated edge under noise.
    pub extend_strength: f32,
    /// Classifier-free guidance scale requests start from unless told otherwise (5, the
    /// official demo's, for the released checkpoints; a small model that over-steers at 5 asks
    /// for less).
    pub guidance: f32,
    /// Flow (Euler) steps requests start from unless told otherwise (49, the official
    /// num_inference_steps 50; a small model that was measured at fewer asks for them, which
    /// is also what keeps its text-to-image under a second on a laptop CPU).
    pub steps: usize,
    /// Share of fresh noise per step requests start from (0, the official Euler sampler; a
    /// small model whose ODE samples blur between shapes asks for ancestral steps, 1).
    pub eta: f32,
}

impl StudioSettings {
    /// The official values for a model whose native grid has `native_tokens` tokens.
    pub fn official(native_tokens: usize) -> Self {
        Self {
            max_text_len: 290,
            video_frames: 32,
            video_grid: 14,
            max_image_tokens: 4 * native_tokens,
            resample: 0,
            inpaint_strength: 1.0,
            extend_strength: 1.0,
            guidance: 5.0,
            steps: generate::OFFICIAL_STEPS,
            eta: 0.0,
        }
    }
}

impl Default for StudioSettings {
    fn default() -> Self {
        Self::official(729)
    }
}

/// Pixels in [-1, 1] <-> the model's normalised latents. The Wan2.1 VAE implements it; tests or
/// other checkpoints may bring their own.
pub trait ImageCodec: Send + Sync {
    /// (B, 3, H, W) in [-1, 1] -> normalised latents (B, C, H/8, W/8), f32 (the deterministic
    /// mean, as `WanVAE.sample(deterministic=True)`).
    fn encode(&self, pixels: &Tensor) -> candle_core::Result<Tensor>;
    /// (B, C, h, w) normalised latents -> (B, 3, 8h, 8w) pixels clamped to [-1, 1], f32.
    fn decode(&self, latents: &Tensor) -> candle_core::Result<Tensor>;
    /// Whether this is the released Wan2.1 VAE, whose published latent->RGB factors apply.
    fn is_wan21(&self) -> bool;
}

impl ImageCodec for WanVae {
    fn encode(&self, pixels: &Tensor) -> candle_core::Result<Tensor> {
        let mu = self.sample_deterministic(&pixels.unsqueeze(2)?)?;
        mu.squeeze(2)
    }

    fn decode(&self, latents: &Tensor) -> candle_core::Result<Tensor> {
        WanVae::decode(self, &latents.unsqueeze(2)?)?.squeeze(2)
    }

    fn is_wan21(&self) -> bool {
        let c = self.config();
        let w = VaeConfig::wan21();
        c.dim == w.dim && c.z_dim == w.z_dim && c.dim_mult == w.dim_mult
    }
}

/// Everything the studio runs on: the model, its VAE, its tokenizer and settings.
pub struct Pipeline {
    pub model: Showo2,
    pub vae: Box<dyn ImageCodec>,
    pub tokenizer: ShowoTokenizer,
    pub settings: StudioSettings,
    /// The latent->RGB map of live previews (Wan2.1 factors, or fitted to this VAE).
    pub preview_map: LatentRgbMap,
    /// A short name for metadata (the folder name).
    pub model_id: String,
}

/// How a checkpoint is loaded besides device and dtype.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Quantize the LLM's linear layers (q8_0, q4_0, q4_k...) while they are read, so the
    /// dense LLM never sits on the device (the 7B on a 16 GB GPU).
    pub llm_quant: Option<GgmlDType>,
    /// A `.bin` checkpoint: use (or, with consent, make) a safetensors conversion.
    pub bin_cache: crate::model::weights::BinCache,
    /// Where conversions live (default: `weights::default_cache_root`).
    pub cache_root: Option<PathBuf>,
}

impl Pipeline {
    /// Loads a checkpoint folder (layout in the module docs) onto `device` in `dtype`.
    pub fn load(dir: &Path, device: &Device, dtype: DType) -> Result<Self> {
        Self::load_with(dir, device, dtype, &LoadOptions::default())
    }

    /// As `load`, with `options`: a quantized LLM, and what to do with a `.bin` checkpoint.
    pub fn load_with(
        dir: &Path,
        device: &Device,
        dtype: DType,
        options: &LoadOptions,
    ) -> Result<Self> {
        let llm_quant = options.llm_quant;
        if !dir.is_dir() {
            return Err(PipelineError::Checkpoint {
                path: dir.to_path_buf(),
                why: "not a folder; expected a Show-o2 checkpoint folder with config.json, \
                      weights, tokenizer.json and the VAE"
                    .into(),
            });
        }
        let config = Showo2Config::from_dir(dir)?;
        let store = open_weights(dir, options)?;
        let vb = store.var_builder(dtype, device);
        let quant = llm_quant.map(|q| QuantSource {
            cpu: store.var_builder(DType::F32, &Device::Cpu),
            dtype: q,
        });
        let model =
            Showo2::load(&config, vb, quant.as_ref()).map_err(|e| PipelineError::Checkpoint {
                path: dir.to_path_buf(),
                why: match llm_quant {
                    Some(q) => format!("weights do not load quantized to {q:?}: {e}"),
                    None => format!("weights do not match config.json: {e}"),
                },
            })?;
        let tok_path = dir.join("tokenizer.json");
        if !tok_path.is_file() {
            return Err(PipelineError::Checkpoint {
                path: tok_path,
                why: "missing; copy the Qwen2.5-Instruct tokenizer.json next to config.json".into(),
            });
        }
        let tokenizer = ShowoTokenizer::from_file(&tok_path)?;
        let vocab = config.showo.llm_vocab_size;
        let s = tokenizer.special();
        let top = [
            s.bos, s.eos, s.boi, s.eoi, s.img_pad, s.vid_pad, s.pad, s.img, s.bov, s.eov,
        ]
        .into_iter()
        .max()
        .unwrap_or(0) as usize;
        if top >= vocab {
            return Err(PipelineError::Checkpoint {
                path: tok_path,
                why: format!(
                    "special token id {top} is outside the model's {vocab}-row embedding \
                     (llm_vocab_size in config.json); the tokenizer belongs to another model"
                ),
            });
        }
        let vae = load_vae(dir, device)?;
        let (gh, gw) = config.native_grid();
        let mut settings = StudioSettings::official(gh * gw);
        let studio = dir.join("studio.json");
        if studio.is_file() {
            StudioFile::read(&studio)?.apply(&mut settings);
        }
        let model_id = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        let stored = dir.join(LatentRgbMap::FILE);
        let preview_map = if stored.is_file() {
            Some(LatentRgbMap::load(&stored, config.showo.image_latent_dim)?)
        } else {
            None
        };
        Self::assemble(
            model,
            Box::new(vae),
            tokenizer,
            settings,
            model_id,
            preview_map,
        )
    }

    /// Assembles a pipeline from loaded parts (fits the preview map if the VAE is not Wan2.1).
    pub fn from_parts(
        model: Showo2,
        vae: Box<dyn ImageCodec>,
        tokenizer: ShowoTokenizer,
        settings: StudioSettings,
        model_id: String,
    ) -> Result<Self> {
        Self::assemble(model, vae, tokenizer, settings, model_id, None)
    }

    fn assemble(
        model: Showo2,
        vae: Box<dyn ImageCodec>,
        tokenizer: ShowoTokenizer,
        settings: StudioSettings,
        model_id: String,
        preview_map: Option<LatentRgbMap>,
    ) -> Result<Self> {
        let c = model.config().showo.image_latent_dim;
        let preview_map = match preview_map {
            Some(map) => map,
            None if vae.is_wan21() && c == 16 => LatentRgbMap::wan21(),
            None => preview::fit_latent_rgb(vae.as_ref(), c, model.device(), 0)?,
        };
        Ok(Self {
            model,
            vae,
            tokenizer,
            settings,
            preview_map,
            model_id,
        })
    }

    pub fn config(&self) -> &Showo2Config {
        self.model.config()
    }

    pub fn device(&self) -> &Device {
        self.model.device()
    }

    /// Pixels per token side (16 for Show-o2).
    pub fn grid_px(&self) -> u32 {
        self.config().pixels_per_token() as u32
    }

    /// Native image size (width, height) in pixels.
    pub fn native_size(&self) -> (u32, u32) {
        let (h, w) = self.config().native_pixels();
        (w as u32, h as u32)
    }

    /// Checks a canvas size: positive multiples of the grid, at most `max_image_tokens`.
    pub(crate) fn check_canvas(&self, width: u32, height: u32) -> Result<()> {
        let g = self.grid_px();
        if width == 0 || height == 0 || !width.is_multiple_of(g) || !height.is_multiple_of(g) {
            return Err(bad_setting(
                "image size",
                format!("{width}x{height}"),
                format!("positive multiples of {g} pixels"),
            ));
        }
        let tokens = (width / g) as usize * (height / g) as usize;
        if tokens > self.settings.max_image_tokens {
            return Err(bad_setting(
                "image size",
                format!("{width}x{height} ({tokens} image tokens)"),
                format!(
                    "at most {} image tokens (max_image_tokens; by default 4x the native {}x{} \
                     area, beyond which position interpolation degrades)",
                    self.settings.max_image_tokens,
                    self.native_size().0,
                    self.native_size().1
                ),
            ));
        }
        Ok(())
    }

    /// Tokenises a generation prompt and enforces its limits (empty / too long are errors, so
    /// that a prompt is never silently cut).
    pub(crate) fn prompt_ids(&self, prompt: &str) -> Result<Vec<u32>> {
        if prompt.trim().is_empty() {
            return Err(PipelineError::EmptyPrompt);
        }
        let ids = self.tokenizer.encode(prompt)?;
        if ids.len() > self.settings.max_text_len {
            return Err(PipelineError::PromptTooLong {
                tokens: ids.len(),
                max: self.settings.max_text_len,
            });
        }
        Ok(ids)
    }

    /// Token ids of a negative prompt; empty or blank = none (the official empty prompt).
    pub(crate) fn negative_prompt_ids(&self, negative: &str) -> Result<Vec<u32>> {
        if negative.trim().is_empty() {
            return Ok(Vec::new());
        }
        let ids = self.tokenizer.encode(negative)?;
        if ids.len() > self.settings.max_text_len {
            return Err(bad_setting(
                "negative prompt",
                format!("{} tokens", ids.len()),
                format!("at most {} tokens", self.settings.max_text_len),
            ));
        }
        Ok(ids)
    }
}

/// Most flow steps a `studio.json` may ask for (the studio's slider goes to 200; more is a
/// broken file, not a setting).
const MAX_STUDIO_STEPS: usize = 1000;

/// `studio.json`: any subset of the settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StudioFile {
    max_text_len: Option<usize>,
    video_frames: Option<usize>,
    video_grid: Option<usize>,
    max_image_tokens: Option<usize>,
    resample: Option<usize>,
    inpaint_strength: Option<f32>,
    extend_strength: Option<f32>,
    guidance: Option<f32>,
    steps: Option<usize>,
    eta: Option<f32>,
}

impl StudioFile {
    /// Reads and checks a `studio.json`; errors name the file and the bad setting.
    fn read(path: &Path) -> Result<Self> {
        let bad = |why: String| PipelineError::Checkpoint {
            path: path.to_path_buf(),
            why,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let file: StudioFile =
            serde_json::from_str(&text).map_err(|e| bad(format!("invalid settings: {e}")))?;
        if let Some((name, value)) = file.bad_strength() {
            return Err(bad(format!(
                "{name} is {value}, expected a share in (0, 1]"
            )));
        }
        if let Some(g) = file.guidance.filter(|g| !g.is_finite() || *g < 0.0) {
            return Err(bad(format!(
                "guidance is {g}, expected a finite scale of at least 0"
            )));
        }
        if let Some(e) = file.eta.filter(|e| !sampler::ETA_RANGE.contains(e)) {
            return Err(bad(format!(
                "eta is {e}, expected {}",
                sampler::ETA_EXPECTED
            )));
        }
        if let Some(n) = file.steps.filter(|n| !(1..=MAX_STUDIO_STEPS).contains(n)) {
            return Err(bad(format!(
                "steps is {n}, expected 1 to {MAX_STUDIO_STEPS} flow steps"
            )));
        }
        Ok(file)
    }

    /// The first strength outside (0, 1], by name.
    fn bad_strength(&self) -> Option<(&'static str, f32)> {
        [
            ("inpaint_strength", self.inpaint_strength),
            ("extend_strength", self.extend_strength),
        ]
        .into_iter()
        .find_map(|(name, v)| {
            v.filter(|&x| !media::strength_in_range(x))
                .map(|x| (name, x))
        })
    }

    fn apply(self, s: &mut StudioSettings) {
        s.max_text_len = self.max_text_len.unwrap_or(s.max_text_len);
        s.video_frames = self.video_frames.unwrap_or(s.video_frames);
        s.video_grid = self.video_grid.unwrap_or(s.video_grid);
        s.max_image_tokens = self.max_image_tokens.unwrap_or(s.max_image_tokens);
        s.resample = self.resample.unwrap_or(s.resample);
        s.inpaint_strength = self.inpaint_strength.unwrap_or(s.inpaint_strength);
        s.extend_strength = self.extend_strength.unwrap_or(s.extend_strength);
        s.guidance = self.guidance.unwrap_or(s.guidance);
        s.steps = self.steps.unwrap_or(s.steps);
        s.eta = self.eta.unwrap_or(s.eta);
    }
}

/// The model weights of a checkpoint folder (safetensors, shards or PyTorch `.bin`, through
/// the lazy, memory-mapped [`WeightStore`]).
fn open_weights(dir: &Path, options: &LoadOptions) -> Result<Arc<WeightStore>> {
    let root = options
        .cache_root
        .clone()
        .or_else(crate::model::weights::default_cache_root);
    let store =
        crate::model::weights::open_with_cache(dir, options.bin_cache, root.as_deref(), |_, _| {})
            .map_err(|e| PipelineError::Checkpoint {
                path: dir.to_path_buf(),
                why: format!(
                    "cannot open the model weights (model.safetensors, model-*-of-*.safetensors or \
             pytorch_model.bin expected): {e}"
                ),
            })?;
    Ok(Arc::new(store))
}

/// The VAE next to the model (or in `vae/`): weights plus optional `vae_config.json`.
fn load_vae(dir: &Path, dev: &Device) -> Result<WanVae> {
    let folders = [dir.to_path_buf(), dir.join("vae")];
    let names = ["vae.safetensors", "vae.pth", "Wan2.1_VAE.pth"];
    let found = folders
        .iter()
        .flat_map(|f| names.iter().map(move |n| f.join(n)))
        .find(|p| p.is_file())
        .ok_or_else(|| PipelineError::Checkpoint {
            path: dir.to_path_buf(),
            why: "no VAE: expected vae.safetensors, vae.pth or Wan2.1_VAE.pth here or in vae/"
                .into(),
        })?;
    let folder = found.parent().unwrap_or(dir);
    let cfg_path = folder.join("vae_config.json");
    let cfg = if cfg_path.is_file() {
        VaeConfig::from_json_file(&cfg_path).map_err(|e| PipelineError::Checkpoint {
            path: cfg_path.clone(),
            why: e.to_string(),
        })?
    } else {
        VaeConfig::wan21()
    };
    // The VAE runs in f32: its decode feeds the 8-bit output and costs little next to the model.
    let store = WeightStore::open(&found).map_err(|e| PipelineError::Checkpoint {
        path: found.clone(),
        why: format!("cannot read the VAE weights: {e}"),
    })?;
    let vb = Arc::new(store).var_builder(DType::F32, dev);
    WanVae::new(&cfg, vb).map_err(|e| PipelineError::Checkpoint {
        path: found,
        why: format!("VAE weights do not match its config: {e}"),
    })
}

#[cfg(test)]
mod tests {
    /// The engine moves a loaded pipeline to its worker thread and shares it.
    #[test]
    fn pipeline_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<super::Pipeline>();
    }

    #[test]
    fn studio_json_strengths_guidance_steps_and_eta_are_read_and_checked() {
        use super::{StudioFile, StudioSettings};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("studio.json");
        std::fs::write(
            &path,
            r#"{"inpaint_strength": 0.6, "extend_strength": 0.4, "guidance": 2, "steps": 20,
                "eta": 1}"#,
        )
        .unwrap();
        let mut s = StudioSettings::official(64);
        assert_eq!(
            (
                s.inpaint_strength,
                s.extend_strength,
                s.guidance,
                s.steps,
                s.eta
            ),
            (1.0, 1.0, 5.0, 49, 0.0)
        );
        StudioFile::read(&path).unwrap().apply(&mut s);
        assert_eq!(
            (
                s.inpaint_strength,
                s.extend_strength,
                s.guidance,
                s.steps,
                s.eta
            ),
            (0.6, 0.4, 2.0, 20, 1.0)
        );

        for (text, named) in [
            (r#"{"extend_strength": 0}"#, "extend_strength is 0"),
            (r#"{"inpaint_strength": 1.5}"#, "inpaint_strength is 1.5"),
            (r#"{"guidance": -1}"#, "guidance is -1"),
            (r#"{"steps": 0}"#, "steps is 0, expected 1 to 1000"),
            (r#"{"steps": 5000}"#, "steps is 5000"),
            (
                r#"{"eta": 1.5}"#,
                "eta is 1.5, expected a share of fresh noise",
            ),
            (r#"{"eta": -0.1}"#, "eta is -0.1"),
            (r#"{"strength": 0.5}"#, "unknown field `strength`"),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = StudioFile::read(&path).unwrap_err().to_string();
            assert!(err.contains("studio.json") && err.contains(named), "{err}");
        }
    }
}
