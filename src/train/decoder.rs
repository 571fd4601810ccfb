//! Phases 3 to 6 of `train-tiny`: the VAE decoder alone, refined on the frozen encoder's
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
//!
//! Phase 5 (`--sharpen-steps`, 0 in the shipped recipe) goes on from phase 4 with a patch
//! critic (`critic.rs`) judging the pictures decoded from the flow model's predictions, so
//! that committing to a corner pays more than averaging it. Tried on v10 it did not change the
//! checker's shape score (see the README).
//!
//! Phase 6 (`--redraw-steps`, 1,000 in the shipped recipe since v11) goes on from phase 4 (or
//! 5) on a bank of the finished model's generations, each paired with its picture redrawn
//! crisp (`redraw.rs`). On a bank sampled with Euler steps it lifted v10's shape by at most
//! sampling error; on one sampled with the ancestral steps the model asks for (eta 1) it lifts
//! shape from 263 to 277 of 300 (see the README, "Why v11"; v12, the same recipe on two
//! lanes, 283).
//!
//! Since v8 phase 3 also decodes the flow model's own predictions (`decoder_flow_batch` whole
//! pictures a step, see `FlowPredictions`) back to the true pictures. On v7 a linear probe
//! reads the asked kind in the generated latent for 22 of 23 one-shape prompts while the
//! decoded pixels show it for 12: the flow model writes the kind the VAE's kind head taught
//! the encoder to write, but its cells are smoother than any the decoder saw, and the decoder
//! draws a smooth blob as a circle. Noise added to true latents is not that error.

use std::ops::Range;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::critic::Critic;
use super::optim::{AdamW, lr_at};
use super::redraw::RedrawBank;
use super::seeded_init::SeededVarMap;
use super::tiny::{
    Checkpoint, TrainOptions, TwoLanes, edge_loss, leveled_noise, named_vars, pixels,
    save_varmap_atomic, sum_grads, vae_batch,
};
use super::unified::rng;
use crate::model::vae::{VaeConfig, WanVae};
use crate::pipeline::Pipeline;
use crate::pipeline::generate::Guided;
use crate::pipeline::preview::predicted_clean;
use crate::pipeline::sampler::{euler, on_path, time_grid};
use crate::tiny::dataset::WorldDataset;
use crate::tiny::eval::EvalOptions;
use crate::tiny::grammar::canonical_caption;

/// Weight of a pixel of a shape (chroma over `SHAPE_CHROMA`) against a background pixel's 1.
const SHAPE_WEIGHT: f64 = 4.0;
/// Chroma (max - min channel, on the [-1, 1] scale) above which a target pixel is a shape's.
const SHAPE_CHROMA: f64 = 0.4;
/// First picture each stage draws (disjoint ranges, none of phase 1's).
const REFINE_PICTURES: u64 = 500_000_000;
const POLISH_PICTURES: u64 = 600_000_000;
const PREDICTED_PICTURES: u64 = 700_000_000;
const SHARPEN_PICTURES: u64 = 800_000_000;
const REDRAW_PICTURES: u64 = 850_000_000;
/// The flow model's predictions come from points x_t with t drawn in this range: the sampler's
/// last Euler step returns the prediction at its last grid point (t = 0.86 at 20 steps on the
/// shift-3 grid, 0.94 at 49), reached along the model's own, less exact path.
const PREDICTED_T: (f32, f32) = (0.5, 0.95);
/// With `decoder_flow_tail`, the sampler runs `eval-tiny`'s grid from a start drawn in this
/// range (the tail is the grid's points past it).
const TAIL_START: (f32, f32) = (0.3, 0.7);

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
    /// Whole pictures a step decoded from the flow model's predictions (0 = none).
    predicted_batch: usize,
    /// Those predictions are the end of a sampler run, not one step (see `FlowPredictions`).
    predicted_by_tail: bool,
    /// Generated latents and their redrawn pictures a step (0 = none; see `redraw.rs`).
    redrawn_batch: usize,
    /// Weight of the critic's verdict in the decoder's loss (0 = no critic; see `critic.rs`).
    adversarial_weight: f32,
}

/// The critic's learning rate as a share of the decoder's at the same step.
const CRITIC_LR_SHARE: f64 = 10.0;

/// A stage's critic, its optimiser and checkpoint (`vae_<stage>_critic`), and its verdict's
/// weight in the decoder's loss.
struct Sharpening {
    critic: Critic,
    weight: f64,
    map: VarMap,
    opt: AdamW,
    ckpt: Checkpoint,
}

impl Sharpening {
    fn new(stage: &Stage, opts: &TrainOptions, dev: &Device) -> anyhow::Result<Self> {
        let mut map = VarMap::new();
        let vb = SeededVarMap::builder(&map, opts.seed ^ 0xC217, DType::F32, dev);
        let critic = Critic::new(vb.pp("critic"))?;
        // GAN practice: a short memory of the first moment, so the critic follows the
        // decoder as it moves.
        let mut opt = AdamW::new(named_vars(&map), 0.0)?;
        (opt.beta1, opt.beta2) = (0.5, 0.9);
        let ckpt = Checkpoint::new(&opts.out, &format!("vae_{}_critic", stage.name));
        ckpt.resume(&mut map, &mut opt)?;
        Ok(Self {
            critic,
            weight: f64::from(stage.adversarial_weight),
            map,
            opt,
            ckpt,
        })
    }

    /// For pictures a lane decoded (B, 3, 1, H, W): the weighted term the decoder's loss
    /// gains, the pictures as the critic saw them (clamped to the range a picture can have,
    /// so the critic cannot win on out-of-range values alone, and detached for the critic's
    /// own step), and the unweighted fooling loss for the curves.
    fn judge(&self, decoded: &Tensor) -> Result<(Tensor, Tensor, f64)> {
        let pictures = decoded.squeeze(2)?.clamp(-1f32, 1f32)?;
        let fooling = self.critic.fooling_loss(&pictures)?;
        let term = (&fooling * self.weight)?;
        Ok((term, pictures.detach(), fooling.to_scalar::<f32>()? as f64))
    }

    /// One critic step on the true pictures (B, 3, 1, H, W) against the `judged` ones (B, 3,
    /// H, W), after the decoder's step: the critic's hinge loss for the curves.
    fn train_critic(&mut self, truth: &Tensor, judged: &Tensor, lr: f64) -> Result<f64> {
        let loss = self.critic.hinge_loss(&truth.squeeze(2)?, judged)?;
        let mut grads = loss.backward()?;
        self.opt.clip(&mut grads, 1.0)?;
        self.opt.apply(&grads, lr * CRITIC_LR_SHARE)?;
        Ok(loss.to_scalar::<f32>()? as f64)
    }

    /// Saves at the steps the stage's checkpoint does (that one also writes the curves and
    /// redraws the plot).
    fn after_step(&self, step: usize, every: usize) -> anyhow::Result<()> {
        if (step + 1).is_multiple_of(every) {
            self.save()?;
        }
        Ok(())
    }

    fn save(&self) -> anyhow::Result<()> {
        self.ckpt.save(&self.map, &self.opt)
    }
}

/// Phase 3, phase 4, then the optional sharpening against a critic (phase 5) and redrawing
/// (phase 6), both experiments; each skipped when it has no steps or is already done.
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
        predicted_batch: opts.decoder_flow_batch,
        predicted_by_tail: opts.decoder_flow_tail,
        redrawn_batch: 0,
        adversarial_weight: 0.0,
    };
    let polish = Stage {
        name: "polish",
        steps: opts.polish_steps,
        noise: (opts.vae_latent_noise, opts.polish_noise),
        lr_share: 0.25,
        first_picture: POLISH_PICTURES,
        predicted_batch: 0,
        predicted_by_tail: false,
        redrawn_batch: 0,
        adversarial_weight: 0.0,
    };
    let sharpen = Stage {
        name: "sharpen",
        steps: opts.sharpen_steps,
        noise: (opts.polish_noise, opts.polish_noise),
        lr_share: 0.1,
        first_picture: SHARPEN_PICTURES,
        predicted_batch: opts.decoder_flow_batch,
        predicted_by_tail: false,
        redrawn_batch: 0,
        adversarial_weight: opts.sharpen_weight,
    };
    let redraw = Stage {
        name: "redraw",
        steps: opts.redraw_steps,
        noise: (opts.polish_noise, opts.polish_noise),
        lr_share: opts.redraw_lr_share,
        first_picture: REDRAW_PICTURES,
        predicted_batch: 0,
        predicted_by_tail: false,
        redrawn_batch: opts.redraw_batch,
        adversarial_weight: 0.0,
    };
    for stage in [refine, polish, sharpen, redraw] {
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
    let mut opt = AdamW::new(trained.clone(), 0.0)?;
    let ckpt = Checkpoint::new(&opts.out, &format!("vae_{}", stage.name));
    ckpt.resume(&mut map, &mut opt)?;
    if opt.step >= stage.steps {
        return Ok(());
    }
    // Every step draws from its own streams (see `step_rng`), so a run resumed mid-stage
    // goes on exactly as one that never stopped.
    let seed = opts.seed ^ 0xDEC0 ^ (stage.first_picture - REFINE_PICTURES);
    let predictions = (stage.predicted_batch > 0)
        .then(|| FlowPredictions::load(stage, opts, dev))
        .transpose()?;
    let mut sharpen = (stage.adversarial_weight > 0.0)
        .then(|| Sharpening::new(stage, opts, dev))
        .transpose()?;
    let bank = match stage.redrawn_batch {
        0 => None,
        _ => Some(RedrawBank::load_or_build(
            &opts.out,
            opts.redraw_pictures,
            data,
            dev,
            &mut *progress,
        )?),
    };
    let series = Series::new(stage);
    let _lanes = TwoLanes::enter();
    for step in opt.step..stage.steps {
        let progress_share = step as f32 / stage.steps as f32;
        let inputs = StepInputs {
            vae: &vae,
            data,
            step,
            seed,
            // Normalised latents, so unit noise is one latent standard deviation.
            max_noise: stage.noise.0 + (stage.noise.1 - stage.noise.0) * progress_share,
            truth: vae_batch(data, opts, step, stage.first_picture, (29, 13), dev)?,
            predictions: predictions.as_ref(),
            redrawn: bank
                .as_ref()
                .map(|b| b.batch(stage.redrawn_batch, &mut step_rng(seed, step, 0)))
                .transpose()?,
            redraw_focus: opts.redraw_focus,
            sharpen: sharpen.as_ref(),
        };
        let lanes = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..LANES)
                .map(|lane| {
                    let inputs = &inputs;
                    scope.spawn(move || inputs.lane(lane))
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .map_err(|_| anyhow::anyhow!("a {} lane panicked", stage.name))?
                })
                .collect::<anyhow::Result<Vec<LaneOutcome>>>()
        })?;
        let mut grads: Option<GradStore> = None;
        let mut values = [0f64; SERIES];
        let (mut truths, mut judged) = (Vec::new(), Vec::new());
        for lane in lanes {
            for (sum, v) in values.iter_mut().zip(lane.values) {
                *sum += v;
            }
            grads = match (grads, lane.grads) {
                (Some(a), Some(b)) => Some(sum_grads(a, &b, &trained)?),
                (a, b) => a.or(b),
            };
            if let Some((truth, pictures)) = lane.judged {
                truths.push(truth);
                judged.push(pictures);
            }
        }
        let Some(mut grads) = grads else {
            anyhow::bail!("{}: a step with no pictures in any batch", stage.name);
        };
        opt.clip(&mut grads, 1.0)?;
        let peak = opts.vae_lr * stage.lr_share;
        let lr = lr_at(step, stage.steps, 50, peak, peak * 0.05);
        opt.apply(&grads, lr)?;
        if let Some(s) = &mut sharpen
            && !truths.is_empty()
        {
            values[CRITIC] =
                s.train_critic(&Tensor::cat(&truths, 0)?, &Tensor::cat(&judged, 0)?, lr)?;
        }
        let vals = series.values(&values);
        if !vals.iter().all(|v| v.1.is_finite()) {
            anyhow::bail!("{} diverged at step {step}; lower vae_lr", stage.name);
        }
        progress(stage.name, step + 1, stage.steps, &vals);
        ckpt.after_step(step, &vals, opts.checkpoint_every, (&map, &opt))?;
        if let Some(s) = &sharpen {
            s.after_step(step, opts.checkpoint_every)?;
        }
    }
    ckpt.save(&map, &opt)?;
    if let Some(s) = &sharpen {
        s.save()?;
    }
    save_varmap_atomic(&map, &weights) // `tiny::run` redraws the plot next
}

/// Lanes a decoder step's batches are split over. Each lane builds and differentiates the
/// graph of its share of every batch on one core (as phase 2's lanes do, `TwoLanes`), and the
/// gradients are summed. `train-tiny` runs candle's element-wise ops on the calling thread, so
/// with one graph a step only the matrix products reached the second core (about 1.3 cores
/// busy); two lanes take phase 3 from 1.23 to 0.55 s/step on this 2-core machine. Fixed
/// rather than the machine's core count, so the weights a run writes do not depend on the
/// machine it ran on.
const LANES: usize = 2;

/// The items of a batch of `n` that lane `lane` takes: contiguous, the first lanes one more
/// where `n` does not divide evenly.
fn lane_range(n: usize, lane: usize) -> Range<usize> {
    n * lane / LANES..n * (lane + 1) / LANES
}

/// Lane `lane`'s items of a batch of `n` and their share of it; `None` when it has none.
fn lane_items(n: usize, lane: usize) -> Option<(Range<usize>, f64)> {
    let items = lane_range(n, lane);
    let share = items.len() as f64 / n as f64;
    (!items.is_empty()).then_some((items, share))
}

/// Lane `lane`'s part of `batch` (B, ...) and its share of the batch; `None` when it has none.
fn lane_part(batch: &Tensor, lane: usize) -> Result<Option<(Tensor, f64)>> {
    lane_items(batch.dim(0)?, lane)
        .map(|(items, share)| Ok((batch.narrow(0, items.start, items.len())?, share)))
        .transpose()
}

/// Stream `stream` of step `step`'s random numbers (0: the step's own draws; 1 + k: lane k's).
fn step_rng(seed: u64, step: usize, stream: u64) -> ChaCha8Rng {
    let mut r = rng(seed ^ (step as u64).wrapping_mul(0x9E37_79B9));
    r.set_stream(stream);
    r
}

/// The values a step reports, in `curves.csv` order: slots of `LaneOutcome::values`.
const TRUE_L1: usize = 0;
const PREDICTED_L1: usize = 1;
const REDRAWN_L1: usize = 2;
const FOOLING: usize = 3;
const CRITIC: usize = 4;
const SERIES: usize = 5;

/// A stage's series names (`<stage>_l1`, `<stage>_predicted_l1`, ...) and which it reports.
struct Series {
    names: [String; SERIES],
    reported: [bool; SERIES],
}

impl Series {
    fn new(stage: &Stage) -> Self {
        let critic = stage.adversarial_weight > 0.0;
        Self {
            names: ["l1", "predicted_l1", "redrawn_l1", "fooling", "critic"]
                .map(|s| format!("{}_{s}", stage.name)),
            reported: [
                true,
                stage.predicted_batch > 0,
                stage.redrawn_batch > 0,
                critic,
                critic,
            ],
        }
    }

    /// A step's reported values by name.
    fn values(&self, values: &[f64; SERIES]) -> Vec<(&str, f64)> {
        (0..SERIES)
            .filter(|&k| self.reported[k])
            .map(|k| (self.names[k].as_str(), values[k]))
            .collect()
    }
}

/// Everything a step's lanes read: the batches are drawn whole, and each lane takes its
/// `lane_range` of every one.
struct StepInputs<'a> {
    vae: &'a WanVae,
    data: &'a WorldDataset,
    step: usize,
    seed: u64,
    /// Largest latent noise on the true latents this step.
    max_noise: f32,
    /// True pictures (B, 3, 1, crop, crop).
    truth: Tensor,
    predictions: Option<&'a FlowPredictions>,
    /// Generated latents (B, C, 1, h, w) and their redrawn pictures (B, 3, 1, H, W).
    redrawn: Option<(Tensor, Tensor)>,
    redraw_focus: f32,
    sharpen: Option<&'a Sharpening>,
}

/// What one lane's share of a step came to.
struct LaneOutcome {
    /// `None` when the lane had no items in any batch.
    grads: Option<GradStore>,
    /// Each series' value over the lane's items, weighted by their share of the batch (so the
    /// lanes' values sum to the whole batch's).
    values: [f64; SERIES],
    /// For the critic's step: the true pictures behind this lane's predictions and their
    /// decoded pictures as the critic judged them.
    judged: Option<(Tensor, Tensor)>,
}

/// A lane's loss as its parts are added, and the values it reports.
#[derive(Default)]
struct LaneLoss {
    loss: Option<Tensor>,
    values: [f64; SERIES],
}

impl LaneLoss {
    /// Adds `loss` weighted by `share`.
    fn add(&mut self, share: f64, loss: Tensor) -> Result<()> {
        let loss = (loss * share)?;
        self.loss = Some(match self.loss.take() {
            Some(sum) => (sum + loss)?,
            None => loss,
        });
        Ok(())
    }

    /// Adds a batch part's (L1, whole loss), both weighted by the lane's `share` of the batch,
    /// the L1 to the series in `slot`.
    fn add_part(&mut self, slot: usize, share: f64, (l1, loss): (Tensor, Tensor)) -> Result<()> {
        self.values[slot] += share * l1.to_scalar::<f32>()? as f64;
        self.add(share, loss)
    }
}

impl StepInputs<'_> {
    /// Lane `lane`'s loss over its items, each batch's part weighted by the lane's share of
    /// it. The lanes' gradients sum to the gradient of the whole step's loss up to how the
    /// shape-weighted means are normalised: within each lane's part, not over the whole batch
    /// (the same where the parts have the same share of shape pixels).
    fn lane(&self, lane: usize) -> anyhow::Result<LaneOutcome> {
        let mut r = step_rng(self.seed, self.step, 1 + lane as u64);
        let mut sum = LaneLoss::default();
        if let Some((x, share)) = lane_part(&self.truth, lane)? {
            let z = self.vae.encode_detailed(&x)?.mu.detach();
            let z = (&z + leveled_noise(&z, self.max_noise, &mut r)?)?;
            let decoded = self.vae.decode_unclamped(&z)?;
            sum.add_part(TRUE_L1, share, reconstruction_loss(&decoded, &x)?)?;
        }
        let mut judged = None;
        if let Some(flow) = self.predictions
            && let Some((items, share)) = lane_items(flow.batch, lane)
        {
            let (decoded, x) = flow.decoded(self.vae, self.data, self.step, items)?;
            sum.add_part(PREDICTED_L1, share, reconstruction_loss(&decoded, &x)?)?;
            // The critic judges the pictures decoded from the flow model's predictions:
            // those of true latents are all but exact already.
            if let Some(s) = self.sharpen {
                let (term, pictures, fooling) = s.judge(&decoded)?;
                sum.add(share, term)?;
                sum.values[FOOLING] += share * fooling;
                judged = Some((x, pictures));
            }
        }
        if let Some((latents, targets)) = &self.redrawn
            && let (Some((z, share)), Some((x, _))) =
                (lane_part(latents, lane)?, lane_part(targets, lane)?)
        {
            let decoded = self.vae.decode_unclamped(&z)?;
            let part = match self.redraw_focus > 0.0 {
                true => focused_reconstruction_loss(&decoded, &x, f64::from(self.redraw_focus))?,
                false => reconstruction_loss(&decoded, &x)?,
            };
            sum.add_part(REDRAWN_L1, share, part)?;
        }
        Ok(LaneOutcome {
            grads: sum.loss.map(|l| l.backward()).transpose()?,
            values: sum.values,
            judged,
        })
    }
}

/// The shape-weighted L1 of `recon` against `x` (B, 3, T, H, W), and the whole loss (L1 + MSE +
/// edges).
fn reconstruction_loss(recon: &Tensor, x: &Tensor) -> Result<(Tensor, Tensor)> {
    weighted_reconstruction_loss(recon, x, &shape_weights(x)?)
}

/// The L1 of `recon` against `x` under per-pixel `weight` (B, 1, T, H, W), and the whole loss
/// (weighted L1 + weighted MSE + edges).
fn weighted_reconstruction_loss(
    recon: &Tensor,
    x: &Tensor,
    weight: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let err = (recon - x)?;
    let rec = weighted_mean(&err.abs()?, weight)?;
    let mse = weighted_mean(&err.sqr()?, weight)?;
    let loss = ((&rec + &mse)? + edge_loss(recon, x)?)?;
    Ok((rec, loss))
}

/// As `reconstruction_loss`, with the pixels the decoder gets most wrong (mean channel error
/// over `FOCUS_ERROR`, a corner drawn round, a seam drawn wavy) weighted `1 + focus` times
/// more: they are a few dozen of a picture's 4,096, and under the plain mean the rest of the
/// picture, already right, outweighs them.
fn focused_reconstruction_loss(recon: &Tensor, x: &Tensor, focus: f64) -> Result<(Tensor, Tensor)> {
    let wrong = (recon - x)?
        .abs()?
        .mean_keepdim(1)?
        .gt(FOCUS_ERROR)?
        .to_dtype(DType::F32)?;
    let weight = shape_weights(x)?
        .broadcast_mul(&((wrong * focus)? + 1.0)?)?
        .detach();
    weighted_reconstruction_loss(recon, x, &weight)
}

/// Mean channel error (on the [-1, 1] scale) above which `focused_reconstruction_loss` counts
/// a pixel as wrong: a quarter of the way from a background tone to a shape colour.
const FOCUS_ERROR: f64 = 0.25;

/// The phase-2 model, frozen, and what phase 3 asks of it: whole pictures decoded from its own
/// predictions.
struct FlowPredictions {
    pipe: Pipeline,
    /// Pictures a step.
    batch: usize,
    /// `eval-tiny`'s time grid when predictions are a sampler run's end (`tail_end`), `None`
    /// when they are one step's (`one_step`).
    tail_grid: Option<Vec<f32>>,
    /// The stage's first picture.
    first: u64,
    /// Each picture's noise and time come from this seed's stream numbered by the picture, so
    /// they do not depend on which lane takes it or where a run resumed.
    seed: u64,
}

impl FlowPredictions {
    /// The finished phase-2 model in `opts.out` (its VAE is only loaded, never used).
    fn load(stage: &Stage, opts: &TrainOptions, dev: &Device) -> anyhow::Result<Self> {
        let eval = EvalOptions::default();
        Ok(Self {
            pipe: Pipeline::load(&opts.out, dev, DType::F32)?,
            batch: stage.predicted_batch,
            tail_grid: stage
                .predicted_by_tail
                .then(|| time_grid(eval.steps + 1, eval.shift)),
            // Each stage draws its own pictures and noise.
            first: PREDICTED_PICTURES + (stage.first_picture - REFINE_PICTURES),
            seed: opts.seed ^ 0xF10E ^ (stage.first_picture - REFINE_PICTURES),
        })
    }

    /// Pictures `items` of step `step`'s batch decoded by `vae` from the model's predictions
    /// of their latents, and the true pictures: both (B, 3, 1, H, W).
    fn decoded(
        &self,
        vae: &WanVae,
        data: &WorldDataset,
        step: usize,
        items: Range<usize>,
    ) -> anyhow::Result<(Tensor, Tensor)> {
        let first = self.first + (step * self.batch) as u64;
        let indices: Vec<u64> = items.map(|k| first + k as u64).collect();
        let pictures: Vec<_> = indices.iter().map(|&i| data.captioned_image(i)).collect();
        let x = pixels(
            &pictures.iter().map(|c| &c.image).collect::<Vec<_>>(),
            self.pipe.device(),
        )?;
        let z = vae.encode_detailed(&x)?.mu.detach(); // (B, C, 1, h, w)
        let mut predicted = Vec::with_capacity(pictures.len());
        for (k, (picture, &i)) in pictures.iter().zip(&indices).enumerate() {
            // A dropped caption (empty) would ask for the unconditional picture instead.
            let caption = match picture.caption.is_empty() {
                true => canonical_caption(&picture.scene),
                false => picture.caption.clone(),
            };
            let field = caption_field(&self.pipe, &caption)?;
            let mut r = rng(self.seed);
            r.set_stream(i);
            let clean = match &self.tail_grid {
                Some(grid) => tail_end(&z, k, &field, grid, &mut r)?,
                None => one_step(&z, k, &field, &mut r)?,
            };
            predicted.push(clean.unsqueeze(2)?);
        }
        let predicted = Tensor::cat(&predicted, 0)?.detach();
        Ok((vae.decode_unclamped(&predicted)?, x))
    }
}

/// Picture `k` of normalised latents `z` (B, C, 1, h, w): the clean latent `field` predicts
/// from a point x_t = t z + (1 - t) noise of its path (t drawn in `PREDICTED_T`):
/// x_t + (1 - t) v(x_t, t), (1, C, h, w).
fn one_step(z: &Tensor, k: usize, field: &Guided, r: &mut ChaCha8Rng) -> anyhow::Result<Tensor> {
    let t = r.random_range(PREDICTED_T.0..PREDICTED_T.1);
    let xt = noised(z, k, t, r)?;
    Ok(predicted_clean(&xt, &field.velocity(&xt, t)?, t)?)
}

/// As `one_step`, but the end of the sampler's run along `field` over the points of `grid`
/// past a start t drawn in `TAIL_START`, from x_t = t z + (1 - t) noise: the latent a
/// generation ends in, through the model's own path, of a picture whose truth is known.
fn tail_end(
    z: &Tensor,
    k: usize,
    field: &Guided,
    grid: &[f32],
    r: &mut ChaCha8Rng,
) -> anyhow::Result<Tensor> {
    let start = r.random_range(TAIL_START.0..TAIL_START.1);
    let tail: Vec<f32> = grid.iter().copied().filter(|&t| t >= start).collect();
    let xt = noised(z, k, tail[0], r)?;
    euler(
        xt,
        &tail,
        |x, t| field.velocity(x, t),
        |_| Ok(None),
        || false,
    )?
    .map_err(|stop| anyhow::anyhow!("{stop:?}"))
}

/// The guided velocity field of one caption at the model's own guidance.
fn caption_field<'p>(p: &'p Pipeline, caption: &str) -> anyhow::Result<Guided<'p>> {
    Ok(Guided::new(
        p,
        &p.prompt_ids(caption)?,
        &[],
        p.settings.guidance,
    )?)
}

/// Picture `k` of `z` (B, C, 1, h, w) at time t of a fresh noise path: t z + (1 - t) noise,
/// (1, C, h, w).
fn noised(z: &Tensor, k: usize, t: f32, r: &mut ChaCha8Rng) -> Result<Tensor> {
    let (_, c, _, h, w) = z.dims5()?;
    let noise: Vec<f32> = (0..c * h * w).map(|_| StandardNormal.sample(r)).collect();
    let x0 = Tensor::from_vec(noise, (1, c, h, w), z.device())?;
    on_path(&z.get(k)?.squeeze(1)?.unsqueeze(0)?, &x0, t)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A grey 8x8 picture (1, 3, 1, 8, 8) with pixel (2, 3) set to `corner`.
    fn picture(corner: [f32; 3]) -> Tensor {
        let mut v = vec![0.0f32; 3 * 64];
        for (c, value) in corner.into_iter().enumerate() {
            v[c * 64 + 2 * 8 + 3] = value;
        }
        Tensor::from_vec(v, (1, 3, 1, 8, 8), &Device::Cpu).unwrap()
    }

    #[test]
    fn lanes_split_every_batch_without_losing_or_repeating_an_item() {
        for n in 0..12 {
            let items: Vec<usize> = (0..LANES).flat_map(|lane| lane_range(n, lane)).collect();
            assert_eq!(items, (0..n).collect::<Vec<_>>(), "batch of {n}");
            let sizes: Vec<usize> = (0..LANES).map(|lane| lane_range(n, lane).len()).collect();
            let (least, most) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(most - least <= 1, "batch of {n} split {sizes:?}");
            // The lanes' parts are the batch's rows in order, and their shares sum to 1.
            let batch = Tensor::arange(0f32, n as f32, &Device::Cpu).unwrap();
            let mut rows = Vec::new();
            let mut shares = 0.0;
            for lane in 0..LANES {
                if let Some((part, share)) = lane_part(&batch, lane).unwrap() {
                    rows.extend(part.to_vec1::<f32>().unwrap());
                    shares += share;
                }
            }
            assert_eq!(rows, batch.to_vec1::<f32>().unwrap());
            assert!(n == 0 || (shares - 1.0).abs() < 1e-12, "shares {shares}");
        }
    }

    #[test]
    fn lane_losses_weigh_each_part_by_its_share() {
        // Two parts of one lane: the loss is the share-weighted sum, the values the
        // share-weighted L1s in their slots.
        let scalar = |v: f32| Tensor::new(v, &Device::Cpu).unwrap();
        let mut sum = LaneLoss::default();
        sum.add_part(TRUE_L1, 0.5, (scalar(0.2), scalar(1.0)))
            .unwrap();
        sum.add_part(REDRAWN_L1, 0.25, (scalar(0.4), scalar(2.0)))
            .unwrap();
        sum.add(0.5, scalar(3.0)).unwrap();
        let loss = sum.loss.unwrap().to_scalar::<f32>().unwrap();
        assert!((loss - (0.5 + 0.5 + 1.5)).abs() < 1e-6, "{loss}");
        assert!((sum.values[TRUE_L1] - 0.1).abs() < 1e-6);
        assert!((sum.values[REDRAWN_L1] - 0.1).abs() < 1e-6);
        assert_eq!(sum.values[PREDICTED_L1], 0.0);
    }

    #[test]
    fn focus_weighs_the_pixels_drawn_wrong() {
        // The target has a red corner pixel the decoded picture lacks, and the decoded picture
        // is a little off everywhere else.
        let target = picture([1.0, -1.0, -1.0]);
        let decoded = (picture([0.0, 0.0, 0.0]) + 0.05).unwrap();
        let l1 = |(rec, _): (Tensor, Tensor)| rec.to_scalar::<f32>().unwrap();
        let plain = l1(reconstruction_loss(&decoded, &target).unwrap());
        let focused = l1(focused_reconstruction_loss(&decoded, &target, 10.0).unwrap());
        // The wrong pixel's error (about 0.7) against 0.05: its share of the mean grows with
        // its weight.
        assert!(focused > 2.0 * plain, "plain {plain}, focused {focused}");
        // A picture drawn right everywhere gains nothing from the focus.
        let close = (&target + 0.05).unwrap();
        let plain = l1(reconstruction_loss(&close, &target).unwrap());
        let focused = l1(focused_reconstruction_loss(&close, &target, 10.0).unwrap());
        assert!(
            (plain - focused).abs() < 1e-6,
            "plain {plain}, focused {focused}"
        );
    }
}
