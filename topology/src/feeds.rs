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
        let more = self.reader.read_rows(out, max).map_err(|e| OperatorError::Feed(e.to_string()))?;
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
}

impl LiveFeed {
    /// Starts a live session; stops after `max_trades` when given.
    pub fn start(cfg: tickflow_connectors::live::LiveConfig, max_trades: Option<u64>) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel(65_536);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        let name = format!("{}:{}", cfg.venue, cfg.symbols.join(","));
        std::thread::spawn(move || {
            let mut n = 0u64;
            let r = tickflow_connectors::live::run(&cfg, &s2, |t| {
                n += 1;
                tx.send(t).is_ok() && max_trades.is_none_or(|m| n < m)
            });
            if let Err(e) = r {
                tracing::error!(error = %e, "live session ended");
            }
        });
        LiveFeed { rx, name, stop }
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
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return Ok(FeedStatus::Done),
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
