//! Timestep embedding: 256-d sinusoid of the raw t in [0, 1] (cos half first), an MLP to the
//! flow-head width (drives adaLN), and `time_embed_proj` to the LLM width (the time token).

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::layers::Linear;

use super::layers::linear;

/// [cos(t * f_i), sin(t * f_i)] with f_i = exp(-ln(10000) * i / (dim/2)); t: (N,) -> (N, dim).
pub fn sinusoid(t: &Tensor, dim: usize) -> Result<Tensor> {
    let half = dim / 2;
    let freqs: Vec<f32> = (0..half)
        .map(|i| (-(10000f32.ln()) * i as f32 / half as f32).exp())
        .collect();
    let freqs = Tensor::from_vec(freqs, (1, half), t.device())?;
    let args = t
        .to_dtype(DType::F32)?
        .unsqueeze(1)?
        .broadcast_mul(&freqs)?;
    Tensor::cat(&[args.cos()?, args.sin()?], 1)
}

#[derive(Debug, Clone)]
pub struct TimestepEmbedder {
    mlp0: Linear,
    mlp2: Linear,
    proj: Option<Linear>,
    freq_dim: usize,
}

impl TimestepEmbedder {
    /// `vb` is the model root: reads `time_embed.mlp.{0,2}` and `time_embed_proj` (present when
    /// the flow-head width differs from the LLM width).
    pub fn new(freq_dim: usize, flow_dim: usize, hidden: usize, vb: VarBuilder) -> Result<Self> {
        let mlp = vb.pp("time_embed").pp("mlp");
        let proj = if flow_dim != hidden || vb.contains_tensor("time_embed_proj.weight") {
            Some(linear(flow_dim, hidden, vb.pp("time_embed_proj"))?)
        } else {
            None
        };
        Ok(Self {
            mlp0: linear(freq_dim, flow_dim, mlp.pp("0"))?,
            mlp2: linear(flow_dim, flow_dim, mlp.pp("2"))?,
            proj,
            freq_dim,
        })
    }

    /// t (N,) -> (time_embeds (N, flow_dim), time_token (N, hidden)).
    pub fn forward(&self, t: &Tensor, dtype: DType) -> Result<(Tensor, Tensor)> {
        let s = sinusoid(t, self.freq_dim)?.to_dtype(dtype)?;
        let te = self.mlp2.forward(&self.mlp0.forward(&s)?.silu()?)?;
        let token = match &self.proj {
            Some(p) => p.forward(&te)?,
            None => te.clone(),
        };
        Ok((te, token))
    }
}
