//! Bitstamp: WebSocket v2 `live_trades_<pair>` messages (payload parser only; no live session
//! or REST history yet).
//!
//! Recorded trade (cryptofeed capture 2022-01-05):
//! `{"data":{"id":216000477,"timestamp":"1641343699","amount":0.0792,"amount_str":"0.07920000",
//! "price":3805.44,"price_str":"3805.44","type":0,"microtimestamp":"1641343699596000",
//! "buy_order_id":1443875737346049,"sell_order_id":1443875731320832},
//! "channel":"live_trades_ethusd","event":"trade"}`
//!
//! `type` 0 is a buy and 1 a sell (the taker's side); the exact values are the `*_str` fields;
//! `microtimestamp` is the event time in µs. Order-book channels and subscription events yield no
//! trades.

use tickflow_model::{Side, Trade, Ts};

use super::{instrument, payload_err, split_concatenated};
use crate::ConnectorError;

const VENUE: &str = "bitstamp";
const QUOTES: &[&str] = &["USDT", "USDC", "USD", "EUR", "GBP", "BTC", "ETH", "PAX"];

/// `ethusd` → `ETH/USD`.
pub fn ccxt_symbol(pair: &str) -> Option<String> {
    split_concatenated(pair, QUOTES)
}

/// Parses a WebSocket frame: the trade of a `trade` event, empty for anything else.
pub fn parse_ws(msg: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
    let v: serde_json::Value = serde_json::from_str(msg).map_err(|e| payload_err(VENUE, format!("ws: {e}")))?;
    if v.get("event").and_then(|e| e.as_str()) != Some("trade") {
        return Ok(Vec::new());
    }
    let channel = v.get("channel").and_then(|c| c.as_str()).unwrap_or("");
    let pair = channel.strip_prefix("live_trades_").ok_or_else(|| payload_err(VENUE, format!("trade on channel {channel:?}")))?;
    let symbol = ccxt_symbol(pair).ok_or_else(|| payload_err(VENUE, format!("unknown pair {pair}")))?;
    let d = v.get("data").ok_or_else(|| payload_err(VENUE, "trade without data"))?;
    let text = |k: &str| d.get(k).and_then(|x| x.as_str()).ok_or_else(|| payload_err(VENUE, format!("trade without {k}")));
    let micros: i64 = text("microtimestamp")?.parse().map_err(|_| payload_err(VENUE, "bad microtimestamp"))?;
    let side = match d.get("type").and_then(|t| t.as_u64()) {
        Some(0) => Side::Buy,
        Some(1) => Side::Sell,
        _ => Side::Unknown,
    };
    Ok(vec![Trade {
        instrument: instrument(VENUE, exchange, &symbol)?,
        trade_id: d.get("id").and_then(|i| i.as_u64()),
        ts: Ts(micros * 1_000),
        ingest_ts: ingest,
        price: text("price_str")?.parse().map_err(|e| payload_err(VENUE, format!("price: {e}")))?,
        amount: text("amount_str")?.parse().map_err(|e| payload_err(VENUE, format!("amount: {e}")))?,
        side,
    }])
}
