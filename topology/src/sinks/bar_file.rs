//! The bar file (`--out`, `[sinks] bars_file`): CSV, or JSON lines by extension.
//!
//! - **Input**: bars (revisions included).
//! - **Partitioning**: gathered on worker 0 ([`super::gathered`]), sorted within a timestamp by
//!   [`Bar::sort_key`], so the file is byte-identical for any number of workers and processes.
//! - **Flush**: after every timestamp written.
//! - **Durable**: up to the input frontier after each flush.

use anyhow::Result;
use tickflow_connectors::BarWriter;
use tickflow_model::Bar;
use timely::dataflow::StreamVec;

use super::{gathered, Sink, SinkSet};

/// Writes bars to a file (only on worker 0, where they are gathered).
pub struct BarFile {
    path: String,
    writer: Option<BarWriter>,
    dirty: bool,
}

impl BarFile {
    /// A sink writing to `path` when `write_here` (worker 0 of process 0), else a no-op.
    pub fn create(path: &str, write_here: bool) -> Result<Self> {
        let writer = if write_here { Some(BarWriter::create(path)?) } else { None };
        Ok(BarFile { path: path.to_string(), writer, dirty: false })
    }
}

impl Sink<Bar> for BarFile {
    fn name(&self) -> String {
        format!("bar file {}", self.path)
    }
    fn write(&mut self, _time: u64, records: &mut Vec<Bar>) -> Result<()> {
        if let Some(w) = self.writer.as_mut() {
            for b in records.iter() {
                w.write(b)?;
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

/// Attaches a [`BarFile`] to a bar stream.
pub fn attach(bars: StreamVec<'_, u64, Bar>, sink: BarFile, set: &SinkSet) {
    gathered(bars, |b: &Bar| b.sort_key(), sink, set);
}
