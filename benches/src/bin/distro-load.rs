//! `distro-load`: runs one load scenario against a server on 127.0.0.1 and prints a progress
//! line per second (stderr) and one JSON summary line (stdout). See `BENCHMARKS.md`.

use anyhow::Context;
use clap::Parser;
use distro_bench::load::{self, Options, Scenario};

/// Load generator for the distro registry (and any Nacos-compatible server).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Flags {
    /// What to run.
    #[arg(value_enum)]
    scenario: Scenario,
    #[command(flatten)]
    options: Options,
}

fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    let runtime = if flags.options.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(flags.options.threads)
            .enable_all()
            .build()
    }
    .context("starting the runtime")?;
    let summary = runtime.block_on(load::run(flags.scenario, &flags.options))?;
    println!("{summary}");
    Ok(())
}
