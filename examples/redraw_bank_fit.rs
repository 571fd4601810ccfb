//! How closely each model's decoder draws the latents of a redraw bank (`train::redraw`) as
//! their redrawn targets: per bank entry, whether the kinds the checker finds at each position
//! are the target's. This is the "bank" column of the README's table on phase 6.
//!
//! Usage: `redraw_bank_fit BANK.safetensors N MODEL_DIR...` (the first N entries); with
//! `DUMP=DIR` set, each mismatch is written there as `NNNN-decoded.png` and `NNNN-target.png`.

use std::path::Path;

use anyhow::Context;
use candle_core::{DType, Device, Tensor};
use image::RgbImage;
use showo::pipeline::Pipeline;
use showo::pipeline::generate::decode_latent;
use showo::tiny::checker::detect_shapes;
use showo::tiny::world::{Position, ShapeKind};

/// The bank's (C, H, W) bytes -> picture.
fn picture(chw: &Tensor) -> anyhow::Result<RgbImage> {
    let (_, h, w) = chw.dims3()?;
    let hwc = chw.permute((1, 2, 0))?.flatten_all()?.to_vec1::<u8>()?;
    RgbImage::from_raw(w as u32, h as u32, hwc).context("picture size")
}

/// The kinds found, per position, in a fixed order.
fn kinds(image: &RgbImage) -> Vec<(Position, ShapeKind)> {
    let mut found: Vec<_> = detect_shapes(image)
        .iter()
        .map(|d| (d.position, d.kind))
        .collect();
    found.sort_by_key(|(p, k)| (*p as usize, k.index()));
    found
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, bank, n, models @ ..] = args.as_slice() else {
        anyhow::bail!("usage: redraw_bank_fit BANK.safetensors N MODEL_DIR...");
    };
    let bank = candle_core::safetensors::load(bank, &Device::Cpu)?;
    let (latents, targets) = (&bank["latents"], &bank["targets"]);
    let n = n.parse::<usize>()?.min(latents.dim(0)?);
    let dump = std::env::var("DUMP").ok();
    for model in models {
        let p = Pipeline::load(Path::new(model), &Device::Cpu, DType::F32)?;
        let mut same = 0;
        for i in 0..n {
            let z = latents.get(i)?.squeeze(1)?.unsqueeze(0)?; // (1, C, h, w)
            let decoded = decode_latent(&p, &z)?;
            let target = picture(&targets.get(i)?)?;
            if kinds(&decoded) == kinds(&target) {
                same += 1;
            } else if let Some(dir) = &dump {
                decoded.save(format!("{dir}/{i:04}-decoded.png"))?;
                target.save(format!("{dir}/{i:04}-target.png"))?;
            }
        }
        println!("{model}: kinds as the target's in {same}/{n} bank latents");
    }
    Ok(())
}
