//! Inpainting: regenerate the painted part of an image, training-free.
//!
//! 1. The image is padded to the 16-px grid (edge pixels repeated) and VAE-encoded: `known`.
//! 2. The painted mask is max-pooled to the latent grid (one painted pixel claims its 8x8 cell)
//!    and dilated by `dilate_cells`, so VAE leakage across the edge is regenerated too.
//! 3. Sampling as text-to-image, but after every Euler step the kept region is replaced by
//!    `known` forward-noised to the step's new time with the run's own noise (at t = 1 it is
//!    exactly `known`); optional RePaint resampling jumps back and redoes each step.
//! 4. The decode is composited over the input with the mask feathered outwards by
//!    `feather_px`: every pixel outside the feathered mask is the input's, bit for bit.

use candle_core::{DType, Tensor};
use image::{GrayImage, RgbImage};

use crate::media::{
    self, CanvasFill, GenerationMode, Growth, LATENT_DOWNSAMPLE, MaskInfo, MediaError,
};

use super::generate::{Blend, Control, Denoise, GenerateRequest, Generated, decode_latent};
use super::{Pipeline, Result, bad_setting};

#[derive(Debug, Clone)]
pub struct InpaintRequest {
    /// Prompt, seed, steps, guidance, previews (the size is the image's).
    pub base: GenerateRequest,
    pub image: RgbImage,
    /// Same size as the image; white (>= 128 after feathering rules) = regenerate.
    pub mask: GrayImage,
    /// Latent cells the mask grows by (1 hides the VAE's edge leakage).
    pub dilate_cells: u32,
    /// Outward feather of the final pixel composite (keep <= 8 x dilate_cells).
    pub feather_px: f32,
    /// RePaint jumps per step (0 = off).
    pub resample: usize,
    /// Denoising strength in (0, 1]: 1 redraws the masked area from pure noise; lower keeps
    /// more of what is there (its layout and outline) under the new prompt.
    pub strength: f32,
}

impl InpaintRequest {
    pub fn new(base: GenerateRequest, image: RgbImage, mask: GrayImage) -> Self {
        Self {
            base,
            image,
            mask,
            dilate_cells: 1,
            feather_px: 8.0,
            resample: 0,
            strength: 1.0,
        }
    }
}

/// How the masked area is generated (shared by inpainting and extension).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlendSettings {
    pub dilate_cells: u32,
    pub resample: usize,
    pub strength: f32,
}

/// Strength must lie in (0, 1] (`media::strength_in_range`).
fn check_strength(strength: f32) -> Result<()> {
    if media::strength_in_range(strength) {
        Ok(())
    } else {
        Err(bad_setting(
            "strength",
            strength,
            "a share in (0, 1] (1 = from pure noise)",
        ))
    }
}

impl Pipeline {
    pub fn inpaint(&self, req: &InpaintRequest, ctl: &mut Control) -> Result<Generated> {
        let (w, h) = req.image.dimensions();
        if w == 0 || h == 0 {
            return Err(MediaError::ZeroSizeImage {
                file: "image to inpaint".into(),
                width: w,
                height: h,
            }
            .into());
        }
        media::validate_mask_size(&req.mask, "mask", w, h, "image")?;
        if !req.feather_px.is_finite() || req.feather_px < 0.0 {
            return Err(bad_setting(
                "feather",
                req.feather_px,
                "a radius >= 0 pixels",
            ));
        }
        if req.mask.pixels().all(|p| p[0] < 128) {
            return Err(bad_setting(
                "mask",
                "no painted pixel",
                "white (>= 128) where the image should change",
            ));
        }
        let generated = self.blend_generate(
            &req.base,
            &req.image,
            &req.mask,
            BlendSettings {
                dilate_cells: req.dilate_cells,
                resample: req.resample,
                strength: req.strength,
            },
            ctl,
        )?;
        let alpha = media::feather(&req.mask, req.feather_px);
        let image = media::composite(&req.image, &generated.0, &alpha)?;
        let mut params = self.params(&req.base, w, h, GenerationMode::Inpaint);
        params.mask = Some(MaskInfo {
            mask_hash: mask_hash(&req.mask),
            feather_px: req.feather_px,
            dilate_cells: req.dilate_cells,
            repaint_jumps: Some(req.resample as u32),
            strength: Some(req.strength),
        });
        Ok(Generated {
            image,
            latent: generated.1,
            trajectory: generated.2,
            params,
        })
    }

    /// Samples with the unmasked part of `image` kept in latent space; returns the decoded
    /// picture at the image's own size (before the pixel composite), the latent and previews.
    pub(crate) fn blend_generate(
        &self,
        base: &GenerateRequest,
        image: &RgbImage,
        mask: &GrayImage,
        settings: BlendSettings,
        ctl: &mut Control,
    ) -> Result<(RgbImage, Tensor, Vec<RgbImage>)> {
        check_strength(settings.strength)?;
        let ids = self.prompt_ids(&base.prompt)?;
        let negative_ids = self.negative_prompt_ids(&base.negative_prompt)?;
        let (w, h) = image.dimensions();
        // Pad to the model's grid: the padding is "kept" (edge pixels) and cropped afterwards.
        let plan = media::plan_canvas_extension(w, h, Growth::default(), self.grid_px())?;
        let canvas = media::place_on_canvas(image, &plan, CanvasFill::ReplicateEdge)?;
        let mask_canvas = GrayImage::from_fn(plan.canvas_width, plan.canvas_height, |x, y| {
            let (ox, oy) = (x.wrapping_sub(plan.offset_x), y.wrapping_sub(plan.offset_y));
            if ox < w && oy < h {
                *mask.get_pixel(ox, oy)
            } else {
                image::Luma([0])
            }
        });
        self.check_canvas(plan.canvas_width, plan.canvas_height)?;
        let dev = self.device();
        let known = self
            .vae
            .encode(&super::generate::rgb_to_tensor(&canvas, dev)?)?
            .to_dtype(DType::F32)?;
        let cells = media::dilate(
            &media::downsample_max(&mask_canvas, LATENT_DOWNSAMPLE),
            settings.dilate_cells,
        );
        let (mw, mh) = cells.dimensions();
        let m: Vec<f32> = cells
            .pixels()
            .map(|p| if p[0] > 0 { 1.0 } else { 0.0 })
            .collect();
        let latent_mask = Tensor::from_vec(m, (1, 1, mh as usize, mw as usize), dev)?;
        let run = Denoise {
            pipe: self,
            prompt_ids: ids,
            negative_ids,
            width: plan.canvas_width,
            height: plan.canvas_height,
            seed: base.seed,
            steps: base.steps,
            guidance: base.guidance,
            shift: base.shift,
            eta: base.eta,
            bf16_noise: base.bf16_noise,
            preview: base.preview,
            keep_trajectory: base.keep_trajectory,
            initial_noise: base.initial_noise.clone(),
            blend: Some(Blend {
                known,
                mask: latent_mask,
                resample: settings.resample,
                strength: settings.strength,
            }),
        }
        .run(ctl)?;
        let decoded = decode_latent(self, &run.latent)?;
        let crop =
            image::imageops::crop_imm(&decoded, plan.offset_x, plan.offset_y, w, h).to_image();
        Ok((crop, run.latent, run.trajectory))
    }
}

/// A short content hash of a mask (FNV-1a over size and pixels) for the metadata.
pub fn mask_hash(mask: &GrayImage) -> String {
    let mut hsh: u64 = 0xcbf2_9ce4_8422_2325;
    let (w, h) = mask.dimensions();
    for b in w
        .to_le_bytes()
        .into_iter()
        .chain(h.to_le_bytes())
        .chain(mask.as_raw().iter().copied())
    {
        hsh ^= b as u64;
        hsh = hsh.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hsh:016x}")
}
