//! Live funding of perpetuals: settled funding events from the venues' streams.
//!
//! Venues stream the rate that will be settled at the next funding time, refreshed until that
//! time, with the mark price: Binance `<symbol>@markPrice@1s` (USDⓈ-M on `fstream`, COIN-M on
//! `dstream`), Bybit `tickers.<symbol>` (`/v5/public/linear|inverse`), OKX `funding-rate`. A
//! venue offers this through [`FundingStream`] ([`crate::venues::Venue::funding_stream`]); the
//! payload parsers live in the venue folders.
//!
//! [`FundingTracker`] is the pure core: it keeps the latest rate and mark per perpetual and emits
//! a [`FundingRate`] for a funding time once an update names a later one — the last rate and
//! mark streamed before settlement. The venues' REST history (`fetch funding`) is authoritative;
//! it writes the same keys (funding time, exchange, symbol), so a later fetch into QuestDB or the
//! compacted topic replaces a streamed value. A session reconnects with backoff and keeps its
//! tracker, so an outage across a funding time still yields that event (with the last rate seen
//! before the outage; the counters say how many reconnects happened).
//!
//! ```
//! use tickflow_connectors::live::funding::{FundingTracker, FundingUpdate};
//! use tickflow_model::{Instrument, Notional, Ts};
//! let btc = Instrument::new("binance", "BTC/USDT:USDT").unwrap();
//! let up = |t: i64, next: i64, rate: &str| FundingUpdate {
//!     instrument: btc,
//!     event_ts: Ts::from_millis(t),
//!     next_funding: Some(Ts::from_millis(next)),
//!     rate: Some(Notional::parse_bytes(rate.as_bytes()).unwrap()),
//!     mark: None,
//! };
//! let mut t = FundingTracker::default();
//! assert!(t.update(up(1, 100, "0.0001")).is_none());
//! assert!(t.update(up(2, 100, "0.0002")).is_none()); // refreshed until settlement
//! let settled = t.update(up(101, 200, "0.0003")).unwrap(); // the next period began
//! assert_eq!((settled.ts, settled.rate.to_string()), (Ts::from_millis(100), "0.0002".to_string()));
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tickflow_model::{Decimal, FundingRate, Instrument, Notional, Ts};
use tungstenite::Message;

use crate::venues::Market;
use crate::ConnectorError;

/// One streamed funding/mark update of a perpetual; fields a frame does not carry are `None`
/// (Bybit's ticker deltas carry only what changed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FundingUpdate {
    /// The perpetual.
    pub instrument: Instrument,
    /// The venue's event time.
    pub event_ts: Ts,
    /// The funding time the rate will be settled at.
    pub next_funding: Option<Ts>,
    /// The current (predicted) rate for that funding time.
    pub rate: Option<Notional>,
    /// The mark price.
    pub mark: Option<Decimal>,
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    instrument: Instrument,
    at: Ts,
    rate: Option<Notional>,
    mark: Option<Decimal>,
}

/// The latest rate and mark per perpetual; emits the settled event when the funding time rolls
/// (see the module documentation). Memory: one entry per subscribed perpetual.
#[derive(Debug, Default)]
pub struct FundingTracker {
    latest: BTreeMap<(u64, Instrument), Pending>,
}

impl FundingTracker {
    /// Folds one update in; returns the event settled by it, if the funding time rolled.
    /// Updates naming an earlier funding time than the one tracked are stale and ignored.
    pub fn update(&mut self, u: FundingUpdate) -> Option<FundingRate> {
        let key = (u.instrument.id(), u.instrument);
        let Some(p) = self.latest.get_mut(&key) else {
            let at = u.next_funding?;
            self.latest.insert(key, Pending { instrument: u.instrument, at, rate: u.rate, mark: u.mark });
            return None;
        };
        match u.next_funding {
            Some(next) if next > p.at => {
                let settled = p.rate.map(|rate| FundingRate { instrument: p.instrument, ts: p.at, rate, mark_price: p.mark });
                *p = Pending { instrument: u.instrument, at: next, rate: u.rate, mark: u.mark.or(p.mark) };
                settled
            }
            Some(next) if next < p.at => None,
            _ => {
                p.rate = u.rate.or(p.rate);
                p.mark = u.mark.or(p.mark);
                None
            }
        }
    }
}

/// A venue's live funding protocol (the session loop is [`run`]).
pub trait FundingStream: Send + Sync {
    /// The default WebSocket base for the markets (one market kind per session).
    fn default_url(&self, markets: &[Market]) -> &'static str;
    /// The URL to connect to.
    fn url(&self, ws_base: &str, markets: &[Market]) -> String {
        let _ = markets;
        ws_base.to_string()
    }
    /// Frames sent right after connecting.
    fn subscribe(&self, markets: &[Market]) -> Vec<String>;
    /// An application keep-alive frame and how often to send it.
    fn keepalive(&self) -> Option<(&'static str, Duration)> {
        None
    }
    /// The updates in a text frame (empty for acknowledgements and other channels); trades are
    /// labelled with `markets`' instruments.
    fn parse(&self, text: &str, markets: &[Market]) -> Result<Vec<FundingUpdate>, ConnectorError>;
}

/// What a funding session did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FundingStats {
    /// Connections opened.
    pub connects: u64,
    /// Reconnects after a silent feed.
    pub stale: u64,
    /// Updates folded in.
    pub updates: u64,
    /// Frames that did not parse (skipped and counted).
    pub bad_frames: u64,
    /// Settled events handed out.
    pub events: u64,
}

/// Runs a funding session for `markets` until `stop`, `emit` returns false, or `max_failures`
/// connection attempts fail in a row; reconnects after errors and after `stale_after` without a
/// frame, with backoff. Settled events go to `emit` in the order they settle.
#[allow(clippy::too_many_arguments)]
pub fn run(
    venue: &dyn FundingStream,
    ws_base: Option<&str>,
    markets: &[Market],
    stop: &AtomicBool,
    stale_after: Duration,
    max_failures: u32,
    mut emit: impl FnMut(FundingRate) -> bool,
) -> Result<FundingStats, ConnectorError> {
    let base = ws_base.unwrap_or_else(|| venue.default_url(markets));
    let url = venue.url(base, markets);
    let mut tracker = FundingTracker::default();
    let mut stats = FundingStats::default();
    let mut failures = 0u32;
    while !stop.load(Ordering::SeqCst) {
        let mut ws = match super::connect_ws(&url, Duration::from_secs(10)) {
            Ok(ws) => ws,
            Err(e) => {
                failures += 1;
                tracing::warn!(url = %url, error = %e, failures, "funding stream: connection failed");
                if failures >= max_failures {
                    return Err(ConnectorError::Http { url: base.to_string(), status: 0, body: format!("{failures} connection attempts failed; last: {e}") });
                }
                super::pause(Duration::from_millis(250 << failures.min(6)), stop);
                continue;
            }
        };
        failures = 0;
        stats.connects += 1;
        super::set_timeout(ws.get_ref(), super::STOP_POLL);
        for frame in venue.subscribe(markets) {
            if ws.send(Message::text(frame)).is_err() {
                break;
            }
        }
        let (mut last_frame, mut last_ping) = (Instant::now(), Instant::now());
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(stats);
            }
            if last_frame.elapsed() > stale_after {
                stats.stale += 1;
                tracing::warn!(url = %url, "funding stream silent: reconnecting");
                break;
            }
            if let Some((text, every)) = venue.keepalive() {
                if last_ping.elapsed() >= every {
                    last_ping = Instant::now();
                    let _ = ws.send(Message::text(text));
                }
            }
            match ws.read() {
                Ok(Message::Text(text)) => {
                    last_frame = Instant::now();
                    let updates = match venue.parse(&text, markets) {
                        Ok(u) => u,
                        Err(e) => {
                            stats.bad_frames += 1;
                            tracing::warn!(error = %e, "funding stream: bad frame skipped");
                            continue;
                        }
                    };
                    for u in updates {
                        stats.updates += 1;
                        if let Some(f) = tracker.update(u) {
                            stats.events += 1;
                            if !emit(f) {
                                return Ok(stats);
                            }
                        }
                    }
                }
                Ok(Message::Ping(p)) => {
                    last_frame = Instant::now();
                    let _ = ws.send(Message::Pong(p));
                }
                Ok(Message::Close(_)) => break,
                Ok(_) => last_frame = Instant::now(),
                Err(tungstenite::Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => {
                    tracing::warn!(url = %url, error = %e, "funding stream: connection lost");
                    break;
                }
            }
        }
        super::pause(Duration::from_millis(250), stop);
    }
    Ok(stats)
}

/// The market of `markets` whose venue id is `id`.
pub fn market_by_id<'a>(markets: &'a [Market], id: &str) -> Option<&'a Market> {
    markets.iter().find(|m| m.id.eq_ignore_ascii_case(id))
}

/// A field's text: a string as is, a number as written; `""`, `null` and absent: none.
fn text_field(v: &serde_json::Value, key: &str) -> Option<String> {
    match v.get(key)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) if s.is_empty() => None,
        x => Some(x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string())),
    }
}

/// A field as an exact rate (`""` and absent: none).
pub fn rate_field(v: &serde_json::Value, key: &str, venue: &str) -> Result<Option<Notional>, ConnectorError> {
    text_field(v, key).map(|t| Notional::parse_bytes(t.as_bytes()).map_err(|e| crate::venues::payload_err(venue, format!("{key}: {e}")))).transpose()
}

/// A field as a positive price (`""` and absent: none).
pub fn price_field(v: &serde_json::Value, key: &str, venue: &str) -> Result<Option<Decimal>, ConnectorError> {
    let Some(text) = text_field(v, key) else { return Ok(None) };
    let d: Decimal = text.parse().map_err(|e| crate::venues::payload_err(venue, format!("{key}: {e}")))?;
    if d <= Decimal::ZERO {
        return Err(crate::venues::payload_err(venue, format!("{key} {d} is not a positive price")));
    }
    Ok(Some(d))
}

/// A field as epoch milliseconds (number or numeric string; `""` and absent: none).
pub fn ms_field(v: &serde_json::Value, key: &str, venue: &str) -> Result<Option<Ts>, ConnectorError> {
    let ms = match v.get(key) {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::String(s)) if s.is_empty() => return Ok(None),
        Some(x) => x.as_i64().or_else(|| x.as_str().and_then(|s| s.parse().ok())),
    };
    let ms = ms.ok_or_else(|| crate::venues::payload_err(venue, format!("{key} is not epoch milliseconds")))?;
    crate::venues::ms(venue, ms).map(Some)
}
