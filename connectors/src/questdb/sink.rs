//! The QuestDB sink: rows into one ILP buffer, flushed over HTTP with retries.
//!
//! - **Flushing**: the client never flushes by itself. The sink flushes when the buffer holds
//!   `max_rows` rows or `max_bytes` bytes, when the caller reports frontier progress and
//!   `interval` has passed since the last flush, and on [`QuestDbSink::flush`] (end of run).
//! - **Failures**: a failed flush keeps the buffer and is retried with exponential backoff
//!   (100 ms → 5 s) until it succeeds or the outage lasts longer than `max_outage`; meanwhile
//!   the calling operator blocks, which back-pressures the dataflow — nothing is dropped and the
//!   buffer never grows past `max_bytes` plus one batch. Each failed attempt is counted and
//!   logged. A retried request that QuestDB had in fact committed is harmless: every table
//!   deduplicates on its natural key (`UPSERT KEYS`). Configuration, authentication and
//!   "not an ILP endpoint" errors are not retried.
//! - **DDL**: [`QuestDbSink::connect`] (or [`create_tables`] before [`QuestDbSink::open`])
//!   creates the tables (`/exec`) first, retrying while
//!   QuestDB is still starting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use questdb::ingress::{Buffer, Sender};
use questdb::ErrorCode;
use tickflow_model::{Bar, Fill, LateTrade, Order, Trade};

use super::conf::QuestDbConf;
use super::tables::{self, Table};
use crate::ConnectorError;

/// Histogram of durations with fixed buckets (seconds), lock-free.
#[derive(Debug)]
pub struct LatencyHistogram {
    counts: [AtomicU64; LatencyHistogram::BOUNDS.len()],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram { counts: std::array::from_fn(|_| AtomicU64::new(0)), sum_nanos: AtomicU64::new(0), count: AtomicU64::new(0) }
    }
}

impl LatencyHistogram {
    /// Upper bounds of the buckets, seconds (`+Inf` is implied).
    pub const BOUNDS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = Self::BOUNDS.iter().position(|b| s <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_nanos.fetch_add(d.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Cumulative bucket counts (`le` order, without `+Inf`), sum in seconds, count.
    pub fn snapshot(&self) -> (Vec<(f64, u64)>, f64, u64) {
        let mut acc = 0;
        let buckets = Self::BOUNDS
            .iter()
            .zip(&self.counts)
            .map(|(b, c)| {
                acc += c.load(Ordering::Relaxed);
                (*b, acc)
            })
            .collect();
        (buckets, self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9, self.count.load(Ordering::Relaxed))
    }
}

/// Sink counters (shared with the metrics endpoint).
#[derive(Debug, Default)]
pub struct QuestDbStats {
    /// Rows acknowledged by QuestDB, per [`Table::index`].
    pub rows: [AtomicU64; 6],
    /// Successful flushes.
    pub flushes: AtomicU64,
    /// Failed flush attempts (each retry counts).
    pub flush_errors: AtomicU64,
    /// Duration of successful flushes (including retries).
    pub flush_latency: LatencyHistogram,
}

/// When and how hard the sink flushes.
#[derive(Clone, Debug)]
pub struct FlushPolicy {
    /// Flush once the buffer holds this many rows.
    pub max_rows: usize,
    /// Flush once the buffer holds this many bytes.
    pub max_bytes: usize,
    /// On frontier progress, flush if this long has passed since the last flush.
    pub interval: Duration,
    /// Give up (an error) when QuestDB stays unreachable this long.
    pub max_outage: Duration,
    /// Table name prefix (e.g. `test_`); empty for the standard names.
    pub table_prefix: String,
}

impl Default for FlushPolicy {
    fn default() -> Self {
        FlushPolicy {
            max_rows: 50_000,
            max_bytes: 8 << 20,
            interval: Duration::from_secs(1),
            max_outage: Duration::from_secs(600),
            table_prefix: String::new(),
        }
    }
}

/// Buffered, retrying ILP-over-HTTP writer for all tickflow tables.
pub struct QuestDbSink {
    sender: Sender,
    buf: Buffer,
    names: [String; 6],
    pending: [u64; 6],
    policy: FlushPolicy,
    last_flush: Instant,
    stats: Arc<QuestDbStats>,
}

fn err(e: questdb::Error) -> ConnectorError {
    ConnectorError::QuestDb { source: e }
}

/// True for the client error codes a later attempt may get past (connection lost or refused,
/// the server failing a flush, name resolution, connect timeouts).
pub fn is_retryable(code: ErrorCode) -> bool {
    matches!(code, ErrorCode::SocketError | ErrorCode::ServerFlushError | ErrorCode::CouldNotResolveAddr | ErrorCode::ConnectTimeout)
}

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

impl QuestDbSink {
    /// Creates the tables (retrying while QuestDB starts) and the sender.
    pub fn connect(conf: &QuestDbConf, policy: FlushPolicy, stats: Arc<QuestDbStats>) -> Result<Self, ConnectorError> {
        create_tables(conf, &policy.table_prefix, policy.max_outage)?;
        Self::open(conf, policy, stats)
    }

    /// The sender alone, for tables already created with [`create_tables`] (several sinks of
    /// one run create them once).
    pub fn open(conf: &QuestDbConf, policy: FlushPolicy, stats: Arc<QuestDbStats>) -> Result<Self, ConnectorError> {
        let sender = Sender::from_conf(conf.sender_conf()).map_err(err)?;
        let buf = sender.new_buffer();
        let names = Table::ALL.map(|t| format!("{}{}", policy.table_prefix, t.base_name()));
        Ok(QuestDbSink { sender, buf, names, pending: [0; 6], policy, last_flush: Instant::now(), stats })
    }

    fn row(&mut self, t: Table, write: impl FnOnce(&mut Buffer, &str) -> questdb::Result<()>) -> Result<(), ConnectorError> {
        // a row the client rejects (bad name, bad timestamp) must not leave half a line behind
        self.buf.set_marker().map_err(err)?;
        if let Err(e) = write(&mut self.buf, &self.names[t.index()]) {
            self.buf.rewind_to_marker().map_err(err)?;
            return Err(err(e));
        }
        self.buf.clear_marker();
        self.pending[t.index()] += 1;
        if self.buf.row_count() >= self.policy.max_rows || self.buf.len() >= self.policy.max_bytes {
            self.flush()?;
        }
        Ok(())
    }

    /// Buffers a trade.
    pub fn trade(&mut self, t: &Trade) -> Result<(), ConnectorError> {
        self.row(Table::Trades, |b, n| tables::trade_row(b, n, t))
    }
    /// Buffers a bar or bar revision.
    pub fn bar(&mut self, x: &Bar) -> Result<(), ConnectorError> {
        self.row(Table::Bars, |b, n| tables::bar_row(b, n, x))
    }
    /// Buffers a late trade.
    pub fn late(&mut self, l: &LateTrade) -> Result<(), ConnectorError> {
        self.row(Table::LateTrades, |b, n| tables::late_row(b, n, l))
    }
    /// Buffers an order's state.
    pub fn order(&mut self, run: &str, o: &Order) -> Result<(), ConnectorError> {
        self.row(Table::Orders, |b, n| tables::order_row(b, n, run, o))
    }
    /// Buffers a fill.
    pub fn fill(&mut self, run: &str, f: &Fill) -> Result<(), ConnectorError> {
        self.row(Table::Fills, |b, n| tables::fill_row(b, n, run, f))
    }
    /// Buffers an equity point (`ts` epoch ns).
    pub fn equity(&mut self, run: &str, ts: i64, cash: f64, value: f64) -> Result<(), ConnectorError> {
        self.row(Table::Equity, |b, n| tables::equity_row(b, n, run, ts, cash, value))
    }

    /// The frontier advanced: flush if the interval has passed.
    pub fn progress(&mut self) -> Result<(), ConnectorError> {
        if !self.buf.is_empty() && self.last_flush.elapsed() >= self.policy.interval {
            self.flush()?;
        }
        Ok(())
    }

    /// Rows buffered and not yet acknowledged.
    pub fn buffered_rows(&self) -> usize {
        self.buf.row_count()
    }

    /// Sends the buffer, retrying until QuestDB acknowledges it (see the module docs).
    pub fn flush(&mut self) -> Result<(), ConnectorError> {
        self.last_flush = Instant::now();
        if self.buf.is_empty() {
            return Ok(());
        }
        let start = Instant::now();
        let mut backoff = BACKOFF_START;
        let mut outage_since: Option<Instant> = None;
        loop {
            match self.sender.flush_and_keep(&self.buf) {
                Ok(()) => break,
                Err(e) => {
                    self.stats.flush_errors.fetch_add(1, Ordering::Relaxed);
                    let since = *outage_since.get_or_insert_with(Instant::now);
                    if !is_retryable(e.code()) || since.elapsed() >= self.policy.max_outage {
                        tracing::error!(rows = self.buf.row_count(), bytes = self.buf.len(), error = %e.msg(), "questdb flush failed for good");
                        return Err(err(e));
                    }
                    tracing::warn!(rows = self.buf.row_count(), retry_in_ms = backoff.as_millis() as u64, error = %e.msg(), "questdb flush failed; retrying");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        self.buf.clear();
        for (i, p) in self.pending.iter_mut().enumerate() {
            self.stats.rows[i].fetch_add(std::mem::take(p), Ordering::Relaxed);
        }
        self.stats.flushes.fetch_add(1, Ordering::Relaxed);
        self.stats.flush_latency.observe(start.elapsed());
        self.last_flush = Instant::now();
        Ok(())
    }
}

/// Creates every table under `prefix` if missing (`/exec`), retrying connection failures and
/// 5xx answers for up to `max_outage`.
pub fn create_tables(conf: &QuestDbConf, prefix: &str, max_outage: Duration) -> Result<(), ConnectorError> {
    if !prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ConnectorError::QuestDbConfig { message: format!("table prefix `{prefix}`: letters, digits and _ only") });
    }
    for t in Table::ALL {
        exec(conf, &t.ddl(prefix), max_outage)?;
    }
    Ok(())
}

/// Runs one SQL statement over HTTP `/exec`; returns the response body.
pub fn exec(conf: &QuestDbConf, sql: &str, max_outage: Duration) -> Result<String, ConnectorError> {
    let url = format!("{}/exec", conf.base_url());
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
    let start = Instant::now();
    let mut backoff = BACKOFF_START;
    loop {
        let mut req = agent.get(&url).query("query", sql);
        if let Some(a) = conf.authorization() {
            req = req.set("Authorization", &a);
        }
        let outcome = match req.call() {
            Ok(resp) => return resp.into_string().map_err(|e| ConnectorError::io(&url, e)),
            Err(ureq::Error::Status(code, resp)) => {
                let body = resp.into_string().unwrap_or_default();
                let e = ConnectorError::Http { url: url.clone(), status: code, body: body.chars().take(300).collect() };
                if code < 500 {
                    return Err(e);
                }
                e
            }
            Err(ureq::Error::Transport(t)) => ConnectorError::Http { url: url.clone(), status: 0, body: t.to_string() },
        };
        if start.elapsed() >= max_outage {
            return Err(outcome);
        }
        tracing::warn!(error = %outcome, retry_in_ms = backoff.as_millis() as u64, "questdb /exec failed; retrying");
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}
