//! Lock-free counters shared between operators and the telemetry endpoint.
//!
//! Operators only increment atomics; the `topology` crate exports them to Prometheus. One
//! instance is shared by all workers of a process.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::bars::EngineCounters;

/// Pipeline counters (per process, summed over workers).
#[derive(Debug, Default)]
pub struct PipelineMetrics {
    /// Trades read by sources.
    pub trades_in: AtomicU64,
    /// Records sources could not parse or accept.
    pub bad_records: AtomicU64,
    /// Trades accepted by the aggregator.
    pub trades_aggregated: AtomicU64,
    /// Duplicate trades ignored.
    pub duplicates: AtomicU64,
    /// Late trades.
    pub late: AtomicU64,
    /// Late trades beyond the allowed lateness.
    pub too_late: AtomicU64,
    /// Bars emitted (revision 0, including carried).
    pub bars: AtomicU64,
    /// Carried bars emitted.
    pub carried: AtomicU64,
    /// Bar revisions emitted.
    pub revisions: AtomicU64,
    /// Gaps too long to carry, left unfilled.
    pub carry_gaps: AtomicU64,
    /// Idle instruments released from the bar engines' memory.
    pub released: AtomicU64,
    /// Instruments held by the bar engines now (summed over workers).
    pub instruments_held: AtomicI64,
    /// Lowest source watermark, epoch ns (`i64::MIN` before any data).
    pub watermark: AtomicI64,
    /// Largest event time read, epoch ns.
    pub max_event_time: AtomicI64,
}

impl PipelineMetrics {
    /// New, all zero.
    pub fn new() -> Self {
        PipelineMetrics { watermark: AtomicI64::new(i64::MIN), max_event_time: AtomicI64::new(i64::MIN), ..Default::default() }
    }
    /// Adds the difference between two engine counter snapshots.
    pub fn add_engine_delta(&self, before: &EngineCounters, after: &EngineCounters) {
        let r = Ordering::Relaxed;
        self.trades_aggregated.fetch_add(after.trades - before.trades, r);
        self.duplicates.fetch_add(after.duplicates - before.duplicates, r);
        self.late.fetch_add(after.late - before.late, r);
        self.too_late.fetch_add(after.too_late - before.too_late, r);
        self.bars.fetch_add(after.bars - before.bars, r);
        self.carried.fetch_add(after.carried - before.carried, r);
        self.revisions.fetch_add(after.revisions - before.revisions, r);
        self.carry_gaps.fetch_add(after.carry_gaps - before.carry_gaps, r);
        self.released.fetch_add(after.released - before.released, r);
        self.instruments_held.fetch_add(after.held as i64 - before.held as i64, r);
    }
    /// A consistent-enough snapshot for reports.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let r = Ordering::Relaxed;
        MetricsSnapshot {
            trades_in: self.trades_in.load(r),
            bad_records: self.bad_records.load(r),
            trades_aggregated: self.trades_aggregated.load(r),
            duplicates: self.duplicates.load(r),
            late: self.late.load(r),
            too_late: self.too_late.load(r),
            bars: self.bars.load(r),
            carried: self.carried.load(r),
            revisions: self.revisions.load(r),
            carry_gaps: self.carry_gaps.load(r),
            released: self.released.load(r),
        }
    }
}

/// Plain copy of the counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[allow(missing_docs)]
pub struct MetricsSnapshot {
    pub trades_in: u64,
    pub bad_records: u64,
    pub trades_aggregated: u64,
    pub duplicates: u64,
    pub late: u64,
    pub too_late: u64,
    pub bars: u64,
    pub carried: u64,
    pub revisions: u64,
    pub carry_gaps: u64,
    pub released: u64,
}
