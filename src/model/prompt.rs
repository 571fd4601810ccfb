//! Token layouts of Show-o2's prompts (ids and block positions only, no tensors).
//!
//! - Text-to-image (`models/misc.py::prepare_gen_input`): the conditional row
//!   `[bos] prompt [boi] [img_pad]*(n+1) [eoi] [eos] [pad]*(max_text_len - len(prompt))`, whose
//!   block (time token + n image tokens) starts at `len(prompt) + 2`, then the unconditional row
//!   with the empty prompt. No chat template, no system prompt; prompts longer than
//!   `max_text_len` are cut, as the official code does (the pipeline rejects them first).
//! - Understanding (`inference_mmu.py`): `a = [bos] system user_role`, `b = [boi, eoi] question
//!   assistant_role`, embedded as `a, b[:1], time, image, b[1:]`. The script's bidirectional block
//!   starts one past the time token (offset `len(a)+2`, so it also covers `<|vision_end|>`); the
//!   training layout starts at the time token (`len(a)+1`). Both have length n+1.
//! - Video (`inference_mmu_vid.py`): the image layout with F*g*g frame tokens, and the script
//!   keeps the *single-image* block length (730 on the real model), so only the first 730
//!   positions after the offset are bidirectional and the other video tokens are causal. That is
//!   the official behaviour and our default ([`Visual::video_official`]);
//!   [`Visual::video_whole`] makes the whole video one block.
//! - Multi-turn chat: the same pieces repeated per turn, an answer closed by `<|im_end|>`;
//!   a single turn is exactly the official layout.

use super::mask::Block;
use super::tokens::SpecialTokens;

/// One generation batch: conditional rows, then unconditional rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenLayout {
    /// Full padded rows, as the official forward sees them.
    pub rows: Vec<Vec<u32>>,
    /// The image block of each row (offset = the time token).
    pub blocks: Vec<Vec<Block>>,
    /// `[bos] prompt [boi]` of each row: what `Showo2::prefill_generation` caches.
    pub prefixes: Vec<Vec<u32>>,
    /// Whether some prompt was cut to `max_text_len`.
    pub truncated: bool,
}

/// The official `max_text_len` for a sequence of `max_seq_len` and `n_image_tokens` tokens.
pub fn max_text_len(max_seq_len: usize, n_image_tokens: usize) -> usize {
    max_seq_len.saturating_sub(n_image_tokens + 1 + 4)
}

/// The start of a text-to-image row up to its image block: BOS, the prompt (cut to
/// `max_text_len`), `<|vision_start|>`. It is what a generation prefix cache holds, and it does
/// not depend on the image's size.
pub fn t2i_prefix(special: &SpecialTokens, prompt: &[u32], max_text_len: usize) -> Vec<u32> {
    let prompt = &prompt[..prompt.len().min(max_text_len)];
    let mut prefix = Vec::with_capacity(prompt.len() + 2);
    prefix.push(special.bos);
    prefix.extend_from_slice(prompt);
    prefix.push(special.boi);
    prefix
}

/// One text-to-image row for `prompt` (already tokenised, no special tokens).
pub fn t2i_row(
    special: &SpecialTokens,
    prompt: &[u32],
    n_image_tokens: usize,
    max_text_len: usize,
) -> (Vec<u32>, Block, bool) {
    let (truncated, kept) = (prompt.len() > max_text_len, prompt.len().min(max_text_len));
    let mut row = t2i_prefix(special, prompt, max_text_len);
    let block = Block::new(row.len(), n_image_tokens + 1);
    row.extend(std::iter::repeat_n(special.img_pad, n_image_tokens + 1));
    row.push(special.eoi);
    row.push(special.eos);
    row.extend(std::iter::repeat_n(special.pad, max_text_len - kept));
    (row, block, truncated)
}

/// The CFG batch for `prompts`: their rows, then as many empty-prompt rows (the official
/// unconditional rows).
pub fn t2i_layout(
    special: &SpecialTokens,
    prompts: &[Vec<u32>],
    n_image_tokens: usize,
    max_text_len: usize,
) -> GenLayout {
    let empty: Vec<Vec<u32>> = prompts.iter().map(|_| Vec::new()).collect();
    t2i_layout_against(special, prompts, &empty, n_image_tokens, max_text_len)
}

/// The CFG batch with chosen unconditional rows: `prompts`, then `against` (one per prompt; an
/// empty one is the official empty prompt, a non-empty one a negative prompt that guidance
/// steers away from).
pub fn t2i_layout_against(
    special: &SpecialTokens,
    prompts: &[Vec<u32>],
    against: &[Vec<u32>],
    n_image_tokens: usize,
    max_text_len: usize,
) -> GenLayout {
    debug_assert_eq!(prompts.len(), against.len());
    let mut out = GenLayout {
        rows: Vec::new(),
        blocks: Vec::new(),
        prefixes: Vec::new(),
        truncated: false,
    };
    for prompt in prompts.iter().chain(against) {
        let (row, block, truncated) = t2i_row(special, prompt, n_image_tokens, max_text_len);
        out.prefixes.push(row[..block.offset].to_vec());
        out.rows.push(row);
        out.blocks.push(vec![block]);
        out.truncated |= truncated;
    }
    out
}

/// Where an understanding block starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlockStart {
    /// `inference_mmu.py`: one past the time token (the official demo's layout).
    #[default]
    Script,
    /// `datasets/mmu_dataset.py`: at the time token.
    Training,
}

/// The constant chat pieces, tokenised (each on its own, as the official script does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTemplate {
    /// `"system\nYou are a helpful assistant.<|im_end|>"`.
    pub system: Vec<u32>,
    /// `"\n<|im_start|>user\n"`.
    pub user: Vec<u32>,
    /// `"\n<|im_start|>assistant\n"`.
    pub assistant: Vec<u32>,
}

impl ChatTemplate {
    pub const SYSTEM: &'static str = "system\nYou are a helpful assistant.<|im_end|>";
    pub const USER: &'static str = "\n<|im_start|>user\n";
    pub const ASSISTANT: &'static str = "\n<|im_start|>assistant\n";
}

/// Visual tokens attached to a turn: `tokens` embeddings after one time token, and the length
/// of the bidirectional block over them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visual {
    pub tokens: usize,
    pub block_len: usize,
}

impl Visual {
    /// One image of `n` tokens: a block of n + 1.
    pub fn image(n: usize) -> Self {
        Self {
            tokens: n,
            block_len: n + 1,
        }
    }

    /// A video of `total` frame tokens with the official block length (one image's
    /// `single_image_tokens` + 1; 730 on the real model).
    pub fn video_official(total: usize, single_image_tokens: usize) -> Self {
        Self {
            tokens: total,
            block_len: single_image_tokens + 1,
        }
    }

    /// A video whose tokens are all one bidirectional block.
    pub fn video_whole(total: usize) -> Self {
        Self {
            tokens: total,
            block_len: total + 1,
        }
    }
}

/// One chat turn: the user's question (with an optional image or video placed before it, as the
/// official script does) and, for past turns, the assistant's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub question: Vec<u32>,
    pub visual: Option<Visual>,
    /// The answer's ids; `<|im_end|>` is appended when missing. `None` for the turn to answer.
    pub answer: Option<Vec<u32>>,
}

/// A piece of an understanding sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Text(Vec<u32>),
    /// The clean-image time token (t = 1).
    Time,
    /// `len` visual embeddings of the `slot`-th visual (in turn order).
    Visual {
        slot: usize,
        len: usize,
    },
}

impl Segment {
    pub fn len(&self) -> usize {
        match self {
            Segment::Text(t) => t.len(),
            Segment::Time => 1,
            Segment::Visual { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An understanding sequence: its pieces and its bidirectional blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub segments: Vec<Segment>,
    pub blocks: Vec<Block>,
}

impl Layout {
    pub fn len(&self) -> usize {
        self.segments.iter().map(Segment::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sequence with the golden files' placeholders: -1 = time token, -2 = visual token.
    pub fn placeholder_ids(&self) -> Vec<i64> {
        let mut out = Vec::with_capacity(self.len());
        for s in &self.segments {
            match s {
                Segment::Text(t) => out.extend(t.iter().map(|&i| i as i64)),
                Segment::Time => out.push(-1),
                Segment::Visual { len, .. } => out.extend(std::iter::repeat_n(-2, *len)),
            }
        }
        out
    }
}

/// The official single-turn understanding pieces `a` and `b` (see the module docs).
pub fn mmu_text_pieces(
    special: &SpecialTokens,
    template: &ChatTemplate,
    question: &[u32],
) -> (Vec<u32>, Vec<u32>) {
    let mut a = vec![special.bos];
    a.extend_from_slice(&template.system);
    a.extend_from_slice(&template.user);
    let mut b = vec![special.boi, special.eoi];
    b.extend_from_slice(question);
    b.extend_from_slice(&template.assistant);
    (a, b)
}

/// A multi-turn conversation; the last turn is the one to answer (its `answer` is ignored).
pub fn chat_layout(
    special: &SpecialTokens,
    template: &ChatTemplate,
    turns: &[Turn],
    start: BlockStart,
) -> Layout {
    let mut segments: Vec<Segment> = Vec::new();
    let mut blocks = Vec::new();
    let mut pos = 0usize;
    let mut slot = 0usize;
    let push = |segments: &mut Vec<Segment>, s: Segment, pos: &mut usize| {
        *pos += s.len();
        match (segments.last_mut(), s) {
            (Some(Segment::Text(prev)), Segment::Text(t)) => prev.extend(t),
            (_, s) => segments.push(s),
        }
    };
    let mut head = vec![special.bos];
    head.extend_from_slice(&template.system);
    push(&mut segments, Segment::Text(head), &mut pos);
    for (i, turn) in turns.iter().enumerate() {
        push(
            &mut segments,
            Segment::Text(template.user.clone()),
            &mut pos,
        );
        if let Some(v) = turn.visual {
            push(&mut segments, Segment::Text(vec![special.boi]), &mut pos);
            let time_at = pos;
            push(&mut segments, Segment::Time, &mut pos);
            push(
                &mut segments,
                Segment::Visual {
                    slot,
                    len: v.tokens,
                },
                &mut pos,
            );
            slot += 1;
            let offset = match start {
                BlockStart::Script => time_at + 1,
                BlockStart::Training => time_at,
            };
            blocks.push(Block::new(offset, v.block_len));
            push(&mut segments, Segment::Text(vec![special.eoi]), &mut pos);
        }
        let mut text = turn.question.clone();
        text.extend_from_slice(&template.assistant);
        if i + 1 < turns.len() {
            let mut answer = turn.answer.clone().unwrap_or_default();
            if answer.last() != Some(&special.eos) {
                answer.push(special.eos);
            }
            text.extend(answer);
        }
        push(&mut segments, Segment::Text(text), &mut pos);
    }
    Layout { segments, blocks }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> SpecialTokens {
        SpecialTokens {
            bos: 285,
            eos: 286,
            boi: 293,
            eoi: 294,
            img_pad: 296,
            vid_pad: 297,
            pad: 306,
            img: 307,
            bov: 308,
            eov: 309,
        }
    }

    #[test]
    fn t2i_rows_truncate_and_pad_to_a_fixed_length() {
        let (row, block, cut) = t2i_row(&ids(), &[1, 2, 3], 4, 5);
        assert_eq!(
            row,
            vec![
                285, 1, 2, 3, 293, 296, 296, 296, 296, 296, 294, 286, 306, 306
            ]
        );
        assert_eq!(block, Block::new(5, 5));
        assert!(!cut);
        let (long, _, cut) = t2i_row(&ids(), &[1; 9], 4, 5);
        assert!(cut);
        assert_eq!(long.len(), row.len());
    }

    #[test]
    fn second_turn_sees_the_first_answer_closed_by_eos() {
        let t = ChatTemplate {
            system: vec![1],
            user: vec![2],
            assistant: vec![3],
        };
        let turns = [
            Turn {
                question: vec![10],
                visual: Some(Visual::image(4)),
                answer: Some(vec![20, 21]),
            },
            Turn {
                question: vec![11],
                visual: None,
                answer: None,
            },
        ];
        let l = chat_layout(&ids(), &t, &turns, BlockStart::Script);
        assert_eq!(
            l.placeholder_ids(),
            vec![
                285, 1, 2, 293, -1, -2, -2, -2, -2, 294, 10, 3, 20, 21, 286, 2, 11, 3
            ]
        );
        assert_eq!(l.blocks, vec![Block::new(5, 5)]);
        let l = chat_layout(&ids(), &t, &turns, BlockStart::Training);
        assert_eq!(l.blocks, vec![Block::new(4, 5)]);
    }
}
