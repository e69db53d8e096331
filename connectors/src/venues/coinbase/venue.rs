//! Coinbase Exchange as a [`Venue`]: trade history by id bisection, candles, the `matches`
//! channel.

use tickflow_model::{Bar, Trade, Ts};

use super::{market_id, parse_candles, parse_trades, parse_ws};
use crate::history::{base, fill_backward, page_candles_forward, After, Fill, TradeHistory};
use crate::http::{HttpClient, RateBudget};
use crate::venues::api::{CandleRequest, CandleSummary, Capabilities, HistoryRequest, IdOrder, LiveProtocol, Market, Support, Venue};
use crate::ConnectorError;

/// REST base.
pub const REST_URL: &str = "https://api.exchange.coinbase.com";
/// WebSocket base.
pub const WS_URL: &str = "wss://ws-feed.exchange.coinbase.com";

/// Coinbase Exchange.
pub struct Coinbase;

impl Venue for Coinbase {
    fn id(&self) -> &'static str {
        "coinbase"
    }
    fn title(&self) -> &'static str {
        "Coinbase Exchange"
    }
    fn rest_url(&self) -> &'static str {
        REST_URL
    }
    fn budget(&self) -> Option<RateBudget> {
        // 10 requests per second per IP for public endpoints (bursts to 15)
        Some(RateBudget { limit: 10, window: std::time::Duration::from_millis(1_000), weights: vec![], used_header: None })
    }
    fn market_id(&self, symbol: &str) -> String {
        market_id(symbol)
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            trades: Support::Yes,
            ohlcv: Support::Yes,
            stream: Support::Yes,
            verify: Support::No("Coinbase candles are not compared yet"),
            funding: Support::No("Coinbase Exchange lists no perpetuals"),
        }
    }
    fn trade_history(&self, req: HistoryRequest) -> Result<Box<dyn TradeHistory>, ConnectorError> {
        let url = req.rest_url.clone().unwrap_or_else(|| REST_URL.into());
        Ok(Box::new(CoinbaseHistory::new(req.client, &url, &req.symbol, req.since, req.until, req.cursor)?))
    }
    /// `GET /products/{id}/candles?granularity&start&end` (≤ 300 candles, newest first),
    /// forward by time.
    fn candles(&self, req: CandleRequest<'_>, on_page: &mut dyn FnMut(&[Bar]) -> Result<(), ConnectorError>) -> Result<CandleSummary, ConnectorError> {
        let tf = req.timeframe;
        let granularity = match tf.secs() {
            s @ (60 | 300 | 900 | 3600 | 21_600 | 86_400) => s,
            _ => return Err(crate::venues::payload_err("coinbase", format!("timeframe {tf} is not offered"))),
        };
        let b = req.base(REST_URL);
        let inst = crate::venues::instrument("coinbase", "coinbase", req.symbol)?;
        let (id, now, tfn) = (market_id(req.symbol), Ts::now(), tf.nanos());
        let url = |s: i64, e: i64| format!("{b}/products/{id}/candles?granularity={granularity}&start={}&end={}", Ts(s).to_rfc3339(), Ts(e - tfn).to_rfc3339());
        let bars = page_candles_forward(req.client, tf, 300, req.since, req.until, url, |body| parse_candles(body, inst, tf, now), on_page)?;
        Ok(CandleSummary { bars, screened: None })
    }
    fn live(&self) -> Option<&dyn LiveProtocol> {
        Some(self)
    }
}

/// `matches` channel (contiguous trade ids per product; REST pages backward from the newest
/// with `after=<trade_id>`).
impl LiveProtocol for Coinbase {
    fn default_urls(&self) -> (&'static str, &'static str) {
        (WS_URL, REST_URL)
    }
    fn market_id(&self, symbol: &str, _exchange: &str) -> String {
        market_id(symbol)
    }
    fn subscribe(&self, markets: &[Market]) -> Vec<String> {
        let ids: Vec<&str> = markets.iter().map(|m| m.id.as_str()).collect();
        vec![serde_json::json!({"type": "subscribe", "product_ids": ids, "channels": ["matches"]}).to_string()]
    }
    fn parse(&self, text: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
        Ok(parse_ws(text, exchange, ingest)?.into_iter().collect())
    }
    fn id_order(&self) -> IdOrder {
        IdOrder::Contiguous
    }
    fn fill(&self, rest: &mut HttpClient, rest_base: &str, m: &Market, after: After, ingest: Ts) -> Result<Fill, ConnectorError> {
        let root = format!("{}/products/{}/trades?limit=1000", base(rest_base), m.id);
        let inst = m.instrument;
        fill_backward(rest, root.clone(), |id| format!("{root}&after={id}"), |b| parse_trades(b, inst, ingest), after, 100)
    }
}

/// Coinbase Exchange `GET /products/{id}/trades?after=<trade_id>` returns the trades *older*
/// than the cursor, newest first; trade ids are contiguous per product. So the first id at or
/// after `since` is found by bisection on the id (one-trade probes), and pages then move
/// forward: `after = start + 1000` returns ids `start .. start + 999`. Cursor: the next id.
pub struct CoinbaseHistory {
    client: HttpClient,
    base: String,
    product: String,
    instrument: tickflow_model::Instrument,
    since: Ts,
    until: Ts,
    cursor: Option<u64>,
    done: bool,
}

impl CoinbaseHistory {
    /// History of `symbol` from `since` (or a saved `cursor`) up to `until`.
    pub fn new(client: HttpClient, base_url: &str, symbol: &str, since: Ts, until: Ts, cursor: Option<String>) -> Result<Self, ConnectorError> {
        Ok(CoinbaseHistory {
            client,
            base: base(base_url).to_string(),
            product: market_id(symbol),
            instrument: crate::venues::instrument("coinbase", "coinbase", symbol)?,
            since,
            until,
            cursor: cursor.and_then(|c| c.parse().ok()),
            done: false,
        })
    }

    fn page(&mut self, after: Option<u64>, limit: u32) -> Result<Vec<Trade>, ConnectorError> {
        let cursor = after.map(|a| format!("&after={a}")).unwrap_or_default();
        let url = format!("{}/products/{}/trades?limit={limit}{cursor}", self.base, self.product);
        parse_trades(&self.client.get(&url)?, self.instrument, Ts::now())
    }

    /// The smallest trade id whose time is at or after `since` (`None`: no trade that late).
    fn first_id_since(&mut self) -> Result<Option<u64>, ConnectorError> {
        let newest = self.page(None, 1)?;
        let Some(hi_trade) = newest.first() else { return Ok(None) };
        let (mut lo, mut hi) = (1u64, hi_trade.trade_id.unwrap_or(1));
        if hi_trade.ts < self.since {
            return Ok(None);
        }
        // invariant: trade `hi` is at or after `since`; find the smallest such id
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            // `after = mid + 1` returns trade `mid` first
            let probe = self.page(Some(mid + 1), 1)?;
            match probe.first() {
                Some(t) if t.trade_id == Some(mid) && t.ts < self.since => lo = mid + 1,
                Some(t) if t.trade_id == Some(mid) => hi = mid,
                _ => lo = mid + 1, // a missing id: search above it
            }
        }
        Ok(Some(hi))
    }
}

impl TradeHistory for CoinbaseHistory {
    fn next_page(&mut self) -> Result<Option<Vec<Trade>>, ConnectorError> {
        if self.done {
            return Ok(None);
        }
        let start = match self.cursor {
            Some(c) => c,
            None => match self.first_id_since()? {
                Some(id) => id,
                None => return Ok(None),
            },
        };
        // ids start .. start + 999; a server that returns fewer than asked is asked again below
        // the lowest id it returned, until the chunk reaches `start`
        let mut page = self.page(Some(start + 1000), 1000)?;
        let mut lowest = page.iter().filter_map(|t| t.trade_id).min();
        while let Some(low) = lowest.filter(|&l| l > start) {
            let more = self.page(Some(low), 1000)?;
            lowest = more.iter().filter_map(|t| t.trade_id).min().filter(|&m| m < low);
            page.extend(more);
        }
        page.retain(|t| t.trade_id.is_some_and(|id| id >= start && id < start + 1000));
        page.sort_by_key(|t| t.trade_id);
        page.dedup_by_key(|t| t.trade_id);
        let Some(last) = page.last().and_then(|t| t.trade_id) else { return Ok(None) };
        self.done = page.iter().any(|t| t.ts >= self.until) || page.len() < 1000;
        self.cursor = Some(last + 1);
        Ok(Some(page.into_iter().filter(|t| t.ts >= self.since && t.ts < self.until).collect()))
    }
    fn cursor(&self) -> String {
        self.cursor.map(|c| c.to_string()).unwrap_or_default()
    }
}
