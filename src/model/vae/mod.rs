//! The Wan2.1 3D causal VAE (`WanVAE_` of the reference `vae.py`, which Show-o2 copies as
//! `models/wan21_vae.py`): 8x spatial and 4x causal temporal compression, 16 latent channels.
//!
//! - `encode`: pixels (B, 3, T, H, W) in [-1, 1], T = 1 + 4k, H and W multiples of 8 ->
//!   normalised mu and raw logvar, each (B, 16, 1 + (T-1)/4, H/8, W/8). The encoder streams
//!   over time chunks of 1, 4, 4, ... frames with the feature cache, like the reference.
//! - `decode`: normalised latents (B, 16, T', h, w) -> pixels (B, 3, 1 + 4(T'-1), 8h, 8w),
//!   one latent frame at a time through the cache, clamped to [-1, 1].
//! - Latent normalisation: `z = (mu - mean) * (1 / std)`, and back `z / (1 / std) + mean`,
//!   with the reciprocal taken in f32 first, as the reference's `scale = [mean, 1 / std]`.
//!
//! Public tensors use the reference layout (B, C, T, H, W); internally activations are
//! frames-major (B, T, C, H, W) so runs of frames are conv2d batches (see `causal_conv3d`).

mod attention;
mod cache;
mod causal_conv3d;
mod decoder;
mod encoder;
mod resample;
mod resblock;
mod rms_norm;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

pub use cache::{CACHE_T, FeatCache, Slot};
pub use causal_conv3d::CausalConv3d;
pub use decoder::Decoder3d;
pub use encoder::Encoder3d;

/// Frames per encoder chunk after the first single frame (hard-coded in the reference).
const ENCODE_CHUNK: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum VaeError {
    #[error("cannot read VAE config {path}: {source}")]
    ConfigRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("VAE config {origin} is not valid JSON for a Wan VAE config: {source}")]
    ConfigJson {
        origin: String,
        source: serde_json::Error,
    },
    #[error("VAE config {origin}: {problem}")]
    ConfigInvalid { origin: String, problem: String },
    #[error("VAE {op} input has shape {got:?}; expected {expected}")]
    InputShape {
        op: &'static str,
        got: Vec<usize>,
        expected: String,
    },
}

impl From<VaeError> for candle_core::Error {
    fn from(err: VaeError) -> Self {
        candle_core::Error::wrap(err)
    }
}

/// Constructor arguments of `WanVAE_` plus the latent normalisation constants.
#[derive(Debug, Clone, PartialEq)]
pub struct VaeConfig {
    pub dim: usize,
    pub z_dim: usize,
    pub dim_mult: Vec<usize>,
    pub num_res_blocks: usize,
    pub attn_scales: Vec<f64>,
    /// Spelled as in the reference. Per encoder stage boundary; the decoder uses it reversed.
    pub temperal_downsample: Vec<bool>,
    pub latent_mean: Vec<f32>,
    pub latent_std: Vec<f32>,
}

/// The official per-channel latent mean of Wan2.1.
const WAN21_MEAN: [f32; 16] = [
    -0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508, 0.4134, -0.0715, 0.5517,
    -0.3632, -0.1922, -0.9497, 0.2503, -0.2921,
];
/// The official per-channel latent std of Wan2.1.
const WAN21_STD: [f32; 16] = [
    2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743, 3.2687, 2.1526, 2.8652, 1.5579,
    1.6382, 1.1253, 2.8251, 1.9160,
];

/// The JSON form (`vae_config.json`); every field is optional and defaults to Wan2.1.
#[derive(Deserialize)]
struct ConfigFile {
    dim: Option<usize>,
    z_dim: Option<usize>,
    dim_mult: Option<Vec<usize>>,
    num_res_blocks: Option<usize>,
    attn_scales: Option<Vec<f64>>,
    temperal_downsample: Option<Vec<bool>>,
    latent_mean: Option<Vec<f32>>,
    latent_std: Option<Vec<f32>>,
}

impl VaeConfig {
    /// `Wan2.1_VAE.pth`: dim 96, z_dim 16, dim_mult [1,2,4,4], 2 res blocks, no attention
    /// scales, temporal downsampling [false, true, true].
    pub fn wan21() -> Self {
        Self {
            dim: 96,
            z_dim: 16,
            dim_mult: vec![1, 2, 4, 4],
            num_res_blocks: 2,
            attn_scales: vec![],
            temperal_downsample: vec![false, true, true],
            latent_mean: WAN21_MEAN.to_vec(),
            latent_std: WAN21_STD.to_vec(),
        }
    }

    /// Reads the golden `vae_config.json` format; missing fields take the Wan2.1 values,
    /// unknown fields (`dropout`, `CACHE_T`, notes) are ignored.
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Self, VaeError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| VaeError::ConfigRead {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json_str(&text, &path.display().to_string())
    }

    /// As `from_json_file`; `origin` names the source in error messages.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self, VaeError> {
        let file: ConfigFile =
            serde_json::from_str(text).map_err(|source| VaeError::ConfigJson {
                origin: origin.to_string(),
                source,
            })?;
        let d = Self::wan21();
        let cfg = Self {
            dim: file.dim.unwrap_or(d.dim),
            z_dim: file.z_dim.unwrap_or(d.z_dim),
            dim_mult: file.dim_mult.unwrap_or(d.dim_mult),
            num_res_blocks: file.num_res_blocks.unwrap_or(d.num_res_blocks),
            attn_scales: file.attn_scales.unwrap_or(d.attn_scales),
            temperal_downsample: file.temperal_downsample.unwrap_or(d.temperal_downsample),
            latent_mean: file.latent_mean.unwrap_or(d.latent_mean),
            latent_std: file.latent_std.unwrap_or(d.latent_std),
        };
        cfg.validate().map_err(|problem| VaeError::ConfigInvalid {
            origin: origin.to_string(),
            problem,
        })?;
        Ok(cfg)
    }

    /// Checks the relations between fields that the network relies on.
    pub fn validate(&self) -> Result<(), String> {
        if self.dim == 0 || self.z_dim == 0 {
            return Err(format!(
                "dim ({}) and z_dim ({}) must be positive",
                self.dim, self.z_dim
            ));
        }
        if self.dim_mult.len() < 2 || self.dim_mult.contains(&0) {
            return Err(format!(
                "dim_mult must have at least 2 positive entries, got {:?}",
                self.dim_mult
            ));
        }
        if self.temperal_downsample.len() != self.dim_mult.len() - 1 {
            return Err(format!(
                "temperal_downsample needs {} entries (one per stage boundary of dim_mult {:?}), got {:?}",
                self.dim_mult.len() - 1,
                self.dim_mult,
                self.temperal_downsample
            ));
        }
        for (name, values) in [
            ("latent_mean", &self.latent_mean),
            ("latent_std", &self.latent_std),
        ] {
            if values.len() != self.z_dim {
                return Err(format!(
                    "{name} has {} values, expected z_dim = {}",
                    values.len(),
                    self.z_dim
                ));
            }
        }
        if self.latent_std.iter().any(|s| *s == 0.0 || !s.is_finite()) {
            return Err(format!(
                "latent_std must be finite and non-zero, got {:?}",
                self.latent_std
            ));
        }
        Ok(())
    }

    /// Pixel size per latent pixel (8 for Wan2.1): one 2x downsample per stage boundary.
    pub fn spatial_factor(&self) -> usize {
        1 << (self.dim_mult.len() - 1)
    }

    /// Latent frames for `frames` pixel frames (T = 1 + 4k -> 1 + k for Wan2.1).
    pub fn latent_frames(&self, frames: usize) -> usize {
        let temporal = 1usize << self.temperal_downsample.iter().filter(|d| **d).count();
        // First chunk: 1 frame -> 1 latent; every later 4-frame chunk -> 4 / temporal latents.
        1 + (frames.saturating_sub(1) / ENCODE_CHUNK) * (ENCODE_CHUNK / temporal.min(ENCODE_CHUNK))
    }
}

/// Everything `encode` computes, for callers (and parity tests) that want the raw parts.
#[derive(Debug, Clone)]
pub struct VaeEncoding {
    /// Encoder output before `conv1`: (B, 2*z_dim, T', h, w).
    pub encoder_out: Tensor,
    /// Un-normalised mean: (B, z_dim, T', h, w).
    pub mu_raw: Tensor,
    /// Raw log-variance (never normalised by the reference): (B, z_dim, T', h, w).
    pub logvar: Tensor,
    /// `(mu_raw - mean) / std`: the latent the model works with.
    pub mu: Tensor,
}

#[derive(Debug, Clone)]
pub struct WanVae {
    cfg: VaeConfig,
    encoder: Encoder3d,
    /// 1x1x1, 2*z_dim -> 2*z_dim, after the encoder.
    conv1: CausalConv3d,
    /// 1x1x1, z_dim -> z_dim, before the decoder.
    conv2: CausalConv3d,
    decoder: Decoder3d,
    /// (1, z_dim, 1, 1, 1) f32, public layout.
    mean: Tensor,
    /// 1 / std in f32, (1, z_dim, 1, 1, 1).
    inv_std: Tensor,
    dtype: DType,
    device: Device,
}

impl WanVae {
    /// Weight names as in `Wan2.1_VAE.pth`: `encoder.*`, `conv1.*`, `conv2.*`, `decoder.*`.
    /// Computes in `vb`'s dtype on `vb`'s device.
    pub fn new(cfg: &VaeConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        cfg.validate().map_err(|problem| VaeError::ConfigInvalid {
            origin: "passed to WanVae::new".to_string(),
            problem,
        })?;
        let z = cfg.z_dim;
        let device = vb.device().clone();
        let inv_std: Vec<f32> = cfg.latent_std.iter().map(|s| 1.0 / s).collect();
        Ok(Self {
            encoder: Encoder3d::new(vb.pp("encoder"), cfg)?,
            conv1: CausalConv3d::new(vb.pp("conv1"), 2 * z, 2 * z, [1, 1, 1], 1, [0, 0, 0])?,
            conv2: CausalConv3d::new(vb.pp("conv2"), z, z, [1, 1, 1], 1, [0, 0, 0])?,
            decoder: Decoder3d::new(vb.pp("decoder"), cfg)?,
            mean: Tensor::from_slice(&cfg.latent_mean, (1, z, 1, 1, 1), &device)?,
            inv_std: Tensor::from_vec(inv_std, (1, z, 1, 1, 1), &device)?,
            dtype: vb.dtype(),
            device,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &VaeConfig {
        &self.cfg
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// x: (B, 3, T, H, W) in [-1, 1]. Returns (normalised mu, raw logvar), each
    /// (B, z_dim, 1 + (T-1)/4, H/8, W/8), f32.
    pub fn encode(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let enc = self.encode_detailed(x)?;
        Ok((enc.mu, enc.logvar))
    }

    /// The deterministic `WanVAE.sample`: the normalised mu.
    pub fn sample_deterministic(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        Ok(self.encode_detailed(x)?.mu)
    }

    /// The encoder output before `conv1`, (B, 2*z_dim, T', h, w).
    pub fn encode_raw(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        Ok(self.encode_detailed(x)?.encoder_out)
    }

    /// Runs the chunked causal encoder (chunks of 1, 4, 4, ... frames, shared cache).
    pub fn encode_detailed(&self, x: &Tensor) -> candle_core::Result<VaeEncoding> {
        let (_b, _c, t, _h, _w) = self.check_pixels(x)?;
        // (B, 3, T, H, W) -> (B, T, 3, H, W)
        let frames = x
            .to_device(&self.device)?
            .to_dtype(self.dtype)?
            .permute((0, 2, 1, 3, 4))?
            .contiguous()?;
        let mut cache = FeatCache::new();
        let mut outs = Vec::with_capacity(1 + (t - 1) / ENCODE_CHUNK);
        outs.push(self.encoder.forward(&frames.narrow(1, 0, 1)?, &mut cache)?);
        for start in (1..t).step_by(ENCODE_CHUNK) {
            outs.push(
                self.encoder
                    .forward(&frames.narrow(1, start, ENCODE_CHUNK)?, &mut cache)?,
            );
        }
        let out = Tensor::cat(&outs, 1)?; // (B, T', 2z, h, w)
        let moments = self.conv1.forward(&out)?;
        let z = self.cfg.z_dim;
        let public = |t: &Tensor| {
            t.permute((0, 2, 1, 3, 4))?
                .to_dtype(DType::F32)?
                .contiguous()
        };
        let mu_raw = public(&moments.narrow(2, 0, z)?)?;
        let logvar = public(&moments.narrow(2, z, z)?)?;
        Ok(VaeEncoding {
            encoder_out: public(&out)?,
            mu: self.normalise_latent(&mu_raw)?,
            mu_raw,
            logvar,
        })
    }

    /// The stochastic `WanVAE.sample` given its Gaussian noise (same shape as mu):
    /// `mu + exp(0.5 * clamp(logvar, -30, 20)) * noise`. As in the reference, the noise scale
    /// comes from the RAW logvar while mu is the normalised one.
    pub fn sample_from_moments(
        mu: &Tensor,
        logvar: &Tensor,
        noise: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let std = (logvar.clamp(-30f32, 20f32)? * 0.5)?.exp()?;
        mu + std.mul(noise)?
    }

    /// `(mu - mean) * (1 / std)` per channel; mu: (B, z_dim, T, h, w).
    pub fn normalise_latent(&self, mu: &Tensor) -> candle_core::Result<Tensor> {
        mu.to_dtype(DType::F32)?
            .broadcast_sub(&self.mean)?
            .broadcast_mul(&self.inv_std)
    }

    /// `z / (1 / std) + mean` per channel; z: (B, z_dim, T, h, w).
    pub fn denormalise_latent(&self, z: &Tensor) -> candle_core::Result<Tensor> {
        z.to_dtype(DType::F32)?
            .broadcast_div(&self.inv_std)?
            .broadcast_add(&self.mean)
    }

    /// z: normalised latents (B, z_dim, T', h, w) -> pixels (B, 3, 1 + 4(T'-1), 8h, 8w),
    /// clamped to [-1, 1], f32.
    pub fn decode(&self, z: &Tensor) -> candle_core::Result<Tensor> {
        self.decode_unclamped(z)?.clamp(-1f32, 1f32)
    }

    /// As `decode` without the final clamp (`WanVAE_.decode`).
    pub fn decode_unclamped(&self, z: &Tensor) -> candle_core::Result<Tensor> {
        let chunks = self
            .decode_stream(z, false)?
            .collect::<candle_core::Result<Vec<_>>>()?;
        Tensor::cat(&chunks, 2)
    }

    /// Streaming decode: yields the pixels of one latent frame at a time,
    /// (B, 3, n, 8h, 8w) f32 with n = 1 for the first latent frame and 4 after (Wan2.1).
    pub fn decode_stream(&self, z: &Tensor, clamp: bool) -> candle_core::Result<DecodeStream<'_>> {
        let (b, c, t, h, w) = z.dims5().map_err(|_| self.latent_shape_error(z))?;
        if c != self.cfg.z_dim || b == 0 || t == 0 || h == 0 || w == 0 {
            return Err(self.latent_shape_error(z));
        }
        let z = self
            .denormalise_latent(&z.to_device(&self.device)?)?
            .to_dtype(self.dtype)?;
        // (B, z, T', h, w) -> (B, T', z, h, w), then the 1x1x1 conv2 over all frames at once.
        let latents = self
            .conv2
            .forward(&z.permute((0, 2, 1, 3, 4))?.contiguous()?)?;
        Ok(DecodeStream {
            vae: self,
            latents,
            cache: FeatCache::new(),
            next: 0,
            clamp,
        })
    }

    fn check_pixels(&self, x: &Tensor) -> candle_core::Result<(usize, usize, usize, usize, usize)> {
        let f = self.cfg.spatial_factor();
        let dims = x.dims();
        let ok = matches!(dims, [b, 3, t, h, w]
            if *b > 0 && *t >= 1 && (t - 1) % ENCODE_CHUNK == 0 && *h > 0 && *w > 0 && h % f == 0 && w % f == 0);
        if ok {
            return x.dims5();
        }
        let mut expected = format!(
            "(B, 3, T, H, W) with T = 1 + {ENCODE_CHUNK}k frames (1, 5, 9, 13, ...) and H, W positive multiples of {f}"
        );
        if let [_, _, t, h, w] = dims {
            if *t == 0 || (t - 1) % ENCODE_CHUNK != 0 {
                let lower = 1 + t.saturating_sub(1) / ENCODE_CHUNK * ENCODE_CHUNK;
                expected += &format!(
                    "; T = {t} is not 1 + {ENCODE_CHUNK}k, use {lower} or {}",
                    lower + ENCODE_CHUNK
                );
            }
            for (name, v) in [("H", h), ("W", w)] {
                if *v == 0 || v % f != 0 {
                    let lower = v / f * f;
                    expected += &format!(
                        "; {name} = {v} is not a multiple of {f}, use {} or {}",
                        lower.max(f),
                        lower + f
                    );
                }
            }
        }
        Err(VaeError::InputShape {
            op: "encode",
            got: dims.to_vec(),
            expected,
        }
        .into())
    }

    fn latent_shape_error(&self, z: &Tensor) -> candle_core::Error {
        VaeError::InputShape {
            op: "decode",
            got: z.dims().to_vec(),
            expected: format!(
                "(B, {}, T, h, w) normalised latents with B, T, h, w >= 1",
                self.cfg.z_dim
            ),
        }
        .into()
    }
}

/// A decode in progress: each step runs one latent frame through the decoder with the
/// shared feature cache, exactly like the reference's per-frame loop.
pub struct DecodeStream<'a> {
    vae: &'a WanVae,
    /// (B, T', z_dim, h, w) after `conv2`.
    latents: Tensor,
    cache: FeatCache,
    next: usize,
    clamp: bool,
}

impl DecodeStream<'_> {
    /// Number of latent frames in total.
    pub fn latent_frames(&self) -> usize {
        self.latents.dim(1).unwrap_or(0)
    }

    /// Pixels of the next latent frame, (B, 3, n, H, W) f32, or `None` when done.
    pub fn next_chunk(&mut self) -> candle_core::Result<Option<Tensor>> {
        if self.next >= self.latent_frames() {
            return Ok(None);
        }
        let frame = self.latents.narrow(1, self.next, 1)?;
        self.next += 1;
        let pixels = self.vae.decoder.forward(&frame, &mut self.cache)?; // (B, n, 3, H, W)
        let pixels = pixels
            .permute((0, 2, 1, 3, 4))?
            .to_dtype(DType::F32)?
            .contiguous()?;
        let pixels = if self.clamp {
            pixels.clamp(-1f32, 1f32)?
        } else {
            pixels
        };
        Ok(Some(pixels))
    }
}

impl Iterator for DecodeStream<'_> {
    type Item = candle_core::Result<Tensor>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_chunk().transpose()
    }
}

/// The reference's `utils.denorm`: `((x + 1) / 2).clamp(0, 1) * 255`, TRUNCATED to u8
/// (numpy `astype(uint8)`), channels last. pixels: (B, 3, H, W) -> u8 (B, H, W, 3), or
/// (B, 3, T, H, W) -> u8 (B, T, H, W, 3). The result is on the CPU.
pub fn to_uint8_hwc(pixels: &Tensor) -> candle_core::Result<Tensor> {
    let x = pixels.to_dtype(DType::F32)?.to_device(&Device::Cpu)?;
    let x = ((x + 1.0)? / 2.0)?.clamp(0f32, 1f32)?;
    let x = (x * 255.0)?;
    let x = match x.rank() {
        4 => x.permute((0, 2, 3, 1))?,
        5 => x.permute((0, 2, 3, 4, 1))?,
        r => candle_core::bail!(
            "to_uint8_hwc: expected (B, 3, H, W) or (B, 3, T, H, W), got rank {r}"
        ),
    };
    // f32 -> u8 on the CPU is Rust's `as u8`: truncation toward zero, like numpy.
    x.contiguous()?.to_dtype(DType::U8)
}

#[cfg(test)]
mod tests;
