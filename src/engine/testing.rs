//! A scripted stand-in for the model, for tests of the engine and the studio GUI.
//!
//! **This is a test double, not a model.** It paints flat colours named in the prompt, blends
//! previews from grey towards that colour step by step, and streams canned sentences built
//! from simple pixel statistics. It exists so the GUI plumbing (previews, streaming, queue,
//! cancellation, crash recovery) can be exercised deterministically without weights. The
//! shipped binary never uses it as its backend.

use std::path::Path;
use std::time::Duration;

use image::{GrayImage, Rgba, RgbaImage, imageops};

use super::backend::{Backend, JobContext};
use super::protocol::{
    Attachment, ChatRequest, DescribeMaskRequest, ExtendRequest, GenerateRequest, ImageSettings,
    InpaintRequest, JobKind, JobOutput, LoadSettings, ModelInfo, ModelSource, Role,
};

/// A prompt containing this makes the scripted backend panic after its first step, to test
/// crash recovery.
pub const PANIC_MARKER: &str = "!panic";

/// The scripted test double; see the module docs.
#[derive(Debug, Clone)]
pub struct ScriptedBackend {
    /// Sleep per flow step, streamed word and load stage, so tests can act mid-job.
    pub step_delay: Duration,
    /// Whether the fake model claims video chat.
    pub video_chat: bool,
    /// Frames one video question uses.
    pub max_video_frames: usize,
    /// The guidance the fake model asks requests to start from.
    pub guidance: f32,
    /// The flow steps the fake model asks requests to start from.
    pub steps: u32,
    /// The share of fresh noise per step the fake model asks requests to start from.
    pub eta: f32,
    loaded: Option<ModelInfo>,
}

impl Default for ScriptedBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl ScriptedBackend {
    pub fn new() -> Self {
        ScriptedBackend {
            step_delay: Duration::ZERO,
            video_chat: true,
            max_video_frames: 4,
            guidance: 5.0,
            steps: crate::pipeline::generate::OFFICIAL_STEPS as u32,
            eta: 0.0,
            loaded: None,
        }
    }

    pub fn with_step_delay(mut self, delay: Duration) -> Self {
        self.step_delay = delay;
        self
    }

    /// What `load` reports for `source`.
    pub fn model_info(&self, source: &ModelSource, settings: &LoadSettings) -> ModelInfo {
        ModelInfo {
            name: "scripted test backend (not a model)".to_owned(),
            source: source.clone(),
            resolutions: vec![64, 128, 432],
            pixel_grid: 16,
            image_generation: true,
            image_chat: true,
            video_chat: self.video_chat,
            max_video_frames: self.max_video_frames,
            guidance: self.guidance,
            steps: self.steps,
            eta: self.eta,
            device: settings.device.clone(),
            dtype: match settings.llm_quant.as_str() {
                "none" => settings.dtype.clone().unwrap_or_else(|| "f32".to_owned()),
                q => format!("f32, LLM {q}"),
            },
            parameters: 0,
            memory_bytes: 0,
            settings: settings.clone(),
        }
    }

    fn pause(&self) {
        if !self.step_delay.is_zero() {
            std::thread::sleep(self.step_delay);
        }
    }

    /// Runs the flow-step loop: progress, previews blending grey → `target`, cancellation,
    /// and the scripted panic. Returns false if cancelled.
    fn denoise(&self, settings: &ImageSettings, target: &RgbaImage, ctx: &mut JobContext) -> bool {
        let total = settings.steps.max(1);
        for step in 1..=total {
            if ctx.cancelled() {
                return false;
            }
            self.pause();
            ctx.step(step, total);
            if step == 1 && settings.prompt.contains(PANIC_MARKER) {
                panic!("scripted panic in the middle of a job");
            }
            let preview = &settings.preview;
            if preview.enabled && step % preview.every_n_steps.max(1) == 0 {
                ctx.preview(preview_image(
                    target,
                    step as f32 / total as f32,
                    preview.max_side,
                ));
            }
        }
        !ctx.cancelled()
    }

    fn generate(&self, r: &GenerateRequest, ctx: &mut JobContext) -> Result<JobOutput, String> {
        let candidates = candidates(&r.settings, |settings| {
            flat_image(r.width, r.height, prompt_colour(settings))
        });
        self.finish(&r.settings, candidates, ctx)
    }

    fn inpaint(&self, r: &InpaintRequest, ctx: &mut JobContext) -> Result<JobOutput, String> {
        if r.mask.dimensions() != r.image.dimensions() {
            return Err(format!(
                "mask is {}x{} but the image is {}x{}; expected the same size",
                r.mask.width(),
                r.mask.height(),
                r.image.width(),
                r.image.height()
            ));
        }
        let candidates = candidates(&r.settings, |settings| {
            paint_masked(&r.image, &r.mask, prompt_colour(settings))
        });
        self.finish(&r.settings, candidates, ctx)
    }

    fn extend(&self, r: &ExtendRequest, ctx: &mut JobContext) -> Result<JobOutput, String> {
        let g = r.growth;
        let width = r.image.width() + g.left + g.right;
        let height = r.image.height() + g.top + g.bottom;
        let candidates = candidates(&r.settings, |settings| {
            let mut canvas = flat_image(width, height, prompt_colour(settings));
            imageops::replace(&mut canvas, &r.image, g.left.into(), g.top.into());
            canvas
        });
        self.finish(&r.settings, candidates, ctx)
    }

    fn finish(
        &self,
        settings: &ImageSettings,
        candidates: Vec<RgbaImage>,
        ctx: &mut JobContext,
    ) -> Result<JobOutput, String> {
        let first = candidates.first().ok_or("zero candidates requested")?;
        if !self.denoise(settings, first, ctx) {
            return Err("cancelled".to_owned());
        }
        Ok(JobOutput::Images(candidates))
    }

    fn chat(&self, r: &ChatRequest, ctx: &mut JobContext) -> Result<JobOutput, String> {
        let question = r
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .ok_or("the conversation has no user message to answer")?;
        let mut frames_seen = Vec::new();
        let mut sentences = Vec::new();
        for attachment in r.messages.iter().flat_map(|m| &m.attachments) {
            match attachment {
                Attachment::Image(image) => sentences.push(format!(
                    "The picture is {}x{} and mostly {}.",
                    image.width(),
                    image.height(),
                    colour_name(mean_colour(image, None))
                )),
                Attachment::MaskedRegion { image, mask } => sentences.push(format!(
                    "The marked region is mostly {}.",
                    colour_name(mean_colour(image, Some(mask)))
                )),
                Attachment::Video { name, frames } => {
                    let picked = spread(frames.len(), self.max_video_frames);
                    let times: Vec<String> = picked
                        .iter()
                        .map(|&i| format!("{:.1} s", frames[i].timestamp_s))
                        .collect();
                    frames_seen.extend(picked.iter().map(|&i| frames[i].index));
                    let colour = picked
                        .first()
                        .map(|&i| colour_name(mean_colour(&frames[i].image, None)))
                        .unwrap_or("empty");
                    sentences.push(format!(
                        "In {name} I looked at the frames at {}; it starts mostly {colour}.",
                        times.join(", ")
                    ));
                }
            }
        }
        if sentences.is_empty() {
            sentences.push(format!("You asked: {}", question.text.trim()));
        }
        let text = self.stream(&sentences.join(" "), ctx)?;
        Ok(JobOutput::Text { text, frames_seen })
    }

    fn describe_mask(
        &self,
        r: &DescribeMaskRequest,
        ctx: &mut JobContext,
    ) -> Result<JobOutput, String> {
        let inside = colour_name(mean_colour(&r.image, Some(&r.mask)));
        let text = self.stream(&format!("a {inside} area"), ctx)?;
        Ok(JobOutput::Text {
            text,
            frames_seen: Vec::new(),
        })
    }

    /// Streams `text` word by word; the result is exactly the concatenated tokens.
    fn stream(&self, text: &str, ctx: &mut JobContext) -> Result<String, String> {
        let mut sent = String::new();
        for (i, word) in text.split(' ').enumerate() {
            if ctx.cancelled() {
                return Err("cancelled".to_owned());
            }
            self.pause();
            let token = if i == 0 {
                word.to_owned()
            } else {
                format!(" {word}")
            };
            ctx.token(&token);
            sent.push_str(&token);
        }
        Ok(sent)
    }
}

impl Backend for ScriptedBackend {
    fn load(
        &mut self,
        source: &ModelSource,
        settings: &LoadSettings,
        progress: &mut dyn FnMut(f32),
    ) -> Result<ModelInfo, String> {
        if let ModelSource::Folder(path) = source {
            check_folder(path)?;
        }
        for stage in 1..=4 {
            self.pause();
            progress(stage as f32 / 4.0);
        }
        let info = self.model_info(source, settings);
        self.loaded = Some(info.clone());
        Ok(info)
    }

    fn run(&mut self, job: &JobKind, ctx: &mut JobContext) -> Result<JobOutput, String> {
        if self.loaded.is_none() {
            return Err("scripted backend: run before load".to_owned());
        }
        match job {
            JobKind::LoadModel(..) => Err("LoadModel is handled by the engine".to_owned()),
            JobKind::Generate(r) => self.generate(r, ctx),
            JobKind::Inpaint(r) => self.inpaint(r, ctx),
            JobKind::Extend(r) => self.extend(r, ctx),
            JobKind::Chat(r) => self.chat(r, ctx),
            JobKind::DescribeMask(r) => self.describe_mask(r, ctx),
        }
    }

    fn unload(&mut self) {
        self.loaded = None;
    }
}

fn check_folder(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        Ok(())
    } else {
        Err(format!(
            "model folder {} does not exist; expected a folder with config.json and weights",
            path.display()
        ))
    }
}

/// One image per candidate; candidate `i` uses seed `seed + i`, which shifts its colour a bit
/// so candidates differ.
fn candidates(
    settings: &ImageSettings,
    paint: impl Fn(&ImageSettings) -> RgbaImage,
) -> Vec<RgbaImage> {
    (0..settings.candidates.max(1) as u64)
        .map(|i| {
            let mut s = settings.clone();
            s.seed = settings.seed.wrapping_add(i);
            paint(&s)
        })
        .collect()
}

const PALETTE: [(&str, [u8; 3]); 9] = [
    ("red", [220, 40, 40]),
    ("green", [40, 180, 60]),
    ("blue", [40, 80, 220]),
    ("yellow", [235, 215, 40]),
    ("orange", [240, 140, 30]),
    ("purple", [140, 60, 200]),
    ("white", [245, 245, 245]),
    ("black", [15, 15, 15]),
    ("grey", [128, 128, 128]),
];

/// The first palette colour named in the prompt (grey if none), nudged by the seed.
fn prompt_colour(settings: &ImageSettings) -> Rgba<u8> {
    let prompt = settings.prompt.to_lowercase();
    let base = prompt
        .split(|c: char| !c.is_alphanumeric())
        .find_map(|word| PALETTE.iter().find(|(name, _)| *name == word))
        .map(|(_, rgb)| *rgb)
        .unwrap_or([128, 128, 128]);
    let nudge = (settings.seed % 4) as u8 * 3;
    Rgba([
        base[0].saturating_sub(nudge),
        base[1].saturating_sub(nudge),
        base[2].saturating_sub(nudge),
        255,
    ])
}

fn flat_image(width: u32, height: u32, colour: Rgba<u8>) -> RgbaImage {
    RgbaImage::from_pixel(width.max(1), height.max(1), colour)
}

fn paint_masked(image: &RgbaImage, mask: &GrayImage, colour: Rgba<u8>) -> RgbaImage {
    let mut out = image.clone();
    for (x, y, pixel) in out.enumerate_pixels_mut() {
        let a = mask.get_pixel(x, y).0[0] as f32 / 255.0;
        for c in 0..3 {
            pixel.0[c] = (pixel.0[c] as f32 * (1.0 - a) + colour.0[c] as f32 * a).round() as u8;
        }
        pixel.0[3] = pixel.0[3].max((a * 255.0) as u8);
    }
    out
}

/// The "x̂₀ preview" of the scripted run: grey blended towards the target by `t`, scaled so
/// the longer side is at most `max_side`.
fn preview_image(target: &RgbaImage, t: f32, max_side: u32) -> RgbaImage {
    let (w, h) = target.dimensions();
    let scale = (max_side.max(1) as f32 / w.max(h) as f32).min(1.0);
    let (pw, ph) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    let small = if (pw, ph) == (w, h) {
        target.clone()
    } else {
        imageops::resize(target, pw, ph, imageops::FilterType::Nearest)
    };
    RgbaImage::from_fn(pw, ph, |x, y| {
        let p = small.get_pixel(x, y).0;
        let mix = |c: u8| (128.0 * (1.0 - t) + c as f32 * t).round() as u8;
        Rgba([mix(p[0]), mix(p[1]), mix(p[2]), 255])
    })
}

fn mean_colour(image: &RgbaImage, mask: Option<&GrayImage>) -> [u8; 3] {
    let mut sum = [0f64; 3];
    let mut weight = 0f64;
    for (x, y, p) in image.enumerate_pixels() {
        let w = mask.map_or(1.0, |m| {
            if x < m.width() && y < m.height() {
                m.get_pixel(x, y).0[0] as f64 / 255.0
            } else {
                0.0
            }
        });
        for (total, &channel) in sum.iter_mut().zip(&p.0[..3]) {
            *total += channel as f64 * w;
        }
        weight += w;
    }
    if weight == 0.0 {
        return [128, 128, 128];
    }
    sum.map(|s| (s / weight).round() as u8)
}

fn colour_name(rgb: [u8; 3]) -> &'static str {
    let distance =
        |p: &[u8; 3]| -> i32 { (0..3).map(|c| (p[c] as i32 - rgb[c] as i32).pow(2)).sum() };
    PALETTE
        .iter()
        .min_by_key(|(_, p)| distance(p))
        .map(|(name, _)| *name)
        .unwrap_or("grey")
}

/// `n` indices spread evenly over `0..len` (all of them if `len <= n`).
fn spread(len: usize, n: usize) -> Vec<usize> {
    if len <= n || n == 0 {
        return (0..len).collect();
    }
    if n == 1 {
        return vec![0];
    }
    (0..n).map(|i| i * (len - 1) / (n - 1)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_colour_reads_the_first_colour_word() {
        let settings = ImageSettings {
            prompt: "A Blue square next to a red circle".into(),
            ..ImageSettings::default()
        };
        assert_eq!(prompt_colour(&settings), Rgba([40, 80, 220, 255]));
    }

    #[test]
    fn spread_keeps_both_ends() {
        assert_eq!(spread(10, 4), vec![0, 3, 6, 9]);
        assert_eq!(spread(3, 4), vec![0, 1, 2]);
    }

    #[test]
    fn colour_names_round_trip_the_palette() {
        for (name, rgb) in PALETTE {
            assert_eq!(colour_name(rgb), name);
        }
    }
}
