//! Opens the real studio window in a prepared scene, for `scripts/screenshots.sh` and the
//! frame-time measurement. Usage: `studio_scenes <scene> [--measure-frames SECONDS OUT.txt]`
//! with scene one of generate, staging, mask, extend, video, queue, models, files.
//!
//! The studio has no model backend wired in yet, so these scenes run the engine's scripted
//! test backend, which the Models panel names as "scripted test backend (not a model)". Its
//! images are flat colours: the screenshots show the studio, not model output.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eframe::egui;
use image::{Rgba, RgbaImage};
use showo::engine::testing::ScriptedBackend;
use showo::media::{GifFrame, GifRepeat, Growth, save_gif};
use showo::studio::files::InAppDialogs;
use showo::studio::{StudioApp, StudioOptions, Tab, WINDOW_TITLE};

struct Measure {
    seconds: f64,
    out: PathBuf,
    started: Option<Instant>,
    last_frame: Option<Instant>,
    intervals_ms: Vec<f32>,
    /// eframe's CPU time per frame: ui, tessellation and render submission (no vsync wait).
    cpu_ms: Vec<f32>,
}

struct SceneApp {
    studio: StudioApp,
    scene: String,
    frame: u64,
    measure: Option<Measure>,
}

impl eframe::App for SceneApp {
    fn logic(&mut self, ctx: &egui::Context, frame: &mut eframe::Frame) {
        self.studio.logic(ctx, frame);
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        self.frame += 1;
        if self.frame == 2 {
            // The canvas knows its size after the first frame; fit the scene into it.
            self.studio.canvas.request_fit();
        }
        if self.scene == "generate" && self.frame == 3 {
            self.studio.generate();
        }
        self.studio.ui(ui, frame);
        if let Some(m) = self.measure.as_mut() {
            let now = Instant::now();
            let started = *m.started.get_or_insert(now);
            if let Some(last) = m.last_frame {
                m.intervals_ms.push((now - last).as_secs_f32() * 1000.0);
            }
            if let Some(cpu) = frame.info().cpu_usage {
                m.cpu_ms.push(cpu * 1000.0);
            }
            m.last_frame = Some(now);
            // Measure continuous repainting while the job runs.
            ui.ctx().request_repaint();
            if (now - started).as_secs_f64() >= m.seconds {
                write_report(m, &self.studio);
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                self.measure = None;
            }
        }
    }
}

fn quantile(samples: &[f32], q: f32) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f32::total_cmp);
    sorted[((sorted.len() - 1) as f32 * q).round() as usize]
}

fn write_report(m: &Measure, studio: &StudioApp) {
    let stats = &studio.frame_stats;
    let running = studio.queue.running().is_some();
    let report = format!(
        "frames: {}\nwhile generating: {}\nframe interval ms: p50 {:.2} p95 {:.2} max {:.2}\n\
         eframe cpu ms (ui + tessellation + render submit): p50 {:.2} p95 {:.2} max {:.2}\n\
         ui build ms: p50 {:.2} p95 {:.2} max {:.2}\n",
        m.intervals_ms.len() + 1,
        running,
        quantile(&m.intervals_ms, 0.5),
        quantile(&m.intervals_ms, 0.95),
        quantile(&m.intervals_ms, 1.0),
        quantile(&m.cpu_ms, 0.5),
        quantile(&m.cpu_ms, 0.95),
        quantile(&m.cpu_ms, 1.0),
        stats.quantile(0.5),
        stats.quantile(0.95),
        stats.quantile(1.0),
    );
    if let Err(e) = std::fs::write(&m.out, report) {
        eprintln!("writing {}: {e}", m.out.display());
    }
}

/// A small procedural picture: sky, sea, a sun and a boat.
fn sample_picture(width: u32, height: u32) -> RgbaImage {
    RgbaImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let sun = ((fx - 0.7).powi(2) + (fy - 0.3).powi(2)).sqrt() < 0.09;
        let hull = fy > 0.62
            && fy < 0.7
            && fx > 0.2
            && fx < 0.42
            && (fy - 0.62) * 3.0 < (fx - 0.2).min(0.42 - fx);
        let sail = fx > 0.3 && fx < 0.31 + (0.62 - fy) * 0.5 && fy > 0.4 && fy <= 0.62;
        if sun {
            Rgba([250, 210, 80, 255])
        } else if hull {
            Rgba([120, 60, 40, 255])
        } else if sail {
            Rgba([245, 245, 240, 255])
        } else if fy < 0.6 {
            Rgba([
                (120.0 + 80.0 * fy) as u8,
                (170.0 + 60.0 * fy) as u8,
                235,
                255,
            ])
        } else {
            let wave = ((fx * 40.0 + fy * 9.0).sin() * 12.0) as i32;
            Rgba([20, (90 + wave) as u8, (150 + wave) as u8, 255])
        }
    })
}

/// A short clip of an orange ball crossing a blue field, as an animated GIF.
fn sample_clip(dir: &Path) -> PathBuf {
    let path = dir.join("ball.gif");
    let frames: Vec<GifFrame> = (0..12)
        .map(|i| GifFrame {
            image: RgbaImage::from_fn(160, 90, |x, y| {
                let cx = 15.0 + i as f32 * 12.0;
                if ((x as f32 - cx).powi(2) + (y as f32 - 45.0).powi(2)).sqrt() < 10.0 {
                    Rgba([240, 140, 30, 255])
                } else {
                    Rgba([40, 80, 220, 255])
                }
            }),
            delay_ms: 500,
        })
        .collect();
    save_gif(&path, &frames, GifRepeat::Forever).expect("writing the sample clip");
    path
}

fn set_up(app: &mut StudioApp, scene: &str, dir: &Path) {
    match scene {
        "generate" => {
            app.settings.prompt = "a red circle on the left".into();
            app.settings.steps = 200;
            app.tab = Tab::Queue;
        }
        "staging" => {
            app.add_image("boat", sample_picture(432, 432));
            app.settings.prompt = "a yellow sun over the sea".into();
            app.settings.steps = 8;
            app.settings.candidates = 3;
            app.generate();
        }
        "mask" => {
            app.add_image("boat", sample_picture(432, 432));
            app.mask.painting = true;
            app.mask.brush_size = 40.0;
            app.mask.begin_stroke([250.0, 90.0]);
            for i in 1..=30 {
                let t = i as f32 / 30.0;
                app.mask
                    .extend_stroke([250.0 + 110.0 * t, 90.0 + 60.0 * (t * 6.0).sin()]);
            }
            app.mask.end_stroke();
            app.settings.prompt = "a full moon".into();
        }
        "extend" => {
            app.add_image("boat", sample_picture(432, 432));
            app.canvas.requested_growth = Growth {
                left: 0,
                right: 150,
                top: 0,
                bottom: 60,
            };
            app.settings.prompt = "more sea and a distant island".into();
        }
        "video" => {
            let clip = sample_clip(dir);
            let _ = app.open_path(&clip);
            // Ask once the clip has decoded (see `SceneApp`): here we only prepare the draft.
            app.chat.draft = "Which way does the ball move?".into();
            app.chat.attach_video = true;
            app.tab = Tab::Chat;
        }
        "queue" => {
            app.settings.steps = 300;
            for prompt in [
                "a red circle",
                "a blue square",
                "a green triangle",
                "a purple star",
            ] {
                app.settings.prompt = prompt.into();
                app.generate();
            }
            app.tab = Tab::Queue;
        }
        "models" => app.tab = Tab::Models,
        "files" => {
            app.add_image("boat", sample_picture(432, 432));
            let project = dir.join("harbour.showo");
            let _ = app.perform(showo::studio::files::FileAction::SaveProjectAs, &project);
            app.tab = Tab::Files;
        }
        other => eprintln!("unknown scene {other}; showing the empty studio"),
    }
}

fn main() -> Result<(), eframe::Error> {
    let args: Vec<String> = std::env::args().collect();
    let scene = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "generate".to_owned());
    let measure = args
        .iter()
        .position(|a| a == "--measure-frames")
        .map(|i| Measure {
            seconds: args.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(5.0),
            out: PathBuf::from(
                args.get(i + 2)
                    .cloned()
                    .unwrap_or_else(|| "frame-times.txt".to_owned()),
            ),
            started: None,
            last_frame: None,
            intervals_ms: Vec::new(),
            cpu_ms: Vec::new(),
        });
    let measuring = measure.is_some();
    let dir = std::env::temp_dir().join(format!("showo-studio-scene-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let options = StudioOptions {
        data_dir: dir.clone(),
        autosave_interval_s: 5.0,
        load_built_in_on_start: true,
        dialogs: Box::new(InAppDialogs),
    };
    let backend = ScriptedBackend::new().with_step_delay(Duration::from_millis(40));
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(WINDOW_TITLE)
            .with_inner_size([1440.0, 900.0]),
        multisampling: 0,
        depth_buffer: 0,
        // Measure what a frame costs, not how long it waits for the display.
        wgpu_options: eframe::egui_wgpu::WgpuConfiguration {
            surface: eframe::egui_wgpu::SurfaceConfig {
                present_mode: if measuring {
                    eframe::egui_wgpu::wgpu::PresentMode::AutoNoVsync
                } else {
                    eframe::egui_wgpu::wgpu::PresentMode::AutoVsync
                },
                ..eframe::egui_wgpu::SurfaceConfig::LOW_LATENCY
            },
            ..Default::default()
        },
        ..Default::default()
    };
    eframe::run_native(
        WINDOW_TITLE,
        native,
        Box::new(move |cc| {
            let mut studio = StudioApp::new(cc, Box::new(backend), options);
            set_up(&mut studio, &scene, &dir);
            Ok(Box::new(VideoQuestion(SceneApp {
                studio,
                scene,
                frame: 0,
                measure,
            })))
        }),
    )
}

/// Sends the prepared video question as soon as the clip has decoded.
struct VideoQuestion(SceneApp);

impl eframe::App for VideoQuestion {
    fn logic(&mut self, ctx: &egui::Context, frame: &mut eframe::Frame) {
        self.0.logic(ctx, frame);
        let app = &mut self.0.studio;
        if self.0.scene == "video" && app.timeline.video.is_some() && !app.chat.draft.is_empty() {
            app.send_chat();
            // A frame on the canvas too, as "Send frame to canvas" would put it there.
            let frame = app
                .timeline
                .video
                .as_ref()
                .and_then(|v| v.frames.get(5))
                .cloned();
            if let Some(frame) = frame {
                app.add_image("Frame at 2.5 s", frame.image);
                app.timeline.current = 5;
            }
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        self.0.ui(ui, frame);
    }
}
