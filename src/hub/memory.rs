//! Memory needed to load and run a catalog model, before loading it: weights from the catalog's
//! parameter counts at the chosen dtype (or quantization), plus the largest activation working
//! set of the task, plus the VAE. Compared with a device budget, it gives a verdict and, when the
//! model does not fit, the first option that would (VAE on the CPU, a quantized LLM, a smaller
//! model, a lower resolution).
//!
//! These are estimates from shapes (see performance-anchors.md §5), not measurements; they are
//! meant to be within ~20% and to err high. Attention is counted unfused (an f32 L×L score matrix
//! per head), the way candle's CPU path computes it.

use std::fmt;

use super::catalog::{Capability, Catalog, Dtype, HeadGeometry, ModelEntry};
use super::format_bytes;

// Show-o2's flow head is the same for 1.5B and 7B (hard-coded `DiffusionHeadConfig`), and so
// are its SigLIP semantic layers and the scripts' text budgets: `HeadGeometry::SHOWO2`, unless
// the catalog gives a model its own (the built-in tiny model).
/// Wan2.1 VAE decode of one 432x432 frame in f32 peaks at about 0.5 GB (performance-anchors §5).
const VAE_F32_BYTES_AT_432: f64 = 0.5e9;
/// Parameters of the Wan2.1 VAE (width 96). A narrower VAE of the same architecture (the tiny
/// model's, width 8) has activations narrower by the width ratio, sqrt of the parameter ratio.
const WAN21_VAE_PARAMS: f64 = 126_892_531.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    Cpu,
    Cuda,
    Metal,
}

impl Device {
    /// Runtime, allocator and context overhead that is there before any tensor. On the CPU:
    /// the process itself (code, tokenizer, allocator, matmul scratch), ~24 MB in `bench memory`
    /// (the studio window adds its own, not counted here).
    fn overhead(self) -> u64 {
        match self {
            Device::Cpu => 24 << 20,
            Device::Cuda => 640 << 20,
            Device::Metal => 384 << 20,
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Device::Cpu => "CPU",
            Device::Cuda => "CUDA",
            Device::Metal => "Metal",
        })
    }
}

/// Quantization of the LLM's linear layers (embeddings stay in the working dtype).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LlmQuant {
    Q8_0,
    Q4K,
}

impl LlmQuant {
    fn bits_per_weight(self) -> f64 {
        match self {
            LlmQuant::Q8_0 => 8.5,
            LlmQuant::Q4K => 4.5,
        }
    }
}

impl fmt::Display for LlmQuant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LlmQuant::Q8_0 => "Q8_0",
            LlmQuant::Q4K => "Q4_K",
        })
    }
}

/// How the model would be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    pub dtype: Dtype,
    pub llm_quant: Option<LlmQuant>,
    /// Keep the VAE (and its decode) in host memory while the rest is on the GPU.
    pub vae_on_cpu: bool,
}

impl LoadOptions {
    pub fn plain(dtype: Dtype) -> Self {
        Self {
            dtype,
            llm_quant: None,
            vae_on_cpu: false,
        }
    }
}

/// What the model will be asked to do (sets the sequence length and batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// With classifier-free guidance (batch 2).
    TextToImage {
        resolution: u32,
    },
    ImageChat {
        resolution: u32,
    },
    VideoChat {
        resolution: u32,
        frames: u32,
    },
}

impl Workload {
    /// The model's first capability at its first native resolution.
    pub fn default_for(model: &ModelEntry) -> Self {
        let resolution = model.native_resolutions.first().copied().unwrap_or(432);
        match model.capabilities.first() {
            Some(Capability::TextToImage) | None => Self::TextToImage { resolution },
            Some(Capability::ImageChat) => Self::ImageChat { resolution },
            Some(Capability::VideoChat) => Self::VideoChat {
                resolution,
                frames: model.video_frames.unwrap_or(32),
            },
        }
    }

    pub fn capability(self) -> Capability {
        match self {
            Self::TextToImage { .. } => Capability::TextToImage,
            Self::ImageChat { .. } => Capability::ImageChat,
            Self::VideoChat { .. } => Capability::VideoChat,
        }
    }

    fn resolution(self) -> u32 {
        match self {
            Self::TextToImage { resolution }
            | Self::ImageChat { resolution }
            | Self::VideoChat { resolution, .. } => resolution,
        }
    }

    fn with_resolution(self, resolution: u32) -> Self {
        match self {
            Self::TextToImage { .. } => Self::TextToImage { resolution },
            Self::ImageChat { .. } => Self::ImageChat { resolution },
            Self::VideoChat { frames, .. } => Self::VideoChat { resolution, frames },
        }
    }

    /// (batch, sequence length, image tokens per frame)
    fn shape(self, h: HeadGeometry) -> (u64, u64, u64) {
        // VAE 8x, then `latent_patch` cells a token.
        let grid = (self.resolution() as u64 / (8 * h.latent_patch.max(1))).max(1);
        let image_tokens = grid * grid;
        match self {
            Self::TextToImage { .. } => (
                2,
                (image_tokens + h.t2i_text_tokens).max(h.t2i_min_seq),
                image_tokens,
            ),
            Self::ImageChat { .. } => (1, image_tokens + 1 + h.chat_text_tokens, image_tokens),
            Self::VideoChat { frames, .. } => {
                // Each frame's grid is downsampled 2x (27x27 -> 14x14) before the LLM.
                let per_frame = grid.div_ceil(2).pow(2);
                (
                    1,
                    per_frame * frames as u64 + 1 + h.chat_text_tokens,
                    image_tokens,
                )
            }
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TextToImage { resolution: r } => write!(f, "text to image {r}x{r}"),
            Self::ImageChat { resolution: r } => write!(f, "image chat {r}x{r}"),
            Self::VideoChat {
                resolution: r,
                frames,
            } => write!(f, "video chat {frames} frames at {r}x{r}"),
        }
    }
}

/// The estimate, by part, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    pub llm_weights: u64,
    /// Semantic layers, projectors, time embedding, flow head.
    pub other_weights: u64,
    pub vae_weights: u64,
    /// Largest working set of the transformer passes (plus the KV cache for chat).
    pub activations: u64,
    /// VAE encode/decode working set.
    pub vae_activations: u64,
    pub overhead: u64,
    pub vae_on_cpu: bool,
    /// False when the catalog has no parameter counts for the model (weights not counted).
    pub weights_known: bool,
}

impl MemoryEstimate {
    /// Peak on the compute device. Transformer and VAE working sets do not overlap in time.
    pub fn device_peak(&self) -> u64 {
        if self.vae_on_cpu {
            self.llm_weights + self.other_weights + self.overhead + self.activations
        } else {
            self.llm_weights
                + self.other_weights
                + self.vae_weights
                + self.overhead
                + self.activations.max(self.vae_activations)
        }
    }

    /// Host memory taken by an offloaded VAE (0 when it is on the device).
    pub fn host_extra(&self) -> u64 {
        if self.vae_on_cpu {
            self.vae_weights + self.vae_activations
        } else {
            0
        }
    }
}

/// Memory available for the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceBudget {
    pub device: Device,
    /// Free bytes on the device (RAM for the CPU).
    pub available: u64,
    /// Free host RAM, for offloading the VAE from a GPU (unknown: offloading is not suggested).
    pub host_available: Option<u64>,
}

impl DeviceBudget {
    /// The CPU with the RAM the OS reports as available now (Linux `/proc/meminfo`).
    pub fn cpu() -> Option<Self> {
        let available = system_available_ram()?;
        Some(Self {
            device: Device::Cpu,
            available,
            host_available: Some(available),
        })
    }
}

/// `MemAvailable` from `/proc/meminfo` (None elsewhere).
pub fn system_available_ram() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Under 90% of the budget.
    Fits,
    /// Between 90% and 100%: may fail with other programs running.
    Tight,
    DoesNotFit,
}

/// A change that makes a model fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alternative {
    OffloadVae,
    QuantizeLlm(LlmQuant),
    OffloadVaeAndQuantize(LlmQuant),
    SmallerModel {
        id: String,
        llm_quant: Option<LlmQuant>,
    },
    LowerResolution(u32),
}

impl fmt::Display for Alternative {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OffloadVae => write!(f, "the VAE offloaded to the CPU"),
            Self::QuantizeLlm(q) => write!(f, "the LLM quantized to {q}"),
            Self::OffloadVaeAndQuantize(q) => write!(
                f,
                "the LLM quantized to {q} and the VAE offloaded to the CPU"
            ),
            Self::SmallerModel {
                id,
                llm_quant: None,
            } => write!(f, "the smaller model {id}"),
            Self::SmallerModel {
                id,
                llm_quant: Some(q),
            } => write!(f, "the smaller model {id} with its LLM quantized to {q}"),
            Self::LowerResolution(r) => write!(f, "a lower resolution, {r}x{r}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub model_id: String,
    pub options: LoadOptions,
    pub workload: Workload,
    pub budget: DeviceBudget,
    pub estimate: MemoryEstimate,
    pub fit: Fit,
    /// The first change that fits, with its estimate (for `Tight` and `DoesNotFit`).
    pub alternative: Option<(Alternative, MemoryEstimate)>,
}

impl Assessment {
    /// One paragraph for the CLI and the GUI: the need, the budget, and what to change.
    pub fn message(&self) -> String {
        let need = self.estimate.device_peak();
        let quant = self
            .options
            .llm_quant
            .map(|q| format!(", LLM {q}"))
            .unwrap_or_default();
        let mut text = format!(
            "{} ({}{quant}, {}) needs about {} on {}",
            self.model_id,
            self.options.dtype,
            self.workload,
            format_bytes(need),
            self.budget.device
        );
        if !self.estimate.weights_known {
            text.push_str(" (weights not counted: the catalog has no parameter counts for it)");
        }
        let avail = format_bytes(self.budget.available);
        match self.fit {
            Fit::Fits => text.push_str(&format!("; {avail} available: it fits.")),
            Fit::Tight => text.push_str(&format!(
                "; {avail} available: it may not fit with other programs running."
            )),
            Fit::DoesNotFit => {
                text.push_str(&format!(" but only {avail} is available: it will not fit."))
            }
        }
        match (&self.alternative, self.fit) {
            (_, Fit::Fits) => {}
            (Some((alt, est)), _) => text.push_str(&format!(
                " It would fit with {alt} (about {}).",
                format_bytes(est.device_peak())
            )),
            (None, Fit::DoesNotFit) => text.push_str(" No catalog option fits this device."),
            (None, _) => {}
        }
        text
    }
}

/// The memory a model needs for a workload on a device.
pub fn estimate(
    catalog: &Catalog,
    model: &ModelEntry,
    options: LoadOptions,
    workload: Workload,
    device: Device,
) -> MemoryEstimate {
    let a = options.dtype.bytes();
    let h = model
        .geometry
        .map(|g| g.head_geometry())
        .unwrap_or(HeadGeometry::SHOWO2);
    let (batch, seq, image_tokens) = workload.shape(h);
    let vae_on_cpu = options.vae_on_cpu && device != Device::Cpu;

    let (llm_weights, other_weights) = match model.params {
        Some(p) => {
            let llm = match (options.llm_quant, model.geometry) {
                (Some(q), Some(g)) => {
                    let embed = g.vocab * g.hidden;
                    let linear = p.llm.saturating_sub(embed);
                    (linear as f64 * q.bits_per_weight() / 8.0) as u64 + embed * a
                }
                _ => p.llm * a,
            };
            (llm, p.rest * a)
        }
        None => (0, 0),
    };
    let vae_weights = catalog.vae_params(model).map(|(n, _)| n * a).unwrap_or(0);

    let activations = match model.geometry {
        Some(g) => {
            let attention = |heads: u64| batch * heads * seq * seq * 4;
            let llm_layer =
                batch * seq * (4 * g.hidden + 3 * g.intermediate) * a + attention(g.heads);
            let semantic =
                batch * image_tokens * (4 * h.semantic_width + 3 * h.semantic_intermediate) * a
                    + batch * h.semantic_heads * image_tokens * image_tokens * 4;
            let flow = batch * seq * (4 * h.flow_hidden + 3 * h.flow_intermediate) * a
                + attention(h.flow_heads);
            let head_dim = g.hidden / g.heads;
            let kv_cache = 2 * g.layers * seq * g.kv_heads * head_dim * a;
            match workload {
                Workload::TextToImage { .. } => llm_layer.max(semantic).max(flow),
                _ => llm_layer.max(semantic) + kv_cache + g.vocab * 4,
            }
        }
        None => 0,
    };
    let pixels = (workload.resolution() as f64 / 432.0).powi(2);
    let vae_width = catalog
        .vae_params(model)
        .map(|(n, _)| (n as f64 / WAN21_VAE_PARAMS).sqrt().min(1.0))
        .unwrap_or(1.0);
    let vae_activations = match model.params {
        Some(_) => (VAE_F32_BYTES_AT_432 * pixels * vae_width * a as f64 / 4.0) as u64,
        None => 0,
    };
    MemoryEstimate {
        llm_weights,
        other_weights,
        vae_weights,
        activations,
        vae_activations,
        overhead: device.overhead(),
        vae_on_cpu,
        weights_known: model.params.is_some(),
    }
}

fn fit_of(estimate: &MemoryEstimate, budget: &DeviceBudget) -> Fit {
    let need = estimate.device_peak();
    if estimate.vae_on_cpu
        && budget
            .host_available
            .is_none_or(|host| estimate.host_extra() > host)
    {
        return Fit::DoesNotFit;
    }
    if need as f64 <= budget.available as f64 * 0.9 {
        Fit::Fits
    } else if need <= budget.available {
        Fit::Tight
    } else {
        Fit::DoesNotFit
    }
}

/// Estimate, verdict and, when it does not fit comfortably, the first alternative that does.
pub fn assess(
    catalog: &Catalog,
    model: &ModelEntry,
    options: LoadOptions,
    workload: Workload,
    budget: DeviceBudget,
) -> Assessment {
    let device = budget.device;
    let estimate = estimate(catalog, model, options, workload, device);
    let fit = fit_of(&estimate, &budget);
    let alternative = match fit {
        Fit::Fits => None,
        _ => {
            find_alternative(catalog, model, options, workload, &budget, Fit::Fits).or_else(|| {
                if fit == Fit::DoesNotFit {
                    find_alternative(catalog, model, options, workload, &budget, Fit::Tight)
                } else {
                    None
                }
            })
        }
    };
    Assessment {
        model_id: model.id.clone(),
        options,
        workload,
        budget,
        estimate,
        fit,
        alternative,
    }
}

fn find_alternative(
    catalog: &Catalog,
    model: &ModelEntry,
    options: LoadOptions,
    workload: Workload,
    budget: &DeviceBudget,
    wanted: Fit,
) -> Option<(Alternative, MemoryEstimate)> {
    let device = budget.device;
    let good = |e: &MemoryEstimate| {
        let f = fit_of(e, budget);
        f == Fit::Fits || f == wanted
    };
    let mut tries: Vec<(Alternative, LoadOptions)> = Vec::new();
    let can_offload =
        device != Device::Cpu && !options.vae_on_cpu && budget.host_available.is_some();
    if can_offload {
        tries.push((
            Alternative::OffloadVae,
            LoadOptions {
                vae_on_cpu: true,
                ..options
            },
        ));
    }
    let quants: &[LlmQuant] = match options.llm_quant {
        None => &[LlmQuant::Q8_0, LlmQuant::Q4K],
        Some(LlmQuant::Q8_0) => &[LlmQuant::Q4K],
        Some(LlmQuant::Q4K) => &[],
    };
    for &q in quants {
        tries.push((
            Alternative::QuantizeLlm(q),
            LoadOptions {
                llm_quant: Some(q),
                ..options
            },
        ));
    }
    if can_offload && let Some(&q) = quants.last() {
        tries.push((
            Alternative::OffloadVaeAndQuantize(q),
            LoadOptions {
                llm_quant: Some(q),
                vae_on_cpu: true,
                ..options
            },
        ));
    }
    for (alt, opts) in tries {
        let e = estimate(catalog, model, opts, workload, device);
        if good(&e) {
            return Some((alt, e));
        }
    }

    // A smaller model with the same capability: those trained at the requested resolution first,
    // then the largest that fits.
    let own = estimate(catalog, model, options, workload, device).device_peak();
    let mut smaller: Vec<(&ModelEntry, MemoryEstimate)> = catalog
        .models
        .iter()
        .filter(|m| m.id != model.id && m.params.is_some() && m.supports(workload.capability()))
        .map(|m| {
            (
                m,
                estimate(catalog, m, options, workload_for(m, workload), device),
            )
        })
        .filter(|(_, e)| e.device_peak() < own)
        .collect();
    let same_resolution = |m: &ModelEntry| m.native_resolutions.contains(&workload.resolution());
    smaller.sort_by_key(|(m, e)| {
        (
            std::cmp::Reverse(same_resolution(m)),
            std::cmp::Reverse(e.device_peak()),
        )
    });
    for (m, e) in &smaller {
        if good(e) {
            return Some((
                Alternative::SmallerModel {
                    id: m.id.clone(),
                    llm_quant: options.llm_quant,
                },
                *e,
            ));
        }
    }
    if options.llm_quant != Some(LlmQuant::Q4K) {
        let q4 = LoadOptions {
            llm_quant: Some(LlmQuant::Q4K),
            ..options
        };
        for (m, _) in &smaller {
            let e = estimate(catalog, m, q4, workload_for(m, workload), device);
            if good(&e) {
                return Some((
                    Alternative::SmallerModel {
                        id: m.id.clone(),
                        llm_quant: Some(LlmQuant::Q4K),
                    },
                    e,
                ));
            }
        }
    }

    // A lower native resolution of the same model.
    let mut lower: Vec<u32> = model
        .native_resolutions
        .iter()
        .copied()
        .filter(|r| *r < workload.resolution())
        .collect();
    lower.sort_unstable_by(|a, b| b.cmp(a));
    for r in lower {
        let e = estimate(catalog, model, options, workload.with_resolution(r), device);
        if good(&e) {
            return Some((Alternative::LowerResolution(r), e));
        }
    }
    None
}

/// The same task at the other model's nearest native resolution.
fn workload_for(model: &ModelEntry, workload: Workload) -> Workload {
    let want = workload.resolution();
    let r = model
        .native_resolutions
        .iter()
        .copied()
        .min_by_key(|r| r.abs_diff(want))
        .unwrap_or(want);
    workload.with_resolution(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GB: f64 = 1e9;

    fn gpu(gb: f64) -> DeviceBudget {
        DeviceBudget {
            device: Device::Cuda,
            available: (gb * GB) as u64,
            host_available: Some((64.0 * GB) as u64),
        }
    }

    fn t2i(resolution: u32) -> Workload {
        Workload::TextToImage { resolution }
    }

    #[test]
    fn weights_match_the_documented_sizes() {
        let cat = Catalog::builtin();
        let m15 = cat.model("show-o2-1.5B").unwrap();
        let e = estimate(
            &cat,
            m15,
            LoadOptions::plain(Dtype::Bf16),
            t2i(432),
            Device::Cuda,
        );
        // 2,830,777,056 parameters at bf16 = 5.66 GB; the VAE 127 M at bf16 = 0.25 GB.
        assert_eq!(e.llm_weights + e.other_weights, 5_661_554_112);
        assert_eq!(e.vae_weights, 253_785_062);
        let m7 = cat.model("show-o2-7B").unwrap();
        let e7 = estimate(
            &cat,
            m7,
            LoadOptions::plain(Dtype::Bf16),
            t2i(432),
            Device::Cuda,
        );
        let weights7 = (e7.llm_weights + e7.other_weights) as f64 / GB;
        assert!(
            (weights7 - 17.86).abs() < 0.05,
            "7B bf16 weights {weights7:.2} GB, documented ≈17.9"
        );
        // performance-anchors §5: "bf16 everything ~19 GB" for 7B.
        let peak = e7.device_peak() as f64 / GB;
        assert!((18.5..21.0).contains(&peak), "7B bf16 peak {peak:.2} GB");
        let q8 = estimate(
            &cat,
            m7,
            LoadOptions {
                llm_quant: Some(LlmQuant::Q8_0),
                ..LoadOptions::plain(Dtype::Bf16)
            },
            t2i(432),
            Device::Cuda,
        );
        let q4 = estimate(
            &cat,
            m7,
            LoadOptions {
                llm_quant: Some(LlmQuant::Q4K),
                ..LoadOptions::plain(Dtype::Bf16)
            },
            t2i(432),
            Device::Cuda,
        );
        // Documented LLM sizes: Q8_0 ≈ 8.1 GB (embeddings Q8 there, bf16 here), Q4_K ≈ 5.2 GB.
        assert!(
            (8.0..9.0).contains(&(q8.llm_weights as f64 / GB)),
            "{}",
            q8.llm_weights
        );
        assert!(
            (4.8..5.5).contains(&(q4.llm_weights as f64 / GB)),
            "{}",
            q4.llm_weights
        );
    }

    #[test]
    fn f32_doubles_the_weights_and_higher_resolution_costs_activations() {
        let cat = Catalog::builtin();
        let hq = cat.model("show-o2-1.5B-HQ").unwrap();
        let bf = estimate(
            &cat,
            hq,
            LoadOptions::plain(Dtype::Bf16),
            t2i(512),
            Device::Cpu,
        );
        let f32 = estimate(
            &cat,
            hq,
            LoadOptions::plain(Dtype::F32),
            t2i(512),
            Device::Cpu,
        );
        assert_eq!(f32.llm_weights, 2 * bf.llm_weights);
        let big = estimate(
            &cat,
            hq,
            LoadOptions::plain(Dtype::Bf16),
            t2i(1024),
            Device::Cpu,
        );
        assert!(
            big.activations > 4 * bf.activations,
            "1024² needs far more working memory than 512²"
        );
    }

    #[test]
    fn seven_b_on_a_16_gb_gpu_is_refused_with_a_named_option() {
        let cat = Catalog::builtin();
        let m7 = cat.model("show-o2-7B").unwrap();
        let a = assess(
            &cat,
            m7,
            LoadOptions::plain(Dtype::Bf16),
            t2i(432),
            gpu(16.0),
        );
        assert_eq!(a.fit, Fit::DoesNotFit);
        let (alt, est) = a.alternative.clone().expect("an option fits 16 GB");
        assert_eq!(
            alt,
            Alternative::QuantizeLlm(LlmQuant::Q8_0),
            "offloading the VAE alone saves too little"
        );
        assert!(est.device_peak() < (16.0 * 0.9 * GB) as u64);
        let msg = a.message();
        assert!(
            msg.contains("show-o2-7B") && msg.contains("will not fit") && msg.contains("Q8_0"),
            "{msg}"
        );
    }

    #[test]
    fn small_budgets_name_smaller_models_and_offload() {
        let cat = Catalog::builtin();
        let m7 = cat.model("show-o2-7B").unwrap();
        // 8 GB: even the 7B with a Q4_K LLM (~8 GB) does not fit; the 1.5B at the same
        // resolution does (~7 GB), and the 1.5B-HQ (trained at 512) is not offered for 432.
        let a = assess(
            &cat,
            m7,
            LoadOptions::plain(Dtype::Bf16),
            t2i(432),
            gpu(8.0),
        );
        assert_eq!(a.fit, Fit::DoesNotFit);
        match a.alternative.as_ref().map(|(alt, _)| alt) {
            Some(Alternative::SmallerModel { id, .. }) => assert_eq!(id, "show-o2-1.5B"),
            other => panic!("expected the 1.5B, got {other:?}"),
        }
        // 1.5B with just enough room once the VAE is off the GPU: offloading it is the first advice.
        let m15 = cat.model("show-o2-1.5B").unwrap();
        let off = estimate(
            &cat,
            m15,
            LoadOptions {
                vae_on_cpu: true,
                ..LoadOptions::plain(Dtype::Bf16)
            },
            t2i(432),
            Device::Cuda,
        );
        let budget = off.device_peak() as f64 / 0.9 * 1.001;
        let a = assess(
            &cat,
            m15,
            LoadOptions::plain(Dtype::Bf16),
            t2i(432),
            gpu(budget / GB),
        );
        assert_ne!(a.fit, Fit::Fits);
        assert_eq!(
            a.alternative.map(|(alt, _)| alt),
            Some(Alternative::OffloadVae)
        );
    }

    #[test]
    fn plenty_of_memory_fits_without_advice() {
        let cat = Catalog::builtin();
        let m = cat.model("show-o2-1.5B-w-video-und").unwrap();
        let w = Workload::default_for(m);
        assert_eq!(w, Workload::ImageChat { resolution: 432 });
        let video = Workload::VideoChat {
            resolution: 432,
            frames: 32,
        };
        let a = assess(&cat, m, LoadOptions::plain(Dtype::Bf16), video, gpu(80.0));
        assert_eq!(a.fit, Fit::Fits);
        assert!(a.alternative.is_none());
        assert!(a.message().ends_with("it fits."), "{}", a.message());
    }

    #[test]
    fn the_tiny_model_is_estimated_from_its_own_counts_and_fits() {
        let cat = Catalog::builtin();
        let tiny = cat.model("show-o2-tiny").unwrap();
        let budget = DeviceBudget {
            device: Device::Cpu,
            available: 2 << 30,
            host_available: None,
        };
        let a = assess(
            &cat,
            tiny,
            LoadOptions::plain(Dtype::F32),
            Workload::default_for(tiny),
            budget,
        );
        assert_eq!(a.fit, Fit::Fits);
        assert!(a.estimate.weights_known);
        // Its own VAE (width 8) and head geometry, not the released Show-o2's.
        assert_eq!(a.estimate.vae_weights, 924_491 * 4);
        assert!(a.estimate.device_peak() < 64 << 20, "{:?}", a.estimate);
    }
}
