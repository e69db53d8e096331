//! CryptoCompare and the CoinDesk Data API as [`Venue`]s. Both are aggregators: `--market`
//! picks the underlying exchange recorded on trades and bars, and the API key is sent as
//! `authorization: Apikey …` (the streamer takes it in the URL), never logged.
//!
//! * `cryptocompare`: candles from min-api (`--market`: one exchange instead of the CCCAGG
//!   index), trades from the CoinDesk Data API, live trades from the streamer gap-filled from
//!   the Data API.
//! * `coindesk`: candles and trades from the CoinDesk Data API (`--market`, default kraken).

use std::time::Duration;

use tickflow_model::{Bar, Trade, Ts};

use super::history::{fetch_candles, CoinDeskHistory, CryptoCompareApi};
use super::{pair, parse_data_api_trades, parse_streamer, streamer_sub};
use crate::history::{base, After, Fill, TradeHistory};
use crate::http::{HttpClient, RateBudget};
use crate::venues::api::{CandleRequest, CandleResume, CandleSummary, Capabilities, HistoryRequest, IdOrder, LiveProtocol, Market, Support, Venue};
use crate::ConnectorError;

/// min-api REST base (legacy CryptoCompare candles).
pub const MIN_API_URL: &str = "https://min-api.cryptocompare.com";
/// CoinDesk Data API REST base (trades, candles).
pub const DATA_API_URL: &str = "https://data-api.coindesk.com";
/// Streamer WebSocket base.
pub const STREAMER_URL: &str = "wss://streamer.cryptocompare.com/v2";
/// The market of Data API requests when `--market` is not given.
const DEFAULT_MARKET: &str = "kraken";

/// min-api / Data API free tiers: well under 50 per second.
fn budget() -> Option<RateBudget> {
    Some(RateBudget { limit: 20, window: Duration::from_millis(1_000), weights: vec![], used_header: None })
}

/// `BASE-QUOTE`, the Data API's instrument id.
fn instrument_id(symbol: &str) -> String {
    pair(symbol).map(|(b, q)| format!("{b}-{q}")).unwrap_or_default()
}

/// Data API trades (both ids): the key is required.
fn data_api_history(id: &str, req: HistoryRequest) -> Result<Box<dyn TradeHistory>, ConnectorError> {
    let Some(key) = req.api_key else {
        return Err(ConnectorError::Payload {
            venue: id.into(),
            message: format!("--source {id}: the CoinDesk Data API needs an API key: --api-key-file FILE or $CRYPTOCOMPARE_API_KEY"),
        });
    };
    let market = req.market.unwrap_or_else(|| DEFAULT_MARKET.into());
    let client = req.client.with_header("authorization", &format!("Apikey {}", key.expose()));
    let url = req.rest_url.unwrap_or_else(|| DATA_API_URL.into());
    Ok(Box::new(CoinDeskHistory::new(client, &url, &market, &req.symbol, req.since, req.until, req.cursor)?))
}

/// Candles from `api` at `default_base`, with the key as a header when given.
fn candles(
    api: CryptoCompareApi,
    default_base: &str,
    req: CandleRequest<'_>,
    on_page: &mut dyn FnMut(&[Bar]) -> Result<(), ConnectorError>,
) -> Result<CandleSummary, ConnectorError> {
    if let Some(k) = req.api_key {
        req.client.set_header("authorization", &format!("Apikey {}", k.expose()));
    }
    let b = req.base(default_base);
    let (bars, screened) = fetch_candles(req.client, &api, &b, req.symbol, req.timeframe, req.since, req.until, on_page)?;
    Ok(CandleSummary { bars, screened: Some(screened) })
}

/// CryptoCompare: min-api candles, Data API trades, the streamer.
pub struct CryptoCompare;

impl Venue for CryptoCompare {
    fn id(&self) -> &'static str {
        "cryptocompare"
    }
    fn title(&self) -> &'static str {
        "CryptoCompare (min-api candles, streamer; --market, API key)"
    }
    fn rest_url(&self) -> &'static str {
        MIN_API_URL
    }
    fn budget(&self) -> Option<RateBudget> {
        budget()
    }
    fn market_id(&self, symbol: &str) -> String {
        instrument_id(symbol)
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            trades: Support::Yes,
            ohlcv: Support::Yes,
            stream: Support::Yes,
            verify: Support::No("an aggregator's candles are not compared"),
            funding: Support::No("an aggregator of spot markets"),
        }
    }
    fn trade_history(&self, req: HistoryRequest) -> Result<Box<dyn TradeHistory>, ConnectorError> {
        data_api_history(self.id(), req)
    }
    fn candles(&self, req: CandleRequest<'_>, on_page: &mut dyn FnMut(&[Bar]) -> Result<(), ConnectorError>) -> Result<CandleSummary, ConnectorError> {
        candles(CryptoCompareApi::Legacy { exchange: req.market.map(str::to_string) }, MIN_API_URL, req, on_page)
    }
    fn candle_resume(&self) -> CandleResume {
        CandleResume::Restart
    }
    fn live(&self) -> Option<&dyn LiveProtocol> {
        Some(self)
    }
}

/// CoinDesk Data API: candles and trades of one exchange (`--market`, default kraken).
pub struct CoinDesk;

impl Venue for CoinDesk {
    fn id(&self) -> &'static str {
        "coindesk"
    }
    fn title(&self) -> &'static str {
        "CoinDesk Data API (--market, API key)"
    }
    fn rest_url(&self) -> &'static str {
        DATA_API_URL
    }
    fn budget(&self) -> Option<RateBudget> {
        budget()
    }
    fn market_id(&self, symbol: &str) -> String {
        instrument_id(symbol)
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            trades: Support::Yes,
            ohlcv: Support::Yes,
            stream: Support::No("stream CoinDesk's trades with `--source cryptocompare`"),
            verify: Support::No("an aggregator's candles are not compared"),
            funding: Support::No("an aggregator of spot markets"),
        }
    }
    fn trade_history(&self, req: HistoryRequest) -> Result<Box<dyn TradeHistory>, ConnectorError> {
        data_api_history(self.id(), req)
    }
    fn candles(&self, req: CandleRequest<'_>, on_page: &mut dyn FnMut(&[Bar]) -> Result<(), ConnectorError>) -> Result<CandleSummary, ConnectorError> {
        candles(CryptoCompareApi::DataApi { market: req.market.unwrap_or(DEFAULT_MARKET).to_string() }, DATA_API_URL, req, on_page)
    }
    fn candle_resume(&self) -> CandleResume {
        CandleResume::Restart
    }
}

/// The streamer (trade channel `0~<Exchange>~<BASE>~<QUOTE>`), gap-filled from the CoinDesk
/// Data API trades endpoint. Trades carry the underlying exchange (`--market`, e.g.
/// `coinbase`); the API key goes in the URL (never logged) and in the REST header.
impl LiveProtocol for CryptoCompare {
    fn default_urls(&self) -> (&'static str, &'static str) {
        (STREAMER_URL, DATA_API_URL)
    }
    fn market_id(&self, symbol: &str, exchange: &str) -> String {
        streamer_sub(exchange, symbol).unwrap_or_default()
    }
    fn url(&self, ws_base: &str, _markets: &[Market], key: Option<&str>) -> String {
        // a query needs a path before it (`ws://host:port/?…`)
        let b = base(ws_base);
        let b = if b.split_once("://").is_some_and(|(_, rest)| rest.contains('/')) { b.to_string() } else { format!("{b}/") };
        match key {
            Some(k) => format!("{b}?api_key={k}"),
            None => b,
        }
    }
    fn default_exchange(&self) -> Option<&'static str> {
        Some("coinbase")
    }
    fn needs_api_key(&self) -> bool {
        true
    }
    fn subscribe(&self, markets: &[Market]) -> Vec<String> {
        let subs: Vec<&str> = markets.iter().map(|m| m.id.as_str()).collect();
        vec![serde_json::json!({"action": "SubAdd", "subs": subs}).to_string()]
    }
    fn parse(&self, text: &str, _exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
        parse_streamer(text, ingest)
    }
    fn id_order(&self) -> IdOrder {
        IdOrder::Unordered
    }
    fn fill(&self, rest: &mut HttpClient, rest_base: &str, m: &Market, after: After, ingest: Ts) -> Result<Fill, ConnectorError> {
        let (b, q) = pair(&m.symbol)?;
        let mut from = after.ts.0.div_euclid(1_000_000_000);
        let mut out = Vec::new();
        for _ in 0..100 {
            let url = format!("{}/spot/v1/historical/trades?market={}&instrument={b}-{q}&after_ts={from}&limit=1000", base(rest_base), m.instrument.exchange());
            let page = parse_data_api_trades(&rest.get(&url)?, m.instrument, ingest)?;
            let n = page.len();
            let last = page.iter().map(|t| t.trade.ts.0.div_euclid(1_000_000_000)).max();
            out.extend(page.into_iter().map(|t| t.trade).filter(|t| t.ts >= after.ts));
            match last {
                Some(l) if n >= 1000 && l > from => from = l,
                _ => {
                    out.sort_by_key(|t| (t.ts, t.trade_id));
                    return Ok(Fill { trades: out, complete: true });
                }
            }
        }
        Ok(Fill { trades: out, complete: false })
    }
}
