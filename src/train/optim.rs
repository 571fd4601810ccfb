//! AdamW with warmup + cosine decay and global-norm gradient clipping, whose moments live in
//! named tensors so a checkpoint can resume the optimiser exactly.

use std::collections::HashMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{DType, Result, Tensor, Var};

/// Learning rate at `step`: linear warmup to `peak`, then cosine down to `floor`.
pub fn lr_at(step: usize, total: usize, warmup: usize, peak: f64, floor: f64) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1);
    let progress = ((step - warmup) as f64 / span as f64).min(1.0);
    floor + 0.5 * (peak - floor) * (1.0 + (std::f64::consts::PI * progress).cos())
}

pub struct AdamW {
    params: Vec<(String, Var)>,
    m: HashMap<String, Tensor>,
    v: HashMap<String, Tensor>,
    /// Exponential moving average of the weights (`with_ema`), what a run ships: flow-matching
    /// samples from averaged weights are cleaner than from the last step's.
    ema: Option<(f64, HashMap<String, Tensor>)>,
    pub step: usize,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl AdamW {
    pub fn new(params: Vec<(String, Var)>, weight_decay: f64) -> Result<Self> {
        let mut m = HashMap::new();
        let mut v = HashMap::new();
        for (name, var) in &params {
            m.insert(name.clone(), var.zeros_like()?);
            v.insert(name.clone(), var.zeros_like()?);
        }
        Ok(Self {
            params,
            m,
            v,
            ema: None,
            step: 0,
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8,
            weight_decay,
        })
    }

    /// Also keeps an exponential moving average of the weights with this decay (warmed up as
    /// min(decay, (1 + step) / (10 + step)) so early steps are not frozen in).
    pub fn with_ema(mut self, decay: f64) -> Result<Self> {
        let mut avg = HashMap::new();
        for (name, var) in &self.params {
            avg.insert(name.clone(), var.as_tensor().copy()?);
        }
        self.ema = Some((decay, avg));
        Ok(self)
    }

    /// The averaged weights by parameter name (`None` without `with_ema`).
    pub fn ema(&self) -> Option<&HashMap<String, Tensor>> {
        self.ema.as_ref().map(|(_, avg)| avg)
    }

    /// Scales the gradients so their global L2 norm is at most `max_norm`; returns the norm
    /// before clipping.
    pub fn clip(&self, grads: &mut GradStore, max_norm: f64) -> Result<f64> {
        let mut sq = 0f64;
        for (_, var) in &self.params {
            if let Some(g) = grads.get(var) {
                sq += g
                    .sqr()?
                    .sum_all()?
                    .to_dtype(DType::F64)?
                    .to_scalar::<f64>()?;
            }
        }
        let norm = sq.sqrt();
        if norm > max_norm && norm.is_finite() {
            let scale = max_norm / norm;
            for (_, var) in &self.params {
                if let Some(g) = grads.remove(var) {
                    grads.insert(var, (g * scale)?);
                }
            }
        }
        Ok(norm)
    }

    pub fn apply(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let (c1, c2) = (1.0 - self.beta1.powi(t), 1.0 - self.beta2.powi(t));
        for (name, var) in &self.params {
            let Some(g) = grads.get(var) else { continue };
            // Gradients carry the step's graph; detaching keeps the moments (and so the
            // memory) from chaining every past step together.
            let g = g.detach();
            let m = ((&self.m[name] * self.beta1)? + (&g * (1.0 - self.beta1))?)?.detach();
            let v = ((&self.v[name] * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?.detach();
            let update = ((&m / c1)? / ((&v / c2)?.sqrt()? + self.eps)?)?;
            let decayed = (var.as_tensor() * (1.0 - lr * self.weight_decay))?;
            var.set(&(decayed - (update * lr)?)?.detach())?;
            self.m.insert(name.clone(), m);
            self.v.insert(name.clone(), v);
        }
        if let Some((decay, avg)) = &mut self.ema {
            let d = decay.min((1.0 + t as f64) / (10.0 + t as f64));
            for (name, var) in &self.params {
                let old = &avg[name];
                let new = ((old * d)? + (var.as_tensor() * (1.0 - d))?)?.detach();
                avg.insert(name.clone(), new);
            }
        }
        Ok(())
    }

    /// Moments as named tensors (`m.<param>`, `v.<param>`) plus the step count.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut map: HashMap<String, Tensor> = HashMap::new();
        for (name, t) in &self.m {
            map.insert(format!("m.{name}"), t.clone());
        }
        for (name, t) in &self.v {
            map.insert(format!("v.{name}"), t.clone());
        }
        for (name, t) in self.ema().into_iter().flatten() {
            map.insert(format!("ema.{name}"), t.clone());
        }
        map.insert(
            "step".into(),
            Tensor::new(&[self.step as u32], &candle_core::Device::Cpu)?,
        );
        candle_core::safetensors::save(&map, path)
    }

    pub fn load(&mut self, path: &Path) -> Result<()> {
        let map = candle_core::safetensors::load(path, &candle_core::Device::Cpu)?;
        for (name, var) in &self.params {
            let dev = var.device();
            if let (Some(m), Some(v)) =
                (map.get(&format!("m.{name}")), map.get(&format!("v.{name}")))
            {
                self.m.insert(name.clone(), m.to_device(dev)?);
                self.v.insert(name.clone(), v.to_device(dev)?);
            }
            if let (Some((_, avg)), Some(e)) = (&mut self.ema, map.get(&format!("ema.{name}"))) {
                avg.insert(name.clone(), e.to_device(dev)?);
            }
        }
        if let Some(s) = map.get("step") {
            self.step = s.to_vec1::<u32>()?[0] as usize;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn schedule_warms_up_then_decays() {
        assert!((lr_at(0, 100, 10, 1.0, 0.0) - 0.1).abs() < 1e-12);
        assert!((lr_at(9, 100, 10, 1.0, 0.0) - 1.0).abs() < 1e-12);
        assert!((lr_at(10, 100, 10, 1.0, 0.0) - 1.0).abs() < 1e-12);
        assert!(lr_at(55, 100, 10, 1.0, 0.0) < 0.6);
        assert!(lr_at(100, 100, 10, 1.0, 0.1) - 0.1 < 1e-12);
    }

    #[test]
    fn adamw_minimises_a_quadratic_and_clipping_bounds_the_norm() {
        let w = Var::from_vec(vec![3f32, -2.0], 2, &Device::Cpu).unwrap();
        let mut opt = AdamW::new(vec![("w".into(), w.clone())], 0.0).unwrap();
        for _ in 0..300 {
            let loss = w.as_tensor().sqr().unwrap().sum_all().unwrap();
            let mut grads = loss.backward().unwrap();
            let norm = opt.clip(&mut grads, 1.0).unwrap();
            assert!(norm.is_finite());
            let g = grads
                .get(&w)
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(g.sqrt() <= 1.0 + 1e-5);
            opt.apply(&grads, 0.05).unwrap();
        }
        let v = w.as_tensor().to_vec1::<f32>().unwrap();
        assert!(v.iter().all(|x| x.abs() < 0.05), "{v:?}");
    }

    #[test]
    fn ema_trails_the_weights_and_survives_a_save() {
        let w = Var::from_vec(vec![1f32], 1, &Device::Cpu).unwrap();
        let mut opt = AdamW::new(vec![("w".into(), w.clone())], 0.0)
            .unwrap()
            .with_ema(0.9)
            .unwrap();
        for _ in 0..50 {
            let loss = w.as_tensor().sum_all().unwrap(); // constant gradient: w falls steadily
            let grads = loss.backward().unwrap();
            opt.apply(&grads, 0.01).unwrap();
        }
        let now = w.as_tensor().to_vec1::<f32>().unwrap()[0];
        let avg = opt.ema().unwrap()["w"].to_vec1::<f32>().unwrap()[0];
        // w has fallen by 0.5; the average lags it by about decay / (1 - decay) steps of 0.01.
        assert!((now - 0.5).abs() < 1e-3, "{now}");
        assert!(avg > now + 0.05 && avg < 1.0, "ema {avg} vs weight {now}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("optim.safetensors");
        opt.save(&path).unwrap();
        let mut back = AdamW::new(vec![("w".into(), w.clone())], 0.0)
            .unwrap()
            .with_ema(0.9)
            .unwrap();
        back.load(&path).unwrap();
        assert_eq!(back.ema().unwrap()["w"].to_vec1::<f32>().unwrap()[0], avg);
        assert_eq!(back.step, 50);
    }
}
