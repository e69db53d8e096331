//! The command line: one file per command, each turning its flags into a configuration and
//! handing it on. See `tickflow --help` and the README.

pub mod aggregate;
pub mod backtest;
mod backtest_out;
pub mod demo;
pub mod fetch;
pub mod flags;
pub mod funding_out;
pub mod indicator;
pub mod ingest;
pub mod kafka;
pub mod questdb;
pub mod report;
pub mod run;
pub mod stream;
pub mod verify;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use tickflow_connectors::{SyntheticConfig, TradeCsvOptions};
use tickflow_model::{parse_timeframes, Ts};
use tickflow_operators::{AggregateConfig, FillPolicy, LatePolicy, SourceConfig};

use crate::runner::JobReport;

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
    /// /healthz fails when a live feed has received no frame (trade, heartbeat or ping) for this
    /// long; 0 never.
    #[arg(long, global = true, env = "TICKFLOW_UNHEALTHY_AFTER", default_value = "5m")]
    unhealthy_after: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Aggregate trades into event-time OHLCV bars.
    #[command(disable_help_flag = true)]
    Aggregate(aggregate::AggregateArgs),
    /// Run the main job on a bundled, seeded synthetic tape (no external services).
    #[command(disable_help_flag = true)]
    Demo(crate::cli::demo::DemoArgs),
    /// Backtest a strategy (or a parameter sweep) over bars or trades.
    #[command(disable_help_flag = true)]
    Backtest(crate::cli::backtest::BacktestArgs),
    /// Compute an indicator over a bar file.
    #[command(disable_help_flag = true)]
    Indicator(crate::cli::indicator::IndicatorArgs),
    /// A self-contained HTML report (opens offline): a backtest's output directory, or a bar
    /// file's candles.
    Report(crate::cli::report::ReportArgs),
    /// Write a seeded synthetic trade tape (CSV or Parquet).
    #[command(disable_help_flag = true)]
    Generate(GenerateArgs),
    /// Convert a trade or bar file between CSV and Parquet (format by the output's name; every
    /// row is validated again).
    #[command(disable_help_flag = true)]
    Convert(ConvertArgs),
    /// Fetch historical data from a venue's REST API.
    #[command(subcommand)]
    Fetch(crate::cli::fetch::FetchCmd),
    /// Live trades from a venue (no holes, no duplicates across reconnects).
    #[command(disable_help_flag = true)]
    Stream(crate::cli::stream::StreamArgs),
    /// Live trades from a venue into the trades topic (the log of record), resuming after the
    /// topic's last trade with a REST backfill; unfillable holes go to the gaps topic.
    Ingest(crate::cli::ingest::IngestArgs),
    /// Compare a venue's own candles with tickflow's aggregation of its trades.
    #[command(disable_help_flag = true)]
    Verify(crate::cli::verify::VerifyArgs),
    /// Run a topology described in a TOML file (sources, aggregation, sinks).
    #[command(disable_help_flag = true)]
    Run(run::RunArgs),
    /// Kafka/Redpanda topic administration.
    #[command(subcommand)]
    Topics(crate::cli::kafka::TopicsCmd),
    /// Load trade files into a Kafka topic (keyed by instrument, timestamped by event time).
    #[command(disable_help_flag = true)]
    Publish(crate::cli::kafka::PublishArgs),
    /// Replay a Kafka trade topic through the topology at a chosen speed (`aggregate` with
    /// `--kafka-topic`; the same bars at every speed and worker count).
    #[command(disable_help_flag = true)]
    Replay(aggregate::AggregateArgs),
    /// QuestDB administration (`questdb init` creates the tables).
    #[command(name = "questdb")]
    Questdb(crate::cli::questdb::QuestDbCmd),
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
        agg.allowed_lateness = crate::duration::parse_nanos(&self.allowed_lateness)?;
        let src = SourceConfig { out_of_orderness: crate::duration::parse_nanos(&self.out_of_orderness)?, ..Default::default() };
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
        TradeCsvOptions {
            default_symbol: self.symbol.clone(),
            exchange: self.exchange.clone(),
            skip_bad: self.skip_bad,
            ingest_ts: Ts::now(),
            ..Default::default()
        }
    }
}

#[derive(Args)]
struct GenerateArgs {
    /// Output trade file: CSV, or Parquet when it ends in .parquet.
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

/// The `tickflow` entry point: parses the command line, sets up logging and metrics, runs.
pub fn main() {
    // `tickflow … | head` should end quietly when the reader goes away, like other Unix tools,
    // instead of panicking on a broken pipe (Rust ignores SIGPIPE by default).
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    crate::telemetry::init(cli.log_json);
    match crate::duration::parse_nanos(&cli.unhealthy_after) {
        Ok(ns) => crate::telemetry::global().live.unhealthy_after_ns.store(ns, std::sync::atomic::Ordering::Relaxed),
        Err(e) => {
            eprintln!("error: --unhealthy-after {}: {e:#}", cli.unhealthy_after);
            std::process::exit(2);
        }
    }
    if let Some(addr) = &cli.metrics_addr {
        if let Err(e) = crate::telemetry::serve(addr) {
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
        Cmd::Aggregate(a) => aggregate::run(a),
        Cmd::Demo(d) => crate::cli::demo::run(d),
        Cmd::Generate(g) => generate(g),
        Cmd::Convert(c) => convert(c),
        Cmd::Indicator(i) => crate::cli::indicator::run(i),
        Cmd::Report(r) => crate::cli::report::run(r),
        Cmd::Backtest(b) => crate::cli::backtest::run(b),
        Cmd::Fetch(f) => crate::cli::fetch::run(f),
        Cmd::Verify(v) => crate::cli::verify::run(v),
        Cmd::Stream(s) => crate::cli::stream::run(s),
        Cmd::Ingest(a) => crate::cli::ingest::run(a),
        Cmd::Topics(t) => crate::cli::kafka::topics(t),
        Cmd::Run(r) => run::run(r),
        Cmd::Publish(p) => crate::cli::kafka::publish(p),
        Cmd::Questdb(q) => crate::cli::questdb::run(q),
        Cmd::Replay(a) => aggregate::replay(a),
    }
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
    if m.carry_gaps > 0 {
        println!("gaps not carried   {:>12}   (longer than --max-carry-windows)", m.carry_gaps);
    }
    println!("revisions          {:>12}", r.revisions);
    let refused = crate::telemetry::global().questdb.rejected_rows.load(std::sync::atomic::Ordering::Relaxed);
    if refused > 0 {
        println!("questdb refused    {:>12}   (rows logged as dead letters, not stored)", refused);
    }
    if r.committed > 0 {
        println!("offsets committed  {:>12}   (partitions)", r.committed);
    }
    let reread = crate::telemetry::global().checkpoint.reread.load(std::sync::atomic::Ordering::Relaxed);
    if reread > 0 {
        println!("re-read (restore)  {:>12}   (records from the checkpoint to the first boundary passed)", reread);
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
        max_delay: crate::duration::parse_nanos(&g.max_delay)?,
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

#[derive(Args)]
struct ConvertArgs {
    /// What the file holds.
    #[arg(value_parser = ["trades", "bars"])]
    kind: String,
    /// Input file: CSV or Parquet (told by its content).
    input: String,
    /// Output file: Parquet when it ends in .parquet, JSON lines (bars) when .jsonl, else CSV.
    out: String,
    /// Symbol for files without a symbol column (trades) or Backtrader/Yahoo bar files.
    #[arg(long)]
    symbol: Option<String>,
    /// Exchange for rows without an exchange column.
    #[arg(long, default_value = "unknown")]
    exchange: String,
}

/// Runs `convert`: trades row by row (memory bounded); bars keep their latest revision.
fn convert(c: ConvertArgs) -> Result<()> {
    if c.input == c.out {
        bail!("convert: the output must differ from the input");
    }
    let n = if c.kind == "trades" {
        let opts = TradeCsvOptions { default_symbol: c.symbol, exchange: c.exchange, ..Default::default() };
        tickflow_connectors::convert_trades(&c.input, &c.out, opts)?
    } else {
        let symbol = c.symbol.unwrap_or_else(|| crate::bars_in::default_symbol(&c.input));
        let bars = tickflow_connectors::read_bars(&c.input, &c.exchange, &symbol)?;
        let mut w = tickflow_connectors::BarWriter::create(&c.out)?;
        w.write_all(&bars)?;
        w.finish()?;
        bars.len() as u64
    };
    println!("converted {n} {} from {} to {}", c.kind, c.input, c.out);
    Ok(())
}

/// Writes a synthetic tape to `path`; returns the number of rows.
pub fn write_tape(path: &str, cfg: SyntheticConfig, minimal: bool) -> Result<u64> {
    let mut tape = tickflow_connectors::SyntheticTape::new(cfg, Ts::now()).map_err(|e| anyhow!(e))?;
    let mut w = tickflow_connectors::TradeWriter::create(path, minimal).with_context(|| format!("creating {path}"))?;
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
