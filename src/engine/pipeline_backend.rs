//! The real backend: the Show-o2 pipelines behind the engine's [`Backend`] seam. Converts the
//! engine's plain request types into pipeline requests and streams steps, previews and tokens
//! back through the [`JobContext`]. One pipeline (model + VAE + tokenizer) is resident.

use image::{DynamicImage, GrayImage, RgbImage, RgbaImage};

use super::backend::{Backend, JobContext};
use super::protocol::{
    self, Attachment, JobKind, JobOutput, LoadSettings, ModelInfo, ModelSource, Role,
};
use crate::hub::catalog::{Capability, Catalog};
use crate::hub::{manager, memory};
use crate::media::{SampledFrame, SampledVideo};
use crate::model::device::{DeviceChoice, parse_dtype, parse_llm_quant};
use crate::model::weights::BinCache;
use crate::pipeline::chat::{self, ChatMessage};
use crate::pipeline::decode::Sampling;
use crate::pipeline::extend::ExtendRequest;
use crate::pipeline::generate::{Control, GenerateRequest, StepEvent};
use crate::pipeline::inpaint::InpaintRequest;
use crate::pipeline::preview::PreviewOptions;
use crate::pipeline::{LoadOptions, Pipeline};

/// Runs the Show-o2 pipelines on the device and in the precision each load asks for.
#[derive(Default)]
pub struct PipelineBackend {
    pipeline: Option<Pipeline>,
}

impl PipelineBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn pipeline(&self) -> Result<&Pipeline, String> {
        self.pipeline
            .as_ref()
            .ok_or_else(|| "no model is loaded; load one in the Models panel".to_owned())
    }
}

fn rgb(img: &RgbaImage) -> RgbImage {
    DynamicImage::ImageRgba8(img.clone()).to_rgb8()
}

fn rgba(img: &RgbImage) -> RgbaImage {
    DynamicImage::ImageRgb8(img.clone()).to_rgba8()
}

fn base_request(s: &protocol::ImageSettings, seed: u64) -> GenerateRequest {
    let every = if s.preview.enabled {
        s.preview.every_n_steps.max(1) as usize
    } else {
        0
    };
    GenerateRequest {
        prompt: s.prompt.clone(),
        negative_prompt: s.negative_prompt.clone(),
        seed,
        steps: s.steps as usize,
        guidance: s.guidance,
        eta: s.eta,
        preview: PreviewOptions {
            every,
            full_decode_every: 0,
            upsample: true,
        },
        ..Default::default()
    }
}

/// Runs `f` once per candidate (seed, seed + 1, ...), forwarding steps and previews.
fn candidates(
    s: &protocol::ImageSettings,
    ctx: &mut JobContext,
    mut f: impl FnMut(GenerateRequest, &mut Control) -> crate::pipeline::Result<RgbImage>,
) -> Result<JobOutput, String> {
    let n = s.candidates.max(1);
    let mut images = Vec::new();
    for k in 0..n {
        let req = base_request(s, s.seed.wrapping_add(k as u64));
        let total = req.steps as u32 * n;
        let ctx_cell = std::cell::RefCell::new(&mut *ctx);
        let mut on_step = |e: &StepEvent| {
            let mut c = ctx_cell.borrow_mut();
            c.step(k * req.steps as u32 + e.step as u32, total);
            if let Some(p) = &e.preview {
                c.preview(rgba(p));
            }
        };
        let cancelled = || ctx_cell.borrow_mut().cancelled();
        let mut ctl = Control {
            on_step: &mut on_step,
            cancelled: &cancelled,
        };
        let img = f(req.clone(), &mut ctl).map_err(|e| e.to_string())?;
        if ctx.cancelled() {
            break;
        }
        images.push(rgba(&img));
    }
    Ok(JobOutput::Images(images))
}

fn chat_history(messages: &[protocol::ChatMessage]) -> Vec<ChatMessage> {
    let mut out: Vec<ChatMessage> = Vec::new();
    for m in messages {
        match m.role {
            Role::User => {
                // The model takes one visual per turn: the first attachment.
                let attachment = m.attachments.first().map(|a| match a {
                    Attachment::Image(img) => chat::Attachment::Image(rgb(img)),
                    Attachment::MaskedRegion { image, mask } => {
                        chat::Attachment::Image(masked_crop(image, mask))
                    }
                    Attachment::Video { frames, .. } => chat::Attachment::Video(SampledVideo {
                        frames: frames
                            .iter()
                            .map(|f| SampledFrame {
                                index: f.index,
                                timestamp_s: Some(f.timestamp_s),
                                image: rgb(&f.image),
                            })
                            .collect(),
                        total_frames: frames.last().map_or(0, |f| f.index + 1),
                        duration_s: frames.last().map(|f| f.timestamp_s),
                    }),
                });
                out.push(ChatMessage {
                    question: m.text.clone(),
                    attachment,
                    answer: None,
                });
            }
            Role::Assistant => {
                if let Some(last) = out.last_mut() {
                    last.answer = Some(m.text.clone());
                }
            }
        }
    }
    out
}

/// The masked region's bounding box (with some context), resized back to the image size so
/// the model sees it at its native resolution.
fn masked_crop(image: &RgbaImage, mask: &GrayImage) -> RgbImage {
    let (w, h) = image.dimensions();
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for (x, y, p) in mask.enumerate_pixels() {
        if p.0[0] >= 128 {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
        }
    }
    if x1 <= x0 || y1 <= y0 {
        return rgb(image);
    }
    let margin = ((x1 - x0).max(y1 - y0) / 4).max(4);
    let (x0, y0) = (x0.saturating_sub(margin), y0.saturating_sub(margin));
    let (x1, y1) = ((x1 + margin).min(w), (y1 + margin).min(h));
    let crop = image::imageops::crop_imm(image, x0, y0, x1 - x0, y1 - y0).to_image();
    rgb(&image::imageops::resize(
        &crop,
        w,
        h,
        image::imageops::FilterType::CatmullRom,
    ))
}

/// Asks with the engine's chat options, streaming tokens to the job and polling its
/// cancellation; returns the answer text.
fn ask_streaming(
    p: &Pipeline,
    history: &[ChatMessage],
    o: &protocol::ChatOptions,
    ctx: &mut JobContext,
) -> Result<String, String> {
    let opts = chat::ChatOptions {
        max_new_tokens: o.max_new_tokens as usize,
        sampling: Sampling {
            temperature: o.temperature,
            top_p: o.top_p,
            seed: o.seed,
        },
        ..Default::default()
    };
    // Both callbacks need the context; the pipeline never calls them at the same time.
    let cell = std::cell::RefCell::new(ctx);
    let answer = p
        .ask(history, &opts, &mut |t| cell.borrow_mut().token(t), &|| {
            cell.borrow_mut().cancelled()
        })
        .map_err(|e| e.to_string())?;
    Ok(answer.text)
}

impl Backend for PipelineBackend {
    fn load(
        &mut self,
        source: &ModelSource,
        settings: &LoadSettings,
        progress: &mut dyn FnMut(f32),
    ) -> Result<ModelInfo, String> {
        let catalog = Catalog::builtin();
        // The built-in model is the catalog's built-in entry; both resolve through the hub.
        let (dir, entry) = match source {
            ModelSource::Folder(p) => (p.clone(), None),
            ModelSource::BuiltIn | ModelSource::Catalog(_) => {
                let id = match source {
                    ModelSource::Catalog(id) => id.as_str(),
                    _ => crate::assets::DEFAULT_BUILTIN_MODEL_ID,
                };
                let entry = catalog.model(id).map_err(|e| e.to_string())?;
                let dir = manager::folder_for_id(&catalog, id).map_err(|e| e.to_string())?;
                (dir, Some(entry))
            }
        };
        let choice: DeviceChoice = settings
            .device
            .parse()
            .map_err(|e| format!("device {:?}: {e}", settings.device))?;
        let dtype = match &settings.dtype {
            Some(d) => parse_dtype(d).map_err(|e| e.to_string())?,
            None => choice.default_dtype(),
        };
        let llm_quant = parse_llm_quant(&settings.llm_quant).map_err(|e| e.to_string())?;
        let device = choice.open().map_err(|e| e.to_string())?;
        self.pipeline = None; // one model resident: free the old one first
        progress(0.1);
        let options = LoadOptions {
            llm_quant,
            bin_cache: if settings.convert_bin {
                BinCache::Convert
            } else {
                BinCache::UseIfPresent
            },
            cache_root: None,
        };
        let p = Pipeline::load_with(&dir, &device, dtype, &options).map_err(|e| e.to_string())?;
        progress(1.0);
        let (w, _) = p.native_size();
        let dtype_name = format!("{dtype:?}").to_lowercase();
        let parameters = match entry.and_then(|e| e.params) {
            Some(n) => n.llm + n.rest + n.vae.unwrap_or(0),
            None => std::fs::metadata(dir.join("model.safetensors"))
                .map(|m| m.len() / dtype.size_in_bytes() as u64)
                .unwrap_or(0),
        };
        let memory_bytes = match entry {
            Some(e) if e.params.is_some() => memory::estimate(
                &catalog,
                e,
                settings.memory_options(),
                memory::Workload::default_for(e),
                settings.memory_device(),
            )
            .device_peak(),
            _ => parameters * dtype.size_in_bytes() as u64 * 5 / 4,
        };
        // Capabilities from the catalog where the model is in it; a bare folder is assumed to
        // do everything the architecture can (the engine refuses what fails at run time).
        let can = |c: Capability| entry.is_none_or(|e| e.supports(c));
        let info = ModelInfo {
            name: match source {
                ModelSource::BuiltIn => crate::assets::builtin_model_id(),
                ModelSource::Catalog(id) => {
                    entry.map_or_else(|| id.clone(), |e| e.display_name.clone())
                }
                ModelSource::Folder(_) => p.model_id.clone(),
            },
            source: source.clone(),
            resolutions: entry
                .map(|e| e.native_resolutions.clone())
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| vec![w]),
            pixel_grid: p.grid_px(),
            image_generation: can(Capability::TextToImage),
            image_chat: can(Capability::ImageChat),
            video_chat: can(Capability::VideoChat),
            max_video_frames: p.settings.video_frames,
            guidance: p.settings.guidance,
            steps: u32::try_from(p.settings.steps).unwrap_or(u32::MAX),
            eta: p.settings.eta,
            device: settings.device.clone(),
            dtype: match llm_quant {
                Some(_) => format!("{dtype_name}, LLM {}", settings.llm_quant.to_lowercase()),
                None => dtype_name,
            },
            parameters,
            memory_bytes,
            settings: settings.clone(),
        };
        self.pipeline = Some(p);
        Ok(info)
    }

    fn run(&mut self, job: &JobKind, ctx: &mut JobContext) -> Result<JobOutput, String> {
        let p = self.pipeline()?;
        match job {
            JobKind::LoadModel(..) => Err("model loads are handled by the engine".into()),
            JobKind::Generate(r) => candidates(&r.settings, ctx, |mut req, ctl| {
                req.size = Some((r.width, r.height));
                Ok(p.generate(&req, ctl)?.image)
            }),
            JobKind::Inpaint(r) => candidates(&r.settings, ctx, |req, ctl| {
                let mut ir = InpaintRequest::new(req, rgb(&r.image), r.mask.clone());
                ir.feather_px = r.feather_px;
                ir.resample = r.resample.unwrap_or(p.settings.resample);
                ir.strength = r.strength.unwrap_or(p.settings.inpaint_strength);
                Ok(p.inpaint(&ir, ctl)?.image)
            }),
            JobKind::Extend(r) => candidates(&r.settings, ctx, |req, ctl| {
                let mut er = ExtendRequest::new(req, rgb(&r.image), r.growth);
                er.resample = r.resample.unwrap_or(p.settings.resample);
                er.strength = r.strength.unwrap_or(p.settings.extend_strength);
                Ok(p.extend(&er, ctl)?.image)
            }),
            JobKind::Chat(r) => {
                let history = chat_history(&r.messages);
                let frames_seen = r
                    .messages
                    .iter()
                    .rev()
                    .find(|m| m.role == Role::User)
                    .and_then(|m| {
                        m.attachments.iter().find_map(|a| match a {
                            Attachment::Video { frames, .. } => {
                                Some(frames.iter().map(|f| f.index).collect())
                            }
                            _ => None,
                        })
                    })
                    .unwrap_or_default();
                Ok(JobOutput::Text {
                    text: ask_streaming(p, &history, &r.options, ctx)?,
                    frames_seen,
                })
            }
            JobKind::DescribeMask(r) => {
                // The unified model reads the masked region and drafts an inpainting prompt.
                let msg = ChatMessage {
                    question: "describe the picture".into(),
                    attachment: Some(chat::Attachment::Image(masked_crop(&r.image, &r.mask))),
                    answer: None,
                };
                Ok(JobOutput::Text {
                    text: ask_streaming(p, &[msg], &r.options, ctx)?,
                    frames_seen: vec![],
                })
            }
        }
    }

    fn unload(&mut self) {
        self.pipeline = None;
    }
}
