//! `tickflow demo`: the main job end to end on the bundled, seeded synthetic tape.
//!
//! Writes a synthetic trade tape (exchange id `synthetic`: it is generated, not market data),
//! aggregates it from the file through the full timely dataflow into 1m/5m/1h bars with carry
//! fill and late-trade revisions, and prints a summary and the latest hourly bars.

use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;
use tickflow_connectors::{SyntheticConfig, TradeCsvOptions};
use tickflow_model::{Timeframe, Ts};
use tickflow_operators::{AggregateConfig, FillPolicy, LatePolicy, SourceConfig};

use crate::cluster::ClusterArgs;
use crate::job::{InputSpec, Job as AggregateJob};
use crate::runner::run as run_aggregate;

/// Flags of `tickflow demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Where to write trades.csv, bars.csv and late.csv.
    #[arg(long, default_value = "tickflow-demo")]
    out_dir: String,
    /// Hours of synthetic trading (~20 trades/s).
    #[arg(long, default_value_t = 12)]
    hours: u64,
    /// PRNG seed of the tape.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
}

/// Runs the demo.
pub fn run(a: DemoArgs) -> Result<()> {
    std::fs::create_dir_all(&a.out_dir).with_context(|| format!("creating {}", a.out_dir))?;
    let dir = Path::new(&a.out_dir);
    let tape = dir.join("trades.csv").to_string_lossy().into_owned();
    let cfg =
        SyntheticConfig { seed: a.seed, trades: a.hours * 3600 * 20, late_per_mille: 5, max_delay: 20_000_000_000, dup_per_mille: 2, ..Default::default() };
    println!("tickflow demo — SYNTHETIC data: a seeded, generated tape (exchange id \"synthetic\"), not market data");
    let n = crate::cli::write_tape(&tape, cfg, false)?;
    println!("tape               {tape} ({n} rows incl. late and duplicate deliveries)");
    let mut agg = AggregateConfig::new(vec![Timeframe::from_secs(60)?, Timeframe::from_secs(300)?, Timeframe::from_secs(3600)?]);
    agg.fill = FillPolicy::Carry;
    agg.late = LatePolicy::Revise;
    agg.allowed_lateness = 3_600_000_000_000;
    let bars = dir.join("bars.csv").to_string_lossy().into_owned();
    let late = dir.join("late.csv").to_string_lossy().into_owned();
    let job = AggregateJob {
        inputs: vec![InputSpec::Csv { path: tape, opts: TradeCsvOptions { ingest_ts: Ts::now(), ..Default::default() } }],
        agg,
        source: SourceConfig { out_of_orderness: 5_000_000_000, ..Default::default() },
        bars_out: Some(bars.clone()),
        late_out: Some(late.clone()),
        progress: true,
        keep_tail: 400,
        bars_topic: None,
        late_topic: None,
        trades_topic: None,
        questdb: None,
        paper: None,
        routing: Default::default(),
        checkpoint: None,
        restore: false,
        plan: None,
        bar_kinds: Vec::new(),
    };
    println!(
        "topology           csv source → watermark (5s disorder) → aggregate 1m,5m,1h (carry, revise) → sorted sinks; {} worker(s) × {} process(es)",
        a.cluster.workers, a.cluster.processes
    );
    let report = run_aggregate(job, &a.cluster)?;
    if a.cluster.process != 0 {
        return Ok(());
    }
    crate::cli::print_summary(&report, Some(&bars));
    println!("late trades to     {late}");
    println!();
    println!("latest hourly bars:");
    println!("{:<10} {:<22} {:>12} {:>12} {:>12} {:>12} {:>14} {:>7}", "symbol", "open (UTC)", "open", "high", "low", "close", "volume", "trades");
    let hour = Timeframe::from_secs(3600)?;
    let mut rows: Vec<_> = report.tail.iter().filter(|b| b.timeframe == hour && b.revision == 0).collect();
    rows.sort_by_key(|b| (b.instrument, b.open_time));
    for b in rows.iter().rev().take(6).rev() {
        println!(
            "{:<10} {:<22} {:>12} {:>12} {:>12} {:>12} {:>14} {:>7}",
            b.instrument.symbol(),
            b.open_time.to_rfc3339(),
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume,
            b.trades
        );
    }

    // the strategy engine on the same bars: SMA(10/30) cross on 5-minute bars, both symbols
    println!();
    println!("backtest: sma_cross fast=10 slow=30 on the 5m bars, 0.1% commission, 45% of cash per entry");
    let out_dir = dir.join("backtest").to_string_lossy().into_owned();
    crate::cli::backtest::run(crate::cli::backtest::BacktestArgs {
        bars: Some(bars),
        trades: None,
        kafka_topic: None,
        timeframe: "5m".into(),
        strategy: "sma_cross".into(),
        params: vec!["fast=10".into(), "slow=30".into()],
        cash: "100000".into(),
        commission: "0.001".into(),
        maker_commission: None,
        commission_fixed: None,
        slippage: None,
        sizer: "percent:45".into(),
        cheat_on_close: false,
        leverage: "1".into(),
        maintenance_margin: "0.005".into(),
        contract_size: "1".into(),
        funding: None,
        format: "csv".into(),
        rank_by: "sharpe".into(),
        report: Some(dir.join("report.html").to_string_lossy().into_owned()),
        out_dir,
        symbol: None,
        exchange: "file".into(),
        publish: false,
        kafka: crate::cli::kafka::BrokerArgs { brokers: String::new(), namespace: "tickflow".into(), properties: Vec::new() },
        questdb: crate::cli::questdb::QuestDbArgs {
            questdb: false,
            conn: crate::cli::questdb::QuestDbConnArgs { questdb_conf: String::new(), questdb_prefix: String::new(), questdb_max_outage: "10m".into() },
        },
        cluster: a.cluster.clone(),
        help: None,
    })
}
