//! The job configuration: **the single source of truth** for what a run does.
//!
//! A topology file (`tickflow run --config topology.toml`), the command-line flags of
//! `aggregate`/`replay`/`run` ([`crate::cli::flags::JobFlags`]) and `TICKFLOW__SECTION__KEY`
//! environment variables all produce one [`JobConfig`]; [`crate::job::Job::resolve`] validates it
//! into a runnable job. Precedence, lowest first: the defaults below, the file, the environment,
//! the flags. Flags map onto keys (they are never turned back into a command line to run), and
//! [`crate::cli::run::command_line`] prints the equivalent `aggregate` command for `run --dry-run`.
//!
//! ```toml
//! [source]
//! kind = "kafka"                # files | kafka | live
//! topic = "tickflow.trades"     # kafka: topic, from, to, follow, speed, group, resume, dlq_topic
//! speed = "max"
//! # files = ["trades.csv"]      # files: files, symbol, exchange, skip_bad
//! # venue = "binance"           # live: venue, symbols, ws_url, rest_url, stale_after,
//! # symbols = ["BTC/USDT"]      #       max_trades (market, api_key_file for cryptocompare)
//! # idle_timeout = "2s"         # live and followed topics: advance the watermark when quiet
//! # keyed_partitions = false    # each input partition holds whole instruments
//! # max_future = "5m"           # refuse trades stamped further than this after ingest
//! # max_instruments = 100000    # most distinct instruments per file or partition
//!
//! [bars]
//! timeframes = ["1m", "5m", "1h"]
//! fill = "carry"                # none | carry
//! late = "revise"               # drop | revise
//! out_of_orderness = "2s"
//! allowed_lateness = "1h"
//! # max_carry_windows = 10000   # a longer gap is counted, not carried bar by bar
//! # kinds = ["tick:1000", "volume:50", "dollar:1e6", "renko:10", "heikinashi"]
//! #                             # information-driven and Heikin-Ashi bars beside the time bars
//!
//! [sinks]
//! bars_file = "bars.csv"
//! late_file = "late.csv"
//! bars_topic = "tickflow.bars"
//! late_topic = "tickflow.late"
//! trades_topic = "tickflow.trades"   # every trade read, for later replays
//! questdb = true                # trades, bars, late trades to QuestDB (QDB_CLIENT_CONF)
//! # questdb_prefix = "paper_"
//!
//! [kafka]
//! brokers = "redpanda:9092"     # default: $KAFKA_BROKERS, else 127.0.0.1:9092
//! namespace = "tickflow"
//!
//! [run]
//! checkpoint_interval = "1m"   # topic jobs with a group: event time between checkpoints,
//! checkpoint_wall_interval = "10s"  # and at least this much wall time
//! checkpoint_store = "kafka"    # kafka (<namespace>.checkpoints) | dir:PATH | off
//!
//! [cluster]
//! workers = 2
//! # processes = 2              # cluster mode: the same file on every process, each with its
//! # hostfile = "hosts.txt"     # own TICKFLOW__CLUSTER__PROCESS=<i>
//!
//! [strategy]                    # optional: paper trading on the bars as they close
//! name = "sma_cross"
//! params = ["fast=10", "slow=30"]
//! timeframe = "1m"              # one of [bars] timeframes (default: the first)
//! cash = "100000"
//! commission = "0.001"
//! sizer = "percent:10"
//! events_file = "paper.jsonl"   # orders, fills, equity, summary as JSON lines
//! publish = true                # <namespace>.orders/.fills/.equity (and QuestDB with questdb = true)
//! ```
//!
//! Any value can be overridden with `TICKFLOW__<SECTION>__<KEY>` (e.g.
//! `TICKFLOW__KAFKA__BROKERS=127.0.0.1:9092`, `TICKFLOW__CLUSTER__WORKERS=4`); lists are
//! comma-separated there.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// A whole job. `Default` is what `aggregate` does with no flags but its required ones.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// Where trades come from.
    pub source: SourceSection,
    /// Bar semantics.
    #[serde(default)]
    pub bars: BarsSection,
    /// Where results go.
    #[serde(default)]
    pub sinks: SinksSection,
    /// Kafka client settings (topic sources and sinks).
    #[serde(default)]
    pub kafka: KafkaSection,
    /// Workers and processes.
    #[serde(default)]
    pub cluster: ClusterSection,
    /// Paper trading on the bars as they close.
    #[serde(default)]
    pub strategy: Option<StrategySection>,
    /// Presentation of the run.
    #[serde(default)]
    pub run: RunSection,
}

/// `[source]`: one of trade files, a Kafka topic or a live venue.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    /// `files`, `kafka` or `live`.
    pub kind: String,
    /// files: trade files (CSV or Parquet), one partition each.
    #[serde(default)]
    pub files: Vec<String>,
    /// files: symbol for files without a symbol column.
    #[serde(default)]
    pub symbol: Option<String>,
    /// files: exchange id for files without an exchange column.
    #[serde(default = "default_exchange")]
    pub exchange: String,
    /// files: skip and count malformed rows instead of failing.
    #[serde(default)]
    pub skip_bad: bool,
    /// Every source: how far a trade's event time may lie after its ingest time (and the wall
    /// clock); a later one is a bad row, a dead letter or a rejected frame, never a watermark jump.
    #[serde(default = "default_max_future")]
    pub max_future: String,
    /// files and kafka: most distinct instruments per file or partition; further ones are bad
    /// rows or dead letters (per-instrument state stays bounded).
    #[serde(default = "default_max_instruments")]
    pub max_instruments: usize,
    /// kafka: the trade topic.
    #[serde(default)]
    pub topic: Option<String>,
    /// kafka: start at the first record at or after this time.
    #[serde(default)]
    pub from: Option<String>,
    /// kafka: stop before the first trade at or after this event time.
    #[serde(default)]
    pub to: Option<String>,
    /// kafka: keep reading new records.
    #[serde(default)]
    pub follow: bool,
    /// kafka: `max` or `<N>x` event-time speed.
    #[serde(default = "default_speed")]
    pub speed: String,
    /// kafka: consumer group to commit to.
    #[serde(default)]
    pub group: Option<String>,
    /// kafka: restore the group's latest checkpoint (else start at its committed offsets). In a
    /// topology file a source with a `group` (and no `from`) resumes unless it says `resume = false`.
    #[serde(default)]
    pub resume: bool,
    /// kafka: dead-letter topic (default `<namespace>.dlq`).
    #[serde(default)]
    pub dlq_topic: Option<String>,
    /// live: the venue id.
    #[serde(default)]
    pub venue: Option<String>,
    /// live: CCXT symbols.
    #[serde(default)]
    pub symbols: Vec<String>,
    /// live: WebSocket base URL (default: the venue's).
    #[serde(default)]
    pub ws_url: Option<String>,
    /// live: REST base URL for gap-fill (default: the venue's).
    #[serde(default)]
    pub rest_url: Option<String>,
    /// live: reconnect when the feed is silent this long.
    #[serde(default = "default_stale_after")]
    pub stale_after: String,
    /// live: stop after this many trades.
    #[serde(default)]
    pub max_trades: Option<u64>,
    /// live, cryptocompare: the exchange whose trades to stream.
    #[serde(default)]
    pub market: Option<String>,
    /// live, cryptocompare: file holding the API key.
    #[serde(default)]
    pub api_key_file: Option<String>,
    /// live and followed topics: advance the watermark after this long without trades.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: String,
    /// Each input partition holds whole instruments: aggregate where they are read.
    #[serde(default)]
    pub keyed_partitions: bool,
}

impl Default for SourceSection {
    fn default() -> Self {
        SourceSection {
            kind: "files".into(),
            files: Vec::new(),
            symbol: None,
            exchange: default_exchange(),
            skip_bad: false,
            max_future: default_max_future(),
            max_instruments: default_max_instruments(),
            topic: None,
            from: None,
            to: None,
            follow: false,
            speed: default_speed(),
            group: None,
            resume: false,
            dlq_topic: None,
            venue: None,
            symbols: Vec::new(),
            ws_url: None,
            rest_url: None,
            stale_after: default_stale_after(),
            max_trades: None,
            market: None,
            api_key_file: None,
            idle_timeout: default_idle_timeout(),
            keyed_partitions: false,
        }
    }
}

/// `[bars]`: windows, fill, lateness.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BarsSection {
    /// Timeframes, e.g. `["1m", "5m", "1h"]`.
    pub timeframes: Vec<String>,
    /// `none` or `carry`.
    pub fill: String,
    /// `drop` or `revise`.
    pub late: String,
    /// Allowed disorder before a trade counts as late.
    pub out_of_orderness: String,
    /// How far below the watermark a late trade may still revise bars.
    pub allowed_lateness: String,
    /// fill `carry`: the longest gap (in windows) carried bar by bar; a longer one is counted
    /// (`tickflow_carry_gaps_total`) and left empty.
    pub max_carry_windows: u64,
    /// Bar kinds beside the time bars (`tick:1000`, `volume:50`, `dollar:1e6`, `tib:100`,
    /// `renko:10`, `heikinashi`, …; see [`tickflow_model::BarKind`]).
    pub kinds: Vec<String>,
}

impl Default for BarsSection {
    fn default() -> Self {
        BarsSection {
            timeframes: vec!["1m".into()],
            fill: "none".into(),
            late: "drop".into(),
            out_of_orderness: default_zero(),
            allowed_lateness: "1h".into(),
            max_carry_windows: tickflow_operators::bars::DEFAULT_MAX_CARRY_WINDOWS,
            kinds: Vec::new(),
        }
    }
}

/// `[sinks]`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SinksSection {
    /// Bar file (`.csv`, or `.jsonl`); required.
    pub bars_file: Option<String>,
    /// Late-trade CSV.
    pub late_file: Option<String>,
    /// Bars topic.
    pub bars_topic: Option<String>,
    /// Late-trade topic.
    pub late_topic: Option<String>,
    /// Every trade read, to this topic.
    pub trades_topic: Option<String>,
    /// Trades, bars and late trades to QuestDB.
    pub questdb: bool,
    /// QuestDB client configuration (default: `$QDB_CLIENT_CONF`, else `http::addr=127.0.0.1:9000;`).
    pub questdb_conf: Option<String>,
    /// QuestDB table name prefix.
    pub questdb_prefix: String,
    /// Give up when QuestDB stays unreachable this long.
    pub questdb_max_outage: String,
}

impl Default for SinksSection {
    fn default() -> Self {
        SinksSection {
            bars_file: None,
            late_file: None,
            bars_topic: None,
            late_topic: None,
            trades_topic: None,
            questdb: false,
            questdb_conf: None,
            questdb_prefix: String::new(),
            questdb_max_outage: "10m".into(),
        }
    }
}

/// `[kafka]`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSection {
    /// Brokers (default: `$KAFKA_BROKERS`, else `127.0.0.1:9092`).
    pub brokers: Option<String>,
    /// Topic namespace.
    pub namespace: String,
    /// Extra client properties, `key=value`.
    pub properties: Vec<String>,
}

impl Default for KafkaSection {
    fn default() -> Self {
        KafkaSection { brokers: None, namespace: "tickflow".into(), properties: Vec::new() }
    }
}

/// `[cluster]`: timely's workers and processes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSection {
    /// Worker threads per process.
    pub workers: usize,
    /// Processes.
    pub processes: usize,
    /// This process, 0-based.
    pub process: usize,
    /// One `host:port` per process.
    pub hostfile: Option<String>,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection { workers: 1, processes: 1, process: 0, hostfile: None }
    }
}

impl ClusterSection {
    /// As timely's flags.
    pub fn args(&self) -> crate::cluster::ClusterArgs {
        crate::cluster::ClusterArgs { workers: self.workers, processes: self.processes, process: self.process, hostfile: self.hostfile.clone() }
    }
}

/// `[strategy]`: paper trading.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StrategySection {
    /// Strategy name.
    pub name: String,
    /// Parameters, `k=v` (a sweep expands).
    #[serde(default)]
    pub params: Vec<String>,
    /// The traded timeframe (default: the first of `[bars] timeframes`).
    #[serde(default)]
    pub timeframe: Option<String>,
    /// Starting cash.
    #[serde(default = "default_cash")]
    pub cash: String,
    /// Commission as a fraction of value.
    #[serde(default = "default_zero")]
    pub commission: String,
    /// `percent:P` or `fixed:X`.
    #[serde(default)]
    pub slippage: Option<String>,
    /// `fixed:N`, `percent:P` or `all-in`.
    #[serde(default = "default_sizer")]
    pub sizer: String,
    /// Strategy events as JSON lines.
    #[serde(default)]
    pub events_file: Option<String>,
    /// Orders, fills and equity to `<namespace>.orders/.fills/.equity`.
    #[serde(default)]
    pub publish: bool,
    /// Perpetuals and futures: leverage (initial margin = notional ÷ leverage) [default: 1].
    #[serde(default)]
    pub leverage: Option<String>,
    /// Perpetuals and futures: maintenance margin rate for isolated liquidation [default: 0].
    #[serde(default)]
    pub maintenance_margin: Option<String>,
    /// Perpetuals and futures: contract size (base units, linear; quote units, inverse) [default: 1].
    #[serde(default)]
    pub contract_size: Option<String>,
    /// Funding-rate file (`fetch funding` or `stream --funding` output) applied to open
    /// perpetual positions at each funding time the bars pass.
    #[serde(default)]
    pub funding: Option<String>,
}

impl StrategySection {
    /// A strategy with default broker settings.
    pub fn named(name: &str) -> Self {
        StrategySection {
            name: name.to_string(),
            params: Vec::new(),
            timeframe: None,
            cash: default_cash(),
            commission: default_zero(),
            slippage: None,
            sizer: default_sizer(),
            events_file: None,
            publish: false,
            leverage: None,
            maintenance_margin: None,
            contract_size: None,
            funding: None,
        }
    }
}

/// `[run]`: presentation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RunSection {
    /// Progress bar (files) or spinner (topics, live) on stderr.
    pub progress: bool,
    /// Topic jobs with a consumer group: event time between checkpoints.
    pub checkpoint_interval: String,
    /// ... and at least this much wall time (replays at speed cover many intervals a second).
    pub checkpoint_wall_interval: String,
    /// Where checkpoints go: `kafka` (the topic `<namespace>.checkpoints`), `dir:PATH`, or
    /// `off` (then a group run commits its end positions and a resume starts fresh state).
    pub checkpoint_store: String,
}

impl Default for RunSection {
    fn default() -> Self {
        RunSection { progress: true, checkpoint_interval: "1m".into(), checkpoint_wall_interval: "10s".into(), checkpoint_store: "kafka".into() }
    }
}

fn default_exchange() -> String {
    "unknown".into()
}
fn default_speed() -> String {
    "max".into()
}
fn default_stale_after() -> String {
    "30s".into()
}
fn default_max_instruments() -> usize {
    tickflow_connectors::DEFAULT_MAX_INSTRUMENTS
}

fn default_max_future() -> String {
    "5m".into()
}

fn default_idle_timeout() -> String {
    "2s".into()
}
fn default_zero() -> String {
    "0".into()
}
fn default_cash() -> String {
    "100000".into()
}
fn default_sizer() -> String {
    "percent:95".into()
}

/// Keys whose environment override is a comma-separated list.
const LIST_KEYS: &[&str] = &["files", "symbols", "timeframes", "kinds", "params", "properties"];

impl JobConfig {
    /// Reads a topology file and applies the `TICKFLOW__SECTION__KEY` variables of `vars`.
    pub fn load(path: &str, vars: impl Iterator<Item = (String, String)>) -> Result<JobConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        Self::parse(&text, vars).with_context(|| format!("{path}: invalid topology"))
    }

    /// Parses a topology document and applies the overrides in `vars`.
    pub fn parse(text: &str, vars: impl Iterator<Item = (String, String)>) -> Result<JobConfig> {
        let mut doc: toml::Table = toml::from_str(text).context("not valid TOML")?;
        apply_env(&mut doc, vars)?;
        // a topology file's job with a consumer group restores its checkpoint on start (a
        // supervisor restarts it) unless it says `resume = false` or starts `from` a time
        if let Some(src) = doc.get_mut("source").and_then(toml::Value::as_table_mut) {
            if src.contains_key("group") && !src.contains_key("resume") && !src.contains_key("from") {
                src.insert("resume".into(), toml::Value::Boolean(true));
            }
        }
        let cfg: JobConfig = toml::Value::Table(doc).try_into()?;
        Ok(cfg)
    }
}

/// Applies `TICKFLOW__SECTION__KEY=value` overrides to a parsed TOML document: numbers and
/// booleans as such, list keys as comma-separated lists, everything else as a string.
pub fn apply_env(doc: &mut toml::Table, vars: impl Iterator<Item = (String, String)>) -> Result<()> {
    for (k, v) in vars {
        let Some(path) = k.strip_prefix("TICKFLOW__") else { continue };
        let parts: Vec<String> = path.split("__").map(|p| p.to_ascii_lowercase()).collect();
        let [section, key] = parts.as_slice() else { bail!("{k}: expected TICKFLOW__<SECTION>__<KEY>") };
        let table = doc.entry(section.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(table) = table.as_table_mut() else { bail!("{k}: [{section}] is not a table") };
        let value = if let Ok(n) = v.parse::<i64>() {
            toml::Value::Integer(n)
        } else if let Ok(b) = v.parse::<bool>() {
            toml::Value::Boolean(b)
        } else if LIST_KEYS.contains(&key.as_str()) {
            toml::Value::Array(v.split(',').map(|s| toml::Value::String(s.trim().to_string())).collect())
        } else {
            toml::Value::String(v)
        };
        table.insert(key.clone(), value);
    }
    Ok(())
}
