//! # tickflow-connectors
//!
//! Everything that touches the outside world: trade and bar files; exchange venues and
//! CryptoCompare/CoinDesk (one folder per venue under [`venues`], one `Venue` impl each, one
//! registry; raw payloads documented with a real recorded example), Kafka (Redpanda) and QuestDB;
//! one error type.

#![warn(missing_docs)]

#[cfg(feature = "ccxt")]
pub mod ccxt_venues;
mod error;
pub mod files;
pub mod history;
pub mod http;
pub mod kafka;
pub mod live;
pub mod questdb;
pub mod synthetic;
pub mod venues;

pub use error::ConnectorError;
pub use files::bar_csv::{parse_bars, read_bars};
pub use files::bar_out::{BarWriter, LateWriter, OutFormat, BAR_CSV_HEADER, LATE_CSV_HEADER};
pub use files::funding::{funding_schema, read_funding, FundingWriter, FUNDING_CSV_HEADER};
pub use files::parquet::{bar_schema, is_parquet, trade_schema, wants_parquet, TradeParquetWriter};
pub use files::table::{Cell, ColType, TableFormat, TableWriter};
pub use files::trade_csv::{
    convert_trades, TradeCsvOptions, TradeCsvReader, TradeCsvWriter, TradeWriter, DEFAULT_MAX_INSTRUMENTS, DEFAULT_MAX_LINE, TRADE_CSV_HEADER,
    TRADE_CSV_MINIMAL_HEADER,
};
pub use synthetic::{SyntheticConfig, SyntheticTape};
