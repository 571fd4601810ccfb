//! `PatchEmbed`: Conv2d(C -> D, kernel p, stride p) over latents, flattened row-major.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder};

#[derive(Debug, Clone)]
pub struct PatchEmbed {
    proj: Conv2d,
}

impl PatchEmbed {
    /// `vb` points at e.g. `image_embedder_gen`; the conv lives under `.proj`.
    pub fn new(in_ch: usize, dim: usize, patch: usize, vb: VarBuilder) -> Result<Self> {
        let cfg = Conv2dConfig {
            stride: patch,
            ..Default::default()
        };
        Ok(Self {
            proj: candle_nn::conv2d(in_ch, dim, patch, cfg, vb.pp("proj"))?,
        })
    }
}

impl Module for PatchEmbed {
    /// (N, C, H, W) -> (N, (H/p)*(W/p), D)
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.proj.forward(x)?.flatten_from(2)?.transpose(1, 2)
    }
}
