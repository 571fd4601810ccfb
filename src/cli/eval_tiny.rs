//! `showo-studio eval-tiny`: scores a model on held-out samples of the procedural world.

use std::path::PathBuf;

use anyhow::{Context, Result};
use candle_core::{DType, Device};
use clap::{Args, ValueEnum};
use showo::pipeline::Pipeline;
use showo::tiny::eval::{EvalOptions, Part, evaluate, sample_grid};

#[derive(Args)]
pub struct EvalTinyArgs {
    /// Model folder (default: the built-in model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Held-out samples per metric.
    #[arg(long, default_value_t = EvalOptions::default().samples)]
    samples: usize,
    #[arg(long, default_value_t = EvalOptions::default().steps)]
    steps: usize,
    /// Classifier-free guidance (default: the model's own, from its `studio.json`).
    #[arg(long)]
    guidance: Option<f32>,
    /// Time shift of the sampling grid (Show-o2 uses 3).
    #[arg(long, default_value_t = EvalOptions::default().shift)]
    shift: f32,
    /// Share of fresh noise per flow step, 0 (Euler) to 1 (ancestral) (default: the model's
    /// own, from its `studio.json`).
    #[arg(long)]
    eta: Option<f32>,
    /// Text-to-image prompts also name the scene's background, and the drawn background is
    /// scored against it (the canonical prompts leave the background to the model).
    #[arg(long)]
    name_background: bool,
    /// RePaint jumps per step for inpainting and extension (default: the model's
    /// `studio.json`; on built-in v3, 2 / 4 gave extension 31 / 46%).
    #[arg(long)]
    resample: Option<usize>,
    /// Denoising strength of inpainting, in (0, 1] (default: the model's `studio.json`).
    #[arg(long)]
    inpaint_strength: Option<f32>,
    /// Denoising strength of extension, in (0, 1] (default: the model's `studio.json`).
    #[arg(long)]
    extend_strength: Option<f32>,
    /// Write a grid of generated samples here (PNG) and the table next to it (.md).
    #[arg(long)]
    grid: Option<PathBuf>,
    /// Measure only these metrics (comma-separated; default all), e.g. `--only t2i` to sweep
    /// a sampling setting quickly.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<PartArg>,
    /// Print every question answered wrongly, with the expected and the given answer and the
    /// picture's or clip's full description, and every text-to-image sample whose shapes are
    /// not the asked kinds, with its prompt, seed and what the checker found.
    #[arg(long)]
    show_misses: bool,
    /// Write every text-to-image sample into this folder (`t2i-NNN.png`, created if missing)
    /// with `t2i.csv`: each sample's prompt and the checker's verdicts.
    #[arg(long)]
    save_samples: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum PartArg {
    /// Text-to-image colour, shape and position (and the kind-word probe).
    T2i,
    ImageQa,
    ClipQa,
    Inpaint,
    Extend,
}

impl From<PartArg> for Part {
    fn from(p: PartArg) -> Part {
        match p {
            PartArg::T2i => Part::TextToImage,
            PartArg::ImageQa => Part::ImageQa,
            PartArg::ClipQa => Part::ClipQa,
            PartArg::Inpaint => Part::Inpainting,
            PartArg::Extend => Part::Extension,
        }
    }
}

pub fn run(args: EvalTinyArgs) -> Result<()> {
    let dir = match args.model {
        Some(d) => d,
        None => showo::assets::builtin_model_dir()
            .context("the built-in model was not found; pass --model DIR")?,
    };
    let p = Pipeline::load(&dir, &Device::Cpu, DType::F32)?;
    let opts = EvalOptions {
        samples: args.samples,
        steps: args.steps,
        guidance: args.guidance,
        shift: args.shift,
        eta: args.eta,
        name_background: args.name_background,
        resample: args.resample,
        inpaint_strength: args.inpaint_strength,
        extend_strength: args.extend_strength,
        parts: if args.only.is_empty() {
            Part::ALL.to_vec()
        } else {
            args.only.into_iter().map(Part::from).collect()
        },
        show_misses: args.show_misses,
        save_samples: args.save_samples.clone(),
        ..Default::default()
    };
    if let Some(dir) = &args.save_samples {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the samples folder {}", dir.display()))?;
    }
    let report = evaluate(&p, &opts, |line| eprintln!("{line}"))?;
    let table = report.table();
    println!("{table}");
    if let Some(path) = args.grid
        && let Some(grid) = sample_grid(&report.samples)
    {
        showo::media::save_rgb(&path, &grid)?;
        let captions: Vec<String> = report
            .samples
            .iter()
            .enumerate()
            .map(|(i, (c, _))| format!("{}. {c}", i + 1))
            .collect();
        std::fs::write(
            path.with_extension("md"),
            format!(
                "{table}\nSamples (left to right, top to bottom):\n\n{}\n",
                captions.join("\n")
            ),
        )?;
    }
    Ok(())
}
