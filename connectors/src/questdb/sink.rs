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
//!   "not an ILP endpoint" errors are not retried. A batch QuestDB *rejects* (HTTP 400, invalid
//!   content) is not retried either: it is split in halves until the refused rows stand alone;
//!   those are logged with the server's message and counted, and the rest is stored.
//! - **DDL**: [`QuestDbSink::connect`] (or [`create_tables`] before [`QuestDbSink::open`])
//!   creates the tables (`/exec`) first, retrying while
//!   QuestDB is still starting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use questdb::ingress::{Buffer, Sender};
use questdb::ErrorCode;
use tickflow_model::{Bar, Fill, FundingRate, LateTrade, Order, Trade};

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
    pub rows: [AtomicU64; Table::COUNT],
    /// Successful flushes.
    pub flushes: AtomicU64,
    /// Failed flush attempts (each retry counts).
    pub flush_errors: AtomicU64,
    /// Rows QuestDB refused on their own (after splitting a rejected batch): dead-lettered.
    pub rejected_rows: AtomicU64,
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

/// One buffered row, kept beside the ILP buffer so that a batch QuestDB rejects can be split
/// and the offending rows told apart.
#[derive(Clone, Debug)]
enum Row {
    Trade(Trade),
    Bar(Bar),
    Late(LateTrade),
    Order(String, Order),
    Fill(String, Fill),
    Equity(String, i64, f64, f64),
    Funding(FundingRate),
    PriceCandle(Bar, &'static str),
}

impl Row {
    fn table(&self) -> Table {
        match self {
            Row::Trade(_) => Table::Trades,
            Row::Bar(_) => Table::Bars,
            Row::Late(_) => Table::LateTrades,
            Row::Order(..) => Table::Orders,
            Row::Fill(..) => Table::Fills,
            Row::Equity(..) => Table::Equity,
            Row::Funding(_) => Table::Funding,
            Row::PriceCandle(..) => Table::PriceCandles,
        }
    }
    fn write(&self, b: &mut Buffer, names: &[String; Table::COUNT]) -> questdb::Result<()> {
        let n = &names[self.table().index()];
        match self {
            Row::Trade(t) => tables::trade_row(b, n, t),
            Row::Bar(x) => tables::bar_row(b, n, x),
            Row::Late(l) => tables::late_row(b, n, l),
            Row::Order(run, o) => tables::order_row(b, n, run, o),
            Row::Fill(run, f) => tables::fill_row(b, n, run, f),
            Row::Equity(run, ts, cash, value) => tables::equity_row(b, n, run, *ts, *cash, *value),
            Row::Funding(f) => tables::funding_row(b, n, f),
            Row::PriceCandle(bar, price) => tables::price_candle_row(b, n, bar, price),
        }
    }
}

/// Buffered, retrying ILP-over-HTTP writer for all tickflow tables.
pub struct QuestDbSink {
    sender: Sender,
    buf: Buffer,
    /// The rows in `buf`, in order.
    rows: Vec<Row>,
    names: [String; Table::COUNT],
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

/// True when QuestDB rejected the batch's content (HTTP 400 with `"code":"invalid"`, which the
/// client reports as `[… code: invalid …]`): sending it again fails again, so the batch is split
/// and the offending rows are dead-lettered instead of being retried until the outage limit.
pub fn is_rejected(e: &questdb::Error) -> bool {
    e.code() == ErrorCode::ServerFlushError && e.msg().contains("code: invalid")
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
        Ok(QuestDbSink { sender, buf, rows: Vec::new(), names, policy, last_flush: Instant::now(), stats })
    }

    fn row(&mut self, r: Row) -> Result<(), ConnectorError> {
        // a row the client rejects (bad name, bad timestamp) must not leave half a line behind
        self.buf.set_marker().map_err(err)?;
        if let Err(e) = r.write(&mut self.buf, &self.names) {
            self.buf.rewind_to_marker().map_err(err)?;
            return Err(err(e));
        }
        self.buf.clear_marker();
        self.rows.push(r);
        if self.buf.row_count() >= self.policy.max_rows || self.buf.len() >= self.policy.max_bytes {
            self.flush()?;
        }
        Ok(())
    }

    /// Buffers a trade.
    pub fn trade(&mut self, t: &Trade) -> Result<(), ConnectorError> {
        self.row(Row::Trade(*t))
    }
    /// Buffers a bar or bar revision.
    pub fn bar(&mut self, x: &Bar) -> Result<(), ConnectorError> {
        self.row(Row::Bar(*x))
    }
    /// Buffers a late trade.
    pub fn late(&mut self, l: &LateTrade) -> Result<(), ConnectorError> {
        self.row(Row::Late(*l))
    }
    /// Buffers an order's state.
    pub fn order(&mut self, run: &str, o: &Order) -> Result<(), ConnectorError> {
        self.row(Row::Order(run.to_string(), *o))
    }
    /// Buffers a fill.
    pub fn fill(&mut self, run: &str, f: &Fill) -> Result<(), ConnectorError> {
        self.row(Row::Fill(run.to_string(), *f))
    }
    /// Buffers an equity point (`ts` epoch ns).
    pub fn equity(&mut self, run: &str, ts: i64, cash: f64, value: f64) -> Result<(), ConnectorError> {
        self.row(Row::Equity(run.to_string(), ts, cash, value))
    }

    /// Buffers a funding event.
    pub fn funding(&mut self, f: &FundingRate) -> Result<(), ConnectorError> {
        self.row(Row::Funding(*f))
    }

    /// Queues a mark- or index-price candle (`price`: `mark`, `index`).
    pub fn price_candle(&mut self, bar: &Bar, price: &'static str) -> Result<(), ConnectorError> {
        self.row(Row::PriceCandle(*bar, price))
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

    /// Sends `buf`, retrying transient failures until QuestDB acknowledges it or the outage
    /// lasts longer than `max_outage`; a rejection ([`is_rejected`]) or a permanent error is
    /// returned at once.
    fn send(&mut self, buf: &Buffer) -> Result<(), questdb::Error> {
        let mut backoff = BACKOFF_START;
        let mut outage_since: Option<Instant> = None;
        loop {
            match self.sender.flush_and_keep(buf) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.stats.flush_errors.fetch_add(1, Ordering::Relaxed);
                    let since = *outage_since.get_or_insert_with(Instant::now);
                    if is_rejected(&e) || !is_retryable(e.code()) || since.elapsed() >= self.policy.max_outage {
                        return Err(e);
                    }
                    tracing::warn!(rows = buf.row_count(), retry_in_ms = backoff.as_millis() as u64, error = %e.msg(), "questdb flush failed; retrying");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// Sends the buffer, retrying until QuestDB acknowledges it (see the module docs). A batch
    /// QuestDB rejects is split in halves until the rows it refuses stand alone: those are
    /// dead-lettered (logged with the server's message, counted in
    /// [`QuestDbStats::rejected_rows`]) and every other row is stored.
    pub fn flush(&mut self) -> Result<(), ConnectorError> {
        self.last_flush = Instant::now();
        if self.buf.is_empty() {
            return Ok(());
        }
        let start = Instant::now();
        let buf = std::mem::replace(&mut self.buf, self.sender.new_buffer());
        let rows = std::mem::take(&mut self.rows);
        match self.send(&buf) {
            Ok(()) => self.acknowledged(&rows),
            Err(e) if is_rejected(&e) => self.isolate(rows, e)?,
            Err(e) => {
                tracing::error!(rows = buf.row_count(), bytes = buf.len(), error = %e.msg(), "questdb flush failed for good");
                // keep the batch: a later flush (after the caller decides) sends it again
                self.buf = buf;
                self.rows = rows;
                return Err(err(e));
            }
        }
        self.stats.flushes.fetch_add(1, Ordering::Relaxed);
        self.stats.flush_latency.observe(start.elapsed());
        self.last_flush = Instant::now();
        Ok(())
    }

    fn acknowledged(&self, rows: &[Row]) {
        for r in rows {
            self.stats.rows[r.table().index()].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Bisects a rejected batch down to the rows QuestDB refuses on their own.
    fn isolate(&mut self, rows: Vec<Row>, first: questdb::Error) -> Result<(), ConnectorError> {
        tracing::warn!(rows = rows.len(), error = %first.msg(), "questdb rejected a batch: isolating the offending rows");
        let mut parts = vec![rows];
        while let Some(part) = parts.pop() {
            let mut b = self.sender.new_buffer();
            for r in &part {
                r.write(&mut b, &self.names).map_err(err)?;
            }
            match self.send(&b) {
                Ok(()) => self.acknowledged(&part),
                Err(e) if is_rejected(&e) && part.len() == 1 => {
                    self.stats.rejected_rows.fetch_add(1, Ordering::Relaxed);
                    let msg: String = e.msg().chars().take(512).collect();
                    let row: String = format!("{:?}", part[0]).chars().take(512).collect();
                    tracing::error!(table = part[0].table().base_name(), row = %row, error = %msg, "questdb refused a row: dead-lettered");
                }
                Err(e) if is_rejected(&e) => {
                    let mut left = part;
                    let right = left.split_off(left.len() / 2);
                    parts.push(right);
                    parts.push(left);
                }
                Err(e) => {
                    // an outage or a permanent error mid-way: nothing unsent is dropped — the rows
                    // not yet stored go back into the buffer, in order, for the next flush
                    parts.push(part);
                    for r in parts.into_iter().rev().flatten() {
                        r.write(&mut self.buf, &self.names).map_err(err)?;
                        self.rows.push(r);
                    }
                    return Err(err(e));
                }
            }
        }
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
