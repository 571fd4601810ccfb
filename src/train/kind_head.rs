//! An auxiliary shape-kind head on the VAE's latent (phase 1, `TrainOptions::vae_kind_weight`).
//!
//! Reconstruction losses care about a square's corners only as far as their few pixels go, so
//! a tiny VAE codes "square" and "circle" as nearly the same latent (a linear probe on v6's
//! latents tells the three kinds apart 83% of the time). Every later stage inherits that: the
//! flow model's mean-squared loss barely notices a wrong kind, and the LLM barely sees one. A
//! linear classifier on each latent cell a shape covers, trained with the VAE and thrown away
//! after, asks the encoder to write the kind into every such cell, as aligning a VAE's latents
//! with semantic features does for generation (VA-VAE). The decoder learns to draw from it.

use candle_core::{D, Device, Result, Tensor};
use candle_nn::{Linear, Module, VarBuilder};

use crate::tiny::world::{ShapeKind, Sprite};

/// Name prefix of the head's weights: kept out of the shipped `vae.safetensors`.
pub const PREFIX: &str = "kind_head";

/// Least share of a cell's pixels a shape must cover for the cell to be labelled its kind.
const MIN_COVER: f32 = 0.3;

/// A VAE crop's shapes: where it was cut from a picture of side `resolution`.
#[derive(Debug, Clone)]
pub struct CropShapes {
    pub sprites: Vec<Sprite>,
    pub origin: (u32, u32),
    pub side: u32,
    pub resolution: u32,
}

impl CropShapes {
    /// (cell index in row-major order over the crop's 8-px latent grid, kind index) for every
    /// cell a shape covers at least `MIN_COVER` of.
    pub fn cell_labels(&self) -> Vec<(usize, u32)> {
        let cells = (self.side / 8) as usize;
        let r = self.resolution as f32;
        let mut out = Vec::new();
        for cy in 0..cells {
            for cx in 0..cells {
                let best = self
                    .sprites
                    .iter()
                    .map(|s| {
                        let inside = (0..64)
                            .filter(|k| {
                                let px = self.origin.0 + (cx * 8 + k % 8) as u32;
                                let py = self.origin.1 + (cy * 8 + k / 8) as u32;
                                s.signed_distance((px as f32 + 0.5) / r, (py as f32 + 0.5) / r)
                                    < 0.0
                            })
                            .count();
                        (inside as f32 / 64.0, s.kind)
                    })
                    .max_by(|a, b| a.0.total_cmp(&b.0));
                if let Some((cover, kind)) = best
                    && cover >= MIN_COVER
                {
                    out.push((cy * cells + cx, kind.index() as u32));
                }
            }
        }
        out
    }
}

/// A linear map from one latent cell's channels to the kinds.
pub struct KindHead {
    linear: Linear,
}

impl KindHead {
    pub fn new(z_dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            linear: candle_nn::linear(z_dim, ShapeKind::ALL.len(), vb.pp(PREFIX))?,
        })
    }

    /// Cross-entropy of the kinds of the labelled cells of `mu` (B, C, 1, h, w) and the share
    /// it gets right; `None` when no cell is labelled.
    pub fn loss(&self, mu: &Tensor, crops: &[CropShapes]) -> Result<Option<(Tensor, f64)>> {
        let (b, c, _, h, w) = mu.dims5()?;
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for (i, crop) in crops.iter().enumerate().take(b) {
            for (cell, kind) in crop.cell_labels() {
                rows.push((i * h * w + cell) as u32);
                labels.push(kind);
            }
        }
        if rows.is_empty() {
            return Ok(None);
        }
        let dev: &Device = mu.device();
        let cells = mu
            .reshape((b, c, h * w))?
            .transpose(1, 2)?
            .reshape((b * h * w, c))?;
        let picked = cells.index_select(&Tensor::new(rows.as_slice(), dev)?, 0)?;
        let logits = self.linear.forward(&picked)?;
        let target = Tensor::new(labels.as_slice(), dev)?;
        let right = logits
            .argmax(D::Minus1)?
            .eq(&target)?
            .to_dtype(candle_core::DType::F32)?
            .mean_all()?
            .to_scalar::<f32>()? as f64;
        Ok(Some((
            candle_nn::loss::cross_entropy(&logits, &target)?,
            right,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_under_a_shape_get_its_kind_and_the_rest_none() {
        // A square of half-side 0.185 * SQUARE_HALF_SIDE centred in a 64 px picture, cropped
        // to its middle 32 px: the four centre cells are inside it, the corner cells are not.
        let crop = CropShapes {
            sprites: vec![Sprite {
                kind: ShapeKind::Square,
                rgb: [255, 0, 0],
                centre: (0.5, 0.5),
                extent: 0.185,
            }],
            origin: (16, 16),
            side: 32,
            resolution: 64,
        };
        let labels = crop.cell_labels();
        let square = ShapeKind::Square.index() as u32;
        for centre in [5, 6, 9, 10] {
            assert!(labels.contains(&(centre, square)), "{labels:?}");
        }
        for corner in [0, 3, 12, 15] {
            assert!(labels.iter().all(|&(c, _)| c != corner), "{labels:?}");
        }
    }
}
