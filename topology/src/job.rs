//! A validated job: the inputs (one entry per partition), the bar semantics, the sinks and the
//! optional paper-trading stage, resolved from a [`JobConfig`] by [`Job::resolve`] with every
//! check made before a worker starts.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use tickflow_connectors::kafka::{self, KafkaConfig, StartAt, StopAt, Topics};
use tickflow_connectors::{TradeCsvOptions, TradeCsvReader};
use tickflow_model::{parse_timeframes, Ts};
use tickflow_operators::{AggregateConfig, FillPolicy, LatePolicy, SourceConfig, TradeFeed};

use crate::config::{JobConfig, KafkaSection, SinksSection};
use crate::duration::parse_nanos;
use crate::feeds::CsvFeed;
use crate::paper::PaperJob;

/// One input partition.
#[derive(Clone, Debug)]
pub enum InputSpec {
    /// A trade CSV file.
    Csv {
        /// Path.
        path: String,
        /// Reader options.
        opts: TradeCsvOptions,
    },
    /// A live venue session.
    Live {
        /// Connector settings.
        config: tickflow_connectors::live::LiveConfig,
        /// Stop after this many trades.
        max_trades: Option<u64>,
    },
    /// One partition of a Kafka trade topic.
    Kafka {
        /// Client settings.
        cfg: tickflow_connectors::kafka::KafkaConfig,
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Start position.
        start: tickflow_connectors::kafka::StartAt,
        /// End.
        stop: tickflow_connectors::kafka::StopAt,
        /// Dead-letter topic.
        dlq: Option<String>,
        /// Replay speed (`None`: as fast as possible).
        speed: Option<f64>,
        /// Shared pacing origin.
        anchor: crate::feeds::PaceAnchor,
        /// Consumer group whose offsets are used (`Committed` start) and committed at the end.
        group: Option<String>,
        /// Plausibility bound of event time over ingest time (ns): later records are dead letters.
        max_future: i64,
        /// Most distinct instruments of the partition: records of further ones are dead letters.
        max_instruments: usize,
    },
    /// Pre-built in-memory batches (the benchmarks' in-memory source), taken by the worker
    /// that owns the partition.
    Batches(std::sync::Arc<std::sync::Mutex<Vec<tickflow_model::TradeBatch>>>),
    /// In-memory trades in arrival order, read row by row like a topic partition (benchmarks).
    Trades(std::sync::Arc<std::sync::Mutex<Vec<tickflow_model::Trade>>>),
}

impl InputSpec {
    /// Opens this partition as a feed, on the worker that owns it: `progress` follows file
    /// bytes, `bad` counts skipped rows and dead-lettered records, `positions` receives Kafka end
    /// positions (committed by the caller once its sinks have flushed).
    pub fn open_feed(
        &self,
        partition: usize,
        progress: Option<ProgressBar>,
        bad: Arc<AtomicU64>,
        positions: crate::feeds::Positions,
    ) -> Result<Box<dyn TradeFeed>, String> {
        Ok(match self {
            InputSpec::Csv { path, opts } => {
                let r = TradeCsvReader::open(path, opts.clone()).map_err(|e| e.to_string())?;
                Box::new(CsvFeed::new(r, progress, bad))
            }
            InputSpec::Live { config, max_trades, .. } => Box::new(crate::feeds::LiveFeed::start(config.clone(), *max_trades)),
            InputSpec::Kafka { cfg, topic, partition, start, stop, dlq, speed, anchor, group, max_future, max_instruments } => {
                let r = tickflow_connectors::kafka::PartitionReader::open(cfg, topic, *partition, *start, *stop, dlq.clone(), group.as_deref())
                    .map_err(|e| e.to_string())?
                    .with_max_future(*max_future)
                    .with_max_instruments(*max_instruments);
                let live = *stop == tickflow_connectors::kafka::StopAt::Follow;
                let feed = crate::feeds::KafkaFeed::new(r, bad, positions, live);
                match speed {
                    Some(s) => Box::new(crate::feeds::Paced::new(feed, *s, anchor.clone())),
                    None => Box::new(feed),
                }
            }
            InputSpec::Batches(b) => {
                let batches = std::mem::take(&mut *b.lock().map_err(|_| "poisoned input".to_string())?);
                Box::new(tickflow_operators::BatchFeed::new(format!("memory#{partition}"), batches))
            }
            InputSpec::Trades(t) => {
                let trades = std::mem::take(&mut *t.lock().map_err(|_| "poisoned input".to_string())?);
                Box::new(tickflow_operators::VecFeed::new(format!("memory#{partition}"), trades))
            }
        })
    }
}

/// A validated bar aggregation job: what [`crate::runner::run`] executes.
#[derive(Clone, Debug)]
pub struct Job {
    /// Input partitions.
    pub inputs: Vec<InputSpec>,
    /// Aggregation settings.
    pub agg: AggregateConfig,
    /// Source settings.
    pub source: SourceConfig,
    /// Bar output file (CSV or JSON lines by extension); `None` discards bars.
    pub bars_out: Option<String>,
    /// Late-trade output file.
    pub late_out: Option<String>,
    /// Show a progress bar for file inputs.
    pub progress: bool,
    /// Keep the last N bars in the report (for display).
    pub keep_tail: usize,
    /// Also write bars to this Kafka topic.
    pub bars_topic: Option<(tickflow_connectors::kafka::KafkaConfig, String)>,
    /// Also write late trades to this Kafka topic.
    pub late_topic: Option<(tickflow_connectors::kafka::KafkaConfig, String)>,
    /// Also write every trade read to this Kafka topic (each worker its own partitions' trades).
    pub trades_topic: Option<(tickflow_connectors::kafka::KafkaConfig, String)>,
    /// Also write trades, bars and late trades to QuestDB.
    pub questdb: Option<QuestDbTarget>,
    /// Paper-trade strategies on the bars.
    pub paper: Option<PaperJob>,
    /// Aggregate where trades are read (each instrument in one input partition) instead of
    /// exchanging them by instrument.
    pub routing: tickflow_operators::Routing,
    /// Topic jobs with a consumer group: checkpoint while running, restore on `--resume`.
    pub checkpoint: Option<crate::checkpoint::CheckpointSpec>,
    /// Restore from the latest checkpoint (`--resume`).
    pub restore: bool,
    /// Set by the runner: the checkpoint restored and the first boundary.
    pub plan: Option<crate::checkpoint::Plan>,
    /// Bar kinds beside the time bars (`[bars] kinds`, `--bars`).
    pub bar_kinds: Vec<tickflow_model::BarKind>,
}

impl Job {
    /// A job over `inputs` with no sink but the report (callers set the sinks they want).
    pub fn new(inputs: Vec<InputSpec>, agg: AggregateConfig, source: SourceConfig) -> Self {
        Job {
            inputs,
            agg,
            source,
            bars_out: None,
            late_out: None,
            progress: false,
            keep_tail: 0,
            bars_topic: None,
            late_topic: None,
            trades_topic: None,
            questdb: None,
            paper: None,
            routing: tickflow_operators::Routing::ByInstrument,
            checkpoint: None,
            restore: false,
            plan: None,
            bar_kinds: Vec::new(),
        }
    }
}

/// The Kafka client of `[kafka]`: its brokers (else `$KAFKA_BROKERS`, else `127.0.0.1:9092`) and
/// `key=value` properties.
///
/// Credentials need not appear on a command line (visible in `ps`) or in a file under version
/// control: a property value `@file:PATH` is read from that file (a Docker/Kubernetes secret),
/// and `$KAFKA_SASL_USERNAME`, `$KAFKA_SASL_PASSWORD` or `$KAFKA_SASL_PASSWORD_FILE` set
/// `sasl.username`/`sasl.password` unless a property does. Secret values never reach logs
/// (`KafkaConfig`'s `Debug` shows `***`).
pub fn kafka_client(k: &KafkaSection) -> Result<KafkaConfig> {
    kafka_client_with(k, |name| std::env::var(name).ok().filter(|s| !s.is_empty()))
}

/// [`kafka_client`] with an explicit environment (tests).
pub fn kafka_client_with(k: &KafkaSection, env: impl Fn(&str) -> Option<String>) -> Result<KafkaConfig> {
    let brokers = k.brokers.clone().or_else(|| env("KAFKA_BROKERS")).unwrap_or_else(|| "127.0.0.1:9092".into());
    let read_secret = |key: &str, path: &str| -> Result<String> {
        let v = std::fs::read_to_string(path).with_context(|| format!("reading the value of {key} from {path}"))?;
        Ok(v.trim_end_matches(['\n', '\r']).to_string())
    };
    let mut extra: Vec<(String, String)> = k
        .properties
        .iter()
        .map(|p| {
            // (the value may be a credential: only a short prefix of the key is echoed)
            let (key, v) = p.split_once('=').with_context(|| {
                let shown: String = p.split([':', '=', ' ']).next().unwrap_or("").chars().take(40).collect();
                format!("--kafka-property starting {shown:?} is not key=value (value not shown)")
            })?;
            let (key, v) = (key.trim().to_string(), v.trim());
            let v = match v.strip_prefix("@file:") {
                Some(path) => read_secret(&key, path)?,
                None => v.to_string(),
            };
            Ok((key, v))
        })
        .collect::<Result<_>>()?;
    let has = |extra: &[(String, String)], key: &str| extra.iter().any(|(k, _)| k == key);
    if let Some(u) = env("KAFKA_SASL_USERNAME").filter(|_| !has(&extra, "sasl.username")) {
        extra.push(("sasl.username".into(), u));
    }
    if !has(&extra, "sasl.password") {
        let password = match (env("KAFKA_SASL_PASSWORD"), env("KAFKA_SASL_PASSWORD_FILE")) {
            (Some(p), _) => Some(p),
            (None, Some(path)) => Some(read_secret("sasl.password", &path)?),
            (None, None) => None,
        };
        if let Some(p) = password {
            extra.push(("sasl.password".into(), p));
        }
    }
    Ok(KafkaConfig { brokers, extra })
}

/// `--speed`: `max` or `<N>x`.
pub fn parse_speed(s: &str) -> Result<Option<f64>> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("max") {
        return Ok(None);
    }
    let n: f64 = s.strip_suffix('x').unwrap_or(s).parse().with_context(|| format!("--speed {s:?}: expected max or e.g. 1x, 100x"))?;
    if !(n.is_finite() && n > 0.0) {
        bail!("--speed must be positive");
    }
    Ok(Some(n))
}

/// A duration flag of at least 1 ns (idle timeouts, stale-feed limits).
fn at_least_1ns(s: &str) -> Result<std::time::Duration> {
    Ok(std::time::Duration::from_nanos(parse_nanos(s)?.max(1) as u64))
}

impl Job {
    /// Validates `cfg` into a job. Topic sources ask the brokers for the topic's partitions; the
    /// ingest time of file rows is recorded now, once.
    pub fn resolve(cfg: &JobConfig) -> Result<Job> {
        Self::build(cfg, true)
    }

    /// Makes every check of [`Self::resolve`] that needs no network (a dry run): topic sources
    /// are not asked for their partitions.
    pub fn check(cfg: &JobConfig) -> Result<()> {
        Self::build(cfg, false).map(drop)
    }

    fn build(cfg: &JobConfig, online: bool) -> Result<Job> {
        let (s, b) = (&cfg.source, &cfg.bars);
        let timeframes = parse_timeframes(&b.timeframes.join(","))?;
        let mut agg = AggregateConfig::new(timeframes.clone());
        agg.fill = b.fill.parse::<FillPolicy>()?;
        agg.late = b.late.parse::<LatePolicy>()?;
        agg.allowed_lateness = parse_nanos(&b.allowed_lateness)?;
        agg.max_carry_windows = b.max_carry_windows;
        let max_future = parse_nanos(&s.max_future).context("max_future")?;
        if max_future < 0 {
            bail!("--max-future must not be negative");
        }
        let mut source = SourceConfig { out_of_orderness: parse_nanos(&b.out_of_orderness)?, ..Default::default() };
        let topics = Topics { namespace: cfg.kafka.namespace.clone() };
        if s.resume && s.group.is_none() {
            bail!("--resume needs --group (the consumer group whose offsets to start from)");
        }
        if s.resume && s.from.is_some() {
            bail!("--resume and --from exclude each other");
        }
        let inputs = match s.kind.as_str() {
            "files" => {
                if s.files.is_empty() {
                    bail!("no input: give --input FILE (or [source] files), --source VENUE or --kafka-topic TOPIC");
                }
                let opts = TradeCsvOptions {
                    default_symbol: s.symbol.clone(),
                    exchange: s.exchange.clone(),
                    skip_bad: s.skip_bad,
                    ingest_ts: Ts::now(),
                    max_future,
                    max_instruments: s.max_instruments,
                    ..Default::default()
                };
                s.files.iter().map(|p| InputSpec::Csv { path: p.clone(), opts: opts.clone() }).collect()
            }
            "kafka" => {
                let topic = s.topic.as_deref().context("[source] kind = \"kafka\" needs topic (--kafka-topic)")?;
                if s.follow {
                    // following a topic is live: quiet partitions must not hold bars back forever
                    source.idle_timeout = Some(at_least_1ns(&s.idle_timeout)?);
                }
                kafka_inputs(cfg, topic, online)?
            }
            "live" => {
                let venue = s.venue.as_deref().context("[source] kind = \"live\" needs venue (--source)")?;
                source.idle_timeout = Some(at_least_1ns(&s.idle_timeout)?);
                vec![InputSpec::Live { config: live_config(venue, s)?, max_trades: s.max_trades }]
            }
            other => bail!("[source] kind = {other:?}: expected files, kafka or live"),
        };
        let bars_file = cfg.sinks.bars_file.clone().context("no bar output: give --out FILE (or [sinks] bars_file)")?;
        let topic = |t: &Option<String>| -> Result<Option<(KafkaConfig, String)>> {
            Ok(match t {
                Some(t) => Some((kafka_client(&cfg.kafka)?, t.clone())),
                None => None,
            })
        };
        let questdb = match cfg.sinks.questdb {
            true => Some(QuestDbTarget::of(&cfg.sinks)?),
            false => None,
        };
        let paper = match &cfg.strategy {
            Some(st) => Some(PaperJob::resolve(st, &timeframes, || Ok((kafka_client(&cfg.kafka)?, topics.clone())))?),
            None => None,
        };
        let checkpoint = match (s.kind.as_str(), &s.group, cfg.run.checkpoint_store.as_str()) {
            (_, _, "off") | (_, None, _) => None,
            ("kafka", Some(group), store) => {
                let interval = parse_nanos(&cfg.run.checkpoint_interval).context("checkpoint_interval")?;
                if interval < 1_000_000 {
                    bail!("checkpoint_interval must be at least 1ms of event time (got {})", cfg.run.checkpoint_interval);
                }
                let client = kafka_client(&cfg.kafka)?;
                let store = crate::checkpoint::StoreSpec::parse(store, Some((client.clone(), topics.name("checkpoints"))))?;
                // paper trading: the runs (strategy, parameters, broker, sizer) and the timeframe
                let paper_settings = match &paper {
                    Some(p) => format!(
                        " strategy_timeframe={} runs=[{}]",
                        p.timeframe,
                        p.runs.iter().map(|r| format!("{} {:?} {:?}", crate::sim::run_id(r), r.broker, r.sizer)).collect::<Vec<_>>().join("; ")
                    ),
                    None => String::new(),
                };
                let settings = format!(
                    "timeframes={} fill={:?} late={:?} allowed_lateness={} out_of_orderness={} dedup_retention={} carry_trailing={}{paper_settings}",
                    b.timeframes.join(","),
                    agg.fill,
                    agg.late,
                    agg.allowed_lateness,
                    source.out_of_orderness,
                    agg.dedup_retention,
                    agg.carry_trailing
                );
                // only a non-default bound is named, so checkpoints of earlier builds still restore
                let settings = match agg.max_carry_windows {
                    tickflow_operators::bars::DEFAULT_MAX_CARRY_WINDOWS => settings,
                    n => format!("{settings} max_carry_windows={n}"),
                };
                let wall = std::time::Duration::from_nanos(parse_nanos(&cfg.run.checkpoint_wall_interval).context("checkpoint_wall_interval")?.max(0) as u64);
                Some(crate::checkpoint::CheckpointSpec { job: group.clone(), store, interval, wall, settings, commit: Some((client, group.clone())) })
            }
            _ => None,
        };
        let bar_kinds = tickflow_model::parse_bar_kinds(&b.kinds.join(","))?;
        if bar_kinds.contains(&tickflow_model::BarKind::Time) {
            bail!("--bars time: time bars are always built (their timeframes are --timeframes)");
        }
        if checkpoint.is_some() && !bar_kinds.is_empty() {
            bail!(
                "--bars {} with checkpoints: information-driven and Heikin-Ashi bars are not checkpointed yet; run without --group (or with --checkpoint-store off)",
                b.kinds.join(",")
            );
        }
        Ok(Job {
            inputs,
            agg,
            source,
            // every process builds the same dataflow; only global worker 0 writes the files
            bars_out: Some(bars_file),
            late_out: cfg.sinks.late_file.clone(),
            progress: cfg.run.progress,
            keep_tail: 0,
            bars_topic: topic(&cfg.sinks.bars_topic)?,
            late_topic: topic(&cfg.sinks.late_topic)?,
            trades_topic: topic(&cfg.sinks.trades_topic)?,
            questdb,
            paper,
            routing: if s.keyed_partitions { tickflow_operators::Routing::Local } else { Default::default() },
            checkpoint,
            restore: s.resume,
            plan: None,
            bar_kinds,
        })
    }
}

/// One input per partition of `topic` with the positions, speed and group of `[source]`, in
/// partition order (none when not `online`: the brokers are not asked).
pub fn kafka_inputs(cfg: &JobConfig, topic: &str, online: bool) -> Result<Vec<InputSpec>> {
    let s = &cfg.source;
    let topics = Topics { namespace: cfg.kafka.namespace.clone() };
    let client = kafka_client(&cfg.kafka)?;
    let start = match (&s.from, s.resume) {
        (_, true) => StartAt::Committed,
        (Some(t), false) => StartAt::Time(t.parse::<Ts>().context("--from")?),
        (None, false) => StartAt::Beginning,
    };
    let stop = match (&s.to, s.follow) {
        (_, true) => StopAt::Follow,
        (Some(t), false) => StopAt::Time(t.parse::<Ts>().context("--to")?),
        (None, false) => StopAt::HighWatermark,
    };
    let speed = parse_speed(&s.speed)?;
    let max_future = parse_nanos(&s.max_future).context("max_future")?.max(0);
    let dlq = Some(s.dlq_topic.clone().unwrap_or_else(|| topics.name("dlq")));
    let n = if online { kafka::partitions(&client, topic)? } else { 0 };
    let anchor = crate::feeds::PaceAnchor::new(match start {
        StartAt::Time(t) => Some(t),
        _ => None,
    });
    Ok((0..n)
        .map(|p| InputSpec::Kafka {
            cfg: client.clone(),
            topic: topic.to_string(),
            partition: p,
            start,
            stop,
            dlq: dlq.clone(),
            speed,
            anchor: anchor.clone(),
            group: s.group.clone(),
            max_future,
            max_instruments: s.max_instruments,
        })
        .collect())
}

/// A resolved QuestDB destination.
#[derive(Clone, Debug)]
pub struct QuestDbTarget {
    /// Connection.
    pub conf: tickflow_connectors::questdb::QuestDbConf,
    /// Flushing, retries, prefix.
    pub policy: tickflow_connectors::questdb::FlushPolicy,
}

impl QuestDbTarget {
    /// From a client configuration string, a table prefix and an outage limit.
    pub fn parse(conf: &str, prefix: &str, max_outage: &str) -> Result<QuestDbTarget> {
        let conf = tickflow_connectors::questdb::QuestDbConf::parse(conf).map_err(|e| anyhow::anyhow!("--questdb-conf / QDB_CLIENT_CONF: {e}"))?;
        let max_outage = std::time::Duration::from_nanos(parse_nanos(max_outage)?.max(0) as u64);
        Ok(QuestDbTarget { conf, policy: tickflow_connectors::questdb::FlushPolicy { max_outage, table_prefix: prefix.to_string(), ..Default::default() } })
    }

    /// The destination of a job's `[sinks]`: its `questdb_conf` (else `$QDB_CLIENT_CONF`, else
    /// `http::addr=127.0.0.1:9000;`), prefix and outage limit.
    pub fn of(s: &SinksSection) -> Result<QuestDbTarget> {
        let conf = s.questdb_conf.clone().or_else(|| std::env::var("QDB_CLIENT_CONF").ok().filter(|c| !c.is_empty()));
        Self::parse(conf.as_deref().unwrap_or("http::addr=127.0.0.1:9000;"), &s.questdb_prefix, &s.questdb_max_outage)
    }
}

/// The live session of `venue` for the `[source]` keys `symbols`, `ws_url`, `rest_url`,
/// `stale_after`, `market` and `api_key_file` (venues that need a key: the file, else
/// `$CRYPTOCOMPARE_API_KEY`).
pub fn live_config(venue: &str, s: &crate::config::SourceSection) -> Result<tickflow_connectors::live::LiveConfig> {
    use tickflow_connectors::venues::{self, Operation};
    if s.symbols.is_empty() {
        bail!("--symbols is required, e.g. --symbols BTC/USDT,ETH/USDT");
    }
    let symbols: Vec<&str> = s.symbols.iter().map(String::as_str).collect();
    let live = venues::for_markets(venue, Operation::Stream, &symbols)?.live().context("no live protocol")?;
    // a session streams one endpoint: spot and each perpetual kind have their own
    let kinds: std::collections::BTreeSet<tickflow_model::MarketKind> = symbols.iter().map(|s| tickflow_model::MarketKind::of(s)).collect::<Result<_, _>>()?;
    if kinds.len() > 1 {
        let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
        bail!("--symbols mixes {} markets; a live session streams one market kind (use one --feed per kind, or one job each)", names.join(" and "));
    }
    if let Some(kind) = kinds.first() {
        let cap = live.max_markets(*kind);
        if symbols.len() > cap {
            bail!("{venue} streams at most {cap} {kind} markets per connection ({} given): `tickflow ingest --feed` splits them into sessions", symbols.len());
        }
    }
    let mut cfg = tickflow_connectors::live::LiveConfig::for_venue(venue, s.symbols.clone())?;
    if let Some(default) = live.default_exchange() {
        cfg.exchange = s.market.clone().unwrap_or_else(|| default.into()).to_ascii_lowercase();
    }
    if live.needs_api_key() {
        let Some(key) = api_key(s.api_key_file.as_deref())? else {
            bail!("--source {venue} needs an API key: --api-key-file FILE or $CRYPTOCOMPARE_API_KEY");
        };
        cfg.api_key = Some(tickflow_connectors::http::Secret::new(key));
    }
    for sym in &s.symbols {
        tickflow_model::Instrument::new(&cfg.exchange, sym)?;
    }
    if let Some(u) = &s.ws_url {
        cfg.ws_url = u.clone();
    }
    if let Some(u) = &s.rest_url {
        cfg.rest_url = u.clone();
    }
    cfg.stale_after = at_least_1ns(&s.stale_after)?;
    cfg.max_future = parse_nanos(&s.max_future).context("max_future")?.max(0);
    cfg.retry = tickflow_connectors::http::RetryPolicy::default();
    Ok(cfg)
}

/// The CryptoCompare/CoinDesk API key: from `file`, else `$CRYPTOCOMPARE_API_KEY`; blank is none.
/// The key is never printed or logged.
pub fn api_key(file: Option<&str>) -> Result<Option<String>> {
    let key = match file {
        Some(f) => Some(std::fs::read_to_string(f).with_context(|| format!("--api-key-file {f}"))?),
        None => std::env::var("CRYPTOCOMPARE_API_KEY").ok(),
    };
    Ok(key.map(|k| k.trim().to_string()).filter(|k| !k.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka credentials come from secret files or the environment, never need a command line,
    /// and never show in logs.
    #[test]
    fn kafka_credentials_from_files_and_env_are_redacted_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("pw");
        std::fs::write(&secret, "s3cr3t-from-file\n").unwrap();
        let k = KafkaSection {
            brokers: Some("b:9092".into()),
            properties: vec!["security.protocol=SASL_SSL".into(), format!("ssl.key.password=@file:{}", secret.display())],
            ..Default::default()
        };
        let env = |name: &str| match name {
            "KAFKA_SASL_USERNAME" => Some("alice".to_string()),
            "KAFKA_SASL_PASSWORD" => Some("env-pass".to_string()),
            _ => None,
        };
        let c = kafka_client_with(&k, env).unwrap();
        let get = |key: &str| c.extra.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        assert_eq!(get("ssl.key.password").as_deref(), Some("s3cr3t-from-file"));
        assert_eq!(get("sasl.username").as_deref(), Some("alice"));
        assert_eq!(get("sasl.password").as_deref(), Some("env-pass"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cr3t") && !shown.contains("env-pass"), "{shown}");
        assert!(shown.contains("alice") && shown.contains("SASL_SSL") && shown.contains("***"), "{shown}");
        // a password file from the environment; a property given explicitly wins
        let pwfile = secret.display().to_string();
        let env2 = |name: &str| (name == "KAFKA_SASL_PASSWORD_FILE").then(|| pwfile.clone());
        let c = kafka_client_with(&KafkaSection::default(), env2).unwrap();
        assert_eq!(c.extra, [("sasl.password".to_string(), "s3cr3t-from-file".to_string())]);
        let explicit = KafkaSection { properties: vec!["sasl.password=given".into()], ..Default::default() };
        let c = kafka_client_with(&explicit, env).unwrap();
        assert_eq!(c.extra.iter().filter(|(k, _)| k == "sasl.password").count(), 1);
        // a malformed property does not echo its value; a missing secret file is an error
        let bad = KafkaSection { properties: vec!["sasl.password:hunter2".into()], ..Default::default() };
        let e = format!("{:#}", kafka_client_with(&bad, |_| None).unwrap_err());
        assert!(!e.contains("hunter2"), "{e}");
        let missing = KafkaSection { properties: vec!["sasl.password=@file:/nonexistent/pw".into()], ..Default::default() };
        assert!(format!("{:#}", kafka_client_with(&missing, |_| None).unwrap_err()).contains("/nonexistent/pw"));
    }
}
