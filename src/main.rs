//! `showo-studio`: the desktop studio (no subcommand) and its command-line tools.

mod cli;

#[global_allocator]
static HEAP: cli::heap::CountingAlloc = cli::heap::CountingAlloc;

fn main() -> anyhow::Result<()> {
    cli::matmul_threads::settle();
    cli::run()
}
