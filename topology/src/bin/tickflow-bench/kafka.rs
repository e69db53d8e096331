//! `tickflow-bench kafka`: the Kafka client's raw produce/consume rates next to topic → bars,
//! with and without checkpoints, and the restore cost of a large checkpoint.

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
    let ck_topic = format!("{topic}.checkpoints");
    match &mock {
        Some(m) => {
            m.create_topic(&topic, a.partitions, 1).map_err(|e| anyhow!("{e}"))?;
            m.create_topic(&ck_topic, 1, 1).map_err(|e| anyhow!("{e}"))?;
        }
        None => {
            kafka::create_topic(&cfg, &topic, a.partitions, false, None)?;
            kafka::create_topic(&cfg, &ck_topic, 1, true, None)?;
        }
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
        // the same with checkpoints at the default interval (1 min of event time, at least
        // 10 s of wall time), written to a checkpoint topic and committed to a group
        let inputs = tickflow::job::kafka_inputs(&flow, &topic, true)?;
        let mut job = AggregateJob::new(inputs, agg.clone(), source.clone());
        let group = format!("bench-{}-{w}", std::process::id());
        let defaults = tickflow::config::RunSection::default();
        job.checkpoint = Some(tickflow::checkpoint::CheckpointSpec {
            job: group.clone(),
            store: tickflow::checkpoint::StoreSpec::Kafka { cfg: cfg.clone(), topic: ck_topic.clone() },
            interval: tickflow::duration::parse_nanos(&defaults.checkpoint_interval)?,
            wall: std::time::Duration::from_nanos(tickflow::duration::parse_nanos(&defaults.checkpoint_wall_interval)? as u64),
            settings: "bench".into(),
            commit: Some((cfg.clone(), group)),
        });
        let ck = run_aggregate(job, &ClusterArgs { workers: w.parse()?, ..Default::default() })?;
        let ck_rate = ck.metrics.trades_in as f64 / ck.elapsed.as_secs_f64();
        let cs = &tickflow::telemetry::global().checkpoint;
        let r = std::sync::atomic::Ordering::Relaxed;
        println!(
            "{:<44} {:>10.2} M   ({:+.1}% vs without, {} bars before the open windows; {} checkpoints so far, last write {:.0} ms)",
            format!("  … with checkpoints (default interval), {w}w"),
            ck_rate / 1e6,
            100.0 * (ck_rate - rate) / rate,
            ck.bars,
            cs.written.load(r),
            cs.duration_us.load(r) as f64 / 1e3
        );
    }
    restore_cost(&cfg, &ck_topic)?;
    Ok(())
}

/// Writes, reads back and restores a checkpoint of 1,000 instruments × 4 timeframes (each with an
/// open window, a finalized bar kept for revisions and a trade-id window), as a restarted
/// processing job does.
fn restore_cost(cfg: &tickflow_connectors::kafka::KafkaConfig, ck_topic: &str) -> Result<()> {
    use tickflow::checkpoint::{Checkpoint, StoreSpec, WorkerPart, VERSION};
    use tickflow_operators::{AggregateConfig, BarEngine};
    let tfs = tickflow_model::parse_timeframes("1m,5m,15m,1h")?;
    let mut engine = BarEngine::new(AggregateConfig::new(tfs.clone())).map_err(|e| anyhow!(e))?;
    let (mut out, mut ends) = (Vec::new(), Vec::new());
    let t0 = 1_700_000_000_000i64;
    for i in 0..1_000u64 {
        let inst = tickflow_model::Instrument::new("bench", &format!("S{i}/USDT")).map_err(|e| anyhow!(e))?;
        for k in 0..40u64 {
            let t = tickflow_model::Trade {
                instrument: inst,
                trade_id: Some(k + 1),
                ts: Ts::from_millis(t0 + k as i64 * 2_000),
                ingest_ts: Ts(0),
                price: tickflow_model::Decimal::from_int(100 + (k % 7) as i64),
                amount: tickflow_model::Decimal::from_int(1),
                side: tickflow_model::Side::Buy,
            };
            engine.on_time(&t, &mut ends);
        }
    }
    engine.finalize_until(Ts::from_millis(t0 + 60_000).0, &mut out);
    let state = engine.snapshot();
    let c = Checkpoint {
        v: VERSION,
        job: format!("bench-restore-{}", std::process::id()),
        boundary: Ts::from_millis(t0 + 60_000).0,
        interval: 60_000_000_000,
        workers: 1,
        local_routing: false,
        settings: "bench".into(),
        parts: vec![WorkerPart { worker: 0, boundary: 0, feeds: Vec::new(), engine: state, late: Vec::new(), paper: None }],
    };
    let spec = StoreSpec::Kafka { cfg: cfg.clone(), topic: ck_topic.to_string() };
    let t = Instant::now();
    let bytes = spec.open()?.save(&c)?;
    let write = t.elapsed();
    let t = Instant::now();
    let back = spec.open()?.load(&c.job)?.ok_or_else(|| anyhow!("the checkpoint was not read back"))?;
    let read = t.elapsed();
    let t = Instant::now();
    let mut restored = BarEngine::new(AggregateConfig::new(tfs)).map_err(|e| anyhow!(e))?;
    let n = restored.restore(&back.state_for(|_| true).0, |_| true).map_err(|e| anyhow!(e))?;
    let restore = t.elapsed();
    println!(
        "{:<44} {:>10.1} MB   write {:.0} ms, read {:.0} ms, restore {:.0} ms ({n} instruments)",
        "checkpoint of 1k instruments × 4 timeframes",
        bytes as f64 / 1e6,
        write.as_secs_f64() * 1e3,
        read.as_secs_f64() * 1e3,
        restore.as_secs_f64() * 1e3
    );
    Ok(())
}
