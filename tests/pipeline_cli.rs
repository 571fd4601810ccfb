//! The command-line tools end to end on the small model: generate (PNG + preview GIF), recall,
//! inpaint, extend, ask, and the errors a user sees for bad inputs.

#[path = "support/small_model.rs"]
mod small_model;

use std::path::Path;
use std::process::{Command, Output};

use image::AnimationDecoder;
use showo::golden;
use showo::media;

fn studio(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_showo-studio"))
        .args(args)
        .output()
        .expect("run showo-studio")
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn failure(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn generate_recall_edit_and_ask_from_the_command_line() {
    let Some(set) = golden::open_or_fail() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let model = small_model::checkpoint_dir(&set, tmp.path());
    let m = p(&model);
    let png = tmp.path().join("gen.png");
    let gif = tmp.path().join("gen.gif");
    let common = ["--model", m, "--steps", "3", "--seed", "12"];

    let mut args = vec!["generate", "--prompt", "a red circle on the left"];
    args.extend(common);
    args.extend(["--out", p(&png), "--preview-gif", p(&gif)]);
    let stdout = ok(&studio(&args));
    assert!(stdout.contains("seed 12"), "{stdout}");
    let params = media::read_png_metadata(&png).unwrap();
    assert_eq!(params.prompt, "a red circle on the left");
    assert_eq!((params.seed, params.steps), (12, 3));
    let frames = image::codecs::gif::GifDecoder::new(std::io::BufReader::new(
        std::fs::File::open(&gif).unwrap(),
    ))
    .unwrap()
    .into_frames()
    .collect_frames()
    .unwrap();
    assert_eq!(frames.len(), 4, "3 step previews + the result");

    // recall prints the settings and regenerates the same pixels.
    let again = tmp.path().join("again.png");
    let stdout = ok(&studio(&[
        "recall",
        p(&png),
        "--run",
        "--model",
        m,
        "--out",
        p(&again),
    ]));
    assert!(
        stdout.contains("a red circle on the left") && stdout.contains("Seed: 12"),
        "{stdout}"
    );
    assert_eq!(
        media::load_rgb(&again).unwrap(),
        media::load_rgb(&png).unwrap()
    );

    // inpaint: a mask of another size is refused, naming both sizes.
    let mask = tmp.path().join("mask.png");
    media::save_rgb(
        &mask,
        &image::RgbImage::from_pixel(32, 32, image::Rgb([255; 3])),
    )
    .unwrap();
    let mut args = vec![
        "inpaint",
        "--prompt",
        "a blue square",
        "--image",
        p(&png),
        "--mask",
        p(&mask),
    ];
    args.extend(common);
    let err = failure(&studio(&args));
    assert!(err.contains("32x32") && err.contains("64x64"), "{err}");
    let good_mask = tmp.path().join("mask64.png");
    media::save_rgb(
        &good_mask,
        &image::RgbImage::from_fn(64, 64, |x, _| image::Rgb([if x < 32 { 255 } else { 0 }; 3])),
    )
    .unwrap();
    let inpainted = tmp.path().join("inpainted.png");
    let mut args = vec![
        "inpaint",
        "--prompt",
        "a blue square",
        "--image",
        p(&png),
        "--mask",
        p(&good_mask),
    ];
    args.extend(common);
    args.extend(["--out", p(&inpainted)]);
    ok(&studio(&args));
    let (src, out) = (
        media::load_rgb(&png).unwrap(),
        media::load_rgb(&inpainted).unwrap(),
    );
    for x in 48..64 {
        for y in 0..64 {
            assert_eq!(
                src.get_pixel(x, y),
                out.get_pixel(x, y),
                "kept pixel ({x},{y})"
            );
        }
    }

    // extend: the original sits at its new offset.
    let extended = tmp.path().join("extended.png");
    let mut args = vec![
        "extend",
        "--prompt",
        "a sky",
        "--image",
        p(&png),
        "--left",
        "10",
        "--top",
        "16",
    ];
    args.extend(common);
    args.extend(["--out", p(&extended)]);
    ok(&studio(&args));
    let ext = media::load_rgb(&extended).unwrap();
    assert_eq!(ext.dimensions(), (80, 80));
    assert_eq!(*ext.get_pixel(16, 16), *src.get_pixel(0, 0));
    assert_eq!(*ext.get_pixel(79, 79), *src.get_pixel(63, 63));

    // ask streams an answer; an empty question and a corrupt image are named.
    let stdout = ok(&studio(&[
        "ask",
        "--model",
        m,
        "--image",
        p(&png),
        "what colour is it ?",
        "--max-tokens",
        "3",
    ]));
    assert!(!stdout.trim().is_empty());
    let err = failure(&studio(&["ask", "--model", m, "--image", p(&png), " "]));
    assert!(err.contains("question is empty"), "{err}");
    let broken = tmp.path().join("broken.png");
    std::fs::write(&broken, &std::fs::read(&png).unwrap()[..100]).unwrap();
    let err = failure(&studio(&[
        "ask",
        "--model",
        m,
        "--image",
        p(&broken),
        "what ?",
    ]));
    assert!(err.contains("broken.png"), "{err}");
    let err = failure(&studio(&["recall", p(&broken)]));
    assert!(err.contains("broken.png"), "{err}");

    // A bad prompt or model folder.
    let mut args = vec!["generate", "--prompt", ""];
    args.extend(common);
    let err = failure(&studio(&args));
    assert!(err.contains("prompt is empty"), "{err}");
    let err = failure(&studio(&[
        "generate",
        "--prompt",
        "a",
        "--model",
        p(tmp.path()),
    ]));
    assert!(err.contains("config.json"), "{err}");
}
