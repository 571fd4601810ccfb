//! One training step of the unified model: flow matching on text-to-image rows (the official
//! generation layout) and cross-entropy on answers after image or clip prompts (the official
//! understanding layout), summed.

use candle_core::{D, DType, IndexOp, Result, Tensor};
use image::RgbImage;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::model::mask::{Block, omni_mask};
use crate::model::{Piece, Showo2};

/// Token roles the layouts need.
#[derive(Debug, Clone, Copy)]
pub struct LayoutIds {
    pub bos: u32,
    pub eos: u32,
    pub boi: u32,
    pub eoi: u32,
    pub img_pad: u32,
    pub pad: u32,
}

/// A text-to-image example: the normalised latent (C, H, W) and its caption ids (may be empty:
/// the unconditional branch that guidance needs), and optionally a per-cell loss weight (H, W)
/// (see `shape_cell_weights`; `None` = every cell counts the same, the official loss).
pub struct T2iExample {
    pub latent: Tensor,
    pub caption: Vec<u32>,
    pub weight: Option<Tensor>,
    /// Take the previous row's noise and time instead of fresh draws. A counterfactual twin
    /// (the same scene with one shape of another kind and that noun in the caption) trained
    /// on its original's noise differs from it only where the kinds differ, so the loss
    /// difference between the two rows carries the kind word's effect without the noise that
    /// otherwise drowns it: measured on built-in v4, swapping "circle" and "square" moved the
    /// predicted velocity by 14% of what the latents say it should, almost orthogonally
    /// (cosine 0.04-0.08).
    pub shares_noise_with_previous: bool,
    /// Start from this noise (C, H, W) instead of a fresh draw (the draw still happens, so the
    /// other rows see the same stream): a reflow pair, the noise a generation started from
    /// and the picture it ended in (see `train::redraw`).
    pub noise: Option<Tensor>,
}

/// Per latent cell (`grid` x `grid` over the picture): `1 + extra` where the cell (grown by a
/// third of a cell on every side, so shape outlines count on both sides of a cell border)
/// is covered by shape pixels (or any other marked pixels, e.g. `seam_pixels`), scaling with
/// the covered fraction up to full weight at a third.
///
/// Why: a shape is a few cells of the 8x8 latent; with the plain mean the loss is mostly
/// background, and a model trained for a few thousand steps learns position and colour but
/// draws the same blob for "circle", "square" and "triangle" (measured on the v2 model:
/// same seed, the three words give near-identical pictures).
pub fn shape_cell_weights(is_shape: &[bool], side: usize, grid: usize, extra: f32) -> Vec<f32> {
    let cell = side / grid;
    let grow = cell / 3;
    let mut out = Vec::with_capacity(grid * grid);
    for gy in 0..grid {
        for gx in 0..grid {
            let (y0, y1) = (
                (gy * cell).saturating_sub(grow),
                ((gy + 1) * cell + grow).min(side),
            );
            let (x0, x1) = (
                (gx * cell).saturating_sub(grow),
                ((gx + 1) * cell + grow).min(side),
            );
            let covered = (y0..y1)
                .flat_map(|y| (x0..x1).map(move |x| (y, x)))
                .filter(|&(y, x)| is_shape[y * side + x])
                .count();
            let fraction = covered as f32 / ((y1 - y0) * (x1 - x0)) as f32;
            out.push(1.0 + extra * (3.0 * fraction).min(1.0));
        }
    }
    out
}

/// Per pixel of a square picture (row-major): within `SEAM_REACH` pixels of a change
/// between two background tones, i.e. of a two-tone background's split line (`is_shape` marks
/// the shape pixels, which are not background).
///
/// Why: eval-tiny's samples of built-in v10 keep the asked shapes in 88% of pictures drawn on a
/// plain background but 58% on a two-tone one: the model draws the straight split as a wavy
/// seam whose tone bleeds into the shapes it crosses. The seam is a line a cell wide, so with
/// the plain mean it is a small share of the loss, as the shapes were before their weight.
pub fn seam_pixels(image: &RgbImage, is_shape: &[bool]) -> Vec<bool> {
    const SEAM_REACH: usize = 2;
    // Background tones are greys at least 52 apart; a shape's blurred rim is not background.
    const TONE_STEP: i32 = 24;
    let side = image.width() as usize;
    let grey = |i: usize| i32::from(image.as_raw()[3 * i + 1]);
    let background = |i: usize| !is_shape[i];
    let mut edge = vec![false; side * side];
    for y in 0..side {
        for x in 0..side {
            let i = y * side + x;
            let right = (x + 1 < side).then_some(i + 1);
            let below = (y + 1 < side).then_some(i + side);
            for j in [right, below].into_iter().flatten() {
                if background(i) && background(j) && (grey(i) - grey(j)).abs() > TONE_STEP {
                    edge[i] = true;
                }
            }
        }
    }
    let mut near = vec![false; side * side];
    for y in 0..side {
        for x in 0..side {
            if !edge[y * side + x] {
                continue;
            }
            for ny in y.saturating_sub(SEAM_REACH)..(y + SEAM_REACH + 1).min(side) {
                for nx in x.saturating_sub(SEAM_REACH)..(x + SEAM_REACH + 1).min(side) {
                    near[ny * side + nx] = true;
                }
            }
        }
    }
    near
}

/// Extra per-cell loss weight (H, W) for a pair of counterfactual twins (latents (C, H, W)):
/// `extra` times each cell's mean absolute difference between the twins, relative to the
/// largest, so the cells where the two shape kinds differ (a square's corners against a
/// circle's rim) count up to `1 + extra` times a background cell in both rows. Zero where the
/// twins are identical (a scene whose counterfactual changed nothing visible).
///
/// Why: on built-in v5 the twins alone did not make the model use the kind word (its
/// velocity response to swapping "circle" and "square" fell from 14% to 3% of what the latents
/// ask for): the corner cells are too small a share of even the shape-weighted loss.
pub fn twin_difference_weight(a: &Tensor, b: &Tensor, extra: f32) -> Result<Tensor> {
    let d = (a - b)?.abs()?.mean(0)?; // (H, W)
    let largest = d.max_all()?.to_scalar::<f32>()?;
    if largest <= 1e-6 {
        return d.zeros_like();
    }
    d * (extra / largest) as f64
}

/// An understanding example: `before` = ids up to and including `<|vision_start|>`, the
/// visual latents (N frames, C, H, W; N = 1 for an image), `after` = `<|vision_end|>` +
/// question + assistant header, `answer` = target ids (ending with `<|im_end|>`).
pub struct QaExample {
    pub before: Vec<u32>,
    pub visual: Tensor,
    pub after: Vec<u32>,
    pub answer: Vec<u32>,
}

/// Official training t-sampling: t = sigmoid(N(0, 1)).
pub fn sample_t(rng: &mut ChaCha8Rng) -> f32 {
    let n: f32 = StandardNormal.sample(rng);
    1.0 / (1.0 + (-n).exp())
}

/// Flow-matching loss: MSE between the predicted velocity at x_t = t x1 + (1-t) x0 and x1 - x0
/// (weighted per latent cell where examples carry weights: sum(w e^2) / sum(w), per row).
pub fn flow_loss(
    model: &Showo2,
    batch: &[T2iExample],
    ids: LayoutIds,
    rng: &mut ChaCha8Rng,
) -> Result<Tensor> {
    let dev = model.device();
    let x1 = Tensor::stack(
        &batch.iter().map(|e| e.latent.clone()).collect::<Vec<_>>(),
        0,
    )?;
    let (b, c, h, w) = x1.dims4()?;
    let p = model.config().showo.patch_size;
    let n_img = (h / p) * (w / p);
    let longest = batch.iter().map(|e| e.caption.len()).max().unwrap_or(0);
    let mut rows = Vec::with_capacity(b);
    let mut blocks = Vec::with_capacity(b);
    for e in batch {
        let mut r = vec![ids.bos];
        r.extend_from_slice(&e.caption);
        r.push(ids.boi);
        blocks.push(vec![Block::new(r.len(), n_img + 1)]);
        r.extend(std::iter::repeat_n(ids.img_pad, n_img + 1));
        r.extend([ids.eoi, ids.eos]);
        r.extend(std::iter::repeat_n(ids.pad, longest - e.caption.len()));
        rows.push(Tensor::new(r.as_slice(), dev)?);
    }
    let tokens = Tensor::stack(&rows, 0)?;
    // One draw per row that does not share its predecessor's (all noise first, then all
    // times, so a batch without sharing draws exactly as before sharing existed).
    let fresh: Vec<bool> = batch
        .iter()
        .enumerate()
        .map(|(i, e)| i == 0 || !e.shares_noise_with_previous)
        .collect();
    let per_row = c * h * w;
    let mut noise = Vec::with_capacity(b * per_row);
    for &new in &fresh {
        if new {
            noise.extend((0..per_row).map(|_| -> f32 { StandardNormal.sample(rng) }));
        } else {
            noise.extend_from_within(noise.len() - per_row..);
        }
    }
    let mut x0 = Tensor::from_vec(noise, (b, c, h, w), dev)?;
    if batch.iter().any(|e| e.noise.is_some()) {
        let rows = batch
            .iter()
            .enumerate()
            .map(|(i, e)| match &e.noise {
                Some(n) => Ok(n.clone()),
                None => x0.get(i),
            })
            .collect::<Result<Vec<_>>>()?;
        x0 = Tensor::stack(&rows, 0)?;
    }
    let mut ts: Vec<f32> = Vec::with_capacity(b);
    for &new in &fresh {
        let t = if new { sample_t(rng) } else { ts[ts.len() - 1] };
        ts.push(t);
    }
    let t = Tensor::new(ts.as_slice(), dev)?;
    let tb = t.reshape((b, 1, 1, 1))?;
    let xt = (x1.broadcast_mul(&tb)? + x0.broadcast_mul(&(1.0 - &tb)?)?)?;
    let out = model.forward(&tokens, &xt, &t, &blocks, false, None)?;
    let err = (out.v - (x1 - x0)?)?.sqr()?; // (B, C, H, W)
    if batch.iter().all(|e| e.weight.is_none()) {
        return err.mean_all();
    }
    let ones = Tensor::ones((h, w), DType::F32, dev)?;
    let weights = batch
        .iter()
        .map(|e| {
            let wt = e.weight.as_ref().unwrap_or(&ones);
            // Each row's weights average to 1, so rows count equally and the loss keeps the
            // unweighted loss's scale.
            wt.broadcast_div(&wt.mean_all()?)
        })
        .collect::<Result<Vec<_>>>()?;
    let weight = Tensor::stack(&weights, 0)?
        .unsqueeze(1)?
        .to_dtype(err.dtype())?; // (B, 1, H, W)
    err.broadcast_mul(&weight)?.mean_all()
}

/// Answer cross-entropy after image/clip prompts (teacher forcing), mean over answer tokens.
/// Returns (loss, token accuracy).
pub fn answer_loss(
    model: &Showo2,
    batch: &[QaExample],
    ids: LayoutIds,
    video_grid: usize,
) -> Result<(Tensor, f64)> {
    let dev = model.device();
    let time = model.clean_time_token()?;
    let mut seqs = Vec::with_capacity(batch.len());
    let mut blocks = Vec::with_capacity(batch.len());
    let mut targets = Vec::new(); // (row, position predicting, target id)
    for (row, e) in batch.iter().enumerate() {
        let visual = if e.visual.dim(0)? == 1 {
            model.image_tokens(&e.visual, None)?.i(0)?
        } else {
            model.video_tokens(&e.visual, video_grid, None)?.i(0)?
        };
        let per_image = visual
            .dim(0)?
            .min(image_tokens_per_frame(model, &e.visual)?);
        // Official script layout: the block starts at the first visual token (after the time
        // token) and is one image long plus one.
        let offset = e.before.len() + 1;
        blocks.push(vec![Block::new(offset, per_image + 1)]);
        let mut after = e.after.clone();
        after.extend_from_slice(&e.answer);
        let prompt_len = e.before.len() + 1 + visual.dim(0)? + e.after.len();
        for (k, &id) in e.answer.iter().enumerate() {
            targets.push((row, prompt_len - 1 + k, id));
        }
        let pieces = [
            Piece::Tokens(e.before.clone()),
            Piece::Embeds(time.clone()),
            Piece::Embeds(visual),
            Piece::Tokens(after),
        ];
        seqs.push(model.assemble(&pieces)?);
    }
    let longest = seqs
        .iter()
        .map(|s| s.dim(1))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .max()
        .unwrap_or(0);
    let pad = model.embed_tokens(&Tensor::new(&[ids.pad], dev)?)?; // (1, D)
    let padded = seqs
        .iter()
        .map(|s| {
            let l = s.dim(1)?;
            if l == longest {
                return Ok(s.clone());
            }
            let fill = pad
                .unsqueeze(0)?
                .broadcast_as((1, longest - l, pad.dim(1)?))?;
            Tensor::cat(&[s, &fill.contiguous()?], 1)
        })
        .collect::<Result<Vec<_>>>()?;
    let embeds = Tensor::cat(&padded, 0)?;
    let mask = omni_mask(&blocks, 0, longest, longest, dev)?.to_dtype(model.dtype())?;
    let hidden = model
        .llm()
        .forward_embeds(&embeds, &[0], Some(&mask), None, false)?
        .last;
    let (_, _, d) = hidden.dims3()?;
    let flat = hidden.reshape((batch.len() * longest, d))?;
    let index: Vec<u32> = targets
        .iter()
        .map(|&(r, p, _)| (r * longest + p) as u32)
        .collect();
    let picked = flat.index_select(&Tensor::new(index.as_slice(), dev)?, 0)?;
    let logits = model.lm_logits(&picked)?.to_dtype(DType::F32)?;
    let want = Tensor::new(
        targets.iter().map(|t| t.2).collect::<Vec<_>>().as_slice(),
        dev,
    )?;
    let loss = candle_nn::loss::cross_entropy(&logits, &want)?;
    let hits = logits
        .argmax(D::Minus1)?
        .eq(&want)?
        .to_dtype(DType::F32)?
        .mean_all()?
        .to_scalar::<f32>()?;
    Ok((loss, hits as f64))
}

fn image_tokens_per_frame(model: &Showo2, visual: &Tensor) -> Result<usize> {
    let (_, _, h, w) = visual.dims4()?;
    let p = model.config().showo.patch_size;
    Ok((h / p) * (w / p))
}

/// A seeded generator for the training loop.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Random caption dropout (10% in the official recipe) so guidance has an unconditional branch.
pub fn drop_caption(rng: &mut ChaCha8Rng, caption: Vec<u32>, p: f64) -> Vec<u32> {
    if rng.random::<f64>() < p {
        Vec::new()
    } else {
        caption
    }
}
