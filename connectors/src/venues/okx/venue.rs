//! OKX v5 as a [`Venue`]: `history-trades` in hour windows, `history-candles`, the `trades`
//! channel.

use std::time::Duration;

use tickflow_model::{Bar, Timeframe, Trade, Ts};

use super::{market_id, parse_candles, parse_trades, parse_ws};
use crate::history::{base, fill_backward, After, Fill, TradeHistory};
use crate::http::{HttpClient, RateBudget};
use crate::venues::api::{CandleRequest, CandleResume, CandleSummary, Capabilities, HistoryRequest, IdOrder, LiveProtocol, Market, Support, Venue};
use crate::ConnectorError;

/// REST base.
pub const REST_URL: &str = "https://www.okx.com";
/// WebSocket base (public).
pub const WS_URL: &str = "wss://ws.okx.com:8443/ws/v5/public";

/// OKX v5.
pub struct Okx;

impl Venue for Okx {
    fn id(&self) -> &'static str {
        "okx"
    }
    fn title(&self) -> &'static str {
        "OKX v5"
    }
    fn rest_url(&self) -> &'static str {
        REST_URL
    }
    fn budget(&self) -> Option<RateBudget> {
        // history-trades and history-candles: 20 requests per 2 s; funding-rate-history: 10 per 2 s
        Some(RateBudget { limit: 18, window: Duration::from_millis(2_000), weights: vec![("/funding-rate-history", 2)], used_header: None })
    }
    fn market_id(&self, symbol: &str) -> String {
        market_id(symbol)
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            trades: Support::Yes,
            ohlcv: Support::Yes,
            stream: Support::Yes,
            verify: Support::No("OKX candles are not compared yet"),
            funding: Support::Yes,
        }
    }
    fn trade_history(&self, req: HistoryRequest) -> Result<Box<dyn TradeHistory>, ConnectorError> {
        let url = req.rest_url.clone().unwrap_or_else(|| REST_URL.into());
        Ok(Box::new(OkxHistory::new(req.client, &url, &req.symbol, req.since, req.until, req.cursor)))
    }
    /// Traded candles of every kind (`history-candles`); a swap's or future's mark-price candles
    /// (`history-mark-price-candles`, its `instId`) and index candles (`history-index-candles`,
    /// the index `BTC-USDT`).
    fn candles(&self, req: CandleRequest<'_>, on_page: &mut dyn FnMut(&[Bar]) -> Result<(), ConnectorError>) -> Result<CandleSummary, ConnectorError> {
        use crate::venues::CandlePrice;
        let b = req.base(REST_URL);
        let kind = crate::venues::market_kind("okx", req.symbol)?;
        let (path, id) = match (req.price, kind) {
            (CandlePrice::Trade, _) => ("history-candles", market_id(req.symbol)),
            (p, tickflow_model::MarketKind::Spot) => {
                return Err(crate::venues::payload_err("okx", format!("{} is a spot market: no {} candles", req.symbol, p.name())))
            }
            (CandlePrice::Mark, _) => ("history-mark-price-candles", market_id(req.symbol)),
            (CandlePrice::Index, _) => ("history-index-candles", market_id(req.symbol.split(':').next().unwrap_or(req.symbol))),
        };
        let candles = Candles { path, id, traded: req.price == CandlePrice::Trade };
        let bars = fetch_candles_of(req.client, &b, &candles, req.symbol, req.timeframe, req.since, req.until, on_page)?;
        Ok(CandleSummary { bars, screened: None })
    }
    /// Traded prices, and swaps' and futures' mark and index prices.
    fn candle_prices(&self) -> &'static [crate::venues::CandlePrice] {
        use crate::venues::CandlePrice;
        &[CandlePrice::Trade, CandlePrice::Mark, CandlePrice::Index]
    }
    /// Every kind (spot, `SWAP`, `FUTURES`) for trades, candles and streams, through the same
    /// endpoints with the kind's instrument id; funding of linear (`BTC/USDT:USDT`) and inverse
    /// (`BTC/USD:BTC`) swaps.
    fn market_kinds(&self, op: crate::venues::Operation) -> &'static [tickflow_model::MarketKind] {
        use crate::venues::Operation;
        use tickflow_model::MarketKind;
        match op {
            Operation::Funding => &[MarketKind::LinearPerpetual, MarketKind::InversePerpetual],
            Operation::Trades | Operation::Ohlcv | Operation::Stream => &MarketKind::ALL,
            Operation::Verify => &[MarketKind::Spot],
        }
    }
    /// `GET /api/v5/public/funding-rate-history?instId=BTC-USDT-SWAP&before&after&limit=100`
    /// (newest first; `after` = older than, `before` = newer than), backward by time.
    fn funding(
        &self,
        req: crate::venues::FundingRequest<'_>,
        on_page: &mut dyn FnMut(&[tickflow_model::FundingRate]) -> Result<(), ConnectorError>,
    ) -> Result<u64, ConnectorError> {
        crate::venues::market_kind("okx", req.symbol)?;
        let b = req.base(REST_URL);
        let inst = crate::venues::instrument("okx", "okx", req.symbol)?;
        let id = market_id(req.symbol);
        let url = |s: i64, e: i64| format!("{b}/api/v5/public/funding-rate-history?instId={id}&before={}&after={}&limit=100", s - 1, e + 1);
        crate::history::page_funding_backward(req.client, 100, req.since, req.until, url, |body| super::parse_funding(body, inst), on_page)
    }
    fn candle_resume(&self) -> CandleResume {
        CandleResume::Refuse("--resume: OKX candles page backward and are written once at the end; fetch the span again")
    }
    fn live(&self) -> Option<&dyn LiveProtocol> {
        Some(self)
    }
    fn funding_stream(&self) -> Option<&dyn crate::live::funding::FundingStream> {
        Some(self)
    }
}

/// The `funding-rate` channel of swaps (`BTC-USDT-SWAP`).
impl crate::live::funding::FundingStream for Okx {
    fn default_url(&self, _: &[Market]) -> &'static str {
        WS_URL
    }
    fn subscribe(&self, markets: &[Market]) -> Vec<String> {
        let args: Vec<serde_json::Value> = markets.iter().map(|m| serde_json::json!({"channel": "funding-rate", "instId": m.id})).collect();
        vec![serde_json::json!({"op": "subscribe", "args": args}).to_string()]
    }
    fn keepalive(&self) -> Option<(&'static str, Duration)> {
        Some(("ping", Duration::from_secs(25)))
    }
    fn parse(&self, text: &str, markets: &[Market]) -> Result<Vec<crate::live::funding::FundingUpdate>, ConnectorError> {
        super::parse_funding_push(text, markets)
    }
}

/// Public `trades` (increasing ids per instrument); REST pages backward.
impl LiveProtocol for Okx {
    fn default_urls(&self) -> (&'static str, &'static str) {
        (WS_URL, REST_URL)
    }
    fn market_id(&self, symbol: &str, _exchange: &str) -> String {
        market_id(symbol)
    }
    fn subscribe(&self, markets: &[Market]) -> Vec<String> {
        let args: Vec<serde_json::Value> = markets.iter().map(|m| serde_json::json!({"channel": "trades", "instId": m.id})).collect();
        vec![serde_json::json!({"op": "subscribe", "args": args}).to_string()]
    }
    fn keepalive(&self) -> Option<(&'static str, Duration)> {
        Some(("ping", Duration::from_secs(25)))
    }
    fn parse(&self, text: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
        if text == "pong" {
            return Ok(Vec::new());
        }
        parse_ws(text, exchange, ingest)
    }
    fn id_order(&self) -> IdOrder {
        IdOrder::Increasing
    }
    fn fill(&self, rest: &mut HttpClient, rest_base: &str, m: &Market, after: After, ingest: Ts) -> Result<Fill, ConnectorError> {
        let b = base(rest_base).to_string();
        let id = m.id.clone();
        let ex = m.instrument.exchange().to_string();
        fill_backward(
            rest,
            format!("{b}/api/v5/market/trades?instId={id}&limit=500"),
            |oldest| format!("{b}/api/v5/market/history-trades?instId={id}&type=1&after={oldest}&limit=100"),
            |body| parse_trades(body, &ex, ingest),
            after,
            200,
        )
    }
}

/// OKX `GET /api/v5/market/history-trades` pages only backward (`after` = older than a
/// timestamp or trade id; `before` alone returns the latest). To write trades oldest first with
/// bounded memory, the span is cut into windows (default one hour) taken in ascending order;
/// each window is fetched backward from its end (`type=2&after=<end ms>`, then
/// `type=1&after=<oldest id>`) and handed over sorted. Cursor: the next window's start (ms).
pub struct OkxHistory {
    client: HttpClient,
    base: String,
    inst_id: String,
    window_ms: i64,
    next_ms: i64,
    until_ms: i64,
}

impl OkxHistory {
    /// History of `symbol` from `since` (or a saved `cursor`) up to `until`.
    pub fn new(client: HttpClient, base_url: &str, symbol: &str, since: Ts, until: Ts, cursor: Option<String>) -> Self {
        OkxHistory {
            client,
            base: base(base_url).to_string(),
            inst_id: market_id(symbol),
            window_ms: 3_600_000,
            next_ms: cursor.and_then(|c| c.parse().ok()).unwrap_or(since.millis()),
            until_ms: until.millis(),
        }
    }
}

impl TradeHistory for OkxHistory {
    fn next_page(&mut self) -> Result<Option<Vec<Trade>>, ConnectorError> {
        if self.next_ms >= self.until_ms {
            return Ok(None);
        }
        let (start, end) = (self.next_ms, (self.next_ms + self.window_ms).min(self.until_ms));
        let mut window: Vec<Trade> = Vec::new();
        let mut url = format!("{}/api/v5/market/history-trades?instId={}&type=2&after={end}&limit=100", self.base, self.inst_id);
        let mut previous_oldest = u64::MAX;
        loop {
            let page = parse_trades(&self.client.get(&url)?, "okx", Ts::now())?;
            let Some(oldest) = page.iter().min_by_key(|t| (t.ts, t.trade_id)).copied() else { break };
            window.extend(page.into_iter().filter(|t| t.ts.millis() >= start && t.ts.millis() < end));
            let oldest_id = oldest.trade_id.unwrap_or(0);
            if oldest.ts.millis() < start || oldest_id >= previous_oldest {
                break; // past the window's start, or the venue stopped moving back
            }
            previous_oldest = oldest_id;
            url = format!("{}/api/v5/market/history-trades?instId={}&type=1&after={oldest_id}&limit=100", self.base, self.inst_id);
        }
        window.sort_by_key(|t| (t.trade_id, t.ts));
        window.dedup_by_key(|t| t.trade_id);
        self.next_ms = end;
        Ok(Some(window))
    }
    fn cursor(&self) -> String {
        self.next_ms.to_string()
    }
}

/// OKX's bar name for a timeframe; six hours and longer use the UTC-aligned variants (`6Hutc`),
/// as tickflow's windows are UTC-aligned (plain `6H`, `1D` follow Hong Kong time).
pub fn bar(timeframe: Timeframe) -> Result<String, ConnectorError> {
    Ok(match timeframe.secs() {
        60 => "1m".into(),
        180 => "3m".into(),
        300 => "5m".into(),
        900 => "15m".into(),
        1800 => "30m".into(),
        3600 => "1H".into(),
        7200 => "2H".into(),
        14_400 => "4H".into(),
        21_600 => "6Hutc".into(),
        43_200 => "12Hutc".into(),
        86_400 => "1Dutc".into(),
        604_800 => "1Wutc".into(),
        _ => return Err(crate::venues::payload_err("okx", format!("timeframe {timeframe} is not offered"))),
    })
}

/// OKX `GET /api/v5/market/history-candles?instId&bar&after&limit=100`: pages go back in time
/// (`after` = older than a timestamp, newest first). The span is fetched from `until` back to
/// `since`, then handed over once in ascending open time; unconfirmed candles are left out.
#[allow(clippy::too_many_arguments)]
pub fn fetch_candles(
    client: &mut HttpClient,
    base_url: &str,
    symbol: &str,
    timeframe: Timeframe,
    since: Ts,
    until: Ts,
    on_bars: &mut dyn FnMut(&[Bar]) -> Result<(), ConnectorError>,
) -> Result<u64, ConnectorError> {
    let candles = Candles { path: "history-candles", id: market_id(symbol), traded: true };
    fetch_candles_of(client, base_url, &candles, symbol, timeframe, since, until, on_bars)
}

/// Which candles: the endpoint, the `instId` and whether rows carry volume.
struct Candles {
    path: &'static str,
    id: String,
    traded: bool,
}

#[allow(clippy::too_many_arguments)]
fn fetch_candles_of(
    client: &mut HttpClient,
    base_url: &str,
    c: &Candles,
    symbol: &str,
    timeframe: Timeframe,
    since: Ts,
    until: Ts,
    on_bars: &mut dyn FnMut(&[Bar]) -> Result<(), ConnectorError>,
) -> Result<u64, ConnectorError> {
    let inst = crate::venues::instrument("okx", "okx", symbol)?;
    let bar = bar(timeframe)?;
    let base = base(base_url);
    let (path, id) = (c.path, &c.id);
    let mut bars = std::collections::BTreeMap::new();
    let mut after = until.millis();
    loop {
        let url = format!("{base}/api/v5/market/{path}?instId={id}&bar={bar}&after={after}&limit=100");
        let body = client.get(&url)?;
        let page = if c.traded { parse_candles(&body, inst, timeframe)? } else { super::parse_price_candles(&body, inst, timeframe)? };
        // the earliest row of the raw page moves the cursor, confirmed or not
        let Some(oldest) = page.first().map(|b| b.open_time.millis()) else { break };
        for b in page {
            if b.open_time >= since && b.open_time < until {
                bars.insert(b.open_time, b);
            }
        }
        if oldest <= since.millis() || oldest >= after {
            break;
        }
        after = oldest;
    }
    let out: Vec<Bar> = bars.into_values().collect();
    on_bars(&out)?;
    Ok(out.len() as u64)
}
