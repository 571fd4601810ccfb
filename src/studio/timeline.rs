//! The timeline panel: a loaded video's sampled frames as a strip with timestamps, scrubbing,
//! play/pause, the frames a chat answer looked at highlighted, and "send frame to canvas".
//! Videos are decoded on a helper thread so opening a long clip never stalls the window.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crossbeam_channel::Receiver;
use egui::{Color32, Sense, Stroke, StrokeKind, TextureHandle, TextureOptions, Ui, vec2};
use image::{DynamicImage, RgbaImage};

use crate::engine::VideoFrame;
use crate::media::{VideoSource, sample_frames};

/// Frames sampled for the strip.
pub const TIMELINE_FRAMES: usize = 32;
const THUMB_HEIGHT: f32 = 64.0;

#[derive(Clone, Debug)]
pub struct LoadedVideo {
    pub name: String,
    pub path: PathBuf,
    pub frames: Vec<VideoFrame>,
    pub total_frames: usize,
    pub duration_s: Option<f64>,
}

/// What the timeline asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum TimelineAction {
    SendFrameToCanvas(usize),
}

#[derive(Default)]
pub struct Timeline {
    pub video: Option<LoadedVideo>,
    /// Index into `video.frames`.
    pub current: usize,
    pub playing: bool,
    /// (ui time, video time) when playback started.
    play_clock: Option<(f64, f64)>,
    /// Source frame indices the chat's last answer looked at.
    pub highlighted: BTreeSet<usize>,
    loading: Option<(PathBuf, Receiver<Result<LoadedVideo, String>>)>,
    thumbnails: HashMap<usize, TextureHandle>,
    pub error: Option<String>,
}

/// Decodes `path` and samples the strip's frames (blocking).
pub fn load_video(path: &Path) -> Result<LoadedVideo, String> {
    let sampled = sample_frames(&VideoSource::from_path(path, None), TIMELINE_FRAMES)
        .map_err(|e| e.to_string())?;
    let mut frames: Vec<VideoFrame> = Vec::new();
    for f in sampled.frames {
        // Short clips repeat indices when sampled uniformly; keep each frame once.
        if frames.last().is_some_and(|last| last.index == f.index) {
            continue;
        }
        frames.push(VideoFrame {
            index: f.index,
            // Frame folders without a rate get one frame per second.
            timestamp_s: f.timestamp_s.unwrap_or(f.index as f64),
            image: DynamicImage::ImageRgb8(f.image).to_rgba8(),
        });
    }
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    Ok(LoadedVideo {
        name,
        path: path.to_path_buf(),
        frames,
        total_frames: sampled.total_frames,
        duration_s: sampled.duration_s,
    })
}

impl Timeline {
    /// Starts decoding `path` in the background; `wake` is called when it is ready.
    pub fn open(&mut self, path: &Path, wake: impl Fn() + Send + 'static) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let owned = path.to_path_buf();
        std::thread::Builder::new()
            .name("showo-video-decode".to_owned())
            .spawn(move || {
                let _ = tx.send(load_video(&owned));
                wake();
            })
            .expect("the OS refused to start the video decoding thread");
        self.loading = Some((path.to_path_buf(), rx));
        self.error = None;
    }

    pub fn set_video(&mut self, video: LoadedVideo) {
        self.video = Some(video);
        self.current = 0;
        self.playing = false;
        self.play_clock = None;
        self.highlighted.clear();
        self.thumbnails.clear();
    }

    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    /// Takes a finished decode. Returns the result once.
    pub fn poll(&mut self) -> Option<Result<String, String>> {
        let (_, rx) = self.loading.as_ref()?;
        let result = rx.try_recv().ok()?;
        self.loading = None;
        Some(match result {
            Ok(video) => {
                let name = video.name.clone();
                self.set_video(video);
                Ok(name)
            }
            Err(e) => {
                self.error = Some(e.clone());
                Err(e)
            }
        })
    }

    /// Up to `max` frames spread evenly over the strip, for a chat question.
    pub fn frames_for_chat(&self, max: usize) -> Vec<VideoFrame> {
        let Some(video) = &self.video else {
            return Vec::new();
        };
        let n = video.frames.len();
        if n <= max || max == 0 {
            return video.frames.clone();
        }
        if max == 1 {
            return vec![video.frames[0].clone()];
        }
        (0..max)
            .map(|i| video.frames[i * (n - 1) / (max - 1)].clone())
            .collect()
    }

    pub fn current_frame(&self) -> Option<&VideoFrame> {
        self.video.as_ref()?.frames.get(self.current)
    }

    pub fn ui(&mut self, ui: &mut Ui) -> Option<TimelineAction> {
        if let Some((path, _)) = &self.loading {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("Decoding {}…", path.display()));
            });
            return None;
        }
        if let Some(error) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        let Timeline {
            video,
            current,
            playing,
            play_clock,
            highlighted,
            thumbnails,
            ..
        } = self;
        let Some(video) = video.as_ref() else {
            ui.weak("No video loaded. Open one from the Files panel or drop it on the window.");
            return None;
        };
        let mut action = None;
        let count = video.frames.len();
        let last_time = video.frames.last().map_or(0.0, |f| f.timestamp_s);
        let duration = video.duration_s.unwrap_or(last_time);

        // Playback follows the ui clock (real time in the window, simulated time in tests).
        let now = ui.input(|i| i.time);
        if *playing {
            let (started, from) =
                *play_clock.get_or_insert((now, video.frames[*current].timestamp_s));
            let t = from + (now - started);
            match video.frames.iter().rposition(|f| f.timestamp_s <= t) {
                Some(i) if t <= last_time => *current = i,
                _ => {
                    *current = count - 1;
                    *playing = false;
                    *play_clock = None;
                }
            }
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(40));
        }

        ui.horizontal(|ui| {
            let play_label = if *playing { "Pause" } else { "Play" };
            if ui.button(play_label).clicked() {
                *playing = !*playing;
                if *playing && *current + 1 >= count {
                    *current = 0;
                }
                *play_clock = None;
            }
            if ui.button("Send frame to canvas").clicked() {
                action = Some(TimelineAction::SendFrameToCanvas(*current));
            }
            let label = ui.label("Frame");
            let mut scrub = *current;
            let slider = ui
                .add(egui::Slider::new(&mut scrub, 0..=count.saturating_sub(1)).show_value(false))
                .labelled_by(label.id);
            if slider.changed() {
                *current = scrub;
                *playing = false;
                *play_clock = None;
            }
            let frame = &video.frames[*current];
            ui.label(format!(
                "{} · {:.1} s of {:.1} s · source frame {} of {}",
                video.name,
                frame.timestamp_s,
                duration,
                frame.index + 1,
                video.total_frames
            ));
            if !highlighted.is_empty() {
                ui.colored_label(
                    HIGHLIGHT,
                    format!("{} frames seen by the chat", highlighted.len()),
                );
            }
        });

        let mut clicked = None;
        egui::ScrollArea::horizontal()
            .id_salt("timeline strip")
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    for (i, frame) in video.frames.iter().enumerate() {
                        let texture = thumbnails.entry(frame.index).or_insert_with(|| {
                            let thumb = thumbnail(&frame.image, THUMB_HEIGHT as u32 * 2);
                            ui.ctx().load_texture(
                                format!("timeline-{}", frame.index),
                                super::canvas::to_color_image(&thumb),
                                TextureOptions::LINEAR,
                            )
                        });
                        let aspect =
                            frame.image.width() as f32 / frame.image.height().max(1) as f32;
                        ui.vertical(|ui| {
                            let size = vec2(THUMB_HEIGHT * aspect, THUMB_HEIGHT);
                            let response = ui
                                .add(egui::Image::new((texture.id(), size)).sense(Sense::click()))
                                .accessible_name(format!("Frame at {:.1} s", frame.timestamp_s));
                            if response.clicked() {
                                clicked = Some(i);
                            }
                            let seen = highlighted.contains(&frame.index);
                            if seen {
                                ui.painter().rect_stroke(
                                    response.rect,
                                    2.0,
                                    Stroke::new(3.0, HIGHLIGHT),
                                    StrokeKind::Outside,
                                );
                            }
                            if i == *current {
                                ui.painter().rect_stroke(
                                    response.rect,
                                    2.0,
                                    Stroke::new(2.0, Color32::WHITE),
                                    StrokeKind::Inside,
                                );
                            }
                            let text =
                                egui::RichText::new(format!("{:.1} s", frame.timestamp_s)).small();
                            ui.label(if seen { text.color(HIGHLIGHT) } else { text });
                        });
                    }
                });
            });
        if let Some(i) = clicked {
            *current = i;
            *playing = false;
            *play_clock = None;
        }
        action
    }
}

/// The colour of frames the chat looked at.
pub const HIGHLIGHT: Color32 = Color32::from_rgb(255, 190, 40);

fn thumbnail(image: &RgbaImage, height: u32) -> RgbaImage {
    let (w, h) = image.dimensions();
    if h <= height {
        return image.clone();
    }
    let width = ((w as f32 * height as f32 / h as f32).round() as u32).max(1);
    image::imageops::thumbnail(image, width, height)
}
