//! Tasks over the model: text-to-image, inpaint, extend, image and video chat, with the
//! flow-matching sampler, guidance, latent blending and previews. No GUI knowledge.

pub mod decode;
pub mod sampler;
