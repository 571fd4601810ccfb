//! The studio window: owns the engine handle and the panels, routes engine events to them,
//! turns panel actions into jobs, and handles files, autosave and shortcuts.
//!
//! Nothing here waits on the model: jobs go down a channel, events come up one, and the
//! engine's waker asks egui for a repaint when something arrives.

mod documents;
mod jobs;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::{Key, Modifiers, Pos2, Rect, Ui, vec2};
use image::RgbaImage;

use crate::engine::{
    Attachment, Backend, ChatOptions, ChatRequest, DescribeMaskRequest, Engine, Event,
    ExtendRequest, GenerateRequest, InpaintRequest, JobId, JobKind, JobOutput, ModelSource,
};
use crate::media::{GenerationMode, GenerationParams, GifFrame, GifRepeat, MaskInfo};
use crate::studio::canvas::{Accepted, CandidateOrigin, Canvas};
use crate::studio::chat::{ChatAction, ChatEntry, ChatPanel};
use crate::studio::files::{
    Autosaver, DialogAnswer, FileAction, FileDialogs, FilesAction, InAppDialogs, MaskSettings,
    PathPrompt, Project, PromptOutcome, RecentFiles, files_ui, load_project, recovery_path,
    save_project,
};
use crate::studio::frame_stats::FrameStats;
use crate::studio::mask::{MaskAction, MaskPainter};
use crate::studio::models::{ModelsAction, ModelsPanel};
use crate::studio::prompt::{GenerationSettings, PromptAction};
use crate::studio::queue::{JobState, QueuePanel};
use crate::studio::timeline::{Timeline, TimelineAction};

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
                Some(ModelsAction::LoadCatalog(id)) => {
                    self.load_model(ModelSource::Catalog(id));
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
                    self.request_file(FileAction::Open);
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
