//! QuestDB tables (ILP over HTTP): `trades`, `bars` (revisions overwrite by DEDUP UPSERT KEYS),
//! `late_trades`, and the paper-trading `orders`, `fills`, `equity`.
//!
//! - **Input**: any stream; `row` writes a record's rows into the sender's buffer.
//! - **Partitioning**: written where the records are ([`super::local`]): every worker has its own
//!   sender per sink; row order does not matter, the tables deduplicate on their keys. The tables
//!   are created once before the workers start.
//! - **Flush**: at the sender's row/byte thresholds and flush interval (checked at every frontier
//!   advance and every 250 ms while rows wait), and when the input ends. A failed flush keeps its
//!   buffer and is retried with backoff while the worker blocks, up to the outage limit.
//! - **Durable**: up to the input frontier once the buffer is empty.

use anyhow::Result;
use tickflow_connectors::questdb::QuestDbSink;
use tickflow_connectors::ConnectorError;

use super::Sink;
use crate::job::QuestDbTarget;

/// Rows into QuestDB.
pub struct QuestDbTable<F> {
    name: String,
    sender: QuestDbSink,
    row: F,
}

impl<F> QuestDbTable<F> {
    /// A sink named `name` (its tables) for tables that already exist.
    pub fn open(name: &str, target: &QuestDbTarget, row: F) -> Result<Self> {
        let sender = QuestDbSink::open(&target.conf, target.policy.clone(), crate::telemetry::global().questdb.clone())?;
        Ok(QuestDbTable { name: format!("questdb {name}"), sender, row })
    }
}

impl<D, F> Sink<D> for QuestDbTable<F>
where
    F: FnMut(&mut QuestDbSink, &D) -> Result<(), ConnectorError> + 'static,
{
    fn name(&self) -> String {
        self.name.clone()
    }
    fn write(&mut self, _time: u64, records: &mut Vec<D>) -> Result<()> {
        for r in records.iter() {
            (self.row)(&mut self.sender, r)?;
        }
        Ok(())
    }
    fn flush(&mut self, done: bool) -> Result<bool> {
        if done {
            self.sender.flush()?;
        } else {
            self.sender.progress()?;
        }
        Ok(self.sender.buffered_rows() > 0)
    }
}
