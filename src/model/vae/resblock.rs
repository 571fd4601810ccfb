//! `ResidualBlock`: two (RMS_norm, SiLU, CausalConv3d 3x3x3) stages plus a shortcut.
//!
//! Checkpoint names: `residual.0` (norm), `residual.2` (conv), `residual.3` (norm),
//! `residual.6` (conv; index 5 is the dropout), `shortcut` (1x1x1 conv, only when the
//! channel count changes).

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::cache::FeatCache;
use super::causal_conv3d::CausalConv3d;
use super::rms_norm::RmsNorm;

#[derive(Debug, Clone)]
pub struct ResidualBlock {
    norm1: RmsNorm,
    conv1: CausalConv3d,
    norm2: RmsNorm,
    conv2: CausalConv3d,
    shortcut: Option<CausalConv3d>,
}

impl ResidualBlock {
    pub fn new(vb: VarBuilder, in_dim: usize, out_dim: usize) -> Result<Self> {
        let res = vb.pp("residual");
        let conv3 = |vb, i, o| CausalConv3d::new(vb, i, o, [3, 3, 3], 1, [1, 1, 1]);
        let shortcut = if in_dim != out_dim {
            Some(CausalConv3d::new(
                vb.pp("shortcut"),
                in_dim,
                out_dim,
                [1, 1, 1],
                1,
                [0, 0, 0],
            )?)
        } else {
            None
        };
        Ok(Self {
            norm1: RmsNorm::new(res.pp("0"), in_dim, false)?,
            conv1: conv3(res.pp("2"), in_dim, out_dim)?,
            norm2: RmsNorm::new(res.pp("3"), out_dim, false)?,
            conv2: conv3(res.pp("6"), out_dim, out_dim)?,
            shortcut,
        })
    }

    /// x: (B, T, in_dim, H, W) -> (B, T, out_dim, H, W). Uses two cache slots.
    pub fn forward(&self, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        let h = match &self.shortcut {
            Some(conv) => conv.forward(x)?,
            None => x.clone(),
        };
        let y = self.norm1.forward(x)?.silu()?;
        let y = self.conv1.forward_cached(&y, cache)?;
        let y = self.norm2.forward(&y)?.silu()?;
        let y = self.conv2.forward_cached(&y, cache)?;
        y + h
    }
}
