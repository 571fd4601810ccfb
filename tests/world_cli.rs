//! `showo-studio world` writes what it says: pictures, clips, JSONL and a loadable tokenizer.

use std::process::Command;

#[test]
fn world_command_dumps_inspectable_samples() {
    let out = std::env::temp_dir().join(format!("showo-world-cli-{}", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_showo-studio"))
        .args(["world", "--out"])
        .arg(&out)
        .args([
            "--count",
            "3",
            "--clips",
            "2",
            "--resolution",
            "32",
            "--split",
            "held-out",
        ])
        .status()
        .expect("run showo-studio world");
    assert!(status.success());

    let picture = image::open(out.join("images/00002.png")).unwrap().to_rgb8();
    assert_eq!(picture.dimensions(), (32, 32));
    let strip = image::open(out.join("clips/00001_frames.png")).unwrap();
    assert_eq!(strip.height(), 32);
    assert_eq!(strip.width(), 9 * 33 - 1);

    let lines = std::fs::read_to_string(out.join("images.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    for row in &rows {
        assert!(row["seed"].as_u64().unwrap() >= 1 << 40, "held-out seeds");
        assert!(!row["caption"].as_str().unwrap().is_empty());
        assert!(row["questions"].as_array().unwrap().len() >= 5);
    }
    let clips = std::fs::read_to_string(out.join("clips.jsonl")).unwrap();
    assert_eq!(clips.lines().count(), 2);

    let tokenizer = tokenizers::Tokenizer::from_file(out.join("tokenizer.json")).unwrap();
    assert!(tokenizer.token_to_id("<|im_start|>").is_some());
    std::fs::remove_dir_all(&out).unwrap();
}
