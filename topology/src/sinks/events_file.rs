//! The paper-trading event file (`--events-out`, `[strategy] events_file`): orders, fills,
//! round trips, equity and summaries as JSON lines.
//!
//! - **Input**: strategy events.
//! - **Partitioning**: gathered on worker 0 ([`super::gathered`]), sorted within a timestamp by
//!   run (each run lives on one worker, so its events keep their order).
//! - **Flush**: after every timestamp written.
//! - **Durable**: up to the input frontier after each flush.

use std::io::Write;

use anyhow::{Context, Result};
use tickflow_strategies::BacktestEvent;

use super::Sink;

/// Strategy events as JSON lines (only on worker 0).
pub struct EventsFile {
    path: String,
    out: Option<std::io::BufWriter<std::fs::File>>,
    dirty: bool,
}

impl EventsFile {
    /// A sink writing to `path` when `write_here` (worker 0 of process 0), else a no-op.
    pub fn create(path: &str, write_here: bool) -> Result<Self> {
        let out = match write_here {
            true => Some(std::io::BufWriter::new(std::fs::File::create(path).with_context(|| path.to_string())?)),
            false => None,
        };
        Ok(EventsFile { path: path.to_string(), out, dirty: false })
    }
}

impl Sink<BacktestEvent> for EventsFile {
    fn name(&self) -> String {
        format!("events file {}", self.path)
    }
    fn write(&mut self, _time: u64, records: &mut Vec<BacktestEvent>) -> Result<()> {
        if let Some(w) = self.out.as_mut() {
            for e in records.iter() {
                serde_json::to_writer(&mut *w, e)?;
                w.write_all(b"\n")?;
            }
            self.dirty = true;
        }
        Ok(())
    }
    fn flush(&mut self, _done: bool) -> Result<bool> {
        if let (Some(w), true) = (self.out.as_mut(), self.dirty) {
            w.flush().with_context(|| self.path.clone())?;
            self.dirty = false;
        }
        Ok(false)
    }
}
