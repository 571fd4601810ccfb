//! The models panel: which model is resident and what it can do, loading progress, loading
//! the built-in model or another model folder.

use std::path::PathBuf;

use egui::Ui;

use super::catalog::CatalogPanel;
use crate::engine::{Event, JobId, LoadSettings, ModelInfo};
use crate::hub::format_bytes;

#[derive(Default)]
pub struct ModelsPanel {
    /// Device, precision and quantization of the next load.
    pub settings: LoadSettings,
    /// The catalog: downloads, memory verdicts, loading catalog models.
    pub catalog: CatalogPanel,
    pub loaded: Option<ModelInfo>,
    /// The job loading a model and its progress (0..=1).
    pub loading: Option<(JobId, f32)>,
    pub last_error: Option<String>,
    /// The folder typed into the panel.
    pub folder: String,
}

/// What the panel asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelsAction {
    LoadBuiltIn,
    LoadFolder(PathBuf),
    /// A downloaded model of the catalog, by id.
    LoadCatalog(String),
    BrowseFolder,
}

impl ModelsPanel {
    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::ModelLoading { job, progress } => {
                self.loading = Some((*job, *progress));
            }
            Event::ModelLoaded(info) => {
                self.loaded = Some(info.clone());
                self.last_error = None;
            }
            Event::ModelUnloaded => self.loaded = None,
            Event::Failed { job, error } if self.loading.is_some_and(|(j, _)| j == *job) => {
                self.last_error = Some(error.clone());
                self.loading = None;
            }
            Event::Done { job, .. } | Event::Cancelled { job }
                if self.loading.is_some_and(|(j, _)| j == *job) =>
            {
                self.loading = None;
            }
            _ => {}
        }
    }

    /// Remembers that `job` loads a model, so its failure is shown here.
    pub fn load_started(&mut self, job: JobId) {
        self.loading = Some((job, 0.0));
    }

    /// The canvas grid of the resident model (16 when none is loaded).
    pub fn pixel_grid(&self) -> u32 {
        self.loaded
            .as_ref()
            .map_or(crate::media::PIXEL_GRID, |m| m.pixel_grid.max(1))
    }

    pub fn ui(&mut self, ui: &mut Ui) -> Option<ModelsAction> {
        let mut action = None;
        match &self.loaded {
            Some(m) => {
                ui.strong(&m.name);
                egui::Grid::new("model facts")
                    .num_columns(2)
                    .show(ui, |ui| {
                        let mut row = |k: &str, v: String| {
                            ui.label(k);
                            ui.label(v);
                            ui.end_row();
                        };
                        row("Source", m.source.to_string());
                        row(
                            "Resolutions",
                            m.resolutions
                                .iter()
                                .map(|r| format!("{r}²"))
                                .collect::<Vec<_>>()
                                .join(", "),
                        );
                        row("Image generation", yes_no(m.image_generation));
                        row("Image chat", yes_no(m.image_chat));
                        row(
                            "Video chat",
                            if m.video_chat {
                                format!("yes, up to {} frames", m.max_video_frames)
                            } else {
                                "no".to_owned()
                            },
                        );
                        row("Device", m.device.clone());
                        row("Data type", m.dtype.clone());
                        row("Parameters", human_count(m.parameters));
                        row("Memory estimate", format_bytes(m.memory_bytes));
                    });
            }
            None => {
                ui.label("No model is loaded.");
            }
        }
        if let Some((_, progress)) = self.loading {
            ui.add(
                egui::ProgressBar::new(progress)
                    .text(format!("Loading model {:.0}%", progress * 100.0)),
            );
        }
        if let Some(error) = &self.last_error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        ui.separator();
        let busy = self.loading.is_some();
        ui.add_enabled_ui(!busy, |ui| {
            load_settings_ui(ui, &mut self.settings);
            if ui
                .button("Load built-in model")
                .on_hover_text("The tiny Show-o2 that ships with the studio")
                .clicked()
            {
                action = Some(ModelsAction::LoadBuiltIn);
            }
            ui.horizontal(|ui| {
                let label = ui.label("Model folder");
                ui.text_edit_singleline(&mut self.folder)
                    .labelled_by(label.id);
                if ui.button("Browse for model folder").clicked() {
                    action = Some(ModelsAction::BrowseFolder);
                }
            });
            if ui
                .add_enabled(
                    !self.folder.trim().is_empty(),
                    egui::Button::new("Load model folder"),
                )
                .on_hover_text("Unloads the current model first: one model is resident at a time")
                .clicked()
            {
                action = Some(ModelsAction::LoadFolder(PathBuf::from(self.folder.trim())));
            }
        });
        ui.separator();
        egui::ScrollArea::vertical()
            .id_salt("catalog")
            .show(ui, |ui| {
                if let Some(id) = self.catalog.ui(ui, &self.settings)
                    && !busy
                {
                    action = Some(ModelsAction::LoadCatalog(id));
                }
            });
        action
    }
}

/// Where and how the next model loads. Only devices this build can use are offered.
fn load_settings_ui(ui: &mut Ui, s: &mut LoadSettings) {
    let devices = crate::model::device::enabled_backends();
    egui::Grid::new("load settings")
        .num_columns(2)
        .show(ui, |ui| {
            let label = ui.label("Device");
            egui::ComboBox::from_id_salt("device")
                .selected_text(s.device.clone())
                .show_ui(ui, |ui| {
                    for d in devices {
                        let name = if d == "cpu" {
                            d.to_owned()
                        } else {
                            format!("{d}:0")
                        };
                        ui.selectable_value(&mut s.device, name.clone(), name);
                    }
                })
                .response
                .labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Data type");
            egui::ComboBox::from_id_salt("dtype")
                .selected_text(s.dtype.clone().unwrap_or_else(|| "device default".into()))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut s.dtype, None, "device default");
                    for d in ["f32", "bf16", "f16"] {
                        ui.selectable_value(&mut s.dtype, Some(d.to_owned()), d);
                    }
                })
                .response
                .labelled_by(label.id);
            ui.end_row();
            let label = ui.label("LLM weights");
            egui::ComboBox::from_id_salt("llm quant")
                .selected_text(s.llm_quant.clone())
                .show_ui(ui, |ui| {
                    for (q, hint) in [
                        ("none", "dense"),
                        ("q8_0", "8-bit, ~1/4 of f32"),
                        ("q4_0", "4-bit"),
                        ("q4_k", "4-bit k-quant (1.5B and 7B)"),
                    ] {
                        ui.selectable_value(&mut s.llm_quant, q.to_owned(), q)
                            .on_hover_text(hint);
                    }
                })
                .response
                .labelled_by(label.id);
            ui.end_row();
        });
    ui.checkbox(
        &mut s.convert_bin,
        "Convert .bin checkpoints to a safetensors cache",
    )
    .on_hover_text(
        "Released Show-o2 checkpoints are PyTorch .bin files. Converting once uses as much disk \
         as the checkpoint (in ~/.cache/showo-studio) and makes every later load a fast \
         memory map. Without it, an existing conversion is still used.",
    );
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

fn human_count(n: u64) -> String {
    match n {
        0 => "unknown".to_owned(),
        n if n >= 1_000_000_000 => format!("{:.2} B", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1} M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1} k", n as f64 / 1e3),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        // The same units as the catalog's estimates (decimal), so the two panels agree.
        assert_eq!(format_bytes(1_500_000), "1.50 MB");
        assert_eq!(human_count(1_500_000_000), "1.50 B");
    }
}
