//! End-to-end flows through the real studio app, driven by accessible labels
//! (egui_kittest), with the scripted test backend standing in for the model.
//!
//! | flow | test |
//! |---|---|
//! | generate with live previews arriving, accept, previews off | `generate_shows_live_previews_in_place_then_stages_the_result` |
//! | queue: cancel one / all, pause, reorder | `the_queue_panel_cancels_and_the_canvas_is_not_left_blocked` |
//! | paint a mask, undo, redo, inpaint, retry with the same mask | `paint_a_mask_undo_redo_then_inpaint_and_keep_the_mask_for_a_retry` |
//! | mask PNG save / load | `mask_png_saves_and_loads_through_the_file_prompt` |
//! | drag the right edge and extend (snapped amount) | `dragging_the_right_edge_extends_by_a_grid_snapped_amount` |
//! | open a video, ask, streamed answer, timeline highlight | `open_a_video_ask_about_it_and_see_the_answer_stream_and_the_frames_light_up` |
//! | describe the mask | `describe_the_mask_drafts_an_inpainting_prompt` |
//! | export PNG and GIF, read back | `export_png_and_gif_then_read_them_back` |
//! | save, close, reopen a project | `save_close_and_reopen_a_project` |
//! | autosave and crash recovery | `autosave_recovers_work_after_a_crash` |
//! | the engine dies mid-job, keep working | `a_backend_panic_mid_job_is_reported_and_the_next_job_works` |
//! | no backend: "no model is loaded" | `without_a_backend_the_models_panel_says_no_model_is_loaded` |
//! | drag-and-drop, paste | `open_image_by_drop_and_by_pasting_a_path` |
//! | accessible names everywhere | `every_widget_in_every_panel_has_an_accessible_name` |

mod studio_support;

use std::time::Duration;

use egui::{Key, Modifiers, pos2, vec2};
use egui_kittest::kittest::Queryable;
use image::{GenericImageView, Rgba, RgbaImage};
use showo::engine::testing::{PANIC_MARKER, ScriptedBackend};
use showo::engine::{JobKind, Role};
use showo::media::{GifFrame, GifRepeat, save_gif};
use showo::studio::queue::JobState;
use studio_support::*;

fn slow(ms: u64) -> ScriptedBackend {
    ScriptedBackend::new().with_step_delay(Duration::from_millis(ms))
}

#[test]
fn generate_shows_live_previews_in_place_then_stages_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = studio(slow(25), dir.path());
    wait_for_model(&mut h);
    assert!(!shows(&h, "No model is loaded."));

    type_into(&mut h, "Prompt", "a red circle");
    set_slider(&mut h, "Steps", 12.0);
    set_slider(&mut h, "Ancestral noise (eta)", 0.5);
    h.state_mut().settings.width = 96;
    h.state_mut().settings.height = 64;
    click(&mut h, "Generate");
    let (job, kind) = h.state().last_submitted.clone().expect("a job was sent");
    match &kind {
        JobKind::Generate(r) => {
            assert_eq!(r.settings.prompt, "a red circle");
            assert_eq!(r.settings.steps, 12);
            assert_eq!(r.settings.eta, 0.5);
            assert!(r.settings.preview.enabled);
        }
        other => panic!("expected a generate job, got {other:?}"),
    }

    // Previews arrive while the job runs and the canvas shows them in place.
    wait_for(&mut h, "a mid-run preview", |a| {
        a.canvas
            .preview
            .as_ref()
            .is_some_and(|p| p.job == job && p.step >= 3)
    });
    let app = h.state();
    let (shown, rect) = app.canvas.shown().expect("the canvas shows something");
    let preview = app.canvas.preview.as_ref().unwrap();
    assert_eq!(
        shown.version, preview.image.version,
        "the canvas shows the preview"
    );
    assert_eq!(
        (rect.width(), rect.height()),
        (96.0, 64.0),
        "in place of the 96x64 result"
    );
    let p = shown.image.get_pixel(0, 0).0;
    assert!(
        p[0] > p[1] && p[0] < 217,
        "a half-way blend of grey to red: {p:?}"
    );
    assert!(matches!(
        app.queue.state(job),
        Some(JobState::Running { .. })
    ));
    assert!(shows_prefix(&h, "Step "), "the step readout");

    wait_for(&mut h, "the result", |a| {
        a.queue.state(job) == Some(&JobState::Done)
    });
    let app = h.state();
    assert!(app.canvas.preview.is_none());
    let candidate = app.canvas.staged_candidate().expect("a staged candidate");
    assert_eq!(candidate.image.image.dimensions(), (96, 64));
    let red = candidate.image.image.get_pixel(5, 5).0;
    assert!(
        red[0] > 200 && red[1] < 50 && red[2] < 50,
        "the red result: {red:?}"
    );
    assert!(
        app.canvas.trajectory.len() >= 12,
        "the trajectory keeps the previews"
    );

    click(&mut h, "Accept");
    let app = h.state();
    assert_eq!(app.canvas.composite().unwrap().get_pixel(5, 5).0, red);
    assert_eq!(
        app.mask.mask().unwrap().dimensions(),
        (96, 64),
        "the mask follows the canvas"
    );
    assert_eq!(app.canvas.history.len(), 1);

    // With previews switched off nothing is previewed, and the job does not ask for them.
    click(&mut h, "Live previews");
    click(&mut h, "Generate");
    let (job, kind) = h.state().last_submitted.clone().unwrap();
    assert!(matches!(&kind, JobKind::Generate(r) if !r.settings.preview.enabled));
    wait_for(
        &mut h,
        "progress",
        |a| matches!(a.queue.state(job), Some(JobState::Running { step, .. }) if *step >= 2),
    );
    assert!(h.state().canvas.preview.is_none());
    wait_for(&mut h, "the second result", |a| {
        a.queue.state(job) == Some(&JobState::Done)
    });
}

#[test]
fn the_queue_panel_cancels_and_the_canvas_is_not_left_blocked() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = studio(slow(30), dir.path());
    wait_for_model(&mut h);
    type_into(&mut h, "Prompt", "a blue square");
    set_slider(&mut h, "Steps", 200.0);
    h.state_mut().settings.width = 32;
    h.state_mut().settings.height = 32;
    click(&mut h, "Generate");
    let first = h.state().last_submitted.as_ref().unwrap().0;
    click(&mut h, "Generate");
    let second = h.state().last_submitted.as_ref().unwrap().0;
    click(&mut h, "Queue");
    wait_for(
        &mut h,
        "the first job to run",
        |a| matches!(a.queue.state(first), Some(JobState::Running { step, .. }) if *step >= 1),
    );
    wait_for(&mut h, "the second job to be pending", |a| {
        a.queue.pending.contains(&second)
    });
    assert!(h.query_by_label(&format!("Cancel {second}")).is_some());
    click(&mut h, &format!("Cancel {first}"));
    wait_for(&mut h, "the cancellation", |a| {
        a.queue.state(first) == Some(&JobState::Cancelled)
    });
    assert!(
        h.state()
            .canvas
            .preview
            .as_ref()
            .is_none_or(|p| p.job != first),
        "no stale preview after a cancel"
    );
    click(&mut h, "Cancel all");
    wait_for(&mut h, "cancel all", |a| {
        a.queue.state(second) == Some(&JobState::Cancelled)
    });
    click(&mut h, "Pause queue");
    wait_for(&mut h, "the pause", |a| a.queue.paused);
    assert!(h.query_by_label("Resume queue").is_some());

    // While paused, jobs wait in line and can be reordered.
    click(&mut h, "Generate");
    let a = h.state().last_submitted.as_ref().unwrap().0;
    click(&mut h, "Generate");
    let b = h.state().last_submitted.as_ref().unwrap().0;
    wait_for(&mut h, "both pending", |app| {
        app.queue.pending == vec![a, b]
    });
    click(&mut h, &format!("Move {b} up"));
    wait_for(&mut h, "the reorder", |app| app.queue.pending == vec![b, a]);
    click(&mut h, "Resume queue");
    wait_for(&mut h, "b to start first", |app| {
        matches!(app.queue.state(b), Some(JobState::Running { .. }))
    });
    assert!(matches!(h.state().queue.state(a), Some(JobState::Pending)));
    click(&mut h, "Cancel all");
    wait_for(&mut h, "everything cancelled", |app| !app.queue.is_busy());
}

#[test]
fn every_widget_in_every_panel_has_an_accessible_name() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("clip.gif");
    let frames: Vec<GifFrame> = (0..3)
        .map(|i| GifFrame {
            image: RgbaImage::from_pixel(16, 16, Rgba([i * 80, 40, 200, 255])),
            delay_ms: 1000,
        })
        .collect();
    save_gif(&video, &frames, GifRepeat::Forever).unwrap();
    let mut h = studio(ScriptedBackend::new(), dir.path());
    wait_for_model(&mut h);
    h.state_mut().add_image("photo", gradient(64, 64));
    h.state_mut().open_path(&video).unwrap();
    wait_for(&mut h, "the video", |a| a.timeline.video.is_some());
    h.state_mut().settings.prompt = "a red circle".into();
    h.state_mut().settings.steps = 2;
    h.state_mut().settings.candidates = 2;
    h.state_mut().settings.width = 64;
    h.state_mut().settings.height = 64;
    let job = h.state_mut().generate();
    wait_for(&mut h, "candidates", |a| {
        a.queue.state(job) == Some(&JobState::Done)
    });
    h.state_mut().chat.draft = "hi".into();
    let chat = h.state_mut().send_chat().unwrap();
    wait_for(&mut h, "an answer", |a| {
        a.queue.state(chat) == Some(&JobState::Done)
    });
    h.state_mut().canvas.requested_growth.right = 20;
    h.step();
    click(&mut h, "Candidate 2");
    assert_eq!(
        h.state().canvas.staged,
        1,
        "clicking a thumbnail shows that candidate"
    );
    for tab in ["Chat", "Queue", "Models", "Files"] {
        click(&mut h, tab);
        h.check_accessibility();
    }
    click(&mut h, "Open image");
    h.check_accessibility();
    click(&mut h, "Cancel");

    // Keep both: the candidate becomes a new layer over the kept image.
    click(&mut h, "Keep both");
    let app = h.state();
    assert_eq!(app.canvas.layers().len(), 2);
    assert_eq!(
        app.canvas.layers()[0].image,
        gradient(64, 64),
        "the first image is kept"
    );
    assert_eq!(
        app.canvas.staging.len(),
        1,
        "the other candidate stays staged"
    );
}

#[test]
fn paint_a_mask_undo_redo_then_inpaint_and_keep_the_mask_for_a_retry() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = studio(slow(2), dir.path());
    wait_for_model(&mut h);
    h.state_mut().add_image(
        "white",
        RgbaImage::from_pixel(128, 128, Rgba([255, 255, 255, 255])),
    );
    h.step();
    h.step();

    click(&mut h, "Paint mask");
    assert!(h.state().mask.painting);
    // A bigger brush with [ and ] (the keys work when no text field has focus).
    let before = h.state().mask.brush_size;
    h.key_press(Key::CloseBracket);
    h.step();
    assert!(h.state().mask.brush_size > before);
    h.key_press(Key::OpenBracket);
    h.step();
    assert!((h.state().mask.brush_size - before).abs() < 1e-3);

    let doc = h
        .state()
        .canvas
        .document_screen_rect()
        .expect("the document is on screen");
    let y = doc.center().y;
    drag(
        &mut h,
        pos2(doc.left() + doc.width() * 0.2, y),
        pos2(doc.left() + doc.width() * 0.8, y),
    );
    let painted = h.state().mask.mask().unwrap().clone();
    assert_eq!(h.state().mask.undo_depth(), 1, "one stroke recorded");
    assert_eq!(
        painted.get_pixel(64, 64).0[0],
        255,
        "the stroke crosses the centre"
    );
    assert_eq!(painted.get_pixel(64, 5).0[0], 0, "and stays near its path");

    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.step();
    assert!(
        h.state().mask.mask().unwrap().iter().all(|&v| v == 0),
        "undo clears the stroke"
    );
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    h.step();
    assert_eq!(
        h.state().mask.mask().unwrap(),
        &painted,
        "redo restores it exactly"
    );
    click(&mut h, "Undo mask");
    click(&mut h, "Redo mask");
    assert_eq!(h.state().mask.mask().unwrap(), &painted);

    type_into(&mut h, "Prompt", "black");
    set_slider(&mut h, "Steps", 3.0);
    click(&mut h, "Inpaint");
    let (job, kind) = h.state().last_submitted.clone().unwrap();
    match &kind {
        JobKind::Inpaint(r) => {
            assert_eq!(&r.mask, &painted, "the painted mask is sent");
            assert_eq!(
                r.resample, None,
                "harmonising is the model's own by default"
            );
        }
        other => panic!("expected an inpaint job, got {other:?}"),
    }
    wait_for(&mut h, "the inpainting", |a| {
        a.queue.state(job) == Some(&JobState::Done)
    });
    let result = h
        .state()
        .canvas
        .staged_candidate()
        .unwrap()
        .image
        .image
        .clone();
    let dark = result.get_pixel(64, 64).0;
    assert!(
        dark[0] < 20 && dark[0] == dark[1],
        "masked pixels regenerated: {dark:?}"
    );
    assert_eq!(
        result.get_pixel(64, 5).0,
        [255, 255, 255, 255],
        "kept pixels untouched"
    );
    click(&mut h, "Accept");
    assert_eq!(
        h.state().mask.mask().unwrap(),
        &painted,
        "the mask survives accepting"
    );

    // The first job left both knobs to the model.
    assert!(matches!(
        &h.state().last_submitted.clone().unwrap().1,
        JobKind::Inpaint(r) if r.resample.is_none() && r.strength.is_none()
    ));

    // A retry with a new prompt reuses the same mask, here with 3 harmonising passes and a
    // strength of 0.6 chosen.
    type_into(&mut h, "Prompt", "green");
    click(&mut h, "Auto harmonise");
    set_slider(&mut h, "Harmonise passes", 3.0);
    click(&mut h, "Auto strength");
    set_slider(&mut h, "Strength", 0.6);
    click(&mut h, "Inpaint");
    let (job, kind) = h.state().last_submitted.clone().unwrap();
    assert!(matches!(&kind, JobKind::Inpaint(r)
        if r.mask == painted && r.resample == Some(3) && r.strength == Some(0.6)));
    let project = h.state().snapshot();
    assert_eq!(
        (
            project.mask_settings.repaint_jumps,
            project.mask_settings.strength
        ),
        (Some(3), Some(0.6)),
        "saved with the project"
    );
    wait_for(&mut h, "the retry", |a| {
        a.queue.state(job) == Some(&JobState::Done)
    });
}

#[test]
fn mask_png_saves_and_loads_through_the_file_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = studio(ScriptedBackend::new(), dir.path());
    wait_for_model(&mut h);
    h.state_mut().add_image(
        "grey",
        RgbaImage::from_pixel(64, 48, Rgba([90, 90, 90, 255])),
    );
    h.state_mut().mask.invert();
    h.step();
    let path = dir.path().join("mask.png");
    pick_file(&mut h, "Save mask", &path);
    let saved = image::open(&path).expect("the mask PNG").to_luma8();
    assert_eq!(saved.dimensions(), (64, 48));
    assert!(saved.iter().all(|&v| v == 255));
    click(&mut h, "Clear mask");
    assert!(!h.state_mut().mask.has_content());
    pick_file(&mut h, "Load mask", &path);
    assert!(
        h.state_mut().mask.has_content(),
        "status: {:?}",
        h.state().status
    );
}

#[test]
fn dragging_the_right_edge_extends_by_a_grid_snapped_amount() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = studio(slow(2), dir.path());
    wait_for_model(&mut h);
    h.state_mut().add_image("photo", gradient(128, 96));
    h.step();
    h.step();
    let doc = h.state().canvas.document_screen_rect().unwrap();
    let zoom = h.state().canvas.zoom;
    // 40 canvas pixels to the right; 128 + 40 is off the 16-pixel grid, so it snaps to 48.
    let from = pos2(doc.right() + 2.0, doc.center().y);
    drag(&mut h, from, from + vec2(40.0 * zoom, 0.0));
    let plan = h
        .state()
        .canvas
        .extension_plan()
        .expect("an extension is pending");
    assert_eq!(h.state().canvas.requested_growth.right, 40);
    assert_eq!(plan.growth.right, 48);
    assert_eq!((plan.canvas_width, plan.canvas_height), (176, 96));
    assert!(
        shows(
            &h,
            "Extend to 176×96 px (left 0, right 48, top 0, bottom 0)"
        ),
        "the live size readout"
    );

    type_into(&mut h, "Prompt", "blue sky");
    set_slider(&mut h, "Steps", 4.0);
    // Enter runs the extension when no text field has focus.
    h.get_by_label("Fit").click();
    h.step();
    h.key_press(Key::Enter);
    h.step();
    let (job, kind) = h.state().last_submitted.clone().unwrap();
    match &kind {
        JobKind::Extend(r) => {
            assert_eq!(r.growth.right, 48);
            assert_eq!((r.growth.left, r.growth.top, r.growth.bottom), (0, 0, 0));
            assert_eq!(r.image.dimensions(), (128, 96));
        }
        other => panic!("expected an extend job, got {other:?}"),
    }
    assert!(
        h.state().canvas.extension_plan().is_none(),
        "the pending area was handed to the job"
    );
    wait_for(&mut h, "the extension", |a| {
        a.queue.state(job) == Some(&JobState::Done)
    });
    click(&mut h, "Accept");
    let app = h.state();
    assert_eq!(app.canvas.document_size(), Some((176, 96)));
    let composite = app.canvas.composite().unwrap();
    assert_eq!(
        composite.get_pixel(10, 10),
        gradient(128, 96).get_pixel(10, 10),
        "the original stays"
    );
    let blue = composite.get_pixel(170, 50).0;
    assert!(
        blue[2] > 200 && blue[0] < 50,
        "the new area is generated: {blue:?}"
    );
    assert_eq!(
        app.mask.mask().unwrap().dimensions(),
        (176, 96),
        "the mask grew with the canvas"
    );
}

#[test]
fn open_a_video_ask_about_it_and_see_the_answer_stream_and_the_frames_light_up() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("ball.gif");
    let frames: Vec<GifFrame> = (0..6u32)
        .map(|i| GifFrame {
            image: RgbaImage::from_fn(48, 32, |x, _| {
                if x / 8 == i {
                    Rgba([240, 140, 30, 255])
                } else {
                    Rgba([40, 80, 220, 255])
                }
            }),
            delay_ms: 500,
        })
        .collect();
    save_gif(&video, &frames, GifRepeat::Forever).unwrap();

    let mut h = studio(slow(40), dir.path());
    wait_for_model(&mut h);
    click(&mut h, "Files");
    pick_file(&mut h, "Open video", &video);
    wait_for(&mut h, "the video to decode", |a| {
        a.timeline.video.is_some()
    });
    assert_eq!(h.state().timeline.video.as_ref().unwrap().frames.len(), 6);
    assert!(
        h.query_by_label("Frame at 1.0 s").is_some(),
        "the strip shows timestamps"
    );

    // Scrub, then play and pause.
    set_slider(&mut h, "Frame", 1.0);
    assert_eq!(h.state().timeline.current, 1);
    click(&mut h, "Play");
    click(&mut h, "Pause");
    let t = &h.state().timeline;
    assert!(
        t.current > 1,
        "playback advanced: frame {}, playing {}",
        t.current,
        t.playing
    );
    assert!(!h.state().timeline.playing);

    click(&mut h, "Chat");
    click(&mut h, "Attach video");
    type_into(&mut h, "Message", "which way does the ball move?");
    click(&mut h, "Send");
    let (job, kind) = h.state().last_submitted.clone().unwrap();
    match &kind {
        JobKind::Chat(r) => {
            let last = r.messages.last().unwrap();
            assert_eq!(last.role, Role::User);
            assert_eq!(last.text, "which way does the ball move?");
            assert_eq!(last.attachments.len(), 1);
        }
        other => panic!("expected a chat job, got {other:?}"),
    }
    // Part of the answer is on screen before the whole of it.
    wait_for(&mut h, "a partial answer", |a| {
        let m = a.chat.current_thread().messages.last().unwrap();
        m.job == Some(job) && m.text.split(' ').count() >= 2
    });
    assert!(
        h.query_by_label("Stop").is_some(),
        "a streaming answer can be stopped"
    );
    wait_for(&mut h, "the full answer", |a| {
        a.queue.state(job) == Some(&JobState::Done)
    });
    let app = h.state();
    let answer = app.chat.current_thread().messages.last().unwrap();
    assert!(
        answer.text.contains("ball.gif")
            && answer.text.contains("0.0 s")
            && answer.text.contains("blue"),
        "{}",
        answer.text
    );
    assert_eq!(answer.frames_seen.len(), 4);
    let highlighted: Vec<usize> = app.timeline.highlighted.iter().copied().collect();
    assert_eq!(
        highlighted, answer.frames_seen,
        "the timeline lights up the frames seen"
    );
    assert!(shows(&h, "4 frames seen by the chat"));
    assert!(h.query_by_label("Copy message 2").is_some());

    // Regenerate asks again in the same thread; Stop cancels mid-stream.
    click(&mut h, "Regenerate");
    let regen = h.state().last_submitted.as_ref().unwrap().0;
    wait_for(&mut h, "streaming again", |a| {
        a.chat
            .current_thread()
            .messages
            .last()
            .unwrap()
            .text
            .split(' ')
            .count()
            >= 2
    });
    click(&mut h, "Stop");
    wait_for(&mut h, "the stop", |a| {
        a.queue.state(regen) == Some(&JobState::Cancelled)
    });
    assert_eq!(h.state().chat.current_thread().messages.len(), 2);

    // Send a frame to the canvas.
    click(&mut h, "Send frame to canvas");
    assert_eq!(h.state().canvas.document_size(), Some((48, 32)));
}

#[test]
fn describe_the_mask_drafts_an_inpainting_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = studio(ScriptedBackend::new(), dir.path());
    wait_for_model(&mut h);
    let image = RgbaImage::from_fn(64, 64, |x, _| {
        if x < 32 {
            Rgba([40, 180, 60, 255])
        } else {
            Rgba([245, 245, 245, 255])
        }
    });
    h.state_mut().add_image("half green", image);
    h.state_mut().mask.begin_stroke([8.0, 32.0]);
    h.state_mut().mask.extend_stroke([20.0, 32.0]);
    h.state_mut().mask.end_stroke();
    h.step();
    click(&mut h, "Describe the mask");
    let (job, _) = h.state().last_submitted.clone().unwrap();
    wait_for(&mut h, "the description", |a| {
        a.queue.state(job) == Some(&JobState::Done)
    });
    assert_eq!(h.state().settings.prompt, "a green area");
}

#[test]
fn export_png_and_gif_then_read_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = studio(ScriptedBackend::new(), dir.path());
    wait_for_model(&mut h);
    type_into(&mut h, "Prompt", "a yellow square");
    set_slider(&mut h, "Steps", 6.0);
    h.state_mut().settings.width = 64;
    h.state_mut().settings.height = 48;
    click(&mut h, "Generate");
    let job = h.state().last_submitted.as_ref().unwrap().0;
    wait_for(&mut h, "the result", |a| {
        a.queue.state(job) == Some(&JobState::Done)
    });
    click(&mut h, "Accept");

    click(&mut h, "Files");
    let png = dir.path().join("out.png");
    pick_file(&mut h, "Export PNG", &png);
    let back = image::open(&png).expect("the exported PNG");
    assert_eq!(back.dimensions(), (64, 48));
    let yellow = back.to_rgba8().get_pixel(3, 3).0;
    assert!(
        yellow[0] > 200 && yellow[1] > 190 && yellow[2] < 60,
        "{yellow:?}"
    );
    let params = showo::media::read_png_metadata(&png).expect("recallable settings");
    assert_eq!(params.prompt, "a yellow square");
    assert_eq!((params.steps, params.width, params.height), (6, 64, 48));

    let gif = dir.path().join("steps.gif");
    pick_file(&mut h, "Export GIF", &gif);
    let decoder = image::codecs::gif::GifDecoder::new(std::io::BufReader::new(
        std::fs::File::open(&gif).expect("the exported GIF"),
    ))
    .unwrap();
    let frames = image::AnimationDecoder::into_frames(decoder)
        .collect_frames()
        .unwrap();
    assert_eq!(frames.len(), 7, "six previews and the result");
    let first = frames[0].buffer().get_pixel(3, 3).0;
    let last = frames[6].buffer().get_pixel(3, 3).0;
    assert!(
        first[0] < last[0],
        "the animation moves from grey to yellow: {first:?} → {last:?}"
    );
}

#[test]
fn save_close_and_reopen_a_project() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("work.showo");
    {
        let mut h = studio(ScriptedBackend::new(), dir.path());
        wait_for_model(&mut h);
        h.state_mut().add_image("photo", gradient(80, 64));
        h.state_mut().mask.begin_stroke([40.0, 32.0]);
        h.state_mut().mask.end_stroke();
        type_into(&mut h, "Prompt", "a purple hat");
        click(&mut h, "Chat");
        type_into(&mut h, "Message", "hello");
        click(&mut h, "Send");
        let job = h.state().last_submitted.as_ref().unwrap().0;
        wait_for(&mut h, "the answer", |a| {
            a.queue.state(job) == Some(&JobState::Done)
        });
        click(&mut h, "Files");
        pick_file(&mut h, "Save project as", &project);
        assert!(project.is_file(), "status: {:?}", h.state().status);
        assert_eq!(h.state().project_path.as_deref(), Some(project.as_path()));
        // Closing the window cleanly.
        let mut app = h.into_state();
        eframe::App::on_exit(&mut app);
    }
    let mut h = studio(ScriptedBackend::new(), dir.path());
    wait_for_model(&mut h);
    assert!(
        h.state().recovery_pending().is_none(),
        "a clean exit leaves no recovery file"
    );
    click(&mut h, "Files");
    assert!(
        h.query_by_label("Recent: work.showo").is_some(),
        "recent files list the project"
    );
    click(&mut h, "Recent: work.showo");
    let app = h.state();
    assert_eq!(app.canvas.composite().unwrap(), &gradient(80, 64));
    assert_eq!(app.mask.mask().unwrap().get_pixel(40, 32).0[0], 255);
    assert_eq!(app.settings.prompt, "a purple hat");
    let thread = app.chat.current_thread();
    assert_eq!(thread.messages.len(), 2);
    assert_eq!(thread.messages[0].text, "hello");
    assert_eq!(thread.messages[1].text, "You asked: hello");
    assert_eq!(app.project_path.as_deref(), Some(project.as_path()));
}

#[test]
fn autosave_recovers_work_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut h = studio(ScriptedBackend::new(), dir.path());
        wait_for_model(&mut h);
        h.state_mut().add_image("unsaved", gradient(40, 30));
        wait_for(&mut h, "an autosave", |a| a.last_autosave().is_some());
        assert!(h.state().autosave_path().is_file());
        // Dropped without on_exit: as if the process had died.
    }
    let mut h = studio(ScriptedBackend::new(), dir.path());
    h.step();
    assert!(h.state().recovery_pending().is_some());
    click(&mut h, "Recover");
    assert_eq!(h.state().canvas.composite().unwrap(), &gradient(40, 30));
    assert!(h.state().recovery_pending().is_none());
}

#[test]
fn a_backend_panic_mid_job_is_reported_and_the_next_job_works() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = studio(slow(5), dir.path());
    wait_for_model(&mut h);
    type_into(&mut h, "Prompt", &format!("a red circle {PANIC_MARKER}"));
    set_slider(&mut h, "Steps", 5.0);
    h.state_mut().settings.width = 32;
    h.state_mut().settings.height = 32;
    click(&mut h, "Generate");
    let bad = h.state().last_submitted.as_ref().unwrap().0;
    wait_for(&mut h, "the crash report", |a| {
        matches!(a.queue.state(bad), Some(JobState::Failed(_)))
    });
    wait_for(&mut h, "the restart", |a| {
        a.status
            .as_ref()
            .is_some_and(|s| s.text.contains("engine restarted"))
    });
    assert_eq!(h.state().engine_crashes, 1);
    match h.state().queue.state(bad) {
        Some(JobState::Failed(e)) => {
            assert!(e.contains("crashed") && e.contains("scripted panic"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        h.state().canvas.preview.is_none(),
        "the dead job's preview is gone"
    );

    type_into(&mut h, "Prompt", "a green circle");
    click(&mut h, "Generate");
    let good = h.state().last_submitted.as_ref().unwrap().0;
    wait_for(&mut h, "the next job", |a| {
        a.queue.state(good) == Some(&JobState::Done)
    });
    let candidate = h.state().canvas.staged_candidate().unwrap();
    let green = candidate.image.image.get_pixel(1, 1).0;
    assert!(
        green[1] > 150 && green[0] < 60,
        "the green result: {green:?}"
    );
    assert!(h.state().engine().is_alive());
    assert!(
        h.state().models.loaded.is_some(),
        "the model was reloaded after the crash"
    );
}

/// A model's own guidance, steps and eta (its studio.json) become the panel's once it has
/// loaded (the panel starts at the official 5, 50 and 0 before any model is there).
#[test]
fn a_loaded_model_sets_the_guidance_steps_and_eta_new_requests_start_from() {
    let dir = tempfile::tempdir().unwrap();
    let mut backend = ScriptedBackend::new();
    backend.guidance = 2.5;
    backend.steps = 12;
    backend.eta = 0.75;
    let mut h = studio(backend, dir.path());
    wait_for_model(&mut h);
    assert_eq!(h.state().settings.guidance, 2.5);
    assert_eq!(h.state().settings.steps, 12);
    assert_eq!(h.state().settings.eta, 0.75);
    let params = h.state().settings.clone().next_image_settings(false);
    assert_eq!(params.eta, 0.75);
}

#[test]
fn without_a_backend_the_models_panel_says_no_model_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let options = options(dir.path());
    let mut h = egui_kittest::Harness::builder()
        .with_size(WINDOW)
        .build_eframe(move |cc| {
            showo::studio::StudioApp::new(cc, Box::new(showo::engine::Unavailable), options)
        });
    wait_for(&mut h, "the load to fail", |a| {
        a.models.last_error.is_some()
    });
    click(&mut h, "Models");
    assert!(shows(&h, "No model is loaded."));
    assert!(h.state().models.loaded.is_none());
    let error = h.state().models.last_error.clone().unwrap();
    assert!(error.contains("no Show-o2 backend"), "{error}");
}

#[test]
fn open_image_by_drop_and_by_pasting_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photo.png");
    gradient(50, 40).save(&path).unwrap();
    let mut h = studio(ScriptedBackend::new(), dir.path());
    wait_for_model(&mut h);
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(DroppedPath(path.clone())));
    h.step();
    assert_eq!(h.state().canvas.document_size(), Some((50, 40)));
    assert!(
        h.state()
            .recent_files()
            .iter()
            .any(|p| p.ends_with("photo.png"))
    );

    let other = dir.path().join("other.png");
    gradient(20, 10).save(&other).unwrap();
    h.event(egui::Event::Paste(other.display().to_string()));
    h.step();
    assert_eq!(h.state().canvas.document_size(), Some((20, 10)));
}

#[derive(Debug)]
struct DroppedPath(std::path::PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// The Models panel lists the catalog with honest capabilities and memory verdicts; a download
/// asks first (size and destination) and starts nothing until confirmed; a catalog model loads
/// by id with the panel's load settings.
#[test]
fn models_panel_catalog_asks_before_downloading_and_loads_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = studio(ScriptedBackend::new(), dir.path());
    wait_for_model(&mut h);
    click(&mut h, "Models");
    assert!(shows(&h, "Show-o2 1.5B"));
    assert!(shows(&h, "video chat: not supported by this checkpoint"));
    click(&mut h, "Download show-o2-1.5B");
    assert!(h.query_by_label("Confirm download").is_some());
    assert!(h.state().models.catalog.message.is_none());
    assert!(
        !h.state().models.catalog.is_downloading(),
        "nothing before confirmation"
    );
    click(&mut h, "Do not download");
    assert!(h.query_by_label("Confirm download").is_none());
    assert!(h.query_by_label("Download show-o2-1.5B").is_some());

    h.state_mut().models.settings.llm_quant = "q8_0".into();
    click(&mut h, "Load show-o2-tiny");
    wait_for(&mut h, "the catalog model to load", |a| {
        a.models
            .loaded
            .as_ref()
            .is_some_and(|m| m.source == showo::engine::ModelSource::Catalog("show-o2-tiny".into()))
    });
    let info = h.state().models.loaded.clone().unwrap();
    assert_eq!(
        info.settings.llm_quant, "q8_0",
        "the panel's settings went with the load"
    );
}

/// "Attach canvas" sends what the canvas shows: a fresh result can be asked about while it is
/// still a candidate in the staging strip, before it is accepted.
#[test]
fn ask_about_a_staged_result_before_accepting_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = studio(ScriptedBackend::new(), dir.path());
    wait_for_model(&mut h);
    type_into(&mut h, "Prompt", "a red circle");
    set_slider(&mut h, "Steps", 3.0);
    click(&mut h, "Generate");
    wait_for(&mut h, "a staged candidate", |a| {
        a.canvas.staged_candidate().is_some()
    });
    assert!(h.state().canvas.composite().is_none(), "not accepted yet");
    let staged = h
        .state()
        .canvas
        .staged_candidate()
        .unwrap()
        .image
        .image
        .clone();
    click(&mut h, "Chat");
    click(&mut h, "Attach canvas");
    type_into(&mut h, "Message", "what colour is the circle?");
    click(&mut h, "Send");
    let (_, kind) = h.state().last_submitted.clone().unwrap();
    match &kind {
        JobKind::Chat(r) => match r.messages.last().unwrap().attachments.as_slice() {
            [showo::engine::Attachment::Image(img)] => assert_eq!(img, staged.as_ref()),
            other => panic!("expected the staged image attached, got {other:?}"),
        },
        other => panic!("expected a chat job, got {other:?}"),
    }
}
