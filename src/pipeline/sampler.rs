//! Flow-matching sampler: Euler on the shifted time grid with classifier-free guidance.
//!
//! t = 0 is noise, t = 1 is data; the model predicts v = x_data - x_noise. The grid is
//! `linspace(0, 1, N)` warped by t / (t + s - s t) (shift s = 3), computed in f32 exactly as
//! torch does, so N points give N - 1 model calls and a trajectory equal to the official one.

use candle_core::{Result, Tensor};

/// `torch.linspace(0, 1, n)` in f32 (torch fills the first half forwards and the second half
/// backwards from the end), then the time shift in f32.
pub fn time_grid(n: usize, shift: f32) -> Vec<f32> {
    if n == 0 {
        return Vec::new();
    }
    if n == 1 {
        return vec![0.0];
    }
    let step = 1.0f32 / (n - 1) as f32;
    let half = n / 2;
    (0..n)
        .map(|i| {
            let t = if i < half {
                step * i as f32
            } else {
                1.0f32 - step * (n - 1 - i) as f32
            };
            if shift == 0.0 {
                t
            } else {
                t / ((t + shift) - shift * t)
            }
        })
        .collect()
}

/// v_uncond + g (v_cond - v_uncond), in f32, with [cond; uncond] stacked along dim 0.
pub fn cfg_combine(v: &Tensor, guidance: f32) -> Result<Tensor> {
    let b = v.dim(0)? / 2;
    let (vc, vu) = (v.narrow(0, 0, b)?, v.narrow(0, b, b)?);
    &vu + ((&vc - &vu)? * guidance as f64)?
}

/// What the sampler reports after each Euler step.
pub struct StepInfo<'a> {
    /// 0-based index of the model call just made.
    pub step: usize,
    pub total: usize,
    /// Time at which the model was evaluated.
    pub t: f32,
    /// Time reached after the step.
    pub t_next: f32,
    /// The state before the step, x_t.
    pub x: &'a Tensor,
    /// The (guided) velocity used.
    pub v: &'a Tensor,
    /// The state after the step.
    pub x_next: &'a Tensor,
}

/// x_t = t·data + (1 − t)·noise: the point at time t of the straight path the model's velocity
/// follows (t = 0 noise, t = 1 data).
pub fn on_path(data: &Tensor, noise: &Tensor, t: f32) -> Result<Tensor> {
    (data * t as f64)? + (noise * (1.0 - t as f64))?
}

/// Why sampling stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Cancelled { after_step: usize },
}

/// Euler integration of dx/dt = v(x, t) over `grid`. `velocity(x, t)` returns the (guided)
/// velocity; `on_step` sees every step and may replace the new state (inpainting blends the
/// known region there) by returning `Some`. `cancelled()` is polled before every model call.
pub fn euler(
    x0: Tensor,
    grid: &[f32],
    mut velocity: impl FnMut(&Tensor, f32) -> Result<Tensor>,
    mut on_step: impl FnMut(&StepInfo) -> Result<Option<Tensor>>,
    cancelled: impl Fn() -> bool,
) -> Result<std::result::Result<Tensor, Stop>> {
    let total = grid.len().saturating_sub(1);
    let mut x = x0;
    for k in 0..total {
        if cancelled() {
            return Ok(Err(Stop::Cancelled { after_step: k }));
        }
        let (t, t_next) = (grid[k], grid[k + 1]);
        let v = velocity(&x, t)?;
        let x_next = (&x + (&v * (t_next - t) as f64)?)?;
        let info = StepInfo {
            step: k,
            total,
            t,
            t_next,
            x: &x,
            v: &v,
            x_next: &x_next,
        };
        x = on_step(&info)?.unwrap_or(x_next);
    }
    Ok(Ok(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_matches_the_documented_values() {
        // showo2-model.md §3: N = 4 gives model calls at 0, 0.142857, 0.4 and ends at 1.
        let g = time_grid(4, 3.0);
        assert_eq!(g.len(), 4);
        assert_eq!(g[0], 0.0);
        assert!((g[1] - 0.142857).abs() < 1e-6);
        assert!((g[2] - 0.4).abs() < 1e-6);
        assert_eq!(g[3], 1.0);
    }

    #[test]
    fn euler_integrates_a_constant_field_exactly() {
        let x0 = Tensor::zeros(3, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
        let grid = time_grid(6, 3.0);
        let out = euler(x0, &grid, |x, _| x.ones_like(), |_| Ok(None), || false)
            .unwrap()
            .unwrap();
        for v in out.to_vec1::<f32>().unwrap() {
            assert!((v - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn cancellation_stops_before_the_next_call() {
        let x0 = Tensor::zeros(1, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
        let grid = time_grid(10, 3.0);
        let calls = std::cell::Cell::new(0);
        let res = euler(
            x0,
            &grid,
            |x, _| {
                calls.set(calls.get() + 1);
                x.ones_like()
            },
            |_| Ok(None),
            || calls.get() >= 3,
        )
        .unwrap();
        assert_eq!(res.unwrap_err(), Stop::Cancelled { after_step: 3 });
        assert_eq!(calls.get(), 3);
    }
}
