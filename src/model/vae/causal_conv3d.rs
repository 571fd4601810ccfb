//! `CausalConv3d`: a 3-D convolution that pads time on the left only, built from 2-D convs.
//!
//! candle has no conv3d. A 3-D conv with kernel (kt, kh, kw) is the sum over the time taps k
//! of a 2-D conv of frame `t*stride + k` with the kernel slice `weight[:, :, k]`. For each tap,
//! all output frames are stacked into the conv2d batch, so one conv2d call per tap does the
//! work. Taps that would only read the causal zero padding are skipped (they add nothing),
//! which makes the common single-image case (2 zero frames + 1 real frame) one conv2d.
//!
//! Internal activation layout is frames-major, (B, T, C, H, W), so that a run of frames is a
//! plain `(B*T, C, H, W)` batch for conv2d without copies.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::cache::{FeatCache, Slot, next_tail};

#[derive(Debug, Clone)]
pub struct CausalConv3d {
    /// One 2-D kernel per time tap, (Cout, Cin, kh, kw); tap 0 reads the oldest frame.
    /// Sliced once for inference. They are copies, so a trained (variable) weight is sliced
    /// again on every call instead: a stale copy would freeze the kernel while the optimiser
    /// updates the variable behind it.
    taps: Vec<Tensor>,
    /// The training variable (Cout, Cin, kt, kh, kw); None for loaded weights, whose taps are
    /// all that is kept (holding both would double the VAE's memory).
    variable: Option<Tensor>,
    /// (1, 1, Cout, 1, 1), broadcast over (B, T, Cout, H, W).
    bias: Tensor,
    in_channels: usize,
    stride_t: usize,
    /// Zero frames put in front of the input when no cache is given (2 * time padding).
    front_pad: usize,
    /// Symmetric spatial zero padding (the same for H and W in every Wan2.1 conv).
    pad_hw: usize,
}

impl CausalConv3d {
    /// Loads `weight` (Cout, Cin, kt, kh, kw) and `bias` (Cout) from `vb`.
    /// `padding` is the PyTorch (pt, ph, pw) argument; time becomes `2*pt` zeros in front.
    pub fn new(
        vb: VarBuilder,
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 3],
        stride_t: usize,
        padding: [usize; 3],
    ) -> Result<Self> {
        let [kt, kh, kw] = kernel;
        // Init hints only matter when training from scratch; checkpoints override them.
        let weight = vb.get_with_hints(
            (out_channels, in_channels, kt, kh, kw),
            "weight",
            candle_nn::init::DEFAULT_KAIMING_NORMAL,
        )?;
        let bias = vb.get_with_hints(out_channels, "bias", candle_nn::Init::Const(0.0))?;
        Self::from_weights(&weight, &bias, stride_t, padding)
    }

    /// Builds the conv from explicit tensors: `weight` (Cout, Cin, kt, kh, kw), `bias` (Cout).
    pub fn from_weights(
        weight: &Tensor,
        bias: &Tensor,
        stride_t: usize,
        padding: [usize; 3],
    ) -> Result<Self> {
        let (c_out, c_in, kt, _kh, _kw) = weight.dims5()?;
        let [pt, ph, pw] = padding;
        if ph != pw {
            candle_core::bail!("CausalConv3d: spatial padding must be symmetric, got ({ph}, {pw})");
        }
        if stride_t == 0 {
            candle_core::bail!("CausalConv3d: time stride must be at least 1");
        }
        let taps = (0..kt)
            .map(|k| tap(weight, k))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            taps,
            variable: weight.is_variable().then(|| weight.clone()),
            bias: bias.reshape((1, 1, c_out, 1, 1))?,
            in_channels: c_in,
            stride_t,
            front_pad: 2 * pt,
            pad_hw: ph,
        })
    }

    /// x: (B, T, Cin, H, W); `cache`: (B, Tc, Cin, H, W) frames that precede x, used in place
    /// of as many zero frames (the reference's `cache_x`). Returns (B, T_out, Cout, H', W').
    pub fn forward_with_history(&self, x: &Tensor, cache: Option<&Tensor>) -> Result<Tensor> {
        let (b, _t, c, _h, _w) = x.dims5()?;
        if c != self.in_channels {
            candle_core::bail!(
                "CausalConv3d: input has {c} channels, the kernel expects {}",
                self.in_channels
            );
        }
        // The reference only uses the cache when the conv pads time at all.
        let (input, zeros) = match cache {
            Some(cache) if self.front_pad > 0 => {
                let cached = cache.dim(1)?;
                if cached > self.front_pad {
                    candle_core::bail!(
                        "CausalConv3d: cache of {cached} frames exceeds the time padding {}",
                        self.front_pad
                    );
                }
                (Tensor::cat(&[cache, x], 1)?, self.front_pad - cached)
            }
            _ => (x.clone(), self.front_pad),
        };
        let real = input.dim(1)?;
        let kt = self.taps.len();
        let padded = zeros + real;
        if padded < kt {
            candle_core::bail!(
                "CausalConv3d: {padded} frames (with padding) are fewer than the {kt} time taps"
            );
        }
        let t_out = (padded - kt) / self.stride_t + 1;

        // acc holds the output frames [acc_start, t_out). Later taps cover a superset of the
        // outputs of earlier taps, so go from the last tap to the first.
        let mut acc: Option<(usize, Tensor)> = None;
        for k in (0..kt).rev() {
            // Output o reads padded frame o*stride + k, i.e. real frame o*stride + k - zeros.
            let start = zeros.saturating_sub(k).div_ceil(self.stride_t);
            if start >= t_out {
                continue;
            }
            let n = t_out - start;
            let first = start * self.stride_t + k - zeros;
            let frames = if self.stride_t == 1 {
                input.narrow(1, first, n)?
            } else {
                let idx: Vec<u32> = (0..n).map(|i| (first + i * self.stride_t) as u32).collect();
                input.index_select(&Tensor::new(idx, input.device())?, 1)?
            };
            let (_, _, _, h, w) = frames.dims5()?;
            let kernel = match &self.variable {
                Some(w) => tap(w, k)?,
                None => self.taps[k].clone(),
            };
            // Fast-backward conv when training; plain candle conv2d otherwise.
            let y = crate::model::conv::conv2d(
                &frames.reshape((b * n, c, h, w))?,
                &kernel,
                self.pad_hw,
                1,
            )?;
            let (_, c_out, ho, wo) = y.dims4()?;
            let y = y.reshape((b, n, c_out, ho, wo))?;
            acc = Some(match acc {
                None => (start, crate::model::broadcast::add(&y, &self.bias)?),
                Some((acc_start, a)) if acc_start == start => (start, (a + y)?),
                Some((acc_start, a)) => {
                    let keep = start - acc_start;
                    let head = a.narrow(1, 0, keep)?;
                    let tail = (a.narrow(1, keep, n)? + y)?;
                    (acc_start, Tensor::cat(&[&head, &tail], 1)?)
                }
            });
        }
        let (acc_start, out) = match acc {
            Some(a) => a,
            None => candle_core::bail!("CausalConv3d: no output frame reads a real input frame"),
        };
        if acc_start == 0 {
            return Ok(out);
        }
        // Outputs that only saw padding are the bias alone (not reachable with Wan2.1 shapes).
        let (_, _, c_out, ho, wo) = out.dims5()?;
        let front = self.bias.broadcast_as((b, acc_start, c_out, ho, wo))?;
        Tensor::cat(&[&front.contiguous()?, &out], 1)
    }

    /// The reference's cached-conv pattern: run with the previous chunk's tail as history and
    /// store this chunk's tail (`cache_x`) in the next cache slot.
    pub fn forward_cached(&self, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        let slot = cache.next_slot();
        let previous = match slot {
            Slot::Frames(t) => Some(t.clone()),
            Slot::Empty | Slot::Rep => None,
        };
        let tail = next_tail(x, previous.as_ref())?;
        let y = self.forward_with_history(x, previous.as_ref())?;
        *slot = Slot::Frames(tail);
        Ok(y)
    }

    /// A plain causal pass with zero history (the 1x1x1 `conv1`/`conv2`/`shortcut` convs,
    /// and `time_conv` where the reference calls it without a cache).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with_history(x, None)
    }
}

/// Time tap `k` of a (Cout, Cin, kt, kh, kw) kernel as a contiguous (Cout, Cin, kh, kw) one.
fn tap(weight: &Tensor, k: usize) -> Result<Tensor> {
    weight.narrow(2, k, 1)?.squeeze(2)?.contiguous()
}
