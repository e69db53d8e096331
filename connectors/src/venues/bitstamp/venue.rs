//! Bitstamp as a [`Venue`]: recent trades, OHLC, the `live_trades_<pair>` channel.
//!
//! What `fetch trades` can reach: `/api/v2/transactions/{pair}/` has no cursor and serves only
//! a window ending now (`time=minute`, `hour` or `day`), so the history goes back 24 hours at
//! most. The smallest window covering `--since` is asked for, once; a `--since` older than a
//! day is refused up front rather than leaving a silent hole (older data: `fetch ohlcv`).

use std::time::Duration;

use tickflow_model::{Bar, Instrument, Trade, Ts};

use super::{is_reconnect_request, market_id, parse_ohlc, parse_transactions, parse_ws};
use crate::history::{base, finish, page_candles_forward, After, Fill, TradeHistory};
use crate::http::{HttpClient, RateBudget};
use crate::venues::api::{CandleRequest, CandleSummary, Capabilities, HistoryRequest, IdOrder, LiveProtocol, Market, Support, Venue};
use crate::ConnectorError;

/// REST base.
pub const REST_URL: &str = "https://www.bitstamp.net";
/// WebSocket base.
pub const WS_URL: &str = "wss://ws.bitstamp.net";

/// The windows `/api/v2/transactions` serves (`time=`), shortest first, in seconds.
const WINDOWS: [(&str, i64); 3] = [("minute", 60), ("hour", 3_600), ("day", 86_400)];
/// OHLC steps offered, in seconds.
const STEPS: [i64; 12] = [60, 180, 300, 900, 1800, 3600, 7200, 14_400, 21_600, 43_200, 86_400, 259_200];

/// The shortest window reaching back to `since` at `now`, and whether it does (else `day`).
pub(super) fn window(since: Ts, now: Ts) -> (&'static str, bool) {
    let age = (now.0 - since.0).div_euclid(1_000_000_000) + 1;
    WINDOWS.iter().find(|(_, secs)| age <= *secs).map_or(("day", false), |(w, _)| (*w, true))
}

/// Bitstamp.
pub struct Bitstamp;

impl Venue for Bitstamp {
    fn id(&self) -> &'static str {
        "bitstamp"
    }
    fn title(&self) -> &'static str {
        "Bitstamp"
    }
    fn rest_url(&self) -> &'static str {
        REST_URL
    }
    fn budget(&self) -> Option<RateBudget> {
        // 8000 requests per 10 minutes per IP: kept to 12 a second
        Some(RateBudget { limit: 12, window: Duration::from_millis(1_000), weights: vec![], used_header: None })
    }
    fn market_id(&self, symbol: &str) -> String {
        market_id(symbol)
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            trades: Support::Limited("last 24 h"),
            ohlcv: Support::Yes,
            stream: Support::Limited("gap-fill reaches 24 h back"),
            verify: Support::No("Bitstamp's REST trades reach back 24 hours only"),
            funding: Support::No("Bitstamp lists no perpetuals"),
        }
    }
    fn trade_history(&self, req: HistoryRequest) -> Result<Box<dyn TradeHistory>, ConnectorError> {
        let url = req.rest_url.clone().unwrap_or_else(|| REST_URL.into());
        Ok(Box::new(BitstampHistory::new(req.client, &url, &req.symbol, req.since, req.until, Ts::now())?))
    }
    /// `GET /api/v2/ohlc/{pair}/?step&limit=1000&start&end`, forward by time.
    fn candles(&self, req: CandleRequest<'_>, on_page: &mut dyn FnMut(&[Bar]) -> Result<(), ConnectorError>) -> Result<CandleSummary, ConnectorError> {
        let tf = req.timeframe;
        let step = tf.secs();
        if !STEPS.contains(&step) {
            return Err(crate::venues::payload_err("bitstamp", format!("timeframe {tf} is not offered (1m 3m 5m 15m 30m 1h 2h 4h 6h 12h 1d 3d)")));
        }
        let b = req.base(REST_URL);
        let inst = crate::venues::instrument("bitstamp", "bitstamp", req.symbol)?;
        let (pair, now, tfn, s) = (market_id(req.symbol), Ts::now(), tf.nanos(), |t: i64| t.div_euclid(1_000_000_000));
        let url = |from: i64, to: i64| format!("{b}/api/v2/ohlc/{pair}/?step={step}&limit=1000&start={}&end={}", s(from), s(to - tfn));
        let bars = page_candles_forward(req.client, tf, 1000, req.since, req.until, url, |body| parse_ohlc(body, inst, tf, now), on_page)?;
        Ok(CandleSummary { bars, screened: None })
    }
    fn live(&self) -> Option<&dyn LiveProtocol> {
        Some(self)
    }
}

/// `live_trades_<pair>` (trade ids increase across the venue, not per pair); gap-fill from the
/// transactions window covering the outage, complete when it overlaps the last delivered trade.
impl LiveProtocol for Bitstamp {
    fn default_urls(&self) -> (&'static str, &'static str) {
        (WS_URL, REST_URL)
    }
    fn market_id(&self, symbol: &str, _exchange: &str) -> String {
        market_id(symbol)
    }
    fn subscribe(&self, markets: &[Market]) -> Vec<String> {
        // the documented message, fields in the documented order (ids are alphanumeric)
        markets.iter().map(|m| format!(r#"{{"event":"bts:subscribe","data":{{"channel":"live_trades_{}"}}}}"#, m.id)).collect()
    }
    fn keepalive(&self) -> Option<(&'static str, Duration)> {
        Some((r#"{"event":"bts:heartbeat"}"#, Duration::from_secs(30)))
    }
    fn parse(&self, text: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
        parse_ws(text, exchange, ingest)
    }
    fn wants_reconnect(&self, text: &str) -> bool {
        is_reconnect_request(text)
    }
    fn id_order(&self) -> IdOrder {
        IdOrder::Increasing
    }
    fn fill(&self, rest: &mut HttpClient, rest_base: &str, m: &Market, after: After, ingest: Ts) -> Result<Fill, ConnectorError> {
        let (time, covers) = window(after.ts, Ts::now());
        let url = format!("{}/api/v2/transactions/{}/?time={time}", base(rest_base), m.id);
        let page = parse_transactions(&rest.get(&url)?, m.instrument, ingest)?;
        let overlaps = page.iter().any(|t| t.trade_id.is_some_and(|id| id <= after.id));
        Ok(finish(page, after, covers || overlaps))
    }
}

/// Bitstamp's recent trades in `[since, until)`: one request for the shortest window covering
/// `since`, handed over oldest first. The cursor is the last trade id (resuming asks again;
/// what was written is dropped by id).
pub struct BitstampHistory {
    client: HttpClient,
    url: String,
    instrument: Instrument,
    since: Ts,
    until: Ts,
    last: Option<u64>,
    done: bool,
}

impl BitstampHistory {
    /// History of `symbol` in `[since, until)` as seen at `now`; refused when `since` is more
    /// than a day before `now` (the transactions endpoint cannot reach it).
    pub fn new(client: HttpClient, base_url: &str, symbol: &str, since: Ts, until: Ts, now: Ts) -> Result<Self, ConnectorError> {
        let (time, covers) = window(since, now);
        if !covers {
            return Err(ConnectorError::Unsupported {
                venue: "bitstamp".into(),
                what: format!("fetch trades since {since}"),
                why: format!(
                    "/api/v2/transactions serves only the last minute, hour or day (no cursor), and --since is {} h before now; use `fetch ohlcv --source bitstamp` for older candles, or `stream --source bitstamp` to record trades as they happen",
                    (now.0 - since.0) / 3_600_000_000_000
                ),
            });
        }
        Ok(BitstampHistory {
            client,
            url: format!("{}/api/v2/transactions/{}/?time={time}", base(base_url), market_id(symbol)),
            instrument: crate::venues::instrument("bitstamp", "bitstamp", symbol)?,
            since,
            until,
            last: None,
            done: false,
        })
    }
}

impl TradeHistory for BitstampHistory {
    fn next_page(&mut self) -> Result<Option<Vec<Trade>>, ConnectorError> {
        if self.done {
            return Ok(None);
        }
        let mut page = parse_transactions(&self.client.get(&self.url)?, self.instrument, Ts::now())?;
        page.retain(|t| t.ts >= self.since && t.ts < self.until);
        page.sort_by_key(|t| t.trade_id);
        page.dedup_by_key(|t| t.trade_id);
        self.done = true;
        self.last = page.last().and_then(|t| t.trade_id).or(self.last);
        Ok(Some(page))
    }
    fn cursor(&self) -> String {
        self.last.map(|id| id.to_string()).unwrap_or_default()
    }
}
