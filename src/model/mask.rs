//! The omni-attention mask: causal everywhere, bidirectional inside each image block.

use candle_core::{Device, Result, Tensor};

/// One image (or video) block in a row: `offset` is its first position, `length` its size
/// (time token included in the official layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub offset: usize,
    pub length: usize,
}

impl Block {
    pub fn new(offset: usize, length: usize) -> Self {
        Self { offset, length }
    }

    pub fn end(&self) -> usize {
        self.offset + self.length
    }

    pub fn contains(&self, i: usize) -> bool {
        i >= self.offset && i < self.end()
    }
}

/// Whether query `i` may attend key `j` in a row with these blocks.
pub fn allowed(i: usize, j: usize, blocks: &[Block]) -> bool {
    j <= i
        || blocks
            .iter()
            .any(|b| b.length > 0 && b.contains(i) && b.contains(j))
}

/// Additive mask (B, 1, Lq, Lk): 0 where allowed, -inf elsewhere. Queries are positions
/// `q_start..q_start+Lq`, keys `0..Lk` (so a KV-cached step passes its own offset).
pub fn omni_mask(
    rows: &[Vec<Block>],
    q_start: usize,
    lq: usize,
    lk: usize,
    dev: &Device,
) -> Result<Tensor> {
    let mut data = Vec::with_capacity(rows.len() * lq * lk);
    for blocks in rows {
        for i in q_start..q_start + lq {
            for j in 0..lk {
                data.push(if allowed(i, j, blocks) {
                    0f32
                } else {
                    f32::NEG_INFINITY
                });
            }
        }
    }
    Tensor::from_vec(data, (rows.len(), 1, lq, lk), dev)
}
