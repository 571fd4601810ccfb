//! The messages between the studio and the inference thread: jobs and control commands go
//! down, events come up. Everything image-like is an `image` crate type, so the GUI never sees
//! a tensor and the pipelines never see egui.

use std::fmt;
use std::path::PathBuf;

use image::{GrayImage, RgbaImage};
use serde::{Deserialize, Serialize};

use crate::hub::catalog::Dtype;
use crate::hub::memory;
use crate::media::Growth;

/// Identifies one job from submission to its final event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Identifies a chat thread, so streamed answers land in the right conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ThreadId(pub u64);

/// Where a model comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModelSource {
    /// The tiny Show-o2 that ships inside the application.
    BuiltIn,
    /// A checkpoint folder (config.json, safetensors, tokenizer).
    Folder(PathBuf),
    /// A downloaded model of the catalog (`models.toml`), by id.
    Catalog(String),
}

impl fmt::Display for ModelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSource::BuiltIn => f.write_str("built-in tiny model"),
            ModelSource::Folder(path) => write!(f, "{}", path.display()),
            ModelSource::Catalog(id) => f.write_str(id),
        }
    }
}

/// How a model is loaded: where it runs, in which precision, whether the LLM is quantized,
/// and whether a `.bin` checkpoint may be converted to a safetensors cache (disk, with consent).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LoadSettings {
    /// "cpu", "cuda:0", "metal:0".
    pub device: String,
    /// "f32", "bf16", "f16"; None = the device's default (f32 on the CPU, bf16 on GPUs).
    pub dtype: Option<String>,
    /// "none", "q8_0", "q4_0" or "q4_k".
    pub llm_quant: String,
    /// The user agreed to convert `.bin` checkpoints into the safetensors cache.
    pub convert_bin: bool,
}

impl Default for LoadSettings {
    fn default() -> Self {
        Self {
            device: "cpu".into(),
            dtype: None,
            llm_quant: "none".into(),
            convert_bin: false,
        }
    }
}

impl LoadSettings {
    /// The memory estimate's view of these settings (device default dtype: f32 on the CPU,
    /// bf16 on GPUs, as the load itself picks).
    pub fn memory_options(&self) -> memory::LoadOptions {
        let dtype = match (self.dtype.as_deref(), self.device.as_str()) {
            (Some("bf16"), _) => Dtype::Bf16,
            (Some("f16"), _) => Dtype::F16,
            (Some(_), _) | (None, "cpu") => Dtype::F32,
            (None, _) => Dtype::Bf16,
        };
        memory::LoadOptions {
            dtype,
            // q4_0 is costed like q4_k (both ~4.5 bits per weight with their scales).
            llm_quant: match self.llm_quant.as_str() {
                "q8_0" => Some(memory::LlmQuant::Q8_0),
                "q4_0" | "q4_k" => Some(memory::LlmQuant::Q4K),
                _ => None,
            },
            vae_on_cpu: false,
        }
    }

    /// The estimate's device kind for `device` ("cpu", "cuda:0", "metal:0").
    pub fn memory_device(&self) -> memory::Device {
        match self.device.split(':').next() {
            Some("cuda") => memory::Device::Cuda,
            Some("metal") => memory::Device::Metal,
            _ => memory::Device::Cpu,
        }
    }
}

impl fmt::Display for LoadSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.device)?;
        if let Some(d) = &self.dtype {
            write!(f, ", {d}")?;
        }
        if self.llm_quant != "none" {
            write!(f, ", LLM {}", self.llm_quant)?;
        }
        Ok(())
    }
}

/// What the resident model is and can do, as the Models panel shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub source: ModelSource,
    /// Square image sides the checkpoint was trained for (e.g. 432, 512, 1024).
    pub resolutions: Vec<u32>,
    /// Canvas sides must be multiples of this many pixels (VAE stride × patch size = 16).
    pub pixel_grid: u32,
    pub image_generation: bool,
    pub image_chat: bool,
    pub video_chat: bool,
    /// How many frames one video question may use.
    pub max_video_frames: usize,
    /// The guidance scale new requests start from (the checkpoint's `studio.json`, else the
    /// official 5).
    pub guidance: f32,
    /// The flow steps new requests start from (the checkpoint's `studio.json`, else the
    /// official 49).
    pub steps: u32,
    /// The share of fresh noise per flow step new requests start from (the checkpoint's
    /// `studio.json`, else the official Euler sampler's 0).
    #[serde(default)]
    pub eta: f32,
    /// Where the weights live, e.g. "cpu", "cuda:0".
    pub device: String,
    /// e.g. "f32", "bf16".
    pub dtype: String,
    pub parameters: u64,
    /// Estimated resident memory for weights plus working buffers, in bytes.
    pub memory_bytes: u64,
    /// What it was loaded with (a reload with other settings is a new load).
    #[serde(default)]
    pub settings: LoadSettings,
}

/// How often and how large live previews of the flow steps are.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PreviewSettings {
    pub enabled: bool,
    /// A preview after every this many steps (1 = every step).
    pub every_n_steps: u32,
    /// Previews are scaled so that their longer side is at most this many pixels.
    pub max_side: u32,
}

impl Default for PreviewSettings {
    fn default() -> Self {
        PreviewSettings {
            enabled: true,
            every_n_steps: 1,
            max_side: 512,
        }
    }
}

/// Sampling settings shared by every image job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageSettings {
    pub prompt: String,
    pub negative_prompt: String,
    pub seed: u64,
    pub steps: u32,
    pub guidance: f32,
    /// Share of fresh noise per flow step: 0 is the official Euler sampler, 1 ancestral.
    #[serde(default)]
    pub eta: f32,
    /// How many candidates to produce (each with seed, seed + 1, ...).
    pub candidates: u32,
    pub preview: PreviewSettings,
}

impl Default for ImageSettings {
    fn default() -> Self {
        ImageSettings {
            prompt: String::new(),
            negative_prompt: String::new(),
            seed: 0,
            steps: 50,
            guidance: 5.0,
            eta: 0.0,
            candidates: 1,
            preview: PreviewSettings::default(),
        }
    }
}

/// Text to image.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    pub settings: ImageSettings,
    pub width: u32,
    pub height: u32,
}

/// Regenerate the masked part of an image (mask 255 = regenerate, 0 = keep).
#[derive(Debug, Clone, PartialEq)]
pub struct InpaintRequest {
    pub settings: ImageSettings,
    pub image: RgbaImage,
    pub mask: GrayImage,
    /// Soft edge of the final blend, in pixels.
    pub feather_px: f32,
    /// RePaint jumps per denoising step (each re-noises and redoes the step so the new area
    /// agrees with the kept image); `None` = the model's own setting (`studio.json`).
    pub resample: Option<usize>,
    /// Denoising strength in (0, 1] (1 = from pure noise, lower keeps more of what is under
    /// the mask); `None` = the model's own setting (`studio.json`).
    pub strength: Option<f32>,
}

/// Grow the canvas and fill the new area. `growth` is already snapped to the model's grid, so
/// the result is `image` plus `growth` on each side.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtendRequest {
    pub settings: ImageSettings,
    pub image: RgbaImage,
    pub growth: Growth,
    pub feather_px: f32,
    /// As `InpaintRequest::resample`.
    pub resample: Option<usize>,
    /// As `InpaintRequest::strength` (lower keeps more of the repeated edge).
    pub strength: Option<f32>,
}

/// Who said a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    User,
    Assistant,
}

/// One frame of a loaded video, with its place in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoFrame {
    /// Index among all the source's frames.
    pub index: usize,
    pub timestamp_s: f64,
    pub image: RgbaImage,
}

/// What a message can carry besides text.
#[derive(Debug, Clone, PartialEq)]
pub enum Attachment {
    /// The whole canvas.
    Image(RgbaImage),
    /// The canvas with the painted mask, so the model can be asked about that region.
    MaskedRegion { image: RgbaImage, mask: GrayImage },
    /// Frames sampled from a loaded video.
    Video {
        name: String,
        frames: Vec<VideoFrame>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    pub role: Role,
    pub text: String,
    pub attachments: Vec<Attachment>,
}

/// How answers are sampled.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChatOptions {
    pub max_new_tokens: u32,
    /// 0 = greedy.
    pub temperature: f32,
    pub top_p: f32,
    pub seed: u64,
}

impl Default for ChatOptions {
    fn default() -> Self {
        ChatOptions {
            max_new_tokens: 256,
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
        }
    }
}

/// Answer the last user message of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub thread: ThreadId,
    pub messages: Vec<ChatMessage>,
    pub options: ChatOptions,
}

/// Draft an inpainting prompt from what the model sees under the mask and around it.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribeMaskRequest {
    pub image: RgbaImage,
    pub mask: GrayImage,
    pub options: ChatOptions,
}

/// What a job asks the engine to do.
#[derive(Debug, Clone, PartialEq)]
pub enum JobKind {
    LoadModel(ModelSource, LoadSettings),
    Generate(GenerateRequest),
    Inpaint(InpaintRequest),
    Extend(ExtendRequest),
    Chat(ChatRequest),
    DescribeMask(DescribeMaskRequest),
}

impl JobKind {
    /// A short line for the queue panel.
    pub fn summary(&self) -> String {
        fn clip(text: &str) -> String {
            const MAX: usize = 40;
            let text = text.trim();
            if text.chars().count() <= MAX {
                text.to_owned()
            } else {
                let head: String = text.chars().take(MAX - 1).collect();
                format!("{head}…")
            }
        }
        match self {
            JobKind::LoadModel(source, settings) => format!("Load {source} ({settings})"),
            JobKind::Generate(r) => format!(
                "Generate {}x{}: {}",
                r.width,
                r.height,
                clip(&r.settings.prompt)
            ),
            JobKind::Inpaint(r) => format!("Inpaint: {}", clip(&r.settings.prompt)),
            JobKind::Extend(r) => format!(
                "Extend L{} R{} T{} B{}: {}",
                r.growth.left,
                r.growth.right,
                r.growth.top,
                r.growth.bottom,
                clip(&r.settings.prompt)
            ),
            JobKind::Chat(r) => {
                let last = r.messages.last().map(|m| m.text.as_str()).unwrap_or("");
                format!("Chat: {}", clip(last))
            }
            JobKind::DescribeMask(_) => "Describe the mask".to_owned(),
        }
    }

    /// Whether the job needs a resident model (everything except loading one).
    pub fn needs_model(&self) -> bool {
        !matches!(self, JobKind::LoadModel(..))
    }
}

/// A job with its identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub kind: JobKind,
}

/// Everything the studio can tell the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Submit(Job),
    /// Cancel a pending job, or the running one at its next step.
    Cancel(JobId),
    CancelAll,
    /// Finish the running job but start no new one until [`Command::Resume`].
    Pause,
    Resume,
    /// Move a pending job to `to` (0 = next to run).
    Reorder {
        job: JobId,
        to: usize,
    },
    /// Cancel everything and end the thread.
    Shutdown,
}

/// What a finished job produced.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutput {
    /// A model is resident (boxed: the info is large and the other outputs are sent far more
    /// often).
    Model(Box<ModelInfo>),
    /// Candidate images, in seed order.
    Images(Vec<RgbaImage>),
    /// An answer, with the video frames (source indices) it looked at.
    Text {
        text: String,
        frames_seen: Vec<usize>,
    },
}

/// Everything the engine tells the studio.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A submitted job waits at `position` (0 = next).
    Queued {
        job: JobId,
        position: usize,
    },
    /// The pending jobs in run order, after any change to the queue.
    QueueChanged {
        pending: Vec<JobId>,
        paused: bool,
    },
    Started {
        job: JobId,
    },
    ModelLoading {
        job: JobId,
        progress: f32,
    },
    ModelLoaded(ModelInfo),
    ModelUnloaded,
    Progress {
        job: JobId,
        step: u32,
        total: u32,
    },
    /// The predicted final image at `step`, for live display.
    Preview {
        job: JobId,
        step: u32,
        image: RgbaImage,
    },
    /// A piece of a streamed answer.
    Token {
        job: JobId,
        text: String,
    },
    Done {
        job: JobId,
        output: JobOutput,
    },
    Failed {
        job: JobId,
        error: String,
    },
    Cancelled {
        job: JobId,
    },
    /// The backend panicked. The engine drops the model state it may have corrupted, reloads
    /// the resident model and then sends [`Event::EngineRestarted`].
    EngineCrashed {
        job: Option<JobId>,
        message: String,
    },
    EngineRestarted,
    /// The thread ended after [`Command::Shutdown`].
    Stopped,
}

impl Event {
    /// The job this event is about, if any.
    pub fn job(&self) -> Option<JobId> {
        match self {
            Event::Queued { job, .. }
            | Event::Started { job }
            | Event::ModelLoading { job, .. }
            | Event::Progress { job, .. }
            | Event::Preview { job, .. }
            | Event::Token { job, .. }
            | Event::Done { job, .. }
            | Event::Failed { job, .. }
            | Event::Cancelled { job } => Some(*job),
            Event::EngineCrashed { job, .. } => *job,
            Event::QueueChanged { .. }
            | Event::ModelLoaded(_)
            | Event::ModelUnloaded
            | Event::EngineRestarted
            | Event::Stopped => None,
        }
    }

    /// Whether this is the last event of its job.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Event::Done { .. } | Event::Failed { .. } | Event::Cancelled { .. }
        )
    }
}
