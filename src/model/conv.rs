//! conv2d whose backward pass is fast on the CPU.
//!
//! candle's own conv2d gradient goes through conv_transpose2d and a kernel-gradient path that
//! are 10x slower than the forward on the CPU, which made training the VAE impractical. Here the
//! forward is candle's conv2d; the backward computes the input gradient as a conv2d of the
//! (dilated, padded) output gradient with the flipped kernel, and the kernel gradient as one
//! matmul per kernel tap. Without gradient tracking this is exactly `Tensor::conv2d`.
//! `SHOWO_SLOW_CONV_BWD=1` falls back to candle's own backward (to cross-check a training run).

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};
use candle_nn::Conv2d;

/// conv2d with symmetric zero padding `pad`, stride `stride` (dilation 1, groups 1).
pub fn conv2d(x: &Tensor, w: &Tensor, pad: usize, stride: usize) -> Result<Tensor> {
    let tracked = x.track_op() || w.track_op();
    if std::env::var_os("SHOWO_SLOW_CONV_BWD").is_some()
        || !tracked
        || !x.device().is_cpu()
        || x.dtype() != DType::F32
    {
        return x.conv2d(w, pad, stride, 1, 1);
    }
    let out = x.detach().conv2d(&w.detach(), pad, stride, 1, 1)?;
    x.apply_op2(w, FastConv { out, pad, stride })
}

/// A candle `Conv2d` module through [`conv2d`] (groups and dilation must be 1).
pub fn conv2d_module(conv: &Conv2d, x: &Tensor) -> Result<Tensor> {
    let cfg = conv.config();
    if cfg.groups != 1 || cfg.dilation != 1 {
        return candle_core::Module::forward(conv, x);
    }
    let y = conv2d(x, conv.weight(), cfg.padding, cfg.stride)?;
    match conv.bias() {
        Some(b) => y.broadcast_add(&b.reshape((1, b.dim(0)?, 1, 1))?),
        None => Ok(y),
    }
}

struct FastConv {
    out: Tensor,
    pad: usize,
    stride: usize,
}

impl CustomOp2 for FastConv {
    fn name(&self) -> &'static str {
        "fast-conv2d"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let data = self.out.flatten_all()?.to_vec1::<f32>()?;
        Ok((CpuStorage::F32(data), self.out.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (b, ci, h, wd) = x.dims4()?;
        let (co, _, kh, kw) = w.dims4()?;
        let (_, _, ho, wo) = g.dims4()?;
        let (s, p) = (self.stride, self.pad);
        let g = g.contiguous()?;

        // Kernel gradient: for each tap, (Co, N) @ (N, Ci) over N = B*Ho*Wo.
        let g2 = g.permute((1, 0, 2, 3))?.reshape((co, b * ho * wo))?;
        let xp = x.pad_with_zeros(2, p, p)?.pad_with_zeros(3, p, p)?;
        let mut taps = Vec::with_capacity(kh * kw);
        for ky in 0..kh {
            for kx in 0..kw {
                let xs = strided(&strided(&xp, 2, ky, ho, s)?, 3, kx, wo, s)?; // (B, Ci, Ho, Wo)
                let xs = xs.permute((1, 0, 2, 3))?.reshape((ci, b * ho * wo))?;
                taps.push(g2.matmul(&xs.t()?)?); // (Co, Ci)
            }
        }
        let gw = Tensor::stack(&taps, 2)?.reshape((co, ci, kh, kw))?;

        // Input gradient: full correlation of the stride-dilated gradient with the flipped,
        // transposed kernel; rows/cols of x that no output read get zero.
        let gd = dilate(&dilate(&g, 2, s)?, 3, s)?;
        let (dh, dw) = (gd.dim(2)?, gd.dim(3)?);
        let extra_h = (h + kh - 1).saturating_sub(dh + 2 * (kh - 1 - p));
        let extra_w = (wd + kw - 1).saturating_sub(dw + 2 * (kw - 1 - p));
        let gp = gd
            .pad_with_zeros(2, kh - 1 - p, kh - 1 - p + extra_h)?
            .pad_with_zeros(3, kw - 1 - p, kw - 1 - p + extra_w)?;
        let rev = |n: usize| Tensor::new((0..n as u32).rev().collect::<Vec<_>>(), w.device());
        let wf = w
            .index_select(&rev(kh)?, 2)?
            .index_select(&rev(kw)?, 3)?
            .transpose(0, 1)?
            .contiguous()?;
        let gx = gp
            .conv2d(&wf, 0, 1, 1, 1)?
            .narrow(2, 0, h)?
            .narrow(3, 0, wd)?;
        Ok((Some(gx), Some(gw)))
    }
}

/// Elements start, start+s, ..., n of them, along `dim`.
fn strided(x: &Tensor, dim: usize, start: usize, n: usize, s: usize) -> Result<Tensor> {
    if s == 1 {
        return x.narrow(dim, start, n);
    }
    let avail = x.dim(dim)? - start;
    let take = (n * s)
        .min(avail + (s - 1) - ((avail + s - 1) % s))
        .max((n - 1) * s + 1);
    let part = x.narrow(dim, start, take.min(avail))?;
    let len = part.dim(dim)?;
    let padded = if len < n * s {
        part.pad_with_zeros(dim, 0, n * s - len)?
    } else {
        part.narrow(dim, 0, n * s)?
    };
    let mut shape = padded.dims().to_vec();
    shape[dim] = n;
    shape.insert(dim + 1, s);
    padded
        .reshape(shape)?
        .narrow(dim + 1, 0, 1)?
        .squeeze(dim + 1)
}

/// Inserts s-1 zeros between elements along `dim` (length n -> (n-1)*s + 1).
fn dilate(x: &Tensor, dim: usize, s: usize) -> Result<Tensor> {
    if s == 1 {
        return Ok(x.clone());
    }
    let n = x.dim(dim)?;
    let mut shape = x.dims().to_vec();
    let xs = x.unsqueeze(dim + 1)?;
    let mut zshape = xs.dims().to_vec();
    zshape[dim + 1] = s - 1;
    let z = Tensor::zeros(zshape, x.dtype(), x.device())?;
    let inter = Tensor::cat(&[&xs, &z], dim + 1)?;
    shape[dim] = n * s;
    inter.reshape(shape)?.narrow(dim, 0, (n - 1) * s + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn grads(x: &Var, w: &Var, fast: bool, pad: usize, stride: usize) -> (Tensor, Tensor, Tensor) {
        let y = if fast {
            conv2d(x.as_tensor(), w.as_tensor(), pad, stride).unwrap()
        } else {
            x.as_tensor()
                .conv2d(w.as_tensor(), pad, stride, 1, 1)
                .unwrap()
        };
        // A non-uniform upstream gradient.
        let weight = Tensor::arange(0f32, y.elem_count() as f32, &Device::Cpu)
            .unwrap()
            .reshape(y.shape())
            .unwrap()
            .sin()
            .unwrap();
        let loss = (&y * &weight).unwrap().sum_all().unwrap();
        let g = loss.backward().unwrap();
        (y, g.get(x).unwrap().clone(), g.get(w).unwrap().clone())
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        assert_eq!(a.dims(), b.dims());
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn gradients_equal_candles_own() {
        let dev = Device::Cpu;
        for (h, w_, k, pad, stride) in [
            (9, 7, 3, 1, 1),
            (8, 8, 3, 0, 2),
            (9, 9, 3, 0, 2),
            (8, 6, 1, 0, 1),
            (8, 8, 2, 0, 2),
            (11, 11, 3, 1, 2),
            (65, 65, 3, 0, 2),
        ] {
            let x =
                Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 3, h, w_), &dev).unwrap()).unwrap();
            let w =
                Var::from_tensor(&Tensor::randn(0f32, 1.0, (4, 3, k, k), &dev).unwrap()).unwrap();
            let (y0, gx0, gw0) = grads(&x, &w, false, pad, stride);
            let (y1, gx1, gw1) = grads(&x, &w, true, pad, stride);
            let case = format!("{h}x{w_} k{k} p{pad} s{stride}");
            assert_eq!(max_diff(&y0, &y1), 0.0, "{case} forward");
            assert!(
                max_diff(&gx0, &gx1) < 1e-4,
                "{case} input grad {}",
                max_diff(&gx0, &gx1)
            );
            assert!(
                max_diff(&gw0, &gw1) < 1e-3,
                "{case} kernel grad {}",
                max_diff(&gw0, &gw1)
            );
        }
    }
}
