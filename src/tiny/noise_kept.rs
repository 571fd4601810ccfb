//! How much of the start noise the flow model fails to remove.
//!
//! On the path x_t = t·x1 + (1-t)·x0 the clean latent a velocity predicts is
//! x̂1 = x_t + (1-t)·v (what the sampler's last step returns). The ideal velocity knows the noise
//! exactly once it has guessed the picture (x0 = (x_t - t·x̂1)/(1-t)), so the ideal x̂1 - x1 is
//! the guess's error alone and owes nothing to x0. A model that cannot read x_t back out of its
//! own input leaves the noise in: x̂1 - x1 ≈ k·(1-t)·x0 with k near 1, and every picture it
//! draws carries the start noise that its decoder then has to see through.
//!
//! That is what the official unpatchify does to a small model at patch 2 (see
//! `model::showo2::unpatchify`): output token k fills the raster cells 4k..4k+3, not the 2x2
//! patch token k was made from, so reading the noise back means fetching it from other tokens
//! through attention. The v8 built-in model (patch 2) kept 0.90 of the noise at t = 0.3; v9,
//! at patch 1, where unpatchify is the identity, keeps 0.06 (40 held-out pictures each).

use candle_core::Tensor;

use super::dataset::WorldDataset;
use super::grammar::canonical_caption;
use super::word_response::dot;
use crate::pipeline::generate::{Guided, seeded_noise};
use crate::pipeline::preview::predicted_clean;
use crate::pipeline::sampler::on_path;
use crate::pipeline::{Pipeline, Result};

/// Noise seeds of this probe (apart from text-to-image's, which are the picture indices).
const NOISE_SEEDS: u64 = 1 << 40;

/// The mean over the probed pictures at one time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseKept {
    pub t: f32,
    /// The share k of (1-t)·x0 left in x̂1 - x1 (0 = all removed, 1 = none).
    pub kept: f64,
    /// Root-mean-square of x̂1 - x1 per latent value (the latents have unit spread).
    pub rms_error: f64,
    pub pictures: usize,
}

/// `NoiseKept` at each of `times` over the first `pictures` text-to-image pictures of `data`
/// (held-out ones in `eval-tiny`), each under its own caption without guidance (the
/// conditional velocity alone).
pub fn noise_kept(
    p: &Pipeline,
    data: &WorldDataset,
    pictures: usize,
    times: &[f32],
) -> Result<Vec<NoiseKept>> {
    let mut sums = vec![(0.0f64, 0.0f64); times.len()];
    for i in 0..pictures as u64 {
        let c = data.captioned_image(i);
        let x1 = p.encode_image(&c.image)?;
        let field = Guided::new(p, &p.prompt_ids(&canonical_caption(&c.scene))?, &[], 1.0)?;
        let (_, ch, h, w) = x1.dims4()?;
        let x0 = seeded_noise(NOISE_SEEDS + i, (ch, h, w), false, p.device())?;
        for (k, &t) in times.iter().enumerate() {
            let xt = on_path(&x1, &x0, t)?;
            let predicted = predicted_clean(&xt, &field.velocity(&xt, t)?, t)?;
            let error = (predicted - &x1)?;
            let (kept, rms) = noise_share(&error, &x0, t)?;
            sums[k].0 += kept;
            sums[k].1 += rms;
        }
    }
    let n = pictures.max(1) as f64;
    Ok(times
        .iter()
        .zip(sums)
        .map(|(&t, (kept, rms))| NoiseKept {
            t,
            kept: kept / n,
            rms_error: rms / n,
            pictures,
        })
        .collect())
}

/// (k, rms): the least-squares k in `error` ≈ k·(1-t)·`noise`, and the root-mean-square of
/// `error`.
pub fn noise_share(error: &Tensor, noise: &Tensor, t: f32) -> candle_core::Result<(f64, f64)> {
    let along = dot(error, noise)?;
    let noise_sq = dot(noise, noise)?.max(1e-12);
    let kept = along / noise_sq / (1.0 - t as f64).max(1e-6);
    let rms = (dot(error, error)? / error.elem_count().max(1) as f64).sqrt();
    Ok((kept, rms))
}

/// One log line: "t=0.30 kept 0.04 (rms error 0.26), …".
pub fn summary(rows: &[NoiseKept]) -> String {
    rows.iter()
        .map(|r| {
            format!(
                "t={:.2} kept {:.2} (rms error {:.2})",
                r.t, r.kept, r.rms_error
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn the_share_of_noise_left_is_read_back() {
        let dev = Device::Cpu;
        let noise = Tensor::new(&[1.0f32, -2.0, 0.5, 3.0], &dev).unwrap();
        let guess_error = Tensor::new(&[0.2f32, 0.1, 0.0, 0.0], &dev).unwrap();
        let t = 0.3;
        // A model that leaves 80% of the noise in, plus an error of its guess that is
        // orthogonal to the noise (1 x 0.2 - 2 x 0.1 = 0).
        let error = ((&noise * (0.8 * (1.0 - t as f64))).unwrap() + &guess_error).unwrap();
        let (kept, rms) = noise_share(&error, &noise, t).unwrap();
        assert!((kept - 0.8).abs() < 1e-5, "{kept}");
        let want = (error.sqr().unwrap().mean_all().unwrap())
            .to_scalar::<f32>()
            .unwrap()
            .sqrt() as f64;
        assert!((rms - want).abs() < 1e-6);
        // The ideal model: only the guess's error.
        let (kept, _) = noise_share(&guess_error, &noise, t).unwrap();
        assert!(kept.abs() < 1e-6, "{kept}");
    }
}
