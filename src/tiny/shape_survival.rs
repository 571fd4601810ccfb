//! At which noise level the flow model loses the shapes: the probe that locates where
//! text-to-image goes wrong.
//!
//! A held-out picture is noised to denoising strength `s` (the inpainting pipeline with the
//! whole picture masked: SDEdit) and denoised again under its own caption. At low strength the
//! noised picture still shows every corner, so the shapes survive as far as the VAE lets them;
//! at strength 1 it is plain text-to-image. The strength at which a shape stops surviving is
//! where the model, rather than the picture, has to supply it: a model that listens to the
//! shape noun keeps squares square there; one that does not rounds them into the average blob.

use image::GrayImage;

use super::checker::{detect_shapes, judge};
use super::dataset::WorldDataset;
use super::grammar::canonical_caption;
use super::world::ShapeKind;
use crate::pipeline::generate::{Control, GenerateRequest};
use crate::pipeline::inpaint::InpaintRequest;
use crate::pipeline::{Pipeline, Result};

/// Shapes kept at one strength, over the probed pictures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Survival {
    pub strength: f32,
    /// Pictures whose every shape is judged the asked kind.
    pub shapes_kept: usize,
    /// One-square pictures still showing a square (the kind the tiny models round away).
    pub squares_kept: usize,
    pub squares: usize,
    pub pictures: usize,
}

/// Denoises the first `pictures` held-out text-to-image pictures from each of `strengths`,
/// with the request settings of `base` (prompt and seed are the picture's own).
pub fn shape_survival(
    p: &Pipeline,
    data: &WorldDataset,
    pictures: usize,
    strengths: &[f32],
    base: &dyn Fn(String, u64) -> GenerateRequest,
) -> Result<Vec<Survival>> {
    let (w, h) = p.native_size();
    let whole = GrayImage::from_pixel(w, h, image::Luma([255]));
    let mut rows: Vec<Survival> = strengths
        .iter()
        .map(|&strength| Survival {
            strength,
            shapes_kept: 0,
            squares_kept: 0,
            squares: 0,
            pictures,
        })
        .collect();
    for i in 0..pictures as u64 {
        // Each picture is rendered once and denoised from every strength.
        let c = data.captioned_image(i);
        let one_square =
            matches!(c.scene.shapes.as_slice(), [only] if only.kind == ShapeKind::Square);
        let mut req = InpaintRequest::new(
            base(canonical_caption(&c.scene), i),
            c.image.clone(),
            whole.clone(),
        );
        for row in &mut rows {
            req.strength = row.strength;
            let img = Control::none(|ctl| p.inpaint(&req, ctl))?.image;
            row.shapes_kept += usize::from(judge(&img, &c.scene.shapes).shape);
            if one_square {
                row.squares += 1;
                let drawn = detect_shapes(&img).first().map(|d| d.kind);
                row.squares_kept += usize::from(drawn == Some(ShapeKind::Square));
            }
        }
    }
    Ok(rows)
}

/// One log line: "strength 0.2: 32/40 (one square 7/10), ...".
pub fn summary(rows: &[Survival]) -> String {
    rows.iter()
        .map(|s| {
            format!(
                "strength {}: {}/{} (one square {}/{})",
                s.strength, s.shapes_kept, s.pictures, s.squares_kept, s.squares
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
