//! The late-trade file (`--late-out`, `[sinks] late_file`).
//!
//! - **Input**: late trades with their disposition.
//! - **Partitioning**: gathered on worker 0 ([`super::gathered`]), sorted within a timestamp by
//!   (instrument, event time, trade id).
//! - **Flush**: after every timestamp written.
//! - **Durable**: up to the input frontier after each flush.

use anyhow::Result;
use tickflow_connectors::LateWriter;
use tickflow_model::LateTrade;
use timely::dataflow::StreamVec;

use super::{gathered, Sink, SinkSet};

/// Writes late trades to a CSV file (only on worker 0).
pub struct LateFile {
    path: String,
    writer: Option<LateWriter>,
    dirty: bool,
}

impl LateFile {
    /// A sink writing to `path` when `write_here` (worker 0 of process 0), else a no-op.
    pub fn create(path: &str, write_here: bool) -> Result<Self> {
        let writer = if write_here { Some(LateWriter::create(path)?) } else { None };
        Ok(LateFile { path: path.to_string(), writer, dirty: false })
    }
}

/// The order late trades are written in.
pub fn late_key(l: &LateTrade) -> (tickflow_model::Instrument, tickflow_model::Ts, Option<u64>) {
    (l.trade.instrument, l.trade.ts, l.trade.trade_id)
}

impl Sink<LateTrade> for LateFile {
    fn name(&self) -> String {
        format!("late file {}", self.path)
    }
    fn write(&mut self, _time: u64, records: &mut Vec<LateTrade>) -> Result<()> {
        if let Some(w) = self.writer.as_mut() {
            for l in records.iter() {
                w.write(l)?;
            }
            self.dirty = true;
        }
        Ok(())
    }
    fn flush(&mut self, _done: bool) -> Result<bool> {
        if let (Some(w), true) = (self.writer.as_mut(), self.dirty) {
            w.flush()?;
            self.dirty = false;
        }
        Ok(false)
    }
}

/// Attaches a [`LateFile`] to a late-trade stream.
pub fn attach(late: StreamVec<'_, u64, LateTrade>, sink: LateFile, set: &SinkSet) {
    gathered(late, late_key, sink, set);
}
