//! The Show-o2 tokenizer: a `tokenizers::Tokenizer` (the Qwen2.5 byte-level BPE of the real
//! checkpoints, or the tiny model's word-level one) with Show-o2's four extra tokens and the
//! special ids resolved by their strings.
//!
//! Show-o2 (`models/misc.py::get_text_tokenizer`) loads the Qwen2.5-Instruct tokenizer and adds,
//! in this order, the special `[PAD]`, then `<image>`, `<|vid_start|>`, `<|vid_end|>`; with Qwen's
//! 151665 entries they get ids 151665..151668. A `tokenizer.json` saved after that step already
//! has them and keeps its ids; one saved before gets them appended here in the same order.

use std::path::{Path, PathBuf};

use tokenizers::Tokenizer;

pub use super::tokens::{
    IM_END, IM_START, IMAGE, IMAGE_PAD, PAD, VID_END, VID_START, VIDEO_PAD, VISION_END,
    VISION_START,
};
use super::tokens::{SpecialTokens, TokensError};

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("{}: cannot load the tokenizer: {why}", path.display())]
    Load { path: PathBuf, why: String },
    #[error(
        "{}: the tokenizer has no {token:?} token, which Show-o2 needs as its {role}; \
         expected the Qwen2.5-Instruct tokenizer (or one with the same special tokens)",
        path.display()
    )]
    Missing {
        path: PathBuf,
        token: &'static str,
        role: &'static str,
    },
    #[error("{}: adding Show-o2's tokens failed: {why}", path.display())]
    Add { path: PathBuf, why: String },
    #[error("tokenizing {what}: {why}")]
    Encode { what: String, why: String },
    #[error("detokenizing ids {ids:?}: {why}")]
    Decode { ids: Vec<u32>, why: String },
}

#[derive(Debug, Clone)]
pub struct ShowoTokenizer {
    inner: Tokenizer,
    special: SpecialTokens,
    path: PathBuf,
}

impl ShowoTokenizer {
    /// Loads `tokenizer.json`, appends Show-o2's tokens if missing, resolves the special ids.
    pub fn from_file(path: &Path) -> Result<Self, TokenizerError> {
        let inner = Tokenizer::from_file(path).map_err(|e| TokenizerError::Load {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        Self::new(inner, path)
    }

    /// Wraps an in-memory tokenizer; `origin` names it in errors.
    pub fn new(mut inner: Tokenizer, origin: &Path) -> Result<Self, TokenizerError> {
        // Show-o2's own step (`get_text_tokenizer`): append what is missing, in its order.
        SpecialTokens::add_showo2_tokens(&mut inner).map_err(|e| TokenizerError::Add {
            path: origin.to_path_buf(),
            why: e.to_string(),
        })?;
        let special = SpecialTokens::find(&inner).map_err(|e| match e {
            TokensError::Missing { token, role } => TokenizerError::Missing {
                path: origin.to_path_buf(),
                token,
                role,
            },
            other => TokenizerError::Add {
                path: origin.to_path_buf(),
                why: other.to_string(),
            },
        })?;
        Ok(Self {
            inner,
            special,
            path: origin.to_path_buf(),
        })
    }

    pub fn special(&self) -> &SpecialTokens {
        &self.special
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Token ids of `text` with no template tokens inserted; special-token strings written in the
    /// text (`<|im_end|>`, ...) become their ids, as Show-o2's prompts rely on.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| TokenizerError::Encode {
                what: format!("{:?}", preview(text)),
                why: e.to_string(),
            })?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids`; `skip_special` drops `<|im_end|>` and friends.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, TokenizerError> {
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| TokenizerError::Decode {
                ids: ids.to_vec(),
                why: e.to_string(),
            })
    }

    /// A streaming detokenizer for generated ids.
    pub fn stream(&self, skip_special: bool) -> TextStream<'_> {
        TextStream {
            tok: self,
            ids: Vec::new(),
            prefix: 0,
            read: 0,
            skip_special,
        }
    }
}

fn preview(text: &str) -> String {
    if text.chars().count() <= 40 {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(40).collect::<String>())
    }
}

/// Turns ids into text pieces as soon as they are complete: a byte-level BPE token can hold
/// half of a UTF-8 character, which decodes to U+FFFD until its other half arrives, and word-level
/// decoders add spaces that only the full context decides. So the stream re-decodes a short
/// window (`prefix..`) and emits what the newest ids added, holding back an unfinished character.
pub struct TextStream<'a> {
    tok: &'a ShowoTokenizer,
    ids: Vec<u32>,
    /// Start of the decoding window (ids before it are already emitted and final).
    prefix: usize,
    /// Ids in `prefix..read` have been emitted.
    read: usize,
    skip_special: bool,
}

impl TextStream<'_> {
    /// Adds one id; returns the new text it completes, if any.
    pub fn push(&mut self, id: u32) -> Result<Option<String>, TokenizerError> {
        self.ids.push(id);
        let before = self
            .tok
            .decode(&self.ids[self.prefix..self.read], self.skip_special)?;
        let now = self
            .tok
            .decode(&self.ids[self.prefix..], self.skip_special)?;
        if now.len() > before.len() && !now.ends_with('\u{FFFD}') && now.starts_with(&before) {
            let piece = now[before.len()..].to_string();
            self.prefix = self.read;
            self.read = self.ids.len();
            return Ok(Some(piece));
        }
        if !now.starts_with(&before) && !now.ends_with('\u{FFFD}') {
            // The decoder rewrote earlier text (rare); emit from the first difference.
            let common = now
                .char_indices()
                .zip(before.chars())
                .find(|((_, a), b)| a != b)
                .map_or(before.len().min(now.len()), |((i, _), _)| i);
            let piece = now[common..].to_string();
            self.prefix = self.read;
            self.read = self.ids.len();
            return Ok((!piece.is_empty()).then_some(piece));
        }
        Ok(None)
    }

    /// Text still held back at the end (an incomplete character shows as U+FFFD).
    pub fn finish(&mut self) -> Result<Option<String>, TokenizerError> {
        if self.read == self.ids.len() {
            return Ok(None);
        }
        let before = self
            .tok
            .decode(&self.ids[self.prefix..self.read], self.skip_special)?;
        let now = self
            .tok
            .decode(&self.ids[self.prefix..], self.skip_special)?;
        self.read = self.ids.len();
        Ok(now
            .get(before.len()..)
            .filter(|s| !s.is_empty())
            .map(str::to_string))
    }

    /// All ids pushed so far.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::AddedToken;
    use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
    use tokenizers::models::bpe::BPE;
    use tokenizers::models::wordlevel::WordLevel;
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;

    const QWEN_SPECIALS: [&str; 7] = [
        "<|endoftext|>",
        IM_START,
        IM_END,
        VISION_START,
        VISION_END,
        IMAGE_PAD,
        VIDEO_PAD,
    ];

    fn word_level(words: &[&str]) -> Tokenizer {
        let vocab: serde_json::Map<String, serde_json::Value> = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.to_string(), i.into()))
            .collect();
        let json = serde_json::json!({"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"});
        let model: WordLevel = serde_json::from_str(&json.to_string()).unwrap();
        let mut t = Tokenizer::new(model);
        t.with_pre_tokenizer(Some(tokenizers::pre_tokenizers::whitespace::Whitespace));
        t
    }

    /// A byte-level BPE whose vocabulary is the 256 byte symbols (so every UTF-8 byte is a token)
    /// plus Qwen's specials: the streaming case that matters for the real Qwen2.5 tokenizer.
    fn byte_level() -> Tokenizer {
        let symbols = ByteLevel::alphabet();
        let mut chars: Vec<char> = symbols.into_iter().collect();
        chars.sort();
        let vocab: serde_json::Map<String, serde_json::Value> = chars
            .iter()
            .enumerate()
            .map(|(i, c)| (c.to_string(), i.into()))
            .collect();
        let json = serde_json::json!({"type": "BPE", "vocab": vocab, "merges": []});
        let bpe: BPE = serde_json::from_str(&json.to_string()).unwrap();
        let mut t = Tokenizer::new(bpe);
        t.with_pre_tokenizer(Some(ByteLevel::new(false, true, false)));
        t.with_decoder(Some(ByteLevelDecoder::default()));
        t.add_special_tokens(QWEN_SPECIALS.map(|s| AddedToken::from(s, true)))
            .unwrap();
        t
    }

    #[test]
    fn showo2_tokens_are_appended_in_order_and_resolved_by_string() {
        let mut t = word_level(&["[UNK]", "a", "red", "circle"]);
        t.add_special_tokens(QWEN_SPECIALS.map(|s| AddedToken::from(s, true)))
            .unwrap();
        let tok = ShowoTokenizer::new(t, Path::new("test.json")).unwrap();
        let s = tok.special();
        assert_eq!((s.bos, s.eos, s.boi, s.eoi), (5, 6, 7, 8));
        assert_eq!((s.img_pad, s.vid_pad), (9, 10));
        assert_eq!((s.pad, s.img, s.bov, s.eov), (11, 12, 13, 14));
        assert_eq!(tok.vocab_size(), 15);
        // Special strings inside text are recognised, no template tokens are inserted.
        let ids = tok.encode("a red<|im_end|> circle").unwrap();
        assert_eq!(ids, vec![1, 2, s.eos, 3]);
        // Loading again (tokens already present) keeps the ids.
        let again = ShowoTokenizer::new(tok.inner().clone(), Path::new("x")).unwrap();
        assert_eq!(again.special(), tok.special());
    }

    #[test]
    fn a_missing_special_token_is_named_with_the_file() {
        let t = word_level(&["[UNK]", "a"]);
        let err = ShowoTokenizer::new(t, Path::new("/models/x/tokenizer.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("<|im_start|>") && err.contains("/models/x/tokenizer.json"),
            "{err}"
        );
    }

    #[test]
    fn byte_level_stream_waits_for_whole_characters() {
        let tok = ShowoTokenizer::new(byte_level(), Path::new("bytes.json")).unwrap();
        let text = "héllo ☃ world";
        let ids = tok.encode(text).unwrap();
        // "é" is 2 bytes, "☃" 3 bytes: more ids than characters.
        assert!(ids.len() > text.chars().count());
        let mut stream = tok.stream(true);
        let mut pieces = Vec::new();
        for &id in &ids {
            if let Some(p) = stream.push(id).unwrap() {
                assert!(!p.contains('\u{FFFD}'), "emitted a broken character: {p:?}");
                pieces.push(p);
            }
        }
        if let Some(p) = stream.finish().unwrap() {
            pieces.push(p);
        }
        assert_eq!(pieces.concat(), text);
        assert_eq!(tok.decode(&ids, true).unwrap(), text);
        // The snowman's 3 bytes yield a single piece.
        assert!(pieces.iter().any(|p| p.contains('☃')));
    }

    #[test]
    fn word_level_stream_rebuilds_the_decoded_text() {
        let mut t = word_level(&["[UNK]", "a", "red", "circle"]);
        t.add_special_tokens(QWEN_SPECIALS.map(|s| AddedToken::from(s, true)))
            .unwrap();
        let tok = ShowoTokenizer::new(t, Path::new("w.json")).unwrap();
        let ids = tok.encode("a red circle").unwrap();
        let mut stream = tok.stream(true);
        let mut out = String::new();
        for &id in &ids {
            out.extend(stream.push(id).unwrap());
        }
        out.extend(stream.finish().unwrap());
        assert_eq!(out, tok.decode(&ids, true).unwrap());
        assert_eq!(out, "a red circle");
    }
}
