//! The models panel's memory estimate against the measured peak RSS of a real CPU run
//! (`showo-studio bench memory`, one process per model so each peak is its own): the estimate
//! must err high, and by no more than half.

use std::process::Command;

/// (estimated bytes, measured bytes) from `bench memory`'s machine-readable line.
fn bench(model: &str) -> (u64, u64) {
    let out = Command::new(env!("CARGO_BIN_EXE_showo-studio"))
        .args(["bench", "memory", "--model", model])
        .output()
        .expect("running showo-studio bench memory");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench memory --model {model} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("memory-bench "))
        .expect("a memory-bench line");
    let field = |name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {line}"))
    };
    (field("estimate_bytes"), field("measured_bytes"))
}

fn check(model: &str) {
    let (estimate, measured) = bench(model);
    let ratio = estimate as f64 / measured as f64;
    eprintln!("{model}: estimate {estimate} B, measured {measured} B, ratio {ratio:.2}");
    assert!(
        (1.0..=1.5).contains(&ratio),
        "{model}: estimate {estimate} B vs measured peak {measured} B (ratio {ratio:.2}, want 1.0..1.5)"
    );
}

#[test]
fn tiny_model_estimate_covers_its_measured_peak() {
    check("tiny");
}

/// 2.8 B random parameters in f32: needs ~12 GB of RAM. Runs wherever that is available (and
/// always under CI=true, where too little RAM is a failure, not a skip).
#[test]
fn showo2_1_5b_shape_estimate_covers_its_measured_peak() {
    let available = showo::hub::memory::system_available_ram().unwrap_or(0);
    let needed: u64 = 14 << 30;
    if available < needed {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI: {available} B of RAM available, the 1.5B-shape memory check needs {needed} B"
        );
        eprintln!(
            "SKIPPED: {available} B of RAM available, the 1.5B-shape memory check needs {needed} B"
        );
        return;
    }
    check("1.5b");
}
