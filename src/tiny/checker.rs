//! The pixel judge behind `eval-tiny`: it reads shapes back out of any RGB image of the world
//! (rendered or generated, any size) using only the world's palette and geometry.
//!
//! Shapes are found as connected components of *chromatic* pixels (every shape colour is
//! saturated, every background tone is grey), after a 3x3 box blur that tames noise. Each
//! component is then classified:
//! - colour: the nearest palette colour to the mean of its most saturated half;
//! - shape: a triangle if its centroid sags below its box centre, otherwise circle or square,
//!   whichever template fitted to its bounding box has the better intersection-over-union;
//! - position: the anchor nearest to its centroid;
//! - size: the extent its area implies for that shape, against the small/large boundary.

use image::{GrayImage, Luma, RgbImage};

use super::world::{Colour, Position, Shape, ShapeKind, Size, Sprite, Tone};

/// Blurred chroma (max - min channel) above which a pixel belongs to a shape. The least
/// saturated shape colour has chroma 125; background tones have 0.
const CHROMA_THRESHOLD: f32 = 55.0;
/// Centroid offset below the box centre, as a share of box height, that marks a triangle
/// (an ideal triangle has 1/6, a circle or square 0).
const TRIANGLE_SAG: f32 = 0.08;
/// Two background colours closer than this (RGB distance) count as the same.
const SEAM_TOLERANCE: f32 = 24.0;
const CONTINUATION_TOLERANCE: f32 = 32.0;
/// A background pixel farther than this from every tone is not background-like.
const TONE_TOLERANCE: f32 = 40.0;
/// Mean absolute channel difference (0..255) allowed outside an inpainting mask...
const OUTSIDE_TOLERANCE: f32 = 8.0;
/// ...and the share of pixels there that may change by more than `CHANGED_PIXEL` (a redrawn
/// shape outside the mask is a few percent of the picture).
const OUTSIDE_CHANGED_SHARE: f32 = 0.01;
const CHANGED_PIXEL: u8 = 48;
/// Share of lines / pixels that must pass for a verdict to pass.
const PASS_SHARE: f32 = 0.9;
/// A component fitting no shape template better than this (IoU) is not a world shape.
const MIN_SHAPE_FIT: f32 = 0.7;
/// A component whose colour is farther than this from every palette colour is not a world shape.
const MAX_COLOUR_ERROR: f32 = 60.0;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{what} is {got_w}x{got_h} but the original is {want_w}x{want_h}")]
    SizeMismatch {
        what: &'static str,
        got_w: u32,
        got_h: u32,
        want_w: u32,
        want_h: u32,
    },
}

/// A rectangle of pixels: columns x..x+width, rows y..y+height.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PixelRect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl PixelRect {
    pub fn contains(&self, x: u32, y: u32) -> bool {
        x >= self.x && x < self.x + self.width && y >= self.y && y < self.y + self.height
    }

    /// The box around a sprite drawn at `resolution`, grown by `margin` pixels and clipped.
    pub fn around(sprite: &Sprite, resolution: u32, margin: u32) -> PixelRect {
        let (half_w, up, down) = sprite.reach();
        let r = resolution as f32;
        let (cx, cy) = sprite.centre;
        let clip = |v: f32| v.clamp(0.0, r) as u32;
        let x0 = clip(((cx - half_w) * r).floor() - margin as f32);
        let x1 = clip(((cx + half_w) * r).ceil() + margin as f32);
        let y0 = clip(((cy - up) * r).floor() - margin as f32);
        let y1 = clip(((cy + down) * r).ceil() + margin as f32);
        PixelRect {
            x: x0,
            y: y0,
            width: x1 - x0,
            height: y1 - y0,
        }
    }

    /// A mask image (255 inside the rectangle).
    pub fn mask(&self, width: u32, height: u32) -> GrayImage {
        GrayImage::from_fn(width, height, |x, y| {
            Luma([if self.contains(x, y) { 255 } else { 0 }])
        })
    }
}

/// One shape found in an image.
#[derive(Clone, Debug, PartialEq)]
pub struct Detected {
    pub colour: Colour,
    pub kind: ShapeKind,
    pub position: Position,
    pub size: Size,
    /// Centroid, normalised to 0..1.
    pub centroid: (f32, f32),
    /// Pixels in the component.
    pub area: usize,
    pub bounds: PixelRect,
    /// RGB distance from the component's mean colour to the chosen palette colour.
    pub colour_error: f32,
    /// Intersection-over-union with the chosen shape template (1 = perfect).
    pub shape_fit: f32,
}

fn blurred(image: &RgbImage) -> Vec<[f32; 3]> {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let mut out = vec![[0f32; 3]; (w * h) as usize];
    for y in 0..h {
        for x in 0..w {
            let mut sum = [0f32; 3];
            let mut n = 0f32;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let (sx, sy) = (x + dx, y + dy);
                    if sx >= 0 && sy >= 0 && sx < w && sy < h {
                        let p = image.get_pixel(sx as u32, sy as u32).0;
                        for c in 0..3 {
                            sum[c] += f32::from(p[c]);
                        }
                        n += 1.0;
                    }
                }
            }
            out[(y * w + x) as usize] = sum.map(|s| s / n);
        }
    }
    out
}

/// Max minus min channel: 0 for the world's grey tones, over 125 for its shape colours.
pub(super) fn chroma(rgb: [f32; 3]) -> f32 {
    rgb[0].max(rgb[1]).max(rgb[2]) - rgb[0].min(rgb[1]).min(rgb[2])
}

/// Euclidean RGB distance.
pub(super) fn distance(a: [f32; 3], b: [f32; 3]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

pub(super) fn rgb_f32(p: [u8; 3]) -> [f32; 3] {
    p.map(f32::from)
}

/// Per pixel (row-major): is it part of a shape?
pub fn shape_pixels(image: &RgbImage) -> Vec<bool> {
    blurred(image)
        .into_iter()
        .map(|p| chroma(p) > CHROMA_THRESHOLD)
        .collect()
}

/// 4-connected components of `mask`, each a list of pixel indices.
fn components(mask: &[bool], width: usize, height: usize) -> Vec<Vec<usize>> {
    let mut seen = vec![false; mask.len()];
    let mut out = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        let mut pixels = Vec::new();
        let mut stack = vec![start];
        seen[start] = true;
        while let Some(i) = stack.pop() {
            pixels.push(i);
            let (x, y) = (i % width, i / width);
            let neighbours = [
                (x > 0).then(|| i - 1),
                (x + 1 < width).then(|| i + 1),
                (y > 0).then(|| i - width),
                (y + 1 < height).then(|| i + width),
            ];
            for n in neighbours.into_iter().flatten() {
                if mask[n] && !seen[n] {
                    seen[n] = true;
                    stack.push(n);
                }
            }
        }
        out.push(pixels);
    }
    out
}

/// Is the pixel centre (px, py) inside the `kind` template fitted to `bounds`?
fn in_template(kind: ShapeKind, bounds: &PixelRect, px: u32, py: u32) -> bool {
    let (w, h) = (bounds.width as f32, bounds.height as f32);
    // Normalised to -1..1 across the box, y down.
    let u = ((px - bounds.x) as f32 + 0.5) / w * 2.0 - 1.0;
    let v = ((py - bounds.y) as f32 + 0.5) / h * 2.0 - 1.0;
    match kind {
        ShapeKind::Square => true,
        ShapeKind::Circle => u * u + v * v <= 1.0,
        // Apex at the top centre, base along the bottom: |u| <= (v + 1) / 2.
        ShapeKind::Triangle => u.abs() <= (v + 1.0) / 2.0,
    }
}

fn classify(image: &RgbImage, chromas: &[f32], pixels: &[usize]) -> Detected {
    let width = image.width() as usize;
    let (w, h) = (image.width() as f32, image.height() as f32);
    let xs = pixels.iter().map(|i| (i % width) as u32);
    let ys = pixels.iter().map(|i| (i / width) as u32);
    let (x0, x1) = (xs.clone().min().unwrap_or(0), xs.max().unwrap_or(0));
    let (y0, y1) = (ys.clone().min().unwrap_or(0), ys.max().unwrap_or(0));
    let bounds = PixelRect {
        x: x0,
        y: y0,
        width: x1 - x0 + 1,
        height: y1 - y0 + 1,
    };

    // Colour from the most saturated half: edge pixels are mixed with the background.
    let mut sorted: Vec<f32> = pixels.iter().map(|&i| chromas[i]).collect();
    sorted.sort_by(f32::total_cmp);
    let median = sorted[sorted.len() / 2];
    let mut sum = [0f32; 3];
    let mut n = 0f32;
    for &i in pixels.iter().filter(|&&i| chromas[i] >= median) {
        let p = image.get_pixel((i % width) as u32, (i / width) as u32).0;
        for c in 0..3 {
            sum[c] += f32::from(p[c]);
        }
        n += 1.0;
    }
    let mean = sum.map(|s| s / n.max(1.0));
    let (colour, colour_error) = Colour::ALL
        .into_iter()
        .map(|c| (c, distance(mean, rgb_f32(c.rgb()))))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((Colour::Red, f32::INFINITY));

    // Shape by template fit inside the bounding box.
    let mut in_component = vec![false; (bounds.width * bounds.height) as usize];
    for &i in pixels {
        let (x, y) = ((i % width) as u32, (i / width) as u32);
        in_component[((y - y0) * bounds.width + (x - x0)) as usize] = true;
    }
    let iou = |kind: ShapeKind| {
        let (mut both, mut either) = (0u32, 0u32);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let a = in_component[((y - y0) * bounds.width + (x - x0)) as usize];
                let b = in_template(kind, &bounds, x, y);
                both += u32::from(a && b);
                either += u32::from(a || b);
            }
        }
        both as f32 / either.max(1) as f32
    };
    let count = pixels.len() as f32;
    let mean_x = pixels.iter().map(|i| (i % width) as f32 + 0.5).sum::<f32>() / count;
    let mean_y = pixels.iter().map(|i| (i / width) as f32 + 0.5).sum::<f32>() / count;
    // A triangle's mass sits low in its box: centroid h/6 below the box centre, where circles
    // and squares are symmetric. This survives blur and tiny sizes better than outlines do.
    let box_centre_y = y0 as f32 + bounds.height as f32 / 2.0;
    let sag = (mean_y - box_centre_y) / bounds.height as f32;
    let candidates: &[ShapeKind] = if sag > TRIANGLE_SAG {
        &[ShapeKind::Triangle]
    } else {
        &[ShapeKind::Circle, ShapeKind::Square]
    };
    let (kind, shape_fit) = candidates
        .iter()
        .map(|&k| (k, iou(k)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((ShapeKind::Square, 0.0));
    let (cx, cy) = (mean_x / w, mean_y / h);
    let scale = (w * h).sqrt();
    let extent = (count / kind.area_factor()).sqrt() / scale;
    Detected {
        colour,
        kind,
        position: Position::nearest(cx, cy),
        size: Size::from_extent(extent),
        centroid: (cx, cy),
        area: pixels.len(),
        bounds,
        colour_error,
        shape_fit,
    }
}

/// Every shape in the image, largest first. Specks smaller than 1/400 of the image are ignored.
pub fn detect_shapes(image: &RgbImage) -> Vec<Detected> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let chromas: Vec<f32> = blurred(image).into_iter().map(chroma).collect();
    let mask: Vec<bool> = chromas.iter().map(|&c| c > CHROMA_THRESHOLD).collect();
    let min_area = (w * h / 400).max(8);
    let mut found: Vec<Detected> = components(&mask, w, h)
        .into_iter()
        .filter(|c| c.len() >= min_area)
        .map(|c| classify(image, &chromas, &c))
        .collect();
    found.sort_by_key(|d| std::cmp::Reverse(d.area));
    found
}

/// Which attributes of a scene an image gets right. An attribute is right when every expected
/// shape has it, after pairing expected shapes with the largest detected ones the best way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Judgement {
    pub count: bool,
    pub colour: bool,
    pub shape: bool,
    pub position: bool,
    pub size: bool,
}

pub fn judge(image: &RgbImage, expected: &[Shape]) -> Judgement {
    judge_detections(&detect_shapes(image), expected)
}

pub fn judge_detections(found: &[Detected], expected: &[Shape]) -> Judgement {
    let count = found.len() == expected.len();
    if found.len() < expected.len() || expected.is_empty() {
        return Judgement {
            count,
            ..Judgement::default()
        };
    }
    let matches = |e: &Shape, d: &Detected| {
        [
            e.colour == d.colour,
            e.kind == d.kind,
            e.position == d.position,
            e.size == d.size,
        ]
    };
    // At most two expected shapes: try both pairings with the two largest detections.
    let pairings: Vec<Vec<usize>> = match expected.len() {
        1 => vec![vec![0]],
        2 => vec![vec![0, 1], vec![1, 0]],
        n => vec![(0..n).collect()],
    };
    let score = |pairing: &Vec<usize>| {
        expected
            .iter()
            .zip(pairing)
            .map(|(e, &d)| matches(e, &found[d]).iter().filter(|m| **m).count())
            .sum::<usize>()
    };
    let best = pairings
        .iter()
        .max_by_key(|p| score(p))
        .cloned()
        .unwrap_or_default();
    let all = |attribute: usize| {
        expected
            .iter()
            .zip(&best)
            .all(|(e, &d)| matches(e, &found[d])[attribute])
    };
    Judgement {
        count,
        colour: all(0),
        shape: all(1),
        position: all(2),
        size: all(3),
    }
}

/// Whether an extended (outpainted) image continues the background of its known region.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExtensionVerdict {
    /// Lines across the known region's open edges that were checked.
    pub lines: usize,
    /// Share of lines with no visible seam (edge colour equals the colour just across it).
    pub seamless: f32,
    /// Share of new background pixels near the edge that keep the edge's colour.
    pub continued: f32,
    /// Share of all new background pixels that look like a background tone.
    pub tone_like: f32,
    /// Coloured blobs reaching into the new area that are no world shape (wrong outline or
    /// off-palette colour): generated garbage.
    pub stray_blobs: usize,
}

impl ExtensionVerdict {
    /// Each criterion on its own: no seam, edge continued, background tones, no stray blobs.
    pub fn criteria(&self) -> [bool; 4] {
        [
            self.seamless >= PASS_SHARE,
            self.continued >= PASS_SHARE,
            self.tone_like >= PASS_SHARE,
            self.stray_blobs == 0,
        ]
    }

    pub fn passed(&self) -> bool {
        self.criteria().into_iter().all(|ok| ok)
    }
}

/// Mean colour of the background (non-shape) pixels among `points`, if any.
fn background_mean(
    image: &RgbImage,
    shapes: &[bool],
    points: impl Iterator<Item = (u32, u32)>,
) -> Option<[f32; 3]> {
    let mut sum = [0f32; 3];
    let mut n = 0f32;
    for (x, y) in points {
        if !shapes[(y * image.width() + x) as usize] {
            let p = image.get_pixel(x, y).0;
            for c in 0..3 {
                sum[c] += f32::from(p[c]);
            }
            n += 1.0;
        }
    }
    (n > 0.0).then(|| sum.map(|s| s / n))
}

/// Grow a mask by `radius` pixels (square neighbourhood).
fn dilate(mask: &[bool], width: u32, height: u32, radius: u32) -> Vec<bool> {
    let r = radius as i64;
    let (w, h) = (width as i64, height as i64);
    let mut out = vec![false; mask.len()];
    for y in 0..h {
        for x in 0..w {
            if !mask[(y * w + x) as usize] {
                continue;
            }
            for yy in (y - r).max(0)..=(y + r).min(h - 1) {
                for xx in (x - r).max(0)..=(x + r).min(w - 1) {
                    out[(yy * w + xx) as usize] = true;
                }
            }
        }
    }
    out
}

/// Judge an extension: `known` is the part of `image` that came from the original picture;
/// everything else was generated. Along each edge of `known` that borders generated pixels,
/// the background must cross the edge without a seam and keep its colour for a band of 1/8
/// of the image, all generated background must look like a background tone, and any coloured
/// blob reaching into the new area must be a proper world shape.
/// (An eval should not place the edge within a few pixels of a two-tone split line.)
pub fn background_continues(image: &RgbImage, known: PixelRect) -> ExtensionVerdict {
    let (w, h) = image.dimensions();
    let shapes = dilate(&shape_pixels(image), w, h, 1);
    let strip = 3u32;
    let band = ((w.min(h)) / 8).max(4);
    let (x1, y1) = (known.x + known.width, known.y + known.height);
    let (mut lines, mut seamless) = (0usize, 0usize);
    let (mut near, mut near_ok) = (0usize, 0usize);

    // Each open side: points along it, and for a line index the inside strip, the outside strip
    // and the band beyond, as (x, y) lists.
    type Line = (Vec<(u32, u32)>, Vec<(u32, u32)>, Vec<(u32, u32)>);
    let mut sides: Vec<Vec<Line>> = Vec::new();
    if x1 < w {
        sides.push(
            (known.y..y1)
                .map(|y| {
                    let inside = (x1.saturating_sub(strip)..x1).map(|x| (x, y)).collect();
                    let outside = (x1..(x1 + strip).min(w)).map(|x| (x, y)).collect();
                    let beyond = (x1..(x1 + band).min(w)).map(|x| (x, y)).collect();
                    (inside, outside, beyond)
                })
                .collect(),
        );
    }
    if known.x > 0 {
        sides.push(
            (known.y..y1)
                .map(|y| {
                    let inside = (known.x..(known.x + strip).min(x1))
                        .map(|x| (x, y))
                        .collect();
                    let outside = (known.x.saturating_sub(strip)..known.x)
                        .map(|x| (x, y))
                        .collect();
                    let beyond = (known.x.saturating_sub(band)..known.x)
                        .map(|x| (x, y))
                        .collect();
                    (inside, outside, beyond)
                })
                .collect(),
        );
    }
    if y1 < h {
        sides.push(
            (known.x..x1)
                .map(|x| {
                    let inside = (y1.saturating_sub(strip)..y1).map(|y| (x, y)).collect();
                    let outside = (y1..(y1 + strip).min(h)).map(|y| (x, y)).collect();
                    let beyond = (y1..(y1 + band).min(h)).map(|y| (x, y)).collect();
                    (inside, outside, beyond)
                })
                .collect(),
        );
    }
    if known.y > 0 {
        sides.push(
            (known.x..x1)
                .map(|x| {
                    let inside = (known.y..(known.y + strip).min(y1))
                        .map(|y| (x, y))
                        .collect();
                    let outside = (known.y.saturating_sub(strip)..known.y)
                        .map(|y| (x, y))
                        .collect();
                    let beyond = (known.y.saturating_sub(band)..known.y)
                        .map(|y| (x, y))
                        .collect();
                    (inside, outside, beyond)
                })
                .collect(),
        );
    }
    for (inside, outside, beyond) in sides.into_iter().flatten() {
        let (Some(a), Some(b)) = (
            background_mean(image, &shapes, inside.into_iter()),
            background_mean(image, &shapes, outside.into_iter()),
        ) else {
            continue;
        };
        lines += 1;
        seamless += usize::from(distance(a, b) < SEAM_TOLERANCE);
        for (x, y) in beyond {
            if !shapes[(y * w + x) as usize] {
                near += 1;
                let p = rgb_f32(image.get_pixel(x, y).0);
                near_ok += usize::from(distance(p, a) < CONTINUATION_TOLERANCE);
            }
        }
    }

    let (mut generated, mut generated_ok) = (0usize, 0usize);
    for y in 0..h {
        for x in 0..w {
            if known.contains(x, y) || shapes[(y * w + x) as usize] {
                continue;
            }
            generated += 1;
            let p = rgb_f32(image.get_pixel(x, y).0);
            let nearest = Tone::ALL
                .iter()
                .map(|t| distance(p, rgb_f32(t.rgb())))
                .fold(f32::INFINITY, f32::min);
            generated_ok += usize::from(nearest < TONE_TOLERANCE);
        }
    }
    let inside_known = |b: &PixelRect| {
        b.x >= known.x && b.y >= known.y && b.x + b.width <= x1 && b.y + b.height <= y1
    };
    let stray_blobs = detect_shapes(image)
        .iter()
        .filter(|d| !inside_known(&d.bounds))
        .filter(|d| d.shape_fit < MIN_SHAPE_FIT || d.colour_error > MAX_COLOUR_ERROR)
        .count();
    let share = |ok: usize, all: usize| {
        if all == 0 {
            1.0
        } else {
            ok as f32 / all as f32
        }
    };
    ExtensionVerdict {
        lines,
        seamless: share(seamless, lines),
        continued: share(near_ok, near),
        tone_like: share(generated_ok, generated),
        stray_blobs,
    }
}

/// Whether an inpainting result put the asked shape in the mask and left the rest alone.
#[derive(Clone, Debug, PartialEq)]
pub struct InpaintVerdict {
    /// The largest shape whose centroid lies in the (slightly grown) mask.
    pub found: Option<Detected>,
    pub colour_ok: bool,
    pub shape_ok: bool,
    /// Mean absolute channel difference (0..255) between original and result outside the mask.
    pub outside_difference: f32,
    /// Share of pixels outside the mask with some channel changed by more than 48.
    pub outside_changed_share: f32,
    pub outside_unchanged: bool,
}

impl InpaintVerdict {
    /// Each criterion on its own: asked colour, asked kind, outside unchanged.
    pub fn criteria(&self) -> [bool; 3] {
        [self.colour_ok, self.shape_ok, self.outside_unchanged]
    }

    pub fn passed(&self) -> bool {
        self.criteria().into_iter().all(|ok| ok)
    }
}

/// Judge an inpainting: `mask` (non-zero = repaint) was filled in `result` from `original`,
/// asking for a `colour` `kind`. The mask is grown by 1/32 of the image to forgive blending.
pub fn inpaint_ok(
    original: &RgbImage,
    result: &RgbImage,
    mask: &GrayImage,
    colour: Colour,
    kind: ShapeKind,
) -> Result<InpaintVerdict, CheckError> {
    let (w, h) = original.dimensions();
    for (what, (gw, gh)) in [
        ("the result", result.dimensions()),
        ("the mask", mask.dimensions()),
    ] {
        if (gw, gh) != (w, h) {
            return Err(CheckError::SizeMismatch {
                what,
                got_w: gw,
                got_h: gh,
                want_w: w,
                want_h: h,
            });
        }
    }
    let masked: Vec<bool> = mask.pixels().map(|p| p.0[0] > 0).collect();
    let grown = dilate(&masked, w, h, (w.min(h) / 32).max(2));

    let (mut sum, mut n, mut changed) = (0f64, 0usize, 0usize);
    for (i, (a, b)) in original.pixels().zip(result.pixels()).enumerate() {
        if !grown[i] {
            let diffs = [0, 1, 2].map(|c| a.0[c].abs_diff(b.0[c]));
            sum += diffs.iter().map(|&d| f64::from(d)).sum::<f64>();
            changed += usize::from(diffs.iter().any(|&d| d > CHANGED_PIXEL));
            n += 1;
        }
    }
    let outside_difference = if n == 0 {
        0.0
    } else {
        (sum / (3 * n) as f64) as f32
    };
    let outside_changed_share = if n == 0 {
        0.0
    } else {
        changed as f32 / n as f32
    };

    let found = detect_shapes(result).into_iter().find(|d| {
        let x = ((d.centroid.0 * w as f32) as u32).min(w - 1);
        let y = ((d.centroid.1 * h as f32) as u32).min(h - 1);
        grown[(y * w + x) as usize]
    });
    Ok(InpaintVerdict {
        colour_ok: found.as_ref().is_some_and(|d| d.colour == colour),
        shape_ok: found.as_ref().is_some_and(|d| d.kind == kind),
        found,
        outside_difference,
        outside_changed_share,
        outside_unchanged: outside_difference < OUTSIDE_TOLERANCE
            && outside_changed_share < OUTSIDE_CHANGED_SHARE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiny::dataset::Split;
    use crate::tiny::world::{Background, Scene, SplitAxis, Stream, render, rng_for};
    use rand_distr::{Distribution, Normal};

    fn held_out_scenes(n: u64) -> Vec<Scene> {
        let start = Split::HeldOut.seeds().start;
        (0..n).map(|i| Scene::generate(start + i)).collect()
    }

    /// Gaussian noise (sigma in 0..255 units), seeded.
    fn noisy(image: &RgbImage, sigma: f32, seed: u64) -> RgbImage {
        let mut rng = rng_for(seed, Stream::Dataset);
        let normal = Normal::new(0.0f32, sigma).unwrap();
        let mut out = image.clone();
        for p in out.pixels_mut() {
            for c in 0..3 {
                p.0[c] = (f32::from(p.0[c]) + normal.sample(&mut rng))
                    .round()
                    .clamp(0.0, 255.0) as u8;
            }
        }
        out
    }

    /// A 3x3 box blur, like a soft decoder.
    fn soft(image: &RgbImage) -> RgbImage {
        let b = blurred(image);
        RgbImage::from_fn(image.width(), image.height(), |x, y| {
            image::Rgb(b[(y * image.width() + x) as usize].map(|v| v.round() as u8))
        })
    }

    fn accuracy(scenes: &[Scene], image_of: impl Fn(&Scene) -> RgbImage) -> [f32; 5] {
        let mut right = [0usize; 5];
        for scene in scenes {
            let j = judge(&image_of(scene), &scene.shapes);
            for (k, ok) in [j.count, j.colour, j.shape, j.position, j.size]
                .into_iter()
                .enumerate()
            {
                right[k] += usize::from(ok);
            }
        }
        right.map(|r| r as f32 / scenes.len() as f32)
    }

    fn assert_at_least(acc: [f32; 5], floor: f32, what: &str) {
        let names = ["count", "colour", "shape", "position", "size"];
        for (name, a) in names.iter().zip(acc) {
            assert!(
                a >= floor,
                "{what}: {name} accuracy {a} < {floor} ({acc:?})"
            );
        }
    }

    #[test]
    fn clean_renders_are_read_back_exactly() {
        let scenes = held_out_scenes(200);
        let acc = accuracy(&scenes, |s| s.render(64));
        assert_at_least(acc, 0.98, "clean 64x64");
        eprintln!("clean 64x64 accuracy [count, colour, shape, position, size] = {acc:?}");
    }

    #[test]
    fn other_resolutions_work_too() {
        let scenes = held_out_scenes(60);
        assert_at_least(accuracy(&scenes, |s| s.render(128)), 0.98, "clean 128x128");
        assert_at_least(accuracy(&scenes, |s| s.render(48)), 0.95, "clean 48x48");
    }

    #[test]
    fn noise_and_blur_do_not_fool_it() {
        let scenes = held_out_scenes(200);
        let acc = accuracy(&scenes, |s| noisy(&s.render(64), 12.0, s.seed));
        eprintln!("noise sigma 12 accuracy = {acc:?}");
        assert_at_least(acc, 0.98, "noise sigma 12");
        let acc = accuracy(&scenes, |s| noisy(&soft(&s.render(64)), 8.0, s.seed));
        eprintln!("blur + noise sigma 8 accuracy = {acc:?}");
        assert_at_least(acc, 0.98, "blur + noise sigma 8");
    }

    #[test]
    fn clip_frames_are_read_back() {
        use crate::tiny::world::{Clip, Direction, Motion};
        let start = Split::HeldOut.seeds().start;
        for seed in start..start + 100 {
            let clip = Clip::generate(seed, 9).unwrap();
            let first = detect_shapes(&clip.render_frame(0, 64));
            let last = detect_shapes(&clip.render_frame(8, 64));
            assert_eq!((first.len(), last.len()), (1, 1), "seed {seed}");
            let (a, b) = (&first[0], &last[0]);
            assert_eq!((a.kind, b.kind), (clip.kind, clip.kind), "seed {seed}");
            assert_eq!((a.colour, b.colour), (clip.colour, clip.colour_at_end()));
            let (dx, dy) = (b.centroid.0 - a.centroid.0, b.centroid.1 - a.centroid.1);
            match clip.motion {
                Motion::Move {
                    direction: Direction::Left,
                } => assert!(dx < -0.3),
                Motion::Move {
                    direction: Direction::Right,
                } => assert!(dx > 0.3),
                Motion::Move {
                    direction: Direction::Up,
                } => assert!(dy < -0.3),
                Motion::Move {
                    direction: Direction::Down,
                } => assert!(dy > 0.3),
                Motion::Grow => assert!(b.area > a.area * 2, "seed {seed}"),
                Motion::Recolour { .. } => assert!(dx.abs() < 0.02 && dy.abs() < 0.02),
            }
        }
    }

    #[test]
    fn wrong_pictures_are_judged_wrong() {
        let scenes = held_out_scenes(100);
        // Judge each scene's picture against the next scene's description: most attributes
        // must then fail (they agree only by chance).
        let mut all_right = 0;
        for pair in scenes.windows(2) {
            let j = judge(&pair[0].render(64), &pair[1].shapes);
            all_right += usize::from(j.count && j.colour && j.shape && j.position);
        }
        assert!(
            all_right <= 3,
            "{all_right} mismatched pictures judged fully right"
        );
        // A blank picture has no shapes.
        let blank = render(&Background::Plain { tone: Tone::Grey }, &[], 64);
        assert!(detect_shapes(&blank).is_empty());
        assert_eq!(judge(&blank, &scenes[0].shapes), Judgement::default());
    }

    #[test]
    fn extension_of_a_real_picture_passes_and_a_seam_fails() {
        let mut passed = 0;
        let scenes = held_out_scenes(100);
        for scene in &scenes {
            let image = scene.render(64);
            let known = PixelRect {
                x: 0,
                y: 0,
                width: 48,
                height: 64,
            };
            // Skip edges that a two-tone split line crosses nearby: the new tone is unknowable.
            if let Background::Split {
                axis: SplitAxis::Vertical,
                at,
                ..
            } = scene.background
                && (at * 64.0 - 48.0).abs() < 10.0
            {
                continue;
            }
            let verdict = background_continues(&image, known);
            assert!(verdict.lines > 0);
            passed += usize::from(verdict.passed());
            // Paint the new area a different tone: there must be a seam.
            let mut broken = image.clone();
            let edge = *image.get_pixel(47, 0);
            let other = if edge.0[0] > 128 {
                [20, 20, 20]
            } else {
                [240, 240, 240]
            };
            for y in 0..64 {
                for x in 48..64 {
                    broken.put_pixel(x, y, image::Rgb(other));
                }
            }
            assert!(
                !background_continues(&broken, known).passed(),
                "seed {}",
                scene.seed
            );
            // Grey noise, or coloured garbage, in the new area fail too.
            let mut grey_noise = image.clone();
            let mut colour_garbage = image.clone();
            for y in 0..64 {
                for x in 48..64 {
                    let v = ((x * 37 + y * 91) % 256) as u8;
                    grey_noise.put_pixel(x, y, image::Rgb([v, v, v]));
                    let garbage = [(x * 13 % 256) as u8, (y * 29 % 256) as u8, 90];
                    colour_garbage.put_pixel(x, y, image::Rgb(garbage));
                }
            }
            assert!(
                !background_continues(&grey_noise, known).passed(),
                "seed {}",
                scene.seed
            );
            let verdict = background_continues(&colour_garbage, known);
            assert!(!verdict.passed(), "seed {}: {verdict:?}", scene.seed);
        }
        eprintln!("true extensions passed: {passed}");
        assert!(passed >= 80, "only {passed} true extensions passed");
        // Top and left edges work the same way.
        let image = scenes[0].render(64);
        let bottom_right = PixelRect {
            x: 16,
            y: 16,
            width: 48,
            height: 48,
        };
        assert!(background_continues(&image, bottom_right).lines >= 96);
    }

    #[test]
    fn inpainting_checks_the_mask_and_the_rest() {
        let scene = held_out_scenes(30)
            .into_iter()
            .find(|s| s.shapes.len() == 2)
            .expect("a two-shape scene");
        let original = scene.render(64);
        let target = scene.shapes[0];
        let rect = PixelRect::around(&target.sprite(), 64, 2);
        let mask = rect.mask(64, 64);
        // The "inpainted" picture: the same scene with the first shape recoloured and reshaped.
        let new_colour = if target.colour == Colour::Blue {
            Colour::Red
        } else {
            Colour::Blue
        };
        let new_kind = if target.kind == ShapeKind::Circle {
            ShapeKind::Square
        } else {
            ShapeKind::Circle
        };
        let mut repainted = scene.clone();
        repainted.shapes[0].colour = new_colour;
        repainted.shapes[0].kind = new_kind;
        let result = repainted.render(64);
        let verdict = inpaint_ok(&original, &result, &mask, new_colour, new_kind).unwrap();
        assert!(verdict.passed(), "{verdict:?}");
        assert!(verdict.outside_difference < 0.5);

        // Asking for something else fails on that attribute.
        let wrong = inpaint_ok(&original, &result, &mask, target.colour, new_kind).unwrap();
        assert!(!wrong.colour_ok && wrong.shape_ok && !wrong.passed());
        // Changing the other shape (outside the mask) fails "outside unchanged".
        let mut both = repainted.clone();
        both.shapes[1].colour = if both.shapes[1].colour == Colour::Green {
            Colour::Purple
        } else {
            Colour::Green
        };
        let verdict = inpaint_ok(&original, &both.render(64), &mask, new_colour, new_kind).unwrap();
        assert!(!verdict.outside_unchanged, "{verdict:?}");
        // An empty mask area finds nothing.
        let mut erased = scene.clone();
        erased.shapes.remove(0);
        let verdict =
            inpaint_ok(&original, &erased.render(64), &mask, new_colour, new_kind).unwrap();
        assert!(verdict.found.is_none() && !verdict.passed());
        // Sizes must agree.
        assert!(inpaint_ok(&original, &scene.render(32), &mask, new_colour, new_kind).is_err());
    }
}
