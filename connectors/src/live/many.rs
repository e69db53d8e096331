//! Several venues in one deployment: one supervised session per venue, each a task on one tokio
//! runtime, handing trades to the caller through one bounded channel.
//!
//! - **Independent**: a venue that cannot be reached retries inside its session
//!   ([`LiveEvent::Down`]); a session that gives up (a gap fill refused, retries exhausted) is
//!   reported ([`VenueNote::Failed`]) and restarted after a backoff, resuming after the last
//!   trade it delivered of each symbol, so the venue's REST history fills what it missed and
//!   nothing is delivered twice. The other venues never wait for it.
//! - **Back-pressure**: the channel holds `capacity` messages; a session waits on a full
//!   channel instead of buffering without bound while the consumer (a Kafka producer) lags.
//! - **Order**: each venue's trades arrive in that venue's order; venues interleave as they
//!   arrive (consumers key by `exchange:symbol`).
//!
//! Sessions are tasks on a tokio runtime (async WebSocket I/O; a REST gap fill runs in
//! `block_in_place`, so the worker's other sessions move on while it waits).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tickflow_model::Trade;

use super::{session, Halt, LiveConfig, LiveEvent, LiveStats, Msg, Outlet};

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

/// Runs one session per config (each a different venue, or the same venue's symbol groups)
/// until `stop` is set or `emit` returns false; `observe` hears every venue's events, tagged
/// with the index of its config. `restart` bounds the backoff between restarts of a session
/// that gave up. Returns one report per config, in order.
///
/// The sessions are tasks on one multi-threaded tokio runtime (as many worker threads as
/// sessions, at most the machine's cores): hundreds of connections take a few threads. Their
/// trades reach `emit` on the calling thread through one channel of `capacity` messages.
pub fn run_many(
    cfgs: Vec<LiveConfig>,
    stop: Arc<AtomicBool>,
    capacity: usize,
    restart: Duration,
    mut emit: impl FnMut(Trade) -> bool,
    mut observe: impl FnMut(usize, &str, VenueNote),
) -> Vec<VenueReport> {
    let names: Vec<String> = cfgs.iter().map(|c| c.venue.clone()).collect();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(cfgs.len().clamp(1, cores)).thread_name("tickflow-venue").enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let why = format!("tokio runtime: {e}");
            return names.into_iter().map(|venue| VenueReport { venue, last_error: Some(why.clone()), ..Default::default() }).collect();
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(capacity.max(1));
    let handles: Vec<_> = cfgs.into_iter().enumerate().map(|(i, cfg)| rt.spawn(supervise(i, cfg, tx.clone(), stop.clone(), restart))).collect();
    drop(tx);
    let mut delivering = true;
    while let Some(msg) = rx.blocking_recv() {
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
    rt.block_on(async {
        let mut reports = Vec::with_capacity(handles.len());
        for (h, venue) in handles.into_iter().zip(names) {
            reports.push(h.await.unwrap_or_else(|e| VenueReport { venue, last_error: Some(format!("session task: {e}")), ..Default::default() }));
        }
        reports
    })
}

/// One venue's session, restarted after it gives up, resuming after its last delivered trades.
async fn supervise(index: usize, cfg: LiveConfig, tx: tokio::sync::mpsc::Sender<Msg>, stop: Arc<AtomicBool>, restart: Duration) -> VenueReport {
    let mut report = VenueReport { venue: cfg.venue.clone(), ..Default::default() };
    let mut out = Outlet::new(tx, index, cfg.resume_after.clone());
    let mut wait = Duration::from_millis(500).min(restart);
    let halt = Halt { stop: &stop, done: None };
    while !halt.is_set() {
        match session(&cfg, halt, &mut out).await {
            Ok(stats) => {
                add(&mut report.stats, &stats);
                break; // stopped, or the consumer is done
            }
            Err(e) => {
                report.restarts += 1;
                report.last_error = Some(e.to_string());
                tracing::warn!(venue = %cfg.venue, error = %e, retry_in = ?wait, "venue session gave up: restarting");
                out.note(VenueNote::Failed(e.to_string(), wait)).await;
                super::pause_until(wait, halt).await;
                wait = (wait * 2).min(restart);
            }
        }
    }
    report
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
