//! Animated GIF export: the denoising trajectory, sampled video frames, edit history.
//!
//! Each frame is quantised to its own 256-colour palette with NeuQuant (the `gif` crate's
//! `Frame::from_rgba_speed`). Frames whose size differs from the first are letterboxed to the
//! first frame's size with [`resize_and_pad_rgba`], so a history that mixes canvas sizes
//! (e.g. before and after an extension) still plays as one animation.

use std::path::Path;

use image::{RgbImage, RgbaImage};

use super::atomic::write_bytes_atomically;
use super::image_io::resize_and_pad_rgba;
use super::{MediaError, Result};

/// NeuQuant sampling speed, 1 (best) … 30 (fastest). 10 is the `gif` crate's recommended
/// balance; previews of a few dozen frames encode in well under a second.
const QUANTISE_SPEED: i32 = 10;

/// Browsers play delays under 20 ms as 100 ms, which would make a "fast" GIF crawl; we clamp
/// up to the shortest delay they honour instead.
const MIN_DELAY_CENTISECONDS: u16 = 2;

/// One animation frame and how long it stays on screen.
#[derive(Debug, Clone, PartialEq)]
pub struct GifFrame {
    pub image: RgbaImage,
    pub delay_ms: u32,
}

impl GifFrame {
    pub fn from_rgb(image: &RgbImage, delay_ms: u32) -> Self {
        GifFrame {
            image: image::DynamicImage::ImageRgb8(image.clone()).to_rgba8(),
            delay_ms,
        }
    }
}

/// How many times the animation plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GifRepeat {
    Forever,
    /// Play once and then repeat this many more times (0 = play once).
    Times(u16),
}

/// Encodes frames as an animated GIF in memory. `name` is what errors call the output.
pub fn encode_gif(frames: &[GifFrame], repeat: GifRepeat, name: &str) -> Result<Vec<u8>> {
    let first = frames.first().ok_or_else(|| MediaError::NoFrames {
        file: name.to_owned(),
        expected: "at least one frame to write a GIF",
    })?;
    let (width, height) = first.image.dimensions();
    let too_big = || MediaError::Encode {
        file: name.to_owned(),
        format: "GIF",
        reason: format!("frames are {width}x{height}; GIF allows 1 to 65535 pixels per side"),
    };
    let (w16, h16) = match (u16::try_from(width), u16::try_from(height)) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 => (w, h),
        _ => return Err(too_big()),
    };
    let fail = |e: gif::EncodingError| MediaError::Encode {
        file: name.to_owned(),
        format: "GIF",
        reason: e.to_string(),
    };

    let mut bytes = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut bytes, w16, h16, &[]).map_err(fail)?;
        encoder
            .set_repeat(match repeat {
                GifRepeat::Forever => gif::Repeat::Infinite,
                GifRepeat::Times(n) => gif::Repeat::Finite(n),
            })
            .map_err(fail)?;
        for frame in frames {
            let mut rgba = if frame.image.dimensions() == (width, height) {
                frame.image.clone().into_raw()
            } else {
                resize_and_pad_rgba(&frame.image, width, height).into_raw()
            };
            let mut gif_frame = gif::Frame::from_rgba_speed(w16, h16, &mut rgba, QUANTISE_SPEED);
            gif_frame.delay = delay_centiseconds(frame.delay_ms);
            // Each frame is a full picture; clearing first keeps transparent pixels from
            // showing the previous frame through.
            gif_frame.dispose = gif::DisposalMethod::Background;
            encoder.write_frame(&gif_frame).map_err(fail)?;
        }
    }
    Ok(bytes)
}

/// Writes an animated GIF atomically.
pub fn save_gif(path: &Path, frames: &[GifFrame], repeat: GifRepeat) -> Result<()> {
    let bytes = encode_gif(frames, repeat, &path.display().to_string())?;
    write_bytes_atomically(path, &bytes)
}

fn delay_centiseconds(delay_ms: u32) -> u16 {
    let cs = (delay_ms.saturating_add(5) / 10).min(u16::MAX as u32) as u16;
    cs.max(MIN_DELAY_CENTISECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::AnimationDecoder;
    use image::codecs::gif::GifDecoder;

    fn solid(w: u32, h: u32, rgb: [u8; 3]) -> RgbImage {
        RgbImage::from_pixel(w, h, image::Rgb(rgb))
    }

    #[test]
    fn gif_decodes_back_with_frames_size_delays_and_colours() {
        let colours = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [250, 250, 250]];
        let frames: Vec<GifFrame> = colours
            .iter()
            .enumerate()
            .map(|(i, &c)| GifFrame::from_rgb(&solid(24, 16, c), 100 + 50 * i as u32))
            .collect();
        let bytes = encode_gif(&frames, GifRepeat::Forever, "mem.gif").unwrap();
        let decoded = GifDecoder::new(std::io::Cursor::new(&bytes))
            .unwrap()
            .into_frames()
            .collect_frames()
            .unwrap();
        assert_eq!(decoded.len(), 4);
        for (i, frame) in decoded.iter().enumerate() {
            assert_eq!(frame.buffer().dimensions(), (24, 16));
            let (num, den) = frame.delay().numer_denom_ms();
            assert_eq!(num / den, 100 + 50 * i as u32);
            let p = frame.buffer().get_pixel(12, 8).0;
            for c in 0..3 {
                assert!(
                    (p[c] as i32 - colours[i][c] as i32).abs() <= 8,
                    "frame {i}: {p:?}"
                );
            }
        }
    }

    #[test]
    fn frames_of_other_sizes_are_letterboxed_to_the_first() {
        let frames = vec![
            GifFrame::from_rgb(&solid(32, 32, [200, 200, 200]), 50),
            GifFrame::from_rgb(&solid(64, 32, [200, 200, 200]), 50),
        ];
        let bytes = encode_gif(&frames, GifRepeat::Times(0), "mem.gif").unwrap();
        let decoded = GifDecoder::new(std::io::Cursor::new(&bytes))
            .unwrap()
            .into_frames()
            .collect_frames()
            .unwrap();
        assert_eq!(decoded.len(), 2);
        let second = decoded[1].buffer();
        assert_eq!(second.dimensions(), (32, 32));
        // 64x32 → 32x16 centred: black bars above and below.
        assert!(second.get_pixel(16, 2).0[0] < 10);
        assert!(second.get_pixel(16, 16).0[0] > 190);
    }

    #[test]
    fn empty_and_oversized_inputs_are_errors() {
        let err = encode_gif(&[], GifRepeat::Forever, "out.gif")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("out.gif") && err.contains("at least one frame"),
            "{err}"
        );
        let frames = vec![GifFrame::from_rgb(&solid(70000, 1, [0, 0, 0]), 10)];
        let err = encode_gif(&frames, GifRepeat::Forever, "big.gif")
            .unwrap_err()
            .to_string();
        assert!(err.contains("70000x1"), "{err}");
    }

    #[test]
    fn delays_are_rounded_and_clamped() {
        assert_eq!(delay_centiseconds(0), 2);
        assert_eq!(delay_centiseconds(104), 10);
        assert_eq!(delay_centiseconds(105), 11);
        assert_eq!(delay_centiseconds(u32::MAX), u16::MAX);
    }
}
