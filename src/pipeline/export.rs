//! Animated exports of a session: the denoising trajectory, sampled video frames, an edit
//! history. Frames become `media::GifFrame`s; `media::save_gif` writes them atomically.

use image::{Rgb, RgbImage};

use crate::media::{GifFrame, SampledVideo};

/// The live previews of every step, then the result held longer.
pub fn trajectory_frames(previews: &[RgbImage], result: &RgbImage) -> Vec<GifFrame> {
    let mut frames: Vec<GifFrame> = previews
        .iter()
        .map(|p| GifFrame::from_rgb(p, 120))
        .collect();
    frames.push(GifFrame::from_rgb(result, 1500));
    frames
}

/// The sampled frames of a video, each shown for its real duration when timestamps are known.
pub fn video_frames(video: &SampledVideo) -> Vec<GifFrame> {
    video
        .frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let next = video.frames.get(i + 1).and_then(|n| n.timestamp_s);
            let delay = match (f.timestamp_s, next) {
                (Some(a), Some(b)) if b > a => ((b - a) * 1000.0).round() as u32,
                _ => 250,
            };
            GifFrame::from_rgb(&f.image, delay.clamp(20, 5000))
        })
        .collect()
}

/// An edit history (each version after generate / inpaint / extend). Versions may differ in
/// size (extensions grow the canvas), so every frame is centred, unscaled, on the largest
/// canvas over a dark background: the growth stays visible.
pub fn history_frames(versions: &[RgbImage], delay_ms: u32) -> Vec<GifFrame> {
    let w = versions.iter().map(|v| v.width()).max().unwrap_or(0);
    let h = versions.iter().map(|v| v.height()).max().unwrap_or(0);
    versions
        .iter()
        .map(|v| {
            let (ox, oy) = ((w - v.width()) / 2, (h - v.height()) / 2);
            let canvas = RgbImage::from_fn(w, h, |x, y| {
                let (sx, sy) = (x.wrapping_sub(ox), y.wrapping_sub(oy));
                if sx < v.width() && sy < v.height() {
                    *v.get_pixel(sx, sy)
                } else {
                    Rgb([24, 24, 24])
                }
            });
            GifFrame::from_rgb(&canvas, delay_ms)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_frames_share_the_largest_size_and_keep_pixels() {
        let small = RgbImage::from_pixel(4, 2, Rgb([200, 10, 10]));
        let big = RgbImage::from_pixel(8, 6, Rgb([10, 200, 10]));
        let frames = history_frames(&[small, big], 300);
        assert_eq!(frames.len(), 2);
        assert!(frames.iter().all(|f| f.image.dimensions() == (8, 6)));
        assert_eq!(frames[0].image.get_pixel(2, 2).0, [200, 10, 10, 255]);
        assert_eq!(frames[0].image.get_pixel(0, 0).0, [24, 24, 24, 255]);
        assert_eq!(frames[1].delay_ms, 300);
    }
}
