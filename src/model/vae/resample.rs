//! `Resample`: the 2x spatial (and, for the `*3d` modes, 2x temporal) up/down samplers.
//!
//! Checkpoint names: `resample.1` (the Conv2d; index 0 is the parameter-free Upsample or
//! ZeroPad2d) and `time_conv` (a CausalConv3d with kernel (3, 1, 1)).
//!
//! Temporal behaviour, exactly as the reference streams it:
//! - `upsample3d` (decoder): the first chunk is NOT doubled in time; its slot becomes the
//!   `'Rep'` sentinel. The next chunk runs `time_conv` with zero history (C -> 2C channels),
//!   and the two channel halves become two frames each. Later chunks use the cached tail.
//!   So latent frames 1, 2, 3, ... give 1, 2, 2, ... frames per upsample3d.
//! - `downsample3d` (encoder): the first chunk is passed through and cached as is. Later
//!   chunks get the previous chunk's last frame in front and run `time_conv` with time
//!   stride 2 and no padding: 4 frames + 1 cached -> 2 frames.

use candle_core::{Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, Module, VarBuilder};

use super::cache::{CACHE_T, FeatCache, Slot, next_tail};
use super::causal_conv3d::CausalConv3d;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResampleMode {
    /// Nearest 2x in H, W then Conv2d 3x3 (C -> C/2).
    Upsample2d,
    /// `Upsample2d` preceded by the causal time doubling (`time_conv`, C -> 2C).
    Upsample3d,
    /// ZeroPad2d (right 1, bottom 1) then Conv2d 3x3 stride 2 (C -> C).
    Downsample2d,
    /// `Downsample2d` followed by the causal time halving (`time_conv`, stride 2).
    Downsample3d,
}

#[derive(Debug, Clone)]
pub struct Resample {
    mode: ResampleMode,
    conv: Conv2d,
    time_conv: Option<CausalConv3d>,
}

impl Resample {
    pub fn new(vb: VarBuilder, dim: usize, mode: ResampleMode) -> Result<Self> {
        use ResampleMode::*;
        let (out_dim, cfg) = match mode {
            Upsample2d | Upsample3d => (
                dim / 2,
                Conv2dConfig {
                    padding: 1,
                    ..Default::default()
                },
            ),
            Downsample2d | Downsample3d => (
                dim,
                Conv2dConfig {
                    stride: 2,
                    ..Default::default()
                },
            ),
        };
        let conv = candle_nn::conv2d(dim, out_dim, 3, cfg, vb.pp("resample.1"))?;
        let time_conv = match mode {
            Upsample3d => Some(CausalConv3d::new(
                vb.pp("time_conv"),
                dim,
                2 * dim,
                [3, 1, 1],
                1,
                [1, 0, 0],
            )?),
            Downsample3d => Some(CausalConv3d::new(
                vb.pp("time_conv"),
                dim,
                dim,
                [3, 1, 1],
                2,
                [0, 0, 0],
            )?),
            Upsample2d | Downsample2d => None,
        };
        Ok(Self {
            mode,
            conv,
            time_conv,
        })
    }

    /// x: (B, T, C, H, W). Upsample: -> (B, T', C/2, 2H, 2W) with T' = T, or 2T for
    /// `upsample3d` after its first chunk. Downsample: -> (B, T', C, H/2, W/2) with T' = T
    /// on the first `downsample3d` chunk, else (T + 1 - 3) / 2 + 1.
    pub fn forward(&self, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        let x = match (&self.time_conv, self.mode) {
            (Some(time_conv), ResampleMode::Upsample3d) => time_upsample(time_conv, x, cache)?,
            _ => x.clone(),
        };
        let x = self.spatial(&x)?;
        match (&self.time_conv, self.mode) {
            (Some(time_conv), ResampleMode::Downsample3d) => time_downsample(time_conv, &x, cache),
            _ => Ok(x),
        }
    }

    /// The per-frame 2-D part, all frames in one conv2d batch.
    fn spatial(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, c, h, w) = x.dims5()?;
        let frames = x.reshape((b * t, c, h, w))?;
        let frames = match self.mode {
            // 'nearest-exact' at an exact factor of 2 picks source pixel i / 2, as 'nearest'.
            ResampleMode::Upsample2d | ResampleMode::Upsample3d => {
                frames.upsample_nearest2d(2 * h, 2 * w)?
            }
            ResampleMode::Downsample2d | ResampleMode::Downsample3d => {
                frames.pad_with_zeros(3, 0, 1)?.pad_with_zeros(2, 0, 1)?
            }
        };
        let y = self.conv.forward(&frames)?;
        let (_, c_out, ho, wo) = y.dims4()?;
        y.reshape((b, t, c_out, ho, wo))
    }
}

/// `upsample3d`'s time doubling with the `'Rep'` sentinel. x: (B, T, C, H, W).
fn time_upsample(time_conv: &CausalConv3d, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
    let slot = cache.next_slot();
    let y = match slot.clone() {
        Slot::Empty => {
            // First chunk: no time conv at all, only mark the slot.
            *slot = Slot::Rep;
            return Ok(x.clone());
        }
        Slot::Rep => {
            // Second chunk: zero history, and a single-frame tail gets a zero frame in front.
            let t = x.dim(1)?;
            let keep = t.min(CACHE_T);
            let mut tail = x.narrow(1, t - keep, keep)?.copy()?;
            if keep < CACHE_T {
                tail = Tensor::cat(&[&tail.zeros_like()?, &tail], 1)?;
            }
            let y = time_conv.forward(x)?;
            *slot = Slot::Frames(tail);
            y
        }
        Slot::Frames(previous) => {
            let tail = next_tail(x, Some(&previous))?;
            let y = time_conv.forward_with_history(x, Some(&previous))?;
            *slot = Slot::Frames(tail);
            y
        }
    };
    // (B, T, 2C, H, W): channels [0, C) are frame 2t, [C, 2C) frame 2t+1.
    let (b, t, c2, h, w) = y.dims5()?;
    y.reshape((b, 2 * t, c2 / 2, h, w))
}

/// `downsample3d`'s time halving. x: (B, T, C, H, W), already spatially downsampled.
fn time_downsample(time_conv: &CausalConv3d, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
    let slot = cache.next_slot();
    match slot.clone() {
        Slot::Empty | Slot::Rep => {
            // First chunk: passed through; the whole chunk is cached.
            *slot = Slot::Frames(x.copy()?);
            Ok(x.clone())
        }
        Slot::Frames(previous) => {
            let t = x.dim(1)?;
            let last_previous = previous.narrow(1, previous.dim(1)? - 1, 1)?;
            let tail = x.narrow(1, t - 1, 1)?.copy()?;
            let y = time_conv.forward(&Tensor::cat(&[&last_previous, x], 1)?)?;
            *slot = Slot::Frames(tail);
            Ok(y)
        }
    }
}
