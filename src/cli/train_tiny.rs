//! `showo-studio train-tiny --out DIR`: trains the built-in model from scratch (resumable).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use showo::train::tiny::{TrainOptions, run as train};

#[derive(Args)]
pub struct TrainTinyArgs {
    /// Output folder; re-running with the same folder resumes from its checkpoints.
    #[arg(long)]
    out: PathBuf,
    /// VAE training steps.
    #[arg(long)]
    vae_steps: Option<usize>,
    /// Unified-model training steps.
    #[arg(long)]
    steps: Option<usize>,
    /// Latent patch side of the unified model: 1 (default since v9: one token per latent cell)
    /// or 2 (as the released checkpoints; the built-in model up to v8, README).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=2))]
    patch_size: Option<u64>,
    /// Text-to-image rows per unified step.
    #[arg(long)]
    t2i_batch: Option<usize>,
    /// Image-question rows per unified step.
    #[arg(long)]
    qa_batch: Option<usize>,
    /// Clip-question rows per unified step.
    #[arg(long)]
    clip_batch: Option<usize>,
    /// Frames of each clip the model sees (uniformly spaced, first and last included).
    #[arg(long)]
    clip_frames: Option<usize>,
    /// Tokens per side of each clip frame (4 = v9's 2x2 pooling, the default; 8 = unpooled at
    /// patch 1).
    #[arg(long)]
    clip_grid: Option<usize>,
    /// Peak learning rate of the unified phase.
    #[arg(long)]
    lr: Option<f64>,
    /// Weight of the VAE's auxiliary shape-kind loss on the latent cells shapes cover (0 =
    /// none).
    #[arg(long)]
    vae_kind_weight: Option<f32>,
    /// Extra flow-loss weight of latent cells covered by shapes (0 = the official plain mean).
    #[arg(long)]
    flow_shape_weight: Option<f32>,
    /// Extra flow-loss weight of latent cells a two-tone background's split crosses (0 = none,
    /// the shipped recipe; an experiment).
    #[arg(long)]
    flow_seam_weight: Option<f32>,
    /// Train text-to-image on original/counterfactual twins sharing noise (true, an
    /// experiment) or on independent pictures (false, the default and the shipped recipe).
    #[arg(long)]
    counterfactual_twins: Option<bool>,
    /// Extra flow-loss weight of the latent cells where a pair of twins differs (0 = none).
    #[arg(long)]
    twin_difference_weight: Option<f32>,
    /// Decoder-refinement steps (phase 3; 0 skips it).
    #[arg(long)]
    decoder_steps: Option<usize>,
    /// Whole pictures per phase-3 step decoded from the phase-2 model's own predictions
    /// (0 = none).
    #[arg(long)]
    decoder_flow_batch: Option<usize>,
    /// Take those predictions from the end of short sampler runs (true) instead of one step.
    #[arg(long)]
    decoder_flow_tail: Option<bool>,
    /// Decoder-polish steps (phase 4, 1,500 since v10; 0 skips it).
    #[arg(long)]
    polish_steps: Option<usize>,
    /// Largest latent noise of the polish's last step (it falls from the VAE's 0.3).
    #[arg(long)]
    polish_noise: Option<f32>,
    /// Steps of the decoder's sharpening against a patch critic (phase 5; 0 skips it).
    #[arg(long)]
    sharpen_steps: Option<usize>,
    /// Weight of the critic's verdict in the decoder's loss while sharpening.
    #[arg(long)]
    sharpen_weight: Option<f32>,
    /// Steps of the decoder on the model's own generations redrawn as the world draws them
    /// (phase 6; default 1,000 since v11; 0 skips it).
    #[arg(long)]
    redraw_steps: Option<usize>,
    /// Generations sampled for the redraw bank (the redrawable ones are kept).
    #[arg(long)]
    redraw_pictures: Option<usize>,
    /// Bank entries each redraw step decodes.
    #[arg(long)]
    redraw_batch: Option<usize>,
    /// Peak learning rate of the redraw phase, as a share of the VAE's.
    #[arg(long)]
    redraw_lr_share: Option<f64>,
    /// Extra weight of the pixels the redraw phase gets most wrong (0 = the plain loss).
    #[arg(long)]
    redraw_focus: Option<f32>,
    /// Text-to-image rows each unified step adds from the redraw bank already in `--out`, on
    /// the noise each generation started from (reflow, an experiment; 0 = none).
    #[arg(long)]
    reflow_rows: Option<usize>,
    /// Decay of the weight average phase 2 ships, in [0, 1) (0.999 since v10; 0 = the last
    /// weights, which always stay in `model.ckpt.safetensors`).
    #[arg(long)]
    ema_decay: Option<f64>,
    /// Checkpoint every N steps.
    #[arg(long)]
    checkpoint_every: Option<usize>,
    /// Seed of the run: initial weights, batches' noise and caption dropout (the world's
    /// pictures do not depend on it; default 2026). Two runs with one seed write the same
    /// bytes; give the same seed again when resuming.
    #[arg(long)]
    seed: Option<u64>,
}

/// candle (0.11) runs large element-wise ops on one process-wide pool, sized once, whose calls
/// take a lock and whose callers spin until its workers finish. Phase 2's two lanes (one per
/// core) then queue behind each other on that lock while the pool's worker spins on a third
/// thread. Measured on this 2-core machine, the unified phase ran at 1.08 s/step while the
/// pools were first encoded and 0.57 s/step after; with a pool of none (the caller runs the
/// op itself) 0.6 s/step while encoding and 0.27 s/step after, and the VAE phase 0.23 s/step
/// instead of 0.29. Matrix products keep their own threads (`RAYON_NUM_THREADS`), so phases 1
/// and 3 still use every core for them. The variable must be set before the first candle op,
/// because the pool is sized once; a value the user set is kept.
fn one_thread_elementwise_pool() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: called first thing in the command, before any other thread of this
        // program exists (no candle op and no pool has run yet).
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
}

pub fn run(args: TrainTinyArgs) -> Result<()> {
    one_thread_elementwise_pool();
    let mut opts = TrainOptions::new(args.out);
    opts.vae_steps = args.vae_steps.unwrap_or(opts.vae_steps);
    opts.steps = args.steps.unwrap_or(opts.steps);
    opts.patch_size = args.patch_size.map_or(opts.patch_size, |p| p as usize);
    opts.t2i_batch = args.t2i_batch.unwrap_or(opts.t2i_batch);
    opts.qa_batch = args.qa_batch.unwrap_or(opts.qa_batch);
    opts.clip_batch = args.clip_batch.unwrap_or(opts.clip_batch);
    opts.clip_frames_seen = args.clip_frames.unwrap_or(opts.clip_frames_seen);
    opts.clip_grid = args.clip_grid.unwrap_or(opts.clip_grid);
    opts.lr = args.lr.unwrap_or(opts.lr);
    opts.flow_shape_weight = args.flow_shape_weight.unwrap_or(opts.flow_shape_weight);
    opts.flow_seam_weight = args.flow_seam_weight.unwrap_or(opts.flow_seam_weight);
    opts.vae_kind_weight = args.vae_kind_weight.unwrap_or(opts.vae_kind_weight);
    opts.counterfactual_twins = args
        .counterfactual_twins
        .unwrap_or(opts.counterfactual_twins);
    opts.twin_difference_weight = args
        .twin_difference_weight
        .unwrap_or(opts.twin_difference_weight);
    opts.decoder_steps = args.decoder_steps.unwrap_or(opts.decoder_steps);
    opts.decoder_flow_batch = args.decoder_flow_batch.unwrap_or(opts.decoder_flow_batch);
    opts.decoder_flow_tail = args.decoder_flow_tail.unwrap_or(opts.decoder_flow_tail);
    opts.polish_steps = args.polish_steps.unwrap_or(opts.polish_steps);
    opts.polish_noise = args.polish_noise.unwrap_or(opts.polish_noise);
    opts.sharpen_steps = args.sharpen_steps.unwrap_or(opts.sharpen_steps);
    opts.sharpen_weight = args.sharpen_weight.unwrap_or(opts.sharpen_weight);
    opts.redraw_steps = args.redraw_steps.unwrap_or(opts.redraw_steps);
    opts.redraw_pictures = args.redraw_pictures.unwrap_or(opts.redraw_pictures);
    opts.redraw_batch = args.redraw_batch.unwrap_or(opts.redraw_batch);
    opts.redraw_lr_share = args.redraw_lr_share.unwrap_or(opts.redraw_lr_share);
    opts.redraw_focus = args.redraw_focus.unwrap_or(opts.redraw_focus);
    opts.reflow_rows = args.reflow_rows.unwrap_or(opts.reflow_rows);
    opts.ema_decay = args.ema_decay.unwrap_or(opts.ema_decay);
    opts.checkpoint_every = args.checkpoint_every.unwrap_or(opts.checkpoint_every);
    opts.seed = args.seed.unwrap_or(opts.seed);
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>8} [{elapsed_precise}] {wide_bar} {pos}/{len} (eta {eta}) {msg}",
        )
        .expect("static template"),
    );
    let mut phase = String::new();
    let started = Instant::now();
    let mut phase_started = Instant::now();
    // The first step this process finished in the phase (a resumed phase starts past 1).
    let mut phase_first_step = 1;
    let mut report = |p: &str, step: usize, total: usize, vals: &[(&str, f64)]| {
        if phase != p {
            phase = p.to_string();
            phase_started = Instant::now();
            phase_first_step = step;
            bar.set_prefix(p.to_string());
            bar.set_length(total as u64);
            bar.reset_eta();
        }
        bar.set_position(step as u64);
        let msg: Vec<String> = vals.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        let msg = msg.join("  ");
        // A run in the background (output to a file) has no bar to draw: log a line every
        // 100 steps instead, with the pace, so its log says how far it is and how fast.
        if bar.is_hidden() && (step.is_multiple_of(100) || step == total) {
            let phase_s = phase_started.elapsed().as_secs_f64();
            eprintln!(
                "{p} {step}/{total}  {:.0} s in all, {:.2} s/step  {msg}",
                started.elapsed().as_secs_f64(),
                // Timed from the end of the phase's first step.
                phase_s / (step - phase_first_step).max(1) as f64
            );
        }
        bar.set_message(msg);
    };
    train(&opts, &mut report)?;
    bar.finish_with_message(format!("done: {}", opts.out.display()));
    Ok(())
}
