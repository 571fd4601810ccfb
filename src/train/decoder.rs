//! Phase 3 of `train-tiny`: the VAE decoder alone, refined on the frozen encoder's latents.
//!
//! Phase 1 shares its steps between the encoder and a decoder that learns to see through
//! latent noise; shapes are a small share of the pixels, so the colours of small shapes (blue
//! against purple) come out less exact than the backgrounds. Here the decoder trains on, with
//! shape pixels weighted up. The encoder, and so every latent phase 2 trained on, is unchanged,
//! which is also why this phase may run after (or beside) phase 2.

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::optim::{AdamW, lr_at};
use super::tiny::{
    Checkpoint, TrainOptions, edge_loss, leveled_noise, named_vars, save_varmap_atomic, vae_batch,
};
use super::unified::rng;
use crate::model::vae::{VaeConfig, WanVae};
use crate::tiny::dataset::WorldDataset;

/// Weight of a pixel of a shape (chroma over `SHAPE_CHROMA`) against a background pixel's 1.
const SHAPE_WEIGHT: f64 = 4.0;
/// Chroma (max - min channel, on the [-1, 1] scale) above which a target pixel is a shape's.
const SHAPE_CHROMA: f64 = 0.4;
/// Indices of the pictures this phase draws (disjoint from phase 1's).
const FIRST_PICTURE: u64 = 500_000_000;

pub fn refine_decoder(
    opts: &TrainOptions,
    data: &WorldDataset,
    cfg: &VaeConfig,
    dev: &Device,
    progress: super::tiny::Progress,
) -> anyhow::Result<()> {
    if opts.decoder_steps == 0 {
        return Ok(());
    }
    let weights = opts.out.join("vae.safetensors");
    let mut map = VarMap::new();
    let vae = WanVae::new(cfg, VarBuilder::from_varmap(&map, DType::F32, dev))?;
    map.load(&weights)?;
    let trained: Vec<_> = named_vars(&map)
        .into_iter()
        .filter(|(name, _)| name.starts_with("decoder.") || name.starts_with("conv2."))
        .collect();
    let mut opt = AdamW::new(trained, 0.0)?;
    let ckpt = Checkpoint::new(&opts.out, "vae_decoder");
    ckpt.resume(&mut map, &mut opt)?;
    if opt.step >= opts.decoder_steps {
        return Ok(());
    }
    let mut r = rng(opts.seed ^ 0xDEC0);
    for step in opt.step..opts.decoder_steps {
        let x = vae_batch(data, opts, step, FIRST_PICTURE, (29, 13), dev)?;
        // Normalised latents, so unit noise is one latent standard deviation.
        let z = vae.encode_detailed(&x)?.mu.detach();
        let z = (&z + leveled_noise(&z, opts.vae_latent_noise, &mut r)?)?;
        let recon = vae.decode_unclamped(&z)?;
        let weight = shape_weights(&x)?;
        let err = (&recon - &x)?;
        let rec = weighted_mean(&err.abs()?, &weight)?;
        let mse = weighted_mean(&err.sqr()?, &weight)?;
        let loss = ((&rec + &mse)? + edge_loss(&recon, &x)?)?;
        let mut grads = loss.backward()?;
        opt.clip(&mut grads, 1.0)?;
        let lr = lr_at(
            step,
            opts.decoder_steps,
            50,
            opts.vae_lr * 0.5,
            opts.vae_lr * 0.025,
        );
        opt.apply(&grads, lr)?;
        let vals = [("decoder_l1", rec.to_scalar::<f32>()? as f64)];
        if !vals[0].1.is_finite() {
            anyhow::bail!("decoder refinement diverged at step {step}; lower vae_lr");
        }
        progress("decoder", step + 1, opts.decoder_steps, &vals);
        ckpt.after_step(step, &vals, opts.checkpoint_every, (&map, &opt))?;
    }
    ckpt.save(&map, &opt)?;
    save_varmap_atomic(&map, &weights) // `tiny::run` redraws the plot next
}

/// (B, 1, T, H, W): `SHAPE_WEIGHT` where the target pixel is a shape's, 1 elsewhere.
fn shape_weights(x: &Tensor) -> Result<Tensor> {
    let chroma = (x.max_keepdim(1)? - x.min_keepdim(1)?)?;
    let is_shape = chroma.gt(SHAPE_CHROMA)?.to_dtype(DType::F32)?;
    (is_shape * (SHAPE_WEIGHT - 1.0))? + 1.0
}

/// Sum of `per_pixel * weight` over the sum of the weights (per channel).
fn weighted_mean(per_pixel: &Tensor, weight: &Tensor) -> Result<Tensor> {
    let channels = per_pixel.dim(1)? as f64;
    let num = per_pixel.broadcast_mul(weight)?.sum_all()?;
    let den = (weight.sum_all()? * channels)?;
    num / den
}
