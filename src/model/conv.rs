//! conv2d that is fast on the CPU, forward and backward.
//!
//! candle's own conv2d gradient goes through conv_transpose2d and a kernel-gradient path that
//! are 10x slower than the forward on the CPU, which made training the VAE impractical. Here the
//! backward computes the input gradient as a conv2d of the (dilated, padded) output gradient
//! with the flipped kernel, and the kernel gradient as one matmul per kernel tap. Without
//! gradient tracking this is exactly `Tensor::conv2d`.
//! `SHOWO_SLOW_CONV_BWD=1` falls back to candle's own conv2d and backward (to cross-check a
//! training run).
//!
//! The forward of a kernel wider than 1x1 is [`tiled_forward`]: candle 0.11's tiled im2col
//! algorithm with the same tiles and the same matrix products, so the same bits, but with the
//! patches gathered a kernel row at a time from the NCHW input instead of one scalar at a time
//! through a channels-last copy (that gather was a third of the VAE phase's time).

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};
use candle_nn::Conv2d;
use rayon::prelude::*;

/// conv2d with symmetric zero padding `pad`, stride `stride` (dilation 1, groups 1).
pub fn conv2d(x: &Tensor, w: &Tensor, pad: usize, stride: usize) -> Result<Tensor> {
    if std::env::var_os("SHOWO_SLOW_CONV_BWD").is_some()
        || !x.device().is_cpu()
        || x.dtype() != DType::F32
    {
        return x.conv2d(w, pad, stride, 1, 1);
    }
    if !(x.track_op() || w.track_op()) {
        return tiled_forward(x, w, pad, stride);
    }
    let out = tiled_forward(&x.detach(), &w.detach(), pad, stride)?;
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
        Some(b) => super::broadcast::add(&y, &b.reshape((1, b.dim(0)?, 1, 1))?),
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
        let gx = tiled_forward(&gp, &wf, 0, 1)?
            .narrow(2, 0, h)?
            .narrow(3, 0, wd)?;
        Ok((Some(gx), Some(gw)))
    }
}

/// Output pixels per matrix product in candle 0.11's tiled conv2d (`cpu_backend/conv2d.rs`).
/// Splitting the same way makes every product the same gemm call as candle's, so the same bits.
const TILE: usize = 512;

/// candle's CPU conv2d (f32, dilation 1, groups 1), bit for bit, with a faster patch gather.
///
/// Per image and per tile of up to [`TILE`] output pixels (row-major), candle multiplies the
/// kernel laid out as (Co, Kh*Kw*Ci), rows ordered (ky, kx, ci), by that tile's patches
/// (Kh*Kw*Ci, pixels); this does the same products through `Tensor::matmul` (one (1, Co, n, K)
/// gemm each, contiguous operands), in parallel over the tiles as candle does. 1x1 kernels and
/// shapes candle would reject go to candle itself.
pub fn tiled_forward(x: &Tensor, w: &Tensor, pad: usize, stride: usize) -> Result<Tensor> {
    let (b, ci, h, wd) = x.dims4()?;
    let (co, ci_k, kh, kw) = w.dims4()?;
    let fits = ci == ci_k && h + 2 * pad >= kh && wd + 2 * pad >= kw && stride > 0;
    let empty = b * co * h * wd == 0;
    if kh * kw == 1 || !fits || empty || !x.device().is_cpu() || x.dtype() != DType::F32 {
        return x.conv2d(w, pad, stride, 1, 1);
    }
    let (ho, wo) = (
        (h + 2 * pad - kh) / stride + 1,
        (wd + 2 * pad - kw) / stride + 1,
    );
    let k_size = ci * kh * kw;
    let kernel = w
        .permute((0, 2, 3, 1))?
        .contiguous()?
        .reshape((co, k_size))?;
    let input = x.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
    let geometry = Patches {
        ci,
        h,
        wd,
        kh,
        kw,
        wo,
        pad,
        stride,
    };
    let pixels = ho * wo;
    let tiles = pixels.div_ceil(TILE);
    let products = (0..b * tiles)
        .into_par_iter()
        .map(|job| {
            let (image, tile) = (job / tiles, job % tiles);
            let span = tile * TILE..((tile + 1) * TILE).min(pixels);
            let plane = &input[image * ci * h * wd..(image + 1) * ci * h * wd];
            let cols = geometry.gather(plane, span.clone());
            let cols = Tensor::from_vec(cols, (k_size, span.len()), x.device())?;
            kernel.matmul(&cols)?.flatten_all()?.to_vec1::<f32>() // (Co, pixels of the tile)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut out = vec![0f32; b * co * pixels];
    for (job, product) in products.iter().enumerate() {
        let (image, tile) = (job / tiles, job % tiles);
        let start = tile * TILE;
        let n = product.len() / co;
        for (c, row) in product.chunks_exact(n).enumerate() {
            let at = (image * co + c) * pixels + start;
            out[at..at + n].copy_from_slice(row);
        }
    }
    Tensor::from_vec(out, (b, co, ho, wo), x.device())
}

/// Where each output pixel's kernel taps land in one (Ci, H, W) input plane.
struct Patches {
    ci: usize,
    h: usize,
    wd: usize,
    kh: usize,
    kw: usize,
    wo: usize,
    pad: usize,
    stride: usize,
}

impl Patches {
    /// The (Kh*Kw*Ci, pixels) patch matrix of output pixels `span`, rows ordered (ky, kx, ci);
    /// taps in the padding read zero.
    fn gather(&self, plane: &[f32], span: std::ops::Range<usize>) -> Vec<f32> {
        let n = span.len();
        let mut cols = vec![0f32; self.ci * self.kh * self.kw * n];
        for ky in 0..self.kh {
            for kx in 0..self.kw {
                for c in 0..self.ci {
                    let row = (ky * self.kw + kx) * self.ci + c;
                    let dest = &mut cols[row * n..(row + 1) * n];
                    let channel = &plane[c * self.h * self.wd..(c + 1) * self.h * self.wd];
                    self.gather_tap(channel, ky, kx, span.clone(), dest);
                }
            }
        }
        cols
    }

    /// One tap (ky, kx) of one channel for the pixels `span`, a run of output row at a time.
    fn gather_tap(
        &self,
        channel: &[f32],
        ky: usize,
        kx: usize,
        span: std::ops::Range<usize>,
        dest: &mut [f32],
    ) {
        let mut pixel = span.start;
        while pixel < span.end {
            let (oy, ox0) = (pixel / self.wo, pixel % self.wo);
            let ox1 = self.wo.min(ox0 + (span.end - pixel));
            let run = &mut dest[pixel - span.start..pixel - span.start + (ox1 - ox0)];
            pixel += ox1 - ox0;
            let Some(iy) = (oy * self.stride + ky).checked_sub(self.pad) else {
                continue;
            };
            if iy >= self.h {
                continue;
            }
            let line = &channel[iy * self.wd..(iy + 1) * self.wd];
            // Output columns whose tap reads inside the line: pad <= ox*s + kx < pad + W.
            let first = (self.pad.saturating_sub(kx)).div_ceil(self.stride).max(ox0);
            let last = ((self.pad + self.wd).saturating_sub(kx))
                .div_ceil(self.stride)
                .min(ox1);
            if first >= last {
                continue;
            }
            if self.stride == 1 {
                run[first - ox0..last - ox0]
                    .copy_from_slice(&line[first + kx - self.pad..last + kx - self.pad]);
            } else {
                for ox in first..last {
                    run[ox - ox0] = line[ox * self.stride + kx - self.pad];
                }
            }
        }
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
    fn tiled_forward_is_candles_conv2d_bit_for_bit() {
        let dev = Device::Cpu;
        // Odd sizes, strides 1-3, padding wider than the kernel's reach, several tiles (40x40 =
        // 1,600 pixels: three full tiles and a short one), a non-contiguous input and a
        // kernel taller than the input plus padding allows only in one direction.
        for (b, ci, co, h, w_, kh, kw, pad, stride) in [
            (2, 3, 4, 9, 7, 3, 3, 1, 1),
            (1, 5, 6, 40, 40, 3, 3, 1, 1),
            (2, 4, 3, 33, 35, 3, 3, 0, 2),
            (1, 2, 5, 17, 9, 2, 3, 2, 3),
            (3, 1, 2, 1, 1, 3, 3, 1, 1),
            (1, 3, 2, 2, 3, 5, 5, 2, 1),
            (1, 8, 8, 65, 65, 3, 3, 0, 2),
        ] {
            let x = Tensor::randn(0f32, 1.0, (b, ci, h, w_), &dev).unwrap();
            let k = Tensor::randn(0f32, 1.0, (co, ci, kh, kw), &dev).unwrap();
            let case = format!("b{b} {ci}->{co} {h}x{w_} k{kh}x{kw} p{pad} s{stride}");
            let ours = tiled_forward(&x, &k, pad, stride).unwrap();
            let theirs = x.conv2d(&k, pad, stride, 1, 1).unwrap();
            assert_eq!(ours.dims(), theirs.dims(), "{case}");
            let bits = |t: &Tensor| -> Vec<u32> {
                let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                v.iter().map(|f| f.to_bits()).collect()
            };
            assert_eq!(bits(&ours), bits(&theirs), "{case}");
            // The same through a transposed (strided) view of the input.
            let xt = x.transpose(2, 3).unwrap();
            let ours = tiled_forward(&xt, &k, pad, stride).unwrap();
            let theirs = xt.conv2d(&k, pad, stride, 1, 1).unwrap();
            assert_eq!(bits(&ours), bits(&theirs), "{case} transposed");
        }
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
