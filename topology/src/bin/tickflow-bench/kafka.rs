//! `tickflow-bench kafka`: the Kafka client's raw produce/consume rates next to topic → bars.

use std::time::Instant;

use anyhow::{anyhow, Result};
use clap::Args;
use tickflow::cli::BarArgs;
use tickflow::cluster::ClusterArgs;
use tickflow::job::{InputSpec, Job as AggregateJob};
use tickflow::runner::run as run_aggregate;
use tickflow_connectors::{SyntheticConfig, SyntheticTape};
use tickflow_model::Ts;

use crate::aggregate::bench_symbols;

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

pub(crate) fn run(a: &BenchKafkaArgs) -> Result<()> {
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
        let mut flow = tickflow::config::JobConfig::default();
        flow.source.kind = "kafka".into();
        flow.kafka.brokers = Some(brokers.clone());
        flow.kafka.namespace = "bench".into();
        let inputs = tickflow::job::kafka_inputs(&flow, &topic, true)?;
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
