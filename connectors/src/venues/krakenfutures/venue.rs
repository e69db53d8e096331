//! Kraken Futures as a [`Venue`]: charts candles (traded, mark, index), market executions
//! history, funding history, the WebSocket v1 `trade` feed.

use std::time::Duration;

use tickflow_model::{Bar, FundingRate, MarketKind, Trade, Ts};

use super::{market_id, parse_candles, parse_executions, parse_ws};
use crate::history::{base, page_candles_forward, After, Fill, TradeHistory};
use crate::http::{HttpClient, RateBudget};
use crate::venues::api::{
    CandlePrice, CandleRequest, CandleSummary, Capabilities, FundingRequest, HistoryRequest, IdOrder, LiveProtocol, Market, Operation, Support, Venue,
};
use crate::ConnectorError;

/// REST base.
pub const REST_URL: &str = "https://futures.kraken.com";
/// WebSocket v1.
pub const WS_URL: &str = "wss://futures.kraken.com/ws/v1";

/// Executions per history request.
const PAGE: usize = 1000;

/// Kraken Futures: perpetuals and dated futures (no spot).
pub struct KrakenFutures;

impl Venue for KrakenFutures {
    fn id(&self) -> &'static str {
        "krakenfutures"
    }
    fn title(&self) -> &'static str {
        "Kraken Futures"
    }
    fn rest_url(&self) -> &'static str {
        REST_URL
    }
    /// Public endpoints count against no documented budget; kept to 100 requests per 10 s.
    fn budget(&self) -> Option<RateBudget> {
        Some(RateBudget { limit: 100, window: Duration::from_secs(10), weights: vec![], used_header: None })
    }
    fn market_id(&self, symbol: &str) -> String {
        market_id(symbol)
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            trades: Support::Yes,
            ohlcv: Support::Yes,
            stream: Support::Yes,
            verify: Support::No("Kraken Futures candles are not compared yet"),
            funding: Support::Yes,
        }
    }
    /// Perpetuals and futures only (linear `PF_`/`FF_`, inverse `PI_`/`FI_`); funding of the
    /// perpetuals.
    fn market_kinds(&self, op: Operation) -> &'static [MarketKind] {
        match op {
            Operation::Funding => &[MarketKind::LinearPerpetual, MarketKind::InversePerpetual],
            Operation::Verify => &[],
            _ => &[MarketKind::LinearPerpetual, MarketKind::InversePerpetual, MarketKind::LinearFuture, MarketKind::InverseFuture],
        }
    }
    fn trade_history(&self, req: HistoryRequest) -> Result<Box<dyn TradeHistory>, ConnectorError> {
        let url = req.rest_url.clone().unwrap_or_else(|| REST_URL.into());
        Ok(Box::new(KrakenFuturesHistory::new(req.client, &url, &req.symbol, req.since, req.until, req.cursor)?))
    }
    /// `GET /api/charts/v1/{trade|mark|spot}/{id}/{resolution}?from&to` (epoch seconds), forward
    /// by time, 1,000 candles a request; mark and index (`spot`) candles carry no volume.
    fn candles(&self, req: CandleRequest<'_>, on_page: &mut dyn FnMut(&[Bar]) -> Result<(), ConnectorError>) -> Result<CandleSummary, ConnectorError> {
        let tf = req.timeframe;
        let res = match tf.secs() {
            60 => "1m",
            300 => "5m",
            900 => "15m",
            1800 => "30m",
            3600 => "1h",
            14_400 => "4h",
            43_200 => "12h",
            86_400 => "1d",
            604_800 => "1w",
            _ => return Err(crate::venues::payload_err("krakenfutures", format!("timeframe {tf} is not offered"))),
        };
        let tick = match req.price {
            CandlePrice::Trade => "trade",
            CandlePrice::Mark => "mark",
            CandlePrice::Index => "spot",
        };
        let b = req.base(REST_URL);
        let inst = crate::venues::instrument("krakenfutures", "krakenfutures", req.symbol)?;
        let (id, now, secs) = (market_id(req.symbol), Ts::now(), |t: i64| t / 1_000_000_000);
        let url = |s: i64, e: i64| format!("{b}/api/charts/v1/{tick}/{id}/{res}?from={}&to={}", secs(s), secs(e) - 1);
        let traded = req.price == CandlePrice::Trade;
        let bars = page_candles_forward(req.client, tf, 1000, req.since, req.until, url, |body| parse_candles(body, inst, tf, now, traded), on_page)?;
        Ok(CandleSummary { bars, screened: None })
    }
    /// `GET /derivatives/api/v4/historicalfundingrates?symbol=PF_XBTUSD`: the whole history in
    /// one answer, kept within `[since, until)`.
    fn funding(&self, req: FundingRequest<'_>, on_page: &mut dyn FnMut(&[FundingRate]) -> Result<(), ConnectorError>) -> Result<u64, ConnectorError> {
        let inst = crate::venues::instrument("krakenfutures", "krakenfutures", req.symbol)?;
        let url = format!("{}/derivatives/api/v4/historicalfundingrates?symbol={}", req.base(REST_URL), market_id(req.symbol));
        let mut rates = super::parse_funding(&req.client.get(&url)?, inst)?;
        rates.retain(|f| f.ts >= req.since && f.ts < req.until);
        rates.sort_by_key(|f| f.ts);
        on_page(&rates)?;
        Ok(rates.len() as u64)
    }
    /// Traded, mark and index (`spot`) prices.
    fn candle_prices(&self) -> &'static [CandlePrice] {
        &[CandlePrice::Trade, CandlePrice::Mark, CandlePrice::Index]
    }
    fn live(&self) -> Option<&dyn LiveProtocol> {
        Some(self)
    }
}

/// WebSocket v1 `trade` feed (UUID ids: unordered), with the `heartbeat` feed so a quiet market
/// is not taken for a dead connection; gap fills from the market executions history.
impl LiveProtocol for KrakenFutures {
    fn default_urls(&self) -> (&'static str, &'static str) {
        (WS_URL, REST_URL)
    }
    fn market_id(&self, symbol: &str, _exchange: &str) -> String {
        market_id(symbol)
    }
    fn subscribe(&self, markets: &[Market]) -> Vec<String> {
        let ids: Vec<&str> = markets.iter().map(|m| m.id.as_str()).collect();
        vec![
            serde_json::json!({"event": "subscribe", "feed": "trade", "product_ids": ids}).to_string(),
            serde_json::json!({"event": "subscribe", "feed": "heartbeat"}).to_string(),
        ]
    }
    fn parse(&self, text: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
        parse_ws(text, exchange, ingest)
    }
    fn id_order(&self) -> IdOrder {
        IdOrder::Unordered
    }
    /// The executions since the last delivered trade's time, oldest first (`sort=asc`), every
    /// page; the session drops what it already delivered.
    fn fill(&self, rest: &mut HttpClient, rest_base: &str, m: &Market, after: After, ingest: Ts) -> Result<Fill, ConnectorError> {
        let b = base(rest_base).to_string();
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let url = executions_url(&b, &m.id, after.ts.millis(), None, token.as_deref());
            let (page, next) = parse_executions(&rest.get(&url)?, m.instrument, ingest)?;
            out.extend(page);
            match next {
                Some(t) if token.as_deref() != Some(t.as_str()) => token = Some(t),
                _ => return Ok(Fill { trades: out, complete: true }),
            }
        }
    }
}

fn executions_url(base: &str, id: &str, since_ms: i64, before_ms: Option<i64>, token: Option<&str>) -> String {
    let mut u = format!("{base}/api/history/v3/market/{id}/executions?since={since_ms}&sort=asc&count={PAGE}");
    if let Some(b) = before_ms {
        u.push_str(&format!("&before={b}"));
    }
    if let Some(t) = token {
        u.push_str("&continuation_token=");
        u.push_str(&t.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D"));
    }
    u
}

/// Kraken Futures market executions in `[since, until)`, oldest first, paged by continuation
/// token. Cursor: `s` before the first page, the token of the next page (`c<token>`), `d` when
/// done.
pub struct KrakenFuturesHistory {
    client: HttpClient,
    base: String,
    id: String,
    instrument: tickflow_model::Instrument,
    since: Ts,
    until: Ts,
    cursor: Option<String>,
}

impl KrakenFuturesHistory {
    /// History of `symbol` from `since` (or a saved `cursor`) up to `until`.
    pub fn new(client: HttpClient, base_url: &str, symbol: &str, since: Ts, until: Ts, cursor: Option<String>) -> Result<Self, ConnectorError> {
        crate::venues::market_kind("krakenfutures", symbol)?;
        Ok(KrakenFuturesHistory {
            client,
            base: base(base_url).to_string(),
            id: market_id(symbol),
            instrument: crate::venues::instrument("krakenfutures", "krakenfutures", symbol)?,
            since,
            until,
            cursor,
        })
    }
}

impl TradeHistory for KrakenFuturesHistory {
    fn next_page(&mut self) -> Result<Option<Vec<Trade>>, ConnectorError> {
        let token = match self.cursor.as_deref() {
            Some("d") => return Ok(None),
            None | Some("s") => None,
            Some(c) => Some(c.strip_prefix('c').ok_or_else(|| crate::venues::payload_err("krakenfutures", "bad history cursor"))?.to_string()),
        };
        let url = executions_url(&self.base, &self.id, self.since.millis(), Some(self.until.millis()), token.as_deref());
        let (mut page, next) = parse_executions(&self.client.get(&url)?, self.instrument, Ts::now())?;
        page.retain(|t| t.ts >= self.since && t.ts < self.until);
        page.sort_by_key(|t| t.ts);
        self.cursor = Some(match next {
            Some(t) if token.as_deref() != Some(t.as_str()) => format!("c{t}"),
            _ => "d".into(),
        });
        Ok(Some(page))
    }
    fn cursor(&self) -> String {
        self.cursor.clone().unwrap_or_else(|| "s".into())
    }
}
