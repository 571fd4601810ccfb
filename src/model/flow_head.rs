//! The flow head: `diff_proj`, `diffusion_head_a` (adaLN-Zero DiT blocks with q/k-norm and
//! llama3-scaled RoPE, modulated only inside image blocks) and `diffusion_head_b` (final layer).
//! It runs over the whole sequence with the omni mask, because image tokens attend to the text.

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::layers::Linear;

use super::config::FlowHeadConfig;
use super::layers::{RmsNorm, attention, linear, linear_no_bias, linear_zero, repeat_kv};
use super::qwen2::{KvCache, append_kv};
use super::rope;

/// Where modulation applies: `ind` (B, L, N) is 1 where position l of row b lies in image n's
/// block. Per-image adaLN vectors (N, D) become per-position ones by `ind @ v`.
pub struct Modulation<'a> {
    pub ind: &'a Tensor,
}

impl Modulation<'_> {
    /// shift/scale-like vectors: zero outside image blocks.
    fn spread(&self, v: &Tensor) -> Result<Tensor> {
        let (b, _, n) = self.ind.dims3()?;
        let d = v.dim(1)?;
        let v = v
            .to_dtype(self.ind.dtype())?
            .unsqueeze(0)?
            .broadcast_as((b, n, d))?
            .contiguous()?;
        self.ind.matmul(&v)
    }

    /// gate-like vectors: one outside image blocks.
    fn spread_gate(&self, v: &Tensor) -> Result<Tensor> {
        self.spread(&(v - 1.0)?)? + 1.0
    }
}

/// y * (1 + scale) + shift, in f32.
fn modulate(y: &Tensor, shift: &Tensor, scale: &Tensor) -> Result<Tensor> {
    let dtype = y.dtype();
    let y = y.to_dtype(DType::F32)?;
    let out = (y.mul(&(scale.to_dtype(DType::F32)? + 1.0)?)? + shift.to_dtype(DType::F32)?)?;
    out.to_dtype(dtype)
}

#[derive(Debug, Clone)]
struct FlowAttention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    q_norm: RmsNorm,
    k_norm: RmsNorm,
    n_heads: usize,
    n_kv: usize,
    head_dim: usize,
}

impl FlowAttention {
    fn new(cfg: &FlowHeadConfig, vb: VarBuilder) -> Result<Self> {
        let (d, hd) = (cfg.hidden_size, cfg.head_dim);
        let (h, kv) = (cfg.num_attention_heads, cfg.num_key_value_heads);
        Ok(Self {
            q_proj: linear_no_bias(d, h * hd, vb.pp("q_proj"))?,
            k_proj: linear_no_bias(d, kv * hd, vb.pp("k_proj"))?,
            v_proj: linear_no_bias(d, kv * hd, vb.pp("v_proj"))?,
            o_proj: linear_no_bias(h * hd, d, vb.pp("o_proj"))?,
            // The official q/k-norm width is hidden // 32 (== head_dim for every released size).
            q_norm: RmsNorm::new(hd, cfg.qk_norm_eps, vb.pp("q_norm"))?,
            k_norm: RmsNorm::new(hd, cfg.qk_norm_eps, vb.pp("k_norm"))?,
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
        let heads = |t: Tensor, n: usize| t.reshape((b, l, n, self.head_dim));
        let q = self
            .q_norm
            .forward(&heads(self.q_proj.forward(x)?, self.n_heads)?)?;
        let k = self
            .k_norm
            .forward(&heads(self.k_proj.forward(x)?, self.n_kv)?)?;
        let v = heads(self.v_proj.forward(x)?, self.n_kv)?;
        let (q, k, v) = (
            q.transpose(1, 2)?.contiguous()?,
            k.transpose(1, 2)?.contiguous()?,
            v.transpose(1, 2)?.contiguous()?,
        );
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
struct ModulatedBlock {
    self_attn: FlowAttention,
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
    input_layernorm: RmsNorm,
    post_attention_layernorm: RmsNorm,
    ada_ln: Linear,
}

impl ModulatedBlock {
    fn new(cfg: &FlowHeadConfig, vb: VarBuilder) -> Result<Self> {
        let (d, i) = (cfg.hidden_size, cfg.intermediate_size);
        let mlp = vb.pp("mlp");
        Ok(Self {
            self_attn: FlowAttention::new(cfg, vb.pp("self_attn"))?,
            gate_proj: linear_no_bias(d, i, mlp.pp("gate_proj"))?,
            up_proj: linear_no_bias(d, i, mlp.pp("up_proj"))?,
            down_proj: linear_no_bias(i, d, mlp.pp("down_proj"))?,
            input_layernorm: RmsNorm::new(d, cfg.rms_norm_eps, vb.pp("input_layernorm"))?,
            post_attention_layernorm: RmsNorm::new(
                d,
                cfg.rms_norm_eps,
                vb.pp("post_attention_layernorm"),
            )?,
            ada_ln: linear_zero(d, 6 * d, vb.pp("adaLN_modulation").pp("1"))?,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        x: &Tensor,
        silu_te: &Tensor,
        m: &Modulation,
        cos: &Tensor,
        sin: &Tensor,
        mask: Option<&Tensor>,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
    ) -> Result<Tensor> {
        // (N, 6D) -> shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp.
        let ada = self.ada_ln.forward(silu_te)?.chunk(6, 1)?;
        let (shift_msa, scale_msa, gate_msa) = (
            m.spread(&ada[0])?,
            m.spread(&ada[1])?,
            m.spread_gate(&ada[2])?,
        );
        let (shift_mlp, scale_mlp, gate_mlp) = (
            m.spread(&ada[3])?,
            m.spread(&ada[4])?,
            m.spread_gate(&ada[5])?,
        );
        let a_in = modulate(&self.input_layernorm.forward(x)?, &shift_msa, &scale_msa)?;
        let h = (x + gate_msa.mul(&self.self_attn.forward(&a_in, cos, sin, mask, cache)?)?)?;
        let m_in = modulate(
            &self.post_attention_layernorm.forward(&h)?,
            &shift_mlp,
            &scale_mlp,
        )?;
        let mlp = self
            .down_proj
            .forward(&(self.gate_proj.forward(&m_in)?.silu()? * self.up_proj.forward(&m_in)?)?)?;
        &h + gate_mlp.mul(&mlp)?
    }
}

#[derive(Debug, Clone)]
struct FinalLayer {
    norm_final: RmsNorm,
    linear: Linear,
    ada_ln: Linear,
}

impl FinalLayer {
    fn new(cfg: &FlowHeadConfig, out: usize, vb: VarBuilder) -> Result<Self> {
        let d = cfg.hidden_size;
        Ok(Self {
            norm_final: RmsNorm::new(d, cfg.final_norm_eps, vb.pp("norm_final"))?,
            linear: linear_zero(d, out, vb.pp("linear"))?,
            ada_ln: linear_zero(d, 2 * d, vb.pp("adaLN_modulation").pp("1"))?,
        })
    }

    fn forward(&self, x: &Tensor, silu_te: &Tensor, m: &Modulation) -> Result<Tensor> {
        let ada = self.ada_ln.forward(silu_te)?.chunk(2, 1)?;
        let y = modulate(
            &self.norm_final.forward(x)?,
            &m.spread(&ada[0])?,
            &m.spread(&ada[1])?,
        )?;
        self.linear.forward(&y)
    }
}

/// Optional captures of intermediate outputs (for parity tests).
pub type Trace = Vec<(String, Tensor)>;

#[derive(Debug, Clone)]
pub struct FlowHead {
    diff_proj: Option<(Linear, Linear)>,
    blocks: Vec<ModulatedBlock>,
    final_layer: FinalLayer,
    rotary: rope::Rotary,
}

impl FlowHead {
    /// `vb` is the model root (`diff_proj`, `diffusion_head_a`, `diffusion_head_b`).
    pub fn new(
        cfg: &FlowHeadConfig,
        llm_hidden: usize,
        n_layers: usize,
        out: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let diff_proj = if llm_hidden != cfg.hidden_size || vb.contains_tensor("diff_proj.0.weight")
        {
            let p = vb.pp("diff_proj");
            Some((
                linear(llm_hidden, cfg.hidden_size, p.pp("0"))?,
                linear(cfg.hidden_size, cfg.hidden_size, p.pp("2"))?,
            ))
        } else {
            None
        };
        let blocks = (0..n_layers)
            .map(|i| ModulatedBlock::new(cfg, vb.pp("diffusion_head_a").pp(i)))
            .collect::<Result<_>>()?;
        let final_layer = FinalLayer::new(cfg, out, vb.pp("diffusion_head_b"))?;
        let rotary = rope::Rotary::new(cfg.head_dim, cfg.rope_theta, cfg.rope_scaling.as_ref());
        Ok(Self {
            diff_proj,
            blocks,
            final_layer,
            rotary,
        })
    }

    pub fn rotary(&self) -> &rope::Rotary {
        &self.rotary
    }

    pub fn num_layers(&self) -> usize {
        self.blocks.len()
    }

    /// hidden (B, L, llm) at per-row positions `starts[b]..+L` -> (B, L, out).
    /// `time_embeds` (N, D) are the un-projected time embeddings of the N images, `m` says where
    /// they apply. `mask` and `cache` as in [`super::qwen2::Qwen2::forward_embeds`].
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        hidden: &Tensor,
        time_embeds: &Tensor,
        m: &Modulation,
        starts: &[usize],
        mask: Option<&Tensor>,
        mut cache: Option<&mut KvCache>,
        mut trace: Option<&mut Trace>,
    ) -> Result<Tensor> {
        let x = self.project(hidden)?;
        if let Some(t) = trace.as_deref_mut() {
            t.push(("diff_proj".into(), x.clone()));
        }
        let (cos, sin) = rope::row_tables(&self.rotary, starts, x.dim(1)?, &x)?;
        let silu_te = time_embeds.to_dtype(x.dtype())?.silu()?;
        let mut x = x;
        for (i, block) in self.blocks.iter().enumerate() {
            let slot = cache.as_deref_mut().map(|c| &mut c.layers[i]);
            x = block.forward(&x, &silu_te, m, &cos, &sin, mask, slot)?;
            if let Some(t) = trace.as_deref_mut() {
                t.push((format!("diffusion_head_a.{i}"), x.clone()));
            }
        }
        let out = self.final_layer.forward(&x, &silu_te, m)?;
        if let Some(t) = trace {
            t.push(("diffusion_head_b".into(), out.clone()));
        }
        Ok(out)
    }

    /// Runs only the attention K/V of text rows (no image blocks) into `cache`; used to cache a
    /// text prefix, whose rows are never modulated.
    pub fn prefill_text(
        &self,
        hidden: &Tensor,
        starts: &[usize],
        mask: Option<&Tensor>,
        cache: &mut KvCache,
    ) -> Result<()> {
        let x = self.project(hidden)?;
        let (b, l, _) = x.dims3()?;
        let ind = Tensor::zeros((b, l, 1), x.dtype(), x.device())?;
        let te = Tensor::zeros((1, x.dim(2)?), x.dtype(), x.device())?;
        let m = Modulation { ind: &ind };
        let (cos, sin) = rope::row_tables(&self.rotary, starts, l, &x)?;
        let mut x = x;
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(&x, &te, &m, &cos, &sin, mask, Some(&mut cache.layers[i]))?;
        }
        Ok(())
    }

    fn project(&self, hidden: &Tensor) -> Result<Tensor> {
        match &self.diff_proj {
            Some((a, b)) => b.forward(&a.forward(hidden)?.gelu_erf()?),
            None => Ok(hidden.clone()),
        }
    }
}
