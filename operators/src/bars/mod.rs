//! Event-time OHLCV engine for many instruments and timeframes (pure core, no timely).
//!
//! The timely operator in [`crate::aggregate`] is a thin shell around [`BarEngine`]: it feeds
//! on-time trades as they arrive, late trades in watermark order, and calls
//! [`BarEngine::finalize_until`] as the input frontier (the global watermark) advances.
//!
//! Semantics:
//! - Windows are epoch-aligned and left-closed `[open, open + tf)`. The smallest timeframe (the
//!   *base*) is built from trades; every timeframe that is a multiple of it is rolled up from
//!   finalized base accumulators (exactly equal to direct aggregation); any other timeframe is
//!   built directly from trades.
//! - A window is finalized, and its bar emitted with revision 0, once the watermark reaches its
//!   end.
//! - Fill `carry`: the gap between two bars of an instrument is filled with carried bars
//!   (O=H=L=C=previous close, volume 0, trades 0). With `carry_trailing` (live sources) empty
//!   windows are also emitted as soon as the watermark passes them; replays and files never do
//!   that, so their output does not depend on when the input ends.
//! - A trade is *late* when the watermark it arrived under has passed the end of its base
//!   window. Late trades are counted and reported; with `revise` and within the allowed
//!   lateness, each closed bar containing it is re-emitted with `revision + 1` (and carried
//!   bars after it follow a changed close). A late trade whose window at some timeframe is
//!   still open simply joins that window.
//! - Trades with an id already seen for the instrument are ignored and counted.
//!
//! Modules, by concern (each depends only on those above it):
//!
//! | module | what |
//! |---|---|
//! | `config` | [`AggregateConfig`], [`FillPolicy`], [`LatePolicy`] |
//! | `accum` | [`BarAccum`], the one OHLCV accumulator (and the batch path's checked run sums) |
//! | `dedup` | [`IdSet`], trade-id de-duplication bounded by event time |
//! | `output` | [`Emit`], [`Out`], [`EngineCounters`] |
//! | `windows` | per-timeframe open windows, finalized bars, carry fill |
//! | `engine` | [`BarEngine`]: instruments, pending windows, on-time trades, finalization, pruning |
//! | `batch` | [`BarEngine::on_time_batch`], the columnar hot path |
//! | `late` | [`BarEngine::late`], late trades and revisions |
//! | `state` | [`EngineState`]: snapshot and restore for checkpoints |

mod accum;
mod batch;
mod config;
mod dedup;
mod engine;
mod info;
mod late;
mod output;
mod state;
mod windows;

pub use accum::BarAccum;
pub use config::{AggregateConfig, FillPolicy, LatePolicy, DEFAULT_MAX_CARRY_WINDOWS};
pub use dedup::IdSet;
pub use engine::BarEngine;
pub use info::{HeikinAshiBuilder, InfoBarBuilder};
pub use output::{Emit, EngineCounters, Out};
pub use state::{ClosedBar, EngineState, InstrumentState, TimeframeState};
