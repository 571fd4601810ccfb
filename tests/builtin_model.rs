//! The shipped built-in model loads through the same path as released checkpoints and runs
//! every job kind end to end (its quality is measured by `eval-tiny`, see the README).

use candle_core::{DType, Device};
use showo::pipeline::Pipeline;
use showo::pipeline::chat::{Attachment, ChatMessage, ChatOptions};
use showo::pipeline::generate::{Control, GenerateRequest};

#[test]
fn builtin_model_generates_and_answers() {
    let dir = showo::assets::builtin_model_dir().expect("assets/tiny is part of the repository");
    let p = Pipeline::load(&dir, &Device::Cpu, DType::F32).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.native_size(), (64, 64));
    let req = GenerateRequest {
        prompt: "a red circle on the left".into(),
        seed: 3,
        steps: 6,
        ..Default::default()
    };
    let a = Control::none(|ctl| p.generate(&req, ctl)).unwrap().image;
    let b = Control::none(|ctl| p.generate(&req, ctl)).unwrap().image;
    assert_eq!(a.dimensions(), (64, 64));
    assert_eq!(a.as_raw(), b.as_raw(), "same seed, same pixels");
    let first = a.get_pixel(0, 0);
    assert!(a.pixels().any(|px| px != first), "a uniform picture");
    let msg = ChatMessage {
        question: "what colour is the circle?".into(),
        attachment: Some(Attachment::Image(a)),
        answer: None,
    };
    let answer = p
        .ask(
            &[msg],
            &ChatOptions {
                max_new_tokens: 6,
                ..Default::default()
            },
            &mut |_| {},
            &|| false,
        )
        .unwrap();
    assert!(!answer.ids.is_empty(), "no tokens decoded");
}
