//! Rotary position embeddings (HF "rotate half" convention), plain and llama3-scaled.

use candle_core::{DType, Device, Result, Tensor};

use super::config::RopeScaling;

/// Inverse frequencies `1 / theta^(2i/d)`, optionally llama3-rescaled; computed as HF does in f32.
pub fn inv_freq(head_dim: usize, theta: f64, scaling: Option<&RopeScaling>) -> Vec<f32> {
    let base: Vec<f32> = (0..head_dim / 2)
        .map(|i| 1.0f32 / (theta as f32).powf((2 * i) as f32 / head_dim as f32))
        .collect();
    let Some(s) = scaling else { return base };
    let old_len = s.original_max_position_embeddings as f32;
    let low_wavelen = old_len / s.low_freq_factor as f32;
    let high_wavelen = old_len / s.high_freq_factor as f32;
    let factor = s.factor as f32;
    base.iter()
        .map(|&f| {
            let wavelen = 2.0 * std::f32::consts::PI / f;
            if wavelen < high_wavelen {
                f
            } else if wavelen > low_wavelen {
                f / factor
            } else {
                let smooth = (old_len / wavelen - s.low_freq_factor as f32)
                    / (s.high_freq_factor as f32 - s.low_freq_factor as f32);
                (1.0 - smooth) * f / factor + smooth * f
            }
        })
        .collect()
}

/// cos/sin tables for the given positions: each (N, head_dim) with the halves duplicated.
#[derive(Debug, Clone)]
pub struct Rotary {
    inv_freq: Vec<f32>,
}

impl Rotary {
    pub fn new(head_dim: usize, theta: f64, scaling: Option<&RopeScaling>) -> Self {
        Self {
            inv_freq: inv_freq(head_dim, theta, scaling),
        }
    }

    pub fn inv_freq(&self) -> &[f32] {
        &self.inv_freq
    }

    /// (cos, sin) of shape (B, 1, L, head_dim) for per-row positions `positions[b][i]`.
    pub fn tables(
        &self,
        positions: &[Vec<usize>],
        dtype: DType,
        dev: &Device,
    ) -> Result<(Tensor, Tensor)> {
        let b = positions.len();
        let l = positions.first().map_or(0, |p| p.len());
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(b * l * half * 2);
        let mut sin = Vec::with_capacity(b * l * half * 2);
        for row in positions {
            for &p in row {
                // HF: freqs = inv_freq * position in f32, then cos/sin of emb = cat(freqs, freqs).
                let freqs: Vec<f32> = self.inv_freq.iter().map(|&f| f * p as f32).collect();
                for _ in 0..2 {
                    cos.extend(freqs.iter().map(|&x| (x as f64).cos() as f32));
                    sin.extend(freqs.iter().map(|&x| (x as f64).sin() as f32));
                }
            }
        }
        let shape = (b, 1, l, half * 2);
        Ok((
            Tensor::from_vec(cos, shape, dev)?.to_dtype(dtype)?,
            Tensor::from_vec(sin, shape, dev)?.to_dtype(dtype)?,
        ))
    }
}

/// x * cos + rotate_half(x) * sin, with x: (B, H, L, D) and cos/sin broadcastable (B|1, 1, L, D).
pub fn apply(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let d = x.dim(3)?;
    let x1 = x.narrow(3, 0, d / 2)?;
    let x2 = x.narrow(3, d / 2, d / 2)?;
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], 3)?;
    x.broadcast_mul(cos)? + rotated.broadcast_mul(sin)?
}

/// RoPE tables for rows starting at `starts[b]` (one entry = shared by every row), (B|1, 1, len, D).
pub fn row_tables(
    rotary: &Rotary,
    starts: &[usize],
    len: usize,
    like: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let positions: Vec<Vec<usize>> = starts.iter().map(|&s| (s..s + len).collect()).collect();
    rotary.tables(&positions, like.dtype(), like.device())
}
