//! Seeded initial weights, so a training run from scratch is reproducible.
//!
//! candle's `VarMap` draws random initial weights from the CPU's thread RNG, which is seeded by
//! the operating system and cannot be seeded (`Device::set_seed` refuses on the CPU): every
//! `train-tiny` run started from different weights. `SeededVarMap` is a `VarMap` backend that
//! draws each new variable from a generator seeded by the run's seed and the variable's name,
//! with the same distributions candle's `Init` describes, so the weights no longer depend on
//! the order in which modules are built either.

use candle_core::{DType, Device, Result, Shape, Tensor};
use candle_nn::init::NormalOrUniform;
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, VarMap};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// A `VarMap` whose new variables are drawn from a generator seeded per name.
pub struct SeededVarMap {
    map: VarMap,
    seed: u64,
}

impl SeededVarMap {
    /// A `VarBuilder` that creates (or reuses) `map`'s variables with seeded initial values.
    pub fn builder(map: &VarMap, seed: u64, dtype: DType, dev: &Device) -> VarBuilder<'static> {
        let backend = SeededVarMap {
            map: map.clone(),
            seed,
        };
        VarBuilder::from_backend(Box::new(backend), dtype, dev.clone())
    }

    fn generator(&self, name: &str) -> ChaCha8Rng {
        // FNV-1a over the name: stable across runs and platforms, unlike `DefaultHasher`.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        ChaCha8Rng::seed_from_u64(h ^ self.seed)
    }

    fn initial(
        &self,
        s: &Shape,
        name: &str,
        init: Init,
        dtype: DType,
        dev: &Device,
    ) -> Result<Tensor> {
        let n = s.elem_count();
        let mut r = self.generator(name);
        let values: Vec<f32> = match init {
            Init::Const(c) => vec![c as f32; n],
            Init::Randn { mean, stdev } => normal(&mut r, n, mean, stdev),
            Init::Uniform { lo, up } => uniform(&mut r, n, lo, up),
            Init::Kaiming {
                dist,
                fan,
                non_linearity,
            } => {
                // The same gain and fan as candle's `Init::var`.
                let std = non_linearity.gain() / (fan.for_shape(s) as f64).sqrt();
                match dist {
                    NormalOrUniform::Normal => normal(&mut r, n, 0.0, std),
                    NormalOrUniform::Uniform => {
                        let bound = 3f64.sqrt() * std;
                        uniform(&mut r, n, -bound, bound)
                    }
                }
            }
        };
        Tensor::from_vec(values, s.clone(), dev)?.to_dtype(dtype)
    }
}

fn normal(r: &mut ChaCha8Rng, n: usize, mean: f64, std: f64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let z: f64 = StandardNormal.sample(r);
            (mean + std * z) as f32
        })
        .collect()
}

fn uniform(r: &mut ChaCha8Rng, n: usize, lo: f64, up: f64) -> Vec<f32> {
    (0..n)
        .map(|_| (lo + (up - lo) * r.random::<f64>()) as f32)
        .collect()
}

impl SimpleBackend for SeededVarMap {
    /// `VarMap::get` does the lookup, the shape check and the insertion (of zeros, as a
    /// placeholder); a new variable then takes its seeded values in place, which the returned
    /// tensor shares.
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let fresh = !self.contains_tensor(name);
        let tensor = self
            .map
            .get(s.clone(), name, Init::Const(0.0), dtype, dev)?;
        if fresh {
            // `set_one` wants `&mut` by signature only: a VarMap is a shared handle.
            let values = self.initial(&s, name, h, dtype, dev)?;
            self.map.clone().set_one(name, values)?;
        }
        Ok(tensor)
    }

    fn get_unchecked(&self, _name: &str, _dtype: DType, _dev: &Device) -> Result<Tensor> {
        candle_core::bail!("a seeded VarMap creates variables from shapes: use `get`")
    }

    fn contains_tensor(&self, name: &str) -> bool {
        SimpleBackend::contains_tensor(&self.map, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(seed: u64) -> (VarMap, Tensor, Tensor, Tensor) {
        let map = VarMap::new();
        let vb = SeededVarMap::builder(&map, seed, DType::F32, &Device::Cpu);
        let lin = candle_nn::linear(64, 32, vb.pp("proj")).unwrap();
        let emb = vb
            .get_with_hints(
                (100, 16),
                "embed",
                Init::Randn {
                    mean: 0.0,
                    stdev: 0.02,
                },
            )
            .unwrap();
        (map, lin.weight().clone(), lin.bias().unwrap().clone(), emb)
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    fn mean_std(v: &[f32]) -> (f64, f64) {
        let n = v.len() as f64;
        let m = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = v.iter().map(|&x| (f64::from(x) - m).powi(2)).sum::<f64>() / n;
        (m, var.sqrt())
    }

    #[test]
    fn same_seed_same_weights_other_seed_other_weights() {
        let (_, w1, b1, e1) = build(7);
        let (_, w2, b2, e2) = build(7);
        let (_, w3, _, _) = build(8);
        assert_eq!(values(&w1), values(&w2));
        assert_eq!(values(&b1), values(&b2));
        assert_eq!(values(&e1), values(&e2));
        assert_ne!(values(&w1), values(&w3));
    }

    #[test]
    fn distributions_follow_the_hints() {
        let (map, w, b, e) = build(3);
        // candle_nn::linear: Kaiming normal weights (std = sqrt(2 / fan_in)), bias uniform in
        // +-1/sqrt(fan_in).
        let (m, s) = mean_std(&values(&w));
        assert!(m.abs() < 0.02, "weight mean {m}");
        assert!((s - (2.0f64 / 64.0).sqrt()).abs() < 0.01, "weight std {s}");
        let bound = 1.0 / 8.0;
        assert!(values(&b).iter().all(|&x| f64::from(x).abs() <= bound));
        let (m, s) = mean_std(&values(&e));
        assert!(m.abs() < 0.003 && (s - 0.02).abs() < 0.002, "embed {m} {s}");
        // Variables land in the map, trainable, and are reused rather than redrawn.
        assert_eq!(map.all_vars().len(), 3);
        let vb = SeededVarMap::builder(&map, 99, DType::F32, &Device::Cpu);
        let again = vb.get((32, 64), "proj.weight").unwrap();
        assert_eq!(values(&again), values(&w));
        assert!(vb.get((1, 64), "proj.weight").is_err());
    }
}
