//! A generated picture redrawn as the world draws: the asked shapes, crisp, where the picture
//! put them, over the plain or split background that best explains the rest of its pixels.
//!
//! This is the target of the decoder's redraw stage (`train::redraw`): the flow model's
//! latents carry the asked kind (a linear probe reads it), but the decoder, trained under L1 on
//! latents that only roughly fix where a corner is, draws the average of the corners it could
//! be, rounded. Redrawn, the target of a generated latent is a function of that latent alone
//! (the shapes' boxes come from its own picture), so there is nothing left to average.

use image::RgbImage;

use super::checker::{PixelRect, chroma, detect_shapes, distance, rgb_f32};
use super::world::{Background, Shape, SplitAxis, Sprite, Tone, render};

/// Largest mean RGB distance between the background pixels and the fitted background: above
/// it the picture's background is not the world's (a blotch, a curved seam), and it is not
/// redrawn.
pub const MAX_BACKGROUND_ERROR: f32 = 20.0;
/// Background pixels this close (px, Chebyshev) to a shape's are left out of the fit: they
/// carry the shape's anti-aliased or blurred edge.
const SHAPE_MARGIN: i64 = 2;
/// A split sits in 0.3..0.7 of the picture in the world; the fit looks a little wider.
const SPLIT_RANGE: (f32, f32) = (0.2, 0.8);

/// Why a picture could not be redrawn (for the stage's tally).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unredrawable {
    /// Not as many shapes as asked.
    Count,
    /// A shape in the wrong place or of the wrong colour: what to draw is not clear.
    Placement,
    /// The background is not one of the world's.
    Background,
}

/// `image` redrawn with `asked`'s kinds and colours at the boxes of the shapes it shows.
pub fn redraw(image: &RgbImage, asked: &[Shape]) -> Result<RgbImage, Unredrawable> {
    let resolution = image.width();
    let found = detect_shapes(image);
    if found.len() != asked.len() {
        return Err(Unredrawable::Count);
    }
    // Two shapes sit on opposite anchors, so at most one pairing puts both in place.
    let pairings: &[&[usize]] = match asked.len() {
        1 => &[&[0]],
        _ => &[&[0, 1], &[1, 0]],
    };
    let pairing = pairings
        .iter()
        .find(|p| {
            asked
                .iter()
                .zip(p.iter())
                .all(|(a, &d)| found[d].position == a.position && found[d].colour == a.colour)
        })
        .ok_or(Unredrawable::Placement)?;
    let res = resolution as f32;
    let sprites: Vec<Sprite> = asked
        .iter()
        .zip(pairing.iter())
        .map(|(a, &d)| {
            let b = half_coverage_box(image, &found[d].bounds, a.colour.rgb());
            Sprite::fitted_to_box(
                a.kind,
                a.colour.rgb(),
                (
                    (b.x as f32 + b.width as f32 / 2.0) / res,
                    (b.y as f32 + b.height as f32 / 2.0) / res,
                ),
                b.width as f32 / res,
                b.height as f32 / res,
            )
        })
        .collect();
    let background_pixels =
        away_from_shapes(image, &found.iter().map(|d| d.bounds).collect::<Vec<_>>());
    let (background, error) = fit_background(image, &background_pixels);
    if error > MAX_BACKGROUND_ERROR {
        return Err(Unredrawable::Background);
    }
    Ok(render(&background, &sprites, resolution))
}

/// The box of the pixels around `bounds` (one pixel wider) that a shape of colour `rgb` covers
/// at least half of. Over a grey background a pixel's chroma (max - min channel) is exactly
/// its coverage times the shape colour's, so half coverage is where the world's edge runs,
/// whatever the checker's blurred threshold made of it.
fn half_coverage_box(image: &RgbImage, bounds: &PixelRect, rgb: [u8; 3]) -> PixelRect {
    let half = chroma(rgb_f32(rgb)) / 2.0;
    let (x0, y0) = (bounds.x.saturating_sub(1), bounds.y.saturating_sub(1));
    let x1 = (bounds.x + bounds.width).min(image.width() - 1);
    let y1 = (bounds.y + bounds.height).min(image.height() - 1);
    let (mut lo, mut hi) = ((u32::MAX, u32::MAX), (0, 0));
    for y in y0..=y1 {
        for x in x0..=x1 {
            if chroma(rgb_f32(image.get_pixel(x, y).0)) >= half {
                lo = (lo.0.min(x), lo.1.min(y));
                hi = (hi.0.max(x), hi.1.max(y));
            }
        }
    }
    if lo.0 > hi.0 || lo.1 > hi.1 {
        return *bounds;
    }
    PixelRect {
        x: lo.0,
        y: lo.1,
        width: hi.0 - lo.0 + 1,
        height: hi.1 - lo.1 + 1,
    }
}

/// Per pixel (row-major): farther than `SHAPE_MARGIN` from every shape's box.
fn away_from_shapes(image: &RgbImage, boxes: &[PixelRect]) -> Vec<bool> {
    let (w, h) = (image.width() as i64, image.height() as i64);
    (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            boxes.iter().all(|b| {
                let (bx0, by0) = (b.x as i64 - SHAPE_MARGIN, b.y as i64 - SHAPE_MARGIN);
                let bx1 = (b.x + b.width) as i64 - 1 + SHAPE_MARGIN;
                let by1 = (b.y + b.height) as i64 - 1 + SHAPE_MARGIN;
                x < bx0 || x > bx1 || y < by0 || y > by1
            })
        })
        .collect()
}

/// The world background (plain, or split along either axis with each side's nearest tone)
/// closest to `image` on the pixels `counted`, and its mean RGB distance there.
pub fn fit_background(image: &RgbImage, counted: &[bool]) -> (Background, f32) {
    let resolution = image.width();
    let pixels: Vec<(u32, u32, [f32; 3])> = image
        .enumerate_pixels()
        .filter(|(x, y, _)| counted[(*y * resolution + *x) as usize])
        .map(|(x, y, p)| (x, y, rgb_f32(p.0)))
        .collect();
    let error_of = |bg: &Background| {
        let drawn = render(bg, &[], resolution);
        let total: f32 = pixels
            .iter()
            .map(|&(x, y, p)| distance(p, rgb_f32(drawn.get_pixel(x, y).0)))
            .sum();
        total / pixels.len().max(1) as f32
    };
    let mut best = (Background::Plain { tone: Tone::Grey }, f32::INFINITY);
    let mut consider = |bg: Background| {
        let e = error_of(&bg);
        if e < best.1 {
            best = (bg, e);
        }
    };
    for tone in Tone::ALL {
        consider(Background::Plain { tone });
    }
    let res = resolution as f32;
    let first = (SPLIT_RANGE.0 * res).ceil() as u32;
    let last = (SPLIT_RANGE.1 * res).floor() as u32;
    for axis in [SplitAxis::Vertical, SplitAxis::Horizontal] {
        for cut in first..=last {
            let along = |x: u32, y: u32| match axis {
                SplitAxis::Vertical => x,
                SplitAxis::Horizontal => y,
            };
            let side = |before: bool| {
                nearest_tone(
                    pixels
                        .iter()
                        .filter(|&&(x, y, _)| (along(x, y) < cut) == before)
                        .map(|p| p.2),
                )
            };
            let (Some(first), Some(second)) = (side(true), side(false)) else {
                continue;
            };
            if first != second {
                consider(Background::Split {
                    first,
                    second,
                    axis,
                    at: cut as f32 / res,
                });
            }
        }
    }
    best
}

/// The tone nearest to the mean of `colours` (None when there are none).
fn nearest_tone(colours: impl Iterator<Item = [f32; 3]>) -> Option<Tone> {
    let (mut sum, mut n) = ([0f32; 3], 0f32);
    for c in colours {
        for i in 0..3 {
            sum[i] += c[i];
        }
        n += 1.0;
    }
    if n == 0.0 {
        return None;
    }
    let mean = sum.map(|s| s / n);
    Tone::ALL.into_iter().min_by(|a, b| {
        distance(mean, rgb_f32(a.rgb())).total_cmp(&distance(mean, rgb_f32(b.rgb())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiny::checker::judge;
    use crate::tiny::world::{Scene, ShapeKind};

    fn mean_abs_difference(a: &RgbImage, b: &RgbImage) -> f32 {
        let total: u32 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(x, y)| u32::from(x.abs_diff(*y)))
            .sum();
        total as f32 / a.as_raw().len() as f32
    }

    /// Each pixel the mean of its (2r+1)^2 neighbourhood: rounds corners as an L1 decoder does.
    fn box_blurred(image: &RgbImage, r: i64) -> RgbImage {
        let (w, h) = (image.width() as i64, image.height() as i64);
        RgbImage::from_fn(image.width(), image.height(), |x, y| {
            let (mut sum, mut n) = ([0u32; 3], 0u32);
            for dy in -r..=r {
                for dx in -r..=r {
                    let (sx, sy) = (x as i64 + dx, y as i64 + dy);
                    if sx >= 0 && sy >= 0 && sx < w && sy < h {
                        let p = image.get_pixel(sx as u32, sy as u32).0;
                        for c in 0..3 {
                            sum[c] += u32::from(p[c]);
                        }
                        n += 1;
                    }
                }
            }
            image::Rgb(sum.map(|s| (s / n) as u8))
        })
    }

    #[test]
    fn a_world_picture_redraws_as_itself() {
        let mut checked = 0;
        for seed in 0..60 {
            let scene = Scene::generate(seed);
            let picture = scene.render(64);
            let redrawn = redraw(&picture, &scene.shapes).expect("a world picture redraws");
            let diff = mean_abs_difference(&picture, &redrawn);
            assert!(diff < 2.0, "seed {seed}: mean difference {diff}");
            checked += 1;
        }
        assert_eq!(checked, 60);
    }

    #[test]
    fn redrawing_gives_a_blurred_square_its_corners_back() {
        let mut squares = 0;
        for seed in 0..200 {
            let scene = Scene::generate(seed);
            if scene.shapes.len() != 1 || scene.shapes[0].kind != ShapeKind::Square {
                continue;
            }
            let picture = scene.render(64);
            let blurred = box_blurred(&picture, 2);
            let redrawn = redraw(&blurred, &scene.shapes).expect("a blurred square redraws");
            assert!(judge(&redrawn, &scene.shapes).shape, "seed {seed}");
            let diff = mean_abs_difference(&picture, &redrawn);
            assert!(
                diff < mean_abs_difference(&picture, &blurred),
                "seed {seed}"
            );
            assert!(diff < 3.0, "seed {seed}: mean difference {diff}");
            squares += 1;
        }
        assert!(squares >= 5, "only {squares} one-square scenes");
    }

    #[test]
    fn pictures_that_are_not_the_worlds_are_refused() {
        let scene = Scene::generate(3);
        let picture = scene.render(64);
        let mut asked_twice = scene.shapes.clone();
        asked_twice.extend(scene.shapes.clone());
        if scene.shapes.len() == 1 {
            assert_eq!(redraw(&picture, &asked_twice), Err(Unredrawable::Count));
        }
        // A diagonal two-tone background is no world background.
        let diagonal = RgbImage::from_fn(64, 64, |x, y| {
            let tone = if x > y { Tone::White } else { Tone::Black };
            image::Rgb(tone.rgb())
        });
        let (_, error) = fit_background(&diagonal, &vec![true; 64 * 64]);
        assert!(
            error > MAX_BACKGROUND_ERROR,
            "diagonal fitted with error {error}"
        );
    }
}
