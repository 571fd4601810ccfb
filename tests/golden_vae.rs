//! Parity of the Wan2.1 VAE port with the official PyTorch code (`vae_image`, `vae_video`).
//!
//! The VAE geometry comes from the golden `vae/vae_config.json`, never from constants here,
//! so other golden sets (other widths and sizes) run through the same code.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use showo::golden::{self, Case, GoldenSet};
use showo::model::vae::{VaeConfig, WanVae, to_uint8_hwc};

fn load_vae(set: &GoldenSet) -> WanVae {
    let dir = set.vae_dir();
    let cfg = VaeConfig::from_json_file(dir.join("vae_config.json")).expect("vae_config.json");
    let weights = dir.join("vae.safetensors");
    // SAFETY: the golden files are read-only and not modified while mapped.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &Device::Cpu) }
        .unwrap_or_else(|e| panic!("cannot map {}: {e}", weights.display()));
    WanVae::new(&cfg, vb).expect("build WanVae from the golden weights")
}

/// Checks every produced tensor and that all tensors listed in tolerances.json were covered.
fn check_all(set: &GoldenSet, case: &Case, got: &[(&str, Tensor)]) {
    let mut seen = BTreeMap::new();
    for (key, tensor) in got {
        let full = format!("outputs.{key}");
        let diff = golden::check(set, case, &full, tensor);
        println!("{}/{full}: max abs diff {diff:.3e}", case.name);
        seen.insert(full, diff);
    }
    for key in set.toleranced_keys(&case.name) {
        assert!(
            seen.contains_key(&key),
            "{}: tolerances.json lists {key}, not checked",
            case.name
        );
    }
}

#[test]
fn vae_image_matches_official() {
    let Some(set) = golden::open_or_fail() else {
        return;
    };
    let case = set.case("vae_image").expect("vae_image case");
    let vae = load_vae(&set);

    let x = case.f32("inputs.image").unsqueeze(2).unwrap(); // (B, 3, 1, H, W)
    let enc = vae.encode_detailed(&x).unwrap();
    let sample = vae.sample_deterministic(&x).unwrap();

    // Decode the official normalised latent so decoder errors are measured on their own.
    let z = case.f32("outputs.mu_normalized");
    let pixels = vae.decode(&z).unwrap();
    let unclamped = vae.decode_unclamped(&z).unwrap();
    let uint8 = to_uint8_hwc(&pixels.squeeze(2).unwrap()).unwrap();

    check_all(
        &set,
        &case,
        &[
            ("encoder_out", enc.encoder_out),
            ("mu_raw", enc.mu_raw),
            ("mu_normalized", enc.mu),
            ("logvar", enc.logvar),
            ("sample_deterministic", sample),
            ("decoded_pixels", pixels),
            ("decoded_pixels_unclamped", unclamped),
            ("decoded_uint8", uint8),
        ],
    );
}

#[test]
fn vae_video_matches_official() {
    let Some(set) = golden::open_or_fail() else {
        return;
    };
    let case = set.case("vae_video").expect("vae_video case");
    let vae = load_vae(&set);

    let clip = case.f32("inputs.clip"); // (B, 3, T, H, W), T = 1 + 4k
    let enc = vae.encode_detailed(&clip).unwrap();

    let z = case.f32("outputs.mu_normalized");
    let unclamped = vae.decode_unclamped(&z).unwrap();
    // The streaming decoder, one latent frame at a time, as a caller would use it.
    let chunks: Vec<Tensor> = vae
        .decode_stream(&z, true)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    assert_eq!(chunks.len(), z.dim(2).unwrap());
    let pixels = Tensor::cat(&chunks, 2).unwrap();
    let whole = vae.decode(&z).unwrap();
    assert_eq!(golden::max_abs_diff(&pixels, &whole).unwrap(), 0.0);

    check_all(
        &set,
        &case,
        &[
            ("mu_raw", enc.mu_raw),
            ("mu_normalized", enc.mu),
            ("logvar", enc.logvar),
            ("decoded_pixels", pixels),
            ("decoded_pixels_unclamped", unclamped),
        ],
    );
}
