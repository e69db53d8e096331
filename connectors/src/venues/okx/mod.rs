//! OKX v5: REST trades and candles; WebSocket `trades` channel.
//!
//! Recorded REST trades (`GET /api/v5/market/trades`):
//! ```json
//! {"code":"0","msg":"","data":[{"instId":"BTC-USDT","side":"sell","sz":"0.00013669","px":"102537.9",
//!   "tradeId":"734864333","ts":"1747087163557"}]}
//! ```
//! `side` is the taker side. Recorded candle (`GET /api/v5/market/candles`): `["ts","o","h","l","c",
//! "vol","volCcy","volCcyQuote","confirm"]`, newest first; `confirm = "0"` marks the forming
//! candle, which is left out. Recorded WebSocket message: `{"arg":{"channel":"trades",
//! "instId":"BTC-USD"},"data":[{"instId":"BTC-USD","tradeId":"130639474","px":"42219.9",
//! "sz":"0.12060306","side":"buy","ts":"1630048897897"}]}`.
//!
//! Every market kind uses the same endpoints with its own instrument id ([`market_id`]). For swaps
//! and futures OKX counts trade sizes (`sz`) in **contracts**, which tickflow keeps, as CCXT's
//! `amount` does (multiply by the contract value `ctVal`, e.g. 0.01 BTC for `BTC-USDT-SWAP`, 100
//! USD for `BTC-USD-SWAP`); candle volume is `volCcy`, in the base currency, as CCXT reads it
//! (the spot candle's `vol`).
//!
//! Instrument ids: spot `BTC-USDT` → `BTC/USDT`; swaps `BTC-USDT-SWAP` → `BTC/USDT:USDT`,
//! `UNI-USD-SWAP` → `UNI/USD:UNI`; futures `BTC-USD-220527` → `BTC/USD:BTC-220527`.

use tickflow_model::{Bar, Decimal, Instrument, Notional, Side, Timeframe, Trade, Ts};

use super::{instrument, payload_err};
use crate::ConnectorError;

mod venue;
pub use venue::{bar, fetch_candles, Okx, OkxHistory, REST_URL, WS_URL};

const VENUE: &str = "okx";

/// OKX instrument id → CCXT symbol.
pub fn ccxt_symbol(inst_id: &str) -> Option<String> {
    let parts: Vec<&str> = inst_id.split('-').collect();
    match parts.as_slice() {
        [b, q] => Some(format!("{b}/{q}")),
        [b, q, "SWAP"] => Some(format!("{b}/{q}:{}", if *q == "USD" { b } else { q })),
        [b, q, exp] if exp.chars().all(|c| c.is_ascii_digit()) => Some(format!("{b}/{q}:{}-{exp}", if *q == "USD" { b } else { q })),
        _ => None,
    }
}

/// CCXT symbol → OKX instrument id, for every market kind: spot `BTC/USDT` → `BTC-USDT`, swaps
/// `BTC/USDT:USDT` → `BTC-USDT-SWAP` and `BTC/USD:BTC` → `BTC-USD-SWAP`, futures
/// `BTC/USDT:USDT-251226` → `BTC-USDT-251226` (the inverse of [`ccxt_symbol`]).
///
/// ```
/// use tickflow_connectors::venues::okx::{ccxt_symbol, market_id};
/// for s in ["BTC/USDT", "BTC/USDT:USDT", "BTC/USD:BTC", "BTC/USDT:USDT-251226", "BTC/USD:BTC-220527"] {
///     assert_eq!(ccxt_symbol(&market_id(s)).as_deref(), Some(s));
/// }
/// ```
pub fn market_id(symbol: &str) -> String {
    let (pair, settle) = symbol.split_once(':').map_or((symbol, None), |(p, s)| (p, Some(s)));
    let pair = pair.replace('/', "-").to_ascii_uppercase();
    match settle.map(|s| s.split_once('-')) {
        None => pair,
        Some(None) => format!("{pair}-SWAP"),
        Some(Some((_, expiry))) => format!("{pair}-{expiry}"),
    }
}

/// Funding history (`GET /api/v5/public/funding-rate-history`), newest first. Recorded (OKX v5
/// API documentation):
/// ```json
/// {"code":"0","msg":"","data":[{"fundingRate":"0.0000746","fundingTime":"1703059200000",
///  "instId":"BTC-USD-SWAP","instType":"SWAP","method":"next_period","realizedRate":"0.0000746"}]}
/// ```
/// The settled rate is `realizedRate` when present (what positions paid), else `fundingRate`.
pub fn parse_funding(body: &str, instrument: Instrument) -> Result<Vec<tickflow_model::FundingRate>, ConnectorError> {
    ok_data(body)?
        .iter()
        .map(|r| {
            let key = if r.get("realizedRate").and_then(|x| x.as_str()).is_some_and(|x| !x.is_empty()) { "realizedRate" } else { "fundingRate" };
            super::funding_row(VENUE, instrument, r, "fundingTime", key, None)
        })
        .collect()
}

/// Parses a `funding-rate` channel push into funding updates (no mark price: OKX streams it on
/// `mark-price`). Documented payload (OKX v5 WebSocket "Funding rate channel"):
/// ```json
/// {"arg":{"channel":"funding-rate","instId":"BTC-USD-SWAP"},"data":[{"fundingRate":"0.0001875391284828",
///  "fundingTime":"1700726400000","instId":"BTC-USD-SWAP","instType":"SWAP","method":"current_period",
///  "nextFundingRate":"","nextFundingTime":"1700755200000","ts":"1700724675402"}]}
/// ```
/// `fundingRate` is the rate to be settled at `fundingTime` (the next settlement).
pub fn parse_funding_push(msg: &str, markets: &[crate::venues::Market]) -> Result<Vec<crate::live::funding::FundingUpdate>, ConnectorError> {
    use crate::live::funding::{market_by_id, ms_field, rate_field, FundingUpdate};
    if msg == "pong" {
        return Ok(Vec::new());
    }
    let v: serde_json::Value = serde_json::from_str(msg).map_err(|e| payload_err(VENUE, format!("ws: {e}")))?;
    if v.get("arg").and_then(|a| a.get("channel")).and_then(|c| c.as_str()) != Some("funding-rate") || v.get("event").is_some() {
        return Ok(Vec::new());
    }
    let data = v.get("data").and_then(|d| d.as_array()).ok_or_else(|| payload_err(VENUE, "funding-rate push without data"))?;
    data.iter()
        .map(|d| {
            let id = s(d, "instId")?;
            let m = market_by_id(markets, id)
                .ok_or_else(|| payload_err(VENUE, format!("funding of unsubscribed instrument {}", tickflow_model::clip(id.as_bytes()))))?;
            Ok(FundingUpdate {
                instrument: m.instrument,
                event_ts: ms_field(d, "ts", VENUE)?.ok_or_else(|| payload_err(VENUE, "funding-rate push without ts"))?,
                next_funding: ms_field(d, "fundingTime", VENUE)?,
                rate: rate_field(d, "fundingRate", VENUE)?,
                mark: None,
            })
        })
        .collect()
}

fn ok_data(body: &str) -> Result<Vec<serde_json::Value>, ConnectorError> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| payload_err(VENUE, e.to_string()))?;
    match v.get("code").and_then(|c| c.as_str()) {
        Some("0") => {}
        Some(c) => return Err(payload_err(VENUE, format!("code {c}: {}", v.get("msg").and_then(|m| m.as_str()).unwrap_or("")))),
        None => return Err(payload_err(VENUE, "no code")),
    }
    v.get("data").and_then(|d| d.as_array()).cloned().ok_or_else(|| payload_err(VENUE, "no data"))
}

fn s<'a>(v: &'a serde_json::Value, k: &str) -> Result<&'a str, ConnectorError> {
    v.get(k).and_then(|x| x.as_str()).ok_or_else(|| payload_err(VENUE, format!("missing {k}")))
}

fn dec(text: &str, what: &str) -> Result<Decimal, ConnectorError> {
    text.parse().map_err(|e| payload_err(VENUE, format!("{what}: {e}")))
}

fn trade(t: &serde_json::Value, exchange: &str, ingest: Ts) -> Result<Trade, ConnectorError> {
    let id = s(t, "instId")?;
    let sym = ccxt_symbol(id).ok_or_else(|| payload_err(VENUE, format!("unknown instrument {id}")))?;
    let ms: i64 = s(t, "ts")?.parse().map_err(|_| payload_err(VENUE, "bad ts"))?;
    Ok(Trade {
        instrument: instrument(VENUE, exchange, &sym)?,
        trade_id: Some(s(t, "tradeId")?.parse().map_err(|_| payload_err(VENUE, "tradeId is not an integer"))?),
        ts: super::ms(VENUE, ms)?,
        ingest_ts: ingest,
        price: dec(s(t, "px")?, "px")?,
        amount: dec(s(t, "sz")?, "sz")?,
        side: match s(t, "side")? {
            "buy" => Side::Buy,
            "sell" => Side::Sell,
            _ => Side::Unknown,
        },
    })
}

/// Parses a REST trades body.
pub fn parse_trades(body: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
    ok_data(body)?.iter().map(|t| trade(t, exchange, ingest)).collect()
}

/// Parses a REST candles body (newest first) into confirmed bars sorted by open time. Volume:
/// `vol` for spot, `volCcy` (base currency, not contracts) for swaps and futures.
pub fn parse_candles(body: &str, instrument: Instrument, timeframe: Timeframe) -> Result<Vec<Bar>, ConnectorError> {
    let spot = tickflow_model::MarketKind::of(instrument.symbol()) == Ok(tickflow_model::MarketKind::Spot);
    confirmed_rows(body, 6, 8, |a, open_time, ohlc| {
        let quote = a.get(7).and_then(|q| q.parse::<Notional>().ok()).unwrap_or(Notional::ZERO);
        // swaps and futures count `vol` in contracts; `volCcy` is the base amount (as CCXT)
        let volume = if spot { dec(a[5], "vol")? } else { dec(a.get(6).ok_or_else(|| payload_err(VENUE, "candle without volCcy"))?, "volCcy")? };
        Ok(Bar::from_candle(instrument, timeframe, open_time, ohlc, volume, quote))
    })
}

/// Parses a mark-price or index candles body (`history-mark-price-candles`,
/// `history-index-candles`; newest first): `["ts","o","h","l","c","confirm"]` (OKX v5
/// documentation), no volume. Forming candles (`confirm = "0"`) are left out.
pub fn parse_price_candles(body: &str, instrument: Instrument, timeframe: Timeframe) -> Result<Vec<Bar>, ConnectorError> {
    confirmed_rows(body, 5, 5, |_, open_time, ohlc| Ok(Bar::from_candle(instrument, timeframe, open_time, ohlc, Decimal::ZERO, Notional::ZERO)))
}

/// The rows of a candles body (`[ts, o, h, l, c, …]`, at least `min` fields) whose field
/// `confirm` is not `"0"` (still forming), made bars by `bar`, sorted by open time.
fn confirmed_rows(
    body: &str,
    min: usize,
    confirm: usize,
    mut bar: impl FnMut(&[&str], Ts, [Decimal; 4]) -> Result<Bar, ConnectorError>,
) -> Result<Vec<Bar>, ConnectorError> {
    let mut out = Vec::new();
    for row in ok_data(body)? {
        let a: Vec<&str> = row.as_array().map(|a| a.iter().filter_map(|x| x.as_str()).collect()).unwrap_or_default();
        if a.len() < min {
            return Err(payload_err(VENUE, format!("candle with fewer than {min} fields")));
        }
        if a.get(confirm) == Some(&"0") {
            continue; // still forming
        }
        let open_time = super::ms(VENUE, a[0].parse().map_err(|_| payload_err(VENUE, "bad candle time"))?)?;
        let ohlc = [dec(a[1], "open")?, dec(a[2], "high")?, dec(a[3], "low")?, dec(a[4], "close")?];
        out.push(bar(&a, open_time, ohlc)?);
    }
    out.sort_by_key(|b| b.open_time);
    Ok(out)
}

/// Parses a WebSocket frame: the trades of a `trades` channel push, empty for anything else.
pub fn parse_ws(msg: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
    let v: serde_json::Value = serde_json::from_str(msg).map_err(|e| payload_err(VENUE, format!("ws: {e}")))?;
    if v.get("arg").and_then(|a| a.get("channel")).and_then(|c| c.as_str()) != Some("trades") || v.get("event").is_some() {
        return Ok(Vec::new());
    }
    let data = v.get("data").and_then(|d| d.as_array()).ok_or_else(|| payload_err(VENUE, "trades push without data"))?;
    data.iter().map(|t| trade(t, exchange, ingest)).collect()
}
