//! Bitstamp (v2 API): REST transactions and OHLC; WebSocket `live_trades_<pair>`.
//!
//! Recorded WebSocket trade (cryptofeed capture 2022-01-05):
//! `{"data":{"id":216000477,"timestamp":"1641343699","amount":0.0792,"amount_str":"0.07920000",
//! "price":3805.44,"price_str":"3805.44","type":0,"microtimestamp":"1641343699596000",
//! "buy_order_id":1443875737346049,"sell_order_id":1443875731320832},
//! "channel":"live_trades_ethusd","event":"trade"}`
//!
//! `type` 0 is a buy and 1 a sell (the taker's side); the exact values are the `*_str` fields;
//! `microtimestamp` is the event time in µs. Order-book channels, subscription acknowledgements
//! (`bts:subscription_succeeded`) and heartbeat answers (`bts:heartbeat`) yield no trades;
//! `bts:request_reconnect` asks the client to reconnect (the session does, and gap-fills).
//!
//! REST transactions (`GET /api/v2/transactions/{pair}/?time=minute|hour|day`, the documented
//! shape; the same trade as above): newest first, seconds resolution, strings throughout:
//! ```json
//! [{"date":"1641343699","tid":"216000477","amount":"0.07920000","price":"3805.44","type":"0"}]
//! ```
//! The endpoint has no cursor: it serves only the last minute, hour or day, so REST trade
//! history reaches back 24 hours at most.
//!
//! REST OHLC (`GET /api/v2/ohlc/{pair}/?step=<s>&limit=<≤1000>&start=<s>&end=<s>`, the
//! documented shape): ascending by `timestamp` (the candle's open, epoch seconds), the last
//! candle possibly still forming:
//! ```json
//! {"data":{"pair":"BTC/USD","ohlc":[{"timestamp":"1641343680","open":"46421.54","high":"46433.81",
//!   "low":"46419.77","close":"46433.81","volume":"0.41732410"}]}}
//! ```
//! Errors come as `{"status":"error","reason":…}` or `{"code":…,"errors":[…]}`.

use tickflow_model::{Bar, Decimal, Instrument, Notional, Side, Timeframe, Trade, Ts};

use super::{instrument, payload_err, split_concatenated};
use crate::ConnectorError;

mod venue;
#[cfg(test)]
use venue::window as venue_window;
pub use venue::{Bitstamp, BitstampHistory, REST_URL, WS_URL};

const VENUE: &str = "bitstamp";
const QUOTES: &[&str] = &["USDT", "USDC", "USD", "EUR", "GBP", "BTC", "ETH", "PAX"];

/// `ethusd` → `ETH/USD`.
pub fn ccxt_symbol(pair: &str) -> Option<String> {
    split_concatenated(pair, QUOTES)
}

/// `BTC/USD` → `btcusd`.
pub fn market_id(symbol: &str) -> String {
    symbol.split(':').next().unwrap_or(symbol).replace('/', "").to_ascii_lowercase()
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
    Ok(vec![Trade {
        instrument: instrument(VENUE, exchange, &symbol)?,
        trade_id: d.get("id").and_then(|i| i.as_u64()),
        ts: super::micros(VENUE, micros)?,
        ingest_ts: ingest,
        price: text("price_str")?.parse().map_err(|e| payload_err(VENUE, format!("price: {e}")))?,
        amount: text("amount_str")?.parse().map_err(|e| payload_err(VENUE, format!("amount: {e}")))?,
        side: side(d.get("type")),
    }])
}

/// True for `bts:request_reconnect` (the server is going away: reconnect within seconds).
pub fn is_reconnect_request(msg: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(msg).is_ok_and(|v| v.get("event").and_then(|e| e.as_str()) == Some("bts:request_reconnect"))
}

/// `type` 0 (buy) / 1 (sell), as a number or a string.
fn side(v: Option<&serde_json::Value>) -> Side {
    match v.and_then(|t| t.as_u64().or_else(|| t.as_str().and_then(|s| s.parse().ok()))) {
        Some(0) => Side::Buy,
        Some(1) => Side::Sell,
        _ => Side::Unknown,
    }
}

/// A field that may be a JSON string or number.
fn field<'a>(v: &'a serde_json::Value, k: &str, what: &str) -> Result<std::borrow::Cow<'a, str>, ConnectorError> {
    match v.get(k) {
        Some(serde_json::Value::String(s)) => Ok(s.as_str().into()),
        Some(n @ serde_json::Value::Number(_)) => Ok(n.to_string().into()),
        _ => Err(payload_err(VENUE, format!("{what} without {k}"))),
    }
}

fn dec(v: &serde_json::Value, k: &str, what: &str) -> Result<Decimal, ConnectorError> {
    field(v, k, what)?.parse().map_err(|e| payload_err(VENUE, format!("{what} {k}: {e}")))
}

fn int(v: &serde_json::Value, k: &str, what: &str) -> Result<i64, ConnectorError> {
    field(v, k, what)?.trim().parse().map_err(|_| payload_err(VENUE, format!("{what} {k} is not an integer")))
}

/// An error body (`{"status":"error",…}` / `{"code":…,"errors":…}`) as a payload error.
fn check_error(v: &serde_json::Value) -> Result<(), ConnectorError> {
    if v.get("status").and_then(|s| s.as_str()) == Some("error") || v.get("errors").is_some() {
        return Err(payload_err(VENUE, format!("error response: {}", v.to_string().chars().take(300).collect::<String>())));
    }
    Ok(())
}

/// Parses a REST transactions body (newest first, as served).
pub fn parse_transactions(body: &str, instrument: Instrument, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| payload_err(VENUE, format!("transactions: {e}")))?;
    check_error(&v)?;
    let rows = v.as_array().ok_or_else(|| payload_err(VENUE, "transactions: not an array"))?;
    rows.iter()
        .map(|r| {
            Ok(Trade {
                instrument,
                trade_id: Some(int(r, "tid", "transaction")? as u64),
                ts: super::secs(VENUE, int(r, "date", "transaction")?)?,
                ingest_ts: ingest,
                price: dec(r, "price", "transaction")?,
                amount: dec(r, "amount", "transaction")?,
                side: side(r.get("type")),
            })
        })
        .collect()
}

/// Parses a REST OHLC body into bars sorted by open time; candles not closed at `now` are left
/// out.
pub fn parse_ohlc(body: &str, instrument: Instrument, timeframe: Timeframe, now: Ts) -> Result<Vec<Bar>, ConnectorError> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| payload_err(VENUE, format!("ohlc: {e}")))?;
    check_error(&v)?;
    let rows = v.pointer("/data/ohlc").and_then(|o| o.as_array()).ok_or_else(|| payload_err(VENUE, "ohlc: no data.ohlc array"))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let open_time = super::secs(VENUE, int(r, "timestamp", "candle")?)?;
        if Ts(open_time.0.saturating_add(timeframe.nanos())) > now {
            continue; // still forming
        }
        let ohlc = [dec(r, "open", "candle")?, dec(r, "high", "candle")?, dec(r, "low", "candle")?, dec(r, "close", "candle")?];
        out.push(Bar::from_candle(instrument, timeframe, open_time, ohlc, dec(r, "volume", "candle")?, Notional::ZERO));
    }
    out.sort_by_key(|b| b.open_time);
    Ok(out)
}

#[cfg(test)]
mod tests;
