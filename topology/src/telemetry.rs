//! Logging and metrics.
//!
//! - Logs: `tracing` to stderr, text or JSON (`--log-json`), filtered by `TICKFLOW_LOG` (or
//!   `RUST_LOG`).
//! - Metrics: with `--metrics-addr HOST:PORT` (env `TICKFLOW_METRICS_ADDR`) a small HTTP server
//!   serves Prometheus text format on `/metrics`, `/healthz` (200 while the process runs; 503
//!   when a live feed has received no frame for `--unhealthy-after`) and `/readyz` (200 once the
//!   running job has restored its checkpoint and opened its sources and sinks, and no live
//!   session is backfilling; 503 before and while one is).
//!   Everything exported lives in one process-wide [`Telemetry`]; operators and sinks only bump
//!   atomics, the endpoint reads them when scraped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result};
use tickflow_connectors::questdb::{LatencyHistogram, QuestDbStats, Table};
use tickflow_operators::PipelineMetrics;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_env("TICKFLOW_LOG").or_else(|_| EnvFilter::try_from_default_env()).unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    // colours only on a terminal: piped logs stay plain text for tools and supervisors
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).with_ansi(std::io::stderr().is_terminal());
    let _ = if json { b.json().try_init() } else { b.try_init() };
}

/// Process-wide metrics.
#[derive(Default)]
pub struct Telemetry {
    pipeline: Mutex<Option<Arc<PipelineMetrics>>>,
    /// Shared by every QuestDB sink of the process.
    pub questdb: Arc<QuestDbStats>,
    /// Kafka sink flush (acknowledgement wait) durations.
    pub kafka_flush: LatencyHistogram,
    /// Kafka delivery errors.
    pub kafka_produce_errors: AtomicU64,
    /// Records sent to the dead-letter topic.
    pub dlq: AtomicU64,
    lag: Mutex<BTreeMap<(String, i32), Arc<AtomicI64>>>,
    ready: AtomicBool,
    /// Checkpoints written and restored.
    pub checkpoint: CheckpointStats,
    /// Live venue sessions.
    pub live: LiveHealth,
}

/// Live venue sessions: backfill, staleness, recovered trades and unfillable gaps.
#[derive(Default)]
pub struct LiveHealth {
    /// Sessions backfilling from REST right now (the process is not ready meanwhile).
    pub backfilling: AtomicU64,
    /// Wall time (ns) of the last frame any session received (0: no session yet).
    pub last_frame_ns: AtomicI64,
    /// Trades recovered from REST.
    pub backfilled: AtomicU64,
    /// Holes the venues' REST history could not fill.
    pub gaps: AtomicU64,
    /// Trades refused by the validation rule set.
    pub rejected: AtomicU64,
    /// Failed attempts to reach a venue (each retried with backoff).
    pub connect_failures: AtomicU64,
    /// Venue sessions restarted after giving up (multi-venue ingest).
    pub session_restarts: AtomicU64,
    /// `/healthz` fails when no frame arrived for this long (ns; 0: never).
    pub unhealthy_after_ns: AtomicI64,
}

impl LiveHealth {
    /// An observer for one live session ([`tickflow_connectors::live::run_observed`]) that keeps
    /// these numbers.
    pub fn observer(&'static self) -> impl FnMut(&tickflow_connectors::live::LiveEvent) {
        use tickflow_connectors::live::LiveEvent;
        let mut filling = false;
        self.last_frame_ns.store(tickflow_model::Ts::now().0, Ordering::Relaxed);
        move |e| match e {
            LiveEvent::Backfilling if !filling => {
                filling = true;
                self.backfilling.fetch_add(1, Ordering::Relaxed);
            }
            LiveEvent::Live if filling => {
                filling = false;
                self.backfilling.fetch_sub(1, Ordering::Relaxed);
            }
            LiveEvent::Backfilling | LiveEvent::Live => {}
            LiveEvent::Frame => self.last_frame_ns.store(tickflow_model::Ts::now().0, Ordering::Relaxed),
            LiveEvent::Backfilled(n) => {
                self.backfilled.fetch_add(*n, Ordering::Relaxed);
            }
            LiveEvent::Gap(_) => {
                self.gaps.fetch_add(1, Ordering::Relaxed);
            }
            LiveEvent::Rejected(..) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
            }
            LiveEvent::Down(_) => {
                self.connect_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Why the live feed is unhealthy at `now_ns`, if it is: no frame for longer than the bound.
    pub fn stale(&self, now_ns: i64) -> Option<Duration> {
        let (bound, last) = (self.unhealthy_after_ns.load(Ordering::Relaxed), self.last_frame_ns.load(Ordering::Relaxed));
        let quiet = now_ns.saturating_sub(last);
        (bound > 0 && last > 0 && quiet > bound).then(|| Duration::from_nanos(quiet as u64))
    }
}

/// Checkpoint metrics (written by worker 0 of process 0, restored by every process).
#[derive(Default)]
pub struct CheckpointStats {
    /// Boundary of the last checkpoint written (event time ns; 0 before the first).
    pub boundary_ns: AtomicI64,
    /// Wall time it was written at (ns; 0 before the first).
    pub written_at_ns: AtomicI64,
    /// Its size in bytes.
    pub bytes: AtomicU64,
    /// How long writing it (and committing its positions) took, µs.
    pub duration_us: AtomicU64,
    /// Checkpoints written.
    pub written: AtomicU64,
    /// How long the restore took (reading the store), µs.
    pub restore_us: AtomicU64,
    /// Partitions whose checkpointed positions were committed to the group (last write).
    pub committed: AtomicU64,
    /// Records read again after a restore: from the checkpoint's positions up to the first
    /// boundary the restored run passed — the span a killed run may already have processed
    /// (at most one checkpoint interval of records, plus out-of-order ones).
    pub reread: AtomicU64,
}

/// The process's telemetry.
pub fn global() -> &'static Telemetry {
    static T: OnceLock<Telemetry> = OnceLock::new();
    T.get_or_init(Telemetry::default)
}

impl Telemetry {
    /// Exports this run's pipeline counters (replaces an earlier run's).
    pub fn register_pipeline(&self, m: Arc<PipelineMetrics>) {
        *self.pipeline.lock().unwrap_or_else(|e| e.into_inner()) = Some(m);
    }
    /// The consumer-lag gauge of a topic partition (messages behind the high watermark).
    pub fn lag_gauge(&self, topic: &str, partition: i32) -> Arc<AtomicI64> {
        self.lag.lock().unwrap_or_else(|e| e.into_inner()).entry((topic.to_string(), partition)).or_default().clone()
    }
    /// Marks the process ready (`/readyz`) or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Prometheus text exposition format (version 0.0.4).
    pub fn render(&self, now_ns: i64) -> String {
        let mut o = String::with_capacity(4096);
        let r = Ordering::Relaxed;
        let metric = |o: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in samples {
                let _ = writeln!(o, "{name}{labels} {v}");
            }
        };
        let one = |v: f64| vec![(String::new(), v)];
        metric(&mut o, "tickflow_up", "gauge", "1 while the process runs.", &one(1.0));
        let pipeline = self.pipeline.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let p = pipeline.unwrap_or_else(|| Arc::new(PipelineMetrics::new()));
        let c = |a: &AtomicU64| a.load(r) as f64;
        for (name, help, v) in [
            ("tickflow_trades_in_total", "Trades read by sources.", c(&p.trades_in)),
            ("tickflow_bad_records_total", "Records sources could not parse or accept.", c(&p.bad_records)),
            ("tickflow_trades_aggregated_total", "Trades accepted by the bar aggregator.", c(&p.trades_aggregated)),
            ("tickflow_duplicate_trades_total", "Duplicate trades ignored.", c(&p.duplicates)),
            ("tickflow_late_trades_total", "Trades behind the watermark.", c(&p.late)),
            ("tickflow_too_late_trades_total", "Trades beyond the allowed lateness.", c(&p.too_late)),
            ("tickflow_bars_total", "Bars emitted (revision 0, carried included).", c(&p.bars)),
            ("tickflow_bar_revisions_total", "Bar revisions emitted.", c(&p.revisions)),
            ("tickflow_carry_gaps_total", "Gaps longer than max_carry_windows left unfilled (fill carry).", c(&p.carry_gaps)),
            ("tickflow_released_instruments_total", "Idle instruments released from the bar engines' memory.", c(&p.released)),
            ("tickflow_questdb_flush_errors_total", "Failed QuestDB flush attempts (each retry counts).", c(&self.questdb.flush_errors)),
            (
                "tickflow_questdb_rejected_rows_total",
                "Rows QuestDB refused (isolated from a rejected batch, logged, not stored).",
                c(&self.questdb.rejected_rows),
            ),
            ("tickflow_kafka_produce_errors_total", "Kafka delivery errors.", c(&self.kafka_produce_errors)),
            ("tickflow_dlq_records_total", "Records sent to the dead-letter topic.", c(&self.dlq)),
        ] {
            metric(&mut o, name, "counter", help, &one(v));
        }
        let rows: Vec<(String, f64)> = Table::ALL.iter().map(|t| (format!("{{table=\"{}\"}}", t.base_name()), c(&self.questdb.rows[t.index()]))).collect();
        metric(&mut o, "tickflow_questdb_rows_total", "counter", "Rows acknowledged by QuestDB.", &rows);
        metric(&mut o, "tickflow_instruments_held", "gauge", "Instruments whose state the bar engines hold.", &one(p.instruments_held.load(r) as f64));
        let wm = p.watermark.load(r);
        if wm > i64::MIN {
            metric(&mut o, "tickflow_watermark_seconds", "gauge", "Event-time watermark (lowest over sources), unix seconds.", &one(wm as f64 / 1e9));
            metric(&mut o, "tickflow_watermark_lag_seconds", "gauge", "Wall clock minus the watermark.", &one((now_ns - wm) as f64 / 1e9));
        }
        let lag: Vec<(String, f64)> = self
            .lag
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|((t, p), v)| (format!("{{topic=\"{}\",partition=\"{p}\"}}", t.replace('\\', "\\\\").replace('"', "\\\"")), v.load(r) as f64))
            .collect();
        if !lag.is_empty() {
            metric(&mut o, "tickflow_kafka_consumer_lag", "gauge", "Messages behind the partition's high watermark.", &lag);
        }
        let live = &self.live;
        metric(
            &mut o,
            "tickflow_live_backfilling",
            "gauge",
            "Live sessions backfilling from REST (not ready meanwhile).",
            &one(live.backfilling.load(r) as f64),
        );
        metric(&mut o, "tickflow_live_backfilled_trades_total", "counter", "Trades recovered from venue REST history.", &one(live.backfilled.load(r) as f64));
        metric(&mut o, "tickflow_live_unfillable_gaps_total", "counter", "Holes the venue's REST history could not fill.", &one(live.gaps.load(r) as f64));
        metric(
            &mut o,
            "tickflow_live_connect_failures_total",
            "counter",
            "Failed attempts to reach a venue (retried with backoff).",
            &one(live.connect_failures.load(r) as f64),
        );
        metric(
            &mut o,
            "tickflow_live_session_restarts_total",
            "counter",
            "Venue sessions restarted after giving up (multi-venue ingest; the others continue).",
            &one(live.session_restarts.load(r) as f64),
        );
        metric(
            &mut o,
            "tickflow_live_rejected_trades_total",
            "counter",
            "Venue trades refused by the validation rule set (price/amount not positive, implausible time).",
            &one(live.rejected.load(r) as f64),
        );
        let last = live.last_frame_ns.load(r);
        if last > 0 {
            metric(
                &mut o,
                "tickflow_live_last_frame_age_seconds",
                "gauge",
                "Wall time since a live session last received a frame.",
                &one(now_ns.saturating_sub(last) as f64 / 1e9),
            );
        }
        let cp = &self.checkpoint;
        metric(&mut o, "tickflow_checkpoints_total", "counter", "Checkpoints written.", &one(cp.written.load(r) as f64));
        let written_at = cp.written_at_ns.load(r);
        if written_at > 0 {
            metric(
                &mut o,
                "tickflow_checkpoint_age_seconds",
                "gauge",
                "Wall time since the last checkpoint was written.",
                &one((now_ns - written_at) as f64 / 1e9),
            );
            metric(
                &mut o,
                "tickflow_checkpoint_boundary_seconds",
                "gauge",
                "Event-time boundary of the last checkpoint, unix seconds.",
                &one(cp.boundary_ns.load(r) as f64 / 1e9),
            );
            metric(&mut o, "tickflow_checkpoint_bytes", "gauge", "Size of the last checkpoint.", &one(cp.bytes.load(r) as f64));
            metric(
                &mut o,
                "tickflow_checkpoint_duration_seconds",
                "gauge",
                "Time to write the last checkpoint and commit its positions.",
                &one(cp.duration_us.load(r) as f64 / 1e6),
            );
        }
        metric(
            &mut o,
            "tickflow_restore_seconds",
            "gauge",
            "Time the restore of this run's checkpoint took (0: none).",
            &one(cp.restore_us.load(r) as f64 / 1e6),
        );
        metric(
            &mut o,
            "tickflow_restore_reread_records",
            "gauge",
            "Records read again after the restore: from the checkpoint's positions to the first boundary passed.",
            &one(cp.reread.load(r) as f64),
        );
        histogram(&mut o, "tickflow_questdb_flush_seconds", "QuestDB flush duration (retries included).", &self.questdb.flush_latency);
        histogram(&mut o, "tickflow_kafka_flush_seconds", "Kafka sink flush (acknowledgement) duration.", &self.kafka_flush);
        o
    }
}

fn histogram(o: &mut String, name: &str, help: &str, h: &LatencyHistogram) {
    let (buckets, sum, count) = h.snapshot();
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (le, n) in buckets {
        let _ = writeln!(o, "{name}_bucket{{le=\"{le}\"}} {n}");
    }
    let _ = writeln!(o, "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}");
}

/// Most requests served at once; one more is answered `503` at once and closed.
const MAX_CONNECTIONS: usize = 32;
/// A client has this long, in all, to send its request (a deadline, not a per-read timeout: a
/// client trickling a byte at a time is cut off too), and as long again to take the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest request head read (request line and headers).
const MAX_REQUEST_HEAD: u64 = 16 * 1024;

/// Starts the metrics/health endpoint on `addr`: an accept thread and one short-lived thread per
/// request (at most 32 at once), each with read and write timeouts, so one slow
/// or silent client cannot hold `/healthz` back from the next.
pub fn serve(addr: &str) -> Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(addr).with_context(|| format!("--metrics-addr {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "metrics on /metrics, health on /healthz and /readyz");
    let active = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    std::thread::Builder::new().name("metrics".into()).spawn(move || {
        for conn in listener.incoming().flatten() {
            let _ = conn.set_read_timeout(Some(CLIENT_TIMEOUT));
            let _ = conn.set_write_timeout(Some(CLIENT_TIMEOUT));
            if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                active.fetch_sub(1, Ordering::SeqCst);
                let mut c = conn;
                let _ = c.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\nConnection: close\r\n\r\nbusy\n");
                continue;
            }
            // the slot is given back when the guard drops: after the answer, on a spawn
            // failure (the closure is dropped unrun) and on a panic alike
            let slot = Slot(active.clone());
            let _ = std::thread::Builder::new().name("metrics-conn".into()).spawn(move || {
                let _slot = slot;
                handle(conn);
            });
        }
    })?;
    Ok(local)
}

/// One of the [`MAX_CONNECTIONS`] request slots, held while a request is served.
struct Slot(Arc<std::sync::atomic::AtomicUsize>);
impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A socket read under one deadline for the whole request head.
struct Deadline {
    conn: std::net::TcpStream,
    until: std::time::Instant,
}
impl std::io::Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        self.conn.set_read_timeout(Some(left))?;
        self.conn.read(buf)
    }
}

/// Answers one request.
fn handle(conn: std::net::TcpStream) {
    let Ok(mut w) = conn.try_clone() else { return };
    let head = Deadline { conn, until: std::time::Instant::now() + CLIENT_TIMEOUT };
    let mut r = BufReader::new(std::io::Read::take(head, MAX_REQUEST_HEAD));
    let mut line = String::new();
    if r.read_line(&mut line).is_err() {
        return;
    }
    // drain the headers (bounded by MAX_REQUEST_HEAD)
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).map(|n| n == 0).unwrap_or(true) || h.trim().is_empty() {
            break;
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_string();
    let t = global();
    let (status, ctype, body) = match path.as_str() {
        "/metrics" => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", t.render(tickflow_model::Ts::now().0)),
        "/healthz" => match t.live.stale(tickflow_model::Ts::now().0) {
            Some(q) => ("503 Service Unavailable", "text/plain", format!("stale: no frame from the live feed for {:.0} s\n", q.as_secs_f64())),
            None => ("200 OK", "text/plain", "ok\n".to_string()),
        },
        "/readyz" if t.live.backfilling.load(Ordering::Relaxed) > 0 => ("503 Service Unavailable", "text/plain", "backfilling\n".to_string()),
        "/readyz" if t.ready.load(Ordering::Relaxed) => ("200 OK", "text/plain", "ready\n".to_string()),
        "/readyz" => ("503 Service Unavailable", "text/plain", "starting\n".to_string()),
        _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
    };
    let _ = write!(w, "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client that connects and says nothing (or trickles) must not hold back `/healthz`:
    /// the serial server answered the second client only after the first one's 5 s timeout.
    #[test]
    fn a_silent_client_does_not_block_health_checks() {
        use std::io::Read;
        let addr = serve("127.0.0.1:0").unwrap();
        let silent: Vec<std::net::TcpStream> = (0..3).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
        let start = std::time::Instant::now();
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("ok\n"), "{answer}");
        assert!(start.elapsed() < CLIENT_TIMEOUT, "answered after {:?}", start.elapsed());
        // the silent ones are cut off after the client timeout (no thread held forever)
        for mut s in silent {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
        }
        // an endless request line is read only up to the head bound
        let mut big = std::net::TcpStream::connect(addr).unwrap();
        big.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let junk = vec![b'a'; (MAX_REQUEST_HEAD as usize) * 2];
        let _ = big.write_all(&junk);
        let mut rest = Vec::new();
        let _ = big.read_to_end(&mut rest);
        assert!(rest.is_empty() || String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 404"), "{}", String::from_utf8_lossy(&rest));
    }

    /// A client trickling its request a byte at a time is cut off at the deadline (a per-read
    /// timeout let it hold a slot for 16 KiB × the timeout), and its slot is given back.
    #[test]
    fn a_trickling_client_is_cut_off_at_the_deadline() {
        use std::io::Read;
        let addr = serve("127.0.0.1:0").unwrap();
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let start = std::time::Instant::now();
        let mut closed = false;
        while start.elapsed() < 4 * CLIENT_TIMEOUT {
            if c.write_all(b"G").is_err() {
                closed = true;
                break;
            }
            let mut b = [0u8; 64];
            match c.read(&mut b) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Err(e) if e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut => {
                    closed = true;
                    break;
                }
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(150));
        }
        assert!(closed, "still held after {:?}", start.elapsed());
        // the slots are free again: a full round of requests is answered
        for _ in 0..MAX_CONNECTIONS + 1 {
            let mut h = std::net::TcpStream::connect(addr).unwrap();
            h.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            h.write_all(b"GET /healthz HTTP/1.1\r\n\r\n").unwrap();
            let mut answer = String::new();
            h.read_to_string(&mut answer).unwrap();
            assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        }
    }

    #[test]
    fn renders_counters_gauges_and_histograms_in_text_format() {
        let t = Telemetry::default();
        let p = Arc::new(PipelineMetrics::new());
        p.trades_in.store(42, Ordering::Relaxed);
        p.watermark.store(1_000_000_000_000, Ordering::Relaxed);
        t.register_pipeline(p);
        t.lag_gauge("tickflow.trades", 3).store(7, Ordering::Relaxed);
        t.questdb.rows[Table::Bars.index()].store(5, Ordering::Relaxed);
        t.questdb.flush_latency.observe(Duration::from_millis(3));
        let s = t.render(1_002_500_000_000);
        for want in [
            "tickflow_trades_in_total 42\n",
            "tickflow_watermark_seconds 1000\n",
            "tickflow_watermark_lag_seconds 2.5\n",
            "tickflow_kafka_consumer_lag{topic=\"tickflow.trades\",partition=\"3\"} 7\n",
            "tickflow_questdb_rows_total{table=\"bars\"} 5\n",
            "tickflow_questdb_flush_seconds_bucket{le=\"0.0025\"} 0\n",
            "tickflow_questdb_flush_seconds_bucket{le=\"0.005\"} 1\n",
            "tickflow_questdb_flush_seconds_count 1\n",
            "# TYPE tickflow_questdb_flush_seconds histogram\n",
        ] {
            assert!(s.contains(want), "missing {want:?} in\n{s}");
        }
        // every sample line belongs to a declared metric
        let declared: Vec<&str> = s.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split_whitespace().next()).collect();
        for l in s.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap();
            assert!(declared.iter().any(|d| name == *d || name.strip_prefix(d).is_some_and(|r| ["_bucket", "_sum", "_count"].contains(&r))), "{l}");
        }
    }
}
