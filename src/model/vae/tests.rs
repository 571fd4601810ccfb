//! Unit tests: the causal conv against a naive 3-D conv, the streaming cache against one
//! causal pass, config parsing, input-shape errors and the uint8 conversion.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use super::cache::FeatCache;
use super::causal_conv3d::CausalConv3d;
use super::{VaeConfig, WanVae, to_uint8_hwc};

/// Deterministic pseudo-random values in [-1, 1) (a small LCG; no RNG crate API needed).
fn random_vec(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn random_tensor(shape: &[usize], seed: u64) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_vec(random_vec(n, seed), shape, &Device::Cpu).unwrap()
}

/// Naive causal conv3d in the reference layout. x: (B, Cin, T, H, W); weight
/// (Cout, Cin, kt, kh, kw); time padded with 2*pt zeros in front, space with p on each side.
fn naive_causal_conv3d(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride_t: usize,
    pt: usize,
    p: usize,
) -> Tensor {
    let (b, ci, t, h, w) = x.dims5().unwrap();
    let (co, _, kt, kh, kw) = weight.dims5().unwrap();
    let xv: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
    let wv: Vec<f32> = weight.flatten_all().unwrap().to_vec1().unwrap();
    let bv: Vec<f32> = bias.to_vec1().unwrap();
    let tp = t + 2 * pt;
    let t_out = (tp - kt) / stride_t + 1;
    let (ho, wo) = (h + 2 * p - kh + 1, w + 2 * p - kw + 1);
    let mut out = vec![0f32; b * co * t_out * ho * wo];
    for bi in 0..b {
        for o in 0..co {
            for to in 0..t_out {
                for y in 0..ho {
                    for xx in 0..wo {
                        let mut acc = bv[o] as f64;
                        for c in 0..ci {
                            for dt in 0..kt {
                                let ti = (to * stride_t + dt) as isize - (2 * pt) as isize;
                                if ti < 0 {
                                    continue;
                                }
                                for dy in 0..kh {
                                    let yi = (y + dy) as isize - p as isize;
                                    if yi < 0 || yi >= h as isize {
                                        continue;
                                    }
                                    for dx in 0..kw {
                                        let xi = (xx + dx) as isize - p as isize;
                                        if xi < 0 || xi >= w as isize {
                                            continue;
                                        }
                                        let xidx = (((bi * ci + c) * t + ti as usize) * h
                                            + yi as usize)
                                            * w
                                            + xi as usize;
                                        let widx = (((o * ci + c) * kt + dt) * kh + dy) * kw + dx;
                                        acc += xv[xidx] as f64 * wv[widx] as f64;
                                    }
                                }
                            }
                        }
                        out[(((bi * co + o) * t_out + to) * ho + y) * wo + xx] = acc as f32;
                    }
                }
            }
        }
    }
    Tensor::from_vec(out, (b, co, t_out, ho, wo), &Device::Cpu).unwrap()
}

/// (B, C, T, H, W) <-> (B, T, C, H, W)
fn swap_ct(x: &Tensor) -> Tensor {
    x.permute((0, 2, 1, 3, 4)).unwrap().contiguous().unwrap()
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
        .to_scalar()
        .unwrap()
}

#[test]
fn causal_conv3d_matches_naive_reference() {
    // (kernel, stride_t, padding, frames)
    let cases: [([usize; 3], usize, [usize; 3], usize); 6] = [
        ([3, 3, 3], 1, [1, 1, 1], 1),
        ([3, 3, 3], 1, [1, 1, 1], 5),
        ([3, 1, 1], 1, [1, 0, 0], 2),
        ([3, 1, 1], 2, [0, 0, 0], 5),
        ([1, 1, 1], 1, [0, 0, 0], 3),
        ([3, 3, 3], 1, [1, 1, 1], 2),
    ];
    for (i, (kernel, stride_t, padding, frames)) in cases.into_iter().enumerate() {
        let (b, ci, co, h, w) = (2, 3, 4, 5, 6);
        let seed = 10 * i as u64;
        let x = random_tensor(&[b, ci, frames, h, w], seed + 1);
        let weight = random_tensor(&[co, ci, kernel[0], kernel[1], kernel[2]], seed + 2);
        let bias = random_tensor(&[co], seed + 3);
        let conv = CausalConv3d::from_weights(&weight, &bias, stride_t, padding).unwrap();
        let got = swap_ct(&conv.forward(&swap_ct(&x)).unwrap());
        let want = naive_causal_conv3d(&x, &weight, &bias, stride_t, padding[0], padding[1]);
        let diff = max_diff(&got, &want);
        assert!(diff < 1e-5, "case {i} {kernel:?}: max diff {diff}");
    }
}

#[test]
fn cached_conv_over_chunks_equals_one_causal_pass() {
    let (b, ci, co, t, h, w) = (1, 3, 4, 9, 4, 5);
    let x = random_tensor(&[b, t, ci, h, w], 7);
    let weight = random_tensor(&[co, ci, 3, 3, 3], 8);
    let bias = random_tensor(&[co], 9);
    let conv = CausalConv3d::from_weights(&weight, &bias, 1, [1, 1, 1]).unwrap();
    let full = conv.forward(&x).unwrap();
    // The encoder's chunking (1, 4, 4) and the decoder's (1, 1, 1, ...).
    for chunks in [vec![1, 4, 4], vec![1; 9], vec![2, 3, 4]] {
        let mut cache = FeatCache::new();
        let mut outs = Vec::new();
        let mut start = 0;
        for len in &chunks {
            cache.begin_chunk();
            outs.push(
                conv.forward_cached(&x.narrow(1, start, *len).unwrap(), &mut cache)
                    .unwrap(),
            );
            start += len;
        }
        let streamed = Tensor::cat(&outs, 1).unwrap();
        let diff = max_diff(&streamed, &full);
        assert!(diff < 1e-6, "chunks {chunks:?}: max diff {diff}");
        assert_eq!(cache.len(), 1);
    }
}

fn tiny_config() -> VaeConfig {
    VaeConfig {
        dim: 4,
        ..VaeConfig::wan21()
    }
}

fn tiny_vae() -> WanVae {
    WanVae::new(&tiny_config(), VarBuilder::zeros(DType::F32, &Device::Cpu)).unwrap()
}

#[test]
fn encode_rejects_bad_shapes_with_clear_message() {
    let vae = tiny_vae();
    let err = vae
        .encode(&Tensor::zeros((1, 3, 6, 16, 16), DType::F32, &Device::Cpu).unwrap())
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("T = 6 is not 1 + 4k, use 5 or 9"), "{msg}");
    assert!(msg.contains("[1, 3, 6, 16, 16]"), "{msg}");

    let err = vae
        .encode(&Tensor::zeros((1, 3, 1, 20, 16), DType::F32, &Device::Cpu).unwrap())
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("H = 20 is not a multiple of 8, use 16 or 24"),
        "{msg}"
    );
    assert!(!msg.contains("W = "), "{msg}");

    let err = vae
        .encode(&Tensor::zeros((1, 4, 1, 16, 16), DType::F32, &Device::Cpu).unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("(B, 3, T, H, W)"), "{err}");

    let err = vae
        .encode(&Tensor::zeros((3, 16, 16), DType::F32, &Device::Cpu).unwrap())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("encode input has shape [3, 16, 16]"),
        "{err}"
    );

    let err = vae
        .decode(&Tensor::zeros((1, 8, 1, 2, 2), DType::F32, &Device::Cpu).unwrap())
        .unwrap_err();
    assert!(
        err.to_string().contains("expected (B, 16, T, h, w)"),
        "{err}"
    );
}

#[test]
fn shapes_through_encode_and_decode() {
    let vae = tiny_vae();
    let x = Tensor::zeros((2, 3, 9, 16, 24), DType::F32, &Device::Cpu).unwrap();
    let enc = vae.encode_detailed(&x).unwrap();
    assert_eq!(enc.encoder_out.dims(), &[2, 32, 3, 2, 3]);
    assert_eq!(enc.mu.dims(), &[2, 16, 3, 2, 3]);
    assert_eq!(enc.logvar.dims(), &[2, 16, 3, 2, 3]);
    assert_eq!(vae.config().latent_frames(9), 3);
    let pixels = vae.decode(&enc.mu).unwrap();
    assert_eq!(pixels.dims(), &[2, 3, 9, 16, 24]);
    let chunks: Vec<usize> = vae
        .decode_stream(&enc.mu, true)
        .unwrap()
        .map(|c| c.unwrap().dim(2).unwrap())
        .collect();
    assert_eq!(chunks, vec![1, 4, 4]);
}

#[test]
fn config_json_defaults_and_errors() {
    let cfg =
        VaeConfig::from_json_str(r#"{"dim": 8, "dropout": 0.0, "CACHE_T": 2}"#, "test").unwrap();
    assert_eq!(
        cfg,
        VaeConfig {
            dim: 8,
            ..VaeConfig::wan21()
        }
    );
    assert_eq!(cfg.spatial_factor(), 8);

    let err = VaeConfig::from_json_str(r#"{"latent_mean": [0.0, 1.0]}"#, "cfg.json").unwrap_err();
    assert!(
        err.to_string()
            .contains("latent_mean has 2 values, expected z_dim = 16"),
        "{err}"
    );
    let err =
        VaeConfig::from_json_str(r#"{"temperal_downsample": [true]}"#, "cfg.json").unwrap_err();
    assert!(
        err.to_string()
            .contains("temperal_downsample needs 3 entries"),
        "{err}"
    );
    let err = VaeConfig::from_json_str("{", "cfg.json").unwrap_err();
    assert!(err.to_string().contains("cfg.json"), "{err}");
    let err = VaeConfig::from_json_file("/nonexistent/vae_config.json").unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/vae_config.json"),
        "{err}"
    );
}

#[test]
fn uint8_conversion_truncates_like_numpy() {
    // (x + 1) / 2 * 255: -1 -> 0, 1 -> 255, 0 -> 127.5 -> 127, 0.999 -> 254.87 -> 254.
    let x = Tensor::from_vec(
        vec![-2f32, -1.0, 0.0, 0.999, 1.0, 3.0],
        (1, 3, 1, 2),
        &Device::Cpu,
    )
    .unwrap();
    let u = to_uint8_hwc(&x).unwrap();
    assert_eq!(u.dims(), &[1, 1, 2, 3]);
    // HWC: pixel (0,0) = channels (x[0], x[2], x[4]), pixel (0,1) = (x[1], x[3], x[5]).
    let v: Vec<u8> = u.flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(v, vec![0, 127, 255, 0, 254, 255]);
}

#[test]
fn stochastic_sample_uses_clamped_raw_logvar() {
    let mu = Tensor::new(&[1f32, 2.0, 3.0], &Device::Cpu).unwrap();
    let logvar = Tensor::new(&[0f32, 2.0, 100.0], &Device::Cpu).unwrap();
    let noise = Tensor::new(&[1f32, -1.0, 1e-4], &Device::Cpu).unwrap();
    let got: Vec<f32> = WanVae::sample_from_moments(&mu, &logvar, &noise)
        .unwrap()
        .to_vec1()
        .unwrap();
    let want = [2.0, 2.0 - 1f32.exp(), 3.0 + 10f32.exp() * 1e-4];
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() < 1e-4 * w.abs().max(1.0),
            "{got:?} vs {want:?}"
        );
    }
}
