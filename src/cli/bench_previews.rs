//! `showo-studio bench previews`: what a live preview costs next to the flow step it follows.
//!
//! One step = the prefix-cached, CFG-batched velocity of the image block (what the sampler runs
//! per step). One preview = x̂ = x_t + (1 − t)·v, the 16→3 latent→RGB map on the device, the
//! copy to the CPU and the bilinear upsample to the canvas. Also timed: a full VAE decode (the
//! optional "decode every N steps" preview). Reported as fractions of a step.

use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use clap::Args;
use showo::model::device::DeviceChoice;
use showo::model::vae::{VaeConfig, WanVae};
use showo::model::{Showo2, Showo2Config, random};
use showo::pipeline::preview::{self, LatentRgbMap};
use showo::pipeline::sampler::cfg_combine;
use showo::pipeline::{ImageCodec, Pipeline};

#[derive(Args, Debug)]
pub struct PreviewBenchArgs {
    /// `golden` (the golden tiny model + VAE), `1.5b` (random weights, real Show-o2-1.5B and
    /// Wan2.1 shapes) or a checkpoint folder.
    #[arg(long, default_value = "golden")]
    model: String,
    /// Token grid side for `1.5b` (27 = 432 px).
    #[arg(long, default_value_t = 27)]
    grid: usize,
    /// For `1.5b`: keep only this many LLM layers, semantic layers and flow-head blocks (the
    /// widths stay real). Less memory and a shorter step, so the preview fraction it reports is
    /// an upper bound for the full model.
    #[arg(long)]
    layers: Option<usize>,
    /// cpu, cuda[:N], metal[:N].
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Timed steps.
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// Timed previews.
    #[arg(long, default_value_t = 20)]
    previews: usize,
    /// Also time a full VAE decode.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    decode: bool,
}

struct Subject {
    label: String,
    model: Showo2,
    vae: Option<Box<dyn ImageCodec>>,
    map: LatentRgbMap,
}

pub fn run(args: PreviewBenchArgs) -> Result<()> {
    let choice: DeviceChoice = args.device.parse()?;
    let dev = choice.open()?;
    let dtype = choice.default_dtype();
    let s = load(&args, &dev, dtype)?;
    let cfg = s.model.config().clone();
    let (gh, gw) = cfg.native_grid();
    let c = cfg.showo.image_latent_dim;
    let (lh, lw) = cfg.native_latent();
    let (ph, pw) = cfg.native_pixels();
    println!("model: {} on {:?} ({dtype:?})", s.label, args.device);
    println!(
        "canvas {pw}x{ph}, latent {c}x{lh}x{lw}, {} image tokens",
        gh * gw
    );

    // A 16-token prompt and the empty prompt, as the sampler caches them.
    let vocab = cfg.showo.llm_vocab_size as u32;
    let prompt: Vec<u32> = (0..16u32).map(|i| 10 + i % (vocab / 2)).collect();
    let (bos, boi) = (vocab - 25, vocab - 16);
    let mut cond = vec![bos];
    cond.extend(&prompt);
    cond.push(boi);
    let prefix = s.model.prefill_generation(&[cond, vec![bos, boi]])?;
    let x = Tensor::randn(0f32, 1.0, (1, c, lh, lw), &dev)?;
    let t = 0.3f32;
    let step = || -> candle_core::Result<Tensor> {
        let xx = Tensor::cat(&[&x, &x], 0)?;
        let v = s
            .model
            .velocity(&prefix, &xx, &Tensor::new(&[t, t], &dev)?)?
            .to_dtype(DType::F32)?;
        let g = cfg_combine(&v, 5.0)?;
        let out = (&x + (&g * 0.05)?)?;
        dev.synchronize()?;
        Ok(out)
    };
    let v = step()?; // warm-up, and a velocity-shaped tensor for the preview
    let step_s = median_time(args.steps, || Ok(step().map(|_| ())?))?;
    let preview_once = || -> Result<()> {
        let x_hat = preview::predicted_clean(&x, &v, t)?;
        let small = s.map.to_rgb(&x_hat)?;
        let big = preview::upsample(&small, pw as u32, ph as u32);
        std::hint::black_box(big);
        Ok(())
    };
    preview_once()?;
    let preview_s = median_time(args.previews, preview_once)?;
    let x_hat = preview::predicted_clean(&x, &v, t)?;
    let map_s = median_time(args.previews, || {
        std::hint::black_box(s.map.to_rgb(&x_hat)?);
        Ok(())
    })?;
    let small = s.map.to_rgb(&x_hat)?;
    let up_s = median_time(args.previews, || {
        std::hint::black_box(preview::upsample(&small, pw as u32, ph as u32));
        Ok(())
    })?;
    println!(
        "flow step (CFG batch 2, prefix cached): {:>10.3} ms",
        step_s * 1e3
    );
    println!(
        "latent->RGB preview + upsample:         {:>10.3} ms  = {:.2}% of a step",
        preview_s * 1e3,
        100.0 * preview_s / step_s
    );
    println!(
        "  of which latent->RGB {:.3} ms, upsample {:.3} ms, x̂ {:.3} ms",
        map_s * 1e3,
        up_s * 1e3,
        (preview_s - map_s - up_s).max(0.0) * 1e3
    );
    if let (true, Some(vae)) = (args.decode, &s.vae) {
        let decode = || -> Result<()> {
            let px = vae.decode(&x)?;
            std::hint::black_box(px);
            dev.synchronize()?;
            Ok(())
        };
        decode()?;
        let decode_s = median_time(args.steps.min(3), decode)?;
        println!(
            "full VAE decode (optional preview):     {:>10.3} ms  = {:.1}% of a step",
            decode_s * 1e3,
            100.0 * decode_s / step_s
        );
    }
    Ok(())
}

fn load(args: &PreviewBenchArgs, dev: &Device, dtype: DType) -> Result<Subject> {
    match args.model.as_str() {
        "golden" => {
            let root = showo::golden::golden_dir();
            let dir = root.join("model");
            let cfg = Showo2Config::from_dir(&dir)?;
            // SAFETY: read-only golden files, not modified while mapped.
            let vb = unsafe {
                VarBuilder::from_mmaped_safetensors(&[dir.join("model.safetensors")], dtype, dev)?
            };
            let model = Showo2::new(&cfg, vb)?;
            let vdir = root.join("vae");
            let vcfg = VaeConfig::from_json_file(vdir.join("vae_config.json"))?;
            let vvb = unsafe {
                VarBuilder::from_mmaped_safetensors(
                    &[vdir.join("vae.safetensors")],
                    DType::F32,
                    dev,
                )?
            };
            let vae = WanVae::new(&vcfg, vvb)?;
            let t0 = Instant::now();
            let map = preview::fit_latent_rgb(&vae, cfg.showo.image_latent_dim, dev, 0)?;
            println!(
                "preview map fitted to the golden VAE in {:.1} ms (one-off, at load)",
                t0.elapsed().as_secs_f64() * 1e3
            );
            Ok(Subject {
                label: format!("golden tiny ({})", dir.display()),
                model,
                vae: Some(Box::new(vae)),
                map,
            })
        }
        "1.5b" => {
            let mut cfg = random::showo2_1_5b_config(args.grid);
            if let Some(n) = args.layers {
                cfg.llm.num_hidden_layers = n;
                cfg.siglip.num_hidden_layers = n + 1; // Show-o2 drops SigLIP's last layer
                cfg.showo.num_diffusion_layers = n;
            }
            let (model, n) = random::random_showo2(&cfg, dtype, dev, 7)?;
            // Timing does not depend on the values: a zero-weight Wan2.1 decoder of the real width.
            let vae = WanVae::new(&VaeConfig::wan21(), VarBuilder::zeros(DType::F32, dev))?;
            Ok(Subject {
                label: format!(
                    "random Show-o2-1.5B widths, {} LLM / {} semantic / {} flow layers \
                     ({:.2} B params), grid {}",
                    cfg.llm.num_hidden_layers,
                    cfg.und_layers(),
                    cfg.showo.num_diffusion_layers,
                    n as f64 / 1e9,
                    args.grid
                ),
                model,
                vae: Some(Box::new(vae)),
                map: LatentRgbMap::wan21(),
            })
        }
        dir => {
            let pipe = Pipeline::load(std::path::Path::new(dir), dev, dtype)
                .with_context(|| format!("loading {dir}"))?;
            Ok(Subject {
                label: dir.to_string(),
                map: pipe.preview_map.clone(),
                vae: Some(pipe.vae),
                model: pipe.model,
            })
        }
    }
}

/// Median seconds per call over `n` calls.
fn median_time(n: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut times = Vec::with_capacity(n.max(1));
    for _ in 0..n.max(1) {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}
