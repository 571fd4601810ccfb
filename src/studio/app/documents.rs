//! Opening, saving and exporting: images, videos, projects, masks; autosave.

use super::*;

impl StudioApp {
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

    pub(super) fn perform_and_report(&mut self, action: FileAction, path: &Path) {
        match self.perform(action, path) {
            Ok(message) => self.set_status(message, false),
            Err(error) => self.set_status(error, true),
        }
    }

    /// Does `action` with `path` (what a dialog would do once a path is chosen).
    pub fn perform(&mut self, action: FileAction, path: &Path) -> Result<String, String> {
        match action {
            FileAction::Open => self.open_path(path),
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
            crate::studio::files::PROJECT_EXTENSION => self.open_project(path),
            "mp4" | "m4v" | "mov" | "gif" => self.open_video(path),
            _ if path.is_dir() => self.open_video(path),
            _ => self.open_image(path),
        }
    }

    pub(super) fn open_image(&mut self, path: &Path) -> Result<String, String> {
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

    pub(super) fn open_video(&mut self, path: &Path) -> Result<String, String> {
        if !path.exists() {
            return Err(format!("{} does not exist", path.display()));
        }
        let ctx = self.ctx.clone();
        self.timeline.open(path, move || ctx.request_repaint());
        self.recent.add(path);
        Ok(format!("Decoding {}…", file_name(path)))
    }

    pub(super) fn open_project(&mut self, path: &Path) -> Result<String, String> {
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

    pub(super) fn apply_project(&mut self, project: Project) {
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
        self.mask.repaint_jumps = m.repaint_jumps;
        self.mask.strength = m.strength.filter(|&s| crate::media::strength_in_range(s));
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
                repaint_jumps: self.mask.repaint_jumps,
                strength: self.mask.strength,
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

    pub(super) fn save_project_to(&mut self, path: &Path) -> Result<String, String> {
        let path = with_extension(path, crate::studio::files::PROJECT_EXTENSION);
        let mut project = self.snapshot();
        project.saved_path = Some(path.clone());
        save_project(&path, &project).map_err(|e| e.to_string())?;
        self.project_path = Some(path.clone());
        self.recent.add(&path);
        Ok(format!("Saved the project to {}", path.display()))
    }

    pub(super) fn export_png(&mut self, path: &Path) -> Result<String, String> {
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
    pub(super) fn export_gif(&mut self, path: &Path) -> Result<String, String> {
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
    pub(super) fn fingerprint(&self) -> u64 {
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

    pub(super) fn autosave_tick(&mut self, now: f64) {
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
