//! The studio window: owns the engine handle and the panels, routes engine events to them,
//! turns panel actions into jobs, and handles files, autosave and shortcuts.
//!
//! Nothing here waits on the model: jobs go down a channel, events come up one, and the
//! engine's waker asks egui for a repaint when something arrives.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::{Key, Modifiers, Pos2, Rect, Ui, vec2};
use image::RgbaImage;

use super::canvas::{Accepted, CandidateOrigin, Canvas};
use super::chat::{ChatAction, ChatEntry, ChatPanel};
use super::files::{
    Autosaver, DialogAnswer, FileAction, FileDialogs, FilesAction, InAppDialogs, MaskSettings,
    PathPrompt, Project, PromptOutcome, RecentFiles, files_ui, load_project, recovery_path,
    save_project,
};
use super::mask::{MaskAction, MaskPainter};
use super::models::{ModelsAction, ModelsPanel};
use super::prompt::{GenerationSettings, PromptAction};
use super::queue::{JobState, QueuePanel};
use super::timeline::{Timeline, TimelineAction};
use crate::engine::{
    Attachment, Backend, ChatOptions, ChatRequest, DescribeMaskRequest, Engine, Event,
    ExtendRequest, GenerateRequest, InpaintRequest, JobId, JobKind, JobOutput, ModelSource,
};
use crate::media::{GenerationMode, GenerationParams, GifFrame, GifRepeat, MaskInfo};

/// How the studio is set up; the defaults are what the binary uses.
pub struct StudioOptions {
    /// Recovery file and recent-files list live here.
    pub data_dir: PathBuf,
    /// Seconds between autosaves of a changed project.
    pub autosave_interval_s: f64,
    /// Queue loading the built-in model at start-up.
    pub load_built_in_on_start: bool,
    pub dialogs: Box<dyn FileDialogs>,
}

impl Default for StudioOptions {
    fn default() -> Self {
        StudioOptions {
            data_dir: super::files::default_data_dir(),
            autosave_interval_s: 5.0,
            load_built_in_on_start: true,
            dialogs: Box::new(InAppDialogs),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Chat,
    Queue,
    Models,
    Files,
}

/// Why a job was submitted, i.e. where its results go.
#[derive(Clone, Debug)]
enum Purpose {
    LoadModel,
    Image {
        params: Box<GenerationParams>,
        origin: CandidateOrigin,
        /// Where the result will sit on the canvas (canvas pixels).
        target: Rect,
    },
    Chat,
    DescribeMask,
}

/// A line in the status bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub text: String,
    pub error: bool,
}

/// Per-frame time spent building the ui, for the status bar and the frame-time report.
#[derive(Default, Clone, Debug)]
pub struct FrameStats {
    samples: std::collections::VecDeque<f32>,
}

impl FrameStats {
    const KEEP: usize = 600;

    pub fn record(&mut self, ms: f32) {
        if self.samples.len() == Self::KEEP {
            self.samples.pop_front();
        }
        self.samples.push_back(ms);
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The `q` quantile (0..=1) in milliseconds.
    pub fn quantile(&self, q: f32) -> f32 {
        if self.samples.is_empty() {
            return 0.0;
        }
        let mut sorted: Vec<f32> = self.samples.iter().copied().collect();
        sorted.sort_by(f32::total_cmp);
        let i = ((sorted.len() - 1) as f32 * q.clamp(0.0, 1.0)).round() as usize;
        sorted[i]
    }

    pub fn clear(&mut self) {
        self.samples.clear();
    }
}

pub struct StudioApp {
    engine: Engine,
    pub canvas: Canvas,
    pub mask: MaskPainter,
    pub chat: ChatPanel,
    pub timeline: Timeline,
    pub queue: QueuePanel,
    pub models: ModelsPanel,
    pub settings: GenerationSettings,
    pub tab: Tab,
    pub project_path: Option<PathBuf>,
    pub status: Option<Status>,
    pub frame_stats: FrameStats,
    /// The last job sent and what it asked for.
    pub last_submitted: Option<(JobId, JobKind)>,
    /// Backend crashes survived this session.
    pub engine_crashes: usize,
    jobs: HashMap<JobId, Purpose>,
    dialogs: Box<dyn FileDialogs>,
    path_prompt: Option<PathPrompt>,
    recovery_prompt: Option<PathBuf>,
    recent: RecentFiles,
    autosaver: Autosaver,
    autosave_interval_s: f64,
    last_autosave_check: f64,
    autosaved_fingerprint: u64,
    data_dir: PathBuf,
    gpu: bool,
    ctx: egui::Context,
}

impl StudioApp {
    pub fn new(
        cc: &eframe::CreationContext<'_>,
        backend: Box<dyn Backend>,
        options: StudioOptions,
    ) -> Self {
        let ctx = cc.egui_ctx.clone();
        let waker_ctx = ctx.clone();
        let engine =
            Engine::spawn_with_waker(backend, Arc::new(move || waker_ctx.request_repaint()));
        let gpu = match cc.wgpu_render_state.as_ref() {
            Some(render_state) => {
                super::canvas_gpu::install(render_state);
                true
            }
            None => false,
        };
        let recovery = recovery_path(&options.data_dir);
        let autosave_ctx = ctx.clone();
        let autosaver = Autosaver::new(recovery.clone(), move || autosave_ctx.request_repaint());
        let mut app = StudioApp {
            engine,
            canvas: Canvas::default(),
            mask: MaskPainter::default(),
            chat: ChatPanel::default(),
            timeline: Timeline::default(),
            queue: QueuePanel::default(),
            models: ModelsPanel::default(),
            settings: GenerationSettings::default(),
            tab: Tab::Chat,
            project_path: None,
            status: None,
            frame_stats: FrameStats::default(),
            last_submitted: None,
            engine_crashes: 0,
            jobs: HashMap::new(),
            dialogs: options.dialogs,
            path_prompt: None,
            recovery_prompt: recovery.is_file().then_some(recovery),
            recent: RecentFiles::load(&options.data_dir),
            autosaver,
            autosave_interval_s: options.autosave_interval_s,
            last_autosave_check: 0.0,
            autosaved_fingerprint: 0,
            data_dir: options.data_dir,
            gpu,
            ctx,
        };
        app.autosaved_fingerprint = app.fingerprint();
        if options.load_built_in_on_start {
            app.load_model(ModelSource::BuiltIn);
        }
        app
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Whether the canvas is drawn by the wgpu shader (else by egui textures).
    pub fn uses_gpu_canvas(&self) -> bool {
        self.gpu
    }

    pub fn recent_files(&self) -> &[PathBuf] {
        &self.recent.paths
    }

    pub fn recovery_pending(&self) -> Option<&Path> {
        self.recovery_prompt.as_deref()
    }

    pub fn autosave_path(&self) -> &Path {
        &self.autosaver.path
    }

    pub fn last_autosave(&self) -> Option<f64> {
        self.autosaver.last_saved_at
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn set_status(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some(Status {
            text: text.into(),
            error,
        });
    }

    // ---- jobs -----------------------------------------------------------------------------

    fn submit(&mut self, kind: JobKind, purpose: Purpose) -> JobId {
        let summary = kind.summary();
        let id = self.engine.submit(kind.clone());
        self.queue.submitted(id, summary);
        self.jobs.insert(id, purpose);
        self.last_submitted = Some((id, kind));
        id
    }

    pub fn load_model(&mut self, source: ModelSource) -> JobId {
        let id = self.submit(JobKind::LoadModel(source), Purpose::LoadModel);
        self.models.load_started(id);
        id
    }

    fn base_params(
        &self,
        settings: &crate::engine::ImageSettings,
        width: u32,
        height: u32,
        mode: GenerationMode,
    ) -> GenerationParams {
        let model = self.models.loaded.as_ref();
        GenerationParams {
            prompt: settings.prompt.clone(),
            negative_prompt: settings.negative_prompt.clone(),
            seed: settings.seed,
            steps: settings.steps,
            guidance: settings.guidance,
            width,
            height,
            model_id: model.map_or_else(String::new, |m| m.name.clone()),
            mode,
            app_version: env!("CARGO_PKG_VERSION").to_owned(),
            ..GenerationParams::default()
        }
    }

    pub fn generate(&mut self) -> JobId {
        let settings = self.settings.next_image_settings(self.canvas.show_previews);
        let (width, height) = (self.settings.width, self.settings.height);
        let params = self.base_params(&settings, width, height, GenerationMode::TextToImage);
        let target = Rect::from_min_size(Pos2::ZERO, vec2(width as f32, height as f32));
        self.submit(
            JobKind::Generate(GenerateRequest {
                settings,
                width,
                height,
            }),
            Purpose::Image {
                params: Box::new(params),
                origin: CandidateOrigin::Generate,
                target,
            },
        )
    }

    pub fn inpaint(&mut self) -> Option<JobId> {
        let (Some(image), Some(mask)) =
            (self.canvas.composite().cloned(), self.mask.mask().cloned())
        else {
            self.set_status("Inpainting needs an image and a painted mask", true);
            return None;
        };
        if !self.mask.has_content() {
            self.set_status(
                "Paint the region to regenerate first (the mask is empty)",
                true,
            );
            return None;
        }
        let settings = self.settings.next_image_settings(self.canvas.show_previews);
        let (w, h) = image.dimensions();
        let mut params = self.base_params(&settings, w, h, GenerationMode::Inpaint);
        params.mask = Some(MaskInfo {
            mask_hash: content_hash(mask.as_raw()),
            feather_px: self.mask.feather_px,
            dilate_cells: 1,
        });
        let target = Rect::from_min_size(Pos2::ZERO, vec2(w as f32, h as f32));
        Some(self.submit(
            JobKind::Inpaint(InpaintRequest {
                settings,
                image,
                mask,
                feather_px: self.mask.feather_px,
            }),
            Purpose::Image {
                params: Box::new(params),
                origin: CandidateOrigin::Inpaint,
                target,
            },
        ))
    }

    pub fn extend(&mut self) -> Option<JobId> {
        let (Some(plan), Some(image)) = (
            self.canvas.extension_plan(),
            self.canvas.composite().cloned(),
        ) else {
            self.set_status(
                "Drag a canvas edge outward to choose the area to extend",
                true,
            );
            return None;
        };
        let settings = self.settings.next_image_settings(self.canvas.show_previews);
        let mut params = self.base_params(
            &settings,
            plan.canvas_width,
            plan.canvas_height,
            GenerationMode::Extend,
        );
        params.extension = Some(plan.growth);
        let g = plan.growth;
        let target = Rect::from_min_size(
            Pos2::new(-(g.left as f32), -(g.top as f32)),
            vec2(plan.canvas_width as f32, plan.canvas_height as f32),
        );
        self.canvas.reset_extension();
        Some(self.submit(
            JobKind::Extend(ExtendRequest {
                settings,
                image,
                growth: g,
                feather_px: self.mask.feather_px,
            }),
            Purpose::Image {
                params: Box::new(params),
                origin: CandidateOrigin::Extend(g),
                target,
            },
        ))
    }

    pub fn describe_mask(&mut self) -> Option<JobId> {
        let (Some(image), Some(mask)) =
            (self.canvas.composite().cloned(), self.mask.mask().cloned())
        else {
            self.set_status(
                "Describing the mask needs an image and a painted mask",
                true,
            );
            return None;
        };
        if !self.mask.has_content() {
            self.set_status("The mask is empty: paint the region to describe", true);
            return None;
        }
        Some(self.submit(
            JobKind::DescribeMask(DescribeMaskRequest {
                image,
                mask,
                options: ChatOptions::default(),
            }),
            Purpose::DescribeMask,
        ))
    }

    /// Sends the chat draft (with the ticked attachments) in the current thread.
    pub fn send_chat(&mut self) -> Option<JobId> {
        let text = self.chat.draft.trim().to_owned();
        if text.is_empty() {
            return None;
        }
        let mut attachments = Vec::new();
        if self.chat.attach_canvas {
            match self.canvas.composite() {
                Some(image) => attachments.push(Attachment::Image(image.clone())),
                None => {
                    self.set_status("There is no canvas image to attach", true);
                    return None;
                }
            }
        }
        if self.chat.attach_mask {
            let has_mask = self.mask.has_content();
            match (self.canvas.composite(), self.mask.mask()) {
                (Some(image), Some(mask)) if has_mask => {
                    attachments.push(Attachment::MaskedRegion {
                        image: image.clone(),
                        mask: mask.clone(),
                    })
                }
                _ => {
                    self.set_status("Paint a mask to attach the masked region", true);
                    return None;
                }
            }
        }
        if self.chat.attach_video {
            let max = self
                .models
                .loaded
                .as_ref()
                .map_or(8, |m| m.max_video_frames.max(1));
            let frames = self.timeline.frames_for_chat(max);
            match &self.timeline.video {
                Some(video) if !frames.is_empty() => attachments.push(Attachment::Video {
                    name: video.name.clone(),
                    frames,
                }),
                _ => {
                    self.set_status("Open a video to attach it", true);
                    return None;
                }
            }
        }
        self.chat.draft.clear();
        self.chat.attach_canvas = false;
        self.chat.attach_mask = false;
        self.chat.attach_video = false;
        let thread = self.chat.current_thread_mut();
        if thread.messages.is_empty() {
            thread.title = clip(&text, 32);
        }
        thread.messages.push(ChatEntry::user(text, attachments));
        Some(self.ask_current_thread())
    }

    /// Drops the last answer of the current thread and asks again.
    pub fn regenerate_chat(&mut self) -> Option<JobId> {
        let thread = self.chat.current_thread_mut();
        if thread.streaming().is_some() {
            return None;
        }
        if thread
            .messages
            .last()
            .is_some_and(|m| m.role == crate::engine::Role::Assistant)
        {
            thread.messages.pop();
        }
        if thread.messages.is_empty() {
            return None;
        }
        Some(self.ask_current_thread())
    }

    fn ask_current_thread(&mut self) -> JobId {
        let thread = self.chat.current_thread();
        let request = ChatRequest {
            thread: thread.id,
            messages: thread.transcript(),
            options: ChatOptions::default(),
        };
        let id = self.submit(JobKind::Chat(request), Purpose::Chat);
        let mut answer = ChatEntry::assistant(String::new());
        answer.job = Some(id);
        self.chat.current_thread_mut().messages.push(answer);
        id
    }

    // ---- events ---------------------------------------------------------------------------

    /// Takes every waiting engine event. Called at the start of each frame.
    pub fn pump_events(&mut self) {
        while let Some(event) = self.engine.try_recv() {
            self.on_event(event);
        }
    }

    fn on_event(&mut self, event: Event) {
        self.queue.on_event(&event);
        self.models.on_event(&event);
        match &event {
            Event::Preview { job, step, image } => {
                if let Some(Purpose::Image { target, .. }) = self.jobs.get(job) {
                    let target = *target;
                    self.canvas.set_preview(*job, *step, image.clone(), target);
                }
            }
            Event::Progress { job, step, total } => self.canvas.set_progress(*job, *step, *total),
            Event::Token { job, text } => self.chat.on_token(*job, text),
            Event::Done { job, output } => self.on_done(*job, output.clone()),
            Event::Failed { job, error } => {
                self.canvas.end_preview(*job);
                self.chat.on_failed(*job, error.clone());
                self.set_status(format!("Job {job} failed: {error}"), true);
            }
            Event::Cancelled { job } => {
                self.canvas.end_preview(*job);
                self.chat.on_cancelled(*job);
                self.set_status(format!("Job {job} cancelled"), false);
            }
            Event::ModelLoaded(info) => {
                self.canvas.pixel_grid = info.pixel_grid.max(1);
                self.set_status(format!("Loaded {}", info.name), false);
            }
            Event::EngineCrashed { message, .. } => {
                self.engine_crashes += 1;
                self.set_status(
                    format!("The model backend crashed ({message}); restarting it"),
                    true,
                );
            }
            Event::EngineRestarted => {
                self.set_status("The engine restarted; the queue keeps running", false);
            }
            _ => {}
        }
        if event.is_final()
            && let Some(job) = event.job()
        {
            self.jobs.remove(&job);
        }
    }

    fn on_done(&mut self, job: JobId, output: JobOutput) {
        let Some(purpose) = self.jobs.get(&job).cloned() else {
            return;
        };
        match (purpose, output) {
            (Purpose::Image { params, origin, .. }, JobOutput::Images(images)) => {
                let n = images.len();
                self.canvas.stage(job, images, *params, origin);
                self.set_status(
                    format!("{n} candidate(s) ready: accept, keep both or discard"),
                    false,
                );
            }
            (Purpose::Chat, JobOutput::Text { text, frames_seen }) => {
                self.timeline.highlighted = frames_seen.iter().copied().collect();
                self.chat.on_answer(job, text, frames_seen);
            }
            (Purpose::DescribeMask, JobOutput::Text { text, .. }) => {
                self.settings.prompt = text;
                self.set_status("Drafted an inpainting prompt from the masked region", false);
            }
            (Purpose::LoadModel, JobOutput::Model(_)) => {}
            (_, other) => {
                self.set_status(
                    format!("Job {job} returned an unexpected result: {other:?}"),
                    true,
                );
            }
        }
    }

    // ---- candidates -----------------------------------------------------------------------

    fn after_accept(&mut self, accepted: Option<Accepted>) {
        match accepted {
            Some(Accepted::Extended(growth)) => self.mask.pad(growth),
            Some(Accepted::NewDocument { width, height }) => self.mask.reset(width, height),
            Some(Accepted::SameSize) | None => {}
        }
        self.sync_mask_size();
    }

    /// The mask always has the document's size.
    fn sync_mask_size(&mut self) {
        match (
            self.canvas.document_size(),
            self.mask.mask().map(|m| m.dimensions()),
        ) {
            (Some((w, h)), Some(size)) if size == (w, h) => {}
            (Some((w, h)), _) => self.mask.reset(w, h),
            (None, _) => {}
        }
    }

    // ---- files ----------------------------------------------------------------------------

    /// Starts `action`: asks the dialog seam for a path, or opens the in-window prompt.
    pub fn request_file(&mut self, action: FileAction) {
        let start = self
            .project_path
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        match self.dialogs.pick(action, &start) {
            DialogAnswer::Picked(path) => self.perform_and_report(action, &path),
            DialogAnswer::Cancelled => {}
            DialogAnswer::AskInApp => self.path_prompt = Some(PathPrompt::new(action, &start)),
        }
    }

    fn perform_and_report(&mut self, action: FileAction, path: &Path) {
        match self.perform(action, path) {
            Ok(message) => self.set_status(message, false),
            Err(error) => self.set_status(error, true),
        }
    }

    /// Does `action` with `path` (what a dialog would do once a path is chosen).
    pub fn perform(&mut self, action: FileAction, path: &Path) -> Result<String, String> {
        match action {
            FileAction::OpenImage => self.open_image(path),
            FileAction::OpenVideo => self.open_video(path),
            FileAction::OpenProject => self.open_project(path),
            FileAction::SaveProjectAs => self.save_project_to(path),
            FileAction::ExportPng => self.export_png(path),
            FileAction::ExportGif => self.export_gif(path),
            FileAction::SaveMask => {
                self.mask.save_png(path).map_err(|e| e.to_string())?;
                Ok(format!("Saved the mask to {}", path.display()))
            }
            FileAction::LoadMask => {
                self.sync_mask_size();
                self.mask.load_png(path).map_err(|e| e.to_string())?;
                Ok(format!("Loaded the mask {}", path.display()))
            }
            FileAction::PickModelFolder => {
                self.models.folder = path.display().to_string();
                self.load_model(ModelSource::Folder(path.to_path_buf()));
                Ok(format!("Loading the model in {}", path.display()))
            }
        }
    }

    /// Opens whatever `path` is: a project, a video (or frame folder), or an image.
    pub fn open_path(&mut self, path: &Path) -> Result<String, String> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            super::files::PROJECT_EXTENSION => self.open_project(path),
            "mp4" | "m4v" | "mov" | "gif" => self.open_video(path),
            _ if path.is_dir() => self.open_video(path),
            _ => self.open_image(path),
        }
    }

    fn open_image(&mut self, path: &Path) -> Result<String, String> {
        let image = crate::media::load_rgba(path).map_err(|e| e.to_string())?;
        let name = file_name(path);
        self.add_image(&name, image);
        self.recent.add(path);
        Ok(format!("Opened {name}"))
    }

    /// Adds an image to the canvas (a new layer, or a new document if the size differs).
    pub fn add_image(&mut self, name: &str, image: RgbaImage) {
        if self.canvas.add_image(name, image) {
            let (w, h) = self.canvas.document_size().unwrap_or((1, 1));
            self.mask.reset(w, h);
        }
        self.sync_mask_size();
    }

    fn open_video(&mut self, path: &Path) -> Result<String, String> {
        if !path.exists() {
            return Err(format!("{} does not exist", path.display()));
        }
        let ctx = self.ctx.clone();
        self.timeline.open(path, move || ctx.request_repaint());
        self.recent.add(path);
        Ok(format!("Decoding {}…", file_name(path)))
    }

    fn open_project(&mut self, path: &Path) -> Result<String, String> {
        let project = load_project(path).map_err(|e| e.to_string())?;
        let saved_path = project.saved_path.clone();
        self.apply_project(project);
        // A recovery file remembers where the user saved; a normal project is its own home.
        self.project_path = if path == self.autosaver.path {
            saved_path
        } else {
            Some(path.to_path_buf())
        };
        if path != self.autosaver.path {
            self.recent.add(path);
        }
        Ok(format!("Opened the project {}", file_name(path)))
    }

    fn apply_project(&mut self, project: Project) {
        self.canvas.set_layers(project.layers, project.active_layer);
        self.canvas.history = project.history;
        self.canvas.staging.clear();
        self.canvas.show_previews = project.show_previews;
        match project.mask {
            Some(mask) => self.mask.set_base(mask),
            None => self.sync_mask_size(),
        }
        self.sync_mask_size();
        let m = &project.mask_settings;
        self.mask.visible = m.visible;
        self.mask.colour = m.colour32();
        self.mask.opacity = m.opacity;
        self.mask.brush_size = m.brush_size;
        self.mask.hardness = m.hardness;
        self.mask.feather_px = m.feather_px;
        self.chat.set_threads(project.threads);
        self.settings = project.settings;
        if let Some(video) = project.video.filter(|v| v.exists()) {
            let ctx = self.ctx.clone();
            self.timeline.open(&video, move || ctx.request_repaint());
        }
    }

    /// Everything a project file holds, from the current state.
    pub fn snapshot(&self) -> Project {
        Project {
            layers: self.canvas.layers().to_vec(),
            active_layer: self.canvas.active_layer,
            mask: self.mask.mask().cloned(),
            mask_settings: MaskSettings {
                visible: self.mask.visible,
                colour: self.mask.colour.to_array(),
                opacity: self.mask.opacity,
                brush_size: self.mask.brush_size,
                hardness: self.mask.hardness,
                feather_px: self.mask.feather_px,
            },
            history: self.canvas.history.clone(),
            threads: self.chat.threads.clone(),
            settings: self.settings.clone(),
            show_previews: self.canvas.show_previews,
            video: self.timeline.video.as_ref().map(|v| v.path.clone()),
            saved_path: self.project_path.clone(),
        }
    }

    pub fn save_project(&mut self) {
        match self.project_path.clone() {
            Some(path) => self.perform_and_report(FileAction::SaveProjectAs, &path),
            None => self.request_file(FileAction::SaveProjectAs),
        }
    }

    fn save_project_to(&mut self, path: &Path) -> Result<String, String> {
        let path = with_extension(path, super::files::PROJECT_EXTENSION);
        let mut project = self.snapshot();
        project.saved_path = Some(path.clone());
        save_project(&path, &project).map_err(|e| e.to_string())?;
        self.project_path = Some(path.clone());
        self.recent.add(&path);
        Ok(format!("Saved the project to {}", path.display()))
    }

    fn export_png(&mut self, path: &Path) -> Result<String, String> {
        let image = self
            .canvas
            .composite()
            .ok_or("There is no image to export; open or generate one first")?;
        let path = with_extension(path, "png");
        // The settings of the last accepted generation make the PNG recallable.
        match self
            .canvas
            .history
            .iter()
            .rev()
            .find_map(|h| h.params.clone())
        {
            Some(params) => crate::media::save_png_with_metadata(&path, image, &params),
            None => crate::media::save_rgba(&path, image),
        }
        .map_err(|e| e.to_string())?;
        Ok(format!("Exported {}", path.display()))
    }

    /// The GIF is the denoising trajectory of the last job if there is one, else the history
    /// of accepted results.
    fn export_gif(&mut self, path: &Path) -> Result<String, String> {
        let mut images: Vec<Arc<RgbaImage>> = if self.canvas.trajectory.len() >= 2 {
            self.canvas.trajectory.clone()
        } else {
            self.canvas
                .history
                .iter()
                .map(|h| h.image.clone())
                .collect()
        };
        if images.is_empty()
            && let Some(c) = self.canvas.composite_arc()
        {
            images.push(c);
        }
        if images.is_empty() {
            return Err("There is nothing to animate yet; generate an image first".to_owned());
        }
        let last = images.len() - 1;
        let frames: Vec<GifFrame> = images
            .iter()
            .enumerate()
            .map(|(i, image)| GifFrame {
                image: image.as_ref().clone(),
                delay_ms: if i == last { 1000 } else { 80 },
            })
            .collect();
        let path = with_extension(path, "gif");
        crate::media::save_gif(&path, &frames, GifRepeat::Forever).map_err(|e| e.to_string())?;
        Ok(format!(
            "Exported {} ({} frames)",
            path.display(),
            frames.len()
        ))
    }

    // ---- autosave -------------------------------------------------------------------------

    /// Changes whenever anything a project saves changes.
    fn fingerprint(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.canvas.composite_version().hash(&mut h);
        self.canvas.layers().len().hash(&mut h);
        self.canvas.active_layer.hash(&mut h);
        self.canvas.history.len().hash(&mut h);
        self.mask.version().hash(&mut h);
        for t in &self.chat.threads {
            t.messages.len().hash(&mut h);
            for m in &t.messages {
                m.text.len().hash(&mut h);
            }
        }
        serde_json::to_string(&self.settings)
            .unwrap_or_default()
            .hash(&mut h);
        h.finish()
    }

    fn autosave_tick(&mut self, now: f64) {
        self.autosaver.poll(now);
        // Never overwrite a recovery file the user has not answered for yet.
        if self.recovery_prompt.is_some() {
            return;
        }
        let fingerprint = self.fingerprint();
        if fingerprint == self.autosaved_fingerprint {
            return;
        }
        let due = now - self.last_autosave_check >= self.autosave_interval_s;
        if due && !self.autosaver.is_saving() && self.autosaver.save(self.snapshot()) {
            self.autosaved_fingerprint = fingerprint;
            self.last_autosave_check = now;
        } else {
            let wait = (self.autosave_interval_s - (now - self.last_autosave_check)).max(0.05);
            self.ctx
                .request_repaint_after(Duration::from_secs_f64(wait));
        }
    }

    /// Waits for a queued autosave to be written (tests, and before reading the file).
    pub fn finish_autosave(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.autosaver.is_saving() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
            self.autosaver.poll(self.ctx.input(|i| i.time));
        }
        true
    }

    // ---- input ----------------------------------------------------------------------------

    fn handle_dropped_and_pasted(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        for path in dropped {
            match self.open_path(&path) {
                Ok(m) => self.set_status(m, false),
                Err(e) => self.set_status(e, true),
            }
        }
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let pasted: Vec<egui::Event> = ctx.input(|i| {
            i.events
                .iter()
                .filter(|e| matches!(e, egui::Event::PasteImage(_) | egui::Event::Paste(_)))
                .cloned()
                .collect()
        });
        for event in pasted {
            match event {
                egui::Event::PasteImage(image) => {
                    let [w, h] = image.size;
                    let bytes: Vec<u8> = image
                        .pixels
                        .iter()
                        .flat_map(|c| c.to_srgba_unmultiplied())
                        .collect();
                    if let Some(rgba) = RgbaImage::from_raw(w as u32, h as u32, bytes) {
                        self.add_image("Pasted", rgba);
                        self.set_status("Pasted an image from the clipboard", false);
                    }
                }
                egui::Event::Paste(text) => {
                    let path = PathBuf::from(text.trim());
                    if path.exists() {
                        match self.open_path(&path) {
                            Ok(m) => self.set_status(m, false),
                            Err(e) => self.set_status(e, true),
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn handle_shortcuts(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() || self.path_prompt.is_some() {
            return;
        }
        let (redo, undo, grow, shrink) = ctx.input_mut(|i| {
            (
                i.consume_key(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z),
                i.consume_key(Modifiers::COMMAND, Key::Z),
                i.consume_key(Modifiers::NONE, Key::CloseBracket),
                i.consume_key(Modifiers::NONE, Key::OpenBracket),
            )
        });
        if redo {
            self.mask.redo();
        } else if undo {
            self.mask.undo();
        }
        if grow {
            self.mask.grow_brush();
        }
        if shrink {
            self.mask.shrink_brush();
        }
    }

    // ---- panels ---------------------------------------------------------------------------

    fn tools_ui(&mut self, ui: &mut Ui) {
        egui::ScrollArea::vertical()
            .id_salt("tools")
            .show(ui, |ui| {
                ui.heading("Image");
                let grid = self.canvas.pixel_grid;
                let can_inpaint = self.canvas.composite().is_some() && self.mask.has_content();
                match self.settings.ui(ui, grid, can_inpaint) {
                    Some(PromptAction::Generate) => {
                        self.generate();
                    }
                    Some(PromptAction::Inpaint) => {
                        self.inpaint();
                    }
                    None => {}
                }
                let running_image = self
                    .queue
                    .running()
                    .filter(|id| matches!(self.jobs.get(id), Some(Purpose::Image { .. })));
                if let Some(job) = running_image {
                    if let Some(JobState::Running { step, total }) = self.queue.state(job) {
                        let fraction = if *total > 0 {
                            *step as f32 / *total as f32
                        } else {
                            0.0
                        };
                        ui.add(
                            egui::ProgressBar::new(fraction)
                                .text(format!("Generating: step {step} of {total}")),
                        );
                    }
                    if ui.button("Cancel generation").clicked() {
                        self.engine.cancel(job);
                    }
                }
                ui.separator();
                ui.heading("Mask");
                match self.mask.ui(ui) {
                    Some(MaskAction::Save) => self.request_file(FileAction::SaveMask),
                    Some(MaskAction::Load) => self.request_file(FileAction::LoadMask),
                    Some(MaskAction::Describe) => {
                        self.describe_mask();
                    }
                    None => {}
                }
                ui.separator();
                ui.heading("Layers");
                if self.canvas.layers().is_empty() {
                    ui.weak("No layers yet.");
                }
                let mut toggle = None;
                let mut select = None;
                for (i, layer) in self.canvas.layers().iter().enumerate().rev() {
                    ui.horizontal(|ui| {
                        let mut visible = layer.visible;
                        if ui
                            .checkbox(&mut visible, format!("{}. {}", i + 1, layer.name))
                            .changed()
                        {
                            toggle = Some((i, visible));
                        }
                        let active = i == self.canvas.active_layer;
                        if ui
                            .selectable_label(active, format!("Edit layer {}", i + 1))
                            .clicked()
                        {
                            select = Some(i);
                        }
                    });
                }
                if let Some((i, visible)) = toggle {
                    self.canvas.set_layer_visible(i, visible);
                }
                if let Some(i) = select {
                    self.canvas.active_layer = i;
                }
            });
    }

    fn side_ui(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.tab, Tab::Chat, "Chat");
            ui.selectable_value(&mut self.tab, Tab::Queue, "Queue");
            ui.selectable_value(&mut self.tab, Tab::Models, "Models");
            ui.selectable_value(&mut self.tab, Tab::Files, "Files");
        });
        ui.separator();
        match self.tab {
            Tab::Chat => match self.chat.ui(ui) {
                Some(ChatAction::Send) => {
                    self.send_chat();
                }
                Some(ChatAction::Stop(job)) => self.engine.cancel(job),
                Some(ChatAction::Regenerate) => {
                    self.regenerate_chat();
                }
                None => {}
            },
            Tab::Queue => self.queue.ui(ui, &self.engine),
            Tab::Models => match self.models.ui(ui) {
                Some(ModelsAction::LoadBuiltIn) => {
                    self.load_model(ModelSource::BuiltIn);
                }
                Some(ModelsAction::LoadFolder(path)) => {
                    self.load_model(ModelSource::Folder(path));
                }
                Some(ModelsAction::BrowseFolder) => self.request_file(FileAction::PickModelFolder),
                None => {}
            },
            Tab::Files => {
                let now = ui.input(|i| i.time);
                let action = files_ui(
                    ui,
                    self.project_path.as_deref(),
                    &self.recent,
                    &self.autosaver,
                    now,
                );
                match action {
                    Some(FilesAction::Pick(a)) => self.request_file(a),
                    Some(FilesAction::SaveProject) => self.save_project(),
                    Some(FilesAction::OpenRecent(path)) => match self.open_path(&path) {
                        Ok(m) => self.set_status(m, false),
                        Err(e) => self.set_status(e, true),
                    },
                    None => {}
                }
            }
        }
    }

    fn status_ui(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            match &self.status {
                Some(s) if s.error => {
                    ui.colored_label(ui.visuals().error_fg_color, &s.text);
                }
                Some(s) => {
                    ui.label(&s.text);
                }
                None => {
                    ui.weak("Ready");
                }
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                // Fixed width, so the readout does not shift its neighbours as it changes.
                let frame_time = format!(
                    "ui {:>5.1} ms (p95 {:>5.1})",
                    self.frame_stats.quantile(0.5),
                    self.frame_stats.quantile(0.95)
                );
                ui.label(egui::RichText::new(frame_time).monospace().weak());
                let model = self
                    .models
                    .loaded
                    .as_ref()
                    .map_or("no model", |m| m.name.as_str());
                ui.weak(model);
                if !self.engine.is_alive() {
                    ui.colored_label(ui.visuals().error_fg_color, "engine stopped");
                }
            });
        });
    }

    fn modals_ui(&mut self, ctx: &egui::Context) {
        if let Some(prompt) = self.path_prompt.as_mut() {
            match prompt.ui(ctx) {
                PromptOutcome::Open => {}
                PromptOutcome::Cancelled => self.path_prompt = None,
                PromptOutcome::Confirmed(action, path) => {
                    self.path_prompt = None;
                    self.perform_and_report(action, &path);
                }
            }
        }
        if let Some(path) = self.recovery_prompt.clone() {
            let mut decision = None;
            egui::Modal::new(egui::Id::unique("recovery prompt")).show(ctx, |ui| {
                ui.heading("Recover unsaved work?");
                ui.label(
                    "Show-o Studio did not close cleanly last time. Its autosave can be restored.",
                );
                ui.horizontal(|ui| {
                    if ui.button("Recover").clicked() {
                        decision = Some(true);
                    }
                    if ui.button("Discard recovery").clicked() {
                        decision = Some(false);
                    }
                });
            });
            match decision {
                Some(true) => {
                    self.recovery_prompt = None;
                    match self.open_project(&path) {
                        Ok(_) => self.set_status("Recovered the autosaved work", false),
                        Err(e) => self.set_status(format!("Recovery failed: {e}"), true),
                    }
                }
                Some(false) => {
                    self.recovery_prompt = None;
                    let _ = std::fs::remove_file(&path);
                }
                None => {}
            }
        }
    }
}

impl eframe::App for StudioApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.pump_events();
        if let Some(result) = self.timeline.poll() {
            match result {
                Ok(name) => {
                    self.set_status(format!("Opened the video {name}"), false);
                }
                Err(e) => self.set_status(e, true),
            }
        }
        self.handle_dropped_and_pasted(ctx);
        let now = ctx.input(|i| i.time);
        self.autosave_tick(now);
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        let started = Instant::now();
        let ctx = ui.ctx().clone();
        self.handle_shortcuts(&ctx);

        egui::Panel::top("title bar").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.strong("Show-o Studio");
                ui.separator();
                if ui
                    .button("Open")
                    .on_hover_text("Open an image, a video or a project")
                    .clicked()
                {
                    self.request_file(FileAction::OpenImage);
                }
                if ui
                    .button("Save")
                    .on_hover_text("Save the project")
                    .clicked()
                {
                    self.save_project();
                }
            });
        });
        egui::Panel::bottom("status bar").show(ui, |ui| self.status_ui(ui));
        if self.timeline.video.is_some()
            || self.timeline.is_loading()
            || self.timeline.error.is_some()
        {
            egui::Panel::bottom("timeline")
                .resizable(true)
                .show(ui, |ui| {
                    if let Some(TimelineAction::SendFrameToCanvas(i)) = self.timeline.ui(ui)
                        && let Some(frame) =
                            self.timeline.video.as_ref().and_then(|v| v.frames.get(i))
                    {
                        let name = format!("Frame at {:.1} s", frame.timestamp_s);
                        let image = frame.image.clone();
                        self.add_image(&name, image);
                        self.set_status(
                            format!("Sent the {} to the canvas", name.to_lowercase()),
                            false,
                        );
                    }
                });
        }
        egui::Panel::left("tools")
            .default_size(290.0)
            .show(ui, |ui| self.tools_ui(ui));
        egui::Panel::right("side")
            .default_size(360.0)
            .show(ui, |ui| self.side_ui(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            let out = self.canvas.ui(ui, &mut self.mask, self.gpu);
            if out.extend {
                self.extend();
            }
            if out.accept {
                let accepted = self.canvas.accept_candidate();
                self.after_accept(accepted);
            }
            if out.keep_both {
                let accepted = self.canvas.keep_both();
                self.after_accept(accepted);
            }
        });
        if ctx.input(|i| !i.raw.hovered_files.is_empty()) {
            let painter = ctx.layer_painter(egui::LayerId::new(
                egui::Order::Foreground,
                egui::Id::unique("drop overlay"),
            ));
            let rect = ctx.content_rect();
            painter.rect_filled(rect, 0.0, egui::Color32::from_black_alpha(160));
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "Drop to open",
                egui::FontId::proportional(28.0),
                egui::Color32::WHITE,
            );
        }
        self.modals_ui(&ctx);
        self.frame_stats
            .record(started.elapsed().as_secs_f32() * 1000.0);
    }

    fn on_exit(&mut self) {
        // A clean exit: the recovery file is only for crashes.
        if self.autosaver.is_saving() {
            self.finish_autosave(Duration::from_secs(2));
        }
        self.autosaver.discard();
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn with_extension(path: &Path, ext: &str) -> PathBuf {
    if path.extension().is_some() {
        path.to_path_buf()
    } else {
        path.with_extension(ext)
    }
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}

/// A short content hash (FNV-1a) to tell masks apart in metadata.
fn content_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}
