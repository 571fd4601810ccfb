//! Randomly initialised models with real shapes, built in memory: for benchmarks and memory
//! estimates without multi-gigabyte downloads.

use candle_core::{DType, Device, Result};
use candle_nn::{VarBuilder, VarMap};

use super::config::{FlowHeadConfig, Qwen2Config, Showo2Config, ShowoJson, SiglipVisionConfig};
use super::showo2::Showo2;

/// The Show-o2-1.5B geometry (Qwen2.5-1.5B, 26 SigLIP-so400m layers, 2048-wide flow head with
/// 10 blocks) with a token grid of `grid` x `grid` (27 at 432 px).
pub fn showo2_1_5b_config(grid: usize) -> Showo2Config {
    Showo2Config {
        showo: ShowoJson {
            llm_vocab_size: 151669,
            llm_model_path: "Qwen/Qwen2.5-1.5B-Instruct".into(),
            image_latent_dim: 16,
            image_latent_height: grid,
            image_latent_width: grid,
            video_latent_height: Some(grid),
            video_latent_width: Some(grid),
            patch_size: 2,
            hidden_size: 1536,
            clip_latent_dim: 1152,
            num_diffusion_layers: 10,
            add_time_embeds: true,
            add_qk_norm: true,
            clip_pretrained_model_path: "google/siglip-so400m-patch14-384".into(),
        },
        llm: Qwen2Config::qwen2_5_1_5b(),
        siglip: SiglipVisionConfig::so400m(),
        flow: FlowHeadConfig::default(),
    }
}

/// A model of `cfg`'s shapes with random weights (candle's default initialisers).
pub fn random_showo2(cfg: &Showo2Config, dtype: DType, dev: &Device) -> Result<(Showo2, VarMap)> {
    let map = VarMap::new();
    let vb = VarBuilder::from_varmap(&map, dtype, dev);
    let model = Showo2::new(cfg, vb)?;
    Ok((model, map))
}

/// Number of parameters a varmap holds.
pub fn parameter_count(map: &VarMap) -> usize {
    map.all_vars().iter().map(|v| v.elem_count()).sum()
}
