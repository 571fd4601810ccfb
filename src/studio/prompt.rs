//! The generation settings in the tool panel: prompt, seed, steps, guidance, sampler noise
//! (eta), size, candidates, and the buttons that start image jobs.

use egui::Ui;
use serde::{Deserialize, Serialize};

use crate::engine::{ImageSettings, PreviewSettings};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerationSettings {
    pub prompt: String,
    pub negative_prompt: String,
    pub seed: u64,
    /// Draw a new seed for every job (the one used is recorded with the result).
    pub random_seed: bool,
    pub steps: u32,
    pub guidance: f32,
    /// Share of fresh noise per flow step: 0 is the official Euler sampler, 1 ancestral.
    pub eta: f32,
    pub width: u32,
    pub height: u32,
    pub candidates: u32,
    /// A live preview every this many flow steps.
    pub preview_every: u32,
}

impl Default for GenerationSettings {
    fn default() -> Self {
        GenerationSettings {
            prompt: String::new(),
            negative_prompt: String::new(),
            seed: 42,
            random_seed: false,
            steps: 50,
            guidance: 5.0,
            eta: 0.0,
            width: 432,
            height: 432,
            candidates: 1,
            preview_every: 1,
        }
    }
}

/// What the prompt section asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptAction {
    Generate,
    Inpaint,
}

impl GenerationSettings {
    /// The sampling settings of the next job. With a random seed, a fresh one is drawn
    /// (and shown in the panel, so the result can be reproduced).
    pub fn next_image_settings(&mut self, previews: bool) -> ImageSettings {
        if self.random_seed {
            self.seed = fresh_seed();
        }
        ImageSettings {
            prompt: self.prompt.clone(),
            negative_prompt: self.negative_prompt.clone(),
            seed: self.seed,
            steps: self.steps.max(1),
            guidance: self.guidance,
            eta: self.eta.clamp(0.0, 1.0),
            candidates: self.candidates.max(1),
            preview: PreviewSettings {
                enabled: previews,
                every_n_steps: self.preview_every.max(1),
                ..PreviewSettings::default()
            },
        }
    }

    pub fn ui(&mut self, ui: &mut Ui, grid: u32, can_inpaint: bool) -> Option<PromptAction> {
        let mut action = None;
        let label = ui.label("Prompt");
        ui.add(
            egui::TextEdit::multiline(&mut self.prompt)
                .desired_rows(3)
                .desired_width(f32::INFINITY)
                .hint_text("a red circle on the left"),
        )
        .labelled_by(label.id);
        let label = ui.label("Negative prompt");
        ui.add(egui::TextEdit::singleline(&mut self.negative_prompt).desired_width(f32::INFINITY))
            .labelled_by(label.id)
            .on_hover_text(
                "What guidance steers away from: it replaces the empty prompt of the \
                 unconditional branch (no effect at guidance 1). Saved in the PNG.",
            );
        ui.horizontal(|ui| {
            let label = ui.label("Seed");
            ui.add(egui::DragValue::new(&mut self.seed))
                .labelled_by(label.id);
            ui.checkbox(&mut self.random_seed, "Random seed");
        });
        ui.add(egui::Slider::new(&mut self.steps, 1..=200).text("Steps"));
        ui.add(egui::Slider::new(&mut self.guidance, 0.0..=15.0).text("Guidance"));
        ui.add(
            egui::Slider::new(&mut self.eta, 0.0..=1.0)
                .fixed_decimals(2)
                .text("Ancestral noise (eta)"),
        )
        .on_hover_text(
            "Share of fresh noise in each flow step. 0 is the official Euler sampler: one \
             noise draw, then a fixed path. 1 is ancestral (\"Euler a\"): every step starts \
             again from the model's clean guess under new noise, which commits to one clear \
             picture. Either way a seed gives the same picture again. Loading a model sets \
             what it asks for; saved in the PNG.",
        );
        ui.horizontal(|ui| {
            let grid = grid.max(1);
            let label = ui.label("Width");
            ui.add(
                egui::DragValue::new(&mut self.width)
                    .range(grid..=4096)
                    .speed(grid as f32),
            )
            .labelled_by(label.id);
            let label = ui.label("Height");
            ui.add(
                egui::DragValue::new(&mut self.height)
                    .range(grid..=4096)
                    .speed(grid as f32),
            )
            .labelled_by(label.id);
            // The model only makes multiples of its grid.
            self.width = self.width.div_ceil(grid) * grid;
            self.height = self.height.div_ceil(grid) * grid;
        });
        ui.add(egui::Slider::new(&mut self.candidates, 1..=8).text("Candidates"));
        ui.add(egui::Slider::new(&mut self.preview_every, 1..=10).text("Preview every n steps"));
        ui.horizontal(|ui| {
            if ui
                .add_enabled(
                    !self.prompt.trim().is_empty(),
                    egui::Button::new("Generate"),
                )
                .clicked()
            {
                action = Some(PromptAction::Generate);
            }
            if ui
                .add_enabled(can_inpaint, egui::Button::new("Inpaint"))
                .on_hover_text("Regenerate the masked region from the prompt")
                .clicked()
            {
                action = Some(PromptAction::Inpaint);
            }
        });
        action
    }
}

/// A seed from the clock and a counter: different every call, no RNG state to carry.
fn fresh_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mixed = nanos ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    // SplitMix64 finaliser: spreads nearby clock values over all bits.
    let mut z = mixed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % 1_000_000_000
}
