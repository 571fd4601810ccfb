//! `train-tiny`: reproduces the built-in model from scratch on the procedural world.
//!
//! Phase 1 trains the Wan-architecture VAE (reconstruction + a small KL), then measures the
//! latent mean/std it produces (they become its normalisation constants, as Wan2.1's are).
//! Phase 2 trains the unified Show-o2 jointly: flow matching on text-to-image (10% empty
//! captions), answer cross-entropy on image and clip questions. Phases 3 and 4 (`decoder.rs`)
//! refine the VAE decoder alone on the frozen encoder's latents; phase 6 (since v11) trains it
//! on the model's own generations redrawn as the world draws them (`redraw.rs`), and phase 5,
//! off in the shipped recipe, sharpens it against a critic (`critic.rs`). All phases
//! checkpoint every few hundred steps into `--out` and resume from there; loss curves go to
//! `curves.csv` and `curves.png`. The finished folder is a Show-o2 checkpoint the studio loads
//! like any other.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use image::RgbImage;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde_json::json;

use super::curves;
use super::kind_head::{self, CropShapes, KindHead};
use super::optim::{AdamW, lr_at};
use super::seeded_init::SeededVarMap;
use super::spec::{PATCH_SIZES, tiny_showo2_config_with_patch, token_grid};
use super::unified::{
    LayoutIds, QaExample, T2iExample, answer_loss, flow_loss, rng, seam_pixels, shape_cell_weights,
    twin_difference_weight,
};
use crate::model::Showo2;
use crate::model::tokens::SpecialTokens;
use crate::model::vae::{VaeConfig, WanVae};
use crate::pipeline::preview::LatentRgbMap;
use crate::tiny::dataset::{Task, WorldDataset, image_to_chw};
use crate::tiny::grammar::QaPair;

/// Knobs of a training run (defaults = the shipped model).
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub out: PathBuf,
    pub resolution: u32,
    pub vae_steps: usize,
    pub vae_batch: usize,
    /// Side of the square crops the VAE trains on.
    pub vae_crop: u32,
    pub steps: usize,
    /// Latent patch side of the unified model: 1 for the shipped recipe since v9 (one token per
    /// latent cell, where the official unpatchify is the identity; see `spec::BUILTIN_PATCH`);
    /// 2 as the released checkpoints (v8 and before).
    pub patch_size: usize,
    pub t2i_batch: usize,
    pub qa_batch: usize,
    pub clip_batch: usize,
    /// Frames of a clip the model sees (sampled uniformly, each VAE-encoded on its own).
    pub clip_frames_seen: usize,
    /// Tokens per side of each clip frame: the fused frame is resized to it, as the official
    /// model resizes 27x27 to 14x14 (4 for v9; 8 = unpooled at patch 1).
    pub clip_grid: usize,
    pub lr: f64,
    /// Extra flow-loss weight of latent cells covered by shapes (0 = the official plain mean;
    /// see `shape_cell_weights`).
    pub flow_shape_weight: f32,
    /// Extra flow-loss weight of latent cells a two-tone background's split crosses (0 = none,
    /// v10; see `seam_pixels`).
    pub flow_seam_weight: f32,
    /// Train text-to-image as original/counterfactual twins sharing noise and time (see
    /// `WorldDataset::captioned_image_twins`); false = independent rows, the shipped recipe
    /// (v4, v6; twins did not help: v5 and a run with `twin_difference_weight` 12 scored no
    /// better).
    pub counterfactual_twins: bool,
    /// Extra flow-loss weight of the latent cells where twins differ (see
    /// `twin_difference_weight`; 0 = none; only with `counterfactual_twins`).
    pub twin_difference_weight: f32,
    pub vae_lr: f64,
    /// Weight of the VAE's auxiliary shape-kind loss (see `kind_head`; 0 = none, as v6; 0.1
    /// since v7).
    pub vae_kind_weight: f32,
    /// Largest relative latent noise the VAE decoder trains through (see `latent_noise`).
    pub vae_latent_noise: f32,
    /// Steps of the decoder-only refinement after phase 2 (see `decoder.rs`).
    pub decoder_steps: usize,
    /// Whole pictures per phase-3 step decoded from the phase-2 model's predictions (see
    /// `decoder.rs`; 0 = none, as v7).
    pub decoder_flow_batch: usize,
    /// Those predictions are the ends of short sampler runs, not single steps.
    pub decoder_flow_tail: bool,
    /// Steps of the decoder polish (phase 4, see `decoder.rs`; 1,500 since v10).
    pub polish_steps: usize,
    /// Largest latent noise of the polish's last step (it falls from `vae_latent_noise`).
    pub polish_noise: f32,
    /// Steps of the decoder's sharpening against a patch critic (phase 5, see `critic.rs`;
    /// 0 = none).
    pub sharpen_steps: usize,
    /// Weight of the critic's verdict in the decoder's loss during sharpening (above 0 when
    /// `sharpen_steps` is).
    pub sharpen_weight: f32,
    /// Steps of the decoder on the finished model's generations redrawn as the world draws
    /// them (phase 6, see `redraw.rs`; 0 = none). Since v11: with the bank sampled at the
    /// model's own eta 1, 1,000 steps lift text-to-image shape from 263 to 277 of 300.
    pub redraw_steps: usize,
    /// Generations sampled for phase 6's bank (those that can be redrawn are kept).
    pub redraw_pictures: usize,
    /// Bank entries a phase-6 step decodes (beside its true pictures).
    pub redraw_batch: usize,
    /// Phase 6's peak learning rate as a share of `vae_lr` (1.0 scored best of 0.25 and 1.0).
    pub redraw_lr_share: f64,
    /// Extra weight of the pixels phase 6 gets most wrong (0 = the plain loss).
    pub redraw_focus: f32,
    /// Text-to-image rows a phase-2 step adds from the redraw bank already in `out`, each on
    /// the noise its generation started from (reflow, see `redraw::ReflowPairs`; 0 = none).
    pub reflow_rows: usize,
    /// Decay of the weight average phase 2 ships (see `AdamW::with_ema`; 0 = the last weights;
    /// 0.999 since v10, which answered as well as the last weights).
    pub ema_decay: f64,
    pub checkpoint_every: usize,
    pub seed: u64,
}

impl TrainOptions {
    pub fn new(out: PathBuf) -> Self {
        Self {
            out,
            resolution: 64,
            vae_steps: 3500,
            vae_batch: 8,
            vae_crop: 32,
            steps: 6000,
            patch_size: super::spec::BUILTIN_PATCH,
            t2i_batch: 16,
            qa_batch: 12,
            clip_batch: 4,
            clip_frames_seen: super::spec::BUILTIN_CLIP_FRAMES,
            clip_grid: super::spec::BUILTIN_CLIP_GRID,
            lr: 1e-3,
            flow_shape_weight: 4.0,
            flow_seam_weight: 0.0,
            counterfactual_twins: false,
            twin_difference_weight: 12.0,
            vae_lr: 1e-3,
            vae_kind_weight: 0.1,
            vae_latent_noise: 0.3,
            decoder_steps: 2500,
            decoder_flow_batch: 4,
            decoder_flow_tail: false,
            polish_steps: 1500,
            polish_noise: 0.05,
            sharpen_steps: 0,
            sharpen_weight: 0.1,
            redraw_steps: 1000,
            redraw_pictures: 1600,
            redraw_batch: 8,
            redraw_lr_share: 1.0,
            redraw_focus: 0.0,
            reflow_rows: 0,
            ema_decay: 0.999,
            checkpoint_every: 200,
            seed: 2026,
        }
    }
}

/// Progress reported to the CLI (phase, step, total, named losses).
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize, &[(&str, f64)]);

/// The tiny VAE: Wan2.1's architecture at width 8; normalisation filled in after training.
pub fn tiny_vae_config() -> VaeConfig {
    VaeConfig {
        dim: 8,
        latent_mean: vec![0.0; 16],
        latent_std: vec![1.0; 16],
        ..VaeConfig::wan21()
    }
}

pub fn run(opts: &TrainOptions, progress: Progress) -> anyhow::Result<()> {
    if !PATCH_SIZES.contains(&opts.patch_size) {
        anyhow::bail!(
            "patch_size {}: expected one of {PATCH_SIZES:?} (the 8x8 latent of a 64 px picture)",
            opts.patch_size
        );
    }
    let token_grid = token_grid(opts.patch_size);
    if opts.clip_grid == 0 || opts.clip_grid > token_grid {
        anyhow::bail!(
            "clip_grid {}: expected 1..={token_grid} tokens a side (a clip frame is fused at \
             {token_grid}x{token_grid} at patch {} and may only be pooled, not enlarged)",
            opts.clip_grid,
            opts.patch_size
        );
    }
    if opts.clip_frames_seen < 2 {
        anyhow::bail!(
            "clip_frames_seen {}: expected at least 2 (a direction needs a first and a last \
             frame)",
            opts.clip_frames_seen
        );
    }
    if opts.sharpen_steps > 0 && !(opts.sharpen_weight > 0.0 && opts.decoder_flow_batch > 0) {
        anyhow::bail!(
            "sharpen_steps {} with sharpen_weight {} and decoder_flow_batch {}: the critic \
             judges pictures decoded from the flow model's predictions, so sharpening needs \
             a weight above 0 and at least one prediction a step",
            opts.sharpen_steps,
            opts.sharpen_weight,
            opts.decoder_flow_batch
        );
    }
    if opts.redraw_steps > 0 && (opts.redraw_pictures == 0 || opts.redraw_batch == 0) {
        anyhow::bail!(
            "redraw_steps {} with redraw_pictures {} and redraw_batch {}: the redraw phase \
             trains on a bank of generated pictures, so it needs at least one picture and \
             one bank entry a step",
            opts.redraw_steps,
            opts.redraw_pictures,
            opts.redraw_batch
        );
    }
    if opts.redraw_steps > 0 && !(opts.redraw_lr_share > 0.0 && opts.redraw_focus >= 0.0) {
        anyhow::bail!(
            "redraw_lr_share {} and redraw_focus {}: expected a learning-rate share above 0 \
             and a focus of 0 or more",
            opts.redraw_lr_share,
            opts.redraw_focus
        );
    }
    if !(0.0..1.0).contains(&opts.ema_decay) {
        anyhow::bail!(
            "ema_decay {}: expected a decay in [0, 1) (0 ships the last weights)",
            opts.ema_decay
        );
    }
    std::fs::create_dir_all(&opts.out)?;
    let dev = Device::Cpu;
    let tokenizer = crate::tiny::tokenizer::build()?;
    crate::tiny::tokenizer::save(&tokenizer, &opts.out.join("tokenizer.json"))?;
    let special = SpecialTokens::find(&tokenizer)?;
    let data = WorldDataset::train(opts.resolution, 9)?;

    let vae_cfg = train_vae(opts, &data, &dev, progress)?;
    let vae = load_vae(&opts.out, &vae_cfg, &dev)?;
    train_unified(opts, &data, &tokenizer, special, &vae, &dev, progress)?;
    super::decoder::refine_decoder(opts, &data, &vae_cfg, &dev, progress)?;
    let vae = load_vae(&opts.out, &vae_cfg, &dev)?;
    write_preview_map(&opts.out, &vae, &data, &dev)?;
    plot(&opts.out)?;
    Ok(())
}

/// The live-preview latent->RGB map fitted to the trained VAE, shipped with the weights so
/// loading the model does not have to fit it (Wan2.1's published factors do not apply).
///
/// Refitted on every run, never kept from an earlier one: the map is fitted to the decoder's
/// output, and a run that resumes a finished folder with more decoder steps (how v11 and v12
/// were made from v10's folder) changes the decoder. Keeping the file had shipped v10's map
/// with v12's decoder. The fit is deterministic, so a finished run rewrites the same bytes.
fn write_preview_map(
    out: &Path,
    vae: &WanVae,
    data: &WorldDataset,
    dev: &Device,
) -> anyhow::Result<()> {
    let map = fit_preview_map(vae, vae.config().z_dim, data, dev)?;
    map.save(&out.join(LatentRgbMap::FILE))?;
    Ok(())
}

/// Pictures [`fit_preview_map`] fits on (4,096 latent cells at 64 px).
const PREVIEW_FIT_PICTURES: u64 = 64;

/// The latent->RGB preview map of `codec`, fitted on the first training pictures of the world:
/// the model draws world pictures, and on 64 held-out ones a map fitted this way is off by
/// 21/255 a cell on average against the decoded picture, one fitted on `fit_latent_rgb`'s
/// synthetic gradients by 36/255 (README "Session 25").
pub fn fit_preview_map(
    codec: &dyn crate::pipeline::ImageCodec,
    channels: usize,
    data: &WorldDataset,
    dev: &Device,
) -> anyhow::Result<LatentRgbMap> {
    let pictures: Vec<RgbImage> = (0..PREVIEW_FIT_PICTURES).map(|i| data.image(i).1).collect();
    let refs: Vec<&RgbImage> = pictures.iter().collect();
    let px = pixels(&refs, dev)?.squeeze(2)?;
    Ok(crate::pipeline::preview::fit_latent_rgb_on(
        codec, channels, &px,
    )?)
}

pub(super) fn pixels(images: &[&RgbImage], dev: &Device) -> Result<Tensor> {
    let (w, h) = images[0].dimensions();
    let data: Vec<f32> = images.iter().flat_map(|im| image_to_chw(im)).collect();
    Tensor::from_vec(data, (images.len(), 3, 1, h as usize, w as usize), dev)
}

fn train_vae(
    opts: &TrainOptions,
    data: &WorldDataset,
    dev: &Device,
    progress: Progress,
) -> anyhow::Result<VaeConfig> {
    let cfg_path = opts.out.join("vae_config.json");
    let weights = opts.out.join("vae.safetensors");
    if cfg_path.exists() && weights.exists() {
        return Ok(VaeConfig::from_json_file(&cfg_path)?);
    }
    let cfg = tiny_vae_config();
    let mut map = VarMap::new();
    let vb = SeededVarMap::builder(&map, opts.seed, DType::F32, dev);
    let vae = WanVae::new(&cfg, vb.clone())?;
    let kind_head = (opts.vae_kind_weight > 0.0)
        .then(|| KindHead::new(cfg.z_dim, vb))
        .transpose()?;
    let ckpt = Checkpoint::new(&opts.out, "vae");
    let mut opt = AdamW::new(named_vars(&map), 0.0)?;
    ckpt.resume(&mut map, &mut opt)?;
    let mut r = rng(opts.seed);
    for step in opt.step..opts.vae_steps {
        let (x, crops) = vae_batch_with_shapes(data, opts, step, 0, (31, 17), dev)?;
        let enc = vae.encode_detailed(&x)?;
        let kind = match &kind_head {
            Some(head) => head.loss(&enc.mu_raw, &crops)?,
            None => None,
        };
        // The sampled noise is capped (sigma <= e^-2) so it never drowns the signal of a
        // freshly initialised encoder; the studio uses the deterministic mean anyway.
        let (mu, logvar) = (enc.mu_raw, enc.logvar.clamp(-12f32, -4f32)?);
        let eps: Vec<f32> = (0..mu.elem_count())
            .map(|_| StandardNormal.sample(&mut r))
            .collect();
        let z =
            (&mu + (logvar.affine(0.5, 0.0)?.exp()? * Tensor::from_vec(eps, mu.shape(), dev)?)?)?;
        let z = (&z + latent_noise(&mu, opts.vae_latent_noise, &mut r)?)?;
        let recon = vae.decode_unclamped(&z)?;
        let rec = (&recon - &x)?.abs()?.mean_all()?;
        let mse = (&recon - &x)?.sqr()?.mean_all()?;
        let kl = (((mu.sqr()? + logvar.exp()?)? - 1.0)? - &logvar)?
            .mean_all()?
            .affine(0.5, 0.0)?;
        let mut loss = ((&rec + &mse)? + edge_loss(&recon, &x)?)?.add(&(&kl * 1e-6)?)?;
        if let Some((ce, _)) = &kind {
            loss = (loss + (ce * opts.vae_kind_weight as f64)?)?;
        }
        let mut grads = loss.backward()?;
        opt.clip(&mut grads, 1.0)?;
        let lr = lr_at(step, opts.vae_steps, 100, opts.vae_lr, opts.vae_lr * 0.05);
        opt.apply(&grads, lr)?;
        let mut vals = vec![
            ("vae_l1", rec.to_scalar::<f32>()? as f64),
            ("vae_kl", kl.to_scalar::<f32>()? as f64),
        ];
        if let Some((ce, right)) = &kind {
            vals.push(("vae_kind_ce", ce.to_scalar::<f32>()? as f64));
            vals.push(("vae_kind_right", *right));
        }
        if !vals[0].1.is_finite() {
            anyhow::bail!(
                "VAE training diverged at step {step} (loss {:?}); lower vae_lr",
                vals
            );
        }
        progress("vae", step + 1, opts.vae_steps, &vals);
        ckpt.after_step(step, &vals, opts.checkpoint_every, (&map, &opt))?;
    }
    // Latent statistics over fresh images become the normalisation constants.
    let mut sum = [0f64; 16];
    let mut sq = [0f64; 16];
    let mut n = 0f64;
    for k in 0..16u64 {
        let batch: Vec<RgbImage> = (0..8)
            .map(|i| data.image(900_000_000 + k * 8 + i).1)
            .collect();
        let mu = vae
            .encode_detailed(&pixels(&batch.iter().collect::<Vec<_>>(), dev)?)?
            .mu_raw;
        let per = mu
            .permute((1, 0, 2, 3, 4))?
            .flatten_from(1)?
            .to_vec2::<f32>()?;
        for (c, vals) in per.iter().enumerate() {
            sum[c] += vals.iter().map(|&v| v as f64).sum::<f64>();
            sq[c] += vals.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
        }
        n += per[0].len() as f64;
    }
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let std: Vec<f32> = sq
        .iter()
        .zip(&mean)
        .map(|(q, m)| ((q / n - (*m as f64).powi(2)).max(1e-8)).sqrt() as f32)
        .collect();
    let cfg = VaeConfig {
        latent_mean: mean,
        latent_std: std,
        ..cfg
    };
    save_without(&map, kind_head::PREFIX, &weights)?;
    let json = json!({
        "dim": cfg.dim, "z_dim": cfg.z_dim, "dim_mult": cfg.dim_mult, "num_res_blocks": cfg.num_res_blocks,
        "attn_scales": cfg.attn_scales, "temperal_downsample": cfg.temperal_downsample,
        "latent_mean": cfg.latent_mean, "latent_std": cfg.latent_std,
        "note": "Wan2.1 VAE architecture at width 8, trained by `showo-studio train-tiny`; mean/std measured on its own latents."
    });
    std::fs::write(&cfg_path, serde_json::to_string_pretty(&json)?)?;
    Ok(cfg)
}

/// L1 between the horizontal and vertical pixel differences of `recon` and `x` (B, 3, T, H, W).
/// Plain L1/MSE are content with soft, rounded outlines (a triangle's corners are few pixels);
/// matching the gradients asks for the edges themselves, which is what tells shapes apart.
pub(super) fn edge_loss(recon: &Tensor, x: &Tensor) -> Result<Tensor> {
    let diff = |t: &Tensor, dim: usize| -> Result<Tensor> {
        let n = t.dim(dim)?;
        t.narrow(dim, 1, n - 1)? - t.narrow(dim, 0, n - 1)?
    };
    let (dy, dx) = (
        (diff(recon, 3)? - diff(x, 3)?)?.abs()?.mean_all()?,
        (diff(recon, 4)? - diff(x, 4)?)?.abs()?.mean_all()?,
    );
    dy + dx
}

/// Noise the decoder learns to see through: per sample a level `s ~ U(0, max)`, and per channel
/// `s` times that channel's spread over the batch (measured, not learnt: the encoder cannot
/// escape it by growing its latents, as it does escape a fixed-size posterior noise when the
/// KL weight is tiny). The flow model's latents are never exact; a decoder trained only on
/// exact encodings turns their errors into mottled backgrounds and ragged shapes; trained
/// through this noise it keeps shapes readable under 0.25 sd of it (README: 37/48 vs 19/48).
fn latent_noise(mu: &Tensor, max: f32, r: &mut ChaCha8Rng) -> Result<Tensor> {
    let c = mu.dim(1)?;
    let per_channel = mu.detach().transpose(0, 1)?.flatten_from(1)?; // (C, rest)
    let mean = per_channel.mean_keepdim(1)?;
    let spread = per_channel
        .broadcast_sub(&mean)?
        .sqr()?
        .mean_keepdim(1)?
        .sqrt()?
        .reshape((1, c, 1, 1, 1))?;
    leveled_noise(mu, max, r)?.broadcast_mul(&spread)
}

/// Unit Gaussian noise shaped like `like` (B, ...), scaled per sample by a level `s ~ U(0, max)`.
pub(super) fn leveled_noise(like: &Tensor, max: f32, r: &mut ChaCha8Rng) -> Result<Tensor> {
    let b = like.dim(0)?;
    let levels: Vec<f32> = (0..b).map(|_| r.random::<f32>() * max).collect();
    let mut per_sample = vec![1usize; like.rank()];
    per_sample[0] = b;
    let level = Tensor::from_vec(levels, per_sample, like.device())?;
    let eps: Vec<f32> = (0..like.elem_count())
        .map(|_| StandardNormal.sample(r))
        .collect();
    Tensor::from_vec(eps, like.shape(), like.device())?.broadcast_mul(&level)
}

/// A VAE training batch (B, 3, 1, crop, crop): crops of pictures `first + step * 1000 + i`.
/// The VAE is fully convolutional: 32x32 crops (on the 8-px latent grid) train the same
/// weights at a quarter of the cost of whole 64x64 pictures. Three crops in four are centred on
/// a shape: shapes are a small part of a picture, and random crops (mostly background) teach a
/// VAE that renders every shape grey. Crop `i` is picked by `k = step * a + i * b`.
pub(super) fn vae_batch(
    data: &WorldDataset,
    opts: &TrainOptions,
    step: usize,
    first: u64,
    picker: (u64, u64),
    dev: &Device,
) -> Result<Tensor> {
    Ok(vae_batch_with_shapes(data, opts, step, first, picker, dev)?.0)
}

/// `vae_batch`, with where each crop's shapes lie (for the kind head).
fn vae_batch_with_shapes(
    data: &WorldDataset,
    opts: &TrainOptions,
    step: usize,
    first: u64,
    (a, b): (u64, u64),
    dev: &Device,
) -> Result<(Tensor, Vec<CropShapes>)> {
    let (crops, shapes): (Vec<RgbImage>, Vec<CropShapes>) = (0..opts.vae_batch as u64)
        .map(|i| {
            let (scene, img) = data.image(first + step as u64 * 1000 + i);
            let k = (step as u64 * a + i * b) as u32;
            let focus = (!k.is_multiple_of(4))
                .then(|| scene.shapes.get(k as usize / 4 % scene.shapes.len().max(1)))
                .flatten()
                .map(|s| s.centre);
            let (crop, origin) = vae_crop(&img, opts.vae_crop, focus, k);
            let shapes = CropShapes {
                sprites: scene.shapes.iter().map(|s| s.sprite()).collect(),
                origin,
                side: crop.width(),
                resolution: img.width(),
            };
            (crop, shapes)
        })
        .unzip();
    Ok((pixels(&crops.iter().collect::<Vec<_>>(), dev)?, shapes))
}

/// A `crop`-sided square on the 8-px grid: around `focus` (normalised centre) if given,
/// else at a position picked by `k`; with its top-left corner.
fn vae_crop(
    img: &RgbImage,
    crop: u32,
    focus: Option<(f32, f32)>,
    k: u32,
) -> (RgbImage, (u32, u32)) {
    let (w, h) = img.dimensions();
    let c = crop.min(w).min(h);
    let snap = |centre: f32, side: u32| {
        let start = (centre * side as f32 - c as f32 / 2.0).round().max(0.0) as u32;
        (start / 8 * 8).min(side - c)
    };
    let (x, y) = match focus {
        Some((cx, cy)) => (snap(cx, w), snap(cy, h)),
        None => {
            let cells_x = (w - c) / 8 + 1;
            let cells_y = (h - c) / 8 + 1;
            ((k % cells_x) * 8, ((k / cells_x) % cells_y) * 8)
        }
    };
    (
        image::imageops::crop_imm(img, x, y, c, c).to_image(),
        (x, y),
    )
}

fn load_vae(dir: &Path, cfg: &VaeConfig, dev: &Device) -> anyhow::Result<WanVae> {
    let vb = unsafe {
        VarBuilder::from_mmaped_safetensors(&[dir.join("vae.safetensors")], DType::F32, dev)?
    };
    Ok(WanVae::new(cfg, vb)?)
}

pub(super) fn named_vars(map: &VarMap) -> Vec<(String, candle_core::Var)> {
    let mut v: Vec<_> = map
        .data()
        .lock()
        .expect("varmap lock")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// A phase's resumable state: `<stem>.ckpt.safetensors` (weights) and
/// `<stem>.optim.safetensors` (AdamW moments and step) in the run folder.
pub(super) struct Checkpoint {
    out: PathBuf,
    weights: PathBuf,
    optim: PathBuf,
}

impl Checkpoint {
    pub(super) fn new(out: &Path, stem: &str) -> Self {
        Self {
            out: out.to_path_buf(),
            weights: out.join(format!("{stem}.ckpt.safetensors")),
            optim: out.join(format!("{stem}.optim.safetensors")),
        }
    }

    /// Every phase's bookkeeping after step `step`: every 10th step the `curve` values go to
    /// `curves.csv`; every `every` steps the state is saved and the plot redrawn.
    pub(super) fn after_step(
        &self,
        step: usize,
        curve: &[(&str, f64)],
        every: usize,
        (map, opt): (&VarMap, &AdamW),
    ) -> anyhow::Result<()> {
        if step.is_multiple_of(10) {
            curves::append_csv(&self.out.join("curves.csv"), step, curve)?;
        }
        if (step + 1).is_multiple_of(every) {
            self.save(map, opt)?;
            plot(&self.out)?;
        }
        Ok(())
    }

    /// Continues from the saved state if there is one.
    pub(super) fn resume(&self, map: &mut VarMap, opt: &mut AdamW) -> anyhow::Result<()> {
        if self.weights.exists() {
            map.load(&self.weights)?;
            opt.load(&self.optim)?;
        }
        Ok(())
    }

    /// Each file is written whole, then renamed over the old one, so an interrupted save never
    /// leaves a truncated checkpoint behind.
    pub(super) fn save(&self, map: &VarMap, opt: &AdamW) -> anyhow::Result<()> {
        let tmp = self.optim.with_extension("safetensors.tmp");
        opt.save(&tmp)?;
        std::fs::rename(&tmp, &self.optim)?;
        save_varmap_atomic(map, &self.weights)
    }
}

/// `save_varmap_atomic` of every variable but those named `prefix.*`.
fn save_without(map: &VarMap, prefix: &str, path: &Path) -> anyhow::Result<()> {
    let kept: HashMap<String, Tensor> = named_vars(map)
        .into_iter()
        .filter(|(name, _)| !name.starts_with(&format!("{prefix}.")))
        .map(|(name, var)| (name, var.as_tensor().clone()))
        .collect();
    let tmp = path.with_extension("safetensors.tmp");
    candle_core::safetensors::save(&kept, &tmp)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

pub(super) fn save_varmap_atomic(map: &VarMap, path: &Path) -> anyhow::Result<()> {
    let tmp = path.with_extension("safetensors.tmp");
    map.save(&tmp)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn plot(out: &Path) -> anyhow::Result<()> {
    let csv = out.join("curves.csv");
    if !csv.exists() {
        return Ok(()); // nothing trained in this folder yet (e.g. `--steps 0` on a copied VAE)
    }
    let series = curves::read_csv(&csv)?;
    curves::plot(&series, 640, 360).save(out.join("curves.png"))?;
    Ok(())
}

/// Token ids of the understanding prompt pieces, laid out as `inference_mmu.py` does.
pub struct MmuText {
    pub before: Vec<u32>,
    pub after_prefix: Vec<u32>,
    pub after_suffix: Vec<u32>,
}

pub fn mmu_text(tok: &tokenizers::Tokenizer, s: SpecialTokens) -> anyhow::Result<MmuText> {
    let enc = |t: &str| -> anyhow::Result<Vec<u32>> {
        Ok(tok
            .encode(t, false)
            .map_err(anyhow::Error::msg)?
            .get_ids()
            .to_vec())
    };
    let mut before = vec![s.bos];
    before.extend(enc("system\nYou are a helpful assistant.<|im_end|>")?);
    before.extend(enc("\n<|im_start|>user\n")?);
    before.push(s.boi);
    Ok(MmuText {
        before,
        after_prefix: vec![s.eoi],
        after_suffix: enc("\n<|im_start|>assistant\n")?,
    })
}

#[allow(clippy::too_many_arguments)]
fn train_unified(
    opts: &TrainOptions,
    data: &WorldDataset,
    tok: &tokenizers::Tokenizer,
    s: SpecialTokens,
    vae: &WanVae,
    dev: &Device,
    progress: Progress,
) -> anyhow::Result<()> {
    let final_path = opts.out.join("model.safetensors");
    let vocab = tok.get_vocab_size(true);
    let cfg = tiny_showo2_config_with_patch(vocab, opts.patch_size);
    write_configs(&opts.out, &cfg, opts)?;
    if final_path.exists() {
        return Ok(());
    }
    let mut map = VarMap::new();
    let vb = SeededVarMap::builder(&map, opts.seed ^ 0x5EED_0002, DType::F32, dev);
    let model = Showo2::new(&cfg, vb)?;
    let ckpt = Checkpoint::new(&opts.out, "model");
    let mut opt = AdamW::new(named_vars(&map), 0.01)?.with_ema(opts.ema_decay)?;
    ckpt.resume(&mut map, &mut opt)?;
    let ids = LayoutIds {
        bos: s.bos,
        eos: s.eos,
        boi: s.boi,
        eoi: s.eoi,
        img_pad: s.img_pad,
        pad: s.pad,
    };
    let text = mmu_text(tok, s)?;
    let enc = |t: &str| -> anyhow::Result<Vec<u32>> {
        Ok(tok
            .encode(t, false)
            .map_err(anyhow::Error::msg)?
            .get_ids()
            .to_vec())
    };
    let vars = named_vars(&map);
    let _lanes = TwoLanes::enter();
    let reflow = (opts.reflow_rows > 0)
        .then(|| super::redraw::ReflowPairs::load(&opts.out, data, vae))
        .transpose()?;
    let mut t2i_cache = LatentCache::new(vae, dev);
    let mut qa_cache = LatentCache::new(vae, dev);
    for step in opt.step..opts.steps {
        let mut r = rng(opts.seed ^ (step as u64).wrapping_mul(0x9E37_79B9));
        // The flow-matching half and the answering half of a step build separate graphs, so
        // they run (forward and backward) on two threads and their gradients are summed: on
        // a small CPU one lane per core is about twice as fast as both cores on every op.
        let (flow_lane, answer_lane) = std::thread::scope(|scope| {
            let flow_lane = scope.spawn(|| -> anyhow::Result<(f64, GradStore, f64)> {
                let started = Instant::now();
                // A pool slot is one picture, or an original and its twin (rows 2k, 2k+1).
                let per_slot = if opts.counterfactual_twins { 2 } else { 1 };
                let slots = t2i_cache.pooled_batch(
                    Task::TextToImage,
                    (
                        step,
                        opts.t2i_batch.div_ceil(per_slot),
                        T2I_POOL / per_slot as u64,
                    ),
                    |slot, variant| {
                        if opts.counterfactual_twins {
                            data.captioned_image_twins(slot, variant).to_vec()
                        } else {
                            vec![data.captioned_image_variant(slot, variant)]
                        }
                    },
                    |pictures| pictures.iter().map(|c| &c.image).collect(),
                )?;
                let mut t2i = Vec::with_capacity(opts.t2i_batch);
                for (pictures, latents) in slots {
                    let twin_weight = (pictures.len() == 2 && opts.twin_difference_weight > 0.0)
                        .then(|| {
                            twin_difference_weight(
                                &latents.get(0)?,
                                &latents.get(1)?,
                                opts.twin_difference_weight,
                            )
                        })
                        .transpose()?;
                    for (k, c) in pictures.iter().enumerate() {
                        let latent = latents.get(k)?; // (C, h, w)
                        let shape_weight = (opts.flow_shape_weight > 0.0
                            || opts.flow_seam_weight > 0.0)
                            .then(|| {
                                flow_weight(
                                    &c.image,
                                    &latent,
                                    opts.flow_shape_weight,
                                    opts.flow_seam_weight,
                                )
                            })
                            .transpose()?;
                        let weight = match (shape_weight, &twin_weight) {
                            (Some(s), Some(t)) => Some((s + t)?),
                            (None, Some(t)) => Some((t + 1.0)?),
                            (s, None) => s,
                        };
                        t2i.push(T2iExample {
                            latent,
                            caption: enc(&c.caption)?,
                            weight,
                            shares_noise_with_previous: k > 0,
                            noise: None,
                        });
                    }
                }
                if let Some(pairs) = &reflow {
                    let mut pick = rng(opts.seed ^ 0x5EF1 ^ step as u64);
                    for (caption, latent, noise) in pairs.rows(opts.reflow_rows, &mut pick) {
                        t2i.push(T2iExample {
                            latent,
                            caption: enc(caption)?,
                            weight: None,
                            shares_noise_with_previous: false,
                            noise: Some(noise),
                        });
                    }
                }
                let f = flow_loss(&model, &t2i, ids, &mut r)?;
                let grads = f.backward()?;
                Ok((
                    f.to_scalar::<f32>()? as f64,
                    grads,
                    started.elapsed().as_secs_f64(),
                ))
            });
            let answer_lane = (|| -> anyhow::Result<(f64, f64, GradStore, f64)> {
                let started = Instant::now();
                let images = qa_cache.pooled_batch(
                    Task::ImageQuestion,
                    (step, opts.qa_batch, QA_POOL),
                    |slot, variant| data.image_question_variant(slot, variant),
                    |q| vec![&q.image],
                )?;
                let clips = qa_cache.pooled_batch(
                    Task::ClipQuestion,
                    (step, opts.clip_batch, CLIP_POOL),
                    |slot, variant| data.clip_question_variant(slot, variant),
                    |c| {
                        uniform_frames(c.frames.len(), opts.clip_frames_seen)
                            .into_iter()
                            .map(|k| &c.frames[k])
                            .collect()
                    },
                )?;
                let examples = |pairs: Vec<(QaPair, Tensor)>| {
                    pairs
                        .into_iter()
                        .map(|(qa, visual)| {
                            let (question, answer) = (enc(&qa.question)?, enc(&qa.answer)?);
                            Ok(qa_example(&text, question, answer, s.eos, visual))
                        })
                        .collect::<anyhow::Result<Vec<_>>>()
                };
                let image_qa = examples(images.into_iter().map(|(q, v)| (q.qa, v)).collect())?;
                let clip_qa = examples(clips.into_iter().map(|(c, v)| (c.qa, v)).collect())?;
                // Pictures and clips go through the LLM as separate batches: padded together,
                // every picture row would carry a clip's length of padding.
                let (a, acc) = answers_loss(&model, [&image_qa, &clip_qa], ids, opts.clip_grid)?;
                let grads = a.backward()?;
                let seconds = started.elapsed().as_secs_f64();
                Ok((a.to_scalar::<f32>()? as f64, acc, grads, seconds))
            })();
            let flow_lane = flow_lane
                .join()
                .map_err(|_| anyhow::anyhow!("the flow-matching lane panicked"));
            (flow_lane, answer_lane)
        });
        let (f, flow_grads, flow_s) = flow_lane??;
        let (a, acc, answer_grads, answer_s) = answer_lane?;
        let mut grads = sum_grads(flow_grads, &answer_grads, &vars)?;
        let norm = opt.clip(&mut grads, 1.0)?;
        let lr = lr_at(step, opts.steps, 200, opts.lr, opts.lr * 0.05);
        opt.apply(&grads, lr)?;
        let vals = [
            ("flow", f),
            ("answer_ce", a),
            ("answer_acc", acc),
            ("grad_norm", norm),
            // Wall seconds of each lane: the step waits for the slower, so these say which
            // batch (`t2i_batch` or `qa_batch`/`clip_batch`) to shrink or may grow for free.
            ("flow_lane_s", flow_s),
            ("answer_lane_s", answer_s),
        ];
        progress("unified", step + 1, opts.steps, &vals);
        ckpt.after_step(step, &vals[..2], opts.checkpoint_every, (&map, &opt))?;
    }
    // Ship the averaged weights (the raw ones stay in the checkpoint).
    for (name, var) in &vars {
        if let Some(avg) = opt.ema().and_then(|e| e.get(name)) {
            var.set(avg)?;
        }
    }
    save_varmap_atomic(&map, &final_path)?;
    plot(&opts.out)?;
    Ok(())
}

/// The (h, w) flow-loss weights of a picture whose latent is `latent` (C, h, w): `extra` on
/// the cells shapes cover, `seam_extra` on those a two-tone background's split crosses (see
/// `seam_pixels`; 0 = none, which leaves the shape weights exactly as they were).
fn flow_weight(image: &RgbImage, latent: &Tensor, extra: f32, seam_extra: f32) -> Result<Tensor> {
    let (_, h, w) = latent.dims3()?;
    let side = image.width() as usize;
    debug_assert!(h == w && image.height() as usize == side);
    let is_shape = crate::tiny::checker::shape_pixels(image);
    let mut weights = shape_cell_weights(&is_shape, side, h, extra);
    if seam_extra > 0.0 {
        let seam = seam_pixels(image, &is_shape);
        for (w, s) in weights
            .iter_mut()
            .zip(shape_cell_weights(&seam, side, h, seam_extra))
        {
            *w += s - 1.0;
        }
    }
    Tensor::from_vec(weights, (h, w), latent.device())
}

/// `a + b` per parameter (a parameter missing from one store takes the other's gradient).
pub(super) fn sum_grads(
    mut a: GradStore,
    b: &GradStore,
    vars: &[(String, Var)],
) -> Result<GradStore> {
    for (_, var) in vars {
        if let Some(gb) = b.get(var) {
            let sum = match a.remove(var) {
                Some(ga) => (ga + gb)?,
                None => gb.clone(),
            };
            a.insert(var, sum);
        }
    }
    Ok(a)
}

/// While alive, each candle op runs on the calling thread's core alone (the two lanes of phase
/// 2, of the decoder phases and of the redraw bank's sampling take one core each; the tensors
/// are too small for a second core per op to pay). The old setting comes back on drop, so
/// phase 1 runs as it always has.
pub(super) struct TwoLanes {
    previous: Option<std::ffi::OsString>,
}

impl TwoLanes {
    pub(super) fn enter() -> Self {
        // Make sure rayon's global pool (used by candle's element-wise ops) is sized from the
        // machine before the variable below would shrink it to one thread.
        let _ = rayon::ThreadPoolBuilder::new().build_global();
        let previous = std::env::var_os("RAYON_NUM_THREADS");
        let per_lane = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
        // SAFETY: called between phases, when no other thread of this program reads the
        // environment (rayon's workers are idle and never do).
        unsafe { std::env::set_var("RAYON_NUM_THREADS", per_lane.to_string()) };
        Self { previous }
    }
}

impl Drop for TwoLanes {
    fn drop(&mut self) {
        // SAFETY: as in `enter`, the lanes have finished.
        unsafe {
            match &self.previous {
                Some(v) => std::env::set_var("RAYON_NUM_THREADS", v),
                None => std::env::remove_var("RAYON_NUM_THREADS"),
            }
        }
    }
}

/// Answer cross-entropy over several batches, weighted by answer tokens so it equals one
/// batch's mean; returns (loss, token accuracy).
fn answers_loss(
    model: &Showo2,
    batches: [&[QaExample]; 2],
    ids: LayoutIds,
    video_grid: usize,
) -> Result<(Tensor, f64)> {
    let tokens = |b: &[QaExample]| b.iter().map(|e| e.answer.len()).sum::<usize>() as f64;
    let total: f64 = batches.iter().map(|b| tokens(b)).sum();
    let mut loss = Tensor::zeros((), DType::F32, model.device())?;
    let mut acc = 0.0;
    for b in batches.into_iter().filter(|b| !b.is_empty()) {
        let share = tokens(b) / total;
        let (l, a) = answer_loss(model, b, ids, video_grid)?;
        loss = (loss + (l * share)?)?;
        acc += a * share;
    }
    Ok((loss, acc))
}

/// Distinct pictures (and clips) phase 2 draws from. Sample `i` of a run is pool slot
/// `i % POOL` with word draw `i / POOL`: every epoch revisits the same pictures, whose
/// latents are cached, with fresh captions and questions.
/// Pools are large enough that a run sees each picture only a few times: with 4,096
/// pictures the answer half overfitted (a longer run answered held-out questions worse).
/// Encoding a picture costs ~13 ms once, so the pools add about 15 minutes to the first epoch.
/// `T2I_POOL` counts pictures: with counterfactual twins it holds half as many scenes.
const T2I_POOL: u64 = 32768;
const QA_POOL: u64 = 16384;
const CLIP_POOL: u64 = 4096;

/// Normalised VAE latents of pooled samples, encoded once. The VAE is frozen in phase 2, so
/// re-encoding a revisited picture would only repeat work (it is most of a step's cost).
struct LatentCache<'a> {
    vae: &'a WanVae,
    dev: &'a Device,
    known: HashMap<(Task, u64), Tensor>,
}

impl<'a> LatentCache<'a> {
    fn new(vae: &'a WanVae, dev: &'a Device) -> Self {
        Self {
            vae,
            dev,
            known: HashMap::new(),
        }
    }

    /// Batch `step` (of `batch` samples from a pool of `pool`) of one task: each sample drawn by
    /// `sample(slot, variant)` (sample `i` is slot `i % pool`, word draw `i / pool`) with the
    /// latents of the frames `frames` picks from it.
    fn pooled_batch<T>(
        &mut self,
        task: Task,
        (step, batch, pool): (usize, usize, u64),
        sample: impl Fn(u64, u64) -> T,
        frames: impl Fn(&T) -> Vec<&RgbImage>,
    ) -> Result<Vec<(T, Tensor)>> {
        let samples: Vec<(u64, T)> = WorldDataset::batch_indices(step as u64, batch)
            .map(|i| (i % pool, sample(i % pool, i / pool)))
            .collect();
        let items: Vec<(u64, Vec<&RgbImage>)> =
            samples.iter().map(|(slot, x)| (*slot, frames(x))).collect();
        let latents = self.latents(task, &items)?;
        drop(items);
        Ok(samples.into_iter().map(|(_, x)| x).zip(latents).collect())
    }

    /// Latents (frames, C, h, w) of each (slot, frames); the misses are encoded in one batch,
    /// every frame on its own as the understanding path sees them.
    fn latents(&mut self, task: Task, items: &[(u64, Vec<&RgbImage>)]) -> Result<Vec<Tensor>> {
        let missing: Vec<&(u64, Vec<&RgbImage>)> = items
            .iter()
            .filter(|(slot, _)| !self.known.contains_key(&(task, *slot)))
            .collect();
        if !missing.is_empty() {
            let frames: Vec<&RgbImage> = missing
                .iter()
                .flat_map(|(_, f)| f.iter().copied())
                .collect();
            let lat = self
                .vae
                .sample_deterministic(&pixels(&frames, self.dev)?)?
                .squeeze(2)?;
            let mut at = 0;
            for (slot, f) in missing {
                self.known
                    .insert((task, *slot), lat.narrow(0, at, f.len())?);
                at += f.len();
            }
        }
        items
            .iter()
            .map(|(slot, _)| Ok(self.known[&(task, *slot)].clone()))
            .collect()
    }
}

fn qa_example(
    text: &MmuText,
    question: Vec<u32>,
    answer: Vec<u32>,
    eos: u32,
    visual: Tensor,
) -> QaExample {
    let mut after = text.after_prefix.clone();
    after.extend(question);
    after.extend(text.after_suffix.iter().copied());
    let mut answer = answer;
    answer.push(eos);
    QaExample {
        before: text.before.clone(),
        visual,
        after,
        answer,
    }
}

/// `linspace(0, n-1, k)` cast to int, as the official frame sampler.
pub fn uniform_frames(n: usize, k: usize) -> Vec<usize> {
    if k <= 1 || n <= 1 {
        return vec![0; k.min(1).max(usize::from(n > 0))];
    }
    (0..k)
        .map(|i| ((n - 1) as f64 * i as f64 / (k - 1) as f64) as usize)
        .collect()
}

fn write_configs(
    out: &Path,
    cfg: &crate::model::Showo2Config,
    opts: &TrainOptions,
) -> anyhow::Result<()> {
    let s = &cfg.showo;
    let config = json!({
        "_class_name": "Showo2Qwen2_5",
        "llm_vocab_size": s.llm_vocab_size, "llm_model_path": "qwen2_config.json", "load_from_showo": true,
        "image_latent_dim": s.image_latent_dim, "image_latent_height": s.image_latent_height, "image_latent_width": s.image_latent_width,
        "video_latent_height": s.video_latent_height, "video_latent_width": s.video_latent_width, "patch_size": s.patch_size,
        "hidden_size": s.hidden_size, "clip_latent_dim": s.clip_latent_dim, "num_diffusion_layers": s.num_diffusion_layers,
        "add_time_embeds": true, "add_qk_norm": true, "clip_pretrained_model_path": "siglip_config.json",
    });
    // Studio settings of this checkpoint (the pipeline's defaults are the official ones).
    let studio = json!({
        "max_text_len": 32, "video_frames": opts.clip_frames_seen, "video_grid": opts.clip_grid,
        "max_image_tokens": 4 * s.image_latent_height * s.image_latent_width,
        // Measured with eval-tiny (100 samples) on built-in v3: 2 / 4 jumps give inpainting
        // 55 / 65% and extension 31 / 46%; without jumps an earlier run extended 11%.
        "resample": 4,
        // Measured with eval-tiny (100 samples) on built-in v4: extension from pure noise
        // (strength 1) paints a generic grey over the new area, 33%; started from the repeated
        // edge at strength 0.5 / 0.4 it continues the background, 80% / 84%. Inpainting (a
        // recolour) at strength 1 / 0.8 / 0.6 / 0.5: 51% / 57% / 59% / 59%.
        "inpaint_strength": 0.6,
        "extend_strength": 0.4,
        // Measured with eval-tiny on built-in v7 (text-to-image colour / shape / position): at
        // 100 samples guidance 4 gives 67 / 23 / 82%, 2 gives 84 / 39 / 96% (and inpainting
        // 72 -> 86%); at 40 samples 3 gives 78 / 38 / 90%, 2 88 / 43 / 93%, 1.5 90 / 40 / 93%.
        "guidance": 2.0,
        // eval-tiny measures every model at 20 Euler steps, and 20 keeps text-to-image at the
        // native 64 px well under a second on 2 cores (the official 49 takes 1.3-2.1 s there).
        "steps": 20,
        // Measured with eval-tiny on built-in v10 (text-to-image colour / shape / position, 100
        // samples): Euler (eta 0) 99 / 76 / 100, eta 0.8 98 / 87 / 99, 0.9 100 / 90 / 100,
        // 1 100 / 94 / 100 (300 samples: 99.0 / 87.7 / 99.7 against Euler's 97.3 / 76.0 /
        // 99.3); v11 at eta 1: 100 / 96 / 100, on 300 samples 99.7 / 92.3 / 99.7; v12 100 /
        // 98 / 100, on 300 samples 99.7 / 94.3 / 99.7.
        "eta": 1.0,
    });
    let l = &cfg.llm;
    let qwen = json!({
        "model_type": "qwen2", "hidden_size": l.hidden_size, "intermediate_size": l.intermediate_size,
        "num_hidden_layers": l.num_hidden_layers, "num_attention_heads": l.num_attention_heads,
        "num_key_value_heads": l.num_key_value_heads, "rope_theta": l.rope_theta, "rms_norm_eps": l.rms_norm_eps,
        "tie_word_embeddings": l.tie_word_embeddings, "vocab_size": l.vocab_size, "max_position_embeddings": l.max_position_embeddings,
    });
    let v = &cfg.siglip;
    let siglip = json!({"vision_config": {
        "hidden_size": v.hidden_size, "intermediate_size": v.intermediate_size, "num_attention_heads": v.num_attention_heads,
        "num_hidden_layers": v.num_hidden_layers, "layer_norm_eps": v.layer_norm_eps, "image_size": v.image_size,
        "patch_size": v.patch_size, "hidden_act": "gelu_pytorch_tanh"}});
    let f = &cfg.flow;
    let flow = json!({
        "hidden_size": f.hidden_size, "num_attention_heads": f.num_attention_heads, "num_key_value_heads": f.num_key_value_heads,
        "head_dim": f.head_dim, "intermediate_size": f.intermediate_size, "rms_norm_eps": f.rms_norm_eps,
        "qk_norm_eps": f.qk_norm_eps, "final_norm_eps": f.final_norm_eps, "rope_theta": f.rope_theta,
        "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
        "time_embed_frequency_dim": f.time_embed_frequency_dim,
    });
    for (name, value) in [
        ("config.json", config),
        ("studio.json", studio),
        ("qwen2_config.json", qwen),
        ("siglip_config.json", siglip),
        ("flow_head_config.json", flow),
    ] {
        std::fs::write(out.join(name), serde_json::to_string_pretty(&value)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::IndexOp;

    /// The seam of a two-tone background (white left, black right, split at x = 32) marks the
    /// pixels within two of the split and weights the two latent columns beside it; a shape on
    /// the split adds no seam of its own, and a weight of 0 leaves the shape weights as they were.
    #[test]
    fn a_two_tone_split_weights_the_cells_it_crosses() {
        let side = 64;
        let image = RgbImage::from_fn(side as u32, side as u32, |x, y| {
            let in_square = (28..36).contains(&x) && (4..12).contains(&y);
            image::Rgb(match (in_square, x < 32) {
                (true, _) => [200, 30, 30],
                (false, true) => [240, 240, 240],
                (false, false) => [20, 20, 20],
            })
        });
        let is_shape = crate::tiny::checker::shape_pixels(&image);
        let seam = seam_pixels(&image, &is_shape);
        for y in [20, 40, 63] {
            assert!(
                (29..=33).all(|x| seam[y * side + x]),
                "row {y} at the split"
            );
            assert!(
                !seam[y * side + 26] && !seam[y * side + 36],
                "row {y} away from it"
            );
        }
        assert!(
            !seam[8 * side + 31],
            "inside the square, which is no background"
        );

        let latent = Tensor::zeros((16, 8, 8), DType::F32, &Device::Cpu).unwrap();
        let shape_only = flow_weight(&image, &latent, 4.0, 0.0).unwrap();
        let with_seam = flow_weight(&image, &latent, 4.0, 3.0).unwrap();
        let cells = |t: &Tensor| t.to_vec2::<f32>().unwrap();
        let (a, b) = (cells(&shape_only), cells(&with_seam));
        assert_eq!(a[5][0], 1.0, "plain background");
        for (row, cells) in b.iter().enumerate().skip(2) {
            assert_eq!(cells[3], 4.0, "left of the split, row {row}");
            assert_eq!(cells[4], 4.0, "right of the split, row {row}");
            assert_eq!(cells[0], 1.0, "far from it, row {row}");
        }
        let expected = shape_cell_weights(&is_shape, side, 8, 4.0);
        assert_eq!(a.concat(), expected, "weight 0 adds nothing");
    }

    /// Patch 1 quadruples the image tokens at 64 px (8x8 instead of 4x4) and sizes the semantic
    /// position table to that grid; at either patch the model built from it turns an 8x8
    /// latent into a grid of tokens, and a clip into the fused grid per frame (each frame then
    /// exactly a picture's tokens) or any smaller, pooled one.
    #[test]
    fn patch_one_has_an_eight_by_eight_grid_and_clip_frames_pool_to_any_smaller_grid() {
        let dev = Device::Cpu;
        for (patch, grid) in [(1, 8), (2, 4)] {
            let cfg = tiny_showo2_config_with_patch(40, patch);
            assert_eq!(cfg.native_grid(), (grid, grid));
            assert_eq!(cfg.native_pixels(), (64, 64));
            assert_eq!(cfg.siglip.position_grid(), grid);
            let map = VarMap::new();
            let model = Showo2::new(&cfg, VarBuilder::from_varmap(&map, DType::F32, &dev)).unwrap();
            let latents = Tensor::zeros((1, 16, 8, 8), DType::F32, &dev).unwrap();
            let tokens = model.image_tokens(&latents, None).unwrap();
            assert_eq!(tokens.dims(), [1, grid * grid, 128]);
            let frames = Tensor::randn(0f32, 1.0, (3, 16, 8, 8), &dev).unwrap();
            let first = model.image_tokens(&frames.i(0..1).unwrap(), None).unwrap();
            for clip_grid in [grid, 4] {
                let clip = model.video_tokens(&frames, clip_grid, None).unwrap();
                assert_eq!(clip.dims(), [1, 3 * clip_grid * clip_grid, 128]);
            }
            // Unpooled, a frame's tokens are exactly the picture's.
            let unpooled = model
                .video_tokens(&frames.i(0..1).unwrap(), grid, None)
                .unwrap();
            let diff = (unpooled - &first)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap();
            let (diff, scale) = (
                diff.to_scalar::<f32>().unwrap(),
                first
                    .abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap(),
            );
            assert!(
                diff <= 1e-5 * scale,
                "patch {patch}: unpooled frame differs by {diff} (largest token value {scale})"
            );
        }
    }

    /// Two lanes' gradients, summed, are the gradient of the summed loss.
    #[test]
    fn summed_lane_gradients_equal_the_joint_gradient() {
        let dev = Device::Cpu;
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &dev);
        let w = vb
            .get_with_hints(4, "w", candle_nn::Init::Const(0.5))
            .unwrap();
        let u = vb
            .get_with_hints(4, "u", candle_nn::Init::Const(-1.0))
            .unwrap();
        let x = Tensor::new(&[1f32, 2.0, 3.0, 4.0], &dev).unwrap();
        let first = || (&w * &x).unwrap().sqr().unwrap().sum_all().unwrap(); // w only
        let second = || (&w + &u).unwrap().exp().unwrap().sum_all().unwrap(); // w and u
        let vars = named_vars(&map);
        let joint = (first() + second()).unwrap().backward().unwrap();
        let lanes = sum_grads(
            first().backward().unwrap(),
            &second().backward().unwrap(),
            &vars,
        )
        .unwrap();
        for (name, var) in &vars {
            let a = joint.get(var).unwrap().to_vec1::<f32>().unwrap();
            let b = lanes.get(var).unwrap().to_vec1::<f32>().unwrap();
            for (p, q) in a.iter().zip(&b) {
                assert!((p - q).abs() < 1e-5, "{name}: {a:?} vs {b:?}");
            }
        }
    }
}
