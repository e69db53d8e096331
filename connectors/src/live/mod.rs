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
//! - **Runtime**: a session is async (tokio, tokio-tungstenite): [`run_observed`] runs one on
//!   its own thread's runtime, [`run_many`] many as tasks on one multi-threaded runtime; either
//!   way trades reach the caller's thread through a bounded channel (back-pressure). The
//!   session's core (ids, duplicates, holes, validation) is synchronous; REST gap fills block
//!   (in `block_in_place` on a shared runtime).
//! - One connection for all symbols (up to the venue's per-connection cap,
//!   [`LiveProtocol::max_markets`]); subscription frames are sent after every connect.
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

pub use crate::history::{After, Fill};
use crate::http::{HttpClient, RetryPolicy};
pub use crate::venues::{IdOrder, LiveProtocol, Market};
use crate::ConnectorError;

pub mod funding;
mod many;
pub use many::{run_many, VenueNote, VenueReport};

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
    /// Plausibility bound of event time over ingest time (ns), see [`tickflow_model::validate`]:
    /// a later trade is rejected ([`LiveEvent::Rejected`]), never delivered.
    pub max_future: i64,
    /// Bound on each step of opening the WebSocket (TCP connect, TLS and WebSocket handshakes):
    /// a peer that accepts and never answers is a failed attempt after this long.
    pub connect_timeout: Duration,
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
            max_future: tickflow_model::validate::DEFAULT_MAX_FUTURE,
            connect_timeout: Duration::from_secs(10),
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
    /// Trades refused by the validation rule set (price or amount not positive, event time
    /// before 1970 or further than `max_future` ahead), each also reported as
    /// [`LiveEvent::Rejected`].
    pub rejected: u64,
    /// Of `rejected`: trades whose id jumped implausibly far past the last one (a corrupt id
    /// would otherwise make every genuine trade after it look like a duplicate).
    pub id_jumps: u64,
    /// Times a market's ids restarted far below the last one with newer trades (a venue
    /// renumbering): the newer trades are delivered and the id order starts again.
    pub id_resets: u64,
}

/// Ids a market can plausibly advance per second of event time (the busiest spot markets print
/// a few thousand trades a second).
const MAX_IDS_PER_SEC: u64 = 100_000;
/// Id advance always plausible, whatever the time between trades.
const ID_JUMP_SLACK: u64 = 1_000_000;

/// How `id` at `ts` continues a market whose last delivered trade is `last` (ordered ids only).
#[derive(Debug, PartialEq, Eq)]
enum IdStep {
    Plausible,
    /// Further ahead than any real market could number trades in the time between.
    Jump,
    /// Far below the last id, yet a newer trade: the venue renumbered.
    Reset,
}

fn id_step(last: After, id: u64, ts: Ts) -> IdStep {
    let secs = (ts.0.saturating_sub(last.ts.0)).max(0) as u64 / 1_000_000_000;
    let allowed = ID_JUMP_SLACK.saturating_add(secs.saturating_mul(MAX_IDS_PER_SEC));
    if id > last.id && id - last.id > allowed {
        IdStep::Jump
    } else if id < last.id && last.id - id > ID_JUMP_SLACK && ts > last.ts {
        IdStep::Reset
    } else {
        IdStep::Plausible
    }
}

/// `text` with `key` blanked out.
fn redact(text: &str, key: Option<&str>) -> String {
    match key {
        Some(k) if !k.is_empty() => text.replace(k, "***"),
        _ => text.to_string(),
    }
}

/// Opens the WebSocket with every network step bounded by `timeout`: name resolution's
/// addresses are tried with a connect timeout, and the TLS and WebSocket handshakes run under
/// read and write timeouts, so a peer that accepts TCP and never answers is a failed attempt
/// (retried with backoff), not a hang.
fn connect_ws(url: &str, timeout: Duration) -> Result<tungstenite::WebSocket<MaybeTlsStream<TcpStream>>, String> {
    use std::net::ToSocketAddrs;
    use tungstenite::client::IntoClientRequest;
    let req = url.into_client_request().map_err(|e| e.to_string())?;
    let uri = req.uri();
    let host = uri.host().ok_or("URL without a host")?.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("wss") { 443 } else { 80 });
    let mut last = String::from("no address");
    let mut stream = None;
    for a in (host.as_str(), port).to_socket_addrs().map_err(|e| format!("resolving {host}: {e}"))? {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("connecting to {a}: {e}"),
        }
    }
    let stream = stream.ok_or(last)?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    match tungstenite::client_tls(req, stream) {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::HandshakeError::Interrupted(_)) => Err(format!("no handshake answer within {timeout:?}")),
        Err(tungstenite::HandshakeError::Failure(e)) => Err(e.to_string()),
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
    /// Ids of refused trades (with a fingerprint of their values), bounded: they are no hole,
    /// and a re-delivery is no new refusal.
    refused: BTreeMap<u64, u64>,
}

/// Refused ids kept per market.
const REFUSED_IDS: usize = 1_024;

/// Recent ids kept per market for venues without id order.
const RECENT_IDS: usize = 100_000;

impl Seen {
    fn is_duplicate(&self, id: u64, order: IdOrder) -> bool {
        match order {
            IdOrder::Unordered => self.recent.contains(&id),
            _ => self.last.is_some_and(|l| id <= l.id),
        }
    }
    /// Notes a refused trade; false when the same trade (id and values) was refused before (a
    /// re-delivery).
    fn refuse(&mut self, id: u64, t: &Trade) -> bool {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        (t.ts.0, t.price, t.amount).hash(&mut h);
        let fingerprint = h.finish();
        let new = self.refused.insert(id, fingerprint) != Some(fingerprint);
        if self.refused.len() > REFUSED_IDS {
            self.refused.pop_first();
        }
        new
    }
    /// The last delivered id, extended through the refused ids right after it: the next id
    /// after that is no hole.
    fn covered(&self) -> Option<u64> {
        let mut l = self.last?.id;
        while l.checked_add(1).is_some_and(|n| self.refused.contains_key(&n)) {
            l += 1;
        }
        Some(l)
    }
    fn remember(&mut self, id: u64) {
        if self.recent.insert(id) {
            self.order.push_back(id);
            if self.order.len() > RECENT_IDS {
                if let Some(old) = self.order.pop_front() {
                    self.recent.remove(&old);
                }
            }
        }
    }
    fn record(&mut self, t: &Trade, id: u64, order: IdOrder) {
        let newer = self.last.is_none_or(|l| if order == IdOrder::Unordered { t.ts >= l.ts } else { id > l.id });
        if newer {
            self.last = Some(After { id, ts: t.ts });
        }
        if order == IdOrder::Unordered {
            self.remember(id);
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
    /// Trades refused by the rule set, until the caller is told.
    rejected: Vec<(Trade, String)>,
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
    /// Delivers `t`, after [`admit`](Self::admit), unless it was already delivered (REST
    /// trades; the WebSocket loop admits its trades itself, before the hole check).
    fn deliver(&mut self, t: Trade, emit: &mut dyn FnMut(Trade) -> bool) -> Go {
        if !self.admit(&t) {
            return true;
        }
        self.deliver_admitted(t, emit)
    }

    /// Delivers an admitted `t` unless it was already delivered.
    fn deliver_admitted(&mut self, t: Trade, emit: &mut dyn FnMut(Trade) -> bool) -> Go {
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

    /// The one rule set of [`tickflow_model::validate`], for WebSocket and REST trades alike: a
    /// refused trade is counted and queued for the caller (an ingest dead-letters it).
    ///
    /// With ordered ids, an id implausibly far ahead of the market's last one (given the time
    /// between them) is refused too, and one far below it on a newer trade restarts the order.
    fn admit(&mut self, t: &Trade) -> bool {
        let reference = tickflow_model::validate::reference(t.ingest_ts.0, Ts::now().0);
        let value = tickflow_model::validate::check_trade(t.price, t.amount, t.ts.0, reference, self.cfg.max_future);
        let order = self.venue.id_order();
        let symbol = t.instrument.symbol();
        let last = self.seen.get(symbol).and_then(|s| s.last);
        let mut jump = None;
        if let (Some(last), Some(id), false) = (last, t.trade_id, order == IdOrder::Unordered) {
            match id_step(last, id, t.ts) {
                IdStep::Plausible => {}
                IdStep::Reset if value.is_ok() => {
                    self.stats.id_resets += 1;
                    tracing::warn!(venue = self.name, symbol = %symbol, last_id = last.id, id, "trade ids restarted: following the new numbering");
                    if let Some(s) = self.seen.get_mut(symbol) {
                        s.last = None;
                    }
                }
                // a bad trade is no evidence of a renumbering
                IdStep::Reset => {}
                IdStep::Jump => {
                    self.stats.id_jumps += 1;
                    jump = Some(format!("trade id {id} is implausibly far past the last id {} ({} after it)", last.id, t.ts));
                }
            }
        }
        let why = match (jump, value) {
            (Some(jump), _) => jump,
            (None, Ok(())) => return true,
            (None, Err(bad)) => {
                // A refused trade's id is noted: the next id is no hole to fill from REST, and
                // a re-delivery (a REST fill, a reconnect) is a duplicate, not a second dead
                // letter. It is not marked delivered: a valid trade with that id later is taken.
                if let Some(id) = t.trade_id {
                    let seen = self.seen.entry(symbol.to_string()).or_default();
                    if seen.is_duplicate(id, order) || !seen.refuse(id, t) {
                        self.stats.duplicates += 1;
                        return false;
                    }
                }
                bad.to_string()
            }
        };
        self.stats.rejected += 1;
        tracing::warn!(venue = self.name, symbol = %symbol, trade_id = ?t.trade_id, reason = %why, "trade refused");
        self.rejected.push((*t, why));
        false
    }

    /// Fetches and delivers what `market` missed since its last delivered trade.
    fn fill(&mut self, m: &Market, emit: &mut dyn FnMut(Trade) -> bool) -> Result<Go, ConnectorError> {
        let Some(after) = self.seen.get(&m.symbol).and_then(|s| s.last) else { return Ok(true) };
        let fill = self.venue.fill(&mut self.rest, &self.cfg.rest_url, m, after, Ts::now())?;
        // contiguous ids: the history answered, but from after a hole (it no longer reaches back)
        let first_new = fill.trades.iter().filter_map(|t| t.trade_id).filter(|id| *id > after.id).min();
        let holed = self.venue.id_order() == IdOrder::Contiguous && first_new.is_some_and(|id| id > after.id.saturating_add(1));
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
        for mut t in fill.trades {
            // the venue's REST may name the pair: the trades are the filled market's
            if t.instrument != m.instrument && t.instrument.symbol() == pair(&m.symbol) {
                t.instrument = m.instrument;
            }
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
    report_rejected(s, observe);
}

fn report_rejected(s: &mut Session<'_>, observe: &mut impl FnMut(LiveEvent)) {
    s.rejected.drain(..).for_each(|(t, why)| observe(LiveEvent::Rejected(Box::new(t), why)));
}

/// The gap-fill client: the budget of the API serving the session's markets (one kind per
/// session), and its API key as a header when there is one.
fn rest_client(cfg: &LiveConfig) -> HttpClient {
    let first = cfg.symbols.first().map_or("", String::as_str);
    let c = HttpClient::new(cfg.retry.clone(), Duration::from_secs(10)).with_budget(crate::venues::get(&cfg.venue).and_then(|v| v.budget_for(first)));
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
    /// A trade refused by the validation rule set, with the reason (never delivered).
    Rejected(Box<Trade>, String),
    /// The venue could not be reached (the session retries with backoff).
    Down(String),
}

/// [`run`], telling `observe` what happens: backfilling and live phases, frames, recovered
/// trades, and every hole the venue's REST history could not fill (an ingest records them on
/// its gaps topic).
///
/// The session runs on a tokio runtime of its own thread (async WebSocket I/O); its trades and
/// events reach `emit` and `observe` on the calling thread, in order, through a bounded channel
/// ([`SESSION_CHANNEL`] messages): a slow consumer holds the session back, nothing piles up.
pub fn run_observed(
    cfg: &LiveConfig,
    stop: &AtomicBool,
    mut emit: impl FnMut(Trade) -> bool,
    mut observe: impl FnMut(LiveEvent),
) -> Result<LiveStats, ConnectorError> {
    let done = AtomicBool::new(false);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(SESSION_CHANNEL);
    std::thread::scope(|scope| {
        let session = std::thread::Builder::new()
            .name(format!("live-{}", cfg.venue))
            .spawn_scoped(scope, || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| ConnectorError::io("tokio runtime", e))?;
                let mut out = Outlet::new(tx, 0, cfg.resume_after.clone());
                rt.block_on(session(cfg, Halt { stop, done: Some(&done) }, &mut out))
            })
            .map_err(|e| ConnectorError::io("live session thread", e))?;
        while let Some(msg) = rx.blocking_recv() {
            match msg {
                Msg::Trade(t) => {
                    if !emit(t) {
                        done.store(true, Ordering::SeqCst);
                        break;
                    }
                }
                Msg::Note(_, VenueNote::Event(e)) => observe(e),
                Msg::Note(..) => {}
            }
        }
        // the session sees `done` or a closed channel and returns
        drop(rx);
        session.join().unwrap_or_else(|_| Err(ConnectorError::Panicked { what: format!("live session {}", cfg.venue) }))
    })
}

/// Messages a session sends its consumer per [`run_observed`] (bounded: back-pressure).
pub const SESSION_CHANNEL: usize = 4_096;

/// A session's output: trades and notes, tagged with the session's index.
pub(crate) enum Msg {
    Trade(Trade),
    Note(usize, VenueNote),
}

/// When a session stops: the caller's flag, or its consumer being done.
#[derive(Clone, Copy)]
pub(crate) struct Halt<'a> {
    pub(crate) stop: &'a AtomicBool,
    pub(crate) done: Option<&'a AtomicBool>,
}

impl Halt<'_> {
    fn is_set(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.done.is_some_and(|d| d.load(Ordering::SeqCst))
    }
}

/// Where a session sends its trades and events; remembers the last trade sent of each symbol
/// (a restarted session resumes after it).
pub(crate) struct Outlet {
    tx: tokio::sync::mpsc::Sender<Msg>,
    index: usize,
    pub(crate) last: BTreeMap<String, After>,
}

impl Outlet {
    pub(crate) fn new(tx: tokio::sync::mpsc::Sender<Msg>, index: usize, last: BTreeMap<String, After>) -> Self {
        Outlet { tx, index, last }
    }
    /// Sends what the session produced, in order, waiting for room; false when the consumer is
    /// gone.
    async fn flush(&mut self, pending: &mut Vec<Out>) -> bool {
        for o in pending.drain(..) {
            let msg = match o {
                Out::Trade(t) => {
                    if let Some(id) = t.trade_id {
                        self.last.insert(t.instrument.symbol().to_string(), After { id, ts: t.ts });
                    }
                    Msg::Trade(t)
                }
                Out::Event(e) => Msg::Note(self.index, VenueNote::Event(e)),
            };
            if self.tx.send(msg).await.is_err() {
                return false;
            }
        }
        true
    }
    /// Sends a supervisor's note.
    pub(crate) async fn note(&mut self, n: VenueNote) {
        let _ = self.tx.send(Msg::Note(self.index, n)).await;
    }
}

/// What a session produced and has not sent yet (the session's synchronous core fills it; the
/// async loop sends it).
enum Out {
    Trade(Trade),
    Event(LiveEvent),
}

/// Runs `f`, which blocks (a REST gap fill): on a multi-threaded runtime its worker hands its
/// other sessions over first.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the WebSocket, name resolution, TCP, TLS and WebSocket handshakes bounded by
/// `timeout` together: a peer that accepts TCP and never answers is a failed attempt (retried
/// with backoff), not a hang.
async fn connect(url: &str, timeout: Duration) -> Result<Ws, String> {
    match tokio::time::timeout(timeout, tokio_tungstenite::connect_async(url)).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no connection and handshake within {timeout:?}")),
    }
}

/// Sleeps `d`, waking early when the session is halted.
async fn pause_until(d: Duration, halt: Halt<'_>) {
    let end = tokio::time::Instant::now() + d;
    while !halt.is_set() {
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return;
        }
        tokio::time::sleep(left.min(Duration::from_millis(50))).await;
    }
}

/// One live session (see the module documentation): connect, subscribe, gap-fill, stream,
/// reconnect, until halted or the consumer is gone.
pub(crate) async fn session(cfg: &LiveConfig, halt: Halt<'_>, out: &mut Outlet) -> Result<LiveStats, ConnectorError> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as WsMessage;
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
    let mut s = Session {
        cfg,
        venue: v,
        name: &cfg.venue,
        rest: rest_client(cfg),
        seen: BTreeMap::new(),
        stats: LiveStats::default(),
        gaps: Vec::new(),
        rejected: Vec::new(),
    };
    for (symbol, after) in &out.last {
        if let Some(m) = markets.iter().find(|m| &m.symbol == symbol) {
            s.seen.entry(m.symbol.clone()).or_default().last = Some(*after);
        }
    }
    let keepalive = v.keepalive();
    // reads wake at least every STOP_POLL, so a stop is seen within it even on a quiet feed
    // (staleness is judged by the time since the last frame, not by one read's timeout)
    let tick = keepalive.map_or(cfg.stale_after, |(_, every)| every.min(cfg.stale_after)).min(STOP_POLL);
    let mut rng = cfg.retry.seed | 1;
    let mut failures = 0u32;
    let mut pending: Vec<Out> = Vec::new();
    // what the synchronous core produces goes to `pending`, then out in order
    macro_rules! send {
        () => {
            if !out.flush(&mut pending).await {
                return Ok(s.stats);
            }
        };
    }
    while !halt.is_set() {
        let mut ws = match connect(url.as_str(), cfg.connect_timeout).await {
            Ok(c) => c,
            Err(e) => {
                // the URL may hold an API key: log the configured base only
                tracing::warn!(venue = %cfg.venue, ws_url = %cfg.ws_url, error = %redact(&e, key), "connect failed");
                pending.push(Out::Event(LiveEvent::Down(redact(&e, key))));
                send!();
                pause_until(cfg.retry.backoff(failures, &mut rng), halt).await;
                failures = failures.saturating_add(1);
                continue;
            }
        };
        failures = 0;
        s.stats.connects += 1;
        let mut ok = true;
        for frame in v.subscribe(&markets) {
            ok &= ws.send(WsMessage::Text(frame)).await.is_ok();
        }
        if !ok {
            continue;
        }
        // gap-fill whatever happened while we were away
        pending.push(Out::Event(LiveEvent::Backfilling));
        for m in &markets {
            fill(&mut s, m, &mut pending)?;
            send!();
        }
        pending.push(Out::Event(LiveEvent::Live));
        send!();
        let mut last_frame = Instant::now();
        let mut last_ping = Instant::now();
        loop {
            if halt.is_set() {
                return Ok(s.stats);
            }
            if let Some((frame, every)) = keepalive {
                if last_ping.elapsed() >= every {
                    last_ping = Instant::now();
                    if ws.send(WsMessage::Text(frame.into())).await.is_err() {
                        break;
                    }
                }
            }
            let read = match tokio::time::timeout(tick, ws.next()).await {
                Err(_) => {
                    if last_frame.elapsed() >= cfg.stale_after {
                        s.stats.stale += 1;
                        tracing::warn!(venue = %cfg.venue, "feed stale: reconnecting");
                        break;
                    }
                    continue;
                }
                Ok(None) => break,
                Ok(Some(r)) => r,
            };
            match read {
                Ok(WsMessage::Text(text)) => {
                    last_frame = Instant::now();
                    pending.push(Out::Event(LiveEvent::Frame));
                    let trades = match v.parse(&text, &cfg.exchange, Ts::now()) {
                        Ok(t) if t.is_empty() && v.wants_reconnect(&text) => {
                            tracing::info!(venue = %cfg.venue, "the venue asks for a reconnect");
                            send!();
                            break;
                        }
                        Ok(t) => t,
                        Err(e) => {
                            s.stats.bad_frames += 1;
                            tracing::warn!(venue = %cfg.venue, error = %e, "bad frame skipped");
                            send!();
                            continue;
                        }
                    };
                    for mut t in trades {
                        // a venue's parser names the pair (`BTCUSDT` → `BTC/USDT`); a session
                        // subscribed to the pair's perpetual labels the trade as it
                        if !by_symbol.contains_key(t.instrument.symbol()) {
                            if let Some(m) = market_of_pair(&markets, t.instrument.symbol()) {
                                t.instrument = m.instrument;
                            }
                        }
                        // refused before it can open a "hole" or move the last id
                        if !s.admit(&t) {
                            report_rejected(&mut s, &mut |e| pending.push(Out::Event(e)));
                            continue;
                        }
                        let symbol = t.instrument.symbol().to_string();
                        if v.id_order() == IdOrder::Contiguous {
                            let last = s.seen.get(&symbol).and_then(|x| x.covered());
                            if let (Some(l), Some(id), Some(m)) = (last, t.trade_id, by_symbol.get(&symbol)) {
                                if id > l.saturating_add(1) {
                                    // a hole: filled before this trade is delivered
                                    fill(&mut s, m, &mut pending)?;
                                    let after = s.seen.get(&symbol).and_then(|x| Some((x.last?, x.covered()?)));
                                    if let Some((n, _)) = after.filter(|(_, c)| c.saturating_add(1) < id) {
                                        s.stats.gaps_unfilled += 1;
                                        pending.push(Out::Event(LiveEvent::Gap(Gap {
                                            instrument: m.instrument,
                                            after_id: n.id,
                                            after_ts: n.ts,
                                            resumed_id: Some(id),
                                            resumed_ts: t.ts,
                                        })));
                                        tracing::warn!(
                                            venue = %cfg.venue,
                                            symbol,
                                            from = l.saturating_add(1),
                                            to = id - 1,
                                            "REST does not have the missing trades yet: gap left"
                                        );
                                    }
                                }
                            }
                        }
                        s.deliver_admitted(t, &mut |t| push_trade(&mut pending, t));
                    }
                    send!();
                }
                Ok(WsMessage::Close(_)) => break,
                Ok(_) => {
                    // pings/pongs: tungstenite answers pings
                    last_frame = Instant::now();
                    pending.push(Out::Event(LiveEvent::Frame));
                    send!();
                }
                Err(e) => {
                    tracing::warn!(venue = %cfg.venue, error = %e, "connection lost: reconnecting");
                    break;
                }
            }
        }
        pause_until(cfg.retry.backoff(0, &mut rng), halt).await;
    }
    Ok(s.stats)
}

/// Gap-fills `m` (blocking REST) and queues what it found: the holes it could not fill and the
/// refused trades first (a hole's record precedes the trades after it, so a consumer that stops
/// early still has it), then the recovered trades.
fn fill(s: &mut Session<'_>, m: &Market, pending: &mut Vec<Out>) -> Result<(), ConnectorError> {
    if s.seen.get(&m.symbol).and_then(|x| x.last).is_none() {
        return Ok(()); // nothing delivered yet: nothing to fill (and no blocking section)
    }
    let before = s.stats.gap_filled;
    let mut filled = Vec::new();
    blocking(|| s.fill(m, &mut |t| push_trade(&mut filled, t)))?;
    report(s, before, &mut |e| pending.push(Out::Event(e)));
    pending.append(&mut filled);
    Ok(())
}

/// Queues a trade for sending (the core's `emit`: always goes on; the send says when to stop).
fn push_trade(pending: &mut Vec<Out>, t: Trade) -> bool {
    pending.push(Out::Trade(t));
    true
}

/// The pair a CCXT symbol trades: `BTC/USDT:USDT` → `BTC/USDT` (a spot symbol is its own pair).
fn pair(symbol: &str) -> &str {
    symbol.split(':').next().unwrap_or(symbol)
}

/// The one subscribed market trading the pair `symbol` (`BTC/USDT` → `BTC/USDT:USDT`), if
/// exactly one does.
fn market_of_pair<'a>(markets: &'a [Market], symbol: &str) -> Option<&'a Market> {
    let mut it = markets.iter().filter(|m| pair(&m.symbol) == symbol);
    match (it.next(), it.next()) {
        (Some(m), None) => Some(m),
        _ => None,
    }
}

/// The longest a session waits in one WebSocket read before it looks at its stop flag.
const STOP_POLL: Duration = Duration::from_millis(250);

/// Sleeps `d`, waking early when `stop` is set (a stopping job does not wait out a backoff).
pub(crate) fn pause(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    while !stop.load(Ordering::SeqCst) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_steps_tell_jumps_and_resets_from_real_progress() {
        let s = 1_000_000_000i64;
        let last = After { id: 1_000, ts: Ts(1_700_000_000 * s) };
        // the next id, a hole of a few thousand, a busy hour
        assert_eq!(id_step(last, 1_001, last.ts), IdStep::Plausible);
        assert_eq!(id_step(last, 5_000, Ts(last.ts.0 + s)), IdStep::Plausible);
        assert_eq!(id_step(last, 1_000 + 3_600 * MAX_IDS_PER_SEC, Ts(last.ts.0 + 3_600 * s)), IdStep::Plausible);
        // 10^15 a second later (the reported corrupt frame), u64::MAX
        assert_eq!(id_step(last, 1_000_000_000_000_000, Ts(last.ts.0 + s)), IdStep::Jump);
        assert_eq!(id_step(last, u64::MAX, Ts(i64::MAX)), IdStep::Jump);
        // re-sends of older trades are duplicates, not resets; a far lower id on a newer trade is
        let high = After { id: 50_000_000, ts: last.ts };
        assert_eq!(id_step(high, 49_999_990, last.ts), IdStep::Plausible);
        assert_eq!(id_step(high, 7, Ts(last.ts.0 - s)), IdStep::Plausible);
        assert_eq!(id_step(high, 7, Ts(last.ts.0 + s)), IdStep::Reset);
        // a time before 1970 or far back cannot underflow
        assert_eq!(id_step(After { id: 0, ts: Ts(i64::MAX) }, 5, Ts(i64::MIN)), IdStep::Plausible);
    }
}
