//! `showo-studio ask --image PIC.png "what is in the picture?"` or `--video CLIP.mp4|clip.gif|
//! frames/`: the answer streams to stdout as it is generated (greedy by default).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use showo::media;
use showo::model::prompt::BlockStart;
use showo::pipeline::decode::Sampling;
use showo::pipeline::export;
use showo::pipeline::{Attachment, ChatMessage, ChatOptions};

use super::common::ModelArgs;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LayoutArg {
    /// The official demo script's block offset.
    Script,
    /// The training data's block offset.
    Training,
}

#[derive(Args, Debug)]
pub struct AskArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The question.
    pub question: String,
    #[arg(long, conflicts_with = "video")]
    pub image: Option<PathBuf>,
    /// An MP4 (H.264), an animated GIF or a folder of frames.
    #[arg(long)]
    pub video: Option<PathBuf>,
    /// Frames sampled uniformly from the video (default: the model's, 32 for the real ones).
    #[arg(long)]
    pub frames: Option<usize>,
    /// Write the sampled frames as a GIF (to check what the model saw).
    #[arg(long)]
    pub frames_gif: Option<PathBuf>,
    #[arg(long, default_value_t = 300)]
    pub max_tokens: usize,
    /// 0 = greedy (the official decoding).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = LayoutArg::Script)]
    pub layout: LayoutArg,
    /// One bidirectional block over the whole video (the official code covers only one image's
    /// worth of video tokens).
    #[arg(long)]
    pub video_whole_block: bool,
}

pub fn run(args: AskArgs) -> Result<()> {
    if args.question.trim().is_empty() {
        bail!("the question is empty; type what you want to know");
    }
    let image = args.image.as_deref().map(media::load_rgb).transpose()?;
    let pipe = args.model.load()?;
    let attachment = match (image, &args.video) {
        (Some(img), _) => Some(Attachment::Image(img)),
        (None, Some(path)) => {
            let video = pipe.load_video(path, args.frames)?;
            let stamps: Vec<String> = video
                .frames
                .iter()
                .map(|f| match f.timestamp_s {
                    Some(t) => format!("#{} @{t:.2}s", f.index),
                    None => format!("#{}", f.index),
                })
                .collect();
            eprintln!(
                "{} of {} frames: {}",
                video.frames.len(),
                video.total_frames,
                stamps.join(", ")
            );
            if let Some(gif) = &args.frames_gif {
                let frames = export::video_frames(&video);
                media::save_gif(gif, &frames, media::GifRepeat::Forever)?;
            }
            Some(Attachment::Video(video))
        }
        (None, None) => None,
    };
    let opts = ChatOptions {
        max_new_tokens: args.max_tokens,
        sampling: Sampling {
            temperature: args.temperature,
            top_p: args.top_p,
            seed: args.seed,
        },
        block_start: match args.layout {
            LayoutArg::Script => BlockStart::Script,
            LayoutArg::Training => BlockStart::Training,
        },
        video_whole_block: args.video_whole_block,
    };
    let history = [ChatMessage {
        question: args.question.clone(),
        attachment,
        answer: None,
    }];
    let mut stdout = std::io::stdout();
    let answer = pipe.ask(
        &history,
        &opts,
        &mut |piece| {
            let _ = stdout.write_all(piece.as_bytes());
            let _ = stdout.flush();
        },
        &|| false,
    )?;
    println!();
    eprintln!("({} tokens, {:?})", answer.ids.len(), answer.finish);
    Ok(())
}
