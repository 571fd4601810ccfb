//! Image and video chat: a multi-turn conversation (the official understanding layout, repeated
//! per turn) with an image or a video attached to any turn, answered token by token through
//! the KV-cached decoder, streaming text as soon as it is complete.

use candle_core::Tensor;
use image::RgbImage;

use crate::media::SampledVideo;
use crate::model::Piece;
use crate::model::prompt::{self, BlockStart, ChatTemplate, Layout, Segment, Turn, Visual};

use super::decode::{DecodeOptions, Finish, Sampling, decode};
use super::{Pipeline, PipelineError, Result, bad_setting};

/// What is attached to a user turn.
#[derive(Debug, Clone)]
pub enum Attachment {
    Image(RgbImage),
    /// Sampled frames (with their indices and timestamps).
    Video(SampledVideo),
}

/// One turn of a conversation. `answer` is the assistant's reply for past turns; the last
/// message is the one answered (its `answer` is ignored).
#[derive(Debug, Clone)]
pub struct ChatMessage {
    pub question: String,
    pub attachment: Option<Attachment>,
    pub answer: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatOptions {
    pub max_new_tokens: usize,
    /// Greedy by default (the official top_k = 1); temperature / top-p otherwise.
    pub sampling: Sampling,
    /// Where image blocks start: the official demo script's layout by default.
    pub block_start: BlockStart,
    /// Make a whole video one bidirectional block instead of the official single-image block
    /// length (the "730" quirk, reproduced by default).
    pub video_whole_block: bool,
}

impl Default for ChatOptions {
    fn default() -> Self {
        Self {
            max_new_tokens: 300,
            sampling: Sampling::default(),
            block_start: BlockStart::Script,
            video_whole_block: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The answer without `<|im_end|>`.
    pub text: String,
    pub ids: Vec<u32>,
    pub finish: Finish,
}

impl Pipeline {
    /// The chat template's constant pieces, tokenised one by one as the official script does.
    pub fn chat_template(&self) -> Result<ChatTemplate> {
        Ok(ChatTemplate {
            system: self.tokenizer.encode(ChatTemplate::SYSTEM)?,
            user: self.tokenizer.encode(ChatTemplate::USER)?,
            assistant: self.tokenizer.encode(ChatTemplate::ASSISTANT)?,
        })
    }

    /// The prompt of a conversation: its layout and the visual embeddings of its attachments
    /// (in slot order).
    pub fn chat_prompt(
        &self,
        history: &[ChatMessage],
        opts: &ChatOptions,
    ) -> Result<(Layout, Vec<Tensor>)> {
        let (gh, gw) = self.config().native_grid();
        let single = gh * gw;
        let mut turns = Vec::with_capacity(history.len());
        let mut visuals = Vec::new();
        for msg in history {
            let visual = match &msg.attachment {
                None => None,
                Some(Attachment::Image(img)) => {
                    let e = self.image_embeddings(img)?;
                    let v = Visual::image(e.dim(0)?);
                    visuals.push(e);
                    Some(v)
                }
                Some(Attachment::Video(video)) => {
                    let frames: Vec<RgbImage> =
                        video.frames.iter().map(|f| f.image.clone()).collect();
                    let e = self.video_embeddings(&frames)?;
                    let n = e.dim(0)?;
                    visuals.push(e);
                    Some(if opts.video_whole_block {
                        Visual::video_whole(n)
                    } else {
                        Visual::video_official(n, single)
                    })
                }
            };
            turns.push(Turn {
                question: self.tokenizer.encode(&msg.question)?,
                visual,
                answer: match &msg.answer {
                    Some(a) => Some(self.tokenizer.encode(a)?),
                    None => None,
                },
            });
        }
        let template = self.chat_template()?;
        let special = *self.tokenizer.special();
        let layout = prompt::chat_layout(&special, &template, &turns, opts.block_start);
        Ok((layout, visuals))
    }

    /// Answers the last message of `history`; `on_text` receives the answer as it grows.
    pub fn ask(
        &self,
        history: &[ChatMessage],
        opts: &ChatOptions,
        on_text: &mut dyn FnMut(&str),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Answer> {
        let last = history
            .last()
            .ok_or_else(|| bad_setting("conversation", "no message", "at least one question"))?;
        if last.question.trim().is_empty() {
            return Err(PipelineError::EmptyQuestion);
        }
        if opts.max_new_tokens == 0 {
            return Err(bad_setting("max tokens", 0, "at least 1"));
        }
        let (layout, visuals) = self.chat_prompt(history, opts)?;
        let special = *self.tokenizer.special();
        let time = self.model.clean_time_token()?;
        let pieces: Vec<Piece> = layout
            .segments
            .iter()
            .map(|s| match s {
                Segment::Text(ids) => Piece::Tokens(ids.clone()),
                Segment::Time => Piece::Embeds(time.clone()),
                Segment::Visual { slot, .. } => Piece::Embeds(visuals[*slot].clone()),
            })
            .collect();
        let embeds: Tensor = self.model.assemble(&pieces)?;
        let dopts = DecodeOptions {
            max_new_tokens: opts.max_new_tokens,
            stop_ids: vec![special.eos],
            sampling: opts.sampling,
        };
        let mut stream = self.tokenizer.stream(true);
        let mut stream_error = None;
        let out = decode(
            &self.model,
            &embeds,
            &layout.blocks,
            &dopts,
            |id, _| {
                match stream.push(id) {
                    Ok(Some(piece)) => on_text(&piece),
                    Ok(None) => {}
                    Err(e) => stream_error = Some(e),
                }
                Ok(())
            },
            cancelled,
        )?;
        if let Some(e) = stream_error {
            return Err(e.into());
        }
        if let Some(rest) = stream.finish()? {
            on_text(&rest);
        }
        let ids: Vec<u32> = out
            .ids
            .iter()
            .copied()
            .filter(|&i| i != special.eos)
            .collect();
        Ok(Answer {
            text: self.tokenizer.decode(&ids, true)?,
            ids: out.ids,
            finish: out.finish,
        })
    }
}
