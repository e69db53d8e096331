//! Coinbase Exchange: REST trades and candles; WebSocket `match` messages.
//!
//! Coinbase reports the **maker** side of public trades: `side: "sell"` means a resting sell
//! order was hit, i.e. the taker bought. tickflow stores the taker side.
//!
//! Recorded REST trade (`GET /products/BTC-USDT/trades`, CCXT fixture):
//! ```json
//! [{"trade_id":"18502034","side":"sell","size":"0.00007448","price":"73271.63000000",
//!   "time":"2024-03-13T11:00:17.710679Z"}]
//! ```
//! Recorded candle (`GET /products/BTC-USDT/candles`): `[time_s, low, high, open, close, volume]`,
//! newest first.
//!
//! Recorded WebSocket match (cryptofeed capture 2021-04-17):
//! `{"type":"match","trade_id":280232,"side":"sell","size":"985","price":"0.00001305",
//! "product_id":"SKL-BTC","time":"2021-04-17T16:43:37.089723Z",…}`

use serde::Deserialize;
use tickflow_model::{Bar, Decimal, Instrument, Notional, Side, Timeframe, Trade, Ts};

use super::{de_decimal, de_u64, instrument, payload_err};
use crate::ConnectorError;

mod venue;
pub use venue::{Coinbase, CoinbaseHistory, REST_URL, WS_URL};

const VENUE: &str = "coinbase";

/// `BTC/USD` → `BTC-USD`.
pub fn market_id(symbol: &str) -> String {
    symbol.replace('/', "-").to_ascii_uppercase()
}

/// `BTC-USD` → `BTC/USD`.
pub fn ccxt_symbol(product: &str) -> Option<String> {
    product.split_once('-').map(|(b, q)| format!("{}/{}", b.to_ascii_uppercase(), q.to_ascii_uppercase()))
}

/// A public trade (REST) or `match` message (WebSocket).
#[derive(Debug, Deserialize)]
#[allow(missing_docs)]
pub struct RawTrade {
    #[serde(deserialize_with = "de_u64")]
    pub trade_id: u64,
    pub side: String,
    #[serde(deserialize_with = "de_decimal")]
    pub size: Decimal,
    #[serde(deserialize_with = "de_decimal")]
    pub price: Decimal,
    pub time: String,
    #[serde(default)]
    pub product_id: Option<String>,
}

impl RawTrade {
    /// Normalised trade (taker side = opposite of the reported maker side).
    pub fn to_trade(&self, instrument: Instrument, ingest: Ts) -> Result<Trade, ConnectorError> {
        let ts = Ts::parse_bytes(self.time.as_bytes()).map_err(|e| payload_err(VENUE, e.to_string()))?;
        let side = match self.side.as_str() {
            "sell" => Side::Buy,
            "buy" => Side::Sell,
            _ => Side::Unknown,
        };
        Ok(Trade { instrument, trade_id: Some(self.trade_id), ts, ingest_ts: ingest, price: self.price, amount: self.size, side })
    }
}

/// Parses a REST trades body.
pub fn parse_trades(body: &str, instrument: Instrument, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
    let v: Vec<RawTrade> = serde_json::from_str(body).map_err(|e| payload_err(VENUE, format!("trades: {e}")))?;
    v.iter().map(|t| t.to_trade(instrument, ingest)).collect()
}

/// Parses a REST candles body (any order) into bars sorted by open time; candles not closed at
/// `now` are left out.
pub fn parse_candles(body: &str, instrument: Instrument, timeframe: Timeframe, now: Ts) -> Result<Vec<Bar>, ConnectorError> {
    let rows: Vec<Vec<serde_json::Value>> = serde_json::from_str(body).map_err(|e| payload_err(VENUE, format!("candles: {e}")))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        if r.len() < 6 {
            return Err(payload_err(VENUE, "candle with fewer than 6 fields"));
        }
        let d = |i: usize| serde_json::from_value::<Decimal>(r[i].clone()).map_err(|e| payload_err(VENUE, format!("candle field {i}: {e}")));
        let t = r[0].as_i64().ok_or_else(|| payload_err(VENUE, "candle time is not an integer"))?;
        let open_time = super::secs(VENUE, t)?;
        if Ts(open_time.0.saturating_add(timeframe.nanos())) > now {
            continue;
        }
        // [time, low, high, open, close, volume]
        let ohlc = [d(3)?, d(2)?, d(1)?, d(4)?];
        out.push(Bar::from_candle(instrument, timeframe, open_time, ohlc, d(5)?, Notional::ZERO));
    }
    out.sort_by_key(|b| b.open_time);
    Ok(out)
}

/// Parses a WebSocket frame: `Some(trade)` for `match`/`last_match`, `None` otherwise.
pub fn parse_ws(msg: &str, exchange: &str, ingest: Ts) -> Result<Option<Trade>, ConnectorError> {
    let v: serde_json::Value = serde_json::from_str(msg).map_err(|e| payload_err(VENUE, format!("ws: {e}")))?;
    match v.get("type").and_then(|t| t.as_str()) {
        Some("match") | Some("last_match") => {}
        _ => return Ok(None),
    }
    let t: RawTrade = serde_json::from_value(v).map_err(|e| payload_err(VENUE, format!("match: {e}")))?;
    let product = t.product_id.clone().ok_or_else(|| payload_err(VENUE, "match without product_id"))?;
    let symbol = ccxt_symbol(&product).ok_or_else(|| payload_err(VENUE, format!("bad product {product}")))?;
    t.to_trade(instrument(VENUE, exchange, &symbol)?, ingest).map(Some)
}
