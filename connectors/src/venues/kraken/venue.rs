//! Kraken as a [`Venue`]: trades by the `last` cursor, OHLC, the WebSocket v2 `trade` channel.

use std::time::Duration;

use tickflow_model::{Bar, Timeframe, Trade, Ts};

use super::{market_id, parse_ohlc, parse_trades, parse_ws_v2};
use crate::history::{base, finish, After, Fill, TradeHistory};
use crate::http::{HttpClient, RateBudget};
use crate::venues::api::{CandleRequest, CandleSummary, Capabilities, HistoryRequest, IdOrder, LiveProtocol, Market, Support, Venue};
use crate::ConnectorError;

/// REST base.
pub const REST_URL: &str = "https://api.kraken.com";
/// WebSocket (v2) base.
pub const WS_URL: &str = "wss://ws.kraken.com/v2";

/// Kraken spot.
pub struct Kraken;

impl Venue for Kraken {
    fn id(&self) -> &'static str {
        "kraken"
    }
    fn title(&self) -> &'static str {
        "Kraken spot"
    }
    fn rest_url(&self) -> &'static str {
        REST_URL
    }
    fn budget(&self) -> Option<RateBudget> {
        // public endpoints: about one call per second, short bursts tolerated
        Some(RateBudget { limit: 10, window: Duration::from_millis(10_000), weights: vec![], used_header: None })
    }
    fn market_id(&self, symbol: &str) -> String {
        market_id(symbol)
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            trades: Support::Yes,
            ohlcv: Support::Limited("latest 720 candles"),
            stream: Support::Yes,
            verify: Support::Yes,
            funding: Support::No("Kraken spot lists no perpetuals"),
        }
    }
    fn trade_history(&self, req: HistoryRequest) -> Result<Box<dyn TradeHistory>, ConnectorError> {
        let url = req.rest_url.clone().unwrap_or_else(|| REST_URL.into());
        Ok(Box::new(KrakenHistory::new(req.client, &url, &req.symbol, req.since, req.until, req.cursor)))
    }
    fn candles(&self, req: CandleRequest<'_>, on_page: &mut dyn FnMut(&[Bar]) -> Result<(), ConnectorError>) -> Result<CandleSummary, ConnectorError> {
        let b = req.base(REST_URL);
        let bars = fetch_ohlc(req.client, &b, req.symbol, req.timeframe, req.since, req.until, on_page)?;
        Ok(CandleSummary { bars, screened: None })
    }
    fn live(&self) -> Option<&dyn LiveProtocol> {
        Some(self)
    }
}

/// WebSocket v2 `trade` channel (sequential ids per pair); REST pages forward by time.
impl LiveProtocol for Kraken {
    fn default_urls(&self) -> (&'static str, &'static str) {
        (WS_URL, REST_URL)
    }
    fn market_id(&self, symbol: &str, _exchange: &str) -> String {
        market_id(symbol)
    }
    fn subscribe(&self, markets: &[Market]) -> Vec<String> {
        // v2 names pairs like CCXT does (`BTC/USD`)
        let symbols: Vec<&str> = markets.iter().map(|m| m.symbol.as_str()).collect();
        vec![serde_json::json!({"method": "subscribe", "params": {"channel": "trade", "symbol": symbols, "snapshot": false}}).to_string()]
    }
    fn keepalive(&self) -> Option<(&'static str, Duration)> {
        Some((r#"{"method":"ping"}"#, Duration::from_secs(30)))
    }
    fn parse(&self, text: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
        parse_ws_v2(text, exchange, ingest)
    }
    fn id_order(&self) -> IdOrder {
        IdOrder::Contiguous
    }
    fn fill(&self, rest: &mut HttpClient, rest_base: &str, m: &Market, after: After, ingest: Ts) -> Result<Fill, ConnectorError> {
        // from one nanosecond before the last trade: trades sharing its timestamp come again
        let mut since = (after.ts.0 - 1).max(0).to_string();
        let mut out = Vec::new();
        for _ in 0..1000 {
            let url = format!("{}/0/public/Trades?pair={}&since={since}", base(rest_base), m.id);
            let (page, last) = parse_trades(&rest.get(&url)?, m.instrument.exchange(), ingest)?;
            let n = page.len();
            out.extend(page);
            match last {
                Some(l) if n >= 1000 && l != since => since = l,
                _ => return Ok(finish(out, after, true)),
            }
        }
        Ok(finish(out, after, false))
    }
}

/// Kraken `GET /0/public/Trades?pair=…&since=…` (up to 1000 trades a page).
pub struct KrakenHistory {
    client: HttpClient,
    base: String,
    pair: String,
    exchange: String,
    cursor: String,
    until: Ts,
}

impl KrakenHistory {
    /// History of `symbol` from `since` (or from a saved `cursor`) up to `until`.
    pub fn new(client: HttpClient, base_url: &str, symbol: &str, since: Ts, until: Ts, cursor: Option<String>) -> Self {
        KrakenHistory {
            client,
            base: base(base_url).to_string(),
            pair: market_id(symbol),
            exchange: "kraken".into(),
            cursor: cursor.unwrap_or_else(|| since.0.to_string()),
            until,
        }
    }
    /// HTTP counters.
    pub fn stats(&self) -> crate::http::HttpStats {
        self.client.stats
    }
}

impl TradeHistory for KrakenHistory {
    fn next_page(&mut self) -> Result<Option<Vec<Trade>>, ConnectorError> {
        // ask from one nanosecond before the cursor: trades sharing the boundary timestamp are
        // fetched again rather than skipped, and the caller drops them by trade id
        let since = self.cursor.parse::<i64>().map(|c| (c - 1).max(0).to_string()).unwrap_or_else(|_| self.cursor.clone());
        let url = format!("{}/0/public/Trades?pair={}&since={}", self.base, self.pair, since);
        let body = self.client.get(&url)?;
        let (trades, last) = parse_trades(&body, &self.exchange, Ts::now())?;
        let Some(last) = last else { return Ok(None) };
        if trades.is_empty() || last == self.cursor {
            return Ok(None);
        }
        self.cursor = last;
        let kept: Vec<Trade> = trades.into_iter().filter(|t| t.ts < self.until).collect();
        if kept.is_empty() {
            return Ok(None);
        }
        Ok(Some(kept))
    }
    fn cursor(&self) -> String {
        self.cursor.clone()
    }
}

/// Kraken `GET /0/public/OHLC?pair=…&interval=…&since=…`: the venue's own candles (the last,
/// still forming candle left out).
pub fn ohlc(client: &mut HttpClient, base_url: &str, symbol: &str, timeframe: Timeframe, since: Ts) -> Result<Vec<Bar>, ConnectorError> {
    let url = format!(
        "{}/0/public/OHLC?pair={}&interval={}&since={}",
        base_url.trim_end_matches('/'),
        market_id(symbol),
        timeframe.secs() / 60,
        since.0 / 1_000_000_000
    );
    let body = client.get(&url)?;
    parse_ohlc(&body, "kraken", timeframe)
}

/// Kraken `GET /0/public/OHLC?pair&interval&since`: closed candles of `symbol` in
/// `[since, until)`. Kraken serves at most the latest 720 candles of an interval, whatever
/// `since` says; pages continue from the `last` cursor until nothing new comes.
#[allow(clippy::too_many_arguments)]
pub fn fetch_ohlc(
    client: &mut HttpClient,
    base_url: &str,
    symbol: &str,
    timeframe: Timeframe,
    since: Ts,
    until: Ts,
    on_page: &mut dyn FnMut(&[Bar]) -> Result<(), ConnectorError>,
) -> Result<u64, ConnectorError> {
    let minutes = timeframe.secs() / 60;
    if !matches!(minutes, 1 | 5 | 15 | 30 | 60 | 240 | 1440 | 10080 | 21600) || timeframe.secs() % 60 != 0 {
        return Err(crate::venues::payload_err("kraken", format!("timeframe {timeframe} is not offered (1m 5m 15m 30m 1h 4h 1d 1w 15d)")));
    }
    let mut from = timeframe.open_of(since);
    let mut total = 0u64;
    loop {
        let bars = ohlc(client, base_url, symbol, timeframe, from)?;
        let fresh: Vec<Bar> = bars.into_iter().filter(|b| b.open_time >= from && b.open_time >= since && b.open_time < until).collect();
        let Some(last) = fresh.last().map(|b| b.open_time) else { return Ok(total) };
        total += fresh.len() as u64;
        on_page(&fresh)?;
        from = Ts(last.0 + timeframe.nanos());
        if from >= until {
            return Ok(total);
        }
    }
}
