//! Kraken spot: REST trades and OHLC; WebSocket v2 (and v1) `trade` channel.
//!
//! Recorded REST trades (`GET /0/public/Trades`, CCXT fixture):
//! ```json
//! {"error":[],"result":{"XBTUSDT":[["73324.40000","0.01030900",1710327959.1733468,"b","m","",6324366,
//!   "1710327959173746878"]],"last":"1710327959173746878"}}
//! ```
//! Rows are `[price, volume, time (float seconds), "b"/"s" (taker side), "m"/"l", misc, trade_id]`;
//! `last` is the paging cursor (ns). Times are taken exactly as written in the JSON.
//!
//! Recorded OHLC (`GET /0/public/OHLC`): rows `[time_s, "o", "h", "l", "c", "vwap", "volume",
//! count]`; the **last row is the still-forming candle** and is left out.
//!
//! Recorded WebSocket v1 trade message (cryptofeed capture 2021-04-17):
//! `[321, [["56580.90000","0.00098040","1618677816.660810","s","l",""]], "trade", "XBT/USD"]`
//!
//! WebSocket v2 trade update (`wss://ws.kraken.com/v2`, nautilus fixture of the documented
//! message): `{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy",
//! "price":105944.20,"qty":0.00027625,"ord_type":"limit","trade_id":10218208,
//! "timestamp":"2023-10-06T17:35:55.440295Z"}]}` — `side` is the taker side, trade ids are
//! sequential per pair, prices and quantities are JSON numbers.

use tickflow_model::{Bar, Decimal, Instrument, Side, Timeframe, Trade, Ts};

use super::{instrument, payload_err};
use crate::ConnectorError;

mod venue;
pub use venue::{fetch_ohlc, ohlc, Kraken, KrakenHistory, REST_URL, WS_URL};

const VENUE: &str = "kraken";

/// Kraken's asset codes → CCXT's.
fn asset(code: &str) -> String {
    let c = code.to_ascii_uppercase();
    let c = if c.len() == 4 && (c.starts_with('X') || c.starts_with('Z')) && !["XTZU", "XRPU"].contains(&c.as_str()) { c[1..].to_string() } else { c };
    match c.as_str() {
        "XBT" => "BTC".into(),
        "XDG" => "DOGE".into(),
        _ => c,
    }
}

/// A pair key (`XBTUSDT`, `XXBTZUSD`, `XBT/USD`) → CCXT symbol (`BTC/USDT`, `BTC/USD`).
pub fn ccxt_symbol(pair: &str) -> Option<String> {
    if let Some((b, q)) = pair.split_once('/') {
        return Some(format!("{}/{}", asset(b), asset(q)));
    }
    let p = pair.to_ascii_uppercase();
    if p.len() == 8 && (p.starts_with('X') || p.starts_with('Z')) && (p.as_bytes()[4] == b'Z' || p.as_bytes()[4] == b'X') {
        return Some(format!("{}/{}", asset(&p[..4]), asset(&p[4..])));
    }
    for q in ["USDT", "USDC", "USD", "EUR", "GBP", "CAD", "JPY", "CHF", "AUD", "XBT", "ETH", "DAI"] {
        if let Some(b) = p.strip_suffix(q).filter(|b| !b.is_empty()) {
            return Some(format!("{}/{}", asset(b), asset(q)));
        }
    }
    None
}

/// CCXT symbol → Kraken REST pair (`BTC/USDT` → `XBTUSDT`).
pub fn market_id(symbol: &str) -> String {
    let (b, q) = symbol.split_once('/').unwrap_or((symbol, ""));
    let k = |a: &str| match a {
        "BTC" => "XBT".to_string(),
        "DOGE" => "XDG".to_string(),
        o => o.to_string(),
    };
    format!("{}{}", k(b), k(q))
}

fn dec(v: &serde_json::Value, what: &str) -> Result<Decimal, ConnectorError> {
    serde_json::from_value::<Decimal>(v.clone()).map_err(|e| payload_err(VENUE, format!("{what}: {e}")))
}

fn result(body: &str) -> Result<serde_json::Map<String, serde_json::Value>, ConnectorError> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| payload_err(VENUE, e.to_string()))?;
    if let Some(errs) = v.get("error").and_then(|e| e.as_array()).filter(|e| !e.is_empty()) {
        return Err(payload_err(VENUE, format!("API error: {errs:?}")));
    }
    match v.get("result") {
        Some(serde_json::Value::Object(m)) => Ok(m.clone()),
        _ => Err(payload_err(VENUE, "no result object")),
    }
}

fn trade_row(r: &serde_json::Value, instrument: Instrument, ingest: Ts) -> Result<Trade, ConnectorError> {
    let a = r.as_array().ok_or_else(|| payload_err(VENUE, "trade row is not an array"))?;
    if a.len() < 4 {
        return Err(payload_err(VENUE, "trade row too short"));
    }
    // the time as written: a JSON number (REST) or string (WebSocket v1)
    let time_text = match &a[2] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return Err(payload_err(VENUE, "trade time is not a number")),
    };
    let ts = Ts::parse_bytes(time_text.as_bytes()).map_err(|e| payload_err(VENUE, e.to_string()))?;
    let side = match a[3].as_str() {
        Some("b") => Side::Buy,
        Some("s") => Side::Sell,
        _ => Side::Unknown,
    };
    let trade_id = a.get(6).and_then(|x| x.as_u64().or_else(|| x.as_str().and_then(|s| s.parse().ok())));
    Ok(Trade { instrument, trade_id, ts, ingest_ts: ingest, price: dec(&a[0], "price")?, amount: dec(&a[1], "volume")?, side })
}

/// Parses a REST trades body: the trades and the `last` cursor.
pub fn parse_trades(body: &str, exchange: &str, ingest: Ts) -> Result<(Vec<Trade>, Option<String>), ConnectorError> {
    let m = result(body)?;
    let last = m.get("last").and_then(|l| l.as_str().map(String::from).or_else(|| l.as_u64().map(|n| n.to_string())));
    let (pair, rows) = m.iter().find(|(k, _)| k.as_str() != "last").ok_or_else(|| payload_err(VENUE, "no pair in result"))?;
    let symbol = ccxt_symbol(pair).ok_or_else(|| payload_err(VENUE, format!("unknown pair {pair}")))?;
    let inst = instrument(VENUE, exchange, &symbol)?;
    let rows = rows.as_array().ok_or_else(|| payload_err(VENUE, "trades are not an array"))?;
    let trades = rows.iter().map(|r| trade_row(r, inst, ingest)).collect::<Result<Vec<_>, _>>()?;
    Ok((trades, last))
}

/// Parses a REST OHLC body, leaving out the last (still forming) candle.
pub fn parse_ohlc(body: &str, exchange: &str, timeframe: Timeframe) -> Result<Vec<Bar>, ConnectorError> {
    let m = result(body)?;
    let (pair, rows) = m.iter().find(|(k, _)| k.as_str() != "last").ok_or_else(|| payload_err(VENUE, "no pair in result"))?;
    let symbol = ccxt_symbol(pair).ok_or_else(|| payload_err(VENUE, format!("unknown pair {pair}")))?;
    let inst = instrument(VENUE, exchange, &symbol)?;
    let rows = rows.as_array().ok_or_else(|| payload_err(VENUE, "OHLC rows are not an array"))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows.iter().take(rows.len().saturating_sub(1)) {
        let a = r.as_array().filter(|a| a.len() >= 8).ok_or_else(|| payload_err(VENUE, "OHLC row with fewer than 8 fields"))?;
        let t = a[0].as_i64().ok_or_else(|| payload_err(VENUE, "OHLC time is not an integer"))?;
        let volume = dec(&a[6], "volume")?;
        let vwap = dec(&a[5], "vwap")?;
        out.push(Bar {
            instrument: inst,
            kind: tickflow_model::BarKind::Time,
            timeframe,
            open_time: super::secs(VENUE, t)?,
            open: dec(&a[1], "open")?,
            high: dec(&a[2], "high")?,
            low: dec(&a[3], "low")?,
            close: dec(&a[4], "close")?,
            volume,
            quote_volume: vwap.mul_notional(volume), // Kraken publishes the VWAP, not Σ p·q
            trades: a[7].as_u64().unwrap_or(0),
            buy_volume: Decimal::ZERO,
            sell_volume: Decimal::ZERO,
            first_trade_id: None,
            last_trade_id: None,
            revision: 0,
            seq: 0,
        });
    }
    Ok(out)
}

/// Parses a WebSocket v1 frame: the trades of a `trade` message, empty for anything else
/// (heartbeats, subscription status, other channels).
pub fn parse_ws_v1(msg: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
    let v: serde_json::Value = serde_json::from_str(msg).map_err(|e| payload_err(VENUE, format!("ws: {e}")))?;
    let Some(a) = v.as_array() else { return Ok(Vec::new()) };
    if a.len() < 4 || a[a.len() - 2].as_str() != Some("trade") {
        return Ok(Vec::new());
    }
    let pair = a[a.len() - 1].as_str().ok_or_else(|| payload_err(VENUE, "trade message without pair"))?;
    let symbol = ccxt_symbol(pair).ok_or_else(|| payload_err(VENUE, format!("unknown pair {pair}")))?;
    let inst = instrument(VENUE, exchange, &symbol)?;
    let rows = a[1].as_array().ok_or_else(|| payload_err(VENUE, "trade rows are not an array"))?;
    rows.iter().map(|r| trade_row(r, inst, ingest)).collect()
}

/// Parses a WebSocket v2 frame: the trades of a `trade` snapshot or update, empty for anything
/// else (heartbeats, status, subscription acknowledgements, pongs).
pub fn parse_ws_v2(msg: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
    let v: serde_json::Value = serde_json::from_str(msg).map_err(|e| payload_err(VENUE, format!("ws: {e}")))?;
    if v.get("channel").and_then(|c| c.as_str()) != Some("trade") {
        return Ok(Vec::new());
    }
    let data = v.get("data").and_then(|d| d.as_array()).ok_or_else(|| payload_err(VENUE, "trade message without data"))?;
    data.iter()
        .map(|t| {
            let text = |k: &str| t.get(k).and_then(|x| x.as_str()).ok_or_else(|| payload_err(VENUE, format!("trade without {k}")));
            let symbol = ccxt_symbol(text("symbol")?).ok_or_else(|| payload_err(VENUE, "unknown symbol"))?;
            let ts = Ts::parse_bytes(text("timestamp")?.as_bytes()).map_err(|e| payload_err(VENUE, e.to_string()))?;
            let side = match text("side")? {
                "buy" => Side::Buy,
                "sell" => Side::Sell,
                _ => Side::Unknown,
            };
            let id = t.get("trade_id").and_then(|x| x.as_u64()).ok_or_else(|| payload_err(VENUE, "trade without an integer trade_id"))?;
            let field = |k: &str| t.get(k).ok_or_else(|| payload_err(VENUE, format!("trade without {k}")));
            Ok(Trade {
                instrument: instrument(VENUE, exchange, &symbol)?,
                trade_id: Some(id),
                ts,
                ingest_ts: ingest,
                price: dec(field("price")?, "price")?,
                amount: dec(field("qty")?, "qty")?,
                side,
            })
        })
        .collect()
}
