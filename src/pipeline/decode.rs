//! Autoregressive text decoding with a KV cache (the official `mmu_generate` recomputes the
//! whole sequence per token; caching gives the same logits because earlier positions never
//! attend to later ones).

use candle_core::{D, Result, Tensor};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::{Block, Showo2};

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// 0 = greedy (the official top_k = 1).
    pub temperature: f32,
    /// Nucleus mass kept when sampling (1 = all).
    pub top_p: f32,
    pub seed: u64,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DecodeOptions {
    pub max_new_tokens: usize,
    /// Generation stops after any of these ids (e.g. `<|im_end|>`); it is included in the output.
    pub stop_ids: Vec<u32>,
    pub sampling: Sampling,
}

/// Why decoding ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Stop,
    Length,
    Cancelled,
}

pub struct Decoded {
    pub ids: Vec<u32>,
    pub finish: Finish,
}

/// Decodes after the prompt `embeds` (1, L, hidden) whose bidirectional `blocks` are given.
/// `on_token(id, logits)` sees each chosen id with the logits (vocab,) it was chosen from.
pub fn decode(
    model: &Showo2,
    embeds: &Tensor,
    blocks: &[Block],
    opts: &DecodeOptions,
    mut on_token: impl FnMut(u32, &Tensor) -> Result<()>,
    cancelled: impl Fn() -> bool,
) -> Result<Decoded> {
    let mut cache = model.new_kv_cache();
    let mut logits = model
        .llm_logits(embeds, blocks, &mut cache, false)?
        .squeeze(0)?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.sampling.seed);
    let mut ids = Vec::new();
    for _ in 0..opts.max_new_tokens {
        if cancelled() {
            return Ok(Decoded {
                ids,
                finish: Finish::Cancelled,
            });
        }
        let id = choose(&logits, &opts.sampling, &mut rng)?;
        on_token(id, &logits)?;
        ids.push(id);
        if opts.stop_ids.contains(&id) {
            return Ok(Decoded {
                ids,
                finish: Finish::Stop,
            });
        }
        let next = model
            .embed_tokens(&Tensor::new(&[id], model.device())?)?
            .unsqueeze(0)?;
        logits = model
            .llm_logits(&next, blocks, &mut cache, false)?
            .squeeze(0)?;
    }
    Ok(Decoded {
        ids,
        finish: Finish::Length,
    })
}

fn choose(logits: &Tensor, s: &Sampling, rng: &mut ChaCha8Rng) -> Result<u32> {
    if s.temperature <= 0.0 {
        return logits.argmax(D::Minus1)?.to_scalar::<u32>();
    }
    let probs =
        candle_nn::ops::softmax_last_dim(&(logits / s.temperature as f64)?)?.to_vec1::<f32>()?;
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    let mut kept = Vec::new();
    let mut mass = 0f32;
    for i in order {
        kept.push(i);
        mass += probs[i];
        if mass >= s.top_p {
            break;
        }
    }
    let mut r = rng.random::<f32>() * mass;
    for &i in &kept {
        r -= probs[i];
        if r <= 0.0 {
            return Ok(i as u32);
        }
    }
    Ok(*kept.last().unwrap_or(&0) as u32)
}
