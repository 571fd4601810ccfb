//! No subcommand: the studio window, on the real Show-o2 pipelines.

use anyhow::Result;

pub fn run() -> Result<()> {
    showo::studio::run(Box::new(showo::engine::PipelineBackend::new()))
        .map_err(|e| anyhow::anyhow!("the studio window failed: {e}"))
}
