//! Shared set-up for the studio GUI tests: the real `StudioApp` in an egui_kittest harness,
//! driven by accessible labels, with the scripted test backend standing in for the model.

#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use egui::{Modifiers, Pos2, Vec2, vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use showo::engine::testing::ScriptedBackend;
use showo::studio::files::InAppDialogs;
use showo::studio::{StudioApp, StudioOptions};

pub const WINDOW: Vec2 = vec2(1400.0, 900.0);
/// Real time allowed for the engine to get somewhere.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn options(data_dir: &Path) -> StudioOptions {
    StudioOptions {
        data_dir: data_dir.to_path_buf(),
        autosave_interval_s: 1.0,
        load_built_in_on_start: true,
        dialogs: Box::new(InAppDialogs),
    }
}

/// The app with the scripted backend, without a GPU (the canvas uses egui textures).
pub fn studio(backend: ScriptedBackend, data_dir: &Path) -> Harness<'static, StudioApp> {
    let options = options(data_dir);
    Harness::builder()
        .with_size(WINDOW)
        .build_eframe(move |cc| StudioApp::new(cc, Box::new(backend), options))
}

/// Steps the ui (letting engine events in) until `done` holds; panics after [`PATIENCE`].
pub fn wait_for(h: &mut Harness<'_, StudioApp>, what: &str, done: impl Fn(&StudioApp) -> bool) {
    let start = Instant::now();
    loop {
        h.step();
        if done(h.state()) {
            return;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "timed out waiting for {what}; status: {:?}",
            h.state().status
        );
        std::thread::sleep(Duration::from_millis(3));
    }
}

pub fn wait_for_model(h: &mut Harness<'_, StudioApp>) {
    wait_for(h, "the model to load", |a| a.models.loaded.is_some());
}

pub fn click(h: &mut Harness<'_, StudioApp>, label: &str) {
    h.get_by_label(label).click();
    h.step();
    h.step();
}

/// Replaces the text of the field labelled `label`.
pub fn type_into(h: &mut Harness<'_, StudioApp>, label: &str, text: &str) {
    h.get_by_label(label).click();
    h.step();
    h.key_press_modifiers(Modifiers::COMMAND, egui::Key::A);
    h.step();
    h.get_by_label(label).type_text(text);
    h.step();
}

/// Answers the in-window file prompt that `button` opens with `path`.
pub fn pick_file(h: &mut Harness<'_, StudioApp>, button: &str, path: &Path) {
    click(h, button);
    type_into(h, "File path", &path.display().to_string());
    click(h, "OK");
}

/// Drags with the primary button from `from` to `to` in a few moves.
pub fn drag(h: &mut Harness<'_, StudioApp>, from: Pos2, to: Pos2) {
    h.hover_at(from);
    h.step();
    h.drag_at(from);
    h.step();
    for i in 1..=6 {
        let t = i as f32 / 6.0;
        h.hover_at(from + (to - from) * t);
        h.step();
    }
    h.drop_at(to);
    h.step();
    h.step();
}

/// Whether some label shows exactly `text` (a label and its text run both carry it).
pub fn shows(h: &Harness<'_, StudioApp>, text: &str) -> bool {
    h.query_all_by_value(text).next().is_some()
}

/// Whether some label's text starts with `prefix`.
pub fn shows_prefix(h: &Harness<'_, StudioApp>, prefix: &str) -> bool {
    h.query_all_by(|n| n.value().is_some_and(|v| v.starts_with(prefix)))
        .next()
        .is_some()
}

/// Sets the slider labelled `label` (its value field carries the same name).
pub fn set_slider(h: &mut Harness<'_, StudioApp>, label: &str, value: f64) {
    h.get_by_role_and_label(egui::accesskit::Role::Slider, label)
        .set_value_accesskit(value);
    h.step();
}

pub fn gradient(width: u32, height: u32) -> image::RgbaImage {
    image::RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([
            (x * 255 / width.max(1)) as u8,
            (y * 255 / height.max(1)) as u8,
            160,
            255,
        ])
    })
}
