//! The catalog part of the Models panel: every model of `models.toml` with what it can do,
//! whether it is downloaded, whether it fits this machine with the chosen load settings, and
//! buttons to download (after a confirmation that says how much and where) or load it. The
//! same hub code as `showo-studio models`; downloads run on their own thread.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use egui::Ui;

use crate::engine::LoadSettings;
use crate::hub::catalog::{Catalog, Dtype, ModelEntry};
use crate::hub::manager::{self, ModelStatus, PullEvent, PullHandle, PullMessage};
use crate::hub::memory::{self, DeviceBudget, Fit, LlmQuant, LoadOptions, Workload};
use crate::hub::{Hub, HubConfig, format_bytes};

/// A download in progress.
struct Download {
    id: String,
    handle: PullHandle,
    file: String,
    done: u64,
    total: u64,
}

pub struct CatalogPanel {
    catalog: Catalog,
    hub: Arc<Hub>,
    /// Cache-only status per model id, refreshed after downloads and on request.
    status: Vec<(String, ModelStatus)>,
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
            status: Vec::new(),
            confirm: None,
            download: None,
            message: None,
        };
        panel.refresh();
        panel
    }

    /// Re-reads which files are in the cache (no network).
    pub fn refresh(&mut self) {
        self.status = self
            .catalog
            .models
            .iter()
            .map(|m| (m.id.clone(), manager::status(&self.hub, &self.catalog, m)))
            .collect();
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
        let (hub, catalog, id_owned) = (self.hub.clone(), self.catalog.clone(), id.to_owned());
        let (tx, rx) = crossbeam_channel::unbounded();
        let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = cancel.clone();
        // Planning sends HEAD requests: it runs on the download thread too, never the UI's.
        let thread = std::thread::spawn(move || {
            let result = catalog
                .model(&id_owned)
                .and_then(|m| manager::plan(&hub, &catalog, m))
                .and_then(|plan| {
                    manager::pull(
                        &hub,
                        &plan,
                        &mut |e| drop(tx.send(PullMessage::Event(e))),
                        &flag,
                    )
                });
            let _ = tx.send(PullMessage::Finished(result));
        });
        self.message = None;
        self.download = Some(Download {
            id: id.to_owned(),
            handle: PullHandle {
                messages: rx,
                cancel,
                thread,
            },
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
        let budget = budget_for(settings);
        let entries: Vec<ModelEntry> = self.catalog.models.clone();
        for m in &entries {
            let status = self
                .status
                .iter()
                .find(|(id, _)| *id == m.id)
                .map(|(_, s)| s.clone())
                .unwrap_or(ModelStatus::NotInstalled);
            ui.separator();
            ui.strong(&m.display_name);
            for line in m.capability_lines() {
                ui.label(line);
            }
            ui.label(status_text(m, &status));
            if let Some(budget) = budget {
                let a = memory::assess(
                    &self.catalog,
                    m,
                    load_options(m, settings),
                    Workload::default_for(m),
                    budget,
                );
                let verdict = match a.fit {
                    Fit::Fits => "fits this machine",
                    Fit::Tight => "tight on this machine",
                    Fit::DoesNotFit => "does not fit this machine",
                };
                ui.label(format!(
                    "Memory: {} needed, {verdict}",
                    format_bytes(a.estimate.device_peak())
                ))
                .on_hover_text(a.message());
            }
            let downloading_this = self.download.as_ref().is_some_and(|d| d.id == m.id);
            match status {
                ModelStatus::BuiltIn | ModelStatus::Installed => {
                    if ui.button(format!("Load {}", m.id)).clicked() {
                        load = Some(m.id.clone());
                    }
                }
                _ if downloading_this => {
                    let d = self.download.as_ref().expect("checked");
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
                }
                _ if self.confirm.as_deref() == Some(m.id.as_str()) => {
                    ui.label(format!(
                        "Download {} into {}? Nothing starts until you confirm.",
                        download_size(m),
                        self.hub.config.cache.root.display()
                    ));
                    ui.horizontal(|ui| {
                        if ui.button("Confirm download").clicked() {
                            self.confirm = None;
                            self.start_download(&m.id);
                        }
                        if ui.button("Do not download").clicked() {
                            self.confirm = None;
                        }
                    });
                }
                _ => {
                    let busy = self.download.is_some();
                    if ui
                        .add_enabled(!busy, egui::Button::new(format!("Download {}", m.id)))
                        .clicked()
                    {
                        self.confirm = Some(m.id.clone());
                    }
                }
            }
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

/// The memory budget the verdicts use: this machine's available RAM for the CPU; GPU memory
/// is not measurable from here, so GPU loads get no verdict.
fn budget_for(settings: &LoadSettings) -> Option<DeviceBudget> {
    (settings.device == "cpu").then(DeviceBudget::cpu).flatten()
}

fn load_options(m: &ModelEntry, s: &LoadSettings) -> LoadOptions {
    let dtype = match s.dtype.as_deref() {
        Some("bf16") => Dtype::Bf16,
        Some("f16") => Dtype::F16,
        Some(_) => Dtype::F32,
        None if s.device == "cpu" => Dtype::F32,
        None => m.recommended_dtype,
    };
    LoadOptions {
        dtype,
        llm_quant: match s.llm_quant.as_str() {
            "q8_0" => Some(LlmQuant::Q8_0),
            "q4_0" | "q4_k" => Some(LlmQuant::Q4K),
            _ => None,
        },
        vae_on_cpu: false,
    }
}
