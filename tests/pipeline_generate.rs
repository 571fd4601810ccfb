//! Text-to-image through `Pipeline` on a small model (golden weights + a built tokenizer):
//! reproducibility, cancellation, previews, exports and input errors.

#[path = "support/small_model.rs"]
mod small_model;

use std::cell::Cell;

use image::AnimationDecoder;
use showo::media::{self, GifFrame, GifRepeat};
use showo::pipeline::generate::{Control, StepEvent, seeded_noise};
use showo::pipeline::{GenerateRequest, PipelineError, PreviewOptions};
use small_model::small_pipeline;

fn request(prompt: &str, seed: u64, steps: usize) -> GenerateRequest {
    GenerateRequest {
        prompt: prompt.into(),
        seed,
        steps,
        guidance: 5.0,
        ..Default::default()
    }
}

#[test]
fn same_seed_gives_identical_bytes_and_other_seeds_differ() {
    let Some((pipe, _tmp)) = small_pipeline() else {
        return;
    };
    let req = request("a red circle on the left", 42, 4);
    let a = Control::none(|c| pipe.generate(&req, c)).unwrap();
    let b = Control::none(|c| pipe.generate(&req, c)).unwrap();
    assert_eq!(a.image.dimensions(), pipe.native_size());
    assert_eq!(a.image.as_raw(), b.image.as_raw(), "same seed, same pixels");
    let (la, lb) = (
        a.latent.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        b.latent.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
    );
    assert!(la.iter().zip(&lb).all(|(x, y)| x.to_bits() == y.to_bits()));
    let c =
        Control::none(|c| pipe.generate(&request("a red circle on the left", 43, 4), c)).unwrap();
    assert_ne!(
        a.image.as_raw(),
        c.image.as_raw(),
        "another seed, another image"
    );
    let d = Control::none(|c| pipe.generate(&request("a blue square", 42, 4), c)).unwrap();
    assert_ne!(
        a.latent.to_vec3_or_flat(),
        d.latent.to_vec3_or_flat(),
        "the prompt matters"
    );
}

/// Ancestral steps (eta > 0) draw fresh noise every step from a stream of the seed: the same
/// seed gives the same bits, eta changes the picture, and the PNG's settings bring it back.
#[test]
fn ancestral_steps_are_seeded_recorded_and_recalled() {
    let Some((pipe, _tmp)) = small_pipeline() else {
        return;
    };
    let euler = request("a red circle on the left", 42, 4);
    let ancestral = GenerateRequest {
        eta: 1.0,
        ..euler.clone()
    };
    let a = Control::none(|c| pipe.generate(&ancestral, c)).unwrap();
    let b = Control::none(|c| pipe.generate(&ancestral, c)).unwrap();
    assert_eq!(a.latent.to_vec3_or_flat(), b.latent.to_vec3_or_flat());
    let e = Control::none(|c| pipe.generate(&euler, c)).unwrap();
    assert_ne!(
        a.latent.to_vec3_or_flat(),
        e.latent.to_vec3_or_flat(),
        "eta 1 and eta 0 take different paths from the same start"
    );
    let half = GenerateRequest {
        eta: 0.5,
        ..euler.clone()
    };
    let h = Control::none(|c| pipe.generate(&half, c)).unwrap();
    assert_ne!(h.latent.to_vec3_or_flat(), a.latent.to_vec3_or_flat());
    assert_eq!(h.params.eta, 0.5);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("out.png");
    media::save_png_with_metadata(&path, &h.image, &h.params).unwrap();
    let back = media::read_png_metadata(&path).unwrap();
    assert_eq!(back.eta, 0.5);
    let again = GenerateRequest {
        eta: back.eta,
        ..euler.clone()
    };
    let regenerated = Control::none(|c| pipe.generate(&again, c)).unwrap();
    assert_eq!(regenerated.image, h.image);
}

trait Flat {
    fn to_vec3_or_flat(&self) -> Vec<f32>;
}
impl Flat for candle_core::Tensor {
    fn to_vec3_or_flat(&self) -> Vec<f32> {
        self.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }
}

#[test]
fn default_noise_is_bf16_rounded_and_seeded() {
    let dev = candle_core::Device::Cpu;
    let a = seeded_noise(9, (16, 8, 8), true, &dev)
        .unwrap()
        .to_vec3_or_flat();
    let b = seeded_noise(9, (16, 8, 8), true, &dev)
        .unwrap()
        .to_vec3_or_flat();
    let f = seeded_noise(9, (16, 8, 8), false, &dev)
        .unwrap()
        .to_vec3_or_flat();
    assert_eq!(a, b);
    // bf16 keeps 8 mantissa bits: the low 16 bits of every f32 are zero.
    assert!(a.iter().all(|x| x.to_bits() & 0xffff == 0));
    assert!(f.iter().any(|x| x.to_bits() & 0xffff != 0));
    let mean = f.iter().sum::<f32>() / f.len() as f32;
    let var = f.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / f.len() as f32;
    assert!(
        mean.abs() < 0.15 && (var - 1.0).abs() < 0.2,
        "N(0,1): {mean} {var}"
    );
}

#[test]
fn cancellation_stops_within_one_step() {
    let Some((pipe, _tmp)) = small_pipeline() else {
        return;
    };
    let steps_seen = Cell::new(0usize);
    let cancel_after = 2;
    let mut on_step = |e: &StepEvent| steps_seen.set(e.step);
    let cancelled = || steps_seen.get() >= cancel_after;
    let mut ctl = Control {
        on_step: &mut on_step,
        cancelled: &cancelled,
    };
    let err = pipe
        .generate(&request("a green square", 1, 10), &mut ctl)
        .unwrap_err();
    match err {
        PipelineError::Cancelled { after_step, total } => {
            assert_eq!(after_step, cancel_after);
            assert_eq!(total, 10);
        }
        other => panic!("expected a cancellation, got {other}"),
    }
    // No step ran after the flag was raised.
    assert_eq!(steps_seen.get(), cancel_after);
}

#[test]
fn previews_every_step_and_full_decodes_when_asked() {
    let Some((pipe, _tmp)) = small_pipeline() else {
        return;
    };
    let mut req = request("a blue circle", 3, 4);
    req.preview = PreviewOptions {
        every: 1,
        full_decode_every: 2,
        upsample: true,
    };
    req.keep_trajectory = true;
    let mut events = Vec::new();
    let mut on_step = |e: &StepEvent| events.push(e.clone());
    let never = || false;
    let out = pipe
        .generate(
            &req,
            &mut Control {
                on_step: &mut on_step,
                cancelled: &never,
            },
        )
        .unwrap();
    assert_eq!(events.len(), 4);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.step, i + 1);
        let p = e.preview.as_ref().expect("a preview every step");
        assert_eq!(
            p.dimensions(),
            pipe.native_size(),
            "upsampled to the canvas"
        );
        assert_eq!(
            e.decoded.is_some(),
            (i + 1) % 2 == 0,
            "full decode every 2 steps"
        );
    }
    assert!(events.windows(2).all(|w| w[0].t < w[1].t));
    assert_eq!(events[3].t, 1.0);
    // At the last step x̂ is the final latent: its full decode is the final image.
    assert_eq!(events[3].decoded.as_ref().unwrap(), &out.image);
    assert_eq!(out.trajectory.len(), 4);

    // The trajectory exports as a GIF with one frame per step, written atomically.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("trajectory.gif");
    let frames: Vec<GifFrame> = out
        .trajectory
        .iter()
        .chain(std::iter::once(&out.image))
        .map(|f| GifFrame::from_rgb(f, 200))
        .collect();
    media::save_gif(&path, &frames, GifRepeat::Forever).unwrap();
    let decoder = image::codecs::gif::GifDecoder::new(std::io::BufReader::new(
        std::fs::File::open(&path).unwrap(),
    ))
    .unwrap();
    let decoded = decoder.into_frames().collect_frames().unwrap();
    assert_eq!(decoded.len(), 5);
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("trajectory.gif")],
        "no temp file left"
    );
}

#[test]
fn png_metadata_round_trips_and_recalls_the_same_image() {
    let Some((pipe, _tmp)) = small_pipeline() else {
        return;
    };
    let req = request("a red square on the right", 11, 3);
    let out = Control::none(|c| pipe.generate(&req, c)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("out.png");
    media::save_png_with_metadata(&path, &out.image, &out.params).unwrap();
    let back = media::read_png_metadata(&path).unwrap();
    assert_eq!(back, out.params);
    assert_eq!(back.prompt, "a red square on the right");
    assert_eq!((back.seed, back.steps, back.guidance), (11, 3, 5.0));
    assert_eq!(media::load_rgb(&path).unwrap(), out.image);
    // Recall: the stored settings regenerate the same pixels.
    let again = GenerateRequest {
        prompt: back.prompt.clone(),
        seed: back.seed,
        steps: back.steps as usize,
        guidance: back.guidance,
        size: Some((back.width, back.height)),
        shift: back.time_shift,
        ..Default::default()
    };
    let regenerated = Control::none(|c| pipe.generate(&again, c)).unwrap();
    assert_eq!(regenerated.image, out.image);
}

fn max_abs_diff(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    a.to_vec3_or_flat()
        .iter()
        .zip(b.to_vec3_or_flat())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The negative prompt is the unconditional branch of guidance: with the prompt itself as the
/// negative, guidance cancels out and the run equals the conditional velocity alone (guidance
/// 1); at guidance 1 a negative prompt changes nothing; otherwise it changes the picture, and
/// it is stored in the PNG metadata and recalled from it.
#[test]
fn the_negative_prompt_replaces_the_unconditional_branch() {
    let Some((pipe, _tmp)) = small_pipeline() else {
        return;
    };
    let prompt = "a red circle on the left";
    let plain = Control::none(|c| pipe.generate(&request(prompt, 7, 3), c)).unwrap();
    assert_eq!(plain.params.negative_prompt, "");

    let mut against_itself = request(prompt, 7, 3);
    against_itself.negative_prompt = prompt.into();
    let mut conditional_only = request(prompt, 7, 3);
    conditional_only.guidance = 1.0;
    let a = Control::none(|c| pipe.generate(&against_itself, c)).unwrap();
    let b = Control::none(|c| pipe.generate(&conditional_only, c)).unwrap();
    let d = max_abs_diff(&a.latent, &b.latent);
    assert!(
        d < 1e-3,
        "prompt against itself vs guidance 1: max |diff| {d}"
    );
    assert!(
        max_abs_diff(&a.latent, &plain.latent) > 1e-2,
        "against the empty prompt the same run differs"
    );

    let mut ignored = conditional_only.clone();
    ignored.negative_prompt = "a blue square".into();
    let c = Control::none(|c| pipe.generate(&ignored, c)).unwrap();
    assert_eq!(
        c.latent.to_vec3_or_flat(),
        b.latent.to_vec3_or_flat(),
        "guidance 1 has no unconditional branch"
    );

    let mut steered = request(prompt, 7, 3);
    steered.negative_prompt = "a blue square".into();
    let out = Control::none(|c| pipe.generate(&steered, c)).unwrap();
    assert!(max_abs_diff(&out.latent, &plain.latent) > 1e-2);
    assert_eq!(out.params.negative_prompt, "a blue square");
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("neg.png");
    media::save_png_with_metadata(&path, &out.image, &out.params).unwrap();
    assert_eq!(
        media::read_png_metadata(&path).unwrap().negative_prompt,
        "a blue square"
    );

    // A blank negative prompt is the official empty one.
    let mut blank = request(prompt, 7, 3);
    blank.negative_prompt = "  ".into();
    let e = Control::none(|c| pipe.generate(&blank, c)).unwrap();
    assert_eq!(e.latent.to_vec3_or_flat(), plain.latent.to_vec3_or_flat());
}

#[test]
fn bad_requests_give_errors_that_name_the_problem() {
    let Some((pipe, _tmp)) = small_pipeline() else {
        return;
    };
    let run = |req: GenerateRequest| Control::none(|c| pipe.generate(&req, c)).unwrap_err();
    assert!(matches!(run(request("", 1, 2)), PipelineError::EmptyPrompt));
    assert!(matches!(
        run(request("   ", 1, 2)),
        PipelineError::EmptyPrompt
    ));
    let long = "red ".repeat(2500); // 10,000 characters
    assert_eq!(long.len(), 10_000);
    let err = run(request(&long, 1, 2));
    assert!(
        matches!(
            err,
            PipelineError::PromptTooLong {
                tokens: 2500,
                max: 290
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("max_text_len"), "{err}");
    let mut odd = request("a circle", 1, 2);
    odd.size = Some((70, 64));
    let err = run(odd).to_string();
    assert!(
        err.contains("image size") && err.contains("70x64") && err.contains("16"),
        "{err}"
    );
    let mut huge = request("a circle", 1, 2);
    huge.size = Some((1024, 1024));
    let err = run(huge).to_string();
    assert!(err.contains("image tokens"), "{err}");
    let err = run(request("a circle", 1, 0)).to_string();
    assert!(err.contains("steps"), "{err}");
    let mut neg = request("a circle", 1, 2);
    neg.guidance = f32::NAN;
    assert!(run(neg).to_string().contains("guidance"));
    for eta in [1.5, -0.25, f32::NAN] {
        let mut bad = request("a circle", 1, 2);
        bad.eta = eta;
        let err = run(bad).to_string();
        assert!(
            err.contains("eta") && err.contains("0 (Euler) to 1"),
            "{err}"
        );
    }
    let mut too_long = request("a circle", 1, 2);
    too_long.negative_prompt = long;
    let err = run(too_long).to_string();
    assert!(
        err.contains("negative prompt") && err.contains("2500 tokens") && err.contains("290"),
        "{err}"
    );
}

#[test]
fn larger_canvases_run_through_position_interpolation() {
    let Some((pipe, _tmp)) = small_pipeline() else {
        return;
    };
    let (w, h) = pipe.native_size();
    let mut req = request("a sky", 5, 2);
    req.size = Some((w * 2, h + 16));
    let out = Control::none(|c| pipe.generate(&req, c)).unwrap();
    assert_eq!(out.image.dimensions(), (w * 2, h + 16));
    assert_eq!((out.params.width, out.params.height), (w * 2, h + 16));
    // Guidance 1 runs the conditional branch alone.
    let mut plain = request("a sky", 5, 2);
    plain.guidance = 1.0;
    let one = Control::none(|c| pipe.generate(&plain, c)).unwrap();
    let five = Control::none(|c| pipe.generate(&request("a sky", 5, 2), c)).unwrap();
    assert_ne!(one.image, five.image);
}

/// The pipeline reproduces the official sampler run (`sampler_t2i`) from its saved noise: same
/// prompt ids through the tokenizer, CFG with the empty prompt, Euler on the shifted grid, and
/// the VAE decode to 8-bit.
#[test]
fn pipeline_reproduces_the_official_sampler() {
    let Some((pipe, _tmp)) = small_pipeline() else {
        return;
    };
    let set = showo::golden::open_or_fail().unwrap();
    let case = set.case("sampler_t2i").unwrap();
    let ids: Vec<u32> = case.json["prompt2_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    // Word `w<id>` has id <id> in the test tokenizer (for ids past its named words).
    assert!(ids.iter().all(|&i| i as usize >= small_model::WORDS.len()));
    let prompt = ids
        .iter()
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(pipe.tokenizer.encode(&prompt).unwrap(), ids);
    let calls = case.json["num_model_calls"].as_u64().unwrap() as usize;
    let req = GenerateRequest {
        prompt,
        steps: calls,
        guidance: case.json["guidance_scale"].as_f64().unwrap() as f32,
        shift: case.json["time_shifting_factor"].as_f64().unwrap() as f32,
        initial_noise: Some(case.f32("inputs.z")),
        ..Default::default()
    };
    let out = Control::none(|c| pipe.generate(&req, c)).unwrap();
    let err = showo::golden::check(&set, &case, "outputs.final_latent", &out.latent);
    eprintln!("pipeline vs official final latent: {err:.2e}");
    let want = case
        .get("outputs.decoded_uint8")
        .to_dtype(candle_core::DType::U8)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<u8>()
        .unwrap();
    let worst = out
        .image
        .as_raw()
        .iter()
        .zip(&want)
        .map(|(&a, &b)| (a as i32 - b as i32).abs())
        .max()
        .unwrap();
    assert!(
        worst <= 1,
        "decoded pixels differ by {worst} (allowed ±1, truncation)"
    );
}
