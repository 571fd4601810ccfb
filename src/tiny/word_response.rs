//! How much the flow model listens to the shape noun: the probe behind the counterfactual
//! twins of `train-tiny`.
//!
//! For a held-out picture of one circle or square, its twin is the same scene with the other
//! kind (`Scene::counterfactual`). At a point x_t = t·x1 + (1-t)·x0 on the original's path, the
//! ideal conditional velocities for the two captions differ by about (x1 - x1')/(1-t) while
//! x_t still says little about the shape (small t), and by less as the picture emerges. So
//! `(v(caption) - v(twin caption))·(1-t)` against `x1 - x1'` tells how far, and in which
//! direction, the noun moves the model: gain near 1 and cosine near 1 at small t is a model that
//! draws what it is told; gain ≈ 0 or cosine ≈ 0 is one that ignores the word.

use candle_core::Tensor;

use super::dataset::WorldDataset;
use super::grammar::canonical_caption;
use super::world::ShapeKind;
use crate::pipeline::generate::{Guided, seeded_noise};
use crate::pipeline::sampler::on_path;
use crate::pipeline::{Pipeline, Result};

/// Mean response at one time over the probed scenes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WordResponse {
    pub t: f32,
    /// |Δv|·(1-t) / |x1 - x1'|.
    pub gain: f64,
    /// cos(Δv, x1 - x1').
    pub cosine: f64,
    pub scenes: usize,
}

/// The response at each of `times`, over the first `scenes` held-out single circle or square
/// pictures (text-to-image seeds; the noise of scene `i` is `seeded_noise(i)`).
pub fn kind_word_response(p: &Pipeline, scenes: usize, times: &[f32]) -> Result<Vec<WordResponse>> {
    let data = WorldDataset::held_out(p.native_size().0, 9)
        .map_err(|e| crate::pipeline::bad_setting("world", e, "a valid resolution"))?;
    let mut sums = vec![(0.0f64, 0.0f64); times.len()];
    let mut seen = 0;
    for i in 0.. {
        if seen == scenes || i > 50 * scenes as u64 {
            break;
        }
        let c = data.captioned_image(i);
        let [shape] = c.scene.shapes.as_slice() else {
            continue;
        };
        if shape.kind == ShapeKind::Triangle {
            continue;
        }
        let twin = c.scene.counterfactual();
        let x1 = p.encode_image(&c.image)?;
        let x1_twin = p.encode_image(&twin.render(c.image.width()))?;
        let delta = (&x1 - &x1_twin)?;
        let delta_norm = norm(&delta)?;
        let own = Guided::new(p, &p.prompt_ids(&canonical_caption(&c.scene))?, &[], 1.0)?;
        let other = Guided::new(p, &p.prompt_ids(&canonical_caption(&twin))?, &[], 1.0)?;
        let x0 = seeded_noise(
            i,
            delta.dims4().map(|d| (d.1, d.2, d.3))?,
            false,
            p.device(),
        )?;
        for (k, &t) in times.iter().enumerate() {
            let xt = on_path(&x1, &x0, t)?;
            let dv = ((own.velocity(&xt, t)? - other.velocity(&xt, t)?)? * (1.0 - t as f64))?;
            let dv_norm = norm(&dv)?;
            sums[k].0 += dv_norm / delta_norm.max(1e-9);
            sums[k].1 += dot(&dv, &delta)? / (dv_norm * delta_norm).max(1e-9);
        }
        seen += 1;
    }
    let n = seen.max(1) as f64;
    Ok(times
        .iter()
        .zip(sums)
        .map(|(&t, (gain, cosine))| WordResponse {
            t,
            gain: gain / n,
            cosine: cosine / n,
            scenes: seen,
        })
        .collect())
}

fn norm(x: &Tensor) -> candle_core::Result<f64> {
    Ok(dot(x, x)?.sqrt())
}

/// Sum of the element-wise product, as f64 (the probes' inner product of two latents).
pub(super) fn dot(a: &Tensor, b: &Tensor) -> candle_core::Result<f64> {
    Ok((a * b)?.sum_all()?.to_scalar::<f32>()? as f64)
}

/// One log line: "t=0.10 gain 0.14 cos 0.04, …".
pub fn summary(rows: &[WordResponse]) -> String {
    rows.iter()
        .map(|r| format!("t={:.2} gain {:.2} cos {:.2}", r.t, r.gain, r.cosine))
        .collect::<Vec<_>>()
        .join(", ")
}
