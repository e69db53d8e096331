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
