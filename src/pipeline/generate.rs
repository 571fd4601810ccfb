//! Text-to-image, and the denoising loop that inpainting and extension share.
//!
//! Euler on the shifted grid with classifier-free guidance: the conditional and the
//! empty-prompt rows run as one batch whose text prefixes are cached once
//! (`Showo2::prefill_generation`), so each step only runs the image block. The noise comes from
//! ChaCha8 seeded by the user's seed, so a seed gives the same image bit for bit on the same
//! device; by default it is rounded to bf16 as the official script does (`randn(...).to(bf16)`).
//!
//! `steps` counts model calls (Euler steps). The official `num_inference_steps` counts grid
//! points: its 50 is `steps = 49` here.
//!
//! `eta` > 0 takes ancestral steps instead (`sampler::ancestral_step`): the fresh noise of each
//! step comes from its own ChaCha8 stream derived from the seed, so those runs are reproducible
//! too. The official sampler is eta 0, the default; a checkpoint may ask for more in its
//! `studio.json` (the built-in model does: see `StudioSettings::eta`).

use std::cell::Cell;

use candle_core::{DType, Device, Tensor};
use image::RgbImage;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::media::{ChwImage, GenerationMode, GenerationParams, rgb_from_chw};
use crate::model::prompt;
use crate::model::showo2::GenerationPrefix;

use super::preview::{self, PreviewOptions};
use super::sampler::{
    ETA_EXPECTED, ETA_RANGE, Stop, ancestral_step, cfg_combine, euler_step, integrate, on_path,
    time_grid,
};
use super::{Pipeline, PipelineError, Result, bad_setting};

/// A text-to-image job.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub prompt: String,
    /// What guidance steers away from: the unconditional row's text instead of the official
    /// empty prompt (empty = official behaviour; no effect at guidance 1).
    pub negative_prompt: String,
    pub seed: u64,
    /// Euler steps (model calls).
    pub steps: usize,
    pub guidance: f32,
    /// Canvas in pixels (multiples of 16); `None` = the model's native size.
    pub size: Option<(u32, u32)>,
    /// Time shift of the grid (3 for Show-o2).
    pub shift: f32,
    /// Share of each step's noise replaced by fresh noise, in [0, 1]: 0 is the official Euler
    /// sampler, 1 fully ancestral (see `sampler::ancestral_step`).
    pub eta: f32,
    /// Round the initial noise to bf16 like the official script (parity); off = full f32 noise.
    pub bf16_noise: bool,
    pub preview: PreviewOptions,
    /// Keep every preview for a trajectory GIF.
    pub keep_trajectory: bool,
    /// Start from this noise (1, C, h, w) instead of the seeded one, e.g. to reproduce a run
    /// of the official code from its saved `z`.
    pub initial_noise: Option<Tensor>,
}

/// The official `num_inference_steps` 50 as Euler steps (model calls): what requests start
/// from unless a checkpoint's `studio.json` names its own.
pub const OFFICIAL_STEPS: usize = 49;

impl Default for GenerateRequest {
    fn default() -> Self {
        Self {
            prompt: String::new(),
            negative_prompt: String::new(),
            seed: 0,
            steps: OFFICIAL_STEPS,
            guidance: 5.0,
            size: None,
            shift: 3.0,
            eta: 0.0,
            bf16_noise: true,
            preview: PreviewOptions::default(),
            keep_trajectory: false,
            initial_noise: None,
        }
    }
}

/// What the per-step callback sees.
#[derive(Debug, Clone)]
pub struct StepEvent {
    /// Steps done (1-based).
    pub step: usize,
    pub total: usize,
    /// Time reached (0 = noise, 1 = data).
    pub t: f32,
    /// Latent→RGB preview of x̂, when due.
    pub preview: Option<RgbImage>,
    /// Full VAE decode of x̂, when due.
    pub decoded: Option<RgbImage>,
}

/// Hooks into a running job: a per-step callback and a cancellation flag, polled before
/// every model call.
pub struct Control<'a> {
    pub on_step: &'a mut dyn FnMut(&StepEvent),
    pub cancelled: &'a dyn Fn() -> bool,
}

impl Control<'_> {
    /// Runs without callback or cancellation.
    pub fn none<R>(f: impl FnOnce(&mut Control) -> R) -> R {
        let mut sink = |_: &StepEvent| {};
        let never = || false;
        let mut c = Control {
            on_step: &mut sink,
            cancelled: &never,
        };
        f(&mut c)
    }
}

/// A finished image.
#[derive(Debug, Clone)]
pub struct Generated {
    pub image: RgbImage,
    /// The final latent (1, C, h, w), f32.
    pub latent: Tensor,
    /// The previews of every step (when `keep_trajectory`).
    pub trajectory: Vec<RgbImage>,
    /// Everything needed to reproduce the image (for PNG metadata).
    pub params: GenerationParams,
}

/// Seeded standard-normal noise (1, C, h, w): ChaCha8 + Ziggurat on the CPU, so it is the same on
/// every device; optionally rounded to bf16 as the official script.
pub fn seeded_noise(
    seed: u64,
    (c, h, w): (usize, usize, usize),
    bf16: bool,
    dev: &Device,
) -> Result<Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let data: Vec<f32> = (0..c * h * w)
        .map(|_| {
            let x: f32 = StandardNormal.sample(&mut rng);
            if bf16 {
                half::bf16::from_f32(x).to_f32()
            } else {
                x
            }
        })
        .collect();
    Ok(Tensor::from_vec(data, (1, c, h, w), dev)?)
}

/// The guided velocity field of one prompt: cond and uncond rows share a cached prefix.
pub(crate) struct Guided<'a> {
    pipe: &'a Pipeline,
    prefix: GenerationPrefix,
    guidance: f32,
}

impl<'a> Guided<'a> {
    /// `negative_ids` empty = the official empty-prompt unconditional row. Only the rows'
    /// prefixes are cached, and they do not depend on the image size.
    pub(crate) fn new(
        pipe: &'a Pipeline,
        prompt_ids: &[u32],
        negative_ids: &[u32],
        guidance: f32,
    ) -> Result<Self> {
        // Guidance 1 is the conditional velocity alone: skip the unconditional row.
        let rows = if guidance == 1.0 {
            &[prompt_ids][..]
        } else {
            &[prompt_ids, negative_ids][..]
        };
        let prefixes: Vec<Vec<u32>> = rows
            .iter()
            .map(|ids| {
                prompt::t2i_prefix(pipe.tokenizer.special(), ids, pipe.settings.max_text_len)
            })
            .collect();
        Ok(Self {
            pipe,
            prefix: pipe.model.prefill_generation(&prefixes)?,
            guidance,
        })
    }

    /// v(x, t) for x (1, C, h, w) f32 -> (1, C, h, w) f32.
    pub(crate) fn velocity(&self, x: &Tensor, t: f32) -> candle_core::Result<Tensor> {
        let dev = x.device();
        if self.prefix.lens().len() == 1 {
            let v = self
                .pipe
                .model
                .velocity(&self.prefix, x, &Tensor::new(&[t], dev)?)?;
            return v.to_dtype(DType::F32);
        }
        let xx = Tensor::cat(&[x, x], 0)?;
        let v = self
            .pipe
            .model
            .velocity(&self.prefix, &xx, &Tensor::new(&[t, t], dev)?)?;
        cfg_combine(&v.to_dtype(DType::F32)?, self.guidance)
    }
}

/// Latent blending for inpainting and extension: `mask` (1, 1, h, w) is 1 where the model
/// generates and 0 where `known` (1, C, h, w) is kept.
pub(crate) struct Blend {
    pub known: Tensor,
    pub mask: Tensor,
    /// RePaint-style resampling: jumps back and redoes each step this many times.
    pub resample: usize,
    /// Denoising strength in (0, 1]: 1 starts from pure noise; below 1 the run starts at
    /// t = 1 - strength from `known` under noise (the original in inpainting, the edge fill
    /// in extension), so what is already there steers the new area.
    pub strength: f32,
}

/// One denoising run: the shared core of generate / inpaint / extend.
pub(crate) struct Denoise<'a> {
    pub pipe: &'a Pipeline,
    pub prompt_ids: Vec<u32>,
    /// The unconditional row's text (empty = the official empty prompt).
    pub negative_ids: Vec<u32>,
    pub width: u32,
    pub height: u32,
    pub seed: u64,
    pub steps: usize,
    pub guidance: f32,
    pub shift: f32,
    pub eta: f32,
    pub bf16_noise: bool,
    pub preview: PreviewOptions,
    pub keep_trajectory: bool,
    pub initial_noise: Option<Tensor>,
    pub blend: Option<Blend>,
}

pub(crate) struct Denoised {
    pub latent: Tensor,
    pub trajectory: Vec<RgbImage>,
}

impl Denoise<'_> {
    pub(crate) fn run(&self, ctl: &mut Control) -> Result<Denoised> {
        let pipe = self.pipe;
        if self.steps == 0 {
            return Err(bad_setting("steps", 0, "at least 1"));
        }
        if !self.guidance.is_finite() || self.guidance < 0.0 {
            return Err(bad_setting(
                "guidance",
                self.guidance,
                "a finite value >= 0",
            ));
        }
        if !ETA_RANGE.contains(&self.eta) {
            return Err(bad_setting("eta", self.eta, ETA_EXPECTED));
        }
        pipe.check_canvas(self.width, self.height)?;
        let c = pipe.config().showo.image_latent_dim;
        let f = pipe.grid_px() as usize / pipe.config().showo.patch_size; // 8
        let (lh, lw) = (self.height as usize / f, self.width as usize / f);
        let dev = pipe.device().clone();
        let guided = Guided::new(pipe, &self.prompt_ids, &self.negative_ids, self.guidance)?;
        let z = match &self.initial_noise {
            Some(z) if z.dims() == [1, c, lh, lw] => z.to_dtype(DType::F32)?.to_device(&dev)?,
            Some(z) => {
                return Err(bad_setting(
                    "initial noise",
                    format!("{:?}", z.dims()),
                    format!(
                        "shape [1, {c}, {lh}, {lw}] for a {}x{} canvas",
                        self.width, self.height
                    ),
                ));
            }
            None => seeded_noise(self.seed, (c, lh, lw), self.bf16_noise, &dev)?,
        };
        let mut grid = time_grid(self.steps + 1, self.shift);
        // Strength below 1: the same number of steps over [1 - strength, 1], from the known
        // latent at that noise level (what `blend_known` keeps outside the mask, everywhere).
        let x_start = match &self.blend {
            Some(b) if b.strength < 1.0 => {
                let start = 1.0 - b.strength;
                for t in &mut grid {
                    *t = start + (1.0 - start) * *t;
                }
                on_path(&b.known, &z, start)?
            }
            _ => z.clone(),
        };
        let total = self.steps;
        // Fresh noise for RePaint jumps and for ancestral steps, each from its own stream
        // derived from the seed (so eta leaves the jumps' noise as it was, and back).
        let mut jump_seed = self.seed ^ 0x05ee_d0f4_e9a1_u64;
        let flow_step = FlowStep {
            eta: self.eta,
            seed: Cell::new(self.seed ^ 0x0a9c_e57a_1e7a_u64),
            shape: (c, lh, lw),
            dev: &dev,
        };
        let mut trajectory = Vec::new();
        let mut failure: Option<PipelineError> = None;
        let (cw, ch) = (self.width, self.height);
        let cancelled: &dyn Fn() -> bool = ctl.cancelled;
        let on_step = &mut *ctl.on_step;
        let outcome = integrate(
            x_start,
            &grid,
            |x, t| guided.velocity(x, t),
            |x, v, t, t_next| flow_step.apply(x, v, t, t_next),
            |info| {
                let mut x_next = info.x_next.clone();
                if let Some(b) = &self.blend {
                    x_next = blend_known(&x_next, b, &z, info.t_next)?;
                    for _ in 0..b.resample {
                        if cancelled() {
                            break;
                        }
                        jump_seed = jump_seed.wrapping_add(1);
                        let eps =
                            seeded_noise(jump_seed, (c, lh, lw), false, &dev).map_err(to_candle)?;
                        let back = renoise(&x_next, &eps, info.t, info.t_next)?;
                        let v = guided.velocity(&back, info.t)?;
                        let stepped = flow_step.apply(&back, &v, info.t, info.t_next)?;
                        x_next = blend_known(&stepped, b, &z, info.t_next)?;
                    }
                }
                let step = info.step + 1;
                let due = |every: usize| every > 0 && (step % every == 0 || step == total);
                let want_preview = due(self.preview.every) || self.keep_trajectory;
                let want_decode = due(self.preview.full_decode_every);
                let mut event = StepEvent {
                    step,
                    total,
                    t: info.t_next,
                    preview: None,
                    decoded: None,
                };
                if want_preview || want_decode {
                    let x_hat =
                        preview::predicted_clean(info.x, info.v, info.t).map_err(to_candle)?;
                    if want_preview {
                        match pipe.preview_map.to_rgb(&x_hat) {
                            Ok(img) => {
                                let img = if self.preview.upsample {
                                    preview::upsample(&img, cw, ch)
                                } else {
                                    img
                                };
                                if self.keep_trajectory {
                                    trajectory.push(img.clone());
                                }
                                event.preview = Some(img);
                            }
                            Err(e) => {
                                failure = Some(e);
                                return Err(candle_core::Error::Msg("preview failed".into()));
                            }
                        }
                    }
                    if want_decode {
                        match decode_latent(pipe, &x_hat) {
                            Ok(img) => event.decoded = Some(img),
                            Err(e) => {
                                failure = Some(e);
                                return Err(candle_core::Error::Msg("decode failed".into()));
                            }
                        }
                    }
                }
                on_step(&event);
                Ok(Some(x_next))
            },
            cancelled,
        );
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => return Err(failure.unwrap_or(PipelineError::Candle(e))),
        };
        match outcome {
            Ok(latent) => Ok(Denoised { latent, trajectory }),
            Err(Stop::Cancelled { after_step }) => {
                Err(PipelineError::Cancelled { after_step, total })
            }
        }
    }
}

/// A run's rule from x_t to the next state: the Euler step at eta 0 (and for the last step,
/// where an ancestral step lands on the same clean prediction), else an ancestral step whose
/// fresh noise comes from the next seed of the run's stream.
struct FlowStep<'d> {
    eta: f32,
    /// The stream's last seed (advanced by each ancestral step, also inside RePaint jumps).
    seed: Cell<u64>,
    /// The latent's (C, h, w).
    shape: (usize, usize, usize),
    dev: &'d Device,
}

impl FlowStep<'_> {
    fn apply(&self, x: &Tensor, v: &Tensor, t: f32, t_next: f32) -> candle_core::Result<Tensor> {
        if self.eta == 0.0 || t_next >= 1.0 {
            return euler_step(x, v, t, t_next);
        }
        self.seed.set(self.seed.get().wrapping_add(1));
        let fresh =
            seeded_noise(self.seed.get(), self.shape, false, self.dev).map_err(to_candle)?;
        ancestral_step(x, v, t, t_next, self.eta, &fresh)
    }
}

fn to_candle(e: PipelineError) -> candle_core::Error {
    candle_core::Error::Msg(e.to_string())
}

/// x ← m·x + (1 − m)·(t·known + (1 − t)·ε): the known region forward-noised to time t with the
/// run's own initial noise ε (so at t = 1 it is exactly `known`).
fn blend_known(x: &Tensor, b: &Blend, eps: &Tensor, t: f32) -> candle_core::Result<Tensor> {
    let noised = on_path(&b.known, eps, t)?;
    let keep = b.mask.ones_like()?.sub(&b.mask)?;
    x.broadcast_mul(&b.mask)?.add(&noised.broadcast_mul(&keep)?)
}

/// RePaint jump from t_next back to t: x_t = (t/t_next)·x + σ·ε with
/// σ² = (1 − t)² − (t/t_next)²(1 − t_next)², which keeps the marginal of the linear path.
fn renoise(x: &Tensor, eps: &Tensor, t: f32, t_next: f32) -> candle_core::Result<Tensor> {
    let r = if t_next > 0.0 { t / t_next } else { 0.0 };
    let var = (1.0 - t).powi(2) - (r * (1.0 - t_next)).powi(2);
    (x * r as f64)? + (eps * var.max(0.0).sqrt() as f64)?
}

/// VAE decode of (1, C, h, w) to 8-bit RGB (the official truncating `denorm`).
pub fn decode_latent(pipe: &Pipeline, latent: &Tensor) -> Result<RgbImage> {
    let px = pipe.vae.decode(latent)?.to_dtype(DType::F32)?;
    tensor_to_rgb(&px)
}

/// (1, 3, H, W) in [-1, 1] -> RGB.
pub(crate) fn tensor_to_rgb(px: &Tensor) -> Result<RgbImage> {
    let (_, c, h, w) = px.dims4()?;
    let data = px.flatten_all()?.to_vec1::<f32>()?;
    Ok(rgb_from_chw(&ChwImage {
        data,
        channels: c,
        height: h,
        width: w,
    })?)
}

/// RGB -> (1, 3, H, W) in [-1, 1] on `dev`.
pub(crate) fn rgb_to_tensor(img: &RgbImage, dev: &Device) -> Result<Tensor> {
    let chw = crate::media::rgb_to_chw(img);
    Ok(Tensor::from_vec(
        chw.data,
        (1, 3, chw.height, chw.width),
        dev,
    )?)
}

impl Pipeline {
    /// Text-to-image.
    pub fn generate(&self, req: &GenerateRequest, ctl: &mut Control) -> Result<Generated> {
        let ids = self.prompt_ids(&req.prompt)?;
        let negative_ids = self.negative_prompt_ids(&req.negative_prompt)?;
        let (width, height) = req.size.unwrap_or_else(|| self.native_size());
        let run = Denoise {
            pipe: self,
            prompt_ids: ids,
            negative_ids,
            width,
            height,
            seed: req.seed,
            steps: req.steps,
            guidance: req.guidance,
            shift: req.shift,
            eta: req.eta,
            bf16_noise: req.bf16_noise,
            preview: req.preview,
            keep_trajectory: req.keep_trajectory,
            initial_noise: req.initial_noise.clone(),
            blend: None,
        }
        .run(ctl)?;
        let image = decode_latent(self, &run.latent)?;
        Ok(Generated {
            image,
            latent: run.latent,
            trajectory: run.trajectory,
            params: self.params(req, width, height, GenerationMode::TextToImage),
        })
    }

    /// The metadata of a job.
    pub(crate) fn params(
        &self,
        req: &GenerateRequest,
        width: u32,
        height: u32,
        mode: GenerationMode,
    ) -> GenerationParams {
        GenerationParams {
            prompt: req.prompt.clone(),
            negative_prompt: req.negative_prompt.clone(),
            seed: req.seed,
            steps: req.steps as u32,
            guidance: req.guidance,
            width,
            height,
            model_id: self.model_id.clone(),
            model_hash: String::new(),
            mode,
            mask: None,
            extension: None,
            time_shift: req.shift,
            eta: req.eta,
            app_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}
