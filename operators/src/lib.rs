//! # tickflow-operators
//!
//! Timely-dataflow operators over pure, timely-free cores.
//!
//! | operator (timely shell) | pure core | what |
//! |---|---|---|
//! | [`source::trade_source`] | [`watermark::Watermark`] | feeds → watermarked trade stream |
//! | [`aggregate::AggregateBars`] | [`bars::BarEngine`], [`bars::BarAccum`], [`bars::IdSet`] | trades → OHLCV bars + late stream |
//! | [`info_bars::InfoBars`], [`info_bars::HeikinAshiBars`] | [`bars::InfoBarBuilder`], [`bars::HeikinAshiBuilder`] | trades → tick/volume/value/imbalance/run/Renko bars; time bars → Heikin-Ashi |
//! | [`ordered_sink::OrderedSink`] | — | deterministic, sorted hand-off to sinks |
//! | [`indicator_stage::IndicatorStage`] | [`indicators`] (one file each) | bars → indicator values per key |
//!
//! Timestamps are `u64` epoch nanoseconds of event time; the frontier is the watermark.
//! No tokio, rdkafka or questdb here: I/O lives in `connectors` behind [`source::TradeFeed`].

#![warn(missing_docs)]

pub mod aggregate;
pub mod bars;
pub mod broker;
pub mod checkpoint;
mod error;
pub mod indicator_stage;
pub mod indicators;
pub mod info_bars;
pub mod metrics;
pub mod ordered_sink;
pub mod source;
pub mod watermark;

pub use aggregate::{AggregateBars, AggregateState, Routing};
pub use bars::{AggregateConfig, BarEngine, Emit, FillPolicy, LatePolicy};
pub use checkpoint::{Barrier, FeedPosition, SourceBarrier};
pub use error::{FeedFault, OperatorError, ParamProblem};
pub use indicator_stage::{IndicatorRow, IndicatorStage};
pub use info_bars::{HeikinAshiBars, InfoBars};
pub use metrics::{MetricsSnapshot, PipelineMetrics};
pub use ordered_sink::OrderedSink;
pub use source::{trade_source, trade_source_at, BatchFeed, FeedErrors, FeedStatus, SourceConfig, TradeFeed, VecFeed};
