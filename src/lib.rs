//! Show-o Studio: a desktop studio for the Show-o2 unified multimodal model.
//!
//! Layers (data flows down, events flow up): `studio` → `engine` → `pipeline` → `model` → `media`.
//! `model` and `pipeline` never see the GUI; the GUI never sees tensors.

pub mod assets;
pub mod engine;
pub mod hub;
pub mod media;
pub mod model;
pub mod pipeline;
pub mod studio;
pub mod tiny;
pub mod train;

#[doc(hidden)]
pub mod golden;
