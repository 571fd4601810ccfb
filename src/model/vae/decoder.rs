//! `Decoder3d`: latents (B, T, z_dim, h, w) -> pixels (B, T', 3, 8h, 8w) for one chunk.
//!
//! Checkpoint names: `conv1`, `middle.{0,1,2}`, `upsamples.N` (ResidualBlock / AttentionBlock /
//! Resample in build order), `head.0` (RMS_norm), `head.2` (CausalConv3d).
//!
//! Channels for dim=96, dim_mult [1,2,4,4]: conv1 16 -> 384, middle, then 4 stages of
//! num_res_blocks + 1 = 3 ResidualBlocks: 384 (upsample3d -> 192), 192 -> 384 (upsample3d
//! -> 192), 192 (upsample2d -> 96), 96; head 96 -> 3.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::VaeConfig;
use super::attention::AttentionBlock;
use super::cache::FeatCache;
use super::causal_conv3d::CausalConv3d;
use super::encoder::{Head, MiddleBlock, StageLayer};
use super::resample::{Resample, ResampleMode};
use super::resblock::ResidualBlock;

#[derive(Debug, Clone)]
pub struct Decoder3d {
    conv1: CausalConv3d,
    middle: MiddleBlock,
    upsamples: Vec<StageLayer>,
    head: Head,
}

impl Decoder3d {
    pub fn new(vb: VarBuilder, cfg: &VaeConfig) -> Result<Self> {
        let stages = cfg.dim_mult.len();
        // dims = [dim * u for u in [dim_mult[-1]] + dim_mult[::-1]]
        let dims: Vec<usize> = std::iter::once(cfg.dim_mult[stages - 1])
            .chain(cfg.dim_mult.iter().rev().copied())
            .map(|u| cfg.dim * u)
            .collect();
        // temperal_upsample = temperal_downsample[::-1]
        let temporal_upsample: Vec<bool> = cfg.temperal_downsample.iter().rev().copied().collect();
        let conv1 = CausalConv3d::new(vb.pp("conv1"), cfg.z_dim, dims[0], [3, 3, 3], 1, [1, 1, 1])?;
        let middle = MiddleBlock::new(vb.pp("middle"), dims[0])?;

        let vb_up = vb.pp("upsamples");
        let mut upsamples = Vec::new();
        let mut scale = 1.0 / 2f64.powi(stages as i32 - 2);
        for i in 0..stages {
            let (mut in_dim, out_dim) = (dims[i], dims[i + 1]);
            // The reference hard-codes this: stages 1..=3 start from the previous resampler's
            // halved channels.
            if matches!(i, 1..=3) {
                in_dim /= 2;
            }
            for _ in 0..cfg.num_res_blocks + 1 {
                let n = upsamples.len();
                upsamples.push(StageLayer::Residual(ResidualBlock::new(
                    vb_up.pp(n),
                    in_dim,
                    out_dim,
                )?));
                if cfg.attn_scales.contains(&scale) {
                    let n = upsamples.len();
                    upsamples.push(StageLayer::Attention(AttentionBlock::new(
                        vb_up.pp(n),
                        out_dim,
                    )?));
                }
                in_dim = out_dim;
            }
            if i != stages - 1 {
                let mode = if temporal_upsample[i] {
                    ResampleMode::Upsample3d
                } else {
                    ResampleMode::Upsample2d
                };
                let n = upsamples.len();
                upsamples.push(StageLayer::Resample(Resample::new(
                    vb_up.pp(n),
                    out_dim,
                    mode,
                )?));
                scale *= 2.0;
            }
        }
        let last = *dims.last().expect("dims has dim_mult.len() + 1 entries");
        Ok(Self {
            conv1,
            middle,
            upsamples,
            head: Head::new(vb.pp("head"), last, 3)?,
        })
    }

    /// One chunk (the reference feeds one latent frame at a time):
    /// z (B, T, z_dim, h, w) -> (B, T', 3, 8h, 8w), updating `cache`.
    pub fn forward(&self, z: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        cache.begin_chunk();
        let x = self.conv1.forward_cached(z, cache)?;
        let mut x = self.middle.forward(&x, cache)?;
        for layer in &self.upsamples {
            x = layer.forward(&x, cache)?;
        }
        self.head.forward(&x, cache)
    }
}
