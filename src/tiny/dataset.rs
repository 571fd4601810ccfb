//! Deterministic datasets over the procedural world, for training and evaluating the tiny model.
//!
//! Training and held-out samples come from disjoint seed ranges. Sample `index` of a task maps
//! to a seed by a fixed hash, so batch `step` is always the same samples: training can resume
//! anywhere and the evaluation sees the same held-out set every time.

use std::ops::Range;

use image::RgbImage;
use rand::RngExt;

use super::grammar::{QaPair, clip_questions, scene_caption, scene_questions};
use super::world::{Clip, Scene, Stream, WorldError, check_frame_count, check_resolution, rng_for};

/// Seeds per split: training draws from the first 2^40 seeds, evaluation from the next 2^40.
const SPLIT_SIZE: u64 = 1 << 40;

/// Share of text-to-image captions replaced by "" in training, so that classifier-free
/// guidance has an unconditional branch to push away from.
pub const CAPTION_DROPOUT: f64 = 0.1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    HeldOut,
}

impl Split {
    pub fn seeds(self) -> Range<u64> {
        match self {
            Split::Train => 0..SPLIT_SIZE,
            Split::HeldOut => SPLIT_SIZE..2 * SPLIT_SIZE,
        }
    }
}

/// What a sample is for; each task draws its own seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Task {
    Image = 0,
    Clip = 1,
    TextToImage = 2,
    ImageQuestion = 3,
    ClipQuestion = 4,
}

/// SplitMix64's finaliser: a fixed, well-mixed map from (task, index) to a seed offset.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of a sample's words (caption, question, dropout) for draw `variant`; draw 0 uses
/// the sample's own seed.
fn variant_seed(seed: u64, variant: u64) -> u64 {
    if variant == 0 {
        seed
    } else {
        mix(seed ^ mix(variant))
    }
}

/// A picture and one caption for it ("" when dropped for guidance).
#[derive(Clone, Debug)]
pub struct CaptionedImage {
    pub seed: u64,
    pub scene: Scene,
    pub image: RgbImage,
    pub caption: String,
}

#[derive(Clone, Debug)]
pub struct ImageQuestion {
    pub seed: u64,
    pub scene: Scene,
    pub image: RgbImage,
    pub qa: QaPair,
}

#[derive(Clone, Debug)]
pub struct ClipQuestion {
    pub seed: u64,
    pub clip: Clip,
    pub frames: Vec<RgbImage>,
    pub qa: QaPair,
}

#[derive(Clone, Debug)]
pub struct WorldDataset {
    pub split: Split,
    /// Square image side in pixels.
    pub resolution: u32,
    /// Frames per clip (1 + 4k).
    pub clip_frames: usize,
    /// Probability that a text-to-image caption is empty.
    pub caption_dropout: f64,
}

impl WorldDataset {
    /// Training data: captions dropped at `CAPTION_DROPOUT`.
    pub fn train(resolution: u32, clip_frames: usize) -> Result<WorldDataset, WorldError> {
        Self::new(Split::Train, resolution, clip_frames, CAPTION_DROPOUT)
    }

    /// Held-out data for evaluation: every caption kept.
    pub fn held_out(resolution: u32, clip_frames: usize) -> Result<WorldDataset, WorldError> {
        Self::new(Split::HeldOut, resolution, clip_frames, 0.0)
    }

    pub fn new(
        split: Split,
        resolution: u32,
        clip_frames: usize,
        caption_dropout: f64,
    ) -> Result<WorldDataset, WorldError> {
        check_resolution(resolution)?;
        check_frame_count(clip_frames)?;
        Ok(WorldDataset {
            split,
            resolution,
            clip_frames,
            caption_dropout: caption_dropout.clamp(0.0, 1.0),
        })
    }

    /// The world seed of sample `index` of `task`; always inside this split's range.
    pub fn seed(&self, task: Task, index: u64) -> u64 {
        let range = self.split.seeds();
        range.start + mix(index.wrapping_mul(8).wrapping_add(task as u64)) % SPLIT_SIZE
    }

    /// A scene and its picture (for the VAE).
    pub fn image(&self, index: u64) -> (Scene, RgbImage) {
        let scene = Scene::generate(self.seed(Task::Image, index));
        let image = scene.render(self.resolution);
        (scene, image)
    }

    /// A clip and its frames (for the VAE).
    pub fn clip(&self, index: u64) -> (Clip, Vec<RgbImage>) {
        let clip = self.make_clip(self.seed(Task::Clip, index));
        let frames = clip.render(self.resolution);
        (clip, frames)
    }

    fn make_clip(&self, seed: u64) -> Clip {
        // The frame count was checked in `new`, so this cannot fail.
        Clip::generate(seed, self.clip_frames).unwrap_or_else(|e| unreachable!("{e}"))
    }

    pub fn captioned_image(&self, index: u64) -> CaptionedImage {
        self.captioned_image_variant(index, 0)
    }

    /// Sample `index`'s picture with caption draw `variant` (0 = `captioned_image`): the same
    /// scene described anew, so training can revisit a picture (and its cached latent) with
    /// other words and another dropout draw.
    pub fn captioned_image_variant(&self, index: u64, variant: u64) -> CaptionedImage {
        let seed = self.seed(Task::TextToImage, index);
        self.describe(Scene::generate(seed), variant)
    }

    /// `captioned_image_variant` and its counterfactual twin: the same scene with one shape
    /// drawn as another kind (`Scene::counterfactual`), described with the same caption draw
    /// (so the two captions differ only in that shape's noun) and the same dropout draw.
    /// Training gives a twin the same noise and time as its original (see
    /// `T2iExample::shares_noise_with_previous`), so their losses differ only by what the
    /// kind word should change.
    pub fn captioned_image_twins(&self, index: u64, variant: u64) -> [CaptionedImage; 2] {
        let seed = self.seed(Task::TextToImage, index);
        let scene = Scene::generate(seed);
        let twin = scene.counterfactual();
        [self.describe(scene, variant), self.describe(twin, variant)]
    }

    /// A picture of `scene` with caption draw `variant` (of the scene's own seed).
    fn describe(&self, scene: Scene, variant: u64) -> CaptionedImage {
        let seed = scene.seed;
        let words = variant_seed(seed, variant);
        let mut rng = rng_for(words, Stream::Caption);
        let caption = scene_caption(&scene, &mut rng);
        let dropped = rng_for(words, Stream::Dataset).random_bool(self.caption_dropout);
        CaptionedImage {
            seed,
            image: scene.render(self.resolution),
            scene,
            caption: if dropped { String::new() } else { caption },
        }
    }

    pub fn image_question(&self, index: u64) -> ImageQuestion {
        self.image_question_variant(index, 0)
    }

    /// Sample `index`'s picture with question draw `variant` (0 = `image_question`).
    pub fn image_question_variant(&self, index: u64, variant: u64) -> ImageQuestion {
        let seed = self.seed(Task::ImageQuestion, index);
        let scene = Scene::generate(seed);
        let words = variant_seed(seed, variant);
        let mut questions = scene_questions(&scene, &mut rng_for(words, Stream::Question));
        let chosen = rng_for(words, Stream::Dataset).random_range(0..questions.len());
        ImageQuestion {
            seed,
            image: scene.render(self.resolution),
            scene,
            qa: questions.swap_remove(chosen),
        }
    }

    pub fn clip_question(&self, index: u64) -> ClipQuestion {
        self.clip_question_variant(index, 0)
    }

    /// Sample `index`'s clip with question draw `variant` (0 = `clip_question`).
    pub fn clip_question_variant(&self, index: u64, variant: u64) -> ClipQuestion {
        let seed = self.seed(Task::ClipQuestion, index);
        let clip = self.make_clip(seed);
        let words = variant_seed(seed, variant);
        let mut questions = clip_questions(&clip, &mut rng_for(words, Stream::Question));
        let chosen = rng_for(words, Stream::Dataset).random_range(0..questions.len());
        ClipQuestion {
            seed,
            frames: clip.render(self.resolution),
            clip,
            qa: questions.swap_remove(chosen),
        }
    }

    /// Sample indices of batch `step`: consecutive, so an epoch never repeats a sample.
    pub fn batch_indices(step: u64, batch_size: usize) -> Range<u64> {
        let size = batch_size as u64;
        step * size..(step + 1) * size
    }

    pub fn captioned_images(&self, step: u64, batch_size: usize) -> Vec<CaptionedImage> {
        Self::batch_indices(step, batch_size)
            .map(|i| self.captioned_image(i))
            .collect()
    }

    pub fn image_questions(&self, step: u64, batch_size: usize) -> Vec<ImageQuestion> {
        Self::batch_indices(step, batch_size)
            .map(|i| self.image_question(i))
            .collect()
    }

    pub fn clip_questions(&self, step: u64, batch_size: usize) -> Vec<ClipQuestion> {
        Self::batch_indices(step, batch_size)
            .map(|i| self.clip_question(i))
            .collect()
    }
}

/// Pixels as channels-first floats in [-1, 1] (3·H·W), the VAE's input range.
pub fn image_to_chw(image: &RgbImage) -> Vec<f32> {
    let (w, h) = image.dimensions();
    let plane = (w * h) as usize;
    let mut out = vec![0f32; 3 * plane];
    for (i, p) in image.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = f32::from(p.0[c]) / 127.5 - 1.0;
        }
    }
    out
}

/// Frames as channels-first, then time, floats in [-1, 1] (3·T·H·W), the 3D VAE's layout.
pub fn frames_to_cthw(frames: &[RgbImage]) -> Vec<f32> {
    let Some(first) = frames.first() else {
        return Vec::new();
    };
    let plane = (first.width() * first.height()) as usize;
    let t = frames.len();
    let mut out = vec![0f32; 3 * t * plane];
    for (f, frame) in frames.iter().enumerate() {
        for (i, p) in frame.pixels().enumerate() {
            for c in 0..3 {
                out[(c * t + f) * plane + i] = f32::from(p.0[c]) / 127.5 - 1.0;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiny::grammar::QuestionKind;

    /// Twins: same caption draw, same dropout, and the captions differ only in shape nouns
    /// (so the pair's loss difference is about the kind word alone).
    #[test]
    fn twins_differ_only_in_a_shape_noun() {
        let data = WorldDataset::train(32, 9).unwrap();
        let nouns = [
            "circle",
            "square",
            "triangle",
            "circles",
            "squares",
            "triangles",
        ];
        let (mut described, mut dropped) = (0, 0);
        for index in 0..300 {
            let variant = index % 3;
            let [a, b] = data.captioned_image_twins(index, variant);
            assert_eq!(
                a.caption,
                data.captioned_image_variant(index, variant).caption
            );
            assert_eq!(
                a.caption.is_empty(),
                b.caption.is_empty(),
                "one twin dropped"
            );
            assert_ne!(
                a.image.as_raw(),
                b.image.as_raw(),
                "twins drew the same picture"
            );
            if a.caption.is_empty() {
                dropped += 1;
                continue;
            }
            let (wa, wb): (Vec<&str>, Vec<&str>) = (
                a.caption.split(' ').collect(),
                b.caption.split(' ').collect(),
            );
            assert_eq!(wa.len(), wb.len(), "{} / {}", a.caption, b.caption);
            let changed: Vec<(&str, &str)> = wa
                .iter()
                .zip(&wb)
                .filter(|(x, y)| x != y)
                .map(|(x, y)| (*x, *y))
                .collect();
            // Every paraphrase names every shape by its noun, so the swap always shows.
            assert!(!changed.is_empty(), "{} / {}", a.caption, b.caption);
            for (x, y) in &changed {
                assert!(
                    nouns.contains(x) && nouns.contains(y),
                    "{} / {}",
                    a.caption,
                    b.caption
                );
            }
            described += 1;
        }
        assert!(described > 200, "only {described} twins were described");
        assert!(
            dropped > 10,
            "caption dropout should reach twins too ({dropped})"
        );
    }

    #[test]
    fn seeds_stay_in_their_split_and_tasks_differ() {
        let train = WorldDataset::train(32, 9).unwrap();
        let held = WorldDataset::held_out(32, 9).unwrap();
        for i in 0..1000 {
            assert!(
                Split::Train
                    .seeds()
                    .contains(&train.seed(Task::TextToImage, i))
            );
            assert!(
                Split::HeldOut
                    .seeds()
                    .contains(&held.seed(Task::TextToImage, i))
            );
            assert_ne!(train.seed(Task::Image, i), train.seed(Task::TextToImage, i));
        }
    }

    #[test]
    fn batches_are_deterministic() {
        let data = WorldDataset::train(32, 9).unwrap();
        let a = data.captioned_images(3, 4);
        let b = data.captioned_images(3, 4);
        assert_eq!(a.len(), 4);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((x.seed, &x.caption), (y.seed, &y.caption));
            assert_eq!(x.image.as_raw(), y.image.as_raw());
        }
        assert_ne!(a[0].seed, data.captioned_images(4, 4)[0].seed);
        let q = data.clip_questions(0, 2);
        assert_eq!(q[0].frames.len(), 9);
        assert_eq!(q[0].qa, data.clip_question(0).qa);
    }

    #[test]
    fn about_one_caption_in_ten_is_dropped_in_training_only() {
        let train = WorldDataset::train(16, 9).unwrap();
        let empty = (0..2000)
            .filter(|&i| train.captioned_image(i).caption.is_empty())
            .count();
        assert!(
            (150..=250).contains(&empty),
            "{empty} of 2000 captions dropped"
        );
        let held = WorldDataset::held_out(16, 9).unwrap();
        assert!((0..300).all(|i| !held.captioned_image(i).caption.is_empty()));
    }

    #[test]
    fn questions_cover_every_kind() {
        let data = WorldDataset::train(16, 9).unwrap();
        let mut kinds: Vec<QuestionKind> =
            (0..400).map(|i| data.image_question(i).qa.kind).collect();
        kinds.extend((0..400).map(|i| data.clip_question(i).qa.kind));
        for kind in [
            QuestionKind::Colour,
            QuestionKind::Shape,
            QuestionKind::Count,
            QuestionKind::Position,
            QuestionKind::Size,
            QuestionKind::Exists,
            QuestionKind::Background,
            QuestionKind::Direction,
            QuestionKind::Change,
        ] {
            assert!(kinds.contains(&kind), "no {kind:?} question in 800 samples");
        }
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(WorldDataset::train(64, 10).is_err());
        assert!(WorldDataset::train(8, 9).is_err());
    }

    #[test]
    fn tensor_layouts() {
        let data = WorldDataset::train(16, 9).unwrap();
        let (_, image) = data.image(0);
        let chw = image_to_chw(&image);
        assert_eq!(chw.len(), 3 * 16 * 16);
        let p = image.get_pixel(5, 2).0;
        assert_eq!(chw[16 * 16 + 2 * 16 + 5], f32::from(p[1]) / 127.5 - 1.0);
        assert!(chw.iter().all(|v| (-1.0..=1.0).contains(v)));
        let (_, frames) = data.clip(0);
        let cthw = frames_to_cthw(&frames);
        assert_eq!(cthw.len(), 3 * 9 * 256);
        let p = frames[4].get_pixel(7, 3).0;
        assert_eq!(
            cthw[(2 * 9 + 4) * 256 + 3 * 16 + 7],
            f32::from(p[2]) / 127.5 - 1.0
        );
    }
}
