//! The tiny model's word-level tokenizer: the grammar's closed vocabulary plus Show-o2's special
//! tokens, laid out like Qwen2.5 + Show-o2 (words first, then Qwen's specials in Qwen's order,
//! then the four tokens Show-o2 adds, added by the very same `SpecialTokens::prepare` that runs
//! on a real Qwen tokenizer).
//!
//! Text is lowercased and the American spellings the user may type (color, center, gray) are
//! mapped to the grammar's. Whitespace is not a token, so chat-template newlines vanish; the tiny
//! model is trained that way.

use std::path::Path;

use tokenizers::normalizers::{Lowercase, Replace, Sequence};
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::{AddedToken, NormalizerWrapper, Tokenizer};

use super::grammar::VOCABULARY;
use crate::model::tokens::{QWEN_SPECIALS, SpecialTokens, TokensError};

/// Stands for any word outside the grammar; id 0.
pub const UNKNOWN: &str = "[UNK]";

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("building the tiny tokenizer failed: {0}")]
    Build(String),
    #[error(transparent)]
    Tokens(#[from] TokensError),
    #[error("could not write the tokenizer to {path}: {message}")]
    Save { path: String, message: String },
    #[error("could not read the tokenizer {path}: {message}")]
    Load { path: String, message: String },
}

fn build_error(e: impl std::fmt::Display) -> TokenizerError {
    TokenizerError::Build(e.to_string())
}

/// Build the tokenizer from the grammar. Ids: `[UNK]` = 0, the vocabulary words 1..=N in
/// `VOCABULARY` order, then `<|endoftext|> <|im_start|> <|im_end|> <|vision_start|>
/// <|vision_end|> <|image_pad|> <|video_pad|>`, then `[PAD] <image> <|vid_start|> <|vid_end|>`.
pub fn build() -> Result<Tokenizer, TokenizerError> {
    // The WordLevel builder wants an `ahash` map; its serde form takes a plain JSON object.
    let vocab: serde_json::Map<String, serde_json::Value> = std::iter::once(UNKNOWN)
        .chain(VOCABULARY.iter().copied())
        .enumerate()
        .map(|(id, word)| (word.to_string(), id.into()))
        .collect();
    let json = serde_json::json!({"type": "WordLevel", "vocab": vocab, "unk_token": UNKNOWN});
    // From text, not from the `Value`: the model's deserialiser borrows its "type" string.
    let model: tokenizers::models::wordlevel::WordLevel =
        serde_json::from_str(&json.to_string()).map_err(build_error)?;

    let mut tokenizer = Tokenizer::new(model);
    let spellings = [("color", "colour"), ("center", "centre"), ("gray", "grey")];
    let mut normalizers: Vec<NormalizerWrapper> = vec![Lowercase.into()];
    for (from, to) in spellings {
        normalizers.push(Replace::new(from, to).map_err(build_error)?.into());
    }
    tokenizer
        .with_normalizer(Some(Sequence::new(normalizers)))
        .map_err(build_error)?;
    tokenizer.with_pre_tokenizer(Some(Whitespace));
    tokenizer
        .add_special_tokens(QWEN_SPECIALS.map(|t| AddedToken::from(t, true)))
        .map_err(build_error)?;
    SpecialTokens::prepare(&mut tokenizer)?;
    Ok(tokenizer)
}

pub fn save(tokenizer: &Tokenizer, path: &Path) -> Result<(), TokenizerError> {
    tokenizer
        .save(path, true)
        .map_err(|e| TokenizerError::Save {
            path: path.display().to_string(),
            message: e.to_string(),
        })
}

pub fn load(path: &Path) -> Result<Tokenizer, TokenizerError> {
    Tokenizer::from_file(path).map_err(|e| TokenizerError::Load {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tokens::{END_OF_TEXT, IM_END, IM_START};
    use crate::tiny::grammar::{canonical_caption, scene_questions};
    use crate::tiny::world::{Scene, Stream, rng_for};

    #[test]
    fn ids_follow_the_qwen_then_showo2_order() {
        let tokenizer = build().unwrap();
        let n = VOCABULARY.len() as u32 + 1;
        let ids = SpecialTokens::find(&tokenizer).unwrap();
        assert_eq!(tokenizer.token_to_id(UNKNOWN), Some(0));
        assert_eq!(tokenizer.token_to_id(VOCABULARY[0]), Some(1));
        assert_eq!(tokenizer.token_to_id(END_OF_TEXT), Some(n));
        assert_eq!(
            [ids.bos, ids.eos, ids.boi, ids.eoi, ids.img_pad, ids.vid_pad],
            [n + 1, n + 2, n + 3, n + 4, n + 5, n + 6]
        );
        assert_eq!(
            [ids.pad, ids.img, ids.bov, ids.eov],
            [n + 7, n + 8, n + 9, n + 10]
        );
        assert_eq!(tokenizer.get_vocab_size(true) as u32, n + 11);
    }

    #[test]
    fn saved_file_round_trips() {
        let tokenizer = build().unwrap();
        let dir = std::env::temp_dir().join(format!("showo-tiny-tok-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokenizer.json");
        save(&tokenizer, &path).unwrap();
        let loaded = load(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        assert_eq!(loaded.get_vocab(true), tokenizer.get_vocab(true));
        assert_eq!(
            SpecialTokens::find(&loaded).unwrap(),
            SpecialTokens::find(&tokenizer).unwrap()
        );
        let text = "<|im_start|>a small red circle on the left<|vision_start|><|image_pad|><|vision_end|><|im_end|>";
        assert_eq!(
            loaded.encode(text, false).unwrap().get_ids(),
            tokenizer.encode(text, false).unwrap().get_ids()
        );
        // `prepare` on the loaded file adds nothing: the file already has Show-o2's tokens.
        let mut reloaded = loaded.clone();
        assert_eq!(SpecialTokens::add_showo2_tokens(&mut reloaded).unwrap(), 0);
        let missing = load(&dir.join("missing.json")).unwrap_err();
        assert!(missing.to_string().contains("missing.json"));
    }

    #[test]
    fn grammar_text_encodes_without_unknowns_and_decodes_back() {
        let tokenizer = build().unwrap();
        for seed in 0..300 {
            let scene = Scene::generate(seed);
            let mut texts = vec![canonical_caption(&scene)];
            for qa in scene_questions(&scene, &mut rng_for(seed, Stream::Question)) {
                texts.push(qa.question);
                texts.push(qa.answer);
            }
            for text in texts {
                let ids = tokenizer
                    .encode(text.as_str(), false)
                    .unwrap()
                    .get_ids()
                    .to_vec();
                assert!(!ids.contains(&0), "unknown word in {text:?}");
                let decoded = tokenizer.decode(&ids, true).unwrap();
                assert_eq!(decoded.replace(" ?", "?"), text);
            }
        }
    }

    #[test]
    fn chat_template_and_spellings() {
        let tokenizer = build().unwrap();
        let ids = SpecialTokens::find(&tokenizer).unwrap();
        let prompt = format!(
            "{IM_START}system\nYou are a helpful assistant.{IM_END}\n{IM_START}user\nWhat COLOR is the circle?"
        );
        let encoding = tokenizer.encode(prompt.as_str(), false).unwrap();
        let tokens = encoding.get_tokens();
        assert_eq!(
            tokens,
            [
                IM_START,
                "system",
                "you",
                "are",
                "a",
                "helpful",
                "assistant",
                ".",
                IM_END,
                IM_START,
                "user",
                "what",
                "colour",
                "is",
                "the",
                "circle",
                "?"
            ]
        );
        assert_eq!(encoding.get_ids()[0], ids.bos);
        let words = tokenizer.encode("gray center purple-ish", false).unwrap();
        assert_eq!(
            words.get_tokens(),
            ["grey", "centre", "purple", UNKNOWN, UNKNOWN]
        );
    }
}
