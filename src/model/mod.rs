//! Show-o2 in candle: one file per module, weight paths mirror the checkpoint names.

pub mod tokens;
pub mod weights;
