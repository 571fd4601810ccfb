//! `showo-studio bench model`: per-flow-step time with and without the text-prefix cache,
//! decode tokens/s with the KV cache against recomputing the sequence per token (as the
//! official `mmu_generate` does), and peak memory.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device, IndexOp, Tensor};
use clap::Args;
use showo::model::mask::Block;
use showo::model::{Piece, Showo2, Showo2Config, random};

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Flow-step time with and without the prefix cache; decode tokens/s with and without the KV cache.
    Model(BenchArgs),
    /// Live-preview cost (latent->RGB map, full VAE decode) as a fraction of a flow step.
    Previews(super::bench_previews::PreviewBenchArgs),
    /// The catalog's memory estimate next to the measured peak RSS of a real run on the CPU.
    Memory(super::bench_memory::MemoryBenchArgs),
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Model(args) => run_model(args),
        BenchCommand::Previews(args) => super::bench_previews::run(args),
        BenchCommand::Memory(args) => super::bench_memory::run(args),
    }
}

#[derive(Args)]
pub struct BenchArgs {
    /// `golden` (the tiny golden checkpoint), `1.5b` (random weights, real Show-o2-1.5B shapes)
    /// or a checkpoint folder with model.safetensors.
    #[arg(long, default_value = "golden")]
    model: String,
    /// Token grid side for the random 1.5B model (27 = 432 px; smaller keeps the CPU run short).
    #[arg(long, default_value_t = 4)]
    grid: usize,
    /// Prompt length in tokens.
    #[arg(long, default_value_t = 16)]
    prompt_tokens: usize,
    /// Timed flow steps per variant.
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// Tokens decoded per variant.
    #[arg(long, default_value_t = 8)]
    tokens: usize,
}

fn run_model(args: BenchArgs) -> Result<()> {
    let dev = Device::Cpu;
    let t0 = Instant::now();
    let (label, model) = load(&args, &dev)?;
    println!(
        "model: {label} (built in {:.1} s, peak RSS so far {})",
        t0.elapsed().as_secs_f64(),
        peak_rss()
    );
    let cfg = model.config().clone();
    let (gh, gw) = cfg.native_grid();
    let c = cfg.showo.image_latent_dim;
    let vocab = cfg.showo.llm_vocab_size as u32;
    // Ordinary ids well below the special range; the values do not affect timing.
    let prompt: Vec<u32> = (0..args.prompt_tokens as u32)
        .map(|i| 10 + i % (vocab / 2))
        .collect();
    let (bos, boi, pad) = (vocab - 25, vocab - 16, vocab - 4);
    let n_img = gh * gw;
    let max_text = args.prompt_tokens + 4;
    let row = |p: &[u32]| -> Vec<u32> {
        let mut r = vec![bos];
        r.extend_from_slice(p);
        r.push(boi);
        r.extend(std::iter::repeat_n(pad - 1, n_img + 1));
        r.extend([boi + 1, bos + 1]);
        r.extend(std::iter::repeat_n(pad, max_text - p.len()));
        r
    };
    let rows = [row(&prompt), row(&[])];
    let tokens = Tensor::new(vec![rows[0].clone(), rows[1].clone()], &dev)?;
    let blocks = vec![
        vec![Block::new(prompt.len() + 2, n_img + 1)],
        vec![Block::new(2, n_img + 1)],
    ];
    let (lh, lw) = cfg.native_latent();
    let x = Tensor::randn(0f32, 1.0, (2, c, lh, lw), &dev)?;
    let t = Tensor::new(&[0.3f32, 0.3], &dev)?;
    println!(
        "sequence: {} tokens per row, {n_img} image tokens, CFG batch 2",
        rows[0].len()
    );

    // Official: the whole padded sequence every step, logits included.
    let full = time_per(args.steps, || {
        model
            .forward(&tokens, &x, &t, &blocks, true, None)
            .map(|_| ())
    })?;
    // Ours: text prefix cached once, only the image block per step, no lm_head.
    let prefixes = vec![rows[0][..prompt.len() + 2].to_vec(), rows[1][..2].to_vec()];
    let t_prefill = Instant::now();
    let prefix = model.prefill_generation(&prefixes)?;
    let prefill = t_prefill.elapsed().as_secs_f64();
    let cached = time_per(args.steps, || model.velocity(&prefix, &x, &t).map(|_| ()))?;
    println!("flow step (CFG batch 2):");
    println!("  official full forward     {:>9.1} ms/step", full * 1e3);
    println!(
        "  prefix-cached velocity    {:>9.1} ms/step  ({:.2}x faster; one-off prefill {:.1} ms)",
        cached * 1e3,
        full / cached,
        prefill * 1e3
    );

    // Decoding after an image-understanding prompt.
    let img = model.image_tokens(&x.i(0..1)?, None)?.i(0)?;
    let pieces = [
        Piece::Tokens(vec![bos]),
        Piece::Tokens(prompt.clone()),
        Piece::Tokens(vec![boi]),
        Piece::Embeds(model.clean_time_token()?),
        Piece::Embeds(img),
        Piece::Tokens(vec![boi + 1]),
        Piece::Tokens(prompt.clone()),
    ];
    let embeds = model.assemble(&pieces)?;
    let blk = [Block::new(prompt.len() + 2, n_img + 1)];
    let kv = decode_rate(&model, &embeds, &blk, args.tokens, true)?;
    let recompute = decode_rate(&model, &embeds, &blk, args.tokens, false)?;
    println!(
        "decode ({} prompt positions, {} new tokens):",
        embeds.dim(1)?,
        args.tokens
    );
    println!("  KV cache                  {kv:>9.2} tokens/s");
    println!(
        "  recompute per token       {recompute:>9.2} tokens/s  (KV cache {:.2}x faster)",
        kv / recompute
    );
    println!("peak RSS: {}", peak_rss());
    Ok(())
}

fn load(args: &BenchArgs, dev: &Device) -> Result<(String, Showo2)> {
    match args.model.as_str() {
        "golden" => {
            let dir = showo::golden::golden_dir().join("model");
            load_dir(&dir).map(|m| (format!("golden tiny ({})", dir.display()), m))
        }
        "1.5b" => {
            let cfg = random::showo2_1_5b_config(args.grid);
            let (model, n) = random::random_showo2(&cfg, DType::F32, dev, 7)?;
            Ok((
                format!(
                    "random Show-o2-1.5B shapes, {:.3} B params f32, grid {}",
                    n as f64 / 1e9,
                    args.grid
                ),
                model,
            ))
        }
        dir => load_dir(std::path::Path::new(dir)).map(|m| (dir.to_string(), m)),
    }
}

fn load_dir(dir: &std::path::Path) -> Result<Showo2> {
    let cfg = Showo2Config::from_dir(dir)?;
    let st = dir.join("model.safetensors");
    if !st.exists() {
        bail!(
            "{} has no model.safetensors (convert a .bin checkpoint with `showo-studio convert`)",
            dir.display()
        );
    }
    // Safety: the file is memory-mapped read-only and not modified while mapped.
    let vb =
        unsafe { candle_nn::VarBuilder::from_mmaped_safetensors(&[st], DType::F32, &Device::Cpu)? };
    Showo2::new(&cfg, vb).context("building the model")
}

/// Mean seconds per call over `n` calls after one warm-up call.
fn time_per(n: usize, mut f: impl FnMut() -> candle_core::Result<()>) -> Result<f64> {
    f()?;
    let start = Instant::now();
    for _ in 0..n.max(1) {
        f()?;
    }
    Ok(start.elapsed().as_secs_f64() / n.max(1) as f64)
}

/// Greedy tokens per second, with the KV cache or recomputing everything per token.
fn decode_rate(
    model: &Showo2,
    embeds: &Tensor,
    blocks: &[Block],
    n: usize,
    cached: bool,
) -> Result<f64> {
    let start = Instant::now();
    let mut seq = embeds.clone();
    let mut cache = model.new_kv_cache();
    let mut logits = model.llm_logits(&seq, blocks, &mut cache, false)?;
    for _ in 0..n {
        let id = logits.squeeze(0)?.argmax(0)?.to_scalar::<u32>()?;
        let next = model
            .embed_tokens(&Tensor::new(&[id], model.device())?)?
            .unsqueeze(0)?;
        logits = if cached {
            model.llm_logits(&next, blocks, &mut cache, false)?
        } else {
            seq = Tensor::cat(&[&seq, &next], 1)?;
            let mut fresh = model.new_kv_cache();
            model.llm_logits(&seq, blocks, &mut fresh, false)?
        };
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Peak resident set size of this process (VmHWM), as text.
pub fn peak_rss() -> String {
    super::bench_memory::proc_status_bytes("VmHWM:")
        .map_or_else(|| "unknown".into(), |b| format!("{} kB", b / 1024))
}
