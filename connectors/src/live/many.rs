//! Several venues in one deployment: one supervised session per venue, each on its own thread,
//! handing trades to the caller through one bounded channel.
//!
//! - **Independent**: a venue that cannot be reached retries inside its session
//!   ([`LiveEvent::Down`]); a session that gives up (a gap fill refused, retries exhausted) is
//!   reported ([`VenueNote::Failed`]) and restarted after a backoff, resuming after the last
//!   trade it delivered of each symbol, so the venue's REST history fills what it missed and
//!   nothing is delivered twice. The other venues never wait for it.
//! - **Back-pressure**: the channel holds `capacity` messages; a session blocks on a full
//!   channel instead of buffering without bound while the consumer (a Kafka producer) lags.
//! - **Order**: each venue's trades arrive in that venue's order; venues interleave as they
//!   arrive (consumers key by `exchange:symbol`).
//!
//! Sessions are threads running the blocking WebSocket client: a handful of venues × their
//! connections. A deployment of hundreds of connections would want an async runtime instead.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use tickflow_model::Trade;

use super::{pause, run_observed, LiveConfig, LiveEvent, LiveStats};
use crate::history::After;

/// What happened to one venue over a [`run_many`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VenueReport {
    /// Venue id.
    pub venue: String,
    /// Session counters, summed over restarts.
    pub stats: LiveStats,
    /// Times the session gave up and was restarted.
    pub restarts: u64,
    /// The last reason it gave up, if it did.
    pub last_error: Option<String>,
}

/// What a venue's session tells the caller besides trades.
#[derive(Clone, Debug, PartialEq)]
pub enum VenueNote {
    /// A session event ([`LiveEvent`]).
    Event(LiveEvent),
    /// The session gave up with this error; it restarts after the given backoff.
    Failed(String, Duration),
}

enum Msg {
    Trade(Trade),
    Note(usize, VenueNote),
}

/// Runs one session per config (each a different venue, or the same venue's symbol groups)
/// until `stop` is set or `emit` returns false; `observe` hears every venue's events, tagged
/// with the index of its config. `restart` bounds the backoff between restarts of a session
/// that gave up. Returns one report per config, in order.
pub fn run_many(
    cfgs: Vec<LiveConfig>,
    stop: Arc<AtomicBool>,
    capacity: usize,
    restart: Duration,
    mut emit: impl FnMut(Trade) -> bool,
    mut observe: impl FnMut(usize, &str, VenueNote),
) -> Vec<VenueReport> {
    let (tx, rx) = sync_channel::<Msg>(capacity.max(1));
    let names: Vec<String> = cfgs.iter().map(|c| c.venue.clone()).collect();
    let handles: Vec<_> = cfgs.into_iter().enumerate().map(|(i, cfg)| supervise(i, cfg, tx.clone(), stop.clone(), restart)).collect();
    drop(tx);
    let mut delivering = true;
    for msg in rx {
        match msg {
            Msg::Trade(t) if delivering => {
                if !emit(t) {
                    delivering = false;
                    stop.store(true, Ordering::SeqCst);
                }
            }
            // after the consumer stopped, the sessions drain and exit
            Msg::Trade(_) => {}
            Msg::Note(i, n) => observe(i, &names[i], n),
        }
    }
    handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
}

/// One venue's session, restarted after it gives up, on its own thread.
fn supervise(index: usize, cfg: LiveConfig, tx: SyncSender<Msg>, stop: Arc<AtomicBool>, restart: Duration) -> std::thread::JoinHandle<VenueReport> {
    std::thread::Builder::new()
        .name(format!("venue-{}", cfg.venue))
        .spawn(move || {
            let mut report = VenueReport { venue: cfg.venue.clone(), ..Default::default() };
            let mut last: BTreeMap<String, After> = cfg.resume_after.clone();
            let mut wait = Duration::from_millis(500).min(restart);
            while !stop.load(Ordering::SeqCst) {
                let mut run = cfg.clone();
                run.resume_after = last.clone();
                let result = run_observed(
                    &run,
                    &stop,
                    |t| {
                        if let Some(id) = t.trade_id {
                            last.insert(t.instrument.symbol().to_string(), After { id, ts: t.ts });
                        }
                        tx.send(Msg::Trade(t)).is_ok()
                    },
                    |e| {
                        let _ = tx.send(Msg::Note(index, VenueNote::Event(e)));
                    },
                );
                match result {
                    Ok(stats) => {
                        add(&mut report.stats, &stats);
                        break; // stopped, or the consumer is done
                    }
                    Err(e) => {
                        report.restarts += 1;
                        report.last_error = Some(e.to_string());
                        tracing::warn!(venue = %cfg.venue, error = %e, retry_in = ?wait, "venue session gave up: restarting");
                        let _ = tx.send(Msg::Note(index, VenueNote::Failed(e.to_string(), wait)));
                        pause(wait, &stop);
                        wait = (wait * 2).min(restart);
                    }
                }
            }
            report
        })
        .expect("spawning a venue session thread")
}

fn add(a: &mut LiveStats, b: &LiveStats) {
    a.connects += b.connects;
    a.stale += b.stale;
    a.gap_filled += b.gap_filled;
    a.gaps_unfilled += b.gaps_unfilled;
    a.duplicates += b.duplicates;
    a.bad_frames += b.bad_frames;
    a.rejected += b.rejected;
    a.id_jumps += b.id_jumps;
    a.id_resets += b.id_resets;
}
