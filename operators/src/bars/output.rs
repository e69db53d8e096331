//! What the engine emits ([`Emit`], in an [`Out`] buffer) and counts ([`EngineCounters`]).

use tickflow_model::{Bar, LateTrade};

/// Output of the engine.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Emit {
    /// A bar (first emission or revision).
    Bar(Bar),
    /// A late trade and what was done with it.
    Late(LateTrade),
}

/// Counters kept by the engine (per worker).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineCounters {
    /// Trades accepted (on-time and late, excluding duplicates).
    pub trades: u64,
    /// Trades ignored as duplicates.
    pub duplicates: u64,
    /// Late trades (all dispositions).
    pub late: u64,
    /// Late trades older than the allowed lateness.
    pub too_late: u64,
    /// Bars emitted with revision 0 (including carried bars).
    pub bars: u64,
    /// Carried bars emitted.
    pub carried: u64,
    /// Revisions emitted.
    pub revisions: u64,
    /// Gaps longer than `max_carry_windows` left unfilled (fill `carry`).
    pub carry_gaps: u64,
    /// Idle instruments released from memory (see [`BarEngine::prune`](super::BarEngine::prune)).
    pub released: u64,
    /// Instruments held in memory now (a level, not a count).
    pub held: u64,
}

/// Pushes output: (emission time, record).
pub type Out = Vec<(i64, Emit)>;
