//! The built-in tiny Show-o2: the procedural world it is trained on, the grammar of its captions
//! and questions, its word-level tokenizer, the pixel judge used by `eval-tiny`, and datasets.

pub mod checker;
pub mod dataset;
pub mod eval;
pub mod grammar;
pub mod latent_probe;
pub mod noise_kept;
pub mod redraw;
pub mod shape_survival;
pub mod tokenizer;
pub mod word_response;
pub mod world;
