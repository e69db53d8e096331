//! `tickflow-bench indicators`: update throughput of every registered indicator (its pure core,
//! one `next` per bar, default parameters) over generated 1-minute bars, and of the whole library
//! per bar.

use std::time::Instant;

use anyhow::Result;
use clap::Args;
use tickflow_operators::indicators::{build, names, Ohlcv, Params};

/// Flags of `bench indicators`.
#[derive(Args)]
pub struct BenchIndicatorsArgs {
    /// Generated bars.
    #[arg(long, default_value_t = 1_000_000)]
    bars: usize,
    /// Runs per indicator (the best is reported).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

/// Runs the benchmark.
pub fn run(a: &BenchIndicatorsArgs) -> Result<()> {
    let bars: Vec<Ohlcv> = crate::backtest::bench_bars(a.bars).iter().map(Ohlcv::from_bar).collect();
    println!("indicator updates: {} generated 1-minute bars, default parameters, best of {}", bars.len(), a.repeat);
    println!("| indicator | M bars/s | ns per bar |");
    println!("|---|---|---|");
    let mut sink = 0.0;
    let mut total_ns = 0.0;
    for name in names() {
        let mut best = f64::INFINITY;
        for _ in 0..a.repeat.max(1) {
            let mut ind = build(name, &Params::default())?;
            let mut out = vec![0.0; ind.lines().len()];
            let start = Instant::now();
            for b in &bars {
                ind.next(b, &mut out);
            }
            best = best.min(start.elapsed().as_secs_f64());
            sink += out.iter().filter(|v| v.is_finite()).sum::<f64>();
        }
        let ns = best * 1e9 / bars.len() as f64;
        total_ns += ns;
        println!("| `{name}` | {:.1} | {ns:.1} |", bars.len() as f64 / best / 1e6);
    }
    // the whole library on each bar, in registry order
    let mut all = Vec::new();
    for name in names() {
        let ind = build(name, &Params::default())?;
        let out = vec![0.0; ind.lines().len()];
        all.push((ind, out));
    }
    let start = Instant::now();
    for b in &bars {
        for (ind, out) in all.iter_mut() {
            ind.next(b, out);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "| all {} together | {:.2} | {:.0} (sum of the singles {:.0}) |",
        all.len(),
        bars.len() as f64 / secs / 1e6,
        secs * 1e9 / bars.len() as f64,
        total_ns
    );
    // keep the results alive so the loops are not optimised away
    eprintln!("checksum {sink:e}");
    Ok(())
}
