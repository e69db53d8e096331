//! `tickflow-bench aggregate`: trades → bars throughput and peak memory.

use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use tickflow::cli::BarArgs;
use tickflow::cluster::ClusterArgs;
use tickflow::job::{InputSpec, Job as AggregateJob};
use tickflow::runner::run as run_aggregate;
use tickflow_connectors::{SyntheticConfig, SyntheticTape, TradeCsvOptions};
use tickflow_model::Ts;

use crate::peak_rss_mib;

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
    /// Skip the file (CSV, Parquet) → bars measurements.
    #[arg(long)]
    no_csv: bool,
    /// Directory for the generated CSV (default: a temporary directory).
    #[arg(long)]
    dir: Option<String>,
    #[command(flatten)]
    bars: BarArgs,
    /// Bar kinds built beside the time bars (`tick:1000`, `volume:50`, `dollar:1e6`, …): the cost
    /// of information-driven bars is the difference to a run without.
    #[arg(long)]
    kinds: Option<String>,
    /// In-memory runs exchange trades by instrument (as for an unkeyed input) instead of
    /// aggregating where each symbol's partition is read.
    #[arg(long)]
    exchange: bool,
    /// Independent runs per configuration (each a fresh process with the full trade count,
    /// input prepared untimed); the median is reported with the range. The VM this was tuned on
    /// varies ±20–30% from run to run.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Internal: run one configuration (memory:W or csv:PATH:W, PATH a CSV or Parquet file) and
    /// print one JSON line.
    #[arg(long, hide = true)]
    pub(crate) single: Option<String>,
}

/// The in-memory input: one partition per symbol, generated up front as per-instrument
/// columnar batches in time order (4096 trades each).
fn memory_inputs(a: &BenchAggregateArgs) -> Result<Vec<InputSpec>> {
    let symbols = bench_symbols(a.symbols);
    let mut inputs = Vec::new();
    for (p, sym) in symbols.iter().enumerate() {
        let cfg = SyntheticConfig { seed: 7 + p as u64, symbols: vec![sym.to_string()], trades: a.trades / symbols.len() as u64, ..Default::default() };
        let mut g = SyntheticTape::new(cfg, Ts(0)).map_err(|e| anyhow!(e))?;
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
    Ok(inputs)
}

/// Runs one configuration once and prints one JSON line (rate, peak RSS).
pub(crate) fn single(a: &BenchAggregateArgs, spec: &str) -> Result<()> {
    let (agg, source) = a.bars.configs()?;
    let parts: Vec<&str> = spec.split(':').collect();
    if let ["parse", path] = parts.as_slice() {
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
    // input preparation is not timed: the run's own clock starts with the dataflow
    let (inputs, workers, routing) = match parts.as_slice() {
        // one partition per symbol: aggregate where each symbol is read (`--keyed-partitions`)
        ["memory", w] => {
            let routing = if a.exchange { tickflow_operators::Routing::ByInstrument } else { tickflow_operators::Routing::Local };
            (memory_inputs(a)?, w.parse()?, routing)
        }
        ["csv", path, w] => (
            vec![InputSpec::Csv { path: path.to_string(), opts: TradeCsvOptions { ingest_ts: Ts::now(), ..Default::default() } }],
            w.parse()?,
            tickflow_operators::Routing::ByInstrument,
        ),
        _ => bail!("bad --single spec {spec:?}"),
    };
    let mut job = AggregateJob::new(inputs, agg, source);
    job.routing = routing;
    if let Some(k) = &a.kinds {
        job.bar_kinds = tickflow_model::parse_bar_kinds(k)?;
    }
    let report = run_aggregate(job, &ClusterArgs { workers, ..Default::default() })?;
    let secs = report.elapsed.as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"trades": report.metrics.trades_in, "bars": report.bars, "secs": secs, "rate": report.metrics.trades_in as f64 / secs, "peak_rss_mib": peak_rss_mib()})
    );
    Ok(())
}

/// `n` symbols: BTC/USDT, ETH/USDT, then S2/USDT, S3/USDT, …
pub(crate) fn bench_symbols(n: usize) -> Vec<String> {
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
        .args(a.exchange.then_some("--exchange"))
        .args(a.kinds.iter().flat_map(|k| ["--kinds", k.as_str()]))
        .output()
        .context("running benchmark child")?;
    if !out.status.success() {
        bail!("benchmark child failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim()).map_err(|e| anyhow!("bad child output {line:?}: {e}"))
}

/// `--repeat` independent runs of one configuration, each in a fresh child process.
struct Measured {
    /// Median, lowest and highest trades/s.
    median: f64,
    lo: f64,
    hi: f64,
    /// Trades per run.
    trades: f64,
    /// Highest peak RSS over the runs, MiB.
    rss: f64,
}

impl Measured {
    /// "lo–hi M".
    fn range(&self) -> String {
        format!("{:.1}–{:.1} M", self.lo / 1e6, self.hi / 1e6)
    }
}

fn measure(a: &BenchAggregateArgs, spec: &str) -> Result<Measured> {
    let mut rates = Vec::new();
    let (mut trades, mut rss) = (0.0f64, 0.0f64);
    for _ in 0..a.repeat.max(1) {
        let v = child(a, spec, a.trades)?;
        rates.push(v["rate"].as_f64().unwrap_or(0.0));
        trades = v["trades"].as_f64().unwrap_or(0.0);
        rss = rss.max(v["peak_rss_mib"].as_f64().unwrap_or(0.0));
    }
    rates.sort_by(f64::total_cmp);
    Ok(Measured { median: rates[rates.len() / 2], lo: rates[0], hi: rates[rates.len() - 1], trades, rss })
}

pub(crate) fn parent(a: &BenchAggregateArgs) -> Result<()> {
    println!(
        "tickflow-bench aggregate — {} trades, {} symbols, timeframes {}, fill {}, late {}{}",
        a.trades,
        a.symbols,
        a.bars.timeframes,
        a.bars.fill,
        a.bars.late,
        a.kinds.as_ref().map(|k| format!(", and bars {k}")).unwrap_or_default()
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
    println!("{} run(s) per configuration: median, and the range over the runs", a.repeat.max(1));
    println!("{:<34} {:>12} {:>12} {:>18} {:>10}", "configuration", "trades/s", "per worker", "range", "peak RSS");
    println!("{:<34} {:>10.2} M", "generator alone (no dataflow)", gen_rate / 1e6);
    for w in a.workers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let wn: f64 = w.parse()?;
        let m = measure(a, &format!("memory:{w}"))?;
        println!(
            "{:<34} {:>10.2} M {:>10.2} M {:>18} {:>6.0} MiB",
            format!("in-memory batches, {w} worker(s){}", if a.exchange { " (exchange)" } else { "" }),
            m.median / 1e6,
            m.median / 1e6 / wn,
            m.range(),
            m.rss
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
        // the core CSV layout (timestamp,symbol,price,amount,trade_id,side), then the same tape
        // as Parquet (every column; Decimal128, Timestamp(ns), Snappy)
        for (format, name, minimal) in [("CSV", "bench-trades.csv", true), ("Parquet", "bench-trades.parquet", false)] {
            let path = dir.join(name).to_string_lossy().into_owned();
            let t = Instant::now();
            tickflow::cli::write_tape(&path, SyntheticConfig { trades: a.trades, symbols: bench_symbols(a.symbols), ..Default::default() }, minimal)?;
            let size = std::fs::metadata(&path)?.len();
            println!("(wrote {:.0} MiB {format} in {:.1} s)", size as f64 / 1048576.0, t.elapsed().as_secs_f64());
            for w in ["1", "2"] {
                let m = measure(a, &format!("csv:{path}:{w}"))?;
                let mbs = size as f64 / 1e6 * m.median / m.trades.max(1.0);
                println!(
                    "{:<34} {:>10.2} M {:>8.0}MB/s {:>18} {:>6.0} MiB",
                    format!("{format} file → bars, {w} worker(s)"),
                    m.median / 1e6,
                    mbs,
                    m.range(),
                    m.rss
                );
            }
        }
        if a.dir.is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    Ok(())
}
