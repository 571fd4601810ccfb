//! `RMS_norm` of the reference: `F.normalize(x, dim=channels) * sqrt(C) * gamma` (no bias).
//!
//! The channel dim is always the third from last here: (B, T, C, H, W) activations and
//! (B*T, C, H, W) frames alike.

use candle_core::{D, Result, Tensor};
use candle_nn::VarBuilder;

/// `F.normalize` clamps the L2 norm from below with this eps.
const NORMALIZE_EPS: f64 = 1e-12;

#[derive(Debug, Clone)]
pub struct RmsNorm {
    /// (C, 1, 1): broadcasts over the trailing (C, H, W) of either layout.
    gamma: Tensor,
    scale: f64,
}

impl RmsNorm {
    /// `images = false` is the 3-D norm with gamma (C, 1, 1, 1) (ResidualBlock, heads);
    /// `images = true` the 2-D one with gamma (C, 1, 1) (AttentionBlock).
    pub fn new(vb: VarBuilder, channels: usize, images: bool) -> Result<Self> {
        let gamma = if images {
            vb.get((channels, 1, 1), "gamma")?
        } else {
            vb.get((channels, 1, 1, 1), "gamma")?
                .reshape((channels, 1, 1))?
        };
        Ok(Self {
            gamma,
            scale: (channels as f64).sqrt(),
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let channel_dim = D::Minus(3);
        let norm = x
            .sqr()?
            .sum_keepdim(channel_dim)?
            .sqrt()?
            .maximum(NORMALIZE_EPS)?;
        (x.broadcast_div(&norm)? * self.scale)?.broadcast_mul(&self.gamma)
    }
}
