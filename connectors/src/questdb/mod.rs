//! QuestDB: tables with `DEDUP UPSERT KEYS`, created over HTTP `/exec`, written with the
//! official client (`questdb-rs`) over ILP/HTTP.
//!
//! A bar as it goes over the wire (text ILP, protocol version 1; one line per row, the
//! designated timestamp — the bar's open time, event time — last, in nanoseconds):
//!
//! ```text
//! bars,exchange=kraken,symbol=XRP/ETH,timeframe=1m open=0.000334,high=0.000334,low=0.000334,close=0.000334,volume=1150.0,quote_volume=0.3841,trades=2i,buy_volume=1150.0,sell_volume=0.0,revision=0i 1577836800000000000
//! ```
//!
//! - [`QuestDbConf`]: the standard client configuration string (`QDB_CLIENT_CONF`).
//! - [`Table`]: the tables, their DDL and dedup keys.
//! - [`QuestDbSink`]: buffering, flushing on thresholds and frontier progress, retries.

mod conf;
mod sink;
pub mod tables;

pub use conf::{QuestDbConf, CONF_ENV};
pub use sink::{create_tables, exec, is_retryable, FlushPolicy, LatencyHistogram, QuestDbSink, QuestDbStats};
pub use tables::Table;
