//! Small building blocks shared by the LLM, the semantic layers and the flow head.
//!
//! Written with plain tensor ops so that the same code trains (autograd) and infers; the fused
//! candle kernels are used when no gradient is being tracked.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{D, DType, Module, Result, Tensor};
use candle_nn::{Init, VarBuilder};

use super::broadcast;

/// RMSNorm computed in f32 and cast back before the gain, as HF Qwen2 and Show-o2 do.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    pub fn new(size: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        // The hint only matters when training from scratch (a loaded checkpoint ignores it):
        // a zero gain would silence every block it feeds.
        Ok(Self {
            weight: vb.get_with_hints(size, "weight", Init::Const(1.0))?,
            eps,
        })
    }
}

impl Module for RmsNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let x32 = x.to_dtype(DType::F32)?;
        let var = x32.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = x32.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        broadcast::mul(&normed.to_dtype(dtype)?, &self.weight)
    }
}

/// LayerNorm with bias, computed in f32 (the official SigLIP override).
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    pub fn new(size: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(size, "weight", Init::Const(1.0))?,
            bias: vb.get_with_hints(size, "bias", Init::Const(0.0))?,
            eps,
        })
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let x32 = x.to_dtype(DType::F32)?;
        let mean = x32.mean_keepdim(D::Minus1)?;
        let centred = x32.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        let scaled = broadcast::mul(&normed.to_dtype(dtype)?, &self.weight)?;
        broadcast::add(&scaled, &self.bias)
    }
}

/// candle's `Linear` (same weights, same product), with the bias added through
/// [`broadcast::add`] so that training sums its gradient fast and bit-identically.
#[derive(Debug, Clone)]
pub struct Linear {
    product: candle_nn::Linear,
    bias: Option<Tensor>,
}

impl Linear {
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self {
            product: candle_nn::Linear::new(weight, None),
            bias,
        }
    }

    pub fn weight(&self) -> &Tensor {
        self.product.weight()
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.product.forward(x)?;
        match &self.bias {
            Some(b) => broadcast::add(&y, b),
            None => Ok(y),
        }
    }
}

impl From<candle_nn::Linear> for Linear {
    fn from(l: candle_nn::Linear) -> Self {
        Self::new(l.weight().clone(), l.bias().cloned())
    }
}

pub fn linear(i: usize, o: usize, vb: VarBuilder) -> Result<Linear> {
    candle_nn::linear(i, o, vb).map(Linear::from)
}

pub fn linear_no_bias(i: usize, o: usize, vb: VarBuilder) -> Result<Linear> {
    candle_nn::linear_no_bias(i, o, vb).map(Linear::from)
}

/// A linear layer that starts at zero when trained from scratch: DiT's adaLN-Zero modulation
/// and final projection, so every block starts as the identity and the velocity starts at 0.
pub fn linear_zero(i: usize, o: usize, vb: VarBuilder) -> Result<Linear> {
    let weight = vb.get_with_hints((o, i), "weight", Init::Const(0.0))?;
    let bias = vb.get_with_hints(o, "bias", Init::Const(0.0))?;
    Ok(Linear::new(weight, Some(bias)))
}

/// Learned embeddings (token table, position table) start small when trained from scratch:
/// the token table is tied to the output head, where unit-variance rows would make the first
/// logits huge.
pub fn small_randn() -> Init {
    Init::Randn {
        mean: 0.0,
        stdev: 0.02,
    }
}

/// A projection that is either dense or GGML-quantized (q8_0 / q4_0 / k-quants), so the LLM,
/// by far the largest part of the 7B, can run in a fraction of its bf16 memory.
#[derive(Debug, Clone)]
pub enum Proj {
    Dense(Linear),
    Quantized {
        weight: QMatMul,
        bias: Option<Tensor>,
    },
}

impl Proj {
    pub fn new(i: usize, o: usize, bias: bool, vb: VarBuilder) -> Result<Self> {
        Ok(Self::Dense(if bias {
            linear(i, o, vb)?
        } else {
            linear_no_bias(i, o, vb)?
        }))
    }

    /// Loads the projection at `vb`, quantized as it is read when `quant` says so: the dense
    /// weight is read from `quant`'s CPU view of the checkpoint one matrix at a time and only
    /// its quantized blocks reach `vb`'s device, so a model whose dense LLM would not fit on
    /// the device still loads. The bias stays dense.
    pub fn load(
        i: usize,
        o: usize,
        bias: bool,
        vb: VarBuilder,
        quant: Option<&QuantSource>,
    ) -> Result<Self> {
        let Some(q) = quant else {
            return Self::new(i, o, bias, vb);
        };
        let cpu = q.cpu.pp(vb.prefix());
        let weight = cpu.get((o, i), "weight")?;
        let bias = if bias { Some(vb.get(o, "bias")?) } else { None };
        Ok(Self::Quantized {
            weight: quantize_onto(&weight, q.dtype, vb.device())?,
            bias,
        })
    }

    /// The same projection with its weight quantized to `dtype` (rows must be a multiple of the
    /// block size: 32 for q8_0/q4_0, 256 for k-quants).
    pub fn quantized(&self, dtype: GgmlDType) -> Result<Self> {
        match self {
            Self::Dense(l) => Ok(Self::Quantized {
                weight: quantize_onto(l.weight(), dtype, l.weight().device())?,
                bias: l.bias().cloned(),
            }),
            Self::Quantized { .. } => Ok(self.clone()),
        }
    }
}

/// Where quantized LLM projections are read from while loading: the checkpoint seen from the
/// CPU (root of the weight names), and the GGML type to quantize to.
#[derive(Clone)]
pub struct QuantSource<'a> {
    pub cpu: VarBuilder<'a>,
    pub dtype: GgmlDType,
}

/// Quantizes a (rows, cols) weight on the CPU and places the blocks on `device`; names the
/// block size when the row length does not divide into it.
fn quantize_onto(
    weight: &Tensor,
    dtype: GgmlDType,
    device: &candle_core::Device,
) -> Result<QMatMul> {
    let (_, cols) = weight.dims2()?;
    let block = dtype.block_size();
    if cols % block != 0 {
        candle_core::bail!(
            "cannot quantize a weight with rows of {cols} values to {dtype:?}: rows must be a \
             multiple of its block size {block} (use q8_0 or q4_0, blocks of 32, for narrow models)"
        );
    }
    let w = weight
        .to_device(&candle_core::Device::Cpu)?
        .to_dtype(DType::F32)?;
    QMatMul::from_qtensor(QTensor::quantize_onto(&w, dtype, device)?)
}

impl Module for Proj {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Dense(l) => l.forward(x),
            Self::Quantized { weight, bias } => {
                let dtype = x.dtype();
                let y = weight.forward(&x.to_dtype(DType::F32)?)?.to_dtype(dtype)?;
                match bias {
                    Some(b) => y.broadcast_add(b),
                    None => Ok(y),
                }
            }
        }
    }
}

/// Softmax over the last dimension; the fused kernel when no gradient is tracked.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    if x.track_op() {
        candle_nn::ops::softmax(x, D::Minus1)
    } else {
        candle_nn::ops::softmax_last_dim(x)
    }
}

/// Repeats each of the `n_kv` heads `n_rep` times: (B, n_kv, L, D) -> (B, n_kv*n_rep, L, D).
pub fn repeat_kv(x: Tensor, n_rep: usize) -> Result<Tensor> {
    if n_rep == 1 {
        return Ok(x);
    }
    let (b, n_kv, l, d) = x.dims4()?;
    x.unsqueeze(2)?
        .expand((b, n_kv, n_rep, l, d))?
        .reshape((b, n_kv * n_rep, l, d))
}

/// Scaled dot-product attention with an additive mask broadcastable to (B, H, Lq, Lk).
/// q: (B, H, Lq, D), k/v: (B, H, Lk, D) (already repeated for GQA).
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    scale: f64,
) -> Result<Tensor> {
    let scores = (q.contiguous()?.matmul(&k.t()?.contiguous()?)? * scale)?;
    let scores = match mask {
        Some(m) => scores.broadcast_add(m)?,
        None => scores,
    };
    let probs = softmax_last_dim(&scores.to_dtype(DType::F32)?)?.to_dtype(v.dtype())?;
    probs.matmul(&v.contiguous()?)
}
