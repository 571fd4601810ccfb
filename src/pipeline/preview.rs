//! Live previews: the predicted clean latent x̂ = x_t + (1 − t)·v (t = 0 noise, t = 1 data, so
//! one Euler jump to t = 1) mapped to RGB by a per-channel linear map, upsampled to the canvas.
//!
//! For the released Wan2.1 VAE the map is ComfyUI's published Wan2.1 latent→RGB factors (they
//! were fitted in the same normalised latent space Show-o2 samples in). Any other VAE gets its
//! own map, fitted by least squares from its own decodes ([`fit_latent_rgb`]).

use candle_core::{DType, Device, Tensor};
use image::RgbImage;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{ImageCodec, Result};

/// ComfyUI `latent_formats.Wan21.latent_rgb_factors` (rows: latent channels; columns: R, G, B).
const WAN21_FACTORS: [[f32; 3]; 16] = [
    [-0.1299, -0.1692, 0.2932],
    [0.0671, 0.0406, 0.0442],
    [0.3568, 0.2548, 0.1747],
    [0.0372, 0.2344, 0.1420],
    [0.0313, 0.0189, -0.0328],
    [0.0296, -0.0956, -0.0665],
    [-0.3477, -0.4059, -0.2925],
    [0.0166, 0.1902, 0.1975],
    [-0.0412, 0.0267, -0.1364],
    [-0.1293, 0.0740, 0.1636],
    [0.0680, 0.3019, 0.1128],
    [0.0032, 0.0581, 0.0639],
    [-0.1251, 0.0927, 0.1699],
    [0.0060, -0.0633, 0.0005],
    [0.3477, 0.2275, 0.2950],
    [0.1984, 0.0913, 0.1861],
];
const WAN21_BIAS: [f32; 3] = [-0.1835, -0.0868, -0.3360];

/// rgb = latentᵀ · factors + bias, in [-1, 1]. Stored as `preview_map.json` next to a
/// checkpoint whose VAE is not Wan2.1's (the built-in model), so loading need not fit it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatentRgbMap {
    /// One row per latent channel.
    pub factors: Vec<[f32; 3]>,
    pub bias: [f32; 3],
}

/// What previews a sampling run produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviewOptions {
    /// A latent→RGB preview every this many steps (0 = none, 1 = every step).
    pub every: usize,
    /// A full VAE decode of x̂ every this many steps (0 = never; off by default: it costs a
    /// large fraction of a step).
    pub full_decode_every: usize,
    /// Upsample previews to the canvas size (else they stay at latent resolution).
    pub upsample: bool,
}

impl Default for PreviewOptions {
    fn default() -> Self {
        Self {
            every: 1,
            full_decode_every: 0,
            upsample: true,
        }
    }
}

impl LatentRgbMap {
    pub fn wan21() -> Self {
        Self {
            factors: WAN21_FACTORS.to_vec(),
            bias: WAN21_BIAS,
        }
    }

    pub fn channels(&self) -> usize {
        self.factors.len()
    }

    /// latent (1, C, h, w) or (C, h, w) -> an h x w RGB image. One copy of the latent to the
    /// CPU (16·h·w values, 187 KB at 432 px), then a plain loop: a handful of tensor ops would
    /// cost more in dispatch than the arithmetic (≈ 140 k multiply-adds at 432 px).
    pub fn to_rgb(&self, latent: &Tensor) -> Result<RgbImage> {
        let latent = if latent.rank() == 4 {
            latent.squeeze(0)?
        } else {
            latent.clone()
        };
        let (c, h, w) = latent.dims3()?;
        if c != self.channels() {
            return Err(super::bad_setting(
                "preview latent channels",
                c,
                format!("{} (the preview map's)", self.channels()),
            ));
        }
        let v = latent
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let plane = h * w;
        let mut rgb = vec![[0f32; 3]; plane];
        for (i, px) in rgb.iter_mut().enumerate() {
            *px = self.bias;
            for (ch, f) in self.factors.iter().enumerate() {
                let z = v[ch * plane + i];
                px[0] += z * f[0];
                px[1] += z * f[1];
                px[2] += z * f[2];
            }
        }
        let to_u8 = |x: f32| (((x + 1.0) / 2.0).clamp(0.0, 1.0) * 255.0).round() as u8;
        Ok(RgbImage::from_fn(w as u32, h as u32, |x, y| {
            let p = rgb[y as usize * w + x as usize];
            image::Rgb([to_u8(p[0]), to_u8(p[1]), to_u8(p[2])])
        }))
    }
}

/// x̂ = x_t + (1 − t)·v: where one Euler jump from t lands at t = 1.
pub fn predicted_clean(x: &Tensor, v: &Tensor, t: f32) -> Result<Tensor> {
    Ok((x + (v.to_dtype(x.dtype())? * (1.0 - t) as f64)?)?)
}

/// Bilinear upsampling of a preview to the canvas size (half-pixel centres, as
/// `align_corners=False`). Per-column taps are computed once; each output row blends two
/// pre-interpolated input rows, so the cost is a few operations per output value.
pub fn upsample(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    if (w, h) == (width, height) || w == 0 || h == 0 {
        return img.clone();
    }
    let taps = |out: u32, inp: u32| -> Vec<(usize, usize, f32)> {
        let scale = inp as f32 / out as f32;
        (0..out)
            .map(|o| {
                let src = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (src.floor() as usize).min(inp as usize - 1);
                let i1 = (i0 + 1).min(inp as usize - 1);
                (i0, i1, src - i0 as f32)
            })
            .collect()
    };
    let (xs, ys) = (taps(width, w), taps(height, h));
    let src = img.as_raw();
    let row_len = w as usize * 3;
    // Each input row interpolated horizontally to the output width, in f32.
    let horizontal: Vec<Vec<f32>> = (0..h as usize)
        .map(|y| {
            let row = &src[y * row_len..(y + 1) * row_len];
            let mut out = Vec::with_capacity(width as usize * 3);
            for &(x0, x1, f) in &xs {
                for c in 0..3 {
                    let a = row[x0 * 3 + c] as f32;
                    let b = row[x1 * 3 + c] as f32;
                    out.push(a + (b - a) * f);
                }
            }
            out
        })
        .collect();
    let mut data = Vec::with_capacity(width as usize * height as usize * 3);
    for &(y0, y1, f) in &ys {
        let (a, b) = (&horizontal[y0], &horizontal[y1]);
        data.extend(
            a.iter()
                .zip(b)
                .map(|(&a, &b)| (a + (b - a) * f).round() as u8),
        );
    }
    RgbImage::from_raw(width, height, data).unwrap_or_else(|| img.clone())
}

/// Fits a latent→RGB map for `codec` from its own decodes: a few smooth synthetic pictures are
/// encoded and decoded again, the decodes are average-pooled to latent resolution, and
/// `[latent, 1] -> rgb` is solved by (slightly ridge-regularised) least squares.
impl LatentRgbMap {
    pub const FILE: &'static str = "preview_map.json";

    /// Reads a map written by `save`; `channels` is the model's latent width.
    pub fn load(path: &std::path::Path, channels: usize) -> Result<Self> {
        let bad = |why: String| super::PipelineError::Checkpoint {
            path: path.to_path_buf(),
            why,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let map: Self = serde_json::from_str(&text)
            .map_err(|e| bad(format!("not a latent->RGB preview map: {e}")))?;
        if map.factors.len() != channels {
            return Err(bad(format!(
                "has {} factor rows, expected {channels} (the model's image_latent_dim)",
                map.factors.len()
            )));
        }
        Ok(map)
    }

    pub fn save(&self, path: &std::path::Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text)
    }
}

pub fn fit_latent_rgb(
    codec: &dyn ImageCodec,
    channels: usize,
    dev: &Device,
    seed: u64,
) -> Result<LatentRgbMap> {
    const SIDE: usize = 64;
    const IMAGES: usize = 6;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut data = Vec::with_capacity(IMAGES * 3 * SIDE * SIDE);
    for _ in 0..IMAGES {
        // A colour gradient with a solid rectangle: smooth regions and one edge.
        let c0: [f32; 3] = std::array::from_fn(|_| rng.random::<f32>() * 2.0 - 1.0);
        let c1: [f32; 3] = std::array::from_fn(|_| rng.random::<f32>() * 2.0 - 1.0);
        let c2: [f32; 3] = std::array::from_fn(|_| rng.random::<f32>() * 2.0 - 1.0);
        let (x0, y0) = (rng.random_range(0..SIDE / 2), rng.random_range(0..SIDE / 2));
        let (x1, y1) = (x0 + SIDE / 4 + 8, y0 + SIDE / 4 + 8);
        for ch in 0..3 {
            for y in 0..SIDE {
                for x in 0..SIDE {
                    let inside = (x0..x1).contains(&x) && (y0..y1).contains(&y);
                    let a = (x + y) as f32 / (2 * SIDE) as f32;
                    data.push(if inside {
                        c2[ch]
                    } else {
                        c0[ch] * (1.0 - a) + c1[ch] * a
                    });
                }
            }
        }
    }
    let pixels = Tensor::from_vec(data, (IMAGES, 3, SIDE, SIDE), dev)?;
    fit_latent_rgb_on(codec, channels, &pixels)
}

/// The least-squares map from `codec`'s latents of `pixels` ((N, 3, H, W) in [-1, 1]) to its
/// decodes averaged over each latent cell. A model trained on a known kind of picture (the
/// built-in one) fits on its own pictures, whose colours the synthetic ones above miss.
pub fn fit_latent_rgb_on(
    codec: &dyn ImageCodec,
    channels: usize,
    pixels: &Tensor,
) -> Result<LatentRgbMap> {
    let side = pixels.dim(2)?;
    let latents = codec.encode(pixels)?.to_dtype(DType::F32)?;
    let (n, c, h, w) = latents.dims4()?;
    if c != channels {
        return Err(super::bad_setting(
            "VAE latent channels",
            c,
            format!("{channels} (the model's image_latent_dim)"),
        ));
    }
    let decoded = codec.decode(&latents)?.to_dtype(DType::F32)?;
    let f = side / h;
    let pooled = decoded.avg_pool2d((f, f))?; // stride = kernel
    let lat = latents.permute((0, 2, 3, 1))?.reshape((n * h * w, c))?;
    let rgb = pooled.permute((0, 2, 3, 1))?.reshape((n * h * w, 3))?;
    let lat = lat.to_vec2::<f32>()?;
    let rgb = rgb.to_vec2::<f32>()?;
    let k = c + 1;
    // Normal equations (XᵀX + λI) B = XᵀY with X = [latent, 1].
    let mut a = vec![vec![0f64; k]; k];
    let mut b = vec![[0f64; 3]; k];
    for (row, target) in lat.iter().zip(&rgb) {
        let x: Vec<f64> = row.iter().map(|&v| v as f64).chain([1.0]).collect();
        for i in 0..k {
            for j in 0..k {
                a[i][j] += x[i] * x[j];
            }
            for ch in 0..3 {
                b[i][ch] += x[i] * target[ch] as f64;
            }
        }
    }
    for (i, row) in a.iter_mut().enumerate().take(c) {
        row[i] += 1e-3;
    }
    let sol = solve(a, b);
    Ok(LatentRgbMap {
        factors: sol[..c]
            .iter()
            .map(|r| [r[0] as f32, r[1] as f32, r[2] as f32])
            .collect(),
        bias: [sol[c][0] as f32, sol[c][1] as f32, sol[c][2] as f32],
    })
}

/// Gaussian elimination with partial pivoting for a small symmetric system, 3 right-hand sides.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<[f64; 3]>) -> Vec<[f64; 3]> {
    let k = a.len();
    for col in 0..k {
        let pivot = (col..k)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        a.swap(col, pivot);
        b.swap(col, pivot);
        let d = a[col][col];
        if d.abs() < 1e-12 {
            continue;
        }
        for row in 0..k {
            if row == col {
                continue;
            }
            let f = a[row][col] / d;
            if f == 0.0 {
                continue;
            }
            let (pivot_a, pivot_b) = (a[col].clone(), b[col]);
            for (x, p) in a[row][col..].iter_mut().zip(&pivot_a[col..]) {
                *x -= f * p;
            }
            for (x, p) in b[row].iter_mut().zip(&pivot_b) {
                *x -= f * p;
            }
        }
    }
    (0..k)
        .map(|i| {
            let d = a[i][i];
            if d.abs() < 1e-12 {
                [0.0; 3]
            } else {
                [b[i][0] / d, b[i][1] / d, b[i][2] / d]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A linear "VAE" whose decode is exactly a known latent→RGB map: the fit must recover it.
    struct LinearCodec;

    impl ImageCodec for LinearCodec {
        fn encode(&self, pixels: &Tensor) -> candle_core::Result<Tensor> {
            // 8x average pool, then channels (r, g, b, r+g) -> 4 latent channels.
            let p = pixels.avg_pool2d((8, 8))?;
            let r = p.narrow(1, 0, 1)?;
            let g = p.narrow(1, 1, 1)?;
            let b = p.narrow(1, 2, 1)?;
            Tensor::cat(&[&r, &g, &b, &(&r + &g)?], 1)
        }
        fn decode(&self, z: &Tensor) -> candle_core::Result<Tensor> {
            // rgb = (z0, z1, z2) * 0.5 + 0.5 * z3 - 0.1, upsampled 8x.
            let rgb =
                ((z.narrow(1, 0, 3)? * 0.5)?.broadcast_add(&(z.narrow(1, 3, 1)? * 0.5)?)? - 0.1)?;
            rgb.upsample_nearest2d(z.dim(2)? * 8, z.dim(3)? * 8)
        }
        fn is_wan21(&self) -> bool {
            false
        }
    }

    #[test]
    fn fitted_map_reproduces_a_linear_decoder() {
        let map = fit_latent_rgb(&LinearCodec, 4, &Device::Cpu, 7).unwrap();
        // On the codec's own latents channel 3 is r + g; pick such a latent.
        let z = Tensor::new(&[[[0.2f32]], [[-0.4]], [[0.6]], [[-0.2]]], &Device::Cpu).unwrap();
        let want = [
            0.2f32 * 0.5 - 0.1 - 0.1,
            -0.4 * 0.5 - 0.1 - 0.1,
            0.6 * 0.5 - 0.1 - 0.1,
        ];
        let got = map.to_rgb(&z).unwrap();
        for (ch, w) in want.iter().enumerate() {
            let expect = (((w + 1.0) / 2.0).clamp(0.0, 1.0) * 255.0).round();
            assert!(
                (got.get_pixel(0, 0)[ch] as f32 - expect).abs() <= 2.0,
                "channel {ch}: {} vs {expect}",
                got.get_pixel(0, 0)[ch]
            );
        }
    }

    #[test]
    fn upsampling_keeps_flat_areas_and_interpolates_edges() {
        let img = RgbImage::from_fn(2, 1, |x, _| {
            image::Rgb([if x == 0 { 0 } else { 200 }, 50, 50])
        });
        let big = upsample(&img, 8, 4);
        assert_eq!(big.dimensions(), (8, 4));
        assert_eq!(big.get_pixel(0, 0).0, [0, 50, 50]);
        assert_eq!(big.get_pixel(7, 3).0, [200, 50, 50]);
        let row: Vec<u8> = (0..8).map(|x| big.get_pixel(x, 2)[0]).collect();
        assert!(row.windows(2).all(|w| w[0] <= w[1]), "{row:?}");
        assert!(row.iter().any(|&v| v > 0 && v < 200), "{row:?}");
    }

    #[test]
    fn wan21_map_sends_zero_latent_to_its_bias() {
        let map = LatentRgbMap::wan21();
        let img = map
            .to_rgb(&Tensor::zeros((16, 2, 3), DType::F32, &Device::Cpu).unwrap())
            .unwrap();
        assert_eq!(img.dimensions(), (3, 2));
        let want = WAN21_BIAS.map(|b| (((b + 1.0) / 2.0) * 255.0).round() as u8);
        assert_eq!(img.get_pixel(1, 1).0, want);
    }
}
