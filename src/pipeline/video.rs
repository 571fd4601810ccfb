//! Pictures and clips to the model's visual embeddings, as the official understanding scripts
//! prepare them.
//!
//! - An image is resized (shorter side) and centre-cropped to the native size (`image_transform`),
//!   VAE-encoded to its mean latent, then fused into n tokens (`Showo2::image_tokens`).
//! - A video's sampled frames are letterboxed to the native size (`resize_and_pad_image`), each
//!   encoded on its own as a one-frame clip (no temporal compression, as the official script),
//!   fused, and resampled to `video_grid` x `video_grid` tokens per frame
//!   (`Showo2::video_tokens`; the script hard-codes 14).

use std::path::Path;

use candle_core::{DType, IndexOp, Tensor};
use image::RgbImage;

use crate::media::{self, SampledVideo};

use super::generate::rgb_to_tensor;
use super::{Pipeline, PipelineError, Result};

impl Pipeline {
    /// Normalised latent (1, C, h, w) of an image at the native size.
    pub fn encode_image(&self, image: &RgbImage) -> Result<Tensor> {
        check_size(image, "image")?;
        let (w, h) = self.native_size();
        let side = w.min(h);
        let img = media::resize_shorter_side_and_center_crop(image, side);
        let img = if img.dimensions() != (w, h) {
            media::resize_and_pad(&img, w, h)
        } else {
            img
        };
        Ok(self
            .vae
            .encode(&rgb_to_tensor(&img, self.device())?)?
            .to_dtype(DType::F32)?)
    }

    /// Fused image tokens (n, hidden) of an image.
    pub fn image_embeddings(&self, image: &RgbImage) -> Result<Tensor> {
        let latent = self.encode_image(image)?;
        Ok(self.model.image_tokens(&latent, None)?.i(0)?)
    }

    /// Per-frame latents (F, C, h, w): each frame letterboxed and encoded alone.
    pub fn encode_frames(&self, frames: &[RgbImage]) -> Result<Tensor> {
        if frames.is_empty() {
            return Err(super::bad_setting("video frames", 0, "at least one frame"));
        }
        let (w, h) = self.native_size();
        let mut latents = Vec::with_capacity(frames.len());
        for (i, f) in frames.iter().enumerate() {
            check_size(f, &format!("video frame {i}"))?;
            let boxed = media::resize_and_pad(f, w, h);
            latents.push(
                self.vae
                    .encode(&rgb_to_tensor(&boxed, self.device())?)?
                    .to_dtype(DType::F32)?,
            );
        }
        Ok(Tensor::cat(&latents, 0)?)
    }

    /// Video tokens (F * g * g, hidden) of the frames.
    pub fn video_embeddings(&self, frames: &[RgbImage]) -> Result<Tensor> {
        let latents = self.encode_frames(frames)?;
        Ok(self
            .model
            .video_tokens(&latents, self.settings.video_grid, None)?
            .i(0)?)
    }

    /// Loads an MP4 (H.264), an animated GIF or a folder of frames and samples
    /// `frames` (default: the checkpoint's `video_frames`, 32 for the real ones) uniformly,
    /// keeping each frame's index and timestamp.
    pub fn load_video(&self, path: &Path, frames: Option<usize>) -> Result<SampledVideo> {
        let n = frames.unwrap_or(self.settings.video_frames);
        Ok(media::load_video_frames(path, n)?)
    }
}

fn check_size(image: &RgbImage, what: &str) -> Result<()> {
    let (w, h) = image.dimensions();
    if w == 0 || h == 0 {
        return Err(PipelineError::Media(media::MediaError::ZeroSizeImage {
            file: what.to_string(),
            width: w,
            height: h,
        }));
    }
    Ok(())
}
