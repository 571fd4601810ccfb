//! `Encoder3d`: pixels (B, T, 3, H, W) -> (B, T', 2*z_dim, H/8, W/8) for one chunk.
//!
//! Checkpoint names: `conv1`, `downsamples.N` (ResidualBlock / AttentionBlock / Resample in
//! build order), `middle.0` (ResidualBlock), `middle.1` (AttentionBlock), `middle.2`,
//! `head.0` (RMS_norm), `head.2` (CausalConv3d; index 1 is the SiLU).
//!
//! Channels for dim=96, dim_mult [1,2,4,4]: 96 -> 96 (x2 res, downsample2d) -> 192 (x2 res,
//! downsample3d) -> 384 (x2 res, downsample3d) -> 384 (x2 res) -> middle -> head 384 -> 32.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::VaeConfig;
use super::attention::AttentionBlock;
use super::cache::FeatCache;
use super::causal_conv3d::CausalConv3d;
use super::resample::{Resample, ResampleMode};
use super::resblock::ResidualBlock;
use super::rms_norm::RmsNorm;

/// One entry of `downsamples` / `upsamples` (an `nn.Sequential` of mixed blocks).
#[derive(Debug, Clone)]
pub(super) enum StageLayer {
    Residual(ResidualBlock),
    Attention(AttentionBlock),
    Resample(Resample),
}

impl StageLayer {
    pub(super) fn forward(&self, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        match self {
            Self::Residual(block) => block.forward(x, cache),
            Self::Attention(block) => block.forward(x),
            Self::Resample(block) => block.forward(x, cache),
        }
    }
}

/// Middle block shared by encoder and decoder: ResidualBlock, AttentionBlock, ResidualBlock.
#[derive(Debug, Clone)]
pub(super) struct MiddleBlock {
    res0: ResidualBlock,
    attn: AttentionBlock,
    res2: ResidualBlock,
}

impl MiddleBlock {
    pub(super) fn new(vb: VarBuilder, dim: usize) -> Result<Self> {
        Ok(Self {
            res0: ResidualBlock::new(vb.pp("0"), dim, dim)?,
            attn: AttentionBlock::new(vb.pp("1"), dim)?,
            res2: ResidualBlock::new(vb.pp("2"), dim, dim)?,
        })
    }

    pub(super) fn forward(&self, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        let x = self.res0.forward(x, cache)?;
        let x = self.attn.forward(&x)?;
        self.res2.forward(&x, cache)
    }
}

/// Head shared by encoder and decoder: RMS_norm, SiLU, CausalConv3d 3x3x3.
#[derive(Debug, Clone)]
pub(super) struct Head {
    norm: RmsNorm,
    conv: CausalConv3d,
}

impl Head {
    pub(super) fn new(vb: VarBuilder, in_dim: usize, out_dim: usize) -> Result<Self> {
        Ok(Self {
            norm: RmsNorm::new(vb.pp("0"), in_dim, false)?,
            conv: CausalConv3d::new(vb.pp("2"), in_dim, out_dim, [3, 3, 3], 1, [1, 1, 1])?,
        })
    }

    pub(super) fn forward(&self, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        let x = self.norm.forward(x)?.silu()?;
        self.conv.forward_cached(&x, cache)
    }
}

#[derive(Debug, Clone)]
pub struct Encoder3d {
    conv1: CausalConv3d,
    downsamples: Vec<StageLayer>,
    middle: MiddleBlock,
    head: Head,
}

impl Encoder3d {
    /// Outputs `2 * cfg.z_dim` channels (mu and logvar), like the reference's `z_dim * 2`.
    pub fn new(vb: VarBuilder, cfg: &VaeConfig) -> Result<Self> {
        // dims = [dim * u for u in [1] + dim_mult]
        let dims: Vec<usize> = std::iter::once(1)
            .chain(cfg.dim_mult.iter().copied())
            .map(|u| cfg.dim * u)
            .collect();
        let conv1 = CausalConv3d::new(vb.pp("conv1"), 3, dims[0], [3, 3, 3], 1, [1, 1, 1])?;

        let vb_down = vb.pp("downsamples");
        let mut downsamples = Vec::new();
        let mut scale = 1.0f64;
        let stages = cfg.dim_mult.len();
        for i in 0..stages {
            let (mut in_dim, out_dim) = (dims[i], dims[i + 1]);
            for _ in 0..cfg.num_res_blocks {
                let n = downsamples.len();
                downsamples.push(StageLayer::Residual(ResidualBlock::new(
                    vb_down.pp(n),
                    in_dim,
                    out_dim,
                )?));
                if cfg.attn_scales.contains(&scale) {
                    let n = downsamples.len();
                    downsamples.push(StageLayer::Attention(AttentionBlock::new(
                        vb_down.pp(n),
                        out_dim,
                    )?));
                }
                in_dim = out_dim;
            }
            if i != stages - 1 {
                let mode = if cfg.temperal_downsample[i] {
                    ResampleMode::Downsample3d
                } else {
                    ResampleMode::Downsample2d
                };
                let n = downsamples.len();
                downsamples.push(StageLayer::Resample(Resample::new(
                    vb_down.pp(n),
                    out_dim,
                    mode,
                )?));
                scale /= 2.0;
            }
        }
        let top = *dims.last().expect("dims has dim_mult.len() + 1 entries");
        Ok(Self {
            conv1,
            downsamples,
            middle: MiddleBlock::new(vb.pp("middle"), top)?,
            head: Head::new(vb.pp("head"), top, 2 * cfg.z_dim)?,
        })
    }

    /// One chunk: x (B, T, 3, H, W) -> (B, T', 2*z_dim, H/8, W/8), updating `cache`.
    pub fn forward(&self, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        cache.begin_chunk();
        let mut x = self.conv1.forward_cached(x, cache)?;
        for layer in &self.downsamples {
            x = layer.forward(&x, cache)?;
        }
        let x = self.middle.forward(&x, cache)?;
        self.head.forward(&x, cache)
    }
}
