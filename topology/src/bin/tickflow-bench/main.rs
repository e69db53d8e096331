//! `tickflow-bench`: benchmarks that print figures (never timed tests), kept out of the shipped
//! `tickflow` binary. Build and run with `cargo run --release -p tickflow --bin tickflow-bench -- …`.
//!
//! `aggregate` measures trades/s and peak memory through the full timely dataflow: an in-memory
//! source (a seeded tape generated up front and held as per-instrument columnar batches, one
//! partition per symbol; the timer starts after generation) with 1 and 2 workers, and CSV file →
//! bars, where memory stays flat. Each configuration runs in its own child process so peak RSS is
//! per configuration. `backtest` measures the event-driven backtest and a sweep; `kafka` the
//! client's raw rates next to topic → bars end to end; `live` the live session engine (tokio
//! sessions) from loopback WebSocket venues to the consumer.

mod aggregate;
mod backtest;
mod indicators;
mod kafka;
mod live;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// The same allocator as the `tickflow` binary, so the figures are that binary's.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "tickflow-bench", version, about = "tickflow benchmarks (figures, not tests)")]
struct Cli {
    #[command(subcommand)]
    cmd: BenchCmd,
}

/// Benchmarks.
#[derive(Subcommand)]
enum BenchCmd {
    /// Trades → bars throughput and peak memory.
    Aggregate(aggregate::BenchAggregateArgs),
    /// Event-driven backtest throughput: bars/s with the full broker, and a parameter sweep.
    Backtest(backtest::BenchBacktestArgs),
    /// Kafka: raw produce/consume rate of the client next to topic → bars end to end.
    Kafka(kafka::BenchKafkaArgs),
    /// Live sessions: trades/s from loopback WebSocket venues through the session engine.
    Live(live::BenchLiveArgs),
    /// Indicator update throughput: each registered indicator, and the whole library per bar.
    Indicators(indicators::BenchIndicatorsArgs),
}

/// Peak resident memory of this process, MiB.
pub(crate) fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() {
    let cli = Cli::parse();
    let r: Result<()> = match cli.cmd {
        BenchCmd::Aggregate(a) => match a.single.clone() {
            Some(spec) => aggregate::single(&a, &spec),
            None => aggregate::parent(&a),
        },
        BenchCmd::Backtest(b) => backtest::run(&b),
        BenchCmd::Kafka(k) => kafka::run(&k),
        BenchCmd::Live(l) => live::run(&l),
        BenchCmd::Indicators(i) => indicators::run(&i),
    };
    if let Err(e) = r {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
