//! Kraken Futures (`futures.kraken.com`, a separate API from Kraken spot): perpetuals and dated
//! futures. REST candles (charts API), trade history (market executions), funding history;
//! WebSocket v1 `trade` feed.
//!
//! Market ids (CCXT's `krakenfutures` rules; `XBT` is BTC):
//!
//! | id | CCXT symbol | kind |
//! |---|---|---|
//! | `PF_XBTUSD` | `BTC/USD:USD` | linear (multi-collateral) perpetual, sizes in the base |
//! | `PI_XBTUSD` | `BTC/USD:BTC` | inverse perpetual, sizes in USD contracts |
//! | `FF_XBTUSD_261225` | `BTC/USD:USD-261225` | linear future |
//! | `FI_XBTUSD_250926` | `BTC/USD:BTC-250926` | inverse future |
//!
//! Documented candles (`GET /api/charts/v1/{trade|mark|spot}/{id}/{resolution}?from&to`, epoch
//! seconds): `{"candles":[{"time":1645198500000,"open":"309.15000000000","high":"309.15000000000",
//! "low":"308.70000000000","close":"308.85000000000","volume":0}],"more_candles":true}` (time in
//! ms; volume a number, sometimes a string).
//!
//! Documented market executions (`GET /api/history/v3/market/{id}/executions?since&before&sort=asc
//! &continuation_token`): `{"len":"1000","elements":[{"uid":"…","timestamp":"1710150778607",
//! "event":{"Execution":{"execution":{"uid":"…","timestamp":"1710150778607","quantity":"0.0002",
//! "price":"71907","markPrice":"71903.3","takerOrder":{"direction":"Sell",…},…}}}}],
//! "continuationToken":"…"}` — the taker order's direction is the trade's side; ids are UUIDs
//! (kept as a stable 64-bit hash).
//!
//! Documented WebSocket v1 trades: `{"feed":"trade_snapshot","product_id":"PI_XBTUSD","trades":[
//! {"uid":"caa9c653-…","side":"sell","type":"fill","seq":655508,"time":1612269657781,"qty":440,
//! "price":34893}]}` then `{"feed":"trade","product_id":"PI_XBTUSD","uid":"05af78ac-…",
//! "side":"sell","type":"fill","seq":653355,"time":1612266317519,"qty":15000,"price":34969.5}`
//! (`side` is the taker side, `time` in ms).
//!
//! Documented funding (`GET /derivatives/api/v4/historicalfundingrates?symbol=PF_XBTUSD`, the
//! whole history, ascending): `{"result":"success","rates":[{"timestamp":"2022-06-28T00:00:00.000Z",
//! "fundingRate":-8.15861558e-10,"relativeFundingRate":-1.6898883333333e-05}]}`; the rate per
//! period is `relativeFundingRate` (as CCXT; `fundingRate` is an amount per contract).

use tickflow_model::{Bar, Decimal, Instrument, MarketKind, Notional, Side, Timeframe, Trade, Ts};

use super::{id_or_hash, instrument, payload_err};
use crate::ConnectorError;

mod venue;
pub use venue::{KrakenFutures, KrakenFuturesHistory, REST_URL, WS_URL};

const VENUE: &str = "krakenfutures";

fn asset_id(a: &str) -> String {
    if a.eq_ignore_ascii_case("BTC") {
        "XBT".to_string()
    } else {
        a.to_ascii_uppercase()
    }
}

fn asset_code(a: &str) -> String {
    if a.eq_ignore_ascii_case("XBT") {
        "BTC".to_string()
    } else {
        a.to_ascii_uppercase()
    }
}

/// CCXT symbol → Kraken Futures id (see the module table); spot symbols have no id here.
///
/// ```
/// use tickflow_connectors::venues::krakenfutures::{ccxt_symbol, market_id};
/// for (s, id) in [("BTC/USD:USD", "PF_XBTUSD"), ("BTC/USD:BTC", "PI_XBTUSD"), ("ETH/USD:USD-261225", "FF_ETHUSD_261225"), ("BTC/USD:BTC-250926", "FI_XBTUSD_250926")] {
///     assert_eq!(market_id(s), id);
///     assert_eq!(ccxt_symbol(id).as_deref(), Some(s));
/// }
/// ```
pub fn market_id(symbol: &str) -> String {
    let (pair, settle) = symbol.split_once(':').unwrap_or((symbol, ""));
    let (base, quote) = pair.split_once('/').unwrap_or((pair, ""));
    let pair_id = format!("{}{}", asset_id(base), asset_id(quote));
    match (MarketKind::of(symbol), settle.split_once('-')) {
        (Ok(MarketKind::LinearPerpetual), _) => format!("PF_{pair_id}"),
        (Ok(MarketKind::InversePerpetual), _) => format!("PI_{pair_id}"),
        (Ok(MarketKind::LinearFuture), Some((_, e))) => format!("FF_{pair_id}_{e}"),
        (Ok(MarketKind::InverseFuture), Some((_, e))) => format!("FI_{pair_id}_{e}"),
        _ => pair_id,
    }
}

/// Kraken Futures id → CCXT symbol (the inverse of [`market_id`]); quotes are USD.
pub fn ccxt_symbol(id: &str) -> Option<String> {
    let up = id.to_ascii_uppercase();
    let mut parts = up.split('_');
    let (kind, pair, expiry) = (parts.next()?, parts.next()?, parts.next());
    let base = asset_code(pair.strip_suffix("USD").filter(|b| !b.is_empty())?);
    match (kind, expiry) {
        ("PF", None) => Some(format!("{base}/USD:USD")),
        ("PI", None) => Some(format!("{base}/USD:{base}")),
        ("FF", Some(e)) if e.len() == 6 && e.bytes().all(|b| b.is_ascii_digit()) => Some(format!("{base}/USD:USD-{e}")),
        ("FI", Some(e)) if e.len() == 6 && e.bytes().all(|b| b.is_ascii_digit()) => Some(format!("{base}/USD:{base}-{e}")),
        _ => None,
    }
}

fn json(body: &str, what: &str) -> Result<serde_json::Value, ConnectorError> {
    serde_json::from_str(body).map_err(|e| payload_err(VENUE, format!("{what}: {e}")))
}

/// A field's text (strings as is, numbers as written).
fn text(v: &serde_json::Value, key: &str) -> Result<String, ConnectorError> {
    match v.get(key) {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
        _ => Err(payload_err(VENUE, format!("missing {key}"))),
    }
}

fn dec(v: &serde_json::Value, key: &str) -> Result<Decimal, ConnectorError> {
    text(v, key)?.parse().map_err(|e| payload_err(VENUE, format!("{key}: {e}")))
}

fn millis(v: &serde_json::Value, key: &str) -> Result<Ts, ConnectorError> {
    let ms: i64 = text(v, key)?.parse().map_err(|_| payload_err(VENUE, format!("{key} is not epoch milliseconds")))?;
    super::ms(VENUE, ms)
}

fn side(s: &str) -> Side {
    match s.to_ascii_lowercase().as_str() {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        _ => Side::Unknown,
    }
}

/// Parses a charts body into bars closed at `now`, ascending; `traded` false (mark, spot index):
/// no volume.
pub fn parse_candles(body: &str, instrument: Instrument, timeframe: Timeframe, now: Ts, traded: bool) -> Result<Vec<Bar>, ConnectorError> {
    let v = json(body, "candles")?;
    let rows = v.get("candles").and_then(|c| c.as_array()).ok_or_else(|| payload_err(VENUE, "no candles"))?;
    let mut out = Vec::with_capacity(rows.len());
    for c in rows {
        let open_time = millis(c, "time")?;
        if Ts(open_time.0.saturating_add(timeframe.nanos())) > now {
            continue; // still forming
        }
        let ohlc = [dec(c, "open")?, dec(c, "high")?, dec(c, "low")?, dec(c, "close")?];
        let volume = if traded { dec(c, "volume")? } else { Decimal::ZERO };
        out.push(Bar::from_candle(instrument, timeframe, open_time, ohlc, volume, Notional::ZERO));
    }
    out.sort_by_key(|b| b.open_time);
    Ok(out)
}

/// Parses a market-executions page: its trades (oldest first for `sort=asc`) and the
/// continuation token of the next page, if any.
pub fn parse_executions(body: &str, instrument: Instrument, ingest: Ts) -> Result<(Vec<Trade>, Option<String>), ConnectorError> {
    let v = json(body, "executions")?;
    let elements = v.get("elements").and_then(|e| e.as_array()).ok_or_else(|| payload_err(VENUE, "executions without elements"))?;
    let trades = elements
        .iter()
        .map(|el| {
            let x = el.pointer("/event/Execution/execution").ok_or_else(|| payload_err(VENUE, "element without event.Execution.execution"))?;
            let direction = x.pointer("/takerOrder/direction").and_then(|d| d.as_str()).unwrap_or("");
            Ok(Trade {
                instrument,
                trade_id: Some(id_or_hash(&text(x, "uid")?)),
                ts: millis(x, "timestamp")?,
                ingest_ts: ingest,
                price: dec(x, "price")?,
                amount: dec(x, "quantity")?,
                side: side(direction),
            })
        })
        .collect::<Result<Vec<_>, ConnectorError>>()?;
    let token = v.get("continuationToken").and_then(|t| t.as_str()).filter(|t| !t.is_empty()).map(str::to_string);
    Ok((trades, token))
}

/// Parses a WebSocket v1 frame: the trades of a `trade` or `trade_snapshot` message (oldest
/// first), nothing for other feeds and events.
pub fn parse_ws(msg: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
    let v = json(msg, "ws")?;
    let feed = v.get("feed").and_then(|f| f.as_str());
    let rows: Vec<&serde_json::Value> = match (feed, v.get("event")) {
        (Some("trade"), None) => vec![&v],
        (Some("trade_snapshot"), None) => v.get("trades").and_then(|t| t.as_array()).map(|t| t.iter().rev().collect()).unwrap_or_default(),
        _ => return Ok(Vec::new()),
    };
    let product = v.get("product_id").and_then(|p| p.as_str()).ok_or_else(|| payload_err(VENUE, "trade without product_id"))?;
    let symbol = ccxt_symbol(product).ok_or_else(|| payload_err(VENUE, format!("unknown product {}", tickflow_model::clip(product.as_bytes()))))?;
    let inst = instrument(VENUE, exchange, &symbol)?;
    rows.into_iter()
        .map(|t| {
            Ok(Trade {
                instrument: inst,
                trade_id: Some(id_or_hash(&text(t, "uid")?)),
                ts: millis(t, "time")?,
                ingest_ts: ingest,
                price: dec(t, "price")?,
                amount: dec(t, "qty")?,
                side: side(t.get("side").and_then(|s| s.as_str()).unwrap_or("")),
            })
        })
        .collect()
}

/// Parses the funding history (ascending, ISO times): the rate is `relativeFundingRate`.
pub fn parse_funding(body: &str, instrument: Instrument) -> Result<Vec<tickflow_model::FundingRate>, ConnectorError> {
    let v = json(body, "funding rates")?;
    let rates = v.get("rates").and_then(|r| r.as_array()).ok_or_else(|| payload_err(VENUE, "funding history without rates"))?;
    rates
        .iter()
        .map(|r| {
            let ts = Ts::parse_bytes(text(r, "timestamp")?.as_bytes()).map_err(|e| payload_err(VENUE, format!("timestamp: {e}")))?;
            let rate =
                Notional::parse_bytes(text(r, "relativeFundingRate")?.as_bytes()).map_err(|e| payload_err(VENUE, format!("relativeFundingRate: {e}")))?;
            Ok(tickflow_model::FundingRate { instrument, ts, rate, mark_price: None })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented payloads of the module documentation, and what breaks them.
    #[test]
    fn documented_payloads_parse() {
        let pi = Instrument::new("krakenfutures", "BTC/USD:BTC").unwrap();
        let far = Ts(i64::MAX);
        let c = r#"{"candles":[{"time":1645198500000,"open":"309.15000000000","high":"309.15000000000","low":"308.70000000000","close":"308.85000000000","volume":0},{"time":1645198560000,"open":"308.85","high":"309","low":"308.5","close":"308.9","volume":"12.5"}],"more_candles":true}"#;
        let bars = parse_candles(c, pi, "1m".parse().unwrap(), far, true).unwrap();
        assert_eq!(bars.len(), 2);
        assert_eq!(
            (bars[0].open_time, bars[0].open.to_string(), bars[0].low.to_string()),
            (Ts::from_millis(1_645_198_500_000), "309.15".into(), "308.7".into())
        );
        assert_eq!(bars[1].volume.to_string(), "12.5");
        let forming = parse_candles(c, pi, "1m".parse().unwrap(), Ts::from_millis(1_645_198_600_000), true).unwrap();
        assert_eq!(forming.len(), 1, "the candle not closed at now is left out");

        let snap = r#"{"feed":"trade_snapshot","product_id":"PI_XBTUSD","trades":[{"uid":"caa9c653-420b-4c24-a9f1-462a054d86f1","side":"sell","type":"fill","seq":655508,"time":1612269657781,"qty":440,"price":34893},{"uid":"45ee9737-1877-4682-bc68-e4ef818ef88a","side":"buy","type":"fill","seq":655507,"time":1612269656839,"qty":9643,"price":34891}]}"#;
        let t = parse_ws(snap, "krakenfutures", Ts(0)).unwrap();
        assert_eq!(t.iter().map(|t| t.ts.millis()).collect::<Vec<_>>(), [1_612_269_656_839, 1_612_269_657_781], "oldest first");
        assert_eq!((t[1].instrument.symbol(), t[1].side, t[1].amount.to_string()), ("BTC/USD:BTC", Side::Sell, "440".to_string()));
        let one = r#"{"feed":"trade","product_id":"PF_XBTUSD","uid":"05af78ac-a774-478c-a50c-8b9c234e071e","side":"buy","type":"fill","seq":653355,"time":1612266317519,"qty":0.0015,"price":34969.5}"#;
        let t = parse_ws(one, "krakenfutures", Ts(0)).unwrap();
        assert_eq!(
            (t[0].instrument.symbol(), t[0].price.to_string(), t[0].trade_id),
            ("BTC/USD:USD", "34969.5".to_string(), Some(id_or_hash("05af78ac-a774-478c-a50c-8b9c234e071e")))
        );
        for other in [
            r#"{"event":"subscribed","feed":"trade","product_ids":["PF_XBTUSD"]}"#,
            r#"{"feed":"heartbeat","time":1788257927030}"#,
            r#"{"event":"info","version":1}"#,
        ] {
            assert!(parse_ws(other, "krakenfutures", Ts(0)).unwrap().is_empty(), "{other}");
        }
        assert!(parse_ws(&one.replace("PF_XBTUSD", "XX_NOPE"), "krakenfutures", Ts(0)).is_err());

        let ex = r#"{"len":"2","elements":[{"uid":"a1","timestamp":"1710150778607","event":{"Execution":{"execution":{"uid":"e-1","timestamp":"1710150778607","quantity":"0.0002","price":"71907","markPrice":"71903.3","limitFilled":false,"usdValue":"14.38","takerOrder":{"uid":"o1","tradeable":"PF_XBTUSD","direction":"Sell","quantity":"0.0002"}}}}}],"continuationToken":"MTcxMDE1MDc3ODYwNw=="}"#;
        let pf = Instrument::new("krakenfutures", "BTC/USD:USD").unwrap();
        let (t, token) = parse_executions(ex, pf, Ts(0)).unwrap();
        assert_eq!((t.len(), t[0].side, t[0].amount.to_string(), t[0].ts.millis()), (1, Side::Sell, "0.0002".to_string(), 1_710_150_778_607));
        assert_eq!(token.as_deref(), Some("MTcxMDE1MDc3ODYwNw=="));
        assert!(parse_executions(r#"{"elements":[{"uid":"x"}]}"#, pf, Ts(0)).is_err());

        let f = r#"{"result":"success","rates":[{"timestamp":"2022-06-28T00:00:00.000Z","fundingRate":-8.15861558e-10,"relativeFundingRate":-1.6898883333333e-05}]}"#;
        let r = parse_funding(f, pf).unwrap();
        assert_eq!((r[0].ts, r[0].rate.to_string()), (Ts::parse_bytes(b"2022-06-28T00:00:00Z").unwrap(), "-0.000016898883333333".to_string()));
    }
}
