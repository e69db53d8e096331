//! `tickflow bench …`: benchmarks that print figures (never timed tests).
//!
//! `bench aggregate` measures trades/s and peak memory through the full timely dataflow:
//! an in-memory source (a seeded tape generated up front and held as per-instrument columnar
//! batches, one partition per symbol; the timer starts after generation) with 1 and 2 workers,
//! and CSV file → bars, where memory stays flat. Each configuration runs in its own child
//! process so peak RSS is per configuration.

use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use tickflow_connectors::{SyntheticConfig, SyntheticTape, TradeCsvOptions};
use tickflow_model::Ts;

use crate::cluster::ClusterArgs;
use crate::pipeline::{run_aggregate, AggregateJob, InputSpec};
use crate::BarArgs;

/// Benchmarks.
#[derive(Subcommand)]
pub enum BenchCmd {
    /// Trades → bars throughput and peak memory.
    Aggregate(BenchAggregateArgs),
}

/// Flags of `bench aggregate`.
#[derive(Args)]
pub struct BenchAggregateArgs {
    /// Trades per run.
    #[arg(long, default_value_t = 10_000_000)]
    trades: u64,
    /// Worker counts to measure for the in-memory source.
    #[arg(long, default_value = "1,2")]
    workers: String,
    /// Number of symbols in the generated tapes (one in-memory partition per symbol).
    #[arg(long, default_value_t = 2)]
    symbols: usize,
    /// Skip the CSV → bars measurement.
    #[arg(long)]
    no_csv: bool,
    /// Directory for the generated CSV (default: a temporary directory).
    #[arg(long)]
    dir: Option<String>,
    #[command(flatten)]
    bars: BarArgs,
    /// Internal: run one configuration (memory:W or csv:PATH:W) and print one JSON line.
    #[arg(long, hide = true)]
    single: Option<String>,
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Runs a benchmark.
pub fn run(cmd: BenchCmd) -> Result<()> {
    match cmd {
        BenchCmd::Aggregate(a) => match a.single.clone() {
            Some(spec) => single(&a, &spec),
            None => parent(&a),
        },
    }
}

fn single(a: &BenchAggregateArgs, spec: &str) -> Result<()> {
    let (agg, source) = a.bars.configs()?;
    let parts: Vec<&str> = spec.split(':').collect();
    let (inputs, workers) = match parts.as_slice() {
        ["memory", w] => {
            let w: usize = w.parse()?;
            // The input is generated up front and held in memory as per-instrument batches
            // (one partition per symbol, in time order); timing starts after that.
            let symbols = bench_symbols(a.symbols);
            let mut inputs = Vec::new();
            for (p, sym) in symbols.iter().enumerate() {
                let cfg = SyntheticConfig { seed: 7 + p as u64, symbols: vec![sym.to_string()], trades: a.trades / symbols.len() as u64, ..Default::default() };
                let mut g = SyntheticTape::new(cfg, Ts(0)).map_err(|e| anyhow!(e))?;
                // generate in chunks straight into 4096-trade columnar batches
                let mut batches: Vec<tickflow_model::TradeBatch> = Vec::new();
                let mut chunk = Vec::with_capacity(4096);
                loop {
                    chunk.clear();
                    let more = g.next_batch(&mut chunk, 4096);
                    if let Some(first) = chunk.first() {
                        let mut b = tickflow_model::TradeBatch::with_capacity(first.instrument, chunk.len());
                        chunk.iter().for_each(|t| b.push(t));
                        batches.push(b);
                    }
                    if !more {
                        break;
                    }
                }
                inputs.push(InputSpec::Batches(std::sync::Arc::new(std::sync::Mutex::new(batches))));
            }
            (inputs, w)
        }
        ["parse", path] => {
            // reader alone, no dataflow: how much of the CSV path is parsing
            let t = Instant::now();
            let mut r = tickflow_connectors::TradeCsvReader::open(path, TradeCsvOptions { ingest_ts: Ts::now(), ..Default::default() })?;
            let mut rows = tickflow_model::TradeRows::default();
            let mut n = 0u64;
            loop {
                rows.clear();
                let more = r.read_rows(&mut rows, 16_384)?;
                n += rows.len() as u64;
                if !more {
                    break;
                }
            }
            let secs = t.elapsed().as_secs_f64();
            println!("{}", serde_json::json!({"trades": n, "secs": secs, "rate": n as f64 / secs, "peak_rss_mib": peak_rss_mib()}));
            return Ok(());
        }
        ["csv", path, w] => (vec![InputSpec::Csv { path: path.to_string(), opts: TradeCsvOptions { ingest_ts: Ts::now(), ..Default::default() } }], w.parse()?),
        _ => bail!("bad --single spec {spec:?}"),
    };
    let job = AggregateJob { inputs, agg, source, bars_out: None, late_out: None, progress: false, keep_tail: 0 };
    let cluster = ClusterArgs { workers, ..Default::default() };
    let report = run_aggregate(job, &cluster)?;
    let secs = report.elapsed.as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"trades": report.metrics.trades_in, "bars": report.bars, "secs": secs, "rate": report.metrics.trades_in as f64 / secs, "peak_rss_mib": peak_rss_mib()})
    );
    Ok(())
}

/// `n` symbols: BTC/USDT, ETH/USDT, then S2/USDT, S3/USDT, …
fn bench_symbols(n: usize) -> Vec<String> {
    (0..n.max(1))
        .map(|i| match i {
            0 => "BTC/USDT".to_string(),
            1 => "ETH/USDT".to_string(),
            i => format!("S{i}/USDT"),
        })
        .collect()
}

fn child(a: &BenchAggregateArgs, spec: &str, trades: u64) -> Result<serde_json::Value> {
    let exe = std::env::current_exe()?;
    let out = std::process::Command::new(exe)
        .args([
            "bench",
            "aggregate",
            "--single",
            spec,
            "--trades",
            &trades.to_string(),
            "--timeframes",
            &a.bars.timeframes,
            "--fill",
            &a.bars.fill,
            "--late",
            &a.bars.late,
        ])
        .args(["--out-of-orderness", &a.bars.out_of_orderness, "--allowed-lateness", &a.bars.allowed_lateness, "--symbols", &a.symbols.to_string()])
        .output()
        .context("running benchmark child")?;
    if !out.status.success() {
        bail!("benchmark child failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim()).map_err(|e| anyhow!("bad child output {line:?}: {e}"))
}

fn parent(a: &BenchAggregateArgs) -> Result<()> {
    println!(
        "tickflow bench aggregate — {} trades, {} symbols, timeframes {}, fill {}, late {}",
        a.trades, a.symbols, a.bars.timeframes, a.bars.fill, a.bars.late
    );
    println!("machine: {} logical CPUs", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    // generator alone (the in-memory source's own cost)
    let t = Instant::now();
    let mut g =
        SyntheticTape::new(SyntheticConfig { trades: a.trades, symbols: bench_symbols(a.symbols), ..Default::default() }, Ts(0)).map_err(|e| anyhow!(e))?;
    let mut buf = Vec::with_capacity(16_384);
    let mut n = 0u64;
    loop {
        buf.clear();
        let more = g.next_batch(&mut buf, 16_384);
        n += buf.len() as u64;
        if !more {
            break;
        }
    }
    let gen_rate = n as f64 / t.elapsed().as_secs_f64();
    println!("{:<34} {:>14} {:>12} {:>12}", "configuration", "trades/s", "per worker", "peak RSS");
    println!("{:<34} {:>12.2} M {:>12} {:>12}", "generator alone (no dataflow)", gen_rate / 1e6, "", "");
    for w in a.workers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let wn: f64 = w.parse()?;
        let v = child(a, &format!("memory:{w}"), a.trades)?;
        let rate = v["rate"].as_f64().unwrap_or(0.0);
        println!(
            "{:<34} {:>12.2} M {:>10.2} M {:>8.0} MiB",
            format!("in-memory batches, {w} worker(s)"),
            rate / 1e6,
            rate / 1e6 / wn,
            v["peak_rss_mib"].as_f64().unwrap_or(0.0)
        );
    }
    if !a.no_csv {
        let tmp;
        let dir = match &a.dir {
            Some(d) => std::path::PathBuf::from(d),
            None => {
                tmp = std::env::temp_dir().join(format!("tickflow-bench-{}", std::process::id()));
                tmp.clone()
            }
        };
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("bench-trades.csv").to_string_lossy().into_owned();
        let t = Instant::now();
        // the core trade layout: timestamp,symbol,price,amount,trade_id,side
        crate::write_tape(&path, SyntheticConfig { trades: a.trades, symbols: bench_symbols(a.symbols), ..Default::default() }, true)?;
        let size = std::fs::metadata(&path)?.len();
        println!("(wrote {:.0} MiB CSV in {:.1} s)", size as f64 / 1048576.0, t.elapsed().as_secs_f64());
        for w in ["1", "2"] {
            let v = child(a, &format!("csv:{path}:{w}"), a.trades)?;
            let rate = v["rate"].as_f64().unwrap_or(0.0);
            let mibs = size as f64 / 1048576.0 / v["secs"].as_f64().unwrap_or(1.0);
            println!(
                "{:<34} {:>12.2} M {:>10.0}MB/s {:>8.0} MiB",
                format!("CSV file → bars, {w} worker(s)"),
                rate / 1e6,
                mibs,
                v["peak_rss_mib"].as_f64().unwrap_or(0.0)
            );
        }
        if a.dir.is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    Ok(())
}
