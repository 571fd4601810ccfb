//! The bank of phase 6 (`--redraw-steps`): the finished model's own generations, each paired
//! with its picture redrawn as the world draws (`tiny::redraw`).
//!
//! Phases 3 to 5 teach the decoder to draw the true picture behind a latent, and a generated
//! latent only roughly fixes where that picture's corners are: under L1 the decoder draws the
//! average of them, rounded (README, "v10's shape misses read by eye"). The redrawn target of
//! a generated latent comes from that latent's own picture (its shapes' boxes, its
//! background), with the asked kinds drawn crisp, so one latent has one target and there is
//! nothing to average.
//!
//! The bank is built once, from training scenes' canonical captions sampled as `eval-tiny`
//! samples (`EvalOptions::request`: its steps and shift, the model's guidance and eta), on two
//! threads, and saved in the run's folder so a resumed run reuses it. Phase 2's reflow rows
//! (`ReflowPairs`, an experiment) read the same bank as noise-to-picture pairs.

use std::path::Path;
use std::sync::mpsc;

use candle_core::{DType, Device, Tensor};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::tiny::{Progress, TwoLanes, pixels};
use crate::model::vae::WanVae;
use crate::pipeline::Pipeline;
use crate::pipeline::generate::{Control, seeded_noise};
use crate::tiny::dataset::WorldDataset;
use crate::tiny::eval::EvalOptions;
use crate::tiny::grammar::canonical_caption;
use crate::tiny::redraw::{Unredrawable, redraw};

/// First training picture whose scene the bank asks for (a range no other phase draws).
const BANK_PICTURES: u64 = 950_000_000;
/// Its file in the run's folder.
pub const BANK_FILE: &str = "redraw_bank.safetensors";
/// Threads that sample it (one core each).
const WORKERS: u64 = 2;

/// Generated latents and their redrawn pictures.
pub struct RedrawBank {
    /// (N, C, 1, h, w): normalised, as the sampler ends.
    latents: Tensor,
    /// (N, 3, 1, H, W) in [-1, 1].
    targets: Tensor,
    /// Each entry's picture index (its scene and seed are `BANK_PICTURES` + it); banks saved
    /// before the reflow rows have none.
    pictures: Option<Vec<u32>>,
}

/// What one generation came to.
type Outcome = (u64, Result<(Tensor, Tensor), Unredrawable>);

impl RedrawBank {
    /// The bank in `out`, or a new one of the redrawable pictures among `pictures`
    /// generations by the model in `out` (saved there).
    pub fn load_or_build(
        out: &Path,
        pictures: usize,
        data: &WorldDataset,
        dev: &Device,
        progress: Progress,
    ) -> anyhow::Result<Self> {
        let path = out.join(BANK_FILE);
        if !path.exists() {
            build(&path, out, pictures, data, dev, progress)?;
        }
        // Always read back from the file, so a resumed run trains on the same floats.
        Self::read(&path, dev)
    }

    /// The bank saved at `path`.
    fn read(path: &Path, dev: &Device) -> anyhow::Result<Self> {
        let t = candle_core::safetensors::load(path, dev)?;
        let get = |name: &str| {
            t.get(name).cloned().ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: no tensor `{name}`; delete it to rebuild",
                    path.display()
                )
            })
        };
        let targets = get("targets")?
            .to_dtype(DType::F32)?
            .affine(2.0 / 255.0, -1.0)?;
        Ok(Self {
            latents: get("latents")?,
            targets: targets.unsqueeze(2)?,
            pictures: t.get("pictures").map(|p| p.to_vec1::<u32>()).transpose()?,
        })
    }

    pub fn len(&self) -> usize {
        self.latents.dim(0).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `size` entries drawn with replacement: (latents (B, C, 1, h, w), targets (B, 3, 1, H, W)).
    pub fn batch(&self, size: usize, r: &mut ChaCha8Rng) -> candle_core::Result<(Tensor, Tensor)> {
        let picks: Vec<u32> = (0..size)
            .map(|_| r.random_range(0..self.len() as u32))
            .collect();
        let ids = Tensor::new(picks.as_slice(), self.latents.device())?;
        Ok((
            self.latents.index_select(&ids, 0)?,
            self.targets.index_select(&ids, 0)?,
        ))
    }
}

/// Samples `pictures` generations and saves the redrawable ones at `path`.
fn build(
    path: &Path,
    out: &Path,
    pictures: usize,
    data: &WorldDataset,
    dev: &Device,
    progress: Progress,
) -> anyhow::Result<()> {
    // Checked before the sampling: the bank keeps picture indices as u32.
    if pictures > u32::MAX as usize {
        anyhow::bail!("redraw_pictures {pictures}: expected at most {}", u32::MAX);
    }
    let mut outcomes = sample(out, pictures, data, dev, progress)?;
    outcomes.sort_by_key(|o| o.0);
    let kept: Vec<(u64, (Tensor, Tensor))> = outcomes
        .into_iter()
        .filter_map(|(i, o)| o.ok().map(|pair| (i, pair)))
        .collect();
    let indices: Vec<u32> = kept.iter().map(|(i, _)| *i as u32).collect();
    let (latents, targets): (Vec<Tensor>, Vec<Tensor>) =
        kept.into_iter().map(|(_, pair)| pair).unzip();
    if latents.is_empty() {
        anyhow::bail!(
            "redraw: none of {pictures} generated pictures could be redrawn (see \
             `tiny::redraw`); the bank needs at least one"
        );
    }
    // Pictures as bytes: exact, and a quarter of the floats' size.
    let bytes = ((Tensor::cat(&targets, 0)?.squeeze(2)? + 1.0)? * 127.5)?
        .round()?
        .clamp(0f32, 255f32)?
        .to_dtype(DType::U8)?;
    let tmp = path.with_extension("tmp");
    candle_core::safetensors::save(
        &[
            ("latents", Tensor::cat(&latents, 0)?),
            ("targets", bytes),
            ("pictures", Tensor::new(indices.as_slice(), dev)?),
        ]
        .into_iter()
        .collect(),
        &tmp,
    )?;
    Ok(std::fs::rename(&tmp, path)?)
}

/// Every generation's outcome (in the order they finished), sampled by `WORKERS` threads
/// each with its own copy of the model; progress shows how many are redrawable.
fn sample(
    out: &Path,
    pictures: usize,
    data: &WorldDataset,
    dev: &Device,
    progress: Progress,
) -> anyhow::Result<Vec<Outcome>> {
    let _lanes = TwoLanes::enter();
    let (tx, rx) = mpsc::channel::<anyhow::Result<Outcome>>();
    std::thread::scope(|s| {
        for worker in 0..WORKERS {
            let tx = tx.clone();
            s.spawn(move || {
                let pipe = match Pipeline::load(out, dev, DType::F32) {
                    Ok(p) => p,
                    Err(e) => return tx.send(Err(e.into())).unwrap_or(()),
                };
                for i in (worker..pictures as u64).step_by(WORKERS as usize) {
                    let outcome = generate_and_redraw(&pipe, data, i).map(|o| (i, o));
                    let failed = outcome.is_err();
                    if tx.send(outcome).is_err() || failed {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut outcomes = Vec::with_capacity(pictures);
        let mut tally = [0f64; 4]; // redrawn, and each reason not
        for outcome in rx {
            let outcome = outcome?;
            let slot = match &outcome.1 {
                Ok(_) => 0,
                Err(Unredrawable::Count) => 1,
                Err(Unredrawable::Placement) => 2,
                Err(Unredrawable::Background) => 3,
            };
            tally[slot] += 1.0;
            outcomes.push(outcome);
            progress(
                "redraw-bank",
                outcomes.len(),
                pictures,
                &[
                    ("redrawn", tally[0]),
                    ("count_off", tally[1]),
                    ("placement_off", tally[2]),
                    ("background_off", tally[3]),
                ],
            );
        }
        Ok(outcomes)
    })
}

/// Training scene `i`'s canonical caption sampled as `eval-tiny` samples, and if its picture
/// can be redrawn, (its latent (1, C, 1, h, w), the redrawn picture (1, 3, 1, H, W)).
fn generate_and_redraw(
    pipe: &Pipeline,
    data: &WorldDataset,
    i: u64,
) -> anyhow::Result<Result<(Tensor, Tensor), Unredrawable>> {
    let scene = data.captioned_image(BANK_PICTURES + i).scene;
    let request =
        EvalOptions::default().request(pipe, canonical_caption(&scene), BANK_PICTURES + i);
    let generated = Control::none(|ctl| pipe.generate(&request, ctl))?;
    Ok(match redraw(&generated.image, &scene.shapes) {
        Ok(target) => Ok((
            generated.latent.unsqueeze(2)?,
            pixels(&[&target], pipe.device())?,
        )),
        Err(why) => Err(why),
    })
}

/// Phase 2's reflow rows (`--reflow-rows`, an experiment): each bank entry as the noise its
/// generation started from, its caption, and the latent of its redrawn picture. Trained on
/// that fixed pairing the model's prediction at every t has one picture to aim at, where on
/// fresh noise it aims at the average of every picture the caption allows.
pub struct ReflowPairs {
    /// (C, h, w) each.
    noise: Vec<Tensor>,
    latents: Vec<Tensor>,
    captions: Vec<String>,
}

impl ReflowPairs {
    /// From the bank in `out` (sampled by an earlier run with `--redraw-steps`), its redrawn
    /// pictures encoded by `vae`.
    pub fn load(out: &Path, data: &WorldDataset, vae: &WanVae) -> anyhow::Result<Self> {
        let path = out.join(BANK_FILE);
        if !path.exists() {
            anyhow::bail!(
                "reflow rows need the redraw bank {} (sampled by a run with --redraw-steps)",
                path.display()
            );
        }
        let dev = vae.device();
        let bank = RedrawBank::read(&path, dev)?;
        let Some(pictures) = bank.pictures else {
            anyhow::bail!(
                "{}: no tensor `pictures` (saved before reflow rows); delete it to rebuild",
                path.display()
            );
        };
        let mut latents = Vec::with_capacity(pictures.len());
        for start in (0..pictures.len()).step_by(32) {
            let n = 32.min(pictures.len() - start);
            let x = bank.targets.narrow(0, start, n)?;
            let mu = vae.encode_detailed(&x)?.mu.squeeze(2)?; // (n, C, h, w)
            latents.extend(
                (0..n)
                    .map(|k| mu.get(k))
                    .collect::<candle_core::Result<Vec<_>>>()?,
            );
        }
        let dims = latents.first().map(|l| l.dims3()).transpose()?;
        let Some(shape) = dims else {
            anyhow::bail!("{}: an empty bank", path.display());
        };
        let mut noise = Vec::with_capacity(pictures.len());
        let mut captions = Vec::with_capacity(pictures.len());
        for &i in &pictures {
            let seed = BANK_PICTURES + u64::from(i);
            // The generation's own start: `GenerateRequest`'s default rounds it to bf16.
            noise.push(seeded_noise(seed, shape, true, dev)?.squeeze(0)?);
            captions.push(canonical_caption(&data.captioned_image(seed).scene));
        }
        Ok(Self {
            noise,
            latents,
            captions,
        })
    }

    /// `n` pairs drawn with replacement: (caption, latent (C, h, w), noise (C, h, w)).
    pub fn rows(&self, n: usize, r: &mut ChaCha8Rng) -> Vec<(&str, Tensor, Tensor)> {
        (0..n)
            .map(|_| {
                let k = r.random_range(0..self.captions.len());
                (
                    self.captions[k].as_str(),
                    self.latents[k].clone(),
                    self.noise[k].clone(),
                )
            })
            .collect()
    }
}
