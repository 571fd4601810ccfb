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
