//! Venues: one folder per venue (`venues/<venue>/`) with its payload parsers — raw message
//! types, symbol mapping and normalisation into `model::Trade` and `model::Bar`, each
//! documenting a real recorded payload and tested against it (and against CCXT's own parsed
//! output where CCXT publishes fixtures) — and one implementation of the [`Venue`] trait: id,
//! default URLs, request budget, market ids, REST trade paging, REST candle paging and the live
//! protocol. Every command finds its venue in the [`REGISTRY`].
//!
//! Shared machinery stays outside the folders: [`crate::http`], [`crate::history`] (pager
//! interface, checkpoint, forward candle pager, gap-fill helpers) and [`crate::live`] (the
//! session engine).

pub mod api;
pub mod binance;
pub mod bitstamp;
pub mod bybit;
pub mod coinbase;
pub mod cryptocompare;
pub mod kraken;
pub mod krakenfutures;
pub mod okx;
mod registry;

pub use api::{
    CandlePrice, CandleRequest, CandleResume, CandleSummary, Capabilities, FundingRequest, HistoryRequest, IdOrder, LiveProtocol, Market, Operation, Screened,
    Support, Venue,
};
pub use registry::{capability_table, for_markets, for_operation, get, ids, source_help, REGISTRY};

use serde::de::{self, Deserializer, Visitor};
use tickflow_model::{Decimal, Instrument, MarketKind};

use crate::ConnectorError;

/// Epoch milliseconds from a venue as event time; out of range (past year 2262) is a payload
/// error, never a wrapped time.
pub(crate) fn ms(venue: &str, v: i64) -> Result<tickflow_model::Ts, ConnectorError> {
    tickflow_model::Ts::checked_from_millis(v).ok_or_else(|| payload_err(venue, format!("time {v} ms is out of range")))
}

/// Epoch seconds from a venue as event time (checked).
pub(crate) fn secs(venue: &str, v: i64) -> Result<tickflow_model::Ts, ConnectorError> {
    tickflow_model::Ts::checked_from_secs(v).ok_or_else(|| payload_err(venue, format!("time {v} s is out of range")))
}

/// Epoch microseconds from a venue as event time (checked).
pub(crate) fn micros(venue: &str, v: i64) -> Result<tickflow_model::Ts, ConnectorError> {
    tickflow_model::Ts::checked_from_micros(v).ok_or_else(|| payload_err(venue, format!("time {v} µs is out of range")))
}

/// Epoch seconds and nanoseconds from a venue as event time (checked).
pub(crate) fn secs_nanos(venue: &str, s: i64, ns: i64) -> Result<tickflow_model::Ts, ConnectorError> {
    tickflow_model::Ts::checked_from_secs_nanos(s, ns).ok_or_else(|| payload_err(venue, format!("time {s}.{ns:09} s is out of range")))
}

/// One funding row of a JSON payload: the time (epoch ms, number or string) under `time`, the
/// rate (exact, up to 18 decimals) under `rate`, an optional mark price under `mark`.
pub(crate) fn funding_row(
    venue: &str,
    instrument: Instrument,
    row: &serde_json::Value,
    time: &str,
    rate: &str,
    mark: Option<&str>,
) -> Result<tickflow_model::FundingRate, ConnectorError> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let t = row.get(time).and_then(text).and_then(|s| s.parse::<i64>().ok()).ok_or_else(|| payload_err(venue, format!("funding row without {time}: {row}")))?;
    let r = row.get(rate).and_then(text).ok_or_else(|| payload_err(venue, format!("funding row without {rate}: {row}")))?;
    let rate = tickflow_model::Notional::parse_bytes(r.as_bytes()).map_err(|e| payload_err(venue, format!("{rate}: {e}")))?;
    let mark_price = match mark.and_then(|m| row.get(m)).and_then(text).filter(|s| !s.is_empty()) {
        Some(m) => Some(Decimal::parse_bytes(m.as_bytes()).map_err(|e| payload_err(venue, format!("mark price: {e}")))?),
        None => None,
    };
    Ok(tickflow_model::FundingRate { instrument, ts: ms(venue, t)?, rate, mark_price })
}

/// A payload error for `venue`.
pub fn payload_err(venue: &str, message: impl Into<String>) -> ConnectorError {
    ConnectorError::Payload { venue: venue.to_string(), message: message.into() }
}

/// The market kind of `symbol` ([`MarketKind::of`]), its error as `venue`'s.
pub(crate) fn market_kind(venue: &str, symbol: &str) -> Result<MarketKind, ConnectorError> {
    MarketKind::of(symbol).map_err(|e| payload_err(venue, e.to_string()))
}

/// Splits a concatenated market id (`BTCUSDT`) into `BASE/QUOTE` using known quote assets,
/// longest first.
pub(crate) fn split_concatenated(id: &str, quotes: &[&str]) -> Option<String> {
    let up = id.to_ascii_uppercase();
    let mut qs: Vec<&&str> = quotes.iter().collect();
    qs.sort_by_key(|q| std::cmp::Reverse(q.len()));
    qs.iter().find_map(|q| up.strip_suffix(**q).filter(|b| !b.is_empty()).map(|b| format!("{b}/{q}")))
}

/// A JSON number or numeric string as an exact decimal.
pub(crate) fn de_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    serde::Deserialize::deserialize(d)
}

/// A JSON integer or integer string.
pub(crate) fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an unsigned integer or a string holding one")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom("negative id"))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            v.trim().parse().map_err(|_| E::custom(format!("{v:?} is not an unsigned integer")))
        }
    }
    d.deserialize_any(V)
}

/// A JSON integer or integer string (signed).
pub(crate) fn de_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = i64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an integer or a string holding one")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom("integer out of range"))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
            v.trim().parse().map_err(|_| E::custom(format!("{v:?} is not an integer")))
        }
    }
    d.deserialize_any(V)
}

/// A venue trade id as a number: numeric ids as they are, anything else (UUIDs, prefixed ids)
/// as a stable 64-bit FNV-1a hash of the text, so de-duplication works for every venue.
pub fn id_or_hash(text: &str) -> u64 {
    text.parse().unwrap_or_else(|_| tickflow_model::fnv1a64(&[text.as_bytes()]))
}

/// An instrument, mapping the model error to a payload error.
pub(crate) fn instrument(venue: &str, exchange: &str, symbol: &str) -> Result<Instrument, ConnectorError> {
    Instrument::new(exchange, symbol).map_err(|e| payload_err(venue, e.to_string()))
}
