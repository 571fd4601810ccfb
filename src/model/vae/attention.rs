//! `AttentionBlock`: single-head self-attention over the pixels of each frame, residual.
//!
//! Checkpoint names: `norm` (2-D RMS_norm), `to_qkv` (Conv2d 1x1, C -> 3C), `proj`
//! (Conv2d 1x1). Frames never attend to each other, so it needs no cache.

use candle_core::{Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, Module, VarBuilder};

use super::rms_norm::RmsNorm;

#[derive(Debug, Clone)]
pub struct AttentionBlock {
    norm: RmsNorm,
    to_qkv: Conv2d,
    proj: Conv2d,
    dim: usize,
}

impl AttentionBlock {
    pub fn new(vb: VarBuilder, dim: usize) -> Result<Self> {
        let cfg = Conv2dConfig::default();
        Ok(Self {
            norm: RmsNorm::new(vb.pp("norm"), dim, true)?,
            to_qkv: candle_nn::conv2d(dim, dim * 3, 1, cfg, vb.pp("to_qkv"))?,
            proj: candle_nn::conv2d(dim, dim, 1, cfg, vb.pp("proj"))?,
            dim,
        })
    }

    /// x: (B, T, C, H, W) -> same shape.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, c, h, w) = x.dims5()?;
        let frames = x.reshape((b * t, c, h, w))?;
        // (N, 3C, H, W) -> (N, 3C, L): q, k, v are channel blocks [0,C), [C,2C), [2C,3C).
        let qkv = self
            .to_qkv
            .forward(&self.norm.forward(&frames)?)?
            .reshape((b * t, 3 * c, h * w))?;
        let q = qkv.narrow(1, 0, c)?.transpose(1, 2)?.contiguous()?; // (N, L, C)
        let k = qkv.narrow(1, c, c)?.contiguous()?; // (N, C, L)
        let v = qkv.narrow(1, 2 * c, c)?.transpose(1, 2)?.contiguous()?; // (N, L, C)
        let scale = 1.0 / (self.dim as f64).sqrt();
        let attn = candle_nn::ops::softmax_last_dim(&(q.matmul(&k)? * scale)?)?; // (N, L, L)
        let out = attn.matmul(&v)?; // (N, L, C)
        let out = out
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b * t, c, h, w))?;
        let out = self.proj.forward(&out)?.reshape((b, t, c, h, w))?;
        out + x
    }
}
