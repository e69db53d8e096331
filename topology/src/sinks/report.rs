//! The run report: bars per timeframe, revisions, late trades, the last bars, and per paper run
//! its orders, fills and summary — what the command prints when the run ends.
//!
//! - **Input**: bars, late trades, strategy events (one sink each).
//! - **Partitioning**: gathered on worker 0 ([`super::gathered`]), in the same order as the files.
//! - **Flush**: nothing to flush (memory only; the last `keep_tail` bars are kept).
//! - **Durable**: follows the input frontier.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use anyhow::Result;
use tickflow_model::{Bar, BarKind, LateTrade, Timeframe};
use tickflow_strategies::{BacktestEvent, Summary};

use super::Sink;

/// What worker 0 saw.
#[derive(Default, Debug)]
pub struct Report {
    /// Bars (revision 0, carried included).
    pub bars: u64,
    /// Revisions.
    pub revisions: u64,
    /// Late trades.
    pub late: u64,
    /// Bars per series (revision 0): time bars by timeframe, then the other kinds.
    pub per_tf: BTreeMap<(BarKind, Timeframe), u64>,
    /// The last bars.
    pub tail: VecDeque<Bar>,
    /// Per paper run: its summary, orders and fills.
    pub paper: BTreeMap<u32, (Option<Summary>, u64, u64)>,
}

/// The shared report of a worker.
pub type SharedReport = Rc<RefCell<Report>>;

/// Counts bars and keeps the last `keep` of them.
pub struct BarCount {
    /// The report.
    pub report: SharedReport,
    /// How many bars to keep.
    pub keep: usize,
}

impl Sink<Bar> for BarCount {
    fn name(&self) -> String {
        "report bars".into()
    }
    fn write(&mut self, _time: u64, records: &mut Vec<Bar>) -> Result<()> {
        let mut s = self.report.borrow_mut();
        for b in records.iter() {
            if b.revision == 0 {
                s.bars += 1;
                // information-driven bars: one series per kind, whatever each bar's span
                let tf = if b.kind.is_time() { b.timeframe } else { Timeframe::from_secs(1).unwrap_or(b.timeframe) };
                *s.per_tf.entry((b.kind, tf)).or_insert(0) += 1;
            } else {
                s.revisions += 1;
            }
            if self.keep > 0 {
                s.tail.push_back(*b);
                if s.tail.len() > self.keep {
                    s.tail.pop_front();
                }
            }
        }
        Ok(())
    }
    fn flush(&mut self, _done: bool) -> Result<bool> {
        Ok(false)
    }
}

/// Counts late trades.
pub struct LateCount(pub SharedReport);

impl Sink<LateTrade> for LateCount {
    fn name(&self) -> String {
        "report late".into()
    }
    fn write(&mut self, _time: u64, records: &mut Vec<LateTrade>) -> Result<()> {
        self.0.borrow_mut().late += records.len() as u64;
        Ok(())
    }
    fn flush(&mut self, _done: bool) -> Result<bool> {
        Ok(false)
    }
}

/// Counts each paper run's orders and fills and keeps its summary.
pub struct PaperCount(pub SharedReport);

impl Sink<BacktestEvent> for PaperCount {
    fn name(&self) -> String {
        "report paper".into()
    }
    fn write(&mut self, _time: u64, records: &mut Vec<BacktestEvent>) -> Result<()> {
        let mut s = self.0.borrow_mut();
        for e in records.iter() {
            let entry = s.paper.entry(e.run()).or_default();
            match e {
                BacktestEvent::Order(..) => entry.1 += 1,
                BacktestEvent::Fill(..) => entry.2 += 1,
                BacktestEvent::Summary(_, sum) => entry.0 = Some((**sum).clone()),
                _ => {}
            }
        }
        Ok(())
    }
    fn flush(&mut self, _done: bool) -> Result<bool> {
        Ok(false)
    }
}
