//! Live trades over WebSocket, with no holes and no duplicates: the session engine shared by
//! every venue whose [`crate::venues::Venue::live`] gives a [`LiveProtocol`] (URL, subscription
//! frames, keep-alive, frame parsing, REST gap-fill; in the venue's folder).
//!
//! | venue | WebSocket | subscription | keep-alive | ids | REST gap-fill |
//! |---|---|---|---|---|---|
//! | binance | `/stream?streams=<m>@aggTrade/…` | in the URL | server pings | contiguous | `aggTrades?fromId=` forward |
//! | coinbase | `ws-feed` | `{"type":"subscribe","channels":["matches"]}` | server pings | contiguous | `/products/<id>/trades?after=` backward |
//! | kraken | `/v2` | `{"method":"subscribe","params":{"channel":"trade"}}` | `{"method":"ping"}` | contiguous | `/0/public/Trades?since=` forward |
//! | bybit | `/v5/public/spot` | `{"op":"subscribe","args":["publicTrade.<m>"]}` | `{"op":"ping"}` every 20 s | unordered | `recent-trade` (last 60 only) |
//! | cryptocompare | streamer `/v2?api_key=` | `{"action":"SubAdd","subs":["0~Coinbase~BTC~USD"]}` | server heartbeats | unordered | CoinDesk Data API `spot/v1/historical/trades?after_ts=` |
//! | okx | `/ws/v5/public` | `{"op":"subscribe","args":[{"channel":"trades"}]}` | `ping` every 25 s | increasing | `trades` then `history-trades?after=` backward |
//!
//! - One connection for all symbols; subscription frames are sent after every connect.
//! - **Keep-alive**: protocol pings are answered (tungstenite queues the pong; it is flushed on
//!   the next read); venues that want application pings get them on their schedule.
//! - **Stale feed**: no frame within `stale_after` → reconnect.
//! - **Reconnect** with capped exponential backoff and jitter.
//! - **Gap-fill**: after every reconnect — and, where ids are contiguous, whenever an id jumps —
//!   the missing trades are fetched from REST before newer ones are delivered. Every trade is
//!   delivered once: duplicates are dropped by id (by order where ids increase, by a bounded set
//!   of recent ids where they do not). Where the venue's REST window is too short to reach back
//!   (Bybit keeps the last 60 spot trades), the gap is logged and counted, never hidden.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tickflow_model::{Instrument, Trade, Ts};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::Message;

pub use crate::history::{After, Fill};
use crate::http::{HttpClient, RetryPolicy};
pub use crate::venues::{IdOrder, LiveProtocol, Market};
use crate::ConnectorError;

/// The live protocol of venue `name`.
pub fn venue(name: &str) -> Option<&'static dyn LiveProtocol> {
    crate::venues::get(name).and_then(|v| v.live())
}

/// Settings of a live session.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// Venue id (one of [`crate::venues::REGISTRY`] with a live protocol).
    pub venue: String,
    /// WebSocket base, e.g. `wss://stream.binance.com:9443`.
    pub ws_url: String,
    /// REST base, e.g. `https://api.binance.com`.
    pub rest_url: String,
    /// CCXT symbols.
    pub symbols: Vec<String>,
    /// Exchange id recorded on trades (for an aggregator such as CryptoCompare: the underlying
    /// exchange, e.g. `coinbase`).
    pub exchange: String,
    /// API key (CryptoCompare); redacted in `Debug`, never logged.
    pub api_key: Option<crate::http::Secret>,
    /// Reconnect when no frame arrives for this long.
    pub stale_after: Duration,
    /// Reconnect backoff.
    pub retry: RetryPolicy,
    /// Resume after these trades (by CCXT symbol): the first connection fills from REST
    /// everything after them before delivering live trades (an ingest restarting from the tail
    /// of its topic).
    pub resume_after: BTreeMap<String, crate::history::After>,
}

impl LiveConfig {
    /// Settings for `venue` at its default URLs (stale after 30 s).
    pub fn for_venue(venue_name: &str, symbols: Vec<String>) -> Result<LiveConfig, ConnectorError> {
        let v = venue(venue_name).ok_or_else(|| unknown_venue(venue_name))?;
        let (ws, rest) = v.default_urls();
        Ok(LiveConfig {
            venue: venue_name.to_string(),
            ws_url: ws.into(),
            rest_url: rest.into(),
            symbols,
            exchange: venue_name.to_string(),
            api_key: None,
            stale_after: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            resume_after: BTreeMap::new(),
        })
    }
}

fn unknown_venue(name: &str) -> ConnectorError {
    let have = crate::venues::ids(crate::venues::Operation::Stream).join(", ");
    ConnectorError::Payload { venue: name.into(), message: format!("no live connector for {name:?} (have {have})") }
}

/// What happened during a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveStats {
    /// Successful connections.
    pub connects: u64,
    /// Stale-feed timeouts.
    pub stale: u64,
    /// Trades recovered from REST.
    pub gap_filled: u64,
    /// Gaps REST could not fully cover (the venue's window was too short).
    pub gaps_unfilled: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Malformed frames skipped.
    pub bad_frames: u64,
}

/// `text` with `key` blanked out.
fn redact(text: &str, key: Option<&str>) -> String {
    match key {
        Some(k) if !k.is_empty() => text.replace(k, "***"),
        _ => text.to_string(),
    }
}

fn set_timeout(s: &MaybeTlsStream<TcpStream>, t: Duration) {
    let tcp = match s {
        MaybeTlsStream::Plain(s) => s,
        MaybeTlsStream::Rustls(s) => s.get_ref(),
        _ => return,
    };
    let _ = tcp.set_read_timeout(Some(t));
}

/// Delivery state of one market.
#[derive(Default)]
struct Seen {
    last: Option<After>,
    /// Recent ids (unordered venues), oldest first, bounded.
    recent: HashSet<u64>,
    order: VecDeque<u64>,
}

/// Recent ids kept per market for venues without id order.
const RECENT_IDS: usize = 100_000;

impl Seen {
    fn is_duplicate(&self, id: u64, order: IdOrder) -> bool {
        match order {
            IdOrder::Unordered => self.recent.contains(&id),
            _ => self.last.is_some_and(|l| id <= l.id),
        }
    }
    fn record(&mut self, t: &Trade, id: u64, order: IdOrder) {
        let newer = self.last.is_none_or(|l| if order == IdOrder::Unordered { t.ts >= l.ts } else { id > l.id });
        if newer {
            self.last = Some(After { id, ts: t.ts });
        }
        if order == IdOrder::Unordered && self.recent.insert(id) {
            self.order.push_back(id);
            if self.order.len() > RECENT_IDS {
                if let Some(old) = self.order.pop_front() {
                    self.recent.remove(&old);
                }
            }
        }
    }
}

struct Session<'a> {
    cfg: &'a LiveConfig,
    venue: &'a dyn LiveProtocol,
    name: &'a str,
    rest: HttpClient,
    seen: BTreeMap<String, Seen>,
    stats: LiveStats,
    /// Holes REST could not fill, until the caller is told.
    gaps: Vec<Gap>,
}

/// A hole in a market's trades that the venue's REST history could not fill: trades after
/// `after` and before `resumed` may be missing.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Gap {
    /// The market.
    pub instrument: Instrument,
    /// The last trade delivered before the hole.
    pub after_id: u64,
    /// Its event time.
    pub after_ts: Ts,
    /// The first trade delivered after it, when known.
    pub resumed_id: Option<u64>,
    /// Its event time (else when the hole was found).
    pub resumed_ts: Ts,
}

/// `emit`'s verdict: keep going or stop.
type Go = bool;

impl Session<'_> {
    /// Delivers `t` unless it was already delivered.
    fn deliver(&mut self, t: Trade, emit: &mut dyn FnMut(Trade) -> bool) -> Go {
        let order = self.venue.id_order();
        let Some(id) = t.trade_id else { return emit(t) };
        let seen = self.seen.entry(t.instrument.symbol().to_string()).or_default();
        if seen.is_duplicate(id, order) {
            self.stats.duplicates += 1;
            return true;
        }
        seen.record(&t, id, order);
        emit(t)
    }

    /// Fetches and delivers what `market` missed since its last delivered trade.
    fn fill(&mut self, m: &Market, emit: &mut dyn FnMut(Trade) -> bool) -> Result<Go, ConnectorError> {
        let Some(after) = self.seen.get(&m.symbol).and_then(|s| s.last) else { return Ok(true) };
        let fill = self.venue.fill(&mut self.rest, &self.cfg.rest_url, m, after, Ts::now())?;
        // contiguous ids: the history answered, but from after a hole (it no longer reaches back)
        let first_new = fill.trades.iter().filter_map(|t| t.trade_id).filter(|id| *id > after.id).min();
        let holed = self.venue.id_order() == IdOrder::Contiguous && first_new.is_some_and(|id| id > after.id + 1);
        if !fill.complete || holed {
            self.stats.gaps_unfilled += 1;
            tracing::warn!(venue = self.name, symbol = %m.symbol, after_id = after.id, "REST history does not reach back to the last trade: trades may be missing");
            let first = fill.trades.iter().filter(|t| t.trade_id.is_some_and(|id| id > after.id)).min_by_key(|t| t.trade_id);
            self.gaps.push(Gap {
                instrument: m.instrument,
                after_id: after.id,
                after_ts: after.ts,
                resumed_id: first.and_then(|t| t.trade_id),
                resumed_ts: first.map_or_else(Ts::now, |t| t.ts),
            });
        }
        for t in fill.trades {
            let before = self.stats.duplicates;
            if !self.deliver(t, emit) {
                return Ok(false);
            }
            if self.stats.duplicates == before {
                self.stats.gap_filled += 1;
            }
        }
        Ok(true)
    }
}

/// Tells the observer what a gap fill recovered (trades delivered since `before`) and the holes
/// it could not fill.
fn report(s: &mut Session<'_>, before: u64, observe: &mut impl FnMut(LiveEvent)) {
    if s.stats.gap_filled > before {
        observe(LiveEvent::Backfilled(s.stats.gap_filled - before));
    }
    s.gaps.drain(..).for_each(|g| observe(LiveEvent::Gap(g)));
}

/// The gap-fill client: the venue's budget, and its API key as a header when there is one.
fn rest_client(cfg: &LiveConfig) -> HttpClient {
    let c = HttpClient::new(cfg.retry.clone(), Duration::from_secs(10)).with_budget(crate::venues::get(&cfg.venue).and_then(|v| v.budget()));
    match &cfg.api_key {
        Some(k) => c.with_header("authorization", &format!("Apikey {}", k.expose())),
        None => c,
    }
}

/// Runs a live session until `emit` returns false or `stop` is set. Every trade of every symbol
/// is delivered once, from the first trade seen on; per symbol in id order where the venue's
/// ids are ordered.
pub fn run(cfg: &LiveConfig, stop: &AtomicBool, emit: impl FnMut(Trade) -> bool) -> Result<LiveStats, ConnectorError> {
    run_observed(cfg, stop, emit, |_: LiveEvent| {})
}

/// What a live session tells its observer (an ingest's readiness, health and gap records).
#[derive(Clone, Debug, PartialEq)]
pub enum LiveEvent {
    /// Connected: fetching from REST what was missed since the last delivered trade (not
    /// ready: the data is behind).
    Backfilling,
    /// Caught up after a (re)connect: streaming.
    Live,
    /// A frame arrived (trades, heartbeat, ping): the feed is alive.
    Frame,
    /// Trades recovered from REST by one gap fill.
    Backfilled(u64),
    /// A hole the venue's REST history could not fill.
    Gap(Gap),
}

/// [`run`], telling `observe` what happens: backfilling and live phases, frames, recovered
/// trades, and every hole the venue's REST history could not fill (an ingest records them on
/// its gaps topic).
pub fn run_observed(
    cfg: &LiveConfig,
    stop: &AtomicBool,
    mut emit: impl FnMut(Trade) -> bool,
    mut observe: impl FnMut(LiveEvent),
) -> Result<LiveStats, ConnectorError> {
    let v = venue(&cfg.venue).ok_or_else(|| unknown_venue(&cfg.venue))?;
    let markets: Vec<Market> = cfg
        .symbols
        .iter()
        .map(|s| {
            Instrument::new(&cfg.exchange, s)
                .map(|i| Market { symbol: i.symbol().to_string(), id: v.market_id(s, &cfg.exchange), instrument: i })
                .map_err(|e| ConnectorError::Payload { venue: cfg.venue.clone(), message: e.to_string() })
        })
        .collect::<Result<_, _>>()?;
    let by_symbol: BTreeMap<String, Market> = markets.iter().map(|m| (m.symbol.clone(), m.clone())).collect();
    let key = cfg.api_key.as_ref().map(|k| k.expose());
    let url = v.url(&cfg.ws_url, &markets, key);
    let mut s = Session { cfg, venue: v, name: &cfg.venue, rest: rest_client(cfg), seen: BTreeMap::new(), stats: LiveStats::default(), gaps: Vec::new() };
    for (symbol, after) in &cfg.resume_after {
        if let Some(m) = markets.iter().find(|m| &m.symbol == symbol) {
            s.seen.entry(m.symbol.clone()).or_default().last = Some(*after);
        }
    }
    let keepalive = v.keepalive();
    let tick = keepalive.map_or(cfg.stale_after, |(_, every)| every.min(cfg.stale_after));
    let mut rng = cfg.retry.seed | 1;
    let mut failures = 0u32;
    while !stop.load(Ordering::SeqCst) {
        let (mut ws, _) = match tungstenite::connect(url.as_str()) {
            Ok(c) => c,
            Err(e) => {
                // the URL may hold an API key: log the configured base only
                tracing::warn!(venue = %cfg.venue, ws_url = %cfg.ws_url, error = %redact(&e.to_string(), key), "connect failed");
                std::thread::sleep(cfg.retry.backoff(failures, &mut rng));
                failures = failures.saturating_add(1);
                continue;
            }
        };
        failures = 0;
        s.stats.connects += 1;
        set_timeout(ws.get_ref(), tick);
        let mut ok = true;
        for frame in v.subscribe(&markets) {
            ok &= ws.send(Message::Text(frame)).is_ok();
        }
        if !ok {
            continue;
        }
        // gap-fill whatever happened while we were away
        observe(LiveEvent::Backfilling);
        for m in &markets {
            let before = s.stats.gap_filled;
            let go = s.fill(m, &mut emit)?;
            report(&mut s, before, &mut observe);
            if !go {
                return Ok(s.stats);
            }
        }
        observe(LiveEvent::Live);
        let mut last_frame = Instant::now();
        let mut last_ping = Instant::now();
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(s.stats);
            }
            if let Some((frame, every)) = keepalive {
                if last_ping.elapsed() >= every {
                    last_ping = Instant::now();
                    if ws.send(Message::Text(frame.into())).is_err() {
                        break;
                    }
                }
            }
            match ws.read() {
                Ok(Message::Text(text)) => {
                    last_frame = Instant::now();
                    observe(LiveEvent::Frame);
                    let trades = match v.parse(&text, &cfg.exchange, Ts::now()) {
                        Ok(t) if t.is_empty() && v.wants_reconnect(&text) => {
                            tracing::info!(venue = %cfg.venue, "the venue asks for a reconnect");
                            break;
                        }
                        Ok(t) => t,
                        Err(e) => {
                            s.stats.bad_frames += 1;
                            tracing::warn!(venue = %cfg.venue, error = %e, "bad frame skipped");
                            continue;
                        }
                    };
                    for t in trades {
                        let symbol = t.instrument.symbol().to_string();
                        if v.id_order() == IdOrder::Contiguous {
                            let last = s.seen.get(&symbol).and_then(|x| x.last).map(|l| l.id);
                            if let (Some(l), Some(id), Some(m)) = (last, t.trade_id, by_symbol.get(&symbol)) {
                                if id > l + 1 {
                                    // a hole: filled before this trade is delivered
                                    let before = s.stats.gap_filled;
                                    let go = s.fill(m, &mut emit)?;
                                    report(&mut s, before, &mut observe);
                                    if !go {
                                        return Ok(s.stats);
                                    }
                                    if let Some(n) = s.seen.get(&symbol).and_then(|x| x.last).filter(|n| n.id + 1 < id) {
                                        s.stats.gaps_unfilled += 1;
                                        observe(LiveEvent::Gap(Gap {
                                            instrument: m.instrument,
                                            after_id: n.id,
                                            after_ts: n.ts,
                                            resumed_id: Some(id),
                                            resumed_ts: t.ts,
                                        }));
                                        tracing::warn!(
                                            venue = %cfg.venue,
                                            symbol,
                                            from = l + 1,
                                            to = id - 1,
                                            "REST does not have the missing trades yet: gap left"
                                        );
                                    }
                                }
                            }
                        }
                        if !s.deliver(t, &mut emit) {
                            return Ok(s.stats);
                        }
                    }
                }
                Ok(Message::Close(_)) => break,
                Ok(_) => {
                    // pings/pongs: tungstenite answers pings
                    last_frame = Instant::now();
                    observe(LiveEvent::Frame);
                }
                Err(tungstenite::Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    if last_frame.elapsed() >= cfg.stale_after {
                        s.stats.stale += 1;
                        tracing::warn!(venue = %cfg.venue, "feed stale: reconnecting");
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(venue = %cfg.venue, error = %e, "connection lost: reconnecting");
                    break;
                }
            }
        }
        std::thread::sleep(cfg.retry.backoff(0, &mut rng));
    }
    Ok(s.stats)
}
