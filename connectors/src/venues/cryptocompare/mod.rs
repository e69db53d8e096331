//! CryptoCompare (now the CoinDesk Data API): historical OHLCV.
//!
//! Two response shapes are understood:
//!
//! * **min-api** (`https://min-api.cryptocompare.com/data/histominute|histohour|histoday`, v1,
//!   and `/data/v2/…`, which wraps the same rows in `Data.Data`). Recorded v1 response
//!   (`histominute?fsym=BTC&toTs=1502515020&tsym=USD`, 2017-08-12, alexanderdavidpan/cryptocompare
//!   VCR cassette):
//!   ```json
//!   {"Response":"Success","Type":100,"Aggregated":false,
//!    "Data":[{"time":1502428620,"close":3449.12,"high":3452.78,"low":3448.82,"open":3451.92,
//!             "volumefrom":14.82,"volumeto":51173.22}, …],
//!    "TimeTo":1502515020,"TimeFrom":1502428620,"FirstValueInArray":true,
//!    "ConversionType":{"type":"direct","conversionSymbol":""}}
//!   ```
//!   `time` is the bar's open (epoch seconds), `volumefrom` the base volume, `volumeto` the quote
//!   volume. `limit=N` returns N+1 rows ending **at** `toTs` inclusive; `aggregate=k` bars open at
//!   multiples of k·period since the epoch (checked against the recordings). Rows before the
//!   pair's history begins come back as all-zero rows. Errors arrive as HTTP 200 with
//!   `{"Response":"Error","Message":"…"}`.
//! * **CoinDesk Data API** (`https://data-api.coindesk.com/spot/v1/historical/minutes|hours|days`
//!   `?market=…&instrument=BTC-USD&to_ts=…&limit=…`): `{"Data":[{"UNIT":"MINUTE","TIMESTAMP":…,
//!   "OPEN":…,"HIGH":…,"LOW":…,"CLOSE":…,"VOLUME":…,"QUOTE_VOLUME":…,"TOTAL_TRADES":…,
//!   "VOLUME_BUY":…,"VOLUME_SELL":…}],"Err":{}}`. No recorded payload of this API was available;
//!   the parser follows the documented field names and is tested on the legacy recordings
//!   re-expressed in that shape.
//!
//! Trades:
//!
//! * **Streamer** (legacy `wss://streamer.cryptocompare.com/v2?api_key=…`): subscribe with
//!   `{"action":"SubAdd","subs":["0~Coinbase~BTC~USD"]}`; a trade arrives as
//!   `{"TYPE":"0","M":"Coinbase","FSYM":"BTC","TSYM":"USD","F":"2","ID":"1001","TS":1700000000,
//!   "Q":0.0123,"P":37000.5,"TOTAL":455.1,"RTS":1700000000,"TSNS":123000000,"CCSEQ":…}` where `F`
//!   is a hex flag set (`1` sell, `2` buy, `4` unknown taker side) and `TSNS` the nanoseconds
//!   within `TS`. Control messages: `20` welcome, `16` subscribe complete, `999` heartbeat;
//!   `401`/`429`/`500` are errors (bad key, too many sockets, invalid subscription).
//! * **CoinDesk Data API** `GET /spot/v1/historical/trades?market=…&instrument=BTC-USD&after_ts=…
//!   [&last_ccseq=…]&limit=…`: `{"Data":[{"TIMESTAMP":…,"TIMESTAMP_NS":…,"SIDE":"BUY","ID":"…",
//!   "PRICE":…,"QUANTITY":…,"CCSEQ":…}],"Err":{}}`, oldest first.
//!
//! No recorded response of either was available (the free tier was retired); both parsers follow
//! the documented message shapes and numbers go through the same float-to-exact rule as bars.
//!
//! The still-forming last bar of a response can be internally inconsistent (in the recorded
//! `histoday?limit=10` the final bar has `high` 3915.57 < `close` 3937.77). Bars that are not
//! closed at `now`, and bars whose high/low do not bound open and close, are never emitted:
//! forming bars are dropped and inconsistent closed bars are counted as rejected.

use serde::Deserialize;
use tickflow_model::{Bar, Decimal, Instrument, Notional, Side, Timeframe, Trade, Ts};

use super::payload_err;
use crate::ConnectorError;

mod history;
mod venue;
pub use history::{fetch_candles, CoinDeskHistory, CryptoCompareApi};
pub use venue::{CoinDesk, CryptoCompare, DATA_API_URL, MIN_API_URL, STREAMER_URL};

const VENUE: &str = "cryptocompare";

/// A parsed page.
#[derive(Debug, Default)]
pub struct Page {
    /// Closed, consistent bars in the order received.
    pub bars: Vec<Bar>,
    /// Rows before the pair's history began (all zero).
    pub empty: usize,
    /// Closed rows whose high/low do not bound open/close.
    pub rejected: usize,
    /// Rows still forming at `now`.
    pub forming: usize,
    /// Earliest open time (epoch seconds) of any row, kept or not.
    pub earliest_secs: Option<i64>,
}

#[derive(Deserialize)]
struct LegacyRow {
    time: i64,
    #[serde(deserialize_with = "de_float")]
    open: Decimal,
    #[serde(deserialize_with = "de_float")]
    high: Decimal,
    #[serde(deserialize_with = "de_float")]
    low: Decimal,
    #[serde(deserialize_with = "de_float")]
    close: Decimal,
    #[serde(deserialize_with = "de_float")]
    volumefrom: Decimal,
    volumeto: Notional,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum LegacyData {
    V1(Vec<LegacyRow>),
    V2 {
        #[serde(rename = "Data")]
        data: Vec<LegacyRow>,
    },
}

#[derive(Deserialize)]
struct LegacyResponse {
    #[serde(rename = "Response")]
    response: String,
    #[serde(rename = "Message", default)]
    message: String,
    #[serde(rename = "Data")]
    data: Option<LegacyData>,
}

/// A JSON number (CryptoCompare serves floats) or numeric string as a decimal. The float's
/// shortest round-trip text is used, so `3449.12` is exactly 3449.12; float-summation artifacts
/// past the ninth fractional digit (the recorded `"volumefrom":120.21000000000001`) are rounded
/// half away from zero at the ninth digit.
fn de_float<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    let text = match &v {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.trim().to_string(),
        other => return Err(serde::de::Error::custom(format!("{other} is not a number"))),
    };
    round_decimal(&text).map_err(serde::de::Error::custom)
}

fn de_float_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    de_float(d).map(Some)
}

/// Parses decimal text, rounding half away from zero at the ninth fractional digit.
pub fn round_decimal(text: &str) -> Result<Decimal, String> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() <= 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Decimal::parse_bytes(text.as_bytes()).map_err(|e| e.to_string());
    }
    let kept = Decimal::parse_bytes(format!("{int}.{}", &frac[..9]).as_bytes()).map_err(|e| e.to_string())?;
    if frac.as_bytes()[9] < b'5' {
        return Ok(kept);
    }
    let ulp = Decimal::from_mantissa(if int.starts_with('-') { -1 } else { 1 });
    kept.checked_add(ulp).map_err(|e| e.to_string())
}

/// `BTC/USD` → (`BTC`, `USD`).
pub fn pair(symbol: &str) -> Result<(String, String), ConnectorError> {
    let s = symbol.split(':').next().unwrap_or(symbol);
    match s.split_once('/') {
        Some((b, q)) if !b.is_empty() && !q.is_empty() => Ok((b.to_ascii_uppercase(), q.to_ascii_uppercase())),
        _ => Err(payload_err(VENUE, format!("symbol {symbol:?} is not BASE/QUOTE"))),
    }
}

/// The bar unit and `aggregate` for a timeframe: `(minute, 5)` for 5m. The min-api path is
/// `histo<unit>`, the CoinDesk path `<unit>s`.
pub fn unit_and_aggregate(timeframe: Timeframe) -> Result<(&'static str, i64), ConnectorError> {
    let s = timeframe.secs();
    Ok(if s % 86_400 == 0 {
        ("day", s / 86_400)
    } else if s % 3600 == 0 {
        ("hour", s / 3600)
    } else if s % 60 == 0 {
        ("minute", s / 60)
    } else {
        return Err(payload_err(VENUE, format!("timeframe {timeframe} is not a whole number of minutes")));
    })
}

/// Classifies a row and keeps it if closed and consistent; returns the kept bar so a caller can
/// fill in what its API adds (trade count, taker split).
#[allow(clippy::too_many_arguments)]
fn push(
    page: &mut Page,
    instrument: Instrument,
    timeframe: Timeframe,
    now: Ts,
    open_secs: i64,
    ohlc: [Decimal; 4],
    volume: Decimal,
    quote: Notional,
) -> Option<&mut Bar> {
    let [open, high, low, close] = ohlc;
    page.earliest_secs = Some(page.earliest_secs.map_or(open_secs, |e| e.min(open_secs)));
    if [open, high, low, close].iter().all(|p| *p == Decimal::ZERO) && volume == Decimal::ZERO {
        page.empty += 1;
        return None;
    }
    let open_time = Ts(open_secs.saturating_mul(1_000_000_000));
    if open_time.0.saturating_add(timeframe.nanos()) > now.0 {
        page.forming += 1;
        return None;
    }
    if high < open.max(close) || low > open.min(close) || low <= Decimal::ZERO {
        tracing::warn!(venue = VENUE, %instrument, open_secs, %open, %high, %low, %close, "inconsistent bar rejected");
        page.rejected += 1;
        return None;
    }
    page.bars.push(Bar::from_candle(instrument, timeframe, open_time, ohlc, volume, quote));
    page.bars.last_mut()
}

/// Parses a min-api v1 or v2 histo response.
pub fn parse_legacy(body: &str, instrument: Instrument, timeframe: Timeframe, now: Ts) -> Result<Page, ConnectorError> {
    let r: LegacyResponse = serde_json::from_str(body).map_err(|e| payload_err(VENUE, format!("histo response: {e}")))?;
    if r.response != "Success" {
        return Err(payload_err(VENUE, format!("{}: {}", r.response, r.message)));
    }
    let rows = match r.data {
        Some(LegacyData::V1(rows)) | Some(LegacyData::V2 { data: rows }) => rows,
        None => return Err(payload_err(VENUE, "success without Data")),
    };
    let mut page = Page::default();
    for row in rows {
        push(&mut page, instrument, timeframe, now, row.time, [row.open, row.high, row.low, row.close], row.volumefrom, row.volumeto);
    }
    Ok(page)
}

#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
struct DataApiRow {
    timestamp: i64,
    #[serde(deserialize_with = "de_float")]
    open: Decimal,
    #[serde(deserialize_with = "de_float")]
    high: Decimal,
    #[serde(deserialize_with = "de_float")]
    low: Decimal,
    #[serde(deserialize_with = "de_float")]
    close: Decimal,
    #[serde(deserialize_with = "de_float")]
    volume: Decimal,
    quote_volume: Notional,
    #[serde(default)]
    total_trades: u64,
    #[serde(default, deserialize_with = "de_float_opt")]
    volume_buy: Option<Decimal>,
    #[serde(default, deserialize_with = "de_float_opt")]
    volume_sell: Option<Decimal>,
}

#[derive(Deserialize)]
struct DataApiResponse {
    #[serde(rename = "Data", default)]
    data: Vec<DataApiRow>,
    #[serde(rename = "Err", default)]
    err: serde_json::Value,
}

/// Parses a CoinDesk Data API `spot/v1/historical/*` response.
pub fn parse_data_api(body: &str, instrument: Instrument, timeframe: Timeframe, now: Ts) -> Result<Page, ConnectorError> {
    let r: DataApiResponse = serde_json::from_str(body).map_err(|e| payload_err(VENUE, format!("historical response: {e}")))?;
    if r.err.as_object().is_some_and(|o| !o.is_empty()) {
        return Err(payload_err(VENUE, format!("error: {}", r.err)));
    }
    let mut page = Page::default();
    for row in r.data {
        if let Some(b) = push(&mut page, instrument, timeframe, now, row.timestamp, [row.open, row.high, row.low, row.close], row.volume, row.quote_volume) {
            b.trades = row.total_trades;
            b.buy_volume = row.volume_buy.unwrap_or(Decimal::ZERO);
            b.sell_volume = row.volume_sell.unwrap_or(Decimal::ZERO);
        }
    }
    Ok(page)
}

/// The streamer's name for a venue id (`coinbase` → `Coinbase`).
pub fn streamer_market(exchange: &str) -> String {
    let mut c = exchange.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The trade subscription of `symbol` on `exchange`: `0~Coinbase~BTC~USD`.
pub fn streamer_sub(exchange: &str, symbol: &str) -> Result<String, ConnectorError> {
    let (b, q) = pair(symbol)?;
    Ok(format!("0~{}~{b}~{q}", streamer_market(exchange)))
}

fn num(v: &serde_json::Value, k: &str) -> Result<Decimal, ConnectorError> {
    let text = match v.get(k) {
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(serde_json::Value::String(s)) => s.trim().to_string(),
        _ => return Err(payload_err(VENUE, format!("trade without {k}"))),
    };
    round_decimal(&text).map_err(|e| payload_err(VENUE, format!("{k}: {e}")))
}

fn int(v: &serde_json::Value, k: &str) -> Option<i64> {
    match v.get(k)? {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(v: &serde_json::Value, k: &str) -> Option<String> {
    match v.get(k)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Parses a streamer message: the trade of a `TYPE` 0 message, empty for control messages, an
/// error for error messages (`401`, `429`, `500`, …). The instrument's exchange is the venue id
/// (`M` lower-cased).
pub fn parse_streamer(msg: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
    let v: serde_json::Value = serde_json::from_str(msg).map_err(|e| payload_err(VENUE, format!("streamer: {e}")))?;
    let kind = text(&v, "TYPE").ok_or_else(|| payload_err(VENUE, "streamer message without TYPE"))?;
    match kind.as_str() {
        "0" => {}
        "20" | "16" | "17" | "3" | "999" => return Ok(Vec::new()),
        k if k.len() == 3 && (k.starts_with('4') || k.starts_with('5')) => {
            let m = text(&v, "MESSAGE").unwrap_or_default();
            let info = text(&v, "INFO").or_else(|| text(&v, "PARAMETER")).unwrap_or_default();
            return Err(payload_err(VENUE, format!("streamer error {k} {m}: {info}")));
        }
        _ => return Ok(Vec::new()),
    }
    let market = text(&v, "M").ok_or_else(|| payload_err(VENUE, "trade without M"))?.to_ascii_lowercase();
    let (b, q) = (text(&v, "FSYM").unwrap_or_default(), text(&v, "TSYM").unwrap_or_default());
    let inst = super::instrument(VENUE, &market, &format!("{b}/{q}"))?;
    let secs = int(&v, "TS").ok_or_else(|| payload_err(VENUE, "trade without TS"))?;
    let ns = int(&v, "TSNS").filter(|n| (0..1_000_000_000).contains(n)).unwrap_or(0);
    let flags = text(&v, "F").and_then(|f| u32::from_str_radix(f.trim(), 16).ok()).unwrap_or(4);
    let side = if flags & 1 != 0 {
        Side::Sell
    } else if flags & 2 != 0 {
        Side::Buy
    } else {
        Side::Unknown
    };
    Ok(vec![Trade {
        instrument: inst,
        trade_id: text(&v, "ID").map(|i| super::id_or_hash(i.trim())),
        ts: super::secs_nanos(VENUE, secs, ns)?,
        ingest_ts: ingest,
        price: num(&v, "P")?,
        amount: num(&v, "Q")?,
        side,
    }])
}

/// A Data API trade and its `CCSEQ` (the continuation cursor).
#[derive(Clone, Debug)]
pub struct DataApiTrade {
    /// The trade.
    pub trade: Trade,
    /// CoinDesk's sequence number within the instrument.
    pub ccseq: Option<i64>,
}

/// Parses a CoinDesk Data API `spot/v1/historical/trades` response.
pub fn parse_data_api_trades(body: &str, instrument: Instrument, ingest: Ts) -> Result<Vec<DataApiTrade>, ConnectorError> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| payload_err(VENUE, format!("trades response: {e}")))?;
    if let Some(err) = v.get("Err").filter(|e| e.as_object().is_some_and(|o| !o.is_empty())) {
        return Err(payload_err(VENUE, format!("error: {err}")));
    }
    let Some(rows) = v.get("Data").and_then(|d| d.as_array()) else { return Ok(Vec::new()) };
    rows.iter()
        .map(|r| {
            let secs = int(r, "TIMESTAMP").ok_or_else(|| payload_err(VENUE, "trade without TIMESTAMP"))?;
            let ns = int(r, "TIMESTAMP_NS").filter(|n| (0..1_000_000_000).contains(n)).unwrap_or(0);
            let side = match text(r, "SIDE").as_deref() {
                Some("BUY") => Side::Buy,
                Some("SELL") => Side::Sell,
                _ => Side::Unknown,
            };
            Ok(DataApiTrade {
                trade: Trade {
                    instrument,
                    trade_id: text(r, "ID").map(|i| super::id_or_hash(i.trim())),
                    ts: super::secs_nanos(VENUE, secs, ns)?,
                    ingest_ts: ingest,
                    price: num(r, "PRICE")?,
                    amount: num(r, "QUANTITY")?,
                    side,
                },
                ccseq: int(r, "CCSEQ"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
