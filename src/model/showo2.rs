//! `Showo2Qwen2_5`: the whole unified model.
//!
//! Reading: VAE latents -> semantic path (patch embed + position table + `und_trans`) and
//! low-level path (patch embed) -> `fusion_proj` -> image tokens spliced after a time token
//! into the LLM input; text comes out of `lm_head`.
//! Writing: the same sequence, then the flow head over the post-norm LLM states predicts the
//! velocity of every image token (raster-chunk layout, see [`unpatchify`]).

use candle_core::{DType, Device, IndexOp, Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::config::Showo2Config;
use super::flow_head::{FlowHead, Modulation, Trace};
use super::fusion::Fusion;
use super::mask::{Block, omni_mask};
use super::patch_embed::PatchEmbed;
use super::qwen2::{KvCache, Qwen2};
use super::resample::{self, Filter};
use super::siglip::SemanticEncoder;
use super::timestep::TimestepEmbedder;

#[derive(Debug, Clone)]
pub struct Showo2 {
    cfg: Showo2Config,
    llm: Qwen2,
    image_embedder_und: PatchEmbed,
    image_embedder_gen: PatchEmbed,
    /// SigLIP position table (n*n, clip_dim).
    position_embedding: Tensor,
    und_trans: SemanticEncoder,
    fusion: Fusion,
    time: TimestepEmbedder,
    flow: FlowHead,
    dtype: DType,
    device: Device,
}

/// What [`Showo2::forward`] returns.
pub struct ForwardOutput {
    /// (B, L, vocab) when asked for.
    pub logits: Option<Tensor>,
    /// One velocity per image block, in row-major block order: (N, C, H, W).
    pub v: Tensor,
}

impl Showo2 {
    pub fn new(cfg: &Showo2Config, vb: VarBuilder) -> Result<Self> {
        Self::load(cfg, vb, None)
    }

    /// As `new`, with the LLM's projections quantized while loading when `llm_quant` is given
    /// (see `Proj::load`): the dense LLM never has to fit on the device.
    pub fn load(
        cfg: &Showo2Config,
        vb: VarBuilder,
        llm_quant: Option<&super::layers::QuantSource>,
    ) -> Result<Self> {
        let s = &cfg.showo;
        let (c, p, hidden, clip) = (
            s.image_latent_dim,
            s.patch_size,
            s.hidden_size,
            s.clip_latent_dim,
        );
        let grid = cfg.siglip.position_grid();
        let llm = Qwen2::load(&cfg.llm, s.llm_vocab_size, vb.pp("showo"), llm_quant)?;
        let position_embedding = vb.pp("position_embedding").get_with_hints(
            (grid * grid, clip),
            "weight",
            super::layers::small_randn(),
        )?;
        Ok(Self {
            llm,
            image_embedder_und: PatchEmbed::new(c, clip, p, vb.pp("image_embedder_und"))?,
            image_embedder_gen: PatchEmbed::new(c, hidden, p, vb.pp("image_embedder_gen"))?,
            position_embedding,
            und_trans: SemanticEncoder::new(&cfg.siglip, cfg.und_layers(), vb.pp("und_trans"))?,
            fusion: Fusion::new(clip, hidden, vb.pp("fusion_proj"))?,
            time: TimestepEmbedder::new(
                cfg.flow.time_embed_frequency_dim,
                cfg.flow.hidden_size,
                hidden,
                vb.clone(),
            )?,
            flow: FlowHead::new(
                &cfg.flow,
                hidden,
                s.num_diffusion_layers,
                p * p * c,
                vb.clone(),
            )?,
            dtype: vb.dtype(),
            device: vb.device().clone(),
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &Showo2Config {
        &self.cfg
    }

    pub fn llm(&self) -> &Qwen2 {
        &self.llm
    }

    /// Quantizes the LLM's projections (the bulk of the 7B) to a GGML type; the semantic layers,
    /// the flow head and the VAE keep their dtype.
    pub fn quantize_llm(&mut self, dtype: candle_core::quantized::GgmlDType) -> Result<()> {
        self.llm.quantize(dtype)
    }

    pub fn flow_head(&self) -> &FlowHead {
        &self.flow
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The position embedding for a (gh, gw) token grid: the table itself when the grid matches,
    /// else bicubically interpolated (align_corners=False) as `misc.interpolate_pos_encoding`.
    pub fn position_embeds(&self, gh: usize, gw: usize) -> Result<Tensor> {
        let n = self.cfg.siglip.position_grid();
        if (gh, gw) == (n, n) {
            return self.position_embedding.unsqueeze(0);
        }
        let clip = self.position_embedding.dim(1)?;
        let grid = self
            .position_embedding
            .reshape((1, n, n, clip))?
            .permute((0, 3, 1, 2))?;
        let resized = resample::resize(&grid.contiguous()?, gh, gw, Filter::Bicubic)?;
        resized.permute((0, 2, 3, 1))?.reshape((1, gh * gw, clip))
    }

    /// Semantic path input (patch embed + positions) for latents (N, C, H, W).
    pub fn semantic_input(&self, latents: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = latents.dims4()?;
        let p = self.cfg.showo.patch_size;
        let und = self.image_embedder_und.forward(latents)?;
        und.broadcast_add(&self.position_embeds(h / p, w / p)?)
    }

    /// The semantic encoder (`und_trans`) on its input.
    pub fn semantic_encode(&self, x: &Tensor) -> Result<Tensor> {
        self.und_trans.forward(x)
    }

    /// Fused image tokens (N, h*w, hidden) for latents (N, C, H, W).
    pub fn image_tokens(&self, latents: &Tensor, trace: Option<&mut Trace>) -> Result<Tensor> {
        let (_, c, h, w) = latents.dims4()?;
        let p = self.cfg.showo.patch_size;
        if c != self.cfg.showo.image_latent_dim || h % p != 0 || w % p != 0 {
            candle_core::bail!(
                "image latents {:?}: expected {} channels and H, W multiples of the patch size {p}",
                latents.dims(),
                self.cfg.showo.image_latent_dim
            );
        }
        let latents = latents.to_dtype(self.dtype)?;
        let und_in = self.image_embedder_und.forward(&latents)?;
        let pos = self.position_embeds(h / p, w / p)?;
        let und = self.und_trans.forward(&und_in.broadcast_add(&pos)?)?;
        let gen_tokens = self.image_embedder_gen.forward(&latents)?;
        let fused = self.fusion.forward(&und, &gen_tokens)?;
        if let Some(t) = trace {
            t.push(("image_embedder_und".into(), und_in));
            t.push(("pos_embed".into(), pos));
            t.push(("und_trans".into(), und));
            t.push(("image_embedder_gen".into(), gen_tokens));
            t.push(("fusion_proj".into(), fused.clone()));
        }
        Ok(fused)
    }

    /// t (N,) -> (time_embeds (N, flow width) for adaLN, time tokens (N, hidden)).
    pub fn time_embed(&self, t: &Tensor) -> Result<(Tensor, Tensor)> {
        self.time.forward(t, self.dtype)
    }

    pub fn embed_tokens(&self, ids: &Tensor) -> Result<Tensor> {
        self.llm.embed(ids)
    }

    pub fn lm_logits(&self, hidden: &Tensor) -> Result<Tensor> {
        self.llm.lm_head(hidden)
    }

    /// The official `forward`: token rows (B, L) whose image blocks (`rows[b]`, time token at the
    /// block offset) receive the images `latents` (N, C, H, W) at times `t` (N,), in row-major
    /// block order. Returns the logits (if `logits`) and one velocity per image.
    pub fn forward(
        &self,
        tokens: &Tensor,
        latents: &Tensor,
        t: &Tensor,
        rows: &[Vec<Block>],
        logits: bool,
        mut trace: Option<&mut Trace>,
    ) -> Result<ForwardOutput> {
        let (_, l) = tokens.dims2()?;
        let img = self.image_tokens(latents, trace.as_deref_mut())?;
        let (te, tok) = self.time_embed(t)?;
        let embeds = splice(&self.embed_tokens(tokens)?, rows, &tok, &img)?;
        let mask = omni_mask(rows, 0, l, l, &self.device)?.to_dtype(self.dtype)?;
        let out = self
            .llm
            .forward_embeds(&embeds, &[0], Some(&mask), None, trace.is_some())?;
        let ind = block_indicator(rows, 0, l, self.dtype, &self.device)?;
        let head = self.flow.forward(
            &out.last,
            &te,
            &Modulation { ind: &ind },
            &[0],
            Some(&mask),
            None,
            trace.as_deref_mut(),
        )?;
        let v = gather_velocity(&head, rows, latents.dims4()?)?;
        if let Some(tr) = trace {
            tr.push(("time_embed".into(), te));
            tr.push(("time_embed_proj".into(), tok));
            tr.push(("llm_inputs_embeds".into(), embeds));
            tr.push((
                "llm_hidden_states".into(),
                Tensor::stack(&out.all.unwrap_or_default(), 0)?,
            ));
            tr.push(("llm_final_norm".into(), out.last.clone()));
        }
        let logits = if logits {
            Some(self.llm.lm_head(&out.last)?)
        } else {
            None
        };
        Ok(ForwardOutput { logits, v })
    }

    /// Caches the text before each row's image block (`prefixes[b]` = `[bos] prompt [boi]`),
    /// for the LLM and the flow head, so that each flow step only runs the image block.
    /// Exact: text never attends to later tokens, and prefix rows are never modulated.
    pub fn prefill_generation(&self, prefixes: &[Vec<u32>]) -> Result<GenerationPrefix> {
        let n_llm = self.llm.num_layers();
        let n_flow = self.flow.num_layers();
        let mut llm_rows = Vec::new();
        let mut flow_rows = Vec::new();
        for ids in prefixes {
            let p = ids.len();
            if p == 0 {
                candle_core::bail!("an image block needs at least one token before it");
            }
            let ids = Tensor::new(ids.as_slice(), &self.device)?.unsqueeze(0)?;
            let mask = omni_mask(&[vec![]], 0, p, p, &self.device)?.to_dtype(self.dtype)?;
            let mut llm = KvCache::new(n_llm);
            let out = self.llm.forward_embeds(
                &self.embed_tokens(&ids)?,
                &[0],
                Some(&mask),
                Some(&mut llm),
                false,
            )?;
            let mut flow = KvCache::new(n_flow);
            self.flow
                .prefill_text(&out.last, &[0], Some(&mask), &mut flow)?;
            llm_rows.push(llm);
            flow_rows.push(flow);
        }
        let lens: Vec<usize> = prefixes.iter().map(|p| p.len()).collect();
        Ok(GenerationPrefix {
            llm: stack_padded(&llm_rows, &lens)?,
            flow: stack_padded(&flow_rows, &lens)?,
            lens,
        })
    }

    /// One velocity evaluation of the image blocks that follow the cached prefixes: latents
    /// (B, C, H, W) at times t (B,) -> v (B, C, H, W). Equal to [`Self::forward`]'s v.
    pub fn velocity(
        &self,
        prefix: &GenerationPrefix,
        latents: &Tensor,
        t: &Tensor,
    ) -> Result<Tensor> {
        let b = latents.dim(0)?;
        if b != prefix.lens.len() {
            candle_core::bail!("{b} latents for {} cached prefixes", prefix.lens.len());
        }
        let img = self.image_tokens(latents, None)?;
        let (te, tok) = self.time_embed(t)?;
        let block = Tensor::cat(&[&tok.unsqueeze(1)?, &img], 1)?; // (B, 1 + h*w, hidden)
        let lb = block.dim(1)?;
        let mask = prefix.block_mask(lb, self.dtype, &self.device)?;
        let mut llm_cache = prefix.llm.clone();
        let out = self.llm.forward_embeds(
            &block,
            &prefix.lens,
            Some(&mask),
            Some(&mut llm_cache),
            false,
        )?;
        // Every block row of image b is modulated by image b's time embedding.
        let ind = Tensor::eye(b, self.dtype, &self.device)?
            .unsqueeze(1)?
            .broadcast_as((b, lb, b))?
            .contiguous()?;
        let mut flow_cache = prefix.flow.clone();
        let head = self.flow.forward(
            &out.last,
            &te,
            &Modulation { ind: &ind },
            &prefix.lens,
            Some(&mask),
            Some(&mut flow_cache),
            None,
        )?;
        let rows: Vec<Vec<Block>> = (0..b).map(|_| vec![Block::new(0, lb)]).collect();
        gather_velocity(&head, &rows, latents.dims4()?)
    }

    /// LLM logits over `embeds` (1, L, hidden) appended to `cache`, for text generation.
    /// `blocks` are the bidirectional blocks of the whole sequence (positions count from 0).
    /// Returns logits (L, vocab) when `all`, else the last position's (1, vocab).
    pub fn llm_logits(
        &self,
        embeds: &Tensor,
        blocks: &[Block],
        cache: &mut KvCache,
        all: bool,
    ) -> Result<Tensor> {
        let start = cache.len();
        let l = embeds.dim(1)?;
        let mask = omni_mask(&[blocks.to_vec()], start, l, start + l, &self.device)?
            .to_dtype(self.dtype)?;
        let out = self
            .llm
            .forward_embeds(embeds, &[start], Some(&mask), Some(cache), false)?;
        let hidden = if all {
            out.last.i(0)?
        } else {
            out.last.i((0, l - 1..l))?
        };
        self.llm.lm_head(&hidden)?.to_dtype(DType::F32)
    }

    pub fn new_kv_cache(&self) -> KvCache {
        KvCache::new(self.llm.num_layers())
    }

    /// Video-understanding tokens: per-frame fused tokens (F, h*w, D) resampled bilinearly to
    /// `grid` x `grid` per frame (the official script hard-codes 14) -> (1, F*grid*grid, D).
    pub fn video_tokens(
        &self,
        frame_latents: &Tensor,
        grid: usize,
        trace: Option<&mut Trace>,
    ) -> Result<Tensor> {
        let (f, _, h, w) = frame_latents.dims4()?;
        let p = self.cfg.showo.patch_size;
        let fused = self.image_tokens(frame_latents, trace)?; // (F, h*w, D)
        let d = fused.dim(2)?;
        let grid_in = fused
            .reshape((f, h / p, w / p, d))?
            .permute((0, 3, 1, 2))?
            .contiguous()?;
        let resized = resample::resize(&grid_in, grid, grid, Filter::Bilinear)?;
        resized
            .permute((0, 2, 3, 1))?
            .reshape((1, f * grid * grid, d))
    }
}

/// A piece of an understanding prompt: token ids, or ready embeddings (time token, image or
/// video tokens) of shape (n, hidden).
#[derive(Debug, Clone)]
pub enum Piece {
    Tokens(Vec<u32>),
    Embeds(Tensor),
}

impl Piece {
    pub fn len(&self) -> usize {
        match self {
            Piece::Tokens(t) => t.len(),
            Piece::Embeds(e) => e.dim(0).unwrap_or(0),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Showo2 {
    /// Concatenates pieces into one embedding row (1, L, hidden).
    pub fn assemble(&self, pieces: &[Piece]) -> Result<Tensor> {
        let parts = pieces
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| match p {
                Piece::Tokens(ids) => {
                    self.embed_tokens(&Tensor::new(ids.as_slice(), &self.device)?)
                }
                Piece::Embeds(e) => e.to_dtype(self.dtype),
            })
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&parts, 0)?.unsqueeze(0)
    }

    /// The clean-image time token (t = 1, as understanding uses): (1, hidden).
    pub fn clean_time_token(&self) -> Result<Tensor> {
        let t = Tensor::new(&[1f32], &self.device)?;
        Ok(self.time_embed(&t)?.1)
    }
}

/// The text before the image blocks of a generation batch, cached. Rows may differ in length:
/// shorter ones are padded with masked keys.
#[derive(Debug, Clone)]
pub struct GenerationPrefix {
    llm: KvCache,
    flow: KvCache,
    lens: Vec<usize>,
}

impl GenerationPrefix {
    pub fn lens(&self) -> &[usize] {
        &self.lens
    }

    /// (B, 1, Lb, Pmax + Lb): row b sees its own `lens[b]` prefix keys and the whole block.
    fn block_mask(&self, lb: usize, dtype: DType, dev: &Device) -> Result<Tensor> {
        let pmax = self.lens.iter().copied().max().unwrap_or(0);
        let mut data = Vec::with_capacity(self.lens.len() * lb * (pmax + lb));
        for &p in &self.lens {
            for _ in 0..lb {
                data.extend((0..pmax).map(|j| if j < p { 0f32 } else { f32::NEG_INFINITY }));
                data.extend(std::iter::repeat_n(0f32, lb));
            }
        }
        Tensor::from_vec(data, (self.lens.len(), 1, lb, pmax + lb), dev)?.to_dtype(dtype)
    }
}

/// Stacks single-row caches into one batch, zero-padding each to the longest prefix.
fn stack_padded(rows: &[KvCache], lens: &[usize]) -> Result<KvCache> {
    let pmax = lens.iter().copied().max().unwrap_or(0);
    let n_layers = rows.first().map_or(0, |r| r.layers.len());
    let pad = |t: &Tensor, len: usize| -> Result<Tensor> {
        if len == pmax {
            return Ok(t.clone());
        }
        let (b, h, _, d) = t.dims4()?;
        let z = Tensor::zeros((b, h, pmax - len, d), t.dtype(), t.device())?;
        Tensor::cat(&[t, &z], 2)
    };
    let mut layers = Vec::with_capacity(n_layers);
    for i in 0..n_layers {
        let mut ks = Vec::new();
        let mut vs = Vec::new();
        for (row, &len) in rows.iter().zip(lens) {
            let (k, v) = row.layers[i].as_ref().expect("prefilled layer");
            ks.push(pad(k, len)?);
            vs.push(pad(v, len)?);
        }
        layers.push(Some((Tensor::cat(&ks, 0)?, Tensor::cat(&vs, 0)?)));
    }
    Ok(KvCache { layers })
}

/// Replaces, in each row's embeddings (B, L, D), the block positions by the time token and
/// image tokens of its images (taken in row-major block order from `time` (N, D) and
/// `images` (N, T, D)). Blocks of length 0 are skipped, as in the official code.
pub fn splice(
    embeds: &Tensor,
    rows: &[Vec<Block>],
    time: &Tensor,
    images: &Tensor,
) -> Result<Tensor> {
    let (_, l, _) = embeds.dims3()?;
    let mut n = 0;
    let mut out_rows = Vec::with_capacity(rows.len());
    for (b, blocks) in rows.iter().enumerate() {
        let row = embeds.i(b)?;
        let mut pieces = Vec::new();
        let mut cursor = 0;
        for blk in blocks.iter().filter(|blk| blk.length > 0) {
            let n_img = blk.length - 1;
            if blk.end() > l || images.dim(1)? < n_img {
                candle_core::bail!(
                    "image block {blk:?} does not fit a row of {l} tokens with {} image tokens",
                    images.dim(1)?
                );
            }
            pieces.push(row.narrow(0, cursor, blk.offset - cursor)?);
            pieces.push(time.narrow(0, n, 1)?);
            pieces.push(images.i(n)?.narrow(0, 0, n_img)?);
            cursor = blk.end();
            n += 1;
        }
        pieces.push(row.narrow(0, cursor, l - cursor)?);
        out_rows.push(Tensor::cat(&pieces, 0)?);
    }
    Tensor::stack(&out_rows, 0)
}

/// (B, L, N) indicator of which image block each position belongs to, for positions
/// `q_start..q_start+L`.
fn block_indicator(
    rows: &[Vec<Block>],
    q_start: usize,
    l: usize,
    dtype: DType,
    dev: &Device,
) -> Result<Tensor> {
    let n: usize = rows
        .iter()
        .map(|r| r.iter().filter(|b| b.length > 0).count())
        .sum::<usize>()
        .max(1);
    let mut data = vec![0f32; rows.len() * l * n];
    let mut img = 0;
    for (b, blocks) in rows.iter().enumerate() {
        for blk in blocks.iter().filter(|blk| blk.length > 0) {
            for pos in blk.offset..blk.end() {
                if pos >= q_start && pos < q_start + l {
                    data[(b * l + pos - q_start) * n + img] = 1.0;
                }
            }
            img += 1;
        }
    }
    Tensor::from_vec(data, (rows.len(), l, n), dev)?.to_dtype(dtype)
}

/// Velocity of each image block from the flow-head rows (B, L, p*p*C): rows offset+1 .. end
/// (the time row dropped), then the official raster-chunk unpatchify.
fn gather_velocity(
    head: &Tensor,
    rows: &[Vec<Block>],
    (_, c, h, w): (usize, usize, usize, usize),
) -> Result<Tensor> {
    let mut vs = Vec::new();
    for (b, blocks) in rows.iter().enumerate() {
        for blk in blocks.iter().filter(|blk| blk.length > 0) {
            let tokens = head.i(b)?.narrow(0, blk.offset + 1, blk.length - 1)?;
            vs.push(unpatchify(&tokens, c, h, w)?);
        }
    }
    Tensor::stack(&vs, 0)
}

/// The official "unpatchify": token k carries the C-channel values of the 4 consecutive
/// raster positions 4k..4k+3 of the flattened H x W latent (not the 2x2 patch it came from).
/// (T, p*p*C) -> (C, H, W).
pub fn unpatchify(tokens: &Tensor, c: usize, h: usize, w: usize) -> Result<Tensor> {
    let (t, k) = tokens.dims2()?;
    if t * k != c * h * w {
        candle_core::bail!("{t} tokens of {k} values cannot fill a {c}x{h}x{w} latent");
    }
    tokens
        .reshape((h * w, c))?
        .t()?
        .reshape((c, h, w))?
        .contiguous()
}

/// Inverse of [`unpatchify`] (C, H, W) -> (T, p*p*C); used to build training targets.
pub fn patchify_target(v: &Tensor, tokens: usize) -> Result<Tensor> {
    let (c, h, w) = v.dims3()?;
    v.reshape((c, h * w))?
        .t()?
        .reshape((tokens, c * h * w / tokens))
}
