//! Inpainting masks and canvas extension geometry.
//!
//! A mask is a [`GrayImage`] of the image's size: 255 = regenerate, 0 = keep. The inpainting
//! recipe (docs/showo2-model.md §4) needs three views of it:
//! - the **latent mask**: the pixel mask max-pooled by the VAE factor ([`downsample_max`], 8×)
//!   then dilated by about one cell ([`dilate`]) so VAE boundary leakage stays hidden;
//! - the **pixel alpha** for the final blend: the mask with a soft edge ([`feather`]);
//! - the **composite** of original and generated pixels ([`composite`]), which guarantees that
//!   every pixel with alpha 0 is exactly the original's.
//!
//! Extending the canvas (outpainting) is the same thing with a generated mask:
//! [`plan_canvas_extension`] rounds each side's growth to the pixel grid, and the plan gives the
//! new canvas, the original's offset in it and the mask of the new area.

use std::path::Path;

use image::{GrayImage, Luma, Rgb, RgbImage};

use super::image_io::load_dynamic;
use super::{MediaError, Result};

/// The Wan2.1 VAE's spatial compression: one latent cell covers 8×8 pixels.
pub const LATENT_DOWNSAMPLE: u32 = 8;
/// Canvas sizes must be multiples of this: the VAE's 8× times the 2×2 patchifier.
pub const PIXEL_GRID: u32 = 16;

/// Mask values at or above this count as "regenerate" where a hard decision is needed.
const MASK_THRESHOLD: u8 = 128;

/// Reads a mask image. Luminance is the mask (white = regenerate); if the file has an alpha
/// channel, transparent pixels count as "keep", so a painted layer exported with transparency
/// works as well as a black-and-white mask.
pub fn load_mask(path: &Path) -> Result<GrayImage> {
    let image = load_dynamic(path)?;
    if !image.color().has_alpha() {
        return Ok(image.to_luma8());
    }
    let luma_alpha = image.to_luma_alpha8();
    Ok(GrayImage::from_fn(image.width(), image.height(), |x, y| {
        let [l, a] = luma_alpha.get_pixel(x, y).0;
        Luma([((l as u16 * a as u16 + 127) / 255) as u8])
    }))
}

/// A stable content hash of a mask (`sha256:` + hex over its size and pixels), recorded in PNG
/// metadata so a recalled inpainting job can tell whether it still has the same mask. It hashes
/// pixels, not a file, so re-encoding the mask PNG does not change it.
pub fn mask_hash(mask: &GrayImage) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"gray8");
    hasher.update(mask.width().to_be_bytes());
    hasher.update(mask.height().to_be_bytes());
    hasher.update(mask.as_raw());
    let digest = hasher.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Fails unless `mask` has exactly the image's size; the error names both and their sizes.
pub fn validate_mask_size(
    mask: &GrayImage,
    mask_name: &str,
    image_width: u32,
    image_height: u32,
    image_name: &str,
) -> Result<()> {
    if mask.dimensions() == (image_width, image_height) {
        return Ok(());
    }
    Err(MediaError::MaskSizeMismatch {
        mask: mask_name.to_owned(),
        mask_width: mask.width(),
        mask_height: mask.height(),
        image: image_name.to_owned(),
        image_width,
        image_height,
    })
}

/// Max-pools the mask by `factor` (the latent grid is [`LATENT_DOWNSAMPLE`]): a cell is as
/// masked as its most masked pixel, so one painted pixel regenerates its whole cell. Sizes that
/// are not multiples of `factor` get a partial last row/column (ceiling division).
pub fn downsample_max(mask: &GrayImage, factor: u32) -> GrayImage {
    assert!(factor > 0, "downsampling factor must be positive");
    let (w, h) = mask.dimensions();
    let (out_w, out_h) = (w.div_ceil(factor), h.div_ceil(factor));
    GrayImage::from_fn(out_w, out_h, |cx, cy| {
        let mut max = 0u8;
        for y in cy * factor..((cy + 1) * factor).min(h) {
            for x in cx * factor..((cx + 1) * factor).min(w) {
                max = max.max(mask.get_pixel(x, y)[0]);
            }
        }
        Luma([max])
    })
}

/// Grows the mask by `cells` in every direction, diagonals included (a square structuring
/// element of side 2·cells+1). Applied to the latent mask, one cell hides VAE leakage.
pub fn dilate(mask: &GrayImage, cells: u32) -> GrayImage {
    if cells == 0 {
        return mask.clone();
    }
    let (w, h) = mask.dimensions();
    let r = cells as i64;
    // A square max filter is separable: rows first, then columns.
    let max_along = |src: &GrayImage, horizontal: bool| {
        GrayImage::from_fn(w, h, |x, y| {
            let mut max = 0u8;
            for d in -r..=r {
                let (sx, sy) = if horizontal {
                    (x as i64 + d, y as i64)
                } else {
                    (x as i64, y as i64 + d)
                };
                if sx >= 0 && sy >= 0 && sx < w as i64 && sy < h as i64 {
                    max = max.max(src.get_pixel(sx as u32, sy as u32)[0]);
                }
            }
            Luma([max])
        })
    };
    max_along(&max_along(mask, true), false)
}

/// Swaps "regenerate" and "keep".
pub fn invert(mask: &GrayImage) -> GrayImage {
    GrayImage::from_fn(mask.width(), mask.height(), |x, y| {
        Luma([255 - mask.get_pixel(x, y)[0]])
    })
}

/// A per-pixel blend weight in [0, 1]: 1 = take the generated pixel, 0 = keep the original.
#[derive(Debug, Clone, PartialEq)]
pub struct AlphaMask {
    pub width: u32,
    pub height: u32,
    /// Row-major, `width * height` values.
    pub data: Vec<f32>,
}

impl AlphaMask {
    pub fn get(&self, x: u32, y: u32) -> f32 {
        self.data[(y * self.width + x) as usize]
    }
}

/// Softens the mask's edge **outwards** over `radius` pixels: alpha is 1 on the mask (≥ 128),
/// falls smoothly to 0 at `radius` pixels (Euclidean) away from it, and is 0 beyond. Soft mask
/// values (e.g. from a soft brush) are kept where they exceed the ramp.
///
/// Why outwards: every pixel the user masked is fully regenerated, and the blend zone lies in
/// the area the dilated latent mask already regenerated, so keep `radius` ≤ 8 · dilation cells.
pub fn feather(mask: &GrayImage, radius: f32) -> AlphaMask {
    let (w, h) = mask.dimensions();
    let inside: Vec<bool> = mask.pixels().map(|p| p[0] >= MASK_THRESHOLD).collect();
    let squared_distance = squared_distance_to_inside(&inside, w as usize, h as usize);
    let data = mask
        .pixels()
        .zip(&squared_distance)
        .map(|(p, &d2)| {
            let ramp = if radius > 0.0 {
                let t = (d2.sqrt() / radius).min(1.0);
                1.0 - t * t * (3.0 - 2.0 * t) // 1 − smoothstep
            } else if d2 == 0.0 {
                1.0
            } else {
                0.0
            };
            ramp.max(p[0] as f32 / 255.0)
        })
        .collect();
    AlphaMask {
        width: w,
        height: h,
        data,
    }
}

/// Exact squared Euclidean distance transform (Felzenszwalb & Huttenlocher): for every pixel,
/// the squared distance to the nearest `inside` pixel (infinite when there is none).
fn squared_distance_to_inside(inside: &[bool], w: usize, h: usize) -> Vec<f32> {
    let mut grid: Vec<f32> = inside
        .iter()
        .map(|&i| if i { 0.0 } else { f32::INFINITY })
        .collect();
    let mut line = Vec::new();
    for x in 0..w {
        line.clear();
        line.extend((0..h).map(|y| grid[y * w + x]));
        let column = distance_1d(&line);
        for y in 0..h {
            grid[y * w + x] = column[y];
        }
    }
    for y in 0..h {
        let row = distance_1d(&grid[y * w..(y + 1) * w]);
        grid[y * w..(y + 1) * w].copy_from_slice(&row);
    }
    grid
}

/// One pass of the distance transform: lower envelope of parabolas rooted at each sample.
fn distance_1d(f: &[f32]) -> Vec<f32> {
    let n = f.len();
    let mut out = vec![f32::INFINITY; n];
    let roots: Vec<usize> = (0..n).filter(|&q| f[q].is_finite()).collect();
    if roots.is_empty() {
        return out;
    }
    let mut v: Vec<usize> = Vec::with_capacity(roots.len()); // parabola roots in the envelope
    let mut z: Vec<f32> = Vec::with_capacity(roots.len() + 1); // boundaries between them
    let intersection = |p: usize, q: usize| {
        ((f[q] + (q * q) as f32) - (f[p] + (p * p) as f32)) / (2.0 * (q as f32 - p as f32))
    };
    for &q in &roots {
        while let Some(&p) = v.last() {
            let s = intersection(p, q);
            if v.len() > 1 && s <= z[z.len() - 1] {
                v.pop();
                z.pop();
            } else {
                v.push(q);
                z.push(s);
                break;
            }
        }
        if v.is_empty() {
            v.push(q);
        }
    }
    let mut k = 0;
    for (x, slot) in out.iter_mut().enumerate() {
        while k < z.len() && z[k] < x as f32 {
            k += 1;
        }
        let p = v[k];
        let d = x as f32 - p as f32;
        *slot = d * d + f[p];
    }
    out
}

/// Blends `generated` over `original` with `alpha`. Pixels with alpha exactly 0 are copied
/// from `original` bit for bit; the rest are `round(original·(1−a) + generated·a)`.
pub fn composite(original: &RgbImage, generated: &RgbImage, alpha: &AlphaMask) -> Result<RgbImage> {
    let check = |what: &str, (w, h): (u32, u32)| {
        if (w, h) == original.dimensions() {
            return Ok(());
        }
        Err(MediaError::SizeMismatch {
            what: format!("composite: {what} vs original"),
            width: w,
            height: h,
            other_width: original.width(),
            other_height: original.height(),
        })
    };
    check("generated image", generated.dimensions())?;
    check("alpha mask", (alpha.width, alpha.height))?;
    Ok(RgbImage::from_fn(
        original.width(),
        original.height(),
        |x, y| {
            let a = alpha.get(x, y).clamp(0.0, 1.0);
            let (o, g) = (original.get_pixel(x, y), generated.get_pixel(x, y));
            if a == 0.0 {
                return *o;
            }
            Rgb(std::array::from_fn(|c| {
                (o[c] as f32 * (1.0 - a) + g[c] as f32 * a).round() as u8
            }))
        },
    ))
}

/// Pixels added on each side of an image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Growth {
    pub left: u32,
    pub right: u32,
    pub top: u32,
    pub bottom: u32,
}

/// Where the original sits on an extended canvas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanvasPlan {
    pub canvas_width: u32,
    pub canvas_height: u32,
    /// The original's top-left corner on the canvas (= the actual left and top growth).
    pub offset_x: u32,
    pub offset_y: u32,
    pub image_width: u32,
    pub image_height: u32,
    /// The growth actually applied, after rounding to the grid.
    pub growth: Growth,
}

/// Plans an extended canvas whose size is a multiple of `grid` ([`PIXEL_GRID`] by default).
/// Per axis, every side grows by at least its request and by less than one `grid` more:
/// - a growing left/top side is rounded up to a multiple of `grid` when the opposite side also
///   grows (so the original starts on a grid line), and the right/bottom side takes whatever
///   completes the canvas to the grid;
/// - a side growing alone takes all the rounding, so a side the user did not drag stays put;
/// - an axis that does not grow at all but is off the grid (the original was) gets the missing
///   pixels split between its two sides: the model cannot generate off-grid sizes.
pub fn plan_canvas_extension(
    image_width: u32,
    image_height: u32,
    requested: Growth,
    grid: u32,
) -> Result<CanvasPlan> {
    if grid == 0 {
        return Err(MediaError::InvalidSetting {
            setting: "canvas grid",
            value: "0".into(),
            expected: "a positive number of pixels (16 for Show-o2)",
        });
    }
    if image_width == 0 || image_height == 0 {
        return Err(MediaError::ZeroSizeImage {
            file: "image to extend".into(),
            width: image_width,
            height: image_height,
        });
    }
    let axis = |len: u32, before: u32, after: u32, name: &'static str| {
        let too_big = || MediaError::InvalidSetting {
            setting: name,
            value: format!("{before} + {len} + {after}"),
            expected: "a canvas smaller than 4 gigapixels per side",
        };
        // Smallest growth >= `at_least` that brings `base + growth` onto the grid.
        let complete = |base: u32, at_least: u32| {
            let base = base.checked_add(at_least).ok_or_else(too_big)?;
            let missing = (grid - base % grid) % grid;
            at_least.checked_add(missing).ok_or_else(too_big)
        };
        let (b, a) = match (before > 0, after > 0) {
            (true, true) => {
                let b = before.checked_next_multiple_of(grid).ok_or_else(too_big)?;
                (b, complete(len.checked_add(b).ok_or_else(too_big)?, after)?)
            }
            (true, false) => (complete(len, before)?, 0),
            (false, true) => (0, complete(len, after)?),
            (false, false) => {
                let missing = complete(len, 0)?;
                (missing / 2, missing - missing / 2)
            }
        };
        len.checked_add(b)
            .and_then(|t| t.checked_add(a))
            .ok_or_else(too_big)?;
        Ok::<_, MediaError>((b, a, len + b + a))
    };
    let (left, right, canvas_width) = axis(
        image_width,
        requested.left,
        requested.right,
        "horizontal extension",
    )?;
    let (top, bottom, canvas_height) = axis(
        image_height,
        requested.top,
        requested.bottom,
        "vertical extension",
    )?;
    Ok(CanvasPlan {
        canvas_width,
        canvas_height,
        offset_x: left,
        offset_y: top,
        image_width,
        image_height,
        growth: Growth {
            left,
            right,
            top,
            bottom,
        },
    })
}

impl CanvasPlan {
    /// The mask of the new area (255) around the original (0), canvas-sized.
    pub fn new_area_mask(&self) -> GrayImage {
        GrayImage::from_fn(self.canvas_width, self.canvas_height, |x, y| {
            Luma([if self.is_original(x, y) { 0 } else { 255 }])
        })
    }

    fn is_original(&self, x: u32, y: u32) -> bool {
        (self.offset_x..self.offset_x + self.image_width).contains(&x)
            && (self.offset_y..self.offset_y + self.image_height).contains(&y)
    }
}

/// What fills the new area of an extended canvas before generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanvasFill {
    Color(Rgb<u8>),
    /// Repeat the nearest edge pixel. The VAE encodes the whole canvas and its receptive field
    /// crosses the seam, so a smooth continuation disturbs the kept border less than a flat
    /// colour does.
    ReplicateEdge,
}

/// Places `image` on the planned canvas at its offset and fills the new area.
pub fn place_on_canvas(image: &RgbImage, plan: &CanvasPlan, fill: CanvasFill) -> Result<RgbImage> {
    if image.dimensions() != (plan.image_width, plan.image_height) {
        return Err(MediaError::SizeMismatch {
            what: "image placed on the extended canvas vs the planned original".into(),
            width: image.width(),
            height: image.height(),
            other_width: plan.image_width,
            other_height: plan.image_height,
        });
    }
    Ok(RgbImage::from_fn(
        plan.canvas_width,
        plan.canvas_height,
        |x, y| {
            if plan.is_original(x, y) {
                return *image.get_pixel(x - plan.offset_x, y - plan.offset_y);
            }
            match fill {
                CanvasFill::Color(c) => c,
                CanvasFill::ReplicateEdge => {
                    let sx =
                        (x as i64 - plan.offset_x as i64).clamp(0, plan.image_width as i64 - 1);
                    let sy =
                        (y as i64 - plan.offset_y as i64).clamp(0, plan.image_height as i64 - 1);
                    *image.get_pixel(sx as u32, sy as u32)
                }
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask_with_rect(w: u32, h: u32, x0: u32, y0: u32, x1: u32, y1: u32) -> GrayImage {
        GrayImage::from_fn(w, h, |x, y| {
            Luma([if (x0..x1).contains(&x) && (y0..y1).contains(&y) {
                255
            } else {
                0
            }])
        })
    }

    #[test]
    fn max_pool_marks_every_cell_touched_by_the_mask() {
        // One pixel at (9, 17) lies in cell (1, 2) of an 8x grid.
        let mut mask = GrayImage::new(32, 24);
        mask.put_pixel(9, 17, Luma([255]));
        let latent = downsample_max(&mask, LATENT_DOWNSAMPLE);
        assert_eq!(latent.dimensions(), (4, 3));
        let marked: Vec<_> = latent
            .enumerate_pixels()
            .filter(|(_, _, p)| p[0] == 255)
            .map(|(x, y, _)| (x, y))
            .collect();
        assert_eq!(marked, vec![(1, 2)]);
        // Arbitrary factor and a partial last cell: 10 px wide by 4 → 3 cells.
        let mut mask = GrayImage::new(10, 4);
        mask.put_pixel(9, 0, Luma([77]));
        let pooled = downsample_max(&mask, 4);
        assert_eq!(pooled.dimensions(), (3, 1));
        assert_eq!(pooled.as_raw(), &vec![0, 0, 77]);
    }

    #[test]
    fn dilation_grows_a_square_by_n_cells() {
        let mut mask = GrayImage::new(7, 7);
        mask.put_pixel(3, 3, Luma([255]));
        let one = dilate(&mask, 1);
        let count = |m: &GrayImage| m.pixels().filter(|p| p[0] == 255).count();
        assert_eq!(count(&one), 9);
        assert_eq!(one.get_pixel(2, 2)[0], 255);
        assert_eq!(one.get_pixel(1, 3)[0], 0);
        assert_eq!(count(&dilate(&mask, 2)), 25);
        assert_eq!(count(&dilate(&mask, 10)), 49); // clipped at the border
        assert_eq!(dilate(&mask, 0), mask);
    }

    #[test]
    fn mask_hash_depends_on_pixels_and_size_only() {
        let a = mask_with_rect(16, 8, 0, 0, 4, 4);
        assert_eq!(mask_hash(&a), mask_hash(&a.clone()));
        assert!(mask_hash(&a).starts_with("sha256:") && mask_hash(&a).len() == 7 + 64);
        assert_ne!(mask_hash(&a), mask_hash(&invert(&a)));
        // Same bytes, different shape.
        assert_ne!(
            mask_hash(&GrayImage::new(16, 8)),
            mask_hash(&GrayImage::new(8, 16))
        );
    }

    #[test]
    fn invert_swaps_keep_and_regenerate() {
        let mask = mask_with_rect(4, 4, 0, 0, 2, 4);
        let inv = invert(&mask);
        assert_eq!(inv.get_pixel(0, 0)[0], 0);
        assert_eq!(inv.get_pixel(3, 0)[0], 255);
        assert_eq!(invert(&inv), mask);
    }

    #[test]
    fn feather_ramps_outwards_over_the_radius() {
        let mask = mask_with_rect(40, 9, 10, 0, 20, 9);
        let alpha = feather(&mask, 4.0);
        assert_eq!(alpha.get(10, 4), 1.0);
        assert_eq!(alpha.get(19, 4), 1.0);
        // Strictly decreasing from the edge to `radius` pixels away, then exactly 0.
        let ramp: Vec<f32> = (20..26).map(|x| alpha.get(x, 4)).collect();
        assert!(
            ramp[0] > ramp[1] && ramp[1] > ramp[2] && ramp[2] > ramp[3],
            "{ramp:?}"
        );
        assert_eq!(ramp[4], 0.0);
        assert_eq!(alpha.get(39, 4), 0.0);
        assert_eq!(alpha.get(5, 4), 0.0);
        // Symmetric on both sides of the mask.
        assert!((alpha.get(8, 4) - alpha.get(21, 4)).abs() < 1e-6);
        // Radius 0 is the hard mask.
        let hard = feather(&mask, 0.0);
        assert_eq!(hard.get(20, 4), 0.0);
        assert_eq!(hard.get(19, 4), 1.0);
    }

    #[test]
    fn feather_uses_euclidean_distance() {
        let mut mask = GrayImage::new(21, 21);
        mask.put_pixel(10, 10, Luma([255]));
        let alpha = feather(&mask, 5.0);
        // (13, 14) is exactly 5 px away; (13, 13) is 4.24 px away.
        assert_eq!(alpha.get(13, 14), 0.0);
        assert!(alpha.get(13, 13) > 0.0);
        assert!((alpha.get(13, 10) - alpha.get(10, 13)).abs() < 1e-6);
    }

    #[test]
    fn composite_keeps_every_zero_alpha_pixel_exactly() {
        let original = RgbImage::from_fn(32, 32, |x, y| Rgb([x as u8 * 7, y as u8 * 5, 200]));
        let generated = RgbImage::from_pixel(32, 32, Rgb([1, 2, 3]));
        let mask = mask_with_rect(32, 32, 8, 8, 16, 16);
        let alpha = feather(&mask, 3.0);
        let out = composite(&original, &generated, &alpha).unwrap();
        let mut kept = 0;
        for (x, y, p) in out.enumerate_pixels() {
            match alpha.get(x, y) {
                0.0 => {
                    assert_eq!(p, original.get_pixel(x, y));
                    kept += 1;
                }
                1.0 => assert_eq!(*p, Rgb([1, 2, 3])),
                _ => {}
            }
        }
        assert!(kept > 32 * 32 - 14 * 14, "{kept}");
        let small = RgbImage::new(8, 8);
        let err = composite(&original, &small, &alpha)
            .unwrap_err()
            .to_string();
        assert!(err.contains("8x8") && err.contains("32x32"), "{err}");
    }

    #[test]
    fn extension_rounds_each_side_to_the_grid() {
        let plan = plan_canvas_extension(
            432,
            432,
            Growth {
                left: 10,
                right: 0,
                top: 0,
                bottom: 40,
            },
            PIXEL_GRID,
        )
        .unwrap();
        assert_eq!(
            plan.growth,
            Growth {
                left: 16,
                right: 0,
                top: 0,
                bottom: 48
            }
        );
        assert_eq!((plan.canvas_width, plan.canvas_height), (448, 480));
        assert_eq!((plan.offset_x, plan.offset_y), (16, 0));
    }

    #[test]
    fn extension_puts_off_grid_remainders_on_the_growing_side() {
        // 500x375: width grows left (aligned to 16) and right (completes the grid); height
        // does not grow (remainder split top/bottom).
        let plan = plan_canvas_extension(
            500,
            375,
            Growth {
                left: 16,
                right: 1,
                top: 0,
                bottom: 0,
            },
            16,
        )
        .unwrap();
        assert_eq!(plan.canvas_width % 16, 0);
        assert_eq!(plan.canvas_height % 16, 0);
        assert_eq!(plan.growth.left, 16);
        assert_eq!(plan.growth.right, 12); // 16 + 500 + 12 = 528
        assert_eq!((plan.growth.top, plan.growth.bottom), (4, 5)); // 375 → 384
        assert_eq!(plan.offset_y, 4);
        // A side growing alone takes the rounding: 100 + 12 = 112, the right side stays put.
        let left_only = Growth {
            left: 10,
            ..Growth::default()
        };
        let plan = plan_canvas_extension(100, 64, left_only, 16).unwrap();
        assert_eq!(
            (plan.growth.left, plan.growth.right, plan.canvas_width),
            (12, 0, 112)
        );
        let err = plan_canvas_extension(10, 10, Growth::default(), 0).unwrap_err();
        assert!(err.to_string().contains("canvas grid"));
    }

    #[test]
    fn placing_on_canvas_matches_the_new_area_mask() {
        let image = RgbImage::from_fn(20, 12, |x, y| Rgb([x as u8, y as u8, 9]));
        let plan = plan_canvas_extension(
            20,
            12,
            Growth {
                left: 5,
                right: 0,
                top: 3,
                bottom: 0,
            },
            4,
        )
        .unwrap();
        let canvas = place_on_canvas(&image, &plan, CanvasFill::Color(Rgb([255, 0, 255]))).unwrap();
        let mask = plan.new_area_mask();
        assert_eq!(canvas.dimensions(), mask.dimensions());
        for (x, y, p) in canvas.enumerate_pixels() {
            if mask.get_pixel(x, y)[0] == 0 {
                assert_eq!(p, image.get_pixel(x - plan.offset_x, y - plan.offset_y));
            } else {
                assert_eq!(*p, Rgb([255, 0, 255]));
            }
        }
        let edge = place_on_canvas(&image, &plan, CanvasFill::ReplicateEdge).unwrap();
        assert_eq!(edge.get_pixel(0, 0), image.get_pixel(0, 0));
        assert_eq!(edge.get_pixel(0, plan.offset_y + 5), image.get_pixel(0, 5));
    }

    #[test]
    fn mask_size_mismatch_names_both_sizes() {
        let mask = GrayImage::new(64, 48);
        let err = validate_mask_size(&mask, "mask.png", 432, 432, "photo.jpg")
            .unwrap_err()
            .to_string();
        for needle in ["mask.png", "64x48", "photo.jpg", "432x432"] {
            assert!(err.contains(needle), "{err}");
        }
        assert!(validate_mask_size(&mask, "m", 64, 48, "i").is_ok());
    }
}
