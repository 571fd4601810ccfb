//! How plainly the VAE's latent says which kind a shape is: a linear classifier fitted on the
//! latents of one-shape pictures, scored on pictures it did not see.
//!
//! Everything downstream reads shapes from these latents: the flow model is trained to
//! reproduce them under a mean-squared loss, the LLM answers from them. A kind that only a
//! careful nonlinear reading can recover is a kind both of them can afford to ignore. v6's VAE
//! (trained on pixels alone) lets a linear probe tell circle, square and triangle apart 83% of
//! the time; a VAE trained with the auxiliary kind head (`train::kind_head`) 100%.

use candle_core::{D, DType, IndexOp, Tensor, Var};
use candle_nn::Optimizer;

use super::dataset::WorldDataset;
use super::world::ShapeKind;
use crate::pipeline::{Pipeline, Result};

/// Latent cells per side of the window around the shape the probe reads.
const WINDOW: usize = 4;

/// What the probe found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatentProbe {
    /// Share of the held-out pictures whose kind it names right.
    pub accuracy: f64,
    pub fitted: usize,
    pub scored: usize,
}

/// A linear probe on the latent window around the shape, fitted on `pictures` one-shape
/// pictures and scored on a third as many others (training seeds: the probe judges the VAE,
/// not generalisation).
pub fn latent_kind_probe(p: &Pipeline, pictures: usize) -> Result<LatentProbe> {
    let data = WorldDataset::train(p.native_size().0, 9)
        .map_err(|e| crate::pipeline::bad_setting("world", e, "a valid resolution"))?;
    let held = pictures / 3;
    let (mut features, mut labels) = (Vec::new(), Vec::new());
    for i in 0.. {
        if labels.len() == pictures + held {
            break;
        }
        let (scene, image) = data.image(i);
        let [shape] = scene.shapes.as_slice() else {
            continue;
        };
        let z = p.encode_image(&image)?; // (1, C, h, w)
        let (_, _, h, w) = z.dims4()?;
        let corner = |centre: f32, side: usize| {
            ((centre * side as f32).round() as i64 - WINDOW as i64 / 2)
                .clamp(0, side.saturating_sub(WINDOW) as i64) as usize
        };
        let (x0, y0) = (corner(shape.centre.0, w), corner(shape.centre.1, h));
        let window = z.i((0, .., y0..y0 + WINDOW.min(h), x0..x0 + WINDOW.min(w)))?;
        features.push(window.flatten_all()?);
        labels.push(shape.kind.index() as u32);
    }
    let x = Tensor::stack(&features, 0)?;
    let y = Tensor::new(labels.as_slice(), p.device())?;
    Ok(LatentProbe {
        accuracy: fit_and_score(&x, &y, pictures)?,
        fitted: pictures,
        scored: held,
    })
}

/// Multinomial logistic regression on the first `fit` rows (standardised by their statistics),
/// accuracy on the rest.
fn fit_and_score(x: &Tensor, y: &Tensor, fit: usize) -> candle_core::Result<f64> {
    let train = x.i(..fit)?;
    let mean = train.mean_keepdim(0)?;
    let spread = train
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
    let logits = |rows: &Tensor| rows.matmul(w.as_tensor())?.broadcast_add(b.as_tensor());
    let (x_fit, y_fit) = (x.i(..fit)?, y.i(..fit)?);
    for _ in 0..400 {
        opt.backward_step(&candle_nn::loss::cross_entropy(&logits(&x_fit)?, &y_fit)?)?;
    }
    let predicted = logits(&x.i(fit..)?)?.argmax(D::Minus1)?;
    let right = predicted
        .eq(&y.i(fit..)?)?
        .to_dtype(DType::F32)?
        .mean_all()?;
    Ok(right.to_scalar::<f32>()? as f64)
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
        assert_eq!(fit_and_score(&separable, &y, 200).unwrap(), 1.0);
        let chance = fit_and_score(&noise, &y, 200).unwrap();
        assert!(chance < 0.6, "{chance}");
    }
}
