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
    /// Event-driven backtest throughput: bars/s with the full broker, and a parameter sweep.
    Backtest(BenchBacktestArgs),
    /// Kafka: raw produce/consume rate of the client next to topic → bars end to end.
    Kafka(BenchKafkaArgs),
}

/// Flags of `bench kafka`.
#[derive(Args)]
pub struct BenchKafkaArgs {
    /// Generated trades.
    #[arg(long, default_value_t = 1_000_000)]
    trades: u64,
    /// Symbols (keys) in the tape.
    #[arg(long, default_value_t = 8)]
    symbols: usize,
    /// Topic partitions.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Worker counts for the end-to-end run.
    #[arg(long, default_value = "1,2")]
    workers: String,
    /// Brokers; without it an in-process mock cluster is used (which then bounds the rates).
    #[arg(long)]
    brokers: Option<String>,
}

/// Flags of `bench backtest`.
#[derive(Args)]
pub struct BenchBacktestArgs {
    /// Generated 1-minute bars.
    #[arg(long, default_value_t = 1_000_000)]
    bars: usize,
    /// Sweep size (fast × slow combinations of the SMA cross).
    #[arg(long, default_value_t = 100)]
    sweep: usize,
    /// Worker counts for the sweep.
    #[arg(long, default_value = "1,2")]
    workers: String,
}

/// Seeded random-walk 1-minute bars.
fn bench_bars(n: usize) -> Vec<tickflow_model::Bar> {
    use tickflow_model::{Bar, Decimal, Instrument, Timeframe};
    let inst = Instrument::new("synthetic", "BTC/USDT").expect("valid");
    let tf = Timeframe::from_secs(60).expect("valid");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut price: i64 = 9_500_000; // cents (95000.00)
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let open = price;
            let step = (x % 2001) as i64 - 1000;
            price = (price + step).max(100);
            let hi = open.max(price) + (x >> 20) as i64 % 300;
            let lo = (open.min(price) - (x >> 40) as i64 % 300).max(1);
            let c = |v: i64| Decimal::from_mantissa(v as i128 * 10_000_000);
            let mut b = Bar::carried(inst, tf, Ts::from_secs(1_735_689_600 + 60 * i as i64), c(price));
            (b.open, b.high, b.low, b.close, b.volume) = (c(open), c(hi), c(lo), c(price), Decimal::ONE);
            b
        })
        .collect()
}

fn backtest_bench(a: &BenchBacktestArgs) -> Result<()> {
    use tickflow_operators::broker::{BrokerConfig, Commission};
    use tickflow_strategies::{build, Backtest, Sizer, StrategyParams};
    println!("tickflow bench backtest — {} generated 1-minute bars, SMA cross, full broker (0.1% commission, 95% sizer)", a.bars);
    let bars = bench_bars(a.bars);
    let cfg = BrokerConfig {
        cash: tickflow_model::Decimal::from_int(100_000),
        commission: Commission::Percent { maker: "0.001".parse()?, taker: "0.001".parse()? },
        ..Default::default()
    };
    let sizer = Sizer::PercentOfCash(tickflow_model::Decimal::from_int(95));
    // the pure driver, one run
    let t = Instant::now();
    let r = Backtest::run(build("sma_cross", &StrategyParams::parse(["fast=10", "slow=30"])?)?, cfg, sizer, &bars)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{:<44} {:>10.2} M bars/s   ({} trades, final value {})",
        "1 run, SMA(10/30), driver",
        a.bars as f64 / secs / 1e6,
        r.trades.len(),
        r.summary.final_value
    );
    // sweeps through the dataflow stage
    let fasts = [2usize, 4, 6, 8, 10, 12, 14, 16, 18, 20];
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    'outer: for slow in (25..).step_by(5) {
        for &f in &fasts {
            pairs.push((f, slow));
            if pairs.len() >= a.sweep {
                break 'outer;
            }
        }
    }
    let runs: Vec<tickflow_strategies::RunSpec> = pairs
        .iter()
        .map(|(f, s)| {
            Ok(tickflow_strategies::RunSpec {
                strategy: "sma_cross".into(),
                params: StrategyParams::parse([format!("fast={f}").as_str(), format!("slow={s}").as_str()])?,
                broker: cfg,
                sizer,
            })
        })
        .collect::<Result<_>>()?;
    let runs = std::sync::Arc::new(runs);
    let bars = std::sync::Arc::new(bars);
    for w in a.workers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let workers: usize = w.parse()?;
        let (runs_w, bars_w) = (runs.clone(), bars.clone());
        let t = Instant::now();
        let guards = timely::execute(ClusterArgs { workers, ..Default::default() }.timely_config()?, move |worker| -> Result<usize, String> {
            use tickflow_strategies::BacktestStage;
            use timely::dataflow::operators::Inspect;
            let mut input = crate::bars_in::BarInput::new();
            let count = std::rc::Rc::new(std::cell::Cell::new(0usize));
            let c = count.clone();
            worker.dataflow::<u64, _, _>(|scope| -> Result<(), String> {
                input.to_stream(scope).backtest(runs_w.clone()).map_err(|e| e.to_string())?.inspect(move |e| {
                    if matches!(e, tickflow_strategies::BacktestEvent::Summary(..)) {
                        c.set(c.get() + 1);
                    }
                });
                Ok(())
            })?;
            if worker.index() == 0 {
                crate::bars_in::feed(input, &bars_w).map_err(|e| e.to_string())?;
            } else {
                input.close();
            }
            while worker.step_or_park(None) {}
            Ok(count.get())
        })
        .map_err(|e| anyhow!(e))?;
        let done: usize = guards.join().into_iter().map(|r| r.map_err(|e| anyhow!(e)).and_then(|r| r.map_err(|e| anyhow!(e)))).sum::<Result<usize>>()?;
        let secs = t.elapsed().as_secs_f64();
        let bar_runs = (bars.len() * done) as f64;
        println!(
            "{:<44} {:>10.2} M bar·runs/s ({:.2} M per worker, {done} runs, {secs:.2} s)",
            format!("sweep of {} runs through the dataflow, {workers} worker(s)", runs.len()),
            bar_runs / secs / 1e6,
            bar_runs / secs / 1e6 / workers as f64
        );
    }
    Ok(())
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
    /// In-memory runs exchange trades by instrument (as for an unkeyed input) instead of
    /// aggregating where each symbol's partition is read.
    #[arg(long)]
    exchange: bool,
    /// Independent runs per configuration (each a fresh process with the full trade count,
    /// input prepared untimed); the median is reported with the range. The VM this was tuned on
    /// varies ±20–30% from run to run.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
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
        BenchCmd::Backtest(b) => backtest_bench(&b),
        BenchCmd::Kafka(k) => kafka_bench(&k),
    }
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
fn single(a: &BenchAggregateArgs, spec: &str) -> Result<()> {
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
    let report = run_aggregate(job, &ClusterArgs { workers, ..Default::default() })?;
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
        .args(a.exchange.then_some("--exchange"))
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
        let path = dir.join("bench-trades.csv").to_string_lossy().into_owned();
        let t = Instant::now();
        // the core trade layout: timestamp,symbol,price,amount,trade_id,side
        crate::write_tape(&path, SyntheticConfig { trades: a.trades, symbols: bench_symbols(a.symbols), ..Default::default() }, true)?;
        let size = std::fs::metadata(&path)?.len();
        println!("(wrote {:.0} MiB CSV in {:.1} s)", size as f64 / 1048576.0, t.elapsed().as_secs_f64());
        for w in ["1", "2"] {
            let m = measure(a, &format!("csv:{path}:{w}"))?;
            let mbs = size as f64 / 1e6 * m.median / m.trades.max(1.0);
            println!("{:<34} {:>10.2} M {:>8.0}MB/s {:>18} {:>6.0} MiB", format!("CSV file → bars, {w} worker(s)"), m.median / 1e6, mbs, m.range(), m.rss);
        }
        if a.dir.is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    Ok(())
}

fn kafka_bench(a: &BenchKafkaArgs) -> Result<()> {
    use tickflow_connectors::kafka::{self, KafkaConfig, KafkaSink};
    let mock = match &a.brokers {
        Some(_) => None,
        None => Some(kafka::mock_cluster(1)?),
    };
    let brokers = a.brokers.clone().or_else(|| mock.as_ref().map(|m| m.bootstrap_servers())).unwrap_or_default();
    let cfg = KafkaConfig { brokers: brokers.clone(), extra: vec![("partitioner".into(), "murmur2_random".into())] };
    let topic = format!("tickflow-bench-{}", std::process::id());
    match &mock {
        Some(m) => m.create_topic(&topic, a.partitions, 1).map_err(|e| anyhow!("{e}"))?,
        None => kafka::create_topic(&cfg, &topic, a.partitions, false, None)?,
    }
    println!(
        "tickflow bench kafka — {} trades, {} symbols, {} partitions, broker: {}",
        a.trades,
        a.symbols,
        a.partitions,
        if mock.is_some() { "in-process mock cluster" } else { brokers.as_str() }
    );
    // the tape, encoded up front
    let mut g =
        SyntheticTape::new(SyntheticConfig { trades: a.trades, symbols: bench_symbols(a.symbols), ..Default::default() }, Ts(0)).map_err(|e| anyhow!(e))?;
    let mut trades = Vec::with_capacity(a.trades as usize);
    while g.next_batch(&mut trades, 65_536) {}
    // decode stage alone: JSON records → trades
    let payloads: Vec<Vec<u8>> = trades.iter().map(|t| serde_json::to_vec(&tickflow_model::TradeRecord::from(t))).collect::<Result<_, _>>()?;
    let t = Instant::now();
    let mut rows = tickflow_model::TradeRows::default();
    for p in &payloads {
        let r: tickflow_model::TradeRecord = serde_json::from_slice(p)?;
        rows.push(&r.to_trade()?);
        if rows.len() == 4096 {
            rows.clear();
        }
    }
    let decode_secs = t.elapsed().as_secs_f64();
    let decode = payloads.len() as f64 / decode_secs;
    drop(payloads);
    let (agg, source) =
        BarArgs { timeframes: "1m".into(), fill: "none".into(), late: "drop".into(), out_of_orderness: "0".into(), allowed_lateness: "1h".into() }.configs()?;
    // decode + aggregate on one worker: the decode time plus a 1-worker dataflow reading the
    // decoded trades row by row in arrival order (the source groups them, as for a topic)
    let job = AggregateJob::new(vec![InputSpec::Trades(std::sync::Arc::new(std::sync::Mutex::new(trades.clone())))], agg.clone(), source.clone());
    let report = run_aggregate(job, &ClusterArgs { workers: 1, ..Default::default() })?;
    let decode_agg = report.metrics.trades_in as f64 / (decode_secs + report.elapsed.as_secs_f64());
    // raw produce with the client
    let t = Instant::now();
    let mut sink = KafkaSink::new(&cfg, "tickflow-bench")?;
    for tr in &trades {
        sink.send_trade(&topic, tr)?;
    }
    sink.flush(std::time::Duration::from_secs(120))?;
    let produce = trades.len() as f64 / t.elapsed().as_secs_f64();
    // raw consume with the client
    let t = Instant::now();
    let n = kafka::consume_raw(&cfg, &topic)?;
    let consume = n as f64 / t.elapsed().as_secs_f64();
    println!("{:<44} {:>12}", "stage", "trades/s");
    println!("{:<44} {:>10.2} M", "decode JSON records (1 thread, no broker)", decode / 1e6);
    println!("{:<44} {:>10.2} M", "decode + aggregate (1 worker, no broker)", decode_agg / 1e6);
    println!("{:<44} {:>10.2} M", "raw produce (idempotent, lz4, acks=all)", produce / 1e6);
    println!("{:<44} {:>10.2} M", "raw consume (no decoding)", consume / 1e6);
    for w in a.workers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let flow = crate::kafka_cmd::KafkaFlowArgs { kafka_topic: Some(topic.clone()), speed: "max".into(), ..Default::default() };
        let brokers_args = crate::kafka_cmd::BrokerArgs { brokers: brokers.clone(), namespace: "bench".into(), properties: Vec::new() };
        let inputs = flow.inputs(&brokers_args)?;
        let job = AggregateJob::new(inputs, agg.clone(), source.clone());
        let report = run_aggregate(job, &ClusterArgs { workers: w.parse()?, ..Default::default() })?;
        let rate = report.metrics.trades_in as f64 / report.elapsed.as_secs_f64();
        println!(
            "{:<44} {:>10.2} M   ({:.0}% of raw consume, {} bars)",
            format!("topic → bars end to end, {w} worker(s)"),
            rate / 1e6,
            100.0 * rate / consume,
            report.bars
        );
    }
    Ok(())
}
