//! Images, masks, video frames in and out; PNG metadata; GIF. No model knowledge.
//!
//! Everything here speaks plain Rust types (`image::RgbImage` / `RgbaImage` / `GrayImage`,
//! `Vec<f32>` with explicit dimensions, small structs) so that the CLI, the pipelines and the
//! GUI can share it without seeing tensors. Every file this layer writes goes through
//! [`atomic`], so a crash never leaves a half-written PNG or GIF behind.

pub mod atomic;
pub mod gif_export;
pub mod image_io;
pub mod mask;
pub mod metadata;
pub mod video;

pub use atomic::{write_atomically, write_bytes_atomically};
pub use gif_export::{GifFrame, GifRepeat, encode_gif, save_gif};
pub use image_io::{
    ChwImage, load_rgb, load_rgb_from_bytes, load_rgba, load_rgba_from_bytes, resize_and_pad,
    resize_and_pad_rgba, resize_shorter_side_and_center_crop, rgb_from_chw, rgb_to_chw, save_rgb,
    save_rgba, snap_down_to_grid,
};
pub use mask::{
    AlphaMask, CanvasFill, CanvasPlan, Growth, LATENT_DOWNSAMPLE, PIXEL_GRID, composite, dilate,
    downsample_max, feather, invert, load_mask, mask_hash, place_on_canvas, plan_canvas_extension,
    validate_mask_size,
};
pub use metadata::{
    ExtensionInfo, GenerationMode, GenerationParams, MaskInfo, a1111_parameters,
    encode_png_with_metadata, parse_a1111_parameters, read_png_metadata,
    read_png_metadata_from_bytes, save_png_with_metadata, strength_in_range,
};
pub use video::{
    SampledFrame, SampledVideo, VideoSource, load_video_frames, sample_frames,
    uniform_frame_indices,
};

use std::path::PathBuf;

/// Result of every fallible `media` operation.
pub type Result<T, E = MediaError> = std::result::Result<T, E>;

/// What can go wrong reading or writing media. Every variant names the file (or the setting)
/// that is wrong and what was expected, because these messages reach users unchanged.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{path}: {action} failed: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    #[error("{file}: unsupported image format; expected PNG, JPEG or GIF{detail}")]
    UnsupportedImageFormat { file: String, detail: String },

    #[error(
        "{file}: corrupt or truncated image data ({reason}); expected a valid PNG, JPEG or GIF"
    )]
    CorruptImage { file: String, reason: String },

    #[error("{file}: image is {width}x{height}; expected at least 1x1 pixels")]
    ZeroSizeImage {
        file: String,
        width: u32,
        height: u32,
    },

    #[error(
        "mask {mask} is {mask_width}x{mask_height} but image {image} is {image_width}x{image_height}; \
         expected the mask to have the image's size"
    )]
    MaskSizeMismatch {
        mask: String,
        mask_width: u32,
        mask_height: u32,
        image: String,
        image_width: u32,
        image_height: u32,
    },

    #[error(
        "{what}: {width}x{height} does not match {other_width}x{other_height}; expected equal sizes"
    )]
    SizeMismatch {
        what: String,
        width: u32,
        height: u32,
        other_width: u32,
        other_height: u32,
    },

    #[error("invalid {setting} = {value}: expected {expected}")]
    InvalidSetting {
        setting: &'static str,
        value: String,
        expected: &'static str,
    },

    #[error("{file}: not a readable MP4 ({reason}); the file may be truncated or corrupt")]
    CorruptVideo { file: String, reason: String },

    #[error("{file}: unsupported video codec {codec}; expected H.264 in an MP4 ('avc1')")]
    UnsupportedCodec { file: String, codec: String },

    #[error(
        "{file}: unsupported video container; expected an MP4 (H.264), an animated GIF or a folder of PNG/JPEG frames"
    )]
    UnsupportedVideo { file: String },

    #[error("{file}: contains no video track; expected an MP4 with an H.264 video track")]
    NoVideoTrack { file: String },

    #[error("{file}: H.264 decoding failed at sample {sample}: {reason}")]
    VideoDecode {
        file: String,
        sample: usize,
        reason: String,
    },

    #[error("{file}: contains no frames; expected {expected}")]
    NoFrames {
        file: String,
        expected: &'static str,
    },

    #[error(
        "{file}: no generation metadata; expected a PNG saved by Show-o Studio ('showo-studio' chunk) or an A1111 'parameters' text"
    )]
    MissingMetadata { file: String },

    #[error("{file}: generation metadata is unreadable ({reason})")]
    BadMetadata { file: String, reason: String },

    #[error("{file}: encoding {format} failed: {reason}")]
    Encode {
        file: String,
        format: &'static str,
        reason: String,
    },
}

impl MediaError {
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
        source: std::io::Error,
    ) -> Self {
        MediaError::Io {
            path: path.into(),
            action,
            source,
        }
    }
}
