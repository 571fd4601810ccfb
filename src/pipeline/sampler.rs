//! Flow-matching sampler: Euler on the shifted time grid with classifier-free guidance.
//!
//! t = 0 is noise, t = 1 is data; the model predicts v = x_data - x_noise. The grid is
//! `linspace(0, 1, N)` warped by t / (t + s - s t) (shift s = 3), computed in f32 exactly as
//! torch does, so N points give N - 1 model calls and a trajectory equal to the official one.
//!
//! Besides the official Euler (an ODE), [`ancestral_step`] offers the ancestral variant ("Euler
//! a" in A1111's naming): each step splits x_t into the model's clean picture and its noise and
//! puts the picture back on the straight path at the next time with a share `eta` of that noise
//! replaced by fresh noise. At eta 0 it is the Euler step; at eta 1 the next state keeps only the
//! clean prediction, so every step re-asks the model from new noise around its own guess.

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

/// One step from x_t to t_next that replaces a share `eta` (in [0, 1]) of the model's noise
/// with `fresh` noise:
/// x̂ = x_t + (1 − t)·v (the clean picture), ε̂ = x_t − t·v (its noise), and
/// x_next = t_next·x̂ + (1 − t_next)·(√(1 − η²)·ε̂ + η·fresh).
/// The mix of two independent unit-variance noises keeps unit variance, so x_next is a point of
/// the straight path at t_next. With eta 0 this is exactly the Euler step x_t + (t_next − t)·v;
/// at t_next = 1 it is x̂ for every eta.
pub fn ancestral_step(
    x: &Tensor,
    v: &Tensor,
    t: f32,
    t_next: f32,
    eta: f32,
    fresh: &Tensor,
) -> Result<Tensor> {
    let clean = (x + (v * (1.0 - t) as f64)?)?;
    let noise = (x - (v * t as f64)?)?;
    let eta = eta as f64;
    let mixed = ((noise * (1.0 - eta * eta).sqrt())? + (fresh * eta)?)?;
    on_path(&clean, &mixed, t_next)
}

/// Why sampling stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Cancelled { after_step: usize },
}

/// The share of fresh noise a step may take: 0 (Euler) to 1 (fully ancestral).
pub const ETA_RANGE: std::ops::RangeInclusive<f32> = 0.0..=1.0;

/// What an `eta` outside [`ETA_RANGE`] is told it should be.
pub const ETA_EXPECTED: &str = "a share of fresh noise from 0 (Euler) to 1 (ancestral)";

/// The Euler step x_t + (t_next − t)·v.
pub fn euler_step(x: &Tensor, v: &Tensor, t: f32, t_next: f32) -> Result<Tensor> {
    x + (v * (t_next - t) as f64)?
}

/// Euler integration of dx/dt = v(x, t) over `grid`. `velocity(x, t)` returns the (guided)
/// velocity; `on_step` sees every step and may replace the new state (inpainting blends the
/// known region there) by returning `Some`. `cancelled()` is polled before every model call.
pub fn euler(
    x0: Tensor,
    grid: &[f32],
    velocity: impl FnMut(&Tensor, f32) -> Result<Tensor>,
    on_step: impl FnMut(&StepInfo) -> Result<Option<Tensor>>,
    cancelled: impl Fn() -> bool,
) -> Result<std::result::Result<Tensor, Stop>> {
    integrate(x0, grid, velocity, euler_step, on_step, cancelled)
}

/// `euler` with another rule from (x_t, v, t, t_next) to the next state, e.g. an
/// [`ancestral_step`]: what `on_step` sees as `x_next` is that rule's result.
pub fn integrate(
    x0: Tensor,
    grid: &[f32],
    mut velocity: impl FnMut(&Tensor, f32) -> Result<Tensor>,
    mut step: impl FnMut(&Tensor, &Tensor, f32, f32) -> Result<Tensor>,
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
        let x_next = step(&x, &v, t, t_next)?;
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

    fn vec(t: &Tensor) -> Vec<f32> {
        t.to_vec1::<f32>().unwrap()
    }

    #[test]
    fn ancestral_step_at_eta_0_is_the_euler_step() {
        let dev = candle_core::Device::Cpu;
        let x = Tensor::new(&[0.3f32, -1.2, 2.0], &dev).unwrap();
        let v = Tensor::new(&[1.5f32, 0.25, -0.75], &dev).unwrap();
        let fresh = Tensor::new(&[9.0f32, 9.0, 9.0], &dev).unwrap();
        let (t, t_next) = (0.4f32, 0.55f32);
        let euler = vec(&euler_step(&x, &v, t, t_next).unwrap());
        let step = vec(&ancestral_step(&x, &v, t, t_next, 0.0, &fresh).unwrap());
        for (a, b) in euler.iter().zip(&step) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn ancestral_step_at_eta_1_keeps_the_clean_prediction_and_fresh_noise_only() {
        let dev = candle_core::Device::Cpu;
        // x_t on the path from noise n to picture d at t = 0.25; the exact velocity is d - n.
        let (d, n, fresh) = ([1.0f32, -0.5], [0.2f32, 0.8], [-1.0f32, 2.0]);
        let t = 0.25f32;
        let x: Vec<f32> = (0..2).map(|i| t * d[i] + (1.0 - t) * n[i]).collect();
        let v: Vec<f32> = (0..2).map(|i| d[i] - n[i]).collect();
        let tensor = |a: &[f32]| Tensor::new(a, &dev).unwrap();
        let out =
            vec(&ancestral_step(&tensor(&x), &tensor(&v), t, 0.6, 1.0, &tensor(&fresh)).unwrap());
        for i in 0..2 {
            let want = 0.6 * d[i] + 0.4 * fresh[i];
            assert!((out[i] - want).abs() < 1e-6, "{} vs {want}", out[i]);
        }
        // The last step lands on the clean prediction whatever eta is.
        let last =
            vec(&ancestral_step(&tensor(&x), &tensor(&v), t, 1.0, 0.7, &tensor(&fresh)).unwrap());
        for i in 0..2 {
            assert!((last[i] - d[i]).abs() < 1e-6);
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
