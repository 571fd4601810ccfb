//! PyTorch-exact `F.interpolate` (align_corners=False) as separable weight matrices.
//!
//! Interpolating a grid (H, W) to (H', W') is `Wy (H'xH) @ X @ Wx^T (WxW')`, so one
//! implementation serves the bicubic position-table resize and the bilinear video-token resize,
//! on any device and dtype.

use candle_core::{DType, Device, Result, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Keys' cubic convolution with a = -0.75 (PyTorch `bicubic`).
    Bicubic,
    /// PyTorch `bilinear`.
    Bilinear,
}

fn cubic_weights(t: f64) -> [f64; 4] {
    const A: f64 = -0.75;
    let near = |x: f64| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let far = |x: f64| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]
}

/// The (out x in) matrix that resamples a 1-D signal of length `n_in` to `n_out`.
pub fn weight_matrix(n_in: usize, n_out: usize, filter: Filter) -> Vec<f64> {
    let mut w = vec![0f64; n_out * n_in];
    let scale = n_in as f64 / n_out as f64;
    for o in 0..n_out {
        let src = (o as f64 + 0.5) * scale - 0.5;
        match filter {
            Filter::Bicubic => {
                // No clamp of `src` for cubic; taps outside the signal use the edge value.
                let x0 = src.floor();
                let ws = cubic_weights(src - x0);
                for (k, wk) in ws.iter().enumerate() {
                    let idx = (x0 as i64 - 1 + k as i64).clamp(0, n_in as i64 - 1) as usize;
                    w[o * n_in + idx] += wk;
                }
            }
            Filter::Bilinear => {
                let src = src.max(0.0);
                let x0 = (src.floor() as usize).min(n_in - 1);
                let x1 = (x0 + 1).min(n_in - 1);
                let l1 = src - x0 as f64;
                w[o * n_in + x0] += 1.0 - l1;
                w[o * n_in + x1] += l1;
            }
        }
    }
    w
}

/// Resizes x: (N, C, H, W) to (N, C, h, w).
pub fn resize(x: &Tensor, h: usize, w: usize, filter: Filter) -> Result<Tensor> {
    let (n, c, h_in, w_in) = x.dims4()?;
    if (h, w) == (h_in, w_in) {
        return Ok(x.clone());
    }
    let dev = x.device();
    let wy = matrix(h_in, h, filter, x.dtype(), dev)?; // (h, H)
    let wx = matrix(w_in, w, filter, x.dtype(), dev)?.t()?; // (W, w)
    let flat = x.reshape((n * c, h_in, w_in))?;
    let rows = wy.broadcast_left(n * c)?.matmul(&flat)?; // (NC, h, W)
    let out = rows.matmul(&wx.broadcast_left(n * c)?.contiguous()?)?; // (NC, h, w)
    out.reshape((n, c, h, w))
}

fn matrix(n_in: usize, n_out: usize, filter: Filter, dtype: DType, dev: &Device) -> Result<Tensor> {
    let w: Vec<f32> = weight_matrix(n_in, n_out, filter)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    Tensor::from_vec(w, (n_out, n_in), dev)?.to_dtype(dtype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_is_identity() {
        for f in [Filter::Bicubic, Filter::Bilinear] {
            let w = weight_matrix(5, 5, f);
            for o in 0..5 {
                for i in 0..5 {
                    let want = if o == i { 1.0 } else { 0.0 };
                    assert!((w[o * 5 + i] - want).abs() < 1e-12, "{f:?} {o} {i}");
                }
            }
        }
    }

    #[test]
    fn rows_sum_to_one() {
        for (a, b) in [(4, 6), (27, 32), (27, 14), (4, 14)] {
            for f in [Filter::Bicubic, Filter::Bilinear] {
                let w = weight_matrix(a, b, f);
                for o in 0..b {
                    let s: f64 = w[o * a..(o + 1) * a].iter().sum();
                    assert!(
                        (s - 1.0).abs() < 1e-12,
                        "{f:?} {a}->{b} row {o} sums to {s}"
                    );
                }
            }
        }
    }

    #[test]
    fn bilinear_upsample_matches_hand_computation() {
        // 2 -> 4 (align_corners=False): src = (o+0.5)/2 - 0.5 = -0.25, 0.25, 0.75, 1.25.
        let w = weight_matrix(2, 4, Filter::Bilinear);
        let x = [10.0, 20.0];
        let y: Vec<f64> = (0..4)
            .map(|o| w[o * 2] * x[0] + w[o * 2 + 1] * x[1])
            .collect();
        assert_eq!(y, vec![10.0, 12.5, 17.5, 20.0]);
    }
}
