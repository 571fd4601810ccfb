//! Loading and saving still images, fitting them to the model's grid, and converting to/from the
//! normalised CHW float layout the model consumes.
//!
//! The two fitting helpers mirror the official preprocessing exactly:
//! - [`resize_shorter_side_and_center_crop`] is `datasets/utils.py::image_transform`
//!   (torchvision `Resize(size, BICUBIC)` on the shorter side, then `CenterCrop(size)`), used for
//!   image understanding and as the image-editing input;
//! - [`resize_and_pad`] is `resize_and_pad_image` (keep aspect ratio, bicubic, black letterbox),
//!   used for video frames.
//!
//! Bicubic here is `image`'s Catmull-Rom (a = −0.5, the same kernel as PIL's BICUBIC) with the
//! support widened when shrinking, as PIL does, so results match PIL to within rounding.

use std::io::Cursor;
use std::path::Path;

use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageBuffer, ImageFormat, Pixel, Rgb, RgbImage, Rgba, RgbaImage};

use super::atomic::write_atomically;
use super::{MediaError, Result};

/// Reads an image file (PNG, JPEG, or the first frame of a GIF) as 8-bit RGB.
/// An alpha channel is dropped, as PIL's `convert("RGB")` does.
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    Ok(load_dynamic(path)?.to_rgb8())
}

/// Reads an image file (PNG, JPEG, or the first frame of a GIF) as 8-bit RGBA.
pub fn load_rgba(path: &Path) -> Result<RgbaImage> {
    Ok(load_dynamic(path)?.to_rgba8())
}

/// Decodes in-memory image bytes as RGB; `name` is what errors call the data (e.g. "clipboard").
pub fn load_rgb_from_bytes(bytes: &[u8], name: &str) -> Result<RgbImage> {
    Ok(decode_dynamic(bytes, name)?.to_rgb8())
}

/// Decodes in-memory image bytes as RGBA; `name` is what errors call the data.
pub fn load_rgba_from_bytes(bytes: &[u8], name: &str) -> Result<RgbaImage> {
    Ok(decode_dynamic(bytes, name)?.to_rgba8())
}

pub(crate) fn load_dynamic(path: &Path) -> Result<DynamicImage> {
    let bytes = std::fs::read(path).map_err(|e| MediaError::io(path, "reading the image", e))?;
    decode_dynamic(&bytes, &path.display().to_string())
}

pub(crate) fn decode_dynamic(bytes: &[u8], name: &str) -> Result<DynamicImage> {
    if bytes.is_empty() {
        return Err(MediaError::CorruptImage {
            file: name.to_owned(),
            reason: "the file is empty".into(),
        });
    }
    let format = image::guess_format(bytes).map_err(|_| MediaError::UnsupportedImageFormat {
        file: name.to_owned(),
        detail: " (the file does not start with a known image signature)".into(),
    })?;
    if !matches!(
        format,
        ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif
    ) {
        return Err(MediaError::UnsupportedImageFormat {
            file: name.to_owned(),
            detail: format!(" (found {format:?})"),
        });
    }
    if let Some((width, height)) = header_dimensions(bytes, format)
        && (width == 0 || height == 0)
    {
        return Err(MediaError::ZeroSizeImage {
            file: name.to_owned(),
            width,
            height,
        });
    }
    let image = image::load_from_memory_with_format(bytes, format).map_err(|e| {
        MediaError::CorruptImage {
            file: name.to_owned(),
            reason: format!("{format:?}: {e}"),
        }
    })?;
    if image.width() == 0 || image.height() == 0 {
        return Err(MediaError::ZeroSizeImage {
            file: name.to_owned(),
            width: image.width(),
            height: image.height(),
        });
    }
    Ok(image)
}

/// Width and height straight from the header, so that a zero-size image is reported as such
/// rather than as a generic decoder failure. Only PNG and GIF keep them at a fixed offset.
fn header_dimensions(bytes: &[u8], format: ImageFormat) -> Option<(u32, u32)> {
    let be32 = |at: usize| Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let le16 = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?) as u32);
    match format {
        // 8-byte signature, 4-byte length, "IHDR", then width and height.
        ImageFormat::Png if bytes.get(12..16) == Some(b"IHDR") => Some((be32(16)?, be32(20)?)),
        // "GIF89a", then the logical screen width and height.
        ImageFormat::Gif => Some((le16(6)?, le16(8)?)),
        _ => None,
    }
}

/// Saves an RGB image atomically; the format follows the extension (`.png`, `.jpg`/`.jpeg`).
pub fn save_rgb(path: &Path, image: &RgbImage) -> Result<()> {
    save_dynamic(path, &DynamicImage::ImageRgb8(image.clone()))
}

/// Saves an RGBA image atomically; JPEG has no alpha, so it is dropped for `.jpg`.
pub fn save_rgba(path: &Path, image: &RgbaImage) -> Result<()> {
    save_dynamic(path, &DynamicImage::ImageRgba8(image.clone()))
}

fn save_dynamic(path: &Path, image: &DynamicImage) -> Result<()> {
    let file = path.display().to_string();
    let format = match ImageFormat::from_path(path) {
        Ok(f @ (ImageFormat::Png | ImageFormat::Jpeg)) => f,
        _ => {
            return Err(MediaError::Encode {
                file,
                format: "image",
                reason: "unsupported extension; expected .png, .jpg or .jpeg".into(),
            });
        }
    };
    let image = match format {
        ImageFormat::Jpeg => DynamicImage::ImageRgb8(image.to_rgb8()),
        _ => image.clone(),
    };
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), format)
        .map_err(|e| MediaError::Encode {
            file: file.clone(),
            format: if format == ImageFormat::Png {
                "PNG"
            } else {
                "JPEG"
            },
            reason: e.to_string(),
        })?;
    write_atomically(path, |w| {
        std::io::Write::write_all(w, &bytes).map_err(|e| MediaError::io(path, "writing", e))
    })
}

/// The official `image_transform`: resize so the shorter side is `size` (bicubic), then take the
/// centred `size`×`size` crop. Sizes and offsets are computed as torchvision does
/// (`int(size * long / short)` for the long side, `int(round((h - size) / 2))` for the crop).
pub fn resize_shorter_side_and_center_crop(image: &RgbImage, size: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    assert!(size > 0, "target size must be positive");
    let (new_w, new_h) = if w <= h {
        (size, (size as u64 * h as u64 / w as u64) as u32)
    } else {
        ((size as u64 * w as u64 / h as u64) as u32, size)
    };
    let resized = if (new_w, new_h) == (w, h) {
        image.clone()
    } else {
        imageops::resize(image, new_w, new_h, FilterType::CatmullRom)
    };
    let left = round_half_even((new_w - size) as f64 / 2.0);
    let top = round_half_even((new_h - size) as f64 / 2.0);
    imageops::crop_imm(&resized, left, top, size, size).to_image()
}

/// The official `resize_and_pad_image`: scale to fit inside `target_width`×`target_height`
/// keeping the aspect ratio (bicubic), and centre it on a black canvas.
pub fn resize_and_pad(image: &RgbImage, target_width: u32, target_height: u32) -> RgbImage {
    letterbox(image, target_width, target_height, Rgb([0, 0, 0]))
}

/// [`resize_and_pad`] for RGBA images; the bars are opaque black.
pub fn resize_and_pad_rgba(image: &RgbaImage, target_width: u32, target_height: u32) -> RgbaImage {
    letterbox(image, target_width, target_height, Rgba([0, 0, 0, 255]))
}

fn letterbox<P>(
    image: &ImageBuffer<P, Vec<u8>>,
    target_width: u32,
    target_height: u32,
    bar: P,
) -> ImageBuffer<P, Vec<u8>>
where
    P: Pixel<Subpixel = u8> + 'static,
{
    assert!(
        target_width > 0 && target_height > 0,
        "target size must be positive"
    );
    let (w, h) = image.dimensions();
    let scale_w = target_width as f64 / w as f64;
    let scale_h = target_height as f64 / h as f64;
    let (new_w, new_h) = if scale_w < scale_h {
        let new_h = ((h as f64 * scale_w).ceil() as u32).clamp(1, target_height);
        (target_width, new_h)
    } else {
        let new_w = ((w as f64 * scale_h).ceil() as u32).clamp(1, target_width);
        (new_w, target_height)
    };
    let resized = if (new_w, new_h) == (w, h) {
        image.clone()
    } else {
        imageops::resize(image, new_w, new_h, FilterType::CatmullRom)
    };
    let mut canvas = ImageBuffer::from_pixel(target_width, target_height, bar);
    let x = (target_width - new_w) / 2;
    let y = (target_height - new_h) / 2;
    imageops::replace(&mut canvas, &resized, x as i64, y as i64);
    canvas
}

/// Rounds a size down to a multiple of `grid` (at least one `grid`), e.g. to pick a canvas
/// the VAE (8×) and the patchifier (2×) can both divide: `grid = 16`.
pub fn snap_down_to_grid(width: u32, height: u32, grid: u32) -> (u32, u32) {
    assert!(grid > 0, "grid must be positive");
    let snap = |v: u32| (v / grid).max(1) * grid;
    (snap(width), snap(height))
}

/// Python's `round` (ties to even), which torchvision's `CenterCrop` uses.
fn round_half_even(x: f64) -> u32 {
    let floor = x.floor();
    let diff = x - floor;
    let rounded = if diff > 0.5 || (diff == 0.5 && floor % 2.0 != 0.0) {
        floor + 1.0
    } else {
        floor
    };
    rounded as u32
}

/// An image as channel-major `f32` in [-1, 1]: `data[c * height * width + y * width + x]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChwImage {
    pub data: Vec<f32>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// `ToTensor` + `Normalize(0.5, 0.5)`: u8 → `(v / 255 − 0.5) / 0.5`, laid out (3, H, W).
pub fn rgb_to_chw(image: &RgbImage) -> ChwImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let plane = w * h;
    let mut data = vec![0f32; 3 * plane];
    for (i, pixel) in image.pixels().enumerate() {
        for c in 0..3 {
            data[c * plane + i] = (pixel[c] as f32 / 255.0 - 0.5) / 0.5;
        }
    }
    ChwImage {
        data,
        channels: 3,
        height: h,
        width: w,
    }
}

/// The official `denorm`: `clamp((x + 1) / 2, 0, 1) * 255` truncated to u8.
/// Fails if the buffer is not 3 channels or its length does not match the dimensions.
pub fn rgb_from_chw(chw: &ChwImage) -> Result<RgbImage> {
    let plane = chw.height * chw.width;
    if chw.channels != 3 || chw.data.len() != 3 * plane {
        return Err(MediaError::InvalidSetting {
            setting: "CHW image",
            value: format!(
                "{} values for {}x{}x{}",
                chw.data.len(),
                chw.channels,
                chw.height,
                chw.width
            ),
            expected: "3 channels and channels*height*width values",
        });
    }
    let to_u8 = |x: f32| (((x + 1.0) / 2.0).clamp(0.0, 1.0) * 255.0) as u8;
    let image = RgbImage::from_fn(chw.width as u32, chw.height as u32, |x, y| {
        let i = y as usize * chw.width + x as usize;
        Rgb([
            to_u8(chw.data[i]),
            to_u8(chw.data[plane + i]),
            to_u8(chw.data[2 * plane + i]),
        ])
    });
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 77])
        })
    }

    #[test]
    fn center_crop_matches_torchvision_geometry() {
        // 640x480 → shorter side 432 → 576x432 → crop left = round(144/2) = 72.
        let out = resize_shorter_side_and_center_crop(&gradient(640, 480), 432);
        assert_eq!(out.dimensions(), (432, 432));
        // Portrait: 300x500 → 432x720, crop top = 144.
        let out = resize_shorter_side_and_center_crop(&gradient(300, 500), 432);
        assert_eq!(out.dimensions(), (432, 432));
        // Already square at the target size: untouched.
        let img = gradient(432, 432);
        assert_eq!(resize_shorter_side_and_center_crop(&img, 432), img);
    }

    #[test]
    fn center_crop_takes_the_middle() {
        // A 30x10 image whose middle third is red; cropping to 10 keeps exactly that third.
        let img = RgbImage::from_fn(30, 10, |x, _| {
            if (10..20).contains(&x) {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let out = resize_shorter_side_and_center_crop(&img, 10);
        assert!(out.pixels().all(|p| *p == Rgb([255, 0, 0])));
    }

    #[test]
    fn python_rounding_is_half_to_even() {
        assert_eq!(round_half_even(0.5), 0);
        assert_eq!(round_half_even(1.5), 2);
        assert_eq!(round_half_even(2.5), 2);
        assert_eq!(round_half_even(2.6), 3);
    }

    #[test]
    fn letterbox_keeps_aspect_and_centres_with_black_bars() {
        let white = RgbImage::from_pixel(200, 100, Rgb([255, 255, 255]));
        let out = resize_and_pad(&white, 432, 432);
        assert_eq!(out.dimensions(), (432, 432));
        // 200x100 → 432x216 pasted at y = 108.
        assert_eq!(*out.get_pixel(200, 107), Rgb([0, 0, 0]));
        assert_eq!(*out.get_pixel(200, 108), Rgb([255, 255, 255]));
        assert_eq!(*out.get_pixel(200, 323), Rgb([255, 255, 255]));
        assert_eq!(*out.get_pixel(200, 324), Rgb([0, 0, 0]));
        let tall = RgbaImage::from_pixel(10, 40, Rgba([9, 9, 9, 255]));
        let out = resize_and_pad_rgba(&tall, 40, 40);
        assert_eq!(*out.get_pixel(0, 20), Rgba([0, 0, 0, 255]));
        assert_eq!(*out.get_pixel(20, 20), Rgba([9, 9, 9, 255]));
    }

    #[test]
    fn chw_round_trip_follows_official_normalisation() {
        let img = RgbImage::from_fn(16, 16, |x, y| {
            let v = (y * 16 + x) as u8;
            Rgb([v, 255 - v, v / 2])
        });
        let chw = rgb_to_chw(&img);
        assert_eq!((chw.channels, chw.height, chw.width), (3, 16, 16));
        assert_eq!(chw.data[0], -1.0);
        assert_eq!(chw.data[16 * 16], 1.0); // G of pixel 0 is 255
        // `denorm` truncates, so a round trip gives back v or v − 1 (never more), and the
        // extremes exactly; this is the official behaviour, kept for pixel parity.
        let back = rgb_from_chw(&chw).unwrap();
        let mut off_by_one = 0;
        for (a, b) in img.as_raw().iter().zip(back.as_raw()) {
            assert!(*b == *a || *b + 1 == *a, "{a} -> {b}");
            off_by_one += usize::from(*b != *a);
        }
        assert!(off_by_one > 0);
        assert_eq!(back.get_pixel(0, 0).0, [0, 255, 0]);
        let bad = ChwImage {
            data: vec![0.0; 5],
            channels: 3,
            height: 2,
            width: 2,
        };
        assert!(
            rgb_from_chw(&bad)
                .unwrap_err()
                .to_string()
                .contains("CHW image")
        );
    }

    #[test]
    fn snap_to_grid_rounds_down_but_not_to_zero() {
        assert_eq!(snap_down_to_grid(433, 500, 16), (432, 496));
        assert_eq!(snap_down_to_grid(5, 16, 16), (16, 16));
    }
}
