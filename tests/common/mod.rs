//! Shared helpers of the golden parity tests.
#![allow(dead_code)]

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use showo::golden::GoldenSet;
use showo::model::vae::{VaeConfig, WanVae};
use showo::model::{Block, Showo2, Showo2Config};

/// The model loaded from each weight format present in the golden model folder.
pub fn load_models(set: &GoldenSet) -> Vec<(String, Showo2)> {
    let dir = set.model_dir();
    let cfg = Showo2Config::from_dir(&dir).unwrap_or_else(|e| panic!("config: {e}"));
    let mut out = Vec::new();
    let st = dir.join("model.safetensors");
    if st.exists() {
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(&[st], DType::F32, &Device::Cpu).unwrap()
        };
        out.push(("safetensors".to_string(), Showo2::new(&cfg, vb).unwrap()));
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
