//! The chat panel: threads of questions and streamed answers, with the canvas, the masked
//! region or the loaded video attached; stop, regenerate, copy.

use egui::Ui;

use crate::engine::{Attachment, ChatMessage, JobId, Role, ThreadId};

#[derive(Clone, Debug)]
pub struct ChatEntry {
    pub role: Role,
    pub text: String,
    pub attachments: Vec<Attachment>,
    /// The job streaming this answer, while it streams.
    pub job: Option<JobId>,
    pub error: Option<String>,
    /// Video frames (source indices) the answer was based on.
    pub frames_seen: Vec<usize>,
}

impl ChatEntry {
    pub fn user(text: String, attachments: Vec<Attachment>) -> Self {
        ChatEntry {
            role: Role::User,
            text,
            attachments,
            job: None,
            error: None,
            frames_seen: Vec::new(),
        }
    }

    pub fn assistant(text: String) -> Self {
        ChatEntry {
            role: Role::Assistant,
            text,
            attachments: Vec::new(),
            job: None,
            error: None,
            frames_seen: Vec::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ChatThread {
    pub id: ThreadId,
    pub title: String,
    pub messages: Vec<ChatEntry>,
}

impl ChatThread {
    /// The conversation as the model should see it: everything except failed or empty
    /// answers.
    pub fn transcript(&self) -> Vec<ChatMessage> {
        self.messages
            .iter()
            .filter(|m| m.error.is_none() && !(m.role == Role::Assistant && m.text.is_empty()))
            .map(|m| ChatMessage {
                role: m.role,
                text: m.text.clone(),
                attachments: m.attachments.clone(),
            })
            .collect()
    }

    pub fn streaming(&self) -> Option<JobId> {
        self.messages.iter().find_map(|m| m.job)
    }
}

/// What the panel asked for; the app has the canvas, mask and video to attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatAction {
    Send,
    Stop(JobId),
    Regenerate,
}

pub struct ChatPanel {
    pub threads: Vec<ChatThread>,
    pub current: usize,
    pub draft: String,
    pub attach_canvas: bool,
    pub attach_mask: bool,
    pub attach_video: bool,
    next_thread: u64,
}

impl Default for ChatPanel {
    fn default() -> Self {
        let mut panel = ChatPanel {
            threads: Vec::new(),
            current: 0,
            draft: String::new(),
            attach_canvas: false,
            attach_mask: false,
            attach_video: false,
            next_thread: 1,
        };
        panel.new_thread();
        panel
    }
}

impl ChatPanel {
    pub fn new_thread(&mut self) -> ThreadId {
        let id = ThreadId(self.next_thread);
        self.next_thread += 1;
        self.threads.push(ChatThread {
            id,
            title: format!("Thread {}", id.0),
            messages: Vec::new(),
        });
        self.current = self.threads.len() - 1;
        id
    }

    /// Replaces all threads (reopening a project).
    pub fn set_threads(&mut self, threads: Vec<ChatThread>) {
        self.next_thread = threads.iter().map(|t| t.id.0 + 1).max().unwrap_or(1);
        self.threads = threads;
        self.current = 0;
        if self.threads.is_empty() {
            self.new_thread();
        }
    }

    pub fn thread(&self, id: ThreadId) -> Option<&ChatThread> {
        self.threads.iter().find(|t| t.id == id)
    }

    pub fn thread_mut(&mut self, id: ThreadId) -> Option<&mut ChatThread> {
        self.threads.iter_mut().find(|t| t.id == id)
    }

    pub fn current_thread(&self) -> &ChatThread {
        &self.threads[self.current.min(self.threads.len() - 1)]
    }

    pub fn current_thread_mut(&mut self) -> &mut ChatThread {
        let i = self.current.min(self.threads.len() - 1);
        &mut self.threads[i]
    }

    fn message_for(&mut self, job: JobId) -> Option<&mut ChatEntry> {
        self.threads
            .iter_mut()
            .flat_map(|t| t.messages.iter_mut())
            .find(|m| m.job == Some(job))
    }

    pub fn on_token(&mut self, job: JobId, text: &str) {
        if let Some(m) = self.message_for(job) {
            m.text.push_str(text);
        }
    }

    pub fn on_answer(&mut self, job: JobId, text: String, frames_seen: Vec<usize>) {
        if let Some(m) = self.message_for(job) {
            m.text = text;
            m.frames_seen = frames_seen;
            m.job = None;
        }
    }

    pub fn on_failed(&mut self, job: JobId, error: String) {
        if let Some(m) = self.message_for(job) {
            m.error = Some(error);
            m.job = None;
        }
    }

    pub fn on_cancelled(&mut self, job: JobId) {
        if let Some(m) = self.message_for(job) {
            if m.text.is_empty() {
                m.error = Some("stopped".to_owned());
            } else {
                m.text.push_str(" [stopped]");
            }
            m.job = None;
        }
    }

    pub fn ui(&mut self, ui: &mut Ui) -> Option<ChatAction> {
        let mut action = None;
        ui.horizontal(|ui| {
            let title = self.current_thread().title.clone();
            egui::ComboBox::from_label("Thread")
                .selected_text(title)
                .show_ui(ui, |ui| {
                    for (i, thread) in self.threads.iter().enumerate() {
                        ui.selectable_value(&mut self.current, i, &thread.title);
                    }
                });
            if ui.button("New thread").clicked() {
                self.new_thread();
            }
        });
        ui.separator();

        let streaming = self.current_thread().streaming();
        // The composer sits at the bottom; the conversation fills the space above it.
        egui::Panel::bottom("chat composer")
            .resizable(false)
            .show(ui, |ui| {
                ui.add_space(4.0);
                ui.horizontal_wrapped(|ui| {
                    ui.checkbox(&mut self.attach_canvas, "Attach canvas");
                    ui.checkbox(&mut self.attach_mask, "Attach masked region");
                    ui.checkbox(&mut self.attach_video, "Attach video");
                });
                let label = ui.label("Message");
                ui.add(
                    egui::TextEdit::multiline(&mut self.draft)
                        .desired_rows(3)
                        .desired_width(f32::INFINITY)
                        .hint_text("Ask a question…"),
                )
                .labelled_by(label.id);
                ui.horizontal(|ui| match streaming {
                    Some(job) => {
                        if ui.button("Stop").clicked() {
                            action = Some(ChatAction::Stop(job));
                        }
                    }
                    None => {
                        let can_send = !self.draft.trim().is_empty();
                        if ui
                            .add_enabled(can_send, egui::Button::new("Send"))
                            .clicked()
                        {
                            action = Some(ChatAction::Send);
                        }
                    }
                });
            });
        egui::ScrollArea::vertical()
            .id_salt("chat messages")
            .auto_shrink([false, false])
            .stick_to_bottom(true)
            .show(ui, |ui| {
                let thread = self.current_thread();
                if thread.messages.is_empty() {
                    ui.weak("Ask about the canvas, the masked region or a loaded video.");
                }
                let last = thread.messages.len().saturating_sub(1);
                for (i, m) in thread.messages.iter().enumerate() {
                    ui.group(|ui| {
                        ui.set_width(ui.available_width());
                        ui.strong(match m.role {
                            Role::User => "You",
                            Role::Assistant => "Model",
                        });
                        for a in &m.attachments {
                            ui.weak(describe_attachment(a));
                        }
                        if m.job.is_some() && m.text.is_empty() {
                            ui.spinner();
                        }
                        ui.label(&m.text);
                        if let Some(error) = &m.error {
                            ui.colored_label(ui.visuals().error_fg_color, error);
                        }
                        if m.role == Role::Assistant && m.job.is_none() && !m.text.is_empty() {
                            ui.horizontal(|ui| {
                                if ui.small_button(format!("Copy message {}", i + 1)).clicked() {
                                    ui.ctx().copy_text(m.text.clone());
                                }
                                if i == last && ui.small_button("Regenerate").clicked() {
                                    action = Some(ChatAction::Regenerate);
                                }
                            });
                        }
                    });
                }
            });
        action
    }
}

pub fn describe_attachment(a: &Attachment) -> String {
    match a {
        Attachment::Image(image) => {
            format!("Attached: canvas {}×{}", image.width(), image.height())
        }
        Attachment::MaskedRegion { image, .. } => {
            format!(
                "Attached: masked region of {}×{}",
                image.width(),
                image.height()
            )
        }
        Attachment::Video { name, frames } => format!("Attached: {name}, {} frames", frames.len()),
    }
}
