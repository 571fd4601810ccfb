//! `showo-studio convert <SRC> <DST> [--dtype f32|bf16|f16|keep]`: turn a PyTorch checkpoint
//! (`.bin`, `.pth`, shards) into one memory-mappable safetensors file.

use std::path::PathBuf;

use anyhow::Context;
use candle_core::DType;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use showo::model::weights::{ConvertOptions, convert_to_safetensors_with};

#[derive(Args)]
pub struct ConvertArgs {
    /// Checkpoint file (.bin/.pth/.pt/.safetensors/*.index.json) or directory.
    pub src: PathBuf,
    /// Output: a `.safetensors` file, or a directory (receives model.safetensors and the configs).
    pub dst: PathBuf,
    /// Cast floating-point tensors; `keep` writes each tensor in its stored dtype.
    #[arg(long, value_enum, default_value_t = DtypeArg::Keep)]
    pub dtype: DtypeArg,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DtypeArg {
    F32,
    Bf16,
    F16,
    Keep,
}

pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    let dtype = match args.dtype {
        DtypeArg::F32 => Some(DType::F32),
        DtypeArg::Bf16 => Some(DType::BF16),
        DtypeArg::F16 => Some(DType::F16),
        DtypeArg::Keep => None,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} converting [{bar:40}] {bytes}/{total_bytes} ({eta})",
        )
        .context("progress bar template")?
        .progress_chars("=> "),
    );
    let report = convert_to_safetensors_with(
        &args.src,
        &args.dst,
        &ConvertOptions { dtype },
        |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    );
    bar.finish_and_clear();
    let report = report.with_context(|| format!("converting {}", args.src.display()))?;

    println!(
        "wrote {} ({} tensors, {:.1} MB of data)",
        report.output.display(),
        report.tensors,
        report.data_bytes as f64 / 1e6
    );
    for group in &report.aliases {
        println!("  shared storage written as copies: {}", group.join(" = "));
    }
    for file in &report.copied {
        println!("  copied {}", file.display());
    }
    Ok(())
}
