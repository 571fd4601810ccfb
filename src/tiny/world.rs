//! The procedural world the tiny Show-o2 is trained on: coloured shapes on neutral backgrounds,
//! and short clips of one shape moving, growing or changing colour.
//!
//! Everything is a pure function of a `u64` seed (ChaCha8, one stream per purpose), so the
//! training command, the evaluation and the tests all see exactly the same pictures.
//! Geometry lives in normalised coordinates (0..1, y down) and is rendered anti-aliased at any
//! square resolution.
//!
//! Design choices that keep the pixel judge (`checker.rs`) unambiguous:
//! - shape colours are saturated and far apart in hue; backgrounds are neutral greys, so
//!   "is this pixel part of a shape" is a chroma test;
//! - the five positions are anchors 0.25 apart and jitter is at most 0.025, so the nearest
//!   anchor to a centroid is always the true position;
//! - two-shape scenes use opposite anchors (left+right or top+bottom) and sizes that leave a gap.

use image::{Rgb, RgbImage};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Square resolution the shipped tiny model works at.
pub const DEFAULT_RESOLUTION: u32 = 64;
/// Frames per clip by default (1 + 4k, the Wan VAE's causal temporal grid).
pub const DEFAULT_CLIP_FRAMES: usize = 9;
/// How far (normalised) a shape may sit from its anchor.
pub const POSITION_JITTER: f32 = 0.025;
/// A square's half-side in units of its extent (so its area is close to the circle's).
pub const SQUARE_HALF_SIDE: f32 = 0.88;
/// An equilateral triangle's side in units of its extent.
pub const TRIANGLE_SIDE: f32 = 2.0;

/// Independent random streams per purpose: changing how captions are drawn never changes pixels.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    Scene = 0,
    Clip = 1,
    Caption = 2,
    Question = 3,
    Dataset = 4,
    Counterfactual = 5,
}

/// The seeded generator for one purpose.
pub fn rng_for(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream as u64);
    rng
}

#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error("a clip needs 1 + 4k frames (the Wan VAE's causal grid, e.g. 9 or 17), got {0}")]
    BadFrameCount(usize),
    #[error("resolution must be at least 16 pixels, got {0}")]
    BadResolution(u32),
}

pub fn check_frame_count(frames: usize) -> Result<(), WorldError> {
    if frames >= 5 && (frames - 1).is_multiple_of(4) {
        Ok(())
    } else {
        Err(WorldError::BadFrameCount(frames))
    }
}

pub fn check_resolution(resolution: u32) -> Result<(), WorldError> {
    if resolution >= 16 {
        Ok(())
    } else {
        Err(WorldError::BadResolution(resolution))
    }
}

fn pick<T: Copy, R: Rng + ?Sized>(rng: &mut R, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShapeKind {
    Circle,
    Square,
    Triangle,
}

impl ShapeKind {
    pub const ALL: [ShapeKind; 3] = [ShapeKind::Circle, ShapeKind::Square, ShapeKind::Triangle];

    /// Position in `ALL`: the class index classifiers over the kinds use.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            ShapeKind::Circle => "circle",
            ShapeKind::Square => "square",
            ShapeKind::Triangle => "triangle",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            ShapeKind::Circle => "circles",
            ShapeKind::Square => "squares",
            ShapeKind::Triangle => "triangles",
        }
    }

    /// Area of the shape in units of extent², used to turn a measured area back into a size.
    /// Square half-side is `SQUARE_HALF_SIDE`·e and the triangle side `TRIANGLE_SIDE`·e (see
    /// `signed_distance`).
    pub fn area_factor(self) -> f32 {
        match self {
            ShapeKind::Circle => std::f32::consts::PI,
            ShapeKind::Square => (2.0 * SQUARE_HALF_SIDE).powi(2),
            ShapeKind::Triangle => 3f32.sqrt() / 4.0 * TRIANGLE_SIDE * TRIANGLE_SIDE,
        }
    }
}

/// Shape colours: saturated, six hues at least ~25° apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    Red,
    Orange,
    Yellow,
    Green,
    Blue,
    Purple,
}

impl Colour {
    pub const ALL: [Colour; 6] = [
        Colour::Red,
        Colour::Orange,
        Colour::Yellow,
        Colour::Green,
        Colour::Blue,
        Colour::Purple,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::Orange => "orange",
            Colour::Yellow => "yellow",
            Colour::Green => "green",
            Colour::Blue => "blue",
            Colour::Purple => "purple",
        }
    }

    pub fn rgb(self) -> [u8; 3] {
        match self {
            Colour::Red => [215, 40, 40],
            Colour::Orange => [240, 130, 20],
            Colour::Yellow => [235, 205, 30],
            Colour::Green => [40, 165, 60],
            Colour::Blue => [40, 90, 215],
            Colour::Purple => [145, 55, 185],
        }
    }
}

/// Background tones: neutral (zero chroma), so they never read as a shape colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    White,
    LightGrey,
    Grey,
    DarkGrey,
    Black,
}

impl Tone {
    pub const ALL: [Tone; 5] = [
        Tone::White,
        Tone::LightGrey,
        Tone::Grey,
        Tone::DarkGrey,
        Tone::Black,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tone::White => "white",
            Tone::LightGrey => "light grey",
            Tone::Grey => "grey",
            Tone::DarkGrey => "dark grey",
            Tone::Black => "black",
        }
    }

    pub fn rgb(self) -> [u8; 3] {
        let v = match self {
            Tone::White => 240,
            Tone::LightGrey => 185,
            Tone::Grey => 128,
            Tone::DarkGrey => 72,
            Tone::Black => 20,
        };
        [v, v, v]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    Small,
    Large,
}

impl Size {
    pub const ALL: [Size; 2] = [Size::Small, Size::Large];

    pub fn name(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Large => "large",
        }
    }

    /// Half-size of the shape, normalised to the image width.
    pub fn extent(self) -> f32 {
        match self {
            // Shapes are as large as two of them side by side allow (4 px apart at 64 px,
            // anchors 0.25 from the centre): more latent cells per shape is what lets the
            // model tell a circle's outline from a square's.
            Size::Small => 0.13,
            Size::Large => 0.185,
        }
    }

    /// The size class of a measured extent: the boundary is the geometric mean of the two.
    pub fn from_extent(extent: f32) -> Size {
        let boundary = (Size::Small.extent() * Size::Large.extent()).sqrt();
        if extent < boundary {
            Size::Small
        } else {
            Size::Large
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Position {
    Left,
    Right,
    Top,
    Bottom,
    Centre,
}

impl Position {
    pub const ALL: [Position; 5] = [
        Position::Left,
        Position::Right,
        Position::Top,
        Position::Bottom,
        Position::Centre,
    ];

    /// One word, as used in answers.
    pub fn name(self) -> &'static str {
        match self {
            Position::Left => "left",
            Position::Right => "right",
            Position::Top => "top",
            Position::Bottom => "bottom",
            Position::Centre => "centre",
        }
    }

    /// The English phrase for "where": "on the left", "at the top", "in the centre".
    pub fn phrase(self) -> &'static str {
        match self {
            Position::Left => "on the left",
            Position::Right => "on the right",
            Position::Top => "at the top",
            Position::Bottom => "at the bottom",
            Position::Centre => "in the centre",
        }
    }

    /// Anchor point (x, y), normalised, y down.
    pub fn anchor(self) -> (f32, f32) {
        match self {
            Position::Left => (0.25, 0.5),
            Position::Right => (0.75, 0.5),
            Position::Top => (0.5, 0.25),
            Position::Bottom => (0.5, 0.75),
            Position::Centre => (0.5, 0.5),
        }
    }

    /// The position whose anchor is nearest to a normalised point.
    pub fn nearest(x: f32, y: f32) -> Position {
        let distance = |p: Position| {
            let (ax, ay) = p.anchor();
            (ax - x).powi(2) + (ay - y).powi(2)
        };
        Position::ALL
            .into_iter()
            .min_by(|a, b| distance(*a).total_cmp(&distance(*b)))
            .unwrap_or(Position::Centre)
    }
}

/// Which way a two-tone background is split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitAxis {
    /// Left part `first`, right part `second`, split at x = `at`.
    Vertical,
    /// Top part `first`, bottom part `second`, split at y = `at`.
    Horizontal,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Background {
    Plain {
        tone: Tone,
    },
    Split {
        first: Tone,
        second: Tone,
        axis: SplitAxis,
        at: f32,
    },
}

impl Background {
    fn generate<R: Rng + ?Sized>(rng: &mut R) -> Background {
        if rng.random_bool(0.6) {
            return Background::Plain {
                tone: pick(rng, &Tone::ALL),
            };
        }
        let first = pick(rng, &Tone::ALL);
        let others: Vec<Tone> = Tone::ALL.into_iter().filter(|t| *t != first).collect();
        Background::Split {
            first,
            second: pick(rng, &others),
            axis: if rng.random_bool(0.5) {
                SplitAxis::Vertical
            } else {
                SplitAxis::Horizontal
            },
            at: rng.random_range(0.3..0.7),
        }
    }

    /// The tones, in reading order (left/top first).
    pub fn tones(&self) -> Vec<Tone> {
        match *self {
            Background::Plain { tone } => vec![tone],
            Background::Split { first, second, .. } => vec![first, second],
        }
    }

    /// Background colour at a pixel centre, anti-aliased across the split line.
    fn colour_at(&self, x: f32, y: f32, pixels_per_unit: f32) -> [f32; 3] {
        match *self {
            Background::Plain { tone } => to_f32(tone.rgb()),
            Background::Split {
                first,
                second,
                axis,
                at,
            } => {
                let along = match axis {
                    SplitAxis::Vertical => x,
                    SplitAxis::Horizontal => y,
                };
                let second_share = (0.5 + (along - at) * pixels_per_unit).clamp(0.0, 1.0);
                mix(to_f32(first.rgb()), to_f32(second.rgb()), second_share)
            }
        }
    }
}

/// One shape of a still scene, with its discrete attributes and its actual (jittered) geometry.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    pub kind: ShapeKind,
    pub colour: Colour,
    pub size: Size,
    pub position: Position,
    /// Centre of the bounding box, normalised (a triangle's centroid sits h/6 below it, which
    /// still leaves its nearest anchor the true one).
    pub centre: (f32, f32),
}

impl Shape {
    pub fn sprite(&self) -> Sprite {
        Sprite {
            kind: self.kind,
            rgb: self.colour.rgb(),
            centre: self.centre,
            extent: self.size.extent(),
        }
    }
}

/// What the renderer draws: a shape kind, a colour and continuous geometry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sprite {
    pub kind: ShapeKind,
    pub rgb: [u8; 3],
    pub centre: (f32, f32),
    /// Half-size, normalised (circle radius).
    pub extent: f32,
}

impl Sprite {
    /// Signed distance (normalised units, negative inside). Exact for the circle, and for the
    /// square and triangle the max over edge half-planes, which is exact inside and near edges:
    /// all that anti-aliasing needs.
    pub fn signed_distance(&self, x: f32, y: f32) -> f32 {
        let (dx, dy) = (x - self.centre.0, y - self.centre.1);
        let e = self.extent;
        match self.kind {
            ShapeKind::Circle => (dx * dx + dy * dy).sqrt() - e,
            ShapeKind::Square => {
                let (half_side, _, _) = self.reach();
                (dx.abs() - half_side).max(dy.abs() - half_side)
            }
            ShapeKind::Triangle => {
                // Equilateral, pointing up, centred on its bounding box (not its centroid, which
                // sits h/6 lower): apex at -h/2, base at +h/2 with h = side·√3/2. Box-centred,
                // a large triangle still fits at the top anchor.
                let (_, half_height, _) = self.reach();
                let base = dy - half_height;
                // The two slanted edges have outward normals (±sin60°, -cos60°) = (±√3/2, -1/2)
                // and pass through the apex (0, -h/2).
                let (nx, ny) = (3f32.sqrt() / 2.0, -0.5);
                let apex_y = -half_height;
                let right = nx * dx + ny * (dy - apex_y);
                let left = -nx * dx + ny * (dy - apex_y);
                base.max(right).max(left)
            }
        }
    }

    /// The sprite of `kind` whose bounding box best matches a box `width` x `height` centred
    /// on `centre` (normalised): the inverse of `reach`, averaging what the width and the
    /// height each say of the extent.
    pub fn fitted_to_box(
        kind: ShapeKind,
        rgb: [u8; 3],
        centre: (f32, f32),
        width: f32,
        height: f32,
    ) -> Sprite {
        let unit = Sprite {
            kind,
            rgb,
            centre,
            extent: 1.0,
        };
        let (half_width, up, down) = unit.reach();
        let extent = (width / (2.0 * half_width) + height / (up + down)) / 2.0;
        Sprite { extent, ..unit }
    }

    /// How far the shape reaches from its centre: (half width, up, down), normalised. The one
    /// place the square's and triangle's proportions turn into lengths.
    pub fn reach(&self) -> (f32, f32, f32) {
        let e = self.extent;
        match self.kind {
            ShapeKind::Circle => (e, e, e),
            ShapeKind::Square => {
                let half = SQUARE_HALF_SIDE * e;
                (half, half, half)
            }
            ShapeKind::Triangle => {
                let half_height = TRIANGLE_SIDE * e * 3f32.sqrt() / 4.0;
                (TRIANGLE_SIDE * e / 2.0, half_height, half_height)
            }
        }
    }
}

/// A still picture: a background and one or two shapes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    pub seed: u64,
    pub background: Background,
    pub shapes: Vec<Shape>,
}

fn jittered<R: Rng + ?Sized>(rng: &mut R, position: Position) -> (f32, f32) {
    let (x, y) = position.anchor();
    (
        x + rng.random_range(-POSITION_JITTER..=POSITION_JITTER),
        y + rng.random_range(-POSITION_JITTER..=POSITION_JITTER),
    )
}

fn random_shape<R: Rng + ?Sized>(rng: &mut R, position: Position) -> Shape {
    Shape {
        kind: pick(rng, &ShapeKind::ALL),
        colour: pick(rng, &Colour::ALL),
        size: pick(rng, &Size::ALL),
        position,
        centre: jittered(rng, position),
    }
}

impl Scene {
    /// The scene for a seed. 60% one shape anywhere, 40% two shapes on opposite sides.
    pub fn generate(seed: u64) -> Scene {
        let mut rng = rng_for(seed, Stream::Scene);
        let background = Background::generate(&mut rng);
        let shapes = if rng.random_bool(0.6) {
            let position = pick(&mut rng, &Position::ALL);
            vec![random_shape(&mut rng, position)]
        } else {
            let (a, b) = if rng.random_bool(0.5) {
                (Position::Left, Position::Right)
            } else {
                (Position::Top, Position::Bottom)
            };
            vec![random_shape(&mut rng, a), random_shape(&mut rng, b)]
        };
        Scene {
            seed,
            background,
            shapes,
        }
    }

    pub fn render(&self, resolution: u32) -> RgbImage {
        let sprites: Vec<Sprite> = self.shapes.iter().map(Shape::sprite).collect();
        render(&self.background, &sprites, resolution)
    }

    /// The same scene with one shape (chosen by the seed) drawn as another kind: a circle
    /// becomes a square and a square a circle (the pair a small model confuses most), a
    /// triangle either. Colour, size and geometry stay, so the pictures differ only where
    /// the kinds differ.
    pub fn counterfactual(&self) -> Scene {
        let mut rng = rng_for(self.seed, Stream::Counterfactual);
        let mut other = self.clone();
        let index = rng.random_range(0..other.shapes.len().max(1));
        if let Some(shape) = other.shapes.get_mut(index) {
            shape.kind = match shape.kind {
                ShapeKind::Circle => ShapeKind::Square,
                ShapeKind::Square => ShapeKind::Circle,
                ShapeKind::Triangle => pick(&mut rng, &[ShapeKind::Circle, ShapeKind::Square]),
            };
        }
        other
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Left,
    Right,
    Up,
    Down,
}

impl Direction {
    pub const ALL: [Direction; 4] = [
        Direction::Left,
        Direction::Right,
        Direction::Up,
        Direction::Down,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Direction::Left => "left",
            Direction::Right => "right",
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }
}

/// What happens during a clip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Motion {
    Move { direction: Direction },
    Grow,
    Recolour { to: Colour },
}

/// A short clip: one shape on a background, changing over `frames` frames.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Clip {
    pub seed: u64,
    pub frames: usize,
    pub background: Background,
    pub kind: ShapeKind,
    /// Colour at the start (see `colour_at_end` for recolouring clips).
    pub colour: Colour,
    /// Size at the start; growing clips go from small to large.
    pub size: Size,
    pub motion: Motion,
    /// Centre at the first and the last frame, normalised (equal unless moving).
    pub start: (f32, f32),
    pub end: (f32, f32),
}

impl Clip {
    /// The clip for a seed: 4/6 move (1/6 per direction), 1/6 grow, 1/6 change colour.
    pub fn generate(seed: u64, frames: usize) -> Result<Clip, WorldError> {
        check_frame_count(frames)?;
        let mut rng = rng_for(seed, Stream::Clip);
        let background = Background::generate(&mut rng);
        let kind = pick(&mut rng, &ShapeKind::ALL);
        let colour = pick(&mut rng, &Colour::ALL);
        let motion = match rng.random_range(0..6) {
            0..=3 => Motion::Move {
                direction: Direction::ALL[rng.random_range(0..4)],
            },
            4 => Motion::Grow,
            _ => {
                let others: Vec<Colour> =
                    Colour::ALL.into_iter().filter(|c| *c != colour).collect();
                Motion::Recolour {
                    to: pick(&mut rng, &others),
                }
            }
        };
        let (size, start, end) = match motion {
            Motion::Move { direction } => {
                let size = pick(&mut rng, &Size::ALL);
                // Travel about half the frame along one axis, anywhere across the other.
                let across = rng.random_range(0.35..0.65);
                let from = rng.random_range(0.24..0.3);
                let to = rng.random_range(0.7..0.76);
                let (start, end) = match direction {
                    Direction::Right => ((from, across), (to, across)),
                    Direction::Left => ((to, across), (from, across)),
                    Direction::Down => ((across, from), (across, to)),
                    Direction::Up => ((across, to), (across, from)),
                };
                (size, start, end)
            }
            Motion::Grow => {
                let centre = jittered(&mut rng, Position::Centre);
                (Size::Small, centre, centre)
            }
            Motion::Recolour { .. } => {
                let size = pick(&mut rng, &Size::ALL);
                let position = pick(&mut rng, &Position::ALL);
                let centre = jittered(&mut rng, position);
                (size, centre, centre)
            }
        };
        Ok(Clip {
            seed,
            frames,
            background,
            kind,
            colour,
            size,
            motion,
            start,
            end,
        })
    }

    pub fn colour_at_end(&self) -> Colour {
        match self.motion {
            Motion::Recolour { to } => to,
            _ => self.colour,
        }
    }

    /// The shape as drawn at frame `index` (0-based).
    pub fn sprite_at(&self, index: usize) -> Sprite {
        let progress = index as f32 / (self.frames - 1) as f32;
        let lerp = |a: f32, b: f32| a + (b - a) * progress;
        let extent = match self.motion {
            // From a bit under small to large: clearly growing, and "small" at the start.
            Motion::Grow => lerp(0.8 * Size::Small.extent(), Size::Large.extent()),
            _ => self.size.extent(),
        };
        // A colour change is a cut at the middle frame: mixed colours in between would not
        // be any palette colour.
        let colour = if index >= self.frames / 2 {
            self.colour_at_end()
        } else {
            self.colour
        };
        Sprite {
            kind: self.kind,
            rgb: colour.rgb(),
            centre: (
                lerp(self.start.0, self.end.0),
                lerp(self.start.1, self.end.1),
            ),
            extent,
        }
    }

    pub fn render_frame(&self, index: usize, resolution: u32) -> RgbImage {
        render(&self.background, &[self.sprite_at(index)], resolution)
    }

    pub fn render(&self, resolution: u32) -> Vec<RgbImage> {
        (0..self.frames)
            .map(|i| self.render_frame(i, resolution))
            .collect()
    }
}

fn to_f32(rgb: [u8; 3]) -> [f32; 3] {
    rgb.map(f32::from)
}

fn mix(a: [f32; 3], b: [f32; 3], share_of_b: f32) -> [f32; 3] {
    [0, 1, 2].map(|i| a[i] + (b[i] - a[i]) * share_of_b)
}

/// Draw sprites over a background, square `resolution`. Coverage comes from the signed
/// distance at the pixel centre (one pixel wide ramp), which is smooth and deterministic.
pub fn render(background: &Background, sprites: &[Sprite], resolution: u32) -> RgbImage {
    let pixels_per_unit = resolution as f32;
    RgbImage::from_fn(resolution, resolution, |px, py| {
        let x = (px as f32 + 0.5) / pixels_per_unit;
        let y = (py as f32 + 0.5) / pixels_per_unit;
        let mut colour = background.colour_at(x, y, pixels_per_unit);
        for sprite in sprites {
            let distance_px = sprite.signed_distance(x, y) * pixels_per_unit;
            let coverage = (0.5 - distance_px).clamp(0.0, 1.0);
            if coverage > 0.0 {
                colour = mix(colour, to_f32(sprite.rgb), coverage);
            }
        }
        Rgb(colour.map(|c| c.round().clamp(0.0, 255.0) as u8))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_index_is_the_position_in_all() {
        for (i, kind) in ShapeKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
    }

    #[test]
    fn same_seed_gives_same_scene_and_pixels() {
        for seed in [0, 1, 42, 1 << 40, u64::MAX] {
            let a = Scene::generate(seed);
            let b = Scene::generate(seed);
            assert_eq!(a, b);
            assert_eq!(a.render(64).as_raw(), b.render(64).as_raw());
        }
        assert_ne!(Scene::generate(1), Scene::generate(2));
    }

    #[test]
    fn counterfactual_redraws_one_shape_as_another_kind() {
        let (mut circle_square, mut from_triangle) = (0, 0);
        for seed in 0..400 {
            let scene = Scene::generate(seed);
            let twin = scene.counterfactual();
            assert_eq!(twin, scene.counterfactual(), "not deterministic");
            assert_eq!(twin.background, scene.background);
            let changed: Vec<(&Shape, &Shape)> = scene
                .shapes
                .iter()
                .zip(&twin.shapes)
                .filter(|(a, b)| a != b)
                .collect();
            assert_eq!(changed.len(), 1, "seed {seed}: {changed:?}");
            let (a, b) = changed[0];
            assert_eq!(Shape { kind: a.kind, ..*b }, *a, "only the kind may change");
            match (a.kind, b.kind) {
                (ShapeKind::Circle, ShapeKind::Square) | (ShapeKind::Square, ShapeKind::Circle) => {
                    circle_square += 1
                }
                (ShapeKind::Triangle, ShapeKind::Circle | ShapeKind::Square) => from_triangle += 1,
                other => panic!("seed {seed}: unexpected swap {other:?}"),
            }
        }
        assert!(
            circle_square > 200 && from_triangle > 80,
            "{circle_square} {from_triangle}"
        );
    }

    #[test]
    fn same_seed_gives_same_clip() {
        let a = Clip::generate(7, 9).unwrap();
        let b = Clip::generate(7, 9).unwrap();
        assert_eq!(a, b);
        let (fa, fb) = (a.render(32), b.render(32));
        assert_eq!(fa.len(), 9);
        assert!(fa.iter().zip(&fb).all(|(x, y)| x.as_raw() == y.as_raw()));
    }

    #[test]
    fn frame_counts_must_be_one_plus_four_k() {
        assert!(Clip::generate(0, 9).is_ok());
        assert!(Clip::generate(0, 17).is_ok());
        assert!(matches!(
            Clip::generate(0, 8),
            Err(WorldError::BadFrameCount(8))
        ));
        assert!(Clip::generate(0, 1).is_err());
    }

    #[test]
    fn shapes_stay_inside_and_two_shapes_never_touch() {
        for seed in 0..2000 {
            let scene = Scene::generate(seed);
            for shape in &scene.shapes {
                let s = shape.sprite();
                // Sample a ring of points just outside the picture: all must be outside the shape.
                for i in 0..64 {
                    let t = i as f32 / 64.0;
                    for (x, y) in [(t, 0.0), (t, 1.0), (0.0, t), (1.0, t)] {
                        assert!(
                            s.signed_distance(x, y) > 0.01,
                            "seed {seed} touches the edge"
                        );
                    }
                }
            }
            if let [a, b] = scene.shapes.as_slice() {
                // No point of the picture is within 4 px (at 64) of both shapes.
                let (sa, sb) = (a.sprite(), b.sprite());
                for py in 0..64 {
                    for px in 0..64 {
                        let (x, y) = (px as f32 / 64.0, py as f32 / 64.0);
                        let near = 2.0 / 64.0;
                        assert!(
                            sa.signed_distance(x, y) > near || sb.signed_distance(x, y) > near,
                            "seed {seed}: shapes closer than 4 px"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn shapes_sit_at_their_positions() {
        for seed in 0..500 {
            for shape in Scene::generate(seed).shapes {
                assert_eq!(
                    Position::nearest(shape.centre.0, shape.centre.1),
                    shape.position
                );
            }
        }
    }

    #[test]
    fn rendered_pixels_show_the_shape_colour_at_its_centre() {
        for seed in 0..50 {
            let scene = Scene::generate(seed);
            let image = scene.render(64);
            for shape in &scene.shapes {
                let (x, y) = (
                    (shape.centre.0 * 64.0) as u32,
                    (shape.centre.1 * 64.0) as u32,
                );
                assert_eq!(image.get_pixel(x, y).0, shape.colour.rgb(), "seed {seed}");
            }
            // Corners are background: neutral grey.
            let corner = image.get_pixel(0, 0).0;
            assert!(corner[0] == corner[1] && corner[1] == corner[2]);
        }
    }

    #[test]
    fn shape_areas_match_their_area_factor() {
        for kind in ShapeKind::ALL {
            let sprite = Sprite {
                kind,
                rgb: [255, 0, 0],
                centre: (0.5, 0.5),
                extent: 0.2,
            };
            let background = Background::Plain { tone: Tone::Black };
            let image = render(&background, &[sprite], 256);
            let covered: f32 = image.pixels().map(|p| f32::from(p.0[0] - 20) / 235.0).sum();
            let expected = kind.area_factor() * (0.2f32 * 256.0).powi(2);
            assert!(
                (covered / expected - 1.0).abs() < 0.02,
                "{kind:?}: {covered} vs {expected}"
            );
        }
    }

    #[test]
    fn clips_move_the_way_they_say() {
        for seed in 0..200 {
            let clip = Clip::generate(seed, 9).unwrap();
            let (first, last) = (clip.sprite_at(0), clip.sprite_at(8));
            let (dx, dy) = (
                last.centre.0 - first.centre.0,
                last.centre.1 - first.centre.1,
            );
            match clip.motion {
                Motion::Move { direction } => {
                    let expected = match direction {
                        Direction::Left => dx < -0.3 && dy == 0.0,
                        Direction::Right => dx > 0.3 && dy == 0.0,
                        Direction::Up => dy < -0.3 && dx == 0.0,
                        Direction::Down => dy > 0.3 && dx == 0.0,
                    };
                    assert!(expected, "seed {seed}: {direction:?} moved by ({dx}, {dy})");
                }
                Motion::Grow => assert!(last.extent > first.extent * 1.5),
                Motion::Recolour { to } => {
                    assert_eq!(first.rgb, clip.colour.rgb());
                    assert_eq!(last.rgb, to.rgb());
                    assert_ne!(to, clip.colour);
                }
            }
        }
    }
}
