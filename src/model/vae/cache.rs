//! The streaming feature cache of the official Wan2.1 VAE (`feat_cache` / `feat_idx`).
//!
//! The official code keeps one list slot per cached layer and a running index that every
//! cached layer bumps, in call order. A chunk (1 or 4 frames when encoding, one latent frame
//! when decoding) runs through the whole network; each causal conv sees the tail frames that
//! its input had in the previous chunk, so the chunked result equals one causal pass over the
//! whole clip, except where the official code deliberately differs (the resamplers, see
//! `resample.rs`). Reproducing the slot order exactly is not needed for correctness, but it
//! keeps the port easy to compare line by line with the reference.

use candle_core::{Result, Tensor};

/// How many tail frames a causal conv keeps for the next chunk (`CACHE_T` in the reference).
pub const CACHE_T: usize = 2;

/// One slot of the cache.
#[derive(Debug, Clone, Default)]
pub enum Slot {
    /// Not yet visited (`None` in the reference).
    #[default]
    Empty,
    /// The `'Rep'` sentinel of `upsample3d`: visited once, time conv not yet run.
    Rep,
    /// Tail frames, layout (B, Tc, C, H, W) with Tc <= CACHE_T.
    Frames(Tensor),
}

/// The cache for one encode or decode call. `begin_chunk` rewinds the slot cursor.
#[derive(Debug, Default)]
pub struct FeatCache {
    slots: Vec<Slot>,
    cursor: usize,
}

impl FeatCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Start a new chunk: layers are visited again from the first slot (`feat_idx = [0]`).
    pub fn begin_chunk(&mut self) {
        self.cursor = 0;
    }

    /// The slot of the next cached layer, advancing the cursor (`feat_idx[0] += 1`).
    pub fn next_slot(&mut self) -> &mut Slot {
        if self.cursor == self.slots.len() {
            self.slots.push(Slot::Empty);
        }
        let slot = &mut self.slots[self.cursor];
        self.cursor += 1;
        slot
    }

    /// Number of slots visited so far (all chunks).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// The tail that a causal conv caches for the next chunk: the last `CACHE_T` frames of its
/// input `x` (B, T, C, H, W); when `x` has a single frame, the previous tail's last frame is
/// put in front so the next chunk still sees two frames of history.
///
/// Copied so that the cache does not keep the whole chunk's storage alive.
pub fn next_tail(x: &Tensor, previous: Option<&Tensor>) -> Result<Tensor> {
    let t = x.dim(1)?;
    let keep = t.min(CACHE_T);
    let tail = x.narrow(1, t - keep, keep)?;
    match previous {
        Some(prev) if keep < CACHE_T => {
            let last = prev.narrow(1, prev.dim(1)? - 1, 1)?;
            Tensor::cat(&[&last, &tail], 1)
        }
        _ => tail.copy(),
    }
}
