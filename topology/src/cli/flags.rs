//! The flags of `aggregate`, `replay` and `run`: each maps onto one key of the job
//! configuration ([`crate::config`]) and only overrides it when given. Defaults live in the
//! configuration, not here, so a topology file and the equivalent command line give the same job.

use anyhow::{bail, Result};
use clap::Args;

use crate::config::{JobConfig, StrategySection};

/// Every job setting as an optional flag.
#[derive(Args, Clone, Debug, Default)]
pub struct JobFlags {
    /// Trade file(s), CSV or Parquet; each file is one partition, read by one worker.
    #[arg(short = 'i', long = "input", conflicts_with_all = ["source", "kafka_topic"])]
    pub inputs: Vec<String>,
    /// Symbol for files without a symbol column (CCXT form, e.g. XRP/ETH).
    #[arg(long)]
    pub symbol: Option<String>,
    /// Exchange id for files without an exchange column [default: unknown].
    #[arg(long)]
    pub exchange: Option<String>,
    /// Skip and count malformed rows instead of failing.
    #[arg(long)]
    pub skip_bad: bool,
    /// Refuse trades stamped more than this after their ingest time (and the wall clock): a
    /// bad row, a dead letter or a rejected frame [default: 5m].
    #[arg(long)]
    pub max_future: Option<String>,
    /// Most distinct instruments per file or topic partition; rows of further ones are bad rows
    /// or dead letters [default: 100000].
    #[arg(long)]
    pub max_instruments: Option<usize>,

    // a live source instead of files (with --symbols); the venues come from the registry
    #[arg(long, conflicts_with = "kafka_topic", help = crate::cli::stream::source_help())]
    pub source: Option<String>,
    #[command(flatten)]
    pub live: crate::cli::stream::LiveArgs,
    /// Live sources and followed topics: advance the watermark after this long without trades,
    /// so quiet symbols still close bars [default: 2s].
    #[arg(long)]
    pub idle_timeout: Option<String>,

    /// Read trades from this topic (every partition; worker i of n owns partitions p with
    /// p % n == i) instead of files.
    #[arg(long)]
    pub kafka_topic: Option<String>,
    /// Start at the first record at or after this time (epoch or RFC 3339); default: the beginning.
    #[arg(long)]
    pub from: Option<String>,
    /// Stop before the first trade at or after this event time; default: the end offsets taken at start.
    #[arg(long)]
    pub to: Option<String>,
    /// Keep reading new records instead of stopping at the end offsets taken at start.
    #[arg(long)]
    pub follow: bool,
    /// Release trades at this multiple of event-time speed (`1x`, `100x`) or `max` [default: max].
    #[arg(long)]
    pub speed: Option<String>,
    /// Dead-letter topic for malformed records (default `<namespace>.dlq`).
    #[arg(long)]
    pub dlq_topic: Option<String>,
    /// Consumer group, which also names the job's checkpoints: the run checkpoints its state
    /// and positions while it runs and commits the checkpointed positions to the group.
    #[arg(long)]
    pub group: Option<String>,
    /// Restore the group's latest checkpoint and continue from it (needs --group; without a
    /// checkpoint: the group's committed offsets, else the beginning).
    #[arg(long, conflicts_with = "from")]
    pub resume: bool,
    /// Event time between checkpoints of a --group run [default: 1m].
    #[arg(long)]
    pub checkpoint_interval: Option<String>,
    /// ... and at least this much wall time between them (replays at speed) [default: 10s].
    #[arg(long)]
    pub checkpoint_wall_interval: Option<String>,
    /// Where checkpoints go: kafka (the topic `<namespace>.checkpoints`), dir:PATH, or off
    /// [default: kafka].
    #[arg(long)]
    pub checkpoint_store: Option<String>,
    /// Each input partition holds whole instruments (a topic keyed by exchange:symbol, one file
    /// per symbol): aggregate on the worker that reads them, without exchanging trades between
    /// workers. Wrong bars if an instrument spans partitions.
    #[arg(long)]
    pub keyed_partitions: bool,

    /// Comma-separated timeframes, e.g. 1m,5m,1h [default: 1m].
    #[arg(long)]
    pub timeframes: Option<String>,
    /// Bars beside the time bars, comma-separated: tick:N (every N trades), volume:V, value:Q
    /// (or dollar:Q; a crossing trade is split), tib|vib|dib:T0:SPAN (imbalance; T0 the first
    /// bar's expected trades, SPAN the EWMA span, 20 if left out), trb|vrb|drb:T0:SPAN (run),
    /// renko:B, heikinashi — e.g. tick:1000,volume:50,dollar:1e6.
    #[arg(long = "bars")]
    pub bar_kinds: Option<String>,
    /// Empty windows: none (no bar) or carry (previous close, zero volume) [default: none].
    #[arg(long)]
    pub fill: Option<String>,
    /// Late trades: drop (report only) or revise (re-emit affected bars as revisions) [default: drop].
    #[arg(long)]
    pub late: Option<String>,
    /// Allowed disorder before a trade counts as late (watermark = max event time − this) [default: 0].
    #[arg(long)]
    pub out_of_orderness: Option<String>,
    /// How far below the watermark a late trade may still revise bars [default: 1h].
    #[arg(long)]
    pub allowed_lateness: Option<String>,
    /// Fill carry: the longest gap (in windows) carried bar by bar; a longer one is counted and
    /// left empty [default: 10000].
    #[arg(long)]
    pub max_carry_windows: Option<u64>,

    /// Bar output file (.csv, or .jsonl for JSON lines).
    #[arg(short = 'o', long)]
    pub out: Option<String>,
    /// Late-trade output CSV.
    #[arg(long)]
    pub late_out: Option<String>,
    /// Also write bars to this topic (key exchange:symbol:timeframe:open_time).
    #[arg(long)]
    pub bars_topic: Option<String>,
    /// Also write late trades to this topic (key exchange:symbol).
    #[arg(long)]
    pub late_topic: Option<String>,
    /// Also write every trade read to this topic (key exchange:symbol, timestamp = event
    /// time): how a live source feeds the `trades` topic that replays read.
    #[arg(long)]
    pub trades_topic: Option<String>,
    /// Also write to QuestDB: trades, bars (revisions overwrite) and late trades.
    #[arg(long)]
    pub questdb: bool,
    /// QuestDB client configuration (the standard string, e.g.
    /// `http::addr=questdb:9000;username=admin;password=...;`) [default: $QDB_CLIENT_CONF, else
    /// `http::addr=127.0.0.1:9000;`].
    #[arg(long)]
    pub questdb_conf: Option<String>,
    /// QuestDB table name prefix (e.g. `paper_`); empty for the standard names.
    #[arg(long)]
    pub questdb_prefix: Option<String>,
    /// Give up (fail the run, commit nothing) when QuestDB stays unreachable this long [default: 10m].
    #[arg(long)]
    pub questdb_max_outage: Option<String>,

    /// Kafka-API brokers (Redpanda), `host:port[,host:port]` [default: $KAFKA_BROKERS, else
    /// 127.0.0.1:9092].
    #[arg(long)]
    pub brokers: Option<String>,
    /// Topic namespace: topics are `<namespace>.trades`, `.bars`, `.late`, `.dlq` [default: tickflow].
    #[arg(long)]
    pub namespace: Option<String>,
    /// Extra client properties, `key=value` (repeatable), e.g. `security.protocol=SSL`.
    #[arg(long = "kafka-property")]
    pub kafka_properties: Vec<String>,

    /// Paper-trade this strategy on the bars as they close.
    #[arg(long, help = format!("Paper-trade this strategy on the bars as they close: {}", tickflow_strategies::names()))]
    pub strategy: Option<String>,
    /// Strategy parameter (repeatable), e.g. fast=10; a sweep (fast=5..50:5) runs every point.
    #[arg(long = "param")]
    pub params: Vec<String>,
    /// The bar timeframe the strategy trades (default: the first of --timeframes).
    #[arg(long)]
    pub strategy_timeframe: Option<String>,
    /// Starting cash of the simulated account [default: 100000].
    #[arg(long)]
    pub cash: Option<String>,
    /// Commission as a fraction of traded value [default: 0].
    #[arg(long)]
    pub commission: Option<String>,
    /// Slippage: percent:P or fixed:X.
    #[arg(long)]
    pub slippage: Option<String>,
    /// Sizer: fixed:N, percent:P (of cash) or all-in [default: percent:95].
    #[arg(long)]
    pub sizer: Option<String>,
    /// Write the strategy events (orders, fills, round trips, equity, summaries) as JSON lines.
    #[arg(long)]
    pub events_out: Option<String>,
    /// Publish orders, fills and equity to `<namespace>.orders`, `.fills`, `.equity`.
    #[arg(long)]
    pub publish: bool,
    /// Perpetuals and futures (BTC/USDT:USDT, BTC/USD:BTC): leverage [default: 1].
    #[arg(long)]
    pub leverage: Option<String>,
    /// Perpetuals and futures: maintenance margin rate (isolated liquidation) [default: 0].
    #[arg(long)]
    pub maintenance_margin: Option<String>,
    /// Perpetuals and futures: contract size [default: 1].
    #[arg(long)]
    pub contract_size: Option<String>,
    /// Funding-rate file (`fetch funding`/`stream --funding` output) applied to open perpetual
    /// positions at each funding time the bars pass.
    #[arg(long)]
    pub funding: Option<String>,

    /// Worker threads per process [default: 1].
    #[arg(short = 'w', long = "workers")]
    pub workers: Option<usize>,
    /// Number of processes (cluster mode) [default: 1].
    #[arg(short = 'n', long = "processes")]
    pub processes: Option<usize>,
    /// Index of this process, 0-based [default: 0].
    #[arg(short = 'p', long = "process")]
    pub process: Option<usize>,
    /// File with one `host:port` per process.
    #[arg(short = 'h', long = "hostfile")]
    pub hostfile: Option<String>,
    /// Hide the progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

fn set<T: Clone>(slot: &mut T, v: &Option<T>) {
    if let Some(v) = v {
        *slot = v.clone();
    }
}

fn set_opt<T: Clone>(slot: &mut Option<T>, v: &Option<T>) {
    if v.is_some() {
        *slot = v.clone();
    }
}

fn list(s: &str) -> Vec<String> {
    s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()
}

impl JobFlags {
    /// The job these flags describe on their own (`aggregate`, `replay`).
    pub fn config(&self) -> Result<JobConfig> {
        let mut cfg = JobConfig::default();
        self.apply(&mut cfg)?;
        Ok(cfg)
    }

    /// Overrides the keys of `cfg` that a flag gives. The source kind follows the input flag
    /// given (`--input` files, `--source` live, `--kafka-topic` kafka).
    pub fn apply(&self, cfg: &mut JobConfig) -> Result<()> {
        let s = &mut cfg.source;
        if !self.inputs.is_empty() {
            s.kind = "files".into();
            s.files = self.inputs.clone();
        }
        if let Some(v) = &self.source {
            s.kind = "live".into();
            s.venue = Some(v.clone());
        }
        if let Some(t) = &self.kafka_topic {
            s.kind = "kafka".into();
            s.topic = Some(t.clone());
        }
        set_opt(&mut s.symbol, &self.symbol);
        set(&mut s.exchange, &self.exchange);
        s.skip_bad |= self.skip_bad;
        set(&mut s.max_future, &self.max_future);
        set(&mut s.max_instruments, &self.max_instruments);
        self.live.apply(s);
        set(&mut s.idle_timeout, &self.idle_timeout);
        set_opt(&mut s.from, &self.from);
        set_opt(&mut s.to, &self.to);
        s.follow |= self.follow;
        set(&mut s.speed, &self.speed);
        set_opt(&mut s.dlq_topic, &self.dlq_topic);
        set_opt(&mut s.group, &self.group);
        s.resume |= self.resume;
        s.keyed_partitions |= self.keyed_partitions;

        let b = &mut cfg.bars;
        if let Some(t) = &self.timeframes {
            b.timeframes = list(t);
        }
        if let Some(k) = &self.bar_kinds {
            b.kinds = list(k);
        }
        set(&mut b.fill, &self.fill);
        set(&mut b.late, &self.late);
        set(&mut b.out_of_orderness, &self.out_of_orderness);
        set(&mut b.allowed_lateness, &self.allowed_lateness);
        set(&mut b.max_carry_windows, &self.max_carry_windows);

        let k = &mut cfg.sinks;
        set_opt(&mut k.bars_file, &self.out);
        set_opt(&mut k.late_file, &self.late_out);
        set_opt(&mut k.bars_topic, &self.bars_topic);
        set_opt(&mut k.late_topic, &self.late_topic);
        set_opt(&mut k.trades_topic, &self.trades_topic);
        k.questdb |= self.questdb;
        set_opt(&mut k.questdb_conf, &self.questdb_conf);
        set(&mut k.questdb_prefix, &self.questdb_prefix);
        set(&mut k.questdb_max_outage, &self.questdb_max_outage);

        set_opt(&mut cfg.kafka.brokers, &self.brokers);
        set(&mut cfg.kafka.namespace, &self.namespace);
        if !self.kafka_properties.is_empty() {
            cfg.kafka.properties = self.kafka_properties.clone();
        }

        if let Some(name) = &self.strategy {
            match &mut cfg.strategy {
                Some(st) => st.name = name.clone(),
                None => cfg.strategy = Some(StrategySection::named(name)),
            }
        }
        let strategy_flags = !self.params.is_empty()
            || self.publish
            || [
                &self.strategy_timeframe,
                &self.cash,
                &self.commission,
                &self.slippage,
                &self.sizer,
                &self.events_out,
                &self.leverage,
                &self.maintenance_margin,
                &self.contract_size,
                &self.funding,
            ]
            .iter()
            .any(|v| v.is_some());
        match &mut cfg.strategy {
            Some(st) => {
                if !self.params.is_empty() {
                    st.params = self.params.clone();
                }
                set_opt(&mut st.timeframe, &self.strategy_timeframe);
                set(&mut st.cash, &self.cash);
                set(&mut st.commission, &self.commission);
                set_opt(&mut st.slippage, &self.slippage);
                set(&mut st.sizer, &self.sizer);
                set_opt(&mut st.events_file, &self.events_out);
                set_opt(&mut st.leverage, &self.leverage);
                set_opt(&mut st.maintenance_margin, &self.maintenance_margin);
                set_opt(&mut st.contract_size, &self.contract_size);
                set_opt(&mut st.funding, &self.funding);
                st.publish |= self.publish;
            }
            None if strategy_flags => {
                bail!(
                    "--param, --strategy-timeframe, --cash, --commission, --slippage, --sizer, --events-out, --publish, --leverage, \
                     --maintenance-margin, --contract-size and --funding need --strategy"
                )
            }
            None => {}
        }

        let c = &mut cfg.cluster;
        set(&mut c.workers, &self.workers);
        set(&mut c.processes, &self.processes);
        set(&mut c.process, &self.process);
        set_opt(&mut c.hostfile, &self.hostfile);
        if self.no_progress {
            cfg.run.progress = false;
        }
        set(&mut cfg.run.checkpoint_interval, &self.checkpoint_interval);
        set(&mut cfg.run.checkpoint_store, &self.checkpoint_store);
        set(&mut cfg.run.checkpoint_wall_interval, &self.checkpoint_wall_interval);
        Ok(())
    }
}
