//! How plainly the VAE's latent says which kind a shape is: a linear classifier fitted on the
//! latents of one-shape pictures, scored on pictures it did not see.
//!
//! Everything downstream reads shapes from these latents: the flow model is trained to
//! reproduce them under a mean-squared loss, the LLM answers from them. A kind that only a
//! careful nonlinear reading can recover is a kind both of them can afford to ignore. v6's VAE
//! (trained on pixels alone) lets a linear probe tell circle, square and triangle apart 83% of
//! the time; a VAE trained with the auxiliary kind head (`train::kind_head`) 100%.
//!
//! The same probe then reads the clean latent the flow model predicts for a held-out picture's
//! caption from a point on its noising path, x1 ≈ x_t + (1 - t) v(x_t, t): at t = 0 (pure
//! noise) that is the model's first guess of the whole picture, and a kind the probe cannot
//! find there is one the sampler has to invent later from a blob.

use candle_core::{D, DType, IndexOp, Tensor, Var};
use candle_nn::Optimizer;

use super::dataset::WorldDataset;
use super::grammar::canonical_caption;
use super::world::ShapeKind;
use crate::pipeline::generate::{Guided, seeded_noise};
use crate::pipeline::preview::predicted_clean;
use crate::pipeline::sampler::on_path;
use crate::pipeline::{Pipeline, Result};

/// Latent cells per side of the window around the shape the probe reads.
const WINDOW: usize = 4;

/// What the probe found.
pub struct LatentProbe {
    /// Share of the held-out pictures whose kind it names right.
    pub accuracy: f64,
    pub fitted: usize,
    pub scored: usize,
    /// (t, share right) on the flow model's predicted clean latents (see the module note).
    pub predicted: Vec<(f32, f64)>,
    probe: Probe,
}

impl LatentProbe {
    /// The kind the probe reads in `z` (1, C, h, w) around `centre` (fractions of the picture).
    pub fn kind_at(&self, z: &Tensor, centre: (f32, f32)) -> Result<ShapeKind> {
        let x = window(z, window_corner(z, centre)?)?.unsqueeze(0)?;
        let k = self.probe.predict(&x)?.to_vec1::<u32>()?[0];
        Ok(ShapeKind::ALL[k as usize])
    }
}

/// The top-left cell of the WINDOW x WINDOW window of `z` (1, C, h, w) centred on `centre`.
fn window_corner(z: &Tensor, centre: (f32, f32)) -> candle_core::Result<(usize, usize)> {
    let (_, _, h, w) = z.dims4()?;
    let corner = |c: f32, side: usize| {
        ((c * side as f32).round() as i64 - WINDOW as i64 / 2)
            .clamp(0, side.saturating_sub(WINDOW) as i64) as usize
    };
    Ok((corner(centre.0, w), corner(centre.1, h)))
}

/// A linear probe on the latent window around the shape, fitted on `pictures` one-shape
/// pictures and scored on a third as many others (training seeds: the probe judges the VAE,
/// not generalisation); then scored on the flow model's predictions for those others at each
/// of `times`, with guidance `guidance`.
pub fn latent_kind_probe(
    p: &Pipeline,
    pictures: usize,
    times: &[f32],
    guidance: f32,
) -> Result<LatentProbe> {
    let data = WorldDataset::train(p.native_size().0, 9)
        .map_err(|e| crate::pipeline::bad_setting("world", e, "a valid resolution"))?;
    let held = pictures / 3;
    let (mut features, mut labels) = (Vec::new(), Vec::new());
    let mut held_out = Vec::new(); // (seed, scene, latent, window corner)
    for i in 0.. {
        if labels.len() == pictures + held {
            break;
        }
        let (scene, image) = data.image(i);
        let [shape] = scene.shapes.as_slice() else {
            continue;
        };
        let z = p.encode_image(&image)?; // (1, C, h, w)
        let at = window_corner(&z, shape.centre)?;
        features.push(window(&z, at)?);
        labels.push(shape.kind.index() as u32);
        if labels.len() > pictures {
            held_out.push((i, scene, z, at));
        }
    }
    let x = Tensor::stack(&features, 0)?;
    let y = Tensor::new(labels.as_slice(), p.device())?;
    let probe = Probe::fit(&x.i(..pictures)?, &y.i(..pictures)?)?;
    let held_labels = y.i(pictures..)?;
    let accuracy = probe.accuracy(&x.i(pictures..)?, &held_labels)?;

    let mut guesses: Vec<Vec<Tensor>> = vec![Vec::with_capacity(held); times.len()];
    for (seed, scene, x1, at) in &held_out {
        let field = Guided::new(p, &p.prompt_ids(&canonical_caption(scene))?, &[], guidance)?;
        let (_, c, h, w) = x1.dims4()?;
        let x0 = seeded_noise(*seed, (c, h, w), false, p.device())?;
        for (k, &t) in times.iter().enumerate() {
            let xt = on_path(x1, &x0, t)?;
            let clean = predicted_clean(&xt, &field.velocity(&xt, t)?, t)?;
            guesses[k].push(window(&clean, *at)?);
        }
    }
    let predicted = times
        .iter()
        .zip(&guesses)
        .map(|(&t, rows)| Ok((t, probe.accuracy(&Tensor::stack(rows, 0)?, &held_labels)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(LatentProbe {
        accuracy,
        fitted: pictures,
        scored: held,
        predicted,
        probe,
    })
}

/// The flattened WINDOW x WINDOW cells of `z` (1, C, h, w) from corner `(x0, y0)`.
fn window(z: &Tensor, (x0, y0): (usize, usize)) -> candle_core::Result<Tensor> {
    let (_, _, h, w) = z.dims4()?;
    z.i((0, .., y0..y0 + WINDOW.min(h), x0..x0 + WINDOW.min(w)))?
        .flatten_all()
}

/// Multinomial logistic regression on standardised features.
struct Probe {
    mean: Tensor,
    spread: Tensor,
    w: Tensor,
    b: Tensor,
}

impl Probe {
    /// Fitted on rows `x` (N, F) with kinds `y` (N), standardised by their own statistics.
    fn fit(x: &Tensor, y: &Tensor) -> candle_core::Result<Self> {
        let mean = x.mean_keepdim(0)?;
        let spread = x
            .broadcast_sub(&mean)?
            .sqr()?
            .mean_keepdim(0)?
            .sqrt()?
            .affine(1.0, 1e-4)?;
        let x = x.broadcast_sub(&mean)?.broadcast_div(&spread)?;
        let classes = ShapeKind::ALL.len();
        let w = Var::zeros((x.dim(1)?, classes), DType::F32, x.device())?;
        let b = Var::zeros(classes, DType::F32, x.device())?;
        let mut opt = candle_nn::optim::AdamW::new(
            vec![w.clone(), b.clone()],
            candle_nn::optim::ParamsAdamW {
                lr: 0.01,
                weight_decay: 0.01,
                ..Default::default()
            },
        )?;
        for _ in 0..400 {
            let logits = x.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?;
            opt.backward_step(&candle_nn::loss::cross_entropy(&logits, y)?)?;
        }
        Ok(Self {
            mean,
            spread,
            w: w.as_tensor().detach(),
            b: b.as_tensor().detach(),
        })
    }

    /// The kind index of each row of `x` (N, F).
    fn predict(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = x.broadcast_sub(&self.mean)?.broadcast_div(&self.spread)?;
        x.matmul(&self.w)?.broadcast_add(&self.b)?.argmax(D::Minus1)
    }

    /// Share of rows `x` (N, F) whose kind it names as `y` (N).
    fn accuracy(&self, x: &Tensor, y: &Tensor) -> candle_core::Result<f64> {
        let right = self.predict(x)?.eq(y)?.to_dtype(DType::F32)?.mean_all()?;
        Ok(right.to_scalar::<f32>()? as f64)
    }
}

/// One log line: "t=0.00 41%, t=0.30 62%, …".
pub fn predicted_summary(probe: &LatentProbe) -> String {
    probe
        .predicted
        .iter()
        .map(|(t, right)| format!("t={t:.2} {:.0}%", 100.0 * right))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linearly_separable_feature_scores_full_marks_and_noise_chance() {
        let dev = candle_core::Device::Cpu;
        let n = 300;
        let labels: Vec<u32> = (0..n).map(|i| (i % 3) as u32).collect();
        let y = Tensor::new(labels.as_slice(), &dev).unwrap();
        let noise = Tensor::randn(0f32, 1.0, (n, 8), &dev).unwrap();
        let one_hot = candle_nn::encoding::one_hot(y.clone(), 3, 1f32, 0f32).unwrap();
        let separable = Tensor::cat(&[&noise, &one_hot], 1).unwrap();
        let score = |x: &Tensor| {
            Probe::fit(&x.i(..200).unwrap(), &y.i(..200).unwrap())
                .unwrap()
                .accuracy(&x.i(200..).unwrap(), &y.i(200..).unwrap())
                .unwrap()
        };
        assert_eq!(score(&separable), 1.0);
        let chance = score(&noise);
        assert!(chance < 0.6, "{chance}");
    }
}
