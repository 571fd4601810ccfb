//! The Qwen2 LLM backbone (`showo.model.*`, `showo.lm_head`), as Show-o2 runs it: the 4-D
//! omni mask is used as given, positions are `arange(L)`, no sliding window. K/V caches make
//! text-prefix reuse (across flow steps) and autoregressive decoding cheap and exact.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Embedding, VarBuilder};

use super::layers::Linear;

use super::config::Qwen2Config;
use candle_core::quantized::GgmlDType;

use super::layers::{Proj, QuantSource, RmsNorm, attention, repeat_kv};
use super::rope::{self, Rotary};

/// Per-layer cached keys and values, each (B, n_kv, L, head_dim), already rotated.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    pub layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    pub fn new(n_layers: usize) -> Self {
        Self {
            layers: vec![None; n_layers],
        }
    }

    /// Cached sequence length (0 when empty).
    pub fn len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .map_or(0, |(k, _)| k.dim(2).unwrap_or(0))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps only batch rows `rows` (e.g. duplicate a prefix for CFG).
    pub fn index_rows(&self, rows: &Tensor) -> Result<Self> {
        let layers = self
            .layers
            .iter()
            .map(|l| {
                l.as_ref()
                    .map(|(k, v)| {
                        Ok::<_, candle_core::Error>((
                            k.index_select(rows, 0)?,
                            v.index_select(rows, 0)?,
                        ))
                    })
                    .transpose()
            })
            .collect::<Result<_>>()?;
        Ok(Self { layers })
    }
}

/// Appends new K/V to a layer cache, returning the full K/V.
pub fn append_kv(
    slot: &mut Option<(Tensor, Tensor)>,
    k: Tensor,
    v: Tensor,
) -> Result<(Tensor, Tensor)> {
    let (k, v) = match slot.take() {
        Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
        None => (k, v),
    };
    *slot = Some((k.clone(), v.clone()));
    Ok((k, v))
}

#[derive(Debug, Clone)]
struct Attention {
    q_proj: Proj,
    k_proj: Proj,
    v_proj: Proj,
    o_proj: Proj,
    n_heads: usize,
    n_kv: usize,
    head_dim: usize,
}

impl Attention {
    fn new(cfg: &Qwen2Config, vb: VarBuilder, q: Option<&QuantSource>) -> Result<Self> {
        let hd = cfg.head_dim();
        let (h, kv) = (cfg.num_attention_heads, cfg.num_key_value_heads);
        let d = cfg.hidden_size;
        Ok(Self {
            q_proj: Proj::load(d, h * hd, true, vb.pp("q_proj"), q)?,
            k_proj: Proj::load(d, kv * hd, true, vb.pp("k_proj"), q)?,
            v_proj: Proj::load(d, kv * hd, true, vb.pp("v_proj"), q)?,
            o_proj: Proj::load(h * hd, d, false, vb.pp("o_proj"), q)?,
            n_heads: h,
            n_kv: kv,
            head_dim: hd,
        })
    }

    fn forward(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: Option<&Tensor>,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
    ) -> Result<Tensor> {
        let (b, l, _) = x.dims3()?;
        let split = |t: Tensor, n: usize| {
            t.reshape((b, l, n, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.q_proj.forward(x)?, self.n_heads)?;
        let k = split(self.k_proj.forward(x)?, self.n_kv)?;
        let v = split(self.v_proj.forward(x)?, self.n_kv)?;
        let q = rope::apply(&q, cos, sin)?;
        let k = rope::apply(&k, cos, sin)?;
        let (k, v) = match cache {
            Some(slot) => append_kv(slot, k, v)?,
            None => (k, v),
        };
        let rep = self.n_heads / self.n_kv;
        let (k, v) = (repeat_kv(k, rep)?, repeat_kv(v, rep)?);
        let out = attention(&q, &k, &v, mask, 1.0 / (self.head_dim as f64).sqrt())?;
        out.transpose(1, 2)?
            .reshape((b, l, self.n_heads * self.head_dim))?
            .apply(&self.o_proj)
    }
}

#[derive(Debug, Clone)]
struct Mlp {
    gate_proj: Proj,
    up_proj: Proj,
    down_proj: Proj,
}

impl Mlp {
    fn new(cfg: &Qwen2Config, vb: VarBuilder, q: Option<&QuantSource>) -> Result<Self> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        Ok(Self {
            gate_proj: Proj::load(h, i, false, vb.pp("gate_proj"), q)?,
            up_proj: Proj::load(h, i, false, vb.pp("up_proj"), q)?,
            down_proj: Proj::load(i, h, false, vb.pp("down_proj"), q)?,
        })
    }
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        (self.gate_proj.forward(x)?.silu()? * self.up_proj.forward(x)?)?.apply(&self.down_proj)
    }
}

#[derive(Debug, Clone)]
struct DecoderLayer {
    self_attn: Attention,
    mlp: Mlp,
    input_layernorm: RmsNorm,
    post_attention_layernorm: RmsNorm,
}

impl DecoderLayer {
    fn new(cfg: &Qwen2Config, vb: VarBuilder, q: Option<&QuantSource>) -> Result<Self> {
        Ok(Self {
            self_attn: Attention::new(cfg, vb.pp("self_attn"), q)?,
            mlp: Mlp::new(cfg, vb.pp("mlp"), q)?,
            input_layernorm: RmsNorm::new(
                cfg.hidden_size,
                cfg.rms_norm_eps,
                vb.pp("input_layernorm"),
            )?,
            post_attention_layernorm: RmsNorm::new(
                cfg.hidden_size,
                cfg.rms_norm_eps,
                vb.pp("post_attention_layernorm"),
            )?,
        })
    }

    fn forward(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: Option<&Tensor>,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
    ) -> Result<Tensor> {
        let h = (x + self.self_attn.forward(
            &self.input_layernorm.forward(x)?,
            cos,
            sin,
            mask,
            cache,
        )?)?;
        &h + self
            .mlp
            .forward(&self.post_attention_layernorm.forward(&h)?)?
    }
}

/// The output of a forward pass over embeddings.
pub struct Qwen2Output {
    /// Post-final-norm hidden states (B, L, hidden): what the flow head and lm_head consume.
    pub last: Tensor,
    /// HF-style `hidden_states` when requested: embeddings, after each layer but the last, then `last`.
    pub all: Option<Vec<Tensor>>,
}

#[derive(Debug, Clone)]
pub struct Qwen2 {
    embed_tokens: Embedding,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    lm_head: Proj,
    rotary: Rotary,
    cfg: Qwen2Config,
}

impl Qwen2 {
    /// `vb` points at `showo`; `vocab` is the resized vocabulary (`llm_vocab_size`).
    pub fn new(cfg: &Qwen2Config, vocab: usize, vb: VarBuilder) -> Result<Self> {
        Self::load(cfg, vocab, vb, None)
    }

    /// As `new`, with the decoder projections and lm_head quantized while loading when `q`
    /// is given (embeddings and norms stay dense).
    pub fn load(
        cfg: &Qwen2Config,
        vocab: usize,
        vb: VarBuilder,
        q: Option<&QuantSource>,
    ) -> Result<Self> {
        let m = vb.pp("model");
        let table = m.pp("embed_tokens").get_with_hints(
            (vocab, cfg.hidden_size),
            "weight",
            super::layers::small_randn(),
        )?;
        let embed_tokens = candle_nn::Embedding::new(table, cfg.hidden_size);
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| DecoderLayer::new(cfg, m.pp("layers").pp(i), q))
            .collect::<Result<_>>()?;
        let norm = RmsNorm::new(cfg.hidden_size, cfg.rms_norm_eps, m.pp("norm"))?;
        // Tied checkpoints (1.5B) may omit lm_head; untied ones (7B) must carry it.
        let lm_head = if vb.contains_tensor("lm_head.weight") || !cfg.tie_word_embeddings {
            Proj::load(cfg.hidden_size, vocab, false, vb.pp("lm_head"), q)?
        } else {
            let tied = Proj::Dense(Linear::new(embed_tokens.embeddings().clone(), None));
            match q {
                Some(q) => tied.quantized(q.dtype)?,
                None => tied,
            }
        };
        let rotary = Rotary::new(cfg.head_dim(), cfg.rope_theta, None);
        Ok(Self {
            embed_tokens,
            layers,
            norm,
            lm_head,
            rotary,
            cfg: cfg.clone(),
        })
    }

    /// Quantizes every decoder projection (attention and MLP) and the lm_head to `dtype`;
    /// embeddings and norms stay dense.
    pub fn quantize(&mut self, dtype: GgmlDType) -> Result<()> {
        for layer in &mut self.layers {
            let a = &mut layer.self_attn;
            for p in [&mut a.q_proj, &mut a.k_proj, &mut a.v_proj, &mut a.o_proj] {
                *p = p.quantized(dtype)?;
            }
            let m = &mut layer.mlp;
            for p in [&mut m.gate_proj, &mut m.up_proj, &mut m.down_proj] {
                *p = p.quantized(dtype)?;
            }
        }
        self.lm_head = self.lm_head.quantized(dtype)?;
        Ok(())
    }

    pub fn config(&self) -> &Qwen2Config {
        &self.cfg
    }

    pub fn rotary(&self) -> &Rotary {
        &self.rotary
    }

    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    pub fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        self.embed_tokens.forward(ids)
    }

    pub fn lm_head(&self, hidden: &Tensor) -> Result<Tensor> {
        self.lm_head.forward(hidden)
    }

    /// Runs the decoder over `embeds` (B, L, hidden), row b at positions `starts[b]..+L` (one
    /// entry = the same for every row). `mask` is additive (B|1, 1, L, cached+L); `cache`
    /// (when given) holds the earlier keys and is extended with these.
    pub fn forward_embeds(
        &self,
        embeds: &Tensor,
        starts: &[usize],
        mask: Option<&Tensor>,
        mut cache: Option<&mut KvCache>,
        keep_all: bool,
    ) -> Result<Qwen2Output> {
        let (_, l, _) = embeds.dims3()?;
        let (cos, sin) = rope::row_tables(&self.rotary, starts, l, embeds)?;
        let mut all = keep_all.then(|| vec![embeds.clone()]);
        let mut x = embeds.clone();
        let n = self.layers.len();
        for (i, layer) in self.layers.iter().enumerate() {
            let slot = cache.as_deref_mut().map(|c| &mut c.layers[i]);
            x = layer.forward(&x, &cos, &sin, mask, slot)?;
            if let Some(all) = all.as_mut().filter(|_| i + 1 < n) {
                all.push(x.clone());
            }
        }
        let last = self.norm.forward(&x)?;
        if let Some(all) = all.as_mut() {
            all.push(last.clone());
        }
        Ok(Qwen2Output { last, all })
    }
}
