//! Graceful shutdown: the first SIGTERM or SIGINT asks every source to stop; the dataflow then
//! drains, every sink flushes (files, Kafka, QuestDB) and the process exits normally. A second
//! signal exits at once.
//!
//! Stopping early records no Kafka position for the interrupted partitions, so nothing is
//! committed past what was fully processed: a restart (`--resume`) re-reads them, and the
//! idempotent sinks (compacted topics, QuestDB upsert keys) converge to the uninterrupted result.

use std::sync::atomic::{AtomicBool, Ordering};

use tickflow_model::{TradeBatch, TradeRows};
use tickflow_operators::{FeedStatus, OperatorError, TradeFeed};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// True once a stop was requested.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// Asks the running job to stop (as the first signal does), e.g. after a sink failed for good.
pub fn request() {
    REQUESTED.store(true, Ordering::Relaxed);
}

#[cfg(unix)]
extern "C" fn on_signal(_: libc::c_int) {
    // only async-signal-safe calls here: an atomic swap and _exit
    if REQUESTED.swap(true, Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe and ends the process.
        unsafe { libc::_exit(130) };
    }
}

/// Installs the SIGTERM/SIGINT handlers.
pub fn install() {
    #[cfg(unix)]
    // SAFETY: `on_signal` only touches an atomic and calls `_exit`, both async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
}

/// A feed that ends as soon as a stop is requested.
pub struct Interruptible(pub Box<dyn TradeFeed>);

impl TradeFeed for Interruptible {
    fn poll(&mut self, out: &mut TradeRows, max: usize) -> Result<FeedStatus, OperatorError> {
        if requested() {
            tracing::info!(feed = %self.0.name(), "stop requested: feed ends here");
            return Ok(FeedStatus::Done);
        }
        self.0.poll(out, max)
    }
    fn poll_batch(&mut self) -> Option<Result<(Option<TradeBatch>, FeedStatus), OperatorError>> {
        if requested() {
            tracing::info!(feed = %self.0.name(), "stop requested: feed ends here");
            return Some(Ok((None, FeedStatus::Done)));
        }
        self.0.poll_batch()
    }
    fn is_live(&self) -> bool {
        self.0.is_live()
    }
    fn name(&self) -> String {
        self.0.name()
    }
    fn position(&self) -> Option<i64> {
        self.0.position()
    }
    fn row_position(&self, i: usize) -> Option<i64> {
        self.0.row_position(i)
    }
}
