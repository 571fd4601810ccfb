//! `showo-studio bench memory`: the catalog's memory estimate for a model (what the models
//! panel and `models estimate` show before loading) next to the peak resident memory (VmHWM)
//! of really loading it and running a text-to-image on the CPU.
//!
//! `tiny` loads the built-in model and generates one picture. `1.5b` builds random weights
//! with the real Show-o2-1.5B shapes in f32 plus a zero-weight Wan2.1 VAE of the real width,
//! runs one CFG flow step of the image block and decodes the latent; it is compared with the
//! catalog entry `show-o2-1.5B` at f32 and the grid's resolution.

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use clap::Args;
use showo::hub::catalog::{Catalog, Dtype};
use showo::hub::format_bytes;
use showo::hub::memory::{self, LoadOptions, MemoryEstimate, Workload};
use showo::model::random;
use showo::model::vae::{VaeConfig, WanVae};
use showo::pipeline::Pipeline;
use showo::pipeline::generate::{Control, GenerateRequest};

#[derive(Args, Debug)]
pub struct MemoryBenchArgs {
    /// `tiny` (the built-in model) or `1.5b` (random weights, real Show-o2-1.5B shapes, f32).
    #[arg(long, default_value = "tiny")]
    model: String,
    /// Token grid side for `1.5b` (27 = 432 px; a full-size CPU run takes many minutes).
    #[arg(long, default_value_t = 4)]
    grid: usize,
}

/// What a run measured besides the process peak.
struct Run {
    label: String,
    estimate: MemoryEstimate,
    /// Heap held once the model (and VAE) are loaded: the weights as the CPU holds them.
    loaded: u64,
}

pub fn run(args: MemoryBenchArgs) -> Result<()> {
    let catalog = Catalog::builtin();
    let run = match args.model.as_str() {
        "tiny" => run_tiny(&catalog)?,
        "1.5b" => run_1_5b(&catalog, args.grid)?,
        other => bail!("--model {other}: expected `tiny` or `1.5b`"),
    };
    let e = &run.estimate;
    let measured = proc_status_bytes("VmHWM:").context("reading VmHWM from /proc/self/status")?;
    let predicted = e.device_peak();
    let weights = e.llm_weights + e.other_weights + e.vae_weights;
    let heap_peak = super::heap::usage().1 as u64;
    println!("{}", run.label);
    println!(
        "  estimate: weights {} (LLM {} + rest {} + VAE {}), activations {}, VAE working set {}, runtime {}",
        format_bytes(weights),
        format_bytes(e.llm_weights),
        format_bytes(e.other_weights),
        format_bytes(e.vae_weights),
        format_bytes(e.activations),
        format_bytes(e.vae_activations),
        format_bytes(e.overhead),
    );
    println!(
        "  weights: estimated {}  measured (heap after loading) {}  estimate/measured {:.2}",
        format_bytes(weights),
        format_bytes(run.loaded),
        weights as f64 / run.loaded.max(1) as f64
    );
    println!(
        "  peak: estimated {}  measured peak RSS {}  estimate/measured {:.2}  (peak heap {})",
        format_bytes(predicted),
        format_bytes(measured),
        predicted as f64 / measured as f64,
        format_bytes(heap_peak)
    );
    // One machine-readable line for tests and scripts.
    println!(
        "memory-bench estimate_bytes={predicted} measured_bytes={measured} \
         weights_estimate_bytes={weights} weights_measured_bytes={} heap_peak_bytes={heap_peak}",
        run.loaded
    );
    Ok(())
}

/// The catalog's estimate for model `id` doing text-to-image at `resolution` (default: its
/// first native one) in f32 on the CPU.
fn cpu_f32_estimate(
    catalog: &Catalog,
    id: &str,
    resolution: Option<u32>,
) -> Result<(Workload, MemoryEstimate)> {
    let entry = catalog.model(id)?;
    let resolution =
        resolution.unwrap_or_else(|| entry.native_resolutions.first().copied().unwrap_or(64));
    let workload = Workload::TextToImage { resolution };
    let estimate = memory::estimate(
        catalog,
        entry,
        LoadOptions::plain(Dtype::F32),
        workload,
        memory::Device::Cpu,
    );
    Ok((workload, estimate))
}

fn run_tiny(catalog: &Catalog) -> Result<Run> {
    let (workload, estimate) = cpu_f32_estimate(catalog, "show-o2-tiny", None)?;
    let dir = showo::assets::builtin_model_dir()
        .context("the built-in model folder (assets/tiny) was not found")?;
    let pipe = Pipeline::load(&dir, &Device::Cpu, DType::F32)
        .with_context(|| format!("loading {}", dir.display()))?;
    let loaded = super::heap::usage().0 as u64;
    let req = GenerateRequest {
        prompt: "a red circle on the left".into(),
        steps: 10,
        guidance: 4.0,
        ..Default::default()
    };
    Control::none(|ctl| pipe.generate(&req, ctl))?;
    Ok(Run {
        label: format!(
            "built-in tiny model ({}), {workload}, f32, CPU",
            dir.display()
        ),
        estimate,
        loaded,
    })
}

fn run_1_5b(catalog: &Catalog, grid: usize) -> Result<Run> {
    let (workload, estimate) = cpu_f32_estimate(catalog, "show-o2-1.5B", Some((grid * 16) as u32))?;
    let dev = Device::Cpu;
    let cfg = random::showo2_1_5b_config(grid);
    let (model, n) = random::random_showo2(&cfg, DType::F32, &dev, 7)?;
    let vae = WanVae::new(&VaeConfig::wan21(), VarBuilder::zeros(DType::F32, &dev))?;
    let loaded = super::heap::usage().0 as u64;
    // What the sampler does per step: cached prompt and empty-prompt prefixes, the image
    // block of both CFG rows, then one VAE decode of the result.
    let vocab = cfg.showo.llm_vocab_size as u32;
    let (bos, boi) = (vocab - 25, vocab - 16);
    let mut cond = vec![bos];
    cond.extend((0..16u32).map(|i| 10 + i));
    cond.push(boi);
    let prefix = model.prefill_generation(&[cond, vec![bos, boi]])?;
    let c = cfg.showo.image_latent_dim;
    let (lh, lw) = cfg.native_latent();
    let x = Tensor::randn(0f32, 1.0, (2, c, lh, lw), &dev)?;
    let v = model.velocity(&prefix, &x, &Tensor::new(&[0.3f32, 0.3], &dev)?)?;
    drop(prefix);
    let latent = v.narrow(0, 0, 1)?.unsqueeze(2)?;
    vae.decode(&latent)?;
    Ok(Run {
        label: format!(
            "random Show-o2-1.5B shapes ({:.2} B params) + Wan2.1 VAE, {workload}, f32, CPU",
            n as f64 / 1e9
        ),
        estimate,
        loaded,
    })
}

/// A memory line of /proc/self/status (`VmHWM:` peak, `VmRSS:` now), in bytes (Linux).
pub fn proc_status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
