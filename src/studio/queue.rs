//! The queue panel: pending, running and finished jobs with progress; cancel one or all,
//! pause/resume, reorder. It mirrors the engine's queue from events and sends commands back.

use egui::Ui;

use crate::engine::{Engine, Event, JobId};

/// Finished jobs kept in the list.
const KEEP_FINISHED: usize = 50;

#[derive(Clone, Debug, PartialEq)]
pub enum JobState {
    /// Sent; the engine has not confirmed it yet.
    Submitted,
    Pending,
    Running {
        step: u32,
        total: u32,
    },
    Done,
    Failed(String),
    Cancelled,
}

impl JobState {
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed(_) | JobState::Cancelled
        )
    }
}

#[derive(Clone, Debug)]
pub struct QueueEntry {
    pub id: JobId,
    pub summary: String,
    pub state: JobState,
}

#[derive(Default)]
pub struct QueuePanel {
    pub entries: Vec<QueueEntry>,
    /// Pending jobs in run order, as the engine last reported.
    pub pending: Vec<JobId>,
    pub paused: bool,
}

impl QueuePanel {
    pub fn submitted(&mut self, id: JobId, summary: String) {
        self.entries.push(QueueEntry {
            id,
            summary,
            state: JobState::Submitted,
        });
    }

    pub fn entry(&self, id: JobId) -> Option<&QueueEntry> {
        self.entries.iter().find(|e| e.id == id)
    }

    pub fn state(&self, id: JobId) -> Option<&JobState> {
        self.entry(id).map(|e| &e.state)
    }

    /// The job running now, if any.
    pub fn running(&self) -> Option<JobId> {
        self.entries
            .iter()
            .find(|e| matches!(e.state, JobState::Running { .. }))
            .map(|e| e.id)
    }

    pub fn is_busy(&self) -> bool {
        self.entries.iter().any(|e| !e.state.is_finished())
    }

    /// Follows the engine's events.
    pub fn on_event(&mut self, event: &Event) {
        let set = |entries: &mut Vec<QueueEntry>, id: JobId, state: JobState| {
            if let Some(e) = entries.iter_mut().find(|e| e.id == id) {
                e.state = state;
            }
        };
        match event {
            Event::Queued { job, .. } => set(&mut self.entries, *job, JobState::Pending),
            Event::QueueChanged { pending, paused } => {
                self.pending = pending.clone();
                self.paused = *paused;
            }
            Event::Started { job } => set(
                &mut self.entries,
                *job,
                JobState::Running { step: 0, total: 0 },
            ),
            Event::Progress { job, step, total } => set(
                &mut self.entries,
                *job,
                JobState::Running {
                    step: *step,
                    total: *total,
                },
            ),
            Event::ModelLoading { job, progress } => set(
                &mut self.entries,
                *job,
                JobState::Running {
                    step: (progress * 100.0).round() as u32,
                    total: 100,
                },
            ),
            Event::Done { job, .. } => set(&mut self.entries, *job, JobState::Done),
            Event::Failed { job, error } => {
                set(&mut self.entries, *job, JobState::Failed(error.clone()))
            }
            Event::Cancelled { job } => set(&mut self.entries, *job, JobState::Cancelled),
            _ => {}
        }
        if event.is_final() {
            self.trim();
        }
    }

    fn trim(&mut self) {
        let finished = self
            .entries
            .iter()
            .filter(|e| e.state.is_finished())
            .count();
        let mut drop = finished.saturating_sub(KEEP_FINISHED);
        self.entries.retain(|e| {
            if drop > 0 && e.state.is_finished() {
                drop -= 1;
                false
            } else {
                true
            }
        });
    }

    pub fn ui(&mut self, ui: &mut Ui, engine: &Engine) {
        ui.horizontal(|ui| {
            if self.paused {
                if ui.button("Resume queue").clicked() {
                    engine.resume();
                }
            } else if ui.button("Pause queue").clicked() {
                engine.pause();
            }
            if ui.button("Cancel all").clicked() {
                engine.cancel_all();
            }
        });
        if self.paused {
            ui.label("Paused: the running job finishes, no new job starts.");
        }
        ui.separator();
        if self.entries.is_empty() {
            ui.weak("No jobs yet.");
        }
        // Running first, then pending in run order, then finished (newest first).
        let mut order: Vec<usize> = Vec::new();
        order.extend(
            (0..self.entries.len())
                .filter(|&i| matches!(self.entries[i].state, JobState::Running { .. })),
        );
        for id in &self.pending {
            if let Some(i) = self.entries.iter().position(|e| e.id == *id) {
                order.push(i);
            }
        }
        order.extend((0..self.entries.len()).filter(|&i| {
            matches!(self.entries[i].state, JobState::Submitted)
                || (matches!(self.entries[i].state, JobState::Pending)
                    && !self.pending.contains(&self.entries[i].id))
        }));
        order.extend(
            (0..self.entries.len())
                .rev()
                .filter(|&i| self.entries[i].state.is_finished()),
        );

        egui::ScrollArea::vertical()
            .id_salt("queue list")
            .show(ui, |ui| {
                for i in order {
                    let entry = &self.entries[i];
                    let position = self.pending.iter().position(|id| *id == entry.id);
                    ui.group(|ui| {
                        ui.label(format!("{} {}", entry.id, entry.summary));
                        match &entry.state {
                            JobState::Submitted | JobState::Pending => {
                                ui.label(match position {
                                    Some(p) => format!("Pending, {} in line", p + 1),
                                    None => "Pending".to_owned(),
                                });
                            }
                            JobState::Running { step, total } => {
                                let fraction = if *total > 0 {
                                    *step as f32 / *total as f32
                                } else {
                                    0.0
                                };
                                ui.add(
                                    egui::ProgressBar::new(fraction)
                                        .text(format!("{} step {step} of {total}", entry.id)),
                                );
                            }
                            JobState::Done => {
                                ui.label("Done");
                            }
                            JobState::Failed(error) => {
                                ui.colored_label(
                                    ui.visuals().error_fg_color,
                                    format!("Failed: {error}"),
                                );
                            }
                            JobState::Cancelled => {
                                ui.label("Cancelled");
                            }
                        }
                        if !entry.state.is_finished() {
                            ui.horizontal(|ui| {
                                if ui.button(format!("Cancel {}", entry.id)).clicked() {
                                    engine.cancel(entry.id);
                                }
                                if let Some(p) = position {
                                    if p > 0 && ui.button(format!("Move {} up", entry.id)).clicked()
                                    {
                                        engine.reorder(entry.id, p - 1);
                                    }
                                    if p + 1 < self.pending.len()
                                        && ui.button(format!("Move {} down", entry.id)).clicked()
                                    {
                                        engine.reorder(entry.id, p + 1);
                                    }
                                }
                            });
                        }
                    });
                }
            });
    }
}
