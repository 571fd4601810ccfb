//! The built-in model's architecture: Show-o2 shrunk (same modules, same code path), sized to
//! train on a 2-core CPU in under two hours at 64x64 px (8x8 latents, one token per latent cell
//! since v9; a 4x4 token grid with `--patch-size 2`, as the released checkpoints' patches).

use crate::model::config::{
    FlowHeadConfig, Qwen2Config, Showo2Config, ShowoJson, SiglipVisionConfig,
};

/// Latent patch side of the built-in model (`train-tiny --patch-size` overrides it). 1 since
/// v9: the official unpatchify hands token k's output to the raster cells 4k..4k+3, not to the
/// 2x2 patch token k was made from (`model::showo2::unpatchify`), and a model this small never
/// learnt to route each cell's noise back through attention, so at patch 2 it kept nine tenths
/// of its start noise in every picture (`tiny::noise_kept`). At patch 1 unpatchify is the
/// identity.
pub const BUILTIN_PATCH: usize = 1;

/// The patch sides the 8x8 latent of a 64 px picture divides into.
pub const PATCH_SIZES: [usize; 2] = [1, 2];

/// Tokens per side of each clip frame the LLM sees (`train-tiny --clip-grid` overrides it): the
/// shipped v9 fuses each frame at 8x8 and pools it to 4x4, as the official model pools 27x27
/// frames to 14x14. The 2x2 mean blurs a 17 px shape into its background: v9 answers 89.4% of
/// 500 held-out clip questions (direction 46/57, colour 82/111). A run with 3 frames unpooled
/// (`--clip-frames 3 --clip-grid 8`, every frame as the LLM sees a picture) answers 93.6%
/// (direction 57/57, colour 99/111) and image questions 85.6% against v9's 88.0% (README).
pub const BUILTIN_CLIP_GRID: usize = 4;

/// Frames of a clip the built-in model sees (`train-tiny --clip-frames`), uniformly spaced with
/// the first and the last: 5 at 4x4 for v9, 80 tokens; 3 at 8x8 would cost 192.
pub const BUILTIN_CLIP_FRAMES: usize = 5;

/// Tokens per side of a 64 px picture's 8x8 latent at latent patch side `patch`.
pub fn token_grid(patch: usize) -> usize {
    8 / patch
}

/// The built-in architecture over a `vocab`-word vocabulary.
pub fn tiny_showo2_config(vocab: usize) -> Showo2Config {
    tiny_showo2_config_with_patch(vocab, BUILTIN_PATCH)
}

/// The built-in architecture at 64 px with latent patches of `patch` x `patch` (1 or 2): the
/// token grid is 8 / `patch` per side, and the semantic layers' position table is sized to it
/// so it is used as learned, never interpolated.
pub fn tiny_showo2_config_with_patch(vocab: usize, patch: usize) -> Showo2Config {
    assert!(PATCH_SIZES.contains(&patch), "patch side {patch}");
    let grid = token_grid(patch);
    Showo2Config {
        showo: ShowoJson {
            llm_vocab_size: vocab,
            llm_model_path: "qwen2_config.json".into(),
            image_latent_dim: 16,
            image_latent_height: grid,
            image_latent_width: grid,
            video_latent_height: Some(grid),
            video_latent_width: Some(grid),
            patch_size: patch,
            hidden_size: 128,
            clip_latent_dim: 64,
            num_diffusion_layers: 3,
            add_time_embeds: true,
            add_qk_norm: true,
            clip_pretrained_model_path: "siglip_config.json".into(),
        },
        llm: Qwen2Config {
            hidden_size: 128,
            intermediate_size: 384,
            num_hidden_layers: 4,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            rope_theta: 1e6,
            rms_norm_eps: 1e-6,
            tie_word_embeddings: true,
            vocab_size: vocab,
            max_position_embeddings: 4096,
        },
        siglip: SiglipVisionConfig {
            hidden_size: 64,
            intermediate_size: 128,
            num_attention_heads: 4,
            num_hidden_layers: 3,
            layer_norm_eps: 1e-6,
            image_size: 14 * grid,
            patch_size: 14,
        },
        flow: FlowHeadConfig {
            hidden_size: 128,
            // 4 heads of 32 (the official head's 32 heads would be 4 wide here: too narrow for
            // attention to tell one token's neighbours from another's).
            num_attention_heads: 4,
            num_key_value_heads: 2,
            head_dim: 32,
            intermediate_size: 256,
            ..FlowHeadConfig::default()
        },
    }
}
