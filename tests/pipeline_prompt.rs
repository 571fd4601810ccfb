//! The token layouts of `model::prompt` rebuild the golden cases' rows exactly, from nothing but
//! the prompt / question ids and special ids in each case's json.

use serde_json::Value;
use showo::golden;
use showo::model::Block;
use showo::model::prompt::{
    self, BlockStart, ChatTemplate, Turn, Visual, chat_layout, mmu_text_pieces, t2i_layout,
};
use showo::model::tokens::SpecialTokens;

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an id list, got {v}"))
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn special(json: &Value) -> SpecialTokens {
    let s = &json["special_token_ids"];
    let g = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("no {k}")) as u32;
    SpecialTokens {
        bos: g("bos_id"),
        eos: g("eos_id"),
        boi: g("boi_id"),
        eoi: g("eoi_id"),
        img_pad: g("img_pad_id"),
        vid_pad: g("vid_pad_id"),
        pad: g("pad_id"),
        img: g("img_id"),
        bov: g("bov_id"),
        eov: g("eov_id"),
    }
}

fn blocks(json: &Value) -> Vec<Vec<Block>> {
    json["modality_positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    Block::new(
                        p[0].as_u64().unwrap() as usize,
                        p[1].as_u64().unwrap() as usize,
                    )
                })
                .collect()
        })
        .collect()
}

fn rows(json: &Value) -> Vec<Vec<u32>> {
    json["text_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(ids)
        .collect()
}

#[test]
fn text_to_image_rows_match_prepare_gen_input() {
    let Some(set) = golden::open_or_fail() else {
        return;
    };
    for (name, prompt_key) in [
        ("forward_t2i", "prompt_ids"),
        ("forward_t2i_rows", "prompt_ids"),
        ("sampler_t2i", "prompt2_ids"),
    ] {
        let json = set.case(name).unwrap().json;
        let n = json["geometry"]["n_image_tokens"].as_u64().unwrap() as usize;
        let max_seq = json["max_seq_len"].as_u64().unwrap() as usize;
        let max_text = prompt::max_text_len(max_seq, n);
        if let Some(m) = json["max_text_len"].as_u64() {
            assert_eq!(max_text, m as usize, "{name}: max_text_len");
        }
        let layout = t2i_layout(&special(&json), &[ids(&json[prompt_key])], n, max_text);
        assert_eq!(layout.rows, rows(&json), "{name}: token rows");
        assert_eq!(layout.blocks, blocks(&json), "{name}: modality positions");
        assert!(!layout.truncated);
        // The cached prefixes are the rows up to the block.
        for (row, (prefix, b)) in layout
            .rows
            .iter()
            .zip(layout.prefixes.iter().zip(&layout.blocks))
        {
            assert_eq!(&row[..b[0].offset], prefix.as_slice());
        }
    }
}

/// The golden set's stand-ins for the tokenised chat pieces (see its README).
fn golden_template(json: &Value, special: &SpecialTokens, question: &[u32]) -> ChatTemplate {
    let a = ids(&json["text_tokens_a"]);
    let b = ids(&json["text_tokens_b"]);
    // a = [bos] system user; the user piece is the last 4 ids ("\n<|im_start|>user\n").
    let user = a[a.len() - 4..].to_vec();
    let system = a[1..a.len() - 4].to_vec();
    let assistant = b[2 + question.len()..].to_vec();
    assert_eq!(a[0], special.bos);
    ChatTemplate {
        system,
        user,
        assistant,
    }
}

#[test]
fn image_understanding_layouts_match_the_script_and_training() {
    let Some(set) = golden::open_or_fail() else {
        return;
    };
    for (name, start) in [
        ("mmu_greedy", BlockStart::Script),
        ("mmu_greedy_trainlayout", BlockStart::Training),
    ] {
        let json = set.case(name).unwrap().json;
        let sp = special(&json);
        let question = ids(&json["question_ids"]);
        let template = golden_template(&json, &sp, &question);
        let (a, b) = mmu_text_pieces(&sp, &template, &question);
        assert_eq!(a, ids(&json["text_tokens_a"]), "{name}: a");
        assert_eq!(b, ids(&json["text_tokens_b"]), "{name}: b");
        let n = json["geometry"]["n_image_tokens"].as_u64().unwrap() as usize;
        let turn = Turn {
            question,
            visual: Some(Visual::image(n)),
            answer: None,
        };
        let layout = chat_layout(&sp, &template, &[turn], start);
        let want: Vec<i64> = json["sequence_layout"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(layout.placeholder_ids(), want, "{name}: sequence");
        assert_eq!(layout.len(), json["seq_len"].as_u64().unwrap() as usize);
        assert_eq!(vec![layout.blocks.clone()], blocks(&json), "{name}: block");
    }
}

#[test]
fn video_layout_keeps_the_official_single_image_block() {
    let Some(set) = golden::open_or_fail() else {
        return;
    };
    let json = set.case("forward_video_und").unwrap().json;
    let sp = special(&json);
    let question = ids(&json["vid_question_ids"]);
    let template = golden_template(&json, &sp, &question);
    let frames = json["num_frames"].as_u64().unwrap() as usize;
    let per_frame = json["tokens_per_frame_after_interp"].as_u64().unwrap() as usize;
    let n = json["geometry"]["n_image_tokens"].as_u64().unwrap() as usize;
    let turn = Turn {
        question: question.clone(),
        visual: Some(Visual::video_official(frames * per_frame, n)),
        answer: None,
    };
    let layout = chat_layout(&sp, &template, &[turn], BlockStart::Script);
    assert_eq!(layout.len(), json["seq_len"].as_u64().unwrap() as usize);
    assert_eq!(vec![layout.blocks.clone()], blocks(&json));
    // The text around the video is the image layout's a / b.
    let (a, b) = mmu_text_pieces(&sp, &template, &question);
    assert_eq!(a, ids(&json["text_tokens_a"]));
    assert_eq!(b, ids(&json["text_tokens_b"]));
    let seq = layout.placeholder_ids();
    let tail: Vec<i64> = b[1..].iter().map(|&i| i as i64).collect();
    assert_eq!(&seq[seq.len() - tail.len()..], tail.as_slice());
    // The whole-video option makes one block over every frame token.
    let whole = chat_layout(
        &sp,
        &template,
        &[Turn {
            question,
            visual: Some(Visual::video_whole(frames * per_frame)),
            answer: None,
        }],
        BlockStart::Training,
    );
    assert_eq!(
        whole.blocks,
        vec![Block::new(a.len() + 1, frames * per_frame + 1)]
    );
}
