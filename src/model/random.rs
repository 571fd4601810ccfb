//! Randomly initialised models with real shapes, built in memory: for benchmarks and memory
//! estimates without multi-gigabyte downloads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use candle_core::{DType, Device, Result, Shape, Tensor};
use candle_nn::VarBuilder;
use candle_nn::var_builder::SimpleBackend;

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

/// A model of `cfg`'s shapes with random weights: uniform in +-1/sqrt(fan_in) (norm gains near
/// 1), drawn by a fast xorshift generator because building billions of parameters with a
/// per-element normal sampler takes minutes. Returns the model and its parameter count.
pub fn random_showo2(
    cfg: &Showo2Config,
    dtype: DType,
    dev: &Device,
    seed: u64,
) -> Result<(Showo2, usize)> {
    let count = Arc::new(AtomicUsize::new(0));
    let backend = RandomWeights {
        state: AtomicU64::new(seed | 1),
        count: count.clone(),
    };
    let backend: Box<dyn SimpleBackend> = Box::new(backend);
    let model = Showo2::new(cfg, VarBuilder::from_backend(backend, dtype, dev.clone()))?;
    Ok((model, count.load(Ordering::Relaxed)))
}

struct RandomWeights {
    state: AtomicU64,
    count: Arc<AtomicUsize>,
}

impl SimpleBackend for RandomWeights {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _h: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> Result<Tensor> {
        let n = s.elem_count();
        self.count.fetch_add(n, Ordering::Relaxed);
        let dims = s.dims();
        let is_gain = dims.len() == 1
            && (name.ends_with("norm.weight")
                || name.contains("layernorm")
                || name.contains("norm_final")
                || name.ends_with("layer_norm1.weight")
                || name.ends_with("layer_norm2.weight")
                || name.starts_with("fusion_proj.0"));
        let fan_in = if dims.len() >= 2 {
            dims[1..].iter().product::<usize>()
        } else {
            dims[0]
        };
        let (base, amp) = if is_gain {
            (1.0f32, 0.1f32)
        } else {
            (0.0, 1.0 / (fan_in as f32).sqrt())
        };
        let mut x = self
            .state
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            | 1;
        let data: Vec<f32> = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let u = (x >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
                base + amp * (2.0 * u - 1.0)
            })
            .collect();
        Tensor::from_vec(data, s, dev)?.to_dtype(dtype)
    }

    fn get_unchecked(&self, name: &str, _dtype: DType, _dev: &Device) -> Result<Tensor> {
        candle_core::bail!("random weights have no tensor {name} without a shape")
    }

    fn contains_tensor(&self, _name: &str) -> bool {
        // Tied checkpoints keep lm_head tied; optional projections are created from the config.
        false
    }
}
