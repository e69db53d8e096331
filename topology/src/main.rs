//! `tickflow`: the command-line front door. See `tickflow --help` and the README.

mod backtest_cmd;
mod bars_in;
mod bench;
mod cluster;
mod demo;
mod duration;
mod feeds;
mod fetch_cmd;
mod indicator_cmd;
mod kafka_cmd;
mod paper;
mod pipeline;
mod questdb_cmd;
mod run_cmd;
mod shutdown;
mod stream_cmd;
mod telemetry;
mod verify_cmd;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use tickflow_connectors::{SyntheticConfig, TradeCsvOptions, TradeCsvWriter};
use tickflow_model::{parse_timeframes, Ts};
use tickflow_operators::{AggregateConfig, FillPolicy, LatePolicy, SourceConfig};

use crate::cluster::ClusterArgs;
use crate::pipeline::{AggregateJob, InputSpec, JobReport};

/// mimalloc keeps freed memory for reuse instead of trimming it back to the OS on the hot
/// path; with glibc malloc, workers that free consumed batches pay page faults and TLB
/// shootdowns that stall their peers (the in-memory benchmark ran ~35% slower on 1 worker and
/// scaled 1.4× instead of ~1.7× on 2). Off with `--no-default-features`.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "tickflow", version, about = "Crypto market data and backtesting on timely-dataflow", disable_help_flag = true)]
struct Cli {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help, global = true)]
    help: Option<bool>,
    /// Log as JSON lines.
    #[arg(long, global = true, env = "TICKFLOW_LOG_JSON")]
    log_json: bool,
    /// Serve Prometheus metrics on /metrics and health on /healthz, /readyz at HOST:PORT.
    #[arg(long, global = true, env = "TICKFLOW_METRICS_ADDR")]
    metrics_addr: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Aggregate trades into event-time OHLCV bars.
    #[command(disable_help_flag = true)]
    Aggregate(AggregateArgs),
    /// Run the main job on a bundled, seeded synthetic tape (no external services).
    #[command(disable_help_flag = true)]
    Demo(demo::DemoArgs),
    /// Backtest a strategy (or a parameter sweep) over bars or trades.
    #[command(disable_help_flag = true)]
    Backtest(backtest_cmd::BacktestArgs),
    /// Compute an indicator over a bar file.
    #[command(disable_help_flag = true)]
    Indicator(indicator_cmd::IndicatorArgs),
    /// Write a seeded synthetic trade tape (CSV).
    #[command(disable_help_flag = true)]
    Generate(GenerateArgs),
    /// Fetch historical data from a venue's REST API.
    #[command(subcommand)]
    Fetch(fetch_cmd::FetchCmd),
    /// Live trades from a venue (no holes, no duplicates across reconnects).
    #[command(disable_help_flag = true)]
    Stream(stream_cmd::StreamArgs),
    /// Compare a venue's own candles with tickflow's aggregation of its trades.
    #[command(disable_help_flag = true)]
    Verify(verify_cmd::VerifyArgs),
    /// Benchmarks that print figures.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Run a topology described in a TOML file (sources, aggregation, sinks).
    #[command(disable_help_flag = true)]
    Run(run_cmd::RunArgs),
    /// Kafka/Redpanda topic administration.
    #[command(subcommand)]
    Topics(kafka_cmd::TopicsCmd),
    /// Load trade files into a Kafka topic (keyed by instrument, timestamped by event time).
    #[command(disable_help_flag = true)]
    Publish(kafka_cmd::PublishArgs),
    /// Replay a Kafka trade topic through the topology at a chosen speed (`aggregate` with
    /// `--kafka-topic`; the same bars at every speed and worker count).
    #[command(disable_help_flag = true)]
    Replay(AggregateArgs),
    /// QuestDB administration (`questdb init` creates the tables).
    #[command(name = "questdb")]
    Questdb(questdb_cmd::QuestDbCmd),
}

/// Bar semantics shared by commands that aggregate.
#[derive(Args, Clone, Debug)]
pub struct BarArgs {
    /// Comma-separated timeframes, e.g. 1m,5m,1h.
    #[arg(long, default_value = "1m")]
    pub timeframes: String,
    /// Empty windows: none (no bar) or carry (previous close, zero volume).
    #[arg(long, default_value = "none")]
    pub fill: String,
    /// Late trades: drop (report only) or revise (re-emit affected bars as revisions).
    #[arg(long, default_value = "drop")]
    pub late: String,
    /// Allowed disorder before a trade counts as late (watermark = max event time − this).
    #[arg(long, default_value = "0")]
    pub out_of_orderness: String,
    /// How far below the watermark a late trade may still revise bars.
    #[arg(long, default_value = "1h")]
    pub allowed_lateness: String,
}

impl BarArgs {
    /// Builds the aggregation and source configuration.
    pub fn configs(&self) -> Result<(AggregateConfig, SourceConfig)> {
        let mut agg = AggregateConfig::new(parse_timeframes(&self.timeframes)?);
        agg.fill = self.fill.parse::<FillPolicy>()?;
        agg.late = self.late.parse::<LatePolicy>()?;
        agg.allowed_lateness = duration::parse_nanos(&self.allowed_lateness)?;
        let src = SourceConfig { out_of_orderness: duration::parse_nanos(&self.out_of_orderness)?, ..Default::default() };
        Ok((agg, src))
    }
}

/// How trade CSV files are read (shared by `aggregate` and `publish`).
#[derive(Args, Clone, Debug)]
pub struct CsvInputArgs {
    /// Symbol for files without a symbol column (CCXT form, e.g. XRP/ETH).
    #[arg(long)]
    pub symbol: Option<String>,
    /// Exchange id for files without an exchange column.
    #[arg(long, default_value = "unknown")]
    pub exchange: String,
    /// Skip and count malformed rows instead of failing.
    #[arg(long)]
    pub skip_bad: bool,
}

impl CsvInputArgs {
    /// Reader options; the ingest time is recorded now, once.
    pub fn options(&self) -> TradeCsvOptions {
        TradeCsvOptions { default_symbol: self.symbol.clone(), exchange: self.exchange.clone(), skip_bad: self.skip_bad, ingest_ts: Ts::now() }
    }
}

#[derive(Args)]
pub struct AggregateArgs {
    /// Trade CSV file(s); each file is one partition, read by one worker.
    #[arg(short = 'i', long = "input", required_unless_present_any = ["source", "kafka_topic"])]
    inputs: Vec<String>,
    // a live source instead of files (with --symbols); the venues come from the registry
    #[arg(long, conflicts_with = "inputs", help = stream_cmd::source_help())]
    source: Option<String>,
    #[command(flatten)]
    live: stream_cmd::LiveArgs,
    #[command(flatten)]
    kafka: kafka_cmd::KafkaFlowArgs,
    #[command(flatten)]
    brokers: kafka_cmd::BrokerArgs,
    #[command(flatten)]
    questdb: questdb_cmd::QuestDbArgs,
    #[command(flatten)]
    paper: paper::PaperArgs,
    /// Live sources: advance the watermark after this long without trades, so quiet symbols
    /// still close bars.
    #[arg(long, default_value = "2s")]
    idle_timeout: String,
    /// Bar output file (.csv, or .jsonl for JSON lines).
    #[arg(short = 'o', long)]
    out: String,
    /// Late-trade output CSV.
    #[arg(long)]
    late_out: Option<String>,
    #[command(flatten)]
    bars: BarArgs,
    #[command(flatten)]
    csv: CsvInputArgs,
    /// Hide the progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Each input partition holds whole instruments (a topic keyed by exchange:symbol, one file
    /// per symbol): aggregate on the worker that reads them, without exchanging trades between
    /// workers. Wrong bars if an instrument spans partitions.
    #[arg(long)]
    keyed_partitions: bool,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

#[derive(Args)]
struct GenerateArgs {
    /// Output CSV.
    #[arg(short = 'o', long)]
    out: String,
    /// Number of trades.
    #[arg(long, default_value_t = 1_000_000)]
    trades: u64,
    /// PRNG seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Comma-separated symbols.
    #[arg(long, default_value = "BTC/USDT,ETH/USDT")]
    symbols: String,
    /// Per-mille of trades delivered late.
    #[arg(long, default_value_t = 0)]
    late_per_mille: u32,
    /// Largest delivery delay of late trades.
    #[arg(long, default_value = "0")]
    max_delay: String,
    /// Per-mille of trades delivered twice.
    #[arg(long, default_value_t = 0)]
    dup_per_mille: u32,
    /// Write only timestamp,symbol,price,amount,trade_id,side (no exchange or ingest time).
    #[arg(long)]
    minimal: bool,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

fn main() {
    // `tickflow … | head` should end quietly when the reader goes away, like other Unix tools,
    // instead of panicking on a broken pipe (Rust ignores SIGPIPE by default).
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    telemetry::init(cli.log_json);
    if let Some(addr) = &cli.metrics_addr {
        if let Err(e) = telemetry::serve(addr) {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Aggregate(a) => aggregate(a),
        Cmd::Demo(d) => demo::run(d),
        Cmd::Generate(g) => generate(g),
        Cmd::Indicator(i) => indicator_cmd::run(i),
        Cmd::Backtest(b) => backtest_cmd::run(b),
        Cmd::Bench(b) => bench::run(b),
        Cmd::Fetch(f) => fetch_cmd::run(f),
        Cmd::Verify(v) => verify_cmd::run(v),
        Cmd::Stream(s) => stream_cmd::run(s),
        Cmd::Topics(t) => kafka_cmd::topics(t),
        Cmd::Run(r) => run_cmd::run(r),
        Cmd::Publish(p) => kafka_cmd::publish(p),
        Cmd::Questdb(q) => questdb_cmd::run(q),
        Cmd::Replay(a) => {
            if a.kafka.kafka_topic.is_none() {
                bail!("replay reads a Kafka topic: give --kafka-topic (e.g. tickflow.trades)");
            }
            aggregate(a)
        }
    }
}

pub fn aggregate(a: AggregateArgs) -> Result<()> {
    let (agg, source) = a.bars.configs()?;
    let opts = a.csv.options();
    let mut source = source;
    let inputs = match &a.source {
        _ if a.kafka.kafka_topic.is_some() => {
            if !a.inputs.is_empty() || a.source.is_some() {
                bail!("--kafka-topic replaces --input and --source");
            }
            if a.kafka.follow {
                // following a topic is live: quiet partitions must not hold bars back forever
                source.idle_timeout = Some(std::time::Duration::from_nanos(duration::parse_nanos(&a.idle_timeout)?.max(1) as u64));
            }
            a.kafka.inputs(&a.brokers)?
        }
        Some(src) => {
            source.idle_timeout = Some(std::time::Duration::from_nanos(duration::parse_nanos(&a.idle_timeout)?.max(1) as u64));
            vec![InputSpec::Live { config: a.live.config(src)?, max_trades: a.live.max_trades }]
        }
        None => a.inputs.iter().map(|p| InputSpec::Csv { path: p.clone(), opts: opts.clone() }).collect(),
    };
    let job = AggregateJob {
        inputs,
        agg,
        source,
        bars_out: if a.cluster.process == 0 { Some(a.out.clone()) } else { None },
        late_out: if a.cluster.process == 0 { a.late_out.clone() } else { None },
        progress: !a.no_progress,
        keep_tail: 0,
        bars_topic: match &a.kafka.bars_topic {
            Some(t) => Some((a.brokers.config()?, t.clone())),
            None => None,
        },
        late_topic: match &a.kafka.late_topic {
            Some(t) => Some((a.brokers.config()?, t.clone())),
            None => None,
        },
        trades_topic: match &a.kafka.trades_topic {
            Some(t) => Some((a.brokers.config()?, t.clone())),
            None => None,
        },
        questdb: a.questdb.target()?,
        paper: a.paper.job(&parse_timeframes(&a.bars.timeframes)?, &a.brokers)?,
        routing: if a.keyed_partitions { tickflow_operators::Routing::Local } else { Default::default() },
    };
    let report = pipeline::run_aggregate(job, &a.cluster)?;
    if a.cluster.process == 0 {
        print_summary(&report, Some(&a.out));
    }
    Ok(())
}

/// Prints the run summary.
pub fn print_summary(r: &JobReport, out: Option<&str>) {
    let m = &r.metrics;
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    println!("trades read        {:>12}   ({:.2} M trades/s)", m.trades_in, m.trades_in as f64 / secs / 1e6);
    println!("bad rows skipped   {:>12}", m.bad_records);
    println!("duplicates ignored {:>12}", m.duplicates);
    println!("late trades        {:>12}   (too late: {})", m.late, m.too_late);
    for (tf, n) in &r.per_timeframe {
        println!("bars {:<13} {:>12}", tf.to_string(), n);
    }
    println!("carried bars       {:>12}", m.carried);
    println!("revisions          {:>12}", r.revisions);
    if r.committed > 0 {
        println!("offsets committed  {:>12}   (partitions)", r.committed);
    }
    for (run, s, orders, fills) in &r.paper {
        println!("paper {run}: {orders} orders, {fills} fills, value {} → {} ({:+.2}%)", s.initial_value, s.final_value, s.total_return * 100.0);
    }
    println!("elapsed            {:>12.3} s", secs);
    if let Some(o) = out {
        println!("bars written to    {o}");
    }
}

fn generate(g: GenerateArgs) -> Result<()> {
    let cfg = SyntheticConfig {
        seed: g.seed,
        symbols: g.symbols.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
        trades: g.trades,
        late_per_mille: g.late_per_mille,
        max_delay: duration::parse_nanos(&g.max_delay)?,
        dup_per_mille: g.dup_per_mille,
        ..Default::default()
    };
    if cfg.symbols.is_empty() {
        bail!("--symbols must name at least one symbol");
    }
    let n = write_tape(&g.out, cfg, g.minimal)?;
    println!("wrote {n} synthetic trades to {}", g.out);
    Ok(())
}

/// Writes a synthetic tape to `path`; returns the number of rows.
pub fn write_tape(path: &str, cfg: SyntheticConfig, minimal: bool) -> Result<u64> {
    let mut tape = tickflow_connectors::SyntheticTape::new(cfg, Ts::now()).map_err(|e| anyhow!(e))?;
    let f = std::fs::File::create(path).with_context(|| format!("creating {path}"))?;
    let out = std::io::BufWriter::with_capacity(1 << 20, f);
    let mut w = if minimal { TradeCsvWriter::minimal(path, out)? } else { TradeCsvWriter::new(path, out)? };
    let mut buf = Vec::with_capacity(65_536);
    let mut n = 0u64;
    loop {
        buf.clear();
        let more = tape.next_batch(&mut buf, 65_536);
        for t in &buf {
            w.write(t)?;
        }
        n += buf.len() as u64;
        if !more {
            break;
        }
    }
    w.finish()?;
    Ok(n)
}
