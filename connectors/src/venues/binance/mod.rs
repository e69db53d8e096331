//! Binance spot: REST aggregate trades, trades and klines; WebSocket `aggTrade`/`trade` events.
//!
//! Recorded REST aggregate trade (`GET /api/v3/aggTrades`, CCXT fixture):
//! ```json
//! [{"a":"2913537567","p":"73238.70000000","q":"0.00109000","f":"3479463557","l":"3479463557",
//!   "T":"1710327661939","m":false,"M":true}]
//! ```
//! `m` is "the buyer is the maker": `m = false` means the buyer took liquidity → taker side buy.
//!
//! Recorded kline (`GET /api/v3/klines`): `[open_ms, "o", "h", "l", "c", "volume", close_ms,
//! "quote_volume", trades, "taker_buy_base", "taker_buy_quote", "0"]`. A kline whose close time is
//! not yet past `now` is still forming and is excluded.
//!
//! Recorded WebSocket message (combined stream, cryptofeed capture 2021-10-12):
//! `{"stream":"nknusdt@aggTrade","data":{"e":"aggTrade","E":…,"s":"NKNUSDT","a":…,"p":"0.35050000","q":"…","f":…,"l":…,"T":…,"m":true,"M":true}}`

use serde::Deserialize;
use tickflow_model::{Bar, Decimal, Instrument, Notional, Side, Timeframe, Trade, Ts};

use super::{de_decimal, de_i64, de_u64, instrument, payload_err, split_concatenated};
use crate::ConnectorError;

mod venue;
pub use venue::{Binance, BinanceHistory, DAPI_URL, FAPI_URL, REST_URL, WS_URL};

const VENUE: &str = "binance";
const QUOTES: &[&str] = &["USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI", "BTC", "ETH", "BNB", "EUR", "GBP", "TRY", "BRL", "AUD", "JPY", "USD"];

/// `BTC/USDT` → `BTCUSDT`.
pub fn market_id(symbol: &str) -> String {
    symbol.split(':').next().unwrap_or(symbol).replace('/', "").to_ascii_uppercase()
}

/// The contract id of a market of `kind`: spot and USDⓈ-M perpetuals by the pair
/// (`BTC/USDT:USDT` → `BTCUSDT`), COIN-M perpetuals `BTC/USD:BTC` → `BTCUSD_PERP`, quarterly
/// futures (USDⓈ-M and COIN-M) `BTC/USDT:USDT-251226` → `BTCUSDT_251226`.
///
/// ```
/// use tickflow_connectors::venues::binance::{ccxt_symbol, perp_id};
/// use tickflow_model::MarketKind;
/// for s in ["BTC/USDT:USDT", "BTC/USD:BTC", "BTC/USDT:USDT-251226", "ETH/USD:ETH-250627"] {
///     let id = perp_id(s, MarketKind::of(s).unwrap());
///     // USDⓈ-M perpetuals are named like the spot pair: a session labels them
///     let back = if id.contains('_') { s.to_string() } else { s.split(':').next().unwrap().to_string() };
///     assert_eq!(ccxt_symbol(&id), Some(back), "{s} → {id}");
/// }
/// ```
pub fn perp_id(symbol: &str, kind: tickflow_model::MarketKind) -> String {
    use tickflow_model::MarketKind;
    let expiry = symbol.split_once(':').and_then(|(_, s)| s.split_once('-')).map(|(_, e)| e);
    match (kind, expiry) {
        (MarketKind::InversePerpetual, _) => format!("{}_PERP", market_id(symbol)),
        (MarketKind::LinearFuture | MarketKind::InverseFuture, Some(e)) => format!("{}_{e}", market_id(symbol)),
        _ => market_id(symbol),
    }
}

/// Funding history (`GET /fapi/v1/fundingRate`, `/dapi/v1/fundingRate`), ascending. Recorded
/// (CCXT's static fixture, USDⓈ-M):
/// ```json
/// [{"symbol":"BTCUSDT","fundingTime":1729584000000,"fundingRate":"0.00010000","markPrice":"67251.40000000"}]
/// ```
/// COIN-M rows carry no `markPrice`; an empty one (`""`) is none.
pub fn parse_funding(body: &str, instrument: Instrument) -> Result<Vec<tickflow_model::FundingRate>, ConnectorError> {
    let rows: Vec<serde_json::Value> = serde_json::from_str(body).map_err(|e| payload_err(VENUE, format!("funding rates: {e}")))?;
    rows.iter().map(|r| super::funding_row(VENUE, instrument, r, "fundingTime", "fundingRate", Some("markPrice"))).collect()
}

/// Parses a `markPriceUpdate` frame (`<symbol>@markPrice@1s` on USDⓈ-M `fstream` and COIN-M
/// `dstream`, combined-stream wrapped or not) into a funding update of the subscribed market.
/// Documented payload (Binance USDⓈ-M WebSocket market streams, "Mark Price Stream"):
/// ```json
/// {"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15000000","i":"11784.62659091",
///  "P":"11784.25641265","r":"0.00038167","T":1562306400000}
/// ```
/// `r` is the rate to be settled at `T` (the next funding time), `p` the mark price; other events
/// yield nothing, an unsubscribed market is an error.
pub fn parse_mark_price(msg: &str, markets: &[crate::venues::Market]) -> Result<Vec<crate::live::funding::FundingUpdate>, ConnectorError> {
    use crate::live::funding::{market_by_id, ms_field, price_field, rate_field, FundingUpdate};
    let mut v: serde_json::Value = serde_json::from_str(msg).map_err(|e| payload_err(VENUE, format!("ws: {e}")))?;
    let probe = match v.get_mut("data") {
        Some(d) => d.take(),
        None => v,
    };
    if probe.get("e").and_then(|e| e.as_str()) != Some("markPriceUpdate") {
        return Ok(Vec::new());
    }
    let id = probe.get("s").and_then(|s| s.as_str()).ok_or_else(|| payload_err(VENUE, "markPriceUpdate without s"))?;
    let m =
        market_by_id(markets, id).ok_or_else(|| payload_err(VENUE, format!("mark price of unsubscribed market {}", tickflow_model::clip(id.as_bytes()))))?;
    Ok(vec![FundingUpdate {
        instrument: m.instrument,
        event_ts: ms_field(&probe, "E", VENUE)?.ok_or_else(|| payload_err(VENUE, "markPriceUpdate without E"))?,
        next_funding: ms_field(&probe, "T", VENUE)?,
        rate: rate_field(&probe, "r", VENUE)?,
        mark: price_field(&probe, "p", VENUE)?,
    }])
}

/// `BTCUSDT` → `BTC/USDT` (by known quote assets); COIN-M `BTCUSD_PERP` → `BTC/USD:BTC`;
/// quarterly futures `BTCUSDT_251226` → `BTC/USDT:USDT-251226`, `BTCUSD_251226` →
/// `BTC/USD:BTC-251226` (COIN-M contracts are quoted in USD and settled in the base).
pub fn ccxt_symbol(id: &str) -> Option<String> {
    let (pair_id, suffix) = id.split_once('_').map_or((id, None), |(p, s)| (p, Some(s)));
    let pair = split_concatenated(pair_id, QUOTES)?;
    let Some(suffix) = suffix else { return Some(pair) };
    let (base, quote) = pair.split_once('/')?;
    let settle = if quote == "USD" { base } else { quote };
    match suffix {
        "PERP" => Some(format!("{pair}:{settle}")),
        e if e.len() == 6 && e.bytes().all(|b| b.is_ascii_digit()) => Some(format!("{pair}:{settle}-{e}")),
        _ => None,
    }
}

/// An aggregate trade (REST `aggTrades` and the WebSocket `aggTrade` event).
#[derive(Debug, Deserialize)]
#[allow(non_snake_case, missing_docs)]
pub struct AggTrade {
    #[serde(deserialize_with = "de_u64")]
    pub a: u64,
    #[serde(deserialize_with = "de_decimal")]
    pub p: Decimal,
    #[serde(deserialize_with = "de_decimal")]
    pub q: Decimal,
    #[serde(deserialize_with = "de_i64")]
    pub T: i64,
    pub m: bool,
}

impl AggTrade {
    /// Normalised trade.
    pub fn to_trade(&self, instrument: Instrument, ingest: Ts) -> Result<Trade, ConnectorError> {
        Ok(Trade {
            instrument,
            trade_id: Some(self.a),
            ts: super::ms(VENUE, self.T)?,
            ingest_ts: ingest,
            price: self.p,
            amount: self.q,
            side: if self.m { Side::Sell } else { Side::Buy },
        })
    }
}

/// A raw trade (REST `/api/v3/trades`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct RawTrade {
    #[serde(deserialize_with = "de_u64")]
    pub id: u64,
    #[serde(deserialize_with = "de_decimal")]
    pub price: Decimal,
    #[serde(deserialize_with = "de_decimal")]
    pub qty: Decimal,
    #[serde(deserialize_with = "de_i64")]
    pub time: i64,
    pub is_buyer_maker: bool,
}

/// Parses a REST `aggTrades` body.
pub fn parse_agg_trades(body: &str, instrument: Instrument, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
    let v: Vec<AggTrade> = serde_json::from_str(body).map_err(|e| payload_err(VENUE, format!("aggTrades: {e}")))?;
    v.iter().map(|t| t.to_trade(instrument, ingest)).collect()
}

/// Parses a REST `trades` body.
pub fn parse_trades(body: &str, instrument: Instrument, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
    let v: Vec<RawTrade> = serde_json::from_str(body).map_err(|e| payload_err(VENUE, format!("trades: {e}")))?;
    v.iter()
        .map(|t| {
            Ok(Trade {
                instrument,
                trade_id: Some(t.id),
                ts: super::ms(VENUE, t.time)?,
                ingest_ts: ingest,
                price: t.price,
                amount: t.qty,
                side: if t.is_buyer_maker { Side::Sell } else { Side::Buy },
            })
        })
        .collect()
}

/// Parses a REST `klines` body; klines not closed at `now` are left out.
pub fn parse_klines(body: &str, instrument: Instrument, timeframe: Timeframe, now: Ts) -> Result<Vec<Bar>, ConnectorError> {
    klines(body, instrument, timeframe, now, false)
}

/// Parses a COIN-M `/dapi/v1/klines` body (inverse perpetuals and futures): `[open_ms, "o", "h",
/// "l", "c", "volume" (contracts), close_ms, "base_volume", trades, "taker_buy_volume",
/// "taker_buy_base_volume", "0"]`. Volume is the base amount (index 7, as CCXT reads inverse
/// klines); the quote (USD) volume is not in the row (contracts × contract size), so it is 0.
pub fn parse_coinm_klines(body: &str, instrument: Instrument, timeframe: Timeframe, now: Ts) -> Result<Vec<Bar>, ConnectorError> {
    klines(body, instrument, timeframe, now, true)
}

fn klines(body: &str, instrument: Instrument, timeframe: Timeframe, now: Ts, coinm: bool) -> Result<Vec<Bar>, ConnectorError> {
    let rows: Vec<Vec<serde_json::Value>> = serde_json::from_str(body).map_err(|e| payload_err(VENUE, format!("klines: {e}")))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        if r.len() < 11 {
            return Err(payload_err(VENUE, format!("kline with {} fields, expected 12", r.len())));
        }
        let int = |i: usize| -> Result<i64, ConnectorError> {
            r[i].as_i64().or_else(|| r[i].as_str().and_then(|s| s.parse().ok())).ok_or_else(|| payload_err(VENUE, format!("kline field {i} is not an integer")))
        };
        let dec = |i: usize| -> Result<Decimal, ConnectorError> {
            serde_json::from_value::<Decimal>(r[i].clone()).map_err(|e| payload_err(VENUE, format!("kline field {i}: {e}")))
        };
        let close_ms = int(6)?;
        if super::ms(VENUE, close_ms)? >= now {
            continue; // still forming
        }
        let (volume, buy) = if coinm { (dec(7)?, dec(10)?) } else { (dec(5)?, dec(9)?) };
        if buy > volume {
            return Err(payload_err(VENUE, "kline taker buy volume exceeds its volume"));
        }
        out.push(Bar {
            instrument,
            kind: tickflow_model::BarKind::Time,
            timeframe,
            open_time: super::ms(VENUE, int(0)?)?,
            open: dec(1)?,
            high: dec(2)?,
            low: dec(3)?,
            close: dec(4)?,
            volume,
            quote_volume: if coinm {
                Notional::ZERO
            } else {
                serde_json::from_value::<Notional>(r[7].clone()).map_err(|e| payload_err(VENUE, format!("kline quote volume: {e}")))?
            },
            trades: int(8)? as u64,
            buy_volume: buy,
            sell_volume: volume - buy,
            first_trade_id: None,
            last_trade_id: None,
            revision: 0,
            seq: 0,
        });
    }
    Ok(out)
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct WsEvent {
    e: String,
    s: String,
    #[serde(default, deserialize_with = "opt_u64")]
    a: Option<u64>,
    #[serde(default, deserialize_with = "opt_u64")]
    t: Option<u64>,
    #[serde(deserialize_with = "de_decimal")]
    p: Decimal,
    #[serde(deserialize_with = "de_decimal")]
    q: Decimal,
    #[serde(deserialize_with = "de_i64")]
    T: i64,
    m: bool,
}

fn opt_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    de_u64(d).map(Some)
}

/// Parses one WebSocket text frame. `Ok(None)` for events that are not trades (depth, klines,
/// subscription acks); an error for malformed trade events.
pub fn parse_ws(msg: &str, exchange: &str, ingest: Ts) -> Result<Option<Trade>, ConnectorError> {
    let mut v: serde_json::Value = serde_json::from_str(msg).map_err(|e| payload_err(VENUE, format!("ws: {e}")))?;
    // combined streams wrap the event: {"stream": …, "data": {…}}
    let probe = match v.get_mut("data") {
        Some(d) => d.take(),
        None => v,
    };
    match probe.get("e").and_then(|e| e.as_str()) {
        Some("aggTrade") | Some("trade") => {}
        _ => return Ok(None),
    }
    let ev: WsEvent = serde_json::from_value(probe).map_err(|e| payload_err(VENUE, format!("ws trade: {e}")))?;
    let symbol = ccxt_symbol(&ev.s).ok_or_else(|| payload_err(VENUE, format!("unknown market {}", ev.s)))?;
    let id = if ev.e == "aggTrade" { ev.a } else { ev.t };
    Ok(Some(Trade {
        instrument: instrument(VENUE, exchange, &symbol)?,
        trade_id: id,
        ts: super::ms(VENUE, ev.T)?,
        ingest_ts: ingest,
        price: ev.p,
        amount: ev.q,
        side: if ev.m { Side::Sell } else { Side::Buy },
    }))
}
