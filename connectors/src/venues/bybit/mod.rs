//! Bybit v5: REST recent trades and klines; WebSocket `publicTrade` messages.
//!
//! Recorded REST trades (`GET /v5/market/recent-trade`, linear):
//! ```json
//! {"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[{"execId":"a905d5c3-1ed0-4f37-83e4-9c73a2fe2f01",
//!   "symbol":"BTCUSDT","price":"27450.50","size":"0.005","side":"Buy","time":"1709891679000","isBlockTrade":false}]}}
//! ```
//! `side` is the taker side. Spot trade ids are numeric; linear ids are UUIDs, which get a stable
//! 64-bit id (FNV-1a of the text) so de-duplication still works.
//!
//! Recorded kline (`GET /v5/market/kline`): `["start_ms","o","h","l","c","volume","turnover"]`,
//! newest first. Recorded WebSocket trade: `{"topic":"publicTrade.BTCUSDT","data":[{"T":…,"s":"BTCUSDT",
//! "S":"Buy","v":"0.010","p":"27451.00","i":"9dc75fca-…","BT":false}]}`.

use tickflow_model::{Bar, Decimal, Instrument, Notional, Side, Timeframe, Trade, Ts};

use super::{instrument, payload_err, split_concatenated};
use crate::ConnectorError;

mod venue;
pub use venue::{Bybit, REST_URL, WS_URL};

const VENUE: &str = "bybit";
const QUOTES: &[&str] = &["USDT", "USDC", "USDE", "BTC", "ETH", "EUR", "BRL", "USD", "DAI"];

const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
/// Futures month codes of inverse quarterlies (`BTCUSDZ25`: December 2025).
const MONTH_CODES: &[u8; 12] = b"FGHJKMNQUVXZ";

/// The day of the last Friday of a month (Bybit's inverse quarterlies expire then).
fn last_friday(year: i32, month: u32) -> Option<u32> {
    use tickflow_model::{days_from_civil, days_in_month};
    if !(1..=12).contains(&month) {
        return None;
    }
    let last = days_in_month(year as i64, month);
    // day 0 (1970-01-01) was a Thursday: weekday index with Monday = 0
    let weekday = (days_from_civil(year as i64, month, last) + 3).rem_euclid(7) as u32;
    Some(last - (weekday + 7 - 4) % 7) // Friday = 4
}

/// A dated futures id → CCXT symbol: linear `BTCUSDT-26DEC25` → `BTC/USDT:USDT-251226`, USDC
/// `BTC-26DEC25` → `BTC/USDC:USDC-251226`, inverse `BTCUSDZ25` → `BTC/USD:BTC-251226` (the last
/// Friday of the month).
fn future_symbol(id: &str) -> Option<String> {
    if let Some((pair, date)) = id.rsplit_once('-') {
        // DDMMMYY
        let (day, mon, yy) = (date.get(..date.len().checked_sub(5)?)?, date.get(date.len() - 5..date.len() - 2)?, date.get(date.len() - 2..)?);
        let m = MONTHS.iter().position(|x| *x == mon)? + 1;
        let (day, _): (u32, u32) = (day.parse().ok()?, yy.parse().ok()?);
        let pair =
            if pair.contains(|c: char| c.is_ascii_lowercase()) { return None } else { split_concatenated(pair, QUOTES).unwrap_or(format!("{pair}/USDC")) };
        let quote = pair.split('/').nth(1)?.to_string();
        return Some(format!("{pair}:{quote}-{yy}{m:02}{day:02}"));
    }
    let (head, yy) = id.split_at_checked(id.len().checked_sub(2)?)?;
    let yy: i32 = yy.parse().ok()?;
    let (pair, code) = head.split_at_checked(head.len().checked_sub(1)?)?;
    let m = MONTH_CODES.iter().position(|c| *c == code.as_bytes()[0])? as u32 + 1;
    let pair = split_concatenated(pair, &["USD"])?;
    let base = pair.split('/').next()?.to_string();
    let day = last_friday(2000 + yy, m)?;
    Some(format!("{pair}:{base}-{yy:02}{m:02}{day:02}"))
}

/// `BTCUSDT` → `BTC/USDT` (linear contracts settle in the quote: `BTC/USDT:USDT` when `linear`);
/// dated futures by their own ids (`BTCUSDT-26DEC25`, `BTC-26DEC25`, `BTCUSDZ25`).
pub fn ccxt_symbol(id: &str, category: &str) -> Option<String> {
    // the v5 `publicTrade` topic names no category: dated ids are told by their form
    if id.contains('-') || id.ends_with(|c: char| c.is_ascii_digit()) {
        return future_symbol(id);
    }
    let s = split_concatenated(id, QUOTES)?;
    Some(match category {
        "linear" => {
            let q = s.split('/').nth(1).unwrap_or("").to_string();
            format!("{s}:{q}")
        }
        "inverse" => {
            let b = s.split('/').next().unwrap_or("").to_string();
            format!("{s}:{b}")
        }
        _ => s,
    })
}

/// Parses a `tickers.<symbol>` frame of a perpetual (`/v5/public/linear|inverse`) into a funding
/// update; snapshots carry every field, deltas only what changed. Documented payload (Bybit v5
/// WebSocket "Ticker", linear):
/// ```json
/// {"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","lastPrice":"17216.00",
///  "markPrice":"17217.33","indexPrice":"17227.36","nextFundingTime":"1673280000000",
///  "fundingRate":"-0.000212"},"cs":24987956059,"ts":1673272861686}
/// ```
pub fn parse_ticker(msg: &str, markets: &[crate::venues::Market]) -> Result<Vec<crate::live::funding::FundingUpdate>, ConnectorError> {
    use crate::live::funding::{market_by_id, ms_field, price_field, rate_field, FundingUpdate};
    let v: serde_json::Value = serde_json::from_str(msg).map_err(|e| payload_err(VENUE, format!("ws: {e}")))?;
    if !v.get("topic").and_then(|t| t.as_str()).is_some_and(|t| t.starts_with("tickers.")) {
        return Ok(Vec::new());
    }
    let d = v.get("data").ok_or_else(|| payload_err(VENUE, "ticker without data"))?;
    let id = s(d, "symbol")?;
    let m = market_by_id(markets, id).ok_or_else(|| payload_err(VENUE, format!("ticker of unsubscribed market {}", tickflow_model::clip(id.as_bytes()))))?;
    Ok(vec![FundingUpdate {
        instrument: m.instrument,
        event_ts: ms_field(&v, "ts", VENUE)?.ok_or_else(|| payload_err(VENUE, "ticker without ts"))?,
        next_funding: ms_field(d, "nextFundingTime", VENUE)?,
        rate: rate_field(d, "fundingRate", VENUE)?,
        mark: price_field(d, "markPrice", VENUE)?,
    }])
}

/// `BTC/USDT[:USDT]` → `BTCUSDT`; dated futures: linear USDT `BTC/USDT:USDT-251226` →
/// `BTCUSDT-26DEC25`, USDC `BTC/USDC:USDC-251226` → `BTC-26DEC25`, inverse `BTC/USD:BTC-251226`
/// → `BTCUSDZ25` (month code and year).
///
/// ```
/// use tickflow_connectors::venues::bybit::{ccxt_symbol, market_id};
/// for (s, id, category) in [
///     ("BTC/USDT", "BTCUSDT", "spot"),
///     ("BTC/USDT:USDT", "BTCUSDT", "linear"),
///     ("BTC/USD:BTC", "BTCUSD", "inverse"),
///     ("BTC/USDT:USDT-251226", "BTCUSDT-26DEC25", "linear"),
///     ("ETH/USDC:USDC-250328", "ETH-28MAR25", "linear"),
///     ("BTC/USD:BTC-251226", "BTCUSDZ25", "inverse"),
///     ("ETH/USD:ETH-250627", "ETHUSDM25", "inverse"),
/// ] {
///     assert_eq!(market_id(s), id);
///     assert_eq!(ccxt_symbol(id, category).as_deref(), Some(s), "{id}");
/// }
/// ```
pub fn market_id(symbol: &str) -> String {
    let (pair, settle) = symbol.split_once(':').map_or((symbol, None), |(p, s)| (p, Some(s)));
    let plain = pair.replace('/', "").to_ascii_uppercase();
    let Some((settle, expiry)) = settle.and_then(|s| s.split_once('-')) else { return plain };
    let (base, quote) = pair.split_once('/').unwrap_or((pair, ""));
    let (yy, mm, dd) = (expiry.get(..2).unwrap_or(""), expiry.get(2..4).and_then(|m| m.parse::<usize>().ok()).unwrap_or(0), expiry.get(4..).unwrap_or(""));
    if settle.eq_ignore_ascii_case(base) {
        let code = mm.checked_sub(1).and_then(|i| MONTH_CODES.get(i)).map_or('?', |c| *c as char);
        return format!("{plain}{code}{yy}");
    }
    let month = mm.checked_sub(1).and_then(|i| MONTHS.get(i)).copied().unwrap_or("???");
    let head = if quote.eq_ignore_ascii_case("USDC") { base.to_ascii_uppercase() } else { plain };
    format!("{head}-{dd}{month}{yy}")
}

/// A venue trade id: numeric ids as is, others (UUIDs) as a stable 64-bit hash.
pub fn trade_id(text: &str) -> u64 {
    super::id_or_hash(text)
}

fn ok_result(body: &str) -> Result<serde_json::Value, ConnectorError> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| payload_err(VENUE, e.to_string()))?;
    // a number on the wire; CCXT's recorded responses carry it as a string
    let code = v.get("retCode").and_then(|c| c.as_i64().or_else(|| c.as_str().and_then(|t| t.parse().ok())));
    match code {
        Some(0) => {}
        Some(c) => return Err(payload_err(VENUE, format!("retCode {c}: {}", v.get("retMsg").and_then(|m| m.as_str()).unwrap_or("")))),
        None => return Err(payload_err(VENUE, "no retCode")),
    }
    v.get("result").cloned().ok_or_else(|| payload_err(VENUE, "no result"))
}

fn s<'a>(v: &'a serde_json::Value, k: &str) -> Result<&'a str, ConnectorError> {
    v.get(k).and_then(|x| x.as_str()).ok_or_else(|| payload_err(VENUE, format!("missing {k}")))
}

fn dec(text: &str, what: &str) -> Result<Decimal, ConnectorError> {
    text.parse().map_err(|e| payload_err(VENUE, format!("{what}: {e}")))
}

fn side(text: &str) -> Side {
    match text {
        "Buy" => Side::Buy,
        "Sell" => Side::Sell,
        _ => Side::Unknown,
    }
}

/// Parses a funding history body (`GET /v5/market/funding/history`, newest first). Recorded
/// (Bybit v5 documentation):
/// ```json
/// {"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[{"symbol":"ETHPERP",
///  "fundingRate":"0.0001","fundingRateTimestamp":"1672041600000"}]},"retExtInfo":{},"time":1672051897447}
/// ```
pub fn parse_funding(body: &str, instrument: Instrument) -> Result<Vec<tickflow_model::FundingRate>, ConnectorError> {
    let result = ok_result(body)?;
    let list = result.get("list").and_then(|l| l.as_array()).ok_or_else(|| payload_err(VENUE, "no list"))?;
    list.iter().map(|r| super::funding_row(VENUE, instrument, r, "fundingRateTimestamp", "fundingRate", None)).collect()
}

/// Parses a REST recent-trade body.
pub fn parse_trades(body: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
    let r = ok_result(body)?;
    let category = r.get("category").and_then(|c| c.as_str()).unwrap_or("spot").to_string();
    let list = r.get("list").and_then(|l| l.as_array()).ok_or_else(|| payload_err(VENUE, "no list"))?;
    list.iter()
        .map(|t| {
            let sym = ccxt_symbol(s(t, "symbol")?, &category).ok_or_else(|| payload_err(VENUE, "unknown symbol"))?;
            let ms: i64 = s(t, "time")?.parse().map_err(|_| payload_err(VENUE, "bad time"))?;
            Ok(Trade {
                instrument: instrument(VENUE, exchange, &sym)?,
                trade_id: Some(trade_id(s(t, "execId")?)),
                ts: super::ms(VENUE, ms)?,
                ingest_ts: ingest,
                price: dec(s(t, "price")?, "price")?,
                amount: dec(s(t, "size")?, "size")?,
                side: side(s(t, "side")?),
            })
        })
        .collect()
}

/// Parses a REST kline body (newest first) into bars sorted by open time; klines not closed at
/// `now` are left out.
/// With `traded` false: mark or index candles, `[start, open, high, low, close]` (no volume).
pub fn parse_klines(body: &str, instrument: Instrument, timeframe: Timeframe, now: Ts, traded: bool) -> Result<Vec<Bar>, ConnectorError> {
    let r = ok_result(body)?;
    let list = r.get("list").and_then(|l| l.as_array()).ok_or_else(|| payload_err(VENUE, "no list"))?;
    let mut out = Vec::new();
    let fields = if traded { 7 } else { 5 };
    for row in list {
        let a: Vec<&str> = row.as_array().map(|a| a.iter().filter_map(|x| x.as_str()).collect()).unwrap_or_default();
        if a.len() < fields {
            return Err(payload_err(VENUE, format!("kline with fewer than {fields} fields")));
        }
        let open_time = super::ms(VENUE, a[0].parse().map_err(|_| payload_err(VENUE, "bad kline time"))?)?;
        if Ts(open_time.0.saturating_add(timeframe.nanos())) > now {
            continue;
        }
        let ohlc = [dec(a[1], "open")?, dec(a[2], "high")?, dec(a[3], "low")?, dec(a[4], "close")?];
        if !traded {
            out.push(Bar::from_candle(instrument, timeframe, open_time, ohlc, Decimal::ZERO, Notional::ZERO));
            continue;
        }
        let quote = a[6].parse::<Notional>().map_err(|e| payload_err(VENUE, format!("turnover: {e}")))?;
        out.push(Bar::from_candle(instrument, timeframe, open_time, ohlc, dec(a[5], "volume")?, quote));
    }
    out.sort_by_key(|b| b.open_time);
    Ok(out)
}

/// Parses a WebSocket frame: the trades of a `publicTrade.*` (or v5 `trade.<category>.*`)
/// message, empty for anything else.
pub fn parse_ws(msg: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
    let v: serde_json::Value = serde_json::from_str(msg).map_err(|e| payload_err(VENUE, format!("ws: {e}")))?;
    let Some(topic) = v.get("topic").and_then(|t| t.as_str()) else { return Ok(Vec::new()) };
    let category = if topic.starts_with("trade.linear.") {
        "linear"
    } else if topic.starts_with("trade.inverse.") {
        "inverse"
    } else if topic.starts_with("publicTrade.") || topic.starts_with("trade.spot.") {
        "spot"
    } else if let Some(id) = topic.strip_prefix("trade.") {
        return parse_ws_legacy(&v, id, exchange, ingest);
    } else {
        return Ok(Vec::new());
    };
    let data = v.get("data").and_then(|d| d.as_array()).ok_or_else(|| payload_err(VENUE, "trade message without data"))?;
    data.iter()
        .map(|t| {
            let sym = ccxt_symbol(s(t, "s")?, category).ok_or_else(|| payload_err(VENUE, "unknown symbol"))?;
            let ms = t.get("T").and_then(|x| x.as_i64()).ok_or_else(|| payload_err(VENUE, "missing T"))?;
            Ok(Trade {
                instrument: instrument(VENUE, exchange, &sym)?,
                trade_id: Some(trade_id(s(t, "i")?)),
                ts: super::ms(VENUE, ms)?,
                ingest_ts: ingest,
                price: dec(s(t, "p")?, "price")?,
                amount: dec(s(t, "v")?, "size")?,
                side: side(s(t, "S")?),
            })
        })
        .collect()
}

/// A pre-v5 `trade.<SYMBOL>` message (`realtime_public` USDT perpetuals, `realtime` inverse):
/// `{"topic":"trade.BCHUSDT","data":[{"symbol":"BCHUSDT","price":"1053.90","size":0.14,
/// "trade_time_ms":"1618677785116","side":"Buy","trade_id":"01cacfe9-…"}]}` (cryptofeed capture
/// 2021-04-17; prices are strings or numbers, times strings or numbers). `side` is the taker side.
fn parse_ws_legacy(v: &serde_json::Value, id: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
    let category = if id.ends_with("USD") { "inverse" } else { "linear" };
    let sym = ccxt_symbol(id, category).ok_or_else(|| payload_err(VENUE, format!("unknown symbol {id}")))?;
    let inst = instrument(VENUE, exchange, &sym)?;
    let data = v.get("data").and_then(|d| d.as_array()).ok_or_else(|| payload_err(VENUE, "trade message without data"))?;
    let text = |t: &serde_json::Value, k: &str| -> Result<String, ConnectorError> {
        match t.get(k) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
            _ => Err(payload_err(VENUE, format!("missing {k}"))),
        }
    };
    data.iter()
        .map(|t| {
            let ms: i64 = text(t, "trade_time_ms")?.parse().map_err(|_| payload_err(VENUE, "bad trade_time_ms"))?;
            Ok(Trade {
                instrument: inst,
                trade_id: Some(trade_id(&text(t, "trade_id")?)),
                ts: super::ms(VENUE, ms)?,
                ingest_ts: ingest,
                price: dec(&text(t, "price")?, "price")?,
                amount: dec(&text(t, "size")?, "size")?,
                side: side(&text(t, "side")?),
            })
        })
        .collect()
}
