//! `RMS_norm` of the reference: `F.normalize(x, dim=channels) * sqrt(C) * gamma` (no bias).
//!
//! The channel dim is always the third from last here: (B, T, C, H, W) activations and
//! (B*T, C, H, W) frames alike.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use crate::model::broadcast;

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
            vb.get_with_hints((channels, 1, 1), "gamma", candle_nn::Init::Const(1.0))?
        } else {
            vb.get_with_hints((channels, 1, 1, 1), "gamma", candle_nn::Init::Const(1.0))?
                .reshape((channels, 1, 1))?
        };
        Ok(Self {
            gamma,
            scale: (channels as f64).sqrt(),
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let channel_dim = x.rank().checked_sub(3).ok_or_else(|| {
            candle_core::Error::Msg(format!("RMS_norm wants (.., C, H, W), got {:?}", x.dims()))
        })?;
        let norm = broadcast::sum_keepdim(&x.sqr()?, channel_dim)?
            // Clamping before the sqrt (same value as clamping after) keeps the gradient
            // finite at an all-zero input.
            .maximum(NORMALIZE_EPS * NORMALIZE_EPS)?
            .sqrt()?;
        broadcast::mul(&(broadcast::div(x, &norm)? * self.scale)?, &self.gamma)
    }
}
