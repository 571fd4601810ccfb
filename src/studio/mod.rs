//! The desktop studio (eframe on wgpu). One struct per panel, each with its own state and
//! `ui()`; [`StudioApp`] owns them and the engine handle. The studio never touches tensors:
//! it speaks the engine's protocol of plain images and strings.

mod app;
pub mod canvas;
mod canvas_gpu;
pub mod catalog;
pub mod chat;
pub mod files;
mod frame_stats;
pub mod mask;
pub mod models;
pub mod prompt;
pub mod queue;
pub mod timeline;

pub use app::{Status, StudioApp, StudioOptions, Tab};
pub use frame_stats::FrameStats;

use crate::engine::Backend;

/// The window title, also what screenshot scripts look for.
pub const WINDOW_TITLE: &str = "Show-o Studio";

/// Opens the studio window around `backend` and runs until it is closed.
pub fn run(backend: Box<dyn Backend>) -> Result<(), eframe::Error> {
    run_with(backend, StudioOptions::default())
}

/// [`run`] with explicit options.
pub fn run_with(backend: Box<dyn Backend>, options: StudioOptions) -> Result<(), eframe::Error> {
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(WINDOW_TITLE)
            .with_app_id("showo-studio")
            .with_inner_size([1440.0, 900.0])
            .with_min_inner_size([900.0, 600.0])
            .with_drag_and_drop(true),
        // The canvas shader's pipeline is built for one sample and no depth buffer.
        multisampling: 0,
        depth_buffer: 0,
        ..Default::default()
    };
    eframe::run_native(
        WINDOW_TITLE,
        native,
        Box::new(move |cc| Ok(Box::new(StudioApp::new(cc, backend, options)))),
    )
}
