//! What differs between venues in a live session: the URL, subscription frames, keep-alives,
//! frame parsing and the REST gap-fill. The session itself (`super::run`) is shared.
//!
//! | venue | WebSocket | subscription | keep-alive | ids | REST gap-fill |
//! |---|---|---|---|---|---|
//! | binance | `/stream?streams=<m>@aggTrade/…` | in the URL | server pings | contiguous | `aggTrades?fromId=` forward |
//! | coinbase | `ws-feed` | `{"type":"subscribe","channels":["matches"]}` | server pings | contiguous | `/products/<id>/trades?after=` backward |
//! | kraken | `/v2` | `{"method":"subscribe","params":{"channel":"trade"}}` | `{"method":"ping"}` | contiguous | `/0/public/Trades?since=` forward |
//! | bybit | `/v5/public/spot` | `{"op":"subscribe","args":["publicTrade.<m>"]}` | `{"op":"ping"}` every 20 s | unordered | `recent-trade` (last 60 only) |
//! | cryptocompare | streamer `/v2?api_key=` | `{"action":"SubAdd","subs":["0~Coinbase~BTC~USD"]}` | server heartbeats | unordered | CoinDesk Data API `spot/v1/historical/trades?after_ts=` |
//! | okx | `/ws/v5/public` | `{"op":"subscribe","args":[{"channel":"trades"}]}` | `ping` every 25 s | increasing | `trades` then `history-trades?after=` backward |

use std::time::Duration;

use tickflow_model::{Instrument, Trade, Ts};

use crate::http::HttpClient;
use crate::venues::{binance, bybit, coinbase, cryptocompare, kraken, okx};
use crate::ConnectorError;

/// One subscribed market.
#[derive(Clone, Debug)]
pub struct Market {
    /// CCXT symbol.
    pub symbol: String,
    /// The venue's market id (`BTCUSDT`, `BTC-USD`, `XBTUSD` for Kraken REST).
    pub id: String,
    /// The instrument recorded on trades.
    pub instrument: Instrument,
}

/// How a venue numbers trades within a market.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdOrder {
    /// Every trade gets the next id: a jump is a hole, filled from REST at once.
    Contiguous,
    /// Ids only increase: anything at or below the last id is a duplicate.
    Increasing,
    /// No usable order (UUIDs): duplicates are found in a bounded set of recent ids.
    Unordered,
}

/// REST trades newer than a point, oldest first.
#[derive(Debug, Default)]
pub struct Fill {
    /// The trades (may include some already seen; the session drops those).
    pub trades: Vec<Trade>,
    /// False when the venue's REST window did not reach back to the point: trades in between
    /// are lost and the session reports an unfilled gap.
    pub complete: bool,
}

/// The last delivered trade of a market.
#[derive(Clone, Copy, Debug)]
pub struct After {
    /// Its id.
    pub id: u64,
    /// Its event time.
    pub ts: Ts,
}

/// A venue's live protocol.
pub trait LiveVenue: Send + Sync {
    /// Venue name (`binance`, …).
    fn name(&self) -> &'static str;
    /// Default WebSocket and REST base URLs.
    fn default_urls(&self) -> (&'static str, &'static str);
    /// The venue's market id for a CCXT symbol (`exchange`: the exchange recorded on trades,
    /// which aggregators such as CryptoCompare need).
    fn market_id(&self, symbol: &str, exchange: &str) -> String;
    /// The URL to connect to (`key`: the API key, for venues that take it in the URL).
    fn url(&self, ws_base: &str, markets: &[Market], key: Option<&str>) -> String {
        let _ = (markets, key);
        ws_base.to_string()
    }
    /// Frames sent right after connecting.
    fn subscribe(&self, markets: &[Market]) -> Vec<String>;
    /// An application keep-alive frame and how often to send it.
    fn keepalive(&self) -> Option<(&'static str, Duration)> {
        None
    }
    /// The trades in a text frame (empty for acknowledgements, heartbeats, other channels).
    fn parse(&self, text: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError>;
    /// How trade ids are ordered.
    fn id_order(&self) -> IdOrder;
    /// Trades of `market` after `after` from REST, oldest first.
    fn fill(&self, rest: &mut HttpClient, rest_base: &str, market: &Market, after: After, ingest: Ts) -> Result<Fill, ConnectorError>;
}

/// The venue called `name`.
pub fn venue(name: &str) -> Option<Box<dyn LiveVenue>> {
    Some(match name {
        "binance" => Box::new(Binance),
        "coinbase" => Box::new(Coinbase),
        "kraken" => Box::new(Kraken),
        "bybit" => Box::new(Bybit),
        "okx" => Box::new(Okx),
        "cryptocompare" => Box::new(CryptoCompare),
        _ => return None,
    })
}

/// Venues with a live connector.
pub const LIVE_VENUES: &[&str] = &["binance", "coinbase", "kraken", "bybit", "okx", "cryptocompare"];

fn base(url: &str) -> &str {
    url.trim_end_matches('/')
}

/// Pages backward from the newest trades until a page reaches `after.id` (venues whose REST
/// pages go back in time by an id cursor): `first` is the newest page's URL, `older(id)` the URL
/// of the page before trade `id`. Returns the trades newer than `after`, oldest first.
fn fill_backward(
    rest: &mut HttpClient,
    first: String,
    older: impl Fn(u64) -> String,
    parse: impl Fn(&str) -> Result<Vec<Trade>, ConnectorError>,
    after: After,
    max_pages: usize,
) -> Result<Fill, ConnectorError> {
    let mut out: Vec<Trade> = Vec::new();
    let mut url = first;
    for _ in 0..max_pages {
        let page = parse(&rest.get(&url)?)?;
        let Some(oldest) = page.iter().filter_map(|t| t.trade_id).min() else {
            return Ok(finish(out, after, true)); // nothing older exists
        };
        out.extend(page);
        if oldest <= after.id + 1 {
            return Ok(finish(out, after, true));
        }
        url = older(oldest);
    }
    Ok(finish(out, after, false))
}

/// Keeps trades newer than `after`, sorted by id, without repeats.
fn finish(mut trades: Vec<Trade>, after: After, complete: bool) -> Fill {
    trades.retain(|t| t.trade_id.is_some_and(|id| id > after.id));
    trades.sort_by_key(|t| t.trade_id);
    trades.dedup_by_key(|t| t.trade_id);
    Fill { trades, complete }
}

/// Binance spot `aggTrade` (contiguous aggregate ids per symbol).
pub struct Binance;

impl LiveVenue for Binance {
    fn name(&self) -> &'static str {
        "binance"
    }
    fn default_urls(&self) -> (&'static str, &'static str) {
        ("wss://stream.binance.com:9443", "https://api.binance.com")
    }
    fn market_id(&self, symbol: &str, _exchange: &str) -> String {
        binance::market_id(symbol)
    }
    fn url(&self, ws_base: &str, markets: &[Market], _key: Option<&str>) -> String {
        let streams: Vec<String> = markets.iter().map(|m| format!("{}@aggTrade", m.id.to_ascii_lowercase())).collect();
        format!("{}/stream?streams={}", base(ws_base), streams.join("/"))
    }
    fn subscribe(&self, _: &[Market]) -> Vec<String> {
        Vec::new()
    }
    fn parse(&self, text: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
        Ok(binance::parse_ws(text, exchange, ingest)?.into_iter().collect())
    }
    fn id_order(&self) -> IdOrder {
        IdOrder::Contiguous
    }
    fn fill(&self, rest: &mut HttpClient, rest_base: &str, m: &Market, after: After, ingest: Ts) -> Result<Fill, ConnectorError> {
        let mut out = Vec::new();
        let mut next = after.id + 1;
        loop {
            let url = format!("{}/api/v3/aggTrades?symbol={}&fromId={next}&limit=1000", base(rest_base), m.id);
            let page = binance::parse_agg_trades(&rest.get(&url)?, m.instrument, ingest)?;
            let n = page.len();
            if let Some(last) = page.iter().filter_map(|t| t.trade_id).max() {
                next = last + 1;
            }
            out.extend(page);
            if n < 1000 {
                return Ok(finish(out, after, true));
            }
        }
    }
}

/// Coinbase Exchange `matches` channel (contiguous trade ids per product; REST reports pages
/// backward from the newest with `after=<trade_id>`).
pub struct Coinbase;

impl LiveVenue for Coinbase {
    fn name(&self) -> &'static str {
        "coinbase"
    }
    fn default_urls(&self) -> (&'static str, &'static str) {
        ("wss://ws-feed.exchange.coinbase.com", "https://api.exchange.coinbase.com")
    }
    fn market_id(&self, symbol: &str, _exchange: &str) -> String {
        coinbase::market_id(symbol)
    }
    fn subscribe(&self, markets: &[Market]) -> Vec<String> {
        let ids: Vec<&str> = markets.iter().map(|m| m.id.as_str()).collect();
        vec![serde_json::json!({"type": "subscribe", "product_ids": ids, "channels": ["matches"]}).to_string()]
    }
    fn parse(&self, text: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
        Ok(coinbase::parse_ws(text, exchange, ingest)?.into_iter().collect())
    }
    fn id_order(&self) -> IdOrder {
        IdOrder::Contiguous
    }
    fn fill(&self, rest: &mut HttpClient, rest_base: &str, m: &Market, after: After, ingest: Ts) -> Result<Fill, ConnectorError> {
        let root = format!("{}/products/{}/trades?limit=1000", base(rest_base), m.id);
        let inst = m.instrument;
        fill_backward(rest, root.clone(), |id| format!("{root}&after={id}"), |b| coinbase::parse_trades(b, inst, ingest), after, 100)
    }
}

/// Kraken WebSocket v2 `trade` channel (sequential ids per pair); REST pages forward by time.
pub struct Kraken;

impl LiveVenue for Kraken {
    fn name(&self) -> &'static str {
        "kraken"
    }
    fn default_urls(&self) -> (&'static str, &'static str) {
        ("wss://ws.kraken.com/v2", "https://api.kraken.com")
    }
    fn market_id(&self, symbol: &str, _exchange: &str) -> String {
        kraken::market_id(symbol)
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
        kraken::parse_ws_v2(text, exchange, ingest)
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
            let (page, last) = kraken::parse_trades(&rest.get(&url)?, m.instrument.exchange(), ingest)?;
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

/// Bybit v5 spot `publicTrade` (ids are not ordered across trades); REST keeps only the most
/// recent trades, so a long outage can leave an unfilled gap, which is reported.
pub struct Bybit;

impl LiveVenue for Bybit {
    fn name(&self) -> &'static str {
        "bybit"
    }
    fn default_urls(&self) -> (&'static str, &'static str) {
        ("wss://stream.bybit.com/v5/public/spot", "https://api.bybit.com")
    }
    fn market_id(&self, symbol: &str, _exchange: &str) -> String {
        bybit::market_id(symbol)
    }
    fn subscribe(&self, markets: &[Market]) -> Vec<String> {
        let args: Vec<String> = markets.iter().map(|m| format!("publicTrade.{}", m.id)).collect();
        vec![serde_json::json!({"op": "subscribe", "args": args}).to_string()]
    }
    fn keepalive(&self) -> Option<(&'static str, Duration)> {
        Some((r#"{"op":"ping"}"#, Duration::from_secs(20)))
    }
    fn parse(&self, text: &str, exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
        bybit::parse_ws(text, exchange, ingest)
    }
    fn id_order(&self) -> IdOrder {
        IdOrder::Unordered
    }
    fn fill(&self, rest: &mut HttpClient, rest_base: &str, m: &Market, after: After, ingest: Ts) -> Result<Fill, ConnectorError> {
        let url = format!("{}/v5/market/recent-trade?category=spot&symbol={}&limit=60", base(rest_base), m.id);
        let mut page = bybit::parse_trades(&rest.get(&url)?, m.instrument.exchange(), ingest)?;
        // the window reaches back far enough when it is not full or starts at or before the last
        // delivered trade (REST may also lag behind the stream)
        let complete = page.len() < 60 || page.iter().any(|t| t.ts <= after.ts);
        page.retain(|t| t.ts >= after.ts);
        page.sort_by_key(|t| t.ts);
        Ok(Fill { trades: page, complete })
    }
}

/// OKX v5 public `trades` (increasing ids per instrument); REST pages backward.
pub struct Okx;

impl LiveVenue for Okx {
    fn name(&self) -> &'static str {
        "okx"
    }
    fn default_urls(&self) -> (&'static str, &'static str) {
        ("wss://ws.okx.com:8443/ws/v5/public", "https://www.okx.com")
    }
    fn market_id(&self, symbol: &str, _exchange: &str) -> String {
        okx::market_id(symbol)
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
        okx::parse_ws(text, exchange, ingest)
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
            |body| okx::parse_trades(body, &ex, ingest),
            after,
            200,
        )
    }
}

/// CryptoCompare's streamer (trade channel `0~<Exchange>~<BASE>~<QUOTE>`), gap-filled from the
/// CoinDesk Data API trades endpoint. Trades carry the underlying exchange (`--exchange`,
/// e.g. `coinbase`); the API key goes in the URL (never logged) and in the REST header.
pub struct CryptoCompare;

impl LiveVenue for CryptoCompare {
    fn name(&self) -> &'static str {
        "cryptocompare"
    }
    fn default_urls(&self) -> (&'static str, &'static str) {
        ("wss://streamer.cryptocompare.com/v2", "https://data-api.coindesk.com")
    }
    fn market_id(&self, symbol: &str, exchange: &str) -> String {
        cryptocompare::streamer_sub(exchange, symbol).unwrap_or_default()
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
    fn subscribe(&self, markets: &[Market]) -> Vec<String> {
        let subs: Vec<&str> = markets.iter().map(|m| m.id.as_str()).collect();
        vec![serde_json::json!({"action": "SubAdd", "subs": subs}).to_string()]
    }
    fn parse(&self, text: &str, _exchange: &str, ingest: Ts) -> Result<Vec<Trade>, ConnectorError> {
        cryptocompare::parse_streamer(text, ingest)
    }
    fn id_order(&self) -> IdOrder {
        IdOrder::Unordered
    }
    fn fill(&self, rest: &mut HttpClient, rest_base: &str, m: &Market, after: After, ingest: Ts) -> Result<Fill, ConnectorError> {
        let (b, q) = cryptocompare::pair(&m.symbol)?;
        let mut from = after.ts.0.div_euclid(1_000_000_000);
        let mut out = Vec::new();
        for _ in 0..100 {
            let url = format!("{}/spot/v1/historical/trades?market={}&instrument={b}-{q}&after_ts={from}&limit=1000", base(rest_base), m.instrument.exchange());
            let page = cryptocompare::parse_data_api_trades(&rest.get(&url)?, m.instrument, ingest)?;
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
