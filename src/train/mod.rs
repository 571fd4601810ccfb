//! Training with candle autograd: optimiser, schedule, loss curves, and the unified model's
//! losses. Used by `train-tiny` to reproduce the built-in model.

pub mod critic;
pub mod curves;
pub mod decoder;
pub mod kind_head;
pub mod optim;
pub mod pixel_font;
pub mod redraw;
pub mod seeded_init;
pub mod spec;
pub mod tiny;
pub mod unified;
