//! Kafka/Redpanda commands and flags: `topics create`, `publish`, and the broker flags of
//! `backtest`, `topics` and `publish`.

use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};
use tickflow_connectors::kafka::{self, KafkaConfig, KafkaSink, Topics};
use tickflow_connectors::TradeCsvReader;
use tickflow_model::TradeRows;

/// Broker connection flags.
#[derive(Args, Clone, Debug)]
pub struct BrokerArgs {
    /// Kafka-API brokers (Redpanda), `host:port[,host:port]`.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Topic namespace: topics are `<namespace>.trades`, `.bars`, `.late`, `.dlq`.
    #[arg(long, default_value = "tickflow")]
    pub namespace: String,
    /// Extra client properties, `key=value` (repeatable), e.g. `security.protocol=SSL`.
    #[arg(long = "kafka-property")]
    pub properties: Vec<String>,
}

impl BrokerArgs {
    /// Client settings.
    pub fn config(&self) -> Result<KafkaConfig> {
        crate::job::kafka_client(&self.section())
    }
    /// As a job's `[kafka]` section.
    pub fn section(&self) -> crate::config::KafkaSection {
        crate::config::KafkaSection { brokers: Some(self.brokers.clone()), namespace: self.namespace.clone(), properties: self.properties.clone() }
    }
    /// Topic names.
    pub fn topics(&self) -> Topics {
        Topics { namespace: self.namespace.clone() }
    }
}

/// Kafka administration and loading.
#[derive(Subcommand)]
pub enum TopicsCmd {
    /// Create the namespace's topics: `trades`, `late`, `fills`, `equity`, `dlq`, `gaps`
    /// (retained) and `bars`, `orders`, `checkpoints` (compacted: the latest per key).
    Create(TopicsCreateArgs),
}

/// Flags of `topics create`.
#[derive(Args)]
pub struct TopicsCreateArgs {
    #[command(flatten)]
    brokers: BrokerArgs,
    /// Partitions per topic.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Retention of `trades`, `late` and `dlq` (e.g. 7d; default: the broker's).
    #[arg(long)]
    retention: Option<String>,
    /// Copies of each partition: 1 on a single broker, 3 on a cluster (with the brokers'
    /// `min.insync.replicas` at 2).
    #[arg(long, default_value_t = 1)]
    replication_factor: i32,
}

/// Runs `topics`.
pub fn topics(cmd: TopicsCmd) -> Result<()> {
    match cmd {
        TopicsCmd::Create(a) => {
            let cfg = a.brokers.config()?;
            let t = a.brokers.topics();
            let retention = a.retention.as_deref().map(crate::duration::parse_nanos).transpose()?.map(|ns| ns / 1_000_000);
            let topics = [
                ("trades", false, a.partitions),
                ("bars", true, a.partitions),
                ("late", false, a.partitions),
                ("orders", true, a.partitions),
                ("fills", false, a.partitions),
                ("equity", false, a.partitions),
                ("dlq", false, a.partitions),
                ("gaps", false, 1),
                // one record per perpetual and funding time
                ("funding", true, a.partitions),
                // one record per mark/index candle
                ("price_candles", true, a.partitions),
                // one partition: a job's checkpoints are read back whole on restore
                ("checkpoints", true, 1),
            ];
            for (name, compacted, partitions) in topics {
                let full = t.name(name);
                kafka::create_topic_replicated(&cfg, &full, partitions, a.replication_factor, compacted, if compacted { None } else { retention })?;
                println!("topic {full}: {partitions} partitions{}", if compacted { ", cleanup.policy=compact" } else { "" });
            }
            Ok(())
        }
    }
}

/// Flags of `publish`.
#[derive(Args)]
pub struct PublishArgs {
    /// Trade file(s) to load, CSV or Parquet.
    #[arg(short = 'i', long = "input", required = true)]
    inputs: Vec<String>,
    /// Target topic (default `<namespace>.trades`).
    #[arg(long)]
    topic: Option<String>,
    #[command(flatten)]
    brokers: BrokerArgs,
    #[command(flatten)]
    csv: crate::cli::CsvInputArgs,
}

/// Runs `publish`: trades from files into a topic, keyed by instrument, timestamped by event
/// time, in file order (so each partition holds each instrument's trades in order).
pub fn publish(a: PublishArgs) -> Result<()> {
    let cfg = a.brokers.config()?;
    let topic = a.topic.clone().unwrap_or_else(|| a.brokers.topics().name("trades"));
    // murmur2 keyed partitioning, as Java clients and Redpanda tooling do
    let mut cfg = cfg;
    cfg.extra.insert(0, ("partitioner".into(), "murmur2_random".into()));
    let mut sink = KafkaSink::new(&cfg, "tickflow-publish")?;
    let opts = a.csv.options();
    let start = std::time::Instant::now();
    let mut n = 0u64;
    let mut bad = 0u64;
    for path in &a.inputs {
        let mut r = TradeCsvReader::open(path, opts.clone())?;
        let mut rows = TradeRows::default();
        loop {
            rows.clear();
            let more = r.read_rows(&mut rows, 16_384)?;
            for i in 0..rows.len() {
                sink.send_trade(&topic, &rows.get(i))?;
            }
            n += rows.len() as u64;
            if !more {
                break;
            }
        }
        bad += r.bad_rows();
    }
    sink.flush(Duration::from_secs(60))?;
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    println!("published {n} trades to {topic} ({} acknowledged, {bad} bad rows skipped, {:.0} trades/s)", sink.delivered(), n as f64 / secs);
    Ok(())
}
