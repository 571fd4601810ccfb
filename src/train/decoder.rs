//! Phases 3 and 4 of `train-tiny`: the VAE decoder alone, refined on the frozen encoder's
//! latents.
//!
//! Phase 1 shares its steps between the encoder and a decoder that learns to see through
//! latent noise; shapes are a small share of the pixels, so the colours of small shapes (blue
//! against purple) come out less exact than the backgrounds. Phase 3 trains the decoder on,
//! with shape pixels weighted up, through the same noise. Noisy latents teach it to forgive the
//! flow model's errors, but under L1 the best guess behind noise is a rounded shape (a small
//! square decodes as a rounded one, which the checker reads as a circle); phase 4 polishes on
//! latents whose noise falls to `polish_noise`, which gives the corners back. The encoder, and
//! so every latent phase 2 trained on, is unchanged, which is also why these phases may run
//! after (or beside) phase 2.

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
/// First picture each stage draws (disjoint ranges, none of phase 1's).
const REFINE_PICTURES: u64 = 500_000_000;
const POLISH_PICTURES: u64 = 600_000_000;

/// One decoder-only stage: its progress name, its loss series `<name>_l1` in `curves.csv` and
/// its checkpoint stem `vae_<name>`.
struct Stage {
    name: &'static str,
    steps: usize,
    /// Largest latent noise at the first and the last step (linear in between).
    noise: (f32, f32),
    /// Peak learning rate, as a share of `vae_lr`.
    lr_share: f64,
    first_picture: u64,
}

/// Phase 3, then phase 4 (each skipped when it has no steps or is already done).
pub fn refine_decoder(
    opts: &TrainOptions,
    data: &WorldDataset,
    cfg: &VaeConfig,
    dev: &Device,
    progress: super::tiny::Progress,
) -> anyhow::Result<()> {
    let refine = Stage {
        name: "decoder",
        steps: opts.decoder_steps,
        noise: (opts.vae_latent_noise, opts.vae_latent_noise),
        lr_share: 0.5,
        first_picture: REFINE_PICTURES,
    };
    let polish = Stage {
        name: "polish",
        steps: opts.polish_steps,
        noise: (opts.vae_latent_noise, opts.polish_noise),
        lr_share: 0.25,
        first_picture: POLISH_PICTURES,
    };
    for stage in [refine, polish] {
        run_stage(&stage, opts, data, cfg, dev, progress)?;
    }
    Ok(())
}

fn run_stage(
    stage: &Stage,
    opts: &TrainOptions,
    data: &WorldDataset,
    cfg: &VaeConfig,
    dev: &Device,
    progress: super::tiny::Progress,
) -> anyhow::Result<()> {
    if stage.steps == 0 {
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
    let ckpt = Checkpoint::new(&opts.out, &format!("vae_{}", stage.name));
    ckpt.resume(&mut map, &mut opt)?;
    if opt.step >= stage.steps {
        return Ok(());
    }
    // Phase 3 keeps the noise stream it always had.
    let mut r = rng(opts.seed ^ 0xDEC0 ^ (stage.first_picture - REFINE_PICTURES));
    let series = format!("{}_l1", stage.name);
    for step in opt.step..stage.steps {
        let x = vae_batch(data, opts, step, stage.first_picture, (29, 13), dev)?;
        // Normalised latents, so unit noise is one latent standard deviation.
        let z = vae.encode_detailed(&x)?.mu.detach();
        let progress_share = step as f32 / stage.steps as f32;
        let max_noise = stage.noise.0 + (stage.noise.1 - stage.noise.0) * progress_share;
        let z = (&z + leveled_noise(&z, max_noise, &mut r)?)?;
        let recon = vae.decode_unclamped(&z)?;
        let weight = shape_weights(&x)?;
        let err = (&recon - &x)?;
        let rec = weighted_mean(&err.abs()?, &weight)?;
        let mse = weighted_mean(&err.sqr()?, &weight)?;
        let loss = ((&rec + &mse)? + edge_loss(&recon, &x)?)?;
        let mut grads = loss.backward()?;
        opt.clip(&mut grads, 1.0)?;
        let peak = opts.vae_lr * stage.lr_share;
        let lr = lr_at(step, stage.steps, 50, peak, peak * 0.05);
        opt.apply(&grads, lr)?;
        let vals = [(series.as_str(), rec.to_scalar::<f32>()? as f64)];
        if !vals[0].1.is_finite() {
            anyhow::bail!("{} diverged at step {step}; lower vae_lr", stage.name);
        }
        progress(stage.name, step + 1, stage.steps, &vals);
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
