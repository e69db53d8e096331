//! Adapters from connectors to the operators' `TradeFeed` seam, plus progress reporting.

use indicatif::ProgressBar;
use tickflow_connectors::TradeCsvReader;
use tickflow_model::TradeRows;
use tickflow_operators::{FeedStatus, OperatorError, TradeFeed};

/// A trade CSV file as a feed (one partition).
pub struct CsvFeed {
    reader: TradeCsvReader,
    progress: Option<ProgressBar>,
    reported: u64,
    bad: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl CsvFeed {
    /// Wraps a reader; `bad` accumulates skipped rows.
    pub fn new(reader: TradeCsvReader, progress: Option<ProgressBar>, bad: std::sync::Arc<std::sync::atomic::AtomicU64>) -> Self {
        CsvFeed { reader, progress, reported: 0, bad }
    }
}

impl TradeFeed for CsvFeed {
    fn poll(&mut self, out: &mut TradeRows, max: usize) -> Result<FeedStatus, OperatorError> {
        let bad_before = self.reader.bad_rows();
        let more = self.reader.read_rows(out, max).map_err(|e| OperatorError::feed(self.reader.name(), None, e))?;
        self.bad.fetch_add(self.reader.bad_rows() - bad_before, std::sync::atomic::Ordering::Relaxed);
        if let Some(pb) = &self.progress {
            let b = self.reader.bytes_read();
            pb.inc(b - self.reported);
            self.reported = b;
        }
        Ok(if more { FeedStatus::Ready } else { FeedStatus::Done })
    }
    fn name(&self) -> String {
        self.reader.name().to_string()
    }
}

/// A live venue stream as a feed: the connector runs on its own thread and hands trades over a
/// bounded channel (back-pressure instead of unbounded buffering).
pub struct LiveFeed {
    rx: std::sync::mpsc::Receiver<tickflow_model::Trade>,
    name: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Why the session gave up, if it did (the run then fails with it).
    failed: std::sync::Arc<std::sync::Mutex<Option<tickflow_connectors::ConnectorError>>>,
}

impl LiveFeed {
    /// Starts a live session; stops after `max_trades` when given.
    pub fn start(cfg: tickflow_connectors::live::LiveConfig, max_trades: Option<u64>) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel(65_536);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        let name = format!("{}:{}", cfg.venue, cfg.symbols.join(","));
        let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
        let f2 = failed.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            let mut observe = crate::telemetry::global().live.observer();
            let emit = |t| {
                n += 1;
                tx.send(t).is_ok() && max_trades.is_none_or(|m| n < m)
            };
            let r = tickflow_connectors::live::run_observed(&cfg, &s2, emit, |e| observe(&e));
            if let Err(e) = r {
                // a session that cannot continue (gap fill refused, retries exhausted) fails
                // the run: ending normally would leave a hole in the data behind exit code 0
                tracing::error!(error = %e, "live session gave up");
                *f2.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            }
            // the sender drops after this: the feed sees the end after every trade sent before it
        });
        LiveFeed { rx, name, stop, failed }
    }
}

impl Drop for LiveFeed {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl TradeFeed for LiveFeed {
    fn poll(&mut self, out: &mut TradeRows, max: usize) -> Result<FeedStatus, OperatorError> {
        for _ in 0..max {
            match self.rx.try_recv() {
                Ok(t) => out.push(&t),
                Err(std::sync::mpsc::TryRecvError::Empty) => return Ok(if out.is_empty() { FeedStatus::Idle } else { FeedStatus::Ready }),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    if let Some(e) = self.failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
                        return Err(OperatorError::feed(self.name.clone(), None, e));
                    }
                    return Ok(FeedStatus::Done);
                }
            }
        }
        Ok(FeedStatus::Ready)
    }
    fn is_live(&self) -> bool {
        true
    }
    fn name(&self) -> String {
        self.name.clone()
    }
}

/// One statically owned Kafka partition as a feed.
pub struct KafkaFeed {
    reader: tickflow_connectors::kafka::PartitionReader,
    bad: std::sync::Arc<std::sync::atomic::AtomicU64>,
    reported_bad: u64,
    positions: Positions,
    live: bool,
    lag: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

/// Final (topic, partition, next offset) of every partition read to its end in this process,
/// committed by the caller once the sinks have flushed.
pub type Positions = std::sync::Arc<std::sync::Mutex<Vec<(String, i32, i64)>>>;

impl KafkaFeed {
    /// Wraps a reader; `bad` accumulates records sent to the dead-letter topic; the end position
    /// goes to `positions`. A `live` (following) feed lets the watermark advance when idle.
    pub fn new(
        reader: tickflow_connectors::kafka::PartitionReader,
        bad: std::sync::Arc<std::sync::atomic::AtomicU64>,
        positions: Positions,
        live: bool,
    ) -> Self {
        let (t, p) = reader.partition();
        let lag = crate::telemetry::global().lag_gauge(t, p);
        KafkaFeed { reader, bad, reported_bad: 0, positions, live, lag }
    }
}

impl TradeFeed for KafkaFeed {
    fn poll(&mut self, out: &mut TradeRows, max: usize) -> Result<FeedStatus, OperatorError> {
        use tickflow_connectors::kafka::ReadStatus;
        let status = self.reader.poll(out, max).map_err(|e| OperatorError::feed(self.name(), None, e))?;
        let new_bad = self.reader.bad - self.reported_bad;
        if new_bad > 0 {
            self.bad.fetch_add(new_bad, std::sync::atomic::Ordering::Relaxed);
            crate::telemetry::global().dlq.fetch_add(new_bad, std::sync::atomic::Ordering::Relaxed);
        }
        self.reported_bad = self.reader.bad;
        if let Some(l) = self.reader.lag() {
            self.lag.store(l, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(match status {
            ReadStatus::Ready => FeedStatus::Ready,
            ReadStatus::Idle => FeedStatus::Idle,
            ReadStatus::Done => {
                let (t, p) = self.reader.partition();
                let entry = (t.to_string(), p, self.reader.position());
                self.positions.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
                FeedStatus::Done
            }
        })
    }
    fn is_live(&self) -> bool {
        self.live
    }
    fn caught_up(&mut self) -> bool {
        self.reader.caught_up()
    }
    fn name(&self) -> String {
        self.reader.name()
    }
    fn position(&self) -> Option<i64> {
        Some(self.reader.position())
    }
    fn row_position(&self, i: usize) -> Option<i64> {
        Some(self.reader.offset_of(i))
    }
}

/// The shared origin of paced replay: event time `from` (or the first trade any paced feed of
/// this process sees) is released at the wall-clock instant the first trade is polled.
#[derive(Clone, Debug)]
pub struct PaceAnchor(std::sync::Arc<std::sync::Mutex<(Option<i64>, Option<std::time::Instant>)>>);

impl PaceAnchor {
    /// An anchor at event time `from`, when known.
    pub fn new(from: Option<tickflow_model::Ts>) -> Self {
        PaceAnchor(std::sync::Arc::new(std::sync::Mutex::new((from.map(|t| t.0), None))))
    }
    /// Event time allowed out by now at `speed`, anchoring on `first_ts` if unset.
    fn allowed(&self, first_ts: i64, speed: f64) -> i64 {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let origin = *g.0.get_or_insert(first_ts);
        let start = *g.1.get_or_insert_with(std::time::Instant::now);
        let elapsed = start.elapsed().as_nanos() as f64 * speed;
        origin.saturating_add(elapsed.min(i64::MAX as f64 / 2.0) as i64)
    }
}

/// Releases an inner feed's trades no faster than `speed` × event time. Pacing changes only
/// when trades enter the dataflow, never which trades or in which order, so outputs are the
/// same at every speed.
pub struct Paced<F: TradeFeed> {
    inner: F,
    speed: f64,
    anchor: PaceAnchor,
    pending: TradeRows,
    /// Positions of the pending rows (from the inner feed).
    pending_pos: Vec<Option<i64>>,
    next: usize,
    /// Index in `pending` of the first row the last poll gave.
    given_from: usize,
    inner_done: bool,
}

impl<F: TradeFeed> Paced<F> {
    /// Paces `inner` at `speed` against `anchor`.
    pub fn new(inner: F, speed: f64, anchor: PaceAnchor) -> Self {
        Paced { inner, speed, anchor, pending: TradeRows::default(), pending_pos: Vec::new(), next: 0, given_from: 0, inner_done: false }
    }
}

impl<F: TradeFeed> TradeFeed for Paced<F> {
    fn poll(&mut self, out: &mut TradeRows, max: usize) -> Result<FeedStatus, OperatorError> {
        if self.next >= self.pending.len() && !self.inner_done {
            self.pending.clear();
            self.next = 0;
            match self.inner.poll(&mut self.pending, max)? {
                FeedStatus::Done => self.inner_done = true,
                FeedStatus::Idle | FeedStatus::Ready => {}
            }
            self.pending_pos.clear();
            let inner = &self.inner;
            self.pending_pos.extend((0..self.pending.len()).map(|j| inner.row_position(j)));
        }
        self.given_from = self.next;
        if self.next >= self.pending.len() {
            return Ok(if self.inner_done { FeedStatus::Done } else { FeedStatus::Idle });
        }
        let allowed = self.anchor.allowed(self.pending.ts[self.next], self.speed);
        let mut moved = 0;
        while self.next < self.pending.len() && moved < max && self.pending.ts[self.next] <= allowed {
            out.push(&self.pending.get(self.next));
            self.next += 1;
            moved += 1;
        }
        Ok(if moved > 0 { FeedStatus::Ready } else { FeedStatus::Idle })
    }
    fn name(&self) -> String {
        self.inner.name()
    }
    fn position(&self) -> Option<i64> {
        match self.pending_pos.get(self.next) {
            Some(p) => *p,
            None => self.inner.position(),
        }
    }
    fn row_position(&self, i: usize) -> Option<i64> {
        match self.pending_pos.get(self.given_from + i) {
            Some(p) => *p,
            None => self.inner.position(),
        }
    }
}
