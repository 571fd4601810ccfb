//! Files: the project file (a zip of JSON + PNGs), autosave with crash recovery, recent
//! files, and the file-dialog seam.
//!
//! A project (`.showo`) holds `project.json` plus PNGs: `layers/N.png`, `mask.png`,
//! `history/N.png` and chat attachments under `chat/`. PNGs are already compressed, so the
//! zip stores them as they are. Every write is atomic (temporary file + rename), so a crash
//! mid-save never leaves a broken project behind.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use egui::{Color32, Ui};
use image::{GrayImage, RgbaImage};
use serde::{Deserialize, Serialize};
use zip::write::SimpleFileOptions;

use super::canvas::{HistoryEntry, Layer};
use super::chat::{ChatEntry, ChatThread};
use super::prompt::GenerationSettings;
use crate::engine::{Attachment, Role, ThreadId, VideoFrame};
use crate::media::GenerationParams;

pub const PROJECT_EXTENSION: &str = "showo";
const MANIFEST: &str = "project.json";
const FORMAT: &str = "showo-studio-project";
const FORMAT_VERSION: u32 = 1;
const RECOVERY_FILE: &str = "recovery.showo";
const RECENT_FILE: &str = "recent.json";
const MAX_RECENT: usize = 10;

// ---- dialogs ---------------------------------------------------------------------------------

/// Everything that needs a path from the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAction {
    /// Anything: a project, a video or an image, told apart by the file.
    Open,
    OpenImage,
    OpenVideo,
    OpenProject,
    SaveProjectAs,
    ExportPng,
    ExportGif,
    SaveMask,
    LoadMask,
    PickModelFolder,
}

impl FileAction {
    pub fn title(self) -> &'static str {
        match self {
            FileAction::Open => "Open file",
            FileAction::OpenImage => "Open image",
            FileAction::OpenVideo => "Open video",
            FileAction::OpenProject => "Open project",
            FileAction::SaveProjectAs => "Save project as",
            FileAction::ExportPng => "Export PNG",
            FileAction::ExportGif => "Export GIF",
            FileAction::SaveMask => "Save mask",
            FileAction::LoadMask => "Load mask",
            FileAction::PickModelFolder => "Model folder",
        }
    }

    /// A file name to start from.
    pub fn suggested_name(self) -> &'static str {
        match self {
            FileAction::SaveProjectAs => "untitled.showo",
            FileAction::ExportPng => "image.png",
            FileAction::ExportGif => "animation.gif",
            FileAction::SaveMask => "mask.png",
            _ => "",
        }
    }
}

/// What a dialog implementation answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialogAnswer {
    Picked(PathBuf),
    Cancelled,
    /// No native dialog: ask for the path inside the window.
    AskInApp,
}

/// The seam for file dialogs. The default asks for a path inside the window (which works
/// everywhere, including under Xvfb where portal dialogs show nothing); tests and embedders
/// can answer directly.
pub trait FileDialogs {
    fn pick(&mut self, action: FileAction, start_in: &Path) -> DialogAnswer;
}

/// Always asks inside the window.
#[derive(Debug, Default)]
pub struct InAppDialogs;

impl FileDialogs for InAppDialogs {
    fn pick(&mut self, _action: FileAction, _start_in: &Path) -> DialogAnswer {
        DialogAnswer::AskInApp
    }
}

/// The in-window path prompt while it is open.
#[derive(Debug, Clone)]
pub struct PathPrompt {
    pub action: FileAction,
    pub path: String,
}

/// What the path prompt decided this frame.
pub enum PromptOutcome {
    Open,
    Confirmed(FileAction, PathBuf),
    Cancelled,
}

impl PathPrompt {
    pub fn new(action: FileAction, start_in: &Path) -> Self {
        let path = start_in.join(action.suggested_name());
        PathPrompt {
            action,
            path: path.display().to_string(),
        }
    }

    pub fn ui(&mut self, ctx: &egui::Context) -> PromptOutcome {
        let mut outcome = PromptOutcome::Open;
        egui::Modal::new(egui::Id::unique("path prompt")).show(ctx, |ui| {
            ui.heading(self.action.title());
            let label = ui.label("File path");
            let edit = ui
                .add(egui::TextEdit::singleline(&mut self.path).desired_width(420.0))
                .labelled_by(label.id);
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            ui.horizontal(|ui| {
                if ui.button("OK").clicked() || enter {
                    let path = PathBuf::from(self.path.trim());
                    if !path.as_os_str().is_empty() {
                        outcome = PromptOutcome::Confirmed(self.action, path);
                    }
                }
                if ui.button("Cancel").clicked() {
                    outcome = PromptOutcome::Cancelled;
                }
            });
        });
        outcome
    }
}

// ---- the project -----------------------------------------------------------------------------

/// Mask display and brush settings saved with a project.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaskSettings {
    pub visible: bool,
    pub colour: [u8; 4],
    pub opacity: f32,
    pub brush_size: f32,
    pub hardness: f32,
    pub feather_px: f32,
    /// Harmonising passes (`None` = the model's own); absent in older projects.
    #[serde(default)]
    pub repaint_jumps: Option<usize>,
    /// Denoising strength of inpaint and extend (`None` = the model's own); absent in older
    /// projects.
    #[serde(default)]
    pub strength: Option<f32>,
}

impl Default for MaskSettings {
    fn default() -> Self {
        let p = super::mask::MaskPainter::default();
        MaskSettings {
            visible: p.visible,
            colour: p.colour.to_array(),
            opacity: p.opacity,
            brush_size: p.brush_size,
            hardness: p.hardness,
            feather_px: p.feather_px,
            repaint_jumps: p.repaint_jumps,
            strength: p.strength,
        }
    }
}

impl MaskSettings {
    pub fn colour32(&self) -> Color32 {
        let [r, g, b, a] = self.colour;
        Color32::from_rgba_premultiplied(r, g, b, a)
    }
}

/// Everything a project file holds, as plain data.
#[derive(Clone, Debug, Default)]
pub struct Project {
    pub layers: Vec<Layer>,
    pub active_layer: usize,
    pub mask: Option<GrayImage>,
    pub mask_settings: MaskSettings,
    pub history: Vec<HistoryEntry>,
    pub threads: Vec<ChatThread>,
    pub settings: GenerationSettings,
    pub show_previews: bool,
    /// The video that was open (re-decoded on load; videos are not copied into projects).
    pub video: Option<PathBuf>,
    /// Where the project was last saved by the user (kept in recovery files).
    pub saved_path: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("{path}: {action} failed: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: not a readable Show-o Studio project ({reason}); expected a .showo zip with {MANIFEST}"
    )]
    Format { path: PathBuf, reason: String },
    #[error("{path}: entry {entry} is not a valid PNG ({reason})")]
    Image {
        path: PathBuf,
        entry: String,
        reason: String,
    },
    #[error(
        "{path}: project format version {found} is newer than this studio reads ({FORMAT_VERSION}); update Show-o Studio"
    )]
    TooNew { path: PathBuf, found: u32 },
    #[error(transparent)]
    Media(#[from] crate::media::MediaError),
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    format: String,
    version: u32,
    layers: Vec<LayerRecord>,
    active_layer: usize,
    mask: Option<String>,
    #[serde(default)]
    mask_settings: MaskSettings,
    #[serde(default)]
    history: Vec<HistoryRecord>,
    #[serde(default)]
    chat: Vec<ThreadRecord>,
    #[serde(default)]
    settings: GenerationSettings,
    #[serde(default = "yes")]
    show_previews: bool,
    #[serde(default)]
    video: Option<PathBuf>,
    #[serde(default)]
    saved_path: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

#[derive(Serialize, Deserialize)]
struct LayerRecord {
    name: String,
    visible: bool,
    file: String,
}

#[derive(Serialize, Deserialize)]
struct HistoryRecord {
    label: String,
    params: Option<GenerationParams>,
    file: String,
}

#[derive(Serialize, Deserialize)]
struct ThreadRecord {
    id: u64,
    title: String,
    messages: Vec<MessageRecord>,
}

#[derive(Serialize, Deserialize)]
struct MessageRecord {
    role: Role,
    text: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    frames_seen: Vec<usize>,
    #[serde(default)]
    attachments: Vec<AttachmentRecord>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum AttachmentRecord {
    Image {
        file: String,
    },
    MaskedRegion {
        image: String,
        mask: String,
    },
    Video {
        name: String,
        frames: Vec<FrameRecord>,
    },
}

#[derive(Serialize, Deserialize)]
struct FrameRecord {
    index: usize,
    timestamp_s: f64,
    file: String,
}

/// Collects PNG entries while the manifest is built.
struct Entries(Vec<(String, Vec<u8>)>);

impl Entries {
    fn rgba(&mut self, name: String, image: &RgbaImage) -> String {
        self.0.push((
            name.clone(),
            encode_png(
                image.as_raw(),
                image.dimensions(),
                image::ExtendedColorType::Rgba8,
            ),
        ));
        name
    }

    fn gray(&mut self, name: String, image: &GrayImage) -> String {
        self.0.push((
            name.clone(),
            encode_png(
                image.as_raw(),
                image.dimensions(),
                image::ExtendedColorType::L8,
            ),
        ));
        name
    }
}

/// Fast PNG: projects are saved every few seconds by autosave.
fn encode_png(raw: &[u8], (w, h): (u32, u32), colour: image::ExtendedColorType) -> Vec<u8> {
    use image::ImageEncoder;
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut bytes = Vec::new();
    PngEncoder::new_with_quality(&mut bytes, CompressionType::Fast, FilterType::Adaptive)
        .write_image(raw, w, h, colour)
        .expect("encoding a PNG into memory cannot fail for a well-formed image buffer");
    bytes
}

/// Writes `project` to `path` atomically.
pub fn save_project(path: &Path, project: &Project) -> Result<(), ProjectError> {
    let mut entries = Entries(Vec::new());
    let layers = project
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| LayerRecord {
            name: l.name.clone(),
            visible: l.visible,
            file: entries.rgba(format!("layers/{i}.png"), &l.image),
        })
        .collect();
    let mask = project
        .mask
        .as_ref()
        .map(|m| entries.gray("mask.png".to_owned(), m));
    let history = project
        .history
        .iter()
        .enumerate()
        .map(|(i, h)| HistoryRecord {
            label: h.label.clone(),
            params: h.params.clone(),
            file: entries.rgba(format!("history/{i}.png"), &h.image),
        })
        .collect();
    let chat = project
        .threads
        .iter()
        .map(|t| ThreadRecord {
            id: t.id.0,
            title: t.title.clone(),
            messages: t
                .messages
                .iter()
                .enumerate()
                .map(|(m, msg)| MessageRecord {
                    role: msg.role,
                    text: msg.text.clone(),
                    error: msg.error.clone(),
                    frames_seen: msg.frames_seen.clone(),
                    attachments: msg
                        .attachments
                        .iter()
                        .enumerate()
                        .map(|(a, att)| {
                            let stem = format!("chat/{}/{m}/{a}", t.id.0);
                            match att {
                                Attachment::Image(image) => AttachmentRecord::Image {
                                    file: entries.rgba(format!("{stem}.png"), image),
                                },
                                Attachment::MaskedRegion { image, mask } => {
                                    AttachmentRecord::MaskedRegion {
                                        image: entries.rgba(format!("{stem}-image.png"), image),
                                        mask: entries.gray(format!("{stem}-mask.png"), mask),
                                    }
                                }
                                Attachment::Video { name, frames } => AttachmentRecord::Video {
                                    name: name.clone(),
                                    frames: frames
                                        .iter()
                                        .enumerate()
                                        .map(|(f, frame)| FrameRecord {
                                            index: frame.index,
                                            timestamp_s: frame.timestamp_s,
                                            file: entries
                                                .rgba(format!("{stem}-frame{f}.png"), &frame.image),
                                        })
                                        .collect(),
                                },
                            }
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        version: FORMAT_VERSION,
        layers,
        active_layer: project.active_layer,
        mask,
        mask_settings: project.mask_settings.clone(),
        history,
        chat,
        settings: project.settings.clone(),
        show_previews: project.show_previews,
        video: project.video.clone(),
        saved_path: project.saved_path.clone(),
    };
    let json = serde_json::to_vec_pretty(&manifest).expect("the manifest is plain data");
    crate::media::write_atomically(path, |w| {
        write_zip(w, &json, &entries.0).map_err(|reason| crate::media::MediaError::Encode {
            file: path.display().to_string(),
            format: "project zip",
            reason,
        })
    })?;
    Ok(())
}

fn write_zip<W: Write + Seek>(
    w: W,
    manifest: &[u8],
    entries: &[(String, Vec<u8>)],
) -> Result<(), String> {
    let mut zip = zip::ZipWriter::new(w);
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file(MANIFEST, options)
        .map_err(|e| e.to_string())?;
    zip.write_all(manifest).map_err(|e| e.to_string())?;
    for (name, bytes) in entries {
        zip.start_file(name.as_str(), options)
            .map_err(|e| e.to_string())?;
        zip.write_all(bytes).map_err(|e| e.to_string())?;
    }
    zip.finish().map_err(|e| e.to_string())?;
    Ok(())
}

/// Reads a project written by [`save_project`].
pub fn load_project(path: &Path) -> Result<Project, ProjectError> {
    let file = File::open(path).map_err(|source| ProjectError::Io {
        path: path.to_path_buf(),
        action: "opening the project",
        source,
    })?;
    let format = |reason: String| ProjectError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let mut zip = zip::ZipArchive::new(file).map_err(|e| format(e.to_string()))?;
    let mut read = |name: &str| -> Result<Vec<u8>, ProjectError> {
        let mut entry = zip
            .by_name(name)
            .map_err(|e| format(format!("missing entry {name}: {e}")))?;
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| format(format!("reading entry {name}: {e}")))?;
        Ok(bytes)
    };
    let manifest: Manifest =
        serde_json::from_slice(&read(MANIFEST)?).map_err(|e| format(format!("{MANIFEST}: {e}")))?;
    if manifest.format != FORMAT {
        return Err(format(format!("format is {:?}", manifest.format)));
    }
    if manifest.version > FORMAT_VERSION {
        return Err(ProjectError::TooNew {
            path: path.to_path_buf(),
            found: manifest.version,
        });
    }
    let bad = |entry: &str, reason: String| ProjectError::Image {
        path: path.to_path_buf(),
        entry: entry.to_owned(),
        reason,
    };
    let mut rgba = |name: &str| -> Result<RgbaImage, ProjectError> {
        let bytes = read(name)?;
        image::load_from_memory(&bytes)
            .map(|i| i.to_rgba8())
            .map_err(|e| bad(name, e.to_string()))
    };
    let mut layers = Vec::new();
    for l in &manifest.layers {
        layers.push(Layer {
            name: l.name.clone(),
            visible: l.visible,
            image: rgba(&l.file)?,
        });
    }
    let mut history = Vec::new();
    for h in &manifest.history {
        history.push(HistoryEntry {
            label: h.label.clone(),
            params: h.params.clone(),
            image: Arc::new(rgba(&h.file)?),
        });
    }
    let mut threads = Vec::new();
    for t in &manifest.chat {
        let mut messages = Vec::new();
        for m in &t.messages {
            let mut attachments = Vec::new();
            for a in &m.attachments {
                attachments.push(match a {
                    AttachmentRecord::Image { file } => Attachment::Image(rgba(file)?),
                    AttachmentRecord::MaskedRegion { image, mask } => Attachment::MaskedRegion {
                        image: rgba(image)?,
                        mask: image::DynamicImage::ImageRgba8(rgba(mask)?).to_luma8(),
                    },
                    AttachmentRecord::Video { name, frames } => {
                        let mut loaded = Vec::new();
                        for f in frames {
                            loaded.push(VideoFrame {
                                index: f.index,
                                timestamp_s: f.timestamp_s,
                                image: rgba(&f.file)?,
                            });
                        }
                        Attachment::Video {
                            name: name.clone(),
                            frames: loaded,
                        }
                    }
                });
            }
            let mut entry = match m.role {
                Role::User => ChatEntry::user(m.text.clone(), attachments),
                Role::Assistant => ChatEntry::assistant(m.text.clone()),
            };
            entry.error = m.error.clone();
            entry.frames_seen = m.frames_seen.clone();
            messages.push(entry);
        }
        threads.push(ChatThread {
            id: ThreadId(t.id),
            title: t.title.clone(),
            messages,
        });
    }
    let mask = match &manifest.mask {
        Some(name) => Some(image::DynamicImage::ImageRgba8(rgba(name)?).to_luma8()),
        None => None,
    };
    Ok(Project {
        layers,
        active_layer: manifest.active_layer,
        mask,
        mask_settings: manifest.mask_settings,
        history,
        threads,
        settings: manifest.settings,
        show_previews: manifest.show_previews,
        video: manifest.video,
        saved_path: manifest.saved_path,
    })
}

// ---- autosave and recovery -------------------------------------------------------------------

/// Saves projects on a helper thread so the window never waits for PNG encoding.
pub struct Autosaver {
    jobs: Sender<Project>,
    results: Receiver<Result<(), String>>,
    in_flight: bool,
    pub path: PathBuf,
    pub last_saved_at: Option<f64>,
    pub last_error: Option<String>,
}

impl Autosaver {
    pub fn new(path: PathBuf, wake: impl Fn() + Send + 'static) -> Self {
        let (jobs, job_rx) = crossbeam_channel::unbounded::<Project>();
        let (result_tx, results) = crossbeam_channel::unbounded();
        let target = path.clone();
        std::thread::Builder::new()
            .name("showo-autosave".to_owned())
            .spawn(move || {
                for project in job_rx {
                    if let Some(dir) = target.parent() {
                        let _ = std::fs::create_dir_all(dir);
                    }
                    let result = save_project(&target, &project).map_err(|e| e.to_string());
                    let _ = result_tx.send(result);
                    wake();
                }
            })
            .expect("the OS refused to start the autosave thread");
        Autosaver {
            jobs,
            results,
            in_flight: false,
            path,
            last_saved_at: None,
            last_error: None,
        }
    }

    /// Queues a save unless one is still running. Returns true if queued.
    pub fn save(&mut self, project: Project) -> bool {
        if self.in_flight {
            return false;
        }
        self.in_flight = self.jobs.send(project).is_ok();
        self.in_flight
    }

    pub fn is_saving(&self) -> bool {
        self.in_flight
    }

    /// Takes finished saves; `now` is the ui clock.
    pub fn poll(&mut self, now: f64) {
        while let Ok(result) = self.results.try_recv() {
            self.in_flight = false;
            match result {
                Ok(()) => {
                    self.last_saved_at = Some(now);
                    self.last_error = None;
                }
                Err(e) => self.last_error = Some(e),
            }
        }
    }

    /// Removes the recovery file (a clean exit).
    pub fn discard(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The recovery file in `data_dir`.
pub fn recovery_path(data_dir: &Path) -> PathBuf {
    data_dir.join(RECOVERY_FILE)
}

/// Where the studio keeps its recovery file and recent-files list:
/// `$SHOWO_STUDIO_DATA_DIR`, else `$XDG_DATA_HOME/showo-studio`, else
/// `~/.local/share/showo-studio`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SHOWO_STUDIO_DATA_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(dir).join("showo-studio");
    }
    if let Some(home) = std::env::var_os("HOME") {
        return PathBuf::from(home).join(".local/share/showo-studio");
    }
    std::env::temp_dir().join("showo-studio")
}

// ---- recent files ----------------------------------------------------------------------------

#[derive(Debug, Default)]
pub struct RecentFiles {
    pub paths: Vec<PathBuf>,
    file: Option<PathBuf>,
}

impl RecentFiles {
    pub fn load(data_dir: &Path) -> Self {
        let file = data_dir.join(RECENT_FILE);
        let paths = std::fs::read(&file)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        RecentFiles {
            paths,
            file: Some(file),
        }
    }

    /// Moves `path` to the top and saves the list (best effort: a read-only home only
    /// loses the list).
    pub fn add(&mut self, path: &Path) {
        let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        self.paths.retain(|p| p != &path);
        self.paths.insert(0, path);
        self.paths.truncate(MAX_RECENT);
        if let Some(file) = &self.file {
            if let Some(dir) = file.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Ok(json) = serde_json::to_vec_pretty(&self.paths) {
                let _ = crate::media::write_bytes_atomically(file, &json);
            }
        }
    }
}

// ---- the panel -------------------------------------------------------------------------------

/// What the files panel asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilesAction {
    Pick(FileAction),
    SaveProject,
    OpenRecent(PathBuf),
}

/// The files panel.
pub fn files_ui(
    ui: &mut Ui,
    project_path: Option<&Path>,
    recent: &RecentFiles,
    autosave: &Autosaver,
    now: f64,
) -> Option<FilesAction> {
    let mut action = None;
    let pick = |ui: &mut Ui, a: FileAction, action: &mut Option<FilesAction>| {
        if ui.button(a.title()).clicked() {
            *action = Some(FilesAction::Pick(a));
        }
    };
    ui.label(match project_path {
        Some(p) => format!("Project: {}", p.display()),
        None => "Project: not saved yet".to_owned(),
    });
    ui.horizontal_wrapped(|ui| {
        pick(ui, FileAction::OpenProject, &mut action);
        if ui.button("Save project").clicked() {
            action = Some(FilesAction::SaveProject);
        }
        pick(ui, FileAction::SaveProjectAs, &mut action);
    });
    ui.horizontal_wrapped(|ui| {
        pick(ui, FileAction::OpenImage, &mut action);
        pick(ui, FileAction::OpenVideo, &mut action);
    });
    ui.horizontal_wrapped(|ui| {
        pick(ui, FileAction::ExportPng, &mut action);
        pick(ui, FileAction::ExportGif, &mut action);
    });
    ui.weak("Drop images, videos or projects on the window, or paste an image with Ctrl+V.");
    ui.separator();
    match (autosave.last_saved_at, &autosave.last_error) {
        (_, Some(e)) => {
            ui.colored_label(ui.visuals().error_fg_color, format!("Autosave failed: {e}"));
        }
        (Some(t), None) => {
            ui.weak(format!("Autosaved {:.0} s ago", (now - t).max(0.0)));
        }
        (None, None) => {
            ui.weak("Autosave: nothing to save yet");
        }
    }
    ui.separator();
    ui.label("Recent files");
    if recent.paths.is_empty() {
        ui.weak("None yet.");
    }
    for path in &recent.paths {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        if ui
            .button(format!("Recent: {name}"))
            .on_hover_text(path.display().to_string())
            .clicked()
        {
            action = Some(FilesAction::OpenRecent(path.clone()));
        }
    }
    action
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Luma, Rgba};

    #[test]
    fn a_project_round_trips_through_the_zip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.showo");
        let image = RgbaImage::from_fn(8, 4, |x, y| Rgba([x as u8 * 30, y as u8 * 60, 7, 255]));
        let mask = GrayImage::from_fn(8, 4, |x, _| Luma([if x < 4 { 255 } else { 0 }]));
        let project = Project {
            layers: vec![Layer {
                name: "Background".into(),
                image: image.clone(),
                visible: true,
            }],
            active_layer: 0,
            mask: Some(mask.clone()),
            mask_settings: MaskSettings::default(),
            history: vec![HistoryEntry {
                label: "Generated".into(),
                params: Some(GenerationParams::default()),
                image: Arc::new(image.clone()),
            }],
            threads: vec![ChatThread {
                id: ThreadId(3),
                title: "Thread 3".into(),
                messages: vec![
                    ChatEntry::user(
                        "what is it?".into(),
                        vec![Attachment::MaskedRegion {
                            image: image.clone(),
                            mask: mask.clone(),
                        }],
                    ),
                    ChatEntry::assistant("a square".into()),
                ],
            }],
            settings: GenerationSettings {
                prompt: "a red square".into(),
                ..GenerationSettings::default()
            },
            show_previews: false,
            video: None,
            saved_path: Some(path.clone()),
        };
        save_project(&path, &project).unwrap();
        let back = load_project(&path).unwrap();
        assert_eq!(back.layers[0].image, image);
        assert_eq!(back.mask.as_ref(), Some(&mask));
        assert_eq!(back.history.len(), 1);
        assert_eq!(back.threads[0].messages[1].text, "a square");
        match &back.threads[0].messages[0].attachments[0] {
            Attachment::MaskedRegion { mask: m, .. } => assert_eq!(m, &mask),
            other => panic!("unexpected attachment {other:?}"),
        }
        assert_eq!(back.settings.prompt, "a red square");
        assert!(!back.show_previews);
    }

    #[test]
    fn a_broken_file_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.showo");
        std::fs::write(&path, b"not a zip").unwrap();
        let err = load_project(&path).unwrap_err().to_string();
        assert!(
            err.contains("bad.showo") && err.contains("project.json"),
            "{err}"
        );
    }

    #[test]
    fn recent_files_are_most_recent_first_and_unique() {
        let dir = tempfile::tempdir().unwrap();
        let mut recent = RecentFiles::load(dir.path());
        for name in ["a", "b", "a"] {
            let p = dir.path().join(name);
            std::fs::write(&p, b"x").unwrap();
            recent.add(&p);
        }
        let reloaded = RecentFiles::load(dir.path());
        let names: Vec<_> = reloaded
            .paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["a", "b"]);
    }
}
