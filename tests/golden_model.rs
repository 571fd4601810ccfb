//! Parity of the Show-o2 model with the official PyTorch code (the golden cases).
//! Every case is run from every weight format present in the golden model folder.

mod common;

use candle_core::{DType, IndexOp, Tensor};
use common::{blocks_of, load_models};
use showo::golden::{self, check};

#[test]
fn timestep_embed() {
    let Some(set) = golden::open_or_fail() else {
        return;
    };
    let case = set.case("timestep_embed").unwrap();
    for (fmt, model) in load_models(&set) {
        let t = case.f32("outputs.t");
        let s = showo::model::timestep::sinusoid(&t, model.config().flow.time_embed_frequency_dim)
            .unwrap();
        check(&set, &case, "outputs.sinusoid_256", &s);
        let (te, tok) = model.time_embed(&t).unwrap();
        let e1 = check(&set, &case, "outputs.time_embed", &te);
        let e2 = check(&set, &case, "outputs.time_embed_proj", &tok);
        eprintln!("[{fmt}] timestep_embed: time_embed {e1:.2e}, proj {e2:.2e}");
    }
}

#[test]
fn posemb_interp() {
    let Some(set) = golden::open_or_fail() else {
        return;
    };
    let case = set.case("posemb_interp").unwrap();
    for (fmt, model) in load_models(&set) {
        let lat = case.f32("inputs.pos_latent");
        let p = model.config().showo.patch_size;
        let (gh, gw) = (lat.dim(2).unwrap() / p, lat.dim(3).unwrap() / p);
        let pos = model.position_embeds(gh, gw).unwrap();
        let e = check(&set, &case, "outputs.pos_interpolated", &pos);
        let input = model.semantic_input(&lat).unwrap();
        check(&set, &case, "outputs.und_trans_in", &input);
        let out = model.semantic_encode(&input).unwrap();
        let e2 = check(&set, &case, "outputs.und_trans_out", &out);
        eprintln!("[{fmt}] posemb_interp {gh}x{gw}: pos {e:.2e}, und_trans {e2:.2e}");
    }
}

fn run_forward(case_name: &str) {
    let Some(set) = golden::open_or_fail() else {
        return;
    };
    if !set.has_case(case_name) {
        panic!("golden set lacks case {case_name}");
    }
    let case = set.case(case_name).unwrap();
    let tokens = case.get("inputs.text_tokens").to_dtype(DType::U32).unwrap();
    let rows = blocks_of(case.get("inputs.modality_positions"));
    let latents = case.f32("inputs.image_latents");
    let t = case.f32("inputs.t");
    for (fmt, model) in load_models(&set) {
        let mut trace = Vec::new();
        let out = model
            .forward(&tokens, &latents, &t, &rows, true, Some(&mut trace))
            .unwrap();
        let mut worst = (String::new(), 0f64);
        let mut note = |key: &str, got: &Tensor| {
            let e = check(&set, &case, key, got);
            if e > worst.1 {
                worst = (key.to_string(), e);
            }
        };
        note("outputs.logits", out.logits.as_ref().unwrap());
        note("outputs.v", &out.v);
        for (name, tensor) in &trace {
            let key = match name.as_str() {
                "pos_embed" => "intermediates.pos_embed_direct".to_string(),
                other => format!("intermediates.{other}"),
            };
            if case.tensors.contains_key(&key) {
                note(&key, tensor);
            }
        }
        // Every intermediate the golden case carries must have been compared.
        let traced: Vec<String> = trace.iter().map(|(n, _)| n.clone()).collect();
        for key in case
            .tensors
            .keys()
            .filter(|k| k.starts_with("intermediates."))
        {
            let name = key.trim_start_matches("intermediates.");
            let covered = traced.iter().any(|t| t == name)
                || (name == "pos_embed_direct" && traced.iter().any(|t| t == "pos_embed"))
                || name.starts_with("rope_inv_freq");
            assert!(
                covered,
                "{case_name}: intermediate {key} not produced by the port"
            );
        }
        if case.tensors.contains_key("intermediates.rope_inv_freq_llm") {
            let inv =
                Tensor::new(model.llm().rotary().inv_freq(), &candle_core::Device::Cpu).unwrap();
            note("intermediates.rope_inv_freq_llm", &inv);
            let inv = Tensor::new(
                model.flow_head().rotary().inv_freq(),
                &candle_core::Device::Cpu,
            )
            .unwrap();
            note("intermediates.rope_inv_freq_flow_head", &inv);
        }
        eprintln!("[{fmt}] {case_name}: worst {} = {:.2e}", worst.0, worst.1);
    }
}

#[test]
fn forward_t2i() {
    run_forward("forward_t2i");
}

#[test]
fn forward_t2i_rows() {
    run_forward("forward_t2i_rows");
}

/// The prefix-cached velocity (text K/V reused, tokens after the block dropped) equals the
/// full forward's.
#[test]
fn cached_velocity_equals_forward() {
    let Some(set) = golden::open_or_fail() else {
        return;
    };
    let case = set.case("forward_t2i_rows").unwrap();
    let tokens = case.get("inputs.text_tokens").to_dtype(DType::U32).unwrap();
    let rows = blocks_of(case.get("inputs.modality_positions"));
    let latents = case.f32("inputs.image_latents");
    let t = case.f32("inputs.t");
    let (_, model) = load_models(&set).remove(0);
    let prefixes: Vec<Vec<u32>> = rows
        .iter()
        .enumerate()
        .map(|(b, blocks)| {
            tokens
                .i((b, ..blocks[0].offset))
                .unwrap()
                .to_vec1::<u32>()
                .unwrap()
        })
        .collect();
    let prefix = model.prefill_generation(&prefixes).unwrap();
    let v = model.velocity(&prefix, &latents, &t).unwrap();
    check(&set, &case, "outputs.v", &v);
}

/// The official sampler: Euler on the shifted grid, CFG with the empty prompt batched, decoded
/// by the VAE is checked in golden_vae; here the trajectory and every model call.
#[test]
fn sampler_t2i() {
    use showo::pipeline::sampler::{cfg_combine, euler, time_grid};
    let Some(set) = golden::open_or_fail() else {
        return;
    };
    let case = set.case("sampler_t2i").unwrap();
    let tokens = case.get("inputs.text_tokens").to_dtype(DType::U32).unwrap();
    let rows = blocks_of(case.get("inputs.modality_positions"));
    let z = case.f32("inputs.z");
    let n_points = case.get("outputs.t_grid").dim(0).unwrap();
    let guidance = case.json["guidance_scale"]
        .as_f64()
        .expect("guidance_scale") as f32;
    let shift = set.manifest["time_shifting_factor"].as_f64().unwrap_or(3.0) as f32;
    let grid = time_grid(n_points, shift);
    check(
        &set,
        &case,
        "outputs.t_grid",
        &Tensor::new(grid.as_slice(), &candle_core::Device::Cpu).unwrap(),
    );
    for (fmt, model) in load_models(&set) {
        let prefixes: Vec<Vec<u32>> = rows
            .iter()
            .enumerate()
            .map(|(b, blocks)| {
                tokens
                    .i((b, ..blocks[0].offset))
                    .unwrap()
                    .to_vec1::<u32>()
                    .unwrap()
            })
            .collect();
        let prefix = model.prefill_generation(&prefixes).unwrap();
        let (mut xs, mut raw, mut guided, mut ts) = (vec![], vec![], vec![], vec![]);
        let mut traj = vec![z.clone()];
        let x0 = Tensor::cat(&[&z, &z], 0).unwrap();
        let out = euler(
            x0,
            &grid,
            |x, t| {
                let tt = Tensor::new(&[t, t], x.device())?;
                let v = model.velocity(&prefix, x, &tt)?;
                let g = cfg_combine(&v, guidance)?;
                xs.push(x.clone());
                raw.push(v);
                guided.push(g.clone());
                ts.push(t);
                Tensor::cat(&[&g, &g], 0)
            },
            |info| {
                traj.push(info.x_next.narrow(0, 0, 1)?);
                Ok(None)
            },
            || false,
        )
        .unwrap()
        .unwrap();
        check(
            &set,
            &case,
            "outputs.model_t",
            &Tensor::new(ts.as_slice(), &candle_core::Device::Cpu).unwrap(),
        );
        let e_in = check(
            &set,
            &case,
            "outputs.x_in_per_call",
            &Tensor::stack(&xs, 0).unwrap(),
        );
        let e_raw = check(
            &set,
            &case,
            "outputs.v_cond_uncond_per_call",
            &Tensor::stack(&raw, 0).unwrap(),
        );
        let e_g = check(
            &set,
            &case,
            "outputs.v_guided_per_call",
            &Tensor::stack(&guided, 0).unwrap(),
        );
        let traj2: Vec<Tensor> = traj
            .iter()
            .map(|x| Tensor::cat(&[x, x], 0).unwrap())
            .collect();
        let e_traj = check(
            &set,
            &case,
            "outputs.trajectory",
            &Tensor::stack(&traj2, 0).unwrap(),
        );
        let final_latent = out.narrow(0, 0, 1).unwrap();
        let e_fin = check(&set, &case, "outputs.final_latent", &final_latent);
        eprintln!(
            "[{fmt}] sampler_t2i: x_in {e_in:.2e}, v {e_raw:.2e}, guided {e_g:.2e}, trajectory {e_traj:.2e}, final {e_fin:.2e}"
        );
        // Decode as the official script: unsqueeze T = 1, de-normalise, decode, clamp, denorm.
        let vae = common::load_vae(&set);
        let z = final_latent.unsqueeze(2).unwrap();
        let px = vae.decode(&z).unwrap().squeeze(2).unwrap();
        let e_px = check(&set, &case, "outputs.decoded_pixels", &px);
        let raw = vae.decode_unclamped(&z).unwrap().squeeze(2).unwrap();
        check(&set, &case, "outputs.decoded_pixels_unclamped", &raw);
        let u8s = showo::model::vae::to_uint8_hwc(&px).unwrap();
        let e_u8 = check(&set, &case, "outputs.decoded_uint8", &u8s);
        eprintln!("[{fmt}] sampler_t2i decode: pixels {e_px:.2e}, uint8 max diff {e_u8}");
    }
}

/// Image understanding as `inference_mmu.py` lays it out, decoded greedily with the KV cache.
fn run_mmu(case_name: &str) {
    use showo::model::Piece;
    use showo::pipeline::decode::{DecodeOptions, Sampling, decode};
    let Some(set) = golden::open_or_fail() else {
        return;
    };
    let case = set.case(case_name).unwrap();
    let a = case
        .get("inputs.text_tokens_a")
        .to_dtype(DType::U32)
        .unwrap()
        .i(0)
        .unwrap()
        .to_vec1::<u32>()
        .unwrap();
    let b = case
        .get("inputs.text_tokens_b")
        .to_dtype(DType::U32)
        .unwrap()
        .i(0)
        .unwrap()
        .to_vec1::<u32>()
        .unwrap();
    let blocks = blocks_of(case.get("inputs.modality_positions")).remove(0);
    let want_ids = case
        .get("outputs.generated_ids")
        .to_dtype(DType::U32)
        .unwrap()
        .to_vec1::<u32>()
        .unwrap();
    let eos = case.json["special_token_ids"]["eos_id"]
        .as_u64()
        .map(|v| v as u32);
    for (fmt, model) in load_models(&set) {
        let mut trace = Vec::new();
        let img = model
            .image_tokens(&case.f32("inputs.mmu_latent"), Some(&mut trace))
            .unwrap();
        for (name, t) in &trace {
            let key = format!("intermediates.{name}");
            if case.tensors.contains_key(&key) {
                check(&set, &case, &key, t);
            }
        }
        check(&set, &case, "intermediates.fused_image_embeds", &img);
        let time = model.clean_time_token().unwrap();
        check(
            &set,
            &case,
            "intermediates.time_token",
            &time.unsqueeze(0).unwrap(),
        );
        let pieces = [
            Piece::Tokens(a.clone()),
            Piece::Tokens(b[..1].to_vec()),
            Piece::Embeds(time),
            Piece::Embeds(img.i(0).unwrap()),
            Piece::Tokens(b[1..].to_vec()),
        ];
        let embeds = model.assemble(&pieces).unwrap();
        check(&set, &case, "intermediates.input_embeds", &embeds);
        // First step: the logits of every prompt position.
        let mut cache = model.new_kv_cache();
        let full = model
            .llm_logits(&embeds, &blocks, &mut cache, true)
            .unwrap();
        let e_full = check(&set, &case, "outputs.first_step_logits_full", &full);
        let l = full.dim(0).unwrap();
        check(
            &set,
            &case,
            "outputs.first_step_logits_last",
            &full.i(l - 1).unwrap(),
        );
        // Greedy decoding through the KV cache.
        let opts = DecodeOptions {
            max_new_tokens: want_ids.len(),
            stop_ids: eos.into_iter().collect(),
            sampling: Sampling::default(),
        };
        let mut per_step = Vec::new();
        let out = decode(
            &model,
            &embeds,
            &blocks,
            &opts,
            |_, logits| {
                per_step.push(logits.clone());
                Ok(())
            },
            || false,
        )
        .unwrap();
        let e_steps = check(
            &set,
            &case,
            "outputs.logits_last_per_step",
            &Tensor::stack(&per_step, 0).unwrap(),
        );
        assert_eq!(out.ids, want_ids, "{case_name}: greedy ids");
        eprintln!(
            "[{fmt}] {case_name}: logits_full {e_full:.2e}, per-step {e_steps:.2e}, ids {:?} equal",
            out.ids
        );
    }
}

#[test]
fn mmu_greedy() {
    run_mmu("mmu_greedy");
}

#[test]
fn mmu_greedy_trainlayout() {
    run_mmu("mmu_greedy_trainlayout");
}

/// Video understanding (`inference_mmu_vid.py`): per-frame tokens resampled to 14x14, the
/// official 730-length block quirk, greedy decoding with the KV cache.
#[test]
fn forward_video_und() {
    use showo::model::Piece;
    use showo::pipeline::decode::{DecodeOptions, Sampling, decode};
    let Some(set) = golden::open_or_fail() else {
        return;
    };
    let case = set.case("forward_video_und").unwrap();
    let a = case
        .get("inputs.text_tokens_a")
        .to_dtype(DType::U32)
        .unwrap()
        .i(0)
        .unwrap()
        .to_vec1::<u32>()
        .unwrap();
    let b = case
        .get("inputs.text_tokens_b")
        .to_dtype(DType::U32)
        .unwrap()
        .i(0)
        .unwrap()
        .to_vec1::<u32>()
        .unwrap();
    let blocks = blocks_of(case.get("inputs.modality_positions")).remove(0);
    let want_ids = case
        .get("outputs.generated_ids")
        .to_dtype(DType::U32)
        .unwrap()
        .to_vec1::<u32>()
        .unwrap();
    let frames = case.f32("inputs.vid_latents");
    let n_frames = frames.dim(0).unwrap();
    let per_frame = case.get("intermediates.video_tokens_14x14").dim(1).unwrap() / n_frames;
    let grid = (per_frame as f64).sqrt() as usize;
    for (fmt, model) in load_models(&set) {
        let mut trace = Vec::new();
        let video = model.video_tokens(&frames, grid, Some(&mut trace)).unwrap();
        for (name, t) in &trace {
            let key = match name.as_str() {
                "und_trans" => "intermediates.per_frame_und_trans".to_string(),
                "fusion_proj" => "intermediates.per_frame_fused".to_string(),
                other => format!("intermediates.{other}"),
            };
            if case.tensors.contains_key(&key) {
                check(&set, &case, &key, t);
            }
        }
        check(&set, &case, "intermediates.video_tokens_14x14", &video);
        let time = model.clean_time_token().unwrap();
        let pieces = [
            Piece::Tokens(a.clone()),
            Piece::Tokens(b[..1].to_vec()),
            Piece::Embeds(time),
            Piece::Embeds(video.i(0).unwrap()),
            Piece::Tokens(b[1..].to_vec()),
        ];
        let embeds = model.assemble(&pieces).unwrap();
        check(&set, &case, "intermediates.input_embeds", &embeds);
        // The stored 0/1 mask must be what the blocks describe.
        let allowed = case
            .get("inputs.attention_mask_allowed")
            .to_dtype(DType::U8)
            .unwrap()
            .i((0, 0))
            .unwrap()
            .to_vec2::<u8>()
            .unwrap();
        for (i, row) in allowed.iter().enumerate() {
            for (j, &a) in row.iter().enumerate() {
                assert_eq!(
                    a == 1,
                    showo::model::mask::allowed(i, j, &blocks),
                    "mask ({i},{j})"
                );
            }
        }
        let opts = DecodeOptions {
            max_new_tokens: want_ids.len(),
            stop_ids: vec![],
            sampling: Sampling::default(),
        };
        let mut per_step = Vec::new();
        let out = decode(
            &model,
            &embeds,
            &blocks,
            &opts,
            |_, logits| {
                per_step.push(logits.clone());
                Ok(())
            },
            || false,
        )
        .unwrap();
        let e_last = check(&set, &case, "outputs.logits_last", &per_step[0]);
        let e_steps = check(
            &set,
            &case,
            "outputs.logits_last_per_step",
            &Tensor::stack(&per_step, 0).unwrap(),
        );
        assert_eq!(out.ids, want_ids, "video greedy ids");
        eprintln!("[{fmt}] forward_video_und: logits_last {e_last:.2e}, per-step {e_steps:.2e}");
    }
}
