//! A small English grammar over the procedural world: captions with a few paraphrases, and
//! question/answer pairs whose answers come from a closed set (one word or a short phrase).
//!
//! Every word the grammar can produce is in `VOCABULARY` (a test checks it over thousands of
//! seeds), which is what the word-level tokenizer is built from.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use super::world::{Background, Clip, Motion, Position, Scene, Shape, ShapeKind};

/// Every word (and punctuation mark) captions, questions, answers and the chat template use,
/// in a fixed order so that token ids never move.
pub const VOCABULARY: &[&str] = &[
    // punctuation
    ".",
    ",",
    "?",
    // function words
    "a",
    "an",
    "the",
    "and",
    "of",
    "on",
    "at",
    "in",
    "to",
    "from",
    "or",
    "is",
    "are",
    "there",
    "it",
    "what",
    "which",
    "where",
    "how",
    "many",
    "does",
    "way",
    "picture",
    "video",
    "shape",
    "shapes",
    "colour",
    "size",
    "background",
    "start",
    "end",
    "changes",
    "position",
    "move",
    "moves",
    "moving",
    "go",
    "grow",
    "grows",
    "growing",
    "changing",
    "turning",
    "above",
    "below",
    // attributes
    "small",
    "large",
    "red",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "white",
    "light",
    "grey",
    "dark",
    "black",
    "circle",
    "circles",
    "square",
    "squares",
    "triangle",
    "triangles",
    "left",
    "right",
    "top",
    "bottom",
    "centre",
    "up",
    "down",
    // answers
    "zero",
    "one",
    "two",
    "yes",
    "no",
    // chat template: "system\nYou are a helpful assistant." / "user" / "assistant"
    "system",
    "user",
    "assistant",
    "you",
    "helpful",
];

/// What a question asks about; eval-tiny reports exact-match per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuestionKind {
    Colour,
    Shape,
    Count,
    Position,
    Size,
    Exists,
    Background,
    Direction,
    Change,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QaPair {
    pub kind: QuestionKind,
    pub question: String,
    pub answer: String,
}

impl QaPair {
    fn new(kind: QuestionKind, question: String, answer: impl Into<String>) -> QaPair {
        QaPair {
            kind,
            question,
            answer: answer.into(),
        }
    }
}

/// Split text the way the tokenizer's pre-tokenizer does: runs of word characters, and runs of
/// other non-space characters.
pub fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    let class = |c: char| {
        if c.is_whitespace() {
            0
        } else if c.is_alphanumeric() || c == '_' {
            1
        } else {
            2
        }
    };
    let mut previous = 0;
    for (i, c) in text.char_indices() {
        let current = class(c);
        if current != previous {
            if let Some(s) = start.take() {
                out.push(&text[s..i]);
            }
            if current != 0 {
                start = Some(i);
            }
        }
        previous = current;
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

fn pick<'a, R: Rng + ?Sized>(rng: &mut R, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// "a" or "an" before `next`.
pub fn article(next: &str) -> &'static str {
    if next.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn with_article(phrase: String) -> String {
    format!("{} {phrase}", article(&phrase))
}

/// "a small red circle" (with_size) or "a red circle".
fn noun_phrase(shape: &Shape, with_size: bool) -> String {
    let core = format!("{} {}", shape.colour.name(), shape.kind.name());
    if with_size {
        with_article(format!("{} {core}", shape.size.name()))
    } else {
        with_article(core)
    }
}

/// "white", or "white and black" for a two-tone background (left/top tone first).
pub fn background_name(background: &Background) -> String {
    background
        .tones()
        .iter()
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join(" and ")
}

/// " on a white and black background": what a caption adds to name the background.
pub fn background_phrase(background: &Background) -> String {
    format!(
        " on {} background",
        with_article(background_name(background))
    )
}

/// The complete description: size, colour, shape and position of every shape.
/// This is what eval-tiny prompts with.
pub fn canonical_caption(scene: &Scene) -> String {
    scene
        .shapes
        .iter()
        .map(|s| format!("{} {}", noun_phrase(s, true), s.position.phrase()))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// One caption, a random paraphrase. Most paraphrases keep every position so that text-to-image
/// learns where things go; a few leave positions (or sizes) out.
pub fn scene_caption<R: Rng + ?Sized>(scene: &Scene, rng: &mut R) -> String {
    let on_background = || background_phrase(&scene.background);
    match scene.shapes.as_slice() {
        [s] => match rng.random_range(0..10) {
            0..=3 => canonical_caption(scene),
            4 | 5 => format!("{} {}", noun_phrase(s, false), s.position.phrase()),
            6 => format!("there is {} {}", noun_phrase(s, true), s.position.phrase()),
            7 => format!(
                "{} {}{}",
                noun_phrase(s, true),
                s.position.phrase(),
                on_background()
            ),
            8 => format!("{}{}", noun_phrase(s, true), on_background()),
            _ => noun_phrase(s, false),
        },
        [a, b] => {
            let (before, after) = if a.position == Position::Left {
                ("to the left of", "to the right of")
            } else {
                ("above", "below")
            };
            match rng.random_range(0..10) {
                0..=3 => canonical_caption(scene),
                4 => format!(
                    "{} {} and {} {}",
                    noun_phrase(a, false),
                    a.position.phrase(),
                    noun_phrase(b, false),
                    b.position.phrase()
                ),
                5 => format!("{} {before} {}", noun_phrase(a, true), noun_phrase(b, true)),
                6 => format!("{} {after} {}", noun_phrase(b, true), noun_phrase(a, true)),
                7 => format!("{}{}", canonical_caption(scene), on_background()),
                _ => format!("{} and {}", noun_phrase(a, false), noun_phrase(b, false)),
            }
        }
        _ => String::new(),
    }
}

/// Attributes a reference to a shape may use.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attribute {
    Colour,
    Kind,
    Position,
}

/// Ways to name shape `index` of the scene uniquely without using `avoid`:
/// "the circle", "the red circle", "the circle on the left", "the red shape", "the shape on the left".
fn references(scene: &Scene, index: usize, avoid: Attribute) -> Vec<String> {
    let shape = &scene.shapes[index];
    let others: Vec<&Shape> = scene
        .shapes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index)
        .map(|(_, s)| s)
        .collect();
    let forms: [(&[Attribute], String); 5] = [
        (&[Attribute::Kind], format!("the {}", shape.kind.name())),
        (
            &[Attribute::Colour, Attribute::Kind],
            format!("the {} {}", shape.colour.name(), shape.kind.name()),
        ),
        (
            &[Attribute::Kind, Attribute::Position],
            format!("the {} {}", shape.kind.name(), shape.position.phrase()),
        ),
        (
            &[Attribute::Colour],
            format!("the {} shape", shape.colour.name()),
        ),
        (
            &[Attribute::Position],
            format!("the shape {}", shape.position.phrase()),
        ),
    ];
    let same = |other: &Shape, a: Attribute| match a {
        Attribute::Colour => other.colour == shape.colour,
        Attribute::Kind => other.kind == shape.kind,
        Attribute::Position => other.position == shape.position,
    };
    forms
        .into_iter()
        .filter(|(uses, _)| !uses.contains(&avoid))
        .filter(|(uses, _)| !others.iter().any(|o| uses.iter().all(|a| same(o, *a))))
        .map(|(_, text)| text)
        .collect()
}

fn number(n: usize) -> &'static str {
    match n {
        0 => "zero",
        1 => "one",
        _ => "two",
    }
}

/// One question of every kind that applies to the scene, each a random paraphrase about a
/// random shape.
pub fn scene_questions<R: Rng + ?Sized>(scene: &Scene, rng: &mut R) -> Vec<QaPair> {
    let mut pairs = Vec::new();
    let n = scene.shapes.len();
    if n == 0 {
        return pairs;
    }
    let index = rng.random_range(0..n);
    let shape = scene.shapes[index];
    let choose = |avoid: Attribute, rng: &mut R| {
        let refs = references(scene, index, avoid);
        (!refs.is_empty()).then(|| refs[rng.random_range(0..refs.len())].clone())
    };

    if let Some(subject) = choose(Attribute::Colour, rng) {
        let form = pick(rng, &["what colour is {}?", "what is the colour of {}?"]);
        pairs.push(QaPair::new(
            QuestionKind::Colour,
            form.replace("{}", &subject),
            shape.colour.name(),
        ));
    }

    let shape_question = match (n, rng.random_range(0..3)) {
        (1, 0) => "what shape is in the picture?".to_string(),
        (1, 1) => "what shape is it?".to_string(),
        _ => {
            let colour_unique = scene
                .shapes
                .iter()
                .filter(|s| s.colour == shape.colour)
                .count()
                == 1;
            if colour_unique && rng.random_bool(0.5) {
                format!("what shape is {}?", shape.colour.name())
            } else {
                format!("what shape is {}?", shape.position.phrase())
            }
        }
    };
    pairs.push(QaPair::new(
        QuestionKind::Shape,
        shape_question,
        shape.kind.name(),
    ));

    pairs.push(QaPair::new(
        QuestionKind::Count,
        pick(
            rng,
            &[
                "how many shapes are there?",
                "how many shapes are in the picture?",
            ],
        )
        .to_string(),
        number(n),
    ));
    let kind = ShapeKind::ALL[rng.random_range(0..3)];
    let count = scene.shapes.iter().filter(|s| s.kind == kind).count();
    pairs.push(QaPair::new(
        QuestionKind::Count,
        format!("how many {} are there?", kind.plural()),
        number(count),
    ));

    if let Some(subject) = choose(Attribute::Position, rng) {
        pairs.push(QaPair::new(
            QuestionKind::Position,
            format!("where is {subject}?"),
            shape.position.name(),
        ));
    }

    if let Some(subject) =
        choose(Attribute::Position, rng).or_else(|| choose(Attribute::Colour, rng))
    {
        let form = pick(rng, &["is {} small or large?", "what size is {}?"]);
        pairs.push(QaPair::new(
            QuestionKind::Size,
            form.replace("{}", &subject),
            shape.size.name(),
        ));
    }

    // Half the time ask about a shape that is there, half the time about one that is not.
    let (colour, kind) = if rng.random_bool(0.5) {
        (shape.colour, shape.kind)
    } else {
        use super::world::Colour;
        (
            Colour::ALL[rng.random_range(0..Colour::ALL.len())],
            ShapeKind::ALL[rng.random_range(0..3)],
        )
    };
    let present = scene
        .shapes
        .iter()
        .any(|s| s.colour == colour && s.kind == kind);
    pairs.push(QaPair::new(
        QuestionKind::Exists,
        format!(
            "is there {}?",
            with_article(format!("{} {}", colour.name(), kind.name()))
        ),
        if present { "yes" } else { "no" },
    ));

    pairs.push(QaPair::new(
        QuestionKind::Background,
        "what colour is the background?".to_string(),
        background_name(&scene.background),
    ));
    pairs
}

/// The complete description of a clip: "a small red circle moving left",
/// "a blue square growing", "a green triangle changing from green to yellow".
pub fn canonical_clip_caption(clip: &Clip) -> String {
    let core = format!("{} {}", clip.colour.name(), clip.kind.name());
    match clip.motion {
        Motion::Move { direction } => format!(
            "{} moving {}",
            with_article(format!("{} {core}", clip.size.name())),
            direction.name()
        ),
        Motion::Grow => format!("{} growing", with_article(core)),
        Motion::Recolour { to } => format!(
            "{} changing from {} to {}",
            with_article(clip.kind.name().to_string()),
            clip.colour.name(),
            to.name()
        ),
    }
}

pub fn clip_caption<R: Rng + ?Sized>(clip: &Clip, rng: &mut R) -> String {
    let core = with_article(format!("{} {}", clip.colour.name(), clip.kind.name()));
    match (clip.motion, rng.random_range(0..3)) {
        (_, 0) => canonical_clip_caption(clip),
        (Motion::Move { direction }, 1) => format!("{core} moving {}", direction.name()),
        (Motion::Move { direction }, _) => format!("{core} moves {}", direction.name()),
        (Motion::Grow, 1) => format!("{core} grows"),
        (Motion::Grow, _) => format!(
            "a small {} {} growing",
            clip.colour.name(),
            clip.kind.name()
        ),
        (Motion::Recolour { to }, _) => format!("{core} turning {}", to.name()),
    }
}

/// One question of every kind that applies to the clip.
pub fn clip_questions<R: Rng + ?Sized>(clip: &Clip, rng: &mut R) -> Vec<QaPair> {
    let kind = clip.kind.name();
    let mut pairs = Vec::new();
    if let Motion::Move { direction } = clip.motion {
        let form = pick(
            rng,
            &["which way does the {} move?", "where does the {} go?"],
        );
        pairs.push(QaPair::new(
            QuestionKind::Direction,
            form.replace("{}", kind),
            direction.name(),
        ));
    }
    let change = match clip.motion {
        Motion::Move { .. } => "position",
        Motion::Grow => "size",
        Motion::Recolour { .. } => "colour",
    };
    pairs.push(QaPair::new(
        QuestionKind::Change,
        pick(rng, &["what changes?", "what changes in the video?"]).to_string(),
        change,
    ));
    pairs.push(QaPair::new(
        QuestionKind::Shape,
        "what shape is in the video?".to_string(),
        kind,
    ));
    let (when, colour) = if rng.random_bool(0.5) {
        ("start", clip.colour)
    } else {
        ("end", clip.colour_at_end())
    };
    pairs.push(QaPair::new(
        QuestionKind::Colour,
        format!("what colour is the {kind} at the {when}?"),
        colour.name(),
    ));
    let (verb, yes) = if rng.random_bool(0.5) {
        ("move", matches!(clip.motion, Motion::Move { .. }))
    } else {
        ("grow", clip.motion == Motion::Grow)
    };
    pairs.push(QaPair::new(
        QuestionKind::Change,
        format!("does the {kind} {verb}?"),
        if yes { "yes" } else { "no" },
    ));
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiny::world::{Colour, Size, Stream, rng_for};

    fn all_words_known(text: &str) {
        for word in words(text) {
            assert!(
                VOCABULARY.contains(&word),
                "{word:?} (in {text:?}) is not in VOCABULARY"
            );
        }
    }

    #[test]
    fn words_splits_like_the_pre_tokenizer() {
        assert_eq!(
            words("what colour is the circle?"),
            ["what", "colour", "is", "the", "circle", "?"]
        );
        assert_eq!(words("  a, b.  "), ["a", ",", "b", "."]);
    }

    #[test]
    fn vocabulary_has_no_duplicates() {
        let mut sorted = VOCABULARY.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), VOCABULARY.len());
    }

    #[test]
    fn every_generated_word_is_in_the_vocabulary() {
        for seed in 0..3000 {
            let scene = Scene::generate(seed);
            let mut rng = rng_for(seed, Stream::Caption);
            all_words_known(&canonical_caption(&scene));
            all_words_known(&scene_caption(&scene, &mut rng));
            for qa in scene_questions(&scene, &mut rng) {
                all_words_known(&qa.question);
                all_words_known(&qa.answer);
            }
            let clip = Clip::generate(seed, 9).unwrap();
            all_words_known(&canonical_clip_caption(&clip));
            all_words_known(&clip_caption(&clip, &mut rng));
            for qa in clip_questions(&clip, &mut rng) {
                all_words_known(&qa.question);
                all_words_known(&qa.answer);
            }
        }
        all_words_known("system you are a helpful assistant. user assistant");
    }

    #[test]
    fn canonical_captions_read_right() {
        let scene = Scene {
            seed: 0,
            background: Background::Plain {
                tone: crate::tiny::world::Tone::White,
            },
            shapes: vec![
                Shape {
                    kind: ShapeKind::Circle,
                    colour: Colour::Red,
                    size: Size::Small,
                    position: Position::Left,
                    centre: (0.25, 0.5),
                },
                Shape {
                    kind: ShapeKind::Square,
                    colour: Colour::Orange,
                    size: Size::Large,
                    position: Position::Right,
                    centre: (0.75, 0.5),
                },
            ],
        };
        assert_eq!(
            canonical_caption(&scene),
            "a small red circle on the left and a large orange square on the right"
        );
        let mut rng = rng_for(0, Stream::Question);
        let qa = scene_questions(&scene, &mut rng);
        assert!(qa.iter().any(|q| q.kind == QuestionKind::Count
            && q.question.starts_with("how many shapes")
            && q.answer == "two"));
        assert_eq!(article("orange"), "an");
        assert_eq!(article("red"), "a");
    }

    /// Every answer must be what the scene says: re-derive each answer from the question text.
    #[test]
    fn scene_answers_agree_with_the_scene() {
        for seed in 0..2000 {
            let scene = Scene::generate(seed);
            let mut rng = rng_for(seed, Stream::Question);
            let qa = scene_questions(&scene, &mut rng);
            assert!(qa.len() >= 5, "seed {seed}: only {} questions", qa.len());
            // Shapes the question could be about: those matching every attribute it names.
            let mentioned = |q: &str| -> Vec<&Shape> {
                let q_words = words(q);
                scene
                    .shapes
                    .iter()
                    .filter(|s| {
                        let named_colour = Colour::ALL.iter().find(|c| q_words.contains(&c.name()));
                        let named_kind = ShapeKind::ALL
                            .iter()
                            .find(|k| q_words.contains(&k.name()) || q_words.contains(&k.plural()));
                        let named_position = Position::ALL.iter().find(|p| q.contains(p.phrase()));
                        named_colour.is_none_or(|c| *c == s.colour)
                            && named_kind.is_none_or(|k| *k == s.kind)
                            && named_position.is_none_or(|p| *p == s.position)
                    })
                    .collect()
            };
            for pair in qa {
                let q = pair.question.as_str();
                let a = pair.answer.as_str();
                match pair.kind {
                    QuestionKind::Colour => {
                        let m = mentioned(q);
                        assert_eq!(m.len(), 1, "seed {seed}: {q} is ambiguous");
                        assert_eq!(m[0].colour.name(), a);
                    }
                    QuestionKind::Position => {
                        let m = mentioned(q);
                        assert_eq!(m.len(), 1, "seed {seed}: {q} is ambiguous");
                        assert_eq!(m[0].position.name(), a);
                    }
                    QuestionKind::Size => {
                        let m = mentioned(q);
                        assert_eq!(m.len(), 1, "seed {seed}: {q} is ambiguous");
                        assert_eq!(m[0].size.name(), a);
                    }
                    QuestionKind::Shape => {
                        let m = mentioned(q);
                        assert_eq!(m.len(), 1, "seed {seed}: {q} is ambiguous");
                        assert_eq!(m[0].kind.name(), a);
                    }
                    QuestionKind::Count => {
                        let n = mentioned(q).len();
                        assert_eq!(number(n), a, "seed {seed}: {q}");
                    }
                    QuestionKind::Exists => {
                        let yes = !mentioned(q).is_empty();
                        assert_eq!(if yes { "yes" } else { "no" }, a, "seed {seed}: {q}");
                    }
                    QuestionKind::Background => {
                        assert_eq!(a, background_name(&scene.background))
                    }
                    QuestionKind::Direction | QuestionKind::Change => {
                        panic!("seed {seed}: clip question about a still scene: {q}")
                    }
                }
            }
        }
    }

    #[test]
    fn clip_answers_agree_with_the_clip() {
        for seed in 0..1000 {
            let clip = Clip::generate(seed, 9).unwrap();
            let mut rng = rng_for(seed, Stream::Question);
            for pair in clip_questions(&clip, &mut rng) {
                let (q, a) = (pair.question.as_str(), pair.answer.as_str());
                if matches!(pair.kind, QuestionKind::Direction | QuestionKind::Colour) {
                    assert!(q.contains(clip.kind.name()), "seed {seed}: {q}");
                }
                match pair.kind {
                    QuestionKind::Direction => {
                        let Motion::Move { direction } = clip.motion else {
                            panic!("seed {seed}: direction asked of a still shape")
                        };
                        assert_eq!(direction.name(), a);
                    }
                    QuestionKind::Colour if q.ends_with("start?") => {
                        assert_eq!(clip.colour.name(), a)
                    }
                    QuestionKind::Colour => assert_eq!(clip.colour_at_end().name(), a),
                    QuestionKind::Shape => assert_eq!(clip.kind.name(), a),
                    QuestionKind::Change if q.starts_with("does") => {
                        let moves = matches!(clip.motion, Motion::Move { .. });
                        let grows = clip.motion == Motion::Grow;
                        let truth = if q.contains("move") { moves } else { grows };
                        assert_eq!(if truth { "yes" } else { "no" }, a, "seed {seed}: {q}");
                    }
                    QuestionKind::Change => {
                        let expected = match clip.motion {
                            Motion::Move { .. } => "position",
                            Motion::Grow => "size",
                            Motion::Recolour { .. } => "colour",
                        };
                        assert_eq!(expected, a);
                    }
                    other => panic!("seed {seed}: unexpected clip question kind {other:?}"),
                }
            }
        }
    }

    #[test]
    fn clip_captions_name_the_motion() {
        for seed in 0..300 {
            let clip = Clip::generate(seed, 9).unwrap();
            let caption = canonical_clip_caption(&clip);
            let expected = match clip.motion {
                Motion::Move { direction } => direction.name().to_string(),
                Motion::Grow => "growing".to_string(),
                Motion::Recolour { to } => format!("to {}", to.name()),
            };
            assert!(caption.ends_with(&expected), "{caption}");
        }
    }
}
