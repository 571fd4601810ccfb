//! Image and video chat through `Pipeline` on the small model: streaming, multi-turn history,
//! stop / length / cancellation, video loading and sampling, errors.

#[path = "support/small_model.rs"]
mod small_model;

use std::cell::Cell;

use showo::media::{self, GifFrame, GifRepeat};
use showo::pipeline::decode::{Finish, Sampling};
use showo::pipeline::{Attachment, ChatMessage, ChatOptions, PipelineError};
use small_model::{small_pipeline, test_picture};

fn question(text: &str, attachment: Option<Attachment>) -> ChatMessage {
    ChatMessage {
        question: text.into(),
        attachment,
        answer: None,
    }
}

#[test]
fn image_chat_streams_the_answer_and_is_deterministic() {
    let Some((pipe, _tmp)) = small_pipeline() else {
        return;
    };
    let img = test_picture(80, 64);
    let history = [question(
        "what colour is the square ?",
        Some(Attachment::Image(img)),
    )];
    let opts = ChatOptions {
        max_new_tokens: 6,
        ..Default::default()
    };
    let mut streamed = String::new();
    let mut pieces = 0;
    let answer = pipe
        .ask(
            &history,
            &opts,
            &mut |t| {
                streamed.push_str(t);
                pieces += 1;
            },
            &|| false,
        )
        .unwrap();
    assert!(!answer.ids.is_empty() && answer.ids.len() <= 6);
    assert_eq!(streamed, answer.text, "the stream adds up to the answer");
    assert!(pieces >= 1);
    match answer.finish {
        Finish::Length => assert_eq!(answer.ids.len(), 6),
        Finish::Stop => assert_eq!(*answer.ids.last().unwrap(), pipe.tokenizer.special().eos),
        Finish::Cancelled => panic!("not cancelled"),
    }
    let again = pipe.ask(&history, &opts, &mut |_| {}, &|| false).unwrap();
    assert_eq!(again, answer, "greedy decoding is deterministic");

    // Sampling with a temperature is seeded.
    let sampled = ChatOptions {
        sampling: Sampling {
            temperature: 0.9,
            top_p: 0.9,
            seed: 5,
        },
        ..opts.clone()
    };
    let s1 = pipe
        .ask(&history, &sampled, &mut |_| {}, &|| false)
        .unwrap();
    let s2 = pipe
        .ask(&history, &sampled, &mut |_| {}, &|| false)
        .unwrap();
    assert_eq!(s1, s2);
}

#[test]
fn follow_up_questions_see_the_history() {
    let Some((pipe, _tmp)) = small_pipeline() else {
        return;
    };
    let img = test_picture(64, 64);
    let opts = ChatOptions {
        max_new_tokens: 4,
        ..Default::default()
    };
    let first = question("what is it ?", Some(Attachment::Image(img)));
    let a1 = pipe
        .ask(std::slice::from_ref(&first), &opts, &mut |_| {}, &|| false)
        .unwrap();
    let history = [
        ChatMessage {
            answer: Some(a1.text.clone()),
            ..first
        },
        question("what colour is it ?", None),
    ];
    let a2 = pipe.ask(&history, &opts, &mut |_| {}, &|| false).unwrap();
    assert!(!a2.ids.is_empty());
    // The second prompt carries the first answer, closed by <|im_end|>, then the new question.
    let (layout, visuals) = pipe.chat_prompt(&history, &opts).unwrap();
    assert_eq!(visuals.len(), 1, "the image of the first turn");
    let seq = layout.placeholder_ids();
    let eos = pipe.tokenizer.special().eos as i64;
    let mut expected: Vec<i64> = pipe
        .tokenizer
        .encode(&a1.text)
        .unwrap()
        .into_iter()
        .map(i64::from)
        .collect();
    expected.push(eos);
    let q2: Vec<i64> = pipe
        .tokenizer
        .encode("what colour is it ?")
        .unwrap()
        .into_iter()
        .map(i64::from)
        .collect();
    let find = |needle: &[i64]| seq.windows(needle.len()).position(|w| w == needle);
    let at_answer = find(&expected).expect("first answer in the prompt");
    let at_q2 = find(&q2).expect("second question in the prompt");
    assert!(at_answer < at_q2);
    assert_eq!(layout.blocks.len(), 1);
}

#[test]
fn cancellation_and_bad_questions() {
    let Some((pipe, _tmp)) = small_pipeline() else {
        return;
    };
    let opts = ChatOptions {
        max_new_tokens: 50,
        ..Default::default()
    };
    let tokens = Cell::new(0);
    let answer = pipe
        .ask(
            &[question("what is it ?", None)],
            &opts,
            &mut |_| tokens.set(tokens.get() + 1),
            &|| tokens.get() >= 2,
        )
        .unwrap();
    assert_eq!(answer.finish, Finish::Cancelled);
    assert!(
        answer.ids.len() <= 3,
        "stopped within one token: {:?}",
        answer.ids
    );
    let err = pipe
        .ask(&[question("  ", None)], &opts, &mut |_| {}, &|| false)
        .unwrap_err();
    assert!(matches!(err, PipelineError::EmptyQuestion));
    let err = pipe.ask(&[], &opts, &mut |_| {}, &|| false).unwrap_err();
    assert!(err.to_string().contains("conversation"), "{err}");
    let err = pipe
        .ask(
            &[question(
                "what ?",
                Some(Attachment::Image(image::RgbImage::new(0, 3))),
            )],
            &opts,
            &mut |_| {},
            &|| false,
        )
        .unwrap_err();
    assert!(err.to_string().contains("0x3"), "{err}");
}

#[test]
fn video_chat_from_a_gif_and_a_frame_folder() {
    let Some((pipe, _tmp)) = small_pipeline() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // 7 frames of a square moving right, 100 ms each.
    let frames: Vec<image::RgbImage> = (0..7)
        .map(|i| {
            image::RgbImage::from_fn(64, 48, |x, y| {
                if x >= i * 8 && x < i * 8 + 12 && (18..30).contains(&y) {
                    image::Rgb([240, 20, 20])
                } else {
                    image::Rgb([20, 20, 200])
                }
            })
        })
        .collect();
    let gif = tmp.path().join("clip.gif");
    let gif_frames: Vec<GifFrame> = frames.iter().map(|f| GifFrame::from_rgb(f, 100)).collect();
    media::save_gif(&gif, &gif_frames, GifRepeat::Forever).unwrap();
    let video = pipe.load_video(&gif, Some(3)).unwrap();
    assert_eq!(video.total_frames, 7);
    let idx: Vec<usize> = video.frames.iter().map(|f| f.index).collect();
    assert_eq!(idx, vec![0, 3, 6], "np.linspace(0, 6, 3)");
    let ts: Vec<f64> = video
        .frames
        .iter()
        .map(|f| f.timestamp_s.unwrap())
        .collect();
    assert!(
        (ts[1] - 0.3).abs() < 1e-6 && (ts[2] - 0.6).abs() < 1e-6,
        "{ts:?}"
    );
    assert_eq!(video.frames[1].image, frames[3]);

    let folder = tmp.path().join("frames");
    std::fs::create_dir(&folder).unwrap();
    for (i, f) in frames.iter().enumerate() {
        media::save_rgb(&folder.join(format!("frame_{i:03}.png")), f).unwrap();
    }
    let from_folder = pipe.load_video(&folder, Some(3)).unwrap();
    assert_eq!(
        from_folder
            .frames
            .iter()
            .map(|f| f.index)
            .collect::<Vec<_>>(),
        idx
    );
    assert_eq!(from_folder.frames[2].image, frames[6]);

    // The embeddings: 14 x 14 tokens per frame (the official grid).
    let e = pipe.video_embeddings(&frames[..3]).unwrap();
    assert_eq!(e.dim(0).unwrap(), 3 * pipe.settings.video_grid.pow(2));

    let opts = ChatOptions {
        max_new_tokens: 3,
        ..Default::default()
    };
    let ask = |o: &ChatOptions| {
        pipe.ask(
            &[question(
                "what is it ?",
                Some(Attachment::Video(video.clone())),
            )],
            o,
            &mut |_| {},
            &|| false,
        )
        .unwrap()
    };
    let official = ask(&opts);
    assert!(!official.ids.is_empty());
    let whole = ask(&ChatOptions {
        video_whole_block: true,
        ..opts.clone()
    });
    assert!(!whole.ids.is_empty());

    // A truncated video file is refused with its name.
    let broken = tmp.path().join("broken.gif");
    let bytes = std::fs::read(&gif).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() / 3]).unwrap();
    let err = pipe.load_video(&broken, Some(3)).unwrap_err().to_string();
    assert!(err.contains("broken.gif"), "{err}");
}
