//! Files: the bar file (`--out`, `[sinks] bars_file`; CSV, JSON lines or Parquet by extension) and the
//! late-trade file (`--late-out`, `[sinks] late_file`).
//!
//! - **Input**: bars (revisions included), or late trades with their disposition.
//! - **Partitioning**: gathered on worker 0 ([`super::gathered`]), sorted within a timestamp —
//!   bars by [`Bar::sort_key`], late trades by [`late_key`] — so a file is byte-identical for any
//!   number of workers and processes. Only global worker 0 opens the file.
//! - **Flush**: after every timestamp written.
//! - **Durable**: up to the input frontier after each flush; a Parquet bar file (`.parquet`)
//!   only when the input ends (its footer is written and the file published then).

use anyhow::Result;
use tickflow_connectors::{BarWriter, ConnectorError, LateWriter};
use tickflow_model::{Bar, Instrument, LateTrade, Ts};
use timely::dataflow::StreamVec;

use super::{gathered, Sink, SinkSet};

/// A writer of one kind of row.
pub trait RowWriter<D>: 'static {
    /// Creates the file.
    fn create(path: &str) -> Result<Self, ConnectorError>
    where
        Self: Sized;
    /// Buffers a row.
    fn row(&mut self, d: &D) -> Result<(), ConnectorError>;
    /// Writes the buffered rows out; with `done`, the input has ended and the file is
    /// completed. Returns whether rows stay buffered (a Parquet file is whole only at the end).
    fn flush_rows(&mut self, done: bool) -> Result<bool, ConnectorError>;
}

impl RowWriter<Bar> for BarWriter {
    fn create(path: &str) -> Result<Self, ConnectorError> {
        BarWriter::create(path)
    }
    fn row(&mut self, b: &Bar) -> Result<(), ConnectorError> {
        self.write(b)
    }
    fn flush_rows(&mut self, done: bool) -> Result<bool, ConnectorError> {
        if done {
            self.finish()?;
            return Ok(false);
        }
        self.flush()?;
        Ok(self.buffers_until_finish())
    }
}

impl RowWriter<LateTrade> for LateWriter {
    fn create(path: &str) -> Result<Self, ConnectorError> {
        LateWriter::create(path)
    }
    fn row(&mut self, l: &LateTrade) -> Result<(), ConnectorError> {
        self.write(l)
    }
    fn flush_rows(&mut self, _done: bool) -> Result<bool, ConnectorError> {
        self.flush()?;
        Ok(false)
    }
}

/// Rows to a file (only on the worker that writes it).
pub struct File<W> {
    what: &'static str,
    path: String,
    writer: Option<W>,
    dirty: bool,
}

impl<W> File<W> {
    /// A `what` file at `path`, opened when `write_here` (global worker 0), else a no-op.
    pub fn create<D>(what: &'static str, path: &str, write_here: bool) -> Result<Self>
    where
        W: RowWriter<D>,
    {
        let writer = if write_here { Some(W::create(path)?) } else { None };
        Ok(File { what, path: path.to_string(), writer, dirty: false })
    }
}

impl<D, W: RowWriter<D>> Sink<D> for File<W> {
    fn name(&self) -> String {
        format!("{} file {}", self.what, self.path)
    }
    fn write(&mut self, _time: u64, records: &mut Vec<D>) -> Result<()> {
        if let Some(w) = self.writer.as_mut() {
            for r in records.iter() {
                w.row(r)?;
            }
            self.dirty = true;
        }
        Ok(())
    }
    fn flush(&mut self, done: bool) -> Result<bool> {
        match self.writer.as_mut() {
            Some(w) if self.dirty || done => {
                self.dirty = false;
                Ok(w.flush_rows(done)?)
            }
            Some(w) => Ok(w.flush_rows(false)?),
            None => Ok(false),
        }
    }
}

/// The order late trades are written in.
pub fn late_key(l: &LateTrade) -> (Instrument, Ts, Option<u64>) {
    (l.trade.instrument, l.trade.ts, l.trade.trade_id)
}

/// Attaches the bar file at `path` to a bar stream.
pub fn bars(bars: StreamVec<'_, u64, Bar>, path: &str, write_here: bool, set: &SinkSet) -> Result<()> {
    gathered(bars, |b: &Bar| b.sort_key(), File::<BarWriter>::create("bar", path, write_here)?, set);
    Ok(())
}

/// Attaches the late-trade file at `path` to a late-trade stream.
pub fn late(late: StreamVec<'_, u64, LateTrade>, path: &str, write_here: bool, set: &SinkSet) -> Result<()> {
    gathered(late, late_key, File::<LateWriter>::create("late", path, write_here)?, set);
    Ok(())
}
