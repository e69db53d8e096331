//! File sources and sinks.

pub mod bar_csv;
pub mod bar_out;
mod fast_row;
pub mod funding;
pub mod parquet;
pub mod table;
pub mod trade_csv;
