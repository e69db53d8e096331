//! Live trades over WebSocket, with no holes and no duplicates (Binance spot `aggTrade`).
//!
//! - One combined-stream connection for all symbols (`/stream?streams=xrpeth@aggTrade/…`).
//! - **Stale feed**: no frame within `stale_after` (the socket read timeout) → reconnect. Pings
//!   are answered (tungstenite queues the pong; it is flushed on the next read).
//! - **Reconnect** with capped exponential backoff and jitter.
//! - **Gap-fill**: after every reconnect, and whenever an id jumps, the missing trades are
//!   fetched from REST `aggTrades?fromId=` before newer ones are delivered, so each symbol's
//!   trades come out exactly once and in id order. Aggregate trade ids are contiguous per symbol,
//!   which makes holes detectable.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tickflow_model::{Instrument, Trade, Ts};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::Message;

use crate::http::{HttpClient, RetryPolicy};
use crate::venues::binance;
use crate::ConnectorError;

/// Settings of a live session.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// WebSocket base, e.g. `wss://stream.binance.com:9443`.
    pub ws_url: String,
    /// REST base, e.g. `https://api.binance.com`.
    pub rest_url: String,
    /// CCXT symbols.
    pub symbols: Vec<String>,
    /// Exchange id recorded on trades.
    pub exchange: String,
    /// Reconnect when no frame arrives for this long.
    pub stale_after: Duration,
    /// Reconnect backoff.
    pub retry: RetryPolicy,
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
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Malformed frames skipped.
    pub bad_frames: u64,
}

fn set_timeout(s: &MaybeTlsStream<TcpStream>, t: Duration) {
    let tcp = match s {
        MaybeTlsStream::Plain(s) => s,
        MaybeTlsStream::Rustls(s) => s.get_ref(),
        _ => return,
    };
    let _ = tcp.set_read_timeout(Some(t));
}

struct Session<'a> {
    cfg: &'a LiveConfig,
    rest: HttpClient,
    last: BTreeMap<String, u64>,
    stats: LiveStats,
}

impl Session<'_> {
    /// Fetches and emits trades of `market` with ids in `from..until` (until exclusive, or open).
    fn fill(&mut self, inst: Instrument, market: &str, from: u64, until: Option<u64>, emit: &mut dyn FnMut(Trade) -> bool) -> Result<bool, ConnectorError> {
        let mut next = from;
        loop {
            if until.is_some_and(|u| next >= u) {
                return Ok(true);
            }
            let url = format!("{}/api/v3/aggTrades?symbol={market}&fromId={next}&limit=1000", self.cfg.rest_url.trim_end_matches('/'));
            let page = binance::parse_agg_trades(&self.rest.get(&url)?, inst, Ts::now())?;
            let n = page.len();
            for t in page {
                let id = t.trade_id.unwrap_or(0);
                if id < next || until.is_some_and(|u| id >= u) {
                    continue;
                }
                next = id + 1;
                self.last.insert(market.to_string(), id);
                self.stats.gap_filled += 1;
                if !emit(t) {
                    return Ok(false);
                }
            }
            if n < 1000 {
                return Ok(true);
            }
        }
    }
}

/// Runs until `emit` returns false or `stop` is set. Every trade of every symbol is delivered
/// once, in id order per symbol, from the first trade seen on.
pub fn run_binance(cfg: &LiveConfig, stop: &AtomicBool, mut emit: impl FnMut(Trade) -> bool) -> Result<LiveStats, ConnectorError> {
    let markets: Vec<(String, Instrument)> = cfg
        .symbols
        .iter()
        .map(|s| {
            Instrument::new(&cfg.exchange, s)
                .map(|i| (binance::market_id(s), i))
                .map_err(|e| ConnectorError::Payload { venue: "binance".into(), message: e.to_string() })
        })
        .collect::<Result<_, _>>()?;
    let streams: Vec<String> = markets.iter().map(|(m, _)| format!("{}@aggTrade", m.to_ascii_lowercase())).collect();
    let url = format!("{}/stream?streams={}", cfg.ws_url.trim_end_matches('/'), streams.join("/"));
    let mut s = Session { cfg, rest: HttpClient::new(cfg.retry.clone(), Duration::from_secs(10)), last: BTreeMap::new(), stats: LiveStats::default() };
    let mut rng = cfg.retry.seed | 1;
    let mut failures = 0u32;
    while !stop.load(Ordering::SeqCst) {
        let (mut ws, _) = match tungstenite::connect(url.as_str()) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(url, error = %e, "connect failed");
                std::thread::sleep(cfg.retry.backoff(failures, &mut rng));
                failures = failures.saturating_add(1);
                continue;
            }
        };
        failures = 0;
        s.stats.connects += 1;
        set_timeout(ws.get_ref(), cfg.stale_after);
        // gap-fill whatever happened while we were away
        for (m, inst) in &markets {
            if let Some(&l) = s.last.get(m) {
                if !s.fill(*inst, m, l + 1, None, &mut emit)? {
                    return Ok(s.stats);
                }
            }
        }
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(s.stats);
            }
            match ws.read() {
                Ok(Message::Text(text)) => {
                    let t = match binance::parse_ws(&text, &cfg.exchange, Ts::now()) {
                        Ok(Some(t)) => t,
                        Ok(None) => continue,
                        Err(e) => {
                            s.stats.bad_frames += 1;
                            tracing::warn!(error = %e, "bad frame");
                            continue;
                        }
                    };
                    let market = binance::market_id(t.instrument.symbol());
                    let id = t.trade_id.unwrap_or(0);
                    match s.last.get(&market).copied() {
                        Some(l) if id <= l => {
                            s.stats.duplicates += 1;
                            continue;
                        }
                        Some(l) if id > l + 1 => {
                            // a hole: fill it before delivering this trade
                            let more = s.fill(t.instrument, &market, l + 1, Some(id), &mut emit)?;
                            if !more {
                                return Ok(s.stats);
                            }
                        }
                        _ => {}
                    }
                    s.last.insert(market, id);
                    if !emit(t) {
                        return Ok(s.stats);
                    }
                }
                Ok(Message::Close(_)) => break,
                Ok(_) => {} // ping/pong/binary: pongs are sent by tungstenite
                Err(tungstenite::Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    s.stats.stale += 1;
                    tracing::warn!("feed stale: reconnecting");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "connection lost: reconnecting");
                    break;
                }
            }
        }
        std::thread::sleep(cfg.retry.backoff(0, &mut rng));
    }
    Ok(s.stats)
}
