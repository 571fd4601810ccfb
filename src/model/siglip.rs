//! The semantic layers (`und_trans`): SigLIP encoder layers without their pixel patch-embed,
//! run on VAE-latent patches. Bidirectional attention, pre-LN (f32), tanh-GELU MLP.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::layers::Linear;

use super::config::SiglipVisionConfig;
use super::layers::{LayerNorm, attention, linear};

#[derive(Debug, Clone)]
struct SelfAttention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    n_heads: usize,
    head_dim: usize,
}

impl SelfAttention {
    fn new(cfg: &SiglipVisionConfig, vb: VarBuilder) -> Result<Self> {
        let d = cfg.hidden_size;
        Ok(Self {
            q_proj: linear(d, d, vb.pp("q_proj"))?,
            k_proj: linear(d, d, vb.pp("k_proj"))?,
            v_proj: linear(d, d, vb.pp("v_proj"))?,
            out_proj: linear(d, d, vb.pp("out_proj"))?,
            n_heads: cfg.num_attention_heads,
            head_dim: d / cfg.num_attention_heads,
        })
    }
}

impl Module for SelfAttention {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, l, d) = x.dims3()?;
        let split = |t: Tensor| {
            t.reshape((b, l, self.n_heads, self.head_dim))?
                .transpose(1, 2)
        };
        let q = split(self.q_proj.forward(x)?)?;
        let k = split(self.k_proj.forward(x)?)?;
        let v = split(self.v_proj.forward(x)?)?;
        let out = attention(&q, &k, &v, None, 1.0 / (self.head_dim as f64).sqrt())?;
        out.transpose(1, 2)?
            .reshape((b, l, d))?
            .apply(&self.out_proj)
    }
}

#[derive(Debug, Clone)]
struct EncoderLayer {
    layer_norm1: LayerNorm,
    self_attn: SelfAttention,
    layer_norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

impl EncoderLayer {
    fn new(cfg: &SiglipVisionConfig, vb: VarBuilder) -> Result<Self> {
        let (d, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
        Ok(Self {
            layer_norm1: LayerNorm::new(d, eps, vb.pp("layer_norm1"))?,
            self_attn: SelfAttention::new(cfg, vb.pp("self_attn"))?,
            layer_norm2: LayerNorm::new(d, eps, vb.pp("layer_norm2"))?,
            fc1: linear(d, cfg.intermediate_size, vb.pp("mlp").pp("fc1"))?,
            fc2: linear(cfg.intermediate_size, d, vb.pp("mlp").pp("fc2"))?,
        })
    }
}

impl Module for EncoderLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = (x + self.self_attn.forward(&self.layer_norm1.forward(x)?)?)?;
        // gelu_pytorch_tanh == candle's tanh-approximated gelu.
        let mlp = self
            .fc2
            .forward(&self.fc1.forward(&self.layer_norm2.forward(&h)?)?.gelu()?)?;
        &h + mlp
    }
}

/// `und_trans`: the first `n_layers` SigLIP encoder layers.
#[derive(Debug, Clone)]
pub struct SemanticEncoder {
    layers: Vec<EncoderLayer>,
}

impl SemanticEncoder {
    pub fn new(cfg: &SiglipVisionConfig, n_layers: usize, vb: VarBuilder) -> Result<Self> {
        let layers = (0..n_layers)
            .map(|i| EncoderLayer::new(cfg, vb.pp("layers").pp(i)))
            .collect::<Result<_>>()?;
        Ok(Self { layers })
    }
}

impl Module for SemanticEncoder {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.layers
            .iter()
            .try_fold(x.clone(), |h, layer| layer.forward(&h))
    }
}
