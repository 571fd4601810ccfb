//! Turning panel actions into engine jobs, and engine events into panel state.

use super::*;

impl StudioApp {
    // ---- jobs -----------------------------------------------------------------------------

    pub(super) fn submit(&mut self, kind: JobKind, purpose: Purpose) -> JobId {
        let summary = kind.summary();
        let id = self.engine.submit(kind.clone());
        self.queue.submitted(id, summary);
        self.jobs.insert(id, purpose);
        self.last_submitted = Some((id, kind));
        id
    }

    /// Loads `source` with the Models panel's load settings (device, dtype, quantization).
    pub fn load_model(&mut self, source: ModelSource) -> JobId {
        let settings = self.models.settings.clone();
        let id = self.submit(JobKind::LoadModel(source, settings), Purpose::LoadModel);
        self.models.load_started(id);
        id
    }

    pub(super) fn base_params(
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
            eta: settings.eta,
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
            repaint_jumps: self.mask.repaint_jumps.map(|j| j as u32),
            strength: self.mask.strength,
        });
        let target = Rect::from_min_size(Pos2::ZERO, vec2(w as f32, h as f32));
        Some(self.submit(
            JobKind::Inpaint(InpaintRequest {
                settings,
                image,
                mask,
                feather_px: self.mask.feather_px,
                resample: self.mask.repaint_jumps,
                strength: self.mask.strength,
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
                resample: self.mask.repaint_jumps,
                strength: self.mask.strength,
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
            match self.canvas.visible_image() {
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

    pub(super) fn ask_current_thread(&mut self) -> JobId {
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

    pub(super) fn on_event(&mut self, event: Event) {
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
                // Start new pictures at the model's native size (64 px for the built-in model,
                // 432 for the released 1.5B/7B; the largest trained size when there are several).
                if let Some(&side) = info.resolutions.iter().max() {
                    self.settings.width = side;
                    self.settings.height = side;
                }
                // ... and at the guidance, steps and sampler noise it asks for (2, 20 and
                // ancestral steps for the built-in model, which over-steers at the official 5,
                // was measured at 20 steps and draws clearer shapes with ancestral steps).
                self.settings.guidance = info.guidance;
                self.settings.steps = info.steps.max(1);
                self.settings.eta = info.eta;
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

    pub(super) fn on_done(&mut self, job: JobId, output: JobOutput) {
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

    pub(super) fn after_accept(&mut self, accepted: Option<Accepted>) {
        match accepted {
            Some(Accepted::Extended(growth)) => self.mask.pad(growth),
            Some(Accepted::NewDocument { width, height }) => self.mask.reset(width, height),
            Some(Accepted::SameSize) | None => {}
        }
        self.sync_mask_size();
    }

    /// The mask always has the document's size.
    pub(super) fn sync_mask_size(&mut self) {
        match (
            self.canvas.document_size(),
            self.mask.mask().map(|m| m.dimensions()),
        ) {
            (Some((w, h)), Some(size)) if size == (w, h) => {}
            (Some((w, h)), _) => self.mask.reset(w, h),
            (None, _) => {}
        }
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
