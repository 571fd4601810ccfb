//! Show-o2 in candle: one file per module, weight paths mirror the checkpoint names.

pub mod broadcast;
pub mod config;
pub mod conv;
pub mod device;
pub mod error;
pub mod flow_head;
pub mod fusion;
pub mod layers;
pub mod mask;
pub mod patch_embed;
pub mod prompt;
pub mod qwen2;
pub mod random;
pub mod resample;
pub mod rope;
pub mod showo2;
pub mod siglip;
pub mod timestep;
pub mod tokenizer;
pub mod tokens;
pub mod vae;
pub mod weights;

pub use config::Showo2Config;
pub use error::ModelError;
pub use mask::Block;
pub use showo2::{Piece, Showo2};
