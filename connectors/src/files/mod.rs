//! File sources and sinks.

pub mod bar_csv;
pub mod bar_out;
pub mod scan;
pub mod trade_csv;
