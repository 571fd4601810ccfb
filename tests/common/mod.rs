//! Shared helpers of the golden parity tests.
#![allow(dead_code)]

use candle_core::{DType, Device, Tensor};
use std::sync::Arc;

use candle_nn::VarBuilder;
use showo::golden::GoldenSet;
use showo::model::vae::{VaeConfig, WanVae};
use showo::model::weights::WeightStore;
use showo::model::{Block, Showo2, Showo2Config};

/// The model loaded from every weight format present in the golden model folder: each of the
/// candidate files (single safetensors, single .bin, sharded indexes) that exists is opened
/// through the checkpoint loader, and every tensor in it must be used by the model.
pub fn load_models(set: &GoldenSet) -> Vec<(String, Showo2)> {
    let dir = set.model_dir();
    let cfg = Showo2Config::from_dir(&dir).unwrap_or_else(|e| panic!("config: {e}"));
    let candidates = [
        "model.safetensors",
        "model.safetensors.index.json",
        "pytorch_model.bin",
        "pytorch_model.bin.index.json",
        "diffusion_pytorch_model.bin.index.json",
    ];
    let mut out = Vec::new();
    for name in candidates {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        let store = Arc::new(WeightStore::open(&path).unwrap_or_else(|e| panic!("{e}")));
        let model = Showo2::new(&cfg, store.var_builder(DType::F32, &Device::Cpu))
            .unwrap_or_else(|e| panic!("building from {name}: {e}"));
        // A tied checkpoint may carry lm_head as a copy the model does not read.
        store
            .check_all_used(&["showo.lm_head.weight"])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        out.push((name.to_string(), model));
    }
    assert!(!out.is_empty(), "no weights found in {}", dir.display());
    out
}

/// `modality_positions` (B, S, 2) -> per-row blocks.
pub fn blocks_of(positions: &Tensor) -> Vec<Vec<Block>> {
    let v = positions
        .to_dtype(DType::I64)
        .unwrap()
        .to_vec3::<i64>()
        .unwrap();
    v.into_iter()
        .map(|row| {
            row.into_iter()
                .map(|p| Block::new(p[0] as usize, p[1] as usize))
                .collect()
        })
        .collect()
}

/// The golden VAE (geometry from its vae_config.json).
pub fn load_vae(set: &GoldenSet) -> WanVae {
    let dir = set.vae_dir();
    let cfg = VaeConfig::from_json_file(dir.join("vae_config.json")).expect("vae_config.json");
    let vb = unsafe {
        VarBuilder::from_mmaped_safetensors(
            &[dir.join("vae.safetensors")],
            DType::F32,
            &Device::Cpu,
        )
        .unwrap()
    };
    WanVae::new(&cfg, vb).expect("golden VAE")
}
