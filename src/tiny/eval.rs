//! `eval-tiny`: programmatic scores of a model on held-out samples of the procedural world.
//!
//! Text-to-image is judged from pixels by the checker (colour, shape, position of every
//! shape); image and clip answers by exact match; inpainting by the checker's `inpaint_ok`
//! (the masked shape takes the asked colour, nothing outside the mask changes); extension by
//! `background_continues` (the background goes on past the old edge without a seam).

use image::{GrayImage, RgbImage};

use super::checker::{
    Detected, PixelRect, background_continues, detect_shapes, inpaint_ok, judge, judge_detections,
    shape_pixels,
};
use super::dataset::WorldDataset;
use super::grammar::{
    QaPair, QuestionKind, background_phrase, canonical_caption, canonical_clip_caption,
};
use super::latent_probe::{self, latent_kind_probe};
use super::noise_kept::{self, noise_kept};
use super::redraw::fit_background;
use super::shape_survival::{self, shape_survival};
use super::word_response::{self, kind_word_response};
use super::world::{Background, Colour, Scene, ShapeKind};
use crate::media::{Growth, SampledFrame, SampledVideo};
use crate::pipeline::chat::{Attachment, ChatMessage, ChatOptions};
use crate::pipeline::extend::ExtendRequest;
use crate::pipeline::generate::{Control, GenerateRequest, decode_latent};
use crate::pipeline::inpaint::InpaintRequest;
use crate::pipeline::{Pipeline, Result};

#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub samples: usize,
    pub steps: usize,
    /// Classifier-free guidance; `None` = the model's own setting (`studio.json`: 2 for v7;
    /// the tables up to v6 were measured at 4).
    pub guidance: Option<f32>,
    /// Time shift of the sampling grid (see `sampler::time_grid`).
    pub shift: f32,
    /// Share of fresh noise per flow step (`sampler::ancestral_step`); `None` = the model's
    /// own setting (`studio.json`).
    pub eta: Option<f32>,
    /// Text-to-image prompts also name the scene's background ("... on a white and black
    /// background"), and the drawn background is judged against it: the canonical prompts
    /// leave the background to the model.
    pub name_background: bool,
    pub clip_frames: usize,
    /// RePaint jumps per step for inpainting and extension (the studio's "resample");
    /// `None` = the model's own setting (`studio.json`).
    pub resample: Option<usize>,
    /// Denoising strength of inpainting; `None` = the model's own setting.
    pub inpaint_strength: Option<f32>,
    /// Denoising strength of extension; `None` = the model's own setting.
    pub extend_strength: Option<f32>,
    /// Which metrics to measure (all by default; a subset makes sweeps of one setting quick).
    pub parts: Vec<Part>,
    /// Log every question answered wrongly (question, expected, given) and every
    /// text-to-image sample whose shapes are not the asked kinds (prompt, seed, what the checker
    /// found): where QA and shape fail.
    pub show_misses: bool,
    /// Write every text-to-image sample here (`t2i-NNN.png`) with `t2i.csv`: per sample its
    /// prompt and the checker's verdicts, for looking at what the scores count.
    pub save_samples: Option<std::path::PathBuf>,
}

/// One group of `eval-tiny` metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Colour, shape and position of generated pictures (and the kind-word probe).
    TextToImage,
    ImageQa,
    ClipQa,
    Inpainting,
    Extension,
}

impl Part {
    pub const ALL: [Part; 5] = [
        Part::TextToImage,
        Part::ImageQa,
        Part::ClipQa,
        Part::Inpainting,
        Part::Extension,
    ];
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            samples: 50,
            steps: 20,
            guidance: None,
            shift: 3.0,
            eta: None,
            name_background: false,
            clip_frames: 9,
            resample: None,
            inpaint_strength: None,
            extend_strength: None,
            parts: Part::ALL.to_vec(),
            show_misses: false,
            save_samples: None,
        }
    }
}

impl EvalOptions {
    /// The text-to-image request every part samples `prompt` with: these steps and shift, and
    /// the guidance and eta given here or else the model's own (`studio.json`).
    pub fn request(&self, p: &Pipeline, prompt: String, seed: u64) -> GenerateRequest {
        GenerateRequest {
            prompt,
            seed,
            steps: self.steps,
            guidance: self.guidance.unwrap_or(p.settings.guidance),
            shift: self.shift,
            eta: self.eta.unwrap_or(p.settings.eta),
            ..Default::default()
        }
    }
}

/// Fractions in [0, 1] per metric, and the generated pictures (for a sample grid).
#[derive(Debug, Default)]
pub struct EvalReport {
    pub rows: Vec<(String, f64, usize)>,
    pub samples: Vec<(String, RgbImage)>,
}

impl EvalReport {
    /// The scores as a Markdown table, each with its 95% interval: at 100 samples a score is
    /// only known to about +-9 points, which is what separates a real gain from a lucky draw.
    pub fn table(&self) -> String {
        let mut s =
            String::from("| metric | score | 95% interval | samples |\n|---|---|---|---|\n");
        for (name, v, n) in &self.rows {
            let (lo, hi) = wilson_interval(*v, *n);
            s.push_str(&format!(
                "| {name} | {:.1}% | {:.0}-{:.0}% | {n} |\n",
                v * 100.0,
                lo * 100.0,
                hi * 100.0
            ));
        }
        s
    }
}

/// Adds each passed criterion of one sample to its count.
fn tally<const N: usize>(counts: &mut [usize; N], criteria: [bool; N]) {
    for (count, ok) in counts.iter_mut().zip(criteria) {
        *count += usize::from(ok);
    }
}

/// Wilson's 95% score interval of a success share `p` over `n` trials (stays inside [0, 1]
/// and is honest at 0% and 100%, unlike the normal approximation).
pub fn wilson_interval(p: f64, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (n, z2) = (n as f64, 1.96f64 * 1.96);
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = (z2 * (p * (1.0 - p) / n + z2 / (4.0 * n * n))).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

fn norm(s: &str) -> String {
    s.trim().trim_end_matches('.').to_lowercase()
}

pub fn evaluate(p: &Pipeline, opts: &EvalOptions, mut log: impl FnMut(&str)) -> Result<EvalReport> {
    let data = WorldDataset::held_out(p.native_size().0, opts.clip_frames)
        .map_err(|e| crate::pipeline::bad_setting("world", e, "a valid resolution"))?;
    let mut report = EvalReport::default();
    let guidance = opts.guidance.unwrap_or(p.settings.guidance);
    let base = |prompt: String, seed: u64| opts.request(p, prompt, seed);
    let wanted = |part: Part| opts.parts.contains(&part);
    if wanted(Part::TextToImage) {
        text_to_image(p, &data, opts, &base, guidance, &mut report, &mut log)?;
    }
    if wanted(Part::ImageQa) {
        let question = |i| image_question(&data, i);
        answer_questions(p, opts, "image", question, &mut report, &mut log)?;
    }
    if wanted(Part::ClipQa) {
        let question = |i| clip_question(p, &data, i);
        answer_questions(p, opts, "clip", question, &mut report, &mut log)?;
    }
    if wanted(Part::Inpainting) {
        inpainting(p, &data, opts, &base, &mut report, &mut log)?;
    }
    if wanted(Part::Extension) {
        extension(p, &data, opts, &base, &mut report, &mut log)?;
    }
    Ok(report)
}

/// Pictures each diagnostic probe of the text-to-image part looks at (at most).
const PROBE_PICTURES: usize = 40;

/// `opts.samples` prompts drawn through `base` (request for a prompt and seed) at `guidance`;
/// `show_misses` logs every sample whose shapes the checker does not find as asked,
/// `save_samples` writes them all.
fn text_to_image(
    p: &Pipeline,
    data: &WorldDataset,
    opts: &EvalOptions,
    base: &dyn Fn(String, u64) -> GenerateRequest,
    guidance: f32,
    report: &mut EvalReport,
    log: &mut dyn FnMut(&str),
) -> Result<()> {
    let n = opts.samples;
    let mut verdicts = String::from("sample,prompt,colour,shape,position,count\n");
    // Whether the flow model follows the shape noun at all (see `word_response`).
    let response = kind_word_response(p, PROBE_PICTURES, &[0.1, 0.3, 0.5, 0.7, 0.9])?;
    log(&format!(
        "kind-word response ({} circle/square scenes): {}",
        response.first().map_or(0, |r| r.scenes),
        word_response::summary(&response)
    ));

    // Whether the flow model removes its start noise at all (see `noise_kept`).
    let kept = noise_kept(p, data, n.min(PROBE_PICTURES), &[0.1, 0.3, 0.5, 0.7, 0.9])?;
    log(&format!(
        "start noise left in the flow model's clean prediction ({} pictures, no guidance): {}",
        kept.first().map_or(0, |r| r.pictures),
        noise_kept::summary(&kept)
    ));

    // Where shapes are lost: the true pictures denoised from partial noise (see
    // `shape_survival`); strength 1 would repeat the text-to-image run below.
    let survival = shape_survival(p, data, n.min(PROBE_PICTURES), &[0.2, 0.4, 0.6, 0.8], base)?;
    log(&format!(
        "shapes kept when the true picture is denoised from partial noise: {}",
        shape_survival::summary(&survival)
    ));

    // How plainly the latent itself carries the kind (see `latent_probe`).
    let probe = latent_kind_probe(p, 30 * n.min(PROBE_PICTURES), &[0.0, 0.3, 0.6], guidance)?;
    log(&format!(
        "shape kind read from the VAE latent by a linear probe: {:.1}% right \
         (fitted on {} one-shape pictures, scored on {} others); from the flow model's \
         predicted clean latent of those others (guidance {guidance}): {}",
        100.0 * probe.accuracy,
        probe.fitted,
        probe.scored,
        latent_probe::predicted_summary(&probe)
    ));

    // Text-to-image; and, as its ceiling, the same pictures through the VAE alone.
    let (mut colour, mut shape, mut position, mut count) = (0, 0, 0, 0);
    let (mut vae_colour, mut vae_shape) = (0, 0);
    // What the checker finds in the pixels, and what the probe reads in the generated latent
    // where the checker found the shape: a kind the latent has and the pixels lack is lost by
    // the decoder; one the latent lacks, by the sampler.
    let (mut kinds, mut latent_kinds) = (KindConfusion::default(), KindConfusion::default());
    // Which backgrounds the model draws: with the canonical prompts it picks one itself (the
    // world splits 40% of its backgrounds in two), with `name_background` it is told.
    let mut backgrounds = BackgroundTally::default();
    for i in 0..n as u64 {
        let c = data.captioned_image(i);
        let round_trip = judge(
            &decode_latent(p, &p.encode_image(&c.image)?)?,
            &c.scene.shapes,
        );
        vae_colour += usize::from(round_trip.colour);
        vae_shape += usize::from(round_trip.shape);
        let mut prompt = canonical_caption(&c.scene);
        if opts.name_background {
            prompt.push_str(&background_phrase(&c.scene.background));
        }
        let generated = Control::none(|ctl| p.generate(&base(prompt.clone(), i), ctl))?;
        let img = generated.image;
        let found = detect_shapes(&img);
        let j = judge_detections(&found, &c.scene.shapes);
        backgrounds.add(&img, &c.scene.background, j.shape);
        colour += usize::from(j.colour);
        shape += usize::from(j.shape);
        position += usize::from(j.position);
        count += usize::from(j.count);
        if let Some(dir) = &opts.save_samples {
            crate::media::save_rgb(&dir.join(format!("t2i-{i:03}.png")), &img)?;
            verdicts.push_str(&format!(
                "{i},\"{prompt}\",{},{},{},{}\n",
                j.colour, j.shape, j.position, j.count
            ));
        }
        if opts.show_misses && !j.shape {
            // `text-to-image #25 shape: "a small green square on the right" (seed 25), found:
            // green circle right small (fit 0.83, 287 px)`, one `;`-separated entry a shape.
            log(&format!(
                "text-to-image #{i} shape: {prompt:?} (seed {i}), found: {}",
                describe_detections(&found)
            ));
        }
        if let [asked] = c.scene.shapes.as_slice() {
            let drawn = found.first();
            kinds.add(asked.kind, drawn.map(|d| d.kind));
            let centre = drawn.map_or(asked.centre, |d| d.centroid);
            latent_kinds.add(asked.kind, Some(probe.kind_at(&generated.latent, centre)?));
        }
        if report.samples.len() < 16 {
            report.samples.push((prompt, img));
        }
    }
    log(&format!(
        "text-to-image: colour {colour}/{n}, shape {shape}/{n}, position {position}/{n}, \
         as many shapes as asked (no stray blobs) {count}/{n} \
         (VAE round trip of the true pictures: colour {vae_colour}/{n}, shape {vae_shape}/{n})"
    ));
    if let Some(dir) = &opts.save_samples {
        let path = dir.join("t2i.csv");
        std::fs::write(&path, verdicts)
            .map_err(|e| crate::media::MediaError::io(path, "writing the verdicts", e))?;
    }
    log(&backgrounds.summary(opts.name_background));
    log(&format!(
        "one-shape prompts, asked -> drawn: {}",
        kinds.summary()
    ));
    log(&format!(
        "one-shape prompts, asked -> read by the probe in the generated latent: {}",
        latent_kinds.summary()
    ));
    for (name, k) in [
        ("text-to-image colour", colour),
        ("text-to-image shape", shape),
        ("text-to-image position", position),
    ] {
        report.rows.push((name.into(), k as f64 / n as f64, n));
    }
    if opts.name_background {
        let k = backgrounds.as_scene;
        report.rows.push((
            "text-to-image background as named".into(),
            k as f64 / n as f64,
            n,
        ));
    }
    Ok(())
}

/// The backgrounds of the text-to-image samples: the world background that fits each best
/// away from its shapes (`redraw::fit_background`), against the scene's.
#[derive(Default)]
struct BackgroundTally {
    samples: usize,
    /// Scenes whose background is split in two.
    scenes_split: usize,
    /// Samples drawn with a split background.
    drawn_split: usize,
    /// Samples drawn split where the scene is split, and plain where it is plain.
    split_as_scene: usize,
    plain_as_scene: usize,
    /// Samples with the asked shapes, on a drawn split and on a drawn plain background.
    shapes_on_split: usize,
    shapes_on_plain: usize,
    /// Samples whose background has the scene's kind (plain or split along its axis) and tones.
    as_scene: usize,
}

impl BackgroundTally {
    fn add(&mut self, img: &RgbImage, scene: &Background, shapes_right: bool) {
        let away: Vec<bool> = shape_pixels(img).into_iter().map(|s| !s).collect();
        let (drawn, _) = fit_background(img, &away);
        let axis = |b: &Background| match b {
            Background::Plain { .. } => None,
            Background::Split { axis, .. } => Some(*axis),
        };
        let (split, scene_split) = (axis(&drawn).is_some(), axis(scene).is_some());
        self.samples += 1;
        self.scenes_split += usize::from(scene_split);
        self.drawn_split += usize::from(split);
        self.split_as_scene += usize::from(split && scene_split);
        self.plain_as_scene += usize::from(!split && !scene_split);
        self.shapes_on_split += usize::from(split && shapes_right);
        self.shapes_on_plain += usize::from(!split && shapes_right);
        // Plain or split the same way, with the same tones in reading order (where a split
        // runs may differ).
        let same = axis(&drawn) == axis(scene) && drawn.tones() == scene.tones();
        self.as_scene += usize::from(same);
    }

    fn summary(&self, named: bool) -> String {
        let n = self.samples;
        let mut line = format!(
            "backgrounds drawn: {} of {n} split in two (the scenes: {} of {n}); asked shapes \
             drawn on a split background {}/{}, on a plain one {}/{}",
            self.drawn_split,
            self.scenes_split,
            self.shapes_on_split,
            self.drawn_split,
            self.shapes_on_plain,
            n - self.drawn_split
        );
        if named {
            line.push_str(&format!(
                "; split where the prompt asks for it {}/{}, plain where it asks for plain {}/{}, \
                 as named (plain or split the same way, same tones) {}/{n}",
                self.split_as_scene,
                self.scenes_split,
                self.plain_as_scene,
                n - self.scenes_split,
                self.as_scene
            ));
        }
        line
    }
}

/// What the checker found, largest first: colour, kind, position, size, template fit, area.
fn describe_detections(found: &[Detected]) -> String {
    if found.is_empty() {
        return "nothing".into();
    }
    found
        .iter()
        .map(|d| {
            format!(
                "{} {} {} {} (fit {:.2}, {} px)",
                d.colour.name(),
                d.kind.name(),
                d.position.name(),
                d.size.name(),
                d.shape_fit,
                d.area
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Short answers: every answer of the world is a word or two.
fn chat_options() -> ChatOptions {
    ChatOptions {
        max_new_tokens: 8,
        ..Default::default()
    }
}

/// Asks `opts.samples` held-out questions, each `question(i)` = (pair, attachment, the scene's
/// full description), and adds the "`lane` QA exact match" row; logs the score per kind and,
/// with `show_misses`, every wrong answer.
fn answer_questions(
    p: &Pipeline,
    opts: &EvalOptions,
    lane: &str,
    question: impl Fn(u64) -> (QaPair, Attachment, String),
    report: &mut EvalReport,
    log: &mut dyn FnMut(&str),
) -> Result<()> {
    let n = opts.samples;
    let opts_chat = chat_options();
    let mut by_kind = KindTally::default();
    for i in 0..n as u64 {
        let (qa, attachment, truth) = question(i);
        let msg = ChatMessage {
            question: qa.question.clone(),
            attachment: Some(attachment),
            answer: None,
        };
        let said = p.ask(&[msg], &opts_chat, &mut |_| {}, &|| false)?.text;
        let hit = norm(&said) == norm(&qa.answer);
        if !hit && opts.show_misses {
            // `image #12 Colour: what colour is the circle? expected "red", said "orange" (...)`
            log(&format!(
                "{lane} #{i} {:?}: {} expected {:?}, said {said:?} ({truth})",
                qa.kind, qa.question, qa.answer
            ));
        }
        by_kind.add(qa.kind, hit);
    }
    log(&format!("{lane} QA: {}", by_kind.summary()));
    report
        .rows
        .push((format!("{lane} QA exact match"), by_kind.share(), n));
    Ok(())
}

/// A held-out picture question: (pair, the picture, the scene's full description).
fn image_question(data: &WorldDataset, i: u64) -> (QaPair, Attachment, String) {
    let q = data.image_question(i);
    let truth = canonical_caption(&q.scene);
    (q.qa, Attachment::Image(q.image), truth)
}

/// A held-out clip question: (pair, the frames the model's settings sample, the clip's full
/// description).
fn clip_question(p: &Pipeline, data: &WorldDataset, i: u64) -> (QaPair, Attachment, String) {
    let q = data.clip_question(i);
    let picked = crate::media::uniform_frame_indices(q.frames.len(), p.settings.video_frames);
    let frames = picked
        .iter()
        .map(|&k| SampledFrame {
            index: k,
            timestamp_s: Some(k as f64 / 8.0),
            image: q.frames[k].clone(),
        })
        .collect();
    let video = SampledVideo {
        frames,
        total_frames: q.frames.len(),
        duration_s: Some(q.frames.len() as f64 / 8.0),
    };
    (
        q.qa,
        Attachment::Video(video),
        canonical_clip_caption(&q.clip),
    )
}

/// Inpainting: recolour the first shape.
fn inpainting(
    p: &Pipeline,
    data: &WorldDataset,
    opts: &EvalOptions,
    base: &dyn Fn(String, u64) -> GenerateRequest,
    report: &mut EvalReport,
    log: &mut dyn FnMut(&str),
) -> Result<()> {
    let n = opts.samples;
    let mut ok = 0;
    let mut parts = [0usize; 3];
    let res = p.native_size().0;
    for i in 0..n as u64 {
        let c = data.captioned_image(10_000 + i);
        let target = &c.scene.shapes[0];
        let new_colour = Colour::ALL
            .iter()
            .copied()
            .find(|&k| k != target.colour && c.scene.shapes.iter().all(|s| s.colour != k))
            .unwrap_or(Colour::Blue);
        let mut edited: Scene = c.scene.clone();
        edited.shapes[0].colour = new_colour;
        let mask: GrayImage = PixelRect::around(&target.sprite(), res, 4).mask(res, res);
        let mut req = InpaintRequest::new(
            base(canonical_caption(&edited), i),
            c.image.clone(),
            mask.clone(),
        );
        req.resample = opts.resample.unwrap_or(p.settings.resample);
        req.strength = opts.inpaint_strength.unwrap_or(p.settings.inpaint_strength);
        let out = Control::none(|ctl| p.inpaint(&req, ctl))?.image;
        if let Ok(v) = inpaint_ok(&c.image, &out, &mask, new_colour, target.kind) {
            ok += usize::from(v.passed());
            tally(&mut parts, v.criteria());
        }
    }
    log(&format!(
        "inpainting: {ok}/{n} (asked colour {}/{n}, kind kept {}/{n}, outside unchanged {}/{n})",
        parts[0], parts[1], parts[2]
    ));
    report
        .rows
        .push(("inpainting".into(), ok as f64 / n as f64, n));
    Ok(())
}

/// Extension: the bottom quarter is cut off and regenerated.
fn extension(
    p: &Pipeline,
    data: &WorldDataset,
    opts: &EvalOptions,
    base: &dyn Fn(String, u64) -> GenerateRequest,
    report: &mut EvalReport,
    log: &mut dyn FnMut(&str),
) -> Result<()> {
    let n = opts.samples;
    let res = p.native_size().0;
    let mut ok = 0;
    let mut parts = [0usize; 4];
    let keep = res * 3 / 4;
    for i in 0..n as u64 {
        let c = data.captioned_image(20_000 + i);
        let top = image::imageops::crop_imm(&c.image, 0, 0, res, keep).to_image();
        let mut req = ExtendRequest::new(
            base(canonical_caption(&c.scene), i),
            top,
            Growth {
                left: 0,
                right: 0,
                top: 0,
                bottom: res - keep,
            },
        );
        req.resample = opts.resample.unwrap_or(p.settings.resample);
        req.strength = opts.extend_strength.unwrap_or(p.settings.extend_strength);
        let out = Control::none(|ctl| p.extend(&req, ctl))?.image;
        let v = background_continues(
            &out,
            PixelRect {
                x: 0,
                y: 0,
                width: res,
                height: keep,
            },
        );
        ok += usize::from(v.passed());
        tally(&mut parts, v.criteria());
    }
    log(&format!(
        "extension: {ok}/{n} (no seam {}/{n}, edge continued {}/{n}, background tones {}/{n}, \
         no stray blobs {}/{n})",
        parts[0], parts[1], parts[2], parts[3]
    ));
    report
        .rows
        .push(("extension".into(), ok as f64 / n as f64, n));
    Ok(())
}

/// Asked shape kind against the kind of the largest shape drawn (or none), for the log:
/// whether a model mixes up two kinds or draws one kind for everything.
#[derive(Default)]
struct KindConfusion(Vec<(ShapeKind, Option<ShapeKind>, usize)>);

impl KindConfusion {
    fn add(&mut self, asked: ShapeKind, drawn: Option<ShapeKind>) {
        match self
            .0
            .iter_mut()
            .find(|(a, d, _)| *a == asked && *d == drawn)
        {
            Some((_, _, count)) => *count += 1,
            None => self.0.push((asked, drawn, 1)),
        }
    }

    /// "circle: circle 5, square 3, none 1; square: ...".
    fn summary(&self) -> String {
        ShapeKind::ALL
            .iter()
            .filter_map(|&asked| {
                let drawn: Vec<String> = [None]
                    .into_iter()
                    .chain(ShapeKind::ALL.map(Some))
                    .filter_map(|d| {
                        let count = self.0.iter().find(|(a, x, _)| *a == asked && *x == d)?.2;
                        Some(format!("{} {count}", d.map_or("none", ShapeKind::name)))
                    })
                    .collect();
                (!drawn.is_empty()).then(|| format!("{}: {}", asked.name(), drawn.join(", ")))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Right answers per question kind, for the log: which kinds a model still gets wrong.
#[derive(Default)]
struct KindTally(Vec<(QuestionKind, usize, usize)>);

impl KindTally {
    fn add(&mut self, kind: QuestionKind, hit: bool) {
        match self.0.iter_mut().find(|(k, _, _)| *k == kind) {
            Some((_, right, all)) => {
                *right += usize::from(hit);
                *all += 1;
            }
            None => self.0.push((kind, usize::from(hit), 1)),
        }
    }

    /// (right, asked) over all kinds.
    fn totals(&self) -> (usize, usize) {
        self.0
            .iter()
            .fold((0, 0), |(r, a), (_, right, all)| (r + right, a + all))
    }

    fn share(&self) -> f64 {
        let (right, all) = self.totals();
        right as f64 / all.max(1) as f64
    }

    /// "39/50 (Colour 4/6, Size 8/8, ...)".
    fn summary(&self) -> String {
        let (right, all) = self.totals();
        let kinds: Vec<String> = self
            .0
            .iter()
            .map(|(k, right, all)| format!("{k:?} {right}/{all}"))
            .collect();
        format!("{right}/{all} ({})", kinds.join(", "))
    }
}

/// The first pictures side by side (4 per row) for the README.
pub fn sample_grid(samples: &[(String, RgbImage)]) -> Option<RgbImage> {
    let (w, h) = samples.first()?.1.dimensions();
    let cols = 4u32.min(samples.len() as u32);
    let rows = (samples.len() as u32).div_ceil(cols);
    let mut grid =
        RgbImage::from_pixel(cols * (w + 4), rows * (h + 4), image::Rgb([255, 255, 255]));
    for (k, (_, img)) in samples.iter().enumerate() {
        let (x, y) = ((k as u32 % cols) * (w + 4), (k as u32 / cols) * (h + 4));
        image::imageops::replace(&mut grid, img, x as i64, y as i64);
    }
    Some(grid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_intervals_match_hand_computed_values() {
        let close =
            |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).abs() < 1e-3 && (a.1 - b.1).abs() < 1e-3;
        assert!(close(wilson_interval(0.5, 100), (0.4038, 0.5962)));
        assert!(close(wilson_interval(1.0, 10), (0.7225, 1.0)));
        assert!(close(wilson_interval(0.0, 10), (0.0, 0.2775)));
        assert_eq!(wilson_interval(0.3, 0), (0.0, 1.0));
        let report = EvalReport {
            rows: vec![("image QA exact match".into(), 0.8, 100)],
            samples: Vec::new(),
        };
        assert!(
            report
                .table()
                .contains("| image QA exact match | 80.0% | 71-87% | 100 |"),
            "{}",
            report.table()
        );
    }

    #[test]
    fn background_tally_reads_the_worlds_own_backgrounds() {
        let data = WorldDataset::held_out(64, 5).unwrap();
        let mut tally = BackgroundTally::default();
        for i in 0..60 {
            let c = data.captioned_image(i);
            tally.add(&c.image, &c.scene.background, true);
        }
        eprintln!("{}", tally.summary(true));
        assert_eq!(
            tally.drawn_split,
            tally.scenes_split,
            "{}",
            tally.summary(true)
        );
        assert!(tally.as_scene >= 57, "{}", tally.summary(true));
        assert_eq!(tally.shapes_on_split, tally.drawn_split);
        assert_eq!(tally.shapes_on_plain, 60 - tally.drawn_split);
    }

    #[test]
    fn kind_confusion_counts_each_asked_and_drawn_pair() {
        let mut k = KindConfusion::default();
        k.add(ShapeKind::Circle, Some(ShapeKind::Circle));
        k.add(ShapeKind::Square, Some(ShapeKind::Circle));
        k.add(ShapeKind::Square, Some(ShapeKind::Circle));
        k.add(ShapeKind::Square, None);
        assert_eq!(
            k.summary(),
            "circle: circle 1; square: none 1, circle 2",
            "kinds never asked are left out, none comes first"
        );
    }
}
