//! A small Show-o2 checkpoint folder for pipeline tests: the golden model and VAE (tiny random
//! weights named like the real checkpoints) plus a word-level `tokenizer.json` built here whose
//! ids match the golden vocabulary (310 rows): ordinary words 0..=283, Qwen2.5's 22 added tokens
//! 284..=305 in Qwen's order, and Show-o2's four tokens (added by `ShowoTokenizer`) 306..=309.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use showo::golden::{self, GoldenSet};
use showo::pipeline::Pipeline;
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::{AddedToken, Tokenizer};

/// Qwen2.5's added tokens 151643..=151664, in id order.
const QWEN_ADDED: [&str; 22] = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
];

/// Words with fixed ids; every other id below 284 is the word `w<id>`.
pub const WORDS: [&str; 24] = [
    "[UNK]",
    "a",
    "red",
    "green",
    "blue",
    "circle",
    "square",
    "on",
    "the",
    "left",
    "right",
    "what",
    "colour",
    "is",
    "it",
    "?",
    "system",
    "You",
    "are",
    "helpful",
    "assistant",
    ".",
    "user",
    "sky",
];

pub const ORDINARY: usize = 284;

pub fn tokenizer() -> Tokenizer {
    let mut vocab = serde_json::Map::new();
    for id in 0..ORDINARY {
        let word = WORDS
            .get(id)
            .map(|w| w.to_string())
            .unwrap_or_else(|| format!("w{id}"));
        vocab.insert(word, id.into());
    }
    let json = serde_json::json!({"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"});
    let model: WordLevel = serde_json::from_str(&json.to_string()).unwrap();
    let mut t = Tokenizer::new(model);
    t.with_pre_tokenizer(Some(Whitespace));
    t.add_special_tokens(QWEN_ADDED.map(|s| AddedToken::from(s, true)))
        .unwrap();
    t
}

/// A checkpoint folder (golden weights + VAE in `vae/` + the tokenizer), inside `tmp`.
pub fn checkpoint_dir(set: &GoldenSet, tmp: &Path) -> PathBuf {
    let dir = tmp.join("small-showo2");
    std::fs::create_dir_all(dir.join("vae")).unwrap();
    for f in [
        "config.json",
        "qwen2_config.json",
        "siglip_config.json",
        "flow_head_config.json",
        "model.safetensors",
    ] {
        std::fs::copy(set.model_dir().join(f), dir.join(f)).unwrap();
    }
    for f in ["vae.safetensors", "vae_config.json"] {
        std::fs::copy(set.vae_dir().join(f), dir.join("vae").join(f)).unwrap();
    }
    tokenizer().save(dir.join("tokenizer.json"), false).unwrap();
    dir
}

/// The small pipeline on the CPU in f32, with its folder (kept alive by the TempDir).
pub fn small_pipeline() -> Option<(Pipeline, tempfile::TempDir)> {
    let set = golden::open_or_fail()?;
    let tmp = tempfile::tempdir().unwrap();
    let dir = checkpoint_dir(&set, tmp.path());
    let pipe = Pipeline::load(&dir, &Device::Cpu, DType::F32).unwrap_or_else(|e| panic!("{e}"));
    Some((pipe, tmp))
}

/// A deterministic test picture: gradients and a square.
pub fn test_picture(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        let inside = x > w / 4 && x < w / 2 && y > h / 4 && y < h / 2;
        if inside {
            image::Rgb([220, 30, 40])
        } else {
            image::Rgb([
                (x * 255 / w.max(1)) as u8,
                (y * 255 / h.max(1)) as u8,
                ((x + y) % 256) as u8,
            ])
        }
    })
}
