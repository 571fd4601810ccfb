//! Show-o2's special tokens, looked up by string so the same code serves the real Qwen2.5
//! tokenizer and the tiny model's word-level one.
//!
//! Show-o2 loads the Qwen2.5-Instruct tokenizer and then, in this order, adds `[PAD]` as the pad
//! (special) token and `<image>`, `<|vid_start|>`, `<|vid_end|>` as plain added tokens
//! (`models/misc.py::get_text_tokenizer`). With Qwen's 151665 entries they become 151665..151668,
//! the rows the checkpoint's 151669-row embedding was trained with. `SpecialTokens::prepare` does
//! the same to any tokenizer that lacks them.

use tokenizers::{AddedToken, Tokenizer};

pub const IM_START: &str = "<|im_start|>";
pub const IM_END: &str = "<|im_end|>";
pub const VISION_START: &str = "<|vision_start|>";
pub const VISION_END: &str = "<|vision_end|>";
pub const IMAGE_PAD: &str = "<|image_pad|>";
pub const VIDEO_PAD: &str = "<|video_pad|>";
pub const END_OF_TEXT: &str = "<|endoftext|>";
pub const PAD: &str = "[PAD]";
pub const IMAGE: &str = "<image>";
pub const VID_START: &str = "<|vid_start|>";
pub const VID_END: &str = "<|vid_end|>";

/// Qwen2.5's own special tokens that Show-o2 uses, in Qwen's id order.
pub const QWEN_SPECIALS: [&str; 7] = [
    END_OF_TEXT,
    IM_START,
    IM_END,
    VISION_START,
    VISION_END,
    IMAGE_PAD,
    VIDEO_PAD,
];

/// The tokens Show-o2 adds on top of Qwen2.5, in the order it adds them; the bool says whether
/// it is added as a special token (only `[PAD]` is).
pub const SHOWO2_ADDED: [(&str, bool); 4] = [
    (PAD, true),
    (IMAGE, false),
    (VID_START, false),
    (VID_END, false),
];

#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    #[error("the tokenizer has no {token:?} token, which Show-o2 needs as its {role}")]
    Missing {
        token: &'static str,
        role: &'static str,
    },
    #[error(
        "adding {token:?} to the tokenizer gave id {got}, but Show-o2 expects {expected} \
         (the vocabulary size before adding it); the tokenizer's added tokens leave a gap"
    )]
    UnexpectedId {
        token: &'static str,
        got: u32,
        expected: u32,
    },
    #[error("the tokenizer refused to add {token:?}: {message}")]
    Add {
        token: &'static str,
        message: String,
    },
}

/// Token ids by role (the names follow Show-o2's code: bos/eos/boi/eoi/...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecialTokens {
    /// `<|im_start|>`: starts every sequence and chat turn.
    pub bos: u32,
    /// `<|im_end|>`: ends a turn; understanding stops generating here.
    pub eos: u32,
    /// `<|vision_start|>`: before an image block.
    pub boi: u32,
    /// `<|vision_end|>`: after an image block.
    pub eoi: u32,
    /// `<|image_pad|>`: placeholder ids at image-token slots.
    pub img_pad: u32,
    /// `<|video_pad|>`: placeholder ids at video-token slots.
    pub vid_pad: u32,
    /// `[PAD]`: pads text-to-image sequences to their fixed length.
    pub pad: u32,
    /// `<image>`: marks an image in training data.
    pub img: u32,
    /// `<|vid_start|>`: before a video block.
    pub bov: u32,
    /// `<|vid_end|>`: after a video block.
    pub eov: u32,
}

impl SpecialTokens {
    /// Find every role by its string. Fails, naming the token, if one is missing.
    pub fn find(tokenizer: &Tokenizer) -> Result<SpecialTokens, TokensError> {
        let id = |token: &'static str, role: &'static str| {
            tokenizer
                .token_to_id(token)
                .ok_or(TokensError::Missing { token, role })
        };
        Ok(SpecialTokens {
            bos: id(IM_START, "begin-of-sequence (bos)")?,
            eos: id(IM_END, "end-of-turn (eos)")?,
            boi: id(VISION_START, "begin-of-image (boi)")?,
            eoi: id(VISION_END, "end-of-image (eoi)")?,
            img_pad: id(IMAGE_PAD, "image placeholder")?,
            vid_pad: id(VIDEO_PAD, "video placeholder")?,
            pad: id(PAD, "padding token")?,
            img: id(IMAGE, "image marker")?,
            bov: id(VID_START, "begin-of-video (bov)")?,
            eov: id(VID_END, "end-of-video (eov)")?,
        })
    }

    /// Add Show-o2's four tokens where missing, exactly as Show-o2 does: each new one gets the
    /// next id (len, len+1, ...). Returns how many were added.
    pub fn add_showo2_tokens(tokenizer: &mut Tokenizer) -> Result<usize, TokensError> {
        let mut added = 0;
        for (token, special) in SHOWO2_ADDED {
            if tokenizer.token_to_id(token).is_some() {
                continue;
            }
            let expected = tokenizer.get_vocab_size(true) as u32;
            let new = AddedToken::from(token, special);
            let result = if special {
                tokenizer.add_special_tokens([new])
            } else {
                tokenizer.add_tokens([new])
            };
            result.map_err(|e| TokensError::Add {
                token,
                message: e.to_string(),
            })?;
            let got = tokenizer.token_to_id(token).ok_or(TokensError::Add {
                token,
                message: "it is absent right after adding it".to_string(),
            })?;
            if got != expected {
                return Err(TokensError::UnexpectedId {
                    token,
                    got,
                    expected,
                });
            }
            added += 1;
        }
        Ok(added)
    }

    /// What Show-o2 does at load time: add its tokens if missing, then find every role.
    pub fn prepare(tokenizer: &mut Tokenizer) -> Result<SpecialTokens, TokensError> {
        Self::add_showo2_tokens(tokenizer)?;
        Self::find(tokenizer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::models::wordlevel::WordLevel;

    /// A miniature "Qwen": a word-level model with ids 0..3 and Qwen's specials added after.
    fn qwen_like() -> Tokenizer {
        let vocab = serde_json::json!({
            "type": "WordLevel",
            "vocab": {"[UNK]": 0, "hello": 1, "world": 2},
            "unk_token": "[UNK]"
        });
        let model: WordLevel = serde_json::from_str(&vocab.to_string()).unwrap();
        let mut tokenizer = Tokenizer::new(model);
        tokenizer
            .add_special_tokens(QWEN_SPECIALS.map(|t| AddedToken::from(t, true)))
            .unwrap();
        tokenizer
    }

    #[test]
    fn missing_showo2_tokens_get_the_next_ids_in_order() {
        let mut tokenizer = qwen_like();
        assert!(matches!(
            SpecialTokens::find(&tokenizer),
            Err(TokensError::Missing { token: PAD, .. })
        ));
        let len = tokenizer.get_vocab_size(true) as u32;
        assert_eq!(len, 10);
        let ids = SpecialTokens::prepare(&mut tokenizer).unwrap();
        assert_eq!(
            (ids.pad, ids.img, ids.bov, ids.eov),
            (len, len + 1, len + 2, len + 3)
        );
        assert_eq!(tokenizer.token_to_id(END_OF_TEXT), Some(3));
        assert_eq!((ids.bos, ids.eos, ids.boi, ids.eoi), (4, 5, 6, 7));
        assert_eq!((ids.img_pad, ids.vid_pad), (8, 9));
        // Idempotent: a tokenizer that already has them keeps its ids.
        assert_eq!(SpecialTokens::add_showo2_tokens(&mut tokenizer).unwrap(), 0);
        assert_eq!(SpecialTokens::find(&tokenizer).unwrap(), ids);
    }

    #[test]
    fn special_strings_in_text_become_their_ids() {
        let mut tokenizer = qwen_like();
        let ids = SpecialTokens::prepare(&mut tokenizer).unwrap();
        let encoding = tokenizer
            .encode(
                "<|im_start|>hello<|vision_start|><|image_pad|><|vision_end|>",
                false,
            )
            .unwrap();
        assert_eq!(
            encoding.get_ids(),
            [ids.bos, 1, ids.boi, ids.img_pad, ids.eoi]
        );
    }

    #[test]
    fn a_missing_qwen_token_is_named_in_the_error() {
        let vocab =
            serde_json::json!({"type": "WordLevel", "vocab": {"[UNK]": 0}, "unk_token": "[UNK]"});
        let model: WordLevel = serde_json::from_str(&vocab.to_string()).unwrap();
        let mut tokenizer = Tokenizer::new(model);
        let error = SpecialTokens::prepare(&mut tokenizer).unwrap_err();
        assert!(error.to_string().contains("<|im_start|>"), "{error}");
    }
}
