//! `fusion_proj`: RMSNorm(und ++ gen), Linear, exact GELU, Linear -> LLM-width image tokens.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::layers::Linear;

use super::layers::{RmsNorm, linear};

#[derive(Debug, Clone)]
pub struct Fusion {
    norm: RmsNorm,
    fc1: Linear,
    fc2: Linear,
}

impl Fusion {
    pub fn new(und_dim: usize, hidden: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            norm: RmsNorm::new(und_dim + hidden, 1e-6, vb.pp("0"))?,
            fc1: linear(und_dim + hidden, hidden, vb.pp("1"))?,
            fc2: linear(hidden, hidden, vb.pp("3"))?,
        })
    }

    /// und (N, T, und_dim), gen (N, T, hidden) -> (N, T, hidden); und comes first.
    pub fn forward(&self, und: &Tensor, gen_tokens: &Tensor) -> Result<Tensor> {
        let x = Tensor::cat(&[und, gen_tokens], 2)?;
        self.fc2
            .forward(&self.fc1.forward(&self.norm.forward(&x)?)?.gelu_erf()?)
    }
}
