//! `showo-studio world`: dump samples of the tiny model's procedural world for inspection:
//! pictures (PNG, plus a contact sheet of the first 64) with captions and questions (JSONL),
//! clips (GIF plus a PNG strip of frames), and the word-level tokenizer.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, DynamicImage, Frame, RgbImage};
use serde_json::json;

use showo::tiny::dataset::{Split, Task, WorldDataset};
use showo::tiny::grammar::{
    canonical_caption, canonical_clip_caption, clip_caption, clip_questions, scene_caption,
    scene_questions,
};
use showo::tiny::tokenizer;
use showo::tiny::world::{Clip, Scene, Stream, rng_for};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SplitArg {
    Train,
    HeldOut,
}

#[derive(Args, Debug)]
pub struct WorldArgs {
    /// Folder to write into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Number of pictures.
    #[arg(long, default_value_t = 16)]
    count: u64,
    /// Number of clips.
    #[arg(long, default_value_t = 4)]
    clips: u64,
    /// Square picture side in pixels.
    #[arg(long, default_value_t = showo::tiny::world::DEFAULT_RESOLUTION)]
    resolution: u32,
    /// Frames per clip (1 + 4k).
    #[arg(long, default_value_t = showo::tiny::world::DEFAULT_CLIP_FRAMES)]
    frames: usize,
    /// Which seeds to draw from.
    #[arg(long, value_enum, default_value_t = SplitArg::Train)]
    split: SplitArg,
    /// Index of the first sample.
    #[arg(long, default_value_t = 0)]
    start: u64,
}

fn jsonl(path: &Path) -> anyhow::Result<BufWriter<File>> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(BufWriter::new(file))
}

fn save_png(image: &RgbImage, path: &Path) -> anyhow::Result<()> {
    image
        .save(path)
        .with_context(|| format!("writing {}", path.display()))
}

/// All frames side by side, one pixel of white between them.
fn strip(frames: &[RgbImage]) -> RgbImage {
    let (w, h) = frames.first().map(|f| f.dimensions()).unwrap_or((0, 0));
    let n = frames.len() as u32;
    let mut out = RgbImage::from_pixel((w + 1) * n.max(1) - 1, h, image::Rgb([255, 255, 255]));
    for (i, frame) in frames.iter().enumerate() {
        image::imageops::replace(&mut out, frame, i64::from(i as u32 * (w + 1)), 0);
    }
    out
}

/// Up to 64 pictures tiled 8 to a row and scaled up 3x, to look at many at once.
fn contact_sheet(images: &[RgbImage]) -> RgbImage {
    let (w, h) = images.first().map(|f| f.dimensions()).unwrap_or((0, 0));
    let (cols, scale, gap) = (8u32, 3u32, 2u32);
    let shown = &images[..images.len().min(64)];
    let rows = (shown.len() as u32).div_ceil(cols).max(1);
    let (cell_w, cell_h) = (w * scale + gap, h * scale + gap);
    let mut out = RgbImage::from_pixel(cols * cell_w, rows * cell_h, image::Rgb([255, 255, 255]));
    for (i, image) in shown.iter().enumerate() {
        let big = image::imageops::resize(image, w * scale, h * scale, image::imageops::Nearest);
        let (col, row) = (i as u32 % cols, i as u32 / cols);
        image::imageops::replace(
            &mut out,
            &big,
            i64::from(col * cell_w),
            i64::from(row * cell_h),
        );
    }
    out
}

fn save_gif(frames: &[RgbImage], path: &Path) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut encoder = GifEncoder::new(BufWriter::new(file));
    encoder.set_repeat(Repeat::Infinite)?;
    let delay = Delay::from_numer_denom_ms(150, 1);
    let gif_frames = frames.iter().map(|f| {
        let rgba = DynamicImage::ImageRgb8(f.clone()).into_rgba8();
        Frame::from_parts(rgba, 0, 0, delay)
    });
    encoder
        .encode_frames(gif_frames)
        .with_context(|| format!("writing {}", path.display()))
}

pub fn run(args: WorldArgs) -> anyhow::Result<()> {
    let split = match args.split {
        SplitArg::Train => Split::Train,
        SplitArg::HeldOut => Split::HeldOut,
    };
    // Captions are never dropped here: this is for looking at.
    let data = WorldDataset::new(split, args.resolution, args.frames, 0.0)?;
    let images_dir = args.out.join("images");
    let clips_dir = args.out.join("clips");
    for dir in [&images_dir, &clips_dir] {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }

    let mut lines = jsonl(&args.out.join("images.jsonl"))?;
    let mut pictures = Vec::new();
    for index in args.start..args.start + args.count {
        let seed = data.seed(Task::Image, index);
        let scene = Scene::generate(seed);
        let file = format!("images/{index:05}.png");
        let picture = scene.render(args.resolution);
        save_png(&picture, &args.out.join(&file))?;
        pictures.push(picture);
        let mut rng = rng_for(seed, Stream::Caption);
        let paraphrases: Vec<String> = (0..3).map(|_| scene_caption(&scene, &mut rng)).collect();
        let questions = scene_questions(&scene, &mut rng_for(seed, Stream::Question));
        let line = json!({
            "index": index, "seed": seed, "file": file,
            "caption": canonical_caption(&scene), "paraphrases": paraphrases,
            "questions": questions, "scene": scene,
        });
        writeln!(lines, "{line}")?;
    }
    lines.flush()?;
    if !pictures.is_empty() {
        save_png(
            &contact_sheet(&pictures),
            &args.out.join("contact_sheet.png"),
        )?;
    }

    let mut lines = jsonl(&args.out.join("clips.jsonl"))?;
    for index in args.start..args.start + args.clips {
        let seed = data.seed(Task::Clip, index);
        let clip = Clip::generate(seed, args.frames)?;
        let frames = clip.render(args.resolution);
        let gif = format!("clips/{index:05}.gif");
        let strip_file = format!("clips/{index:05}_frames.png");
        save_gif(&frames, &args.out.join(&gif))?;
        save_png(&strip(&frames), &args.out.join(&strip_file))?;
        let mut rng = rng_for(seed, Stream::Caption);
        let line = json!({
            "index": index, "seed": seed, "file": gif, "frames_file": strip_file,
            "caption": canonical_clip_caption(&clip), "paraphrase": clip_caption(&clip, &mut rng),
            "questions": clip_questions(&clip, &mut rng_for(seed, Stream::Question)),
            "clip": clip,
        });
        writeln!(lines, "{line}")?;
    }
    lines.flush()?;

    let tokenizer_path = args.out.join("tokenizer.json");
    tokenizer::save(&tokenizer::build()?, &tokenizer_path)?;
    println!(
        "wrote {} pictures, {} clips and tokenizer.json to {}",
        args.count,
        args.clips,
        args.out.display()
    );
    Ok(())
}
