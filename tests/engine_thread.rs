//! The engine thread with the scripted test backend: queue order, previews and tokens,
//! cancellation within a step, pause/reorder, one resident model, and surviving a panic.

use std::time::Duration;

use image::{GrayImage, Luma, Rgba, RgbaImage};
use showo::engine::testing::{PANIC_MARKER, ScriptedBackend};
use showo::engine::{
    Attachment, ChatMessage, ChatOptions, ChatRequest, Engine, Event, GenerateRequest,
    ImageSettings, InpaintRequest, JobId, JobKind, JobOutput, LoadSettings, ModelSource,
    PreviewSettings, Role, ThreadId, Unavailable, VideoFrame,
};

const WAIT: Duration = Duration::from_secs(20);

fn engine(delay_ms: u64) -> Engine {
    Engine::spawn(Box::new(
        ScriptedBackend::new().with_step_delay(Duration::from_millis(delay_ms)),
    ))
}

/// Collects events until `job` ends; returns them all (including other jobs' events).
fn until_final(engine: &Engine, job: JobId) -> Vec<Event> {
    let mut events = Vec::new();
    loop {
        let event = engine
            .events()
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("no final event for {job} within {WAIT:?}; got {events:?}"));
        let done = event.is_final() && event.job() == Some(job);
        events.push(event);
        if done {
            return events;
        }
    }
}

fn final_event(events: &[Event]) -> &Event {
    events.last().expect("at least the final event")
}

fn load(engine: &Engine) {
    let id = engine.submit(JobKind::LoadModel(
        ModelSource::BuiltIn,
        LoadSettings::default(),
    ));
    let events = until_final(engine, id);
    assert!(
        matches!(
            final_event(&events),
            Event::Done {
                output: JobOutput::Model(_),
                ..
            }
        ),
        "{events:?}"
    );
    assert!(events.iter().any(|e| matches!(e, Event::ModelLoaded(_))));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::ModelLoading { progress, .. } if *progress == 1.0))
    );
}

fn generate(prompt: &str, steps: u32) -> JobKind {
    JobKind::Generate(GenerateRequest {
        settings: ImageSettings {
            prompt: prompt.into(),
            steps,
            seed: 1,
            preview: PreviewSettings {
                enabled: true,
                every_n_steps: 1,
                max_side: 32,
            },
            ..ImageSettings::default()
        },
        width: 64,
        height: 48,
    })
}

#[test]
fn generate_reports_every_step_with_a_preview_then_the_image() {
    let engine = engine(0);
    load(&engine);
    let id = engine.submit(generate("a red circle", 5));
    let events = until_final(&engine, id);
    let steps: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::Progress { step, total: 5, .. } => Some(*step),
            _ => None,
        })
        .collect();
    assert_eq!(steps, vec![1, 2, 3, 4, 5]);
    let previews: Vec<&RgbaImage> = events
        .iter()
        .filter_map(|e| match e {
            Event::Preview { image, .. } => Some(image),
            _ => None,
        })
        .collect();
    assert_eq!(previews.len(), 5);
    assert_eq!(
        previews[0].dimensions(),
        (32, 24),
        "previews are capped at max_side"
    );
    // Previews move from grey towards the final red.
    assert!(previews[0].get_pixel(0, 0).0[0] < previews[4].get_pixel(0, 0).0[0]);
    match final_event(&events) {
        Event::Done {
            output: JobOutput::Images(images),
            ..
        } => {
            assert_eq!(images.len(), 1);
            assert_eq!(images[0].dimensions(), (64, 48));
            assert_eq!(images[0].get_pixel(10, 10), &Rgba([217, 37, 37, 255]));
        }
        other => panic!("expected images, got {other:?}"),
    }
}

#[test]
fn jobs_without_a_model_fail_with_a_hint() {
    let engine = engine(0);
    let id = engine.submit(generate("a red circle", 2));
    let events = until_final(&engine, id);
    match final_event(&events) {
        Event::Failed { error, .. } => assert!(error.contains("no model is loaded"), "{error}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn the_unavailable_backend_refuses_to_load_and_says_why() {
    let engine = Engine::spawn(Box::new(Unavailable));
    let id = engine.submit(JobKind::LoadModel(
        ModelSource::BuiltIn,
        LoadSettings::default(),
    ));
    let events = until_final(&engine, id);
    match final_event(&events) {
        Event::Failed { error, .. } => assert!(error.contains("no Show-o2 backend"), "{error}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(!events.iter().any(|e| matches!(e, Event::ModelLoaded(_))));
}

#[test]
fn cancel_stops_the_running_job_within_a_step_and_the_next_job_runs() {
    let engine = engine(20);
    load(&engine);
    let long = engine.submit(generate("a blue square", 1000));
    let next = engine.submit(generate("a green square", 2));
    // Wait until the long job is under way, then cancel it.
    loop {
        match engine.events().recv_timeout(WAIT).expect("progress") {
            Event::Progress { job, step: 2, .. } if job == long => break,
            _ => {}
        }
    }
    engine.cancel(long);
    let events = until_final(&engine, long);
    assert!(matches!(final_event(&events), Event::Cancelled { .. }));
    let after_cancel = events
        .iter()
        .filter(|e| matches!(e, Event::Progress { job, .. } if *job == long))
        .count();
    assert!(
        after_cancel <= 2,
        "{after_cancel} more steps ran after the cancel"
    );
    let events = until_final(&engine, next);
    assert!(
        matches!(final_event(&events), Event::Done { .. }),
        "{events:?}"
    );
}

#[test]
fn pause_reorder_and_cancel_all_act_on_the_pending_queue() {
    let engine = engine(0);
    load(&engine);
    engine.pause();
    let a = engine.submit(generate("a red a", 2));
    let b = engine.submit(generate("a red b", 2));
    let c = engine.submit(generate("a red c", 2));
    engine.reorder(c, 0);
    // Wait for the queue to reflect the reorder.
    loop {
        if let Event::QueueChanged { pending, paused } =
            engine.events().recv_timeout(WAIT).expect("queue event")
            && pending == vec![c, a, b]
        {
            assert!(paused);
            break;
        }
    }
    engine.resume();
    let mut started = Vec::new();
    let mut finished = 0;
    while finished < 3 {
        match engine.events().recv_timeout(WAIT).expect("events") {
            Event::Started { job } => started.push(job),
            Event::Done { .. } => finished += 1,
            _ => {}
        }
    }
    assert_eq!(started, vec![c, a, b]);

    engine.pause();
    let d = engine.submit(generate("a red d", 2));
    let e = engine.submit(generate("a red e", 2));
    engine.cancel_all();
    let mut cancelled = Vec::new();
    while cancelled.len() < 2 {
        if let Event::Cancelled { job } = engine.events().recv_timeout(WAIT).expect("cancel") {
            cancelled.push(job);
        }
    }
    assert_eq!(cancelled, vec![d, e]);
}

#[test]
fn a_panicking_job_is_reported_and_the_engine_keeps_serving() {
    let engine = engine(0);
    load(&engine);
    let bad = engine.submit(generate(&format!("a red circle {PANIC_MARKER}"), 5));
    let events = until_final(&engine, bad);
    match final_event(&events) {
        Event::Failed { error, .. } => assert!(error.contains("scripted panic"), "{error}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    // The step before the panic was reported: it died mid-job.
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Progress { step: 1, .. }))
    );
    let good = engine.submit(generate("a green circle", 2));
    let events = until_final(&engine, good);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::EngineCrashed { job: Some(j), .. } if *j == bad))
    );
    assert!(events.iter().any(|e| matches!(e, Event::EngineRestarted)));
    assert!(
        events.iter().any(|e| matches!(e, Event::ModelLoaded(_))),
        "the model was reloaded"
    );
    assert!(
        matches!(final_event(&events), Event::Done { .. }),
        "{events:?}"
    );
    assert!(engine.is_alive());
}

#[test]
fn switching_models_unloads_the_old_one_first() {
    let engine = engine(0);
    load(&engine);
    let folder = tempfile::tempdir().expect("temp dir");
    let id = engine.submit(JobKind::LoadModel(
        ModelSource::Folder(folder.path().into()),
        LoadSettings::default(),
    ));
    let events = until_final(&engine, id);
    let unloaded = events
        .iter()
        .position(|e| matches!(e, Event::ModelUnloaded));
    let loaded = events
        .iter()
        .position(|e| matches!(e, Event::ModelLoaded(_)));
    assert!(unloaded.is_some() && unloaded < loaded, "{events:?}");

    let missing = engine.submit(JobKind::LoadModel(
        ModelSource::Folder(folder.path().join("missing")),
        LoadSettings::default(),
    ));
    let events = until_final(&engine, missing);
    match final_event(&events) {
        Event::Failed { error, .. } => assert!(error.contains("does not exist"), "{error}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn chat_streams_tokens_that_add_up_to_the_answer_and_names_the_frames_seen() {
    let engine = engine(0);
    load(&engine);
    let frames: Vec<VideoFrame> = (0..6)
        .map(|i| VideoFrame {
            index: i * 10,
            timestamp_s: i as f64,
            image: RgbaImage::from_pixel(16, 16, Rgba([40, 80, 220, 255])),
        })
        .collect();
    let id = engine.submit(JobKind::Chat(ChatRequest {
        thread: ThreadId(1),
        messages: vec![ChatMessage {
            role: Role::User,
            text: "what colour is it?".into(),
            attachments: vec![Attachment::Video {
                name: "clip.gif".into(),
                frames,
            }],
        }],
        options: ChatOptions::default(),
    }));
    let events = until_final(&engine, id);
    let streamed: String = events
        .iter()
        .filter_map(|e| match e {
            Event::Token { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    match final_event(&events) {
        Event::Done {
            output: JobOutput::Text { text, frames_seen },
            ..
        } => {
            assert_eq!(&streamed, text);
            assert!(text.contains("blue"), "{text}");
            assert_eq!(frames_seen, &vec![0, 10, 30, 50]);
        }
        other => panic!("expected an answer, got {other:?}"),
    }
}

#[test]
fn inpaint_changes_only_the_masked_pixels() {
    let engine = engine(0);
    load(&engine);
    let image = RgbaImage::from_pixel(32, 32, Rgba([255, 255, 255, 255]));
    let mask = GrayImage::from_fn(32, 32, |x, _| Luma([if x < 16 { 255 } else { 0 }]));
    let id = engine.submit(JobKind::Inpaint(InpaintRequest {
        settings: ImageSettings {
            prompt: "black".into(),
            steps: 2,
            ..ImageSettings::default()
        },
        image,
        mask,
        feather_px: 0.0,
        resample: None,
        strength: None,
    }));
    let events = until_final(&engine, id);
    match final_event(&events) {
        Event::Done {
            output: JobOutput::Images(images),
            ..
        } => {
            assert_eq!(images[0].get_pixel(4, 4).0, [15, 15, 15, 255]);
            assert_eq!(images[0].get_pixel(20, 4).0, [255, 255, 255, 255]);
        }
        other => panic!("expected images, got {other:?}"),
    }
}

#[test]
fn shutdown_ends_the_thread() {
    let engine = engine(0);
    assert!(engine.shutdown(WAIT));
}

/// The real backend honours the load settings the Models panel sends: the built-in model
/// loads with a q8_0 LLM and says so, then generates; settings it cannot use fail the load
/// with a message naming the setting, and the engine keeps serving.
#[test]
fn real_backend_loads_with_the_chosen_settings() {
    let engine = Engine::spawn(Box::new(showo::engine::PipelineBackend::new()));
    let quantized = LoadSettings {
        llm_quant: "q8_0".into(),
        ..LoadSettings::default()
    };
    let id = engine.submit(JobKind::LoadModel(ModelSource::BuiltIn, quantized.clone()));
    let events = until_final(&engine, id);
    let info = match final_event(&events) {
        Event::Done {
            output: JobOutput::Model(info),
            ..
        } => (**info).clone(),
        other => panic!("load failed: {other:?}"),
    };
    assert_eq!(info.settings, quantized);
    assert_eq!(info.device, "cpu");
    assert!(info.dtype.contains("q8_0"), "{}", info.dtype);
    assert!(info.image_generation && info.image_chat && info.video_chat);
    // The built-in model's studio.json asks for guidance 2, 20 steps and ancestral steps; the
    // window starts requests there.
    assert_eq!((info.guidance, info.steps, info.eta), (2.0, 20, 1.0));
    assert!(
        info.memory_bytes > 0 && info.parameters > 1_000_000,
        "{info:?}"
    );

    let job = engine.submit(JobKind::Generate(GenerateRequest {
        settings: ImageSettings {
            prompt: "a blue square".into(),
            steps: 3,
            ..ImageSettings::default()
        },
        width: 64,
        height: 64,
    }));
    let events = until_final(&engine, job);
    let plain = match final_event(&events) {
        Event::Done {
            output: JobOutput::Images(images),
            ..
        } => images.clone(),
        other => panic!("generate failed: {other:?}"),
    };
    // The Prompt panel's negative prompt reaches the sampler: same seed, another picture.
    let job = engine.submit(JobKind::Generate(GenerateRequest {
        settings: ImageSettings {
            prompt: "a blue square".into(),
            negative_prompt: "a large blue circle".into(),
            steps: 3,
            ..ImageSettings::default()
        },
        width: 64,
        height: 64,
    }));
    let events = until_final(&engine, job);
    match final_event(&events) {
        Event::Done {
            output: JobOutput::Images(images),
            ..
        } => assert_ne!(images, &plain, "the negative prompt changed nothing"),
        other => panic!("generate with a negative prompt failed: {other:?}"),
    }

    for (bad, named) in [
        (
            LoadSettings {
                llm_quant: "q3".into(),
                ..LoadSettings::default()
            },
            "--llm-quant",
        ),
        (
            LoadSettings {
                dtype: Some("f8".into()),
                ..LoadSettings::default()
            },
            "--dtype",
        ),
    ] {
        let id = engine.submit(JobKind::LoadModel(ModelSource::BuiltIn, bad));
        match final_event(&until_final(&engine, id)) {
            Event::Failed { error, .. } => assert!(error.contains(named), "{error}"),
            other => panic!("expected a failure naming {named}, got {other:?}"),
        }
    }
    let id = engine.submit(JobKind::LoadModel(
        ModelSource::BuiltIn,
        LoadSettings::default(),
    ));
    assert!(matches!(
        final_event(&until_final(&engine, id)),
        Event::Done { .. }
    ));
}
