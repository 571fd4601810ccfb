//! The catalog part of the Models panel: every model of `models.toml` with what it can do,
//! whether it is downloaded, whether it fits this machine with the chosen load settings, and
//! buttons to download (after a confirmation that says how much and where) or load it. The
//! same hub code as `showo-studio models`; downloads run on their own thread.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use egui::Ui;

use crate::engine::LoadSettings;
use crate::hub::catalog::{Catalog, ModelEntry};
use crate::hub::manager::{self, ModelStatus, PullEvent, PullHandle, PullMessage};
use crate::hub::memory::{self, DeviceBudget, Fit, Workload};
use crate::hub::{Hub, HubConfig, format_bytes};

/// A download in progress.
struct Download {
    id: String,
    handle: PullHandle,
    file: String,
    done: u64,
    total: u64,
}

/// What the panel shows of one model, worked out on refresh (status reads the file system,
/// the verdict reads the machine's free memory): never per frame.
struct Row {
    id: String,
    title: String,
    capabilities: Vec<String>,
    size: String,
    status: String,
    loadable: bool,
    /// (label, explanation) for the load settings in `verdicts_for`.
    verdict: Option<(String, String)>,
}

pub struct CatalogPanel {
    catalog: Catalog,
    hub: Arc<Hub>,
    rows: Vec<Row>,
    /// The load settings the rows' verdicts were computed for.
    verdicts_for: Option<LoadSettings>,
    /// The model whose download waits for the user's confirmation.
    confirm: Option<String>,
    download: Option<Download>,
    /// The outcome of the last download, shown until the next one.
    pub message: Option<String>,
}

impl Default for CatalogPanel {
    fn default() -> Self {
        Self::new(Catalog::builtin(), Hub::new(HubConfig::from_env()))
    }
}

impl CatalogPanel {
    pub fn new(catalog: Catalog, hub: Hub) -> Self {
        let mut panel = Self {
            catalog,
            hub: Arc::new(hub),
            rows: Vec::new(),
            verdicts_for: None,
            confirm: None,
            download: None,
            message: None,
        };
        panel.refresh();
        panel
    }

    /// Re-reads which files are in the cache (no network); verdicts follow on the next frame.
    pub fn refresh(&mut self) {
        self.rows = self
            .catalog
            .models
            .iter()
            .map(|m| {
                let status = manager::status(&self.hub, &self.catalog, m);
                Row {
                    id: m.id.clone(),
                    title: m.display_name.clone(),
                    capabilities: m.capability_lines(),
                    size: download_size(m),
                    status: status_text(m, &status),
                    loadable: matches!(status, ModelStatus::BuiltIn | ModelStatus::Installed),
                    verdict: None,
                }
            })
            .collect();
        self.verdicts_for = None;
    }

    /// Memory verdicts for `settings` (this machine's free RAM for CPU loads; GPU memory is
    /// not measurable from here, so GPU loads get none).
    fn update_verdicts(&mut self, settings: &LoadSettings) {
        if self.verdicts_for.as_ref() == Some(settings) {
            return;
        }
        let budget = (settings.device == "cpu").then(DeviceBudget::cpu).flatten();
        for (row, m) in self.rows.iter_mut().zip(&self.catalog.models) {
            row.verdict = budget.map(|budget| {
                let a = memory::assess(
                    &self.catalog,
                    m,
                    settings.memory_options(),
                    Workload::default_for(m),
                    budget,
                );
                let verdict = match a.fit {
                    Fit::Fits => "fits this machine",
                    Fit::Tight => "tight on this machine",
                    Fit::DoesNotFit => "does not fit this machine",
                };
                (
                    format!(
                        "Memory: {} needed, {verdict}",
                        format_bytes(a.estimate.device_peak())
                    ),
                    a.message(),
                )
            });
        }
        self.verdicts_for = Some(settings.clone());
    }

    pub fn is_downloading(&self) -> bool {
        self.download.is_some()
    }

    /// Drains the download's messages; call every frame.
    pub fn poll(&mut self) {
        let Some(d) = &mut self.download else { return };
        let mut finished = None;
        while let Ok(msg) = d.handle.messages.try_recv() {
            match msg {
                PullMessage::Event(PullEvent::FileStarted { file, size, .. }) => {
                    d.file = file;
                    d.done = 0;
                    d.total = size.unwrap_or(0);
                }
                PullMessage::Event(PullEvent::Progress {
                    file, done, total, ..
                }) => {
                    d.file = file;
                    d.done = done;
                    d.total = total;
                }
                PullMessage::Event(_) => {}
                PullMessage::Finished(result) => finished = Some(result),
            }
        }
        if let Some(result) = finished {
            self.message = Some(match result {
                Ok(report) => format!(
                    "Downloaded {} ({}).",
                    d.id,
                    format_bytes(report.downloaded_bytes)
                ),
                Err(e) => format!("Download of {} stopped: {e}", d.id),
            });
            self.download = None;
            self.refresh();
        }
    }

    fn start_download(&mut self, id: &str) {
        let (catalog, wanted) = (self.catalog.clone(), id.to_owned());
        let handle = manager::spawn_plan_and_pull(self.hub.clone(), move |hub| {
            manager::plan(hub, &catalog, catalog.model(&wanted)?)
        });
        self.message = None;
        self.download = Some(Download {
            id: id.to_owned(),
            handle,
            file: String::new(),
            done: 0,
            total: 0,
        });
    }

    /// Draws the list; returns the id of a model to load.
    pub fn ui(&mut self, ui: &mut Ui, settings: &LoadSettings) -> Option<String> {
        self.poll();
        let mut load = None;
        ui.horizontal(|ui| {
            ui.strong("Catalog");
            if ui.small_button("Refresh").clicked() {
                self.refresh();
            }
        });
        ui.label(format!(
            "Downloads go to {}",
            self.hub.config.cache.root.display()
        ));
        self.update_verdicts(settings);
        let mut confirm = self.confirm.clone();
        let mut start = None;
        for row in &self.rows {
            ui.separator();
            ui.strong(&row.title);
            for line in &row.capabilities {
                ui.label(line);
            }
            ui.label(&row.status);
            if let Some((label, why)) = &row.verdict {
                ui.label(label).on_hover_text(why);
            }
            if row.loadable {
                if ui.button(format!("Load {}", row.id)).clicked() {
                    load = Some(row.id.clone());
                }
            } else if let Some(d) = self.download.as_ref().filter(|d| d.id == row.id) {
                let fraction = if d.total > 0 {
                    d.done as f32 / d.total as f32
                } else {
                    0.0
                };
                ui.add(egui::ProgressBar::new(fraction).text(format!(
                    "{} {} / {}",
                    d.file,
                    format_bytes(d.done),
                    format_bytes(d.total)
                )));
                if ui.button("Cancel download").clicked() {
                    d.handle.cancel.store(true, Ordering::Relaxed);
                }
            } else if confirm.as_deref() == Some(row.id.as_str()) {
                ui.label(format!(
                    "Download {} into {}? Nothing starts until you confirm.",
                    row.size,
                    self.hub.config.cache.root.display()
                ));
                ui.horizontal(|ui| {
                    if ui.button("Confirm download").clicked() {
                        confirm = None;
                        start = Some(row.id.clone());
                    }
                    if ui.button("Do not download").clicked() {
                        confirm = None;
                    }
                });
            } else {
                let busy = self.download.is_some();
                if ui
                    .add_enabled(!busy, egui::Button::new(format!("Download {}", row.id)))
                    .clicked()
                {
                    confirm = Some(row.id.clone());
                }
            }
        }
        self.confirm = confirm;
        if let Some(id) = start {
            self.start_download(&id);
        }
        if let Some(msg) = &self.message {
            ui.separator();
            ui.label(msg);
        }
        load
    }
}

fn status_text(m: &ModelEntry, status: &ModelStatus) -> String {
    match status {
        ModelStatus::BuiltIn => "Built in: no download needed".into(),
        ModelStatus::Installed => "Downloaded".into(),
        ModelStatus::Partial { missing } => format!(
            "Partly downloaded ({} files missing; downloading resumes)",
            missing.len()
        ),
        ModelStatus::NotInstalled => format!("Not downloaded ({})", download_size(m)),
    }
}

fn download_size(m: &ModelEntry) -> String {
    match (m.known_download_bytes(), m.estimated_weight_bytes()) {
        ((n, true), _) if n > 0 => format_bytes(n),
        (_, Some(n)) => format!("about {}", format_bytes(n)),
        ((n, false), None) if n > 0 => format!("at least {}", format_bytes(n)),
        _ => "size unknown".into(),
    }
}
