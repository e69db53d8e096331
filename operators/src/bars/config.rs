//! Configuration of the bar aggregation: timeframes, fill and late policies, retention.

use tickflow_model::Timeframe;

use crate::OperatorError;

/// What to do with windows that have no trades.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FillPolicy {
    /// No bar.
    None,
    /// A carried bar at the previous close (Kraken's convention).
    Carry,
}

/// What to do with trades that arrive after their bar closed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LatePolicy {
    /// Report them on the late stream, leave bars as they were.
    Drop,
    /// Report them and re-emit the affected bars as revisions.
    Revise,
}

impl std::str::FromStr for FillPolicy {
    type Err = OperatorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(FillPolicy::None),
            "carry" => Ok(FillPolicy::Carry),
            _ => Err(OperatorError::invalid_config("fill", format!("unknown fill policy {s:?}: use none or carry"))),
        }
    }
}
impl std::str::FromStr for LatePolicy {
    type Err = OperatorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "drop" => Ok(LatePolicy::Drop),
            "revise" => Ok(LatePolicy::Revise),
            _ => Err(OperatorError::invalid_config("late", format!("unknown late policy {s:?}: use drop or revise"))),
        }
    }
}

/// Configuration of the bar aggregation.
#[derive(Clone, Debug)]
pub struct AggregateConfig {
    /// Timeframes to build (any order; duplicates ignored).
    pub timeframes: Vec<Timeframe>,
    /// Empty-window policy.
    pub fill: FillPolicy,
    /// Late-trade policy.
    pub late: LatePolicy,
    /// How far below the watermark (ns) a late trade may be and still revise bars.
    pub allowed_lateness: i64,
    /// Emit carried bars as soon as the watermark passes empty windows (live sources only).
    pub carry_trailing: bool,
    /// How long (ns, beyond the allowed lateness) trade ids are remembered for de-duplication.
    pub dedup_retention: i64,
    /// With [`FillPolicy::Carry`]: the longest gap (in windows) filled bar by bar. A longer gap
    /// is counted ([`EngineCounters::carry_gaps`](crate::bars::EngineCounters)) and left empty,
    /// so one far-apart pair of trades cannot allocate millions of carried bars.
    pub max_carry_windows: u64,
}

/// Default [`AggregateConfig::max_carry_windows`]: 10,000 windows (a week of 1m bars).
pub const DEFAULT_MAX_CARRY_WINDOWS: u64 = 10_000;

impl AggregateConfig {
    /// A configuration with the given timeframes, no fill, drop late trades.
    pub fn new(timeframes: Vec<Timeframe>) -> Self {
        AggregateConfig {
            timeframes,
            fill: FillPolicy::None,
            late: LatePolicy::Drop,
            allowed_lateness: 0,
            carry_trailing: false,
            dedup_retention: 3_600 * 1_000_000_000,
            max_carry_windows: DEFAULT_MAX_CARRY_WINDOWS,
        }
    }
    /// Whether finalized bars are kept for revisions: only a late trade within the allowed
    /// lateness under [`LatePolicy::Revise`] can reach one.
    pub fn retains_closed(&self) -> bool {
        self.late == LatePolicy::Revise && self.allowed_lateness > 0
    }
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), OperatorError> {
        if self.timeframes.is_empty() {
            return Err(OperatorError::invalid_config("timeframes", "at least one timeframe is required"));
        }
        if self.allowed_lateness < 0 || self.dedup_retention < 0 {
            let field = if self.allowed_lateness < 0 { "allowed_lateness" } else { "dedup_retention" };
            return Err(OperatorError::invalid_config(field, "lateness and retention must not be negative"));
        }
        Ok(())
    }
}
