//! Configuration of a Show-o2 checkpoint, read from the checkpoint's own files.
//!
//! `config.json` holds the `Showo2Qwen2_5` constructor arguments. The Qwen2 config comes from
//! `llm_model_path` (a sibling file or folder, else the published Qwen2.5 config for the known
//! hub ids), the SigLIP geometry from `clip_pretrained_model_path` (else so400m), and the flow
//! head from `flow_head_config.json` when present (else the official hard-coded values).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::ModelError;

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Qwen2Config {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    #[serde(default = "default_rms_eps")]
    pub rms_norm_eps: f64,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    pub vocab_size: usize,
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
}

fn default_rope_theta() -> f64 {
    1e6
}
fn default_rms_eps() -> f64 {
    1e-6
}
fn default_max_pos() -> usize {
    32768
}

impl Qwen2Config {
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// The published Qwen2.5-1.5B-Instruct configuration.
    pub fn qwen2_5_1_5b() -> Self {
        Self {
            hidden_size: 1536,
            intermediate_size: 8960,
            num_hidden_layers: 28,
            num_attention_heads: 12,
            num_key_value_heads: 2,
            rope_theta: 1e6,
            rms_norm_eps: 1e-6,
            tie_word_embeddings: true,
            vocab_size: 151936,
            max_position_embeddings: 32768,
        }
    }

    /// The published Qwen2.5-7B-Instruct configuration.
    pub fn qwen2_5_7b() -> Self {
        Self {
            hidden_size: 3584,
            intermediate_size: 18944,
            num_hidden_layers: 28,
            num_attention_heads: 28,
            num_key_value_heads: 4,
            rope_theta: 1e6,
            rms_norm_eps: 1e-6,
            tie_word_embeddings: false,
            vocab_size: 152064,
            max_position_embeddings: 32768,
        }
    }
}

/// The SigLIP vision geometry the semantic layers were cut from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SiglipVisionConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_attention_heads: usize,
    /// Layers of the SigLIP encoder; Show-o2 deletes the last one.
    pub num_hidden_layers: usize,
    #[serde(default = "default_ln_eps")]
    pub layer_norm_eps: f64,
    pub image_size: usize,
    pub patch_size: usize,
}

fn default_ln_eps() -> f64 {
    1e-6
}

impl SiglipVisionConfig {
    /// google/siglip-so400m-patch14-384.
    pub fn so400m() -> Self {
        Self {
            hidden_size: 1152,
            intermediate_size: 4304,
            num_attention_heads: 16,
            num_hidden_layers: 27,
            layer_norm_eps: 1e-6,
            image_size: 384,
            patch_size: 14,
        }
    }

    /// Side of the square position table (27 for so400m-384).
    pub fn position_grid(&self) -> usize {
        self.image_size / self.patch_size
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RopeScaling {
    pub factor: f64,
    pub low_freq_factor: f64,
    pub high_freq_factor: f64,
    pub original_max_position_embeddings: usize,
}

/// The flow head (`DiffusionHeadConfig` in the official code, hard-coded there).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FlowHeadConfig {
    pub hidden_size: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_flow_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "default_rms_eps")]
    pub qk_norm_eps: f64,
    #[serde(default = "default_rms_eps")]
    pub final_norm_eps: f64,
    #[serde(default = "default_flow_theta")]
    pub rope_theta: f64,
    #[serde(default = "default_llama3_scaling")]
    pub rope_scaling: Option<RopeScaling>,
    #[serde(default = "default_freq_dim")]
    pub time_embed_frequency_dim: usize,
}

fn default_flow_eps() -> f64 {
    1e-5
}
fn default_flow_theta() -> f64 {
    5e5
}
fn default_freq_dim() -> usize {
    256
}
fn default_llama3_scaling() -> Option<RopeScaling> {
    Some(RopeScaling {
        factor: 32.0,
        low_freq_factor: 1.0,
        high_freq_factor: 4.0,
        original_max_position_embeddings: 8192,
    })
}

impl Default for FlowHeadConfig {
    fn default() -> Self {
        Self {
            hidden_size: 2048,
            num_attention_heads: 32,
            num_key_value_heads: 8,
            head_dim: 64,
            intermediate_size: 8192,
            rms_norm_eps: 1e-5,
            qk_norm_eps: 1e-6,
            final_norm_eps: 1e-6,
            rope_theta: 5e5,
            rope_scaling: default_llama3_scaling(),
            time_embed_frequency_dim: 256,
        }
    }
}

/// `config.json` of a Show-o2 checkpoint (the constructor arguments).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ShowoJson {
    pub llm_vocab_size: usize,
    #[serde(default)]
    pub llm_model_path: String,
    #[serde(default = "default_latent_dim")]
    pub image_latent_dim: usize,
    /// Token-grid height (27 for the 432 checkpoints), not latent pixels.
    pub image_latent_height: usize,
    pub image_latent_width: usize,
    #[serde(default)]
    pub video_latent_height: Option<usize>,
    #[serde(default)]
    pub video_latent_width: Option<usize>,
    #[serde(default = "default_patch")]
    pub patch_size: usize,
    pub hidden_size: usize,
    #[serde(default = "default_clip_dim")]
    pub clip_latent_dim: usize,
    #[serde(default = "default_diff_layers")]
    pub num_diffusion_layers: usize,
    #[serde(default = "default_true")]
    pub add_time_embeds: bool,
    #[serde(default = "default_true")]
    pub add_qk_norm: bool,
    #[serde(default)]
    pub clip_pretrained_model_path: String,
}

fn default_latent_dim() -> usize {
    16
}
fn default_patch() -> usize {
    2
}
fn default_clip_dim() -> usize {
    1152
}
fn default_diff_layers() -> usize {
    10
}
fn default_true() -> bool {
    true
}

/// Everything needed to build a [`super::Showo2`].
#[derive(Debug, Clone, PartialEq)]
pub struct Showo2Config {
    pub showo: ShowoJson,
    pub llm: Qwen2Config,
    pub siglip: SiglipVisionConfig,
    pub flow: FlowHeadConfig,
}

impl Showo2Config {
    /// Reads `dir/config.json` and the configs it points to.
    pub fn from_dir(dir: &Path) -> Result<Self, ModelError> {
        let showo: ShowoJson = read_json(&dir.join("config.json"))?;
        let llm = match find_sibling(
            dir,
            &showo.llm_model_path,
            &["qwen2_config.json", "llm_config.json"],
        ) {
            Some(path) => read_json(&path)?,
            None => known_qwen(&showo.llm_model_path, showo.hidden_size).ok_or_else(|| {
                ModelError::Config {
                    path: dir.join("config.json"),
                    why: format!(
                        "llm_model_path {:?} is neither a file next to the checkpoint nor a known \
                         Qwen2.5 id; put its config.json as qwen2_config.json in {}",
                        showo.llm_model_path,
                        dir.display()
                    ),
                }
            })?,
        };
        let siglip = match find_sibling(
            dir,
            &showo.clip_pretrained_model_path,
            &["siglip_config.json"],
        ) {
            Some(path) => {
                let v: serde_json::Value = read_json(&path)?;
                let vision = v.get("vision_config").cloned().unwrap_or(v);
                serde_json::from_value(vision).map_err(|e| ModelError::Config {
                    path: path.clone(),
                    why: format!("vision_config: {e}"),
                })?
            }
            None => SiglipVisionConfig::so400m(),
        };
        let flow_path = dir.join("flow_head_config.json");
        let flow = if flow_path.exists() {
            read_json(&flow_path)?
        } else {
            FlowHeadConfig::default()
        };
        let cfg = Self {
            showo,
            llm,
            siglip,
            flow,
        };
        cfg.validate(&dir.join("config.json"))?;
        Ok(cfg)
    }

    fn validate(&self, path: &Path) -> Result<(), ModelError> {
        let bad = |why: String| {
            Err(ModelError::Config {
                path: path.to_path_buf(),
                why,
            })
        };
        if self.showo.hidden_size != self.llm.hidden_size {
            return bad(format!(
                "hidden_size {} differs from the LLM's hidden_size {}",
                self.showo.hidden_size, self.llm.hidden_size
            ));
        }
        if self.showo.clip_latent_dim != self.siglip.hidden_size {
            return bad(format!(
                "clip_latent_dim {} differs from the SigLIP width {}",
                self.showo.clip_latent_dim, self.siglip.hidden_size
            ));
        }
        if self.flow.hidden_size != self.flow.num_attention_heads * self.flow.head_dim {
            return bad(format!(
                "flow head hidden_size {} is not num_attention_heads {} x head_dim {}",
                self.flow.hidden_size, self.flow.num_attention_heads, self.flow.head_dim
            ));
        }
        Ok(())
    }

    /// Number of semantic (`und_trans`) layers: SigLIP's minus the deleted last one.
    pub fn und_layers(&self) -> usize {
        self.siglip.num_hidden_layers.saturating_sub(1)
    }

    /// The native token grid (h_, w_), e.g. 27x27 at 432 px.
    pub fn native_grid(&self) -> (usize, usize) {
        (
            self.showo.image_latent_height,
            self.showo.image_latent_width,
        )
    }

    /// Pixels per image token side: VAE factor 8 x patch size.
    pub fn pixels_per_token(&self) -> usize {
        8 * self.showo.patch_size
    }

    /// Native latent size in cells (height, width): the token grid times the patch side.
    pub fn native_latent(&self) -> (usize, usize) {
        let (h, w) = self.native_grid();
        let p = self.showo.patch_size;
        (h * p, w * p)
    }

    /// Native image size in pixels (height, width).
    pub fn native_pixels(&self) -> (usize, usize) {
        let (h, w) = self.native_grid();
        (h * self.pixels_per_token(), w * self.pixels_per_token())
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::Config {
        path: path.to_path_buf(),
        why: format!("cannot read: {e}"),
    })?;
    serde_json::from_str(&text).map_err(|e| ModelError::Config {
        path: path.to_path_buf(),
        why: format!("invalid JSON: {e}"),
    })
}

/// A config named by `reference` (a file or folder next to the checkpoint), or one of `fallbacks`.
fn find_sibling(dir: &Path, reference: &str, fallbacks: &[&str]) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if !reference.is_empty() {
        let p = Path::new(reference);
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            dir.join(p)
        };
        candidates.push(p.clone());
        candidates.push(p.join("config.json"));
    }
    candidates.extend(fallbacks.iter().map(|f| dir.join(f)));
    candidates.into_iter().find(|p| p.is_file())
}

fn known_qwen(id: &str, hidden: usize) -> Option<Qwen2Config> {
    let id = id.to_ascii_lowercase();
    if id.contains("qwen2.5-1.5b") || (id.is_empty() && hidden == 1536) {
        Some(Qwen2Config::qwen2_5_1_5b())
    } else if id.contains("qwen2.5-7b") || (id.is_empty() && hidden == 3584) {
        Some(Qwen2Config::qwen2_5_7b())
    } else {
        None
    }
}
