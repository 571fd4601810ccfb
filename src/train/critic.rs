//! A small patch critic (PatchGAN-style) for the decoder's sharpening stage.
//!
//! Under L1 or MSE, the best picture behind an uncertain latent is a per-pixel median or mean
//! of the pictures it could be, and that of a square's possible corners is a rounded one: the
//! decoder draws squircles and blunt triangles from the flow model's smooth latents, although
//! the latent names the kind (see `decoder.rs`). Wan-VAE's last training stage adds a GAN
//! loss (Wan technical report). The critic scores overlapping 38x38-pixel patches
//! (about one large shape) as true picture or decoded one; the decoder is then asked to fool
//! it, which rewards committing to crisp corners instead of averaging them.
//!
//! Layout (`down.{0,1,2}`, `out`; the sharpening stage keeps them under `critic.`): three 4x4
//! stride-2 convolutions (3 -> 64 -> 128 -> 128) with leaky ReLU, then a 3x3 convolution to
//! one logit per patch: (B, 3, 64, 64) -> (B, 1, 8, 8).

use candle_core::{Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, Module, VarBuilder, conv2d};

const WIDTHS: [usize; 4] = [3, 64, 128, 128];
const SLOPE: f64 = 0.2;

pub struct Critic {
    downs: Vec<Conv2d>,
    out: Conv2d,
}

impl Critic {
    pub fn new(vb: VarBuilder) -> Result<Self> {
        let down = Conv2dConfig {
            padding: 1,
            stride: 2,
            ..Default::default()
        };
        let downs = WIDTHS
            .windows(2)
            .enumerate()
            .map(|(k, w)| conv2d(w[0], w[1], 4, down, vb.pp(format!("down.{k}"))))
            .collect::<Result<Vec<_>>>()?;
        let same = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let out = conv2d(WIDTHS[3], 1, 3, same, vb.pp("out"))?;
        Ok(Self { downs, out })
    }

    /// Patch logits of pictures (B, 3, H, W) in [-1, 1]: (B, 1, H/8, W/8).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for conv in &self.downs {
            h = candle_nn::ops::leaky_relu(&conv.forward(&h)?, SLOPE)?;
        }
        self.out.forward(&h)
    }

    /// The critic's hinge loss: mean relu(1 - D(true)) + mean relu(1 + D(decoded)).
    pub fn hinge_loss(&self, truth: &Tensor, decoded: &Tensor) -> Result<Tensor> {
        let real = (1.0 - self.forward(truth)?)?.relu()?.mean_all()?;
        let fake = (self.forward(decoded)? + 1.0)?.relu()?.mean_all()?;
        real + fake
    }

    /// The decoder's adversarial loss: -mean D(decoded).
    pub fn fooling_loss(&self, decoded: &Tensor) -> Result<Tensor> {
        self.forward(decoded)?.mean_all()?.neg()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    use crate::train::optim::AdamW;
    use crate::train::seeded_init::SeededVarMap;
    use crate::train::tiny::named_vars;

    #[test]
    fn it_scores_patches_and_learns_to_tell_sharp_from_blurred() -> Result<()> {
        let dev = Device::Cpu;
        let map = VarMap::new();
        let critic = Critic::new(SeededVarMap::builder(&map, 7, DType::F32, &dev))?;
        // "True" pictures: a hard-edged square; "decoded": the same square, edges ramped.
        let sharp = Tensor::from_vec(
            (0..32 * 32)
                .map(|i| {
                    let (x, y) = (i % 32, i / 32);
                    if (10..22).contains(&x) && (10..22).contains(&y) {
                        1f32
                    } else {
                        -1f32
                    }
                })
                .collect(),
            (1, 1, 32, 32),
            &dev,
        )?
        .repeat((2, 3, 1, 1))?;
        let soft = sharp
            .pad_with_same(3, 2, 2)?
            .pad_with_same(2, 2, 2)?
            .avg_pool2d_with_stride((5, 5), (1, 1))?;
        // One logit per 8x8 pixels.
        assert_eq!(critic.forward(&sharp)?.dims(), &[2, 1, 4, 4]);
        let mut opt = AdamW::new(named_vars(&map), 0.0)?;
        let first = critic.hinge_loss(&sharp, &soft)?.to_scalar::<f32>()?;
        for _ in 0..40 {
            let grads = critic.hinge_loss(&sharp, &soft)?.backward()?;
            opt.apply(&grads, 1e-3)?;
        }
        let last = critic.hinge_loss(&sharp, &soft)?.to_scalar::<f32>()?;
        assert!(last < 0.5 * first, "hinge loss {first} -> {last}");
        // Telling them apart means the sharp square scores higher than the soft one, and the
        // decoder's fooling loss is then higher for the soft one.
        let margin = (critic.forward(&sharp)?.mean_all()? - critic.forward(&soft)?.mean_all()?)?;
        assert!(margin.to_scalar::<f32>()? > 0.5);
        let fooling = |x: &Tensor| critic.fooling_loss(x)?.to_scalar::<f32>();
        assert!(fooling(&soft)? > fooling(&sharp)?);
        Ok(())
    }
}
